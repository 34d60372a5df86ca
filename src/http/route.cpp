#include "http/route.hpp"

#include <boost/url/parse_query.hpp>
#include <boost/url/pct_string_view.hpp>

#include "util/assert.hpp"

namespace creditd::http {

target_parts split_target(std::string_view target) {
  const std::size_t q = target.find('?');
  if (q == std::string_view::npos) return {target, {}};
  return {target.substr(0, q), target.substr(q + 1)};
}

bool match_route(std::string_view pattern, std::string_view path, route_params& params) {
  params.count = 0;
  auto add = [&params](std::string_view value) {
    CREDITD_ASSERT(params.count < route_params::count_max);
    params.values[params.count++] = value;
  };
  if (pattern.ends_with('*')) {
    // A prefix route ("/console/*"): the rest of the path, possibly empty,
    // is its one parameter.
    pattern.remove_suffix(1);
    if (!path.starts_with(pattern)) return false;
    add(path.substr(pattern.size()));
    return true;
  }
  while (!pattern.empty() || !path.empty()) {
    if (pattern.empty() || path.empty() || pattern[0] != '/' || path[0] != '/') return false;
    pattern.remove_prefix(1);
    path.remove_prefix(1);
    const std::size_t pe = pattern.find('/');
    const std::size_t qe = path.find('/');
    std::string_view pseg = pattern.substr(0, pe), seg = path.substr(0, qe);
    if (pseg.starts_with('{')) {
      const std::size_t close = pseg.find('}');
      const std::string_view suffix = pseg.substr(close + 1);  // "{id}:batch" style
      if (seg.size() <= suffix.size() || !seg.ends_with(suffix)) return false;
      add(seg.substr(0, seg.size() - suffix.size()));
    } else if (pseg != seg) {
      return false;
    }
    pattern = pe == std::string_view::npos ? std::string_view() : pattern.substr(pe);
    path = qe == std::string_view::npos ? std::string_view() : path.substr(qe);
  }
  return true;
}

bool match_route(std::string_view pattern, std::string_view path,
                 std::vector<std::string>& params) {
  params.clear();
  route_params views;
  const bool matched = match_route(pattern, path, views);
  // A failed match leaves the parameters it found before failing, as it did.
  for (std::size_t i = 0; i < views.count; ++i)
    params.emplace_back(views.values[i]);
  return matched;
}

bool decode_path_params(std::vector<std::string>& params) {
  // Path parameters arrive percent-encoded ("org%3A1" is "org:1").
  for (std::string& p : params) {
    auto pct = boost::urls::make_pct_string_view(p);
    if (!pct) return false;
    p = pct->decode();
  }
  return true;
}

std::optional<std::string> query_value(const std::string& query, std::string_view name) {
  auto params = boost::urls::parse_query(query);
  if (!params) return std::nullopt;
  for (auto p : *params) {
    if (p.key.decode() == name) return p.has_value ? p.value.decode() : std::string();
  }
  return std::nullopt;
}

}  // namespace creditd::http
