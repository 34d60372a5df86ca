// The HTTP/1.1 server: Boost.Beast over Asio, keep-alive, bounded everything
// (body, headers, idle time, connections, TLS handshakes), and a graceful
// drain on stop. Plain HTTP, or HTTPS only when given a TLS context.
// Thread-safe: run the io_context on any number of threads.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>

#include "http/api.hpp"

namespace creditd::http {

struct server_options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;
  std::size_t body_bytes_max = 1 << 20;
  std::size_t header_bytes_max = 16 << 10;
  std::chrono::seconds read_timeout{30};  // for a whole request, from its first wait
  std::size_t connections_max = 10000;
  // TLS only: from the accept to the end of the handshake, and for the
  // close_notify exchange when a connection ends.
  std::chrono::seconds tls_handshake_timeout{10};
  std::chrono::seconds tls_shutdown_timeout{2};
};

// One connection, plain or TLS (server.cpp).
class session_base {
 public:
  virtual ~session_base() = default;
  // A strong reference; null once the last one is gone (the session is
  // being destroyed).
  virtual std::shared_ptr<session_base> strong() = 0;
  // Closes the connection if it is waiting for a request (drain). The
  // caller holds a strong reference.
  virtual void close_if_idle() = 0;
};

}  // namespace creditd::http

namespace boost::asio::ssl {
class context;
}

namespace creditd::http {

class server {
 public:
  // With `tls` (which must outlive the server) every connection speaks TLS
  // and nothing else; without it, plain HTTP.
  server(boost::asio::io_context& io, api& handler, server_options opts,
         boost::asio::ssl::context* tls = nullptr);
  // Binds and listens; returns the bound endpoint (port 0 picks a free one).
  std::expected<boost::asio::ip::tcp::endpoint, std::string> listen();
  // Stops accepting and closes idle keep-alive connections; requests in
  // flight finish and their connections close after the response.
  void drain();
  std::size_t connections() const { return connections_.load(); }
  bool draining() const { return draining_.load(); }

  // Session bookkeeping (used by session).
  void add(session_base* s);
  void remove(session_base* s);
  api& handler() { return api_; }
  const server_options& options() const { return opts_; }

 private:
  void accept();
  boost::asio::io_context& io_;
  api& api_;
  server_options opts_;
  boost::asio::ssl::context* tls_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::atomic<std::size_t> connections_{0};
  std::atomic<bool> draining_{false};
  std::mutex mu_;
  std::unordered_set<session_base*> sessions_;
};

}  // namespace creditd::http
