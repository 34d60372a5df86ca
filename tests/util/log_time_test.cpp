// util/log: the timestamp of every log line (RFC 3339 UTC, microseconds).
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "util/log.hpp"

namespace creditd::log {
namespace log_time_test_cpp {  // unity builds: tests/CMakeLists.txt
namespace {

std::string utc(std::int64_t us) {
  std::string out;
  append_utc(out, us);
  return out;
}

TEST(log_time, instants_print_as_rfc3339_utc_with_microseconds) {
  EXPECT_EQ(utc(0), "1970-01-01T00:00:00.000000Z");
  EXPECT_EQ(utc(1'796'050'800'000'001), "2026-11-30T15:00:00.000001Z");
  EXPECT_EQ(utc(1'796'050'800'999'999), "2026-11-30T15:00:00.999999Z");
}

TEST(log_time, an_instant_before_the_epoch_keeps_its_fraction_positive) {
  EXPECT_EQ(utc(-1), "1969-12-31T23:59:59.999999Z");
  EXPECT_EQ(utc(-1'000'000), "1969-12-31T23:59:59.000000Z");
  EXPECT_EQ(utc(-1'500'000), "1969-12-31T23:59:58.500000Z");
}

}  // namespace
}  // namespace log_time_test_cpp
}  // namespace creditd::log
