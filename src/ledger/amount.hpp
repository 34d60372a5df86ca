// Credit amounts: exact int64 micro-credits, parsed from and formatted to
// decimal text. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

namespace creditd::ledger {

// An amount in micro-credits (1 credit = 1,000,000 micros). Never a float.
using micros = std::int64_t;

inline constexpr micros micros_per_credit = 1'000'000;
inline constexpr int amount_fraction_digits_max = 6;
// The largest amount any single field may carry: 10^9 credits (10^15 micros).
// Far below INT64_MAX (9.2 x 10^18), so that an account's sum over its at most
// 1000 active lots, plus its postpaid limit, cannot overflow.
inline constexpr micros amount_micros_max = 1'000'000'000'000'000;

enum class amount_error {
  empty,         // no text at all
  syntax,        // not a decimal number (letters, "1.", "+1", "0x10", "NaN", "Inf", ...)
  too_precise,   // more than 6 fractional digits that are not zero
  negative,      // a negative amount where only >= 0 is allowed
  out_of_range,  // magnitude above amount_micros_max
};

std::string_view to_string(amount_error e);

enum class sign_policy { non_negative, signed_allowed };

// Parses a JSON-number-shaped decimal ("10", "2.5", "-3", "1e2", "2.50")
// exactly into micros. Exponents are applied in decimal, never through a
// double. Trailing fractional zeros beyond 6 digits are accepted (the value is
// exact); any other digit beyond the 6th is `too_precise`. "-0" is zero.
std::expected<micros, amount_error> parse_amount(std::string_view text,
                                                 sign_policy policy = sign_policy::non_negative);

// Formats micros as the shortest exact decimal: 2500000 -> "2.5", 100000000
// -> "100", -1 -> "-0.000001".
std::string format_amount(micros value);

// Appends the same text to `out` without a temporary string.
void append_amount(std::string& out, micros value);

// a * b / 10^6 rounded half away from zero, for unit price x quantity when
// both are in micros. Returns out_of_range when the result exceeds
// amount_micros_max.
std::expected<micros, amount_error> multiply_micros(micros a, micros b);

}  // namespace creditd::ledger
