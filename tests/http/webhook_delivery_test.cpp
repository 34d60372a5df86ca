// Webhook deliveries from the real creditd to a receiver in this test (a
// small Beast HTTP server on 127.0.0.1) that answers 500 to some attempts,
// hangs on some, and checks every signature with the endpoint's secret
// (HMAC computed here with OpenSSL, not with creditd's code): every event
// stored arrives, at least once, in seq order per endpoint, signed; an
// endpoint gets only its event types; a SIGKILL with retries pending loses
// nothing; 3 days of failures disable an endpoint, which an operator
// re-enables and redelivers from a seq; https endpoints are verified against
// the CA file and keep their connection. Retries wait on the test clock,
// which the test advances; nothing waits on real time but a poll with a
// generous bound.
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sqlite3.h>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "http_fixture.hpp"
#include "ledger/time.hpp"
#include "support/https_client.hpp"
#include "webhooks/signature.hpp"

namespace webhook_delivery_test_cpp {  // unity builds: tests/CMakeLists.txt

using namespace creditd::testing;

namespace {

namespace net = boost::asio;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

const std::string secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

std::string hmac(const std::string& key, const std::string& data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &length);
  return std::string(reinterpret_cast<const char*>(mac), length);
}

std::string hex(const std::string& bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 0xf];
  }
  return out;
}

enum class answer { ok, fail, hang };

struct received {
  std::string body;
  std::uint64_t seq = 0;
  std::string type;
  bool signed_ok = false;
  answer given = answer::ok;
};

// Accepts connections on 127.0.0.1 (a thread each), reads requests, checks
// their signatures, and answers as `policy` says for the n-th request
// (0-based) of this receiver. A connection carries request after request,
// or, with `keep_alive` false, one: the receiver closes it after its answer
// (an HTTP/1.1 answer that does not say so, as some servers do).
class receiver {
 public:
  // With `cert`, it speaks https with that certificate and key.
  explicit receiver(std::function<answer(std::size_t)> policy, bool keep_alive = true,
                    const test_cert* cert = nullptr)
      : policy_(std::move(policy)),
        keep_alive_(keep_alive),
        acceptor_(io_, {net::ip::make_address("127.0.0.1"), 0}) {
    if (cert != nullptr) {
      tls_.emplace(net::ssl::context::tls_server);
      tls_->use_certificate_chain_file(cert->cert);
      tls_->use_private_key_file(cert->key, net::ssl::context::pem);
    }
    thread_ = std::thread([this] { accept_loop(); });
  }
  ~receiver() {
    stopping_ = true;
    boost::system::error_code ec;
    // Wakes accept() with a connection of our own.
    tcp::socket poke(io_);
    poke.connect(acceptor_.local_endpoint(), ec);
    thread_.join();
    for (auto& t : handlers_)
      t.join();
  }
  unsigned short port() const { return acceptor_.local_endpoint().port(); }
  std::string url() const {
    return std::string(tls_ ? "https://localhost:" : "http://127.0.0.1:") + std::to_string(port()) +
           "/hook";
  }
  void set_policy(std::function<answer(std::size_t)> p) {
    std::lock_guard lock(mu_);
    policy_ = std::move(p);
  }
  std::vector<received> log() const {
    std::lock_guard lock(mu_);
    return log_;
  }
  // Connections accepted.
  std::size_t connections() const {
    std::lock_guard lock(mu_);
    return connections_;
  }
  // The seqs answered 2xx, in order.
  std::vector<std::uint64_t> delivered() const {
    std::vector<std::uint64_t> out;
    for (const received& r : log())
      if (r.given == answer::ok) out.push_back(r.seq);
    return out;
  }

 private:
  void accept_loop() {
    while (!stopping_) {
      tcp::socket s(io_);
      boost::system::error_code ec;
      acceptor_.accept(s, ec);
      if (ec || stopping_) return;
      {
        std::lock_guard lock(mu_);
        ++connections_;
      }
      handlers_.emplace_back([this, s = std::move(s)]() mutable { handle(std::move(s)); });
    }
  }
  void handle(tcp::socket s) {
    boost::beast::flat_buffer buffer;
    if (!tls_) {
      while (serve_one(s, buffer) && keep_alive_) {
      }
      return;
    }
    net::ssl::stream<tcp::socket&> ss(s, *tls_);
    boost::system::error_code ec;
    ss.handshake(net::ssl::stream_base::server, ec);
    if (ec) return;  // a client that does not trust the certificate
    while (serve_one(ss, buffer) && keep_alive_) {
    }
  }
  // Reads a request and answers it; false when the connection is done.
  template <typename Stream>
  bool serve_one(Stream& s, boost::beast::flat_buffer& buffer) {
    bhttp::request<bhttp::string_body> req;
    boost::system::error_code ec;
    bhttp::read(s, buffer, req, ec);
    if (ec) return false;
    received r;
    r.body = req.body();
    r.signed_ok = check(req);
    try {
      const bj::value v = bj::parse(req.body());
      r.seq = static_cast<std::uint64_t>(v.at("seq").as_int64());
      r.type = str(v, "type");
    } catch (...) {
      r.signed_ok = false;
    }
    {
      std::lock_guard lock(mu_);
      r.given = policy_(count_++);
      log_.push_back(r);
    }
    if (r.given == answer::hang) {
      // Never answers: reads until creditd gives up and closes.
      char byte;
      s.read_some(net::buffer(&byte, 1), ec);
      return false;
    }
    bhttp::response<bhttp::string_body> res(
        r.given == answer::ok ? bhttp::status::no_content : bhttp::status::internal_server_error,
        11);
    res.prepare_payload();
    bhttp::write(s, res, ec);
    return !ec;
  }
  // Both signatures, computed here: Creditd-Signature keyed with the secret's
  // text, webhook-signature with its decoded bytes.
  static bool check(const bhttp::request<bhttp::string_body>& req) {
    const std::string body = req.body();
    const std::string sig(req["Creditd-Signature"]);
    const std::size_t comma = sig.find(",v1=");
    if (!sig.starts_with("t=") || comma == std::string::npos) return false;
    const std::string t = sig.substr(2, comma - 2);
    if (sig.substr(comma + 4) != hex(hmac(secret, t + "." + body))) return false;
    const std::string id(req["webhook-id"]), ts(req["webhook-timestamp"]);
    if (ts != t) return false;
    const auto key = creditd::webhooks::base64_decode(secret.substr(6));
    if (!key) return false;
    const std::string want =
        "v1," + creditd::webhooks::base64_encode(hmac(*key, id + "." + ts + "." + body));
    if (std::string(req["webhook-signature"]) != want) return false;
    // The timestamp is the real time (receivers check it against theirs).
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    if (std::llabs(now - std::stoll(t)) >= 600) return false;
    try {
      return id == "evt_" + std::to_string(bj::parse(body).at("seq").as_int64());
    } catch (...) {
      return false;
    }
  }

  mutable std::mutex mu_;
  std::function<answer(std::size_t)> policy_;
  std::vector<received> log_;
  std::size_t count_ = 0;
  std::size_t connections_ = 0;
  const bool keep_alive_;
  std::optional<net::ssl::context> tls_;
  std::atomic<bool> stopping_{false};
  net::io_context io_;
  tcp::acceptor acceptor_;
  std::thread thread_;
  std::vector<std::thread> handlers_;
};

// (seq, type) of every event in the store file, by seq, once the file holds
// every event of the requests answered so far.
std::vector<std::pair<std::uint64_t, std::string>> stored_events(http_client& admin,
                                                                 const std::string& path) {
  file_holds_every_answered_write(admin);
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* q = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, "SELECT seq, type FROM events ORDER BY seq", -1, &q, nullptr),
            SQLITE_OK);
  std::vector<std::pair<std::uint64_t, std::string>> out;
  while (sqlite3_step(q) == SQLITE_ROW)
    out.emplace_back(sqlite3_column_int64(q, 0),
                     reinterpret_cast<const char*>(sqlite3_column_text(q, 1)));
  sqlite3_finalize(q);
  sqlite3_close(db);
  return out;
}

// Events: each cycle grants 10 and spends them (balance.restored,
// balance.low at 5, balance.depleted).
// The seq of every event in the store file, in order.
std::vector<std::uint64_t> stored_seqs(http_client& admin, const std::string& path) {
  std::vector<std::uint64_t> out;
  for (const auto& e : stored_events(admin, path))
    out.push_back(e.first);
  return out;
}

void make_events(http_client& admin, const std::string& account, int cycles) {
  for (int i = 0; i < cycles; ++i) {
    grant(admin, account, "10");
    charge(admin, account, "10");
  }
}

// Advances the test clock a minute at a time until `done` holds, polling;
// fails after a generous bound.
template <typename Done>
bool until(http_client& admin, Done done, std::int64_t step_s = 60) {
  for (int i = 0; i < 3000; ++i) {
    if (done()) return true;
    advance(admin, step_s);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // a poll, not a wait for it
  }
  return done();
}

bool non_decreasing(const std::vector<received>& log) {
  for (std::size_t i = 1; i < log.size(); ++i)
    if (log[i].seq < log[i - 1].seq) return false;
  return true;
}

// GET /v1/webhook-endpoints/{id}/deliveries: {"data": [its last 100
// attempts, newest first]}, read in pages of 7 that follow `next` (each
// page's attempts older than the page before's).
bj::value attempt_log(http_client& admin, const std::string& id) {
  bj::array all;
  std::string target = "/v1/webhook-endpoints/" + id + "/deliveries?limit=7";
  for (int page = 0; page < 100; ++page) {
    auto r = expect(admin.get(target), 200, "log").json();
    const auto& data = r.at("data").as_array();
    EXPECT_LE(data.size(), 7u);
    for (const auto& d : data) {
      if (!all.empty()) EXPECT_LT(d.at("id").as_int64(), all.back().at("id").as_int64());
      all.push_back(d);
    }
    if (r.at("next").is_null()) break;
    target = "/v1/webhook-endpoints/" + id +
             "/deliveries?limit=7&after=" + std::string(r.at("next").as_string());
  }
  bj::object out;
  out["data"] = std::move(all);
  return out;
}

// With the default log (deliveries take events as they become durable, from
// the event feed) and the test clock for retries. The default answer
// timeout (10 s): a shorter one could fire on a busy machine while an
// answer is on its way, and send its event twice.
const std::vector<std::string> flags = {"--test-clock"};
// For a receiver that hangs: long enough for any answer, short enough that
// two hangs cost seconds.
const std::vector<std::string> hang_flags = {"--test-clock", "--webhook-response-timeout-ms",
                                             "3000"};

TEST(webhook_delivery, every_event_arrives_in_order_signed_through_failures_and_hangs) {
  // 500 to the first three attempts, a hang on the fifth and the ninth.
  receiver all([](std::size_t n) {
    if (n < 3) return answer::fail;
    if (n == 4 || n == 8) return answer::hang;
    return answer::ok;
  });
  receiver depleted_only([](std::size_t n) { return n % 2 == 0 ? answer::fail : answer::ok; });
  live_server srv(hang_flags);
  http_client admin(srv.port(), admin_key);
  expect(admin.put("/v1/webhook-endpoints/all",
                   R"({"url":")" + all.url() + R"(","events":["*"],"secret":")" + secret + "\"}"),
         201, "endpoint");
  expect(admin.put("/v1/webhook-endpoints/depleted",
                   R"({"url":")" + depleted_only.url() +
                       R"(","events":["balance.depleted"],"secret":")" + secret + "\"}"),
         201, "endpoint");
  put_account(admin, "A", R"({"settings":{"low_balance_thresholds":[5]}})");
  make_events(admin, "A", 4);
  const auto events = stored_events(admin, srv.db());
  ASSERT_GE(events.size(), 12u);
  std::vector<std::uint64_t> every, depleted;
  for (const auto& [seq, type] : events) {
    every.push_back(seq);
    if (type == "balance.depleted") depleted.push_back(seq);
  }
  ASSERT_EQ(depleted.size(), 4u);
  ASSERT_TRUE(until(admin,
                    [&] {
                      return all.delivered().size() >= every.size() &&
                             depleted_only.delivered().size() >= depleted.size();
                    }))
      << all.delivered().size() << " of " << every.size();
  EXPECT_EQ(all.delivered(), every);  // each once after its 2xx, in order
  EXPECT_EQ(depleted_only.delivered(), depleted);
  for (const receiver* r : {&all, &depleted_only}) {
    EXPECT_TRUE(non_decreasing(r->log()));
    for (const received& x : r->log())
      EXPECT_TRUE(x.signed_ok) << "seq " << x.seq;
  }
  for (const received& x : depleted_only.log())
    EXPECT_EQ(x.type, "balance.depleted");
  // Each body is the event as GET /v1/events lists it.
  auto listed = expect(admin.get("/v1/events?limit=1000"), 200, "events").json();
  std::map<std::uint64_t, std::string> by_seq;
  for (const auto& ev : listed.at("data").as_array())
    by_seq[static_cast<std::uint64_t>(ev.at("seq").as_int64())] = bj::serialize(ev);
  EXPECT_EQ(by_seq.size(), every.size());
  for (const received& x : all.log())
    EXPECT_EQ(bj::serialize(bj::parse(x.body)), by_seq[x.seq]) << x.body;
  // The attempt log: the failures, the hang's timeout, the successes (the
  // last attempt is recorded just after its answer).
  bj::value log;
  ASSERT_TRUE(until(admin, [&] {
    log = attempt_log(admin, "all");
    return log.at("data").as_array().size() == all.log().size();
  }));
  const auto& data = log.at("data").as_array();
  const auto& first = data.back();  // oldest last
  EXPECT_EQ(first.at("status"), bj::value(500));
  EXPECT_EQ(first.at("attempt"), bj::value(1));
  EXPECT_FALSE(first.at("next_retry_at").is_null());
  EXPECT_EQ(data[data.size() - 3].at("attempt"), bj::value(3));
  bool timed_out = false;
  for (const auto& d : data)
    timed_out |= d.at("status").is_null() && str(d, "error").find("timeout") != std::string::npos;
  EXPECT_TRUE(timed_out) << bj::serialize(log);
  auto ep = expect(admin.get("/v1/webhook-endpoints/all"), 200, "get").json();
  EXPECT_EQ(ep.at("delivered_seq"), bj::value(static_cast<std::int64_t>(every.back())));
  EXPECT_TRUE(ep.at("failing_since").is_null());
}

TEST(webhook_delivery, endpoints_that_answer_every_delivery_get_each_event_once) {
  // Nothing fails: at least once must then be exactly once. Several
  // endpoints in flight together (a delivery that ends while the worker
  // looks at another endpoint must not have its event sent again). Two
  // receivers keep their connection open: every POST goes over one. Two
  // close it after each answer: the next POST finds it closed, before the
  // receiver read anything, and goes again over a new one.
  std::vector<std::unique_ptr<receiver>> rs;
  live_server srv(flags);
  http_client admin(srv.port(), admin_key);
  for (int i = 0; i < 4; ++i) {
    rs.push_back(std::make_unique<receiver>([](std::size_t) { return answer::ok; }, i % 2 == 0));
    expect(admin.put("/v1/webhook-endpoints/ok" + std::to_string(i),
                     R"({"url":")" + rs.back()->url() + R"(","events":["*"],"secret":")" + secret +
                         "\"}"),
           201, "endpoint");
  }
  put_account(admin, "A", R"({"settings":{"low_balance_thresholds":[5]}})");
  make_events(admin, "A", 40);
  const std::vector<std::uint64_t> every = stored_seqs(admin, srv.db());
  ASSERT_GE(every.size(), 120u);
  for (const auto& r : rs) {
    ASSERT_TRUE(until(admin, [&] { return r->log().size() >= every.size(); }))
        << r->log().size() << " of " << every.size();
    EXPECT_EQ(r->delivered(), every);
    EXPECT_EQ(r->log().size(), every.size()) << "an event sent twice";
  }
  EXPECT_EQ(rs[0]->connections(), 1u);
  EXPECT_EQ(rs[2]->connections(), 1u);
  EXPECT_EQ(rs[1]->connections(), every.size());
  // Each attempt is in the log, batches or not: the last 100 of them, once
  // the last batch is recorded (just after its answer).
  bj::value log;
  ASSERT_TRUE(until(admin, [&] {
    log = attempt_log(admin, "ok0");
    const auto& d = log.at("data").as_array();
    return !d.empty() && d[0].at("event_seq") == bj::value(static_cast<std::int64_t>(every.back()));
  }));
  const auto& data = log.at("data").as_array();
  ASSERT_EQ(data.size(), 100u);
  for (std::size_t i = 0; i < data.size(); ++i) {
    EXPECT_EQ(data[i].at("event_seq"),
              bj::value(static_cast<std::int64_t>(every[every.size() - 1 - i])));
    EXPECT_EQ(data[i].at("status"), bj::value(204));
    EXPECT_EQ(data[i].at("attempt"), bj::value(1));
  }
}

TEST(webhook_delivery, a_shutdown_cuts_a_hanging_delivery_which_is_sent_again_after_it) {
  // The endpoint never answers, and the response timeout is 10 minutes:
  // SIGTERM must not wait for it (the drain has 10 s), and the cut attempt,
  // unrecorded, is made again after the restart.
  receiver r([](std::size_t n) { return n == 0 ? answer::hang : answer::ok; });
  std::vector<std::string> slow = {"--test-clock", "--webhook-response-timeout-ms", "600000"};
  live_server srv(slow);
  std::vector<std::uint64_t> every;
  {
    http_client admin(srv.port(), admin_key);
    expect(admin.put("/v1/webhook-endpoints/h",
                     R"({"url":")" + r.url() + R"(","events":["*"],"secret":")" + secret + "\"}"),
           201, "endpoint");
    put_account(admin, "A");
    grant(admin, "A", "1");
    every = stored_seqs(admin, srv.db());
    ASSERT_EQ(every.size(), 1u);
    ASSERT_TRUE(until(admin, [&] { return r.log().size() >= 1; }));
  }
  EXPECT_EQ(srv.terminate(), 0);
  srv.restart();
  http_client admin(srv.port(), admin_key);
  ASSERT_TRUE(until(admin, [&] { return r.delivered().size() >= 1; }));
  EXPECT_EQ(r.delivered(), every);
  // The attempt is recorded after its batch (just after the answer): the
  // log holds it, and nothing of the cut one.
  bj::value log;
  ASSERT_TRUE(until(admin, [&] {
    log = attempt_log(admin, "h");
    const auto& d = log.at("data").as_array();
    return !d.empty() && d.at(0).at("status") == bj::value(204);
  }));
  ASSERT_EQ(log.at("data").as_array().size(), 1u) << "the cut attempt was recorded";
  EXPECT_EQ(log.at("data").as_array().at(0).at("status"), bj::value(204));
}

TEST(webhook_delivery, a_sigkill_with_retries_pending_loses_nothing) {
  // The first three events are delivered, then every attempt fails.
  receiver r([](std::size_t n) { return n < 3 ? answer::ok : answer::fail; });
  live_server srv(flags);
  std::vector<std::uint64_t> every;
  {
    http_client admin(srv.port(), admin_key);
    expect(admin.put("/v1/webhook-endpoints/h",
                     R"({"url":")" + r.url() + R"(","events":["*"],"secret":")" + secret + "\"}"),
           201, "endpoint");
    put_account(admin, "A", R"({"settings":{"low_balance_thresholds":[5]}})");
    make_events(admin, "A", 3);
    every = stored_seqs(admin, srv.db());
    // Retries pending: two failed attempts of the fourth event recorded (so
    // the third success was: the next attempt starts after it). The
    // receiver's count is not enough: the kill could land between its answer
    // and the record.
    ASSERT_TRUE(until(admin, [&] {
      auto l = attempt_log(admin, "h");
      return l.at("data").as_array().size() >= 5;
    }));
  }
  srv.kill_now();
  r.set_policy([](std::size_t) { return answer::ok; });
  srv.restart();
  http_client admin(srv.port(), admin_key);
  ASSERT_TRUE(until(admin, [&] { return r.delivered().size() >= every.size(); }))
      << r.delivered().size() << " of " << every.size();
  // Exactly once here: the cursor and the failures were durable, so nothing
  // delivered before the kill came again.
  EXPECT_EQ(r.delivered(), every);
  EXPECT_TRUE(non_decreasing(r.log()));
  for (const received& x : r.log())
    EXPECT_TRUE(x.signed_ok);
  // The attempts before the kill are in the log (but one in flight when it
  // landed: the receiver saw it, the killed server never recorded it), and
  // the numbering went on.
  bj::value log;
  EXPECT_TRUE(until(admin, [&] {
    log = attempt_log(admin, "h");
    const auto& data = log.at("data").as_array();
    return !data.empty() &&
           data.at(0).at("event_seq") == bj::value(static_cast<std::int64_t>(every.back())) &&
           data.at(0).at("status") == bj::value(204);
  }));
  const std::size_t recorded = log.at("data").as_array().size();
  EXPECT_TRUE(recorded == r.log().size() || recorded + 1 == r.log().size())
      << recorded << " recorded, " << r.log().size() << " received";
  bool third_attempt = false;
  for (const auto& d : log.at("data").as_array())
    third_attempt |= d.at("event_seq") == bj::value(static_cast<std::int64_t>(every[3])) &&
                     d.at("attempt").as_int64() >= 3 && d.at("status") == bj::value(204);
  EXPECT_TRUE(third_attempt) << bj::serialize(log);
}

TEST(webhook_delivery, three_days_of_failures_disable_then_reenable_and_redeliver) {
  receiver r([](std::size_t) { return answer::fail; });
  live_server srv(flags);
  http_client admin(srv.port(), admin_key);
  expect(admin.put("/v1/webhook-endpoints/h",
                   R"({"url":")" + r.url() + R"(","events":["*"],"secret":")" + secret + "\"}"),
         201, "endpoint");
  put_account(admin, "A", R"({"settings":{"low_balance_thresholds":[5]}})");
  make_events(admin, "A", 2);
  std::vector<std::uint64_t> every = stored_seqs(admin, srv.db());
  ASSERT_TRUE(until(
      admin,
      [&] {
        auto e = admin.get("/v1/webhook-endpoints/h").json();
        return e.at("enabled") == bj::value(false);
      },
      3600));
  auto off = admin.get("/v1/webhook-endpoints/h").json();
  EXPECT_EQ(str(off, "disabled_reason"), "failing for 3 days");
  // The event webhook_endpoint.disabled, of no account, is stored and listed.
  bj::value disabled;
  ASSERT_TRUE(until(admin, [&] {
    auto page = admin.get("/v1/events?type=webhook_endpoint.disabled").json();
    if (page.at("data").as_array().empty()) return false;
    disabled = page.at("data").as_array().at(0);
    return true;
  }));
  EXPECT_TRUE(disabled.at("account").is_null()) << disabled;
  EXPECT_EQ(str(disabled.at("data"), "endpoint"), "h");
  EXPECT_EQ(str(disabled.at("data"), "disabled_reason"), "failing for 3 days");
  const std::size_t attempts = r.log().size();
  EXPECT_GE(attempts, 3u);  // how many depends on how far each look finds the clock
  // Disabled after 3 days of failures, not before.
  const auto since = creditd::ledger::parse_time(str(off, "failing_since"));
  const auto at = creditd::ledger::parse_time(str(off, "disabled_at"));
  ASSERT_TRUE(since && at);
  EXPECT_GE(*at - *since, 3LL * 86400 * 1'000'000);
  for (const received& x : r.log())
    EXPECT_EQ(x.seq, every.front());
  // Disabled: nothing more is tried, however long.
  advance(admin, 7 * 86400);
  std::this_thread::sleep_for(std::chrono::milliseconds(600));  // a look or two, not a wait
  EXPECT_EQ(r.log().size(), attempts);
  // Re-enabled, the events arrive (the disabled event too, as any after the
  // cursor); a redelivery from the first sends all again.
  every.push_back(static_cast<std::uint64_t>(disabled.at("seq").as_int64()));
  r.set_policy([](std::size_t) { return answer::ok; });
  expect(admin.put("/v1/webhook-endpoints/h",
                   R"({"url":")" + r.url() + R"(","events":["*"],"enabled":true})"),
         200, "enable");
  ASSERT_TRUE(until(admin, [&] { return r.delivered().size() >= every.size(); }));
  EXPECT_EQ(r.delivered(), every);
  expect(admin.post("/v1/webhook-endpoints/h/redeliver",
                    R"({"from_seq":)" + std::to_string(every.front()) + "}"),
         200, "redeliver");
  ASSERT_TRUE(until(admin, [&] { return r.delivered().size() >= 2 * every.size(); }));
  std::vector<std::uint64_t> twice = every;
  twice.insert(twice.end(), every.begin(), every.end());
  EXPECT_EQ(r.delivered(), twice);
}

TEST(webhook_delivery, https_endpoints_are_verified_against_the_ca_file_and_keep_their_connection) {
  temp_dir dir;
  const test_cert cert = make_test_cert(dir.file(""), "hooks");
  receiver r([](std::size_t) { return answer::ok; }, true, &cert);
  const std::string endpoint =
      R"({"url":")" + r.url() + R"(","events":["*"],"secret":")" + secret + "\"}";
  {
    // Trusting the test's CA: every event, in order, signed, over one
    // connection (one handshake).
    std::vector<std::string> with_ca = flags;
    with_ca.insert(with_ca.end(), {"--webhook-ca-file", cert.cert});
    live_server srv(with_ca);
    http_client admin(srv.port(), admin_key);
    expect(admin.put("/v1/webhook-endpoints/tls", endpoint), 201, "endpoint");
    put_account(admin, "A", R"({"settings":{"low_balance_thresholds":[5]}})");
    make_events(admin, "A", 5);
    const std::vector<std::uint64_t> every = stored_seqs(admin, srv.db());
    ASSERT_GE(every.size(), 15u);
    ASSERT_TRUE(until(admin, [&] { return r.log().size() >= every.size(); }))
        << r.log().size() << " of " << every.size();
    EXPECT_EQ(r.delivered(), every);
    for (const received& x : r.log())
      EXPECT_TRUE(x.signed_ok) << "seq " << x.seq;
    EXPECT_EQ(r.connections(), 1u);
  }
  const std::size_t before = r.log().size();
  {
    // The system's CAs do not know the test's: the handshake fails, the
    // attempt says why, and nothing is sent.
    live_server srv(flags);
    http_client admin(srv.port(), admin_key);
    expect(admin.put("/v1/webhook-endpoints/tls", endpoint), 201, "endpoint");
    put_account(admin, "B", R"({"settings":{"low_balance_thresholds":[5]}})");
    make_events(admin, "B", 1);
    bj::value log;
    ASSERT_TRUE(until(admin, [&] {
      log = attempt_log(admin, "tls");
      return !log.at("data").as_array().empty();
    }));
    const auto& first = log.at("data").as_array().back();
    EXPECT_TRUE(first.at("status").is_null()) << bj::serialize(log);
    EXPECT_NE(str(first, "error").find("tls: "), std::string::npos) << bj::serialize(log);
    EXPECT_NE(str(first, "error").find("certificate verify failed"), std::string::npos)
        << bj::serialize(log);
  }
  EXPECT_EQ(r.log().size(), before);
}

}  // namespace
}  // namespace webhook_delivery_test_cpp
