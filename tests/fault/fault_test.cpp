// Fault injection: the real creditd with an LD_PRELOAD shim (fault_shim.cpp)
// that makes writes and syncs of its store fail or stall on command. The
// server must refuse writes with 503, acknowledge nothing that is not on
// disk, keep serving reads, and take writes again once the fault clears.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "http/http_fixture.hpp"
#include "support/shell_quote.hpp"

namespace fault_test_cpp {  // unity builds: tests/CMakeLists.txt

using namespace creditd::testing;

#ifndef CREDITD_FAULT_SHIM
#error "CREDITD_FAULT_SHIM must name the shim library"
#endif

namespace {

// How the server makes a commit durable: the append-only log (the default,
// creditd.db-log/ beside the file, under the shim's control too), or the
// SQLite file alone (--no-log).
enum class durability { log, sqlite_only };

const char* name_of(durability d) {
  return d == durability::log ? "log" : "sqlite_only";
}

// A creditd whose store directory is under the shim's control.
class faulty_server {
 public:
  explicit faulty_server(durability d) : control_(dir_.file("fault-control")) {
    std::filesystem::create_directories(dir_.file("store"));
    // The shim compares the resolved paths of open files (/proc/self/fd) with
    // CREDITD_FAULT_DIR: resolve it too, for a $TMPDIR that is relative or
    // goes through a symbolic link.
    db_dir_ = std::filesystem::canonical(dir_.file("store")).string();
    db_ = db_dir_ + "/creditd.db";
    if (d == durability::log) log_dir_ = db_ + "-log";
    set_fault("");
    start();
  }
  void start() {
    // With the log, lots' changes are held back (up to 1,000 records): the
    // reads after a fault take them from the backlog, without a write.
    std::vector<std::string> args = {"--lot-lag-records", "1000"};
    if (log_dir_.empty()) args = {"--no-log"};
    proc_.emplace(db_, admin_key, args,
                  std::vector<std::pair<std::string, std::string>>{
                      {"LD_PRELOAD", CREDITD_FAULT_SHIM},
                      {"CREDITD_FAULT_DIR", db_dir_},
                      {"CREDITD_FAULT_CONTROL", control_},
                      // The shim is not instrumented; under ASan it comes first.
                      {"ASAN_OPTIONS", "verify_asan_link_order=0"}});
  }
  void set_fault(const std::string& rules) { std::ofstream(control_, std::ios::trunc) << rules; }
  unsigned short port() const { return proc_->port(); }
  int terminate() { return proc_->terminate(); }
  int kill_now() { return proc_->kill_now(); }
  const std::string& db() const { return db_; }
  // The log's directory, "" with --no-log.
  const std::string& log_dir() const { return log_dir_; }

 private:
  temp_dir dir_;
  std::string control_;
  std::string db_dir_;
  std::string db_;
  std::string log_dir_;
  std::optional<server_process> proc_;
};

http_reply charge_with_key(http_client& c, const std::string& key, const std::string& amount) {
  return c.post("/v1/accounts/a/charges",
                R"({"operation":"image.generate","amount":")" + amount + "\"}",
                {{"Idempotency-Key", key}});
}

// Polls /healthz until it answers `status`; false after a minute (a guard
// against a hang: recovery takes about a second, the probe's period).
bool wait_health(unsigned short port, unsigned status) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    http_client c(port);
    if (c.get("/healthz").status == status) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

// The value of an unlabelled metric in a Prometheus text body, "" if absent.
std::string metric(const std::string& text, const std::string& name) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(pos, end - pos);
    if (line.rfind(name + " ", 0) == 0) return line.substr(name.size() + 1);
    pos = end + 1;
  }
  return "";
}

// Removes every "as_of" (the reading time, which moves with the clock).
void erase_as_of(boost::json::value& v) {
  if (v.is_object()) {
    v.as_object().erase("as_of");
    for (auto& kv : v.as_object())
      erase_as_of(kv.value());
  } else if (v.is_array()) {
    for (auto& x : v.as_array())
      erase_as_of(x);
  }
}

// A read's body without its reading times.
std::string without_as_of(const http_reply& r) {
  boost::system::error_code ec;
  auto v = boost::json::parse(r.body, ec);
  if (ec) return r.body;
  erase_as_of(v);
  return boost::json::serialize(v);
}

// `creditd check` as an operator runs it: the default log beside the file
// (or --no-log for a server that ran without one).
int run_check(const faulty_server& s) {
  std::string cmd =
      shell_quote(CREDITD_BINARY) + " check --store " + shell_quote("sqlite:" + s.db());
  if (s.log_dir().empty()) cmd += " --no-log";
  cmd += " >/dev/null";
  return std::system(cmd.c_str());
}

// The SQLite file alone: a failed commit rolls back, and the server takes
// writes again on its own once the fault clears (the log's store is
// fail-stop instead: log_fault_then_restart below).
void fault_then_recover(const std::string& rules) {
  faulty_server s(durability::sqlite_only);
  http_client c(s.port(), admin_key);
  put_account(c, "a");
  grant(c, "a", "\"100\"");
  expect(charge_with_key(c, "k1", "1"), 201, "charge before the fault");
  const std::string before = state(c, "a");

  s.set_fault(rules);
  auto refused = charge_with_key(c, "k2", "2");
  EXPECT_EQ(refused.status, 503u) << describe(refused);
  EXPECT_EQ(refused.error_code(), "unavailable");
  EXPECT_EQ(refused.headers["retry-after"], "1");
  // Every later write is refused too, and nothing is applied.
  EXPECT_EQ(charge_with_key(c, "k3", "3").status, 503u);
  EXPECT_EQ(c.post("/v1/accounts/a/lots", R"({"amount":"5","kind":"prepaid"})").status, 503u);
  // Reads keep working, from what is on disk.
  EXPECT_EQ(available(c, "a"), "99");
  EXPECT_EQ(state(c, "a"), before);
  {
    auto h = http_client(s.port()).get("/healthz");
    EXPECT_EQ(h.status, 503u);
    EXPECT_EQ(field(h, "status"), "degraded");
  }

  // The fault clears: the server takes writes again on its own.
  s.set_fault("");
  ASSERT_TRUE(wait_health(s.port(), 200));
  // The refused charge, retried with its key, is applied once.
  auto retried = charge_with_key(c, "k2", "2");
  EXPECT_EQ(retried.status, 201u) << describe(retried);
  EXPECT_EQ(charge_with_key(c, "k2", "2").headers["idempotent-replayed"], "true");
  EXPECT_EQ(available(c, "a"), "97");
  // What was acknowledged survives a crash.
  s.kill_now();
  EXPECT_EQ(run_check(s), 0);
  s.start();
  http_client after(s.port(), admin_key);
  EXPECT_EQ(available(after, "a"), "97");
  EXPECT_EQ(entries_of_type(after, "a", "charge").size(), 2u);
}

}  // namespace

TEST(fault, failed_fsync_refuses_writes_serves_reads_and_recovers) {
  fault_then_recover("fsync EIO\n");
}

TEST(fault, disk_full_refuses_writes_serves_reads_and_recovers) {
  fault_then_recover("write ENOSPC\n");
}

namespace {

// Each test below runs twice: the default (the log), and `_without_the_log`.
void writes_stay_refused_while_the_fault_lasts(durability d) {
  SCOPED_TRACE(name_of(d));  // a failure names the store it ran on
  faulty_server s(d);
  http_client c(s.port(), admin_key);
  put_account(c, "a");
  grant(c, "a", "\"10\"");
  // With the log, the fault then meets the log's append, not the file's
  // apply behind it.
  file_holds_every_answered_write(c);
  s.set_fault("fsync EIO\n");
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(charge_with_key(c, "k" + std::to_string(i), "1").status, 503u);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // spans probes
  }
  EXPECT_EQ(available(c, "a"), "10");
  // SIGTERM while degraded: the process says so in its exit status, for a supervisor.
  EXPECT_EQ(s.terminate(), 1);
  s.set_fault("");
  EXPECT_EQ(run_check(s), 0);
  s.start();
  http_client after(s.port(), admin_key);
  EXPECT_EQ(available(after, "a"), "10");
  EXPECT_TRUE(entries_of_type(after, "a", "charge").empty());
}

// A slow disk: every sync takes 150 ms. Latency rises, nothing is answered
// before its commit, and every acknowledged charge survives a SIGKILL sent
// right after the answers.
void slow_fsync_delays_answers_until_the_commit(durability d) {
  SCOPED_TRACE(name_of(d));  // a failure names the store it ran on
  faulty_server s(d);
  http_client setup(s.port(), admin_key);
  put_account(setup, "a");
  grant(setup, "a", "\"1000\"");
  s.set_fault("fsync_delay_us 150000\n");
  constexpr int threads = 8, per_thread = 4;
  std::atomic<int> acknowledged{0}, early{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      http_client c(s.port(), admin_key);
      for (int i = 0; i < per_thread; ++i) {
        const auto start = std::chrono::steady_clock::now();
        auto r = charge_with_key(c, "s" + std::to_string(t) + "-" + std::to_string(i), "1");
        const auto took = std::chrono::steady_clock::now() - start;
        if (r.status == 201) ++acknowledged;
        // Its commit's sync alone sleeps 150 ms: an answer sooner was not durable.
        if (took < std::chrono::milliseconds(150)) ++early;
      }
    });
  }
  for (auto& th : pool)
    th.join();
  EXPECT_EQ(acknowledged.load(), threads * per_thread);
  EXPECT_EQ(early.load(), 0);
  s.kill_now();
  s.set_fault("");
  EXPECT_EQ(run_check(s), 0);
  s.start();
  http_client after(s.port(), admin_key);
  EXPECT_EQ(available(after, "a"), std::to_string(1000 - threads * per_thread));
}

// docs/reliability.md, Faults: while degraded the metric creditd_store_failed
// is 1 and every read (balance, account, lots, entries, a hold, metrics)
// answers 200 with what was committed; after recovery (on its own for the
// SQLite file alone, by a restart for the log's fail-stop store) the metric
// is 0 again and the refused charge, retried, is applied.
void degraded_reads_answer_the_committed_values_and_the_metric_says_failed(durability d) {
  SCOPED_TRACE(name_of(d));  // a failure names the store it ran on
  faulty_server s(d);
  http_client c(s.port(), admin_key);
  put_account(c, "a");
  grant(c, "a", "\"100\"");
  expect(charge_with_key(c, "k1", "1"), 201, "charge before the fault");
  const std::string hold = field(
      expect(c.post("/v1/accounts/a/holds", R"({"operation":"x","amount":"5"})"), 201, "hold"),
      "id");
  const std::vector<std::string> reads = {"/v1/accounts/a/balance", "/v1/accounts/a",
                                          "/v1/accounts/a/lots", "/v1/accounts/a/entries",
                                          "/v1/holds/" + hold};
  std::map<std::string, std::string> committed;
  for (const auto& target : reads)
    committed[target] = without_as_of(expect(c.get(target), 200, target));
  EXPECT_EQ(metric(expect(c.get("/metrics"), 200, "metrics").body, "creditd_store_failed"), "0");

  s.set_fault("fsync EIO\n");
  auto refused = charge_with_key(c, "k2", "2");
  ASSERT_EQ(refused.status, 503u) << describe(refused);
  ASSERT_TRUE(wait_health(s.port(), 503));
  auto m = c.get("/metrics");
  EXPECT_EQ(m.status, 200u);
  EXPECT_EQ(metric(m.body, "creditd_store_failed"), "1") << m.body;
  for (const auto& target : reads) {
    auto r = c.get(target);
    EXPECT_EQ(r.status, 200u) << target << ": " << r.body;
    EXPECT_EQ(without_as_of(r), committed[target]) << target;
  }
  EXPECT_EQ(available(c, "a"), "94");  // 100 - 1 charged - 5 held

  s.set_fault("");
  if (d == durability::log) {
    // Fail-stop: writes stay refused until a restart (the exit says so).
    EXPECT_EQ(charge_with_key(c, "k2", "2").status, 503u);
    EXPECT_EQ(s.terminate(), 1);
    s.start();
  } else {
    ASSERT_TRUE(wait_health(s.port(), 200));
  }
  http_client after(s.port(), admin_key);
  EXPECT_EQ(metric(expect(after.get("/metrics"), 200, "metrics").body, "creditd_store_failed"),
            "0");
  for (const auto& target : reads)
    EXPECT_EQ(without_as_of(expect(after.get(target), 200, target)), committed[target]) << target;
  EXPECT_EQ(charge_with_key(after, "k2", "2").status, 201u);
  EXPECT_EQ(available(after, "a"), "92");
  EXPECT_EQ(s.terminate(), 0);
  EXPECT_EQ(run_check(s), 0);
}

}  // namespace

TEST(fault, writes_stay_refused_while_the_fault_lasts) {
  writes_stay_refused_while_the_fault_lasts(durability::log);
}
TEST(fault, writes_stay_refused_while_the_fault_lasts_without_the_log) {
  writes_stay_refused_while_the_fault_lasts(durability::sqlite_only);
}
TEST(fault, slow_fsync_delays_answers_until_the_commit) {
  slow_fsync_delays_answers_until_the_commit(durability::log);
}
TEST(fault, slow_fsync_delays_answers_until_the_commit_without_the_log) {
  slow_fsync_delays_answers_until_the_commit(durability::sqlite_only);
}
TEST(fault, degraded_reads_answer_the_committed_values_and_the_metric_says_failed) {
  degraded_reads_answer_the_committed_values_and_the_metric_says_failed(durability::log);
}
TEST(fault, degraded_reads_answer_the_committed_values_and_the_metric_says_failed_without_the_log) {
  degraded_reads_answer_the_committed_values_and_the_metric_says_failed(durability::sqlite_only);
}

// With the append-only log as the durability point (the default), a failed sync or a full
// disk refuses the write (503) and every later one, and what was refused is
// never applied; the log's store is fail-stop (a sync that failed leaves the
// log's state unknown), so the server takes writes again after a restart,
// where nothing acknowledged is lost.
void log_fault_then_restart(const std::string& rules) {
  faulty_server s(durability::log);
  http_client c(s.port(), admin_key);
  put_account(c, "a");
  grant(c, "a", "\"100\"");
  expect(charge_with_key(c, "k1", "1"), 201, "charge before the fault");
  // The fault below then meets the log's append, not the file's apply
  // behind it (a failed apply leaves nothing to serve reads from until a
  // restart).
  file_holds_every_answered_write(c);

  s.set_fault(rules);
  auto refused = charge_with_key(c, "k2", "2");
  EXPECT_EQ(refused.status, 503u) << describe(refused);
  EXPECT_EQ(refused.error_code(), "unavailable");
  EXPECT_EQ(charge_with_key(c, "k3", "3").status, 503u);
  {
    auto h = http_client(s.port()).get("/healthz");
    EXPECT_EQ(h.status, 503u);
  }
  // Reads keep working, from what is on disk.
  EXPECT_EQ(c.get("/v1/accounts/a/balance").status, 200u);
  EXPECT_EQ(available(c, "a"), "99");
  s.set_fault("");
  s.kill_now();
  EXPECT_EQ(run_check(s), 0);
  s.start();
  http_client after(s.port(), admin_key);
  EXPECT_EQ(available(after, "a"), "99");
  EXPECT_EQ(entries_of_type(after, "a", "charge").size(), 1u);
  // The refused charge, retried with its key, is applied once.
  EXPECT_EQ(charge_with_key(after, "k2", "2").status, 201u);
  EXPECT_EQ(charge_with_key(after, "k2", "2").headers["idempotent-replayed"], "true");
  EXPECT_EQ(available(after, "a"), "97");
}

TEST(fault_log, failed_fsync_refuses_writes_and_loses_nothing_acknowledged) {
  log_fault_then_restart("fsync EIO\n");
}

TEST(fault_log, disk_full_refuses_writes_and_loses_nothing_acknowledged) {
  log_fault_then_restart("write ENOSPC\n");
}
}  // namespace fault_test_cpp
