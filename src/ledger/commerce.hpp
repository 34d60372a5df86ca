// The commerce records the ledger keeps beside the credits: the catalog
// (prices, packages, plans), subscriptions and purchases, and the commands
// that write them. Plain data owned by `ledger`; not thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ledger/amount.hpp"
#include "ledger/calendar.hpp"
#include "ledger/ids.hpp"
#include "ledger/time.hpp"

namespace creditd::ledger {

struct account;

// One dimension a price requires ("model" = "flux-pro"), or one a charge has.
struct dimension {
  std::string key;
  std::string value;
  friend bool operator==(const dimension&, const dimension&) = default;
};
// Sorted by key, keys distinct.
using dimension_list = std::vector<dimension>;

// Sorts a list by key.
void sort_dimensions(dimension_list& dims);
// Whether every dimension of `required` is in `dims` with the same value:
// a price with `required` matches a charge with `dims` (both sorted).
bool dimensions_within(const dimension_list& required, const dimension_list& dims);
// Whether some charge could have both lists (no key they share has different
// values): two prices as specific as each other conflict (both sorted).
bool dimensions_compatible(const dimension_list& a, const dimension_list& b);

// A price: what one unit of `operation` costs when the charge has every
// dimension listed (other dimensions of the charge do not matter).
struct price {
  std::string id;
  std::string operation;
  dimension_list dimensions;
  micros unit_amount = 0;  // >= 0; credits per unit of quantity
  time_us created_at = 0;
  time_us updated_at = 0;
};

// A pack of credits for sale.
struct package {
  std::string id;
  micros credits = 0;  // > 0
  micros price = 0;    // >= 0, money in `currency` (the lot's cost basis)
  std::string currency;
  std::int64_t validity_days = 0;  // 0: the credits never expire
  time_us created_at = 0;
  time_us updated_at = 0;
};

// A subscription plan: an allowance granted at every period start.
struct plan {
  std::string id;
  micros credits_per_period = 0;  // > 0
  period_unit period = period_unit::month;
  std::optional<micros> rollover_cap;  // none: nothing is carried over
  time_us created_at = 0;
  time_us updated_at = 0;
};

enum class subscription_status : std::uint8_t {
  pending,   // starts at start_at, in the future
  active,    // in period `period_index`
  canceled,  // ended at `period_end` (cancel at period end, or deleted while pending)
};

struct subscription {
  const account* owner = nullptr;
  std::string plan;       // the plan of the current period
  std::string next_plan;  // the plan from the next period on (empty: the same)
  std::string timezone = "UTC";
  local_date anchor;  // the local date of start_at in `timezone`
  time_us start_at = 0;
  // The current period's number, counted across the account's subscriptions
  // (a resubscription goes on from the last); -1 before the first.
  std::int64_t period_index = -1;
  time_us period_start = 0;
  time_us period_end = 0;  // the next boundary: renewal (or the end when canceling)
  object_id lot_id = 0;    // this period's allowance lot (0: none yet)
  bool cancel_at_period_end = false;
  subscription_status status = subscription_status::pending;
  time_us created_at = 0;
  time_us updated_at = 0;
  std::uint64_t dirty_epoch = 0;
};

// One period of a subscription that was granted: unique per (account,
// index) in the store, so that no restart or second node renews twice.
struct subscription_period {
  std::string account;
  std::int64_t index = 0;
  std::string plan;
  object_id lot_id = 0;
  micros granted = 0;
  micros rolled_over = 0;  // carried from the previous period into lot rollover_lot_id
  object_id rollover_lot_id = 0;
  time_us starts_at = 0;
  time_us ends_at = 0;
};

enum class purchase_source : std::uint8_t { api, stripe, auto_topup };

// A package bought: the prepaid lot it granted.
struct purchase {
  object_id id = 0;
  std::string account;
  std::string package;
  object_id lot_id = 0;
  micros credits = 0;
  micros price = 0;
  std::string currency;
  purchase_source source = purchase_source::api;
  // Stripe: the event id ("evt_..."), unique for as long as the store lives.
  std::string external_id;
  std::string reason;
  time_us created_at = 0;
};

// Per account, the state of automatic top-up (persisted with the account).
struct topup_state {
  bool armed = true;         // false after a top-up until available is back at `below`
  time_us period_start = 0;  // the billing period `count` counts in
  std::int64_t count = 0;    // top-ups in that period
  friend bool operator==(const topup_state&, const topup_state&) = default;
};

std::string_view to_string(period_unit u);
std::string_view to_string(subscription_status s);
std::string_view to_string(purchase_source s);
std::optional<period_unit> parse_period_unit(std::string_view text);
std::optional<subscription_status> parse_subscription_status(std::string_view text);
std::optional<purchase_source> parse_purchase_source(std::string_view text);

// ---- Commands.

struct price_cmd {
  std::string id;
  std::string operation;
  dimension_list dimensions;  // any order; sorted by the ledger
  micros unit_amount = 0;
};

struct package_cmd {
  std::string id;
  micros credits = 0;
  micros price = 0;
  std::string currency;
  std::int64_t validity_days = 0;
};

struct plan_cmd {
  std::string id;
  micros credits_per_period = 0;
  period_unit period = period_unit::month;
  std::optional<micros> rollover_cap;
};

struct purchase_cmd {
  std::string account;
  std::string package;
  purchase_source source = purchase_source::api;
  std::string external_id;  // Stripe event id; must be new when given
  std::string reason;
};

struct subscription_cmd {
  std::string account;
  std::string plan;
  std::optional<time_us> start_at;  // default: now
  // An IANA name; empty: UTC for a new subscription, unchanged for an active one.
  std::string timezone;
};

// What pricing found for a charge.
struct priced {
  micros amount = 0;
  std::string price_id;
  micros unit_amount = 0;
};

}  // namespace creditd::ledger
