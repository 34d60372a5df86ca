// store_cost: what the SQLite store costs per request (a charge, a hold or
// a capture) when the log's applier fills it in, without the engine, the
// log or any other thread. A benchmark of the store alone, for deciding
// between two ways of writing its rows on a machine whose timings are too
// noisy to tell them apart: run it under callgrind, which counts the
// store's instructions and simulated cache misses exactly, and compare two
// builds (docs/performance.md, "The store's cost per charge, counted").
//
//   store_cost [--workload w1|w2|w3] [--accounts N] [--history N]
//              [--transactions N] [--warm N] [--sets N] [--group N]
//              [--lot-order id|changed] [--dir DIR]
//
// A fresh file in DIR (default: a new directory under $TMPDIR) gets N
// accounts with a grant each and `history` journal entries spread over
// them (written around the store, as an old file would hold them), then
// `transactions` transactions of `sets` change sets of `group` requests:
// charges of 1 credit each on random accounts (w1) or on one (w2), or
// (w3) `group` / 2 holds of 1 credit on random accounts and the captures of
// the set before's holds, written as the applier writes them with
// --lot-lag-records 0: commit_batch of the sets, each changed lot once,
// its last copy, at the transaction's end. The first `warm` transactions
// are not counted. Prints one JSON line: CPU microseconds per request of
// the counted commit_batch calls (the thread's CPU clock: noisy on a
// shared machine), and the rows written.
//
// Instructions per request, exactly (valgrind's callgrind; the ledger's own
// work and the setup are outside the toggle), one command:
//   valgrind --tool=callgrind --cache-sim=yes
//     --toggle-collect='creditd::store::sqlite::sqlite_store::commit_batch*'
//     build/bin/store_cost --workload w1 --accounts 20000 --history 200000
//     --transactions 12 --warm 0
// then divide callgrind's "Collected" instructions by the requests printed
// (with --warm 0 the toggle and the count cover the same transactions).
#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "ledger/ledger.hpp"
#include "store/sqlite/sqlite_db.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace {

using namespace creditd;

constexpr ledger::time_us t0 = 1'795'000'000LL * ledger::us_per_second;
constexpr ledger::micros credit = ledger::micros_per_credit;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "store_cost: %s\n", what.c_str());
  std::exit(1);
}

template <typename T, typename E>
T must(std::expected<T, E> r, const char* what) {
  if (!r) die(std::string(what) + ": " + r.error().message);
  if constexpr (!std::is_void_v<T>) return std::move(*r);
}

double thread_cpu_us() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

enum class workload { w1, w2, w3 };

const char* name_of(workload w) {
  switch (w) {
    case workload::w1:
      return "w1";
    case workload::w2:
      return "w2";
    case workload::w3:
      return "w3";
  }
  return "?";
}

struct options {
  workload w = workload::w1;
  int accounts = 100'000;
  std::uint64_t history = 600'000;
  int transactions = 24;
  int warm = 4;
  int sets = 64;
  int group = 64;
  bool lots_by_id = true;  // --lot-order id (as the applier writes them) or changed
  std::string dir;
};

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (i + 1 >= argc) die("missing value after " + std::string(flag));
    const char* v = argv[++i];
    auto positive = [&](long long min) {
      char* end = nullptr;
      const long long n = std::strtoll(v, &end, 10);
      if (end == v || *end != '\0' || n < min || n > 100'000'000)
        die("bad value for " + std::string(flag) + ": " + v);
      return n;
    };
    if (flag == "--workload") {
      const std::string_view w = v;
      if (w == "w1")
        o.w = workload::w1;
      else if (w == "w2")
        o.w = workload::w2;
      else if (w == "w3")
        o.w = workload::w3;
      else
        die("--workload is w1, w2 or w3");
    } else if (flag == "--accounts") {
      o.accounts = static_cast<int>(positive(1));
    } else if (flag == "--history") {
      o.history = static_cast<std::uint64_t>(positive(0));
    } else if (flag == "--transactions") {
      o.transactions = static_cast<int>(positive(1));
    } else if (flag == "--warm") {
      o.warm = static_cast<int>(positive(0));
    } else if (flag == "--sets") {
      o.sets = static_cast<int>(positive(1));
    } else if (flag == "--group") {
      o.group = static_cast<int>(positive(1));
    } else if (flag == "--lot-order") {
      const std::string_view order = v;
      if (order != "id" && order != "changed") die("--lot-order is id or changed");
      o.lots_by_id = order == "id";
    } else if (flag == "--dir") {
      o.dir = v;
    } else {
      die("unknown flag " + std::string(flag));
    }
  }
  if (o.warm >= o.transactions) die("--warm must be below --transactions");
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const options o = parse(argc, argv);
  namespace fs = std::filesystem;
  std::string dir = o.dir;
  const bool own_dir = dir.empty();
  if (own_dir) {
    std::string tmpl = (fs::temp_directory_path() / "store-cost.XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) die("cannot make a directory in " + tmpl);
    dir = tmpl;
  }
  const std::string path = (fs::path(dir) / "cost.db").string();
  {
    auto s = must(store::sqlite::sqlite_store::open({path, 1'000'000'000}), "open");
    ledger::ledger l;
    ledger::time_us now = t0;
    must(s->load(l, now), "load");
    if (o.history > 0) {
      // The history, around the store: one grant-shaped entry per seq, its
      // account by a multiplicative hash of the seq (the same every run).
      auto db = must(store::sqlite::database::open(path, false), "open the file");
      const std::string sql =
          "BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < " +
          std::to_string(o.history) +
          ") INSERT INTO entries (seq, account, type, amount, balance_after, lot_id, charge_id, "
          "hold_id, refund_id, parts, operation, dimensions, reference, reason, created_at) "
          "SELECT i, 'acct-' || ((i * 2654435761) % 4294967296 % " +
          std::to_string(o.accounts) +
          "), 'grant', 0, 0, 0, 0, 0, 0, '[]', '', '', '', '', 0 FROM n; COMMIT;";
      must(db.exec(sql.c_str()), "write the history");
    }
    l.restore_counters(l.next_object_id(), o.history + 1);
    for (int i = 0; i < o.accounts; ++i) {
      const std::string id = "acct-" + std::to_string(i);
      must(l.put_account({id, std::nullopt, std::nullopt}, now), "put_account");
      must(l.grant({.account = id, .amount = 1'000'000'000 * credit}, now), "grant");
    }
    must(s->commit(l.take_changes()), "commit the accounts");
    must(s->defer_sync_to_log(), "defer_sync_to_log");

    std::mt19937_64 rng(1);
    auto random_account = [&] {
      return "acct-" + std::to_string(rng() % static_cast<std::uint64_t>(o.accounts));
    };
    std::vector<ledger::object_id> open_holds;  // w3: the set before's, to capture
    double cpu_us = 0;
    std::uint64_t requests = 0;
    std::int64_t rows_warm = s->rows_written();
    std::uint64_t lot_rows_warm = s->lot_rows_written();
    for (int k = 0; k < o.transactions; ++k) {
      std::vector<ledger::change_set> batch;
      batch.reserve(static_cast<std::size_t>(o.sets));
      std::uint64_t made = 0;  // requests in this transaction
      for (int b = 0; b < o.sets; ++b) {
        now += 1000;
        if (o.w == workload::w3) {
          std::vector<ledger::object_id> placed;
          for (int i = 0; i < o.group / 2; ++i) {
            const ledger::hold* h =
                must(l.place_hold(
                         {.account = random_account(), .amount = credit, .operation = "llm"}, now),
                     "place_hold");
            placed.push_back(h->id);
          }
          for (ledger::object_id id : open_holds)
            must(l.capture(id, std::nullopt, now), "capture");
          made += placed.size() + open_holds.size();
          open_holds = std::move(placed);
        } else {
          for (int i = 0; i < o.group; ++i) {
            const std::string id = o.w == workload::w2 ? std::string("acct-0") : random_account();
            must(l.charge({.account = id, .amount = credit, .operation = "image.generate"}, now),
                 "charge");
          }
          made += static_cast<std::uint64_t>(o.group);
        }
        batch.push_back(l.take_changes());
      }
      // Each changed lot once, its last copy: in id order, as the applier
      // writes them at a transaction's end with --lot-lag-records 0
      // (lot_backlog::due), or with --lot-order changed in the order of
      // their first change, as it wrote them before.
      std::map<ledger::object_id, const ledger::lot*> last;
      std::vector<ledger::object_id> first_changed;
      for (const ledger::change_set& cs : batch) {
        for (const ledger::lot& lot : cs.lots) {
          if (last.insert_or_assign(lot.id, &lot).second) first_changed.push_back(lot.id);
        }
      }
      std::vector<store::sqlite::sqlite_store::lot_write> lots;
      lots.reserve(last.size());
      if (o.lots_by_id) {
        for (const auto& [id, lot] : last)
          lots.push_back({lot, lot->owner->id});
      } else {
        for (ledger::object_id id : first_changed) {
          const ledger::lot* lot = last.at(id);
          lots.push_back({lot, lot->owner->id});
        }
      }
      const store::sqlite::sqlite_store::lot_writes writes{lots, static_cast<std::uint64_t>(k + 1)};
      std::vector<const ledger::change_set*> sets;
      for (const ledger::change_set& cs : batch)
        sets.push_back(&cs);
      if (k == o.warm) {
        rows_warm = s->rows_written();
        lot_rows_warm = s->lot_rows_written();
      }
      const double before = thread_cpu_us();
      must(s->commit_batch(sets, static_cast<std::uint64_t>(k + 1), &writes), "commit_batch");
      if (k >= o.warm) {
        cpu_us += thread_cpu_us() - before;
        requests += made;
      }
    }
    const double rows = static_cast<double>(s->rows_written() - rows_warm);
    std::printf(
        "{\"workload\":\"%s\",\"accounts\":%d,\"history\":%llu,\"requests\":%llu,"
        "\"cpu_us_per_request\":%.3f,\"rows_per_request\":%.3f,\"lot_rows_per_request\":%.3f}\n",
        name_of(o.w), o.accounts, static_cast<unsigned long long>(o.history),
        static_cast<unsigned long long>(requests), cpu_us / static_cast<double>(requests),
        rows / static_cast<double>(requests),
        static_cast<double>(s->lot_rows_written() - lot_rows_warm) / static_cast<double>(requests));
  }
  if (own_dir) {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  return 0;
}
