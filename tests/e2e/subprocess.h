// Runs a real binary for end-to-end tests: argv, environment, working directory, captured
// stdout/stderr, signals, and waits that are always bounded by a deadline.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace selium::testing {

// Stall: the test does not read the child's stdout (a reader that stopped) until
// resumeStdout(); the child's writes block once the pipe is full.
enum class StdoutMode { Read, Stall };

struct SubprocessOptions {
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;  // added to (or replacing) the inherited environment
  std::filesystem::path cwd;               // empty: inherit
  StdoutMode stdout_mode = StdoutMode::Read;
};

struct SubprocessResult {
  int exit_code = -1;  // -1 when killed by a signal
  int term_signal = 0;
  bool timed_out = false;
  std::string out;
  std::string err;
  std::vector<std::string> outLines() const;
};

class Subprocess {
 public:
  // Starts the process. SELIUM_* variables of the test's own environment are not inherited,
  // so tests are hermetic; pass them in options.env.
  explicit Subprocess(const SubprocessOptions& options);
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  // Reads stdout until a complete line satisfies `match`; returns it, or nullopt at the deadline
  // or end of output.
  std::optional<std::string> waitForLine(const std::function<bool(std::string_view)>& match,
                                         std::chrono::milliseconds timeout);

  // The next waitForLine starts again from the first line of output.
  void rewind() { scanned_ = 0; }

  void signal(int signo);

  // Bytes the child wrote to stdout that nobody has read yet (FIONREAD), and the pipe's capacity.
  std::size_t stdoutUnread() const;
  std::size_t stdoutCapacity() const;

  // Starts reading stdout again after StdoutMode::Stall.
  void resumeStdout() { stalled_ = false; }

  // Closes our end of the child's stdout (a reader that went away): its writes then fail.
  void closeStdout();

  // True once the child has exited (reaps it; wait() still returns its result).
  bool exited();

  pid_t pid() const { return pid_; }

  // Waits for exit, collecting the rest of the output; kills the process at the deadline.
  SubprocessResult wait(std::chrono::milliseconds timeout);

 private:
  // Reads whatever is available on both pipes, waiting at most `timeout`. False once both
  // pipes are closed.
  bool pump(std::chrono::milliseconds timeout);

  pid_t pid_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  std::string out_;
  std::string err_;
  std::size_t scanned_ = 0;  // stdout bytes already offered to waitForLine
  bool reaped_ = false;
  bool stalled_ = false;  // stdout is left unread
  int status_ = 0;
};

// Runs to completion (bounded) and returns the result.
SubprocessResult runProcess(const SubprocessOptions& options,
                            std::chrono::milliseconds timeout = std::chrono::seconds(60));

}  // namespace selium::testing
