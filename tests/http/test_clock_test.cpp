// --test-clock: a clock that stands still and moves only through
// POST /v1/test-clock/advance, which runs what became due (hold and lot expiry).
#include "http_fixture.hpp"

using namespace creditd::testing;

TEST(http_test_clock, stands_still_and_moves_only_forward_on_advance) {
  live_server srv({"--test-clock"});
  http_client c(srv.port(), admin_key);
  const std::int64_t t0 = clock_now(c);
  EXPECT_EQ(clock_now(c), t0);
  put_account(c, "a");
  grant(c, "a", "10");
  EXPECT_EQ(parse_time(str(charge(c, "a", "1"), "created_at")), t0);
  EXPECT_EQ(clock_now(c), t0);

  EXPECT_EQ(advance(c, 3600), t0 + 3600 * us_per_second);
  EXPECT_EQ(clock_now(c), t0 + 3600 * us_per_second);
  EXPECT_EQ(advance(c, 0), t0 + 3600 * us_per_second);
  EXPECT_EQ(parse_time(str(charge(c, "a", "1"), "created_at")), t0 + 3600 * us_per_second);
  // The document reads the same time the server uses.
  EXPECT_EQ(field(c.get("/v1/test-clock"), "now"), format_time(t0 + 3600 * us_per_second));

  for (const char* body : {"{}", R"({"seconds":-1})", R"({"seconds":1.5})", R"({"seconds":"5"})",
                           R"({"seconds":5,"minutes":1})", "[5]"}) {
    auto r = c.post("/v1/test-clock/advance", body);
    EXPECT_EQ(r.status, 400u) << body << ": " << r.body;
    EXPECT_EQ(r.error_code(), "invalid_request") << body;
  }
  auto service_key = expect(c.post("/v1/api-keys", R"({"role":"service"})"), 201, "key");
  http_client service(srv.port(), field(service_key, "key"));
  EXPECT_EQ(service.post("/v1/test-clock/advance", R"({"seconds":5})").status, 403u);
  EXPECT_EQ(service.get("/v1/test-clock").status, 200u);
  EXPECT_EQ(clock_now(c), t0 + 3600 * us_per_second);
}

TEST(http_test_clock, a_hold_expires_past_its_ttl_and_its_credits_return) {
  live_server srv({"--test-clock"});
  http_client c(srv.port(), admin_key);
  put_account(c, "h");
  grant(c, "h", "10");
  const std::int64_t t0 = clock_now(c);
  auto placed = c.post("/v1/accounts/h/holds", R"({"operation":"x","amount":4,"ttl_seconds":60})");
  ASSERT_EQ(placed.status, 201u) << placed.body;
  const std::string id = field(placed, "id");
  EXPECT_EQ(parse_time(field(placed, "expires_at")), t0 + 60 * us_per_second);

  advance(c, 59);
  EXPECT_EQ(field(c.get("/v1/holds/" + id), "status"), "open");
  EXPECT_EQ(available(c, "h"), "6");
  EXPECT_EQ(entries_of_type(c, "h", "release").size(), 0u);

  advance(c, 1);
  auto got = c.get("/v1/holds/" + id);
  ASSERT_EQ(got.status, 200u);
  EXPECT_EQ(field(got, "status"), "expired");
  auto b = balance(c, "h");
  EXPECT_EQ(str(b, "available"), "10");
  EXPECT_EQ(str(b, "held"), "0");
  auto releases = entries_of_type(c, "h", "release");
  ASSERT_EQ(releases.size(), 1u);
  EXPECT_EQ(releases[0].at("amount").as_string(), "4");
  EXPECT_EQ(releases[0].at("hold").as_string(), id);
  EXPECT_EQ(releases[0].at("balance_after").as_string(), "10");
  EXPECT_EQ(parse_time(std::string(releases[0].at("created_at").as_string())),
            t0 + 60 * us_per_second);

  const std::string before = state(c, "h");
  for (const char* action : {"/capture", "/release"}) {
    auto r = c.post("/v1/holds/" + id + action);
    EXPECT_EQ(r.status, 409u) << action << ": " << r.body;
    EXPECT_EQ(r.error_code(), "conflict");
  }
  EXPECT_EQ(state(c, "h"), before);
  EXPECT_EQ(str(charge(c, "h", "10"), "balance_after"), "0");
}

TEST(http_test_clock, a_lot_expires_past_expires_at_with_an_expire_entry) {
  live_server srv({"--test-clock"});
  http_client c(srv.port(), admin_key);
  put_account(c, "l");
  const std::int64_t t0 = clock_now(c);
  const std::int64_t expiry = t0 + 3600 * us_per_second;
  const std::string lot =
      grant(c, "l", "10", "prepaid", "\"expires_at\":\"" + format_time(expiry) + "\"");
  const std::string forever = grant(c, "l", "5");
  // Same priority: the lot that expires pays first.
  auto ch = charge(c, "l", "3");
  EXPECT_EQ(bj::serialize(ch.at("lots")), R"([{"lot":")" + lot + R"(","amount":"3"}])");
  EXPECT_EQ(available(c, "l"), "12");

  advance(c, 3599);
  EXPECT_EQ(available(c, "l"), "12");
  EXPECT_EQ(entries_of_type(c, "l", "expire").size(), 0u);

  advance(c, 1);
  auto expires = entries_of_type(c, "l", "expire");
  ASSERT_EQ(expires.size(), 1u);
  EXPECT_EQ(expires[0].at("amount").as_string(), "7");
  EXPECT_EQ(expires[0].at("lot").as_string(), lot);
  EXPECT_EQ(expires[0].at("balance_after").as_string(), "5");
  EXPECT_EQ(parse_time(std::string(expires[0].at("created_at").as_string())), expiry);
  EXPECT_EQ(available(c, "l"), "5");

  auto lots = c.get("/v1/accounts/l/lots").json();
  const auto& first = lots.at("data").as_array().at(0);
  EXPECT_EQ(str(first, "id"), lot);
  EXPECT_EQ(str(first, "status"), "expired");
  EXPECT_EQ(str(first, "remaining"), "0");
  EXPECT_EQ(str(first, "expired"), "7");
  EXPECT_EQ(str(first, "spent"), "3");
  const auto b = balance(c, "l");
  ASSERT_EQ(b.at("lots").as_array().size(), 1u);
  EXPECT_EQ(str(b.at("lots").as_array()[0], "id"), forever);

  const std::string before = state(c, "l");
  auto refused = c.post("/v1/accounts/l/charges", R"({"operation":"x","amount":6})");
  ASSERT_EQ(refused.status, 402u) << refused.body;
  EXPECT_EQ(error_field(refused, "available"), "5");
  EXPECT_EQ(state(c, "l"), before);
  auto void_expired = c.post("/v1/lots/" + lot + "/void");
  EXPECT_EQ(void_expired.status, 409u) << void_expired.body;
}

TEST(http_test_clock, a_hold_keeps_its_lot_past_the_lots_expiry) {
  live_server srv({"--test-clock"});
  http_client c(srv.port(), admin_key);
  put_account(c, "k");
  const std::int64_t t0 = clock_now(c);
  const std::string lot = grant(c, "k", "10", "promo",
                                "\"expires_at\":\"" + format_time(t0 + 100 * us_per_second) + "\"");
  auto h = c.post("/v1/accounts/k/holds", R"({"operation":"x","amount":4,"ttl_seconds":600})");
  ASSERT_EQ(h.status, 201u);
  advance(c, 100);
  // The lot's unheld 6 expired; the held 4 were authorised before and may be captured.
  EXPECT_EQ(available(c, "k"), "0");
  auto cap = c.post("/v1/holds/" + field(h, "id") + "/capture", R"({"amount":3})");
  ASSERT_EQ(cap.status, 200u) << cap.body;
  EXPECT_EQ(bj::serialize(cap.json().at("charge").at("lots")),
            R"([{"lot":")" + lot + R"(","amount":"3"}])");
  std::vector<std::string> types, amounts;
  for (const auto& e : entries(c, "k")) {
    types.emplace_back(e.at("type").as_string());
    amounts.emplace_back(e.at("amount").as_string());
  }
  // The uncaptured 1 goes back to an expired lot: lost, as an expire entry.
  EXPECT_EQ(types, (std::vector<std::string>{"grant", "hold", "expire", "capture", "expire"}));
  EXPECT_EQ(amounts, (std::vector<std::string>{"10", "4", "6", "3", "1"}));
  EXPECT_EQ(available(c, "k"), "0");
}

TEST(http_test_clock, one_advance_runs_every_due_job_in_time_order) {
  live_server srv({"--test-clock"});
  http_client c(srv.port(), admin_key);
  put_account(c, "a");
  const std::int64_t t0 = clock_now(c);
  grant(c, "a", "5", "prepaid", "\"expires_at\":\"" + format_time(t0 + 30 * us_per_second) + "\"");
  grant(c, "a", "5");
  ASSERT_EQ(
      c.post("/v1/accounts/a/holds", R"({"operation":"x","amount":2,"ttl_seconds":10})").status,
      201u);
  ASSERT_EQ(
      c.post("/v1/accounts/a/holds", R"({"operation":"x","amount":1,"ttl_seconds":50})").status,
      201u);
  advance(c, 86400);
  std::vector<std::string> types;
  std::vector<std::int64_t> times;
  for (const auto& e : entries(c, "a")) {
    types.emplace_back(e.at("type").as_string());
    times.push_back(parse_time(std::string(e.at("created_at").as_string())) - t0);
  }
  // +10 s: the first hold returns 2 to the lot; +30 s: the lot expires with the 4 it has
  // (1 is still held); +50 s: the second hold's 1 returns to an expired lot: lost.
  EXPECT_EQ(types, (std::vector<std::string>{"grant", "grant", "hold", "hold", "release", "expire",
                                             "expire"}));
  EXPECT_EQ(times, (std::vector<std::int64_t>{0, 0, 0, 0, 10 * us_per_second, 30 * us_per_second,
                                              50 * us_per_second}));
  EXPECT_EQ(available(c, "a"), "5");
}

TEST(http_test_clock, routes_do_not_exist_without_the_flag) {
  live_server srv;
  http_client c(srv.port(), admin_key);
  auto get = c.get("/v1/test-clock");
  EXPECT_EQ(get.status, 404u) << get.body;
  EXPECT_EQ(get.error_code(), "unknown_route");
  auto post = c.post("/v1/test-clock/advance", R"({"seconds":60})");
  EXPECT_EQ(post.status, 404u) << post.body;
  EXPECT_EQ(post.error_code(), "unknown_route");
}

TEST(http_test_clock, a_refund_into_an_expired_lot_is_lost_with_an_expire_entry) {
  live_server srv({"--test-clock"});
  http_client c(srv.port(), admin_key);
  put_account(c, "x");
  const std::int64_t t0 = clock_now(c);
  const std::string lot = grant(c, "x", "10", "promo",
                                "\"expires_at\":\"" + format_time(t0 + 100 * us_per_second) + "\"");
  const std::string keep = grant(c, "x", "1");
  auto ch = charge(c, "x", "4");
  advance(c, 100);
  ASSERT_EQ(available(c, "x"), "1");
  auto r = c.post("/v1/charges/" + str(ch, "id") + "/refund");
  ASSERT_EQ(r.status, 201u) << r.body;
  // A new lot with the old lot's expiry receives the credits, expired at once.
  const auto rv = r.json();
  ASSERT_EQ(rv.at("lots").as_array().size(), 1u);
  const std::string fresh = str(rv.at("lots").as_array()[0], "lot");
  EXPECT_NE(fresh, lot);
  EXPECT_NE(fresh, keep);
  EXPECT_EQ(available(c, "x"), "1");
  auto es = entries(c, "x");
  ASSERT_GE(es.size(), 2u);
  EXPECT_EQ(es[es.size() - 2].at("type").as_string(), "refund");
  EXPECT_EQ(es.back().at("type").as_string(), "expire");
  EXPECT_EQ(es.back().at("amount").as_string(), "4");
}

TEST(http_test_clock, balance_as_of_a_past_time) {
  live_server srv({"--test-clock"});
  http_client c(srv.port(), admin_key);
  put_account(c, "hist");
  const std::int64_t t0 = clock_now(c);
  grant(c, "hist", "10");
  advance(c, 60);
  charge(c, "hist", "3");
  advance(c, 60);
  auto h = c.post("/v1/accounts/hist/holds", R"({"operation":"x","amount":2})");
  ASSERT_EQ(h.status, 201u);
  advance(c, 60);

  auto at = [&](std::int64_t seconds) {
    return c.get("/v1/accounts/hist/balance?at=" + format_time(t0 + seconds * us_per_second));
  };
  auto b30 = at(30);
  ASSERT_EQ(b30.status, 200u) << b30.body;
  EXPECT_EQ(field(b30, "available"), "10");
  EXPECT_EQ(parse_time(field(b30, "as_of")), t0 + 30 * us_per_second);
  EXPECT_EQ(field(at(60), "available"), "7");
  auto b150 = at(150);
  EXPECT_EQ(field(b150, "available"), "5");
  EXPECT_EQ(field(b150, "held"), "2");
  EXPECT_EQ(available(c, "hist"), "5");
  auto bad = c.get("/v1/accounts/hist/balance?at=yesterday");
  EXPECT_EQ(bad.status, 400u) << bad.body;
  EXPECT_EQ(bad.error_code(), "invalid_request");
}

TEST(http_test_clock, a_lot_is_spendable_from_its_effective_at) {
  live_server srv({"--test-clock"});
  http_client c(srv.port(), admin_key);
  put_account(c, "f");
  const std::int64_t t0 = clock_now(c);
  grant(c, "f", "10", "prepaid",
        "\"effective_at\":\"" + format_time(t0 + 60 * us_per_second) + "\"");
  EXPECT_EQ(available(c, "f"), "0");
  const std::string before = state(c, "f");
  auto early = c.post("/v1/accounts/f/charges", R"({"operation":"x","amount":1})");
  ASSERT_EQ(early.status, 402u) << early.body;
  EXPECT_EQ(error_field(early, "available"), "0");
  EXPECT_EQ(state(c, "f"), before);
  advance(c, 60);
  EXPECT_EQ(available(c, "f"), "10");
  EXPECT_EQ(str(charge(c, "f", "1"), "balance_after"), "9");
}

// Issue 9: a restarted --test-clock server started at the wall clock again,
// before the time it had reached, so lots became "not yet effective" and
// entries went backwards in time. It resumes where it was.
TEST(http_test_clock, a_restart_resumes_the_clock_where_it_was) {
  live_server srv({"--test-clock"});
  std::int64_t advanced = 0;
  {
    http_client c(srv.port(), admin_key);
    put_account(c, "a");
    advanced = advance(c, 30 * 86400);
    grant(c, "a", "5");  // effective at the advanced time
  }
  ASSERT_EQ(srv.terminate(), 0);
  srv.restart();
  http_client c(srv.port(), admin_key);
  EXPECT_GE(clock_now(c), advanced);
  EXPECT_EQ(available(c, "a"), "5");  // the lot is effective, not in the future
  expect(c.post("/v1/accounts/a/charges", R"({"operation":"x","amount":1})"), 201, "charge");
  // The journal never goes backwards.
  auto page = expect(c.get("/v1/accounts/a/entries"), 200, "entries");
  auto doc = bj::parse(page.body);
  std::int64_t last = 0;
  for (const auto& e : doc.at("data").as_array()) {
    const std::int64_t t = parse_time(std::string(e.at("created_at").as_string()));
    EXPECT_GE(t, last);
    last = t;
  }
}
