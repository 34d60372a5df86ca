// Renewals survive SIGKILL: many monthly subscriptions on a test-clock
// server; the clock is advanced across period boundaries and the server is
// killed while it renews (after a randomized delay, at once without waiting
// for the reply, or targeted: as soon as a second connection to the file sees
// the round's first renewal committed), restarted on the same store, advanced
// again if the clock did not get there, and then every account has exactly
// one grant per period and one allowance lot per period, wherever the kill
// landed. Each kill reports where it landed, read from the killed server's
// file: before any renewal of the round, mid-renewal (some committed, not
// all) or after every one; the test fails if no kill landed mid-renewal. A
// plain restart (SIGTERM) mid-period renews nothing again.
#include <sched.h>
#include <sqlite3.h>
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

namespace renewal_kill_test_cpp {  // unity builds: tests/CMakeLists.txt

using namespace creditd::testing;

namespace {

// Fewer under the sanitizers, whose creditd is several times slower; a
// round of 12 boundaries (2,400 renewals, steps of 1,024) still takes two
// commits, so a targeted kill can land between them.
#ifdef CREDITD_SANITIZED
constexpr int accounts = 200;
#else
constexpr int accounts = 300;
#endif
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

// The subscription grants committed in the file `db` ("plan m, period K"
// grants of every account), read through a connection of its own; -1 with
// `error` set when the file cannot be read. `read_only` while a server runs.
long long grants_in_file(const std::string& db, bool read_only, std::string& error) {
  sqlite3* h = nullptr;
  long long n = -1;
  const int flags = read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
  if (sqlite3_open_v2(db.c_str(), &h, flags, nullptr) == SQLITE_OK) {
    sqlite3_busy_timeout(h, 60'000);
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(h,
                           "SELECT count(*) FROM entries WHERE type = 'grant' AND "
                           "reason LIKE 'plan m, period %'",
                           -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
      n = sqlite3_column_int64(st, 0);
    if (n < 0) error = std::string(sqlite3_errmsg(h));
    sqlite3_finalize(st);
  } else {
    error = "cannot open " + db;
  }
  sqlite3_close(h);
  return n;
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
  // Where a kill landed is read from the SQLite file, so the file must follow
  // the log commit by commit: no apply delay (the default batches a second
  // of commits into one transaction, and a round would reach the file whole),
  // one record per transaction (an applier that woke late would take a whole
  // round's records at once), at normal priority (not starved by the
  // polling below).
  live_server srv({"--test-clock", "--apply-delay-ms", "0", "--apply-records-max", "1",
                   "--applier-priority", "normal"});
  // Monthly boundaries from 2027-01-01: [0] the start, [k] period k's start.
  std::vector<std::int64_t> boundaries;
  for (int k = 0; k < 48; ++k)
    boundaries.push_back(utc(2027 + k / 12, static_cast<unsigned>(k % 12) + 1, 1));
  {
    http_client c(srv.port(), admin_key);
    put_ok(c, "/v1/plans/m", R"({"credits_per_period":10,"period":"month"})");
    advance_to(c, boundaries[0]);
    subscribe_all(srv.port(), accounts, "2027-01-01T00:00:00Z");
    // The first round's grants_before are in the file.
    file_holds_every_answered_write(c);
  }

  // Each round: advance to one hour past period `to`'s start (crossing one
  // or more boundaries: 300 renewals each, applied in steps of at most 1024
  // due items; a change set takes steps while it holds fewer than 4096
  // entries, so a round of 12 boundaries takes several commits) and kill after
  // a random delay of at most `delay_us_max` (0: at once), or (targeted) as
  // soon as the file holds one of the round's renewals. Depending on the
  // machine, the kill lands before the advance is stored, after it but before
  // the renewals, between two commits of renewals, or after everything.
  struct round {
    int to;
    int delay_us_max;
    bool targeted;
  };
#ifdef CREDITD_SANITIZED
  // Under the sanitizers, where each round takes about 11 s, two random
  // kills and two targeted ones: the run looks for memory errors on these
  // paths; the rounds' variety is the Release run's.
  const round rounds[] = {{2, 30000, false}, {14, 0, true}, {19, 60000, false}, {32, 0, true}};
#else
  const round rounds[] = {{2, 30000, false},  {14, 0, true}, {15, 0, false}, {19, 60000, false},
                          {20, 15000, false}, {32, 0, true}, {44, 0, true}};
#endif
  int kills = 0, mid_renewal = 0, before_any = 0, after_all = 0;
  int last_to = 0;  // the period every account was granted before the round
  for (const round& r : rounds) {
    const std::int64_t target = boundaries[static_cast<std::size_t>(r.to)] + 3600 * us_per_second;
    const int delay_us =
        r.delay_us_max == 0 ? 0 : std::uniform_int_distribution<int>(0, r.delay_us_max)(rng);
    SCOPED_TRACE("round to period " + std::to_string(r.to) +
                 (r.targeted ? std::string(", targeted")
                             : ", kill after " + std::to_string(delay_us) + " us"));
    // Subscription grants in the file before the round, and when it is done.
    const long long grants_before = static_cast<long long>(accounts) * (last_to + 1);
    const long long grants_done = static_cast<long long>(accounts) * (r.to + 1);
    std::int64_t before = 0, landing = 0;
    {
      http_client c(srv.port(), admin_key);
      before = clock_now(c);
      const std::int64_t seconds = (target - before + us_per_second - 1) / us_per_second;
      landing = before + seconds * us_per_second;  // the clock keeps its sub-second part
      boost::asio::io_context io;
      boost::asio::ip::tcp::socket s(io);
      send_advance(s, srv.port(), seconds);
      if (r.targeted) {
        // Until the file holds a renewal of this round (bounded against hangs).
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
        std::string error;
        while (true) {
          const long long n = grants_in_file(srv.db(), true, error);
          if (n > grants_before) break;
          ASSERT_LT(std::chrono::steady_clock::now(), deadline)
              << "no renewal committed; grants in the file: " << n << " " << error;
          ::sched_yield();
        }
      }
      // The delay only chooses where the kill lands; nothing below depends
      // on it.
      if (delay_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(delay_us));
      srv.kill_now();
    }
    std::string report;
    EXPECT_EQ(run_check(srv.db(), report), 0) << report;
    // Where the kill landed, from what the killed server committed.
    std::string error;
    const long long grants = grants_in_file(srv.db(), false, error);
    ASSERT_GE(grants, grants_before) << "grants in the killed server's file " << error;
    ASSERT_LE(grants, grants_done) << "more grants than periods";
    ++kills;
    const char* landed = grants == grants_before ? "before any renewal"
                         : grants == grants_done ? "after every renewal"
                                                 : "mid-renewal";
    before_any += grants == grants_before;
    after_all += grants == grants_done;
    mid_renewal += grants > grants_before && grants < grants_done;
    std::printf("renewal_kill: round to period %d (%s): landed %s (%lld of %lld renewals)\n", r.to,
                r.targeted ? "targeted" : "random", landed, grants - grants_before,
                grants_done - grants_before);
    last_to = r.to;

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
    // The next round reads its grants_before from the file (the journal and
    // lots reads of check_periods do not make it current).
    file_holds_every_answered_write(c);
  }

  std::printf(
      "renewal_kill: kills: %d, mid-renewal: %d, before any renewal: %d, after every "
      "renewal: %d\n",
      kills, mid_renewal, before_any, after_all);
  EXPECT_GT(mid_renewal, 0) << "no kill landed between the renewals of a round";

  // A clean advance afterwards renews once more, and only once.
  http_client c(srv.port(), admin_key);
  advance_to(c, boundaries[45] + 3600 * us_per_second);
  EXPECT_EQ(check_periods(c, accounts, 45, boundaries), 0);
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
}  // namespace renewal_kill_test_cpp
