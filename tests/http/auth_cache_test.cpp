// The per-connection key cache (issue 12): a connection authenticates its
// key once, but a revoke refuses the next request on every open connection
// using the key, and another key on the same connection is never answered
// as the cached one.
#include <gtest/gtest.h>

#include "http_fixture.hpp"

namespace auth_cache_test_cpp {  // unity builds: tests/CMakeLists.txt

using namespace creditd::testing;

namespace {

// A new key of `role` (and `account` for a reader); returns {id, key}.
std::pair<std::string, std::string> new_key(http_client& admin, const std::string& role,
                                            const std::string& account = "") {
  std::string body = R"({"role":")" + role + "\"";
  if (!account.empty()) body += R"(,"account":")" + account + "\"";
  body += "}";
  auto created = expect(admin.post("/v1/api-keys", body), 201, "create key");
  return {field(created, "id"), field(created, "key")};
}

}  // namespace

TEST(http_auth_cache, a_revoke_refuses_the_next_request_on_an_open_connection) {
  live_server srv;
  http_client admin(srv.port(), admin_key);
  put_account(admin, "a");
  grant(admin, "a", "10");
  const auto [id, key] = new_key(admin, "service");
  http_client svc(srv.port(), key);  // one keep-alive connection throughout
  EXPECT_EQ(svc.get("/v1/accounts/a/balance").status, 200u);
  EXPECT_EQ(svc.get("/v1/accounts/a/balance").status, 200u);  // the cached key
  charge(svc, "a", "1");
  expect(admin.del("/v1/api-keys/" + id), 200, "revoke");
  auto refused = svc.get("/v1/accounts/a/balance");
  EXPECT_EQ(refused.status, 401u) << describe(refused);
  EXPECT_EQ(svc.post("/v1/accounts/a/charges", R"({"operation":"x","amount":1})").status, 401u);
  EXPECT_EQ(available(admin, "a"), "9");
}

TEST(http_auth_cache, each_key_on_one_connection_is_itself) {
  live_server srv;
  http_client admin(srv.port(), admin_key);
  put_account(admin, "a");
  put_account(admin, "b");
  const auto service = new_key(admin, "service");
  const auto reader = new_key(admin, "reader", "a");
  http_client c(srv.port(), service.second);
  EXPECT_EQ(c.get("/v1/accounts/b/balance").status, 200u);
  // The reader key on the same connection: its own role, not the cached one.
  c.set_key(reader.second);
  EXPECT_EQ(c.get("/v1/accounts/a/balance").status, 200u);
  EXPECT_EQ(c.get("/v1/accounts/b/balance").status, 403u);
  // A key that differs from the cached one in its last byte.
  std::string near = reader.second;
  near.back() = near.back() == '0' ? '1' : '0';
  c.set_key(near);
  EXPECT_EQ(c.get("/v1/accounts/a/balance").status, 401u);
  c.set_key(service.second);
  EXPECT_EQ(c.get("/v1/accounts/b/balance").status, 200u);
  // Revoking the reader key while the connection caches the service key:
  // the service key goes on working, the reader key is refused.
  expect(admin.del("/v1/api-keys/" + reader.first), 200, "revoke");
  EXPECT_EQ(c.get("/v1/accounts/b/balance").status, 200u);
  c.set_key(reader.second);
  EXPECT_EQ(c.get("/v1/accounts/a/balance").status, 401u);
}
}  // namespace auth_cache_test_cpp
