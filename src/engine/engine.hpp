// The engine: the ledger and a store behind one ordered, durable pipeline.
//
// A writer thread owns the ledger and applies tasks in submission order; a
// committer thread owns the store and writes change sets. While one change
// set commits (one transaction, one fsync), the writer applies the next tasks
// into the following one: group commit. A task completes only after the
// change set that holds its effects is durable, so no result leaves before
// its commit, and reads (tasks too) never show what is not yet on disk.
// After each round of tasks the writer stages their changes (merged into the
// set waiting for the committer, ledger::append_changes with a kept index); a committer that
// ends a commit takes the staged set at once, so under load no thread waits
// for another to wake between two commits. With commit_on_writer there is no
// committer thread: the writer commits each round's set itself before it
// takes the next tasks (group commit still: what arrives during a commit
// makes the next set).
// A set with no changes is not a commit: when it holds only read-only tasks
// and the committer is idle (every set they could have seen is durable), its
// tasks complete at once on the writer thread; /metrics scrapes and other
// reads cost no transaction and no fsync.
//
// After a failed commit the engine is degraded: every task of that set and
// every later write completes with durable=false, and nothing more is
// written. It then reloads the ledger from the store, which holds exactly
// what was committed, and serves read-only tasks from it. Every
// `recovery_interval_us` it probes the store with a small durable write; when
// that succeeds it reloads once more and takes writes again.
//
// With writer_inline there is no writer thread once serving: the thread that
// calls run_round() (creditd serve's one I/O thread, between its event
// loop's handlers) is the writer, and commits on it (commit_on_writer).
//
// Thread-safety: submit(), failed() and stop() may be called from any thread
// (with writer_inline, stop() from the driving thread once it has driven).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "ledger/changes.hpp"
#include "ledger/ledger.hpp"
#include "ledger/limits.hpp"
#include "store/store.hpp"

namespace creditd::engine {

class task {
 public:
  virtual ~task() = default;
  // Writer thread, exclusive access to the ledger. `now` is the engine clock.
  virtual void apply(ledger::ledger& l, ledger::time_us now) = 0;
  // Called exactly once: durable=true after the commit that holds apply()'s
  // effects; false when the engine could not commit or was already failed or
  // stopped (then apply() may not have run). Runs on an engine thread: it
  // must not block and must not submit to this engine synchronously.
  virtual void complete(bool durable) = 0;
  // A task that changes nothing durable (a read): served while degraded.
  virtual bool read_only() const { return false; }
  // The account apply() will touch first, if one: the writer resolves a
  // round's accounts in one pass before it applies the round, so that their
  // cache misses overlap instead of following one another.
  virtual std::string_view account_hint() const { return {}; }
};

struct engine_options {
  std::function<ledger::time_us()> clock;  // required
  std::size_t batch_tasks_max = 65536;     // tasks in one change set at most
  // Encoded bytes in one change set, about (ledger::pending_bytes): a round
  // stops applying past it and the tasks after wait for the next set; no set
  // is staged on one past it. A set is then at most twice this and one
  // task's changes (a batch charge of 100 with their metadata: a few MiB),
  // below what one log record may hold (store/log/segment_log.hpp,
  // record_payload_bytes_max, 256 MiB), whatever the clients send.
  std::size_t batch_bytes_max = 64u << 20;
  ledger::time_us idle_wakeup_us = 200'000;          // how often time-driven work is checked
  ledger::time_us recovery_interval_us = 1'000'000;  // store probes while degraded
  // Charges kept in memory (for refunds without a store read). Past 7/8 of
  // it the writer forgets the oldest durable ones, back to 7/8, a bounded
  // number per round (engine.cpp, forget_budget); a refund of a forgotten
  // charge reads it from the store.
  std::size_t charges_kept_max = 65'536;
  // The same for closed holds (a read, capture or release of a forgotten one
  // is answered from the store).
  std::size_t closed_holds_kept_max = 65'536;
  // And for spent, expired and voided lots (a refund into a forgotten one
  // reads it from the store).
  std::size_t dead_lots_kept_max = 65'536;
  // And for purchases' external ids (Stripe event ids): a purchase with one
  // the ledger forgot asks the store whether it was recorded.
  std::size_t external_ids_kept_max = 65'536;
  // Commit each change set on the writer thread instead of a committer
  // thread of its own: the writer applies nothing while a set commits (the
  // tasks that arrive meanwhile make the next, larger set), and a request's
  // path crosses one thread fewer. Where cores are few, that thread's
  // wake-ups and its waits for a core cost more than the overlap gains
  // (commit_on_writer_suits; docs/performance.md, "One thread fewer: the
  // commit on the writer's thread").
  bool commit_on_writer = false;
  // No writer thread once serving: the thread that calls run_round() (the
  // one I/O thread's event loop, between its handlers) applies and commits,
  // so that a request is read, applied, made durable and answered on one
  // thread with no hand-off (implies commit_on_writer). Until its first
  // run_round() a writer thread serves as usual (what a process submits and
  // waits for before its loop runs: a catalog, a check); that call takes the
  // role over and joins it. `wake` is then required: submit() calls it, from
  // any thread but the driving one, when the queue was empty, so that the
  // driving thread calls run_round() soon; it must not block.
  bool writer_inline = false;
  std::function<void()> wake;
  // Optional: called on the committing thread after each durable commit
  // whose set holds events, with those events (in seq order, every set in
  // commit order), before the set's tasks complete. It must not block; an
  // event's owner is valid during the call only.
  std::function<void(std::span<const ledger::event>)> events_durable;
};

// Whether commit_on_writer suits a process that may run on `cpus` cores
// (sched_getaffinity): at most 2, where the committer thread would share
// them with the I/O threads and the writer. Measured on 2 cores only.
bool commit_on_writer_suits(unsigned cpus);

// Histogram bounds of engine_stats: bucket i counts the commits whose value
// is at most bounds[i] and above bounds[i - 1]; one more bucket counts the
// rest (above the last bound).
inline constexpr std::array<std::uint64_t, 14> commit_us_bounds = {
    100,    250,    500,     1'000,   2'500,   5'000,     10'000,
    25'000, 50'000, 100'000, 250'000, 500'000, 1'000'000, 2'500'000};
inline constexpr std::array<std::uint64_t, 14> commit_tasks_bounds = {
    1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1'024, 4'096, 16'384, 65'536};

struct engine_stats {
  // Store commits attempted (failed ones included): change sets that held
  // changes. A set without changes is never a commit.
  std::uint64_t commits = 0;
  std::uint64_t tasks = 0;              // tasks completed by those commits
  std::uint64_t tasks_uncommitted = 0;  // tasks completed with nothing to write
  std::uint64_t commit_us_total = 0;
  std::uint64_t commit_us_max = 0;
  std::uint64_t batch_tasks_max = 0;
  std::uint64_t rounds_cut_by_bytes =
      0;                         // rounds that left tasks for the next set (batch_bytes_max)
  std::uint64_t failures = 0;    // commits that failed (each degrades the engine)
  std::uint64_t recoveries = 0;  // returns to taking writes
  // Per commit: its duration and its task count, bucketed by the bounds above.
  std::array<std::uint64_t, commit_us_bounds.size() + 1> commit_us_buckets{};
  std::array<std::uint64_t, commit_tasks_bounds.size() + 1> commit_tasks_buckets{};
};

class engine {
 public:
  // Starts both threads. `l` must be loaded from `s`; both outlive the engine.
  engine(ledger::ledger& l, store::store& s, engine_options opts);
  ~engine();
  engine(const engine&) = delete;
  engine& operator=(const engine&) = delete;

  // Queues a task (not owned: it must live until complete()). After stop(),
  // or while degraded for a write, the task completes at once with
  // durable=false.
  void submit(task* t);
  // Applies what is queued, commits it, completes it, and joins the threads.
  // With writer_inline, call it on the driving thread, after its last
  // run_round().
  void stop();

  // writer_inline only, always on the same (driving) thread: one round of the
  // writer: the queued tasks applied, committed and completed, due work and
  // recovery probes when their time has come. False when there was nothing
  // to do; then the driver may sleep for idle_wait() unless woken. The
  // first call takes the writer's role over from its thread (joined).
  bool run_round();
  std::chrono::microseconds idle_wait() const;

  // Degraded: writes are refused until the store takes writes again.
  bool failed() const { return failed_.load(std::memory_order_acquire); }
  // Why the last commit failed ("" when not degraded).
  std::string failure() const;
  engine_stats stats() const;

 private:
  struct batch {
    ledger::change_set changes;
    std::vector<task*> tasks;
    std::uint64_t epoch = 0;  // the ledger epoch of its newest changes (0: none)
  };
  // Writer thread: forgets old durable charges, closed holds and dead lots
  // beyond what the options keep.
  void forget_history();
  void writer_loop();
  // Writer thread (or the driving thread): how long it may wait for tasks
  // before time-driven work or a recovery probe is due. mu_ held.
  ledger::time_us wait_us_locked() const;
  // Moves what the staged set has room for from the queue to `incoming_`.
  // mu_ held.
  void take_locked();
  // Writer thread: one round over `incoming_` (taken): due work, the tasks
  // applied, their set staged or committed, old history forgotten; or, when
  // degraded, served as degraded.
  void round();
  void committer_loop();
  void commit_now(batch& current);
  // Writer thread: joins this round's tasks and the ledger's changes to the
  // staged set, which the committer takes when its commit ends (waking it
  // only if it is idle), or with commit_on_writer commits them at once; or
  // completes read-only tasks at once when nothing is staged or committing.
  void stage(std::vector<task*>& applied);
  // Writer thread, degraded: refuses writes, serves reads from the ledger as
  // last loaded from the store, and tries to recover.
  void serve_degraded(std::vector<task*>& incoming, std::vector<task*>& applied);
  void try_recover(ledger::time_us now);
  // Writer thread: whether the set being built has room for a step of
  // time-driven work (so that a million renewals due at once become many
  // bounded commits, never one giant one).
  bool due_room() const {
    return ledger_.pending_entry_count() + staged_entries_.load(std::memory_order_relaxed) <
           4 * ledger::limits::due_items_per_step;
  }

  ledger::ledger& ledger_;
  store::store& store_;
  engine_options opts_;

  mutable std::mutex mu_;
  std::condition_variable writer_cv_;
  std::condition_variable committer_cv_;
  std::vector<task*> queue_;
  bool stopping_ = false;
  // True from the moment a set is staged for an idle committer until the
  // committer finds nothing staged after a commit.
  bool committer_busy_ = false;
  bool committer_exit_ = false;
  batch staged_;                                // applied, not yet taken by the committer
  ledger::change_index staged_index_;           // the rows of staged_.changes
  std::atomic<std::size_t> staged_entries_{0};  // staged_.changes.entries.size()
  std::size_t staged_bytes_ = 0;  // staged_'s changes, as ledger::pending_bytes measured them
  std::string failure_;
  engine_stats stats_;
  std::atomic<bool> failed_{false};
  // Every change of a ledger epoch at or below it is in the store.
  std::atomic<std::uint64_t> durable_epoch_{0};
  ledger::time_us last_now_ = 0;  // writer thread only: the engine's monotonic time
  // Writer thread only, while degraded: the ledger holds what the store holds.
  bool reloaded_ = false;
  std::chrono::steady_clock::time_point next_recovery_{};

  // Writer thread only (or the driving thread): a round's tasks.
  std::vector<task*> incoming_;
  std::vector<task*> applied_;           // applied this round, staged at its end
  std::vector<std::string_view> hints_;  // a stretch of their account hints
  ledger::time_us last_prune_ = 0;
  // writer_inline, from the first run_round(): the driving thread, whose own
  // submissions need no wake. Written under mu_; read by submit() under it.
  bool driven_ = false;
  std::thread::id driver_{};

  std::thread writer_;
  std::thread committer_;
};

}  // namespace creditd::engine
