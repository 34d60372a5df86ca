#include "store/log/background_priority.hpp"

#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <thread>

namespace creditd::store::log {

namespace {

pid_t this_tid() {
  return static_cast<pid_t>(::syscall(SYS_gettid));
}

// The background_priority whose owner this thread is (attach_this_thread).
thread_local const background_priority* owned_here = nullptr;

// 0, or the errno of the refusal.
int set_policy(pid_t tid, int policy) {
  sched_param p{};
  p.sched_priority = 0;
  return ::sched_setscheduler(tid, policy, &p) == 0 ? 0 : errno;
}

}  // namespace

bool background_priority::probe(std::string* why) {
  static std::once_flag once;
  static bool allowed = false;
  static std::string reason;
  std::call_once(once, [] {
    // The round trip on a thread of its own: if the way back is refused,
    // only this thread is left idle, and it ends.
    std::thread t([] {
      if (int e = set_policy(0, SCHED_IDLE); e != 0) {
        reason = std::string("cannot set SCHED_IDLE: ") + std::strerror(e);
        return;
      }
      if (int e = set_policy(0, SCHED_OTHER); e != 0) {
        reason = std::string(
                     "cannot leave SCHED_IDLE again (needs CAP_SYS_NICE or RLIMIT_NICE "
                     "20): ") +
                 std::strerror(e);
        return;
      }
      allowed = true;
    });
    t.join();
  });
  if (why != nullptr) *why = reason;
  return allowed;
}

void background_priority::attach_this_thread(bool enabled) {
  tid_ = this_tid();
  owned_here = this;
  enabled_ = enabled && probe();
}

void background_priority::lower() {
  if (demands_.load() > 0) return;
  unhurried_.store(true);
  if (enabled_ && set_policy(tid_, SCHED_IDLE) == 0) lowered_.store(true);
  // A demand made since the check above found both flags still false and
  // changed nothing: it is honoured here.
  if (demands_.load() > 0) raise();
}

void background_priority::demand() {
  demands_.fetch_add(1);
  raise();
}

void background_priority::release() {
  demands_.fetch_sub(1);
}

void background_priority::raise() {
  unhurried_.store(false);
  // Whoever takes the flag makes the call; the owner's lower() set the
  // policy before it set the flag, so this call comes after that one.
  if (lowered_.exchange(false)) (void)set_policy(tid_, SCHED_OTHER);
}

void background_priority::yield_if_lowered() const {
  if (owned_here == this && lowered_.load(std::memory_order_relaxed)) ::sched_yield();
}

}  // namespace creditd::store::log
