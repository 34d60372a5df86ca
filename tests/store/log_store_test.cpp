// The log store: what is committed through the log comes back exactly as if
// committed straight to SQLite; the read barrier and backpressure; a failed
// applier is fail-stop and a restart replays; a process killed at every step
// of the background apply and of segment recycling loses nothing
// acknowledged.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <atomic>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "engine/engine.hpp"
#include "store/log/barrier_reader.hpp"
#include "store/log/log_store.hpp"
#include "store/sqlite/sqlite_audit.hpp"
#include "store/sqlite/sqlite_db.hpp"
#include "store/sqlite/sqlite_reader.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "support/eventually.hpp"
#include "support/fn_task.hpp"
#include "support/ledger_dump.hpp"
#include "support/slow_writeback.hpp"
#include "support/stored_history.hpp"
#include "support/temp_dir.hpp"

namespace log_store_test_cpp {  // unity builds: tests/CMakeLists.txt

using namespace creditd;
using creditd::testing::dump_entry;
using creditd::testing::dump_ledger;
using creditd::testing::eventually;
using creditd::testing::temp_dir;
using ledger::micros;
using ledger::time_us;
using store::log::log_store;
using store::log::log_store_options;
using store::sqlite::sqlite_store;

namespace {

constexpr time_us t0 = 1'795'000'000LL * ledger::us_per_second;  // 2026-11-18
constexpr micros credit = ledger::micros_per_credit;
constexpr int accounts_n = 5;

// A deterministic workload: step(i) runs a few commands of every kind (the
// catalog, a purchase and a subscription first), one change set per step.
class workload {
 public:
  ledger::change_set step(ledger::ledger& l, int i) {
    run(l, i);
    return l.take_changes();
  }
  // The commands of step i, their changes left in the ledger.
  void run(ledger::ledger& l, int i) {
    const time_us now = t0 + i * 3600 * ledger::us_per_second;
    std::mt19937_64 rng(static_cast<std::uint64_t>(i) * 7919 + 1);
    auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<std::uint64_t>(n)); };
    auto acct = [&] { return "acct-" + std::to_string(pick(accounts_n)); };
    if (i == 0) {
      for (int a = 0; a < accounts_n; ++a) {
        ledger::account_cmd c{"acct-" + std::to_string(a), "Name " + std::to_string(a),
                              ledger::account_settings{}};
        c.settings->reserve = a * credit;
        c.settings->postpaid_limit = (a % 2) * 5 * credit;
        c.settings->low_balance_thresholds = {credit, 10 * credit};
        EXPECT_TRUE(l.put_account(c, now).has_value());
      }
      EXPECT_TRUE(l.put_price({"p-img", "image.generate", {{"model", "m1"}}, 2 * credit}, now));
      EXPECT_TRUE(l.put_package({"pkg-10", 10 * credit, 900, "usd", 30}, now));
      EXPECT_TRUE(l.put_plan({"pro", 50 * credit, ledger::period_unit::month, 20 * credit}, now));
    } else if (i == 1) {
      EXPECT_TRUE(l.put_subscription({"acct-0", "pro", std::nullopt, "UTC"}, now));
      ledger::purchase_cmd p{"acct-1", "pkg-10", ledger::purchase_source::stripe, "evt_1", "r"};
      EXPECT_TRUE(l.purchase(p, now));
    }
    for (int k = 0; k < 2 + pick(4); ++k) {
      switch (pick(9)) {
        case 0:
        case 1: {
          ledger::grant_cmd g;
          g.account = acct();
          g.amount = (1 + pick(100)) * credit / 4;
          g.kind = static_cast<ledger::lot_kind>(pick(3));
          if (pick(2)) g.expires_at = now + (1 + pick(20)) * 3600 * ledger::us_per_second;
          if (pick(4) == 0) g.scope = {"image.*"};
          g.currency = "usd";
          if (auto r = l.grant(g, now)) lots_.push_back((*r)->id);
          break;
        }
        case 2:
        case 3: {
          ledger::charge_cmd c{acct(),
                               (1 + pick(40)) * credit / 8,
                               "image.generate",
                               R"({"model":"m1"})",
                               "ref-" + std::to_string(i),
                               pick(5) == 0};
          c.metadata = pick(2) ? R"({"job":7})" : "";
          if (auto r = l.charge(c, now)) charges_.push_back((*r)->id);
          break;
        }
        case 4: {
          ledger::hold_cmd h{acct(), (1 + pick(20)) * credit / 2, "image.upscale"};
          h.ttl_seconds = 600 + pick(2) * 7200;
          if (auto r = l.place_hold(h, now)) holds_.push_back((*r)->id);
          break;
        }
        case 5:
          if (!holds_.empty()) {
            const auto id = holds_[static_cast<std::size_t>(pick(static_cast<int>(holds_.size())))];
            if (pick(2)) {
              if (auto r = l.capture(id, std::nullopt, now)) charges_.push_back((*r)->charge_id);
            } else {
              (void)l.release(id, now);
            }
          }
          break;
        case 6:
          if (!charges_.empty()) {
            const auto id =
                charges_[static_cast<std::size_t>(pick(static_cast<int>(charges_.size())))];
            (void)l.refund({id, credit / 8, "oops"}, now);
          }
          break;
        case 7:
          (void)l.adjust({acct(), (pick(2) ? 1 : -1) * credit, "goodwill"}, now);
          break;
        case 8: {
          const std::string key = "key-" + std::to_string(i) + "-" + std::to_string(k);
          if (auto found = l.idempotency_lookup(key, "fp"); found && *found == nullptr)
            l.idempotency_remember({key, "fp", 201, R"({"ok":true})", now});
          break;
        }
      }
    }
    l.run_due(now);
    l.note_time(now);
  }

 private:
  std::vector<ledger::object_id> lots_, holds_, charges_;
};

template <typename T, typename E>
T must(std::expected<T, E> r) {
  if (!r) {
    ADD_FAILURE() << "unexpected error: " << r.error().message;
    throw std::runtime_error("a call failed");
  }
  return std::move(*r);
}
void must(std::expected<void, store::store_error> r) {
  if (!r) {
    ADD_FAILURE() << "unexpected error: " << r.error().message;
    throw std::runtime_error("a call failed");
  }
}

std::unique_ptr<log_store> open_log_store(const temp_dir& tmp, log_store_options opts = {}) {
  opts.log.dir = tmp.file("log");
  if (opts.log.segment_bytes == store::log::segment_bytes_default) opts.log.segment_bytes = 4096;
  auto db = must(sqlite_store::open({tmp.file("ledger.db")}));
  return must(log_store::open(std::move(opts), std::move(db)));
}

// A log store whose applier waits unless asked (for 1000 records), read
// through the barrier and straight from its file.
struct lagging_store {
  static log_store_options options() {
    log_store_options opts;
    opts.apply_records_min = 1000;
    return opts;
  }
  temp_dir tmp;
  std::unique_ptr<log_store> s = open_log_store(tmp, options());
  store::sqlite::sqlite_reader plain{tmp.file("ledger.db")};
  store::log::barrier_reader reader{plain, *s};
  // The ledger whose changes the tests commit, and the workload's steps.
  ledger::ledger l;
  workload w;
  // Commits the workload's steps [from, to), one record each; returns the
  // log's seq after each.
  std::vector<std::uint64_t> commit_steps(int from, int to) {
    std::vector<std::uint64_t> seqs;
    for (int i = from; i < to; ++i) {
      must(s->commit(w.step(l, i)));
      seqs.push_back(s->durable_seq());
    }
    return seqs;
  }
};

// The ledger `s` loads, with the charges and closed holds of its SQLite file.
std::string loaded_dump(store::store& s, const std::string& sqlite_path) {
  ledger::ledger l;
  must(s.load(l, t0 + 1000 * 3600 * ledger::us_per_second));
  // dump_ledger reads dead lots from the file: a log store writes the lots
  // it holds back first (its load took them from the backlog).
  if (auto* logged = dynamic_cast<log_store*>(&s))
    must(logged->wait_applied(logged->durable_seq(), /*with_lots=*/true));
  return dump_ledger(l, sqlite_path);
}

// The dumps of a ledger after each step: [0] before any, [i] after i steps.
std::vector<std::string> reference_dumps(int steps) {
  temp_dir tmp;
  auto db = must(sqlite_store::open({tmp.file("ref.db")}));
  ledger::ledger l;
  workload w;
  std::vector<std::string> dumps = {loaded_dump(*db, tmp.file("ref.db"))};
  for (int i = 0; i < steps; ++i) {
    must(db->commit(w.step(l, i)));
    dumps.push_back(loaded_dump(*db, tmp.file("ref.db")));
  }
  return dumps;
}

std::vector<std::string> journal(const std::string& path) {
  store::sqlite::sqlite_reader reader(path);
  std::vector<std::string> out;
  for (int a = 0; a < accounts_n; ++a) {
    const std::string acct = "acct-" + std::to_string(a);
    auto page = reader.entries(acct, 0, 1000);
    EXPECT_TRUE(page.has_value());
    if (!page) continue;
    for (const auto& se : *page)
      out.push_back(dump_entry(se.e, se.account));
  }
  return out;
}

}  // namespace

TEST(log_store, what_it_commits_loads_as_if_committed_straight_to_sqlite) {
  temp_dir tmp, direct;
  constexpr int steps = 80;
  std::string live;
  {
    log_store_options opts;
    opts.apply_records_min = 7;  // transactions of several records
    auto s = open_log_store(tmp, opts);
    auto db = must(sqlite_store::open({direct.file("direct.db")}));
    ledger::ledger l1, l2;
    workload w1, w2;
    for (int i = 0; i < steps; ++i) {
      must(s->commit(w1.step(l1, i)));
      must(db->commit(w2.step(l2, i)));
      // Reopened halfway: the log goes on where it was.
      if (i == steps / 2) {
        s.reset();
        s = open_log_store(tmp, opts);
      }
    }
    EXPECT_EQ(s->durable_seq(), static_cast<std::uint64_t>(steps));
    EXPECT_GT(s->segment_count(), 0u);
    live = dump_ledger(l1);
    EXPECT_EQ(live, dump_ledger(l2));
    // Loading waits for the applier: everything acknowledged is there.
    EXPECT_EQ(loaded_dump(*s, tmp.file("ledger.db")), loaded_dump(*db, direct.file("direct.db")));
  }
  auto s = open_log_store(tmp);
  EXPECT_EQ(s->applied_seq(), static_cast<std::uint64_t>(steps));
  auto db = must(sqlite_store::open({direct.file("direct.db")}));
  EXPECT_EQ(loaded_dump(*s, tmp.file("ledger.db")), loaded_dump(*db, direct.file("direct.db")));
  EXPECT_EQ(loaded_dump(*s, tmp.file("ledger.db")), live);
  const auto entries = journal(tmp.file("ledger.db"));
  EXPECT_GT(entries.size(), 100u);
  EXPECT_EQ(entries, journal(direct.file("direct.db")));
}

TEST(log_store, a_reader_that_waits_for_durable_seq_sees_every_acknowledged_write) {
  temp_dir tmp;
  log_store_options opts;
  opts.apply_records_min = 1000;  // the applier waits unless asked
  auto s = open_log_store(tmp, opts);
  ledger::ledger l;
  workload w;
  for (int i = 0; i < 5; ++i)
    must(s->commit(w.step(l, i)));
  EXPECT_EQ(s->durable_seq(), 5u);
  // Nothing asked the applier: SQLite holds none of it yet.
  EXPECT_EQ(s->applied_seq(), 0u);
  EXPECT_TRUE(journal(tmp.file("ledger.db")).empty());
  // The barrier: whatever was acknowledged before it is readable after it.
  must(s->wait_applied(s->durable_seq()));
  EXPECT_EQ(s->applied_seq(), 5u);
  const auto entries = journal(tmp.file("ledger.db"));
  EXPECT_FALSE(entries.empty());
  // Beyond what was acknowledged is an error, not a wait forever.
  EXPECT_FALSE(s->wait_applied(6).has_value());
}

// Commits workload steps [from, to) through `s`.
void commit_steps(log_store& s, ledger::ledger& l, workload& w, int from, int to) {
  for (int i = from; i < to; ++i)
    must(s.commit(w.step(l, i)));
}

TEST(log_store, with_an_apply_delay_records_wait_until_a_reader_asks_or_the_store_closes) {
  temp_dir tmp;
  log_store_options opts;
  opts.apply_delay = std::chrono::hours(1);  // longer than any test: only a request applies
  {
    auto s = open_log_store(tmp, opts);
    ledger::ledger l;
    workload w;
    commit_steps(*s, l, w, 0, 5);
    EXPECT_EQ(s->durable_seq(), 5u);
    EXPECT_EQ(s->applied_seq(), 0u);
    EXPECT_TRUE(journal(tmp.file("ledger.db")).empty());
    // A reader's barrier does not wait for the delay.
    must(s->wait_applied(s->durable_seq()));
    EXPECT_EQ(s->applied_seq(), 5u);
    EXPECT_FALSE(journal(tmp.file("ledger.db")).empty());
    commit_steps(*s, l, w, 5, 9);
    EXPECT_EQ(s->applied_seq(), 5u);
  }  // closing applies the rest
  auto db = must(sqlite_store::open({tmp.file("ledger.db")}));
  EXPECT_EQ(db->applied_log_seq(), 9u);
}

// A spare is made beside the commits, not by the applier: with nothing
// applied (so nothing recycled), every roll after the first segment's still
// moves on to a file made ahead, never fills one inside a commit.
TEST(log_store, spares_are_made_beside_the_commits_while_nothing_is_applied) {
  temp_dir tmp;
  log_store_options opts;
  opts.apply_delay = std::chrono::hours(1);  // the applier never runs by itself
  auto s = open_log_store(tmp, opts);        // 4 KiB segments
  ledger::ledger l;
  workload w;
  EXPECT_EQ(s->segment_rolls_to_new(), 1u);  // the first segment, made at open
  int step = 0;
  for (int roll = 1; roll <= 4; ++roll) {
    SCOPED_TRACE("roll " + std::to_string(roll));
    const std::size_t segments = s->segment_count();
    // Up to half of the segment: a spare is due, and made meanwhile.
    const std::uint64_t due = s->segment_spares_due();
    while (s->segment_spares_due() == due) {
      commit_steps(*s, l, w, step, step + 1);
      ++step;
    }
    ASSERT_EQ(s->segment_count(), segments) << "rolled before a spare was due";
    ASSERT_TRUE(eventually([&] { return s->segment_free_count() == 1; }));
    // On to the end of the segment: the roll takes the spare.
    while (s->segment_count() == segments) {
      commit_steps(*s, l, w, step, step + 1);
      ++step;
    }
    EXPECT_EQ(s->segment_rolls_to_free(), static_cast<std::uint64_t>(roll));
    EXPECT_EQ(s->segment_rolls_to_new(), 1u);
  }
  EXPECT_EQ(s->applied_seq(), 0u);
}

TEST(log_store, with_an_apply_delay_the_applier_goes_by_itself_once_it_passes) {
  temp_dir tmp;
  log_store_options opts;
  opts.apply_delay = std::chrono::milliseconds(1);
  auto s = open_log_store(tmp, opts);
  ledger::ledger l;
  workload w;
  commit_steps(*s, l, w, 0, 3);
  EXPECT_TRUE(eventually([&] { return s->applied_seq() == 3; }));
}

// The applier's writeback is paced while nobody waits for it, and a flush
// ends the wait: at 1 byte a second its second chunk of WAL would wait for
// hours (paced_vfs_test.cpp tests the pacing itself). Without the flag's
// wiring through background_priority the flush never returns.
TEST(log_store, a_flush_ends_the_appliers_wait_for_its_writeback_pace) {
  temp_dir tmp;
  store::sqlite::sqlite_options so{tmp.file("ledger.db")};
  so.writeback = creditd::testing::one_byte_a_second;
  auto db = must(sqlite_store::open(so));
  log_store_options opts;
  opts.log.dir = tmp.file("log");
  opts.log.segment_bytes = 1 << 20;
  opts.apply_delay = std::chrono::milliseconds(20);  // the applier goes by itself, unhurried
  auto s = must(log_store::open(std::move(opts), std::move(db)));
  ledger::ledger l;
  workload w;
  commit_steps(*s, l, w, 0, 40);
  // Its transaction's WAL: the first chunk handed over, the second waiting.
  ASSERT_TRUE(eventually([&] { return s->writeback(/*wal=*/true).waits >= 1; }));
  EXPECT_LT(s->applied_seq(), s->durable_seq());
  must(s->wait_applied(s->durable_seq(), /*with_lots=*/true));
  EXPECT_EQ(s->applied_seq(), s->durable_seq());
  EXPECT_GT(s->writeback(/*wal=*/true).chunks, 1u);
}

TEST(log_store, with_an_apply_delay_a_full_transaction_is_applied_without_waiting_for_it) {
  temp_dir tmp;
  log_store_options opts;
  opts.apply_delay = std::chrono::hours(1);
  opts.apply_records_max = 4;
  auto s = open_log_store(tmp, opts);
  ledger::ledger l;
  workload w;
  commit_steps(*s, l, w, 0, 6);
  // Four records make a full transaction; the other two wait for the delay.
  EXPECT_TRUE(eventually([&] { return s->applied_seq() >= 4; }));
  EXPECT_EQ(s->applied_seq(), 4u);
}

TEST(log_store, a_full_queue_makes_commit_wait_for_the_applier) {
  temp_dir tmp;
  const auto ref = reference_dumps(20);
  {
    log_store_options opts;
    opts.apply_records_min = 1000;  // only backpressure makes it apply
    opts.queued_records_max = 2;
    auto s = open_log_store(tmp, opts);
    ledger::ledger l;
    workload w;
    for (int i = 0; i < 20; ++i) {
      must(s->commit(w.step(l, i)));
      // Never more than the limit acknowledged and not yet applied.
      EXPECT_LE(s->durable_seq() - s->applied_seq(), 2u) << i;
      // The first two fit; the third cannot go before the applier ran,
      // and only a waiting commit makes it run: each wait is counted.
      if (i < 2) {
        EXPECT_EQ(s->room_waits(), 0u) << i;
      }
    }
    EXPECT_GE(s->room_waits(), 1u);
    EXPECT_LE(s->room_waits(), 18u);
  }
  {
    log_store_options opts;
    opts.apply_records_min = 1000;
    opts.queued_bytes_max = 1;  // each record alone
    auto s = open_log_store(tmp, opts);
    EXPECT_EQ(loaded_dump(*s, tmp.file("ledger.db")), ref[20]);
  }
}

TEST(log_store, a_failed_apply_is_fail_stop_and_a_restart_replays) {
  temp_dir tmp;
  const auto ref = reference_dumps(4);
  ledger::ledger l;
  workload w;
  {
    auto s = open_log_store(tmp);
    for (int i = 0; i < 3; ++i)
      must(s->commit(w.step(l, i)));
    must(s->wait_applied(3));
    // Another connection holds the write lock: the applier's transaction
    // fails (SQLITE_BUSY after the store's busy timeout).
    auto other = must(store::sqlite::database::open(tmp.file("ledger.db"), false));
    ASSERT_TRUE(other.exec("BEGIN IMMEDIATE").has_value());
    // Acknowledged: it is in the log.
    must(s->commit(w.step(l, 3)));
    auto waited = s->wait_applied(4);
    ASSERT_FALSE(waited.has_value());
    EXPECT_NE(waited.error().message.find("a restart replays"), std::string::npos)
        << waited.error().message;
    EXPECT_TRUE(s->failed());
    // Fail-stop: nothing more is acknowledged, no probe succeeds, no reload
    // shows a store that lacks acknowledged writes.
    EXPECT_FALSE(s->commit(w.step(l, 4)).has_value());
    EXPECT_FALSE(s->probe().has_value());
    ledger::ledger reread;
    EXPECT_FALSE(s->load(reread, t0).has_value());
    ASSERT_TRUE(other.exec("ROLLBACK").has_value());
  }
  auto s = open_log_store(tmp);
  EXPECT_EQ(s->applied_seq(), 4u);
  EXPECT_EQ(loaded_dump(*s, tmp.file("ledger.db")), ref[4]);
  must(s->probe());
}

namespace {

// Runs `steps` of the workload in a forked child that commits them through a
// log store (segments of 4 KiB, so that segments roll and are recycled),
// waiting for the applier after each commit unless `lazy`, and kills itself
// (SIGKILL) at the `nth` time `kill_at` is reached, or after its last commit.
// Returns the number of commits acknowledged before the kill.
int run_killed_child(const temp_dir& tmp, int steps, const std::string& kill_at, int nth,
                     bool lazy) {
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error("pipe");
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork");
  if (pid == 0) {
    ::close(fds[0]);
    std::atomic<int> seen{0};  // steps come from the committer and the applier
    log_store_options opts;
    opts.apply_records_min = lazy ? 1'000'000 : 1;
    opts.at_step = [&](std::string_view step) {
      if (step == kill_at && ++seen == nth) ::raise(SIGKILL);
    };
    opts.log.dir = tmp.file("log");
    opts.log.segment_bytes = 4096;
    // Lots held back for 3 records: a kill finds some held, and the lots'
    // mark still moves, so that segments are recycled.
    opts.lots.lag_records = 3;
    // A checkpoint after every transaction: the file's durable mark keeps
    // up with what is applied, so segments are recycled within the steps.
    auto db = sqlite_store::open({tmp.file("ledger.db"), /*wal_autocheckpoint_pages=*/1});
    if (!db) ::_exit(3);
    auto s = log_store::open(std::move(opts), std::move(*db));
    if (!s) ::_exit(4);
    ledger::ledger l;
    workload w;
    for (int i = 0; i < steps; ++i) {
      const std::uint64_t due = (*s)->segment_spares_due();
      if (!(*s)->commit(w.step(l, i))) ::_exit(5);
      // A spare due: the spares thread makes it (or finds a free file)
      // before the next commit, which could otherwise roll first and make
      // the spare's step one that a late thread never reaches.
      if ((*s)->segment_spares_due() != due &&
          !eventually([&] { return (*s)->segment_free_count() > 0; }))
        ::_exit(9);
      const char ack = 1;
      if (::write(fds[1], &ack, 1) != 1) ::_exit(6);
      if (!lazy && !(*s)->wait_applied((*s)->durable_seq())) ::_exit(7);
    }
    ::raise(SIGKILL);
    ::_exit(8);
  }
  ::close(fds[1]);
  int acked = 0;
  char c;
  while (::read(fds[0], &c, 1) == 1)
    ++acked;
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
      << "child ended otherwise, status " << status;
  return acked;
}

}  // namespace

TEST(log_store, a_process_killed_at_any_step_of_apply_or_recycling_loses_nothing_acknowledged) {
  constexpr int steps = 50;
  const auto ref = reference_dumps(steps);
  struct kill_case {
    std::string step;
    int nth;
    bool lazy;
  };
  const kill_case cases[] = {
      {"apply_begin", 3, false},
      {"apply_done", 3, false},
      {"recycled", 2, false},
      {"free_header_written", 2, false},
      {"segment_renamed", 3, false},
      {"segment_created", 4, false},
      {"spare_made", 2, false},
      {"spares_kept", 3, false},
      {"never: after the last", 0, true},  // nothing applied: all from the log
  };
  for (const kill_case& k : cases) {
    SCOPED_TRACE("killed at " + k.step + " #" + std::to_string(k.nth));
    temp_dir tmp;
    const int acked = run_killed_child(tmp, steps, k.step, k.nth, k.lazy);
    if (k.nth > 0) {
      EXPECT_LT(acked, steps) << "the step was never reached";
    } else {
      EXPECT_EQ(acked, steps);
    }
    // A start of creditd refuses a file written through a log beside a log
    // directory with no *.log in it (a missing log): no kill leaves one so.
    {
      std::size_t segments = 0;
      for (const auto& de : std::filesystem::directory_iterator(tmp.file("log")))
        if (de.path().extension() == ".log") ++segments;
      auto db = sqlite_store::open({tmp.file("ledger.db")});
      ASSERT_TRUE(db);
      const std::uint64_t mark = (*db)->applied_log_seq();
      EXPECT_TRUE(mark == 0 || segments > 0)
          << "the file's mark is " << mark << ", and " << tmp.file("log") << " holds no *.log";
    }
    int recovered = -1;
    {
      auto s = open_log_store(tmp);
      const std::string got = loaded_dump(*s, tmp.file("ledger.db"));
      // The state after some number of steps: every acknowledged one, and at
      // most the one being committed when the process died.
      for (int m = 0; m <= steps; ++m)
        if (ref[static_cast<std::size_t>(m)] == got) recovered = m;
      EXPECT_GE(recovered, acked) << got;
      EXPECT_LE(recovered, acked + 1);
      EXPECT_EQ(s->applied_seq(), s->durable_seq());
    }
    // And it goes on: the remaining steps commit and come back.
    if (recovered >= 0 && recovered < steps) {
      {
        auto s = open_log_store(tmp);
        ledger::ledger l;
        workload w;
        for (int i = 0; i < steps; ++i) {
          ledger::change_set c = w.step(l, i);
          if (i >= recovered) must(s->commit(c));
        }
      }
      auto s = open_log_store(tmp);
      EXPECT_EQ(loaded_dump(*s, tmp.file("ledger.db")), ref[steps]);
    }
  }
}

// One transaction of many records, decoded and written a few records at a
// time (apply_part_records_max), with lots written with their records or
// held back, and a replay at open of a log nothing was applied from: the
// file ends as if every set were committed straight to SQLite.
TEST(log_store, a_transaction_written_in_parts_loads_as_if_committed_straight_to_sqlite) {
  constexpr int steps = 40;
  const std::vector<std::string> ref = reference_dumps(steps);
  // Lots held to the transaction's end, or longer, each with the oldest
  // written before its end past a bound of 2 lots too (excess()).
  for (const auto& [lag, lots_max] :
       {std::pair<std::uint64_t, std::size_t>{0, 65536}, {0, 2}, {1000, 65536}, {1000, 2}}) {
    SCOPED_TRACE("lot lag " + std::to_string(lag) + ", lots held at most " +
                 std::to_string(lots_max));
    temp_dir tmp;
    log_store_options opts;
    opts.apply_delay = std::chrono::hours(1);  // one transaction, when asked
    opts.apply_part_records_max = 3;
    opts.lots.lag_records = lag;
    opts.lots.lots_max = lots_max;
    auto s = open_log_store(tmp, opts);
    ledger::ledger l;
    workload w;
    commit_steps(*s, l, w, 0, steps);
    EXPECT_EQ(s->applied_seq(), 0u);
    must(s->wait_applied(s->durable_seq()));
    EXPECT_EQ(s->applied_seq(), static_cast<std::uint64_t>(steps));
    EXPECT_EQ(loaded_dump(*s, tmp.file("ledger.db")), ref[steps]);
  }
  // Killed before anything was applied: the open replays all of it, in parts.
  temp_dir tmp;
  ASSERT_EQ(run_killed_child(tmp, steps, "never", 0, true), steps);
  log_store_options opts;
  opts.apply_part_records_max = 3;
  auto s = open_log_store(tmp, opts);
  EXPECT_EQ(s->applied_seq(), static_cast<std::uint64_t>(steps));
  EXPECT_EQ(loaded_dump(*s, tmp.file("ledger.db")), ref[steps]);
  const auto entries = journal(tmp.file("ledger.db"));
  EXPECT_GT(entries.size(), 50u);
}

// A spread charge's lot is one random page of `lots` each time its row is
// written: the applier writes a lot that several parts of one transaction
// change once, at the transaction's end (lot_backlog.hpp), and the file is
// whole after it.
TEST(log_store, a_lot_that_several_parts_of_a_transaction_change_is_written_once) {
  temp_dir tmp;
  log_store_options opts;
  opts.apply_delay = std::chrono::hours(1);  // one transaction, when asked
  opts.apply_part_records_max = 1;
  auto s = open_log_store(tmp, opts);
  ledger::ledger l;
  must(s->load(l, t0));
  for (const char* id : {"a", "b"}) {
    ASSERT_TRUE(l.put_account({id, id, ledger::account_settings{}}, t0).has_value());
    ledger::grant_cmd g;
    g.account = id;
    g.amount = 100 * credit;
    ASSERT_TRUE(l.grant(g, t0).has_value());
  }
  must(s->commit(l.take_changes()));
  must(s->wait_applied(s->durable_seq()));
  EXPECT_EQ(s->lot_rows_written(), 2u);
  // Ten records, one part each, alternating between the two accounts.
  for (int i = 0; i < 10; ++i) {
    ledger::charge_cmd c{i % 2 == 0 ? "a" : "b", credit, "image.generate", "{}",
                         "ref-" + std::to_string(i)};
    ASSERT_TRUE(l.charge(c, t0 + 1).has_value());
    must(s->commit(l.take_changes()));
  }
  must(s->wait_applied(s->durable_seq()));
  EXPECT_EQ(s->applied_seq(), 11u);
  EXPECT_EQ(s->lot_rows_written(), 4u);  // once per lot, not once per part (12)
  EXPECT_EQ(s->lots_seq(), s->applied_seq());
  // The file alone holds every change: a plain SQLite store loads them.
  s.reset();
  auto db = must(sqlite_store::open({tmp.file("ledger.db")}));
  ledger::ledger loaded;
  must(db->load(loaded, t0 + 1));
  for (const char* id : {"a", "b"}) {
    const ledger::account* a = loaded.find_account(id);
    ASSERT_NE(a, nullptr);
    ASSERT_EQ(a->lots.size(), 1u);
    EXPECT_EQ(a->lots.front()->remaining, 95 * credit) << id;
    EXPECT_EQ(a->lots.front()->spent, 5 * credit) << id;
  }
}

// Readers decode only the pending records that may hold what they read:
// each record's filter never misses one of its accounts or ids, and lets
// few others through.
TEST(log_store, the_pending_records_filter_misses_nothing_and_passes_few_others) {
  temp_dir tmp;
  log_store_options opts;
  opts.apply_delay = std::chrono::hours(1);  // every record stays pending
  auto s = open_log_store(tmp, opts);
  ledger::ledger l;
  must(s->load(l, t0));
  constexpr int n = 300;
  std::vector<ledger::object_id> lot_of(n);
  for (int i = 0; i < n; ++i) {
    const std::string id = "acct-" + std::to_string(i);
    ASSERT_TRUE(l.put_account({id, id, ledger::account_settings{}}, t0).has_value());
    ledger::grant_cmd g;
    g.account = id;
    g.amount = 10 * credit;
    auto lot = l.grant(g, t0);
    ASSERT_TRUE(lot.has_value());
    lot_of[i] = (*lot)->id;
    must(s->commit(l.take_changes()));  // record i + 1: account i alone
  }
  ASSERT_EQ(s->applied_seq(), 0u);
  std::size_t others = 0;
  for (int i = 0; i < n; ++i) {
    for (const auto& found :
         {s->pending_with("acct-" + std::to_string(i)), s->pending_with_id(lot_of[i])}) {
      bool own = false;
      for (const auto& r : found) {
        if (r->seq == static_cast<std::uint64_t>(i) + 1)
          own = true;
        else
          ++others;
      }
      EXPECT_TRUE(own) << "record " << i + 1;
    }
  }
  // 2 x 300 reads of 299 records that do not hold what they ask for.
  EXPECT_LT(others, std::size_t{2 * n * (n - 1)} / 20);
  EXPECT_TRUE(s->pending_with("acct-none").size() < std::size_t{n} / 10);
}

TEST(log_store, check_log_reads_without_changing_and_names_damage) {
  temp_dir tmp;
  const std::string dir = tmp.file("log");
  // Killed with nothing applied: the log holds records the file lacks.
  const int acked = run_killed_child(tmp, 30, "never", 0, true);
  ASSERT_EQ(acked, 30);
  auto snapshot = [&] {
    std::map<std::string, std::string> files;
    for (const auto& de : std::filesystem::directory_iterator(dir)) {
      std::ifstream in(de.path(), std::ios::binary);
      files[de.path().string()] = {std::istreambuf_iterator<char>(in), {}};
    }
    return files;
  };
  const auto before = snapshot();
  auto found = store::log::check_log(dir, 0);
  ASSERT_TRUE(found.has_value()) << found.error().message;
  EXPECT_EQ(found->applied, 0u);
  EXPECT_EQ(found->last_seq, 30u);
  EXPECT_GE(found->segments, 2u);
  EXPECT_EQ(snapshot(), before);
  // A store that applied more than the log holds: refused.
  EXPECT_FALSE(store::log::check_log(dir, 31).has_value());
  // One byte of the first segment's second record flipped: named.
  const std::string first = before.begin()->first;
  std::string bytes = before.begin()->second;
  std::uint32_t len1 = 0;
  std::memcpy(&len1, bytes.data() + store::log::segment_header_bytes, 4);
  const std::uint64_t second =
      store::log::segment_header_bytes + store::log::record_header_bytes + len1;
  bytes[second + store::log::record_header_bytes] ^= 0x08;
  {
    std::ofstream out(first, std::ios::binary | std::ios::trunc);
    out << bytes;
  }
  auto damaged = store::log::check_log(dir, 0);
  ASSERT_FALSE(damaged.has_value());
  EXPECT_NE(damaged.error().message.find(first), std::string::npos) << damaged.error().message;
  EXPECT_NE(damaged.error().message.find("byte offset " + std::to_string(second)),
            std::string::npos)
      << damaged.error().message;
  EXPECT_FALSE(store::log::check_log(tmp.file("nowhere"), 0).has_value());
}

TEST(log_store, the_barrier_reader_reads_its_writes_while_the_applier_lags) {
  lagging_store f;
  auto& [tmp, s, plain, reader, l, w] = f;
  // Entries of every account read through `r`.
  auto count = [](store::journal_reader& r) {
    std::size_t n = 0;
    for (int a = 0; a < accounts_n; ++a)
      n += must(r.entries("acct-" + std::to_string(a), 0, 1000)).size();
    return n;
  };
  std::size_t committed = 0;
  for (int i = 0; i < 4; ++i) {
    ledger::change_set c = w.step(l, i);
    committed += c.entries.size();
    must(s->commit(c));
    // Straight from the file: nothing yet. Through the barrier: every step,
    // the entries the file lacks taken from the log's pending records,
    // without making the applier go (it still waits for 1000 records).
    EXPECT_EQ(count(plain), 0u) << i;
    EXPECT_EQ(count(reader), committed) << i;
    EXPECT_EQ(s->applied_seq(), 0u) << i;
  }
  EXPECT_GT(committed, 4u);
  // The purchase of step 1, through the barrier too, still without the
  // applier; flush_file() then makes the file hold every entry.
  must(s->commit(w.step(l, 4)));
  EXPECT_EQ(must(plain.purchases("acct-1", 0, 10)).size(), 0u);
  EXPECT_EQ(must(reader.purchases("acct-1", 0, 10)).size(), 1u);
  // Its Stripe event id too (a delivery the ledger does not hold asks).
  EXPECT_FALSE(must(plain.external_id_recorded("evt_1")));
  EXPECT_TRUE(must(reader.external_id_recorded("evt_1")));
  EXPECT_FALSE(must(reader.external_id_recorded("evt_2")));
  EXPECT_EQ(s->applied_seq(), 0u);
  EXPECT_EQ(must(reader.flush_file()), s->durable_seq());
  EXPECT_TRUE(must(plain.external_id_recorded("evt_1")));
  EXPECT_TRUE(must(reader.external_id_recorded("evt_1")));
  EXPECT_EQ(s->applied_seq(), s->durable_seq());
  EXPECT_EQ(s->lots_seq(), s->durable_seq());
  EXPECT_EQ(count(plain), count(reader));
  EXPECT_EQ(must(plain.purchases("acct-1", 0, 10)).size(), 1u);
  // And the lots.
  must(s->commit(w.step(l, 5)));
  EXPECT_EQ(must(reader.lots("acct-1", 0, 1000)).size(), l.find_account("acct-1")->lots.size());
}

// The applier hands the records it applied back to the committer, which
// encodes later records into their buffers: such a record reads back as
// itself, nothing of what the buffer held before, and a record a reader
// still holds when it is applied is not reused under it.
TEST(log_store, applied_records_are_encoded_into_again_unless_a_reader_holds_one) {
  temp_dir tmp;
  std::mutex m;
  std::condition_variable cv;
  int kept = 0;           // the applier's hand-backs
  bool may_apply = true;  // closed, the applier waits before a batch
  log_store_options opts;
  opts.apply_records_min = 3;
  opts.at_step = [&](std::string_view step) {
    if (step == "apply_begin") {
      std::unique_lock g(m);
      cv.wait(g, [&] { return may_apply; });
      return;
    }
    if (step != "spares_kept") return;
    std::lock_guard g(m);
    ++kept;
    cv.notify_all();
  };
  auto s = open_log_store(tmp, opts);
  store::sqlite::sqlite_reader plain{tmp.file("ledger.db")};
  store::log::barrier_reader reader{plain, *s};
  ledger::ledger l;
  workload w;
  auto wait_kept = [&](int n) {
    std::unique_lock g(m);
    cv.wait(g, [&] { return kept >= n; });
  };
  // Each account's entries committed so far (seqs), and through a reader.
  std::map<std::string, std::vector<std::uint64_t>> committed;
  std::set<std::string> last_owners;  // the accounts of the last commit's rows
  auto commit = [&](int i) {
    const ledger::change_set c = w.step(l, i);
    last_owners.clear();
    for (const auto& e : c.entries) {
      committed[e.owner->id].push_back(e.seq);
      last_owners.insert(e.owner->id);
    }
    for (const auto& lot : c.lots)
      last_owners.insert(lot.owner->id);
    for (const auto& ch : c.charges)
      last_owners.insert(ch.owner->id);
    must(s->commit(c));
  };
  auto journal = [&](store::journal_reader& r) {
    std::map<std::string, std::vector<std::uint64_t>> out;
    for (int a = 0; a < accounts_n; ++a) {
      const std::string id = "acct-" + std::to_string(a);
      for (const auto& e : must(r.entries(id, 0, 1000)))
        out[id].push_back(e.e.seq);
    }
    return out;
  };

  // Three records (every account made in the first): applied together and
  // all three handed back.
  for (int i = 0; i < 3; ++i)
    commit(i);
  wait_kept(1);
  EXPECT_EQ(s->applied_seq(), 3u);
  EXPECT_EQ(s->spare_records(), 3u);

  // Record 4 goes into a new record (the committer takes a spare after
  // each commit, for the next); record 5 into a spare, whose buffers held
  // one of the first three. Both stay pending (two of three).
  commit(3);
  EXPECT_EQ(s->spare_records(), 2u);
  commit(4);
  EXPECT_EQ(s->spare_records(), 1u);
  EXPECT_EQ(s->applied_seq(), 3u);

  // Through the barrier every entry committed, each once, the file's and
  // the pending records'; record 5 is found by its own accounts only.
  EXPECT_EQ(journal(reader), committed);
  const std::set<std::string> fifth_owners = last_owners;
  ASSERT_FALSE(fifth_owners.empty());
  ASSERT_LT(fifth_owners.size(), static_cast<std::size_t>(accounts_n));
  for (int a = 0; a < accounts_n; ++a) {
    const std::string id = "acct-" + std::to_string(a);
    bool found = false;
    for (const auto& record : s->pending_with(id))
      found = found || record->seq == 5;
    EXPECT_EQ(found, fifth_owners.count(id) != 0) << id;
  }

  // A reader holds record 5 while it is applied (with 4 and 6): it is not
  // handed back, and stays as the reader took it while later records are
  // encoded into the others.
  const auto held = s->pending_with(*fifth_owners.begin());
  ASSERT_FALSE(held.empty());
  ASSERT_EQ(held.back()->seq, 5u);
  const std::string held_payload = held.back()->payload;
  // The applier is held at its batch's start until the spares are counted:
  // the third pending record wakes it, and it could hand them back first.
  {
    std::lock_guard g(m);
    may_apply = false;
  }
  commit(5);
  EXPECT_EQ(s->spare_records(), 0u);
  {
    std::lock_guard g(m);
    may_apply = true;
  }
  cv.notify_all();
  wait_kept(2);
  EXPECT_EQ(s->applied_seq(), 6u);
  EXPECT_EQ(s->spare_records(), 3u - held.size());
  commit(6);
  commit(7);
  EXPECT_EQ(held.back()->seq, 5u);
  EXPECT_EQ(held.back()->payload, held_payload);
  EXPECT_EQ(journal(reader), committed);
  must(s->wait_applied(s->durable_seq()));
  EXPECT_EQ(journal(plain), committed);
}

// Records of spread rounds vary in size (8 to 14 KiB in an in-process W1
// cell): a spare must fit the next record as it is, or the committer makes
// a new buffer and first touches it while it encodes. Once the buffers
// have grown past the largest record, none is made (record_buffers_made).
TEST(log_store, spares_fit_records_of_varying_sizes_without_new_buffers) {
  temp_dir tmp;
  std::mutex m;
  std::condition_variable cv;
  int kept = 0;  // the applier's hand-backs
  log_store_options opts;
  opts.log.segment_bytes = 4u << 20;
  opts.at_step = [&](std::string_view step) {
    if (step != "spares_kept") return;
    std::lock_guard g(m);
    ++kept;
    cv.notify_all();
  };
  auto s = open_log_store(tmp, opts);
  std::mt19937_64 rng(7);
  // One idempotency record a commit, its body 2 to 14 KiB; each commit is
  // applied and its buffers handed back before the next.
  auto commit = [&](int i) {
    ledger::change_set c;
    c.idempotency_added.push_back(
        {"key-" + std::to_string(i), "fp", 200, std::string(2048 + rng() % 12288, 'x'), t0 + i});
    c.next_object_id = 1;
    c.next_seq = 1;
    must(s->commit(c));
    must(s->wait_applied(s->durable_seq()));
    std::unique_lock g(m);
    cv.wait(g, [&] { return kept >= i + 1; });
  };
  for (int i = 0; i < 50; ++i)
    commit(i);
  const std::uint64_t warm = s->record_buffers_made();
  EXPECT_GE(warm, 1u);
  for (int i = 50; i < 250; ++i)
    commit(i);
  EXPECT_EQ(s->record_buffers_made(), warm);
}

// A journal read through the barrier is the file's rows up to the file's
// last entry, then the pending records' entries above it: pages of any size
// cross that seam without a gap or a repeat, wherever the applier stands.
TEST(log_store, journal_pages_through_the_barrier_cross_from_the_file_to_the_pending_records) {
  lagging_store f;
  auto& [tmp, s, plain, reader, l, w] = f;
  constexpr int steps = 12;
  const std::vector<std::uint64_t> seqs = f.commit_steps(0, steps);
  auto listed = [](store::journal_reader& r, const std::string& acct, std::size_t page) {
    std::string out;
    std::uint64_t after = 0;
    while (true) {
      auto rows = must(r.entries(acct, after, page));
      for (const store::stored_entry& e : rows) {
        EXPECT_EQ(e.account, acct);
        EXPECT_GT(e.e.seq, after) << "out of order or repeated";
        // Every field an entry has: the pending records' copy must read as
        // the file's row does.
        const ledger::entry& x = e.e;
        out += std::to_string(x.seq) + ":" + std::string(ledger::to_string(x.type)) + "," +
               std::to_string(x.amount) + "," + std::to_string(x.balance_after) + "," +
               std::to_string(x.quantity) + "," + std::to_string(x.lot_id) + "," +
               std::to_string(x.charge_id) + "," + std::to_string(x.hold_id) + "," +
               std::to_string(x.refund_id) + "," + x.operation + "," + x.dimensions + "," +
               x.reference + "," + x.reason + "," + x.metadata + "," + x.price_id + "," +
               std::to_string(x.unit_amount) + "," + std::to_string(x.created_at);
        for (const ledger::lot_part& p : x.parts)
          out += " " + std::to_string(p.lot) + "=" + std::to_string(p.amount);
        out += "\n";
        after = e.e.seq;
      }
      if (rows.size() < page) return out;
    }
  };
  // Every account's journal, with nothing in the file, then with the file
  // holding the first k records and the rest pending.
  std::vector<std::string> expected;
  for (int a = 0; a < accounts_n; ++a)
    expected.push_back(listed(reader, "acct-" + std::to_string(a), 1000));
  EXPECT_EQ(s->applied_seq(), 0u);
  for (int k : {3, 7, steps}) {
    must(s->wait_applied(seqs[static_cast<std::size_t>(k - 1)]));
    for (int a = 0; a < accounts_n; ++a) {
      const std::string acct = "acct-" + std::to_string(a);
      for (std::size_t page : {1u, 2u, 3u, 1000u})
        EXPECT_EQ(listed(reader, acct, page), expected[static_cast<std::size_t>(a)])
            << acct << ", page " << page << ", file up to record " << s->applied_seq();
    }
  }
  // The applier may write records between the reader's two steps: those
  // are then in the pending records taken and in the file read, and listed
  // once. Here it writes all of them, after the commit of a few more.
  f.commit_steps(steps, steps + 4);
  expected.clear();
  for (int a = 0; a < accounts_n; ++a)
    expected.push_back(listed(reader, "acct-" + std::to_string(a), 1000));
  EXPECT_LT(s->applied_seq(), s->durable_seq());
  reader.between_pending_and_file = [&] { must(s->wait_applied(s->durable_seq())); };
  for (int a = 0; a < accounts_n; ++a)
    EXPECT_EQ(listed(reader, "acct-" + std::to_string(a), 1000),
              expected[static_cast<std::size_t>(a)]);
  reader.between_pending_and_file = nullptr;
  // Once everything is in the file, the file alone says the same.
  for (int a = 0; a < accounts_n; ++a)
    EXPECT_EQ(listed(plain, "acct-" + std::to_string(a), 1000),
              expected[static_cast<std::size_t>(a)]);
  EXPECT_FALSE(expected[0].empty());
}

// An account's lots read a page at a time, `page(after, n)` returning the
// next n (ids rising, none repeated: checked), each as `text` writes it.
template <class Page, class Text>
std::string lots_paged(Page page, std::size_t n, Text text) {
  std::string out;
  std::uint64_t after = 0;
  while (true) {
    auto rows = page(after, n);
    for (const auto& row : rows) {
      const ledger::object_id id = text(row, out);
      EXPECT_GT(id, after) << "out of order or repeated";
      after = id;
    }
    if (rows.size() < n) return out;
  }
}

// The account's lots in the ledger, in id order, each as `text` writes it.
template <class Text>
std::string lots_in_memory(const ledger::ledger& l, const std::string& acct, Text text) {
  std::vector<const ledger::lot*> lots(l.find_account(acct)->lots.begin(),
                                       l.find_account(acct)->lots.end());
  std::sort(lots.begin(), lots.end(),
            [](const ledger::lot* a, const ledger::lot* b) { return a->id < b->id; });
  std::string out;
  for (const ledger::lot* x : lots)
    text(*x, out);
  return out;
}

// For every account and page size: `listed(r, account, page)` reads as
// `expected(account)`.
template <class Listed, class Expected>
void expect_every_account_lists(Listed listed, store::journal_reader& r,
                                std::initializer_list<std::size_t> pages, Expected expected) {
  for (int a = 0; a < accounts_n; ++a) {
    const std::string acct = "acct-" + std::to_string(a);
    for (std::size_t page : pages)
      EXPECT_EQ(listed(r, acct, page), expected(acct)) << acct << ", page " << page;
  }
}

// A lots read through the barrier does not wait for the applier either: the
// lots of the pending records are laid over the file's page (their terms
// never change, so a lot in both reads the same from either).
TEST(log_store, lots_through_the_barrier_read_the_pending_records_without_waiting) {
  lagging_store f;
  auto& [tmp, s, plain, reader, l, w] = f;
  f.commit_steps(0, 12);
  auto text = [](const ledger::lot_terms& t, std::string& out) {
    out += std::to_string(t.id) + ":" + std::string(ledger::to_string(t.kind)) + "," +
           std::to_string(t.priority) + "," + std::to_string(t.effective_at) + "," +
           std::to_string(t.expires_at) + " ";
    return t.id;
  };
  auto listed = [&](store::journal_reader& r, const std::string& acct, std::size_t page) {
    return lots_paged(
        [&](std::uint64_t after, std::size_t n) { return must(r.lots(acct, after, n)); }, page,
        text);
  };
  auto in_memory = [&](const std::string& acct) {
    return lots_in_memory(l, acct, [&](const ledger::lot& x, std::string& out) {
      text({x.id, x.kind, x.priority, x.effective_at, x.expires_at}, out);
    });
  };
  std::size_t lots_seen = 0;
  for (int a = 0; a < accounts_n; ++a)
    lots_seen += l.find_account("acct-" + std::to_string(a))->lots.size();
  EXPECT_GT(lots_seen, 0u);
  expect_every_account_lists(listed, reader, {1, 2, 1000}, in_memory);
  EXPECT_EQ(s->applied_seq(), 0u);  // nothing made the applier go
  // The applier's whole transaction between taking the pending records and
  // reading the file: each lot still listed once.
  reader.between_pending_and_file = [&] { must(s->wait_applied(s->durable_seq())); };
  expect_every_account_lists(listed, reader, {2}, in_memory);
  reader.between_pending_and_file = nullptr;
  EXPECT_EQ(s->applied_seq(), s->durable_seq());
  expect_every_account_lists(listed, plain, {1000}, in_memory);
}

// A listing of lot rows through the barrier does not wait either: each
// lot's newest copy in the pending records above the file's mark (read in
// the same snapshot as the rows) is laid over the file's row.
TEST(log_store, lot_rows_through_the_barrier_read_the_newest_pending_copy_without_waiting) {
  lagging_store f;
  auto& [tmp, s, plain, reader, l, w] = f;
  f.commit_steps(0, 12);
  auto text = [](const ledger::lot& x, std::string& out) {
    out += std::to_string(x.id) + ":" + std::string(ledger::to_string(x.status)) + "," +
           std::to_string(x.amount) + "," + std::to_string(x.remaining) + "," +
           std::to_string(x.held) + "," + std::to_string(x.spent) + "," +
           std::to_string(x.expired) + "," + std::to_string(x.voided) + " ";
    return x.id;
  };
  auto listed = [&](store::journal_reader& r, const std::string& acct, std::size_t page) {
    return lots_paged(
        [&](std::uint64_t after, std::size_t n) { return must(r.lot_rows(acct, after, n)); }, page,
        [&](const store::stored_lot& x, std::string& out) { return text(x.l, out); });
  };
  auto in_memory = [&](const std::string& acct) { return lots_in_memory(l, acct, text); };
  expect_every_account_lists(listed, reader, {1, 2, 1000}, in_memory);
  EXPECT_EQ(s->applied_seq(), 0u);  // nothing made the applier go
  // Between taking the pending records and reading the file, acct-0 is
  // charged and the applier writes everything: the file's rows are then
  // newer than the pending copies, which must not be laid over them.
  const std::string before = in_memory("acct-0");
  bool charged = false;
  reader.between_pending_and_file = [&] {
    if (std::exchange(charged, true)) return;
    const time_us now = t0 + 20 * 3600 * ledger::us_per_second;
    ledger::charge_cmd c{"acct-0",   credit / 8, "image.generate", R"({"model":"m1"})",
                         "ref-hook", false};
    EXPECT_TRUE(l.charge(c, now).has_value());
    must(s->commit(l.take_changes()));
    must(s->wait_applied(s->durable_seq()));
  };
  const std::string read = listed(reader, "acct-0", 1000);  // charges acct-0 on the way
  EXPECT_EQ(read, in_memory("acct-0"));
  reader.between_pending_and_file = nullptr;
  EXPECT_TRUE(charged);
  EXPECT_NE(in_memory("acct-0"), before);  // the charge changed a lot
  EXPECT_EQ(s->applied_seq(), s->durable_seq());
  expect_every_account_lists(listed, plain, {1000}, in_memory);
}

// An events read through the barrier does not wait for the applier: the
// file holds a prefix of the events in seq order, and the pending records'
// events above its page's last follow it. Every filter (all events, one
// account's, one type's, both) and page size reads as the file does once
// it holds everything.
TEST(log_store, events_through_the_barrier_read_the_pending_records_without_waiting) {
  lagging_store f;
  auto& [tmp, s, plain, reader, l, w] = f;
  constexpr int steps = 16;
  const std::vector<std::uint64_t> seqs = f.commit_steps(0, steps);
  auto listed = [](store::journal_reader& r, const std::string& acct, const std::string& type,
                   std::size_t page) {
    std::string out;
    store::event_filter filter{.after = 0, .account = acct, .type = type, .limit = page};
    while (true) {
      auto rows = must(r.events(filter));
      for (const store::stored_event& e : rows) {
        EXPECT_GT(e.ev.seq, filter.after) << "out of order or repeated";
        if (!acct.empty()) {
          EXPECT_EQ(e.account, acct);
        }
        if (!type.empty()) {
          EXPECT_EQ(ledger::to_string(e.ev.type), type);
        }
        out += std::to_string(e.ev.seq) + ":" + std::string(ledger::to_string(e.ev.type)) + "," +
               e.account + "," + e.ev.data + "," + std::to_string(e.ev.created_at) + "\n";
        filter.after = e.ev.seq;
      }
      if (rows.size() < page) return out;
    }
  };
  const std::vector<std::string> accounts = {"", "acct-0", "acct-1", "acct-3", "acct-9"};
  const std::vector<std::string> types = {"", "balance.low", "purchase.completed"};
  // What each filter lists through the barrier with nothing in the file.
  std::map<std::pair<std::string, std::string>, std::string> seen;
  for (const std::string& acct : accounts)
    for (const std::string& type : types)
      seen[{acct, type}] = listed(reader, acct, type, 1000);
  EXPECT_EQ(s->applied_seq(), 0u);  // nothing made the applier go
  EXPECT_EQ(listed(plain, "", "", 1000), "");
  EXPECT_FALSE(seen[std::make_pair(std::string(), std::string())].empty());
  EXPECT_FALSE(seen[std::make_pair(std::string(), std::string("balance.low"))].empty());
  EXPECT_FALSE(
      seen[std::make_pair(std::string("acct-1"), std::string("purchase.completed"))].empty());
  auto every_filter_lists_as_seen = [&](std::initializer_list<std::size_t> pages) {
    for (const std::string& acct : accounts)
      for (const std::string& type : types)
        for (std::size_t page : pages)
          EXPECT_EQ(listed(reader, acct, type, page), (seen[{acct, type}]))
              << "account '" << acct << "', type '" << type << "', page " << page
              << ", file up to record " << s->applied_seq();
  };
  // The file holding the first k records, the rest pending.
  for (int k : {0, 4, 9}) {
    if (k > 0) must(s->wait_applied(seqs[static_cast<std::size_t>(k - 1)]));
    every_filter_lists_as_seen({1, 2, 3, 1000});
  }
  // The applier's whole transaction between taking the pending records and
  // reading the file: each event still listed once. For each filter, a few
  // records more first, so that its read has pending records to take.
  int step = steps;
  for (const std::string& acct : accounts) {
    for (const std::string& type : types) {
      f.commit_steps(step, step + 2);
      step += 2;
      const std::string expected = listed(reader, acct, type, 1000);
      reader.between_pending_and_file = [&] { must(s->wait_applied(s->durable_seq())); };
      EXPECT_EQ(listed(reader, acct, type, 1000), expected) << acct << " " << type;
      reader.between_pending_and_file = nullptr;
      EXPECT_EQ(s->applied_seq(), s->durable_seq());
      seen[{acct, type}] = expected;
    }
  }
  // And the file alone says the same (the last records' events included).
  for (const std::string& acct : accounts)
    for (const std::string& type : types)
      EXPECT_EQ(listed(plain, acct, type, 1000), listed(reader, acct, type, 1000))
          << acct << " " << type;
}

// A charge, hold or lot read back by id through the barrier does not wait
// either: its newest copy in the pending records when that record is above
// the file's mark (read in the same snapshot as the row), else the file's.
TEST(log_store, read_backs_by_id_through_the_barrier_take_the_newest_pending_copy) {
  lagging_store f;
  auto& [tmp, s, plain, reader, l, w] = f;
  std::vector<ledger::object_id> charges, holds, lots;
  auto commit = [&](ledger::change_set c) {
    for (const auto& x : c.charges)
      charges.push_back(x.id);
    for (const auto& x : c.holds)
      holds.push_back(x.id);
    for (const auto& x : c.lots)
      lots.push_back(x.id);
    must(s->commit(c));
  };
  for (int i = 0; i < 14; ++i)
    commit(w.step(l, i));
  for (auto* ids : {&charges, &holds, &lots}) {
    std::sort(ids->begin(), ids->end());
    ids->erase(std::unique(ids->begin(), ids->end()), ids->end());
    EXPECT_FALSE(ids->empty());
  }
  auto parts_text = [](const auto& parts) {
    std::string out;
    for (const auto& p : parts)
      out += " " + std::to_string(p.lot) + "=" + std::to_string(p.amount);
    return out;
  };
  auto charge_text = [&](const std::string& acct, const ledger::charge_record& c) {
    std::string out = acct + ":" + std::to_string(c.id) + "," + std::to_string(c.amount) + "," +
                      std::to_string(c.refunded) + "," + std::to_string(c.created_at) + "," +
                      std::to_string(c.hold_id) + "," + std::to_string(c.postpaid_period);
    for (const auto& p : c.parts)
      out += " " + std::to_string(p.lot) + "=" + std::to_string(p.amount) + "/" +
             std::to_string(p.refunded);
    return out;
  };
  auto hold_text = [&](const std::string& acct, const ledger::hold& h) {
    return acct + ":" + std::to_string(h.id) + "," + std::string(ledger::to_string(h.status)) +
           "," + std::to_string(h.amount) + "," + std::to_string(h.captured) + "," +
           std::to_string(h.expires_at) + "," + std::to_string(h.closed_at) + "," +
           std::to_string(h.charge_id) + "," + h.operation + parts_text(h.parts);
  };
  auto lot_text = [&](const std::string& acct, const ledger::lot& x) {
    return acct + ":" + std::to_string(x.id) + "," + std::string(ledger::to_string(x.status)) +
           "," + std::to_string(x.amount) + "," + std::to_string(x.remaining) + "," +
           std::to_string(x.held) + "," + std::to_string(x.spent) + "," +
           std::to_string(x.expired) + "," + std::to_string(x.voided);
  };
  // Each of `ids` read through `read` against the ledger's copy (`find`),
  // both written by `text` (`row`: the stored row's ledger part).
  auto each_reads_as_in_memory = [&](const std::vector<ledger::object_id>& ids, auto find,
                                     auto read, auto row, auto text) {
    for (ledger::object_id id : ids) {
      const auto* mem = find(id);
      ASSERT_NE(mem, nullptr) << id;
      auto got = must(read(id));
      ASSERT_TRUE(got.has_value()) << id;
      EXPECT_EQ(text(got->account, (*got).*row), text(mem->owner->id, *mem));
    }
  };
  // Every id read through `r` against the ledger's copy.
  auto every_id_reads_as_in_memory = [&](store::journal_reader& r) {
    each_reads_as_in_memory(
        charges, [&](ledger::object_id id) { return l.find_charge(id); },
        [&](ledger::object_id id) { return r.charge(id); }, &store::stored_charge::c, charge_text);
    each_reads_as_in_memory(
        holds, [&](ledger::object_id id) { return l.find_hold(id); },
        [&](ledger::object_id id) { return r.hold(id); }, &store::stored_hold::h, hold_text);
    each_reads_as_in_memory(
        lots, [&](ledger::object_id id) { return l.find_lot(id); },
        [&](ledger::object_id id) { return r.lot(id); }, &store::stored_lot::l, lot_text);
  };
  EXPECT_FALSE(must(plain.charge(charges.front())).has_value());
  every_id_reads_as_in_memory(reader);
  EXPECT_EQ(s->applied_seq(), 0u);  // nothing made the applier go
  EXPECT_FALSE(must(reader.charge(charges.back() + 1000)).has_value());
  // Half in the file, then rows changed again in pending records: a refund
  // of every charge, a capture or release of every open hold.
  must(s->wait_applied(s->durable_seq() / 2));
  every_id_reads_as_in_memory(reader);
  const time_us later = t0 + 30 * 3600 * ledger::us_per_second;
  for (ledger::object_id id : charges)
    (void)l.refund({id, credit / 16, "again"}, later);
  for (ledger::object_id id : holds)
    (void)l.release(id, later);
  commit(l.take_changes());
  every_id_reads_as_in_memory(reader);
  // Between taking the pending records and reading the file, each row is
  // changed again and the applier writes everything: the file's row is then
  // newer than the pending copy, which must not win. Reads of the file are
  // made with its mark only: a pending copy at or below it is older.
  const auto refundable = std::find_if(charges.begin(), charges.end(), [&](ledger::object_id id) {
    const ledger::charge_record* c = l.find_charge(id);
    return c->amount - c->refunded >= credit / 32;
  });
  ASSERT_NE(refundable, charges.end());
  const ledger::object_id charge_id = *refundable;
  const std::string pending_copy =
      charge_text(l.find_charge(charge_id)->owner->id, *l.find_charge(charge_id));
  reader.between_pending_and_file = [&] {
    EXPECT_TRUE(l.refund({charge_id, credit / 32, "between"}, later).has_value());
    commit(l.take_changes());
    must(s->wait_applied(s->durable_seq()));
  };
  auto got = must(reader.charge(charge_id));
  reader.between_pending_and_file = nullptr;
  ASSERT_TRUE(got.has_value());
  const std::string newest =
      charge_text(l.find_charge(charge_id)->owner->id, *l.find_charge(charge_id));
  EXPECT_NE(newest, pending_copy);
  EXPECT_EQ(charge_text(got->account, got->c), newest);
  EXPECT_EQ(s->applied_seq(), s->durable_seq());
  every_id_reads_as_in_memory(plain);
}

TEST(log_store, the_engine_group_commits_through_it) {
  temp_dir tmp;
  constexpr int steps = 60;
  const auto ref = reference_dumps(steps);
  {
    auto s = open_log_store(tmp);
    ledger::ledger l;
    must(s->load(l, t0));
    engine::engine eng(l, *s, {.clock = [] { return t0; }});
    workload w;
    // Submitted at once: the writer applies them in order while earlier
    // sets are being appended (several tasks per record).
    std::vector<std::unique_ptr<creditd::testing::fn_task>> tasks;
    for (int i = 0; i < steps; ++i) {
      tasks.push_back(std::make_unique<creditd::testing::fn_task>(
          [&w, i](ledger::ledger& led, time_us) { w.run(led, i); }));
      eng.submit(tasks.back().get());
    }
    for (auto& t : tasks)
      EXPECT_TRUE(t->wait());
    eng.stop();
    EXPECT_FALSE(eng.failed());
    EXPECT_EQ(eng.stats().commits, s->durable_seq());
  }
  auto s = open_log_store(tmp);
  EXPECT_EQ(loaded_dump(*s, tmp.file("ledger.db")), ref[steps]);
}

// The log is the durability point and SQLite's transactions are not synced:
// a crash of the machine may take back what the file was given after its
// last complete checkpoint. So a segment is recycled only below the file's
// durable mark. A reader's snapshot keeps checkpoints from completing: the
// mark stays, and every record above it stays in the log.
TEST(log_store, segments_are_recycled_only_below_what_the_file_holds_on_disk) {
  temp_dir tmp;
  log_store_options opts;
  opts.log.dir = tmp.file("log");
  opts.log.segment_bytes = 4096;
  auto db = must(sqlite_store::open({tmp.file("ledger.db"), /*wal_autocheckpoint_pages=*/1}));
  auto s = must(log_store::open(std::move(opts), std::move(db)));
  ledger::ledger l;
  workload w;
  auto applied_one_by_one = [&](int from, int to) {
    for (int i = from; i < to; ++i) {
      must(s->commit(w.step(l, i)));
      must(s->wait_applied(s->durable_seq(), /*with_lots=*/true));
    }
  };
  applied_one_by_one(0, 10);
  EXPECT_EQ(s->file_durable_seq(), 10u);  // a checkpoint after every transaction

  auto reader = store::sqlite::database::open(tmp.file("ledger.db"), /*create=*/false);
  ASSERT_TRUE(reader.has_value());
  ASSERT_TRUE(reader->exec("BEGIN; SELECT count(*) FROM entries;").has_value());
  const std::size_t segments_before = s->segment_count();
  applied_one_by_one(10, 60);
  EXPECT_EQ(s->applied_seq(), 60u);
  EXPECT_EQ(s->file_durable_seq(), 10u);
  EXPECT_GT(s->segment_count(), segments_before);  // none recycled
  const auto kept = must(store::log::check_log(tmp.file("log"), 10));
  EXPECT_EQ(kept.last_seq, 60u);  // records 11 to 60, no gap

  ASSERT_TRUE(reader->exec("COMMIT").has_value());
  applied_one_by_one(60, 62);
  EXPECT_EQ(s->file_durable_seq(), 62u);
}

TEST(log_store, lots_held_back_are_read_from_the_backlog_and_written_when_asked_or_at_the_stop) {
  temp_dir tmp;
  const auto ref = reference_dumps(12);
  const std::string path = tmp.file("ledger.db");
  auto lots_lag = [&] {
    auto report = must(store::sqlite::audit_file(path));
    for (const std::string& p : report.problems)
      if (p.find("log_lots_seq") != std::string::npos) return true;
    EXPECT_TRUE(report.ok()) << store::sqlite::describe(report, path);
    return false;
  };
  {
    log_store_options opts;
    opts.lots.lag_records = 1000;
    auto s = open_log_store(tmp, opts);
    ledger::ledger l;
    workload w;
    for (int i = 0; i < 10; ++i)
      must(s->commit(w.step(l, i)));
    // The journal is in the file; the lots are held back.
    must(s->wait_applied(s->durable_seq()));
    EXPECT_EQ(s->applied_seq(), 10u);
    EXPECT_EQ(s->lots_seq(), 0u);
    EXPECT_TRUE(lots_lag());
    // Reads take the held copies over the file's rows, and write nothing:
    // a load, and each lot read through the barrier.
    auto in_memory = [&] {
      ledger::ledger fresh;
      must(s->load(fresh, t0 + 1000 * 3600 * ledger::us_per_second));
      return dump_ledger(fresh);
    };
    const std::string loaded_while_held = in_memory();
    store::sqlite::sqlite_reader inner(path);
    store::log::barrier_reader reader(inner, *s);
    auto lot_text = [](const store::stored_lot& r) {
      return std::to_string(r.l.id) + ":" + std::string(ledger::to_string(r.l.status)) + " rem " +
             std::to_string(r.l.remaining) + " held " + std::to_string(r.l.held) + " spent " +
             std::to_string(r.l.spent) + " @" + r.account;
    };
    auto lots_seen = [&](store::journal_reader& from, std::size_t page) {
      std::vector<std::string> out;
      for (int a = 0; a < accounts_n; ++a) {
        const std::string acct = "acct-" + std::to_string(a);
        std::uint64_t after = 0;
        while (true) {  // in pages, so that held lots fall inside and past them
          auto rows = must(from.lot_rows(acct, after, page));
          auto terms = must(from.lots(acct, after, page));
          EXPECT_EQ(rows.size(), terms.size());
          for (std::size_t i = 0; i < rows.size() && i < terms.size(); ++i) {
            EXPECT_EQ(rows[i].l.id, terms[i].id);
            auto one = must(from.lot(rows[i].l.id));
            EXPECT_TRUE(one.has_value() && lot_text(*one) == lot_text(rows[i]));
            out.push_back(lot_text(rows[i]));
          }
          if (rows.size() < page) break;
          after = rows.back().l.id;
        }
      }
      return out;
    };
    const auto through_barrier = lots_seen(reader, 2);
    EXPECT_EQ(lots_seen(reader, 100), through_barrier);
    EXPECT_NE(lots_seen(inner, 100), through_barrier);  // the file alone is behind
    EXPECT_EQ(s->lots_seq(), 0u);
    // Asked for them, the applier writes them: the file alone agrees.
    must(s->wait_applied(s->durable_seq(), /*with_lots=*/true));
    EXPECT_EQ(s->lots_seq(), 10u);
    EXPECT_FALSE(lots_lag());
    EXPECT_EQ(lots_seen(inner, 100), through_barrier);
    EXPECT_EQ(in_memory(), loaded_while_held);
    EXPECT_EQ(loaded_dump(*s, path), ref[10]);
    for (int i = 10; i < 12; ++i)
      must(s->commit(w.step(l, i)));
    must(s->wait_applied(s->durable_seq()));
    EXPECT_EQ(s->lots_seq(), 10u);
  }
  // The stop wrote the rest: the file alone is whole.
  EXPECT_FALSE(lots_lag());
  auto db = must(sqlite_store::open({path}));
  EXPECT_EQ(db->applied_lots_seq(), 12u);
  EXPECT_EQ(loaded_dump(*db, path), ref[12]);
}

TEST(log_store, a_file_killed_with_lots_held_back_gets_them_from_the_log) {
  temp_dir tmp;
  const auto ref = reference_dumps(20);
  const std::string path = tmp.file("ledger.db");
  // Every record applied, the last ones' lots held back (3 records).
  ASSERT_EQ(run_killed_child(tmp, 20, "never", 0, false), 20);
  {
    auto db = must(sqlite_store::open({path}));
    EXPECT_EQ(db->applied_log_seq(), 20u);
    const std::uint64_t lots_mark = db->applied_lots_seq();
    EXPECT_LT(lots_mark, 20u);
    // The file alone is refused, by load and by the audit, naming the lag.
    ledger::ledger l;
    auto loaded = db->load(l, t0);
    ASSERT_FALSE(loaded.has_value());
    EXPECT_NE(loaded.error().message.find("lot rows lag its journal"), std::string::npos)
        << loaded.error().message;
    EXPECT_FALSE(must(store::sqlite::audit_file(path)).ok());
    // Without its log, nothing is written.
    EXPECT_FALSE(store::log::catch_up_lots(*db, tmp.file("elsewhere")).has_value());
    EXPECT_EQ(db->applied_lots_seq(), lots_mark);
    // From the log: the lots of the records after the mark, and no more.
    EXPECT_EQ(must(store::log::catch_up_lots(*db, tmp.file("log"))), 20u - lots_mark);
    EXPECT_EQ(db->applied_lots_seq(), 20u);
    EXPECT_EQ(must(store::log::catch_up_lots(*db, tmp.file("log"))), 0u);
    EXPECT_EQ(loaded_dump(*db, path), ref[20]);
    EXPECT_TRUE(must(store::sqlite::audit_file(path)).ok());
  }
  // Killed again with lots held: a start writes them before anything else.
  temp_dir again;
  ASSERT_EQ(run_killed_child(again, 20, "never", 0, false), 20);
  auto s = open_log_store(again);
  EXPECT_EQ(s->lots_seq(), 20u);
  EXPECT_EQ(loaded_dump(*s, again.file("ledger.db")), ref[20]);
}

TEST(log_store, segments_are_recycled_only_below_the_lots_mark_while_lots_are_held) {
  temp_dir tmp;
  log_store_options opts;
  opts.log.dir = tmp.file("log");
  opts.log.segment_bytes = 4096;
  opts.lots.lag_records = 20;
  // A checkpoint after every transaction: the journal's mark is on disk at once.
  auto db = must(sqlite_store::open({tmp.file("ledger.db"), /*wal_autocheckpoint_pages=*/1}));
  auto s = must(log_store::open(std::move(opts), std::move(db)));
  ledger::ledger l;
  workload w;
  std::uint64_t lots_mark_seen = 0;
  for (int i = 0; i < 60; ++i) {
    must(s->commit(w.step(l, i)));
    must(s->wait_applied(s->durable_seq()));
    // The lots' mark lags the journal's, and recycling follows the lower.
    EXPECT_LT(s->lots_seq(), s->applied_seq());
    EXPECT_LE(s->file_durable_seq(), s->lots_seq());
    lots_mark_seen = std::max(lots_mark_seen, s->lots_seq());
    // Every record above it is still in the log.
    const auto kept = must(store::log::check_log(tmp.file("log"), s->lots_seq()));
    EXPECT_EQ(kept.last_seq, s->durable_seq());
  }
  EXPECT_GT(lots_mark_seen, 20u);  // it moved: lots were written on the way
}
}  // namespace log_store_test_cpp
