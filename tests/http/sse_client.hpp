// Test support: a client of GET /v1/events/stream over a plain socket. It
// sends the request, reads the response head, then decodes the chunked body
// into server-sent-event messages as they arrive. Every wait is bounded (a
// guard against a hang, never a timing assertion).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>

namespace creditd::testing {

// One message: an event (id and data) or a comment line.
struct sse_message {
  std::string id;
  std::string data;
  std::string comment;
  bool is_comment() const { return !comment.empty() && id.empty() && data.empty(); }
};

class sse_client {
 public:
  // GET `target` with the key (and Last-Event-ID when given); reads the head.
  sse_client(unsigned short port, const std::string& key, const std::string& target,
             const std::string& last_event_id = "") {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
      throw std::runtime_error("sse_client: cannot connect");
    std::string req =
        "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n";
    if (!key.empty()) req += "Authorization: Bearer " + key + "\r\n";
    if (!last_event_id.empty()) req += "Last-Event-ID: " + last_event_id + "\r\n";
    req += "\r\n";
    if (::send(fd_, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size()))
      throw std::runtime_error("sse_client: cannot send");
    read_head();
  }
  ~sse_client() { close(); }
  sse_client(const sse_client&) = delete;
  sse_client& operator=(const sse_client&) = delete;

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  unsigned status() const { return status_; }
  // Lower-case names.
  const std::map<std::string, std::string>& headers() const { return headers_; }
  // The body of a response that is not a stream (an error), whole.
  const std::string& body() const { return body_; }

  // The next message, or nullopt once the stream has ended (the last chunk,
  // or the connection closed). Throws when nothing comes within `wait`.
  std::optional<sse_message> next(std::chrono::seconds wait = std::chrono::seconds(60)) {
    const auto deadline = std::chrono::steady_clock::now() + wait;
    while (true) {
      const auto end = events_.find("\n\n");
      if (end != std::string::npos) {
        const std::string block = events_.substr(0, end);
        events_.erase(0, end + 2);
        return parse(block);
      }
      if (ended_) return std::nullopt;
      if (!fill_body(deadline)) throw std::runtime_error("sse_client: nothing came in time");
    }
  }

  // The next event, skipping comments; nullopt at the end of the stream.
  std::optional<sse_message> next_event(std::chrono::seconds wait = std::chrono::seconds(60)) {
    while (true) {
      auto m = next(wait);
      if (!m || !m->is_comment()) return m;
    }
  }

  bool ended() const { return ended_; }

 private:
  static sse_message parse(const std::string& block) {
    sse_message m;
    std::size_t pos = 0;
    while (pos <= block.size()) {
      std::size_t nl = block.find('\n', pos);
      if (nl == std::string::npos) nl = block.size();
      const std::string line = block.substr(pos, nl - pos);
      if (line.rfind(":", 0) == 0) {
        m.comment = line.substr(line.size() > 1 && line[1] == ' ' ? 2 : 1);
      } else if (line.rfind("id: ", 0) == 0) {
        m.id = line.substr(4);
      } else if (line.rfind("data: ", 0) == 0) {
        m.data += line.substr(6);
      } else if (!line.empty()) {
        throw std::runtime_error("sse_client: unexpected line: " + line);
      }
      pos = nl + 1;
    }
    return m;
  }

  // Reads more bytes into raw_; false on timeout; sets closed_ at EOF.
  bool read_more(std::chrono::steady_clock::time_point deadline) {
    if (closed_) return true;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char buf[16384];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) {
      closed_ = true;
      return true;
    }
    raw_.append(buf, static_cast<std::size_t>(n));
    return true;
  }

  void read_head() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    std::size_t end;
    while ((end = raw_.find("\r\n\r\n")) == std::string::npos) {
      if (closed_ || !read_more(deadline)) throw std::runtime_error("sse_client: no head");
    }
    const std::string head = raw_.substr(0, end);
    raw_.erase(0, end + 4);
    status_ = static_cast<unsigned>(std::stoul(head.substr(9, 3)));
    std::size_t pos = head.find("\r\n");
    while (pos != std::string::npos && pos + 2 < head.size()) {
      const std::size_t next = head.find("\r\n", pos + 2);
      const std::string line =
          head.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
      const auto colon = line.find(':');
      std::string name = line.substr(0, colon);
      for (char& c : name)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      headers_[name] = line.substr(colon + 2);
      pos = next;
    }
    if (headers_.count("content-length")) {
      const std::size_t n = std::stoul(headers_["content-length"]);
      while (raw_.size() < n) {
        if (closed_ || !read_more(deadline)) throw std::runtime_error("sse_client: short body");
      }
      body_ = raw_.substr(0, n);
      raw_.erase(0, n);
      ended_ = true;
    } else if (headers_["transfer-encoding"] != "chunked") {
      throw std::runtime_error("sse_client: neither a length nor chunked");
    }
  }

  // Decodes whole chunks from raw_ into events_; false on timeout.
  bool fill_body(std::chrono::steady_clock::time_point deadline) {
    while (true) {
      const auto line_end = raw_.find("\r\n");
      if (line_end != std::string::npos) {
        const std::size_t size = std::stoul(raw_.substr(0, line_end), nullptr, 16);
        if (size == 0) {
          ended_ = true;  // the last chunk (no trailers are sent)
          return true;
        }
        if (raw_.size() >= line_end + 2 + size + 2) {
          events_ += raw_.substr(line_end + 2, size);
          raw_.erase(0, line_end + 2 + size + 2);
          return true;
        }
      }
      if (closed_) {
        ended_ = true;
        return true;
      }
      if (!read_more(deadline)) return false;
    }
  }

  int fd_ = -1;
  unsigned status_ = 0;
  std::map<std::string, std::string> headers_;
  std::string body_;
  std::string raw_;     // bytes not yet decoded
  std::string events_;  // decoded body not yet parsed into messages
  bool closed_ = false;
  bool ended_ = false;
};

}  // namespace creditd::testing
