// ledger::append_changes: change sets taken one after another from a ledger
// and merged commit to the same rows as the sets committed in turn, and to
// no more rows than one take_changes over all of them would write.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ledger/changes.hpp"
#include "store_workload.hpp"
#include "support/ledger_dump.hpp"
#include "support/stored_history.hpp"
#include "support/temp_dir.hpp"

namespace creditd::testing {
namespace change_merge_test_cpp {  // unity builds: tests/CMakeLists.txt
namespace {

using namespace store_workload;

std::string loaded(store::sqlite::sqlite_store& s) {
  ledger::ledger l;
  must(s.load(l, t0));
  return dump_ledger(l, s.path());
}

TEST(append_changes, merged_sets_commit_to_the_rows_of_the_sets_in_turn) {
  for (std::uint64_t seed : {3u, 7u, 11u}) {
    SCOPED_TRACE(seed);
    ledger::ledger l;
    std::vector<ledger::change_set> sets = workload(l, seed, 16);
    temp_dir dir;
    const std::string one = dir.file("one.db"), merged = dir.file("merged.db");
    auto a = open_store(one);
    for (const ledger::change_set& cs : sets)
      must(a->commit(cs));
    // Merged in groups of 1, 2, 3, ... sets, each group one commit.
    auto b = open_store(merged);
    std::size_t i = 0, group = 1, rows_merged = 0, rows_apart = 0;
    while (i < sets.size()) {
      // The engine's way: one index kept beside the merged set.
      ledger::change_set m;
      ledger::change_index index;
      for (std::size_t k = 0; k < group && i < sets.size(); ++k, ++i) {
        rows_apart += sets[i].accounts.size() + sets[i].lots.size() + sets[i].holds.size() +
                      sets[i].charges.size();
        ledger::change_set copy = sets[i];
        ledger::append_changes(m, std::move(copy), index);
      }
      rows_merged += m.accounts.size() + m.lots.size() + m.holds.size() + m.charges.size();
      must(b->commit(m));
      ++group;
    }
    // Rows written by several sets of a group are written once.
    EXPECT_LT(rows_merged, rows_apart);
    const std::string rows = dump_tables(one);
    EXPECT_NE(rows.find("entries: "), std::string::npos);
    EXPECT_EQ(dump_tables(merged), rows);
    EXPECT_EQ(loaded(*b), loaded(*a));
    EXPECT_EQ(loaded(*a), dump_ledger(l));
  }
}

// The cases the workload may not reach: a price deleted then upserted again,
// upserted then deleted, and an idempotency record expired by a later set.
TEST(append_changes, prices_and_expired_records_end_as_in_turn) {
  ledger::change_set a, b;
  a.prices_deleted = {"p1"};
  a.prices.push_back(ledger::price{"p2", "x", {}, 1});
  b.prices.push_back(ledger::price{"p1", "x", {}, 2});
  b.prices_deleted = {"p2"};
  a.idempotency_added.push_back({"old", "f", 201, "{}", 10});
  a.idempotency_added.push_back({"new", "f", 201, "{}", 30});
  b.idempotency_expired_before = 20;
  b.idempotency_added.push_back({"newer", "f", 201, "{}", 40});
  a.next_seq = 5;
  b.next_seq = 9;
  a.time_seen = 7;
  ledger::append_changes(a, std::move(b));
  // A set with nothing in it (its counters at their defaults) changes nothing.
  ledger::append_changes(a, ledger::change_set{});
  EXPECT_EQ(a.prices_deleted, (std::vector<std::string>{"p2"}));  // p1 lives, p2 is gone
  ASSERT_EQ(a.prices.size(), 2u);
  EXPECT_EQ(a.prices[1].id, "p1");
  ASSERT_EQ(a.idempotency_added.size(), 2u);
  EXPECT_EQ(a.idempotency_added[0].key, "new");
  EXPECT_EQ(a.idempotency_added[1].key, "newer");
  EXPECT_EQ(a.idempotency_expired_before, 20);
  EXPECT_EQ(a.next_seq, 9u);
  EXPECT_EQ(a.time_seen, 7);
}

}  // namespace
}  // namespace change_merge_test_cpp
}  // namespace creditd::testing
