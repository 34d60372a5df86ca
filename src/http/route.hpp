// The path and query of a request target, decoded without an engine: the
// router's pattern match, percent-decoding of path parameters, and query
// parameters. Pure functions of their input; reentrant.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace creditd::http {

// A request target split at its first '?': views into `target`.
struct target_parts {
  std::string_view path;
  std::string_view query;  // without the '?'; empty when there is none
};
target_parts split_target(std::string_view target);

// Whether `path` matches `pattern` ("/v1/accounts/{id}/charges",
// "/v1/accounts/{id}/charges:batch"); on a match `params` holds the {..}
// segments in order, still percent-encoded, each at least one byte (a
// longer one than any id is still a match; the endpoint finds nothing). A pattern ending in '*' is
// a prefix route ("/console/*"): it matches every path that starts with what precedes the '*', and
// the rest of the path (possibly empty, slashes included) is its one parameter.
bool match_route(std::string_view pattern, std::string_view path, std::vector<std::string>& params);

// The same match without allocating: the parameters are views into `path`.
struct route_params {
  static constexpr std::size_t count_max = 8;  // {..} segments of a pattern, at most
  std::array<std::string_view, count_max> values{};
  std::size_t count = 0;
};
bool match_route(std::string_view pattern, std::string_view path, route_params& params);

// Percent-decodes each parameter in place; false when one has invalid
// percent-encoding (then `params` is partly decoded).
bool decode_path_params(std::vector<std::string>& params);

// A query parameter's value, percent-decoded; nullopt when absent (or when
// the query's encoding is invalid). `query` is a std::string on purpose:
// Boost.URL 1.81's parse_query measures its input with strlen (it rebuilds
// the view from data()), so the text must end with a NUL right after it.
std::optional<std::string> query_value(const std::string& query, std::string_view name);

}  // namespace creditd::http
