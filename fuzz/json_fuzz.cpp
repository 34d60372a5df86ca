// libFuzzer target: the request JSON parser. Whatever it accepts has a
// canonical form that parses again to the same canonical form.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "http/json.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace creditd::http;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  json_error error;
  auto v = parse_json(text, error);
  if (!v) {
    if (error.message.empty()) std::abort();
    return 0;
  }
  std::string canonical;
  write_canonical(canonical, *v);
  auto again = parse_json(canonical, error);
  if (!again) std::abort();
  std::string canonical2;
  write_canonical(canonical2, *again);
  if (canonical != canonical2) std::abort();
  return 0;
}
