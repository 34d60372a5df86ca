#include "store/sqlite/sqlite_db.hpp"

#include <algorithm>
#include <thread>
#include <utility>

namespace creditd::store::sqlite {

statement& statement::operator=(statement&& o) noexcept {
  if (this != &o) {
    sqlite3_finalize(stmt_);
    stmt_ = std::exchange(o.stmt_, nullptr);
  }
  return *this;
}

statement::~statement() {
  sqlite3_finalize(stmt_);
}

void statement::bind(int index, std::int64_t value) {
  sqlite3_bind_int64(stmt_, index, value);
}

void statement::bind(int index, std::string_view text) {
  sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
}

void statement::bind_null(int index) {
  sqlite3_bind_null(stmt_, index);
}

void statement::bind_static(int index, std::string_view text) {
  sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
}

void statement::bind_double(int index, double value) {
  sqlite3_bind_double(stmt_, index, value);
}

void statement::bind_blob_static(int index, std::string_view bytes) {
  sqlite3_bind_blob(stmt_, index, bytes.data(), static_cast<int>(bytes.size()), SQLITE_STATIC);
}

std::expected<bool, db_error> statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  sqlite3* db = sqlite3_db_handle(stmt_);
  db_error e{rc, sqlite3_errmsg(db)};
  sqlite3_reset(stmt_);
  return std::unexpected(std::move(e));
}

std::expected<void, db_error> statement::run() {
  auto r = step();
  sqlite3_reset(stmt_);
  if (!r) return std::unexpected(r.error());
  return {};
}

void statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

std::string_view statement::column_text(int index) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, index));
  if (p == nullptr) return {};
  return {p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, index))};
}

std::string_view statement::column_blob(int index) const {
  const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, index));
  if (p == nullptr) return {};
  return {p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, index))};
}

database& database::operator=(database&& o) noexcept {
  if (this != &o) {
    sqlite3_close_v2(db_);
    db_ = std::exchange(o.db_, nullptr);
    busy_ = std::move(o.busy_);
  }
  return *this;
}

void database::set_busy_wait(std::chrono::milliseconds timeout, std::function<void()> on_busy) {
  busy_ = std::make_unique<busy_state>();
  busy_->timeout = timeout;
  busy_->on_busy = std::move(on_busy);
  sqlite3_busy_handler(db_, &database::on_busy_call, busy_.get());
}

int database::on_busy_call(void* state, int count) {
  auto* b = static_cast<busy_state*>(state);
  const auto now = std::chrono::steady_clock::now();
  if (count == 0) b->since = now;
  if (now - b->since >= b->timeout) return 0;
  if (b->on_busy) b->on_busy();
  std::this_thread::sleep_for(std::chrono::milliseconds(1 << std::min(count, 4)));
  return 1;
}

database::~database() {
  sqlite3_close_v2(db_);
}

void configure_sqlite_once() {
  static const int configured = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  (void)configured;
}

std::expected<database, db_error> database::open(const std::string& path, bool create,
                                                 const char* vfs) {
  configure_sqlite_once();
  database d;
  const int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX;
  const int rc = sqlite3_open_v2(path.c_str(), &d.db_, flags, vfs);
  if (rc != SQLITE_OK) {
    db_error e{rc, d.db_ ? sqlite3_errmsg(d.db_) : sqlite3_errstr(rc)};
    return std::unexpected(std::move(e));
  }
  sqlite3_extended_result_codes(d.db_, 1);
  return d;
}

std::expected<void, db_error> database::exec(const char* sql) {
  char* msg = nullptr;
  const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &msg);
  if (rc != SQLITE_OK) {
    db_error e{rc, msg ? msg : sqlite3_errmsg(db_)};
    sqlite3_free(msg);
    return std::unexpected(std::move(e));
  }
  return {};
}

std::expected<statement, db_error> database::prepare(std::string_view sql) {
  sqlite3_stmt* s = nullptr;
  const int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                    SQLITE_PREPARE_PERSISTENT, &s, nullptr);
  if (rc != SQLITE_OK) return std::unexpected(last_error());
  return statement(s);
}

db_error database::last_error() const {
  return {sqlite3_errcode(db_), sqlite3_errmsg(db_)};
}

}  // namespace creditd::store::sqlite
