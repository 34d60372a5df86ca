// Replaying the journal: what one entry's parts do to each lot's remaining
// and held credits, and to postpaid use. Shared by the journal audit
// (`creditd check`) and balances as of a past time. Pure; thread-safe.
#pragma once

#include <span>
#include <unordered_map>

#include "ledger/types.hpp"

namespace creditd::ledger {

struct lot_replay {
  micros remaining = 0;
  micros held = 0;
};

struct postpaid_replay {
  micros used = 0;  // charged or captured
  micros held = 0;  // held by open holds
};

// Applies the effect of an entry of `type` (signed `amount` for adjust;
// `from_hold` when it names a hold) to `lots`, and its postpaid parts to
// `postpaid` unless that is null.
void replay_entry(entry_type type, micros amount, bool from_hold, std::span<const lot_part> parts,
                  std::unordered_map<object_id, lot_replay>& lots, postpaid_replay* postpaid);

}  // namespace creditd::ledger
