// Refunds of the ledger core: full and partial, order across lots, and refunds
// whose lots were voided or expired in the meantime.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ledger/ledger.hpp"
#include "ledger_fixture.hpp"

namespace creditd::ledger::testing {
namespace ledger_refund_test_cpp {  // unity builds: tests/CMakeLists.txt
namespace {

using ledger_refund = ledger_fixture;

refund_cmd refund_of(object_id charge_id, std::optional<micros> amount = std::nullopt,
                     std::string reason = "") {
  refund_cmd r;
  r.charge_id = charge_id;
  r.amount = amount;
  r.reason = std::move(reason);
  return r;
}

TEST_F(ledger_refund, full_by_default) {
  open();
  const object_id l = grant(cr(10)).id;
  const charge_record& c = charge(cr(4));
  const std::size_t mark = led.pending_entry_count();
  const object_id refund_id = led.next_object_id();
  const refund_result r =
      must(led.refund(refund_of(c.id, std::nullopt, "bad output"), t0 + secs(1)));
  EXPECT_EQ(r.refund_id, refund_id);
  EXPECT_EQ(r.original, &c);
  EXPECT_EQ(r.amount, cr(4));
  EXPECT_EQ(r.parts, (std::vector<lot_part>{{l, cr(4)}}));
  EXPECT_EQ(c.refunded, cr(4));
  EXPECT_EQ(c.parts, (std::vector<charge_part>{{l, cr(4), cr(4)}}));
  EXPECT_EQ(lot_at(l).remaining, cr(10));
  EXPECT_EQ(lot_at(l).spent, 0);
  EXPECT_EQ(led.next_object_id(), refund_id + 1);

  auto es = entries_since(mark);
  ASSERT_EQ(es.size(), 1u);
  EXPECT_EQ(es[0].type, entry_type::refund);
  EXPECT_EQ(es[0].amount, cr(4));
  EXPECT_EQ(es[0].charge_id, c.id);
  EXPECT_EQ(es[0].refund_id, refund_id);
  EXPECT_EQ(es[0].hold_id, 0u);
  EXPECT_EQ(es[0].parts, (std::vector<lot_part>{{l, cr(4)}}));
  EXPECT_EQ(es[0].reason, "bad output");
  EXPECT_EQ(es[0].balance_after, cr(10));
  EXPECT_EQ(es[0].created_at, t0 + secs(1));
  EXPECT_EQ(available(t0 + secs(1)), cr(10));
}

TEST_F(ledger_refund, partial_refunds_until_nothing_is_left) {
  open();
  const object_id l = grant(cr(10)).id;
  const charge_record& c = charge(cr(4));
  struct step {
    std::optional<micros> amount;
    micros refunded;  // by this step
    micros refunded_total;
    micros balance;
  };
  for (const step& s :
       {step{cr(1), cr(1), cr(1), cr(7)}, step{1'500'000, 1'500'000, 2'500'000, 8'500'000},
        step{std::nullopt, 1'500'000, cr(4), cr(10)}}) {
    const refund_result r = must(led.refund(refund_of(c.id, s.amount), t0));
    EXPECT_EQ(r.amount, s.refunded);
    EXPECT_EQ(r.parts, (std::vector<lot_part>{{l, s.refunded}}));
    EXPECT_EQ(c.refunded, s.refunded_total);
    EXPECT_EQ(lot_at(l).remaining, s.balance);
    EXPECT_EQ(available(), s.balance);
  }
  const std::size_t entries = led.pending_entry_count();
  for (std::optional<micros> amount : {std::optional<micros>{}, std::optional<micros>{1}}) {
    auto r = led.refund(refund_of(c.id, amount), t0);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, errc::nothing_to_refund);
    EXPECT_STREQ(r.error().message, "the charge is fully refunded");
  }
  EXPECT_EQ(led.pending_entry_count(), entries);
}

TEST_F(ledger_refund, amounts_that_are_refused) {
  open();
  grant(cr(10));
  const charge_record& c = charge(cr(4));
  const std::size_t entries = led.pending_entry_count();
  const object_id next_id = led.next_object_id();
  struct refusal {
    refund_cmd cmd;
    errc code;
    const char* message;
  };
  const std::vector<refusal> cases = {
      {refund_of(c.id, cr(4) + 1), errc::refund_too_large, "amount is more than is left to refund"},
      {refund_of(c.id, 0), errc::invalid_argument, "amount must be positive"},
      {refund_of(c.id, -1), errc::invalid_argument, "amount must be positive"},
      {refund_of(c.id, cr(1), std::string(1025, 'r')), errc::invalid_argument,
       "reason is longer than 1024 bytes"},
      {refund_of(999'999), errc::charge_not_found, ""},
  };
  for (const refusal& r : cases) {
    auto out = led.refund(r.cmd, t0);
    ASSERT_FALSE(out.has_value()) << r.message;
    EXPECT_EQ(out.error().code, r.code) << r.message;
    EXPECT_STREQ(out.error().message, r.message);
  }
  EXPECT_EQ(led.pending_entry_count(), entries);
  EXPECT_EQ(led.next_object_id(), next_id);
  EXPECT_EQ(c.refunded, 0);

  must(led.refund(refund_of(c.id, cr(3)), t0));
  auto big = led.refund(refund_of(c.id, cr(2)), t0);
  ASSERT_FALSE(big.has_value());
  EXPECT_EQ(big.error().code, errc::refund_too_large);
  EXPECT_EQ(must(led.refund(refund_of(c.id, cr(1)), t0)).amount, cr(1));
  EXPECT_EQ(available(), cr(10));
}

TEST_F(ledger_refund, zero_charge_has_nothing_to_refund) {
  open();
  const charge_record& c = charge(0);
  EXPECT_EQ(refusal(led.refund(refund_of(c.id), t0)).code, errc::nothing_to_refund);
}

TEST_F(ledger_refund, reverse_consumption_order_across_lots) {
  account_settings s;
  s.postpaid_limit = cr(4);
  open("acct", s);
  const object_id promo = grant(cr(3), lot_kind::promo).id;
  const object_id prepaid = grant(cr(5)).id;
  const charge_record& c = charge(cr(10));
  ASSERT_EQ(c.parts, (std::vector<charge_part>{
                         {promo, cr(3), 0}, {prepaid, cr(5), 0}, {postpaid_lot_id, cr(2), 0}}));
  EXPECT_EQ(acct().postpaid_used, cr(2));
  EXPECT_TRUE(acct().active_lots.empty());

  struct step {
    micros amount;
    std::vector<lot_part> parts;
    micros promo_remaining, prepaid_remaining, postpaid_used;
  };
  const std::vector<step> steps = {
      {cr(4), {{postpaid_lot_id, cr(2)}, {prepaid, cr(2)}}, 0, cr(2), 0},
      {cr(5), {{prepaid, cr(3)}, {promo, cr(2)}}, cr(2), cr(5), 0},
      {cr(1), {{promo, cr(1)}}, cr(3), cr(5), 0},
  };
  for (const step& st : steps) {
    const std::size_t mark = led.pending_entry_count();
    const refund_result r = must(led.refund(refund_of(c.id, st.amount), t0));
    EXPECT_EQ(r.parts, st.parts);
    EXPECT_EQ(entries_since(mark)[0].parts, st.parts);
    EXPECT_EQ(lot_at(promo).remaining, st.promo_remaining);
    EXPECT_EQ(lot_at(prepaid).remaining, st.prepaid_remaining);
    EXPECT_EQ(acct().postpaid_used, st.postpaid_used);
  }
  EXPECT_EQ(c.parts,
            (std::vector<charge_part>{
                {promo, cr(3), cr(3)}, {prepaid, cr(5), cr(5)}, {postpaid_lot_id, cr(2), cr(2)}}));
  // Both depleted lots were revived, in consumption order.
  EXPECT_EQ(active_ids(), (std::vector<object_id>{promo, prepaid}));
  EXPECT_EQ(available(), cr(12));
}

TEST_F(ledger_refund, depleted_lot_is_revived) {
  open();
  const object_id l = grant(cr(5)).id;
  const object_id other = grant(cr(5)).id;
  const charge_record& c = charge(cr(5));
  EXPECT_EQ(lot_at(l).status, lot_status::depleted);
  EXPECT_EQ(active_ids(), (std::vector<object_id>{other}));
  must(led.refund(refund_of(c.id, cr(2)), t0));
  EXPECT_EQ(lot_at(l).status, lot_status::active);
  EXPECT_EQ(lot_at(l).remaining, cr(2));
  EXPECT_EQ(lot_at(l).spent, cr(3));
  EXPECT_EQ(active_ids(), (std::vector<object_id>{l, other}));
  EXPECT_EQ(charge(cr(1)).parts, (std::vector<charge_part>{{l, cr(1), 0}}));
  EXPECT_EQ(available(), cr(6));
}

TEST_F(ledger_refund, voided_lot_refunds_into_a_new_lot) {
  open();
  grant_cmd g = grant_of(cr(10), lot_kind::plan, t0 + days(30));
  g.priority = 25;
  g.scope = {"image.*"};
  g.source = "subscription";
  g.reason = "period 2026-11";
  g.cost_basis = cr(5);
  g.currency = "EUR";
  const object_id old = grant(g).id;
  const charge_record& c = charge(cr(4));
  must(led.void_lot(old, "chargeback", t0 + secs(1)));
  EXPECT_EQ(available(t0 + secs(1)), 0);

  const time_us now = t0 + hours(1);
  const std::size_t mark = led.pending_entry_count();
  const object_id refund_id = led.next_object_id();
  const refund_result r = must(led.refund(refund_of(c.id, cr(3), "failed job"), now));
  EXPECT_EQ(r.refund_id, refund_id);
  ASSERT_EQ(r.parts.size(), 1u);
  const object_id fresh_id = r.parts[0].lot;
  EXPECT_EQ(fresh_id, refund_id + 1);
  EXPECT_EQ(r.parts[0].amount, cr(3));

  const lot& fresh = lot_at(fresh_id);
  EXPECT_EQ(fresh.owner, &acct());
  EXPECT_EQ(fresh.kind, lot_kind::plan);
  EXPECT_EQ(fresh.status, lot_status::active);
  EXPECT_EQ(fresh.priority, 25);
  EXPECT_EQ(fresh.amount, cr(3));
  EXPECT_EQ(fresh.remaining, cr(3));
  EXPECT_EQ(fresh.spent, 0);
  EXPECT_EQ(fresh.effective_at, now);
  EXPECT_EQ(fresh.created_at, now);
  EXPECT_EQ(fresh.expires_at, t0 + days(30));  // the old lot's expiry
  EXPECT_EQ(fresh.scope, (std::vector<std::string>{"image.*"}));
  EXPECT_EQ(fresh.source, "refund");
  EXPECT_EQ(fresh.reason, format_id(id_kind::charge, c.id));
  EXPECT_EQ(fresh.cost_basis, 0);
  EXPECT_EQ(fresh.currency, "EUR");
  EXPECT_EQ(active_ids(), (std::vector<object_id>{fresh_id}));

  // The voided lot is untouched.
  const lot& o = lot_at(old);
  EXPECT_EQ(o.status, lot_status::voided);
  EXPECT_EQ(o.spent, cr(4));
  EXPECT_EQ(o.voided, cr(6));
  EXPECT_EQ(o.remaining, 0);
  EXPECT_EQ(c.parts, (std::vector<charge_part>{{old, cr(4), cr(3)}}));

  auto es = entries_since(mark);
  ASSERT_EQ(es.size(), 1u);
  EXPECT_EQ(es[0].type, entry_type::refund);
  EXPECT_EQ(es[0].parts, (std::vector<lot_part>{{fresh_id, cr(3)}}));
  EXPECT_EQ(es[0].reason, "failed job");
  EXPECT_EQ(es[0].balance_after, cr(3));
  EXPECT_EQ(available(now), cr(3));

  // The new lot keeps the old scope and expiry.
  EXPECT_EQ(refusal(led.charge(charge_of(cr(1), "llm.tokens"), now)).reason, refusal_reason::scope);
  EXPECT_EQ(led.next_due(), t0 + days(30));
  EXPECT_EQ(available(t0 + days(30)), 0);
  // The rest of the charge goes to another new lot.
  const refund_result rest = must(led.refund(refund_of(c.id), now));
  EXPECT_EQ(rest.parts.size(), 1u);
  EXPECT_NE(rest.parts[0].lot, fresh_id);
  EXPECT_EQ(rest.parts[0].amount, cr(1));
  EXPECT_EQ(available(now), cr(4));
}

TEST_F(ledger_refund, voided_forever_lot_refunds_into_a_forever_lot) {
  open();
  const object_id old = grant(cr(10)).id;
  const charge_record& c = charge(cr(4));
  must(led.void_lot(old, "", t0));
  const refund_result r = must(led.refund(refund_of(c.id), t0 + secs(1)));
  const lot& fresh = lot_at(r.parts[0].lot);
  EXPECT_EQ(fresh.expires_at, no_expiry);
  EXPECT_EQ(fresh.kind, lot_kind::prepaid);
  EXPECT_EQ(fresh.priority, 30);
  EXPECT_EQ(fresh.remaining, cr(4));
  EXPECT_EQ(led.next_due(), no_expiry);
}

TEST_F(ledger_refund, expired_lot_refunds_into_a_lot_born_expired) {
  open();
  const time_us e = t0 + hours(1);
  const object_id old = grant(cr(10), lot_kind::promo, e).id;
  const charge_record& c = charge(cr(4));
  const time_us now = e + secs(1);
  const std::size_t mark = led.pending_entry_count();
  const refund_result r = must(led.refund(refund_of(c.id), now));
  ASSERT_EQ(r.parts.size(), 1u);
  const object_id fresh_id = r.parts[0].lot;
  EXPECT_NE(fresh_id, old);
  EXPECT_EQ(r.parts[0].amount, cr(4));
  const lot& fresh = lot_at(fresh_id);
  EXPECT_EQ(fresh.status, lot_status::expired);
  EXPECT_EQ(fresh.amount, cr(4));
  EXPECT_EQ(fresh.expired, cr(4));
  EXPECT_EQ(fresh.remaining, 0);
  EXPECT_EQ(fresh.expires_at, e);
  EXPECT_EQ(fresh.kind, lot_kind::promo);
  EXPECT_EQ(fresh.source, "refund");
  EXPECT_TRUE(acct().active_lots.empty());

  auto es = entries_since(mark);
  ASSERT_EQ(es.size(), 3u);
  // Settle on touch: the old lot's expiry, at its instant.
  EXPECT_EQ(es[0].type, entry_type::expire);
  EXPECT_EQ(es[0].lot_id, old);
  EXPECT_EQ(es[0].amount, cr(6));
  EXPECT_EQ(es[0].created_at, e);
  EXPECT_EQ(es[1].type, entry_type::refund);
  EXPECT_EQ(es[1].amount, cr(4));
  EXPECT_EQ(es[1].parts, (std::vector<lot_part>{{fresh_id, cr(4)}}));
  EXPECT_EQ(es[1].refund_id, r.refund_id);
  EXPECT_EQ(es[2].type, entry_type::expire);
  EXPECT_EQ(es[2].amount, cr(4));
  EXPECT_EQ(es[2].parts, (std::vector<lot_part>{{fresh_id, cr(4)}}));
  EXPECT_EQ(es[2].charge_id, c.id);
  EXPECT_EQ(es[2].refund_id, r.refund_id);
  EXPECT_EQ(es[2].reason, "refunded into a lot past its expiry");
  EXPECT_EQ(es[2].created_at, now);
  EXPECT_EQ(es[2].balance_after, 0);
  EXPECT_EQ(c.refunded, cr(4));
  EXPECT_EQ(available(now), 0);
  EXPECT_EQ(led.run_due(now + days(1)), 0u);
}

TEST_F(ledger_refund, depleted_lot_past_its_expiry_refunds_into_a_lot_born_expired) {
  open();
  const time_us e = t0 + hours(1);
  const object_id old = grant(cr(4), lot_kind::promo, e).id;
  const charge_record& c = charge(cr(4));
  EXPECT_EQ(lot_at(old).status, lot_status::depleted);
  const std::size_t mark = led.pending_entry_count();
  // Exactly at the expiry the lot is gone.
  const refund_result r = must(led.refund(refund_of(c.id, cr(1)), e));
  EXPECT_NE(r.parts[0].lot, old);
  EXPECT_EQ(lot_at(r.parts[0].lot).status, lot_status::expired);
  auto es = entries_since(mark);
  ASSERT_EQ(es.size(), 2u);
  EXPECT_EQ(es[0].type, entry_type::refund);
  EXPECT_EQ(es[1].type, entry_type::expire);
  EXPECT_EQ(es[1].amount, cr(1));
  // One microsecond earlier the lot itself is revived.
  const refund_result before = must(led.refund(refund_of(c.id, cr(1)), e - 1));
  EXPECT_EQ(before.parts, (std::vector<lot_part>{{old, cr(1)}}));
  EXPECT_EQ(lot_at(old).status, lot_status::active);
}

TEST_F(ledger_refund, postpaid_part_reduces_postpaid_used) {
  account_settings s;
  s.postpaid_limit = cr(5);
  open("acct", s);
  const charge_record& c = charge(cr(3));
  EXPECT_EQ(acct().postpaid_used, cr(3));
  const refund_result r = must(led.refund(refund_of(c.id, cr(1)), t0));
  EXPECT_EQ(r.parts, (std::vector<lot_part>{{postpaid_lot_id, cr(1)}}));
  EXPECT_EQ(acct().postpaid_used, cr(2));
  EXPECT_EQ(available(), cr(3));

  // In December a refund of November's usage leaves December's usage alone.
  charge(cr(1), dec1 + secs(1));
  EXPECT_EQ(acct().postpaid_used, cr(1));
  const refund_result late = must(led.refund(refund_of(c.id), dec1 + secs(2)));
  EXPECT_EQ(late.parts, (std::vector<lot_part>{{postpaid_lot_id, cr(2)}}));
  EXPECT_EQ(acct().postpaid_used, cr(1));
  EXPECT_EQ(acct().postpaid_period, month_index(dec1));
  EXPECT_EQ(available(dec1 + secs(2)), cr(4));
}

TEST_F(ledger_refund, captured_hold) {
  open();
  const object_id l = grant(cr(10)).id;
  const hold& h = place(cr(4));
  must(led.capture(h.id, cr(3), t0));
  const std::size_t mark = led.pending_entry_count();
  const refund_result r = must(led.refund(refund_of(h.charge_id, cr(1)), t0));
  EXPECT_EQ(r.original->hold_id, h.id);
  EXPECT_EQ(r.parts, (std::vector<lot_part>{{l, cr(1)}}));
  auto es = entries_since(mark);
  ASSERT_EQ(es.size(), 1u);
  EXPECT_EQ(es[0].hold_id, h.id);
  EXPECT_EQ(es[0].charge_id, h.charge_id);
  EXPECT_EQ(available(), cr(8));
  EXPECT_EQ(refusal(led.refund(refund_of(h.charge_id, cr(3)), t0)).code, errc::refund_too_large);
}

TEST_F(ledger_refund, batch_charges_are_refunded_separately) {
  open();
  const object_id l = grant(cr(10)).id;
  std::vector<charge_cmd> cmds = {charge_of(cr(2)), charge_of(cr(3))};
  auto out = must(led.charge_batch(cmds, t0));
  must(led.refund(refund_of(out[1]->id), t0));
  EXPECT_EQ(out[0]->refunded, 0);
  EXPECT_EQ(out[1]->refunded, cr(3));
  EXPECT_EQ(lot_at(l).remaining, cr(8));
}

TEST_F(ledger_refund, lot_revived_by_a_refund_still_expires) {
  open();
  const object_id early = grant(cr(1), lot_kind::promo, t0 + secs(100)).id;
  const object_id late = grant(cr(1), lot_kind::prepaid, t0 + secs(300)).id;
  grant_cmd g = grant_of(cr(5), lot_kind::prepaid, t0 + secs(200));
  g.priority = 1;
  const object_id l = grant(g).id;
  const charge_record& c = charge(cr(5));
  ASSERT_EQ(c.parts, (std::vector<charge_part>{{l, cr(5), 0}}));
  EXPECT_EQ(led.run_due(t0 + secs(100)), 1u);  // `early` expires; next_due recomputed
  EXPECT_EQ(lot_at(early).status, lot_status::expired);
  must(led.refund(refund_of(c.id), t0 + secs(150)));  // l is active again until +200 s
  EXPECT_EQ(lot_at(l).status, lot_status::active);
  EXPECT_EQ(available(t0 + secs(150)), cr(6));

  const std::size_t mark = led.pending_entry_count();
  led.run_due(t0 + secs(200));
  EXPECT_EQ(lot_at(l).status, lot_status::expired);
  auto es = entries_since(mark);
  ASSERT_EQ(es.size(), 1u);
  EXPECT_EQ(es[0].type, entry_type::expire);
  EXPECT_EQ(es[0].lot_id, l);
  EXPECT_EQ(es[0].amount, cr(5));
  EXPECT_EQ(es[0].created_at, t0 + secs(200));
  led.run_due(t0 + secs(300));  // aborts today
  EXPECT_EQ(lot_at(late).status, lot_status::expired);
}

}  // namespace
}  // namespace ledger_refund_test_cpp
}  // namespace creditd::ledger::testing
