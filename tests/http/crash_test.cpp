// Durability over HTTP: SIGKILL loses no acknowledged charge; SIGTERM answers
// the requests in flight and exits 0. A charger may lose its connection only
// once the server is being stopped; any other error (an unexpected status, a
// 201 whose body is not a charge) fails the test with the request and the
// response. Waits are event-driven, bounded only against hangs.
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include "http_fixture.hpp"
#include "support/kill_probe.hpp"
#include "support/shell_quote.hpp"

namespace crash_test_cpp {  // unity builds: tests/CMakeLists.txt

using namespace creditd::testing;

namespace {

// Against hangs only: never reached on a working server, however busy the machine.
constexpr auto anti_hang = std::chrono::seconds(90);

// Charges 0.01 in a loop on its own connection until the server is stopped
// (its connection is then refused, reset or closed) or `stop`; records every
// acknowledged charge id.
struct charger {
  std::mutex mu;
  std::condition_variable cv;
  std::set<std::string> acked;
  int finished = 0;  // threads that left run()
  std::atomic<bool> stop{false};
  std::atomic<bool> stopping{false};  // set just before the server is killed or terminated
  std::atomic<int> errors{0};

  void run(unsigned short port, int thread) {
    std::string request = "(connecting)";
    try {
      http_client client(port, admin_key);
      for (int i = 0; i < 100000 && !stop.load(); ++i) {
        request = R"({"operation":"x","amount":"0.01","reference":"t)" + std::to_string(thread) +
                  "-" + std::to_string(i) + "\"}";
        auto r = client.post("/v1/accounts/c/charges", request);
        if (r.status != 201) {
          fail("POST /v1/accounts/c/charges " + request + " answered " + describe(r));
          break;
        }
        std::string id;
        try {
          id = field(r, "id");
        } catch (const std::exception& e) {
          fail("POST /v1/accounts/c/charges " + request + " answered " + describe(r) +
               ", which is not a charge: " + e.what());
          break;
        }
        std::lock_guard lock(mu);
        acked.insert(id);
        cv.notify_all();
      }
    } catch (const std::exception& e) {
      // Only a stopping server may close the connection under us.
      if (!stopping.load() || !is_connection_loss(e))
        fail("POST /v1/accounts/c/charges " + request +
             (stopping.load() ? "" : " (no stop under way)") + ": " + describe_exception(e));
    }
    std::lock_guard lock(mu);
    ++finished;
    cv.notify_all();
  }

  void fail(const std::string& what) {
    ++errors;
    ADD_FAILURE() << what;
  }

  std::size_t acked_count() {
    std::lock_guard lock(mu);
    return acked.size();
  }

  // Waits until `n` charges were acknowledged; false if every one of the
  // `threads` chargers stopped first, or against a hang.
  bool wait_for(std::size_t n, int threads) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, anti_hang, [&] { return acked.size() >= n || finished == threads; }) &&
           acked.size() >= n;
  }
};

// 99999 cents -> "999.99", 100000 -> "1000", 99990 -> "999.9".
std::string cents_to_amount(long cents) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%ld.%02ld", cents / 100, cents % 100);
  std::string s = buf;
  while (s.back() == '0')
    s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s;
}

// `creditd check` (with `flags`, e.g. --no-log): the journal agrees with the
// state, and the log beside the file checks. Returns its exit status.
int run_check(const std::string& db, std::string& output,
              const std::vector<std::string>& flags = {}) {
  std::string cmd = shell_quote(CREDITD_BINARY) + " check --store " + shell_quote("sqlite:" + db);
  for (const std::string& f : flags)
    cmd += " " + shell_quote(f);
  cmd += " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return -1;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p) != nullptr)
    output += buf;
  const int status = ::pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A SIGKILL with charges in flight, a restart: every acknowledged charge is
// there. `flags`: the server's (the default log, or --no-log).
void sigkill_loses_no_acknowledged_charge(const std::vector<std::string>& flags) {
  live_server srv(flags);
  {
    http_client c(srv.port(), admin_key);
    put_account(c, "c");
    grant(c, "c", "1000");
  }
  constexpr int threads = 4;
  charger ch;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] { ch.run(srv.port(), t); });
  const bool reached = ch.wait_for(300, threads);
  ch.stopping = true;
  srv.kill_now();  // SIGKILL with requests in flight
  for (auto& t : pool)
    t.join();
  ASSERT_TRUE(reached) << "only " << ch.acked_count() << " charges acknowledged";
  ASSERT_EQ(ch.errors.load(), 0);

  std::string report;
  EXPECT_EQ(run_check(srv.db(), report, flags), 0) << report;

  srv.restart();
  http_client c(srv.port(), admin_key);
  std::set<std::string> journal;
  for (const auto& e : entries_of_type(c, "c", "charge")) {
    EXPECT_EQ(e.at("amount").as_string(), "0.01");
    journal.insert(std::string(e.at("charge").as_string()));
  }
  // Every acknowledged charge survived.
  for (const std::string& id : ch.acked) {
    EXPECT_TRUE(journal.contains(id)) << id << " was acknowledged but is not in the journal";
  }
  // At most one unacknowledged charge per connection (the one in flight at
  // the kill) may have been committed without its answer arriving.
  ASSERT_GE(journal.size(), ch.acked.size());
  EXPECT_LE(journal.size() - ch.acked.size(), static_cast<std::size_t>(threads));
  // The balance is what the journal says: granted minus every charge in it
  // (with nothing in flight at the kill, exactly the acknowledged ones).
  EXPECT_EQ(available(c, "c"), cents_to_amount(100000 - static_cast<long>(journal.size())))
      << ch.acked.size() << " acknowledged, " << journal.size() << " in the journal";
  // And it still takes charges.
  charge(c, "c", "1");
}

}  // namespace

TEST(http_crash, sigkill_loses_no_acknowledged_charge) {
  sigkill_loses_no_acknowledged_charge({});
}

TEST(http_crash, sigkill_loses_no_acknowledged_charge_without_the_log) {
  sigkill_loses_no_acknowledged_charge({"--no-log"});
}

TEST(http_crash, sigterm_exits_0_and_loses_no_acknowledged_charge) {
  live_server srv;
  {
    http_client c(srv.port(), admin_key);
    put_account(c, "c");
    grant(c, "c", "1000");
  }
  constexpr int threads = 4;
  charger ch;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] { ch.run(srv.port(), t); });
  const bool reached = ch.wait_for(100, threads);
  ch.stopping = true;
  const int status = srv.terminate();  // SIGTERM with requests in flight
  for (auto& t : pool)
    t.join();
  ASSERT_TRUE(reached) << "only " << ch.acked_count() << " charges acknowledged";
  EXPECT_EQ(status, 0);
  EXPECT_EQ(ch.errors.load(), 0);
  // The process is gone: terminate() reaped it (its exit status is above).
  // Its old port is not probed: a parallel test may have bound it since.

  std::string report;
  EXPECT_EQ(run_check(srv.db(), report), 0) << report;

  srv.restart();
  http_client c(srv.port(), admin_key);
  std::set<std::string> journal;
  for (const auto& e : entries_of_type(c, "c", "charge")) {
    journal.insert(std::string(e.at("charge").as_string()));
  }
  for (const std::string& id : ch.acked) {
    EXPECT_TRUE(journal.contains(id)) << id << " was acknowledged but is not in the journal";
  }
  ASSERT_GE(journal.size(), ch.acked.size());
  EXPECT_LE(journal.size() - ch.acked.size(), static_cast<std::size_t>(threads));
  EXPECT_EQ(available(c, "c"), cents_to_amount(100000 - static_cast<long>(journal.size())));
}

// A graceful stop must answer every request it executes: the journal holds
// exactly the acknowledged charges. Several rounds, as the window is narrow.
TEST(http_crash, sigterm_answers_every_request_it_executes) {
  // Fewer under the sanitizers, where a round (two starts of a slower
  // creditd) takes about 10 s.
#ifdef CREDITD_SANITIZED
  constexpr int rounds = 3;
#else
  constexpr int rounds = 10;
#endif
  for (int round = 0; round < rounds && !HasFailure(); ++round) {
    live_server srv;
    {
      http_client c(srv.port(), admin_key);
      put_account(c, "c");
      grant(c, "c", "1000");
    }
    constexpr int threads = 8;
    charger ch;
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&, t] { ch.run(srv.port(), t); });
    const bool reached = ch.wait_for(100, threads);
    ch.stopping = true;
    const int status = srv.terminate();
    for (auto& t : pool)
      t.join();
    ASSERT_TRUE(reached) << "only " << ch.acked_count() << " charges acknowledged";
    EXPECT_EQ(status, 0);
    EXPECT_EQ(ch.errors.load(), 0);
    srv.restart();
    http_client c(srv.port(), admin_key);
    std::set<std::string> journal;
    for (const auto& e : entries_of_type(c, "c", "charge")) {
      journal.insert(std::string(e.at("charge").as_string()));
    }
    std::vector<std::string> unanswered;
    for (const auto& id : journal) {
      if (!ch.acked.contains(id)) unanswered.push_back(id);
    }
    EXPECT_TRUE(unanswered.empty())
        << "round " << round << ": " << unanswered.size() << " charge(s) committed but never "
        << "answered, e.g. " << unanswered.front() << " (" << ch.acked.size() << " answered)";
    EXPECT_EQ(available(c, "c"), cents_to_amount(100000 - static_cast<long>(ch.acked.size())));
  }
}
}  // namespace crash_test_cpp
