// SQLite's writes to a database file and its WAL, handed to the kernel's
// writeback a chunk at a time and, while nothing waits for them, at a
// bounded rate.
//
// Behind the append-only log the SQLite file is filled in by a background
// thread in large transactions, and its pages reach the disk in bursts: a
// transaction's WAL frames (tens of MB) and a checkpoint's copy into the
// file, each made durable by one fsync. The device persists whatever it
// was given before a flush when the flush comes, so every `fdatasync` of
// the log issued behind such a burst waits for all of it: on this
// project's virtual disk a 16 KB write and its `fdatasync` take 0.16 ms
// alone, 0.9 ms behind 1 MB of other writes, 12 ms behind 16 MB
// (docs/performance.md, "The SQLite file's writeback, paced"). The same
// bytes spread out cost each log flush a little instead of some flushes a
// lot. So this shim over the default VFS counts what SQLite writes to the
// main file and the WAL; each chunk of it (writeback_pace, by file) is
// handed to writeback (`sync_file_range(SYNC_FILE_RANGE_WRITE)`, which does
// not wait for the disk) after waiting, while `unhurried` is set, until
// the file's token bucket allows it; a sync hands over the rest first, the
// same way, then syncs as SQLite asked. Nothing is written that SQLite did not
// write, no sync is skipped or moved: durability is SQLite's, unchanged.
//
// Thread-safety: register and unregister (make, the destructor) from one
// thread, with no connection open through it at the destructor. The
// files' methods run on the thread of the connection that opened them;
// one connection through one paced_vfs. `unhurried` may change from any
// thread: a wait ends within a millisecond of it clearing.
#pragma once

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <memory>
#include <string>
#include <vector>

namespace creditd::store::sqlite {

struct writeback_pace {
  // The WAL: written in order, a transaction's frames at its commit.
  // Written bytes handed to writeback together (one sync_file_range), and
  // at most this many a second while unhurried (0: at once, still a chunk
  // at a time).
  std::size_t wal_chunk_bytes = 256 * 1024;
  std::uint64_t wal_bytes_per_second = 128ull << 20;
  // The file: a checkpoint's copy of the WAL's pages, in page order. Its
  // rate is set for each checkpoint (set_file_rate: sqlite_store spreads
  // a checkpoint over a time it is given); this is the least.
  std::size_t file_chunk_bytes = 64 * 1024;
  std::uint64_t file_bytes_per_second = 8ull << 20;
};

// The token bucket: at most `chunk_bytes` saved up, `bytes_per_second`
// added over time. Pure: the caller reads the clock.
class writeback_budget {
 public:
  using clock = std::chrono::steady_clock;
  writeback_budget(std::size_t chunk_bytes, std::uint64_t bytes_per_second)
      : chunk_bytes_(chunk_bytes), bytes_per_second_(bytes_per_second) {}
  // How long from `now` until `bytes` may go; 0 when they may go now, and
  // then they are taken from the budget.
  std::chrono::nanoseconds take(std::size_t bytes, clock::time_point now);

 private:
  std::size_t chunk_bytes_;
  std::uint64_t bytes_per_second_;
  bool started_ = false;  // the bucket starts full at the first take
  double saved_ = 0;      // bytes; below 0 after more than a chunk at once
  clock::time_point at_{};
};

class paced_vfs {
 public:
  // Registers a VFS over the process's default one (not as the default),
  // under a name of its own. Errors: SQLite refused the registration.
  static std::expected<std::unique_ptr<paced_vfs>, std::string> make(writeback_pace pace);
  ~paced_vfs();
  paced_vfs(const paced_vfs&) = delete;
  paced_vfs& operator=(const paced_vfs&) = delete;

  // The name to open a connection with (sqlite3_open_v2's zVfs).
  const char* name() const { return name_.c_str(); }

  // Until enable(), files opened through it are passed through untouched.
  // `unhurried` (not owned, outliving this): pacing waits only while set;
  // nullptr: never waits.
  void enable(const std::atomic<bool>* unhurried) {
    unhurried_ = unhurried;
    enabled_.store(true);
  }

  // The file's rate from now on (a checkpoint's), at least
  // writeback_pace::file_bytes_per_second; 0 when that is 0 (unpaced). On
  // the thread of the connection.
  void set_file_rate(std::uint64_t bytes_per_second) {
    const std::uint64_t least = pace_.file_bytes_per_second;
    budgets_[0] = writeback_budget(pace_.file_chunk_bytes,
                                   least == 0 ? 0 : std::max(least, bytes_per_second));
  }

  // What was written to the paced files and not yet handed to writeback
  // (less than a chunk each), handed over now, paced as the rest. On the
  // thread of the connection.
  void hand_over_pending();

  struct counters {
    std::uint64_t bytes_handed = 0;  // to writeback, in chunks
    std::uint64_t chunks = 0;
    // Writes that did not continue the one before: about the I/Os the
    // device sees (a scattered page costs it as much as a run of many).
    std::uint64_t runs = 0;
    std::uint64_t waits = 0;    // chunks that waited for the budget (counted as they begin)
    std::uint64_t wait_us = 0;  // their waits, counted as they end
  };
  // The file's, the WAL's.
  counters file_stats() const { return stats_of(0); }
  counters wal_stats() const { return stats_of(1); }

 private:
  struct shim;  // the VFS's and the files' methods (paced_vfs.cpp)
  explicit paced_vfs(writeback_pace pace)
      : pace_(pace),
        budgets_{writeback_budget(pace.file_chunk_bytes, pace.file_bytes_per_second),
                 writeback_budget(pace.wal_chunk_bytes, pace.wal_bytes_per_second)} {}
  // `bytes` written in [lo, hi) of `fd` to writeback, once the budget
  // allows (while unhurried).
  void hand_over(int kind, int fd, sqlite3_int64 lo, sqlite3_int64 hi, std::size_t bytes);
  static constexpr std::chrono::milliseconds wait_slice{1};
  std::size_t chunk_of(int kind) const {
    return kind == 1 ? pace_.wal_chunk_bytes : pace_.file_chunk_bytes;
  }

  writeback_pace pace_;
  writeback_budget budgets_[2];  // by kind: 0 the file, 1 the WAL
  std::string name_;
  sqlite3_vfs vfs_{};
  sqlite3_vfs* base_ = nullptr;
  std::atomic<bool> enabled_{false};
  const std::atomic<bool>* unhurried_ = nullptr;
  std::vector<void*> open_;  // shim::file*, the connection's open files
  struct atomic_counters {
    std::atomic<std::uint64_t> bytes_handed{0}, chunks{0}, runs{0}, waits{0}, wait_us{0};
  } counters_[2];
  counters stats_of(int kind) const;
};

}  // namespace creditd::store::sqlite
