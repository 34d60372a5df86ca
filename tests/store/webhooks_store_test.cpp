// Webhook endpoints and attempts in the SQLite file (sqlite_webhooks) and
// the registry over them: rows round-trip, a restart finds the cursor and
// the next attempt where they were, the attempt log keeps the last 100 per
// endpoint, and a row altered outside creditd is refused at load, named.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <future>
#include <optional>
#include <string>

#include "store/sqlite/sqlite_webhooks.hpp"
#include "support/open_store.hpp"
#include "support/temp_dir.hpp"

namespace webhooks_store_test_cpp {  // unity builds: tests/CMakeLists.txt

namespace {

using creditd::testing::open_store;
using creditd::testing::temp_dir;
namespace sq = creditd::store::sqlite;
namespace wh = creditd::webhooks;

std::unique_ptr<sq::sqlite_webhooks> open_repo(const std::string& path) {
  auto r = sq::sqlite_webhooks::open(path);
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error());
  return r ? std::move(*r) : nullptr;
}

wh::endpoint sample() {
  wh::endpoint e;
  e.id = "hook-1";
  e.url = "https://hooks.example.com/creditd";
  e.events = {"balance.low", "purchase.completed"};
  e.secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  e.created_at = 10;
  e.updated_at = 11;
  e.cursor = 7;
  e.attempt = 3;
  e.next_attempt_at = 12;
  e.failing_since = 9;
  return e;
}

TEST(webhooks_store, an_endpoint_round_trips_with_its_delivery_state) {
  temp_dir dir;
  const std::string path = dir.file("s.db");
  ASSERT_NE(open_store(path), nullptr);
  {
    auto repo = open_repo(path);
    ASSERT_TRUE(repo->upsert(sample()));
  }
  auto repo = open_repo(path);
  auto rows = repo->load_all();
  ASSERT_TRUE(rows) << rows.error();
  ASSERT_EQ(rows->size(), 1u);
  const wh::endpoint& e = (*rows)[0];
  EXPECT_EQ(e.url, sample().url);
  EXPECT_EQ(e.events, sample().events);
  EXPECT_EQ(e.secret, sample().secret);
  EXPECT_TRUE(e.enabled);
  EXPECT_EQ(e.cursor, 7u);
  EXPECT_EQ(e.attempt, 3);
  EXPECT_EQ(e.next_attempt_at, 12);
  EXPECT_EQ(e.failing_since, 9);
  ASSERT_TRUE(repo->remove("hook-1"));
  EXPECT_TRUE(repo->load_all()->empty());
}

TEST(webhooks_store, the_attempt_log_keeps_the_last_100_per_endpoint) {
  temp_dir dir;
  const std::string path = dir.file("s.db");
  ASSERT_NE(open_store(path), nullptr);
  auto repo = open_repo(path);
  wh::endpoint a = sample(), b = sample();
  b.id = "hook-2";
  for (int i = 1; i <= 130; ++i) {
    ASSERT_TRUE(repo->record_attempt(a, {.endpoint = "hook-1", .seq = std::uint64_t(i), .at = i}));
    if (i % 10 == 0) {
      ASSERT_TRUE(repo->record_attempt(b, {.endpoint = "hook-2", .seq = std::uint64_t(i)}));
    }
  }
  auto d = repo->deliveries("hook-1", 1000);
  ASSERT_TRUE(d) << d.error();
  ASSERT_EQ(d->size(), wh::deliveries_kept_max);
  EXPECT_EQ(d->front().seq, 130u);  // newest first
  EXPECT_EQ(d->back().seq, 31u);
  EXPECT_EQ(repo->deliveries("hook-2", 1000)->size(), 13u);
  EXPECT_EQ(repo->deliveries("hook-1", 5)->size(), 5u);
  // The endpoint's state was written with each attempt.
  EXPECT_EQ(repo->load_all()->size(), 2u);
}

TEST(webhooks_store, a_row_altered_outside_creditd_is_refused_naming_it) {
  temp_dir dir;
  const std::string path = dir.file("s.db");
  ASSERT_NE(open_store(path), nullptr);
  {
    auto repo = open_repo(path);
    ASSERT_TRUE(repo->upsert(sample()));
    ASSERT_TRUE(repo->record_attempt(sample(), {.endpoint = "hook-1", .seq = 8}));
  }
  for (const char* sql : {"UPDATE webhook_endpoints SET url = 'http://evil.example/'",
                          "UPDATE webhook_deliveries SET status = 200"}) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
  auto repo = open_repo(path);
  auto rows = repo->load_all();
  ASSERT_FALSE(rows);
  EXPECT_NE(rows.error().find("webhook_endpoints row id=hook-1: checksum mismatch"),
            std::string::npos)
      << rows.error();
  auto d = repo->deliveries("hook-1", 10);
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().find("webhook_deliveries row id=1: checksum mismatch"), std::string::npos)
      << d.error();
}

template <typename T>
std::expected<T, std::string> wait(std::function<void(wh::registry::done_fn<T>)> call) {
  std::promise<std::expected<T, std::string>> p;
  call([&](std::expected<T, std::string> r) { p.set_value(std::move(r)); });
  return p.get_future().get();
}

// A new store with a registry holding endpoint "h" (every type).
struct one_endpoint {
  temp_dir dir;
  std::string path = dir.file("s.db");
  std::unique_ptr<sq::sqlite_store> store = open_store(path);
  std::unique_ptr<sq::sqlite_webhooks> repo = open_repo(path);
  std::optional<wh::registry> reg{std::in_place, *repo, wh::registry::options{}};
  std::uint64_t version = put("h");
  std::uint64_t put(const std::string& id) {
    EXPECT_TRUE(wait<wh::put_result>([&](auto done) {
      reg->put_async(id, {.url = "http://127.0.0.1:9/", .events = {"*"}}, 1, done);
    }));
    return reg->enabled().at(0).version;
  }
};

TEST(webhooks_registry, put_generates_a_secret_once_and_starts_after_the_last_event) {
  temp_dir dir;
  const std::string path = dir.file("s.db");
  ASSERT_NE(open_store(path), nullptr);
  auto repo = open_repo(path);
  int changed = 0;
  wh::registry reg(
      *repo, {.last_event_seq = [] { return std::uint64_t{41}; }, .changed = [&] { ++changed; }});
  ASSERT_TRUE(reg.load());
  auto put = wait<wh::put_result>([&](auto done) {
    reg.put_async("hook-1", {.url = "http://127.0.0.1:9/h", .events = {"*"}}, 100, done);
  });
  ASSERT_TRUE(put) << put.error();
  EXPECT_TRUE(put->created);
  EXPECT_TRUE(put->generated_secret.starts_with("whsec_"));
  EXPECT_EQ(put->generated_secret.size(), 6u + 44u);  // base64 of 32 bytes
  EXPECT_EQ(put->e.cursor, 41u);
  // A second put keeps the secret and the cursor, and shows no secret.
  auto again = wait<wh::put_result>([&](auto done) {
    reg.put_async("hook-1", {.url = "http://127.0.0.1:9/h2", .events = {"lot.expired"}}, 101, done);
  });
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->generated_secret, "");
  EXPECT_EQ(again->e.secret, put->generated_secret);
  EXPECT_EQ(again->e.cursor, 41u);
  // Invalid requests change nothing.
  for (wh::endpoint_put bad :
       {wh::endpoint_put{.url = "ftp://x/", .events = {"*"}},
        wh::endpoint_put{.url = "http://x/", .events = {"nope"}},
        wh::endpoint_put{.url = "http://x/", .events = {"*"}, .secret = "short"}}) {
    auto r = wait<wh::put_result>([&](auto done) { reg.put_async("hook-1", bad, 102, done); });
    ASSERT_FALSE(r);
    EXPECT_TRUE(r.error().starts_with("invalid: ")) << r.error();
  }
  EXPECT_EQ(reg.get("hook-1")->url, "http://127.0.0.1:9/h2");
  EXPECT_EQ(changed, 2);
  // Durable: a new registry over the file finds it.
  reg.stop();
  wh::registry reopened(*repo, {});
  ASSERT_TRUE(reopened.load());
  ASSERT_TRUE(reopened.get("hook-1"));
  EXPECT_EQ(reopened.get("hook-1")->events, std::vector<std::string>{"lot.expired"});
}

TEST(webhooks_registry, an_attempt_begun_before_an_api_write_does_not_move_the_cursor) {
  one_endpoint one;
  ASSERT_NE(one.store, nullptr);
  wh::registry& reg = *one.reg;
  auto& repo = one.repo;
  auto v = one.version;
  // A failure schedules a retry and is logged.
  auto r = reg.record("h", v, {.seq = 1, .attempt = 1, .status = 500, .at = 10}, false, 0);
  ASSERT_TRUE(r && *r);
  EXPECT_EQ((*r)->attempt, 1);
  EXPECT_EQ((*r)->next_attempt_at, 10 + 500'000);
  // Redeliver from seq 1 (an API write) then a stale success: logged only.
  ASSERT_TRUE(wait<wh::endpoint>([&](auto done) { reg.redeliver_async("h", 1, 20, done); }));
  r = reg.record("h", v, {.seq = 1, .attempt = 2, .status = 200, .at = 30}, true, 0);
  ASSERT_TRUE(r && *r);
  EXPECT_EQ(reg.get("h")->cursor, 0u);
  // With the current version it moves.
  v = reg.enabled().at(0).version;
  r = reg.record("h", v, {.seq = 1, .attempt = 1, .status = 204, .at = 40}, true, 0);
  EXPECT_EQ(reg.get("h")->cursor, 1u);
  auto log =
      wait<std::vector<wh::delivery>>([&](auto done) { reg.deliveries_async("h", 100, done); });
  ASSERT_TRUE(log);
  ASSERT_EQ(log->size(), 3u);
  EXPECT_EQ(log->back().next_retry_at, 10 + 500'000);
  // Removed: gone, and its log with it.
  EXPECT_EQ(wait<bool>([&](auto done) { reg.remove_async("h", done); }), true);
  EXPECT_EQ(wait<bool>([&](auto done) { reg.remove_async("h", done); }), false);
  EXPECT_TRUE(repo->deliveries("h", 10)->empty());
}

TEST(webhooks_registry,
     a_batch_is_recorded_in_order_and_moves_the_cursor_past_what_it_passed_over) {
  one_endpoint one;
  ASSERT_NE(one.store, nullptr);
  wh::registry& reg = *one.reg;
  auto& repo = one.repo;
  auto v = one.version;
  // Events 2, 4 and 5 sent and answered; 1 and 3 were not of its types, nor
  // 6 to 9 (passed over).
  std::vector<wh::registry::attempt> ok;
  for (std::uint64_t seq : {2, 4, 5})
    ok.push_back({.d = {.seq = seq, .attempt = 1, .status = 204, .at = 10}, .success = true});
  auto r = reg.record("h", v, ok, 9);
  ASSERT_TRUE(r && *r);
  EXPECT_EQ((*r)->cursor, 9u);
  // Then 12 delivered and 15 refused: the cursor stops just before 15,
  // which is retried; passed_to (20) does not apply.
  std::vector<wh::registry::attempt> mixed = {
      {.d = {.seq = 12, .attempt = 1, .status = 204, .at = 20}, .success = true},
      {.d = {.seq = 15, .attempt = 1, .status = 500, .at = 20}, .success = false}};
  r = reg.record("h", v, mixed, 20);
  ASSERT_TRUE(r && *r);
  EXPECT_EQ((*r)->cursor, 14u);
  EXPECT_EQ((*r)->attempt, 1);
  EXPECT_EQ((*r)->next_attempt_at, 20 + 500'000);
  auto log =
      wait<std::vector<wh::delivery>>([&](auto done) { reg.deliveries_async("h", 100, done); });
  ASSERT_TRUE(log);
  std::vector<std::uint64_t> seqs;
  for (const wh::delivery& d : *log)
    seqs.push_back(d.seq);
  EXPECT_EQ(seqs, (std::vector<std::uint64_t>{15, 12, 5, 4, 2}));  // newest first
  // Durable, the cursor and the pending retry with it.
  reg.stop();
  wh::registry reopened(*repo, {});
  ASSERT_TRUE(reopened.load());
  EXPECT_EQ(reopened.get("h")->cursor, 14u);
  EXPECT_EQ(reopened.get("h")->attempt, 1);
}

TEST(webhooks_registry,
     skips_are_written_every_thousand_events_and_a_restart_passes_over_them_again) {
  temp_dir dir;
  const std::string path = dir.file("s.db");
  ASSERT_NE(open_store(path), nullptr);
  auto repo = open_repo(path);
  std::optional<wh::registry> reg(std::in_place, *repo, wh::registry::options{});
  ASSERT_TRUE(wait<wh::put_result>([&](auto done) {
    reg->put_async("h", {.url = "http://127.0.0.1:9/", .events = {"lot.expired"}}, 1, done);
  }));
  const auto v = reg->enabled().at(0).version;
  ASSERT_TRUE(reg->skip("h", v, 400));
  ASSERT_TRUE(reg->skip("h", v, 999));
  EXPECT_EQ(reg->get("h")->cursor, 999u);  // in memory
  auto rows = repo->load_all();
  ASSERT_TRUE(rows);
  EXPECT_EQ(rows->at(0).cursor, 0u);  // not yet written
  ASSERT_TRUE(reg->skip("h", v, 1000));
  rows = repo->load_all();
  EXPECT_EQ(rows->at(0).cursor, 1000u);
  ASSERT_TRUE(reg->skip("h", v, 1500));
  reg->stop();
  reg.reset();
  // A new registry starts from the row: 1000, and passes over 1001-1500 again.
  wh::registry reopened(*repo, {});
  ASSERT_TRUE(reopened.load());
  EXPECT_EQ(reopened.get("h")->cursor, 1000u);
}

}  // namespace
}  // namespace webhooks_store_test_cpp
