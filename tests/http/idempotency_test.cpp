// Idempotency-Key: replays return the first response and change nothing;
// amounts compare by value; a different request is a conflict; 400/401/403/429
// are not recorded, everything else (402, 404, 409...) is.
#include "http_fixture.hpp"

namespace idempotency_test_cpp {  // unity builds: tests/CMakeLists.txt

using namespace creditd::testing;

namespace {
std::map<std::string, std::string> key(const std::string& k) {
  return {{"Idempotency-Key", k}};
}
}  // namespace

// A replay says so once, whatever the route answered it: one
// Idempotent-Replayed field (the client joins a repeated one as "true, true").
TEST(http_idempotency, a_replay_carries_one_idempotent_replayed_field) {
  live_server srv;
  http_client c(srv.port(), admin_key);
  put_account(c, "a");
  grant(c, "a", "10");
  const std::pair<std::string, std::string> calls[] = {
      {"/v1/accounts/a/lots", R"({"amount":5,"kind":"promo"})"},
      {"/v1/accounts/a/charges", R"({"operation":"image.generate","amount":1})"},
      {"/v1/accounts/a/holds", R"({"operation":"image.generate","amount":1})"},
      {"/v1/accounts/a/adjustments", R"({"amount":1,"reason":"goodwill"})"},
  };
  int n = 0;
  for (const auto& [target, body] : calls) {
    const std::string k = "once-" + std::to_string(n++);
    auto first = c.post(target, body, key(k));
    ASSERT_LT(first.status, 300u) << target << ": " << first.body;
    EXPECT_EQ(first.headers.count("idempotent-replayed"), 0u) << target;
    auto again = c.post(target, body, key(k));
    EXPECT_EQ(again.status, first.status) << target;
    EXPECT_EQ(again.body, first.body) << target;
    EXPECT_EQ(again.headers["idempotent-replayed"], "true") << target;
  }
}

// A null where a field is not nullable is taken as absent, so a body with
// it and one without are the same request, both ways round, on the fast
// charge path and the general one.
TEST(http_idempotency, a_null_field_is_the_same_request_as_an_absent_one) {
  live_server srv;
  http_client c(srv.port(), admin_key);
  put_account(c, "a");
  grant(c, "a", "10");
  const std::pair<std::string, std::string> pairs[] = {
      {R"({"operation":"image.generate","amount":1})",
       R"({"operation":"image.generate","amount":1,"reference":null,"metadata":null})"},
      {R"({"operation":"image.generate","amount":1,"urgent":null})",
       R"({"operation":"image.generate","amount":1})"},
  };
  int n = 0;
  for (const auto& [first_body, second_body] : pairs) {
    const std::string k = "null-" + std::to_string(n++);
    auto first = c.post("/v1/accounts/a/charges", first_body, key(k));
    ASSERT_EQ(first.status, 201u) << first_body << ": " << first.body;
    auto again = c.post("/v1/accounts/a/charges", second_body, key(k));
    EXPECT_EQ(again.status, 201u) << second_body << ": " << again.body;
    EXPECT_EQ(again.body, first.body) << second_body;
    EXPECT_EQ(again.headers["idempotent-replayed"], "true") << second_body;
  }
  EXPECT_EQ(available(c, "a"), "8");
}

TEST(http_idempotency, replay_returns_the_first_response_and_changes_nothing) {
  live_server srv;
  http_client c(srv.port(), admin_key);
  put_account(c, "a");
  grant(c, "a", "10");

  auto first = c.post("/v1/accounts/a/charges",
                      R"({"operation":"image.generate","amount":2.5,"dimensions":{"m":"x","n":1}})",
                      key("charge-1"));
  ASSERT_EQ(first.status, 201u) << first.body;
  EXPECT_EQ(first.headers.count("idempotent-replayed"), 0u);
  const std::string after_first = state(c, "a");

  // Same parsed request: amounts by value, keys in any order, whitespace ignored.
  for (
      const char* body : {
          R"({"operation":"image.generate","amount":2.5,"dimensions":{"m":"x","n":1}})",
          R"({"operation":"image.generate","amount":"2.50","dimensions":{"m":"x","n":1}})",
          R"({"amount":"2.5","dimensions":{"n":1,"m":"x"},"operation":"image.generate"})",
          R"({ "operation" : "image.generate", "amount" : 2.500000, "dimensions" : {"m":"x","n":1} })",
      }) {
    auto replay = c.post("/v1/accounts/a/charges", body, key("charge-1"));
    EXPECT_EQ(replay.status, 201u) << body;
    EXPECT_EQ(replay.body, first.body) << body;
    EXPECT_EQ(replay.headers["idempotent-replayed"], "true") << body;
  }
  EXPECT_EQ(state(c, "a"), after_first);
  EXPECT_EQ(available(c, "a"), "7.5");
  EXPECT_EQ(entries_of_type(c, "a", "charge").size(), 1u);

  // The same request without the key, or with another key, is a new charge.
  EXPECT_EQ(str(charge(c, "a", "2.5"), "balance_after"), "5");
  auto other = c.post("/v1/accounts/a/charges", R"({"operation":"image.generate","amount":2.5})",
                      key("charge-2"));
  ASSERT_EQ(other.status, 201u);
  EXPECT_EQ(str(other.json(), "balance_after"), "2.5");
}

TEST(http_idempotency, same_key_for_a_different_request_is_a_conflict) {
  live_server srv;
  http_client c(srv.port(), admin_key);
  put_account(c, "a");
  put_account(c, "b");
  grant(c, "a", "10");
  grant(c, "b", "10");
  ASSERT_EQ(c.post("/v1/accounts/a/charges", R"({"operation":"x","amount":1})", key("k")).status,
            201u);
  const std::string a_before = state(c, "a");
  const std::string b_before = state(c, "b");
  struct {
    std::string target, body;
  } cases[] = {
      {"/v1/accounts/a/charges", R"({"operation":"x","amount":1.000001})"},
      {"/v1/accounts/a/charges", R"({"operation":"y","amount":1})"},
      {"/v1/accounts/a/charges", R"({"operation":"x","amount":1,"reference":"r"})"},
      {"/v1/accounts/b/charges", R"({"operation":"x","amount":1})"},  // other account
      {"/v1/accounts/a/holds", R"({"operation":"x","amount":1})"},    // other route
      {"/v1/accounts/a/lots", R"({"amount":1,"kind":"promo"})"},
  };
  for (const auto& x : cases) {
    auto r = c.post(x.target, x.body, key("k"));
    EXPECT_EQ(r.status, 409u) << x.target << " " << x.body << ": " << r.body;
    EXPECT_EQ(r.error_code(), "idempotency_conflict") << x.target << " " << x.body;
  }
  auto put = c.request(verb::put, "/v1/accounts/a", R"({"name":"A"})", key("k"));
  EXPECT_EQ(put.status, 409u) << put.body;
  EXPECT_EQ(put.error_code(), "idempotency_conflict");
  EXPECT_EQ(state(c, "a"), a_before);
  EXPECT_EQ(state(c, "b"), b_before);
  EXPECT_EQ(str(c.get("/v1/accounts/a").json(), "name"), "");
}

TEST(http_idempotency, a_400_is_not_recorded_so_a_corrected_retry_succeeds) {
  live_server srv;
  http_client c(srv.port(), admin_key);
  put_account(c, "a");
  grant(c, "a", "10");
  auto bad = c.post("/v1/accounts/a/charges", R"({"operation":"x","amount":"1.0000001"})",
                    key("retry-me"));
  ASSERT_EQ(bad.status, 400u) << bad.body;
  auto bad_json = c.post("/v1/accounts/a/charges", R"({"operation":"x",)", key("retry-me"));
  ASSERT_EQ(bad_json.status, 400u) << bad_json.body;
  auto fixed =
      c.post("/v1/accounts/a/charges", R"({"operation":"x","amount":"1"})", key("retry-me"));
  ASSERT_EQ(fixed.status, 201u) << fixed.body;
  EXPECT_EQ(fixed.headers.count("idempotent-replayed"), 0u);
  auto replay =
      c.post("/v1/accounts/a/charges", R"({"operation":"x","amount":1})", key("retry-me"));
  EXPECT_EQ(replay.status, 201u);
  EXPECT_EQ(replay.body, fixed.body);
  EXPECT_EQ(replay.headers["idempotent-replayed"], "true");
  EXPECT_EQ(available(c, "a"), "9");

  // A refund for more than is left (400) is not recorded either.
  const std::string id = field(fixed, "id");
  ASSERT_EQ(c.post("/v1/charges/" + id + "/refund", R"({"amount":2})", key("refund")).status, 400u);
  auto refund = c.post("/v1/charges/" + id + "/refund", R"({"amount":0.5})", key("refund"));
  ASSERT_EQ(refund.status, 201u) << refund.body;
  EXPECT_EQ(available(c, "a"), "9.5");
}

TEST(http_idempotency, a_402_is_recorded_and_replayed_even_after_a_top_up) {
  live_server srv;
  http_client c(srv.port(), admin_key);
  put_account(c, "a");
  grant(c, "a", "10");
  auto refused = c.post("/v1/accounts/a/charges", R"({"operation":"x","amount":20})", key("big"));
  ASSERT_EQ(refused.status, 402u) << refused.body;
  grant(c, "a", "20");
  const std::string before = state(c, "a");
  auto replay =
      c.post("/v1/accounts/a/charges", R"({"operation":"x","amount":"20.0"})", key("big"));
  EXPECT_EQ(replay.status, 402u) << replay.body;
  EXPECT_EQ(replay.body, refused.body);
  EXPECT_EQ(replay.headers["idempotent-replayed"], "true");
  EXPECT_EQ(error_field(replay, "available"), "10");
  EXPECT_EQ(state(c, "a"), before);
  // A new key may spend the top-up.
  auto fresh = c.post("/v1/accounts/a/charges", R"({"operation":"x","amount":20})", key("big-2"));
  EXPECT_EQ(fresh.status, 201u) << fresh.body;
  EXPECT_EQ(available(c, "a"), "10");
}

TEST(http_idempotency, other_recorded_outcomes_404_and_409) {
  live_server srv;
  http_client c(srv.port(), admin_key);
  // 404: the account does not exist yet; the replay says so even once it does.
  auto missing = c.post("/v1/accounts/late/charges", R"({"operation":"x","amount":1})", key("n"));
  ASSERT_EQ(missing.status, 404u) << missing.body;
  put_account(c, "late");
  grant(c, "late", "5");
  auto replay = c.post("/v1/accounts/late/charges", R"({"operation":"x","amount":1})", key("n"));
  EXPECT_EQ(replay.status, 404u) << replay.body;
  EXPECT_EQ(replay.headers["idempotent-replayed"], "true");
  EXPECT_EQ(available(c, "late"), "5");

  // 409 conflict (hold not open) is replayed as such.
  const std::string hold = field(
      expect(c.post("/v1/accounts/late/holds", R"({"operation":"x","amount":2})"), 201, "h"), "id");
  auto captured = c.post("/v1/holds/" + hold + "/capture", R"({"amount":1})", key("cap"));
  ASSERT_EQ(captured.status, 200u) << captured.body;
  // Replaying the capture returns the capture, not "not open".
  auto again = c.post("/v1/holds/" + hold + "/capture", R"({"amount":"1.000"})", key("cap"));
  EXPECT_EQ(again.status, 200u) << again.body;
  EXPECT_EQ(again.body, captured.body);
  EXPECT_EQ(again.headers["idempotent-replayed"], "true");
  auto release = c.post("/v1/holds/" + hold + "/release", "", key("rel"));
  ASSERT_EQ(release.status, 409u);
  auto release_again = c.post("/v1/holds/" + hold + "/release", "", key("rel"));
  EXPECT_EQ(release_again.status, 409u);
  EXPECT_EQ(release_again.headers["idempotent-replayed"], "true");
  EXPECT_EQ(available(c, "late"), "4");
}

TEST(http_idempotency, every_mutating_route_replays) {
  live_server srv;
  http_client c(srv.port(), admin_key);
  auto twice = [&](verb method, const std::string& target, const std::string& body,
                   const std::string& k) {
    auto first = c.request(method, target, body, key(k));
    EXPECT_LT(first.status, 300u) << target << ": " << first.body;
    auto second = c.request(method, target, body, key(k));
    EXPECT_EQ(second.status, first.status) << target;
    EXPECT_EQ(second.body, first.body) << target;
    EXPECT_EQ(second.headers["idempotent-replayed"], "true") << target;
    return first;
  };
  auto created = twice(verb::put, "/v1/accounts/a", R"({"name":"A"})", "put");
  EXPECT_EQ(created.status, 201u);
  const std::string lot = field(
      twice(verb::post, "/v1/accounts/a/lots", R"({"amount":10,"kind":"prepaid"})", "lot"), "id");
  EXPECT_EQ(c.get("/v1/accounts/a/lots").json().at("data").as_array().size(), 1u);
  auto ch = twice(verb::post, "/v1/accounts/a/charges", R"({"operation":"x","amount":1})", "ch");
  twice(verb::post, "/v1/accounts/a/charges:batch",
        R"({"charges":[{"operation":"x","amount":1},{"operation":"y","amount":1}]})", "batch");
  twice(verb::post, "/v1/charges/" + field(ch, "id") + "/refund", R"({"amount":0.5})", "refund");
  twice(verb::post, "/v1/accounts/a/adjustments", R"({"amount":-1,"reason":"x"})", "adjust");
  const std::string hold = field(
      twice(verb::post, "/v1/accounts/a/holds", R"({"operation":"x","amount":2})", "hold"), "id");
  twice(verb::post, "/v1/holds/" + hold + "/release", "", "release");
  // 10 - 1 - 2 + 0.5 - 1 = 6.5, and the released hold is back.
  EXPECT_EQ(available(c, "a"), "6.5");
  twice(verb::post, "/v1/lots/" + lot + "/void", "", "void");
  EXPECT_EQ(available(c, "a"), "0");
  std::vector<std::string> types;
  for (const auto& e : entries(c, "a"))
    types.emplace_back(e.at("type").as_string());
  EXPECT_EQ(types, (std::vector<std::string>{"grant", "charge", "charge", "charge", "refund",
                                             "adjust", "hold", "release", "void"}));
}

TEST(http_idempotency, refusals_401_403_429_are_not_recorded) {
  live_server srv({"--test-clock"});
  http_client c(srv.port(), admin_key);
  put_account(c, "a", R"({"settings":{"rate_limit_per_minute":1}})");
  grant(c, "a", "10");
  const std::string body = R"({"operation":"x","amount":1})";

  http_client nobody(srv.port(), "bad-key");
  ASSERT_EQ(nobody.post("/v1/accounts/a/charges", body, key("k")).status, 401u);
  auto reader_key =
      expect(c.post("/v1/api-keys", R"({"role":"reader","account":"a"})"), 201, "key");
  http_client reader(srv.port(), field(reader_key, "key"));
  ASSERT_EQ(reader.post("/v1/accounts/a/charges", body, key("k")).status, 403u);

  ASSERT_EQ(c.post("/v1/accounts/a/charges", body, key("first")).status, 201u);
  auto limited = c.post("/v1/accounts/a/charges", body, key("k"));
  ASSERT_EQ(limited.status, 429u) << limited.body;
  advance(c, 60);
  auto ok = c.post("/v1/accounts/a/charges", body, key("k"));
  EXPECT_EQ(ok.status, 201u) << ok.body;
  EXPECT_EQ(ok.headers.count("idempotent-replayed"), 0u);
  EXPECT_EQ(available(c, "a"), "8");
}

TEST(http_idempotency, keys_survive_a_restart_and_24_hours) {
  live_server srv({"--test-clock"});
  std::string first_body;
  {
    http_client c(srv.port(), admin_key);
    put_account(c, "a");
    grant(c, "a", "10");
    auto first =
        c.post("/v1/accounts/a/charges", R"({"operation":"x","amount":3})", key("durable"));
    ASSERT_EQ(first.status, 201u);
    first_body = first.body;
  }
  ASSERT_EQ(srv.terminate(), 0);
  srv.restart();
  http_client c(srv.port(), admin_key);
  advance(c, 24 * 3600);
  auto replay =
      c.post("/v1/accounts/a/charges", R"({"operation":"x","amount":"3"})", key("durable"));
  EXPECT_EQ(replay.status, 201u);
  EXPECT_EQ(replay.body, first_body);
  EXPECT_EQ(replay.headers["idempotent-replayed"], "true");
  EXPECT_EQ(available(c, "a"), "7");
  auto conflict =
      c.post("/v1/accounts/a/charges", R"({"operation":"x","amount":4})", key("durable"));
  EXPECT_EQ(conflict.status, 409u);
  EXPECT_EQ(conflict.error_code(), "idempotency_conflict");
}

TEST(http_idempotency, key_longer_than_255_bytes_is_refused) {
  live_server srv;
  http_client c(srv.port(), admin_key);
  put_account(c, "a");
  grant(c, "a", "10");
  auto r = c.post("/v1/accounts/a/charges", R"({"operation":"x","amount":1})",
                  key(std::string(256, 'k')));
  EXPECT_EQ(r.status, 400u) << r.body;
  EXPECT_EQ(r.error_code(), "invalid_request");
  EXPECT_EQ(available(c, "a"), "10");
  EXPECT_EQ(c.post("/v1/accounts/a/charges", R"({"operation":"x","amount":1})",
                   key(std::string(255, 'k')))
                .status,
            201u);
}

TEST(http_idempotency, api_key_creation_replays) {
  live_server srv;
  http_client c(srv.port(), admin_key);
  auto first = c.post("/v1/api-keys", R"({"role":"service"})", key("new-key"));
  ASSERT_EQ(first.status, 201u) << first.body;
  auto replay = c.post("/v1/api-keys", R"({"role":"service"})", key("new-key"));
  EXPECT_EQ(replay.status, 201u);
  EXPECT_EQ(replay.headers["idempotent-replayed"], "true");
  // The same key, not a second one; and its secret is shown once: a replay
  // (which anyone who learns the Idempotency-Key could send) never shows it
  // again (docs/architecture.md, Idempotency; api.md "the key is shown once").
  EXPECT_EQ(field(replay, "id"), field(first, "id"));
  EXPECT_EQ(field(replay, "role"), "service");
  const std::string secret = field(first, "key");
  ASSERT_FALSE(secret.empty());
  EXPECT_TRUE(replay.json().at("key").is_null()) << replay.body;
  EXPECT_EQ(replay.body.find(secret), std::string::npos) << replay.body;
  EXPECT_FALSE(field(replay, "key_withheld").empty()) << replay.body;
  auto conflict = c.post("/v1/api-keys", R"({"role":"admin"})", key("new-key"));
  EXPECT_EQ(conflict.status, 409u) << conflict.body;
  EXPECT_EQ(conflict.error_code(), "idempotency_conflict");
  http_client service(srv.port(), field(first, "key"));
  EXPECT_EQ(service.get("/healthz").status, 200u);
  EXPECT_EQ(service.get("/v1/accounts/none").status, 404u);  // authenticated
}

// product.md, Security: "Keys are stored hashed". With an Idempotency-Key the
// creation response is recorded in the store: it must not hold the secret.
TEST(http_idempotency, api_key_creation_record_does_not_store_the_key) {
  live_server srv;
  std::string secret;
  {
    http_client c(srv.port(), admin_key);
    auto created = c.post("/v1/api-keys", R"({"role":"service"})", key("k"));
    ASSERT_EQ(created.status, 201u) << created.body;
    secret = field(created, "key");
  }
  ASSERT_EQ(srv.terminate(), 0);
  for (const char* suffix : {"", "-wal", "-journal"}) {
    std::FILE* f = std::fopen((srv.db() + suffix).c_str(), "rb");
    if (f == nullptr) continue;
    std::string bytes;
    char buf[65536];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;)
      bytes.append(buf, n);
    std::fclose(f);
    EXPECT_EQ(bytes.find(secret), std::string::npos)
        << "the plaintext key is in " << srv.db() << suffix;
  }
  // After a restart the replay still names the same key.
  srv.restart();
  http_client c(srv.port(), admin_key);
  auto replay = c.post("/v1/api-keys", R"({"role":"service"})", key("k"));
  EXPECT_EQ(replay.status, 201u) << replay.body;
  EXPECT_EQ(replay.headers["idempotent-replayed"], "true");
}

TEST(http_idempotency, test_clock_advance_replays) {
  live_server srv({"--test-clock"});
  http_client c(srv.port(), admin_key);
  const std::int64_t start = clock_now(c);
  auto first = c.post("/v1/test-clock/advance", R"({"seconds":60})", key("tick"));
  ASSERT_EQ(first.status, 200u) << first.body;
  auto replay = c.post("/v1/test-clock/advance", R"({"seconds":60})", key("tick"));
  EXPECT_EQ(replay.status, 200u);
  EXPECT_EQ(replay.body, first.body);
  EXPECT_EQ(replay.headers["idempotent-replayed"], "true");
  EXPECT_EQ(clock_now(c), start + 60 * us_per_second);
  auto conflict = c.post("/v1/test-clock/advance", R"({"seconds":61})", key("tick"));
  EXPECT_EQ(conflict.status, 409u) << conflict.body;
  EXPECT_EQ(clock_now(c), start + 60 * us_per_second);
}

// Issue 9: a key used again just after its retention must be a new request,
// and must never make the store refuse writes (it once failed the whole
// commit on the key's primary key, for every client, until recovery).
TEST(http_idempotency, a_key_reused_after_its_retention_is_new_and_stops_no_writes) {
  live_server srv({"--test-clock"});
  http_client c(srv.port(), admin_key);
  put_account(c, "a");
  put_account(c, "b");
  grant(c, "a", "10");
  grant(c, "b", "10");
  auto first = c.post("/v1/accounts/a/charges", R"({"operation":"x","amount":1})", key("k9"));
  ASSERT_EQ(first.status, 201u) << describe(first);
  advance(c, 180000);  // 50 hours: past the 48-hour retention
  auto again = c.post("/v1/accounts/a/charges", R"({"operation":"x","amount":1})", key("k9"));
  ASSERT_EQ(again.status, 201u) << describe(again);
  EXPECT_EQ(again.headers.count("idempotent-replayed"), 0u);
  EXPECT_NE(field(again, "id"), field(first, "id"));
  // Other clients' writes go on; the server is not degraded.
  expect(c.post("/v1/accounts/b/charges", R"({"operation":"x","amount":1})"), 201, "charge b");
  expect(c.get("/healthz"), 200, "healthz");
  // The same key with another body is now a conflict with the new record.
  auto conflict = c.post("/v1/accounts/a/charges", R"({"operation":"x","amount":2})", key("k9"));
  EXPECT_EQ(conflict.error_code(), "idempotency_conflict") << describe(conflict);
  EXPECT_EQ(available(c, "a"), "8");

  // After a restart, the key still maps to its newest response.
  ASSERT_EQ(srv.terminate(), 0);
  srv.restart();
  http_client c2(srv.port(), admin_key);
  auto replay = c2.post("/v1/accounts/a/charges", R"({"operation":"x","amount":1})", key("k9"));
  EXPECT_EQ(replay.status, 201u);
  EXPECT_EQ(replay.body, again.body);
  expect(c2.post("/v1/accounts/b/charges", R"({"operation":"x","amount":1})"), 201, "charge b");
}

// One namespace per server (api.md), but never a way around a role: a
// principal that may not make the request is refused as without the key (the
// recorded response is not shown to it), and one that may make it gets the
// replay and changes nothing. A secret is never shown on anyone's replay.
TEST(http_idempotency, a_key_replayed_by_another_principal_never_bypasses_its_role) {
  live_server srv;
  http_client admin(srv.port(), admin_key);
  put_account(admin, "a");
  put_account(admin, "b");
  grant(admin, "a", "10");
  auto make_key = [&](const std::string& body) {
    return field(expect(admin.post("/v1/api-keys", body), 201, "create key"), "key");
  };
  const std::string reader_a = make_key(R"({"role":"reader","account":"a"})");
  const std::string reader_b = make_key(R"({"role":"reader","account":"b"})");
  const std::string service_key = make_key(R"({"role":"service"})");
  const std::string admin2_key = make_key(R"({"role":"admin"})");
  auto revoked = expect(admin.post("/v1/api-keys", R"({"role":"service"})"), 201, "create key");
  expect(admin.del("/v1/api-keys/" + field(revoked, "id")), 200, "revoke");

  const std::string body = R"({"operation":"x","amount":1})";
  auto first = admin.post("/v1/accounts/a/charges", body, key("shared-k"));
  ASSERT_EQ(first.status, 201u) << first.body;
  const std::string charge_id = field(first, "id");
  const std::string before = state(admin, "a");

  struct refused_case {
    std::string name, key;
    unsigned status;
  };
  for (const refused_case& x :
       {refused_case{"no key", "", 401u}, refused_case{"revoked key", field(revoked, "key"), 401u},
        refused_case{"wrong key", "not-a-key", 401u}, refused_case{"reader of a", reader_a, 403u},
        refused_case{"reader of b", reader_b, 403u}}) {
    http_client c(srv.port(), x.key);
    auto r = c.post("/v1/accounts/a/charges", body, key("shared-k"));
    EXPECT_EQ(r.status, x.status) << x.name << ": " << r.body;
    EXPECT_EQ(r.headers.count("idempotent-replayed"), 0u) << x.name;
    EXPECT_EQ(r.body.find(charge_id), std::string::npos) << x.name << " saw " << r.body;
  }
  EXPECT_EQ(state(admin, "a"), before);

  // A service key may make this charge: the same request under the same key
  // is the same charge, applied once.
  http_client service(srv.port(), service_key);
  auto replay = service.post("/v1/accounts/a/charges", body, key("shared-k"));
  EXPECT_EQ(replay.status, 201u) << replay.body;
  EXPECT_EQ(replay.body, first.body);
  EXPECT_EQ(replay.headers["idempotent-replayed"], "true");
  auto other =
      service.post("/v1/accounts/a/charges", R"({"operation":"x","amount":2})", key("shared-k"));
  EXPECT_EQ(other.status, 409u) << other.body;
  EXPECT_EQ(other.error_code(), "idempotency_conflict");
  EXPECT_EQ(state(admin, "a"), before);
  EXPECT_EQ(available(admin, "a"), "9");

  // An admin's key creation: a service key is refused (403, no id), another
  // admin gets the record without the secret.
  auto created = admin.post("/v1/api-keys", R"({"role":"service"})", key("key-k"));
  ASSERT_EQ(created.status, 201u) << created.body;
  const std::string secret = field(created, "key");
  auto by_service = service.post("/v1/api-keys", R"({"role":"service"})", key("key-k"));
  EXPECT_EQ(by_service.status, 403u) << by_service.body;
  EXPECT_EQ(by_service.body.find(field(created, "id")), std::string::npos) << by_service.body;
  EXPECT_EQ(by_service.body.find(secret), std::string::npos);
  http_client admin2(srv.port(), admin2_key);
  auto by_admin2 = admin2.post("/v1/api-keys", R"({"role":"service"})", key("key-k"));
  EXPECT_EQ(by_admin2.status, 201u) << by_admin2.body;
  EXPECT_EQ(by_admin2.headers["idempotent-replayed"], "true");
  EXPECT_EQ(field(by_admin2, "id"), field(created, "id"));
  EXPECT_EQ(by_admin2.body.find(secret), std::string::npos) << by_admin2.body;
}
}  // namespace idempotency_test_cpp
