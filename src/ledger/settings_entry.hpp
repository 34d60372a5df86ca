// The journal entry of a settings change that moves the balance.
//
// An account's available balance depends on two of its settings: the reserve
// (kept back from ordinary charges) and the postpaid limit. When either
// changes, or an account is created with either non-zero, the ledger writes
// a `settings` entry (amount 0, no parts) whose metadata holds both new
// values and whose balance_after is the balance under them. So every
// balance_after of the journal can be recomputed from the journal alone, and
// a balance as of a past instant uses the settings of that instant.
//
// Accounts whose settings changed before these entries existed have none: a
// reader that finds no settings entry for an account whose settings are not
// zero cannot know their history (audit.cpp and balance_at.cpp say how they
// treat it).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "ledger/types.hpp"

namespace creditd::ledger {

struct balance_settings {
  micros reserve = 0;
  micros postpaid_limit = 0;
  friend bool operator==(const balance_settings&, const balance_settings&) = default;
};

inline balance_settings balance_settings_of(const account_settings& s) {
  return {s.reserve, s.postpaid_limit};
}

// {"reserve":"2.5","postpaid_limit":"0"}: the API's amount strings.
std::string settings_entry_metadata(const balance_settings& s);
// The values of settings_entry_metadata's text, or nullopt for any other
// text (another layout, a bad or negative amount).
std::optional<balance_settings> parse_settings_entry_metadata(std::string_view text);

}  // namespace creditd::ledger
