#include "http/validate.hpp"

#include <algorithm>
#include <boost/url/parse_query.hpp>
#include <charconv>
#include <vector>

#include "ledger/ids.hpp"
#include "ledger/limits.hpp"
#include "ledger/validate.hpp"
#include "util/json_text.hpp"

namespace creditd::http {

namespace {

constexpr std::size_t dimension_keys_max = 32;
constexpr std::size_t dimension_key_bytes_max = 64;

std::string name_of(std::string_view prefix, std::string_view name) {
  return prefix.empty() ? std::string(name) : std::string(prefix) + "." + std::string(name);
}

bool is_amount_type(desc::type t) {
  return t == desc::type::amount || t == desc::type::signed_amount ||
         t == desc::type::positive_amount;
}

std::string check_amount(const jvalue& v, const desc::field& f, const std::string& name) {
  if (v.type != jvalue::kind::number && v.type != jvalue::kind::string)
    return name + " must be an amount (a number or a decimal string)";
  const bool signed_ok = f.t == desc::type::signed_amount;
  // A minus sign where none is allowed is refused even on a zero ("-0").
  if (!signed_ok && v.text.starts_with('-'))
    return name + ": " + std::string(ledger::to_string(ledger::amount_error::negative));
  auto a = ledger::parse_amount(
      v.text, signed_ok ? ledger::sign_policy::signed_allowed : ledger::sign_policy::non_negative);
  if (!a) return name + ": " + std::string(ledger::to_string(a.error()));
  if (f.t == desc::type::positive_amount && *a <= 0) return name + " must be positive";
  if (f.t == desc::type::signed_amount && *a == 0) return name + " must not be zero";
  return {};
}

bool parse_integer(const jvalue& v, bool negative_ok, std::int64_t& out) {
  if (v.type != jvalue::kind::number) return false;
  // No minus sign where no negative is allowed, not even on a zero ("-0").
  if (!negative_ok && v.text.starts_with('-')) return false;
  auto [p, ec] = std::from_chars(v.text.data(), v.text.data() + v.text.size(), out);
  return ec == std::errc{} && p == v.text.data() + v.text.size();
}

std::string check_dimensions(const jvalue& v, const std::string& name) {
  if (!v.is_object()) return name + " must be an object";
  if (v.fields.size() > dimension_keys_max)
    return name + " has more than " + std::to_string(dimension_keys_max) + " keys";
  for (const auto& [k, x] : v.fields) {
    if (k.empty() || k.size() > dimension_key_bytes_max)
      return name + " keys must be 1 to 64 bytes";
    if (x.type == jvalue::kind::object || x.type == jvalue::kind::array ||
        x.type == jvalue::kind::null) {
      return name + "." + k + " must be a string, number or boolean";
    }
  }
  std::string text;
  write_canonical(text, v);
  if (text.size() > ledger::limits::dimensions_bytes_max)
    return name + " is larger than " + std::to_string(ledger::limits::dimensions_bytes_max) +
           " bytes";
  return {};
}

}  // namespace

std::string check_value(const jvalue& v, const desc::field& f, const std::string& name) {
  switch (f.t) {
    case desc::type::string:
      if (v.type != jvalue::kind::string) return name + " must be a string";
      if (f.max > 0 && v.text.size() > static_cast<std::size_t>(f.max))
        return name + " is longer than " + std::to_string(f.max) + " bytes";
      return {};
    case desc::type::account_id:
      if (v.type != jvalue::kind::string || !ledger::valid_account_id(v.text))
        return name + " must be an account id matching [A-Za-z0-9._:-]{1,128}";
      return {};
    case desc::type::operation:
      if (v.type != jvalue::kind::string || !ledger::valid_operation(v.text))
        return name + " must be an operation matching [A-Za-z0-9._:/-]{1,128}";
      return {};
    case desc::type::operation_pattern:
      if (v.type != jvalue::kind::string || !ledger::valid_operation(v.text, true))
        return name +
               " must be an operation matching [A-Za-z0-9._:/-]{1,128}, a prefix ending in "
               ".* or *";
      return {};
    case desc::type::amount:
    case desc::type::signed_amount:
    case desc::type::positive_amount:
      return check_amount(v, f, name);
    case desc::type::integer: {
      std::int64_t x = 0;
      if (!parse_integer(v, f.min < 0, x) || x < f.min || x > f.max)
        return name + " must be an integer from " + std::to_string(f.min) + " to " +
               std::to_string(f.max);
      return {};
    }
    case desc::type::boolean:
      if (v.type != jvalue::kind::boolean) return name + " must be true or false";
      return {};
    case desc::type::time:
      if (v.type != jvalue::kind::string || v.text.size() > 64 || !ledger::parse_time(v.text))
        return name + " must be an RFC 3339 time, e.g. 2026-11-25T10:00:00Z";
      return {};
    case desc::type::object:
      if (!v.is_object()) return name + " must be an object";
      return check_fields(v, f.fields, name);
    case desc::type::dimensions:
      return check_dimensions(v, name);
    case desc::type::array: {
      if (v.type != jvalue::kind::array) return name + " must be an array";
      if (f.max > 0 && v.items.size() > static_cast<std::size_t>(f.max))
        return name + " holds at most " + std::to_string(f.max) + " items";
      if (f.min > 0 && v.items.size() < static_cast<std::size_t>(f.min))
        return name + " must not be empty";
      for (std::size_t i = 0; i < v.items.size(); ++i) {
        std::string problem =
            check_value(v.items[i], *f.items, name + "[" + std::to_string(i) + "]");
        if (!problem.empty()) return problem;
      }
      return {};
    }
    case desc::type::id:
      if (v.type != jvalue::kind::string) return name + " must be an id";
      return {};
    case desc::type::enumeration: {
      if (v.type == jvalue::kind::string) {
        for (std::string_view allowed : f.values) {
          if (allowed == v.text) return {};
        }
      }
      std::string list;
      for (std::size_t i = 0; i < f.values.size(); ++i) {
        if (i > 0) list += i + 1 == f.values.size() ? " or " : ", ";
        list += f.values[i];
      }
      return name + " must be " + list;
    }
    case desc::type::charge_or_id:
      return name + " cannot be sent";
  }
  return name + " is not valid";
}

namespace {

const desc::field* find_field(std::span<const desc::field> fields, std::string_view name) {
  for (const desc::field& f : fields) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

void write_described(std::string& out, const jvalue& v, const desc::field& f);

// An object whose members are described by `fields` (undescribed members
// are written as sent). A null where the field is not nullable is left out:
// check_fields() and the handlers take it as absent, so the two are one
// request (a null that clears a nullable field is not).
void write_object(std::string& out, const jvalue& v, std::span<const desc::field> fields) {
  const auto sorted = sorted_members(v);
  out.push_back('{');
  bool first = true;
  for (const auto* member : sorted) {
    const desc::field* f = find_field(fields, member->first);
    if (f != nullptr && !f->nullable && member->second.is_null()) continue;
    if (!first) out.push_back(',');
    first = false;
    util::append_json_string(out, member->first);
    out.push_back(':');
    if (f != nullptr) {
      write_described(out, member->second, *f);
    } else {
      write_canonical(out, member->second);
    }
  }
  out.push_back('}');
}

// One value described by `f`.
void write_described(std::string& out, const jvalue& v, const desc::field& f) {
  if (is_amount_type(f.t) && (v.type == jvalue::kind::number || v.type == jvalue::kind::string)) {
    if (auto a = ledger::parse_amount(v.text, ledger::sign_policy::signed_allowed)) {
      ledger::append_amount(out, *a);
      return;
    }
  }
  if (f.t == desc::type::object && v.is_object()) return write_object(out, v, f.fields);
  if (f.t == desc::type::array && v.type == jvalue::kind::array && f.items != nullptr) {
    out.push_back('[');
    for (std::size_t i = 0; i < v.items.size(); ++i) {
      if (i) out.push_back(',');
      write_described(out, v.items[i], *f.items);
    }
    out.push_back(']');
    return;
  }
  write_canonical(out, v);
}

}  // namespace

std::string check_fields(const jvalue& obj, std::span<const desc::field> fields,
                         std::string_view prefix) {
  for (const auto& [k, v] : obj.fields) {
    if (find_field(fields, k) == nullptr) return "unknown field: " + name_of(prefix, k);
  }
  for (const desc::field& f : fields) {
    const std::string name = name_of(prefix, f.name);
    const jvalue* v = obj.find(f.name);
    if (v == nullptr || (v->is_null() && !f.nullable)) {
      if (f.required) return name + " is required";
      continue;
    }
    if (v->is_null()) continue;  // nullable: null clears it
    std::string problem = check_value(*v, f, name);
    if (!problem.empty()) return problem;
  }
  return {};
}

std::string check_query(const std::string& query, std::span<const desc::field> params) {
  if (query.empty()) return {};
  auto parsed = boost::urls::parse_query(query);
  if (!parsed) return "the query string has invalid percent-encoding";
  std::vector<std::string> seen;
  for (auto p : *parsed) {
    const std::string key = p.key.decode();
    const desc::field* f = find_field(params, key);
    if (f == nullptr) return "unknown query parameter: " + key;
    if (std::find(seen.begin(), seen.end(), key) != seen.end())
      return "query parameter " + key + " is given twice";
    seen.push_back(key);
    const std::string value = p.has_value ? p.value.decode() : std::string();
    jvalue v;
    v.type = f->t == desc::type::integer ? jvalue::kind::number : jvalue::kind::string;
    v.text = value;
    std::string problem = check_value(v, *f, key);
    if (!problem.empty()) return problem;
  }
  return {};
}

bool check_path_param(const desc::field& f, std::string_view value) {
  switch (f.t) {
    case desc::type::account_id:
      return ledger::valid_account_id(value);
    default:
      return !value.empty() && (f.max == 0 || value.size() <= static_cast<std::size_t>(f.max));
  }
}

void write_canonical(std::string& out, const jvalue& v, std::span<const desc::field> fields) {
  if (v.is_object()) return write_object(out, v, fields);
  write_canonical(out, v);
}

const jvalue* body_values::get(std::string_view key) const {
  if (obj_ == nullptr) return nullptr;
  const jvalue* v = obj_->find(key);
  return v == nullptr || v->is_null() ? nullptr : v;
}

std::optional<ledger::micros> body_values::amount(std::string_view key) const {
  const jvalue* v = get(key);
  if (v == nullptr) return std::nullopt;
  auto a = ledger::parse_amount(v->text, ledger::sign_policy::signed_allowed);
  return a ? std::optional<ledger::micros>(*a) : std::nullopt;
}

std::optional<std::string> body_values::string(std::string_view key) const {
  const jvalue* v = get(key);
  return v ? std::optional<std::string>(v->text) : std::nullopt;
}

std::optional<std::int64_t> body_values::integer(std::string_view key) const {
  const jvalue* v = get(key);
  std::int64_t out = 0;
  if (v == nullptr || !parse_integer(*v, true, out)) return std::nullopt;
  return out;
}

std::optional<bool> body_values::boolean(std::string_view key) const {
  const jvalue* v = get(key);
  return v ? std::optional<bool>(v->b) : std::nullopt;
}

std::optional<ledger::time_us> body_values::time(std::string_view key) const {
  const jvalue* v = get(key);
  if (v == nullptr) return std::nullopt;
  auto t = ledger::parse_time(v->text);
  return t ? std::optional<ledger::time_us>(*t) : std::nullopt;
}

std::string body_values::dimensions(std::string_view key) const {
  const jvalue* v = get(key);
  if (v == nullptr || v->fields.empty()) return {};
  std::string out;
  write_canonical(out, *v);
  return out;
}

}  // namespace creditd::http
