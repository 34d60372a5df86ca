// creditctl's encodings, unit-tested: command-line text to JSON by field type
// (amounts, integers, booleans, enumerations, objects, dimensions, arrays),
// bodies built with Boost.JSON (no text pasted in), path and query
// percent-encoding, raw bodies and --url.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>

#include "cli/ctl_encode.hpp"
#include "support/temp_dir.hpp"

namespace ctl_encode_test_cpp {  // unity builds: tests/CMakeLists.txt

namespace {

namespace json = boost::json;
namespace api = creditd::api;
using namespace creditd::ctl;
using api::field;
using api::type;

field make(type t, std::int64_t min = 0, std::int64_t max = 0) {
  return field{.name = "some_field", .t = t, .min = min, .max = max};
}

std::string encoded(const field& f, std::string_view text) {
  auto v = encode_value(f, text);
  return v ? json::serialize(*v) : "error: " + v.error();
}

// The refusal's message, or a text no message contains when it succeeded.
std::string refusal_text(const field& f, std::string_view text) {
  auto v = encode_value(f, text);
  return v ? "(no refusal: " + json::serialize(*v) + ")" : v.error();
}

bool refused(const field& f, std::string_view text) {
  return !encode_value(f, text).has_value();
}

TEST(ctl_encode, option_names_use_dashes) {
  EXPECT_EQ(option_name("ttl_seconds"), "--ttl-seconds");
  EXPECT_EQ(option_name("amount"), "--amount");
}

TEST(ctl_encode, amounts_are_json_strings_with_their_syntax_checked) {
  const field amount = make(type::amount);
  EXPECT_EQ(encoded(amount, "2.5"), R"("2.5")");
  EXPECT_EQ(encoded(amount, "0"), R"("0")");
  EXPECT_EQ(encoded(amount, "10.123456"), R"("10.123456")");
  EXPECT_TRUE(refused(amount, "10.1234567"));  // 7 decimals
  EXPECT_TRUE(refused(amount, "-1"));          // no sign on a plain amount
  EXPECT_TRUE(refused(amount, ""));
  EXPECT_TRUE(refused(amount, "1."));
  EXPECT_TRUE(refused(amount, ".5"));
  EXPECT_TRUE(refused(amount, "1e3"));
  EXPECT_TRUE(refused(amount, "+1"));
  EXPECT_TRUE(refused(amount, "1,5"));
  EXPECT_TRUE(refused(amount, "\"1\""));

  const field signed_amount = make(type::signed_amount);
  EXPECT_EQ(encoded(signed_amount, "-1.5"), R"("-1.5")");
  EXPECT_EQ(encoded(signed_amount, "3"), R"("3")");
  EXPECT_TRUE(refused(signed_amount, "--1"));
  EXPECT_TRUE(refused(signed_amount, "-"));

  const field positive = make(type::positive_amount);
  EXPECT_EQ(encoded(positive, "0.000001"), R"("0.000001")");
  EXPECT_TRUE(refused(positive, "0"));
  EXPECT_TRUE(refused(positive, "0.000"));
  // The message names the option.
  EXPECT_NE(refusal_text(positive, "x").find("--some-field"), std::string::npos);
}

TEST(ctl_encode, integers_are_json_numbers_within_the_fields_limits) {
  const field limited = make(type::integer, 1, 1000);
  EXPECT_EQ(encoded(limited, "1"), "1");
  EXPECT_EQ(encoded(limited, "1000"), "1000");
  EXPECT_TRUE(refused(limited, "0"));
  EXPECT_TRUE(refused(limited, "1001"));
  EXPECT_TRUE(refused(limited, "1.5"));
  EXPECT_TRUE(refused(limited, "12abc"));
  EXPECT_TRUE(refused(limited, ""));
  const field unlimited = make(type::integer);
  EXPECT_EQ(encoded(unlimited, "-7"), "-7");
  EXPECT_TRUE(refused(unlimited, "99999999999999999999"));  // beyond int64
}

TEST(ctl_encode, booleans_enumerations_strings_and_times) {
  EXPECT_EQ(encoded(make(type::boolean), "true"), "true");
  EXPECT_EQ(encoded(make(type::boolean), "false"), "false");
  EXPECT_TRUE(refused(make(type::boolean), "yes"));

  static constexpr std::string_view kinds[] = {"prepaid", "plan", "promo"};
  field kind = make(type::enumeration);
  kind.values = kinds;
  EXPECT_EQ(encoded(kind, "plan"), R"("plan")");
  EXPECT_TRUE(refused(kind, "gift"));
  EXPECT_NE(refusal_text(kind, "gift").find("prepaid, plan, promo"), std::string::npos);

  const field text = make(type::string, 0, 5);
  EXPECT_EQ(encoded(text, "a\"b\\"), R"("a\"b\\")");  // escaped, not pasted
  EXPECT_TRUE(refused(text, "123456"));
  EXPECT_EQ(encoded(make(type::time), "2026-11-25T10:00:00Z"), R"("2026-11-25T10:00:00Z")");
}

TEST(ctl_encode, objects_and_dimensions_must_be_json_objects) {
  const field dims = make(type::dimensions);
  EXPECT_EQ(encoded(dims, R"({"model":"sdxl","steps":30,"hd":true})"),
            R"({"model":"sdxl","steps":30,"hd":true})");
  // Text that would add a field if pasted into a body is not a JSON object.
  EXPECT_TRUE(refused(dims, R"({}, "urgent": true)"));
  EXPECT_TRUE(refused(dims, "[]"));
  EXPECT_TRUE(refused(dims, "\"x\""));
  EXPECT_TRUE(refused(dims, R"({"nested":{"a":1}})"));  // flat values only
  EXPECT_TRUE(refused(dims, R"({"list":[1]})"));
  EXPECT_TRUE(refused(dims, "null"));

  field settings = make(type::object);
  EXPECT_EQ(encoded(settings, R"({"reserve":"5"})"), R"({"reserve":"5"})");
  EXPECT_TRUE(refused(settings, "{"));
  EXPECT_TRUE(refused(settings, "null"));
  settings.nullable = true;
  EXPECT_EQ(encoded(settings, "null"), "null");
}

TEST(ctl_encode, arrays_take_repeated_options_or_one_json_array) {
  static const field amount_item{.name = "amount", .t = type::amount};
  field thresholds = make(type::array, 0, 3);
  thresholds.items = &amount_item;
  const std::vector<std::string> repeated = {"5", "10.5"};
  auto v = encode_field(thresholds, repeated);
  ASSERT_TRUE(v) << v.error();
  EXPECT_EQ(json::serialize(*v), R"(["5","10.5"])");
  const std::vector<std::string> one_array = {R"(["5", 10])"};
  v = encode_field(thresholds, one_array);
  ASSERT_TRUE(v) << v.error();
  EXPECT_EQ(json::serialize(*v), R"(["5",10])");
  // Each repeated item is checked as its type.
  const std::vector<std::string> bad_item = {"5", "abc"};
  EXPECT_FALSE(encode_field(thresholds, bad_item));
  // At most `max` items.
  const std::vector<std::string> too_many = {"1", "2", "3", "4"};
  EXPECT_FALSE(encode_field(thresholds, too_many));
  const std::vector<std::string> broken = {"[1,"};
  EXPECT_FALSE(encode_field(thresholds, broken));

  static constexpr field charge_fields[] = {{.name = "operation", .t = type::operation}};
  static const field charge_item{.name = "charge", .t = type::object, .fields = charge_fields};
  field charges = make(type::array, 1, 100);
  charges.items = &charge_item;
  const std::vector<std::string> objects = {R"({"operation":"a"})", R"({"operation":"b"})"};
  v = encode_field(charges, objects);
  ASSERT_TRUE(v) << v.error();
  EXPECT_EQ(v->as_array().size(), 2u);
  const std::vector<std::string> not_objects = {R"([1, 2])"};
  EXPECT_FALSE(encode_field(charges, not_objects));
  const std::vector<std::string> empty_array = {"[]"};
  EXPECT_FALSE(encode_field(charges, empty_array));  // at least 1

  // A scalar field takes one occurrence.
  const std::vector<std::string> twice = {"1", "2"};
  EXPECT_FALSE(encode_field(make(type::amount), twice));
}

TEST(ctl_encode, a_body_is_built_as_json_from_the_fields_given) {
  static constexpr field fields[] = {
      {.name = "operation", .t = type::operation},   {.name = "reference", .t = type::string},
      {.name = "dimensions", .t = type::dimensions}, {.name = "urgent", .t = type::boolean},
      {.name = "amount", .t = type::amount},
  };
  std::vector<given_field> given = {
      {&fields[0], {"image.generate"}},
      {&fields[1], {"quote\" and \\ and \n newline, \"urgent\": true"}},
      {&fields[2], {R"({"model":"sdxl"})"}},
      {&fields[3], {"true"}},
      {&fields[4], {}},  // not given: left out
  };
  auto body = build_body(given);
  ASSERT_TRUE(body) << body.error();
  const json::value parsed = json::parse(json::serialize(*body));
  const json::object& o = parsed.as_object();
  EXPECT_EQ(o.size(), 4u);
  EXPECT_EQ(o.at("operation").as_string(), "image.generate");
  EXPECT_EQ(o.at("reference").as_string(), "quote\" and \\ and \n newline, \"urgent\": true");
  EXPECT_EQ(o.at("dimensions").at("model").as_string(), "sdxl");
  EXPECT_TRUE(o.at("urgent").as_bool());
  EXPECT_FALSE(o.contains("amount"));

  given[2].texts = {R"({}, "urgent": true)"};
  EXPECT_FALSE(build_body(given));
}

TEST(ctl_encode, path_parameters_and_query_values_are_percent_encoded) {
  EXPECT_EQ(percent_encode("alice"), "alice");
  EXPECT_EQ(percent_encode("org:1/x y"), "org%3A1%2Fx%20y");
  EXPECT_EQ(percent_encode("a-b.c_d~e"), "a-b.c_d~e");
  EXPECT_EQ(percent_encode("?#%&+"), "%3F%23%25%26%2B");
  EXPECT_EQ(percent_encode("\xC3\xA9"), "%C3%A9");

  static constexpr field path[] = {{.name = "id", .t = type::account_id}};
  static constexpr field query[] = {
      {.name = "limit", .t = type::integer, .min = 1, .max = 1000},
      {.name = "after", .t = type::string},
      {.name = "at", .t = type::time},
  };
  const api::endpoint ep{
      .name = "x", .path = "/v1/accounts/{id}/entries", .path_params = path, .query = query};
  const std::vector<std::string> id = {"org:1/x y"};
  std::vector<given_field> q = {{&query[0], {"5"}}, {&query[1], {"a&b=c"}}, {&query[2], {}}};
  auto target = build_target(ep, id, q);
  ASSERT_TRUE(target) << target.error();
  EXPECT_EQ(*target, "/v1/accounts/org%3A1%2Fx%20y/entries?limit=5&after=a%26b%3Dc");
  q[0].texts = {"0"};
  EXPECT_FALSE(build_target(ep, id, q));  // below the limit's minimum
  q[0].texts = {};
  q[1].texts = {};
  q[2].texts = {"2026-11-25T10:00:00Z"};
  EXPECT_EQ(build_target(ep, id, q).value(),
            "/v1/accounts/org%3A1%2Fx%20y/entries?at=2026-11-25T10%3A00%3A00Z");
  const std::vector<std::string> empty_id = {""};
  EXPECT_FALSE(build_target(ep, empty_id, {}));

  // Two parameters, a literal suffix after one.
  static constexpr field two[] = {{.name = "a"}, {.name = "b"}};
  const api::endpoint batch{.name = "y", .path = "/v1/{a}/x/{b}:batch", .path_params = two};
  const std::vector<std::string> ab = {"1", "2 3"};
  EXPECT_EQ(build_target(batch, ab, {}).value(), "/v1/1/x/2%203:batch");
}

TEST(ctl_encode, a_raw_body_must_be_json_and_is_sent_as_given) {
  EXPECT_EQ(load_raw_body(R"({ "amount" : "1" })").value(), R"({ "amount" : "1" })");
  EXPECT_FALSE(load_raw_body(R"({"amount": )"));
  creditd::testing::temp_dir dir;
  const std::string file = dir.file("body.json");
  std::ofstream(file) << R"({"operation":"x"})";
  EXPECT_EQ(load_raw_body("@" + file).value(), R"({"operation":"x"})");
  EXPECT_FALSE(load_raw_body("@" + dir.file("missing.json")));
}

TEST(ctl_encode, server_urls) {
  auto u = parse_server_url("http://127.0.0.1:8080");
  ASSERT_TRUE(u) << u.error();
  EXPECT_FALSE(u->https);
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, "8080");
  EXPECT_EQ(u->host_header, "127.0.0.1:8080");
  EXPECT_EQ(u->base_path, "");
  // A trailing slash is the same server.
  u = parse_server_url("http://127.0.0.1:8080/");
  ASSERT_TRUE(u) << u.error();
  EXPECT_EQ(u->base_path, "");
  // A base path is kept, without its trailing slash.
  u = parse_server_url("https://ledger.example.com/creditd/");
  ASSERT_TRUE(u) << u.error();
  EXPECT_TRUE(u->https);
  EXPECT_EQ(u->port, "443");
  EXPECT_EQ(u->host, "ledger.example.com");
  EXPECT_EQ(u->base_path, "/creditd");
  u = parse_server_url("http://[::1]:9000");
  ASSERT_TRUE(u) << u.error();
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->host_header, "[::1]:9000");
  EXPECT_EQ(parse_server_url("HTTP://h").value().port, "80");

  EXPECT_FALSE(parse_server_url("127.0.0.1:8080"));
  EXPECT_FALSE(parse_server_url("ftp://h"));
  EXPECT_FALSE(parse_server_url("http://h:8080?x=1"));
  EXPECT_FALSE(parse_server_url("http://h:8080/#top"));
  EXPECT_FALSE(parse_server_url("http://user:pw@h:8080"));
  EXPECT_FALSE(parse_server_url("http://h:port"));
  EXPECT_FALSE(parse_server_url("http://:8080"));
  EXPECT_FALSE(parse_server_url(""));
}

}  // namespace
}  // namespace ctl_encode_test_cpp
