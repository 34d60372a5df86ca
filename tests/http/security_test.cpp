// Security: limits hold under concurrency, the server runs as an unprivileged
// user, and no secret reaches its logs.
#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "http_fixture.hpp"

namespace security_test_cpp {  // unity builds: tests/CMakeLists.txt

using namespace creditd::testing;

namespace {

// Runs `threads` × `each` POSTs of `body` to `target` at once; counts statuses.
std::map<unsigned, int> race(unsigned short port, const std::string& target,
                             const std::string& body, int threads, int each) {
  std::mutex mu;
  std::map<unsigned, int> statuses;
  std::atomic<int> missing_retry_after{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      http_client c(port, admin_key);
      for (int i = 0; i < each; ++i) {
        auto r = c.post(target, body);
        if (r.status == 429 && r.headers["retry-after"].empty()) ++missing_retry_after;
        std::lock_guard lock(mu);
        ++statuses[r.status];
      }
    });
  }
  for (auto& th : pool)
    th.join();
  EXPECT_EQ(missing_retry_after.load(), 0);
  return statuses;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

namespace fs = std::filesystem;

constexpr uid_t nobody = 65534;

// Drops every privilege for good: no groups, then gid and uid `nobody`.
bool become_nobody() {
  return ::setgroups(0, nullptr) == 0 && ::setgid(nobody) == 0 && ::setuid(nobody) == 0;
}

// Why `nobody` cannot use `path` with access(2) `mode`, naming the first
// directory on the way that it cannot traverse; "" if it can. Asked by a
// child that became nobody, so the kernel decides (modes, ACLs, noexec mounts).
std::string unreachable_for_nobody(const fs::path& path, int mode) {
  int out[2];
  if (::pipe(out) != 0) return "pipe: " + std::string(std::strerror(errno));
  const pid_t pid = ::fork();
  if (pid < 0) return "fork: " + std::string(std::strerror(errno));
  if (pid == 0) {
    ::close(out[0]);
    std::string why;
    if (!become_nobody()) why = "cannot switch to nobody";
    fs::path prefix;
    for (const fs::path& part : path.parent_path()) {
      prefix /= part;
      if (why.empty() && ::access(prefix.c_str(), X_OK) != 0)
        why = prefix.string() + " cannot be traversed by nobody (" + std::strerror(errno) + ")";
    }
    if (why.empty() && ::access(path.c_str(), mode) != 0) {
      why = path.string() + " cannot be used by nobody (" + std::strerror(errno) + ")";
      struct statvfs mnt {};
      if (mode == X_OK && ::statvfs(path.c_str(), &mnt) == 0 && (mnt.f_flag & ST_NOEXEC) != 0)
        why += " on a noexec mount";
    }
    if (::write(out[1], why.data(), why.size()) != static_cast<ssize_t>(why.size())) std::_Exit(1);
    std::_Exit(0);
  }
  ::close(out[1]);
  std::string why;
  char buf[512];
  for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;)
    why.append(buf, static_cast<std::size_t>(n));
  ::close(out[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (why.empty() && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
    why = "the check as nobody failed: " + std::to_string(status);
  return why;
}

// A copy of creditd and an empty store directory that `nobody` can reach,
// removed with everything in it. The checkout, and $TMPDIR too, may sit
// under a directory only its owner can enter (a 0700 home, a `mktemp -d`):
// the sandbox is the first of $TMPDIR, /tmp, /var/tmp and /dev/shm where a
// fresh 0711 directory lets nobody run the binary and write the store.
class nobody_sandbox {
 public:
  nobody_sandbox() {
    std::vector<fs::path> bases;
    std::error_code ec;
    if (fs::path t = fs::temp_directory_path(ec); !ec) bases.push_back(t);
    for (const char* t : {"/tmp", "/var/tmp", "/dev/shm"})
      bases.emplace_back(t);
    std::vector<fs::path> tried;
    for (const fs::path& base : bases) {
      const fs::path real = fs::canonical(base, ec);
      if (ec || std::find(tried.begin(), tried.end(), real) != tried.end()) continue;
      tried.push_back(real);
      const std::string why = try_in(real);
      if (why.empty()) return;
      problems_ += "\n  " + real.string() + ": " + why;
      clear();
    }
    if (problems_.empty()) problems_ = "\n  no temporary directory exists";
  }
  ~nobody_sandbox() { clear(); }
  nobody_sandbox(const nobody_sandbox&) = delete;
  nobody_sandbox& operator=(const nobody_sandbox&) = delete;

  bool ok() const { return !dir_.empty(); }
  // Why no sandbox could be made: each directory tried and what stopped nobody.
  std::string problems() const { return "no directory that nobody can reach:" + problems_; }
  const std::string& binary() const { return binary_; }
  const std::string& store() const { return store_; }
  const std::string& dir() const { return dir_; }

 private:
  // Makes the sandbox under `base`; returns "" or what went wrong.
  std::string try_in(const fs::path& base) {
    std::string tmpl = (base / "creditd-nobody-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) return "mkdtemp: " + std::string(std::strerror(errno));
    dir_ = tmpl;
    std::error_code ec;
    fs::permissions(dir_, fs::perms(0711), ec);
    if (ec) return "chmod 0711: " + ec.message();
    binary_ = dir_ + "/creditd";
    fs::copy_file(CREDITD_BINARY, binary_, ec);
    if (ec) return "copy " + std::string(CREDITD_BINARY) + ": " + ec.message();
    fs::permissions(binary_, fs::perms(0755), ec);
    if (ec) return "chmod 0755: " + ec.message();
    store_ = dir_ + "/store";
    if (::mkdir(store_.c_str(), 0700) != 0 || ::chown(store_.c_str(), nobody, nobody) != 0)
      return "store " + store_ + ": " + std::strerror(errno);
    std::string why = unreachable_for_nobody(binary_, X_OK);
    if (why.empty()) why = unreachable_for_nobody(store_, R_OK | W_OK | X_OK);
    return why;
  }
  void clear() {
    if (dir_.empty()) return;
    std::error_code ec;
    fs::remove_all(dir_, ec);
    dir_.clear();
  }

  std::string dir_, binary_, store_, problems_;
};

// The Uid: or Gid: line of /proc/PID/status: real, effective, saved, filesystem.
std::string status_line(pid_t pid, const std::string& name) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(f, line);) {
    if (line.rfind(name + ":", 0) == 0) return line;
  }
  return "";
}

// Kills and reaps a child on every way out of a test.
struct child_guard {
  pid_t pid;
  ~child_guard() {
    if (pid <= 0) return;
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
};

}  // namespace

// The clock is frozen (--test-clock), so exactly the bucket's 40 tokens exist.
TEST(http_security, rate_limit_holds_under_concurrency) {
  live_server srv({"--test-clock"});
  http_client c(srv.port(), admin_key);
  put_account(c, "r", R"({"settings":{"rate_limit_per_minute":40}})");
  grant(c, "r", "1000");
  auto statuses = race(srv.port(), "/v1/accounts/r/charges",
                       R"({"operation":"image.generate","amount":1})", 16, 10);
  EXPECT_EQ(statuses[201], 40);
  EXPECT_EQ(statuses[429], 120);
  EXPECT_EQ(available(c, "r"), "960");
  EXPECT_EQ(entries_of_type(c, "r", "charge").size(), 40u);
}

TEST(http_security, max_open_holds_holds_under_concurrency) {
  live_server srv;
  http_client c(srv.port(), admin_key);
  put_account(c, "h", R"({"settings":{"max_open_holds":5}})");
  grant(c, "h", "1000");
  auto statuses =
      race(srv.port(), "/v1/accounts/h/holds", R"({"operation":"video","amount":2})", 16, 3);
  EXPECT_EQ(statuses[201], 5);
  EXPECT_EQ(statuses[429], 43);
  EXPECT_EQ(str(balance(c, "h"), "held"), "10");
}

// As root, the test drops to `nobody` before exec; the server needs nothing
// but its store's directory. It runs a copy of the binary from a directory
// nobody can reach, wherever the checkout lives.
TEST(http_security, runs_as_an_unprivileged_user) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to switch to nobody";
  nobody_sandbox box;
  ASSERT_TRUE(box.ok()) << box.problems();
  const std::string db = box.store() + "/creditd.db";
  int out[2];
  ASSERT_EQ(::pipe(out), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::dup2(out[1], 1);
    ::close(out[0]);
    ::close(out[1]);
    ::setenv("CREDITD_ADMIN_KEY", admin_key.c_str(), 1);
    // Not the test's working directory, which nobody may not reach.
    if (::chdir(box.dir().c_str()) != 0) std::_Exit(124);
    if (!become_nobody()) std::_Exit(126);
    if (::setuid(0) == 0) std::_Exit(125);  // the drop must be irreversible
    const std::string store_arg = "sqlite:" + db;
    const char* argv[] = {box.binary().c_str(), "serve",       "--store", store_arg.c_str(),
                          "--listen",           "127.0.0.1:0", nullptr};
    ::execv(argv[0], const_cast<char* const*>(argv));
    std::_Exit(127);
  }
  child_guard guard{pid};
  ::close(out[1]);
  FILE* f = ::fdopen(out[0], "r");
  char line[256] = {0};
  if (std::fgets(line, sizeof line, f) == nullptr) {
    int status = 0;
    ::kill(pid, SIGKILL);  // if it is still there, it will not say more
    ::waitpid(pid, &status, 0);
    guard.pid = -1;
    std::fclose(f);
    FAIL() << "creditd did not start as nobody (wait status " << status
           << "; exit 124: chdir, 125: setuid(0) worked, 126: the drop failed, 127: exec)";
  }
  const std::string text = line;
  const std::string prefix = "creditd listening on http://127.0.0.1:";
  ASSERT_EQ(text.rfind(prefix, 0), 0u) << text;
  const auto port = static_cast<unsigned short>(std::stoi(text.substr(prefix.size())));
  {
    http_client c(port, admin_key);
    put_account(c, "u");
    grant(c, "u", "5");
    charge(c, "u", "2");
    EXPECT_EQ(available(c, "u"), "3");
  }
  // The serving process itself: real, effective, saved and filesystem ids.
  EXPECT_EQ(status_line(pid, "Uid"), "Uid:\t65534\t65534\t65534\t65534");
  EXPECT_EQ(status_line(pid, "Gid"), "Gid:\t65534\t65534\t65534\t65534");
  ::kill(pid, SIGTERM);
  int status = 0;
  ::waitpid(pid, &status, 0);
  guard.pid = -1;
  std::fclose(f);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  struct stat st {};
  ASSERT_EQ(::stat(db.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 65534u);
}

// Keys in every place a request can carry them, at debug level: none of them
// appears in the server's log.
TEST(http_security, no_secret_appears_in_the_logs) {
  temp_dir dir;
  const std::string log_path = dir.file("creditd.log");
  const std::string bootstrap = "bootstrap-secret-4f7a9c1e";
  std::optional<server_process> srv;
  {
    // The child inherits the test's stderr: point it at the log file meanwhile.
    const int saved = ::dup(2);
    const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT_GE(log_fd, 0);
    ::dup2(log_fd, 2);
    srv.emplace(dir.file("creditd.db"), bootstrap,
                std::vector<std::string>{"--log-level", "debug"});
    ::dup2(saved, 2);
    ::close(saved);
    ::close(log_fd);
  }
  http_client admin(srv->port(), bootstrap);
  put_account(admin, "s");
  grant(admin, "s", "10");
  auto created = expect(
      admin.post("/v1/api-keys", R"({"role":"service"})", {{"Idempotency-Key", "key-create-1"}}),
      201, "create key");
  const std::string secret = field(created, "key");
  ASSERT_FALSE(secret.empty());
  http_client service(srv->port(), secret);
  charge(service, "s", "1");
  const std::string wrong = "wrong-secret-8b3d2e6f";
  http_client intruder(srv->port(), wrong);
  EXPECT_EQ(intruder.get("/v1/accounts/s/balance").status, 401u);
  // A key in the query string and in a body field is not logged either (an
  // unknown query parameter is refused, and still not logged).
  EXPECT_EQ(admin.get("/v1/accounts/s/balance?key=" + bootstrap).status, 400u);
  EXPECT_EQ(admin
                .post("/v1/accounts/s/charges",
                      R"({"operation":"x","amount":1,"reference":")" + secret + "\"}")
                .status,
            201u);
  EXPECT_EQ(admin.request(verb::delete_, "/v1/api-keys/" + field(created, "id")).status, 200u);
  EXPECT_EQ(srv->terminate(), 0);
  const std::string log = read_file(log_path);
  ASSERT_NE(log.find("listening"), std::string::npos) << "the log was not captured";
  ASSERT_NE(log.find("\"request\""), std::string::npos) << "requests were not logged";
  EXPECT_EQ(log.find(bootstrap), std::string::npos) << log;
  EXPECT_EQ(log.find(secret), std::string::npos) << log;
  EXPECT_EQ(log.find(wrong), std::string::npos) << log;
}
}  // namespace security_test_cpp
