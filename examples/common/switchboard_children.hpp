// What the Switchboard examples (sb_request_reply, sb_pipeline) share: reaching the Switchboard
// when it may still be starting, starting a child that is a Switchboard endpoint, watching
// children (children.hpp describes and stops them), and logging failures. Header-only: each example
// includes it by a relative path, so its folder stays a stand-alone project.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <selium/selium.hpp>
#include <selium/switchboard.hpp>

#include "children.hpp"

namespace examples {

// How long a process looks for the Switchboard: the runtime starts module specs side by side,
// so an example may start before the Switchboard has registered its singleton.
inline constexpr std::chrono::milliseconds kSwitchboardWait{10'000};
inline constexpr std::chrono::milliseconds kSwitchboardRetry{10};

// Connects to the Switchboard, looking it up again while it is not registered yet (NotFound),
// for up to kSwitchboardWait. Needs SingletonLookup and TimeRead.
inline selium::Task<selium::switchboard::Outcome<selium::Switchboard>> connectSwitchboard() {
  for (std::chrono::milliseconds waited{0};; waited += kSwitchboardRetry) {
    auto board = selium::Switchboard::connect();
    if (board || board.error().code != selium::ErrorCode::NotFound) co_return board;
    if (waited >= kSwitchboardWait) {
      co_return selium::switchboard::Failure{
          board.error().code, board.error().message + "; still not registered after 10 s: run " +
                                  "selium_switchboard_server.wasm in the same runtime"};
    }
    auto slept = co_await selium::sleep(kSwitchboardRetry);
    if (!slept) {
      co_return selium::switchboard::Failure{
          slept.error().code(),
          "cannot wait for the Switchboard: " + std::string(slept.error().name())};
    }
  }
}

// A child started from `module` that connects to the Switchboard and registers endpoints: the
// capabilities that takes (docs/switchboard.md). The caller adds the arguments and starts it.
inline selium::ProcessBuilder switchboardPeer(std::string module, std::string entrypoint) {
  selium::ProcessBuilder builder(std::move(module));
  builder.entrypoint(std::move(entrypoint))
      .capability(SELIUM_CAP_SingletonLookup)
      .capability(SELIUM_CAP_ChannelLifecycle)
      .capability(SELIUM_CAP_ChannelReader)
      .capability(SELIUM_CAP_ChannelWriter)
      .capability(SELIUM_CAP_TimeRead);
  return builder;
}

// Logs `what` failed and why; the exit status for it, 1.
inline int32_t logFailure(const selium::log::Logger& log, std::string_view what,
                          const selium::switchboard::Failure& failure) {
  log.error(what, {{"error", failure.message}});
  return 1;
}
inline int32_t logFailure(const selium::log::Logger& log, std::string_view what,
                          selium::Error error) {
  log.error(what, {{"error", error.name()}, {"detail", selium::lastError()}});
  return 1;
}

// A child that ended, and which (its index in the vector watched).
struct Ended {
  std::size_t index = 0;
  selium::Exit exit;
};

namespace detail {
inline selium::Task<void> failureOf(selium::ChildProcess& child, std::size_t index,
                                    std::optional<Ended>& out) {
  selium::Exit exit = co_await exitOf(child);
  if (exit.ok()) {
    selium::Event never;  // a child that succeeded is no failure: wait on for the others
    co_await never.wait();
  }
  out = Ended{index, std::move(exit)};
}
}  // namespace detail

// Finishes when one of `children` ends other than normally with status 0, saying which and how;
// never finishes while they all succeed. Race it against the work that needs them.
inline selium::Task<void> firstFailure(std::vector<selium::ChildProcess>& children,
                                       std::optional<Ended>& out) {
  std::vector<selium::Task<void>> watches;
  for (std::size_t i = 0; i < children.size(); ++i) {
    watches.push_back(detail::failureOf(children[i], i, out));
  }
  (void)co_await selium::race(std::move(watches));
}

}  // namespace examples
