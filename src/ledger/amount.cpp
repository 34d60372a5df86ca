#include "ledger/amount.hpp"

#include <array>

namespace creditd::ledger {

std::string_view to_string(amount_error e) {
  switch (e) {
    case amount_error::empty:
      return "amount is empty";
    case amount_error::syntax:
      return "amount is not a decimal number";
    case amount_error::too_precise:
      return "amount has more than 6 fractional digits";
    case amount_error::negative:
      return "amount must not be negative";
    case amount_error::out_of_range:
      return "amount is too large";
  }
  return "invalid amount";
}

namespace {
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
}  // namespace

std::expected<micros, amount_error> parse_amount(std::string_view text, sign_policy policy) {
  if (text.empty()) return std::unexpected(amount_error::empty);
  std::size_t i = 0;
  bool negative = false;
  if (text[i] == '-') {
    negative = true;
    ++i;
  }
  // Integer part: JSON grammar, so no leading zeros except a lone "0".
  const std::size_t int_begin = i;
  while (i < text.size() && is_digit(text[i]))
    ++i;
  const std::size_t int_end = i;
  if (int_end == int_begin) return std::unexpected(amount_error::syntax);
  if (int_end - int_begin > 1 && text[int_begin] == '0')
    return std::unexpected(amount_error::syntax);
  std::size_t frac_begin = i, frac_end = i;
  if (i < text.size() && text[i] == '.') {
    ++i;
    frac_begin = i;
    while (i < text.size() && is_digit(text[i]))
      ++i;
    frac_end = i;
    if (frac_end == frac_begin) return std::unexpected(amount_error::syntax);
  }
  long exponent = 0;
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    bool exp_negative = false;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) {
      exp_negative = text[i] == '-';
      ++i;
    }
    const std::size_t exp_begin = i;
    while (i < text.size() && is_digit(text[i])) {
      if (exponent < 100000) exponent = exponent * 10 + (text[i] - '0');
      ++i;
    }
    if (i == exp_begin) return std::unexpected(amount_error::syntax);
    if (exp_negative) exponent = -exponent;
  }
  if (i != text.size()) return std::unexpected(amount_error::syntax);

  // value = digits (integer then fraction) x 10^(exponent - fraction_length).
  // We want value x 10^6 as an integer: shift = exponent - frac_len + 6.
  const long frac_len = static_cast<long>(frac_end - frac_begin);
  const long shift = exponent - frac_len + amount_fraction_digits_max;
  // Walk the digits; those that fall below the micro position must be zero.
  const long total_digits = static_cast<long>(int_end - int_begin) + frac_len;
  const long kept_digits = total_digits + (shift < 0 ? shift : 0);  // digits above 10^-6
  micros value = 0;
  long index = 0;
  auto digit_at = [&](long k) -> int {
    const long int_len = static_cast<long>(int_end - int_begin);
    return k < int_len ? text[int_begin + k] - '0' : text[frac_begin + (k - int_len)] - '0';
  };
  for (; index < total_digits; ++index) {
    const int d = digit_at(index);
    if (index >= kept_digits) {
      if (d != 0) return std::unexpected(amount_error::too_precise);
      continue;
    }
    if (value > (amount_micros_max - d) / 10) {
      if (d == 0 && value == 0) continue;
      return std::unexpected(amount_error::out_of_range);
    }
    value = value * 10 + d;
  }
  for (long k = 0; k < shift && value != 0; ++k) {
    if (value > amount_micros_max / 10) return std::unexpected(amount_error::out_of_range);
    value *= 10;
  }
  if (value > amount_micros_max) return std::unexpected(amount_error::out_of_range);
  if (negative && value != 0) {
    if (policy == sign_policy::non_negative) return std::unexpected(amount_error::negative);
    value = -value;
  }
  return value;
}

void append_amount(std::string& out, micros value) {
  std::array<char, 32> buf{};
  std::size_t n = 0;
  // Work in unsigned to format INT64_MIN correctly.
  std::uint64_t magnitude =
      value < 0 ? ~static_cast<std::uint64_t>(value) + 1 : static_cast<std::uint64_t>(value);
  std::uint64_t whole = magnitude / micros_per_credit;
  std::uint64_t frac = magnitude % micros_per_credit;
  if (value < 0) out.push_back('-');
  do {
    buf[n++] = static_cast<char>('0' + whole % 10);
    whole /= 10;
  } while (whole != 0);
  while (n > 0)
    out.push_back(buf[--n]);
  if (frac != 0) {
    std::array<char, amount_fraction_digits_max> digits{};
    for (int k = amount_fraction_digits_max - 1; k >= 0; --k) {
      digits[k] = static_cast<char>('0' + frac % 10);
      frac /= 10;
    }
    int last = amount_fraction_digits_max - 1;
    while (digits[last] == '0')
      --last;
    out.push_back('.');
    out.append(digits.data(), static_cast<std::size_t>(last + 1));
  }
}

std::string format_amount(micros value) {
  std::string out;
  append_amount(out, value);
  return out;
}

std::expected<micros, amount_error> multiply_micros(micros a, micros b) {
  __extension__ using i128 = __int128;
  const i128 product = static_cast<i128>(a) * b;
  const i128 scale = micros_per_credit;
  i128 q = product / scale;
  const i128 r = product % scale;
  if (r * 2 >= scale) ++q;
  if (r * 2 <= -scale) --q;
  if (q > amount_micros_max || q < -amount_micros_max) {
    return std::unexpected(amount_error::out_of_range);
  }
  return static_cast<micros>(q);
}

}  // namespace creditd::ledger
