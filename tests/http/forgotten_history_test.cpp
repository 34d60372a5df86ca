// Over HTTP, the creditd binary with --kept-in-memory 0 (every charge and
// closed hold forgotten as soon as it is durable) on the default store (the
// append-only log, SQLite filled in behind it): refunds, hold reads and
// captures of forgotten objects (and refunds into spent lots) are answered
// from the store, through the
// log's barrier, across a SIGKILL and restart.
#include <gtest/gtest.h>

#include <string>

#include "http_fixture.hpp"

using namespace creditd::testing;

TEST(http_forgotten, refunds_and_holds_of_forgotten_objects_are_answered_from_the_store) {
  live_server srv({"--kept-in-memory", "0"});
  http_client c(srv.port(), admin_key);
  put_account(c, "f");
  grant(c, "f", "100");
  std::vector<std::string> charges;
  for (int i = 0; i < 20; ++i)
    charges.push_back(str(charge(c, "f", "2"), "id"));
  auto placed =
      expect(c.post("/v1/accounts/f/holds", R"({"operation":"x","amount":10})"), 201, "hold");
  const std::string hold = field(placed, "id");
  expect(c.post("/v1/holds/" + hold + "/capture", R"({"amount":4})"), 200, "capture");
  EXPECT_EQ(available(c, "f"), "56");

  // Each refund reads its charge back (the first ones long forgotten).
  for (std::size_t i = 0; i < charges.size(); i += 2) {
    auto r = c.post("/v1/charges/" + charges[i] + "/refund", R"({"amount":1})");
    ASSERT_EQ(r.status, 201u) << describe(r);
    EXPECT_EQ(field(r, "charge_refunded"), "1");
  }
  EXPECT_EQ(available(c, "f"), "66");
  auto read = expect(c.get("/v1/holds/" + hold), 200, "hold read");
  EXPECT_EQ(field(read, "status"), "captured");
  EXPECT_EQ(field(read, "captured"), "4");
  EXPECT_EQ(c.post("/v1/holds/" + hold + "/release", "{}").status, 409u);

  // After a SIGKILL, the refunds made before are in what is read back.
  srv.kill_now();
  srv.restart();
  http_client d(srv.port(), admin_key);
  EXPECT_EQ(available(d, "f"), "66");
  for (std::size_t i = 0; i < charges.size(); i += 2) {
    auto too_much = d.post("/v1/charges/" + charges[i] + "/refund", R"({"amount":"1.5"})");
    EXPECT_EQ(too_much.status, 400u) << describe(too_much);
    auto rest = d.post("/v1/charges/" + charges[i] + "/refund", "{}");
    ASSERT_EQ(rest.status, 201u) << describe(rest);
    EXPECT_EQ(field(rest, "amount"), "1");
    EXPECT_EQ(field(rest, "charge_refunded"), "2");
  }
  EXPECT_EQ(available(d, "f"), "76");
  EXPECT_EQ(field(expect(d.get("/v1/holds/" + hold), 200, "hold read"), "status"), "captured");
  EXPECT_EQ(d.post("/v1/charges/ch_999999/refund", "{}").status, 404u);

  // A lot spent whole is forgotten; a refund into it reads it back.
  put_account(d, "g");
  const std::string lot = grant(d, "g", "3");
  const std::string spent = str(charge(d, "g", "3"), "id");
  auto lots = expect(d.get("/v1/accounts/g/lots"), 200, "lots").json();
  EXPECT_EQ(str(lots.at("data").as_array().at(0), "status"), "depleted");
  auto back = d.post("/v1/charges/" + spent + "/refund", R"({"amount":2})");
  ASSERT_EQ(back.status, 201u) << describe(back);
  EXPECT_EQ(bj::serialize(back.json().at("lots")), R"([{"lot":")" + lot + R"(","amount":"2"}])");
  EXPECT_EQ(available(d, "g"), "2");
  EXPECT_EQ(d.get("/v1/holds/hold_999999").status, 404u);
}

TEST(http_forgotten, the_option_is_checked) {
  EXPECT_THROW(live_server({"--kept-in-memory", "-1"}), std::exception);
}
