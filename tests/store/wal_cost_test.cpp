// What a spread charge costs the SQLite file: WAL frames (pages) written per
// charge, counted in the -wal file and named by SQLite's dbstat table. The
// counts are deterministic (a seeded workload, no clock): they guard the
// layout of schema 7 (no second key index written, no index entry rewritten
// to the same value) and print the figures of issue 12.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "store/sqlite/sqlite_store.hpp"
#include "store/store_workload.hpp"
#include "support/temp_dir.hpp"
#include "support/wal_frames.hpp"

namespace wal_cost_test_cpp {  // unity builds: tests/CMakeLists.txt

using namespace creditd;
using namespace creditd::testing::store_workload;
using creditd::testing::temp_dir;

namespace {

struct wal_cost {
  double frames_per_charge = 0;
  double bytes_per_charge = 0;
  std::map<std::string, double> frames_per_charge_of;  // by table or index
};

long long file_size(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<long long>(st.st_size) : 0;
}

void raw_exec(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
  EXPECT_EQ(rc, SQLITE_OK) << sql << ": " << (err ? err : "");
  sqlite3_free(err);
  sqlite3_close(db);
}

// `accounts` accounts with one lot and one charge each, then `commits`
// transactions of `sets` change sets of `group` charges of 1 credit on
// random accounts (commit() when `sets` is 1, else commit_batch).
wal_cost measure(int accounts, int commits, int sets, int group) {
  temp_dir dir;
  const std::string path = dir.file("wal.db");
  wal_cost cost;
  // No automatic checkpoint: every frame written stays in the -wal file.
  auto s = must(store::sqlite::sqlite_store::open({path, 1'000'000'000}));
  ledger::ledger l;
  time_us now = t0;
  must(s->load(l, now));
  for (int i = 0; i < accounts; ++i) {
    const std::string id = "acct-" + std::to_string(i);
    must(l.put_account({id, std::nullopt, std::nullopt}, now));
    must(l.grant({.account = id, .amount = 1'000'000 * credit}, now));
    must(l.charge({.account = id, .amount = credit, .operation = "image.generate"}, now));
    if (i % 1000 == 999) must(s->commit(l.take_changes()));
  }
  must(s->commit(l.take_changes()));
  raw_exec(path, "PRAGMA wal_checkpoint(TRUNCATE)");
  const long long before = file_size(path + "-wal");
  std::mt19937_64 rng(1);
  long long charges = 0;
  for (int k = 0; k < commits; ++k) {
    std::vector<ledger::change_set> batch;
    for (int b = 0; b < sets; ++b) {
      now += 1000;
      for (int i = 0; i < group; ++i, ++charges) {
        const std::string id = "acct-" + std::to_string(rng() % static_cast<unsigned>(accounts));
        must(l.charge({.account = id,
                       .amount = credit,
                       .operation = "image.generate",
                       .reference = "ref-" + std::to_string(charges)},
                      now));
      }
      batch.push_back(l.take_changes());
    }
    if (sets == 1) {
      must(s->commit(batch[0]));
    } else {
      std::vector<const ledger::change_set*> p;
      for (const ledger::change_set& cs : batch)
        p.push_back(&cs);
      must(s->commit_batch(p, static_cast<std::uint64_t>(k + 1)));
    }
  }
  const creditd::testing::wal_frames frames = creditd::testing::count_wal_frames(path, before);
  const int page = 4096;
  cost.frames_per_charge = static_cast<double>(frames.total) / static_cast<double>(charges);
  cost.bytes_per_charge =
      static_cast<double>(frames.total) * (24 + page) / static_cast<double>(charges);
  for (const auto& [name, n] : frames.of)
    cost.frames_per_charge_of[name] = static_cast<double>(n) / static_cast<double>(charges);
  std::printf(
      "accounts %d, %d charges per set, %d sets per transaction: %.3f frames, %.0f bytes "
      "per charge\n",
      accounts, group, sets, cost.frames_per_charge, cost.bytes_per_charge);
  for (const auto& [name, n] : cost.frames_per_charge_of)
    std::printf("  %-28s %.3f frames per charge\n", name.c_str(), n);
  return cost;
}

}  // namespace

// A charge writes its lot, its journal entry and the entry's place in
// entries_account_block, its charge row and the counters: never a second key
// index (the keys are rowids) and never lots_account (the account of a lot
// is not SET again).
TEST(wal_cost, a_spread_charge_writes_no_key_index_and_no_lots_account_entry) {
  for (int group : {1, 64}) {
    const wal_cost c = measure(10'000, group == 1 ? 100 : 50, 1, group);
    for (const auto& [name, n] : c.frames_per_charge_of) {
      for (const char* table : {"lots", "holds", "charges", "entries", "events", "purchases"})
        EXPECT_NE(name, std::string("sqlite_autoindex_") + table + "_1") << n;
      EXPECT_NE(name, "lots_account") << n;
    }
    // One lot page, one journal index page, the appended pages and meta
    // shared by the group: schema 6 wrote 8.3 and 2.6.
    EXPECT_LE(c.frames_per_charge, group == 1 ? 5.5 : 2.1) << group;
  }
}

// The append-only log's batches: 16 sets of 16 charges per transaction
// write the same rows as 256 charges in one set (coalesced), and far fewer
// frames per charge than 16 commits.
TEST(wal_cost, a_batch_of_sets_costs_what_one_large_set_costs) {
  const wal_cost one_set = measure(10'000, 20, 1, 256);
  const wal_cost batch = measure(10'000, 20, 16, 16);
  const wal_cost small = measure(10'000, 50, 1, 16);
  EXPECT_LE(batch.frames_per_charge, one_set.frames_per_charge * 1.05);
  EXPECT_LT(batch.frames_per_charge, small.frames_per_charge * 0.8);
}
}  // namespace wal_cost_test_cpp
