// Many clients at once on one account: never overspent, every answer exact,
// the journal holds exactly the acknowledged charges.
#include <atomic>
#include <latch>
#include <mutex>
#include <set>
#include <thread>

#include "http_fixture.hpp"

using namespace creditd::testing;

TEST(http_concurrency, exactly_enough_credits_for_500_of_800_charges) {
  live_server srv;
  http_client c(srv.port(), admin_key);
  put_account(c, "hot");
  grant(c, "hot", "250");  // 500 charges of 0.5

  constexpr int threads = 16, per_thread = 50;
  std::latch start(threads);
  std::mutex mu;
  std::vector<std::string> ids, balances_after, refusals_available;
  std::atomic<int> ok{0}, refused{0}, other{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      http_client client(srv.port(), admin_key);
      start.arrive_and_wait();
      for (int i = 0; i < per_thread; ++i) {
        const std::string ref = "t" + std::to_string(t) + "-" + std::to_string(i);
        auto r = client.post(
            "/v1/accounts/hot/charges",
            R"({"operation":"image.generate","amount":"0.5","reference":")" + ref + "\"}");
        std::lock_guard lock(mu);
        if (r.status == 201) {
          ++ok;
          ids.push_back(field(r, "id"));
          balances_after.push_back(field(r, "balance_after"));
        } else if (r.status == 402 && r.error_code() == "insufficient_credits") {
          ++refused;
          refusals_available.push_back(error_field(r, "available"));
        } else {
          ++other;
          ADD_FAILURE() << describe(r);
        }
      }
    });
  }
  for (auto& t : pool)
    t.join();

  EXPECT_EQ(ok.load(), 500);
  EXPECT_EQ(refused.load(), 300);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(available(c, "hot"), "0");
  // Serial order: the 500 successful charges saw 249.5, 249, ..., 0, each once.
  std::multiset<std::string> got(balances_after.begin(), balances_after.end());
  std::multiset<std::string> want;
  for (int k = 0; k < 500; ++k) {
    std::string s = std::to_string(k / 2);
    if (k % 2) s += ".5";
    want.insert(s);
  }
  EXPECT_EQ(got, want);
  // Every refusal came once nothing was left.
  for (const auto& a : refusals_available)
    EXPECT_EQ(a, "0");
  // The journal: exactly the 500 acknowledged charges.
  auto charges = entries_of_type(c, "hot", "charge");
  ASSERT_EQ(charges.size(), 500u);
  std::set<std::string> journal_ids, references;
  for (const auto& e : charges) {
    journal_ids.insert(std::string(e.at("charge").as_string()));
    references.insert(std::string(e.at("reference").as_string()));
    EXPECT_EQ(e.at("amount").as_string(), "0.5");
  }
  EXPECT_EQ(journal_ids, std::set<std::string>(ids.begin(), ids.end()));
  EXPECT_EQ(references.size(), 500u);
  const auto lots = balance(c, "hot").at("lots").as_array();
  EXPECT_EQ(lots.size(), 0u);  // the one lot is depleted
}

TEST(http_concurrency, concurrent_replays_of_one_key_charge_once) {
  live_server srv;
  http_client c(srv.port(), admin_key);
  put_account(c, "idem");
  grant(c, "idem", "100");
  constexpr int threads = 8, per_thread = 10;
  std::latch start(threads);
  std::mutex mu;
  std::set<std::string> bodies;
  std::atomic<int> created{0}, replayed{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      http_client client(srv.port(), admin_key);
      start.arrive_and_wait();
      for (int i = 0; i < per_thread; ++i) {
        auto r = client.post("/v1/accounts/idem/charges", R"({"operation":"x","amount":7})",
                             {{"Idempotency-Key", "one-and-only"}});
        std::lock_guard lock(mu);
        EXPECT_EQ(r.status, 201u) << r.body;
        bodies.insert(r.body);
        (r.headers.count("idempotent-replayed") ? replayed : created)++;
      }
    });
  }
  for (auto& t : pool)
    t.join();
  EXPECT_EQ(created.load(), 1);
  EXPECT_EQ(replayed.load(), threads * per_thread - 1);
  EXPECT_EQ(bodies.size(), 1u);
  EXPECT_EQ(available(c, "idem"), "93");
  EXPECT_EQ(entries_of_type(c, "idem", "charge").size(), 1u);
}

TEST(http_concurrency, concurrent_holds_and_captures_add_up) {
  live_server srv;
  http_client c(srv.port(), admin_key);
  put_account(c, "hc");
  grant(c, "hc", "100");
  put_account(c, "quiet");
  grant(c, "quiet", "10");
  constexpr int threads = 8, per_thread = 20;
  std::latch start(threads);
  std::atomic<int> failures{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      http_client client(srv.port(), admin_key);
      start.arrive_and_wait();
      for (int i = 0; i < per_thread; ++i) {
        auto h = client.post("/v1/accounts/hc/holds", R"({"operation":"x","amount":1})");
        if (h.status != 201) {
          ++failures;
          continue;
        }
        // Even threads capture half, odd ones release.
        auto r = t % 2 == 0
                     ? client.post("/v1/holds/" + field(h, "id") + "/capture", R"({"amount":0.5})")
                     : client.post("/v1/holds/" + field(h, "id") + "/release");
        if (r.status != 200) ++failures;
      }
    });
  }
  for (auto& t : pool)
    t.join();
  EXPECT_EQ(failures.load(), 0);
  // 4 capturing threads x 20 x 0.5 = 40.
  auto b = balance(c, "hc");
  EXPECT_EQ(str(b, "available"), "60");
  EXPECT_EQ(str(b, "held"), "0");
  EXPECT_EQ(entries_of_type(c, "hc", "hold").size(), 160u);
  EXPECT_EQ(entries_of_type(c, "hc", "capture").size(), 80u);
  EXPECT_EQ(entries_of_type(c, "hc", "release").size(), 160u);  // 80 releases + 80 remainders
  EXPECT_EQ(available(c, "quiet"), "10");
  EXPECT_EQ(entries(c, "quiet").size(), 1u);
}
