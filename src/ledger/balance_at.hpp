// The balance of an account as of a past instant, from its journal: each
// lot's remaining and held credits replayed from the entries created at or
// before the instant, the lots' validity windows then, and postpaid use in
// that instant's billing period (a UTC month). Pure; one object per read.
//
// Postpaid credit is filed under the period it was taken in, as the live
// ledger does: a hold's postpaid part under the hold's month, whatever month
// it is captured, released or expires in; a refund's under its charge's
// month. So November's hold released in December gives nothing back to
// December, and November's open holds count in `held` but not in December's
// use. The reserve and the postpaid limit are those of the account's last
// settings entry at or before the instant (zero before its first); an
// account with no settings entry at all uses its settings as they are now
// (they never changed, or changed before settings entries existed).
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>

#include "ledger/replay.hpp"
#include "ledger/settings_entry.hpp"
#include "ledger/types.hpp"

namespace creditd::ledger {

// What the replay needs of a lot beyond its journal: its validity window,
// and what a listing shows. Fixed when the lot is granted.
struct lot_terms {
  object_id id = 0;
  lot_kind kind = lot_kind::prepaid;
  std::int32_t priority = 0;
  time_us effective_at = 0;
  time_us expires_at = no_expiry;
};

// What the replay takes of an account as it is now (its settings only when
// its journal has no settings entry).
struct account_terms {
  time_us created_at = 0;
  micros reserve = 0;
  micros postpaid_limit = 0;
};

account_terms terms_of(const account& acct);
lot_terms terms_of(const lot& l);

class balance_replay {
 public:
  explicit balance_replay(time_us at);

  // Entries of one account, oldest first. Those created after the instant
  // are skipped.
  void add(const entry& e);

  // The balance as of the instant: `acct` gives the settings, `lots` the
  // account's lots (any order; lots the replay never saw are ignored).
  balance_view view(const account_terms& acct, std::span<const lot_terms> lots) const;
  // The same, with the terms read from a live account and the lots it holds
  // (a ledger that forgot dead lots holds only some: the service reads the
  // terms of every lot from the store instead).
  balance_view view(const account& acct) const;

  const std::unordered_map<object_id, lot_replay>& lots() const { return lots_; }
  time_us at() const { return at_; }

 private:
  std::int64_t period_of(const entry& e);

  time_us at_;
  std::int64_t period_;
  std::unordered_map<object_id, lot_replay> lots_;
  postpaid_replay all_periods_;  // postpaid held by open holds, whatever their month
  postpaid_replay in_period_;    // used and held in the instant's month
  std::unordered_map<object_id, std::int64_t> hold_period_;
  std::unordered_map<object_id, std::int64_t> charge_period_;
  balance_settings settings_;      // as of the instant, from the settings entries
  bool settings_entries_ = false;  // any, before or after the instant
};

}  // namespace creditd::ledger
