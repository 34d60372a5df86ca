// Charges (explicit amounts), batches, refunds and adjustments over real HTTP.
#include "http_fixture.hpp"

namespace charges_test_cpp {  // unity builds: tests/CMakeLists.txt

using namespace creditd::testing;

namespace {
std::string parts(const bj::value& v) {
  return bj::serialize(v.at("lots"));
}
std::string part(const std::string& lot, const std::string& amount) {
  return R"({"lot":")" + lot + R"(","amount":")" + amount + "\"}";
}
}  // namespace

TEST(http_charges, charge_renders_and_journals) {
  live_server srv;
  http_client c(srv.port(), admin_key);
  put_account(c, "alice");
  const std::string lot = grant(c, "alice", "10");

  auto r = c.post("/v1/accounts/alice/charges",
                  R"({"operation":"image.generate","amount":"2.5","reference":"req-1",
                      "dimensions":{"model":"sdxl","steps":30},"quantity":2})");
  ASSERT_EQ(r.status, 201u) << r.body;
  auto ch = r.json();
  const std::string id = str(ch, "id");
  EXPECT_TRUE(id.starts_with("ch_")) << id;
  EXPECT_EQ(str(ch, "object"), "charge");
  EXPECT_EQ(str(ch, "account"), "alice");
  EXPECT_EQ(str(ch, "operation"), "image.generate");
  // An explicit amount is the cost, whatever the quantity.
  EXPECT_EQ(str(ch, "amount"), "2.5");
  EXPECT_EQ(str(ch, "balance_after"), "7.5");
  EXPECT_EQ(parts(ch), "[" + part(lot, "2.5") + "]");
  EXPECT_EQ(str(ch, "reference"), "req-1");
  EXPECT_EQ(bj::serialize(ch.at("dimensions")), R"({"model":"sdxl","steps":30})");
  EXPECT_NO_THROW(parse_time(str(ch, "created_at")));
  EXPECT_EQ(available(c, "alice"), "7.5");

  auto charges = entries_of_type(c, "alice", "charge");
  ASSERT_EQ(charges.size(), 1u);
  const auto& e = charges[0];
  EXPECT_EQ(e.at("charge").as_string(), id);
  EXPECT_EQ(e.at("amount").as_string(), "2.5");
  EXPECT_EQ(e.at("balance_after").as_string(), "7.5");
  EXPECT_EQ(e.at("reference").as_string(), "req-1");
  EXPECT_EQ(e.at("operation").as_string(), "image.generate");
  EXPECT_EQ(bj::serialize(e.at("dimensions")), R"({"model":"sdxl","steps":30})");
  EXPECT_EQ(bj::serialize(e.at("lots")), "[" + part(lot, "2.5") + "]");

  // Micro-credit precision, number and string forms.
  EXPECT_EQ(str(charge(c, "alice", "0.000001"), "balance_after"), "7.499999");
  EXPECT_EQ(str(charge(c, "alice", "\"1.499999\""), "balance_after"), "6");

  auto missing = c.post("/v1/accounts/nobody/charges", R"({"operation":"x","amount":1})");
  EXPECT_EQ(missing.status, 404u) << missing.body;
  EXPECT_EQ(missing.error_code(), "not_found");
}

TEST(http_charges, lots_are_consumed_by_priority_then_expiry_then_age) {
  live_server srv;
  http_client c(srv.port(), admin_key);
  put_account(c, "u");
  const std::string prepaid = grant(c, "u", "10");  // priority 30, never expires
  const std::string late = grant(c, "u", "1", "prepaid", R"("expires_at":"2099-06-01T00:00:00Z")");
  const std::string soon = grant(c, "u", "1", "prepaid", R"("expires_at":"2098-06-01T00:00:00Z")");
  const std::string plan = grant(c, "u", "4", "plan");    // 20
  const std::string promo = grant(c, "u", "3", "promo");  // 10

  auto a = charge(c, "u", "5");
  EXPECT_EQ(parts(a), "[" + part(promo, "3") + "," + part(plan, "2") + "]");
  EXPECT_EQ(str(a, "balance_after"), "14");
  auto b = charge(c, "u", "4.5");
  EXPECT_EQ(parts(b), "[" + part(plan, "2") + "," + part(soon, "1") + "," + part(late, "1") + "," +
                          part(prepaid, "0.5") + "]");
  EXPECT_EQ(str(b, "balance_after"), "9.5");

  // Scoped lots pay only for their operations, and first when they can.
  const std::string scoped = grant(c, "u", "2", "promo", R"("scope":["image.*"])");
  auto llm = charge(c, "u", "1", "llm.tokens");
  EXPECT_EQ(parts(llm), "[" + part(prepaid, "1") + "]");
  auto img = charge(c, "u", "1", "image.upscale");
  EXPECT_EQ(parts(img), "[" + part(scoped, "1") + "]");
  EXPECT_EQ(available(c, "u"), "9.5");
}

TEST(http_charges, batch_is_all_or_none) {
  live_server srv;
  http_client c(srv.port(), admin_key);
  put_account(c, "b");
  grant(c, "b", "10");

  auto ok = c.post("/v1/accounts/b/charges:batch",
                   R"({"charges":[{"operation":"image.generate","amount":3,"reference":"one"},
                                  {"operation":"image.upscale","amount":"4"}]})");
  ASSERT_EQ(ok.status, 201u) << ok.body;
  const auto okv = ok.json();
  const auto& data = okv.at("data").as_array();
  ASSERT_EQ(data.size(), 2u);
  EXPECT_EQ(str(data[0], "amount"), "3");
  EXPECT_EQ(str(data[0], "balance_after"), "7");
  EXPECT_EQ(str(data[0], "reference"), "one");
  EXPECT_EQ(str(data[1], "operation"), "image.upscale");
  EXPECT_EQ(str(data[1], "balance_after"), "3");
  EXPECT_NE(str(data[0], "id"), str(data[1], "id"));
  EXPECT_EQ(entries_of_type(c, "b", "charge").size(), 2u);

  const std::string before = state(c, "b");
  // The second charge cannot be paid: neither is made.
  auto refused =
      c.post("/v1/accounts/b/charges:batch",
             R"({"charges":[{"operation":"x","amount":2},{"operation":"x","amount":2}]})");
  ASSERT_EQ(refused.status, 402u) << refused.body;
  EXPECT_EQ(refused.error_code(), "insufficient_credits");
  EXPECT_EQ(error_field(refused, "available"), "1");
  EXPECT_EQ(error_field(refused, "required"), "2");
  EXPECT_EQ(state(c, "b"), before);

  struct {
    const char* body;
    unsigned status;
    const char* code;
  } bad[] = {
      {R"({"charges":[]})", 400, "invalid_request"},
      {R"({"charges":{}})", 400, "invalid_request"},
      {R"({})", 400, "invalid_request"},
      {R"({"charges":[{"operation":"x","amount":1}],"extra":1})", 400, "invalid_request"},
      {R"({"charges":[{"operation":"x","amount":1},{"operation":"x","amount":-1}]})", 400,
       "invalid_request"},
      {R"({"charges":[{"operation":"x","amount":1},5]})", 400, "invalid_request"},
      {R"({"charges":[{"operation":"x","amount":1},{"operation":"x"}]})", 422, "unknown_price"},
  };
  for (const auto& x : bad) {
    auto r = c.post("/v1/accounts/b/charges:batch", x.body);
    EXPECT_EQ(r.status, x.status) << x.body << ": " << r.body;
    EXPECT_EQ(r.error_code(), x.code) << x.body;
  }
  std::string many = R"({"charges":[)";
  for (int i = 0; i < 101; ++i)
    many += std::string(i ? "," : "") + R"({"operation":"x","amount":0})";
  auto too_many = c.post("/v1/accounts/b/charges:batch", many + "]}");
  EXPECT_EQ(too_many.status, 400u) << too_many.body;
  EXPECT_EQ(state(c, "b"), before);

  // 100 charges is the largest batch.
  std::string hundred = R"({"charges":[)";
  for (int i = 0; i < 100; ++i) {
    hundred += std::string(i ? "," : "") + R"({"operation":"x","amount":"0.01"})";
  }
  auto full = c.post("/v1/accounts/b/charges:batch", hundred + "]}");
  ASSERT_EQ(full.status, 201u) << full.body;
  EXPECT_EQ(full.json().at("data").as_array().size(), 100u);
  EXPECT_EQ(available(c, "b"), "2");

  auto missing =
      c.post("/v1/accounts/nobody/charges:batch", R"({"charges":[{"operation":"x","amount":1}]})");
  EXPECT_EQ(missing.status, 404u) << missing.body;
}

TEST(http_refunds, partial_then_full_then_nothing_left) {
  live_server srv;
  http_client c(srv.port(), admin_key);
  put_account(c, "r");
  const std::string prepaid = grant(c, "r", "10");
  const std::string promo = grant(c, "r", "2", "promo");
  auto ch = charge(c, "r", "6");
  const std::string id = str(ch, "id");
  ASSERT_EQ(parts(ch), "[" + part(promo, "2") + "," + part(prepaid, "4") + "]");
  ASSERT_EQ(available(c, "r"), "6");

  // Back to the lots in reverse consumption order: the prepaid lot first.
  auto one = c.post("/v1/charges/" + id + "/refund", R"({"amount":1,"reason":"bad output"})");
  ASSERT_EQ(one.status, 201u) << one.body;
  auto r1 = one.json();
  EXPECT_TRUE(str(r1, "id").starts_with("re_"));
  EXPECT_EQ(str(r1, "object"), "refund");
  EXPECT_EQ(str(r1, "charge"), id);
  EXPECT_EQ(str(r1, "account"), "r");
  EXPECT_EQ(str(r1, "amount"), "1");
  EXPECT_EQ(str(r1, "charge_refunded"), "1");
  EXPECT_EQ(parts(r1), "[" + part(prepaid, "1") + "]");
  EXPECT_EQ(str(r1, "balance_after"), "7");

  auto two = c.post("/v1/charges/" + id + "/refund", R"({"amount":"2.5"})");
  ASSERT_EQ(two.status, 201u) << two.body;
  EXPECT_EQ(parts(two.json()), "[" + part(prepaid, "2.5") + "]");
  EXPECT_EQ(str(two.json(), "charge_refunded"), "3.5");
  EXPECT_EQ(available(c, "r"), "9.5");

  // 2.5 is left: more is a 400 and changes nothing.
  std::string before = state(c, "r");
  for (const char* body : {R"({"amount":3})", R"({"amount":"2.500001"})", R"({"amount":0})",
                           R"({"amount":-1})", R"({"amount":"1.0000001"})", R"({"amont":1})"}) {
    auto r = c.post("/v1/charges/" + id + "/refund", body);
    EXPECT_EQ(r.status, 400u) << body << ": " << r.body;
    EXPECT_EQ(r.error_code(), "invalid_request") << body;
  }
  EXPECT_EQ(state(c, "r"), before);

  // The default is all that is left.
  auto rest = c.post("/v1/charges/" + id + "/refund", "");
  ASSERT_EQ(rest.status, 201u) << rest.body;
  EXPECT_EQ(str(rest.json(), "amount"), "2.5");
  EXPECT_EQ(str(rest.json(), "charge_refunded"), "6");
  EXPECT_EQ(parts(rest.json()), "[" + part(prepaid, "0.5") + "," + part(promo, "2") + "]");
  EXPECT_EQ(str(rest.json(), "balance_after"), "12");
  EXPECT_EQ(available(c, "r"), "12");

  auto refunds = entries_of_type(c, "r", "refund");
  ASSERT_EQ(refunds.size(), 3u);
  EXPECT_EQ(refunds[0].at("charge").as_string(), id);
  EXPECT_EQ(refunds[0].at("amount").as_string(), "1");
  EXPECT_EQ(refunds[0].at("reason").as_string(), "bad output");
  EXPECT_EQ(refunds[2].at("refund").as_string(), str(rest.json(), "id"));

  before = state(c, "r");
  auto nothing = c.post("/v1/charges/" + id + "/refund");
  EXPECT_EQ(nothing.status, 409u) << nothing.body;
  EXPECT_EQ(nothing.error_code(), "conflict");
  auto nothing_amount = c.post("/v1/charges/" + id + "/refund", R"({"amount":1})");
  EXPECT_EQ(nothing_amount.status, 409u) << nothing_amount.body;
  for (const char* cid : {"ch_999999", "ch_0", "ch_x", "lot_1", "charge"}) {
    auto r = c.post(std::string("/v1/charges/") + cid + "/refund");
    EXPECT_EQ(r.status, 404u) << cid << ": " << r.body;
    EXPECT_EQ(r.error_code(), "not_found") << cid;
  }
  EXPECT_EQ(state(c, "r"), before);
}

TEST(http_refunds, refund_into_a_voided_lot_opens_a_new_lot) {
  live_server srv;
  http_client c(srv.port(), admin_key);
  put_account(c, "v");
  const std::string lot = grant(c, "v", "10");
  auto ch = charge(c, "v", "4");
  ASSERT_EQ(c.post("/v1/lots/" + lot + "/void").status, 200u);
  ASSERT_EQ(available(c, "v"), "0");
  auto r = c.post("/v1/charges/" + str(ch, "id") + "/refund");
  ASSERT_EQ(r.status, 201u) << r.body;
  const auto rv = r.json();
  const auto& lots = rv.at("lots").as_array();
  ASSERT_EQ(lots.size(), 1u);
  EXPECT_NE(str(lots[0], "lot"), lot);
  EXPECT_EQ(str(lots[0], "amount"), "4");
  EXPECT_EQ(available(c, "v"), "4");
}

TEST(http_adjustments, signed_admin_only_and_bounded_by_remaining) {
  live_server srv;
  http_client c(srv.port(), admin_key);
  put_account(c, "adj");
  grant(c, "adj", "10");

  auto plus = c.post("/v1/accounts/adj/adjustments", R"({"amount":"5","reason":"goodwill"})");
  ASSERT_EQ(plus.status, 201u) << plus.body;
  EXPECT_EQ(str(plus.json(), "object"), "entry");
  EXPECT_EQ(str(plus.json(), "type"), "adjust");
  EXPECT_EQ(str(plus.json(), "amount"), "5");
  EXPECT_EQ(str(plus.json(), "reason"), "goodwill");
  EXPECT_EQ(str(plus.json(), "balance_after"), "15");

  auto minus = c.post("/v1/accounts/adj/adjustments", R"({"amount":-3.5,"reason":"correction"})");
  ASSERT_EQ(minus.status, 201u) << minus.body;
  EXPECT_EQ(str(minus.json(), "amount"), "-3.5");
  EXPECT_EQ(str(minus.json(), "balance_after"), "11.5");
  EXPECT_EQ(available(c, "adj"), "11.5");
  auto adjusts = entries_of_type(c, "adj", "adjust");
  ASSERT_EQ(adjusts.size(), 2u);
  EXPECT_EQ(adjusts[1].at("amount").as_string(), "-3.5");

  const std::string before = state(c, "adj");
  auto beyond = c.post("/v1/accounts/adj/adjustments", R"({"amount":"-11.500001","reason":"x"})");
  ASSERT_EQ(beyond.status, 402u) << beyond.body;
  EXPECT_EQ(beyond.error_code(), "insufficient_credits");
  EXPECT_EQ(error_field(beyond, "reason"), "balance");
  EXPECT_EQ(error_field(beyond, "available"), "11.5");
  EXPECT_EQ(error_field(beyond, "required"), "11.500001");
  for (const char* body :
       {R"({"amount":5})", R"({"amount":5,"reason":""})", R"({"amount":0,"reason":"x"})",
        R"({"reason":"x"})", R"({"amount":"1.0000001","reason":"x"})",
        R"({"amount":1,"reason":"x","extra":true})"}) {
    auto r = c.post("/v1/accounts/adj/adjustments", body);
    EXPECT_EQ(r.status, 400u) << body << ": " << r.body;
  }
  auto key = expect(c.post("/v1/api-keys", R"({"role":"service"})"), 201, "service key");
  http_client service(srv.port(), field(key, "key"));
  auto forbidden = service.post("/v1/accounts/adj/adjustments", R"({"amount":1,"reason":"x"})");
  EXPECT_EQ(forbidden.status, 403u) << forbidden.body;
  EXPECT_EQ(forbidden.error_code(), "forbidden");
  EXPECT_EQ(state(c, "adj"), before);

  // Exactly the remaining credits may be taken.
  auto all = c.post("/v1/accounts/adj/adjustments", R"({"amount":"-11.5","reason":"close"})");
  ASSERT_EQ(all.status, 201u) << all.body;
  EXPECT_EQ(available(c, "adj"), "0");
  auto missing = c.post("/v1/accounts/nobody/adjustments", R"({"amount":1,"reason":"x"})");
  EXPECT_EQ(missing.status, 404u) << missing.body;
}

TEST(http_refunds, a_refund_of_postpaid_usage_returns_the_postpaid_credit) {
  // Postpaid use counts per UTC month: on the test clock (which stands still)
  // a month boundary cannot fall between two steps.
  live_server srv({"--test-clock"});
  http_client c(srv.port(), admin_key);
  put_account(c, "pp", R"({"settings":{"postpaid_limit":5}})");
  const std::string lot = grant(c, "pp", "2");
  auto ch = charge(c, "pp", "4.5");
  EXPECT_EQ(parts(ch), "[" + part(lot, "2") + "]");
  EXPECT_EQ(str(ch, "postpaid"), "2.5");
  EXPECT_EQ(str(ch, "balance_after"), "2.5");
  EXPECT_EQ(str(balance(c, "pp"), "postpaid_used"), "2.5");

  // Reverse order: the postpaid part (consumed last) is refunded first.
  auto r = c.post("/v1/charges/" + str(ch, "id") + "/refund", R"({"amount":3})");
  ASSERT_EQ(r.status, 201u) << r.body;
  EXPECT_EQ(str(r.json(), "postpaid"), "2.5");
  EXPECT_EQ(parts(r.json()), "[" + part(lot, "0.5") + "]");
  auto b = balance(c, "pp");
  EXPECT_EQ(str(b, "postpaid_used"), "0");
  EXPECT_EQ(str(b, "available"), "5.5");
}
}  // namespace charges_test_cpp
