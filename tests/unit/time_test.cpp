// RFC 3339 parsing and formatting, civil-date helpers and month_index.
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ledger/time.hpp"

namespace creditd::ledger {
namespace time_test_cpp {  // unity builds: tests/CMakeLists.txt
namespace {

constexpr time_us s(std::int64_t seconds) {
  return seconds * us_per_second;
}

TEST(time, formats) {
  struct row {
    time_us t;
    const char* text;
  };
  for (const row& r : {
           row{0, "1970-01-01T00:00:00Z"},
           row{s(1'795'600'800), "2026-11-25T10:00:00Z"},
           row{s(1'795'600'800) + 500'000, "2026-11-25T10:00:00.5Z"},
           row{s(1'795'600'800) + 120'000, "2026-11-25T10:00:00.12Z"},
           row{s(1'795'600'800) + 1, "2026-11-25T10:00:00.000001Z"},
           row{s(1'795'600'800) + 999'999, "2026-11-25T10:00:00.999999Z"},
           row{s(1'798'761'599), "2026-12-31T23:59:59Z"},
           row{s(1'709'164'800), "2024-02-29T00:00:00Z"},
           row{-1, "1969-12-31T23:59:59.999999Z"},
           row{-us_per_second, "1969-12-31T23:59:59Z"},
           row{time_us_min, "0001-01-01T00:00:00Z"},
           row{time_us_max, "9999-12-31T23:59:59Z"},
       }) {
    EXPECT_EQ(format_time(r.t), r.text) << r.t;
    std::string out = "at ";
    append_time(out, r.t);
    EXPECT_EQ(out, std::string("at ") + r.text);
  }
}

TEST(time, parses) {
  struct row {
    const char* text;
    time_us t;
  };
  const time_us base = s(1'795'600'800);  // 2026-11-25T10:00:00Z
  for (const row& r : {
           row{"2026-11-25T10:00:00Z", base},
           row{"2026-11-25t10:00:00z", base},
           row{"2026-11-25T10:00:00.5Z", base + 500'000},
           row{"2026-11-25T10:00:00.123456Z", base + 123'456},
           row{"2026-11-25T10:00:00.000001Z", base + 1},
           row{"2026-11-25T10:00:00.1234560000Z", base + 123'456},  // zeros beyond 6 digits
           row{"2026-11-25T10:00:00+02:00", base - s(2 * 3600)},
           row{"2026-11-25T12:00:00+02:00", base},
           row{"2026-11-25T04:30:00-05:30", base},
           row{"2026-11-25T10:00:00+00:00", base},
           row{"2026-11-25T10:00:00-00:00", base},
           row{"2026-11-25T10:00:00.25+01:00", base - s(3600) + 250'000},
           row{"2026-11-26T09:59:00+23:59", base},
           row{"2024-02-29T00:00:00Z", s(1'709'164'800)},
           row{"2000-02-29T12:00:00Z", s(951'825'600)},
           row{"1970-01-01T00:00:00Z", 0},
           row{"1969-12-31T23:59:59.999999Z", -1},
           row{"0001-01-01T00:00:00Z", time_us_min},
           row{"9999-12-31T23:59:59Z", time_us_max},
       }) {
    const std::optional<time_us> got = parse_time(r.text);
    ASSERT_TRUE(got.has_value()) << r.text;
    EXPECT_EQ(*got, r.t) << r.text;
  }
}

TEST(time, refuses_invalid_text) {
  for (const char* text : {
           "",
           "2026-11-25",
           "2026-11-25T10:00Z",
           "2026-11-25T10:00:00",    // no offset
           "2026-11-25 10:00:00Z",   // space separator
           "2026-11-25T10:00:00Z ",  // trailing text
           " 2026-11-25T10:00:00Z",
           "2026-11-25T10:00:00ZZ",
           "2026-11-25T10:00:00.Z",         // empty fraction
           "2026-11-25T10:00:00.1234567Z",  // finer than a microsecond
           "2026-11-25T10:00:00.0000001Z",
           "2026-11-25T10:00:00,5Z",
           "2026-02-30T00:00:00Z",  // Feb 30
           "2026-02-31T00:00:00Z",
           "2023-02-29T00:00:00Z",  // not a leap year
           "1900-02-29T00:00:00Z",  // century, not a leap year
           "2100-02-29T00:00:00Z",
           "2026-04-31T00:00:00Z",
           "2026-11-31T00:00:00Z",
           "2026-13-01T00:00:00Z",
           "2026-00-10T00:00:00Z",
           "2026-11-00T00:00:00Z",
           "2026-11-25T24:00:00Z",
           "2026-11-25T10:60:00Z",
           "2026-11-25T10:00:60Z",  // no leap seconds
           "0000-01-01T00:00:00Z",
           "26-11-25T10:00:00Z",
           "2026/11/25T10:00:00Z",
           "2026-11-25T10:00:00+2:00",
           "2026-11-25T10:00:00+0200",
           "2026-11-25T10:00:00+02",
           "2026-11-25T10:00:00+24:00",
           "2026-11-25T10:00:00+02:60",
           "2026-11-25T10:00:00+02:00Z",
           "2026-11-25T1a:00:00Z",
           "-2026-11-25T10:00:00Z",
       }) {
    EXPECT_FALSE(parse_time(text).has_value()) << text;
  }
}

TEST(time, round_trips) {
  const std::vector<time_us> values = {
      0,
      1,
      -1,
      999'999,
      s(1'795'600'800),
      s(1'795'600'800) + 123'456,
      s(951'825'600) + 7,
      s(1'709'164'800) - 1,
      time_us_min,
      time_us_max,
      time_us_max + 999'999,
      -s(86'400) * 365,
  };
  for (time_us t : values) {
    const std::string text = format_time(t);
    const std::optional<time_us> back = parse_time(text);
    ASSERT_TRUE(back.has_value()) << text;
    EXPECT_EQ(*back, t) << text;
  }
  for (const char* text : {"2026-11-25T10:00:00Z", "2026-11-25T10:00:00.5Z",
                           "2000-02-29T23:59:59.000001Z", "0001-01-01T00:00:00Z"}) {
    EXPECT_EQ(format_time(parse_time(text).value()), text);
  }
  // Offsets normalise to UTC.
  EXPECT_EQ(format_time(parse_time("2026-11-25T12:00:00.75+02:00").value()),
            "2026-11-25T10:00:00.75Z");
  EXPECT_EQ(format_time(parse_time("2026-12-31T23:30:00-01:00").value()), "2027-01-01T00:30:00Z");
}

TEST(time, round_trips_every_day_of_four_centuries) {
  // 1900-01-01 .. 2300-12-31, every day at 12:34:56.789012.
  const std::int64_t first = days_from_civil(1900, 1, 1);
  const std::int64_t last = days_from_civil(2300, 12, 31);
  for (std::int64_t d = first; d <= last; ++d) {
    std::int64_t y = 0;
    unsigned m = 0, dd = 0;
    civil_from_days(d, y, m, dd);
    ASSERT_EQ(days_from_civil(y, m, dd), d);
    const time_us t = d * us_per_day + s(12 * 3600 + 34 * 60 + 56) + 789'012;
    ASSERT_EQ(parse_time(format_time(t)), t) << format_time(t);
  }
}

TEST(time, civil_days) {
  EXPECT_EQ(days_from_civil(1970, 1, 1), 0);
  EXPECT_EQ(days_from_civil(1970, 1, 2), 1);
  EXPECT_EQ(days_from_civil(1969, 12, 31), -1);
  EXPECT_EQ(days_from_civil(2000, 3, 1) - days_from_civil(2000, 2, 28), 2);
  EXPECT_EQ(days_from_civil(1900, 3, 1) - days_from_civil(1900, 2, 28), 1);
  EXPECT_EQ(days_from_civil(2026, 11, 25), 1'795'600'800 / 86'400);
  std::int64_t y = 0;
  unsigned m = 0, d = 0;
  civil_from_days(-1, y, m, d);
  EXPECT_EQ(y, 1969);
  EXPECT_EQ(m, 12u);
  EXPECT_EQ(d, 31u);
}

TEST(time, month_index) {
  struct row {
    const char* text;
    std::int64_t index;
  };
  for (const row& r : {
           row{"1970-01-01T00:00:00Z", 1970 * 12},
           row{"2026-11-25T10:00:00Z", 2026 * 12 + 10},
           row{"2026-11-01T00:00:00Z", 2026 * 12 + 10},
           row{"2026-11-30T23:59:59.999999Z", 2026 * 12 + 10},
           row{"2026-12-01T00:00:00Z", 2026 * 12 + 11},
           row{"2026-12-31T23:59:59.999999Z", 2026 * 12 + 11},
           row{"2027-01-01T00:00:00Z", 2027 * 12},
           row{"2024-02-29T23:59:59Z", 2024 * 12 + 1},
           row{"1969-12-31T23:59:59.999999Z", 1969 * 12 + 11},
           row{"0001-01-01T00:00:00Z", 12},
           row{"9999-12-31T23:59:59Z", 9999 * 12 + 11},
           // The period is the UTC month: 00:30 on Dec 1 at +01:00 is still November.
           row{"2026-12-01T00:30:00+01:00", 2026 * 12 + 10},
       }) {
    EXPECT_EQ(month_index(parse_time(r.text).value()), r.index) << r.text;
  }
  EXPECT_EQ(month_index(-1), 1969 * 12 + 11);
  EXPECT_EQ(month_index(0), 1970 * 12);
}

TEST(time, refuses_instants_outside_years_1_to_9999) {
  // parse_time has one refusal: no value at all. Each of these is a valid
  // RFC 3339 text whose instant falls outside 0001-01-01..9999-12-31 UTC once
  // its offset is applied, and must be refused, not clamped or wrapped.
  for (const char* text : {
           "9999-12-31T23:59:59-01:00",         // 10000-01-01T00:59:59Z
           "9999-12-31T23:59:59-00:01",         // 10000-01-01T00:00:59Z
           "9999-12-31T23:30:00-00:30",         // 10000-01-01T00:00:00Z, the first instant past
           "9999-12-31T23:59:59.999999-23:59",  // the largest offset
           "0001-01-01T00:00:00+01:00",         // 0000-12-31T23:00:00Z
           "0001-01-01T00:00:00+00:01",         // one minute before the first instant
           "0001-01-01T00:00:00.999999+23:59",  // the largest offset
       }) {
    EXPECT_EQ(parse_time(text), std::nullopt) << text;
  }
  // The same edges inside the range are kept, to the microsecond.
  struct row {
    const char* text;
    time_us t;
  };
  for (const row& r : {
           row{"9999-12-31T23:59:59.999999Z", time_us_max + 999'999},
           row{"9999-12-31T23:59:59+00:01", time_us_max - s(60)},
           row{"9999-12-31T22:59:59-01:00", time_us_max},
           row{"0001-01-01T00:00:00-00:01", time_us_min + s(60)},
           row{"0001-01-01T01:00:00+01:00", time_us_min},
       }) {
    EXPECT_EQ(parse_time(r.text), std::optional<time_us>(r.t)) << r.text;
  }
}

}  // namespace
}  // namespace time_test_cpp
}  // namespace creditd::ledger
