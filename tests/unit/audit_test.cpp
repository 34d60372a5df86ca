// The journal auditor (ledger/audit.hpp), pure: a ledger (the paranoid core)
// runs every kind of command; its change sets, folded into rows as a store
// folds them, pass the audit with no problem. Then one field of each kind is
// altered in a copy, and the audit names the row it is in.
#include "ledger/audit.hpp"
#include "ledger/settings_entry.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "../support/audit_scenario.hpp"
#include "../support/folded_rows.hpp"
#include "ledger_fixture.hpp"

namespace creditd::ledger::testing {
namespace audit_test_cpp {  // unity builds: tests/CMakeLists.txt
namespace {

// The rows a store would hold (support/folded_rows.hpp), and ways to find
// an entry among them.
struct rows : folded_rows {
  const entry& find_entry(const std::function<bool(const entry&)>& pred) const {
    auto it = std::find_if(entries.begin(), entries.end(), pred);
    if (it == entries.end()) throw std::runtime_error("no such entry in the scenario");
    return *it;
  }
  entry& entry_at(std::uint64_t seq) {
    for (entry& e : entries) {
      if (e.seq == seq) return e;
    }
    throw std::runtime_error("no entry " + std::to_string(seq));
  }
};

struct audit_result {
  std::vector<std::string> problems;
  bool full = false;
  audit_counts counts;
  std::string text() const {
    std::string out;
    for (const std::string& p : problems)
      out += "  " + p + "\n";
    return out;
  }
  bool names(const std::string& what) const {
    return std::any_of(problems.begin(), problems.end(),
                       [&](const std::string& p) { return p.find(what) != std::string::npos; });
  }
};

audit_result audit(const rows& r, std::size_t max = journal_auditor::default_problems_max) {
  journal_auditor a(max);
  a.set_counters(r.next_seq, r.next_object_id);
  for (const auto& [id, row] : r.accounts)
    a.add_account(row);
  for (const auto& [id, x] : r.lots)
    a.add_lot(x, x.owner->id);
  for (const auto& [id, h] : r.holds)
    a.add_hold(h, h.owner->id);
  for (const auto& [id, c] : r.charges)
    a.add_charge(c, c.owner->id);
  for (const purchase& p : r.purchases)
    a.add_purchase(p);
  for (const subscription_period& p : r.periods)
    a.add_period(p);
  for (const auto& [id, s] : r.subscriptions)
    a.add_subscription(s, id);
  std::vector<const entry*> journal;
  for (const entry& e : r.entries)
    journal.push_back(&e);
  std::stable_sort(journal.begin(), journal.end(),
                   [](const entry* x, const entry* y) { return x->seq < y->seq; });
  for (const entry* e : journal)
    a.add_entry(*e, e->owner->id);
  a.finish();
  return {a.problems(), a.full(), a.counts()};
}

using scenario_ids = audit_scenario_ids;

// The scenario (support/audit_scenario.hpp) folded into rows.
struct scenario {
  ledger led;
  rows store;
  scenario_ids ids = run_audit_scenario(led, [this] { store.fold(led); });
};

TEST(audit, every_kind_of_command_passes) {
  scenario s;
  const audit_result r = audit(s.store);
  EXPECT_TRUE(r.problems.empty()) << r.text();
  EXPECT_FALSE(r.full);
  EXPECT_EQ(r.counts.entries, s.store.entries.size());
  EXPECT_EQ(r.counts.accounts, 4u);
  EXPECT_EQ(r.counts.lots, s.store.lots.size());
  EXPECT_EQ(r.counts.holds, s.store.holds.size());
  EXPECT_EQ(r.counts.charges, s.store.charges.size());
  // Every settings change is journaled: every balance_after is recomputed
  // exactly, those written before a change of the reserve included.
  EXPECT_EQ(r.counts.balances_exact, r.counts.entries);
  EXPECT_EQ(r.counts.balances_unverifiable, 0u);
  std::uint64_t settings = 0, before_change = 0;
  for (const entry& e : s.store.entries) {
    if (e.type == entry_type::settings) ++settings;
    if (e.created_at <= s.store.accounts.at(e.owner->id).updated_at) ++before_change;
  }
  EXPECT_GT(settings, 0u);
  EXPECT_GT(before_change, 0u);

  // The scenario made what it claims: each entry type and each way a hold
  // returns its credits, born-expired and voided-lot refunds, rollover.
  auto count = [&](entry_type t, const std::function<bool(const entry&)>& also = nullptr) {
    return std::count_if(s.store.entries.begin(), s.store.entries.end(),
                         [&](const entry& e) { return e.type == t && (!also || also(e)); });
  };
  for (entry_type t : {entry_type::grant, entry_type::charge, entry_type::hold, entry_type::capture,
                       entry_type::release, entry_type::expire, entry_type::refund,
                       entry_type::adjust, entry_type::void_lot}) {
    EXPECT_GT(count(t), 0) << to_string(t);
  }
  EXPECT_GT(count(entry_type::expire, [](const entry& e) { return e.hold_id != 0; }), 0);
  EXPECT_GT(count(entry_type::expire, [](const entry& e) { return e.refund_id != 0; }), 0);
  EXPECT_GT(count(entry_type::void_lot, [](const entry& e) { return e.hold_id != 0; }), 0);
  EXPECT_GT(count(entry_type::release, [](const entry& e) { return e.reason == "hold expired"; }),
            1);
  EXPECT_GT(count(entry_type::charge,
                  [](const entry& e) {
                    return std::any_of(e.parts.begin(), e.parts.end(),
                                       [](const lot_part& p) { return p.lot == postpaid_lot_id; });
                  }),
            0);
  EXPECT_TRUE(std::any_of(s.store.periods.begin(), s.store.periods.end(),
                          [](const subscription_period& p) { return p.rolled_over > 0; }));
  EXPECT_TRUE(
      std::any_of(s.store.purchases.begin(), s.store.purchases.end(),
                  [](const purchase& p) { return p.source == purchase_source::auto_topup; }));
  // Within an account, created_at is not monotonic in seq: the subscription
  // started in the past grants its first periods before the charge that
  // preceded it. The auditor does not ask for it.
  time_us last = 0;
  bool went_back = false;
  for (const entry& e : s.store.entries) {
    if (e.owner->id != "sub") continue;
    went_back = went_back || e.created_at < last;
    last = e.created_at;
  }
  EXPECT_TRUE(went_back);
}

// One alteration and the name the audit must give.
struct alteration {
  std::string what;
  std::function<void(rows&, const scenario_ids&)> apply;
  std::function<std::string(const rows&, const scenario_ids&)> expected;
};

const entry& nth_of(const rows& r, entry_type t, std::string_view account, int n = 0) {
  return r.find_entry(
      [&, n](const entry& e) mutable { return e.type == t && e.owner->id == account && n-- == 0; });
}

std::string entry_label(const entry& e) {
  return "entry " + std::to_string(e.seq) + " (" + std::string(to_string(e.type)) + ", account " +
         e.owner->id + ")";
}

// The last charge entry of acme: written after acme's settings were set,
// so its balance_after is recomputed exactly.
const entry& acme_charge(const rows& r) {
  const entry* found = nullptr;
  for (const entry& e : r.entries) {
    if (e.type == entry_type::charge && e.owner->id == "acme" && !e.parts.empty()) found = &e;
  }
  return *found;
}

std::vector<alteration> alterations() {
  std::vector<alteration> out;
  auto entry_change = [&](std::string what, std::function<const entry&(const rows&)> pick,
                          std::function<void(entry&)> change, std::string says) {
    out.push_back(alteration{
        what, [pick, change](rows& r, const scenario_ids&) { change(r.entry_at(pick(r).seq)); },
        [pick, says](const rows& r, const scenario_ids&) { return entry_label(pick(r)) + says; }});
  };
  entry_change(
      "entry amount doubled", acme_charge, [](entry& e) { e.amount *= 2; }, ": amount");
  entry_change(
      "entry parts", acme_charge, [](entry& e) { e.parts[0].amount += 1; }, ": amount");
  entry_change(
      "entry amount and parts together", acme_charge,
      [](entry& e) {
        e.amount += 1;
        e.parts.back().amount += 1;
      },
      "");
  entry_change(
      "entry balance_after", acme_charge, [](entry& e) { e.balance_after += 1; },
      ": balance_after");
  entry_change(
      "entry lot_id of a grant",
      [](const rows& r) -> const entry& { return nth_of(r, entry_type::grant, "acme", 1); },
      [](entry& e) { e.lot_id += 1; }, "");
  entry_change(
      "entry charge_id", acme_charge, [](entry& e) { e.charge_id = 999999; }, "");
  entry_change(
      "entry hold_id of a release",
      [](const rows& r) -> const entry& { return nth_of(r, entry_type::release, "acme"); },
      [](entry& e) { e.hold_id = 999999; }, "");
  entry_change(
      "expiry entry moved in time",
      [](const rows& r) -> const entry& {
        return r.find_entry([](const entry& e) {
          return e.type == entry_type::expire && e.lot_id != 0 && e.owner->id == "acme";
        });
      },
      [](entry& e) { e.created_at += 1; }, ": expires lot");
  out.push_back(alteration{
      "entry type charge -> hold",
      [](rows& r, const scenario_ids&) { r.entry_at(acme_charge(r).seq).type = entry_type::hold; },
      [](const rows& r, const scenario_ids&) {
        return "entry " + std::to_string(acme_charge(r).seq) + " (hold, account acme)";
      }});
  entry_change(
      "priced amount",
      [](const rows& r) -> const entry& {
        return r.find_entry([](const entry& e) { return !e.price_id.empty(); });
      },
      [](entry& e) { e.unit_amount += 1; }, ": amount");
  entry_change(
      "capture's quantity",
      [](const rows& r) -> const entry& { return nth_of(r, entry_type::capture, "acme"); },
      [](entry& e) { e.quantity += 1; }, ": operation, dimensions, reference, quantity");
  out.push_back(alteration{
      "refund id reused",
      [](rows& r, const scenario_ids&) {
        const entry& first = nth_of(r, entry_type::refund, "acme", 0);
        r.entry_at(nth_of(r, entry_type::refund, "acme", 1).seq).refund_id = first.refund_id;
      },
      [](const rows& r, const scenario_ids&) {
        return entry_label(nth_of(r, entry_type::refund, "acme", 1)) + ": refund_id";
      }});
  out.push_back(alteration{"an entry deleted (a gap)",
                           [](rows& r, const scenario_ids&) {
                             const std::uint64_t seq = acme_charge(r).seq;
                             std::erase_if(r.entries, [&](const entry& e) { return e.seq == seq; });
                           },
                           [](const rows& r, const scenario_ids&) {
                             // The entry after the missing one (the journal now goes seq-1 ->
                             // seq+1).
                             (void)r;
                             return std::string(" is missing: the journal goes from entry");
                           }});
  out.push_back(alteration{
      "the last entry deleted",
      [](rows& r, const scenario_ids&) {
        auto last = std::max_element(r.entries.begin(), r.entries.end(),
                                     [](const entry& a, const entry& b) { return a.seq < b.seq; });
        r.entries.erase(last);
      },
      [](const rows&, const scenario_ids&) { return std::string("meta next_seq"); }});
  out.push_back(alteration{
      "a seq duplicated", [](rows& r, const scenario_ids&) { r.entries.push_back(acme_charge(r)); },
      [](const rows& r, const scenario_ids&) {
        const entry& e = acme_charge(r);
        return entry_label(e) + ": seq " + std::to_string(e.seq) + " appears twice";
      }});
  out.push_back(
      alteration{"meta next_seq", [](rows& r, const scenario_ids&) { r.next_seq += 1; },
                 [](const rows&, const scenario_ids&) { return std::string("meta next_seq"); }});
  out.push_back(
      alteration{"meta next_object_id", [](rows& r, const scenario_ids&) { r.next_object_id = 3; },
                 [](const rows&, const scenario_ids&) { return std::string("next object id"); }});

  auto lot_change = [&](std::string what, micros lot::*field) {
    out.push_back(
        alteration{"lot " + what,
                   [field](rows& r, const scenario_ids& ids) { r.lots.at(ids.lot_a).*field += 1; },
                   [what](const rows&, const scenario_ids& ids) {
                     return "lot " + std::to_string(ids.lot_a) + " of acme: " + what;
                   }});
  };
  lot_change("amount", &lot::amount);
  lot_change("remaining", &lot::remaining);
  lot_change("held", &lot::held);
  lot_change("spent", &lot::spent);
  lot_change("expired", &lot::expired);
  lot_change("voided", &lot::voided);
  out.push_back(alteration{
      "lot status",
      [](rows& r, const scenario_ids& ids) { r.lots.at(ids.lot_b).status = lot_status::active; },
      [](const rows&, const scenario_ids& ids) {
        return "lot " + std::to_string(ids.lot_b) + " of acme: status active";
      }});
  out.push_back(
      alteration{"lot expires_at (its expiry entry no longer at its instant)",
                 [](rows& r, const scenario_ids& ids) { r.lots.at(ids.lot_y).expires_at += 1; },
                 [](const rows&, const scenario_ids& ids) {
                   return ": expires lot " + std::to_string(ids.lot_y);
                 }});
  out.push_back(alteration{
      "a lot row deleted", [](rows& r, const scenario_ids& ids) { r.lots.erase(ids.lot_v); },
      [](const rows&, const scenario_ids& ids) {
        return "names lot " + std::to_string(ids.lot_v) + ", which is not in the lots table";
      }});

  out.push_back(alteration{
      "charge amount",
      [](rows& r, const scenario_ids& ids) { r.charges.at(ids.priced_charge).amount += 1; },
      [](const rows&, const scenario_ids& ids) {
        return "charge " + std::to_string(ids.priced_charge) + " of acme: amount";
      }});
  out.push_back(alteration{
      "charge refunded",
      [](rows& r, const scenario_ids& ids) { r.charges.at(ids.refunded_charge).refunded += 1; },
      [](const rows&, const scenario_ids& ids) {
        return "charge " + std::to_string(ids.refunded_charge) + " of acme: refunded";
      }});
  out.push_back(alteration{"charge part refunded",
                           [](rows& r, const scenario_ids& ids) {
                             r.charges.at(ids.refunded_charge).parts[0].refunded += 1;
                           },
                           [](const rows&, const scenario_ids& ids) {
                             return "charge " + std::to_string(ids.refunded_charge) +
                                    " of acme: refunded by part";
                           }});
  out.push_back(
      alteration{"a charge row deleted",
                 [](rows& r, const scenario_ids& ids) { r.charges.erase(ids.priced_charge); },
                 [](const rows&, const scenario_ids& ids) {
                   return "records charge " + std::to_string(ids.priced_charge) +
                          ", which is not in the charges table";
                 }});

  out.push_back(alteration{
      "hold amount",
      [](rows& r, const scenario_ids& ids) { r.holds.at(ids.captured_hold).amount += 1; },
      [](const rows&, const scenario_ids& ids) {
        return "hold " + std::to_string(ids.captured_hold) + " of acme: amount";
      }});
  out.push_back(alteration{
      "hold captured",
      [](rows& r, const scenario_ids& ids) { r.holds.at(ids.captured_hold).captured -= 1; },
      [](const rows&, const scenario_ids& ids) {
        return "hold " + std::to_string(ids.captured_hold) + " of acme: captured";
      }});
  out.push_back(alteration{"hold status",
                           [](rows& r, const scenario_ids& ids) {
                             r.holds.at(ids.expired_hold).status = hold_status::released;
                           },
                           [](const rows&, const scenario_ids& ids) {
                             return "hold " + std::to_string(ids.expired_hold) +
                                    " of acme: status released";
                           }});
  out.push_back(alteration{
      "hold parts",
      [](rows& r, const scenario_ids& ids) { r.holds.at(ids.released_hold).parts[0].lot += 1; },
      [](const rows&, const scenario_ids& ids) {
        return "hold " + std::to_string(ids.released_hold) + " of acme: parts";
      }});

  out.push_back(alteration{
      "account postpaid_used",
      [](rows& r, const scenario_ids&) { r.accounts.at("post").postpaid_used += 1; },
      [](const rows&, const scenario_ids&) { return std::string("account post: postpaid_used"); }});
  out.push_back(alteration{
      "account postpaid_period",
      [](rows& r, const scenario_ids&) { r.accounts.at("post").postpaid_period -= 1; },
      [](const rows&, const scenario_ids&) { return std::string("account post: postpaid_used"); }});
  out.push_back(
      alteration{"account reserve (not its settings entry's)",
                 [](rows& r, const scenario_ids&) { r.accounts.at("acme").settings.reserve += 1; },
                 [](const rows&, const scenario_ids&) {
                   return std::string(
                       "account acme: reserve 2000001 and postpaid_limit 20000000 "
                       "but its last settings entry gives 2000000");
                 }});
  out.push_back(
      alteration{"settings entry's reserve (balances no longer agree)",
                 [](rows& r, const scenario_ids&) {
                   for (entry& e : r.entries) {
                     if (e.type != entry_type::settings || e.owner->id != "acme") continue;
                     auto set = parse_settings_entry_metadata(e.metadata);
                     set->reserve += 1;
                     e.metadata = settings_entry_metadata(*set);
                   }
                 },
                 [](const rows&, const scenario_ids&) { return std::string(": balance_after"); }});

  out.push_back(alteration{"purchase credits",
                           [](rows& r, const scenario_ids& ids) {
                             for (purchase& p : r.purchases)
                               if (p.id == ids.purchase_id) p.credits += 1;
                           },
                           [](const rows&, const scenario_ids& ids) {
                             return "purchase " + std::to_string(ids.purchase_id) +
                                    " of acme: credits";
                           }});
  out.push_back(alteration{"purchase lot",
                           [](rows& r, const scenario_ids& ids) {
                             for (purchase& p : r.purchases)
                               if (p.id == ids.purchase_id) p.lot_id = ids.lot_a;
                           },
                           [](const rows&, const scenario_ids& ids) {
                             return "purchase " + std::to_string(ids.purchase_id) + " of acme";
                           }});
  out.push_back(alteration{"period granted",
                           [](rows& r, const scenario_ids&) { r.periods.front().granted += 1; },
                           [](const rows& r, const scenario_ids&) {
                             return "subscription period " +
                                    std::to_string(r.periods.front().index) + " of sub: granted";
                           }});
  out.push_back(alteration{
      "period rolled_over",
      [](rows& r, const scenario_ids&) {
        for (subscription_period& p : r.periods)
          if (p.rolled_over > 0) {
            p.rolled_over += 1;
            break;
          }
      },
      [](const rows&, const scenario_ids&) { return std::string(" of sub: rolled_over"); }});
  out.push_back(alteration{
      "subscription lot",
      [](rows& r, const scenario_ids&) { r.subscriptions.at("sub").lot_id -= 1; },
      [](const rows&, const scenario_ids&) { return std::string("subscription of sub: lot_id"); }});
  return out;
}

TEST(audit, names_the_row_of_each_altered_field) {
  scenario s;
  ASSERT_TRUE(audit(s.store).problems.empty());
  for (const alteration& a : alterations()) {
    SCOPED_TRACE(a.what);
    rows copy = s.store;
    a.apply(copy, s.ids);
    const audit_result r = audit(copy);
    const std::string expected = a.expected(s.store, s.ids);
    EXPECT_FALSE(r.problems.empty()) << a.what << ": passed";
    EXPECT_TRUE(r.names(expected)) << a.what << ": expected \"" << expected << "\" in\n"
                                   << r.text();
  }
}

// The bound: a journal wrong everywhere yields problems_max problems, then
// the audit stops.
TEST(audit, stops_at_its_bound) {
  scenario s;
  rows copy = s.store;
  for (entry& e : copy.entries)
    e.amount += 1;
  const audit_result r = audit(copy, 5);
  EXPECT_EQ(r.problems.size(), 5u) << r.text();
  EXPECT_TRUE(r.full);
  const audit_result all = audit(copy);
  EXPECT_EQ(all.problems.size(), journal_auditor::default_problems_max);
}

// An account granted 10, then given a reserve of 4, then charged 1: its
// journal is grant, settings, charge. (The rows name their account through
// the ledger, which lives as long as they do.)
struct reserve_changed_between_a_grant_and_a_charge {
  ledger led;
  rows r;
  reserve_changed_between_a_grant_and_a_charge() {
    must(led.put_account(account_cmd{"a", "A", account_settings{}}, t0));
    must(led.grant(grant_of(cr(10), lot_kind::prepaid, std::nullopt, "a"), at(1)));
    account_settings reserve;
    reserve.reserve = cr(4);
    must(led.put_account(account_cmd{"a", std::nullopt, reserve}, at(2)));
    must(led.charge(charge_of(cr(1), "x", "a"), at(3)));
    r.fold(led);
  }
};

// A change of the reserve is a settings entry: the balances before and
// after it are both compared exactly, each under its own settings.
TEST(audit, balances_on_both_sides_of_a_settings_change_are_compared) {
  reserve_changed_between_a_grant_and_a_charge scenario;
  rows& r = scenario.r;
  ASSERT_EQ(r.entries.size(), 3u);
  EXPECT_EQ(r.entries[1].type, entry_type::settings);
  EXPECT_EQ(r.entries[1].balance_after, cr(6));
  audit_result out = audit(r);
  EXPECT_TRUE(out.problems.empty()) << out.text();
  EXPECT_EQ(out.counts.balances_exact, 3u);
  EXPECT_EQ(out.counts.balances_unverifiable, 0u);
  // The grant, before the change, under no reserve.
  rows wrong = r;
  wrong.entries[0].balance_after = cr(6);
  out = audit(wrong);
  EXPECT_TRUE(
      out.names("entry 1 (grant, account a): balance_after 6000000 but the journal gives 10000000"))
      << out.text();
  // The charge, after it, under the reserve.
  wrong = r;
  wrong.entries[2].balance_after = cr(9);
  out = audit(wrong);
  EXPECT_TRUE(
      out.names("entry 3 (charge, account a): balance_after 9000000 but the journal gives 5000000"))
      << out.text();
}

// What the store cannot tell: an account whose reserve changed before
// settings entries existed (its row has the reserve, its journal no entry
// saying so). An entry written before the row's last change may have been
// written under other settings, so its balance_after is not compared (it is
// counted as unverifiable); one written after it is.
TEST(audit, balances_before_an_unjournaled_settings_change_are_counted_not_compared) {
  reserve_changed_between_a_grant_and_a_charge scenario;
  rows& r = scenario.r;
  // The journal as a store written before settings entries holds it.
  ASSERT_EQ(r.entries[1].type, entry_type::settings);
  r.entries.erase(r.entries.begin() + 1);
  r.entries[1].seq = 2;
  r.next_seq = 3;
  audit_result out = audit(r);
  EXPECT_TRUE(out.problems.empty()) << out.text();
  EXPECT_EQ(out.counts.balances_exact, 1u);
  EXPECT_EQ(out.counts.balances_unverifiable, 1u);
  // The charge (after the change) is compared exactly.
  r.entries.back().balance_after = cr(9);
  out = audit(r);
  EXPECT_TRUE(
      out.names("entry 2 (charge, account a): balance_after 9000000 but the journal gives "
                "5000000"))
      << out.text();
}

// Random workloads: every command with random amounts, operations,
// scopes, expiries and settings changes, the clock moving by random steps
// (zero included, as a test clock) across months; each seed's store passes
// the audit. CREDITD_AUDIT_SEEDS sets how many seeds (default 40).
TEST(audit, random_workloads_pass) {
  const char* env = std::getenv("CREDITD_AUDIT_SEEDS");
  const int seeds = env != nullptr ? std::atoi(env) : 40;
  for (int seed = 1; seed <= seeds; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(static_cast<std::uint64_t>(seed));
    auto pick = [&](std::int64_t n) {
      return static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(n));
    };
    ledger led;
    rows store;
    time_us now = t0;
    must(led.put_package(package_cmd{"pack", cr(50), 1'000'000, "usd", pick(2) * 10}, now));
    must(led.put_plan(plan_cmd{"plan", cr(40), period_unit::month, cr(15)}, now));
    must(led.put_price(price_cmd{"p-img", "image.generate", {}, 1'250'000}, now));
    const std::vector<std::string> accounts = {"a", "b", "c"};
    const std::vector<std::string> ops = {"image.generate", "text.generate", "video.render"};
    auto settings = [&] {
      account_settings s;
      if (pick(2) == 0) s.reserve = cr(pick(5));
      if (pick(2) == 0) s.postpaid_limit = cr(pick(30));
      if (pick(4) == 0) s.auto_topup = auto_topup_settings{cr(5 + pick(10)), "pack", 1 + pick(3)};
      return s;
    };
    for (const std::string& id : accounts)
      must(led.put_account(account_cmd{id, id, settings()}, now));
    std::vector<object_id> lots, charges, holds;
    for (int step = 0; step < 600; ++step) {
      switch (pick(5)) {
        case 0:
          break;  // the same instant
        case 1:
          now += secs(1 + pick(60));
          break;
        case 2:
          now += mins(1 + pick(120));
          break;
        case 3:
          now += hours(1 + pick(48));
          break;
        case 4:
          now += pick(20) == 0 ? days(1 + pick(20)) : secs(pick(5));
          break;
      }
      const std::string& acct = accounts[static_cast<std::size_t>(pick(3))];
      const std::string& op = ops[static_cast<std::size_t>(pick(3))];
      const int what = static_cast<int>(pick(100));
      if (what < 12) {
        grant_cmd g = grant_of(cr(1 + pick(30)) + pick(1000), static_cast<lot_kind>(pick(3)),
                               std::nullopt, acct);
        if (pick(2) == 0) g.expires_at = now + secs(1 + pick(3 * 86400));
        if (pick(5) == 0) g.effective_at = now + secs(pick(86400));
        if (g.effective_at && g.expires_at && *g.expires_at <= *g.effective_at)
          g.expires_at = *g.effective_at + secs(1 + pick(86400));
        if (pick(4) == 0) g.scope = {pick(2) == 0 ? "image.*" : "text.generate"};
        if (pick(4) == 0) g.priority = static_cast<std::int32_t>(pick(50));
        if (auto r = led.grant(g, now)) lots.push_back((*r)->id);
      } else if (what < 35) {
        charge_cmd c = charge_of(pick(8) == 0 ? 0 : cr(pick(6)) + pick(1'000'000), op, acct);
        c.urgent = pick(4) == 0;
        if (op == "image.generate" && pick(3) == 0) {
          c.from_catalog = true;
          c.quantity = 1 + pick(3'000'000);
        }
        if (auto r = led.charge(c, now)) charges.push_back((*r)->id);
      } else if (what < 40) {
        std::vector<charge_cmd> batch;
        for (int i = 0, n = 1 + static_cast<int>(pick(3)); i < n; ++i)
          batch.push_back(charge_of(cr(pick(4)), ops[static_cast<std::size_t>(pick(3))], acct));
        if (auto r = led.charge_batch(batch, now)) {
          for (const charge_record* c : *r)
            charges.push_back(c->id);
        }
      } else if (what < 55) {
        hold_cmd h =
            hold_of(pick(8) == 0 ? 0 : cr(pick(8)) + pick(1'000'000), 1 + pick(7200), op, acct);
        h.urgent = pick(4) == 0;
        if (auto r = led.place_hold(h, now)) holds.push_back((*r)->id);
      } else if (what < 65 && !holds.empty()) {
        const object_id h =
            holds[static_cast<std::size_t>(pick(static_cast<std::int64_t>(holds.size())))];
        const hold* x = led.find_hold(h);
        std::optional<micros> amount;
        // Now and then more than it holds: refused (a ledger that took it
        // would write a capture the audit refuses).
        if (pick(2) == 0 && x != nullptr) amount = pick(x->amount + 3);
        if (auto r = led.capture(h, amount, now)) charges.push_back((*r)->charge_id);
      } else if (what < 72 && !holds.empty()) {
        (void)led.release(
            holds[static_cast<std::size_t>(pick(static_cast<std::int64_t>(holds.size())))], now);
      } else if (what < 80 && !charges.empty()) {
        refund_cmd r;
        r.charge_id =
            charges[static_cast<std::size_t>(pick(static_cast<std::int64_t>(charges.size())))];
        const charge_record* c = led.find_charge(r.charge_id);
        if (c != nullptr && pick(2) == 0 && c->amount > c->refunded)
          r.amount = 1 + pick(c->amount - c->refunded);
        // Now and then the whole charge again: refused once part is refunded.
        if (c != nullptr && c->refunded > 0 && pick(4) == 0) r.amount = c->amount;
        (void)led.refund(r, now);
      } else if (what < 85) {
        const micros amount = pick(3) == 0 ? -(cr(pick(5)) + 1) : cr(1 + pick(5));
        (void)led.adjust(adjust_cmd{acct, amount, "random"}, now);
      } else if (what < 88 && !lots.empty()) {
        (void)led.void_lot(
            lots[static_cast<std::size_t>(pick(static_cast<std::int64_t>(lots.size())))], "random",
            now);
      } else if (what < 91) {
        (void)led.purchase(purchase_cmd{acct, "pack", purchase_source::api, "", ""}, now);
      } else if (what < 93) {
        subscription_cmd s{acct, "plan", std::nullopt, ""};
        if (pick(2) == 0) s.start_at = now - days(pick(40)) + days(pick(40));
        (void)led.put_subscription(s, now);
      } else if (what < 94) {
        (void)led.cancel_subscription(acct, now);
      } else if (what < 97 && pick(10) == 0) {
        // Rare, so that most balances are compared exactly.
        (void)led.put_account(account_cmd{acct, std::nullopt, settings()}, now);
      } else {
        led.run_due(now, static_cast<std::size_t>(1 + pick(4)));
      }
      if (pick(4) == 0) store.fold(led);
    }
    led.run_due(now);
    store.fold(led);
    ASSERT_EQ(led.check_all(), "");
    const audit_result r = audit(store);
    EXPECT_TRUE(r.problems.empty()) << "seed " << seed << ":\n" << r.text();
    EXPECT_GT(r.counts.entries, 200u);
    if (!r.problems.empty()) break;
    // And one field altered at random: the audit names its row.
    rows copy = store;
    std::string names;
    switch (pick(5)) {
      case 0: {
        entry& e = copy.entries[static_cast<std::size_t>(
            pick(static_cast<std::int64_t>(copy.entries.size())))];
        e.amount += 1;
        names = "entry " + std::to_string(e.seq) + " (";
        break;
      }
      case 1: {
        std::vector<entry*> exact;
        for (entry& e : copy.entries) {
          if (e.created_at > copy.accounts.at(e.owner->id).updated_at) exact.push_back(&e);
        }
        if (exact.empty()) continue;
        entry& e = *exact[static_cast<std::size_t>(pick(static_cast<std::int64_t>(exact.size())))];
        e.balance_after += 1;
        names = "entry " + std::to_string(e.seq) + " (" + std::string(to_string(e.type)) +
                ", account " + e.owner->id + "): balance_after";
        break;
      }
      case 2: {
        auto it = std::next(copy.lots.begin(), pick(static_cast<std::int64_t>(copy.lots.size())));
        it->second.remaining += 1;
        names = "lot " + std::to_string(it->first) + " of ";
        break;
      }
      case 3: {
        if (copy.charges.empty()) continue;
        auto it =
            std::next(copy.charges.begin(), pick(static_cast<std::int64_t>(copy.charges.size())));
        it->second.refunded += 1;
        names = "charge " + std::to_string(it->first) + " of ";
        break;
      }
      case 4: {
        if (copy.holds.empty()) continue;
        auto it = std::next(copy.holds.begin(), pick(static_cast<std::int64_t>(copy.holds.size())));
        it->second.captured += 1;
        names = "hold " + std::to_string(it->first) + " of ";
        break;
      }
    }
    const audit_result altered = audit(copy);
    EXPECT_TRUE(altered.names(names)) << "seed " << seed << ": expected \"" << names << "\" in\n"
                                      << altered.text();
  }
}

}  // namespace
}  // namespace audit_test_cpp
}  // namespace creditd::ledger::testing
