// Stripe webhook events: the raw body of a delivery parsed into the fields
// creditd acts on. Pure functions, no I/O and no clock; thread-safe.
//
// Verify the body's signature first (stripe_signature.hpp): this parser
// checks shape and bounds, not authenticity.
//
// An event (https://docs.stripe.com/api/events/object) is a JSON object:
//   {"id": "evt_...", "object": "event", "type": "checkout.session.completed",
//    "created": 1713381550, "livemode": false, "api_version": "2024-06-20",
//    "data": {"object": {"id": "cs_...", "object": "checkout.session",
//                        "payment_status": "paid", "amount_total": 2500,
//                        "currency": "usd", "client_reference_id": null,
//                        "metadata": {"account": "acct-42", "package": "pack-300"}, ...}},
//    "pending_webhooks": 1, "request": {"id": null, "idempotency_key": null}}
// Members not listed in stripe_event are ignored, whatever their type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

namespace creditd::billing {

// Limits: a longer body, string or deeper nesting is refused. A real
// checkout.session event is a few KiB; its strings are ids and short codes.
inline constexpr std::size_t stripe_event_bytes_max = 1 << 20;
inline constexpr std::size_t stripe_event_string_bytes_max = 1024;
inline constexpr std::size_t stripe_event_depth_max = 64;

struct stripe_event {
  std::string id;            // "evt_...", non-empty
  std::string type;          // "checkout.session.completed", ... non-empty
  std::int64_t created = 0;  // seconds since the epoch, >= 0
  bool livemode = false;
  // From data.object, for events whose type starts with "checkout.session."
  // (empty for other events). A member that is absent or null stays empty.
  std::string session_id;      // data.object.id ("cs_...")
  std::string payment_status;  // "paid" | "unpaid" | "no_payment_required" (kept as sent)
  // data.object.metadata.account, or data.object.client_reference_id when
  // the metadata has no (or an empty) "account".
  std::string account;
  std::string package;                       // data.object.metadata.package
  std::optional<std::int64_t> amount_total;  // minor units (cents), >= 0, when present
  std::string currency;                      // data.object.currency, lowercased
};

// Parses the raw body of a Stripe webhook delivery. Success: the event's
// fields; metadata that is missing is not an error (the fields stay empty,
// the caller decides). Errors: a message naming what is wrong, e.g. the body
// is over 1 MiB, not JSON, not an object; `id`/`type` missing, not strings or
// empty; `created` missing or not a non-negative integer; `livemode` not a
// boolean; a string over 1024 bytes; for a checkout.session.* event,
// `data.object` missing or not an object, or one of the members above of the
// wrong type (metadata not an object, metadata.account not a string,
// amount_total not a non-negative integer, ...).
std::expected<stripe_event, std::string> parse_stripe_event(std::string_view body);

// True when the event means a checkout session's payment is done and its
// package is to be granted:
//   - checkout.session.completed with payment_status "paid" (cards, wallets:
//     the money is captured when the customer finishes checkout) or
//     "no_payment_required" (a 100% discount, a free package);
//   - checkout.session.async_payment_succeeded (a delayed-notification method
//     such as a bank debit, which Stripe confirms hours or days later).
// False for everything else, notably checkout.session.completed with
// "unpaid": the customer finished checkout with a delayed method whose money
// has not arrived; the same session sends async_payment_succeeded (grant
// then) or async_payment_failed (never grant). Granting on "unpaid" would
// give credits for a payment that may fail, and granting on both events
// would count a card payment twice. Stripe's fulfillment guide asks for
// exactly this pair of events.
bool records_purchase(const stripe_event& e);

}  // namespace creditd::billing
