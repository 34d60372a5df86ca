// The metadata of a settings entry: written as the API's amounts, read back
// exactly, and nothing else read as settings.
#include "ledger/settings_entry.hpp"

#include <gtest/gtest.h>

namespace creditd::ledger {
namespace settings_entry_test_cpp {  // unity builds: tests/CMakeLists.txt
namespace {

TEST(settings_entry, metadata_round_trips_exactly) {
  const balance_settings cases[] = {
      {0, 0}, {2'500'000, 0}, {0, 100'000'000}, {1, amount_micros_max}, {123'456'789, 7}};
  for (const balance_settings& s : cases) {
    const std::string text = settings_entry_metadata(s);
    const auto back = parse_settings_entry_metadata(text);
    ASSERT_TRUE(back.has_value()) << text;
    EXPECT_EQ(*back, s) << text;
  }
  EXPECT_EQ(settings_entry_metadata({2'500'000, 100'000'000}),
            R"({"reserve":"2.5","postpaid_limit":"100"})");
}

TEST(settings_entry, other_text_is_not_settings) {
  const char* bad[] = {
      "",
      "{}",
      R"({"reserve":"2.5"})",
      R"({"postpaid_limit":"1","reserve":"2.5"})",   // another order
      R"({"reserve":"2.50","postpaid_limit":"1"})",  // not canonical
      R"({"reserve":"-1","postpaid_limit":"1"})",    // negative
      R"({"reserve":"x","postpaid_limit":"1"})",     // not an amount
      R"({"reserve":"1","postpaid_limit":"1"} )",    // trailing text
      R"({"reserve":"1","postpaid_limit":"1","extra":"1"})",
      R"({"reserve":2.5,"postpaid_limit":"1"})",  // a number, not a string
  };
  for (const char* text : bad)
    EXPECT_FALSE(parse_settings_entry_metadata(text).has_value()) << text;
}

}  // namespace
}  // namespace settings_entry_test_cpp
}  // namespace creditd::ledger
