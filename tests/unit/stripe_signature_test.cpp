// The Stripe-Signature parser and verifier: Stripe's documented computation
// (HMAC-SHA256 over "t.body", hex), checked against OpenSSL's HMAC computed
// here and against a value computed outside this code (`openssl dgst`), then
// every refusal.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cctype>
#include <cstdint>
#include <cstdio>
#include <string>
#include <tuple>
#include <vector>

#include "billing/stripe_signature.hpp"
#include "expected_check.hpp"

namespace stripe_signature_test_cpp {  // unity builds: tests/CMakeLists.txt

using namespace creditd::billing;
using creditd::testing::error_of;

namespace {

const std::string secret = "whsec_test_secret";
const std::string body = R"({"id":"evt_1","type":"checkout.session.completed"})";
constexpr std::int64_t t0 = 1492774577;

// hex HMAC-SHA256(key, data), computed with OpenSSL directly.
std::string hmac_hex(const std::string& key, const std::string& data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &length);
  std::string out;
  char buf[3];
  for (unsigned i = 0; i < length; ++i) {
    std::snprintf(buf, sizeof buf, "%02x", mac[i]);
    out += buf;
  }
  return out;
}

// The header Stripe would send for `payload` at `t`, signed with `key`.
std::string sign(const std::string& key, std::int64_t t, const std::string& payload) {
  return "t=" + std::to_string(t) + ",v1=" + hmac_hex(key, std::to_string(t) + "." + payload);
}

}  // namespace

TEST(stripe_signature, stripes_documented_computation_verifies) {
  // `printf '%s' '1492774577.<body>' | openssl dgst -sha256 -hmac whsec_test_secret`
  const std::string known = "dc9eef2b05266028c63c8e182a8e263064a8ba937b37f39174c7ca4d5bddb867";
  EXPECT_EQ(hmac_hex(secret, "1492774577." + body), known);
  const std::string header = "t=1492774577,v1=" + known +
                             ",v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39";
  EXPECT_TRUE(verify_stripe_signature(header, body, secret, t0).has_value());
  EXPECT_TRUE(verify_stripe_signature(sign(secret, t0, body), body, secret, t0 + 10).has_value());

  auto parsed = parse_stripe_signature(header);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->timestamp_s, t0);
  ASSERT_EQ(parsed->v1_count, 1u);
  EXPECT_EQ(parsed->v1[0], stripe_expected_signature(secret, t0, body));
  // Upper-case hex is the same signature.
  std::string upper = "t=1492774577,v1=";
  for (char ch : known)
    upper += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  EXPECT_TRUE(verify_stripe_signature(upper, body, secret, t0).has_value());
}

TEST(stripe_signature, any_v1_may_match_during_a_secret_rotation) {
  const std::string old_secret = "whsec_old";
  const std::string old_sig = hmac_hex(old_secret, std::to_string(t0) + "." + body);
  const std::string new_sig = hmac_hex(secret, std::to_string(t0) + "." + body);
  const std::string both = "t=" + std::to_string(t0) + ",v1=" + old_sig + ",v1=" + new_sig;
  EXPECT_TRUE(verify_stripe_signature(both, body, secret, t0).has_value());
  EXPECT_TRUE(verify_stripe_signature(both, body, old_secret, t0).has_value());
  EXPECT_EQ(error_of(verify_stripe_signature(both, body, "whsec_other", t0)),
            stripe_signature_error::no_matching_signature);
  // The order of items does not matter.
  const std::string reordered = "v1=" + new_sig + ",t=" + std::to_string(t0);
  EXPECT_TRUE(verify_stripe_signature(reordered, body, secret, t0).has_value());
}

TEST(stripe_signature, wrong_secret_or_tampered_body_does_not_match) {
  const std::string header = sign(secret, t0, body);
  EXPECT_EQ(error_of(verify_stripe_signature(header, body, "whsec_wrong", t0)),
            stripe_signature_error::no_matching_signature);
  EXPECT_EQ(error_of(verify_stripe_signature(header, body, "", t0)),
            stripe_signature_error::no_matching_signature);
  std::string tampered = body;
  tampered[8] = '2';  // evt_1 -> evt_2
  EXPECT_EQ(error_of(verify_stripe_signature(header, tampered, secret, t0)),
            stripe_signature_error::no_matching_signature);
  EXPECT_EQ(error_of(verify_stripe_signature(header, body + " ", secret, t0)),
            stripe_signature_error::no_matching_signature);
  EXPECT_EQ(error_of(verify_stripe_signature(header, "", secret, t0)),
            stripe_signature_error::no_matching_signature);
  // The timestamp is part of what is signed: another t with the same v1 fails.
  const std::string moved = "t=" + std::to_string(t0 + 1) + header.substr(header.find(','));
  EXPECT_EQ(error_of(verify_stripe_signature(moved, body, secret, t0)),
            stripe_signature_error::no_matching_signature);
  // One flipped hex digit of the signature.
  std::string flipped = header;
  flipped.back() = flipped.back() == '0' ? '1' : '0';
  EXPECT_EQ(error_of(verify_stripe_signature(flipped, body, secret, t0)),
            stripe_signature_error::no_matching_signature);
}

TEST(stripe_signature, timestamps_outside_the_tolerance_are_refused) {
  const std::string header = sign(secret, t0, body);
  EXPECT_TRUE(verify_stripe_signature(header, body, secret, t0 + 300).has_value());
  EXPECT_TRUE(verify_stripe_signature(header, body, secret, t0 - 300).has_value());
  EXPECT_EQ(error_of(verify_stripe_signature(header, body, secret, t0 + 301)),
            stripe_signature_error::outside_tolerance);
  EXPECT_EQ(error_of(verify_stripe_signature(header, body, secret, t0 - 301)),
            stripe_signature_error::outside_tolerance);
  EXPECT_EQ(error_of(verify_stripe_signature(header, body, secret, t0 + 86400)),
            stripe_signature_error::outside_tolerance);
  // A tolerance of its own, and the extremes of int64 without overflow.
  EXPECT_TRUE(verify_stripe_signature(header, body, secret, t0 + 3600, 3600).has_value());
  EXPECT_EQ(error_of(verify_stripe_signature(header, body, secret, t0 + 2, 1)),
            stripe_signature_error::outside_tolerance);
  EXPECT_EQ(error_of(verify_stripe_signature(header, body, secret, INT64_MIN)),
            stripe_signature_error::outside_tolerance);
  const std::string far = sign(secret, INT64_MAX, body);
  EXPECT_EQ(error_of(verify_stripe_signature(far, body, secret, INT64_MIN)),
            stripe_signature_error::outside_tolerance);
  EXPECT_TRUE(verify_stripe_signature(far, body, secret, INT64_MAX).has_value());
  // The tolerance is checked before the signature: an old replay of a
  // genuine request is refused as old.
  EXPECT_EQ(
      error_of(verify_stripe_signature(sign("whsec_wrong", t0, body), body, secret, t0 + 301)),
      stripe_signature_error::outside_tolerance);
}

TEST(stripe_signature, malformed_headers_are_refused) {
  const std::string v1 = hmac_hex(secret, std::to_string(t0) + "." + body);
  std::string sixteen = "t=1492774577", seventeen;
  for (int i = 0; i < 16; ++i)
    sixteen += ",v1=" + v1;
  seventeen = sixteen + ",v1=" + v1;
  std::string long_header = "t=1492774577,v1=" + v1 + ",v0=";
  long_header += std::string(stripe_signature_header_bytes_max + 1 - long_header.size(), 'a');
  const auto malformed = stripe_signature_error::malformed_header;
  const auto no_v1 = stripe_signature_error::no_v1_signature;
  const std::vector<std::tuple<std::string, std::string, stripe_signature_error>> cases = {
      {"empty", "", malformed},
      {"no items", ",", malformed},
      {"no t", "v1=" + v1, malformed},
      {"t empty", "t=,v1=" + v1, malformed},
      {"t not a number", "t=abc,v1=" + v1, malformed},
      {"t negative", "t=-1,v1=" + v1, malformed},
      {"t with a plus", "t=+1492774577,v1=" + v1, malformed},
      {"t leading zero", "t=01492774577,v1=" + v1, malformed},
      {"t fractional", "t=1492774577.5,v1=" + v1, malformed},
      {"t overflows", "t=99999999999999999999,v1=" + v1, malformed},
      {"t twice", "t=1492774577,t=1492774577,v1=" + v1, malformed},
      {"item without =", "t=1492774577,v1" + v1, malformed},
      {"empty key", "t=1492774577,=" + v1, malformed},
      {"empty item", "t=1492774577,,v1=" + v1, malformed},
      {"trailing comma", "t=1492774577,v1=" + v1 + ",", malformed},
      {"spaces", "t=1492774577, v1=" + v1, malformed},
      {"v1 short", "t=1492774577,v1=" + v1.substr(2), malformed},
      {"v1 long", "t=1492774577,v1=" + v1 + "00", malformed},
      {"v1 not hex", "t=1492774577,v1=" + std::string(64, 'g'), malformed},
      {"v1 empty", "t=1492774577,v1=", malformed},
      {"17 signatures", seventeen, malformed},
      {"over 8 KiB", long_header, malformed},
      {"only t", "t=1492774577", no_v1},
      {"only v0", "t=1492774577,v0=" + v1, no_v1},
      {"V1 is not v1", "t=1492774577,V1=" + v1, no_v1},
  };
  for (const auto& [what, header, want] : cases) {
    auto parsed = parse_stripe_signature(header);
    ASSERT_FALSE(parsed.has_value()) << what;
    EXPECT_EQ(parsed.error(), want) << what;
    auto verified = verify_stripe_signature(header, body, secret, t0);
    ASSERT_FALSE(verified.has_value()) << what;
    EXPECT_EQ(verified.error(), want) << what;
    EXPECT_FALSE(to_string(want).empty());
  }
  // At the limits: 16 signatures and a header of exactly 8 KiB are fine.
  EXPECT_TRUE(verify_stripe_signature(sixteen, body, secret, t0).has_value());
  long_header.pop_back();
  ASSERT_EQ(long_header.size(), stripe_signature_header_bytes_max);
  EXPECT_TRUE(verify_stripe_signature(long_header, body, secret, t0).has_value());
}
}  // namespace stripe_signature_test_cpp
