// redis_load: a closed-loop load generator for the "Redis + Lua" baseline of
// `make bench`. Each connection has one request in flight, like wrk's
// connections against creditd and pgbench's clients against PostgreSQL.
// redis-benchmark runs one fixed command per run, so it can neither chain a
// capture to the hold it placed (w3) nor mix reads and charges (w4); this
// client drives all four workloads the same way.
//
//   redis_load --port P --workload w1|w2|w3|w4 --accounts N --connections C
//              --seconds S [--warmup S] --charge SHA [--hold SHA --capture SHA]
//              [--threads T] [--log FILE]
//
//   w1: EVALSHA charge on a random bal:N; w2: on bal:0 only; w3: EVALSHA hold,
//   then EVALSHA capture of the hold it returned; w4: 80% GET bal:N, 20% charge.
//   After the deadline each connection finishes its generation (w3) and stops;
//   every request sent is answered before the totals are printed, so the
//   counts of acknowledged charges are exact. Each charge and hold carries the
//   reference "T-N" (thread T, its N-th request, reads counted), which the
//   scripts journal; --log writes every request and its outcome for
//   `ledger_bench --check-cell` (bench/cell_check.hpp).
//
// With --warmup, as http_load's: that long first, not measured.
//
// Prints one JSON object: requests, ops_per_s, p50/p99/p999 (ms) of the
// measured window; charges, holds, captures, reads, refused, errors (error
// replies: logged, and the cell check fails on them) and requests_all of the
// whole run; client_cpu_us (this process's user + system CPU per request of
// the whole run). Exits non-zero when a connection fails.
#include <sys/epoll.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "closed_loop.hpp"

namespace {

using namespace bench::closed_loop;

struct options {
  int port = 6379;
  std::string workload = "w1";
  std::size_t accounts = 100'000;
  std::size_t connections = 64;
  std::size_t threads = 2;
  double seconds = 10;
  double warmup = 0;  // seconds before the measured window
  std::string charge_sha, hold_sha, capture_sha;
  std::string log_path;
};

// A RESP command as an array of bulk strings.
std::string command(std::initializer_list<std::string> args) {
  std::string out = "*" + std::to_string(args.size()) + "\r\n";
  for (const std::string& a : args)
    out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
  return out;
}

enum class op : std::uint8_t { charge, hold, capture, read };

struct reply {
  bool complete = false;
  bool error = false;
  long long value = 0;  // integer, or a bulk string read as an integer
  std::size_t length = 0;
  std::string text;  // error text
};

// Parses one reply at the start of `in` (integer, bulk, simple or error).
reply parse(const std::string& in) {
  reply r;
  const std::size_t eol = in.find("\r\n");
  if (eol == std::string::npos) return r;
  const char type = in[0];
  const std::string head = in.substr(1, eol - 1);
  if (type == ':' || type == '+') {
    r.value = std::atoll(head.c_str());
    r.length = eol + 2;
  } else if (type == '-') {
    r.error = true;
    r.text = head;
    r.length = eol + 2;
  } else if (type == '$') {
    const long long n = std::atoll(head.c_str());
    if (n < 0) {
      r.length = eol + 2;
      r.value = -1;
    } else {
      if (in.size() < eol + 2 + static_cast<std::size_t>(n) + 2) return r;
      r.value = std::atoll(in.substr(eol + 2, static_cast<std::size_t>(n)).c_str());
      r.length = eol + 2 + static_cast<std::size_t>(n) + 2;
    }
  } else {
    r.error = true;
    r.text = "unexpected reply type";
    r.length = in.size();
  }
  r.complete = true;
  return r;
}

struct connection {
  int fd = -1;
  std::string in;
  op kind = op::charge;
  long long hold_id = 0;
  std::string account;        // bal:N
  std::uint64_t n = 0;        // the request's number (a capture: its hold's)
  std::uint64_t lo_acks = 0;  // charges and holds acknowledged by the thread when sent
  bool holding = false;
  bool done = false;
  clock_type::time_point sent;
  std::mt19937_64 rng;
};

void run_thread(const options& o, std::size_t conns, std::uint64_t seed, const cell_window& window,
                totals& t) {
  const std::string thread_id = std::to_string(seed);
  const int ep = ::epoll_create1(0);
  std::vector<connection> cs(conns);
  const std::string amount = "1";
  const std::size_t spread = o.workload == "w2" ? 1 : o.accounts;
  auto next = [&](connection& c) {
    std::string cmd;
    if (o.workload == "w3" && c.holding) {
      c.kind = op::capture;
      cmd = command({"EVALSHA", o.capture_sha, "1", "journal", std::to_string(c.hold_id)});
    } else {
      const std::string key = "bal:" + std::to_string(spread == 1 ? 0 : c.rng() % spread);
      c.account = key;
      c.n = ++t.sent;
      c.lo_acks = t.acks;
      const std::string ref = thread_id + "-" + std::to_string(c.n);
      if (o.workload == "w3")
        c.kind = op::hold;
      else if (o.workload == "w4")
        c.kind = c.rng() % 10 < 8 ? op::read : op::charge;
      else
        c.kind = op::charge;
      if (c.kind == op::read)
        cmd = command({"GET", key});
      else if (c.kind == op::hold)
        cmd = command({"EVALSHA", o.hold_sha, "3", key, "journal", "hold_seq", amount, ref});
      else
        cmd = command({"EVALSHA", o.charge_sha, "2", key, "journal", amount, ref});
    }
    c.sent = clock_type::now();
    send_all(c.fd, cmd);
  };
  for (std::size_t i = 0; i < conns; ++i) {
    cs[i].fd = connect_to(o.port);
    cs[i].rng.seed(seed * 1000 + i + 1);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = &cs[i];
    if (::epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev) != 0) die("epoll_ctl failed");
  }
  for (connection& c : cs)
    next(c);
  std::size_t active = conns;
  std::vector<epoll_event> events(conns);
  char buf[4096];
  while (active > 0) {
    const int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), 1000);
    if (n < 0 && errno != EINTR) die("epoll_wait failed");
    for (int i = 0; i < n; ++i) {
      connection& c = *static_cast<connection*>(events[i].data.ptr);
      const ssize_t got = ::recv(c.fd, buf, sizeof buf, 0);
      if (got <= 0) die("the server closed a connection");
      c.in.append(buf, static_cast<std::size_t>(got));
      const reply r = parse(c.in);
      if (!r.complete) continue;
      if (r.length != c.in.size()) die("more than one reply for one request");
      c.in.clear();
      const auto now = clock_type::now();
      count_reply(t, window, c.sent, now);
      static constexpr const char* names[] = {"charge", "hold", "capture", "read"};
      const char* outcome = r.error ? "error" : r.value >= 0 ? "ok" : "refused";
      if (r.error) {
        if (t.errors++ == 0) std::fprintf(stderr, "redis_load: error reply: %s\n", r.text.c_str());
      }
      t.log.line.append(thread_id).append("\t").append(std::to_string(c.n)).append("\t");
      t.log.line.append(names[static_cast<int>(c.kind)]).append("\t").append(c.account);
      t.log.line.append("\t").append(outcome);
      switch (c.kind) {
        case op::charge:
          if (!r.error) r.value >= 0 ? ++t.charges : ++t.refused;
          if (!r.error && r.value >= 0) ++t.acks;
          break;
        case op::hold:
          c.holding = !r.error && r.value >= 0;
          if (c.holding) {
            c.hold_id = r.value;
            ++t.holds;
            ++t.acks;
          } else if (!r.error) {
            ++t.refused;
          }
          break;
        case op::capture:
          if (!r.error && r.value < 0) die("a capture of an open hold failed");
          if (!r.error) ++t.captures;
          c.holding = false;
          break;
        case op::read:
          if (!r.error && r.value < 0) die("a balance read found no account");
          if (!r.error) {
            ++t.reads;
            t.log.line.append("\t").append(std::to_string(r.value)).append("\t");
            t.log.line.append(std::to_string(c.lo_acks))
                .append("\t")
                .append(std::to_string(t.sent));
          }
          break;
      }
      t.log.end_line();
      if (now < window.deadline || c.holding) {
        next(c);
      } else {
        c.done = true;
        --active;
      }
    }
  }
  for (connection& c : cs)
    ::close(c.fd);
  ::close(ep);
}

}  // namespace

int main(int argc, char** argv) {
  program = "redis_load";
  options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string f = argv[i];
    const char* v = argv[i + 1];
    if (f == "--port")
      o.port = std::atoi(v);
    else if (f == "--workload")
      o.workload = v;
    else if (f == "--accounts")
      o.accounts = std::strtoull(v, nullptr, 10);
    else if (f == "--connections")
      o.connections = std::strtoull(v, nullptr, 10);
    else if (f == "--threads")
      o.threads = std::strtoull(v, nullptr, 10);
    else if (f == "--seconds")
      o.seconds = std::strtod(v, nullptr);
    else if (f == "--warmup")
      o.warmup = std::strtod(v, nullptr);
    else if (f == "--charge")
      o.charge_sha = v;
    else if (f == "--hold")
      o.hold_sha = v;
    else if (f == "--capture")
      o.capture_sha = v;
    else if (f == "--log")
      o.log_path = v;
    else
      die("unknown flag " + f);
  }
  if (argc % 2 == 0) die("every flag takes a value");
  if (o.accounts == 0 || o.connections == 0) die("--accounts and --connections must be positive");
  if (o.charge_sha.empty() || (o.workload == "w3" && (o.hold_sha.empty() || o.capture_sha.empty())))
    die("--charge (and for w3 --hold, --capture) name the loaded scripts");

  return run_and_report(o.threads, o.connections, o.warmup, o.seconds, o.log_path,
                        [&](std::size_t conns, std::uint64_t thread_no, const cell_window& window,
                            totals& t) { run_thread(o, conns, thread_no, window, t); });
}
