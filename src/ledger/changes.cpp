#include "ledger/changes.hpp"

#include <algorithm>
#include <unordered_map>

namespace creditd::ledger {

namespace {

// Appends `later` to `into`, one row per key: a row `later` holds too is
// replaced where it stands by `later`'s copy (the newer state). `at` maps
// the keys of `into`'s rows to their positions, and is kept so.
template <typename T, typename Map, typename Key>
void upsert_rows(std::vector<T>& into, std::vector<T>&& later, Map& at, Key key) {
  for (T& row : later) {
    auto [it, added] = at.try_emplace(key(row), into.size());
    if (added) {
      into.push_back(std::move(row));
    } else {
      into[it->second] = std::move(row);
    }
  }
}

template <typename T>
void append_all(std::vector<T>& into, std::vector<T>&& later) {
  if (into.empty()) {
    into = std::move(later);
    return;
  }
  into.insert(into.end(), std::make_move_iterator(later.begin()),
              std::make_move_iterator(later.end()));
}

}  // namespace

void change_index::clear() {
  accounts.clear();
  lots.clear();
  holds.clear();
  charges.clear();
}

void append_changes(change_set& into, change_set&& later) {
  change_index index;
  for (std::size_t i = 0; i < into.accounts.size(); ++i)
    index.accounts.emplace(into.accounts[i].id, i);
  for (std::size_t i = 0; i < into.lots.size(); ++i)
    index.lots.emplace(into.lots[i].id, i);
  for (std::size_t i = 0; i < into.holds.size(); ++i)
    index.holds.emplace(into.holds[i].id, i);
  for (std::size_t i = 0; i < into.charges.size(); ++i)
    index.charges.emplace(into.charges[i].id, i);
  append_changes(into, std::move(later), index);
}

void append_changes(change_set& into, change_set&& later, change_index& index) {
  append_all(into.entries, std::move(later.entries));
  upsert_rows(into.accounts, std::move(later.accounts), index.accounts,
              [](const account_row& a) -> const std::string& { return a.id; });
  upsert_rows(into.lots, std::move(later.lots), index.lots, [](const lot& l) { return l.id; });
  upsert_rows(into.holds, std::move(later.holds), index.holds, [](const hold& h) { return h.id; });
  upsert_rows(into.charges, std::move(later.charges), index.charges,
              [](const charge_record& c) { return c.id; });
  // Records that `later` expires are gone, as if both sets were committed
  // in turn (a store deletes by age before it writes what a set adds).
  if (later.idempotency_expired_before != 0) {
    std::erase_if(into.idempotency_added, [&](const idempotency_record& r) {
      return r.created_at < later.idempotency_expired_before;
    });
  }
  append_all(into.idempotency_added, std::move(later.idempotency_added));
  // A price upserted again after its delete lives (ledger_commerce.cpp's
  // put_price does the same within one set).
  for (const price& p : later.prices)
    std::erase(into.prices_deleted, p.id);
  append_all(into.prices, std::move(later.prices));
  append_all(into.prices_deleted, std::move(later.prices_deleted));
  append_all(into.packages, std::move(later.packages));
  append_all(into.plans, std::move(later.plans));
  append_all(into.subscriptions, std::move(later.subscriptions));
  append_all(into.purchases, std::move(later.purchases));
  append_all(into.periods, std::move(later.periods));
  append_all(into.events, std::move(later.events));
  into.notices_until = std::max(into.notices_until, later.notices_until);
  into.idempotency_expired_before =
      std::max(into.idempotency_expired_before, later.idempotency_expired_before);
  into.time_seen = std::max(into.time_seen, later.time_seen);
  // Counters only grow; a set with nothing in it carries their defaults.
  into.next_object_id = std::max(into.next_object_id, later.next_object_id);
  into.next_seq = std::max(into.next_seq, later.next_seq);
}

}  // namespace creditd::ledger
