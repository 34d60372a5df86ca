// What the two closed-loop load generators of `make bench` share
// (bench/http_load.cpp for creditd, bench/redis_load.cpp for Redis), so that
// both systems are driven by the same code wherever the protocol does not
// differ: connecting, sending, the per-thread totals, the threads and the
// deadline, the log for `ledger_bench --check-cell`, the percentiles and the
// JSON line printed at the end.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace bench::closed_loop {

using clock_type = std::chrono::steady_clock;

// The program's name in its error messages (set by main before anything).
inline const char* program = "load";

[[noreturn]] inline void die(const std::string& what) {
  std::fprintf(stderr, "%s: %s\n", program, what.c_str());
  std::exit(1);
}

// The requests' log for `ledger_bench --check-cell`: a request's line is
// built in `line` and end_line() moves it into chunks of 4 MiB, which are
// never moved again. A single std::string doubled past 32 and 64 MiB inside
// a cell and copied itself on the client's thread, onto pages touched for
// the first time, while no request was sent.
class request_log {
 public:
  std::string line;  // the request being logged, without its '\n'

  void end_line() {
    line += '\n';
    if (chunks_.empty() || chunks_.back().size() + line.size() > chunks_.back().capacity()) {
      chunks_.emplace_back();
      chunks_.back().reserve(std::max(chunk_bytes, line.size()));
    }
    chunks_.back().append(line);
    line.clear();
  }
  // False when a write failed.
  bool write(std::FILE* f) const {
    for (const std::string& c : chunks_)
      if (std::fwrite(c.data(), 1, c.size(), f) != c.size()) return false;
    return true;
  }

 private:
  static constexpr std::size_t chunk_bytes = std::size_t{4} << 20;
  std::vector<std::string> chunks_;
};

// One thread's counts, its requests' log lines and latencies. `requests`
// and the latencies are of the measured window only (sent after the
// warm-up); every other count, and the log, are of the whole run (the
// cell's checks compare them with the system's books).
struct totals {
  std::uint64_t requests = 0, charges = 0, holds = 0, captures = 0, reads = 0, refused = 0,
                errors = 0;
  std::uint64_t requests_all = 0;    // the warm-up's too
  std::uint64_t sent = 0, acks = 0;  // numbered requests sent; charges and holds acknowledged
  request_log log;                   // the requests, for --check-cell
  std::vector<std::uint32_t> latencies_us;
};

// A run's clock: requests sent before `from` are the warm-up (answered and
// checked, not measured); no generation starts after `deadline`.
struct cell_window {
  clock_type::time_point from;
  clock_type::time_point deadline;
  // `warmup` seconds from `start`, then `seconds` measured.
  static cell_window after(clock_type::time_point start, double warmup, double seconds) {
    auto plus = [](clock_type::time_point t, double s) {
      return t + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(s));
    };
    return {plus(start, warmup), plus(start, warmup + seconds)};
  }
};

// One reply, answered at `now` to a request sent at `sent`.
inline void count_reply(totals& t, const cell_window& w, clock_type::time_point sent,
                        clock_type::time_point now) {
  ++t.requests_all;
  if (sent < w.from) return;
  ++t.requests;
  t.latencies_us.push_back(static_cast<std::uint32_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(now - sent).count()));
}

inline int connect_to(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) die("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    die("cannot connect to 127.0.0.1:" + std::to_string(port) + ": " + std::strerror(errno));
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

inline void send_all(int fd, const std::string& data) {
  std::size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      die(std::string("send failed: ") + std::strerror(errno));
    }
    off += static_cast<std::size_t>(n);
  }
}

// This process's user + system CPU so far, in seconds.
inline double cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// Runs `run_thread(connections, thread_no (1..), window, totals&)` on
// `threads` threads sharing `connections` for `warmup` + `seconds`, writes
// every thread's log to `log_path` (if not empty) and prints the JSON line:
// seconds, requests, ops_per_s, p50/p99/p999 (ms) of the measured window
// (from the end of the warm-up until the last reply), the counts of the
// whole run, requests_all, warmup_s, and client_cpu_us (this process's CPU
// per request of the whole run).
//
// The warm-up lets work a system defers reach its steady state before the
// measurement: creditd fills its SQLite file in up to --apply-delay-ms
// behind its log, so a cell shorter than that, measured from a quiet
// start, would leave most of that work after the cell.
template <typename RunThread>
int run_and_report(std::size_t threads, std::size_t connections, double warmup, double seconds,
                   const std::string& log_path, RunThread run_thread) {
  threads = std::clamp<std::size_t>(threads, 1, connections);
  const double cpu_before = cpu_seconds();
  const cell_window window = cell_window::after(clock_type::now(), warmup, seconds);
  std::vector<totals> per(threads);
  std::vector<std::thread> pool;
  for (std::size_t i = 0; i < threads; ++i) {
    const std::size_t conns = connections / threads + (i < connections % threads ? 1 : 0);
    pool.emplace_back([&, i, conns] { run_thread(conns, i + 1, window, per[i]); });
  }
  for (auto& t : pool)
    t.join();
  const double secs = std::chrono::duration<double>(clock_type::now() - window.from).count();
  const double cpu = cpu_seconds() - cpu_before;
  totals all;
  for (totals& t : per) {
    all.requests += t.requests;
    all.requests_all += t.requests_all;
    all.charges += t.charges;
    all.holds += t.holds;
    all.captures += t.captures;
    all.reads += t.reads;
    all.refused += t.refused;
    all.errors += t.errors;
    all.latencies_us.insert(all.latencies_us.end(), t.latencies_us.begin(), t.latencies_us.end());
  }
  if (!log_path.empty()) {
    std::FILE* f = std::fopen(log_path.c_str(), "w");
    if (f == nullptr) die("cannot write " + log_path);
    bool ok = true;
    for (const totals& t : per)
      ok = t.log.write(f) && ok;
    if (std::fclose(f) != 0 || !ok) die("cannot write " + log_path);
  }
  std::sort(all.latencies_us.begin(), all.latencies_us.end());
  auto pct = [&](double p) -> double {
    if (all.latencies_us.empty()) return 0;
    auto i = static_cast<std::size_t>(p / 100.0 * static_cast<double>(all.latencies_us.size()));
    return all.latencies_us[std::min(i, all.latencies_us.size() - 1)] / 1000.0;
  };
  auto u = [](std::uint64_t v) { return static_cast<unsigned long long>(v); };
  std::printf(
      "{\"seconds\":%.3f,\"requests\":%llu,\"ops_per_s\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,"
      "\"p999_ms\":%.3f,\"charges\":%llu,\"holds\":%llu,\"captures\":%llu,\"reads\":%llu,"
      "\"refused\":%llu,\"errors\":%llu,\"requests_all\":%llu,\"warmup_s\":%.3f,"
      "\"client_cpu_us\":%.2f}\n",
      secs, u(all.requests), static_cast<double>(all.requests) / secs, pct(50), pct(99), pct(99.9),
      u(all.charges), u(all.holds), u(all.captures), u(all.reads), u(all.refused), u(all.errors),
      u(all.requests_all), warmup,
      all.requests_all > 0 ? cpu * 1e6 / static_cast<double>(all.requests_all) : 0.0);
  return 0;
}

}  // namespace bench::closed_loop
