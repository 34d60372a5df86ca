// /healthz, /metrics, /openapi.json, and a walk through every route of the
// endpoint table: the (method, path) pairs exercised here are exactly the
// paths of the served OpenAPI document.
#include <set>

#include "http_fixture.hpp"

namespace service_test_cpp {  // unity builds: tests/CMakeLists.txt

using namespace creditd::testing;

namespace {

using route_set = std::set<std::pair<std::string, std::string>>;  // (method, pattern)

std::string lower(verb v) {
  std::string s(boost::beast::http::to_string(v));
  for (char& ch : s)
    ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

route_set openapi_routes(http_client& c) {
  auto r = expect(c.get("/openapi.json"), 200, "openapi");
  auto doc = r.json();
  EXPECT_TRUE(str(doc, "openapi").starts_with("3.")) << str(doc, "openapi");
  route_set out;
  for (const auto& [path, item] : doc.at("paths").as_object()) {
    for (const auto& [method, op] : item.as_object()) {
      out.emplace(std::string(method), std::string(path));
      EXPECT_TRUE(op.as_object().contains("responses")) << method << " " << path;
    }
  }
  return out;
}

// Calls every route of the table once, in an order where each succeeds;
// returns the (method, pattern) pairs it exercised.
route_set exercise_every_route(live_server& srv, bool test_clock) {
  http_client c(srv.port(), admin_key);
  http_client open(srv.port());
  route_set seen;
  auto call = [&](http_client& client, verb method, const std::string& pattern,
                  const std::string& target, const std::string& body = "") {
    auto r = client.request(method, target, body);
    EXPECT_LT(r.status, 300u) << lower(method) << " " << target << ": " << r.body;
    seen.emplace(lower(method), pattern);
    return r;
  };
  call(open, verb::get, "/healthz", "/healthz");
  call(open, verb::get, "/metrics", "/metrics");
  call(open, verb::get, "/openapi.json", "/openapi.json");
  call(c, verb::put, "/v1/accounts/{id}", "/v1/accounts/w", R"({"name":"W"})");
  call(c, verb::get, "/v1/accounts/{id}", "/v1/accounts/w");
  const std::string lot = field(call(c, verb::post, "/v1/accounts/{id}/lots", "/v1/accounts/w/lots",
                                     R"({"amount":100,"kind":"prepaid"})"),
                                "id");
  call(c, verb::get, "/v1/accounts/{id}/lots", "/v1/accounts/w/lots");
  const std::string ch = field(call(c, verb::post, "/v1/accounts/{id}/charges",
                                    "/v1/accounts/w/charges", R"({"operation":"x","amount":2})"),
                               "id");
  call(c, verb::post, "/v1/accounts/{id}/charges:batch", "/v1/accounts/w/charges:batch",
       R"({"charges":[{"operation":"x","amount":1}]})");
  call(c, verb::post, "/v1/charges/{charge_id}/refund", "/v1/charges/" + ch + "/refund");
  call(c, verb::post, "/v1/accounts/{id}/adjustments", "/v1/accounts/w/adjustments",
       R"({"amount":1,"reason":"x"})");
  const std::string h1 = field(call(c, verb::post, "/v1/accounts/{id}/holds",
                                    "/v1/accounts/w/holds", R"({"operation":"x","amount":3})"),
                               "id");
  const std::string h2 =
      field(c.post("/v1/accounts/w/holds", R"({"operation":"x","amount":3})"), "id");
  call(c, verb::post, "/v1/holds/{hold_id}/capture", "/v1/holds/" + h1 + "/capture");
  call(c, verb::post, "/v1/holds/{hold_id}/release", "/v1/holds/" + h2 + "/release");
  call(c, verb::get, "/v1/holds/{hold_id}", "/v1/holds/" + h1);
  call(c, verb::get, "/v1/accounts/{id}/entries", "/v1/accounts/w/entries");
  call(c, verb::get, "/v1/events", "/v1/events?account=w");
  // The stream ends after `limit` events (w's lot restored its balance).
  call(c, verb::get, "/v1/events/stream", "/v1/events/stream?after=0&limit=1");
  call(c, verb::get, "/v1/accounts/{id}/balance", "/v1/accounts/w/balance");
  call(c, verb::post, "/v1/lots/{lot_id}/void", "/v1/lots/" + lot + "/void");
  const std::string key_id =
      field(call(c, verb::post, "/v1/api-keys", "/v1/api-keys", R"({"role":"service"})"), "id");
  call(c, verb::delete_, "/v1/api-keys/{key_id}", "/v1/api-keys/" + key_id);
  call(c, verb::post, "/v1/store/flush", "/v1/store/flush");
  // Commerce.
  call(c, verb::put, "/v1/prices/{price_id}", "/v1/prices/gen",
       R"({"operation":"image.generate","unit_amount":1})");
  call(c, verb::get, "/v1/prices/{price_id}", "/v1/prices/gen");
  call(c, verb::get, "/v1/prices", "/v1/prices");
  call(c, verb::post, "/v1/accounts/{id}/quote", "/v1/accounts/w/quote",
       R"({"operation":"image.generate"})");
  call(c, verb::delete_, "/v1/prices/{price_id}", "/v1/prices/gen");
  call(c, verb::put, "/v1/packages/{package_id}", "/v1/packages/pack",
       R"({"credits":100,"price":"9.00","currency":"usd"})");
  call(c, verb::get, "/v1/packages/{package_id}", "/v1/packages/pack");
  call(c, verb::get, "/v1/packages", "/v1/packages");
  call(c, verb::post, "/v1/accounts/{id}/purchases", "/v1/accounts/w/purchases",
       R"({"package":"pack"})");
  call(c, verb::get, "/v1/accounts/{id}/purchases", "/v1/accounts/w/purchases");
  call(c, verb::put, "/v1/plans/{plan_id}", "/v1/plans/monthly",
       R"({"credits_per_period":10,"period":"month"})");
  call(c, verb::get, "/v1/plans/{plan_id}", "/v1/plans/monthly");
  call(c, verb::get, "/v1/plans", "/v1/plans");
  call(c, verb::put, "/v1/accounts/{id}/subscription", "/v1/accounts/w/subscription",
       R"({"plan":"monthly"})");
  call(c, verb::get, "/v1/accounts/{id}/subscription", "/v1/accounts/w/subscription");
  call(c, verb::delete_, "/v1/accounts/{id}/subscription", "/v1/accounts/w/subscription");
  // Webhook endpoints (nothing listens at the url: deliveries fail, unseen).
  call(c, verb::put, "/v1/webhook-endpoints/{endpoint_id}", "/v1/webhook-endpoints/h",
       R"({"url":"http://127.0.0.1:9/","events":["*"]})");
  call(c, verb::get, "/v1/webhook-endpoints/{endpoint_id}", "/v1/webhook-endpoints/h");
  call(c, verb::get, "/v1/webhook-endpoints", "/v1/webhook-endpoints");
  call(c, verb::post, "/v1/webhook-endpoints/{endpoint_id}/redeliver",
       "/v1/webhook-endpoints/h/redeliver", R"({"from_seq":1})");
  call(c, verb::get, "/v1/webhook-endpoints/{endpoint_id}/deliveries",
       "/v1/webhook-endpoints/h/deliveries");
  call(c, verb::delete_, "/v1/webhook-endpoints/{endpoint_id}", "/v1/webhook-endpoints/h");
  // Stripe's webhook answers without a key: an unsigned delivery is refused
  // by the route itself (not the router).
  {
    auto r = open.post("/v1/webhooks/stripe", R"({"id":"evt_1"})");
    EXPECT_EQ(r.status, 503u) << r.body;  // this server has no webhook secret
    EXPECT_EQ(r.error_code(), "not_configured") << r.body;
    seen.emplace("post", "/v1/webhooks/stripe");
  }
  if (test_clock) {
    call(c, verb::get, "/v1/test-clock", "/v1/test-clock");
    call(c, verb::post, "/v1/test-clock/advance", "/v1/test-clock/advance", R"({"seconds":1})");
  }
  return seen;
}

}  // namespace

TEST(http_service, openapi_lists_exactly_the_routes_served) {
  live_server srv;
  http_client c(srv.port(), admin_key);
  const route_set exercised = exercise_every_route(srv, false);
  EXPECT_EQ(exercised.size(), 46u);
  EXPECT_EQ(openapi_routes(c), exercised);
}

TEST(http_service, openapi_with_the_test_clock_adds_its_two_routes) {
  live_server srv({"--test-clock"});
  http_client c(srv.port(), admin_key);
  const route_set exercised = exercise_every_route(srv, true);
  EXPECT_EQ(exercised.size(), 48u);
  EXPECT_EQ(openapi_routes(c), exercised);
  EXPECT_TRUE(exercised.contains({"get", "/v1/test-clock"}));
  EXPECT_TRUE(exercised.contains({"post", "/v1/test-clock/advance"}));
}

TEST(http_service, openapi_marks_open_routes_without_security) {
  live_server srv;
  http_client c(srv.port());
  auto doc = expect(c.get("/openapi.json"), 200, "openapi").json();
  const auto& paths = doc.at("paths");
  for (const char* open : {"/healthz", "/metrics", "/openapi.json"}) {
    EXPECT_TRUE(paths.at(open).at("get").at("security").as_array().empty()) << open;
  }
  EXPECT_FALSE(paths.at("/v1/accounts/{id}/charges").at("post").at("security").as_array().empty());
  // Every {param} of a path is declared as a path parameter.
  for (const auto& [path, item] : paths.as_object()) {
    std::set<std::string> in_path;
    const std::string p(path);
    for (std::size_t open = p.find('{'); open != std::string::npos; open = p.find('{', open + 1)) {
      in_path.insert(p.substr(open + 1, p.find('}', open) - open - 1));
    }
    for (const auto& [method, op] : item.as_object()) {
      std::set<std::string> declared;
      for (const auto& param : op.at("parameters").as_array()) {
        if (param.at("in").as_string() == "path") declared.insert(str(param, "name"));
      }
      EXPECT_EQ(declared, in_path) << method << " " << p;
    }
  }
}

TEST(http_service, healthz_metrics_and_unknown_routes) {
  live_server srv;
  http_client c(srv.port(), admin_key);
  http_client open(srv.port());
  auto health = open.get("/healthz");
  ASSERT_EQ(health.status, 200u);
  EXPECT_EQ(field(health, "status"), "ok");

  put_account(c, "m");
  ASSERT_EQ(c.get("/v1/accounts/m").status, 200u);
  ASSERT_EQ(c.get("/v1/accounts/nope").status, 404u);
  ASSERT_EQ(c.get("/v1/accounts/nope").status, 404u);
  auto metrics = open.get("/metrics");
  ASSERT_EQ(metrics.status, 200u);
  EXPECT_TRUE(metrics.headers["content-type"].starts_with("text/plain"))
      << metrics.headers["content-type"];
  const std::string& m = metrics.body;
  EXPECT_NE(m.find("# TYPE creditd_http_requests_total counter"), std::string::npos) << m;
  EXPECT_NE(m.find("creditd_http_requests_total{route=\"/v1/accounts/{id}\",status=\"201\"} 1\n"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("creditd_http_requests_total{route=\"/v1/accounts/{id}\",status=\"200\"} 1\n"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("creditd_http_requests_total{route=\"/v1/accounts/{id}\",status=\"404\"} 2\n"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("creditd_http_requests_total{route=\"/healthz\",status=\"200\"} 1\n"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("\ncreditd_accounts 1\n"), std::string::npos) << m;
  // Every sample line is "name{labels} value" or "name value".
  std::size_t pos = 0;
  while (pos < m.size()) {
    const std::size_t end = m.find('\n', pos);
    ASSERT_NE(end, std::string::npos) << "the last line has no newline";
    const std::string line = m.substr(pos, end - pos);
    pos = end + 1;
    if (line.starts_with("#")) continue;
    const std::size_t space = line.rfind(' ');
    ASSERT_NE(space, std::string::npos) << line;
    EXPECT_TRUE(line.starts_with("creditd_")) << line;
    EXPECT_NO_THROW(static_cast<void>(std::stod(line.substr(space + 1)))) << line;
  }

  // An unknown route is not a missing object: its own code (issue 9).
  auto unknown = c.get("/v1/unknown");
  EXPECT_EQ(unknown.status, 404u);
  EXPECT_EQ(unknown.error_code(), "unknown_route");
  auto under_account = c.get("/v1/accounts/m/nothing");
  EXPECT_EQ(under_account.status, 404u);
  EXPECT_EQ(under_account.error_code(), "unknown_route");
  auto missing = c.get("/v1/accounts/nobody");
  EXPECT_EQ(missing.error_code(), "not_found");
  EXPECT_EQ(error_field(missing, "message"), "account nobody not found");
  // A known path with a method it does not serve: 405 with Allow (RFC 9110).
  auto wrong_method = c.del("/v1/accounts/m");
  EXPECT_EQ(wrong_method.status, 405u) << wrong_method.body;
  EXPECT_EQ(wrong_method.error_code(), "method_not_allowed");
  EXPECT_EQ(wrong_method.headers["allow"], "PUT, GET, HEAD");
  auto post_balance = c.post("/v1/accounts/m/balance", "{}");
  EXPECT_EQ(post_balance.headers["allow"], "GET, HEAD");
  EXPECT_EQ(c.get("/v1/accounts/m").status, 200u);
}

// RFC 3986: a percent-encoded character in the path or the query means the
// character itself. Common clients encode ':' (JavaScript's
// encodeURIComponent, Python's urlencode), which account ids and RFC 3339
// times contain.
TEST(http_service, percent_encoded_path_and_query_are_decoded) {
  live_server srv({"--test-clock"});
  http_client c(srv.port(), admin_key);
  put_account(c, "org:1");
  grant(c, "org:1", "10");
  const std::string now = format_time(clock_now(c));
  std::string encoded_now;
  for (char ch : now)
    encoded_now += ch == ':' ? std::string("%3A") : std::string(1, ch);

  auto account = c.get("/v1/accounts/org%3A1");
  EXPECT_EQ(account.status, 200u) << account.body;
  auto plain = c.get("/v1/accounts/org:1/balance?at=" + now);
  ASSERT_EQ(plain.status, 200u) << plain.body;
  auto encoded = c.get("/v1/accounts/org:1/balance?at=" + encoded_now);
  EXPECT_EQ(encoded.status, 200u) << encoded.body;
  EXPECT_EQ(encoded.body, plain.body);
  auto limit = c.get("/v1/accounts/org:1/entries?limit=%31");
  EXPECT_EQ(limit.status, 200u) << limit.body;
}
}  // namespace service_test_cpp
