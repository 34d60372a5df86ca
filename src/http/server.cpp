#include "http/server.hpp"

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <cstdio>
#include <type_traits>
#include <vector>

#include "http/route.hpp"
#include "util/log.hpp"

namespace creditd::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

using plain_stream = beast::tcp_stream;
using tls_stream = beast::ssl_stream<beast::tcp_stream>;

// One connection over `Stream`: plain_stream or tls_stream. The request path
// is the same code for both, compiled twice; TLS adds a handshake before the
// first read and a close_notify before the close.
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
    // operation_aborted and closes the connection then.
    net::post(stream_.get_executor(), [self] {
      if (self->waiting_) self->socket_layer().cancel();
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
    started_ = std::chrono::steady_clock::now();
    request r;
    r.method = req.method();
    method_ = std::string(req.method_string());
    const target_parts target = split_target(req.target());
    r.path = std::string(target.path);
    r.query = std::string(target.query);
    r.body = std::move(req.body());
    if (auto it = req.find(bhttp::field::authorization); it != req.end())
      r.authorization = std::string(it->value());
    if (auto it = req.find("Idempotency-Key"); it != req.end())
      r.idempotency_key = std::string(it->value());
    route_ = srv_.handler().handle(std::move(r), [self = this->shared_from_this()](response resp) {
      net::post(self->stream_.get_executor(),
                [self, resp = std::move(resp)]() mutable { self->write(std::move(resp)); });
    });
  }

  void fail(unsigned status, std::string_view code, std::string message) {
    keep_alive_ = false;
    route_ = "(malformed)";
    started_ = std::chrono::steady_clock::now();
    write(error_response(status, code, message));
  }

  void write(response r) {
    auto res = std::make_shared<bhttp::response<bhttp::string_body>>(
        static_cast<bhttp::status>(r.status), 11);
    res->set(bhttp::field::server, "creditd");
    res->set(bhttp::field::content_type, r.content_type);
    if (r.retry_after_s > 0) res->set(bhttp::field::retry_after, std::to_string(r.retry_after_s));
    if (r.replayed) res->set("Idempotent-Replayed", "true");
    const bool keep = keep_alive_ && !srv_.draining();
    res->keep_alive(keep);
    const std::size_t bytes = r.body.size();
    res->body() = std::move(r.body);
    res->prepare_payload();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    srv_.handler().ctx().stats.observe(route_, r.status, seconds);
    if (r.status >= 500 || log::enabled(log::level::debug)) {
      char ms[32];
      std::snprintf(ms, sizeof ms, "%.3f", seconds * 1000);
      log::write(r.status >= 500 ? log::level::error : log::level::debug, "request",
                 {{"method", method_},
                  {"route", std::string(route_)},
                  {"status", std::to_string(r.status)},
                  {"ms", ms},
                  {"bytes", std::to_string(bytes)}});
    }
    socket_layer().expires_after(srv_.options().read_timeout);
    bhttp::async_write(
        stream_, *res,
        [self = this->shared_from_this(), res, keep](beast::error_code ec, std::size_t) {
          if (ec) return self->close_socket();
          if (!keep) return self->close();
          self->read();
        });
  }

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
  bool keep_alive_ = true;
  bool waiting_ = false;
  std::string_view route_;  // a static endpoint pattern
  std::string method_;
  std::chrono::steady_clock::time_point started_;
};

server::server(net::io_context& io, api& handler, server_options opts, net::ssl::context* tls)
    : io_(io), api_(handler), opts_(std::move(opts)), tls_(tls), acceptor_(net::make_strand(io)) {}

std::expected<tcp::endpoint, std::string> server::listen() {
  beast::error_code ec;
  auto address = net::ip::make_address(opts_.host, ec);
  if (ec) return std::unexpected("invalid listen address " + opts_.host);
  tcp::endpoint ep(address, opts_.port);
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    return std::unexpected("cannot listen on " + opts_.host + ":" + std::to_string(opts_.port) +
                           ": " + ec.message());
  accept();
  return acceptor_.local_endpoint();
}

void server::accept() {
  acceptor_.async_accept(net::make_strand(io_), [this](beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
    if (!ec) {
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

void server::add(session_base* s) {
  ++connections_;
  std::lock_guard lock(mu_);
  sessions_.insert(s);
}

void server::remove(session_base* s) {
  --connections_;
  std::lock_guard lock(mu_);
  sessions_.erase(s);
}

void server::drain() {
  draining_ = true;
  net::post(acceptor_.get_executor(), [this] {
    beast::error_code ec;
    acceptor_.close(ec);
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
