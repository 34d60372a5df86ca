#include "engine/engine.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "ledger/changes.hpp"
#include "ledger/limits.hpp"
#include "util/assert.hpp"
#include "util/handoff_batch.hpp"
#include "util/log.hpp"
#include "util/thread_name.hpp"

namespace creditd::engine {

namespace {
// A stretch of a round's account hints, for the prefetch.
constexpr std::size_t prefetch_stretch = 64;
static_assert(prefetch_stretch <= ledger::ledger::prefetch_batch_max);

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
  hints_.reserve(prefetch_stretch);
  if (opts_.writer_inline) {
    // The writer thread serves until the first run_round() takes over.
    CREDITD_ASSERT(opts_.wake != nullptr);
    opts_.commit_on_writer = true;
  }
  writer_ = std::thread([this] {
    util::name_this_thread("writer");
    writer_loop();
  });
  if (opts_.commit_on_writer) return;
  committer_ = std::thread([this] {
    util::name_this_thread("committer");
    committer_loop();
  });
}

bool commit_on_writer_suits(unsigned cpus) {
  return cpus <= 2;
}

engine::~engine() {
  stop();
}

void engine::submit(task* t) {
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    if (!stopping_ && (!failed() || t->read_only())) {
      queue_.push_back(t);
      if (queue_.size() == 1) {
        if (!driven_)
          writer_cv_.notify_one();
        else
          wake = driver_ != std::this_thread::get_id();
      }
      if (!wake) return;
    }
  }
  if (wake) {
    opts_.wake();
    return;
  }
  t->complete(false);
}

void engine::stop() {
  bool driven = false;
  {
    std::lock_guard lock(mu_);
    driven = driven_;
  }
  if (driven) {
    // The driving thread's last rounds: what is queued is applied and
    // committed; later submissions are refused.
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
    }
    while (true) {
      {
        std::lock_guard lock(mu_);
        if (queue_.empty() && !ledger_.has_changes()) {
          stopping_ = true;
          return;
        }
        take_locked();
      }
      round();
      if (failed()) {
        std::lock_guard lock(mu_);
        if (queue_.empty()) {
          stopping_ = true;
          return;
        }
      }
    }
  }
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

ledger::time_us engine::wait_us_locked() const {
  const auto now = opts_.clock();
  const ledger::time_us due = ledger_.next_due();
  ledger::time_us wait_us = opts_.idle_wakeup_us;
  // Due work waits while the staged set is full of it (the committer's
  // notice, when it takes that set, wakes this thread).
  if (due != ledger::no_expiry && due_room())
    wait_us = std::clamp<ledger::time_us>(due - now, 0, wait_us);
  if (failed()) wait_us = std::min(wait_us, opts_.recovery_interval_us);
  return wait_us;
}

void engine::take_locked() {
  if (staged_.tasks.size() >= opts_.batch_tasks_max || staged_bytes_ >= opts_.batch_bytes_max)
    return;
  const std::size_t n = std::min(queue_.size(), opts_.batch_tasks_max - staged_.tasks.size());
  if (n == queue_.size()) {
    incoming_.swap(queue_);
  } else {
    incoming_.assign(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
  }
}

void engine::writer_loop() {
  while (true) {
    bool stopping = false;
    {
      std::unique_lock lock(mu_);
      auto room = [&] {
        return staged_.tasks.size() < opts_.batch_tasks_max &&
               staged_bytes_ < opts_.batch_bytes_max;
      };
      auto ready = [&] { return (!queue_.empty() && room()) || stopping_ || driven_; };
      if (!ready()) writer_cv_.wait_for(lock, std::chrono::microseconds(wait_us_locked()), ready);
      // run_round() took the role over: what is queued is its to take.
      if (driven_) return;
      take_locked();
      stopping = stopping_ && queue_.empty();
    }
    round();
    if (stopping) {
      // A round cut by batch_bytes_max put tasks back: they take another.
      std::lock_guard lock(mu_);
      stopping = queue_.empty();
    }
    if (failed()) {
      if (stopping) return;
      continue;
    }
    if (stopping) {
      // The last staged set is committed before the writer leaves.
      std::unique_lock lock(mu_);
      writer_cv_.wait(lock, [&] { return !committer_busy_; });
      if (queue_.empty() && !ledger_.has_changes()) return;
    }
  }
}

bool engine::run_round() {
  CREDITD_ASSERT(opts_.writer_inline);
  if (writer_.joinable()) {
    // The first round: the writer thread ends between two of its rounds
    // (its per-round state is then empty) and this thread goes on from
    // there.
    {
      std::lock_guard lock(mu_);
      driven_ = true;
      driver_ = std::this_thread::get_id();
    }
    writer_cv_.notify_one();
    writer_.join();
  }
  CREDITD_ASSERT(driver_ == std::this_thread::get_id());
  bool tasks = false;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return false;
    tasks = !queue_.empty();
    // Nothing queued, nothing due and not degraded (whose rounds probe the
    // store when it is time): no round. The driver asks after every burst
    // of its handlers.
    if (!tasks && !failed() && wait_us_locked() > 0) return false;
    take_locked();
  }
  round();
  return tasks;
}

std::chrono::microseconds engine::idle_wait() const {
  std::lock_guard lock(mu_);
  return std::chrono::microseconds(queue_.empty() ? wait_us_locked() : 0);
}

void engine::round() {
  if (failed()) {
    // Recovered or not, writes are taken from the next round on.
    serve_degraded(incoming_, applied_);
    return;
  }
  last_now_ = std::max(last_now_, opts_.clock());
  const ledger::time_us now = last_now_;
  // Time-driven work, a bounded step per round: what remains makes the
  // next round start at once (next_due <= now), after this round's tasks.
  if (ledger_.next_due() <= now && due_room())
    ledger_.run_due(now, ledger::limits::due_items_per_step);
  if (now - last_prune_ > 60 * ledger::us_per_second) {
    ledger_.idempotency_forget_before(now - ledger::limits::idempotency_retention_seconds *
                                                ledger::us_per_second);
    last_prune_ = now;
  }
  // The clock is read for each task: a task that moves a test clock is
  // followed by tasks that see the new time.
  // A round's accounts are asked of the cache first, a stretch of tasks
  // at a time, in stages (ledger::prefetch_accounts): their misses
  // overlap there, where each task's would stall its apply (100,000
  // accounts spread: 25% more charges per second in-process with a
  // lookup per task, more in stages).
  // A set's bytes are bounded (batch_bytes_max): past them the round stops,
  // and the tasks it did not apply go back to the queue's front, first in
  // the next round, so that no client's large requests make a set larger
  // than a log record may be.
  std::size_t applied = 0;
  bool full = false;
  for (std::size_t from = 0; from < incoming_.size() && !full; from += prefetch_stretch) {
    const std::size_t to = std::min(incoming_.size(), from + prefetch_stretch);
    hints_.clear();
    for (std::size_t i = from; i < to; ++i)
      hints_.push_back(incoming_[i]->account_hint());
    ledger_.prefetch_accounts(hints_);
    for (std::size_t i = from; i < to; ++i) {
      last_now_ =
          std::max(last_now_, opts_.clock());  // never backwards, whatever the wall clock does
      incoming_[i]->apply(ledger_, last_now_);
      applied_.push_back(incoming_[i]);
      applied = i + 1;
      if (ledger_.pending_bytes() >= opts_.batch_bytes_max) {
        full = true;
        break;
      }
    }
  }
  if (applied < incoming_.size()) {
    std::lock_guard lock(mu_);
    queue_.insert(queue_.begin(), incoming_.begin() + static_cast<std::ptrdiff_t>(applied),
                  incoming_.end());
    ++stats_.rounds_cut_by_bytes;
  }
  incoming_.clear();
  stage(applied_);
  forget_history();
}

void engine::stage(std::vector<task*>& applied) {
  const bool changed = ledger_.has_changes();
  if (applied.empty() && !changed) return;
  ledger::change_set changes;
  const std::uint64_t epoch = ledger_.change_epoch();
  const std::size_t bytes = changed ? ledger_.pending_bytes() : 0;
  if (changed) changes = ledger_.take_changes();
  std::unique_lock lock(mu_);
  if (failed()) {
    // Nothing more is written after a failed commit: the changes are
    // dropped (the ledger is reloaded from the store), the tasks refused.
    std::vector<task*> refused;
    refused.swap(applied);
    lock.unlock();
    for (task* t : refused)
      t->complete(false);
    return;
  }
  if (!committer_busy_ && !changed && staged_.tasks.empty() &&
      std::all_of(applied.begin(), applied.end(), [](const task* t) { return t->read_only(); })) {
    // Nothing to write and the committer idle: every set these reads could
    // have seen is durable (a failed one would have made failed() true
    // above), so they complete now, without a commit.
    std::vector<task*> answered;
    answered.swap(applied);
    stats_.tasks_uncommitted += answered.size();
    lock.unlock();
    util::handoff_batch replies;  // their replies leave together
    for (task* t : answered)
      t->complete(true);
    return;
  }
  if (opts_.commit_on_writer) {
    // No committer thread: this one commits the round's set now, whole (no
    // set is ever staged here, so none to merge it with), then applies what
    // came meanwhile (committer_busy_ stays false: whoever waits on it is
    // this thread, after the commit).
    batch current;
    current.changes = std::move(changes);
    current.tasks.swap(applied);
    if (changed) current.epoch = epoch;
    lock.unlock();
    commit_now(current);
    return;
  }
  if (changed) {
    ledger::append_changes(staged_.changes, std::move(changes), staged_index_);
    staged_.epoch = epoch;
  }
  staged_.tasks.insert(staged_.tasks.end(), applied.begin(), applied.end());
  staged_entries_ = staged_.changes.entries.size();
  staged_bytes_ += bytes;
  applied.clear();
  if (!committer_busy_) {
    // An idle committer is woken; a busy one takes the staged set as soon
    // as its commit ends, with no round trip through this thread.
    committer_busy_ = true;
    committer_cv_.notify_one();
  }
}

namespace {

// How many of the oldest a round may forget, with `count` kept and at most
// `max` wanted: above 7/8 of the maximum, `pace` a round, about what a round
// adds, so that forgetting keeps step with the rounds instead of stopping the
// writer for thousands at once each time the maximum is passed (8,192
// charges took it 0.6 to 3 ms, 16 times a second at 145,000 charges/s); past
// the maximum, what it is over too, at most `step` (the rest waits for the
// next round). 0: nothing to forget.
std::size_t forget_budget(std::size_t count, std::size_t max) {
  constexpr std::size_t step = 16'384, pace = 1'024;
  if (count <= max - max / 8) return 0;
  return count > max ? std::min(step, count - max + pace) : pace;
}

}  // namespace

void engine::forget_history() {
  const std::uint64_t durable = durable_epoch_.load(std::memory_order_acquire);
  // Each down to 7/8 of its maximum.
  const std::size_t charges = opts_.charges_kept_max, holds = opts_.closed_holds_kept_max,
                    lots = opts_.dead_lots_kept_max, external = opts_.external_ids_kept_max;
  if (const std::size_t n = forget_budget(ledger_.charge_count(), charges); n > 0)
    (void)ledger_.forget_charges(durable, charges - charges / 8, n);
  if (const std::size_t n = forget_budget(ledger_.closed_hold_count(), holds); n > 0)
    (void)ledger_.forget_closed_holds(durable, holds - holds / 8, n);
  if (const std::size_t n = forget_budget(ledger_.dead_lot_count(), lots); n > 0)
    (void)ledger_.forget_dead_lots(durable, lots - lots / 8, n);
  if (const std::size_t n = forget_budget(ledger_.external_id_count(), external); n > 0)
    (void)ledger_.forget_external_ids(durable, external - external / 8, n);
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
    if (ledger_.next_due() <= last_now_)
      ledger_.run_due(last_now_, ledger::limits::due_items_per_step);
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

// Commits `current` (on the committer thread, or on the writer's with
// commit_on_writer), records the outcome, and completes its tasks; a failed
// commit also refuses whatever was staged behind it.
void engine::commit_now(batch& current) {
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
  const auto us = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                                 std::chrono::steady_clock::now() - start)
                                                 .count());
  // Record the failure before completing anything, so that whoever sees a
  // refused task also sees failed() and failure().
  batch refused;
  {
    std::lock_guard lock(mu_);
    if (!durable) {
      if (failure_.empty()) failure_ = error;
      ++stats_.failures;
      failed_.store(true, std::memory_order_release);
      // What was staged behind the failed set is not written either.
      refused = std::move(staged_);
      staged_ = {};
      staged_index_.clear();
      staged_entries_ = 0;
      staged_bytes_ = 0;
    }
    if (commit && durable) durable_epoch_.store(current.epoch, std::memory_order_release);
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
  if (commit && durable && !current.changes.events.empty() && opts_.events_durable)
    opts_.events_durable(current.changes.events);
  {
    // The commit's replies reach each I/O thread in one hand-off.
    util::handoff_batch replies;
    for (task* t : current.tasks)
      t->complete(durable);
    for (task* t : refused.tasks)
      t->complete(false);
  }
}

void engine::committer_loop() {
  batch current;
  while (true) {
    {
      std::unique_lock lock(mu_);
      committer_cv_.wait(lock, [&] { return committer_busy_ || committer_exit_; });
      if (!committer_busy_) return;
      current = std::move(staged_);
      staged_ = {};
      staged_index_.clear();
      staged_entries_ = 0;
      staged_bytes_ = 0;
    }
    // The writer may wait for room in the staged set.
    writer_cv_.notify_one();
    commit_now(current);
    {
      std::lock_guard lock(mu_);
      // A set staged meanwhile is taken at once; else the committer rests.
      committer_busy_ = !staged_.tasks.empty() || !staged_.changes.empty();
    }
    current = {};
    writer_cv_.notify_one();
  }
}

}  // namespace creditd::engine
