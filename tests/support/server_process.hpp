// Test support: the real creditd binary, started on port 0 with a temporary
// store, stopped with SIGTERM (or killed) by the test. It may serve HTTP or
// (with --tls-cert and --tls-key among the extra arguments) HTTPS.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace creditd::testing {

#ifndef CREDITD_BINARY
#error "CREDITD_BINARY must name the creditd binary"
#endif

class server_process {
 public:
  // Starts `creditd serve --store sqlite:DB --listen 127.0.0.1:0 [extra...]`
  // with CREDITD_ADMIN_KEY=admin_key (and `env`, NAME=VALUE pairs) and waits
  // for its listening line. Its stderr (the log) goes to `stderr_path` when
  // one is given, else to the test's.
  server_process(const std::string& db, const std::string& admin_key,
                 std::vector<std::string> extra = {},
                 std::vector<std::pair<std::string, std::string>> env = {},
                 const std::string& stderr_path = "") {
    int out[2];
    if (::pipe(out) != 0) throw std::runtime_error("pipe");
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork");
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      ::close(out[0]);
      ::close(out[1]);
      if (!stderr_path.empty()) {
        const int err = ::open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (err < 0 || ::dup2(err, 2) < 0) std::_Exit(126);
      }
      ::setenv("CREDITD_ADMIN_KEY", admin_key.c_str(), 1);
      for (const auto& [name, value] : env)
        ::setenv(name.c_str(), value.c_str(), 1);
      std::vector<std::string> args = {CREDITD_BINARY, "serve",    "--store",
                                       "sqlite:" + db, "--listen", "127.0.0.1:0"};
      args.insert(args.end(), extra.begin(), extra.end());
      std::vector<char*> argv;
      for (auto& a : args)
        argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      std::_Exit(127);
    }
    ::close(out[1]);
    out_ = ::fdopen(out[0], "r");
    char line[256];
    if (std::fgets(line, sizeof line, out_) == nullptr)
      throw std::runtime_error("creditd did not start");
    const std::string text = line;
    std::string prefix = "creditd listening on http://127.0.0.1:";
    if (text.rfind(prefix, 0) != 0) {
      prefix = "creditd listening on https://127.0.0.1:";
      if (text.rfind(prefix, 0) != 0) throw std::runtime_error("unexpected first line: " + text);
      https_ = true;
    }
    port_ = static_cast<unsigned short>(std::stoi(text.substr(prefix.size())));
  }
  ~server_process() {
    if (pid_ > 0) kill_now();
    if (out_) std::fclose(out_);
  }
  server_process(const server_process&) = delete;
  server_process& operator=(const server_process&) = delete;

  unsigned short port() const { return port_; }
  pid_t pid() const { return pid_; }
  bool https() const { return https_; }
  // SIGTERM and wait; returns the exit status (or -signal).
  int terminate() { return stop(SIGTERM); }
  // Sends `sig` (SIGINT, SIGTERM...) and waits; returns the exit status (or -signal).
  int signal_and_wait(int sig) { return stop(sig); }
  int kill_now() { return stop(SIGKILL); }

 private:
  int stop(int sig) {
    if (pid_ <= 0) return 0;
    ::kill(pid_, sig);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  }
  pid_t pid_ = -1;
  FILE* out_ = nullptr;
  unsigned short port_ = 0;
  bool https_ = false;
};

}  // namespace creditd::testing
