// Migration 10: the per-account journal index is ordered by block of 65,536
// entries first (entries_account_block). The journal reader finds an
// account's entries across blocks, empty ones included, from any cursor and
// with any limit; the query seeks in the index; a schema-9 file migrates;
// and a charge's index entry costs a page of the newest block, not a random
// page of an index as big as the history.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "store/schema.hpp"
#include "store/sqlite/sqlite_db.hpp"
#include "store/sqlite/sqlite_reader.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "store/store_workload.hpp"
#include "support/old_schema.hpp"
#include "support/sql_rows.hpp"
#include "support/temp_dir.hpp"
#include "support/wal_frames.hpp"

namespace journal_blocks_test_cpp {  // unity builds: tests/CMakeLists.txt

using namespace creditd;
using namespace creditd::testing::store_workload;
using creditd::testing::query_plan;
using creditd::testing::rows_of;
using creditd::testing::temp_dir;

namespace {

constexpr std::uint64_t block = std::uint64_t{1} << store::entries_block_bits;

// Journal rows written around the store (the reader reads what the file
// holds): the columns without a default, each row a grant.
constexpr const char* insert_entries =
    "INSERT INTO entries (seq, account, type, amount, balance_after, lot_id, charge_id, "
    "hold_id, refund_id, parts, operation, dimensions, reference, reason, created_at) ";

// A journal row of `account` at `seq` (its amount the seq, to tell rows
// apart).
std::string entry_sql(std::uint64_t seq, const std::string& account) {
  const std::string s = std::to_string(seq);
  return insert_entries + ("VALUES (" + s + ", '" + account + "', 'grant', " + s + ", " + s +
                           ", 0, 0, 0, 0, '[]', '', '', '', '', 0);");
}

// The seqs of `account` that a read after `after`, at most `limit`, returns.
std::vector<std::uint64_t> read_seqs(store::sqlite::sqlite_reader& r, const std::string& account,
                                     std::uint64_t after, std::size_t limit) {
  std::vector<std::uint64_t> out;
  for (const store::stored_entry& s : must(r.entries(account, after, limit))) {
    EXPECT_EQ(s.account, account);
    EXPECT_EQ(static_cast<std::uint64_t>(s.e.amount), s.e.seq);
    out.push_back(s.e.seq);
  }
  return out;
}

// Every seq of `account`, read a page of `page` at a time as the journal
// pages through them.
std::vector<std::uint64_t> paged_seqs(store::sqlite::sqlite_reader& r, const std::string& account,
                                      std::size_t page) {
  std::vector<std::uint64_t> out;
  for (std::uint64_t after = 0;;) {
    auto seqs = read_seqs(r, account, after, page);
    if (seqs.empty()) return out;
    out.insert(out.end(), seqs.begin(), seqs.end());
    after = seqs.back();
  }
}

}  // namespace

// Account "a" has entries at both ends of blocks 0 and 1, none in blocks 2
// to 4, one in block 5 and the last of block 7; "b" has entries between
// them. Every cursor around a boundary and every limit up to past the end
// read what a scan of the seqs in order reads.
TEST(journal_blocks, a_read_crosses_blocks_and_empty_blocks_from_any_cursor) {
  temp_dir dir;
  const std::string path = dir.file("j.db");
  { auto s = open_store(path); }
  const std::vector<std::uint64_t> a = {
      1, 2, block - 1, block, block + 1, 2 * block - 1, 5 * block + 7, 8 * block - 1};
  const std::vector<std::uint64_t> b = {3, block + 2, 3 * block, 6 * block, 8 * block};
  {
    auto db = must(store::sqlite::database::open(path, false));
    std::string sql = "BEGIN;";
    for (std::uint64_t s : a)
      sql += entry_sql(s, "a");
    for (std::uint64_t s : b)
      sql += entry_sql(s, "b");
    sql += "COMMIT;";
    must(db.exec(sql.c_str()));
  }
  store::sqlite::sqlite_reader r(path);
  std::vector<std::uint64_t> cursors = {0, 8 * block + 5};
  for (std::uint64_t s : a) {
    cursors.push_back(s - 1);
    cursors.push_back(s);
  }
  for (const auto& [account, seqs] : {std::pair{"a", a}, std::pair{"b", b}}) {
    for (std::uint64_t after : cursors) {
      for (std::size_t limit : {1, 2, 3, 5, 100}) {
        std::vector<std::uint64_t> want;
        for (std::uint64_t s : seqs)
          if (s > after && want.size() < limit) want.push_back(s);
        EXPECT_EQ(read_seqs(r, account, after, limit), want)
            << account << " after " << after << " limit " << limit;
      }
    }
  }
  EXPECT_EQ(read_seqs(r, "a", 0, 0), std::vector<std::uint64_t>{});
  EXPECT_EQ(read_seqs(r, "nobody", 0, 100), std::vector<std::uint64_t>{});
  // A page at a time, as the journal pages through them: every entry once.
  EXPECT_EQ(paged_seqs(r, "a", 3), a);
}

// The reader's own query, parameters unbound, is one seek in
// entries_account_block per block, in seq order: no scan of the table, no
// sort (a query whose block were not the index's expression would scan and
// still answer right).
TEST(journal_blocks, the_account_query_seeks_in_the_block_index) {
  temp_dir dir;
  const std::string path = dir.file("j.db");
  { auto s = open_store(path); }
  auto db = must(store::sqlite::database::open(path, false));
  const std::string plan = query_plan(db, store::sqlite::sqlite_reader::entries_of_block_sql);
  EXPECT_NE(plan.find("USING INDEX entries_account_block (<expr>=? AND account=? AND rowid>?)"),
            std::string::npos)
      << plan;
  EXPECT_EQ(plan.find("TEMP B-TREE"), std::string::npos) << plan;
  EXPECT_EQ(rows_of(db, "SELECT name FROM sqlite_master WHERE name = 'entries_account'"),
            std::vector<std::string>{});
}

// A file at schema 9 (the index on (account)) migrates: the old index is
// gone, the new one holds every entry, and reads find them.
TEST(journal_blocks, a_schema_9_file_migrates_its_journal_index) {
  temp_dir dir;
  const std::string path = dir.file("v9.db");
  { auto s = open_store(path); }
  {
    auto db = must(store::sqlite::database::open(path, false));
    std::string sql =
        "BEGIN; DROP INDEX entries_account_block; CREATE INDEX entries_account ON entries "
        "(account); DELETE FROM schema_migrations WHERE version > 9;" +
        creditd::testing::lots_as_a_table_sql();
    for (std::uint64_t s = 1; s <= 3 * block; s += 997)
      sql += entry_sql(s, s % 2 ? "odd" : "even");
    sql += "COMMIT;";
    must(db.exec(sql.c_str()));
  }
  { auto s = open_store(path); }
  auto db = must(store::sqlite::database::open(path, false));
  EXPECT_EQ(rows_of(db, "SELECT MAX(version) FROM schema_migrations"),
            std::vector<std::string>{std::to_string(store::schema_version_latest)});
  EXPECT_EQ(rows_of(db,
                    "SELECT name FROM sqlite_master WHERE tbl_name = 'entries' AND type = "
                    "'index' ORDER BY name"),
            std::vector<std::string>{"entries_account_block"});
  EXPECT_EQ(rows_of(db, "PRAGMA integrity_check"), std::vector<std::string>{"ok"});
  store::sqlite::sqlite_reader r(path);
  std::vector<std::uint64_t> want;
  for (std::uint64_t s = 1; s <= 3 * block; s += 997)
    if (s % 2) want.push_back(s);
  EXPECT_EQ(paged_seqs(r, "odd", 50), want);
}

namespace {

// WAL frames of the journal index per charge: `history` entries on 10,000
// accounts already in the file, then 6 transactions of 4,096 charges on
// random accounts, as the log's applier writes them (commit_batch of 64
// sets of 64). With `old_index`, the index is the one before migration 10,
// on (account).
double index_frames_per_charge(std::uint64_t history, bool old_index) {
  temp_dir dir;
  const std::string path = dir.file("w.db");
  constexpr int accounts = 10'000;
  auto s = must(store::sqlite::sqlite_store::open({path, 1'000'000'000}));
  ledger::ledger l;
  time_us now = t0;
  must(s->load(l, now));
  {
    auto db = must(store::sqlite::database::open(path, false));
    std::string sql = "BEGIN;";
    if (old_index)
      sql += "DROP INDEX entries_account_block; CREATE INDEX entries_account ON entries (account);";
    // A history spread over the accounts by a multiplicative hash (the
    // same for every run), written around the store; the ledger's counter
    // moves past it.
    sql += "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < " +
           std::to_string(history) + ") " + insert_entries +
           "SELECT i, 'acct-' || ((i * 2654435761) % 4294967296 % " + std::to_string(accounts) +
           "), 'grant', 0, 0, 0, 0, 0, 0, '[]', '', '', '', '', 0 FROM n; COMMIT;";
    must(db.exec(sql.c_str()));
  }
  l.restore_counters(l.next_object_id(), history + 1);
  for (int i = 0; i < accounts; ++i) {
    const std::string id = "acct-" + std::to_string(i);
    must(l.put_account({id, std::nullopt, std::nullopt}, now));
    must(l.grant({.account = id, .amount = 1'000'000 * credit}, now));
  }
  must(s->commit(l.take_changes()));
  {
    auto db = must(store::sqlite::database::open(path, false));
    must(db.exec("PRAGMA wal_checkpoint(TRUNCATE)"));
  }
  std::mt19937_64 rng(1);
  constexpr int transactions = 6, sets = 64, group = 64;
  for (int k = 0; k < transactions; ++k) {
    std::vector<ledger::change_set> batch;
    for (int b = 0; b < sets; ++b) {
      now += 1000;
      for (int i = 0; i < group; ++i) {
        const std::string id = "acct-" + std::to_string(rng() % accounts);
        must(l.charge({.account = id, .amount = credit, .operation = "image.generate"}, now));
      }
      batch.push_back(l.take_changes());
    }
    std::vector<const ledger::change_set*> p;
    for (const ledger::change_set& cs : batch)
      p.push_back(&cs);
    must(s->commit_batch(p, static_cast<std::uint64_t>(k + 1)));
  }
  const creditd::testing::wal_frames frames = creditd::testing::count_wal_frames(path);
  auto it = frames.of.find(old_index ? "entries_account" : "entries_account_block");
  if (it == frames.of.end()) {
    ADD_FAILURE() << "no frame of the journal index: is it there?";
    return 1.0;
  }
  return static_cast<double>(it->second) / (transactions * sets * group);
}

}  // namespace

// With 300,000 entries of history, the old index's leaves (a few thousand)
// took most of a page per charge: the 4,096 charges of a transaction land on
// random leaves of all of them. The block index's land among the pages of
// the newest block (a few hundred at most), whatever the history.
TEST(journal_blocks, a_charge_writes_a_page_of_the_newest_block_not_a_random_one) {
  const double now = index_frames_per_charge(300'000, false);
  const double before = index_frames_per_charge(300'000, true);
  std::printf("journal index frames per charge, 300,000 entries of history: %.3f (was %.3f)\n", now,
              before);
  EXPECT_GT(before, 0.25);
  EXPECT_LT(now, 0.15);
}
}  // namespace journal_blocks_test_cpp
