// Accounts, grants, charges, expiry, voids, adjustments, batches, the rate
// limit, idempotency and change sets of the ledger core.
#include <gtest/gtest.h>

#include <cctype>
#include <functional>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "ledger/ledger.hpp"
#include "ledger/limits.hpp"
#include "ledger_fixture.hpp"

namespace creditd::ledger::testing {
namespace ledger_ops_test_cpp {  // unity builds: tests/CMakeLists.txt
namespace {

using ledger_accounts = ledger_fixture;
using ledger_grant = ledger_fixture;
using ledger_charge = ledger_fixture;
using ledger_batch = ledger_fixture;
using ledger_expiry = ledger_fixture;
using ledger_void = ledger_fixture;
using ledger_adjust = ledger_fixture;
using ledger_idempotency = ledger_fixture;
using ledger_changes = ledger_fixture;

// ---------------------------------------------------------------- accounts

TEST_F(ledger_accounts, creates_then_updates) {
  account_cmd c;
  c.id = "user-1";
  c.name = "Ada";
  auto created = must(led.put_account(c, t0));
  EXPECT_TRUE(created.created);
  ASSERT_NE(created.acct, nullptr);
  EXPECT_EQ(created.acct->id, "user-1");
  EXPECT_EQ(created.acct->name, "Ada");
  EXPECT_EQ(created.acct->created_at, t0);
  EXPECT_EQ(created.acct->updated_at, t0);
  EXPECT_EQ(created.acct->postpaid_period, month_index(t0));
  EXPECT_EQ(created.acct->settings, account_settings{});
  EXPECT_EQ(led.account_count(), 1u);

  // Settings only: the name stays.
  account_cmd u;
  u.id = "user-1";
  u.settings = account_settings{};
  u.settings->reserve = cr(5);
  u.settings->low_balance_thresholds = {cr(1), cr(10)};
  auto updated = must(led.put_account(u, t0 + secs(1)));
  EXPECT_FALSE(updated.created);
  EXPECT_EQ(updated.acct, created.acct);
  EXPECT_EQ(updated.acct->name, "Ada");
  EXPECT_EQ(updated.acct->settings.reserve, cr(5));
  EXPECT_EQ(updated.acct->settings.low_balance_thresholds, (std::vector<micros>{cr(1), cr(10)}));
  EXPECT_EQ(updated.acct->created_at, t0);
  EXPECT_EQ(updated.acct->updated_at, t0 + secs(1));

  // Name only: the settings stay.
  account_cmd n;
  n.id = "user-1";
  n.name = "Grace";
  auto renamed = must(led.put_account(n, t0 + secs(2)));
  EXPECT_EQ(renamed.acct->name, "Grace");
  EXPECT_EQ(renamed.acct->settings.reserve, cr(5));
  EXPECT_EQ(renamed.acct->updated_at, t0 + secs(2));

  // Settings replace the whole block.
  u.settings = account_settings{};
  u.settings->postpaid_limit = cr(2);
  must(led.put_account(u, t0 + secs(3)));
  EXPECT_EQ(acct("user-1").settings.reserve, 0);
  EXPECT_EQ(acct("user-1").settings.postpaid_limit, cr(2));
  EXPECT_EQ(led.account_count(), 1u);
}

TEST_F(ledger_accounts, account_ids) {
  const std::string max_id(128, 'a');
  for (const std::string& good :
       {std::string("a"), std::string("user_1.x:y-Z9"), max_id, std::string("0")}) {
    account_cmd c;
    c.id = good;
    EXPECT_TRUE(led.put_account(c, t0).has_value()) << good;
  }
  for (const std::string& bad :
       {std::string(""), std::string("a b"), std::string("a/b"), std::string("caf\xc3\xa9"),
        std::string(129, 'a'), std::string("a*"), std::string("a\n"), std::string("a@b")}) {
    account_cmd c;
    c.id = bad;
    auto r = led.put_account(c, t0);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().code, errc::invalid_argument);
    EXPECT_STREQ(r.error().message, "account id must match [A-Za-z0-9._:-]{1,128}");
    EXPECT_EQ(led.find_account(bad), nullptr);
  }
  EXPECT_EQ(led.account_count(), 4u);

  account_cmd named;
  named.id = "n";
  named.name = std::string(256, 'x');
  EXPECT_TRUE(led.put_account(named, t0).has_value());
  named.name = std::string(257, 'x');
  auto r = led.put_account(named, t0);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, errc::invalid_argument);
  EXPECT_STREQ(r.error().message, "name is longer than 256 bytes");
  EXPECT_EQ(acct("n").name, std::string(256, 'x'));
}

// The engine's writer calls prefetch_accounts with the tasks of a round before
// it applies them: it must change nothing, least of all make an account.
TEST_F(ledger_accounts, prefetch_changes_nothing) {
  open("with-lots");
  grant(grant_of(cr(5), lot_kind::prepaid, std::nullopt, "with-lots"));
  open("no-lots");
  (void)led.take_changes();
  for (std::string_view id : {"with-lots", "no-lots", "absent", ""})
    led.prefetch_accounts(std::span<const std::string_view>(&id, 1));
  EXPECT_FALSE(led.has_changes());
  EXPECT_EQ(led.account_count(), 2u);
  EXPECT_EQ(led.find_account("absent"), nullptr);
  EXPECT_EQ(led.find_account(""), nullptr);
  EXPECT_EQ(led.balance(acct("with-lots"), t0).available, cr(5));
  const std::vector<std::string_view> all = {"with-lots", "absent", "", "no-lots", "with-lots"};
  led.prefetch_accounts(all);
  EXPECT_FALSE(led.has_changes());
  EXPECT_EQ(led.account_count(), 2u);
}

// Lookups go through the ledger's account index (account_index.hpp): every
// account made or restored is found by its id, through the table's growth
// and a move of the ledger, and ids of no account are not.
TEST_F(ledger_accounts, every_account_is_found_through_the_index) {
  constexpr int n = 5000;
  for (int i = 0; i < n; ++i)
    open("acct-" + std::to_string(i));
  ledger moved = std::move(led);
  for (int i = 0; i < n; ++i) {
    const std::string id = "acct-" + std::to_string(i);
    const account* a = moved.find_account(id);
    ASSERT_NE(a, nullptr) << id;
    EXPECT_EQ(a->id, id);
  }
  for (std::string_view absent : {"acct-5000", "acct-", "acct--1", "x"})
    EXPECT_EQ(moved.find_account(absent), nullptr) << absent;
  EXPECT_EQ(moved.account_count(), static_cast<std::size_t>(n));
  led = std::move(moved);
}

TEST_F(ledger_accounts, settings_refusals) {
  struct refusal {
    const char* what;
    std::function<void(account_settings&)> set;
    const char* message;
  };
  const std::vector<refusal> cases = {
      {"17 thresholds",
       [](account_settings& s) {
         for (int i = 1; i <= 17; ++i)
           s.low_balance_thresholds.push_back(cr(i));
       },
       "settings.low_balance_thresholds has more than 16 amounts"},
      {"zero threshold", [](account_settings& s) { s.low_balance_thresholds = {0}; },
       "settings.low_balance_thresholds must hold positive amounts"},
      {"negative threshold",
       [](account_settings& s) {
         s.low_balance_thresholds = {cr(1), -1};
       },
       "settings.low_balance_thresholds must hold positive amounts"},
      {"huge threshold",
       [](account_settings& s) { s.low_balance_thresholds = {amount_micros_max + 1}; },
       "settings.low_balance_thresholds must hold positive amounts"},
      {"descending thresholds",
       [](account_settings& s) {
         s.low_balance_thresholds = {cr(10), cr(5)};
       },
       "settings.low_balance_thresholds must be ascending and distinct"},
      {"repeated thresholds",
       [](account_settings& s) {
         s.low_balance_thresholds = {cr(5), cr(5)};
       },
       "settings.low_balance_thresholds must be ascending and distinct"},
      {"negative reserve", [](account_settings& s) { s.reserve = -1; },
       "settings.reserve is out of range"},
      {"huge reserve", [](account_settings& s) { s.reserve = amount_micros_max + 1; },
       "settings.reserve is out of range"},
      {"negative postpaid", [](account_settings& s) { s.postpaid_limit = -1; },
       "settings.postpaid_limit is out of range"},
      {"huge postpaid", [](account_settings& s) { s.postpaid_limit = amount_micros_max + 1; },
       "settings.postpaid_limit is out of range"},
      {"negative rate", [](account_settings& s) { s.rate_limit_per_minute = -1; },
       "settings.rate_limit_per_minute must be between 0 and 1000000"},
      {"huge rate", [](account_settings& s) { s.rate_limit_per_minute = 1'000'001; },
       "settings.rate_limit_per_minute must be between 0 and 1000000"},
      {"negative holds", [](account_settings& s) { s.max_open_holds = -1; },
       "settings.max_open_holds must be between 0 and 10000"},
      {"huge holds", [](account_settings& s) { s.max_open_holds = 10'001; },
       "settings.max_open_holds must be between 0 and 10000"},
      {"negative expiring days", [](account_settings& s) { s.expiring_soon_days = -1; },
       "settings.expiring_soon_days must be between 0 and 3650"},
      {"huge expiring days", [](account_settings& s) { s.expiring_soon_days = 3651; },
       "settings.expiring_soon_days must be between 0 and 3650"},
      {"topup below zero",
       [](account_settings& s) {
         s.auto_topup = auto_topup_settings{0, "p100", 1};
       },
       "settings.auto_topup.below must be positive"},
      {"topup below huge",
       [](account_settings& s) {
         s.auto_topup = auto_topup_settings{amount_micros_max + 1, "p100", 1};
       },
       "settings.auto_topup.below must be positive"},
      {"topup no package",
       [](account_settings& s) {
         s.auto_topup = auto_topup_settings{cr(1), "", 1};
       },
       "settings.auto_topup.package is required"},
      {"topup long package",
       [](account_settings& s) {
         s.auto_topup = auto_topup_settings{cr(1), std::string(129, 'p'), 1};
       },
       "settings.auto_topup.package is required"},
      {"topup zero per period",
       [](account_settings& s) {
         s.auto_topup = auto_topup_settings{cr(1), "p100", 0};
       },
       "settings.auto_topup.max_per_period must be between 1 and 1000"},
      {"topup many per period",
       [](account_settings& s) {
         s.auto_topup = auto_topup_settings{cr(1), "p100", 1001};
       },
       "settings.auto_topup.max_per_period must be between 1 and 1000"},
  };
  account_settings kept;
  kept.reserve = cr(3);
  open("existing", kept);
  for (const refusal& c : cases) {
    account_settings s;
    c.set(s);
    account_cmd cmd;
    cmd.id = "fresh";
    cmd.settings = s;
    auto r = led.put_account(cmd, t0);
    ASSERT_FALSE(r.has_value()) << c.what;
    EXPECT_EQ(r.error().code, errc::invalid_argument) << c.what;
    EXPECT_STREQ(r.error().message, c.message) << c.what;
    EXPECT_EQ(led.find_account("fresh"), nullptr) << c.what;

    cmd.id = "existing";
    r = led.put_account(cmd, t0 + secs(1));
    ASSERT_FALSE(r.has_value()) << c.what;
    EXPECT_STREQ(r.error().message, c.message) << c.what;
    EXPECT_EQ(acct("existing").settings, kept) << c.what;
    EXPECT_EQ(acct("existing").updated_at, t0) << c.what;
  }
}

TEST_F(ledger_accounts, settings_at_their_limits_are_accepted) {
  account_settings s;
  for (int i = 1; i <= 16; ++i)
    s.low_balance_thresholds.push_back(i);
  s.reserve = amount_micros_max;
  s.postpaid_limit = amount_micros_max;
  s.rate_limit_per_minute = 1'000'000;
  s.max_open_holds = 10'000;
  s.expiring_soon_days = 3650;
  s.auto_topup = auto_topup_settings{amount_micros_max, std::string(128, 'p'), 1000};
  // An automatic top-up names a package that exists.
  ASSERT_TRUE(led.put_package({std::string(128, 'p'), cr(100), cr(9), "usd", 0}, t0));
  const account& a = open("acct", s);
  EXPECT_EQ(a.settings, s);
}

// ---------------------------------------------------------------- grants

TEST_F(ledger_grant, kinds_and_default_priorities) {
  open();
  struct row {
    lot_kind kind;
    std::int32_t priority;
    const char* name;
  };
  for (const row& r : {row{lot_kind::promo, 10, "promo"}, row{lot_kind::plan, 20, "plan"},
                       row{lot_kind::prepaid, 30, "prepaid"}}) {
    EXPECT_EQ(default_priority(r.kind), r.priority);
    EXPECT_EQ(to_string(r.kind), r.name);
    EXPECT_EQ(parse_lot_kind(r.name), r.kind);
    const lot& l = grant(cr(1), r.kind);
    EXPECT_EQ(l.kind, r.kind);
    EXPECT_EQ(l.priority, r.priority) << r.name;
  }
  grant_cmd g = grant_of(cr(1), lot_kind::promo);
  g.priority = 99;
  EXPECT_EQ(grant(g).priority, 99);
  g.priority = 0;
  EXPECT_EQ(grant(g).priority, 0);
  g.priority = 1'000'000;
  EXPECT_EQ(grant(g).priority, 1'000'000);
}

TEST_F(ledger_grant, lot_fields) {
  open();
  grant_cmd g = grant_of(cr(100), lot_kind::prepaid, t0 + days(30));
  g.scope = {"image.*", "llm.tokens"};
  g.source = "purchase";
  g.reason = "order 42";
  g.cost_basis = cr(9);
  g.currency = "EUR";
  const object_id expected_id = led.next_object_id();
  const lot& l = grant(g);
  EXPECT_EQ(l.id, expected_id);
  EXPECT_EQ(l.owner, &acct());
  EXPECT_EQ(l.status, lot_status::active);
  EXPECT_EQ(l.amount, cr(100));
  EXPECT_EQ(l.remaining, cr(100));
  EXPECT_EQ(l.held, 0);
  EXPECT_EQ(l.spent, 0);
  EXPECT_EQ(l.expired, 0);
  EXPECT_EQ(l.voided, 0);
  EXPECT_EQ(l.effective_at, t0);
  EXPECT_EQ(l.expires_at, t0 + days(30));
  EXPECT_EQ(l.created_at, t0);
  EXPECT_EQ(l.scope, (std::vector<std::string>{"image.*", "llm.tokens"}));
  EXPECT_EQ(l.source, "purchase");
  EXPECT_EQ(l.reason, "order 42");
  EXPECT_EQ(l.cost_basis, cr(9));
  EXPECT_EQ(l.currency, "EUR");
  EXPECT_EQ(led.find_lot(l.id), &l);
  EXPECT_EQ(led.next_object_id(), expected_id + 1);

  const lot& forever = grant(cr(1));
  EXPECT_EQ(forever.expires_at, no_expiry);
  EXPECT_EQ(forever.source, "manual");
  EXPECT_EQ(available(), cr(101));
}

TEST_F(ledger_grant, unknown_account) {
  auto r = led.grant(grant_of(cr(1), lot_kind::prepaid, std::nullopt, "nobody"), t0);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, errc::account_not_found);
}

TEST_F(ledger_grant, refusals) {
  open();
  grant(cr(1));  // something to compare against
  struct refusal {
    const char* what;
    std::function<void(grant_cmd&)> set;
    const char* message;
  };
  const std::vector<refusal> cases = {
      {"zero amount", [](grant_cmd& g) { g.amount = 0; }, "amount must be positive"},
      {"negative amount", [](grant_cmd& g) { g.amount = -1; }, "amount must be positive"},
      {"huge amount", [](grant_cmd& g) { g.amount = amount_micros_max + 1; },
       "amount must be positive"},
      {"expires at effective", [](grant_cmd& g) { g.expires_at = t0; },
       "expires_at must be after effective_at"},
      {"expires before effective",
       [](grant_cmd& g) {
         g.effective_at = t0 + days(2);
         g.expires_at = t0 + days(1);
       },
       "expires_at must be after effective_at"},
      {"expires at a future effective",
       [](grant_cmd& g) {
         g.effective_at = t0 + days(2);
         g.expires_at = t0 + days(2);
       },
       "expires_at must be after effective_at"},
      {"expired already",
       [](grant_cmd& g) {
         g.effective_at = t0 - days(10);
         g.expires_at = t0 - days(1);
       },
       "expires_at is in the past"},
      {"expires now",
       [](grant_cmd& g) {
         g.effective_at = t0 - days(10);
         g.expires_at = t0;
       },
       "expires_at is in the past"},
      {"negative priority", [](grant_cmd& g) { g.priority = -1; },
       "priority must be between 0 and 1000000"},
      {"huge priority", [](grant_cmd& g) { g.priority = 1'000'001; },
       "priority must be between 0 and 1000000"},
      {"65 scope entries",
       [](grant_cmd& g) {
         for (int i = 0; i < 65; ++i)
           g.scope.push_back("op" + std::to_string(i));
       },
       "scope names more than 64 operations"},
      {"empty scope entry", [](grant_cmd& g) { g.scope = {""}; },
       "scope holds an invalid operation"},
      {"space in scope", [](grant_cmd& g) { g.scope = {"image generate"}; },
       "scope holds an invalid operation"},
      {"bare .*", [](grant_cmd& g) { g.scope = {".*"}; }, "scope holds an invalid operation"},
      {"*.*", [](grant_cmd& g) { g.scope = {"*.*"}; }, "scope holds an invalid operation"},
      {"inner star", [](grant_cmd& g) { g.scope = {"image.*.x"}; },
       "scope holds an invalid operation"},
      {"suffix star", [](grant_cmd& g) { g.scope = {"image*"}; },
       "scope holds an invalid operation"},
      {"long scope entry", [](grant_cmd& g) { g.scope = {std::string(129, 'a')}; },
       "scope holds an invalid operation"},
      {"one bad among good",
       [](grant_cmd& g) {
         g.scope = {"image.*", "llm tokens"};
       },
       "scope holds an invalid operation"},
      {"empty source", [](grant_cmd& g) { g.source = ""; }, "source must be 1 to 64 bytes"},
      {"long source", [](grant_cmd& g) { g.source = std::string(65, 's'); },
       "source must be 1 to 64 bytes"},
      {"long reason", [](grant_cmd& g) { g.reason = std::string(1025, 'r'); },
       "reason is longer than 1024 bytes"},
      {"negative cost basis", [](grant_cmd& g) { g.cost_basis = -1; },
       "cost_basis is out of range"},
      {"huge cost basis", [](grant_cmd& g) { g.cost_basis = amount_micros_max + 1; },
       "cost_basis is out of range"},
      {"long currency", [](grant_cmd& g) { g.currency = "EURODOLLA"; }, "currency is too long"},
  };
  const std::size_t entries = led.pending_entry_count();
  const object_id next_id = led.next_object_id();
  for (const refusal& c : cases) {
    grant_cmd g = grant_of(cr(5));
    c.set(g);
    auto r = led.grant(g, t0);
    ASSERT_FALSE(r.has_value()) << c.what;
    EXPECT_EQ(r.error().code, errc::invalid_argument) << c.what;
    EXPECT_STREQ(r.error().message, c.message) << c.what;
  }
  EXPECT_EQ(led.pending_entry_count(), entries);
  EXPECT_EQ(led.next_object_id(), next_id);
  EXPECT_EQ(acct().lots.size(), 1u);
  EXPECT_EQ(available(), cr(1));
}

TEST_F(ledger_grant, accepted_edges) {
  open();
  grant_cmd g = grant_of(cr(1));
  for (int i = 0; i < 64; ++i)
    g.scope.push_back("op" + std::to_string(i));
  EXPECT_TRUE(led.grant(g, t0).has_value());
  g.scope = {"*"};
  EXPECT_TRUE(led.grant(g, t0).has_value());
  g.scope = {"image.*", std::string(128, 'a'), "a/b:c-d_e"};
  EXPECT_TRUE(led.grant(g, t0).has_value());
  g.scope = {};
  g.source = std::string(64, 's');
  g.reason = std::string(1024, 'r');
  g.currency = "ABCDEFGH";
  g.cost_basis = amount_micros_max;
  g.amount = 1;
  EXPECT_TRUE(led.grant(g, t0).has_value());
  // Expiring one microsecond from now is fine; so is a past effective_at.
  g = grant_of(1, lot_kind::promo, t0 + 1);
  g.effective_at = t0 - days(3);
  const lot& l = grant(g);
  EXPECT_EQ(l.effective_at, t0 - days(3));
  EXPECT_EQ(l.expires_at, t0 + 1);
}

TEST_F(ledger_grant, active_lots_limit) {
  open();
  for (std::size_t i = 0; i < limits::active_lots_per_account_max; ++i)
    grant(cr(1));
  EXPECT_EQ(acct().active_lots.size(), 1000u);
  const std::size_t entries = led.pending_entry_count();
  auto r = led.grant(grant_of(cr(1)), t0);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, errc::limit_exceeded);
  EXPECT_STREQ(r.error().message, "the account has 1000 active lots already");
  EXPECT_EQ(led.pending_entry_count(), entries);
  // A positive adjustment is a lot too.
  auto a = led.adjust(adjust_cmd{"acct", cr(1), "goodwill"}, t0);
  ASSERT_FALSE(a.has_value());
  EXPECT_EQ(a.error().code, errc::limit_exceeded);

  // A depleted lot is no longer active: there is room again.
  charge(cr(1));
  EXPECT_EQ(acct().active_lots.size(), 999u);
  EXPECT_TRUE(led.grant(grant_of(cr(1)), t0).has_value());
  EXPECT_FALSE(led.grant(grant_of(cr(1)), t0).has_value());
  EXPECT_EQ(available(), cr(1000));
}

TEST_F(ledger_grant, expired_lots_free_their_slots) {
  open();
  for (std::size_t i = 0; i < limits::active_lots_per_account_max; ++i) {
    grant(cr(1), lot_kind::promo, t0 + hours(1));
  }
  EXPECT_FALSE(led.grant(grant_of(cr(1)), t0 + hours(1) - 1).has_value());
  // At the expiry the grant settles the account first.
  EXPECT_TRUE(led.grant(grant_of(cr(1)), t0 + hours(1)).has_value());
  EXPECT_EQ(acct().active_lots.size(), 1u);
  EXPECT_EQ(available(t0 + hours(1)), cr(1));
}

TEST_F(ledger_grant, journal_entry) {
  account_settings s;
  s.reserve = cr(2);
  open("acct", s);
  const std::size_t mark = led.pending_entry_count();
  const std::uint64_t seq = led.next_seq();
  grant_cmd g = grant_of(cr(10), lot_kind::plan);
  g.reason = "period 2026-11";
  const lot& first = grant(g);
  const lot& second = grant(cr(3), lot_kind::promo, std::nullopt, t0 + secs(5));
  auto es = entries_since(mark);
  ASSERT_EQ(es.size(), 2u);
  EXPECT_EQ(es[0].seq, seq);
  EXPECT_EQ(es[0].type, entry_type::grant);
  EXPECT_EQ(es[0].owner, &acct());
  EXPECT_EQ(es[0].amount, cr(10));
  EXPECT_EQ(es[0].lot_id, first.id);
  EXPECT_EQ(es[0].parts, (std::vector<lot_part>{{first.id, cr(10)}}));
  EXPECT_EQ(es[0].balance_after, cr(8));  // the reserve is kept back
  EXPECT_EQ(es[0].reason, "period 2026-11");
  EXPECT_EQ(es[0].created_at, t0);
  EXPECT_EQ(es[0].charge_id, 0u);
  EXPECT_EQ(es[1].seq, seq + 1);
  EXPECT_EQ(es[1].type, entry_type::grant);
  EXPECT_EQ(es[1].amount, cr(3));
  EXPECT_EQ(es[1].lot_id, second.id);
  EXPECT_EQ(es[1].parts, (std::vector<lot_part>{{second.id, cr(3)}}));
  EXPECT_EQ(es[1].balance_after, cr(11));
  EXPECT_EQ(es[1].created_at, t0 + secs(5));
  EXPECT_EQ(led.next_seq(), seq + 2);
}

TEST_F(ledger_grant, future_effective_lot_is_not_spendable_until_effective) {
  open();
  grant_cmd g = grant_of(cr(10));
  g.effective_at = t0 + hours(1);
  const lot& l = grant(g);
  EXPECT_EQ(l.effective_at, t0 + hours(1));
  EXPECT_EQ(available(t0), 0);
  EXPECT_EQ(bal(t0).lots_remaining, 0);
  auto r = led.charge(charge_of(cr(1)), t0 + hours(1) - 1);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, errc::insufficient_credits);
  EXPECT_EQ(r.error().reason, refusal_reason::balance);
  EXPECT_EQ(r.error().available, 0);
  EXPECT_EQ(available(t0 + hours(1)), cr(10));
  const charge_record& c = charge(cr(4), t0 + hours(1));
  EXPECT_EQ(c.parts, (std::vector<charge_part>{{l.id, cr(4), 0}}));
  EXPECT_EQ(available(t0 + hours(1)), cr(6));
}

// ---------------------------------------------------------------- charges

TEST_F(ledger_charge, consumption_order) {
  open();
  // Created in this order, 1 credit each.
  const object_id prepaid_forever = grant(cr(1), lot_kind::prepaid).id;
  const object_id prepaid_10d = grant(cr(1), lot_kind::prepaid, t0 + days(10)).id;
  const object_id promo_30d = grant(cr(1), lot_kind::promo, t0 + days(30)).id;
  const object_id plan_forever = grant(cr(1), lot_kind::plan).id;
  const object_id prepaid_10d_later = grant(cr(1), lot_kind::prepaid, t0 + days(10)).id;
  const object_id prepaid_5d = grant(cr(1), lot_kind::prepaid, t0 + days(5)).id;
  const object_id prepaid_forever_later = grant(cr(1), lot_kind::prepaid).id;
  grant_cmd custom = grant_of(cr(1), lot_kind::prepaid);
  custom.priority = 1;
  const object_id custom_first = grant(custom).id;

  const std::vector<object_id> order = {
      custom_first, promo_30d,         plan_forever,    prepaid_5d,
      prepaid_10d,  prepaid_10d_later, prepaid_forever, prepaid_forever_later};
  EXPECT_EQ(active_ids(), order);

  // Charges of 1.5 credits walk the same order, split across lot boundaries.
  std::vector<charge_part> seen;
  for (int i = 0; i < 5; ++i) {
    const charge_record& c = charge(1'500'000, t0 + secs(i));
    for (const charge_part& p : c.parts)
      seen.push_back(p);
  }
  // Charge 1 takes custom_first (1), promo_30d (0.5); charge 2 promo_30d (0.5),
  // plan_forever (1); charge 3 prepaid_5d (1), prepaid_10d (0.5); charge 4
  // prepaid_10d (0.5), prepaid_10d_later (1); charge 5 prepaid_forever (1),
  // prepaid_forever_later (0.5).
  const std::vector<charge_part> all = {
      {custom_first, cr(1), 0},    {promo_30d, 500'000, 0},
      {promo_30d, 500'000, 0},     {plan_forever, cr(1), 0},
      {prepaid_5d, cr(1), 0},      {prepaid_10d, 500'000, 0},
      {prepaid_10d, 500'000, 0},   {prepaid_10d_later, cr(1), 0},
      {prepaid_forever, cr(1), 0}, {prepaid_forever_later, 500'000, 0},
  };
  EXPECT_EQ(seen, all);
  EXPECT_EQ(active_ids(), (std::vector<object_id>{prepaid_forever_later}));
  EXPECT_EQ(available(t0 + secs(5)), 500'000);
}

TEST_F(ledger_charge, multi_lot_charge_breakdown) {
  open();
  const object_id a = grant(cr(3), lot_kind::promo, t0 + days(7)).id;
  const object_id b = grant(cr(5)).id;
  const std::size_t mark = led.pending_entry_count();
  const object_id id = led.next_object_id();
  charge_cmd cmd = charge_of(cr(7), "image.upscale");
  cmd.dimensions = R"({"model":"x1","resolution":"4k"})";
  cmd.reference = "gen-77";
  const charge_record& c = *must(led.charge(cmd, t0 + secs(1)));
  EXPECT_EQ(c.id, id);
  EXPECT_EQ(c.owner, &acct());
  EXPECT_EQ(c.amount, cr(7));
  EXPECT_EQ(c.refunded, 0);
  EXPECT_EQ(c.created_at, t0 + secs(1));
  EXPECT_EQ(c.hold_id, 0u);
  EXPECT_EQ(c.parts, (std::vector<charge_part>{{a, cr(3), 0}, {b, cr(4), 0}}));
  EXPECT_EQ(led.find_charge(id), &c);

  EXPECT_EQ(lot_at(a).remaining, 0);
  EXPECT_EQ(lot_at(a).spent, cr(3));
  EXPECT_EQ(lot_at(a).status, lot_status::depleted);
  EXPECT_EQ(lot_at(b).remaining, cr(1));
  EXPECT_EQ(lot_at(b).spent, cr(4));
  EXPECT_EQ(lot_at(b).status, lot_status::active);
  EXPECT_EQ(active_ids(), (std::vector<object_id>{b}));

  auto es = entries_since(mark);
  ASSERT_EQ(es.size(), 1u);
  EXPECT_EQ(es[0].type, entry_type::charge);
  EXPECT_EQ(es[0].amount, cr(7));
  EXPECT_EQ(es[0].charge_id, id);
  EXPECT_EQ(es[0].parts, (std::vector<lot_part>{{a, cr(3)}, {b, cr(4)}}));
  EXPECT_EQ(es[0].balance_after, cr(1));
  EXPECT_EQ(es[0].operation, "image.upscale");
  EXPECT_EQ(es[0].dimensions, R"({"model":"x1","resolution":"4k"})");
  EXPECT_EQ(es[0].reference, "gen-77");
  EXPECT_EQ(es[0].created_at, t0 + secs(1));
  EXPECT_EQ(available(t0 + secs(1)), cr(1));
}

TEST_F(ledger_charge, exact_balance_then_one_micro_over) {
  open();
  const object_id a = grant(cr(2)).id;
  const object_id b = grant(500'001).id;
  // One micro more than everything: refused.
  auto over = led.charge(charge_of(2'500'002), t0);
  ASSERT_FALSE(over.has_value());
  EXPECT_EQ(over.error().code, errc::insufficient_credits);
  EXPECT_EQ(over.error().reason, refusal_reason::balance);
  EXPECT_EQ(over.error().available, 2'500'001);
  EXPECT_EQ(over.error().required, 2'500'002);
  // Exactly everything: accepted, nothing left.
  const charge_record& c = charge(2'500'001);
  EXPECT_EQ(c.parts, (std::vector<charge_part>{{a, cr(2), 0}, {b, 500'001, 0}}));
  EXPECT_EQ(available(), 0);
  EXPECT_EQ(bal().lots_remaining, 0);
  EXPECT_TRUE(acct().active_lots.empty());
  auto one = led.charge(charge_of(1), t0);
  ASSERT_FALSE(one.has_value());
  EXPECT_EQ(one.error().reason, refusal_reason::balance);
  EXPECT_EQ(one.error().available, 0);
  EXPECT_EQ(one.error().required, 1);
}

struct refusal_case {
  const char* what;
  account_settings settings;
  std::function<void(ledger_fixture&)> setup;
  charge_cmd cmd;
  refusal_reason reason;
  micros available;
  micros required;
};

class ledger_refusals : public ledger_fixture,
                        public ::testing::WithParamInterface<refusal_case> {};

TEST_P(ledger_refusals, refuses_with_reason_and_changes_nothing) {
  const refusal_case& c = GetParam();
  open("acct", c.settings);
  c.setup(*this);
  const balance_view before = bal();
  std::vector<lot> lots_before;
  for (const lot* l : acct().lots)
    lots_before.push_back(*l);
  const std::size_t entries = led.pending_entry_count();
  const object_id next_id = led.next_object_id();
  const std::uint64_t next_seq = led.next_seq();

  auto r = led.charge(c.cmd, t0);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, errc::insufficient_credits);
  EXPECT_EQ(r.error().reason, c.reason) << to_string(r.error().reason);
  EXPECT_EQ(r.error().available, c.available);
  EXPECT_EQ(r.error().required, c.required);

  const balance_view after = bal();
  EXPECT_EQ(after.available, before.available);
  EXPECT_EQ(after.held, before.held);
  EXPECT_EQ(after.postpaid_used, before.postpaid_used);
  EXPECT_EQ(after.lots_remaining, before.lots_remaining);
  EXPECT_EQ(led.pending_entry_count(), entries);
  EXPECT_EQ(led.next_object_id(), next_id);
  EXPECT_EQ(led.next_seq(), next_seq);
  ASSERT_EQ(acct().lots.size(), lots_before.size());
  for (std::size_t i = 0; i < lots_before.size(); ++i) {
    EXPECT_EQ(acct().lots[i]->remaining, lots_before[i].remaining);
    EXPECT_EQ(acct().lots[i]->spent, lots_before[i].spent);
    EXPECT_EQ(acct().lots[i]->status, lots_before[i].status);
  }

  // The same request as a hold is refused the same way.
  hold_cmd h = hold_of(c.cmd.amount, 600, c.cmd.operation);
  h.urgent = c.cmd.urgent;
  auto hr = led.place_hold(h, t0);
  ASSERT_FALSE(hr.has_value());
  EXPECT_EQ(hr.error().code, errc::insufficient_credits);
  EXPECT_EQ(hr.error().reason, c.reason);
  EXPECT_EQ(hr.error().available, c.available);
  EXPECT_EQ(led.pending_entry_count(), entries);
}

account_settings reserve_of(micros r) {
  account_settings s;
  s.reserve = r;
  return s;
}
account_settings postpaid_of(micros p) {
  account_settings s;
  s.postpaid_limit = p;
  return s;
}
charge_cmd urgent(charge_cmd c) {
  c.urgent = true;
  return c;
}

INSTANTIATE_TEST_SUITE_P(
    all, ledger_refusals,
    ::testing::
        Values(
            refusal_case{"balance",
                         {},
                         [](ledger_fixture& f) { f.led.grant(grant_of(cr(10)), t0); },
                         charge_of(cr(11)),
                         refusal_reason::balance,
                         cr(10),
                         cr(11)},
            refusal_case{"empty account",
                         {},
                         [](ledger_fixture&) {},
                         charge_of(1),
                         refusal_reason::balance,
                         0,
                         1},
            refusal_case{"reserve", reserve_of(cr(3)),
                         [](ledger_fixture& f) { f.led.grant(grant_of(cr(10)), t0); },
                         charge_of(cr(8)), refusal_reason::reserve, cr(7), cr(8)},
            refusal_case{"reserve larger than the lots", reserve_of(cr(30)),
                         [](ledger_fixture& f) { f.led.grant(grant_of(cr(10)), t0); },
                         charge_of(cr(1)), refusal_reason::reserve, 0, cr(1)},
            refusal_case{"beyond the reserve too", reserve_of(cr(3)),
                         [](ledger_fixture& f) { f.led.grant(grant_of(cr(10)), t0); },
                         charge_of(cr(11)), refusal_reason::balance, cr(7), cr(11)},
            refusal_case{"urgent beyond everything", reserve_of(cr(3)),
                         [](ledger_fixture& f) { f.led.grant(grant_of(cr(10)), t0); },
                         urgent(charge_of(cr(10) + 1)), refusal_reason::balance, cr(10),
                         cr(10) + 1},
            refusal_case{"postpaid limit", postpaid_of(cr(3)),
                         [](ledger_fixture& f) { f.led.grant(grant_of(cr(5)), t0); },
                         charge_of(cr(9)), refusal_reason::postpaid_limit, cr(8), cr(9)},
            refusal_case{"postpaid used up", postpaid_of(cr(3)),
                         [](ledger_fixture& f) { f.led.charge(charge_of(cr(2)), t0); },
                         charge_of(cr(2)), refusal_reason::postpaid_limit, cr(1), cr(2)},
            refusal_case{"scope",
                         {},
                         [](ledger_fixture& f) {
                           grant_cmd g = grant_of(cr(10));
                           g.scope = {"image.*"};
                           f.led.grant(g, t0);
                         },
                         charge_of(cr(1), "llm.tokens"),
                         refusal_reason::scope,
                         0,
                         cr(1)},
            refusal_case{"scope prefix needs the dot",
                         {},
                         [](ledger_fixture& f) {
                           grant_cmd g = grant_of(cr(10));
                           g.scope = {"image.*"};
                           f.led.grant(g, t0);
                         },
                         charge_of(cr(1), "imagex.generate"),
                         refusal_reason::scope,
                         0,
                         cr(1)},
            refusal_case{"scope prefix is not the operation",
                         {},
                         [](ledger_fixture& f) {
                           grant_cmd g = grant_of(cr(10));
                           g.scope = {"image.*"};
                           f.led.grant(g, t0);
                         },
                         charge_of(cr(1), "image"),
                         refusal_reason::scope,
                         0,
                         cr(1)},
            refusal_case{"scope partly",
                         {},
                         [](ledger_fixture& f) {
                           grant_cmd g = grant_of(cr(10));
                           g.scope = {"llm.tokens"};
                           f.led.grant(g, t0);
                           f.led.grant(grant_of(cr(2)), t0);
                         },
                         charge_of(cr(3), "image.generate"),
                         refusal_reason::scope,
                         cr(2),
                         cr(3)},
            refusal_case{"reserve wins over scope", reserve_of(cr(15)),
                         [](ledger_fixture& f) {
                           grant_cmd g = grant_of(cr(10));
                           g.scope = {"image.*"};
                           f.led.grant(g, t0);
                           f.led.grant(grant_of(cr(10)), t0);
                         },
                         charge_of(cr(6), "llm.tokens"), refusal_reason::reserve, cr(5), cr(6)},
            refusal_case{
                "expired lot",
                {},
                [](ledger_fixture& f) {
                  f.led.grant(grant_of(cr(10), lot_kind::promo, t0 - secs(1)), t0 - secs(10));
                  f.led.run_due(t0);  // nothing pending afterwards
                },
                charge_of(cr(1)),
                refusal_reason::balance,
                0,
                cr(1)}),
    [](const ::testing::TestParamInfo<refusal_case>& info) {
      std::string name;
      for (const char* p = info.param.what; *p; ++p)
        name += std::isalnum(*p) ? *p : '_';
      return name;
    });

TEST_F(ledger_charge, urgent_dips_into_the_reserve) {
  open("acct", reserve_of(cr(3)));
  const object_id l = grant(cr(10)).id;
  EXPECT_EQ(available(), cr(7));
  EXPECT_EQ(bal().reserve, cr(3));
  EXPECT_EQ(bal().lots_remaining, cr(10));
  charge(cr(5));
  EXPECT_EQ(available(), cr(2));
  auto plain = led.charge(charge_of(cr(3)), t0);
  ASSERT_FALSE(plain.has_value());
  EXPECT_EQ(plain.error().reason, refusal_reason::reserve);
  EXPECT_EQ(plain.error().available, cr(2));
  const charge_record& c = *must(led.charge(urgent(charge_of(cr(4))), t0));
  EXPECT_EQ(c.parts, (std::vector<charge_part>{{l, cr(4), 0}}));
  EXPECT_EQ(lot_at(l).remaining, cr(1));
  EXPECT_EQ(available(), 0);  // below the reserve, never negative
  EXPECT_EQ(bal().lots_remaining, cr(1));
  must(led.charge(urgent(charge_of(cr(1))), t0));
  EXPECT_EQ(bal().lots_remaining, 0);
}

TEST_F(ledger_charge, postpaid_after_lots_and_new_month) {
  open("acct", postpaid_of(cr(3)));
  const object_id l = grant(cr(5)).id;
  EXPECT_EQ(available(), cr(8));
  const std::size_t mark = led.pending_entry_count();
  const charge_record& c = charge(cr(7));
  EXPECT_EQ(c.parts, (std::vector<charge_part>{{l, cr(5), 0}, {postpaid_lot_id, cr(2), 0}}));
  EXPECT_EQ(c.postpaid_period, month_index(t0));
  EXPECT_EQ(entries_since(mark)[0].parts,
            (std::vector<lot_part>{{l, cr(5)}, {postpaid_lot_id, cr(2)}}));
  EXPECT_EQ(entries_since(mark)[0].balance_after, cr(1));
  EXPECT_EQ(acct().postpaid_used, cr(2));
  EXPECT_EQ(bal().postpaid_used, cr(2));
  EXPECT_EQ(available(), cr(1));

  auto r = led.charge(charge_of(cr(2)), t0 + secs(1));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().reason, refusal_reason::postpaid_limit);
  EXPECT_EQ(r.error().available, cr(1));
  EXPECT_EQ(r.error().required, cr(2));

  // The last microsecond of November still counts November's usage.
  EXPECT_EQ(available(dec1 - 1), cr(1));
  // A new calendar month: the postpaid credit is whole again.
  EXPECT_EQ(available(dec1), cr(3));
  EXPECT_EQ(bal(dec1).postpaid_used, 0);
  const charge_record& d = charge(cr(3), dec1 + secs(1));
  EXPECT_EQ(d.parts, (std::vector<charge_part>{{postpaid_lot_id, cr(3), 0}}));
  EXPECT_EQ(d.postpaid_period, month_index(dec1));
  EXPECT_EQ(acct().postpaid_period, month_index(dec1));
  EXPECT_EQ(acct().postpaid_used, cr(3));
  EXPECT_EQ(available(dec1 + secs(1)), 0);
}

TEST_F(ledger_charge, scopes) {
  open();
  grant_cmd images = grant_of(cr(2), lot_kind::promo);
  images.scope = {"image.*"};
  const object_id img = grant(images).id;
  grant_cmd llm = grant_of(cr(2), lot_kind::promo);
  llm.scope = {"llm.tokens"};
  const object_id tok = grant(llm).id;
  grant_cmd any = grant_of(cr(2), lot_kind::plan);
  any.scope = {"*"};
  const object_id star = grant(any).id;
  const object_id plain = grant(cr(2)).id;

  // A charge skips the lots whose scope excludes it, keeping the order.
  EXPECT_EQ(charge(cr(3), t0, "image.upscale").parts,
            (std::vector<charge_part>{{img, cr(2), 0}, {star, cr(1), 0}}));
  EXPECT_EQ(charge(cr(3), t0, "llm.tokens").parts,
            (std::vector<charge_part>{{tok, cr(2), 0}, {star, cr(1), 0}}));
  EXPECT_EQ(charge(cr(1), t0, "llm.tokens.extra").parts,
            (std::vector<charge_part>{{plain, cr(1), 0}}));
  EXPECT_EQ(lot_at(img).remaining, 0);
  EXPECT_EQ(lot_at(tok).remaining, 0);
  EXPECT_EQ(lot_at(star).remaining, 0);
  EXPECT_EQ(lot_at(plain).remaining, cr(1));

  lot probe;
  probe.scope = {"image.*"};
  EXPECT_TRUE(probe.matches("image.generate"));
  EXPECT_TRUE(probe.matches("image.a.b"));
  EXPECT_TRUE(probe.matches("image."));
  EXPECT_FALSE(probe.matches("image"));
  EXPECT_FALSE(probe.matches("images.generate"));
  EXPECT_FALSE(probe.matches("llm.image.x"));
  probe.scope = {};
  EXPECT_TRUE(probe.matches("anything"));
}

TEST_F(ledger_charge, zero_amount) {
  open();
  const std::size_t mark = led.pending_entry_count();
  const charge_record& c = charge(0);
  EXPECT_EQ(c.amount, 0);
  EXPECT_TRUE(c.parts.empty());
  auto es = entries_since(mark);
  ASSERT_EQ(es.size(), 1u);
  EXPECT_EQ(es[0].type, entry_type::charge);
  EXPECT_EQ(es[0].amount, 0);
  EXPECT_TRUE(es[0].parts.empty());
  EXPECT_EQ(es[0].balance_after, 0);
  const lot& l = grant(cr(1));
  EXPECT_TRUE(charge(0).parts.empty());
  EXPECT_EQ(lot_at(l.id).remaining, cr(1));
}

TEST_F(ledger_charge, input_refusals) {
  open();
  grant(cr(10));
  struct refusal {
    const char* what;
    std::function<void(charge_cmd&)> set;
    const char* message;
  };
  const std::vector<refusal> cases = {
      {"negative", [](charge_cmd& c) { c.amount = -1; }, "amount must not be negative"},
      {"huge", [](charge_cmd& c) { c.amount = amount_micros_max + 1; },
       "amount must not be negative"},
      {"no operation", [](charge_cmd& c) { c.operation = ""; },
       "operation must match [A-Za-z0-9._:/-]{1,128}"},
      {"pattern operation", [](charge_cmd& c) { c.operation = "image.*"; },
       "operation must match [A-Za-z0-9._:/-]{1,128}"},
      {"space", [](charge_cmd& c) { c.operation = "image generate"; },
       "operation must match [A-Za-z0-9._:/-]{1,128}"},
      {"long operation", [](charge_cmd& c) { c.operation = std::string(129, 'o'); },
       "operation must match [A-Za-z0-9._:/-]{1,128}"},
      {"dimensions", [](charge_cmd& c) { c.dimensions = std::string(4097, ' '); },
       "dimensions are larger than 4096 bytes"},
      {"reference", [](charge_cmd& c) { c.reference = std::string(513, 'r'); },
       "reference is longer than 512 bytes"},
      {"zero quantity", [](charge_cmd& c) { c.quantity = 0; }, "quantity must be positive"},
      {"negative quantity", [](charge_cmd& c) { c.quantity = -1; }, "quantity must be positive"},
      {"huge quantity", [](charge_cmd& c) { c.quantity = amount_micros_max + 1; },
       "quantity must be positive"},
      {"metadata", [](charge_cmd& c) { c.metadata = std::string(4097, ' '); },
       "metadata is larger than 4096 bytes"},
  };
  const std::size_t entries = led.pending_entry_count();
  for (const refusal& c : cases) {
    charge_cmd cmd = charge_of(cr(1));
    c.set(cmd);
    auto r = led.charge(cmd, t0);
    ASSERT_FALSE(r.has_value()) << c.what;
    EXPECT_EQ(r.error().code, errc::invalid_argument) << c.what;
    EXPECT_STREQ(r.error().message, c.message) << c.what;
  }
  EXPECT_EQ(led.pending_entry_count(), entries);
  EXPECT_EQ(available(), cr(10));

  charge_cmd edge = charge_of(cr(1), std::string(128, 'o'));
  edge.dimensions = std::string(4096, ' ');
  edge.reference = std::string(512, 'r');
  edge.quantity = amount_micros_max;
  edge.metadata = std::string(4096, ' ');
  EXPECT_TRUE(led.charge(edge, t0).has_value());
  EXPECT_TRUE(led.charge(charge_of(cr(1), "a/b:c-d_e.f"), t0).has_value());

  auto missing = led.charge(charge_of(cr(1), "image.generate", "nobody"), t0);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, errc::account_not_found);
}

TEST_F(ledger_charge, rate_limit_token_bucket) {
  account_settings s;
  s.rate_limit_per_minute = 3;
  open("acct", s);
  grant(cr(100));
  for (int i = 0; i < 3; ++i)
    charge(cr(1));
  const std::size_t entries = led.pending_entry_count();
  auto r = led.charge(charge_of(cr(1)), t0);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, errc::rate_limited);
  EXPECT_EQ(r.error().retry_after_s, 20);  // one request every 20 s
  EXPECT_EQ(r.error().limit, 3);
  EXPECT_EQ(led.pending_entry_count(), entries);
  EXPECT_EQ(available(), cr(97));

  // Ten seconds later half a token is back: still refused, 10 s to go.
  r = led.charge(charge_of(cr(1)), t0 + secs(10));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, errc::rate_limited);
  EXPECT_EQ(r.error().retry_after_s, 10);
  // Twenty seconds after the burst one more request fits, and only one.
  charge(cr(1), t0 + secs(20));
  r = led.charge(charge_of(cr(1)), t0 + secs(20));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, errc::rate_limited);
  EXPECT_GE(r.error().retry_after_s, 1);

  // After a long pause the bucket is full again, but never more than full.
  for (int i = 0; i < 3; ++i)
    charge(cr(1), t0 + hours(1));
  EXPECT_EQ(refusal(led.charge(charge_of(cr(1)), t0 + hours(1))).code, errc::rate_limited);
  EXPECT_EQ(available(t0 + hours(1)), cr(93));
}

TEST_F(ledger_charge, rate_limit_counts_holds_but_not_refusals) {
  account_settings s;
  s.rate_limit_per_minute = 2;
  open("acct", s);
  grant(cr(5));
  // Refused for credits: no token taken.
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(refusal(led.charge(charge_of(cr(6)), t0)).code, errc::insufficient_credits);
  }
  place(cr(1));
  charge(cr(1));
  auto r = led.place_hold(hold_of(cr(1)), t0);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, errc::rate_limited);
  EXPECT_EQ(r.error().retry_after_s, 30);
  EXPECT_EQ(r.error().limit, 2);
  EXPECT_EQ(led.open_hold_count(), 1u);
  // Rate limits do not apply to unlimited accounts.
  open("free");
  must(led.grant(grant_of(cr(1000), lot_kind::prepaid, std::nullopt, "free"), t0));
  for (int i = 0; i < 500; ++i)
    must(led.charge(charge_of(cr(1), "x", "free"), t0));
}

TEST_F(ledger_charge, rate_limit_of_one_per_minute_boundary) {
  account_settings s;
  s.rate_limit_per_minute = 1;
  open("acct", s);
  grant(cr(10));
  charge(cr(1));
  auto r = led.charge(charge_of(cr(1)), t0);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().retry_after_s, 60);
  // Exactly one minute later (with no attempt in between) the token is back.
  charge(cr(1), t0 + secs(60));
  r = led.charge(charge_of(cr(1)), t0 + secs(60));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().retry_after_s, 60);
}

TEST_F(ledger_charge, rate_limit_refill_is_not_lost_by_frequent_polling) {
  account_settings s;
  s.rate_limit_per_minute = 3;
  open("acct", s);
  grant(cr(100));
  for (int i = 0; i < 3; ++i)
    charge(cr(1));
  // One refused attempt one microsecond before the token is whole...
  EXPECT_EQ(refusal(led.charge(charge_of(cr(1)), t0 + secs(20) - 1)).code, errc::rate_limited);
  // ...must not delay the token that is due 20 s after the burst.
  EXPECT_TRUE(led.charge(charge_of(cr(1)), t0 + secs(20)).has_value());
}

// What a refused command must leave as it was: the journal, the counters,
// the account's balance and every lot's state.
struct ledger_state {
  std::size_t entries = 0;
  std::uint64_t next_seq = 0;
  object_id next_id = 0;
  micros available = 0, held = 0, postpaid_used = 0, lots_remaining = 0;
  std::size_t lots = 0, active = 0, open_holds = 0;
  std::vector<std::tuple<micros, micros, micros, micros, micros, lot_status>> lot_states;
  bool operator==(const ledger_state&) const = default;
};

ledger_state state_of(const ledger& led, time_us now, const std::string& id = "acct") {
  const account& a = *led.find_account(id);
  const balance_view b = led.balance(a, now);
  ledger_state s{led.pending_entry_count(),
                 led.next_seq(),
                 led.next_object_id(),
                 b.available,
                 b.held,
                 b.postpaid_used,
                 b.lots_remaining,
                 a.lots.size(),
                 a.active_lots.size(),
                 led.open_hold_count(),
                 {}};
  for (const lot* l : a.lots)
    s.lot_states.emplace_back(l->amount, l->remaining, l->spent, l->voided, l->expired, l->status);
  return s;
}

// Every amount field at and past its largest value (10^15 micros): the
// largest is taken exactly, one micro more (or an int64 extreme) is refused as
// invalid_argument with nothing changed, and so is a catalog cost whose
// unit x quantity product is beyond int64.
TEST_F(ledger_charge, amounts_past_their_largest_are_refused_exactly) {
  constexpr micros max = amount_micros_max;
  constexpr micros i64_max = std::numeric_limits<micros>::max();
  constexpr micros i64_min = std::numeric_limits<micros>::min();
  open();
  grant(max);
  grant(max);
  must(led.put_price({"p-max", "image.generate", {}, max}, t0));
  must(led.put_price({"p-one", "image.upscale", {}, 1}, t0));
  const hold& h = place(cr(1));
  const charge_record& c = charge(cr(2));
  const ledger_state before = state_of(led, t0);

  auto refused = [&](const char* what, const error& e) {
    EXPECT_EQ(e.code, errc::invalid_argument) << what << ": " << to_string(e.code);
    EXPECT_EQ(state_of(led, t0), before) << what;
  };
  for (micros bad : {max + 1, i64_max, i64_min, micros{-1}}) {
    const std::string v = std::to_string(bad);
    refused(("grant " + v).c_str(), refusal(led.grant(grant_of(bad), t0)));
    refused(("charge " + v).c_str(), refusal(led.charge(charge_of(bad), t0)));
    refused(("hold " + v).c_str(), refusal(led.place_hold(hold_of(bad), t0)));
    refused(("batch " + v).c_str(),
            refusal(led.charge_batch(std::vector<charge_cmd>{charge_of(1), charge_of(bad)}, t0)));
    refused(("quote " + v).c_str(), refusal(led.quote(charge_of(bad), t0)));
    charge_cmd q = charge_of(1);
    q.quantity = bad;
    refused(("quantity " + v).c_str(), refusal(led.charge(q, t0)));
    refused(("capture " + v).c_str(), refusal(led.capture(h.id, bad, t0)));
    if (bad != -1) {
      refused(("adjust " + v).c_str(), refusal(led.adjust({"acct", bad, "edge"}, t0)));
      // More than the charge left: refund_too_large; negative: invalid_argument.
      const error e = refusal(led.refund({c.id, bad, ""}, t0));
      EXPECT_EQ(e.code, bad > 0 ? errc::refund_too_large : errc::invalid_argument) << v;
      EXPECT_EQ(state_of(led, t0), before) << "refund " << v;
      refused(("price " + v).c_str(), refusal(led.put_price({"p-bad", "x", {}, bad}, t0)));
    }
  }
  refused("adjust -max-1", refusal(led.adjust({"acct", -max - 1, "edge"}, t0)));

  // Priced: the largest unit price times the largest quantity is 10^30
  // (10^24 micros after scaling), beyond int64; one micro-unit of quantity
  // past the largest cost too. Charges, batches, holds and quotes alike.
  for (micros quantity : {max, i64_max / 1'000'000 + 1, micros_per_credit + 1}) {
    charge_cmd q = charge_of(0);
    q.from_catalog = true;
    q.quantity = quantity;
    const std::string v = "priced quantity " + std::to_string(quantity);
    refused((v + " charge").c_str(), refusal(led.charge(q, t0)));
    refused((v + " batch").c_str(), refusal(led.charge_batch(std::vector<charge_cmd>{q}, t0)));
    refused((v + " quote").c_str(), refusal(led.quote(q, t0)));
    hold_cmd hq = hold_of(0);
    hq.from_catalog = true;
    hq.quantity = quantity;
    refused((v + " hold").c_str(), refusal(led.place_hold(hq, t0)));
  }
  // The cheapest price times the largest quantity, half up: 10^15 x 1 / 10^6.
  charge_cmd cheap = charge_of(0, "image.upscale");
  cheap.from_catalog = true;
  cheap.quantity = max;
  EXPECT_EQ(must(led.quote(cheap, t0)).cost.amount, 1'000'000'000);

  // At the largest, each is taken exactly.
  charge_cmd q = charge_of(0);
  q.from_catalog = true;
  q.quantity = micros_per_credit;  // 1 x the largest unit price = the largest cost
  const charge_record& priced = *must(led.charge(q, t0));
  EXPECT_EQ(priced.amount, max);
  const std::uint64_t seq = led.next_seq();
  EXPECT_EQ(must(led.adjust({"acct", max, "largest credit"}, t0)), seq);
  EXPECT_EQ(bal().lots_remaining, 2 * max - cr(3));
  must(led.adjust({"acct", -max, "largest debit"}, t0));
  EXPECT_EQ(bal().lots_remaining, max - cr(3));
  const charge_record& whole = charge(max - cr(3));
  EXPECT_EQ(whole.amount, max - cr(3));
  EXPECT_EQ(available(), 0);
  EXPECT_EQ(refusal(led.charge(charge_of(1), t0)).code, errc::insufficient_credits);
  must(led.release(h.id, t0));
  EXPECT_EQ(available(), cr(1));
  EXPECT_EQ(must(led.refund({priced.id, max, ""}, t0)).amount, max);
  EXPECT_EQ(available(), max + cr(1));
  EXPECT_EQ(led.check_all(), "");
}

// The largest sums an account can reach stay exact: 1000 active lots of the
// largest amount (10^18 micros) plus the largest postpaid limit, then 2000
// (refunds into new lots may double the active lots: 2 x 10^18). A grant,
// an adjustment or a purchase past 1000 active lots, and a refund past 2000,
// are refused as limit_exceeded with nothing changed.
TEST_F(ledger_charge, the_largest_account_totals_stay_exact) {
  constexpr micros max = amount_micros_max;
  constexpr std::int64_t lots_max = limits::active_lots_per_account_max;
  account_settings s;
  s.postpaid_limit = max;
  open("acct", s);
  must(led.put_package({"pack-max", max, 1, "usd", 0}, t0));
  for (std::int64_t i = 0; i < lots_max; ++i)
    grant(max);
  EXPECT_EQ(bal().lots_remaining, lots_max * max);
  EXPECT_EQ(available(), lots_max * max + max);

  ledger_state before = state_of(led, t0);
  EXPECT_EQ(refusal(led.grant(grant_of(max), t0)).code, errc::limit_exceeded);
  EXPECT_EQ(refusal(led.grant(grant_of(1), t0)).code, errc::limit_exceeded);
  EXPECT_EQ(refusal(led.adjust({"acct", max, "one more"}, t0)).code, errc::limit_exceeded);
  EXPECT_EQ(refusal(led.purchase({"acct", "pack-max"}, t0)).code, errc::limit_exceeded);
  EXPECT_EQ(state_of(led, t0), before);
  EXPECT_EQ(led.check_all(), "");

  // Spend it all: 999 lots by charges of the largest amount (batches of 100
  // included), the last lot in two charges, the second reaching into the
  // postpaid credit, then the rest of the postpaid credit.
  std::vector<object_id> one_lot;
  for (int b = 0; b < 9; ++b) {
    const std::vector<charge_cmd> batch(100, charge_of(max));
    for (const charge_record* c : must(led.charge_batch(batch, t0)))
      one_lot.push_back(c->id);
  }
  for (int i = 0; i < 99; ++i)
    one_lot.push_back(charge(max).id);
  one_lot.push_back(charge(max / 2).id);
  const charge_record& split = charge(max);
  ASSERT_EQ(split.parts.size(), 2u);
  EXPECT_EQ(split.parts[1].lot, postpaid_lot_id);
  const charge_record& postpaid_only = charge(max / 2);
  EXPECT_EQ(bal().lots_remaining, 0);
  EXPECT_EQ(bal().postpaid_used, max);
  EXPECT_EQ(available(), 0);
  EXPECT_EQ(refusal(led.charge(charge_of(1), t0)).code, errc::insufficient_credits);
  ASSERT_EQ(one_lot.size(), static_cast<std::size_t>(lots_max));

  // Their lots gone (voided, nothing left in them), 1000 new ones, then a
  // refund of each one-lot charge opens a lot more: 2000 active lots.
  std::vector<object_id> spent_lots;
  for (const lot* l : acct().lots)
    spent_lots.push_back(l->id);
  for (object_id id : spent_lots)
    EXPECT_EQ(must(led.void_lot(id, "gone", t0))->voided, 0);
  for (std::int64_t i = 0; i < lots_max; ++i)
    grant(max);
  for (object_id id : one_lot)
    must(led.refund({id, std::nullopt, "back"}, t0));
  EXPECT_EQ(acct().active_lots.size(), static_cast<std::size_t>(2 * lots_max));
  EXPECT_EQ(bal().lots_remaining, 2 * lots_max * max - max / 2);
  EXPECT_EQ(available(), 2 * lots_max * max - max / 2);

  before = state_of(led, t0);
  EXPECT_EQ(refusal(led.refund({split.id, std::nullopt, "back"}, t0)).code, errc::limit_exceeded);
  EXPECT_EQ(refusal(led.refund({postpaid_only.id, std::nullopt, "back"}, t0)).code,
            errc::limit_exceeded);
  EXPECT_EQ(refusal(led.grant(grant_of(max), t0)).code, errc::limit_exceeded);
  EXPECT_EQ(state_of(led, t0), before);

  // Everything still adds up: per lot (check_all) and over the account.
  EXPECT_EQ(led.check_all(), "");
  micros granted = 0, parts = 0;
  for (const lot* l : acct().lots) {
    granted += l->amount;
    parts += l->spent + l->held + l->expired + l->voided + l->remaining;
  }
  EXPECT_EQ(granted, 3 * lots_max * max - max / 2);
  EXPECT_EQ(parts, granted);
  // And the whole balance moves in one charge of the largest amount at a time.
  const hold& all = place(max);
  EXPECT_EQ(bal().held, max);
  EXPECT_EQ(available(), 2 * lots_max * max - max / 2 - max);
  must(led.capture(all.id, std::nullopt, t0));
}

// ---------------------------------------------------------------- batches

TEST_F(ledger_batch, all_succeed) {
  open();
  const object_id a = grant(cr(3), lot_kind::promo).id;
  const object_id b = grant(cr(10)).id;
  const object_id first = led.next_object_id();
  std::vector<charge_cmd> cmds = {charge_of(cr(2)), charge_of(cr(2), "image.upscale"),
                                  charge_of(cr(4), "llm.tokens")};
  const std::size_t mark = led.pending_entry_count();
  auto out = must(led.charge_batch(cmds, t0));
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0]->id, first);
  EXPECT_EQ(out[1]->id, first + 1);
  EXPECT_EQ(out[2]->id, first + 2);
  EXPECT_EQ(out[0]->parts, (std::vector<charge_part>{{a, cr(2), 0}}));
  EXPECT_EQ(out[1]->parts, (std::vector<charge_part>{{a, cr(1), 0}, {b, cr(1), 0}}));
  EXPECT_EQ(out[2]->parts, (std::vector<charge_part>{{b, cr(4), 0}}));
  auto es = entries_since(mark);
  ASSERT_EQ(es.size(), 3u);
  EXPECT_EQ(es[0].balance_after, cr(11));
  EXPECT_EQ(es[1].balance_after, cr(9));
  EXPECT_EQ(es[2].balance_after, cr(5));
  EXPECT_EQ(es[2].operation, "llm.tokens");
  EXPECT_EQ(available(), cr(5));
}

TEST_F(ledger_batch, failing_third_charge_rolls_back_everything) {
  account_settings s;
  s.postpaid_limit = cr(2);
  s.rate_limit_per_minute = 10;
  open("acct", s);
  const object_id a = grant(cr(3), lot_kind::promo).id;
  const object_id b = grant(cr(4)).id;
  led.take_changes();
  charge(cr(1));  // a dirty lot and a charge before the batch, in the same change set

  const balance_view before = bal();
  const std::size_t entries = led.pending_entry_count();
  const object_id next_id = led.next_object_id();
  const std::uint64_t next_seq = led.next_seq();
  const lot a_before = lot_at(a);
  const lot b_before = lot_at(b);
  const std::vector<object_id> active_before = active_ids();

  // 2 and 5 fit (taking lot a, lot b and 1 of postpaid); 3 more do not.
  std::vector<charge_cmd> cmds = {charge_of(cr(2)), charge_of(cr(5)), charge_of(cr(3))};
  auto r = led.charge_batch(cmds, t0);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, errc::insufficient_credits);
  EXPECT_EQ(r.error().reason, refusal_reason::postpaid_limit);
  EXPECT_EQ(r.error().available, cr(1));
  EXPECT_EQ(r.error().required, cr(3));

  EXPECT_EQ(led.pending_entry_count(), entries);
  EXPECT_EQ(led.next_object_id(), next_id);
  EXPECT_EQ(led.next_seq(), next_seq);
  EXPECT_EQ(led.find_charge(next_id), nullptr);
  EXPECT_EQ(led.find_charge(next_id + 1), nullptr);
  EXPECT_EQ(bal().available, before.available);
  EXPECT_EQ(bal().postpaid_used, before.postpaid_used);
  EXPECT_EQ(acct().postpaid_used, 0);
  EXPECT_EQ(lot_at(a).remaining, a_before.remaining);
  EXPECT_EQ(lot_at(a).spent, a_before.spent);
  EXPECT_EQ(lot_at(a).status, a_before.status);
  EXPECT_EQ(lot_at(b).remaining, b_before.remaining);
  EXPECT_EQ(lot_at(b).status, b_before.status);
  EXPECT_EQ(active_ids(), active_before);

  // The change set holds only what happened before the batch.
  change_set cs = led.take_changes();
  EXPECT_EQ(cs.entries.size(), 1u);
  EXPECT_EQ(cs.charges.size(), 1u);
  ASSERT_EQ(cs.lots.size(), 1u);
  EXPECT_EQ(cs.lots[0].id, a);
  EXPECT_EQ(cs.lots[0].remaining, cr(2));
  EXPECT_TRUE(cs.accounts.empty());
  EXPECT_EQ(cs.next_object_id, next_id);

  // The rate bucket was restored too: 9 tokens are left of 10.
  std::vector<charge_cmd> nine(9, charge_of(0));
  must(led.charge_batch(nine, t0));
  EXPECT_EQ(refusal(led.charge(charge_of(0), t0)).code, errc::rate_limited);

  // Ids are reused after the rollback.
  EXPECT_EQ(led.find_charge(next_id)->amount, 0);
}

TEST_F(ledger_batch, invalid_member_rolls_back) {
  open();
  grant(cr(10));
  const std::size_t entries = led.pending_entry_count();
  const object_id next_id = led.next_object_id();
  std::vector<charge_cmd> cmds = {charge_of(cr(1)), charge_of(cr(1), "bad op")};
  auto r = led.charge_batch(cmds, t0);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, errc::invalid_argument);
  EXPECT_EQ(led.pending_entry_count(), entries);
  EXPECT_EQ(led.next_object_id(), next_id);
  EXPECT_EQ(available(), cr(10));
  const charge_record& c = charge(cr(1));
  EXPECT_EQ(c.id, next_id);
}

TEST_F(ledger_batch, shape_refusals) {
  open();
  open("other");
  grant(cr(1000));
  std::vector<charge_cmd> none;
  auto r = led.charge_batch(none, t0);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, errc::invalid_argument);
  EXPECT_STREQ(r.error().message, "charges must not be empty");

  std::vector<charge_cmd> too_many(limits::batch_charges_max + 1, charge_of(cr(1)));
  r = led.charge_batch(too_many, t0);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, errc::limit_exceeded);
  EXPECT_STREQ(r.error().message, "a batch holds at most 100 charges");

  std::vector<charge_cmd> mixed = {charge_of(cr(1)), charge_of(cr(1), "x", "other")};
  r = led.charge_batch(mixed, t0);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, errc::invalid_argument);
  EXPECT_STREQ(r.error().message, "every charge of a batch must name the same account");

  std::vector<charge_cmd> nobody = {charge_of(cr(1), "x", "nobody")};
  r = led.charge_batch(nobody, t0);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, errc::account_not_found);
  EXPECT_EQ(available(), cr(1000));

  std::vector<charge_cmd> hundred(limits::batch_charges_max, charge_of(cr(1)));
  EXPECT_EQ(must(led.charge_batch(hundred, t0)).size(), 100u);
  EXPECT_EQ(available(), cr(900));
}

// ---------------------------------------------------------------- expiry

TEST_F(ledger_expiry, boundary_and_settle_on_touch) {
  open();
  const time_us e = t0 + hours(1);
  const object_id l = grant(cr(10), lot_kind::promo, e).id;
  EXPECT_TRUE(lot_at(l).spendable_at(e - 1));
  EXPECT_FALSE(lot_at(l).spendable_at(e));
  EXPECT_EQ(available(e - 1), cr(10));
  EXPECT_EQ(available(e), 0);
  EXPECT_EQ(led.next_due(), e);

  charge(cr(1), e - 1);  // the last spendable microsecond
  const std::size_t mark = led.pending_entry_count();
  auto r = led.charge(charge_of(1), e);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().reason, refusal_reason::balance);
  EXPECT_EQ(r.error().available, 0);
  // The refused charge still settled the expiry first.
  auto es = entries_since(mark);
  ASSERT_EQ(es.size(), 1u);
  EXPECT_EQ(es[0].type, entry_type::expire);
  EXPECT_EQ(es[0].amount, cr(9));
  EXPECT_EQ(es[0].lot_id, l);
  EXPECT_EQ(es[0].parts, (std::vector<lot_part>{{l, cr(9)}}));
  EXPECT_EQ(es[0].created_at, e);
  EXPECT_EQ(es[0].balance_after, 0);
  EXPECT_EQ(lot_at(l).status, lot_status::expired);
  EXPECT_EQ(lot_at(l).expired, cr(9));
  EXPECT_EQ(lot_at(l).spent, cr(1));
  EXPECT_EQ(lot_at(l).remaining, 0);
  // run_due finds nothing left to do.
  EXPECT_EQ(led.run_due(e + hours(1)), 0u);
}

TEST_F(ledger_expiry, balance_excludes_before_run_due_writes_the_entry) {
  open();
  const time_us e = t0 + days(1);
  const object_id l = grant(cr(4), lot_kind::promo, e).id;
  const object_id keep = grant(cr(6)).id;
  const std::size_t mark = led.pending_entry_count();
  EXPECT_EQ(available(e + secs(5)), cr(6));
  EXPECT_EQ(bal(e + secs(5)).lots_remaining, cr(6));
  EXPECT_EQ(led.pending_entry_count(), mark);
  EXPECT_EQ(lot_at(l).status, lot_status::active);  // not written yet

  EXPECT_EQ(led.run_due(e - 1), 0u);
  EXPECT_EQ(led.run_due(e + secs(5)), 1u);
  auto es = entries_since(mark);
  ASSERT_EQ(es.size(), 1u);
  EXPECT_EQ(es[0].type, entry_type::expire);
  EXPECT_EQ(es[0].amount, cr(4));
  EXPECT_EQ(es[0].created_at, e);  // at the expiry, not when run_due ran
  EXPECT_EQ(es[0].balance_after, cr(6));
  EXPECT_EQ(lot_at(l).status, lot_status::expired);
  EXPECT_EQ(active_ids(), (std::vector<object_id>{keep}));
  EXPECT_EQ(led.next_due(), no_expiry);
  // A charge after the expiry writes no second expiry entry.
  charge(cr(1), e + secs(6));
  EXPECT_EQ(entries_since(mark).size(), 2u);
}

TEST_F(ledger_expiry, settle_on_touch_writes_expiry_before_the_charge) {
  open();
  const time_us e = t0 + days(1);
  const object_id promo = grant(cr(4), lot_kind::promo, e).id;
  const object_id keep = grant(cr(6)).id;
  const std::size_t mark = led.pending_entry_count();
  const charge_record& c = charge(cr(5), e + secs(1));
  EXPECT_EQ(c.parts, (std::vector<charge_part>{{keep, cr(5), 0}}));
  auto es = entries_since(mark);
  ASSERT_EQ(es.size(), 2u);
  EXPECT_EQ(es[0].type, entry_type::expire);
  EXPECT_EQ(es[0].lot_id, promo);
  EXPECT_EQ(es[0].amount, cr(4));
  EXPECT_EQ(es[0].created_at, e);
  EXPECT_EQ(es[0].balance_after, cr(6));
  EXPECT_EQ(es[1].type, entry_type::charge);
  EXPECT_EQ(es[1].created_at, e + secs(1));
  EXPECT_EQ(es[1].balance_after, cr(1));
  EXPECT_LT(es[0].seq, es[1].seq);
  // The stale due item is skipped by run_due.
  EXPECT_EQ(led.run_due(e + days(1)), 0u);
}

TEST_F(ledger_expiry, run_due_in_time_order_with_a_budget) {
  open();
  open("b");
  const object_id x = grant(cr(1), lot_kind::promo, t0 + hours(3)).id;
  const object_id y = grant(cr(2), lot_kind::promo, t0 + hours(1)).id;
  const object_id z = must(led.grant(grant_of(cr(3), lot_kind::promo, t0 + hours(2), "b"), t0))->id;
  const std::size_t mark = led.pending_entry_count();
  EXPECT_EQ(led.next_due(), t0 + hours(1));
  EXPECT_EQ(led.run_due(t0 + hours(5), 2), 2u);
  EXPECT_EQ(led.run_due(t0 + hours(5), 2), 1u);
  EXPECT_EQ(led.run_due(t0 + hours(5)), 0u);
  auto es = entries_since(mark);
  ASSERT_EQ(es.size(), 3u);
  EXPECT_EQ(es[0].lot_id, y);
  EXPECT_EQ(es[0].created_at, t0 + hours(1));
  EXPECT_EQ(es[1].lot_id, z);
  EXPECT_EQ(es[1].owner, &acct("b"));
  EXPECT_EQ(es[1].amount, cr(3));
  EXPECT_EQ(es[2].lot_id, x);
  EXPECT_EQ(es[2].created_at, t0 + hours(3));
  EXPECT_EQ(led.next_due(), no_expiry);
}

TEST_F(ledger_expiry, depleted_lot_writes_no_expiry) {
  open();
  const time_us e = t0 + hours(1);
  const object_id l = grant(cr(2), lot_kind::promo, e).id;
  charge(cr(2));
  const std::size_t mark = led.pending_entry_count();
  EXPECT_EQ(led.run_due(e), 0u);
  EXPECT_EQ(led.pending_entry_count(), mark);
  EXPECT_EQ(lot_at(l).status, lot_status::depleted);
  EXPECT_EQ(lot_at(l).spent, cr(2));
}

// ---------------------------------------------------------------- void

TEST_F(ledger_void, voids_the_remaining_credits) {
  open();
  const object_id l = grant(cr(10)).id;
  const object_id other = grant(cr(1)).id;
  charge(cr(3));
  const std::size_t mark = led.pending_entry_count();
  const lot& v = *must(led.void_lot(l, "chargeback", t0 + secs(1)));
  EXPECT_EQ(v.status, lot_status::voided);
  EXPECT_EQ(v.voided, cr(7));
  EXPECT_EQ(v.remaining, 0);
  EXPECT_EQ(v.spent, cr(3));
  auto es = entries_since(mark);
  ASSERT_EQ(es.size(), 1u);
  EXPECT_EQ(es[0].type, entry_type::void_lot);
  EXPECT_EQ(to_string(es[0].type), "void");
  EXPECT_EQ(es[0].amount, cr(7));
  EXPECT_EQ(es[0].lot_id, l);
  EXPECT_EQ(es[0].parts, (std::vector<lot_part>{{l, cr(7)}}));
  EXPECT_EQ(es[0].reason, "chargeback");
  EXPECT_EQ(es[0].balance_after, cr(1));
  EXPECT_EQ(es[0].created_at, t0 + secs(1));
  EXPECT_EQ(active_ids(), (std::vector<object_id>{other}));
  EXPECT_EQ(available(), cr(1));

  auto again = led.void_lot(l, "again", t0 + secs(2));
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, errc::lot_not_active);
  auto unknown = led.void_lot(999'999, "", t0);
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().code, errc::lot_not_found);
  auto long_reason = led.void_lot(other, std::string(1025, 'r'), t0);
  ASSERT_FALSE(long_reason.has_value());
  EXPECT_EQ(long_reason.error().code, errc::invalid_argument);
  EXPECT_EQ(entries_since(mark).size(), 1u);
}

TEST_F(ledger_void, expired_and_depleted_lots) {
  open();
  const time_us e = t0 + hours(1);
  const object_id expiring = grant(cr(5), lot_kind::promo, e).id;
  // At the expiry the void settles first, then finds the lot expired.
  auto r = led.void_lot(expiring, "", e);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, errc::lot_not_active);
  EXPECT_EQ(lot_at(expiring).status, lot_status::expired);
  EXPECT_EQ(lot_at(expiring).expired, cr(5));

  const object_id used = grant(cr(2), lot_kind::prepaid, std::nullopt, e).id;
  charge(cr(2), e);
  const lot& v = *must(led.void_lot(used, "closing", e));
  EXPECT_EQ(v.status, lot_status::voided);
  EXPECT_EQ(v.voided, 0);
  EXPECT_EQ(v.spent, cr(2));
}

// ---------------------------------------------------------------- adjust

TEST_F(ledger_adjust, positive_creates_a_lot) {
  open();
  const std::size_t mark = led.pending_entry_count();
  const std::uint64_t seq = led.next_seq();
  const object_id id = led.next_object_id();
  EXPECT_EQ(must(led.adjust(adjust_cmd{"acct", cr(5), "goodwill"}, t0)), seq);
  const lot& l = lot_at(id);
  EXPECT_EQ(l.kind, lot_kind::prepaid);
  EXPECT_EQ(l.priority, 30);
  EXPECT_EQ(l.amount, cr(5));
  EXPECT_EQ(l.remaining, cr(5));
  EXPECT_EQ(l.source, "adjustment");
  EXPECT_EQ(l.reason, "goodwill");
  EXPECT_EQ(l.expires_at, no_expiry);
  EXPECT_EQ(l.cost_basis, 0);
  auto es = entries_since(mark);
  ASSERT_EQ(es.size(), 1u);
  EXPECT_EQ(es[0].seq, seq);
  EXPECT_EQ(es[0].type, entry_type::adjust);
  EXPECT_EQ(es[0].amount, cr(5));
  EXPECT_EQ(es[0].lot_id, id);
  EXPECT_EQ(es[0].parts, (std::vector<lot_part>{{id, cr(5)}}));
  EXPECT_EQ(es[0].reason, "goodwill");
  EXPECT_EQ(es[0].balance_after, cr(5));
  EXPECT_EQ(available(), cr(5));
}

TEST_F(ledger_adjust, negative_debits_in_consumption_order) {
  open();
  const object_id prepaid = grant(cr(5)).id;
  const object_id promo = grant(cr(3), lot_kind::promo, t0 + days(3)).id;
  const object_id plan = grant(cr(2), lot_kind::plan).id;
  place(cr(1));  // takes 1 from the promo lot: held credits are not debited
  const std::size_t mark = led.pending_entry_count();
  const std::uint64_t seq = led.next_seq();
  EXPECT_EQ(must(led.adjust(adjust_cmd{"acct", -cr(5), "fraud"}, t0)), seq);
  auto es = entries_since(mark);
  ASSERT_EQ(es.size(), 1u);
  EXPECT_EQ(es[0].type, entry_type::adjust);
  EXPECT_EQ(es[0].amount, -cr(5));
  EXPECT_EQ(es[0].parts, (std::vector<lot_part>{{promo, cr(2)}, {plan, cr(2)}, {prepaid, cr(1)}}));
  EXPECT_EQ(es[0].reason, "fraud");
  EXPECT_EQ(es[0].balance_after, cr(4));
  EXPECT_EQ(lot_at(promo).voided, cr(2));
  EXPECT_EQ(lot_at(promo).held, cr(1));
  EXPECT_EQ(lot_at(promo).status, lot_status::depleted);
  EXPECT_EQ(lot_at(plan).voided, cr(2));
  EXPECT_EQ(lot_at(plan).status, lot_status::depleted);
  EXPECT_EQ(lot_at(prepaid).voided, cr(1));
  EXPECT_EQ(lot_at(prepaid).remaining, cr(4));
  EXPECT_EQ(active_ids(), (std::vector<object_id>{prepaid}));
  EXPECT_EQ(available(), cr(4));
  EXPECT_EQ(bal().held, cr(1));
}

TEST_F(ledger_adjust, negative_ignores_the_reserve_but_not_expiry) {
  open("acct", reserve_of(cr(5)));
  grant(cr(5));
  grant(cr(3), lot_kind::promo, t0 + hours(1));
  // Expired credits cannot be debited.
  auto r = led.adjust(adjust_cmd{"acct", -cr(6), "x"}, t0 + hours(1));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, errc::insufficient_credits);
  EXPECT_EQ(r.error().reason, refusal_reason::balance);
  EXPECT_EQ(r.error().available, cr(5));
  EXPECT_EQ(r.error().required, cr(6));
  EXPECT_STREQ(r.error().message, "a debit cannot take more than the remaining credits");
  // The whole remainder, reserve included, can be debited.
  must(led.adjust(adjust_cmd{"acct", -cr(5), "x"}, t0 + hours(1)));
  EXPECT_EQ(bal(t0 + hours(1)).lots_remaining, 0);
}

TEST_F(ledger_adjust, refusals) {
  open();
  grant(cr(2));
  const std::size_t entries = led.pending_entry_count();
  struct refusal {
    adjust_cmd cmd;
    errc code;
    const char* message;
  };
  const std::vector<refusal> cases = {
      {{"acct", 0, "x"}, errc::invalid_argument, "amount must be a non-zero amount"},
      {{"acct", amount_micros_max + 1, "x"},
       errc::invalid_argument,
       "amount must be a non-zero amount"},
      {{"acct", -amount_micros_max - 1, "x"},
       errc::invalid_argument,
       "amount must be a non-zero amount"},
      {{"acct", cr(1), ""}, errc::invalid_argument, "reason is required"},
      {{"acct", -cr(1), ""}, errc::invalid_argument, "reason is required"},
      {{"acct", cr(1), std::string(1025, 'r')},
       errc::invalid_argument,
       "reason is longer than 1024 bytes"},
      {{"acct", -cr(2) - 1, "x"},
       errc::insufficient_credits,
       "a debit cannot take more than the remaining credits"},
      {{"nobody", cr(1), "x"}, errc::account_not_found, ""},
  };
  for (const refusal& c : cases) {
    auto r = led.adjust(c.cmd, t0);
    ASSERT_FALSE(r.has_value()) << c.message;
    EXPECT_EQ(r.error().code, c.code) << c.message;
    EXPECT_STREQ(r.error().message, c.message);
  }
  EXPECT_EQ(led.pending_entry_count(), entries);
  EXPECT_EQ(available(), cr(2));
  must(led.adjust(adjust_cmd{"acct", -cr(2), "x"}, t0));
  EXPECT_EQ(available(), 0);
}

// ---------------------------------------------------------------- idempotency

TEST_F(ledger_idempotency, table) {
  EXPECT_EQ(must(led.idempotency_lookup("k1", "fp-a")), nullptr);
  led.idempotency_remember(idempotency_record{"k1", "fp-a", 201, R"({"id":"ch_1"})", t0});
  led.idempotency_remember(idempotency_record{"k2", "fp-b", 402, "{}", t0 + hours(1)});

  const idempotency_record* rec = must(led.idempotency_lookup("k1", "fp-a"));
  ASSERT_NE(rec, nullptr);
  EXPECT_EQ(rec->key, "k1");
  EXPECT_EQ(rec->status, 201);
  EXPECT_EQ(rec->body, R"({"id":"ch_1"})");
  EXPECT_EQ(rec->created_at, t0);

  auto conflict = led.idempotency_lookup("k1", "fp-b");
  ASSERT_FALSE(conflict.has_value());
  EXPECT_EQ(conflict.error().code, errc::idempotency_conflict);
  EXPECT_STREQ(conflict.error().message,
               "this Idempotency-Key was already used for a different request");
  EXPECT_EQ(must(led.idempotency_lookup("K1", "fp-a")), nullptr);  // keys are case-sensitive

  change_set cs = led.take_changes();
  ASSERT_EQ(cs.idempotency_added.size(), 2u);
  EXPECT_EQ(cs.idempotency_added[0].key, "k1");
  EXPECT_EQ(cs.idempotency_added[1].key, "k2");
  EXPECT_EQ(cs.idempotency_added[1].status, 402);

  // A record created exactly at the cutoff is kept; older ones go.
  led.idempotency_forget_before(t0);
  EXPECT_NE(must(led.idempotency_lookup("k1", "fp-a")), nullptr);
  led.idempotency_forget_before(t0 + hours(1));
  EXPECT_EQ(must(led.idempotency_lookup("k1", "fp-b")), nullptr);  // forgotten: new again
  EXPECT_NE(must(led.idempotency_lookup("k2", "fp-b")), nullptr);
  cs = led.take_changes();
  EXPECT_EQ(cs.idempotency_expired_before, t0 + hours(1));  // the store deletes by age
  EXPECT_TRUE(cs.idempotency_added.empty());

  // A forgotten key can be used again.
  led.idempotency_remember(idempotency_record{"k1", "fp-c", 200, "{}", t0 + hours(2)});
  EXPECT_EQ(must(led.idempotency_lookup("k1", "fp-c"))->fingerprint, "fp-c");
  led.idempotency_forget_before(t0 + hours(3));
  EXPECT_EQ(must(led.idempotency_lookup("k1", "fp-c")), nullptr);
  EXPECT_EQ(must(led.idempotency_lookup("k2", "fp-b")), nullptr);
  cs = led.take_changes();
  EXPECT_EQ(cs.idempotency_expired_before, t0 + hours(3));
  EXPECT_EQ(cs.idempotency_added.size(), 1u);
  // Nothing left to expire: the periodic prune makes no change set (an idle
  // server does not commit once a minute).
  led.idempotency_forget_before(t0 + hours(4));
  EXPECT_FALSE(led.has_changes());
}

// ---------------------------------------------------------------- change sets

TEST_F(ledger_changes, holds_each_dirty_object_once) {
  open();
  open("b");
  const object_id a1 = grant(cr(3), lot_kind::promo).id;
  const object_id a2 = grant(cr(10)).id;
  const charge_record& c1 = charge(cr(4));       // both lots
  const charge_record& c2 = charge(cr(1));       // a2 again
  const hold& h = place(cr(2));                  // a2 again
  must(led.capture(h.id, cr(1), t0 + secs(1)));  // hold again, a new charge
  must(led.refund(refund_cmd{c1.id, cr(1), ""}, t0 + secs(2)));

  change_set cs = led.take_changes();
  // grant, grant, charge, charge, hold, capture, release (the uncaptured 1), refund
  ASSERT_EQ(cs.entries.size(), 8u);
  for (std::size_t i = 1; i < cs.entries.size(); ++i) {
    EXPECT_EQ(cs.entries[i].seq, cs.entries[i - 1].seq + 1);
  }
  EXPECT_EQ(cs.entries[0].type, entry_type::grant);
  EXPECT_EQ(cs.entries[6].type, entry_type::release);
  EXPECT_EQ(cs.entries[7].type, entry_type::refund);
  ASSERT_EQ(cs.accounts.size(), 2u);
  EXPECT_EQ(cs.accounts[0].id, "acct");
  EXPECT_EQ(cs.accounts[1].id, "b");
  EXPECT_EQ(cs.accounts[0].created_at, t0);
  ASSERT_EQ(cs.lots.size(), 2u);
  EXPECT_EQ(cs.lots[0].id, a1);
  EXPECT_EQ(cs.lots[1].id, a2);
  // Copies carry the state at take_changes time.
  EXPECT_EQ(cs.lots[0].remaining, lot_at(a1).remaining);
  EXPECT_EQ(cs.lots[1].remaining, cr(8));  // 10 - 1 - 1 - 2 + 1 returned + 1 refunded
  EXPECT_EQ(cs.lots[1].remaining, lot_at(a2).remaining);
  ASSERT_EQ(cs.holds.size(), 1u);
  EXPECT_EQ(cs.holds[0].id, h.id);
  EXPECT_EQ(cs.holds[0].status, hold_status::captured);
  ASSERT_EQ(cs.charges.size(), 3u);
  EXPECT_EQ(cs.charges[0].id, c1.id);
  EXPECT_EQ(cs.charges[0].refunded, cr(1));
  EXPECT_EQ(cs.charges[1].id, c2.id);
  EXPECT_EQ(cs.charges[2].hold_id, h.id);
  EXPECT_EQ(cs.next_object_id, led.next_object_id());
  EXPECT_EQ(cs.next_seq, led.next_seq());
  EXPECT_FALSE(cs.empty());

  change_set again = led.take_changes();
  EXPECT_TRUE(again.empty());
  EXPECT_EQ(again.next_object_id, led.next_object_id());

  // The next change set holds only the next changes.
  charge(cr(1), t0 + secs(3));
  cs = led.take_changes();
  EXPECT_EQ(cs.entries.size(), 1u);
  EXPECT_EQ(cs.lots.size(), 1u);
  EXPECT_EQ(cs.charges.size(), 1u);
  EXPECT_TRUE(cs.accounts.empty());
  EXPECT_TRUE(cs.holds.empty());
}

TEST_F(ledger_changes, postpaid_marks_the_account) {
  open("acct", postpaid_of(cr(5)));
  led.take_changes();
  charge(cr(2));
  change_set cs = led.take_changes();
  ASSERT_EQ(cs.accounts.size(), 1u);
  EXPECT_EQ(cs.accounts[0].postpaid_used, cr(2));
  EXPECT_EQ(cs.accounts[0].postpaid_period, month_index(t0));
  EXPECT_TRUE(cs.lots.empty());
}

}  // namespace
}  // namespace ledger_ops_test_cpp
}  // namespace creditd::ledger::testing
