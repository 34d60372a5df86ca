// What a command answers: the API's result status and its JSON body, and
// the one place where ledger refusals become results. Pure; reentrant.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "ledger/error.hpp"
#include "ledger/types.hpp"

namespace creditd::service {

struct reply {
  unsigned status = 200;  // the contract's status for this result
  std::string body;       // JSON
  // What an Idempotency-Key records instead of `body`, when the body holds a
  // secret that must not be stored (a new API key).
  std::optional<std::string> recorded_body;
  std::int64_t retry_after_s = 0;  // > 0: the client should wait this long
  bool replayed = false;           // an idempotent replay of a recorded reply
  // For the counters, once the reply is durable: the refusal a spend got
  // (error code and reason), or the charges it made.
  std::string_view refusal_code, refusal_reason;
  std::int64_t charged_micros = 0;
  std::uint32_t charges = 0;
  std::int64_t refunded_micros = 0;
  std::int64_t granted_micros = 0;  // a lot of granted_kind
  ledger::lot_kind granted_kind = ledger::lot_kind::prepaid;
};

using reply_fn = std::function<void(reply)>;

// `body` (JSON, or empty) with the given status.
reply json_reply(unsigned status, std::string body);
// {"error": {"code": ..., "message": ...}} with the given status.
reply error_reply(unsigned status, std::string_view code, std::string_view message);
// 404 "<what> <id> not found".
reply not_found(std::string_view what, std::string_view id);
reply bad_request(std::string_view message);
// A ledger refusal as its result: 400, 402, 404, 409, 422 or 429.
reply ledger_error(const ledger::error& e);
// As ledger_error, for a spend: unknown_price names the operation and the
// dimensions that no price matched.
reply spend_error(const ledger::error& e, std::string_view operation, std::string_view dimensions);

}  // namespace creditd::service
