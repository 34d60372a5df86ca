// Test support for creditctl: the real binary run with an argument vector and
// a clean environment (stdout and stderr captured apart), a fake HTTP server
// that records what it receives and answers a canned reply (or nothing), and
// a one-shot GET over a plain socket. Not thread-safe except fake_server's
// recording, which its own thread writes under a mutex.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

extern char** environ;

namespace creditd::testing {

#ifndef CREDITCTL_BINARY
#error "CREDITCTL_BINARY must name the creditctl binary"
#endif

struct ctl_result {
  int exit_code = -1;  // -1: killed (it ran longer than the test allows)
  std::string out;
  std::string err;
  double seconds = 0;
};

// Runs creditctl with `args` in an environment without any CREDITD_ variable,
// plus `env` (NAME=VALUE pairs). Killed after `limit_seconds`.
inline ctl_result run_ctl(const std::vector<std::string>& args,
                          const std::vector<std::pair<std::string, std::string>>& env = {},
                          int limit_seconds = 60) {
  std::vector<std::string> envs;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "CREDITD_", 8) != 0) envs.emplace_back(*e);
  }
  for (const auto& [name, value] : env)
    envs.push_back(name + "=" + value);
  std::vector<std::string> argv_s = {CREDITCTL_BINARY};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv, envp;
  for (auto& a : argv_s)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : envs)
    envp.push_back(e.data());
  envp.push_back(nullptr);

  int out[2], err[2];
  if (::pipe(out) != 0 || ::pipe(err) != 0) throw std::runtime_error("pipe");
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork");
  if (pid == 0) {
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    ::close(out[0]);
    ::close(out[1]);
    ::close(err[0]);
    ::close(err[1]);
    ::execve(argv[0], argv.data(), envp.data());
    std::_Exit(127);
  }
  ::close(out[1]);
  ::close(err[1]);
  ctl_result r;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  std::string* sinks[2] = {&r.out, &r.err};
  int open = 2;
  bool killed = false;
  while (open > 0) {
    const auto elapsed = std::chrono::steady_clock::now() - start;
    if (!killed && elapsed > std::chrono::seconds(limit_seconds)) {
      ::kill(pid, SIGKILL);
      killed = true;
    }
    if (::poll(fds, 2, 200) < 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      char buf[8192];
      const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        sinks[i]->append(buf, static_cast<std::size_t>(n));
      } else {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open;
      }
    }
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

inline int listen_local(unsigned short& port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(fd, 16) != 0 || ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    throw std::runtime_error("listen");
  port = ntohs(addr.sin_port);
  return fd;
}

// A port nothing listens on: a socket bound to it and never listening, kept
// open until the test process ends, so a connection is refused and no other
// process (a parallel test) can take the port meanwhile.
inline unsigned short closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    throw std::runtime_error("bind");
  return ntohs(addr.sin_port);  // fd stays open on purpose
}

// One request as the fake server received it.
struct recorded_request {
  std::string head;  // request line and headers
  std::string body;
  std::string request_line() const { return head.substr(0, head.find("\r\n")); }
  // A header's value (name matched without case), "" when absent.
  std::string header(const std::string& name) const {
    std::size_t pos = head.find("\r\n");
    while (pos != std::string::npos && pos + 2 < head.size()) {
      const std::size_t end = head.find("\r\n", pos + 2);
      const std::string line = head.substr(pos + 2, end - pos - 2);
      const std::size_t colon = line.find(':');
      if (colon != std::string::npos &&
          ::strncasecmp(line.c_str(), name.c_str(), name.size()) == 0 && colon == name.size()) {
        std::string v = line.substr(colon + 1);
        while (!v.empty() && v.front() == ' ')
          v.erase(0, 1);
        return v;
      }
      pos = end;
    }
    return "";
  }
};

// An HTTP server on 127.0.0.1 that records each request and answers `reply`
// (a whole HTTP response) and closes, or with `silent` answers nothing and
// holds the connection until it is destroyed.
class fake_server {
 public:
  explicit fake_server(std::string reply, bool silent = false)
      : reply_(std::move(reply)), silent_(silent) {
    fd_ = listen_local(port_);
    thread_ = std::thread([this] { serve(); });
  }
  ~fake_server() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
    for (int c : held_)
      ::close(c);
  }
  fake_server(const fake_server&) = delete;
  fake_server& operator=(const fake_server&) = delete;

  unsigned short port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<recorded_request> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }
  int connections() const { return connections_; }

  // A whole response with a status line, a content type and a body.
  static std::string response(const std::string& status, const std::string& content_type,
                              const std::string& body) {
    return "HTTP/1.1 " + status + "\r\nContent-Type: " + content_type +
           "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" +
           body;
  }

 private:
  void serve() {
    while (!stop_) {
      const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) {
        if (stop_ || errno != EINTR) return;
        continue;
      }
      ++connections_;
      if (silent_) {
        held_.push_back(c);
        continue;
      }
      recorded_request r;
      std::string data;
      char buf[4096];
      std::size_t need = std::string::npos;
      while (true) {
        if (need == std::string::npos) {
          const std::size_t end = data.find("\r\n\r\n");
          if (end != std::string::npos) {
            r.head = data.substr(0, end + 2);
            data.erase(0, end + 4);
            const std::string length = r.header("Content-Length");
            need = length.empty() ? 0 : std::stoul(length);
          }
        }
        if (need != std::string::npos && data.size() >= need) break;
        const ssize_t n = ::read(c, buf, sizeof buf);
        if (n <= 0) break;
        data.append(buf, static_cast<std::size_t>(n));
      }
      r.body = data;
      {
        std::lock_guard lock(mu_);
        requests_.push_back(std::move(r));
      }
      std::size_t sent = 0;
      while (sent < reply_.size()) {
        const ssize_t n = ::write(c, reply_.data() + sent, reply_.size() - sent);
        if (n <= 0) break;
        sent += static_cast<std::size_t>(n);
      }
      ::close(c);
    }
  }

  std::string reply_;
  bool silent_;
  int fd_ = -1;
  unsigned short port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::vector<int> held_;
  mutable std::mutex mu_;
  std::vector<recorded_request> requests_;
  std::thread thread_;
};

// GET `target` from 127.0.0.1:`port` with Connection: close; returns the
// status and the body (the response must carry Content-Length or end at
// close).
inline std::pair<unsigned, std::string> raw_get(unsigned short port, const std::string& target) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    throw std::runtime_error("connect");
  const std::string req =
      "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  if (::write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size()))
    throw std::runtime_error("write");
  std::string data;
  char buf[65536];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    data.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  const std::size_t end = data.find("\r\n\r\n");
  if (data.size() < 12 || end == std::string::npos) throw std::runtime_error("no HTTP reply");
  return {static_cast<unsigned>(std::stoul(data.substr(9, 3))), data.substr(end + 4)};
}

}  // namespace creditd::testing
