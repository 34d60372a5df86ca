// Power loss: what survives a power cut is what was synced, not what was
// written. creditd runs under the fault shim with CREDITD_POWER_LOSS_DIR,
// which copies each store file at every successful fsync/fdatasync: the disk
// as a power cut at that instant would leave it, if nothing written since had
// reached it. After acknowledged writes (sequential, 16 concurrent clients, a
// batch) and a SIGKILL, the store is replaced by those images (a file never
// synced does not exist); creditd must start on them with every acknowledged
// write there, and `creditd check` must pass. A process kill cannot catch a
// skipped fdatasync (the page cache survives it); this can.
//
// Run twice: with the append-only log (the default: the images hold the
// log's segments in creditd.db-log/ beside the file's, each as of its last
// sync, a segment's name as of its directory's last sync), and with the
// SQLite file alone (--no-log).
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "fault/shim_support.hpp"

namespace power_loss_test_cpp {  // unity builds: tests/CMakeLists.txt

using namespace creditd::testing;
namespace fs = std::filesystem;

namespace {

// An acknowledged charge: its account, id, amount (text) and Idempotency-Key.
struct acked {
  std::string account, id, key, body;
};

// Replaces every file of `store` with the images of `images` (the files the
// disk would hold after the power cut, the log's directory included); returns
// the names copied, relative to `store`.
std::set<std::string> cut_power(const std::string& store, const std::string& images) {
  for (const auto& f : fs::directory_iterator(store))
    fs::remove_all(f.path());
  std::set<std::string> names;
  for (const auto& f : fs::recursive_directory_iterator(images)) {
    const fs::path rel = fs::relative(f.path(), images);
    if (f.is_directory()) {
      fs::create_directories(fs::path(store) / rel);
      continue;
    }
    if (rel.string().ends_with(".partial")) continue;  // a copy cut short: never renamed
    fs::copy_file(f.path(), fs::path(store) / rel);
    names.insert(rel.string());
  }
  return names;
}

enum class durability { log, sqlite_only };

// The server's flags: the default (the log), or --no-log.
std::vector<std::string> flags_of(durability d) {
  return d == durability::log ? std::vector<std::string>{} : std::vector<std::string>{"--no-log"};
}

void every_acknowledged_write_is_on_the_synced_images(durability d) {
  const std::vector<std::string> flags = flags_of(d);
  temp_dir dir;
  const std::string store = dir.file("store"), images = dir.file("images");
  fs::create_directories(store);
  fs::create_directories(images);
  const std::string db = store + "/creditd.db";

  std::vector<acked> acks;
  std::mutex acks_mu;
  std::map<std::string, long> expected_micros;  // available, per account
  {
    server_process s(db, admin_key, flags,
                     shim_env({{"CREDITD_FAULT_DIR", store}, {"CREDITD_POWER_LOSS_DIR", images}}));
    http_client c(s.port(), admin_key);
    for (const std::string a : {"seq", "conc", "batch"}) {
      put_account(c, a);
      grant(c, a, "\"1000\"");
      expected_micros[a] = 1000'000000;
    }
    // Sequential charges, each with its key.
    for (int i = 0; i < 30; ++i) {
      const std::string key = "seq-" + std::to_string(i);
      auto r = charge_keyed(c, "seq", key, "1.5");
      ASSERT_EQ(r.status, 201u) << describe(r);
      acks.push_back({"seq", field(r, "id"), key, r.body});
      expected_micros["seq"] -= 1'500000;
    }
    // 16 clients at once on one account: group commits of several tasks.
    std::vector<std::thread> pool;
    std::atomic<int> failures{0};
    for (int t = 0; t < 16; ++t) {
      pool.emplace_back([&, t] {
        try {
          http_client tc(s.port(), admin_key);
          for (int i = 0; i < 8; ++i) {
            const std::string key = "conc-" + std::to_string(t) + "-" + std::to_string(i);
            auto r = charge_keyed(tc, "conc", key, "2");
            if (r.status != 201) {
              ++failures;
              continue;
            }
            std::lock_guard lock(acks_mu);
            acks.push_back({"conc", field(r, "id"), key, r.body});
          }
        } catch (const std::exception&) {
          ++failures;
        }
      });
    }
    for (auto& th : pool)
      th.join();
    ASSERT_EQ(failures.load(), 0);
    expected_micros["conc"] -= 16 * 8 * 2'000000;
    // A batch of 20 charges: one commit, all or none.
    std::string batch = R"({"charges":[)";
    for (int i = 0; i < 20; ++i)
      batch += std::string(i ? "," : "") + R"({"operation":"image.generate","amount":"0.25"})";
    auto b =
        c.post("/v1/accounts/batch/charges:batch", batch + "]}", {{"Idempotency-Key", "batch-1"}});
    ASSERT_EQ(b.status, 201u) << describe(b);
    const auto bv = b.json();
    ASSERT_EQ(bv.at("data").as_array().size(), 20u);
    for (const auto& ch : bv.at("data").as_array())
      acks.push_back({"batch", str(ch, "id"), "", ""});
    expected_micros["batch"] -= 20 * 250000;
    // The power goes: the process dies with whatever it had not synced.
    s.kill_now();
  }

  const std::set<std::string> names = cut_power(store, images);
  ASSERT_TRUE(names.contains("creditd.db")) << "the database file was never synced";
  EXPECT_FALSE(names.contains("creditd.db-shm")) << "the shared-memory index is never synced";
  if (d == durability::log) {
    EXPECT_TRUE(names.contains("creditd.db-log/00000000000000000001.log"))
        << "the log's first segment was never synced under its name";
  } else {
    for (const std::string& n : names)
      EXPECT_FALSE(n.starts_with("creditd.db-log")) << n << ": a log beside --no-log";
  }
  EXPECT_EQ(run_check(db, flags), 0) << "creditd check refused the store left by the power cut";

  server_process after(db, admin_key, flags);
  http_client c(after.port(), admin_key);
  for (const auto& [account, micros] : expected_micros) {
    ASSERT_EQ(micros % 1000000, 0) << "the test's amounts add up to whole credits";
    EXPECT_EQ(available(c, account), std::to_string(micros / 1000000)) << account;
  }
  // Every acknowledged charge is in the journal, and no other.
  std::map<std::string, std::set<std::string>> journal;
  for (const std::string a : {"seq", "conc", "batch"}) {
    for (const auto& e : entries_of_type(c, a, "charge"))
      journal[a].insert(std::string(e.at("charge").as_string()));
  }
  std::size_t per_account[3] = {0, 0, 0};
  for (const auto& a : acks) {
    EXPECT_TRUE(journal[a.account].contains(a.id))
        << "acknowledged charge " << a.id << " of " << a.account << " was lost";
    per_account[a.account == "seq" ? 0 : a.account == "conc" ? 1 : 2]++;
  }
  EXPECT_EQ(journal["seq"].size(), per_account[0]);
  EXPECT_EQ(journal["conc"].size(), per_account[1]);
  EXPECT_EQ(journal["batch"].size(), per_account[2]);
  // Their Idempotency-Keys survived too: a retry is a replay, not a new charge.
  for (const auto& a : acks) {
    if (a.key.empty()) continue;
    auto r = charge_keyed(c, a.account, a.key, a.account == "seq" ? "1.5" : "2");
    EXPECT_EQ(r.status, 201u) << describe(r);
    EXPECT_EQ(r.headers["idempotent-replayed"], "true") << a.key;
    EXPECT_EQ(field(r, "id"), a.id) << a.key;
  }
  EXPECT_EQ(entries_of_type(c, "seq", "charge").size(), per_account[0]);
}

}  // namespace

TEST(power_loss, every_acknowledged_write_is_on_the_synced_images) {
  every_acknowledged_write_is_on_the_synced_images(durability::log);
}

TEST(power_loss, every_acknowledged_write_is_on_the_synced_images_without_the_log) {
  every_acknowledged_write_is_on_the_synced_images(durability::sqlite_only);
}
}  // namespace power_loss_test_cpp
