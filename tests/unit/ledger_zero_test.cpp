// Zero amounts: one rule for charges and holds. A price of zero is
// legitimate (a free model stays usable when the credits run out), so a
// charge or a hold of zero succeeds whatever the balance, takes no credits,
// writes its journal entry (the usage is recorded), and is still a request
// like any other: it counts against rate_limit_per_minute and (holds) against
// max_open_holds; a zero hold expires, is captured (for 0) or released.
#include <gtest/gtest.h>

#include <vector>

#include "ledger/ledger.hpp"
#include "ledger/limits.hpp"
#include "ledger_fixture.hpp"

namespace creditd::ledger::testing {
namespace ledger_zero_test_cpp {  // unity builds: tests/CMakeLists.txt
namespace {

using ledger_zero = ledger_fixture;

TEST_F(ledger_zero, charge_at_zero_balance_records_usage_and_takes_nothing) {
  open();
  ASSERT_EQ(available(), 0);
  const std::size_t mark = led.pending_entry_count();
  charge_cmd cmd = charge_of(0, "llm.tokens");
  cmd.dimensions = R"({"model":"free-1"})";
  cmd.reference = "gen-0";
  const charge_record& c = *must(led.charge(cmd, t0));
  EXPECT_EQ(c.amount, 0);
  EXPECT_TRUE(c.parts.empty());
  auto es = entries_since(mark);
  ASSERT_EQ(es.size(), 1u);
  EXPECT_EQ(es[0].type, entry_type::charge);
  EXPECT_EQ(es[0].charge_id, c.id);
  EXPECT_EQ(es[0].amount, 0);
  EXPECT_TRUE(es[0].parts.empty());
  EXPECT_EQ(es[0].operation, "llm.tokens");
  EXPECT_EQ(es[0].dimensions, R"({"model":"free-1"})");
  EXPECT_EQ(es[0].reference, "gen-0");
  EXPECT_EQ(es[0].balance_after, 0);
  EXPECT_EQ(acct().postpaid_used, 0);
  // Nothing to refund.
  auto r = led.refund({c.id, std::nullopt, ""}, t0);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, errc::nothing_to_refund);
}

TEST_F(ledger_zero, charge_succeeds_where_any_credit_would_be_refused) {
  // Everything is behind the reserve, or out of scope, or the postpaid limit
  // is used up: one micro-credit is refused, zero is not.
  account_settings s;
  s.reserve = cr(5);
  s.postpaid_limit = cr(1);
  open("acct", s);
  grant_cmd g = grant_of(cr(3));
  g.scope = {"image.*"};
  const lot& l = grant(g);
  charge(cr(1), t0, "image.generate");  // from the postpaid limit: the lot is behind the reserve
  ASSERT_EQ(available(), 0);
  EXPECT_EQ(refusal(led.charge(charge_of(1, "image.generate"), t0)).code,
            errc::insufficient_credits);
  EXPECT_EQ(refusal(led.charge(charge_of(1, "llm.tokens"), t0)).code, errc::insufficient_credits);
  EXPECT_TRUE(charge(0, t0, "image.generate").parts.empty());
  EXPECT_TRUE(charge(0, t0, "llm.tokens").parts.empty());
  charge_cmd urgent = charge_of(0);
  urgent.urgent = true;
  EXPECT_TRUE(must(led.charge(urgent, t0))->parts.empty());
  EXPECT_EQ(lot_at(l.id).remaining, cr(3));
  EXPECT_EQ(acct().postpaid_used, cr(1));
}

TEST_F(ledger_zero, charge_with_credits_takes_no_lot) {
  open();
  const lot& l = grant(cr(2));
  const std::size_t mark = led.pending_entry_count();
  EXPECT_TRUE(charge(0).parts.empty());
  auto es = entries_since(mark);
  ASSERT_EQ(es.size(), 1u);
  EXPECT_TRUE(es[0].parts.empty());
  EXPECT_EQ(es[0].balance_after, cr(2));
  EXPECT_EQ(lot_at(l.id).remaining, cr(2));
  EXPECT_EQ(lot_at(l.id).spent, 0);
}

TEST_F(ledger_zero, batch_of_zero_charges_at_zero_balance) {
  open();
  const std::size_t mark = led.pending_entry_count();
  std::vector<charge_cmd> cmds = {charge_of(0), charge_of(0, "llm.tokens")};
  auto r = must(led.charge_batch(cmds, t0));
  ASSERT_EQ(r.size(), 2u);
  auto es = entries_since(mark);
  ASSERT_EQ(es.size(), 2u);
  EXPECT_EQ(es[1].operation, "llm.tokens");
  // One paid item refuses the whole batch, zero items included.
  cmds.push_back(charge_of(1));
  const std::size_t before = led.pending_entry_count();
  EXPECT_EQ(refusal(led.charge_batch(cmds, t0)).code, errc::insufficient_credits);
  EXPECT_EQ(led.pending_entry_count(), before);
}

TEST_F(ledger_zero, hold_at_zero_balance_is_an_open_hold_of_nothing) {
  open();
  ASSERT_EQ(available(), 0);
  const std::size_t mark = led.pending_entry_count();
  const hold& h = place(0);
  EXPECT_EQ(h.status, hold_status::open);
  EXPECT_EQ(h.amount, 0);
  EXPECT_TRUE(h.parts.empty());
  EXPECT_EQ(h.expires_at, t0 + secs(600));
  EXPECT_EQ(led.open_hold_count(), 1u);
  EXPECT_EQ(acct().open_holds.size(), 1u);
  EXPECT_EQ(bal().held, 0);
  auto es = entries_since(mark);
  ASSERT_EQ(es.size(), 1u);
  EXPECT_EQ(es[0].type, entry_type::hold);
  EXPECT_EQ(es[0].hold_id, h.id);
  EXPECT_EQ(es[0].amount, 0);
  EXPECT_TRUE(es[0].parts.empty());
  EXPECT_EQ(es[0].balance_after, 0);
}

TEST_F(ledger_zero, capture_of_a_zero_hold_is_a_zero_charge) {
  open();
  const hold& a = place(0);
  const hold& b = place(0);
  const std::size_t mark = led.pending_entry_count();
  must(led.capture(a.id, std::nullopt, t0 + secs(1)));
  must(led.capture(b.id, 0, t0 + secs(1)));
  for (const hold* h : {&a, &b}) {
    EXPECT_EQ(h->status, hold_status::captured);
    EXPECT_EQ(h->captured, 0);
    EXPECT_EQ(h->closed_at, t0 + secs(1));
    const charge_record& c = *led.find_charge(h->charge_id);
    EXPECT_EQ(c.amount, 0);
    EXPECT_EQ(c.hold_id, h->id);
    EXPECT_TRUE(c.parts.empty());
  }
  // One capture entry each, nothing returned (no release entry).
  auto es = entries_since(mark);
  ASSERT_EQ(es.size(), 2u);
  EXPECT_EQ(es[0].type, entry_type::capture);
  EXPECT_EQ(es[0].hold_id, a.id);
  EXPECT_EQ(es[0].charge_id, a.charge_id);
  EXPECT_EQ(es[0].amount, 0);
  EXPECT_TRUE(es[0].parts.empty());
  EXPECT_EQ(es[1].type, entry_type::capture);
  EXPECT_EQ(led.open_hold_count(), 0u);
  // More than nothing cannot be captured.
  const hold& c = place(0);
  auto r = led.capture(c.id, 1, t0);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, errc::invalid_argument);
  EXPECT_STREQ(r.error().message, "amount is more than the hold holds");
}

TEST_F(ledger_zero, release_and_expiry_of_a_zero_hold_write_a_release_of_nothing) {
  open();
  const hold& a = place(0, 60);
  const hold& b = place(0, 60);
  std::size_t mark = led.pending_entry_count();
  must(led.release(a.id, t0 + secs(1)));
  EXPECT_EQ(a.status, hold_status::released);
  auto es = entries_since(mark);
  ASSERT_EQ(es.size(), 1u);
  EXPECT_EQ(es[0].type, entry_type::release);
  EXPECT_EQ(es[0].hold_id, a.id);
  EXPECT_EQ(es[0].amount, 0);
  EXPECT_TRUE(es[0].parts.empty());
  EXPECT_EQ(es[0].reason, "");

  mark = led.pending_entry_count();
  EXPECT_EQ(led.run_due(t0 + secs(60)), 1u);
  EXPECT_EQ(b.status, hold_status::expired);
  es = entries_since(mark);
  ASSERT_EQ(es.size(), 1u);
  EXPECT_EQ(es[0].type, entry_type::release);
  EXPECT_EQ(es[0].hold_id, b.id);
  EXPECT_EQ(es[0].amount, 0);
  EXPECT_EQ(es[0].reason, "hold expired");
  EXPECT_EQ(es[0].created_at, t0 + secs(60));
  EXPECT_EQ(led.open_hold_count(), 0u);
  EXPECT_EQ(refusal(led.release(b.id, t0 + secs(61))).code, errc::hold_not_open);
}

TEST_F(ledger_zero, holds_of_zero_count_against_max_open_holds) {
  account_settings s;
  s.max_open_holds = 2;
  open("acct", s);
  const hold& a = place(0);
  place(0);
  auto r = led.place_hold(hold_of(0), t0);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, errc::too_many_open_holds);
  EXPECT_EQ(r.error().limit, 2);
  must(led.release(a.id, t0));
  place(0);
}

TEST_F(ledger_zero, zero_charges_and_holds_count_against_the_rate_limit) {
  account_settings s;
  s.rate_limit_per_minute = 3;
  open("acct", s);
  charge(0);
  place(0);
  charge(0);
  const std::size_t mark = led.pending_entry_count();
  auto c = led.charge(charge_of(0), t0);
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error().code, errc::rate_limited);
  EXPECT_EQ(c.error().limit, 3);
  auto h = led.place_hold(hold_of(0), t0);
  ASSERT_FALSE(h.has_value());
  EXPECT_EQ(h.error().code, errc::rate_limited);
  std::vector<charge_cmd> batch(1, charge_of(0));
  EXPECT_EQ(refusal(led.charge_batch(batch, t0)).code, errc::rate_limited);
  EXPECT_EQ(led.pending_entry_count(), mark);
  EXPECT_EQ(led.open_hold_count(), 1u);
  // A token is back after 20 s.
  charge(0, t0 + secs(20));
}

TEST_F(ledger_zero, capture_of_nothing_from_a_hold_returns_everything) {
  // At zero balance otherwise: the credits come back to the lot and to the
  // postpaid limit.
  account_settings s;
  s.postpaid_limit = cr(2);
  open("acct", s);
  const lot& l = grant(cr(1));
  const hold& h = place(cr(3));
  ASSERT_EQ(available(), 0);
  const std::size_t mark = led.pending_entry_count();
  must(led.capture(h.id, 0, t0));
  EXPECT_EQ(h.status, hold_status::captured);
  EXPECT_EQ(h.captured, 0);
  EXPECT_EQ(led.find_charge(h.charge_id)->amount, 0);
  auto es = entries_since(mark);
  ASSERT_EQ(es.size(), 2u);
  EXPECT_EQ(es[0].type, entry_type::capture);
  EXPECT_EQ(es[0].amount, 0);
  EXPECT_TRUE(es[0].parts.empty());
  EXPECT_EQ(es[1].type, entry_type::release);
  EXPECT_EQ(es[1].amount, cr(3));
  EXPECT_EQ(es[1].parts, (std::vector<lot_part>{{l.id, cr(1)}, {postpaid_lot_id, cr(2)}}));
  EXPECT_EQ(lot_at(l.id).remaining, cr(1));
  EXPECT_EQ(acct().postpaid_used, 0);
  EXPECT_EQ(available(), cr(3));
}

}  // namespace
}  // namespace ledger_zero_test_cpp
}  // namespace creditd::ledger::testing
