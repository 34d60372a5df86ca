// Test support: polling for what another thread or process will do.
#pragma once

#include <chrono>
#include <thread>

namespace creditd::testing {

// Polls `done` every millisecond until it holds, for at most `limit` (a
// bound against hangs, not a timing: a test passes as soon as it holds, and
// a busy machine only makes it wait longer). Returns whether it held.
template <typename F>
bool eventually(F done, std::chrono::milliseconds limit = std::chrono::minutes(1)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

}  // namespace creditd::testing
