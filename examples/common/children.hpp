// What the examples that start children share: naming how a child ended, waiting for its exit,
// and stopping them all. Header-only: each example includes it by a relative path, so its folder
// stays a stand-alone project.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <selium/selium.hpp>

namespace examples {

inline const char* reasonName(int32_t reason) {
  switch (reason) {
    case SELIUM_EXIT_NORMAL:
      return "normal";
    case SELIUM_EXIT_ERROR:
      return "error";
    case SELIUM_EXIT_TRAP:
      return "trap";
    case SELIUM_EXIT_TERMINATED:
      return "terminated";
    case SELIUM_EXIT_FAILED:
      return "failed";
  }
  return "unknown";
}

// How `child` ended (a failed wait, which only a broken handle causes, counts as a failure).
// May be awaited again after it has finished: the exit stays readable.
inline selium::Task<selium::Exit> exitOf(selium::ChildProcess& child) {
  auto exit = co_await child.exit();
  if (!exit) {
    co_return selium::Exit{SELIUM_EXIT_FAILED, 0,
                           "cannot wait for it: " + std::string(exit.error().name())};
  }
  co_return std::move(*exit);
}

// Stops every child and waits until each has ended: children outlive their parent, so an
// orchestrator that gives up must not leave them behind.
inline selium::Task<void> stopAll(std::vector<selium::ChildProcess>& children) {
  for (selium::ChildProcess& child : children) (void)child.stop();
  for (selium::ChildProcess& child : children) (void)co_await exitOf(child);
}

}  // namespace examples
