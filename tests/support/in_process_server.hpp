// Test support: the HTTP server (src/http) in this process, on port 0 of
// 127.0.0.1, run by one io_context thread, in front of a test's handler.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <utility>

#include "http/handler.hpp"
#include "http/server.hpp"

namespace creditd::testing {

struct in_process {
  explicit in_process(creditd::http::handler& h, creditd::http::server_options o = {})
      : srv(io, h, with_port_0(std::move(o))) {
    auto ep = srv.listen();
    if (!ep) throw std::runtime_error(ep.error());
    port = ep->port();
    thread = std::thread([this] { io.run(); });
  }
  ~in_process() {
    srv.drain();
    (void)wait_no_connections();
    io.stop();
    thread.join();
  }
  in_process(const in_process&) = delete;
  in_process& operator=(const in_process&) = delete;

  static creditd::http::server_options with_port_0(creditd::http::server_options o) {
    o.host = "127.0.0.1";
    o.port = 0;
    return o;
  }
  // Polls until no connection is left (bounded; not a timing assertion).
  bool wait_no_connections() {
    for (int i = 0; i < 3000; ++i) {
      if (srv.connections() == 0) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  boost::asio::io_context io;
  creditd::http::server srv;
  unsigned short port = 0;
  std::thread thread;
};

}  // namespace creditd::testing
