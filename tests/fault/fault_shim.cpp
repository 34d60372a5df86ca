// An LD_PRELOAD shim that makes writes and syncs of files under one directory
// fail or stall on command, like a full or failing disk.
//
//   CREDITD_FAULT_DIR      only files whose path starts with this are touched
//   CREDITD_FAULT_CONTROL  a file the test rewrites; each line is one rule:
//                            write ENOSPC | write EIO    (write, pwrite, writev...)
//                            fsync EIO                   (fsync, fdatasync)
//                            fsync_delay_us 200000       (sleep before each sync)
//                          an empty or missing file means no fault.
//
// The control file is read on every intercepted call that touches a file
// under the directory: slow, and only for tests.
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace {

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

bool under_fault_dir(int fd) {
  const char* dir = std::getenv("CREDITD_FAULT_DIR");
  if (dir == nullptr || *dir == '\0') return false;
  char link[64];
  char path[4096];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  const ssize_t n = ::readlink(link, path, sizeof path - 1);
  if (n <= 0) return false;
  path[n] = '\0';
  return std::strncmp(path, dir, std::strlen(dir)) == 0;
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

template <typename F>
F real(const char* name) {
  return reinterpret_cast<F>(::dlsym(RTLD_NEXT, name));
}

// Returns -1 with errno set when the write must fail, else 0.
int write_fault(int fd) {
  if (!under_fault_dir(fd)) return 0;
  const rules r = read_rules();
  if (r.write_errno == 0) return 0;
  errno = r.write_errno;
  return -1;
}

int sync_fault(int fd) {
  if (!under_fault_dir(fd)) return 0;
  const rules r = read_rules();
  if (r.fsync_delay_us > 0) {
    timespec ts{r.fsync_delay_us / 1000000, (r.fsync_delay_us % 1000000) * 1000};
    ::nanosleep(&ts, nullptr);
  }
  if (r.fsync_errno == 0) return 0;
  errno = r.fsync_errno;
  return -1;
}

}  // namespace

extern "C" {

ssize_t write(int fd, const void* buf, size_t n) {
  static auto next = real<ssize_t (*)(int, const void*, size_t)>("write");
  if (write_fault(fd) < 0) return -1;
  return next(fd, buf, n);
}

ssize_t pwrite(int fd, const void* buf, size_t n, off_t off) {
  static auto next = real<ssize_t (*)(int, const void*, size_t, off_t)>("pwrite");
  if (write_fault(fd) < 0) return -1;
  return next(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void* buf, size_t n, off64_t off) {
  static auto next = real<ssize_t (*)(int, const void*, size_t, off64_t)>("pwrite64");
  if (write_fault(fd) < 0) return -1;
  return next(fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec* iov, int count) {
  static auto next = real<ssize_t (*)(int, const struct iovec*, int)>("writev");
  if (write_fault(fd) < 0) return -1;
  return next(fd, iov, count);
}

ssize_t pwritev(int fd, const struct iovec* iov, int count, off_t off) {
  static auto next = real<ssize_t (*)(int, const struct iovec*, int, off_t)>("pwritev");
  if (write_fault(fd) < 0) return -1;
  return next(fd, iov, count, off);
}

int fsync(int fd) {
  static auto next = real<int (*)(int)>("fsync");
  if (sync_fault(fd) < 0) return -1;
  return next(fd);
}

int fdatasync(int fd) {
  static auto next = real<int (*)(int)>("fdatasync");
  if (sync_fault(fd) < 0) return -1;
  return next(fd);
}

}  // extern "C"
