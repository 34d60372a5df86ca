// http_load: a closed-loop HTTP/1.1 load generator for creditd, the twin of
// redis_load (bench/redis_load.cpp), so that both systems of `make bench` are
// driven by clients of the same design and comparable cost: C++, epoll, one
// request in flight per connection, requests pre-rendered, replies parsed
// in place. wrk with bench/wrk/creditd.lua runs the same workloads, but its
// Lua costs several times this client's CPU per request, and on 2 cores the
// client's CPU is taken from the server (BENCH_HTTP_CLIENT=wrk runs it).
//
//   http_load --port P --key KEY --workload w1|w2|w3|w4 --accounts N
//             --connections C --seconds S [--warmup S] [--threads T] [--log FILE]
//
//   w1: POST /v1/accounts/acct-N/charges, N random in [0, accounts); w2: on
//   acct-0 only; w3: POST /v1/accounts/acct-N/holds, then POST
//   /v1/holds/{id}/capture of the hold it placed, on the same connection;
//   w4: 80% GET /v1/accounts/acct-N/balance, 20% charges. Every charge and
//   hold is 1 credit with the reference "T-N" (thread T, its N-th request,
//   reads counted). After the deadline each connection finishes its
//   generation (w3) and stops; every request sent is answered before the
//   totals are printed, so nothing is cut and every outcome is known: each
//   reply is checked against its request (status, reference, account) and
//   --log writes every request and its outcome for `ledger_bench
//   --check-cell` (bench/cell_check.hpp), in redis_load's format.
//
// With --warmup, the load runs that long first: those requests are sent,
// checked and logged, but not measured (closed_loop.hpp run_and_report).
//
// Prints one JSON object: seconds, requests, ops_per_s, p50/p99/p999 (ms) of
// the measured window; charges, holds, captures, reads, refused, errors
// (replies other than the expected 2xx or a 402: logged, and the cell check
// fails on them) and requests_all of the whole run; client_cpu_us (this
// process's user + system CPU per request of the whole run). Exits non-zero
// when a connection fails or a reply is malformed.
#include <sys/epoll.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "closed_loop.hpp"

namespace {

using namespace bench::closed_loop;

struct options {
  int port = 0;
  std::string key = "bench";
  std::string workload = "w1";
  std::size_t accounts = 100'000;
  std::size_t connections = 64;
  std::size_t threads = 2;
  double seconds = 10;
  double warmup = 0;  // seconds before the measured window
  std::string log_path;
};

enum class op : std::uint8_t { charge, hold, capture, read };

// One parsed response at the start of a buffer.
struct response {
  bool complete = false;
  int status = 0;
  std::size_t length = 0;  // head + body
  std::string_view body;
};

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// Parses "HTTP/1.1 SSS ...\r\nheaders\r\n\r\nbody" with a Content-Length.
response parse(std::string_view in) {
  response r;
  const std::size_t head_end = in.find("\r\n\r\n");
  if (head_end == std::string_view::npos) return r;
  if (in.size() < 12 || in.substr(0, 9) != "HTTP/1.1 ") die("not an HTTP/1.1 response");
  if (std::from_chars(in.data() + 9, in.data() + 12, r.status).ec != std::errc{})
    die("malformed status line");
  std::size_t content_length = 0;
  bool has_length = false;
  std::size_t pos = in.find("\r\n") + 2;
  while (pos < head_end) {
    const std::size_t eol = in.find("\r\n", pos);
    const std::string_view line = in.substr(pos, eol - pos);
    const std::size_t colon = line.find(':');
    if (colon != std::string_view::npos) {
      const std::string_view name = line.substr(0, colon);
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ')
        value.remove_prefix(1);
      if (iequals(name, "content-length")) {
        if (std::from_chars(value.data(), value.data() + value.size(), content_length).ec !=
            std::errc{})
          die("malformed Content-Length");
        has_length = true;
      } else if (iequals(name, "transfer-encoding")) {
        die("a chunked response: this client reads Content-Length bodies only");
      } else if (iequals(name, "connection") && iequals(value, "close")) {
        die("the server closes the connection (status " + std::to_string(r.status) + ")");
      }
    }
    pos = eol + 2;
  }
  if (!has_length) die("a response without Content-Length");
  if (in.size() < head_end + 4 + content_length) return r;
  r.body = in.substr(head_end + 4, content_length);
  r.length = head_end + 4 + content_length;
  r.complete = true;
  return r;
}

// The string value of "name":"..." in a flat JSON body (no escapes in the
// values this client reads), or empty.
std::string_view field(std::string_view body, std::string_view name) {
  std::string pattern = "\"";
  pattern += name;
  pattern += "\":\"";
  const std::size_t at = body.find(pattern);
  if (at == std::string_view::npos) return {};
  const std::size_t start = at + pattern.size();
  const std::size_t end = body.find('"', start);
  if (end == std::string_view::npos) return {};
  return body.substr(start, end - start);
}

struct connection {
  int fd = -1;
  std::string in;
  std::string out;
  op kind = op::charge;
  std::string hold_id;  // hold_N, while its capture is due or in flight
  std::string account;  // acct-N
  std::uint64_t n = 0;  // the request's number (a capture: its hold's)
  std::uint64_t lo_acks = 0;
  bool holding = false;
  clock_type::time_point sent;
  std::mt19937_64 rng;
};

void run_thread(const options& o, std::size_t conns, std::uint64_t thread_no,
                const cell_window& window, totals& t) {
  const std::string thread_id = std::to_string(thread_no);
  const std::string fixed_headers =
      " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + o.key + "\r\n";
  const int ep = ::epoll_create1(0);
  std::vector<connection> cs(conns);
  const std::size_t spread = o.workload == "w2" ? 1 : o.accounts;

  auto post = [&](connection& c, std::string_view path, std::string_view body) {
    c.out.clear();
    c.out += "POST ";
    c.out += path;
    c.out += fixed_headers;
    c.out += "Content-Type: application/json\r\nContent-Length: ";
    c.out += std::to_string(body.size());
    c.out += "\r\n\r\n";
    c.out += body;
  };
  auto next = [&](connection& c) {
    if (o.workload == "w3" && c.holding) {
      c.kind = op::capture;
      post(c, "/v1/holds/" + c.hold_id + "/capture", "{}");
    } else {
      c.account = "acct-" + std::to_string(spread == 1 ? 0 : c.rng() % spread);
      c.n = ++t.sent;
      c.lo_acks = t.acks;
      const std::string body = R"({"operation":"image.generate","amount":"1","reference":")" +
                               thread_id + "-" + std::to_string(c.n) + "\"}";
      if (o.workload == "w3")
        c.kind = op::hold;
      else if (o.workload == "w4")
        c.kind = c.rng() % 10 < 8 ? op::read : op::charge;
      else
        c.kind = op::charge;
      if (c.kind == op::read) {
        c.out = "GET /v1/accounts/" + c.account + "/balance" + fixed_headers + "\r\n";
      } else {
        post(c, "/v1/accounts/" + c.account + (c.kind == op::hold ? "/holds" : "/charges"), body);
      }
    }
    c.sent = clock_type::now();
    send_all(c.fd, c.out);
  };
  for (std::size_t i = 0; i < conns; ++i) {
    cs[i].fd = connect_to(o.port);
    cs[i].rng.seed(thread_no * 1000 + i + 1);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = &cs[i];
    if (::epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev) != 0) die("epoll_ctl failed");
  }
  for (connection& c : cs)
    next(c);
  std::size_t active = conns;
  std::vector<epoll_event> events(conns);
  char buf[8192];
  const std::string want_ref_prefix = thread_id + "-";
  while (active > 0) {
    const int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), 1000);
    if (n < 0 && errno != EINTR) die("epoll_wait failed");
    for (int i = 0; i < n; ++i) {
      connection& c = *static_cast<connection*>(events[i].data.ptr);
      const ssize_t got = ::recv(c.fd, buf, sizeof buf, 0);
      if (got <= 0) die("the server closed a connection");
      c.in.append(buf, static_cast<std::size_t>(got));
      const response r = parse(c.in);
      if (!r.complete) continue;
      if (r.length != c.in.size()) die("more than one response for one request");
      const auto now = clock_type::now();
      count_reply(t, window, c.sent, now);
      // The reply must name this request: its reference (charges, holds and
      // captures) and its account.
      const std::string ref = want_ref_prefix + std::to_string(c.n);
      const int expected = c.kind == op::charge || c.kind == op::hold ? 201 : 200;
      bool ok = r.status == expected;
      if (ok && c.kind != op::read && field(r.body, "reference") != ref) ok = false;
      if (ok && c.kind != op::capture && field(r.body, "account") != c.account) ok = false;
      if (ok && c.kind == op::capture && field(r.body, "status") != "captured") ok = false;
      std::string_view value;
      if (ok && c.kind == op::read) {
        value = field(r.body, "available");
        std::int64_t v = 0;
        if (value.empty() ||
            std::from_chars(value.data(), value.data() + value.size(), v).ec != std::errc{} ||
            std::to_string(v).size() != value.size())
          ok = false;
      }
      const bool refused = !ok && r.status == 402 && c.kind != op::read && c.kind != op::capture;
      const char* outcome = ok ? "ok" : refused ? "refused" : "error";
      if (!ok && !refused && t.errors++ == 0)
        std::fprintf(stderr, "http_load: unexpected reply %d to a request: %.*s\n", r.status,
                     static_cast<int>(std::min<std::size_t>(r.body.size(), 300)), r.body.data());
      static constexpr const char* names[] = {"charge", "hold", "capture", "read"};
      t.log.line.append(thread_id).append("\t").append(std::to_string(c.n)).append("\t");
      t.log.line.append(names[static_cast<int>(c.kind)]).append("\t").append(c.account);
      t.log.line.append("\t").append(outcome);
      switch (c.kind) {
        case op::charge:
          if (ok) ++t.charges, ++t.acks;
          if (refused) ++t.refused;
          break;
        case op::hold:
          c.holding = ok;
          if (ok) {
            c.hold_id = std::string(field(r.body, "id"));
            if (c.hold_id.rfind("hold_", 0) != 0) die("a hold's reply without its id");
            ++t.holds;
            ++t.acks;
          }
          if (refused) ++t.refused;
          break;
        case op::capture:
          if (ok) ++t.captures;
          c.holding = false;
          break;
        case op::read:
          if (ok) {
            ++t.reads;
            t.log.line.append("\t").append(value).append("\t");
            t.log.line.append(std::to_string(c.lo_acks))
                .append("\t")
                .append(std::to_string(t.sent));
          }
          break;
      }
      t.log.end_line();
      c.in.clear();
      if (now < window.deadline || c.holding) {
        next(c);
      } else {
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
  program = "http_load";
  options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string f = argv[i];
    const char* v = argv[i + 1];
    if (f == "--port")
      o.port = std::atoi(v);
    else if (f == "--key")
      o.key = v;
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
    else if (f == "--log")
      o.log_path = v;
    else
      die("unknown flag " + f);
  }
  if (argc % 2 == 0) die("every flag takes a value");
  if (o.port <= 0) die("--port names creditd's port on 127.0.0.1");
  if (o.workload != "w1" && o.workload != "w2" && o.workload != "w3" && o.workload != "w4")
    die("--workload is w1, w2, w3 or w4");
  if (o.accounts == 0 || o.connections == 0) die("--accounts and --connections must be positive");

  return run_and_report(o.threads, o.connections, o.warmup, o.seconds, o.log_path,
                        [&](std::size_t conns, std::uint64_t thread_no, const cell_window& window,
                            totals& t) { run_thread(o, conns, thread_no, window, t); });
}
