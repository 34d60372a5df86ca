// Holds: create, capture (all or part; the rest returns), release, read, and
// the refusals of a hold that is not open.
#include "http_fixture.hpp"

using namespace creditd::testing;

TEST(http_holds, partial_capture_returns_the_remainder) {
  live_server srv({"--test-clock"});
  http_client c(srv.port(), admin_key);
  put_account(c, "h");
  const std::string lot = grant(c, "h", "10");
  const std::int64_t now = clock_now(c);

  auto placed = c.post("/v1/accounts/h/holds",
                       R"({"operation":"image.generate","amount":"4","reference":"job-7"})");
  ASSERT_EQ(placed.status, 201u) << placed.body;
  auto h = placed.json();
  const std::string id = str(h, "id");
  EXPECT_TRUE(id.starts_with("hold_")) << id;
  EXPECT_EQ(str(h, "object"), "hold");
  EXPECT_EQ(str(h, "status"), "open");
  EXPECT_EQ(str(h, "amount"), "4");
  EXPECT_EQ(str(h, "account"), "h");
  EXPECT_EQ(str(h, "reference"), "job-7");
  EXPECT_EQ(parse_time(str(h, "created_at")), now);
  EXPECT_EQ(parse_time(str(h, "expires_at")), now + 600 * us_per_second);  // default ttl
  EXPECT_TRUE(h.at("charge").is_null());

  auto b = balance(c, "h");
  EXPECT_EQ(str(b, "available"), "6");
  EXPECT_EQ(str(b, "held"), "4");

  // Held credits are not available to other charges.
  const std::string before = state(c, "h");
  auto refused = c.post("/v1/accounts/h/charges", R"({"operation":"x","amount":"6.5"})");
  ASSERT_EQ(refused.status, 402u) << refused.body;
  EXPECT_EQ(error_field(refused, "available"), "6");
  EXPECT_EQ(error_field(refused, "reason"), "balance");
  // Capture more than held: 400, the hold stays open.
  auto too_much = c.post("/v1/holds/" + id + "/capture", R"({"amount":"4.000001"})");
  EXPECT_EQ(too_much.status, 400u) << too_much.body;
  EXPECT_EQ(too_much.error_code(), "invalid_request");
  EXPECT_EQ(c.post("/v1/holds/" + id + "/capture", R"({"amount":-1})").status, 400u);
  EXPECT_EQ(c.post("/v1/holds/" + id + "/capture", R"({"amount":1,"x":1})").status, 400u);
  EXPECT_EQ(state(c, "h"), before);

  auto captured = c.post("/v1/holds/" + id + "/capture", R"({"amount":2.5})");
  ASSERT_EQ(captured.status, 200u) << captured.body;
  auto cap = captured.json();
  EXPECT_EQ(str(cap, "id"), id);
  EXPECT_EQ(str(cap, "status"), "captured");
  EXPECT_EQ(str(cap, "captured"), "2.5");
  const auto& ch = cap.at("charge");
  ASSERT_TRUE(ch.is_object()) << captured.body;
  EXPECT_TRUE(str(ch, "id").starts_with("ch_"));
  EXPECT_EQ(str(ch, "amount"), "2.5");
  EXPECT_EQ(str(ch, "hold"), id);
  EXPECT_EQ(str(ch, "operation"), "image.generate");
  EXPECT_EQ(bj::serialize(ch.at("lots")), R"([{"lot":")" + lot + R"(","amount":"2.5"}])");
  // (balance_after of this charge is not asserted: the journal's capture entry reads 6, before
  // the remainder's release entry in the same request brings it to 7.5.)

  b = balance(c, "h");
  EXPECT_EQ(str(b, "available"), "7.5");
  EXPECT_EQ(str(b, "held"), "0");

  std::vector<std::string> types, amounts;
  for (const auto& e : entries(c, "h")) {
    types.emplace_back(e.at("type").as_string());
    amounts.emplace_back(e.at("amount").as_string());
  }
  EXPECT_EQ(types, (std::vector<std::string>{"grant", "hold", "capture", "release"}));
  EXPECT_EQ(amounts, (std::vector<std::string>{"10", "4", "2.5", "1.5"}));

  // The captured charge can be refunded like any charge.
  auto refund = c.post("/v1/charges/" + str(ch, "id") + "/refund", R"({"amount":1})");
  ASSERT_EQ(refund.status, 201u) << refund.body;
  EXPECT_EQ(available(c, "h"), "8.5");

  // Not open any more.
  const std::string after = state(c, "h");
  for (const char* action : {"/capture", "/release"}) {
    auto r = c.post("/v1/holds/" + id + action);
    EXPECT_EQ(r.status, 409u) << action << ": " << r.body;
    EXPECT_EQ(r.error_code(), "conflict") << action;
  }
  EXPECT_EQ(state(c, "h"), after);

  auto got = c.get("/v1/holds/" + id);
  ASSERT_EQ(got.status, 200u) << got.body;
  EXPECT_EQ(str(got.json(), "status"), "captured");
  EXPECT_EQ(str(got.json(), "captured"), "2.5");
  EXPECT_EQ(str(got.json(), "charge"), str(ch, "id"));
}

TEST(http_holds, capture_all_by_default) {
  live_server srv;
  http_client c(srv.port(), admin_key);
  put_account(c, "h");
  grant(c, "h", "10");
  auto h =
      expect(c.post("/v1/accounts/h/holds", R"({"operation":"x","amount":4,"ttl_seconds":60})"),
             201, "hold")
          .json();
  EXPECT_EQ(parse_time(str(h, "expires_at")) - parse_time(str(h, "created_at")),
            60 * us_per_second);
  auto cap = c.post("/v1/holds/" + str(h, "id") + "/capture");
  ASSERT_EQ(cap.status, 200u) << cap.body;
  EXPECT_EQ(str(cap.json(), "captured"), "4");
  EXPECT_EQ(str(cap.json().at("charge"), "amount"), "4");
  EXPECT_EQ(available(c, "h"), "6");
  EXPECT_EQ(entries_of_type(c, "h", "release").size(), 0u);
}

TEST(http_holds, release_returns_everything) {
  live_server srv;
  http_client c(srv.port(), admin_key);
  put_account(c, "h");
  grant(c, "h", "10");
  const std::string id = field(
      expect(c.post("/v1/accounts/h/holds", R"({"operation":"x","amount":3})"), 201, "hold"), "id");
  EXPECT_EQ(available(c, "h"), "7");
  auto released = c.post("/v1/holds/" + id + "/release");
  ASSERT_EQ(released.status, 200u) << released.body;
  EXPECT_EQ(str(released.json(), "status"), "released");
  EXPECT_EQ(str(released.json(), "captured"), "0");
  EXPECT_TRUE(released.json().at("charge").is_null());
  EXPECT_EQ(available(c, "h"), "10");
  EXPECT_EQ(str(balance(c, "h"), "held"), "0");
  auto releases = entries_of_type(c, "h", "release");
  ASSERT_EQ(releases.size(), 1u);
  EXPECT_EQ(releases[0].at("amount").as_string(), "3");
  EXPECT_EQ(releases[0].at("hold").as_string(), id);
  EXPECT_EQ(releases[0].at("balance_after").as_string(), "10");

  const std::string before = state(c, "h");
  for (const char* action : {"/release", "/capture"}) {
    auto r = c.post("/v1/holds/" + id + action);
    EXPECT_EQ(r.status, 409u) << action << ": " << r.body;
    EXPECT_EQ(r.error_code(), "conflict");
  }
  EXPECT_EQ(c.post("/v1/holds/" + id + "/release", R"({"amount":1})").status, 400u);
  EXPECT_EQ(state(c, "h"), before);
  EXPECT_EQ(str(c.get("/v1/holds/" + id).json(), "status"), "released");
}

TEST(http_holds, refusals_and_unknown_ids) {
  live_server srv;
  http_client c(srv.port(), admin_key);
  put_account(c, "h");
  grant(c, "h", "10");
  const std::string before = state(c, "h");

  auto poor = c.post("/v1/accounts/h/holds", R"({"operation":"x","amount":"10.5"})");
  ASSERT_EQ(poor.status, 402u) << poor.body;
  EXPECT_EQ(poor.error_code(), "insufficient_credits");
  EXPECT_EQ(error_field(poor, "reason"), "balance");
  EXPECT_EQ(error_field(poor, "available"), "10");
  EXPECT_EQ(error_field(poor, "required"), "10.5");

  auto no_price = c.post("/v1/accounts/h/holds", R"({"operation":"x"})");
  EXPECT_EQ(no_price.status, 422u) << no_price.body;
  EXPECT_EQ(no_price.error_code(), "unknown_price");

  for (const char* body : {R"({"operation":"x","amount":-1})", R"({"amount":1})",
                           R"({"operation":"x","amount":1,"ttl_seconds":0})",
                           R"({"operation":"x","amount":1,"ttl_seconds":2592001})",
                           R"({"operation":"x","amount":1,"ttl_seconds":"60"})",
                           R"({"operation":"x","amount":1,"lifetime":60})"}) {
    auto r = c.post("/v1/accounts/h/holds", body);
    EXPECT_EQ(r.status, 400u) << body << ": " << r.body;
    EXPECT_EQ(r.error_code(), "invalid_request") << body;
  }
  EXPECT_EQ(state(c, "h"), before);

  auto missing_account = c.post("/v1/accounts/nobody/holds", R"({"operation":"x","amount":1})");
  EXPECT_EQ(missing_account.status, 404u);
  for (const char* id : {"hold_999999", "hold_0", "hold_", "hold_x1", "ch_1", "x"}) {
    for (const char* action : {"/capture", "/release"}) {
      auto r = c.post(std::string("/v1/holds/") + id + action);
      EXPECT_EQ(r.status, 404u) << id << action << ": " << r.body;
      EXPECT_EQ(r.error_code(), "not_found") << id << action;
    }
    auto g = c.get(std::string("/v1/holds/") + id);
    EXPECT_EQ(g.status, 404u) << id << ": " << g.body;
    EXPECT_EQ(g.error_code(), "not_found") << id;
  }
  EXPECT_EQ(state(c, "h"), before);
}
