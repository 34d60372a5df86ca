// Charges kept in memory (issue 12: memory bounded by the working set): the
// ledger forgets the oldest charges once their last change is durable, and
// takes one back from the store for a refund (admit_charge). The generation
// moves when a refunded charge is forgotten, so that a read older than that
// refund is never admitted.
#include <gtest/gtest.h>

#include <vector>

#include "ledger/ledger.hpp"
#include "ledger_fixture.hpp"

namespace creditd::ledger::testing {
namespace ledger_forget_test_cpp {  // unity builds: tests/CMakeLists.txt
namespace {

class ledger_forget : public ledger_fixture {
 protected:
  void SetUp() override {
    ASSERT_EQ(led.finish_load(), "");  // an empty store, loaded
    open();
    grant(cr(1000));
  }
  // Takes the changes made so far, as the engine stages them; returns the
  // epoch they belong to.
  std::uint64_t stage() {
    const std::uint64_t e = led.change_epoch();
    stored.push_back(led.take_changes());
    return e;
  }
  std::vector<change_set> stored;
};

TEST_F(ledger_forget, forgets_the_oldest_durable_charges_down_to_the_number_kept) {
  std::vector<object_id> ids;
  for (int i = 0; i < 5; ++i)
    ids.push_back(charge(cr(1)).id);
  const std::uint64_t e = stage();
  EXPECT_EQ(led.charge_count(), 5u);
  // Not durable yet: nothing goes.
  EXPECT_EQ(led.forget_charges(e - 1, 0, 100), 0u);
  EXPECT_EQ(led.charge_count(), 5u);
  // Durable: the oldest go first, down to `keep`, at most `items_max` a call.
  EXPECT_EQ(led.forget_charges(e, 3, 1), 1u);
  EXPECT_EQ(led.forget_charges(e, 3, 100), 1u);
  EXPECT_EQ(led.charge_count(), 3u);
  EXPECT_EQ(led.find_charge(ids[0]), nullptr);
  EXPECT_EQ(led.find_charge(ids[1]), nullptr);
  EXPECT_NE(led.find_charge(ids[2]), nullptr);
}

TEST_F(ledger_forget, a_pinned_charge_is_kept_until_unpinned) {
  const object_id a = charge(cr(1)).id;
  const object_id b = charge(cr(1)).id;
  const std::uint64_t e = stage();
  led.pin(a);
  led.pin(a);  // two requests read it
  EXPECT_EQ(led.forget_charges(e, 0, 100), 1u);
  EXPECT_NE(led.find_charge(a), nullptr);
  EXPECT_EQ(led.find_charge(b), nullptr);
  led.unpin(a);
  EXPECT_EQ(led.forget_charges(e, 0, 100), 0u);
  led.unpin(a);
  led.unpin(a);  // one unpin too many changes nothing
  EXPECT_EQ(led.pin_count(), 0u);
  EXPECT_EQ(led.forget_charges(e, 0, 100), 1u);
  EXPECT_EQ(led.charge_count(), 0u);
}

TEST_F(ledger_forget, stops_at_a_charge_changed_after_the_durable_epoch) {
  const object_id a = charge(cr(2)).id;
  const object_id b = charge(cr(2)).id;
  const std::uint64_t e1 = stage();
  ASSERT_TRUE(led.refund({a, cr(1), "r"}, t0).has_value());  // a changes in the next epoch
  const std::uint64_t e2 = stage();
  ASSERT_GT(e2, e1);
  EXPECT_EQ(led.forget_charges(e1, 0, 100), 0u);  // a is first, and not durable in e1
  EXPECT_NE(led.find_charge(b), nullptr);
  EXPECT_EQ(led.forget_charges(e2, 0, 100), 2u);
  EXPECT_EQ(led.charge_count(), 0u);
}

TEST_F(ledger_forget, an_admitted_charge_refunds_from_what_the_store_held) {
  const charge_record c = charge(cr(10));
  ASSERT_TRUE(led.refund({c.id, cr(3), "r"}, t0).has_value());
  charge_record row = *led.find_charge(c.id);  // as the store holds it after the commit
  row.owner = nullptr;
  const std::uint64_t e = stage();
  ASSERT_EQ(led.forget_charges(e, 0, 100), 1u);
  ASSERT_EQ(led.find_charge(c.id), nullptr);
  EXPECT_EQ(refusal(led.refund({c.id, cr(1), "r"}, t0)).code, errc::charge_not_found);

  EXPECT_FALSE(led.admit_charge(row, "nobody"));
  ASSERT_TRUE(led.admit_charge(row, "acct"));
  const charge_record* back = led.find_charge(c.id);
  ASSERT_NE(back, nullptr);
  EXPECT_EQ(back->owner, led.find_account("acct"));
  EXPECT_EQ(back->refunded, cr(3));
  EXPECT_EQ(refusal(led.refund({c.id, cr(8), "r"}, t0)).code, errc::refund_too_large);
  ASSERT_TRUE(led.refund({c.id, cr(7), "r"}, t0).has_value());
  EXPECT_EQ(available(), cr(1000));
  // Admitting what memory already holds changes nothing: memory is newer.
  ASSERT_TRUE(led.admit_charge(row, "acct"));
  EXPECT_EQ(led.find_charge(c.id)->refunded, cr(10));
}

TEST_F(ledger_forget, a_reset_forgets_every_charge_and_pin) {
  const object_id id = charge(cr(1)).id;
  led.pin(id);
  const std::uint64_t e = stage();
  led.reset();
  EXPECT_EQ(led.charge_count(), 0u);
  EXPECT_EQ(led.pin_count(), 0u);
  // The epoch keeps counting: the engine's durable mark stays below new changes.
  EXPECT_GT(led.change_epoch(), e);
}

TEST_F(ledger_forget, a_refused_batch_leaves_no_charge_to_forget) {
  charge(cr(1));
  // The second charge cannot be paid: the batch makes none.
  std::vector<charge_cmd> cmds = {charge_of(cr(1)), charge_of(cr(5000))};
  EXPECT_EQ(refusal(led.charge_batch(cmds, t0)).code, errc::insufficient_credits);
  // The refused batch's first charge is undone, its id given again.
  const object_id again = charge(cr(1)).id;
  const object_id last = charge(cr(1)).id;
  const std::uint64_t e = stage();
  EXPECT_EQ(led.charge_count(), 3u);
  EXPECT_EQ(led.forget_charges(e, 1, 100), 2u);
  EXPECT_EQ(led.find_charge(again), nullptr);
  EXPECT_NE(led.find_charge(last), nullptr);
  EXPECT_EQ(led.forget_charges(e, 0, 100), 1u);
  EXPECT_EQ(led.charge_count(), 0u);
}

// ---- Purchases' external ids (Stripe event ids): the recent ones, as charges.

class ledger_forget_external : public ledger_forget {
 protected:
  void SetUp() override {
    ledger_forget::SetUp();
    package_cmd p;
    p.id = "p1";
    p.credits = cr(1);
    p.currency = "usd";
    ASSERT_TRUE(led.put_package(p, t0).has_value());
  }
  purchase_result buy(std::string external_id) {
    purchase_cmd cmd;
    cmd.account = "acct";
    cmd.package = "p1";
    cmd.source = purchase_source::stripe;
    cmd.external_id = std::move(external_id);
    auto r = led.purchase(cmd, t0);
    EXPECT_TRUE(r.has_value());
    return r ? *r : purchase_result{};
  }
};

TEST_F(ledger_forget_external, forgets_the_oldest_durable_ids_down_to_the_number_kept) {
  for (const char* id : {"evt_1", "evt_2", "evt_3"})
    EXPECT_FALSE(buy(id).duplicate);
  buy("");  // no external id: nothing to keep
  const std::uint64_t e = stage();
  EXPECT_FALSE(buy("evt_4").duplicate);
  EXPECT_EQ(led.external_id_count(), 4u);
  // Not durable yet: nothing goes; durable: the oldest first, down to `keep`,
  // at most `items_max` a call, and never one recorded after the durable epoch.
  EXPECT_EQ(led.forget_external_ids(e - 1, 0, 100), 0u);
  EXPECT_EQ(led.forget_external_ids(e, 2, 1), 1u);
  EXPECT_EQ(led.forget_external_ids(e, 0, 100), 2u);
  EXPECT_FALSE(led.external_id_seen("evt_1"));
  EXPECT_FALSE(led.external_id_seen("evt_3"));
  EXPECT_TRUE(led.external_id_seen("evt_4"));
  EXPECT_EQ(led.external_id_count(), 1u);
  // In memory: a duplicate that changes nothing. Forgotten: the ledger no
  // longer knows it (the service asks the store first).
  EXPECT_TRUE(buy("evt_4").duplicate);
  EXPECT_FALSE(buy("evt_1").duplicate);
}

TEST_F(ledger_forget_external, a_pinned_id_is_kept_until_unpinned_and_a_reset_drops_the_pins) {
  buy("evt_1");
  buy("evt_2");
  const std::uint64_t e = stage();
  led.pin_external_id("evt_1");
  led.pin_external_id("evt_1");  // two requests look it up
  led.pin_external_id("evt_9");  // pinned before any purchase of it
  EXPECT_EQ(led.forget_external_ids(e, 0, 100), 1u);
  EXPECT_TRUE(led.external_id_seen("evt_1"));
  EXPECT_FALSE(led.external_id_seen("evt_2"));
  led.unpin_external_id("evt_1");
  EXPECT_EQ(led.forget_external_ids(e, 0, 100), 0u);
  led.unpin_external_id("evt_1");
  EXPECT_FALSE(led.external_id_pinned("evt_1"));
  EXPECT_EQ(led.forget_external_ids(e, 0, 100), 1u);
  EXPECT_EQ(led.external_id_count(), 0u);
  // A purchase of a pinned id stays, durable or not, while pinned.
  buy("evt_9");
  const std::uint64_t e2 = stage();
  EXPECT_EQ(led.forget_external_ids(e2, 0, 100), 0u);
  EXPECT_TRUE(led.external_id_seen("evt_9"));
  const std::uint64_t resets = led.resets();
  led.reset();
  EXPECT_EQ(led.resets(), resets + 1);
  EXPECT_FALSE(led.external_id_pinned("evt_9"));
  EXPECT_EQ(led.external_id_count(), 0u);
}

}  // namespace
}  // namespace ledger_forget_test_cpp
}  // namespace creditd::ledger::testing

namespace creditd::ledger::testing {
namespace ledger_forget_test_cpp {
namespace {

// ---- Dead lots: spent, expired or voided, holding nothing.

class ledger_forget_lots : public ledger_fixture {
 protected:
  void SetUp() override {
    ASSERT_EQ(led.finish_load(), "");
    open();
  }
  std::uint64_t stage() {
    const std::uint64_t e = led.change_epoch();
    (void)led.take_changes();
    return e;
  }
  std::size_t lots_listed() { return led.find_account("acct")->lots.size(); }
};

TEST_F(ledger_forget_lots, a_spent_lot_is_forgotten_once_durable_and_admitted_back_for_a_refund) {
  const object_id spent = grant(cr(5)).id;
  const object_id live = grant(cr(100), lot_kind::prepaid, t0 + 3600 * us_per_second).id;
  // `live` expires first, so it is spent first; then both are spent.
  charge(cr(5));
  const charge_record all = charge(cr(100));
  ASSERT_EQ(led.find_lot(spent)->status, lot_status::depleted);
  const lot spent_row = *led.find_lot(spent);
  EXPECT_EQ(led.forget_dead_lots(stage() - 1, 0, 100), 0u);  // not durable yet
  EXPECT_EQ(led.forget_dead_lots(led.change_epoch() - 1, 0, 100), 2u);
  EXPECT_EQ(led.find_lot(spent), nullptr);
  EXPECT_EQ(led.find_lot(live), nullptr);
  EXPECT_EQ(lots_listed(), 0u);
  // A refund needs them: refused until they are admitted.
  EXPECT_EQ(refusal(led.refund({all.id, cr(1), "r"}, t0)).code, errc::lot_not_found);
  lot row = spent_row;
  row.owner = nullptr;
  EXPECT_FALSE(led.admit_lot(row, "nobody"));
  lot alive = row;
  alive.status = lot_status::active;
  EXPECT_FALSE(led.admit_lot(alive, "acct"));  // the store disagrees: a live lot is never forgotten
  ASSERT_TRUE(led.admit_lot(row, "acct"));
  EXPECT_EQ(lots_listed(), 1u);
}

TEST_F(ledger_forget_lots, a_refund_revives_an_admitted_lot_and_it_is_kept_while_alive) {
  const lot& l = grant(cr(10));
  const object_id id = l.id;
  const charge_record c = charge(cr(10));
  lot row = *led.find_lot(id);
  row.owner = nullptr;
  ASSERT_EQ(led.forget_dead_lots(stage(), 0, 100), 1u);
  ASSERT_TRUE(led.admit_lot(row, "acct"));
  ASSERT_TRUE(led.refund({c.id, cr(4), "r"}, t0).has_value());
  EXPECT_EQ(led.find_lot(id)->status, lot_status::active);
  EXPECT_EQ(available(), cr(4));
  // Alive again: listed for forgetting earlier, skipped now.
  EXPECT_EQ(led.forget_dead_lots(stage(), 0, 100), 0u);
  EXPECT_NE(led.find_lot(id), nullptr);
}

TEST_F(ledger_forget_lots, a_pinned_dead_lot_is_kept_until_unpinned) {
  const object_id id = grant(cr(2)).id;
  charge(cr(2));
  const std::uint64_t e = stage();
  led.pin(id);
  EXPECT_EQ(led.forget_dead_lots(e, 0, 100), 0u);
  EXPECT_NE(led.find_lot(id), nullptr);
  led.unpin(id);
  EXPECT_EQ(led.forget_dead_lots(e, 0, 100), 1u);
  EXPECT_EQ(led.find_lot(id), nullptr);
}

TEST_F(ledger_forget_lots, a_dead_lot_an_open_hold_holds_is_kept_until_the_hold_closes) {
  const object_id id = grant(cr(10), lot_kind::prepaid, t0 + 60 * us_per_second).id;
  const hold& h = *must(led.place_hold(hold_of(cr(4), 3600), t0));
  const object_id hid = h.id;
  // The lot expires with 4 held: dead, but held.
  led.run_due(t0 + 61 * us_per_second);
  ASSERT_EQ(led.find_lot(id)->status, lot_status::expired);
  ASSERT_EQ(led.find_lot(id)->held, cr(4));
  EXPECT_EQ(led.forget_dead_lots(stage(), 0, 100), 0u);
  EXPECT_NE(led.find_lot(id), nullptr);
  ASSERT_TRUE(led.release(hid, t0 + 62 * us_per_second).has_value());
  EXPECT_EQ(led.forget_dead_lots(stage(), 0, 100), 1u);
  EXPECT_EQ(led.find_lot(id), nullptr);
}

}  // namespace
}  // namespace ledger_forget_test_cpp
}  // namespace creditd::ledger::testing

namespace creditd::ledger::testing {
namespace ledger_forget_test_cpp {
namespace {

// ---- The due queue: stale items do not pile up.

using ledger_due_queue = ledger_fixture;

TEST_F(ledger_due_queue, holds_captured_before_their_expiry_leave_no_pile_of_due_items) {
  ASSERT_EQ(led.finish_load(), "");
  open();
  grant(cr(1'000'000));
  // A long-lived stream of holds, each captured at once: their expiries
  // (a month away) are stale as soon as they are captured.
  for (int i = 0; i < 50'000; ++i) {
    const hold& h = *must(led.place_hold(hold_of(cr(1), 2'592'000), t0));
    ASSERT_TRUE(led.capture(h.id, std::nullopt, t0).has_value());
  }
  EXPECT_LE(led.due_size(), 2u * 4096u);
  // Live items are kept whatever their number.
  std::vector<object_id> open_holds;
  for (int i = 0; i < 10'000; ++i)
    open_holds.push_back(must(led.place_hold(hold_of(cr(1), 60), t0))->id);
  EXPECT_GE(led.due_size(), 10'000u);
  EXPECT_GE(led.run_due(t0 + 61 * us_per_second), 1u);  // one account: one settle expires them all
  for (object_id id : open_holds)
    EXPECT_EQ(led.find_hold(id)->status, hold_status::expired);
}

}  // namespace
}  // namespace ledger_forget_test_cpp
}  // namespace creditd::ledger::testing
