#include "store/codec.hpp"

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <charconv>

namespace creditd::store {

namespace json = boost::json;

namespace {
void append_int(std::string& out, std::int64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

std::optional<json::value> parse(std::string_view text, const json::parse_options& opts = {}) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec, {}, opts);
  if (ec) return std::nullopt;
  return v;
}

std::optional<std::int64_t> as_int(const json::value& v) {
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64() && v.get_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
    return static_cast<std::int64_t>(v.get_uint64());
  }
  return std::nullopt;
}
}  // namespace

namespace {
// Rows of integers as a JSON array of arrays: [[1,2],[3,4]].
template <typename Row, typename Fields>
void encode_rows(std::string& out, std::span<const Row> rows, Fields fields) {
  out.push_back('[');
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (i) out.push_back(',');
    out.push_back('[');
    const auto values = fields(rows[i]);
    for (std::size_t k = 0; k < values.size(); ++k) {
      if (k) out.push_back(',');
      append_int(out, values[k]);
    }
    out.push_back(']');
  }
  out.push_back(']');
}

// The inverse: every row must hold exactly `width` integers.
template <std::size_t width>
std::optional<std::vector<std::array<std::int64_t, width>>> decode_rows(std::string_view text) {
  auto v = parse(text);
  if (!v || !v->is_array()) return std::nullopt;
  std::vector<std::array<std::int64_t, width>> out;
  for (const json::value& item : v->get_array()) {
    if (!item.is_array() || item.get_array().size() != width) return std::nullopt;
    std::array<std::int64_t, width> row{};
    for (std::size_t k = 0; k < width; ++k) {
      auto x = as_int(item.get_array()[k]);
      if (!x) return std::nullopt;
      row[k] = *x;
    }
    out.push_back(row);
  }
  return out;
}
}  // namespace

void encode_parts(std::string& out, std::span<const ledger::lot_part> parts) {
  encode_rows<ledger::lot_part>(out, parts, [](const ledger::lot_part& p) {
    return std::array<std::int64_t, 2>{static_cast<std::int64_t>(p.lot), p.amount};
  });
}

void encode_charge_parts(std::string& out, std::span<const ledger::charge_part> parts) {
  encode_rows<ledger::charge_part>(out, parts, [](const ledger::charge_part& p) {
    return std::array<std::int64_t, 3>{static_cast<std::int64_t>(p.lot), p.amount, p.refunded};
  });
}

void encode_scope(std::string& out, const std::vector<std::string>& scope) {
  out.push_back('[');
  for (std::size_t i = 0; i < scope.size(); ++i) {
    if (i) out.push_back(',');
    append_json_string(out, scope[i]);
  }
  out.push_back(']');
}

void encode_settings(std::string& out, const ledger::account_settings& s) {
  out += "{\"low_balance_thresholds\":[";
  for (std::size_t i = 0; i < s.low_balance_thresholds.size(); ++i) {
    if (i) out.push_back(',');
    append_int(out, s.low_balance_thresholds[i]);
  }
  out += "],\"reserve\":";
  append_int(out, s.reserve);
  out += ",\"postpaid_limit\":";
  append_int(out, s.postpaid_limit);
  out += ",\"rate_limit_per_minute\":";
  append_int(out, s.rate_limit_per_minute);
  out += ",\"max_open_holds\":";
  append_int(out, s.max_open_holds);
  out += ",\"expiring_soon_days\":";
  append_int(out, s.expiring_soon_days);
  if (s.auto_topup) {
    out += ",\"auto_topup\":{\"below\":";
    append_int(out, s.auto_topup->below);
    out += ",\"package\":";
    append_json_string(out, s.auto_topup->package);
    out += ",\"max_per_period\":";
    append_int(out, s.auto_topup->max_per_period);
    out.push_back('}');
  }
  out.push_back('}');
}

void encode_dimensions(std::string& out, const ledger::dimension_list& dims) {
  out.push_back('{');
  for (std::size_t i = 0; i < dims.size(); ++i) {
    if (i) out.push_back(',');
    append_json_string(out, dims[i].key);
    out.push_back(':');
    append_json_string(out, dims[i].value);
  }
  out.push_back('}');
}

std::optional<std::vector<ledger::lot_part>> decode_parts(std::string_view text) {
  auto rows = decode_rows<2>(text);
  if (!rows) return std::nullopt;
  std::vector<ledger::lot_part> out;
  out.reserve(rows->size());
  for (const auto& r : *rows)
    out.push_back({static_cast<ledger::object_id>(r[0]), r[1]});
  return out;
}

std::optional<std::vector<ledger::charge_part>> decode_charge_parts(std::string_view text) {
  auto rows = decode_rows<3>(text);
  if (!rows) return std::nullopt;
  std::vector<ledger::charge_part> out;
  out.reserve(rows->size());
  for (const auto& r : *rows)
    out.push_back({static_cast<ledger::object_id>(r[0]), r[1], r[2]});
  return out;
}

std::optional<std::vector<std::string>> decode_scope(std::string_view text) {
  auto v = parse(text);
  if (!v || !v->is_array()) return std::nullopt;
  std::vector<std::string> out;
  for (const json::value& item : v->get_array()) {
    if (!item.is_string()) return std::nullopt;
    out.emplace_back(item.get_string());
  }
  return out;
}

std::optional<ledger::account_settings> decode_settings(std::string_view text) {
  auto v = parse(text);
  if (!v || !v->is_object()) return std::nullopt;
  const json::object& o = v->get_object();
  ledger::account_settings s;
  auto get_int = [&](const char* key, std::int64_t& into) {
    if (const json::value* f = o.if_contains(key)) {
      auto i = as_int(*f);
      if (!i) return false;
      into = *i;
    }
    return true;
  };
  if (const json::value* t = o.if_contains("low_balance_thresholds")) {
    if (!t->is_array()) return std::nullopt;
    for (const json::value& item : t->get_array()) {
      auto i = as_int(item);
      if (!i) return std::nullopt;
      s.low_balance_thresholds.push_back(*i);
    }
  }
  if (!get_int("reserve", s.reserve) || !get_int("postpaid_limit", s.postpaid_limit) ||
      !get_int("rate_limit_per_minute", s.rate_limit_per_minute) ||
      !get_int("max_open_holds", s.max_open_holds) ||
      !get_int("expiring_soon_days", s.expiring_soon_days)) {
    return std::nullopt;
  }
  if (const json::value* a = o.if_contains("auto_topup")) {
    if (!a->is_object()) return std::nullopt;
    const json::object& ao = a->get_object();
    ledger::auto_topup_settings at;
    const json::value* below = ao.if_contains("below");
    const json::value* package = ao.if_contains("package");
    const json::value* max = ao.if_contains("max_per_period");
    if (!below || !package || !max || !package->is_string()) return std::nullopt;
    auto b = as_int(*below);
    auto m = as_int(*max);
    if (!b || !m) return std::nullopt;
    at.below = *b;
    at.package = std::string(package->get_string());
    at.max_per_period = *m;
    s.auto_topup = at;
  }
  return s;
}

std::optional<ledger::dimension_list> decode_dimensions(std::string_view text) {
  // The ledger bounds the length of keys and values, not their bytes: what
  // it accepted must read back, valid UTF-8 or not.
  json::parse_options opts;
  opts.allow_invalid_utf8 = true;
  auto v = parse(text, opts);
  if (!v || !v->is_object()) return std::nullopt;
  ledger::dimension_list out;
  out.reserve(v->get_object().size());
  for (const auto& [key, value] : v->get_object()) {
    if (!value.is_string()) return std::nullopt;
    out.push_back({std::string(key), std::string(value.get_string())});
  }
  // A json::object's keys are distinct (a key written twice: its last value).
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.key < b.key; });
  return out;
}

}  // namespace creditd::store
