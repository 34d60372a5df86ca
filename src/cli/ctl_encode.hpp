// creditctl's encodings of command-line text, driven by the API description:
// a field's text to its JSON value (by the field's type, with its limits
// checked), a request body built with Boost.JSON, path parameters and query
// values percent-encoded into a request target, and the server URL. Pure
// functions of their arguments; thread-safe.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <expected>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "api/description.hpp"

namespace creditd::ctl {

// The option that carries field `name`: "--" and the name with '_' as '-'
// ("ttl_seconds" -> "--ttl-seconds").
std::string option_name(std::string_view name);

// The value of field `f` typed as `text` on the command line:
//   amounts: a JSON string, after a syntax check (digits, at most 6 decimals;
//     a leading '-' only for signed_amount; positive_amount above zero);
//   integer: a JSON number within min..max (when the field has limits);
//   boolean: "true" or "false";
//   enumeration: one of the field's values, as a string;
//   object and dimensions: JSON text that parses as an object (dimensions:
//     with string, number or boolean members only); "null" when nullable;
//   array: JSON text that parses as an array (see encode_field);
//   everything else (text, ids, operations, times): a string, at most `max`
//     bytes for type::string.
// Error: a message naming the option and what it expects.
std::expected<boost::json::value, std::string> encode_value(const api::field& f,
                                                            std::string_view text);

// The value of field `f` given `texts`, one per occurrence of its option. An
// array takes one JSON array, or one item per occurrence (each encoded as
// its item type), and checks the item count against min and max; any other
// type takes exactly one occurrence.
std::expected<boost::json::value, std::string> encode_field(const api::field& f,
                                                            std::span<const std::string> texts);

// A field and the texts given for it (empty: not given).
struct given_field {
  const api::field* f = nullptr;
  std::vector<std::string> texts;
};

// The JSON object body of `fields` that were given, each encoded by
// encode_field. Strings are escaped by the serializer; no text is pasted.
std::expected<boost::json::object, std::string> build_body(std::span<const given_field> fields);

// `text` percent-encoded for a path segment or a query value: every byte but
// A-Z a-z 0-9 - . _ ~ becomes %XX.
std::string percent_encode(std::string_view text);

// The request target of `ep` ("/v1/accounts/org%3A1/charges?limit=5"): its
// path with each {param} replaced by `path_values` (in path order,
// percent-encoded), then the query parameters that were given, encoded by
// their type and percent-encoded. Error: a count mismatch or a bad value.
std::expected<std::string, std::string> build_target(const api::endpoint& ep,
                                                     std::span<const std::string> path_values,
                                                     std::span<const given_field> query);

// A raw body for --body: the JSON text itself, or the content of FILE for
// "@FILE"; it must parse as JSON and is then sent byte for byte.
std::expected<std::string, std::string> load_raw_body(std::string_view arg);

// The server named by --url.
struct server_url {
  bool https = false;
  std::string host;         // to resolve and to verify the certificate against (no brackets)
  std::string port;         // "8080"; the scheme's default when absent
  std::string host_header;  // "127.0.0.1:8080", "[::1]:8080"
  std::string base_path;    // "" or "/prefix" (no trailing '/'), prepended to every target
};

// Parses `text`: http:// or https://, a host, an optional port, an optional
// base path (a trailing '/' is ignored: "http://h:8080/" is "http://h:8080");
// no user, query or fragment. Error: why it is refused.
std::expected<server_url, std::string> parse_server_url(std::string_view text);

}  // namespace creditd::ctl
