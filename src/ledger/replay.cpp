#include "ledger/replay.hpp"

namespace creditd::ledger {

namespace {
void replay_postpaid(entry_type type, micros x, postpaid_replay& p) {
  switch (type) {
    case entry_type::charge:
      p.used += x;
      break;
    case entry_type::hold:
      p.held += x;
      break;
    case entry_type::capture:
      p.held -= x;
      p.used += x;
      break;
    case entry_type::release:
      p.held -= x;
      break;
    case entry_type::refund:
      p.used -= x;
      break;
    default:
      break;
  }
}
}  // namespace

void replay_entry(entry_type type, micros amount, bool from_hold, std::span<const lot_part> parts,
                  std::unordered_map<object_id, lot_replay>& lots, postpaid_replay* postpaid) {
  for (const lot_part& p : parts) {
    if (p.lot == postpaid_lot_id) {
      if (postpaid != nullptr) replay_postpaid(type, p.amount, *postpaid);
      continue;
    }
    lot_replay& r = lots[p.lot];
    switch (type) {
      case entry_type::grant:
      case entry_type::refund:
        r.remaining += p.amount;
        break;
      case entry_type::charge:
        r.remaining -= p.amount;
        break;
      case entry_type::hold:
        r.remaining -= p.amount;
        r.held += p.amount;
        break;
      case entry_type::capture:
        r.held -= p.amount;
        break;
      case entry_type::release:
        r.held -= p.amount;
        r.remaining += p.amount;
        break;
      case entry_type::expire:
      case entry_type::void_lot:
        (from_hold ? r.held : r.remaining) -= p.amount;
        break;
      case entry_type::adjust:
        r.remaining += amount > 0 ? p.amount : -p.amount;
        break;
      case entry_type::settings:  // no parts
        break;
    }
  }
}

}  // namespace creditd::ledger
