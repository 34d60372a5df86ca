// Request decoding that needs no engine: a reader for the fields of a JSON
// request body that remembers the first problem, and the decoder of a charge
// (a single charge or a batch item). Pure functions of their input.
// Not thread-safe per object; the functions are reentrant.
#pragma once

#include <charconv>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "http/json.hpp"
#include "ledger/amount.hpp"
#include "ledger/ledger.hpp"
#include "ledger/limits.hpp"
#include "ledger/time.hpp"

namespace creditd::http {

// Reads request fields, remembering the first problem.
class fields {
 public:
  explicit fields(const jvalue& obj) : obj_(obj) {}
  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  void fail(std::string message) {
    if (error_.empty()) error_ = std::move(message);
  }
  // Refuses fields not named in `known`.
  void only(std::initializer_list<std::string_view> known) {
    for (const auto& [k, v] : obj_.fields) {
      bool found = false;
      for (std::string_view n : known)
        found = found || n == k;
      if (!found) fail("unknown field: " + k);
    }
  }
  const jvalue* get(std::string_view key) const {
    const jvalue* v = obj_.find(key);
    return v == nullptr || v->is_null() ? nullptr : v;
  }
  std::optional<ledger::micros> amount(
      std::string_view key, ledger::sign_policy sign = ledger::sign_policy::non_negative) {
    const jvalue* v = get(key);
    if (v == nullptr) return std::nullopt;
    if (v->type != jvalue::kind::number && v->type != jvalue::kind::string) {
      fail(std::string(key) + " must be an amount (a number or a decimal string)");
      return std::nullopt;
    }
    // A minus sign where none is allowed is refused even on a zero ("-0"):
    // the ledger's parser reads "-0" as 0, a valid zero charge or capture.
    auto a = sign == ledger::sign_policy::non_negative && v->text.starts_with('-')
                 ? std::expected<ledger::micros, ledger::amount_error>(
                       std::unexpected(ledger::amount_error::negative))
                 : ledger::parse_amount(v->text, sign);
    if (!a) {
      fail(std::string(key) + ": " + std::string(ledger::to_string(a.error())));
      return std::nullopt;
    }
    return *a;
  }
  std::optional<std::string> string(std::string_view key, std::size_t length_max) {
    const jvalue* v = get(key);
    if (v == nullptr) return std::nullopt;
    if (v->type != jvalue::kind::string) {
      fail(std::string(key) + " must be a string");
      return std::nullopt;
    }
    if (v->text.size() > length_max) {
      fail(std::string(key) + " is longer than " + std::to_string(length_max) + " bytes");
      return std::nullopt;
    }
    return v->text;
  }
  std::optional<std::int64_t> integer(std::string_view key, std::int64_t min, std::int64_t max) {
    const jvalue* v = get(key);
    if (v == nullptr) return std::nullopt;
    std::int64_t out = 0;
    // No minus sign where no negative is allowed, not even on a zero ("-0").
    bool good = v->type == jvalue::kind::number && !(min >= 0 && v->text.starts_with('-'));
    if (good) {
      auto [p, ec] = std::from_chars(v->text.data(), v->text.data() + v->text.size(), out);
      good = ec == std::errc{} && p == v->text.data() + v->text.size();
    }
    if (!good || out < min || out > max) {
      fail(std::string(key) + " must be an integer from " + std::to_string(min) + " to " +
           std::to_string(max));
      return std::nullopt;
    }
    return out;
  }
  std::optional<bool> boolean(std::string_view key) {
    const jvalue* v = get(key);
    if (v == nullptr) return std::nullopt;
    if (v->type != jvalue::kind::boolean) {
      fail(std::string(key) + " must be true or false");
      return std::nullopt;
    }
    return v->b;
  }
  std::optional<ledger::time_us> time(std::string_view key) {
    auto s = string(key, 64);
    if (!s) return std::nullopt;
    auto t = ledger::parse_time(*s);
    if (!t) fail(std::string(key) + " must be an RFC 3339 time, e.g. 2026-11-25T10:00:00Z");
    return t;
  }
  // A flat object of scalar values, written canonically (keys sorted).
  std::string dimensions(std::string_view key) {
    const jvalue* v = get(key);
    if (v == nullptr) return {};
    if (!v->is_object()) {
      fail(std::string(key) + " must be an object");
      return {};
    }
    if (v->fields.size() > 32) fail(std::string(key) + " has more than 32 keys");
    for (const auto& [k, x] : v->fields) {
      if (k.empty() || k.size() > 64) fail(std::string(key) + " keys must be 1 to 64 bytes");
      if (x.type == jvalue::kind::object || x.type == jvalue::kind::array ||
          x.type == jvalue::kind::null) {
        fail(std::string(key) + "." + k + " must be a string, number or boolean");
      }
    }
    std::string out;
    write_canonical(out, *v);
    if (out.size() > ledger::limits::dimensions_bytes_max)
      fail(std::string(key) + " is larger than 4096 bytes");
    return v->fields.empty() ? std::string() : out;
  }

 private:
  const jvalue& obj_;
  std::string error_;
};

// What describes a spend, for charges and holds alike.
struct spend_fields {
  std::string operation;
  std::string dimensions;
  std::string reference;
  bool urgent = false;
  std::optional<ledger::micros> amount;  // absent: the cost would come from the catalog
};

// Reads operation, dimensions, quantity, amount, reference and urgent;
// problems go to `f`.
spend_fields read_spend(fields& f);

// The message for a spend without an explicit amount (no catalog yet).
std::string no_price(const std::string& operation);

// Decodes a charge body (also a batch item); the account comes from the path.
// On failure `error` says why and `unknown_price` tells a 422 from a 400.
std::optional<ledger::charge_cmd> decode_charge(const jvalue& body, const std::string& account,
                                                std::string& error, bool& unknown_price);

}  // namespace creditd::http
