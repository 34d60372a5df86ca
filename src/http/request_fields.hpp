// Decoding of spend bodies (charges, batch items, holds, quotes) into ledger
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
// cost comes from the catalog, inside the command.
struct spend_fields {
  std::string operation;
  std::string dimensions;                   // canonical JSON object text, or ""
  ledger::dimension_list dimension_values;  // the same as pairs, sorted by key
  std::string reference;
  bool urgent = false;
  std::optional<ledger::micros> amount;
  ledger::micros quantity = ledger::micros_per_credit;
  std::string metadata;
};
spend_fields read_spend(const body_values& v);

// Decodes a charge body (also a batch item or a quote) already checked
// against the description; the account comes from the path.
ledger::charge_cmd decode_checked_charge(const jvalue& body, const std::string& account);

// Checks a charge body against the description, then decodes it (for input
// that no router checked, such as the fuzzer's). On failure `error` says why.
std::optional<ledger::charge_cmd> decode_charge(const jvalue& body, const std::string& account,
                                                std::string& error);

}  // namespace creditd::http
