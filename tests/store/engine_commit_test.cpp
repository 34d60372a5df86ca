// What the engine counts as a commit: a set without changes is none (reads
// complete without a transaction), while a read that saw a write still
// completes only after that write's commit, and not at all if it fails; and
// every task's effects are committed (seen by another connection to the file)
// at the moment the task completes.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <mutex>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "engine/engine.hpp"
#include "store/log/change_codec.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "support/eventually.hpp"
#include "support/fn_task.hpp"
#include "support/open_store.hpp"
#include "support/temp_dir.hpp"

namespace engine_commit_test_cpp {  // unity builds: tests/CMakeLists.txt

using namespace creditd;
using creditd::testing::eventually;
using creditd::testing::fn_task;
using creditd::testing::open_and_load;
using creditd::testing::open_store;
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
      std::string record;
      creditd::store::log::encode_change_set(record, c);
      std::lock_guard lock(mu_);
      record_bytes_.push_back(record.size());
    }
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
  // The size of each set asked for, as the log's record would hold it.
  std::vector<std::size_t> record_bytes() {
    std::lock_guard lock(mu_);
    return record_bytes_;
  }

 private:
  creditd::store::store& inner_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = true;
  bool waiting_ = false;
  std::atomic<bool> fail_{false};
  std::atomic<std::uint64_t> commits_{0};
  std::vector<std::size_t> record_bytes_;
};

void seed(engine::engine& e) {
  ASSERT_TRUE(run_durably(e, [](ledger::ledger& l, time_us now) {
    ASSERT_TRUE(l.put_account({"a", std::nullopt, std::nullopt}, now).has_value());
    ASSERT_TRUE(l.grant({.account = "a", .amount = 100 * credit}, now).has_value());
  }));
}

// A charge of one credit to "a", which must be taken.
void charge_a_credit(ledger::ledger& l, time_us now) {
  ASSERT_TRUE(l.charge({"a", credit, "op", "", "", false}, now).has_value());
}

// Closes the gate and submits `write`; returns once its commit waits there.
void held_at_the_gate(gated_store& s, engine::engine& e, fn_task& write) {
  s.close();
  e.submit(&write);
  s.wait_for_commit();
}

micros available(ledger::ledger& l, time_us now) {
  return l.balance(*l.find_account("a"), now).available;
}

template <std::size_t N>
std::uint64_t total(const std::array<std::uint64_t, N>& buckets) {
  return std::accumulate(buckets.begin(), buckets.end(), std::uint64_t{0});
}

// A real store behind a gate, a ledger loaded from it, and an engine on both,
// seeded with account "a" holding 100 credits.
struct gated_engine {
  temp_dir dir;
  std::string path = dir.file("engine.db");
  std::unique_ptr<store::sqlite::sqlite_store> real = open_store(path);
  gated_store s{*real};
  ledger::ledger l;
  std::unique_ptr<engine::engine> e;  // the first to go

  explicit gated_engine(time_us recovery_interval_us = 1'000'000, bool on_writer = false,
                        std::size_t batch_bytes_max = engine::engine_options{}.batch_bytes_max) {
    EXPECT_TRUE(s.load(l, t0).has_value());
    e = std::make_unique<engine::engine>(
        l, s,
        engine::engine_options{.clock = [] { return t0; },
                               .batch_bytes_max = batch_bytes_max,
                               .recovery_interval_us = recovery_interval_us,
                               .commit_on_writer = on_writer});
    seed(*e);
  }
};

// An engine that commits on its writer, with a first charge held at the
// gate: what is submitted next makes one round, committed after `open`
// lets the first commit end.
struct behind_a_held_commit {
  gated_engine g{1'000'000, /*on_writer=*/true};
  engine::engine& e = *g.e;
  fn_task first{charge_a_credit};
  behind_a_held_commit() { held_at_the_gate(g.s, e, first); }
  // Lets the held commit end; returns whether the first charge was durable.
  bool open() {
    g.s.open(false);
    return first.wait();
  }
};

}  // namespace

TEST(engine_commits, reads_alone_are_not_commits) {
  gated_engine g;
  gated_store& s = g.s;
  engine::engine& e = *g.e;
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
    EXPECT_FALSE(l.charge({"nobody", credit, "op", "", "", false}, now).has_value());
  }));
  EXPECT_EQ(e.stats().commits, before.commits);
  // A refusal for credits fires charge.refused (an event to store): the
  // first is a commit, a second one within the minute is sampled away.
  EXPECT_TRUE(run_durably(e, [](ledger::ledger& l, time_us now) {
    EXPECT_FALSE(l.charge({"a", 1000 * credit, "op", "", "", false}, now).has_value());
  }));
  EXPECT_EQ(e.stats().commits, before.commits + 1);
  EXPECT_TRUE(run_durably(e, [](ledger::ledger& l, time_us now) {
    EXPECT_FALSE(l.charge({"a", 1000 * credit, "op", "", "", false}, now).has_value());
  }));
  EXPECT_EQ(e.stats().commits, before.commits + 1);
  // A write is.
  EXPECT_TRUE(run_durably(e, [](ledger::ledger& l, time_us now) {
    ASSERT_TRUE(l.charge({"a", credit, "op", "", "", false}, now).has_value());
  }));
  EXPECT_EQ(e.stats().commits, before.commits + 2);
  EXPECT_EQ(s.commits(), 3u);
  EXPECT_EQ(total(e.stats().commit_us_buckets), 3u);
}

TEST(engine_commits, a_read_after_a_write_waits_for_its_commit) {
  gated_engine g;
  gated_store& s = g.s;
  engine::engine& e = *g.e;

  // The write's commit is held at the gate; the read, applied meanwhile,
  // sees the write and must not complete before the commit does.
  fn_task write(charge_a_credit);
  held_at_the_gate(s, e, write);
  std::atomic<micros> seen{0};
  fn_task read([&](ledger::ledger& l, time_us now) { seen = available(l, now); }, true);
  e.submit(&read);
  eventually([&] { return read.applied(); });
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
  gated_engine g(60'000'000);
  gated_store& s = g.s;
  engine::engine& e = *g.e;

  fn_task write(charge_a_credit);
  held_at_the_gate(s, e, write);
  fn_task read([](ledger::ledger& l, time_us now) { (void)available(l, now); }, true);
  e.submit(&read);
  eventually([&] { return read.applied(); });
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

namespace {

// A second, independent connection to a store's file, read-only: in WAL mode
// each statement reads the last committed transaction, so what it sees is
// exactly what is durable in the file (nothing the engine holds in memory).
// Thread-safe (one mutex around the connection).
class committed_view {
 public:
  explicit committed_view(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
      error_ = "cannot open " + path + ": " + (db_ ? sqlite3_errmsg(db_) : "no memory");
      return;
    }
    sqlite3_busy_timeout(db_, 60'000);
    prepare(charge_, "SELECT account, amount FROM charges WHERE id = ?1");
    prepare(entry_,
            "SELECT count(*), coalesce(sum(amount), 0) FROM entries "
            "WHERE type = 'charge' AND charge_id = ?1");
    prepare(account_, "SELECT count(*) FROM accounts WHERE id = ?1");
  }
  ~committed_view() {
    for (sqlite3_stmt* s : {charge_, entry_, account_})
      sqlite3_finalize(s);
    sqlite3_close(db_);
  }
  committed_view(const committed_view&) = delete;
  committed_view& operator=(const committed_view&) = delete;
  const std::string& error() const { return error_; }

  // "" when charge `id` of `amount` on `account` and its journal entry are
  // committed, else what is missing.
  std::string charge_committed(ledger::object_id id, const std::string& account, micros amount) {
    std::lock_guard lock(mu_);
    if (!error_.empty()) return error_;
    std::string problem;
    sqlite3_bind_int64(charge_, 1, static_cast<sqlite3_int64>(id));
    const int rc = sqlite3_step(charge_);
    if (rc == SQLITE_DONE) {
      problem = "charge " + std::to_string(id) + " is not in the file";
    } else if (rc != SQLITE_ROW) {
      problem = std::string("charges: ") + sqlite3_errmsg(db_);
    } else {
      const auto* a = reinterpret_cast<const char*>(sqlite3_column_text(charge_, 0));
      if (a == nullptr || a != account || sqlite3_column_int64(charge_, 1) != amount)
        problem = "charge " + std::to_string(id) + " is in the file with other values";
    }
    sqlite3_reset(charge_);
    if (!problem.empty()) return problem;
    sqlite3_bind_int64(entry_, 1, static_cast<sqlite3_int64>(id));
    if (sqlite3_step(entry_) != SQLITE_ROW)
      problem = std::string("entries: ") + sqlite3_errmsg(db_);
    else if (sqlite3_column_int64(entry_, 0) < 1)
      problem = "the journal entry of charge " + std::to_string(id) + " is not in the file";
    sqlite3_reset(entry_);
    return problem;
  }

  // "" when account `id` is committed.
  std::string account_committed(const std::string& id) {
    std::lock_guard lock(mu_);
    if (!error_.empty()) return error_;
    std::string problem;
    sqlite3_bind_text(account_, 1, id.c_str(), -1, SQLITE_TRANSIENT);
    if (sqlite3_step(account_) != SQLITE_ROW)
      problem = std::string("accounts: ") + sqlite3_errmsg(db_);
    else if (sqlite3_column_int64(account_, 0) != 1)
      problem = "account " + id + " is not in the file";
    sqlite3_reset(account_);
    return problem;
  }

 private:
  void prepare(sqlite3_stmt*& s, const char* sql) {
    if (!error_.empty()) return;
    if (sqlite3_prepare_v2(db_, sql, -1, &s, nullptr) != SQLITE_OK)
      error_ = std::string("cannot prepare ") + sql + ": " + sqlite3_errmsg(db_);
  }
  std::mutex mu_;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* charge_ = nullptr;
  sqlite3_stmt* entry_ = nullptr;
  sqlite3_stmt* account_ = nullptr;
  std::string error_;
};

// A task whose completion looks at the file, at that very moment, through
// the independent connection: `check` returns "" when the task's effects are
// committed, else what is missing.
class checked_task final : public engine::task {
 public:
  using check_fn = std::function<std::string()>;
  checked_task(std::function<void(ledger::ledger&, time_us)> fn, check_fn check)
      : fn_(std::move(fn)), check_(std::move(check)) {}
  void apply(ledger::ledger& l, time_us now) override { fn_(l, now); }
  void complete(bool durable) override {
    // Looked at before anything else, on the engine's thread: the answer
    // would leave now.
    std::string seen = durable ? check_() : "";
    std::lock_guard lock(mu_);
    problem_ = std::move(seen);
    durable_ = durable;
    done_ = true;
    cv_.notify_all();
  }
  // Waits for complete(); returns {durable, what the file lacked then}.
  std::pair<bool, std::string> wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return done_; });
    return {durable_, problem_};
  }

 private:
  std::function<void(ledger::ledger&, time_us)> fn_;
  check_fn check_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  bool durable_ = false;
  std::string problem_;
};

}  // namespace

namespace {

void every_task_is_committed_when_it_completes(bool on_writer) {
  temp_dir dir;
  const std::string path = dir.file("e.db");
  std::unique_ptr<store::sqlite::sqlite_store> s;
  ledger::ledger l;
  ASSERT_TRUE(open_and_load(path, t0, s, l));
  committed_view view(path);
  ASSERT_EQ(view.error(), "");
  engine::engine e(l, *s, {.clock = [] { return t0; }, .commit_on_writer = on_writer});

  constexpr int threads = 8, per_thread = 200;
  {
    checked_task setup(
        [](ledger::ledger& l, time_us now) {
          for (int i = 0; i < threads; ++i) {
            const std::string id = "t" + std::to_string(i);
            ASSERT_TRUE(l.put_account({id, std::nullopt, std::nullopt}, now).has_value());
            ASSERT_TRUE(l.grant({.account = id, .amount = 1000 * credit}, now).has_value());
          }
        },
        [&] {
          for (int i = 0; i < threads; ++i) {
            if (auto p = view.account_committed("t" + std::to_string(i)); !p.empty()) return p;
          }
          return std::string();
        });
    e.submit(&setup);
    const auto [durable, problem] = setup.wait();
    ASSERT_TRUE(durable);
    EXPECT_EQ(problem, "") << "the setup completed before its commit";
  }
  // Threads submit charges concurrently (so that sets hold many tasks); each
  // charge, when it completes, is already in the file with its journal entry.
  std::atomic<int> checked{0}, early{0};
  std::mutex mu;
  std::string first_problem;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      const std::string account = "t" + std::to_string(t);
      for (int i = 0; i < per_thread; ++i) {
        ledger::object_id id = 0;
        const micros amount = credit + i;
        checked_task charge(
            [&](ledger::ledger& l, time_us now) {
              auto r = l.charge({account, amount, "image.generate", "", "", false}, now);
              if (r) id = (*r)->id;
            },
            [&] {
              if (id == 0) return std::string("the charge was refused");
              return view.charge_committed(id, account, amount);
            });
        e.submit(&charge);
        const auto [durable, problem] = charge.wait();
        if (!durable) {
          ADD_FAILURE() << "charge " << i << " of " << account << " was not made durable";
          return;
        }
        ++checked;
        if (!problem.empty()) {
          ++early;
          std::lock_guard lock(mu);
          if (first_problem.empty()) first_problem = problem;
        }
      }
    });
  }
  for (auto& th : pool)
    th.join();
  const engine::engine_stats st = e.stats();
  std::printf(
      "engine commit test: %d charges checked at completion in %llu commits, %d completed "
      "before their commit\n",
      checked.load(), static_cast<unsigned long long>(st.commits), early.load());
  EXPECT_EQ(checked.load(), threads * per_thread);
  EXPECT_EQ(early.load(), 0) << "tasks completed before their effects were committed, e.g.: "
                             << first_problem;
  EXPECT_EQ(st.tasks, 1u + threads * per_thread);
  e.stop();
  auto audit = s->audit_journal(l);
  ASSERT_TRUE(audit.has_value()) << audit.error().message;
  EXPECT_EQ(*audit, "");
}

}  // namespace

TEST(engine_commits, every_task_is_committed_in_the_file_when_it_completes) {
  every_task_is_committed_when_it_completes(false);
}

TEST(engine_on_writer, every_task_is_committed_in_the_file_when_it_completes) {
  every_task_is_committed_when_it_completes(true);
}

// With commit_on_writer there is no committer thread: the writer applies
// nothing while a set commits (a read submitted then waits, and sees the
// write only if it was made durable). A failed commit refuses its write and
// every later one; reads are then served from the ledger reloaded from the
// store, without the failed write.
TEST(engine_on_writer, a_commit_holds_the_writer_and_a_failed_one_degrades_the_engine) {
  gated_engine g(60'000'000, /*on_writer=*/true);
  gated_store& s = g.s;
  engine::engine& e = *g.e;
  ASSERT_EQ(e.stats().commits, 1u);  // the seed

  fn_task write(charge_a_credit);
  held_at_the_gate(s, e, write);
  std::atomic<micros> seen{0};
  fn_task read([&](ledger::ledger& l, time_us now) { seen = available(l, now); }, true);
  e.submit(&read);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(read.applied()) << "the writer applied a task while a set was committing";
  s.open(true);
  EXPECT_FALSE(write.wait());
  EXPECT_TRUE(read.wait());
  EXPECT_EQ(seen.load(), 100 * credit) << "the read saw a write that never became durable";
  EXPECT_TRUE(e.failed());
  fn_task later([](ledger::ledger& l, time_us now) {
    (void)l.charge({"a", credit, "op", "", "", false}, now);
  });
  e.submit(&later);
  EXPECT_FALSE(later.wait());
  EXPECT_EQ(e.stats().commits, 2u);
  EXPECT_EQ(e.stats().failures, 1u);
}

// Its writes commit in groups as before: while one set commits, the tasks
// that arrive make the next one, and each completes after its own commit.
TEST(engine_on_writer, tasks_that_arrive_during_a_commit_make_the_next_set) {
  behind_a_held_commit h;
  engine::engine& e = h.e;
  constexpr int behind = 10;
  std::vector<std::unique_ptr<fn_task>> more;
  for (int i = 0; i < behind; ++i) {
    more.push_back(std::make_unique<fn_task>([](ledger::ledger& l, time_us now) {
      ASSERT_TRUE(l.charge({"a", credit, "op", "", "", false}, now).has_value());
    }));
    e.submit(more.back().get());
  }
  EXPECT_TRUE(h.open());
  for (auto& t : more)
    EXPECT_TRUE(t->wait());
  const engine::engine_stats st = e.stats();
  EXPECT_EQ(st.commits, 3u);  // the seed, the first charge, the ten behind it
  EXPECT_EQ(st.batch_tasks_max, static_cast<std::uint64_t>(behind));
  fn_task read([&](ledger::ledger& l,
                   time_us now) { EXPECT_EQ(available(l, now), (100 - 1 - behind) * credit); },
               true);
  e.submit(&read);
  EXPECT_TRUE(read.wait());
}

// A set's bytes are bounded (engine_options::batch_bytes_max), whatever the
// tasks carry: 40 charges of 8 KiB of metadata and dimensions each, queued
// behind a held commit, are committed over several sets, each under twice
// the bound and one task's changes, and every one is durable, applied in
// the order submitted. (A set past what a log record may hold would fail
// its commit and stop every write.)
void sets_are_bounded_by_bytes(bool on_writer) {
  constexpr std::size_t bound = 64 << 10;
  gated_engine g(1'000'000, on_writer, bound);
  engine::engine& e = *g.e;
  fn_task first(charge_a_credit);
  held_at_the_gate(g.s, e, first);
  constexpr int behind = 40;
  const std::string metadata = R"({"note":")" + std::string(4000, 'm') + R"("})";
  const std::string dimensions = R"({"prompt":")" + std::string(4000, 'd') + R"("})";
  std::vector<int> order;  // the writer thread's alone
  std::vector<std::unique_ptr<fn_task>> more;
  for (int i = 0; i < behind; ++i) {
    more.push_back(std::make_unique<fn_task>([&, i](ledger::ledger& l, time_us now) {
      order.push_back(i);
      ledger::charge_cmd c{"a", credit, "op", dimensions, "", false};
      c.metadata = metadata;
      ASSERT_TRUE(l.charge(c, now).has_value());
    }));
    e.submit(more.back().get());
  }
  g.s.open(false);
  EXPECT_TRUE(first.wait());
  for (auto& t : more)
    EXPECT_TRUE(t->wait());
  const std::vector<std::size_t> sizes = g.s.record_bytes();
  // The seed, the first charge, and the 40 behind it in more than one set.
  EXPECT_GE(sizes.size(), 4u);
  for (std::size_t n : sizes)
    EXPECT_LE(n, 2 * bound + 16'384) << "a set of " << n << " bytes";
  EXPECT_GT(e.stats().rounds_cut_by_bytes, 0u);
  ASSERT_EQ(order.size(), static_cast<std::size_t>(behind));
  for (int i = 0; i < behind; ++i)
    EXPECT_EQ(order[static_cast<std::size_t>(i)], i);
  fn_task read([&](ledger::ledger& l,
                   time_us now) { EXPECT_EQ(available(l, now), (100 - 1 - behind) * credit); },
               true);
  e.submit(&read);
  EXPECT_TRUE(read.wait());
}

TEST(engine_pipeline, sets_are_bounded_by_bytes) {
  sets_are_bounded_by_bytes(false);
}

TEST(engine_on_writer, sets_are_bounded_by_bytes) {
  sets_are_bounded_by_bytes(true);
}

// The writer finds a round's accounts (engine::task::account_hint) before it
// applies the round: the tasks still see the ledger each one before them
// left. One round: an account made, a lot granted to it and a charge on it,
// each hinting at an account that did not exist when the round began; and
// hints that name nothing, or an account no task makes.
TEST(engine_on_writer, a_round_hinting_at_accounts_its_own_tasks_make_sees_them) {
  behind_a_held_commit h;
  engine::engine& e = h.e;
  std::vector<std::unique_ptr<fn_task>> round;
  auto add = [&](std::string hint, std::function<void(ledger::ledger&, time_us)> fn) {
    round.push_back(std::make_unique<fn_task>(std::move(fn), false, std::move(hint)));
    e.submit(round.back().get());
  };
  add("b", [](ledger::ledger& l, time_us now) {
    ledger::account_cmd c;
    c.id = "b";
    ASSERT_TRUE(l.put_account(c, now).has_value());
  });
  add("b", [](ledger::ledger& l, time_us now) {
    ledger::grant_cmd g;
    g.account = "b";
    g.amount = 5 * credit;
    ASSERT_TRUE(l.grant(g, now).has_value());
  });
  add("b", [](ledger::ledger& l, time_us now) {
    ASSERT_TRUE(l.charge({"b", 2 * credit, "op", "", "", false}, now).has_value());
  });
  add("", charge_a_credit);
  add("nobody", charge_a_credit);
  EXPECT_TRUE(h.open());
  for (auto& t : round)
    EXPECT_TRUE(t->wait());
  EXPECT_EQ(e.stats().commits, 3u);  // the seed, the first charge, the round
  fn_task read(
      [&](ledger::ledger& l, time_us now) {
        EXPECT_EQ(available(l, now), (100 - 3) * credit);
        ASSERT_NE(l.find_account("b"), nullptr);
        EXPECT_EQ(l.balance(*l.find_account("b"), now).available, 3 * credit);
        EXPECT_EQ(l.find_account("nobody"), nullptr);
        EXPECT_EQ(l.account_count(), 2u);
      },
      true);
  e.submit(&read);
  EXPECT_TRUE(read.wait());
}

// Past 7/8 of charges_kept_max, each round forgets back to 7/8, a bounded
// number a round, instead of letting the count reach the maximum and then
// forgetting an eighth of it at once (a stall of the writer). Rounds of one
// charge keep the count at 7/8 once there; a round of 20,000 is forgotten
// 16,384 at most a round.
TEST(engine_on_writer, charges_are_forgotten_back_to_seven_eighths_each_round) {
  temp_dir dir;
  auto s = open_store(dir.file("engine.db"));
  ledger::ledger l;
  ASSERT_TRUE(s->load(l, t0).has_value());
  engine::engine e(l, *s,
                   {.clock = [] { return t0; }, .charges_kept_max = 64, .commit_on_writer = true});
  seed(e);
  auto kept = [&] {
    std::size_t n = 0;
    fn_task read([&](ledger::ledger& l, time_us) { n = l.charge_count(); }, true);
    e.submit(&read);
    EXPECT_TRUE(read.wait());
    return n;
  };
  auto charge = [](int n) {
    return [n](ledger::ledger& l, time_us now) {
      for (int i = 0; i < n; ++i)
        ASSERT_TRUE(l.charge({"a", 1, "op", "", "", false}, now).has_value());
    };
  };
  for (std::size_t i = 1; i <= 100; ++i) {
    ASSERT_TRUE(run_durably(e, charge(1)));
    ASSERT_EQ(kept(), std::min<std::size_t>(i, 56)) << "after " << i << " rounds of one charge";
  }
  ASSERT_TRUE(run_durably(e, charge(20'000)));
  EXPECT_EQ(kept(), 56u + 20'000 - 16'384);
  EXPECT_EQ(kept(), 56u);
}

// While a commit is held at the gate, the writer stages what it applies
// round after round (ledger::append_changes); the committer takes all of it
// as the next commit. A round of reads alone, staged after a write, must
// leave the staged set's counters as the write left them.
TEST(engine_pipeline, rounds_staged_behind_a_commit_make_one_commit_with_the_latest_counters) {
  gated_engine g;
  gated_store& s = g.s;
  engine::engine& e = *g.e;

  fn_task first(charge_a_credit);
  held_at_the_gate(s, e, first);
  // Each task is submitted once the one before it is applied: two rounds,
  // the last of reads alone.
  std::promise<void> second_applied, read_applied;
  fn_task second([&](ledger::ledger& l, time_us now) {
    ASSERT_TRUE(l.charge({"a", 2 * credit, "op", "", "", false}, now).has_value());
    second_applied.set_value();
  });
  fn_task read([&](ledger::ledger&, time_us) { read_applied.set_value(); }, true);
  e.submit(&second);
  second_applied.get_future().wait();
  e.submit(&read);
  read_applied.get_future().wait();
  s.open(false);
  EXPECT_TRUE(first.wait());
  EXPECT_TRUE(second.wait());
  EXPECT_TRUE(read.wait());
  EXPECT_EQ(s.commits(), 3u);  // the seed, the first, the second with the read
  const std::uint64_t next_seq = g.l.next_seq();
  e.stop();
  std::unique_ptr<store::sqlite::sqlite_store> again;
  ledger::ledger reloaded;
  g.real.reset();
  ASSERT_TRUE(open_and_load(g.path, t0, again, reloaded));
  EXPECT_EQ(reloaded.next_seq(), next_seq);
  // The counters of the last commit are the second charge's, not the
  // defaults of the read's empty round (a load would refuse those).
  EXPECT_EQ(available(reloaded, t0), 97 * credit);
}

// A write staged while the commit before it fails is refused, and never
// written: the store holds what was committed before the failure only.
TEST(engine_pipeline, what_is_staged_behind_a_failed_commit_is_refused_and_not_written) {
  gated_engine g(3600'000'000);
  gated_store& s = g.s;
  engine::engine& e = *g.e;

  fn_task failing(charge_a_credit);
  held_at_the_gate(s, e, failing);
  std::promise<void> applied;
  fn_task staged([&](ledger::ledger& l, time_us now) {
    ASSERT_TRUE(l.charge({"a", 2 * credit, "op", "", "", false}, now).has_value());
    applied.set_value();
  });
  e.submit(&staged);
  applied.get_future().wait();
  s.open(true);
  EXPECT_FALSE(failing.wait());
  EXPECT_FALSE(staged.wait());
  EXPECT_TRUE(e.failed());
  EXPECT_EQ(s.commits(), 2u);  // the seed and the failed one: nothing after it
  e.stop();
  std::unique_ptr<store::sqlite::sqlite_store> again;
  ledger::ledger reloaded;
  g.real.reset();
  ASSERT_TRUE(open_and_load(g.path, t0, again, reloaded));
  EXPECT_EQ(available(reloaded, t0), 100 * credit);
}
}  // namespace engine_commit_test_cpp
