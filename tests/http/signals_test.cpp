// SIGINT and SIGTERM under load: the server stops accepting, finishes the
// requests in flight, flushes and exits 0 (api.md, Starting it), and nothing
// it acknowledged is lost: after a restart on the same store every charge
// answered 201 is in the journal and the balance accounts for exactly the
// journal's charges.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "http_fixture.hpp"

namespace signals_test_cpp {  // unity builds: tests/CMakeLists.txt

using namespace creditd::testing;

namespace {

void stop_under_load_loses_nothing(int sig) {
  temp_dir dir;
  const std::string db = dir.file("signals.db");
  constexpr int clients = 6;
  std::mutex mu;
  std::set<std::string> acknowledged;  // charge ids answered 201
  {
    server_process srv(db, admin_key);
    {
      http_client c(srv.port(), admin_key);
      put_account(c, "a");
      grant(c, "a", "1000000");
    }
    std::atomic<bool> signalled{false};
    std::vector<std::thread> pool;
    for (int t = 0; t < clients; ++t) {
      pool.emplace_back([&, t] {
        // Until the server refuses the connection or closes it: a request in
        // flight at the signal may or may not be answered; one answered 201
        // must be durable.
        for (int conn = 0; conn < 1000; ++conn) {
          try {
            http_client c(srv.port(), admin_key);
            for (int i = 0; i < 1000000; ++i) {
              auto r =
                  c.post("/v1/accounts/a/charges", R"({"operation":"x","amount":"1"})",
                         {{"Idempotency-Key", "c" + std::to_string(t) + "-" + std::to_string(conn) +
                                                  "-" + std::to_string(i)}});
              if (r.status == 201) {
                std::lock_guard lock(mu);
                acknowledged.insert(field(r, "id"));
              } else if (!signalled.load()) {
                ADD_FAILURE() << "before the signal: " << describe(r);
                return;
              }
            }
          } catch (const boost::system::system_error&) {
            if (signalled.load()) return;  // refused or closed by the stopping server
            ADD_FAILURE() << "connection failed before the signal";
            return;
          }
        }
      });
    }
    // Signal once the load is well under way (an event, with a guard).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    for (;;) {
      {
        std::lock_guard lock(mu);
        if (acknowledged.size() >= 200) break;
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        ADD_FAILURE() << "the load never got going";  // signal anyway, then join
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    signalled = true;
    EXPECT_EQ(srv.signal_and_wait(sig), 0) << "exit status after signal " << sig;
    for (auto& th : pool)
      th.join();
  }
  ASSERT_FALSE(acknowledged.empty());
  // Restart on the same store: every acknowledged charge is there.
  server_process again(db, admin_key);
  http_client c(again.port(), admin_key);
  std::set<std::string> journal;
  for (const auto& e : entries_of_type(c, "a", "charge"))
    journal.insert(std::string(e.at("charge").as_string()));
  std::size_t lost = 0;
  for (const auto& id : acknowledged) {
    if (!journal.contains(id)) ++lost;
  }
  EXPECT_EQ(lost, 0u) << "of " << acknowledged.size() << " acknowledged charges";
  EXPECT_GE(journal.size(), acknowledged.size());
  EXPECT_EQ(available(c, "a"), std::to_string(1000000 - journal.size()));
  std::printf("signal %d: %zu charges acknowledged, %zu in the journal\n", sig, acknowledged.size(),
              journal.size());
  EXPECT_EQ(again.terminate(), 0);
}

}  // namespace

TEST(http_signals, sigint_drains_exits_0_and_loses_nothing_acknowledged) {
  stop_under_load_loses_nothing(SIGINT);
}

TEST(http_signals, sigterm_drains_exits_0_and_loses_nothing_acknowledged) {
  stop_under_load_loses_nothing(SIGTERM);
}
}  // namespace signals_test_cpp
