// A small JSON document model for requests: numbers keep their exact text (so
// amounts never pass through a double), duplicate keys and deep nesting are
// refused, and sizes are bounded. Built on Boost.JSON's SAX parser.
// Not thread-safe per document; parse() is reentrant.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/json_text.hpp"

namespace creditd::http {

struct jvalue {
  enum class kind : std::uint8_t { null, boolean, number, string, array, object };
  kind type = kind::null;
  bool b = false;
  std::string text;           // number: its exact text; string: the decoded string
  std::vector<jvalue> items;  // array
  std::vector<std::pair<std::string, jvalue>> fields;  // object, in document order

  bool is_object() const { return type == kind::object; }
  bool is_null() const { return type == kind::null; }
  // Object lookup; nullptr when missing.
  const jvalue* find(std::string_view key) const;
};

struct json_error {
  std::string message;
};

inline constexpr std::size_t json_depth_max = 32;

// Parses one JSON text. Errors: syntax, invalid UTF-8, nesting deeper than
// json_depth_max, an object with more than 10,000 keys, a duplicate key in an
// object. Time O(n log n) in the size of the text.
std::optional<jvalue> parse_json(std::string_view text, json_error& error);

// Whether two of `keys` are equal under `less` (a strict weak order). Sorts
// `keys`; O(n log n) calls of `less`. parse_json's duplicate check.
template <typename Less = std::less<>>
bool has_duplicate_key(std::vector<std::string_view>& keys, Less less = {}) {
  std::sort(keys.begin(), keys.end(), less);
  return std::adjacent_find(
             keys.begin(), keys.end(),
             [&less](std::string_view a, std::string_view b) { return !less(a, b); }) != keys.end();
}

// `text` with every byte that is not part of valid UTF-8 (overlong forms,
// surrogates and code points past U+10FFFF included) replaced by U+FFFD:
// for echoing request bytes (ids from a path) into a JSON response.
using util::valid_utf8;

// Writes `v` back as compact JSON with object keys sorted and every value as
// it was sent (http/validate.hpp's write_canonical also normalizes the
// described amount fields).
void write_canonical(std::string& out, const jvalue& v);

// The members of object `v` ordered by key (for canonical forms).
std::vector<const std::pair<std::string, jvalue>*> sorted_members(const jvalue& v);

}  // namespace creditd::http
