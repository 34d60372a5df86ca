// Request bodies and query strings checked against the API description
// (api/description.hpp): unknown fields, types, required fields, lengths and
// ranges; and the canonical form of a body for Idempotency-Key fingerprints.
// Pure functions of their input; reentrant.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "api/description.hpp"
#include "http/json.hpp"
#include "ledger/amount.hpp"
#include "ledger/time.hpp"

namespace creditd::http {

namespace desc = creditd::api;  // the API description

// The first problem of `obj` (a JSON object) against `fields`, or "" when it
// conforms. A null value is an absent field, except for nullable ones.
std::string check_fields(const jvalue& obj, std::span<const desc::field> fields,
                         std::string_view prefix = {});

// The first problem of one value `v` of field `f` ("" when it conforms);
// `name` names the field in the message. What check_fields() checks of each
// member.
std::string check_value(const jvalue& v, const desc::field& f, const std::string& name);

// The first problem of the query string against `params` (unknown, repeated
// or malformed parameters), or "".
std::string check_query(const std::string& query, std::span<const desc::field> params);

// One path parameter against its description (account ids and object ids).
bool check_path_param(const desc::field& f, std::string_view value);

// Writes `v` compact with object keys sorted. The values of amount fields of
// `fields` are written by value (2.5, "2.50" and "2.5" are one request);
// everything else, dimensions and metadata included, keeps its text.
void write_canonical(std::string& out, const jvalue& v, std::span<const desc::field> fields);

// Reads the fields of a body already checked by check_fields().
class body_values {
 public:
  explicit body_values(const jvalue* obj) : obj_(obj) {}
  // The value, or nullptr when absent or null.
  const jvalue* get(std::string_view key) const;
  bool has(std::string_view key) const { return get(key) != nullptr; }
  std::optional<ledger::micros> amount(std::string_view key) const;
  std::optional<std::string> string(std::string_view key) const;
  std::optional<std::int64_t> integer(std::string_view key) const;
  std::optional<bool> boolean(std::string_view key) const;
  std::optional<ledger::time_us> time(std::string_view key) const;
  // A dimensions-typed field as canonical JSON text (keys sorted, values as
  // sent); "" when absent or empty.
  std::string dimensions(std::string_view key) const;

 private:
  const jvalue* obj_;  // nullptr: an empty body
};

}  // namespace creditd::http
