// Decoding of spend bodies (charges, batch items, holds, quotes) into ledger
// commands, after they were checked against the API description. Pure
// functions of their input; reentrant.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "http/json.hpp"
#include "http/validate.hpp"
#include "ledger/ledger.hpp"
#include "service/service.hpp"

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

// ?limit= (default 50) and ?after= of a list, checked already against the
// route's query fields.
service::name_page name_paging(const std::string& query);

// Decodes a charge body (also a batch item or a quote) already checked
// against the description; the account comes from the path.
ledger::charge_cmd decode_checked_charge(const jvalue& body, const std::string& account);

// A spend body (a charge, a quote, a hold) decoded straight from its text,
// without a JSON tree, when it has the common shape: one flat object of
// described scalar fields (no dimensions or metadata, no null, no
// duplicate), strings of printable ASCII without escapes, JSON whitespace
// only. Every value passes the same checks as on the general path
// (validate.hpp's check_value against `fields`). Anything else, valid or
// not, gives nullopt, and the caller takes the general path (parse_json,
// check_fields, decode_checked_charge), which answers every refusal: so the
// fast path refuses nothing itself, and what it accepts it decodes as the
// general path does (tests/http/fast_spend_test.cpp runs both on the same
// inputs).
struct fast_spend {
  spend_fields s;
  std::optional<std::int64_t> ttl_seconds;  // holds
  // write_canonical(body, fields), when asked for (an Idempotency-Key).
  std::string canonical;
};
std::optional<fast_spend> decode_spend_fast(std::string_view body,
                                            std::span<const desc::field> fields,
                                            bool with_canonical);

// A charge command from a fast_spend (as decode_checked_charge from a tree).
ledger::charge_cmd charge_from(fast_spend&& f, const std::string& account);

// Checks a charge body against the description, then decodes it (for input
// that no router checked, such as the fuzzer's). On failure `error` says why.
std::optional<ledger::charge_cmd> decode_charge(const jvalue& body, const std::string& account,
                                                std::string& error);

}  // namespace creditd::http
