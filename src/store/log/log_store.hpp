// The append-only log in front of the SQLite store: the log is the
// durability point, the SQLite file the queryable store filled in behind it.
//
// commit() encodes the change set (change_codec.hpp) and appends it as one
// record with one write and one fdatasync (segment_log.hpp); it returns
// success once the record is durable. A background applier thread then
// writes queued records into SQLite with sqlite_store::commit_batch, many in
// one transaction, recording the last record's seq in that transaction;
// segments are recycled only below that mark. Lots' changes may wait longer
// (lot_backlog.hpp), under a mark of their own, and recycling follows the
// lower of the two. open() recovers: the held lots' changes first
// (catch_up_lots), then the records after the store's mark, decoded and
// written through the same commit_batch, before anything else.
//
// Failures are fail-stop for writes. After an append fails (a failed sync
// leaves the log's tail unknown), commit() and probe() return errors until a
// restart, while the records acknowledged before it are still applied, so
// load() and wait_applied() serve reads with every acknowledged write. After
// an apply fails, all four return errors. Either way the log holds every
// acknowledged record and the next open() replays them.
//
// Thread-safety: commit() from one thread at a time (the engine's
// committer); load() and probe() from one other (they wait for the applier);
// durable_seq(), applied_seq(), wait_applied() and failed() from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "store/log/background_priority.hpp"
#include "store/log/lot_backlog.hpp"
#include "store/log/segment_log.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "store/store.hpp"

namespace creditd::store::log {

struct log_store_options {
  segment_log_options log;
  // Backpressure: records acknowledged but not yet in SQLite, at most (the
  // bytes counted are encoded payloads). When either is reached, commit()
  // waits for the applier. Room for four full transactions: the applier
  // writes one while the next fills (creditd serve's --apply-records-max
  // sets the records' bound to four times its value).
  std::size_t queued_bytes_max = 256u << 20;
  std::size_t queued_records_max = 16384;
  // Records in one SQLite transaction at most: with creditd serve's apply
  // delay (4 s), about four seconds of group commits at 1,000 a second, so
  // that a page many records change is written once in four seconds
  // (docs/performance.md, "Three levers for p99").
  std::size_t apply_records_max = 4096;
  // A transaction's records are decoded and written this many at a time
  // (fewer when a part names 2,048 owners or holds 4 MiB of records): the
  // applier holds one part's rows in memory, not a whole transaction's. A
  // row that several parts change is written once per part.
  std::size_t apply_part_records_max = 256;
  // The applier waits for this many queued records before a transaction,
  // unless a reader, a full queue, load() or the destructor asks it to go
  // now. 1: it applies whatever is queued whenever it is idle.
  std::size_t apply_records_min = 1;
  // And, when not 0, until the oldest queued record has waited this long
  // (or apply_records_max are queued): fewer, larger transactions, in which
  // a page that many records change (a hot lot, an index leaf) is written
  // once instead of once per record. Reads that need the file to be current
  // do not wait for it (wait_applied() asks the applier to go now).
  std::chrono::microseconds apply_delay{0};
  // How long the applier may hold a lot's changes back from the file, so
  // that a lot charged again meanwhile is written once (lot_backlog.hpp).
  lot_backlog_limits lots;
  // The applier runs at SCHED_IDLE while nothing waits for it, and at
  // normal priority while a writer waits for room, a read waits for the
  // file (wait_applied, load), the queue is half full, or the store stops
  // (background_priority.hpp). Only where the system lets a thread come back
  // from SCHED_IDLE (background_priority::probe); elsewhere it stays normal.
  bool idle_priority = false;
  // Tests only: called by the applier at "apply_begin" (records taken, not
  // yet written), "apply_done" (committed, mark advanced) and "spares_kept"
  // (the applied records' buffers handed back to the committer), besides
  // the log's own steps; a test kills the process there.
  std::function<void(std::string_view step)> at_step;
};

// What check_log found.
struct log_check {
  std::uint64_t applied = 0;   // the store's mark
  std::uint64_t last_seq = 0;  // the log's last record (== applied when nothing is pending)
  std::size_t segments = 0;
};

// Verifies a log against its store's mark without changing either: every
// segment header, and every record above the mark checked (CRC, sequence)
// and decoded. `creditd check` runs it beside the SQLite audit; a log whose
// pending records are not yet in the file is not an error (a start replays
// them), but note that the file then lacks them.
// Errors: as log_store::open (naming the file and byte offset), or the
// directory is missing.
std::expected<log_check, store_error> check_log(const std::string& dir, std::uint64_t applied);

// Writes to `db` the lot changes of the log's records after its lots' mark
// up to its journal's mark (a process stopped with lots held back,
// lot_backlog.hpp, left them in the log only), so that the file is whole as
// of its mark again; log_store::open does it first, and `creditd check`
// before it audits. Reads the log without changing it. Returns how many
// records' lots were written (0: the marks were equal, nothing to do).
// Errors: the log's (as check_log), a log that ends before the journal's
// mark, or a failed write.
std::expected<std::uint64_t, store_error> catch_up_lots(sqlite::sqlite_store& db,
                                                        const std::string& dir);

class log_store final : public store {
 public:
  // Opens the SQLite store's log directory, replays into `db` every record
  // after db->applied_log_seq() (in transactions of apply_records_max), and
  // starts the applier.
  // Errors: the log's (segment_log::open: corruption naming file and offset,
  // gaps), an undecodable record, or a failed replay transaction.
  static std::expected<std::unique_ptr<log_store>, store_error> open(
      log_store_options opts, std::unique_ptr<sqlite::sqlite_store> db);
  // Applies what is queued (unless failed), then stops the applier.
  ~log_store() override;
  log_store(const log_store&) = delete;
  log_store& operator=(const log_store&) = delete;

  // Waits until SQLite holds every acknowledged record, then loads from it
  // and from the lots the applier holds back (writing nothing).
  std::expected<void, store_error> load(ledger::ledger& into, ledger::time_us now) override;
  // Runs `read(backlog)` with the applier kept out of the file meanwhile, so
  // that the file and the lots held back are as of the same record (reads
  // of lots take the held copies over the file's rows: barrier_reader).
  // Without a lag (the default) nothing is held between transactions (the
  // applier's backlog holds only the lots of the transaction it writes,
  // which readers find in its pending records): `read` is given an empty
  // backlog, without the lock, so that a lot read does not wait for the
  // applier's transaction.
  template <class F>
  auto read_with_held_lots(F&& read) {
    if (opts_.lots.lag_records == 0) return read(nothing_held_);
    std::lock_guard db_lock(lock_db(), std::adopt_lock);
    const lot_backlog& held = backlog_;
    return read(held);
  }
  // Durable (in the log) when it returns success.
  std::expected<void, store_error> commit(const ledger::change_set& changes) override;
  // Success while neither the log nor the applier has failed, and SQLite
  // takes a small write.
  std::expected<void, store_error> probe() override;

  // The read barrier. durable_seq(): the seq of the last acknowledged
  // record. wait_applied(seq): asks the applier to go now and returns once
  // SQLite holds every record up to `seq` (so a reader that takes
  // durable_seq() before its query sees every write acknowledged before it).
  // `with_lots`: and their lots, the applier writing what it held back
  // (reads do not need it: they take the held copies, read_with_held_lots;
  // a caller that reads the file directly does).
  // Errors: the store failed, or `seq` is above durable_seq().
  std::uint64_t durable_seq() const { return durable_seq_.load(std::memory_order_acquire); }
  std::uint64_t applied_seq() const { return applied_seq_.load(std::memory_order_acquire); }
  // The file's mark as of its last complete checkpoint: on disk. Segments
  // are recycled below it only.
  std::uint64_t file_durable_seq() const {
    return file_durable_seq_.load(std::memory_order_acquire);
  }
  std::expected<void, store_error> wait_applied(std::uint64_t seq, bool with_lots = false);
  // Backpressure: commits that waited for the applier to make room in the
  // queue (queued_records_max, queued_bytes_max), and the time they waited
  // in all, in microseconds. Both only grow; from any thread.
  std::uint64_t room_waits() const { return room_waits_.load(std::memory_order_relaxed); }
  std::uint64_t room_wait_us() const { return room_wait_us_.load(std::memory_order_relaxed); }
  // Commits whose record needed a new payload buffer (no spare, or one too
  // small): memory first touched on the committer's thread while it
  // encodes. Only grows; from any thread.
  std::uint64_t record_buffers_made() const {
    return record_buffers_made_.load(std::memory_order_relaxed);
  }
  // What the applier's writes to the SQLite file (false) and its WAL (true)
  // handed to the kernel's writeback, and the waits for their pace
  // (sqlite_store::pace_writeback). Only grow; from any thread.
  sqlite::paced_vfs::counters writeback(bool wal) const {
    return wal ? db_->wal_writeback() : db_->file_writeback();
  }
  // The file's lots' mark: every lot change up to it is in SQLite.
  std::uint64_t lots_seq() const { return lots_seq_.load(std::memory_order_acquire); }
  // Lot rows the applier has written to the file (sqlite_store's
  // lot_rows_written(), as of its last transaction). Any thread.
  std::uint64_t lot_rows_written() const {
    return lot_rows_written_.load(std::memory_order_relaxed);
  }

  // A record acknowledged and not yet in the file, as readers may take it.
  struct pending_record {
    std::uint64_t seq = 0;
    std::string payload;  // encode_change_set's
    // A Bloom filter (one allocation per record) of account_key() of the
    // accounts its entries, lots, holds, charges, purchases and events
    // belong to, and of the ids of its lots, holds and charges: a power of
    // two of 64-bit words, at least filter_bits_per_key bits per key, two
    // bits a key. A read of one account's history or of one row by id
    // decodes only the records that may hold some of it (a record it does
    // not concern passes about 3% of the time). Building it sorts nothing.
    static constexpr std::size_t filter_bits_per_key = 10;
    std::vector<std::uint64_t> filter;
    // False only when the record holds no row of `key` (an account_key()
    // or an id).
    bool may_hold(std::uint64_t key) const;
    std::uint64_t last_entry_seq = 0;  // of its entries (0: none)
    std::uint64_t last_event_seq = 0;  // of its events (0: none)
    bool has_purchases = false;
  };
  using pending_records = std::vector<std::shared_ptr<const pending_record>>;
  // An account's key in a record's filter: a 32-bit hash of its id with
  // the top bit set, above every object id (ids count up from 1).
  static std::uint64_t account_key(std::string_view account);
  // The records acknowledged and not in the file when called (the applier's
  // transaction in progress included), in seq order, that may hold rows of
  // `account` (a hash filter: a record may hold none after all), a copy of
  // lot, hold or charge `id`, any purchase, or events above `seq`. With a read of the
  // file after it, no acknowledged record is missed: what leaves these
  // lists is in the file first. A copy of pointers under mu_; the caller
  // decodes them (barrier_reader).
  pending_records pending_with(std::string_view account) const;
  pending_records pending_with_id(ledger::object_id id) const;
  pending_records pending_with_purchases() const;
  pending_records pending_with_events_after(std::uint64_t seq) const;

  bool failed() const;
  std::string failure() const;  // "" while not failed
  // Whether the applier runs at SCHED_IDLE now (for tests and metrics).
  bool applier_lowered() const;
  // Another connection to the file waits for its write lock, which the
  // applier may hold: normal priority for the rest of its transaction.
  void raise_applier() { priority_.raise(); }
  // Applied records kept for the committer to encode into (spare_records_;
  // for tests).
  std::size_t spare_records() const;
  // Segment files now (for tests and metrics; the committer's thread only).
  std::size_t segment_count() const { return log_->segment_count(); }
  // Segments the log moved on to: a free file, or one made inside a commit
  // (segment_log::rolls_to_free and rolls_to_new). Any thread.
  std::uint64_t segment_rolls_to_free() const { return log_->rolls_to_free(); }
  std::uint64_t segment_rolls_to_new() const { return log_->rolls_to_new(); }
  // Free files (recycled, or spares made ahead) now, and how many times a
  // spare became due (segment_log::spares_due(); the committer's thread)
  // (for tests).
  std::size_t segment_free_count() const { return log_->free_count(); }
  std::uint64_t segment_spares_due() const { return log_->spares_due(); }

 private:
  // Spare records (spare_records_): their buffers' bytes in all, and the
  // largest record kept (a larger one, a rare big batch, is freed).
  static constexpr std::size_t spare_bytes_max = 64u << 20;
  static constexpr std::size_t spare_record_bytes_max = 1u << 20;
  struct queued {
    std::shared_ptr<const pending_record> record;  // shared with readers (pending_with)
    std::chrono::steady_clock::time_point at;      // when it was acknowledged
    std::uint64_t seq() const { return record->seq; }
    std::size_t bytes() const { return record->payload.size(); }
  };
  log_store(log_store_options opts, std::unique_ptr<sqlite::sqlite_store> db)
      : opts_(std::move(opts)), db_(std::move(db)) {}
  void applier_loop();
  // The "spares" thread: makes a spare segment (segment_log::make_spare)
  // each time the committer finds one due, until stop.
  void spares_loop();
  // The pending records (applying_, then queue_) that `wanted` keeps.
  template <class Wanted>
  pending_records pending_where(Wanted wanted) const;
  // Locks db_mu_, the applier at normal priority while this waits for it.
  std::mutex& lock_db();
  // mu_ held: the queue is half full (the applier is behind).
  bool behind() const;
  // Decodes `batch` and writes it with commit_batch in one transaction, with
  // the backlog's due lots (every one when `all_lots`; `batch` may then be
  // empty). Returns the lots' mark after it.
  std::expected<std::uint64_t, store_error> apply(const std::deque<queued>& batch, bool all_lots);
  void fail(const std::string& why);         // mu_ held
  store_error failure_error() const;         // mu_ held
  store_error append_failure_error() const;  // mu_ held

  log_store_options opts_;
  std::unique_ptr<sqlite::sqlite_store> db_;
  std::unique_ptr<segment_log> log_;
  // The committer's next record, encoded into before its append: a spare
  // (below) when there is one, so that its buffers are reused.
  std::shared_ptr<pending_record> next_;
  std::size_t last_record_bytes_ = 0;  // the committer's: the size of the last record

  mutable std::mutex mu_;
  std::condition_variable applier_cv_;  // work for the applier
  std::condition_variable done_cv_;     // progress: applied, room, failure
  std::deque<queued> queue_;            // acknowledged, not yet taken by the applier
  // Taken by the applier, not yet in the file: it changes this under mu_
  // only, and reads it without mu_ while it applies.
  std::deque<queued> applying_;
  // Applied records nobody else held, their buffers kept for the committer
  // to encode into again: the applier frees nothing on the hot path and
  // takes no lock of the committer's allocator. At most
  // apply_records_max of them, of spare_bytes_max bytes in all.
  std::vector<std::shared_ptr<pending_record>> spare_records_;
  std::size_t spare_bytes_ = 0;   // their payloads' and filters' capacities
  std::size_t queued_bytes_ = 0;  // in queue_ and in the applier's hands
  std::size_t queued_records_ = 0;
  std::uint64_t flush_to_ = 0;       // someone waits for this seq
  std::uint64_t lots_flush_to_ = 0;  // and for the lots of this one
  bool room_wanted_ = false;
  bool stop_ = false;
  std::string failure_;  // the applier failed: nothing more is trusted
  // An append failed (a failed sync leaves the log's tail unknown): no more
  // commits until a restart, but what was acknowledged before is still
  // applied, so load() serves reads from it.
  std::string append_failure_;
  std::atomic<std::uint64_t> durable_seq_{0};
  std::atomic<std::uint64_t> applied_seq_{0};
  std::atomic<std::uint64_t> lots_seq_{0};          // the file's lots' mark
  std::atomic<std::uint64_t> lot_rows_written_{0};  // lot_rows_written()
  std::atomic<std::uint64_t> room_waits_{0};
  std::atomic<std::uint64_t> room_wait_us_{0};
  std::atomic<std::uint64_t> record_buffers_made_{0};
  // The file's mark as of its last complete checkpoint (on disk): segments
  // are recycled below it only.
  std::atomic<std::uint64_t> file_durable_seq_{0};
  std::mutex db_mu_;  // the sqlite_store: the applier's transactions, load(), probe()
  lot_backlog backlog_{opts_.lots};     // under db_mu_
  const lot_backlog nothing_held_{{}};  // read_with_held_lots' without a lag
  // The applier's: idle only while it applies, nobody waiting (options).
  background_priority priority_;
  std::thread applier_;
  // Spare segments, made ahead on their own thread: the applier's
  // transaction may take seconds, and a roll that finds no free file fills
  // one inside the commit that needs it (segment_log::roll).
  std::uint64_t spares_due_seen_ = 0;  // the committer's
  std::mutex spares_mu_;
  std::condition_variable spares_cv_;
  bool spare_asked_ = false;  // under spares_mu_
  bool spares_stop_ = false;  // under spares_mu_
  std::thread spares_;
};

}  // namespace creditd::store::log
