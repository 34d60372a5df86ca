// Stripe webhook signatures (the `Stripe-Signature` header): a parser and a
// verifier. Pure functions, no I/O and no clock: `now` is an input.
//
// Stripe's scheme: the header is `t=UNIX,v1=HEX,v1=HEX,v0=HEX,...`; the
// signed payload is the timestamp's decimal text, ".", and the raw body; v1
// is hex HMAC-SHA256(endpoint secret, payload). A request is genuine when one
// v1 matches (compared in constant time) and the timestamp is within the
// tolerance of `now`. Other schemes (v0, test-mode extras) are skipped.
// Thread-safe: no shared state.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <string_view>

namespace creditd::billing {

// Limits: a longer header or more v1 signatures is malformed.
inline constexpr std::size_t stripe_signature_header_bytes_max = 8 << 10;
inline constexpr std::size_t stripe_signatures_max = 16;
inline constexpr std::int64_t stripe_tolerance_seconds_default = 300;

enum class stripe_signature_error {
  malformed_header,       // not `name=value` items (names of [A-Za-z0-9_]), no `t` or a bad
                          // or repeated one, a v1 not 64 hex digits, a header over 8 KiB or
                          // more than 16 v1 signatures
  no_v1_signature,        // well formed, but no signature of scheme v1
  outside_tolerance,      // |now - t| is more than the tolerance
  no_matching_signature,  // no v1 is the HMAC of this body with this secret
};
std::string_view to_string(stripe_signature_error e);

using hmac_sha256 = std::array<std::uint8_t, 32>;

struct stripe_signature {
  std::int64_t timestamp_s = 0;
  std::array<hmac_sha256, stripe_signatures_max> v1{};  // the first v1_count, in header order
  std::size_t v1_count = 0;
};

// Parses a header. Errors: malformed_header, no_v1_signature.
std::expected<stripe_signature, stripe_signature_error> parse_stripe_signature(
    std::string_view header);

// HMAC-SHA256(secret, timestamp "." body): what a v1 signature must be.
hmac_sha256 stripe_expected_signature(std::string_view secret, std::int64_t timestamp_s,
                                      std::string_view body);

// Parses `header` and checks it against `body`, `secret` and `now_s`
// (seconds since the epoch). Success: the body is Stripe's, signed within
// the tolerance. Errors: every stripe_signature_error.
std::expected<void, stripe_signature_error> verify_stripe_signature(
    std::string_view header, std::string_view body, std::string_view secret, std::int64_t now_s,
    std::int64_t tolerance_s = stripe_tolerance_seconds_default);

}  // namespace creditd::billing
