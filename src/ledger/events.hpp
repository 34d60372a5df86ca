// Events: what happened to an account that a platform wants to hear about (a
// low-balance threshold crossed, a lot about to expire, a package bought).
// The ledger computes them in the command (or due step) that causes them and
// appends them to the same change set (change_set::events), so an event is
// stored with its change or not at all. Nothing about an event stays in
// memory once its set is taken. docs/events.md says what each one means.
//
// Pure data and functions; not thread-safe (owned by the ledger's writer).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "ledger/amount.hpp"
#include "ledger/ids.hpp"
#include "ledger/time.hpp"

namespace creditd::ledger {

struct account;

enum class event_type : std::uint8_t {
  balance_low,           // available fell to or below a configured threshold
  balance_depleted,      // available fell from above zero to zero
  balance_restored,      // available rose from zero to above it
  lot_expiring_soon,     // a lot with credits left expires in expiring_soon_days
  lot_expired,           // a lot expired with credits left
  hold_expired,          // an open hold reached its expiry
  purchase_completed,    // a package was bought (API, Stripe, automatic top-up)
  subscription_renewed,  // a subscription's next period was granted
  charge_refused,        // a charge or hold was refused for credits (sampled)
  // A webhook endpoint was disabled after failing for days: of no account
  // (owner null), recorded for the delivery worker (ledger::endpoint_disabled).
  webhook_endpoint_disabled,
};
inline constexpr std::size_t event_type_count = 10;

// "balance.low", ... as the API and the store spell them.
std::string_view to_string(event_type t);
std::optional<event_type> parse_event_type(std::string_view text);

// One event: a global sequence number of its own (1, 2, 3, ... in the order
// the ledger made them, gapless within what is stored), its account (owner,
// as for journal entries; null for an event of no account) and its data, a
// JSON object's text.
struct event {
  std::uint64_t seq = 0;
  event_type type = event_type::balance_low;
  const account* owner = nullptr;
  time_us created_at = 0;
  std::string data;
};

// Writes an event's data: a JSON object of amounts (decimal credit strings,
// as the API writes them), ids with their prefixes, instants, texts, integers.
class event_data {
 public:
  explicit event_data(std::string& out) : out_(out) { out_ += '{'; }
  event_data& amount(std::string_view key, micros v);
  event_data& id(std::string_view key, id_kind k, object_id v);
  event_data& time(std::string_view key, time_us v);
  event_data& text(std::string_view key, std::string_view v);
  event_data& integer(std::string_view key, std::int64_t v);
  void close() { out_ += '}'; }

 private:
  void key(std::string_view k);
  std::string& out_;
  bool first_ = true;
};

// The balance events of available moving from `before` to `after` (both
// >= 0) under `thresholds` (ascending, > 0), in order: balance.restored,
// then balance.low for each threshold crossed downward (highest first),
// then balance.depleted. `emit(type, threshold)` gets each (threshold 0 for
// the other two). A few comparisons when nothing is crossed.
template <typename Emit>
void balance_crossings(micros before, micros after, std::span<const micros> thresholds,
                       Emit&& emit) {
  if (before == after) return;
  if (before <= 0 && after > 0) emit(event_type::balance_restored, micros{0});
  if (after < before) {
    for (auto t = thresholds.rbegin(); t != thresholds.rend(); ++t) {
      if (before > *t && after <= *t) emit(event_type::balance_low, *t);
    }
  }
  if (before > 0 && after <= 0) emit(event_type::balance_depleted, micros{0});
}

}  // namespace creditd::ledger
