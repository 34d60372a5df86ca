// The scenario of the journal audit's tests (tests/unit/audit_test.cpp on
// folded rows, tests/store/audit_test.cpp on a real store): every kind of
// command, run on an empty ledger, with a commit where a store would commit.
#pragma once

#include <cstdint>
#include <vector>

#include "../unit/ledger_fixture.hpp"
#include "ledger/ledger.hpp"

namespace creditd::ledger::testing {

inline time_us at(std::int64_t seconds) {
  return t0 + secs(seconds);
}

// The ids of rows the tests alter.
struct audit_scenario_ids {
  object_id lot_a = 0, lot_b = 0, lot_v = 0, lot_x = 0, lot_y = 0;
  object_id first_charge = 0, priced_charge = 0, refunded_charge = 0;
  object_id captured_hold = 0, released_hold = 0, expired_hold = 0;
  object_id purchase_id = 0;
};

// Runs every kind of command on `led` (empty), over four accounts and
// forty days, calling commit() after each group of commands:
//   acme: grants of each kind (expiring, future-effective, scoped), charges,
//         a batch, a priced charge, holds captured, released and expired,
//         lot expiry (with holds due at the same instant), refunds into a
//         live lot, into a voided lot and into a lot past its expiry,
//         adjustments both ways, a void while held, an expiry while held, a
//         zero charge and zero holds, a purchase;
//   post: postpaid credit across a month boundary (a hold placed in one
//         month and captured in the next), refunds of postpaid credit;
//   topup: automatic top-up;
//   sub: a subscription started in the past (periods granted at their own
//        instants, with rollover), renewed again later.
template <class Commit>
audit_scenario_ids run_audit_scenario(ledger& led, Commit&& commit) {
  audit_scenario_ids ids;
  // The catalog and the accounts at t0.
  must(led.put_price(price_cmd{"img", "image.generate", {}, cr(1) + cr(1) / 2}, t0));
  must(led.put_package(package_cmd{"pack", cr(100), 9'990'000, "usd", 30}, t0));
  must(led.put_plan(plan_cmd{"pro", cr(50), period_unit::month, cr(20)}, t0));
  account_cmd acme{"acme", "Acme", account_settings{}};
  acme.settings->reserve = cr(2);
  acme.settings->postpaid_limit = cr(20);
  must(led.put_account(acme, t0));
  account_cmd post{"post", "Post", account_settings{}};
  post.settings->postpaid_limit = cr(50);
  must(led.put_account(post, t0));
  account_cmd topup{"topup", "Topup", account_settings{}};
  topup.settings->auto_topup = auto_topup_settings{cr(10), "pack", 2};
  must(led.put_account(topup, t0));
  must(led.put_account(account_cmd{"sub", "Sub", std::nullopt}, t0));
  commit();

  // acme: grants of every kind.
  grant_cmd a = grant_of(cr(100), lot_kind::prepaid, std::nullopt, "acme");
  ids.lot_a = must(led.grant(a, at(1)))->id;
  grant_cmd b = grant_of(cr(10), lot_kind::promo, at(3600), "acme");
  ids.lot_b = must(led.grant(b, at(2)))->id;
  grant_cmd c = grant_of(cr(30), lot_kind::plan, t0 + days(40), "acme");
  c.effective_at = t0 + days(1);
  must(led.grant(c, at(3)));
  grant_cmd e = grant_of(cr(8), lot_kind::prepaid, at(7200), "acme");
  e.cost_basis = 800'000;
  e.currency = "usd";
  must(led.grant(e, at(5)));
  grant_cmd v = grant_of(cr(5), lot_kind::promo, std::nullopt, "acme");
  v.priority = 1;
  v.scope = {"video.*"};
  ids.lot_v = must(led.grant(v, at(6)))->id;
  grant_cmd x = grant_of(cr(5), lot_kind::promo, at(5000), "acme");
  x.priority = 1;
  x.scope = {"audio.*"};
  ids.lot_x = must(led.grant(x, at(7)))->id;
  grant_cmd y = grant_of(cr(10), lot_kind::promo, at(9000), "acme");
  y.priority = 1;
  y.scope = {"music.*"};
  ids.lot_y = must(led.grant(y, at(8)))->id;
  commit();

  // Charges: one, a batch, a priced one, a zero one.
  ids.first_charge = must(led.charge(charge_of(cr(3), "image.generate", "acme"), at(10)))->id;
  std::vector<charge_cmd> batch = {charge_of(cr(4), "text.generate", "acme"),
                                   charge_of(cr(5), "image.generate", "acme")};
  must(led.charge_batch(batch, at(11)));
  charge_cmd priced = charge_of(0, "image.generate", "acme");
  priced.from_catalog = true;
  priced.quantity = cr(1) + cr(1) / 2;
  priced.metadata = R"({"job":"j-1"})";
  ids.priced_charge = must(led.charge(priced, at(12)))->id;
  must(led.charge(charge_of(0, "image.generate", "acme"), at(13)));
  commit();

  // Holds: captured in part, released, expired; zero holds.
  hold_cmd h1 = hold_of(cr(20), 600, "image.generate", "acme");
  h1.reference = "job-7";
  ids.captured_hold = must(led.place_hold(h1, at(14)))->id;
  must(led.capture(ids.captured_hold, cr(12), at(15)));
  ids.released_hold =
      must(led.place_hold(hold_of(cr(5), 600, "text.generate", "acme"), at(16)))->id;
  must(led.release(ids.released_hold, at(17)));
  ids.expired_hold = must(led.place_hold(hold_of(cr(4), 30, "text.generate", "acme"), at(18)))->id;
  const object_id zero_released =
      must(led.place_hold(hold_of(0, 600, "image.generate", "acme"), at(19)))->id;
  must(led.release(zero_released, at(20)));
  const object_id zero_captured =
      must(led.place_hold(hold_of(0, 600, "image.generate", "acme"), at(21)))->id;
  must(led.capture(zero_captured, std::nullopt, at(22)));
  led.run_due(at(60));  // the 30 s hold expires at 48
  commit();

  // A charge on the video lot, then a hold on it, the lot voided while
  // held, the hold released (its credits voided), the charge refunded
  // into a new lot.
  const object_id video_charge =
      must(led.charge(charge_of(cr(1), "video.render", "acme"), at(61)))->id;
  const object_id video_hold =
      must(led.place_hold(hold_of(cr(3), 600, "video.render", "acme"), at(62)))->id;
  must(led.void_lot(ids.lot_v, "campaign over", at(63)));
  must(led.release(video_hold, at(64)));
  must(led.refund(refund_cmd{video_charge, std::nullopt, "sorry"}, at(65)));
  // A hold on the audio lot across its expiry: released after it.
  const object_id audio_hold =
      must(led.place_hold(hold_of(cr(4), 86400, "audio.speak", "acme"), at(66)))->id;
  // Adjustments.
  must(led.adjust(adjust_cmd{"acme", cr(5), "goodwill"}, at(67)));
  must(led.adjust(adjust_cmd{"acme", -cr(3), "correction"}, at(68)));
  // A purchase.
  ids.purchase_id =
      must(led.purchase(purchase_cmd{"acme", "pack", purchase_source::api, "", "order 1"}, at(69)))
          .made.id;
  commit();

  // Lot b expires at 3600 (written by the next command on acme), lot x at
  // 5000 with 4 held: the hold's release finds it expired.
  must(led.charge(charge_of(cr(1), "text.generate", "acme"), at(4000)));
  led.run_due(at(5001));
  must(led.release(audio_hold, at(6000)));
  // The first charge took from lot b, which has expired: refunded into a
  // new lot past its expiry (an expire entry follows at once).
  ids.refunded_charge = ids.first_charge;
  must(led.refund(refund_cmd{ids.first_charge, cr(2), "late refund"}, at(6001)));
  // A charge refunded into its live lot, in two parts.
  const object_id live = must(led.charge(charge_of(cr(6), "text.generate", "acme"), at(6002)))->id;
  must(led.refund(refund_cmd{live, cr(1), ""}, at(6003)));
  must(led.refund(refund_cmd{live, std::nullopt, ""}, at(6004)));
  // Lot y and two holds expire at 9000: the lot first, while both holds
  // are due (their credits count as returned in its balance_after).
  must(led.place_hold(hold_of(cr(3), 600, "music.play", "acme"), at(8400)));
  must(led.place_hold(hold_of(cr(2), 600, "text.generate", "acme"), at(8400)));
  led.run_due(at(9500));
  // The future-effective plan lot is spent once effective.
  must(led.charge(charge_of(cr(40), "text.generate", "acme"), t0 + days(1) + secs(5)));
  commit();

  // post: postpaid credit, across the month boundary.
  must(led.grant(grant_of(cr(2), lot_kind::prepaid, std::nullopt, "post"), at(100)));
  must(led.charge(charge_of(cr(5), "llm.tokens", "post"), at(101)));  // 2 from the lot, 3 postpaid
  const object_id post_hold =
      must(led.place_hold(hold_of(cr(5), 600, "llm.tokens", "post"), at(102)))->id;
  must(led.release(post_hold, at(103)));
  const object_id post_charge =
      must(led.charge(charge_of(cr(7), "llm.tokens", "post"), at(104)))->id;
  must(led.refund(refund_cmd{post_charge, cr(3), ""}, at(105)));
  const object_id cross =
      must(led.place_hold(hold_of(cr(6), 600, "llm.tokens", "post"), dec1 - secs(60)))->id;
  must(led.capture(cross, cr(2), dec1 + secs(60)));
  must(led.charge(charge_of(cr(4), "llm.tokens", "post"), dec1 + secs(61)));
  must(led.refund(refund_cmd{post_charge, std::nullopt, ""}, dec1 + secs(62)));
  commit();

  // topup: charges cross 10 downwards, a pack is bought.
  must(led.grant(grant_of(cr(20), lot_kind::prepaid, std::nullopt, "topup"), at(200)));
  must(led.charge(charge_of(cr(12), "image.generate", "topup"), at(201)));
  must(led.charge(charge_of(cr(3), "image.generate", "topup"), at(202)));
  // A name change: settings replaced by the same ones, updated_at moves.
  must(led.put_account(account_cmd{"topup", "Topup Inc", std::nullopt}, at(203)));
  must(led.charge(charge_of(cr(100), "image.generate", "topup"), at(204)));
  commit();

  // sub: a charge, then a subscription started 45 days ago: its periods
  // are granted at their own instants, before that charge's.
  must(led.grant(grant_of(cr(1), lot_kind::prepaid, std::nullopt, "sub"), at(300)));
  must(led.charge(charge_of(cr(1), "image.generate", "sub"), at(301)));
  subscription_cmd s{"sub", "pro", t0 - days(45), ""};
  must(led.put_subscription(s, at(302)));
  must(led.charge(charge_of(cr(15), "image.generate", "sub"), at(303)));
  led.run_due(t0 + days(20));  // the next boundary, with rollover
  commit();
  return ids;
}

}  // namespace creditd::ledger::testing
