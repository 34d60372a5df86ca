// creditctl's output: a reply from the server printed as readable text (a
// table or a line for the common responses, pretty JSON for the others) or
// as the server's JSON (--json), and the exit code it means. Pure: writes
// only to the streams it is given; thread-safe.
#pragma once

#include <boost/json/value.hpp>
#include <iosfwd>
#include <string>
#include <string_view>

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

// Server-sent events fed in pieces as they arrive; each whole event's data
// (its `data:` lines joined) goes to `emit`, comments and ids are dropped.
// Holds at most one unfinished event.
class sse_lines {
 public:
  template <typename Emit>
  void feed(std::string_view piece, Emit&& emit) {
    pending_.append(piece);
    std::size_t end;
    while ((end = pending_.find("\n\n")) != std::string::npos) {
      std::string data;
      std::size_t pos = 0;
      while (pos < end) {
        std::size_t nl = pending_.find('\n', pos);
        if (nl == std::string::npos || nl > end) nl = end;
        std::string_view line(pending_.data() + pos, nl - pos);
        if (line.starts_with("data:")) {
          line.remove_prefix(5);
          if (line.starts_with(' ')) line.remove_prefix(1);
          if (!data.empty()) data += '\n';
          data.append(line);
        }
        pos = nl + 1;
      }
      pending_.erase(0, end + 2);
      if (!data.empty()) emit(std::string_view(data));
    }
  }

 private:
  std::string pending_;
};

}  // namespace creditd::ctl
