// The HTTP API v1 (shared/spec/api.md) over the service: the router, keys
// and roles, body and query checks, decoding and encoding, all driven by the
// API description (api/description.hpp). Requests are decoded on the I/O
// thread; the service answers after the commit that holds a command.
// Thread-safe: handle() may be called from any I/O thread.
#pragma once

#include <boost/beast/http/verb.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "auth/keys.hpp"
#include "http/event_stream.hpp"
#include "http/handler.hpp"
#include "http/metrics.hpp"
#include "service/service.hpp"
#include "util/clock.hpp"
#include "webhooks/registry.hpp"

namespace creditd::http {

// A connection's last authenticated bearer key and what it authenticated
// as (api.cpp). Reused while the key store's generation() is unchanged, so a
// revoke takes effect at the next request of every connection. Owned by the
// connection; used only while it calls handle().
struct auth_cache {
  std::string key;  // the key as sent, after "Bearer "
  auth::principal who;
  std::uint64_t generation = 0;
  bool valid = false;
};

struct request {
  boost::beast::http::verb method = boost::beast::http::verb::get;
  std::string path;
  std::string query;
  std::string body;
  std::string authorization;
  std::string idempotency_key;
  std::string stripe_signature;  // the Stripe-Signature header (webhooks)
  std::string last_event_id;     // the Last-Event-ID header (event streams)
  auth_cache* auth = nullptr;    // the connection's, or nullptr (no caching)
};

struct response {
  unsigned status = 200;
  std::string body;
  std::string_view content_type = "application/json";
  std::int64_t retry_after_s = 0;  // > 0: a Retry-After header
  bool replayed = false;           // an idempotent replay of a stored response
  // Extra headers, written as given after the server's own (Server,
  // Content-Type: a header of the same name replaces those). Names must be
  // tokens and values free of CR, LF and NUL; the framing headers
  // (Content-Length, Transfer-Encoding, Connection) are the server's. A
  // header breaking these rules is dropped and logged.
  std::vector<std::pair<std::string, std::string>> headers;
  // When set, the body: sent chunked as the stream gives it (`body` is then
  // ignored). For GET routes (exports, events): the idempotency record keeps
  // `body` only.
  std::shared_ptr<body_stream> stream;
};

using done_fn = std::function<void(response)>;

struct api_context {
  service::service& svc;
  auth::key_store& keys;
  metrics& stats;
  std::function<std::string()> openapi;  // renders /openapi.json
  // The webhook endpoints (their routes answer 503 without them) and the
  // clock that stamps their changes.
  webhooks::registry* webhooks = nullptr;
  const server_clock* clock = nullptr;
  // The live event streams (GET /v1/events/stream answers 503 without them).
  event_streams* streams = nullptr;
  // The append-only log's marks, read at each scrape of /metrics; empty
  // without a log (--no-log), whose gauges are then left out.
  std::function<log_marks()> log_seqs;
};

// Routes requests to the endpoints of the API description
// (api/description.hpp), checks keys and roles, checks bodies and query
// strings against the description, decodes them into service commands and
// encodes the replies.
class api : public handler {
 public:
  explicit api(api_context ctx);
  // Answers through `done` exactly once, on this thread or an engine thread.
  // Returns the endpoint pattern the request matched ("(unmatched)" when
  // none): a static string, for bounded metric labels.
  std::string_view handle(request req, done_fn done) override;
  api_context& ctx() { return ctx_; }

 private:
  api_context ctx_;
};

// The names of described endpoints that have no handler (empty when every
// one has): a build that forgot one refuses to start.
std::vector<std::string_view> endpoints_without_handler();

// {"error": {"code": ..., "message": ...}} with the given status.
response error_response(unsigned status, std::string_view code, std::string_view message);

}  // namespace creditd::http
