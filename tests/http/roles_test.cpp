// Roles: no key / reader of A / reader of B / service / admin against every
// endpoint of the table; API keys: create, use, revoke, persist.
#include <functional>

#include "http_fixture.hpp"

namespace roles_test_cpp {  // unity builds: tests/CMakeLists.txt

using namespace creditd::testing;

namespace {

enum class who { none, reader_a, reader_b, service, admin };
constexpr who everyone[] = {who::none, who::reader_a, who::reader_b, who::service, who::admin};
const char* name(who w) {
  switch (w) {
    case who::none:
      return "no key";
    case who::reader_a:
      return "reader of A";
    case who::reader_b:
      return "reader of B";
    case who::service:
      return "service";
    case who::admin:
      return "admin";
  }
  return "?";
}

// any_key: any valid key, but a reader only for its account's objects; key: any valid key.
enum class need_class { open, key, any_key, reader_own, service, admin };

// The status class a principal must get: 0 = allowed (not 401/403).
unsigned expected_refusal(need_class need, who w) {
  if (need == need_class::open) return 0;
  if (w == who::none) return 401;
  switch (need) {
    case need_class::open:
      return 0;
    case need_class::key:
      return 0;
    case need_class::any_key:
      return w == who::reader_b ? 403 : 0;  // the object belongs to A
    case need_class::reader_own:
      return w == who::reader_b ? 403 : 0;
    case need_class::service:
      return (w == who::service || w == who::admin) ? 0 : 403;
    case need_class::admin:
      return w == who::admin ? 0 : 403;
  }
  return 0;
}

struct world {
  live_server srv{{"--test-clock"}};
  http_client admin{srv.port(), admin_key};
  std::string lot, charge_id, hold, service_key, reader_a_key, reader_b_key, spare_key_id;
  world() {
    put_account(admin, "A");
    put_account(admin, "B");
    lot = grant(admin, "A", "100");
    grant(admin, "B", "100");
    charge_id = str(charge(admin, "A", "1"), "id");
    hold = field(
        expect(admin.post("/v1/accounts/A/holds", R"({"operation":"x","amount":1})"), 201, "hold"),
        "id");
    service_key =
        field(expect(admin.post("/v1/api-keys", R"({"role":"service"})"), 201, "k"), "key");
    reader_a_key = field(
        expect(admin.post("/v1/api-keys", R"({"role":"reader","account":"A"})"), 201, "k"), "key");
    reader_b_key = field(
        expect(admin.post("/v1/api-keys", R"({"role":"reader","account":"B"})"), 201, "k"), "key");
    spare_key_id =
        field(expect(admin.post("/v1/api-keys", R"({"role":"service"})"), 201, "k"), "id");
  }
  std::string key_of(who w) const {
    switch (w) {
      case who::none:
        return "";
      case who::reader_a:
        return reader_a_key;
      case who::reader_b:
        return reader_b_key;
      case who::service:
        return service_key;
      case who::admin:
        return admin_key;
    }
    return "";
  }
};

}  // namespace

// Every endpoint of the table, every principal that must be refused: the
// exact status, the error code, and nothing changed.
TEST(http_roles, every_endpoint_refuses_the_principals_it_must) {
  world w;
  struct route {
    verb method;
    std::string target;
    std::string body;
    need_class need;
  };
  const std::vector<route> routes = {
      {verb::get, "/healthz", "", need_class::open},
      {verb::get, "/metrics", "", need_class::open},
      {verb::get, "/openapi.json", "", need_class::open},
      // A service key creates and names accounts; settings are an admin's.
      {verb::put, "/v1/accounts/A", R"({"name":"renamed"})", need_class::service},
      {verb::put, "/v1/accounts/A", R"({"settings":{"reserve":1}})", need_class::admin},
      {verb::get, "/v1/accounts/A", "", need_class::reader_own},
      {verb::get, "/v1/accounts/A/balance", "", need_class::reader_own},
      {verb::post, "/v1/accounts/A/lots", R"({"amount":1,"kind":"promo"})", need_class::admin},
      {verb::get, "/v1/accounts/A/lots", "", need_class::reader_own},
      {verb::post, "/v1/lots/" + w.lot + "/void", "", need_class::admin},
      {verb::post, "/v1/accounts/A/charges", R"({"operation":"x","amount":1})",
       need_class::service},
      {verb::post, "/v1/accounts/A/charges:batch", R"({"charges":[{"operation":"x","amount":1}]})",
       need_class::service},
      {verb::post, "/v1/charges/" + w.charge_id + "/refund", "", need_class::service},
      {verb::post, "/v1/accounts/A/adjustments", R"({"amount":1,"reason":"x"})", need_class::admin},
      {verb::post, "/v1/accounts/A/holds", R"({"operation":"x","amount":1})", need_class::service},
      {verb::post, "/v1/holds/" + w.hold + "/capture", "", need_class::service},
      {verb::post, "/v1/holds/" + w.hold + "/release", "", need_class::service},
      {verb::get, "/v1/holds/" + w.hold, "", need_class::any_key},
      {verb::get, "/v1/accounts/A/entries", "", need_class::reader_own},
      {verb::get, "/v1/events?account=A", "", need_class::any_key},
      {verb::post, "/v1/api-keys", R"({"role":"admin"})", need_class::admin},
      {verb::delete_, "/v1/api-keys/" + w.spare_key_id, "", need_class::admin},
      {verb::post, "/v1/store/flush", "", need_class::admin},
      {verb::get, "/v1/test-clock", "", need_class::key},
      {verb::post, "/v1/test-clock/advance", R"({"seconds":1})", need_class::admin},
      // Commerce: the catalog is an admin's, reads take any key; purchases and
      // subscriptions a service's; a reader quotes and reads its own account.
      {verb::put, "/v1/prices/p", R"({"operation":"x","unit_amount":1})", need_class::admin},
      {verb::get, "/v1/prices", "", need_class::key},
      {verb::get, "/v1/prices/p", "", need_class::key},
      {verb::delete_, "/v1/prices/p", "", need_class::admin},
      {verb::put, "/v1/packages/k", R"({"credits":1,"price":1,"currency":"usd"})",
       need_class::admin},
      {verb::get, "/v1/packages", "", need_class::key},
      {verb::get, "/v1/packages/k", "", need_class::key},
      {verb::put, "/v1/plans/m", R"({"credits_per_period":1,"period":"month"})", need_class::admin},
      {verb::get, "/v1/plans", "", need_class::key},
      {verb::get, "/v1/plans/m", "", need_class::key},
      {verb::post, "/v1/accounts/A/quote", R"({"operation":"x","amount":1})",
       need_class::reader_own},
      {verb::post, "/v1/accounts/A/purchases", R"({"package":"k"})", need_class::service},
      {verb::get, "/v1/accounts/A/purchases", "", need_class::reader_own},
      {verb::put, "/v1/accounts/A/subscription", R"({"plan":"m"})", need_class::service},
      {verb::get, "/v1/accounts/A/subscription", "", need_class::reader_own},
      {verb::delete_, "/v1/accounts/A/subscription", "", need_class::service},
  };
  const std::string a_before = state(w.admin, "A");
  const std::string b_before = state(w.admin, "B");
  const std::int64_t clock_before = clock_now(w.admin);
  for (const route& r : routes) {
    for (who p : everyone) {
      const unsigned refusal = expected_refusal(r.need, p);
      if (refusal == 0) continue;
      http_client c(w.srv.port(), w.key_of(p));
      auto reply = c.request(r.method, r.target, r.body);
      EXPECT_EQ(reply.status, refusal) << name(p) << " " << r.target << ": " << reply.body;
      EXPECT_EQ(reply.error_code(), refusal == 401 ? "unauthenticated" : "forbidden")
          << name(p) << " " << r.target;
    }
  }
  EXPECT_EQ(state(w.admin, "A"), a_before);
  EXPECT_EQ(state(w.admin, "B"), b_before);
  EXPECT_EQ(clock_now(w.admin), clock_before);
  // The spare key was not revoked and no key was created: the spare still works.
  auto spare = w.admin.del("/v1/api-keys/" + w.spare_key_id);
  EXPECT_EQ(spare.status, 200u) << spare.body;
}

// Reads: every principal allowed gets 200 with the same body as the admin.
TEST(http_roles, reads_for_each_access_class) {
  world w;
  for (const std::string& target :
       {std::string("/v1/accounts/A"), std::string("/v1/accounts/A/lots"),
        std::string("/v1/accounts/A/entries"), "/v1/holds/" + w.hold, std::string("/v1/test-clock"),
        std::string("/healthz")}) {
    const auto reference = w.admin.get(target);
    ASSERT_EQ(reference.status, 200u) << target;
    for (who p : {who::reader_a, who::service}) {
      http_client c(w.srv.port(), w.key_of(p));
      auto r = c.get(target);
      EXPECT_EQ(r.status, 200u) << name(p) << " " << target << ": " << r.body;
      EXPECT_EQ(r.body, reference.body) << name(p) << " " << target;
    }
  }
  http_client reader_b(w.srv.port(), w.reader_b_key);
  EXPECT_EQ(reader_b.get("/v1/accounts/B/balance").status, 200u);
  EXPECT_EQ(str(reader_b.get("/v1/accounts/B/balance").json(), "available"), "100");
  // A reader is bound to its account even when the other one does not exist.
  auto ghost = reader_b.get("/v1/accounts/ghost");
  EXPECT_EQ(ghost.status, 403u) << ghost.body;
}

// Writes: service endpoints for service and admin, admin endpoints for admin.
TEST(http_roles, writes_for_each_access_class) {
  world w;
  http_client service(w.srv.port(), w.service_key);
  auto ch = service.post("/v1/accounts/B/charges", R"({"operation":"x","amount":2})");
  ASSERT_EQ(ch.status, 201u) << ch.body;
  EXPECT_EQ(
      service.post("/v1/accounts/B/charges:batch", R"({"charges":[{"operation":"x","amount":1}]})")
          .status,
      201u);
  EXPECT_EQ(service.post("/v1/charges/" + field(ch, "id") + "/refund", R"({"amount":1})").status,
            201u);
  EXPECT_EQ(service.post("/v1/holds/" + w.hold + "/capture").status, 200u);
  auto h = service.post("/v1/accounts/B/holds", R"({"operation":"x","amount":1})");
  ASSERT_EQ(h.status, 201u);
  EXPECT_EQ(service.post("/v1/holds/" + field(h, "id") + "/release").status, 200u);
  EXPECT_EQ(available(w.admin, "B"), "98");
  EXPECT_EQ(available(w.admin, "A"), "98");

  EXPECT_EQ(w.admin.post("/v1/accounts/B/charges", R"({"operation":"x","amount":1})").status, 201u);
  EXPECT_EQ(w.admin.post("/v1/accounts/B/adjustments", R"({"amount":"0.5","reason":"x"})").status,
            201u);
  EXPECT_EQ(available(w.admin, "B"), "97.5");
}

TEST(http_api_keys, create_use_revoke_and_persist) {
  live_server srv;
  http_client admin(srv.port(), admin_key);
  put_account(admin, "acct");
  grant(admin, "acct", "10");

  auto created = admin.post("/v1/api-keys", R"({"role":"service"})");
  ASSERT_EQ(created.status, 201u) << created.body;
  auto k = created.json();
  EXPECT_EQ(str(k, "role"), "service");
  EXPECT_TRUE(k.at("account").is_null());
  EXPECT_FALSE(str(k, "id").empty());
  EXPECT_GE(str(k, "key").size(), 20u);
  EXPECT_EQ(created.body.find(str(k, "key")), created.body.rfind(str(k, "key")));

  auto reader = admin.post("/v1/api-keys", R"({"role":"reader","account":"acct"})");
  ASSERT_EQ(reader.status, 201u) << reader.body;
  EXPECT_EQ(str(reader.json(), "role"), "reader");
  EXPECT_EQ(str(reader.json(), "account"), "acct");
  EXPECT_NE(field(reader, "key"), str(k, "key"));
  auto second_admin = admin.post("/v1/api-keys", R"({"role":"admin"})");
  ASSERT_EQ(second_admin.status, 201u);

  http_client service(srv.port(), str(k, "key"));
  EXPECT_EQ(service.post("/v1/accounts/acct/charges", R"({"operation":"x","amount":1})").status,
            201u);
  http_client admin2(srv.port(), field(second_admin, "key"));
  EXPECT_EQ(admin2.put("/v1/accounts/other", "{}").status, 201u);

  // Revoked: the next request on the same connection is unauthenticated.
  auto deleted = admin.del("/v1/api-keys/" + str(k, "id"));
  ASSERT_EQ(deleted.status, 200u) << deleted.body;
  EXPECT_EQ(str(deleted.json(), "id"), str(k, "id"));
  EXPECT_TRUE(deleted.json().at("deleted").as_bool());
  auto refused = service.post("/v1/accounts/acct/charges", R"({"operation":"x","amount":1})");
  EXPECT_EQ(refused.status, 401u) << refused.body;
  EXPECT_EQ(refused.error_code(), "unauthenticated");
  EXPECT_EQ(service.get("/v1/accounts/acct/balance").status, 401u);
  EXPECT_EQ(available(admin, "acct"), "9");
  auto again = admin.del("/v1/api-keys/" + str(k, "id"));
  EXPECT_EQ(again.status, 404u) << again.body;
  EXPECT_EQ(again.error_code(), "not_found");

  // Keys and revocations survive a restart.
  ASSERT_EQ(srv.terminate(), 0);
  srv.restart();
  http_client revoked(srv.port(), str(k, "key"));
  EXPECT_EQ(revoked.get("/v1/accounts/acct/balance").status, 401u);
  http_client reader_client(srv.port(), field(reader, "key"));
  EXPECT_EQ(reader_client.get("/v1/accounts/acct/balance").status, 200u);
  http_client admin_after(srv.port(), field(second_admin, "key"));
  EXPECT_EQ(admin_after.get("/v1/accounts/other").status, 200u);

  for (const char* body :
       {R"({})", R"({"role":"root"})", R"({"role":"reader"})",
        R"({"role":"reader","account":"bad!"})", R"({"role":"service","account":"acct"})",
        R"({"role":"admin","extra":1})", R"({"role":1})", "[1]"}) {
    auto r = admin_after.post("/v1/api-keys", body);
    EXPECT_EQ(r.status, 400u) << body << ": " << r.body;
    EXPECT_EQ(r.error_code(), "invalid_request") << body;
  }
}

// Every endpoint, every principal allowed on it: the success status (never
// 401/403), on a fresh object where the call consumes one. The refusals are
// above; together they cover every cell of the matrix.
TEST(http_roles, every_endpoint_serves_the_principals_it_must) {
  world w;
  // Catalog objects the commerce calls need.
  expect(w.admin.put("/v1/prices/p", R"({"operation":"x","unit_amount":1})"), 201, "price");
  expect(w.admin.put("/v1/packages/k", R"({"credits":1,"price":1,"currency":"usd"})"), 201,
         "package");
  expect(w.admin.put("/v1/plans/m", R"({"credits_per_period":1,"period":"month"})"), 201, "plan");
  auto fresh_lot = [&] { return grant(w.admin, "A", "5"); };
  auto fresh_charge = [&] { return str(charge(w.admin, "A", "1"), "id"); };
  auto fresh_hold = [&] {
    return field(expect(w.admin.post("/v1/accounts/A/holds", R"({"operation":"x","amount":1})"),
                        201, "hold"),
                 "id");
  };
  auto fresh_key_id = [&] {
    return field(expect(w.admin.post("/v1/api-keys", R"({"role":"service"})"), 201, "k"), "id");
  };
  auto no_subscription = [&] {
    const unsigned s = w.admin.del("/v1/accounts/A/subscription").status;
    if (s != 200 && s != 404) throw std::runtime_error("cancel: " + std::to_string(s));
  };
  auto subscribed = [&] {
    const unsigned s = w.admin.put("/v1/accounts/A/subscription", R"({"plan":"m"})").status;
    if (s != 200 && s != 201) throw std::runtime_error("subscribe: " + std::to_string(s));
  };
  struct route {
    verb method;
    std::function<std::string()> target;  // prepares a fresh object when needed
    std::string body;
    need_class need;
    unsigned status;  // the success status every allowed principal gets; 0: 200 or 201
  };
  auto fixed = [](std::string t) { return [t] { return t; }; };
  const std::vector<route> routes = {
      {verb::get, fixed("/healthz"), "", need_class::open, 200},
      {verb::get, fixed("/metrics"), "", need_class::open, 200},
      {verb::get, fixed("/openapi.json"), "", need_class::open, 200},
      {verb::put, fixed("/v1/accounts/A"), R"({"name":"renamed"})", need_class::service, 200},
      {verb::put, fixed("/v1/accounts/A"), R"({"settings":{"reserve":0}})", need_class::admin, 200},
      {verb::get, fixed("/v1/accounts/A"), "", need_class::reader_own, 200},
      {verb::get, fixed("/v1/accounts/A/balance"), "", need_class::reader_own, 200},
      {verb::post, fixed("/v1/accounts/A/lots"), R"({"amount":1,"kind":"promo"})",
       need_class::admin, 201},
      {verb::get, fixed("/v1/accounts/A/lots"), "", need_class::reader_own, 200},
      {verb::post, [&] { return "/v1/lots/" + fresh_lot() + "/void"; }, "", need_class::admin, 200},
      {verb::post, fixed("/v1/accounts/A/charges"), R"({"operation":"x","amount":1})",
       need_class::service, 201},
      {verb::post, fixed("/v1/accounts/A/charges:batch"),
       R"({"charges":[{"operation":"x","amount":1}]})", need_class::service, 201},
      {verb::post, [&] { return "/v1/charges/" + fresh_charge() + "/refund"; }, "",
       need_class::service, 201},
      {verb::post, fixed("/v1/accounts/A/adjustments"), R"({"amount":1,"reason":"x"})",
       need_class::admin, 201},
      {verb::post, fixed("/v1/accounts/A/holds"), R"({"operation":"x","amount":1})",
       need_class::service, 201},
      {verb::post, [&] { return "/v1/holds/" + fresh_hold() + "/capture"; }, "",
       need_class::service, 200},
      {verb::post, [&] { return "/v1/holds/" + fresh_hold() + "/release"; }, "",
       need_class::service, 200},
      {verb::get, fixed("/v1/holds/" + w.hold), "", need_class::any_key, 200},
      {verb::get, fixed("/v1/accounts/A/entries"), "", need_class::reader_own, 200},
      {verb::post, fixed("/v1/api-keys"), R"({"role":"admin"})", need_class::admin, 201},
      {verb::delete_, [&] { return "/v1/api-keys/" + fresh_key_id(); }, "", need_class::admin, 200},
      {verb::get, fixed("/v1/test-clock"), "", need_class::key, 200},
      {verb::post, fixed("/v1/test-clock/advance"), R"({"seconds":1})", need_class::admin, 200},
      {verb::put, fixed("/v1/prices/p"), R"({"operation":"x","unit_amount":1})", need_class::admin,
       200},
      {verb::get, fixed("/v1/prices"), "", need_class::key, 200},
      {verb::get, fixed("/v1/prices/p"), "", need_class::key, 200},
      {verb::delete_,
       [&] {
         const unsigned s =
             w.admin.put("/v1/prices/q", R"({"operation":"y","unit_amount":1})").status;
         if (s != 200 && s != 201) throw std::runtime_error("price q: " + std::to_string(s));
         return std::string("/v1/prices/q");
       },
       "", need_class::admin, 200},
      {verb::put, fixed("/v1/packages/k"), R"({"credits":1,"price":1,"currency":"usd"})",
       need_class::admin, 200},
      {verb::get, fixed("/v1/packages"), "", need_class::key, 200},
      {verb::get, fixed("/v1/packages/k"), "", need_class::key, 200},
      {verb::put, fixed("/v1/plans/m"), R"({"credits_per_period":1,"period":"month"})",
       need_class::admin, 200},
      {verb::get, fixed("/v1/plans"), "", need_class::key, 200},
      {verb::get, fixed("/v1/plans/m"), "", need_class::key, 200},
      {verb::post, fixed("/v1/accounts/A/quote"), R"({"operation":"x","amount":1})",
       need_class::reader_own, 200},
      {verb::post, fixed("/v1/accounts/A/purchases"), R"({"package":"k"})", need_class::service,
       201},
      {verb::get, fixed("/v1/accounts/A/purchases"), "", need_class::reader_own, 200},
      {verb::put,
       [&] {
         no_subscription();
         return std::string("/v1/accounts/A/subscription");
       },
       R"({"plan":"m"})", need_class::service, 0},  // 201 new, 200 when still active
      {verb::get,
       [&] {
         subscribed();
         return std::string("/v1/accounts/A/subscription");
       },
       "", need_class::reader_own, 200},
      {verb::delete_,
       [&] {
         subscribed();
         return std::string("/v1/accounts/A/subscription");
       },
       "", need_class::service, 200},
  };
  int cells = 0;
  for (const route& r : routes) {
    for (who p : everyone) {
      if (expected_refusal(r.need, p) != 0) continue;
      const std::string target = r.target();
      http_client c(w.srv.port(), w.key_of(p));
      auto reply = c.request(r.method, target, r.body);
      if (r.status == 0) {
        EXPECT_TRUE(reply.status == 200 || reply.status == 201)
            << name(p) << " " << target << ": " << reply.status << " " << reply.body;
      } else {
        EXPECT_EQ(reply.status, r.status) << name(p) << " " << target << ": " << reply.body;
      }
      ++cells;
    }
  }
  // 3 open routes x 5 principals, 7 key routes x 4, 7 reader_own x 3, 1
  // any_key x 3, 10 service x 2, 11 admin x 1: every allowed cell, none skipped.
  EXPECT_EQ(cells, 15 + 28 + 21 + 3 + 20 + 11);
  std::printf("allowed cells checked: %d\n", cells);
}

// The bootstrap key (CREDITD_ADMIN_KEY) works once configured; a restart
// with another one rotates it: the new one works, the old one is refused,
// keys created meanwhile keep working, and a restart without the variable
// keeps the last one.
TEST(http_api_keys, the_bootstrap_key_works_and_rotating_it_refuses_the_old_one) {
  temp_dir dir;
  const std::string db = dir.file("rotate.db");
  const std::string old_key = "bootstrap-old-5c1e", new_key = "bootstrap-new-9a7d";
  std::string service_key;
  {
    server_process s(db, old_key);
    http_client admin(s.port(), old_key);
    put_account(admin, "acct");
    service_key =
        field(expect(admin.post("/v1/api-keys", R"({"role":"service"})"), 201, "key"), "key");
    http_client stranger(s.port(), new_key);
    EXPECT_EQ(stranger.get("/v1/accounts/acct").status, 401u);
    ASSERT_EQ(s.terminate(), 0);
  }
  {
    server_process s(db, new_key);
    http_client rotated(s.port(), new_key);
    EXPECT_EQ(rotated.get("/v1/accounts/acct").status, 200u);
    EXPECT_EQ(rotated.put("/v1/accounts/acct2", "{}").status, 201u);
    http_client old(s.port(), old_key);
    auto refused = old.get("/v1/accounts/acct");
    EXPECT_EQ(refused.status, 401u) << refused.body;
    EXPECT_EQ(refused.error_code(), "unauthenticated");
    EXPECT_EQ(old.put("/v1/accounts/acct3", "{}").status, 401u);
    http_client service(s.port(), service_key);
    EXPECT_EQ(service.get("/v1/accounts/acct").status, 200u);
    ASSERT_EQ(s.terminate(), 0);
  }
  {
    server_process s(db, "");  // CREDITD_ADMIN_KEY empty: no rotation
    EXPECT_EQ(http_client(s.port(), new_key).get("/v1/accounts/acct2").status, 200u);
    EXPECT_EQ(http_client(s.port(), old_key).get("/v1/accounts/acct2").status, 401u);
    ASSERT_EQ(s.terminate(), 0);
  }
}
}  // namespace roles_test_cpp
