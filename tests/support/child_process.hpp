// Test support: the creditd binary run with any arguments, environment and
// open-file limit, its stdout's first line read through a pipe and its
// stderr written to a file the test reads; plus a blocking one-shot HTTP
// exchange with any address. Not thread-safe: one test thread per object.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace creditd::testing {

#ifndef CREDITD_BINARY
#error "CREDITD_BINARY must name the creditd binary"
#endif

struct child_options {
  std::vector<std::string> args;                         // after the binary's name
  std::vector<std::pair<std::string, std::string>> env;  // set in the child
  std::vector<std::string> unset;                        // removed in the child
  std::optional<rlim_t> nofile;                          // RLIMIT_NOFILE, soft and hard
  std::string stderr_path;                               // required
};

inline std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A running creditd: its stdout is a pipe, its stderr a file.
class child_process {
 public:
  explicit child_process(child_options o) : stderr_path_(o.stderr_path) {
    if (o.stderr_path.empty()) throw std::runtime_error("child_options.stderr_path is required");
    int out[2];
    if (::pipe(out) != 0) throw std::runtime_error("pipe");
    std::vector<std::string> args = {CREDITD_BINARY};
    args.insert(args.end(), o.args.begin(), o.args.end());
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork");
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      ::close(out[0]);
      ::close(out[1]);
      const int err = ::open(o.stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (err < 0) std::_Exit(126);
      ::dup2(err, 2);
      ::close(err);
      for (const auto& name : o.unset)
        ::unsetenv(name.c_str());
      for (const auto& [name, value] : o.env)
        ::setenv(name.c_str(), value.c_str(), 1);
      if (o.nofile) {
        rlimit r{*o.nofile, *o.nofile};
        if (::setrlimit(RLIMIT_NOFILE, &r) != 0) std::_Exit(125);
      }
      std::vector<char*> argv;
      for (auto& a : args)
        argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      std::_Exit(127);
    }
    ::close(out[1]);
    out_ = ::fdopen(out[0], "r");
  }
  ~child_process() {
    if (pid_ > 0) stop(SIGKILL);
    if (out_) std::fclose(out_);
  }
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  // The next line of stdout without its newline; "" at the end.
  std::string line() {
    char buf[512];
    if (std::fgets(buf, sizeof buf, out_) == nullptr) return "";
    std::string s = buf;
    if (!s.empty() && s.back() == '\n') s.pop_back();
    return s;
  }
  std::string stderr_text() const { return read_text_file(stderr_path_); }
  pid_t pid() const { return pid_; }
  // Waits for the exit; returns the exit status (or -signal).
  int wait() { return stop(0); }
  // SIGTERM and wait.
  int terminate() { return stop(SIGTERM); }

 private:
  int stop(int sig) {
    if (pid_ <= 0) return 0;
    if (sig != 0) ::kill(pid_, sig);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  }
  std::string stderr_path_;
  pid_t pid_ = -1;
  FILE* out_ = nullptr;
};

// "creditd listening on http://HOST:PORT" -> {HOST without brackets, PORT};
// port 0 when the line is not one.
struct listen_line {
  std::string host;
  unsigned short port = 0;
};
inline listen_line parse_listen_line(const std::string& line) {
  const std::string prefix = "creditd listening on http://";
  if (line.rfind(prefix, 0) != 0) return {};
  const std::string rest = line.substr(prefix.size());
  const std::size_t colon = rest.rfind(':');
  if (colon == std::string::npos) return {};
  listen_line out;
  out.host = rest.substr(0, colon);
  if (out.host.size() >= 2 && out.host.front() == '[')
    out.host = out.host.substr(1, out.host.size() - 2);
  out.port = static_cast<unsigned short>(std::stoi(rest.substr(colon + 1)));
  return out;
}

struct exchange_reply {
  unsigned status = 0;
  std::string body;
  std::string header(const std::string& name) const {
    for (const auto& [k, v] : headers) {
      if (boost::beast::iequals(k, name)) return v;
    }
    return "";
  }
  bool has_header(const std::string& name) const {
    for (const auto& [k, v] : headers) {
      if (boost::beast::iequals(k, name)) return true;
    }
    return false;
  }
  std::vector<std::pair<std::string, std::string>> headers;
};

// One request on a new connection to `host` (an address); throws when the
// connection fails or closes without a response.
inline exchange_reply exchange(const std::string& host, unsigned short port,
                               boost::beast::http::verb method, const std::string& target,
                               const std::string& key = "") {
  namespace http = boost::beast::http;
  boost::asio::io_context io;
  boost::beast::tcp_stream s(io);
  s.connect({boost::asio::ip::make_address(host), port});
  http::request<http::empty_body> req(method, target, 11);
  req.set(http::field::host, host);
  if (!key.empty()) req.set(http::field::authorization, "Bearer " + key);
  http::write(s, req);
  boost::beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 << 20);
  if (method == http::verb::head) parser.skip(true);
  http::read(s, buffer, parser);
  exchange_reply out;
  out.status = parser.get().result_int();
  out.body = parser.get().body();
  for (const auto& f : parser.get())
    out.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
  return out;
}

}  // namespace creditd::testing
