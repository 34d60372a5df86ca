// The engine: the ledger and a store behind one ordered, durable pipeline.
//
// A writer thread owns the ledger and applies tasks in submission order; a
// committer thread owns the store and writes change sets. While one change
// set commits (one transaction, one fsync), the writer applies the next tasks
// into the following one: group commit. A task completes only after the
// change set that holds its effects is durable, so no result leaves before
// its commit, and reads (tasks too) never show what is not yet on disk.
//
// Fail-stop: if a commit fails, every task of that set and every later task
// completes with durable=false and the engine applies nothing more; the
// process must restart, and recovers from the store.
//
// Thread-safety: submit(), failed() and stop() may be called from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ledger/ledger.hpp"
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
};

struct engine_options {
  std::function<ledger::time_us()> clock;    // required
  std::size_t batch_tasks_max = 65536;       // tasks in one change set at most
  ledger::time_us idle_wakeup_us = 200'000;  // how often time-driven work is checked
};

struct engine_stats {
  std::uint64_t commits = 0;
  std::uint64_t tasks = 0;
  std::uint64_t commit_us_total = 0;
  std::uint64_t commit_us_max = 0;
  std::uint64_t batch_tasks_max = 0;
};

class engine {
 public:
  // Starts both threads. `l` must be loaded from `s`; both outlive the engine.
  engine(ledger::ledger& l, store::store& s, engine_options opts);
  ~engine();
  engine(const engine&) = delete;
  engine& operator=(const engine&) = delete;

  // Queues a task (not owned: it must live until complete()). After stop()
  // or a failure, the task completes at once with durable=false.
  void submit(task* t);
  // Applies what is queued, commits it, completes it, and joins the threads.
  void stop();

  bool failed() const { return failed_.load(std::memory_order_acquire); }
  std::string failure() const;
  engine_stats stats() const;

 private:
  struct batch {
    ledger::change_set changes;
    std::vector<task*> tasks;
  };
  void writer_loop();
  void committer_loop();

  ledger::ledger& ledger_;
  store::store& store_;
  engine_options opts_;

  mutable std::mutex mu_;
  std::condition_variable writer_cv_;
  std::condition_variable committer_cv_;
  std::vector<task*> queue_;
  bool stopping_ = false;
  bool committer_busy_ = false;
  bool batch_ready_ = false;
  bool committer_exit_ = false;
  batch handoff_;
  std::string failure_;
  engine_stats stats_;
  std::atomic<bool> failed_{false};
  ledger::time_us last_now_ = 0;  // writer thread only: the engine's monotonic time

  std::thread writer_;
  std::thread committer_;
};

}  // namespace creditd::engine
