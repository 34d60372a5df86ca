// The ledger's records: accounts, lots, holds, charges and journal entries.
// Plain data owned by `ledger` (see ledger.hpp); not thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ledger/amount.hpp"
#include "ledger/commerce.hpp"
#include "ledger/ids.hpp"
#include "ledger/time.hpp"
#include "util/small_vector.hpp"

namespace creditd::ledger {

// A lot without expiry expires "at the end of time".
inline constexpr time_us no_expiry = std::numeric_limits<time_us>::max();

enum class lot_kind : std::uint8_t { prepaid, plan, promo };
// active: spendable once effective and before expiry; depleted: active but
// nothing left (a refund revives it); expired / voided: final.
enum class lot_status : std::uint8_t { active, depleted, expired, voided };
enum class hold_status : std::uint8_t { open, captured, released, expired };
enum class entry_type : std::uint8_t {
  grant,
  charge,
  hold,
  capture,
  release,
  expire,
  refund,
  adjust,
  void_lot,
  settings  // the reserve or the postpaid limit changed (settings_entry.hpp)
};

std::string_view to_string(lot_kind k);
std::string_view to_string(lot_status s);
std::string_view to_string(hold_status s);
std::string_view to_string(entry_type t);
std::optional<lot_kind> parse_lot_kind(std::string_view text);
std::optional<lot_status> parse_lot_status(std::string_view text);
std::optional<hold_status> parse_hold_status(std::string_view text);
std::optional<entry_type> parse_entry_type(std::string_view text);
std::int32_t default_priority(lot_kind k);  // promo 10, plan 20, prepaid 30

struct account;

// How much of an amount came from (or went to) one lot; lot == postpaid_lot_id
// for usage-based postpaid credit.
struct lot_part {
  object_id lot = 0;
  micros amount = 0;
  friend bool operator==(const lot_part&, const lot_part&) = default;
};

// Part lists: nearly always one or two lots, so they live inline.
using lot_parts = small_vector<lot_part, 2>;

struct auto_topup_settings {
  micros below = 0;
  std::string package;
  std::int64_t max_per_period = 0;
  friend bool operator==(const auto_topup_settings&, const auto_topup_settings&) = default;
};

struct account_settings {
  std::vector<micros> low_balance_thresholds;  // ascending, distinct, > 0
  micros reserve = 0;
  micros postpaid_limit = 0;
  std::int64_t rate_limit_per_minute = 0;  // 0: no limit
  std::int64_t max_open_holds = 0;         // 0: no limit (the hard ceiling still applies)
  // lot.expiring_soon this many days before a lot's expiry (0: no notice).
  // An account created through the API starts with
  // limits::expiring_soon_days_default (the service sets it).
  std::int64_t expiring_soon_days = 0;
  std::optional<auto_topup_settings> auto_topup;
  friend bool operator==(const account_settings&, const account_settings&) = default;
};

struct lot {
  object_id id = 0;
  const account* owner = nullptr;
  lot_kind kind = lot_kind::prepaid;
  lot_status status = lot_status::active;
  std::int32_t priority = 0;
  // amount = spent + held + expired + voided + remaining, always.
  micros amount = 0;
  micros remaining = 0;
  micros held = 0;
  micros spent = 0;  // net of refunds back into this lot
  micros expired = 0;
  micros voided = 0;  // voided lots and operators' debit adjustments
  time_us effective_at = 0;
  time_us expires_at = no_expiry;
  time_us created_at = 0;
  std::vector<std::string> scope;  // empty: any operation; "image.*" matches by prefix
  std::string source;  // purchase | subscription | campaign | manual | refund | adjustment
  std::string reason;  // free text from the grant (reason, purchase id)
  micros cost_basis = 0;
  std::string currency;
  std::uint64_t dirty_epoch = 0;

  bool spendable_at(time_us now) const {
    return status == lot_status::active && effective_at <= now && now < expires_at;
  }
  bool matches(std::string_view operation) const;
};

struct hold {
  object_id id = 0;
  const account* owner = nullptr;
  hold_status status = hold_status::open;
  micros amount = 0;
  micros captured = 0;
  lot_parts parts;                      // in consumption order; postpaid last
  micros quantity = micros_per_credit;  // as the request gave it (default 1)
  std::string operation;
  std::string dimensions;  // canonical JSON object text, or empty
  std::string reference;
  std::string metadata;  // the platform's JSON object text, or empty
  std::string price_id;  // the catalog price it was priced at (empty: an explicit amount)
  micros unit_amount = 0;
  time_us created_at = 0;
  time_us expires_at = 0;
  time_us closed_at = 0;
  object_id charge_id = 0;           // the charge a capture produced
  std::int64_t postpaid_period = 0;  // the period whose postpaid credit it holds
  std::uint64_t dirty_epoch = 0;
};

struct charge_part {
  object_id lot = 0;
  micros amount = 0;
  micros refunded = 0;
  friend bool operator==(const charge_part&, const charge_part&) = default;
};

// What the ledger keeps of a charge: enough to refund it. The descriptive
// fields (operation, dimensions, reference) live in its journal entry.
struct charge_record {
  object_id id = 0;
  const account* owner = nullptr;
  micros amount = 0;
  micros refunded = 0;
  small_vector<charge_part, 2> parts;  // consumption order; postpaid last
  time_us created_at = 0;
  object_id hold_id = 0;
  std::int64_t postpaid_period = 0;
  std::uint64_t dirty_epoch = 0;
};

struct rate_bucket {
  std::int64_t tokens = -1;  // in millionths of a request; -1: not started (full)
  time_us refilled_at = 0;
};

struct account {
  std::string id;
  std::string name;
  account_settings settings;
  time_us created_at = 0;
  time_us updated_at = 0;
  micros postpaid_used = 0;          // in period `postpaid_period`
  std::int64_t postpaid_period = 0;  // month_index of the period postpaid_used counts
  micros held = 0;                   // sum of open holds, postpaid included
  std::vector<lot*> active_lots;     // status active, in consumption order
  std::vector<lot*> lots;            // every lot, in creation order
  std::vector<hold*> open_holds;
  subscription* sub = nullptr;   // its subscription (any status), or none
  topup_state topup;             // automatic top-up's state
  time_us next_due = no_expiry;  // no lot expiry, hold expiry or renewal before this
  rate_bucket rate;              // volatile: not persisted
  // Events (events.hpp), volatile: the available the last command or due
  // step left, which the next one's balance events compare against (-1: not
  // known yet, taken when the account is next settled); and per refusal
  // reason (balance, reserve, postpaid_limit, scope) the second since the
  // epoch when charge.refused last fired (0: never; 16 bytes an account),
  // so it fires at most once a minute per reason.
  micros events_available = -1;
  std::array<std::uint32_t, 4> refused_event_s{};
  std::uint64_t dirty_epoch = 0;
};

struct entry {
  std::uint64_t seq = 0;
  entry_type type = entry_type::grant;
  const account* owner = nullptr;
  micros amount = 0;         // >= 0, except adjust (signed)
  micros balance_after = 0;  // the account's available balance after this entry
  // Charge, hold and capture entries: the request's quantity (a capture: its
  // hold's). Every other entry: the default, 1.
  micros quantity = micros_per_credit;
  object_id lot_id = 0;
  object_id charge_id = 0;
  object_id hold_id = 0;
  object_id refund_id = 0;
  lot_parts parts;
  std::string operation;
  std::string dimensions;
  std::string reference;
  std::string reason;
  // Charge, hold and capture entries: the request's metadata, JSON object
  // text (a capture: its hold's). Empty when none was given (no allocation).
  std::string metadata;
  // Charge, hold and capture entries priced from the catalog: the price and
  // its unit amount at the time (empty / 0 for an explicit amount).
  std::string price_id;
  micros unit_amount = 0;
  time_us created_at = 0;
};

struct balance_view {
  micros available = 0;  // what an ordinary charge can spend now
  micros held = 0;
  micros reserve = 0;
  micros postpaid_used = 0;   // in the current period
  micros lots_remaining = 0;  // spendable lots' remaining, before the reserve
};

}  // namespace creditd::ledger
