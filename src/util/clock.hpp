// The server's clock: the real time, or a test clock that starts at the real
// time and moves only when advanced. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>

#include "ledger/time.hpp"

namespace creditd {

inline ledger::time_us wall_clock_now() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class server_clock {
 public:
  explicit server_clock(bool test_clock) : test_(test_clock), now_(wall_clock_now()) {}
  ledger::time_us now() const {
    return test_ ? now_.load(std::memory_order_acquire) : wall_clock_now();
  }
  bool is_test() const { return test_; }
  // Test clock only: moves forward by `us` and returns the new time.
  ledger::time_us advance(ledger::time_us us) { return now_.fetch_add(us) + us; }

 private:
  bool test_;
  std::atomic<ledger::time_us> now_;
};

}  // namespace creditd
