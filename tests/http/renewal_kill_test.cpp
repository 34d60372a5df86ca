// Renewals survive SIGKILL: many monthly subscriptions on a test-clock
// server; the clock is advanced across period boundaries and the server is
// killed while it renews (after a randomized delay, or at once, without
// waiting for the reply), restarted on the same store, advanced again if the
// clock did not get there, and then every account has exactly one grant per
// period and one allowance lot per period, wherever the kill landed. A plain
// restart (SIGTERM) mid-period renews nothing again.
#include <sys/wait.h>

#include <atomic>
#include <boost/asio/write.hpp>
#include <chrono>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "support/commerce_http.hpp"
#include "support/shell_quote.hpp"

using namespace creditd::testing;

namespace {

constexpr int accounts = 300;
constexpr int setup_threads = 4;

std::string account_id(int i) {
  return "sub-" + std::to_string(i);
}

// Accounts [0, n) subscribed to plan "m" from `start` (UTC), several
// connections at once.
void subscribe_all(unsigned short port, int n, const std::string& start) {
  std::vector<std::thread> pool;
  std::atomic<int> failures{0};
  for (int t = 0; t < setup_threads; ++t) {
    pool.emplace_back([&, t] {
      try {
        http_client c(port, admin_key);
        for (int i = t; i < n; i += setup_threads) {
          put_account(c, account_id(i));
          auto r = c.put("/v1/accounts/" + account_id(i) + "/subscription",
                         R"({"plan":"m","start_at":")" + start + "\"}");
          if (r.status != 201) throw std::runtime_error(describe(r));
        }
      } catch (const std::exception& e) {
        ++failures;
        ADD_FAILURE() << "setup: " << e.what();
      }
    });
  }
  for (auto& t : pool)
    t.join();
  if (failures.load() != 0) throw std::runtime_error("setup failed");
}

// Sends POST /v1/test-clock/advance on its own connection and returns without
// reading the reply (the socket stays open until `s` is destroyed).
void send_advance(boost::asio::ip::tcp::socket& s, unsigned short port, std::int64_t seconds) {
  s.connect({boost::asio::ip::make_address("127.0.0.1"), port});
  const std::string body = "{\"seconds\":" + std::to_string(seconds) + "}";
  const std::string req =
      "POST /v1/test-clock/advance HTTP/1.1\r\nHost: 127.0.0.1\r\n"
      "Authorization: Bearer " +
      admin_key +
      "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\n\r\n" + body;
  boost::asio::write(s, boost::asio::buffer(req));
}

// `creditd check` on the store: the journal agrees with the state.
int run_check(const std::string& db, std::string& output) {
  const std::string cmd =
      shell_quote(CREDITD_BINARY) + " check --store " + shell_quote("sqlite:" + db) + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return -1;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p) != nullptr)
    output += buf;
  const int status = ::pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Every account has exactly one grant for each period 0..last, at its
// boundary, one expiry for each ended period, one allowance lot per period,
// and the last period's allowance available. Returns the number of accounts
// that do not (each reported).
int check_periods(http_client& c, int n, int last, const std::vector<std::int64_t>& boundaries) {
  int bad = 0;
  for (int i = 0; i < n; ++i) {
    const std::string id = account_id(i);
    std::map<std::string, int> reasons;
    std::map<std::string, std::string> created;
    int expires = 0;
    for (const auto& e : entries(c, id)) {
      const std::string type = sfield(e, "type");
      if (type == "grant") {
        ++reasons[sfield(e, "reason")];
        created[sfield(e, "reason")] = sfield(e, "created_at");
      } else if (type == "expire") {
        ++expires;
      }
    }
    std::string problem;
    if (reasons.size() != static_cast<std::size_t>(last + 1))
      problem += std::to_string(reasons.size()) + " distinct grants; ";
    for (int k = 0; k <= last; ++k) {
      const std::string want = "plan m, period " + std::to_string(k);
      auto it = reasons.find(want);
      if (it == reasons.end()) {
        problem += "no grant for period " + std::to_string(k) + "; ";
      } else if (it->second != 1) {
        problem += std::to_string(it->second) + " grants for period " + std::to_string(k) + "; ";
      } else if (created[want] != format_time(boundaries[static_cast<std::size_t>(k)])) {
        problem += "period " + std::to_string(k) + " granted at " + created[want] + "; ";
      }
    }
    if (expires != last) problem += std::to_string(expires) + " expiries; ";
    std::multiset<std::string> lot_ends;
    for (const auto& l : lots_of(c, id)) {
      if (sfield(l, "kind") == "plan") lot_ends.insert(sfield(l, "expires_at"));
    }
    if (lot_ends.size() != static_cast<std::size_t>(last + 1))
      problem += std::to_string(lot_ends.size()) + " plan lots; ";
    for (int k = 1; k <= last + 1; ++k) {
      if (lot_ends.count(format_time(boundaries[static_cast<std::size_t>(k)])) != 1)
        problem +=
            "not one lot ending " + format_time(boundaries[static_cast<std::size_t>(k)]) + "; ";
    }
    if (available(c, id) != "10") problem += "available " + available(c, id) + "; ";
    if (!problem.empty()) {
      if (++bad <= 5) ADD_FAILURE() << id << ": " << problem;
    }
  }
  return bad;
}

}  // namespace

TEST(http_renewal_kill, sigkill_while_renewing_grants_each_period_exactly_once) {
  const unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  live_server srv({"--test-clock"});
  // Monthly boundaries from 2027-01-01: [0] the start, [k] period k's start.
  std::vector<std::int64_t> boundaries;
  for (int k = 0; k < 24; ++k)
    boundaries.push_back(utc(2027 + k / 12, static_cast<unsigned>(k % 12) + 1, 1));
  {
    http_client c(srv.port(), admin_key);
    put_ok(c, "/v1/plans/m", R"({"credits_per_period":10,"period":"month"})");
    advance_to(c, boundaries[0]);
    subscribe_all(srv.port(), accounts, "2027-01-01T00:00:00Z");
  }

  // Each round: advance to one hour past period `to`'s start (crossing one
  // or more boundaries: 300 renewals each, applied in steps of at most 1024
  // due items, each step its own commit) and kill after a random delay of at
  // most `delay_us_max` (0: at once). Depending on the machine, the kill
  // lands before the advance is stored, after it but before the renewals,
  // between two steps, or after everything.
  struct round {
    int to;
    int delay_us_max;
  } rounds[] = {{2, 30000}, {6, 60000}, {7, 0}, {11, 60000}, {12, 15000}, {16, 100000}};
  for (const round& r : rounds) {
    const std::int64_t target = boundaries[static_cast<std::size_t>(r.to)] + 3600 * us_per_second;
    const int delay_us =
        r.delay_us_max == 0 ? 0 : std::uniform_int_distribution<int>(0, r.delay_us_max)(rng);
    SCOPED_TRACE("round to period " + std::to_string(r.to) + ", kill after " +
                 std::to_string(delay_us) + " us");
    std::int64_t before = 0, landing = 0;
    {
      http_client c(srv.port(), admin_key);
      before = clock_now(c);
      const std::int64_t seconds = (target - before + us_per_second - 1) / us_per_second;
      landing = before + seconds * us_per_second;  // the clock keeps its sub-second part
      boost::asio::io_context io;
      boost::asio::ip::tcp::socket s(io);
      send_advance(s, srv.port(), seconds);
      // The delay only chooses where the kill lands; nothing below depends
      // on it.
      if (delay_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(delay_us));
      srv.kill_now();
    }
    std::string report;
    EXPECT_EQ(run_check(srv.db(), report), 0) << report;

    srv.restart();
    http_client c(srv.port(), admin_key);
    // The clock resumes where it was stored: before the advance (not
    // committed) or where it took the clock.
    const std::int64_t resumed = clock_now(c);
    EXPECT_TRUE(resumed == before || resumed == landing)
        << format_time(resumed) << " is neither " << format_time(before) << " nor "
        << format_time(landing);
    std::printf("renewal_kill: kill %d us after the advance to period %d: the clock resumed %s\n",
                delay_us, r.to, resumed < landing ? "before it" : "after it");
    if (resumed < landing) {
      advance_to(c, landing);
    } else {
      advance(c, 0);  // runs whatever became due and was not committed
    }
    EXPECT_EQ(clock_now(c), landing);
    ASSERT_EQ(check_periods(c, accounts, r.to, boundaries), 0);
  }

  // A clean advance afterwards renews once more, and only once.
  http_client c(srv.port(), admin_key);
  advance_to(c, boundaries[17] + 3600 * us_per_second);
  EXPECT_EQ(check_periods(c, accounts, 17, boundaries), 0);
}

TEST(http_renewal_kill, a_restart_mid_period_renews_nothing_again) {
  constexpr int n = 20;
  live_server srv({"--test-clock"});
  std::vector<std::int64_t> boundaries;
  for (int k = 0; k < 24; ++k)
    boundaries.push_back(utc(2027 + k / 12, static_cast<unsigned>(k % 12) + 1, 1));
  {
    http_client c(srv.port(), admin_key);
    put_ok(c, "/v1/plans/m", R"({"credits_per_period":10,"period":"month"})");
    advance_to(c, boundaries[0]);
    subscribe_all(srv.port(), n, "2027-01-01T00:00:00Z");
    advance_to(c, utc(2027, 1, 15));
    ASSERT_EQ(check_periods(c, n, 0, boundaries), 0);
  }
  // SIGTERM mid-month: the same period after the restart.
  EXPECT_EQ(srv.terminate(), 0);
  srv.restart();
  {
    http_client c(srv.port(), admin_key);
    EXPECT_GE(clock_now(c), utc(2027, 1, 15)) << "the test clock resumes where it was";
    advance(c, 86400);
    ASSERT_EQ(check_periods(c, n, 0, boundaries), 0);
    auto s = expect(c.get("/v1/accounts/" + account_id(0) + "/subscription"), 200, "sub").json();
    EXPECT_EQ(str(s, "status"), "active");
    EXPECT_EQ(s.at("period_index").as_int64(), 0);
    EXPECT_EQ(str(s, "current_period_end"), "2027-02-01T00:00:00Z");
    // Across the boundary once.
    advance_to(c, utc(2027, 2, 10));
    ASSERT_EQ(check_periods(c, n, 1, boundaries), 0);
  }
  // Again, and a SIGKILL while idle.
  EXPECT_EQ(srv.terminate(), 0);
  srv.restart();
  {
    http_client c(srv.port(), admin_key);
    advance(c, 3600);
    ASSERT_EQ(check_periods(c, n, 1, boundaries), 0);
  }
  srv.kill_now();
  srv.restart();
  {
    http_client c(srv.port(), admin_key);
    advance(c, 3600);
    ASSERT_EQ(check_periods(c, n, 1, boundaries), 0);
    advance_to(c, utc(2027, 3, 2));
    ASSERT_EQ(check_periods(c, n, 2, boundaries), 0);
  }
}
