// Stripe webhook event bodies: realistic deliveries (the shape Stripe sends
// with API version 2024-06-20, built by tests/support/stripe_sign.hpp, and
// the Event object of Stripe's API reference), then every refusal, the
// bounds, and which events record a purchase.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "../support/stripe_sign.hpp"
#include "billing/stripe_event.hpp"
#include "billing/stripe_signature.hpp"
#include "expected_check.hpp"

namespace stripe_event_test_cpp {  // unity builds: tests/CMakeLists.txt

using namespace creditd::billing;
using creditd::testing::checkout_session_completed_body;
using creditd::testing::checkout_session_event_body;
using creditd::testing::checkout_session_fields;
using creditd::testing::error_of;

namespace {

constexpr std::int64_t t0 = 1713381550;

// The error of parsing `body`; fails the test when it parses.
std::string error_of(std::string_view body) {
  auto e = parse_stripe_event(body);
  if (e.has_value()) {
    ADD_FAILURE() << "parsed: " << body;
    return {};
  }
  return e.error();
}

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

// A compact checkout.session.completed event with `session` as data.object.
std::string completed_with(std::string_view session) {
  return R"({"id":"evt_1","object":"event","type":"checkout.session.completed","created":1713381550,"livemode":false,"data":{"object":)" +
         std::string(session) + "}}";
}

}  // namespace

TEST(stripe_event, a_realistic_checkout_session_completed_parses) {
  const std::string body = checkout_session_completed_body("evt_1P6e0gAclagrtXef9ybQkT50",
                                                           "acct-42", "pack-300", "paid", t0);
  auto e = parse_stripe_event(body);
  ASSERT_TRUE(e.has_value()) << e.error();
  EXPECT_EQ(e->id, "evt_1P6e0gAclagrtXef9ybQkT50");
  EXPECT_EQ(e->type, "checkout.session.completed");
  EXPECT_EQ(e->created, t0);
  EXPECT_FALSE(e->livemode);
  EXPECT_EQ(e->session_id, "cs_test_a11P6e0gAclagrtXef9ybQkT50");
  EXPECT_EQ(e->payment_status, "paid");
  EXPECT_EQ(e->account, "acct-42");
  EXPECT_EQ(e->package, "pack-300");
  EXPECT_EQ(e->amount_total, 2500);
  EXPECT_EQ(e->currency, "usd");
  EXPECT_TRUE(records_purchase(*e));
}

TEST(stripe_event, the_test_helper_signs_as_stripe_does) {
  // The same known vector as stripe_signature_test: `printf '%s'
  // '1492774577.<body>' | openssl dgst -sha256 -hmac whsec_test_secret`.
  const std::string body = R"({"id":"evt_1","type":"checkout.session.completed"})";
  EXPECT_EQ(creditd::testing::stripe_signature_header("whsec_test_secret", 1492774577, body),
            "t=1492774577,v1=dc9eef2b05266028c63c8e182a8e263064a8ba937b37f39174c7ca4d5bddb867");

  const std::string event =
      checkout_session_completed_body("evt_2", "acct-1", "pack-100", "paid", t0);
  const std::string header = creditd::testing::stripe_signature_header("whsec_abc", t0, event);
  EXPECT_TRUE(verify_stripe_signature(header, event, "whsec_abc", t0 + 5).has_value());
  EXPECT_EQ(error_of(verify_stripe_signature(header, event + " ", "whsec_abc", t0)),
            stripe_signature_error::no_matching_signature);
}

TEST(stripe_event, the_helper_escapes_its_strings_and_fills_the_template_once) {
  checkout_session_fields f;
  f.account = "a\"b\\c\n@TYPE@";
  f.package = "pack-1";
  auto e = parse_stripe_event(checkout_session_event_body(f));
  ASSERT_TRUE(e.has_value()) << e.error();
  EXPECT_EQ(e->account, f.account);
  EXPECT_EQ(e->type, "checkout.session.completed");
}

TEST(stripe_event, the_event_object_of_stripes_api_reference_parses) {
  // docs.stripe.com/api/events/object: an event of another kind. Its
  // data.object is not read; nothing of it is a purchase.
  const std::string body = R"({
  "id": "evt_1NG8Du2eZvKYlo2CUI79vXWy",
  "object": "event",
  "api_version": "2019-02-19",
  "created": 1686089970,
  "data": {
    "object": {
      "id": "seti_1NG8Du2eZvKYlo2C9XMqbR0x",
      "object": "setup_intent",
      "metadata": {},
      "payment_method_types": ["acss_debit"],
      "status": "requires_confirmation",
      "usage": "off_session"
    }
  },
  "livemode": false,
  "pending_webhooks": 0,
  "request": {"id": null, "idempotency_key": null},
  "type": "setup_intent.created"
})";
  auto e = parse_stripe_event(body);
  ASSERT_TRUE(e.has_value()) << e.error();
  EXPECT_EQ(e->id, "evt_1NG8Du2eZvKYlo2CUI79vXWy");
  EXPECT_EQ(e->type, "setup_intent.created");
  EXPECT_EQ(e->created, 1686089970);
  EXPECT_TRUE(e->session_id.empty());
  EXPECT_TRUE(e->account.empty());
  EXPECT_FALSE(e->amount_total.has_value());
  EXPECT_FALSE(records_purchase(*e));

  // Other events' data is not looked at, whatever its shape.
  EXPECT_TRUE(parse_stripe_event(R"({"id":"evt_1","type":"invoice.paid","created":1})"));
  EXPECT_TRUE(parse_stripe_event(
      R"({"id":"evt_1","type":"invoice.paid","created":1,"data":{"object":"x"}})"));
}

TEST(stripe_event, livemode_and_the_currency_are_read) {
  checkout_session_fields f;
  f.currency = "EUR";
  std::string body = checkout_session_event_body(f);
  const std::string test_mode = "\"livemode\": false,\n  \"pending_webhooks\"";
  body.replace(body.find(test_mode), test_mode.size(),
               "\"livemode\": true,\n  \"pending_webhooks\"");
  auto e = parse_stripe_event(body);
  ASSERT_TRUE(e.has_value()) << e.error();
  EXPECT_TRUE(e->livemode);
  EXPECT_EQ(e->currency, "eur");
}

TEST(stripe_event, missing_metadata_is_not_an_error) {
  // No metadata at all, an empty one, or one without the keys: the fields
  // stay empty and the caller decides.
  auto e = parse_stripe_event(checkout_session_completed_body("evt_3", "", "", "paid", t0));
  ASSERT_TRUE(e.has_value()) << e.error();
  EXPECT_TRUE(e->account.empty());
  EXPECT_TRUE(e->package.empty());
  EXPECT_TRUE(records_purchase(*e));  // what to grant is the caller's question

  for (const char* session :
       {R"({"id":"cs_1"})", R"({"id":"cs_1","metadata":{}})", R"({"id":"cs_1","metadata":null})",
        R"({"id":"cs_1","metadata":{"campaign":"spring"}})"}) {
    auto s = parse_stripe_event(completed_with(session));
    ASSERT_TRUE(s.has_value()) << session << ": " << s.error();
    EXPECT_EQ(s->session_id, "cs_1");
    EXPECT_TRUE(s->account.empty());
    EXPECT_TRUE(s->package.empty());
    EXPECT_TRUE(s->payment_status.empty());
    EXPECT_TRUE(s->currency.empty());
    EXPECT_FALSE(s->amount_total.has_value());
    EXPECT_FALSE(records_purchase(*s));  // no payment_status: not paid
  }
  // Stripe's nulls are absences.
  auto n = parse_stripe_event(completed_with(
      R"({"id":null,"payment_status":null,"amount_total":null,"currency":null,"client_reference_id":null})"));
  ASSERT_TRUE(n.has_value()) << n.error();
  EXPECT_TRUE(n->session_id.empty());
  EXPECT_FALSE(n->amount_total.has_value());
}

TEST(stripe_event, the_account_falls_back_to_client_reference_id) {
  checkout_session_fields f;
  f.client_reference_id = "acct-from-ref";
  f.package = "pack-100";
  auto e = parse_stripe_event(checkout_session_event_body(f));
  ASSERT_TRUE(e.has_value()) << e.error();
  EXPECT_EQ(e->account, "acct-from-ref");
  EXPECT_EQ(e->package, "pack-100");

  // metadata.account wins over client_reference_id.
  f.account = "acct-from-metadata";
  e = parse_stripe_event(checkout_session_event_body(f));
  ASSERT_TRUE(e.has_value()) << e.error();
  EXPECT_EQ(e->account, "acct-from-metadata");

  // An empty metadata.account (Stripe deletes such a key) is an absent one;
  // so is a null metadata.
  e = parse_stripe_event(
      completed_with(R"({"client_reference_id":"acct-7","metadata":{"account":""}})"));
  ASSERT_TRUE(e.has_value()) << e.error();
  EXPECT_EQ(e->account, "acct-7");
  e = parse_stripe_event(completed_with(R"({"client_reference_id":"acct-8","metadata":null})"));
  ASSERT_TRUE(e.has_value()) << e.error();
  EXPECT_EQ(e->account, "acct-8");
}

TEST(stripe_event, refuses_what_is_not_a_json_object) {
  EXPECT_EQ(error_of(""), "the body is empty");
  for (const char* body : {"not json", "{", R"({"id":"evt_1",})", "{} {}", "{\"id\":\"\xff\"}"})
    EXPECT_TRUE(contains(error_of(body), "the body is not JSON: ")) << body;
  EXPECT_TRUE(contains(error_of("{\"id\": nope}"), "(at byte 7)")) << error_of("{\"id\": nope}");
  EXPECT_EQ(error_of("[]"), "\"the body\" is not a JSON object (it is array)");
  EXPECT_EQ(error_of("\"evt_1\""), "\"the body\" is not a JSON object (it is string)");

  // A real body cut short.
  const std::string body = checkout_session_completed_body("evt_4", "a", "p", "paid", t0);
  EXPECT_TRUE(contains(error_of(body.substr(0, body.size() / 2)), "not JSON"));
}

TEST(stripe_event, refuses_missing_event_fields) {
  EXPECT_EQ(error_of(R"({"type":"checkout.session.completed","created":1})"), "\"id\" is missing");
  EXPECT_EQ(error_of(R"({"id":null,"type":"x","created":1})"), "\"id\" is missing");
  EXPECT_EQ(error_of(R"({"id":"","type":"x","created":1})"), "\"id\" is empty");
  EXPECT_EQ(error_of(R"({"id":"evt_1","created":1})"), "\"type\" is missing");
  EXPECT_EQ(error_of(R"({"id":"evt_1","type":"","created":1})"), "\"type\" is empty");
  EXPECT_EQ(error_of(R"({"id":"evt_1","type":"x"})"), "\"created\" is missing");

  const std::string head = R"({"id":"evt_1","type":"checkout.session.completed","created":1)";
  EXPECT_EQ(error_of(head + "}"), "\"data\" is missing");
  EXPECT_EQ(error_of(head + R"(,"data":{}})"), "\"data.object\" is missing");
  EXPECT_EQ(error_of(head + R"(,"data":{"object":null}})"), "\"data.object\" is missing");
}

TEST(stripe_event, refuses_wrong_types) {
  const struct {
    std::string body;
    std::string error;
  } cases[] = {
      {R"({"id":7,"type":"x","created":1})", "\"id\" is not a string (it is int64)"},
      {R"({"id":"evt_1","type":["checkout"],"created":1})",
       "\"type\" is not a string (it is array)"},
      {R"({"id":"evt_1","type":"x","created":"1713381550"})",
       "\"created\" is not an integer (it is string)"},
      {R"({"id":"evt_1","type":"x","created":1713381550.0})",
       "\"created\" is not an integer (it is double)"},
      {R"({"id":"evt_1","type":"x","created":-1})", "\"created\" is negative"},
      {R"({"id":"evt_1","type":"x","created":18446744073709551615})", "\"created\" is too large"},
      {R"({"id":"evt_1","type":"x","created":1,"livemode":"false"})",
       "\"livemode\" is not a boolean (it is string)"},
      {R"({"id":"evt_1","object":"list","type":"x","created":1})",
       "\"object\" is \"list\", not \"event\""},
      {R"({"id":"evt_1","type":"checkout.session.completed","created":1,"data":[]})",
       "\"data\" is not an object (it is array)"},
      {completed_with("\"cs_1\""), "\"data.object\" is not an object (it is string)"},
      {completed_with(R"({"object":"invoice"})"),
       "\"data.object.object\" is \"invoice\", not \"checkout.session\""},
      {completed_with(R"({"id":12})"), "\"data.object.id\" is not a string (it is int64)"},
      {completed_with(R"({"payment_status":true})"),
       "\"data.object.payment_status\" is not a string (it is bool)"},
      {completed_with(R"({"amount_total":"2500"})"),
       "\"data.object.amount_total\" is not an integer (it is string)"},
      {completed_with(R"({"amount_total":25.00})"),
       "\"data.object.amount_total\" is not an integer (it is double)"},
      {completed_with(R"({"amount_total":-2500})"), "\"data.object.amount_total\" is negative"},
      {completed_with(R"({"currency":840})"),
       "\"data.object.currency\" is not a string (it is int64)"},
      {completed_with(R"({"client_reference_id":42})"),
       "\"data.object.client_reference_id\" is not a string (it is int64)"},
      {completed_with(R"({"metadata":"account=acct-1"})"),
       "\"data.object.metadata\" is not an object (it is string)"},
      {completed_with(R"({"metadata":[{"account":"acct-1"}]})"),
       "\"data.object.metadata\" is not an object (it is array)"},
      {completed_with(R"({"metadata":{"account":42}})"),
       "\"data.object.metadata.account\" is not a string (it is int64)"},
      {completed_with(R"({"metadata":{"account":"a","package":{"id":"pack-1"}}})"),
       "\"data.object.metadata.package\" is not a string (it is object)"},
  };
  for (const auto& c : cases)
    EXPECT_EQ(error_of(c.body), c.error) << c.body;
}

TEST(stripe_event, bounds_the_body_strings_and_depth) {
  // A body up to 1 MiB parses (the padding sits in a member nobody reads);
  // one byte more is refused before parsing.
  const std::string head = R"({"id":"evt_1","type":"x","created":1,"padding":")";
  const std::string tail = "\"}";
  std::string body =
      head + std::string(stripe_event_bytes_max - head.size() - tail.size(), 'a') + tail;
  ASSERT_EQ(body.size(), stripe_event_bytes_max);
  EXPECT_TRUE(parse_stripe_event(body).has_value());
  body.insert(head.size(), "a");
  EXPECT_EQ(error_of(body), "the body is 1048577 bytes, over the 1048576-byte limit");

  // Strings that are read: up to 1024 bytes.
  const std::string ok(stripe_event_string_bytes_max, 'x');
  const std::string long_one(stripe_event_string_bytes_max + 1, 'x');
  EXPECT_TRUE(parse_stripe_event(R"({"id":")" + ok + R"(","type":"x","created":1})"));
  EXPECT_EQ(error_of(R"({"id":")" + long_one + R"(","type":"x","created":1})"),
            "\"id\" is 1025 bytes, over the 1024-byte limit");
  checkout_session_fields f;
  f.account = ok;
  EXPECT_TRUE(parse_stripe_event(checkout_session_event_body(f)));
  f.account = long_one;
  EXPECT_EQ(error_of(checkout_session_event_body(f)),
            "\"data.object.metadata.account\" is 1025 bytes, over the 1024-byte limit");
  f.account = "acct-1";
  f.client_reference_id = long_one;
  EXPECT_EQ(error_of(checkout_session_event_body(f)),
            "\"data.object.client_reference_id\" is 1025 bytes, over the 1024-byte limit");
  // Strings nobody reads are not bounded (Stripe allows 5000-byte URLs).
  EXPECT_TRUE(
      parse_stripe_event(completed_with(R"({"success_url":")" + std::string(5000, 'u') + R"("})")));

  // Nesting: 64 levels at most.
  auto nested = [](std::size_t depth) {
    return R"({"id":"evt_1","type":"x","created":1,"deep":)" + std::string(depth - 1, '[') +
           std::string(depth - 1, ']') + "}";
  };
  EXPECT_TRUE(parse_stripe_event(nested(stripe_event_depth_max)));
  EXPECT_TRUE(contains(error_of(nested(stripe_event_depth_max + 1)), "not JSON"));
}

TEST(stripe_event, records_purchase_for_paid_sessions_only) {
  const struct {
    std::string type;
    std::string payment_status;
    bool records;
  } cases[] = {
      {"checkout.session.completed", "paid", true},
      {"checkout.session.completed", "no_payment_required", true},
      // A delayed method (bank debit): the money comes later, with
      // async_payment_succeeded, or never (async_payment_failed).
      {"checkout.session.completed", "unpaid", false},
      {"checkout.session.completed", "", false},
      {"checkout.session.completed", "PAID", false},
      {"checkout.session.async_payment_succeeded", "paid", true},
      {"checkout.session.async_payment_failed", "unpaid", false},
      {"checkout.session.expired", "unpaid", false},
      {"payment_intent.succeeded", "paid", false},
  };
  for (const auto& c : cases) {
    checkout_session_fields f;
    f.event_type = c.type;
    f.payment_status = c.payment_status;
    f.account = "acct-1";
    f.package = "pack-100";
    auto e = parse_stripe_event(checkout_session_event_body(f));
    ASSERT_TRUE(e.has_value()) << e.error();
    EXPECT_EQ(records_purchase(*e), c.records) << c.type << " " << c.payment_status;
  }
}
}  // namespace stripe_event_test_cpp
