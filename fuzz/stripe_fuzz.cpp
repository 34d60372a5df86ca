// libFuzzer target: the Stripe-Signature parser and verifier. The input's
// first line is the header, the rest the body. Whatever parses is within the
// limits and prints back to a header that parses the same; the verifier
// agrees with the parser; a body signed here for the parsed timestamp
// verifies, and one signed with another secret does not.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "billing/stripe_signature.hpp"

using namespace creditd::billing;

namespace {

std::string hex(const hmac_sha256& mac) {
  std::string out;
  char buf[3];
  for (std::uint8_t b : mac) {
    std::snprintf(buf, sizeof buf, "%02x", b);
    out += buf;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t nl = input.find('\n');
  const std::string_view header = input.substr(0, nl);
  const std::string_view body = nl == std::string_view::npos ? "" : input.substr(nl + 1);
  const std::string_view secret = "whsec_fuzz";

  auto parsed = parse_stripe_signature(header);
  auto verified = verify_stripe_signature(header, body, secret, 1492774577);
  if (!parsed) {
    if (verified || verified.error() != parsed.error()) std::abort();
    return 0;
  }
  if (header.size() > stripe_signature_header_bytes_max) std::abort();
  if (parsed->v1_count == 0 || parsed->v1_count > stripe_signatures_max) std::abort();
  if (parsed->timestamp_s < 0) std::abort();

  // Printed back, it parses to the same signatures.
  std::string again = "t=" + std::to_string(parsed->timestamp_s);
  for (std::size_t i = 0; i < parsed->v1_count; ++i)
    again += ",v1=" + hex(parsed->v1[i]);
  auto reparsed = parse_stripe_signature(again);
  if (!reparsed || reparsed->timestamp_s != parsed->timestamp_s ||
      reparsed->v1_count != parsed->v1_count || reparsed->v1 != parsed->v1) {
    std::abort();
  }
  // A verification succeeds only if one v1 is the expected signature.
  const hmac_sha256 want = stripe_expected_signature(secret, parsed->timestamp_s, body);
  bool present = false;
  for (std::size_t i = 0; i < parsed->v1_count; ++i)
    present = present || parsed->v1[i] == want;
  auto at_t = verify_stripe_signature(header, body, secret, parsed->timestamp_s);
  if (at_t.has_value() != present) std::abort();
  if (!at_t && at_t.error() != stripe_signature_error::no_matching_signature) std::abort();
  if (verified && !present) std::abort();

  // Signed here, it verifies; with another secret, it does not.
  const std::string good = "t=" + std::to_string(parsed->timestamp_s) + ",v1=" + hex(want);
  if (!verify_stripe_signature(good, body, secret, parsed->timestamp_s)) std::abort();
  if (verify_stripe_signature(good, body, "whsec_other", parsed->timestamp_s)) std::abort();
  return 0;
}
