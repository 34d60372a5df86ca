// creditctl's encodings of command-line text (see ctl_encode.hpp).
#include "cli/ctl_encode.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>
#include <cctype>
#include <charconv>
#include <fstream>
#include <sstream>

namespace creditd::ctl {

namespace json = boost::json;

namespace {

using api::type;

std::string quoted(std::string_view s) {
  return json::serialize(json::value(json::string_view(s.data(), s.size())));
}

std::unexpected<std::string> bad(const api::field& f, std::string_view text,
                                 std::string_view what) {
  return std::unexpected(option_name(f.name) + ": " + quoted(text) + " is not " +
                         std::string(what));
}

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// Digits, then optionally '.' and 1 to 6 digits; a leading '-' if `sign`.
bool amount_syntax(std::string_view s, bool sign) {
  if (sign && !s.empty() && s.front() == '-') s.remove_prefix(1);
  const std::size_t dot = s.find('.');
  if (dot == std::string_view::npos) return all_digits(s);
  const std::string_view frac = s.substr(dot + 1);
  return all_digits(s.substr(0, dot)) && all_digits(frac) && frac.size() <= 6;
}

bool has_nonzero_digit(std::string_view s) {
  for (char c : s) {
    if (c >= '1' && c <= '9') return true;
  }
  return false;
}

std::string_view trim_left(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
    s.remove_prefix(1);
  return s;
}

// Parses `text` as one JSON value; the whole text must be that value.
std::expected<json::value, std::string> parse_json(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(json::string_view(text.data(), text.size()), ec);
  if (ec) return std::unexpected(ec.message());
  return v;
}

std::expected<json::value, std::string> encode_object(const api::field& f, std::string_view text) {
  if (f.nullable && text == "null") return json::value(nullptr);
  auto v = parse_json(text);
  if (!v) return bad(f, text, "a JSON object (" + v.error() + ")");
  if (!v->is_object()) return bad(f, text, "a JSON object");
  if (f.t == type::dimensions) {
    for (const auto& member : v->as_object()) {
      const json::value& m = member.value();
      if (!m.is_string() && !m.is_number() && !m.is_bool()) {
        return std::unexpected(option_name(f.name) + ": member \"" + std::string(member.key()) +
                               "\" must be a string, a number or a boolean");
      }
    }
  }
  return v;
}

std::expected<json::value, std::string> encode_json_array(const api::field& f,
                                                          std::string_view text) {
  auto v = parse_json(text);
  if (!v) return bad(f, text, "a JSON array (" + v.error() + ")");
  if (!v->is_array()) return bad(f, text, "a JSON array");
  if (f.items != nullptr && (f.items->t == type::object || f.items->t == type::dimensions)) {
    for (const json::value& item : v->as_array()) {
      if (!item.is_object())
        return std::unexpected(option_name(f.name) + ": each item must be a JSON object");
    }
  }
  return v;
}

std::expected<json::value, std::string> check_count(const api::field& f, json::value v) {
  const auto n = static_cast<std::int64_t>(v.as_array().size());
  if (f.max > 0 && n > f.max) {
    return std::unexpected(option_name(f.name) + ": at most " + std::to_string(f.max) + " items, " +
                           std::to_string(n) + " given");
  }
  if (f.min > 0 && n < f.min) {
    return std::unexpected(option_name(f.name) + ": at least " + std::to_string(f.min) +
                           " items, " + std::to_string(n) + " given");
  }
  return v;
}

}  // namespace

std::string option_name(std::string_view name) {
  std::string out = "--";
  for (char c : name)
    out += c == '_' ? '-' : c;
  return out;
}

std::expected<json::value, std::string> encode_value(const api::field& f, std::string_view text) {
  switch (f.t) {
    case type::amount:
    case type::positive_amount:
    case type::signed_amount: {
      const bool sign = f.t == type::signed_amount;
      if (!amount_syntax(text, sign)) {
        return bad(f, text,
                   sign ? "an amount (digits with an optional '-', at most 6 decimals)"
                        : "an amount (digits, at most 6 decimals)");
      }
      if (f.t == type::positive_amount && !has_nonzero_digit(text))
        return bad(f, text, "an amount above zero");
      return json::value(json::string(text.data(), text.size()));
    }
    case type::integer: {
      std::int64_t n = 0;
      const char* end = text.data() + text.size();
      auto [p, ec] = std::from_chars(text.data(), end, n);
      if (ec != std::errc{} || p != end || text.empty()) return bad(f, text, "an integer");
      if ((f.min != 0 || f.max != 0) && (n < f.min || n > f.max)) {
        return bad(f, text, "within " + std::to_string(f.min) + ".." + std::to_string(f.max));
      }
      return json::value(n);
    }
    case type::boolean:
      if (text == "true") return json::value(true);
      if (text == "false") return json::value(false);
      return bad(f, text, "true or false");
    case type::enumeration: {
      std::string all;
      for (std::string_view v : f.values) {
        if (v == text) return json::value(json::string(text.data(), text.size()));
        all += (all.empty() ? "" : ", ") + std::string(v);
      }
      return bad(f, text, "one of " + all);
    }
    case type::object:
    case type::dimensions:
      return encode_object(f, text);
    case type::array:
      return encode_json_array(f, text);
    case type::string:
      if (f.max > 0 && static_cast<std::int64_t>(text.size()) > f.max) {
        return std::unexpected(option_name(f.name) + ": at most " + std::to_string(f.max) +
                               " bytes, " + std::to_string(text.size()) + " given");
      }
      return json::value(json::string(text.data(), text.size()));
    case type::account_id:
    case type::operation:
    case type::operation_pattern:
    case type::time:
    case type::id:
    case type::charge_or_id:
      return json::value(json::string(text.data(), text.size()));
  }
  return json::value(json::string(text.data(), text.size()));
}

std::expected<json::value, std::string> encode_field(const api::field& f,
                                                     std::span<const std::string> texts) {
  if (texts.empty()) return std::unexpected(option_name(f.name) + ": no value");
  if (f.t != type::array) {
    if (texts.size() > 1) return std::unexpected(option_name(f.name) + ": given more than once");
    return encode_value(f, texts.front());
  }
  // One JSON array, or one item per occurrence.
  if (texts.size() == 1 && trim_left(texts.front()).starts_with('[')) {
    auto v = encode_json_array(f, texts.front());
    if (!v) return v;
    return check_count(f, std::move(*v));
  }
  json::array items;
  for (const std::string& text : texts) {
    if (f.items == nullptr) {
      items.emplace_back(json::string(text));
      continue;
    }
    // The item is reported under the array's option name.
    api::field item = *f.items;
    item.name = f.name;
    auto v = encode_value(item, text);
    if (!v) return v;
    items.push_back(std::move(*v));
  }
  return check_count(f, json::value(std::move(items)));
}

std::expected<json::object, std::string> build_body(std::span<const given_field> fields) {
  json::object body;
  for (const given_field& g : fields) {
    if (g.texts.empty()) continue;
    auto v = encode_field(*g.f, g.texts);
    if (!v) return std::unexpected(v.error());
    body[g.f->name] = std::move(*v);
  }
  return body;
}

std::string percent_encode(std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += ch;
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::expected<std::string, std::string> build_target(const api::endpoint& ep,
                                                     std::span<const std::string> path_values,
                                                     std::span<const given_field> query) {
  if (path_values.size() != ep.path_params.size()) {
    return std::unexpected("expected " + std::to_string(ep.path_params.size()) +
                           " path parameters, got " + std::to_string(path_values.size()));
  }
  std::string_view path = ep.path;
  if (path.ends_with('*')) path.remove_suffix(1);  // a prefix route: its base
  std::string target;
  std::size_t next = 0;
  while (!path.empty()) {
    const std::size_t open = path.find('{');
    if (open == std::string_view::npos) {
      target += path;
      break;
    }
    const std::size_t close = path.find('}', open);
    if (close == std::string_view::npos || next >= path_values.size()) {
      return std::unexpected("the path " + std::string(ep.path) + " does not match its parameters");
    }
    target += path.substr(0, open);
    const std::string& value = path_values[next++];
    if (value.empty()) {
      return std::unexpected(std::string(ep.path_params[next - 1].name) + " must not be empty");
    }
    target += percent_encode(value);
    path.remove_prefix(close + 1);
  }
  if (next != path_values.size())
    return std::unexpected("the path " + std::string(ep.path) + " does not match its parameters");
  char sep = '?';
  for (const given_field& g : query) {
    if (g.texts.empty()) continue;
    auto v = encode_field(*g.f, g.texts);
    if (!v) return std::unexpected(v.error());
    std::string text = v->is_string() ? std::string(v->as_string()) : json::serialize(*v);
    target += sep;
    target += percent_encode(g.f->name);
    target += '=';
    target += percent_encode(text);
    sep = '&';
  }
  return target;
}

std::expected<std::string, std::string> load_raw_body(std::string_view arg) {
  std::string text;
  if (arg.starts_with('@')) {
    const std::string path(arg.substr(1));
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::unexpected("--body: cannot read " + path);
    std::stringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  } else {
    text = std::string(arg);
  }
  boost::system::error_code ec;
  json::parse(text, ec);
  if (ec) return std::unexpected("--body: not valid JSON (" + ec.message() + ")");
  return text;
}

std::expected<server_url, std::string> parse_server_url(std::string_view text) {
  const std::string usage =
      "--url must be http://HOST[:PORT][/BASE] or https://HOST[:PORT][/BASE], not " + quoted(text);
  auto u = boost::urls::parse_uri(boost::core::string_view(text.data(), text.size()));
  if (!u) return std::unexpected(usage);
  std::string scheme(u->scheme());
  for (char& c : scheme)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (scheme != "http" && scheme != "https") return std::unexpected(usage);
  if (u->has_userinfo() || u->has_query() || u->has_fragment() || u->host_address().empty())
    return std::unexpected(usage);
  server_url out;
  out.https = scheme == "https";
  out.host = u->host_address();
  if (u->has_port()) {
    const std::string_view port(u->port());
    if (!all_digits(port) || u->port_number() == 0) return std::unexpected(usage);
    out.port = std::string(port);
  } else {
    out.port = out.https ? "443" : "80";
  }
  out.host_header = std::string(u->encoded_host_and_port());
  std::string path(u->encoded_path());
  while (!path.empty() && path.back() == '/')
    path.pop_back();
  if (!path.empty() && path.front() != '/') return std::unexpected(usage);
  out.base_path = std::move(path);
  return out;
}

}  // namespace creditd::ctl
