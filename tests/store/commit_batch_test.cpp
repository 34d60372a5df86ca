// sqlite_store::commit_batch, the hook of the append-only log: several
// change sets in one transaction give exactly the rows and the journal that
// committing them one by one gives, the log's mark is written with them and
// survives a reopen, and a failed batch leaves neither rows nor mark.
#include <gtest/gtest.h>

#include <algorithm>
#include <expected>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "ledger/commerce.hpp"
#include "store/sqlite/sqlite_checksum.hpp"
#include "store/sqlite/sqlite_db.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "support/ledger_dump.hpp"
#include "support/temp_dir.hpp"

using namespace creditd;
using creditd::testing::dump_ledger;
using creditd::testing::temp_dir;
using ledger::micros;
using ledger::time_us;

namespace {

constexpr time_us t0 = 1'795'000'000LL * ledger::us_per_second;  // 2026-11-18
constexpr micros credit = ledger::micros_per_credit;

template <typename T, typename E>
T must(std::expected<T, E> r) {
  if (!r) {
    ADD_FAILURE() << "unexpected error: " << r.error().message;
    throw std::runtime_error("a call failed");
  }
  if constexpr (!std::is_void_v<T>) return std::move(*r);
}

std::unique_ptr<store::sqlite::sqlite_store> open_store(const std::string& path) {
  return must(store::sqlite::sqlite_store::open({path}));
}

// A seeded mix of commands on a few accounts, cut into `sets` change sets of
// about 40 commands: the same accounts, lots, holds, charges, prices,
// subscriptions and idempotency keys are written by many sets.
std::vector<ledger::change_set> workload(ledger::ledger& l, std::uint64_t seed, int sets) {
  std::mt19937_64 rng(seed);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<std::uint64_t>(n)); };
  std::vector<ledger::change_set> out;
  time_us now = t0;
  must(l.put_package({"pack-10", 10 * credit, 9'990'000, "usd", 30}, now));
  must(l.put_plan({"pro", 100 * credit, ledger::period_unit::month, 50 * credit}, now));
  must(l.put_plan({"basic", 20 * credit, ledger::period_unit::year, std::nullopt}, now));
  std::vector<ledger::object_id> holds, charges, lots;
  int step = 0;
  for (int s = 0; s < sets; ++s) {
    for (int i = 0; i < 40; ++i, ++step) {
      now += pick(3) * ledger::us_per_second;
      const std::string acct = "acct-" + std::to_string(pick(4));
      switch (pick(12)) {
        case 0:
          (void)l.put_account({acct, "Name " + std::to_string(step), ledger::account_settings{}},
                              now);
          break;
        case 1:
        case 2: {
          ledger::grant_cmd g;
          g.account = acct;
          g.amount = (1 + pick(100)) * credit / 4;
          if (pick(2)) g.expires_at = now + (1 + pick(60)) * ledger::us_per_second;
          if (auto r = l.grant(g, now)) lots.push_back((*r)->id);
          break;
        }
        case 3:
        case 4: {
          ledger::charge_cmd c;
          c.account = acct;
          c.amount = (1 + pick(40)) * credit / 8;
          c.operation = "image.generate";
          c.reference = "ref-" + std::to_string(step);
          if (auto r = l.charge(c, now)) charges.push_back((*r)->id);
          break;
        }
        case 5: {
          ledger::hold_cmd h;
          h.account = acct;
          h.amount = (1 + pick(20)) * credit / 2;
          h.operation = "image.upscale";
          h.ttl_seconds = 1 + pick(30);
          if (auto r = l.place_hold(h, now)) holds.push_back((*r)->id);
          break;
        }
        case 6:
          if (!holds.empty()) {
            const auto id = holds[static_cast<std::size_t>(pick(static_cast<int>(holds.size())))];
            if (pick(2)) {
              if (auto r = l.capture(id, std::nullopt, now)) charges.push_back((*r)->charge_id);
            } else {
              (void)l.release(id, now);
            }
          }
          break;
        case 7:
          if (!charges.empty()) {
            const auto id =
                charges[static_cast<std::size_t>(pick(static_cast<int>(charges.size())))];
            (void)l.refund({id, credit / 8, "oops"}, now);
          }
          break;
        case 8: {
          // A price upserted, deleted and upserted again across sets.
          const std::string id = "price-" + std::to_string(pick(3));
          if (pick(3) == 0) {
            (void)l.delete_price(id);
          } else {
            (void)l.put_price({id, "llm.tokens", {{"model", id}}, (1 + pick(9)) * 1000}, now);
          }
          break;
        }
        case 9: {
          ledger::purchase_cmd p;
          p.account = acct;
          p.package = "pack-10";
          p.reason = "test";
          if (pick(2)) {
            p.source = ledger::purchase_source::stripe;
            p.external_id = "evt_" + std::to_string(step);
          }
          (void)l.purchase(p, now);
          break;
        }
        case 10:
          (void)l.put_subscription({acct, pick(2) ? "pro" : "basic", std::nullopt, "UTC"}, now);
          break;
        case 11: {
          const std::string key = "key-" + std::to_string(step);
          if (auto found = l.idempotency_lookup(key, "fp"); found && *found == nullptr)
            l.idempotency_remember({key, "fp", 201, R"({"ok":true})", now});
          l.run_due(now);
          break;
        }
      }
    }
    out.push_back(l.take_changes());
  }
  EXPECT_EQ(l.check_all(), "");
  return out;
}

// Every row of every table the store writes, as sorted text, the meta rows
// of the log's mark and of probes apart (they differ by design).
std::string dump_tables(const std::string& path) {
  auto db = must(store::sqlite::database::open(path, false));
  std::string out;
  for (std::string_view table : store::sqlite::checksummed_tables) {
    const std::string sql = "SELECT * FROM " + std::string(table);
    sqlite3_stmt* raw = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db.raw(), sql.c_str(), -1, &raw, nullptr), SQLITE_OK) << sql;
    store::sqlite::statement q(raw);
    const int columns = sqlite3_column_count(raw);
    std::vector<std::string> rows;
    while (must(q.step())) {
      std::string row(table);
      for (int i = 0; i < columns; ++i)
        row += " " + store::sqlite::key_text(sqlite3_column_name(raw, i),
                                             store::sqlite::column_cell(q, i));
      if (table == "meta" &&
          (q.column_text(0) == "log_applied_seq" || q.column_text(0) == "probes"))
        continue;
      rows.push_back(std::move(row));
    }
    std::sort(rows.begin(), rows.end());
    out += std::string(table) + ": " + std::to_string(rows.size()) + " rows\n";
    for (const std::string& r : rows)
      out += r + "\n";
  }
  return out;
}

std::vector<const ledger::change_set*> pointers(const std::vector<ledger::change_set>& sets,
                                                std::size_t from, std::size_t to) {
  std::vector<const ledger::change_set*> out;
  for (std::size_t i = from; i < to; ++i)
    out.push_back(&sets[i]);
  return out;
}

std::string loaded(store::sqlite::sqlite_store& s) {
  ledger::ledger l;
  must(s.load(l, t0 + 3600 * ledger::us_per_second));
  return dump_ledger(l);
}

}  // namespace

// Twelve sets committed one by one into one file, and in batches (of 1, 4
// and 7 sets) into another: the same rows in every table (the journal
// included), the same ledger loaded back, and the audit passes.
TEST(commit_batch, equals_committing_the_sets_one_by_one) {
  ledger::ledger l;
  const std::vector<ledger::change_set> sets = workload(l, 7, 12);
  temp_dir dir;
  const std::string one = dir.file("one.db"), batched = dir.file("batched.db");
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
  }
  const std::string rows = dump_tables(one);
  EXPECT_NE(rows.find("entries: "), std::string::npos);
  EXPECT_EQ(dump_tables(batched), rows);
  auto a = open_store(one);
  auto b = open_store(batched);
  EXPECT_EQ(loaded(*b), loaded(*a));
  EXPECT_EQ(loaded(*a), dump_ledger(l));
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
