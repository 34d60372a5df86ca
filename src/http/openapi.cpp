#include "http/openapi.hpp"

#include <boost/beast/http/verb.hpp>
#include <map>
#include <vector>

#include "http/api.hpp"
#include "http/render.hpp"

namespace creditd::http {

namespace {

// The statuses each kind of endpoint can answer (docs/api.md lists why).
std::vector<std::pair<int, std::string_view>> statuses(const endpoint& ep) {
  std::vector<std::pair<int, std::string_view>> out;
  const bool post_create =
      ep.method == boost::beast::http::verb::post &&
      (ep.pattern.ends_with("/charges") || ep.pattern.ends_with(":batch") ||
       ep.pattern.ends_with("/lots") || ep.pattern.ends_with("/holds") ||
       ep.pattern.ends_with("/refund") || ep.pattern.ends_with("/adjustments") ||
       ep.pattern.ends_with("/api-keys"));
  out.emplace_back(post_create ? 201 : 200, "Success");
  if (ep.method == boost::beast::http::verb::put) out.emplace_back(201, "Created");
  if (ep.need != access::open) {
    out.emplace_back(400, "invalid_request");
    out.emplace_back(401, "unauthenticated");
    out.emplace_back(403, "forbidden");
    out.emplace_back(404, "not_found");
  }
  if (ep.mutating) {
    out.emplace_back(409, "conflict or idempotency_conflict");
    out.emplace_back(503, "unavailable: the store cannot be written");
  }
  if (ep.pattern.ends_with("/charges") || ep.pattern.ends_with(":batch") ||
      ep.pattern.ends_with("/holds") || ep.pattern.ends_with("/adjustments")) {
    out.emplace_back(402,
                     "insufficient_credits (reason: balance, reserve, postpaid_limit or scope)");
  }
  if (ep.pattern.ends_with("/charges") || ep.pattern.ends_with(":batch") ||
      ep.pattern.ends_with("/holds")) {
    out.emplace_back(422, "unknown_price");
    out.emplace_back(429, "rate_limited (reason: rate_limit or max_open_holds)");
  }
  return out;
}

}  // namespace

std::string openapi_document(bool test_clock) {
  std::map<std::string, std::vector<const endpoint*>> paths;
  for (const endpoint& ep : endpoints()) {
    if (!test_clock && ep.pattern.starts_with("/v1/test-clock")) continue;
    paths[std::string(ep.pattern)].push_back(&ep);
  }
  std::string out;
  json_out j(out);
  j.begin_object();
  j.key("openapi").str("3.0.3");
  j.key("info").begin_object().key("title").str("creditd API").key("version").str("1").end_object();
  j.key("components").begin_object().key("securitySchemes").begin_object();
  j.key("bearer").begin_object().key("type").str("http").key("scheme").str("bearer").end_object();
  j.end_object().end_object();
  j.key("paths").begin_object();
  for (const auto& [path, eps] : paths) {
    j.key(path).begin_object();
    for (const endpoint* ep : eps) {
      std::string method(boost::beast::http::to_string(ep->method));
      for (char& ch : method)
        ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      j.key(method).begin_object();
      j.key("summary").str(ep->summary);
      j.key("security").begin_array();
      if (ep->need != access::open)
        j.begin_object().key("bearer").begin_array().end_array().end_object();
      j.end_array();
      j.key("parameters").begin_array();
      std::string_view p = ep->pattern;
      for (std::size_t open = p.find('{'); open != std::string_view::npos;
           open = p.find('{', open + 1)) {
        const std::size_t close = p.find('}', open);
        j.begin_object();
        j.key("name")
            .str(p.substr(open + 1, close - open - 1))
            .key("in")
            .str("path")
            .key("required")
            .boolean(true);
        j.key("schema").begin_object().key("type").str("string").end_object();
        j.end_object();
      }
      if (ep->mutating && ep->method != boost::beast::http::verb::delete_) {
        j.begin_object()
            .key("name")
            .str("Idempotency-Key")
            .key("in")
            .str("header")
            .key("required")
            .boolean(false);
        j.key("schema").begin_object().key("type").str("string").end_object().end_object();
      }
      j.end_array();
      j.key("responses").begin_object();
      for (const auto& [status, text] : statuses(*ep)) {
        j.key(std::to_string(status)).begin_object().key("description").str(text).end_object();
      }
      j.end_object();
      j.end_object();
    }
    j.end_object();
  }
  j.end_object();
  j.end_object();
  return out;
}

}  // namespace creditd::http
