// The ledger's expected refusals, as values. Every code here can be produced
// by some input; bugs are assertions, never codes. Thread-safe (plain data).
#pragma once

#include <cstdint>
#include <string_view>

#include "ledger/amount.hpp"

namespace creditd::ledger {

enum class errc : std::uint8_t {
  invalid_argument,  // a field is malformed or out of its range (message says which)
  account_not_found,
  lot_not_found,
  hold_not_found,
  charge_not_found,
  insufficient_credits,  // reason + available + required say which limit refused
  hold_not_open,         // capture/release of a captured, released or expired hold
  lot_not_active,        // void of a lot already voided or expired
  nothing_to_refund,     // the charge is fully refunded
  refund_too_large,      // more than what is left to refund
  too_many_open_holds,   // the account's max_open_holds (or the hard ceiling)
  rate_limited,          // the account's rate_limit_per_minute; retry_after_s says when
  limit_exceeded,        // a structural limit (active lots per account, batch size)
  idempotency_conflict,  // same key, different request
  unknown_price,         // no catalog price matches the operation and dimensions
  package_not_found,
  plan_not_found,
  subscription_not_found,
  conflict,  // the write contradicts the state (an ambiguous price, a subscription's state)
};

enum class refusal_reason : std::uint8_t { none, balance, reserve, postpaid_limit, scope };

std::string_view to_string(errc c);
std::string_view to_string(refusal_reason r);

struct error {
  errc code = errc::invalid_argument;
  // A static string naming the offending field or rule; never owned.
  const char* message = "";
  refusal_reason reason = refusal_reason::none;
  micros available = 0;            // insufficient_credits: what this request could spend
  micros required = 0;             // insufficient_credits: what it needed
  std::int64_t retry_after_s = 0;  // rate_limited
  std::int64_t limit = 0;          // too_many_open_holds / rate_limited: the configured limit
};

inline error make_error(errc code, const char* message = "") {
  error e;
  e.code = code;
  e.message = message;
  return e;
}

}  // namespace creditd::ledger
