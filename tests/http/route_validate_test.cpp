// The router's pattern match (prefix routes included) and the checks of
// request bodies and query strings against the API description, in process.
#include <gtest/gtest.h>

#include "api/description.hpp"
#include "http/route.hpp"
#include "http/validate.hpp"

namespace route_validate_test_cpp {  // unity builds: tests/CMakeLists.txt

using namespace creditd;
using namespace creditd::http;

namespace {

jvalue parse(std::string_view text) {
  json_error error;
  auto v = parse_json(text, error);
  EXPECT_TRUE(v.has_value()) << error.message;
  return v.value_or(jvalue{});
}

const creditd::api::endpoint& described(std::string_view name) {
  const creditd::api::endpoint* ep = creditd::api::find_endpoint(name);
  EXPECT_NE(ep, nullptr) << name;
  return *ep;
}

}  // namespace

TEST(http_route, patterns_and_prefix_routes) {
  std::vector<std::string> params;
  EXPECT_TRUE(match_route("/v1/accounts/{id}/charges", "/v1/accounts/a%3A1/charges", params));
  EXPECT_EQ(params, (std::vector<std::string>{"a%3A1"}));
  EXPECT_TRUE(
      match_route("/v1/accounts/{id}/charges:batch", "/v1/accounts/a/charges:batch", params));
  EXPECT_FALSE(match_route("/v1/accounts/{id}", "/v1/accounts/a/charges", params));
  EXPECT_FALSE(match_route("/v1/accounts/{id}", "/v1/accounts/", params));
  // A prefix route takes the rest of the path, slashes included, or nothing.
  ASSERT_TRUE(match_route("/console/*", "/console/assets/app.js", params));
  EXPECT_EQ(params, (std::vector<std::string>{"assets/app.js"}));
  ASSERT_TRUE(match_route("/console/*", "/console/", params));
  EXPECT_EQ(params, (std::vector<std::string>{""}));
  EXPECT_FALSE(match_route("/console/*", "/consoles", params));
  EXPECT_FALSE(match_route("/console/*", "/v1/console/x", params));
}

TEST(http_validate, bodies_are_checked_against_the_description) {
  const auto& charge = described("create_charge").body;
  EXPECT_EQ(check_fields(parse(R"({"operation":"x","amount":"2.5"})"), charge), "");
  EXPECT_EQ(check_fields(parse(R"({"operation":"x","amount":0})"), charge),
            "");  // a free operation
  EXPECT_EQ(check_fields(parse(R"({"amount":1})"), charge), "operation is required");
  EXPECT_EQ(check_fields(parse(R"({"operation":"x","amont":1})"), charge), "unknown field: amont");
  EXPECT_EQ(check_fields(parse(R"({"operation":"x","quantity":0})"), charge),
            "quantity must be positive");
  EXPECT_EQ(check_fields(parse(R"({"operation":"x","urgent":1})"), charge),
            "urgent must be true or false");
  EXPECT_EQ(check_fields(parse(R"({"operation":"x","metadata":{"a":[1]}})"), charge),
            "metadata.a must be a string, number or boolean");
  EXPECT_NE(check_fields(parse(R"({"operation":"x","amount":"-1"})"), charge), "");
  EXPECT_NE(check_fields(parse(R"({"operation":"x","amount":"1.0000001"})"), charge), "");

  // Nested objects and enumerations, with the path of the field in the message.
  const auto& account = described("put_account").body;
  EXPECT_EQ(check_fields(parse(R"({"settings":{"reserv":"1"}})"), account),
            "unknown field: settings.reserv");
  EXPECT_EQ(check_fields(parse(R"({"settings":{"max_open_holds":-1}})"), account),
            "settings.max_open_holds must be an integer from 0 to 10000");
  EXPECT_EQ(check_fields(parse(R"({"settings":{"auto_topup":null}})"), account), "");
  EXPECT_EQ(check_fields(parse(R"({"settings":{"auto_topup":{"below":"5"}}})"), account),
            "settings.auto_topup.package is required");
  const auto& lot = described("grant_lot").body;
  EXPECT_EQ(check_fields(parse(R"({"amount":1,"kind":"gift"})"), lot),
            "kind must be prepaid, plan or promo");
  EXPECT_EQ(check_fields(parse(R"({"amount":1,"kind":"promo","source":"bank"})"), lot),
            "source must be manual, purchase, subscription or campaign");

  // A charge names one operation; a lot's scope may name a prefix or all
  // (found by fuzz_http: "image.gen.*" passed as a charge's operation).
  for (const char* op : {"image.*", "*", "image.gen5rW.*"}) {
    EXPECT_EQ(
        check_fields(parse(std::string(R"({"operation":")") + op + R"(","amount":1})"), charge),
        "operation must be an operation matching [A-Za-z0-9._:/-]{1,128}")
        << op;
    EXPECT_EQ(
        check_fields(parse(std::string(R"({"amount":1,"kind":"promo","scope":[")") + op + R"("]})"),
                     lot),
        "")
        << op;
  }
  EXPECT_NE(check_fields(parse(R"({"amount":1,"kind":"promo","scope":["a*"]})"), lot), "");
}

TEST(http_validate, query_parameters_are_checked) {
  const auto& lots = described("list_lots").query;
  EXPECT_EQ(check_query("limit=10&after=lot_3", lots), "");
  EXPECT_EQ(check_query("limit=1001", lots), "limit must be an integer from 1 to 1000");
  EXPECT_EQ(check_query("limt=10", lots), "unknown query parameter: limt");
  EXPECT_EQ(check_query("limit=1&limit=2", lots), "query parameter limit is given twice");
  EXPECT_EQ(check_query("at=yesterday", described("get_balance").query),
            "at must be an RFC 3339 time, e.g. 2026-11-25T10:00:00Z");
}

// The fingerprint of an Idempotency-Key: amounts by value, everything else as
// sent. Dimension values under keys named like amounts stay text (issue 9:
// {"price": "2.50"} was stored as 2.5).
TEST(http_validate, canonical_bodies_normalize_amount_fields_only) {
  const auto& charge = described("create_charge").body;
  std::string a, b, dims;
  write_canonical(a, parse(R"({"operation":"x","amount":2.5,"quantity":"2.0"})"), charge);
  write_canonical(b, parse(R"({"quantity":2,"amount":"2.50","operation":"x"})"), charge);
  EXPECT_EQ(a, b);
  write_canonical(dims, parse(R"({"operation":"x","dimensions":{"price":"2.50","credits":1.0}})"),
                  charge);
  EXPECT_EQ(dims, R"({"dimensions":{"credits":1.0,"price":"2.50"},"operation":"x"})");
  const jvalue body = parse(R"({"dimensions":{"price":"2.50","amount":"1"}})");
  EXPECT_EQ(body_values(&body).dimensions("dimensions"), R"({"amount":"1","price":"2.50"})");
}
}  // namespace route_validate_test_cpp
