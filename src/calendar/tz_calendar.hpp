// Billing-period boundaries in IANA time zones ("America/New_York"), over
// the system's time-zone database (/usr/share/zoneinfo, read through Howard
// Hinnant's date/tz). Thread-safe: the database is loaded in the constructor
// and only read after (each zone's transitions are loaded once, on first use,
// under the library's std::call_once).
//
// Known limit: date/tz 3.0.1 ignores the POSIX TZ rule at the end of each
// zoneinfo file (HowardHinnant/date#794), so after a zone's last listed
// transition (2037 in Debian's "fat" files) its last offset holds forever:
// DST is not applied from 2038 on.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "ledger/calendar.hpp"

namespace creditd::calendar {

// Zone names longer than this, or with a byte outside [A-Za-z0-9/_+-], are
// refused without a look-up (the longest IANA name is 32 bytes).
inline constexpr std::size_t zone_name_bytes_max = 64;

class tz_calendar final : public ledger::calendar {
 public:
  // Loads the time-zone database; throws std::runtime_error when it cannot
  // be read.
  tz_calendar();

  // Never throws. Refuses "localtime" (the host's zone, not a billing zone).
  bool knows_zone(std::string_view zone) const override;
  std::optional<ledger::local_date> date_at(std::string_view zone,
                                            ledger::time_us t) const override;
  std::optional<ledger::time_us> boundary(std::string_view zone, ledger::local_date anchor,
                                          ledger::period_unit unit, std::int64_t n) const override;
};

}  // namespace creditd::calendar
