// The journal replay (ledger/replay.hpp, ledger/balance_at.hpp), the core of `creditd check` and of
// the balance as of a past instant: replaying an account's entries must give
// back every lot's remaining and held credits and the postpaid use, after
// every kind of entry (grants, charges, holds, captures, releases, hold and
// lot expiry, a lot expiring or voided while held, refunds into a live lot
// and into a new one, adjustments both ways); and replaying the entries
// created at or before an instant must give the balance the ledger had then,
// before the account existed, between commands, at an expiry, and later.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "ledger/balance_at.hpp"
#include "ledger/ledger.hpp"
#include "ledger_fixture.hpp"

namespace creditd::ledger::testing {
namespace replay_test_cpp {  // unity builds: tests/CMakeLists.txt
namespace {

using replay_test = ledger_fixture;

// Every entry the ledger wrote, oldest first (nothing is taken: the test
// never calls take_changes).
std::vector<entry> journal(const ledger& led) {
  auto s = led.pending_entries_since(0);
  return {s.begin(), s.end()};
}

// The entries of `acct`, replayed as of `at` by the core's balance_replay
// (what the service answers to `balance?at=`).
balance_replay replay_until(const ledger& led, const account& acct, time_us at) {
  balance_replay out(at);
  for (const entry& e : journal(led)) {
    if (e.owner == &acct) out.add(e);
  }
  return out;
}

balance_view replayed_balance(const ledger& led, const account& acct, time_us at) {
  return replay_until(led, acct, at).view(acct);
}

// After every step: the full replay gives each lot's remaining and held
// (active or not), and the balance as of each instant seen so far is the
// balance the ledger showed then.
class replay_checker {
 public:
  explicit replay_checker(const ledger& led) : led_(led) {}

  void step(const std::string& what, time_us now) {
    SCOPED_TRACE(what);
    const account& a = *led_.find_account("acct");
    const balance_replay r = replay_until(led_, a, now);
    for (const lot* l : a.lots) {
      auto it = r.lots().find(l->id);
      ASSERT_NE(it, r.lots().end()) << "lot " << l->id << " is in no entry";
      EXPECT_EQ(it->second.remaining, l->remaining) << "lot " << l->id;
      EXPECT_EQ(it->second.held, l->held) << "lot " << l->id;
    }
    EXPECT_EQ(r.lots().size(), a.lots.size());
    const balance_view live = led_.balance(a, now);
    seen_.push_back({what, now, live});
    for (const auto& [label, at, want] : seen_) {
      const balance_view got = replayed_balance(led_, a, at);
      EXPECT_EQ(got.available, want.available) << "as of " << label;
      EXPECT_EQ(got.lots_remaining, want.lots_remaining) << "as of " << label;
      EXPECT_EQ(got.held, want.held) << "as of " << label;
      EXPECT_EQ(got.postpaid_used, want.postpaid_used) << "as of " << label;
    }
  }

 private:
  struct seen {
    std::string label;
    time_us at;
    balance_view balance;
  };
  const ledger& led_;
  std::vector<seen> seen_;
};

TEST_F(replay_test, every_kind_of_entry_replays_to_the_lots_and_the_balance_then) {
  account_settings s;
  s.postpaid_limit = cr(10);
  s.reserve = cr(1);
  open("acct", s);
  replay_checker check(led);
  // Before the account's first entry: nothing.
  EXPECT_EQ(replayed_balance(led, acct(), t0 - secs(1)).lots_remaining, 0);

  grant(cr(20));
  const lot& b = grant(cr(5), lot_kind::promo, t0 + hours(1));  // spent first, expires
  check.step("grants", t0);
  const charge_record& from_b = charge(cr(3), t0 + secs(1));
  check.step("charge", t0 + secs(1));
  const hold& h1 = place(cr(4), 600, t0 + secs(2));  // b's last 2, then a
  check.step("hold", t0 + secs(2));
  // Capture part, release the rest.
  ASSERT_TRUE(led.capture(h1.id, cr(1), t0 + secs(3)).has_value()) << "capture h1";
  check.step("partial capture", t0 + secs(3));
  const hold& h2 = place(cr(2), 60, t0 + secs(4));
  check.step("hold to expire", t0 + secs(4));
  const hold& h3 = place(cr(1), 600, t0 + secs(5));
  ASSERT_TRUE(led.release(h3.id, t0 + secs(6)).has_value()) << "release h3";
  check.step("release", t0 + secs(6));
  // The hold expires (settled on touch by the next command).
  const charge_record& c = charge(cr(2), t0 + secs(70));
  EXPECT_EQ(led.find_hold(h2.id)->status, hold_status::expired);
  check.step("hold expired, charge", t0 + secs(70));
  // A lot expires while held: its held credits expire when the hold closes.
  const lot& d = grant(grant_of(cr(4), lot_kind::promo, t0 + mins(10)), t0 + secs(80));
  const hold& h4 = place(cr(3), 3600, t0 + secs(81));
  ASSERT_EQ(h4.parts[0].lot, d.id);
  check.step("hold on an expiring lot", t0 + secs(81));
  charge(cr(1), t0 + mins(11));  // settles d's expiry
  EXPECT_EQ(lot_at(d.id).status, lot_status::expired);
  check.step("lot expired while held", t0 + mins(11));
  ASSERT_TRUE(led.release(h4.id, t0 + mins(12)).has_value()) << "release h4";
  check.step("release into an expired lot", t0 + mins(12));
  // A lot voided while held.
  const lot& e = grant(grant_of(cr(2), lot_kind::promo), t0 + mins(13));
  const hold& h5 = place(cr(2), 600, t0 + mins(13));
  must(led.void_lot(e.id, "fraud", t0 + mins(14)));
  check.step("void while held", t0 + mins(14));
  ASSERT_TRUE(led.capture(h5.id, cr(1), t0 + mins(15)).has_value()) << "capture h5";
  check.step("capture from a voided lot", t0 + mins(15));
  // Refunds: into a live lot, and into a new lot once the charged lot is gone.
  must(led.refund({c.id, cr(1), "r"}, t0 + mins(16)));
  check.step("refund into a live lot", t0 + mins(16));
  ASSERT_EQ(from_b.parts[0].lot, b.id);
  charge(cr(0), t0 + hours(2));  // b expired by now
  must(led.refund({from_b.id, std::nullopt, "r"}, t0 + hours(2)));
  check.step("refund into a new lot", t0 + hours(2));
  // Adjustments both ways, and postpaid.
  must(led.adjust({"acct", cr(3), "credit"}, t0 + hours(3)));
  must(led.adjust({"acct", -cr(2), "debit"}, t0 + hours(3)));
  check.step("adjustments", t0 + hours(3));
  charge(available(t0 + hours(4)) - cr(4), t0 + hours(4));  // into postpaid
  check.step("postpaid charge", t0 + hours(4));
  const hold& h6 = place(cr(2), 600, t0 + hours(5));
  check.step("postpaid hold", t0 + hours(5));
  ASSERT_TRUE(led.release(h6.id, t0 + hours(5) + mins(5)).has_value()) << "release h6";
  check.step("postpaid release", t0 + hours(5) + mins(5));
  EXPECT_GT(bal(t0 + hours(6)).postpaid_used, 0);
  // Later, with nothing written since: what the balance is then.
  check.step("later", t0 + days(2));
}

// Postpaid use belongs to the UTC month of the charge or hold: replayed as of
// the last microsecond of November and the first of December, a hold placed
// in November and released, captured or refunded in December must not count
// against (or give back to) December's postpaid credit.
// (It failed while the replay filed postpaid parts under each entry's own
// month: December's figures moved.)
TEST_F(replay_test, postpaid_across_a_month_boundary_replays_per_month) {
  account_settings s;
  s.postpaid_limit = cr(10);
  open("acct", s);
  replay_checker check(led);
  const hold& nov_release = place(cr(2), 3600, dec1 - secs(10));
  const hold& nov_capture = place(cr(3), 3600, dec1 - secs(9));
  const charge_record& nov_charge = charge(cr(1), dec1 - 1);
  check.step("November's last microsecond", dec1 - 1);
  charge(cr(4), dec1);
  check.step("December's first microsecond", dec1);
  ASSERT_TRUE(led.release(nov_release.id, dec1 + secs(1)).has_value()) << "release nov_release";
  check.step("November's hold released in December", dec1 + secs(1));
  ASSERT_TRUE(led.capture(nov_capture.id, std::nullopt, dec1 + secs(2)).has_value())
      << "capture nov_capture";
  check.step("November's hold captured in December", dec1 + secs(2));
  must(led.refund({nov_charge.id, std::nullopt, "r"}, dec1 + secs(3)));
  check.step("November's charge refunded in December", dec1 + secs(3));
  EXPECT_EQ(bal(dec1 + secs(3)).postpaid_used, cr(4));
}

// The reserve and the postpaid limit as of each instant: a settings entry
// says when they changed, and a balance as of an earlier instant is under
// the earlier settings.
TEST_F(replay_test, settings_changes_replay_as_they_were_then) {
  open("acct", account_settings{});
  replay_checker check(led);
  grant(cr(10));
  check.step("no settings", t0);
  account_settings s;
  s.reserve = cr(4);
  must(led.put_account({"acct", std::nullopt, s}, t0 + secs(1)));
  check.step("reserve 4", t0 + secs(1));
  charge(cr(1), t0 + secs(2));
  check.step("a charge under the reserve", t0 + secs(2));
  s.reserve = 0;
  s.postpaid_limit = cr(5);
  must(led.put_account({"acct", std::nullopt, s}, t0 + secs(3)));
  check.step("postpaid 5, no reserve", t0 + secs(3));
  charge(cr(12), t0 + secs(4));
  check.step("a charge into postpaid credit", t0 + secs(4));
  EXPECT_EQ(replayed_balance(led, acct(), t0).available, cr(10));
  EXPECT_EQ(replayed_balance(led, acct(), t0 + secs(2)).available, cr(5));
  EXPECT_EQ(replayed_balance(led, acct(), t0 + secs(4)).available, cr(2));
}

}  // namespace
}  // namespace replay_test_cpp
}  // namespace creditd::ledger::testing
