// Move-only RAII owners of sqlite3* and sqlite3_stmt*, with every return code
// checked in one place. Not thread-safe: one connection per thread.
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace creditd::store::sqlite {

struct db_error {
  int code = 0;
  std::string message;
};

class statement {
 public:
  statement() = default;
  explicit statement(sqlite3_stmt* s) : stmt_(s) {}
  statement(statement&& o) noexcept : stmt_(o.stmt_) { o.stmt_ = nullptr; }
  statement& operator=(statement&& o) noexcept;
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;
  ~statement();

  // Binds by 1-based index. Text is copied (SQLITE_TRANSIENT) unless `stable`.
  void bind(int index, std::int64_t value);
  void bind(int index, std::string_view text);
  void bind_null(int index);
  // Binds text that the caller keeps alive and unchanged until the next reset().
  void bind_static(int index, std::string_view text);
  void bind_double(int index, double value);
  // Binds a blob that the caller keeps alive and unchanged until the next reset().
  void bind_blob_static(int index, std::string_view bytes);
  // SQLITE_ROW -> true, SQLITE_DONE -> false, anything else -> error.
  std::expected<bool, db_error> step();
  // step() expecting SQLITE_DONE, then reset().
  std::expected<void, db_error> run();
  void reset();

  std::int64_t column_int(int index) const { return sqlite3_column_int64(stmt_, index); }
  bool column_null(int index) const { return sqlite3_column_type(stmt_, index) == SQLITE_NULL; }
  std::string_view column_text(int index) const;
  // SQLITE_INTEGER, SQLITE_FLOAT, SQLITE_TEXT, SQLITE_BLOB or SQLITE_NULL.
  int column_type(int index) const { return sqlite3_column_type(stmt_, index); }
  double column_double(int index) const { return sqlite3_column_double(stmt_, index); }
  std::string_view column_blob(int index) const;

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

// Once, before SQLite's first use in the process (every path into SQLite
// here calls it first): no memory statistics. With them on (the default),
// every allocation SQLite makes takes a global mutex to count it; creditd
// never reads the counts. sqlite3_config() must precede
// sqlite3_initialize(): when something used SQLite first, it fails
// (SQLITE_MISUSE) and the default stays, which only costs speed.
void configure_sqlite_once();

class database {
 public:
  database() = default;
  database(database&& o) noexcept : db_(o.db_), busy_(std::move(o.busy_)) { o.db_ = nullptr; }
  database& operator=(database&& o) noexcept;
  database(const database&) = delete;
  database& operator=(const database&) = delete;
  ~database();

  // Opens (creating when `create`) the file at `path`, through the VFS
  // named `vfs` (nullptr: the default one).
  static std::expected<database, db_error> open(const std::string& path, bool create,
                                                const char* vfs = nullptr);

  std::expected<void, db_error> exec(const char* sql);
  std::expected<statement, db_error> prepare(std::string_view sql);
  sqlite3* raw() const { return db_; }
  // Rows the last INSERT, UPDATE or DELETE changed (an UPDATE: the rows its
  // WHERE matched, even when their values stay the same).
  int changes() const { return sqlite3_changes(db_); }
  db_error last_error() const;
  // Instead of PRAGMA busy_timeout: while another connection holds the lock
  // this one needs, calls `on_busy` (each time it finds the lock held) and
  // sleeps, 1 ms doubling up to 16 ms, until `timeout` has passed; then the
  // statement fails SQLITE_BUSY. (store/log's applier may hold the file's
  // write lock while it runs at idle priority: on_busy raises it.)
  void set_busy_wait(std::chrono::milliseconds timeout, std::function<void()> on_busy);

 private:
  struct busy_state {
    std::chrono::milliseconds timeout{0};
    std::function<void()> on_busy;
    std::chrono::steady_clock::time_point since;
  };
  static int on_busy_call(void* state, int count);

  sqlite3* db_ = nullptr;
  std::unique_ptr<busy_state> busy_;  // the handler's, at a fixed address
};

}  // namespace creditd::store::sqlite
