// ledger_bench: the ledger core alone, and core + SQLite store with durable
// group commit in-process (no HTTP). A benchmark, not a test: every run ends
// with a correctness check and a non-zero exit if it fails.
//
//   ledger_bench --core [--accounts N] [--core-charges N]
//       core alone, one thread: N charges of 1 credit spread over the
//       accounts, then N on one hot account. No store, no latency.
//   ledger_bench --durable PATH --workload w1|w2|w3|w4 [--accounts N]
//                [--window N] [--seconds S] [--warmup S] [--log FILE]
//                [--log-dir DIR] [--apply-delay-ms MS] [--lot-lag-records N]
//                [--applier-priority idle|normal] [--commit-thread auto|own|writer]
//       core + store + engine (group commit), closed loop: `window` clients,
//       each with one request in flight, as many HTTP connections would be.
//       With --warmup, that long first: checked, not measured (ops/s and
//       the percentiles are of the --seconds after it).
//       With --log-dir, commits go through the append-only log in DIR, and
//       the file is filled in behind it at most MS (4000, as creditd serve's
//       --apply-delay-ms) after each commit, and a lot's changes up to N
//       records (0, as creditd serve's --lot-lag-records) after them, by
//       an applier at normal priority (the default here, as every bench
//       run so far) or, with --applier-priority idle, at idle priority while
//       nothing waits for it (creditd serve's default; docs/performance.md,
//       "The applier's CPU on the AMD EPYC machine").
//       --commit-thread as creditd serve's: auto (the default) commits on
//       the writer's thread where the process may run on at most 2 cores,
//       own keeps a committer thread (the next round applied while one
//       commits), writer never does.
//       PATH is created and seeded with N accounts when it does not exist.
//       w1: a charge of 1 credit on a random account; w2: on acct-0 only;
//       w3: a hold of 1 credit, then its capture (two requests);
//       w4: 80% balance reads, 20% charges.
//       A model decides every request as it is applied (on the engine's
//       writer thread, in the engine's order): each account's available
//       balance, from the balance before the run minus the charges and holds
//       the ledger accepted. A charge or hold must succeed exactly when the
//       model holds the amount; a read must return the model's balance.
//       After the run the file is loaded again, its journal audited, every
//       lot's amount = spent + held + expired + voided + remaining, and each
//       account's balance, spent and held compared with the model and the
//       acknowledged requests. --log writes the requests (references
//       "1-N") for `--check-cell` (cell_check.hpp). cpu_us_per_request is
//       the CPU of every thread of the process (clients, writer,
//       committer, applier) over the cell and while the file is filled in
//       with the rest of it, per request: what a request costs, where the
//       rate may be bound by the log's sync instead.
//   ledger_bench --check-cell BEFORE AFTER JOURNAL CLIENT
//       the check of one bench cell against the journal (cell_check.hpp),
//       for every system; prints a JSON object, exits 1 when it fails.
//   ledger_bench --seed-db PATH [--accounts N] [--charges M]
//       creates N accounts "acct-0".. each with a lot of 10^9 - 100 i credits (when
//       the file holds none yet), then M charges of 1 credit, M/N per account,
//       committed in batches of 100,000 (for the memory and recovery figures).
//
// Prints one human line per measurement and a JSON object on the last line.
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "cell_check.hpp"
#include "closed_loop.hpp"
#include "engine/engine.hpp"
#include "store/log/background_priority.hpp"
#include "store/log/log_store.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "util/clock.hpp"
#include "util/handoff_batch.hpp"
#include "util/usable_cpus.hpp"

using namespace creditd;
using ledger::micros;
using ledger::time_us;

namespace {

constexpr micros credit = ledger::micros_per_credit;
// Account i is granted lot_credits - i * seed_step_credits: no two accounts
// hold the same balance, so a read answered with another account's balance
// shows (bench/cell_check.hpp, the model below).
constexpr micros lot_credits = 1'000'000'000;
constexpr micros seed_step_credits = 100;
constexpr time_us t0 = 1'795'000'000LL * ledger::us_per_second;
constexpr std::uint64_t seed_batch_charges = 100'000;
constexpr std::size_t seed_batch_accounts = 100'000;

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

// The text of a JSON string, without its quotes.
std::string json_escape(const std::string& in) {
  std::string out;
  for (const char ch : in) {
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (static_cast<unsigned char>(ch) < 0x20) {
      out += ' ';
    } else {
      out += ch;
    }
  }
  return out;
}

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "ledger_bench: %s\n", what.c_str());
  std::exit(1);
}

// The CPU time of every thread of this process so far, in microseconds.
double process_cpu_us() {
  timespec t{};
  if (::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t) != 0)
    die("cannot read this process's CPU time");
  return static_cast<double>(t.tv_sec) * 1e6 + static_cast<double>(t.tv_nsec) / 1e3;
}

std::vector<std::string> account_ids(std::size_t n) {
  std::vector<std::string> ids;
  ids.reserve(n);
  for (std::size_t i = 0; i < n; ++i)
    ids.push_back("acct-" + std::to_string(i));
  return ids;
}

// Creates the accounts, each with one lot, effective at `now`. With a store,
// commits every seed_batch_accounts accounts.
void populate(ledger::ledger& l, const std::vector<std::string>& ids, time_us now,
              store::store* s = nullptr) {
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (!l.put_account({ids[i], std::nullopt, std::nullopt}, now)) die("put_account failed");
    const micros granted = (lot_credits - static_cast<micros>(i) * seed_step_credits) * credit;
    if (granted <= 0) die("too many accounts for distinct balances");
    if (!l.grant({.account = ids[i], .amount = granted}, now)) die("grant failed");
    if (s != nullptr && (i + 1) % seed_batch_accounts == 0 && !s->commit(l.take_changes()))
      die("commit failed");
  }
  if (s != nullptr && !s->commit(l.take_changes())) die("commit failed");
}

std::unique_ptr<store::sqlite::sqlite_store> open_store(const std::string& path) {
  auto s = store::sqlite::sqlite_store::open({path});
  if (!s) die(s.error().message);
  return std::move(*s);
}

// Credits taken from every lot (spent + held), in micro-credits.
struct lot_totals {
  micros spent = 0;
  micros held = 0;
};
lot_totals totals(const ledger::ledger& l) {
  lot_totals t;
  l.for_each_account([&](const ledger::account& a) {
    for (const ledger::lot* lot : a.lots) {
      t.spent += lot->spent;
      t.held += lot->held;
    }
  });
  return t;
}

// ---- Core alone.

double bench_core(std::size_t accounts, std::uint64_t charges, bool hot) {
  ledger::ledger l;
  const auto ids = account_ids(accounts);
  populate(l, ids, t0);
  (void)l.take_changes();
  std::mt19937_64 rng(1);
  ledger::charge_cmd cmd{"", credit, "image.generate", "", "", false};
  const auto start = std::chrono::steady_clock::now();
  time_us now = t0 + 1;
  for (std::uint64_t i = 0; i < charges; ++i) {
    cmd.account = hot ? ids[0] : ids[rng() % accounts];
    auto r = l.charge(cmd, now);
    if (!r) die("core charge refused");
    if ((i & 0xffff) == 0xffff) {
      (void)l.take_changes();
      ++now;
    }
  }
  (void)l.take_changes();
  const double secs = seconds_since(start);
  if (totals(l).spent != static_cast<micros>(charges) * credit) die("core: spent != charges");
  std::printf("%-40s %12.0f charges/s  (%llu in %.2f s; ledger then %zu accounts, RSS %.0f MiB)\n",
              hot ? "core alone, 1 hot account" : "core alone, spread", charges / secs,
              static_cast<unsigned long long>(charges), secs, l.account_count(), rss_mib());
  return static_cast<double>(charges) / secs;
}

// ---- Durable, closed loop.

enum class op : std::uint8_t { charge, hold, capture, read };

struct client;
struct shared_state {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<client*> ready;
  // The model, touched by apply() alone (the engine's writer thread), read
  // once the engine has stopped: each account's available balance.
  std::vector<micros> model;
  std::uint64_t model_failures = 0;
  std::string model_failure;  // the first few
  // Runs a burst of completions under one lock (the jobs push onto ready).
  static void post(void* self, std::vector<util::handoff_batch::job>&& jobs) {
    auto* s = static_cast<shared_state*>(self);
    {
      std::lock_guard lock(s->mu);
      for (auto& job : jobs)
        job();
    }
    s->cv.notify_one();
  }
  void model_fails(const std::string& what) {
    if (++model_failures <= 3) model_failure += (model_failure.empty() ? "" : "; ") + what;
  }
};

// One client: one request in flight at a time. The task runs on the engine's
// writer thread (apply) and completes on its committer thread.
struct client final : engine::task {
  void apply(ledger::ledger& l, time_us now) override {
    ok = refused = false;
    micros& model = shared->model[index];
    // A charge or hold must succeed exactly when the model holds the amount.
    auto decide = [&](bool accepted, const ledger::error* e) {
      ok = accepted;
      refused = e != nullptr && e->code == ledger::errc::insufficient_credits;
      const bool expected = model >= credit;
      if (accepted != expected)
        shared->model_fails((accepted ? "accepted " : "refused ") + std::string(name()) + " " +
                            ref + " on " + *account + " with " + std::to_string(model) +
                            " micro-credits in the model");
      if (accepted) model -= credit;
    };
    switch (kind) {
      case op::charge: {
        ledger::charge_cmd cmd{*account, credit, "image.generate", "", ref, false};
        auto r = l.charge(cmd, now);
        decide(r.has_value(), r ? nullptr : &r.error());
        break;
      }
      case op::hold: {
        ledger::hold_cmd cmd{*account, credit, "image.generate", "", ref, false, 600};
        auto r = l.place_hold(cmd, now);
        decide(r.has_value(), r ? nullptr : &r.error());
        if (ok) hold_id = (*r)->id;
        break;
      }
      case op::capture:  // the credits left the balance with the hold: no change
        ok = l.capture(hold_id, std::nullopt, now).has_value();
        break;
      case op::read: {
        const ledger::account* a = l.find_account(*account);
        ok = a != nullptr;
        value = ok ? l.balance(*a, now).available : -1;
        if (value != model)
          shared->model_fails("read of " + *account + " returned " + std::to_string(value) +
                              " micro-credits, the model says " + std::to_string(model));
        break;
      }
    }
  }
  // The writer asks every task of a round for its hint before it applies
  // the round: the model's slot is fetched then too, so that the bench's
  // own check in apply() does not wait for memory once per request on
  // spread accounts (a cache miss that a hot account does not pay).
  std::string_view account_hint() const override {
    __builtin_prefetch(&shared->model[index], 1);
    return kind == op::capture ? std::string_view() : std::string_view(*account);
  }
  const char* name() const {
    switch (kind) {
      case op::charge:
        return "charge";
      case op::hold:
        return "hold";
      case op::capture:
        return "capture";
      case op::read:
        return "read";
    }
    return "?";
  }
  // As creditd serve's replies (util/handoff_batch.hpp): a commit's
  // completions reach the client loop in one hand-off, one lock and at most
  // one wake-up, not one per request.
  void complete(bool durable) override {
    if (!durable) die("a request was not made durable");
    if (util::handoff_batch* batch = util::handoff_batch::current()) {
      batch->add({shared, &shared_state::post}, [this] { shared->ready.push_back(this); });
      return;
    }
    std::lock_guard lock(shared->mu);
    shared->ready.push_back(this);
    shared->cv.notify_one();
  }

  shared_state* shared = nullptr;
  std::mt19937_64 rng;
  op kind = op::charge;
  std::size_t index = 0;  // the account's, in ids and the model
  const std::string* account = nullptr;
  std::string ref;            // "1-N": the reference of a charge or hold (a capture: its hold's)
  std::uint64_t n = 0;        // N of ref; a read's own number
  std::uint64_t lo_acks = 0;  // charges and holds acknowledged when this request was sent
  ledger::object_id hold_id = 0;
  micros value = 0;  // a read's available balance
  bool ok = false;
  bool refused = false;
  bool holding = false;  // w3: the next request captures hold_id
  std::chrono::steady_clock::time_point sent;
};

struct counts {
  std::uint64_t charges = 0, holds = 0, captures = 0, reads = 0, refused = 0;
};

int bench_durable(const std::string& path, const std::string& workload, std::size_t accounts,
                  std::size_t window, double warmup, double seconds, const std::string& log_path,
                  const std::string& log_dir, std::int64_t apply_delay_ms,
                  std::uint64_t lot_lag_records, bool applier_idle,
                  const std::string& commit_thread) {
  if (workload != "w1" && workload != "w2" && workload != "w3" && workload != "w4")
    die("--workload must be w1, w2, w3 or w4");
  const bool fresh = !std::filesystem::exists(path);
  auto s = open_store(path);
  ledger::ledger l;
  if (!s->load(l, wall_clock_now())) die("cannot load " + path);
  const auto ids = account_ids(accounts);
  if (fresh) populate(l, ids, wall_clock_now() - 3600 * ledger::us_per_second, s.get());
  if (l.account_count() < accounts) die(path + " holds fewer accounts than --accounts");
  // With --log-dir, the engine commits through the append-only log and the
  // file is filled in behind it (as `creditd serve --log-dir`); the checks
  // below read the file once the log store has applied everything.
  std::unique_ptr<store::log::log_store> logged;
  store::store* durable = s.get();
  if (!log_dir.empty()) {
    store::log::log_store_options lo;
    lo.log.dir = log_dir;
    lo.apply_delay = std::chrono::milliseconds(apply_delay_ms);
    lo.lots.lag_records = lot_lag_records;
    // The store lowers it only where the system lets the thread come back;
    // as creditd serve, say so when it cannot.
    lo.idle_priority = applier_idle;
    if (std::string why; applier_idle && !store::log::background_priority::probe(&why))
      std::fprintf(stderr, "ledger_bench: the applier runs at normal priority: %s\n", why.c_str());
    auto opened = store::log::log_store::open(std::move(lo), std::move(s));
    if (!opened) die(opened.error().message);
    logged = std::move(*opened);
    durable = logged.get();
  }
  const std::size_t spread = workload == "w2" ? 1 : accounts;

  shared_state shared;
  // The model starts from each account's balance and lots before the run.
  struct account_before {
    micros spent = 0, held = 0;
  };
  std::vector<account_before> lots_before(accounts);
  shared.model.resize(accounts);
  {
    const time_us now = wall_clock_now();
    for (std::size_t i = 0; i < accounts; ++i) {
      const ledger::account* a = l.find_account(ids[i]);
      if (a == nullptr) die(ids[i] + " is missing from " + path);
      shared.model[i] = l.balance(*a, now).available;
      for (const ledger::lot* lot : a->lots) {
        lots_before[i].spent += lot->spent;
        lots_before[i].held += lot->held;
      }
    }
  }
  std::vector<client> clients(window);
  for (std::size_t i = 0; i < window; ++i) {
    clients[i].shared = &shared;
    clients[i].rng.seed(i + 1);
  }
  counts n;
  // Acknowledged per account: charges and captures (spent), holds - captures (held).
  std::vector<account_before> acked(accounts);
  std::vector<std::uint32_t> latencies_us;
  latencies_us.reserve(1 << 22);
  // The requests, for --check-cell (cell_check.hpp); thread 1.
  bench::closed_loop::request_log log;
  // requests: of the measured window (sent after the warm-up), as the
  // latencies; requests_all: the warm-up's too, as every other count.
  std::uint64_t requests = 0, requests_all = 0, sent = 0, acks = 0;
  // The log's record_buffers_made() when the measured window began.
  std::uint64_t buffers_made_before = 0;
  double secs = 0;
  // The CPU of every thread (the clients' loop here, the engine's writer
  // and committer, the applier) over the cell and then while the file is
  // filled in with the rest of it: a request's whole cost, whatever waits
  // (the log's sync) bounds the rate.
  double cpu_us = 0;
  engine::engine_stats stats;
  {
    // As `creditd serve` decides by default (--commit-thread auto).
    const bool on_writer =
        commit_thread == "writer" ||
        (commit_thread == "auto" && engine::commit_on_writer_suits(util::usable_cpus()));
    engine::engine e(l, *durable,
                     {.clock = [] { return wall_clock_now(); }, .commit_on_writer = on_writer});
    auto next = [&](client& c) {
      if (workload == "w3" && c.holding) {
        c.kind = op::capture;  // ref and n stay the hold's
      } else {
        c.index = spread == 1 ? 0 : c.rng() % spread;
        c.account = &ids[c.index];
        if (workload == "w3")
          c.kind = op::hold;
        else if (workload == "w4")
          c.kind = c.rng() % 10 < 8 ? op::read : op::charge;
        else
          c.kind = op::charge;
        c.n = ++sent;
        c.ref = "1-" + std::to_string(c.n);
      }
      c.lo_acks = acks;
      c.sent = std::chrono::steady_clock::now();
      e.submit(&c);
    };
    const auto start = std::chrono::steady_clock::now();
    cpu_us = -process_cpu_us();
    const auto [measure_from, deadline] =
        bench::closed_loop::cell_window::after(start, warmup, seconds);
    for (client& c : clients)
      next(c);
    std::size_t in_flight = window;
    std::vector<client*> done;
    bool measuring = false;
    while (in_flight > 0) {
      {
        std::unique_lock lock(shared.mu);
        shared.cv.wait(lock, [&] { return !shared.ready.empty(); });
        done.swap(shared.ready);
      }
      const auto now = std::chrono::steady_clock::now();
      if (!measuring && now >= measure_from) {
        measuring = true;
        if (logged != nullptr) buffers_made_before = logged->record_buffers_made();
      }
      for (client* c : done) {
        ++requests_all;
        if (c->sent >= measure_from) {
          latencies_us.push_back(static_cast<std::uint32_t>(
              std::chrono::duration_cast<std::chrono::microseconds>(now - c->sent).count()));
          ++requests;
        }
        const char* outcome = c->ok ? "ok" : c->refused ? "refused" : "error";
        std::string& line = log.line;
        line.append("1\t").append(std::to_string(c->n)).append("\t").append(c->name());
        line.append("\t").append(*c->account).append("\t").append(outcome);
        switch (c->kind) {
          case op::charge:
            c->ok ? ++n.charges : ++n.refused;
            if (c->ok) acked[c->index].spent += credit, ++acks;
            break;
          case op::hold:
            c->ok ? ++n.holds : ++n.refused;
            if (c->ok) acked[c->index].held += credit, ++acks;
            c->holding = c->ok;
            break;
          case op::capture:
            if (!c->ok) die("a capture of an open hold failed");
            ++n.captures;
            acked[c->index].held -= credit;
            acked[c->index].spent += credit;
            c->holding = false;
            break;
          case op::read:
            if (!c->ok) die("a balance read failed");
            ++n.reads;
            // Whole credits: a fraction cannot be a balance here, and shows as a mismatch.
            line.append("\t").append(std::to_string(c->value / credit));
            line.append(c->value % credit ? ".5" : "").append("\t");
            line.append(std::to_string(c->lo_acks)).append("\t").append(std::to_string(sent));
            break;
        }
        log.end_line();
        // w3 finishes the generation it started, so no hold stays open.
        if (now < deadline || c->holding)
          next(*c);
        else
          --in_flight;
      }
      done.clear();
    }
    secs = seconds_since(measure_from);
    stats = e.stats();
    e.stop();
    cpu_us += process_cpu_us();
  }
  if (!log_path.empty()) {
    std::FILE* f = std::fopen(log_path.c_str(), "w");
    if (f == nullptr) die("cannot write " + log_path);
    const bool ok = log.write(f);
    if (std::fclose(f) != 0 || !ok) die("cannot write " + log_path);
  }

  // Correctness: the model agreed with every request as it was applied; the
  // file, loaded again, holds lots that satisfy their identity, and each
  // account's balance is the model's and its lots lost what was acknowledged
  // on it; and the file's journal replays to its lots.
  std::vector<std::string> failures;
  if (shared.model_failures > 0)
    failures.push_back("model: " + std::to_string(shared.model_failures) +
                       " requests disagree: " + shared.model_failure);
  cpu_us -= process_cpu_us();
  // Lot rows the applier wrote for the whole run (warm-up included), once
  // it has applied every record: against requests_all, how often a
  // charge's lot row was written.
  std::uint64_t lot_rows = 0;
  // The log's backpressure: how often, and how long in all, a commit
  // waited for the applier to make room in its queue. And the records of
  // the measured window that needed a new buffer (no spare fitted; the
  // warm-up's first seconds fill the queue with new ones).
  std::uint64_t room_waits = 0, room_wait_us = 0, buffers_made = 0;
  if (logged != nullptr) {
    room_waits = logged->room_waits();
    room_wait_us = logged->room_wait_us();
    buffers_made = logged->record_buffers_made() - buffers_made_before;
    if (auto r = logged->wait_applied(logged->durable_seq()); !r) die(r.error().message);
    lot_rows = logged->lot_rows_written();
  }
  logged.reset();  // applies what the file lacks, then closes
  s.reset();
  cpu_us += process_cpu_us();
  auto reopened = open_store(path);
  ledger::ledger loaded;
  const time_us loaded_at = wall_clock_now();
  if (!reopened->load(loaded, loaded_at)) die("cannot load " + path + " again");
  std::uint64_t lot_failures = 0, account_failures = 0;
  std::string lot_failure, account_failure;
  loaded.for_each_account([&](const ledger::account& a) {
    for (const ledger::lot* lot : a.lots) {
      if (lot->amount != lot->spent + lot->held + lot->expired + lot->voided + lot->remaining &&
          ++lot_failures == 1)
        lot_failure = "lot " + std::to_string(lot->id) + " of " + a.id + ": amount " +
                      std::to_string(lot->amount) +
                      " != spent + held + expired + voided + remaining";
    }
  });
  for (std::size_t i = 0; i < accounts; ++i) {
    const ledger::account* a = loaded.find_account(ids[i]);
    if (a == nullptr) die(ids[i] + " is missing after the run");
    micros spent = 0, held = 0;
    for (const ledger::lot* lot : a->lots) {
      spent += lot->spent;
      held += lot->held;
    }
    const micros available = loaded.balance(*a, loaded_at).available;
    if ((available != shared.model[i] || spent - lots_before[i].spent != acked[i].spent ||
         held - lots_before[i].held != acked[i].held) &&
        ++account_failures == 1)
      account_failure = ids[i] + ": available " + std::to_string(available) + " (model " +
                        std::to_string(shared.model[i]) + "), lots spent +" +
                        std::to_string(spent - lots_before[i].spent) + " held +" +
                        std::to_string(held - lots_before[i].held) + ", acknowledged " +
                        std::to_string(acked[i].spent) + " + " + std::to_string(acked[i].held);
  }
  if (lot_failures > 0)
    failures.push_back("lots: " + std::to_string(lot_failures) +
                       " break their identity: " + lot_failure);
  if (account_failures > 0)
    failures.push_back("accounts: " + std::to_string(account_failures) +
                       " disagree with the model or the acknowledged requests: " + account_failure);
  auto audit = reopened->audit_journal(loaded);
  if (!audit) die(audit.error().message);
  if (!audit->empty()) failures.push_back("journal audit: " + *audit);
  std::string failure;
  for (const std::string& f : failures)
    failure += (failure.empty() ? "" : "; ") + f;

  std::sort(latencies_us.begin(), latencies_us.end());
  auto pct = [&](double p) -> double {
    if (latencies_us.empty()) return 0;
    auto i = static_cast<std::size_t>(p / 100.0 * static_cast<double>(latencies_us.size()));
    return latencies_us[std::min(i, latencies_us.size() - 1)] / 1000.0;
  };
  const double ops = static_cast<double>(requests) / secs;
  const double commits = static_cast<double>(std::max<std::uint64_t>(stats.commits, 1));
  const double batch = static_cast<double>(stats.tasks) / commits;
  const double commit_ms = static_cast<double>(stats.commit_us_total) / commits / 1000.0;
  std::printf(
      "inproc %s, %zu accounts, window %zu: %.0f ops/s, p50 %.2f ms, p99 %.2f ms, p999 %.2f ms; "
      "%llu commits of %.1f requests, %.2f ms each on average; %.1f us of CPU per request; %s\n",
      workload.c_str(), spread, window, ops, pct(50), pct(99), pct(99.9),
      static_cast<unsigned long long>(stats.commits), batch, commit_ms,
      requests_all > 0 ? cpu_us / static_cast<double>(requests_all) : 0.0,
      failure.empty() ? "check ok" : ("CHECK FAILED: " + failure).c_str());
  std::printf(
      "{\"workload\":\"%s\",\"accounts\":%zu,\"connections\":%zu,\"seconds\":%.3f,"
      "\"requests\":%llu,\"ops_per_s\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,"
      "\"charges\":%llu,\"holds\":%llu,\"captures\":%llu,\"reads\":%llu,\"refused\":%llu,"
      "\"commits\":%llu,\"requests_per_commit\":%.1f,\"commit_ms\":%.3f,"
      "\"requests_all\":%llu,\"warmup_s\":%.3f,\"cpu_us_per_request\":%.2f,"
      "\"lot_rows_written\":%llu,\"room_waits\":%llu,\"room_wait_ms\":%.1f,"
      "\"record_buffers_made\":%llu,"
      "\"check_ok\":%s,\"check\":\"%s\"}\n",
      workload.c_str(), spread, window, secs, static_cast<unsigned long long>(requests), ops,
      pct(50), pct(99), pct(99.9), static_cast<unsigned long long>(n.charges),
      static_cast<unsigned long long>(n.holds), static_cast<unsigned long long>(n.captures),
      static_cast<unsigned long long>(n.reads), static_cast<unsigned long long>(n.refused),
      static_cast<unsigned long long>(stats.commits), batch, commit_ms,
      static_cast<unsigned long long>(requests_all), warmup,
      requests_all > 0 ? cpu_us / static_cast<double>(requests_all) : 0.0,
      static_cast<unsigned long long>(lot_rows), static_cast<unsigned long long>(room_waits),
      static_cast<double>(room_wait_us) / 1000.0, static_cast<unsigned long long>(buffers_made),
      failure.empty() ? "true" : "false",
      json_escape(failure.empty()
                      ? "the model agreed with every request; every lot's identity holds; each "
                        "account's balance and lots match the model and what was acknowledged; "
                        "journal audit ok"
                      : failure)
          .c_str());
  return failure.empty() ? 0 : 1;
}

// ---- Seeding.

int seed(const std::string& path, std::size_t accounts, std::uint64_t charges) {
  auto s = open_store(path);
  ledger::ledger l;
  const time_us now = wall_clock_now() - 3600 * ledger::us_per_second;
  if (!s->load(l, now)) die("cannot load " + path);
  const auto ids = account_ids(accounts);
  const auto start = std::chrono::steady_clock::now();
  if (l.account_count() == 0) populate(l, ids, now, s.get());
  const double accounts_secs = seconds_since(start);
  const auto start_charges = std::chrono::steady_clock::now();
  const time_us charged_at = wall_clock_now();  // after every lot's effective_at
  ledger::charge_cmd cmd{"", credit, "image.generate", "", "", false};
  for (std::uint64_t i = 0; i < charges; ++i) {
    // Account by account, as a usage history reads: each batch touches few
    // pages, so seeding 10M charges takes about a minute instead of three.
    cmd.account = ids[i * accounts / charges];
    if (!l.charge(cmd, charged_at + static_cast<time_us>(i / seed_batch_charges)))
      die("seed charge refused");
    if ((i + 1) % seed_batch_charges == 0 && !s->commit(l.take_changes())) die("commit failed");
  }
  if (!s->commit(l.take_changes())) die("commit failed");
  const double charges_secs = seconds_since(start_charges);
  std::printf("seeded %zu accounts (%.1f s) and %llu charges (%.1f s) into %s\n", accounts,
              accounts_secs, static_cast<unsigned long long>(charges), charges_secs, path.c_str());
  std::printf("{\"accounts\":%zu,\"charges\":%llu,\"accounts_s\":%.2f,\"charges_s\":%.2f}\n",
              accounts, static_cast<unsigned long long>(charges), accounts_secs, charges_secs);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t accounts = 100'000;
  std::uint64_t core_charges = 5'000'000;
  std::uint64_t charges = 0;
  std::size_t window = 64;
  double seconds = 10;
  double warmup = 0;
  std::string workload = "w1";
  std::string durable, seed_db, log_path, log_dir;
  std::int64_t apply_delay_ms = 4000;  // creditd serve's --apply-delay-ms default
  std::uint64_t lot_lag_records = store::log::lot_backlog_limits{}.lag_records;
  // Not creditd serve's default (idle): the bench's in-process cells have
  // always run the applier at normal priority, and stay comparable so.
  bool applier_idle = false;
  std::string commit_thread = "auto";
  bool core = false;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::printf(
          "usage: ledger_bench --core [--accounts N] [--core-charges N]\n"
          "       ledger_bench --durable PATH --workload w1|w2|w3|w4 [--accounts N] [--window N] "
          "[--seconds S] [--warmup S] [--log FILE] [--log-dir DIR]\n"
          "                    [--apply-delay-ms MS] [--lot-lag-records N] "
          "[--applier-priority idle|normal]\n"
          "       ledger_bench --seed-db PATH [--accounts N] [--charges M]\n"
          "       ledger_bench --check-cell BEFORE AFTER JOURNAL CLIENT\n");
      return 0;
    }
    if (flag == "--check-cell") {
      if (i + 4 >= argc) die("--check-cell takes BEFORE AFTER JOURNAL CLIENT");
      try {
        const bench::cell_check_result r =
            bench::check_cell(argv[i + 1], argv[i + 2], argv[i + 3], argv[i + 4], 1);
        std::printf(
            "{\"check_ok\":%s,\"check\":\"%s\",\"acked\":%llu,\"refused\":%llu,\"errors\":%llu,"
            "\"cut\":%llu,\"cut_committed\":%llu,\"reads_checked\":%llu}\n",
            r.ok ? "true" : "false", json_escape(r.summary).c_str(),
            static_cast<unsigned long long>(r.acked), static_cast<unsigned long long>(r.refused),
            static_cast<unsigned long long>(r.errors), static_cast<unsigned long long>(r.cut),
            static_cast<unsigned long long>(r.cut_committed),
            static_cast<unsigned long long>(r.reads));
        return r.ok ? 0 : 1;
      } catch (const std::exception& e) {
        std::printf("{\"check_ok\":false,\"check\":\"%s\"}\n",
                    json_escape(std::string("FAILED: ") + e.what()).c_str());
        return 1;
      }
    }
    if (flag == "--core") {
      core = true;
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "ledger_bench: %s takes a value (see --help)\n", flag.c_str());
      return 2;
    }
    const char* v = argv[++i];
    if (flag == "--accounts")
      accounts = std::strtoull(v, nullptr, 10);
    else if (flag == "--core-charges")
      core_charges = std::strtoull(v, nullptr, 10);
    else if (flag == "--charges")
      charges = std::strtoull(v, nullptr, 10);
    else if (flag == "--window")
      window = std::strtoull(v, nullptr, 10);
    else if (flag == "--seconds")
      seconds = std::strtod(v, nullptr);
    else if (flag == "--warmup")
      warmup = std::strtod(v, nullptr);
    else if (flag == "--workload")
      workload = v;
    else if (flag == "--durable")
      durable = v;
    else if (flag == "--seed-db")
      seed_db = v;
    else if (flag == "--log")
      log_path = v;
    else if (flag == "--log-dir")
      log_dir = v;
    else if (flag == "--apply-delay-ms")
      apply_delay_ms = std::strtoll(v, nullptr, 10);
    else if (flag == "--lot-lag-records")
      lot_lag_records = std::strtoull(v, nullptr, 10);
    else if (flag == "--applier-priority") {
      if (std::strcmp(v, "idle") != 0 && std::strcmp(v, "normal") != 0)
        die("--applier-priority must be idle or normal");
      applier_idle = std::strcmp(v, "idle") == 0;
    } else if (flag == "--commit-thread") {
      commit_thread = v;
      if (commit_thread != "auto" && commit_thread != "own" && commit_thread != "writer")
        die("--commit-thread must be auto, own or writer");
    } else {
      std::fprintf(stderr, "ledger_bench: unknown flag %s (see --help)\n", flag.c_str());
      return 2;
    }
  }
  if (accounts == 0 || window == 0) die("--accounts and --window must be positive");
  if (!seed_db.empty()) return seed(seed_db, accounts, charges);
  if (!durable.empty())
    return bench_durable(durable, workload, accounts, window, warmup, seconds, log_path, log_dir,
                         apply_delay_ms, lot_lag_records, applier_idle, commit_thread);
  if (!core) {
    std::fprintf(stderr, "ledger_bench: give --core, --durable or --seed-db (see --help)\n");
    return 2;
  }
  const double spread = bench_core(accounts, core_charges, false);
  const double hot = bench_core(accounts, core_charges, true);
  std::printf(
      "{\"accounts\":%zu,\"charges\":%llu,\"spread_per_s\":%.0f,\"hot_per_s\":%.0f,"
      "\"rss_mib\":%.0f}\n",
      accounts, static_cast<unsigned long long>(core_charges), spread, hot, rss_mib());
  return 0;
}
