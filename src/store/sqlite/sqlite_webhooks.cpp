#include "store/sqlite/sqlite_webhooks.hpp"

#include <algorithm>

#include "store/sqlite/sqlite_checksum.hpp"
#include "util/assert.hpp"

namespace creditd::store::sqlite {

namespace {
// How long a write waits for the file's write lock before it fails.
constexpr std::chrono::milliseconds busy_timeout{10'000};
}  // namespace

namespace {

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& i : items)
    out += (out.empty() ? "" : ",") + i;
  return out;
}

std::vector<std::string> split(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    const std::size_t comma = text.find(',');
    out.emplace_back(text.substr(0, comma));
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

}  // namespace

std::expected<std::unique_ptr<sqlite_webhooks>, std::string> sqlite_webhooks::open(
    const std::string& path) {
  auto db = database::open(path, false);
  if (!db) return std::unexpected("cannot open " + path + ": " + db.error().message);
  auto w = std::make_unique<sqlite_webhooks>();
  w->db_ = std::move(*db);
  w->path_ = path;
  if (auto r = w->db_.exec("PRAGMA synchronous=FULL;"); !r)
    return std::unexpected(r.error().message);
  w->db_.set_busy_wait(busy_timeout, nullptr);
  return w;
}

void sqlite_webhooks::on_busy(std::function<void()> f) {
  std::lock_guard lock(mu_);
  db_.set_busy_wait(busy_timeout, std::move(f));
}

std::expected<std::vector<webhooks::endpoint>, std::string> sqlite_webhooks::load_all() {
  std::lock_guard lock(mu_);
  auto q = db_.prepare(
      "SELECT id, url, events, secret, enabled, created_at, updated_at, cursor_seq, attempt, "
      "next_attempt_at, failing_since, disabled_at, disabled_reason, checksum FROM "
      "webhook_endpoints ORDER BY id");
  if (!q) return std::unexpected(q.error().message);
  std::vector<webhooks::endpoint> out;
  while (true) {
    auto row = q->step();
    if (!row) return std::unexpected(row.error().message);
    if (!*row) break;
    if (const row_verdict v = check_row(*q, "webhook_endpoints", 13); v != row_verdict::intact) {
      return std::unexpected(
          "sqlite store " + path_ + " is inconsistent: " +
          checksum_problem("webhook_endpoints", key_text("id", column_cell(*q, 0)), v));
    }
    webhooks::endpoint e;
    e.id = q->column_text(0);
    e.url = q->column_text(1);
    e.events = split(q->column_text(2));
    e.secret = q->column_text(3);
    e.enabled = q->column_int(4) != 0;
    e.created_at = q->column_int(5);
    e.updated_at = q->column_int(6);
    e.cursor = static_cast<std::uint64_t>(q->column_int(7));
    e.attempt = q->column_int(8);
    e.next_attempt_at = q->column_int(9);
    e.failing_since = q->column_int(10);
    e.disabled_at = q->column_int(11);
    e.disabled_reason = q->column_text(12);
    out.push_back(std::move(e));
  }
  return out;
}

std::expected<statement*, db_error> sqlite_webhooks::cached(const char* sql) {
  auto it = statements_.find(sql);
  if (it == statements_.end()) {
    auto q = db_.prepare(sql);
    if (!q) return std::unexpected(q.error());
    it = statements_.emplace(sql, std::move(*q)).first;
  }
  it->second.reset();
  return &it->second;
}

std::expected<void, db_error> sqlite_webhooks::set_synced(bool full) {
  if (full == synced_full_) return {};
  if (auto r = db_.exec(full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL"); !r)
    return r;
  synced_full_ = full;
  return {};
}

std::expected<void, db_error> sqlite_webhooks::write_endpoint(const webhooks::endpoint& e) {
  auto q = cached(
      "INSERT INTO webhook_endpoints (id, url, events, secret, enabled, created_at, updated_at, "
      "cursor_seq, attempt, next_attempt_at, failing_since, disabled_at, disabled_reason, "
      "checksum) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) ON CONFLICT "
      "(id) DO UPDATE SET url = excluded.url, events = excluded.events, secret = "
      "excluded.secret, enabled = excluded.enabled, created_at = excluded.created_at, "
      "updated_at = excluded.updated_at, cursor_seq = excluded.cursor_seq, attempt = "
      "excluded.attempt, next_attempt_at = excluded.next_attempt_at, failing_since = "
      "excluded.failing_since, disabled_at = excluded.disabled_at, disabled_reason = "
      "excluded.disabled_reason, checksum = excluded.checksum");
  if (!q) return std::unexpected(q.error());
  const std::string events = join(e.events);
  const cell cells[] = {cell::of(e.id),
                        cell::of(e.url),
                        cell::of(events),
                        cell::of(e.secret),
                        cell::of(std::int64_t{e.enabled ? 1 : 0}),
                        cell::of(e.created_at),
                        cell::of(e.updated_at),
                        cell::of(static_cast<std::int64_t>(e.cursor)),
                        cell::of(e.attempt),
                        cell::of(e.next_attempt_at),
                        cell::of(e.failing_since),
                        cell::of(e.disabled_at),
                        cell::of(e.disabled_reason)};
  return run_with_checksum(**q, "webhook_endpoints", cells);
}

std::expected<void, std::string> sqlite_webhooks::upsert(const webhooks::endpoint& e) {
  std::lock_guard lock(mu_);
  if (auto r = set_synced(true); !r) return std::unexpected(r.error().message);
  if (auto r = write_endpoint(e); !r) return std::unexpected(r.error().message);
  return {};
}

std::expected<void, std::string> sqlite_webhooks::remove(const std::string& id) {
  std::lock_guard lock(mu_);
  if (auto r = set_synced(true); !r) return std::unexpected(r.error().message);
  if (auto r = db_.exec("BEGIN IMMEDIATE"); !r) return std::unexpected(r.error().message);
  auto fail = [&](const db_error& e) {
    (void)db_.exec("ROLLBACK");
    return std::unexpected(e.message);
  };
  for (const char* sql : {"DELETE FROM webhook_endpoints WHERE id = ?1",
                          "DELETE FROM webhook_deliveries WHERE endpoint = ?1"}) {
    auto q = db_.prepare(sql);
    if (!q) return fail(q.error());
    q->bind(1, std::string_view(id));
    if (auto r = q->run(); !r) return fail(r.error());
  }
  if (auto r = db_.exec("COMMIT"); !r) return fail(r.error());
  unpruned_.erase(id);
  return {};
}

std::expected<void, std::string> sqlite_webhooks::record_attempts(
    const webhooks::endpoint& e, std::span<const webhooks::delivery> ds) {
  CREDITD_ASSERT(ds.size() <= webhooks::deliveries_kept_max);
  std::lock_guard lock(mu_);
  // Synced only when it disables the endpoint (see the header).
  if (auto r = set_synced(!e.enabled); !r) return std::unexpected(r.error().message);
  if (auto r = db_.exec("BEGIN IMMEDIATE"); !r) return std::unexpected(r.error().message);
  auto fail = [&](const db_error& err) {
    (void)db_.exec("ROLLBACK");
    next_delivery_id_ = 0;  // read again
    unpruned_.erase(e.id);  // pruned at the next record
    return std::unexpected(err.message);
  };
  if (auto r = write_endpoint(e); !r) return fail(r.error());
  if (next_delivery_id_ == 0) {
    auto q = cached("SELECT COALESCE(MAX(id), 0) + 1 FROM webhook_deliveries");
    if (!q) return fail(q.error());
    auto row = (*q)->step();
    if (!row) return fail(row.error());
    next_delivery_id_ = (*q)->column_int(0);
    (*q)->reset();
  }
  std::int64_t id = next_delivery_id_;
  {
    auto q = cached(
        "INSERT INTO webhook_deliveries (id, endpoint, seq, attempt, status, error, latency_ms, "
        "at, next_retry_at, checksum) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
    if (!q) return fail(q.error());
    for (const webhooks::delivery& d : ds) {
      const cell cells[] = {
          cell::of(id++),         cell::of(d.endpoint), cell::of(static_cast<std::int64_t>(d.seq)),
          cell::of(d.attempt),    cell::of(d.status),   cell::of(d.error),
          cell::of(d.latency_ms), cell::of(d.at),       cell::of(d.next_retry_at)};
      if (auto r = run_with_checksum(**q, "webhook_deliveries", cells); !r) return fail(r.error());
    }
  }
  // The endpoint's last deliveries_kept_max attempts stay: the older ones
  // go every prune_every attempts (and at the endpoint's first record since
  // the open), not at each record.
  auto [unpruned, first] = unpruned_.try_emplace(e.id, 0);
  unpruned->second += ds.size();
  if (first || unpruned->second >= prune_every) {
    auto q = cached(
        "DELETE FROM webhook_deliveries WHERE endpoint = ?1 AND id <= (SELECT id FROM "
        "webhook_deliveries WHERE endpoint = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)");
    if (!q) return fail(q.error());
    (*q)->bind(1, std::string_view(e.id));
    (*q)->bind(2, static_cast<std::int64_t>(webhooks::deliveries_kept_max));
    if (auto r = (*q)->run(); !r) return fail(r.error());
    unpruned->second = 0;
  }
  if (auto r = db_.exec("COMMIT"); !r) return fail(r.error());
  next_delivery_id_ = id;
  return {};
}

std::expected<std::vector<webhooks::delivery>, std::string> sqlite_webhooks::deliveries(
    const std::string& id, std::size_t limit) {
  std::lock_guard lock(mu_);
  auto q = db_.prepare(
      "SELECT id, endpoint, seq, attempt, status, error, latency_ms, at, next_retry_at, checksum "
      "FROM webhook_deliveries WHERE endpoint = ?1 ORDER BY id DESC LIMIT ?2");
  if (!q) return std::unexpected(q.error().message);
  q->bind(1, std::string_view(id));
  // The older ones wait for their prune.
  q->bind(2, static_cast<std::int64_t>(std::min(limit, webhooks::deliveries_kept_max)));
  std::vector<webhooks::delivery> out;
  while (true) {
    auto row = q->step();
    if (!row) return std::unexpected(row.error().message);
    if (!*row) break;
    if (const row_verdict v = check_row(*q, "webhook_deliveries", 9); v != row_verdict::intact) {
      return std::unexpected(
          "sqlite store " + path_ + " is inconsistent: " +
          checksum_problem("webhook_deliveries", key_text("id", column_cell(*q, 0)), v));
    }
    webhooks::delivery d;
    d.id = q->column_int(0);
    d.endpoint = q->column_text(1);
    d.seq = static_cast<std::uint64_t>(q->column_int(2));
    d.attempt = q->column_int(3);
    d.status = q->column_int(4);
    d.error = q->column_text(5);
    d.latency_ms = q->column_int(6);
    d.at = q->column_int(7);
    d.next_retry_at = q->column_int(8);
    out.push_back(std::move(d));
  }
  return out;
}

std::expected<std::uint64_t, std::string> sqlite_webhooks::last_event_seq() {
  std::lock_guard lock(mu_);
  auto q = db_.prepare("SELECT COALESCE(MAX(seq), 0) FROM events");
  if (!q) return std::unexpected(q.error().message);
  auto row = q->step();
  if (!row) return std::unexpected(row.error().message);
  return static_cast<std::uint64_t>(q->column_int(0));
}

}  // namespace creditd::store::sqlite
