#include "http/request_fields.hpp"

#include "ledger/validate.hpp"

namespace creditd::http {

spend_fields read_spend(fields& f) {
  spend_fields s;
  s.operation = f.string("operation", ledger::limits::operation_length_max).value_or("");
  if (f.ok() && !ledger::valid_operation(s.operation))
    f.fail("operation is required and must match [A-Za-z0-9._:/-]{1,128}");
  s.dimensions = f.dimensions("dimensions");
  auto quantity = f.amount("quantity");
  if (quantity && *quantity <= 0) f.fail("quantity must be positive");
  s.amount = f.amount("amount");
  s.reference = f.string("reference", ledger::limits::reference_length_max).value_or("");
  s.urgent = f.boolean("urgent").value_or(false);
  return s;
}

// The catalog (prices) is not part of this version: without an explicit
// amount no price can match.
std::string no_price(const std::string& operation) {
  return "no price matches operation " + operation + "; send an explicit amount";
}

std::optional<ledger::charge_cmd> decode_charge(const jvalue& body, const std::string& account,
                                                std::string& error, bool& unknown_price) {
  unknown_price = false;
  if (!body.is_object()) {
    error = "a charge must be an object";
    return std::nullopt;
  }
  fields f(body);
  f.only({"operation", "dimensions", "quantity", "amount", "reference", "urgent", "metadata"});
  spend_fields s = read_spend(f);
  if (!f.ok()) {
    error = f.error();
    return std::nullopt;
  }
  if (!s.amount) {
    error = no_price(s.operation);
    unknown_price = true;
    return std::nullopt;
  }
  return ledger::charge_cmd{
      account, *s.amount, std::move(s.operation), std::move(s.dimensions), std::move(s.reference),
      s.urgent};
}

}  // namespace creditd::http
