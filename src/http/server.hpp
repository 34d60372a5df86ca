// The HTTP/1.1 server: Boost.Beast over Asio, keep-alive, bounded everything
// (body, headers, idle time, connections, TLS handshakes), and a graceful
// drain on stop. Plain HTTP, or HTTPS only when given a TLS context. It
// answers HEAD on GET routes itself, writes a handler's extra headers and
// streams chunked bodies (handler.hpp). Pipelined requests already read are
// handled together and answered, in order, in one write. When accept fails for want of
// descriptors or memory it pauses instead of spinning.
// Thread-safe: run the io_context on any number of threads.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <expected>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

#include "http/handler.hpp"

namespace creditd::http {

struct server_options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;
  std::size_t body_bytes_max = 1 << 20;
  std::size_t header_bytes_max = 16 << 10;
  std::chrono::seconds read_timeout{30};  // for a whole request, from its first wait
  std::size_t connections_max = 10000;
  // Pipelined requests handled together: a batch, whose responses leave in
  // one write. Requests beyond it wait in the buffer for the next batch.
  // It also bounds what one connection holds: up to this many responses
  // (a journal page can be hundreds of KiB) until the batch's last is in.
  std::size_t pipelined_requests_max = 16;
  // TLS only: from the accept to the end of the handshake, and for the
  // close_notify exchange when a connection ends.
  std::chrono::seconds tls_handshake_timeout{10};
  std::chrono::seconds tls_shutdown_timeout{2};
  // After accept fails for want of resources (EMFILE, ENFILE, ENOBUFS,
  // ENOMEM): how long the server waits before it accepts again, unless a
  // connection closes first (which frees a descriptor).
  std::chrono::milliseconds accept_backoff{250};
};

// Raises the soft RLIMIT_NOFILE toward the hard limit, as far as
// `connections_max` plus the descriptors open now plus `fds_reserved` (for
// those opened later: store connections, files) need, then fits the
// connection cap under it: `connections_max`, or fewer when the limit cannot
// hold that many; never below 1. Changes the process's limit; call it once,
// at start.
struct fd_fit {
  std::uint64_t soft_before = 0;  // the soft limit found
  std::uint64_t soft = 0;         // the soft limit now
  std::uint64_t hard = 0;
  std::size_t fds_open = 0;
  std::size_t connections_max = 0;  // the cap that fits
};
fd_fit fit_fd_limit(std::size_t connections_max, std::size_t fds_reserved);
// The arithmetic of fit_fd_limit, pure.
std::size_t connections_fitting(std::uint64_t fd_limit, std::size_t fds_open,
                                std::size_t fds_reserved, std::size_t connections_max);
// Whether an accept error means the process or system is out of a resource
// (the listening socket stays readable, so accepting again at once spins).
bool accept_error_is_resource(const boost::system::error_code& ec);

// One connection, plain or TLS (server.cpp).
class session_base {
 public:
  virtual ~session_base() = default;
  // A strong reference; null once the last one is gone (the session is
  // being destroyed).
  virtual std::shared_ptr<session_base> strong() = 0;
  // Closes the connection if it is waiting for a request, and asks a body
  // stream in progress to stop (drain). The caller holds a strong reference.
  virtual void close_if_idle() = 0;
};

}  // namespace creditd::http

namespace boost::asio::ssl {
class context;
}

namespace creditd::http {

class metrics;

class server {
 public:
  // `h` (and `tls`, `stats` when given) must outlive the server and its
  // connections. With `tls` every connection speaks TLS and nothing else;
  // without it, plain HTTP. With `stats`, each response is counted there.
  //
  // The listening socket lives on `io`. Connections are spread over
  // `connection_contexts` in turn (`io` alone when empty); each of those
  // must be run by exactly one thread, since a connection's handlers run on
  // its io_context's executor without a strand.
  server(boost::asio::io_context& io, handler& h, server_options opts,
         boost::asio::ssl::context* tls = nullptr, metrics* stats = nullptr,
         std::vector<boost::asio::io_context*> connection_contexts = {});
  // Resolves the host (a name or an address; an IPv4 address first when a
  // name has several), binds and listens; returns the bound endpoint (port
  // 0 picks a free one). Errors name the host and port.
  std::expected<boost::asio::ip::tcp::endpoint, std::string> listen();
  // Stops accepting and closes idle keep-alive connections; requests in
  // flight finish and their connections close after the response.
  void drain();
  std::size_t connections() const { return connections_.load(); }
  bool draining() const { return draining_.load(); }
  // How many times accept has paused for want of resources.
  std::uint64_t accept_pauses() const { return accept_pauses_.load(); }

  // Session bookkeeping (used by session).
  void add(session_base* s);
  void remove(session_base* s);
  handler& request_handler() { return handler_; }
  metrics* stats() { return stats_; }
  const server_options& options() const { return opts_; }

 private:
  void accept();
  void pause_accept(const boost::system::error_code& ec);
  boost::asio::io_context& io_;
  std::vector<boost::asio::io_context*> contexts_;  // connections' event loops
  std::size_t next_context_ = 0;                    // on the acceptor's strand
  handler& handler_;
  metrics* stats_;
  server_options opts_;
  boost::asio::ssl::context* tls_;
  boost::asio::ip::tcp::acceptor acceptor_;
  // On the acceptor's strand: the pause after a resource error.
  boost::asio::steady_timer accept_timer_;
  bool accept_paused_logged_ = false;
  std::atomic<bool> accept_paused_{false};
  std::atomic<std::uint64_t> accept_pauses_{0};
  std::atomic<std::size_t> connections_{0};
  std::atomic<bool> draining_{false};
  std::mutex mu_;
  std::unordered_set<session_base*> sessions_;
};

}  // namespace creditd::http
