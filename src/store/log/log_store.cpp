#include "store/log/log_store.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "store/log/change_codec.hpp"
#include "store/log/lot_backlog.hpp"
#include "util/assert.hpp"
#include "util/thread_name.hpp"

namespace creditd::store::log {
namespace {

// How often the applier, while lowered, offers its core to a waiting
// thread (background_priority::yield_if_lowered): every this many SQLite
// instructions of its transactions (tens of microseconds), and every this
// many records it decodes.
constexpr int progress_steps = 1000;
constexpr std::size_t yield_records = 16;

// What a spare record's buffers hold (log_store::spare_records_).
std::size_t record_capacity(const log_store::pending_record& r) {
  return r.payload.capacity() + r.filter.capacity() * sizeof(std::uint64_t);
}

// A key's two bits in a record's filter (splitmix64's finalizer: ids that
// count up and account hashes alike spread over the whole filter).
std::uint64_t filter_hash(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// What readers of the pending records filter on (log_store::pending_with
// and the others): the accounts and ids the record's rows belong to, and
// its last entry's and event's seq. Sets them on `record`, a new one or a
// spare (what it held before is cleared, its buffers kept).
void index_for_readers(log_store::pending_record& record, const ledger::change_set& changes) {
  record.last_entry_seq = 0;
  record.last_event_seq = 0;
  const std::size_t keys_max =
      changes.entries.size() +
      2 * (changes.lots.size() + changes.holds.size() + changes.charges.size()) +
      changes.purchases.size() + changes.events.size();
  std::size_t words = 1;
  while (words * 64 < keys_max * log_store::pending_record::filter_bits_per_key)
    words <<= 1;
  std::vector<std::uint64_t>& filter = record.filter;
  filter.assign(words, 0);
  const std::size_t mask = words * 64 - 1;
  auto add_key = [&](std::uint64_t key) {
    const std::uint64_t h = filter_hash(key);
    const std::size_t a = h & mask, b = (h >> 32) & mask;
    filter[a >> 6] |= std::uint64_t{1} << (a & 63);
    filter[b >> 6] |= std::uint64_t{1} << (b & 63);
  };
  // An account's id is hashed once per record, not once per row (the
  // same account's rows follow one another; a spread round's accounts
  // are each in a few rows).
  std::array<const ledger::account*, 64> seen{};
  auto add = [&](const ledger::account* owner) {
    const ledger::account*& slot = seen[(reinterpret_cast<std::uintptr_t>(owner) >> 4) & 63];
    if (slot == owner) return;
    slot = owner;
    add_key(log_store::account_key(owner->id));
  };
  auto add_row = [&](const ledger::account* owner, ledger::object_id id) {
    add(owner);
    CREDITD_ASSERT(id < (std::uint64_t{1} << 63));  // below every account's key
    add_key(id);
  };
  for (const ledger::entry& e : changes.entries) {
    add(e.owner);
    record.last_entry_seq = std::max(record.last_entry_seq, e.seq);
  }
  for (const ledger::lot& l : changes.lots)
    add_row(l.owner, l.id);
  for (const ledger::hold& h : changes.holds)
    add_row(h.owner, h.id);
  for (const ledger::charge_record& c : changes.charges)
    add_row(c.owner, c.id);
  for (const ledger::purchase& p : changes.purchases)
    add_key(log_store::account_key(p.account));
  record.has_purchases = !changes.purchases.empty();
  for (const ledger::event& ev : changes.events) {
    if (ev.owner != nullptr) add(ev.owner);
    record.last_event_seq = std::max(record.last_event_seq, ev.seq);
  }
}

}  // namespace

bool log_store::pending_record::may_hold(std::uint64_t key) const {
  if (filter.empty()) return false;
  const std::uint64_t h = filter_hash(key);
  const std::size_t mask = filter.size() * 64 - 1;
  const std::size_t a = h & mask, b = (h >> 32) & mask;
  return (filter[a >> 6] >> (a & 63) & 1) != 0 && (filter[b >> 6] >> (b & 63) & 1) != 0;
}

namespace {

// Decodes records and writes them in one transaction (sqlite_store's
// begin_batch ... finish_batch), a part at a time: once a part is full
// (part_full), write_part writes its rows, and the next part is decoded
// into the same change sets. Decoding a whole transaction first held every
// row of up to 4,096 records at once: about 160,000 spread charges, 150 MB
// of entries, lots, charges and stand-in owners, new memory each time
// (docs/performance.md, "The applier's transactions in parts"). Each
// part's lots go to the backlog, and the transaction writes those it says
// are due (with no lag: every one, once, at the end). The destructor rolls
// back a transaction left open.
class batch_writer {
 public:
  // A part ends after `part_records_max` records, or this many owners
  // (within what the arena keeps for the next part) or bytes of records,
  // whichever comes first.
  static constexpr std::size_t part_owners_max = owner_arena::retained_max / 2;
  static constexpr std::size_t part_bytes_max = std::size_t{4} << 20;
  // The decoded sets of a part of at most this many bytes of records are
  // kept for the next part (a few MB decoded at most).
  static constexpr std::size_t part_bytes_kept_max = std::size_t{1} << 20;

  batch_writer(sqlite::sqlite_store& db, const std::string& dir, std::size_t part_records_max,
               lot_backlog& backlog)
      : db_(db), dir_(dir), part_records_max_(part_records_max), backlog_(backlog) {}
  batch_writer(const batch_writer&) = delete;
  batch_writer& operator=(const batch_writer&) = delete;
  ~batch_writer() { db_.abort_batch(); }

  // Decodes record `seq` into the current part.
  std::expected<void, std::string> add(std::uint64_t seq, std::string_view payload) {
    auto n = decode_change_sets_into(payload, arena_, sets_, used_);
    if (!n) return std::unexpected(n.error());
    records_of_.push_back({seq, payload.size(), used_, *n});
    used_ += *n;
    last_seq_ = seq;
    bytes_ += payload.size();
    part_bytes_ += payload.size();
    ++records_;
    ++part_records_;
    return {};
  }
  std::size_t records() const { return records_; }
  std::size_t bytes() const { return bytes_; }
  bool part_full() const {
    return part_records_ >= part_records_max_ || arena_.size() >= part_owners_max ||
           part_bytes_ >= part_bytes_max;
  }

  // Writes the part decoded so far into the transaction (opening it first)
  // and forgets its rows.
  std::expected<void, store_error> write_part() {
    if (part_records_ == 0) return {};
    if (auto r = open(); !r) return r;
    ptrs_.clear();
    for (std::size_t i = 0; i < used_; ++i)
      ptrs_.push_back(&sets_[i]);
    for (const record_sets& rec : records_of_) {
      for (std::size_t i = rec.first; i < rec.first + rec.count; ++i)
        backlog_.take(sets_[i], rec.seq);
      backlog_.end_record(rec.bytes);
    }
    auto r = db_.write_batch_part(ptrs_, /*with_lots=*/false);
    forget_part();
    if (!r) return failed(r.error(), last_seq_);
    if (backlog_.over_limit()) {
      // Past its bound: the oldest go into this transaction now.
      if (auto w = db_.write_batch_lots(backlog_.excess()); !w) return failed(w.error(), last_seq_);
      backlog_.written();
    }
    return {};
  }

  // Writes what was added (its lots go to the backlog, and the backlog's
  // due lots are written, every one when `all_lots`) and commits. With
  // nothing added, only the backlog's lots, when `all_lots`. Returns the
  // lots' mark in the file after it.
  std::expected<std::uint64_t, store_error> write(bool all_lots = false) {
    if (records_ == 0 && !all_lots) return db_.applied_lots_seq();
    const std::uint64_t log_seq = records_ == 0 ? db_.applied_log_seq() : last_seq_;
    if (auto r = write_part(); !r) return std::unexpected(r.error());
    if (auto r = open(); !r) return std::unexpected(r.error());
    const sqlite::sqlite_store::lot_writes lots = backlog_.due(log_seq, all_lots);
    auto r = db_.finish_batch(log_seq, &lots);
    if (!r) return failed(r.error(), log_seq);
    backlog_.written();
    open_ = false;
    records_ = bytes_ = 0;
    return db_.applied_lots_seq();
  }

 private:
  // The next part is decoded into the same sets, reusing their lists'
  // memory, unless this one was large (its lists would stay as large).
  void forget_part() {
    if (part_bytes_ > part_bytes_kept_max) sets_ = {};
    used_ = 0;
    records_of_.clear();
    arena_.reset();
    part_records_ = part_bytes_ = 0;
  }
  // Opens the transaction unless it is open.
  std::expected<void, store_error> open() {
    if (open_) return {};
    if (auto r = db_.begin_batch(); !r) return failed(r.error(), last_seq_);
    open_ = true;
    return {};
  }
  // A write failed: the transaction is rolled back (finish_batch has done
  // it already), whatever was added forgotten.
  std::unexpected<store_error> failed(const store_error& e, std::uint64_t up_to) {
    db_.abort_batch();
    open_ = false;
    forget_part();
    records_ = bytes_ = 0;
    return std::unexpected(store_error{"log " + dir_ + ": cannot apply records up to seq " +
                                       std::to_string(up_to) + " to the store: " + e.message});
  }

  sqlite::sqlite_store& db_;
  const std::string& dir_;
  const std::size_t part_records_max_;
  lot_backlog& backlog_;
  struct record_sets {
    std::uint64_t seq = 0;
    std::size_t bytes = 0;
    std::size_t first = 0, count = 0;  // in sets_
  };
  owner_arena arena_;
  std::vector<ledger::change_set> sets_;  // the part's: [0, used_)
  std::size_t used_ = 0;
  std::vector<const ledger::change_set*> ptrs_;
  std::vector<record_sets> records_of_;  // the part's
  bool open_ = false;                    // a transaction is open
  std::uint64_t last_seq_ = 0;
  std::size_t records_ = 0, bytes_ = 0;  // the transaction's
  std::size_t part_records_ = 0, part_bytes_ = 0;
};

}  // namespace

std::expected<log_check, store_error> check_log(const std::string& dir, std::uint64_t applied) {
  segment_log_options opts;
  opts.dir = dir;
  opts.read_only = true;
  owner_arena arena;
  auto visit = [&](std::uint64_t, std::string_view payload) -> std::expected<void, std::string> {
    auto sets = decode_change_sets(payload, arena);
    if (!sets) return std::unexpected(sets.error());
    return {};
  };
  auto log = segment_log::open(opts, applied, visit);
  if (!log) return std::unexpected(store_error{log.error()});
  return log_check{applied, (*log)->last_seq(), (*log)->segment_count()};
}

std::expected<std::uint64_t, store_error> catch_up_lots(sqlite::sqlite_store& db,
                                                        const std::string& dir) {
  const std::uint64_t from = db.applied_lots_seq(), to = db.applied_log_seq();
  if (from == to) return 0;
  segment_log_options opts;
  opts.dir = dir;
  opts.read_only = true;
  // Every write takes all it holds (due(..., all)), in transactions of at
  // most the backlog's own bound: a lot written early is overwritten by its
  // later copy, and the mark moves only at the end.
  const std::size_t held_max = lot_backlog_limits{}.lots_max;
  lot_backlog backlog({});
  owner_arena arena;
  std::uint64_t last = from;
  std::optional<store_error> failed;
  auto write_held = [&](std::uint64_t lots_seq) -> bool {
    sqlite::sqlite_store::lot_writes w = backlog.due(last, true);
    w.lots_seq = lots_seq;
    if (auto r = db.commit_batch({}, to, &w); !r) {
      failed = store_error{"log " + dir + ": cannot write the lots of records " +
                           std::to_string(from + 1) + " to " + std::to_string(to) +
                           " to the store: " + r.error().message};
      return false;
    }
    backlog.written();
    return true;
  };
  auto visit = [&](std::uint64_t seq,
                   std::string_view payload) -> std::expected<void, std::string> {
    if (seq > to) return {};
    arena.reset();
    auto sets = decode_change_sets(payload, arena);
    if (!sets) return std::unexpected(sets.error());
    backlog.take(*sets, seq, payload.size());
    last = seq;
    if (backlog.size() >= held_max && !write_held(from)) return std::unexpected(failed->message);
    return {};
  };
  auto log = segment_log::open(opts, from, visit);
  if (!log) return std::unexpected(failed ? *failed : store_error{log.error()});
  if (last != to) {
    return std::unexpected(store_error{
        "log " + dir + ": the file's lot rows need the log's records " + std::to_string(from + 1) +
        " to " + std::to_string(to) + ", but it ends at " + std::to_string(last)});
  }
  if (!write_held(to)) return std::unexpected(*failed);
  return to - from;
}

std::expected<std::unique_ptr<log_store>, store_error> log_store::open(
    log_store_options opts, std::unique_ptr<sqlite::sqlite_store> db) {
  CREDITD_ASSERT(db != nullptr);
  if (opts.apply_records_max == 0 || opts.apply_records_min == 0 ||
      opts.apply_part_records_max == 0 || opts.queued_records_max == 0 ||
      opts.queued_bytes_max == 0) {
    return std::unexpected(store_error{"log store: its limits must be at least 1"});
  }
  std::unique_ptr<log_store> s(new log_store(std::move(opts), std::move(db)));
  if (s->opts_.at_step && !s->opts_.log.at_step) s->opts_.log.at_step = s->opts_.at_step;
  // The log is the durability point: SQLite's transactions stop waiting
  // for the disk, and the log keeps every record above the mark as of the
  // file's last complete checkpoint (durable_log_seq()). What the file holds
  // now (perhaps written by a process that was killed, not yet synced) is
  // made durable first.
  if (auto r = s->db_->defer_sync_to_log(); !r) return std::unexpected(r.error());
  // With a delay, the file's writeback paced while the applier's work
  // waits for nobody, a checkpoint spread over half the delay (the
  // applier's cycle when it keeps up: its transaction, then the
  // checkpoint). Without one the file is wanted at once: not paced.
  if (const auto spread =
          std::chrono::duration_cast<std::chrono::milliseconds>(s->opts_.apply_delay / 2);
      spread.count() > 0) {
    s->db_->pace_writeback(&s->priority_.unhurried(), spread);
  }
  // The lots first: a process stopped with lots held back left the changes
  // of the records after the lots' mark in the log only (lot_backlog.hpp).
  if (auto r = catch_up_lots(*s->db_, s->opts_.log.dir); !r) return std::unexpected(r.error());
  const std::uint64_t applied = s->db_->applied_log_seq();
  // Recovery: the records after the mark, through the same commit_batch as
  // the applier, in bounded transactions (their lots held to each one's
  // end, whatever the store's lag: the lots' mark ends at the journal's).
  lot_backlog replay_lots({});
  batch_writer replay(*s->db_, s->opts_.log.dir, s->opts_.apply_part_records_max, replay_lots);
  std::optional<store_error> replay_error;
  auto visit = [&](std::uint64_t seq,
                   std::string_view payload) -> std::expected<void, std::string> {
    if (auto r = replay.add(seq, payload); !r) return r;
    if (replay.part_full()) {
      if (auto r = replay.write_part(); !r) return std::unexpected(r.error().message);
    }
    if (replay.records() >= s->opts_.apply_records_max ||
        replay.bytes() >= s->opts_.queued_bytes_max) {
      if (auto r = replay.write(); !r) return std::unexpected(r.error().message);
    }
    return {};
  };
  auto log = segment_log::open(s->opts_.log, applied, visit);
  if (!log) return std::unexpected(store_error{log.error()});
  if (auto r = replay.write(); !r) return std::unexpected(r.error());
  if (auto r = s->db_->make_durable(); !r) return std::unexpected(r.error());
  s->log_ = std::move(*log);
  s->durable_seq_ = s->log_->last_seq();
  s->applied_seq_ = s->db_->applied_log_seq();
  s->file_durable_seq_ = s->db_->durable_log_seq();
  s->lots_seq_ = s->db_->applied_lots_seq();
  CREDITD_ASSERT(s->applied_seq_ == s->durable_seq_ && s->file_durable_seq_ == s->applied_seq_ &&
                 s->lots_seq_ == s->applied_seq_);
  s->applier_ = std::thread([p = s.get()] {
    util::name_this_thread("applier");
    p->priority_.attach_this_thread(p->opts_.idle_priority);
    p->db_->set_progress_handler(
        progress_steps,
        [](void* priority) {
          static_cast<const background_priority*>(priority)->yield_if_lowered();
          return 0;
        },
        &p->priority_);
    p->applier_loop();
  });
  s->spares_ = std::thread([p = s.get()] {
    util::name_this_thread("spares");
    p->spares_loop();
  });
  return s;
}

log_store::~log_store() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  priority_.demand();  // never released: it finishes at normal priority
  applier_cv_.notify_all();
  {
    std::lock_guard lock(spares_mu_);
    spares_stop_ = true;
  }
  spares_cv_.notify_all();
  if (spares_.joinable()) spares_.join();
  if (applier_.joinable()) applier_.join();
  // priority_ goes before db_, whose close still writes (a checkpoint):
  // nothing may read its flag then.
  if (db_ != nullptr) db_->pace_writeback(nullptr, {});
}

void log_store::spares_loop() {
  std::unique_lock lock(spares_mu_);
  while (true) {
    spares_cv_.wait(lock, [&] { return spare_asked_ || spares_stop_; });
    if (spares_stop_) return;
    spare_asked_ = false;
    lock.unlock();
    // A failure (a full disk) leaves nothing; the roll that needs a segment
    // then fills one itself, or reports its own failure.
    (void)log_->make_spare();
    lock.lock();
  }
}

bool log_store::behind() const {
  return queued_records_ * 2 >= opts_.queued_records_max ||
         queued_bytes_ * 2 >= opts_.queued_bytes_max;
}

bool log_store::applier_lowered() const {
  return priority_.lowered();
}

void log_store::fail(const std::string& why) {
  if (failure_.empty()) failure_ = why;
  done_cv_.notify_all();
  applier_cv_.notify_all();
}

store_error log_store::failure_error() const {
  return store_error{failure_ +
                     " (the log holds every acknowledged record; a restart replays them)"};
}

store_error log_store::append_failure_error() const {
  return store_error{append_failure_ +
                     " (writes are refused until a restart; the log holds every acknowledged "
                     "record, and reads are served from them)"};
}

bool log_store::failed() const {
  std::lock_guard lock(mu_);
  return !failure_.empty() || !append_failure_.empty();
}

std::string log_store::failure() const {
  std::lock_guard lock(mu_);
  return failure_.empty() ? append_failure_ : failure_;
}

std::expected<void, store_error> log_store::commit(const ledger::change_set& changes) {
  // A spare record's buffer is as big as the records before it; a new one
  // starts at the last record's size, so that encoding does not grow it
  // step by step.
  if (next_ == nullptr) next_ = std::make_shared<pending_record>();
  std::string& payload = next_->payload;
  payload.clear();
  // A spare that held the last record's size is used as it is (the encoder
  // grows it if this record is longer): reserving a little more than each
  // last record gave most spares a new buffer, and most new buffers are
  // first touches, a page fault each 4 KiB (docs/performance.md). New
  // buffers are a quarter larger, rounded to whole pages.
  const std::size_t capacity = payload.capacity();
  if (capacity < last_record_bytes_) {
    constexpr std::size_t page = 4096;
    payload.reserve((last_record_bytes_ + last_record_bytes_ / 4 + page - 1) / page * page);
  }
  encode_change_set(payload, changes);
  if (payload.capacity() != capacity) record_buffers_made_.fetch_add(1, std::memory_order_relaxed);
  last_record_bytes_ = payload.size();
  const std::size_t bytes = payload.size();
  {
    std::unique_lock lock(mu_);
    // Backpressure: wait for room (a record bigger than the whole budget
    // goes alone, into an empty queue).
    auto room = [&] {
      return queued_records_ == 0 || (queued_records_ < opts_.queued_records_max &&
                                      queued_bytes_ + bytes <= opts_.queued_bytes_max);
    };
    if (failure_.empty() && !room()) {
      const auto began = std::chrono::steady_clock::now();
      room_wanted_ = true;
      priority_.demand();
      applier_cv_.notify_one();
      done_cv_.wait(lock, [&] { return !failure_.empty() || room(); });
      priority_.release();
      room_wanted_ = false;
      room_waits_.fetch_add(1, std::memory_order_relaxed);
      room_wait_us_.fetch_add(
          static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                         std::chrono::steady_clock::now() - began)
                                         .count()),
          std::memory_order_relaxed);
    }
    if (!failure_.empty()) return std::unexpected(failure_error());
    if (!append_failure_.empty()) return std::unexpected(append_failure_error());
  }
  // Segments are recycled below what the file holds on disk, not below what
  // it was given: a crash of the machine may take the rest back.
  auto seq = log_->append(payload, file_durable_seq_.load(std::memory_order_acquire));
  if (seq && log_->spares_due() != spares_due_seen_) {
    // The segment is half full: a spare made now, beside the commits, is
    // the next roll's (a roll without one fills 64 MiB inside a commit).
    spares_due_seen_ = log_->spares_due();
    {
      std::lock_guard lock(spares_mu_);
      spare_asked_ = true;
    }
    spares_cv_.notify_one();
  }
  std::shared_ptr<pending_record> record;
  if (seq) {
    record = std::move(next_);
    record->seq = *seq;
    index_for_readers(*record, changes);
  }
  std::lock_guard lock(mu_);
  if (!seq) {
    append_failure_ = seq.error();
    return std::unexpected(append_failure_error());
  }
  if (!spare_records_.empty()) {
    next_ = std::move(spare_records_.back());
    spare_records_.pop_back();
    spare_bytes_ -= record_capacity(*next_);
  }
  const bool first = queue_.empty();
  queue_.push_back({std::move(record), opts_.apply_delay.count() > 0
                                           ? std::chrono::steady_clock::now()
                                           : std::chrono::steady_clock::time_point{}});
  queued_bytes_ += bytes;
  ++queued_records_;
  durable_seq_.store(*seq, std::memory_order_release);
  if (behind()) priority_.raise();
  // Wake the applier only when it has something to do now, or (with a
  // delay) a first record to time; not once per commit.
  const bool delayed = opts_.apply_delay.count() > 0;
  if (delayed ? first || queue_.size() >= opts_.apply_records_max
              : queue_.size() >= opts_.apply_records_min)
    applier_cv_.notify_one();
  return {};
}

std::size_t log_store::spare_records() const {
  std::lock_guard lock(mu_);
  return spare_records_.size();
}

std::uint64_t log_store::account_key(std::string_view account) {
  const std::size_t h = std::hash<std::string_view>{}(account);
  return (std::uint64_t{1} << 63) | static_cast<std::uint32_t>(h ^ (h >> 32));
}

template <class Wanted>
log_store::pending_records log_store::pending_where(Wanted wanted) const {
  pending_records out;
  std::lock_guard lock(mu_);
  for (const std::deque<queued>* records : {&applying_, &queue_}) {
    for (const queued& q : *records) {
      if (wanted(*q.record)) out.push_back(q.record);
    }
  }
  return out;
}

log_store::pending_records log_store::pending_with(std::string_view account) const {
  return pending_where(
      [key = account_key(account)](const pending_record& r) { return r.may_hold(key); });
}

log_store::pending_records log_store::pending_with_id(ledger::object_id id) const {
  return pending_where([id](const pending_record& r) { return r.may_hold(id); });
}

log_store::pending_records log_store::pending_with_purchases() const {
  return pending_where([](const pending_record& r) { return r.has_purchases; });
}

log_store::pending_records log_store::pending_with_events_after(std::uint64_t seq) const {
  return pending_where([seq](const pending_record& r) { return r.last_event_seq > seq; });
}

std::expected<void, store_error> log_store::wait_applied(std::uint64_t seq, bool with_lots) {
  std::unique_lock lock(mu_);
  if (seq > durable_seq_.load(std::memory_order_acquire)) {
    return std::unexpected(store_error{"log " + opts_.log.dir + ": seq " + std::to_string(seq) +
                                       " is not acknowledged (the last is " +
                                       std::to_string(durable_seq_.load()) + ")"});
  }
  auto there = [&] {
    return applied_seq_.load(std::memory_order_acquire) >= seq &&
           (!with_lots || lots_seq_.load(std::memory_order_acquire) >= seq);
  };
  if (there()) return {};
  if (seq > flush_to_) flush_to_ = seq;
  if (with_lots && seq > lots_flush_to_) lots_flush_to_ = seq;
  priority_.demand();
  applier_cv_.notify_one();
  done_cv_.wait(lock, [&] { return !failure_.empty() || there(); });
  priority_.release();
  if (there()) return {};
  return std::unexpected(failure_error());
}

std::expected<void, store_error> log_store::load(ledger::ledger& into, ledger::time_us now) {
  if (auto r = wait_applied(durable_seq()); !r) return r;
  // The lots held back are read from the backlog, not written first: a
  // load after a failed write (a full disk) must not need a write.
  std::lock_guard db_lock(lock_db(), std::adopt_lock);
  return db_->load(into, now, backlog_.all());
}

std::mutex& log_store::lock_db() {
  // The applier holds db_mu_ for a transaction: at normal priority until
  // the lock is ours, or an idle applier could keep it from us.
  priority_.demand();
  db_mu_.lock();
  priority_.release();
  return db_mu_;
}

std::expected<void, store_error> log_store::probe() {
  {
    std::lock_guard lock(mu_);
    if (!failure_.empty()) return std::unexpected(failure_error());
    if (!append_failure_.empty()) return std::unexpected(append_failure_error());
  }
  std::lock_guard db_lock(lock_db(), std::adopt_lock);
  return db_->probe();
}

std::expected<std::uint64_t, store_error> log_store::apply(const std::deque<queued>& batch,
                                                           bool all_lots) {
  // The file is ours from the first part's write to the commit (the
  // writer's destructor, which rolls back a transaction left open, too).
  std::lock_guard db_lock(db_mu_);
  // The parts' lots go to the backlog, so that a lot that several parts
  // change is written once per transaction, not once per part: a spread
  // charge's lot is one random page of `lots` each time it is written.
  // Without a lag (the default) every held lot is written at the end of
  // the transaction, and the file is whole after it.
  batch_writer w(*db_, opts_.log.dir, opts_.apply_part_records_max, backlog_);
  std::size_t decoded = 0;
  for (const queued& q : batch) {
    if (++decoded % yield_records == 0) priority_.yield_if_lowered();
    if (auto r = w.add(q.seq(), q.record->payload); !r) {
      // It was encoded by this process: a bug, but the log holds it, so it
      // is reported and the store stops rather than aborting.
      return std::unexpected(store_error{"log " + opts_.log.dir + ": record seq " +
                                         std::to_string(q.seq()) +
                                         " does not decode: " + r.error()});
    }
    if (w.part_full()) {
      if (auto r = w.write_part(); !r) return std::unexpected(r.error());
    }
  }
  auto r = w.write(all_lots);
  file_durable_seq_.store(db_->durable_log_seq(), std::memory_order_release);
  lot_rows_written_.store(db_->lot_rows_written(), std::memory_order_relaxed);
  return r;
}

void log_store::applier_loop() {
  std::unique_lock lock(mu_);
  while (true) {
    // Someone asked for the held lots to be written (wait_applied with
    // lots). Only this thread changes the backlog: it may look without db_mu_.
    auto lots_wanted = [&] {
      return !backlog_.empty() && lots_flush_to_ > lots_seq_.load(std::memory_order_relaxed);
    };
    auto urgent = [&] {
      return stop_ || room_wanted_ || queue_.size() >= opts_.apply_records_max ||
             flush_to_ > applied_seq_.load(std::memory_order_relaxed) || lots_wanted();
    };
    if (opts_.apply_delay.count() > 0) {
      applier_cv_.wait(
          lock, [&] { return !failure_.empty() || !queue_.empty() || stop_ || lots_wanted(); });
      if (failure_.empty() && !queue_.empty()) {
        const auto due = queue_.front().at + opts_.apply_delay;
        applier_cv_.wait_until(lock, due, [&] { return !failure_.empty() || urgent(); });
      }
    } else {
      applier_cv_.wait(lock, [&] {
        if (!failure_.empty()) return true;
        if (queue_.empty()) return stop_ || lots_wanted();
        return urgent() || queue_.size() >= opts_.apply_records_min;
      });
    }
    if (!failure_.empty()) return;
    // Stopping, or a lot read waiting: every held lot goes in this one.
    const bool all_lots = stop_ || lots_wanted();
    if (queue_.empty() && !(all_lots && !backlog_.empty())) {
      if (stop_) return;  // nothing left
      continue;
    }
    // Readers of the tail still find the batch (pending_with) until the
    // transaction that holds it has committed.
    std::deque<queued>& batch = applying_;
    CREDITD_ASSERT(batch.empty());
    std::size_t bytes = 0;
    while (!queue_.empty() && batch.size() < opts_.apply_records_max) {
      bytes += queue_.front().bytes();
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    // Idle while it writes, unless behind (then whoever waits for room
    // would demand it back at once); mu_ is taken at normal priority only.
    const bool may_lower = !behind() && !stop_ && flush_to_ <= applied_seq_.load() && !all_lots;
    lock.unlock();
    if (may_lower) priority_.lower();
    if (opts_.at_step) opts_.at_step("apply_begin");
    auto r = apply(batch, all_lots);
    priority_.raise();
    if (r && opts_.at_step) opts_.at_step("apply_done");
    lock.lock();
    if (!r) {
      fail(r.error().message);
      return;
    }
    queued_bytes_ -= bytes;
    queued_records_ -= batch.size();
    if (!batch.empty()) applied_seq_.store(batch.back().seq(), std::memory_order_release);
    // Out of the readers' sight now: the records no reader holds go back
    // to the committer as spares, the rest are freed outside mu_. Freeing
    // a batch of 4,096 took 3 to 9 ms of CPU at normal priority (the
    // committer's threads waited for a core) and took the committer's
    // allocator's lock as often: the records were allocated there.
    std::deque<queued> applied;
    applied.swap(batch);
    lots_seq_.store(*r, std::memory_order_release);
    done_cv_.notify_all();
    lock.unlock();
    std::vector<std::shared_ptr<pending_record>> spares;
    spares.reserve(applied.size());
    for (queued& q : applied) {
      // Nobody else holds it and nobody can take it now (pending_where
      // copies under mu_, and it has left both lists): it is ours. The
      // fence pairs with the release of a reader's last reference.
      if (q.record.use_count() != 1 || record_capacity(*q.record) > spare_record_bytes_max)
        continue;
      std::atomic_thread_fence(std::memory_order_acquire);
      spares.push_back(std::const_pointer_cast<pending_record>(std::move(q.record)));
    }
    lock.lock();
    const std::size_t keep_max = std::max<std::size_t>(opts_.apply_records_max, 1);
    if (spare_records_.capacity() == 0) spare_records_.reserve(keep_max);
    for (auto& spare : spares) {
      const std::size_t capacity = record_capacity(*spare);
      if (spare_records_.size() >= keep_max || spare_bytes_ + capacity > spare_bytes_max) break;
      spare_bytes_ += capacity;
      spare_records_.push_back(std::move(spare));
    }
    lock.unlock();
    // Only what the spares could not take, and what readers held.
    spares.clear();
    applied.clear();
    if (opts_.at_step) opts_.at_step("spares_kept");
    lock.lock();
  }
}

}  // namespace creditd::store::log
