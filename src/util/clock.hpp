// The server's clock, in microseconds since the Unix epoch (UTC): the real
// time, or a test clock that starts at a given time and moves only when
// advanced. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>

#include <cstdint>

namespace creditd {

inline std::int64_t wall_clock_now() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class server_clock {
 public:
  explicit server_clock(bool test_clock) : test_(test_clock), now_(wall_clock_now()) {}
  // A test clock starting at `start_us` (a restart resumes where it was).
  server_clock(bool test_clock, std::int64_t start_us) : test_(test_clock), now_(start_us) {}
  std::int64_t now() const {
    return test_ ? now_.load(std::memory_order_acquire) : wall_clock_now();
  }
  bool is_test() const { return test_; }
  // The real time, whatever a test clock says: for what outside parties
  // stamp with their own clocks (a Stripe signature's timestamp).
  std::int64_t wall_now() const { return wall_clock_now(); }
  // Test clock only: moves forward to `us` if it is behind it (a restart
  // resumes where the clock was).
  void resume_at(std::int64_t us) {
    std::int64_t now = now_.load();
    while (now < us && !now_.compare_exchange_weak(now, us)) {
    }
  }
  // Test clock only: moves forward by `us` and returns the new time.
  std::int64_t advance(std::int64_t us) { return now_.fetch_add(us) + us; }

 private:
  bool test_;
  std::atomic<std::int64_t> now_;
};

}  // namespace creditd
