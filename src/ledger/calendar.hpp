// Billing-period boundaries, as an interface: the ledger renews
// subscriptions at instants it asks a calendar for, so the core stays pure
// (the time-zone database is read by the implementation, src/calendar/).
//
// A subscription's periods follow the calendar from its anchor, the local
// date on which it started: period n starts at local midnight of the anchor
// day n months (or n years) later, the day clamped to the month's length
// (anchor 31 Jan: 28/29 Feb, 31 Mar, 30 Apr, ...; yearly from 29 Feb: 28 Feb,
// then 29 Feb again in leap years). Period 0 starts at the subscription's
// start instant itself. Thread-safety: implementations are immutable.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string_view>

#include "ledger/time.hpp"

namespace creditd::ledger {

enum class period_unit : std::uint8_t { month, year };

// A civil date in a time zone: year, month 1-12, day 1-31.
struct local_date {
  std::int32_t year = 1970;
  std::uint8_t month = 1;
  std::uint8_t day = 1;
  friend bool operator==(const local_date&, const local_date&) = default;
};

inline constexpr std::int32_t calendar_year_min = 1;
inline constexpr std::int32_t calendar_year_max = 9999;

constexpr bool is_leap_year(std::int64_t year) {
  return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
}

constexpr unsigned days_in_month(std::int64_t year, unsigned month) {
  constexpr unsigned days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && is_leap_year(year) ? 29 : days[month - 1];
}

// True for a real date of years calendar_year_min..calendar_year_max.
constexpr bool is_valid(local_date d) {
  return d.year >= calendar_year_min && d.year <= calendar_year_max && d.month >= 1 &&
         d.month <= 12 && d.day >= 1 && d.day <= days_in_month(d.year, d.month);
}

// The local date `n` units after `anchor`, its day clamped to that month's
// length. The day is clamped from the anchor's, never from the previous
// period's (31 Jan: 28 Feb, then 31 Mar). nullopt when n < 1, the anchor is
// not a valid date, or the result is past calendar_year_max. Inline (and
// constexpr) because the calendar implementations see the ledger's headers
// without linking the core.
constexpr std::optional<local_date> clamped_date_after(local_date anchor, period_unit unit,
                                                       std::int64_t n) {
  if (!is_valid(anchor) || n < 1) return std::nullopt;
  const std::int64_t months_per_unit = unit == period_unit::year ? 12 : 1;
  // Bounds n before multiplying: no overflow, and anything larger is past year 9999.
  if (n > std::int64_t{calendar_year_max} * 12 / months_per_unit) return std::nullopt;
  const std::int64_t months =
      std::int64_t{anchor.year} * 12 + (anchor.month - 1) + n * months_per_unit;
  const std::int64_t year = months / 12;
  if (year > calendar_year_max) return std::nullopt;
  const auto month = static_cast<unsigned>(months % 12 + 1);
  const unsigned day = std::min<unsigned>(anchor.day, days_in_month(year, month));
  return local_date{static_cast<std::int32_t>(year), static_cast<std::uint8_t>(month),
                    static_cast<std::uint8_t>(day)};
}

class calendar {
 public:
  virtual ~calendar() = default;
  // True when `zone` names a time zone this calendar knows ("UTC",
  // "America/New_York", ...).
  virtual bool knows_zone(std::string_view zone) const = 0;
  // The local date of instant `t` in `zone`; nullopt for an unknown zone or
  // an instant outside time_us_min..time_us_max.
  virtual std::optional<local_date> date_at(std::string_view zone, time_us t) const = 0;
  // The UTC instant of local midnight starting the day `n` units after
  // `anchor` (n >= 1), day clamped to the month's length. A midnight that a
  // DST change skips is the first instant after the gap; one that occurs
  // twice is the first. nullopt for an unknown zone, n < 1, an invalid anchor
  // or a date past year 9999 (see clamped_date_after).
  virtual std::optional<time_us> boundary(std::string_view zone, local_date anchor,
                                          period_unit unit, std::int64_t n) const = 0;
};

// UTC only, without a time-zone database: knows the zone "UTC" alone. For
// tests of the core and as the default of a ledger given no calendar.
class utc_calendar final : public calendar {
 public:
  bool knows_zone(std::string_view zone) const override { return zone == "UTC"; }
  std::optional<local_date> date_at(std::string_view zone, time_us t) const override;
  std::optional<time_us> boundary(std::string_view zone, local_date anchor, period_unit unit,
                                  std::int64_t n) const override;
};

// A process-wide utc_calendar (immutable).
const calendar& default_calendar();

}  // namespace creditd::ledger
