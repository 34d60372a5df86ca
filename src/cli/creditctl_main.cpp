// creditctl: a command-line client of the creditd HTTP API, its commands made
// from the API description (src/api/description.hpp).
//
//   creditctl [GLOBAL OPTIONS] COMMAND [PATH PARAMETERS...] [--field-name VALUE...]
//             [GLOBAL OPTIONS]
//
//   Each endpoint is a command under its description's `command` name
//   ("account put", "charge", "key create", "clock advance"). Its path
//   parameters are positional arguments in path order; its body fields and
//   query parameters are options named after the field with '_' as '-'
//   (--ttl-seconds): amounts and times as text, integers in range, booleans
//   as flags (--urgent, --urgent=false), enumerations by value, objects and
//   dimensions as JSON objects, arrays repeated or as one JSON array.
//   --body JSON|@FILE sends a whole body instead. `creditctl COMMAND --help`
//   shows the endpoint's summary, role and fields.
//
//   Global options, before or after the command:
//     --url URL       $CREDITD_URL, else http://127.0.0.1:8080; http[s]://HOST[:PORT][/BASE]
//     --key KEY       $CREDITD_KEY, else $CREDITD_ADMIN_KEY
//     --cacert FILE   $CREDITD_CACERT, else the system's trusted certificates (https)
//     --json          print the server's JSON (errors too, on stdout)
//     --idempotency-key KEY   for writes
//     --timeout SECONDS       connect and request together, default 30
//
//   A command of a stream (event-stream) prints what arrives as it arrives,
//   until the server ends the stream; --timeout bounds only its start.
//
//   Exit codes: 0 success; 1 the server refused the request (4xx); 2 usage
//   error (a bad command, option or value, no key); 3 cannot connect, TLS
//   failure, no reply within --timeout; 4 server error (5xx) or a reply that
//   is not what the API describes.
#include <chrono>
#include <cmath>
#include <iostream>

#include "cli/ctl_client.hpp"
#include "cli/ctl_commands.hpp"
#include "cli/ctl_exit.hpp"
#include "cli/ctl_output.hpp"

int main(int argc, char** argv) {
  using namespace creditd::ctl;
  auto inv = parse_command_line(argc, argv, read_environment(), std::cout, std::cerr);
  if (!inv) return inv.error();
  http_request req;
  req.verb = inv->ep->verb;
  req.target = inv->target;
  req.body = inv->body;
  if (inv->ep->need != creditd::api::access::open) req.key = inv->global.key;
  if (inv->ep->mutating) req.idempotency_key = inv->global.idempotency_key;
  const auto timeout = std::chrono::milliseconds(std::llround(inv->global.timeout_seconds * 1000));
  if (inv->ep->content_type == "text/event-stream") {
    // Printed as it comes: the server-sent events as sent, or with --json
    // each event's JSON on a line of its own (comments dropped).
    sse_lines lines;
    auto r = exchange_streaming(
        inv->server, req, inv->global.cacert, timeout, [&](std::string_view piece) {
          if (inv->global.json) {
            lines.feed(piece, [](std::string_view data) { std::cout << data << '\n'; });
          } else {
            std::cout << piece;
          }
          std::cout.flush();
        });
    if (!r) {
      std::cerr << "creditctl: " << r.error().message << '\n';
      return r.error().exit;
    }
    if (r->status / 100 == 2) return exit_ok;
    return report(*inv->ep, *r, inv->global.json, std::cout, std::cerr);
  }
  auto r = exchange(inv->server, req, inv->global.cacert, timeout);
  if (!r) {
    std::cerr << "creditctl: " << r.error().message << '\n';
    return r.error().exit;
  }
  return report(*inv->ep, *r, inv->global.json, std::cout, std::cerr);
}
