// libFuzzer target: the bytes of an HTTP request, through what the server
// does before a request reaches the engine. Beast's request parser with the
// server's limits (body 1 MiB, headers 16 KiB); then the target split, the
// router's pattern match against every pattern shape, percent-decoding of
// path parameters, the query parameters, the JSON body and the charge
// decoder (single and batch), and the field reader on the other fields.
// Invariants: a route match rebuilds the path; a decoded charge is in range.
#include <boost/beast/core/buffers_prefix.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "api/description.hpp"
#include "http/json.hpp"
#include "http/request_fields.hpp"
#include "http/route.hpp"
#include "http/validate.hpp"
#include "ledger/amount.hpp"
#include "ledger/time.hpp"
#include "ledger/validate.hpp"

namespace {

using namespace creditd;
namespace bhttp = boost::beast::http;

constexpr std::size_t body_bytes_max = 1 << 20;       // http::server_options
constexpr std::uint32_t header_bytes_max = 16 << 10;  // http::server_options

// Every shape of pattern in the endpoint table (src/http/api.cpp): plain
// segments, one or two parameters, a parameter with a ":batch" suffix.
constexpr std::string_view patterns[] = {
    "/healthz",
    "/v1/accounts/{id}",
    "/v1/accounts/{id}/balance",
    "/v1/accounts/{id}/charges",
    "/v1/accounts/{id}/charges:batch",
    "/v1/lots/{lot_id}/void",
    "/v1/holds/{hold_id}",
    "/v1/api-keys",
    "/v1/{a}/{b}",
};

// Puts the pattern's parameters back: the path the match came from.
std::string rebuild(std::string_view pattern, const std::vector<std::string>& params) {
  std::string out;
  std::size_t next = 0;
  while (!pattern.empty()) {
    const std::size_t open = pattern.find('{');
    if (open == std::string_view::npos) {
      out += pattern;
      break;
    }
    out += pattern.substr(0, open);
    const std::size_t close = pattern.find('}', open);
    if (next >= params.size()) std::abort();
    out += params[next++];
    pattern.remove_prefix(close + 1);
  }
  if (next != params.size()) std::abort();
  return out;
}

void route(std::string_view path) {
  std::vector<std::string> params;
  for (std::string_view pattern : patterns) {
    if (!http::match_route(pattern, path, params)) continue;
    for (const std::string& p : params) {
      if (p.empty()) std::abort();
    }
    if (rebuild(pattern, params) != path) std::abort();
    if (http::decode_path_params(params)) {
      for (const std::string& p : params)
        (void)ledger::valid_account_id(p);
    }
  }
}

// The query as the server keeps it: a std::string (see http::query_value).
void query(const std::string& q) {
  if (auto limit = http::query_value(q, "limit")) {
    std::size_t v = 0;
    (void)std::from_chars(limit->data(), limit->data() + limit->size(), v);
  }
  (void)http::query_value(q, "after");
  if (auto at = http::query_value(q, "at")) {
    auto t = ledger::parse_time(*at);
    if (t && (*t < ledger::time_us_min || *t > ledger::time_us_max + ledger::us_per_second))
      std::abort();
  }
}

void check_charge(const http::jvalue& v) {
  std::string error;
  auto cmd = http::decode_charge(v, "acct", error);
  if (!cmd) {
    if (error.empty()) std::abort();
    return;
  }
  if (!error.empty()) std::abort();
  if (cmd->amount < 0 || cmd->amount > ledger::amount_micros_max) std::abort();
  // Without an amount the cost comes from the catalog; with one, never.
  if (cmd->from_catalog != (v.find("amount") == nullptr || v.find("amount")->is_null()))
    std::abort();
  for (std::size_t i = 1; i < cmd->dimension_values.size(); ++i) {
    if (!(cmd->dimension_values[i - 1].key < cmd->dimension_values[i].key)) std::abort();
  }
  if (!ledger::valid_operation(cmd->operation)) std::abort();
}

void body(std::string_view text) {
  http::json_error error;
  auto v = http::parse_json(text, error);
  if (!v) {
    if (error.message.empty()) std::abort();
    return;
  }
  if (!v->is_object()) return;
  check_charge(*v);
  if (const http::jvalue* list = v->find("charges");
      list != nullptr && list->type == http::jvalue::kind::array) {
    for (std::size_t i = 0; i < list->items.size() && i < 100; ++i)
      check_charge(list->items[i]);
  }
  // Every described body: the checks, the canonical form, and the values a
  // checked body yields stay within their described limits.
  for (const api::endpoint& ep : api::endpoints()) {
    if (!ep.has_body) continue;
    const std::string problem = http::check_fields(*v, ep.body);
    std::string canonical;
    http::write_canonical(canonical, *v, ep.body);
    if (!problem.empty()) continue;
    const http::body_values values(&*v);
    for (const api::field& f : ep.body) {
      if (f.t == api::type::integer) {
        if (auto n = values.integer(f.name); n && (*n < f.min || *n > f.max)) std::abort();
      }
      if (f.t == api::type::amount || f.t == api::type::positive_amount) {
        if (auto a = values.amount(f.name); a && (*a < 0 || *a > ledger::amount_micros_max))
          std::abort();
      }
      if (f.t == api::type::dimensions) (void)values.dimensions(f.name);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  bhttp::request_parser<bhttp::string_body> parser;
  parser.body_limit(body_bytes_max);
  parser.header_limit(header_bytes_max);
  parser.eager(true);
  boost::beast::error_code ec;
  boost::asio::const_buffer in(data, size);
  // Fed in two pieces, as a socket might deliver it.
  const std::size_t first = size / 2;
  std::size_t used = parser.put(boost::asio::buffer(data, first), ec);
  if (ec == bhttp::error::need_more) ec = {};
  if (!ec) {
    in += used;
    // As Beast's reads do: after need_more, put() is called again only with
    // more bytes than before, and here there are none.
    while (!ec && in.size() > 0 && !parser.is_done()) {
      const std::size_t n = parser.put(in, ec);
      in += n;
      if (ec == bhttp::error::need_more) {
        ec = {};
        break;
      }
    }
    // The end of the stream, after some bytes (as Beast's own reads do).
    if (!ec && !parser.is_done() && parser.got_some()) parser.put_eof(ec);
  }
  if (ec || !parser.is_done()) return 0;
  const auto& req = parser.get();
  if (req.body().size() > body_bytes_max) std::abort();
  const http::target_parts target = http::split_target(req.target());
  route(target.path);
  query(std::string(target.query));
  body(req.body());
  return 0;
}
