// Security: limits hold under concurrency, the server runs as an unprivileged
// user, and no secret reaches its logs.
#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <thread>

#include "http_fixture.hpp"

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
// but its store's directory.
TEST(http_security, runs_as_an_unprivileged_user) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to switch to nobody";
  temp_dir dir;
  const std::string store = dir.file("store");
  ASSERT_EQ(::mkdir(store.c_str(), 0700), 0);
  ASSERT_EQ(::chown(store.c_str(), 65534, 65534), 0);
  // The temp dir itself must be traversable by nobody.
  ASSERT_EQ(::chmod(std::filesystem::path(store).parent_path().c_str(), 0711), 0);
  const std::string db = store + "/creditd.db";
  int out[2];
  ASSERT_EQ(::pipe(out), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::dup2(out[1], 1);
    ::close(out[0]);
    ::close(out[1]);
    ::setenv("CREDITD_ADMIN_KEY", admin_key.c_str(), 1);
    if (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0)
      std::_Exit(126);
    if (::setuid(0) == 0) std::_Exit(125);  // the drop must be irreversible
    const std::string store_arg = "sqlite:" + db;
    const char* argv[] = {CREDITD_BINARY, "serve",       "--store", store_arg.c_str(),
                          "--listen",     "127.0.0.1:0", nullptr};
    ::execv(argv[0], const_cast<char* const*>(argv));
    std::_Exit(127);
  }
  ::close(out[1]);
  FILE* f = ::fdopen(out[0], "r");
  char line[256] = {0};
  ASSERT_NE(std::fgets(line, sizeof line, f), nullptr) << "creditd did not start as nobody";
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
  ::kill(pid, SIGTERM);
  int status = 0;
  ::waitpid(pid, &status, 0);
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
  // A key in the query string and in a body field is not logged either.
  EXPECT_EQ(admin.get("/v1/accounts/s/balance?key=" + bootstrap).status, 200u);
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
