// The catalog file: prices, packages and plans written in TOML (see
// examples/catalog.toml), parsed into the ledger's commands. Pure but for
// load_catalog, which reads the file; thread-safe (no shared state).
//
//   [prices.generate-pro]            # the table's key is the id
//   operation = "image.generate"
//   dimensions = { model = "flux-pro" }  # optional; values are strings
//   unit_amount = 3                  # credits per unit: an integer or a decimal string
//
//   [packages.pack-300]
//   credits = 300
//   price = "25.00"                  # money, in `currency`
//   currency = "usd"                 # three letters, stored lowercase
//   validity_days = 365              # optional; 0 (the default): never expires
//
//   [plans.pro-monthly]
//   credits_per_period = 1000
//   period = "month"                 # "month" or "year"
//   rollover_cap = 200               # optional; absent: nothing is carried over
//
// Amounts are exact decimals: a TOML integer (3) or a string ("0.002"). A
// TOML float (0.002) is refused, since a binary float cannot hold most
// decimals exactly. Unknown tables and keys are refused, so that a typo is
// never silently ignored.
#pragma once

#include <cstddef>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

#include "ledger/commerce.hpp"

namespace creditd::service {

// Limit: a longer file is refused (a catalog of 10000 prices is ~1 MiB).
inline constexpr std::size_t catalog_file_bytes_max = 4 << 20;

struct catalog_file {
  // Each in the order of the file.
  std::vector<ledger::price_cmd> prices;  // dimensions sorted by key
  std::vector<ledger::package_cmd> packages;
  std::vector<ledger::plan_cmd> plans;
};

// Parses a catalog. `source_name` names the text in error messages.
// Success: the commands, checked as the ledger checks them (ids, amounts,
// currency, periods, dimension bounds; two prices of one operation that
// have as many dimensions and could match the same charge are refused, as
// the ledger refuses them). Errors: one message, the first problem in file
// order, as "<source_name>:<line>: <key path>: <what is wrong>", e.g.
// `catalog.toml:12: prices.gen-premium.unit_amount: 0.5 is a TOML float ...`;
// TOML syntax errors as "<source_name>:<line>: <toml++'s description>".
std::expected<catalog_file, std::string> parse_catalog(std::string_view toml_text,
                                                       std::string_view source_name);

// Reads the file at `path` and parses it, naming it `path` in messages.
// Errors: parse_catalog's, a file that cannot be read, or one over
// catalog_file_bytes_max.
std::expected<catalog_file, std::string> load_catalog(const std::string& path);

}  // namespace creditd::service
