// Decoding of spend bodies (charges, batch items, holds) into ledger
// commands, after they were checked against the API description. Pure
// functions of their input; reentrant.
#pragma once

#include <optional>
#include <string>

#include "http/json.hpp"
#include "http/validate.hpp"
#include "ledger/ledger.hpp"

namespace creditd::http {

// The fields of a charge or hold, from a checked body. `amount` absent: the
// cost must come from the catalog.
struct spend_fields {
  std::string operation;
  std::string dimensions;
  std::string reference;
  bool urgent = false;
  std::optional<ledger::micros> amount;
  ledger::micros quantity = ledger::micros_per_credit;
  std::string metadata;
};
spend_fields read_spend(const body_values& v);

// The message for a spend without an explicit amount (no catalog yet).
std::string no_price(const std::string& operation);

// Decodes a charge body (also a batch item) already checked against the
// description; the account comes from the path. nullopt: no amount was sent
// and no price matches (a 422).
std::optional<ledger::charge_cmd> decode_checked_charge(const jvalue& body,
                                                        const std::string& account);

// Checks a charge body against the description, then decodes it (for input
// that no router checked, such as the fuzzer's). On failure `error` says why
// and `unknown_price` tells a 422 from a 400.
std::optional<ledger::charge_cmd> decode_charge(const jvalue& body, const std::string& account,
                                                std::string& error, bool& unknown_price);

}  // namespace creditd::http
