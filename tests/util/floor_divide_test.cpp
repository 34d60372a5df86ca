// util/floor_divide: the split of an instant into whole units and the rest,
// before the epoch as after it (log timestamps, replies' instants, billing
// days all go through it).
#include "util/floor_divide.hpp"

#include <gtest/gtest.h>

namespace creditd::util {
namespace floor_divide_test_cpp {  // unity builds: tests/CMakeLists.txt
namespace {

TEST(floor_divide, rounds_toward_negative_infinity_with_a_remainder_never_negative) {
  static_assert(floor_divide(7, 3).quotient == 2 && floor_divide(7, 3).remainder == 1);
  EXPECT_EQ(floor_divide(0, 1'000'000).quotient, 0);
  EXPECT_EQ(floor_divide(0, 1'000'000).remainder, 0);
  EXPECT_EQ(floor_divide(-1, 1'000'000).quotient, -1);
  EXPECT_EQ(floor_divide(-1, 1'000'000).remainder, 999'999);
  EXPECT_EQ(floor_divide(-1'000'000, 1'000'000).quotient, -1);
  EXPECT_EQ(floor_divide(-1'000'000, 1'000'000).remainder, 0);
  EXPECT_EQ(floor_divide(-1'000'001, 1'000'000).quotient, -2);
  EXPECT_EQ(floor_divide(-1'000'001, 1'000'000).remainder, 999'999);
  EXPECT_EQ(floor_divide(86'399, 86'400).quotient, 0);
  EXPECT_EQ(floor_divide(86'400, 86'400).quotient, 1);
}

}  // namespace
}  // namespace floor_divide_test_cpp
}  // namespace creditd::util
