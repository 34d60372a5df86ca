#include "ledger/balance_at.hpp"

#include <algorithm>
#include <vector>

#include "ledger/time.hpp"

namespace creditd::ledger {

balance_replay::balance_replay(time_us at) : at_(at), period_(month_index(at)) {}

// The month an entry's postpaid parts belong to (and, for holds and charges,
// remembered for the entries that later close or refund them).
std::int64_t balance_replay::period_of(const entry& e) {
  const std::int64_t own = month_index(e.created_at);
  auto of_hold = [&](object_id id) {
    auto it = hold_period_.find(id);
    return it == hold_period_.end() ? own : it->second;
  };
  switch (e.type) {
    case entry_type::hold:
      hold_period_[e.hold_id] = own;
      return own;
    case entry_type::charge:
      charge_period_[e.charge_id] = own;
      return own;
    case entry_type::capture: {
      const std::int64_t p = of_hold(e.hold_id);
      charge_period_[e.charge_id] = p;
      return p;
    }
    case entry_type::refund: {
      auto it = charge_period_.find(e.charge_id);
      return it == charge_period_.end() ? own : it->second;
    }
    default:
      return e.hold_id != 0 ? of_hold(e.hold_id) : own;
  }
}

void balance_replay::add(const entry& e) {
  if (e.type == entry_type::settings) {
    settings_entries_ = true;
    if (e.created_at <= at_) {
      if (auto s = parse_settings_entry_metadata(e.metadata)) settings_ = *s;
    }
    return;
  }
  if (e.created_at > at_) return;
  const std::int64_t period = period_of(e);
  postpaid_replay delta;
  replay_entry(e.type, e.amount, e.hold_id != 0, e.parts, lots_, &delta);
  all_periods_.used += delta.used;
  all_periods_.held += delta.held;
  if (period == period_) {
    in_period_.used += delta.used;
    in_period_.held += delta.held;
  }
}

account_terms terms_of(const account& acct) {
  return {acct.created_at, acct.settings.reserve, acct.settings.postpaid_limit};
}

lot_terms terms_of(const lot& l) {
  return {l.id, l.kind, l.priority, l.effective_at, l.expires_at};
}

balance_view balance_replay::view(const account_terms& acct,
                                  std::span<const lot_terms> lots) const {
  balance_view b;
  // Before the account existed it had nothing, not even postpaid credit.
  if (at_ < acct.created_at) return b;
  b.held = all_periods_.held;
  for (const lot_terms& l : lots) {
    auto it = lots_.find(l.id);
    if (it == lots_.end()) continue;
    b.held += it->second.held;
    if (l.effective_at > at_ || at_ >= l.expires_at || it->second.remaining <= 0) continue;
    b.lots_remaining += it->second.remaining;
  }
  const balance_settings set =
      settings_entries_ ? settings_ : balance_settings{acct.reserve, acct.postpaid_limit};
  b.reserve = set.reserve;
  b.postpaid_used = std::max<micros>(0, in_period_.used + in_period_.held);
  b.available = std::max<micros>(0, b.lots_remaining - b.reserve) +
                std::max<micros>(0, set.postpaid_limit - b.postpaid_used);
  return b;
}

balance_view balance_replay::view(const account& acct) const {
  std::vector<lot_terms> lots;
  lots.reserve(acct.lots.size());
  for (const lot* l : acct.lots)
    lots.push_back(terms_of(*l));
  return view(terms_of(acct), lots);
}

}  // namespace creditd::ledger
