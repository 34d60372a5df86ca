// GET /v1/events: cursor paging, the type and account filters, a reader
// key's scope, an event listed as soon as the charge that caused it was
// answered, expiry events at their test-clock instants, and events kept
// across a SIGKILL.
#include "http_fixture.hpp"

namespace events_test_cpp {  // unity builds: tests/CMakeLists.txt

using namespace creditd::testing;

namespace {

using strings = std::vector<std::string>;

// Every event the query lists, through all pages of `limit`: "seq type account".
strings list_all(http_client& c, const std::string& query, int limit = 1000) {
  strings out;
  std::string after = "0";
  for (int page = 0; page < 1000; ++page) {
    std::string target = "/v1/events?limit=" + std::to_string(limit) + "&after=" + after;
    if (!query.empty()) target += "&" + query;
    auto v = expect(c.get(target), 200, target).json();
    for (const auto& e : v.at("data").as_array()) {
      const std::int64_t seq = e.at("seq").as_int64();
      EXPECT_EQ(str(e, "id"), "evt_" + std::to_string(seq));
      EXPECT_EQ(str(e, "object"), "event");
      out.push_back(std::to_string(seq) + " " + str(e, "type") + " " + str(e, "account"));
    }
    if (v.at("next").is_null()) return out;
    after = str(v.at("next"));
  }
  ADD_FAILURE() << "too many pages";
  return out;
}

}  // namespace

TEST(http_events, pages_and_filters_list_what_happened_in_order) {
  live_server srv;
  http_client c(srv.port(), admin_key);
  put_account(c, "A", R"({"settings":{"low_balance_thresholds":[5, 2]}})");
  put_account(c, "B");
  grant(c, "A", "10");  // 1 A restored
  grant(c, "B", "1");   // 2 B restored
  charge(c, "A", "9");  // 3, 4 A low (5, then 2)
  auto refused = c.post("/v1/accounts/B/charges", R"({"operation":"x","amount":5})");
  ASSERT_EQ(refused.status, 402u) << refused.body;  // 5 B charge.refused
  charge(c, "B", "1");                              // 6 B depleted

  const strings all = {"1 balance.restored A", "2 balance.restored B", "3 balance.low A",
                       "4 balance.low A",      "5 charge.refused B",   "6 balance.depleted B"};
  EXPECT_EQ(list_all(c, ""), all);
  EXPECT_EQ(list_all(c, "", 1), all);  // one a page, through each page's next
  EXPECT_EQ(list_all(c, "", 4), all);
  EXPECT_EQ(list_all(c, "account=B"),
            (strings{"2 balance.restored B", "5 charge.refused B", "6 balance.depleted B"}));
  EXPECT_EQ(list_all(c, "type=balance.low"), (strings{"3 balance.low A", "4 balance.low A"}));
  EXPECT_EQ(list_all(c, "type=balance.low&account=B"), strings{});

  // One event whole; `after` takes a seq or an id.
  auto v = expect(c.get("/v1/events?after=2&limit=1"), 200, "page").json();
  const auto& e = v.at("data").as_array().at(0);
  EXPECT_EQ(str(e, "id"), "evt_3");
  EXPECT_EQ(str(e, "account"), "A");
  EXPECT_EQ(str(e.at("data"), "available_before"), "10");
  EXPECT_EQ(str(e.at("data"), "available_after"), "1");
  EXPECT_EQ(str(e.at("data"), "threshold"), "5");
  EXPECT_NO_THROW(parse_time(str(e, "created_at")));
  EXPECT_EQ(str(v.at("next")), "evt_3");
  auto by_id = expect(c.get("/v1/events?after=evt_5"), 200, "after an id").json();
  ASSERT_EQ(by_id.at("data").as_array().size(), 1u);
  EXPECT_EQ(str(by_id.at("data").as_array().at(0), "type"), "balance.depleted");
  EXPECT_EQ(list_all(c, "type=charge.refused"), strings{"5 charge.refused B"});
  auto r5 = expect(c.get("/v1/events?after=4&limit=1"), 200, "refusal").json();
  const auto& d5 = r5.at("data").as_array().at(0).at("data");
  EXPECT_EQ(str(d5, "reason"), "balance");
  EXPECT_EQ(str(d5, "amount"), "5");
  EXPECT_EQ(str(d5, "available"), "1");

  // Bad input is 400.
  for (const char* bad : {"/v1/events?after=x", "/v1/events?after=ent_3", "/v1/events?type=nope",
                          "/v1/events?account=a%20b", "/v1/events?limit=0", "/v1/events?foo=1"}) {
    auto r = c.get(bad);
    EXPECT_EQ(r.status, 400u) << bad << ": " << r.body;
  }
}

TEST(http_events, a_reader_key_sees_its_own_account_only) {
  live_server srv;
  http_client admin(srv.port(), admin_key);
  put_account(admin, "A");
  put_account(admin, "B");
  grant(admin, "A", "1");
  grant(admin, "B", "1");
  const std::string reader_a = field(
      expect(admin.post("/v1/api-keys", R"({"role":"reader","account":"A"})"), 201, "key"), "key");
  const std::string service =
      field(expect(admin.post("/v1/api-keys", R"({"role":"service"})"), 201, "key"), "key");
  http_client a(srv.port(), reader_a);
  EXPECT_EQ(list_all(a, ""), strings{"1 balance.restored A"});
  EXPECT_EQ(list_all(a, "account=A"), strings{"1 balance.restored A"});
  auto other = a.get("/v1/events?account=B");
  EXPECT_EQ(other.status, 403u) << other.body;
  EXPECT_EQ(other.error_code(), "forbidden");
  http_client s(srv.port(), service);
  EXPECT_EQ(list_all(s, ""), (strings{"1 balance.restored A", "2 balance.restored B"}));
  http_client none(srv.port(), "");
  EXPECT_EQ(none.get("/v1/events").status, 401u);
}

TEST(http_events, an_event_is_listed_as_soon_as_its_charge_was_answered) {
  live_server srv;
  http_client c(srv.port(), admin_key);
  put_account(c, "A", R"({"settings":{"low_balance_thresholds":[1]}})");
  // Each round crosses the threshold again (grant back above it, charge
  // below), and the list must show it the moment the charge is answered.
  for (int i = 1; i <= 30; ++i) {
    grant(c, "A", "2");
    charge(c, "A", "2");
    EXPECT_EQ(list_all(c, "account=A&type=balance.low").size(), static_cast<std::size_t>(i))
        << "round " << i;
  }
}

TEST(http_events, expiry_events_carry_their_test_clock_instants_and_survive_a_kill) {
  live_server srv({"--test-clock"});
  http_client c(srv.port(), admin_key);
  const std::int64_t start = clock_now(c);
  put_account(c, "A");  // expiring_soon_days: 3 unless set
  EXPECT_EQ(expect(c.get("/v1/accounts/A"), 200, "account")
                .json()
                .at("settings")
                .at("expiring_soon_days")
                .as_int64(),
            3);
  grant(c, "A", "10", "prepaid",
        R"("expires_at":")" + format_time(start + 10 * 86400 * us_per_second) + "\"");
  const std::string hold = field(
      expect(c.post("/v1/accounts/A/holds", R"({"operation":"x","amount":1,"ttl_seconds":60})"),
             201, "hold"),
      "id");
  advance(c, 8 * 86400);
  auto v = expect(c.get("/v1/events?after=1"), 200, "events").json();
  const auto& data = v.at("data").as_array();
  ASSERT_EQ(data.size(), 2u) << v;
  EXPECT_EQ(str(data.at(0), "type"), "hold.expired");
  EXPECT_EQ(parse_time(str(data.at(0), "created_at")), start + 60 * us_per_second);
  EXPECT_EQ(str(data.at(0).at("data"), "hold"), hold);
  EXPECT_EQ(str(data.at(1), "type"), "lot.expiring_soon");
  EXPECT_EQ(parse_time(str(data.at(1), "created_at")), start + 7 * 86400 * us_per_second);
  EXPECT_EQ(str(data.at(1).at("data"), "amount"), "10");
  advance(c, 2 * 86400);
  const strings all = {"1 balance.restored A", "2 hold.expired A", "3 lot.expiring_soon A",
                       "4 lot.expired A", "5 balance.depleted A"};
  EXPECT_EQ(list_all(c, ""), all);
  // SIGKILL: every event answered is there after the restart, and the
  // notice is not sent again.
  srv.kill_now();
  srv.restart();
  http_client again(srv.port(), admin_key);
  EXPECT_EQ(list_all(again, ""), all);
  advance(again, 86400);
  grant(again, "A", "1");
  auto after = expect(again.get("/v1/events?after=5"), 200, "after restart").json();
  ASSERT_EQ(after.at("data").as_array().size(), 1u);
  EXPECT_EQ(str(after.at("data").as_array().at(0), "id"), "evt_6");
  EXPECT_EQ(str(after.at("data").as_array().at(0), "type"), "balance.restored");
}
}  // namespace events_test_cpp
