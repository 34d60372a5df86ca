// Webhook endpoints over HTTP: PUT creates (201, a generated whsec_ secret
// shown once) and replaces (200, the secret kept and never shown again),
// GET, list, DELETE; bad urls, event types and secrets are 400 and change
// nothing; only an admin key may call any of the routes; endpoints survive
// a restart; an Idempotency-Key replays a change's first answer.
#include <boost/beast/http/verb.hpp>

#include <map>

#include "http_fixture.hpp"

namespace webhook_endpoints_test_cpp {  // unity builds: tests/CMakeLists.txt

using namespace creditd::testing;

namespace {

const std::string hook_body =
    R"({"url":"http://127.0.0.1:9/hook","events":["balance.low","lot.expired"]})";

TEST(webhook_endpoints, put_get_list_delete) {
  live_server srv({"--test-clock"});
  http_client admin(srv.port(), admin_key);
  auto created = expect(admin.put("/v1/webhook-endpoints/hook-1", hook_body), 201, "create");
  const std::string secret = field(created, "secret");
  EXPECT_TRUE(secret.starts_with("whsec_")) << secret;
  EXPECT_EQ(secret.size(), 50u);  // whsec_ + base64 of 32 bytes
  EXPECT_EQ(field(created, "object"), "webhook_endpoint");
  EXPECT_EQ(field(created, "secret_hint"), "whsec_****" + secret.substr(secret.size() - 4));
  EXPECT_EQ(created.json().at("enabled"), bj::value(true));
  EXPECT_EQ(created.json().at("delivered_seq"), bj::value(0));
  // GET never shows the secret.
  auto got = expect(admin.get("/v1/webhook-endpoints/hook-1"), 200, "get");
  EXPECT_EQ(got.json().as_object().if_contains("secret"), nullptr);
  EXPECT_EQ(got.body.find(secret), std::string::npos);
  EXPECT_EQ(field(got, "url"), "http://127.0.0.1:9/hook");
  EXPECT_EQ(bj::serialize(got.json().at("events")), R"(["balance.low","lot.expired"])");
  // A replace keeps the secret and shows none.
  auto replaced = expect(admin.put("/v1/webhook-endpoints/hook-1",
                                   R"({"url":"https://hooks.example.com/x","events":["*"]})"),
                         200, "replace");
  EXPECT_EQ(replaced.json().as_object().if_contains("secret"), nullptr);
  EXPECT_EQ(field(replaced, "secret_hint"), field(created, "secret_hint"));
  // A given secret is used and not echoed.
  auto given = expect(admin.put("/v1/webhook-endpoints/hook-2",
                                R"({"url":"http://127.0.0.1:9/","events":["*"],)"
                                R"("secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})"),
                      201, "given");
  EXPECT_EQ(given.json().as_object().if_contains("secret"), nullptr);
  EXPECT_EQ(field(given, "secret_hint"), "whsec_****LaSw");
  auto list = expect(admin.get("/v1/webhook-endpoints"), 200, "list").json();
  ASSERT_EQ(list.at("data").as_array().size(), 2u);
  EXPECT_EQ(str(list.at("data").as_array()[0], "id"), "hook-1");
  EXPECT_EQ(list.at("data").as_array()[0].as_object().if_contains("secret"), nullptr);
  // Disable and enable.
  auto off = expect(admin.put("/v1/webhook-endpoints/hook-2",
                              R"({"url":"http://127.0.0.1:9/","events":["*"],"enabled":false})"),
                    200, "disable");
  EXPECT_EQ(off.json().at("enabled"), bj::value(false));
  EXPECT_EQ(field(off, "disabled_reason"), "disabled by an operator");
  // Redeliver moves the cursor; deliveries are listed (none yet).
  auto re = expect(admin.post("/v1/webhook-endpoints/hook-1/redeliver", R"({"from_seq":5})"), 200,
                   "redeliver");
  EXPECT_EQ(re.json().at("delivered_seq"), bj::value(4));
  auto log = expect(admin.get("/v1/webhook-endpoints/hook-1/deliveries"), 200, "deliveries");
  EXPECT_EQ(log.body, R"({"data":[],"next":null})");
  // Delete.
  expect(admin.del("/v1/webhook-endpoints/hook-1"), 200, "delete");
  EXPECT_EQ(admin.get("/v1/webhook-endpoints/hook-1").status, 404u);
  EXPECT_EQ(admin.del("/v1/webhook-endpoints/hook-1").status, 404u);
  EXPECT_EQ(admin.get("/v1/webhook-endpoints/hook-1/deliveries").status, 404u);
  EXPECT_EQ(admin.post("/v1/webhook-endpoints/hook-1/redeliver", R"({"from_seq":1})").status, 404u);
  // Endpoints are durable.
  srv.restart();
  http_client again(srv.port(), admin_key);
  auto after = expect(again.get("/v1/webhook-endpoints"), 200, "list").json();
  ASSERT_EQ(after.at("data").as_array().size(), 1u);
  EXPECT_EQ(str(after.at("data").as_array()[0], "id"), "hook-2");
  EXPECT_EQ(after.at("data").as_array()[0].at("enabled"), bj::value(false));
}

// An Idempotency-Key on a change of the endpoints works as on the ledger's
// commands: a retry of a create whose answer was lost gets the same 201 with
// the generated secret (the one the endpoint keeps); the key with another
// body is idempotency_conflict and changes nothing; a replayed redeliver
// answers its first reply and moves the cursor no more; a replayed delete
// is its 200, where one without the key is a 404. Endpoints survive a
// restart, and so do the keys.
TEST(webhook_endpoints, an_idempotency_key_replays_the_first_answer) {
  using verb = boost::beast::http::verb;
  live_server srv({"--test-clock"});
  http_client admin(srv.port(), admin_key);
  auto with = [](const std::string& k) {
    return std::map<std::string, std::string>{{"Idempotency-Key", k}};
  };
  const std::string hook = "/v1/webhook-endpoints/hook-1";
  auto first = admin.request(verb::put, hook, hook_body, with("create"));
  ASSERT_EQ(first.status, 201u) << first.body;
  EXPECT_EQ(first.headers.count("idempotent-replayed"), 0u);
  auto again = admin.request(verb::put, hook, hook_body, with("create"));
  EXPECT_EQ(again.status, 201u) << again.body;
  EXPECT_EQ(again.body, first.body);
  EXPECT_EQ(again.headers["idempotent-replayed"], "true");
  EXPECT_EQ(field(expect(admin.get(hook), 200, "get"), "secret_hint"), field(first, "secret_hint"));
  auto other = admin.request(
      verb::put, hook, R"({"url":"http://127.0.0.1:9/other","events":["*"]})", with("create"));
  EXPECT_EQ(other.status, 409u) << other.body;
  EXPECT_EQ(other.error_code(), "idempotency_conflict");
  EXPECT_EQ(field(expect(admin.get(hook), 200, "get"), "url"), "http://127.0.0.1:9/hook");

  auto re = admin.request(verb::post, hook + "/redeliver", R"({"from_seq":5})", with("re"));
  ASSERT_EQ(re.status, 200u) << re.body;
  EXPECT_EQ(re.json().at("delivered_seq"), bj::value(4));
  auto moved = expect(admin.post(hook + "/redeliver", R"({"from_seq":3})"), 200, "redeliver");
  EXPECT_EQ(moved.json().at("delivered_seq"), bj::value(2));
  srv.restart();
  http_client after(srv.port(), admin_key);
  auto re_again = after.request(verb::post, hook + "/redeliver", R"({"from_seq":5})", with("re"));
  EXPECT_EQ(re_again.body, re.body);
  EXPECT_EQ(re_again.headers["idempotent-replayed"], "true");
  EXPECT_EQ(expect(after.get(hook), 200, "get").json().at("delivered_seq"), bj::value(2));

  auto del = after.request(verb::delete_, hook, "", with("del"));
  ASSERT_EQ(del.status, 200u) << del.body;
  auto del_again = after.request(verb::delete_, hook, "", with("del"));
  EXPECT_EQ(del_again.status, 200u) << del_again.body;
  EXPECT_EQ(del_again.body, del.body);
  EXPECT_EQ(del_again.headers["idempotent-replayed"], "true");
  EXPECT_EQ(after.del(hook).status, 404u);
}

// The endpoints' list pages by id as the API's lists do (limit, after,
// next); limit is 1 to 1,000 (a larger one is a 400).
TEST(webhook_endpoints, the_list_pages_by_id) {
  live_server srv({"--test-clock"});
  http_client admin(srv.port(), admin_key);
  for (const char* id : {"e3", "e1", "e5", "e2", "e4"})
    expect(admin.put(std::string("/v1/webhook-endpoints/") + id, hook_body), 201, id);
  std::vector<std::string> seen;
  std::string target = "/v1/webhook-endpoints?limit=2";
  for (int page = 0; page < 10; ++page) {
    auto r = expect(admin.get(target), 200, "page").json();
    const auto& data = r.at("data").as_array();
    EXPECT_LE(data.size(), 2u);
    for (const auto& e : data)
      seen.push_back(str(e, "id"));
    if (r.at("next").is_null()) break;
    target = "/v1/webhook-endpoints?limit=2&after=" + std::string(r.at("next").as_string());
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"e1", "e2", "e3", "e4", "e5"}));
  auto all = expect(admin.get("/v1/webhook-endpoints"), 200, "default").json();
  EXPECT_EQ(all.at("data").as_array().size(), 5u);
  EXPECT_TRUE(all.at("next").is_null());
  EXPECT_EQ(admin.get("/v1/webhook-endpoints?limit=1001").status, 400u);
  EXPECT_EQ(admin.get("/v1/webhook-endpoints/e1/deliveries?limit=1000").status, 200u);
  EXPECT_EQ(admin.get("/v1/webhook-endpoints/e1/deliveries?after=x").status, 400u);
}

TEST(webhook_endpoints, invalid_requests_are_400_and_change_nothing) {
  live_server srv({"--test-clock"});
  http_client admin(srv.port(), admin_key);
  for (const std::string body :
       {R"({"url":"ftp://x/","events":["*"]})", R"({"url":"http://u:p@x/","events":["*"]})",
        R"({"url":"not a url","events":["*"]})", R"({"url":"http://x/","events":["nope"]})",
        R"({"url":"http://x/","events":[]})", R"({"events":["*"]})", R"({"url":"http://x/"})",
        R"({"url":"http://x/","events":["*"],"secret":"short"})",
        R"({"url":"http://x/","events":["*"],"secret":"has spaces in it, really"})",
        R"({"url":"http://x/","events":["*"],"colour":"red"})"}) {
    auto r = admin.put("/v1/webhook-endpoints/h", body);
    EXPECT_EQ(r.status, 400u) << body << ": " << r.body;
    EXPECT_EQ(r.error_code(), "invalid_request") << body;
  }
  EXPECT_EQ(admin.get("/v1/webhook-endpoints/h").status, 404u);
  EXPECT_EQ(admin.get("/v1/webhook-endpoints").body, R"({"data":[],"next":null})");
  EXPECT_EQ(admin.put("/v1/webhook-endpoints/bad%20id", hook_body).status, 400u);
}

TEST(webhook_endpoints, only_an_admin_key_may_call_the_routes) {
  live_server srv({"--test-clock"});
  http_client admin(srv.port(), admin_key);
  put_account(admin, "A");
  expect(admin.put("/v1/webhook-endpoints/hook-1", hook_body), 201, "create");
  const std::string service_key =
      field(expect(admin.post("/v1/api-keys", R"({"role":"service"})"), 201, "k"), "key");
  const std::string reader_key = field(
      expect(admin.post("/v1/api-keys", R"({"role":"reader","account":"A"})"), 201, "k"), "key");
  struct route {
    verb method;
    std::string target, body;
  };
  const std::vector<route> routes = {
      {verb::put, "/v1/webhook-endpoints/hook-1", R"({"url":"http://e/","events":["*"]})"},
      {verb::put, "/v1/webhook-endpoints/hook-9", R"({"url":"http://e/","events":["*"]})"},
      {verb::get, "/v1/webhook-endpoints/hook-1", ""},
      {verb::delete_, "/v1/webhook-endpoints/hook-1", ""},
      {verb::get, "/v1/webhook-endpoints", ""},
      {verb::post, "/v1/webhook-endpoints/hook-1/redeliver", R"({"from_seq":1})"},
      {verb::get, "/v1/webhook-endpoints/hook-1/deliveries", ""},
  };
  const std::string before = admin.get("/v1/webhook-endpoints").body;
  for (const route& r : routes) {
    for (const auto& [key, status] : std::vector<std::pair<std::string, unsigned>>{
             {"", 401u}, {service_key, 403u}, {reader_key, 403u}}) {
      http_client c(srv.port(), key);
      auto reply = c.request(r.method, r.target, r.body);
      EXPECT_EQ(reply.status, status)
          << r.target << " with " << (key.empty() ? "no key" : key) << ": " << reply.body;
    }
  }
  EXPECT_EQ(admin.get("/v1/webhook-endpoints").body, before);
}

}  // namespace
}  // namespace webhook_endpoints_test_cpp
