// The ledger keeps only recent charges in memory (issue 12: memory bounded by
// the working set); a refund of a forgotten one reads it from the store on
// the reader pool (pinned meanwhile) and admits it back. In process, over the real engine,
// SQLite store and reader (tests/support/service_rig.hpp); every wait is for
// an event.
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "support/eventually.hpp"
#include "support/service_rig.hpp"

namespace forgotten_charges_test_cpp {  // unity builds: tests/CMakeLists.txt

using namespace creditd::testing::service_rig;

namespace {

// The id of the object a reply shows ("ch_3" -> 3).
ledger::object_id id_in(const reply& r, ledger::id_kind kind) {
  auto id = ledger::parse_id(kind, field(r, "id"));
  EXPECT_TRUE(id.has_value()) << r.body;
  return id.value_or(0);
}
ledger::object_id charge_id(const reply& r) {
  return id_in(r, ledger::id_kind::charge);
}

// What `ask` says of the ledger now, asked on the writer thread.
bool on_writer(rig& r, const std::function<bool(const ledger::ledger&)>& ask) {
  bool answer = false;
  creditd::testing::fn_task t([&](ledger::ledger& l, time_us) { answer = ask(l); }, true);
  r.eng.submit(&t);
  EXPECT_TRUE(t.wait());
  return answer;
}

// Whether the ledger holds the charge, hold or lot `id` now.
bool in_memory(rig& r, ledger::object_id id, ledger::id_kind kind = ledger::id_kind::charge) {
  return on_writer(r, [&](const ledger::ledger& l) {
    return kind == ledger::id_kind::charge ? l.find_charge(id) != nullptr
           : kind == ledger::id_kind::hold ? l.find_hold(id) != nullptr
                                           : l.find_lot(id) != nullptr;
  });
}

// One writer round after every reply so far: the rounds forget what the
// last commit made durable.
void one_round(rig& r) {
  creditd::testing::fn_task t([](ledger::ledger&, time_us) {}, true);
  r.eng.submit(&t);
  EXPECT_TRUE(t.wait());
}

// Account "a" with 100 credits, a charge of 10 on it, and a writer round
// after its commit: with nothing kept, the charge is forgotten. Its id.
ledger::object_id forgotten_charge(rig& r) {
  EXPECT_TRUE(r.loaded);
  EXPECT_EQ(r.account_with("a", 100).status, 201u);
  const reply c = r.charge("a", 10);
  EXPECT_EQ(c.status, 201u) << c.body;
  one_round(r);
  return charge_id(c);
}

reply refund(rig& r, ledger::object_id charge, std::optional<std::int64_t> credits) {
  awaited a;
  ledger::refund_cmd cmd{.charge_id = charge, .reason = "test"};
  if (credits) cmd.amount = *credits * credit;
  r.svc.refund(admin, cmd, a.fn());
  return a.f.get();
}

std::string available(rig& r, const std::string& account) {
  const reply b = r.balance(account, std::nullopt);
  EXPECT_EQ(b.status, 200u) << b.body;
  return field(b, "available");
}

}  // namespace

TEST(forgotten_charges, a_refund_reads_a_forgotten_charge_from_the_store) {
  rig r(0);  // keep no charge in memory once it is durable
  ASSERT_TRUE(r.loaded);
  ASSERT_EQ(r.account_with("a", 100).status, 201u);
  const reply c = r.charge("a", 10);
  ASSERT_EQ(c.status, 201u) << c.body;
  const ledger::object_id id = charge_id(c);
  one_round(r);
  ASSERT_FALSE(in_memory(r, id));
  EXPECT_EQ(available(r, "a"), "90");

  const reply part = refund(r, id, 4);
  ASSERT_EQ(part.status, 201u) << part.body;
  EXPECT_EQ(field(part, "amount"), "4");
  EXPECT_EQ(field(part, "charge_refunded"), "4");
  EXPECT_EQ(r.reader.charge_reads.load(), 1);
  one_round(r);
  ASSERT_FALSE(in_memory(r, id));

  // The second read sees the first refund: the rest is 6, not 10.
  EXPECT_EQ(refund(r, id, 7).status, 400u);  // refund_too_large
  const reply rest = refund(r, id, std::nullopt);
  ASSERT_EQ(rest.status, 201u) << rest.body;
  EXPECT_EQ(field(rest, "amount"), "6");
  EXPECT_EQ(field(rest, "charge_refunded"), "10");
  one_round(r);
  const reply again = refund(r, id, std::nullopt);
  EXPECT_EQ(again.status, 409u) << again.body;
  EXPECT_NE(again.body.find("fully refunded"), std::string::npos) << again.body;
  EXPECT_EQ(available(r, "a"), "100");
}

TEST(forgotten_charges, a_charge_the_store_does_not_hold_is_not_found) {
  rig r(0);
  ASSERT_TRUE(r.loaded);
  ASSERT_EQ(r.account_with("a", 100).status, 201u);
  const reply c = r.charge("a", 10);
  ASSERT_EQ(c.status, 201u);
  const reply missing = refund(r, charge_id(c) + 1000, 1);
  EXPECT_EQ(missing.status, 404u) << missing.body;
  EXPECT_EQ(r.reader.charge_reads.load(), 1);
}

TEST(forgotten_charges, recent_charges_are_refunded_without_a_store_read) {
  rig r;  // the default: 65,536 charges kept
  ASSERT_TRUE(r.loaded);
  ASSERT_EQ(r.account_with("a", 100).status, 201u);
  const reply c = r.charge("a", 10);
  ASSERT_EQ(c.status, 201u);
  one_round(r);
  EXPECT_TRUE(in_memory(r, charge_id(c)));
  EXPECT_EQ(refund(r, charge_id(c), 3).status, 201u);
  EXPECT_EQ(r.reader.charge_reads.load(), 0);
}

TEST(forgotten_charges, a_charge_being_read_is_not_forgotten_again) {
  rig r(0);
  const ledger::object_id id = forgotten_charge(r);
  ASSERT_FALSE(in_memory(r, id));

  // Refund A pins the charge, reads it (nothing refunded yet) and is held
  // there.
  r.reader.g.close();
  awaited a;
  r.svc.refund(admin, {.charge_id = id, .amount = 3 * credit, .reason = "a"}, a.fn());
  r.reader.g.wait_reached();
  // Meanwhile another refund (its read made before A's) brings the charge
  // back and refunds 5; that is made durable, and the writer runs rounds
  // that would forget it: pinned by A, it stays.
  auto row = r.plain_reader.charge(id);
  ASSERT_TRUE(row && *row);
  creditd::testing::fn_task other([&](ledger::ledger& l, time_us now) {
    EXPECT_TRUE(l.pinned(id));
    ASSERT_TRUE(l.admit_charge((*row)->c, (*row)->account));
    auto b = l.refund({.charge_id = id, .amount = 5 * credit, .reason = "b"}, now);
    ASSERT_TRUE(b.has_value());
    EXPECT_EQ(b->original->refunded, 5 * credit);
  });
  r.eng.submit(&other);
  ASSERT_TRUE(other.wait());
  one_round(r);
  one_round(r);
  ASSERT_TRUE(in_memory(r, id));
  // A's read is older than that refund; it is not used: memory is, and A
  // refunds from what is left.
  r.reader.g.open();
  const reply got = a.f.get();
  ASSERT_EQ(got.status, 201u) << got.body;
  EXPECT_EQ(field(got, "charge_refunded"), "8");
  EXPECT_EQ(r.reader.charge_reads.load(), 1);
  // A's pin is gone: the charge is forgotten at the next round.
  one_round(r);
  EXPECT_FALSE(in_memory(r, id));
  EXPECT_EQ(refund(r, id, 3).status, 400u);  // 2 left
  EXPECT_EQ(available(r, "a"), "98");
  creditd::testing::fn_task pins([&](ledger::ledger& l, time_us) { EXPECT_EQ(l.pin_count(), 0u); },
                                 true);
  r.eng.submit(&pins);
  EXPECT_TRUE(pins.wait());
}

TEST(forgotten_charges, idempotent_refund_of_a_forgotten_charge_replays) {
  rig r(0);
  const ledger::object_id id = forgotten_charge(r);
  const service::caller keyed{admin.who, "refund-once", "fp"};
  reply first, second;
  for (reply* out : {&first, &second}) {
    awaited w;
    r.svc.refund(keyed, {.charge_id = id, .amount = 4 * credit, .reason = "x"}, w.fn());
    *out = w.f.get();
    one_round(r);
  }
  ASSERT_EQ(first.status, 201u) << first.body;
  EXPECT_EQ(second.status, 201u);
  EXPECT_TRUE(second.replayed);
  EXPECT_EQ(second.body, first.body);
  EXPECT_EQ(available(r, "a"), "94");
}

// ---- Closed holds: forgotten once durable, answered from the store.

namespace {

reply place_hold(rig& r, const std::string& account, std::int64_t credits) {
  awaited a;
  r.svc.place_hold(
      admin, {.account = account, .amount = credits * credit, .operation = "x", .ttl_seconds = 600},
      a.fn());
  return a.f.get();
}

}  // namespace

TEST(forgotten_holds, a_closed_hold_is_read_captured_and_released_from_the_store) {
  rig r(0);
  ASSERT_TRUE(r.loaded);
  ASSERT_EQ(r.account_with("a", 100).status, 201u);
  const reply placed = place_hold(r, "a", 10);
  ASSERT_EQ(placed.status, 201u) << placed.body;
  const ledger::object_id id = id_in(placed, ledger::id_kind::hold);
  // An open hold is never forgotten.
  one_round(r);
  one_round(r);
  ASSERT_TRUE(in_memory(r, id, ledger::id_kind::hold));
  awaited cap;
  r.svc.capture(admin, id, 4 * credit, cap.fn());
  const reply captured = cap.f.get();
  ASSERT_EQ(captured.status, 200u) << captured.body;
  one_round(r);
  ASSERT_FALSE(in_memory(r, id, ledger::id_kind::hold));

  awaited got;
  r.svc.get_hold(admin, id, got.fn());
  const reply read = got.f.get();
  ASSERT_EQ(read.status, 200u) << read.body;
  EXPECT_EQ(r.reader.hold_reads.load(), 1);
  // What the capture answered, but for the charge: the capture's answer shows
  // it whole, a read names it.
  const boost::json::object was = json(captured).as_object(), now = json(read).as_object();
  for (const auto& [k, v] : was) {
    if (k == "charge") continue;
    EXPECT_EQ(now.at(k), v) << k;
  }
  EXPECT_EQ(now.at("status"), "captured");
  EXPECT_EQ(now.at("charge"), was.at("charge").as_object().at("id"));

  awaited again, rel;
  r.svc.capture(admin, id, std::nullopt, again.fn());
  const reply twice = again.f.get();
  EXPECT_EQ(twice.status, 409u) << twice.body;
  EXPECT_NE(twice.body.find("the hold is not open"), std::string::npos);
  r.svc.release(admin, id, rel.fn());
  EXPECT_EQ(rel.f.get().status, 409u);
  EXPECT_EQ(available(r, "a"), "96");

  awaited none;
  r.svc.get_hold(admin, id + 1000, none.fn());
  EXPECT_EQ(none.f.get().status, 404u);

  // A reader key of another account may not read it from the store either.
  const service::caller other{{"key_b", auth::role::reader, "b"}, "", ""};
  awaited forbidden;
  r.svc.get_hold(other, id, forbidden.fn());
  EXPECT_EQ(forbidden.f.get().status, 403u);
}

// ---- Dead lots: forgotten once durable, read back when a request needs them.

namespace {

reply list_lots(rig& r, const std::string& account) {
  awaited a;
  r.svc.list_lots(admin, account, {}, a.fn());
  return a.f.get();
}

}  // namespace

TEST(forgotten_lots, a_refund_into_a_forgotten_spent_lot_reads_it_back_and_revives_it) {
  rig r(0);
  ASSERT_TRUE(r.loaded);
  const reply g = r.account_with("a", 10);
  ASSERT_EQ(g.status, 201u) << g.body;
  const ledger::object_id lot = id_in(g, ledger::id_kind::lot);
  const reply c = r.charge("a", 10);  // spends the lot
  ASSERT_EQ(c.status, 201u) << c.body;
  one_round(r);
  ASSERT_FALSE(in_memory(r, lot, ledger::id_kind::lot));
  ASSERT_FALSE(in_memory(r, charge_id(c)));
  // The lot list reads the store: the spent lot is there.
  const reply listed = list_lots(r, "a");
  ASSERT_EQ(listed.status, 200u) << listed.body;
  const boost::json::value page = json(listed);
  const auto& data = page.at("data").as_array();
  ASSERT_EQ(data.size(), 1u);
  EXPECT_EQ(data[0].at("status"), "depleted");

  const reply back = refund(r, charge_id(c), 4);
  ASSERT_EQ(back.status, 201u) << back.body;
  EXPECT_EQ(r.reader.lot_reads.load(), 1);
  EXPECT_TRUE(in_memory(r, lot, ledger::id_kind::lot));  // alive again: kept
  one_round(r);
  EXPECT_TRUE(in_memory(r, lot, ledger::id_kind::lot));
  EXPECT_EQ(available(r, "a"), "4");
  const reply again = list_lots(r, "a");
  EXPECT_EQ(json(again).at("data").as_array()[0].at("status"), "active");
  EXPECT_EQ(json(again).at("data").as_array()[0].at("remaining"), "4");
}

TEST(forgotten_lots, a_forgotten_lot_is_voided_or_refused_as_in_memory) {
  rig r(0);
  ASSERT_TRUE(r.loaded);
  const reply g = r.account_with("a", 5);
  ASSERT_EQ(g.status, 201u);
  const ledger::object_id lot = id_in(g, ledger::id_kind::lot);
  ASSERT_EQ(r.charge("a", 5).status, 201u);
  one_round(r);
  ASSERT_FALSE(in_memory(r, lot, ledger::id_kind::lot));
  awaited v;
  r.svc.void_lot(admin, lot, "fraud", v.fn());
  const reply voided = v.f.get();
  ASSERT_EQ(voided.status, 200u) << voided.body;
  EXPECT_EQ(field(voided, "status"), "voided");
  EXPECT_EQ(field(voided, "voided"), "0");
  EXPECT_EQ(field(voided, "spent"), "5");
  one_round(r);
  ASSERT_FALSE(in_memory(r, lot, ledger::id_kind::lot));
  awaited again;
  r.svc.void_lot(admin, lot, "again", again.fn());
  const reply twice = again.f.get();
  EXPECT_EQ(twice.status, 409u) << twice.body;
  awaited none;
  r.svc.void_lot(admin, lot + 1000, "", none.fn());
  EXPECT_EQ(none.f.get().status, 404u);
  EXPECT_EQ(r.reader.lot_reads.load(), 3);
}

// ---- Purchases' external ids (Stripe event ids): the ledger keeps the
// recent ones; a delivery of an event it does not hold asks the store.

namespace {

// Account "a" with 1 credit, and package "pack-5" (5 credits).
void buyer_and_pack(rig& r) {
  ASSERT_TRUE(r.loaded);
  ASSERT_EQ(r.account_with("a", 1).status, 201u);
  awaited p;
  r.svc.put_package(admin, {.id = "pack-5", .credits = 5 * credit, .price = 300, .currency = "usd"},
                    p.fn());
  const reply put = p.f.get();
  ASSERT_EQ(put.status, 201u) << put.body;
}

reply deliver(rig& r, const std::string& event) {
  awaited a;
  r.deliver_stripe(event, "a", "pack-5", a.fn());
  return a.f.get();
}

// Whether the ledger holds the external id now.
bool external_in_memory(rig& r, const std::string& id) {
  return on_writer(r, [&](const ledger::ledger& l) { return l.external_id_seen(id); });
}
bool external_pinned(rig& r, const std::string& id) {
  return on_writer(r, [&](const ledger::ledger& l) { return l.external_id_pinned(id); });
}

// Account "a" and its pack, and a delivery of "evt_A" held at the gate
// after its store lookup found nothing (the id pinned); `a` gets its reply.
void delivery_held_after_its_lookup(rig& r, awaited& a) {
  buyer_and_pack(r);
  if (::testing::Test::HasFatalFailure()) return;  // no delivery would reach the gate
  r.reader.g.close();
  r.deliver_stripe("evt_A", "a", "pack-5", a.fn());
  r.reader.g.wait_reached();
}

// Another delivery's purchase of "evt_A", made on the writer (its own
// lookup done) while the held one waits; durable when this returns.
void purchase_beside_the_held_delivery(rig& r) {
  creditd::testing::fn_task other([&](ledger::ledger& l, time_us now) {
    ledger::purchase_cmd cmd;
    cmd.account = "a";
    cmd.package = "pack-5";
    cmd.source = ledger::purchase_source::stripe;
    cmd.external_id = "evt_A";
    auto b = l.purchase(cmd, now);
    ASSERT_TRUE(b.has_value());
    EXPECT_FALSE(b->duplicate);
  });
  r.eng.submit(&other);
  ASSERT_TRUE(other.wait());
}

}  // namespace

TEST(forgotten_external_ids, an_event_the_ledger_forgot_is_a_duplicate_found_in_the_store) {
  rig r(0);  // keep no external id once durable
  buyer_and_pack(r);
  const reply first = deliver(r, "evt_A");
  ASSERT_EQ(first.status, 200u) << first.body;
  EXPECT_EQ(field(first, "outcome"), "recorded");
  EXPECT_EQ(r.reader.external_reads.load(), 1);  // not in memory: asked the store
  one_round(r);
  ASSERT_FALSE(external_in_memory(r, "evt_A"));
  const reply again = deliver(r, "evt_A");
  ASSERT_EQ(again.status, 200u) << again.body;
  EXPECT_EQ(field(again, "outcome"), "duplicate");
  EXPECT_EQ(r.reader.external_reads.load(), 2);
  EXPECT_EQ(available(r, "a"), "6");
  // Another event is new.
  EXPECT_EQ(field(deliver(r, "evt_B"), "outcome"), "recorded");
  EXPECT_EQ(available(r, "a"), "11");
}

TEST(forgotten_external_ids, recent_events_are_duplicates_without_a_store_read) {
  rig r;  // the default: the recent 65,536 kept
  buyer_and_pack(r);
  EXPECT_EQ(field(deliver(r, "evt_A"), "outcome"), "recorded");
  one_round(r);
  EXPECT_TRUE(external_in_memory(r, "evt_A"));
  EXPECT_EQ(field(deliver(r, "evt_A"), "outcome"), "duplicate");
  EXPECT_EQ(r.reader.external_reads.load(), 1);  // the first delivery's only
  EXPECT_EQ(available(r, "a"), "6");
}

// The race the pin closes: a delivery looks the event up in the store and
// finds nothing; before it runs again, another delivery's purchase of the
// same event is made durable and would be forgotten at once (nothing kept).
// Pinned, it stays, and the first delivery sees it in memory: one purchase.
TEST(forgotten_external_ids, an_event_being_looked_up_is_not_forgotten_and_is_bought_once) {
  rig r(0);
  awaited a;
  delivery_held_after_its_lookup(r, a);
  if (HasFatalFailure()) return;
  EXPECT_TRUE(external_pinned(r, "evt_A"));
  purchase_beside_the_held_delivery(r);
  one_round(r);
  one_round(r);
  ASSERT_TRUE(external_in_memory(r, "evt_A"));
  r.reader.g.open();
  const reply got = a.f.get();
  ASSERT_EQ(got.status, 200u) << got.body;
  EXPECT_EQ(field(got, "outcome"), "duplicate");
  EXPECT_EQ(available(r, "a"), "6");
  // A's pin is gone: forgotten at the next round, and still a duplicate.
  one_round(r);
  EXPECT_FALSE(external_in_memory(r, "evt_A"));
  EXPECT_EQ(field(deliver(r, "evt_A"), "outcome"), "duplicate");
  EXPECT_EQ(available(r, "a"), "6");
}

// A reset of the ledger (a failed commit reloads it) drops every pin: a
// delivery that looked the event up before it looks again, since a purchase
// of the event made after the reset is not held by its pin.
TEST(forgotten_external_ids, a_delivery_looks_again_after_a_reset_of_the_ledger) {
  rig r(0);
  awaited a;
  delivery_held_after_its_lookup(r, a);
  if (HasFatalFailure()) return;
  r.counted.fail_next = 1;
  creditd::testing::fn_task refused([](ledger::ledger& l, time_us now) {
    (void)l.put_account({"z", std::nullopt, std::nullopt}, now);
  });
  r.eng.submit(&refused);
  EXPECT_FALSE(refused.wait());
  ASSERT_TRUE(creditd::testing::eventually([&] { return !r.eng.failed(); }));
  // The ledger was reloaded: A's pin is gone. A purchase of the event now
  // is made durable and forgotten at once.
  // At the failure, and at the recovery.
  EXPECT_TRUE(on_writer(r, [](const ledger::ledger& l) { return l.resets() >= 1; }));
  EXPECT_FALSE(external_pinned(r, "evt_A"));
  purchase_beside_the_held_delivery(r);
  one_round(r);
  ASSERT_FALSE(external_in_memory(r, "evt_A"));
  // A's lookup (nothing) is older than that purchase: A looks again.
  r.reader.g.open();
  const reply got = a.f.get();
  ASSERT_EQ(got.status, 200u) << got.body;
  EXPECT_EQ(field(got, "outcome"), "duplicate");
  EXPECT_EQ(r.reader.external_reads.load(), 2);
  EXPECT_EQ(available(r, "a"), "6");
}

// A lookup that fails is answered (500), once: the delivery is not recorded,
// its pin goes, and Stripe's retry finds the event new.
TEST(forgotten_external_ids, a_failed_lookup_is_a_server_error_and_records_nothing) {
  rig r(0);
  buyer_and_pack(r);
  r.reader.fail_external = true;
  const reply failed = deliver(r, "evt_A");
  EXPECT_EQ(failed.status, 500u) << failed.body;
  EXPECT_NE(failed.body.find("cannot read the purchase"), std::string::npos) << failed.body;
  EXPECT_EQ(r.reader.external_reads.load(), 1);
  EXPECT_FALSE(external_in_memory(r, "evt_A"));
  EXPECT_FALSE(external_pinned(r, "evt_A"));
  EXPECT_EQ(available(r, "a"), "1");
  r.reader.fail_external = false;
  EXPECT_EQ(field(deliver(r, "evt_A"), "outcome"), "recorded");
  EXPECT_EQ(available(r, "a"), "6");
}

}  // namespace forgotten_charges_test_cpp
