// disk_probe: how long this machine's disk takes to make a small write
// durable, measured the way creditd's log and Redis's AOF pay for it. `make
// bench` runs it before and after its cells and prints the figures beside
// the machine: creditd writes every commit through one `fdatasync`, so the
// ratios against Redis (which pays the same per batch) and the p99 of both
// move with the disk, and two runs on different machines are comparable
// only with it (docs/performance.md, "Two machines, two disks").
//
//   disk_probe --dir DIR [--iterations N] [--file-mib M]
//
// Makes a file of M MiB (16) in DIR, written and synced first so that every
// later write overwrites allocated blocks (as a preallocated log segment
// is), then N times (2,000) overwrites the next 4 KiB block and calls
// fdatasync, timing the fdatasync alone. Removes the file. Prints one JSON
// object: iterations, p50_us, p99_us, max_us, mean_us. Exits non-zero,
// saying why, when a write or sync fails.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr std::size_t block_bytes = 4096;
constexpr long iterations_max = 1'000'000;
constexpr long file_mib_max = 1024;

struct options {
  std::string dir;
  long iterations = 2000;
  long file_mib = 16;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(
      stderr, "disk_probe: %s\nusage: disk_probe --dir DIR [--iterations N] [--file-mib M]\n", why);
  std::exit(2);
}

long parse_count(const char* text, long max) {
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v < 1 || v > max) usage("bad number");
  return v;
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (i + 1 >= argc) usage("an option without its value");
    if (a == "--dir") {
      o.dir = argv[++i];
    } else if (a == "--iterations") {
      o.iterations = parse_count(argv[++i], iterations_max);
    } else if (a == "--file-mib") {
      o.file_mib = parse_count(argv[++i], file_mib_max);
    } else {
      usage("unknown option");
    }
  }
  if (o.dir.empty()) usage("--dir is required");
  return o;
}

[[noreturn]] void fail(const char* what, const std::string& path) {
  std::fprintf(stderr, "disk_probe: %s %s: %s\n", what, path.c_str(), std::strerror(errno));
  std::exit(1);
}

void write_all(int fd, const char* data, std::size_t n, off_t at, const std::string& path) {
  while (n > 0) {
    const ssize_t w = ::pwrite(fd, data, n, at);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) fail("write", path);
    data += w;
    n -= static_cast<std::size_t>(w);
    at += w;
  }
}

}  // namespace

int main(int argc, char** argv) {
  const options o = parse(argc, argv);
  const std::string path = o.dir + "/disk_probe." + std::to_string(::getpid());
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) fail("open", path);

  const std::size_t file_bytes = static_cast<std::size_t>(o.file_mib) << 20;
  const std::size_t blocks = file_bytes / block_bytes;
  std::vector<char> chunk(1u << 20, 0);
  for (std::size_t at = 0; at < file_bytes; at += chunk.size()) {
    write_all(fd, chunk.data(), chunk.size(), static_cast<off_t>(at), path);
  }
  if (::fsync(fd) != 0) fail("fsync", path);

  std::vector<char> block(block_bytes, 'x');
  std::vector<std::int64_t> ns;
  ns.reserve(static_cast<std::size_t>(o.iterations));
  for (long i = 0; i < o.iterations; ++i) {
    block[0] = static_cast<char>(i);
    const std::size_t at = (static_cast<std::size_t>(i) % blocks) * block_bytes;
    write_all(fd, block.data(), block.size(), static_cast<off_t>(at), path);
    const auto t0 = std::chrono::steady_clock::now();
    if (::fdatasync(fd) != 0) fail("fdatasync", path);
    ns.push_back(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0)
            .count());
  }
  ::close(fd);
  if (::unlink(path.c_str()) != 0) fail("unlink", path);

  std::sort(ns.begin(), ns.end());
  std::int64_t sum = 0;
  for (const std::int64_t v : ns)
    sum += v;
  const auto at_fraction = [&](double q) {
    const auto k = static_cast<std::size_t>(q * static_cast<double>(ns.size() - 1));
    return static_cast<double>(ns[k]) / 1000.0;
  };
  std::printf(
      "{\"iterations\":%ld,\"p50_us\":%.0f,\"p99_us\":%.0f,\"max_us\":%.0f,\"mean_us\":%.0f}\n",
      o.iterations, at_fraction(0.50), at_fraction(0.99), static_cast<double>(ns.back()) / 1000.0,
      static_cast<double>(sum) / static_cast<double>(ns.size()) / 1000.0);
  return 0;
}
