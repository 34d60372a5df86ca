// Webhook delivery signatures, against values computed outside this code:
// the Standard Webhooks specification's own example and `openssl dgst`.
// Then the pure endpoint rules: URLs, event lists, secrets, retry times.
#include <gtest/gtest.h>

#include <string>

#include "webhooks/endpoint.hpp"
#include "webhooks/signature.hpp"

namespace webhook_signature_test_cpp {  // unity builds: tests/CMakeLists.txt

using namespace creditd::webhooks;

namespace {

// printf '%s' '1700000000.{"id":"evt_1"}' | openssl dgst -sha256 -hmac 'whsec_test'
TEST(creditd_signature, is_hex_hmac_of_t_dot_body_keyed_with_the_secret_text) {
  EXPECT_EQ(creditd_signature("whsec_test", 1700000000, R"({"id":"evt_1"})"),
            "t=1700000000,v1=c89214b5b5da833daed6f0b8c5bb6bd58cea9022bd80ccc78230f3942d632925");
}

TEST(creditd_signature, changes_with_the_body_the_time_and_the_secret) {
  const std::string base = creditd_signature("whsec_test", 1700000000, "{}");
  EXPECT_NE(creditd_signature("whsec_test", 1700000000, "{} "), base);
  EXPECT_NE(creditd_signature("whsec_test", 1700000001, "{}"), base);
  EXPECT_NE(creditd_signature("whsec_tesu", 1700000000, "{}"), base);
}

// The example of the Standard Webhooks specification (standardwebhooks.com,
// spec/standard-webhooks.md), also checked with
//   key=$(printf MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw | base64 -d | xxd -p -c 256)
//   printf '%s' 'msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{"test": 2432232314}' |
//     openssl dgst -sha256 -mac HMAC -macopt hexkey:$key -binary | base64
TEST(standard_signature, matches_the_specifications_example) {
  EXPECT_EQ(
      standard_signature("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
                         1614265330, R"({"test": 2432232314})"),
      "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}

TEST(standard_signature, keys_with_the_decoded_secret_or_else_the_text) {
  EXPECT_EQ(standard_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            *base64_decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
  EXPECT_EQ(standard_key("plain-secret-0123456789"), "plain-secret-0123456789");
  EXPECT_EQ(standard_key("whsec_not base64!"), "whsec_not base64!");
}

TEST(base64, round_trips_and_refuses_what_is_not_base64) {
  for (std::string s : {"", "a", "ab", "abc", "abcd", "\xff\x00\x10 binary"}) {
    EXPECT_EQ(base64_decode(base64_encode(s)), s) << s;
  }
  EXPECT_EQ(base64_encode("abcd"), "YWJjZA==");
  EXPECT_EQ(base64_encode("abcde"), "YWJjZGU=");
  EXPECT_FALSE(base64_decode("YWJ"));
  EXPECT_FALSE(base64_decode("YW=j"));
  EXPECT_FALSE(base64_decode("YW*j"));
}

TEST(endpoint_url, takes_http_and_https_only) {
  auto u = parse_url("https://hooks.example.com/creditd?x=1");
  ASSERT_TRUE(u);
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->host, "hooks.example.com");
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->target, "/creditd?x=1");
  u = parse_url("http://127.0.0.1:8081");
  ASSERT_TRUE(u);
  EXPECT_FALSE(u->tls);
  EXPECT_EQ(u->port, 8081);
  EXPECT_EQ(u->target, "/");
  u = parse_url("http://[::1]:9/h");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "::1");
  for (const char* bad :
       {"ftp://x/", "http://", "http://:80/", "http://a b/", "http://u:p@h/", "http://h:0/",
        "http://h:65536/", "http://h:x/", "http://h/#f", "javascript:alert(1)", "http://h:/"}) {
    std::string problem;
    EXPECT_FALSE(parse_url(bad, &problem)) << bad;
    EXPECT_FALSE(problem.empty()) << bad;
  }
  EXPECT_FALSE(parse_url("http://h/" + std::string(url_bytes_max, 'a')));
}

TEST(endpoint_events, known_types_or_star) {
  EXPECT_EQ(check_event_list({"*"}), "");
  EXPECT_EQ(check_event_list({"balance.low", "purchase.completed"}), "");
  EXPECT_NE(check_event_list({}), "");
  EXPECT_NE(check_event_list({"balance.lowish"}), "");
  EXPECT_TRUE(takes({"*"}, "lot.expired"));
  EXPECT_TRUE(takes({"balance.low", "lot.expired"}, "lot.expired"));
  EXPECT_FALSE(takes({"balance.low"}, "lot.expired"));
}

TEST(endpoint_secret, bounds_and_hint) {
  EXPECT_EQ(check_secret("whsec_0123456789abcdef"), "");
  EXPECT_NE(check_secret("short"), "");
  EXPECT_NE(check_secret("has a space in it......"), "");
  EXPECT_EQ(secret_hint("whsec_0123456789abcdef"), "whsec_****cdef");
  EXPECT_EQ(secret_hint("0123456789abcdefgh"), "****efgh");
}

TEST(retry_delay, doubles_from_a_second_to_a_day_with_jitter) {
  EXPECT_EQ(retry_delay(1, 0.999999) / 1000, 999);
  EXPECT_EQ(retry_delay(1, 0), 500'000);
  EXPECT_EQ(retry_delay(2, 0), 1'000'000);
  EXPECT_EQ(retry_delay(11, 0), 512'000'000);
  EXPECT_EQ(retry_delay(40, 0), retry_delay_us_max / 2);
  EXPECT_LE(retry_delay(1000, 0.999999), retry_delay_us_max);
  EXPECT_GT(retry_delay(1000, 0.999999), retry_delay_us_max / 1000 * 999);
}

TEST(record_outcome, success_moves_the_cursor_failures_back_off_then_disable) {
  endpoint e;
  const creditd::ledger::time_us t0 = 1'000'000'000'000;
  EXPECT_EQ(record_outcome(e, 5, false, t0, 0), t0 + 500'000);
  EXPECT_EQ(e.cursor, 0u);
  EXPECT_EQ(e.attempt, 1);
  EXPECT_EQ(e.failing_since, t0);
  EXPECT_EQ(record_outcome(e, 5, false, t0 + 1, 0), t0 + 1 + 1'000'000);
  EXPECT_EQ(e.failing_since, t0);
  EXPECT_EQ(record_outcome(e, 5, true, t0 + 2, 0), 0);
  EXPECT_EQ(e.cursor, 5u);
  EXPECT_EQ(e.attempt, 0);
  EXPECT_EQ(e.failing_since, 0);
  // Failing for just under 3 days keeps it; reaching 3 days disables it.
  record_outcome(e, 6, false, t0, 0);
  record_outcome(e, 6, false, t0 + failing_us_max - 1, 0);
  EXPECT_TRUE(e.enabled);
  EXPECT_EQ(record_outcome(e, 6, false, t0 + failing_us_max, 0), 0);
  EXPECT_FALSE(e.enabled);
  EXPECT_EQ(e.disabled_at, t0 + failing_us_max);
  EXPECT_EQ(e.cursor, 5u);
}

}  // namespace
}  // namespace webhook_signature_test_cpp
