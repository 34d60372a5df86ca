// creditctl's output: a reply from the server printed as readable text (a
// table or a line for the common responses, pretty JSON for the others) or
// as the server's JSON (--json), and the exit code it means. Pure: writes
// only to the streams it is given; thread-safe.
#pragma once

#include <boost/json/value.hpp>
#include <iosfwd>
#include <string>

#include "api/description.hpp"

namespace creditd::ctl {

// What the server answered.
struct reply {
  unsigned status = 0;
  std::string content_type;  // the Content-Type header
  std::string retry_after;   // the Retry-After header, "" when absent
  std::string body;
};

// Prints `r`, the server's answer to `ep`, and returns the exit code:
//   2xx: exit_ok, the body readable (or as sent with `as_json`); a body that
//     is not JSON, or not the shape of the endpoint's response schema, is
//     printed raw to `out`, with a message on `err`, and returns exit_server;
//   4xx: exit_refused; 5xx and anything else: exit_server. The error's
//     message, code and details go to `err`; with `as_json` the error JSON
//     also goes to `out`.
int report(const api::endpoint& ep, const reply& r, bool as_json, std::ostream& out,
           std::ostream& err);

// `v` as indented JSON (two spaces), strings escaped; ends with a newline.
std::string pretty_json(const boost::json::value& v);

}  // namespace creditd::ctl
