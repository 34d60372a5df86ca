// events_peer: the other side of the events cells (bench/run,
// bench/events-cells): two webhook receivers and an open event stream, with
// accounts armed to fire events during the cell.
//
//   events_peer URL KEY ACCOUNTS ARM OFFSET      (URL: http://HOST:PORT)
//
// 1. starts two HTTP/1.1 receivers on 127.0.0.1 (each answers 204 to every
//    delivery, connections kept alive) and registers them as webhook
//    endpoints bench-a and bench-b for every event type;
// 2. opens GET /v1/events/stream (from now on) and counts its events (its
//    "id: " lines);
// 3. arms ARM accounts (acct-N, N = OFFSET, OFFSET + step, ... modulo
//    ACCOUNTS, step = ACCOUNTS / ARM): a low-balance threshold 1 micro-credit
//    under each one's available, so the cell's first charge of 1 credit on it
//    fires balance.low;
// 4. prints "ready" and waits; on SIGTERM it deletes both endpoints, closes
//    the stream and the receivers and prints one JSON line: {armed,
//    delivered_a, delivered_b, distinct_a, distinct_b, streamed, cpu_ms}
//    (distinct: by webhook-id, since at least once may deliver one twice;
//    cpu_ms: this process's user + system CPU from "ready" to SIGTERM, since
//    it shares the machine with creditd).
// EVENTS_PEER_PARTS (default "hooks,stream") says which of the two it sets
// up: a part left out is measured by its absence (bench/events-cells).
//
// Synchronous Beast, a thread per connection: the peer must cost the server
// under test as little CPU as it can (a Node.js peer took ~0.3 core for
// 1,500 deliveries/s, on 2 cores). Any failure to talk to creditd, and any
// answer of it other than 2xx, is fatal: a message on stderr, exit status 1.
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <charconv>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <vector>

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = net::ip::tcp;

constexpr std::size_t armer_threads = 8;  // each with its own kept-alive connection
constexpr std::int64_t micros_per_credit = 1'000'000;

// Prints the message and exits 1, from any thread (_Exit: the other threads
// may be blocked in a read; nothing is left to flush but stdio's buffers).
[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "events_peer: %s\n", what.c_str());
  std::fflush(nullptr);
  std::_Exit(1);
}

// Where creditd listens and how to authenticate to it.
struct server {
  std::string host;
  std::string port;
  std::string key;
};

// "http://HOST:PORT" (a trailing "/" allowed).
server parse_url(std::string_view url, std::string key) {
  constexpr std::string_view scheme = "http://";
  if (!url.starts_with(scheme)) die("the URL must be http://HOST:PORT, not " + std::string(url));
  url.remove_prefix(scheme.size());
  if (url.ends_with('/')) url.remove_suffix(1);
  const std::size_t colon = url.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == url.size() ||
      url.find('/') != std::string_view::npos)
    die("the URL must be http://HOST:PORT");
  return {std::string(url.substr(0, colon)), std::string(url.substr(colon + 1)), std::move(key)};
}

// A connected socket to creditd (TCP_NODELAY), or fatal.
tcp::socket connect_to(net::io_context& io, const server& s) {
  beast::error_code ec;
  tcp::resolver resolver(io);
  const auto endpoints = resolver.resolve(s.host, s.port, ec);
  if (ec) die("cannot resolve " + s.host + ":" + s.port + ": " + ec.message());
  tcp::socket socket(io);
  net::connect(socket, endpoints, ec);
  if (ec) die("cannot connect to " + s.host + ":" + s.port + ": " + ec.message());
  socket.set_option(tcp::no_delay(true), ec);
  return socket;
}

// A request to creditd with the headers every request of the peer carries.
template <class Body>
http::request<Body> make_request(const server& s, http::verb method, std::string_view path) {
  http::request<Body> req{method, path, 11};
  req.set(http::field::host, s.host + ":" + s.port);
  req.set(http::field::authorization, "Bearer " + s.key);
  req.set(http::field::content_type, "application/json");
  req.keep_alive(true);
  return req;
}

// "PUT /v1/accounts/acct-7", for error messages.
std::string request_line(http::verb method, std::string_view path) {
  const auto name = http::to_string(method);
  return std::string(name.data(), name.size()) + " " + std::string(path);
}

struct reply {
  unsigned status = 0;
  std::string body;
};

// One kept-alive connection to creditd, used by one thread.
class api_connection {
 public:
  explicit api_connection(const server& s) : server_(s) {}

  // The reply to METHOD PATH with BODY (JSON). A reply other than 2xx is
  // fatal, and so is a failure to connect, send or read, but on a connection
  // kept from a previous request: that one is tried again once on a new one
  // (the server may have closed it; the peer's requests are idempotent).
  std::string call(http::verb method, std::string_view path, std::string body = {}) {
    reply r = exchange(method, path, std::move(body));
    if (r.status < 200 || r.status > 299)
      die(request_line(method, path) + ": " + std::to_string(r.status) + " " + r.body);
    return std::move(r.body);
  }

 private:
  reply exchange(http::verb method, std::string_view path, std::string body) {
    auto req = make_request<http::string_body>(server_, method, path);
    req.body() = std::move(body);
    req.prepare_payload();
    for (int attempt = 0;; ++attempt) {
      const bool reused = socket_.has_value();
      if (!socket_) socket_.emplace(connect_to(io_, server_));
      beast::error_code ec;
      http::write(*socket_, req, ec);
      http::response<http::string_body> res;
      if (!ec) http::read(*socket_, buffer_, res, ec);
      if (ec || !res.keep_alive()) close();
      if (!ec) return {res.result_int(), std::move(res.body())};
      if (!reused || attempt > 0) die(request_line(method, path) + ": " + ec.message());
    }
  }

  void close() {
    beast::error_code ignored;
    socket_->close(ignored);
    socket_.reset();
    buffer_.clear();
  }

  const server& server_;
  net::io_context io_;
  std::optional<tcp::socket> socket_;
  beast::flat_buffer buffer_;
};

// An HTTP/1.1 receiver of webhook deliveries on 127.0.0.1, an ephemeral
// port: answers 204 to every request, counting them and their distinct
// webhook-id headers. Accepts on a thread of its own, serves each
// connection on a thread of its own until the client closes it.
class receiver {
 public:
  receiver() : acceptor_(io_, tcp::endpoint(net::ip::make_address_v4("127.0.0.1"), 0)) {
    accepting_ = std::thread([this] { accept_loop(); });
  }
  receiver(const receiver&) = delete;
  receiver& operator=(const receiver&) = delete;
  ~receiver() { stop(); }

  unsigned short port() const { return acceptor_.local_endpoint().port(); }

  // Stops accepting, closes every connection (kept-alive ones may be idle)
  // and joins the threads: the counts are final after it.
  void stop() {
    if (stopping_.exchange(true)) return;
    // On Linux, shutdown() of a listening socket wakes a blocked accept().
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
    accepting_.join();  // from here on, serving_ is this thread's alone
    {
      std::lock_guard lock(mutex_);
      for (const int fd : open_fds_)
        ::shutdown(fd, SHUT_RDWR);  // the blocked read returns
    }
    for (std::thread& t : serving_)
      t.join();
    beast::error_code ignored;
    acceptor_.close(ignored);
  }

  std::uint64_t delivered() const {
    std::lock_guard lock(mutex_);
    return delivered_;
  }
  std::size_t distinct() const {
    std::lock_guard lock(mutex_);
    return ids_.size();
  }

 private:
  void accept_loop() {
    for (;;) {
      beast::error_code ec;
      tcp::socket socket = acceptor_.accept(ec);
      if (stopping_) return;
      if (ec == net::error::connection_aborted) continue;
      if (ec) die("a receiver's accept failed: " + ec.message());
      socket.set_option(tcp::no_delay(true), ec);
      {
        std::lock_guard lock(mutex_);
        open_fds_.insert(socket.native_handle());
      }
      serving_.emplace_back([this, s = std::move(socket)]() mutable { serve(s); });
    }
  }

  // Requests on one connection until it ends (the client closed it, or
  // stop() shut it down); then closes it, under the mutex, so that stop()
  // never shuts down a descriptor that was closed and given to another.
  void serve(tcp::socket& socket) {
    beast::flat_buffer buffer;
    for (;;) {
      beast::error_code ec;
      http::request<http::string_body> req;
      http::read(socket, buffer, req, ec);
      if (ec) break;
      count(req);
      http::response<http::empty_body> res{http::status::no_content, req.version()};
      res.keep_alive(req.keep_alive());
      http::write(socket, res, ec);
      if (ec || !req.keep_alive()) break;
    }
    std::lock_guard lock(mutex_);
    open_fds_.erase(socket.native_handle());
    beast::error_code ignored;
    socket.close(ignored);
  }

  void count(const http::request<http::string_body>& req) {
    const auto header = req["webhook-id"];
    std::string id(header.data(), header.size());
    std::lock_guard lock(mutex_);
    ++delivered_;
    ids_.insert(std::move(id));
  }

  net::io_context io_;  // never run: the sockets are used synchronously
  tcp::acceptor acceptor_;
  std::atomic<bool> stopping_{false};
  std::thread accepting_;
  std::vector<std::thread> serving_;  // the accepting thread's, then stop()'s

  mutable std::mutex mutex_;
  std::unordered_set<int> open_fds_;
  std::uint64_t delivered_ = 0;
  std::unordered_set<std::string> ids_;
};

// Counts the lines that start with "id: " in a text given in pieces (a line
// may be split between two), each when its end arrives.
class id_line_counter {
 public:
  void feed(std::string_view piece) {
    static constexpr std::string_view prefix = "id: ";
    for (const char c : piece) {
      if (c == '\n') {
        if (matched_ == prefix.size()) ++lines_;
        matched_ = 0;
        mismatch_ = false;
      } else if (!mismatch_ && matched_ < prefix.size()) {
        if (c == prefix[matched_])
          ++matched_;
        else
          mismatch_ = true;
      }
    }
  }
  std::uint64_t lines() const { return lines_; }

 private:
  std::size_t matched_ = 0;  // of the prefix, at the start of the current line
  bool mismatch_ = false;    // the current line does not start with it
  std::uint64_t lines_ = 0;
};

// GET /v1/events/stream on a connection of its own, read as it comes on a
// thread of its own, its events counted by their id: lines.
class event_stream_reader {
 public:
  // Connects and reads the response's head: a status other than 200 is fatal.
  explicit event_stream_reader(const server& s) : socket_(connect_to(io_, s)) {
    auto req = make_request<http::empty_body>(s, http::verb::get, "/v1/events/stream");
    req.set(http::field::accept, "text/event-stream");
    beast::error_code ec;
    http::write(socket_, req, ec);
    parser_.body_limit(boost::none);  // as long as it stays open
    if (!ec) http::read_header(socket_, buffer_, parser_, ec);
    if (ec) die("stream: " + ec.message());
    if (parser_.get().result_int() != 200)
      die("stream: " + std::to_string(parser_.get().result_int()));
    reading_ = std::thread([this] { read_loop(); });
  }
  event_stream_reader(const event_stream_reader&) = delete;
  event_stream_reader& operator=(const event_stream_reader&) = delete;
  ~event_stream_reader() { stop(); }

  // Closes the stream; streamed() is final after it.
  void stop() {
    if (stopping_.exchange(true)) return;
    ::shutdown(socket_.native_handle(), SHUT_RDWR);  // the blocked read returns
    reading_.join();
    beast::error_code ignored;
    socket_.close(ignored);
  }

  std::uint64_t streamed() const { return counter_.lines(); }

 private:
  // Until the stream ends: by stop(), or by the server ending its body. A
  // failure before stop() is fatal (the count would be short).
  void read_loop() {
    char piece[16 * 1024];
    while (!parser_.is_done()) {
      parser_.get().body().data = piece;
      parser_.get().body().size = sizeof piece;
      beast::error_code ec;
      http::read_some(socket_, buffer_, parser_, ec);
      counter_.feed({piece, sizeof piece - parser_.get().body().size});
      if (ec == http::error::need_buffer) continue;
      if (ec && stopping_) return;
      if (ec) die("stream: " + ec.message());
    }
  }

  net::io_context io_;  // never run: the socket is used synchronously
  tcp::socket socket_;
  beast::flat_buffer buffer_;
  http::response_parser<http::buffer_body> parser_;
  id_line_counter counter_;  // the reading thread's, then stop()'s
  std::atomic<bool> stopping_{false};
  std::thread reading_;
};

// A decimal amount of credits ("12.5", "-3.000001": at most 6 fractional
// digits) in micro-credits, read as integers; nullopt if it is not one.
std::optional<std::int64_t> parse_micros(std::string_view text) {
  const bool negative = text.starts_with('-');
  if (negative) text.remove_prefix(1);
  const std::size_t dot = text.find('.');
  const std::string_view whole = text.substr(0, dot);
  const std::string_view fraction =
      dot == std::string_view::npos ? std::string_view{} : text.substr(dot + 1);
  if (whole.empty() || fraction.size() > 6 || (dot != std::string_view::npos && fraction.empty()))
    return std::nullopt;
  // The digits of whole and fraction, and zeros up to 6 places: the micros.
  std::int64_t micros = 0;
  bool ok = true;
  auto append = [&](char c) {
    const int digit = c - '0';
    if (digit < 0 || digit > 9 || micros > (INT64_MAX - digit) / 10) ok = false;
    if (ok) micros = micros * 10 + digit;
  };
  for (const char c : whole)
    append(c);
  for (const char c : fraction)
    append(c);
  for (std::size_t i = fraction.size(); i < 6; ++i)
    append('0');
  if (!ok) return std::nullopt;
  return negative ? -micros : micros;
}

// The "available" of a balance reply in micro-credits: a decimal string, or
// a JSON number (a double written with 6 decimals, then read as text).
std::int64_t available_micros(std::string_view account, const std::string& body) {
  beast::error_code ec;
  const json::value v = json::parse(body, ec);
  const json::value* available =
      ec || !v.is_object() ? nullptr : v.as_object().if_contains("available");
  std::optional<std::int64_t> micros;
  if (available && available->is_string()) {
    const json::string& text = available->get_string();
    micros = parse_micros({text.data(), text.size()});
  } else if (available && available->is_int64()) {
    micros = parse_micros(std::to_string(available->get_int64()));
  } else if (available && available->is_uint64()) {
    micros = parse_micros(std::to_string(available->get_uint64()));
  } else if (available && available->is_double()) {
    char text[64];
    const auto r = std::to_chars(text, text + sizeof text, available->get_double(),
                                 std::chars_format::fixed, 6);
    if (r.ec == std::errc{}) micros = parse_micros({text, r.ptr});
  }
  if (!micros)
    die("the balance of " + std::string(account) + " has no readable available: " + body);
  return *micros;
}

// MICROS as a decimal amount with 6 fractional digits ("12.499999").
std::string amount_text(std::int64_t micros) {
  std::string fraction = std::to_string(micros % micros_per_credit);
  fraction.insert(0, 6 - fraction.size(), '0');
  return std::to_string(micros / micros_per_credit) + "." + fraction;
}

// A low-balance threshold 1 micro-credit under ACCOUNT's available, unless
// that is not positive.
void arm_account(api_connection& api, const std::string& account) {
  const std::string path = "/v1/accounts/" + account;
  const std::int64_t micros =
      available_micros(account, api.call(http::verb::get, path + "/balance")) - 1;
  if (micros <= 0) return;
  json::object settings;
  settings["low_balance_thresholds"] = json::array{json::string(amount_text(micros))};
  api.call(http::verb::put, path, json::serialize(json::object{{"settings", settings}}));
}

// Arms every account of ACCOUNTS, on armer_threads connections at once.
void arm_accounts(const server& s, const std::vector<std::string>& accounts) {
  std::atomic<std::size_t> next{0};
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < armer_threads; ++t) {
    threads.emplace_back([&] {
      api_connection api(s);
      for (std::size_t i = next++; i < accounts.size(); i = next++)
        arm_account(api, accounts[i]);
    });
  }
  for (std::thread& t : threads)
    t.join();
}

// acct-N for N = (OFFSET + i * step) % ACCOUNTS, i < min(ARM, ACCOUNTS),
// step = max(1, ACCOUNTS / ARM).
std::vector<std::string> accounts_to_arm(std::uint64_t accounts, std::uint64_t arm,
                                         std::uint64_t offset) {
  arm = std::min(arm, accounts);
  std::vector<std::string> ids;
  if (arm == 0) return ids;
  const std::uint64_t step = std::max<std::uint64_t>(1, accounts / arm);
  for (std::uint64_t i = 0; i < arm; ++i)
    ids.push_back("acct-" + std::to_string((offset + i * step) % accounts));
  return ids;
}

// "whsec_" and 24 random bytes in base64.
std::string new_secret() {
  static constexpr char digits[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::random_device random;
  std::string secret = "whsec_";
  for (int group = 0; group < 8; ++group) {  // 3 bytes -> 4 digits, 24 bytes: no padding
    const std::uint32_t bits = random() & 0xffffffu;
    for (int shift = 18; shift >= 0; shift -= 6)
      secret += digits[(bits >> shift) & 0x3f];
  }
  return secret;
}

void register_endpoint(const server& s, std::string_view id, unsigned short port) {
  const json::object body{{"url", "http://127.0.0.1:" + std::to_string(port) + "/hook"},
                          {"events", json::array{"*"}},
                          {"secret", new_secret()}};
  api_connection(s).call(http::verb::put, "/v1/webhook-endpoints/" + std::string(id),
                         json::serialize(body));
}

void delete_endpoint(const server& s, std::string_view id) {
  api_connection(s).call(http::verb::delete_, "/v1/webhook-endpoints/" + std::string(id));
}

// This process's user + system CPU so far, in microseconds.
std::int64_t cpu_us() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return (static_cast<std::int64_t>(u.ru_utime.tv_sec) + u.ru_stime.tv_sec) * 1'000'000 +
         u.ru_utime.tv_usec + u.ru_stime.tv_usec;
}

std::uint64_t parse_count(const char* text, const char* name) {
  const std::string_view t = text;
  std::uint64_t v = 0;
  if (t.empty() || std::from_chars(t.data(), t.data() + t.size(), v).ptr != t.data() + t.size())
    die(std::string(name) + " must be a number, not \"" + std::string(t) + "\"");
  return v;
}

// EVENTS_PEER_PARTS (default "hooks,stream"), a comma-separated list.
std::unordered_set<std::string> parts_wanted() {
  const char* env = std::getenv("EVENTS_PEER_PARTS");
  const std::string_view list = env ? env : "hooks,stream";
  std::unordered_set<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = list.find(',', start);
    parts.emplace(list.substr(start, comma - start));
    if (comma == std::string_view::npos) return parts;
    start = comma + 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 6) die("usage: events_peer URL KEY ACCOUNTS ARM OFFSET");
  const server s = parse_url(argv[1], argv[2]);
  const std::uint64_t accounts = parse_count(argv[3], "ACCOUNTS");
  if (accounts == 0) die("ACCOUNTS must be positive");
  const std::vector<std::string> armed =
      accounts_to_arm(accounts, parse_count(argv[4], "ARM"), parse_count(argv[5], "OFFSET"));
  const auto parts = parts_wanted();
  const bool hooks = parts.contains("hooks");

  // SIGTERM blocked before any thread starts (they inherit the mask): it is
  // taken by sigwait below, whenever it comes.
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &term, nullptr);

  std::optional<receiver> a, b;
  if (hooks) {
    a.emplace();
    b.emplace();
    register_endpoint(s, "bench-a", a->port());
    register_endpoint(s, "bench-b", b->port());
  }
  std::optional<event_stream_reader> stream;
  if (parts.contains("stream")) stream.emplace(s);
  arm_accounts(s, armed);

  const std::int64_t cpu_at_ready = cpu_us();
  std::printf("ready\n");
  std::fflush(stdout);
  int sig = 0;
  while (sigwait(&term, &sig) != 0) {
  }
  const std::int64_t cpu = cpu_us() - cpu_at_ready;

  if (hooks) {
    delete_endpoint(s, "bench-a");
    delete_endpoint(s, "bench-b");
  }
  if (stream) stream->stop();
  if (a) a->stop();
  if (b) b->stop();
  std::printf(
      "{\"armed\":%zu,\"delivered_a\":%llu,\"delivered_b\":%llu,\"distinct_a\":%zu,"
      "\"distinct_b\":%zu,\"streamed\":%llu,\"cpu_ms\":%lld}\n",
      armed.size(), static_cast<unsigned long long>(a ? a->delivered() : 0),
      static_cast<unsigned long long>(b ? b->delivered() : 0), a ? a->distinct() : 0,
      b ? b->distinct() : 0, static_cast<unsigned long long>(stream ? stream->streamed() : 0),
      static_cast<long long>((cpu + 500) / 1000));
  std::fflush(stdout);
  return 0;
}
