// Row checksums: every row the store writes carries, in its `checksum`
// column, a CRC32C of its table's name and of every other column in the
// table's column order. A row changed outside creditd (a hand-made UPDATE, a
// bug in another writer, a bit flipped on disk inside a well-formed page,
// which SQLite's structure checks cannot see) no longer matches: it is named
// by `creditd check` and refused at start-up. A CRC is not a signature:
// whoever means to hide a change can recompute it; and a row deleted whole
// leaves no checksum behind (the journal audit's sequence checks see those).
//
// One function, row_checksum(), computes a row's checksum from its values:
// the writers call it on the values they bind and the verifiers on the values
// they read, so the two cannot drift. The encoding is unambiguous: the table
// name with its length, the number of columns, then each value with a type
// tag (NULL; integer as 8 bytes little-endian; real as its 8 IEEE bytes; text
// and blob with their length). A checksum is stored as a non-negative BIGINT
// (the unsigned 32-bit CRC).
//
// Thread-safety: the functions are pure or use the connection they are given.
#pragma once

#include <array>
#include <concepts>
#include <cstdint>
#include <expected>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "store/crc32c.hpp"
#include "store/sqlite/sqlite_db.hpp"

namespace creditd::store::sqlite {

// One column's value as SQLite holds it (its storage class).
struct cell {
  enum class kind : std::uint8_t { null = 0, integer = 1, real = 2, text = 3, blob = 4 };
  kind type = kind::null;
  std::int64_t integer = 0;
  double real = 0;
  std::string_view bytes;  // text or blob; the caller keeps it alive

  static cell null() { return {}; }
  static cell of(std::int64_t v) { return {kind::integer, v, 0, {}}; }
  static cell of(std::string_view v) { return {kind::text, 0, 0, v}; }
  // A string literal is text, not a pointer turned into an integer.
  static cell of(const char* v) { return of(std::string_view(v)); }
  // A bool would silently become an integer: say 0 or 1.
  template <class T>
  requires std::same_as<T, bool>
  static cell of(T) = delete;
};

// The byte CRC (store/crc32c.hpp), under the names this module's tests use.
using ::creditd::store::crc32c;
using ::creditd::store::crc32c_hardware;
using ::creditd::store::crc32c_hardware_available;
using ::creditd::store::crc32c_portable;

// The checksum of a row of `table` whose columns other than `checksum` hold
// `columns`, in the table's column order: the CRC32C of the row's encoding,
// computed as the encoding is produced (nothing is allocated or copied).
std::int64_t row_checksum(std::string_view table, std::span<const cell> columns);
// The same with Boost.CRC whatever the CPU (for tests).
std::int64_t row_checksum_portable(std::string_view table, std::span<const cell> columns);

// Column `index` of the current row of `s`, whatever its storage class. The
// bytes of text and blobs stay valid until `s` steps or resets.
cell column_cell(const statement& s, int index);

// Every table the store writes: each has a `checksum` column from schema
// version 6 on.
inline constexpr std::array<std::string_view, 15> checksummed_tables = {
    "meta",          "accounts",
    "lots",          "holds",
    "charges",       "entries",
    "idempotency",   "events",
    "api_keys",      "prices",
    "packages",      "plans",
    "subscriptions", "subscription_periods",
    "purchases",
};

// What the checksum of a row in hand says.
enum class row_verdict { intact, mismatch, missing };

// The current row of `s`: its columns 0..columns-1 are the table's columns
// (the checksum apart) in the table's order, column `columns` its checksum.
row_verdict check_row(const statement& s, std::string_view table, int columns);

// One part of a row's key as problems name it: "id=3", "account=acct-1",
// "id=NULL".
std::string key_text(std::string_view column, const cell& value);

// "lots row id=3: checksum mismatch (the row was altered outside creditd)",
// or "...: no checksum (...)" when it has none; "" when intact. `key` is one
// or more key_text()s separated by spaces.
std::string checksum_problem(std::string_view table, std::string_view key, row_verdict v);

// Binds `c` as parameter `index` of `s` (text and blobs without a copy:
// they must outlive the statement's run).
void bind_cell(statement& s, int index, const cell& c);

// Binds `columns` as parameters 1..n of `s` (text and blobs without a copy:
// they must live until it returns) and the row's checksum as n+1, then runs
// it (step to SQLITE_DONE, reset).
std::expected<void, db_error> run_with_checksum(statement& s, std::string_view table,
                                                std::span<const cell> columns);

// Fills the checksum of every row of every checksummed table from its
// current values (a migration's step, inside its transaction: an upgrade
// trusts what it upgrades). Errors: a statement fails.
std::expected<void, db_error> fill_row_checksums(database& db);

// Recomputes the checksum of every row of every checksummed table. Returns
// "" when all match, else up to 20 problems separated by "; ", each naming
// the table and the row's key (a table that cannot be read is a problem too).
std::string verify_row_checksums(database& db);

// The same for the rows of one table.
std::string verify_table_checksums(database& db, std::string_view table);

// Every problem verify_row_checksums() finds, one at a time and unbounded
// (the caller bounds them), to `add`.
void verify_row_checksums(database& db, const std::function<void(std::string)>& add);
// The same for the rows of one table (one that has a `checksum` column).
void verify_table_checksums(database& db, std::string_view table,
                            const std::function<void(std::string)>& add);

}  // namespace creditd::store::sqlite
