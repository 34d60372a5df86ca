// The rows of lots and holds as the store reads them back, at start-up
// (sqlite_store::load) and when the ledger needs one it forgot
// (sqlite_reader): one SELECT and one decoder each, so the two cannot drift.
// Checksums are the caller's to check (each names problems its own way).
// And the append-only log's marks in `meta`, which the store reads at open
// and a reader with its rows (sqlite_reader::lot_rows).
//
// Thread-safety: pure functions over the statement they are given.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include "store/journal_reader.hpp"
#include "store/sqlite/sqlite_db.hpp"

namespace creditd::store::sqlite {

// "SELECT <every column, checksum last> FROM lots " (a WHERE clause follows):
// 19 columns, then the checksum.
inline constexpr std::string_view lot_select =
    "SELECT id, account, kind, status, priority, amount, remaining, held, spent, expired, voided, "
    "effective_at, expires_at, created_at, scope, source, reason, cost_basis, currency, checksum "
    "FROM lots ";
inline constexpr int lot_columns = 19;

// The same for holds: 18 columns, then the checksum.
inline constexpr std::string_view hold_select =
    "SELECT id, account, status, amount, captured, parts, operation, dimensions, reference, "
    "created_at, expires_at, closed_at, charge_id, postpaid_period, quantity, metadata, price_id, "
    "unit_amount, checksum FROM holds ";
inline constexpr int hold_columns = 18;

// The current row of a lot_select / hold_select statement, or nullopt when a
// column cannot be decoded (an unknown kind or status, bad scope or parts).
std::optional<stored_lot> decode_lot(const statement& q);
std::optional<stored_hold> decode_hold(const statement& q);

// The meta rows of the append-only log's marks: the last record the file
// holds, and the lots' own mark (sqlite_store.hpp).
inline constexpr std::string_view log_applied_key = "log_applied_seq";
inline constexpr std::string_view log_lots_key = "log_lots_seq";

// Meta row `key` of `db` (the file at `path`, for messages) as an unsigned
// integer, or nullopt when there is no such row. Errors, naming the file:
// a failed read, a checksum that does not match, a value that is not an
// unsigned integer.
std::expected<std::optional<std::uint64_t>, store_error> read_meta_uint(database& db,
                                                                        const std::string& path,
                                                                        std::string_view key);

}  // namespace creditd::store::sqlite
