// The applier's priority (store/log/background_priority.hpp): SCHED_IDLE
// while it writes and nobody waits for it; normal again the moment a read
// waits for the file, the queue is half full, or another connection waits
// for the file's write lock (database::set_busy_wait). No test here depends
// on timing: each blocks the applier inside its transaction with the
// at_step hook and looks at its scheduling policy.
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "ledger/ledger.hpp"
#include "store/log/background_priority.hpp"
#include "store/log/log_store.hpp"
#include "store/sqlite/sqlite_db.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "support/eventually.hpp"
#include "support/temp_dir.hpp"

namespace applier_priority_test_cpp {  // unity builds: tests/CMakeLists.txt

using namespace creditd;
using creditd::testing::eventually;
using creditd::testing::temp_dir;
using store::log::background_priority;
using store::log::log_store;
using store::log::log_store_options;
using store::sqlite::sqlite_store;

namespace {

constexpr ledger::time_us t0 = 1'795'000'000LL * ledger::us_per_second;

pid_t this_tid() {
  return static_cast<pid_t>(::syscall(SYS_gettid));
}

// Skips where the system does not let a thread come back from SCHED_IDLE
// (CI runs as root, where it does).
#define REQUIRE_PRIORITY_CHANGES()                                              \
  do {                                                                          \
    std::string why;                                                            \
    if (!background_priority::probe(&why)) {                                    \
      if (::geteuid() == 0) FAIL() << "root cannot change priorities: " << why; \
      GTEST_SKIP() << why;                                                      \
    }                                                                           \
  } while (false)

ledger::change_set account_change(ledger::ledger& l, int i) {
  ledger::account_cmd c{"acct-" + std::to_string(i), "Name", ledger::account_settings{}};
  EXPECT_TRUE(l.put_account(c, t0 + i).has_value());
  return l.take_changes();
}

// Holds the applier inside its first transaction (after it has lowered
// itself, before it writes) until release().
class applier_gate {
 public:
  void at_step(std::string_view step) {
    if (step != "apply_begin") return;
    std::unique_lock lock(mu_);
    if (++transactions_ > 1) return;
    tid_ = this_tid();
    cv_.notify_all();
    cv_.wait(lock, [&] { return open_; });
  }
  pid_t wait_inside() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return tid_ != 0; });
    return tid_;
  }
  void release() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int transactions_ = 0;
  pid_t tid_ = 0;
  bool open_ = false;
};

struct gated_store {
  temp_dir tmp;
  applier_gate gate;
  std::unique_ptr<log_store> s;
  ledger::ledger l;

  explicit gated_store(bool idle, std::size_t queued_records_max = 4096) {
    log_store_options opts;
    opts.log.dir = tmp.file("log");
    opts.idle_priority = idle;
    opts.queued_records_max = queued_records_max;
    opts.at_step = [this](std::string_view step) { gate.at_step(step); };
    auto db = sqlite_store::open({tmp.file("ledger.db")});
    EXPECT_TRUE(db.has_value());
    auto opened = log_store::open(std::move(opts), std::move(*db));
    EXPECT_TRUE(opened.has_value());
    s = std::move(*opened);
  }
  ~gated_store() {
    gate.release();
    s.reset();
  }
};

}  // namespace

// unhurried(): set by lower() whether or not the thread may be lowered (the
// SQLite file's writeback is paced by it), cleared by raise() and demand(),
// and not set while someone demands.
TEST(background_priority, unhurried_is_set_by_lower_even_when_it_may_not_lower) {
  for (const bool enabled : {false, true}) {
    background_priority p;
    p.attach_this_thread(enabled);
    EXPECT_FALSE(p.unhurried().load());
    p.lower();
    EXPECT_TRUE(p.unhurried().load()) << enabled;
    p.raise();
    EXPECT_FALSE(p.unhurried().load()) << enabled;
    p.lower();
    p.demand();
    EXPECT_FALSE(p.unhurried().load()) << enabled;
    p.lower();  // while demanded: stays hurried
    EXPECT_FALSE(p.unhurried().load()) << enabled;
    p.release();
    p.lower();
    EXPECT_TRUE(p.unhurried().load()) << enabled;
    p.raise();
  }
}

TEST(applier_priority, lowers_comes_back_and_a_demand_wins) {
  REQUIRE_PRIORITY_CHANGES();
  std::thread([] {
    background_priority p;
    p.attach_this_thread(true);
    p.lower();
    EXPECT_EQ(::sched_getscheduler(0), SCHED_IDLE);
    EXPECT_TRUE(p.lowered());
    p.raise();
    EXPECT_EQ(::sched_getscheduler(0), SCHED_OTHER);
    // While someone demands, lower() leaves it normal.
    p.demand();
    p.lower();
    EXPECT_EQ(::sched_getscheduler(0), SCHED_OTHER);
    p.release();
    p.lower();
    EXPECT_EQ(::sched_getscheduler(0), SCHED_IDLE);
    // A demand raises at once; so does raise() from anyone.
    p.demand();
    EXPECT_EQ(::sched_getscheduler(0), SCHED_OTHER);
    EXPECT_FALSE(p.lowered());
    p.release();
    p.lower();
    p.raise();
    EXPECT_EQ(::sched_getscheduler(0), SCHED_OTHER);
    // Disabled: never lowered.
    background_priority off;
    off.attach_this_thread(false);
    off.lower();
    EXPECT_EQ(::sched_getscheduler(0), SCHED_OTHER);
    EXPECT_FALSE(off.lowered());
  }).join();
}

TEST(applier_priority, the_applier_writes_at_idle_priority_until_a_read_waits_for_it) {
  REQUIRE_PRIORITY_CHANGES();
  gated_store g(true);
  ASSERT_TRUE(g.s->commit(account_change(g.l, 0)));
  const pid_t applier = g.gate.wait_inside();
  EXPECT_EQ(::sched_getscheduler(applier), SCHED_IDLE);
  EXPECT_TRUE(g.s->applier_lowered());
  // A read that needs the file current waits for the applier: it runs at
  // normal priority from then on.
  std::thread reader([&] { EXPECT_TRUE(g.s->wait_applied(g.s->durable_seq())); });
  EXPECT_TRUE(eventually([&] { return ::sched_getscheduler(applier) == SCHED_OTHER; }));
  EXPECT_FALSE(g.s->applier_lowered());
  g.gate.release();
  reader.join();
  EXPECT_EQ(g.s->applied_seq(), g.s->durable_seq());
}

TEST(applier_priority, a_half_full_queue_raises_the_applier) {
  REQUIRE_PRIORITY_CHANGES();
  gated_store g(true, /*queued_records_max=*/4);
  ASSERT_TRUE(g.s->commit(account_change(g.l, 0)));
  const pid_t applier = g.gate.wait_inside();
  EXPECT_EQ(::sched_getscheduler(applier), SCHED_IDLE);
  // The record in the applier's hands counts until applied: a second one
  // makes the queue half full.
  ASSERT_TRUE(g.s->commit(account_change(g.l, 1)));
  EXPECT_EQ(::sched_getscheduler(applier), SCHED_OTHER);
  EXPECT_FALSE(g.s->applier_lowered());
}

TEST(applier_priority, off_the_applier_stays_at_normal_priority) {
  REQUIRE_PRIORITY_CHANGES();
  gated_store g(false);
  ASSERT_TRUE(g.s->commit(account_change(g.l, 0)));
  const pid_t applier = g.gate.wait_inside();
  EXPECT_EQ(::sched_getscheduler(applier), SCHED_OTHER);
  EXPECT_FALSE(g.s->applier_lowered());
}

// Another connection that finds the write lock held calls its on_busy (in
// creditd: the applier's nudge) each time it retries, and fails SQLITE_BUSY
// once the timeout has passed; when on_busy lets the lock go, it succeeds.
TEST(applier_priority, a_connection_waiting_for_the_write_lock_calls_on_busy) {
  temp_dir tmp;
  const std::string path = tmp.file("f.db");
  auto a = store::sqlite::database::open(path, true);
  ASSERT_TRUE(a.has_value());
  ASSERT_TRUE(a->exec("PRAGMA journal_mode=WAL; CREATE TABLE t (x INTEGER);"));
  auto b = store::sqlite::database::open(path, false);
  ASSERT_TRUE(b.has_value());
  ASSERT_TRUE(a->exec("BEGIN IMMEDIATE; INSERT INTO t VALUES (1);"));

  int calls = 0;
  b->set_busy_wait(std::chrono::milliseconds(20), [&] { ++calls; });
  auto refused = b->exec("INSERT INTO t VALUES (2)");
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code & 0xff, SQLITE_BUSY) << refused.error().message;
  EXPECT_GE(calls, 1);

  // Its holder commits from on_busy: the retry takes the lock.
  calls = 0;
  b->set_busy_wait(std::chrono::milliseconds(60'000), [&] {
    if (++calls == 2) {
      ASSERT_TRUE(a->exec("COMMIT"));
    }
  });
  ASSERT_TRUE(b->exec("INSERT INTO t VALUES (2)"));
  EXPECT_EQ(calls, 2);
  auto q = b->prepare("SELECT count(*) FROM t");
  ASSERT_TRUE(q.has_value());
  ASSERT_TRUE(q->step().value_or(false));
  EXPECT_EQ(q->column_int(0), 2);
}
}  // namespace applier_priority_test_cpp
