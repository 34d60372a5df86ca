// Input checks shared by the ledger's commands. Pure; thread-safe.
#pragma once

#include <string_view>

#include "ledger/error.hpp"
#include "ledger/types.hpp"

namespace creditd::ledger {

// [A-Za-z0-9._:-]{1,128}
bool valid_account_id(std::string_view id);
// [A-Za-z0-9._:/-]{1,128}, or "*" / "prefix.*" when `pattern` (lot scopes).
bool valid_operation(std::string_view op, bool pattern = false);
// nullptr when the settings are acceptable, else a static message naming the field.
const char* check_settings(const account_settings& s);

}  // namespace creditd::ledger
