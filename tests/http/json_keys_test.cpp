// parse_json's duplicate-key check: found wherever the two keys sit, and
// O(n log n) (counted in key comparisons, not timed) on an object with many
// keys.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "http/json.hpp"

namespace json_keys_test_cpp {  // unity builds: tests/CMakeLists.txt

using creditd::http::has_duplicate_key;
using creditd::http::json_error;
using creditd::http::parse_json;

namespace {

// {"k0":0,"k1":1,...} with `n` distinct keys, then `extra` appended inside.
std::string object_with_keys(std::size_t n, const std::string& extra = "") {
  std::string out = "{";
  for (std::size_t i = 0; i < n; ++i) {
    if (i) out += ',';
    out += "\"k" + std::to_string(i) + "\":" + std::to_string(i % 10);
  }
  out += extra;
  out += '}';
  return out;
}

const std::string duplicate_message = "the JSON body has a duplicate key";

}  // namespace

TEST(json_keys, duplicates_are_found_at_the_first_and_last_positions) {
  for (std::size_t n : {2u, 3u, 8u, 9u, 100u, 10000u - 1}) {
    // The first key repeated as the last one.
    json_error error;
    EXPECT_FALSE(parse_json(object_with_keys(n, ",\"k0\":1"), error)) << n;
    EXPECT_EQ(error.message, duplicate_message) << n;
    // The last two keys equal.
    const std::string last = "\"k" + std::to_string(n - 1) + "\"";
    error = {};
    EXPECT_FALSE(parse_json(object_with_keys(n, "," + last + ":2"), error)) << n;
    EXPECT_EQ(error.message, duplicate_message) << n;
    // The first two keys equal.
    std::string body = object_with_keys(n);
    body.insert(1, "\"k0\":5,");
    error = {};
    EXPECT_FALSE(parse_json(body, error)) << n;
    EXPECT_EQ(error.message, duplicate_message) << n;
    // Distinct keys pass.
    error = {};
    auto v = parse_json(object_with_keys(n), error);
    ASSERT_TRUE(v) << n << ": " << error.message;
    EXPECT_EQ(v->fields.size(), n);
  }
}

TEST(json_keys, duplicates_in_nested_objects_are_found) {
  json_error error;
  EXPECT_FALSE(parse_json(R"({"a":{"x":1,"y":2,"x":3},"b":1})", error));
  EXPECT_EQ(error.message, duplicate_message);
  error = {};
  EXPECT_FALSE(parse_json("{\"a\":[" + object_with_keys(50, ",\"k0\":1") + "]}", error));
  EXPECT_EQ(error.message, duplicate_message);
  // The same key in sibling objects is no duplicate.
  error = {};
  EXPECT_TRUE(parse_json(R"({"a":{"x":1},"b":{"x":2},"x":3})", error)) << error.message;
  // Keys equal only up to case or escapes: "\u0078" is "x".
  error = {};
  EXPECT_TRUE(parse_json(R"({"x":1,"X":2})", error)) << error.message;
  EXPECT_FALSE(parse_json(R"({"x":1,"\u0078":2})", error));
  EXPECT_EQ(error.message, duplicate_message);
}

TEST(json_keys, the_check_is_n_log_n_in_comparisons) {
  const std::size_t n = 50000;
  std::vector<std::string> storage;
  storage.reserve(n);
  for (std::size_t i = 0; i < n; ++i)
    storage.push_back("key_" + std::to_string(i * 7919 % n));
  std::vector<std::string_view> keys(storage.begin(), storage.end());
  std::size_t comparisons = 0;
  auto counting_less = [&comparisons](std::string_view a, std::string_view b) {
    ++comparisons;
    return a < b;
  };
  EXPECT_FALSE(has_duplicate_key(keys, counting_less));
  // A quadratic check makes n(n-1)/2 = 1.25e9 comparisons here.
  const double bound = 4.0 * n * std::log2(static_cast<double>(n));  // 3.1e6
  EXPECT_LT(static_cast<double>(comparisons), bound) << comparisons;

  std::vector<std::string_view> with_duplicate(storage.begin(), storage.end());
  with_duplicate.push_back(storage.front());
  comparisons = 0;
  EXPECT_TRUE(has_duplicate_key(with_duplicate, counting_less));
  EXPECT_LT(static_cast<double>(comparisons), bound) << comparisons;
}

TEST(json_keys, an_object_with_50000_keys_under_a_mebibyte_is_refused) {
  const std::string body = object_with_keys(50000);
  ASSERT_LT(body.size(), std::size_t{1} << 20);
  json_error error;
  EXPECT_FALSE(parse_json(body, error));
  EXPECT_NE(error.message.find("not valid JSON"), std::string::npos) << error.message;
  // The largest object accepted, 10,000 keys, parses; with a duplicate at
  // its end it is refused as a duplicate.
  error = {};
  EXPECT_TRUE(parse_json(object_with_keys(10000), error)) << error.message;
  EXPECT_FALSE(parse_json(object_with_keys(9999, ",\"k5000\":1"), error));
  EXPECT_EQ(error.message, duplicate_message);
}
}  // namespace json_keys_test_cpp
