// The store keeps the ledger's commerce: the catalog, subscriptions and the
// periods they granted, purchases (external ids included), automatic
// top-up's state and the price of each priced entry and hold. What is
// committed comes back exactly on reopen, and the store's keys are real: a
// period granted twice or an external id bought twice fails the commit.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "ledger/limits.hpp"
#include "store/codec.hpp"
#include "store/schema.hpp"
#include "store/sqlite/sqlite_reader.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "support/ledger_dump.hpp"
#include "support/old_schema.hpp"
#include "support/stored_history.hpp"
#include "support/temp_dir.hpp"

namespace commerce_store_test_cpp {  // unity builds: tests/CMakeLists.txt

using namespace creditd;
using creditd::testing::dump_ledger;
using creditd::testing::temp_dir;
using ledger::micros;
using ledger::time_us;

namespace {

constexpr time_us t0 = 1'795'000'000LL * ledger::us_per_second;  // 2026-11-18
constexpr micros credit = ledger::micros_per_credit;
constexpr time_us day = ledger::us_per_day;

// The value of a result (a ledger command's, a store's), or a test failure
// naming the error (thrown, so that gtest reports it and ends the test):
// reading * or -> of a failed std::expected is undefined behaviour.
template <typename T, typename E>
T must(std::expected<T, E> r) {
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
  if (!r) throw std::runtime_error("a call failed");
  return std::move(*r);
}
template <typename E>
void must(std::expected<void, E> r) {
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
  if (!r) throw std::runtime_error("a call failed");
}

// The store, or a test failure (thrown): never a null pointer to call through.
std::unique_ptr<store::sqlite::sqlite_store> open_store(const std::string& path) {
  return must(store::sqlite::sqlite_store::open({path}));
}

void commit(store::store& s, ledger::ledger& l, std::vector<ledger::change_set>* sets = nullptr) {
  ledger::change_set cs = l.take_changes();
  auto r = s.commit(cs);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  if (sets) sets->push_back(std::move(cs));
}

std::string dims_text(const ledger::dimension_list& dims) {
  std::string out;
  store::encode_dimensions(out, dims);
  return out;
}

std::string instant(time_us t) {
  return t == ledger::no_expiry ? "never" : std::to_string(t);
}

// Every commerce field a store keeps, in a canonical order: the catalog,
// each account's top-up state and subscription, and the price of each hold.
// With `sqlite_path`, the closed holds the ledger does not hold are read from
// that file.
std::string dump_commerce(const ledger::ledger& l, const std::string& sqlite_path = "") {
  std::ostringstream o;
  l.for_each_price([&](const ledger::price& p) {
    o << "price " << p.id << " op=" << p.operation << " dims=" << dims_text(p.dimensions)
      << " unit=" << p.unit_amount << " created=" << p.created_at << " updated=" << p.updated_at
      << "\n";
  });
  l.for_each_package([&](const ledger::package& p) {
    o << "package " << p.id << " credits=" << p.credits << " price=" << p.price << p.currency
      << " days=" << p.validity_days << " created=" << p.created_at << " updated=" << p.updated_at
      << "\n";
  });
  l.for_each_plan([&](const ledger::plan& p) {
    o << "plan " << p.id << " credits=" << p.credits_per_period << " per "
      << ledger::to_string(p.period)
      << " cap=" << (p.rollover_cap ? std::to_string(*p.rollover_cap) : "none")
      << " created=" << p.created_at << " updated=" << p.updated_at << "\n";
  });
  std::map<std::string, std::string> accounts;
  l.for_each_account([&](const ledger::account& a) {
    std::ostringstream x;
    x << "account " << a.id << " topup armed=" << a.topup.armed
      << " period=" << a.topup.period_start << " count=" << a.topup.count
      << " next_due=" << instant(a.next_due) << "\n";
    if (const ledger::subscription* s = a.sub) {
      x << "  subscription plan=" << s->plan << " next=" << s->next_plan << " tz=" << s->timezone
        << " anchor=" << s->anchor.year << "-" << int{s->anchor.month} << "-" << int{s->anchor.day}
        << " start=" << s->start_at << " index=" << s->period_index << " from=" << s->period_start
        << " to=" << instant(s->period_end) << " lot=" << s->lot_id
        << " cancel=" << s->cancel_at_period_end << " " << ledger::to_string(s->status)
        << " created=" << s->created_at << " updated=" << s->updated_at << "\n";
    }
    accounts[a.id] = x.str();
  });
  for (const auto& [id, text] : accounts)
    o << text;
  std::map<ledger::object_id, std::string> holds;
  auto dump = [](const ledger::hold& h) {
    return "hold " + std::to_string(h.id) + " price=" + h.price_id +
           " unit=" + std::to_string(h.unit_amount) + "\n";
  };
  l.for_each_hold([&](const ledger::hold& h) { holds[h.id] = dump(h); });
  if (!sqlite_path.empty()) {
    for (ledger::object_id id : creditd::testing::stored_ids(sqlite_path, "holds")) {
      if (holds.contains(id)) continue;
      auto h = store::sqlite::sqlite_reader(sqlite_path).hold(id);
      EXPECT_TRUE(h && *h) << id;
      if (h && *h) holds[id] = dump((*h)->h);
    }
  }
  for (const auto& [id, text] : holds)
    o << text;
  o << "subscriptions=" << l.subscription_count() << "\n";
  return o.str();
}

// What the journal reader gives back of an entry, the price included.
std::string entry_line(const ledger::entry& e, std::string_view account) {
  return creditd::testing::dump_entry(e, account) + " price=" + e.price_id +
         " unit=" + std::to_string(e.unit_amount);
}

std::vector<std::string> read_entries(const std::string& path, const std::string& account) {
  store::sqlite::sqlite_reader reader(path);
  auto rows = reader.entries(account, 0, 100'000);
  EXPECT_TRUE(rows.has_value()) << (rows ? "" : rows.error().message);
  std::vector<std::string> out;
  if (!rows) return out;
  for (const store::stored_entry& se : *rows)
    out.push_back(entry_line(se.e, se.account));
  return out;
}

std::string purchase_line(const ledger::purchase& p) {
  return std::to_string(p.id) + " " + p.account + " " + p.package +
         " lot=" + std::to_string(p.lot_id) + " credits=" + std::to_string(p.credits) +
         " price=" + std::to_string(p.price) + p.currency + " " +
         std::string(ledger::to_string(p.source)) + " ext=" + p.external_id +
         " reason=" + p.reason + " at=" + std::to_string(p.created_at);
}

std::int64_t count_rows(const std::string& path, const std::string& sql) {
  auto db = store::sqlite::database::open(path, false);
  EXPECT_TRUE(db.has_value());
  if (!db) return -1;
  auto q = db->prepare(sql);
  EXPECT_TRUE(q.has_value()) << (q ? "" : q.error().message);
  if (!q || !q->step().value_or(false)) return -1;
  return q->column_int(0);
}

ledger::price_cmd price_of(std::string id, std::string op, ledger::dimension_list dims,
                           micros unit) {
  return {std::move(id), std::move(op), std::move(dims), unit};
}

ledger::purchase_cmd purchase_of(std::string account, std::string package,
                                 std::string external_id = "",
                                 ledger::purchase_source source = ledger::purchase_source::api) {
  ledger::purchase_cmd p;
  p.account = std::move(account);
  p.package = std::move(package);
  p.source = source;
  p.external_id = std::move(external_id);
  p.reason = "test";
  return p;
}

ledger::charge_cmd priced_charge(std::string account, std::string op, ledger::dimension_list dims,
                                 micros quantity) {
  ledger::charge_cmd c;
  c.account = std::move(account);
  c.operation = std::move(op);
  c.from_catalog = true;
  c.dimension_values = std::move(dims);
  c.quantity = quantity;
  return c;
}

// A catalog value with every byte class a codec can trip on: quotes,
// backslashes, control characters, UTF-8 and a byte that is not UTF-8.
const std::string odd_key = "k\"e\\y";
const std::string odd_value = "v\n\x01\t \xC3\xA9 \xFF end";

// The shared scenario: a catalog, purchases (one from Stripe), a
// subscription that started 70 days ago (three periods granted at once, a
// rollover, a plan change pending), priced charges and holds, and an
// automatic top-up that ran out of its period's allowance. Committed in
// several change sets, so that rows are updated as well as inserted.
struct scenario {
  ledger::ledger l;
  std::vector<ledger::change_set> sets;
  ledger::object_id open_hold = 0;
  ledger::object_id captured_hold = 0;
  time_us now = t0;

  void run(store::store& s) {
    must(l.put_price(price_of("gen", "image.generate", {}, 2 * credit), now));
    must(l.put_price(price_of("flux", "image.generate", {{"model", "flux"}}, 3 * credit), now));
    must(l.put_price(
        price_of("flux-hd", "image.generate", {{"quality", "hd"}, {"model", "flux"}}, 5 * credit),
        now));
    must(l.put_price(price_of("odd", "llm.tokens", {{odd_key, odd_value}}, 7), now));
    must(l.put_price(price_of("gone", "video.generate", {}, credit), now));
    must(l.put_package({"pack-10", 10 * credit, 9'990'000, "usd", 30}, now));
    must(l.put_package({"pack-big", 500 * credit, 399'000'000, "eur", 0}, now));
    must(l.put_plan({"pro", 100 * credit, ledger::period_unit::month, 50 * credit}, now));
    must(l.put_plan({"basic", 20 * credit, ledger::period_unit::year, std::nullopt}, now));
    ledger::account_cmd a{"acct-a", "A", ledger::account_settings{}};
    a.settings->auto_topup = ledger::auto_topup_settings{5 * credit, "pack-10", 1};
    must(l.put_account(a, now));
    must(l.put_account({"acct-b", "B", std::nullopt}, now));
    commit(s, l, &sets);

    // An update of a price (same id, new amount) and a deletion.
    now += ledger::us_per_second;
    must(l.put_price(price_of("gen", "image.generate", {}, 2'500'000), now));
    must(l.delete_price("gone"));
    // Purchases: from Stripe (an event id), from the API (none).
    must(l.purchase(purchase_of("acct-b", "pack-10", "evt_1", ledger::purchase_source::stripe),
                    now));
    must(l.purchase(purchase_of("acct-b", "pack-big"), now));
    must(l.purchase(purchase_of("acct-b", "pack-10"), now));
    commit(s, l, &sets);

    // A subscription 70 days old: periods 0, 1 and 2 at once, with rollover.
    now += ledger::us_per_second;
    ledger::subscription_cmd sub{"acct-a", "pro", now - 70 * day, "UTC"};
    must(l.put_subscription(sub, now));
    commit(s, l, &sets);
    // Then a plan change from the next period.
    now += ledger::us_per_second;
    must(l.put_subscription({"acct-a", "basic", std::nullopt, "UTC"}, now));

    // Priced charges and holds (dimensions in any order), one captured.
    now += ledger::us_per_second;
    ledger::charge_cmd c = priced_charge("acct-a", "image.generate",
                                         {{"quality", "hd"}, {"model", "flux"}}, 2'500'000);
    c.dimensions = R"({"model":"flux","quality":"hd"})";
    must(l.charge(c, now));
    must(l.charge(priced_charge("acct-b", "llm.tokens", {{odd_key, odd_value}}, 3 * credit), now));
    ledger::hold_cmd h;
    h.account = "acct-a";
    h.operation = "image.generate";
    h.from_catalog = true;
    h.dimension_values = {{"model", "flux"}};
    captured_hold = must(l.place_hold(h, now))->id;
    h.dimension_values = {};
    open_hold = must(l.place_hold(h, now))->id;
    commit(s, l, &sets);
    now += ledger::us_per_second;
    must(l.capture(captured_hold, std::nullopt, now));

    // Top-up: available falls below 5, one pack-10 is bought (the period's
    // only one), then it falls again and stays disarmed.
    const micros available = l.balance(*l.find_account("acct-a"), now).available;
    must(l.charge({.account = "acct-a", .amount = available - 2 * credit, .operation = "x"}, now));
    must(l.charge({.account = "acct-a", .amount = 9 * credit, .operation = "x"}, now));
    commit(s, l, &sets);
  }
};

}  // namespace

TEST(commerce_store, everything_committed_comes_back_on_reopen) {
  temp_dir dir;
  const std::string path = dir.file("commerce.db");
  scenario sc;
  std::string before, before_ledger;
  {
    auto s = open_store(path);
    ASSERT_TRUE(s->load(sc.l, t0).has_value());
    sc.run(*s);
    before = dump_commerce(sc.l);
    before_ledger = dump_ledger(sc.l);
  }
  // The scenario reached every state it means to test.
  const ledger::account& a = *sc.l.find_account("acct-a");
  ASSERT_NE(a.sub, nullptr);
  EXPECT_EQ(a.sub->period_index, 2);
  EXPECT_EQ(a.sub->next_plan, "basic");
  EXPECT_EQ(a.topup, (ledger::topup_state{false, a.sub->period_start, 1}));
  EXPECT_EQ(sc.l.find_hold(sc.open_hold)->price_id, "gen");
  std::size_t periods = 0, purchases = 0, rollovers = 0;
  for (const auto& cs : sc.sets) {
    periods += cs.periods.size();
    purchases += cs.purchases.size();
    for (const auto& p : cs.periods)
      rollovers += p.rolled_over > 0;
  }
  EXPECT_EQ(periods, 3u);
  EXPECT_EQ(rollovers, 2u);
  EXPECT_EQ(purchases, 4u);  // three bought, one top-up

  auto s = open_store(path);
  ledger::ledger l;
  auto loaded = s->load(l, sc.now);
  ASSERT_TRUE(loaded.has_value()) << loaded.error().message;
  EXPECT_EQ(dump_commerce(l, path), before);
  EXPECT_EQ(dump_ledger(l, path), before_ledger);
  EXPECT_EQ(must(s->audit_journal(l)), "");

  // The catalog, read through the ledger's own lookups.
  ASSERT_NE(l.find_price("flux-hd"), nullptr);
  EXPECT_EQ(l.find_price("flux-hd")->dimensions,
            (ledger::dimension_list{{"model", "flux"}, {"quality", "hd"}}));
  ASSERT_NE(l.find_price("odd"), nullptr);
  EXPECT_EQ(l.find_price("odd")->dimensions, (ledger::dimension_list{{odd_key, odd_value}}));
  EXPECT_EQ(l.find_price("gen")->unit_amount, 2'500'000);
  EXPECT_EQ(l.find_price("gone"), nullptr);
  ASSERT_NE(l.find_package("pack-big"), nullptr);
  EXPECT_EQ(l.find_package("pack-big")->currency, "eur");
  ASSERT_NE(l.find_plan("basic"), nullptr);
  EXPECT_FALSE(l.find_plan("basic")->rollover_cap.has_value());
  EXPECT_EQ(l.find_plan("pro")->rollover_cap, 50 * credit);
  // Pricing works on the reloaded catalog (its index is rebuilt).
  auto p = l.price_for("image.generate", {{"model", "flux"}, {"quality", "hd"}}, credit);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->price_id, "flux-hd");
  EXPECT_EQ(l.price_for("video.generate", {}, credit).error().code, ledger::errc::unknown_price);

  // A Stripe event is recognised after the restart: not from memory (no
  // external id is loaded; they grow with history), from the store, on any
  // account (the service asks it for an id the ledger does not hold).
  EXPECT_FALSE(l.external_id_seen("evt_1"));
  EXPECT_EQ(l.external_id_count(), 0u);
  store::sqlite::sqlite_reader reader(path);
  EXPECT_EQ(reader.external_id_recorded("evt_1"), true);
  EXPECT_EQ(reader.external_id_recorded("evt_2"), false);
  EXPECT_EQ(reader.external_id_recorded("evt_10"), false);

  // Every entry reads back whole, with the price it was charged at.
  std::map<std::string, std::vector<std::string>> journal;
  for (const auto& cs : sc.sets) {
    for (const ledger::entry& e : cs.entries)
      journal[e.owner->id].push_back(entry_line(e, e.owner->id));
  }
  ASSERT_EQ(journal.size(), 2u);
  for (const auto& [account, lines] : journal)
    EXPECT_EQ(read_entries(path, account), lines) << account;
  auto priced = [&](const std::string& account, std::string_view price) {
    const auto& lines = journal[account];
    return std::count_if(lines.begin(), lines.end(), [&](const std::string& x) {
      return x.find(" price=" + std::string(price) + " unit=") != std::string::npos;
    });
  };
  EXPECT_EQ(priced("acct-a", "flux-hd"), 1);
  EXPECT_EQ(priced("acct-a", "flux"), 2);  // the hold and its capture
  EXPECT_EQ(priced("acct-a", "gen"), 1);
  EXPECT_EQ(priced("acct-b", "odd"), 1);
  const auto& hd = journal["acct-a"];
  EXPECT_TRUE(std::any_of(hd.begin(), hd.end(), [](const std::string& x) {
    return x.find(" charge amount=12500000 ") != std::string::npos &&
           x.find(" price=flux-hd unit=5000000") != std::string::npos;
  }));

  // The periods and purchases are rows of their own.
  EXPECT_EQ(count_rows(path, "SELECT COUNT(*) FROM subscription_periods WHERE account = 'acct-a'"),
            3);
  EXPECT_EQ(count_rows(path, "SELECT MAX(period_index) FROM subscription_periods"), 2);
  EXPECT_EQ(count_rows(path, "SELECT COUNT(*) FROM purchases WHERE source = 'auto_topup'"), 1);

  // The reloaded ledger goes on: the next renewal (to the new plan) is a new
  // period row, and the store takes it.
  const time_us renewal = l.find_account("acct-a")->sub->period_end;
  EXPECT_GT(l.run_due(renewal), 0u);
  ledger::change_set cs = l.take_changes();
  ASSERT_EQ(cs.periods.size(), 1u);
  EXPECT_EQ(cs.periods[0].index, 3);
  EXPECT_EQ(cs.periods[0].plan, "basic");
  ASSERT_TRUE(s->commit(cs).has_value());
  EXPECT_EQ(count_rows(path, "SELECT COUNT(*) FROM subscription_periods"), 4);
  const std::string after = dump_commerce(l, path);
  s.reset();
  auto s2 = open_store(path);
  ledger::ledger l2;
  ASSERT_TRUE(s2->load(l2, renewal).has_value());
  EXPECT_EQ(dump_commerce(l2, path), after);
  EXPECT_EQ(l2.find_account("acct-a")->sub->plan, "basic");
  EXPECT_EQ(l2.find_account("acct-a")->sub->next_plan, "");
}

// GET /v1/accounts/{id}/purchases: newest first, paged by the last id read.
TEST(commerce_store, purchases_read_newest_first_in_pages) {
  temp_dir dir;
  const std::string path = dir.file("purchases.db");
  scenario sc;
  {
    auto s = open_store(path);
    ASSERT_TRUE(s->load(sc.l, t0).has_value());
    sc.run(*s);
  }
  std::vector<std::string> want_b, want_a;
  for (const auto& cs : sc.sets) {
    for (const ledger::purchase& p : cs.purchases)
      (p.account == "acct-b" ? want_b : want_a).push_back(purchase_line(p));
  }
  std::reverse(want_b.begin(), want_b.end());
  ASSERT_EQ(want_b.size(), 3u);
  ASSERT_EQ(want_a.size(), 1u);

  store::sqlite::sqlite_reader reader(path);
  std::vector<std::string> got;
  std::uint64_t after = 0;
  int pages = 0;
  while (true) {
    auto page = reader.purchases("acct-b", after, 2);
    ASSERT_TRUE(page.has_value()) << page.error().message;
    ++pages;
    for (const ledger::purchase& p : *page)
      got.push_back(purchase_line(p));
    if (page->size() < 2) break;
    after = page->back().id;
  }
  EXPECT_EQ(pages, 2);
  EXPECT_EQ(got, want_b);
  EXPECT_NE(got[2].find(" stripe ext=evt_1 "), std::string::npos);

  auto a = reader.purchases("acct-a", 0, 10);
  ASSERT_TRUE(a.has_value());
  ASSERT_EQ(a->size(), 1u);
  EXPECT_EQ(purchase_line((*a)[0]), want_a[0]);
  EXPECT_EQ((*a)[0].source, ledger::purchase_source::auto_topup);
  auto none = reader.purchases("acct-x", 0, 10);
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(none->empty());
  auto zero = reader.purchases("acct-b", 0, 0);
  ASSERT_TRUE(zero.has_value());
  EXPECT_TRUE(zero->empty());
}

// The (account, period_index) key is the store's: a change set granting a
// stored period again fails as a whole, and the store takes writes after.
TEST(commerce_store, a_period_granted_twice_fails_the_commit) {
  temp_dir dir;
  const std::string path = dir.file("periods.db");
  scenario sc;
  auto s = open_store(path);
  ASSERT_TRUE(s->load(sc.l, t0).has_value());
  sc.run(*s);
  const ledger::subscription_period stored = [&] {
    for (const auto& cs : sc.sets) {
      if (!cs.periods.empty()) return cs.periods.back();
    }
    return ledger::subscription_period{};
  }();
  ASSERT_EQ(stored.account, "acct-a");

  ledger::change_set forged;
  forged.next_object_id = sc.l.next_object_id();
  forged.next_seq = sc.l.next_seq();
  forged.prices.push_back({"forged", "image.generate", {{"size", "xl"}}, credit, t0, t0});
  ledger::subscription_period again = stored;
  again.lot_id = 999'999;  // another grant of the same period
  forged.periods.push_back(again);
  auto r = s->commit(forged);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("subscription period"), std::string::npos) << r.error().message;

  // Nothing of the set was written, and the store goes on.
  ASSERT_TRUE(s->probe().has_value());
  forged.periods.clear();
  forged.periods.push_back(stored);
  forged.periods.back().index = 77;  // a new period is fine
  ASSERT_TRUE(s->commit(forged).has_value());
  EXPECT_EQ(count_rows(path, "SELECT COUNT(*) FROM prices WHERE id = 'forged'"), 1);
  EXPECT_EQ(count_rows(path, "SELECT COUNT(*) FROM subscription_periods"), 4);
  // Another account may have the same index.
  ledger::change_set other;
  other.next_object_id = forged.next_object_id;
  other.next_seq = forged.next_seq;
  other.periods.push_back(stored);
  other.periods.back().account = "acct-b";
  ASSERT_TRUE(s->commit(other).has_value());
}

// A non-empty external_id is bought once for as long as the store lives;
// empty ones (API purchases, top-ups) are many. Same for a purchase's id.
TEST(commerce_store, an_external_id_bought_twice_fails_the_commit) {
  temp_dir dir;
  const std::string path = dir.file("external.db");
  scenario sc;
  auto s = open_store(path);
  ASSERT_TRUE(s->load(sc.l, t0).has_value());
  sc.run(*s);

  auto forge = [&](ledger::object_id id, std::string external_id) {
    ledger::change_set cs;
    cs.next_object_id = sc.l.next_object_id();
    cs.next_seq = sc.l.next_seq();
    ledger::purchase p;
    p.id = id;
    p.account = "acct-b";
    p.package = "pack-10";
    p.credits = 10 * credit;
    p.currency = "usd";
    p.source = ledger::purchase_source::stripe;
    p.external_id = std::move(external_id);
    p.created_at = sc.now;
    cs.purchases.push_back(p);
    return cs;
  };
  const ledger::object_id fresh = sc.l.next_object_id() + 1000;
  auto r = s->commit(forge(fresh, "evt_1"));
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("purchase"), std::string::npos) << r.error().message;
  EXPECT_FALSE(s->commit(forge(fresh + 1, "evt_1")).has_value());
  // A stored purchase id, even without an external id.
  ledger::object_id stored_id = 0;
  for (const auto& cs : sc.sets) {
    for (const auto& p : cs.purchases)
      if (p.external_id.empty()) stored_id = p.id;
  }
  ASSERT_NE(stored_id, 0u);
  EXPECT_FALSE(s->commit(forge(stored_id, "")).has_value());
  // Empty external ids never collide; a new event id is new.
  ASSERT_TRUE(s->commit(forge(fresh + 2, "")).has_value());
  ASSERT_TRUE(s->commit(forge(fresh + 3, "")).has_value());
  ASSERT_TRUE(s->commit(forge(fresh + 4, "evt_2")).has_value());
  EXPECT_FALSE(s->commit(forge(fresh + 5, "evt_2")).has_value());
  EXPECT_EQ(count_rows(path, "SELECT COUNT(*) FROM purchases WHERE external_id = 'evt_1'"), 1);
  EXPECT_EQ(count_rows(path, "SELECT COUNT(*) FROM purchases"), 7);

  // Two copies of a new event in one change set fail it too.
  ledger::change_set twice = forge(fresh + 6, "evt_3");
  twice.purchases.push_back(twice.purchases[0]);
  twice.purchases.back().id = fresh + 7;
  EXPECT_FALSE(s->commit(twice).has_value());
  EXPECT_EQ(count_rows(path, "SELECT COUNT(*) FROM purchases WHERE external_id = 'evt_3'"), 0);
}

// Deleted prices stay deleted: in a later set than their creation, in the
// same set, and a price put again after a committed deletion comes back.
TEST(commerce_store, price_deletion_persists) {
  temp_dir dir;
  const std::string path = dir.file("prices.db");
  time_us now = t0;
  {
    auto s = open_store(path);
    ledger::ledger l;
    ASSERT_TRUE(s->load(l, now).has_value());
    must(l.put_price(price_of("a", "op.a", {{"m", "1"}}, credit), now));
    must(l.put_price(price_of("b", "op.b", {}, credit), now));
    must(l.put_price(price_of("c", "op.c", {}, credit), now));
    commit(*s, l);
    must(l.delete_price("a"));
    // Put, updated and deleted within one set.
    must(l.put_price(price_of("d", "op.d", {}, credit), now));
    must(l.put_price(price_of("d", "op.d", {}, 2 * credit), now));
    must(l.delete_price("d"));
    commit(*s, l);
    must(l.delete_price("b"));
    commit(*s, l);
    must(l.put_price(price_of("b", "op.b2", {{"x", "y"}}, 3 * credit), now + 1));
    commit(*s, l);
  }
  auto s = open_store(path);
  ledger::ledger l;
  ASSERT_TRUE(s->load(l, now).has_value());
  EXPECT_EQ(l.find_price("a"), nullptr);
  EXPECT_EQ(l.find_price("d"), nullptr);
  ASSERT_NE(l.find_price("b"), nullptr);
  EXPECT_EQ(l.find_price("b")->operation, "op.b2");
  EXPECT_EQ(l.find_price("b")->unit_amount, 3 * credit);
  EXPECT_EQ(l.find_price("b")->created_at, now + 1);
  ASSERT_NE(l.find_price("c"), nullptr);
  EXPECT_EQ(count_rows(path, "SELECT COUNT(*) FROM prices"), 2);
  EXPECT_FALSE(l.price_for("op.a", {{"m", "1"}}, credit).has_value());
  EXPECT_FALSE(l.price_for("op.b", {}, credit).has_value());
  EXPECT_TRUE(l.price_for("op.b2", {{"x", "y"}}, credit).has_value());
}

// A price deleted and put again within one change set (two clients' requests
// in one group commit) must exist after a reload. The change set cannot say
// so: its deletes apply after every upsert. Disabled until the ledger drops
// the id from prices_deleted when it is put again (see the report).
TEST(commerce_store, a_price_deleted_and_put_again_in_one_set_exists) {
  temp_dir dir;
  const std::string path = dir.file("reput.db");
  {
    auto s = open_store(path);
    ledger::ledger l;
    ASSERT_TRUE(s->load(l, t0).has_value());
    must(l.put_price(price_of("p", "op", {}, credit), t0));
    commit(*s, l);
    must(l.delete_price("p"));
    must(l.put_price(price_of("p", "op", {}, 2 * credit), t0));
    ASSERT_NE(l.find_price("p"), nullptr);
    commit(*s, l);
  }
  auto s = open_store(path);
  ledger::ledger l;
  ASSERT_TRUE(s->load(l, t0).has_value());
  ASSERT_NE(l.find_price("p"), nullptr);
  EXPECT_EQ(l.find_price("p")->unit_amount, 2 * credit);
}

// A resubscription after a canceled one goes on numbering its periods, so
// the store's key never refuses it (across a reload too).
TEST(commerce_store, a_resubscription_after_a_reload_gets_new_period_rows) {
  temp_dir dir;
  const std::string path = dir.file("resub.db");
  time_us now = t0;
  {
    auto s = open_store(path);
    ledger::ledger l;
    ASSERT_TRUE(s->load(l, now).has_value());
    must(l.put_plan({"pro", 10 * credit, ledger::period_unit::month, std::nullopt}, now));
    must(l.put_account({"acct", std::nullopt, std::nullopt}, now));
    must(l.put_subscription({"acct", "pro", now - 40 * day, "UTC"}, now));
    must(l.cancel_subscription("acct", now));
    commit(*s, l);
    now = l.find_account("acct")->sub->period_end;
    l.run_due(now);
    EXPECT_EQ(l.find_account("acct")->sub->status, ledger::subscription_status::canceled);
    commit(*s, l);
  }
  auto s = open_store(path);
  ledger::ledger l;
  ASSERT_TRUE(s->load(l, now).has_value());
  EXPECT_EQ(l.find_account("acct")->sub->status, ledger::subscription_status::canceled);
  EXPECT_EQ(l.find_account("acct")->sub->period_index, 1);
  must(l.put_subscription({"acct", "pro", std::nullopt, "UTC"}, now + 1));
  ledger::change_set cs = l.take_changes();
  ASSERT_EQ(cs.periods.size(), 1u);
  EXPECT_EQ(cs.periods[0].index, 2);
  auto r = s->commit(cs);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(count_rows(path, "SELECT COUNT(*) FROM subscription_periods"), 3);
}

// A file at schema version 4 (before commerce): opening it migrates to 5,
// its rows read the defaults (no price, top-up armed) and the new tables
// take writes.
TEST(commerce_store, migration_5_gives_older_rows_the_defaults) {
  temp_dir dir;
  const std::string path = dir.file("v4.db");
  {
    auto db = store::sqlite::database::open(path, true);
    ASSERT_TRUE(db.has_value());
    std::string sql = creditd::testing::schema_sql_up_to(4);
    std::string settings;
    store::encode_settings(settings, {});
    const std::string t = std::to_string(t0);
    const std::string until = std::to_string(t0 + 600 * ledger::us_per_second);
    const std::string month = std::to_string(ledger::month_index(t0));
    sql += "INSERT INTO accounts VALUES ('acct-0', '', '" + settings + "', 0, " + month + ", " + t +
           ", " + t + ");";
    sql += "INSERT INTO holds VALUES (5, 'acct-0', 'open', 0, 0, '[]', 'llm.tokens', '', 'r', " +
           t + ", " + until + ", 0, 0, " + month + ", 2000000, '{\"j\":1}');";
    sql +=
        "INSERT INTO entries VALUES (1, 'acct-0', 'hold', 0, 0, 0, 0, 5, 0, '[]', "
        "'llm.tokens', '', 'r', '', " +
        t + ", 2000000, '{\"j\":1}');";
    sql += "INSERT INTO meta VALUES ('next_object_id', '6'), ('next_seq', '2');";
    auto r = db->exec(sql.c_str());
    ASSERT_TRUE(r.has_value()) << r.error().message;
  }
  {
    auto s = open_store(path);
    ASSERT_NE(s, nullptr);
    ledger::ledger l;
    auto loaded = s->load(l, t0);
    ASSERT_TRUE(loaded.has_value()) << loaded.error().message;
    EXPECT_EQ(l.find_account("acct-0")->topup, ledger::topup_state{});
    EXPECT_TRUE(l.find_account("acct-0")->topup.armed);
    const ledger::hold* h = l.find_hold(5);
    ASSERT_NE(h, nullptr);
    EXPECT_EQ(h->price_id, "");
    EXPECT_EQ(h->unit_amount, 0);
    EXPECT_EQ(h->quantity, 2 * credit);
    // The old hold is captured: its charge inherits the hold's (empty) price.
    ASSERT_TRUE(l.capture(5, std::nullopt, t0).has_value());
    // The new tables take writes.
    must(l.put_price(price_of("p", "llm.tokens", {}, credit), t0));
    must(l.put_package({"pack", credit, 0, "usd", 0}, t0));
    must(l.purchase(purchase_of("acct-0", "pack", "evt_9"), t0));
    ASSERT_TRUE(s->commit(l.take_changes()).has_value());
    EXPECT_EQ(*s->audit_journal(l), "");
  }
  EXPECT_EQ(count_rows(path, "SELECT MAX(version) FROM schema_migrations"),
            store::schema_version_latest);
  EXPECT_GE(store::schema_version_latest, 6);
  store::sqlite::sqlite_reader reader(path);
  auto es = reader.entries("acct-0", 0, 10);
  ASSERT_TRUE(es.has_value()) << es.error().message;
  ASSERT_EQ(es->size(), 3u);  // the hold, its capture, the purchase's grant
  for (const store::stored_entry& se : *es) {
    EXPECT_EQ(se.e.price_id, "") << se.e.seq;
    EXPECT_EQ(se.e.unit_amount, 0) << se.e.seq;
  }
  EXPECT_EQ((*es)[0].e.quantity, 2 * credit);
  EXPECT_EQ((*es)[1].e.type, ledger::entry_type::capture);
  auto s = open_store(path);
  ledger::ledger l;
  ASSERT_TRUE(s->load(l, t0).has_value());
  EXPECT_NE(l.find_price("p"), nullptr);
  EXPECT_EQ(reader.external_id_recorded("evt_9"), true);
}

// The dimension codec: canonical (sorted) output, any bytes back as written,
// and refusals of what is not a dimension object.
TEST(commerce_store, dimension_codec) {
  const ledger::dimension_list dims = {{"a", "1"}, {odd_key, odd_value}, {"z", ""}};
  std::string text;
  store::encode_dimensions(text, dims);
  EXPECT_EQ(text.substr(0, 9), R"({"a":"1",)");
  EXPECT_EQ(store::decode_dimensions(text), dims);
  EXPECT_EQ(store::decode_dimensions("{}"), ledger::dimension_list{});
  EXPECT_EQ(store::decode_dimensions(R"({"b":"2","a":"1"})"),
            (ledger::dimension_list{{"a", "1"}, {"b", "2"}}));
  EXPECT_FALSE(store::decode_dimensions(R"({"a":1})").has_value());
  EXPECT_FALSE(store::decode_dimensions(R"(["a"])").has_value());
  EXPECT_FALSE(store::decode_dimensions("").has_value());
  std::string nul;
  store::encode_dimensions(nul, {{"k", std::string("a\0b", 3)}});
  EXPECT_EQ(store::decode_dimensions(nul), (ledger::dimension_list{{"k", std::string("a\0b", 3)}}));
}

// A subscription in a zone the server's calendar does not know is refused
// at load, naming it, rather than failing at its first renewal.
TEST(commerce_store, a_subscription_in_an_unknown_zone_is_refused_at_load) {
  temp_dir dir;
  const std::string path = dir.file("zone.db");
  {
    auto s = open_store(path);
    ledger::ledger l;
    ASSERT_TRUE(s->load(l, t0).has_value());
    must(l.put_plan({"pro", 10 * credit, ledger::period_unit::month, std::nullopt}, t0));
    must(l.put_account({"acct", std::nullopt, std::nullopt}, t0));
    must(l.put_subscription({"acct", "pro", t0, "UTC"}, t0));
    commit(*s, l);
  }
  {
    auto db = store::sqlite::database::open(path, false);
    ASSERT_TRUE(db.has_value()) << db.error().message;
    ASSERT_TRUE(db->exec("UPDATE subscriptions SET timezone = 'Europe/Paris'").has_value());
  }
  auto s = open_store(path);
  ledger::ledger l;  // the default calendar knows UTC alone
  auto r = s->load(l, t0);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("Europe/Paris"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find(path), std::string::npos) << r.error().message;
}
}  // namespace commerce_store_test_cpp
