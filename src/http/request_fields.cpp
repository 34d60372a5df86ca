#include "http/request_fields.hpp"

#include "api/description.hpp"
#include "util/assert.hpp"

namespace creditd::http {

spend_fields read_spend(const body_values& v) {
  spend_fields s;
  s.operation = v.string("operation").value_or("");
  s.dimensions = v.dimensions("dimensions");
  s.quantity = v.amount("quantity").value_or(ledger::micros_per_credit);
  s.amount = v.amount("amount");
  s.reference = v.string("reference").value_or("");
  s.urgent = v.boolean("urgent").value_or(false);
  s.metadata = v.dimensions("metadata");
  return s;
}

// The catalog (prices) is not part of this version: without an explicit
// amount no price can match.
std::string no_price(const std::string& operation) {
  return "no price matches operation " + operation + "; send an explicit amount";
}

std::optional<ledger::charge_cmd> decode_checked_charge(const jvalue& body,
                                                        const std::string& account) {
  spend_fields s = read_spend(body_values(&body));
  if (!s.amount) return std::nullopt;
  ledger::charge_cmd cmd{
      account, *s.amount, std::move(s.operation), std::move(s.dimensions), std::move(s.reference),
      s.urgent};
  cmd.quantity = s.quantity;
  cmd.metadata = std::move(s.metadata);
  return cmd;
}

std::optional<ledger::charge_cmd> decode_charge(const jvalue& body, const std::string& account,
                                                std::string& error, bool& unknown_price) {
  static const desc::endpoint* charge = desc::find_endpoint("create_charge");
  CREDITD_ASSERT(charge != nullptr);
  unknown_price = false;
  if (!body.is_object()) {
    error = "a charge must be an object";
    return std::nullopt;
  }
  error = check_fields(body, charge->body);
  if (!error.empty()) return std::nullopt;
  auto cmd = decode_checked_charge(body, account);
  if (!cmd) {
    error = no_price(body_values(&body).string("operation").value_or(""));
    unknown_price = true;
  }
  return cmd;
}

}  // namespace creditd::http
