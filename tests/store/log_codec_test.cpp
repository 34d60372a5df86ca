// The log's change-set codec: every field of every row round-trips, and
// decoding refuses (never crashes on, never over-allocates for) bad input.
// Also CRC-32C against its published check value.
#include <gtest/gtest.h>

#include <random>

#include "ledger/ledger.hpp"
#include "store/crc32c.hpp"
#include "store/log/change_codec.hpp"

namespace log_codec_test_cpp {  // unity builds: tests/CMakeLists.txt

using namespace creditd;
using namespace creditd::store::log;
using creditd::store::crc32c;
using creditd::store::crc32c_portable;

namespace {

// Every field set to a value of its own, none the default.
ledger::change_set full_set(const ledger::account* a, const ledger::account* b) {
  ledger::change_set c;
  {
    ledger::entry e;
    e.seq = 41;
    e.type = ledger::entry_type::capture;
    e.owner = a;
    e.amount = -7;
    e.balance_after = 1'000'001;
    e.quantity = 3;
    e.lot_id = 11;
    e.charge_id = 12;
    e.hold_id = 13;
    e.refund_id = 14;
    e.parts = {{15, 16}, {0, 17}, {18, 19}};
    e.operation = "image.generate";
    e.dimensions = R"({"model":"m"})";
    e.reference = "ref";
    e.reason = "why";
    e.metadata = R"({"job":1})";
    e.price_id = "p1";
    e.unit_amount = 20;
    e.created_at = -21;
    c.entries.push_back(e);
    e.seq = 42;
    e.owner = b;
    e.type = ledger::entry_type::void_lot;
    e.parts = {};
    c.entries.push_back(e);
  }
  {
    ledger::account_row r;
    r.id = "alice";
    r.name = "Alice \xff\x00 bin";
    r.name.push_back('\0');
    r.settings.low_balance_thresholds = {1, 2, 3};
    r.settings.reserve = 4;
    r.settings.postpaid_limit = 5;
    r.settings.rate_limit_per_minute = 6;
    r.settings.max_open_holds = 7;
    r.settings.expiring_soon_days = 8;
    r.settings.auto_topup = ledger::auto_topup_settings{9, "pkg", 10};
    r.created_at = 11;
    r.updated_at = 12;
    r.postpaid_used = 13;
    r.postpaid_period = 14;
    r.topup = {false, 15, 16};
    c.accounts.push_back(r);
    r.id = "bob";
    r.settings.auto_topup.reset();
    c.accounts.push_back(r);
  }
  {
    ledger::lot l;
    l.id = 21;
    l.owner = a;
    l.kind = ledger::lot_kind::promo;
    l.status = ledger::lot_status::depleted;
    l.priority = -22;
    l.amount = 23;
    l.remaining = 24;
    l.held = 25;
    l.spent = 26;
    l.expired = 27;
    l.voided = 28;
    l.effective_at = 29;
    l.expires_at = ledger::no_expiry;
    l.created_at = 30;
    l.scope = {"image.*", "", "llm.tokens"};
    l.source = "purchase";
    l.reason = "r";
    l.cost_basis = 31;
    l.currency = "eur";
    c.lots.push_back(l);
  }
  {
    ledger::hold h;
    h.id = 31;
    h.owner = b;
    h.status = ledger::hold_status::captured;
    h.amount = 32;
    h.captured = 33;
    h.parts = {{34, 35}};
    h.quantity = 36;
    h.operation = "op";
    h.dimensions = "dims";
    h.reference = "ref";
    h.metadata = "meta";
    h.price_id = "price";
    h.unit_amount = 37;
    h.created_at = 38;
    h.expires_at = 39;
    h.closed_at = 40;
    h.charge_id = 41;
    h.postpaid_period = 42;
    c.holds.push_back(h);
  }
  {
    ledger::charge_record ch;
    ch.id = 51;
    ch.owner = a;
    ch.amount = 52;
    ch.refunded = 53;
    ch.parts = {{54, 55, 56}, {0, 57, 58}, {59, 60, 61}};
    ch.created_at = 62;
    ch.hold_id = 63;
    ch.postpaid_period = 64;
    c.charges.push_back(ch);
  }
  c.idempotency_added.push_back({"key", "fp", 409, R"({"body":true})", 71});
  c.prices.push_back({"p1", "image.generate", {{"model", "m"}, {"size", "9"}}, 72, 73, 74});
  c.prices_deleted = {"p0", "p-1"};
  c.packages.push_back({"pkg", 75, 76, "usd", 77, 78, 79});
  c.plans.push_back({"pro", 81, ledger::period_unit::year, 82, 83, 84});
  c.plans.push_back({"free", 85, ledger::period_unit::month, std::nullopt, 86, 87});
  {
    ledger::subscription s;
    s.owner = b;
    s.plan = "pro";
    s.next_plan = "free";
    s.timezone = "Europe/Paris";
    s.anchor = {2027, 2, 28};
    s.start_at = 91;
    s.period_index = 92;
    s.period_start = 93;
    s.period_end = 94;
    s.lot_id = 95;
    s.cancel_at_period_end = true;
    s.status = ledger::subscription_status::canceled;
    s.created_at = 96;
    s.updated_at = 97;
    c.subscriptions.push_back(s);
  }
  c.purchases.push_back({101, "alice", "pkg", 102, 103, 104, "usd", ledger::purchase_source::stripe,
                         "evt_1", "r", 105});
  c.periods.push_back({"bob", 111, "pro", 112, 113, 114, 115, 116, 117});
  c.idempotency_expired_before = 121;
  c.time_seen = 122;
  c.next_object_id = 123;
  c.next_seq = 124;
  c.events.push_back(
      {125, ledger::event_type::balance_low, a, -126, R"({"threshold":"1","x":"\u0000"})"});
  c.events.push_back({127, ledger::event_type::charge_refused, b, 128, ""});
  // An event of no account.
  c.events.push_back({128, ledger::event_type::webhook_endpoint_disabled, nullptr, 129,
                      R"({"endpoint":"h","disabled_reason":"failing for 3 days"})"});
  c.notices_until = 129;
  return c;
}

#define SAME(field) EXPECT_EQ(x.field, y.field) << #field

void expect_same(const ledger::entry& x, const ledger::entry& y) {
  SAME(seq);
  SAME(type);
  SAME(owner->id);
  SAME(amount);
  SAME(balance_after);
  SAME(quantity);
  SAME(lot_id);
  SAME(charge_id);
  SAME(hold_id);
  SAME(refund_id);
  SAME(operation);
  SAME(dimensions);
  SAME(reference);
  SAME(reason);
  SAME(metadata);
  SAME(price_id);
  SAME(unit_amount);
  SAME(created_at);
  ASSERT_EQ(x.parts.size(), y.parts.size());
  for (std::size_t i = 0; i < x.parts.size(); ++i)
    SAME(parts[i]);
}
void expect_same(const ledger::account_row& x, const ledger::account_row& y) {
  SAME(id);
  SAME(name);
  SAME(settings);
  SAME(created_at);
  SAME(updated_at);
  SAME(postpaid_used);
  SAME(postpaid_period);
  SAME(topup);
}
void expect_same(const ledger::lot& x, const ledger::lot& y) {
  SAME(id);
  SAME(owner->id);
  SAME(kind);
  SAME(status);
  SAME(priority);
  SAME(amount);
  SAME(remaining);
  SAME(held);
  SAME(spent);
  SAME(expired);
  SAME(voided);
  SAME(effective_at);
  SAME(expires_at);
  SAME(created_at);
  SAME(scope);
  SAME(source);
  SAME(reason);
  SAME(cost_basis);
  SAME(currency);
}
void expect_same(const ledger::hold& x, const ledger::hold& y) {
  SAME(id);
  SAME(owner->id);
  SAME(status);
  SAME(amount);
  SAME(captured);
  SAME(quantity);
  SAME(operation);
  SAME(dimensions);
  SAME(reference);
  SAME(metadata);
  SAME(price_id);
  SAME(unit_amount);
  SAME(created_at);
  SAME(expires_at);
  SAME(closed_at);
  SAME(charge_id);
  SAME(postpaid_period);
  ASSERT_EQ(x.parts.size(), y.parts.size());
  for (std::size_t i = 0; i < x.parts.size(); ++i)
    SAME(parts[i]);
}
void expect_same(const ledger::charge_record& x, const ledger::charge_record& y) {
  SAME(id);
  SAME(owner->id);
  SAME(amount);
  SAME(refunded);
  SAME(created_at);
  SAME(hold_id);
  SAME(postpaid_period);
  ASSERT_EQ(x.parts.size(), y.parts.size());
  for (std::size_t i = 0; i < x.parts.size(); ++i)
    SAME(parts[i]);
}
void expect_same(const ledger::idempotency_record& x, const ledger::idempotency_record& y) {
  SAME(key);
  SAME(fingerprint);
  SAME(status);
  SAME(body);
  SAME(created_at);
}
void expect_same(const ledger::price& x, const ledger::price& y) {
  SAME(id);
  SAME(operation);
  SAME(dimensions);
  SAME(unit_amount);
  SAME(created_at);
  SAME(updated_at);
}
void expect_same(const ledger::package& x, const ledger::package& y) {
  SAME(id);
  SAME(credits);
  SAME(price);
  SAME(currency);
  SAME(validity_days);
  SAME(created_at);
  SAME(updated_at);
}
void expect_same(const ledger::plan& x, const ledger::plan& y) {
  SAME(id);
  SAME(credits_per_period);
  SAME(period);
  SAME(rollover_cap);
  SAME(created_at);
  SAME(updated_at);
}
void expect_same(const ledger::subscription& x, const ledger::subscription& y) {
  SAME(owner->id);
  SAME(plan);
  SAME(next_plan);
  SAME(timezone);
  SAME(anchor);
  SAME(start_at);
  SAME(period_index);
  SAME(period_start);
  SAME(period_end);
  SAME(lot_id);
  SAME(cancel_at_period_end);
  SAME(status);
  SAME(created_at);
  SAME(updated_at);
}
void expect_same(const ledger::purchase& x, const ledger::purchase& y) {
  SAME(id);
  SAME(account);
  SAME(package);
  SAME(lot_id);
  SAME(credits);
  SAME(price);
  SAME(currency);
  SAME(source);
  SAME(external_id);
  SAME(reason);
  SAME(created_at);
}
void expect_same(const ledger::event& x, const ledger::event& y) {
  SAME(seq);
  SAME(type);
  ASSERT_EQ(x.owner == nullptr, y.owner == nullptr);
  if (x.owner != nullptr) {
    EXPECT_EQ(x.owner->id, y.owner->id);
  }
  SAME(created_at);
  SAME(data);
}
void expect_same(const ledger::subscription_period& x, const ledger::subscription_period& y) {
  SAME(account);
  SAME(index);
  SAME(plan);
  SAME(lot_id);
  SAME(granted);
  SAME(rolled_over);
  SAME(rollover_lot_id);
  SAME(starts_at);
  SAME(ends_at);
}

template <typename T>
void expect_rows(const std::vector<T>& x, const std::vector<T>& y, const char* what) {
  ASSERT_EQ(x.size(), y.size()) << what;
  for (std::size_t i = 0; i < x.size(); ++i) {
    SCOPED_TRACE(std::string(what) + " " + std::to_string(i));
    expect_same(x[i], y[i]);
  }
}

void expect_same_set(const ledger::change_set& x, const ledger::change_set& y) {
  expect_rows(x.entries, y.entries, "entries");
  expect_rows(x.accounts, y.accounts, "accounts");
  expect_rows(x.lots, y.lots, "lots");
  expect_rows(x.holds, y.holds, "holds");
  expect_rows(x.charges, y.charges, "charges");
  expect_rows(x.idempotency_added, y.idempotency_added, "idempotency");
  expect_rows(x.prices, y.prices, "prices");
  SAME(prices_deleted);
  expect_rows(x.packages, y.packages, "packages");
  expect_rows(x.plans, y.plans, "plans");
  expect_rows(x.subscriptions, y.subscriptions, "subscriptions");
  expect_rows(x.purchases, y.purchases, "purchases");
  expect_rows(x.periods, y.periods, "periods");
  SAME(idempotency_expired_before);
  SAME(time_seen);
  SAME(next_object_id);
  SAME(next_seq);
  expect_rows(x.events, y.events, "events");
  SAME(notices_until);
}

struct owners {
  ledger::account a, b;
  owners() {
    a.id = "alice";
    b.id = "bob";
  }
};

}  // namespace

TEST(log_codec, crc32c_has_its_check_value_on_both_paths) {
  EXPECT_EQ(crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(crc32c_portable("123456789"), 0xE3069283u);
  EXPECT_EQ(crc32c(""), 0u);
  std::mt19937_64 rng(7);
  std::string s;
  for (int n = 0; n < 300; ++n) {
    EXPECT_EQ(crc32c(s), crc32c_portable(s)) << n;
    // Extending piecewise equals the whole.
    EXPECT_EQ(crc32c(s.substr(n / 3), crc32c(s.substr(0, n / 3))), crc32c(s)) << n;
    s.push_back(static_cast<char>(rng()));
  }
}

TEST(log_codec, every_field_of_every_row_round_trips) {
  owners o;
  const ledger::change_set c = full_set(&o.a, &o.b);
  std::string bytes;
  encode_change_set(bytes, c);
  owner_arena arena;
  auto back = decode_change_sets(bytes, arena);
  ASSERT_TRUE(back.has_value()) << back.error();
  ASSERT_EQ(back->size(), 1u);
  expect_same_set(c, (*back)[0]);
  // Owners resolve to one stand-in per id, not to the originals.
  EXPECT_EQ(arena.size(), 2u);
  EXPECT_NE((*back)[0].entries[0].owner, &o.a);
  EXPECT_EQ((*back)[0].entries[0].owner, (*back)[0].lots[0].owner);
  // Re-encoding gives the same bytes.
  std::string again;
  encode_change_set(again, (*back)[0]);
  EXPECT_EQ(again, bytes);
}

// ledger::pending_bytes, by which the engine bounds a change set, is never
// below what the set takes encoded, whatever the commands carry: charges
// over 1,000 lots (a part each), their refunds, holds over them and their
// release, texts at their limits, a lot's scope of 64 operations, prices of
// 32 long dimensions, idempotency records with large bodies and events.
TEST(log_codec, pending_bytes_is_never_below_the_encoded_set) {
  using ledger::micros;
  constexpr ledger::time_us now = 1'795'000'000LL * ledger::us_per_second;
  ledger::ledger l;
  auto check = [&](const char* what) {
    const std::size_t estimate = l.pending_bytes();
    const ledger::change_set c = l.take_changes();
    std::string bytes;
    encode_change_set(bytes, c);
    EXPECT_GE(estimate, bytes.size()) << what;
    EXPECT_LE(estimate, 32 * bytes.size() + 65536) << what << ": far above, sets close too early";
  };
  ASSERT_TRUE(l.put_account({"many", std::nullopt, std::nullopt}, now).has_value());
  for (int i = 0; i < 1000; ++i)
    ASSERT_TRUE(l.grant({.account = "many", .amount = 1}, now).has_value());
  check("1,000 grants");
  std::vector<ledger::object_id> charges;
  // Each lot row counts once a set; the parts of every cycle count again.
  for (int i = 0; i < 200; ++i) {
    auto ch = l.charge({"many", 1000, "op", "", "", false}, now);
    ASSERT_TRUE(ch.has_value());
    charges.push_back((*ch)->id);
    ASSERT_TRUE(l.refund({.charge_id = (*ch)->id}, now).has_value());
  }
  check("charges and refunds of 1,000 parts");
  for (int i = 0; i < 200; ++i) {
    ledger::hold_cmd h;
    h.account = "many";
    h.amount = 1000;
    h.operation = "op";
    auto held = l.place_hold(h, now);
    ASSERT_TRUE(held.has_value());
    ASSERT_TRUE(l.release((*held)->id, now).has_value());
  }
  check("holds and releases of 1,000 parts");
  const std::string text(4000, 'x');
  ASSERT_TRUE(l.put_account({"big", std::string(256, 'n'), std::nullopt}, now).has_value());
  ledger::grant_cmd g{.account = "big", .amount = 1'000'000'000};
  for (int i = 0; i < 63; ++i)
    g.scope.push_back("op" + std::string(100, static_cast<char>('a' + i % 26)) + std::to_string(i));
  g.scope.push_back("x");
  ASSERT_TRUE(l.grant(g, now).has_value());
  for (int i = 0; i < 50; ++i) {
    ledger::charge_cmd ch{"big", 1, "x", "{\"d\":\"" + text + "\"}", std::string(512, 'r'), false};
    ch.metadata = "{\"m\":\"" + text + "\"}";
    ASSERT_TRUE(l.charge(ch, now).has_value());
    l.idempotency_remember({"key-" + std::to_string(i) + std::string(240, 'k'),
                            std::string(64, 'f'), 201, std::string(100'000, 'b'), now});
  }
  check("texts at their limits, large recorded replies");
  for (int i = 0; i < 20; ++i) {
    ledger::price_cmd p{.id = "price-" + std::to_string(i), .operation = "op"};
    for (int d = 0; d < 32; ++d)
      p.dimensions.push_back(
          {std::string(60, 'k') + std::to_string(d), std::string(250, 'v') + std::to_string(i)});
    ASSERT_TRUE(l.put_price(p, now).has_value());
  }
  check("prices of 32 long dimensions");
}

// Many owners (past a block, the table's growth and what reset() keeps):
// one stand-in per id, found again by id, and after reset() a new batch
// starts empty, its stand-ins holding their own ids.
TEST(log_codec, the_owner_arena_interns_many_owners_and_starts_over) {
  owner_arena arena;
  constexpr std::size_t n = owner_arena::retained_max + 3 * owner_arena::block_accounts + 7;
  for (int round = 0; round < 3; ++round) {
    std::vector<const ledger::account*> first(n);
    for (std::size_t i = 0; i < n; ++i) {
      first[i] = arena.intern("acct-" + std::to_string(round) + "-" + std::to_string(i));
      ASSERT_EQ(first[i]->id, "acct-" + std::to_string(round) + "-" + std::to_string(i));
    }
    EXPECT_EQ(arena.size(), n);
    // In reverse (past the last-one shortcut): the same stand-ins.
    for (std::size_t i = n; i-- > 0;)
      ASSERT_EQ(arena.intern("acct-" + std::to_string(round) + "-" + std::to_string(i)), first[i]);
    EXPECT_EQ(arena.size(), n);
    arena.reset();
    EXPECT_EQ(arena.size(), 0u);
    const ledger::account* again = arena.intern("acct-" + std::to_string(round) + "-0");
    EXPECT_EQ(again->id, "acct-" + std::to_string(round) + "-0");
    EXPECT_TRUE(again->lots.empty());
    EXPECT_EQ(arena.size(), 1u);
    arena.reset();
  }
}

TEST(log_codec, several_sets_and_an_empty_one_round_trip) {
  owners o;
  const ledger::change_set full = full_set(&o.a, &o.b), empty;
  const ledger::change_set* sets[] = {&full, &empty, &full};
  std::string bytes;
  encode_change_sets(bytes, sets);
  owner_arena arena;
  auto back = decode_change_sets(bytes, arena);
  ASSERT_TRUE(back.has_value()) << back.error();
  ASSERT_EQ(back->size(), 3u);
  expect_same_set(full, (*back)[0]);
  expect_same_set(empty, (*back)[1]);
  expect_same_set(full, (*back)[2]);
  EXPECT_TRUE((*back)[1].empty());
}

// Decoding into sets that hold an earlier decode (as the applier does, part
// after part): every field is the new record's, nothing of the old left,
// whatever the old held (a full set, an empty one, events a version 1
// record lacks); the sets grow when a record holds more of them.
TEST(log_codec, decoding_into_used_sets_leaves_nothing_of_what_they_held) {
  owners o;
  const ledger::change_set full = full_set(&o.a, &o.b), empty;
  ledger::change_set other = full_set(&o.b, &o.a);
  for (ledger::entry& e : other.entries)
    e.amount += 7;
  other.lots.pop_back();
  ledger::change_set no_events = full;
  no_events.events.clear();
  no_events.notices_until = 0;
  std::string v1;
  encode_change_set_v2(v1, no_events);
  v1.resize(v1.size() - 12);  // version 1: version 2 without the events' count and notices_until
  v1[0] = 1;
  struct record {
    std::string bytes;
    std::vector<const ledger::change_set*> sets;
  };
  auto make = [](std::vector<const ledger::change_set*> sets) {
    record r{{}, sets};
    encode_change_sets(r.bytes, sets);
    return r;
  };
  const record records[] = {make({&full, &full}), make({&empty}),     make({&other, &full, &empty}),
                            make({&full}),        {v1, {&no_events}}, make({&other})};
  owner_arena arena;
  std::vector<ledger::change_set> sets;
  for (const std::size_t first : {std::size_t{0}, std::size_t{1}}) {
    for (const record& r : records) {
      arena.reset();
      const std::size_t at = std::min(first, sets.size());
      auto n = decode_change_sets_into(r.bytes, arena, sets, at);
      ASSERT_TRUE(n.has_value()) << n.error();
      ASSERT_EQ(*n, r.sets.size());
      ASSERT_GE(sets.size(), at + *n);
      for (std::size_t i = 0; i < *n; ++i)
        expect_same_set(*r.sets[i], sets[at + i]);
    }
  }
}

TEST(log_codec, every_truncation_is_refused) {
  owners o;
  std::string bytes;
  encode_change_set(bytes, full_set(&o.a, &o.b));
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    owner_arena arena;
    auto r = decode_change_sets(std::string_view(bytes).substr(0, n), arena);
    EXPECT_FALSE(r.has_value()) << "a prefix of " << n << " bytes decoded";
  }
  owner_arena arena;
  auto longer = decode_change_sets(bytes + "x", arena);
  ASSERT_FALSE(longer.has_value());
  EXPECT_NE(longer.error().find("left over"), std::string::npos) << longer.error();
}

TEST(log_codec, a_forged_count_or_version_or_name_is_refused) {
  owners o;
  std::string bytes;
  encode_change_set(bytes, full_set(&o.a, &o.b));
  owner_arena arena;
  {
    std::string v = bytes;
    v[0] = 4;
    auto r = decode_change_sets(v, arena);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().find("version 4"), std::string::npos) << r.error();
    v[0] = 0;
    r = decode_change_sets(v, arena);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().find("version 0"), std::string::npos) << r.error();
  }
  {
    // The count of sets, then the count of entries (one-byte varints at 1
    // and 2), at 2^32 - 1: refused before any allocation of that size.
    ASSERT_EQ(bytes[1], 1);
    ASSERT_EQ(bytes[2], 2);
    for (std::size_t at : {std::size_t{1}, std::size_t{2}}) {
      std::string v = bytes;
      v.replace(at, 1, "\xff\xff\xff\xff\x0f");
      auto r = decode_change_sets(v, arena);
      ASSERT_FALSE(r.has_value());
      EXPECT_NE(r.error().find("past the end"), std::string::npos) << r.error();
    }
    // A count past 32 bits, and a varint past 64.
    std::string v = bytes;
    v.replace(2, 1, "\xff\xff\xff\xff\x1f");
    auto r = decode_change_sets(v, arena);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().find("a 32-bit field"), std::string::npos) << r.error();
    v = bytes;
    v.replace(2, 1, std::string(9, '\xff') + "\x02");
    r = decode_change_sets(v, arena);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().find("past 64 bits"), std::string::npos) << r.error();
  }
  {
    // The same in version 2's fixed-width counts, at bytes 1 and 5.
    std::string v2;
    encode_change_set_v2(v2, full_set(&o.a, &o.b));
    for (std::size_t at : {std::size_t{1}, std::size_t{5}}) {
      std::string v = v2;
      v.replace(at, 4, "\xff\xff\xff\xff");
      auto r = decode_change_sets(v, arena);
      ASSERT_FALSE(r.has_value());
      EXPECT_NE(r.error().find("past the end"), std::string::npos) << r.error();
    }
  }
  {
    // The first entry's type is "capture": any other spelling is unknown.
    std::string v = bytes;
    const std::size_t at = v.find("capture");
    ASSERT_NE(at, std::string::npos);
    v[at] = 'k';
    auto r = decode_change_sets(v, arena);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().find("unknown entry type"), std::string::npos) << r.error();
  }
  {
    // An entry owned by "" (its id's length set to zero, its bytes kept:
    // then the rest misparses too; the first problem is what is named).
    ledger::change_set c;
    ledger::account none;
    ledger::entry e;
    e.owner = &none;
    c.entries.push_back(e);
    std::string v;
    encode_change_set(v, c);
    auto r = decode_change_sets(v, arena);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().find("empty owner"), std::string::npos) << r.error();
  }
}

// A log written before events (codec version 1: a set ends with its
// counters) is still read, as sets without events.
TEST(log_codec, a_version_1_record_is_still_read) {
  owners o;
  ledger::change_set c = full_set(&o.a, &o.b);
  c.events.clear();
  c.notices_until = 0;
  std::string v2;
  encode_change_set_v2(v2, c);
  ASSERT_EQ(v2[0], 2);
  // Version 1 is version 2 without the trailing event count (0) and
  // notices_until (0): 4 + 8 bytes.
  ASSERT_EQ(v2.substr(v2.size() - 12), std::string(12, '\0'));
  std::string v1 = v2.substr(0, v2.size() - 12);
  v1[0] = 1;
  owner_arena arena;
  auto back = decode_change_sets(v1, arena);
  ASSERT_TRUE(back.has_value()) << back.error();
  ASSERT_EQ(back->size(), 1u);
  expect_same_set(c, (*back)[0]);
  // The same bytes read as version 2 lack the events: refused.
  v1[0] = 2;
  EXPECT_FALSE(decode_change_sets(v1, arena).has_value());
}

// A log written before varints (codec version 2, fixed-width integers) is
// still read, every field; the same set in version 3 is shorter.
TEST(log_codec, a_version_2_record_is_still_read) {
  owners o;
  const ledger::change_set c = full_set(&o.a, &o.b);
  std::string v2, v3;
  encode_change_set_v2(v2, c);
  encode_change_set(v3, c);
  ASSERT_EQ(v2[0], 2);
  ASSERT_EQ(v3[0], 3);
  owner_arena arena;
  auto back = decode_change_sets(v2, arena);
  ASSERT_TRUE(back.has_value()) << back.error();
  ASSERT_EQ(back->size(), 1u);
  expect_same_set(c, (*back)[0]);
  EXPECT_LT(v3.size(), v2.size());
  // Read as version 3, version 2's bytes do not pass.
  v2[0] = 3;
  EXPECT_FALSE(decode_change_sets(v2, arena).has_value());
}

// Integers at their extremes round-trip through the varints (and through
// version 2): the largest take ten bytes, negative ones zigzag.
TEST(log_codec, integers_at_their_extremes_round_trip) {
  owners o;
  ledger::change_set c = full_set(&o.a, &o.b);
  constexpr std::int64_t lo = std::numeric_limits<std::int64_t>::min();
  constexpr std::int64_t hi = std::numeric_limits<std::int64_t>::max();
  constexpr std::uint64_t top = std::numeric_limits<std::uint64_t>::max();
  ledger::entry& e = c.entries[0];
  e.seq = top;
  e.amount = lo;
  e.balance_after = hi;
  e.quantity = -1;
  e.lot_id = 0;
  e.charge_id = std::uint64_t{1} << 63;
  e.parts = {{top, lo}, {1, hi}};
  e.unit_amount = 0;
  e.created_at = -1;
  c.lots[0].priority = std::numeric_limits<std::int32_t>::min();
  c.lots[0].remaining = hi;
  c.next_seq = top;
  c.time_seen = lo;
  for (bool v3 : {true, false}) {
    SCOPED_TRACE(v3 ? "version 3" : "version 2");
    std::string bytes;
    if (v3)
      encode_change_set(bytes, c);
    else
      encode_change_set_v2(bytes, c);
    owner_arena arena;
    auto back = decode_change_sets(bytes, arena);
    ASSERT_TRUE(back.has_value()) << back.error();
    ASSERT_EQ(back->size(), 1u);
    expect_same_set(c, (*back)[0]);
  }
}

// What the log writes for one spread charge (its entry, its lot's new
// state and its charge row, with values of their real size): version 3
// takes at most 55% of version 2's bytes.
TEST(log_codec, a_spread_charge_takes_about_half_the_bytes_of_version_2) {
  ledger::account acct;
  acct.id = "acct-12345";
  constexpr std::int64_t now = 1'796'000'000'000'000;  // 2026, in microseconds
  ledger::change_set c;
  ledger::entry e;
  e.seq = 12'345'678;
  e.type = ledger::entry_type::charge;
  e.owner = &acct;
  e.amount = -1'000'000;
  e.balance_after = 998'765'000'000'000;
  e.quantity = 1'000'000;
  e.charge_id = 23'456'789;
  e.parts = {{12'345, 1'000'000}};
  e.operation = "image.generate";
  e.dimensions = "{}";
  e.reference = "w1-17-123456";
  e.created_at = now;
  c.entries.push_back(e);
  ledger::lot l;
  l.id = 12'345;
  l.owner = &acct;
  l.kind = ledger::lot_kind::prepaid;
  l.status = ledger::lot_status::active;
  l.amount = 1'000'000'000'000'000;
  l.remaining = 998'765'000'000'000;
  l.spent = 1'235'000'000'000;
  l.effective_at = now - 86'400'000'000;
  l.expires_at = std::numeric_limits<std::int64_t>::max();
  l.created_at = now - 86'400'000'000;
  l.source = "grant";
  l.currency = "usd";
  c.lots.push_back(l);
  ledger::charge_record ch;
  ch.id = 23'456'789;
  ch.owner = &acct;
  ch.amount = 1'000'000;
  ch.parts = {{12'345, 1'000'000, 0}};
  ch.created_at = now;
  c.charges.push_back(ch);
  c.next_object_id = 23'456'790;
  c.next_seq = 12'345'679;
  c.time_seen = now;
  std::string v2, v3;
  encode_change_set_v2(v2, c);
  encode_change_set(v3, c);
  EXPECT_LE(v3.size() * 100, v2.size() * 55) << v3.size() << " against " << v2.size();
  owner_arena arena;
  auto back = decode_change_sets(v3, arena);
  ASSERT_TRUE(back.has_value()) << back.error();
  expect_same_set(c, (*back)[0]);
}

TEST(log_codec, random_damage_never_crashes) {
  owners o;
  std::string bytes;
  encode_change_set(bytes, full_set(&o.a, &o.b));
  std::mt19937_64 rng(12);
  int refused = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string v = bytes;
    for (int k = 0; k < 1 + static_cast<int>(rng() % 4); ++k)
      v[rng() % v.size()] = static_cast<char>(rng());
    owner_arena arena;
    if (!decode_change_sets(v, arena)) ++refused;
  }
  // Most damage lands in a length, a count or a name; some lands in an
  // integer and decodes (the log's CRC is what catches that).
  EXPECT_GT(refused, 0);
}
}  // namespace log_codec_test_cpp
