// The embedded store: what is committed comes back exactly on reopen, the
// journal replays to the same lots, and refusals name the file.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <expected>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <stdexcept>
#include <thread>

#include "engine/engine.hpp"
#include "ledger/limits.hpp"
#include "store/codec.hpp"
#include "store/schema.hpp"
#include "store/sqlite/sqlite_reader.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "support/eventually.hpp"
#include "support/fn_task.hpp"
#include "support/ledger_dump.hpp"
#include "support/old_schema.hpp"
#include "support/stored_history.hpp"
#include "support/temp_dir.hpp"

namespace sqlite_store_test_cpp {  // unity builds: tests/CMakeLists.txt

using namespace creditd;
using creditd::testing::admit_stored_history;
using creditd::testing::dump_entry;
using creditd::testing::dump_ledger;
using creditd::testing::eventually;
using creditd::testing::run_durably;
using creditd::testing::temp_dir;
using ledger::micros;
using ledger::time_us;

namespace {

constexpr time_us t0 = 1'795'000'000LL * ledger::us_per_second;  // 2026-11-18
constexpr micros credit = ledger::micros_per_credit;

// The value of a result, or a test failure naming the error (thrown, so that
// gtest reports it and ends the test): reading * or -> of a failed
// std::expected is undefined behaviour.
template <typename T, typename E>
T must(std::expected<T, E> r) {
  if (!r) {
    ADD_FAILURE() << "unexpected error: " << r.error().message;
    throw std::runtime_error("a call failed");
  }
  return std::move(*r);
}

// The store, or a test failure (thrown): never a null pointer to call through.
std::unique_ptr<store::sqlite::sqlite_store> open_store(const std::string& path) {
  return must(store::sqlite::sqlite_store::open({path}));
}

// A seeded mix of every command, touching accounts, lots, holds, charges
// (zero amounts, quantities and metadata included), refunds and idempotency
// keys, committed every 97 steps. `journal` receives every committed entry.
void random_workload(ledger::ledger& l, store::store& s, std::uint64_t seed, int steps,
                     time_us& now, std::vector<std::string>* keys = nullptr,
                     std::vector<std::string>* journal = nullptr) {
  std::mt19937_64 rng(seed);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<std::uint64_t>(n)); };
  auto quantity = [&] {
    switch (pick(4)) {
      case 0:
        return (1 + pick(100)) * credit;
      case 1:
        return static_cast<micros>(1 + pick(999'999));
      default:
        return credit;
    }
  };
  auto metadata = [&](int step) {
    return pick(3) == 0 ? R"({"job":"j-)" + std::to_string(step) + R"(","n":1})" : std::string();
  };
  auto commit = [&] {
    const ledger::change_set cs = l.take_changes();
    if (journal) {
      for (const ledger::entry& e : cs.entries)
        journal->push_back(dump_entry(e, e.owner->id));
    }
    return s.commit(cs);
  };
  std::vector<ledger::object_id> holds, charges, lots;
  for (int step = 0; step < steps; ++step) {
    now += pick(5) * ledger::us_per_second;
    const std::string acct = "acct-" + std::to_string(pick(20));
    switch (pick(10)) {
      case 0: {
        ledger::account_cmd c{acct, "Name " + acct, ledger::account_settings{}};
        c.settings->reserve = pick(3) * credit;
        c.settings->postpaid_limit = pick(2) * 5 * credit;
        c.settings->low_balance_thresholds = {credit, 10 * credit};
        (void)l.put_account(c, now);
        break;
      }
      case 1:
      case 2: {
        ledger::grant_cmd g;
        g.account = acct;
        g.amount = (1 + pick(100)) * credit / 4;
        g.kind = static_cast<ledger::lot_kind>(pick(3));
        if (pick(2)) g.expires_at = now + (1 + pick(120)) * ledger::us_per_second;
        if (pick(4) == 0) g.scope = {"image.*"};
        g.cost_basis = pick(1000);
        g.currency = "usd";
        if (auto r = l.grant(g, now)) lots.push_back((*r)->id);
        break;
      }
      case 3:
      case 4: {
        ledger::charge_cmd c{acct,
                             pick(8) == 0 ? 0 : (1 + pick(40)) * credit / 8,
                             pick(2) ? "image.generate" : "llm.tokens",
                             R"({"model":"m1"})",
                             "ref-" + std::to_string(step),
                             pick(5) == 0,
                             quantity(),
                             metadata(step)};
        if (auto r = l.charge(c, now)) charges.push_back((*r)->id);
        break;
      }
      case 5: {
        ledger::hold_cmd h{acct,
                           pick(8) == 0 ? 0 : (1 + pick(20)) * credit / 2,
                           "image.upscale",
                           "",
                           "",
                           false,
                           1 + pick(60),
                           quantity(),
                           metadata(step)};
        if (auto r = l.place_hold(h, now)) holds.push_back((*r)->id);
        break;
      }
      case 6:
        if (!holds.empty()) {
          const auto id = holds[static_cast<std::size_t>(pick(static_cast<int>(holds.size())))];
          if (pick(2)) {
            // All, or now and then nothing (a capture of 0 returns everything).
            const auto amount = pick(4) == 0 ? std::optional<micros>(0) : std::nullopt;
            if (auto r = l.capture(id, amount, now)) charges.push_back((*r)->charge_id);
          } else {
            (void)l.release(id, now);
          }
        }
        break;
      case 7:
        if (!charges.empty()) {
          const auto id = charges[static_cast<std::size_t>(pick(static_cast<int>(charges.size())))];
          (void)l.refund({id, pick(2) ? std::optional<micros>(credit / 8) : std::nullopt, "oops"},
                         now);
        }
        break;
      case 8:
        if (!lots.empty() && pick(4) == 0) {
          (void)l.void_lot(lots[static_cast<std::size_t>(pick(static_cast<int>(lots.size())))],
                           "fraud", now);
        } else {
          (void)l.adjust({acct, (pick(2) ? 1 : -1) * credit, "goodwill"}, now);
        }
        break;
      case 9: {
        const std::string key = "key-" + std::to_string(step);
        if (auto found = l.idempotency_lookup(key, "fp"); found && *found == nullptr) {
          l.idempotency_remember({key, "fp", 201, R"({"ok":true})", now});
          if (keys) keys->push_back(key);
        }
        l.run_due(now);
        break;
      }
    }
    if (step % 97 == 0) {
      auto r = commit();
      ASSERT_TRUE(r.has_value()) << r.error().message;
    }
  }
  auto r = commit();
  ASSERT_TRUE(r.has_value()) << r.error().message;
  ASSERT_EQ(l.check_all(), "");
}

// Every entry of accounts acct-0..acct-19 read back through the journal
// reader, in pages, as dump_entry text in seq order.
std::vector<std::string> read_journal(const std::string& path) {
  store::sqlite::sqlite_reader reader(path);
  std::map<std::uint64_t, std::string> by_seq;
  for (int i = 0; i < 20; ++i) {
    const std::string acct = "acct-" + std::to_string(i);
    std::uint64_t after = 0;
    while (true) {
      auto page = reader.entries(acct, after, 500);
      EXPECT_TRUE(page.has_value()) << (page ? "" : page.error().message);
      if (!page || page->empty()) break;
      for (const store::stored_entry& se : *page) {
        EXPECT_EQ(se.account, acct);
        by_seq[se.e.seq] = dump_entry(se.e, se.account);
        after = se.e.seq;
      }
    }
  }
  std::vector<std::string> out;
  for (auto& [seq, text] : by_seq)
    out.push_back(std::move(text));
  return out;
}

}  // namespace

TEST(sqlite_store, reopen_restores_exactly_what_was_committed) {
  temp_dir dir;
  const std::string path = dir.file("ledger.db");
  std::string before;
  std::vector<std::string> keys, journal;
  time_us now = t0;
  {
    auto s = open_store(path);
    ledger::ledger l;
    ASSERT_TRUE(s->load(l, now).has_value());
    random_workload(l, *s, 42, 5000, now, &keys, &journal);
    before = dump_ledger(l);
    auto audit = s->audit_journal(l);
    ASSERT_TRUE(audit.has_value());
    EXPECT_EQ(*audit, "");
  }
  auto s = open_store(path);
  ledger::ledger l;
  auto loaded = s->load(l, now);
  ASSERT_TRUE(loaded.has_value()) << loaded.error().message;
  ASSERT_TRUE(admit_stored_history(l, path));  // the workload below refunds old charges
  EXPECT_EQ(dump_ledger(l, path), before);
  EXPECT_EQ(must(s->audit_journal(l)), "");
  // Keys younger than the retention come back; a replay is found.
  ASSERT_GT(keys.size(), 100u);
  for (const std::string& key : keys) {
    auto found = l.idempotency_lookup(key, "fp");
    ASSERT_TRUE(found.has_value());
    ASSERT_NE(*found, nullptr) << key;
    EXPECT_EQ((*found)->body, R"({"ok":true})");
  }
  EXPECT_FALSE(l.idempotency_lookup(keys[0], "other").has_value());

  // Every committed entry reads back whole, quantity and metadata included.
  // The workload exercises what the comparison needs to mean something.
  ASSERT_GT(journal.size(), 3000u);
  auto count = [&](std::string_view what) {
    return std::count_if(journal.begin(), journal.end(),
                         [&](const std::string& e) { return e.find(what) != std::string::npos; });
  };
  EXPECT_GT(count(" charge amount=0 "), 20);
  EXPECT_GT(count(" hold amount=0 "), 5);
  EXPECT_GT(count(" capture amount=0 "), 0);
  EXPECT_GT(count(R"( meta={"job":"j-)"), 200);
  EXPECT_GT(count(" capture "), count(R"( capture amount=0 )"));
  EXPECT_EQ(read_journal(path), journal);

  // The reloaded ledger goes on where the old one stopped.
  random_workload(l, *s, 43, 2000, now, nullptr, &journal);
  const std::string after = dump_ledger(l, path);
  s.reset();
  auto s2 = open_store(path);
  ledger::ledger l2;
  ASSERT_TRUE(s2->load(l2, now).has_value());
  EXPECT_EQ(dump_ledger(l2, path), after);
  EXPECT_EQ(must(s2->audit_journal(l2)), "");
  EXPECT_EQ(read_journal(path), journal);
}

// The quantity and metadata of a charge, a hold and the charge its capture
// makes: written by commit, restored by load (holds) and read back by the
// journal reader (entries), exactly as the ledger recorded them.
TEST(sqlite_store, keeps_quantity_and_metadata) {
  temp_dir dir;
  const std::string path = dir.file("usage.db");
  const std::string meta_c = R"({"job":"j-1","tags":["a"]})";
  const std::string meta_h = R"({"job":"j-2"})";
  ledger::object_id open_hold = 0, captured_hold = 0;
  {
    auto s = open_store(path);
    ledger::ledger l;
    ASSERT_TRUE(s->load(l, t0).has_value());
    ASSERT_TRUE(l.put_account({"acct-0", std::nullopt, std::nullopt}, t0).has_value());
    ASSERT_TRUE(l.grant({.account = "acct-0", .amount = 10 * credit}, t0).has_value());
    ledger::charge_cmd c{.account = "acct-0", .amount = 2 * credit, .operation = "llm.tokens"};
    c.quantity = 2'500'000;
    c.metadata = meta_c;
    ASSERT_TRUE(l.charge(c, t0).has_value());
    ledger::hold_cmd h{.account = "acct-0", .amount = 3 * credit, .operation = "image.generate"};
    h.quantity = 3 * credit;
    h.metadata = meta_h;
    captured_hold = must(l.place_hold(h, t0))->id;
    h.amount = 0;
    h.quantity = 7;
    open_hold = must(l.place_hold(h, t0))->id;
    ASSERT_TRUE(s->commit(l.take_changes()).has_value());
    // The capture in a later commit: the hold row is updated, its fields kept.
    ASSERT_TRUE(l.capture(captured_hold, credit, t0 + ledger::us_per_second).has_value());
    ASSERT_TRUE(s->commit(l.take_changes()).has_value());
  }
  auto s = open_store(path);
  ledger::ledger l;
  ASSERT_TRUE(s->load(l, t0 + ledger::us_per_second).has_value());
  // The captured hold is closed: not loaded, read as a hold request reads it.
  EXPECT_EQ(l.find_hold(captured_hold), nullptr);
  auto stored = store::sqlite::sqlite_reader(path).hold(captured_hold);
  ASSERT_TRUE(stored && *stored);
  const ledger::hold* a = &(*stored)->h;
  const ledger::hold* b = l.find_hold(open_hold);
  ASSERT_TRUE(b);
  EXPECT_EQ((*stored)->account, "acct-0");
  EXPECT_EQ(a->status, ledger::hold_status::captured);
  EXPECT_EQ(a->quantity, 3 * credit);
  EXPECT_EQ(a->metadata, meta_h);
  EXPECT_EQ(b->status, ledger::hold_status::open);
  EXPECT_EQ(b->amount, 0);
  EXPECT_EQ(b->quantity, 7);
  EXPECT_EQ(b->metadata, meta_h);

  store::sqlite::sqlite_reader reader(path);
  auto es = reader.entries("acct-0", 0, 100);
  ASSERT_TRUE(es.has_value()) << es.error().message;
  std::vector<std::string> got;
  for (const store::stored_entry& se : *es) {
    got.push_back(std::string(ledger::to_string(se.e.type)) + " " + std::to_string(se.e.amount) +
                  " qty=" + std::to_string(se.e.quantity) + " meta=" + se.e.metadata);
  }
  const std::vector<std::string> want = {
      "grant 10000000 qty=1000000 meta=",           "charge 2000000 qty=2500000 meta=" + meta_c,
      "hold 3000000 qty=3000000 meta=" + meta_h,    "hold 0 qty=7 meta=" + meta_h,
      "capture 1000000 qty=3000000 meta=" + meta_h, "release 2000000 qty=1000000 meta=",
  };
  EXPECT_EQ(got, want);
}

// A file from before migration 4 (no quantity or metadata columns): opening
// it adds them, and its rows read the defaults (quantity 1, no metadata).
TEST(sqlite_store, migration_4_gives_older_rows_the_defaults) {
  temp_dir dir;
  const std::string path = dir.file("v3.db");
  {
    auto db = store::sqlite::database::open(path, true);
    ASSERT_TRUE(db.has_value());
    std::string sql = creditd::testing::schema_sql_up_to(3);
    std::string settings;
    store::encode_settings(settings, {});
    const std::string t = std::to_string(t0);
    const std::string until = std::to_string(t0 + 600 * ledger::us_per_second);
    const std::string month = std::to_string(ledger::month_index(t0));
    sql += "INSERT INTO accounts VALUES ('acct-0', '', '" + settings + "', 0, " + month + ", " + t +
           ", " + t + ");";
    sql += "INSERT INTO holds VALUES (5, 'acct-0', 'open', 0, 0, '[]', 'llm.tokens', '', 'r', " +
           t + ", " + until + ", 0, 0, " + month + ");";
    sql +=
        "INSERT INTO entries VALUES (1, 'acct-0', 'hold', 0, 0, 0, 0, 5, 0, '[]', "
        "'llm.tokens', '', 'r', '', " +
        t + ");";
    sql += "INSERT INTO meta VALUES ('next_object_id', '6'), ('next_seq', '2');";
    auto r = db->exec(sql.c_str());
    ASSERT_TRUE(r.has_value()) << r.error().message;
  }
  {
    auto s = open_store(path);
    ASSERT_NE(s, nullptr);
    ledger::ledger l;
    auto loaded = s->load(l, t0);
    ASSERT_TRUE(loaded.has_value()) << loaded.error().message;
    const ledger::hold* h = l.find_hold(5);
    ASSERT_NE(h, nullptr);
    EXPECT_EQ(h->quantity, ledger::micros_per_credit);
    EXPECT_EQ(h->metadata, "");
    // The old hold is captured (for 0): its charge inherits the defaults.
    ASSERT_TRUE(l.capture(5, std::nullopt, t0).has_value());
    ASSERT_TRUE(s->commit(l.take_changes()).has_value());
    EXPECT_EQ(*s->audit_journal(l), "");
  }
  {
    auto db = store::sqlite::database::open(path, false);
    auto q = db->prepare("SELECT MAX(version) FROM schema_migrations");
    ASSERT_TRUE(q.has_value() && q->step().value_or(false));
    EXPECT_EQ(q->column_int(0), store::schema_version_latest);
    EXPECT_GE(store::schema_version_latest, 4);
  }
  store::sqlite::sqlite_reader reader(path);
  auto es = reader.entries("acct-0", 0, 10);
  ASSERT_TRUE(es.has_value()) << es.error().message;
  ASSERT_EQ(es->size(), 2u);
  for (const store::stored_entry& se : *es) {
    EXPECT_EQ(se.e.quantity, ledger::micros_per_credit) << se.e.seq;
    EXPECT_EQ(se.e.metadata, "") << se.e.seq;
  }
  EXPECT_EQ((*es)[1].e.type, ledger::entry_type::capture);
}

TEST(sqlite_store, a_second_process_cannot_open_the_same_file) {
  temp_dir dir;
  auto first = open_store(dir.file("x.db"));
  auto second = store::sqlite::sqlite_store::open({dir.file("x.db")});
  ASSERT_FALSE(second.has_value());
  EXPECT_NE(second.error().message.find("in use by another creditd process"), std::string::npos);
}

TEST(sqlite_store, refuses_a_file_from_a_newer_schema) {
  temp_dir dir;
  const std::string path = dir.file("new.db");
  {
    auto db = store::sqlite::database::open(path, true);
    ASSERT_TRUE(db->exec("CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, applied_at "
                         "BIGINT NOT NULL);"
                         "INSERT INTO schema_migrations VALUES (99, 0);")
                    .has_value());
  }
  auto s = store::sqlite::sqlite_store::open({path});
  ASSERT_FALSE(s.has_value());
  EXPECT_NE(s.error().message.find("newer than this creditd"), std::string::npos);
  EXPECT_NE(s.error().message.find(path), std::string::npos);
}

TEST(sqlite_store, refuses_to_load_an_inconsistent_file) {
  temp_dir dir;
  const std::string path = dir.file("bad.db");
  {
    auto s = open_store(path);
    ledger::ledger l;
    ASSERT_TRUE(s->load(l, t0).has_value());
    ASSERT_TRUE(l.put_account({"a", std::nullopt, std::nullopt}, t0).has_value());
    ASSERT_TRUE(l.grant({.account = "a", .amount = 10 * credit}, t0).has_value());
    ASSERT_TRUE(s->commit(l.take_changes()).has_value());
  }
  {
    auto db = store::sqlite::database::open(path, false);
    ASSERT_TRUE(db.has_value()) << db.error().message;
    ASSERT_TRUE(db->exec("UPDATE lots SET remaining = remaining + 1").has_value());
  }
  auto s = open_store(path);
  ledger::ledger l;
  auto r = s->load(l, t0);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("inconsistent"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find(path), std::string::npos);
}

// Each page of the file in turn (after the header page) is overwritten with
// noise in a copy: opening, loading or `creditd check`'s audit must refuse it,
// naming the file. Free pages hold nothing, so damage there may pass.
TEST(sqlite_store, damaged_file_is_refused_naming_it) {
  temp_dir dir;
  const std::string path = dir.file("whole.db");
  time_us now = t0;
  {
    auto s = open_store(path);
    ledger::ledger l;
    ASSERT_TRUE(s->load(l, now).has_value());
    random_workload(l, *s, 7, 600, now);
  }  // the last close checkpoints the WAL into the file
  const auto size = std::filesystem::file_size(path);
  const std::uint64_t page = 4096, pages = size / page;
  ASSERT_GT(pages, 8u);
  std::uint64_t freelist = 0;
  {
    auto db = store::sqlite::database::open(path, false);
    ASSERT_TRUE(db.has_value()) << db.error().message;
    auto q = db->prepare("PRAGMA freelist_count");
    ASSERT_TRUE(q.has_value() && q->step().value_or(false));
    freelist = static_cast<std::uint64_t>(q->column_int(0));
  }
  std::mt19937_64 rng(11);
  std::uint64_t refused = 0;
  for (std::uint64_t p = 1; p < pages; ++p) {
    const std::string copy = dir.file("damaged-" + std::to_string(p) + ".db");
    std::filesystem::copy_file(path, copy);
    {
      std::fstream f(copy, std::ios::in | std::ios::out | std::ios::binary);
      std::string noise(page, '\0');
      for (char& c : noise)
        c = static_cast<char>(rng());
      f.seekp(static_cast<std::streamoff>(p * page));
      f.write(noise.data(), static_cast<std::streamsize>(noise.size()));
    }
    std::string message;
    auto s = store::sqlite::sqlite_store::open({copy});
    if (!s) {
      message = s.error().message;
    } else {
      ledger::ledger l;
      auto loaded = (*s)->load(l, now);
      if (!loaded) {
        message = loaded.error().message;
      } else {
        auto audit = (*s)->audit_journal(l);
        message = audit ? *audit : audit.error().message;
      }
    }
    if (!message.empty()) {
      ++refused;
      EXPECT_NE(message.find(copy), std::string::npos) << "page " << p << ": " << message;
    }
    std::filesystem::remove(copy);
  }
  std::printf("refused %llu of %llu damaged pages (%llu free)\n",
              static_cast<unsigned long long>(refused), static_cast<unsigned long long>(pages - 1),
              static_cast<unsigned long long>(freelist));
  EXPECT_GE(refused, pages - 1 - freelist) << "of " << pages - 1 << " damaged pages";
}

namespace {
// Delegates to a real store until told to fail, like a disk that fills up.
class failing_store final : public creditd::store::store {
 public:
  explicit failing_store(creditd::store::store& inner) : inner_(inner) {}
  std::expected<void, creditd::store::store_error> load(ledger::ledger& l, time_us now) override {
    return inner_.load(l, now);
  }
  std::expected<void, creditd::store::store_error> commit(const ledger::change_set& c) override {
    if (fail_.load()) return std::unexpected(creditd::store::store_error{"injected: disk full"});
    return inner_.commit(c);
  }
  std::expected<void, creditd::store::store_error> probe() override {
    if (fail_.load()) return std::unexpected(creditd::store::store_error{"injected: disk full"});
    return inner_.probe();
  }
  std::atomic<bool> fail_{false};

 private:
  creditd::store::store& inner_;
};
}  // namespace

// What the engine completed as durable is in the file after a stop and a
// reopen. (Whether it was there already when the task completed, before any
// flush at stop, is engine_commits.every_task_is_committed_in_the_file_when_
// it_completes, in engine_commit_test.cpp: this test alone would pass an
// engine that answered before committing.)
TEST(engine, every_task_completed_durably_is_in_the_file_after_a_restart) {
  temp_dir dir;
  const std::string path = dir.file("e.db");
  std::vector<ledger::object_id> durable_charges;
  {
    auto s = open_store(path);
    ledger::ledger l;
    ASSERT_TRUE(s->load(l, t0).has_value());
    engine::engine e(l, *s, {.clock = [] { return t0; }});
    ASSERT_TRUE(run_durably(e, [](ledger::ledger& l, time_us now) {
      for (int i = 0; i < 8; ++i) {
        const std::string id = "t" + std::to_string(i);
        ASSERT_TRUE(l.put_account({id, std::nullopt, std::nullopt}, now).has_value());
        ASSERT_TRUE(l.grant({.account = id, .amount = 1000 * credit}, now).has_value());
      }
    }));
    // Eight threads submit charges concurrently.
    std::mutex mu;
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 200; ++i) {
          ledger::object_id id = 0;
          const bool ok = run_durably(e, [&](ledger::ledger& l, time_us now) {
            auto r =
                l.charge({"t" + std::to_string(t), credit, "image.generate", "", "", false}, now);
            ASSERT_TRUE(r.has_value());
            id = (*r)->id;
          });
          ASSERT_TRUE(ok);
          std::lock_guard lock(mu);
          durable_charges.push_back(id);
        }
      });
    }
    for (auto& th : threads)
      th.join();
    e.stop();
    EXPECT_EQ(e.stats().tasks, 1u + 8 * 200);
  }
  auto s = open_store(path);
  ledger::ledger l;
  ASSERT_TRUE(s->load(l, t0).has_value());
  ASSERT_TRUE(admit_stored_history(l, path));
  ASSERT_EQ(durable_charges.size(), 1600u);
  for (ledger::object_id id : durable_charges)
    ASSERT_NE(l.find_charge(id), nullptr) << id;
  for (int t = 0; t < 8; ++t) {
    EXPECT_EQ(l.balance(*l.find_account("t" + std::to_string(t)), t0).available, 800 * credit);
  }
  EXPECT_EQ(*s->audit_journal(l), "");
}

TEST(engine, refuses_writes_serves_reads_and_recovers_after_a_failed_commit) {
  temp_dir dir;
  const std::string path = dir.file("f.db");
  ledger::object_id acknowledged = 0, refused = 0, after = 0;
  {
    auto real = open_store(path);
    failing_store s(*real);
    ledger::ledger l;
    ASSERT_TRUE(s.load(l, t0).has_value());
    engine::engine e(l, s, {.clock = [] { return t0; }, .recovery_interval_us = 1000});
    ASSERT_TRUE(run_durably(e, [&](ledger::ledger& l, time_us now) {
      ASSERT_TRUE(l.put_account({"a", std::nullopt, std::nullopt}, now).has_value());
      ASSERT_TRUE(l.grant({.account = "a", .amount = 100 * credit}, now).has_value());
      auto r = l.charge({"a", credit, "op", "", "", false}, now);
      ASSERT_TRUE(r.has_value()) << r.error().message;
      acknowledged = (*r)->id;
    }));
    s.fail_ = true;
    EXPECT_FALSE(run_durably(e, [&](ledger::ledger& l, time_us now) {
      auto r = l.charge({"a", credit, "op", "", "", false}, now);
      ASSERT_TRUE(r.has_value()) << r.error().message;
      refused = (*r)->id;
    }));
    EXPECT_TRUE(e.failed());
    EXPECT_NE(e.failure().find("disk full"), std::string::npos);
    // Writes stay refused while the fault lasts, unapplied.
    for (int i = 0; i < 3; ++i) {
      creditd::testing::fn_task write([](ledger::ledger&, time_us) {});
      e.submit(&write);
      EXPECT_FALSE(write.wait());
      EXPECT_FALSE(write.applied());
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    // Reads are served from what the store holds: the refused charge is gone.
    micros seen = 0;
    bool refused_visible = true;
    creditd::testing::fn_task read(
        [&](ledger::ledger& l, time_us now) {
          seen = l.balance(*l.find_account("a"), now).available;
          refused_visible = l.find_charge(refused) != nullptr;
        },
        true);
    e.submit(&read);
    EXPECT_TRUE(read.wait());
    EXPECT_EQ(seen, 99 * credit);
    EXPECT_FALSE(refused_visible);
    // The fault clears: a probe succeeds within a few intervals and writes resume.
    s.fail_ = false;
    eventually([&] { return !e.failed(); });
    ASSERT_FALSE(e.failed());
    EXPECT_EQ(e.failure(), "");
    EXPECT_EQ(e.stats().failures, 1u);
    EXPECT_EQ(e.stats().recoveries, 1u);
    ASSERT_TRUE(run_durably(e, [&](ledger::ledger& l, time_us now) {
      auto r = l.charge({"a", credit, "op", "", "", false}, now);
      ASSERT_TRUE(r.has_value());
      after = (*r)->id;
    }));
  }
  auto s = open_store(path);
  ledger::ledger l;
  ASSERT_TRUE(s->load(l, t0).has_value());
  ASSERT_TRUE(admit_stored_history(l, path));
  EXPECT_NE(l.find_charge(acknowledged), nullptr);
  EXPECT_NE(l.find_charge(after), nullptr);
  EXPECT_EQ(l.balance(*l.find_account("a"), t0).available, 98 * credit);
  EXPECT_EQ(must(s->audit_journal(l)), "");
}

TEST(engine, runs_time_driven_work_on_its_own) {
  temp_dir dir;
  auto s = open_store(dir.file("t.db"));
  ledger::ledger l;
  ASSERT_TRUE(s->load(l, t0).has_value());
  std::atomic<time_us> clock{t0};
  engine::engine e(l, *s, {.clock = [&] { return clock.load(); }, .idle_wakeup_us = 1000});
  ASSERT_TRUE(run_durably(e, [](ledger::ledger& l, time_us now) {
    ASSERT_TRUE(l.put_account({"a", std::nullopt, std::nullopt}, now).has_value());
    ASSERT_TRUE(
        l.grant(
             {.account = "a", .amount = 5 * credit, .expires_at = now + 10 * ledger::us_per_second},
             now)
            .has_value());
  }));
  clock = t0 + 11 * ledger::us_per_second;
  // Without any task touching the account, the expiry is written.
  for (int i = 0; i < 2000; ++i) {
    std::string status;
    ASSERT_TRUE(run_durably(e, [&](ledger::ledger& l, time_us) {
      status = ledger::to_string(l.find_account("a")->lots[0]->status);
    }));
    if (status == "expired") return;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  FAIL() << "the lot expiry was never applied";
}

// A key used again after its retention: the insert of the new record and the
// expiry of the old one land in one commit, and a row left in the file from
// before a restart (skipped at load) must not make any commit fail. A failed
// commit here took every client's writes down (issue 9).
TEST(sqlite_store, an_expired_idempotency_key_can_be_used_again_in_one_commit) {
  temp_dir dir;
  const std::string path = dir.file("keys.db");
  const time_us retention = ledger::limits::idempotency_retention_seconds * ledger::us_per_second;
  time_us now = t0;
  {
    auto s = open_store(path);
    ledger::ledger l;
    ASSERT_TRUE(s->load(l, now).has_value());
    l.idempotency_remember({"k9", "fp-1", 201, R"({"n":1})", now});
    ASSERT_TRUE(s->commit(l.take_changes()).has_value());
    // Past the retention: the expiry and the reuse in the same change set.
    now += retention + ledger::us_per_second;
    l.idempotency_forget_before(now - retention);
    ASSERT_EQ(must(l.idempotency_lookup("k9", "fp-2")), nullptr);
    l.idempotency_remember({"k9", "fp-2", 201, R"({"n":2})", now});
    auto committed = s->commit(l.take_changes());
    ASSERT_TRUE(committed.has_value()) << committed.error().message;
  }
  {
    // A restart long after: the row is older than the window, skipped at
    // load, still in the file; the key is used again before any expiry ran.
    now += retention + ledger::us_per_second;
    auto s = open_store(path);
    ledger::ledger l;
    ASSERT_TRUE(s->load(l, now).has_value());
    ASSERT_EQ(must(l.idempotency_lookup("k9", "fp-3")), nullptr);
    l.idempotency_remember({"k9", "fp-3", 201, R"({"n":3})", now});
    auto committed = s->commit(l.take_changes());
    ASSERT_TRUE(committed.has_value()) << committed.error().message;
    // Other keys keep committing.
    l.idempotency_remember({"other", "fp", 201, "{}", now});
    ASSERT_TRUE(s->commit(l.take_changes()).has_value());
  }
  {
    // The newest record is the one that comes back; an expiry by age then
    // removes old rows from the file, not only from memory.
    auto s = open_store(path);
    ledger::ledger l;
    ASSERT_TRUE(s->load(l, now).has_value());
    auto found = l.idempotency_lookup("k9", "fp-3");
    ASSERT_TRUE(found.has_value());
    ASSERT_NE(*found, nullptr);
    EXPECT_EQ((*found)->body, R"({"n":3})");
    l.idempotency_forget_before(now + 1);
    ASSERT_TRUE(s->commit(l.take_changes()).has_value());
  }
  auto s = open_store(path);
  ledger::ledger l;
  ASSERT_TRUE(s->load(l, t0).has_value());  // loading as of t0 would show every row left
  EXPECT_EQ(must(l.idempotency_lookup("k9", "fp-x")), nullptr);
  EXPECT_EQ(must(l.idempotency_lookup("other", "fp-x")), nullptr);
}

// Postpaid use is per UTC month, on fixed instants on each side of a month
// boundary (never the real clock, whose month a run may straddle): November's
// use, stored and reloaded, still counts on November's last microsecond and
// not on December's first; a November hold released, and a November charge
// refunded, in December give nothing back to December's credit.
TEST(sqlite_store, postpaid_use_is_kept_per_utc_month_across_a_reload) {
  temp_dir dir;
  const std::string path = dir.file("postpaid.db");
  constexpr time_us dec1 = 1'796'083'200LL * ledger::us_per_second;  // 2026-12-01T00:00:00Z
  constexpr time_us nov_last = dec1 - 1;
  ledger::object_id nov_hold = 0, nov_charge = 0;
  auto balance = [](const ledger::ledger& l, time_us at) {
    return l.balance(*l.find_account("a"), at);
  };
  {
    auto s = open_store(path);
    ledger::ledger l;
    ASSERT_TRUE(s->load(l, dec1 - 60 * ledger::us_per_second).has_value());
    ledger::account_cmd a{"a", std::nullopt, ledger::account_settings{}};
    a.settings->postpaid_limit = 10 * credit;
    must(l.put_account(a, dec1 - 60 * ledger::us_per_second));
    nov_charge = must(l.charge({"a", 4 * credit, "op", "", "", false}, dec1 - 10'000'000))->id;
    // The last microsecond of November: still November's credit.
    ledger::hold_cmd h{.account = "a", .amount = 2 * credit, .operation = "op"};
    h.ttl_seconds = 3600;
    nov_hold = must(l.place_hold(h, nov_last))->id;
    EXPECT_EQ(balance(l, nov_last).postpaid_used, 6 * credit);
    ASSERT_TRUE(s->commit(l.take_changes()).has_value());
  }
  {
    // Reloaded on November's last microsecond: November's use counts.
    auto s = open_store(path);
    ledger::ledger l;
    ASSERT_TRUE(s->load(l, nov_last).has_value());
    EXPECT_EQ(balance(l, nov_last).postpaid_used, 6 * credit);
    EXPECT_EQ(balance(l, nov_last).available, 4 * credit);
    EXPECT_EQ(l.find_account("a")->postpaid_period, ledger::month_index(nov_last));
    // On December's first: a whole new month of credit, the hold still open.
    EXPECT_EQ(balance(l, dec1).postpaid_used, 0);
    EXPECT_EQ(balance(l, dec1).available, 10 * credit);
    EXPECT_EQ(balance(l, dec1).held, 2 * credit);
  }
  {
    auto s = open_store(path);
    ledger::ledger l;
    ASSERT_TRUE(s->load(l, dec1).has_value());
    // The refund below reads its charge back, as the service does.
    ASSERT_TRUE(admit_stored_history(l, path));
    const ledger::charge_record& dec_charge =
        *must(l.charge({"a", 10 * credit, "op", "", "", false}, dec1));
    EXPECT_EQ(dec_charge.postpaid_period, ledger::month_index(dec1));
    must(l.release(nov_hold, dec1 + ledger::us_per_second));
    must(l.refund({nov_charge, std::nullopt, "late"}, dec1 + 2 * ledger::us_per_second));
    EXPECT_EQ(balance(l, dec1 + 2 * ledger::us_per_second).postpaid_used, 10 * credit);
    EXPECT_EQ(balance(l, dec1 + 2 * ledger::us_per_second).available, 0);
    ASSERT_TRUE(s->commit(l.take_changes()).has_value());
    EXPECT_EQ(must(s->audit_journal(l)), "");
  }
  auto s = open_store(path);
  ledger::ledger l;
  ASSERT_TRUE(s->load(l, dec1 + 3 * ledger::us_per_second).has_value());
  ASSERT_TRUE(admit_stored_history(l, path));
  const ledger::account& a = *l.find_account("a");
  EXPECT_EQ(a.postpaid_period, ledger::month_index(dec1));
  EXPECT_EQ(a.postpaid_used, 10 * credit);
  EXPECT_EQ(balance(l, dec1 + 3 * ledger::us_per_second).available, 0);
  // Released: closed, not loaded; the store has it.
  EXPECT_EQ(l.find_hold(nov_hold), nullptr);
  auto released = store::sqlite::sqlite_reader(path).hold(nov_hold);
  ASSERT_TRUE(released && *released);
  EXPECT_EQ((*released)->h.status, ledger::hold_status::released);
  EXPECT_EQ(l.find_charge(nov_charge)->refunded, 4 * credit);
  EXPECT_EQ(must(s->audit_journal(l)), "");
}

// The journal reader's cursors: a cursor taken from another account's page
// (an entry seq, a purchase id of someone else) pages on through this
// account's rows only, in order, from just past it; pages of any size cover
// the account's rows exactly once; a cursor past the end reads nothing.
TEST(sqlite_store, a_cursor_from_another_account_pages_only_this_account) {
  temp_dir dir;
  const std::string path = dir.file("cursors.db");
  std::map<std::string, std::vector<std::uint64_t>> seqs;
  std::map<std::string, std::vector<ledger::object_id>> purchases;
  {
    auto s = open_store(path);
    ledger::ledger l;
    ASSERT_TRUE(s->load(l, t0).has_value());
    must(l.put_package({"p", 5 * credit, 100, "usd", 0}, t0));
    for (const char* id : {"a", "b"})
      must(l.put_account({id, std::nullopt, std::nullopt}, t0));
    // Interleaved: a, b, a, b, ...
    for (int i = 0; i < 10; ++i) {
      for (const std::string id : {"a", "b"}) {
        const time_us now = t0 + i * ledger::us_per_second;
        purchases[id].push_back(must(l.purchase({id, "p"}, now)).made.id);
        must(l.charge({id, credit, "op", "", "", false}, now));
      }
    }
    for (const ledger::entry& e : l.pending_entries_since(0))
      seqs[e.owner->id].push_back(e.seq);
    ASSERT_TRUE(s->commit(l.take_changes()).has_value());
  }
  store::sqlite::sqlite_reader reader(path);
  auto entry_seqs = [&](const std::string& account, std::uint64_t after, std::size_t limit) {
    std::vector<std::uint64_t> out;
    for (const store::stored_entry& se : must(reader.entries(account, after, limit))) {
      EXPECT_EQ(se.account, account);
      out.push_back(se.e.seq);
    }
    return out;
  };
  auto purchase_ids = [&](const std::string& account, ledger::object_id after, std::size_t limit) {
    std::vector<ledger::object_id> out;
    for (const ledger::purchase& p : must(reader.purchases(account, after, limit))) {
      EXPECT_EQ(p.account, account);
      out.push_back(p.id);
    }
    return out;
  };
  ASSERT_EQ(seqs["a"].size(), 20u);
  // A's entries after one of b's (b's 7th entry lies between a's 8th and 9th).
  const std::uint64_t b_cursor = seqs["b"][6];
  ASSERT_LT(seqs["a"][7], b_cursor);
  ASSERT_GT(seqs["a"][8], b_cursor);
  EXPECT_EQ(entry_seqs("a", b_cursor, 100),
            std::vector<std::uint64_t>(seqs["a"].begin() + 8, seqs["a"].end()));
  EXPECT_EQ(entry_seqs("a", b_cursor, 2),
            std::vector<std::uint64_t>(seqs["a"].begin() + 8, seqs["a"].begin() + 10));
  // Pages of 3 from the start cover every entry of a's once, in order.
  std::vector<std::uint64_t> all;
  for (std::uint64_t after = 0;;) {
    const std::vector<std::uint64_t> page = entry_seqs("a", after, 3);
    all.insert(all.end(), page.begin(), page.end());
    if (page.size() < 3) break;
    after = page.back();
  }
  EXPECT_EQ(all, seqs["a"]);
  EXPECT_TRUE(entry_seqs("a", seqs["b"].back(), 100).empty());
  EXPECT_TRUE(entry_seqs("a", std::numeric_limits<std::int64_t>::max(), 100).empty());
  EXPECT_TRUE(entry_seqs("nobody", 0, 100).empty());
  // Purchases read newest first: after one of b's ids, a's older ones.
  const ledger::object_id b_purchase = purchases["b"][4];
  std::vector<ledger::object_id> want(purchases["a"].begin(), purchases["a"].begin() + 5);
  std::reverse(want.begin(), want.end());
  EXPECT_EQ(purchase_ids("a", b_purchase, 100), want);
  EXPECT_TRUE(purchase_ids("a", purchases["a"][0], 100).empty());
}

// Cursors above INT64_MAX (ledger::parse_id takes 19 digits, so
// "ent_9999999999999999999" is one): past every entry, before every purchase.
// Bound as int64, they wrapped negative: the entries "after" one were the
// account's first page again, and no purchase was "before" it (ce78f47).
TEST(sqlite_store, a_cursor_above_int64_max_is_past_everything) {
  temp_dir dir;
  const std::string path = dir.file("huge.db");
  std::vector<ledger::object_id> bought;
  {
    auto s = open_store(path);
    ledger::ledger l;
    ASSERT_TRUE(s->load(l, t0).has_value());
    must(l.put_package({"p", 5 * credit, 100, "usd", 0}, t0));
    must(l.put_account({"a", std::nullopt, std::nullopt}, t0));
    for (int i = 0; i < 3; ++i)
      bought.push_back(must(l.purchase({"a", "p"}, t0)).made.id);
    ASSERT_TRUE(s->commit(l.take_changes()).has_value());
  }
  store::sqlite::sqlite_reader reader(path);
  for (std::uint64_t huge : {std::uint64_t{9'999'999'999'999'999'999u},
                             std::uint64_t{std::numeric_limits<std::int64_t>::max()} + 1,
                             std::numeric_limits<std::uint64_t>::max()}) {
    EXPECT_TRUE(must(reader.entries("a", huge, 100)).empty()) << huge;
    std::vector<ledger::object_id> ids;
    for (const ledger::purchase& p : must(reader.purchases("a", huge, 100)))
      ids.push_back(p.id);
    EXPECT_EQ(ids, (std::vector<ledger::object_id>{bought[2], bought[1], bought[0]})) << huge;
  }
}
}  // namespace sqlite_store_test_cpp
