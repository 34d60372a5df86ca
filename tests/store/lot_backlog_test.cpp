// The applier's lot backlog (store/log/lot_backlog.hpp): which lots a
// transaction writes, and the lots' mark it records.
#include "store/log/lot_backlog.hpp"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <vector>

namespace lot_backlog_test_cpp {  // unity builds: tests/CMakeLists.txt

using namespace creditd;
using store::log::lot_backlog;
using store::log::lot_backlog_limits;

namespace {

const ledger::account alice{.id = "alice"};
const ledger::account bob{.id = "bob"};

// One record's sets: one set changing each lot given (id, remaining).
std::vector<ledger::change_set> record(std::initializer_list<std::pair<int, int>> lots,
                                       const ledger::account& owner = alice) {
  ledger::change_set set;
  for (auto [id, remaining] : lots) {
    ledger::lot l;
    l.id = static_cast<ledger::object_id>(id);
    l.owner = &owner;
    l.amount = 100;
    l.remaining = remaining;
    l.spent = 100 - remaining;
    l.reason = "a reason longer than the small string buffer";
    set.lots.push_back(l);
  }
  return {set};
}

// "id:remaining@account" of each row, in order.
std::vector<std::string> rows(const store::sqlite::sqlite_store::lot_writes& w) {
  std::vector<std::string> out;
  for (const auto& r : w.rows) {
    EXPECT_EQ(r.lot->owner, nullptr);
    out.push_back(std::to_string(r.lot->id) + ":" + std::to_string(r.lot->remaining) + "@" +
                  std::string(r.account));
  }
  return out;
}

using strings = std::vector<std::string>;

}  // namespace

TEST(lot_backlog, a_lot_waits_lag_records_and_is_written_once_with_its_last_copy) {
  lot_backlog b({.lag_records = 3, .lag_bytes = 1u << 30, .lots_max = 1000});
  b.take(record({{1, 90}}), 1, 10);
  b.take(record({{2, 80}}, bob), 2, 10);
  b.take(record({{1, 70}}), 3, 10);  // lot 1 again: still held since record 1
  auto w = b.due(3, false);
  EXPECT_EQ(rows(w), strings{});
  EXPECT_EQ(w.lots_seq, 0u);  // record 1's lot change is not in the file
  b.written();
  EXPECT_EQ(b.size(), 2u);

  b.take(record({{3, 60}}), 4, 10);
  w = b.due(4, false);  // lot 1 is 3 records old: its last copy
  EXPECT_EQ(rows(w), strings{"1:70@alice"});
  EXPECT_EQ(w.lots_seq, 1u);  // lot 2 waits since record 2
  b.written();
  EXPECT_EQ(b.size(), 2u);

  w = b.due(4, /*all=*/true);
  EXPECT_EQ(rows(w), (strings{"2:80@bob", "3:60@alice"}));
  EXPECT_EQ(w.lots_seq, 4u);
  b.written();
  EXPECT_TRUE(b.empty());
  // Written, a lot starts over: held since its next change.
  b.take(record({{1, 50}}), 5, 10);
  w = b.due(5, false);
  EXPECT_EQ(rows(w), strings{});
  EXPECT_EQ(w.lots_seq, 4u);
}

TEST(lot_backlog, lag_zero_holds_nothing) {
  lot_backlog b({.lag_records = 0});
  b.take(record({{1, 90}, {2, 80}}), 1, 10);
  const auto w = b.due(1, false);
  EXPECT_EQ(rows(w), (strings{"1:90@alice", "2:80@alice"}));
  EXPECT_EQ(w.lots_seq, 1u);
  b.written();
  EXPECT_TRUE(b.empty());
}

TEST(lot_backlog, the_bytes_after_a_change_and_the_count_held_are_bounded_too) {
  {
    lot_backlog b({.lag_records = 1000, .lag_bytes = 100, .lots_max = 1000});
    b.take(record({{1, 90}}), 1, 60);
    b.take(record({{2, 80}}), 2, 60);
    // 120 bytes since lot 1's change, 60 since lot 2's.
    const auto w = b.due(2, false);
    EXPECT_EQ(rows(w), strings{"1:90@alice"});
    EXPECT_EQ(w.lots_seq, 1u);
  }
  {
    lot_backlog b({.lag_records = 1000, .lag_bytes = 1u << 30, .lots_max = 2});
    b.take(record({{1, 90}, {2, 80}}), 1, 10);
    b.take(record({{3, 70}, {4, 60}}), 2, 10);
    b.take(record({{5, 50}}), 3, 10);
    // Oldest first until 2 are held.
    const auto w = b.due(3, false);
    EXPECT_EQ(rows(w), (strings{"1:90@alice", "2:80@alice", "3:70@alice"}));
    EXPECT_EQ(w.lots_seq, 1u);  // lot 4 waits since record 2
    b.written();
    EXPECT_EQ(b.size(), 2u);
  }
}

TEST(lot_backlog, excess_gives_the_oldest_past_the_bound_for_the_transaction_to_write_early) {
  lot_backlog b({.lag_records = 0, .lag_bytes = 1u << 30, .lots_max = 2});
  b.take(record({{1, 90}}), 1, 10);
  b.take(record({{2, 80}, {3, 70}}), 2, 10);
  EXPECT_TRUE(b.over_limit());
  const auto early = b.excess();
  ASSERT_EQ(early.size(), 1u);
  EXPECT_EQ(early[0].lot->id, 1u);
  EXPECT_EQ(early[0].account, "alice");
  b.written();
  EXPECT_EQ(b.size(), 2u);
  EXPECT_FALSE(b.over_limit());
  EXPECT_TRUE(b.excess().empty());
  b.written();  // nothing
  // Lot 1 again: held from its new change; the end of the transaction
  // writes every one held (no lag), the transaction's mark its last record.
  b.take(record({{1, 60}}), 3, 10);
  const auto w = b.due(3, false);
  EXPECT_EQ(rows(w), (strings{"1:60@alice", "2:80@alice", "3:70@alice"}));
  EXPECT_EQ(w.lots_seq, 3u);
  b.written();
  EXPECT_TRUE(b.empty());
}

// The rows come in lot id order, the order of the file's pages, whatever
// order the lots were charged in; which lots are written is still decided
// by the age of their changes, oldest first.
TEST(lot_backlog, rows_are_written_in_id_order_the_oldest_changes_chosen) {
  {
    lot_backlog b({.lag_records = 0});
    b.take(record({{5, 50}, {3, 30}}), 1, 10);
    b.take(record({{9, 90}, {1, 10}}, bob), 2, 10);
    const auto w = b.due(2, false);
    EXPECT_EQ(rows(w), (strings{"1:10@bob", "3:30@alice", "5:50@alice", "9:90@bob"}));
    EXPECT_EQ(w.lots_seq, 2u);
    b.written();
    EXPECT_TRUE(b.empty());
  }
  {
    lot_backlog b({.lag_records = 1000, .lag_bytes = 1u << 30, .lots_max = 2});
    b.take(record({{9, 90}, {4, 40}}), 1, 10);
    b.take(record({{7, 70}}), 2, 10);
    b.take(record({{1, 10}}), 3, 10);
    // Past the bound by two: lots 9 and 4, changed first, in id order.
    const auto w = b.due(3, false);
    EXPECT_EQ(rows(w), (strings{"4:40@alice", "9:90@alice"}));
    EXPECT_EQ(w.lots_seq, 1u);  // lot 7 waits since record 2
    b.written();
    EXPECT_EQ(b.size(), 2u);
    EXPECT_FALSE(b.find(9).has_value());
    EXPECT_FALSE(b.find(4).has_value());
    ASSERT_TRUE(b.find(7).has_value());
    ASSERT_TRUE(b.find(1).has_value());
    // excess() the same way: the oldest past the bound, in id order.
    b.take(record({{8, 80}, {2, 20}}), 4, 10);
    const auto early = b.excess();
    ASSERT_EQ(early.size(), 2u);
    EXPECT_EQ(early[0].lot->id, 1u);
    EXPECT_EQ(early[1].lot->id, 7u);
    b.written();
    EXPECT_EQ(b.size(), 2u);
    EXPECT_TRUE(b.find(8).has_value());
    EXPECT_TRUE(b.find(2).has_value());
    EXPECT_FALSE(b.find(7).has_value());
  }
}

// The backlog's table of held lots, against a map: lots taken again and
// again, prefixes written at every turn (their slots erased one by one),
// the table grown past its first 1,024 slots and emptied whole.
TEST(lot_backlog, finds_each_held_lot_through_takes_prefix_writes_and_growth) {
  lot_backlog b({.lag_records = 5, .lag_bytes = 1u << 30, .lots_max = 3000});
  std::map<int, int> model;            // id -> remaining of the held copy
  std::map<int, std::uint64_t> since;  // id -> its oldest change not written
  std::mt19937_64 rng(7);
  for (std::uint64_t seq = 1; seq <= 400; ++seq) {
    const int n = seq % 50 == 0 ? 1500 : 1 + static_cast<int>(rng() % 40);
    const int ids = seq < 200 ? 5000 : 300;
    std::vector<ledger::change_set> sets = record({});
    for (int i = 0; i < n; ++i) {
      const int id = 1 + static_cast<int>(rng() % ids);
      const int remaining = static_cast<int>(rng() % 100);
      sets = record({{id, remaining}});
      b.take(sets, seq, 10);
      model[id] = remaining;
      since.try_emplace(id, seq);
    }
    const bool all = seq % 97 == 0;
    const auto w = b.due(seq, all);
    for (const auto& r : w.rows) {
      EXPECT_EQ(model.at(static_cast<int>(r.lot->id)), r.lot->remaining);
      model.erase(static_cast<int>(r.lot->id));
      since.erase(static_cast<int>(r.lot->id));
    }
    b.written();
    ASSERT_EQ(b.size(), model.size()) << "after record " << seq;
    for (int id = 1; id <= 5000; ++id) {
      const auto found = b.find(static_cast<ledger::object_id>(id));
      auto it = model.find(id);
      ASSERT_EQ(found.has_value(), it != model.end()) << "lot " << id << " after record " << seq;
      if (found) {
        EXPECT_EQ(found->l.remaining, it->second);
      }
    }
    for (const auto& [id, s] : since)
      EXPECT_GT(s + 5, seq) << "lot " << id << " held past its lag";
  }
  const auto all = b.all();
  ASSERT_EQ(all.size(), model.size());
  auto it = model.begin();
  for (const auto& r : all) {
    EXPECT_EQ(static_cast<int>(r.lot->id), it->first);
    ++it;
  }
}
}  // namespace lot_backlog_test_cpp
