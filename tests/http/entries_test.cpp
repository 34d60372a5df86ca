// The journal: GET /v1/accounts/{id}/entries, oldest first, cursor paging.
#include "http_fixture.hpp"

using namespace creditd::testing;

TEST(http_entries, pages_with_limit_after_and_next) {
  live_server srv;
  http_client c(srv.port(), admin_key);
  put_account(c, "j");
  put_account(c, "noise");
  for (int i = 1; i <= 3; ++i)
    grant(c, "j", std::to_string(i));
  grant(c, "noise", "100");
  charge(c, "noise", "1");
  charge(c, "j", "0.5");
  charge(c, "j", "0.25");  // j: 3 grants + 2 charges = 5 entries

  auto all = c.get("/v1/accounts/j/entries");
  ASSERT_EQ(all.status, 200u) << all.body;
  const auto av = all.json();
  const auto& data = av.at("data").as_array();
  ASSERT_EQ(data.size(), 5u);
  EXPECT_TRUE(av.at("next").is_null());
  std::int64_t last_seq = 0;
  std::vector<std::string> types, amounts, balances;
  for (const auto& e : data) {
    EXPECT_EQ(str(e, "account"), "j");
    EXPECT_EQ(str(e, "object"), "entry");
    EXPECT_GT(e.at("seq").as_int64(), last_seq);
    last_seq = e.at("seq").as_int64();
    EXPECT_EQ(str(e, "id"), "ent_" + std::to_string(last_seq));
    types.push_back(str(e, "type"));
    amounts.push_back(str(e, "amount"));
    balances.push_back(str(e, "balance_after"));
  }
  EXPECT_EQ(types, (std::vector<std::string>{"grant", "grant", "grant", "charge", "charge"}));
  EXPECT_EQ(amounts, (std::vector<std::string>{"1", "2", "3", "0.5", "0.25"}));
  EXPECT_EQ(balances, (std::vector<std::string>{"1", "3", "6", "5.5", "5.25"}));

  // limit=2: 2, 2, 1 and next null at the end.
  std::vector<std::string> ids;
  std::vector<std::size_t> sizes;
  std::string target = "/v1/accounts/j/entries?limit=2";
  for (int page = 0; page < 10; ++page) {
    auto r = c.get(target);
    ASSERT_EQ(r.status, 200u) << r.body;
    auto v = r.json();
    sizes.push_back(v.at("data").as_array().size());
    for (const auto& e : v.at("data").as_array())
      ids.push_back(str(e, "id"));
    if (v.at("next").is_null()) break;
    EXPECT_EQ(str(v.at("next")), ids.back());
    target = "/v1/accounts/j/entries?limit=2&after=" + str(v.at("next"));
  }
  EXPECT_EQ(sizes, (std::vector<std::size_t>{2, 2, 1}));
  std::vector<std::string> expected_ids;
  for (const auto& e : data)
    expected_ids.push_back(str(e, "id"));
  EXPECT_EQ(ids, expected_ids);

  // A page that ends exactly at the last entry says next null; after the last
  // entry the page is empty.
  auto exact = c.get("/v1/accounts/j/entries?limit=5");
  EXPECT_TRUE(exact.json().at("next").is_null()) << exact.body;
  auto one = c.get("/v1/accounts/j/entries?limit=1&after=" + expected_ids[4]);
  ASSERT_EQ(one.status, 200u);
  EXPECT_EQ(one.json().at("data").as_array().size(), 0u);
  EXPECT_TRUE(one.json().at("next").is_null());
  EXPECT_EQ(c.get("/v1/accounts/j/entries?limit=1000").json().at("data").as_array().size(), 5u);

  for (const char* q : {"limit=0", "limit=1001", "limit=abc", "limit=", "limit=-1", "limit=2.5",
                        "limit=1e2", "after=xyz", "after=lot_1", "after=ent_0"}) {
    auto r = c.get(std::string("/v1/accounts/j/entries?") + q);
    EXPECT_EQ(r.status, 400u) << q << ": " << r.body;
    EXPECT_EQ(r.error_code(), "invalid_request") << q;
  }
}

TEST(http_entries, default_limit_is_50) {
  live_server srv;
  http_client c(srv.port(), admin_key);
  put_account(c, "many");
  grant(c, "many", "1000");
  std::string batch = R"({"charges":[)";
  for (int i = 0; i < 60; ++i)
    batch += std::string(i ? "," : "") + R"({"operation":"x","amount":1})";
  ASSERT_EQ(c.post("/v1/accounts/many/charges:batch", batch + "]}").status, 201u);
  auto first = c.get("/v1/accounts/many/entries");
  ASSERT_EQ(first.status, 200u);
  const auto fv = first.json();
  ASSERT_EQ(fv.at("data").as_array().size(), 50u);
  ASSERT_FALSE(fv.at("next").is_null());
  auto rest = c.get("/v1/accounts/many/entries?after=" + str(fv.at("next")));
  ASSERT_EQ(rest.status, 200u);
  EXPECT_EQ(rest.json().at("data").as_array().size(), 11u);
  EXPECT_TRUE(rest.json().at("next").is_null());
  EXPECT_EQ(entries(c, "many").size(), 61u);
  EXPECT_EQ(available(c, "many"), "940");
}

TEST(http_entries, entries_name_their_objects) {
  live_server srv;
  http_client c(srv.port(), admin_key);
  put_account(c, "o");
  const std::string lot = grant(c, "o", "10", "prepaid", R"("reason":"signup")");
  auto ch = c.post(
      "/v1/accounts/o/charges",
      R"({"operation":"llm.tokens","amount":2,"reference":"job-1","dimensions":{"model":"m1"}})");
  ASSERT_EQ(ch.status, 201u);
  auto refund = c.post("/v1/charges/" + field(ch, "id") + "/refund", R"({"amount":1})");
  ASSERT_EQ(refund.status, 201u);
  auto h = c.post("/v1/accounts/o/holds",
                  R"({"operation":"image.generate","amount":3,"reference":"job-2"})");
  ASSERT_EQ(h.status, 201u);
  ASSERT_EQ(c.post("/v1/holds/" + field(h, "id") + "/capture", R"({"amount":3})").status, 200u);

  auto es = entries(c, "o");
  ASSERT_EQ(es.size(), 5u);
  EXPECT_EQ(es[0].at("type").as_string(), "grant");
  EXPECT_EQ(es[0].at("lot").as_string(), lot);
  EXPECT_EQ(es[0].at("reason").as_string(), "signup");
  EXPECT_EQ(es[1].at("type").as_string(), "charge");
  EXPECT_EQ(es[1].at("charge").as_string(), field(ch, "id"));
  EXPECT_EQ(es[1].at("reference").as_string(), "job-1");
  EXPECT_EQ(es[1].at("operation").as_string(), "llm.tokens");
  EXPECT_EQ(bj::serialize(es[1].at("dimensions")), R"({"model":"m1"})");
  EXPECT_EQ(es[2].at("type").as_string(), "refund");
  EXPECT_EQ(es[2].at("refund").as_string(), field(refund, "id"));
  EXPECT_EQ(es[2].at("charge").as_string(), field(ch, "id"));
  EXPECT_EQ(es[3].at("type").as_string(), "hold");
  EXPECT_EQ(es[3].at("hold").as_string(), field(h, "id"));
  EXPECT_EQ(es[3].at("reference").as_string(), "job-2");
  EXPECT_EQ(es[4].at("type").as_string(), "capture");
  EXPECT_EQ(es[4].at("hold").as_string(), field(h, "id"));
  EXPECT_EQ(es[4].at("amount").as_string(), "3");
  EXPECT_EQ(es[4].at("balance_after").as_string(), "6");
  for (const auto& e : es) {
    EXPECT_EQ(bj::serialize(e.at("lots")).find(lot) != std::string::npos, true) << bj::serialize(e);
    EXPECT_NO_THROW(parse_time(std::string(e.at("created_at").as_string())));
  }
}
