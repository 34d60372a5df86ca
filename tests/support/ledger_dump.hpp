// Test support: a canonical text dump of a ledger's persistent state, so two
// ledgers (before and after a reload) can be compared with one EXPECT_EQ, and
// of a journal entry with every field a store keeps.
#pragma once

#include <algorithm>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <string_view>

#include "ledger/ledger.hpp"

namespace creditd::testing {

inline std::string dump_lot(const ledger::lot& x, std::string_view account) {
  std::ostringstream o;
  o << "lot " << x.id << " " << account << " " << ledger::to_string(x.kind) << " "
    << ledger::to_string(x.status) << " p=" << x.priority << " amount=" << x.amount
    << " rem=" << x.remaining << " held=" << x.held << " spent=" << x.spent << " exp=" << x.expired
    << " void=" << x.voided << " eff=" << x.effective_at << " until=" << x.expires_at
    << " scope=" << x.scope.size() << " src=" << x.source << " reason=" << x.reason
    << " cost=" << x.cost_basis << x.currency;
  return o.str();
}

inline std::string dump_hold(const ledger::hold& h, std::string_view account) {
  std::ostringstream o;
  o << "hold " << h.id << " " << account << " " << ledger::to_string(h.status)
    << " amount=" << h.amount << " captured=" << h.captured << " op=" << h.operation
    << " dims=" << h.dimensions << " ref=" << h.reference << " qty=" << h.quantity
    << " meta=" << h.metadata << " until=" << h.expires_at << " closed=" << h.closed_at
    << " charge=" << h.charge_id << " parts=";
  for (const auto& p : h.parts)
    o << p.lot << ":" << p.amount << ",";
  return o.str();
}

inline std::string dump_charge(const ledger::charge_record& c, std::string_view account) {
  std::ostringstream o;
  o << "charge " << c.id << " " << account << " amount=" << c.amount << " refunded=" << c.refunded
    << " hold=" << c.hold_id << " at=" << c.created_at << " parts=";
  for (const auto& p : c.parts)
    o << p.lot << ":" << p.amount << ":" << p.refunded << ",";
  return o.str();
}

// The lots, holds and charges, by id, as dumped; `more` may add those the
// ledger does not hold (tests/support/stored_history.hpp: from its store).
using dumped_objects = std::map<ledger::object_id, std::string>;
using dump_more =
    std::function<void(dumped_objects& lots, dumped_objects& holds, dumped_objects& charges)>;

inline std::string dump_ledger(const ledger::ledger& l, const dump_more& more = {}) {
  std::map<std::string, std::string> accounts;
  l.for_each_account([&](const ledger::account& a) {
    std::ostringstream o;
    o << "account " << a.id << " name=" << a.name << " reserve=" << a.settings.reserve
      << " postpaid_limit=" << a.settings.postpaid_limit << " postpaid_used=" << a.postpaid_used
      << " period=" << a.postpaid_period << " held=" << a.held
      << " open_holds=" << a.open_holds.size() << " max_open_holds=" << a.settings.max_open_holds
      << " rate=" << a.settings.rate_limit_per_minute << " created=" << a.created_at << "\n";
    for (const ledger::lot* x : a.active_lots)
      o << "  active " << x->id << "\n";
    accounts[a.id] = o.str();
  });
  std::map<ledger::object_id, std::string> lots, holds, charges;
  l.for_each_account([&](const ledger::account& a) {
    for (const ledger::lot* x : a.lots)
      lots[x->id] = dump_lot(*x, a.id);
  });
  l.for_each_hold([&](const ledger::hold& h) { holds[h.id] = dump_hold(h, h.owner->id); });
  l.for_each_charge(
      [&](const ledger::charge_record& c) { charges[c.id] = dump_charge(c, c.owner->id); });
  if (more) more(lots, holds, charges);
  std::string out = "next_id=" + std::to_string(l.next_object_id()) +
                    " next_seq=" + std::to_string(l.next_seq()) + "\n";
  for (auto& [k, v] : accounts)
    out += v;
  for (auto& [k, v] : lots)
    out += v + "\n";
  for (auto& [k, v] : holds)
    out += v + "\n";
  for (auto& [k, v] : charges)
    out += v + "\n";
  return out;
}

// Every persisted field of an entry; `account` stands for e.owner (null in
// entries read back from a store).
inline std::string dump_entry(const ledger::entry& e, std::string_view account) {
  std::ostringstream o;
  o << "entry " << e.seq << " " << account << " " << ledger::to_string(e.type)
    << " amount=" << e.amount << " after=" << e.balance_after << " lot=" << e.lot_id
    << " charge=" << e.charge_id << " hold=" << e.hold_id << " refund=" << e.refund_id
    << " op=" << e.operation << " dims=" << e.dimensions << " ref=" << e.reference
    << " reason=" << e.reason << " qty=" << e.quantity << " meta=" << e.metadata
    << " at=" << e.created_at << " parts=";
  for (const auto& p : e.parts)
    o << p.lot << ":" << p.amount << ",";
  return o.str();
}

}  // namespace creditd::testing
