// Test support: the service (src/service) over a real engine, SQLite store,
// journal reader and key store on one file, in this process, with gates that
// hold a store read or a key write until the test opens them. Every wait is
// for an event (a gate reached, a reply), never for a time.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <condition_variable>
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
#include "service/service.hpp"
#include "store/sqlite/sqlite_keys.hpp"
#include "store/sqlite/sqlite_reader.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "support/fn_task.hpp"
#include "support/stripe_sign.hpp"
#include "support/temp_dir.hpp"
#include "util/clock.hpp"

namespace creditd::testing::service_rig {

using namespace creditd;
using ledger::time_us;
using service::reply;
namespace st = creditd::store;

inline constexpr time_us t0 = 1'795'000'000LL * ledger::us_per_second;  // 2026-11-18
inline constexpr ledger::micros credit = ledger::micros_per_credit;

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
  // An external id's lookup is held after it is made, as a charge read;
  // with fail_external set, it fails.
  std::expected<bool, st::store_error> external_id_recorded(std::string_view id) override {
    auto r = inner_.external_id_recorded(id);
    ++external_reads;
    g.pass();
    if (fail_external) return std::unexpected(st::store_error{"the disk is gone (a test)"});
    return r;
  }
  std::atomic<int> external_reads{0};
  std::atomic<bool> fail_external{false};
  // A charge read is held after it is made (what it read is what a refund
  // gets once the gate opens).
  std::expected<std::optional<st::stored_charge>, st::store_error> charge(
      ledger::object_id id) override {
    auto r = inner_.charge(id);
    ++charge_reads;
    g.pass();
    return r;
  }
  std::atomic<int> charge_reads{0};
  std::expected<std::optional<st::stored_hold>, st::store_error> hold(
      ledger::object_id id) override {
    ++hold_reads;
    g.pass();
    return inner_.hold(id);
  }
  std::atomic<int> hold_reads{0};
  // Lot reads are held after they are made, as charge reads.
  std::expected<std::optional<st::stored_lot>, st::store_error> lot(ledger::object_id id) override {
    auto r = inner_.lot(id);
    ++lot_reads;
    g.pass();
    return r;
  }
  std::expected<std::vector<st::stored_lot>, st::store_error> lot_rows(const std::string& account,
                                                                       std::uint64_t after_id,
                                                                       std::size_t limit) override {
    g.pass();
    return inner_.lot_rows(account, after_id, limit);
  }
  std::expected<std::vector<st::stored_event>, st::store_error> events(
      const st::event_filter& filter) override {
    g.pass();
    return inner_.events(filter);
  }
  std::atomic<int> lot_reads{0};
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
    if (fail_next.load() > 0) {
      --fail_next;
      return std::unexpected(st::store_error{"disk full (a test)"});
    }
    return inner_.commit(c);
  }
  // Commits to refuse, writing nothing (the engine then reloads the ledger).
  std::atomic<int> fail_next{0};
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

inline const service::caller admin{{"key_admin", auth::role::admin, ""}, "", ""};

// The service over a real engine, store, reader and key store on one file.
struct rig {
  // `kept_max`: the engine's charges_kept_max, closed_holds_kept_max,
  // dead_lots_kept_max and external_ids_kept_max.
  explicit rig(std::size_t kept_max = engine::engine_options{}.charges_kept_max) : kept(kept_max) {}
  std::size_t kept;
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
  engine::engine eng{led,
                     counted,
                     {.clock = [this] { return clock.now(); },
                      .recovery_interval_us = 1000,  // probes after a failed commit
                      .charges_kept_max = kept,
                      .closed_holds_kept_max = kept,
                      .dead_lots_kept_max = kept,
                      .external_ids_kept_max = kept}};
  static constexpr std::string_view stripe_secret = "whsec_rig";
  service::service svc{{eng, keys, reader, clock,
                        [this](std::function<void()> job) { pool.post(std::move(job)); }, nullptr,
                        std::string(stripe_secret)}};

  // A Stripe checkout.session.completed delivery, signed now: `account`
  // buys `package`.
  void deliver_stripe(const std::string& event_id, const std::string& account,
                      const std::string& package, service::reply_fn done) {
    const std::int64_t now_s = clock.wall_now() / ledger::us_per_second;
    std::string body = creditd::testing::checkout_session_completed_body(event_id, account, package,
                                                                         "paid", now_s);
    std::string signature = creditd::testing::stripe_signature_header(stripe_secret, now_s, body);
    svc.stripe_webhook(std::move(signature), std::move(body), std::move(done));
  }

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

inline boost::json::value json(const reply& r) {
  return boost::json::parse(r.body);
}

inline std::string field(const reply& r, const char* name) {
  return std::string(json(r).at(name).as_string());
}

}  // namespace creditd::testing::service_rig
