// fork/exec with pipes and poll(2); every wait has a deadline.
#include "subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

extern char** environ;

namespace selium::testing {
namespace {

using Clock = std::chrono::steady_clock;

std::vector<std::string> buildEnvironment(const std::map<std::string, std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view entry(*e);
    std::string name(entry.substr(0, entry.find('=')));
    if (name.rfind("SELIUM_", 0) == 0 || extra.count(name)) continue;
    env.emplace_back(entry);
  }
  for (const auto& [k, v] : extra) env.push_back(k + "=" + v);
  return env;
}

}  // namespace

std::vector<std::string> SubprocessResult::outLines() const {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < out.size()) {
    std::size_t end = out.find('\n', start);
    if (end == std::string::npos) end = out.size();
    lines.push_back(out.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

Subprocess::Subprocess(const SubprocessOptions& options) {
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
    throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  }
  std::vector<std::string> env = buildEnvironment(options.env);
  std::vector<char*> argv, envp;
  for (const auto& a : options.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid_ == 0) {
    // Child: only async-signal-safe calls until exec.
    dup2(out_pipe[1], STDOUT_FILENO);
    dup2(err_pipe[1], STDERR_FILENO);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    if (!options.cwd.empty() && chdir(options.cwd.c_str()) != 0) _exit(126);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  out_fd_ = out_pipe[0];
  err_fd_ = err_pipe[0];
  stalled_ = options.stdout_mode == StdoutMode::Stall;
}

std::size_t Subprocess::stdoutUnread() const {
  int n = 0;
  if (out_fd_ < 0 || ioctl(out_fd_, FIONREAD, &n) != 0) return 0;
  return static_cast<std::size_t>(n);
}

std::size_t Subprocess::stdoutCapacity() const {
  int n = out_fd_ < 0 ? -1 : fcntl(out_fd_, F_GETPIPE_SZ);
  return n < 0 ? 0 : static_cast<std::size_t>(n);
}

bool Subprocess::exited() {
  if (!reaped_ && waitpid(pid_, &status_, WNOHANG) == pid_) reaped_ = true;
  return reaped_;
}

Subprocess::~Subprocess() {
  if (!reaped_ && pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, &status_, 0);
  }
  if (out_fd_ >= 0) close(out_fd_);
  if (err_fd_ >= 0) close(err_fd_);
}

void Subprocess::closeStdout() {
  if (out_fd_ >= 0) close(out_fd_);
  out_fd_ = -1;
}

bool Subprocess::pump(std::chrono::milliseconds timeout) {
  pollfd fds[2];
  int n = 0;
  if (out_fd_ >= 0 && !stalled_) fds[n++] = {out_fd_, POLLIN, 0};
  if (err_fd_ >= 0) fds[n++] = {err_fd_, POLLIN, 0};
  if (n == 0) {
    poll(nullptr, 0, static_cast<int>(timeout.count()));  // nothing to read: just the wait
    return false;
  }
  int ready = poll(fds, n, static_cast<int>(timeout.count()));
  if (ready <= 0) return true;
  for (int i = 0; i < n; ++i) {
    if (fds[i].revents == 0) continue;
    char buffer[4096];
    ssize_t got = read(fds[i].fd, buffer, sizeof buffer);
    if (got > 0) {
      (fds[i].fd == out_fd_ ? out_ : err_).append(buffer, static_cast<std::size_t>(got));
    } else if (got == 0 || errno != EINTR) {
      int& fd = fds[i].fd == out_fd_ ? out_fd_ : err_fd_;
      close(fd);
      fd = -1;
    }
  }
  return true;
}

std::optional<std::string> Subprocess::waitForLine(
    const std::function<bool(std::string_view)>& match, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (true) {
    std::size_t end;
    while ((end = out_.find('\n', scanned_)) != std::string::npos) {
      std::string line = out_.substr(scanned_, end - scanned_);
      scanned_ = end + 1;
      if (match(line)) return line;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return std::nullopt;
    if (!pump(std::min(left, std::chrono::milliseconds(100))) && out_fd_ < 0) return std::nullopt;
  }
}

void Subprocess::signal(int signo) {
  if (!reaped_) kill(pid_, signo);
}

SubprocessResult Subprocess::wait(std::chrono::milliseconds timeout) {
  SubprocessResult result;
  auto deadline = Clock::now() + timeout;
  while (!reaped_) {
    pid_t done = waitpid(pid_, &status_, WNOHANG);
    if (done == pid_) {
      reaped_ = true;
      break;
    }
    if (Clock::now() >= deadline) {
      result.timed_out = true;
      kill(pid_, SIGKILL);
      waitpid(pid_, &status_, 0);
      reaped_ = true;
      break;
    }
    pump(std::chrono::milliseconds(20));
  }
  // Drain what is left (bounded: the writer has exited, so the pipes reach EOF).
  auto drain_deadline = Clock::now() + std::chrono::seconds(5);
  while (((out_fd_ >= 0 && !stalled_) || err_fd_ >= 0) && Clock::now() < drain_deadline) {
    pump(std::chrono::milliseconds(50));
  }
  if (WIFEXITED(status_)) result.exit_code = WEXITSTATUS(status_);
  if (WIFSIGNALED(status_)) result.term_signal = WTERMSIG(status_);
  result.out = out_;
  result.err = err_;
  return result;
}

SubprocessResult runProcess(const SubprocessOptions& options, std::chrono::milliseconds timeout) {
  Subprocess process(options);
  return process.wait(timeout);
}

}  // namespace selium::testing
