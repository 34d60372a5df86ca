#include "billing/stripe_signature.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <charconv>
#include <string>

#include "util/assert.hpp"

namespace creditd::billing {

std::string_view to_string(stripe_signature_error e) {
  switch (e) {
    case stripe_signature_error::malformed_header:
      return "the Stripe-Signature header is malformed";
    case stripe_signature_error::no_v1_signature:
      return "the Stripe-Signature header has no v1 signature";
    case stripe_signature_error::outside_tolerance:
      return "the Stripe-Signature timestamp is outside the tolerance";
    case stripe_signature_error::no_matching_signature:
      return "no Stripe-Signature v1 signature matches the body";
  }
  return "unknown Stripe-Signature error";
}

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool decode_hex(std::string_view text, hmac_sha256& out) {
  if (text.size() != 2 * out.size()) return false;
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int hi = hex_digit(text[2 * i]), lo = hex_digit(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return true;
}

// Item names are ASCII letters, digits and '_' ("t", "v1", "v0").
bool valid_key(std::string_view key) {
  if (key.empty()) return false;
  for (char c : key) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

// Decimal seconds, no sign, no leading zero (so the text Stripe signed is
// the number's own text).
bool parse_timestamp(std::string_view text, std::int64_t& out) {
  if (text.empty() || (text.size() > 1 && text[0] == '0')) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && p == text.data() + text.size();
}

}  // namespace

std::expected<stripe_signature, stripe_signature_error> parse_stripe_signature(
    std::string_view header) {
  const auto malformed = std::unexpected(stripe_signature_error::malformed_header);
  if (header.empty() || header.size() > stripe_signature_header_bytes_max) return malformed;
  stripe_signature out;
  bool have_t = false;
  while (true) {
    const std::size_t comma = header.find(',');
    const std::string_view item = header.substr(0, comma);
    const std::size_t eq = item.find('=');
    if (eq == std::string_view::npos) return malformed;
    const std::string_view key = item.substr(0, eq), value = item.substr(eq + 1);
    if (!valid_key(key)) return malformed;
    if (key == "t") {
      if (have_t || !parse_timestamp(value, out.timestamp_s)) return malformed;
      have_t = true;
    } else if (key == "v1") {
      if (out.v1_count == stripe_signatures_max) return malformed;
      if (!decode_hex(value, out.v1[out.v1_count])) return malformed;
      ++out.v1_count;
    }
    // Other schemes (v0, ...) are not checked.
    if (comma == std::string_view::npos) break;
    header.remove_prefix(comma + 1);
  }
  if (!have_t) return malformed;
  if (out.v1_count == 0) return std::unexpected(stripe_signature_error::no_v1_signature);
  return out;
}

hmac_sha256 stripe_expected_signature(std::string_view secret, std::int64_t timestamp_s,
                                      std::string_view body) {
  std::string payload = std::to_string(timestamp_s);
  payload.reserve(payload.size() + 1 + body.size());
  payload += '.';
  payload.append(body);
  hmac_sha256 mac{};
  unsigned int length = 0;
  const unsigned char* r = HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
                                reinterpret_cast<const unsigned char*>(payload.data()),
                                payload.size(), mac.data(), &length);
  CREDITD_ASSERT(r != nullptr && length == mac.size());
  return mac;
}

std::expected<void, stripe_signature_error> verify_stripe_signature(std::string_view header,
                                                                    std::string_view body,
                                                                    std::string_view secret,
                                                                    std::int64_t now_s,
                                                                    std::int64_t tolerance_s) {
  auto sig = parse_stripe_signature(header);
  if (!sig) return std::unexpected(sig.error());
  CREDITD_ASSERT(tolerance_s >= 0);
  // Both ways: a timestamp from the future is as suspect as an old one. The
  // distance is taken in unsigned arithmetic, where it cannot overflow.
  using u64 = std::uint64_t;
  const std::int64_t t = sig->timestamp_s;
  const u64 tolerance = static_cast<u64>(tolerance_s);
  const bool late = now_s > t && static_cast<u64>(now_s) - static_cast<u64>(t) > tolerance;
  const bool early = t > now_s && static_cast<u64>(t) - static_cast<u64>(now_s) > tolerance;
  if (late || early) return std::unexpected(stripe_signature_error::outside_tolerance);
  const hmac_sha256 want = stripe_expected_signature(secret, sig->timestamp_s, body);
  bool match = false;
  for (std::size_t i = 0; i < sig->v1_count; ++i)
    match |= CRYPTO_memcmp(want.data(), sig->v1[i].data(), want.size()) == 0;
  if (!match) return std::unexpected(stripe_signature_error::no_matching_signature);
  return {};
}

}  // namespace creditd::billing
