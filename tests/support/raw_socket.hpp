// Plain TCP sockets for the tests of what a client does below HTTP (half a
// request, a trickle, idle connections) and of the server closing on them,
// and a thread that keeps such a client going until the test is done.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <utility>

namespace creditd::testing {

// A socket connected to 127.0.0.1:`port`, or -1. With a guard (seconds >
// 0), a recv() on it gives up (EAGAIN) after that long: a guard against a
// hang, never a bound a test relies on.
inline int connect_loopback(unsigned short port, int receive_guard_seconds = 0) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (receive_guard_seconds > 0) {
    timeval guard{receive_guard_seconds, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &guard, sizeof guard);
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Reads until the server closes; true when it closed (EOF or reset) without
// sending a byte, false when bytes came or the guard ran out. `why` says which.
inline bool closed_without_answer(int fd, std::string& why) {
  char buf[512];
  const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  if (n == 0) return true;
  if (n < 0 && errno == ECONNRESET) return true;
  why = n > 0 ? "answered: " + std::string(buf, static_cast<std::size_t>(n))
              : std::string("not closed within the guard: ") + std::strerror(errno);
  return false;
}

// Runs step() every `pause` (pacing only: nothing waits on it) until step()
// returns false or stop() is called; stopped and joined on every way out of
// its scope, a failed assertion or an exception included.
class repeating_thread {
 public:
  template <class Step>
  repeating_thread(std::chrono::milliseconds pause, Step step)
      : thread_([this, pause, step = std::move(step)]() mutable {
          while (!stop_.load()) {
            if (!step()) return;
            std::this_thread::sleep_for(pause);
          }
        }) {}
  repeating_thread(const repeating_thread&) = delete;
  repeating_thread& operator=(const repeating_thread&) = delete;
  ~repeating_thread() { stop(); }

  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};  // before thread_: set up before it starts
  std::thread thread_;
};

}  // namespace creditd::testing
