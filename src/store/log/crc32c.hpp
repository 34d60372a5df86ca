// CRC-32C (Castagnoli, reflected, init and final xor 0xFFFFFFFF), the
// checksum of the append-only log's records. Uses the SSE4.2 instruction when
// the CPU has it, a table otherwise; both give the same value. Pure; thread-safe.
#pragma once

#include <cstdint>
#include <string_view>

namespace creditd::store::log {

// crc32c("123456789") == 0xE3069283. Extending: crc32c(b, crc32c(a)) ==
// crc32c(a + b), so a record's checksum can be taken over pieces.
std::uint32_t crc32c(std::string_view bytes, std::uint32_t crc = 0);
// The table version alone (what a CPU without SSE4.2 runs), for tests.
std::uint32_t crc32c_portable(std::string_view bytes, std::uint32_t crc = 0);

}  // namespace creditd::store::log
