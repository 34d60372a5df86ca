#include "store/log/segment_log.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <optional>
#include <random>

#include "store/crc32c.hpp"
#include "util/assert.hpp"

namespace creditd::store::log {
namespace {

constexpr std::uint64_t segment_magic = 0x31474F4C44435243ull;  // "CRCDLOG1"
// Version 2 stores each record's seq XORed with its segment's salt (a salt
// is new at every use of a file): a record left by a former use of a
// recycled file, or a stretch of payload, then reads as a seq far from this
// log's, and the scan after the end rejects it before computing a checksum.
// Version 1 (seq as it is) is still read.
constexpr std::uint32_t segment_version = 2;
constexpr std::uint32_t segment_version_plain_seq = 1;
constexpr std::size_t seq_digits = 20;

std::string errno_text(const char* what, const std::string& path) {
  return std::string(what) + " " + path + ": " + std::strerror(errno);
}

void put_u32(char* p, std::uint32_t v) {
  std::memcpy(p, &v, 4);
}
void put_u64(char* p, std::uint64_t v) {
  std::memcpy(p, &v, 8);
}
std::uint32_t get_u32(const char* p) {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
std::uint64_t get_u64(const char* p) {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

bool pread_all(int fd, char* buf, std::size_t n, std::uint64_t off) {
  while (n > 0) {
    const ssize_t r = ::pread(fd, buf, n, static_cast<off_t>(off));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    buf += r;
    n -= static_cast<std::size_t>(r);
    off += static_cast<std::uint64_t>(r);
  }
  return true;
}

bool pwrite_all(int fd, const char* buf, std::size_t n, std::uint64_t off) {
  while (n > 0) {
    const ssize_t r = ::pwrite(fd, buf, n, static_cast<off_t>(off));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    buf += r;
    n -= static_cast<std::size_t>(r);
    off += static_cast<std::uint64_t>(r);
  }
  return true;
}

std::string seq_name(std::uint64_t seq) {
  std::string s = std::to_string(seq);
  return std::string(seq_digits - s.size(), '0') + s;
}

// "00000000000000000042" -> 42; anything else -> nullopt.
std::optional<std::uint64_t> parse_seq_name(std::string_view stem) {
  if (stem.size() != seq_digits) return std::nullopt;
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(stem.data(), stem.data() + stem.size(), v);
  if (ec != std::errc{} || p != stem.data() + stem.size()) return std::nullopt;
  return v;
}

std::uint32_t record_crc(std::uint64_t salt, std::uint64_t seq, std::string_view payload,
                         std::uint32_t len) {
  char head[16];
  put_u64(head, salt);
  put_u64(head + 8, seq);
  std::uint32_t c = crc32c(std::string_view(head, 16));
  c = crc32c(payload, c);
  char tail[4];
  put_u32(tail, len);
  return crc32c(std::string_view(tail, 4), c);
}

std::string make_header(std::uint64_t first_seq, std::uint64_t salt) {
  std::string h(segment_header_bytes, '\0');
  put_u64(h.data(), segment_magic);
  put_u32(h.data() + 8, segment_version);
  put_u32(h.data() + 12, static_cast<std::uint32_t>(segment_header_bytes));
  put_u64(h.data() + 16, first_seq);
  put_u64(h.data() + 24, salt);
  put_u32(h.data() + 60, crc32c(std::string_view(h.data(), 60)));
  return h;
}

std::uint64_t new_salt() {
  std::random_device rd;
  std::uint64_t s = 0;
  while (s == 0)
    s = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  return s;
}

// Preallocates `capacity` bytes of `fd` and writes zeros over them, so that
// appends overwrite allocated, written blocks (no metadata to sync per
// record). `paced`: each MiB is written back before the next is written, so
// that a sync of another file meanwhile (the log's) waits for one MiB at
// most, not for all of them. false with errno set on failure.
bool fill_with_zeros(int fd, std::uint64_t capacity, bool paced) {
  if (int e = ::posix_fallocate(fd, 0, static_cast<off_t>(capacity)); e != 0) {
    errno = e;
    return false;
  }
  const std::string zeros(std::min<std::uint64_t>(capacity, 1u << 20), '\0');
  for (std::uint64_t off = 0; off < capacity; off += zeros.size()) {
    const std::size_t n =
        static_cast<std::size_t>(std::min<std::uint64_t>(zeros.size(), capacity - off));
    if (!pwrite_all(fd, zeros.data(), n, off)) return false;
    if (paced && ::sync_file_range(fd, static_cast<off_t>(off), static_cast<off_t>(n),
                                   SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                                       SYNC_FILE_RANGE_WAIT_AFTER) != 0)
      return false;
  }
  return true;
}

// A segment's contents, read whole for the scan (bounded by
// segment_bytes_max or one record's size).
std::expected<std::string, std::string> read_file(int fd, const std::string& path,
                                                  std::uint64_t size) {
  std::string data(size, '\0');
  if (!pread_all(fd, data.data(), size, 0)) return std::unexpected(errno_text("cannot read", path));
  return data;
}

// The seqs a record found at some offset may bear: [min, max].
struct seq_range {
  std::uint64_t min, max;
};

// Whether `data` holds a complete record that checks at `pos`: its seq,
// else nullopt. With `seqs`, only a record numbered in that range counts
// (the cheap tests first: this runs at every byte offset after a bad record,
// over a segment that may hold a former use's records, so the checksum is
// computed only where the header could belong to this log here).
// `mask`: what the stored seq is XORed with (the salt, or 0 in version 1).
std::optional<std::uint64_t> valid_record_at(std::string_view data, std::uint64_t pos,
                                             std::uint64_t salt, std::uint64_t mask,
                                             std::optional<seq_range> seqs = {}) {
  if (pos + record_header_bytes > data.size()) return std::nullopt;
  const char* h = data.data() + pos;
  const std::uint32_t len = get_u32(h);
  const std::uint64_t seq = get_u64(h + 8) ^ mask;
  if (len == 0 || len > record_payload_bytes_max) return std::nullopt;
  if (seqs && (seq < seqs->min || seq > seqs->max)) return std::nullopt;
  if (pos + record_header_bytes + len > data.size()) return std::nullopt;
  const std::string_view payload = data.substr(pos + record_header_bytes, len);
  if (record_crc(salt, seq, payload, len) != get_u32(h + 4)) return std::nullopt;
  return seq;
}

}  // namespace

segment_log::~segment_log() {
  for (segment& s : segments_) {
    if (s.fd >= 0) ::close(s.fd);
  }
  if (dir_fd_ >= 0) ::close(dir_fd_);
}

std::expected<void, std::string> segment_log::sync_dir() {
  if (::fsync(dir_fd_) != 0)
    return std::unexpected(errno_text("cannot fsync directory", opts_.dir));
  return {};
}

std::expected<std::unique_ptr<segment_log>, std::string> segment_log::open(
    const segment_log_options& opts, std::uint64_t applied, const record_visitor& visit) {
  if (opts.segment_bytes < segment_bytes_min || opts.segment_bytes > segment_bytes_max) {
    return std::unexpected("log segment size " + std::to_string(opts.segment_bytes) +
                           " is outside " + std::to_string(segment_bytes_min) + ".." +
                           std::to_string(segment_bytes_max));
  }
  std::unique_ptr<segment_log> log(new segment_log(opts));
  std::error_code ec;
  bool created = false;
  if (!opts.read_only) created = std::filesystem::create_directories(opts.dir, ec);
  if (ec) return std::unexpected("cannot create log directory " + opts.dir + ": " + ec.message());
  if (created) {
    // The new directory's entry is durable in its parent before any record
    // is acknowledged in it (a power cut must not lose the directory).
    std::filesystem::path self = std::filesystem::absolute(opts.dir).lexically_normal();
    if (!self.has_filename()) self = self.parent_path();  // "dir/" names dir
    const std::string parent = self.parent_path().string();
    const int pfd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (pfd < 0) return std::unexpected(errno_text("cannot open directory", parent));
    const int rc = ::fsync(pfd);
    ::close(pfd);
    if (rc != 0) return std::unexpected(errno_text("cannot fsync directory", parent));
  }
  log->dir_fd_ = ::open(opts.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (log->dir_fd_ < 0) return std::unexpected(errno_text("cannot open log directory", opts.dir));
  if (auto r = log->scan(applied, visit); !r) return std::unexpected(r.error());
  // The first segment is made now (preallocated and zero-filled), not by
  // the first append, which would wait for it.
  if (!opts.read_only && log->segments_.empty()) {
    if (auto r = log->roll(0, applied); !r) return std::unexpected(r.error());
  }
  if (!log->segments_.empty()) log->note_fill();
  return log;
}

std::expected<void, std::string> segment_log::scan(std::uint64_t applied,
                                                   const record_visitor& visit) {
  const std::filesystem::path dir(opts_.dir);
  std::error_code ec;
  bool removed = false;
  for (const auto& de : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = de.path().filename().string();
    const std::string ext = de.path().extension().string();
    const std::string stem = de.path().stem().string();
    if (ext == ".tmp" && !opts_.read_only) {
      // A segment being made when the process stopped: never named, never used.
      std::filesystem::remove(de.path(), ec);
      removed = true;
      continue;
    }
    if (ext != ".log" && ext != ".free") continue;
    auto seq = parse_seq_name(stem);
    if (!seq) continue;
    struct stat st {};
    if (::stat(de.path().c_str(), &st) != 0)
      return std::unexpected(errno_text("cannot stat", name));
    if (ext == ".free") {
      free_.push_back({de.path().string(), static_cast<std::uint64_t>(st.st_size)});
      if (*seq >= spare_names_first) next_spare_ = std::max(next_spare_, *seq + 1);
    } else {
      segment s;
      s.first_seq = *seq;
      s.path = de.path().string();
      s.capacity = static_cast<std::uint64_t>(st.st_size);
      segments_.push_back(std::move(s));
    }
  }
  if (ec) return std::unexpected("cannot list log directory " + opts_.dir + ": " + ec.message());
  std::sort(segments_.begin(), segments_.end(),
            [](const segment& a, const segment& b) { return a.first_seq < b.first_seq; });
  if (removed) {
    if (auto r = sync_dir(); !r) return r;
  }

  // Each segment's records must end where the next one's begin.
  bool first_read = true;
  for (std::size_t i = 0; i < segments_.size(); ++i) {
    segment& s = segments_[i];
    s.fd = ::open(s.path.c_str(), (opts_.read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (s.fd < 0) return std::unexpected(errno_text("cannot open log segment", s.path));
    if (s.capacity < segment_header_bytes + record_header_bytes) {
      return std::unexpected("log segment " + s.path + " is " + std::to_string(s.capacity) +
                             " bytes, too short for its header: refusing to start");
    }
    char h[segment_header_bytes];
    if (!pread_all(s.fd, h, sizeof h, 0))
      return std::unexpected(errno_text("cannot read log segment", s.path));
    const std::uint32_t version = get_u32(h + 8);
    if (get_u64(h) != segment_magic ||
        (version != segment_version && version != segment_version_plain_seq) ||
        get_u32(h + 12) != segment_header_bytes ||
        get_u32(h + 60) != crc32c(std::string_view(h, 60)) || get_u64(h + 16) != s.first_seq) {
      return std::unexpected("log segment " + s.path +
                             ": its header at byte offset 0 is corrupt or names another first "
                             "seq: refusing to start");
    }
    s.salt = get_u64(h + 24);
    s.seq_mask = version == segment_version ? s.salt : 0;
    const bool last = i + 1 == segments_.size();
    const std::uint64_t next_first = last ? 0 : segments_[i + 1].first_seq;
    // A segment whose every record is applied is not read: the store holds
    // them, and the segment may be recycled.
    if (!last && next_first - 1 <= applied) continue;
    if (first_read && s.first_seq > applied + 1) {
      return std::unexpected("log segment " + s.path + " starts at seq " +
                             std::to_string(s.first_seq) + " but the store applied only up to " +
                             std::to_string(applied) + ": records " + std::to_string(applied + 1) +
                             ".." + std::to_string(s.first_seq - 1) +
                             " are missing: refusing to start");
    }
    first_read = false;
    auto data = read_file(s.fd, s.path, s.capacity);
    if (!data) return std::unexpected(data.error());
    const std::string_view d = *data;
    std::uint64_t pos = segment_header_bytes, expected = s.first_seq;
    std::string bad;  // why the record at `pos` ends the scan ("" : zeros)
    while (true) {
      if (pos + record_header_bytes > d.size()) break;
      const char* rh = d.data() + pos;
      const std::uint32_t len = get_u32(rh);
      const std::uint32_t crc = get_u32(rh + 4);
      const std::uint64_t seq = get_u64(rh + 8);
      if (len == 0 && crc == 0 && seq == 0) break;
      auto valid = valid_record_at(d, pos, s.salt, s.seq_mask);
      if (!valid) {
        bad = "is torn or corrupt (bad length or checksum)";
        break;
      }
      if (*valid != expected) {
        return std::unexpected("log segment " + s.path + ": the record at byte offset " +
                               std::to_string(pos) + " has seq " + std::to_string(*valid) +
                               " where " + std::to_string(expected) +
                               " was expected (a sequence gap): refusing to start");
      }
      if (expected > applied) {
        const std::uint32_t n = len;
        if (auto r = visit(expected, d.substr(pos + record_header_bytes, n)); !r) {
          return std::unexpected("log segment " + s.path + ", record seq " +
                                 std::to_string(expected) + " at byte offset " +
                                 std::to_string(pos) + ": " + r.error());
        }
      }
      ++expected;
      pos += record_header_bytes + len;
    }
    // Nothing valid may follow the end: a record that checks beyond it
    // means the end is corruption in the middle, not a torn tail.
    // A record at `p` follows at most (p - pos) / (header + 1) bad ones (a
    // record holds at least a header and one byte), so it is numbered from
    // `expected` to `expected` plus that.
    for (std::uint64_t p = pos + 1; p + record_header_bytes <= d.size(); ++p) {
      const seq_range seqs{expected, expected + (p - pos) / (record_header_bytes + 1)};
      if (auto later = valid_record_at(d, p, s.salt, s.seq_mask, seqs)) {
        return std::unexpected(
            "log segment " + s.path + ": the record at byte offset " + std::to_string(pos) + " " +
            (bad.empty() ? std::string("is zeros") : bad) + ", but a valid record (seq " +
            std::to_string(*later) + ") follows at byte offset " + std::to_string(p) +
            ": corruption in the middle of the log; refusing to start rather than drop "
            "acknowledged records");
      }
    }
    if (!last) {
      // The next segment must go on at `expected` (a segment that is read
      // holds records above the mark, so no applied gap can lie between).
      if (next_first != expected) {
        if (!bad.empty()) {
          return std::unexpected("log segment " + s.path + ": the record at byte offset " +
                                 std::to_string(pos) + " " + bad + ", and the log goes on at seq " +
                                 std::to_string(next_first) + " in " + segments_[i + 1].path +
                                 ": corruption in the middle of the log; refusing to start");
        }
        return std::unexpected("log segment " + s.path + " ends at seq " +
                               std::to_string(expected - 1) + " (byte offset " +
                               std::to_string(pos) + ") but the next segment " +
                               segments_[i + 1].path + " starts at seq " +
                               std::to_string(next_first) + ": refusing to start");
      }
      continue;
    }
    if (expected - 1 < applied) {
      return std::unexpected("log segment " + s.path + " ends at seq " +
                             std::to_string(expected - 1) + " (byte offset " + std::to_string(pos) +
                             ") but the store applied up to " + std::to_string(applied) +
                             ": the log lost records; refusing to start");
    }
    last_seq_ = expected - 1;
    append_pos_ = pos;
    if (!bad.empty() && !opts_.read_only) {
      // A torn tail: its header is zeroed so the next start reads a clean end
      // (the next append overwrites the rest).
      const char zeros[record_header_bytes] = {};
      if (!pwrite_all(s.fd, zeros, sizeof zeros, pos) || ::fdatasync(s.fd) != 0)
        return std::unexpected(errno_text("cannot overwrite the torn tail of", s.path));
    }
  }
  if (segments_.empty()) last_seq_ = applied;
  return {};
}

std::expected<void, std::string> segment_log::recycle(std::uint64_t applied) {
  // Every segment but the last whose records all are <= applied. The last
  // stays, even when every record in it is applied, until the next roll:
  // until the segment after it exists, it is the directory's only *.log, and
  // a log directory with none beside a file that was written through a log
  // is one that a start refuses (creditd_main.cpp, "holds no log"): a
  // process killed between this and the new segment's rename would not come
  // back.
  std::size_t n = 0;
  while (n + 1 < segments_.size()) {
    if (segments_[n + 1].first_seq - 1 > applied) break;
    ++n;
  }
  if (n == 0) return {};
  {
    std::lock_guard lock(free_mu_);
    for (std::size_t i = 0; i < n; ++i) {
      segment& s = segments_[i];
      ::close(s.fd);
      s.fd = -1;
      const bool keep = free_.size() < opts_.free_segments_max;
      const std::string to = file_path(s.first_seq, ".free");
      if (keep) {
        if (::rename(s.path.c_str(), to.c_str()) != 0)
          return std::unexpected(errno_text("cannot recycle log segment", s.path));
        free_.push_back({to, s.capacity});
      } else if (::unlink(s.path.c_str()) != 0) {
        return std::unexpected(errno_text("cannot remove log segment", s.path));
      }
    }
  }
  segments_.erase(segments_.begin(), segments_.begin() + static_cast<std::ptrdiff_t>(n));
  if (auto r = sync_dir(); !r) return r;
  step("recycled");
  return {};
}

std::expected<void, std::string> segment_log::roll(std::uint64_t record_bytes,
                                                   std::uint64_t applied) {
  if (auto r = recycle(applied); !r) return r;
  const std::uint64_t first = last_seq_ + 1;
  const std::uint64_t need =
      std::max(opts_.segment_bytes, segment_header_bytes + record_bytes + record_header_bytes);
  const std::string path = file_path(first, ".log");
  const std::string tmp = file_path(first, ".tmp");
  // A recycled file when one is big enough, else a new one, zero-filled so
  // that appends overwrite allocated blocks (no metadata to sync per record).
  // (A spare made ahead is one of them: see make_spare.)
  std::string from;
  std::uint64_t capacity = 0;
  {
    std::lock_guard lock(free_mu_);
    for (std::size_t i = 0; i < free_.size(); ++i) {
      if (free_[i].capacity >= need) {
        from = free_[i].path;
        capacity = free_[i].capacity;
        free_.erase(free_.begin() + static_cast<std::ptrdiff_t>(i));
        break;
      }
    }
  }
  int fd = -1;
  if (!from.empty()) {
    fd = ::open(from.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return std::unexpected(errno_text("cannot open recycled segment", from));
  } else {
    from = tmp;
    capacity = need;
    fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return std::unexpected(errno_text("cannot create log segment", tmp));
    if (!fill_with_zeros(fd, capacity, /*paced=*/false)) {
      const std::string why = errno_text("cannot preallocate log segment", tmp);
      ::close(fd);
      return std::unexpected(why);
    }
  }
  segment s;
  s.first_seq = first;
  s.path = path;
  s.fd = fd;
  s.salt = new_salt();
  s.seq_mask = s.salt;
  s.capacity = capacity;
  // The header with a new salt, and a clean end where the first record goes.
  std::string head = make_header(first, s.salt);
  head.append(record_header_bytes, '\0');
  if (!pwrite_all(fd, head.data(), head.size(), 0) || ::fdatasync(fd) != 0) {
    ::close(fd);
    return std::unexpected(errno_text("cannot write the header of log segment", from));
  }
  step("free_header_written");
  if (::rename(from.c_str(), path.c_str()) != 0) {
    ::close(fd);
    return std::unexpected(errno_text("cannot name log segment", path));
  }
  step("segment_renamed");
  if (auto r = sync_dir(); !r) {
    ::close(fd);
    return r;
  }
  segments_.push_back(std::move(s));
  append_pos_ = segment_header_bytes;
  spare_due_.store(false);
  (from == tmp ? rolls_to_new_ : rolls_to_free_).fetch_add(1, std::memory_order_relaxed);
  step("segment_created");
  return {};
}

std::string segment_log::file_path(std::uint64_t seq, std::string_view ext) const {
  std::string p = opts_.dir + "/" + seq_name(seq);
  p.append(ext);
  return p;
}

void segment_log::note_fill() {
  if (append_pos_ * 2 >= segments_.back().capacity && !spare_due_.load(std::memory_order_relaxed)) {
    spare_due_.store(true);
    ++spares_due_;
  }
}

std::size_t segment_log::free_count() const {
  std::lock_guard lock(free_mu_);
  return free_.size();
}

std::expected<bool, std::string> segment_log::make_spare() {
  if (opts_.read_only || opts_.free_segments_max == 0 || !spare_due_.load()) return false;
  std::uint64_t name = 0;
  {
    std::lock_guard lock(free_mu_);
    if (!free_.empty()) return false;
    name = next_spare_++;
  }
  // Made under a .tmp name, which a start removes, and named .free only
  // once filled and synced: a spare is never taken half-made.
  const std::string tmp = file_path(name, ".tmp");
  const std::string to = file_path(name, ".free");
  const std::uint64_t capacity = opts_.segment_bytes;
  const int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return std::unexpected(errno_text("cannot create a spare log segment", tmp));
  if (!fill_with_zeros(fd, capacity, /*paced=*/true) || ::fdatasync(fd) != 0) {
    const std::string why = errno_text("cannot fill a spare log segment", tmp);
    ::close(fd);
    ::unlink(tmp.c_str());
    return std::unexpected(why);
  }
  ::close(fd);
  {
    std::lock_guard lock(free_mu_);
    // A segment recycled meanwhile: the pool needs no spare.
    if (!free_.empty()) {
      ::unlink(tmp.c_str());
      return false;
    }
    if (::rename(tmp.c_str(), to.c_str()) != 0) {
      const std::string why = errno_text("cannot name a spare log segment", to);
      ::unlink(tmp.c_str());
      return std::unexpected(why);
    }
    free_.push_back({to, capacity});
  }
  // Not needed for safety (a spare lost, or found again under its .tmp name
  // and removed, is only a spare), but a start then finds it.
  if (auto r = sync_dir(); !r) return std::unexpected(r.error());
  step("spare_made");
  return true;
}

std::expected<std::uint64_t, std::string> segment_log::append(std::string_view payload,
                                                              std::uint64_t applied) {
  if (opts_.read_only) return std::unexpected("log " + opts_.dir + " is open read-only");
  if (broken_) return std::unexpected("log " + opts_.dir + " failed earlier; reopen it");
  if (payload.empty() || payload.size() > record_payload_bytes_max) {
    return std::unexpected("log record of " + std::to_string(payload.size()) +
                           " bytes: must be 1.." + std::to_string(record_payload_bytes_max));
  }
  const std::uint64_t bytes = record_header_bytes + payload.size();
  if (segments_.empty() || append_pos_ + bytes > segments_.back().capacity) {
    if (auto r = roll(payload.size(), applied); !r) {
      broken_ = true;
      return std::unexpected(r.error());
    }
  }
  segment& s = segments_.back();
  const std::uint64_t seq = last_seq_ + 1;
  const auto len = static_cast<std::uint32_t>(payload.size());
  header_.assign(record_header_bytes, '\0');
  put_u32(header_.data(), len);
  put_u32(header_.data() + 4, record_crc(s.salt, seq, payload, len));
  put_u64(header_.data() + 8, seq ^ s.seq_mask);
  iovec iov[2] = {{header_.data(), header_.size()},
                  {const_cast<char*>(payload.data()), payload.size()}};
  const ssize_t w = ::pwritev(s.fd, iov, 2, static_cast<off_t>(append_pos_));
  bool ok = w == static_cast<ssize_t>(bytes);
  if (!ok && w >= 0) {
    // A short write: finish it (still one record, still before the sync).
    std::string rest = header_;
    rest.append(payload);
    ok = pwrite_all(s.fd, rest.data() + w, rest.size() - static_cast<std::size_t>(w),
                    append_pos_ + static_cast<std::uint64_t>(w));
  }
  if (!ok || ::fdatasync(s.fd) != 0) {
    broken_ = true;
    const std::string why = errno_text("cannot append to log segment", s.path);
    // The record was refused: its bytes may sit in the page cache, where a
    // restart would read them as a good record and apply a write its client
    // was told failed. Zero its header (best effort: the log takes nothing
    // more, so a zeroed record is its torn tail).
    const std::string zeros(record_header_bytes, '\0');
    (void)pwrite_all(s.fd, zeros.data(), zeros.size(), append_pos_);
    return std::unexpected(why);
  }
  append_pos_ += bytes;
  last_seq_ = seq;
  note_fill();
  return seq;
}

}  // namespace creditd::store::log
