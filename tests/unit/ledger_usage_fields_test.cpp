// The quantity and metadata of a charge or a hold: recorded as given on the
// charge's journal entry, on the hold and its entry, inherited by the charge a
// capture makes, per item in a batch, and handed to the store in the change
// set. Other entries carry the defaults (quantity 1, no metadata).
#include <gtest/gtest.h>

#include <vector>

#include "ledger/ledger.hpp"
#include "ledger/limits.hpp"
#include "ledger_fixture.hpp"

namespace creditd::ledger::testing {
namespace ledger_usage_fields_test_cpp {  // unity builds: tests/CMakeLists.txt
namespace {

using ledger_usage_fields = ledger_fixture;

constexpr const char* meta = R"({"job":"j-17","user":"u-3"})";

TEST_F(ledger_usage_fields, charge_entry_records_quantity_and_metadata) {
  open();
  grant(cr(10));
  std::size_t mark = led.pending_entry_count();
  charge_cmd cmd = charge_of(cr(2));
  cmd.quantity = 2'500'000;  // 2.5 units
  cmd.metadata = meta;
  must(led.charge(cmd, t0));
  auto es = entries_since(mark);
  ASSERT_EQ(es.size(), 1u);
  EXPECT_EQ(es[0].quantity, 2'500'000);
  EXPECT_EQ(es[0].metadata, meta);

  // Defaults: one unit, no metadata.
  mark = led.pending_entry_count();
  charge(cr(1));
  es = entries_since(mark);
  ASSERT_EQ(es.size(), 1u);
  EXPECT_EQ(es[0].quantity, micros_per_credit);
  EXPECT_EQ(es[0].metadata, "");

  // A fraction of a unit, and a zero-priced charge, keep theirs.
  mark = led.pending_entry_count();
  cmd = charge_of(0);
  cmd.quantity = 1;
  cmd.metadata = "{}";
  must(led.charge(cmd, t0));
  es = entries_since(mark);
  ASSERT_EQ(es.size(), 1u);
  EXPECT_EQ(es[0].quantity, 1);
  EXPECT_EQ(es[0].metadata, "{}");
}

TEST_F(ledger_usage_fields, batch_items_keep_their_own) {
  open();
  grant(cr(10));
  std::vector<charge_cmd> cmds(3, charge_of(cr(1)));
  cmds[0].quantity = 3 * micros_per_credit;
  cmds[0].metadata = meta;
  cmds[2].quantity = 7;
  cmds[2].metadata = R"({"n":2})";
  const std::size_t mark = led.pending_entry_count();
  must(led.charge_batch(cmds, t0));
  auto es = entries_since(mark);
  ASSERT_EQ(es.size(), 3u);
  EXPECT_EQ(es[0].quantity, 3 * micros_per_credit);
  EXPECT_EQ(es[0].metadata, meta);
  EXPECT_EQ(es[1].quantity, micros_per_credit);
  EXPECT_EQ(es[1].metadata, "");
  EXPECT_EQ(es[2].quantity, 7);
  EXPECT_EQ(es[2].metadata, R"({"n":2})");
}

TEST_F(ledger_usage_fields, hold_and_its_capture_carry_them) {
  open();
  const object_id l = grant(cr(10)).id;
  hold_cmd cmd = hold_of(cr(4));
  cmd.quantity = 4 * micros_per_credit;
  cmd.metadata = meta;
  std::size_t mark = led.pending_entry_count();
  const hold& h = *must(led.place_hold(cmd, t0));
  EXPECT_EQ(h.quantity, 4 * micros_per_credit);
  EXPECT_EQ(h.metadata, meta);
  auto es = entries_since(mark);
  ASSERT_EQ(es.size(), 1u);
  EXPECT_EQ(es[0].type, entry_type::hold);
  EXPECT_EQ(es[0].quantity, 4 * micros_per_credit);
  EXPECT_EQ(es[0].metadata, meta);

  // A partial capture: the charge's entry inherits the hold's quantity and
  // metadata; the release of the rest carries the defaults.
  mark = led.pending_entry_count();
  must(led.capture(h.id, cr(1), t0 + secs(5)));
  es = entries_since(mark);
  ASSERT_EQ(es.size(), 2u);
  EXPECT_EQ(es[0].type, entry_type::capture);
  EXPECT_EQ(es[0].charge_id, h.charge_id);
  EXPECT_EQ(es[0].quantity, 4 * micros_per_credit);
  EXPECT_EQ(es[0].metadata, meta);
  EXPECT_EQ(es[1].type, entry_type::release);
  EXPECT_EQ(es[1].parts, (std::vector<lot_part>{{l, cr(3)}}));
  EXPECT_EQ(es[1].quantity, micros_per_credit);
  EXPECT_EQ(es[1].metadata, "");
  // The hold keeps them once closed.
  EXPECT_EQ(led.find_hold(h.id)->quantity, 4 * micros_per_credit);
  EXPECT_EQ(led.find_hold(h.id)->metadata, meta);
}

TEST_F(ledger_usage_fields, a_capture_of_a_default_hold_has_the_defaults) {
  open();
  grant(cr(10));
  const hold& h = place(cr(1));
  EXPECT_EQ(h.quantity, micros_per_credit);
  EXPECT_EQ(h.metadata, "");
  const std::size_t mark = led.pending_entry_count();
  must(led.capture(h.id, std::nullopt, t0));
  auto es = entries_since(mark);
  ASSERT_EQ(es.size(), 1u);
  EXPECT_EQ(es[0].quantity, micros_per_credit);
  EXPECT_EQ(es[0].metadata, "");
}

TEST_F(ledger_usage_fields, other_entries_carry_the_defaults) {
  open();
  const std::size_t mark = led.pending_entry_count();
  const lot& l = grant(cr(10));
  charge_cmd cmd = charge_of(cr(2));
  cmd.quantity = 9;
  cmd.metadata = meta;
  const charge_record& c = *must(led.charge(cmd, t0));
  must(led.refund({c.id, cr(1), "oops"}, t0));
  must(led.adjust({"acct", -cr(1), "fix"}, t0));
  must(led.void_lot(l.id, "fraud", t0));
  auto es = entries_since(mark);
  ASSERT_EQ(es.size(), 5u);
  for (const entry& e : es) {
    if (e.type == entry_type::charge) continue;
    EXPECT_EQ(e.quantity, micros_per_credit) << to_string(e.type);
    EXPECT_EQ(e.metadata, "") << to_string(e.type);
  }
}

TEST_F(ledger_usage_fields, the_change_set_hands_them_to_the_store) {
  open();
  grant(cr(10));
  (void)led.take_changes();
  charge_cmd c = charge_of(cr(1));
  c.quantity = 11;
  c.metadata = meta;
  must(led.charge(c, t0));
  hold_cmd h = hold_of(cr(1));
  h.quantity = 12;
  h.metadata = R"({"h":true})";
  const object_id hid = must(led.place_hold(h, t0))->id;
  change_set cs = led.take_changes();
  ASSERT_EQ(cs.entries.size(), 2u);
  EXPECT_EQ(cs.entries[0].quantity, 11);
  EXPECT_EQ(cs.entries[0].metadata, meta);
  EXPECT_EQ(cs.entries[1].quantity, 12);
  EXPECT_EQ(cs.entries[1].metadata, R"({"h":true})");
  ASSERT_EQ(cs.holds.size(), 1u);
  EXPECT_EQ(cs.holds[0].id, hid);
  EXPECT_EQ(cs.holds[0].quantity, 12);
  EXPECT_EQ(cs.holds[0].metadata, R"({"h":true})");
}

TEST_F(ledger_usage_fields, a_refused_charge_records_nothing) {
  open();
  charge_cmd c = charge_of(cr(1));
  c.quantity = 5;
  c.metadata = meta;
  const std::size_t mark = led.pending_entry_count();
  EXPECT_EQ(refusal(led.charge(c, t0)).code, errc::insufficient_credits);
  EXPECT_EQ(led.pending_entry_count(), mark);
}

}  // namespace
}  // namespace ledger_usage_fields_test_cpp
}  // namespace creditd::ledger::testing
