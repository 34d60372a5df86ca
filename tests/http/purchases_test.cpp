// Purchases over real HTTP, on the demo catalog (examples/catalog.toml):
// packs of 100/300/600 credits spendable in the same response, expiring
// validity_days later, with the price as cost basis; Idempotency-Key replays
// that never grant twice; the service role's rights; spending down to 402
// with reads still working and a purchase restoring spending at once; the
// purchase list; automatic top-up (once per crossing, at most max_per_period
// per billing period, never a loop).
#include "support/commerce_http.hpp"

namespace purchases_test_cpp {  // unity builds: tests/CMakeLists.txt

using namespace creditd::testing;

namespace {

std::vector<std::string> shop_flags() {
  return {"--test-clock", "--catalog", demo_catalog_path()};
}

http_reply buy(http_client& c, const std::string& account, const std::string& package,
               const std::map<std::string, std::string>& headers = {}) {
  return c.post("/v1/accounts/" + account + "/purchases", R"({"package":")" + package + "\"}",
                headers);
}

bj::value bought(http_client& c, const std::string& account, const std::string& package) {
  return expect(buy(c, account, package), 201, "purchase " + package).json();
}

// The account's lots whose source is `source`.
std::vector<bj::object> lots_from(http_client& c, const std::string& account,
                                  const std::string& source) {
  std::vector<bj::object> out;
  for (auto& l : lots_of(c, account)) {
    if (sfield(l, "source") == source) out.push_back(l);
  }
  return out;
}

// The first instant of the UTC month after `t`'s.
std::int64_t next_month_start(std::int64_t t) {
  const std::string s = format_time(t);
  int y = std::stoi(s.substr(0, 4));
  unsigned m = static_cast<unsigned>(std::stoi(s.substr(5, 2)));
  if (++m == 13) {
    m = 1;
    ++y;
  }
  return utc(y, m, 1);
}

}  // namespace

TEST(http_purchases, packs_are_spendable_in_the_same_response_with_expiry_and_cost_basis) {
  live_server srv(shop_flags());
  http_client c(srv.port(), admin_key);
  put_account(c, "u");
  const std::int64_t t0 = clock_now(c);

  struct pack {
    const char* id;
    const char* credits;
    const char* price;
    const char* balance_after;
  } packs[] = {{"pack-100", "100", "9", "100"},
               {"pack-300", "300", "25", "400"},
               {"pack-600", "600", "45", "1000"}};
  std::vector<std::string> lot_ids;
  for (const pack& p : packs) {
    auto r = bought(c, "u", p.id);
    EXPECT_TRUE(str(r, "id").starts_with("pur_")) << r;
    EXPECT_EQ(str(r, "object"), "purchase");
    EXPECT_EQ(str(r, "account"), "u");
    EXPECT_EQ(str(r, "package"), p.id);
    EXPECT_EQ(str(r, "credits"), p.credits);
    EXPECT_EQ(str(r, "price"), p.price);
    EXPECT_EQ(str(r, "currency"), "usd");
    EXPECT_EQ(str(r, "source"), "api");
    EXPECT_TRUE(r.at("external_id").is_null());
    EXPECT_EQ(str(r, "balance_after"), p.balance_after) << r;
    EXPECT_EQ(parse_time(str(r, "created_at")), t0);
    const auto& lot = r.at("granted_lot").as_object();
    EXPECT_EQ(sfield(lot, "id"), str(r, "lot"));
    EXPECT_EQ(sfield(lot, "kind"), "prepaid");
    EXPECT_EQ(sfield(lot, "status"), "active");
    EXPECT_EQ(sfield(lot, "amount"), p.credits);
    EXPECT_EQ(sfield(lot, "remaining"), p.credits);
    EXPECT_EQ(sfield(lot, "cost_basis"), p.price);
    EXPECT_EQ(sfield(lot, "currency"), "usd");
    EXPECT_EQ(sfield(lot, "source"), "purchase");
    EXPECT_NE(sfield(lot, "reason").find(p.id), std::string::npos) << lot;
    EXPECT_EQ(parse_time(sfield(lot, "effective_at")), t0);
    // validity_days = 365: the lot expires 365 days after the purchase.
    EXPECT_EQ(parse_time(sfield(lot, "expires_at")), t0 + 365 * 86400 * us_per_second);
    lot_ids.push_back(str(r, "lot"));
  }
  // Spendable at once.
  EXPECT_EQ(str(charge(c, "u", "999"), "balance_after"), "1");
  EXPECT_EQ(available(c, "u"), "1");

  // The lots as the lot list shows them.
  auto lots = lots_of(c, "u");
  ASSERT_EQ(lots.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(sfield(lots[i], "id"), lot_ids[i]);
    EXPECT_EQ(sfield(lots[i], "cost_basis"), packs[i].price);
    EXPECT_EQ(sfield(lots[i], "currency"), "usd");
  }
  // Every purchase is a grant entry of its lot.
  auto grants = entries_of_type(c, "u", "grant");
  ASSERT_EQ(grants.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(sfield(grants[i], "lot"), lot_ids[i]);
    EXPECT_EQ(sfield(grants[i], "amount"), packs[i].credits);
  }

  // What is left expires 365 days later, not a second before.
  advance_to_just_before(c, t0 + 365 * 86400 * us_per_second);
  EXPECT_EQ(available(c, "u"), "1");
  advance(c, 1);
  EXPECT_EQ(available(c, "u"), "0");
  auto expired = entries_of_type(c, "u", "expire");
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(sfield(expired[0], "amount"), "1");
  EXPECT_EQ(parse_time(sfield(expired[0], "created_at")), t0 + 365 * 86400 * us_per_second);
}

TEST(http_purchases, a_package_without_validity_never_expires_and_a_reason_is_kept) {
  live_server srv(shop_flags());
  http_client c(srv.port(), admin_key);
  auto pkg =
      put_ok(c, "/v1/packages/forever-5", R"({"credits":5,"price":"1.50","currency":"eur"})");
  EXPECT_TRUE(pkg.at("validity_days").is_null()) << pkg;
  put_account(c, "u");
  auto r =
      expect(c.post("/v1/accounts/u/purchases", R"({"package":"forever-5","reason":"order 4711"})"),
             201, "purchase")
          .json();
  const auto& lot = r.at("granted_lot").as_object();
  EXPECT_TRUE(lot.at("expires_at").is_null()) << lot;
  EXPECT_EQ(sfield(lot, "cost_basis"), "1.5");
  EXPECT_EQ(sfield(lot, "currency"), "eur");
  EXPECT_NE(sfield(lot, "reason").find("order 4711"), std::string::npos) << lot;
  advance(c, 20 * 365 * 86400);
  EXPECT_EQ(available(c, "u"), "5");
}

TEST(http_purchases, an_idempotency_key_replay_does_not_grant_twice) {
  live_server srv(shop_flags());
  http_client c(srv.port(), admin_key);
  put_account(c, "u");
  const std::map<std::string, std::string> key{{"Idempotency-Key", "order-1"}};
  auto first = buy(c, "u", "pack-300", key);
  ASSERT_EQ(first.status, 201u) << first.body;
  auto again = buy(c, "u", "pack-300", key);
  ASSERT_EQ(again.status, 201u) << again.body;
  EXPECT_EQ(again.body, first.body);
  EXPECT_EQ(available(c, "u"), "300");
  EXPECT_EQ(lots_of(c, "u").size(), 1u);

  // The same key for another package is a conflict and grants nothing.
  auto other = buy(c, "u", "pack-600", key);
  EXPECT_EQ(other.status, 409u) << other.body;
  EXPECT_EQ(other.error_code(), "idempotency_conflict");
  EXPECT_EQ(available(c, "u"), "300");

  // Another key is another purchase.
  auto second = buy(c, "u", "pack-300", {{"Idempotency-Key", "order-2"}});
  ASSERT_EQ(second.status, 201u) << second.body;
  EXPECT_NE(field(second, "id"), field(first, "id"));
  EXPECT_EQ(available(c, "u"), "600");
  EXPECT_EQ(entries_of_type(c, "u", "grant").size(), 2u);
}

TEST(http_purchases, an_unknown_package_or_account_is_404_and_changes_nothing) {
  live_server srv(shop_flags());
  http_client c(srv.port(), admin_key);
  put_account(c, "u");
  const std::string before = state(c, "u");
  auto r = buy(c, "u", "pack-999");
  EXPECT_EQ(r.status, 404u) << r.body;
  EXPECT_EQ(r.error_code(), "not_found");
  EXPECT_NE(error_field(r, "message").find("pack-999"), std::string::npos) << r.body;
  EXPECT_EQ(state(c, "u"), before);

  r = buy(c, "nobody", "pack-100");
  EXPECT_EQ(r.status, 404u) << r.body;
  EXPECT_EQ(r.error_code(), "not_found");
  EXPECT_NE(error_field(r, "message").find("nobody"), std::string::npos) << r.body;
  EXPECT_EQ(c.get("/v1/accounts/nobody").status, 404u);

  // Bad bodies are 400.
  for (const char* body : {"{}", R"({"package":""})", R"({"package":5})",
                           R"({"package":"pack-100","credits":1000})"}) {
    auto bad = c.post("/v1/accounts/u/purchases", body);
    EXPECT_EQ(bad.status, 400u) << body << ": " << bad.body;
  }
  EXPECT_EQ(state(c, "u"), before);
}

TEST(http_purchases, the_service_role_creates_accounts_and_records_purchases_not_settings) {
  live_server srv(shop_flags());
  http_client admin(srv.port(), admin_key);
  http_client svc(srv.port(), make_key(admin, "service"));

  auto created = svc.put("/v1/accounts/new-user", R"({"name":"New User"})");
  EXPECT_EQ(created.status, 201u) << created.body;
  auto renamed = svc.put("/v1/accounts/new-user", R"({"name":"Renamed"})");
  EXPECT_EQ(renamed.status, 200u) << renamed.body;
  auto settings = svc.put("/v1/accounts/new-user", R"({"settings":{"reserve":5}})");
  EXPECT_EQ(settings.status, 403u) << settings.body;
  EXPECT_EQ(settings.error_code(), "forbidden");
  auto topup = svc.put("/v1/accounts/new-user",
                       R"({"settings":{"auto_topup":{"below":10,"package":"pack-100"}}})");
  EXPECT_EQ(topup.status, 403u) << topup.body;
  // A service key may not create an account with settings either.
  EXPECT_EQ(svc.put("/v1/accounts/other", R"({"settings":{"reserve":1}})").status, 403u);
  EXPECT_EQ(admin.get("/v1/accounts/other").status, 404u);
  auto acct = expect(admin.get("/v1/accounts/new-user"), 200, "account").json();
  EXPECT_EQ(str(acct.at("settings"), "reserve"), "0");
  EXPECT_TRUE(acct.at("settings").at("auto_topup").is_null());

  auto p = svc.post("/v1/accounts/new-user/purchases", R"({"package":"pack-100"})");
  ASSERT_EQ(p.status, 201u) << p.body;
  EXPECT_EQ(field(p, "balance_after"), "100");
  // A service key may also quote, charge and read.
  EXPECT_EQ(svc.post("/v1/accounts/new-user/charges", R"({"operation":"image.generate"})").status,
            201u);
  EXPECT_EQ(available(svc, "new-user"), "99");

  // A reader may read its purchases but not record one.
  http_client reader(srv.port(), make_key(admin, "reader", "new-user"));
  auto refused = reader.post("/v1/accounts/new-user/purchases", R"({"package":"pack-100"})");
  EXPECT_EQ(refused.status, 403u) << refused.body;
  EXPECT_EQ(reader.get("/v1/accounts/new-user/purchases").status, 200u);
  EXPECT_EQ(available(admin, "new-user"), "99");
  // Packages: anyone with a key reads them, only an admin writes them.
  EXPECT_EQ(reader.get("/v1/packages/pack-100").status, 200u);
  EXPECT_EQ(svc.put("/v1/packages/cheap", R"({"credits":1000,"price":0,"currency":"usd"})").status,
            403u);
  EXPECT_EQ(admin.get("/v1/packages/cheap").status, 404u);
}

TEST(http_purchases, spending_to_zero_gives_402_reads_keep_working_and_a_purchase_restores) {
  live_server srv(shop_flags());
  http_client admin(srv.port(), admin_key);
  http_client svc(srv.port(), make_key(admin, "service"));
  put_account(svc, "gen");
  http_client reader(srv.port(), make_key(admin, "reader", "gen"));
  expect(svc.post("/v1/accounts/gen/purchases", R"({"package":"pack-100"})"), 201, "buy");

  // 1 credit per image at the default model: exactly 100 generations.
  int made = 0;
  http_reply last;
  for (int i = 0; i < 200; ++i) {
    last = svc.post("/v1/accounts/gen/charges",
                    R"({"operation":"image.generate","dimensions":{"model":"flux-schnell"},)"
                    R"("reference":"img-)" +
                        std::to_string(i) + "\"}");
    if (last.status != 201) break;
    ++made;
  }
  EXPECT_EQ(made, 100);
  ASSERT_EQ(last.status, 402u) << last.body;
  EXPECT_EQ(last.error_code(), "insufficient_credits");
  EXPECT_EQ(error_field(last, "available"), "0");
  EXPECT_EQ(error_field(last, "required"), "1");
  EXPECT_EQ(error_field(last, "reason"), "balance");

  // Every read keeps working, for the service and for the user.
  for (http_client* cl : {&svc, &reader}) {
    EXPECT_EQ(available(*cl, "gen"), "0");
    EXPECT_EQ(cl->get("/v1/accounts/gen").status, 200u);
    EXPECT_EQ(cl->get("/v1/accounts/gen/lots").status, 200u);
    EXPECT_EQ(entries_of_type(*cl, "gen", "charge").size(), 100u);
    EXPECT_EQ(cl->get("/v1/accounts/gen/purchases").status, 200u);
    auto q = cl->post("/v1/accounts/gen/quote", R"({"operation":"image.generate"})");
    EXPECT_EQ(q.status, 200u) << q.body;
    EXPECT_EQ(q.json().at("affordable").as_bool(), false);
  }
  const std::string before = state(svc, "gen");
  EXPECT_EQ(svc.post("/v1/accounts/gen/charges", R"({"operation":"image.generate"})").status, 402u);
  EXPECT_EQ(svc.post("/v1/accounts/gen/holds", R"({"operation":"image.generate"})").status, 402u);
  EXPECT_EQ(state(svc, "gen"), before);

  // A purchase restores spending at once.
  auto p = expect(svc.post("/v1/accounts/gen/purchases", R"({"package":"pack-300"})"), 201, "buy");
  EXPECT_EQ(field(p, "balance_after"), "300");
  auto ch = svc.post("/v1/accounts/gen/charges",
                     R"({"operation":"image.generate","dimensions":{"model":"flux-pro"}})");
  ASSERT_EQ(ch.status, 201u) << ch.body;
  EXPECT_EQ(field(ch, "balance_after"), "297");
}

TEST(http_purchases, the_purchase_list_is_newest_first_with_paging) {
  live_server srv(shop_flags());
  http_client c(srv.port(), admin_key);
  put_account(c, "u");
  put_account(c, "v");
  std::vector<std::string> ids;
  for (const char* p : {"pack-100", "pack-300", "pack-600"}) {
    ids.push_back(str(bought(c, "u", p), "id"));
    advance(c, 60);
  }
  bought(c, "v", "pack-100");

  auto all = expect(c.get("/v1/accounts/u/purchases"), 200, "list").json();
  const auto& data = all.at("data").as_array();
  ASSERT_EQ(data.size(), 3u) << all;
  EXPECT_EQ(str(data[0], "id"), ids[2]);
  EXPECT_EQ(str(data[0], "package"), "pack-600");
  EXPECT_EQ(str(data[0], "credits"), "600");
  EXPECT_EQ(str(data[0], "price"), "45");
  EXPECT_EQ(str(data[0], "currency"), "usd");
  EXPECT_EQ(str(data[0], "source"), "api");
  EXPECT_EQ(str(data[1], "id"), ids[1]);
  EXPECT_EQ(str(data[2], "id"), ids[0]);
  EXPECT_GT(parse_time(str(data[0], "created_at")), parse_time(str(data[1], "created_at")));
  EXPECT_TRUE(all.at("next").is_null());
  // Each names its lot, which is the account's.
  auto lots = lots_of(c, "u");
  ASSERT_EQ(lots.size(), 3u);
  EXPECT_EQ(str(data[2], "lot"), sfield(lots[0], "id"));

  auto page1 = expect(c.get("/v1/accounts/u/purchases?limit=2"), 200, "page").json();
  ASSERT_EQ(page1.at("data").as_array().size(), 2u) << page1;
  ASSERT_FALSE(page1.at("next").is_null()) << page1;
  auto page2 =
      expect(c.get("/v1/accounts/u/purchases?limit=2&after=" + str(page1.at("next"))), 200, "page")
          .json();
  ASSERT_EQ(page2.at("data").as_array().size(), 1u) << page2;
  EXPECT_EQ(str(page2.at("data").as_array()[0], "id"), ids[0]);
  EXPECT_TRUE(page2.at("next").is_null());

  EXPECT_EQ(expect(c.get("/v1/accounts/v/purchases"), 200, "v").json().at("data").as_array().size(),
            1u);
  EXPECT_EQ(c.get("/v1/accounts/nobody/purchases").status, 404u);
}

TEST(http_purchases, auto_topup_settings_must_name_an_existing_package) {
  live_server srv(shop_flags());
  http_client c(srv.port(), admin_key);
  put_account(c, "u");
  const std::string before = state(c, "u");
  auto r =
      c.put("/v1/accounts/u", R"({"settings":{"auto_topup":{"below":10,"package":"pack-nope"}}})");
  EXPECT_EQ(r.status, 404u) << r.body;
  EXPECT_EQ(r.error_code(), "not_found");
  EXPECT_NE(r.body.find("pack-nope"), std::string::npos) << r.body;
  EXPECT_EQ(state(c, "u"), before);
  EXPECT_TRUE(
      expect(c.get("/v1/accounts/u"), 200, "get").json().at("settings").at("auto_topup").is_null());
  // A new account with such settings is not created.
  r = c.put("/v1/accounts/w", R"({"settings":{"auto_topup":{"below":10,"package":"pack-nope"}}})");
  EXPECT_EQ(r.status, 404u) << r.body;
  EXPECT_EQ(c.get("/v1/accounts/w").status, 404u);

  auto ok =
      c.put("/v1/accounts/u", R"({"settings":{"auto_topup":{"below":10,"package":"pack-100"}}})");
  ASSERT_EQ(ok.status, 200u) << ok.body;
  const auto ok_json = ok.json();
  const auto& t = ok_json.at("settings").at("auto_topup");
  EXPECT_EQ(str(t, "below"), "10");
  EXPECT_EQ(str(t, "package"), "pack-100");
  EXPECT_EQ(t.at("max_per_period").as_int64(), 1);  // the default
  // Setting it while below is not a crossing: nothing is bought.
  EXPECT_EQ(available(c, "u"), "0");
  EXPECT_EQ(lots_of(c, "u").size(), 0u);
}

TEST(http_purchases, auto_topup_buys_once_per_crossing_at_most_max_per_period) {
  live_server srv(shop_flags());
  http_client c(srv.port(), admin_key);
  put_account(c, "t");
  bought(c, "t", "pack-100");
  put_account(
      c, "t",
      R"({"settings":{"auto_topup":{"below":50,"package":"pack-100","max_per_period":2}}})");
  EXPECT_EQ(lots_from(c, "t", "auto_topup").size(), 0u);

  // 100 -> 40: below 50, one purchase of pack-100.
  charge(c, "t", "60");
  EXPECT_EQ(available(c, "t"), "140");
  auto auto_lots = lots_from(c, "t", "auto_topup");
  ASSERT_EQ(auto_lots.size(), 1u);
  EXPECT_EQ(sfield(auto_lots[0], "amount"), "100");
  EXPECT_EQ(sfield(auto_lots[0], "kind"), "prepaid");
  EXPECT_EQ(sfield(auto_lots[0], "cost_basis"), "9");
  // The journal says why.
  auto grants = entries_of_type(c, "t", "grant");
  ASSERT_EQ(grants.size(), 2u);
  const std::string why = sfield(grants[1], "reason");
  EXPECT_EQ(sfield(grants[1], "lot"), sfield(auto_lots[0], "id"));
  EXPECT_NE(why.find("auto top-up"), std::string::npos) << why;
  EXPECT_NE(why.find("40"), std::string::npos) << why;
  EXPECT_NE(why.find("below 50"), std::string::npos) << why;
  EXPECT_NE(why.find("1 of 2"), std::string::npos) << why;
  EXPECT_NE(why.find("pack-100"), std::string::npos) << why;

  // 140 -> 40: the second of the period.
  charge(c, "t", "100");
  EXPECT_EQ(available(c, "t"), "140");
  EXPECT_EQ(lots_from(c, "t", "auto_topup").size(), 2u);
  EXPECT_NE(sfield(entries_of_type(c, "t", "grant").back(), "reason").find("2 of 2"),
            std::string::npos);

  // 140 -> 40: the period's limit is reached, nothing is bought.
  charge(c, "t", "100");
  EXPECT_EQ(available(c, "t"), "40");
  charge(c, "t", "10");
  EXPECT_EQ(available(c, "t"), "30");
  EXPECT_EQ(lots_from(c, "t", "auto_topup").size(), 2u);

  // The next billing period (the calendar month, without a subscription):
  // the count starts again.
  advance_to(c, next_month_start(clock_now(c)) + 3600 * us_per_second);
  bought(c, "t", "pack-100");  // 130: above `below` again
  EXPECT_EQ(available(c, "t"), "130");
  charge(c, "t", "100");  // 30
  EXPECT_EQ(available(c, "t"), "130");
  auto_lots = lots_from(c, "t", "auto_topup");
  ASSERT_EQ(auto_lots.size(), 3u);
  EXPECT_NE(sfield(entries_of_type(c, "t", "grant").back(), "reason").find("1 of 2"),
            std::string::npos);

  // Removing the setting stops it.
  put_account(c, "t", R"({"settings":{"auto_topup":null}})");
  charge(c, "t", "100");
  EXPECT_EQ(available(c, "t"), "30");
  EXPECT_EQ(lots_from(c, "t", "auto_topup").size(), 3u);
}

TEST(http_purchases, auto_topup_that_stays_below_buys_once_and_does_not_loop) {
  live_server srv(shop_flags());
  http_client c(srv.port(), admin_key);
  put_account(c, "t");
  bought(c, "t", "pack-600");
  bought(c, "t", "pack-300");
  bought(c, "t", "pack-100");
  put_account(
      c, "t",
      R"({"settings":{"auto_topup":{"below":1000,"package":"pack-100","max_per_period":5}}})");
  charge(c, "t", "500");  // 500: one pack-100 leaves it at 600, still below
  EXPECT_EQ(available(c, "t"), "600");
  EXPECT_EQ(lots_from(c, "t", "auto_topup").size(), 1u);
  // Still below: no new crossing, nothing more.
  charge(c, "t", "1");
  charge(c, "t", "1");
  EXPECT_EQ(available(c, "t"), "598");
  EXPECT_EQ(lots_from(c, "t", "auto_topup").size(), 1u);
  // Back above `below` (an admin grant), then below again: a new crossing.
  grant(c, "t", "500");
  charge(c, "t", "200");  // 898
  EXPECT_EQ(available(c, "t"), "998");
  EXPECT_EQ(lots_from(c, "t", "auto_topup").size(), 2u);
}

TEST(http_purchases, a_package_changed_later_does_not_change_what_was_bought) {
  live_server srv(shop_flags());
  http_client c(srv.port(), admin_key);
  put_account(c, "u");
  auto first = bought(c, "u", "pack-100");
  put_ok(c, "/v1/packages/pack-100",
         R"({"credits":120,"price":"10","currency":"usd","validity_days":30})");
  auto second = bought(c, "u", "pack-100");
  EXPECT_EQ(str(second, "credits"), "120");
  EXPECT_EQ(str(second.at("granted_lot"), "cost_basis"), "10");
  auto lots = lots_of(c, "u");
  ASSERT_EQ(lots.size(), 2u);
  EXPECT_EQ(sfield(lots[0], "amount"), "100");
  EXPECT_EQ(sfield(lots[0], "cost_basis"), "9");
  EXPECT_EQ(parse_time(sfield(lots[0], "expires_at")),
            parse_time(str(first, "created_at")) + 365 * 86400 * us_per_second);
  EXPECT_EQ(parse_time(sfield(lots[1], "expires_at")),
            parse_time(str(second, "created_at")) + 30 * 86400 * us_per_second);
  EXPECT_EQ(available(c, "u"), "220");
}

TEST(http_purchases, a_replayed_charge_does_not_top_up_again) {
  live_server srv(shop_flags());
  http_client c(srv.port(), admin_key);
  put_account(c, "t");
  bought(c, "t", "pack-100");
  put_account(
      c, "t",
      R"({"settings":{"auto_topup":{"below":50,"package":"pack-100","max_per_period":5}}})");
  const std::map<std::string, std::string> key{{"Idempotency-Key", "gen-77"}};
  const std::string body = R"({"operation":"image.generate","amount":60})";
  auto first = c.post("/v1/accounts/t/charges", body, key);
  ASSERT_EQ(first.status, 201u) << first.body;
  EXPECT_EQ(available(c, "t"), "140");
  const std::string after_first = state(c, "t");
  auto replay = c.post("/v1/accounts/t/charges", body, key);
  ASSERT_EQ(replay.status, 201u) << replay.body;
  EXPECT_EQ(replay.body, first.body);
  EXPECT_EQ(state(c, "t"), after_first);
  EXPECT_EQ(lots_from(c, "t", "auto_topup").size(), 1u);
}

TEST(http_purchases, auto_topup_follows_holds_and_lot_expiry) {
  live_server srv(shop_flags());
  http_client c(srv.port(), admin_key);
  put_account(c, "t");
  const std::int64_t t0 = clock_now(c);
  grant(c, "t", "100", "promo",
        "\"expires_at\":\"" + format_time(t0 + 86400 * us_per_second) + "\"");
  grant(c, "t", "20");
  put_account(
      c, "t",
      R"({"settings":{"auto_topup":{"below":50,"package":"pack-100","max_per_period":5}}})");
  // The promo lot expires: 120 -> 20, below 50, at the expiry instant.
  advance(c, 86400);
  EXPECT_EQ(available(c, "t"), "120");
  auto auto_lots = lots_from(c, "t", "auto_topup");
  ASSERT_EQ(auto_lots.size(), 1u);
  EXPECT_EQ(parse_time(sfield(auto_lots[0], "created_at")), t0 + 86400 * us_per_second);
  // A hold that takes the available below `below`.
  auto h = c.post("/v1/accounts/t/holds", R"({"operation":"image.generate","amount":80})");
  ASSERT_EQ(h.status, 201u) << h.body;
  EXPECT_EQ(available(c, "t"), "140");
  EXPECT_EQ(lots_from(c, "t", "auto_topup").size(), 2u);
}

TEST(http_purchases, with_a_subscription_the_topup_period_is_the_subscription_period) {
  live_server srv(shop_flags());
  http_client c(srv.port(), admin_key);
  put_ok(c, "/v1/plans/tiny", R"({"credits_per_period":1,"period":"month"})");
  put_account(c, "t");
  advance_to(c, utc(2027, 1, 15));
  put_ok(c, "/v1/accounts/t/subscription", R"({"plan":"tiny","start_at":"2027-01-15T00:00:00Z"})");
  bought(c, "t", "pack-100");  // 101
  put_account(
      c, "t",
      R"({"settings":{"auto_topup":{"below":50,"package":"pack-100","max_per_period":1}}})");
  advance_to(c, utc(2027, 1, 20));
  charge(c, "t", "60");  // 41: the one top-up of the period
  EXPECT_EQ(lots_from(c, "t", "auto_topup").size(), 1u);
  charge(c, "t", "100");  // 41 again: none left this period
  EXPECT_EQ(lots_from(c, "t", "auto_topup").size(), 1u);

  // A new calendar month is not a new billing period of a subscriber.
  advance_to(c, utc(2027, 2, 2));
  grant(c, "t", "100");   // above again
  charge(c, "t", "100");  // below again
  EXPECT_EQ(lots_from(c, "t", "auto_topup").size(), 1u);

  // The subscription's next period is.
  advance_to(c, utc(2027, 2, 15, 1));
  grant(c, "t", "100");
  charge(c, "t", "100");
  EXPECT_EQ(lots_from(c, "t", "auto_topup").size(), 2u);
}

TEST(http_purchases, purchases_and_the_topup_count_survive_a_restart) {
  live_server srv(shop_flags());
  std::string list_before;
  {
    http_client c(srv.port(), admin_key);
    put_account(c, "t");
    bought(c, "t", "pack-100");
    bought(c, "t", "pack-300");
    put_account(
        c, "t",
        R"({"settings":{"auto_topup":{"below":50,"package":"pack-100","max_per_period":1}}})");
    charge(c, "t", "380");  // 20: the period's one top-up
    EXPECT_EQ(available(c, "t"), "120");
    list_before = expect(c.get("/v1/accounts/t/purchases"), 200, "list").body;
    EXPECT_EQ(bj::parse(list_before).at("data").as_array().size(), 3u);
  }
  EXPECT_EQ(srv.terminate(), 0);
  srv.restart();
  http_client c(srv.port(), admin_key);
  EXPECT_EQ(expect(c.get("/v1/accounts/t/purchases"), 200, "list").body, list_before);
  auto data = bj::parse(list_before).at("data").as_array();
  EXPECT_EQ(str(data[0], "source"), "auto_topup");
  auto settings = expect(c.get("/v1/accounts/t"), 200, "get").json().at("settings");
  EXPECT_EQ(str(settings.at("auto_topup"), "package"), "pack-100");
  // The period's count was stored: another crossing buys nothing.
  charge(c, "t", "100");  // 20
  EXPECT_EQ(available(c, "t"), "20");
  EXPECT_EQ(lots_from(c, "t", "auto_topup").size(), 1u);
  // And the armed state: up and down again, still nothing this month.
  grant(c, "t", "100");
  charge(c, "t", "100");
  EXPECT_EQ(lots_from(c, "t", "auto_topup").size(), 1u);
}

TEST(http_purchases, a_reader_lists_its_own_purchases_only) {
  live_server srv(shop_flags());
  http_client c(srv.port(), admin_key);
  put_account(c, "u");
  put_account(c, "v");
  bought(c, "u", "pack-100");
  bought(c, "v", "pack-300");
  http_client reader(srv.port(), make_key(c, "reader", "u"));
  auto own = reader.get("/v1/accounts/u/purchases");
  ASSERT_EQ(own.status, 200u) << own.body;
  EXPECT_EQ(own.json().at("data").as_array().size(), 1u);
  auto other = reader.get("/v1/accounts/v/purchases");
  EXPECT_EQ(other.status, 403u) << other.body;
  EXPECT_EQ(reader.get("/v1/accounts/v/purchases?limit=5000").status, 403u);
  EXPECT_EQ(c.get("/v1/accounts/u/purchases?limit=5000").status, 400u);
  EXPECT_EQ(c.get("/v1/accounts/u/purchases?limit=0").status, 400u);
}
}  // namespace purchases_test_cpp
