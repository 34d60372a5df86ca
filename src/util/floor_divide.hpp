// Division that rounds toward negative infinity, with its remainder never
// negative: how an instant splits into whole units (days, seconds) and what
// is left, before the epoch as after it. C++'s `/` and `%` truncate toward
// zero, so -1 µs would be 0 s and -1 µs instead of -1 s and 999,999 µs.
#pragma once

#include <cstdint>

namespace creditd::util {

struct floor_quotient {
  std::int64_t quotient;
  std::int64_t remainder;  // in [0, divisor)
};

// `divisor` must be positive.
constexpr floor_quotient floor_divide(std::int64_t dividend, std::int64_t divisor) {
  std::int64_t q = dividend / divisor;
  std::int64_t r = dividend % divisor;
  if (r < 0) {
    r += divisor;
    --q;
  }
  return {q, r};
}

}  // namespace creditd::util
