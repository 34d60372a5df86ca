// The real binary over real HTTP: a first walk through the main endpoints.
#include <gtest/gtest.h>

#include "support/http_client.hpp"
#include "support/server_process.hpp"
#include "support/temp_dir.hpp"

using namespace creditd::testing;

TEST(http_smoke, charge_flow_replay_refusal_and_shutdown) {
  temp_dir dir;
  server_process server(dir.file("smoke.db"), "admin-secret");
  http_client c(server.port(), "admin-secret");
  ASSERT_EQ(c.put("/v1/accounts/alice", R"({"name":"Alice"})").status, 201u);
  ASSERT_EQ(c.put("/v1/accounts/alice", R"({"name":"Alice B"})").status, 200u);
  ASSERT_EQ(c.post("/v1/accounts/alice/lots", R"({"amount":"10","kind":"prepaid"})").status, 201u);

  auto charge =
      c.post("/v1/accounts/alice/charges", R"({"operation":"image.generate","amount":2.5})",
             {{"Idempotency-Key", "k-1"}});
  ASSERT_EQ(charge.status, 201u) << charge.body;
  EXPECT_EQ(charge.json().at("balance_after").as_string(), "7.5");
  auto replay =
      c.post("/v1/accounts/alice/charges", R"({"operation":"image.generate","amount":"2.50"})",
             {{"Idempotency-Key", "k-1"}});
  EXPECT_EQ(replay.status, 201u);
  EXPECT_EQ(replay.body, charge.body);
  EXPECT_EQ(replay.headers["idempotent-replayed"], "true");
  auto conflict =
      c.post("/v1/accounts/alice/charges", R"({"operation":"image.generate","amount":3})",
             {{"Idempotency-Key", "k-1"}});
  EXPECT_EQ(conflict.status, 409u);
  EXPECT_EQ(conflict.error_code(), "idempotency_conflict");

  auto refused =
      c.post("/v1/accounts/alice/charges", R"({"operation":"image.generate","amount":8})");
  ASSERT_EQ(refused.status, 402u);
  EXPECT_EQ(refused.json().at("error").at("reason").as_string(), "balance");
  EXPECT_EQ(refused.json().at("error").at("available").as_string(), "7.5");
  EXPECT_EQ(c.get("/v1/accounts/alice/balance").json().at("available").as_string(), "7.5");

  http_client anonymous(server.port());
  EXPECT_EQ(anonymous.get("/v1/accounts/alice").status, 401u);
  EXPECT_EQ(anonymous.get("/healthz").status, 200u);
  auto key = c.post("/v1/api-keys", R"({"role":"reader","account":"alice"})");
  ASSERT_EQ(key.status, 201u) << key.body;
  http_client reader(server.port(), std::string(key.json().at("key").as_string()));
  EXPECT_EQ(reader.get("/v1/accounts/alice/balance").status, 200u);
  EXPECT_EQ(reader.post("/v1/accounts/alice/charges", R"({"operation":"x","amount":1})").status,
            403u);

  auto entries = c.get("/v1/accounts/alice/entries?limit=1");
  ASSERT_EQ(entries.status, 200u);
  EXPECT_EQ(entries.json().at("data").as_array().size(), 1u);
  EXPECT_FALSE(entries.json().at("next").is_null());

  EXPECT_EQ(server.terminate(), 0);
}
