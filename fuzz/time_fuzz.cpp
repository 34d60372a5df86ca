// libFuzzer target: the RFC 3339 parser. Accepted instants are within years
// 1..9999 and survive a format/parse round trip.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ledger/time.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace creditd::ledger;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto t = parse_time(text);
  if (!t) return 0;
  if (*t < time_us_min || *t > time_us_max + us_per_second) std::abort();
  auto again = parse_time(format_time(*t));
  if (!again || *again != *t) std::abort();
  return 0;
}
