// Text encodings of the composite columns (settings, parts, scope), shared by
// every storage engine. Pure functions; thread-safe.
//
//   parts         [[lot_id, micros], ...]               (lot 0 = postpaid)
//   charge parts  [[lot_id, micros, refunded], ...]
//   scope         ["image.generate", "llm.*"]
//   settings      {"low_balance_thresholds":[micros...],"reserve":micros,...}
//   dimensions    {"model":"flux-pro","size":"1024"}      (a price's, keys sorted)
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ledger/types.hpp"
#include "util/json_text.hpp"

namespace creditd::store {

void encode_parts(std::string& out, std::span<const ledger::lot_part> parts);
void encode_charge_parts(std::string& out, std::span<const ledger::charge_part> parts);
void encode_scope(std::string& out, const std::vector<std::string>& scope);
void encode_settings(std::string& out, const ledger::account_settings& s);
// `dims` sorted by key, keys distinct (a price's): the output is canonical.
void encode_dimensions(std::string& out, const ledger::dimension_list& dims);

std::optional<std::vector<ledger::lot_part>> decode_parts(std::string_view text);
std::optional<std::vector<ledger::charge_part>> decode_charge_parts(std::string_view text);
std::optional<std::vector<std::string>> decode_scope(std::string_view text);
std::optional<ledger::account_settings> decode_settings(std::string_view text);
// Sorted by key, keys distinct; nullopt for a non-object or a non-string
// value. Bytes that are not UTF-8 come back as they were written.
std::optional<ledger::dimension_list> decode_dimensions(std::string_view text);

// Appends `s` as a JSON string literal (quotes and escapes included).
using util::append_json_string;

}  // namespace creditd::store
