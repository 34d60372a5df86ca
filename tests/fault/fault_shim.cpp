// An LD_PRELOAD shim for the real creditd: it makes writes and syncs of the
// store's files fail or stall on command (a full or failing disk), counts
// where commits are (the commit probe), and keeps the image a power cut would
// leave of each store file.
//
//   CREDITD_FAULT_DIR      the store's directory: the files under it (compared
//                          by resolved path: this is passed through realpath,
//                          open files are named by /proc/self/fd/N) are the
//                          store's files. Unset: the files of the `--store
//                          sqlite:PATH` argument (PATH, PATH-wal, PATH-shm,
//                          PATH-journal...).
//   CREDITD_FAULT_CONTROL  a file the test rewrites; each line is one rule:
//                            write ENOSPC | write EIO    (write, pwrite, writev...)
//                            fsync EIO                   (fsync, fdatasync)
//                            fsync_delay_us 200000       (sleep before each sync)
//                          unset, empty or missing: no fault.
//   CREDITD_COMMIT_PROBE   a file mapped MAP_SHARED (created at
//                          commit_probe_bytes) as a creditd::test::commit_probe
//                          (tests/support/commit_probe.hpp): `begun` counts the
//                          first write to a store file while no commit is open,
//                          `synced` a successful fsync/fdatasync of a store file
//                          while one is open, `writes` every write. Turns no
//                          fault on.
//   CREDITD_COMMIT_PROBE_FILES  a path fragment: the probe counts only the
//                          store files whose path holds it (with an
//                          append-only log, "/log/": its records are the
//                          commits, the SQLite writes behind them are not).
//   CREDITD_POWER_LOSS_DIR a directory: at every successful fsync/fdatasync of
//                          a store file, the file's whole contents are copied
//                          to DIR/<its path below the store's directory> (the
//                          append-only log's segments in DIR/creditd.db-log/;
//                          through a temporary file and a rename; runs of
//                          zeros left as holes), so DIR holds what the disk
//                          would hold after a power cut at that instant, if
//                          nothing written since the last sync had reached it.
//                          A store file renamed keeps its image under the old
//                          name until its directory is synced (a rename is
//                          durable then, not before). A store file unlinked is
//                          removed from DIR. A file never synced is not in DIR.
//
// The probe and the power-loss images leave out the shared-memory index
// (PATH-shm, rebuilt from the WAL, never synced) and the lock file.
//
// The control file is read on every intercepted call that touches a store
// file: slow, and only for tests.
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>
#include <string>
#include <vector>

#include "../support/commit_probe.hpp"

namespace fault_shim_cpp {  // unity builds: tests/CMakeLists.txt

namespace {

template <typename F>
F real(const char* name) {
  return reinterpret_cast<F>(::dlsym(RTLD_NEXT, name));
}

using write_fn = ssize_t (*)(int, const void*, size_t);
using pread_fn = ssize_t (*)(int, void*, size_t, off_t);
using sync_fn = int (*)(int);

// Set while the shim itself writes (the power-loss images): not a store write.
thread_local bool in_shim = false;

struct rules {
  int write_errno = 0;
  int fsync_errno = 0;
  long fsync_delay_us = 0;
};

int errno_named(const char* name) {
  if (std::strncmp(name, "ENOSPC", 6) == 0) return ENOSPC;
  if (std::strncmp(name, "EIO", 3) == 0) return EIO;
  if (std::strncmp(name, "EDQUOT", 6) == 0) return EDQUOT;
  return EIO;
}

// Which files are the store's: every file under `dir`, or (when `prefix` is
// set) those whose resolved path starts with `prefix`.
struct store_match {
  std::string dir;     // resolved, no trailing slash
  std::string prefix;  // resolved path of the database file, or empty
  bool valid = false;
};

std::string resolved(const char* path) {
  char out[PATH_MAX];
  if (::realpath(path, out) == nullptr) return {};
  return out;
}

// The path of `--store sqlite:PATH` (or --store=sqlite:PATH) on this
// process's command line, or empty.
std::string store_argument() {
  const int fd = ::open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  std::string all;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    all.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  std::string previous;
  for (std::size_t at = 0; at < all.size();) {
    const std::size_t end = all.find('\0', at);
    const std::string arg = all.substr(at, end == std::string::npos ? std::string::npos : end - at);
    std::string value;
    if (previous == "--store") value = arg;
    if (arg.rfind("--store=", 0) == 0) value = arg.substr(8);
    if (value.rfind("sqlite:", 0) == 0) return value.substr(7);
    previous = arg;
    if (end == std::string::npos) break;
    at = end + 1;
  }
  return {};
}

store_match compute_match() {
  store_match m;
  if (const char* dir = std::getenv("CREDITD_FAULT_DIR"); dir != nullptr && *dir != '\0') {
    m.dir = resolved(dir);
    m.valid = !m.dir.empty();
    return m;
  }
  const std::string db = store_argument();
  if (db.empty()) return m;
  // The file may not exist yet: resolve its directory.
  const std::size_t slash = db.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : db.substr(0, slash == 0 ? 1 : slash);
  const std::string base = slash == std::string::npos ? db : db.substr(slash + 1);
  m.dir = resolved(dir.c_str());
  if (m.dir.empty()) return m;
  m.prefix = (m.dir == "/" ? "" : m.dir) + "/" + base;
  m.valid = true;
  return m;
}

// Resolved once it resolves (the directory may be created after the start).
store_match match() {
  static std::mutex mu;
  static store_match m;
  std::lock_guard lock(mu);
  if (!m.valid) m = compute_match();
  return m;
}

bool path_is_store(const std::string& path) {
  const store_match m = match();
  if (!m.valid) return false;
  if (!m.prefix.empty()) return path.rfind(m.prefix, 0) == 0;
  if (path == m.dir) return true;
  const std::string dir_slash = m.dir == "/" ? "/" : m.dir + "/";
  return path.rfind(dir_slash, 0) == 0;
}

// The resolved path of an open file descriptor, or empty.
std::string fd_path(int fd) {
  char link[64];
  char path[PATH_MAX];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  const ssize_t n = ::readlink(link, path, sizeof path - 1);
  if (n <= 0) return {};
  return std::string(path, static_cast<std::size_t>(n));
}

bool ends_with(const std::string& s, const char* tail) {
  const std::size_t n = std::strlen(tail);
  return s.size() >= n && s.compare(s.size() - n, n, tail) == 0;
}

// A store file whose contents are durable state: not the shared-memory index,
// not the lock file, not a directory.
// Whether the commit probe counts `path` (CREDITD_COMMIT_PROBE_FILES).
// A file being made (*.tmp: a log segment, or a spare one the applier makes
// ahead, beside the commits) holds no commit: its writes and syncs would
// pass for one's.
bool probed_file(const std::string& path) {
  if (path.size() >= 4 && path.compare(path.size() - 4, 4, ".tmp") == 0) return false;
  const char* only = std::getenv("CREDITD_COMMIT_PROBE_FILES");
  return only == nullptr || *only == '\0' || path.find(only) != std::string::npos;
}

bool durable_file(const std::string& path) {
  return !ends_with(path, "-shm") && !ends_with(path, ".lock") && !ends_with(path, " (deleted)");
}

rules read_rules() {
  rules r;
  const char* control = std::getenv("CREDITD_FAULT_CONTROL");
  if (control == nullptr) return r;
  const int fd = ::open(control, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return r;
  char buf[512];
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return r;
  buf[n] = '\0';
  for (char* line = buf; line != nullptr && *line != '\0';) {
    char* next = std::strchr(line, '\n');
    if (next != nullptr) *next++ = '\0';
    if (std::strncmp(line, "write ", 6) == 0) r.write_errno = errno_named(line + 6);
    if (std::strncmp(line, "fsync ", 6) == 0) r.fsync_errno = errno_named(line + 6);
    if (std::strncmp(line, "fsync_delay_us ", 15) == 0) r.fsync_delay_us = std::atol(line + 15);
    line = next;
  }
  return r;
}

// ------------------------------------------------------------------ the probe

creditd::test::commit_probe* probe() {
  static creditd::test::commit_probe* p = []() -> creditd::test::commit_probe* {
    const char* path = std::getenv(creditd::test::commit_probe_env);
    if (path == nullptr || *path == '\0') return nullptr;
    const int fd = ::open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return nullptr;
    struct stat st {};
    if (::fstat(fd, &st) != 0 ||
        (static_cast<std::size_t>(st.st_size) < creditd::test::commit_probe_bytes &&
         ::ftruncate(fd, creditd::test::commit_probe_bytes) != 0)) {
      ::close(fd);
      return nullptr;
    }
    void* mem = ::mmap(nullptr, creditd::test::commit_probe_bytes, PROT_READ | PROT_WRITE,
                       MAP_SHARED, fd, 0);
    ::close(fd);
    if (mem == MAP_FAILED) return nullptr;
    // A new file is zeros: the counters start at 0.
    return static_cast<creditd::test::commit_probe*>(mem);
  }();
  return p;
}

std::mutex probe_mu;

void probe_write() {
  creditd::test::commit_probe* p = probe();
  if (p == nullptr) return;
  std::lock_guard lock(probe_mu);
  p->writes.fetch_add(1);
  if (p->begun.load() == p->synced.load()) p->begun.fetch_add(1);
}

void probe_sync() {
  creditd::test::commit_probe* p = probe();
  if (p == nullptr) return;
  std::lock_guard lock(probe_mu);
  if (p->begun.load() > p->synced.load()) p->synced.fetch_add(1);
}

// ------------------------------------------------------------------ power loss

const char* power_loss_dir() {
  const char* dir = std::getenv("CREDITD_POWER_LOSS_DIR");
  return dir != nullptr && *dir != '\0' ? dir : nullptr;
}

// The image's name of the store file `path` (resolved): its path below the
// store's directory, or "" when it is not below it.
std::string image_name(const std::string& path) {
  const store_match m = match();
  if (!m.valid) return {};
  const std::string dir_slash = m.dir == "/" ? "/" : m.dir + "/";
  if (path.size() <= dir_slash.size() || path.rfind(dir_slash, 0) != 0) return {};
  return path.substr(dir_slash.size());
}

// Creates the directories of DIR/`name` that are missing (in_shim held).
bool make_image_dirs(const std::string& dir, const std::string& name) {
  for (std::size_t at = name.find('/'); at != std::string::npos; at = name.find('/', at + 1)) {
    const std::string sub = dir + "/" + name.substr(0, at);
    if (::mkdir(sub.c_str(), 0700) != 0 && errno != EEXIST) return false;
  }
  return true;
}

std::mutex image_mu;

// Copies the file open as `fd` (resolved path `path`) to the power-loss
// directory. A failure here is loud: the image would be wrong.
void save_image(int fd, const std::string& path) {
  const char* dir = power_loss_dir();
  if (dir == nullptr) return;
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return;
  const std::string name = image_name(path);
  if (name.empty()) return;
  static auto real_pwrite = real<ssize_t (*)(int, const void*, size_t, off_t)>("pwrite");
  static auto real_pread = real<pread_fn>("pread");
  static auto real_fsync = real<sync_fn>("fsync");
  std::lock_guard lock(image_mu);
  in_shim = true;
  const std::string image = std::string(dir) + "/" + name;
  const std::string tmp = image + ".partial";
  bool ok = make_image_dirs(dir, name);
  const int out = ok ? ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : -1;
  // Read through a fresh descriptor: the store's may be write-only.
  char link[64];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  const int in = ::open(link, O_RDONLY | O_CLOEXEC);
  ok = ok && out >= 0 && in >= 0;
  static char buf[1 << 16];
  static const char zeros[1 << 16] = {};
  off_t at = 0;
  while (ok) {
    const ssize_t n = real_pread(in, buf, sizeof buf, at);
    if (n < 0) ok = false;
    if (n <= 0) break;
    // A block of zeros stays a hole (a log segment is mostly zeros): the
    // image reads the same.
    if (std::memcmp(buf, zeros, static_cast<std::size_t>(n)) != 0) {
      for (ssize_t done = 0; ok && done < n;) {
        const ssize_t w =
            real_pwrite(out, buf + done, static_cast<std::size_t>(n - done), at + done);
        if (w <= 0)
          ok = false;
        else
          done += w;
      }
    }
    at += n;
  }
  if (in >= 0) ::close(in);
  if (out >= 0) {
    if (ok && ::ftruncate(out, at) != 0) ok = false;
    if (ok && real_fsync(out) != 0) ok = false;
    ::close(out);
  }
  if (ok && ::rename(tmp.c_str(), image.c_str()) != 0) ok = false;
  in_shim = false;
  if (!ok) {
    std::fprintf(stderr, "fault_shim: cannot save the power-loss image of %s to %s: %s\n",
                 path.c_str(), image.c_str(), std::strerror(errno));
    std::abort();
  }
}

void drop_image(const std::string& path) {
  const char* dir = power_loss_dir();
  if (dir == nullptr) return;
  const std::string name = image_name(path);
  if (name.empty()) return;
  std::lock_guard lock(image_mu);
  in_shim = true;
  const std::string image = std::string(dir) + "/" + name;
  ::unlink(image.c_str());
  in_shim = false;
}

// Renames of store files not yet made durable by a sync of their directory:
// (from, to), resolved paths. At most renames_pending_max (a test's store
// renames a few files between directory syncs).
struct pending_rename {
  std::string from, to;
};
std::vector<pending_rename> renames_pending;
constexpr std::size_t renames_pending_max = 1024;

std::string parent_of(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash == 0 ? 1 : slash);
}

void note_rename(const std::string& from, const std::string& to) {
  if (power_loss_dir() == nullptr || from.empty() || to.empty()) return;
  std::lock_guard lock(image_mu);
  if (renames_pending.size() >= renames_pending_max) {
    std::fprintf(stderr, "fault_shim: more than %zu renames before a directory sync\n",
                 renames_pending_max);
    std::abort();
  }
  renames_pending.push_back({from, to});
}

// The directory `dir` (resolved) was synced: its renames reach the images,
// in the order they were made. A file synced under its new name since keeps
// that newer image; the old name's goes.
void apply_renames(const std::string& dir) {
  const char* images = power_loss_dir();
  if (images == nullptr) return;
  std::lock_guard lock(image_mu);
  in_shim = true;
  std::vector<pending_rename> left;
  for (const pending_rename& r : renames_pending) {
    if (parent_of(r.to) != dir) {
      left.push_back(r);
      continue;
    }
    const std::string from_name = image_name(r.from), to_name = image_name(r.to);
    if (from_name.empty() || to_name.empty()) continue;
    const std::string from = std::string(images) + "/" + from_name;
    const std::string to = std::string(images) + "/" + to_name;
    struct stat st {};
    if (::stat(to.c_str(), &st) == 0 && ::stat(from.c_str(), &st) == 0) {
      ::unlink(from.c_str());
    } else if (::stat(from.c_str(), &st) == 0) {
      if (!make_image_dirs(images, to_name) || ::rename(from.c_str(), to.c_str()) != 0) {
        std::fprintf(stderr, "fault_shim: cannot rename the power-loss image %s to %s: %s\n",
                     from.c_str(), to.c_str(), std::strerror(errno));
        std::abort();
      }
    }
  }
  renames_pending = std::move(left);
  in_shim = false;
}

// ------------------------------------------------------------------ hooks

// Before a write: -1 with errno set when it must fail, else 0 (and `store`
// says whether the fd is a durable store file, for after the write).
int before_write(int fd, bool& store) {
  store = false;
  if (in_shim) return 0;
  const std::string path = fd_path(fd);
  if (path.empty() || !path_is_store(path)) return 0;
  const rules r = read_rules();
  if (r.write_errno != 0) {
    errno = r.write_errno;
    return -1;
  }
  store = durable_file(path) && probed_file(path);
  return 0;
}

void after_write(bool store, ssize_t result) {
  if (store && result >= 0) probe_write();
}

int before_sync(int fd, std::string& path) {
  path.clear();
  if (in_shim) return 0;
  std::string p = fd_path(fd);
  if (p.empty() || !path_is_store(p)) return 0;
  const rules r = read_rules();
  if (r.fsync_delay_us > 0) {
    timespec ts{r.fsync_delay_us / 1000000, (r.fsync_delay_us % 1000000) * 1000};
    ::nanosleep(&ts, nullptr);
  }
  if (r.fsync_errno != 0) {
    errno = r.fsync_errno;
    return -1;
  }
  path = std::move(p);
  return 0;
}

void after_sync(int fd, const std::string& path, int result) {
  if (path.empty() || result != 0 || !durable_file(path)) return;
  const int saved = errno;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) apply_renames(path);
  save_image(fd, path);
  if (probed_file(path)) probe_sync();
  errno = saved;
}

// An unlink of a store file (resolved before it goes) drops its image.
std::string store_path_of(int dirfd, const char* path) {
  if (in_shim || path == nullptr || power_loss_dir() == nullptr) return {};
  std::string full;
  if (path[0] == '/' || dirfd == AT_FDCWD) {
    full = path;
  } else {
    const std::string d = fd_path(dirfd);
    if (d.empty()) return {};
    full = d + "/" + path;
  }
  // The file itself may be a link: resolve the directory, keep the name.
  const std::size_t slash = full.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : full.substr(0, slash == 0 ? 1 : slash);
  const std::string base = slash == std::string::npos ? full : full.substr(slash + 1);
  const std::string rdir = resolved(dir.c_str());
  if (rdir.empty()) return {};
  const std::string r = (rdir == "/" ? "" : rdir) + "/" + base;
  return path_is_store(r) && durable_file(r) ? r : std::string{};
}

}  // namespace

extern "C" {

ssize_t write(int fd, const void* buf, size_t n) {
  static auto next = real<ssize_t (*)(int, const void*, size_t)>("write");
  bool store = false;
  if (before_write(fd, store) < 0) return -1;
  const ssize_t r = next(fd, buf, n);
  after_write(store, r);
  return r;
}

ssize_t pwrite(int fd, const void* buf, size_t n, off_t off) {
  static auto next = real<ssize_t (*)(int, const void*, size_t, off_t)>("pwrite");
  bool store = false;
  if (before_write(fd, store) < 0) return -1;
  const ssize_t r = next(fd, buf, n, off);
  after_write(store, r);
  return r;
}

ssize_t pwrite64(int fd, const void* buf, size_t n, off64_t off) {
  static auto next = real<ssize_t (*)(int, const void*, size_t, off64_t)>("pwrite64");
  bool store = false;
  if (before_write(fd, store) < 0) return -1;
  const ssize_t r = next(fd, buf, n, off);
  after_write(store, r);
  return r;
}

ssize_t writev(int fd, const struct iovec* iov, int count) {
  static auto next = real<ssize_t (*)(int, const struct iovec*, int)>("writev");
  bool store = false;
  if (before_write(fd, store) < 0) return -1;
  const ssize_t r = next(fd, iov, count);
  after_write(store, r);
  return r;
}

ssize_t pwritev(int fd, const struct iovec* iov, int count, off_t off) {
  static auto next = real<ssize_t (*)(int, const struct iovec*, int, off_t)>("pwritev");
  bool store = false;
  if (before_write(fd, store) < 0) return -1;
  const ssize_t r = next(fd, iov, count, off);
  after_write(store, r);
  return r;
}

// The 64-bit-offset name of pwritev, which some builds call instead (the
// append-only log writes its records with pwritev).
ssize_t pwritev64(int fd, const struct iovec* iov, int count, off64_t off) {
  static auto next = real<ssize_t (*)(int, const struct iovec*, int, off64_t)>("pwritev64");
  bool store = false;
  if (before_write(fd, store) < 0) return -1;
  const ssize_t r = next(fd, iov, count, off);
  after_write(store, r);
  return r;
}

int fsync(int fd) {
  static auto next = real<int (*)(int)>("fsync");
  std::string path;
  if (before_sync(fd, path) < 0) return -1;
  const int r = next(fd);
  after_sync(fd, path, r);
  return r;
}

int fdatasync(int fd) {
  static auto next = real<int (*)(int)>("fdatasync");
  std::string path;
  if (before_sync(fd, path) < 0) return -1;
  const int r = next(fd);
  after_sync(fd, path, r);
  return r;
}

int unlink(const char* path) {
  static auto next = real<int (*)(const char*)>("unlink");
  const std::string store = store_path_of(AT_FDCWD, path);
  const int r = next(path);
  if (r == 0 && !store.empty()) {
    const int saved = errno;
    drop_image(store);
    errno = saved;
  }
  return r;
}

// A rename of a store file reaches the images once its directory is synced.
int rename(const char* from, const char* to) {
  static auto next = real<int (*)(const char*, const char*)>("rename");
  const std::string a = store_path_of(AT_FDCWD, from), b = store_path_of(AT_FDCWD, to);
  const int r = next(from, to);
  if (r == 0) {
    const int saved = errno;
    note_rename(a, b);
    errno = saved;
  }
  return r;
}

int renameat(int from_dirfd, const char* from, int to_dirfd, const char* to) {
  static auto next = real<int (*)(int, const char*, int, const char*)>("renameat");
  const std::string a = store_path_of(from_dirfd, from), b = store_path_of(to_dirfd, to);
  const int r = next(from_dirfd, from, to_dirfd, to);
  if (r == 0) {
    const int saved = errno;
    note_rename(a, b);
    errno = saved;
  }
  return r;
}

int unlinkat(int dirfd, const char* path, int flags) {
  static auto next = real<int (*)(int, const char*, int)>("unlinkat");
  const std::string store = store_path_of(dirfd, path);
  const int r = next(dirfd, path, flags);
  if (r == 0 && !store.empty()) {
    const int saved = errno;
    drop_image(store);
    errno = saved;
  }
  return r;
}

}  // extern "C"
}  // namespace fault_shim_cpp
