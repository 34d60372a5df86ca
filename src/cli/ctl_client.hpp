// creditctl's HTTP client: one request to the server over HTTP or HTTPS
// (TLS 1.2 or later; the certificate verified against --cacert or the
// system's trusted certificates, and its name against the host), within one
// deadline for resolving, connecting, the handshake, the request and the
// reply together. Each call runs its own io_context; thread-compatible.
#pragma once

#include <chrono>
#include <expected>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "api/description.hpp"
#include "cli/ctl_encode.hpp"
#include "cli/ctl_output.hpp"

namespace creditd::ctl {

struct http_request {
  api::method verb = api::method::get;
  std::string target;               // with the base path and the query
  std::optional<std::string> body;  // sent as application/json when present
  std::string key;                  // Authorization: Bearer KEY unless ""
  std::string idempotency_key;      // Idempotency-Key unless ""
};

// Why no reply came, and the exit code that says so.
struct failure {
  int exit = 0;  // exit_usage (the CA file), exit_unreachable or exit_server (not HTTP)
  std::string message;
};

// Sends `req` to `server` and returns the reply, whatever its status. Errors:
// the CA certificates cannot be loaded (exit_usage); resolving, connecting,
// TLS, writing or reading failed, or `timeout` passed first
// (exit_unreachable); the reply is not valid HTTP or exceeds 64 MiB
// (exit_server).
std::expected<reply, failure> exchange(const server_url& server, const http_request& req,
                                       const std::string& cacert,
                                       std::chrono::milliseconds timeout);

// As exchange(), for a response that streams (server-sent events): a 2xx
// body goes to `sink` piece by piece as it arrives, and the returned reply's
// body is empty; `timeout` bounds everything up to the response's head, then
// the stream runs until the server ends it. Another status is read whole,
// as exchange() reads it. Errors as exchange(); a stream cut off before its
// end is exit_unreachable.
std::expected<reply, failure> exchange_streaming(const server_url& server, const http_request& req,
                                                 const std::string& cacert,
                                                 std::chrono::milliseconds timeout,
                                                 const std::function<void(std::string_view)>& sink);

}  // namespace creditd::ctl
