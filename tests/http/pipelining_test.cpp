// Pipelined requests (issue 12): every whole request already read is handed
// to the handler before any of them is answered, the responses leave in
// request order whatever order they were given in, in one write, and a
// request that ends the connection (Connection: close, or malformed) ends
// the batch. The in-process tests run `server` on port 0 with a fake handler;
// the last one drives the real binary with charges.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "http/api.hpp"
#include "http/handler.hpp"
#include "http/server.hpp"
#include "http_fixture.hpp"
#include "support/in_process_server.hpp"

namespace pipelining_test_cpp {  // unity builds: tests/CMakeLists.txt

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using creditd::http::done_fn;
using creditd::http::request;
using creditd::http::response;
using creditd::http::server;
using creditd::http::server_options;
using namespace creditd::testing;

namespace {

response text(std::string body) {
  response r;
  r.content_type = "text/plain";
  r.body = std::move(body);
  return r;
}

// Records the paths it is given, in order. With `hold_until` > 0 it answers
// nothing until it has been given that many requests, then answers them all
// from the last to the first; else it answers each at once with its path.
class recording_handler final : public creditd::http::handler {
 public:
  explicit recording_handler(std::size_t hold_until = 0) : hold_until_(hold_until) {}
  std::string_view handle(request req, done_fn done) override {
    std::vector<std::pair<std::string, done_fn>> answer;
    {
      std::lock_guard lock(mu_);
      paths_.push_back(req.path);
      if (hold_until_ == 0) {
        answer.emplace_back(req.path, std::move(done));
      } else {
        held_.emplace_back(req.path, std::move(done));
        if (held_.size() == hold_until_) answer.swap(held_);
      }
    }
    for (auto it = answer.rbegin(); it != answer.rend(); ++it)
      it->second(text(it->first));
    return "/fake";
  }
  std::vector<std::string> paths() {
    std::lock_guard lock(mu_);
    return paths_;
  }

 private:
  std::size_t hold_until_;
  std::mutex mu_;
  std::vector<std::string> paths_;
  std::vector<std::pair<std::string, done_fn>> held_;
};

std::string get(const std::string& path, const std::string& extra = "") {
  return "GET " + path + " HTTP/1.1\r\nHost: x\r\n" + extra + "\r\n";
}

// A raw connection: bytes out in one send, responses parsed as they come.
struct raw_client {
  explicit raw_client(unsigned short port) : stream(io) {
    stream.connect({net::ip::make_address("127.0.0.1"), port});
  }
  void send_all(const std::string& bytes) {
    // One send() call: the requests reach the server together.
    ASSERT_EQ(::send(stream.socket().native_handle(), bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
  }
  bhttp::response<bhttp::string_body> receive(bool head = false) {
    bhttp::response_parser<bhttp::string_body> parser;
    if (head) parser.skip(true);
    bhttp::read(stream, buffer, parser);
    return parser.release();
  }
  bool closed_by_server() {
    beast::error_code ec;
    char byte;
    if (buffer.size() > 0) return false;
    stream.socket().read_some(net::buffer(&byte, 1), ec);
    return ec == net::error::eof;
  }
  net::io_context io;
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
};

}  // namespace

// The handler answers nothing until it holds all eight requests, then
// answers them last first: the server must have handed it every buffered
// request without waiting for an answer, and still writes the answers in
// request order. (A server that reads the next request only after answering
// the previous one never hands over the second: this test then hangs until
// ctest's timeout fails it.)
TEST(http_pipelining, buffered_requests_are_all_handed_over_and_answered_in_order) {
  constexpr std::size_t n = 8;
  recording_handler h(n);
  in_process p(h);
  raw_client c(p.port);
  std::string bytes;
  for (std::size_t i = 0; i < n; ++i)
    bytes += get("/r" + std::to_string(i));
  c.send_all(bytes);
  for (std::size_t i = 0; i < n; ++i) {
    auto res = c.receive();
    EXPECT_EQ(res.result_int(), 200u);
    EXPECT_EQ(res.body(), "/r" + std::to_string(i)) << "response " << i;
    EXPECT_TRUE(res.keep_alive());
  }
  EXPECT_EQ(h.paths().size(), n);
}

// Requests that arrive in one segment are answered in one write: the first
// read of the client finds every response whole. (Loopback delivers one
// write as one segment; a server writing each response on its own lets the
// client's first read end after the first.)
TEST(http_pipelining, responses_to_requests_sent_together_leave_in_one_write) {
  constexpr std::size_t n = 10;
  recording_handler h;
  in_process p(h);
  raw_client c(p.port);
  std::string bytes;
  for (std::size_t i = 0; i < n; ++i)
    bytes += get("/q" + std::to_string(i));
  c.send_all(bytes);
  std::string got(64 << 10, '\0');
  const ssize_t k = ::recv(c.stream.socket().native_handle(), got.data(), got.size(), 0);
  ASSERT_GT(k, 0);
  got.resize(static_cast<std::size_t>(k));
  // Every response is in what the first read returned, whole and in order.
  std::size_t at = 0;
  for (std::size_t i = 0; i < n; ++i) {
    bhttp::response_parser<bhttp::string_body> parser;
    parser.eager(true);
    beast::error_code ec;
    at += parser.put(net::buffer(got.data() + at, got.size() - at), ec);
    ASSERT_FALSE(ec) << "response " << i << ": " << ec.message() << " in " << got;
    ASSERT_TRUE(parser.is_done()) << "response " << i << " is not whole in the first read";
    EXPECT_EQ(parser.get().body(), "/q" + std::to_string(i));
  }
  EXPECT_EQ(at, got.size());
}

// More requests than a batch may hold: the rest wait in the buffer for the
// next batch; all are answered, in order.
TEST(http_pipelining, requests_beyond_the_batch_limit_are_answered_in_the_next_batch) {
  constexpr std::size_t n = 25;
  recording_handler h;
  server_options o;
  o.pipelined_requests_max = 4;
  in_process p(h, o);
  raw_client c(p.port);
  std::string bytes;
  for (std::size_t i = 0; i < n; ++i)
    bytes += get("/b" + std::to_string(i));
  c.send_all(bytes);
  for (std::size_t i = 0; i < n; ++i)
    EXPECT_EQ(c.receive().body(), "/b" + std::to_string(i)) << "response " << i;
  const auto paths = h.paths();
  ASSERT_EQ(paths.size(), n);
  for (std::size_t i = 0; i < n; ++i)
    EXPECT_EQ(paths[i], "/b" + std::to_string(i));
}

// Connection: close ends the batch: the requests after it are never handed
// over, and the connection closes after its response.
TEST(http_pipelining, connection_close_ends_the_batch) {
  recording_handler h;
  in_process p(h);
  raw_client c(p.port);
  c.send_all(get("/a") + get("/b", "Connection: close\r\n") + get("/c"));
  EXPECT_EQ(c.receive().body(), "/a");
  auto last = c.receive();
  EXPECT_EQ(last.body(), "/b");
  EXPECT_FALSE(last.keep_alive());
  EXPECT_TRUE(c.closed_by_server());
  EXPECT_EQ(h.paths(), (std::vector<std::string>{"/a", "/b"}));
}

// A malformed request after good ones: they are answered, then it gets its
// 400 and the connection closes; nothing after it is handed over.
TEST(http_pipelining, a_malformed_request_is_answered_after_the_ones_before_it) {
  recording_handler h;
  in_process p(h);
  raw_client c(p.port);
  c.send_all(get("/a") + get("/b") + "NOT HTTP\r\n\r\n" + get("/c"));
  EXPECT_EQ(c.receive().body(), "/a");
  EXPECT_EQ(c.receive().body(), "/b");
  auto bad = c.receive();
  EXPECT_EQ(bad.result_int(), 400u);
  EXPECT_FALSE(bad.keep_alive());
  EXPECT_TRUE(c.closed_by_server());
  EXPECT_EQ(h.paths(), (std::vector<std::string>{"/a", "/b"}));
}

// HEAD in a batch: its headers (the GET body's length) and no body; the
// next response follows right after them.
TEST(http_pipelining, head_in_a_batch_has_no_body) {
  recording_handler h;
  in_process p(h);
  raw_client c(p.port);
  c.send_all("HEAD /head HTTP/1.1\r\nHost: x\r\n\r\n" + get("/after"));
  auto head = c.receive(true);
  EXPECT_EQ(head.result_int(), 200u);
  EXPECT_EQ(head[bhttp::field::content_length], "5");
  EXPECT_EQ(c.receive().body(), "/after");
}

// The real server: charges pipelined on one connection are answered in
// order (each names its reference), and the journal has them in that order.
TEST(http_pipelining, pipelined_charges_are_answered_and_journaled_in_order) {
  live_server srv;
  http_client admin(srv.port(), admin_key);
  put_account(admin, "pipe");
  grant(admin, "pipe", "100");
  constexpr int n = 20;
  std::string bytes;
  for (int i = 0; i < n; ++i) {
    const std::string body =
        R"({"operation":"image.generate","amount":"1","reference":"p-)" + std::to_string(i) + "\"}";
    bytes +=
        "POST /v1/accounts/pipe/charges HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + admin_key +
        "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\n\r\n" + body;
  }
  bytes += get("/healthz");
  raw_client c(srv.port());
  c.send_all(bytes);
  for (int i = 0; i < n; ++i) {
    auto res = c.receive();
    ASSERT_EQ(res.result_int(), 201u) << res.body();
    EXPECT_EQ(str(bj::parse(res.body()), "reference"), "p-" + std::to_string(i));
  }
  auto health = c.receive();
  EXPECT_EQ(health.result_int(), 200u);
  EXPECT_EQ(available(admin, "pipe"), "80");
  const auto charges = entries_of_type(admin, "pipe", "charge");
  ASSERT_EQ(charges.size(), static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i)
    EXPECT_EQ(str(charges[i].at("reference")), "p-" + std::to_string(i));
}
}  // namespace pipelining_test_cpp
