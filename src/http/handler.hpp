// What the HTTP server calls: a handler takes a decoded request and answers
// it once through a callback, with a whole body or a stream of chunks
// (body_stream). class api is the real one; tests drive the server with
// their own. The request and response types are defined in http/api.hpp.
// Thread-safety: the server may call handle() from any I/O thread at once;
// see body_stream for its calls.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace creditd::http {

struct request;
struct response;
using done_fn = std::function<void(response)>;

// A response body produced piece by piece (a CSV export, server-sent
// events), sent with Transfer-Encoding: chunked. The server pulls: it calls
// next() for one chunk and waits until `give` is called, exactly once per
// call, from any thread (inside next() included), with a chunk or with
// nullopt at the end of the body. An empty chunk is skipped. next() is never
// called again before `give` of the previous call, nor after nullopt, nor
// once the client has gone (a write failed or timed out, or the peer
// closed). The server keeps the stream alive while a call is unanswered.
class body_stream {
 public:
  virtual ~body_stream() = default;
  virtual void next(std::function<void(std::optional<std::string> chunk)> give) = 0;
  // Asks the stream to end early; called at most once, from any thread,
  // when the server starts to drain or when the client has gone. An endless
  // stream (events) should then end soon with give(nullopt), or it holds its
  // connection until the shutdown grace ends; a finite one (an export) may
  // ignore it. After the client has gone, whatever is given is dropped.
  virtual void stop() {}
};

class handler {
 public:
  virtual ~handler() = default;
  // Answers through `done` exactly once, on this thread or any other.
  // Returns the endpoint pattern the request matched: a static string, kept
  // as a view for the metrics' route label.
  virtual std::string_view handle(request req, done_fn done) = 0;
};

}  // namespace creditd::http
