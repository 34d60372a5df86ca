// sqlite_store::commit_batch, the hook of the append-only log: several
// change sets in one transaction give exactly the rows and the journal that
// committing them one by one gives, the log's mark is written with them and
// survives a reopen, a failed batch leaves neither rows nor mark, and behind
// the log the WAL goes to the disk without waiting for a checkpoint.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/magic.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <expected>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "store/sqlite/sqlite_store.hpp"
#include "store/store_workload.hpp"
#include "support/ledger_dump.hpp"
#include "support/stored_history.hpp"
#include "support/temp_dir.hpp"

namespace commit_batch_test_cpp {  // unity builds: tests/CMakeLists.txt

using namespace creditd;
using creditd::testing::dump_ledger;
using creditd::testing::temp_dir;
using ledger::micros;
using ledger::time_us;
using namespace creditd::testing::store_workload;

namespace {

std::vector<const ledger::change_set*> pointers(const std::vector<ledger::change_set>& sets,
                                                std::size_t from, std::size_t to) {
  std::vector<const ledger::change_set*> out;
  for (std::size_t i = from; i < to; ++i)
    out.push_back(&sets[i]);
  return out;
}

// cachestat(2) (Linux 6.5): a file's pages in the page cache, dirty, under
// writeback. Neither glibc 2.36 nor Debian 12's kernel headers know it: its
// number is the one every architecture shares (a kernel without it answers
// ENOSYS, and the test is skipped).
#ifndef __NR_cachestat
#define __NR_cachestat 451
#endif
struct cache_counts {
  std::uint64_t cached = 0, dirty = 0, writeback = 0, evicted = 0, recently_evicted = 0;
};
std::optional<cache_counts> cachestat_of(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  struct {
    std::uint64_t off = 0, len = 0;  // 0: to the end
  } range;
  cache_counts out;
  const long rc = ::syscall(__NR_cachestat, fd, &range, &out, 0);
  ::close(fd);
  if (rc != 0) return std::nullopt;
  return out;
}

std::string loaded(store::sqlite::sqlite_store& s) {
  ledger::ledger l;
  must(s.load(l, t0 + 3600 * ledger::us_per_second));
  return dump_ledger(l, s.path());
}

}  // namespace

// Twelve sets committed one by one into one file; in batches (of 1, 4 and
// 7 sets) into another; and in one batch written in parts (begin_batch,
// write_batch_part of 1, 4, none and 7 sets, finish_batch) into a third,
// which holds nothing of it before the commit: the same rows in every
// table (the journal included), the same ledger loaded back, and the audit
// passes.
TEST(commit_batch, equals_committing_the_sets_one_by_one) {
  ledger::ledger l;
  const std::vector<ledger::change_set> sets = workload(l, 7, 12);
  temp_dir dir;
  const std::string one = dir.file("one.db"), batched = dir.file("batched.db"),
                    parts = dir.file("parts.db");
  {
    auto a = open_store(one);
    for (const ledger::change_set& cs : sets)
      must(a->commit(cs));
    auto b = open_store(batched);
    must(b->commit_batch(pointers(sets, 0, 1), 1));
    must(b->commit_batch(pointers(sets, 1, 5), 5));
    must(b->commit_batch(pointers(sets, 5, 12), 12));
    EXPECT_EQ(b->applied_log_seq(), 12u);
    EXPECT_EQ(a->applied_log_seq(), 0u);
    EXPECT_EQ(*b->audit_journal(l), "");
    auto c = open_store(parts);
    must(c->begin_batch());
    must(c->write_batch_part(pointers(sets, 0, 1), true));
    must(c->write_batch_part(pointers(sets, 1, 5), true));
    must(c->write_batch_part({}, true));
    must(c->write_batch_part(pointers(sets, 5, 12), true));
    EXPECT_EQ(c->applied_log_seq(), 0u);
    must(c->finish_batch(12));
    EXPECT_EQ(c->applied_log_seq(), 12u);
    EXPECT_EQ(*c->audit_journal(l), "");
  }
  const std::string rows = dump_tables(one);
  EXPECT_NE(rows.find("entries: "), std::string::npos);
  EXPECT_EQ(dump_tables(batched), rows);
  EXPECT_EQ(dump_tables(parts), rows);
  auto a = open_store(one);
  auto b = open_store(batched);
  auto c = open_store(parts);
  EXPECT_EQ(loaded(*b), loaded(*a));
  EXPECT_EQ(loaded(*c), loaded(*a));
  EXPECT_EQ(loaded(*a), dump_ledger(l));
}

// A part that cannot be written (a journal entry already there) leaves
// nothing of the batch, the parts written before it included, and the mark
// as it was; the store then takes the same sets in a new batch.
TEST(commit_batch, a_failed_part_leaves_nothing_of_its_batch) {
  ledger::ledger l;
  const std::vector<ledger::change_set> sets = workload(l, 13, 6);
  const ledger::change_set* again = sets[1].entries.empty() ? &sets[0] : &sets[1];
  ASSERT_FALSE(again->entries.empty());
  temp_dir dir;
  const std::string path = dir.file("x.db");
  std::string before;
  {
    auto s = open_store(path);
    must(s->commit_batch(pointers(sets, 0, 2), 2));
    before = dump_tables(path);
    must(s->begin_batch());
    must(s->write_batch_part(pointers(sets, 2, 4), true));
    const ledger::change_set* bad[] = {&sets[4], again};
    auto r = s->write_batch_part(bad, true);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().message.find(path), std::string::npos) << r.error().message;
    s->abort_batch();
    EXPECT_EQ(s->applied_log_seq(), 2u);
    EXPECT_EQ(dump_tables(path), before);
    must(s->begin_batch());
    must(s->write_batch_part(pointers(sets, 2, 4), true));
    must(s->write_batch_part(pointers(sets, 4, 6), true));
    must(s->finish_batch(6));
  }
  auto s = open_store(path);
  EXPECT_EQ(s->applied_log_seq(), 6u);
  EXPECT_EQ(loaded(*s), dump_ledger(l));
  EXPECT_EQ(*s->audit_journal(l), "");
}

// The mark is read back at open, before any load, and by load; commit()
// leaves it as it is; a batch of no sets records the mark alone.
TEST(commit_batch, the_mark_survives_a_reopen) {
  ledger::ledger l;
  const std::vector<ledger::change_set> sets = workload(l, 11, 3);
  temp_dir dir;
  const std::string path = dir.file("x.db");
  {
    auto s = open_store(path);
    EXPECT_EQ(s->applied_log_seq(), 0u);
    must(s->commit_batch(pointers(sets, 0, 2), 41));
    EXPECT_EQ(s->applied_log_seq(), 41u);
    must(s->commit(sets[2]));
    EXPECT_EQ(s->applied_log_seq(), 41u);
  }
  {
    auto s = open_store(path);
    EXPECT_EQ(s->applied_log_seq(), 41u);
    EXPECT_EQ(loaded(*s), dump_ledger(l));
    EXPECT_EQ(s->applied_log_seq(), 41u);
    must(s->commit_batch({}, 18'446'744'073'709'551'615ULL));
  }
  auto s = open_store(path);
  EXPECT_EQ(s->applied_log_seq(), 18'446'744'073'709'551'615ULL);
  EXPECT_EQ(loaded(*s), dump_ledger(l));
  EXPECT_EQ(*s->audit_journal(l), "");
}

// A batch whose last set cannot be written (its journal entries are there
// already: a primary key conflict) writes nothing: neither the rows of its
// first sets nor the mark, in memory or in the file; the store then takes
// the same sets again.
TEST(commit_batch, a_failed_batch_leaves_neither_rows_nor_the_mark) {
  ledger::ledger l;
  const std::vector<ledger::change_set> sets = workload(l, 13, 4);
  // A set of the first two with journal entries: written again, it conflicts.
  const ledger::change_set* again = sets[1].entries.empty() ? &sets[0] : &sets[1];
  ASSERT_FALSE(again->entries.empty());
  temp_dir dir;
  const std::string path = dir.file("x.db");
  std::string before;
  {
    auto s = open_store(path);
    must(s->commit_batch(pointers(sets, 0, 2), 5));
    before = dump_tables(path);
    std::vector<const ledger::change_set*> bad = pointers(sets, 2, 4);
    bad.push_back(again);
    auto r = s->commit_batch(bad, 9);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().message.find(path), std::string::npos) << r.error().message;
    EXPECT_EQ(s->applied_log_seq(), 5u);
    EXPECT_EQ(dump_tables(path), before);
  }
  {
    auto s = open_store(path);
    EXPECT_EQ(s->applied_log_seq(), 5u);
    EXPECT_EQ(dump_tables(path), before);
    must(s->commit_batch(pointers(sets, 2, 4), 9));
    EXPECT_EQ(s->applied_log_seq(), 9u);
  }
  auto s = open_store(path);
  EXPECT_EQ(s->applied_log_seq(), 9u);
  EXPECT_EQ(loaded(*s), dump_ledger(l));
}

// A mark altered outside creditd is refused at open, naming the row.
TEST(commit_batch, an_altered_mark_is_refused) {
  temp_dir dir;
  const std::string path = dir.file("x.db");
  must(open_store(path)->commit_batch({}, 3));
  {
    auto db = must(store::sqlite::database::open(path, false));
    must(db.exec("UPDATE meta SET value = '4' WHERE key = 'log_applied_seq'"));
  }
  auto s = store::sqlite::sqlite_store::open({path});
  ASSERT_FALSE(s.has_value());
  EXPECT_NE(s.error().message.find("log_applied_seq"), std::string::npos) << s.error().message;
}

// Rows written by several sets of one batch are written once: the batch
// writes each journal entry, the last copy of each account, lot, hold,
// charge and subscription, the counters and the mark; and the file holds
// what committing the sets one by one gives.
TEST(commit_batch, a_row_in_several_sets_is_written_once) {
  ledger::ledger l;
  const std::vector<ledger::change_set> sets = workload(l, 17, 8);
  std::size_t entries = 0, copies = 0;
  std::set<ledger::object_id> lots, holds, charges;
  std::set<std::string> accounts, subscriptions;
  for (std::size_t i = 1; i < sets.size(); ++i) {
    const ledger::change_set& cs = sets[i];
    entries += cs.entries.size();
    copies += cs.accounts.size() + cs.lots.size() + cs.holds.size() + cs.charges.size() +
              cs.subscriptions.size();
    for (const auto& a : cs.accounts)
      accounts.insert(a.id);
    for (const auto& x : cs.lots)
      lots.insert(x.id);
    for (const auto& x : cs.holds)
      holds.insert(x.id);
    for (const auto& x : cs.charges)
      charges.insert(x.id);
    for (const auto& x : cs.subscriptions)
      subscriptions.insert(x.owner->id);
  }
  const std::size_t distinct =
      accounts.size() + lots.size() + holds.size() + charges.size() + subscriptions.size();
  ASSERT_LT(distinct + 20, copies);  // the workload writes rows again and again

  // Sets 1..7 again, without what the batch does set by set (catalog,
  // purchases, periods, idempotency records), so that every row it writes
  // is counted above.
  std::vector<ledger::change_set> rows_only(sets.begin() + 1, sets.end());
  for (ledger::change_set& cs : rows_only) {
    cs.prices.clear();
    cs.prices_deleted.clear();
    cs.packages.clear();
    cs.plans.clear();
    cs.purchases.clear();
    cs.periods.clear();
    cs.idempotency_added.clear();
    cs.idempotency_expired_before = 0;
    cs.events.clear();
    cs.notices_until = 0;
  }
  ledger::time_us time_seen = 0;
  for (const ledger::change_set& cs : rows_only)
    time_seen = cs.time_seen != 0 ? cs.time_seen : time_seen;
  temp_dir dir;
  const std::string one = dir.file("one.db"), batched = dir.file("batched.db");
  auto a = open_store(one);
  auto b = open_store(batched);
  must(a->commit(sets[0]));
  must(b->commit(sets[0]));
  const std::int64_t a0 = a->rows_written(), b0 = b->rows_written();
  for (const ledger::change_set& cs : rows_only)
    must(a->commit(cs));
  std::vector<const ledger::change_set*> batch;
  for (const ledger::change_set& cs : rows_only)
    batch.push_back(&cs);
  must(b->commit_batch(batch, 7));
  // Entries, distinct rows, next_object_id and next_seq, time_seen, the
  // mark; and a second row for each lot new in the batch (its terms and its
  // amounts, schema migration 11).
  std::set<ledger::object_id> new_lots = lots;
  for (const auto& x : sets[0].lots)
    new_lots.erase(x.id);
  EXPECT_EQ(static_cast<std::size_t>(b->rows_written() - b0),
            entries + distinct + new_lots.size() + 2 + (time_seen != 0 ? 1 : 0) + 1);
  EXPECT_GT(a->rows_written() - a0, b->rows_written() - b0 + 20);
  a.reset();
  b.reset();
  EXPECT_EQ(dump_tables(batched), dump_tables(one));
}

// Behind the log, a batch's WAL pages are on their way to the disk when
// commit_batch returns (sync_file_range), instead of left dirty for the
// checkpoint's sync, where every commit of the log would wait behind them
// (docs/performance.md, "The applier's writes and the log's tail"). No
// checkpoint runs here (4,000 pages are far off). Skipped where cachestat
// is missing or the directory has no writeback (tmpfs).
TEST(commit_batch, behind_the_log_the_wal_is_written_back_without_waiting_for_a_checkpoint) {
  ledger::ledger l;
  const std::vector<ledger::change_set> sets = workload(l, 5, 12);
  temp_dir dir;
  struct statfs fs {};
  ASSERT_EQ(::statfs(dir.file("").c_str(), &fs), 0);
  if (fs.f_type == TMPFS_MAGIC) GTEST_SKIP() << "a tmpfs directory: no writeback";
  const std::string path = dir.file("ledger.db");
  auto s = open_store(path);
  must(s->defer_sync_to_log());
  must(s->commit_batch(pointers(sets, 0, 12), 12));
  const auto wal = cachestat_of(path + "-wal");
  if (!wal) GTEST_SKIP() << "no cachestat(2) here";
  EXPECT_GT(wal->cached, 0u);
  EXPECT_EQ(wal->dirty, 0u) << wal->writeback << " under writeback";
  EXPECT_EQ(s->durable_log_seq(), 0u);  // no checkpoint took them there
}
}  // namespace commit_batch_test_cpp
