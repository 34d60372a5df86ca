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
#include <random>

#include "ledger/events.hpp"
#include "ledger/time.hpp"
#include "service/render.hpp"
#include "util/assert.hpp"
#include "util/json_text.hpp"
#include "util/log.hpp"
#include "webhooks/signature.hpp"

namespace creditd::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

std::string event_json(const store::stored_event& e) {
  std::string out;
  service::json_out j(out);
  service::render_event(j, e.ev, e.account);
  return out;
}

namespace {

// The outcome of one POST.
struct exchange {
  unsigned status = 0;
  std::string error;
};

using request_t = bhttp::request<bhttp::string_body>;

template <typename Stream>
net::awaitable<unsigned> send_and_read(Stream& stream, beast::tcp_stream& timed, request_t& req,
                                       std::chrono::milliseconds response_timeout) {
  timed.expires_after(response_timeout);
  co_await bhttp::async_write(stream, req, net::use_awaitable);
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::empty_body> parser;
  parser.skip(false);
  co_await bhttp::async_read_header(stream, buffer, parser, net::use_awaitable);
  co_return parser.get().result_int();
}

net::awaitable<void> post(const webhooks::url_parts u, request_t req, net::ssl::context* tls,
                          delivery_options opts, exchange& out) {
  auto ex = co_await net::this_coro::executor;
  std::string stage = "connect";
  try {
    tcp::resolver resolver(ex);
    beast::tcp_stream tcp_stream(ex);
    tcp_stream.expires_after(opts.connect_timeout);
    auto found =
        co_await resolver.async_resolve(u.host, std::to_string(u.port), net::use_awaitable);
    co_await tcp_stream.async_connect(found, net::use_awaitable);
    if (!u.tls) {
      stage = "response";
      out.status = co_await send_and_read(tcp_stream, tcp_stream, req, opts.response_timeout);
      beast::error_code ignored;
      tcp_stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
      co_return;
    }
    stage = "tls";
    beast::ssl_stream<beast::tcp_stream> stream(std::move(tcp_stream), *tls);
    if (!SSL_set_tlsext_host_name(stream.native_handle(), u.host.c_str())) {
      out.error = "tls: cannot set the server name";
      co_return;
    }
    stream.set_verify_mode(net::ssl::verify_peer);
    stream.set_verify_callback(net::ssl::host_name_verification(u.host));
    beast::get_lowest_layer(stream).expires_after(opts.connect_timeout);
    co_await stream.async_handshake(net::ssl::stream_base::client, net::use_awaitable);
    stage = "response";
    out.status =
        co_await send_and_read(stream, beast::get_lowest_layer(stream), req, opts.response_timeout);
  } catch (const boost::system::system_error& e) {
    out.status = 0;
    out.error = stage + ": " + (e.code() == beast::error::timeout ? "timeout" : e.code().message());
  }
}

}  // namespace

std::expected<std::unique_ptr<delivery_worker>, std::string> delivery_worker::start(
    webhooks::registry& reg, store::journal_reader& journal, const server_clock& clock,
    delivery_options opts) {
  CREDITD_ASSERT(opts.in_flight_max >= 1);
  auto tls = std::make_unique<net::ssl::context>(net::ssl::context::tls_client);
  boost::system::error_code ec;
  if (!opts.ca_file.empty()) {
    tls->load_verify_file(opts.ca_file, ec);
    if (ec) return std::unexpected("--webhook-ca-file " + opts.ca_file + ": " + ec.message());
  } else {
    tls->set_default_verify_paths(ec);
    if (ec) return std::unexpected("the system's CA certificates: " + ec.message());
  }
  std::unique_ptr<delivery_worker> w(new delivery_worker(reg, journal, clock, std::move(opts)));
  w->tls_ = std::move(tls);
  w->scheduler_ = std::thread([p = w.get()] { p->schedule_loop(); });
  for (std::size_t i = 0; i < w->opts_.in_flight_max; ++i)
    w->deliverers_.emplace_back([p = w.get()] { p->deliver_loop(); });
  return w;
}

delivery_worker::delivery_worker(webhooks::registry& reg, store::journal_reader& journal,
                                 const server_clock& clock, delivery_options opts)
    : reg_(reg), journal_(journal), clock_(clock), opts_(std::move(opts)) {}

delivery_worker::~delivery_worker() {
  stop();
}

void delivery_worker::stop() {
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
    {
      std::unique_lock lock(mu_);
      wake_cv_.wait_for(lock, opts_.poll, [&] { return stopping_ || woken_; });
      if (stopping_) return;
      woken_ = false;
    }
    look();
  }
}

// One look at every enabled endpoint: those idle and due get their next
// event queued; events not of their types are skipped (the cursor moves).
void delivery_worker::look() {
  for (const webhooks::registry::versioned& listed : reg_.enabled()) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      if (busy_.contains(listed.e.id)) continue;
      if (busy_.size() >= opts_.in_flight_max) return;
    }
    // Its state now, not as listed: a delivery that ended since the list
    // was taken has moved its cursor (recorded before it stopped being
    // busy), and the listed cursor would send that event again.
    const auto now = reg_.enabled_one(listed.e.id);
    if (!now) continue;
    const webhooks::registry::versioned& v = *now;
    const webhooks::endpoint& e = v.e;
    if (e.attempt > 0 && e.next_attempt_at > clock_.now()) continue;
    auto page = journal_.events({.after = e.cursor, .limit = opts_.events_read_max});
    if (!page) {
      log::write(log::level::error, "webhook events cannot be read",
                 {{"endpoint", e.id}, {"error", page.error().message}});
      return;
    }
    std::optional<store::stored_event> next;
    std::uint64_t skipped_to = 0;
    for (store::stored_event& ev : *page) {
      if (webhooks::takes(e.events, ledger::to_string(ev.ev.type))) {
        next = std::move(ev);
        break;
      }
      skipped_to = ev.ev.seq;
    }
    if (skipped_to > 0) {
      if (auto r = reg_.skip(e.id, v.version, skipped_to); !r) {
        log::write(log::level::error, "webhook cursor cannot be written",
                   {{"endpoint", e.id}, {"error", r.error()}});
        return;
      }
    }
    if (!next) continue;
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      busy_.insert(e.id);
      webhooks::endpoint copy = e;
      if (skipped_to > copy.cursor) copy.cursor = skipped_to;
      jobs_.push_back(job{std::move(copy), v.version, std::move(*next)});
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
    deliver(j);
    {
      std::lock_guard lock(mu_);
      busy_.erase(j.e.id);
    }
    wake();  // its next event, at once
  }
}

void delivery_worker::deliver(job& j) {
  const std::string body = event_json(j.ev);
  const std::string msg_id = "evt_" + std::to_string(j.ev.ev.seq);
  // Signatures carry the real time: receivers check it against their clocks.
  const std::int64_t t = clock_.wall_now() / 1'000'000;
  webhooks::delivery d;
  d.seq = j.ev.ev.seq;
  d.attempt = j.e.attempt + 1;
  d.at = clock_.now();
  exchange out;
  std::string problem;
  auto u = webhooks::parse_url(j.e.url, &problem);
  const auto started = std::chrono::steady_clock::now();
  if (!u) {
    out.error = "url: " + problem;
  } else {
    request_t req(bhttp::verb::post, u->target, 11);
    const bool default_port = u->port == (u->tls ? 443 : 80);
    const std::string host = u->host.find(':') != std::string::npos ? "[" + u->host + "]" : u->host;
    req.set(bhttp::field::host, default_port ? host : host + ":" + std::to_string(u->port));
    req.set(bhttp::field::user_agent, "creditd-webhooks/1");
    req.set(bhttp::field::content_type, "application/json");
    req.set("Creditd-Signature", webhooks::creditd_signature(j.e.secret, t, body));
    req.set("webhook-id", msg_id);
    req.set("webhook-timestamp", std::to_string(t));
    req.set("webhook-signature", webhooks::standard_signature(j.e.secret, msg_id, t, body));
    req.keep_alive(false);
    req.body() = body;
    req.prepare_payload();
    net::io_context io;
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      in_flight_.insert(&io);
    }
    net::co_spawn(io, post(*u, std::move(req), tls_.get(), opts_, out), net::detached);
    // Bounded even if a step ignores its timer (name resolution).
    io.run_for(opts_.connect_timeout * 2 + opts_.response_timeout + std::chrono::seconds(1));
    bool cut = false;
    {
      std::lock_guard lock(mu_);
      in_flight_.erase(&io);
      cut = stopping_ && out.status == 0;
    }
    if (cut) return;  // by stop(): no attempt to record
    if (!io.stopped()) {
      io.stop();
      out.status = 0;
      out.error = "timeout";
    }
  }
  d.latency_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::steady_clock::now() - started)
                     .count();
  d.status = out.status;
  const bool success = out.status >= 200 && out.status < 300;
  if (!success && out.error.empty()) out.error = "status " + std::to_string(out.status);
  d.error = success ? "" : out.error;
  if (out.status > 0 && !success) d.error.clear();  // the status says it
  thread_local std::mt19937_64 rng(std::random_device{}());
  const double jitter = std::min(std::uniform_real_distribution<double>(0.0, 1.0)(rng), 0.999999);
  auto r = reg_.record(j.e.id, j.version, d, success, jitter);
  if (!r) {
    log::write(log::level::error, "webhook attempt cannot be recorded",
               {{"endpoint", j.e.id}, {"error", r.error()}});
    return;
  }
  if (*r && !(*r)->enabled && j.e.enabled) {
    log::write(log::level::error, "webhook endpoint disabled",
               {{"endpoint", j.e.id}, {"reason", (*r)->disabled_reason}, {"url", j.e.url}});
    // And the event webhook_endpoint.disabled, for the other endpoints and
    // the list.
    if (opts_.disabled) opts_.disabled(j.e.id, (*r)->disabled_reason);
  }
}

}  // namespace creditd::http
