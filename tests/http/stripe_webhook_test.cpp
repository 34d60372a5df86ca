// Stripe's webhook over real HTTP: deliveries signed in the test exactly as
// Stripe signs them (t=<unix>,v1=HMAC-SHA256(secret, "t.body")), timestamped
// with the server's test clock. A paid checkout.session.completed records the
// purchase once per event id (retries a week later and after a restart are
// duplicates); a bad, stale or missing signature records nothing; other
// events and unpaid sessions are acknowledged and ignored.
//
// With --test-clock the 300-second tolerance is measured against the test
// clock, like all time-driven behaviour (shared/spec/api.md, --test-clock): a
// test that advances the clock a week signs Stripe's retry a week later.
#include <cstdlib>
#include <thread>

#include "support/commerce_http.hpp"

namespace stripe_webhook_test_cpp {  // unity builds: tests/CMakeLists.txt

using namespace creditd::testing;

namespace {

const std::string secret = "whsec_test";

std::vector<std::string> stripe_flags() {
  return {"--test-clock", "--catalog", demo_catalog_path(), "--stripe-webhook-secret", secret};
}

std::int64_t clock_s(http_client& c) {
  return clock_now(c) / us_per_second;
}

// Delivers `body` signed at the server's current time, as Stripe would.
http_reply deliver(unsigned short port, http_client& admin, const std::string& body,
                   const std::string& with_secret = secret) {
  return post_stripe(port, body, stripe_signature_header(with_secret, clock_s(admin), body));
}

std::string completed(const std::string& event_id, const std::string& account,
                      const std::string& package, std::int64_t created,
                      const std::string& payment_status = "paid") {
  return checkout_session_completed_body(event_id, account, package, payment_status, created);
}

}  // namespace

TEST(http_stripe_webhook, a_signed_paid_checkout_records_the_purchase) {
  live_server srv(stripe_flags());
  http_client c(srv.port(), admin_key);
  put_account(c, "buyer");
  const std::string body = completed("evt_1PaidPack300aaaaaaaa", "buyer", "pack-300", clock_s(c));
  auto r = deliver(srv.port(), c, body);
  ASSERT_EQ(r.status, 200u) << r.body;
  auto v = r.json();
  EXPECT_EQ(v.at("received").as_bool(), true);
  EXPECT_EQ(str(v, "event"), "evt_1PaidPack300aaaaaaaa");
  EXPECT_EQ(str(v, "type"), "checkout.session.completed");
  EXPECT_EQ(str(v, "outcome"), "recorded");
  const auto& p = v.at("purchase");
  ASSERT_TRUE(p.is_object()) << r.body;
  EXPECT_EQ(str(p, "account"), "buyer");
  EXPECT_EQ(str(p, "package"), "pack-300");
  EXPECT_EQ(str(p, "credits"), "300");
  EXPECT_EQ(str(p, "price"), "25");
  EXPECT_EQ(str(p, "currency"), "usd");
  EXPECT_EQ(str(p, "source"), "stripe");
  EXPECT_EQ(str(p, "external_id"), "evt_1PaidPack300aaaaaaaa");
  EXPECT_EQ(str(p, "balance_after"), "300");
  EXPECT_EQ(str(p.at("granted_lot"), "cost_basis"), "25");

  // The credits are there, spendable.
  EXPECT_EQ(available(c, "buyer"), "300");
  auto lots = lots_of(c, "buyer");
  ASSERT_EQ(lots.size(), 1u);
  EXPECT_EQ(sfield(lots[0], "id"), str(p, "lot"));
  EXPECT_EQ(sfield(lots[0], "kind"), "prepaid");
  EXPECT_EQ(sfield(lots[0], "source"), "purchase");
  EXPECT_NE(sfield(lots[0], "reason").find("stripe"), std::string::npos) << lots[0];
  EXPECT_EQ(str(charge(c, "buyer", "299"), "balance_after"), "1");
}

TEST(http_stripe_webhook, the_account_may_come_from_client_reference_id) {
  live_server srv(stripe_flags());
  http_client c(srv.port(), admin_key);
  put_account(c, "ref-user");
  checkout_session_fields f;
  f.event_id = "evt_1ClientRefbbbbbbbbbbbb";
  f.package = "pack-100";
  f.client_reference_id = "ref-user";
  f.created = clock_s(c);
  auto r = deliver(srv.port(), c, checkout_session_event_body(f));
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(field(r, "outcome"), "recorded");
  EXPECT_EQ(available(c, "ref-user"), "100");
}

TEST(http_stripe_webhook, a_bad_or_missing_signature_records_nothing) {
  live_server srv(stripe_flags());
  http_client c(srv.port(), admin_key);
  put_account(c, "buyer");
  const std::string before = state(c, "buyer");
  const std::int64_t now_s = clock_s(c);
  const std::string body = completed("evt_1Tamperedcccccccccccc", "buyer", "pack-100", now_s);
  const std::string header = stripe_signature_header(secret, now_s, body);

  auto expect_refused = [&](const http_reply& r, const std::string& what) {
    EXPECT_EQ(r.status, 400u) << what << ": " << r.body;
    EXPECT_EQ(r.error_code(), "invalid_signature") << what << ": " << r.body;
  };
  // The body changed after signing: a bigger pack.
  std::string tampered = body;
  tampered.replace(tampered.find("pack-100"), 8, "pack-600");
  expect_refused(post_stripe(srv.port(), tampered, header), "tampered body");
  // One byte of whitespace is enough.
  expect_refused(post_stripe(srv.port(), body + "\n", header), "trailing newline");
  // The signature changed.
  std::string bad_sig = header;
  bad_sig.back() = bad_sig.back() == '0' ? '1' : '0';
  expect_refused(post_stripe(srv.port(), body, bad_sig), "altered signature");
  // Signed with another secret.
  expect_refused(post_stripe(srv.port(), body, stripe_signature_header("whsec_other", now_s, body)),
                 "other secret");
  // Stale: signed 10 minutes before the server's clock (tolerance 300 s).
  expect_refused(post_stripe(srv.port(), body, stripe_signature_header(secret, now_s - 600, body)),
                 "stale");
  // Missing or malformed header.
  expect_refused(post_stripe(srv.port(), body, ""), "missing header");
  expect_refused(post_stripe(srv.port(), body, "t=abc,v1=00"), "malformed header");
  expect_refused(post_stripe(srv.port(), body, "v1=" + header.substr(header.find("v1=") + 3)),
                 "no timestamp");
  EXPECT_EQ(state(c, "buyer"), before);

  // Within the tolerance (4 minutes old) the same delivery is accepted, once.
  auto ok = post_stripe(srv.port(), body, stripe_signature_header(secret, now_s - 240, body));
  ASSERT_EQ(ok.status, 200u) << ok.body;
  EXPECT_EQ(field(ok, "outcome"), "recorded");
  EXPECT_EQ(available(c, "buyer"), "100");
}

TEST(http_stripe_webhook, a_retry_a_week_later_is_a_duplicate_and_grants_nothing) {
  live_server srv(stripe_flags());
  http_client c(srv.port(), admin_key);
  put_account(c, "buyer");
  const std::string body = completed("evt_1Retrieddddddddddddd", "buyer", "pack-600", clock_s(c));
  auto first = deliver(srv.port(), c, body);
  ASSERT_EQ(first.status, 200u) << first.body;
  EXPECT_EQ(field(first, "outcome"), "recorded");
  EXPECT_EQ(available(c, "buyer"), "600");

  // At once (our 200 was lost on the way back): a duplicate.
  auto again = deliver(srv.port(), c, body);
  ASSERT_EQ(again.status, 200u) << again.body;
  EXPECT_EQ(field(again, "outcome"), "duplicate");
  EXPECT_TRUE(again.json().at("purchase").is_null()) << again.body;
  EXPECT_EQ(available(c, "buyer"), "600");

  // Stripe retries for up to three days; a week later, signed afresh as
  // Stripe signs each attempt.
  const std::string before = state(c, "buyer");
  advance(c, 7 * 86400);
  auto late = deliver(srv.port(), c, body);
  ASSERT_EQ(late.status, 200u) << late.body;
  EXPECT_EQ(field(late, "outcome"), "duplicate");
  EXPECT_EQ(field(late, "event"), "evt_1Retrieddddddddddddd");
  EXPECT_EQ(state(c, "buyer"), before);
  EXPECT_EQ(entries_of_type(c, "buyer", "grant").size(), 1u);
}

TEST(http_stripe_webhook, a_retry_after_a_restart_is_a_duplicate) {
  live_server srv(stripe_flags());
  std::string before;
  {
    http_client c(srv.port(), admin_key);
    put_account(c, "buyer");
    const std::string body =
        completed("evt_1Restartedeeeeeeeeeee", "buyer", "pack-100", clock_s(c));
    auto first = deliver(srv.port(), c, body);
    ASSERT_EQ(first.status, 200u) << first.body;
    EXPECT_EQ(field(first, "outcome"), "recorded");
    before = state(c, "buyer");
  }
  EXPECT_EQ(srv.terminate(), 0);
  srv.restart();
  http_client c(srv.port(), admin_key);
  ASSERT_EQ(available(c, "buyer"), "100") << "the purchase did not survive the restart";
  advance(c, 3600);
  const std::string body = completed("evt_1Restartedeeeeeeeeeee", "buyer", "pack-100", clock_s(c));
  auto again = deliver(srv.port(), c, body);
  ASSERT_EQ(again.status, 200u) << again.body;
  EXPECT_EQ(field(again, "outcome"), "duplicate")
      << "the event id must be remembered across restarts (the store keeps it)";
  EXPECT_EQ(available(c, "buyer"), "100");
  EXPECT_EQ(entries_of_type(c, "buyer", "grant").size(), 1u);

  // And after a SIGKILL.
  srv.kill_now();
  srv.restart();
  http_client k(srv.port(), admin_key);
  auto third = deliver(srv.port(), k, body);
  ASSERT_EQ(third.status, 200u) << third.body;
  EXPECT_EQ(field(third, "outcome"), "duplicate");
  EXPECT_EQ(available(k, "buyer"), "100");
}

TEST(http_stripe_webhook, an_unknown_account_or_package_is_404_and_not_consumed) {
  live_server srv(stripe_flags());
  http_client c(srv.port(), admin_key);
  const std::string ghost = completed("evt_1Ghostffffffffffffff", "ghost", "pack-100", clock_s(c));
  auto r = deliver(srv.port(), c, ghost);
  EXPECT_EQ(r.status, 404u) << r.body;
  EXPECT_EQ(r.error_code(), "not_found");
  EXPECT_NE(error_field(r, "message").find("ghost"), std::string::npos) << r.body;
  EXPECT_NE(error_field(r, "message").find("metadata.account"), std::string::npos) << r.body;
  EXPECT_EQ(c.get("/v1/accounts/ghost").status, 404u) << "a webhook must not create accounts";

  put_account(c, "buyer");
  const std::string before = state(c, "buyer");
  const std::string nopack = completed("evt_1NoPackagegggggggggg", "buyer", "pack-7", clock_s(c));
  r = deliver(srv.port(), c, nopack);
  EXPECT_EQ(r.status, 404u) << r.body;
  EXPECT_EQ(r.error_code(), "not_found");
  EXPECT_NE(error_field(r, "message").find("pack-7"), std::string::npos) << r.body;
  EXPECT_NE(error_field(r, "message").find("metadata.package"), std::string::npos) << r.body;
  EXPECT_EQ(state(c, "buyer"), before);

  // Stripe retries a 404. Once the account exists, the same event records.
  put_account(c, "ghost");
  r = deliver(srv.port(), c, ghost);
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(field(r, "outcome"), "recorded");
  EXPECT_EQ(available(c, "ghost"), "100");

  // A session without metadata is a bad request, recorded nowhere.
  checkout_session_fields f;
  f.event_id = "evt_1NoMetadatahhhhhhhhhh";
  f.created = clock_s(c);
  r = deliver(srv.port(), c, checkout_session_event_body(f));
  EXPECT_EQ(r.status, 400u) << r.body;
  EXPECT_EQ(r.error_code(), "invalid_request");
  // Signed garbage is a bad request too.
  r = deliver(srv.port(), c, "{not json");
  EXPECT_EQ(r.status, 400u) << r.body;
  EXPECT_EQ(r.error_code(), "invalid_request");
  EXPECT_EQ(state(c, "buyer"), before);
}

TEST(http_stripe_webhook, other_events_and_unpaid_sessions_are_ignored) {
  live_server srv(stripe_flags());
  http_client c(srv.port(), admin_key);
  put_account(c, "buyer");
  const std::string before = state(c, "buyer");

  for (const char* type : {"checkout.session.expired", "checkout.session.async_payment_failed",
                           "payment_intent.succeeded", "invoice.paid"}) {
    checkout_session_fields f;
    f.event_type = type;
    f.event_id = std::string("evt_1Other") + std::to_string(std::strlen(type)) + "iiiiiiii";
    f.account = "buyer";
    f.package = "pack-100";
    f.created = clock_s(c);
    auto r = deliver(srv.port(), c, checkout_session_event_body(f));
    ASSERT_EQ(r.status, 200u) << type << ": " << r.body;
    EXPECT_EQ(field(r, "outcome"), "ignored") << type;
    EXPECT_EQ(field(r, "type"), type);
    EXPECT_TRUE(r.json().at("purchase").is_null());
  }
  // An event of another object altogether.
  const std::string customer = R"({
  "id": "evt_1Customerjjjjjjjjjjjj",
  "object": "event",
  "api_version": "2024-06-20",
  "created": )" + std::to_string(clock_s(c)) +
                               R"(,
  "data": {
    "object": {
      "id": "cus_Q1",
      "object": "customer",
      "email": "jenny.rosen@example.com"
    }
  },
  "livemode": false,
  "pending_webhooks": 1,
  "request": {
    "id": null,
    "idempotency_key": null
  },
  "type": "customer.created"
})";
  auto r = deliver(srv.port(), c, customer);
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(field(r, "outcome"), "ignored");
  EXPECT_EQ(state(c, "buyer"), before);

  // A completed session paid later (e.g. a bank transfer): ignored while
  // unpaid, recorded on checkout.session.async_payment_succeeded.
  const std::string unpaid =
      completed("evt_1Unpaidkkkkkkkkkkkkk", "buyer", "pack-300", clock_s(c), "unpaid");
  r = deliver(srv.port(), c, unpaid);
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(field(r, "outcome"), "ignored");
  EXPECT_EQ(state(c, "buyer"), before);

  advance(c, 2 * 86400);
  checkout_session_fields paid;
  paid.event_type = "checkout.session.async_payment_succeeded";
  paid.event_id = "evt_1AsyncPaidlllllllllll";
  paid.account = "buyer";
  paid.package = "pack-300";
  paid.created = clock_s(c);
  r = deliver(srv.port(), c, checkout_session_event_body(paid));
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(field(r, "outcome"), "recorded");
  EXPECT_EQ(field(r, "type"), "checkout.session.async_payment_succeeded");
  EXPECT_EQ(available(c, "buyer"), "300");
  // The unpaid completion retried is still ignored: nothing twice.
  r = deliver(srv.port(), c, unpaid);
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_NE(field(r, "outcome"), "recorded");
  EXPECT_EQ(available(c, "buyer"), "300");

  // no_payment_required (a 100 % coupon) records.
  r = deliver(srv.port(), c,
              completed("evt_1Freemmmmmmmmmmmmmmmm", "buyer", "pack-100", clock_s(c),
                        "no_payment_required"));
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(field(r, "outcome"), "recorded");
  EXPECT_EQ(available(c, "buyer"), "400");
}

TEST(http_stripe_webhook, without_a_secret_the_endpoint_is_not_configured) {
  ::unsetenv("CREDITD_STRIPE_WEBHOOK_SECRET");
  live_server srv({"--test-clock", "--catalog", demo_catalog_path()});
  http_client c(srv.port(), admin_key);
  put_account(c, "buyer");
  const std::string body = completed("evt_1NoSecretnnnnnnnnnnn", "buyer", "pack-100", clock_s(c));
  auto r = deliver(srv.port(), c, body);
  EXPECT_EQ(r.status, 503u) << r.body;
  EXPECT_EQ(r.error_code(), "not_configured");
  EXPECT_NE(error_field(r, "message").find("stripe-webhook-secret"), std::string::npos) << r.body;
  r = post_stripe(srv.port(), body, "");
  EXPECT_EQ(r.status, 503u) << r.body;
  EXPECT_EQ(available(c, "buyer"), "0");
}

TEST(http_stripe_webhook, the_secret_may_come_from_the_environment) {
  temp_dir dir;
  server_process proc(dir.file("creditd.db"), admin_key,
                      {"--test-clock", "--catalog", demo_catalog_path()},
                      {{"CREDITD_STRIPE_WEBHOOK_SECRET", "whsec_from_env"}});
  http_client c(proc.port(), admin_key);
  put_account(c, "buyer");
  const std::string body = completed("evt_1FromEnvoooooooooooo", "buyer", "pack-100", clock_s(c));
  auto refused = deliver(proc.port(), c, body);  // signed with whsec_test
  EXPECT_EQ(refused.status, 400u) << refused.body;
  auto r = deliver(proc.port(), c, body, "whsec_from_env");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(field(r, "outcome"), "recorded");
  EXPECT_EQ(available(c, "buyer"), "100");
}

TEST(http_stripe_webhook, concurrent_deliveries_of_one_event_record_it_once) {
  live_server srv(stripe_flags());
  http_client c(srv.port(), admin_key);
  put_account(c, "buyer");
  const std::string body = completed("evt_1Concurrentpppppppppp", "buyer", "pack-100", clock_s(c));
  const std::string header = stripe_signature_header(secret, clock_s(c), body);
  constexpr int threads = 8;
  std::vector<std::string> outcomes(threads);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      try {
        auto r = post_stripe(srv.port(), body, header);
        outcomes[static_cast<std::size_t>(t)] = r.status == 200 ? field(r, "outcome") : describe(r);
      } catch (const std::exception& e) {
        outcomes[static_cast<std::size_t>(t)] = e.what();
      }
    });
  }
  for (auto& t : pool)
    t.join();
  int recorded = 0, duplicate = 0;
  for (const auto& o : outcomes) {
    if (o == "recorded") ++recorded;
    if (o == "duplicate") ++duplicate;
  }
  EXPECT_EQ(recorded, 1);
  EXPECT_EQ(duplicate, threads - 1);
  EXPECT_EQ(available(c, "buyer"), "100");
  // The purchase list shows it once, with Stripe's event id.
  auto list = expect(c.get("/v1/accounts/buyer/purchases"), 200, "list").json();
  ASSERT_EQ(list.at("data").as_array().size(), 1u) << list;
  EXPECT_EQ(str(list.at("data").as_array()[0], "source"), "stripe");
  EXPECT_EQ(str(list.at("data").as_array()[0], "external_id"), "evt_1Concurrentpppppppppp");
}
}  // namespace stripe_webhook_test_cpp
