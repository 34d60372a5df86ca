// Test support for the black-box commerce tests (prices, purchases, Stripe,
// subscriptions): the demo catalog's path, UTC instants from a civil date,
// moving a test clock to an instant, API keys of each role, and Stripe
// deliveries. Header-only over http_fixture.hpp; no shared state.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "http/http_fixture.hpp"
#include "support/stripe_sign.hpp"

namespace creditd::testing {

// examples/catalog.toml of this source tree.
inline std::string demo_catalog_path() {
  return (std::filesystem::path(__FILE__).parent_path() / "../../examples/catalog.toml")
      .lexically_normal()
      .string();
}

// The UTC instant of a civil date and time, in microseconds.
inline std::int64_t utc(int y, unsigned m, unsigned d, int h = 0, int mi = 0, int s = 0) {
  return (days_from_civil(y, m, d) * 86400 + h * 3600 + mi * 60 + s) * us_per_second;
}

// Advances the test clock by whole seconds to the first instant at or after
// `t` (less than a second after it: the clock keeps its sub-second part).
// Returns the new time. Throws if `t` is in the past of the clock.
inline std::int64_t advance_to(http_client& c, std::int64_t t) {
  const std::int64_t now = clock_now(c);
  if (t < now) throw std::runtime_error("advance_to: " + format_time(t) + " is in the past");
  const std::int64_t seconds = (t - now + us_per_second - 1) / us_per_second;
  return advance(c, seconds);
}

// Advances the test clock to the last whole-second step strictly before `t`.
inline std::int64_t advance_to_just_before(http_client& c, std::int64_t t) {
  const std::int64_t now = clock_now(c);
  if (t <= now) throw std::runtime_error("advance_to_just_before: " + format_time(t) + " passed");
  return advance(c, (t - now - 1) / us_per_second);
}

// Creates an API key of `role` (with `account` for a reader); returns the key.
inline std::string make_key(http_client& admin, const std::string& role,
                            const std::string& account = "") {
  std::string body = R"({"role":")" + role + "\"";
  if (!account.empty()) body += R"(,"account":")" + account + "\"";
  body += "}";
  return field(expect(admin.post("/v1/api-keys", body), 201, "api key"), "key");
}

// PUT /v1/... expecting 200 or 201; returns the reply's JSON.
inline bj::value put_ok(http_client& c, const std::string& target, const std::string& body) {
  auto r = c.put(target, body);
  if (r.status != 200 && r.status != 201)
    throw std::runtime_error("PUT " + target + ": " + describe(r));
  return r.json();
}

// Every lot of the account, oldest first.
inline std::vector<bj::object> lots_of(http_client& c, const std::string& account) {
  std::vector<bj::object> out;
  auto v = expect(c.get("/v1/accounts/" + account + "/lots?limit=1000"), 200, "lots").json();
  for (const auto& l : v.at("data").as_array())
    out.push_back(l.as_object());
  return out;
}

inline std::string sfield(const bj::object& o, std::string_view key) {
  const bj::value* v = o.if_contains(key);
  if (v == nullptr) return "<missing " + std::string(key) + ">";
  if (v->is_null()) return "<null>";
  if (!v->is_string()) return bj::serialize(*v);
  return std::string(v->as_string());
}

// POST /v1/webhooks/stripe with `body` as is and, unless empty, the header.
inline http_reply post_stripe(unsigned short port, const std::string& body,
                              const std::string& signature_header) {
  http_client c(port);  // no bearer key: Stripe sends none
  std::map<std::string, std::string> headers;
  if (!signature_header.empty()) headers["Stripe-Signature"] = signature_header;
  return c.request(verb::post, "/v1/webhooks/stripe", body, headers);
}

}  // namespace creditd::testing
