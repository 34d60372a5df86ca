#include "calendar/tz_calendar.hpp"

#include <date/tz.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>

namespace creditd::calendar {
namespace {

bool is_zone_name_byte(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '/' ||
         c == '_' || c == '+' || c == '-';
}

// The zone named `name`, or nullptr.
const date::time_zone* find_zone(std::string_view name) {
  if (name.empty() || name.size() > zone_name_bytes_max) return nullptr;
  if (!std::ranges::all_of(name, is_zone_name_byte) || name == "localtime") return nullptr;
  try {
    return date::locate_zone(name);
  } catch (const std::runtime_error&) {  // "... not found in timezone database"
    return nullptr;
  }
}

}  // namespace

tz_calendar::tz_calendar() {
  date::get_tzdb();  // loads the zone names once, here rather than on a first request
}

bool tz_calendar::knows_zone(std::string_view zone) const {
  return find_zone(zone) != nullptr;
}

std::optional<ledger::local_date> tz_calendar::date_at(std::string_view zone,
                                                       ledger::time_us t) const {
  const date::time_zone* tz = find_zone(zone);
  if (tz == nullptr || t < ledger::time_us_min || t > ledger::time_us_max) return std::nullopt;
  const date::sys_time<std::chrono::microseconds> at{std::chrono::microseconds{t}};
  const date::year_month_day ymd{date::floor<date::days>(tz->to_local(at))};
  return ledger::local_date{static_cast<int>(ymd.year()),
                            static_cast<std::uint8_t>(static_cast<unsigned>(ymd.month())),
                            static_cast<std::uint8_t>(static_cast<unsigned>(ymd.day()))};
}

std::optional<ledger::time_us> tz_calendar::boundary(std::string_view zone,
                                                     ledger::local_date anchor,
                                                     ledger::period_unit unit,
                                                     std::int64_t n) const {
  const date::time_zone* tz = find_zone(zone);
  if (tz == nullptr) return std::nullopt;
  const std::optional<ledger::local_date> day = ledger::clamped_date_after(anchor, unit, n);
  if (!day) return std::nullopt;
  const date::local_seconds midnight{
      date::local_days{date::year{day->year} / date::month{day->month} / date::day{day->day}}};
  // choose::earliest: a midnight that occurs twice maps to its first
  // occurrence. A skipped one maps to the end of the gap whatever the choice
  // (date/tz returns the transition instant for a nonexistent local time).
  const date::sys_seconds at = tz->to_sys(midnight, date::choose::earliest);
  return at.time_since_epoch().count() * ledger::us_per_second;
}

}  // namespace creditd::calendar
