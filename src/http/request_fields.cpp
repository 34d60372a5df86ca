#include "http/request_fields.hpp"

#include <algorithm>

#include "api/description.hpp"
#include "util/assert.hpp"

namespace creditd::http {

namespace {
// A dimensions object as sorted pairs: strings as their text, numbers as
// their exact text, booleans as true/false (prices match on that text).
ledger::dimension_list dimension_pairs(const jvalue* obj) {
  ledger::dimension_list out;
  if (obj == nullptr || !obj->is_object()) return out;
  out.reserve(obj->fields.size());
  for (const auto& [key, value] : obj->fields) {
    std::string text =
        value.type == jvalue::kind::boolean ? (value.b ? "true" : "false") : value.text;
    out.push_back({key, std::move(text)});
  }
  ledger::sort_dimensions(out);
  return out;
}
}  // namespace

spend_fields read_spend(const body_values& v) {
  spend_fields s;
  s.operation = v.string("operation").value_or("");
  s.dimensions = v.dimensions("dimensions");
  s.dimension_values = dimension_pairs(v.get("dimensions"));
  s.quantity = v.amount("quantity").value_or(ledger::micros_per_credit);
  s.amount = v.amount("amount");
  s.reference = v.string("reference").value_or("");
  s.urgent = v.boolean("urgent").value_or(false);
  s.metadata = v.dimensions("metadata");
  return s;
}

ledger::charge_cmd decode_checked_charge(const jvalue& body, const std::string& account) {
  spend_fields s = read_spend(body_values(&body));
  ledger::charge_cmd cmd{account,
                         s.amount.value_or(0),
                         std::move(s.operation),
                         std::move(s.dimensions),
                         std::move(s.reference),
                         s.urgent};
  cmd.quantity = s.quantity;
  cmd.metadata = std::move(s.metadata);
  cmd.from_catalog = !s.amount.has_value();
  cmd.dimension_values = std::move(s.dimension_values);
  return cmd;
}

std::optional<ledger::charge_cmd> decode_charge(const jvalue& body, const std::string& account,
                                                std::string& error) {
  static const desc::endpoint* charge = desc::find_endpoint("create_charge");
  CREDITD_ASSERT(charge != nullptr);
  if (!body.is_object()) {
    error = "a charge must be an object";
    return std::nullopt;
  }
  error = check_fields(body, charge->body);
  if (!error.empty()) return std::nullopt;
  return decode_checked_charge(body, account);
}

}  // namespace creditd::http
