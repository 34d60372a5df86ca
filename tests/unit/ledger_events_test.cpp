// Events (ledger/events.hpp): computed in the command or due step that
// causes them, in its change set, at the exact instant of a due item.
#include <gtest/gtest.h>

#include "ledger_fixture.hpp"

namespace creditd::ledger::testing {
namespace ledger_events_test_cpp {  // unity builds: tests/CMakeLists.txt
namespace {

struct seen {
  std::string type;
  std::string account;
  time_us at = 0;
  std::string data;
};

class events_test : public ledger_fixture {
 public:
  // The events made since the last call (take_changes() hands them over).
  std::vector<seen> events() {
    std::vector<seen> out;
    change_set c = led.take_changes();
    for (const event& ev : c.events) {
      out.push_back({std::string(to_string(ev.type)), ev.owner->id, ev.created_at, ev.data});
      EXPECT_EQ(ev.seq, next_seq_) << "event seqs are 1, 2, 3, ...";
      next_seq_ = ev.seq + 1;
    }
    return out;
  }
  std::vector<std::string> types() {
    std::vector<std::string> out;
    for (const seen& s : events())
      out.push_back(s.type);
    return out;
  }
  static account_settings thresholds(std::vector<micros> ts) {
    account_settings s;
    s.low_balance_thresholds = std::move(ts);
    return s;
  }
  std::uint64_t next_seq_ = 1;
};

using strings = std::vector<std::string>;

TEST_F(events_test, a_threshold_fires_once_per_downward_crossing_and_rearms_above_it) {
  open("acct", thresholds({cr(10)}));
  grant(cr(30));
  EXPECT_EQ(types(), strings{"balance.restored"});  // from 0
  charge(cr(25));                                   // 30 -> 5
  auto ev = events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, "balance.low");
  EXPECT_EQ(ev[0].account, "acct");
  EXPECT_EQ(ev[0].at, t0);
  EXPECT_EQ(ev[0].data, R"({"available_before":"30","available_after":"5","threshold":"10"})");
  charge(cr(1));  // 5 -> 4: still below, no second warning
  EXPECT_EQ(types(), strings{});
  grant(cr(20));  // 4 -> 24: above again (re-armed), nothing fires on the way up
  EXPECT_EQ(types(), strings{});
  charge(cr(14));  // 24 -> 10: at the threshold is a crossing
  EXPECT_EQ(types(), strings{"balance.low"});
}

TEST_F(events_test, one_charge_crossing_two_thresholds_fires_both_highest_first) {
  open("acct", thresholds({cr(5), cr(10)}));
  grant(cr(30));
  (void)events();
  charge(cr(28));  // 30 -> 2
  auto ev = events();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].data, R"({"available_before":"30","available_after":"2","threshold":"10"})");
  EXPECT_EQ(ev[1].data, R"({"available_before":"30","available_after":"2","threshold":"5"})");
}

TEST_F(events_test, a_refused_charge_fires_no_balance_event) {
  open("acct", thresholds({cr(10)}));
  grant(cr(15));
  (void)events();
  EXPECT_EQ(refusal(led.charge(charge_of(cr(20)), t0)).code, errc::insufficient_credits);
  EXPECT_EQ(types(), strings{"charge.refused"});
  EXPECT_EQ(available(), cr(15));
  charge(cr(6));  // 15 -> 9: the refusal did not move the comparison point
  EXPECT_EQ(types(), strings{"balance.low"});
}

TEST_F(events_test, depleted_then_restored_by_a_purchase_and_by_a_grant) {
  open("acct", thresholds({cr(1)}));
  must(led.put_package({"p10", cr(10), cr(5), "usd", 0}, t0));
  grant(cr(10));
  (void)events();
  charge(cr(10));  // 10 -> 0
  EXPECT_EQ(types(), (strings{"balance.low", "balance.depleted"}));
  purchase_cmd p;
  p.account = "acct";
  p.package = "p10";
  must(led.purchase(p, t0 + secs(1)));
  auto ev = events();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].type, "purchase.completed");
  EXPECT_NE(ev[0].data.find(R"("package":"p10")"), std::string::npos) << ev[0].data;
  EXPECT_NE(ev[0].data.find(R"("amount":"10")"), std::string::npos) << ev[0].data;
  EXPECT_NE(ev[0].data.find(R"("source":"api")"), std::string::npos) << ev[0].data;
  EXPECT_EQ(ev[1].type, "balance.restored");
  EXPECT_EQ(ev[1].data, R"({"available_before":"0","available_after":"10"})");
  charge(cr(10), t0 + secs(2));
  EXPECT_EQ(types(), (strings{"balance.low", "balance.depleted"}));
  grant(cr(3), lot_kind::prepaid, std::nullopt, t0 + secs(3));
  EXPECT_EQ(types(), strings{"balance.restored"});
}

TEST_F(events_test, a_lot_is_announced_expiring_days_before_and_expires_at_its_instant) {
  account_settings s;
  s.expiring_soon_days = 3;
  open("acct", s);
  const lot& l = grant(cr(10), lot_kind::prepaid, t0 + days(10));
  (void)events();
  const time_us notice = t0 + days(7);
  EXPECT_EQ(led.next_due(), notice);
  led.run_due(notice - 1);
  EXPECT_EQ(types(), strings{});
  led.run_due(notice + hours(5));  // a late step: the event carries the notice's instant
  auto ev = events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, "lot.expiring_soon");
  EXPECT_EQ(ev[0].at, notice);
  EXPECT_EQ(ev[0].data, "{\"lot\":\"lot_" + std::to_string(l.id) +
                            R"(","amount":"10","expires_at":"2026-12-05T10:00:00Z"})");
  led.run_due(t0 + days(10) - 1);
  EXPECT_EQ(types(), strings{});
  led.run_due(t0 + days(10));
  ev = events();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].type, "lot.expired");
  EXPECT_EQ(ev[0].at, t0 + days(10));
  EXPECT_EQ(ev[0].data, "{\"lot\":\"lot_" + std::to_string(l.id) + R"(","amount":"10"})");
  EXPECT_EQ(ev[1].type, "balance.depleted");
  EXPECT_EQ(ev[1].at, t0 + days(10));
}

TEST_F(events_test, an_expiry_applied_by_a_command_fires_in_that_command) {
  open("acct");
  grant(cr(10), lot_kind::prepaid, t0 + days(1));
  grant(cr(5));
  (void)events();
  // No due step ran: the charge settles the expiry first, then charges.
  charge(cr(1), t0 + days(2));
  auto ev = events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, "lot.expired");
  EXPECT_EQ(ev[0].at, t0 + days(1));
}

TEST_F(events_test,
       notices_follow_the_setting_and_skip_empty_lots_and_lots_granted_inside_the_window) {
  open("acct");  // expiring_soon_days 0 in the core: no notices
  const lot& a = grant(cr(10), lot_kind::prepaid, t0 + days(10));
  grant(cr(10), lot_kind::prepaid, t0 + days(2));
  (void)events();
  // Set to 0: no notice.
  led.run_due(t0 + days(1));
  EXPECT_EQ(types(), strings{});
  // The setting turned on: notices still ahead only (lot a's, at day 7; the
  // second lot's would have been at day -1).
  account_cmd c;
  c.id = "acct";
  c.settings = account_settings{};
  c.settings->expiring_soon_days = 3;
  must(led.put_account(c, t0 + days(1)));
  // A lot granted inside its window: no notice.
  grant(cr(1), lot_kind::prepaid, t0 + days(3), t0 + days(1));
  led.run_due(t0 + days(7));
  auto ev = events();
  ASSERT_EQ(ev.size(), 3u);  // the day-2 and day-3 lots expired (credits left), then a's notice
  EXPECT_EQ(ev[0].type, "lot.expired");
  EXPECT_EQ(ev[1].type, "lot.expired");
  EXPECT_EQ(ev[2].type, "lot.expiring_soon");
  EXPECT_NE(ev[2].data.find("lot_" + std::to_string(a.id)), std::string::npos);
  // A spent lot gets no notice.
  const lot& b = grant(cr(2), lot_kind::prepaid, t0 + days(20), t0 + days(7));
  charge(cr(12), t0 + days(7));
  (void)b;
  EXPECT_EQ(types(), strings{"balance.depleted"});
  led.run_due(t0 + days(17));
  EXPECT_EQ(types(), strings{});
  // Set twice to the same window and back: one notice.
  grant(cr(5), lot_kind::prepaid, t0 + days(30), t0 + days(17));
  EXPECT_EQ(types(), strings{"balance.restored"});
  c.settings->expiring_soon_days = 4;
  must(led.put_account(c, t0 + days(17)));
  c.settings->expiring_soon_days = 3;
  must(led.put_account(c, t0 + days(17)));
  led.run_due(t0 + days(28));
  EXPECT_EQ(types(), strings{"lot.expiring_soon"});
}

TEST_F(events_test, a_hold_expires_at_its_instant) {
  open("acct");
  grant(cr(10));
  const hold& h = place(cr(4), 60);
  (void)events();
  led.run_due(t0 + secs(59));
  EXPECT_EQ(types(), strings{});
  led.run_due(t0 + secs(600));
  auto ev = events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, "hold.expired");
  EXPECT_EQ(ev[0].at, t0 + secs(60));
  EXPECT_EQ(ev[0].data, "{\"hold\":\"hold_" + std::to_string(h.id) +
                            R"(","amount":"4","operation":"image.generate"})");
}

TEST_F(events_test, charge_refused_is_sampled_once_a_minute_per_reason) {
  account_settings s;
  s.reserve = cr(5);
  open("acct", s);
  grant(cr(10));
  (void)events();
  auto refuse = [&](micros amount, time_us at, bool urgent = false) {
    charge_cmd c = charge_of(amount);
    c.urgent = urgent;
    return refusal(led.charge(c, at)).reason;
  };
  EXPECT_EQ(refuse(cr(8), t0), refusal_reason::reserve);
  EXPECT_EQ(refuse(cr(8), t0 + secs(59)), refusal_reason::reserve);
  auto ev = events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, "charge.refused");
  EXPECT_EQ(ev[0].data,
            R"({"reason":"reserve","operation":"image.generate","amount":"8","available":"5"})");
  // Another reason within the minute: its own event.
  EXPECT_EQ(refuse(cr(20), t0 + secs(59), true), refusal_reason::balance);
  EXPECT_EQ(types(), strings{"charge.refused"});
  // A minute after the first: again.
  EXPECT_EQ(refuse(cr(8), t0 + secs(60)), refusal_reason::reserve);
  EXPECT_EQ(types(), strings{"charge.refused"});
  // A refused hold and a refused batch count as well.
  EXPECT_EQ(refusal(led.place_hold(hold_of(cr(8)), t0 + secs(120))).reason,
            refusal_reason::reserve);
  EXPECT_EQ(types(), strings{"charge.refused"});
  std::vector<charge_cmd> batch = {charge_of(cr(1)), charge_of(cr(20))};
  EXPECT_EQ(refusal(led.charge_batch(batch, t0 + secs(200))).reason, refusal_reason::balance);
  // The batch's first charge was rolled back: no balance event, one refusal.
  EXPECT_EQ(types(), strings{"charge.refused"});
  EXPECT_EQ(available(t0 + secs(200)), cr(5));
}

TEST_F(events_test, a_renewal_fires_subscription_renewed_and_the_first_period_does_not) {
  open("acct");
  plan_cmd p;
  p.id = "basic";
  p.credits_per_period = cr(100);
  must(led.put_plan(p, t0));
  subscription_cmd s;
  s.account = "acct";
  s.plan = "basic";
  must(led.put_subscription(s, t0));
  EXPECT_EQ(types(), strings{"balance.restored"});
  const time_us end = led.find_account("acct")->sub->period_end;
  led.run_due(end);
  auto ev = events();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].type, "lot.expired");  // the old allowance, unspent
  EXPECT_EQ(ev[1].type, "subscription.renewed");
  EXPECT_EQ(ev[1].at, end);
  EXPECT_NE(ev[1].data.find(R"("plan":"basic","period":1)"), std::string::npos) << ev[1].data;
  EXPECT_NE(ev[1].data.find(R"("amount":"100")"), std::string::npos) << ev[1].data;
}

TEST_F(events_test, events_have_their_own_counter_restored_by_a_load) {
  open("a");
  open("b");
  grant(grant_of(cr(1), lot_kind::prepaid, std::nullopt, "a"));
  must(led.charge(charge_of(cr(1), "x", "a"), t0));
  EXPECT_FALSE(led.charge(charge_of(cr(1), "x", "b"), t0).has_value());
  EXPECT_EQ(led.next_event_seq(), 4u);  // a: restored, depleted; b: charge.refused
  auto ev = events();
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[0].account, "a");
  EXPECT_EQ(ev[1].account, "a");
  EXPECT_EQ(ev[2].account, "b");
  EXPECT_EQ(ev[2].type, "charge.refused");
  ledger fresh;
  fresh.restore_event_seq(41);
  EXPECT_EQ(fresh.finish_load(), "");
  EXPECT_EQ(fresh.next_event_seq(), 41u);
}

TEST_F(events_test, a_refused_command_with_no_change_leaves_nothing_to_commit) {
  open("acct", thresholds({cr(5)}));
  (void)led.take_changes();
  EXPECT_EQ(refusal(led.grant(grant_of(0), t0)).code, errc::invalid_argument);
  EXPECT_FALSE(led.has_changes());
}

}  // namespace
}  // namespace ledger_events_test_cpp
}  // namespace creditd::ledger::testing
