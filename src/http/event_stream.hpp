// GET /v1/events/stream: server-sent events (text/event-stream) of the
// events after a cursor, live. Each event is `id: SEQ` and `data: JSON` (the
// event as GET /v1/events lists it); a comment line every `keepalive` with
// nothing to send keeps proxies and clients from timing out.
//
// A stream takes the events after its cursor from the feed in memory
// (service/event_feed.hpp) or, when they are older than what the feed keeps,
// from the store (service::read_events, through the log's barrier), a chunk
// at a time; with nothing after it, it waits for the feed's next publish.
// The server pulls one chunk at a time (http/handler.hpp), so a stream holds
// at most one chunk: a reader that falls behind is served from the store as
// it catches up, and one that stops reading holds its connection until the
// server's write timeout drops it. At most `streams_max` are open at once.
// A stream ends when the server drains, when its key is revoked, when the
// store cannot be read, or after `limit` events when one was asked.
//
// Thread-safe: open() from any thread; each stream runs on a strand of its own.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "auth/keys.hpp"
#include "http/handler.hpp"
#include "service/event_feed.hpp"
#include "service/service.hpp"

namespace creditd::http {

struct event_stream_options {
  std::chrono::milliseconds keepalive{15'000};
  std::size_t streams_max = 1'000;
  std::size_t chunk_events_max = 256;      // events in one chunk at most
  std::size_t chunk_bytes_max = 64 << 10;  // a chunk stops growing past this
};

// What one stream sends: the events `filter` matches after `after`,
// `limit` of them (0: no end), for as long as `key` authenticates as `who`.
struct event_stream_request {
  service::feed_filter filter;
  std::uint64_t after = 0;
  std::uint64_t limit = 0;
  std::string key;
  auth::principal who;
};

class event_streams {
 public:
  // All must outlive every stream opened (the server's connections).
  event_streams(boost::asio::any_io_executor io, service::event_feed& feed, service::service& svc,
                const auth::key_store& keys, event_stream_options opts);
  // A new stream, or nullptr when streams_max are open.
  std::shared_ptr<body_stream> open(event_stream_request req);
  std::size_t open_count() const { return open_->load(); }
  service::event_feed& feed() { return feed_; }

 private:
  boost::asio::any_io_executor io_;
  service::event_feed& feed_;
  service::service& svc_;
  const auth::key_store& keys_;
  event_stream_options opts_;
  // Shared with the streams, which may end after this object (they are
  // destroyed with the io_context).
  std::shared_ptr<std::atomic<std::size_t>> open_;
};

// One event as a server-sent event: "id: SEQ\ndata: JSON\n\n".
void append_sse(std::string& out, const service::feed_event& e);

}  // namespace creditd::http
