// Instants as int64 microseconds since the Unix epoch (UTC), with RFC 3339
// parsing and formatting. The ledger never reads a clock: every command
// carries its `now`. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace creditd::ledger {

using time_us = std::int64_t;

inline constexpr time_us us_per_second = 1'000'000;
inline constexpr time_us us_per_minute = 60 * us_per_second;
inline constexpr time_us us_per_day = 86'400 * us_per_second;
// Years 0001..9999 only; anything else is refused by the parser.
inline constexpr time_us time_us_min = -62'135'596'800 * us_per_second;
inline constexpr time_us time_us_max = 253'402'300'799 * us_per_second;

// "2026-11-25T10:00:00Z", with ".ffffff" only when the sub-second part is not zero.
std::string format_time(time_us t);
void append_time(std::string& out, time_us t);

// RFC 3339: "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)". Fractions
// finer than a microsecond are refused (not rounded).
std::optional<time_us> parse_time(std::string_view text);

// Days since 1970-01-01 for a civil date (proleptic Gregorian), and back.
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d);
void civil_from_days(std::int64_t days, std::int64_t& y, unsigned& m, unsigned& d);

// The index of the UTC calendar month containing t (year * 12 + month - 1):
// the default billing period of an account.
std::int64_t month_index(time_us t);

}  // namespace creditd::ledger
