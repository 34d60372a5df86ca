#include "store/sqlite/sqlite_store.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <unordered_map>

#include "ledger/limits.hpp"
#include "store/codec.hpp"
#include "store/schema.hpp"

namespace creditd::store::sqlite {

namespace {

std::int64_t to_db_time(ledger::time_us t) {
  return t;
}

// An instant that may be "never" (no_expiry): NULL in the file.
void bind_instant(statement& s, int index, ledger::time_us t) {
  if (t == ledger::no_expiry) {
    s.bind_null(index);
  } else {
    s.bind(index, t);
  }
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
  upsert_lot_ = {};
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
  auto db = database::open(opts.path, /*create=*/true);
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
  if (auto r = s->migrate(); !r) return std::unexpected(r.error());
  if (auto r = s->prepare_statements(); !r) return std::unexpected(r.error());
  return s;
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
    std::string sql = "BEGIN IMMEDIATE;";
    sql += m.sql;
    sql += "INSERT INTO schema_migrations (version, applied_at) VALUES (" +
           std::to_string(m.version) + ", 0); COMMIT;";
    if (auto r = db_.exec(sql.c_str()); !r) {
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
      {&insert_entry_,
       "INSERT INTO entries (seq, account, type, amount, balance_after, lot_id, charge_id, "
       "hold_id, refund_id, parts, operation, dimensions, reference, reason, created_at, "
       "quantity, metadata, price_id, unit_amount) "
       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, "
       "?19)"},
      {&upsert_account_,
       "INSERT INTO accounts (id, name, settings, postpaid_used, postpaid_period, created_at, "
       "updated_at, topup_armed, topup_period_start, topup_count) VALUES (?1, ?2, ?3, ?4, ?5, "
       "?6, ?7, ?8, ?9, ?10) ON CONFLICT (id) DO UPDATE SET "
       "name = excluded.name, settings = excluded.settings, postpaid_used = "
       "excluded.postpaid_used, "
       "postpaid_period = excluded.postpaid_period, updated_at = excluded.updated_at, "
       "topup_armed = excluded.topup_armed, topup_period_start = excluded.topup_period_start, "
       "topup_count = excluded.topup_count"},
      {&upsert_lot_,
       "INSERT INTO lots (id, account, kind, status, priority, amount, remaining, held, spent, "
       "expired, voided, effective_at, expires_at, created_at, scope, source, reason, cost_basis, "
       "currency) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, "
       "?17, ?18, ?19) ON CONFLICT (id) DO UPDATE SET status = excluded.status, "
       "remaining = excluded.remaining, held = excluded.held, spent = excluded.spent, "
       "expired = excluded.expired, voided = excluded.voided"},
      {&upsert_hold_,
       "INSERT INTO holds (id, account, status, amount, captured, parts, operation, dimensions, "
       "reference, created_at, expires_at, closed_at, charge_id, postpaid_period, quantity, "
       "metadata, price_id, unit_amount) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "
       "?12, ?13, ?14, ?15, ?16, ?17, ?18) "
       "ON CONFLICT (id) DO UPDATE SET "
       "status = excluded.status, captured = excluded.captured, closed_at = excluded.closed_at, "
       "charge_id = excluded.charge_id"},
      {&upsert_charge_,
       "INSERT INTO charges (id, account, amount, refunded, parts, created_at, hold_id, "
       "postpaid_period) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (id) DO UPDATE SET "
       "refunded = excluded.refunded, parts = excluded.parts"},
      {&insert_idempotency_,
       // An upsert: a key past its retention may still have a row here (the
       // expiry below removes it first in the same set, but a row must never
       // make a commit fail; the commit is every client's).
       "INSERT INTO idempotency (key, fingerprint, status, body, created_at) VALUES (?1, ?2, ?3, "
       "?4, ?5) ON CONFLICT (key) DO UPDATE SET fingerprint = excluded.fingerprint, status = "
       "excluded.status, body = excluded.body, created_at = excluded.created_at"},
      {&expire_idempotency_, "DELETE FROM idempotency WHERE created_at < ?1"},
      {&upsert_meta_,
       "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = "
       "excluded.value"},
      // The catalog: upserts by id (every field but the id is the ledger's
      // latest), and deletes.
      {&upsert_price_,
       "INSERT INTO prices (id, operation, dimensions, unit_amount, created_at, updated_at) "
       "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (id) DO UPDATE SET operation = "
       "excluded.operation, dimensions = excluded.dimensions, unit_amount = "
       "excluded.unit_amount, created_at = excluded.created_at, updated_at = "
       "excluded.updated_at"},
      {&delete_price_, "DELETE FROM prices WHERE id = ?1"},
      {&upsert_package_,
       "INSERT INTO packages (id, credits, price, currency, validity_days, created_at, "
       "updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (id) DO UPDATE SET credits = "
       "excluded.credits, price = excluded.price, currency = excluded.currency, validity_days = "
       "excluded.validity_days, created_at = excluded.created_at, updated_at = "
       "excluded.updated_at"},
      {&upsert_plan_,
       "INSERT INTO plans (id, credits_per_period, period, rollover_cap, created_at, updated_at) "
       "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (id) DO UPDATE SET credits_per_period = "
       "excluded.credits_per_period, period = excluded.period, rollover_cap = "
       "excluded.rollover_cap, created_at = excluded.created_at, updated_at = "
       "excluded.updated_at"},
      {&upsert_subscription_,
       "INSERT INTO subscriptions (account, plan, next_plan, timezone, anchor_year, "
       "anchor_month, anchor_day, start_at, period_index, period_start, period_end, lot_id, "
       "cancel_at_period_end, status, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
       "?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16) ON CONFLICT (account) DO UPDATE SET "
       "plan = excluded.plan, next_plan = excluded.next_plan, timezone = excluded.timezone, "
       "anchor_year = excluded.anchor_year, anchor_month = excluded.anchor_month, anchor_day = "
       "excluded.anchor_day, start_at = excluded.start_at, period_index = "
       "excluded.period_index, period_start = excluded.period_start, period_end = "
       "excluded.period_end, lot_id = excluded.lot_id, cancel_at_period_end = "
       "excluded.cancel_at_period_end, status = excluded.status, created_at = "
       "excluded.created_at, updated_at = excluded.updated_at"},
      // New rows only, and no ON CONFLICT: a second purchase of an external
      // id, or a second grant of a period, fails the whole commit.
      {&insert_purchase_,
       "INSERT INTO purchases (id, account, package, lot_id, credits, price, currency, source, "
       "external_id, reason, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"},
      {&insert_period_,
       "INSERT INTO subscription_periods (account, period_index, plan, lot_id, granted, "
       "rolled_over, rollover_lot_id, starts_at, ends_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
       "?8, ?9)"},
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

std::expected<void, store_error> sqlite_store::probe() {
  if (auto r = begin_.run(); !r) return std::unexpected(fail("cannot begin", r.error()));
  const std::string n = std::to_string(++probes_);
  upsert_meta_.bind_static(1, "probes");
  upsert_meta_.bind_static(2, n);
  if (auto r = upsert_meta_.run(); !r) {
    (void)rollback_.run();
    return std::unexpected(fail("cannot write meta", r.error()));
  }
  if (auto r = commit_.run(); !r) {
    (void)rollback_.run();
    return std::unexpected(fail("commit failed", r.error()));
  }
  return {};
}

std::expected<void, store_error> sqlite_store::write(const ledger::change_set& c) {
  auto check = [&](std::expected<void, db_error> r,
                   const char* what) -> std::expected<void, store_error> {
    if (!r) return std::unexpected(fail(what, r.error()));
    return {};
  };
  for (const ledger::entry& e : c.entries) {
    statement& s = insert_entry_;
    scratch_.clear();
    encode_parts(scratch_, e.parts);
    s.bind(1, static_cast<std::int64_t>(e.seq));
    s.bind_static(2, e.owner->id);
    s.bind_static(3, ledger::to_string(e.type));
    s.bind(4, e.amount);
    s.bind(5, e.balance_after);
    s.bind(6, static_cast<std::int64_t>(e.lot_id));
    s.bind(7, static_cast<std::int64_t>(e.charge_id));
    s.bind(8, static_cast<std::int64_t>(e.hold_id));
    s.bind(9, static_cast<std::int64_t>(e.refund_id));
    s.bind_static(10, scratch_);
    s.bind_static(11, e.operation);
    s.bind_static(12, e.dimensions);
    s.bind_static(13, e.reference);
    s.bind_static(14, e.reason);
    s.bind(15, to_db_time(e.created_at));
    s.bind(16, e.quantity);
    s.bind_static(17, e.metadata);
    s.bind_static(18, e.price_id);
    s.bind(19, e.unit_amount);
    if (auto r = check(s.run(), "cannot insert entry"); !r) return r;
  }
  for (const ledger::account_row& a : c.accounts) {
    statement& s = upsert_account_;
    scratch_.clear();
    encode_settings(scratch_, a.settings);
    s.bind_static(1, a.id);
    s.bind_static(2, a.name);
    s.bind_static(3, scratch_);
    s.bind(4, a.postpaid_used);
    s.bind(5, a.postpaid_period);
    s.bind(6, a.created_at);
    s.bind(7, a.updated_at);
    s.bind(8, a.topup.armed ? 1 : 0);
    s.bind(9, a.topup.period_start);
    s.bind(10, a.topup.count);
    if (auto r = check(s.run(), "cannot write account"); !r) return r;
  }
  std::string scope;
  for (const ledger::lot& l : c.lots) {
    statement& s = upsert_lot_;
    scope.clear();
    encode_scope(scope, l.scope);
    s.bind(1, static_cast<std::int64_t>(l.id));
    s.bind_static(2, l.owner->id);
    s.bind_static(3, ledger::to_string(l.kind));
    s.bind_static(4, ledger::to_string(l.status));
    s.bind(5, l.priority);
    s.bind(6, l.amount);
    s.bind(7, l.remaining);
    s.bind(8, l.held);
    s.bind(9, l.spent);
    s.bind(10, l.expired);
    s.bind(11, l.voided);
    s.bind(12, l.effective_at);
    if (l.expires_at == ledger::no_expiry) {
      s.bind_null(13);
    } else {
      s.bind(13, l.expires_at);
    }
    s.bind(14, l.created_at);
    s.bind_static(15, scope);
    s.bind_static(16, l.source);
    s.bind_static(17, l.reason);
    s.bind(18, l.cost_basis);
    s.bind_static(19, l.currency);
    if (auto r = check(s.run(), "cannot write lot"); !r) return r;
  }
  for (const ledger::hold& h : c.holds) {
    statement& s = upsert_hold_;
    scratch_.clear();
    encode_parts(scratch_, h.parts);
    s.bind(1, static_cast<std::int64_t>(h.id));
    s.bind_static(2, h.owner->id);
    s.bind_static(3, ledger::to_string(h.status));
    s.bind(4, h.amount);
    s.bind(5, h.captured);
    s.bind_static(6, scratch_);
    s.bind_static(7, h.operation);
    s.bind_static(8, h.dimensions);
    s.bind_static(9, h.reference);
    s.bind(10, h.created_at);
    s.bind(11, h.expires_at);
    s.bind(12, h.closed_at);
    s.bind(13, static_cast<std::int64_t>(h.charge_id));
    s.bind(14, h.postpaid_period);
    s.bind(15, h.quantity);
    s.bind_static(16, h.metadata);
    s.bind_static(17, h.price_id);
    s.bind(18, h.unit_amount);
    if (auto r = check(s.run(), "cannot write hold"); !r) return r;
  }
  for (const ledger::charge_record& ch : c.charges) {
    statement& s = upsert_charge_;
    scratch_.clear();
    encode_charge_parts(scratch_, ch.parts);
    s.bind(1, static_cast<std::int64_t>(ch.id));
    s.bind_static(2, ch.owner->id);
    s.bind(3, ch.amount);
    s.bind(4, ch.refunded);
    s.bind_static(5, scratch_);
    s.bind(6, ch.created_at);
    s.bind(7, static_cast<std::int64_t>(ch.hold_id));
    s.bind(8, ch.postpaid_period);
    if (auto r = check(s.run(), "cannot write charge"); !r) return r;
  }
  if (auto r = write_commerce(c); !r) return r;
  // Expired records go before new ones are written: a key used again after
  // its retention is in both.
  if (c.idempotency_expired_before != 0) {
    expire_idempotency_.bind(1, c.idempotency_expired_before);
    if (auto r = check(expire_idempotency_.run(), "cannot expire idempotency keys"); !r) return r;
  }
  for (const ledger::idempotency_record& rec : c.idempotency_added) {
    statement& s = insert_idempotency_;
    s.bind_static(1, rec.key);
    s.bind_static(2, rec.fingerprint);
    s.bind(3, rec.status);
    s.bind_static(4, rec.body);
    s.bind(5, rec.created_at);
    if (auto r = check(s.run(), "cannot write idempotency key"); !r) return r;
  }
  const std::string next_id = std::to_string(c.next_object_id);
  const std::string next_seq = std::to_string(c.next_seq);
  upsert_meta_.bind_static(1, "next_object_id");
  upsert_meta_.bind_static(2, next_id);
  if (auto r = check(upsert_meta_.run(), "cannot write meta"); !r) return r;
  upsert_meta_.bind_static(1, "next_seq");
  upsert_meta_.bind_static(2, next_seq);
  if (auto r = check(upsert_meta_.run(), "cannot write meta"); !r) return r;
  if (c.time_seen != 0) {
    const std::string time_seen = std::to_string(c.time_seen);
    upsert_meta_.bind_static(1, "time_seen");
    upsert_meta_.bind_static(2, time_seen);
    if (auto r = check(upsert_meta_.run(), "cannot write meta"); !r) return r;
  }
  return {};
}

std::expected<void, store_error> sqlite_store::write_commerce(const ledger::change_set& c) {
  auto check = [&](std::expected<void, db_error> r,
                   const char* what) -> std::expected<void, store_error> {
    if (!r) return std::unexpected(fail(what, r.error()));
    return {};
  };
  // Upserts in order (the last copy of an id wins), then the deletes: the
  // change set's contract.
  for (const ledger::price& p : c.prices) {
    statement& s = upsert_price_;
    scratch_.clear();
    encode_dimensions(scratch_, p.dimensions);
    s.bind_static(1, p.id);
    s.bind_static(2, p.operation);
    s.bind_static(3, scratch_);
    s.bind(4, p.unit_amount);
    s.bind(5, p.created_at);
    s.bind(6, p.updated_at);
    if (auto r = check(s.run(), "cannot write price"); !r) return r;
  }
  for (const std::string& id : c.prices_deleted) {
    delete_price_.bind_static(1, id);
    if (auto r = check(delete_price_.run(), "cannot delete price"); !r) return r;
  }
  for (const ledger::package& p : c.packages) {
    statement& s = upsert_package_;
    s.bind_static(1, p.id);
    s.bind(2, p.credits);
    s.bind(3, p.price);
    s.bind_static(4, p.currency);
    s.bind(5, p.validity_days);
    s.bind(6, p.created_at);
    s.bind(7, p.updated_at);
    if (auto r = check(s.run(), "cannot write package"); !r) return r;
  }
  for (const ledger::plan& p : c.plans) {
    statement& s = upsert_plan_;
    s.bind_static(1, p.id);
    s.bind(2, p.credits_per_period);
    s.bind_static(3, ledger::to_string(p.period));
    if (p.rollover_cap) {
      s.bind(4, *p.rollover_cap);
    } else {
      s.bind_null(4);
    }
    s.bind(5, p.created_at);
    s.bind(6, p.updated_at);
    if (auto r = check(s.run(), "cannot write plan"); !r) return r;
  }
  for (const ledger::subscription& sub : c.subscriptions) {
    statement& s = upsert_subscription_;
    s.bind_static(1, sub.owner->id);
    s.bind_static(2, sub.plan);
    s.bind_static(3, sub.next_plan);
    s.bind_static(4, sub.timezone);
    s.bind(5, sub.anchor.year);
    s.bind(6, sub.anchor.month);
    s.bind(7, sub.anchor.day);
    s.bind(8, sub.start_at);
    s.bind(9, sub.period_index);
    s.bind(10, sub.period_start);
    bind_instant(s, 11, sub.period_end);
    s.bind(12, static_cast<std::int64_t>(sub.lot_id));
    s.bind(13, sub.cancel_at_period_end ? 1 : 0);
    s.bind_static(14, ledger::to_string(sub.status));
    s.bind(15, sub.created_at);
    s.bind(16, sub.updated_at);
    if (auto r = check(s.run(), "cannot write subscription"); !r) return r;
  }
  for (const ledger::purchase& p : c.purchases) {
    statement& s = insert_purchase_;
    s.bind(1, static_cast<std::int64_t>(p.id));
    s.bind_static(2, p.account);
    s.bind_static(3, p.package);
    s.bind(4, static_cast<std::int64_t>(p.lot_id));
    s.bind(5, p.credits);
    s.bind(6, p.price);
    s.bind_static(7, p.currency);
    s.bind_static(8, ledger::to_string(p.source));
    s.bind_static(9, p.external_id);
    s.bind_static(10, p.reason);
    s.bind(11, p.created_at);
    if (auto r = check(s.run(), "cannot insert purchase (is it recorded already?)"); !r) return r;
  }
  for (const ledger::subscription_period& p : c.periods) {
    statement& s = insert_period_;
    s.bind_static(1, p.account);
    s.bind(2, p.index);
    s.bind_static(3, p.plan);
    s.bind(4, static_cast<std::int64_t>(p.lot_id));
    s.bind(5, p.granted);
    s.bind(6, p.rolled_over);
    s.bind(7, static_cast<std::int64_t>(p.rollover_lot_id));
    s.bind(8, p.starts_at);
    bind_instant(s, 9, p.ends_at);
    if (auto r = check(s.run(), "cannot insert subscription period (is it granted already?)"); !r)
      return r;
  }
  return {};
}

std::expected<void, store_error> sqlite_store::load_commerce(ledger::ledger& into) {
  auto corrupt = [&](const std::string& what) {
    return std::unexpected(store_error{"sqlite store " + path_ + " holds an unreadable " + what});
  };
  {
    auto q = db_.prepare(
        "SELECT id, operation, dimensions, unit_amount, created_at, updated_at FROM prices");
    if (!q) return std::unexpected(fail("cannot read prices", q.error()));
    while (true) {
      auto row = q->step();
      if (!row) return std::unexpected(fail("cannot read prices", row.error()));
      if (!*row) break;
      ledger::price p;
      p.id = q->column_text(0);
      auto dims = decode_dimensions(q->column_text(2));
      if (!dims) return corrupt("price (id " + p.id + ")");
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
        "SELECT id, credits, price, currency, validity_days, created_at, updated_at FROM "
        "packages");
    if (!q) return std::unexpected(fail("cannot read packages", q.error()));
    while (true) {
      auto row = q->step();
      if (!row) return std::unexpected(fail("cannot read packages", row.error()));
      if (!*row) break;
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
        "SELECT id, credits_per_period, period, rollover_cap, created_at, updated_at FROM plans");
    if (!q) return std::unexpected(fail("cannot read plans", q.error()));
    while (true) {
      auto row = q->step();
      if (!row) return std::unexpected(fail("cannot read plans", row.error()));
      if (!*row) break;
      ledger::plan p;
      p.id = q->column_text(0);
      auto period = ledger::parse_period_unit(q->column_text(2));
      if (!period) return corrupt("plan (id " + p.id + ")");
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
        "created_at, updated_at FROM subscriptions");
    if (!q) return std::unexpected(fail("cannot read subscriptions", q.error()));
    while (true) {
      auto row = q->step();
      if (!row) return std::unexpected(fail("cannot read subscriptions", row.error()));
      if (!*row) break;
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
        return corrupt("subscription (account " + account + ")");
      }
      // Renewals ask the calendar for the zone's boundaries.
      if (!into.get_calendar().knows_zone(sub.timezone)) {
        return std::unexpected(store_error{
            "sqlite store " + path_ + ": the subscription of account " + account +
            " is in time zone " + sub.timezone + ", which this server's calendar does not know"});
      }
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
  {
    // Every Stripe event ever bought: a replay is recognised for as long as
    // the store lives (the partial unique index serves this scan).
    auto q = db_.prepare("SELECT external_id FROM purchases WHERE external_id <> ''");
    if (!q) return std::unexpected(fail("cannot read purchases", q.error()));
    while (true) {
      auto row = q->step();
      if (!row) return std::unexpected(fail("cannot read purchases", row.error()));
      if (!*row) break;
      into.restore_external_id(std::string(q->column_text(0)));
    }
  }
  return {};
}

std::expected<void, store_error> sqlite_store::load(ledger::ledger& into, ledger::time_us now) {
  auto corrupt = [&](const std::string& what) {
    return std::unexpected(store_error{"sqlite store " + path_ + " holds an unreadable " + what});
  };
  std::uint64_t next_object_id = 1, next_seq = 1;
  ledger::time_us time_seen = 0;
  {
    auto q = db_.prepare("SELECT key, value FROM meta");
    if (!q) return std::unexpected(fail("cannot read meta", q.error()));
    while (true) {
      auto row = q->step();
      if (!row) return std::unexpected(fail("cannot read meta", row.error()));
      if (!*row) break;
      auto v = parse_int(q->column_text(1));
      if (!v || *v < 1) return corrupt("meta value");
      if (q->column_text(0) == "next_object_id") next_object_id = static_cast<std::uint64_t>(*v);
      if (q->column_text(0) == "next_seq") next_seq = static_cast<std::uint64_t>(*v);
      if (q->column_text(0) == "time_seen") time_seen = *v;
    }
  }
  {
    auto q = db_.prepare(
        "SELECT id, name, settings, postpaid_used, postpaid_period, created_at, "
        "updated_at, topup_armed, topup_period_start, topup_count FROM accounts");
    if (!q) return std::unexpected(fail("cannot read accounts", q.error()));
    while (true) {
      auto row = q->step();
      if (!row) return std::unexpected(fail("cannot read accounts", row.error()));
      if (!*row) break;
      ledger::account_row a;
      a.id = q->column_text(0);
      a.name = q->column_text(1);
      auto settings = decode_settings(q->column_text(2));
      if (!settings) return corrupt("account settings (account " + a.id + ")");
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
    auto q = db_.prepare(
        "SELECT id, account, kind, status, priority, amount, remaining, held, spent, "
        "expired, voided, effective_at, expires_at, created_at, scope, source, "
        "reason, cost_basis, currency FROM lots ORDER BY id");
    if (!q) return std::unexpected(fail("cannot read lots", q.error()));
    while (true) {
      auto row = q->step();
      if (!row) return std::unexpected(fail("cannot read lots", row.error()));
      if (!*row) break;
      ledger::lot l;
      l.id = static_cast<ledger::object_id>(q->column_int(0));
      const std::string account(q->column_text(1));
      auto kind = ledger::parse_lot_kind(q->column_text(2));
      auto status = ledger::parse_lot_status(q->column_text(3));
      auto scope = decode_scope(q->column_text(14));
      if (!kind || !status || !scope || into.find_account(account) == nullptr) {
        return corrupt("lot (id " + std::to_string(l.id) + ")");
      }
      l.kind = *kind;
      l.status = *status;
      l.priority = static_cast<std::int32_t>(q->column_int(4));
      l.amount = q->column_int(5);
      l.remaining = q->column_int(6);
      l.held = q->column_int(7);
      l.spent = q->column_int(8);
      l.expired = q->column_int(9);
      l.voided = q->column_int(10);
      l.effective_at = q->column_int(11);
      l.expires_at = q->column_null(12) ? ledger::no_expiry : q->column_int(12);
      l.created_at = q->column_int(13);
      l.scope = std::move(*scope);
      l.source = q->column_text(15);
      l.reason = q->column_text(16);
      l.cost_basis = q->column_int(17);
      l.currency = q->column_text(18);
      into.restore_lot(l, account);
    }
  }
  {
    auto q = db_.prepare(
        "SELECT id, account, status, amount, captured, parts, operation, "
        "dimensions, reference, created_at, expires_at, closed_at, charge_id, "
        "postpaid_period, quantity, metadata, price_id, unit_amount FROM holds");
    if (!q) return std::unexpected(fail("cannot read holds", q.error()));
    while (true) {
      auto row = q->step();
      if (!row) return std::unexpected(fail("cannot read holds", row.error()));
      if (!*row) break;
      ledger::hold h;
      h.id = static_cast<ledger::object_id>(q->column_int(0));
      const std::string account(q->column_text(1));
      auto status = ledger::parse_hold_status(q->column_text(2));
      auto parts = decode_parts(q->column_text(5));
      if (!status || !parts || into.find_account(account) == nullptr) {
        return corrupt("hold (id " + std::to_string(h.id) + ")");
      }
      h.status = *status;
      h.amount = q->column_int(3);
      h.captured = q->column_int(4);
      h.parts = std::move(*parts);
      h.operation = q->column_text(6);
      h.dimensions = q->column_text(7);
      h.reference = q->column_text(8);
      h.created_at = q->column_int(9);
      h.expires_at = q->column_int(10);
      h.closed_at = q->column_int(11);
      h.charge_id = static_cast<ledger::object_id>(q->column_int(12));
      h.postpaid_period = q->column_int(13);
      h.quantity = q->column_int(14);
      h.metadata = q->column_text(15);
      h.price_id = q->column_text(16);
      h.unit_amount = q->column_int(17);
      into.restore_hold(h, account);
    }
  }
  {
    auto q = db_.prepare(
        "SELECT id, account, amount, refunded, parts, created_at, hold_id, "
        "postpaid_period FROM charges");
    if (!q) return std::unexpected(fail("cannot read charges", q.error()));
    while (true) {
      auto row = q->step();
      if (!row) return std::unexpected(fail("cannot read charges", row.error()));
      if (!*row) break;
      ledger::charge_record c;
      c.id = static_cast<ledger::object_id>(q->column_int(0));
      const std::string account(q->column_text(1));
      auto parts = decode_charge_parts(q->column_text(4));
      if (!parts || into.find_account(account) == nullptr) {
        return corrupt("charge (id " + std::to_string(c.id) + ")");
      }
      c.amount = q->column_int(2);
      c.refunded = q->column_int(3);
      c.parts = std::move(*parts);
      c.created_at = q->column_int(5);
      c.hold_id = static_cast<ledger::object_id>(q->column_int(6));
      c.postpaid_period = q->column_int(7);
      into.restore_charge(c, account);
    }
  }
  {
    auto q = db_.prepare(
        "SELECT key, fingerprint, status, body, created_at FROM idempotency "
        "WHERE created_at >= ?1 ORDER BY created_at");
    if (!q) return std::unexpected(fail("cannot read idempotency keys", q.error()));
    q->bind(1, now - ledger::limits::idempotency_retention_seconds * ledger::us_per_second);
    while (true) {
      auto row = q->step();
      if (!row) return std::unexpected(fail("cannot read idempotency keys", row.error()));
      if (!*row) break;
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
  into.restore_counters(next_object_id, next_seq);
  into.restore_time_seen(time_seen);
  const std::string problem = into.finish_load();
  if (!problem.empty()) {
    return std::unexpected(store_error{"sqlite store " + path_ + " is inconsistent: " + problem});
  }
  return {};
}

}  // namespace creditd::store::sqlite
