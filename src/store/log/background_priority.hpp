// The applier's CPU priority: idle while nothing waits for it, normal while
// something does.
//
// The applier fills the SQLite file in behind the log; nobody waits for it
// while it keeps up. At normal priority its bursts (a second's transactions
// at --apply-delay-ms 1000) take a core from the threads that answer
// requests, which shows in their tail latency. At SCHED_IDLE it runs on
// what those threads leave. That is safe only if it is raised back the
// moment something waits for it (a writer blocked on a full queue, a read
// that needs the file current, a load, a stop): otherwise a CPU kept busy
// by reads could starve it, and with it every write. Linux lets a thread
// leave SCHED_IDLE only with CAP_SYS_NICE or an RLIMIT_NICE of 20
// (sched(7)), so probe() first tries the round trip on a throwaway thread;
// without the permission nothing is lowered.
//
// The owner lowers itself only for a stretch of work during which it holds
// no lock another thread waits on without demanding (lower() ... raise()),
// so that it never holds such a lock while idle. A waiter demands normal
// priority for as long as it waits (demand() ... release()): lower() does
// not lower while anyone demands, and a demand made while it lowers still
// takes effect (both sides check the other after their own step).
//
// Thread-safety: demand(), release() and raise() from any thread; lower()
// and attach_this_thread() from the owner only.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <string>

namespace creditd::store::log {

class background_priority {
 public:
  // Whether this process may lower a thread to SCHED_IDLE and raise it back
  // (tried once, on a throwaway thread; the answer is kept). `why` gets the
  // reason when not.
  static bool probe(std::string* why = nullptr);

  // The owner, on its own thread, before lower(); enabled: whether lower()
  // may lower at all (it still needs probe()).
  void attach_this_thread(bool enabled);
  // SCHED_IDLE, unless disabled, not permitted, or someone demands;
  // unhurried() unless someone demands.
  void lower();
  // Normal now, without waiting: the owner after its stretch of work, or
  // anyone for the rest of it (the owner lowers again at its next lower()).
  void raise();

  // A waiter: the owner runs at normal priority until release().
  void demand();
  void release();

  bool lowered() const { return lowered_.load(); }
  // Set between the owner's lower() and the next raise() while nobody
  // demands, whether or not the thread could be lowered: the stretch of
  // work nobody waits for, which may also go slower on other resources
  // (the SQLite file's writeback is paced while it is set).
  const std::atomic<bool>& unhurried() const { return unhurried_; }

  // The owner, at points of its work: while lowered, gives the core to any
  // thread waiting for it (sched_yield). SCHED_IDLE does not keep the
  // owner from being picked before a runnable normal thread, which then
  // waits for the next tick (4 ms at 250 Hz); a yield ends such a stretch
  // within one step of work. Called elsewhere than on the owner's thread
  // (a connection's progress handler run by another), it does nothing.
  void yield_if_lowered() const;

 private:
  pid_t tid_ = 0;
  bool enabled_ = false;
  std::atomic<int> demands_{0};
  std::atomic<bool> lowered_{false};
  std::atomic<bool> unhurried_{false};
};

}  // namespace creditd::store::log
