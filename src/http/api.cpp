// Routing, keys and roles, and the checks every request passes before its
// endpoint's decoder (http/handlers.cpp) sees it, all from the API
// description.
#include "http/api.hpp"

#include <algorithm>

#include "http/call.hpp"
#include "http/json.hpp"
#include "http/route.hpp"
#include "http/validate.hpp"
#include "ledger/limits.hpp"

namespace creditd::http {

namespace bhttp = boost::beast::http;

response error_response(unsigned status, std::string_view code, std::string_view message) {
  return to_response(service::error_reply(status, code, message));
}

response to_response(service::reply r) {
  response out;
  out.status = r.status;
  out.body = std::move(r.body);
  out.retry_after_s = r.retry_after_s;
  out.replayed = r.replayed;
  return out;
}

namespace {

bhttp::verb to_verb(desc::method m) {
  switch (m) {
    case desc::method::get:
      return bhttp::verb::get;
    case desc::method::put:
      return bhttp::verb::put;
    case desc::method::post:
      return bhttp::verb::post;
    case desc::method::delete_:
      return bhttp::verb::delete_;
  }
  return bhttp::verb::get;
}

struct route {
  const desc::endpoint* ep;
  bhttp::verb verb;
  handler_fn fn;
  bool fast_spend;  // a spend body: try decode_spend_fast first
};

bool takes_spend_body(std::string_view name) {
  return name == "create_charge" || name == "create_hold" || name == "create_quote";
}

// Every described endpoint with its handler, in the description's order.
const std::vector<route>& routes() {
  static const std::vector<route> table = [] {
    std::vector<route> out;
    for (const desc::endpoint& ep : desc::endpoints())
      out.push_back({&ep, to_verb(ep.verb), find_handler(ep.name), takes_spend_body(ep.name)});
    return out;
  }();
  return table;
}

bool has_bearer(std::string_view auth) {
  static constexpr std::string_view scheme = "bearer ";
  if (auth.size() <= scheme.size()) return false;
  for (std::size_t i = 0; i < scheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(auth[i])) != scheme[i]) return false;
  }
  return true;
}

response unauthenticated(std::string_view message, bool invalid_token) {
  response r = error_response(401, "unauthenticated", message);
  // RFC 6750: the scheme the client must use, and why this one failed.
  r.headers.emplace_back("WWW-Authenticate",
                         invalid_token ? "Bearer realm=\"creditd\", error=\"invalid_token\""
                                       : "Bearer realm=\"creditd\"");
  return r;
}

bool allowed(desc::access need, auth::role r) {
  switch (need) {
    case desc::access::open:
    case desc::access::any_key:
    case desc::access::reader_own:
      return true;
    case desc::access::service:
      return r == auth::role::admin || r == auth::role::service;
    case desc::access::admin:
      return r == auth::role::admin;
  }
  return false;
}

// Whether a and b are equal, in a time that depends on their lengths only.
bool equal_constant_time(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

// The principal of a bearer key: the connection's cached one when it is the
// same key and no key was revoked since (the generation is read before the
// key store is asked, so a revoke that races with this request leaves the
// cache stale for the next one); else the key store's (SHA-256, a shared lock).
std::optional<auth::principal> authenticate(const auth::key_store& keys, std::string_view key,
                                            auth_cache* cache) {
  const std::uint64_t generation = keys.generation();
  if (cache != nullptr && cache->valid && cache->generation == generation &&
      equal_constant_time(cache->key, key)) {
    return cache->who;
  }
  auto who = keys.authenticate(key);
  if (cache != nullptr) {
    cache->valid = who.has_value();
    if (who) {
      cache->key.assign(key);
      cache->who = *who;
      cache->generation = generation;
    }
  }
  return who;
}

bool blank(std::string_view body) {
  return std::all_of(body.begin(), body.end(),
                     [](char ch) { return ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t'; });
}

}  // namespace

api::api(api_context ctx) : ctx_(std::move(ctx)) {}

std::vector<std::string_view> endpoints_without_handler() {
  std::vector<std::string_view> missing;
  for (const route& r : routes()) {
    if (r.fn == nullptr) missing.push_back(r.ep->name);
  }
  return missing;
}

std::string_view api::handle(request req, done_fn done) {
  call c;
  c.req = std::move(req);
  c.done = std::move(done);
  // Answers early with `r` and names the route for the metrics.
  auto finish = [&c](response r) -> std::string_view {
    c.done(std::move(r));
    return c.ep != nullptr ? c.ep->path : std::string_view("(unmatched)");
  };
  const bool test_clock = ctx_.svc.test_clock_enabled();
  // The first described route with this method whose pattern matches; no
  // allocation until one does.
  route_params views;
  const route* found = nullptr;
  for (const route& r : routes()) {
    if (r.verb != c.req.method || (r.ep->test_clock_only && !test_clock)) continue;
    if (!match_route(r.ep->path, c.req.path, views)) continue;
    c.ep = r.ep;
    found = &r;
    break;
  }
  if (c.ep == nullptr) {
    std::string allow;  // the methods the path has, for a 405
    for (const route& r : routes()) {
      if (r.ep->test_clock_only && !test_clock) continue;
      if (!match_route(r.ep->path, c.req.path, views)) continue;
      if (!allow.empty()) allow += ", ";
      allow += desc::to_string(r.ep->verb);
      if (r.ep->verb == desc::method::get) allow += ", HEAD";
    }
    if (!allow.empty()) {
      response r =
          error_response(405, "method_not_allowed",
                         std::string(bhttp::to_string(c.req.method)) + " is not allowed on " +
                             c.req.path + " (allowed: " + allow + ")");
      r.headers.emplace_back("Allow", allow);
      return finish(std::move(r));
    }
    return finish(error_response(404, "unknown_route",
                                 "no endpoint " + std::string(bhttp::to_string(c.req.method)) +
                                     " " + c.req.path + " (GET /openapi.json lists them)"));
  }
  c.params.reserve(views.count);
  for (std::size_t i = 0; i < views.count; ++i)
    c.params.emplace_back(views.values[i]);
  const desc::endpoint& ep = *c.ep;
  if (!decode_path_params(c.params))
    return finish(error_response(400, "invalid_request", "the path has invalid percent-encoding"));
  if (ep.need != desc::access::open) {
    std::string_view auth = c.req.authorization;
    // The scheme name is case-insensitive (RFC 9110).
    if (!has_bearer(auth)) return finish(unauthenticated("send Authorization: Bearer KEY", false));
    auto who = authenticate(ctx_.keys, auth.substr(7), c.req.auth);
    if (!who) return finish(unauthenticated("the API key is not valid", true));
    c.who.who = std::move(*who);
    if (!allowed(ep.need, c.who.who.who)) {
      return finish(error_response(403, "forbidden",
                                   "this key's role (" +
                                       std::string(auth::to_string(c.who.who.who)) +
                                       ") may not call " + std::string(ep.path)));
    }
  }
  // Path parameters: account ids must be valid ids (other ids are looked up).
  for (std::size_t i = 0; i < ep.path_params.size() && i < c.params.size(); ++i) {
    // An id that cannot exist names nothing: 404, as for a missing one;
    // creating an object under it (PUT) is a bad request.
    if (!check_path_param(ep.path_params[i], c.params[i])) {
      const desc::field& f = ep.path_params[i];
      if (ep.verb == desc::method::put)
        return finish(error_response(400, "invalid_request",
                                     std::string(f.name) + " must match [A-Za-z0-9._:-]{1,128}"));
      const std::string_view what = f.t == desc::type::account_id ? "account" : f.name;
      return finish(
          error_response(404, "not_found", std::string(what) + " " + c.params[i] + " not found"));
    }
  }
  // A reader key reads its own account only.
  if (ep.need == desc::access::reader_own && c.who.who.who == auth::role::reader &&
      c.who.who.account != c.params[0]) {
    return finish(error_response(403, "forbidden", "this key may only read its own account"));
  }
  if (std::string problem = check_query(c.req.query, ep.query); !problem.empty())
    return finish(error_response(400, "invalid_request", problem));
  if (ep.raw_body) {
    // Passed on as bytes: the handler checks them (a signature covers them).
  } else if (ep.has_body && found->fast_spend &&
             (c.fast = decode_spend_fast(c.req.body, ep.body,
                                         ep.mutating && !c.req.idempotency_key.empty()))) {
    // The common charge or hold, checked and decoded without a JSON tree.
  } else if (ep.has_body) {
    if (!blank(c.req.body)) {
      json_error error;
      c.body = parse_json(c.req.body, error);
      if (!c.body) return finish(error_response(400, "invalid_request", error.message));
      if (!c.body->is_object())
        return finish(error_response(400, "invalid_request", "the body must be a JSON object"));
    }
    static const jvalue empty{jvalue::kind::object};
    if (std::string problem = check_fields(c.body ? *c.body : empty, ep.body); !problem.empty())
      return finish(error_response(400, "invalid_request", problem));
  } else if (!blank(c.req.body)) {
    return finish(error_response(
        400, "invalid_request",
        std::string(desc::to_string(ep.verb)) + " " + std::string(ep.path) + " takes no body"));
  }
  if (ep.mutating && !c.req.idempotency_key.empty()) {
    if (c.req.idempotency_key.size() > ledger::limits::idempotency_key_length_max)
      return finish(
          error_response(400, "invalid_request", "Idempotency-Key is longer than 255 bytes"));
    // The request a key names: the route, its parameters and the canonical body.
    std::string canonical(ep.path);
    canonical += '\n';
    for (const std::string& p : c.params)
      canonical += p + '\n';
    if (c.body) write_canonical(canonical, *c.body, ep.body);
    if (c.fast) canonical += c.fast->canonical;
    c.who.idempotency_key = c.req.idempotency_key;
    c.who.fingerprint = auth::sha256_hex(canonical);
  }
  found->fn(*this, c);
  return ep.path;
}

}  // namespace creditd::http
