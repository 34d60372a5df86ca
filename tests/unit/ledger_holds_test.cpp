// Holds of the ledger core: place, capture, release, expiry, and holds whose
// lots expire or are voided while held.
#include <gtest/gtest.h>

#include <vector>

#include "ledger/ledger.hpp"
#include "ledger/limits.hpp"
#include "ledger_fixture.hpp"

namespace creditd::ledger::testing {
namespace ledger_holds_test_cpp {  // unity builds: tests/CMakeLists.txt
namespace {

using ledger_holds = ledger_fixture;

TEST_F(ledger_holds, place_moves_credits_to_held) {
  open();
  const object_id l = grant(cr(10)).id;
  const std::size_t mark = led.pending_entry_count();
  const object_id id = led.next_object_id();
  hold_cmd cmd = hold_of(cr(4));
  cmd.dimensions = R"({"model":"x1"})";
  cmd.reference = "gen-1";
  const hold& h = *must(led.place_hold(cmd, t0));
  EXPECT_EQ(h.id, id);
  EXPECT_EQ(h.owner, &acct());
  EXPECT_EQ(h.status, hold_status::open);
  EXPECT_EQ(h.amount, cr(4));
  EXPECT_EQ(h.captured, 0);
  EXPECT_EQ(h.parts, (std::vector<lot_part>{{l, cr(4)}}));
  EXPECT_EQ(h.operation, "image.generate");
  EXPECT_EQ(h.dimensions, R"({"model":"x1"})");
  EXPECT_EQ(h.reference, "gen-1");
  EXPECT_EQ(h.created_at, t0);
  EXPECT_EQ(h.expires_at, t0 + secs(600));
  EXPECT_EQ(h.closed_at, 0);
  EXPECT_EQ(h.charge_id, 0u);
  EXPECT_EQ(h.postpaid_period, month_index(t0));
  EXPECT_EQ(led.find_hold(id), &h);

  EXPECT_EQ(lot_at(l).remaining, cr(6));
  EXPECT_EQ(lot_at(l).held, cr(4));
  EXPECT_EQ(lot_at(l).spent, 0);
  const balance_view b = bal();
  EXPECT_EQ(b.available, cr(6));
  EXPECT_EQ(b.held, cr(4));
  EXPECT_EQ(b.lots_remaining, cr(6));
  EXPECT_EQ(acct().held, cr(4));
  EXPECT_EQ(acct().open_holds.size(), 1u);
  EXPECT_EQ(led.open_hold_count(), 1u);
  EXPECT_EQ(led.next_due(), t0 + secs(600));

  auto es = entries_since(mark);
  ASSERT_EQ(es.size(), 1u);
  EXPECT_EQ(es[0].type, entry_type::hold);
  EXPECT_EQ(es[0].amount, cr(4));
  EXPECT_EQ(es[0].hold_id, id);
  EXPECT_EQ(es[0].parts, (std::vector<lot_part>{{l, cr(4)}}));
  EXPECT_EQ(es[0].operation, "image.generate");
  EXPECT_EQ(es[0].dimensions, R"({"model":"x1"})");
  EXPECT_EQ(es[0].reference, "gen-1");
  EXPECT_EQ(es[0].balance_after, cr(6));

  // Held credits are not available to other charges.
  auto r = led.charge(charge_of(cr(7)), t0);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, errc::insufficient_credits);
  EXPECT_EQ(r.error().reason, refusal_reason::balance);
  EXPECT_EQ(r.error().available, cr(6));
  EXPECT_EQ(r.error().required, cr(7));
  auto r2 = led.place_hold(hold_of(cr(7)), t0);
  ASSERT_FALSE(r2.has_value());
  EXPECT_EQ(r2.error().available, cr(6));
}

TEST_F(ledger_holds, spans_lots_in_consumption_order) {
  open("acct", [] {
    account_settings s;
    s.postpaid_limit = cr(2);
    return s;
  }());
  const object_id prepaid = grant(cr(3)).id;
  const object_id promo = grant(cr(2), lot_kind::promo, t0 + days(1)).id;
  const hold& h = place(cr(6));
  EXPECT_EQ(h.parts,
            (std::vector<lot_part>{{promo, cr(2)}, {prepaid, cr(3)}, {postpaid_lot_id, cr(1)}}));
  EXPECT_EQ(acct().postpaid_used, cr(1));
  EXPECT_TRUE(acct().active_lots.empty());
  EXPECT_EQ(lot_at(promo).status, lot_status::depleted);
  EXPECT_EQ(available(), cr(1));
  EXPECT_EQ(bal().held, cr(6));
}

TEST_F(ledger_holds, input_refusals) {
  open();
  grant(cr(10));
  struct refusal {
    const char* what;
    hold_cmd cmd;
    errc code;
    const char* message;
  };
  auto with = [](auto f) {
    hold_cmd h = hold_of(cr(1));
    f(h);
    return h;
  };
  const std::vector<refusal> cases = {
      {"negative", hold_of(-1), errc::invalid_argument, "amount must not be negative"},
      {"huge", hold_of(amount_micros_max + 1), errc::invalid_argument,
       "amount must not be negative"},
      {"ttl 0", hold_of(cr(1), 0), errc::invalid_argument,
       "ttl_seconds must be between 1 and 2592000"},
      {"ttl 30 days + 1 s", hold_of(cr(1), 2'592'001), errc::invalid_argument,
       "ttl_seconds must be between 1 and 2592000"},
      {"operation", hold_of(cr(1), 600, "image generate"), errc::invalid_argument,
       "operation must match [A-Za-z0-9._:/-]{1,128}"},
      {"dimensions", with([](hold_cmd& h) { h.dimensions = std::string(4097, ' '); }),
       errc::invalid_argument, "dimensions are larger than 4096 bytes"},
      {"reference", with([](hold_cmd& h) { h.reference = std::string(513, 'r'); }),
       errc::invalid_argument, "reference is longer than 512 bytes"},
      {"zero quantity", with([](hold_cmd& h) { h.quantity = 0; }), errc::invalid_argument,
       "quantity must be positive"},
      {"huge quantity", with([](hold_cmd& h) { h.quantity = amount_micros_max + 1; }),
       errc::invalid_argument, "quantity must be positive"},
      {"metadata", with([](hold_cmd& h) { h.metadata = std::string(4097, ' '); }),
       errc::invalid_argument, "metadata is larger than 4096 bytes"},
      {"account", hold_of(cr(1), 600, "image.generate", "nobody"), errc::account_not_found, ""},
  };
  const std::size_t entries = led.pending_entry_count();
  for (const refusal& c : cases) {
    auto r = led.place_hold(c.cmd, t0);
    ASSERT_FALSE(r.has_value()) << c.what;
    EXPECT_EQ(r.error().code, c.code) << c.what;
    EXPECT_STREQ(r.error().message, c.message) << c.what;
  }
  EXPECT_EQ(led.pending_entry_count(), entries);
  EXPECT_EQ(led.open_hold_count(), 0u);
  EXPECT_EQ(place(cr(1), 1).expires_at, t0 + secs(1));
  EXPECT_EQ(place(cr(1), 2'592'000).expires_at, t0 + days(30));
}

TEST_F(ledger_holds, max_open_holds) {
  account_settings s;
  s.max_open_holds = 2;
  open("acct", s);
  grant(cr(10));
  const hold& first = place(cr(1));
  const hold& second = place(cr(1));
  const std::size_t entries = led.pending_entry_count();
  auto r = led.place_hold(hold_of(cr(1)), t0);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, errc::too_many_open_holds);
  EXPECT_STREQ(r.error().message, "too many open holds");
  EXPECT_EQ(r.error().limit, 2);
  EXPECT_EQ(led.pending_entry_count(), entries);
  EXPECT_EQ(available(), cr(8));
  // Charges are not limited by open holds.
  charge(cr(1));
  // Closing a hold (released or captured) makes room.
  must(led.release(first.id, t0));
  const hold& third = place(cr(1));
  EXPECT_FALSE(led.place_hold(hold_of(cr(1)), t0).has_value());
  must(led.capture(second.id, std::nullopt, t0));
  must(led.capture(third.id, std::nullopt, t0));
  place(cr(1));
  place(cr(1));
  EXPECT_EQ(led.open_hold_count(), 2u);
  EXPECT_EQ(available(), cr(5));
}

TEST_F(ledger_holds, capture_full) {
  open();
  const object_id l = grant(cr(10)).id;
  hold_cmd cmd = hold_of(cr(4));
  cmd.reference = "gen-9";
  const hold& h = *must(led.place_hold(cmd, t0));
  const std::size_t mark = led.pending_entry_count();
  const object_id charge_id = led.next_object_id();
  EXPECT_EQ(must(led.capture(h.id, std::nullopt, t0 + secs(5))), &h);
  EXPECT_EQ(h.status, hold_status::captured);
  EXPECT_EQ(h.captured, cr(4));
  EXPECT_EQ(h.charge_id, charge_id);
  EXPECT_EQ(h.closed_at, t0 + secs(5));

  const charge_record* c = led.find_charge(charge_id);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->amount, cr(4));
  EXPECT_EQ(c->hold_id, h.id);
  EXPECT_EQ(c->created_at, t0 + secs(5));
  EXPECT_EQ(c->parts, (std::vector<charge_part>{{l, cr(4), 0}}));
  EXPECT_EQ(c->postpaid_period, month_index(t0));

  EXPECT_EQ(lot_at(l).held, 0);
  EXPECT_EQ(lot_at(l).spent, cr(4));
  EXPECT_EQ(lot_at(l).remaining, cr(6));
  EXPECT_EQ(bal().held, 0);
  EXPECT_EQ(available(), cr(6));
  EXPECT_EQ(led.open_hold_count(), 0u);
  EXPECT_TRUE(acct().open_holds.empty());

  auto es = entries_since(mark);
  ASSERT_EQ(es.size(), 1u);  // nothing left to release
  EXPECT_EQ(es[0].type, entry_type::capture);
  EXPECT_EQ(es[0].amount, cr(4));
  EXPECT_EQ(es[0].hold_id, h.id);
  EXPECT_EQ(es[0].charge_id, charge_id);
  EXPECT_EQ(es[0].parts, (std::vector<lot_part>{{l, cr(4)}}));
  EXPECT_EQ(es[0].operation, "image.generate");
  EXPECT_EQ(es[0].reference, "gen-9");
  EXPECT_EQ(es[0].balance_after, cr(6));
  EXPECT_EQ(es[0].created_at, t0 + secs(5));
}

TEST_F(ledger_holds, capture_partial_returns_the_rest) {
  open();
  const object_id promo = grant(cr(3), lot_kind::promo).id;
  const object_id prepaid = grant(cr(10)).id;
  const hold& h = place(cr(5));
  EXPECT_EQ(h.parts, (std::vector<lot_part>{{promo, cr(3)}, {prepaid, cr(2)}}));
  const std::size_t mark = led.pending_entry_count();
  must(led.capture(h.id, 3'500'000, t0 + secs(1)));
  EXPECT_EQ(h.captured, 3'500'000);
  const charge_record& c = *led.find_charge(h.charge_id);
  EXPECT_EQ(c.amount, 3'500'000);
  // The capture takes the hold's parts in order: all of the promo lot first.
  EXPECT_EQ(c.parts, (std::vector<charge_part>{{promo, cr(3), 0}, {prepaid, 500'000, 0}}));
  EXPECT_EQ(lot_at(promo).spent, cr(3));
  EXPECT_EQ(lot_at(promo).held, 0);
  EXPECT_EQ(lot_at(promo).status, lot_status::depleted);
  EXPECT_EQ(lot_at(prepaid).spent, 500'000);
  EXPECT_EQ(lot_at(prepaid).held, 0);
  EXPECT_EQ(lot_at(prepaid).remaining, 9'500'000);

  auto es = entries_since(mark);
  ASSERT_EQ(es.size(), 2u);
  EXPECT_EQ(es[0].type, entry_type::capture);
  EXPECT_EQ(es[0].amount, 3'500'000);
  EXPECT_EQ(es[0].parts, (std::vector<lot_part>{{promo, cr(3)}, {prepaid, 500'000}}));
  EXPECT_EQ(es[0].balance_after, cr(8));  // before the rest is returned
  EXPECT_EQ(es[1].type, entry_type::release);
  EXPECT_EQ(es[1].amount, 1'500'000);
  EXPECT_EQ(es[1].hold_id, h.id);
  EXPECT_EQ(es[1].parts, (std::vector<lot_part>{{prepaid, 1'500'000}}));
  EXPECT_EQ(es[1].reason, "");
  EXPECT_EQ(es[1].balance_after, 9'500'000);
  EXPECT_EQ(available(), 9'500'000);
}

TEST_F(ledger_holds, capture_zero_returns_everything) {
  open();
  const object_id l = grant(cr(10)).id;
  const hold& h = place(cr(4));
  const std::size_t mark = led.pending_entry_count();
  must(led.capture(h.id, 0, t0));
  EXPECT_EQ(h.status, hold_status::captured);
  const charge_record& c = *led.find_charge(h.charge_id);
  EXPECT_EQ(c.amount, 0);
  EXPECT_TRUE(c.parts.empty());
  auto es = entries_since(mark);
  ASSERT_EQ(es.size(), 2u);
  EXPECT_EQ(es[0].type, entry_type::capture);
  EXPECT_EQ(es[0].amount, 0);
  EXPECT_EQ(es[1].type, entry_type::release);
  EXPECT_EQ(es[1].amount, cr(4));
  EXPECT_EQ(lot_at(l).remaining, cr(10));
}

TEST_F(ledger_holds, capture_and_release_refusals) {
  open();
  grant(cr(10));
  const hold& h = place(cr(4));
  const std::size_t entries = led.pending_entry_count();
  auto r = led.capture(h.id, cr(4) + 1, t0);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, errc::invalid_argument);
  EXPECT_STREQ(r.error().message, "amount is more than the hold holds");
  r = led.capture(h.id, -1, t0);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, errc::invalid_argument);
  EXPECT_STREQ(r.error().message, "amount must not be negative");
  EXPECT_EQ(refusal(led.capture(999'999, std::nullopt, t0)).code, errc::hold_not_found);
  EXPECT_EQ(refusal(led.release(999'999, t0)).code, errc::hold_not_found);
  EXPECT_EQ(h.status, hold_status::open);
  EXPECT_EQ(led.pending_entry_count(), entries);

  must(led.capture(h.id, cr(1), t0));
  for (auto res : {led.capture(h.id, std::nullopt, t0), led.release(h.id, t0)}) {
    ASSERT_FALSE(res.has_value());
    EXPECT_EQ(res.error().code, errc::hold_not_open);
    EXPECT_STREQ(res.error().message, "the hold is not open");
  }
  const hold& g = place(cr(1));
  must(led.release(g.id, t0));
  EXPECT_EQ(refusal(led.capture(g.id, std::nullopt, t0)).code, errc::hold_not_open);
  EXPECT_EQ(refusal(led.release(g.id, t0)).code, errc::hold_not_open);
  EXPECT_EQ(available(), cr(9));
}

TEST_F(ledger_holds, release_returns_the_credits) {
  open();
  const object_id other = grant(cr(5)).id;
  grant_cmd first = grant_of(cr(4));
  first.priority = 1;
  const object_id l = grant(first).id;
  const hold& h = place(cr(4));
  EXPECT_EQ(h.parts, (std::vector<lot_part>{{l, cr(4)}}));
  EXPECT_EQ(lot_at(l).status, lot_status::depleted);
  EXPECT_EQ(active_ids(), (std::vector<object_id>{other}));
  const std::size_t mark = led.pending_entry_count();
  EXPECT_EQ(must(led.release(h.id, t0 + secs(3))), &h);
  EXPECT_EQ(h.status, hold_status::released);
  EXPECT_EQ(h.closed_at, t0 + secs(3));
  EXPECT_EQ(h.captured, 0);
  EXPECT_EQ(h.charge_id, 0u);
  // The depleted lot is active again, in its place in the consumption order.
  EXPECT_EQ(lot_at(l).status, lot_status::active);
  EXPECT_EQ(lot_at(l).remaining, cr(4));
  EXPECT_EQ(lot_at(l).held, 0);
  EXPECT_EQ(active_ids(), (std::vector<object_id>{l, other}));
  auto es = entries_since(mark);
  ASSERT_EQ(es.size(), 1u);
  EXPECT_EQ(es[0].type, entry_type::release);
  EXPECT_EQ(es[0].amount, cr(4));
  EXPECT_EQ(es[0].hold_id, h.id);
  EXPECT_EQ(es[0].parts, (std::vector<lot_part>{{l, cr(4)}}));
  EXPECT_EQ(es[0].reason, "");
  EXPECT_EQ(es[0].balance_after, cr(9));
  EXPECT_EQ(es[0].created_at, t0 + secs(3));
  EXPECT_EQ(available(), cr(9));
  EXPECT_EQ(led.open_hold_count(), 0u);
  // The next charge takes the revived lot first.
  EXPECT_EQ(charge(cr(1)).parts, (std::vector<charge_part>{{l, cr(1), 0}}));
}

TEST_F(ledger_holds, expiry_after_ttl) {
  open();
  const object_id l = grant(cr(10)).id;
  const hold& h = place(cr(4), 60);
  const time_us e = t0 + secs(60);
  EXPECT_EQ(led.next_due(), e);
  EXPECT_EQ(led.hold_status_at(h, e - 1), hold_status::open);
  EXPECT_EQ(led.hold_status_at(h, e), hold_status::expired);  // before run_due
  EXPECT_EQ(h.status, hold_status::open);
  EXPECT_EQ(bal(e - 1).available, cr(6));
  EXPECT_EQ(bal(e - 1).held, cr(4));
  // Past its expiry the balance counts the credits as returned already.
  EXPECT_EQ(bal(e).available, cr(10));
  EXPECT_EQ(bal(e).held, 0);
  EXPECT_EQ(bal(e).lots_remaining, cr(10));

  const std::size_t mark = led.pending_entry_count();
  EXPECT_EQ(led.run_due(e - 1), 0u);
  EXPECT_EQ(led.run_due(e + secs(30)), 1u);
  EXPECT_EQ(h.status, hold_status::expired);
  EXPECT_EQ(h.closed_at, e);
  EXPECT_EQ(led.hold_status_at(h, e), hold_status::expired);
  EXPECT_EQ(lot_at(l).remaining, cr(10));
  EXPECT_EQ(lot_at(l).held, 0);
  EXPECT_EQ(led.open_hold_count(), 0u);
  EXPECT_EQ(bal(e).held, 0);
  auto es = entries_since(mark);
  ASSERT_EQ(es.size(), 1u);
  EXPECT_EQ(es[0].type, entry_type::release);
  EXPECT_EQ(es[0].amount, cr(4));
  EXPECT_EQ(es[0].hold_id, h.id);
  EXPECT_EQ(es[0].parts, (std::vector<lot_part>{{l, cr(4)}}));
  EXPECT_EQ(es[0].reason, "hold expired");
  EXPECT_EQ(es[0].created_at, e);
  EXPECT_EQ(es[0].balance_after, cr(10));

  EXPECT_EQ(refusal(led.capture(h.id, std::nullopt, e + secs(31))).code, errc::hold_not_open);
  EXPECT_EQ(refusal(led.release(h.id, e + secs(31))).code, errc::hold_not_open);
  EXPECT_EQ(led.run_due(e + days(1)), 0u);
}

TEST_F(ledger_holds, capture_at_the_expiry_is_too_late) {
  open();
  grant(cr(10));
  const hold& h = place(cr(4), 60);
  const std::size_t mark = led.pending_entry_count();
  auto r = led.capture(h.id, std::nullopt, t0 + secs(60));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, errc::hold_not_open);
  // The refused capture settled the expiry.
  EXPECT_EQ(h.status, hold_status::expired);
  ASSERT_EQ(entries_since(mark).size(), 1u);
  EXPECT_EQ(entries_since(mark)[0].type, entry_type::release);
  EXPECT_EQ(available(t0 + secs(60)), cr(10));

  const hold& g = place(cr(4), 60, t0 + secs(100));
  must(led.capture(g.id, std::nullopt, t0 + secs(160) - 1));
  EXPECT_EQ(g.status, hold_status::captured);
  EXPECT_EQ(available(t0 + secs(200)), cr(6));
}

TEST_F(ledger_holds, postpaid_hold) {
  account_settings s;
  s.postpaid_limit = cr(5);
  open("acct", s);
  const hold& h = place(cr(3));
  EXPECT_EQ(h.parts, (std::vector<lot_part>{{postpaid_lot_id, cr(3)}}));
  EXPECT_EQ(acct().postpaid_used, cr(3));
  EXPECT_EQ(available(), cr(2));
  EXPECT_EQ(bal().held, cr(3));
  // An expired hold's postpaid credit counts as returned before run_due.
  EXPECT_EQ(available(t0 + secs(600)), cr(5));

  const std::size_t mark = led.pending_entry_count();
  must(led.release(h.id, t0 + secs(1)));
  EXPECT_EQ(acct().postpaid_used, 0);
  EXPECT_EQ(available(t0 + secs(1)), cr(5));
  EXPECT_EQ(entries_since(mark)[0].parts, (std::vector<lot_part>{{postpaid_lot_id, cr(3)}}));

  const hold& g = place(cr(3), 600, t0 + secs(2));
  must(led.capture(g.id, cr(1), t0 + secs(3)));
  EXPECT_EQ(acct().postpaid_used, cr(1));
  EXPECT_EQ(led.find_charge(g.charge_id)->parts,
            (std::vector<charge_part>{{postpaid_lot_id, cr(1), 0}}));
  EXPECT_EQ(available(t0 + secs(3)), cr(4));
}

TEST_F(ledger_holds, reserve_and_urgent) {
  account_settings s;
  s.reserve = cr(3);
  open("acct", s);
  grant(cr(10));
  auto r = led.place_hold(hold_of(cr(8)), t0);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().reason, refusal_reason::reserve);
  EXPECT_EQ(r.error().available, cr(7));
  hold_cmd u = hold_of(cr(8));
  u.urgent = true;
  const hold& h = *must(led.place_hold(u, t0));
  EXPECT_EQ(h.amount, cr(8));
  EXPECT_EQ(available(), 0);
  EXPECT_EQ(bal().lots_remaining, cr(2));
}

TEST_F(ledger_holds, partial_capture_of_a_lot_that_expired_while_held) {
  open();
  const time_us e = t0 + secs(100);
  const object_id l = grant(cr(10), lot_kind::promo, e).id;
  const hold& h = place(cr(6));  // ttl 600 s: outlives the lot
  const std::size_t mark = led.pending_entry_count();
  EXPECT_EQ(led.run_due(e), 1u);
  auto es = entries_since(mark);
  ASSERT_EQ(es.size(), 1u);
  EXPECT_EQ(es[0].type, entry_type::expire);
  EXPECT_EQ(es[0].amount, cr(4));  // only what was not held
  EXPECT_EQ(es[0].created_at, e);
  EXPECT_EQ(lot_at(l).status, lot_status::expired);
  EXPECT_EQ(lot_at(l).expired, cr(4));
  EXPECT_EQ(lot_at(l).held, cr(6));
  EXPECT_EQ(h.status, hold_status::open);
  EXPECT_EQ(bal(e).held, cr(6));
  EXPECT_EQ(available(e), 0);

  // The capture still takes from the expired lot...
  must(led.capture(h.id, cr(2), e + secs(10)));
  const charge_record& c = *led.find_charge(h.charge_id);
  EXPECT_EQ(c.parts, (std::vector<charge_part>{{l, cr(2), 0}}));
  EXPECT_EQ(lot_at(l).spent, cr(2));
  EXPECT_EQ(lot_at(l).held, 0);
  // ...and the uncaptured rest is lost, not returned.
  EXPECT_EQ(lot_at(l).expired, cr(8));
  EXPECT_EQ(lot_at(l).remaining, 0);
  EXPECT_EQ(lot_at(l).status, lot_status::expired);
  es = entries_since(mark);
  ASSERT_EQ(es.size(), 3u);
  EXPECT_EQ(es[1].type, entry_type::capture);
  EXPECT_EQ(es[1].amount, cr(2));
  EXPECT_EQ(es[2].type, entry_type::expire);
  EXPECT_EQ(es[2].amount, cr(4));
  EXPECT_EQ(es[2].hold_id, h.id);
  EXPECT_EQ(es[2].parts, (std::vector<lot_part>{{l, cr(4)}}));
  EXPECT_EQ(es[2].reason, "lot expired while held");
  EXPECT_EQ(es[2].created_at, e + secs(10));
  EXPECT_EQ(es[2].balance_after, 0);
  EXPECT_EQ(available(e + secs(10)), 0);
  EXPECT_EQ(bal(e + secs(10)).held, 0);
}

TEST_F(ledger_holds, release_after_the_lot_expired_returns_nothing_from_it) {
  open();
  const time_us e = t0 + secs(100);
  const object_id gone = grant(cr(3), lot_kind::promo, e).id;
  const object_id alive = grant(cr(5)).id;
  const hold& h = place(cr(5));
  EXPECT_EQ(h.parts, (std::vector<lot_part>{{gone, cr(3)}, {alive, cr(2)}}));
  // Past the lot's expiry, the balance counts only the living lot's part as returned.
  EXPECT_EQ(available(e + secs(600)), cr(5));
  const std::size_t mark = led.pending_entry_count();
  must(led.release(h.id, e + secs(1)));
  auto es = entries_since(mark);
  // The depleted lot is not in the active list, so its expiry is written by the release.
  ASSERT_EQ(es.size(), 2u);
  EXPECT_EQ(es[0].type, entry_type::release);
  EXPECT_EQ(es[0].amount, cr(2));
  EXPECT_EQ(es[0].parts, (std::vector<lot_part>{{alive, cr(2)}}));
  EXPECT_EQ(es[0].balance_after, cr(5));
  EXPECT_EQ(es[1].type, entry_type::expire);
  EXPECT_EQ(es[1].amount, cr(3));
  EXPECT_EQ(es[1].parts, (std::vector<lot_part>{{gone, cr(3)}}));
  EXPECT_EQ(es[1].reason, "lot expired while held");
  EXPECT_EQ(es[1].hold_id, h.id);
  EXPECT_EQ(lot_at(gone).status, lot_status::expired);
  EXPECT_EQ(lot_at(gone).expired, cr(3));
  EXPECT_EQ(lot_at(gone).remaining, 0);
  EXPECT_EQ(lot_at(alive).remaining, cr(5));
  EXPECT_EQ(available(e + secs(1)), cr(5));
}

TEST_F(ledger_holds, release_after_a_partly_held_lot_expired) {
  open();
  const time_us e = t0 + secs(100);
  const object_id l = grant(cr(10), lot_kind::promo, e).id;
  const hold& h = place(cr(6));
  const std::size_t mark = led.pending_entry_count();
  must(led.release(h.id, e + secs(1)));
  auto es = entries_since(mark);
  // Settle on touch expires the 4 unheld credits at e, then the release loses the 6.
  ASSERT_EQ(es.size(), 2u);
  EXPECT_EQ(es[0].type, entry_type::expire);
  EXPECT_EQ(es[0].amount, cr(4));
  EXPECT_EQ(es[0].created_at, e);
  EXPECT_EQ(es[1].type, entry_type::expire);
  EXPECT_EQ(es[1].amount, cr(6));
  EXPECT_EQ(es[1].reason, "lot expired while held");
  EXPECT_EQ(es[1].created_at, e + secs(1));
  EXPECT_EQ(lot_at(l).expired, cr(10));
  EXPECT_EQ(lot_at(l).held, 0);
  EXPECT_EQ(h.status, hold_status::released);
  EXPECT_EQ(available(e + secs(1)), 0);
}

TEST_F(ledger_holds, hold_expiry_after_its_lot_expired) {
  open();
  const time_us e = t0 + secs(100);
  const object_id l = grant(cr(10), lot_kind::promo, e).id;
  const hold& h = place(cr(6), 600);
  const std::size_t mark = led.pending_entry_count();
  EXPECT_EQ(led.run_due(t0 + secs(600)), 2u);
  auto es = entries_since(mark);
  ASSERT_EQ(es.size(), 2u);
  EXPECT_EQ(es[0].type, entry_type::expire);
  EXPECT_EQ(es[0].amount, cr(4));
  EXPECT_EQ(es[0].created_at, e);
  EXPECT_EQ(es[1].type, entry_type::expire);  // no release entry: nothing came back
  EXPECT_EQ(es[1].amount, cr(6));
  EXPECT_EQ(es[1].hold_id, h.id);
  EXPECT_EQ(es[1].created_at, t0 + secs(600));
  EXPECT_EQ(h.status, hold_status::expired);
  EXPECT_EQ(lot_at(l).expired, cr(10));
}

TEST_F(ledger_holds, hold_on_a_lot_that_is_then_voided) {
  open();
  const object_id l = grant(cr(10)).id;
  const hold& captured = place(cr(3));
  const hold& released = place(cr(3));
  const std::size_t mark = led.pending_entry_count();
  const lot& v = *must(led.void_lot(l, "chargeback", t0 + secs(1)));
  EXPECT_EQ(v.status, lot_status::voided);
  EXPECT_EQ(v.voided, cr(4));
  EXPECT_EQ(v.held, cr(6));
  EXPECT_EQ(available(t0 + secs(1)), 0);
  EXPECT_EQ(bal(t0 + secs(1)).held, cr(6));

  // A capture still takes from the voided lot; the rest is voided too.
  must(led.capture(captured.id, cr(1), t0 + secs(2)));
  EXPECT_EQ(led.find_charge(captured.charge_id)->parts, (std::vector<charge_part>{{l, cr(1), 0}}));
  EXPECT_EQ(lot_at(l).spent, cr(1));
  EXPECT_EQ(lot_at(l).voided, cr(6));
  // A release returns nothing: all of it is voided.
  must(led.release(released.id, t0 + secs(3)));
  EXPECT_EQ(lot_at(l).voided, cr(9));
  EXPECT_EQ(lot_at(l).held, 0);
  EXPECT_EQ(lot_at(l).remaining, 0);

  auto es = entries_since(mark);
  ASSERT_EQ(es.size(), 4u);
  EXPECT_EQ(es[0].type, entry_type::void_lot);
  EXPECT_EQ(es[0].amount, cr(4));
  EXPECT_EQ(es[1].type, entry_type::capture);
  EXPECT_EQ(es[1].amount, cr(1));
  EXPECT_EQ(es[2].type, entry_type::void_lot);
  EXPECT_EQ(es[2].amount, cr(2));
  EXPECT_EQ(es[2].hold_id, captured.id);
  EXPECT_EQ(es[2].parts, (std::vector<lot_part>{{l, cr(2)}}));
  EXPECT_EQ(es[2].reason, "lot voided while held");
  EXPECT_EQ(es[3].type, entry_type::void_lot);
  EXPECT_EQ(es[3].amount, cr(3));
  EXPECT_EQ(es[3].hold_id, released.id);
  EXPECT_EQ(es[3].reason, "lot voided while held");
  EXPECT_EQ(available(t0 + secs(3)), 0);
  EXPECT_EQ(bal(t0 + secs(3)).held, 0);
}

TEST_F(ledger_holds, hold_and_lot_expiring_at_the_same_instant) {
  open();
  const time_us e = t0 + secs(600);
  const object_id l = grant(cr(10), lot_kind::promo, e).id;
  const hold& h = place(cr(4), 600);  // expires at e, like the lot
  ASSERT_EQ(h.expires_at, e);
  const std::size_t mark = led.pending_entry_count();
  led.run_due(e);
  EXPECT_EQ(h.status, hold_status::expired);
  EXPECT_EQ(lot_at(l).status, lot_status::expired);
  EXPECT_EQ(lot_at(l).remaining, 0);
  EXPECT_EQ(lot_at(l).held, 0);
  EXPECT_EQ(lot_at(l).expired, cr(10));
  micros expired_total = 0;
  for (const entry& x : entries_since(mark)) {
    if (x.type == entry_type::expire) expired_total += x.amount;
  }
  EXPECT_EQ(expired_total, cr(10));
  EXPECT_EQ(led.check_all(), "");
}

TEST_F(ledger_holds, lot_revived_by_a_release_still_expires) {
  open();
  const object_id other = grant(cr(1), lot_kind::promo, t0 + secs(100)).id;
  grant_cmd g = grant_of(cr(5), lot_kind::prepaid, t0 + secs(200));
  g.priority = 1;
  const object_id l = grant(g).id;
  const hold& h = place(cr(5), 1000);  // takes all of lot l, which is depleted
  ASSERT_EQ(h.parts, (std::vector<lot_part>{{l, cr(5)}}));
  EXPECT_EQ(led.run_due(t0 + secs(100)), 1u);  // `other` expires; next_due recomputed
  EXPECT_EQ(lot_at(other).status, lot_status::expired);
  must(led.release(h.id, t0 + secs(150)));  // l is active again, expiring at +200 s
  EXPECT_EQ(lot_at(l).status, lot_status::active);
  EXPECT_EQ(available(t0 + secs(150)), cr(5));

  const std::size_t mark = led.pending_entry_count();
  led.run_due(t0 + secs(200));
  EXPECT_EQ(lot_at(l).status, lot_status::expired);
  auto es = entries_since(mark);
  ASSERT_EQ(es.size(), 1u);
  EXPECT_EQ(es[0].type, entry_type::expire);
  EXPECT_EQ(es[0].amount, cr(5));
  EXPECT_EQ(es[0].created_at, t0 + secs(200));
  // Touching the account after the hold's original expiry must not abort.
  EXPECT_EQ(refusal(led.charge(charge_of(1), t0 + secs(1000))).code, errc::insufficient_credits);
}

}  // namespace
}  // namespace ledger_holds_test_cpp
}  // namespace creditd::ledger::testing
