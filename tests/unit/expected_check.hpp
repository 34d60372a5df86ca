// Reading a std::expected in a test without undefined behaviour: the error
// of a refusal, or a test failure (thrown, so that gtest reports it and ends
// the test) when the call succeeded. Reading .error() of a success, or the
// value of a failure through * or ->, is undefined behaviour.
#pragma once

#include <expected>
#include <stdexcept>

namespace creditd::testing {

template <typename T, typename E>
E error_of(const std::expected<T, E>& r) {
  if (r) throw std::runtime_error("the call succeeded where a refusal was expected");
  return r.error();
}

}  // namespace creditd::testing
