// GET /v1/accounts/{id}/balance?at=TIME against the balances observed as
// they happened: on the test clock, each step (grant, expiry, hold, release,
// capture, charge, refund, postpaid use, a settings change) is followed by a
// live balance read at a known instant; then `?at=` each of those instants
// must give what was read then. The contract (GET /openapi.json): "the
// balance as of a past instant, replayed from the journal (settings as they
// are now)".
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "http_fixture.hpp"

namespace balance_at_test_cpp {  // unity builds: tests/CMakeLists.txt

using namespace creditd::testing;

namespace {

// "12.5" -> 12500000 micro-credits (the API's decimal strings, up to 6 digits).
std::int64_t to_micros(const std::string& s) {
  std::size_t i = 0;
  const bool negative = !s.empty() && s[0] == '-';
  if (negative) ++i;
  std::int64_t whole = 0, frac = 0;
  for (; i < s.size() && s[i] != '.'; ++i)
    whole = whole * 10 + (s[i] - '0');
  int digits = 0;
  if (i < s.size()) {
    for (++i; i < s.size(); ++i, ++digits)
      frac = frac * 10 + (s[i] - '0');
  }
  for (; digits < 6; ++digits)
    frac *= 10;
  const std::int64_t v = whole * 1'000'000 + frac;
  return negative ? -v : v;
}

// The fields of a balance that `?at=` replays, as one comparable string;
// lots by id (the live balance lists them in consumption order, `?at=` in
// the order they were granted).
std::string replayed_fields(const bj::value& b) {
  std::string out = "available " + str(b, "available") + ", held " + str(b, "held") +
                    ", postpaid_used " + str(b, "postpaid_used") + ", lots [";
  std::vector<std::string> lots;
  for (const auto& l : b.at("lots").as_array())
    lots.push_back(str(l, "id") + ":" + str(l, "remaining") + "/" + str(l, "held"));
  std::sort(lots.begin(), lots.end());
  for (const auto& l : lots)
    out += l + " ";
  return out + "]";
}

// The remaining of lot `id` in a balance, or -1 when it is not listed.
std::int64_t lot_remaining(const bj::value& b, const std::string& id) {
  for (const auto& l : b.at("lots").as_array()) {
    if (str(l, "id") == id) return to_micros(str(l, "remaining"));
  }
  return -1;
}

struct observed {
  std::string what;
  std::int64_t at = 0;
  bj::value balance;
};

std::string balance_at_target(const std::string& account, std::int64_t at) {
  return "/v1/accounts/" + account + "/balance?at=" + format_time(at);
}

}  // namespace

TEST(http_balance_at, replays_expiry_holds_captures_charges_refunds_and_postpaid) {
  live_server srv({"--test-clock"});
  http_client c(srv.port(), admin_key);
  const std::int64_t before_account = clock_now(c);
  advance(c, 10);
  put_account(c, "a", R"({"settings":{"postpaid_limit":"20"}})");
  std::vector<observed> seen;
  auto observe = [&](const std::string& what) {
    seen.push_back({what, clock_now(c), balance(c, "a")});
    advance(c, 10);  // the next step happens strictly later
  };
  observe("created, nothing granted");
  grant(c, "a", "100", "prepaid");
  const std::int64_t expires = clock_now(c) + 25 * us_per_second;
  const std::string promo =
      grant(c, "a", "30", "promo", "\"expires_at\":\"" + format_time(expires) + "\"");
  observe("two lots");
  const std::string hold1 = field(
      expect(c.post("/v1/accounts/a/holds", R"({"operation":"x","amount":"7"})"), 201, "hold"),
      "id");
  observe("a hold of 7");
  {
    // The promo lot expires inside the window: its expiry entry has the
    // expiry's instant.
    const std::int64_t now = clock_now(c);
    if (now <= expires) advance(c, (expires - now) / us_per_second + 1);
  }
  observe("after the promo lot's expiry");
  expect(c.post("/v1/holds/" + hold1 + "/release"), 200, "release");
  observe("hold released");
  const std::string hold2 = field(
      expect(c.post("/v1/accounts/a/holds", R"({"operation":"x","amount":"9"})"), 201, "hold"),
      "id");
  observe("a hold of 9");
  expect(c.post("/v1/holds/" + hold2 + "/capture", R"({"amount":"4"})"), 200, "capture");
  observe("4 of it captured");
  const std::string ch = str(charge(c, "a", "12"), "id");
  observe("a charge of 12");
  expect(c.post("/v1/charges/" + ch + "/refund", R"({"amount":"5"})"), 201, "refund");
  observe("5 refunded");
  charge(c, "a", "95");  // 89 left in lots: 6 postpaid
  observe("postpaid used");

  // Each instant replayed: the same as read then.
  for (const observed& o : seen) {
    auto r = c.get(balance_at_target("a", o.at));
    ASSERT_EQ(r.status, 200u) << o.what << ": " << r.body;
    EXPECT_EQ(replayed_fields(r.json()), replayed_fields(o.balance)) << o.what;
    EXPECT_EQ(str(r.json(), "as_of"), format_time(o.at)) << o.what;
  }
  // Between two steps the balance is the earlier one's (nothing happened).
  for (std::size_t i = 0; i + 1 < seen.size(); ++i) {
    auto r = c.get(balance_at_target("a", seen[i].at + 5 * us_per_second));
    ASSERT_EQ(r.status, 200u) << r.body;
    EXPECT_EQ(replayed_fields(r.json()), replayed_fields(seen[i].balance)) << seen[i].what;
  }
  // The expiry is at its instant: one microsecond before it the promo lot's
  // remaining (30 less the 7 held from it) counts, at it nothing of the lot.
  {
    auto just_before = c.get(balance_at_target("a", expires - 1)).json();
    auto at_expiry = c.get(balance_at_target("a", expires)).json();
    EXPECT_EQ(lot_remaining(just_before, promo), to_micros("23")) << replayed_fields(just_before);
    EXPECT_EQ(lot_remaining(at_expiry, promo), -1) << replayed_fields(at_expiry);
    EXPECT_EQ(to_micros(str(just_before, "available")) - to_micros(str(at_expiry, "available")),
              to_micros("23"))
        << replayed_fields(just_before) << " / " << replayed_fields(at_expiry);
  }

  // A settings change: it is journaled (a settings entry), so every past
  // instant keeps the settings it had, and only instants after the change
  // have the new reserve.
  put_account(c, "a", R"({"settings":{"postpaid_limit":"20","reserve":"3"}})");
  for (const observed& o : seen) {
    auto r = c.get(balance_at_target("a", o.at));
    ASSERT_EQ(r.status, 200u) << r.body;
    EXPECT_EQ(replayed_fields(r.json()), replayed_fields(o.balance)) << o.what;
    EXPECT_EQ(str(r.json(), "reserve"), "0") << o.what;
  }
  {
    const std::int64_t changed = clock_now(c);
    const bj::value now = balance(c, "a");
    EXPECT_EQ(str(now, "reserve"), "3");
    advance(c, 10);
    auto r = c.get(balance_at_target("a", changed));
    ASSERT_EQ(r.status, 200u) << r.body;
    EXPECT_EQ(replayed_fields(r.json()), replayed_fields(now)) << r.body;
    // Just before it: the last observed balance, without the reserve.
    r = c.get(balance_at_target("a", changed - 1));
    ASSERT_EQ(r.status, 200u) << r.body;
    EXPECT_EQ(replayed_fields(r.json()), replayed_fields(seen.back().balance)) << r.body;
  }

  // Before the account existed: it had nothing (no lots, nothing held or used).
  {
    auto r = c.get(balance_at_target("a", before_account));
    ASSERT_EQ(r.status, 200u) << r.body;
    const bj::value b = r.json();
    EXPECT_TRUE(b.at("lots").as_array().empty()) << r.body;
    EXPECT_EQ(str(b, "held"), "0");
    EXPECT_EQ(str(b, "postpaid_used"), "0");
  }
}

TEST(http_balance_at, before_the_account_existed_and_in_the_future) {
  live_server srv({"--test-clock"});
  http_client c(srv.port(), admin_key);
  const std::int64_t before = clock_now(c);
  advance(c, 60);
  put_account(c, "b");
  grant(c, "b", "10");
  // Before it existed: nothing to spend, no lots.
  {
    auto r = c.get(balance_at_target("b", before));
    ASSERT_EQ(r.status, 200u) << r.body;
    const bj::value v = r.json();
    EXPECT_EQ(str(v, "available"), "0") << r.body;
    EXPECT_EQ(str(v, "held"), "0");
    EXPECT_TRUE(v.at("lots").as_array().empty()) << r.body;
    EXPECT_EQ(str(v, "as_of"), format_time(before));
  }
  // An account that does not exist now is 404 at any instant.
  EXPECT_EQ(c.get(balance_at_target("nobody", before)).status, 404u);
  // A future instant cannot be replayed: the server answers the live
  // balance, as of now (never as of the future instant, whose balance is
  // not known yet: later charges would change it).
  {
    const std::int64_t now = clock_now(c);
    const std::int64_t future = now + 3600 * us_per_second;
    auto r = c.get(balance_at_target("b", future));
    ASSERT_EQ(r.status, 200u) << r.body;
    const bj::value v = r.json();
    EXPECT_EQ(str(v, "available"), "10");
    EXPECT_NE(str(v, "as_of"), format_time(future)) << r.body;
    EXPECT_EQ(parse_time(str(v, "as_of")), now) << r.body;
    EXPECT_EQ(replayed_fields(v), replayed_fields(balance(c, "b")));
  }
}

// Before the account existed it had nothing: not even its postpaid limit
// (this showed "available": "20" until balance_replay::view checked it).
TEST(http_balance_at, before_the_account_existed_its_postpaid_limit_is_not_available) {
  live_server srv({"--test-clock"});
  http_client c(srv.port(), admin_key);
  const std::int64_t before = clock_now(c);
  advance(c, 60);
  put_account(c, "p", R"({"settings":{"postpaid_limit":"20"}})");
  auto r = c.get(balance_at_target("p", before));
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(str(r.json(), "available"), "0") << r.body;
  EXPECT_TRUE(r.json().at("lots").as_array().empty()) << r.body;
}
}  // namespace balance_at_test_cpp
