// One request on its way through the API: what the router matched and what
// the checks found, handed to the endpoint's handler (http/handlers.cpp).
// Not thread-safe; one call per request.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/description.hpp"
#include "http/api.hpp"
#include "http/json.hpp"
#include "http/request_fields.hpp"
#include "service/reply.hpp"
#include "service/service.hpp"

namespace creditd::http {

namespace desc = creditd::api;  // the API description

struct call {
  request req;
  done_fn done;
  std::vector<std::string> params;  // the {..} segments of the path, decoded, in order
  service::caller who;              // the key's principal; the Idempotency-Key and fingerprint
  const desc::endpoint* ep = nullptr;
  std::optional<jvalue> body;  // the JSON body, checked against the description
  // Instead of `body`: a spend body decoded by the fast path
  // (request_fields.hpp), already checked.
  std::optional<fast_spend> fast;
};

// Decodes a checked call into a service command and answers it.
using handler_fn = void (*)(api&, call&);

// The handler of the endpoint named `name` (desc::endpoint::name), or nullptr.
handler_fn find_handler(std::string_view name);

// A service reply as an HTTP response (Retry-After, Idempotent-Replayed).
response to_response(service::reply r);

}  // namespace creditd::http
