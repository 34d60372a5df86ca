// Nothing slow on the engine's writer thread (issue 12), in process: the
// service over a real engine, SQLite store, journal reader and key store,
// with gates that hold a store read or a key write until the test opens
// them. Event-driven: every wait is for an event (a gate reached, a reply),
// never for a time.
//   - balance?at= reads and replays the history on the reader pool: while
//     that read is held, a charge on another account is answered;
//   - API key create and revoke write on the key store's thread, never on
//     the writer or the caller's (an I/O) thread; a created key is durable
//     before it is shown, a revoked one refused as soon as that is answered;
//   - a due backlog of 20,000 hold expiries reached by the test clock is
//     applied in bounded steps: no commit holds all of it.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "auth/keys.hpp"
#include "engine/engine.hpp"
#include "ledger/limits.hpp"
#include "service/service.hpp"
#include "store/sqlite/sqlite_keys.hpp"
#include "store/sqlite/sqlite_reader.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "support/fn_task.hpp"
#include "support/temp_dir.hpp"
#include "util/clock.hpp"

using namespace creditd;
using ledger::time_us;
using service::reply;
namespace st = creditd::store;

namespace {

constexpr time_us t0 = 1'795'000'000LL * ledger::us_per_second;  // 2026-11-18
constexpr ledger::micros credit = ledger::micros_per_credit;

// A gate a store call stops at while it is closed. A call on a forbidden
// thread (the engine's writer, the caller's) never stops: it is noted, so
// that a test fails on it instead of hanging.
class gate {
 public:
  void forbid(std::thread::id t) {
    std::lock_guard lock(mu_);
    forbidden_.insert(t);
  }
  void close() {
    std::lock_guard lock(mu_);
    open_ = false;
  }
  void open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  // Called by the store call: notes its thread, then waits while closed.
  void pass() {
    std::unique_lock lock(mu_);
    ++passes_;
    threads_.insert(std::this_thread::get_id());
    if (forbidden_.contains(std::this_thread::get_id())) {
      on_forbidden_ = true;
      reached_ = true;
      cv_.notify_all();
      return;
    }
    if (open_) return;
    reached_ = true;
    cv_.notify_all();
    cv_.wait(lock, [&] { return open_; });
  }
  // Waits until a call reached the closed gate (or ran on the forbidden thread).
  void wait_reached() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return reached_; });
    reached_ = false;
  }
  bool on_forbidden() {
    std::lock_guard lock(mu_);
    return on_forbidden_;
  }
  std::size_t passes() {
    std::lock_guard lock(mu_);
    return passes_;
  }
  std::set<std::thread::id> threads() {
    std::lock_guard lock(mu_);
    return threads_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = true;
  bool reached_ = false;
  bool on_forbidden_ = false;
  std::size_t passes_ = 0;
  std::set<std::thread::id> forbidden_;
  std::set<std::thread::id> threads_;
};

// The real journal reader behind a gate.
class gated_reader final : public st::journal_reader {
 public:
  explicit gated_reader(st::journal_reader& inner) : inner_(inner) {}
  std::expected<std::vector<st::stored_entry>, st::store_error> entries(
      const std::string& account, std::uint64_t after_seq, std::size_t limit) override {
    g.pass();
    return inner_.entries(account, after_seq, limit);
  }
  std::expected<std::vector<ledger::lot_terms>, st::store_error> lots(const std::string& account,
                                                                      std::uint64_t after_id,
                                                                      std::size_t limit) override {
    g.pass();
    return inner_.lots(account, after_id, limit);
  }
  std::expected<std::vector<ledger::purchase>, st::store_error> purchases(
      std::string_view account, std::uint64_t after_id, std::size_t limit) override {
    g.pass();
    return inner_.purchases(account, after_id, limit);
  }
  gate g;

 private:
  st::journal_reader& inner_;
};

// The real key rows behind a gate (writes only), counting the writes.
class gated_keys final : public auth::key_repository {
 public:
  explicit gated_keys(auth::key_repository& inner) : inner_(inner) {}
  std::expected<std::vector<auth::key_row>, std::string> load_all() override {
    return inner_.load_all();
  }
  std::expected<void, std::string> upsert(const auth::key_row& row) override {
    g.pass();
    ++upserts;
    return inner_.upsert(row);
  }
  std::expected<void, std::string> revoke(std::string_view id, time_us at) override {
    g.pass();
    ++revokes;
    return inner_.revoke(id, at);
  }
  gate g;
  std::atomic<int> upserts{0}, revokes{0};

 private:
  auth::key_repository& inner_;
};

// The real store, noting how many journal entries each commit holds.
class counting_store final : public st::store {
 public:
  explicit counting_store(st::store& inner) : inner_(inner) {}
  std::expected<void, st::store_error> load(ledger::ledger& l, time_us now) override {
    return inner_.load(l, now);
  }
  std::expected<void, st::store_error> commit(const ledger::change_set& c) override {
    {
      std::lock_guard lock(mu_);
      entries_.push_back(c.entries.size());
    }
    return inner_.commit(c);
  }
  std::expected<void, st::store_error> probe() override { return inner_.probe(); }
  // Entries per commit since the last call.
  std::vector<std::size_t> take() {
    std::lock_guard lock(mu_);
    return std::exchange(entries_, {});
  }

 private:
  st::store& inner_;
  std::mutex mu_;
  std::vector<std::size_t> entries_;
};

// The reader pool: one thread running jobs in order.
class job_thread {
 public:
  job_thread() : thread_([this] { loop(); }) {}
  ~job_thread() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
  void post(std::function<void()> job) {
    {
      std::lock_guard lock(mu_);
      jobs_.push_back(std::move(job));
    }
    cv_.notify_one();
  }

 private:
  void loop() {
    while (true) {
      std::function<void()> job;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stop_ || !jobs_.empty(); });
        if (jobs_.empty()) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool stop_ = false;
  std::thread thread_;
};

// A reply to wait for.
struct awaited {
  std::shared_ptr<std::promise<reply>> p = std::make_shared<std::promise<reply>>();
  std::future<reply> f = p->get_future();
  service::reply_fn fn() {
    return [p = p](reply r) { p->set_value(std::move(r)); };
  }
  bool ready() const { return f.wait_for(std::chrono::seconds(0)) == std::future_status::ready; }
};

const service::caller admin{{"key_admin", auth::role::admin, ""}, "", ""};

// The service over a real engine, store, reader and key store on one file.
struct rig {
  creditd::testing::temp_dir dir;
  std::string path = dir.file("ledger.db");
  std::unique_ptr<st::sqlite::sqlite_store> sqlite = [this] {
    auto s = st::sqlite::sqlite_store::open({path});
    EXPECT_TRUE(s.has_value()) << (s ? "" : s.error().message);
    return std::move(*s);
  }();
  counting_store counted{*sqlite};
  ledger::ledger led;
  server_clock clock{true, t0};
  std::unique_ptr<st::sqlite::sqlite_keys> key_rows = [this] {
    auto k = st::sqlite::sqlite_keys::open(path);
    EXPECT_TRUE(k.has_value()) << (k ? "" : k.error());
    return std::move(*k);
  }();
  gated_keys keys_repo{*key_rows};
  st::sqlite::sqlite_reader plain_reader{path};
  gated_reader reader{plain_reader};
  job_thread pool;
  auth::key_store keys{keys_repo};
  bool loaded = counted.load(led, t0).has_value();
  engine::engine eng{led, counted, {.clock = [this] { return clock.now(); }}};
  service::service svc{{eng, keys, reader, clock,
                        [this](std::function<void()> job) { pool.post(std::move(job)); }, nullptr,
                        ""}};

  // A failed test leaves no call held at a gate (the threads are joined).
  ~rig() {
    reader.g.open();
    keys_repo.g.open();
  }

  std::thread::id writer_thread() {
    std::thread::id id;
    creditd::testing::fn_task t([&](ledger::ledger&, time_us) { id = std::this_thread::get_id(); },
                                true);
    eng.submit(&t);
    EXPECT_TRUE(t.wait());
    return id;
  }
  reply account_with(const std::string& id, std::int64_t credits) {
    awaited put, lot;
    svc.put_account(admin, {id, std::nullopt, std::nullopt}, put.fn());
    EXPECT_EQ(put.f.get().status, 201u);
    svc.grant(admin, {.account = id, .amount = credits * credit}, lot.fn());
    return lot.f.get();
  }
  reply charge(const std::string& account, std::int64_t credits) {
    awaited r;
    svc.charge(admin, {.account = account, .amount = credits * credit, .operation = "x"}, r.fn());
    return r.f.get();
  }
  reply balance(const std::string& account, std::optional<time_us> at) {
    awaited r;
    svc.get_balance(admin, account, at, r.fn());
    return r.f.get();
  }
};

boost::json::value json(const reply& r) {
  return boost::json::parse(r.body);
}

std::string field(const reply& r, const char* name) {
  return std::string(json(r).at(name).as_string());
}

}  // namespace

TEST(writer_offload, balance_at_reads_and_replays_on_the_reader_pool_while_charges_go_on) {
  rig r;
  ASSERT_TRUE(r.loaded);
  ASSERT_EQ(r.account_with("a", 100).status, 201u);
  ASSERT_EQ(r.account_with("b", 100).status, 201u);
  r.clock.advance(ledger::us_per_second);
  ASSERT_EQ(r.charge("a", 10).status, 201u);
  const reply then = r.balance("a", std::nullopt);
  ASSERT_EQ(then.status, 200u) << then.body;
  const time_us at = r.clock.now();
  r.clock.advance(10 * ledger::us_per_second);
  ASSERT_EQ(r.charge("a", 5).status, 201u);  // after `at`: not in the replay

  const std::thread::id writer = r.writer_thread();
  r.reader.g.forbid(writer);
  r.reader.g.forbid(std::this_thread::get_id());
  r.reader.g.close();
  awaited past;
  r.svc.get_balance(admin, "a", at, past.fn());
  r.reader.g.wait_reached();
  ASSERT_FALSE(r.reader.g.on_forbidden())
      << "the history was read on the engine's writer or the caller's thread";
  // The history read is held: the writer still applies and answers a charge.
  const reply other = r.charge("b", 1);
  EXPECT_EQ(other.status, 201u) << other.body;
  EXPECT_FALSE(past.ready());
  r.reader.g.open();
  const reply replayed = past.f.get();
  ASSERT_EQ(replayed.status, 200u) << replayed.body;
  EXPECT_FALSE(r.reader.g.on_forbidden())
      << "the lots were read on the engine's writer or the caller's thread";
  // Exact: what the live balance showed at that instant.
  for (const char* f : {"available", "held", "reserve", "postpaid_used"})
    EXPECT_EQ(field(replayed, f), field(then, f)) << f << ": " << replayed.body;
  EXPECT_EQ(field(replayed, "available"), "90");
  const boost::json::value doc = json(replayed);
  const auto& lots = doc.at("lots").as_array();
  ASSERT_EQ(lots.size(), 1u) << replayed.body;
  EXPECT_EQ(lots[0].at("remaining").as_string(), "90");
  EXPECT_EQ(lots[0].at("id").as_string(), json(then).at("lots").as_array()[0].at("id").as_string());

  // An unknown account is answered by the writer, before any read.
  const std::size_t reads = r.reader.g.passes();
  const reply missing = r.balance("nobody", at);
  EXPECT_EQ(missing.status, 404u) << missing.body;
  EXPECT_EQ(r.reader.g.passes(), reads);
}

TEST(writer_offload, api_keys_are_written_on_the_key_thread_durable_before_shown) {
  rig r;
  ASSERT_TRUE(r.loaded);
  ASSERT_EQ(r.account_with("b", 100).status, 201u);
  const std::thread::id writer = r.writer_thread();
  r.keys_repo.g.forbid(writer);
  r.keys_repo.g.forbid(std::this_thread::get_id());

  // Create, with an Idempotency-Key; the write is held at the gate.
  service::caller c = admin;
  c.idempotency_key = "create-1";
  c.fingerprint = "fp-1";
  r.keys_repo.g.close();
  awaited created;
  r.svc.create_api_key(c, auth::role::service, "", created.fn());
  r.keys_repo.g.wait_reached();
  ASSERT_FALSE(r.keys_repo.g.on_forbidden())
      << "the key was written on the engine's writer or the caller's thread";
  // Not shown before it is durable; the writer goes on meanwhile.
  EXPECT_FALSE(created.ready());
  EXPECT_EQ(r.charge("b", 1).status, 201u);
  EXPECT_FALSE(created.ready());
  r.keys_repo.g.open();
  const reply made = created.f.get();
  ASSERT_EQ(made.status, 201u) << made.body;
  const std::string id = field(made, "id"), secret = field(made, "key");
  ASSERT_TRUE(r.keys.authenticate(secret).has_value());
  {
    // Durable: another connection to the file reads it, live.
    auto other = st::sqlite::sqlite_keys::open(r.path);
    ASSERT_TRUE(other.has_value());
    auto rows = (*other)->load_all();
    ASSERT_TRUE(rows.has_value());
    bool found = false;
    for (const auto& row : *rows)
      found = found || (row.id == id && !row.revoked_at);
    EXPECT_TRUE(found) << id;
  }

  // The same Idempotency-Key again: the recorded reply, without the secret,
  // and no second key written.
  awaited again;
  r.svc.create_api_key(c, auth::role::service, "", again.fn());
  const reply replay = again.f.get();
  EXPECT_EQ(replay.status, 201u);
  EXPECT_TRUE(replay.replayed);
  EXPECT_EQ(field(replay, "id"), id);
  EXPECT_TRUE(json(replay).at("key").is_null()) << replay.body;
  EXPECT_EQ(r.keys_repo.upserts.load(), 1);
  // The same key with another request: 409, nothing written.
  service::caller other = c;
  other.fingerprint = "fp-2";
  awaited conflict;
  r.svc.create_api_key(other, auth::role::admin, "", conflict.fn());
  EXPECT_EQ(conflict.f.get().status, 409u);
  EXPECT_EQ(r.keys_repo.upserts.load(), 1);

  // Revoke: held at the gate, off this thread and off the writer; refused
  // as soon as it is answered, and durable.
  r.keys_repo.g.close();
  awaited revoked;
  r.svc.revoke_api_key(admin, id, revoked.fn());
  r.keys_repo.g.wait_reached();
  ASSERT_FALSE(r.keys_repo.g.on_forbidden())
      << "the key was revoked on the engine's writer or the caller's thread";
  EXPECT_FALSE(revoked.ready());
  EXPECT_EQ(r.charge("b", 1).status, 201u);
  r.keys_repo.g.open();
  const reply gone = revoked.f.get();
  EXPECT_EQ(gone.status, 200u) << gone.body;
  EXPECT_FALSE(r.keys.authenticate(secret).has_value());
  {
    auto other_conn = st::sqlite::sqlite_keys::open(r.path);
    ASSERT_TRUE(other_conn.has_value());
    auto rows = (*other_conn)->load_all();
    ASSERT_TRUE(rows.has_value());
    bool revoked_row = false;
    for (const auto& row : *rows)
      revoked_row = revoked_row || (row.id == id && row.revoked_at.has_value());
    EXPECT_TRUE(revoked_row) << id;
  }
  awaited twice;
  r.svc.revoke_api_key(admin, id, twice.fn());
  EXPECT_EQ(twice.f.get().status, 404u);

  // A reader key for an unknown account: 404 from the writer, nothing written.
  awaited unknown;
  r.svc.create_api_key(admin, auth::role::reader, "nobody", unknown.fn());
  EXPECT_EQ(unknown.f.get().status, 404u);
  EXPECT_EQ(r.keys_repo.upserts.load(), 1);
}

TEST(writer_offload, a_due_backlog_of_twenty_thousand_hold_expiries_commits_in_bounded_steps) {
  rig r;
  ASSERT_TRUE(r.loaded);
  // 20,000 accounts with one hold each, all expiring at the same instant.
  constexpr int holds = 20'000;
  ASSERT_TRUE(creditd::testing::run_durably(r.eng, [](ledger::ledger& l, time_us now) {
    for (int i = 0; i < holds; ++i) {
      const std::string id = "h" + std::to_string(i);
      ASSERT_TRUE(l.put_account({id, std::nullopt, std::nullopt}, now).has_value());
      ASSERT_TRUE(l.grant({.account = id, .amount = 10 * credit}, now).has_value());
      ASSERT_TRUE(
          l.place_hold({.account = id, .amount = credit, .operation = "x", .ttl_seconds = 60}, now)
              .has_value());
    }
  }));
  std::size_t open = 0;
  ASSERT_TRUE(creditd::testing::run_durably(
      r.eng, [&](ledger::ledger& l, time_us) { open = l.open_hold_count(); }));
  ASSERT_EQ(open, static_cast<std::size_t>(holds));
  (void)r.counted.take();

  awaited advanced;
  r.svc.advance_test_clock(admin, 120, advanced.fn());
  const reply moved = advanced.f.get();
  ASSERT_EQ(moved.status, 200u) << moved.body;
  // Answered after every expiry it made due was applied and committed.
  open = 1;
  ASSERT_TRUE(creditd::testing::run_durably(
      r.eng, [&](ledger::ledger& l, time_us) { open = l.open_hold_count(); }));
  EXPECT_EQ(open, 0u);
  // In bounded commits. Each step here is 1,024 expiries of one entry each
  // (the last one excepted), so a set holds at most the four steps the writer
  // takes while it has room (engine::due_room) and one step of the test
  // clock's drain task. The writer's own steps get ahead of the drain task
  // (queued when the advance is answered) by a few sets (6,144 to 7,168
  // entries in the runs seen): an unbounded drain commits all that is left
  // then, over 12,000, in one set.
  const std::vector<std::size_t> commits = r.counted.take();
  std::size_t total = 0, largest = 0;
  for (std::size_t n : commits) {
    total += n;
    largest = std::max(largest, n);
  }
  EXPECT_EQ(total, static_cast<std::size_t>(holds));  // one expire entry each
  EXPECT_LE(largest, 5 * ledger::limits::due_items_per_step);
  EXPECT_GE(commits.size(), 2u);
  std::string sizes;
  for (std::size_t n : commits)
    sizes += std::to_string(n) + " ";
  std::printf("entries per commit after the advance: %s\n", sizes.c_str());
}
