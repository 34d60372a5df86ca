#include "store/crc32c.hpp"

#include <array>
#include <cstring>

#include "util/assert.hpp"

namespace creditd::store {
namespace {

constexpr std::uint32_t polynomial = 0x82F63B78;  // 0x1EDC6F41 reflected

constexpr std::array<std::uint32_t, 256> make_table() {
  std::array<std::uint32_t, 256> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k)
      c = (c & 1) ? (c >> 1) ^ polynomial : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr std::array<std::uint32_t, 256> table = make_table();

// On the raw (not inverted) register.
std::uint32_t extend_table(std::uint32_t c, const unsigned char* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
  return c;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) std::uint32_t extend_hw(std::uint32_t c, const unsigned char* p,
                                                          std::size_t n) {
  std::uint64_t c64 = c;
  while (n >= 8) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    c64 = __builtin_ia32_crc32di(c64, v);
    p += 8;
    n -= 8;
  }
  c = static_cast<std::uint32_t>(c64);
  while (n > 0) {
    c = __builtin_ia32_crc32qi(c, *p);
    ++p;
    --n;
  }
  return c;
}
#endif

}  // namespace

bool crc32c_hardware_available() {
#if defined(__x86_64__)
  static const bool available = [] {
    __builtin_cpu_init();  // a static's initializer may run before libgcc's
    return __builtin_cpu_supports("sse4.2") != 0;
  }();
  return available;
#else
  return false;
#endif
}

std::uint32_t crc32c_hardware(std::string_view bytes, std::uint32_t crc) {
  CREDITD_ASSERT(crc32c_hardware_available());
#if defined(__x86_64__)
  return ~extend_hw(~crc, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
#else
  return crc;
#endif
}

std::uint32_t crc32c_portable(std::string_view bytes, std::uint32_t crc) {
  return ~extend_table(~crc, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
}

std::uint32_t crc32c(std::string_view bytes, std::uint32_t crc) {
  if (crc32c_hardware_available()) return crc32c_hardware(bytes, crc);
  return crc32c_portable(bytes, crc);
}

}  // namespace creditd::store
