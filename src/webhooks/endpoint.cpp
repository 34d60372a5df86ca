#include "webhooks/endpoint.hpp"

#include <algorithm>
#include <charconv>

#include "ledger/events.hpp"
#include "util/assert.hpp"
#include "webhooks/signature.hpp"

namespace creditd::webhooks {

namespace {

std::optional<url_parts> refuse(std::string* problem, std::string_view why) {
  if (problem) *problem = std::string(why);
  return std::nullopt;
}

bool host_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_';
}

}  // namespace

std::optional<url_parts> parse_url(std::string_view url, std::string* problem) {
  if (url.empty() || url.size() > url_bytes_max)
    return refuse(problem, "url must be 1 to 2048 bytes");
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f)
      return refuse(problem, "url must be printable ASCII without spaces");
  }
  url_parts out;
  std::string_view rest;
  if (url.starts_with("http://")) {
    rest = url.substr(7);
  } else if (url.starts_with("https://")) {
    out.tls = true;
    rest = url.substr(8);
  } else {
    return refuse(problem, "url must start with http:// or https://");
  }
  if (rest.find('#') != std::string_view::npos)
    return refuse(problem, "url may not have a fragment");
  const std::size_t slash = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, slash);
  out.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (out.target.front() == '?') out.target.insert(out.target.begin(), '/');
  if (authority.find('@') != std::string_view::npos)
    return refuse(problem, "url may not carry a user or password");
  std::string_view port_text;
  if (authority.starts_with('[')) {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return refuse(problem, "url has a bad IPv6 host");
    out.host = std::string(authority.substr(1, close - 1));
    if (out.host.empty() ||
        out.host.find_first_not_of("0123456789abcdefABCDEF:.") != std::string::npos)
      return refuse(problem, "url has a bad IPv6 host");
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return refuse(problem, "url has a bad port");
      port_text = after.substr(1);
    }
  } else {
    const std::size_t colon = authority.find(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
    if (out.host.empty() || out.host.size() > 253 ||
        !std::all_of(out.host.begin(), out.host.end(), host_char))
      return refuse(problem, "url must name a host");
  }
  out.port = out.tls ? 443 : 80;
  if (!port_text.empty() || (authority.ends_with(':'))) {
    unsigned v = 0;
    auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), v);
    if (port_text.empty() || ec != std::errc{} || p != port_text.data() + port_text.size() ||
        v == 0 || v > 65535)
      return refuse(problem, "url has a bad port");
    out.port = static_cast<std::uint16_t>(v);
  }
  return out;
}

std::string check_event_list(const std::vector<std::string>& events) {
  if (events.empty() || events.size() > event_types_per_endpoint_max)
    return "events must list 1 to 32 event types, or \"*\"";
  for (const std::string& e : events) {
    if (e == "*") continue;
    if (!ledger::parse_event_type(e)) return "events names an unknown event type: " + e;
  }
  return "";
}

std::string check_secret(std::string_view secret) {
  if (secret.size() < secret_bytes_min || secret.size() > secret_bytes_max)
    return "secret must be 16 to 256 bytes";
  for (char c : secret) {
    if (c <= 0x20 || c >= 0x7f) return "secret must be printable ASCII without spaces";
  }
  return "";
}

bool takes(const std::vector<std::string>& events, std::string_view type) {
  return std::any_of(events.begin(), events.end(),
                     [&](const std::string& e) { return e == "*" || e == type; });
}

std::string secret_hint(std::string_view secret) {
  const std::size_t shown = secret.starts_with(secret_prefix) ? secret_prefix.size() : 0;
  if (secret.size() <= shown + 4) return std::string(secret.substr(0, shown)) + "****";
  return std::string(secret.substr(0, shown)) + "****" +
         std::string(secret.substr(secret.size() - 4));
}

ledger::time_us retry_delay(std::int64_t failures, double jitter) {
  CREDITD_ASSERT(failures >= 1);
  CREDITD_ASSERT(jitter >= 0 && jitter < 1);
  ledger::time_us d = retry_delay_us_min;
  for (std::int64_t i = 1; i < failures && d < retry_delay_us_max; ++i)
    d *= 2;
  d = std::min(d, retry_delay_us_max);
  return static_cast<ledger::time_us>(static_cast<double>(d) * (0.5 + jitter / 2));
}

ledger::time_us record_outcome(endpoint& e, std::uint64_t seq, bool success, ledger::time_us now,
                               double jitter) {
  if (success) {
    e.cursor = std::max(e.cursor, seq);
    e.attempt = 0;
    e.next_attempt_at = 0;
    e.failing_since = 0;
    return 0;
  }
  ++e.attempt;
  if (e.failing_since == 0) e.failing_since = now;
  if (now - e.failing_since >= failing_us_max) {
    e.enabled = false;
    e.disabled_at = now;
    e.disabled_reason = "failing for 3 days";
    e.next_attempt_at = 0;
    return 0;
  }
  e.next_attempt_at = now + retry_delay(e.attempt, jitter);
  return e.next_attempt_at;
}

}  // namespace creditd::webhooks
