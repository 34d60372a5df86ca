#include "store/sqlite/sqlite_store.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <iterator>
#include <limits>
#include <map>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ledger/limits.hpp"
#include "store/codec.hpp"
#include "store/schema.hpp"
#include "store/sqlite/sqlite_checksum.hpp"
#include "store/sqlite/sqlite_rows.hpp"

namespace creditd::store::sqlite {

namespace {

std::int64_t to_db_time(ledger::time_us t) {
  return t;
}

// An instant that may be "never" (no_expiry): NULL in the file.
cell instant_cell(ledger::time_us t) {
  return t == ledger::no_expiry ? cell::null() : cell::of(t);
}

ledger::time_us column_instant(const statement& s, int index) {
  return s.column_null(index) ? ledger::no_expiry : s.column_int(index);
}

std::optional<std::int64_t> parse_int(std::string_view s) {
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<std::uint64_t> parse_uint(std::string_view s) {
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// The instant of the last lot.expiring_soon notice (change_set::notices_until).
constexpr std::string_view notices_until_key = "notices_until";

// The checksum's word on a row refused for what it holds: "" when intact,
// else "; lots row id=3: checksum mismatch (...)".
std::string also_altered(std::string_view table, const std::string& key, row_verdict v) {
  return v == row_verdict::intact ? std::string() : "; " + checksum_problem(table, key, v);
}

}  // namespace

store_error sqlite_store::fail(const std::string& what, const db_error& e) const {
  return store_error{"sqlite store " + path_ + ": " + what + ": " + e.message + " (code " +
                     std::to_string(e.code) + ")"};
}

sqlite_store::~sqlite_store() {
  // Statements must be finalized before the connection closes.
  begin_ = {};
  commit_ = {};
  rollback_ = {};
  insert_entry_ = {};
  upsert_account_ = {};
  update_lot_ = {};
  insert_lot_terms_ = {};
  insert_lot_amounts_ = {};
  upsert_hold_ = {};
  upsert_charge_ = {};
  insert_idempotency_ = {};
  expire_idempotency_ = {};
  upsert_meta_ = {};
  upsert_price_ = {};
  delete_price_ = {};
  upsert_package_ = {};
  upsert_plan_ = {};
  upsert_subscription_ = {};
  insert_purchase_ = {};
  insert_period_ = {};
  insert_event_ = {};
  db_ = {};
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

std::expected<std::unique_ptr<sqlite_store>, store_error> sqlite_store::open(
    const sqlite_options& opts) {
  std::unique_ptr<sqlite_store> s(new sqlite_store());
  s->path_ = opts.path;
  const std::string lock_path = opts.path + ".lock";
  s->lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (s->lock_fd_ < 0) {
    return std::unexpected(
        store_error{"cannot open lock file " + lock_path + ": " + std::strerror(errno)});
  }
  if (::flock(s->lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return std::unexpected(
        store_error{"store " + opts.path + " is in use by another creditd process"});
  }
  auto vfs = paced_vfs::make(opts.writeback);
  if (!vfs) return std::unexpected(store_error{"sqlite store " + opts.path + ": " + vfs.error()});
  s->vfs_ = std::move(*vfs);
  auto db = database::open(opts.path, /*create=*/true, s->vfs_->name());
  if (!db) return std::unexpected(s->fail("cannot open", db.error()));
  s->db_ = std::move(*db);

  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(s->db_.raw(), "PRAGMA journal_mode=WAL", -1, &raw, nullptr) != SQLITE_OK) {
    return std::unexpected(s->fail("cannot set WAL mode", s->db_.last_error()));
  }
  statement mode(raw);
  auto row = mode.step();
  if (!row) return std::unexpected(s->fail("cannot set WAL mode", row.error()));
  if (!*row || mode.column_text(0) != "wal") {
    return std::unexpected(
        store_error{"sqlite store " + opts.path + ": the file does not accept WAL mode"});
  }
  mode = {};
  const std::string pragmas =
      "PRAGMA synchronous=FULL; PRAGMA busy_timeout=5000; "
      "PRAGMA foreign_keys=OFF; PRAGMA cache_size=-131072; PRAGMA wal_autocheckpoint=" +
      std::to_string(opts.wal_autocheckpoint_pages) + ";";
  if (auto r = s->db_.exec(pragmas.c_str()); !r)
    return std::unexpected(s->fail("cannot set pragmas", r.error()));
  s->wal_autocheckpoint_pages_ = opts.wal_autocheckpoint_pages;
  if (auto r = s->migrate(); !r) return std::unexpected(r.error());
  if (auto r = s->prepare_statements(); !r) return std::unexpected(r.error());
  if (auto r = s->read_applied_log_seq(); !r) return std::unexpected(r.error());
  return s;
}

std::expected<void, store_error> sqlite_store::read_applied_log_seq() {
  auto applied = read_meta_uint(db_, path_, log_applied_key);
  if (!applied) return std::unexpected(applied.error());
  auto lots = read_meta_uint(db_, path_, log_lots_key);
  if (!lots) return std::unexpected(lots.error());
  applied_log_seq_ = applied->value_or(0);
  lots_mark_stored_ = lots->has_value();
  // A file written before the lots had a mark of their own: they were
  // written with their records.
  applied_lots_seq_ = lots->value_or(applied_log_seq_);
  if (applied_lots_seq_ > applied_log_seq_) {
    return std::unexpected(store_error{
        "sqlite store " + path_ + " is inconsistent: meta " + std::string(log_lots_key) + " (" +
        std::to_string(applied_lots_seq_) + ") is above " + std::string(log_applied_key) + " (" +
        std::to_string(applied_log_seq_) + ")"});
  }
  return {};
}

std::expected<void, store_error> sqlite_store::migrate() {
  if (auto r = db_.exec("CREATE TABLE IF NOT EXISTS schema_migrations ("
                        "version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)");
      !r) {
    return std::unexpected(
        fail("cannot create schema_migrations (is this a creditd database?)", r.error()));
  }
  auto q = db_.prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
  if (!q) return std::unexpected(fail("cannot read schema version", q.error()));
  auto row = q->step();
  if (!row || !*row) return std::unexpected(fail("cannot read schema version", db_.last_error()));
  const std::int64_t current = q->column_int(0);
  q->reset();
  if (current > schema_version_latest) {
    return std::unexpected(store_error{"sqlite store " + path_ + " has schema version " +
                                       std::to_string(current) + ", newer than this creditd (" +
                                       std::to_string(schema_version_latest) + ")"});
  }
  for (const migration& m : migrations) {
    if (m.version <= current) continue;
    // The DDL, the checksums of the rows there (when the migration changes
    // what they cover) and the version row: one transaction.
    std::string sql = "BEGIN IMMEDIATE;";
    sql += m.sql;
    sql += m.sqlite_sql;
    auto r = db_.exec(sql.c_str());
    if (r && m.fills_checksums) r = fill_row_checksums(db_);
    if (r) {
      const std::string done = "INSERT INTO schema_migrations (version, applied_at) VALUES (" +
                               std::to_string(m.version) + ", 0); COMMIT;";
      r = db_.exec(done.c_str());
    }
    if (!r) {
      (void)db_.exec("ROLLBACK");
      return std::unexpected(fail("migration " + std::to_string(m.version) + " failed", r.error()));
    }
  }
  return {};
}

std::expected<void, store_error> sqlite_store::prepare_statements() {
  struct item {
    statement* into;
    const char* sql;
  };
  const item items[] = {
      {&begin_, "BEGIN IMMEDIATE"},
      {&commit_, "COMMIT"},
      {&rollback_, "ROLLBACK"},
      // Every write sets the row's checksum (the last parameter) and, on a
      // conflict, every column: the row is exactly what the checksum covers.
      {&insert_entry_,
       "INSERT INTO entries (seq, account, type, amount, balance_after, lot_id, charge_id, "
       "hold_id, refund_id, parts, operation, dimensions, reference, reason, created_at, "
       "quantity, metadata, price_id, unit_amount, checksum) "
       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, "
       "?19, ?20)"},
      {&upsert_account_,
       "INSERT INTO accounts (id, name, settings, postpaid_used, postpaid_period, created_at, "
       "updated_at, topup_armed, topup_period_start, topup_count, checksum) VALUES (?1, ?2, ?3, "
       "?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) ON CONFLICT (id) DO UPDATE SET "
       "name = excluded.name, settings = excluded.settings, postpaid_used = "
       "excluded.postpaid_used, postpaid_period = excluded.postpaid_period, created_at = "
       "excluded.created_at, updated_at = excluded.updated_at, topup_armed = "
       "excluded.topup_armed, topup_period_start = excluded.topup_period_start, topup_count = "
       "excluded.topup_count, checksum = excluded.checksum"},
      // A lot that exists (every charge's, every capture's): one UPDATE by
      // rowid of what a lot's life changes, its status and its five
      // amounts, in `lot_amounts` (schema migration 11): a narrow row, half
      // the instructions of the whole one and a third of its pages
      // (docs/performance.md, "The store's cost per charge, counted"). Its
      // account and terms are written once, by the inserts below, and
      // never change (nor is lots_account's entry rewritten). The checksum
      // is the whole row's, as the ledger holds it, so a row whose account
      // or terms were altered outside creditd stays named by the checksum
      // checks of the `lots` view.
      {&update_lot_,
       "UPDATE lot_amounts SET status = ?2, remaining = ?3, held = ?4, spent = ?5, expired = ?6, "
       "voided = ?7, checksum = ?8 WHERE id = ?1"},
      // A new lot: its terms, then its amounts.
      {&insert_lot_terms_,
       "INSERT INTO lot_terms (id, account, kind, priority, amount, effective_at, expires_at, "
       "created_at, scope, source, reason, cost_basis, currency) VALUES (?1, ?2, ?3, ?4, ?5, "
       "?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"},
      {&insert_lot_amounts_,
       "INSERT INTO lot_amounts (id, status, remaining, held, spent, expired, voided, checksum) "
       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"},
      {&upsert_hold_,
       "INSERT INTO holds (id, account, status, amount, captured, parts, operation, dimensions, "
       "reference, created_at, expires_at, closed_at, charge_id, postpaid_period, quantity, "
       "metadata, price_id, unit_amount, checksum) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
       "?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19) ON CONFLICT (id) DO UPDATE SET "
       "account = excluded.account, status = excluded.status, amount = excluded.amount, "
       "captured = excluded.captured, parts = excluded.parts, operation = excluded.operation, "
       "dimensions = excluded.dimensions, reference = excluded.reference, created_at = "
       "excluded.created_at, expires_at = excluded.expires_at, closed_at = excluded.closed_at, "
       "charge_id = excluded.charge_id, postpaid_period = excluded.postpaid_period, quantity = "
       "excluded.quantity, metadata = excluded.metadata, price_id = excluded.price_id, "
       "unit_amount = excluded.unit_amount, checksum = excluded.checksum"},
      {&upsert_charge_,
       "INSERT INTO charges (id, account, amount, refunded, parts, created_at, hold_id, "
       "postpaid_period, checksum) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (id) "
       "DO UPDATE SET account = excluded.account, amount = excluded.amount, refunded = "
       "excluded.refunded, parts = excluded.parts, created_at = excluded.created_at, hold_id = "
       "excluded.hold_id, postpaid_period = excluded.postpaid_period, checksum = "
       "excluded.checksum"},
      {&insert_idempotency_,
       // An upsert: a key past its retention may still have a row here (the
       // expiry below removes it first in the same set, but a row must never
       // make a commit fail; the commit is every client's).
       "INSERT INTO idempotency (key, fingerprint, status, body, created_at, checksum) VALUES "
       "(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (key) DO UPDATE SET fingerprint = "
       "excluded.fingerprint, status = excluded.status, body = excluded.body, created_at = "
       "excluded.created_at, checksum = excluded.checksum"},
      {&expire_idempotency_, "DELETE FROM idempotency WHERE created_at < ?1"},
      {&upsert_meta_,
       "INSERT INTO meta (key, value, checksum) VALUES (?1, ?2, ?3) ON CONFLICT (key) DO UPDATE "
       "SET value = excluded.value, checksum = excluded.checksum"},
      // The catalog: upserts by id (every field but the id is the ledger's
      // latest), and deletes.
      {&upsert_price_,
       "INSERT INTO prices (id, operation, dimensions, unit_amount, created_at, updated_at, "
       "checksum) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (id) DO UPDATE SET operation = "
       "excluded.operation, dimensions = excluded.dimensions, unit_amount = "
       "excluded.unit_amount, created_at = excluded.created_at, updated_at = "
       "excluded.updated_at, checksum = excluded.checksum"},
      {&delete_price_, "DELETE FROM prices WHERE id = ?1"},
      {&upsert_package_,
       "INSERT INTO packages (id, credits, price, currency, validity_days, created_at, "
       "updated_at, checksum) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (id) DO UPDATE "
       "SET credits = excluded.credits, price = excluded.price, currency = excluded.currency, "
       "validity_days = excluded.validity_days, created_at = excluded.created_at, updated_at = "
       "excluded.updated_at, checksum = excluded.checksum"},
      {&upsert_plan_,
       "INSERT INTO plans (id, credits_per_period, period, rollover_cap, created_at, updated_at, "
       "checksum) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (id) DO UPDATE SET "
       "credits_per_period = excluded.credits_per_period, period = excluded.period, "
       "rollover_cap = excluded.rollover_cap, created_at = excluded.created_at, updated_at = "
       "excluded.updated_at, checksum = excluded.checksum"},
      {&upsert_subscription_,
       "INSERT INTO subscriptions (account, plan, next_plan, timezone, anchor_year, "
       "anchor_month, anchor_day, start_at, period_index, period_start, period_end, lot_id, "
       "cancel_at_period_end, status, created_at, updated_at, checksum) VALUES (?1, ?2, ?3, ?4, "
       "?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17) ON CONFLICT (account) DO "
       "UPDATE SET plan = excluded.plan, next_plan = excluded.next_plan, timezone = "
       "excluded.timezone, anchor_year = excluded.anchor_year, anchor_month = "
       "excluded.anchor_month, anchor_day = excluded.anchor_day, start_at = excluded.start_at, "
       "period_index = excluded.period_index, period_start = excluded.period_start, period_end = "
       "excluded.period_end, lot_id = excluded.lot_id, cancel_at_period_end = "
       "excluded.cancel_at_period_end, status = excluded.status, created_at = "
       "excluded.created_at, updated_at = excluded.updated_at, checksum = excluded.checksum"},
      // New rows only, and no ON CONFLICT: a second purchase of an external
      // id, or a second grant of a period, fails the whole commit.
      {&insert_purchase_,
       "INSERT INTO purchases (id, account, package, lot_id, credits, price, currency, source, "
       "external_id, reason, created_at, checksum) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
       "?10, ?11, ?12)"},
      {&insert_period_,
       "INSERT INTO subscription_periods (account, period_index, plan, lot_id, granted, "
       "rolled_over, rollover_lot_id, starts_at, ends_at, checksum) VALUES (?1, ?2, ?3, ?4, ?5, "
       "?6, ?7, ?8, ?9, ?10)"},
      // Events are new rows, like journal entries: a seq written twice
      // fails the commit.
      {&insert_event_,
       "INSERT INTO events (seq, type, account, data, created_at, checksum) VALUES (?1, ?2, ?3, "
       "?4, ?5, ?6)"},
  };
  for (const item& it : items) {
    auto s = db_.prepare(it.sql);
    if (!s) return std::unexpected(fail(std::string("cannot prepare ") + it.sql, s.error()));
    *it.into = std::move(*s);
  }
  return {};
}

std::expected<void, store_error> sqlite_store::commit(const ledger::change_set& changes) {
  if (auto r = begin_.run(); !r) return std::unexpected(fail("cannot begin", r.error()));
  if (auto r = write(changes); !r) {
    (void)rollback_.run();
    return r;
  }
  if (auto r = commit_.run(); !r) {
    (void)rollback_.run();
    return std::unexpected(fail("commit failed", r.error()));
  }
  return {};
}

std::expected<void, store_error> sqlite_store::commit_batch(
    std::span<const ledger::change_set* const> sets, std::uint64_t log_seq,
    const lot_writes* lots) {
  if (auto r = begin_batch(); !r) return r;
  if (auto r = write_batch_part(sets, lots == nullptr); !r) {
    abort_batch();
    return r;
  }
  return finish_batch(log_seq, lots);
}

std::expected<void, store_error> sqlite_store::begin_batch() {
  CREDITD_ASSERT(!batch_open_);
  if (auto r = begin_.run(); !r) return std::unexpected(fail("cannot begin", r.error()));
  batch_open_ = true;
  batch_counters_ = {};
  return {};
}

void sqlite_store::abort_batch() {
  if (!batch_open_) return;
  (void)rollback_.run();
  batch_open_ = false;
}

std::expected<void, store_error> sqlite_store::write_batch_part(
    std::span<const ledger::change_set* const> sets, bool with_lots) {
  CREDITD_ASSERT(batch_open_);
  return write_coalesced(sets, with_lots);
}

std::expected<void, store_error> sqlite_store::write_batch_lots(std::span<const lot_write> rows) {
  CREDITD_ASSERT(batch_open_);
  for (const lot_write& w : rows) {
    if (auto r = put_lot(*w.lot, w.account); !r) return r;
  }
  return {};
}

std::expected<void, store_error> sqlite_store::finish_batch(std::uint64_t log_seq,
                                                            const lot_writes* lots) {
  CREDITD_ASSERT(batch_open_);
  CREDITD_ASSERT(lots == nullptr || lots->lots_seq <= log_seq);
  const std::uint64_t lots_seq = lots != nullptr ? lots->lots_seq : log_seq;
  bool wrote_lots_mark = false;
  auto written = [&]() -> std::expected<void, store_error> {
    if (lots != nullptr) {
      for (const lot_write& w : lots->rows) {
        if (auto r = put_lot(*w.lot, w.account); !r) return r;
      }
    }
    if (const batch_counters& c = batch_counters_; c.any) {
      if (auto r = put_counters(c.next_object_id, c.next_seq, c.time_seen, c.notices_until); !r)
        return r;
    }
    if (auto r = put_meta(log_applied_key, std::to_string(log_seq)); !r) return r;
    // A file without the row has its lots at the journal's mark.
    if (lots_mark_stored_ ? lots_seq == applied_lots_seq_ : lots_seq == log_seq) return {};
    wrote_lots_mark = true;
    return put_meta(log_lots_key, std::to_string(lots_seq));
  }();
  if (!written) {
    abort_batch();
    return written;
  }
  batch_open_ = false;
  if (auto r = commit_.run(); !r) {
    (void)rollback_.run();
    return std::unexpected(fail("commit failed", r.error()));
  }
  applied_log_seq_ = log_seq;
  if (wrote_lots_mark) lots_mark_stored_ = true;
  applied_lots_seq_ = lots_seq;
  // The WAL's new frames on their way to the disk (the last chunk of them:
  // the rest went as they were written), instead of left dirty for the
  // checkpoint's sync, where every commit of the log would wait behind them
  // (docs/performance.md, "The applier's writes and the log's tail").
  if (sync_deferred_) vfs_->hand_over_pending();
  return checkpoint_if_due();
}

std::expected<void, store_error> sqlite_store::defer_sync_to_log() {
  if (auto r = db_.exec("PRAGMA synchronous=NORMAL"); !r)
    return std::unexpected(fail("cannot set synchronous=NORMAL", r.error()));
  // The store's own checkpoints replace SQLite's automatic ones (the hook
  // replaces the automatic checkpointer, which is a WAL hook itself).
  sqlite3_wal_hook(
      db_.raw(),
      [](void* self, sqlite3*, const char*, int frames) {
        static_cast<sqlite_store*>(self)->wal_frames_ = frames;
        return SQLITE_OK;
      },
      this);
  sync_deferred_ = true;
  // A chunk at a time from now on; paced only once pace_writeback() says
  // when it may wait.
  vfs_->enable(nullptr);
  return make_durable();
}

void sqlite_store::pace_writeback(const std::atomic<bool>* unhurried,
                                  std::chrono::milliseconds checkpoint_spread) {
  if (unhurried == nullptr) {
    checkpoint_spread_ = std::chrono::milliseconds{0};
    if (sync_deferred_) vfs_->enable(nullptr);
    return;
  }
  CREDITD_ASSERT(sync_deferred_);
  if (auto q = db_.prepare("PRAGMA page_size"); q) {
    if (auto row = q->step(); row && *row && q->column_int(0) > 0) page_bytes_ = q->column_int(0);
  }
  checkpoint_spread_ = checkpoint_spread;
  vfs_->enable(unhurried);
}

std::expected<void, store_error> sqlite_store::make_durable() {
  auto done = checkpoint(SQLITE_CHECKPOINT_FULL);
  if (!done) return std::unexpected(done.error());
  if (!*done) {
    return std::unexpected(store_error{"sqlite store " + path_ +
                                       ": a checkpoint could not complete (a reader held the "
                                       "file past the busy timeout)"});
  }
  return {};
}

std::expected<void, store_error> sqlite_store::checkpoint_if_due() {
  if (!sync_deferred_ || wal_frames_ < wal_autocheckpoint_pages_) return {};
  auto done = checkpoint(SQLITE_CHECKPOINT_PASSIVE);
  if (!done) return std::unexpected(done.error());
  return {};  // incomplete (a reader's snapshot): again after the next commit
}

// Whether every frame of the WAL is now in the file, synced: SQLite syncs
// the WAL before it copies frames and the file after a checkpoint that
// copied them all. A concurrent checkpoint (another connection's) is
// SQLITE_BUSY: not complete, not an error.
std::expected<bool, store_error> sqlite_store::checkpoint(int mode) {
  if (checkpoint_spread_.count() > 0) {
    // The WAL's pages (at most) over the spread: what the copy needs to
    // finish in that time.
    const auto bytes = static_cast<std::uint64_t>(std::max(wal_frames_, 0)) *
                       static_cast<std::uint64_t>(page_bytes_);
    vfs_->set_file_rate(bytes * 1000 / static_cast<std::uint64_t>(checkpoint_spread_.count()));
  }
  int log_frames = -1, copied = -1;
  const int rc = sqlite3_wal_checkpoint_v2(db_.raw(), nullptr, mode, &log_frames, &copied);
  if (rc == SQLITE_BUSY) return false;
  if (rc != SQLITE_OK) return std::unexpected(fail("checkpoint failed", db_.last_error()));
  if (log_frames < 0 || copied != log_frames) return false;
  durable_log_seq_ = applied_lots_seq_;
  wal_frames_ = 0;
  return true;
}

std::expected<void, store_error> sqlite_store::probe() {
  if (auto r = begin_.run(); !r) return std::unexpected(fail("cannot begin", r.error()));
  const std::string n = std::to_string(++probes_);
  const cell row[] = {cell::of("probes"), cell::of(n)};
  if (auto r = run_with_checksum(upsert_meta_, "meta", row); !r) {
    (void)rollback_.run();
    return std::unexpected(fail("cannot write meta", r.error()));
  }
  if (auto r = commit_.run(); !r) {
    (void)rollback_.run();
    return std::unexpected(fail("commit failed", r.error()));
  }
  return {};
}

std::expected<void, store_error> sqlite_store::check_db(std::expected<void, db_error> r,
                                                        const char* what) const {
  if (!r) return std::unexpected(fail(what, r.error()));
  return {};
}

// Each row is one list of cells, in its table's column order: bound as the
// statement's parameters and checksummed, the same values.
std::expected<void, store_error> sqlite_store::put_entry(const ledger::entry& e) {
  scratch_.clear();
  encode_parts(scratch_, e.parts);
  const cell row[] = {
      cell::of(static_cast<std::int64_t>(e.seq)),
      cell::of(e.owner->id),
      cell::of(ledger::to_string(e.type)),
      cell::of(e.amount),
      cell::of(e.balance_after),
      cell::of(static_cast<std::int64_t>(e.lot_id)),
      cell::of(static_cast<std::int64_t>(e.charge_id)),
      cell::of(static_cast<std::int64_t>(e.hold_id)),
      cell::of(static_cast<std::int64_t>(e.refund_id)),
      cell::of(scratch_),
      cell::of(e.operation),
      cell::of(e.dimensions),
      cell::of(e.reference),
      cell::of(e.reason),
      cell::of(to_db_time(e.created_at)),
      cell::of(e.quantity),
      cell::of(e.metadata),
      cell::of(e.price_id),
      cell::of(e.unit_amount),
  };
  if (auto r = check_db(run_with_checksum(insert_entry_, "entries", row), "cannot insert entry");
      !r)
    return r;
  return {};
}

std::expected<void, store_error> sqlite_store::put_account(const ledger::account_row& a) {
  scratch_.clear();
  encode_settings(scratch_, a.settings);
  const cell row[] = {
      cell::of(a.id),
      cell::of(a.name),
      cell::of(scratch_),
      cell::of(a.postpaid_used),
      cell::of(a.postpaid_period),
      cell::of(a.created_at),
      cell::of(a.updated_at),
      cell::of(std::int64_t{a.topup.armed ? 1 : 0}),
      cell::of(a.topup.period_start),
      cell::of(a.topup.count),
  };
  if (auto r =
          check_db(run_with_checksum(upsert_account_, "accounts", row), "cannot write account");
      !r)
    return r;
  return {};
}

namespace {

// The cells of put_lot's `lots` row (the view's column order) that each
// table of migration 11 holds, in its statements' parameter order; the id
// is in both. lot_amounts' statements take the whole row's checksum last.
constexpr std::size_t lot_terms_cells[] = {0, 1, 2, 4, 5, 11, 12, 13, 14, 15, 16, 17, 18};
constexpr std::size_t lot_amounts_cells[] = {0, 3, 6, 7, 8, 9, 10};

}  // namespace

std::expected<void, store_error> sqlite_store::put_lot(const ledger::lot& l,
                                                       std::string_view account) {
  std::string scope;
  scope.clear();
  encode_scope(scope, l.scope);
  const cell row[] = {
      cell::of(static_cast<std::int64_t>(l.id)),
      cell::of(account),
      cell::of(ledger::to_string(l.kind)),
      cell::of(ledger::to_string(l.status)),
      cell::of(std::int64_t{l.priority}),
      cell::of(l.amount),
      cell::of(l.remaining),
      cell::of(l.held),
      cell::of(l.spent),
      cell::of(l.expired),
      cell::of(l.voided),
      cell::of(l.effective_at),
      instant_cell(l.expires_at),
      cell::of(l.created_at),
      cell::of(scope),
      cell::of(l.source),
      cell::of(l.reason),
      cell::of(l.cost_basis),
      cell::of(l.currency),
  };
  // Every cell in one of the two tables, the id in both.
  static_assert(std::size(lot_terms_cells) + std::size(lot_amounts_cells) ==
                sizeof(row) / sizeof(row[0]) + 1);
  ++lot_rows_written_;
  // The checksum of the whole row (the `lots` view's), bound with the
  // columns of `lot_amounts`: the update's parameters are the insert's.
  const std::int64_t checksum = row_checksum("lots", row);
  auto bind_cells = [&](statement& s, std::span<const std::size_t> cells) {
    int at = 1;
    for (std::size_t i : cells)
      bind_cell(s, at++, row[i]);
    return at;
  };
  update_lot_.bind(bind_cells(update_lot_, lot_amounts_cells), checksum);
  if (auto r = check_db(update_lot_.run(), "cannot write lot"); !r) return r;
  if (db_.changes() > 0) return {};
  bind_cells(insert_lot_terms_, lot_terms_cells);
  if (auto r = check_db(insert_lot_terms_.run(), "cannot write lot"); !r) return r;
  insert_lot_amounts_.bind(bind_cells(insert_lot_amounts_, lot_amounts_cells), checksum);
  if (auto r = check_db(insert_lot_amounts_.run(), "cannot write lot"); !r) return r;
  return {};
}

std::expected<void, store_error> sqlite_store::put_hold(const ledger::hold& h) {
  scratch_.clear();
  encode_parts(scratch_, h.parts);
  const cell row[] = {
      cell::of(static_cast<std::int64_t>(h.id)),
      cell::of(h.owner->id),
      cell::of(ledger::to_string(h.status)),
      cell::of(h.amount),
      cell::of(h.captured),
      cell::of(scratch_),
      cell::of(h.operation),
      cell::of(h.dimensions),
      cell::of(h.reference),
      cell::of(h.created_at),
      cell::of(h.expires_at),
      cell::of(h.closed_at),
      cell::of(static_cast<std::int64_t>(h.charge_id)),
      cell::of(h.postpaid_period),
      cell::of(h.quantity),
      cell::of(h.metadata),
      cell::of(h.price_id),
      cell::of(h.unit_amount),
  };
  if (auto r = check_db(run_with_checksum(upsert_hold_, "holds", row), "cannot write hold"); !r)
    return r;
  return {};
}

std::expected<void, store_error> sqlite_store::put_charge(const ledger::charge_record& ch) {
  scratch_.clear();
  encode_charge_parts(scratch_, ch.parts);
  const cell row[] = {
      cell::of(static_cast<std::int64_t>(ch.id)),
      cell::of(ch.owner->id),
      cell::of(ch.amount),
      cell::of(ch.refunded),
      cell::of(scratch_),
      cell::of(ch.created_at),
      cell::of(static_cast<std::int64_t>(ch.hold_id)),
      cell::of(ch.postpaid_period),
  };
  if (auto r = check_db(run_with_checksum(upsert_charge_, "charges", row), "cannot write charge");
      !r)
    return r;
  return {};
}

std::expected<void, store_error> sqlite_store::put_idempotency(
    const ledger::idempotency_record& rec) {
  const cell row[] = {
      cell::of(rec.key),  cell::of(rec.fingerprint), cell::of(std::int64_t{rec.status}),
      cell::of(rec.body), cell::of(rec.created_at),
  };
  if (auto r = check_db(run_with_checksum(insert_idempotency_, "idempotency", row),
                        "cannot write idempotency key");
      !r)
    return r;
  return {};
}

std::expected<void, store_error> sqlite_store::put_price(const ledger::price& p) {
  scratch_.clear();
  encode_dimensions(scratch_, p.dimensions);
  const cell row[] = {
      cell::of(p.id),          cell::of(p.operation),  cell::of(scratch_),
      cell::of(p.unit_amount), cell::of(p.created_at), cell::of(p.updated_at),
  };
  if (auto r = check_db(run_with_checksum(upsert_price_, "prices", row), "cannot write price"); !r)
    return r;
  return {};
}

std::expected<void, store_error> sqlite_store::remove_price(std::string_view id) {
  delete_price_.bind_static(1, id);
  if (auto r = check_db(delete_price_.run(), "cannot delete price"); !r) return r;
  return {};
}

std::expected<void, store_error> sqlite_store::put_package(const ledger::package& p) {
  const cell row[] = {
      cell::of(p.id),         cell::of(p.credits),       cell::of(p.price),
      cell::of(p.currency),   cell::of(p.validity_days), cell::of(p.created_at),
      cell::of(p.updated_at),
  };
  if (auto r =
          check_db(run_with_checksum(upsert_package_, "packages", row), "cannot write package");
      !r)
    return r;
  return {};
}

std::expected<void, store_error> sqlite_store::put_plan(const ledger::plan& p) {
  const cell row[] = {
      cell::of(p.id),
      cell::of(p.credits_per_period),
      cell::of(ledger::to_string(p.period)),
      p.rollover_cap ? cell::of(*p.rollover_cap) : cell::null(),
      cell::of(p.created_at),
      cell::of(p.updated_at),
  };
  if (auto r = check_db(run_with_checksum(upsert_plan_, "plans", row), "cannot write plan"); !r)
    return r;
  return {};
}

std::expected<void, store_error> sqlite_store::put_subscription(const ledger::subscription& sub) {
  const cell row[] = {
      cell::of(sub.owner->id),
      cell::of(sub.plan),
      cell::of(sub.next_plan),
      cell::of(sub.timezone),
      cell::of(std::int64_t{sub.anchor.year}),
      cell::of(std::int64_t{sub.anchor.month}),
      cell::of(std::int64_t{sub.anchor.day}),
      cell::of(sub.start_at),
      cell::of(sub.period_index),
      cell::of(sub.period_start),
      instant_cell(sub.period_end),
      cell::of(static_cast<std::int64_t>(sub.lot_id)),
      cell::of(std::int64_t{sub.cancel_at_period_end ? 1 : 0}),
      cell::of(ledger::to_string(sub.status)),
      cell::of(sub.created_at),
      cell::of(sub.updated_at),
  };
  if (auto r = check_db(run_with_checksum(upsert_subscription_, "subscriptions", row),
                        "cannot write subscription");
      !r)
    return r;
  return {};
}

std::expected<void, store_error> sqlite_store::put_purchase(const ledger::purchase& p) {
  const cell row[] = {
      cell::of(static_cast<std::int64_t>(p.id)),
      cell::of(p.account),
      cell::of(p.package),
      cell::of(static_cast<std::int64_t>(p.lot_id)),
      cell::of(p.credits),
      cell::of(p.price),
      cell::of(p.currency),
      cell::of(ledger::to_string(p.source)),
      cell::of(p.external_id),
      cell::of(p.reason),
      cell::of(p.created_at),
  };
  if (auto r = check_db(run_with_checksum(insert_purchase_, "purchases", row),
                        "cannot insert purchase (is it recorded already?)");
      !r)
    return r;
  return {};
}

std::expected<void, store_error> sqlite_store::put_period(const ledger::subscription_period& p) {
  const cell row[] = {
      cell::of(p.account),
      cell::of(p.index),
      cell::of(p.plan),
      cell::of(static_cast<std::int64_t>(p.lot_id)),
      cell::of(p.granted),
      cell::of(p.rolled_over),
      cell::of(static_cast<std::int64_t>(p.rollover_lot_id)),
      cell::of(p.starts_at),
      instant_cell(p.ends_at),
  };
  if (auto r = check_db(run_with_checksum(insert_period_, "subscription_periods", row),
                        "cannot insert subscription period (is it granted already?)");
      !r)
    return r;
  return {};
}

std::expected<void, store_error> sqlite_store::put_event(const ledger::event& ev) {
  const cell row[] = {
      cell::of(static_cast<std::int64_t>(ev.seq)),
      cell::of(ledger::to_string(ev.type)),
      cell::of(ev.owner != nullptr ? std::string_view(ev.owner->id) : std::string_view()),
      cell::of(ev.data),
      cell::of(to_db_time(ev.created_at)),
  };
  return check_db(run_with_checksum(insert_event_, "events", row), "cannot insert event");
}

std::expected<void, store_error> sqlite_store::put_idempotency_of(const ledger::change_set& c) {
  // Expired records go before new ones are written: a key used again after
  // its retention is in both.
  if (c.idempotency_expired_before != 0) {
    expire_idempotency_.bind(1, c.idempotency_expired_before);
    if (auto r = check_db(expire_idempotency_.run(), "cannot expire idempotency keys"); !r)
      return r;
  }
  for (const ledger::idempotency_record& rec : c.idempotency_added) {
    if (auto r = put_idempotency(rec); !r) return r;
  }
  return {};
}

std::expected<void, store_error> sqlite_store::put_meta(std::string_view key,
                                                        const std::string& value) {
  const cell row[] = {cell::of(key), cell::of(value)};
  return check_db(run_with_checksum(upsert_meta_, "meta", row), "cannot write meta");
}

std::expected<void, store_error> sqlite_store::put_counters(std::uint64_t next_object_id,
                                                            std::uint64_t next_seq,
                                                            ledger::time_us time_seen,
                                                            ledger::time_us notices_until) {
  if (auto r = put_meta("next_object_id", std::to_string(next_object_id)); !r) return r;
  if (auto r = put_meta("next_seq", std::to_string(next_seq)); !r) return r;
  if (time_seen != 0) {
    if (auto r = put_meta("time_seen", std::to_string(time_seen)); !r) return r;
  }
  if (notices_until != 0) {
    if (auto r = put_meta(notices_until_key, std::to_string(notices_until)); !r) return r;
  }
  return {};
}

std::expected<void, store_error> sqlite_store::write(const ledger::change_set& c) {
  for (const ledger::entry& e : c.entries) {
    if (auto r = put_entry(e); !r) return r;
  }
  for (const ledger::account_row& a : c.accounts) {
    if (auto r = put_account(a); !r) return r;
  }
  for (const ledger::lot& l : c.lots) {
    if (auto r = put_lot(l, l.owner->id); !r) return r;
  }
  for (const ledger::hold& h : c.holds) {
    if (auto r = put_hold(h); !r) return r;
  }
  for (const ledger::charge_record& ch : c.charges) {
    if (auto r = put_charge(ch); !r) return r;
  }
  // The catalog's upserts in order (the last copy of an id wins), then the
  // deletes: the change set's contract.
  for (const ledger::price& p : c.prices) {
    if (auto r = put_price(p); !r) return r;
  }
  for (const std::string& id : c.prices_deleted) {
    if (auto r = remove_price(id); !r) return r;
  }
  for (const ledger::package& p : c.packages) {
    if (auto r = put_package(p); !r) return r;
  }
  for (const ledger::plan& p : c.plans) {
    if (auto r = put_plan(p); !r) return r;
  }
  for (const ledger::subscription& sub : c.subscriptions) {
    if (auto r = put_subscription(sub); !r) return r;
  }
  for (const ledger::purchase& p : c.purchases) {
    if (auto r = put_purchase(p); !r) return r;
  }
  for (const ledger::subscription_period& p : c.periods) {
    if (auto r = put_period(p); !r) return r;
  }
  for (const ledger::event& ev : c.events) {
    if (auto r = put_event(ev); !r) return r;
  }
  if (auto r = put_idempotency_of(c); !r) return r;
  return put_counters(c.next_object_id, c.next_seq, c.time_seen, c.notices_until);
}

namespace {

// The last copy of each row of `field` among `sets`, in key order: the row
// as committing the sets one by one would leave it. In key order, the
// B-tree's pages are written in order. Rows are gathered in set order and
// sorted (stable: of equal keys the last stays last) unless already in
// order, as new charges and holds are.
template <class T, class KeyOf>
auto last_copies(std::span<const ledger::change_set* const> sets,
                 const std::vector<T> ledger::change_set::*field, KeyOf key_of) {
  using key = decltype(key_of(std::declval<const T&>()));
  std::vector<std::pair<key, const T*>> rows;
  std::size_t n = 0;
  for (const ledger::change_set* set : sets)
    n += (set->*field).size();
  rows.reserve(n);
  for (const ledger::change_set* set : sets) {
    for (const T& row : set->*field)
      rows.emplace_back(key_of(row), &row);
  }
  auto by_key = [](const auto& a, const auto& b) { return a.first < b.first; };
  if (!std::is_sorted(rows.begin(), rows.end(), by_key))
    std::stable_sort(rows.begin(), rows.end(), by_key);
  // Of each run of equal keys, the last.
  std::size_t out = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (i + 1 < rows.size() && rows[i + 1].first == rows[i].first) continue;
    rows[out++] = rows[i];
  }
  rows.resize(out);
  return rows;
}

}  // namespace

std::expected<void, store_error> sqlite_store::write_coalesced(
    std::span<const ledger::change_set* const> sets, bool with_lots) {
  // New rows (the journal, purchases, periods): every one, in order. A
  // second copy of a unique one fails the batch, as it would fail a commit.
  for (const ledger::change_set* set : sets) {
    for (const ledger::entry& e : set->entries) {
      if (auto r = put_entry(e); !r) return r;
    }
  }
  // Upserted rows: the last copy of each, once.
  auto by_id = [](const auto& row) { return row.id; };
  auto by_name = [](const auto& row) { return std::string_view(row.id); };
  for (const auto& [id, a] : last_copies(sets, &ledger::change_set::accounts, by_name)) {
    if (auto r = put_account(*a); !r) return r;
  }
  if (with_lots) {
    for (const auto& [id, l] : last_copies(sets, &ledger::change_set::lots, by_id)) {
      if (auto r = put_lot(*l, l->owner->id); !r) return r;
    }
  }
  for (const auto& [id, h] : last_copies(sets, &ledger::change_set::holds, by_id)) {
    if (auto r = put_hold(*h); !r) return r;
  }
  for (const auto& [id, ch] : last_copies(sets, &ledger::change_set::charges, by_id)) {
    if (auto r = put_charge(*ch); !r) return r;
  }
  {
    // A price's last word, set by set: its upserts, then its deletes.
    std::map<std::string_view, const ledger::price*> last;  // nullptr: deleted
    for (const ledger::change_set* set : sets) {
      for (const ledger::price& p : set->prices)
        last.insert_or_assign(std::string_view(p.id), &p);
      for (const std::string& id : set->prices_deleted)
        last.insert_or_assign(std::string_view(id), nullptr);
    }
    for (const auto& [id, p] : last) {
      if (auto r = p != nullptr ? put_price(*p) : remove_price(id); !r) return r;
    }
  }
  for (const auto& [id, p] : last_copies(sets, &ledger::change_set::packages, by_name)) {
    if (auto r = put_package(*p); !r) return r;
  }
  for (const auto& [id, p] : last_copies(sets, &ledger::change_set::plans, by_name)) {
    if (auto r = put_plan(*p); !r) return r;
  }
  auto by_owner = [](const ledger::subscription& sub) { return std::string_view(sub.owner->id); };
  for (const auto& [account, sub] :
       last_copies(sets, &ledger::change_set::subscriptions, by_owner)) {
    if (auto r = put_subscription(*sub); !r) return r;
  }
  for (const ledger::change_set* set : sets) {
    for (const ledger::purchase& p : set->purchases) {
      if (auto r = put_purchase(p); !r) return r;
    }
    for (const ledger::subscription_period& p : set->periods) {
      if (auto r = put_period(p); !r) return r;
    }
    for (const ledger::event& ev : set->events) {
      if (auto r = put_event(ev); !r) return r;
    }
  }
  // Idempotency records set by set: an expiry by age removes what earlier
  // sets added, and a key may come back after it.
  for (const ledger::change_set* set : sets) {
    if (auto r = put_idempotency_of(*set); !r) return r;
  }
  // The counters of the last set; the latest instant seen, when one moved
  // it (finish_batch writes them, once).
  batch_counters& c = batch_counters_;
  for (const ledger::change_set* set : sets) {
    c.any = true;
    c.next_object_id = set->next_object_id;
    c.next_seq = set->next_seq;
    if (set->time_seen != 0) c.time_seen = set->time_seen;
    c.notices_until = std::max(c.notices_until, set->notices_until);
  }
  return {};
}

std::expected<void, store_error> sqlite_store::load_commerce(ledger::ledger& into) {
  auto corrupt = [&](const std::string& what) {
    return std::unexpected(store_error{"sqlite store " + path_ + " holds an unreadable " + what});
  };
  // A row whose checksum does not match what it holds: refused, naming it.
  auto altered = [&](std::string_view table, const std::string& key, row_verdict v) {
    return std::unexpected(store_error{"sqlite store " + path_ +
                                       " is inconsistent: " + checksum_problem(table, key, v)});
  };
  {
    auto q = db_.prepare(
        "SELECT id, operation, dimensions, unit_amount, created_at, updated_at, checksum FROM "
        "prices");
    if (!q) return std::unexpected(fail("cannot read prices", q.error()));
    while (true) {
      auto row = q->step();
      if (!row) return std::unexpected(fail("cannot read prices", row.error()));
      if (!*row) break;
      const row_verdict v = check_row(*q, "prices", 6);
      const std::string key = key_text("id", column_cell(*q, 0));
      ledger::price p;
      p.id = q->column_text(0);
      auto dims = decode_dimensions(q->column_text(2));
      if (!dims) return corrupt("price (id " + p.id + ")" + also_altered("prices", key, v));
      if (v != row_verdict::intact) return altered("prices", key, v);
      p.operation = q->column_text(1);
      p.dimensions = std::move(*dims);
      p.unit_amount = q->column_int(3);
      p.created_at = q->column_int(4);
      p.updated_at = q->column_int(5);
      into.restore_price(std::move(p));
    }
  }
  {
    auto q = db_.prepare(
        "SELECT id, credits, price, currency, validity_days, created_at, updated_at, checksum "
        "FROM packages");
    if (!q) return std::unexpected(fail("cannot read packages", q.error()));
    while (true) {
      auto row = q->step();
      if (!row) return std::unexpected(fail("cannot read packages", row.error()));
      if (!*row) break;
      const row_verdict v = check_row(*q, "packages", 7);
      if (v != row_verdict::intact)
        return altered("packages", key_text("id", column_cell(*q, 0)), v);
      ledger::package p;
      p.id = q->column_text(0);
      p.credits = q->column_int(1);
      p.price = q->column_int(2);
      p.currency = q->column_text(3);
      p.validity_days = q->column_int(4);
      p.created_at = q->column_int(5);
      p.updated_at = q->column_int(6);
      into.restore_package(std::move(p));
    }
  }
  {
    auto q = db_.prepare(
        "SELECT id, credits_per_period, period, rollover_cap, created_at, updated_at, checksum "
        "FROM plans");
    if (!q) return std::unexpected(fail("cannot read plans", q.error()));
    while (true) {
      auto row = q->step();
      if (!row) return std::unexpected(fail("cannot read plans", row.error()));
      if (!*row) break;
      const row_verdict v = check_row(*q, "plans", 6);
      const std::string key = key_text("id", column_cell(*q, 0));
      ledger::plan p;
      p.id = q->column_text(0);
      auto period = ledger::parse_period_unit(q->column_text(2));
      if (!period) return corrupt("plan (id " + p.id + ")" + also_altered("plans", key, v));
      if (v != row_verdict::intact) return altered("plans", key, v);
      p.credits_per_period = q->column_int(1);
      p.period = *period;
      if (!q->column_null(3)) p.rollover_cap = q->column_int(3);
      p.created_at = q->column_int(4);
      p.updated_at = q->column_int(5);
      into.restore_plan(std::move(p));
    }
  }
  {
    auto q = db_.prepare(
        "SELECT account, plan, next_plan, timezone, anchor_year, anchor_month, anchor_day, "
        "start_at, period_index, period_start, period_end, lot_id, cancel_at_period_end, status, "
        "created_at, updated_at, checksum FROM subscriptions");
    if (!q) return std::unexpected(fail("cannot read subscriptions", q.error()));
    while (true) {
      auto row = q->step();
      if (!row) return std::unexpected(fail("cannot read subscriptions", row.error()));
      if (!*row) break;
      const row_verdict v = check_row(*q, "subscriptions", 16);
      const std::string key = key_text("account", column_cell(*q, 0));
      const std::string account(q->column_text(0));
      ledger::subscription sub;
      sub.plan = q->column_text(1);
      sub.next_plan = q->column_text(2);
      sub.timezone = q->column_text(3);
      auto status = ledger::parse_subscription_status(q->column_text(13));
      const std::int64_t year = q->column_int(4), month = q->column_int(5), day = q->column_int(6);
      const bool anchor_ok = year >= ledger::calendar_year_min &&
                             year <= ledger::calendar_year_max && month >= 1 && month <= 12 &&
                             day >= 1 && day <= 31;
      const ledger::local_date anchor{static_cast<std::int32_t>(year),
                                      static_cast<std::uint8_t>(month),
                                      static_cast<std::uint8_t>(day)};
      // The ledger renews with the plans it names: they must be there.
      if (!status || !anchor_ok || !ledger::is_valid(anchor) ||
          into.find_account(account) == nullptr || into.find_plan(sub.plan) == nullptr ||
          (!sub.next_plan.empty() && into.find_plan(sub.next_plan) == nullptr)) {
        return corrupt("subscription (account " + account + ")" +
                       also_altered("subscriptions", key, v));
      }
      // Renewals ask the calendar for the zone's boundaries.
      if (!into.get_calendar().knows_zone(sub.timezone)) {
        return std::unexpected(store_error{
            "sqlite store " + path_ + ": the subscription of account " + account +
            " is in time zone " + sub.timezone + ", which this server's calendar does not know" +
            also_altered("subscriptions", key, v)});
      }
      if (v != row_verdict::intact) return altered("subscriptions", key, v);
      sub.anchor = anchor;
      sub.start_at = q->column_int(7);
      sub.period_index = q->column_int(8);
      sub.period_start = q->column_int(9);
      sub.period_end = column_instant(*q, 10);
      sub.lot_id = static_cast<ledger::object_id>(q->column_int(11));
      sub.cancel_at_period_end = q->column_int(12) != 0;
      sub.status = *status;
      sub.created_at = q->column_int(14);
      sub.updated_at = q->column_int(15);
      into.restore_subscription(sub, account);
    }
  }
  // Purchases are not read: they grow with history, as the journal. A
  // Stripe event the ledger does not hold is looked up in the file when it
  // comes (journal_reader::external_id_recorded), which checks its row.
  return {};
}

std::expected<void, store_error> sqlite_store::load(ledger::ledger& into, ledger::time_us now) {
  return load_impl(into, now, nullptr);
}

std::expected<void, store_error> sqlite_store::load(ledger::ledger& into, ledger::time_us now,
                                                    std::span<const lot_write> held) {
  return load_impl(into, now, &held);
}

std::expected<void, store_error> sqlite_store::load_impl(ledger::ledger& into, ledger::time_us now,
                                                         const std::span<const lot_write>* held) {
  auto corrupt = [&](const std::string& what) {
    return std::unexpected(store_error{"sqlite store " + path_ + " holds an unreadable " + what});
  };
  // A row whose checksum does not match what it holds: refused, naming it.
  auto altered = [&](std::string_view table, const std::string& key, row_verdict v) {
    return std::unexpected(store_error{"sqlite store " + path_ +
                                       " is inconsistent: " + checksum_problem(table, key, v)});
  };
  std::uint64_t next_object_id = 1, next_seq = 1;
  ledger::time_us time_seen = 0, notices_until = 0;
  std::optional<std::uint64_t> lots_mark;
  {
    auto q = db_.prepare("SELECT key, value, checksum FROM meta");
    if (!q) return std::unexpected(fail("cannot read meta", q.error()));
    while (true) {
      auto row = q->step();
      if (!row) return std::unexpected(fail("cannot read meta", row.error()));
      if (!*row) break;
      const row_verdict verdict = check_row(*q, "meta", 2);
      const std::string key = key_text("key", column_cell(*q, 0));
      if (q->column_text(0) == log_applied_key || q->column_text(0) == log_lots_key) {
        // 0 is a valid mark, and the log's numbers are unsigned.
        auto mark = parse_uint(q->column_text(1));
        if (!mark) return corrupt("meta value (" + key + ")" + also_altered("meta", key, verdict));
        if (verdict != row_verdict::intact) return altered("meta", key, verdict);
        if (q->column_text(0) == log_applied_key) {
          applied_log_seq_ = *mark;
        } else {
          lots_mark = *mark;
        }
        continue;
      }
      auto v = parse_int(q->column_text(1));
      if (!v || *v < 1)
        return corrupt("meta value (" + key + ")" + also_altered("meta", key, verdict));
      if (verdict != row_verdict::intact) return altered("meta", key, verdict);
      if (q->column_text(0) == "next_object_id") next_object_id = static_cast<std::uint64_t>(*v);
      if (q->column_text(0) == "next_seq") next_seq = static_cast<std::uint64_t>(*v);
      if (q->column_text(0) == "time_seen") time_seen = *v;
      if (q->column_text(0) == notices_until_key) notices_until = *v;
    }
  }
  applied_lots_seq_ = lots_mark.value_or(applied_log_seq_);
  lots_mark_stored_ = lots_mark.has_value();
  if (applied_lots_seq_ != applied_log_seq_ && held == nullptr) {
    // A process stopped without writing its lot backlog: the lots of the
    // records after the lots' mark are in the log only.
    return std::unexpected(store_error{
        "sqlite store " + path_ + ": its lot rows lag its journal (lots up to log record " +
        std::to_string(applied_lots_seq_) + ", the journal up to " +
        std::to_string(applied_log_seq_) +
        "); open it through its append-only log, which holds their changes"});
  }
  {
    auto q = db_.prepare(
        "SELECT id, name, settings, postpaid_used, postpaid_period, created_at, "
        "updated_at, topup_armed, topup_period_start, topup_count, checksum FROM accounts");
    if (!q) return std::unexpected(fail("cannot read accounts", q.error()));
    while (true) {
      auto row = q->step();
      if (!row) return std::unexpected(fail("cannot read accounts", row.error()));
      if (!*row) break;
      const row_verdict v = check_row(*q, "accounts", 10);
      const std::string key = key_text("id", column_cell(*q, 0));
      ledger::account_row a;
      a.id = q->column_text(0);
      a.name = q->column_text(1);
      auto settings = decode_settings(q->column_text(2));
      if (!settings)
        return corrupt("account settings (account " + a.id + ")" +
                       also_altered("accounts", key, v));
      if (v != row_verdict::intact) return altered("accounts", key, v);
      a.settings = std::move(*settings);
      a.postpaid_used = q->column_int(3);
      a.postpaid_period = q->column_int(4);
      a.created_at = q->column_int(5);
      a.updated_at = q->column_int(6);
      a.topup.armed = q->column_int(7) != 0;
      a.topup.period_start = q->column_int(8);
      a.topup.count = q->column_int(9);
      into.restore_account(a);
    }
  }
  if (auto r = load_commerce(into); !r) return r;
  {
    // Dead lots (spent, expired or voided, holding nothing) stay in the store.
    // Lots a log holds back (sorted by id) take the place of the file's
    // rows, in id order.
    const std::span<const lot_write> kept = held != nullptr ? *held : std::span<const lot_write>{};
    std::size_t next_kept = 0;
    // Restores the held lots up to `id` (those below it, and `id` itself):
    // whether `id` was one of them.
    auto restore_kept_to = [&](std::uint64_t id) -> std::expected<bool, store_error> {
      bool found = false;
      for (; next_kept < kept.size() && kept[next_kept].lot->id <= id; ++next_kept) {
        const lot_write& k = kept[next_kept];
        found = k.lot->id == id;
        if (k.lot->status != ledger::lot_status::active && k.lot->held == 0) continue;
        if (into.find_account(k.account) == nullptr) {
          return std::unexpected(store_error{
              "sqlite store " + path_ + ": lot " + std::to_string(k.lot->id) +
              " held back by the log is of an unknown account " + std::string(k.account)});
        }
        into.restore_lot(*k.lot, k.account);
      }
      return found;
    };
    auto q =
        db_.prepare(std::string(lot_select) + "WHERE status = 'active' OR held != 0 ORDER BY id");
    if (!q) return std::unexpected(fail("cannot read lots", q.error()));
    while (true) {
      auto row = q->step();
      if (!row) return std::unexpected(fail("cannot read lots", row.error()));
      if (!*row) break;
      const row_verdict v = check_row(*q, "lots", lot_columns);
      const std::string key = key_text("id", column_cell(*q, 0));
      auto lot = decode_lot(*q);
      if (!lot || into.find_account(lot->account) == nullptr) {
        return corrupt("lot (id " + std::to_string(q->column_int(0)) + ")" +
                       also_altered("lots", key, v));
      }
      if (v != row_verdict::intact) return altered("lots", key, v);
      auto replaced = restore_kept_to(lot->l.id);
      if (!replaced) return std::unexpected(replaced.error());
      if (!*replaced) into.restore_lot(lot->l, lot->account);
    }
    if (auto r = restore_kept_to(std::numeric_limits<std::uint64_t>::max()); !r)
      return std::unexpected(r.error());
  }
  {
    // Closed holds stay in the store.
    auto q = db_.prepare(std::string(hold_select) + "WHERE status = 'open'");
    if (!q) return std::unexpected(fail("cannot read holds", q.error()));
    while (true) {
      auto row = q->step();
      if (!row) return std::unexpected(fail("cannot read holds", row.error()));
      if (!*row) break;
      const row_verdict v = check_row(*q, "holds", hold_columns);
      const std::string key = key_text("id", column_cell(*q, 0));
      auto hold = decode_hold(*q);
      if (!hold || into.find_account(hold->account) == nullptr) {
        return corrupt("hold (id " + std::to_string(q->column_int(0)) + ")" +
                       also_altered("holds", key, v));
      }
      if (v != row_verdict::intact) return altered("holds", key, v);
      into.restore_hold(hold->h, hold->account);
    }
  }
  // Charges, closed holds and dead lots (spent, expired or voided, holding
  // nothing) are not loaded: the service reads one from the store when a
  // request needs it, and that read verifies its checksum. The object
  // counter stays beyond their ids (as finish_load() keeps it beyond the
  // loaded ones').
  for (std::string_view table : {"charges", "holds", "lots"}) {
    const std::string what = "cannot read " + std::string(table);
    auto q = db_.prepare("SELECT COALESCE(MAX(id), 0) FROM " + std::string(table));
    if (!q) return std::unexpected(fail(what, q.error()));
    auto row = q->step();
    if (!row || !*row) return std::unexpected(fail(what, db_.last_error()));
    next_object_id = std::max(next_object_id, static_cast<std::uint64_t>(q->column_int(0)) + 1);
  }
  {
    auto q = db_.prepare(
        "SELECT key, fingerprint, status, body, created_at, checksum FROM idempotency "
        "WHERE created_at >= ?1 ORDER BY created_at");
    if (!q) return std::unexpected(fail("cannot read idempotency keys", q.error()));
    q->bind(1, now - ledger::limits::idempotency_retention_seconds * ledger::us_per_second);
    while (true) {
      auto row = q->step();
      if (!row) return std::unexpected(fail("cannot read idempotency keys", row.error()));
      if (!*row) break;
      const row_verdict v = check_row(*q, "idempotency", 5);
      if (v != row_verdict::intact)
        return altered("idempotency", key_text("key", column_cell(*q, 0)), v);
      ledger::idempotency_record rec;
      rec.key = q->column_text(0);
      rec.fingerprint = q->column_text(1);
      rec.status = static_cast<int>(q->column_int(2));
      rec.body = q->column_text(3);
      rec.created_at = q->column_int(4);
      into.restore_idempotency(std::move(rec));
    }
  }
  {
    // The journal's last seq must be below the counter: a torn meta row would
    // otherwise reuse sequence numbers.
    auto q = db_.prepare("SELECT COALESCE(MAX(seq), 0) FROM entries");
    if (!q) return std::unexpected(fail("cannot read entries", q.error()));
    auto row = q->step();
    if (!row || !*row) return std::unexpected(fail("cannot read entries", db_.last_error()));
    const auto last = static_cast<std::uint64_t>(q->column_int(0));
    if (last >= next_seq)
      return corrupt("journal: seq " + std::to_string(last) + " beyond counter");
  }
  std::uint64_t next_event_seq = 1;
  {
    // The events' own counter goes on after the last one stored.
    auto q = db_.prepare("SELECT COALESCE(MAX(seq), 0) FROM events");
    if (!q) return std::unexpected(fail("cannot read events", q.error()));
    auto row = q->step();
    if (!row || !*row) return std::unexpected(fail("cannot read events", db_.last_error()));
    next_event_seq = static_cast<std::uint64_t>(q->column_int(0)) + 1;
  }
  // Tables the load does not read otherwise, small enough to check whole at
  // every start (the journal and the events, which grow with history, are
  // checked by `creditd check`).
  for (std::string_view table : {"subscription_periods"}) {
    const std::string problems = verify_table_checksums(db_, table);
    if (!problems.empty()) {
      return std::unexpected(
          store_error{"sqlite store " + path_ + " is inconsistent: " + problems});
    }
  }
  into.restore_counters(next_object_id, next_seq);
  into.restore_time_seen(time_seen);
  into.restore_event_seq(next_event_seq);
  into.restore_notices_until(notices_until);
  const std::string problem = into.finish_load();
  if (!problem.empty()) {
    return std::unexpected(store_error{"sqlite store " + path_ + " is inconsistent: " + problem});
  }
  return {};
}

}  // namespace creditd::store::sqlite
