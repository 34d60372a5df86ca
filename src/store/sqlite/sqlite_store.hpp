// The embedded store: one SQLite file in WAL mode with synchronous=FULL, so a
// successful commit() is on disk (behind a log: defer_sync_to_log()). One process at a time: the
// file is locked (flock on a side file) for the life of the store.
//
// Thread-safety: not thread-safe; the engine's committer thread owns it after load().
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "store/sqlite/paced_vfs.hpp"
#include "store/sqlite/sqlite_db.hpp"
#include "store/store.hpp"

namespace creditd::store::sqlite {

struct sqlite_options {
  std::string path;
  // Pages of WAL after which a commit also checkpoints into the main file.
  int wal_autocheckpoint_pages = 4000;
  // With defer_sync_to_log(): how the file's and the WAL's writes go to the
  // kernel's writeback (paced_vfs.hpp): a chunk at a time, at most this
  // fast while pace_writeback()'s flag is set.
  writeback_pace writeback;
};

class sqlite_store final : public store {
 public:
  // Opens or creates the file, takes its lock and migrates the schema (each
  // migration in one transaction; version 6 gives every row already there
  // its checksum, version 7 makes the integer keys rowid aliases, keeping
  // every row and checksum) and reads applied_log_seq().
  // Errors: cannot create/open the file, another process holds it, the file
  // was written by a newer schema, or is not a creditd database.
  static std::expected<std::unique_ptr<sqlite_store>, store_error> open(const sqlite_options& opts);
  ~sqlite_store() override;

  // As store::load; besides, every row it reads (and every row of
  // subscription_periods) must match its checksum (sqlite_checksum.hpp): a
  // row altered outside creditd is refused, naming the file, the table and
  // the row's key. The journal's entries and the events, which grow with
  // history, are not read here (only the last event's seq); `creditd check`
  // verifies them.
  std::expected<void, store_error> load(ledger::ledger& into, ledger::time_us now) override;
  // Every row written carries its checksum: each upsert sets every column.
  std::expected<void, store_error> commit(const ledger::change_set& changes) override;
  std::expected<void, store_error> probe() override;

  // For an append-only log in front of the store (src/store/log/): writes
  // several change sets, in order, in ONE transaction (synced only at a
  // checkpoint once defer_sync_to_log() was called, else one fsync), and
  // records `log_seq` (the log's sequence number of the last of them) in the
  // same transaction, as meta row 'log_applied_seq' with its checksum. The
  // later of two writes of the same row wins, exactly as if the sets were
  // committed one by one; a row several sets write (an account, lot, hold,
  // charge, package, plan, subscription, price) is written once, its last
  // copy (coalescing: a batch of 16 sets of 16 spread charges costs the WAL
  // frames of one set of 256, tests/store/wal_cost_test.cpp). After an error
  // in the transaction nothing of the batch is written and the mark is
  // unchanged; with sync deferred, a checkpoint that fails after it is an
  // error too, the batch committed (the applier stops either way). An empty
  // `sets` records the mark alone. The sets are only read, during the call.
  //
  // With `lots` (a log's lot backlog, store/log/lot_backlog.hpp): the sets'
  // lots are not written; `lots->rows` are, and `lots->lots_seq` is
  // recorded as meta 'log_lots_seq', the lots' own mark: every lot change
  // of a record up to it is in the file, and those after it may not be
  // (the log replays them, catch_up_lots in log_store.hpp). Without it,
  // the sets' lots are written and the lots' mark is `log_seq`.
  struct lot_write {
    const ledger::lot* lot = nullptr;
    std::string_view account;  // its owner's id (the lot's owner pointer is not read)
  };
  struct lot_writes {
    std::span<const lot_write> rows;
    std::uint64_t lots_seq = 0;  // at most log_seq
  };
  // load() for a log that holds lots back (store/log/lot_backlog.hpp):
  // `held`, every lot it holds, replace the file's rows of the same ids,
  // and the lots' mark may then be below the journal's.
  std::expected<void, store_error> load(ledger::ledger& into, ledger::time_us now,
                                        std::span<const lot_write> held);
  std::expected<void, store_error> commit_batch(std::span<const ledger::change_set* const> sets,
                                                std::uint64_t log_seq,
                                                const lot_writes* lots = nullptr);
  // commit_batch in parts, for a caller that decodes a transaction's sets a
  // part at a time rather than holding them all (the log's applier): one
  // begin_batch, then write_batch_part for each part in order, then
  // finish_batch, which records the marks and commits, or abort_batch.
  // The file ends as commit_batch of every part's sets at once would leave
  // it, except that a row several parts upsert is written once per part
  // (its last copy in each; the last part's wins). A part's sets are only
  // read during its call. `with_lots` false: the sets' lots are not
  // written (finish_batch's `lots` are). After an error the batch must be
  // aborted; nothing of it is written.
  std::expected<void, store_error> begin_batch();
  std::expected<void, store_error> write_batch_part(std::span<const ledger::change_set* const> sets,
                                                    bool with_lots);
  std::expected<void, store_error> finish_batch(std::uint64_t log_seq,
                                                const lot_writes* lots = nullptr);
  // Lots written into the open batch before finish_batch (a backlog past
  // its bound, lot_backlog::excess()); the lots' mark is finish_batch's.
  std::expected<void, store_error> write_batch_lots(std::span<const lot_write> rows);
  void abort_batch();
  // The log sequence number recorded by the last commit_batch (0 if never):
  // read at open (and again by load), kept up to date by commit_batch.
  // commit() leaves it as it is.
  std::uint64_t applied_log_seq() const { return applied_log_seq_; }
  // The lots' mark (meta 'log_lots_seq'; applied_log_seq() where a file has
  // none): at most applied_log_seq(). Below it, the lot rows lag the journal
  // and load() refuses the file until the log's lot changes are written
  // (log_store::open and `creditd check` do it first).
  std::uint64_t applied_lots_seq() const { return applied_lots_seq_; }
  // Lot rows this connection has written (inserted or updated), committed
  // or not: one per put, for tests and metrics.
  std::uint64_t lot_rows_written() const { return lot_rows_written_; }

  // For a log in front of the store, which is then the durability point:
  // transactions stop waiting for the disk (synchronous=NORMAL: SQLite
  // syncs the WAL only before a checkpoint, the file after a complete one),
  // and the store checkpoints by itself once the WAL holds
  // wal_autocheckpoint_pages. What a complete checkpoint covers is on disk:
  // durable_log_seq() is the mark as of the last one, and the log may drop
  // records up to it, never above (a crash of the machine may take back
  // the transactions after it, and the log replays them). Checkpoints here
  // at once so that what the file holds now is on disk (durable_log_seq()
  // == applied_log_seq() on success), as make_durable() does.
  // Errors: the pragma, or a checkpoint that failed or could not complete.
  std::expected<void, store_error> defer_sync_to_log();
  // With sync deferred: while `*unhurried` is set (not owned; outlives the
  // store), the writes SQLite makes to the WAL and the file reach the
  // kernel's writeback no faster than sqlite_options::writeback allows
  // (paced_vfs.hpp), and a checkpoint's copy into the file is spread over
  // `checkpoint_spread` at least (its rate: the WAL's bytes over it, or
  // writeback.file_bytes_per_second if more). Only the thread that writes
  // through the store waits. Until then (and hurried, and after a call
  // with nullptr) the writes go to writeback a chunk at a time, without
  // waiting.
  void pace_writeback(const std::atomic<bool>* unhurried,
                      std::chrono::milliseconds checkpoint_spread);
  // What went to writeback that way: the file's, the WAL's.
  paced_vfs::counters file_writeback() const { return vfs_->file_stats(); }
  paced_vfs::counters wal_writeback() const { return vfs_->wal_stats(); }
  // A complete checkpoint now (waiting for readers up to the busy timeout):
  // durable_log_seq() == applied_log_seq() on success.
  std::expected<void, store_error> make_durable();
  // With defer_sync_to_log(): the mark as of the last complete checkpoint.
  // Without it every commit is synced: applied_log_seq().
  // The lower of the two marks, journal and lots: records above it may be
  // needed by a restart.
  std::uint64_t durable_log_seq() const {
    return sync_deferred_ ? durable_log_seq_ : applied_lots_seq_;
  }

  // Checks the file's integrity (PRAGMA integrity_check: every page, every
  // index against its table), every row's checksum, then audits the journal
  // against every row (ledger/audit.hpp). Returns "" when all agree, else
  // every problem found (bounded), one per line, naming the file.
  std::expected<std::string, store_error> audit_journal(const ledger::ledger& l);

  const std::string& path() const { return path_; }

  // Calls fn(arg) every `steps` virtual machine instructions of this
  // connection's statements (sqlite3_progress_handler); fn returns 0 to go
  // on. nullptr removes it.
  void set_progress_handler(int steps, int (*fn)(void*), void* arg) {
    sqlite3_progress_handler(db_.raw(), steps, fn, arg);
  }

  // Rows inserted, updated or deleted through this store since it opened
  // (SQLite's total_changes): what a commit cost, for tests and benchmarks.
  std::int64_t rows_written() const { return sqlite3_total_changes64(db_.raw()); }

 private:
  sqlite_store() = default;
  std::expected<void, store_error> migrate();
  // Reads meta 'log_applied_seq' and 'log_lots_seq' (checking their
  // checksums) into applied_log_seq_ and applied_lots_seq_.
  std::expected<void, store_error> read_applied_log_seq();
  std::expected<void, store_error> prepare_statements();
  std::expected<void, store_error> write(const ledger::change_set& changes);
  // The rows of several sets as write() of each in turn would leave them,
  // each upserted row written once (its last copy); their lots only when
  // `with_lots`.
  // Its counters are not written: it keeps them in batch_counters_, which
  // finish_batch writes.
  std::expected<void, store_error> write_coalesced(std::span<const ledger::change_set* const> sets,
                                                   bool with_lots);
  // One row each (its checksum with it).
  std::expected<void, store_error> put_entry(const ledger::entry& e);
  std::expected<void, store_error> put_account(const ledger::account_row& a);
  std::expected<void, store_error> put_lot(const ledger::lot& l, std::string_view account);
  std::expected<void, store_error> put_hold(const ledger::hold& h);
  std::expected<void, store_error> put_charge(const ledger::charge_record& ch);
  std::expected<void, store_error> put_idempotency(const ledger::idempotency_record& rec);
  std::expected<void, store_error> put_price(const ledger::price& p);
  std::expected<void, store_error> remove_price(std::string_view id);
  std::expected<void, store_error> put_package(const ledger::package& p);
  std::expected<void, store_error> put_plan(const ledger::plan& p);
  std::expected<void, store_error> put_subscription(const ledger::subscription& sub);
  std::expected<void, store_error> put_purchase(const ledger::purchase& p);
  std::expected<void, store_error> put_period(const ledger::subscription_period& p);
  std::expected<void, store_error> put_event(const ledger::event& ev);
  // A set's expiry of idempotency records by age, then its new records.
  std::expected<void, store_error> put_idempotency_of(const ledger::change_set& c);
  std::expected<void, store_error> put_meta(std::string_view key, const std::string& value);
  // next_object_id and next_seq, and time_seen and notices_until unless 0.
  std::expected<void, store_error> put_counters(std::uint64_t next_object_id,
                                                std::uint64_t next_seq, ledger::time_us time_seen,
                                                ledger::time_us notices_until);
  std::expected<void, store_error> check_db(std::expected<void, db_error> r,
                                            const char* what) const;
  std::expected<void, store_error> load_impl(ledger::ledger& into, ledger::time_us now,
                                             const std::span<const lot_write>* held);
  // The catalog, subscriptions (after the accounts) and purchases' external ids.
  std::expected<void, store_error> load_commerce(ledger::ledger& into);
  store_error fail(const std::string& what, const db_error& e) const;
  // With sync deferred, after a commit: a passive checkpoint once the WAL
  // holds wal_autocheckpoint_pages_; when it completes, durable_log_seq_
  // moves up. Errors: the checkpoint's I/O (a failed sync).
  std::expected<void, store_error> checkpoint_if_due();
  std::expected<bool, store_error> checkpoint(int mode);

  std::string path_;
  int lock_fd_ = -1;
  // The connection's VFS: declared before db_, so that it outlives it.
  std::unique_ptr<paced_vfs> vfs_;
  database db_;
  statement begin_, commit_, rollback_;
  statement insert_entry_, upsert_account_, update_lot_, insert_lot_terms_, insert_lot_amounts_;
  statement upsert_hold_, upsert_charge_;
  statement insert_idempotency_, expire_idempotency_, upsert_meta_;
  statement upsert_price_, delete_price_, upsert_package_, upsert_plan_, upsert_subscription_;
  statement insert_purchase_, insert_period_, insert_event_;
  std::string scratch_;
  std::uint64_t probes_ = 0;
  std::uint64_t applied_log_seq_ = 0;
  std::uint64_t applied_lots_seq_ = 0;
  std::uint64_t lot_rows_written_ = 0;
  // The batch open between begin_batch and finish_batch or abort_batch, and
  // the counters of the last set its parts wrote (none yet: !any).
  bool batch_open_ = false;
  struct batch_counters {
    bool any = false;
    std::uint64_t next_object_id = 0, next_seq = 0;
    ledger::time_us time_seen = 0, notices_until = 0;
  } batch_counters_;
  bool lots_mark_stored_ = false;  // meta 'log_lots_seq' exists
  int wal_autocheckpoint_pages_ = 4000;
  bool sync_deferred_ = false;
  int wal_frames_ = 0;  // in the WAL after the last commit (sqlite3_wal_hook)
  std::chrono::milliseconds checkpoint_spread_{0};  // pace_writeback's
  std::int64_t page_bytes_ = 4096;
  std::uint64_t durable_log_seq_ = 0;  // min(journal mark, lots' mark) at the last checkpoint
};

}  // namespace creditd::store::sqlite
