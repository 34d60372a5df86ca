// Assertions in two tiers. Thread-safe (they only print and abort).
//
// CREDITD_ASSERT: always on, for cheap invariants whose violation means a bug.
// CREDITD_PARANOID: expensive whole-structure checks (credit conservation over
// an account), compiled in when CREDITD_PARANOID_CHECKS is defined (Debug
// builds and the test builds turn it on).
#pragma once

#include <cstdio>
#include <cstdlib>

namespace creditd::detail {
[[noreturn]] inline void assert_fail(const char* expr, const char* file, int line) {
  std::fprintf(stderr, "creditd: assertion failed: %s at %s:%d\n", expr, file, line);
  std::abort();
}
}  // namespace creditd::detail

#define CREDITD_ASSERT(expr) \
  ((expr) ? static_cast<void>(0) : ::creditd::detail::assert_fail(#expr, __FILE__, __LINE__))

#ifdef CREDITD_PARANOID_CHECKS
#define CREDITD_PARANOID(expr) CREDITD_ASSERT(expr)
#else
#define CREDITD_PARANOID(expr) static_cast<void>(0)
#endif
