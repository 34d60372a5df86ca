// Every limit the ledger enforces, in one place, unit last.
#pragma once

#include <cstddef>
#include <cstdint>

namespace creditd::ledger::limits {

inline constexpr std::size_t account_id_length_max = 128;
inline constexpr std::size_t account_name_length_max = 256;
inline constexpr std::size_t operation_length_max = 128;
inline constexpr std::size_t reference_length_max = 512;
inline constexpr std::size_t reason_length_max = 1024;
inline constexpr std::size_t dimensions_bytes_max = 4096;
inline constexpr std::size_t metadata_bytes_max = 4096;
inline constexpr std::size_t source_length_max = 64;
inline constexpr std::size_t currency_length_max = 8;
inline constexpr std::size_t scope_operations_max = 64;
inline constexpr std::size_t low_balance_thresholds_max = 16;
// Lots that can still be spent (active) per account; a grant beyond it is refused.
inline constexpr std::size_t active_lots_per_account_max = 1000;
// Hard ceiling on open holds per account, whatever the account's own setting.
inline constexpr std::size_t open_holds_per_account_max = 10000;
inline constexpr std::size_t batch_charges_max = 100;
inline constexpr std::int64_t priority_max = 1'000'000;
inline constexpr std::int64_t hold_ttl_seconds_min = 1;
inline constexpr std::int64_t hold_ttl_seconds_max = 30 * 86'400;
inline constexpr std::int64_t hold_ttl_seconds_default = 600;
inline constexpr std::int64_t rate_limit_per_minute_max = 1'000'000;
inline constexpr std::int64_t expiring_soon_days_max = 3650;
// What an account created through the API has until it is set (the API
// describes "default 3").
inline constexpr std::int64_t expiring_soon_days_default = 3;
// charge.refused fires at most once per account and refusal reason in this
// many seconds (events.hpp): a client looping on 402 cannot flood the log.
inline constexpr std::int64_t charge_refused_event_interval_seconds = 60;
// Idempotency records are kept at least this long (the contract says 24 hours).
inline constexpr std::int64_t idempotency_retention_seconds = 48 * 3600;
inline constexpr std::size_t idempotency_key_length_max = 255;
// Time-driven work (expiries, renewals) applied in one engine step at most,
// so that a million renewals at midnight never make one giant commit.
inline constexpr std::size_t due_items_per_step = 1'024;
// The catalog.
inline constexpr std::size_t prices_max = 10'000;
inline constexpr std::size_t packages_max = 1'000;
inline constexpr std::size_t plans_max = 1'000;
inline constexpr std::size_t price_dimensions_max = 32;
inline constexpr std::size_t dimension_key_length_max = 64;
inline constexpr std::size_t dimension_value_length_max = 256;
inline constexpr std::int64_t validity_days_max = 36'500;
// A payment provider's event id (Stripe's "evt_...").
inline constexpr std::size_t external_id_length_max = 255;
// A subscription's start_at: at most this far in the past (caught up period
// by period at once) or in the future.
inline constexpr std::int64_t subscription_start_window_days = 3'660;

}  // namespace creditd::ledger::limits
