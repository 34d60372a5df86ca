// Loading checks every account: rows restored from a store whose lots, holds
// or charges do not add up (a damaged or altered row that its page checksum
// did not catch, or a bug that wrote them) are refused by finish_load(),
// which names the account and the row; the same rows intact load clean.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <string>

#include "../support/folded_rows.hpp"
#include "ledger_fixture.hpp"

namespace creditd::ledger::testing {
namespace load_check_test_cpp {  // unity builds: tests/CMakeLists.txt
namespace {

// The rows a store would hold (support/folded_rows.hpp), and their load.
struct stored_rows : folded_rows {
  // Restores every row into `into`, as the store's load does; returns
  // finish_load()'s verdict (empty: consistent).
  std::string load_into(ledger& into) const {
    for (const auto& [id, a] : accounts)
      into.restore_account(a);
    for (const auto& [id, x] : lots)
      into.restore_lot(x, x.owner->id);
    for (const auto& [id, h] : holds)
      into.restore_hold(h, h.owner->id);
    for (const auto& [id, c] : charges)
      into.restore_charge(c, c.owner->id);
    into.restore_counters(next_object_id, next_seq);
    return into.finish_load();
  }
};

class load_check : public ledger_fixture {
 public:
  stored_rows rows;
  object_id spent_lot = 0, held_lot = 0, charge_id = 0, hold_id = 0;

  // Two accounts: lots partly spent, an open hold, a charge partly refunded.
  void SetUp() override {
    open("acct");
    open("other");
    spent_lot = grant(cr(10)).id;
    held_lot = grant(cr(5), lot_kind::promo).id;
    must(led.grant(grant_of(cr(7), lot_kind::prepaid, std::nullopt, "other"), t0));
    charge_id = charge(cr(12), t0 + secs(1)).id;  // all of the promo lot, 7 of the other
    refund_cmd r;
    r.charge_id = charge_id;
    r.amount = cr(2);
    must(led.refund(r, t0 + secs(2)));
    hold_id = place(cr(3), 600, t0 + secs(3)).id;
    rows.fold(led);
  }

  // Loads the rows with `alter` applied to a copy; returns the verdict.
  std::string load_altered(const std::function<void(stored_rows&)>& alter) const {
    stored_rows copy = rows;
    alter(copy);
    ledger fresh;
    return copy.load_into(fresh);
  }
};

TEST_F(load_check, intact_rows_load_clean) {
  ledger fresh;
  EXPECT_EQ(rows.load_into(fresh), "");
  const account* a = fresh.find_account("acct");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(fresh.balance(*a, t0 + secs(4)).available, available(t0 + secs(4)));
}

TEST_F(load_check, a_lot_with_one_micro_more_remaining_is_refused_naming_it) {
  const std::string problem =
      load_altered([&](stored_rows& r) { r.lots.at(spent_lot).remaining += 1; });
  EXPECT_NE(problem.find("account acct"), std::string::npos) << problem;
  EXPECT_NE(problem.find("lot " + std::to_string(spent_lot)), std::string::npos) << problem;
}

TEST_F(load_check, a_lot_whose_spent_credits_shrank_is_refused) {
  const std::string problem =
      load_altered([&](stored_rows& r) { r.lots.at(spent_lot).spent -= 1; });
  EXPECT_NE(problem.find("lot " + std::to_string(spent_lot)), std::string::npos) << problem;
}

TEST_F(load_check, a_lot_granted_more_than_it_accounts_for_is_refused) {
  const std::string problem =
      load_altered([&](stored_rows& r) { r.lots.at(spent_lot).amount += cr(1); });
  EXPECT_NE(problem.find("lot " + std::to_string(spent_lot)), std::string::npos) << problem;
}

TEST_F(load_check, a_hold_that_does_not_match_its_lots_is_refused) {
  const std::string problem = load_altered([&](stored_rows& r) {
    hold& h = r.holds.at(hold_id);
    h.amount += 1;
  });
  EXPECT_NE(problem.find("account acct"), std::string::npos) << problem;
}

TEST_F(load_check, a_lot_holding_less_than_its_open_holds_is_refused) {
  const std::string problem = load_altered([&](stored_rows& r) {
    // Moved from held to remaining: the lot still adds up, the hold does not.
    lot& l = r.lots.at(spent_lot);
    ASSERT_GT(l.held, 0);
    l.held -= 1;
    l.remaining += 1;
  });
  EXPECT_NE(problem.find("lot " + std::to_string(spent_lot)), std::string::npos) << problem;
}

TEST_F(load_check, a_charge_refunded_more_than_it_took_is_refused) {
  const std::string problem = load_altered([&](stored_rows& r) {
    charge_record& c = r.charges.at(charge_id);
    ASSERT_FALSE(c.parts.empty());
    c.parts[0].refunded = c.parts[0].amount + 1;
  });
  EXPECT_NE(problem.find("charge " + std::to_string(charge_id)), std::string::npos) << problem;
}

}  // namespace
}  // namespace load_check_test_cpp
}  // namespace creditd::ledger::testing
