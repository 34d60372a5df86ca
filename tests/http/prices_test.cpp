// Prices over real HTTP: the most specific matching price wins, cost =
// unit_amount x quantity (half up to 6 decimals), no matching price is 422
// unknown_price (never free), equally specific prices that could match the
// same charge are refused when written, charges and holds record the price
// they were charged at, and quotes tell the cost without charging.
#include "support/commerce_http.hpp"

namespace prices_test_cpp {  // unity builds: tests/CMakeLists.txt

using namespace creditd::testing;

namespace {

void put_price(http_client& c, const std::string& id, const std::string& body) {
  auto r = c.put("/v1/prices/" + id, body);
  if (r.status != 201 && r.status != 200)
    throw std::runtime_error("PUT price " + id + ": " + describe(r));
}

http_reply charge_body(http_client& c, const std::string& account, const std::string& body) {
  return c.post("/v1/accounts/" + account + "/charges", body);
}

// A catalog-priced charge that must succeed; returns it.
bj::value priced(http_client& c, const std::string& account, const std::string& body) {
  return expect(charge_body(c, account, body), 201, "charge " + body).json();
}

// The image.generate prices of the demo catalog, and an llm.tokens one.
void image_catalog(http_client& c) {
  put_price(c, "gen", R"({"operation":"image.generate","unit_amount":1})");
  put_price(c, "gen-pro",
            R"({"operation":"image.generate","dimensions":{"model":"flux-pro"},"unit_amount":3})");
  put_price(c, "gen-pro-4k",
            R"({"operation":"image.generate","dimensions":{"model":"flux-pro","resolution":"4k"},)"
            R"("unit_amount":5})");
  put_price(c, "tokens", R"({"operation":"llm.tokens","unit_amount":"0.002"})");
}

}  // namespace

TEST(http_prices, the_most_specific_matching_price_wins) {
  live_server srv({"--test-clock"});
  http_client c(srv.port(), admin_key);
  image_catalog(c);
  put_account(c, "a");
  grant(c, "a", "100");

  struct row {
    const char* dims;
    const char* price;
    const char* amount;
  } rows[] = {
      {R"({})", "gen", "1"},
      {R"({"model":"flux-schnell"})", "gen", "1"},
      {R"({"resolution":"4k"})", "gen", "1"},
      {R"({"model":"flux-pro"})", "gen-pro", "3"},
      {R"({"model":"flux-pro","resolution":"hd"})", "gen-pro", "3"},
      {R"({"model":"flux-pro","resolution":"4k"})", "gen-pro-4k", "5"},
      // Extra dimensions of the charge do not matter.
      {R"({"resolution":"4k","seed":7,"model":"flux-pro","style":"anime"})", "gen-pro-4k", "5"},
  };
  for (const row& r : rows) {
    auto ch = priced(c, "a",
                     R"({"operation":"image.generate","dimensions":)" + std::string(r.dims) + "}");
    EXPECT_EQ(str(ch, "price"), r.price) << r.dims;
    EXPECT_EQ(str(ch, "amount"), r.amount) << r.dims;
  }
  EXPECT_EQ(available(c, "a"), "81");  // 100 - (1+1+1+3+3+5+5)
}

TEST(http_prices, fractional_prices_and_quantities_are_exact_and_recorded) {
  live_server srv({"--test-clock"});
  http_client c(srv.port(), admin_key);
  image_catalog(c);
  put_price(c, "tiny", R"({"operation":"tiny.op","unit_amount":"0.000003"})");
  put_account(c, "a");
  grant(c, "a", "10");

  auto ch = priced(c, "a", R"({"operation":"llm.tokens","quantity":1234})");
  EXPECT_EQ(str(ch, "amount"), "2.468");
  EXPECT_EQ(str(ch, "quantity"), "1234");
  EXPECT_EQ(str(ch, "price"), "tokens");
  EXPECT_EQ(str(ch, "unit_amount"), "0.002");
  EXPECT_EQ(str(ch, "balance_after"), "7.532");

  // A fractional quantity; a string quantity.
  auto half = priced(c, "a",
                     R"({"operation":"image.generate","quantity":"2.5",)"
                     R"("dimensions":{"model":"flux-pro"}})");
  EXPECT_EQ(str(half, "amount"), "7.5");
  EXPECT_EQ(str(half, "quantity"), "2.5");

  // Half up at the sixth decimal: 0.000003 x 0.5 = 0.0000015 -> 0.000002;
  // 0.000003 x 0.1 = 0.0000003 -> 0.
  EXPECT_EQ(str(priced(c, "a", R"({"operation":"tiny.op","quantity":"0.5"})"), "amount"),
            "0.000002");
  EXPECT_EQ(str(priced(c, "a", R"({"operation":"tiny.op","quantity":"0.1"})"), "amount"), "0");
  EXPECT_EQ(available(c, "a"), "0.031998");

  // The journal keeps quantity, price and unit amount.
  auto charges = entries_of_type(c, "a", "charge");
  ASSERT_EQ(charges.size(), 4u);
  EXPECT_EQ(sfield(charges[0], "quantity"), "1234");
  EXPECT_EQ(sfield(charges[0], "amount"), "2.468");
  EXPECT_EQ(sfield(charges[0], "price"), "tokens");
  EXPECT_EQ(sfield(charges[0], "unit_amount"), "0.002");
  EXPECT_EQ(sfield(charges[0], "operation"), "llm.tokens");
  EXPECT_EQ(sfield(charges[1], "quantity"), "2.5");
  EXPECT_EQ(sfield(charges[1], "price"), "gen-pro");
  EXPECT_EQ(sfield(charges[1], "unit_amount"), "3");

  // Zero or negative quantities are bad requests, and change nothing.
  const std::string before = state(c, "a");
  for (const char* q : {"0", "-1", "\"abc\"", "0.0000001"}) {
    auto r = charge_body(c, "a", R"({"operation":"llm.tokens","quantity":)" + std::string(q) + "}");
    EXPECT_EQ(r.status, 400u) << q << ": " << r.body;
  }
  EXPECT_EQ(state(c, "a"), before);
}

TEST(http_prices, no_matching_price_is_422_unknown_price_never_free) {
  live_server srv({"--test-clock"});
  http_client c(srv.port(), admin_key);
  image_catalog(c);
  // An operation with model-specific prices only.
  put_price(c, "topaz",
            R"({"operation":"image.upscale","dimensions":{"model":"topaz-pro"},"unit_amount":4})");
  put_account(c, "a");
  grant(c, "a", "100");
  const std::string before = state(c, "a");

  for (const char* body : {R"({"operation":"video.generate"})",
                           R"({"operation":"image.upscale","dimensions":{"model":"other"}})",
                           R"({"operation":"image.upscale"})"}) {
    auto r = charge_body(c, "a", body);
    EXPECT_EQ(r.status, 422u) << body << ": " << r.body;
    EXPECT_EQ(r.error_code(), "unknown_price") << body;
    const std::string op = str(bj::parse(body), "operation");
    EXPECT_NE(error_field(r, "message").find(op), std::string::npos)
        << "the message should name the operation: " << r.body;
    // Holds and quotes alike.
    auto h = c.post("/v1/accounts/a/holds", body);
    EXPECT_EQ(h.status, 422u) << body << ": " << h.body;
    EXPECT_EQ(h.error_code(), "unknown_price");
    auto q = c.post("/v1/accounts/a/quote", body);
    EXPECT_EQ(q.status, 422u) << body << ": " << q.body;
    EXPECT_EQ(q.error_code(), "unknown_price");
  }
  EXPECT_EQ(state(c, "a"), before);

  // The message names the dimensions too.
  auto r = charge_body(c, "a", R"({"operation":"image.upscale","dimensions":{"model":"other"}})");
  EXPECT_NE(r.body.find("other"), std::string::npos) << r.body;

  // A batch with one unpriced item is refused whole.
  auto batch = c.post("/v1/accounts/a/charges:batch",
                      R"({"charges":[{"operation":"image.generate"},{"operation":"video.x"}]})");
  EXPECT_EQ(batch.status, 422u) << batch.body;
  EXPECT_EQ(batch.error_code(), "unknown_price");
  EXPECT_NE(error_field(batch, "message").find("video.x"), std::string::npos) << batch.body;
  EXPECT_EQ(state(c, "a"), before);

  // An explicit amount (admin/service) skips the catalog.
  EXPECT_EQ(str(charge(c, "a", "2", "video.generate"), "amount"), "2");
}

TEST(http_prices, a_zero_price_is_free_and_works_at_zero_balance) {
  live_server srv({"--test-clock"});
  http_client c(srv.port(), admin_key);
  put_price(c, "preview", R"({"operation":"image.preview","unit_amount":0})");
  put_account(c, "broke");
  auto ch = priced(c, "broke", R"({"operation":"image.preview","quantity":10})");
  EXPECT_EQ(str(ch, "amount"), "0");
  EXPECT_EQ(str(ch, "price"), "preview");
  EXPECT_EQ(str(ch, "unit_amount"), "0");
  EXPECT_EQ(str(ch, "balance_after"), "0");
  EXPECT_EQ(entries_of_type(c, "broke", "charge").size(), 1u);
  // A non-free operation at zero balance is 402, not free.
  put_price(c, "gen", R"({"operation":"image.generate","unit_amount":1})");
  auto refused = charge_body(c, "broke", R"({"operation":"image.generate"})");
  EXPECT_EQ(refused.status, 402u) << refused.body;
  EXPECT_EQ(refused.error_code(), "insufficient_credits");
}

TEST(http_prices, equally_specific_prices_that_could_both_match_are_refused) {
  live_server srv({"--test-clock"});
  http_client c(srv.port(), admin_key);
  image_catalog(c);
  const std::string list_before = expect(c.get("/v1/prices"), 200, "prices").body;

  // One dimension each, different keys: a {model: flux-pro, resolution: 4k}
  // charge (without gen-pro-4k) would match both.
  auto r =
      c.put("/v1/prices/gen-4k",
            R"({"operation":"image.generate","dimensions":{"resolution":"4k"},"unit_amount":2})");
  EXPECT_EQ(r.status, 409u) << r.body;
  EXPECT_EQ(r.error_code(), "conflict");
  EXPECT_NE(r.body.find("gen-pro"), std::string::npos) << "names the other price: " << r.body;
  // Two generic prices of one operation.
  r = c.put("/v1/prices/gen-2", R"({"operation":"image.generate","unit_amount":2})");
  EXPECT_EQ(r.status, 409u) << r.body;
  EXPECT_EQ(r.error_code(), "conflict");
  // Two dimensions each, compatible values.
  r = c.put("/v1/prices/pro-hd",
            R"({"operation":"image.generate","dimensions":{"model":"flux-pro","quality":"hd"},)"
            R"("unit_amount":4})");
  EXPECT_EQ(r.status, 409u) << r.body;
  EXPECT_EQ(expect(c.get("/v1/prices"), 200, "prices").body, list_before);
  EXPECT_EQ(c.get("/v1/prices/gen-4k").status, 404u);

  // Accepted: they differ on a shared key, so no charge matches both.
  r = c.put("/v1/prices/gen-schnell-4k",
            R"({"operation":"image.generate","dimensions":{"model":"flux-schnell",)"
            R"("resolution":"4k"},"unit_amount":2})");
  EXPECT_EQ(r.status, 201u) << r.body;
  r = c.put("/v1/prices/gen-dev",
            R"({"operation":"image.generate","dimensions":{"model":"flux-dev"},"unit_amount":2})");
  EXPECT_EQ(r.status, 201u) << r.body;
  // Same dimensions on another operation: no conflict.
  r = c.put("/v1/prices/up",
            R"({"operation":"image.upscale","dimensions":{"resolution":"4k"},"unit_amount":2})");
  EXPECT_EQ(r.status, 201u) << r.body;

  put_account(c, "a");
  grant(c, "a", "100");
  EXPECT_EQ(str(priced(c, "a",
                       R"({"operation":"image.generate","dimensions":{"model":"flux-schnell",)"
                       R"("resolution":"4k"}})"),
                "price"),
            "gen-schnell-4k");
  EXPECT_EQ(
      str(priced(c, "a", R"({"operation":"image.generate","dimensions":{"model":"flux-dev"}})"),
          "price"),
      "gen-dev");
}

TEST(http_prices, a_put_updates_in_place_and_a_delete_removes) {
  live_server srv({"--test-clock"});
  http_client c(srv.port(), admin_key);
  image_catalog(c);
  const auto created = expect(c.get("/v1/prices/gen-pro"), 200, "get").json();
  EXPECT_EQ(str(created, "object"), "price");
  EXPECT_EQ(str(created, "operation"), "image.generate");
  EXPECT_EQ(bj::serialize(created.at("dimensions")), R"({"model":"flux-pro"})");
  EXPECT_EQ(str(created, "unit_amount"), "3");

  advance(c, 60);
  // The same id again: an update (200), not a conflict with itself.
  auto r = c.put(
      "/v1/prices/gen-pro",
      R"({"operation":"image.generate","dimensions":{"model":"flux-pro"},"unit_amount":"3.5"})");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(field(r, "unit_amount"), "3.5");
  const auto updated = expect(c.get("/v1/prices/gen-pro"), 200, "get").json();
  EXPECT_EQ(str(updated, "unit_amount"), "3.5");
  EXPECT_EQ(str(updated, "created_at"), str(created, "created_at"));
  EXPECT_EQ(parse_time(str(updated, "updated_at")),
            parse_time(str(created, "updated_at")) + 60 * us_per_second);
  // Still one price per id in the list.
  auto list = expect(c.get("/v1/prices?operation=image.generate"), 200, "list").json();
  EXPECT_EQ(list.at("data").as_array().size(), 3u) << list;
  EXPECT_TRUE(list.at("next").is_null());

  put_account(c, "a");
  grant(c, "a", "100");
  EXPECT_EQ(
      str(priced(c, "a", R"({"operation":"image.generate","dimensions":{"model":"flux-pro"}})"),
          "amount"),
      "3.5");

  // Moving a price to new dimensions checks them against the others: gen-dev
  // {model} -> {resolution} could match the same charges as gen-pro {model}.
  put_price(c, "gen-dev",
            R"({"operation":"image.generate","dimensions":{"model":"flux-dev"},"unit_amount":2})");
  r = c.put("/v1/prices/gen-dev",
            R"({"operation":"image.generate","dimensions":{"resolution":"4k"},"unit_amount":2})");
  EXPECT_EQ(r.status, 409u) << r.body;
  EXPECT_EQ(bj::serialize(expect(c.get("/v1/prices/gen-dev"), 200, "get").json().at("dimensions")),
            R"({"model":"flux-dev"})");
  ASSERT_EQ(c.del("/v1/prices/gen-dev").status, 200u);

  // DELETE: the charge falls back to the generic price; then that goes too.
  auto d = c.del("/v1/prices/gen-pro");
  ASSERT_EQ(d.status, 200u) << d.body;
  EXPECT_EQ(d.json().at("deleted").as_bool(), true);
  EXPECT_EQ(c.get("/v1/prices/gen-pro").status, 404u);
  EXPECT_EQ(c.del("/v1/prices/gen-pro").status, 404u);
  EXPECT_EQ(
      str(priced(c, "a", R"({"operation":"image.generate","dimensions":{"model":"flux-pro"}})"),
          "price"),
      "gen");
  ASSERT_EQ(c.del("/v1/prices/tokens").status, 200u);
  const std::string before = state(c, "a");
  auto refused = charge_body(c, "a", R"({"operation":"llm.tokens","quantity":100})");
  EXPECT_EQ(refused.status, 422u) << refused.body;
  EXPECT_EQ(refused.error_code(), "unknown_price");
  EXPECT_EQ(state(c, "a"), before);
}

TEST(http_prices, entries_keep_the_price_they_were_charged_at) {
  live_server srv({"--test-clock"});
  http_client c(srv.port(), admin_key);
  image_catalog(c);
  put_account(c, "a");
  grant(c, "a", "100");
  auto first = priced(c, "a",
                      R"({"operation":"image.generate","dimensions":{"model":"flux-pro"},)"
                      R"("quantity":2,"reference":"gen-1"})");
  EXPECT_EQ(str(first, "amount"), "6");
  EXPECT_EQ(str(first, "price"), "gen-pro");
  EXPECT_EQ(str(first, "unit_amount"), "3");

  put_price(c, "gen-pro",
            R"({"operation":"image.generate","dimensions":{"model":"flux-pro"},"unit_amount":4})");
  auto second = priced(c, "a",
                       R"({"operation":"image.generate","dimensions":{"model":"flux-pro"},)"
                       R"("quantity":2,"reference":"gen-2"})");
  EXPECT_EQ(str(second, "amount"), "8");
  EXPECT_EQ(str(second, "unit_amount"), "4");
  // Deleting the price does not touch the journal either.
  ASSERT_EQ(c.del("/v1/prices/gen-pro").status, 200u);

  auto charges = entries_of_type(c, "a", "charge");
  ASSERT_EQ(charges.size(), 2u);
  EXPECT_EQ(sfield(charges[0], "reference"), "gen-1");
  EXPECT_EQ(sfield(charges[0], "amount"), "6");
  EXPECT_EQ(sfield(charges[0], "price"), "gen-pro");
  EXPECT_EQ(sfield(charges[0], "unit_amount"), "3");
  EXPECT_EQ(sfield(charges[0], "quantity"), "2");
  EXPECT_EQ(bj::serialize(charges[0].at("dimensions")), R"({"model":"flux-pro"})");
  EXPECT_EQ(sfield(charges[1], "amount"), "8");
  EXPECT_EQ(sfield(charges[1], "unit_amount"), "4");
  // An explicit amount records no price.
  charge(c, "a", "1");
  auto explicit_entry = entries_of_type(c, "a", "charge").back();
  EXPECT_TRUE(explicit_entry.at("price").is_null()) << bj::serialize(explicit_entry);
  EXPECT_TRUE(explicit_entry.at("unit_amount").is_null()) << bj::serialize(explicit_entry);
}

TEST(http_prices, batches_and_holds_are_priced) {
  live_server srv({"--test-clock"});
  http_client c(srv.port(), admin_key);
  image_catalog(c);
  put_account(c, "a");
  grant(c, "a", "100");

  auto batch =
      c.post("/v1/accounts/a/charges:batch",
             R"({"charges":[{"operation":"image.generate","dimensions":{"model":"flux-pro"}},)"
             R"({"operation":"llm.tokens","quantity":1500},)"
             R"({"operation":"image.generate","amount":"0.5"}]})");
  ASSERT_EQ(batch.status, 201u) << batch.body;
  const auto batch_json = batch.json();
  const auto& data = batch_json.at("data").as_array();
  ASSERT_EQ(data.size(), 3u);
  EXPECT_EQ(str(data[0], "amount"), "3");
  EXPECT_EQ(str(data[0], "price"), "gen-pro");
  EXPECT_EQ(str(data[1], "amount"), "3");
  EXPECT_EQ(str(data[1], "price"), "tokens");
  EXPECT_EQ(str(data[1], "unit_amount"), "0.002");
  EXPECT_EQ(str(data[2], "amount"), "0.5");
  EXPECT_TRUE(data[2].at("price").is_null());
  EXPECT_EQ(available(c, "a"), "93.5");

  // A hold priced from the catalog, then captured in part.
  auto h = c.post("/v1/accounts/a/holds",
                  R"({"operation":"image.generate","dimensions":{"model":"flux-pro",)"
                  R"("resolution":"4k"},"quantity":3})");
  ASSERT_EQ(h.status, 201u) << h.body;
  auto hold = h.json();
  EXPECT_EQ(str(hold, "amount"), "15");
  EXPECT_EQ(str(hold, "price"), "gen-pro-4k");
  EXPECT_EQ(str(hold, "unit_amount"), "5");
  EXPECT_EQ(str(hold, "quantity"), "3");
  EXPECT_EQ(available(c, "a"), "78.5");
  auto cap = c.post("/v1/holds/" + str(hold, "id") + "/capture", R"({"amount":10})");
  ASSERT_EQ(cap.status, 200u) << cap.body;
  const auto cap_json = cap.json();
  const auto& ch = cap_json.at("charge");
  EXPECT_EQ(str(ch, "amount"), "10");
  EXPECT_EQ(str(ch, "price"), "gen-pro-4k");
  EXPECT_EQ(str(ch, "unit_amount"), "5");
  EXPECT_EQ(available(c, "a"), "83.5");
  auto holds = entries_of_type(c, "a", "hold");
  ASSERT_EQ(holds.size(), 1u);
  EXPECT_EQ(sfield(holds[0], "price"), "gen-pro-4k");
  EXPECT_EQ(sfield(holds[0], "unit_amount"), "5");

  // A batch that cannot be paid changes nothing.
  const std::string before = state(c, "a");
  auto refused =
      c.post("/v1/accounts/a/charges:batch", R"({"charges":[{"operation":"image.generate"},)"
                                             R"({"operation":"llm.tokens","quantity":100000}]})");
  EXPECT_EQ(refused.status, 402u) << refused.body;
  // As for explicit amounts: the item that cannot be paid, after the ones
  // before it.
  EXPECT_EQ(error_field(refused, "required"), "200") << refused.body;
  EXPECT_EQ(error_field(refused, "available"), "82.5") << refused.body;
  EXPECT_EQ(state(c, "a"), before);
}

TEST(http_prices, a_quote_tells_cost_affordability_and_balance_after_and_charges_nothing) {
  live_server srv({"--test-clock"});
  http_client c(srv.port(), admin_key);
  image_catalog(c);
  put_account(c, "a");
  put_account(c, "b");
  grant(c, "a", "10");
  grant(c, "b", "10");
  const std::string before = state(c, "a");

  auto q = expect(c.post("/v1/accounts/a/quote",
                         R"({"operation":"image.generate","dimensions":{"model":"flux-pro"},)"
                         R"("quantity":2})"),
                  200, "quote")
               .json();
  EXPECT_EQ(str(q, "object"), "quote");
  EXPECT_EQ(str(q, "account"), "a");
  EXPECT_EQ(str(q, "amount"), "6");
  EXPECT_EQ(str(q, "quantity"), "2");
  EXPECT_EQ(str(q, "price"), "gen-pro");
  EXPECT_EQ(str(q, "unit_amount"), "3");
  EXPECT_EQ(q.at("affordable").as_bool(), true);
  EXPECT_TRUE(q.at("reason").is_null());
  EXPECT_EQ(str(q, "available"), "10");
  EXPECT_EQ(str(q, "balance_after"), "4");

  auto no = expect(c.post("/v1/accounts/a/quote", R"({"operation":"llm.tokens","quantity":6000})"),
                   200, "quote")
                .json();
  EXPECT_EQ(str(no, "amount"), "12");
  EXPECT_EQ(no.at("affordable").as_bool(), false);
  EXPECT_EQ(str(no, "reason"), "balance");
  EXPECT_EQ(str(no, "available"), "10");
  EXPECT_EQ(str(no, "balance_after"), "10");

  // Exactly the balance: affordable, nothing after.
  auto all = expect(c.post("/v1/accounts/a/quote", R"({"operation":"llm.tokens","quantity":5000})"),
                    200, "quote")
                 .json();
  EXPECT_EQ(all.at("affordable").as_bool(), true);
  EXPECT_EQ(str(all, "balance_after"), "0");

  // Nothing was charged or held.
  EXPECT_EQ(state(c, "a"), before);

  // The reserve applies as for a charge; urgent may dip into it.
  put_account(c, "a", R"({"settings":{"reserve":5}})");
  auto reserved =
      expect(c.post("/v1/accounts/a/quote",
                    R"({"operation":"image.generate","dimensions":{"model":"flux-pro"},)"
                    R"("quantity":2})"),
             200, "quote")
          .json();
  EXPECT_EQ(reserved.at("affordable").as_bool(), false);
  EXPECT_EQ(str(reserved, "reason"), "reserve");
  EXPECT_EQ(str(reserved, "available"), "5");
  auto urgent = expect(c.post("/v1/accounts/a/quote",
                              R"({"operation":"image.generate","dimensions":{"model":"flux-pro"},)"
                              R"("quantity":2,"urgent":true})"),
                       200, "quote")
                    .json();
  EXPECT_EQ(urgent.at("affordable").as_bool(), true) << urgent;
  EXPECT_EQ(str(urgent, "available"), "10");

  // A reader key quotes its own account, not another's.
  http_client reader(srv.port(), make_key(c, "reader", "a"));
  auto own = reader.post("/v1/accounts/a/quote", R"({"operation":"image.generate"})");
  EXPECT_EQ(own.status, 200u) << own.body;
  EXPECT_EQ(field(own, "amount"), "1");
  auto other = reader.post("/v1/accounts/b/quote", R"({"operation":"image.generate"})");
  EXPECT_EQ(other.status, 403u) << other.body;
  EXPECT_EQ(other.error_code(), "forbidden");
  // A reader cannot charge, even its own account.
  EXPECT_EQ(reader.post("/v1/accounts/a/charges", R"({"operation":"image.generate"})").status,
            403u);
  // A missing account.
  auto missing = c.post("/v1/accounts/nobody/quote", R"({"operation":"image.generate"})");
  EXPECT_EQ(missing.status, 404u) << missing.body;
  EXPECT_EQ(available(c, "a"), "5");
  EXPECT_EQ(available(c, "b"), "10");
}

TEST(http_prices, dimension_values_are_compared_as_text) {
  live_server srv({"--test-clock"});
  http_client c(srv.port(), admin_key);
  put_price(c, "gen", R"({"operation":"image.generate","unit_amount":1})");
  put_price(c, "steps-50",
            R"({"operation":"image.generate","dimensions":{"steps":"50"},"unit_amount":2})");
  put_price(c, "hd", R"({"operation":"image.upscale","dimensions":{"hd":"true"},"unit_amount":3})");
  put_account(c, "a");
  grant(c, "a", "100");
  // A number or a boolean in the charge matches the price's text.
  EXPECT_EQ(
      str(priced(c, "a", R"({"operation":"image.generate","dimensions":{"steps":50}})"), "price"),
      "steps-50");
  EXPECT_EQ(
      str(priced(c, "a", R"({"operation":"image.generate","dimensions":{"steps":"50"}})"), "price"),
      "steps-50");
  EXPECT_EQ(
      str(priced(c, "a", R"({"operation":"image.generate","dimensions":{"steps":30}})"), "price"),
      "gen");
  EXPECT_EQ(
      str(priced(c, "a", R"({"operation":"image.upscale","dimensions":{"hd":true}})"), "price"),
      "hd");
  auto r = charge_body(c, "a", R"({"operation":"image.upscale","dimensions":{"hd":false}})");
  EXPECT_EQ(r.status, 422u) << r.body;
  // A price may give them as a number or a boolean too, kept as their text.
  auto typed = expect(c.put("/v1/prices/typed", R"({"operation":"video.generate",)"
                                                R"("dimensions":{"seconds":8,"audio":true},)"
                                                R"("unit_amount":4})"),
                      201, "a price of typed dimensions");
  EXPECT_EQ(bj::serialize(typed.json().at("dimensions")), R"({"audio":"true","seconds":"8"})");
  EXPECT_EQ(str(priced(c, "a",
                       R"({"operation":"video.generate","dimensions":{"seconds":8,"audio":true}})"),
                "price"),
            "typed");
  EXPECT_EQ(
      str(priced(c, "a",
                 R"({"operation":"video.generate","dimensions":{"seconds":"8","audio":"true"}})"),
          "price"),
      "typed");
  for (const char* body : {R"({"operation":"x","dimensions":{"s":{"n":1}},"unit_amount":1})",
                           R"({"operation":"x","dimensions":{"s":[1]},"unit_amount":1})",
                           R"({"operation":"x","dimensions":{"s":null},"unit_amount":1})"}) {
    auto bad = c.put("/v1/prices/bad", body);
    EXPECT_EQ(bad.status, 400u) << body << ": " << bad.body;
  }
  EXPECT_EQ(c.get("/v1/prices/bad").status, 404u);
}

TEST(http_prices, a_hold_keeps_its_price_when_the_price_changes_before_the_capture) {
  live_server srv({"--test-clock"});
  http_client c(srv.port(), admin_key);
  image_catalog(c);
  put_account(c, "a");
  grant(c, "a", "100");
  auto h = expect(c.post("/v1/accounts/a/holds",
                         R"({"operation":"image.generate","dimensions":{"model":"flux-pro"}})"),
                  201, "hold")
               .json();
  EXPECT_EQ(str(h, "amount"), "3");
  put_price(c, "gen-pro",
            R"({"operation":"image.generate","dimensions":{"model":"flux-pro"},"unit_amount":10})");
  auto cap = expect(c.post("/v1/holds/" + str(h, "id") + "/capture"), 200, "capture").json();
  EXPECT_EQ(str(cap.at("charge"), "amount"), "3");
  EXPECT_EQ(str(cap.at("charge"), "unit_amount"), "3");
  EXPECT_EQ(available(c, "a"), "97");
}

TEST(http_prices, prices_and_the_prices_charged_survive_a_restart) {
  live_server srv({"--test-clock"});
  std::string entries_before;
  {
    http_client c(srv.port(), admin_key);
    image_catalog(c);
    put_price(c, "gone", R"({"operation":"video.generate","unit_amount":7})");
    put_account(c, "a");
    grant(c, "a", "100");
    priced(c, "a", R"({"operation":"llm.tokens","quantity":1234})");
    priced(c, "a", R"({"operation":"video.generate"})");
    ASSERT_EQ(c.del("/v1/prices/gone").status, 200u);
    // Deleted and put again in quick succession: it must stay.
    put_price(c, "again", R"({"operation":"audio.generate","unit_amount":2})");
    ASSERT_EQ(c.del("/v1/prices/again").status, 200u);
    put_price(c, "again", R"({"operation":"audio.generate","unit_amount":"2.5"})");
    entries_before = bj::serialize(bj::value_from(entries_of_type(c, "a", "charge")));
  }
  EXPECT_EQ(srv.terminate(), 0);
  srv.restart();
  http_client c(srv.port(), admin_key);
  EXPECT_EQ(bj::serialize(bj::value_from(entries_of_type(c, "a", "charge"))), entries_before);
  auto charges = entries_of_type(c, "a", "charge");
  ASSERT_EQ(charges.size(), 2u);
  EXPECT_EQ(sfield(charges[0], "price"), "tokens");
  EXPECT_EQ(sfield(charges[0], "unit_amount"), "0.002");
  EXPECT_EQ(sfield(charges[1], "price"), "gone");
  EXPECT_EQ(sfield(charges[1], "unit_amount"), "7");
  auto p = expect(c.get("/v1/prices/gen-pro-4k"), 200, "get").json();
  EXPECT_EQ(bj::serialize(p.at("dimensions")), R"({"model":"flux-pro","resolution":"4k"})");
  EXPECT_EQ(str(p, "unit_amount"), "5");
  EXPECT_EQ(c.get("/v1/prices/gone").status, 404u);
  EXPECT_EQ(str(expect(c.get("/v1/prices/again"), 200, "again").json(), "unit_amount"), "2.5");
  EXPECT_EQ(expect(c.get("/v1/prices"), 200, "list").json().at("data").as_array().size(), 5u);
  EXPECT_EQ(str(priced(c, "a",
                       R"({"operation":"image.generate","dimensions":{"model":"flux-pro",)"
                       R"("resolution":"4k"}})"),
                "amount"),
            "5");
  EXPECT_EQ(charge_body(c, "a", R"({"operation":"video.generate"})").status, 422u);
  // The conflict check still sees the loaded prices.
  EXPECT_EQ(
      c.put("/v1/prices/x",
            R"({"operation":"image.generate","dimensions":{"resolution":"4k"},"unit_amount":1})")
          .status,
      409u);
}

TEST(http_prices, a_cost_too_large_is_refused_and_changes_nothing) {
  live_server srv({"--test-clock"});
  http_client c(srv.port(), admin_key);
  put_price(c, "big", R"({"operation":"gpu.seconds","unit_amount":1000000000})");
  put_account(c, "a");
  grant(c, "a", "100");
  const std::string before = state(c, "a");
  for (const char* path : {"/charges", "/holds", "/quote"}) {
    auto r = c.post(std::string("/v1/accounts/a") + path,
                    R"({"operation":"gpu.seconds","quantity":1000000000000})");
    EXPECT_EQ(r.status, 400u) << path << ": " << r.body;
    EXPECT_EQ(r.error_code(), "invalid_request") << path;
  }
  EXPECT_EQ(state(c, "a"), before);
}

TEST(http_prices, quotes_apply_scopes_and_the_postpaid_limit_as_a_charge_would) {
  live_server srv({"--test-clock"});
  http_client c(srv.port(), admin_key);
  image_catalog(c);
  put_account(c, "scoped");
  grant(c, "scoped", "10", "promo", R"("scope":["image.generate"])");
  auto q =
      expect(c.post("/v1/accounts/scoped/quote", R"({"operation":"llm.tokens","quantity":2500})"),
             200, "quote")
          .json();
  EXPECT_EQ(str(q, "amount"), "5");
  EXPECT_EQ(q.at("affordable").as_bool(), false);
  EXPECT_EQ(str(q, "reason"), "scope");
  EXPECT_EQ(str(q, "available"), "0");
  auto refused =
      c.post("/v1/accounts/scoped/charges", R"({"operation":"llm.tokens","quantity":2500})");
  EXPECT_EQ(refused.status, 402u) << refused.body;
  EXPECT_EQ(error_field(refused, "reason"), "scope");
  q = expect(c.post("/v1/accounts/scoped/quote",
                    R"({"operation":"image.generate","dimensions":{"model":"flux-pro"}})"),
             200, "quote")
          .json();
  EXPECT_EQ(q.at("affordable").as_bool(), true);
  EXPECT_EQ(str(q, "balance_after"), "7");

  put_account(c, "postpaid", R"({"settings":{"postpaid_limit":5}})");
  q = expect(c.post("/v1/accounts/postpaid/quote",
                    R"({"operation":"image.generate","dimensions":{"model":"flux-pro"}})"),
             200, "quote")
          .json();
  EXPECT_EQ(q.at("affordable").as_bool(), true);
  EXPECT_EQ(str(q, "available"), "5");
  EXPECT_EQ(str(q, "balance_after"), "2");
  q = expect(
          c.post(
              "/v1/accounts/postpaid/quote",
              R"({"operation":"image.generate","dimensions":{"model":"flux-pro"},"quantity":2})"),
          200, "quote")
          .json();
  EXPECT_EQ(q.at("affordable").as_bool(), false);
  EXPECT_EQ(str(q, "reason"), "postpaid_limit");
  EXPECT_EQ(str(q, "balance_after"), "5");
  EXPECT_EQ(available(c, "postpaid"), "5");
}

TEST(http_prices, only_an_admin_writes_prices_any_key_reads_them) {
  live_server srv({"--test-clock"});
  http_client c(srv.port(), admin_key);
  image_catalog(c);
  put_account(c, "a");
  http_client svc(srv.port(), make_key(c, "service"));
  http_client reader(srv.port(), make_key(c, "reader", "a"));
  for (http_client* k : {&svc, &reader}) {
    EXPECT_EQ(k->get("/v1/prices").status, 200u);
    EXPECT_EQ(k->get("/v1/prices/gen").status, 200u);
    EXPECT_EQ(k->put("/v1/prices/gen", R"({"operation":"image.generate","unit_amount":0})").status,
              403u);
    EXPECT_EQ(k->del("/v1/prices/gen").status, 403u);
  }
  EXPECT_EQ(str(expect(c.get("/v1/prices/gen"), 200, "get").json(), "unit_amount"), "1");
  EXPECT_EQ(http_client(srv.port()).get("/v1/prices").status, 401u);
}

TEST(http_prices, the_price_list_pages_by_id_and_filters_by_operation) {
  live_server srv({"--test-clock"});
  http_client c(srv.port(), admin_key);
  image_catalog(c);  // gen, gen-pro, gen-pro-4k (image.generate), tokens (llm.tokens)
  put_price(c, "up", R"({"operation":"image.upscale","unit_amount":2})");
  auto ids = [](const bj::value& page) {
    std::vector<std::string> out;
    for (const auto& p : page.at("data").as_array())
      out.push_back(str(p, "id"));
    return out;
  };
  auto all = expect(c.get("/v1/prices"), 200, "list").json();
  EXPECT_EQ(ids(all), (std::vector<std::string>{"gen", "gen-pro", "gen-pro-4k", "tokens", "up"}));
  auto p1 = expect(c.get("/v1/prices?limit=2"), 200, "page").json();
  EXPECT_EQ(ids(p1), (std::vector<std::string>{"gen", "gen-pro"}));
  ASSERT_FALSE(p1.at("next").is_null());
  auto p2 = expect(c.get("/v1/prices?limit=2&after=" + str(p1.at("next"))), 200, "page").json();
  EXPECT_EQ(ids(p2), (std::vector<std::string>{"gen-pro-4k", "tokens"}));
  auto gen = expect(c.get("/v1/prices?operation=image.generate"), 200, "filter").json();
  EXPECT_EQ(ids(gen), (std::vector<std::string>{"gen", "gen-pro", "gen-pro-4k"}));
  EXPECT_TRUE(gen.at("next").is_null());
  EXPECT_EQ(c.get("/v1/prices?limit=1001").status, 400u);
  EXPECT_EQ(c.get("/v1/prices/nope").status, 404u);
}
}  // namespace prices_test_cpp
