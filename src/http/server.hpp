// The HTTP/1.1 server: Boost.Beast over Asio, keep-alive, bounded everything
// (body, headers, idle time, connections), and a graceful drain on stop.
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
};

class session;

class server {
 public:
  server(boost::asio::io_context& io, api& handler, server_options opts);
  // Binds and listens; returns the bound endpoint (port 0 picks a free one).
  std::expected<boost::asio::ip::tcp::endpoint, std::string> listen();
  // Stops accepting and closes idle keep-alive connections; requests in
  // flight finish and their connections close after the response.
  void drain();
  std::size_t connections() const { return connections_.load(); }
  bool draining() const { return draining_.load(); }

  // Session bookkeeping (used by session).
  void add(session* s);
  void remove(session* s);
  api& handler() { return api_; }
  const server_options& options() const { return opts_; }

 private:
  void accept();
  boost::asio::io_context& io_;
  api& api_;
  server_options opts_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::atomic<std::size_t> connections_{0};
  std::atomic<bool> draining_{false};
  std::mutex mu_;
  std::unordered_set<session*> sessions_;
};

}  // namespace creditd::http
