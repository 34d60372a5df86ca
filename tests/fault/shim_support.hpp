// Support for the fault shim's own tests (commit probe, symbolic links, power
// loss): creditd under the shim with any environment, a reader of the commit
// probe's shared counters, and the store's files listed and copied.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "http/http_fixture.hpp"
#include "support/commit_probe.hpp"
#include "support/shell_quote.hpp"

#ifndef CREDITD_FAULT_SHIM
#error "CREDITD_FAULT_SHIM must name the shim library"
#endif

namespace creditd::testing {

using env_list = std::vector<std::pair<std::string, std::string>>;

// The environment that loads the shim, plus `more`.
inline env_list shim_env(env_list more = {}) {
  env_list env = {{"LD_PRELOAD", CREDITD_FAULT_SHIM},
                  // The shim is not instrumented; under ASan it comes first.
                  {"ASAN_OPTIONS", "verify_asan_link_order=0"}};
  env.insert(env.end(), more.begin(), more.end());
  return env;
}

// The probe file, mapped read-only by the test (the shim in creditd writes it).
class probe_view {
 public:
  explicit probe_view(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) throw std::runtime_error("cannot open the probe file " + path);
    if (::ftruncate(fd, creditd::test::commit_probe_bytes) != 0) {
      ::close(fd);
      throw std::runtime_error("cannot size the probe file " + path);
    }
    mem_ = ::mmap(nullptr, creditd::test::commit_probe_bytes, PROT_READ | PROT_WRITE, MAP_SHARED,
                  fd, 0);
    ::close(fd);
    if (mem_ == MAP_FAILED) throw std::runtime_error("cannot map the probe file " + path);
  }
  ~probe_view() { ::munmap(mem_, creditd::test::commit_probe_bytes); }
  probe_view(const probe_view&) = delete;
  probe_view& operator=(const probe_view&) = delete;
  const creditd::test::commit_probe& operator*() const {
    return *static_cast<const creditd::test::commit_probe*>(mem_);
  }
  const creditd::test::commit_probe* operator->() const { return &**this; }

 private:
  void* mem_ = nullptr;
};

// `creditd check` on the file (and its log, PATH-log by default), with
// `flags` (e.g. --no-log): its exit status.
inline int run_check(const std::string& db, const std::vector<std::string>& flags = {}) {
  std::string cmd = shell_quote(CREDITD_BINARY) + " check --store " + shell_quote("sqlite:" + db);
  for (const std::string& f : flags)
    cmd += " " + shell_quote(f);
  cmd += " >/dev/null 2>&1";
  const int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

inline http_reply charge_keyed(http_client& c, const std::string& account, const std::string& key,
                               const std::string& amount) {
  return c.post("/v1/accounts/" + account + "/charges",
                R"({"operation":"image.generate","amount":")" + amount + "\"}",
                {{"Idempotency-Key", key}});
}

}  // namespace creditd::testing
