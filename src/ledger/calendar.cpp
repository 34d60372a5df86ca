// utc_calendar: billing-period boundaries in UTC, without a time-zone
// database.
#include "ledger/calendar.hpp"

#include "util/floor_divide.hpp"

namespace creditd::ledger {

std::optional<local_date> utc_calendar::date_at(std::string_view zone, time_us t) const {
  if (!knows_zone(zone) || t < time_us_min || t > time_us_max) return std::nullopt;
  const std::int64_t days = util::floor_divide(t, us_per_day).quotient;
  std::int64_t y = 0;
  unsigned m = 0, d = 0;
  civil_from_days(days, y, m, d);
  return local_date{static_cast<std::int32_t>(y), static_cast<std::uint8_t>(m),
                    static_cast<std::uint8_t>(d)};
}

std::optional<time_us> utc_calendar::boundary(std::string_view zone, local_date anchor,
                                              period_unit unit, std::int64_t n) const {
  if (!knows_zone(zone)) return std::nullopt;
  const std::optional<local_date> day = clamped_date_after(anchor, unit, n);
  if (!day) return std::nullopt;
  return days_from_civil(day->year, day->month, day->day) * us_per_day;
}

}  // namespace creditd::ledger
