// GET /v1/events/stream: every event once, in order, each as GET /v1/events
// lists it; a reconnect with Last-Event-ID resumes with no gap and no
// duplicate; a stream further behind than the feed keeps catches up from
// the store; a reader key's stream shows its own account only; keep-alive
// comments; `limit`; a bounded number of streams; a drain and a revoked key
// end a stream.
#include "http_fixture.hpp"
#include "sse_client.hpp"

namespace event_stream_test_cpp {  // unity builds: tests/CMakeLists.txt

using namespace creditd::testing;

namespace {

using strings = std::vector<std::string>;

// Every listed event after `after` (GET /v1/events, all pages), as
// seq -> its JSON re-serialized.
std::map<std::int64_t, std::string> listed(http_client& c, std::int64_t after = 0) {
  std::map<std::int64_t, std::string> out;
  std::string cursor = std::to_string(after);
  for (int page = 0; page < 1000; ++page) {
    auto v = expect(c.get("/v1/events?limit=1000&after=" + cursor), 200, "events").json();
    for (const auto& e : v.at("data").as_array())
      out[e.at("seq").as_int64()] = bj::serialize(e);
    if (v.at("next").is_null()) return out;
    cursor = str(v.at("next"));
  }
  throw std::runtime_error("too many pages");
}

// "seq type account" of a streamed event, checked against its own fields.
std::string summary(const sse_message& m) {
  const bj::value e = bj::parse(m.data);
  EXPECT_EQ(std::to_string(e.at("seq").as_int64()), m.id) << m.data;
  return m.id + " " + str(e, "type") + " " + str(e, "account");
}

// The next `n` events of `s`, summarized.
strings take(sse_client& s, int n) {
  strings out;
  for (int i = 0; i < n; ++i) {
    auto m = s.next_event();
    if (!m) {
      ADD_FAILURE() << "the stream ended after " << i << " of " << n << " events";
      break;
    }
    out.push_back(summary(*m));
  }
  return out;
}

// Crosses A's threshold once more: A is granted 2 and charged 2 (threshold
// 1): balance.low of A; with `restored`, A starts at zero (one more event).
void cross(http_client& c) {
  grant(c, "A", "2");
  charge(c, "A", "2");
}

}  // namespace

TEST(http_event_stream, each_event_once_in_order_then_resumed_after_last_event_id) {
  live_server srv;
  http_client c(srv.port(), admin_key);
  put_account(c, "A", R"({"settings":{"low_balance_thresholds":[5, 2]}})");
  put_account(c, "B");
  sse_client s(srv.port(), admin_key, "/v1/events/stream?after=0");
  ASSERT_EQ(s.status(), 200u) << s.body();
  EXPECT_EQ(s.headers().at("content-type"), "text/event-stream");
  EXPECT_EQ(s.headers().at("cache-control"), "no-cache");
  grant(c, "A", "10");  // 1 A restored
  grant(c, "B", "1");   // 2 B restored
  charge(c, "A", "9");  // 3, 4 A low (5, then 2)
  ASSERT_EQ(c.post("/v1/accounts/B/charges", R"({"operation":"x","amount":5})").status, 402u);
  charge(c, "B", "1");  // 6 B depleted
  EXPECT_EQ(take(s, 6), (strings{"1 balance.restored A", "2 balance.restored B", "3 balance.low A",
                                 "4 balance.low A", "5 charge.refused B", "6 balance.depleted B"}));
  s.close();

  // Events while nobody listens, then a reconnect after event 4 (as
  // EventSource does after the connection drops).
  grant(c, "B", "3");   // 7 B restored
  charge(c, "A", "1");  // 8 A depleted
  sse_client again(srv.port(), admin_key, "/v1/events/stream?after=1", "4");
  ASSERT_EQ(again.status(), 200u) << again.body();
  EXPECT_EQ(take(again, 4), (strings{"5 charge.refused B", "6 balance.depleted B",
                                     "7 balance.restored B", "8 balance.depleted A"}));
  // Nothing more until the next event, which follows directly.
  grant(c, "A", "1");  // 9 A restored
  EXPECT_EQ(take(again, 1), strings{"9 balance.restored A"});

  // Each streamed event is the event GET /v1/events lists, byte for byte
  // once parsed.
  const auto all = listed(c);
  ASSERT_EQ(all.size(), 9u);
  sse_client whole(srv.port(), admin_key, "/v1/events/stream?after=0&limit=9");
  for (const auto& [seq, json] : all) {
    auto m = whole.next_event();
    ASSERT_TRUE(m) << "ended before " << seq;
    EXPECT_EQ(m->id, std::to_string(seq));
    EXPECT_EQ(bj::serialize(bj::parse(m->data)), json);
  }
  // `limit` ends the stream after that many events.
  EXPECT_FALSE(whole.next_event());
}

TEST(http_event_stream, without_a_cursor_it_starts_with_the_next_event) {
  live_server srv;
  http_client c(srv.port(), admin_key);
  put_account(c, "A", R"({"settings":{"low_balance_thresholds":[1]}})");
  cross(c);  // 1 restored, 2 low, 3 depleted
  sse_client s(srv.port(), admin_key, "/v1/events/stream");
  ASSERT_EQ(s.status(), 200u) << s.body();
  cross(c);  // 4 restored, 5 low, 6 depleted
  EXPECT_EQ(take(s, 3),
            (strings{"4 balance.restored A", "5 balance.low A", "6 balance.depleted A"}));
}

TEST(http_event_stream, a_stream_behind_what_the_feed_keeps_catches_up_from_the_store) {
  // The feed keeps 3 events: a stream from the start reads the rest from
  // the store, page by page, then goes on live; a filtered one too.
  live_server srv({"--event-feed-kept", "3"});
  http_client c(srv.port(), admin_key);
  put_account(c, "A", R"({"settings":{"low_balance_thresholds":[1]}})");
  put_account(c, "B");
  strings want;
  int seq = 0;
  for (int i = 0; i < 40; ++i) {
    cross(c);
    for (const char* type : {"balance.restored", "balance.low", "balance.depleted"})
      want.push_back(std::to_string(++seq) + " " + type + " A");
  }
  grant(c, "B", "1");
  want.push_back(std::to_string(++seq) + " balance.restored B");
  sse_client s(srv.port(), admin_key, "/v1/events/stream?after=0");
  EXPECT_EQ(take(s, seq), want);
  sse_client b(srv.port(), admin_key, "/v1/events/stream?after=0&account=B");
  EXPECT_EQ(take(b, 1), strings{std::to_string(seq) + " balance.restored B"});
  sse_client low(srv.port(), admin_key, "/v1/events/stream?after=100&type=balance.low");
  EXPECT_EQ(take(low, 3), (strings{"101 balance.low A", "104 balance.low A", "107 balance.low A"}));
  // Then live, all three.
  charge(c, "B", "1");
  want.push_back(std::to_string(++seq) + " balance.depleted B");
  EXPECT_EQ(take(s, 1), strings{want.back()});
  EXPECT_EQ(take(b, 1), strings{want.back()});
  cross(c);
  EXPECT_EQ(take(low, 5).back(), std::to_string(seq + 2) + " balance.low A");
}

TEST(http_event_stream, a_reader_key_streams_its_own_account_only) {
  live_server srv;
  http_client admin(srv.port(), admin_key);
  put_account(admin, "A");
  put_account(admin, "B");
  const std::string reader_a = field(
      expect(admin.post("/v1/api-keys", R"({"role":"reader","account":"A"})"), 201, "key"), "key");
  sse_client mine(srv.port(), reader_a, "/v1/events/stream?after=0");
  ASSERT_EQ(mine.status(), 200u) << mine.body();
  sse_client other(srv.port(), reader_a, "/v1/events/stream?account=B");
  EXPECT_EQ(other.status(), 403u);
  EXPECT_NE(other.body().find("forbidden"), std::string::npos) << other.body();
  sse_client none(srv.port(), "", "/v1/events/stream");
  EXPECT_EQ(none.status(), 401u);
  sse_client bad(srv.port(), admin_key, "/v1/events/stream?after=x");
  EXPECT_EQ(bad.status(), 400u);
  sse_client bad_id(srv.port(), admin_key, "/v1/events/stream", "nope");
  EXPECT_EQ(bad_id.status(), 400u);
  grant(admin, "B", "1");   // 1 B
  grant(admin, "A", "1");   // 2 A
  grant(admin, "B", "1");   // nothing: B was not at zero
  charge(admin, "B", "2");  // 3 B depleted
  charge(admin, "A", "1");  // 4 A depleted
  EXPECT_EQ(take(mine, 2), (strings{"2 balance.restored A", "4 balance.depleted A"}));
}

TEST(http_event_stream, keep_alive_comments_while_nothing_happens) {
  live_server srv({"--event-keepalive-s", "1"});
  sse_client s(srv.port(), admin_key, "/v1/events/stream");
  ASSERT_EQ(s.status(), 200u) << s.body();
  for (int i = 0; i < 2; ++i) {
    auto m = s.next();
    ASSERT_TRUE(m);
    EXPECT_TRUE(m->is_comment()) << m->data;
    EXPECT_EQ(m->comment, "keep-alive");
  }
  // An event still comes between them.
  http_client c(srv.port(), admin_key);
  put_account(c, "A");
  grant(c, "A", "1");
  EXPECT_EQ(take(s, 1), strings{"1 balance.restored A"});
}

TEST(http_event_stream, streams_are_bounded_and_a_drain_ends_them) {
  live_server srv({"--event-streams-max", "2"});
  http_client c(srv.port(), admin_key);
  put_account(c, "A");
  auto one = std::make_unique<sse_client>(srv.port(), admin_key, "/v1/events/stream");
  sse_client two(srv.port(), admin_key, "/v1/events/stream");
  ASSERT_EQ(one->status(), 200u);
  ASSERT_EQ(two.status(), 200u);
  sse_client three(srv.port(), admin_key, "/v1/events/stream");
  EXPECT_EQ(three.status(), 503u);
  EXPECT_NE(three.body().find("too_many_streams"), std::string::npos) << three.body();
  EXPECT_EQ(three.headers().at("retry-after"), "1");
  // Ordinary requests go on meanwhile.
  grant(c, "A", "1");
  // A client that leaves frees its place (once the server has seen it go).
  one.reset();
  bool reopened = false;
  std::unique_ptr<sse_client> four;
  for (int i = 0; i < 600 && !reopened; ++i) {
    four = std::make_unique<sse_client>(srv.port(), admin_key, "/v1/events/stream?after=0");
    reopened = four->status() == 200u;
    if (!reopened) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(reopened) << "the place of a closed stream was never freed";
  EXPECT_EQ(take(*four, 1), strings{"1 balance.restored A"});
  EXPECT_EQ(take(two, 1), strings{"1 balance.restored A"});
  // SIGTERM: the open streams end and the server exits 0.
  EXPECT_EQ(srv.terminate(), 0);
  EXPECT_FALSE(two.next_event());
  EXPECT_FALSE(four->next_event());
}

TEST(http_event_stream, a_revoked_key_ends_its_stream) {
  live_server srv({"--event-keepalive-s", "1"});
  http_client admin(srv.port(), admin_key);
  put_account(admin, "A");
  auto made = expect(admin.post("/v1/api-keys", R"({"role":"reader","account":"A"})"), 201, "key");
  sse_client s(srv.port(), field(made, "key"), "/v1/events/stream");
  ASSERT_EQ(s.status(), 200u) << s.body();
  grant(admin, "A", "1");
  EXPECT_EQ(take(s, 1), strings{"1 balance.restored A"});
  expect(admin.del("/v1/api-keys/" + field(made, "id")), 200, "revoke");
  // It ends at its next chunk: a keep-alive or an event at most.
  EXPECT_FALSE(s.next_event());
}
}  // namespace event_stream_test_cpp
