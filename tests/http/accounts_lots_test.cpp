// Accounts (create, update, settings merge, reads) and lots (grant, list
// with paging, void) over real HTTP.
#include "http_fixture.hpp"

using namespace creditd::testing;

TEST(http_accounts, put_creates_then_updates_and_keeps_settings_not_given) {
  live_server srv;
  http_client c(srv.port(), admin_key);

  auto created = c.put("/v1/accounts/acme", R"({"name":"Acme","settings":{"reserve":"5",
      "rate_limit_per_minute":100,"low_balance_thresholds":[10,"2.5"],"expiring_soon_days":7}})");
  ASSERT_EQ(created.status, 201u) << created.body;
  auto a = created.json();
  EXPECT_EQ(str(a, "id"), "acme");
  EXPECT_EQ(str(a, "object"), "account");
  EXPECT_EQ(str(a, "name"), "Acme");
  const auto& s = a.at("settings");
  EXPECT_EQ(str(s, "reserve"), "5");
  EXPECT_EQ(str(s, "postpaid_limit"), "0");
  EXPECT_EQ(s.at("rate_limit_per_minute").as_int64(), 100);
  EXPECT_EQ(s.at("max_open_holds").as_int64(), 0);
  EXPECT_EQ(s.at("expiring_soon_days").as_int64(), 7);
  EXPECT_EQ(bj::serialize(s.at("low_balance_thresholds")), R"(["2.5","10"])");
  EXPECT_TRUE(s.at("auto_topup").is_null());
  EXPECT_EQ(str(a.at("balance"), "available"), "0");
  const std::string created_at = str(a, "created_at");

  // Only postpaid_limit given: it is replaced, everything else is kept.
  auto updated = c.put("/v1/accounts/acme", R"({"settings":{"postpaid_limit":20}})");
  ASSERT_EQ(updated.status, 200u) << updated.body;
  auto u = updated.json();
  EXPECT_EQ(str(u, "name"), "Acme");
  EXPECT_EQ(str(u.at("settings"), "reserve"), "5");
  EXPECT_EQ(str(u.at("settings"), "postpaid_limit"), "20");
  EXPECT_EQ(u.at("settings").at("rate_limit_per_minute").as_int64(), 100);
  EXPECT_EQ(u.at("settings").at("expiring_soon_days").as_int64(), 7);
  EXPECT_EQ(bj::serialize(u.at("settings").at("low_balance_thresholds")), R"(["2.5","10"])");
  // No lots: 0 - reserve stays 0, plus the unused postpaid limit.
  EXPECT_EQ(str(u.at("balance"), "available"), "20");
  EXPECT_EQ(str(u, "created_at"), created_at);

  // A list setting given replaces the whole list; a name alone keeps every setting.
  ASSERT_EQ(c.put("/v1/accounts/acme", R"({"settings":{"low_balance_thresholds":[1]}})").status,
            200u);
  ASSERT_EQ(c.put("/v1/accounts/acme", R"({"name":"Acme 2"})").status, 200u);
  // An automatic top-up must name a package that exists; there is no catalog
  // yet, so none can be set (issue 9: settings that cannot work are refused).
  ASSERT_EQ(c.put("/v1/accounts/acme",
                  R"({"settings":{"auto_topup":{"below":3,"package":"p100","max_per_period":2}}})")
                .status,
            404u);

  auto got = c.get("/v1/accounts/acme");
  ASSERT_EQ(got.status, 200u) << got.body;
  auto g = got.json();
  EXPECT_EQ(str(g, "name"), "Acme 2");
  EXPECT_EQ(str(g, "created_at"), created_at);
  EXPECT_EQ(bj::serialize(g.at("settings")),
            R"({"low_balance_thresholds":["1"],"reserve":"5","postpaid_limit":"20",)"
            R"("rate_limit_per_minute":100,"max_open_holds":0,"expiring_soon_days":7,)"
            R"("auto_topup":null})");

  // auto_topup: null removes it and keeps the rest.
  auto cleared = c.put("/v1/accounts/acme", R"({"settings":{"auto_topup":null}})");
  ASSERT_EQ(cleared.status, 200u) << cleared.body;
  EXPECT_TRUE(cleared.json().at("settings").at("auto_topup").is_null());
  EXPECT_EQ(str(cleared.json().at("settings"), "reserve"), "5");
}

TEST(http_accounts, put_refuses_bad_ids_and_settings) {
  live_server srv;
  http_client c(srv.port(), admin_key);
  put_account(c, "ok.id:1-A_b");
  EXPECT_EQ(c.get("/v1/accounts/ok.id:1-A_b").status, 200u);
  EXPECT_EQ(c.put("/v1/accounts/" + std::string(128, 'x'), "{}").status, 201u);

  for (const std::string& id :
       std::vector<std::string>{"bad!id", "sp%20ace", std::string(129, 'x')}) {
    auto r = c.put("/v1/accounts/" + id, "{}");
    EXPECT_EQ(r.status, 400u) << id << ": " << r.body;
    EXPECT_EQ(r.error_code(), "invalid_request") << id;
  }
  const std::string before = state(c, "ok.id:1-A_b");
  for (const char* body : {
           R"({"settings":{"reserve":-1}})",
           R"({"settings":{"reserve":"1.0000001"}})",
           R"({"settings":{"rate_limit_per_minute":1.5}})",
           R"({"settings":{"rate_limit_per_minute":-1}})",
           R"({"settings":{"max_open_holds":"3"}})",
           R"({"settings":{"low_balance_thresholds":"5"}})",
           R"({"settings":{"unknown":1}})",
           R"({"settings":[]})",
           R"({"name":5})",
           R"({"nickname":"x"})",
       }) {
    auto r = c.put("/v1/accounts/ok.id:1-A_b", body);
    EXPECT_EQ(r.status, 400u) << body << ": " << r.body;
    EXPECT_EQ(r.error_code(), "invalid_request") << body;
  }
  EXPECT_EQ(state(c, "ok.id:1-A_b"), before);
}

TEST(http_accounts, get_account_and_balance) {
  live_server srv;
  http_client c(srv.port(), admin_key);
  put_account(c, "bob", R"({"name":"Bob"})");
  const std::string prepaid = grant(c, "bob", "10");
  const std::string promo = grant(c, "bob", "\"2.5\"", "promo");

  auto b = balance(c, "bob");
  EXPECT_EQ(str(b, "account"), "bob");
  EXPECT_EQ(str(b, "available"), "12.5");
  EXPECT_EQ(str(b, "held"), "0");
  EXPECT_EQ(str(b, "reserve"), "0");
  EXPECT_EQ(str(b, "postpaid_used"), "0");
  // Lots in consumption order: promo (priority 10) before prepaid (30).
  const auto& lots = b.at("lots").as_array();
  ASSERT_EQ(lots.size(), 2u);
  EXPECT_EQ(str(lots[0], "id"), promo);
  EXPECT_EQ(str(lots[0], "remaining"), "2.5");
  EXPECT_EQ(str(lots[1], "id"), prepaid);
  EXPECT_EQ(str(lots[1], "remaining"), "10");

  auto a = c.get("/v1/accounts/bob");
  ASSERT_EQ(a.status, 200u);
  EXPECT_EQ(str(a.json(), "name"), "Bob");
  EXPECT_EQ(str(a.json().at("balance"), "available"), "12.5");
  EXPECT_EQ(a.json().at("balance").at("lots").as_array().size(), 2u);

  for (const char* target :
       {"/v1/accounts/nobody", "/v1/accounts/nobody/balance", "/v1/accounts/nobody/lots",
        "/v1/accounts/nobody/entries", "/v1/accounts/bad!id", "/v1/accounts/bad!id/balance"}) {
    auto r = c.get(target);
    EXPECT_EQ(r.status, 404u) << target << ": " << r.body;
    EXPECT_EQ(r.error_code(), "not_found") << target;
  }
}

TEST(http_lots, grant_renders_every_field_and_defaults) {
  live_server srv;
  http_client c(srv.port(), admin_key);
  put_account(c, "carol");
  auto r = c.post("/v1/accounts/carol/lots",
                  R"({"amount":"12.5","kind":"plan","expires_at":"2099-01-01T00:00:00Z",
                      "priority":5,"scope":["image.*"],"reason":"welcome"})");
  ASSERT_EQ(r.status, 201u) << r.body;
  auto lot = r.json();
  EXPECT_TRUE(str(lot, "id").starts_with("lot_"));
  EXPECT_EQ(str(lot, "object"), "lot");
  EXPECT_EQ(str(lot, "account"), "carol");
  EXPECT_EQ(str(lot, "kind"), "plan");
  EXPECT_EQ(str(lot, "status"), "active");
  EXPECT_EQ(str(lot, "amount"), "12.5");
  EXPECT_EQ(str(lot, "remaining"), "12.5");
  EXPECT_EQ(str(lot, "expires_at"), "2099-01-01T00:00:00Z");
  EXPECT_EQ(lot.at("priority").as_int64(), 5);
  EXPECT_EQ(bj::serialize(lot.at("scope")), R"(["image.*"])");
  EXPECT_EQ(str(lot, "reason"), "welcome");
  EXPECT_EQ(str(lot, "effective_at"), str(lot, "created_at"));

  // Default priorities by kind, no expiry.
  struct {
    const char* kind;
    std::int64_t priority;
  } kinds[] = {{"promo", 10}, {"plan", 20}, {"prepaid", 30}};
  for (const auto& k : kinds) {
    auto x =
        c.post("/v1/accounts/carol/lots", std::string(R"({"amount":1,"kind":")") + k.kind + "\"}");
    ASSERT_EQ(x.status, 201u) << x.body;
    EXPECT_EQ(x.json().at("priority").as_int64(), k.priority) << k.kind;
    EXPECT_TRUE(x.json().at("expires_at").is_null()) << k.kind;
  }
  EXPECT_EQ(available(c, "carol"), "15.5");

  // The grant is a journal entry.
  auto grants = entries_of_type(c, "carol", "grant");
  ASSERT_EQ(grants.size(), 4u);
  EXPECT_EQ(grants[0].at("lot").as_string(), str(lot, "id"));
  EXPECT_EQ(grants[0].at("amount").as_string(), "12.5");
  EXPECT_EQ(grants[3].at("balance_after").as_string(), "15.5");

  // Refusals change nothing.
  const std::string before = state(c, "carol");
  for (const char* body : {
           R"({"kind":"prepaid"})",
           R"({"amount":1})",
           R"({"amount":1,"kind":"gift"})",
           R"({"amount":0,"kind":"prepaid"})",
           R"({"amount":-5,"kind":"prepaid"})",
           R"({"amount":1,"kind":"prepaid","expires_at":"2001-01-01T00:00:00Z"})",
           R"({"amount":1,"kind":"prepaid","expires_at":"tomorrow"})",
           R"({"amount":1,"kind":"prepaid","priority":-1})",
           R"({"amount":1,"kind":"prepaid","scope":"image.generate"})",
           R"({"amount":1,"kind":"prepaid","colour":"red"})",
       }) {
    auto x = c.post("/v1/accounts/carol/lots", body);
    EXPECT_EQ(x.status, 400u) << body << ": " << x.body;
    EXPECT_EQ(x.error_code(), "invalid_request") << body;
  }
  EXPECT_EQ(state(c, "carol"), before);

  auto missing = c.post("/v1/accounts/nobody/lots", R"({"amount":1,"kind":"prepaid"})");
  EXPECT_EQ(missing.status, 404u) << missing.body;
  EXPECT_EQ(missing.error_code(), "not_found");
}

TEST(http_lots, list_pages_with_limit_and_after) {
  live_server srv;
  http_client c(srv.port(), admin_key);
  put_account(c, "dave");
  put_account(c, "other");
  grant(c, "other", "100");
  std::vector<std::string> ids;
  for (int i = 1; i <= 5; ++i)
    ids.push_back(grant(c, "dave", std::to_string(i)));

  auto all = c.get("/v1/accounts/dave/lots");
  ASSERT_EQ(all.status, 200u);
  ASSERT_EQ(all.json().at("data").as_array().size(), 5u);
  EXPECT_TRUE(all.json().at("next").is_null());

  std::vector<std::string> seen;
  std::vector<std::size_t> sizes;
  std::string target = "/v1/accounts/dave/lots?limit=2";
  for (int page = 0; page < 10; ++page) {
    auto r = c.get(target);
    ASSERT_EQ(r.status, 200u) << r.body;
    auto v = r.json();
    sizes.push_back(v.at("data").as_array().size());
    for (const auto& lot : v.at("data").as_array()) {
      seen.push_back(str(lot, "id"));
      EXPECT_EQ(str(lot, "account"), "dave");
    }
    if (v.at("next").is_null()) break;
    EXPECT_EQ(str(v.at("next")), seen.back());
    target = "/v1/accounts/dave/lots?limit=2&after=" + str(v.at("next"));
  }
  EXPECT_EQ(seen, ids);
  EXPECT_EQ(sizes, (std::vector<std::size_t>{2, 2, 1}));

  for (const char* q : {"limit=0", "limit=1001", "limit=abc", "limit=-1", "after=nonsense"}) {
    auto r = c.get(std::string("/v1/accounts/dave/lots?") + q);
    EXPECT_EQ(r.status, 400u) << q << ": " << r.body;
    EXPECT_EQ(r.error_code(), "invalid_request") << q;
  }
  EXPECT_EQ(c.get("/v1/accounts/dave/lots?limit=1000").status, 200u);
}

TEST(http_lots, void_takes_the_remaining_and_only_once) {
  live_server srv;
  http_client c(srv.port(), admin_key);
  put_account(c, "erin");
  const std::string first = grant(c, "erin", "10");
  const std::string second = grant(c, "erin", "4");
  // Same priority, no expiry: the oldest lot pays first.
  auto ch = charge(c, "erin", "3");
  EXPECT_EQ(bj::serialize(ch.at("lots")), R"([{"lot":")" + first + R"(","amount":"3"}])");

  auto voided = c.post("/v1/lots/" + first + "/void", R"({"reason":"fraud"})");
  ASSERT_EQ(voided.status, 200u) << voided.body;
  auto v = voided.json();
  EXPECT_EQ(str(v, "id"), first);
  EXPECT_EQ(str(v, "status"), "voided");
  EXPECT_EQ(str(v, "remaining"), "0");
  EXPECT_EQ(str(v, "voided"), "7");
  EXPECT_EQ(str(v, "spent"), "3");
  EXPECT_EQ(available(c, "erin"), "4");
  auto voids = entries_of_type(c, "erin", "void");
  ASSERT_EQ(voids.size(), 1u);
  EXPECT_EQ(voids[0].at("amount").as_string(), "7");
  EXPECT_EQ(voids[0].at("lot").as_string(), first);
  EXPECT_EQ(voids[0].at("reason").as_string(), "fraud");
  EXPECT_EQ(voids[0].at("balance_after").as_string(), "4");

  const std::string before = state(c, "erin");
  auto again = c.post("/v1/lots/" + first + "/void");
  EXPECT_EQ(again.status, 409u) << again.body;
  EXPECT_EQ(again.error_code(), "conflict");
  for (const char* id : {"lot_999999", "lot_0", "lot_01", "lot_abc", "nonsense", "ch_1"}) {
    auto r = c.post(std::string("/v1/lots/") + id + "/void");
    EXPECT_EQ(r.status, 404u) << id << ": " << r.body;
    EXPECT_EQ(r.error_code(), "not_found") << id;
  }
  auto bad = c.post("/v1/lots/" + second + "/void", R"({"why":"x"})");
  EXPECT_EQ(bad.status, 400u) << bad.body;
  EXPECT_EQ(state(c, "erin"), before);
}
