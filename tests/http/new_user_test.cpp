// What a new user hit (issue 9), over HTTP against the real binary: HTTP
// conventions (401 with WWW-Authenticate, unknown routes, query parameters),
// settings and ids that could not work, and request fields that were dropped
// or rewritten.
#include "http_fixture.hpp"

using namespace creditd::testing;

TEST(http_new_user, a_missing_or_wrong_key_gets_401_with_www_authenticate) {
  live_server srv;
  http_client none(srv.port());
  auto missing = none.get("/v1/accounts/a");
  EXPECT_EQ(missing.status, 401u);
  EXPECT_EQ(missing.headers["www-authenticate"], "Bearer realm=\"creditd\"");
  http_client wrong(srv.port(), "not-a-key");
  auto invalid = wrong.get("/v1/accounts/a");
  EXPECT_EQ(invalid.status, 401u);
  EXPECT_EQ(invalid.headers["www-authenticate"],
            "Bearer realm=\"creditd\", error=\"invalid_token\"");
}

TEST(http_new_user, unknown_query_parameters_and_bodies_on_reads_are_refused) {
  live_server srv;
  http_client c(srv.port(), admin_key);
  put_account(c, "a");
  auto typo = c.get("/v1/accounts/a/entries?limt=5");
  EXPECT_EQ(typo.status, 400u) << typo.body;
  EXPECT_EQ(error_field(typo, "message"), "unknown query parameter: limt");
  auto twice = c.get("/v1/accounts/a/lots?limit=1&limit=2");
  EXPECT_EQ(twice.status, 400u) << twice.body;
  expect(c.get("/v1/accounts/a/lots?limit=1"), 200, "lots");
}

TEST(http_new_user, ids_and_settings_that_could_not_work_are_refused) {
  live_server srv;
  http_client c(srv.port(), admin_key);
  put_account(c, "a");
  // A reader key for an account that does not exist could never read anything.
  auto reader = c.post("/v1/api-keys", R"({"role":"reader","account":"nobody"})");
  EXPECT_EQ(reader.status, 404u) << reader.body;
  EXPECT_EQ(error_field(reader, "message"), "account nobody not found");
  expect(c.post("/v1/api-keys", R"({"role":"reader","account":"a"})"), 201, "reader of a");
  // An automatic top-up must name a package that exists (there is no catalog yet).
  auto topup =
      c.put("/v1/accounts/a", R"({"settings":{"auto_topup":{"below":"5","package":"pack_300"}}})");
  EXPECT_EQ(topup.status, 404u) << topup.body;
  EXPECT_TRUE(
      expect(c.get("/v1/accounts/a"), 200, "a").json().at("settings").at("auto_topup").is_null());
  // Unknown sources and currencies, and money without a currency.
  for (const char* body : {R"({"amount":1,"kind":"promo","source":"bank"})",
                           R"({"amount":1,"kind":"prepaid","cost_basis":"5","currency":"USD"})",
                           R"({"amount":1,"kind":"prepaid","cost_basis":"5","currency":"dollars"})",
                           R"({"amount":1,"kind":"prepaid","cost_basis":"5"})"}) {
    auto r = c.post("/v1/accounts/a/lots", body);
    EXPECT_EQ(r.status, 400u) << body << ": " << r.body;
    EXPECT_EQ(r.error_code(), "invalid_request") << body;
  }
  auto lot = expect(
      c.post(
          "/v1/accounts/a/lots",
          R"({"amount":1,"kind":"prepaid","source":"purchase","cost_basis":"5","currency":"usd"})"),
      201, "lot with money");
  EXPECT_EQ(field(lot, "currency"), "usd");
  EXPECT_EQ(field(lot, "source"), "purchase");
}

TEST(http_new_user, quantity_metadata_and_dimensions_are_kept_as_sent) {
  live_server srv;
  http_client c(srv.port(), admin_key);
  put_account(c, "a");
  grant(c, "a", "10");
  auto charge = expect(
      c.post(
          "/v1/accounts/a/charges",
          R"({"operation":"llm.tokens","amount":"0.5","quantity":1500,"dimensions":{"model":"m","price":"2.50","credits":1.0},"metadata":{"request":"r-1","retry":false}})"),
      201, "charge");
  auto v = bj::parse(charge.body).as_object();
  EXPECT_EQ(v.at("quantity").as_string(), "1500");
  EXPECT_EQ(v.at("amount").as_string(), "0.5");
  // Dimension values under amount-like keys stay what was sent.
  EXPECT_EQ(v.at("dimensions").at("price").as_string(), "2.50");
  EXPECT_NE(charge.body.find(R"("dimensions":{"credits":1.0,"model":"m","price":"2.50"})"),
            std::string::npos)
      << charge.body;
  EXPECT_EQ(v.at("metadata").at("request").as_string(), "r-1");
  // The journal keeps them.
  auto entries = bj::parse(expect(c.get("/v1/accounts/a/entries"), 200, "entries").body);
  const auto& last = entries.at("data").as_array().back().as_object();
  EXPECT_EQ(last.at("quantity").as_string(), "1500");
  EXPECT_EQ(last.at("metadata").at("retry").as_bool(), false);
  EXPECT_EQ(last.at("dimensions").at("price").as_string(), "2.50");
  // A hold and its capture keep them too.
  auto hold = expect(
      c.post("/v1/accounts/a/holds",
             R"({"operation":"image.generate","amount":2,"quantity":4,"metadata":{"job":"j"}})"),
      201, "hold");
  EXPECT_EQ(field(hold, "quantity"), "4");
  auto captured =
      expect(c.post("/v1/holds/" + field(hold, "id") + "/capture", "{}"), 200, "capture");
  auto cv = bj::parse(captured.body).as_object();
  EXPECT_EQ(cv.at("charge").at("quantity").as_string(), "4");
  EXPECT_EQ(cv.at("charge").at("metadata").at("job").as_string(), "j");
}

// One rule for zero: a charge or hold of zero (a free operation) succeeds at
// zero balance and is recorded as usage.
TEST(http_new_user, zero_charges_and_holds_succeed_at_zero_balance) {
  live_server srv;
  http_client c(srv.port(), admin_key);
  put_account(c, "z");
  auto charge = expect(c.post("/v1/accounts/z/charges", R"({"operation":"free","amount":0})"), 201,
                       "zero charge");
  EXPECT_EQ(field(charge, "amount"), "0");
  auto hold = expect(c.post("/v1/accounts/z/holds", R"({"operation":"free","amount":0})"), 201,
                     "zero hold");
  expect(c.post("/v1/holds/" + field(hold, "id") + "/capture", "{}"), 200, "capture zero");
  auto paid = c.post("/v1/accounts/z/charges", R"({"operation":"paid","amount":"0.000001"})");
  EXPECT_EQ(paid.status, 402u);
  auto entries = bj::parse(expect(c.get("/v1/accounts/z/entries"), 200, "entries").body);
  EXPECT_GE(entries.at("data").as_array().size(), 3u);
}
