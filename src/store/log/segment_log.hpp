// The append-only log's files: records in preallocated segments, one write
// and one fdatasync per record, and the recovery scan that reads them back.
//
//   DIR/<first seq, 20 digits>.log   a segment: a 64-byte header, then records
//   DIR/<20 digits>.free             a recycled segment, waiting to be reused,
//                                    or a spare made ahead (make_spare: named
//                                    from spare_names_first up)
//
// Segment header (little-endian): u64 magic, u32 version, u32 header size,
// u64 first seq, u64 salt, zeros, u32 CRC-32C of the first 60 bytes at 60.
// The salt is new random bits each time a file becomes a segment.
// Record: u32 payload length, u32 CRC-32C, u64 seq, payload. The CRC covers
// salt, seq, payload and length, so a record left in a recycled file from its
// earlier life never checks (its salt is gone), and a copy of a record's
// bytes inside some other payload cannot pass for a record.
//
// Thread-safety: one thread opens and appends; make_spare() may run on one
// other thread meanwhile (the free pool is shared under a mutex).
#pragma once

#include <atomic>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace creditd::store::log {

inline constexpr std::uint64_t segment_bytes_default = 64ull << 20;
inline constexpr std::uint64_t segment_bytes_min = 4096;
inline constexpr std::uint64_t segment_bytes_max = 1ull << 30;
// One record's payload at most (a record bigger than a segment gets a
// segment of its own size).
inline constexpr std::uint64_t record_payload_bytes_max = 256ull << 20;
inline constexpr std::uint64_t segment_header_bytes = 64;
inline constexpr std::uint64_t record_header_bytes = 16;
// Spares' file names start here, far above any seq a log reaches, so that a
// spare's name never meets a recycled segment's (named by its first seq).
inline constexpr std::uint64_t spare_names_first = 10'000'000'000'000'000'000ull;

struct segment_log_options {
  std::string dir;                                      // created if missing
  std::uint64_t segment_bytes = segment_bytes_default;  // segment_bytes_min..segment_bytes_max
  std::size_t free_segments_max = 2;  // recycled files kept for reuse; more are deleted
  // For checks: nothing is created, removed or overwritten (a torn tail is
  // left as it is), and append() is refused. The directory must exist.
  bool read_only = false;
  // Tests only: called at each named step of making or recycling a segment
  // ("recycled", "free_header_written", "segment_renamed", "segment_created",
  // and "spare_made" on make_spare's thread), so that a test can kill the
  // process there.
  std::function<void(std::string_view step)> at_step;
};

// Called by recovery for every record above the applied mark, in seq order.
using record_visitor =
    std::function<std::expected<void, std::string>(std::uint64_t seq, std::string_view payload)>;

class segment_log {
 public:
  // Opens (or creates) the directory and scans every segment in seq order,
  // calling `visit` for each record with seq > `applied` (the mark of what
  // the store already holds; records at or below it are not needed and their
  // segments may be recycled). The scan stops cleanly at a torn tail of the
  // last segment (an incomplete record, a bad checksum, or zeros), which the
  // next append overwrites. A directory without segments gets its first one
  // here, so that the first append does not wait for its preallocation.
  // Errors (naming the file and byte offset where it applies): a segment
  // header that does not check, a bad record followed by a valid one or in a
  // segment that is not the last (corruption in the middle: acknowledged
  // records would be dropped), a sequence gap or overlap, a log that ends
  // below `applied`, an I/O error, or an error returned by `visit`.
  static std::expected<std::unique_ptr<segment_log>, std::string> open(
      const segment_log_options& opts, std::uint64_t applied, const record_visitor& visit);
  ~segment_log();
  segment_log(const segment_log&) = delete;
  segment_log& operator=(const segment_log&) = delete;

  // Appends `payload` as record last_seq() + 1 with one write and one
  // fdatasync; durable when it returns its seq. When the current segment is
  // full, first moves every segment whose records are all <= `applied` to the
  // free pool and opens the next segment (a recycled file when one is free).
  // Errors: payload empty or above record_payload_bytes_max, an I/O error
  // (then the log must not be appended to again: reopen it).
  std::expected<std::uint64_t, std::string> append(std::string_view payload, std::uint64_t applied);

  // When no recycled file is free and the current segment is half full,
  // makes one ahead: a segment-sized file,
  // zero-filled and synced, written back a MiB at a time so that the log's
  // own syncs meanwhile wait for little of it. The next roll then takes it
  // instead of filling and syncing a new file inside the append that needs
  // it (64 MiB by default). Returns whether it made one. For a thread beside
  // the appender (log_store's "spares"); a failure (a full disk) leaves nothing
  // behind, and the append that needs a segment then reports its own.
  std::expected<bool, std::string> make_spare();
  // How many times a segment became half full (a spare became due) since
  // the log opened: the appender's thread compares it with what it saw
  // last, to wake the thread that makes spares once per segment.
  std::uint64_t spares_due() const { return spares_due_; }

  std::uint64_t last_seq() const { return last_seq_; }
  // Segments the log moved on to since it opened: a free file (recycled, or
  // a spare made ahead), or a new file made and zero-filled inside the
  // append that needed it. Any thread may read them.
  std::uint64_t rolls_to_free() const { return rolls_to_free_.load(std::memory_order_relaxed); }
  std::uint64_t rolls_to_new() const { return rolls_to_new_.load(std::memory_order_relaxed); }
  // Segment files (*.log) and recycled files (*.free) in the directory now.
  std::size_t segment_count() const { return segments_.size(); }
  std::size_t free_count() const;
  const std::string& dir() const { return opts_.dir; }

 private:
  struct segment {
    std::uint64_t first_seq = 0;
    std::string path;
    int fd = -1;
    std::uint64_t salt = 0;
    std::uint64_t seq_mask = 0;  // what a record's stored seq is XORed with
    std::uint64_t capacity = 0;  // file size
  };
  struct free_file {
    std::string path;
    std::uint64_t capacity = 0;
  };
  explicit segment_log(segment_log_options opts) : opts_(std::move(opts)) {}
  std::expected<void, std::string> scan(std::uint64_t applied, const record_visitor& visit);
  std::expected<void, std::string> roll(std::uint64_t record_bytes, std::uint64_t applied);
  std::expected<void, std::string> recycle(std::uint64_t applied);
  std::expected<void, std::string> sync_dir();
  // DIR/<seq, 20 digits><ext>: a segment (.log), a free file (.free) or one
  // being made (.tmp).
  std::string file_path(std::uint64_t seq, std::string_view ext) const;
  // Sets spare_due_ once the last segment is half full.
  void note_fill();
  void step(std::string_view name) {
    if (opts_.at_step) opts_.at_step(name);
  }

  segment_log_options opts_;
  int dir_fd_ = -1;
  std::vector<segment> segments_;  // ascending first_seq; the last is appended to
  mutable std::mutex free_mu_;     // guards free_ and next_spare_
  std::vector<free_file> free_;
  std::uint64_t next_spare_ = spare_names_first;  // the next spare's name
  // Set by the appender once the current segment is half full, cleared by a
  // roll: a server that stops early (a test, a check) makes no spare.
  std::atomic<bool> spare_due_{false};
  std::uint64_t spares_due_ = 0;  // the appender's: times spare_due_ was set
  std::atomic<std::uint64_t> rolls_to_free_{0};
  std::atomic<std::uint64_t> rolls_to_new_{0};
  std::uint64_t last_seq_ = 0;
  std::uint64_t append_pos_ = 0;  // in the last segment
  std::string header_;            // scratch for a record's header
  bool broken_ = false;           // an append failed: no more appends
};

}  // namespace creditd::store::log
