// Test support: runs `promtool check metrics` (Prometheus's own linter of the
// text exposition format; Debian package prometheus, installed by
// scripts/install-deps) over a text. Thread-safe for distinct `base` paths.
#pragma once

#include <sys/wait.h>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace creditd::testing {

struct promtool_result {
  bool found = false;  // promtool is on PATH
  int exit_code = -1;
  std::string output;  // stdout and stderr: the problems it found
};

inline const char* promtool_missing =
    "promtool not found on PATH: `promtool check metrics` is how these tests check the "
    "exposition; install it with scripts/install-deps (Debian package prometheus)";

// Writes `text` to BASE.prom and runs `promtool check metrics < it`, its
// output kept in BASE.out.
inline promtool_result promtool_check(const std::string& text, const std::string& base) {
  promtool_result r;
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) return r;
  r.found = true;
  const std::string in = base + ".prom", out = base + ".out";
  std::ofstream(in, std::ios::binary) << text;
  const std::string cmd = "promtool check metrics < '" + in + "' > '" + out + "' 2>&1";
  const int status = std::system(cmd.c_str());
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream f(out, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  r.output = s.str();
  return r;
}

}  // namespace creditd::testing
