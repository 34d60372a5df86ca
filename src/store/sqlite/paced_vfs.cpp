#include "store/sqlite/paced_vfs.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <mutex>
#include <thread>

#include "store/sqlite/sqlite_db.hpp"

namespace creditd::store::sqlite {

std::chrono::nanoseconds writeback_budget::take(std::size_t bytes, clock::time_point now) {
  using std::chrono::nanoseconds;
  if (bytes_per_second_ == 0) return nanoseconds{0};
  const double rate = static_cast<double>(bytes_per_second_);
  const double cap = static_cast<double>(chunk_bytes_);
  if (!started_) {
    started_ = true;
    saved_ = cap;
    at_ = now;
  } else if (now > at_) {
    saved_ = std::min(cap, saved_ + std::chrono::duration<double>(now - at_).count() * rate);
    at_ = now;
  }
  // More than a chunk at once waits for a full bucket and leaves it in
  // debt, so that the rate holds over time.
  const double want = std::min(static_cast<double>(bytes), cap);
  if (saved_ >= want) {
    saved_ -= static_cast<double>(bytes);
    return nanoseconds{0};
  }
  const double seconds = (want - saved_) / rate;
  return std::max(nanoseconds{1}, nanoseconds{static_cast<std::int64_t>(seconds * 1e9)});
}

namespace {

// The descriptor through which a main file is handed to writeback: one per
// file, kept for the life of the process. Closing any descriptor of a file
// drops every POSIX lock the process holds on it, SQLite's own for every
// connection (which is why SQLite's unix VFS defers its own closes), so
// this one is never closed. At most main_files_max files; beyond them a
// main file is not handed over (-1: its writes reach the disk as SQLite
// makes and syncs them). The WAL carries no POSIX lock: its descriptor is
// the file's own and closed with it.
int main_file_descriptor(const char* name) {
  constexpr std::size_t main_files_max = 64;
  struct kept {
    dev_t dev;
    ino_t ino;
    int fd;
  };
  static std::mutex mu;
  static std::vector<kept> files;
  struct stat st {};
  if (::stat(name, &st) != 0) return -1;
  std::lock_guard lock(mu);
  for (const kept& k : files) {
    if (k.dev == st.st_dev && k.ino == st.st_ino) return k.fd;
  }
  if (files.size() >= main_files_max) return -1;
  const int fd = ::open(name, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  struct stat got {};
  const bool same = ::fstat(fd, &got) == 0 && got.st_dev == st.st_dev && got.st_ino == st.st_ino;
  // Kept either way (a file replaced since the stat above: kept, not used).
  files.push_back({got.st_dev, got.st_ino, fd});
  return same ? fd : -1;
}

}  // namespace

struct paced_vfs::shim {
  // One open file: this shim's part, then (at real_offset) the default
  // VFS's file.
  struct file {
    sqlite3_file base;  // first: what SQLite holds
    paced_vfs* owner;
    const char* name;  // SQLite keeps it until xClose
    bool paced;        // the main file or the WAL (handed over once the VFS is enabled)
    int kind;          // 0 the main file, 1 the WAL
    int fd;            // for sync_file_range, from the first paced write; the WAL's own
    sqlite3_int64 lo, hi;
    std::size_t pending;     // bytes written in [lo, hi) since the last hand-over
    sqlite3_int64 last_end;  // of the last write: the next one at it continues a run
  };
  static constexpr std::size_t real_offset = (sizeof(file) + 15) & ~std::size_t{15};

  static file& of(sqlite3_file* f) { return *reinterpret_cast<file*>(f); }
  static sqlite3_file* real(sqlite3_file* f) {
    return reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(f) + real_offset);
  }
  static paced_vfs& self(sqlite3_vfs* v) { return *static_cast<paced_vfs*>(v->pAppData); }
  static sqlite3_vfs* base(sqlite3_vfs* v) { return self(v).base_; }

  static int open(sqlite3_vfs* v, const char* name, sqlite3_file* sf, int flags, int* out_flags) {
    paced_vfs& vfs = self(v);
    file& f = of(sf);
    f.base.pMethods = nullptr;
    f.owner = &vfs;
    f.name = name;
    f.paced = name != nullptr && (flags & (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_WAL)) != 0;
    f.kind = (flags & SQLITE_OPEN_WAL) != 0 ? 1 : 0;
    f.fd = -1;
    f.lo = f.hi = 0;
    f.pending = 0;
    f.last_end = -1;
    sqlite3_file* r = real(sf);
    r->pMethods = nullptr;
    const int rc = vfs.base_->xOpen(vfs.base_, name, r, flags, out_flags);
    if (rc != SQLITE_OK) {
      // SQLite calls xClose only when pMethods is set: ours stays null, so
      // the default VFS's file is closed here if it needs it.
      if (r->pMethods != nullptr) r->pMethods->xClose(r);
      return rc;
    }
    sf->pMethods = &methods;
    if (f.paced) vfs.open_.push_back(&f);
    return SQLITE_OK;
  }

  static int write(sqlite3_file* sf, const void* data, int n, sqlite3_int64 off) {
    const int rc = real(sf)->pMethods->xWrite(real(sf), data, n, off);
    file& f = of(sf);
    if (rc != SQLITE_OK || !f.paced || n <= 0 || !f.owner->enabled_.load()) return rc;
    if (f.fd < 0) {
      // A descriptor of its own, read-only: only the kernel's writeback is
      // asked for through it. Without one the file is not handed over (the
      // default VFS does everything as before).
      f.fd = f.kind == 1 ? ::open(f.name, O_RDONLY | O_CLOEXEC) : main_file_descriptor(f.name);
      if (f.fd < 0) {
        f.paced = false;
        return rc;
      }
    }
    if (f.pending == 0) {
      f.lo = off;
      f.hi = off + n;
    } else {
      f.lo = std::min(f.lo, off);
      f.hi = std::max(f.hi, off + n);
    }
    f.pending += static_cast<std::size_t>(n);
    if (off != f.last_end) f.owner->counters_[f.kind].runs.fetch_add(1, std::memory_order_relaxed);
    f.last_end = off + n;
    if (f.pending >= f.owner->chunk_of(f.kind)) {
      f.owner->hand_over(f.kind, f.fd, f.lo, f.hi, f.pending);
      f.pending = 0;
    }
    return rc;
  }

  static void hand_over_pending(file& f) {
    if (f.fd >= 0 && f.pending > 0) {
      f.owner->hand_over(f.kind, f.fd, f.lo, f.hi, f.pending);
      f.pending = 0;
    }
  }

  static int sync(sqlite3_file* sf, int flags) {
    hand_over_pending(of(sf));
    return real(sf)->pMethods->xSync(real(sf), flags);
  }

  static int close(sqlite3_file* sf) {
    file& f = of(sf);
    if (f.fd >= 0 && f.kind == 1) ::close(f.fd);  // the main file's is kept: see above
    f.fd = -1;
    std::erase(f.owner->open_, &f);
    return real(sf)->pMethods->xClose(real(sf));
  }

  // Forwarded as they are.
  static int read(sqlite3_file* f, void* out, int n, sqlite3_int64 off) {
    return real(f)->pMethods->xRead(real(f), out, n, off);
  }
  static int truncate(sqlite3_file* f, sqlite3_int64 size) {
    return real(f)->pMethods->xTruncate(real(f), size);
  }
  static int file_size(sqlite3_file* f, sqlite3_int64* size) {
    return real(f)->pMethods->xFileSize(real(f), size);
  }
  static int lock(sqlite3_file* f, int level) { return real(f)->pMethods->xLock(real(f), level); }
  static int unlock(sqlite3_file* f, int level) {
    return real(f)->pMethods->xUnlock(real(f), level);
  }
  static int check_reserved(sqlite3_file* f, int* out) {
    return real(f)->pMethods->xCheckReservedLock(real(f), out);
  }
  static int file_control(sqlite3_file* f, int op, void* arg) {
    return real(f)->pMethods->xFileControl(real(f), op, arg);
  }
  static int sector_size(sqlite3_file* f) { return real(f)->pMethods->xSectorSize(real(f)); }
  static int device_characteristics(sqlite3_file* f) {
    return real(f)->pMethods->xDeviceCharacteristics(real(f));
  }
  static int shm_map(sqlite3_file* f, int region, int size, int extend, void volatile** out) {
    const sqlite3_io_methods* m = real(f)->pMethods;
    if (m->iVersion < 2) return SQLITE_IOERR;
    return m->xShmMap(real(f), region, size, extend, out);
  }
  static int shm_lock(sqlite3_file* f, int offset, int n, int flags) {
    const sqlite3_io_methods* m = real(f)->pMethods;
    if (m->iVersion < 2) return SQLITE_IOERR;
    return m->xShmLock(real(f), offset, n, flags);
  }
  static void shm_barrier(sqlite3_file* f) {
    const sqlite3_io_methods* m = real(f)->pMethods;
    if (m->iVersion >= 2) m->xShmBarrier(real(f));
  }
  static int shm_unmap(sqlite3_file* f, int delete_flag) {
    const sqlite3_io_methods* m = real(f)->pMethods;
    if (m->iVersion < 2) return SQLITE_OK;
    return m->xShmUnmap(real(f), delete_flag);
  }
  static int fetch(sqlite3_file* f, sqlite3_int64 off, int n, void** out) {
    const sqlite3_io_methods* m = real(f)->pMethods;
    if (m->iVersion < 3) {
      *out = nullptr;  // no memory map: SQLite reads instead
      return SQLITE_OK;
    }
    return m->xFetch(real(f), off, n, out);
  }
  static int unfetch(sqlite3_file* f, sqlite3_int64 off, void* p) {
    const sqlite3_io_methods* m = real(f)->pMethods;
    if (m->iVersion < 3) return SQLITE_OK;
    return m->xUnfetch(real(f), off, p);
  }

  static int vfs_delete(sqlite3_vfs* v, const char* name, int sync_dir) {
    return base(v)->xDelete(base(v), name, sync_dir);
  }
  static int vfs_access(sqlite3_vfs* v, const char* name, int flags, int* out) {
    return base(v)->xAccess(base(v), name, flags, out);
  }
  static int vfs_full_pathname(sqlite3_vfs* v, const char* name, int n, char* out) {
    return base(v)->xFullPathname(base(v), name, n, out);
  }
  static void* vfs_dl_open(sqlite3_vfs* v, const char* name) {
    return base(v)->xDlOpen(base(v), name);
  }
  static void vfs_dl_error(sqlite3_vfs* v, int n, char* out) { base(v)->xDlError(base(v), n, out); }
  static void (*vfs_dl_sym(sqlite3_vfs* v, void* lib, const char* sym))(void) {
    return base(v)->xDlSym(base(v), lib, sym);
  }
  static void vfs_dl_close(sqlite3_vfs* v, void* lib) { base(v)->xDlClose(base(v), lib); }
  static int vfs_randomness(sqlite3_vfs* v, int n, char* out) {
    return base(v)->xRandomness(base(v), n, out);
  }
  static int vfs_sleep(sqlite3_vfs* v, int us) { return base(v)->xSleep(base(v), us); }
  static int vfs_current_time(sqlite3_vfs* v, double* out) {
    return base(v)->xCurrentTime(base(v), out);
  }
  static int vfs_get_last_error(sqlite3_vfs* v, int n, char* out) {
    return base(v)->xGetLastError(base(v), n, out);
  }
  static int vfs_current_time_int64(sqlite3_vfs* v, sqlite3_int64* out) {
    return base(v)->xCurrentTimeInt64(base(v), out);
  }
  static int vfs_set_system_call(sqlite3_vfs* v, const char* name, sqlite3_syscall_ptr p) {
    return base(v)->xSetSystemCall(base(v), name, p);
  }
  static sqlite3_syscall_ptr vfs_get_system_call(sqlite3_vfs* v, const char* name) {
    return base(v)->xGetSystemCall(base(v), name);
  }
  static const char* vfs_next_system_call(sqlite3_vfs* v, const char* name) {
    return base(v)->xNextSystemCall(base(v), name);
  }

  static constexpr sqlite3_io_methods methods = {
      3,
      close,
      read,
      write,
      truncate,
      sync,
      file_size,
      lock,
      unlock,
      check_reserved,
      file_control,
      sector_size,
      device_characteristics,
      shm_map,
      shm_lock,
      shm_barrier,
      shm_unmap,
      fetch,
      unfetch,
  };
};

std::expected<std::unique_ptr<paced_vfs>, std::string> paced_vfs::make(writeback_pace pace) {
  if (pace.wal_chunk_bytes == 0 || pace.file_chunk_bytes == 0)
    return std::unexpected(std::string("a chunk must be at least 1 byte"));
  configure_sqlite_once();  // before sqlite3_initialize, which would fix the default
  if (int rc = sqlite3_initialize(); rc != SQLITE_OK)
    return std::unexpected(std::string("cannot initialize SQLite: ") + sqlite3_errstr(rc));
  sqlite3_vfs* base = sqlite3_vfs_find(nullptr);
  if (base == nullptr) return std::unexpected(std::string("SQLite has no default VFS"));
  if (base->iVersion < 3)
    return std::unexpected(std::string("SQLite's default VFS is older than version 3"));
  std::unique_ptr<paced_vfs> p(new paced_vfs(pace));
  char name[64];
  std::snprintf(name, sizeof name, "creditd-paced-%p", static_cast<void*>(p.get()));
  p->name_ = name;
  p->base_ = base;
  sqlite3_vfs& v = p->vfs_;
  v.iVersion = 3;
  v.szOsFile = static_cast<int>(shim::real_offset) + base->szOsFile;
  v.mxPathname = base->mxPathname;
  v.zName = p->name_.c_str();
  v.pAppData = p.get();
  v.xOpen = shim::open;
  v.xDelete = shim::vfs_delete;
  v.xAccess = shim::vfs_access;
  v.xFullPathname = shim::vfs_full_pathname;
  v.xDlOpen = shim::vfs_dl_open;
  v.xDlError = shim::vfs_dl_error;
  v.xDlSym = shim::vfs_dl_sym;
  v.xDlClose = shim::vfs_dl_close;
  v.xRandomness = shim::vfs_randomness;
  v.xSleep = shim::vfs_sleep;
  v.xCurrentTime = shim::vfs_current_time;
  v.xGetLastError = shim::vfs_get_last_error;
  v.xCurrentTimeInt64 = shim::vfs_current_time_int64;
  v.xSetSystemCall = shim::vfs_set_system_call;
  v.xGetSystemCall = shim::vfs_get_system_call;
  v.xNextSystemCall = shim::vfs_next_system_call;
  if (int rc = sqlite3_vfs_register(&v, /*makeDflt=*/0); rc != SQLITE_OK)
    return std::unexpected(std::string("cannot register a VFS: ") + sqlite3_errstr(rc));
  return p;
}

paced_vfs::~paced_vfs() {
  sqlite3_vfs_unregister(&vfs_);
}

void paced_vfs::hand_over(int kind, int fd, sqlite3_int64 lo, sqlite3_int64 hi, std::size_t bytes) {
  using clock = writeback_budget::clock;
  writeback_budget& budget = budgets_[kind];
  atomic_counters& c = counters_[kind];
  if (unhurried_ != nullptr) {
    const auto began = clock::now();
    bool waited = false;
    // Re-checked at least every millisecond: a waiter that clears
    // `unhurried` (a flush, a writer short of room) ends the wait.
    while (unhurried_->load(std::memory_order_relaxed)) {
      const auto wait = budget.take(bytes, clock::now());
      if (wait.count() == 0) break;
      if (!waited) c.waits.fetch_add(1, std::memory_order_relaxed);
      waited = true;
      std::this_thread::sleep_for(std::min<std::chrono::nanoseconds>(wait, wait_slice));
    }
    if (waited) {
      c.wait_us.fetch_add(
          static_cast<std::uint64_t>(
              std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - began).count()),
          std::memory_order_relaxed);
    }
  }
  // Errors (EIO) are not lost: the sync SQLite asks for reports them.
  (void)::sync_file_range(fd, lo, hi - lo, SYNC_FILE_RANGE_WRITE);
  c.bytes_handed.fetch_add(bytes, std::memory_order_relaxed);
  c.chunks.fetch_add(1, std::memory_order_relaxed);
}

void paced_vfs::hand_over_pending() {
  for (void* f : open_)
    shim::hand_over_pending(*static_cast<shim::file*>(f));
}

paced_vfs::counters paced_vfs::stats_of(int kind) const {
  const atomic_counters& c = counters_[kind];
  return {c.bytes_handed.load(std::memory_order_relaxed), c.chunks.load(std::memory_order_relaxed),
          c.runs.load(std::memory_order_relaxed), c.waits.load(std::memory_order_relaxed),
          c.wait_us.load(std::memory_order_relaxed)};
}

}  // namespace creditd::store::sqlite
