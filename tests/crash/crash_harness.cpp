// The crash harness: clients charge, hold, capture, release, refund and batch
// against the real creditd with an Idempotency-Key on every request, and
// deliver signed Stripe events (new ones, and again ones granted before:
// duplicates, found in memory or, beyond --kept, in the store); the
// server is SIGKILLed and restarted on the same file, again and again. Half
// the kills (the even ones) are targeted: creditd runs under the fault shim
// (tests/fault, no fault configured) with CREDITD_COMMIT_PROBE, which counts
// its store's commits in a shared file, and the harness waits until a commit
// is in flight (written, not yet synced) before it kills; the others land at
// a random instant. Each kill reports whether a commit was in flight when the
// server died and how many requests were; the run fails if no kill landed
// inside a commit. Every request answered 2xx must have been committed first:
// the probe must show a sync of a commit that began after the request was
// sent. After every kill it checks that:
//
//   - `creditd check` passes (every lot equals its journal; conservation);
//   - a copy of the file with the WAL truncated or corrupted either starts on
//     a committed prefix of the journal or is refused naming the file;
//   - the request each client had in flight, re-sent with its key, is
//     applied at most once; acknowledged requests re-sent replay their answer;
//   - every account's available and held credits equal the model's, which
//     counts each request exactly once;
//   - each Stripe event is granted once: "recorded" once, "duplicate" after
//     (a delivery in flight at a kill may be recorded and answered
//     "duplicate" when re-sent; no other event is a duplicate before it is
//     granted).
//
// At the end the set of charge ids in the journal equals the set of charge
// ids ever acknowledged: nothing acknowledged is lost, nothing else appears.
//
// A client may see its connection refused, reset or closed only while the
// server is being killed; any other error (an unexpected status, a 2xx body
// that is not the expected JSON) fails the run with the request and response.
//
//   crash_harness [--iterations N] [--seed S] [--clients C] [--log on|off] [--kept K]
//
// --kept K (default 64) is creditd's --kept-in-memory: with few charges and
// closed holds kept, most refunds and hold requests read what the ledger
// forgot back from the store (through the log), under the kills too.
//
// --log on (the default) runs creditd as it runs by default: the append-only
// log in crash.db-log/ is the durability point, the file filled in behind it,
// and lots' changes held back for 64 records (--lot-lag-records 64);
// `creditd check` verifies both, and there are no damaged-WAL copies (a file
// written through a log is checked only with it; tests/store/log_segment_test.cpp
// damages the log itself). --log off serves the file alone (--no-log), and
// each kill's WAL is also copied and damaged (damage_wal).
//
// Without --seed the seed is CREDITD_CRASH_SEED, else a random one. It is
// printed at the start, and beside any failure as the command line that
// replays it. Exit 0 when every check passed; 1 with the first failure
// otherwise.
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/http_client.hpp"
#include "support/kill_probe.hpp"
#include "support/server_process.hpp"
#include "support/shell_quote.hpp"
#include "support/stripe_sign.hpp"
#include "support/temp_dir.hpp"

namespace {

using creditd::testing::http_client;
using creditd::testing::http_reply;
using creditd::testing::probe_file;
using creditd::testing::server_process;
using creditd::testing::shell_quote;
using micros = std::int64_t;
namespace bj = boost::json;
namespace fs = std::filesystem;

constexpr micros credit = 1'000'000;
constexpr int accounts = 16;
const std::string admin = "crash-admin";
// Stripe deliveries: signed with this secret, each buying this package.
const std::string stripe_secret = "whsec_crash";
const std::string stripe_package = "pack-crash";
constexpr micros stripe_package_credits = 5 * credit;

std::atomic<pid_t> server_pid{0};  // killed on failure, so that none is left behind
// True from just before a SIGKILL until the restart: only then may a client
// lose its connection.
std::atomic<bool> killing{false};
// The command line that replays this run, printed beside any failure.
std::string replay_command;
// The store's commits, counted by the fault shim inside creditd.
probe_file* commit_probe = nullptr;

[[noreturn]] void fail(const std::string& what) {
  // One failure reported: the first thread to fail holds this until the exit.
  static std::mutex failing;
  failing.lock();
  std::fprintf(stderr, "crash_harness: FAILED: %s\ncrash_harness: replay: %s\n", what.c_str(),
               replay_command.c_str());
  if (const pid_t pid = server_pid.load(); pid > 0) ::kill(pid, SIGKILL);
  std::_Exit(1);
}

std::string amount_text(micros m) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%lld.%06lld", static_cast<long long>(m / credit),
                static_cast<long long>(m % credit));
  return buf;
}

micros parse_amount(const std::string& s) {
  const auto dot = s.find('.');
  micros whole = std::stoll(s.substr(0, dot));
  micros frac = 0;
  if (dot != std::string::npos) {
    std::string f = s.substr(dot + 1);
    f.resize(6, '0');
    frac = std::stoll(f);
  }
  return whole * credit + (s[0] == '-' ? -frac : frac);
}

std::string account_name(int i) {
  return "acct-" + std::to_string(i);
}

// ------------------------------------------------------------------ the model

// One request with its key: re-sent byte for byte until it is answered.
struct op {
  enum class kind { charge, batch, hold, capture, release, refund, purchase } what;
  int account = 0;
  std::string target;
  std::string body;
  std::string key;
  micros amount = 0;       // charge/batch total, hold amount, capture/refund amount
  std::string object;      // the hold or charge a capture/release/refund names; a purchase's event
  micros hold_amount = 0;  // capture/release: what the hold held
  bool resent = false;     // sent again after a kill (its first answer was lost)
};

struct answered {
  op request;
  unsigned status = 0;
  std::string id;  // the answer's object id
};

struct account_model {
  micros available = 0;
  micros held = 0;
};

struct model {
  std::mutex mu;
  std::atomic<std::uint64_t> acknowledged{0};  // requests answered, for the killer's waits
  account_model acct[accounts];
  std::set<std::string> charge_ids;  // every charge acknowledged (batch items, captures)
  std::set<std::string> events;      // every Stripe event granted
  std::vector<answered> log;         // every answered request with a key, for replays
  std::uint64_t requests = 0;

  // Applies an acknowledged answer to the model and returns follow-up state.
  void apply(const op& o, const http_reply& r) {
    const bj::value v = r.json();
    std::lock_guard lock(mu);
    account_model& a = acct[o.account];
    answered rec{o, r.status, ""};
    switch (o.what) {
      case op::kind::charge:
        a.available -= o.amount;
        rec.id = std::string(v.at("id").as_string());
        charge_ids.insert(rec.id);
        break;
      case op::kind::batch:
        a.available -= o.amount;
        for (const auto& c : v.at("data").as_array())
          charge_ids.insert(std::string(c.at("id").as_string()));
        rec.id = std::string(v.at("data").as_array().at(0).at("id").as_string());
        break;
      case op::kind::hold:
        a.available -= o.amount;
        a.held += o.amount;
        rec.id = std::string(v.at("id").as_string());
        break;
      case op::kind::capture:
        a.held -= o.hold_amount;
        a.available += o.hold_amount - o.amount;
        rec.id = std::string(v.at("charge").at("id").as_string());
        charge_ids.insert(rec.id);
        break;
      case op::kind::release:
        a.held -= o.hold_amount;
        a.available += o.hold_amount;
        rec.id = std::string(v.at("id").as_string());
        break;
      case op::kind::refund:
        a.available += o.amount;
        rec.id = std::string(v.at("id").as_string());
        break;
      case op::kind::purchase: {
        const std::string outcome(v.at("outcome").as_string());
        const bool granted_before = events.contains(o.object);
        if (outcome == "recorded") {
          if (granted_before) throw std::runtime_error("event " + o.object + " granted twice");
        } else if (outcome == "duplicate") {
          // Only a delivery whose answer a kill took may have been granted
          // unanswered; any other event is new until granted.
          if (!granted_before && !o.resent)
            throw std::runtime_error("event " + o.object + " is a duplicate, never granted");
        } else {
          throw std::runtime_error("outcome " + outcome);
        }
        if (!granted_before) {
          events.insert(o.object);
          a.available += stripe_package_credits;
        }
        // No Idempotency-Key: not replayed (the event id is the key).
        ++requests;
        acknowledged.store(requests);
        return;
      }
    }
    log.push_back(std::move(rec));
    ++requests;
    acknowledged.store(requests);
  }
};

unsigned expected_status(op::kind k) {
  return k == op::kind::capture || k == op::kind::release || k == op::kind::purchase ? 200 : 201;
}

// ------------------------------------------------------------------ clients

class client {
 public:
  client(int index, std::uint64_t seed) : index_(index), rng_(seed) {}

  // Sends requests until the connection fails (the server was killed) or
  // `stop`. The request in flight when it fails stays in `pending_`. A
  // connection lost while the server is not being killed, or any other
  // error, fails the run.
  void run(unsigned short port, model& m, const std::atomic<bool>& stop) {
    try {
      http_client c(port, admin);
      while (!stop.load()) {
        if (!pending_) pending_ = next();
        send(c, m, true);
      }
    } catch (const std::exception& e) {
      // The server is gone; pending_ holds what it may or may not have applied.
      if (killing.load() && creditd::testing::is_connection_loss(e)) return;
      fail("client " + std::to_string(index_) + (killing.load() ? "" : ", no kill under way") +
           ": " + (pending_ ? pending_->target + " " + pending_->body : "between requests") + ": " +
           creditd::testing::describe_exception(e));
    }
  }

  // After a restart: re-sends the request in flight with its key until answered.
  void resolve(unsigned short port, model& m) {
    if (!pending_) return;
    pending_->resent = true;
    http_client c(port, admin);
    send(c, m, false);
    if (pending_) fail("client " + std::to_string(index_) + ": re-sent request not answered");
  }

  // A request was sent and not answered when the connection went.
  bool in_flight() const { return pending_.has_value(); }

 private:
  // `first`: the request was never sent before, so its answer must follow a
  // commit that began after it was sent (a re-sent one may be a replay).
  void send(http_client& c, model& m, bool first) {
    const op& o = *pending_;
    const std::uint64_t begun_before = commit_probe->probe().begun.load();
    // A Stripe delivery is signed as it is sent, and carries no key.
    http_reply r =
        o.what == op::kind::purchase
            ? c.post(o.target, o.body,
                     {{"Stripe-Signature", creditd::testing::stripe_signature_header(
                                               stripe_secret, std::time(nullptr), o.body)}})
            : c.post(o.target, o.body, {{"Idempotency-Key", o.key}});
    const std::uint64_t synced_after = commit_probe->probe().synced.load();
    if (r.status != expected_status(o.what))
      fail(o.target + " " + o.body + ": " + std::to_string(r.status) + " " + r.body);
    // A duplicate writes nothing of its own (what it found was durable).
    const bool writes =
        o.what != op::kind::purchase || r.body.find("\"recorded\"") != std::string::npos;
    if (first && writes && synced_after < begun_before + 1)
      fail(o.target + " " + o.body + ": answered " + std::to_string(r.status) +
           " before its commit was synced (commits begun before the request: " +
           std::to_string(begun_before) +
           ", synced at the answer: " + std::to_string(synced_after) + ")");
    try {
      m.apply(o, r);
      settle(o, r);
    } catch (const std::exception& e) {
      fail(o.target + " " + o.body + ": the answer " + std::to_string(r.status) + " " + r.body +
           " is not what the API describes: " + creditd::testing::describe_exception(e));
    }
    pending_.reset();
  }

  // The client's own view: open holds and refundable charges.
  void settle(const op& o, const http_reply& r) {
    const bj::value v = r.json();
    switch (o.what) {
      case op::kind::charge:
        charges_.push_back({std::string(v.at("id").as_string()), o.account, o.amount});
        break;
      case op::kind::hold:
        holds_.push_back({std::string(v.at("id").as_string()), o.account, o.amount});
        break;
      case op::kind::capture:
      case op::kind::release:
        std::erase_if(holds_, [&](const owned& h) { return h.id == o.object; });
        break;
      case op::kind::refund:
        for (owned& ch : charges_) {
          if (ch.id == o.object) ch.amount -= o.amount;
        }
        std::erase_if(charges_, [](const owned& ch) { return ch.amount == 0; });
        break;
      case op::kind::purchase:
        if (std::none_of(events_.begin(), events_.end(),
                         [&](const owned& e) { return e.id == o.object; }))
          events_.push_back({o.object, o.account, stripe_package_credits});
        break;
      case op::kind::batch:
        break;
    }
  }

  op next() {
    op o;
    o.key = "c" + std::to_string(index_) + "-" + std::to_string(sequence_++) + "-" +
            std::to_string(rng_());
    const int roll = pick(100);
    o.account = pick(accounts);
    const std::string acct = "/v1/accounts/" + account_name(o.account);
    if (roll < 15 && !holds_.empty()) {
      const owned h = holds_[static_cast<std::size_t>(pick(static_cast<int>(holds_.size())))];
      o.account = h.account;
      o.object = h.id;
      o.hold_amount = h.amount;
      if (roll < 10) {
        o.what = op::kind::capture;
        o.amount = 1 + pick(static_cast<int>(h.amount));
        o.target = "/v1/holds/" + h.id + "/capture";
        o.body = R"({"amount":")" + amount_text(o.amount) + "\"}";
      } else {
        o.what = op::kind::release;
        o.target = "/v1/holds/" + h.id + "/release";
        o.body = "{}";
      }
    } else if (roll < 22 && !charges_.empty()) {
      const owned ch = charges_[static_cast<std::size_t>(pick(static_cast<int>(charges_.size())))];
      o.what = op::kind::refund;
      o.account = ch.account;
      o.object = ch.id;
      o.amount = 1 + pick(static_cast<int>(ch.amount));
      o.target = "/v1/charges/" + ch.id + "/refund";
      o.body = R"({"amount":")" + amount_text(o.amount) + "\"}";
    } else if (roll < 40) {
      o.what = op::kind::hold;
      o.amount = 1 + pick(5 * static_cast<int>(credit));
      o.target = acct + "/holds";
      o.body = R"({"operation":"video.generate","amount":")" + amount_text(o.amount) +
               R"(","ttl_seconds":86400})";
    } else if (roll < 45) {
      // A Stripe delivery: a new event, or one granted before again.
      o.what = op::kind::purchase;
      o.target = "/v1/webhooks/stripe";
      const bool again = !events_.empty() && pick(2) == 0;
      if (again) {
        const owned e = events_[static_cast<std::size_t>(pick(static_cast<int>(events_.size())))];
        o.object = e.id;
        o.account = e.account;  // the event's own
      } else {
        o.object = "evt_crash_" + std::to_string(index_) + "_" + std::to_string(sequence_);
      }
      o.body = R"({"id":")" + o.object +
               R"(","object":"event","type":"checkout.session.completed","created":)" +
               std::to_string(std::time(nullptr)) +
               R"(,"livemode":false,"data":{"object":{"id":"cs_)" + o.object +
               R"(","object":"checkout.session","payment_status":"paid","currency":"usd",)"
               R"("amount_total":100,"metadata":{"account":")" +
               account_name(o.account) + R"(","package":")" + stripe_package + R"("}}}})";
    } else if (roll < 50) {
      // A large batch: a commit that a kill may tear.
      o.what = op::kind::batch;
      o.target = acct + "/charges:batch";
      const int n = 1 + pick(100);
      o.body = R"({"charges":[)";
      for (int i = 0; i < n; ++i) {
        const micros a = 1 + pick(static_cast<int>(credit));
        o.amount += a;
        o.body += (i ? "," : "") + std::string(R"({"operation":"image.generate","amount":")") +
                  amount_text(a) + "\"}";
      }
      o.body += "]}";
    } else {
      o.what = op::kind::charge;
      o.amount = 1 + pick(2 * static_cast<int>(credit));
      o.target = acct + "/charges";
      o.body = R"({"operation":"image.generate","amount":")" + amount_text(o.amount) + "\"}";
    }
    return o;
  }

  int pick(int n) { return static_cast<int>(rng_() % static_cast<std::uint64_t>(n)); }

  struct owned {
    std::string id;
    int account;
    micros amount;
  };
  int index_;
  std::mt19937_64 rng_;
  std::uint64_t sequence_ = 0;
  std::optional<op> pending_;
  std::vector<owned> holds_;
  std::vector<owned> charges_;
  std::vector<owned> events_;  // Stripe events granted, with their accounts
};

// ------------------------------------------------------------------ checks

struct command_result {
  int status;
  std::string output;
};

command_result run(const std::string& cmd) {
  command_result r{0, ""};
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) fail("cannot run " + cmd);
  char buf[512];
  while (std::fgets(buf, sizeof buf, p) != nullptr)
    r.output += buf;
  const int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
  return r;
}

// Whether creditd serves the file alone (--no-log).
bool no_log = false;

void check_store(const std::string& db) {
  std::string cmd = shell_quote(CREDITD_BINARY) + " check --store " + shell_quote("sqlite:" + db);
  if (no_log) cmd += " --no-log";
  auto r = run(cmd);
  if (r.status != 0) fail("creditd check on " + db + ": " + r.output);
}

// The journal of a file, one text line per entry, read with SQLite directly.
std::vector<std::string> journal_of(const std::string& db) {
  sqlite3* h = nullptr;
  if (sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK)
    fail("cannot open " + db);
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(h, "SELECT * FROM entries ORDER BY seq", -1, &s, nullptr) != SQLITE_OK)
    fail(std::string("cannot read entries of ") + db + ": " + sqlite3_errmsg(h));
  std::vector<std::string> out;
  while (sqlite3_step(s) == SQLITE_ROW) {
    std::string line;
    for (int i = 0; i < sqlite3_column_count(s); ++i) {
      const unsigned char* t = sqlite3_column_text(s, i);
      line += t ? reinterpret_cast<const char*>(t) : "NULL";
      line += '|';
    }
    out.push_back(std::move(line));
  }
  sqlite3_finalize(s);
  sqlite3_close(h);
  return out;
}

// Copies the killed server's file, damages the copy's WAL, and starts
// `creditd check` on it: it must pass on a committed prefix of the journal or
// refuse naming the file. Returns a word for the tally.
std::string damage_wal(const std::string& db, const fs::path& scratch, std::mt19937_64& rng) {
  const fs::path wal = db + "-wal";
  if (!fs::exists(wal) || fs::file_size(wal) == 0) return "no-wal";
  fs::remove_all(scratch);
  fs::create_directories(scratch);
  const fs::path intact = scratch / "intact.db", damaged = scratch / "damaged.db";
  for (const fs::path& to : {intact, damaged}) {
    fs::copy_file(db, to);
    fs::copy_file(wal, to.string() + "-wal");
  }
  const fs::path dwal = damaged.string() + "-wal";
  const auto size = fs::file_size(dwal);
  std::string mode;
  switch (rng() % 3) {
    case 0: {  // a torn tail: cut the WAL anywhere in its last 64 KiB
      const std::uint64_t cut = rng() % std::min<std::uint64_t>(size, 65536);
      fs::resize_file(dwal, size - cut);
      mode = "truncated";
      break;
    }
    case 1: {  // flipped bytes in the last pages
      std::fstream f(dwal, std::ios::in | std::ios::out | std::ios::binary);
      for (int i = 0; i < 8; ++i) {
        const auto at = size - 1 - rng() % std::min<std::uint64_t>(size, 16384);
        f.seekg(static_cast<std::streamoff>(at));
        char c = 0;
        f.read(&c, 1);
        c = static_cast<char>(c ^ 0x5a);
        f.seekp(static_cast<std::streamoff>(at));
        f.write(&c, 1);
      }
      mode = "corrupted";
      break;
    }
    default: {  // the last page zeroed, as a lost write
      std::fstream f(dwal, std::ios::in | std::ios::out | std::ios::binary);
      const std::uint64_t n = std::min<std::uint64_t>(size, 4096);
      const std::string zeros(n, '\0');
      f.seekp(static_cast<std::streamoff>(size - n));
      f.write(zeros.data(), static_cast<std::streamsize>(n));
      mode = "zeroed";
      break;
    }
  }
  auto r = run(shell_quote(CREDITD_BINARY) + " check --store " +
               shell_quote("sqlite:" + damaged.string()));
  if (r.status != 0) {
    if (r.output.find(damaged.string()) == std::string::npos)
      fail("check refused a damaged WAL without naming the file: " + r.output);
    return mode + "-refused";
  }
  const auto full = journal_of(intact.string());
  const auto part = journal_of(damaged.string());
  if (part.size() > full.size()) fail("a damaged WAL grew the journal");
  for (std::size_t i = 0; i < part.size(); ++i) {
    if (part[i] != full[i]) fail("a damaged WAL changed journal entry " + std::to_string(i));
  }
  return mode + (part.size() == full.size() ? "-intact" : "-prefix");
}

void check_balances(unsigned short port, model& m) {
  http_client c(port, admin);
  for (int i = 0; i < accounts; ++i) {
    http_reply r = c.get("/v1/accounts/" + account_name(i) + "/balance");
    if (r.status != 200) fail("balance: " + r.body);
    const bj::value v = r.json();
    const micros available = parse_amount(std::string(v.at("available").as_string()));
    const micros held = parse_amount(std::string(v.at("held").as_string()));
    std::lock_guard lock(m.mu);
    if (available != m.acct[i].available || held != m.acct[i].held) {
      fail(account_name(i) + ": server has available " + amount_text(available) + " held " +
           amount_text(held) + ", the model " + amount_text(m.acct[i].available) + " held " +
           amount_text(m.acct[i].held));
    }
  }
}

// Acknowledged requests, re-sent with their keys, replay the same answer.
void check_replays(unsigned short port, model& m, std::mt19937_64& rng, int samples) {
  http_client c(port, admin);
  for (int i = 0; i < samples; ++i) {
    answered a;
    {
      std::lock_guard lock(m.mu);
      if (m.log.empty()) return;
      a = m.log[rng() % m.log.size()];
    }
    http_reply r = c.post(a.request.target, a.request.body, {{"Idempotency-Key", a.request.key}});
    if (r.status != a.status || r.headers["idempotent-replayed"] != "true")
      fail("replay of " + a.request.key + ": " + std::to_string(r.status) + " " + r.body);
    const bj::value v = r.json();
    std::string id;
    if (a.request.what == op::kind::batch)
      id = v.at("data").as_array().at(0).at("id").as_string();
    else if (a.request.what == op::kind::capture)
      id = v.at("charge").at("id").as_string();
    else
      id = v.at("id").as_string();
    if (id != a.id) fail("replay of " + a.request.key + " answered " + id + ", first " + a.id);
  }
}

// Every charge id in the journal, through the API.
std::set<std::string> journal_charge_ids(unsigned short port) {
  http_client c(port, admin);
  std::set<std::string> ids;
  for (int i = 0; i < accounts; ++i) {
    std::string after;
    while (true) {
      std::string target = "/v1/accounts/" + account_name(i) + "/entries?limit=1000";
      if (!after.empty()) target += "&after=" + after;
      http_reply r = c.get(target);
      if (r.status != 200) fail("entries: " + r.body);
      const bj::value v = r.json();
      for (const auto& e : v.at("data").as_array()) {
        const std::string type(e.at("type").as_string());
        if ((type == "charge" || type == "capture") && e.at("charge").is_string())
          ids.insert(std::string(e.at("charge").as_string()));
      }
      if (v.at("next").is_null()) break;
      after = std::string(v.at("next").as_string());
    }
  }
  return ids;
}

// The run, after the command line: returns normally when every check passed.
void run_harness(int iterations, int clients, std::uint64_t seed, bool with_log, int kept) {
  creditd::testing::temp_dir dir;
  // The store in a directory of its own: the shim watches that directory.
  const std::string store_dir = dir.file("store");
  fs::create_directories(store_dir);
  const std::string db = store_dir + "/crash.db";
  probe_file probe(dir.file("commit-probe"));
  commit_probe = &probe;
  auto server_env = creditd::testing::probe_env(probe, store_dir);
  // With the log, its records are the commits (the SQLite writes behind
  // them, on another thread, would blur the probe's one commit at a time).
  if (with_log) server_env.emplace_back("CREDITD_COMMIT_PROBE_FILES", "-log/");
  std::mt19937_64 rng(seed);
  model m;
  std::vector<client> pool;
  for (int i = 0; i < clients; ++i)
    pool.emplace_back(i, rng());

  std::vector<std::string> quiet = {
      "--log-level", "error", "--kept-in-memory", std::to_string(kept), "--stripe-webhook-secret",
      stripe_secret};
  no_log = !with_log;
  if (no_log) quiet.push_back("--no-log");
  // With the log, lots' changes are held back for 64 records: kills find
  // some held, and each restart writes them from the log first.
  if (!no_log) {
    quiet.push_back("--lot-lag-records");
    quiet.push_back("64");
  }
  std::optional<server_process> server;
  auto start = [&] {
    probe.reset();  // no creditd runs: the counters are the next one's
    server.emplace(db, admin, quiet, server_env);
    server_pid = server->pid();
  };
  start();
  {
    http_client c(server->port(), admin);
    for (int i = 0; i < accounts; ++i) {
      if (c.put("/v1/accounts/" + account_name(i), "{}").status != 201) fail("put account");
      if (c.post("/v1/accounts/" + account_name(i) + "/lots",
                 R"({"amount":"100000000","kind":"prepaid"})")
              .status != 201)
        fail("grant");
      m.acct[i].available = 100'000'000 * credit;
    }
    // Purchased credits expire in 30 days: spent before the grants above.
    if (c.put("/v1/packages/" + stripe_package,
              R"({"credits":")" + amount_text(stripe_package_credits) +
                  R"(","price":"1","currency":"usd","validity_days":30})")
            .status != 201)
      fail("put package");
  }
  if (probe.probe().synced.load() == 0)
    fail("the commit probe counted no commit after " + std::to_string(2 * accounts) +
         " acknowledged writes: does the fault shim (" CREDITD_FAULT_SHIM
         ") know CREDITD_COMMIT_PROBE?");

  std::map<std::string, int> damage_tally;
  int kills = 0, kills_in_flight = 0, targeted_kills = 0, targeted_in_flight = 0;
  std::uint64_t requests_in_flight = 0;
  // More targeted kills, at most this many, while none has landed in a commit.
  constexpr int extra_targeted_max = 10;
  constexpr auto anti_hang = std::chrono::seconds(90);
  for (int it = 0; it < iterations + extra_targeted_max; ++it) {
    if (it >= iterations && kills_in_flight > 0) break;
    const bool targeted = it >= iterations || it % 2 == 0;
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    const std::uint64_t acknowledged_before = m.acknowledged.load();
    for (auto& cl : pool)
      threads.emplace_back([&, port = server->port()] { cl.run(port, m, stop); });
    const auto deadline = std::chrono::steady_clock::now() + anti_hang;
    // `spin`: poll without pause (the wait for a commit in flight); else
    // 100 us between polls, leaving the cores to creditd and the clients.
    auto wait_until = [&](auto done, const char* what, bool spin) {
      while (!done()) {
        if (std::chrono::steady_clock::now() > deadline)
          fail("kill " + std::to_string(it + 1) + ": no progress in " +
               std::to_string(anti_hang.count()) + " s waiting for " + what);
        if (spin)
          ::sched_yield();
        else
          std::this_thread::sleep_for(std::chrono::microseconds(100));
      }
    };
    if (targeted) {
      // After a random number of answers (so that kills land at different
      // points of the load), the next commit in flight.
      const std::uint64_t answers = 1 + rng() % (20 * static_cast<std::uint64_t>(clients));
      wait_until([&] { return m.acknowledged.load() >= acknowledged_before + answers; }, "answers",
                 false);
      wait_until([&] { return probe.probe().in_flight(); }, "a commit in flight", true);
    } else {
      // A random instant: anywhere in a commit, a batch, a checkpoint, or between.
      std::this_thread::sleep_for(std::chrono::microseconds(50'000 + rng() % 450'000));
    }
    killing = true;
    server->kill_now();
    // The dead server's counters: was a commit written and not yet synced?
    const bool in_flight = probe.probe().in_flight();
    for (auto& t : threads)
      t.join();
    int pending = 0;
    for (const auto& cl : pool)
      pending += cl.in_flight();
    ++kills;
    kills_in_flight += in_flight;
    targeted_kills += targeted;
    targeted_in_flight += targeted && in_flight;
    requests_in_flight += static_cast<std::uint64_t>(pending);

    // The damaged copy first: `creditd check` checkpoints the WAL away.
    if (!with_log) ++damage_tally[damage_wal(db, dir.file("damage"), rng)];
    check_store(db);

    start();
    killing = false;
    for (auto& cl : pool)
      cl.resolve(server->port(), m);
    check_balances(server->port(), m);
    check_replays(server->port(), m, rng, 3 * clients);
    std::printf("kill %d (%s): %s, %d requests in flight; %llu requests acknowledged in all\n",
                it + 1, targeted ? "targeted" : "random",
                in_flight ? "a commit in flight" : "no commit in flight", pending,
                static_cast<unsigned long long>(m.requests));
    std::fflush(stdout);
  }

  const std::set<std::string> in_journal = journal_charge_ids(server->port());
  if (in_journal != m.charge_ids) {
    std::size_t lost = 0, extra = 0;
    for (const auto& id : m.charge_ids)
      lost += in_journal.count(id) == 0;
    for (const auto& id : in_journal)
      extra += m.charge_ids.count(id) == 0;
    fail("journal charges differ from acknowledged ones: " + std::to_string(lost) + " lost, " +
         std::to_string(extra) + " unacknowledged");
  }
  if (server->terminate() != 0) fail("creditd did not exit 0 on SIGTERM");
  server_pid = 0;
  check_store(db);

  // WAL copies are damaged only without the log: with it, the kill itself
  // tears the log's tail, and every restart above recovers from it.
  std::string tally = with_log ? " none (the log is on)" : "";
  for (const auto& [k, n] : damage_tally)
    tally += " " + k + "=" + std::to_string(n);
  std::printf(
      "crash_harness: kills: %d, with a commit in flight: %d, requests in flight at the kill: "
      "%llu (targeted kills: %d, %d of them in a commit)\n",
      kills, kills_in_flight, static_cast<unsigned long long>(requests_in_flight), targeted_kills,
      targeted_in_flight);
  if (kills_in_flight == 0)
    fail("no kill landed with a commit in flight (" + std::to_string(kills) + " kills)");
  std::printf(
      "crash_harness: ok: %d kills, %llu requests acknowledged, %zu charges all in the journal, "
      "0 lost, 0 applied twice; %zu Stripe events granted once; damaged WAL copies:%s\n",
      kills, static_cast<unsigned long long>(m.requests), m.charge_ids.size(), m.events.size(),
      tally.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  int iterations = 20, clients = 8, kept = 64;
  bool with_log = true;
  std::optional<std::uint64_t> seed;
  for (int i = 1; i < argc; i += 2) {
    const std::string flag = argv[i];
    if (i + 1 >= argc)
      fail("flag " + flag +
           " without a value (--iterations N --seed S --clients C --log on|off --kept K)");
    if (flag == "--iterations")
      iterations = std::atoi(argv[i + 1]);
    else if (flag == "--seed")
      seed = std::strtoull(argv[i + 1], nullptr, 10);
    else if (flag == "--clients")
      clients = std::atoi(argv[i + 1]);
    else if (flag == "--log" &&
             (std::string(argv[i + 1]) == "on" || std::string(argv[i + 1]) == "off"))
      with_log = std::string(argv[i + 1]) == "on";
    else if (flag == "--kept")
      kept = std::atoi(argv[i + 1]);
    else
      fail("unknown flag " + flag + " " + argv[i + 1] +
           " (--iterations N --seed S --clients C --log on|off --kept K)");
  }
  if (iterations < 1 || clients < 1 || clients > 256 || kept < 0)
    fail("bad --iterations, --clients or --kept");
  if (!seed) {
    if (const char* env = std::getenv("CREDITD_CRASH_SEED"); env != nullptr && *env != '\0')
      seed = std::strtoull(env, nullptr, 10);
    else
      seed = (static_cast<std::uint64_t>(std::random_device{}()) << 32) | std::random_device{}();
  }
  replay_command = std::string(argv[0]) + " --iterations " + std::to_string(iterations) +
                   " --seed " + std::to_string(*seed) + " --clients " + std::to_string(clients) +
                   (with_log ? " --log on" : " --log off") + " --kept " + std::to_string(kept);
  std::printf("crash_harness: %d iterations, %d clients, seed %llu (replay: %s)\n", iterations,
              clients, static_cast<unsigned long long>(*seed), replay_command.c_str());
  std::fflush(stdout);
  try {
    run_harness(iterations, clients, *seed, with_log, kept);
  } catch (const std::exception& e) {
    // Outside a kill, every exception (a lost connection, a malformed
    // answer) is a failure.
    fail(std::string("unexpected error: ") + creditd::testing::describe_exception(e));
  }
  return 0;
}
