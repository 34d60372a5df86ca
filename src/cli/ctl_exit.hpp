// creditctl's exit codes: documented in `creditctl --help` and README.md.
#pragma once

namespace creditd::ctl {

enum exit_code : int {
  exit_ok = 0,           // the server answered 2xx (or help was asked for)
  exit_refused = 1,      // the server refused the request: 4xx
  exit_usage = 2,        // bad command line: unknown command or option, bad value, no key
  exit_unreachable = 3,  // cannot resolve, connect or complete TLS; no reply within --timeout
  exit_server = 4,       // the server failed (5xx), or its reply is not what the API describes
};

}  // namespace creditd::ctl
