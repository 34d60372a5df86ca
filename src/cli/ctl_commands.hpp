// creditctl's command line, made from the API description (api/description):
// one command per endpoint under its `command` name ("account put" is the
// subcommand `put` of `account`), its path parameters as positional
// arguments in path order, its body fields and query parameters as options
// (--field-name), its help from the description. Global options are accepted
// before the command and after it. Not thread-safe (CLI11 state).
#pragma once

#include <expected>
#include <iosfwd>
#include <optional>
#include <string>

#include "api/description.hpp"
#include "cli/ctl_encode.hpp"

namespace creditd::ctl {

// What creditctl reads from the environment; "" when unset.
struct environment {
  std::string url;        // CREDITD_URL
  std::string key;        // CREDITD_KEY
  std::string admin_key;  // CREDITD_ADMIN_KEY, the key when CREDITD_KEY is unset or empty
  std::string cacert;     // CREDITD_CACERT
};
environment read_environment();

inline constexpr double timeout_seconds_default = 30;
inline constexpr double timeout_seconds_max = 86400;

// The options that apply to every command.
struct global_options {
  std::string url = "http://127.0.0.1:8080";
  std::string key;
  std::string cacert;
  std::string idempotency_key;
  bool json = false;
  double timeout_seconds = timeout_seconds_default;  // connect and request together
};

// One request to make, fully checked.
struct invocation {
  global_options global;
  server_url server;
  const api::endpoint* ep = nullptr;
  std::string target;               // the server's base path, the path, the query
  std::optional<std::string> body;  // JSON text, for endpoints with a body
};

// Parses argv (argv[0] is the program). Help is printed to `out` and returns
// exit_ok; a usage error (a CLI11 parse error, a bad value, a missing
// required field, a keyed command without a key, a bad --url) is printed to
// `err` and returns exit_usage. Nothing is sent.
std::expected<invocation, int> parse_command_line(int argc, const char* const* argv,
                                                  const environment& env, std::ostream& out,
                                                  std::ostream& err);

}  // namespace creditd::ctl
