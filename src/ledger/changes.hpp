// A change set: what a group of commands changed, copied out of the ledger so
// that a store can write it on another thread while the ledger goes on.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "ledger/events.hpp"
#include "ledger/idempotency.hpp"
#include "ledger/types.hpp"

namespace creditd::ledger {

// An account's persistent fields (no in-memory indexes).
struct account_row {
  std::string id;
  std::string name;
  account_settings settings;
  time_us created_at = 0;
  time_us updated_at = 0;
  micros postpaid_used = 0;
  std::int64_t postpaid_period = 0;
  topup_state topup;
};

// Lot/hold/charge copies keep their `owner` pointer: accounts are never
// removed and their ids never change, so reading owner->id from another thread
// is safe while the ledger is alive.
struct change_set {
  std::vector<entry> entries;
  std::vector<account_row> accounts;
  std::vector<lot> lots;
  std::vector<hold> holds;
  std::vector<charge_record> charges;
  std::vector<idempotency_record> idempotency_added;
  // The catalog: upserts in order (the last copy of an id wins), then deletes.
  std::vector<price> prices;
  std::vector<std::string> prices_deleted;
  std::vector<package> packages;
  std::vector<plan> plans;
  // Subscriptions: upserts in order (owner->id is the key).
  std::vector<subscription> subscriptions;
  // New rows only: purchases and granted subscription periods, each unique
  // in the store (a purchase's external_id, a period's account and index).
  std::vector<purchase> purchases;
  std::vector<subscription_period> periods;
  // New rows only, in seq order: the events the set's commands caused.
  std::vector<event> events;
  // The instant of the latest lot.expiring_soon notice in the set (0: none):
  // a store keeps the latest, and a loaded ledger schedules only notices
  // after it (none is sent twice across a restart).
  time_us notices_until = 0;
  // Records created before this instant are gone (0: none expired in this
  // set). A store deletes them by age before it writes `idempotency_added`,
  // so a key that expired and is used again in the same set is written as new.
  time_us idempotency_expired_before = 0;
  // The latest instant the ledger was run at, when it moved in this set (0:
  // it did not): a test clock resumes from it after a restart.
  time_us time_seen = 0;
  object_id next_object_id = 1;  // counters after the last change in the set
  std::uint64_t next_seq = 1;

  bool empty() const {
    return entries.empty() && accounts.empty() && lots.empty() && holds.empty() &&
           charges.empty() && idempotency_added.empty() && idempotency_expired_before == 0 &&
           time_seen == 0 && prices.empty() && prices_deleted.empty() && packages.empty() &&
           plans.empty() && subscriptions.empty() && purchases.empty() && periods.empty() &&
           events.empty();
  }
};

// Appends the changes of `later` (taken from the same ledger after `into`)
// to `into`, so that `into` is what one take_changes() over both would have
// given: the journal entries and new rows of both in order; one copy of each
// account, lot, hold and charge (the later one); a price upserted after its
// delete lives; the later counters. A store that commits the result writes
// the same rows as one that commits both in turn, in one transaction.
void append_changes(change_set& into, change_set&& later);

// The positions of a merged set's accounts, lots, holds and charges, kept
// beside it by a caller that merges into the same set again and again (the
// engine, once per round), so that each merge costs what it adds, not what
// the set already holds. Cleared when the set is taken.
struct change_index {
  std::unordered_map<std::string, std::size_t> accounts;
  std::unordered_map<object_id, std::size_t> lots, holds, charges;
  void clear();
};
// The same, with `index` describing `into` before and after.
void append_changes(change_set& into, change_set&& later, change_index& index);

}  // namespace creditd::ledger
