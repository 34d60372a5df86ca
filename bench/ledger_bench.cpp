// ledger_bench: charges per second through the ledger core alone, and through
// core + SQLite store with durable group commit. A benchmark, not a test.
//
//   build/bin/ledger_bench [--accounts N] [--core-charges N] [--durable-charges N]
//                          [--window N] [--dir PATH]
//   build/bin/ledger_bench --seed-db PATH [--accounts N]
//       writes N accounts "acct-0".. each with a lot of 10^9 credits into a new
//       store file and exits (for the HTTP load benchmark).
//
// Prints one line per measurement and a JSON summary on the last line.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "engine/engine.hpp"
#include "store/sqlite/sqlite_store.hpp"

using namespace creditd;
using ledger::micros;
using ledger::time_us;

namespace {

constexpr micros credit = ledger::micros_per_credit;
constexpr time_us t0 = 1'795'000'000LL * ledger::us_per_second;

// Resident memory of this process, in MiB (Linux).
double rss_mib() {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return 0;
  char line[256];
  long kb = 0;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::sscanf(line, "VmRSS: %ld kB", &kb) == 1) break;
  }
  std::fclose(f);
  return static_cast<double>(kb) / 1024.0;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::vector<std::string> account_ids(std::size_t n) {
  std::vector<std::string> ids;
  ids.reserve(n);
  for (std::size_t i = 0; i < n; ++i)
    ids.push_back("acct-" + std::to_string(i));
  return ids;
}

void populate(ledger::ledger& l, const std::vector<std::string>& ids) {
  for (const std::string& id : ids) {
    (void)l.put_account({id, std::nullopt, std::nullopt}, t0);
    (void)l.grant({.account = id, .amount = 1'000'000'000 * credit}, t0);
  }
}

struct result {
  std::string name;
  std::uint64_t charges;
  double seconds;
  double per_second() const { return static_cast<double>(charges) / seconds; }
};

// Core alone: one thread, random accounts (or one hot account), the pending
// change set drained every 64k charges as a store would.
result bench_core(std::size_t accounts, std::uint64_t charges, bool hot) {
  ledger::ledger l;
  const auto ids = account_ids(accounts);
  populate(l, ids);
  (void)l.take_changes();
  std::mt19937_64 rng(1);
  ledger::charge_cmd cmd{"", credit, "image.generate", "", "", false};
  const auto start = std::chrono::steady_clock::now();
  time_us now = t0 + 1;
  for (std::uint64_t i = 0; i < charges; ++i) {
    cmd.account = hot ? ids[0] : ids[rng() % accounts];
    auto r = l.charge(cmd, now);
    if (!r) std::abort();
    if ((i & 0xffff) == 0xffff) {
      (void)l.take_changes();
      ++now;
    }
  }
  (void)l.take_changes();
  const double secs = seconds_since(start);
  std::printf(
      "  (ledger after the run: %zu accounts, %llu charges kept for refunds, RSS %.0f MiB)\n",
      l.account_count(), static_cast<unsigned long long>(charges), rss_mib());
  return {hot ? "core, 1 hot account" : "core, " + std::to_string(accounts) + " accounts", charges,
          secs};
}

class charge_task final : public engine::task {
 public:
  void apply(ledger::ledger& l, time_us now) override {
    if (!l.charge(cmd, now)) std::abort();
  }
  void complete(bool durable) override {
    if (!durable) std::abort();
    std::lock_guard lock(*mu);
    --*in_flight;
    cv->notify_one();
  }
  ledger::charge_cmd cmd{"", credit, "image.generate", "", "", false};
  std::mutex* mu = nullptr;
  std::condition_variable* cv = nullptr;
  std::size_t* in_flight = nullptr;
};

// Core + SQLite + group commit: a driver keeps `window` charges in flight
// (like that many concurrent clients); each completes only once durable.
result bench_durable(const std::string& dir, std::size_t accounts, std::uint64_t charges,
                     std::size_t window, bool hot, engine::engine_stats& stats_out) {
  const std::string path = dir + "/bench-" + std::to_string(::getpid()) + ".db";
  std::filesystem::remove(path);
  auto s = store::sqlite::sqlite_store::open({path});
  if (!s) {
    std::fprintf(stderr, "%s\n", s.error().message.c_str());
    std::exit(1);
  }
  ledger::ledger l;
  (void)(*s)->load(l, t0);
  const auto ids = account_ids(accounts);
  populate(l, ids);
  if (!(*s)->commit(l.take_changes())) std::abort();

  time_us clock = t0 + 1;
  std::mt19937_64 rng(2);
  std::mutex mu;
  std::condition_variable cv;
  std::size_t in_flight = 0;
  std::vector<charge_task> tasks(window);
  for (auto& t : tasks) {
    t.mu = &mu;
    t.cv = &cv;
    t.in_flight = &in_flight;
  }
  const auto start = std::chrono::steady_clock::now();
  {
    engine::engine e(l, **s, {.clock = [&] { return clock; }});
    for (std::uint64_t i = 0; i < charges; ++i) {
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return in_flight < window; });
        ++in_flight;
      }
      charge_task& t = tasks[i % window];  // completions are in order: this slot is free
      t.cmd.account = hot ? ids[0] : ids[rng() % accounts];
      e.submit(&t);
    }
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return in_flight == 0; });
    }
    const double secs = seconds_since(start);
    stats_out = e.stats();
    e.stop();
    s->reset();
    std::filesystem::remove(path);
    std::filesystem::remove(path + "-wal");
    std::filesystem::remove(path + "-shm");
    std::filesystem::remove(path + ".lock");
    return {std::string("core+sqlite durable, ") +
                (hot ? "1 hot account" : std::to_string(accounts) + " accounts") + ", window " +
                std::to_string(window),
            charges, secs};
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t accounts = 100'000;
  std::uint64_t core_charges = 5'000'000;
  std::uint64_t durable_charges = 1'000'000;
  std::size_t window = 4096;
  std::string dir = std::filesystem::temp_directory_path().string();
  std::string seed_db;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h") {
      std::printf(
          "usage: ledger_bench [--accounts N] [--core-charges N] [--durable-charges N] [--window "
          "N] "
          "[--dir PATH]\n       ledger_bench --seed-db PATH [--accounts N]\n");
      return 0;
    }
  }
  if (argc % 2 == 0) {
    std::fprintf(stderr, "ledger_bench: every flag takes a value (see --help)\n");
    return 2;
  }
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const char* v = argv[i + 1];
    if (flag == "--accounts")
      accounts = std::strtoull(v, nullptr, 10);
    else if (flag == "--core-charges")
      core_charges = std::strtoull(v, nullptr, 10);
    else if (flag == "--durable-charges")
      durable_charges = std::strtoull(v, nullptr, 10);
    else if (flag == "--window")
      window = std::strtoull(v, nullptr, 10);
    else if (flag == "--dir")
      dir = v;
    else if (flag == "--seed-db")
      seed_db = v;
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  if (!seed_db.empty()) {
    auto s = store::sqlite::sqlite_store::open({seed_db});
    if (!s) {
      std::fprintf(stderr, "%s\n", s.error().message.c_str());
      return 1;
    }
    ledger::ledger l;
    if (!(*s)->load(l, t0)) return 1;
    populate(l, account_ids(accounts));
    if (!(*s)->commit(l.take_changes())) return 1;
    std::printf("seeded %zu accounts into %s\n", accounts, seed_db.c_str());
    return 0;
  }
  std::vector<result> results;
  std::vector<engine::engine_stats> stats;
  auto report = [&](const result& r, const engine::engine_stats* st) {
    std::printf("%-58s %12.0f charges/s  (%llu in %.2f s)", r.name.c_str(), r.per_second(),
                static_cast<unsigned long long>(r.charges), r.seconds);
    if (st && st->commits) {
      std::printf(
          "  commits %llu, avg batch %.0f, avg commit %.2f ms, max %.2f ms",
          static_cast<unsigned long long>(st->commits),
          static_cast<double>(st->tasks) / static_cast<double>(st->commits),
          static_cast<double>(st->commit_us_total) / static_cast<double>(st->commits) / 1000.0,
          static_cast<double>(st->commit_us_max) / 1000.0);
    }
    std::printf("\n");
    std::fflush(stdout);
    results.push_back(r);
  };
  report(bench_core(accounts, core_charges, false), nullptr);
  report(bench_core(accounts, core_charges, true), nullptr);
  engine::engine_stats st;
  report(bench_durable(dir, accounts, durable_charges, window, false, st), &st);
  report(bench_durable(dir, accounts, durable_charges, window, true, st), &st);
  std::printf("{\"results\":[");
  for (std::size_t i = 0; i < results.size(); ++i) {
    std::printf("%s{\"name\":\"%s\",\"charges_per_second\":%.0f}", i ? "," : "",
                results[i].name.c_str(), results[i].per_second());
  }
  std::printf("]}\n");
}
