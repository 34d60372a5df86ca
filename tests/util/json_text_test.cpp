// util/json_text: JSON string escaping (every reply and row renders through it).
#include "util/json_text.hpp"

#include <gtest/gtest.h>

#include <string>

namespace creditd::util {
namespace json_text_test_cpp {  // unity builds: tests/CMakeLists.txt
namespace {

std::string quoted(std::string_view s) {
  std::string out = "x=";
  append_json_string(out, s);
  return out;
}

TEST(json_text, plain_text_is_quoted_whole) {
  EXPECT_EQ(quoted(""), "x=\"\"");
  EXPECT_EQ(quoted("acct-12345"), "x=\"acct-12345\"");
  EXPECT_EQ(quoted("caf\xc3\xa9 \xe2\x82\xac"), "x=\"caf\xc3\xa9 \xe2\x82\xac\"");  // UTF-8 kept
}

TEST(json_text, quotes_backslashes_and_control_characters_are_escaped_anywhere) {
  EXPECT_EQ(quoted("\""), "x=\"\\\"\"");
  EXPECT_EQ(quoted("a\"b\\c"), "x=\"a\\\"b\\\\c\"");
  EXPECT_EQ(quoted("\\\\"), "x=\"\\\\\\\\\"");
  EXPECT_EQ(quoted("line\nnext\r\ttab"), "x=\"line\\nnext\\r\\ttab\"");
  EXPECT_EQ(quoted(std::string_view("\0\x01\x1f ok", 6)), "x=\"\\u0000\\u0001\\u001f ok\"");
  EXPECT_EQ(quoted("end\x7f"), "x=\"end\x7f\"");  // DEL needs no escape in JSON
  EXPECT_EQ(quoted("\"lead"), "x=\"\\\"lead\"");
  EXPECT_EQ(quoted("trail\\"), "x=\"trail\\\\\"");
}

}  // namespace
}  // namespace json_text_test_cpp
}  // namespace creditd::util
