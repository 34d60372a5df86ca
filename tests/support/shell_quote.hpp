// Test support: one argument of a /bin/sh command line (popen, system), safe
// whatever it holds: the checkout's or $TMPDIR's path may have spaces, quotes
// or other characters the shell would act on.
#pragma once

#include <string>

namespace creditd::testing {

// `s` in single quotes, each ' in it written as '\''.
inline std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (const char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

}  // namespace creditd::testing
