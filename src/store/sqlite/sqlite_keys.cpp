#include "store/sqlite/sqlite_keys.hpp"

#include "store/sqlite/sqlite_checksum.hpp"

namespace creditd::store::sqlite {

namespace {
// How long a write waits for the file's write lock before it fails.
constexpr std::chrono::milliseconds busy_timeout{10'000};
}  // namespace

std::expected<std::unique_ptr<sqlite_keys>, std::string> sqlite_keys::open(
    const std::string& path) {
  auto db = database::open(path, false);
  if (!db) return std::unexpected("cannot open " + path + ": " + db.error().message);
  auto k = std::make_unique<sqlite_keys>();
  k->db_ = std::move(*db);
  k->path_ = path;
  if (auto r = k->db_.exec("PRAGMA synchronous=FULL;"); !r) {
    return std::unexpected(r.error().message);
  }
  k->db_.set_busy_wait(busy_timeout, nullptr);
  return k;
}

void sqlite_keys::on_busy(std::function<void()> f) {
  std::lock_guard lock(mu_);
  db_.set_busy_wait(busy_timeout, std::move(f));
}

std::expected<std::vector<auth::key_row>, std::string> sqlite_keys::load_all() {
  std::lock_guard lock(mu_);
  auto q =
      db_.prepare("SELECT id, hash, role, account, created_at, revoked_at, checksum FROM api_keys");
  if (!q) return std::unexpected(q.error().message);
  std::vector<auth::key_row> rows;
  while (true) {
    auto row = q->step();
    if (!row) return std::unexpected(row.error().message);
    if (!*row) break;
    // A key altered outside creditd (its role raised, its revocation undone)
    // is refused, naming it, as the store refuses its other rows.
    if (const row_verdict v = check_row(*q, "api_keys", 6); v != row_verdict::intact) {
      return std::unexpected("sqlite store " + path_ + " is inconsistent: " +
                             checksum_problem("api_keys", key_text("id", column_cell(*q, 0)), v));
    }
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
  // Every column, and the checksum of the row as written (not revoked).
  auto q = db_.prepare(
      "INSERT INTO api_keys (id, hash, role, account, created_at, revoked_at, checksum) VALUES "
      "(?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (id) DO UPDATE SET hash = excluded.hash, role = "
      "excluded.role, account = excluded.account, created_at = excluded.created_at, revoked_at = "
      "excluded.revoked_at, checksum = excluded.checksum");
  if (!q) return std::unexpected(q.error().message);
  const cell cells[] = {
      cell::of(row.id),      cell::of(row.hash),       cell::of(auth::to_string(row.who)),
      cell::of(row.account), cell::of(row.created_at), cell::null()};
  if (auto r = run_with_checksum(*q, "api_keys", cells); !r)
    return std::unexpected(r.error().message);
  return {};
}

std::expected<void, std::string> sqlite_keys::revoke(std::string_view id, ledger::time_us at) {
  std::lock_guard lock(mu_);
  // Read, change and write the whole row in one transaction: the checksum
  // covers every column, not only revoked_at.
  if (auto r = db_.exec("BEGIN IMMEDIATE"); !r) return std::unexpected(r.error().message);
  auto fail = [&](const db_error& e) {
    (void)db_.exec("ROLLBACK");
    return std::unexpected(e.message);
  };
  {
    auto q = db_.prepare(
        "SELECT id, hash, role, account, created_at, revoked_at, checksum FROM api_keys WHERE "
        "id = ?1");
    if (!q) return fail(q.error());
    q->bind(1, id);
    auto row = q->step();
    if (!row) return fail(row.error());
    if (*row && check_row(*q, "api_keys", 6) == row_verdict::intact) {
      const std::string hash(q->column_text(1)), role(q->column_text(2)),
          account(q->column_text(3));
      const cell cells[] = {cell::of(id),      cell::of(hash),     cell::of(role),
                            cell::of(account), column_cell(*q, 4), cell::of(at)};
      auto u = db_.prepare("UPDATE api_keys SET revoked_at = ?6, checksum = ?7 WHERE id = ?1");
      if (!u) return fail(u.error());
      if (auto r = run_with_checksum(*u, "api_keys", cells); !r) return fail(r.error());
    } else if (*row) {
      // A row altered outside creditd is revoked all the same, but keeps
      // its old checksum: a write never makes an altered row look intact.
      auto u = db_.prepare("UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1");
      if (!u) return fail(u.error());
      u->bind(1, id);
      u->bind(2, at);
      if (auto r = u->run(); !r) return fail(r.error());
    }
  }
  if (auto r = db_.exec("COMMIT"); !r) return fail(r.error());
  return {};
}

}  // namespace creditd::store::sqlite
