// The rows of lots and holds as the store reads them back, at start-up
// (sqlite_store::load) and when the ledger needs one it forgot
// (sqlite_reader): one SELECT and one decoder each, so the two cannot drift.
// Checksums are the caller's to check (each names problems its own way).
//
// Thread-safety: pure functions over the statement they are given.
#pragma once

#include <optional>
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

}  // namespace creditd::store::sqlite
