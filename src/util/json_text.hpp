// JSON text helpers shared by every layer: string escaping and UTF-8
// repair. Pure functions; reentrant.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace creditd::util {

// Appends `s` as a JSON string literal (quotes, escapes, control characters).
void append_json_string(std::string& out, std::string_view s);

// The length of the valid UTF-8 sequence at the start of `s` (not empty),
// or 0 when it is not valid UTF-8 (overlong forms and surrogates included).
std::size_t utf8_sequence(std::string_view s);

// `text` with every invalid UTF-8 byte replaced by U+FFFD.
std::string valid_utf8(std::string_view text);

}  // namespace creditd::util
