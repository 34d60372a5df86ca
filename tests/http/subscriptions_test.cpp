// Subscriptions over real HTTP on a test clock: the first allowance in the
// PUT's response; at every period boundary exactly one expiry of the old plan
// lot and one grant, at calendar boundaries (month ends clamped, February,
// leap years, a yearly plan from 29 February), at local midnight of the
// subscriber's time zone (New York across DST, Kolkata at 18:30Z); rollover
// caps; cancellation at the period's end; plan changes from the next period;
// pending subscriptions; errors and roles.
#include <set>

#include "support/commerce_http.hpp"

namespace subscriptions_test_cpp {  // unity builds: tests/CMakeLists.txt

using namespace creditd::testing;

namespace {

unsigned days_in_month(int y, unsigned m) {
  static constexpr unsigned days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : days[m - 1];
}

// UTC midnight of the anchor date (y-m-d) plus k months, the day clamped to
// the month's length.
std::int64_t months_later(int y, unsigned m, unsigned d, int k) {
  const int index = y * 12 + static_cast<int>(m - 1) + k;
  const int ty = index / 12;
  const unsigned tm = static_cast<unsigned>(index % 12) + 1;
  return utc(ty, tm, std::min(d, days_in_month(ty, tm)));
}

void put_plan(http_client& c, const std::string& id, const std::string& body) {
  put_ok(c, "/v1/plans/" + id, body);
}

http_reply subscribe(http_client& c, const std::string& account, const std::string& body) {
  return c.put("/v1/accounts/" + account + "/subscription", body);
}

bj::value subscribed(http_client& c, const std::string& account, const std::string& body) {
  auto r = subscribe(c, account, body);
  if (r.status != 201 && r.status != 200)
    throw std::runtime_error("PUT subscription " + body + ": " + describe(r));
  return r.json();
}

bj::value subscription(http_client& c, const std::string& account) {
  return expect(c.get("/v1/accounts/" + account + "/subscription"), 200, "subscription").json();
}

// The account's plan allowance lots (not rollovers), oldest first.
std::vector<bj::object> plan_lots(http_client& c, const std::string& account) {
  std::vector<bj::object> out;
  for (auto& l : lots_of(c, account)) {
    if (sfield(l, "kind") == "plan" && sfield(l, "source") == "subscription") out.push_back(l);
  }
  return out;
}

std::vector<std::string> expiries(const std::vector<bj::object>& lots) {
  std::vector<std::string> out;
  for (const auto& l : lots)
    out.push_back(sfield(l, "expires_at"));
  return out;
}

// Journal entries past the first `seen`.
std::vector<bj::object> new_entries(http_client& c, const std::string& account, std::size_t& seen) {
  auto all = entries(c, account);
  std::vector<bj::object> out(all.begin() + static_cast<std::ptrdiff_t>(std::min(seen, all.size())),
                              all.end());
  seen = all.size();
  return out;
}

std::string dump(const std::vector<bj::object>& es) {
  std::string out;
  for (const auto& e : es)
    out += bj::serialize(e) + "\n";
  return out;
}

}  // namespace

TEST(http_subscriptions, a_new_subscription_grants_the_first_allowance_in_the_response) {
  live_server srv({"--test-clock"});
  http_client c(srv.port(), admin_key);
  put_plan(c, "basic", R"({"credits_per_period":100,"period":"month"})");
  put_account(c, "s");
  const std::int64_t now = clock_now(c);
  const std::string today = format_time(now);
  const int y = std::stoi(today.substr(0, 4));
  const unsigned m = static_cast<unsigned>(std::stoi(today.substr(5, 2)));
  const unsigned d = static_cast<unsigned>(std::stoi(today.substr(8, 2)));

  auto r = subscribe(c, "s", R"({"plan":"basic"})");
  ASSERT_EQ(r.status, 201u) << r.body;
  auto sub = r.json();
  EXPECT_EQ(str(sub, "object"), "subscription");
  EXPECT_EQ(str(sub, "account"), "s");
  EXPECT_EQ(str(sub, "plan"), "basic");
  EXPECT_TRUE(sub.at("next_plan").is_null());
  EXPECT_EQ(str(sub, "status"), "active");
  EXPECT_EQ(str(sub, "timezone"), "UTC");
  EXPECT_EQ(parse_time(str(sub, "start_at")), now);
  EXPECT_EQ(sub.at("period_index").as_int64(), 0);
  EXPECT_EQ(parse_time(str(sub, "current_period_start")), now);
  // The first boundary: midnight of the same day next month (clamped).
  const std::int64_t end = months_later(y, m, d, 1);
  EXPECT_EQ(str(sub, "current_period_end"), format_time(end));
  EXPECT_EQ(sub.at("cancel_at_period_end").as_bool(), false);
  ASSERT_TRUE(sub.at("lot").is_string()) << r.body;

  // The allowance is there, spendable.
  auto lots = lots_of(c, "s");
  ASSERT_EQ(lots.size(), 1u);
  EXPECT_EQ(sfield(lots[0], "id"), str(sub, "lot"));
  EXPECT_EQ(sfield(lots[0], "kind"), "plan");
  EXPECT_EQ(sfield(lots[0], "amount"), "100");
  EXPECT_EQ(sfield(lots[0], "source"), "subscription");
  EXPECT_EQ(parse_time(sfield(lots[0], "expires_at")), end);
  auto grants = entries_of_type(c, "s", "grant");
  ASSERT_EQ(grants.size(), 1u);
  EXPECT_EQ(sfield(grants[0], "reason"), "plan basic, period 0");
  EXPECT_EQ(sfield(grants[0], "lot"), str(sub, "lot"));
  EXPECT_EQ(str(charge(c, "s", "40"), "balance_after"), "60");

  // The same PUT again changes nothing and grants nothing.
  auto again = subscribe(c, "s", R"({"plan":"basic"})");
  EXPECT_EQ(again.status, 200u) << again.body;
  EXPECT_EQ(entries_of_type(c, "s", "grant").size(), 1u);
  EXPECT_EQ(available(c, "s"), "60");
  EXPECT_EQ(bj::serialize(subscription(c, "s").at("lot")), bj::serialize(sub.at("lot")));
}

TEST(http_subscriptions, fourteen_monthly_periods_boundary_by_boundary) {
  live_server srv({"--test-clock"});
  http_client c(srv.port(), admin_key);
  put_plan(c, "m100", R"({"credits_per_period":100,"period":"month"})");
  put_account(c, "s");
  advance_to(c, utc(2027, 1, 31));
  auto sub = subscribed(c, "s", R"({"plan":"m100","start_at":"2027-01-31T00:00:00Z"})");
  EXPECT_EQ(str(sub, "status"), "active");
  EXPECT_EQ(str(sub, "current_period_end"), "2027-02-28T00:00:00Z");
  std::string lot = str(sub, "lot");
  std::size_t seen = 0;
  new_entries(c, "s", seen);

  for (int k = 1; k <= 13; ++k) {
    const std::int64_t boundary = months_later(2027, 1, 31, k);
    const std::int64_t next = months_later(2027, 1, 31, k + 1);
    SCOPED_TRACE("period " + std::to_string(k) + " at " + format_time(boundary));
    advance_to_just_before(c, boundary);
    EXPECT_TRUE(new_entries(c, "s", seen).empty()) << "nothing before the boundary";
    EXPECT_EQ(available(c, "s"), "100");
    advance_to(c, boundary);
    auto fresh = new_entries(c, "s", seen);
    ASSERT_EQ(fresh.size(), 2u) << dump(fresh);
    const bj::object& expire = fresh[0];
    const bj::object& grant = fresh[1];
    EXPECT_EQ(sfield(expire, "type"), "expire");
    EXPECT_EQ(sfield(expire, "lot"), lot);
    EXPECT_EQ(sfield(expire, "amount"), "100");
    EXPECT_EQ(parse_time(sfield(expire, "created_at")), boundary);
    EXPECT_EQ(sfield(grant, "type"), "grant");
    EXPECT_EQ(sfield(grant, "amount"), "100");
    EXPECT_EQ(sfield(grant, "reason"), "plan m100, period " + std::to_string(k));
    EXPECT_EQ(parse_time(sfield(grant, "created_at")), boundary);
    auto s = subscription(c, "s");
    EXPECT_EQ(s.at("period_index").as_int64(), k);
    EXPECT_EQ(parse_time(str(s, "current_period_start")), boundary);
    EXPECT_EQ(parse_time(str(s, "current_period_end")), next);
    EXPECT_EQ(str(s, "lot"), sfield(grant, "lot"));
    lot = str(s, "lot");
    EXPECT_EQ(available(c, "s"), "100");
  }
  const std::vector<std::string> want = {
      "2027-02-28T00:00:00Z", "2027-03-31T00:00:00Z", "2027-04-30T00:00:00Z",
      "2027-05-31T00:00:00Z", "2027-06-30T00:00:00Z", "2027-07-31T00:00:00Z",
      "2027-08-31T00:00:00Z", "2027-09-30T00:00:00Z", "2027-10-31T00:00:00Z",
      "2027-11-30T00:00:00Z", "2027-12-31T00:00:00Z", "2028-01-31T00:00:00Z",
      "2028-02-29T00:00:00Z", "2028-03-31T00:00:00Z"};
  EXPECT_EQ(expiries(plan_lots(c, "s")), want);
  EXPECT_EQ(entries_of_type(c, "s", "grant").size(), 14u);
  EXPECT_EQ(entries_of_type(c, "s", "expire").size(), 13u);
}

TEST(http_subscriptions, a_past_start_catches_up_period_by_period) {
  live_server srv({"--test-clock"});
  http_client c(srv.port(), admin_key);
  put_plan(c, "m100", R"({"credits_per_period":100,"period":"month"})");
  put_account(c, "s");
  advance_to(c, utc(2028, 3, 5, 12));
  auto sub = subscribed(c, "s", R"({"plan":"m100","start_at":"2027-01-31T00:00:00Z"})");
  EXPECT_EQ(sub.at("period_index").as_int64(), 13);
  EXPECT_EQ(str(sub, "current_period_start"), "2028-02-29T00:00:00Z");
  EXPECT_EQ(str(sub, "current_period_end"), "2028-03-31T00:00:00Z");
  EXPECT_EQ(expiries(plan_lots(c, "s")),
            (std::vector<std::string>{
                "2027-02-28T00:00:00Z", "2027-03-31T00:00:00Z", "2027-04-30T00:00:00Z",
                "2027-05-31T00:00:00Z", "2027-06-30T00:00:00Z", "2027-07-31T00:00:00Z",
                "2027-08-31T00:00:00Z", "2027-09-30T00:00:00Z", "2027-10-31T00:00:00Z",
                "2027-11-30T00:00:00Z", "2027-12-31T00:00:00Z", "2028-01-31T00:00:00Z",
                "2028-02-29T00:00:00Z", "2028-03-31T00:00:00Z"}));
  // Each period once, in time order, each at its own instant.
  auto grants = entries_of_type(c, "s", "grant");
  ASSERT_EQ(grants.size(), 14u);
  for (int k = 0; k < 14; ++k) {
    EXPECT_EQ(sfield(grants[k], "reason"), "plan m100, period " + std::to_string(k));
    EXPECT_EQ(parse_time(sfield(grants[k], "created_at")), months_later(2027, 1, 31, k));
  }
  auto expired = entries_of_type(c, "s", "expire");
  ASSERT_EQ(expired.size(), 13u);
  for (int k = 0; k < 13; ++k)
    EXPECT_EQ(parse_time(sfield(expired[k], "created_at")), months_later(2027, 1, 31, k + 1));
  EXPECT_EQ(available(c, "s"), "100");
}

TEST(http_subscriptions, a_yearly_plan_from_29_february) {
  live_server srv({"--test-clock"});
  http_client c(srv.port(), admin_key);
  put_plan(c, "yearly", R"({"credits_per_period":1200,"period":"year"})");
  put_account(c, "s");
  advance_to(c, utc(2028, 2, 29));
  auto sub = subscribed(c, "s", R"({"plan":"yearly","start_at":"2028-02-29T00:00:00Z"})");
  EXPECT_EQ(str(sub, "current_period_end"), "2029-02-28T00:00:00Z");
  advance_to_just_before(c, utc(2029, 2, 28));
  EXPECT_EQ(entries_of_type(c, "s", "grant").size(), 1u);
  advance_to(c, utc(2032, 3, 1));
  EXPECT_EQ(expiries(plan_lots(c, "s")),
            (std::vector<std::string>{"2029-02-28T00:00:00Z", "2030-02-28T00:00:00Z",
                                      "2031-02-28T00:00:00Z", "2032-02-29T00:00:00Z",
                                      "2033-02-28T00:00:00Z"}));
  auto s = subscription(c, "s");
  EXPECT_EQ(s.at("period_index").as_int64(), 4);
  EXPECT_EQ(str(s, "current_period_start"), "2032-02-29T00:00:00Z");
  EXPECT_EQ(available(c, "s"), "1200");
  EXPECT_EQ(entries_of_type(c, "s", "expire").size(), 4u);
}

TEST(http_subscriptions, new_york_boundaries_follow_local_midnight_across_dst) {
  live_server srv({"--test-clock"});
  http_client c(srv.port(), admin_key);
  put_plan(c, "m", R"({"credits_per_period":10,"period":"month"})");
  put_account(c, "ny");
  // 2027-02-15 00:00 EST = 05:00Z. DST starts 14 March, ends 7 November.
  advance_to(c, utc(2027, 2, 15, 5));
  auto sub = subscribed(
      c, "ny", R"({"plan":"m","start_at":"2027-02-15T05:00:00Z","timezone":"America/New_York"})");
  EXPECT_EQ(str(sub, "timezone"), "America/New_York");
  EXPECT_EQ(str(sub, "current_period_end"), "2027-03-15T04:00:00Z");  // EDT

  // Not at 05:00Z (EST midnight): at 04:00Z.
  advance_to_just_before(c, utc(2027, 3, 15, 4));
  EXPECT_EQ(entries_of_type(c, "ny", "grant").size(), 1u);
  advance_to(c, utc(2027, 3, 15, 4));
  auto grants = entries_of_type(c, "ny", "grant");
  ASSERT_EQ(grants.size(), 2u);
  EXPECT_EQ(sfield(grants[1], "created_at"), "2027-03-15T04:00:00Z");

  // Through the autumn change.
  advance_to_just_before(c, utc(2027, 11, 15, 5));
  EXPECT_EQ(entries_of_type(c, "ny", "grant").size(), 9u);  // periods 0..8 (Oct 15)
  advance_to(c, utc(2027, 12, 16));
  EXPECT_EQ(expiries(plan_lots(c, "ny")),
            (std::vector<std::string>{
                "2027-03-15T04:00:00Z", "2027-04-15T04:00:00Z", "2027-05-15T04:00:00Z",
                "2027-06-15T04:00:00Z", "2027-07-15T04:00:00Z", "2027-08-15T04:00:00Z",
                "2027-09-15T04:00:00Z", "2027-10-15T04:00:00Z", "2027-11-15T05:00:00Z",
                "2027-12-15T05:00:00Z", "2028-01-15T05:00:00Z"}));
}

TEST(http_subscriptions, kolkata_boundaries_fall_at_18_30z_the_previous_utc_day) {
  live_server srv({"--test-clock"});
  http_client c(srv.port(), admin_key);
  put_plan(c, "m", R"({"credits_per_period":10,"period":"month"})");
  put_account(c, "in");
  put_account(c, "utc");
  // 2027-03-09T20:00Z is 10 March 01:30 in Kolkata: the anchor day there is
  // the 10th, in UTC the 9th.
  advance_to(c, utc(2027, 3, 9, 20));
  auto in = subscribed(
      c, "in", R"({"plan":"m","start_at":"2027-03-09T20:00:00Z","timezone":"Asia/Kolkata"})");
  auto u = subscribed(c, "utc", R"({"plan":"m","start_at":"2027-03-09T20:00:00Z"})");
  EXPECT_EQ(str(in, "current_period_end"), "2027-04-09T18:30:00Z");
  EXPECT_EQ(str(u, "current_period_end"), "2027-04-09T00:00:00Z");
  // Without start_at: now, anchored on today's local date there.
  put_account(c, "in-now");
  auto now_sub = subscribed(c, "in-now", R"({"plan":"m","timezone":"Asia/Kolkata"})");
  EXPECT_EQ(parse_time(str(now_sub, "start_at")), clock_now(c));
  EXPECT_EQ(str(now_sub, "current_period_end"), "2027-04-09T18:30:00Z");

  advance_to_just_before(c, utc(2027, 4, 9, 18, 30));
  EXPECT_EQ(entries_of_type(c, "in", "grant").size(), 1u);
  EXPECT_EQ(entries_of_type(c, "utc", "grant").size(), 2u);
  advance_to(c, utc(2027, 4, 9, 18, 30));
  auto grants = entries_of_type(c, "in", "grant");
  ASSERT_EQ(grants.size(), 2u);
  EXPECT_EQ(sfield(grants[1], "created_at"), "2027-04-09T18:30:00Z");
  EXPECT_EQ(str(subscription(c, "in"), "current_period_end"), "2027-05-09T18:30:00Z");
}

TEST(http_subscriptions, the_rollover_cap_carries_at_most_that_much_into_the_next_period) {
  live_server srv({"--test-clock"});
  http_client c(srv.port(), admin_key);
  put_plan(c, "r", R"({"credits_per_period":100,"period":"month","rollover_cap":30})");
  put_account(c, "s");
  advance_to(c, utc(2027, 1, 1));
  subscribed(c, "s", R"({"plan":"r","start_at":"2027-01-01T00:00:00Z"})");
  charge(c, "s", "50");
  std::size_t seen = 0;
  new_entries(c, "s", seen);

  // 50 left: 30 carried, 20 lost.
  advance_to(c, utc(2027, 2, 1));
  auto fresh = new_entries(c, "s", seen);
  ASSERT_EQ(fresh.size(), 3u) << dump(fresh);
  EXPECT_EQ(sfield(fresh[0], "type"), "expire");
  EXPECT_EQ(sfield(fresh[0], "amount"), "50");
  EXPECT_NE(sfield(fresh[0], "reason").find("30 of 50 carried over, 20 lost"), std::string::npos)
      << dump(fresh);
  // Two grants at the boundary, in either order: the allowance and the
  // rollover of 30 from the old allowance.
  const std::string old_lot = sfield(fresh[0], "lot");
  bj::object allowance_grant, rollover_grant;
  for (std::size_t i = 1; i < fresh.size(); ++i) {
    EXPECT_EQ(sfield(fresh[i], "type"), "grant");
    EXPECT_EQ(sfield(fresh[i], "created_at"), "2027-02-01T00:00:00Z");
    if (sfield(fresh[i], "reason") == "plan r, period 1") allowance_grant = fresh[i];
    if (sfield(fresh[i], "reason").starts_with("rollover")) rollover_grant = fresh[i];
  }
  ASSERT_FALSE(allowance_grant.empty()) << dump(fresh);
  ASSERT_FALSE(rollover_grant.empty()) << dump(fresh);
  EXPECT_EQ(sfield(allowance_grant, "amount"), "100");
  EXPECT_EQ(sfield(rollover_grant, "amount"), "30");
  EXPECT_NE(sfield(rollover_grant, "reason").find(old_lot), std::string::npos)
      << "names the lot it carries from: " << dump(fresh);
  EXPECT_EQ(available(c, "s"), "130");
  bj::object rollover;
  for (auto& l : lots_of(c, "s")) {
    if (sfield(l, "id") == sfield(rollover_grant, "lot")) rollover = l;
  }
  ASSERT_FALSE(rollover.empty());
  EXPECT_EQ(sfield(rollover, "kind"), "plan");
  EXPECT_EQ(sfield(rollover, "source"), "rollover");
  EXPECT_EQ(sfield(rollover, "expires_at"), "2027-03-01T00:00:00Z");

  // Nothing spent: the rollover lapses, the cap carries 30 of the new 100.
  advance_to(c, utc(2027, 3, 1));
  fresh = new_entries(c, "s", seen);
  int expires = 0, grants = 0;
  for (const auto& e : fresh) {
    if (sfield(e, "type") == "expire") ++expires;
    if (sfield(e, "type") == "grant") ++grants;
  }
  EXPECT_EQ(expires, 2) << dump(fresh);
  EXPECT_EQ(grants, 2) << dump(fresh);
  EXPECT_EQ(available(c, "s"), "130");

  // All spent: nothing to carry.
  charge(c, "s", "130");
  advance_to(c, utc(2027, 4, 1));
  fresh = new_entries(c, "s", seen);
  ASSERT_EQ(entries_of_type(c, "s", "grant").back().at("reason").as_string(), "plan r, period 3");
  EXPECT_EQ(available(c, "s"), "100");
}

TEST(http_subscriptions, delete_cancels_at_the_period_end) {
  live_server srv({"--test-clock"});
  http_client c(srv.port(), admin_key);
  put_plan(c, "m", R"({"credits_per_period":100,"period":"month"})");
  put_account(c, "s");
  advance_to(c, utc(2027, 1, 10));
  subscribed(c, "s", R"({"plan":"m","start_at":"2027-01-10T00:00:00Z"})");
  auto d = c.del("/v1/accounts/s/subscription");
  ASSERT_EQ(d.status, 200u) << d.body;
  EXPECT_EQ(field(d, "status"), "active");
  EXPECT_EQ(d.json().at("cancel_at_period_end").as_bool(), true);
  EXPECT_EQ(field(d, "current_period_end"), "2027-02-10T00:00:00Z");
  // The allowance stays until the period's end.
  advance_to_just_before(c, utc(2027, 2, 10));
  EXPECT_EQ(available(c, "s"), "100");
  advance_to(c, utc(2027, 2, 10));
  EXPECT_EQ(available(c, "s"), "0");
  auto s = subscription(c, "s");
  EXPECT_EQ(str(s, "status"), "canceled");
  EXPECT_EQ(entries_of_type(c, "s", "grant").size(), 1u);
  EXPECT_EQ(entries_of_type(c, "s", "expire").size(), 1u);
  advance_to(c, utc(2027, 6, 1));
  EXPECT_EQ(entries_of_type(c, "s", "grant").size(), 1u);
  EXPECT_EQ(str(subscription(c, "s"), "status"), "canceled");
}

TEST(http_subscriptions, a_put_before_the_end_undoes_a_cancellation) {
  live_server srv({"--test-clock"});
  http_client c(srv.port(), admin_key);
  put_plan(c, "m", R"({"credits_per_period":100,"period":"month"})");
  put_account(c, "s");
  advance_to(c, utc(2027, 1, 10));
  subscribed(c, "s", R"({"plan":"m","start_at":"2027-01-10T00:00:00Z"})");
  ASSERT_EQ(c.del("/v1/accounts/s/subscription").status, 200u);
  auto again = subscribe(c, "s", R"({"plan":"m"})");
  ASSERT_EQ(again.status, 200u) << again.body;
  EXPECT_EQ(again.json().at("cancel_at_period_end").as_bool(), false);
  advance_to(c, utc(2027, 2, 10));
  EXPECT_EQ(entries_of_type(c, "s", "grant").size(), 2u);
  EXPECT_EQ(str(subscription(c, "s"), "status"), "active");
}

TEST(http_subscriptions, another_plan_takes_effect_at_the_next_period_only) {
  live_server srv({"--test-clock"});
  http_client c(srv.port(), admin_key);
  put_plan(c, "small", R"({"credits_per_period":100,"period":"month"})");
  put_plan(c, "big", R"({"credits_per_period":500,"period":"month"})");
  put_account(c, "s");
  advance_to(c, utc(2027, 1, 10));
  subscribed(c, "s", R"({"plan":"small","start_at":"2027-01-10T00:00:00Z"})");
  advance(c, 86400);
  auto change = subscribe(c, "s", R"({"plan":"big"})");
  ASSERT_EQ(change.status, 200u) << change.body;
  EXPECT_EQ(field(change, "plan"), "small");
  EXPECT_EQ(field(change, "next_plan"), "big");
  EXPECT_EQ(available(c, "s"), "100");
  EXPECT_EQ(entries_of_type(c, "s", "grant").size(), 1u);

  // start_at or another time zone on an active subscription: 409.
  auto bad = subscribe(c, "s", R"({"plan":"big","start_at":"2027-01-11T00:00:00Z"})");
  EXPECT_EQ(bad.status, 409u) << bad.body;
  EXPECT_EQ(bad.error_code(), "conflict");
  bad = subscribe(c, "s", R"({"plan":"big","timezone":"Europe/Paris"})");
  EXPECT_EQ(bad.status, 409u) << bad.body;
  EXPECT_EQ(str(subscription(c, "s"), "next_plan"), "big");

  advance_to(c, utc(2027, 2, 10));
  auto grants = entries_of_type(c, "s", "grant");
  ASSERT_EQ(grants.size(), 2u);
  EXPECT_EQ(sfield(grants[1], "amount"), "500");
  EXPECT_EQ(sfield(grants[1], "reason"), "plan big, period 1");
  auto s = subscription(c, "s");
  EXPECT_EQ(str(s, "plan"), "big");
  EXPECT_TRUE(s.at("next_plan").is_null());
  EXPECT_EQ(available(c, "s"), "500");
}

TEST(http_subscriptions, a_future_start_is_pending_until_the_clock_reaches_it) {
  live_server srv({"--test-clock"});
  http_client c(srv.port(), admin_key);
  put_plan(c, "m", R"({"credits_per_period":100,"period":"month"})");
  put_account(c, "s");
  put_account(c, "t");
  advance_to(c, utc(2027, 1, 1));
  auto r = subscribe(c, "s", R"({"plan":"m","start_at":"2027-01-11T00:00:00Z"})");
  ASSERT_EQ(r.status, 201u) << r.body;
  auto sub = r.json();
  EXPECT_EQ(str(sub, "status"), "pending");
  EXPECT_TRUE(sub.at("lot").is_null());
  EXPECT_TRUE(sub.at("current_period_start").is_null());
  EXPECT_EQ(str(sub, "start_at"), "2027-01-11T00:00:00Z");
  EXPECT_EQ(lots_of(c, "s").size(), 0u);
  EXPECT_EQ(available(c, "s"), "0");

  advance_to_just_before(c, utc(2027, 1, 11));
  EXPECT_EQ(str(subscription(c, "s"), "status"), "pending");
  EXPECT_EQ(lots_of(c, "s").size(), 0u);
  advance_to(c, utc(2027, 1, 11));
  auto s = subscription(c, "s");
  EXPECT_EQ(str(s, "status"), "active");
  EXPECT_EQ(str(s, "current_period_start"), "2027-01-11T00:00:00Z");
  EXPECT_EQ(str(s, "current_period_end"), "2027-02-11T00:00:00Z");
  EXPECT_EQ(available(c, "s"), "100");
  auto grants = entries_of_type(c, "s", "grant");
  ASSERT_EQ(grants.size(), 1u);
  EXPECT_EQ(sfield(grants[0], "created_at"), "2027-01-11T00:00:00Z");

  // A pending subscription canceled never starts.
  subscribed(c, "t", R"({"plan":"m","start_at":"2027-02-01T00:00:00Z"})");
  auto d = c.del("/v1/accounts/t/subscription");
  ASSERT_EQ(d.status, 200u) << d.body;
  EXPECT_EQ(field(d, "status"), "canceled");
  advance_to(c, utc(2027, 3, 1));
  EXPECT_EQ(lots_of(c, "t").size(), 0u);
}

TEST(http_subscriptions, errors_and_roles) {
  live_server srv({"--test-clock"});
  http_client c(srv.port(), admin_key);
  put_plan(c, "m", R"({"credits_per_period":100,"period":"month"})");
  put_account(c, "s");
  put_account(c, "other");
  const std::string before = state(c, "s");

  auto r = subscribe(c, "s", R"({"plan":"no-such-plan"})");
  EXPECT_EQ(r.status, 404u) << r.body;
  EXPECT_EQ(r.error_code(), "not_found");
  EXPECT_NE(r.body.find("no-such-plan"), std::string::npos) << r.body;
  r = subscribe(c, "s", R"({"plan":"m","timezone":"Mars/Olympus_Mons"})");
  EXPECT_EQ(r.status, 400u) << r.body;
  EXPECT_EQ(r.error_code(), "invalid_request");
  EXPECT_NE(r.body.find("Mars/Olympus_Mons"), std::string::npos) << r.body;
  r = subscribe(c, "nobody", R"({"plan":"m"})");
  EXPECT_EQ(r.status, 404u) << r.body;
  for (const char* body :
       {"{}", R"({"plan":"m","start_at":"yesterday"})",
        R"({"plan":"m","start_at":"2000-01-01T00:00:00Z"})", R"({"plan":"m","extra":1})"}) {
    r = subscribe(c, "s", body);
    EXPECT_EQ(r.status, 400u) << body << ": " << r.body;
  }
  EXPECT_EQ(c.get("/v1/accounts/s/subscription").status, 404u);
  EXPECT_EQ(c.del("/v1/accounts/s/subscription").status, 404u);
  EXPECT_EQ(state(c, "s"), before);
  // Plans: a bad period is 400.
  EXPECT_EQ(c.put("/v1/plans/w", R"({"credits_per_period":1,"period":"week"})").status, 400u);

  // The service role subscribes; a reader reads its own subscription only.
  http_client svc(srv.port(), make_key(c, "service"));
  r = subscribe(svc, "s", R"({"plan":"m","timezone":"Europe/Berlin"})");
  ASSERT_EQ(r.status, 201u) << r.body;
  subscribed(c, "other", R"({"plan":"m"})");
  http_client reader(srv.port(), make_key(c, "reader", "s"));
  auto own = reader.get("/v1/accounts/s/subscription");
  ASSERT_EQ(own.status, 200u) << own.body;
  EXPECT_EQ(field(own, "timezone"), "Europe/Berlin");
  EXPECT_EQ(field(own, "plan"), "m");
  EXPECT_EQ(reader.get("/v1/accounts/other/subscription").status, 403u);
  EXPECT_EQ(reader.put("/v1/accounts/s/subscription", R"({"plan":"m"})").status, 403u);
  EXPECT_EQ(reader.del("/v1/accounts/s/subscription").status, 403u);
  EXPECT_EQ(svc.put("/v1/plans/cheap", R"({"credits_per_period":1000,"period":"month"})").status,
            403u);
  EXPECT_EQ(reader.get("/v1/plans/m").status, 200u);
}

TEST(http_subscriptions, a_change_from_monthly_to_yearly_runs_a_year_from_the_next_boundary) {
  live_server srv({"--test-clock"});
  http_client c(srv.port(), admin_key);
  put_plan(c, "monthly", R"({"credits_per_period":100,"period":"month"})");
  put_plan(c, "yearly", R"({"credits_per_period":1200,"period":"year"})");
  put_account(c, "s");
  advance_to(c, utc(2027, 1, 31));
  subscribed(c, "s", R"({"plan":"monthly","start_at":"2027-01-31T00:00:00Z"})");
  subscribed(c, "s", R"({"plan":"yearly"})");
  advance_to(c, utc(2027, 3, 1));
  auto s = subscription(c, "s");
  EXPECT_EQ(str(s, "plan"), "yearly");
  EXPECT_EQ(s.at("period_index").as_int64(), 1);
  EXPECT_EQ(str(s, "current_period_start"), "2027-02-28T00:00:00Z");
  // Twelve months from the boundary, on the anchor day (31, clamped).
  EXPECT_EQ(str(s, "current_period_end"), "2028-02-29T00:00:00Z");
  EXPECT_EQ(expiries(plan_lots(c, "s")),
            (std::vector<std::string>{"2027-02-28T00:00:00Z", "2028-02-29T00:00:00Z"}));
  EXPECT_EQ(available(c, "s"), "1200");
  // And back to monthly from the end of the year.
  subscribed(c, "s", R"({"plan":"monthly"})");
  advance_to(c, utc(2028, 3, 1));
  EXPECT_EQ(expiries(plan_lots(c, "s")),
            (std::vector<std::string>{"2027-02-28T00:00:00Z", "2028-02-29T00:00:00Z",
                                      "2028-03-31T00:00:00Z"}));
  auto grants = entries_of_type(c, "s", "grant");
  ASSERT_EQ(grants.size(), 3u);
  EXPECT_EQ(sfield(grants[2], "reason"), "plan monthly, period 2");
}

TEST(http_subscriptions, a_resubscription_after_cancellation_numbers_periods_on) {
  live_server srv({"--test-clock"});
  http_client c(srv.port(), admin_key);
  put_plan(c, "m", R"({"credits_per_period":100,"period":"month"})");
  put_account(c, "s");
  advance_to(c, utc(2027, 1, 10));
  subscribed(c, "s", R"({"plan":"m","start_at":"2027-01-10T00:00:00Z"})");
  ASSERT_EQ(c.del("/v1/accounts/s/subscription").status, 200u);
  advance_to(c, utc(2027, 3, 5));
  ASSERT_EQ(str(subscription(c, "s"), "status"), "canceled");
  auto r = subscribe(c, "s", R"({"plan":"m"})");
  ASSERT_TRUE(r.status == 200u || r.status == 201u) << r.body;
  auto sub = r.json();
  EXPECT_EQ(str(sub, "status"), "active");
  EXPECT_EQ(parse_time(str(sub, "current_period_start")), clock_now(c));
  EXPECT_EQ(str(sub, "current_period_end"), "2027-04-05T00:00:00Z");  // the new anchor
  auto grants = entries_of_type(c, "s", "grant");
  ASSERT_EQ(grants.size(), 2u);
  EXPECT_EQ(sfield(grants[0], "reason"), "plan m, period 0");
  EXPECT_EQ(sfield(grants[1], "reason"), "plan m, period 1");
  EXPECT_EQ(available(c, "s"), "100");
}

TEST(http_subscriptions, subscriptions_survive_a_restart) {
  live_server srv({"--test-clock"});
  {
    http_client c(srv.port(), admin_key);
    put_plan(c, "m", R"({"credits_per_period":100,"period":"month"})");
    put_plan(c, "big", R"({"credits_per_period":500,"period":"month"})");
    for (const char* a : {"pending", "canceling", "changing", "ny"})
      put_account(c, a);
    advance_to(c, utc(2027, 1, 10));
    subscribed(c, "pending", R"({"plan":"m","start_at":"2027-01-20T00:00:00Z"})");
    subscribed(c, "canceling", R"({"plan":"m","start_at":"2027-01-10T00:00:00Z"})");
    ASSERT_EQ(c.del("/v1/accounts/canceling/subscription").status, 200u);
    subscribed(c, "changing", R"({"plan":"m","start_at":"2027-01-10T00:00:00Z"})");
    subscribed(c, "changing", R"({"plan":"big"})");
    subscribed(c, "ny",
               R"({"plan":"m","start_at":"2027-01-10T05:00:00Z","timezone":"America/New_York"})");
  }
  EXPECT_EQ(srv.terminate(), 0);
  srv.restart();
  http_client c(srv.port(), admin_key);
  EXPECT_EQ(str(subscription(c, "pending"), "status"), "pending");
  EXPECT_EQ(subscription(c, "canceling").at("cancel_at_period_end").as_bool(), true);
  EXPECT_EQ(str(subscription(c, "changing"), "next_plan"), "big");
  EXPECT_EQ(str(subscription(c, "ny"), "timezone"), "America/New_York");
  advance_to(c, utc(2027, 2, 11));
  EXPECT_EQ(str(subscription(c, "pending"), "status"), "active");
  EXPECT_EQ(available(c, "pending"), "100");
  EXPECT_EQ(str(subscription(c, "canceling"), "status"), "canceled");
  EXPECT_EQ(available(c, "canceling"), "0");
  EXPECT_EQ(available(c, "changing"), "500");
  EXPECT_EQ(expiries(plan_lots(c, "ny")),
            (std::vector<std::string>{"2027-02-10T05:00:00Z", "2027-03-10T05:00:00Z"}));
  for (const char* a : {"pending", "changing", "ny"})
    EXPECT_EQ(entries_of_type(c, a, "grant").size(), a == std::string("pending") ? 1u : 2u) << a;
}

TEST(http_subscriptions, a_plan_changed_mid_period_applies_from_the_next_period) {
  live_server srv({"--test-clock"});
  http_client c(srv.port(), admin_key);
  put_plan(c, "m", R"({"credits_per_period":100,"period":"month"})");
  put_account(c, "s");
  advance_to(c, utc(2027, 1, 10));
  subscribed(c, "s", R"({"plan":"m","start_at":"2027-01-10T00:00:00Z"})");
  put_plan(c, "m", R"({"credits_per_period":250,"period":"month","rollover_cap":10})");
  EXPECT_EQ(available(c, "s"), "100");
  advance_to(c, utc(2027, 2, 10));
  // The ending period's terms came from the plan as it is now (cap 10).
  EXPECT_EQ(available(c, "s"), "260");
  std::multiset<std::string> amounts;
  for (const auto& g : entries_of_type(c, "s", "grant"))
    amounts.insert(sfield(g, "amount"));
  EXPECT_EQ(amounts, (std::multiset<std::string>{"10", "100", "250"}));
  auto grants = entries_of_type(c, "s", "grant");
  EXPECT_EQ(sfield(grants.back(), "created_at"), "2027-02-10T00:00:00Z");
}

TEST(http_subscriptions, a_hold_on_the_allowance_survives_the_renewal) {
  live_server srv({"--test-clock"});
  http_client c(srv.port(), admin_key);
  put_plan(c, "m", R"({"credits_per_period":100,"period":"month"})");
  put_account(c, "s");
  advance_to(c, utc(2027, 1, 10));
  subscribed(c, "s", R"({"plan":"m","start_at":"2027-01-10T00:00:00Z"})");
  advance_to(c, utc(2027, 2, 9, 23, 50));
  const std::string old_lot = str(subscription(c, "s"), "lot");
  auto capture_me =
      expect(c.post("/v1/accounts/s/holds", R"({"operation":"x","amount":30,"ttl_seconds":3600})"),
             201, "hold")
          .json();
  auto release_me =
      expect(c.post("/v1/accounts/s/holds", R"({"operation":"x","amount":20,"ttl_seconds":3600})"),
             201, "hold")
          .json();
  EXPECT_EQ(available(c, "s"), "50");
  advance_to(c, utc(2027, 2, 10, 0, 5));
  // The old allowance expired with 50 unheld credits; the new one is whole.
  auto expired = entries_of_type(c, "s", "expire");
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(sfield(expired[0], "lot"), old_lot);
  EXPECT_EQ(sfield(expired[0], "amount"), "50");
  EXPECT_EQ(available(c, "s"), "100");
  // The capture still takes from the expired lot; the release returns nothing.
  auto cap = c.post("/v1/holds/" + str(capture_me, "id") + "/capture");
  ASSERT_EQ(cap.status, 200u) << cap.body;
  EXPECT_EQ(bj::serialize(cap.json().at("charge").at("lots")),
            R"([{"lot":")" + old_lot + R"(","amount":"30"}])");
  ASSERT_EQ(c.post("/v1/holds/" + str(release_me, "id") + "/release").status, 200u);
  EXPECT_EQ(available(c, "s"), "100");
  auto lots = lots_of(c, "s");
  EXPECT_EQ(sfield(lots[0], "spent"), "30");
  EXPECT_EQ(sfield(lots[0], "expired"), "70");
}

TEST(http_subscriptions, an_idempotent_replay_of_a_subscription_grants_nothing_more) {
  live_server srv({"--test-clock"});
  http_client c(srv.port(), admin_key);
  put_plan(c, "m", R"({"credits_per_period":100,"period":"month"})");
  put_account(c, "s");
  const std::map<std::string, std::string> key{{"Idempotency-Key", "sub-s-1"}};
  auto first = c.request(verb::put, "/v1/accounts/s/subscription", R"({"plan":"m"})", key);
  ASSERT_EQ(first.status, 201u) << first.body;
  advance(c, 60);
  auto replay = c.request(verb::put, "/v1/accounts/s/subscription", R"({"plan":"m"})", key);
  EXPECT_EQ(replay.status, 201u) << replay.body;
  EXPECT_EQ(replay.body, first.body);
  EXPECT_EQ(entries_of_type(c, "s", "grant").size(), 1u);
  EXPECT_EQ(available(c, "s"), "100");
  auto other = c.request(verb::put, "/v1/accounts/s/subscription", R"({"plan":"x"})", key);
  EXPECT_EQ(other.status, 409u) << other.body;
  EXPECT_EQ(other.error_code(), "idempotency_conflict");
}
}  // namespace subscriptions_test_cpp
