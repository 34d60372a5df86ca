// Signatures of webhook deliveries: creditd's own header (Stripe's scheme)
// and the Standard Webhooks headers (standardwebhooks.com). Pure functions:
// no I/O, no clock (the timestamp is an input). Thread-safe: no shared state.
//
// Creditd-Signature: t=UNIX,v1=HEX, HEX = hex HMAC-SHA256(secret, "t.BODY"),
// the key being the secret's text as given (as Stripe's endpoint secrets).
// webhook-signature: v1,BASE64, BASE64 = base64 HMAC-SHA256(key,
// "id.timestamp.body"), the key being the base64-decoded part of a
// "whsec_" + base64 secret (the Standard Webhooks rule), or the secret's
// text when it is not of that form.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace creditd::webhooks {

// Standard base64 (RFC 4648, with '=' padding).
std::string base64_encode(std::string_view bytes);
// nullopt when `text` is not standard padded base64.
std::optional<std::string> base64_decode(std::string_view text);

inline constexpr std::string_view secret_prefix = "whsec_";

// The HMAC key of the Standard Webhooks signature for `secret`.
std::string standard_key(std::string_view secret);

// "t=UNIX,v1=HEX" for `body` signed at `timestamp_s`.
std::string creditd_signature(std::string_view secret, std::int64_t timestamp_s,
                              std::string_view body);

// "v1,BASE64" for message `id` signed at `timestamp_s`.
std::string standard_signature(std::string_view secret, std::string_view id,
                               std::int64_t timestamp_s, std::string_view body);

}  // namespace creditd::webhooks
