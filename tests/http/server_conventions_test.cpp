// The HTTP server's own conventions, below the API: streamed (chunked)
// bodies and extra headers, HEAD as GET without the body, and the accept
// loop's pause when descriptors run out. Most tests run `server` in this
// process on port 0 with a fake handler; the HEAD tests also drive the real
// binary.
#include <dirent.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "http/api.hpp"
#include "http/handler.hpp"
#include "http/server.hpp"
#include "http_fixture.hpp"
#include "support/eventually.hpp"
#include "support/in_process_server.hpp"
#include "support/raw_socket.hpp"

namespace server_conventions_test_cpp {  // unity builds: tests/CMakeLists.txt

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using creditd::http::body_stream;
using creditd::http::done_fn;
using creditd::http::request;
using creditd::http::response;
using creditd::http::server;
using creditd::http::server_options;
using creditd::testing::eventually;
using namespace creditd::testing;

namespace {

using give_fn = std::function<void(std::optional<std::string>)>;

// A thread that runs posted jobs in order: producers give from here.
class worker {
 public:
  worker() : thread_([this] { loop(); }) {}
  ~worker() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void post(std::function<void()> job) {
    {
      std::lock_guard lock(mu_);
      jobs_.push_back(std::move(job));
    }
    cv_.notify_all();
  }

 private:
  void loop() {
    for (;;) {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return done_ || !jobs_.empty(); });
      if (jobs_.empty()) return;
      auto job = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      job();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool done_ = false;
  std::thread thread_;
};

// Gives `chunks` one per pull from the worker thread, then the end.
class list_stream final : public body_stream {
 public:
  list_stream(worker& w, std::vector<std::string> chunks) : w_(w), chunks_(std::move(chunks)) {}
  void next(give_fn give) override {
    const std::size_t i = calls++;
    if (i < chunks_.size()) {
      w_.post([give, c = chunks_[i]] { give(c); });
    } else {
      w_.post([give] { give(std::nullopt); });
    }
  }
  std::atomic<std::size_t> calls{0};

 private:
  worker& w_;
  std::vector<std::string> chunks_;
};

// "hello" on the first pull; holds the second pull's give (an event stream
// with nothing to say). stop() is recorded; with `end_on_stop` it ends the
// body through the held give.
class endless_stream final : public body_stream {
 public:
  endless_stream(worker& w, bool end_on_stop) : w_(w), end_on_stop_(end_on_stop) {}
  void next(give_fn give) override {
    const int n = ++calls;
    if (n == 1) {
      w_.post([give] { give("hello"); });
      return;
    }
    {
      std::lock_guard lock(mu_);
      held_ = give;
    }
    if (n == 2) second_pull.set_value();
  }
  void stop() override {
    ++stops;
    give_fn held;
    {
      std::lock_guard lock(mu_);
      if (end_on_stop_) held = std::exchange(held_, nullptr);
    }
    if (held) w_.post([held] { held(std::nullopt); });
    stopped.set_value();
  }
  // Gives to the held pull (after the client left: dropped by the server).
  void give_held(std::string chunk) {
    give_fn held;
    {
      std::lock_guard lock(mu_);
      held = std::exchange(held_, nullptr);
    }
    ASSERT_TRUE(held);
    held(std::move(chunk));
  }
  std::atomic<int> calls{0};
  std::atomic<int> stops{0};
  std::promise<void> second_pull, stopped;

 private:
  worker& w_;
  bool end_on_stop_;
  std::mutex mu_;
  give_fn held_;
};

// 256 KiB chunks as fast as they are pulled.
class firehose_stream final : public body_stream {
 public:
  explicit firehose_stream(worker& w) : w_(w) {}
  void next(give_fn give) override {
    ++calls;
    w_.post([give] { give(std::string(256 << 10, 'x')); });
  }
  void stop() override { stopped.set_value(); }
  std::atomic<int> calls{0};
  std::promise<void> stopped;

 private:
  worker& w_;
};

// Answers with what `respond` makes of the request; records the methods
// it saw.
class fake_handler final : public creditd::http::handler {
 public:
  explicit fake_handler(std::function<response(const request&)> respond)
      : respond_(std::move(respond)) {}
  std::string_view handle(request req, done_fn done) override {
    {
      std::lock_guard lock(mu_);
      methods_.push_back(req.method);
    }
    done(respond_(req));
    return "/fake";
  }
  std::vector<bhttp::verb> methods() {
    std::lock_guard lock(mu_);
    return methods_;
  }

 private:
  std::function<response(const request&)> respond_;
  std::mutex mu_;
  std::vector<bhttp::verb> methods_;
};

response text(std::string body) {
  response r;
  r.content_type = "text/plain";
  r.body = std::move(body);
  return r;
}

response streamed(std::shared_ptr<body_stream> s) {
  response r;
  r.content_type = "text/csv";
  r.stream = std::move(s);
  return r;
}

// A keep-alive client connection.
struct client {
  explicit client(unsigned short port) : stream(io) {
    stream.connect({net::ip::make_address("127.0.0.1"), port});
  }
  struct reply {
    unsigned status = 0;
    std::string body;
    bhttp::fields headers;
    int chunks = 0;  // chunk headers seen, the last (empty) one included
  };
  void send(bhttp::verb method, const std::string& target) {
    bhttp::request<bhttp::empty_body> req(method, target, 11);
    req.set(bhttp::field::host, "127.0.0.1");
    bhttp::write(stream, req);
  }
  reply receive(bool head = false) {
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(64 << 20);
    if (head) parser.skip(true);
    int chunks = 0;
    auto on_chunk = [&chunks](std::uint64_t, beast::string_view, beast::error_code&) { ++chunks; };
    parser.on_chunk_header(on_chunk);
    bhttp::read(stream, buffer, parser);
    reply r;
    r.status = parser.get().result_int();
    r.body = parser.get().body();
    r.headers = parser.get().base();
    r.chunks = chunks;
    return r;
  }
  reply request(bhttp::verb method, const std::string& target) {
    send(method, target);
    return receive(method == bhttp::verb::head);
  }
  // True when the server has closed the connection (no more bytes).
  bool closed_by_server() {
    beast::error_code ec;
    char byte;
    stream.socket().read_some(net::buffer(&byte, 1), ec);
    return ec == net::error::eof;
  }
  net::io_context io;
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
};

}  // namespace

// ------------------------------------------------------------------ streams

TEST(server_stream, a_body_given_from_another_thread_arrives_chunked_then_keep_alive_goes_on) {
  worker w;
  auto chunks = std::make_shared<list_stream>(
      w, std::vector<std::string>{"id,amount\n", "", "1,2.5\n", "2,10\n"});
  fake_handler h([&](const request& req) {
    if (req.path == "/export") return streamed(chunks);
    return text("hello");
  });
  in_process s(h);
  client c(s.port);
  auto r = c.request(bhttp::verb::get, "/export");
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.headers[bhttp::field::transfer_encoding], "chunked");
  EXPECT_EQ(r.headers.count(bhttp::field::content_length), 0u);
  EXPECT_EQ(r.headers[bhttp::field::content_type], "text/csv");
  EXPECT_EQ(r.body, "id,amount\n1,2.5\n2,10\n");
  EXPECT_EQ(r.chunks, 4);        // three with data (the empty one is skipped), the last
  EXPECT_EQ(chunks->calls, 5u);  // four chunks and the end
  // The same connection serves the next request.
  auto next = c.request(bhttp::verb::get, "/plain");
  EXPECT_EQ(next.status, 200u);
  EXPECT_EQ(next.body, "hello");
  EXPECT_EQ(chunks->calls, 5u);
}

TEST(server_stream, an_http_1_0_client_gets_the_body_unchunked_ended_by_the_close) {
  worker w;
  auto chunks = std::make_shared<list_stream>(w, std::vector<std::string>{"a,b\n", "1,2\n"});
  fake_handler h([&](const request&) { return streamed(chunks); });
  in_process s(h);
  client c(s.port);
  const std::string req = "GET /export HTTP/1.0\r\nHost: x\r\n\r\n";
  net::write(c.stream.socket(), net::buffer(req));
  std::string all;
  beast::error_code ec;
  char buf[4096];
  for (;;) {
    const std::size_t n = c.stream.socket().read_some(net::buffer(buf), ec);
    all.append(buf, n);
    if (ec) break;
  }
  EXPECT_EQ(ec, net::error::eof);
  const std::size_t split = all.find("\r\n\r\n");
  ASSERT_NE(split, std::string::npos) << all;
  const std::string head = all.substr(0, split);
  EXPECT_EQ(head.find("Transfer-Encoding"), std::string::npos) << head;
  EXPECT_NE(head.find("Connection: close"), std::string::npos) << head;
  EXPECT_EQ(all.substr(split + 4), "a,b\n1,2\n");
  EXPECT_TRUE(s.wait_no_connections());
}

TEST(server_stream, extra_headers_are_written_as_given_and_unsafe_ones_dropped) {
  fake_handler h([](const request&) {
    response r = text("a,b\n");
    r.headers = {{"Content-Disposition", "attachment; filename=\"entries.csv\""},
                 {"X-Multi", "1"},
                 {"X-Multi", "2"},
                 {"Content-Type", "text/csv; charset=utf-8"},  // replaces the server's
                 {"Cache-Control", "no-store"},
                 {"Bad Name", "x"},                       // not a token
                 {"X-Injected", "a\r\nSet-Cookie: x=1"},  // CR LF
                 {"Content-Length", "999"},               // framing is the server's
                 {"Connection", "close"}};
    return r;
  });
  in_process s(h);
  client c(s.port);
  auto r = c.request(bhttp::verb::get, "/x");
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.body, "a,b\n");
  EXPECT_EQ(r.headers["Content-Disposition"], "attachment; filename=\"entries.csv\"");
  std::vector<std::string> multi;
  for (auto [it, end] = r.headers.equal_range("X-Multi"); it != end; ++it)
    multi.emplace_back(it->value());
  EXPECT_EQ(multi, (std::vector<std::string>{"1", "2"}));
  EXPECT_EQ(r.headers.count(bhttp::field::content_type), 1u);
  EXPECT_EQ(r.headers[bhttp::field::content_type], "text/csv; charset=utf-8");
  EXPECT_EQ(r.headers[bhttp::field::cache_control], "no-store");
  EXPECT_EQ(r.headers[bhttp::field::server], "creditd");
  EXPECT_EQ(r.headers.count("Bad Name"), 0u);
  EXPECT_EQ(r.headers.count("X-Injected"), 0u);
  EXPECT_EQ(r.headers.count(bhttp::field::set_cookie), 0u);
  EXPECT_EQ(r.headers[bhttp::field::content_length], "4");
  // Connection: close was dropped: the connection stays open.
  EXPECT_EQ(c.request(bhttp::verb::get, "/x").body, "a,b\n");
  // Extra headers on a streamed response too.
  worker w;
  fake_handler hs([&](const request&) {
    response r = streamed(std::make_shared<list_stream>(w, std::vector<std::string>{"x"}));
    r.headers = {{"X-Accel-Buffering", "no"}};
    return r;
  });
  in_process s2(hs);
  client c2(s2.port);
  auto r2 = c2.request(bhttp::verb::get, "/events");
  EXPECT_EQ(r2.headers["X-Accel-Buffering"], "no");
  EXPECT_EQ(r2.headers[bhttp::field::transfer_encoding], "chunked");
  EXPECT_EQ(r2.body, "x");
}

TEST(server_stream, a_client_that_leaves_gets_no_more_pulls_and_the_stream_is_stopped) {
  worker w;
  auto events = std::make_shared<endless_stream>(w, /*end_on_stop=*/false);
  auto second_pull = events->second_pull.get_future();
  auto stopped = events->stopped.get_future();
  fake_handler h([&](const request&) { return streamed(events); });
  in_process s(h);
  {
    client c(s.port);
    c.send(bhttp::verb::get, "/events");
    // The headers and the first chunk arrive; the stream then waits.
    bhttp::response_parser<bhttp::string_body> parser;
    bhttp::read_header(c.stream, c.buffer, parser);
    EXPECT_EQ(parser.get()[bhttp::field::transfer_encoding], "chunked");
    ASSERT_EQ(second_pull.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  }  // the client closes its connection
  // The server notices while it waits for the producer, and says so.
  ASSERT_EQ(stopped.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_EQ(events->stops, 1);
  // The producer's late chunk is dropped; the connection is released.
  events->give_held("late");
  EXPECT_TRUE(s.wait_no_connections());
  EXPECT_EQ(events->calls, 2);
}

TEST(server_stream, a_drain_stops_an_endless_stream_which_ends_cleanly) {
  worker w;
  auto events = std::make_shared<endless_stream>(w, /*end_on_stop=*/true);
  auto second_pull = events->second_pull.get_future();
  fake_handler h([&](const request&) { return streamed(events); });
  in_process s(h);
  client c(s.port);
  c.send(bhttp::verb::get, "/events");
  ASSERT_EQ(second_pull.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  s.srv.drain();
  // The whole body, ended by the last chunk; then the server closes.
  auto r = c.receive();
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.body, "hello");
  EXPECT_TRUE(c.closed_by_server());
  EXPECT_TRUE(s.wait_no_connections());
  EXPECT_EQ(events->stops, 1);
  EXPECT_EQ(events->calls, 2);
}

TEST(server_stream, a_client_that_stops_reading_is_timed_out_and_the_stream_stopped) {
  worker w;
  auto hose = std::make_shared<firehose_stream>(w);
  auto stopped = hose->stopped.get_future();
  fake_handler h([&](const request&) { return streamed(hose); });
  in_process s(h, {.read_timeout = std::chrono::seconds(1)});
  client c(s.port);
  c.send(bhttp::verb::get, "/export");
  // The client reads nothing: the socket buffers fill, a write waits past
  // the timeout, the connection is dropped and the producer told.
  ASSERT_EQ(stopped.wait_for(std::chrono::seconds(60)), std::future_status::ready);
  EXPECT_TRUE(s.wait_no_connections());
  const int calls = hose->calls;
  EXPECT_GT(calls, 1);
  EXPECT_EQ(hose->calls, calls);  // no pull after the stop
}

// ------------------------------------------------------------------ HEAD

TEST(server_head, head_is_get_without_the_body_for_plain_and_streamed_responses) {
  worker w;
  auto chunks = std::make_shared<list_stream>(w, std::vector<std::string>{"a", "b"});
  fake_handler h([&](const request& req) {
    if (req.path == "/export") return streamed(chunks);
    response r = text("hello");
    r.headers = {{"X-Extra", "1"}};
    return r;
  });
  in_process s(h);
  client c(s.port);
  auto head = c.request(bhttp::verb::head, "/plain");
  EXPECT_EQ(head.status, 200u);
  EXPECT_EQ(head.headers[bhttp::field::content_length], "5");
  EXPECT_EQ(head.headers["X-Extra"], "1");
  EXPECT_EQ(head.body, "");
  auto head_stream = c.request(bhttp::verb::head, "/export");
  EXPECT_EQ(head_stream.headers[bhttp::field::transfer_encoding], "chunked");
  EXPECT_EQ(head_stream.body, "");
  EXPECT_EQ(chunks->calls, 0u);  // never pulled
  // No body bytes were sent: the next response on the connection parses.
  auto get = c.request(bhttp::verb::get, "/plain");
  EXPECT_EQ(get.body, "hello");
  // The handler saw GETs only.
  for (bhttp::verb m : h.methods())
    EXPECT_EQ(m, bhttp::verb::get);
}

namespace {

// HEAD and then GET of `target` on one keep-alive connection to the real
// binary: the HEAD's status and headers must be the GET's, with no body.
// `same_length`: false for a body that holds the time of reading (its
// length varies by a digit or two from one read to the next).
void expect_head_like_get(unsigned short port, const std::string& target, const std::string& key,
                          unsigned status, bool same_length = true) {
  client c(port);
  auto send = [&](bhttp::verb m) {
    bhttp::request<bhttp::empty_body> req(m, target, 11);
    req.set(bhttp::field::host, "127.0.0.1");
    if (!key.empty()) req.set(bhttp::field::authorization, "Bearer " + key);
    bhttp::write(c.stream, req);
    return c.receive(m == bhttp::verb::head);
  };
  auto head = send(bhttp::verb::head);
  auto get = send(bhttp::verb::get);
  EXPECT_EQ(head.status, status) << target;
  EXPECT_EQ(get.status, status) << target << ": " << get.body;
  EXPECT_EQ(head.body, "") << target;
  EXPECT_EQ(head.headers[bhttp::field::content_type], get.headers[bhttp::field::content_type]);
  ASSERT_EQ(head.headers.count(bhttp::field::content_length), 1u) << target;
  const std::size_t length = std::stoul(std::string(head.headers[bhttp::field::content_length]));
  if (same_length) {
    EXPECT_EQ(length, get.body.size()) << target;
  } else {
    EXPECT_NEAR(static_cast<double>(length), static_cast<double>(get.body.size()), 8) << target;
  }
}

}  // namespace

TEST(server_head, head_works_like_get_on_the_real_binary) {
  live_server srv;
  {
    http_client c(srv.port(), admin_key);
    put_account(c, "x");
    grant(c, "x", "5");
  }
  expect_head_like_get(srv.port(), "/healthz", "", 200);
  expect_head_like_get(srv.port(), "/openapi.json", "", 200);
  expect_head_like_get(srv.port(), "/v1/accounts/x", admin_key, 200, /*same_length=*/false);
  expect_head_like_get(srv.port(), "/v1/accounts/x/lots", admin_key, 200);
  expect_head_like_get(srv.port(), "/v1/accounts/x/entries", admin_key, 200);
  expect_head_like_get(srv.port(), "/v1/accounts/nobody", admin_key, 404);
  expect_head_like_get(srv.port(), "/v1/accounts/x", "", 401);
  // HEAD on a POST-only route is what GET there is: 405.
  expect_head_like_get(srv.port(), "/v1/accounts/x/charges", admin_key, 405);
}

// ------------------------------------------------------------------ accept

namespace {

// The descriptors open in this process, the directory's own excluded.
std::set<int> open_fds() {
  std::set<int> out;
  DIR* d = ::opendir("/proc/self/fd");
  const int own = ::dirfd(d);
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    const int fd = std::atoi(e->d_name);
    if (fd != own) out.insert(fd);
  }
  ::closedir(d);
  return out;
}

double process_cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

int raw_socket() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{30, 0};  // a safety net against a hang
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

}  // namespace

TEST(server_accept, out_of_descriptors_it_pauses_instead_of_spinning_and_resumes_on_a_close) {
  fake_handler h([](const request&) { return text("ok"); });
  // A pause of an hour: only a closing connection can end it here.
  in_process s(h, {.accept_backoff = std::chrono::hours(1)});
  constexpr int clients = 8, room = 3;
  std::vector<int> fds;
  for (int i = 0; i < clients; ++i)
    fds.push_back(raw_socket());
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(s.port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

  // Room for exactly `room` more descriptors in this process.
  rlimit saved{};
  ::getrlimit(RLIMIT_NOFILE, &saved);
  const std::set<int> used = open_fds();
  rlim_t limit = 0;
  for (int free_below = 0; free_below < room; ++limit) {
    if (!used.contains(static_cast<int>(limit))) ++free_below;
  }
  rlimit low = saved;
  low.rlim_cur = limit;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  struct restore {
    rlimit r;
    ~restore() { ::setrlimit(RLIMIT_NOFILE, &r); }
  } restore_limit{saved};
  // Connected by the kernel whether or not the server accepts them.
  for (int fd : fds)
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  for (int i = 0; i < 3000 && s.srv.accept_pauses() == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(s.srv.accept_pauses(), 1u);
  EXPECT_EQ(s.srv.connections(), static_cast<std::size_t>(room));

  // Paused: no accept is retried while it lasts, and no CPU is burnt (a
  // spinning loop retries without end and uses a whole core).
  const double cpu_before = process_cpu_seconds();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const double cpu_used = process_cpu_seconds() - cpu_before;
  EXPECT_EQ(s.srv.accept_pauses(), 1u);
  EXPECT_LT(cpu_used, 0.2);

  // A connection closes: its descriptor frees, the accept goes on at once
  // (not after the hour), and the waiting clients are served.
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
  ::close(fds[0]);
  for (int i = 1; i < clients; ++i) {
    const std::string req = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    ASSERT_EQ(::send(fds[i], req.data(), req.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(req.size()));
    char buf[512];
    const ssize_t n = ::recv(fds[i], buf, sizeof buf, 0);
    ASSERT_GT(n, 0) << "client " << i << " was not served";
    EXPECT_EQ(std::string(buf, static_cast<std::size_t>(n)).rfind("HTTP/1.1 200", 0), 0u);
  }
  for (int i = 1; i < clients; ++i)
    ::close(fds[i]);
  EXPECT_TRUE(s.wait_no_connections());
}

TEST(server_accept, resource_errors_are_told_from_others) {
  using creditd::http::accept_error_is_resource;
  EXPECT_TRUE(accept_error_is_resource(net::error::no_descriptors));  // EMFILE
  EXPECT_TRUE(accept_error_is_resource(boost::system::errc::make_error_code(
      boost::system::errc::too_many_files_open_in_system)));  // ENFILE
  EXPECT_TRUE(accept_error_is_resource({ENFILE, boost::system::system_category()}));
  EXPECT_TRUE(accept_error_is_resource(net::error::no_buffer_space));
  EXPECT_TRUE(accept_error_is_resource(net::error::no_memory));
  EXPECT_FALSE(accept_error_is_resource(net::error::connection_aborted));
  EXPECT_FALSE(accept_error_is_resource(net::error::operation_aborted));
  EXPECT_FALSE(accept_error_is_resource({}));
}

TEST(server_accept, the_connection_cap_fits_under_the_descriptor_limit) {
  using creditd::http::connections_fitting;
  EXPECT_EQ(connections_fitting(1048576, 20, 32, 10000), 10000u);
  EXPECT_EQ(connections_fitting(10052, 20, 32, 10000), 10000u);
  EXPECT_EQ(connections_fitting(10051, 20, 32, 10000), 9999u);
  EXPECT_EQ(connections_fitting(1024, 20, 32, 10000), 972u);
  EXPECT_EQ(connections_fitting(64, 20, 32, 10000), 12u);
  EXPECT_EQ(connections_fitting(40, 20, 32, 10000), 1u);  // never below one
}

// ------------------------------------------------------------------ limits
// The limits of server_options, set short here so that the events come soon;
// the tests wait for the events themselves (a close, a count), never a fixed
// time, with guards of a minute against a hang.

TEST(server_limits, half_a_request_or_a_trickle_is_closed_after_the_read_timeout) {
  fake_handler h([](const request&) { return text("ok"); });
  in_process s(h, {.read_timeout = std::chrono::seconds(1)});
  // Half a request, then silence.
  const int silent = connect_loopback(s.port, 60);
  ASSERT_GE(silent, 0);
  const std::string half = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Hal";
  ASSERT_EQ(::send(silent, half.data(), half.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(half.size()));
  // A header one byte at a time, never finished: the timeout is for the
  // whole request, so bytes that keep coming do not keep it open.
  const int trickle = connect_loopback(s.port, 60);
  ASSERT_GE(trickle, 0);
  const std::string start = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ";
  ASSERT_EQ(::send(trickle, start.data(), start.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(start.size()));
  repeating_thread writer(std::chrono::milliseconds(50), [&] {
    return ::send(trickle, "a", 1, MSG_NOSIGNAL) == 1;  // until closed by the server
  });
  // Meanwhile whole requests are served.
  client ok(s.port);
  EXPECT_EQ(ok.request(bhttp::verb::get, "/healthz").status, 200u);
  std::string why;
  EXPECT_TRUE(closed_without_answer(silent, why)) << "half a request: " << why;
  EXPECT_TRUE(closed_without_answer(trickle, why)) << "a trickle: " << why;
  writer.stop();
  ::close(silent);
  ::close(trickle);
  // A fresh request on a fresh connection is served after the timeouts.
  client after(s.port);
  EXPECT_EQ(after.request(bhttp::verb::get, "/healthz").status, 200u);
}

TEST(server_limits, connections_over_the_cap_are_closed_and_a_slot_frees_on_a_close) {
  fake_handler h([](const request&) { return text("ok"); });
  in_process s(h, {.connections_max = 2});
  auto a = std::make_unique<client>(s.port);
  client b(s.port);
  ASSERT_EQ(a->request(bhttp::verb::get, "/healthz").status, 200u);
  ASSERT_EQ(b.request(bhttp::verb::get, "/healthz").status, 200u);
  ASSERT_EQ(s.srv.connections(), 2u);
  // The third is accepted by the kernel and closed by the server unanswered.
  for (int i = 0; i < 3; ++i) {
    const int over = connect_loopback(s.port, 60);
    ASSERT_GE(over, 0);
    const std::string req = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    (void)::send(over, req.data(), req.size(), MSG_NOSIGNAL);  // may meet the close
    std::string why;
    EXPECT_TRUE(closed_without_answer(over, why)) << "over the cap: " << why;
    ::close(over);
  }
  // The two inside keep working.
  EXPECT_EQ(a->request(bhttp::verb::get, "/healthz").status, 200u);
  EXPECT_EQ(b.request(bhttp::verb::get, "/healthz").status, 200u);
  EXPECT_EQ(s.srv.connections(), 2u);
  // One closes: once the server has seen it, a new connection is served.
  a.reset();
  ASSERT_TRUE(eventually([&] { return s.srv.connections() == 1; }))
      << s.srv.connections() << " connections";
  client c(s.port);
  EXPECT_EQ(c.request(bhttp::verb::get, "/healthz").status, 200u);
  EXPECT_EQ(b.request(bhttp::verb::get, "/healthz").status, 200u);
  EXPECT_EQ(s.srv.connections(), 2u);
}
}  // namespace server_conventions_test_cpp
