// A webhook endpoint's configuration and delivery state, and the pure rules
// about them: which URLs and event lists are valid, which events an
// endpoint takes, and when a failed delivery is retried. No I/O, no clock
// (`now` is an input). Thread-safe: no shared state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ledger/time.hpp"

namespace creditd::webhooks {

// Limits.
inline constexpr std::size_t endpoints_max = 100;
inline constexpr std::size_t url_bytes_max = 2048;
inline constexpr std::size_t event_types_per_endpoint_max = 32;
inline constexpr std::size_t secret_bytes_min = 16;
inline constexpr std::size_t secret_bytes_max = 256;
// The first retry comes about 1 s after a failure; each doubles, up to a day.
inline constexpr ledger::time_us retry_delay_us_min = 1'000'000;
inline constexpr ledger::time_us retry_delay_us_max = 86'400'000'000;
// An endpoint failing continuously this long is disabled.
inline constexpr ledger::time_us failing_us_max = 3 * 86'400'000'000;
// Attempts kept per endpoint (GET .../deliveries).
inline constexpr std::size_t deliveries_kept_max = 100;

// A URL split into what a client needs.
struct url_parts {
  bool tls = false;
  std::string host;  // a name, an IPv4 address or an IPv6 address without brackets
  std::uint16_t port = 0;
  std::string target;  // path and query, "/" at least
};

// Parses an absolute http:// or https:// URL without user info or fragment.
// Errors: a sentence saying what is wrong.
std::optional<url_parts> parse_url(std::string_view url, std::string* problem = nullptr);

// "" when `events` is a valid list (1 to 32 known event types, or "*"), else
// what is wrong.
std::string check_event_list(const std::vector<std::string>& events);
// "" when `secret` is a usable secret (16-256 printable ASCII bytes, no
// spaces), else what is wrong.
std::string check_secret(std::string_view secret);
// Whether an endpoint taking `events` takes an event of type `type`.
bool takes(const std::vector<std::string>& events, std::string_view type);
// "whsec_...": the secret's prefix and last 4 characters, the rest starred.
std::string secret_hint(std::string_view secret);

struct endpoint {
  std::string id;
  std::string url;
  std::vector<std::string> events;
  std::string secret;
  bool enabled = true;
  ledger::time_us created_at = 0;
  ledger::time_us updated_at = 0;
  // Delivery state: every event with seq <= cursor was delivered (or not
  // taken); the next is retried for the attempt-th time at next_attempt_at
  // (0: at once).
  std::uint64_t cursor = 0;
  std::int64_t attempt = 0;  // failed attempts of the event after the cursor
  ledger::time_us next_attempt_at = 0;
  ledger::time_us failing_since = 0;  // 0: the last attempt succeeded
  ledger::time_us disabled_at = 0;    // 0: not disabled by failures
  std::string disabled_reason;
};

// One delivery attempt, as GET .../deliveries shows it.
struct delivery {
  std::int64_t id = 0;  // increasing per store
  std::string endpoint;
  std::uint64_t seq = 0;
  std::int64_t attempt = 1;  // 1 for the first
  std::int64_t status = 0;   // the HTTP status, 0 when none came
  std::string error;         // "" or what failed (connect, timeout, TLS, ...)
  std::int64_t latency_ms = 0;
  ledger::time_us at = 0;
  ledger::time_us next_retry_at = 0;  // 0: none (delivered, or disabled)
};

// The delay before retry number `failures` (1 after the first failure):
// 1 s doubled per failure, at most a day, times a jitter factor in
// [0.5, 1] taken from `jitter` in [0, 1).
ledger::time_us retry_delay(std::int64_t failures, double jitter);

// What an attempt's outcome does to `e` at `now` (the jitter as above):
// a 2xx moves the cursor to `seq` and clears the failures; a failure counts
// one more attempt and schedules the next, or disables the endpoint when it
// has been failing for 3 days. Returns the next retry time (0: none).
ledger::time_us record_outcome(endpoint& e, std::uint64_t seq, bool success, ledger::time_us now,
                               double jitter);

}  // namespace creditd::webhooks
