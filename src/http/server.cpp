#include "http/server.hpp"

#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <type_traits>
#include <vector>

#include "http/api.hpp"
#include "http/metrics.hpp"
#include "http/route.hpp"
#include "util/assert.hpp"
#include "util/log.hpp"

namespace creditd::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

using plain_stream = beast::tcp_stream;
using tls_stream = beast::ssl_stream<beast::tcp_stream>;

namespace {

// RFC 9110 token characters (header names).
bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

bool is_header_value(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

// Headers that frame the message: the server's alone.
bool is_framing(std::string_view name) {
  return beast::iequals(name, "Content-Length") || beast::iequals(name, "Transfer-Encoding") ||
         beast::iequals(name, "Connection");
}

// The status line and the headers of `r`, on any body type.
template <typename Body>
void fill_header(bhttp::response<Body>& res, const response& r, std::string_view route) {
  res.set(bhttp::field::server, "creditd");
  res.set(bhttp::field::content_type, r.content_type);
  if (r.retry_after_s > 0) res.set(bhttp::field::retry_after, std::to_string(r.retry_after_s));
  if (r.replayed) res.set("Idempotent-Replayed", "true");
  for (const auto& [name, value] : r.headers) {
    if (!is_token(name) || !is_header_value(value) || is_framing(name)) {
      log::write(log::level::error, "response header dropped",
                 {{"route", std::string(route)}, {"header", name}});
      continue;
    }
    if (beast::iequals(name, "Server") || beast::iequals(name, "Content-Type")) {
      res.set(name, value);
    } else {
      res.insert(name, value);
    }
  }
}

}  // namespace

// One connection over `Stream`: plain_stream or tls_stream. The request path
// is the same code for both, compiled twice; TLS adds a handshake before the
// first read and a close_notify before the close.
//
// A streamed body (response::stream) goes out as chunks: the session pulls
// one chunk at a time from the producer, writes it, and pulls again. While it
// waits for the producer it watches the socket (async_wait, which consumes
// nothing), so a client that leaves is noticed then too. Everything runs on
// the connection's strand; the producer's `give` posts to it.
template <typename Stream>
class session final : public session_base, public std::enable_shared_from_this<session<Stream>> {
  static constexpr bool tls = std::is_same_v<Stream, tls_stream>;

 public:
  session(tcp::socket socket, server& srv) requires(!tls) : stream_(std::move(socket)), srv_(srv) {}
  session(tcp::socket socket, server& srv, net::ssl::context& ctx) requires tls
      : stream_(std::move(socket), ctx),
        srv_(srv) {}

  void start() {
    srv_.add(this);
    net::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
      if constexpr (tls) {
        self->handshake();
      } else {
        self->read();
      }
    });
  }
  ~session() override { srv_.remove(this); }

  std::shared_ptr<session_base> strong() override { return this->weak_from_this().lock(); }

  void close_if_idle() override {
    auto self = this->shared_from_this();
    // Cancel, never close: a read that has already completed (its handler
    // queued behind this one) must still be answered, or a request could be
    // committed with no reply. A read still pending ends with
    // operation_aborted and closes the connection then. A stream in
    // progress is asked to stop; the connection closes after it.
    net::post(stream_.get_executor(), [self] {
      if (self->waiting_) self->socket_layer().cancel();
      self->stop_stream();
    });
  }

 private:
  beast::tcp_stream& socket_layer() { return beast::get_lowest_layer(stream_); }

  // TLS: a client that never finishes its handshake holds its slot for at
  // most tls_handshake_timeout.
  void handshake() requires tls {
    if (srv_.draining()) return close_socket();
    socket_layer().expires_after(srv_.options().tls_handshake_timeout);
    waiting_ = true;
    stream_.async_handshake(net::ssl::stream_base::server,
                            [self = this->shared_from_this()](beast::error_code ec) {
                              self->waiting_ = false;
                              if (ec) return self->close_socket();
                              self->read();
                            });
  }

  void read() {
    if (srv_.draining()) return close();
    parser_.emplace();
    parser_->body_limit(srv_.options().body_bytes_max);
    parser_->header_limit(static_cast<std::uint32_t>(srv_.options().header_bytes_max));
    socket_layer().expires_after(srv_.options().read_timeout);
    waiting_ = true;
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                        self->on_read(ec);
                      });
  }

  void on_read(beast::error_code ec) {
    waiting_ = false;
    // The peer said goodbye: say it back (TLS: close_notify).
    if (ec == bhttp::error::end_of_stream || ec == net::error::eof) return close();
    // Silent, gone, or drained: no goodbye that nobody would wait for.
    if (ec == beast::error::timeout || ec == net::error::operation_aborted ||
        ec == net::error::connection_reset || ec == net::ssl::error::stream_truncated) {
      return close_socket();
    }
    if (ec == bhttp::error::body_limit) {
      return fail(413, "payload_too_large",
                  "the body is larger than the limit of " +
                      std::to_string(srv_.options().body_bytes_max) + " bytes");
    }
    if (ec == bhttp::error::header_limit) {
      return fail(431, "headers_too_large", "the request headers are larger than the limit");
    }
    // Only a request the parser refused gets an answer; a broken connection
    // or TLS record does not.
    if (ec && ec.category() != bhttp::make_error_code(bhttp::error::bad_target).category())
      return close_socket();
    if (ec) return fail(400, "invalid_request", "malformed HTTP request");
    socket_layer().expires_never();
    auto& req = parser_->get();
    keep_alive_ = req.keep_alive();
    http10_ = req.version() < 11;
    started_ = std::chrono::steady_clock::now();
    request r;
    // HEAD is GET without the body: the handler sees a GET, write() drops
    // the body and keeps its headers.
    head_ = req.method() == bhttp::verb::head;
    r.method = head_ ? bhttp::verb::get : req.method();
    method_ = std::string(req.method_string());
    const target_parts target = split_target(req.target());
    r.path = std::string(target.path);
    r.query = std::string(target.query);
    r.body = std::move(req.body());
    if (auto it = req.find(bhttp::field::authorization); it != req.end())
      r.authorization = std::string(it->value());
    if (auto it = req.find("Idempotency-Key"); it != req.end())
      r.idempotency_key = std::string(it->value());
    if (auto it = req.find("Stripe-Signature"); it != req.end())
      r.stripe_signature = std::string(it->value());
    route_ = srv_.request_handler().handle(
        std::move(r), [self = this->shared_from_this()](response resp) {
          net::post(self->stream_.get_executor(),
                    [self, resp = std::move(resp)]() mutable { self->write(std::move(resp)); });
        });
  }

  void fail(unsigned status, std::string_view code, std::string message) {
    keep_alive_ = false;
    head_ = false;
    route_ = "(malformed)";
    started_ = std::chrono::steady_clock::now();
    write(error_response(status, code, message));
  }

  // Counts the response and logs it (errors always, everything at debug).
  void observe(unsigned status, const std::string& bytes) {
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    if (metrics* stats = srv_.stats()) stats->observe(route_, status, seconds);
    if (status >= 500 || log::enabled(log::level::debug)) {
      char ms[32];
      std::snprintf(ms, sizeof ms, "%.3f", seconds * 1000);
      log::write(status >= 500 ? log::level::error : log::level::debug, "request",
                 {{"method", method_},
                  {"route", std::string(route_)},
                  {"status", std::to_string(status)},
                  {"ms", ms},
                  {"bytes", bytes}});
    }
  }

  void write(response r) {
    keep_ = keep_alive_ && !srv_.draining();
    socket_layer().expires_after(srv_.options().read_timeout);
    if (head_) return write_head(std::move(r));
    if (r.stream) return start_stream(std::move(r));
    auto res = std::make_shared<bhttp::response<bhttp::string_body>>(
        static_cast<bhttp::status>(r.status), 11);
    fill_header(*res, r, route_);
    res->keep_alive(keep_);
    const std::size_t bytes = r.body.size();
    res->body() = std::move(r.body);
    res->prepare_payload();
    observe(r.status, std::to_string(bytes));
    bhttp::async_write(stream_, *res,
                       [self = this->shared_from_this(), res](beast::error_code ec, std::size_t) {
                         self->after_response(ec);
                       });
  }

  // HEAD: the headers of the GET response (Content-Length of its body, or
  // Transfer-Encoding: chunked for a stream, which is never pulled).
  void write_head(response r) {
    auto res = std::make_shared<bhttp::response<bhttp::empty_body>>(
        static_cast<bhttp::status>(r.status), 11);
    fill_header(*res, r, route_);
    res->keep_alive(keep_);
    if (r.stream) {
      res->chunked(!http10_);
    } else {
      res->content_length(r.body.size());
    }
    observe(r.status, "0");
    auto sr = std::make_shared<bhttp::response_serializer<bhttp::empty_body>>(*res);
    bhttp::async_write_header(stream_, *sr,
                              [self = this->shared_from_this(), res, sr](
                                  beast::error_code ec, std::size_t) { self->after_response(ec); });
  }

  void after_response(beast::error_code ec) {
    if (ec) return close_socket();
    if (!keep_) return close();
    read();
  }

  // ------------------------------------------------------------ streaming

  void start_stream(response r) {
    body_ = std::move(r.stream);
    // A drain that began while the request was in flight.
    if (srv_.draining()) stop_stream();
    // HTTP/1.0 has no chunked coding: the body ends where the connection does.
    if (http10_) keep_ = false;
    auto res = std::make_shared<bhttp::response<bhttp::empty_body>>(
        static_cast<bhttp::status>(r.status), 11);
    fill_header(*res, r, route_);
    res->keep_alive(keep_);
    res->chunked(!http10_);
    observe(r.status, "streamed");
    auto sr = std::make_shared<bhttp::response_serializer<bhttp::empty_body>>(*res);
    bhttp::async_write_header(
        stream_, *sr,
        [self = this->shared_from_this(), res, sr](beast::error_code ec, std::size_t) {
          if (ec || self->gone_) return self->client_gone();
          self->socket_layer().expires_never();
          self->watch();
          self->pull();
        });
  }

  void pull() {
    awaiting_ = true;
    auto given = std::make_shared<std::atomic<bool>>(false);
    body_->next([self = this->shared_from_this(), given](std::optional<std::string> chunk) {
      CREDITD_ASSERT(!given->exchange(true));  // one give per next
      net::post(self->stream_.get_executor(),
                [self, chunk = std::move(chunk)]() mutable { self->on_chunk(std::move(chunk)); });
    });
  }

  void on_chunk(std::optional<std::string> chunk) {
    awaiting_ = false;
    if (gone_) {
      body_.reset();
      return;
    }
    auto self = this->shared_from_this();
    socket_layer().expires_after(srv_.options().read_timeout);
    if (!chunk) {
      body_.reset();
      if (http10_) return end_stream();  // the close ends the body
      net::async_write(stream_, bhttp::make_chunk_last(),
                       [self](beast::error_code ec, std::size_t) {
                         if (ec || self->gone_) return self->client_gone();
                         self->end_stream();
                       });
      return;
    }
    if (chunk->empty()) return pull();  // an empty chunk would end the body
    chunk_ = std::move(*chunk);
    auto written = [self](beast::error_code ec, std::size_t) {
      if (ec || self->gone_) return self->client_gone();
      self->socket_layer().expires_never();
      self->pull();
    };
    if (http10_) {
      net::async_write(stream_, net::buffer(chunk_), std::move(written));
    } else {
      net::async_write(stream_, bhttp::make_chunk(net::buffer(chunk_)), std::move(written));
    }
  }

  // Waits for the socket to turn readable while the stream runs: end of
  // file or an error means the client left.
  void watch() {
    if (watching_ || gone_) return;
    watching_ = true;
    socket_layer().socket().async_wait(
        tcp::socket::wait_read,
        [self = this->shared_from_this()](beast::error_code ec) { self->on_watch(ec); });
  }

  void on_watch(beast::error_code ec) {
    watching_ = false;
    if (stream_done_) return after_stream();
    if (gone_) return;
    if (ec) return client_gone();
    char byte = 0;
    const ssize_t n =
        ::recv(socket_layer().socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) return client_gone();
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return watch();
      return client_gone();
    }
    // The client sent bytes (a pipelined request, TLS records): they stay
    // for the next read, and a departure is then seen by a failed write.
  }

  void stop_stream() {
    if (!body_ || stop_sent_) return;
    stop_sent_ = true;
    body_->stop();
  }

  // A write failed or timed out, or the peer closed: no more pulls; a pull
  // in flight keeps the producer until it gives.
  void client_gone() {
    if (gone_) return;
    gone_ = true;
    stop_stream();
    if (!awaiting_) body_.reset();
    close_socket();
  }

  // The last chunk is written: the watch ends (cancelled, nothing else is
  // pending on the socket) before the next request is read.
  void end_stream() {
    stream_done_ = true;
    if (watching_) {
      beast::error_code ignored;
      socket_layer().socket().cancel(ignored);
      return;  // on_watch continues
    }
    after_stream();
  }

  void after_stream() {
    stream_done_ = false;
    stop_sent_ = false;
    if (!keep_ || srv_.draining()) return close();
    read();
  }

  // ------------------------------------------------------------ closing

  void close() {
    if constexpr (tls) {
      // close_notify, then the socket; a peer that does not answer gets
      // tls_shutdown_timeout.
      socket_layer().expires_after(srv_.options().tls_shutdown_timeout);
      stream_.async_shutdown(
          [self = this->shared_from_this()](beast::error_code) { self->close_socket(); });
    } else {
      close_socket();
    }
  }

  void close_socket() {
    beast::error_code ec;
    socket_layer().socket().shutdown(tcp::socket::shutdown_both, ec);
    socket_layer().close();
  }

  Stream stream_;
  server& srv_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  bool keep_alive_ = true;  // the request's
  bool keep_ = true;        // the response's
  bool waiting_ = false;
  bool head_ = false;
  bool http10_ = false;     // an HTTP/1.0 request: no chunked coding
  std::string_view route_;  // a static endpoint pattern
  std::string method_;
  std::chrono::steady_clock::time_point started_;
  // The stream in progress.
  std::shared_ptr<body_stream> body_;
  std::string chunk_;         // the chunk being written
  bool awaiting_ = false;     // a next() call is unanswered
  bool watching_ = false;     // an async_wait is pending
  bool stop_sent_ = false;    // body_->stop() was called
  bool gone_ = false;         // the client left; the socket is closed
  bool stream_done_ = false;  // the last chunk is written
};

// ------------------------------------------------------------------ limits

std::size_t connections_fitting(std::uint64_t fd_limit, std::size_t fds_open,
                                std::size_t fds_reserved, std::size_t connections_max) {
  const std::uint64_t taken = static_cast<std::uint64_t>(fds_open) + fds_reserved;
  if (fd_limit >= taken + connections_max) return connections_max;
  if (fd_limit <= taken) return 1;
  return static_cast<std::size_t>(std::max<std::uint64_t>(1, fd_limit - taken));
}

fd_fit fit_fd_limit(std::size_t connections_max, std::size_t fds_reserved) {
  fd_fit fit;
  std::error_code ec;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end;
       it.increment(ec)) {
    ++fit.fds_open;
  }
  if (fit.fds_open > 0) --fit.fds_open;  // the directory's own descriptor
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) != 0) {
    fit.connections_max = connections_max;
    return fit;
  }
  fit.soft_before = r.rlim_cur;
  fit.hard = r.rlim_max;
  // As far as needed, no further: up to the hard limit.
  const std::uint64_t wanted =
      static_cast<std::uint64_t>(fit.fds_open) + fds_reserved + connections_max;
  if (r.rlim_cur != RLIM_INFINITY && r.rlim_cur < wanted) {
    rlimit raised = r;
    raised.rlim_cur =
        r.rlim_max == RLIM_INFINITY ? wanted : std::min<std::uint64_t>(wanted, r.rlim_max);
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) r = raised;
  }
  fit.soft = r.rlim_cur;
  fit.connections_max =
      r.rlim_cur == RLIM_INFINITY
          ? connections_max
          : connections_fitting(r.rlim_cur, fit.fds_open, fds_reserved, connections_max);
  return fit;
}

bool accept_error_is_resource(const boost::system::error_code& ec) {
  return ec == net::error::no_descriptors ||
         ec == boost::system::errc::too_many_files_open_in_system ||
         ec == net::error::no_buffer_space || ec == net::error::no_memory;
}

// ------------------------------------------------------------------ server

server::server(net::io_context& io, handler& h, server_options opts, net::ssl::context* tls,
               metrics* stats)
    : io_(io),
      handler_(h),
      stats_(stats),
      opts_(std::move(opts)),
      tls_(tls),
      acceptor_(net::make_strand(io)),
      accept_timer_(acceptor_.get_executor()) {}

namespace {

std::string show(const tcp::endpoint& ep) {
  std::string a = ep.address().to_string();
  if (ep.address().is_v6()) a = "[" + a + "]";
  return a + ":" + std::to_string(ep.port());
}

}  // namespace

std::expected<tcp::endpoint, std::string> server::listen() {
  const std::string where =
      (opts_.host.find(':') != std::string::npos ? "[" + opts_.host + "]" : opts_.host) + ":" +
      std::to_string(opts_.port);
  beast::error_code ec;
  std::vector<tcp::endpoint> candidates;
  const auto address = net::ip::make_address(opts_.host, ec);
  if (!ec) {
    candidates.emplace_back(address, opts_.port);
  } else {
    // A name: every address it resolves to, IPv4 first (clients default to
    // 127.0.0.1, and IPv6 may be off); the first that binds is used.
    tcp::resolver resolver(io_);
    ec = {};
    const auto results = resolver.resolve(opts_.host, std::to_string(opts_.port),
                                          tcp::resolver::numeric_service, ec);
    if (ec || results.empty())
      return std::unexpected("cannot resolve the listen host " + opts_.host + ": " +
                             (ec ? ec.message() : std::string("no address")));
    for (const auto& entry : results) {
      if (std::find(candidates.begin(), candidates.end(), entry.endpoint()) == candidates.end())
        candidates.push_back(entry.endpoint());
    }
    std::stable_partition(candidates.begin(), candidates.end(),
                          [](const tcp::endpoint& e) { return e.address().is_v4(); });
  }
  std::string errors;
  for (const tcp::endpoint& ep : candidates) {
    ec = {};
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    tcp::endpoint bound;
    if (!ec) bound = acceptor_.local_endpoint(ec);
    if (!ec) {
      accept();
      return bound;
    }
    errors += (errors.empty() ? "" : "; ") + (candidates.size() > 1 ? show(ep) + ": " : "") +
              ec.message();
    beast::error_code ignored;
    acceptor_.close(ignored);
  }
  return std::unexpected("cannot listen on " + where + ": " + errors);
}

void server::accept() {
  acceptor_.async_accept(net::make_strand(io_), [this](beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
    // Out of descriptors or memory: the pending connection stays queued and
    // the listening socket readable, so accepting again at once would spin.
    if (accept_error_is_resource(ec)) return pause_accept(ec);
    if (!ec) {
      if (accept_paused_logged_) {
        accept_paused_logged_ = false;
        log::write(log::level::info, "accepting again",
                   {{"connections", std::to_string(connections_.load())}});
      }
      if (connections_.load() >= opts_.connections_max || draining_.load()) {
        beast::error_code ignored;
        socket.close(ignored);
      } else {
        socket.set_option(tcp::no_delay(true), ec);
        if (tls_ != nullptr) {
          std::make_shared<session<tls_stream>>(std::move(socket), *this, *tls_)->start();
        } else {
          std::make_shared<session<plain_stream>>(std::move(socket), *this)->start();
        }
      }
    }
    accept();
  });
}

// On the acceptor's strand. Logged once per episode (until an accept
// succeeds); remove() ends the pause early when a connection closes.
void server::pause_accept(const boost::system::error_code& ec) {
  ++accept_pauses_;
  if (!accept_paused_logged_) {
    accept_paused_logged_ = true;
    log::write(log::level::error, "accept paused",
               {{"error", ec.message()},
                {"connections", std::to_string(connections_.load())},
                {"retry_ms", std::to_string(opts_.accept_backoff.count())}});
  }
  accept_paused_ = true;
  accept_timer_.expires_after(opts_.accept_backoff);
  accept_timer_.async_wait([this](beast::error_code) {
    accept_paused_ = false;
    if (!acceptor_.is_open()) return;
    accept();
  });
}

void server::add(session_base* s) {
  ++connections_;
  std::lock_guard lock(mu_);
  sessions_.insert(s);
}

void server::remove(session_base* s) {
  --connections_;
  {
    std::lock_guard lock(mu_);
    sessions_.erase(s);
  }
  // A descriptor was freed: a paused accept may go on now.
  if (accept_paused_.load())
    net::post(acceptor_.get_executor(), [this] { accept_timer_.cancel(); });
}

void server::drain() {
  draining_ = true;
  net::post(acceptor_.get_executor(), [this] {
    beast::error_code ec;
    acceptor_.close(ec);
    accept_timer_.cancel();
  });
  // Strong references are taken under the lock and used after it: the last
  // reference to a session may be dropped here, and its destructor takes mu_.
  std::vector<std::shared_ptr<session_base>> live;
  {
    std::lock_guard lock(mu_);
    live.reserve(sessions_.size());
    for (session_base* s : sessions_) {
      if (auto p = s->strong()) live.push_back(std::move(p));
    }
  }
  for (const auto& s : live)
    s->close_if_idle();
}

}  // namespace creditd::http
