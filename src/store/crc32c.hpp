// CRC-32C (Castagnoli: polynomial 0x1EDC6F41, reflected, initial and final
// value 0xFFFFFFFF), the checksum of the append-only log's records and of
// the SQLite rows (sqlite_checksum.hpp). Computed with the SSE4.2 crc32
// instruction when the CPU has it (checked once), with a table otherwise:
// both give the same values. Pure; thread-safe.
#pragma once

#include <cstdint>
#include <string_view>

namespace creditd::store {

// crc32c("123456789") == 0xE3069283. Extending: crc32c(b, crc32c(a)) ==
// crc32c(a + b), so a checksum can be taken over pieces.
std::uint32_t crc32c(std::string_view bytes, std::uint32_t crc = 0);

// The two ways crc32c() computes (for tests and measurements). The hardware
// one may be called only when crc32c_hardware_available().
std::uint32_t crc32c_portable(std::string_view bytes, std::uint32_t crc = 0);
bool crc32c_hardware_available();
std::uint32_t crc32c_hardware(std::string_view bytes, std::uint32_t crc = 0);

}  // namespace creditd::store
