// The fault shim's commit probe (CREDITD_COMMIT_PROBE, tests/support/
// commit_probe.hpp), which the crash harness reads to tell whether a kill
// landed mid-commit: every acknowledged charge has begun and synced a commit,
// a commit whose sync failed stays in flight until a sync succeeds, and the
// probe alone turns no fault on.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "fault/shim_support.hpp"

namespace commit_probe_test_cpp {  // unity builds: tests/CMakeLists.txt

using namespace creditd::testing;

namespace {

struct counts {
  std::uint64_t begun, synced, writes;
};
counts read(const probe_view& p) {
  // synced first: a later begun is never behind it.
  const std::uint64_t synced = p->synced.load();
  const std::uint64_t begun = p->begun.load();
  return {begun, synced, p->writes.load()};
}

// Charges one at a time and checks that each acknowledged charge moved the
// probe through a whole commit: written, then synced. With the append-only
// log (the default) the commits are its records, counted alone (the SQLite
// writes behind them are not commits); with --no-log, the file's.
void each_charge_is_a_synced_commit(env_list env, const std::string& db,
                                    const std::string& probe_file, bool log = true) {
  probe_view probe(probe_file);
  if (log) env.emplace_back("CREDITD_COMMIT_PROBE_FILES", "-log/");
  server_process s(db, admin_key,
                   log ? std::vector<std::string>{} : std::vector<std::string>{"--no-log"},
                   shim_env(env));
  http_client c(s.port(), admin_key);
  put_account(c, "a");
  grant(c, "a", "\"100\"");
  const counts start = read(probe);
  EXPECT_GT(start.begun, 0u) << "the account and the grant were written";
  EXPECT_GT(start.synced, 0u) << "the account and the grant were synced";
  EXPECT_GT(start.writes, 0u);
  counts last = start;
  for (int i = 0; i < 20; ++i) {
    auto r = charge_keyed(c, "a", "p" + std::to_string(i), "1");
    ASSERT_EQ(r.status, 201u) << describe(r);  // the probe turns no fault on
    const counts now = read(probe);
    EXPECT_GT(now.synced, last.synced) << "charge " << i << " was acknowledged before any sync";
    EXPECT_GT(now.begun, last.begun) << "charge " << i << " was acknowledged before any write";
    EXPECT_GT(now.writes, last.writes) << "charge " << i;
    EXPECT_GE(now.begun, now.synced);
    EXPECT_LE(now.begun - now.synced, 1u);
    last = now;
  }
  EXPECT_EQ(available(c, "a"), "80");
}

}  // namespace

TEST(commit_probe, every_acknowledged_charge_begins_and_syncs_a_commit) {
  temp_dir dir;
  std::filesystem::create_directories(dir.file("store"));
  each_charge_is_a_synced_commit(
      {{"CREDITD_FAULT_DIR", dir.file("store")}, {"CREDITD_COMMIT_PROBE", dir.file("probe")}},
      dir.file("store") + "/creditd.db", dir.file("probe"));
}

TEST(commit_probe, every_acknowledged_charge_begins_and_syncs_a_commit_without_the_log) {
  temp_dir dir;
  std::filesystem::create_directories(dir.file("store"));
  each_charge_is_a_synced_commit(
      {{"CREDITD_FAULT_DIR", dir.file("store")}, {"CREDITD_COMMIT_PROBE", dir.file("probe")}},
      dir.file("store") + "/creditd.db", dir.file("probe"), /*log=*/false);
}

// Without CREDITD_FAULT_DIR the shim watches the files of `--store sqlite:PATH`
// (the log's, in PATH-log/, among them).
TEST(commit_probe, works_from_the_store_argument_alone) {
  temp_dir dir;
  each_charge_is_a_synced_commit({{"CREDITD_COMMIT_PROBE", dir.file("probe")}},
                                 dir.file("creditd.db"), dir.file("probe"));
}

// A sync that fails leaves the commit in flight (begun > synced) as long as
// the fault lasts; the first sync that succeeds closes it. The SQLite file
// alone (--no-log): it takes writes again once the fault clears, where the
// log's store waits for a restart (tests/fault/fault_test.cpp, fault_log).
TEST(commit_probe, a_failed_sync_leaves_the_commit_in_flight_until_a_sync_succeeds) {
  temp_dir dir;
  std::filesystem::create_directories(dir.file("store"));
  const std::string control = dir.file("control");
  std::ofstream(control) << "";
  probe_view probe(dir.file("probe"));
  server_process s(dir.file("store") + "/creditd.db", admin_key, {"--no-log"},
                   shim_env({{"CREDITD_FAULT_DIR", dir.file("store")},
                             {"CREDITD_FAULT_CONTROL", control},
                             {"CREDITD_COMMIT_PROBE", dir.file("probe")}}));
  http_client c(s.port(), admin_key);
  put_account(c, "a");
  grant(c, "a", "\"100\"");
  ASSERT_EQ(charge_keyed(c, "a", "k1", "1").status, 201u);
  const counts before = read(probe);
  EXPECT_FALSE(probe->in_flight());

  std::ofstream(control, std::ios::trunc) << "fsync EIO\n";
  auto refused = charge_keyed(c, "a", "k2", "2");
  EXPECT_EQ(refused.status, 503u) << describe(refused);
  EXPECT_TRUE(probe->in_flight()) << "the refused commit was written but never synced";
  EXPECT_EQ(read(probe).synced, before.synced);
  EXPECT_EQ(read(probe).begun, before.begun + 1);

  std::ofstream(control, std::ios::trunc) << "";
  // The engine's probe write syncs once the fault is gone; then the retry commits.
  bool healthy = false;
  for (auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
       !healthy && std::chrono::steady_clock::now() < until;) {
    healthy = http_client(s.port()).get("/healthz").status == 200;
    if (!healthy) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(healthy);
  EXPECT_GT(read(probe).synced, before.synced);
  EXPECT_EQ(charge_keyed(c, "a", "k2", "2").status, 201u);
  EXPECT_FALSE(probe->in_flight());
  EXPECT_EQ(available(c, "a"), "97");
}
}  // namespace commit_probe_test_cpp
