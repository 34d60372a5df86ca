// The handlers of the webhook endpoint routes (/v1/webhook-endpoints...),
// over the webhook registry (webhooks/registry.hpp): its writes and reads of
// the attempt log run on its writer thread, and answer from there.
#pragma once

#include <string_view>

#include "http/call.hpp"

namespace creditd::http {

// The handler of the webhook endpoint named `name`, or nullptr.
handler_fn find_webhook_handler(std::string_view name);

}  // namespace creditd::http
