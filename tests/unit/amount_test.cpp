#include <gtest/gtest.h>

#include "expected_check.hpp"
#include "ledger/amount.hpp"

using namespace creditd::ledger;
using creditd::testing::error_of;

TEST(amount, parses_integers_and_fractions) {
  EXPECT_EQ(parse_amount("10").value(), 10'000'000);
  EXPECT_EQ(parse_amount("2.5").value(), 2'500'000);
  EXPECT_EQ(parse_amount("0.000001").value(), 1);
  EXPECT_EQ(parse_amount("0").value(), 0);
  EXPECT_EQ(parse_amount("1e2").value(), 100'000'000);
  EXPECT_EQ(parse_amount("2.5E-1").value(), 250'000);
  EXPECT_EQ(parse_amount("2.5000000").value(), 2'500'000);
}

TEST(amount, refuses_bad_text) {
  EXPECT_EQ(error_of(parse_amount("")), amount_error::empty);
  for (const char* t :
       {"abc", "1.", ".5", "+1", "01", "1e", "NaN", "Infinity", "1 ", " 1", "0x10", "--1"}) {
    EXPECT_EQ(error_of(parse_amount(t)), amount_error::syntax) << t;
  }
  EXPECT_EQ(error_of(parse_amount("0.0000001")), amount_error::too_precise);
  EXPECT_EQ(error_of(parse_amount("1e-7")), amount_error::too_precise);
  EXPECT_EQ(error_of(parse_amount("-1")), amount_error::negative);
  EXPECT_EQ(parse_amount("-1", sign_policy::signed_allowed).value(), -1'000'000);
  EXPECT_EQ(parse_amount("-0").value(), 0);
  EXPECT_EQ(error_of(parse_amount("1000000000001")), amount_error::out_of_range);
  EXPECT_EQ(error_of(parse_amount("1e400")), amount_error::out_of_range);
  EXPECT_EQ(error_of(parse_amount("99999999999999999999999")), amount_error::out_of_range);
}

TEST(amount, formats_exactly) {
  EXPECT_EQ(format_amount(2'500'000), "2.5");
  EXPECT_EQ(format_amount(100'000'000), "100");
  EXPECT_EQ(format_amount(0), "0");
  EXPECT_EQ(format_amount(1), "0.000001");
  EXPECT_EQ(format_amount(-1'000'001), "-1.000001");
}

TEST(amount, round_trips) {
  for (micros v :
       {0L, 1L, 999'999L, 1'000'000L, 123'456'789L, amount_micros_max, -amount_micros_max}) {
    EXPECT_EQ(parse_amount(format_amount(v), sign_policy::signed_allowed).value(), v) << v;
  }
}

TEST(amount, multiplies_with_half_up_rounding) {
  EXPECT_EQ(multiply_micros(2'500'000, 3'000'000).value(), 7'500'000);
  EXPECT_EQ(multiply_micros(1, 500'000).value(), 1);  // 0.0000005 rounds half up
  EXPECT_EQ(multiply_micros(1, 499'999).value(), 0);
  EXPECT_FALSE(multiply_micros(amount_micros_max, 2'000'000).has_value());
}
