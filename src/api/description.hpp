// The description of every endpoint of the HTTP API v1: method, path, role,
// request fields with their types and limits, query parameters, the response
// schema and every result code with its meaning. It is the single source of
// the router and body validation (src/http), of GET /openapi.json
// (api/openapi) and of creditctl's commands and help (src/cli). Pure data:
// constexpr tables, no I/O; thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace creditd::api {

enum class method { get, put, post, delete_ };
std::string_view to_string(method m);  // "GET"

// Who may call an endpoint.
enum class access {
  open,        // no key
  any_key,     // any valid key (a reader only sees its own account's objects)
  reader_own,  // admin, service, or a reader key bound to the path's account
  service,     // admin or service
  admin,       // admin only
};
std::string_view to_string(access a);

// Types of request fields, query parameters and response fields.
enum class type {
  string,             // UTF-8 text; `max` is its length in bytes (0: no limit)
  account_id,         // [A-Za-z0-9._:-]{1,128}
  operation,          // [A-Za-z0-9._:/-]{1,128}: one operation
  operation_pattern,  // an operation, "prefix.*" or "*" (a lot's scope)
  amount,             // exact decimal, up to 6 fractional digits; in: number or string, out: string
  signed_amount,      // as amount, may be negative
  positive_amount,    // as amount, greater than zero
  integer,            // `min`..`max`
  boolean,
  time,          // RFC 3339 UTC
  object,        // `fields` describe its members; `ref` names a shared schema instead
  dimensions,    // a flat object of string, number or boolean values
  array,         // `items` describes one item; `max` is the item count limit
  id,            // an object id with its prefix ("lot_12"); `prefix` names it
  enumeration,   // one of `values`
  charge_or_id,  // a charge object (after a capture) or a charge id
};

struct field;

// The members of an object field: a view of a constexpr array of fields.
// (std::span<const field> inside field itself needs field complete, which
// libc++ enforces; this view only stores the pointer and the count.)
class field_list {
 public:
  constexpr field_list() = default;
  template <std::size_t N>
  constexpr field_list(const field (&fields)[N]) : data_(fields), size_(N) {}
  constexpr const field* begin() const { return data_; }
  constexpr const field* end() const;
  constexpr std::size_t size() const { return size_; }
  constexpr bool empty() const { return size_ == 0; }
  constexpr const field& operator[](std::size_t i) const;
  constexpr operator std::span<const field>() const;

 private:
  const field* data_ = nullptr;
  std::size_t size_ = 0;
};

struct field {
  std::string_view name;
  type t = type::string;
  std::string_view doc;
  bool required = false;
  bool nullable = false;
  std::int64_t min = 0;
  std::int64_t max = 0;
  std::span<const std::string_view> values = {};  // enumeration
  field_list fields = {};                         // object members
  const field* items = nullptr;                   // array items
  std::string_view ref = {};                      // a named schema (responses)
  std::string_view prefix = {};                   // id prefix ("lot")
};

constexpr const field* field_list::end() const {
  return data_ + size_;
}
constexpr const field& field_list::operator[](std::size_t i) const {
  return data_[i];
}
constexpr field_list::operator std::span<const field>() const {
  return {data_, size_};
}

// A named response object (an OpenAPI component schema).
struct schema {
  std::string_view name;  // "Charge"
  std::string_view doc;
  std::span<const field> fields;
};

// One result an endpoint can answer, with its meaning.
struct result {
  unsigned status;
  std::string_view code;  // the error code in the body ("" on success)
  std::string_view meaning;
};

struct endpoint {
  std::string_view name;  // operationId and handler key: "create_charge"
  method verb = method::get;
  std::string_view path;  // "/v1/accounts/{id}/charges"; a trailing '*' is a prefix route
  access need = access::open;
  bool mutating = false;  // takes Idempotency-Key; refused while the store is degraded
  std::string_view summary;
  std::string_view doc;
  std::span<const field> path_params = {};  // in the order they appear
  std::span<const field> body = {};         // empty: no body
  bool has_body = false;                    // POST/PUT with a JSON object body
  // The body is passed on as bytes, unchecked (a signed webhook: the
  // signature covers the exact bytes).
  bool raw_body = false;
  std::span<const field> query = {};
  std::string_view response;  // schema name of the success body ("" for non-JSON)
  std::string_view content_type = "application/json";
  std::span<const result> results = {};  // every answer, success first
  std::string_view command;              // creditctl command: "charge", "account get"
  bool test_clock_only = false;          // exists only with --test-clock
};

std::span<const endpoint> endpoints();
std::span<const schema> schemas();

// The endpoint named `name`, or nullptr.
const endpoint* find_endpoint(std::string_view name);
// The schema named `name`, or nullptr.
const schema* find_schema(std::string_view name);

}  // namespace creditd::api
