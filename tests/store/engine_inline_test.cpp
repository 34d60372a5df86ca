// The engine without a writer thread (engine_options::writer_inline): the
// thread that calls run_round() applies, commits and completes the tasks, as
// creditd serve's one I/O thread does with --commit-thread io; before its
// first call a writer thread serves (what the server submits and waits for
// before its loop runs). Most tests drive it from the test's own thread, so
// that each round is one call and nothing depends on timing; one drives it
// from a thread of its own while other threads submit, as the server's
// readers and deliveries do.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/engine.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "support/fn_task.hpp"
#include "support/open_store.hpp"
#include "support/temp_dir.hpp"

namespace engine_inline_test_cpp {  // unity builds: tests/CMakeLists.txt

using namespace creditd;
using creditd::testing::fn_task;
using creditd::testing::open_and_load;
using creditd::testing::temp_dir;
using ledger::micros;
using ledger::time_us;

namespace {

constexpr time_us t0 = 1'795'000'000LL * ledger::us_per_second;  // 2026-11-18
constexpr micros credit = ledger::micros_per_credit;

// Delegates to a real store; commits fail while `fail` is set, probes while
// `probe_fails` is.
class failing_store final : public creditd::store::store {
 public:
  explicit failing_store(creditd::store::store& inner) : inner_(inner) {}
  std::expected<void, creditd::store::store_error> load(ledger::ledger& l, time_us now) override {
    return inner_.load(l, now);
  }
  std::expected<void, creditd::store::store_error> commit(const ledger::change_set& c) override {
    if (fail) return std::unexpected(creditd::store::store_error{"injected: disk full"});
    return inner_.commit(c);
  }
  std::expected<void, creditd::store::store_error> probe() override {
    if (probe_fails) return std::unexpected(creditd::store::store_error{"injected: still failing"});
    return inner_.probe();
  }
  std::atomic<bool> fail{false}, probe_fails{true};

 private:
  creditd::store::store& inner_;
};

// A store file, a ledger loaded from it and an inline engine on both, whose
// wakes are counted; the test's thread drives it.
struct inline_engine {
  temp_dir dir;
  std::string path = dir.file("inline.db");
  std::unique_ptr<store::sqlite::sqlite_store> real;
  std::unique_ptr<failing_store> s;
  ledger::ledger l;
  std::atomic<time_us> now{t0};
  std::atomic<int> wakes{0};
  std::unique_ptr<engine::engine> e;  // the first to go

  explicit inline_engine(time_us recovery_interval_us = 1'000'000) {
    EXPECT_TRUE(open_and_load(path, t0, real, l));
    s = std::make_unique<failing_store>(*real);
    e = std::make_unique<engine::engine>(
        l, *s,
        engine::engine_options{.clock = [this] { return now.load(); },
                               .recovery_interval_us = recovery_interval_us,
                               .writer_inline = true,
                               .wake = [this] { ++wakes; }});
  }
  // Runs rounds on this thread until `t` completes; returns its `durable`.
  bool drive(fn_task& t) {
    for (int i = 0; i < 1000 && !t.done(); ++i)
      e->run_round();
    EXPECT_TRUE(t.done()) << "a queued task was not completed by the driving thread's rounds";
    return t.wait();
  }
  // The balance after the last entry of `account` committed in the file
  // (read on a connection of its own), or -1 when it has none.
  micros available_in_the_file(const std::string& account) {
    sqlite3* db = nullptr;
    micros out = -1;
    if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
      sqlite3_stmt* st = nullptr;
      if (sqlite3_prepare_v2(db,
                             "SELECT balance_after FROM entries WHERE account = ?1 "
                             "ORDER BY seq DESC LIMIT 1",
                             -1, &st, nullptr) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, account.c_str(), -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) == SQLITE_ROW) out = sqlite3_column_int64(st, 0);
      }
      EXPECT_NE(st, nullptr) << sqlite3_errmsg(db);
      sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return out;
  }
};

void open_account(ledger::ledger& l, time_us now, const std::string& id, micros amount,
                  std::optional<time_us> expires_at = std::nullopt) {
  ASSERT_TRUE(l.put_account({id, std::nullopt, std::nullopt}, now).has_value());
  ASSERT_TRUE(
      l.grant({.account = id, .amount = amount, .expires_at = expires_at}, now).has_value());
}

void charge_a_credit(ledger::ledger& l, time_us now) {
  ASSERT_TRUE(l.charge({"a", credit, "op", "", "", false}, now).has_value());
}

}  // namespace

// On the driving thread a task runs at its next round, which commits it
// before it completes: no wake (the driver is the one submitting), no thread
// of the engine's own. With nothing queued and nothing due a round is no
// work and the driver may sleep.
TEST(engine_inline, the_driving_thread_applies_commits_and_completes_its_tasks) {
  inline_engine g;
  EXPECT_FALSE(g.e->run_round()) << "a round with nothing to do";
  EXPECT_GT(g.e->idle_wait().count(), 0);
  std::thread::id applied_on;
  fn_task open([&](ledger::ledger& l, time_us now) {
    applied_on = std::this_thread::get_id();
    open_account(l, now, "a", 100 * credit);
  });
  g.e->submit(&open);
  EXPECT_EQ(g.wakes.load(), 0) << "the driving thread woke itself";
  EXPECT_FALSE(open.done()) << "a task completed before any round";
  EXPECT_EQ(g.e->idle_wait().count(), 0) << "a queued task leaves no time to sleep";
  EXPECT_TRUE(g.e->run_round());
  ASSERT_TRUE(open.done()) << "the round returned before its task completed";
  EXPECT_TRUE(open.wait());
  EXPECT_EQ(applied_on, std::this_thread::get_id());
  EXPECT_EQ(g.available_in_the_file("a"), 100 * credit) << "completed before its commit";

  // Several queued make one commit.
  std::vector<std::unique_ptr<fn_task>> charges;
  for (int i = 0; i < 5; ++i) {
    charges.push_back(std::make_unique<fn_task>(charge_a_credit));
    g.e->submit(charges.back().get());
  }
  const auto before = g.e->stats();
  EXPECT_TRUE(g.e->run_round());
  for (auto& c : charges) {
    ASSERT_TRUE(c->done());
    EXPECT_TRUE(c->wait());
  }
  EXPECT_EQ(g.e->stats().commits, before.commits + 1);
  EXPECT_EQ(g.e->stats().batch_tasks_max, 5u);
  EXPECT_EQ(g.available_in_the_file("a"), 95 * credit);
  EXPECT_FALSE(g.e->run_round());
  EXPECT_EQ(g.wakes.load(), 0);
}

// Before the first run_round() a writer thread applies and commits what is
// submitted (creditd serve loads its catalog so, waiting, before its event
// loop runs); the first round takes over whatever is queued then.
TEST(engine_inline, until_the_first_round_a_writer_thread_serves) {
  inline_engine g;
  std::thread::id applied_on;
  fn_task open([&](ledger::ledger& l, time_us now) {
    applied_on = std::this_thread::get_id();
    open_account(l, now, "a", 100 * credit);
  });
  g.e->submit(&open);
  EXPECT_TRUE(open.wait()) << "nothing served the task before the first round";
  EXPECT_NE(applied_on, std::this_thread::get_id());
  EXPECT_EQ(g.available_in_the_file("a"), 100 * credit);
  EXPECT_EQ(g.wakes.load(), 0) << "the writer thread needs no wake";
  EXPECT_FALSE(g.e->run_round());
  fn_task charge([&](ledger::ledger& l, time_us now) {
    applied_on = std::this_thread::get_id();
    charge_a_credit(l, now);
  });
  g.e->submit(&charge);
  EXPECT_TRUE(g.drive(charge));
  EXPECT_EQ(applied_on, std::this_thread::get_id()) << "the role was not taken over";
  EXPECT_EQ(g.available_in_the_file("a"), 99 * credit);
}

// Time-driven work runs in a round without tasks once it is due: a lot's
// expiry is committed with nothing submitted, and idle_wait() said when.
TEST(engine_inline, due_work_runs_without_tasks_when_its_time_comes) {
  inline_engine g;
  fn_task open([&](ledger::ledger& l, time_us now) {
    open_account(l, now, "a", 10 * credit, now + 10 * ledger::us_per_second);
  });
  g.e->submit(&open);
  ASSERT_TRUE(g.drive(open));
  const auto wait = g.e->idle_wait();
  EXPECT_GT(wait.count(), 0);
  EXPECT_LE(wait.count(), 10 * ledger::us_per_second) << "the driver would sleep past the expiry";
  const auto before = g.e->stats().commits;
  g.now = t0 + 11 * ledger::us_per_second;
  EXPECT_EQ(g.e->idle_wait().count(), 0) << "the expiry is due";
  EXPECT_FALSE(g.e->run_round()) << "no task was queued";
  EXPECT_EQ(g.e->stats().commits, before + 1) << "the expiry was not committed";
  EXPECT_GT(g.l.next_due(), g.now.load());
  EXPECT_EQ(g.available_in_the_file("a"), 0);
}

// stop() on the driving thread applies and commits what is queued; what is
// submitted after it is refused at once.
TEST(engine_inline, stop_commits_what_is_queued_then_refuses) {
  inline_engine g;
  fn_task open([&](ledger::ledger& l, time_us now) { open_account(l, now, "a", 100 * credit); });
  g.e->submit(&open);
  ASSERT_TRUE(g.drive(open));
  fn_task first(charge_a_credit), second(charge_a_credit);
  g.e->submit(&first);
  g.e->submit(&second);
  g.e->stop();
  ASSERT_TRUE(first.done());
  ASSERT_TRUE(second.done());
  EXPECT_TRUE(first.wait());
  EXPECT_TRUE(second.wait());
  fn_task late(charge_a_credit);
  g.e->submit(&late);
  ASSERT_TRUE(late.done());
  EXPECT_FALSE(late.wait());
  EXPECT_FALSE(late.applied());
  EXPECT_FALSE(g.e->run_round()) << "a round after stop()";
  EXPECT_EQ(g.available_in_the_file("a"), 98 * credit);
}

// A failed commit degrades the engine as on a writer thread: that write and
// later ones are refused, reads are served from the ledger reloaded from
// the file; rounds with nothing queued probe the store when it is time and
// are no work for the driver (it sleeps, it does not spin); once a probe
// succeeds, writes are taken again.
TEST(engine_inline, a_failed_commit_degrades_and_a_later_probe_recovers) {
  // Probes at most every microsecond (of the steady clock, which the test
  // cannot move): a round waits for none here, yet an idle round must still
  // be the one that probes.
  inline_engine g(/*recovery_interval_us=*/1);
  fn_task open([&](ledger::ledger& l, time_us now) { open_account(l, now, "a", 100 * credit); });
  g.e->submit(&open);
  ASSERT_TRUE(g.drive(open));

  g.s->fail = true;
  fn_task lost(charge_a_credit);
  g.e->submit(&lost);
  EXPECT_FALSE(g.drive(lost));
  EXPECT_TRUE(g.e->failed());
  EXPECT_EQ(g.e->failure(), "injected: disk full");
  micros seen = 0;
  fn_task read([&](ledger::ledger& l,
                   time_us now) { seen = l.balance(*l.find_account("a"), now).available; },
               true);
  g.e->submit(&read);
  EXPECT_TRUE(g.drive(read));
  EXPECT_EQ(seen, 100 * credit) << "the read saw the write that failed";
  fn_task refused(charge_a_credit);
  g.e->submit(&refused);
  ASSERT_TRUE(refused.done()) << "a write while degraded is refused at submit";
  EXPECT_FALSE(refused.wait());
  EXPECT_FALSE(g.e->run_round()) << "a probe is no work: the driver would spin";
  EXPECT_TRUE(g.e->failed());

  g.s->fail = false;
  g.s->probe_fails = false;
  for (int i = 0; i < 1000 && g.e->failed(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    EXPECT_FALSE(g.e->run_round());
  }
  EXPECT_FALSE(g.e->failed()) << "idle rounds never probed the store: writes not resumed";
  EXPECT_EQ(g.e->stats().recoveries, 1u);
  fn_task again(charge_a_credit);
  g.e->submit(&again);
  EXPECT_TRUE(g.drive(again));
  EXPECT_EQ(g.available_in_the_file("a"), 99 * credit);
}

// Driven by a thread of its own that sleeps until woken, as the server's
// event loop does; other threads submit and wait. Every task completes
// durably, applied on the driving thread only, and the wakes are at most one
// per submission (one per empty queue).
TEST(engine_inline, other_threads_wake_the_driver) {
  inline_engine g;
  std::mutex mu;
  std::condition_variable cv;
  bool woken = false, quit = false;
  // The engine's wake, counted by the fixture, also signals the driver.
  g.e.reset();
  g.e = std::make_unique<engine::engine>(
      g.l, *g.s,
      engine::engine_options{.clock = [&g] { return g.now.load(); },
                             .writer_inline = true,
                             .wake =
                                 [&] {
                                   ++g.wakes;
                                   std::lock_guard lock(mu);
                                   woken = true;
                                   cv.notify_all();
                                 }});
  std::atomic<std::thread::id> driver_id{};
  std::atomic<int> off_the_driver{0};
  bool took_over = false;
  std::thread driver([&] {
    driver_id = std::this_thread::get_id();
    bool first = true;
    while (true) {
      const bool work = g.e->run_round();
      if (first) {
        // The role is the driver's from here: the test submits after it.
        first = false;
        std::lock_guard lock(mu);
        took_over = true;
        cv.notify_all();
      }
      if (work) continue;
      std::unique_lock lock(mu);
      if (quit) break;
      cv.wait_for(lock, g.e->idle_wait(), [&] { return woken || quit; });
      woken = false;
    }
    g.e->stop();
  });
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return took_over; });
  }
  fn_task open([&](ledger::ledger& l, time_us now) { open_account(l, now, "a", 10'000 * credit); });
  g.e->submit(&open);
  ASSERT_TRUE(open.wait());

  constexpr int threads = 4, per_thread = 200;
  std::vector<std::thread> pool;
  std::atomic<int> durable{0};
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (int i = 0; i < per_thread; ++i) {
        fn_task c([&](ledger::ledger& l, time_us now) {
          if (std::this_thread::get_id() != driver_id.load()) ++off_the_driver;
          charge_a_credit(l, now);
        });
        g.e->submit(&c);
        if (c.wait()) ++durable;
      }
    });
  }
  for (auto& th : pool)
    th.join();
  {
    std::lock_guard lock(mu);
    quit = true;
    cv.notify_one();
  }
  driver.join();
  EXPECT_EQ(durable.load(), threads * per_thread);
  EXPECT_EQ(off_the_driver.load(), 0) << "tasks were applied off the driving thread";
  EXPECT_GE(g.wakes.load(), 1);
  EXPECT_LE(g.wakes.load(), 1 + threads * per_thread);
  EXPECT_EQ(g.e->stats().tasks, static_cast<std::uint64_t>(1 + threads * per_thread));
  EXPECT_EQ(g.available_in_the_file("a"), (10'000 - threads * per_thread) * credit);
  auto audit = g.real->audit_journal(g.l);
  ASSERT_TRUE(audit.has_value()) << audit.error().message;
  EXPECT_EQ(*audit, "");
}

}  // namespace engine_inline_test_cpp
