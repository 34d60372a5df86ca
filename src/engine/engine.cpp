#include "engine/engine.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "ledger/limits.hpp"
#include "util/log.hpp"

namespace creditd::engine {

namespace {
// The histogram bucket of `v`: the first bound at or above it, else the last
// bucket (bounds.size()).
template <std::size_t N>
std::size_t bucket_of(const std::array<std::uint64_t, N>& bounds, std::uint64_t v) {
  return static_cast<std::size_t>(std::lower_bound(bounds.begin(), bounds.end(), v) -
                                  bounds.begin());
}
}  // namespace

engine::engine(ledger::ledger& l, store::store& s, engine_options opts)
    : ledger_(l), store_(s), opts_(std::move(opts)) {
  writer_ = std::thread([this] { writer_loop(); });
  committer_ = std::thread([this] { committer_loop(); });
}

engine::~engine() {
  stop();
}

void engine::submit(task* t) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_ && (!failed() || t->read_only())) {
      queue_.push_back(t);
      if (queue_.size() == 1) writer_cv_.notify_one();
      return;
    }
  }
  t->complete(false);
}

void engine::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !writer_.joinable()) return;
    stopping_ = true;
  }
  writer_cv_.notify_one();
  if (writer_.joinable()) writer_.join();
  {
    std::lock_guard lock(mu_);
    committer_exit_ = true;
  }
  committer_cv_.notify_one();
  if (committer_.joinable()) committer_.join();
}

std::string engine::failure() const {
  std::lock_guard lock(mu_);
  return failure_;
}

engine_stats engine::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void engine::writer_loop() {
  std::vector<task*> incoming;
  std::vector<task*> applied;  // applied, not yet handed to the committer
  ledger::time_us last_prune = 0;
  while (true) {
    bool stopping = false;
    {
      std::unique_lock lock(mu_);
      auto ready = [&] {
        return !queue_.empty() || stopping_ ||
               (!committer_busy_ && (!applied.empty() || ledger_.has_changes()));
      };
      const auto now = opts_.clock();
      const ledger::time_us due = ledger_.next_due();
      ledger::time_us wait_us = opts_.idle_wakeup_us;
      // Due work waits while the set being built is full of it (the
      // committer's notice wakes this thread).
      if (due != ledger::no_expiry && due_room())
        wait_us = std::clamp<ledger::time_us>(due - now, 0, wait_us);
      if (failed()) wait_us = std::min(wait_us, opts_.recovery_interval_us);
      if (!ready()) writer_cv_.wait_for(lock, std::chrono::microseconds(wait_us), ready);
      if (applied.size() < opts_.batch_tasks_max) {
        const std::size_t room = opts_.batch_tasks_max - applied.size();
        if (queue_.size() <= room) {
          incoming.swap(queue_);
        } else {
          incoming.assign(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(room));
          queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(room));
        }
      }
      stopping = stopping_ && queue_.empty();
    }

    if (failed()) {
      serve_degraded(incoming, applied);
      // Refused or answered: what remains for the handoff below is nothing.
      if (!failed()) continue;  // recovered: take writes from the next round
    } else {
      last_now_ = std::max(last_now_, opts_.clock());
      const ledger::time_us now = last_now_;
      // Time-driven work, a bounded step per round: what remains makes the
      // next round start at once (next_due <= now), after this round's tasks.
      if (ledger_.next_due() <= now && due_room())
        ledger_.run_due(now, ledger::limits::due_items_per_step);
      if (now - last_prune > 60 * ledger::us_per_second) {
        ledger_.idempotency_forget_before(now - ledger::limits::idempotency_retention_seconds *
                                                    ledger::us_per_second);
        last_prune = now;
      }
      // The clock is read for each task: a task that moves a test clock is
      // followed by tasks that see the new time.
      for (task* t : incoming) {
        last_now_ =
            std::max(last_now_, opts_.clock());  // never backwards, whatever the wall clock does
        t->apply(ledger_, last_now_);
        applied.push_back(t);
      }
      incoming.clear();
    }

    // Hand the applied tasks and their changes to the committer when it is free.
    {
      std::unique_lock lock(mu_);
      if (stopping) {
        // Wait for the committer to take the last set before leaving.
        writer_cv_.wait(lock, [&] { return !committer_busy_; });
      }
      if (!committer_busy_ && (!applied.empty() || ledger_.has_changes())) {
        if (failed()) {
          // Nothing more is written after a failed commit: drop the changes,
          // refuse the tasks.
          (void)ledger_.take_changes();
          std::vector<task*> refused;
          refused.swap(applied);
          lock.unlock();
          for (task* t : refused)
            t->complete(false);
          lock.lock();
        } else if (!ledger_.has_changes() &&
                   std::all_of(applied.begin(), applied.end(),
                               [](const task* t) { return t->read_only(); })) {
          // Nothing to write. The committer is idle, so every set these reads
          // could have seen is durable (a failed one would have made failed()
          // true above): they complete now, without a commit.
          std::vector<task*> answered;
          answered.swap(applied);
          stats_.tasks_uncommitted += answered.size();
          lock.unlock();
          for (task* t : answered)
            t->complete(true);
          lock.lock();
        } else {
          handoff_.changes = ledger_.take_changes();
          handoff_.tasks.swap(applied);
          applied.clear();
          committer_busy_ = true;
          batch_ready_ = true;
          committer_cv_.notify_one();
        }
      }
      if (stopping) {
        writer_cv_.wait(lock, [&] { return !committer_busy_; });
        if (applied.empty() && !ledger_.has_changes() && queue_.empty()) return;
      }
    }
  }
}

void engine::serve_degraded(std::vector<task*>& incoming, std::vector<task*>& applied) {
  // Tasks applied after the failed set: their effects are not in the store.
  std::vector<task*> refused;
  refused.swap(applied);
  {
    // The committer may still be finishing the set that failed; the store is
    // its until it is idle.
    std::unique_lock lock(mu_);
    writer_cv_.wait(lock, [&] { return !committer_busy_; });
  }
  last_now_ = std::max(last_now_, opts_.clock());
  if (!reloaded_) {
    // What the writer applied after the failed set is not in the store either.
    ledger_.reset();
    auto r = store_.load(ledger_, last_now_);
    reloaded_ = r.has_value();
    if (!r)
      log::write(log::level::error, "cannot reload the ledger from the store; reads refused",
                 {{"error", r.error().message}});
  }
  for (task* t : incoming) {
    if (!reloaded_ || !t->read_only()) {
      refused.push_back(t);
      continue;
    }
    last_now_ = std::max(last_now_, opts_.clock());
    if (ledger_.next_due() <= last_now_) ledger_.run_due(last_now_);
    t->apply(ledger_, last_now_);
    // Nothing is written while degraded; the expiries applied for correct
    // reads are derived again after the reload that ends this state.
    (void)ledger_.take_changes();
    t->complete(true);
  }
  incoming.clear();
  for (task* t : refused)
    t->complete(false);
  (void)ledger_.take_changes();
  try_recover(last_now_);
}

void engine::try_recover(ledger::time_us now) {
  const auto wall = std::chrono::steady_clock::now();
  if (wall < next_recovery_) return;
  next_recovery_ = wall + std::chrono::microseconds(opts_.recovery_interval_us);
  if (auto r = store_.probe(); !r) {
    log::write(log::level::debug, "store still refuses writes", {{"error", r.error().message}});
    return;
  }
  ledger_.reset();
  reloaded_ = false;
  if (auto r = store_.load(ledger_, now); !r) {
    log::write(log::level::error, "store takes writes but cannot be reloaded",
               {{"error", r.error().message}});
    return;
  }
  {
    std::lock_guard lock(mu_);
    failure_.clear();
    ++stats_.recoveries;
  }
  failed_.store(false, std::memory_order_release);
  log::write(log::level::info, "store takes writes again; writes resumed", {});
}

void engine::committer_loop() {
  batch current;
  while (true) {
    {
      std::unique_lock lock(mu_);
      committer_cv_.wait(lock, [&] { return batch_ready_ || committer_exit_; });
      if (!batch_ready_) return;
      current = std::move(handoff_);
      handoff_ = {};
      batch_ready_ = false;
    }
    bool durable = true;
    std::string error;
    const auto start = std::chrono::steady_clock::now();
    // Writes that changed nothing (refusals) pass through without a commit.
    const bool commit = !current.changes.empty();
    if (commit) {
      auto r = store_.commit(current.changes);
      if (!r) {
        durable = false;
        error = r.error().message;
        log::write(
            log::level::error,
            "commit failed; writes refused, reads served from the store, until a probe succeeds",
            {{"error", error}});
      }
    }
    const auto us =
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                       std::chrono::steady_clock::now() - start)
                                       .count());
    // Record the failure before completing anything, so that whoever sees a
    // refused task also sees failed() and failure().
    {
      std::lock_guard lock(mu_);
      if (!durable) {
        if (failure_.empty()) failure_ = error;
        ++stats_.failures;
      }
      if (commit) {
        const std::uint64_t n = current.tasks.size();
        ++stats_.commits;
        stats_.tasks += n;
        stats_.commit_us_total += us;
        stats_.commit_us_max = std::max(stats_.commit_us_max, us);
        stats_.batch_tasks_max = std::max(stats_.batch_tasks_max, n);
        ++stats_.commit_us_buckets[bucket_of(commit_us_bounds, us)];
        ++stats_.commit_tasks_buckets[bucket_of(commit_tasks_bounds, n)];
      } else {
        stats_.tasks_uncommitted += current.tasks.size();
      }
    }
    if (!durable) failed_.store(true, std::memory_order_release);
    for (task* t : current.tasks)
      t->complete(durable);
    {
      std::lock_guard lock(mu_);
      committer_busy_ = false;
    }
    current = {};
    writer_cv_.notify_one();
  }
}

}  // namespace creditd::engine
