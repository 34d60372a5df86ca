#include "store/sqlite/sqlite_keys.hpp"

namespace creditd::store::sqlite {

std::expected<std::unique_ptr<sqlite_keys>, std::string> sqlite_keys::open(
    const std::string& path) {
  auto db = database::open(path, false);
  if (!db) return std::unexpected("cannot open " + path + ": " + db.error().message);
  auto k = std::make_unique<sqlite_keys>();
  k->db_ = std::move(*db);
  if (auto r = k->db_.exec("PRAGMA synchronous=FULL; PRAGMA busy_timeout=10000;"); !r) {
    return std::unexpected(r.error().message);
  }
  return k;
}

std::expected<std::vector<auth::key_row>, std::string> sqlite_keys::load_all() {
  std::lock_guard lock(mu_);
  auto q = db_.prepare("SELECT id, hash, role, account, created_at, revoked_at FROM api_keys");
  if (!q) return std::unexpected(q.error().message);
  std::vector<auth::key_row> rows;
  while (true) {
    auto row = q->step();
    if (!row) return std::unexpected(row.error().message);
    if (!*row) break;
    auto who = auth::parse_role(q->column_text(2));
    if (!who) return std::unexpected("api_keys holds an unknown role");
    auth::key_row r;
    r.id = q->column_text(0);
    r.hash = q->column_text(1);
    r.who = *who;
    r.account = q->column_text(3);
    r.created_at = q->column_int(4);
    if (!q->column_null(5)) r.revoked_at = q->column_int(5);
    rows.push_back(std::move(r));
  }
  return rows;
}

std::expected<void, std::string> sqlite_keys::upsert(const auth::key_row& row) {
  std::lock_guard lock(mu_);
  auto q = db_.prepare(
      "INSERT INTO api_keys (id, hash, role, account, created_at, revoked_at) VALUES (?1, ?2, ?3, "
      "?4, ?5, NULL) ON CONFLICT (id) DO UPDATE SET hash = excluded.hash, role = excluded.role, "
      "account = excluded.account, created_at = excluded.created_at, revoked_at = NULL");
  if (!q) return std::unexpected(q.error().message);
  q->bind(1, row.id);
  q->bind(2, row.hash);
  q->bind(3, auth::to_string(row.who));
  q->bind(4, row.account);
  q->bind(5, row.created_at);
  if (auto r = q->run(); !r) return std::unexpected(r.error().message);
  return {};
}

std::expected<void, std::string> sqlite_keys::revoke(std::string_view id, ledger::time_us at) {
  std::lock_guard lock(mu_);
  auto q = db_.prepare("UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1");
  if (!q) return std::unexpected(q.error().message);
  q->bind(1, id);
  q->bind(2, at);
  if (auto r = q->run(); !r) return std::unexpected(r.error().message);
  return {};
}

}  // namespace creditd::store::sqlite
