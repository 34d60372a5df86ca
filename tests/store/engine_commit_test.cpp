// What the engine counts as a commit: a set without changes is none (reads
// complete without a transaction), while a read that saw a write still
// completes only after that write's commit, and not at all if it fails.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <numeric>
#include <thread>

#include "engine/engine.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "support/fn_task.hpp"
#include "support/temp_dir.hpp"

using namespace creditd;
using creditd::testing::fn_task;
using creditd::testing::run_durably;
using creditd::testing::temp_dir;
using ledger::micros;
using ledger::time_us;

namespace {

constexpr time_us t0 = 1'795'000'000LL * ledger::us_per_second;  // 2026-11-18
constexpr micros credit = ledger::micros_per_credit;

// Delegates to a real store; while closed, commit() waits for open() and
// then fails if told to. Counts the commits it is asked for.
class gated_store final : public creditd::store::store {
 public:
  explicit gated_store(creditd::store::store& inner) : inner_(inner) {}
  std::expected<void, creditd::store::store_error> load(ledger::ledger& l, time_us now) override {
    return inner_.load(l, now);
  }
  std::expected<void, creditd::store::store_error> commit(const ledger::change_set& c) override {
    commits_.fetch_add(1);
    {
      std::unique_lock lock(mu_);
      waiting_ = true;
      cv_.notify_all();
      cv_.wait(lock, [&] { return open_; });
      waiting_ = false;
    }
    if (fail_.load()) return std::unexpected(creditd::store::store_error{"injected: disk full"});
    return inner_.commit(c);
  }
  std::expected<void, creditd::store::store_error> probe() override {
    return std::unexpected(creditd::store::store_error{"injected: still failing"});
  }
  void close() {
    std::lock_guard lock(mu_);
    open_ = false;
  }
  void open(bool fail) {
    fail_ = fail;
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  // Waits until a commit is held at the gate.
  void wait_for_commit() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return waiting_; });
  }
  std::uint64_t commits() const { return commits_.load(); }

 private:
  creditd::store::store& inner_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = true;
  bool waiting_ = false;
  std::atomic<bool> fail_{false};
  std::atomic<std::uint64_t> commits_{0};
};

std::unique_ptr<store::sqlite::sqlite_store> open_store(const std::string& path) {
  auto s = store::sqlite::sqlite_store::open({path});
  EXPECT_TRUE(s.has_value()) << (s ? "" : s.error().message);
  return s ? std::move(*s) : nullptr;
}

void seed(engine::engine& e) {
  ASSERT_TRUE(run_durably(e, [](ledger::ledger& l, time_us now) {
    ASSERT_TRUE(l.put_account({"a", std::nullopt, std::nullopt}, now).has_value());
    ASSERT_TRUE(l.grant({.account = "a", .amount = 100 * credit}, now).has_value());
  }));
}

micros available(ledger::ledger& l, time_us now) {
  return l.balance(*l.find_account("a"), now).available;
}

template <std::size_t N>
std::uint64_t total(const std::array<std::uint64_t, N>& buckets) {
  return std::accumulate(buckets.begin(), buckets.end(), std::uint64_t{0});
}

}  // namespace

TEST(engine_commits, reads_alone_are_not_commits) {
  temp_dir dir;
  auto real = open_store(dir.file("r.db"));
  gated_store s(*real);
  ledger::ledger l;
  ASSERT_TRUE(s.load(l, t0).has_value());
  engine::engine e(l, s, {.clock = [] { return t0; }});
  seed(e);
  const engine::engine_stats before = e.stats();
  ASSERT_EQ(before.commits, 1u);
  ASSERT_EQ(s.commits(), 1u);

  // Reads one by one (a scrape at a time), then many at once from threads.
  constexpr int sequential = 500, threads = 4, per_thread = 500;
  for (int i = 0; i < sequential; ++i) {
    micros seen = 0;
    fn_task read([&](ledger::ledger& l, time_us now) { seen = available(l, now); }, true);
    e.submit(&read);
    ASSERT_TRUE(read.wait());
    ASSERT_EQ(seen, 100 * credit);
  }
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (int i = 0; i < per_thread; ++i) {
        fn_task read([](ledger::ledger& l, time_us now) { (void)available(l, now); }, true);
        e.submit(&read);
        ASSERT_TRUE(read.wait());
      }
    });
  }
  for (auto& th : pool)
    th.join();

  const engine::engine_stats after = e.stats();
  EXPECT_EQ(after.commits, before.commits);
  EXPECT_EQ(s.commits(), 1u);
  EXPECT_EQ(after.tasks, before.tasks);
  EXPECT_EQ(after.tasks_uncommitted - before.tasks_uncommitted,
            static_cast<std::uint64_t>(sequential + threads * per_thread));
  // The histograms count commits only.
  EXPECT_EQ(total(after.commit_us_buckets), after.commits);
  EXPECT_EQ(total(after.commit_tasks_buckets), after.commits);

  // A write that changes nothing (a refusal) is not a commit either, and
  // completes durably.
  EXPECT_TRUE(run_durably(e, [](ledger::ledger& l, time_us now) {
    EXPECT_FALSE(l.charge({"a", 1000 * credit, "op", "", "", false}, now).has_value());
  }));
  EXPECT_EQ(e.stats().commits, before.commits);
  // A write is.
  EXPECT_TRUE(run_durably(e, [](ledger::ledger& l, time_us now) {
    ASSERT_TRUE(l.charge({"a", credit, "op", "", "", false}, now).has_value());
  }));
  EXPECT_EQ(e.stats().commits, before.commits + 1);
  EXPECT_EQ(s.commits(), 2u);
  EXPECT_EQ(total(e.stats().commit_us_buckets), 2u);
}

TEST(engine_commits, a_read_after_a_write_waits_for_its_commit) {
  temp_dir dir;
  auto real = open_store(dir.file("w.db"));
  gated_store s(*real);
  ledger::ledger l;
  ASSERT_TRUE(s.load(l, t0).has_value());
  engine::engine e(l, s, {.clock = [] { return t0; }});
  seed(e);

  // The write's commit is held at the gate; the read, applied meanwhile,
  // sees the write and must not complete before the commit does.
  s.close();
  fn_task write([](ledger::ledger& l, time_us now) {
    ASSERT_TRUE(l.charge({"a", credit, "op", "", "", false}, now).has_value());
  });
  e.submit(&write);
  s.wait_for_commit();
  std::atomic<micros> seen{0};
  fn_task read([&](ledger::ledger& l, time_us now) { seen = available(l, now); }, true);
  e.submit(&read);
  for (int i = 0; i < 2000 && !read.applied(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_TRUE(read.applied());
  EXPECT_EQ(seen.load(), 99 * credit);  // it saw the pending write
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(e.stats().commits, 1u) << "the write's commit is still at the gate";
  s.open(false);
  EXPECT_TRUE(write.wait());
  EXPECT_TRUE(read.wait());
  EXPECT_EQ(e.stats().commits, 2u);
  EXPECT_EQ(e.stats().tasks_uncommitted, 1u);  // the read
}

TEST(engine_commits, a_read_that_saw_a_failed_write_is_refused) {
  temp_dir dir;
  auto real = open_store(dir.file("x.db"));
  gated_store s(*real);
  ledger::ledger l;
  ASSERT_TRUE(s.load(l, t0).has_value());
  engine::engine e(l, s, {.clock = [] { return t0; }, .recovery_interval_us = 60'000'000});
  seed(e);

  s.close();
  fn_task write([](ledger::ledger& l, time_us now) {
    ASSERT_TRUE(l.charge({"a", credit, "op", "", "", false}, now).has_value());
  });
  e.submit(&write);
  s.wait_for_commit();
  fn_task read([](ledger::ledger& l, time_us now) { (void)available(l, now); }, true);
  e.submit(&read);
  for (int i = 0; i < 2000 && !read.applied(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_TRUE(read.applied());
  s.open(true);
  EXPECT_FALSE(write.wait());
  EXPECT_FALSE(read.wait()) << "the read saw a write that never became durable";
  EXPECT_TRUE(e.failed());
  // Reads served while degraded come from the store, without commits.
  micros seen = 0;
  fn_task later([&](ledger::ledger& l, time_us now) { seen = available(l, now); }, true);
  e.submit(&later);
  EXPECT_TRUE(later.wait());
  EXPECT_EQ(seen, 100 * credit);
  const engine::engine_stats st = e.stats();
  EXPECT_EQ(st.commits, 2u);
  EXPECT_EQ(st.failures, 1u);
  EXPECT_EQ(total(st.commit_us_buckets), 2u);
}
