#include "service/reply.hpp"

#include "service/render.hpp"
#include "util/json_text.hpp"

namespace creditd::service {

reply json_reply(unsigned status, std::string body) {
  reply r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

reply error_reply(unsigned status, std::string_view code, std::string_view message) {
  reply r;
  r.status = status;
  json_out j(r.body);
  j.begin_object().key("error").begin_object();
  // Messages may echo request bytes (an id from the path): always valid UTF-8.
  j.key("code").str(code).key("message").str(util::valid_utf8(message));
  j.end_object().end_object();
  return r;
}

reply not_found(std::string_view what, std::string_view id) {
  return error_reply(404, "not_found", std::string(what) + " " + std::string(id) + " not found");
}

reply bad_request(std::string_view message) {
  return error_reply(400, "invalid_request", message);
}

reply ledger_error(const ledger::error& e) {
  using ledger::errc;
  switch (e.code) {
    case errc::invalid_argument:
    case errc::refund_too_large:
      return bad_request(e.message);
    case errc::account_not_found:
    case errc::lot_not_found:
    case errc::hold_not_found:
    case errc::charge_not_found:
    case errc::package_not_found:
    case errc::plan_not_found:
    case errc::subscription_not_found:
      // The callers check existence first and name the id; this is the rest.
      return error_reply(404, "not_found", e.message[0] ? e.message : "not found");
    case errc::hold_not_open:
    case errc::lot_not_active:
    case errc::nothing_to_refund:
    case errc::limit_exceeded:
    case errc::conflict:
      return error_reply(409, "conflict", e.message);
    case errc::unknown_price: {
      reply r = error_reply(422, "unknown_price", e.message);
      r.refusal_code = "unknown_price";
      return r;
    }
    case errc::idempotency_conflict:
      return error_reply(409, "idempotency_conflict", e.message);
    case errc::insufficient_credits: {
      reply r;
      r.status = 402;
      json_out j(r.body);
      std::string message = "insufficient credits: available " +
                            ledger::format_amount(e.available) + ", required " +
                            ledger::format_amount(e.required);
      if (e.reason == ledger::refusal_reason::reserve)
        message += " (the rest is the account's reserve)";
      if (e.reason == ledger::refusal_reason::scope)
        message += " (other credits are scoped to other operations)";
      if (e.reason == ledger::refusal_reason::postpaid_limit)
        message += " (postpaid limit reached)";
      j.begin_object().key("error").begin_object();
      j.key("code").str("insufficient_credits").key("message").str(message);
      j.key("reason").str(ledger::to_string(e.reason));
      j.key("available").amount(e.available).key("required").amount(e.required);
      j.end_object().end_object();
      r.refusal_code = "insufficient_credits";
      r.refusal_reason = ledger::to_string(e.reason);
      return r;
    }
    case errc::rate_limited:
    case errc::too_many_open_holds: {
      const bool rate = e.code == errc::rate_limited;
      reply r;
      r.status = 429;
      r.retry_after_s = rate ? e.retry_after_s : 1;
      json_out j(r.body);
      j.begin_object().key("error").begin_object();
      j.key("code").str("rate_limited");
      j.key("message").str(rate ? "rate limit exceeded: at most " + std::to_string(e.limit) +
                                      " charges and holds per minute"
                                : "too many open holds: at most " + std::to_string(e.limit));
      j.key("reason").str(rate ? "rate_limit" : "max_open_holds");
      j.key("limit").integer(e.limit);
      if (rate) j.key("retry_after").integer(e.retry_after_s);
      j.end_object().end_object();
      r.refusal_code = "rate_limited";
      r.refusal_reason = rate ? "rate_limit" : "max_open_holds";
      return r;
    }
  }
  return error_reply(500, "internal", "internal error");
}

reply spend_error(const ledger::error& e, std::string_view operation, std::string_view dimensions) {
  if (e.code != ledger::errc::unknown_price) return ledger_error(e);
  std::string message = "no price in the catalog matches operation " + std::string(operation);
  message += dimensions.empty() ? std::string(" without dimensions")
                                : " with dimensions " + std::string(dimensions);
  message +=
      " (GET /v1/prices lists them; an admin adds one with PUT /v1/prices/{id}, or the "
      "request sends an explicit amount)";
  reply r = error_reply(422, "unknown_price", message);
  r.refusal_code = "unknown_price";
  return r;
}

}  // namespace creditd::service
