#include "http/webhook_delivery.hpp"

#include <openssl/ssl.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <optional>
#include <random>

#include "ledger/events.hpp"
#include "ledger/time.hpp"
#include "service/render.hpp"
#include "util/assert.hpp"
#include "util/json_text.hpp"
#include "util/log.hpp"
#include "util/thread_name.hpp"
#include "webhooks/signature.hpp"

namespace creditd::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

// An endpoint's connection, kept open between POSTs and batches. Its
// io_context runs only while a delivery thread sends on it (one at a time);
// the streams are destroyed before the io_context, so that what waits on
// them is cancelled into it.
struct webhook_connection {
  explicit webhook_connection(std::string u) : url(std::move(u)) {}
  net::io_context io{1};
  std::string url;  // where it leads (the endpoint's URL when it was made)
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer;
  bool is_open() const { return plain.has_value() || tls.has_value(); }
  void close() {
    tls.reset();
    plain.reset();
    buffer.clear();
  }
};

namespace {

// The outcome of one POST.
struct exchange {
  unsigned status = 0;
  std::string error;
};

using request_t = bhttp::request<bhttp::string_body>;

// A receiver's answer is read to its end (so that the connection can carry
// the next POST) up to this size; a longer one closes the connection.
constexpr std::size_t response_body_bytes_max = 64 << 10;
// A page of events taken from the feed holds about this much JSON at most.
constexpr std::size_t page_bytes_max = 1 << 20;

// The Host header for `u`: an IPv6 address in brackets, the port unless
// the scheme's own.
std::string host_header(const webhooks::url_parts& u) {
  const std::string host = u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host;
  const bool default_port = u.port == (u.tls ? 443 : 80);
  return default_port ? host : host + ":" + std::to_string(u.port);
}

// The POST of event `ev` to `u`, signed both ways with `secret` at `t`
// (Unix seconds), on a kept-alive connection.
request_t signed_post(const webhooks::url_parts& u, const std::string& host,
                      const std::string& secret, const service::feed_event& ev, std::int64_t t) {
  const std::string msg_id = "evt_" + std::to_string(ev.seq);
  request_t req(bhttp::verb::post, u.target, 11);
  req.set(bhttp::field::host, host);
  req.set(bhttp::field::user_agent, "creditd-webhooks/1");
  req.set(bhttp::field::content_type, "application/json");
  req.set("Creditd-Signature", webhooks::creditd_signature(secret, t, ev.json));
  req.set("webhook-id", msg_id);
  req.set("webhook-timestamp", std::to_string(t));
  req.set("webhook-signature", webhooks::standard_signature(secret, msg_id, t, ev.json));
  req.keep_alive(true);
  req.body() = ev.json;
  req.prepare_payload();
  return req;
}

// Opens `c` to `u`: resolve, connect, and for https the TLS handshake
// (certificate and host name verified). `stage` says how far it went.
net::awaitable<void> open_connection(webhook_connection& c, const webhooks::url_parts& u,
                                     net::ssl::context* tls, std::chrono::milliseconds timeout,
                                     std::string& stage) {
  auto ex = c.io.get_executor();
  tcp::resolver resolver(ex);
  beast::tcp_stream stream(ex);
  stream.expires_after(timeout);
  auto found = co_await resolver.async_resolve(u.host, std::to_string(u.port), net::use_awaitable);
  co_await stream.async_connect(found, net::use_awaitable);
  if (!u.tls) {
    c.plain.emplace(std::move(stream));
    co_return;
  }
  stage = "tls";
  c.tls.emplace(std::move(stream), *tls);
  if (!SSL_set_tlsext_host_name(c.tls->native_handle(), u.host.c_str()))
    throw boost::system::system_error(net::error::invalid_argument, "cannot set the server name");
  c.tls->set_verify_mode(net::ssl::verify_peer);
  c.tls->set_verify_callback(net::ssl::host_name_verification(u.host));
  beast::get_lowest_layer(*c.tls).expires_after(timeout);
  co_await c.tls->async_handshake(net::ssl::stream_base::client, net::use_awaitable);
}

// One request and its response on an open stream. `answered`: a response
// header came (its status in `status`); `keep`: the connection may carry
// the next request.
template <typename Stream>
net::awaitable<void> exchange_on(Stream& stream, beast::tcp_stream& timed,
                                 beast::flat_buffer& buffer, request_t& req,
                                 std::chrono::milliseconds response_timeout, bool& answered,
                                 bool& keep, unsigned& status) {
  timed.expires_after(response_timeout);
  co_await bhttp::async_write(stream, req, net::use_awaitable);
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(response_body_bytes_max);
  co_await bhttp::async_read_header(stream, buffer, parser, net::use_awaitable);
  answered = true;
  status = parser.get().result_int();
  keep = parser.get().keep_alive() && !parser.need_eof();
  if (keep && !parser.is_done())
    co_await bhttp::async_read(stream, buffer, parser, net::use_awaitable);
}

// One POST on the endpoint's connection, opened first when it is not open.
// A kept connection that fails before any answer (the receiver closed it
// while idle) is replaced once by a new one.
net::awaitable<void> post(webhook_connection& c, const webhooks::url_parts u, request_t req,
                          net::ssl::context* tls, std::chrono::milliseconds connect_timeout,
                          std::chrono::milliseconds response_timeout, exchange& out) {
  for (int round = 0;; ++round) {
    const bool reused = c.is_open();
    std::string stage = "connect";
    bool answered = false;
    bool keep = false;
    unsigned status = 0;
    try {
      if (!reused) co_await open_connection(c, u, tls, connect_timeout, stage);
      stage = "response";
      if (c.tls) {
        co_await exchange_on(*c.tls, beast::get_lowest_layer(*c.tls), c.buffer, req,
                             response_timeout, answered, keep, status);
      } else {
        co_await exchange_on(*c.plain, *c.plain, c.buffer, req, response_timeout, answered, keep,
                             status);
      }
      out.status = status;
      if (!keep) c.close();
      co_return;
    } catch (const boost::system::system_error& e) {
      c.close();
      if (answered) {
        out.status = status;  // the rest of the answer is not needed
        co_return;
      }
      const bool timeout = e.code() == beast::error::timeout;
      if (reused && round == 0 && !timeout) continue;
      out.status = 0;
      out.error = stage + ": " + (timeout ? "timeout" : e.code().message());
      co_return;
    }
  }
}

}  // namespace

std::expected<std::unique_ptr<delivery_worker>, std::string> delivery_worker::start(
    webhooks::registry& reg, store::journal_reader& journal, service::event_feed* feed,
    const server_clock& clock, delivery_options opts) {
  CREDITD_ASSERT(opts.in_flight_max >= 1);
  CREDITD_ASSERT(opts.batch_max >= 1 && opts.batch_max <= webhooks::deliveries_kept_max);
  auto tls = std::make_unique<net::ssl::context>(net::ssl::context::tls_client);
  boost::system::error_code ec;
  if (!opts.ca_file.empty()) {
    tls->load_verify_file(opts.ca_file, ec);
    if (ec) return std::unexpected("--webhook-ca-file " + opts.ca_file + ": " + ec.message());
  } else {
    tls->set_default_verify_paths(ec);
    if (ec) return std::unexpected("the system's CA certificates: " + ec.message());
  }
  std::unique_ptr<delivery_worker> w(
      new delivery_worker(reg, journal, feed, clock, std::move(opts)));
  w->tls_ = std::move(tls);
  w->scheduler_ = std::thread([p = w.get()] {
    util::name_this_thread("hooks");
    p->schedule_loop();
  });
  for (std::size_t i = 0; i < w->opts_.in_flight_max; ++i)
    w->deliverers_.emplace_back([p = w.get()] {
      util::name_this_thread("deliver");
      p->deliver_loop();
    });
  return w;
}

delivery_worker::delivery_worker(webhooks::registry& reg, store::journal_reader& journal,
                                 service::event_feed* feed, const server_clock& clock,
                                 delivery_options opts)
    : reg_(reg),
      journal_(journal),
      feed_(feed),
      clock_(clock),
      opts_(std::move(opts)),
      waker_(std::make_shared<waker>()) {
  waker_->worker = this;
}

delivery_worker::~delivery_worker() {
  stop();
}

void delivery_worker::stop() {
  {
    // The feed's wake-ups find no worker from now on.
    std::lock_guard lock(waker_->mu);
    waker_->worker = nullptr;
  }
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    jobs_.clear();
    // A delivery in flight is cut, not waited for (up to a connect and a
    // response timeout): unrecorded, it is sent again after the restart.
    for (net::io_context* io : in_flight_)
      io->stop();
  }
  wake_cv_.notify_all();
  jobs_cv_.notify_all();
  if (scheduler_.joinable()) scheduler_.join();
  for (auto& t : deliverers_) {
    if (t.joinable()) t.join();
  }
  std::lock_guard lock(mu_);
  idle_.clear();
}

void delivery_worker::wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  wake_cv_.notify_one();
}

void delivery_worker::schedule_loop() {
  while (true) {
    const std::uint64_t seen = feed_ ? feed_->last_seq() : 0;
    look();
    // The feed's next publish wakes it (besides the poll, for due retries).
    std::uint64_t ticket = 0;
    if (feed_) {
      ticket = feed_->wait(seen, [w = waker_] {
        std::lock_guard lock(w->mu);
        if (w->worker) w->worker->wake();
      });
      if (ticket == 0) wake();  // published during the look
    }
    {
      std::unique_lock lock(mu_);
      wake_cv_.wait_for(lock, opts_.poll, [&] { return stopping_ || woken_; });
      woken_ = false;
      if (stopping_) break;
    }
    if (ticket != 0) feed_->cancel(ticket);
  }
}

std::expected<delivery_worker::page, std::string> delivery_worker::read_after(
    std::uint64_t cursor) {
  page p;
  p.cursor = cursor;
  if (feed_) {
    auto r = feed_->read(cursor, {}, opts_.events_read_max, page_bytes_max);
    if (r.kept) {
      p.events = std::move(r.events);
      p.cursor = r.cursor;
      return p;
    }
  }
  // Older than what the feed keeps: the file (a prefix of the events, up to
  // --apply-delay-ms behind the feed).
  auto rows = journal_.events({.after = cursor, .limit = opts_.events_read_max});
  if (!rows) return std::unexpected(rows.error().message);
  for (const store::stored_event& row : *rows) {
    p.cursor = row.ev.seq;
    p.events.push_back(
        std::make_shared<const service::feed_event>(service::make_feed_event(row.ev, row.account)));
  }
  return p;
}

// One look at every enabled endpoint: those idle and due get their next
// events queued as a batch; events not of their types are passed over (the
// cursor moves).
void delivery_worker::look() {
  const std::vector<webhooks::registry::versioned> enabled = reg_.enabled();
  {
    // The connections of endpoints gone, disabled or sent elsewhere close.
    std::lock_guard lock(mu_);
    std::erase_if(idle_, [&](const auto& kv) {
      auto it = std::find_if(enabled.begin(), enabled.end(),
                             [&](const auto& v) { return v.e.id == kv.first; });
      return it == enabled.end() || it->e.url != kv.second->url;
    });
  }
  for (const webhooks::registry::versioned& listed : enabled) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      if (busy_.contains(listed.e.id)) continue;
      if (busy_.size() >= opts_.in_flight_max) return;
    }
    // Its state now, not as listed: a delivery that ended since the list
    // was taken has moved its cursor (recorded before it stopped being
    // busy), and the listed cursor would send its events again.
    const auto now = reg_.enabled_one(listed.e.id);
    if (!now) continue;
    const webhooks::registry::versioned& v = *now;
    const webhooks::endpoint& e = v.e;
    if (e.attempt > 0 && e.next_attempt_at > clock_.now()) continue;
    auto p = read_after(e.cursor);
    if (!p) {
      log::write(log::level::error, "webhook events cannot be read",
                 {{"endpoint", e.id}, {"error", p.error()}});
      return;
    }
    job j;
    j.e = e;
    if (take(j, std::move(*p)) == 0) {
      if (j.passed_to > e.cursor) {
        if (auto r = reg_.skip(e.id, v.version, j.passed_to); !r) {
          log::write(log::level::error, "webhook cursor cannot be written",
                     {{"endpoint", e.id}, {"error", r.error()}});
          return;
        }
      }
      continue;
    }
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      busy_.insert(e.id);
      j.version = v.version;
      if (auto it = idle_.find(e.id); it != idle_.end()) {
        j.conn = std::move(it->second);
        idle_.erase(it);
      }
      jobs_.push_back(std::move(j));
    }
    jobs_cv_.notify_one();
  }
}

void delivery_worker::deliver_loop() {
  while (true) {
    job j;
    {
      std::unique_lock lock(mu_);
      jobs_cv_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
      if (stopping_) return;
      j = std::move(jobs_.front());
      jobs_.pop_front();
    }
    // The endpoint's next batches on this thread while its events keep
    // coming, without a round trip through the scheduler; a few at most,
    // so that endpoints beyond the threads get their turn.
    for (std::size_t n = 1; deliver(j) && n < batches_per_job && next_batch(j); ++n) {
    }
    {
      std::lock_guard lock(mu_);
      busy_.erase(j.e.id);
      // The connection waits for the endpoint's next batch.
      if (!stopping_ && j.conn && j.conn->is_open()) idle_[j.e.id] = std::move(j.conn);
    }
    wake();  // a slot is free, and the endpoint may have more
  }
}

bool delivery_worker::next_batch(job& j) {
  const auto now = reg_.enabled_one(j.e.id);
  if (!now || now->version != j.version) return false;  // changed by the API meanwhile
  j.e = now->e;
  j.events.clear();
  j.passed_to = j.e.cursor;
  return extend(j, false);
}

bool delivery_worker::extend(job& j, bool linger) {
  if (j.events.size() >= opts_.batch_max) return false;
  linger = linger && feed_ != nullptr;
  const auto deadline = std::chrono::steady_clock::now() + opts_.record_linger;
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return false;
      // Lingering holds a slot: not when every slot is taken.
      linger = linger && busy_.size() < opts_.in_flight_max;
    }
    auto p = read_after(j.passed_to);
    if (!p) return false;  // the next look logs it
    if (take(j, std::move(*p)) > 0) return true;
    if (!linger || !wait_for_feed(j.passed_to, deadline)) return false;
  }
}

std::size_t delivery_worker::take(job& j, page p) const {
  const std::size_t before = j.events.size();
  j.passed_to = p.cursor;
  for (auto& ev : p.events) {
    if (!webhooks::takes(j.e.events, ledger::to_string(ev->type))) continue;
    if (j.events.size() == opts_.batch_max) {
      j.passed_to = j.events.back()->seq;
      break;
    }
    j.events.push_back(std::move(ev));
  }
  return j.events.size() - before;
}

bool delivery_worker::wait_for_feed(std::uint64_t after,
                                    std::chrono::steady_clock::time_point deadline) {
  struct signal {
    std::mutex mu;
    std::condition_variable cv;
    bool fired = false;
  };
  auto sig = std::make_shared<signal>();
  const std::uint64_t ticket = feed_->wait(after, [sig] {
    {
      std::lock_guard lock(sig->mu);
      sig->fired = true;
    }
    sig->cv.notify_one();
  });
  if (ticket == 0) return true;  // published already
  std::unique_lock lock(sig->mu);
  if (sig->cv.wait_until(lock, deadline, [&] { return sig->fired; })) return true;
  lock.unlock();
  return !feed_->cancel(ticket);  // false: it fired meanwhile
}

bool delivery_worker::deliver(job& j) {
  std::string problem;
  const auto u = webhooks::parse_url(j.e.url, &problem);
  const std::string host = u ? host_header(*u) : "";
  if (!j.conn || j.conn->url != j.e.url) j.conn = std::make_unique<webhook_connection>(j.e.url);
  // A POST is bounded even if a step ignores its timer (name resolution),
  // the retry on a new connection included.
  const auto bound =
      2 * (opts_.connect_timeout * 2 + opts_.response_timeout) + std::chrono::seconds(1);
  std::vector<webhooks::registry::attempt> made;
  made.reserve(j.events.size());
  bool cut = false;
  for (std::size_t i = 0; !cut; ++i) {
    // Every event sent: the endpoint's events published since, or within
    // record_linger, go in the same batch (up to batch_max in all).
    if (i == j.events.size() && !extend(j, true)) break;
    const service::feed_event& ev = *j.events[i];
    webhooks::registry::attempt a;
    a.d.seq = ev.seq;
    a.d.attempt = i == 0 ? j.e.attempt + 1 : 1;  // after a success, the first
    a.d.at = clock_.now();
    exchange out;
    const auto started = std::chrono::steady_clock::now();
    if (!u) {
      out.error = "url: " + problem;
    } else {
      // Signatures carry the real time: receivers check it against their clocks.
      request_t req = signed_post(*u, host, j.e.secret, ev, clock_.wall_now() / 1'000'000);
      webhook_connection& c = *j.conn;
      c.io.restart();
      {
        std::lock_guard lock(mu_);
        if (stopping_) break;
        in_flight_.insert(&c.io);
      }
      net::co_spawn(c.io,
                    post(c, *u, std::move(req), tls_.get(), opts_.connect_timeout,
                         opts_.response_timeout, out),
                    net::detached);
      c.io.run_for(bound);
      {
        std::lock_guard lock(mu_);
        in_flight_.erase(&c.io);
        cut = stopping_ && out.status == 0;
      }
      if (cut) break;  // by stop(): no attempt to record
      if (!c.io.stopped()) {
        // Still waiting: the connection goes, and what waits on it.
        c.io.stop();
        j.conn = std::make_unique<webhook_connection>(j.e.url);
        out.status = 0;
        out.error = "timeout";
      }
    }
    a.d.latency_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::steady_clock::now() - started)
                         .count();
    a.d.status = out.status;
    a.success = out.status >= 200 && out.status < 300;
    if (!a.success && out.error.empty()) out.error = "status " + std::to_string(out.status);
    a.d.error = a.success ? "" : out.error;
    if (out.status > 0 && !a.success) a.d.error.clear();  // the status says it
    thread_local std::mt19937_64 rng(std::random_device{}());
    a.jitter = std::min(std::uniform_real_distribution<double>(0.0, 1.0)(rng), 0.999999);
    made.push_back(std::move(a));
    if (!made.back().success) break;
  }
  if (made.empty()) return false;
  // Past the batch's last event only when every event was sent.
  const bool all_sent = made.size() == j.events.size() && made.back().success;
  auto r = reg_.record(j.e.id, j.version, made, all_sent ? j.passed_to : 0);
  if (!r) {
    log::write(log::level::error, "webhook attempts cannot be recorded",
               {{"endpoint", j.e.id}, {"error", r.error()}});
    return false;
  }
  if (*r && !(*r)->enabled && j.e.enabled) {
    log::write(log::level::error, "webhook endpoint disabled",
               {{"endpoint", j.e.id}, {"reason", (*r)->disabled_reason}, {"url", j.e.url}});
    // And the event webhook_endpoint.disabled, for the other endpoints and
    // the list.
    if (opts_.disabled) opts_.disabled(j.e.id, (*r)->disabled_reason);
  }
  return all_sent && *r;
}

}  // namespace creditd::http
