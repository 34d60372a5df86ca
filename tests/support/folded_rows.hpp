// What a store keeps of a ledger, without a store: its change sets folded
// into rows as a store writes them (the last copy of a row wins), the
// journal and the counters. For the pure tests of loading and auditing
// (tests/unit/load_check_test.cpp, tests/unit/audit_test.cpp).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "ledger/changes.hpp"
#include "ledger/ledger.hpp"

namespace creditd::ledger::testing {

struct folded_rows {
  std::vector<entry> entries;  // in the order written
  std::map<std::string, account_row> accounts;
  std::map<object_id, lot> lots;
  std::map<object_id, hold> holds;
  std::map<object_id, charge_record> charges;
  std::vector<purchase> purchases;
  std::vector<subscription_period> periods;
  std::map<std::string, subscription> subscriptions;  // by account
  std::uint64_t next_seq = 1;
  object_id next_object_id = 1;

  // Takes `l`'s changes since the last fold (or its start).
  void fold(ledger& l) {
    change_set c = l.take_changes();
    for (entry& e : c.entries)
      entries.push_back(std::move(e));
    for (account_row& a : c.accounts)
      accounts[a.id] = std::move(a);
    for (lot& x : c.lots)
      lots[x.id] = std::move(x);
    for (hold& h : c.holds)
      holds[h.id] = std::move(h);
    for (charge_record& x : c.charges)
      charges[x.id] = std::move(x);
    for (purchase& p : c.purchases)
      purchases.push_back(std::move(p));
    for (subscription_period& p : c.periods)
      periods.push_back(std::move(p));
    for (subscription& s : c.subscriptions)
      subscriptions[s.owner->id] = std::move(s);
    next_seq = c.next_seq;
    next_object_id = c.next_object_id;
  }
};

}  // namespace creditd::ledger::testing
