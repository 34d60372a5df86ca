// Test support: Stripe webhook deliveries as Stripe makes them. A
// `Stripe-Signature` header for a payload (t=<unix>,v1=<hex HMAC-SHA256 of
// "<t>.<payload>">), and realistic checkout.session event bodies, modeled on
// the events Stripe sends with API version 2024-06-20 (pretty-printed, two
// spaces, as Stripe delivers them: the signature covers these exact bytes).
// Header-only; needs creditd_billing. Thread-safe (no shared state).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "billing/stripe_signature.hpp"

namespace creditd::testing {

// Lower-case hex of a signature, as Stripe writes v1.
inline std::string to_hex(const billing::hmac_sha256& mac) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * mac.size());
  for (std::uint8_t b : mac) {
    out += digits[b >> 4];
    out += digits[b & 0xf];
  }
  return out;
}

// The `Stripe-Signature` header Stripe sends for `payload` signed at
// `timestamp_s` with the endpoint's signing secret ("whsec_...").
inline std::string stripe_signature_header(std::string_view secret, std::int64_t timestamp_s,
                                           std::string_view payload) {
  return "t=" + std::to_string(timestamp_s) +
         ",v1=" + to_hex(billing::stripe_expected_signature(secret, timestamp_s, payload));
}

// `text` as a JSON string literal, quotes included.
inline std::string json_quote(std::string_view text) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out = "\"";
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      out += "\\u00";
      out += digits[u >> 4];
      out += digits[u & 0xf];
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// What a checkout session event carries; the rest of the body is fixed.
struct checkout_session_fields {
  std::string event_type = "checkout.session.completed";
  std::string event_id = "evt_1P6e0gAclagrtXef9ybQkT50";
  std::string account;  // metadata.account; omitted when empty
  std::string package;  // metadata.package; omitted when empty
  std::string payment_status = "paid";
  std::int64_t created = 1713381550;  // the event's; the session is 20 s older
  std::int64_t amount_total = 2500;
  std::string currency = "usd";
  std::string client_reference_id;  // null when empty
};

// A checkout.session.* event body as Stripe delivers it: the template
// below with its @NAME@ placeholders filled in.
inline std::string checkout_session_event_body(const checkout_session_fields& f) {
  const std::string_view body = R"({
  "id": @EVENT_ID@,
  "object": "event",
  "api_version": "2024-06-20",
  "created": @CREATED@,
  "data": {
    "object": {
      "id": @SESSION_ID@,
      "object": "checkout.session",
      "after_expiration": null,
      "allow_promotion_codes": null,
      "amount_subtotal": @AMOUNT@,
      "amount_total": @AMOUNT@,
      "automatic_tax": {
        "enabled": false,
        "liability": null,
        "status": null
      },
      "billing_address_collection": null,
      "cancel_url": "https://example.com/billing/cancel",
      "client_reference_id": @CLIENT_REFERENCE_ID@,
      "client_secret": null,
      "consent": null,
      "consent_collection": null,
      "created": @SESSION_CREATED@,
      "currency": @CURRENCY@,
      "currency_conversion": null,
      "custom_fields": [],
      "custom_text": {
        "after_submit": null,
        "shipping_address": null,
        "submit": null,
        "terms_of_service_acceptance": null
      },
      "customer": null,
      "customer_creation": "if_required",
      "customer_details": {
        "address": {
          "city": null,
          "country": "US",
          "line1": null,
          "line2": null,
          "postal_code": "94107",
          "state": null
        },
        "email": "jenny.rosen@example.com",
        "name": "Jenny Rosen",
        "phone": null,
        "tax_exempt": "none",
        "tax_ids": []
      },
      "customer_email": null,
      "expires_at": @EXPIRES_AT@,
      "invoice": null,
      "invoice_creation": {
        "enabled": false,
        "invoice_data": {
          "account_tax_ids": null,
          "custom_fields": null,
          "description": null,
          "footer": null,
          "issuer": null,
          "metadata": {},
          "rendering_options": null
        }
      },
      "livemode": false,
      "locale": null,
      "metadata": @METADATA@,
      "mode": "payment",
      "payment_intent": @PAYMENT_INTENT@,
      "payment_link": null,
      "payment_method_collection": "if_required",
      "payment_method_configuration_details": null,
      "payment_method_options": {
        "card": {
          "request_three_d_secure": "automatic"
        }
      },
      "payment_method_types": [
        "card"
      ],
      "payment_status": @PAYMENT_STATUS@,
      "phone_number_collection": {
        "enabled": false
      },
      "recovered_from": null,
      "saved_payment_method_options": null,
      "setup_intent": null,
      "shipping_address_collection": null,
      "shipping_cost": null,
      "shipping_details": null,
      "shipping_options": [],
      "status": "complete",
      "submit_type": null,
      "subscription": null,
      "success_url": "https://example.com/billing/success?session_id={CHECKOUT_SESSION_ID}",
      "total_details": {
        "amount_discount": 0,
        "amount_shipping": 0,
        "amount_tax": 0
      },
      "ui_mode": "hosted",
      "url": null
    }
  },
  "livemode": false,
  "pending_webhooks": 1,
  "request": {
    "id": null,
    "idempotency_key": null
  },
  "type": @TYPE@
})";
  const std::string suffix = f.event_id.size() > 4 ? f.event_id.substr(4) : "0000000000000000";
  std::string metadata;
  if (!f.account.empty()) metadata += "\n        \"account\": " + json_quote(f.account);
  if (!f.package.empty()) {
    if (!metadata.empty()) metadata += ',';
    metadata += "\n        \"package\": " + json_quote(f.package);
  }
  metadata = metadata.empty() ? "{}" : "{" + metadata + "\n      }";
  const std::pair<std::string_view, std::string> fills[] = {
      {"@EVENT_ID@", json_quote(f.event_id)},
      {"@CREATED@", std::to_string(f.created)},
      {"@SESSION_ID@", json_quote("cs_test_a1" + suffix)},
      {"@AMOUNT@", std::to_string(f.amount_total)},
      {"@CLIENT_REFERENCE_ID@",
       f.client_reference_id.empty() ? "null" : json_quote(f.client_reference_id)},
      {"@SESSION_CREATED@", std::to_string(f.created - 20)},
      {"@CURRENCY@", json_quote(f.currency)},
      {"@EXPIRES_AT@", std::to_string(f.created - 20 + 86400)},
      {"@METADATA@", metadata},
      // No payment, no PaymentIntent.
      {"@PAYMENT_INTENT@", f.amount_total == 0 ? "null" : "\"pi_3P6e0eAclagrtXef1xUq5Zc2\""},
      {"@PAYMENT_STATUS@", json_quote(f.payment_status)},
      {"@TYPE@", json_quote(f.event_type)},
  };
  // One pass over the template, so that a value holding "@TYPE@" stays as is.
  std::string out;
  for (std::size_t at = 0; at < body.size();) {
    bool filled = false;
    for (const auto& [name, value] : fills) {
      if (std::string_view(body).substr(at).starts_with(name)) {
        out += value;
        at += name.size();
        filled = true;
        break;
      }
    }
    if (!filled) out += body[at++];
  }
  return out;
}

// A checkout.session.completed event for `account` buying `package`.
inline std::string checkout_session_completed_body(std::string_view event_id,
                                                   std::string_view account,
                                                   std::string_view package,
                                                   std::string_view payment_status,
                                                   std::int64_t created) {
  checkout_session_fields f;
  f.event_id = event_id;
  f.account = account;
  f.package = package;
  f.payment_status = payment_status;
  f.created = created;
  if (payment_status == "no_payment_required") f.amount_total = 0;
  return checkout_session_event_body(f);
}

}  // namespace creditd::testing
