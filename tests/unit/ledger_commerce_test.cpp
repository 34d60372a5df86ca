// The ledger core's commerce: catalog pricing inside charges and holds,
// quotes, purchases of packages and automatic top-up. Every scenario ends
// with the fixture's check_all() (conservation of every lot and account).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "ledger/ledger.hpp"
#include "ledger/limits.hpp"
#include "ledger_fixture.hpp"

namespace creditd::ledger::testing {
namespace ledger_commerce_test_cpp {  // unity builds: tests/CMakeLists.txt
namespace {

using commerce_pricing = ledger_fixture;
using commerce_quote = ledger_fixture;
using commerce_purchase = ledger_fixture;
using commerce_topup = ledger_fixture;

// "2.468" -> 2468000 micros, or a test failure.
micros amt(std::string_view text) {
  const auto r = parse_amount(text);
  if (!r) throw std::runtime_error("bad amount in a test: " + std::string(text));
  return *r;
}

// The error code's name, or "ok": readable in a failure message.
template <typename T>
std::string code(const result<T>& r) {
  return r ? "ok" : std::string(to_string(r.error().code));
}

price_cmd price_of(std::string id, std::string op, dimension_list dims, micros unit) {
  price_cmd p;
  p.id = std::move(id);
  p.operation = std::move(op);
  p.dimensions = std::move(dims);
  p.unit_amount = unit;
  return p;
}

charge_cmd priced_charge(std::string op, dimension_list dims, micros quantity = micros_per_credit,
                         std::string account = "acct") {
  charge_cmd c;
  c.account = std::move(account);
  c.operation = std::move(op);
  c.from_catalog = true;
  c.dimension_values = std::move(dims);
  c.quantity = quantity;
  return c;
}

hold_cmd priced_hold(std::string op, dimension_list dims, micros quantity = micros_per_credit) {
  hold_cmd h;
  h.account = "acct";
  h.operation = std::move(op);
  h.from_catalog = true;
  h.dimension_values = std::move(dims);
  h.quantity = quantity;
  return h;
}

package_cmd package_of(std::string id, micros credits, micros price = amt("9.99"),
                       std::int64_t validity_days = 0, std::string currency = "usd") {
  package_cmd p;
  p.id = std::move(id);
  p.credits = credits;
  p.price = price;
  p.currency = std::move(currency);
  p.validity_days = validity_days;
  return p;
}

purchase_cmd purchase_of(std::string package, std::string external_id = "",
                         std::string account = "acct") {
  purchase_cmd p;
  p.account = std::move(account);
  p.package = std::move(package);
  p.external_id = std::move(external_id);
  return p;
}

account_settings topup_settings(micros below, std::string package, std::int64_t max_per_period) {
  account_settings s;
  s.auto_topup = auto_topup_settings{below, std::move(package), max_per_period};
  return s;
}

// The name of the price a charge of `op` with `dims` pays, or the error code.
std::string winner(const ledger& led, std::string_view op, const dimension_list& dims) {
  auto r = led.price_for(op, dims, micros_per_credit);
  return r ? r->price_id : "error:" + std::string(to_string(r.error().code));
}

// ---------------------------------------------------------------- pricing

TEST_F(commerce_pricing, most_specific_price_wins) {
  must(led.put_price(price_of("gen", "image.generate", {}, cr(2)), t0));
  must(led.put_price(price_of("flux", "image.generate", {{"model", "flux"}}, cr(3)), t0));
  must(led.put_price(
      price_of("flux-hd", "image.generate", {{"quality", "hd"}, {"model", "flux"}}, cr(5)), t0));
  must(led.put_price(price_of("up", "image.upscale", {}, amt("0.5")), t0));

  EXPECT_EQ(winner(led, "image.generate", {}), "gen");
  EXPECT_EQ(winner(led, "image.generate", {{"model", "sdxl"}}), "gen");
  EXPECT_EQ(winner(led, "image.generate", {{"model", "flux"}}), "flux");
  EXPECT_EQ(winner(led, "image.generate", {{"model", "flux"}, {"quality", "sd"}}), "flux");
  EXPECT_EQ(winner(led, "image.generate", {{"model", "flux"}, {"quality", "hd"}}), "flux-hd");
  // Unsorted dimensions, and dimensions no price names, do not matter.
  EXPECT_EQ(winner(led, "image.generate", {{"quality", "hd"}, {"model", "flux"}}), "flux-hd");
  EXPECT_EQ(winner(led, "image.generate",
                   {{"seed", "7"}, {"quality", "hd"}, {"model", "flux"}, {"aspect", "1:1"}}),
            "flux-hd");
  // flux-hd needs the model too: only the generic price matches.
  EXPECT_EQ(winner(led, "image.generate", {{"quality", "hd"}}), "gen");
  EXPECT_EQ(winner(led, "image.upscale", {{"model", "flux"}}), "up");

  open();
  grant(cr(100));
  const std::size_t mark = led.pending_entry_count();
  const charge_record& c = *must(led.charge(
      priced_charge("image.generate", {{"model", "flux"}, {"quality", "hd"}}, cr(2)), t0));
  EXPECT_EQ(c.amount, cr(10));
  EXPECT_EQ(available(), cr(90));
  auto es = entries_since(mark);
  ASSERT_EQ(es.size(), 1u);
  EXPECT_EQ(es[0].type, entry_type::charge);
  EXPECT_EQ(es[0].amount, cr(10));
  EXPECT_EQ(es[0].price_id, "flux-hd");
  EXPECT_EQ(es[0].unit_amount, cr(5));
  EXPECT_EQ(es[0].quantity, cr(2));
  EXPECT_EQ(es[0].balance_after, cr(90));
}

TEST_F(commerce_pricing, a_price_with_a_dimension_the_charge_lacks_does_not_match) {
  must(led.put_price(price_of("flux", "image.generate", {{"model", "flux"}}, cr(3)), t0));
  open();
  grant(cr(100));
  const std::size_t mark = led.pending_entry_count();
  for (const dimension_list& dims :
       {dimension_list{}, dimension_list{{"quality", "hd"}}, dimension_list{{"model", "sdxl"}},
        dimension_list{{"model", "Flux"}}, dimension_list{{"model", ""}}}) {
    auto r = led.charge(priced_charge("image.generate", dims), t0);
    EXPECT_EQ(code(r), "unknown_price");
  }
  // Another operation has no price at all: refused, never free.
  EXPECT_EQ(code(led.charge(priced_charge("image.upscale", {{"model", "flux"}}), t0)),
            "unknown_price");
  EXPECT_EQ(code(led.place_hold(priced_hold("image.upscale", {}), t0)), "unknown_price");
  EXPECT_EQ(code(led.price_for("llm.tokens", {}, cr(1))), "unknown_price");
  EXPECT_EQ(led.pending_entry_count(), mark);
  EXPECT_EQ(available(), cr(100));
  EXPECT_EQ(acct().open_holds.size(), 0u);
  // The same charge with the dimension is priced.
  EXPECT_EQ(must(led.charge(priced_charge("image.generate", {{"model", "flux"}}), t0))->amount,
            cr(3));
}

TEST_F(commerce_pricing, equally_specific_prices_that_could_both_match_conflict) {
  const price& flux =
      *must(led.put_price(price_of("flux", "image.generate", {{"model", "flux"}}, cr(3)), t0))
           .value;

  // One dimension each, on different keys: a charge with both matches both.
  const price_cmd hd = price_of("hd", "image.generate", {{"quality", "hd"}}, cr(4));
  EXPECT_EQ(led.conflicting_price(hd), &flux);
  auto r = led.put_price(hd, t0);
  EXPECT_EQ(code(r), "conflict");
  EXPECT_EQ(led.find_price("hd"), nullptr);

  // The same key with another value: no charge matches both.
  const price_cmd sdxl = price_of("sdxl", "image.generate", {{"model", "sdxl"}}, cr(2));
  EXPECT_EQ(led.conflicting_price(sdxl), nullptr);
  EXPECT_TRUE(must(led.put_price(sdxl, t0)).created);

  // Two generic prices of one operation conflict; of two operations they do not.
  must(led.put_price(price_of("gen", "image.generate", {}, cr(1)), t0));
  const price_cmd gen2 = price_of("gen2", "image.generate", {}, cr(9));
  ASSERT_NE(led.conflicting_price(gen2), nullptr);
  EXPECT_EQ(led.conflicting_price(gen2)->id, "gen");
  EXPECT_EQ(code(led.put_price(gen2, t0)), "conflict");
  EXPECT_EQ(code(led.put_price(price_of("up", "image.upscale", {}, cr(1)), t0)), "ok");

  // Two dimensions: a shared key with the same value and one key each conflict
  // (in any order of the command's dimensions); a shared key with different
  // values does not.
  must(led.put_price(
      price_of("flux-hd", "image.generate", {{"model", "flux"}, {"quality", "hd"}}, cr(5)), t0));
  const price_cmd flux_1024 =
      price_of("flux-1024", "image.generate", {{"res", "1024"}, {"model", "flux"}}, cr(6));
  ASSERT_NE(led.conflicting_price(flux_1024), nullptr);
  EXPECT_EQ(led.conflicting_price(flux_1024)->id, "flux-hd");
  EXPECT_EQ(code(led.put_price(flux_1024, t0)), "conflict");
  EXPECT_EQ(code(led.put_price(price_of("sdxl-hd", "image.generate",
                                        {{"quality", "hd"}, {"model", "sdxl"}}, cr(6)),
                               t0)),
            "ok");
  // Different numbers of dimensions never conflict: the more specific wins.
  EXPECT_EQ(winner(led, "image.generate", {{"model", "flux"}, {"quality", "hd"}}), "flux-hd");
  EXPECT_EQ(winner(led, "image.generate", {{"model", "flux"}, {"quality", "sd"}}), "flux");

  std::size_t n = 0;
  led.for_each_price([&](const price&) { ++n; });
  EXPECT_EQ(n, 6u);  // flux, sdxl, gen, up, flux-hd, sdxl-hd
}

TEST_F(commerce_pricing, updating_a_price_in_place_is_not_a_conflict_with_itself) {
  must(led.put_price(price_of("flux", "image.generate", {{"model", "flux"}}, cr(3)), t0));
  must(led.put_price(price_of("sdxl", "image.generate", {{"model", "sdxl"}}, cr(2)), t0));
  const price_cmd again = price_of("flux", "image.generate", {{"model", "flux"}}, cr(4));
  EXPECT_EQ(led.conflicting_price(again), nullptr);
  auto r = must(led.put_price(again, t0 + secs(5)));
  EXPECT_FALSE(r.created);
  EXPECT_EQ(r.value->unit_amount, cr(4));
  EXPECT_EQ(r.value->created_at, t0);
  EXPECT_EQ(r.value->updated_at, t0 + secs(5));
  auto p = must(led.price_for("image.generate", {{"model", "flux"}}, cr(1)));
  EXPECT_EQ(p.price_id, "flux");
  EXPECT_EQ(p.amount, cr(4));

  // Moved to dimensions another price could share a charge with: refused,
  // naming the other, and the price stays as it was.
  const price_cmd moved = price_of("flux", "image.generate", {{"quality", "hd"}}, cr(4));
  ASSERT_NE(led.conflicting_price(moved), nullptr);
  EXPECT_EQ(led.conflicting_price(moved)->id, "sdxl");
  EXPECT_EQ(code(led.put_price(moved, t0)), "conflict");
  EXPECT_EQ(winner(led, "image.generate", {{"model", "flux"}}), "flux");

  // Moved to another operation: the old operation is no longer priced by it.
  must(led.put_price(price_of("flux", "image.upscale", {{"model", "flux"}}, cr(1)), t0));
  EXPECT_EQ(winner(led, "image.generate", {{"model", "flux"}}), "error:unknown_price");
  EXPECT_EQ(winner(led, "image.upscale", {{"model", "flux"}}), "flux");
  EXPECT_EQ(winner(led, "image.generate", {{"model", "sdxl"}}), "sdxl");
  // And a price of the old operation may now take its place.
  EXPECT_EQ(code(led.put_price(price_of("hd", "image.generate", {{"quality", "hd"}}, cr(1)), t0)),
            "conflict");  // still conflicts with sdxl
  EXPECT_EQ(
      code(led.put_price(price_of("flux2", "image.generate", {{"model", "flux"}}, cr(7)), t0)),
      "ok");
  EXPECT_EQ(winner(led, "image.generate", {{"model", "flux"}}), "flux2");
}

TEST_F(commerce_pricing, delete_price) {
  must(led.put_price(price_of("flux", "image.generate", {{"model", "flux"}}, cr(3)), t0));
  must(led.put_price(price_of("gen", "image.generate", {}, cr(1)), t0));
  EXPECT_EQ(winner(led, "image.generate", {{"model", "flux"}}), "flux");
  EXPECT_EQ(code(led.delete_price("flux")), "ok");
  EXPECT_EQ(led.find_price("flux"), nullptr);
  EXPECT_EQ(winner(led, "image.generate", {{"model", "flux"}}), "gen");
  EXPECT_EQ(code(led.delete_price("flux")), "invalid_argument");
  // The deleted price no longer conflicts.
  EXPECT_EQ(code(led.put_price(price_of("hd", "image.generate", {{"quality", "hd"}}, cr(4)), t0)),
            "ok");
  EXPECT_EQ(code(led.delete_price("gen")), "ok");
  EXPECT_EQ(code(led.delete_price("hd")), "ok");
  EXPECT_EQ(winner(led, "image.generate", {{"model", "flux"}}), "error:unknown_price");
  const change_set cs = led.take_changes();
  EXPECT_EQ(cs.prices_deleted, (std::vector<std::string>{"flux", "gen", "hd"}));
}

TEST_F(commerce_pricing, price_validation) {
  EXPECT_EQ(code(led.put_price(price_of("bad id", "image.generate", {}, cr(1)), t0)),
            "invalid_argument");
  EXPECT_EQ(code(led.put_price(price_of("p", "bad op", {}, cr(1)), t0)), "invalid_argument");
  EXPECT_EQ(code(led.put_price(price_of("p", "image.generate", {}, -1), t0)), "invalid_argument");
  EXPECT_EQ(code(led.put_price(price_of("p", "image.generate", {}, amount_micros_max + 1), t0)),
            "invalid_argument");
  EXPECT_EQ(code(led.put_price(
                price_of("p", "image.generate", {{"model", "a"}, {"model", "b"}}, cr(1)), t0)),
            "invalid_argument");
  EXPECT_EQ(code(led.put_price(price_of("p", "image.generate", {{"", "a"}}, cr(1)), t0)),
            "invalid_argument");
  EXPECT_EQ(code(led.put_price(price_of("p", "image.generate", {}, amount_micros_max), t0)), "ok");
}

TEST_F(commerce_pricing, zero_price_charges_succeed_at_zero_balance) {
  must(led.put_price(price_of("free", "image.upscale", {}, 0), t0));
  open();
  EXPECT_EQ(available(), 0);
  const std::size_t mark = led.pending_entry_count();
  const charge_record& c = *must(led.charge(priced_charge("image.upscale", {}, cr(3)), t0));
  EXPECT_EQ(c.amount, 0);
  EXPECT_TRUE(c.parts.empty());
  const hold& h = *must(led.place_hold(priced_hold("image.upscale", {}), t0));
  EXPECT_EQ(h.amount, 0);
  EXPECT_EQ(h.price_id, "free");
  auto es = entries_since(mark);
  ASSERT_EQ(es.size(), 2u);
  EXPECT_EQ(es[0].type, entry_type::charge);
  EXPECT_EQ(es[0].amount, 0);
  EXPECT_EQ(es[0].price_id, "free");
  EXPECT_EQ(es[0].unit_amount, 0);
  EXPECT_EQ(es[1].type, entry_type::hold);
  EXPECT_EQ(es[1].price_id, "free");
}

TEST_F(commerce_pricing, fractional_units_and_half_up_rounding) {
  struct row {
    const char* unit;
    const char* quantity;
    const char* cost;
  };
  const row rows[] = {
      {"0.002", "1234", "2.468"},
      {"0.000001", "0.5", "0.000001"},  // exactly half: up
      {"0.000001", "0.4", "0"},
      {"0.000001", "0.6", "0.000001"},
      {"0.000003", "0.5", "0.000002"},  // 1.5 micros
      {"0.000005", "0.1", "0.000001"},  // 0.5 micros
      {"0.000004", "0.1", "0"},         // 0.4 micros
      {"0.000001", "1.499999", "0.000001"},
      {"0.000001", "1.5", "0.000002"},
      {"0.333333", "3", "0.999999"},
      {"1.5", "0.000001", "0.000002"},  // 1.5 micros
      {"2", "0.000001", "0.000002"},
      {"0.25", "0.000002", "0.000001"},  // 0.5 micros
      {"7", "1", "7"},
      {"0", "1000", "0"},
  };
  for (const row& r : rows) {
    ledger l;
    must(l.put_price(price_of("p", "llm.tokens", {}, amt(r.unit)), t0));
    auto p = must(l.price_for("llm.tokens", {}, amt(r.quantity)));
    EXPECT_EQ(format_amount(p.amount), r.cost) << r.unit << " x " << r.quantity;
    EXPECT_EQ(p.unit_amount, amt(r.unit));
  }

  // Through a charge: the rounded cost is what is taken, and the quantity is recorded as given.
  must(led.put_price(price_of("tok", "llm.tokens", {}, amt("0.002")), t0));
  open();
  grant(cr(10));
  const std::size_t mark = led.pending_entry_count();
  const charge_record& c = *must(led.charge(priced_charge("llm.tokens", {}, cr(1234)), t0));
  EXPECT_EQ(c.amount, amt("2.468"));
  EXPECT_EQ(available(), amt("7.532"));
  auto es = entries_since(mark);
  ASSERT_EQ(es.size(), 1u);
  EXPECT_EQ(es[0].quantity, cr(1234));
  EXPECT_EQ(es[0].unit_amount, amt("0.002"));
}

TEST_F(commerce_pricing, overflow_is_invalid_argument) {
  must(led.put_price(price_of("max", "gpu.seconds", {}, amount_micros_max), t0));
  EXPECT_EQ(must(led.price_for("gpu.seconds", {}, cr(1))).amount, amount_micros_max);
  EXPECT_EQ(code(led.price_for("gpu.seconds", {}, cr(1) + 1)), "invalid_argument");
  EXPECT_EQ(code(led.price_for("gpu.seconds", {}, amount_micros_max)), "invalid_argument");
  EXPECT_EQ(code(led.price_for("gpu.seconds", {}, 0)), "invalid_argument");
  open();
  grant(cr(10));
  const std::size_t mark = led.pending_entry_count();
  EXPECT_EQ(code(led.charge(priced_charge("gpu.seconds", {}, cr(2)), t0)), "invalid_argument");
  EXPECT_EQ(code(led.place_hold(priced_hold("gpu.seconds", {}, amount_micros_max), t0)),
            "invalid_argument");
  EXPECT_EQ(code(led.charge(priced_charge("gpu.seconds", {}, 0), t0)), "invalid_argument");
  EXPECT_EQ(led.pending_entry_count(), mark);
  EXPECT_EQ(available(), cr(10));
}

TEST_F(commerce_pricing, entries_keep_the_price_they_were_charged_at) {
  must(led.put_price(price_of("flux", "image.generate", {{"model", "flux"}}, cr(3)), t0));
  open();
  grant(cr(100));
  const std::size_t mark = led.pending_entry_count();
  const object_id first =
      must(led.charge(priced_charge("image.generate", {{"model", "flux"}}), t0))->id;

  // The price changes, then goes away: the first entry and charge stay as they were.
  must(led.put_price(price_of("flux", "image.generate", {{"model", "flux"}}, cr(7)), t0 + secs(1)));
  const object_id second =
      must(led.charge(priced_charge("image.generate", {{"model", "flux"}}), t0 + secs(2)))->id;
  EXPECT_EQ(code(led.delete_price("flux")), "ok");
  EXPECT_EQ(led.find_charge(first)->amount, cr(3));
  EXPECT_EQ(led.find_charge(second)->amount, cr(7));
  auto es = entries_since(mark);
  ASSERT_EQ(es.size(), 2u);
  EXPECT_EQ(es[0].charge_id, first);
  EXPECT_EQ(es[0].amount, cr(3));
  EXPECT_EQ(es[0].price_id, "flux");
  EXPECT_EQ(es[0].unit_amount, cr(3));
  EXPECT_EQ(es[1].charge_id, second);
  EXPECT_EQ(es[1].unit_amount, cr(7));
  const change_set cs = led.take_changes();
  std::vector<micros> units;
  for (const entry& e : cs.entries) {
    if (e.type == entry_type::charge) units.push_back(e.unit_amount);
  }
  EXPECT_EQ(units, (std::vector<micros>{cr(3), cr(7)}));
  EXPECT_EQ(available(), cr(90));
}

TEST_F(commerce_pricing, holds_are_priced_and_their_capture_carries_the_price) {
  must(led.put_price(price_of("up", "image.upscale", {{"res", "4k"}}, amt("1.25")), t0));
  open();
  grant(cr(20));
  const std::size_t mark = led.pending_entry_count();
  const hold& h = *must(led.place_hold(priced_hold("image.upscale", {{"res", "4k"}}, cr(4)), t0));
  EXPECT_EQ(h.amount, cr(5));
  EXPECT_EQ(h.price_id, "up");
  EXPECT_EQ(h.unit_amount, amt("1.25"));
  EXPECT_EQ(h.quantity, cr(4));
  EXPECT_EQ(available(), cr(15));

  // A new price after the hold does not change what the hold captures.
  must(led.put_price(price_of("up", "image.upscale", {{"res", "4k"}}, cr(9)), t0 + secs(1)));
  const hold& captured = *must(led.capture(h.id, cr(3), t0 + secs(2)));
  EXPECT_EQ(captured.captured, cr(3));
  EXPECT_EQ(led.find_charge(captured.charge_id)->amount, cr(3));
  EXPECT_EQ(available(t0 + secs(2)), cr(17));

  auto es = entries_since(mark);
  ASSERT_EQ(es.size(), 3u);  // hold, capture, release of the rest
  EXPECT_EQ(es[0].type, entry_type::hold);
  EXPECT_EQ(es[0].amount, cr(5));
  EXPECT_EQ(es[0].price_id, "up");
  EXPECT_EQ(es[0].unit_amount, amt("1.25"));
  EXPECT_EQ(es[1].type, entry_type::capture);
  EXPECT_EQ(es[1].amount, cr(3));
  EXPECT_EQ(es[1].price_id, "up");
  EXPECT_EQ(es[1].unit_amount, amt("1.25"));
  EXPECT_EQ(es[1].quantity, cr(4));
  EXPECT_EQ(es[2].type, entry_type::release);
  EXPECT_EQ(es[2].amount, cr(2));
  EXPECT_EQ(es[2].price_id, "");
}

TEST_F(commerce_pricing, an_explicit_amount_records_no_price) {
  must(led.put_price(price_of("gen", "image.generate", {}, cr(3)), t0));
  open();
  grant(cr(100));
  const std::size_t mark = led.pending_entry_count();
  charge_cmd c = charge_of(cr(11));
  c.dimension_values = {{"model", "flux"}};
  EXPECT_EQ(must(led.charge(c, t0))->amount, cr(11));
  const hold& h = *must(led.place_hold(hold_of(cr(2)), t0));
  EXPECT_EQ(h.price_id, "");
  EXPECT_EQ(h.unit_amount, 0);
  must(led.capture(h.id, std::nullopt, t0));
  auto es = entries_since(mark);
  ASSERT_EQ(es.size(), 3u);
  for (const entry& e : es) {
    EXPECT_EQ(e.price_id, "") << to_string(e.type);
    EXPECT_EQ(e.unit_amount, 0) << to_string(e.type);
  }
  EXPECT_EQ(es[0].amount, cr(11));
  EXPECT_EQ(available(), cr(87));
}

TEST_F(commerce_pricing, a_batch_with_an_unpriced_charge_changes_nothing) {
  must(led.put_price(price_of("gen", "image.generate", {}, cr(3)), t0));
  open();
  grant(cr(100));
  const std::size_t mark = led.pending_entry_count();
  std::vector<charge_cmd> batch = {priced_charge("image.generate", {}),
                                   priced_charge("image.upscale", {})};
  EXPECT_EQ(code(led.charge_batch(batch, t0)), "unknown_price");
  EXPECT_EQ(led.pending_entry_count(), mark);
  EXPECT_EQ(available(), cr(100));
  batch[1] = priced_charge("image.generate", {{"model", "x"}}, cr(2));
  auto out = must(led.charge_batch(batch, t0));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0]->amount, cr(3));
  EXPECT_EQ(out[1]->amount, cr(6));
  EXPECT_EQ(available(), cr(91));
}

// ---------------------------------------------------------------- quotes

TEST_F(commerce_quote, cost_affordable_available_balance_after) {
  must(led.put_price(price_of("gen", "image.generate", {}, cr(3)), t0));
  open();
  const object_id l = grant(cr(100)).id;
  const std::size_t mark = led.pending_entry_count();
  const quote_result q = must(led.quote(priced_charge("image.generate", {}, cr(10)), t0));
  EXPECT_EQ(q.cost.amount, cr(30));
  EXPECT_EQ(q.cost.price_id, "gen");
  EXPECT_EQ(q.cost.unit_amount, cr(3));
  EXPECT_TRUE(q.affordable);
  EXPECT_EQ(q.available, cr(100));
  EXPECT_EQ(q.balance_after, cr(70));
  EXPECT_EQ(q.reason, refusal_reason::none);
  // Nothing was charged.
  EXPECT_EQ(led.pending_entry_count(), mark);
  EXPECT_EQ(available(), cr(100));
  EXPECT_EQ(lot_at(l).remaining, cr(100));
  EXPECT_EQ(lot_at(l).spent, 0);
  EXPECT_EQ(lot_at(l).status, lot_status::active);

  // The whole balance: the lot would be depleted; it is not.
  const quote_result all = must(led.quote(charge_of(cr(100)), t0));
  EXPECT_TRUE(all.affordable);
  EXPECT_EQ(all.cost.amount, cr(100));
  EXPECT_EQ(all.cost.price_id, "");
  EXPECT_EQ(all.balance_after, 0);
  EXPECT_EQ(lot_at(l).status, lot_status::active);
  EXPECT_EQ(active_ids(), (std::vector<object_id>{l}));

  // Too much.
  const quote_result no = must(led.quote(priced_charge("image.generate", {}, cr(34)), t0));
  EXPECT_EQ(no.cost.amount, cr(102));
  EXPECT_FALSE(no.affordable);
  EXPECT_EQ(no.available, cr(100));
  EXPECT_EQ(no.balance_after, cr(100));
  EXPECT_EQ(no.reason, refusal_reason::balance);

  // The charge that follows agrees with the quote.
  EXPECT_EQ(led.pending_entry_count(), mark);
  must(led.charge(priced_charge("image.generate", {}, cr(10)), t0));
  EXPECT_EQ(led.command_entries().back().balance_after, q.balance_after);
}

TEST_F(commerce_quote, refusals_say_why) {
  must(led.put_price(price_of("gen", "image.generate", {}, cr(1)), t0));
  account_settings s;
  s.reserve = cr(20);
  open("acct", s);
  grant_cmd scoped = grant_of(cr(60));
  scoped.scope = {"image.*"};
  grant(scoped);
  grant(cr(40));  // 100 in all, 40 of them for any operation
  const std::size_t mark = led.pending_entry_count();

  // The reserve: 80 available to ordinary charges.
  quote_result q = must(led.quote(priced_charge("image.generate", {}, cr(90)), t0));
  EXPECT_FALSE(q.affordable);
  EXPECT_EQ(q.reason, refusal_reason::reserve);
  EXPECT_EQ(q.available, cr(80));
  EXPECT_EQ(q.balance_after, cr(80));

  // The scope: llm.tokens can only use the 40 unscoped credits (less the reserve).
  charge_cmd llm = charge_of(cr(50), "llm.tokens");
  llm.urgent = true;
  q = must(led.quote(llm, t0));
  EXPECT_FALSE(q.affordable);
  EXPECT_EQ(q.reason, refusal_reason::scope);
  EXPECT_EQ(q.available, cr(40));

  // Postpaid credit counts, and a limit beyond it says so.
  account_cmd pp;
  pp.id = "acct";
  pp.settings = s;
  pp.settings->postpaid_limit = cr(5);
  must(led.put_account(pp, t0));
  q = must(led.quote(charge_of(cr(106)), t0));
  EXPECT_FALSE(q.affordable);
  EXPECT_EQ(q.reason, refusal_reason::postpaid_limit);
  EXPECT_EQ(q.available, cr(85));
  q = must(led.quote(charge_of(cr(84)), t0));
  EXPECT_TRUE(q.affordable);
  EXPECT_EQ(q.balance_after, cr(1));

  // Errors are errors, not quotes.
  EXPECT_EQ(code(led.quote(priced_charge("llm.tokens", {}), t0)), "unknown_price");
  EXPECT_EQ(code(led.quote(priced_charge("image.generate", {}, cr(1), "ghost"), t0)),
            "account_not_found");
  EXPECT_EQ(code(led.quote(charge_of(-1), t0)), "invalid_argument");
  EXPECT_EQ(code(led.quote(priced_charge("image.generate", {}, 0), t0)), "invalid_argument");
  // Quotes wrote nothing; the postpaid limit's change wrote its settings entry.
  EXPECT_EQ(led.pending_entry_count(), mark + 1);
  EXPECT_EQ(available(), cr(85));
}

// quote_result::available is "what this charge could spend (scope, reserve,
// urgency applied)" (ledger.hpp). A refused quote reports that; an
// affordable one must too, or the same account reads two different
// "available" values depending on the amount asked. (Found in cca7c5c, where
// an affordable quote gave the account's available; fixed in 90ce22b.)
TEST_F(commerce_quote, available_is_what_this_charge_could_spend_when_affordable_too) {
  account_settings s;
  s.reserve = cr(20);
  open("acct", s);
  grant_cmd scoped = grant_of(cr(60));
  scoped.scope = {"image.*"};
  grant(scoped);
  grant(cr(40));

  // llm.tokens can spend the 40 unscoped credits only.
  const quote_result refused = must(led.quote(charge_of(cr(45), "llm.tokens"), t0));
  EXPECT_FALSE(refused.affordable);
  EXPECT_EQ(refused.reason, refusal_reason::scope);
  EXPECT_EQ(refused.available, cr(40));
  const quote_result affordable = must(led.quote(charge_of(cr(10), "llm.tokens"), t0));
  EXPECT_TRUE(affordable.affordable);
  EXPECT_EQ(affordable.available, cr(40)) << "what this charge could spend";
  EXPECT_EQ(affordable.balance_after, cr(70));

  // Urgent: the reserve is open to it, all 100 credits.
  charge_cmd urgent = charge_of(cr(90));
  urgent.urgent = true;
  const quote_result u = must(led.quote(urgent, t0));
  EXPECT_TRUE(u.affordable);
  EXPECT_EQ(u.available, cr(100)) << "what this urgent charge could spend";
  EXPECT_EQ(u.balance_after, 0);
}

TEST_F(commerce_quote, applies_due_expiries_and_charges_nothing) {
  account_settings s;
  s.rate_limit_per_minute = 1;
  open("acct", s);
  const object_id soon = grant(cr(30), lot_kind::promo, t0 + hours(1)).id;
  const object_id later = grant(cr(50)).id;
  const std::size_t mark = led.pending_entry_count();
  const time_us now = t0 + hours(2);
  const quote_result q = must(led.quote(charge_of(cr(20)), now));
  EXPECT_TRUE(q.affordable);
  EXPECT_EQ(q.available, cr(50));
  EXPECT_EQ(q.balance_after, cr(30));
  // The expiry due before the quote is written; nothing else is.
  auto es = entries_since(mark);
  ASSERT_EQ(es.size(), 1u);
  EXPECT_EQ(es[0].type, entry_type::expire);
  EXPECT_EQ(es[0].lot_id, soon);
  EXPECT_EQ(es[0].amount, cr(30));
  EXPECT_EQ(es[0].created_at, t0 + hours(1));
  EXPECT_EQ(lot_at(later).remaining, cr(50));
  EXPECT_EQ(available(now), cr(50));
  // Quotes do not use up the rate limit: the one charge of this minute passes.
  must(led.quote(charge_of(cr(1)), now));
  must(led.quote(charge_of(cr(1)), now));
  EXPECT_EQ(code(led.charge(charge_of(cr(20)), now)), "ok");
  EXPECT_EQ(code(led.charge(charge_of(cr(1)), now)), "rate_limited");
  EXPECT_EQ(available(now), cr(30));
}

// ---------------------------------------------------------------- purchases

TEST_F(commerce_purchase, grants_a_prepaid_lot_usable_at_once) {
  must(led.put_package(package_of("p100", cr(100), amt("9.99"), 30), t0));
  open();
  const std::size_t mark = led.pending_entry_count();
  const object_id next = led.next_object_id();
  const purchase_result r = must(led.purchase(purchase_of("p100"), t0));
  EXPECT_FALSE(r.duplicate);
  ASSERT_NE(r.granted, nullptr);
  const lot& l = *r.granted;
  EXPECT_EQ(r.made.id, next);
  EXPECT_EQ(l.id, next + 1);
  EXPECT_EQ(r.made.account, "acct");
  EXPECT_EQ(r.made.package, "p100");
  EXPECT_EQ(r.made.lot_id, l.id);
  EXPECT_EQ(r.made.credits, cr(100));
  EXPECT_EQ(r.made.price, amt("9.99"));
  EXPECT_EQ(r.made.currency, "usd");
  EXPECT_EQ(r.made.source, purchase_source::api);
  EXPECT_EQ(r.made.created_at, t0);
  EXPECT_EQ(l.kind, lot_kind::prepaid);
  EXPECT_EQ(l.priority, default_priority(lot_kind::prepaid));
  EXPECT_EQ(l.amount, cr(100));
  EXPECT_EQ(l.remaining, cr(100));
  EXPECT_EQ(l.effective_at, t0);
  EXPECT_EQ(l.expires_at, t0 + days(30));
  EXPECT_EQ(l.cost_basis, amt("9.99"));
  EXPECT_EQ(l.currency, "usd");
  EXPECT_EQ(l.source, "purchase");
  EXPECT_NE(l.reason.find("p100"), std::string::npos) << l.reason;
  auto es = entries_since(mark);
  ASSERT_EQ(es.size(), 1u);
  EXPECT_EQ(es[0].type, entry_type::grant);
  EXPECT_EQ(es[0].lot_id, l.id);
  EXPECT_EQ(es[0].amount, cr(100));
  EXPECT_EQ(es[0].balance_after, cr(100));
  EXPECT_EQ(available(), cr(100));

  // Spendable in the same instant.
  EXPECT_EQ(must(led.charge(charge_of(cr(100)), t0))->parts.size(), 1u);
  const change_set cs = led.take_changes();
  ASSERT_EQ(cs.purchases.size(), 1u);
  EXPECT_EQ(cs.purchases[0].id, r.made.id);
  EXPECT_EQ(cs.purchases[0].lot_id, l.id);

  // It expires validity_days later.
  must(led.purchase(purchase_of("p100"), t0 + secs(1)));
  EXPECT_EQ(available(t0 + secs(1) + days(30) - 1), cr(100));
  EXPECT_EQ(available(t0 + secs(1) + days(30)), 0);
  EXPECT_EQ(led.run_due(t0 + secs(1) + days(30)), 1u);
}

TEST_F(commerce_purchase, validity_zero_never_expires) {
  must(led.put_package(package_of("forever", cr(5), 0, 0, "eur"), t0));
  open();
  const lot& l = *must(led.purchase(purchase_of("forever"), t0)).granted;
  EXPECT_EQ(l.expires_at, no_expiry);
  EXPECT_EQ(l.cost_basis, 0);
  EXPECT_EQ(l.currency, "eur");
  EXPECT_EQ(available(t0 + days(36'500)), cr(5));
}

TEST_F(commerce_purchase, a_repeated_external_id_changes_nothing) {
  must(led.put_package(package_of("p10", cr(10)), t0));
  open();
  const purchase_result first = must(led.purchase(purchase_of("p10", "evt_1"), t0));
  EXPECT_FALSE(first.duplicate);
  EXPECT_TRUE(led.external_id_seen("evt_1"));
  EXPECT_EQ(first.made.external_id, "evt_1");
  const object_id next = led.next_object_id();
  const std::size_t lots = acct().lots.size();
  led.take_changes();
  const purchase_result again = must(led.purchase(purchase_of("p10", "evt_1"), t0 + secs(1)));
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.granted, nullptr);
  EXPECT_EQ(led.pending_entry_count(), 0u);
  EXPECT_EQ(led.next_object_id(), next);
  EXPECT_EQ(acct().lots.size(), lots);
  EXPECT_EQ(available(), cr(10));
  EXPECT_TRUE(led.take_changes().purchases.empty());
  // Even on another account.
  open("other");
  EXPECT_TRUE(must(led.purchase(purchase_of("p10", "evt_1", "other"), t0)).duplicate);
  EXPECT_EQ(available(t0, "other"), 0);
  // Without an external id, every purchase is new.
  EXPECT_FALSE(must(led.purchase(purchase_of("p10"), t0)).duplicate);
  EXPECT_FALSE(must(led.purchase(purchase_of("p10"), t0)).duplicate);
  EXPECT_EQ(available(), cr(30));
}

TEST_F(commerce_purchase, unknown_package_or_account) {
  must(led.put_package(package_of("p10", cr(10)), t0));
  open();
  const std::size_t mark = led.pending_entry_count();
  EXPECT_EQ(code(led.purchase(purchase_of("nope"), t0)), "package_not_found");
  EXPECT_EQ(code(led.purchase(purchase_of("p10", "", "ghost"), t0)), "account_not_found");
  EXPECT_EQ(code(led.purchase(purchase_of("nope", "evt_x"), t0)), "package_not_found");
  EXPECT_FALSE(led.external_id_seen("evt_x"));
  EXPECT_EQ(led.pending_entry_count(), mark);
  EXPECT_EQ(available(), 0);
  EXPECT_EQ(led.find_account("ghost"), nullptr);
}

TEST_F(commerce_purchase, package_validation) {
  EXPECT_EQ(code(led.put_package(package_of("p", 0), t0)), "invalid_argument");
  EXPECT_EQ(code(led.put_package(package_of("p", cr(1), -1), t0)), "invalid_argument");
  EXPECT_EQ(code(led.put_package(package_of("p", cr(1), 0, -1), t0)), "invalid_argument");
  EXPECT_EQ(code(led.put_package(package_of("p", cr(1), 0, 36'501), t0)), "invalid_argument");
  EXPECT_EQ(code(led.put_package(package_of("p", cr(1), 0, 0, "us"), t0)), "invalid_argument");
  EXPECT_EQ(code(led.put_package(package_of("bad id", cr(1)), t0)), "invalid_argument");
  EXPECT_TRUE(must(led.put_package(package_of("p", cr(1)), t0)).created);
  auto updated = must(led.put_package(package_of("p", cr(2), cr(3), 7), t0 + secs(1)));
  EXPECT_FALSE(updated.created);
  EXPECT_EQ(updated.value->credits, cr(2));
  EXPECT_EQ(updated.value->created_at, t0);
}

// ---------------------------------------------------------------- automatic top-up

std::vector<const lot*> topup_lots(const account& a) {
  std::vector<const lot*> out;
  for (const lot* l : a.lots) {
    if (l->source == "auto_topup") out.push_back(l);
  }
  return out;
}

TEST_F(commerce_topup, once_per_downward_crossing_at_most_max_per_period) {
  must(led.put_package(package_of("top", cr(50), amt("4.99")), t0));
  open("acct", topup_settings(cr(20), "top", 2));
  grant(cr(30));

  // Down across 20: one purchase, back above: armed again.
  must(led.charge(charge_of(cr(15)), t0));
  auto lots = topup_lots(acct());
  ASSERT_EQ(lots.size(), 1u);
  EXPECT_EQ(lots[0]->amount, cr(50));
  EXPECT_EQ(lots[0]->kind, lot_kind::prepaid);
  EXPECT_EQ(lots[0]->cost_basis, amt("4.99"));
  EXPECT_NE(lots[0]->reason.find("auto top-up"), std::string::npos) << lots[0]->reason;
  EXPECT_NE(lots[0]->reason.find("fell below 20"), std::string::npos) << lots[0]->reason;
  EXPECT_EQ(available(), cr(65));
  EXPECT_TRUE(acct().topup.armed);
  EXPECT_EQ(acct().topup.count, 1);

  // Charges that stay above buy nothing.
  must(led.charge(charge_of(cr(40)), t0 + secs(1)));
  EXPECT_EQ(topup_lots(acct()).size(), 1u);
  // Down again: the second of the period.
  must(led.charge(charge_of(cr(10)), t0 + secs(2)));
  EXPECT_EQ(topup_lots(acct()).size(), 2u);
  EXPECT_EQ(available(t0 + secs(2)), cr(65));
  // Down a third time: the period's limit, nothing bought.
  must(led.charge(charge_of(cr(50)), t0 + secs(3)));
  EXPECT_EQ(topup_lots(acct()).size(), 2u);
  EXPECT_EQ(available(t0 + secs(3)), cr(15));
  EXPECT_FALSE(acct().topup.armed);

  // The next UTC month: still below, no new crossing, nothing bought.
  must(led.charge(charge_of(cr(1)), dec1 + secs(1)));
  EXPECT_EQ(topup_lots(acct()).size(), 2u);
  // Back to exactly `below` arms again; the next crossing buys, the count restarted.
  grant(cr(6), lot_kind::prepaid, std::nullopt, dec1 + secs(2));
  EXPECT_EQ(available(dec1 + secs(2)), cr(20));
  EXPECT_TRUE(acct().topup.armed);
  must(led.charge(charge_of(cr(1)), dec1 + secs(3)));
  lots = topup_lots(acct());
  ASSERT_EQ(lots.size(), 3u);
  EXPECT_EQ(lots[2]->created_at, dec1 + secs(3));
  EXPECT_EQ(acct().topup.count, 1);
  EXPECT_EQ(acct().topup.period_start, dec1);
  EXPECT_EQ(available(dec1 + secs(3)), cr(69));

  const change_set cs = led.take_changes();
  ASSERT_EQ(cs.purchases.size(), 3u);
  for (const purchase& p : cs.purchases) {
    EXPECT_EQ(p.source, purchase_source::auto_topup);
    EXPECT_EQ(p.package, "top");
  }
}

TEST_F(commerce_topup, never_loops_when_the_package_is_smaller_than_the_gap) {
  must(led.put_package(package_of("tiny", cr(5)), t0));
  open("acct", topup_settings(cr(100), "tiny", 10));
  grant(cr(150));
  must(led.charge(charge_of(cr(140)), t0));
  EXPECT_EQ(topup_lots(acct()).size(), 1u);
  EXPECT_EQ(available(), cr(15));
  EXPECT_FALSE(acct().topup.armed);
  // Still below: further charges buy nothing.
  must(led.charge(charge_of(cr(1)), t0 + secs(1)));
  must(led.place_hold(hold_of(cr(1)), t0 + secs(2)));
  EXPECT_EQ(topup_lots(acct()).size(), 1u);
  // Back above, then down: one more.
  grant(cr(100), lot_kind::prepaid, std::nullopt, t0 + secs(3));
  EXPECT_TRUE(acct().topup.armed);
  must(led.charge(charge_of(cr(20)), t0 + secs(4)));
  EXPECT_EQ(topup_lots(acct()).size(), 2u);
  EXPECT_EQ(available(t0 + secs(4)), cr(98));
}

TEST_F(commerce_topup, a_hold_or_an_expiry_can_cross_too) {
  must(led.put_package(package_of("top", cr(50)), t0));
  open("acct", topup_settings(cr(20), "top", 5));
  grant(cr(30), lot_kind::promo, t0 + hours(1));
  grant(cr(10));
  EXPECT_TRUE(acct().topup.armed);

  // The promo lot expires while nobody looks: the scheduler, reaching it an
  // hour late, buys when it runs (never at a past instant: the purchase's
  // validity counts from when it is made).
  EXPECT_EQ(led.run_due(t0 + hours(2)), 1u);
  auto lots = topup_lots(acct());
  ASSERT_EQ(lots.size(), 1u);
  EXPECT_EQ(lots[0]->created_at, t0 + hours(2));
  EXPECT_EQ(available(t0 + hours(2)), cr(60));

  // A hold takes available below.
  must(led.place_hold(hold_of(cr(45)), t0 + hours(3)));
  EXPECT_EQ(topup_lots(acct()).size(), 2u);
  EXPECT_EQ(available(t0 + hours(3)), cr(65));
}

TEST_F(commerce_topup, a_setting_naming_a_missing_package_is_refused) {
  open();
  account_cmd c;
  c.id = "acct";
  c.settings = topup_settings(cr(20), "nope", 1);
  auto r = led.put_account(c, t0);
  EXPECT_EQ(code(r), "package_not_found");
  EXPECT_FALSE(acct().settings.auto_topup.has_value());
  c.id = "new-account";
  EXPECT_EQ(code(led.put_account(c, t0)), "package_not_found");
  EXPECT_EQ(led.find_account("new-account"), nullptr);
  c.settings = topup_settings(0, "nope", 1);
  EXPECT_EQ(code(led.put_account(c, t0)), "invalid_argument");
}

TEST_F(commerce_topup, setting_it_while_below_does_not_buy_at_once) {
  must(led.put_package(package_of("top", cr(50)), t0));
  open();
  grant(cr(10));
  account_cmd c;
  c.id = "acct";
  c.settings = topup_settings(cr(20), "top", 3);
  const std::size_t mark = led.pending_entry_count();
  must(led.put_account(c, t0));
  EXPECT_EQ(led.pending_entry_count(), mark);
  EXPECT_FALSE(acct().topup.armed);
  // Spending further below is not a crossing either.
  must(led.charge(charge_of(cr(5)), t0 + secs(1)));
  EXPECT_TRUE(topup_lots(acct()).empty());
  EXPECT_EQ(available(t0 + secs(1)), cr(5));
  // Up and down again is.
  grant(cr(20), lot_kind::prepaid, std::nullopt, t0 + secs(2));
  must(led.charge(charge_of(cr(10)), t0 + secs(3)));
  EXPECT_EQ(topup_lots(acct()).size(), 1u);
  EXPECT_EQ(available(t0 + secs(3)), cr(65));
}

// With a subscription, max_per_period counts in the subscription's period,
// not the calendar month.
TEST_F(commerce_topup, counts_in_the_subscription_period) {
  const time_us s0 = parse_time("2027-01-15T00:00:00Z").value();
  const time_us feb15 = parse_time("2027-02-15T00:00:00Z").value();
  auto at = [](const char* text) { return parse_time(text).value(); };
  must(led.put_package(package_of("top", cr(20)), s0));
  plan_cmd p;
  p.id = "p";
  p.credits_per_period = cr(10);
  must(led.put_plan(p, s0));
  open("acct", {}, s0);
  grant(cr(100), lot_kind::prepaid, std::nullopt, s0);
  subscription_cmd sc;
  sc.account = "acct";
  sc.plan = "p";
  must(led.put_subscription(sc, s0));
  EXPECT_EQ(available(s0), cr(110));
  account_cmd c;
  c.id = "acct";
  c.settings = topup_settings(cr(50), "top", 1);
  must(led.put_account(c, s0));
  EXPECT_TRUE(acct().topup.armed);

  must(led.charge(charge_of(cr(65)), at("2027-01-20T00:00:00Z")));  // 45: buys (1 of 1)
  EXPECT_EQ(topup_lots(acct()).size(), 1u);
  must(led.charge(charge_of(cr(20)), at("2027-01-25T00:00:00Z")));  // 45: limit reached
  EXPECT_EQ(topup_lots(acct()).size(), 1u);
  grant(cr(10), lot_kind::prepaid, std::nullopt, at("2027-02-02T00:00:00Z"));  // 55: armed
  EXPECT_TRUE(acct().topup.armed);
  // A new UTC month but the same subscription period: still the limit.
  must(led.charge(charge_of(cr(10)), at("2027-02-03T00:00:00Z")));
  EXPECT_EQ(topup_lots(acct()).size(), 1u);
  EXPECT_EQ(available(at("2027-02-03T00:00:00Z")), cr(45));
  // The renewal (+10) takes available back to 55; the next crossing is in the new period.
  must(led.charge(charge_of(cr(10)), at("2027-02-16T00:00:00Z")));
  auto lots = topup_lots(acct());
  ASSERT_EQ(lots.size(), 2u);
  EXPECT_EQ(lots[1]->created_at, at("2027-02-16T00:00:00Z"));
  EXPECT_EQ(acct().topup.period_start, feb15);
  EXPECT_EQ(acct().topup.count, 1);
  EXPECT_EQ(available(at("2027-02-16T00:00:00Z")), cr(65));
}

}  // namespace
}  // namespace ledger_commerce_test_cpp
}  // namespace creditd::ledger::testing
