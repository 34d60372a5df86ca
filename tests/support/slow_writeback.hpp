// A writeback pace at which the SQLite file's second chunk would wait for
// hours (store/sqlite/paced_vfs.hpp): tests that a wait for it ends when
// someone needs the file, and fail by hanging until ctest's timeout if it
// does not.
#pragma once

#include "store/sqlite/paced_vfs.hpp"

namespace creditd::testing {

inline constexpr store::sqlite::writeback_pace one_byte_a_second{.wal_chunk_bytes = 4096,
                                                                 .wal_bytes_per_second = 1,
                                                                 .file_chunk_bytes = 4096,
                                                                 .file_bytes_per_second = 1};

}  // namespace creditd::testing
