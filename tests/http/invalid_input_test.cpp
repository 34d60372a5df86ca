// Bad input of every kind, for every endpoint with a body or path
// parameters (the endpoint table of src/http/api.cpp): each case gets its
// 4xx with the contract's error shape, {"error": {"code", "message"}}, and
// changes nothing (the account's balance, lots and journal read the same).
//
// errors_test.cpp already covers POST /v1/accounts/{id}/charges in depth
// (bad JSON, non-object bodies, wrong types, missing operation, 7 decimals,
// negative and huge amounts, duplicate keys, 33 levels, invalid UTF-8, a
// 1 MiB + 1 Content-Length) and unknown or malformed object ids; this file
// adds the same kinds of input to every other endpoint, and to charges what
// was missing there: 2^63, negative zero, NaN/Infinity, the empty body, a
// 10 MB body, over-long and non-UTF-8 ids.
//
// An empty body is refused only where a field is required: elsewhere (void,
// refund, capture, release, PUT account) it means {} and is a valid request.
#include "http_fixture.hpp"

namespace invalid_input_test_cpp {  // unity builds: tests/CMakeLists.txt

using namespace creditd::testing;

namespace {

// The reply is `status` with the contract's error shape and `code`.
void expect_refused(const http_reply& r, unsigned status, const std::string& code,
                    const std::string& what) {
  EXPECT_EQ(r.status, status) << what << ": " << r.body.substr(0, 300);
  boost::system::error_code ec;
  auto v = bj::parse(r.body, ec);
  ASSERT_FALSE(ec) << what << ": the error body is not valid JSON: " << r.body.substr(0, 300);
  ASSERT_TRUE(v.is_object()) << what;
  ASSERT_EQ(v.as_object().size(), 1u) << what << ": " << r.body;
  const bj::value* e = v.as_object().if_contains("error");
  ASSERT_TRUE(e != nullptr && e->is_object()) << what << ": " << r.body;
  ASSERT_TRUE(e->as_object().contains("code") && e->at("code").is_string()) << what;
  EXPECT_EQ(e->at("code").as_string(), code) << what << ": " << r.body;
  ASSERT_TRUE(e->as_object().contains("message") && e->at("message").is_string()) << what;
  EXPECT_FALSE(e->at("message").as_string().empty()) << what;
}

// 2^63, one past INT64_MAX, and its negative one past INT64_MIN.
const std::string two_63 = "9223372036854775808";
const std::string minus_two_63_minus_1 = "-9223372036854775809";

std::string deep(int levels) {
  return R"({"x":)" + std::string(levels - 1, '[') + std::string(levels - 1, ']') + "}";
}

struct bad_body {
  std::string what;
  std::string body;
  unsigned status = 400;
  std::string code = "invalid_request";
};

// Input that every JSON body endpoint refuses, whatever its fields:
// `valid` is a body it would accept, `number_field` one of its numeric fields.
std::vector<bad_body> generic_cases(const std::string& valid, const std::string& number_field,
                                    bool has_required_field) {
  std::string dup = valid.substr(0, valid.size() - 1);  // without the closing brace
  const std::size_t colon = valid.find(':');
  if (colon == std::string::npos) {
    dup = R"({"a":1,"a":1})";
  } else {
    const std::string first_key = valid.substr(1, colon - 1);  // with its quotes
    dup += "," + first_key + ":null}";
  }
  std::vector<bad_body> out = {
      {"nested 33 deep", deep(33)},
      {"nested 1000 deep", deep(1000)},
      {"invalid UTF-8 in a string", "{\"x\":\"caf\xc3\"}"},
      {"invalid UTF-8 byte 0xff", "{\"x\":\"\xff\"}"},
      {"UTF-16 surrogate in UTF-8", "{\"x\":\"\xed\xa0\x80\"}"},
      {"invalid UTF-8 in a key", "{\"\xc0\xaf\":1}"},
      {"duplicate key", dup},
      {"top level array", "[" + valid + "]"},
      {"top level string", R"("x")"},
      {"top level number", "1"},
      {"top level null", "null"},
      {"top level true", "true"},
      {"trailing garbage", valid + " x"},
      {"trailing object", valid + "{}"},
      {"trailing comma", valid + ","},
      {"unterminated", valid.substr(0, valid.size() - 1)},
      {"NaN", "{\"" + number_field + "\":NaN}"},
      {"Infinity", "{\"" + number_field + "\":Infinity}"},
      {"-Infinity", "{\"" + number_field + "\":-Infinity}"},
      {"nan", "{\"" + number_field + "\":nan}"},
      {"1e400 overflows a double", "{\"" + number_field + "\":1e400}"},
      {"unknown field",
       valid.substr(0, valid.size() - 1) + (valid.size() > 2 ? "," : "") + R"("colour":"red"})"},
  };
  if (has_required_field) {
    out.push_back({"empty body", ""});
    out.push_back({"empty object", "{}"});
    out.push_back({"whitespace body", " \r\n\t "});
  }
  return out;
}

struct body_endpoint {
  verb method;
  std::string target;
  std::string valid;         // a body this endpoint would accept
  std::string number_field;  // for NaN and friends
  bool has_required_field;
  std::vector<bad_body> fields;  // wrong types, missing fields, bad numbers
};

// A live server with an account "a" holding a lot, a charge, an open hold and
// a spare lot; `state` reads them all.
class invalid_input : public ::testing::Test {
 protected:
  void SetUp() override {
    put_account(c, "a");
    lot = grant(c, "a", "100");
    spare_lot = grant(c, "a", "5", "promo");
    charge_id = str(charge(c, "a", "3"), "id");
    hold_id = field(
        expect(c.post("/v1/accounts/a/holds", R"({"operation":"x","amount":"4"})"), 201, "hold"),
        "id");
    key_id = field(expect(c.post("/v1/api-keys", R"({"role":"service"})"), 201, "key"), "id");
  }

  // Sends every case to the endpoint; none may change anything.
  void run(const body_endpoint& ep) {
    const std::string before = state(c, "a");
    const std::int64_t clock_before = clock_now(c);
    std::vector<bad_body> cases = generic_cases(ep.valid, ep.number_field, ep.has_required_field);
    cases.insert(cases.end(), ep.fields.begin(), ep.fields.end());
    for (const bad_body& x : cases) {
      const std::string what = ep.target + " " + x.what;
      expect_refused(c.request(ep.method, ep.target, x.body), x.status, x.code, what);
    }
    // 10 MB announced: refused from the headers alone.
    auto big =
        raw_exchange(srv.port(), std::string(verb_name(ep.method)) + " " + ep.target +
                                     " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + admin_key +
                                     "\r\nContent-Type: application/json\r\n"
                                     "Content-Length: 10485760\r\n\r\n");
    expect_refused(big, 413, "payload_too_large", ep.target + " 10 MB body");
    EXPECT_EQ(state(c, "a"), before) << ep.target;
    EXPECT_EQ(clock_now(c), clock_before) << ep.target;
    // The valid body is really valid (the cases differ from it only in what they break).
    ASSERT_LT(c.request(ep.method, ep.target, ep.valid).status, 300u)
        << ep.target << " " << ep.valid;
  }

  static std::string_view verb_name(verb v) { return boost::beast::http::to_string(v); }

  live_server srv{{"--test-clock"}};
  http_client c{srv.port(), admin_key};
  std::string lot, spare_lot, charge_id, hold_id, key_id;
};

}  // namespace

TEST_F(invalid_input, put_account) {
  const std::string long_name(257, 'n');
  run({verb::put,
       "/v1/accounts/a",
       R"({"name":"A","settings":{"reserve":"1"}})",
       "name",
       false,
       {
           {"name number", R"({"name":5})"},
           {"name object", R"({"name":{}})"},
           {"name too long", R"({"name":")" + long_name + "\"}"},
           {"settings string", R"({"settings":"x"})"},
           {"settings array", R"({"settings":[]})"},
           {"settings unknown field", R"({"settings":{"colour":1}})"},
           {"reserve bool", R"({"settings":{"reserve":true}})"},
           {"reserve negative", R"({"settings":{"reserve":-1}})"},
           {"reserve -0", R"({"settings":{"reserve":"-0"}})"},
           {"reserve -0.0", R"({"settings":{"reserve":-0.0}})"},
           {"reserve 1e30", R"({"settings":{"reserve":1e30}})"},
           {"reserve 2^63", R"({"settings":{"reserve":)" + two_63 + "}}"},
           {"postpaid_limit huge string",
            R"({"settings":{"postpaid_limit":"99999999999999999999"}})"},
           {"rate limit string", R"({"settings":{"rate_limit_per_minute":"5"}})"},
           {"rate limit fraction", R"({"settings":{"rate_limit_per_minute":1.5}})"},
           {"rate limit negative", R"({"settings":{"rate_limit_per_minute":-1}})"},
           {"rate limit -0", R"({"settings":{"rate_limit_per_minute":-0}})"},
           {"rate limit 2^63", R"({"settings":{"rate_limit_per_minute":)" + two_63 + "}}"},
           {"max_open_holds 1e30", R"({"settings":{"max_open_holds":1e30}})"},
           {"expiring_soon_days bool", R"({"settings":{"expiring_soon_days":false}})"},
           {"thresholds string", R"({"settings":{"low_balance_thresholds":"1"}})"},
           {"thresholds text", R"({"settings":{"low_balance_thresholds":["x"]}})"},
           {"thresholds negative", R"({"settings":{"low_balance_thresholds":[-1]}})"},
           {"thresholds huge", R"({"settings":{"low_balance_thresholds":[1e30]}})"},
           {"auto_topup number", R"({"settings":{"auto_topup":5}})"},
           {"auto_topup below -0", R"({"settings":{"auto_topup":{"below":"-0","package":"p"}}})"},
           {"auto_topup max 2^63",
            R"({"settings":{"auto_topup":{"below":1,"package":"p","max_per_period":)" + two_63 +
                "}}}"},
       }});
  // Ids in the path: over the limit, not UTF-8, bad characters, bad encoding.
  const std::string before = state(c, "a");
  for (const auto& [what, target, status, code] :
       std::vector<std::tuple<std::string, std::string, unsigned, std::string>>{
           {"id of 129", "/v1/accounts/" + std::string(129, 'i'), 400, "invalid_request"},
           {"id of 300", "/v1/accounts/" + std::string(300, 'i'), 400, "invalid_request"},
           {"id %FF", "/v1/accounts/%FF", 400, "invalid_request"},
           {"id %C3%28", "/v1/accounts/%C3%28", 400, "invalid_request"},
           {"id with a space", "/v1/accounts/a%20b", 400, "invalid_request"},
           {"id with a slash", "/v1/accounts/a%2Fb", 400, "invalid_request"},
           {"id bad encoding", "/v1/accounts/a%ZZ", 400, "invalid_request"},
           {"id NUL", "/v1/accounts/a%00", 400, "invalid_request"},
       }) {
    expect_refused(c.put(target, "{}"), status, code, what);
  }
  EXPECT_EQ(state(c, "a"), before);
  EXPECT_EQ(c.get("/v1/accounts/" + std::string(129, 'i')).status, 404u);
}

TEST_F(invalid_input, post_lot) {
  run({verb::post,
       "/v1/accounts/a/lots",
       R"({"amount":"1","kind":"promo"})",
       "amount",
       true,
       {
           {"amount missing", R"({"kind":"promo"})"},
           {"kind missing", R"({"amount":1})"},
           {"amount bool", R"({"amount":true,"kind":"promo"})"},
           {"amount array", R"({"amount":[1],"kind":"promo"})"},
           {"amount text", R"({"amount":"one","kind":"promo"})"},
           {"amount negative", R"({"amount":-1,"kind":"promo"})"},
           {"amount -0", R"({"amount":"-0","kind":"promo"})"},
           {"amount -0.0", R"({"amount":-0.0,"kind":"promo"})"},
           {"amount zero", R"({"amount":0,"kind":"promo"})"},
           {"amount 1e30", R"({"amount":1e30,"kind":"promo"})"},
           {"amount 2^63", R"({"amount":)" + two_63 + R"(,"kind":"promo"})"},
           {"amount huge string", R"({"amount":"99999999999999999999","kind":"promo"})"},
           {"kind number", R"({"amount":1,"kind":5})"},
           {"kind unknown", R"({"amount":1,"kind":"gift"})"},
           {"expires_at number", R"({"amount":1,"kind":"promo","expires_at":5})"},
           {"expires_at text", R"({"amount":1,"kind":"promo","expires_at":"tomorrow"})"},
           {"effective_at bad",
            R"({"amount":1,"kind":"promo","effective_at":"2026-13-01T00:00:00Z"})"},
           {"priority string", R"({"amount":1,"kind":"promo","priority":"1"})"},
           {"priority negative", R"({"amount":1,"kind":"promo","priority":-1})"},
           {"priority 2^63", R"({"amount":1,"kind":"promo","priority":)" + two_63 + "}"},
           {"priority 1e30", R"({"amount":1,"kind":"promo","priority":1e30})"},
           {"scope string", R"({"amount":1,"kind":"promo","scope":"x"})"},
           {"scope numbers", R"({"amount":1,"kind":"promo","scope":[1]})"},
           {"reason number", R"({"amount":1,"kind":"promo","reason":5})"},
           {"cost_basis negative", R"({"amount":1,"kind":"promo","cost_basis":-1})"},
           {"cost_basis -0", R"({"amount":1,"kind":"promo","cost_basis":"-0"})"},
           {"currency too long", R"({"amount":1,"kind":"promo","currency":"ABCDEFGHI"})"},
       }});
}

TEST_F(invalid_input, void_lot) {
  run({verb::post,
       "/v1/lots/" + spare_lot + "/void",
       R"({"reason":"r"})",
       "reason",
       false,
       {
           {"reason number", R"({"reason":5})"},
           {"reason bool", R"({"reason":true})"},
           {"reason too long", R"({"reason":")" + std::string(1025, 'r') + "\"}"},
       }});
}

TEST_F(invalid_input, post_charge) {
  run({verb::post,
       "/v1/accounts/a/charges",
       R"({"operation":"x","amount":"1"})",
       "amount",
       true,
       {
           {"amount 2^63", R"({"operation":"x","amount":)" + two_63 + "}"},
           {"amount -0", R"({"operation":"x","amount":"-0"})"},
           {"amount -0 number", R"({"operation":"x","amount":-0})"},
           {"amount -0.0", R"({"operation":"x","amount":-0.0})"},
           {"amount -0e5", R"({"operation":"x","amount":-0e5})"},
           {"quantity -0", R"({"operation":"x","amount":1,"quantity":"-0"})"},
           {"quantity negative", R"({"operation":"x","amount":1,"quantity":-2})"},
           {"quantity 2^63", R"({"operation":"x","amount":1,"quantity":)" + two_63 + "}"},
           {"dimensions string", R"({"operation":"x","amount":1,"dimensions":"m"})"},
           {"dimensions null value", R"({"operation":"x","amount":1,"dimensions":{"m":null}})"},
           {"operation too long", R"({"operation":")" + std::string(129, 'o') + R"(","amount":1})"},
           {"operation invalid UTF-8", "{\"operation\":\"\xff\",\"amount\":1}"},
       }});
}

TEST_F(invalid_input, post_charge_batch) {
  std::string many = R"({"charges":[)";
  for (int i = 0; i < 101; ++i)
    many += std::string(i ? "," : "") + R"({"operation":"x","amount":1})";
  many += "]}";
  run({verb::post,
       "/v1/accounts/a/charges:batch",
       R"({"charges":[{"operation":"x","amount":"1"}]})",
       "charges",
       true,
       {
           {"charges missing", R"({})"},
           {"charges object", R"({"charges":{"operation":"x","amount":1}})"},
           {"charges empty", R"({"charges":[]})"},
           {"charges of numbers", R"({"charges":[5]})"},
           {"101 charges", many},
           {"item operation missing", R"({"charges":[{"amount":1}]})"},
           {"item amount -0", R"({"charges":[{"operation":"x","amount":"-0"}]})"},
           {"item amount 2^63", R"({"charges":[{"operation":"x","amount":)" + two_63 + "}]}"},
           {"item amount 1e30", R"({"charges":[{"operation":"x","amount":1e30}]})"},
           {"item amount huge string",
            R"({"charges":[{"operation":"x","amount":"99999999999999999999"}]})"},
           {"second item negative",
            R"({"charges":[{"operation":"x","amount":1},{"operation":"x","amount":-1}]})"},
           {"item unknown field", R"({"charges":[{"operation":"x","amount":1,"colour":1}]})"},
       }});
}

TEST_F(invalid_input, refund) {
  run({verb::post,
       "/v1/charges/" + charge_id + "/refund",
       R"({"amount":"1"})",
       "amount",
       false,
       {
           {"amount text", R"({"amount":"x"})"},
           {"amount bool", R"({"amount":false})"},
           {"amount negative", R"({"amount":-1})"},
           {"amount -0", R"({"amount":"-0"})"},
           {"amount -0.0", R"({"amount":-0.0})"},
           {"amount zero", R"({"amount":0})"},
           {"amount 1e30", R"({"amount":1e30})"},
           {"amount 2^63", R"({"amount":)" + two_63 + "}"},
           {"amount huge string", R"({"amount":"99999999999999999999"})"},
           {"more than was charged", R"({"amount":4})"},
           {"reason number", R"({"reason":5})"},
       }});
}

TEST_F(invalid_input, adjustment) {
  run({verb::post,
       "/v1/accounts/a/adjustments",
       R"({"amount":"-1","reason":"r"})",
       "amount",
       true,
       {
           {"amount missing", R"({"reason":"r"})"},
           {"reason missing", R"({"amount":1})"},
           {"reason empty", R"({"amount":1,"reason":""})"},
           {"amount text", R"({"amount":"x","reason":"r"})"},
           {"amount bool", R"({"amount":true,"reason":"r"})"},
           {"amount -0", R"({"amount":"-0","reason":"r"})"},
           {"amount -0.0", R"({"amount":-0.0,"reason":"r"})"},
           {"amount 1e30", R"({"amount":1e30,"reason":"r"})"},
           {"amount -1e30", R"({"amount":-1e30,"reason":"r"})"},
           {"amount 2^63", R"({"amount":)" + two_63 + R"(,"reason":"r"})"},
           {"amount -2^63-1", R"({"amount":)" + minus_two_63_minus_1 + R"(,"reason":"r"})"},
           {"amount huge string", R"({"amount":"-99999999999999999999","reason":"r"})"},
           {"reason number", R"({"amount":1,"reason":5})"},
           {"takes more than there is", R"({"amount":-1000,"reason":"r"})", 402,
            "insufficient_credits"},
       }});
}

TEST_F(invalid_input, post_hold) {
  run({verb::post,
       "/v1/accounts/a/holds",
       R"({"operation":"x","amount":"1"})",
       "amount",
       true,
       {
           {"operation missing", R"({"amount":1})"},
           {"operation number", R"({"operation":1,"amount":1})"},
           {"amount text", R"({"operation":"x","amount":"x"})"},
           {"amount negative", R"({"operation":"x","amount":-1})"},
           {"amount -0", R"({"operation":"x","amount":"-0"})"},
           {"amount -0.0", R"({"operation":"x","amount":-0.0})"},
           {"amount 1e30", R"({"operation":"x","amount":1e30})"},
           {"amount 2^63", R"({"operation":"x","amount":)" + two_63 + "}"},
           {"ttl string", R"({"operation":"x","amount":1,"ttl_seconds":"60"})"},
           {"ttl zero", R"({"operation":"x","amount":1,"ttl_seconds":0})"},
           {"ttl -0", R"({"operation":"x","amount":1,"ttl_seconds":-0})"},
           {"ttl fraction", R"({"operation":"x","amount":1,"ttl_seconds":1.5})"},
           {"ttl 2^63", R"({"operation":"x","amount":1,"ttl_seconds":)" + two_63 + "}"},
           {"ttl over 30 days", R"({"operation":"x","amount":1,"ttl_seconds":2592001})"},
           {"urgent string", R"({"operation":"x","amount":1,"urgent":"yes"})"},
       }});
}

TEST_F(invalid_input, capture) {
  run({verb::post,
       "/v1/holds/" + hold_id + "/capture",
       R"({"amount":"1"})",
       "amount",
       false,
       {
           {"amount text", R"({"amount":"x"})"},
           {"amount negative", R"({"amount":-1})"},
           {"amount -0", R"({"amount":"-0"})"},
           {"amount -0 number", R"({"amount":-0})"},
           {"amount -0.0", R"({"amount":-0.0})"},
           {"amount 1e30", R"({"amount":1e30})"},
           {"amount 2^63", R"({"amount":)" + two_63 + "}"},
           {"amount huge string", R"({"amount":"99999999999999999999"})"},
           {"more than held", R"({"amount":5})"},
       }});
}

TEST_F(invalid_input, release) {
  run({verb::post,
       "/v1/holds/" + hold_id + "/release",
       "{}",
       "amount",
       false,
       {
           {"any field", R"({"amount":1})"},
       }});
}

TEST_F(invalid_input, api_key) {
  run({verb::post,
       "/v1/api-keys",
       R"({"role":"reader","account":"a"})",
       "role",
       true,
       {
           {"role missing", R"({"account":"a"})"},
           {"role number", R"({"role":5})"},
           {"role unknown", R"({"role":"root"})"},
           {"account number", R"({"role":"reader","account":5})"},
           {"reader without account", R"({"role":"reader"})"},
           {"account too long", R"({"role":"reader","account":")" + std::string(129, 'a') + "\"}"},
           {"account bad characters", R"({"role":"reader","account":"a b"})"},
           {"account invalid UTF-8", "{\"role\":\"reader\",\"account\":\"\xff\"}"},
           {"service with account", R"({"role":"service","account":"a"})"},
       }});
}

TEST_F(invalid_input, advance_test_clock) {
  run({verb::post,
       "/v1/test-clock/advance",
       R"({"seconds":0})",
       "seconds",
       true,
       {
           {"seconds string", R"({"seconds":"60"})"},
           {"seconds negative", R"({"seconds":-1})"},
           {"seconds -0", R"({"seconds":-0})"},
           {"seconds fraction", R"({"seconds":1.5})"},
           {"seconds 1e30", R"({"seconds":1e30})"},
           {"seconds 2^63", R"({"seconds":)" + two_63 + "}"},
           {"seconds over 100 years", R"({"seconds":3153600001})"},
       }});
}

// Path parameters of every endpoint that has one: over the limits, not
// UTF-8, badly encoded. Reads answer 404 for an id that cannot exist, writes
// to an account 404 as for any missing account; nothing changes.
TEST_F(invalid_input, path_ids_over_the_limit_or_not_utf8) {
  const std::string before = state(c, "a");
  const std::string id129(129, 'i'), id300(300, 'i');
  const std::vector<std::string> bad_ids = {id129, id300, "%FF", "%C3%28", "%ED%A0%80", "%00"};
  struct target {
    verb method;
    std::string prefix, suffix, body;
  };
  const std::vector<target> targets = {
      {verb::get, "/v1/accounts/", "", ""},
      {verb::get, "/v1/accounts/", "/balance", ""},
      {verb::get, "/v1/accounts/", "/lots", ""},
      {verb::get, "/v1/accounts/", "/entries", ""},
      {verb::post, "/v1/accounts/", "/lots", R"({"amount":1,"kind":"promo"})"},
      {verb::post, "/v1/accounts/", "/charges", R"({"operation":"x","amount":1})"},
      {verb::post, "/v1/accounts/", "/charges:batch",
       R"({"charges":[{"operation":"x","amount":1}]})"},
      {verb::post, "/v1/accounts/", "/adjustments", R"({"amount":1,"reason":"r"})"},
      {verb::post, "/v1/accounts/", "/holds", R"({"operation":"x","amount":1})"},
      {verb::post, "/v1/lots/", "/void", ""},
      {verb::post, "/v1/charges/", "/refund", ""},
      {verb::post, "/v1/holds/", "/capture", ""},
      {verb::post, "/v1/holds/", "/release", ""},
      {verb::get, "/v1/holds/", "", ""},
      {verb::delete_, "/v1/api-keys/", "", ""},
  };
  for (const target& t : targets) {
    for (const std::string& id : bad_ids) {
      const std::string path = t.prefix + id + t.suffix;
      expect_refused(c.request(t.method, path, t.body), 404, "not_found", path.substr(0, 80));
    }
    // Invalid percent-encoding is a bad request.
    const std::string path = t.prefix + "a%ZZ" + t.suffix;
    expect_refused(c.request(t.method, path, t.body), 400, "invalid_request", path);
  }
  // Raw bytes that are not UTF-8 in the request target.
  auto raw = raw_exchange(srv.port(),
                          "GET /v1/accounts/\xff\xfe/balance HTTP/1.1\r\nHost: x\r\n"
                          "Authorization: Bearer " +
                              admin_key + "\r\n\r\n");
  EXPECT_GE(raw.status, 400u) << raw.body;
  EXPECT_LT(raw.status, 500u) << raw.body;
  boost::system::error_code ec;
  bj::parse(raw.body, ec);
  EXPECT_FALSE(ec) << "the error body is not valid JSON: " << raw.body;
  EXPECT_EQ(state(c, "a"), before);
  // The API key survived its DELETE attempts with bad ids.
  EXPECT_EQ(c.del("/v1/api-keys/" + key_id).status, 200u);
}
}  // namespace invalid_input_test_cpp
