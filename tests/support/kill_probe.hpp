// Test support for kill tests: where a SIGKILL lands.
//
// - probe_file: a `commit_probe` (support/commit_probe.hpp) in a small file
//   that the killer maps MAP_SHARED; a creditd started with probe_env() has
//   the fault shim (tests/fault) count its store's commits there, so the
//   killer can wait until a commit is in flight and, after the kill, tell
//   whether one was.
// - is_connection_loss: whether an exception from a test client is the
//   server going away (refused, reset, closed), the only failure a killed
//   server may cause.
//
// Not thread-safe except the probe's counters, which are atomics.
#pragma once

#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include <boost/asio/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/system/system_error.hpp>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <new>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "support/commit_probe.hpp"

namespace creditd::testing {

class probe_file {
 public:
  // Creates (or truncates) `path` at commit_probe_bytes, zeroed, and maps it.
  // Throws std::runtime_error when it cannot.
  explicit probe_file(std::string path) : path_(std::move(path)) {
    const int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) throw std::runtime_error("cannot create the commit probe " + path_);
    if (::ftruncate(fd, static_cast<off_t>(test::commit_probe_bytes)) != 0) {
      ::close(fd);
      throw std::runtime_error("cannot size the commit probe " + path_);
    }
    void* p = ::mmap(nullptr, test::commit_probe_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ::close(fd);
    if (p == MAP_FAILED) throw std::runtime_error("cannot map the commit probe " + path_);
    map_ = p;
    probe_ = new (map_) test::commit_probe{};
  }
  ~probe_file() {
    if (map_ != nullptr) ::munmap(map_, test::commit_probe_bytes);
  }
  probe_file(const probe_file&) = delete;
  probe_file& operator=(const probe_file&) = delete;

  const std::string& path() const { return path_; }
  test::commit_probe& probe() { return *probe_; }
  const test::commit_probe& probe() const { return *probe_; }
  // Zeroes the counters. Only while no process writes them (before a start).
  void reset() {
    probe_->begun.store(0);
    probe_->synced.store(0);
    probe_->writes.store(0);
  }

 private:
  std::string path_;
  void* map_ = nullptr;
  test::commit_probe* probe_ = nullptr;
};

#ifdef CREDITD_FAULT_SHIM
// The environment of a creditd whose store lives in `store_dir` (resolved
// here: the shim compares resolved paths) and whose commits the shim counts
// in `probe`. No CREDITD_FAULT_CONTROL: no fault is ever injected.
inline std::vector<std::pair<std::string, std::string>> probe_env(const probe_file& probe,
                                                                  const std::string& store_dir) {
  // The shim is not instrumented; under ASan it comes first (the options
  // the test runs with are kept).
  std::string asan = "verify_asan_link_order=0";
  if (const char* given = std::getenv("ASAN_OPTIONS"); given != nullptr && *given != '\0')
    asan = std::string(given) + ":" + asan;
  return {{"LD_PRELOAD", CREDITD_FAULT_SHIM},
          {"CREDITD_FAULT_DIR", std::filesystem::canonical(store_dir).string()},
          {"CREDITD_COMMIT_PROBE", probe.path()},
          {"ASAN_OPTIONS", asan}};
}
#endif

// Spins (yielding) until a commit is in flight or `deadline`; true if one is.
inline bool wait_in_flight(const test::commit_probe& p,
                           std::chrono::steady_clock::time_point deadline) {
  while (!p.in_flight()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    ::sched_yield();
  }
  return true;
}

// True when `e` says the connection was refused, reset or closed (by a
// server that went away); false for anything else (a malformed body, a
// parse error, a logic error of the test).
inline bool is_connection_loss(const std::exception& e) {
  const auto* se = dynamic_cast<const boost::system::system_error*>(&e);
  if (se == nullptr) return false;
  const boost::system::error_code ec = se->code();
  namespace ae = boost::asio::error;
  namespace he = boost::beast::http;
  return ec == ae::connection_refused || ec == ae::connection_reset || ec == ae::eof ||
         ec == ae::broken_pipe || ec == ae::connection_aborted || ec == ae::not_connected ||
         ec == he::error::end_of_stream || ec == he::error::partial_message;
}

// What an exception says, for a failure message.
inline std::string describe_exception(const std::exception& e) {
  if (const auto* se = dynamic_cast<const boost::system::system_error*>(&e))
    return std::string(se->what()) + " [" + se->code().category().name() + ":" +
           std::to_string(se->code().value()) + "]";
  return e.what();
}

}  // namespace creditd::testing
