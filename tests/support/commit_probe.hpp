// Where a kill landed: a few counters in a small shared file, kept by
// whatever writes the store (the fault shim inside a creditd process, or a
// test's child process around its commits) and read by the process that
// kills it. A commit is "in flight" from the first write of a transaction to
// the moment its sync returns: begun > synced. The writer counts a write
// as a new "begun" only when none is open, and a sync as "synced" only when
// one is open, so begun - synced is 0 or 1 and a sync with nothing written
// before it (a checkpoint's) counts nothing.
//
// The file is CREDITD_COMMIT_PROBE (a path): the writer maps it MAP_SHARED
// and creates it at this size if needed; the killer maps the same file.
#pragma once

#include <atomic>
#include <cstdint>

namespace creditd::test {

struct commit_probe {
  // Transactions whose first write to a store file has happened.
  std::atomic<std::uint64_t> begun{0};
  // Syncs of a store file (fsync/fdatasync) that returned success.
  std::atomic<std::uint64_t> synced{0};
  // Writes (write/pwrite/writev) to a store file, for the curious.
  std::atomic<std::uint64_t> writes{0};

  bool in_flight() const { return begun.load() > synced.load(); }
};

inline constexpr const char* commit_probe_env = "CREDITD_COMMIT_PROBE";
inline constexpr std::size_t commit_probe_bytes = 4096;

static_assert(sizeof(commit_probe) <= commit_probe_bytes);

}  // namespace creditd::test
