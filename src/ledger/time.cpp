#include "ledger/time.hpp"

#include <array>
#include <cstdio>

#include "util/floor_divide.hpp"

namespace creditd::ledger {

// Howard Hinnant's days_from_civil / civil_from_days.
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2);
}

std::int64_t month_index(time_us t) {
  const std::int64_t days = util::floor_divide(t, us_per_day).quotient;
  std::int64_t y = 0;
  unsigned m = 0, d = 0;
  civil_from_days(days, y, m, d);
  return y * 12 + (m - 1);
}

void append_time(std::string& out, time_us t) {
  const auto [secs, frac] = util::floor_divide(t, us_per_second);
  const auto [days, rem] = util::floor_divide(secs, 86400);
  std::int64_t y = 0;
  unsigned m = 0, d = 0;
  civil_from_days(days, y, m, d);
  std::array<char, 40> buf{};
  if (y < 0 || y > 9999) {
    const int n =
        std::snprintf(buf.data(), buf.size(), "%04lld-%02u-%02uT%02lld:%02lld:%02lld",
                      static_cast<long long>(y), m, d, static_cast<long long>(rem / 3600),
                      static_cast<long long>(rem % 3600 / 60), static_cast<long long>(rem % 60));
    out.append(buf.data(), static_cast<std::size_t>(n));
  } else {
    // The common case by hand: every reply carries instants, and
    // snprintf's format parsing cost more than the rest of the rendering.
    auto digits = [&](char* at, std::int64_t v, int width) {
      for (int i = width - 1; i >= 0; --i, v /= 10)
        at[i] = static_cast<char>('0' + v % 10);
    };
    char* p = buf.data();
    digits(p, y, 4);
    p[4] = '-';
    digits(p + 5, m, 2);
    p[7] = '-';
    digits(p + 8, d, 2);
    p[10] = 'T';
    digits(p + 11, rem / 3600, 2);
    p[13] = ':';
    digits(p + 14, rem % 3600 / 60, 2);
    p[16] = ':';
    digits(p + 17, rem % 60, 2);
    out.append(p, 19);
  }
  if (frac != 0) {
    // ".ffffff" without its trailing zeros.
    buf[0] = '.';
    std::int64_t f = frac;
    for (int i = 6; i >= 1; --i, f /= 10)
      buf[static_cast<std::size_t>(i)] = static_cast<char>('0' + f % 10);
    std::size_t len = 7;
    while (buf[len - 1] == '0')
      --len;
    out.append(buf.data(), len);
  }
  out.push_back('Z');
}

std::string format_time(time_us t) {
  std::string out;
  append_time(out, t);
  return out;
}

namespace {
bool read_digits(std::string_view s, std::size_t pos, std::size_t n, int& value) {
  if (pos + n > s.size()) return false;
  value = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  return true;
}
}  // namespace

std::optional<time_us> parse_time(std::string_view s) {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!read_digits(s, 0, 4, year) || s.size() < 20 || s[4] != '-' || !read_digits(s, 5, 2, month) ||
      s[7] != '-' || !read_digits(s, 8, 2, day) || (s[10] != 'T' && s[10] != 't') ||
      !read_digits(s, 11, 2, hour) || s[13] != ':' || !read_digits(s, 14, 2, minute) ||
      s[16] != ':' || !read_digits(s, 17, 2, second)) {
    return std::nullopt;
  }
  if (year < 1 || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) {
    return std::nullopt;
  }
  static constexpr std::array<int, 12> month_days = {31, 29, 31, 30, 31, 30,
                                                     31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (day > month_days[month - 1] || (month == 2 && day == 29 && !leap)) return std::nullopt;
  std::size_t pos = 19;
  std::int64_t frac_us = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    std::size_t digits = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (digits < 6) {
        frac_us = frac_us * 10 + (s[pos] - '0');
      } else if (s[pos] != '0') {
        return std::nullopt;
      }
      ++digits;
      ++pos;
    }
    if (digits == 0) return std::nullopt;
    for (std::size_t k = digits; k < 6; ++k)
      frac_us *= 10;
  }
  std::int64_t offset_s = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    const int sign = s[pos] == '-' ? -1 : 1;
    int oh = 0, om = 0;
    if (!read_digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !read_digits(s, pos + 4, 2, om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset_s = sign * (oh * 3600 + om * 60);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  const std::int64_t days =
      days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  const std::int64_t secs = days * 86400 + hour * 3600 + minute * 60 + second - offset_s;
  const time_us t = secs * us_per_second + frac_us;
  if (t < time_us_min || t > time_us_max + (us_per_second - 1)) return std::nullopt;
  return t;
}

}  // namespace creditd::ledger
