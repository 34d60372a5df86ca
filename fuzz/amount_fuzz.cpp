// libFuzzer target: the amount parser. Whatever it accepts must be in range
// and must format back to text that parses to the same value.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ledger/amount.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace creditd::ledger;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (sign_policy policy : {sign_policy::non_negative, sign_policy::signed_allowed}) {
    auto v = parse_amount(text, policy);
    if (!v) continue;
    if (*v > amount_micros_max || *v < -amount_micros_max) std::abort();
    if (policy == sign_policy::non_negative && *v < 0) std::abort();
    auto again = parse_amount(format_amount(*v), sign_policy::signed_allowed);
    if (!again || *again != *v) std::abort();
  }
  return 0;
}
