// POST /v1/store/flush: once it answers, the SQLite file holds every write
// answered before it, lots included, though the log's applier would have
// held them back a minute; only an admin may ask; 0 without a log.
#include <set>

#include "http_fixture.hpp"
#include "support/sql_rows.hpp"

namespace store_flush_test_cpp {  // unity builds: tests/CMakeLists.txt

using namespace creditd::testing;

namespace {

// Every row of `sql` (sql_rows.hpp: columns joined with '|'), read from the
// store file through a connection of its own beside the running server.
std::vector<std::string> file_rows(const std::string& db, const std::string& sql) {
  auto h = creditd::store::sqlite::database::open(db, false);
  EXPECT_TRUE(h.has_value()) << db;
  if (!h) return {};
  EXPECT_TRUE(h->exec("PRAGMA query_only=1; PRAGMA busy_timeout=10000;").has_value());
  return rows_of(*h, sql);
}

std::uint64_t applied_log_seq(const http_reply& r) {
  return r.json().at("applied_log_seq").to_number<std::uint64_t>();
}

// The ids ("ch_12") of the charges whose journal entries the file holds.
std::set<std::string> charges_in_file(const std::string& db, const std::string& account) {
  std::set<std::string> out;
  for (const std::string& id : file_rows(db, "SELECT charge_id FROM entries WHERE account = '" +
                                                 account + "' AND type = 'charge'"))
    out.insert("ch_" + id);
  return out;
}

}  // namespace

TEST(http_store_flush, the_file_holds_every_answered_charge_and_its_lot) {
  // The applier would hold every write back a minute, and a lot's changes
  // 1,000 records more: within the test only the flush puts them in the file.
  live_server srv({"--apply-delay-ms", "60000", "--lot-lag-records", "1000"});
  http_client admin(srv.port(), admin_key);
  put_account(admin, "a");
  grant(admin, "a", "100");
  std::set<std::string> charged;
  for (int i = 0; i < 5; ++i)
    charged.insert(str(charge(admin, "a", "1"), "id"));

  const auto flushed = expect(admin.post("/v1/store/flush", ""), 200, "flush");
  EXPECT_GT(applied_log_seq(flushed), 0u) << flushed.body;
  EXPECT_EQ(charges_in_file(srv.db(), "a"), charged);
  // 5 of the lot's 100 credits spent, in micro-credits.
  EXPECT_EQ(file_rows(srv.db(), "SELECT remaining FROM lots WHERE account = 'a'"),
            std::vector<std::string>{"95000000"});

  // A later flush holds the later writes, and says a later record.
  charged.insert(str(charge(admin, "a", "1"), "id"));
  const auto again = expect(admin.post("/v1/store/flush", ""), 200, "second flush");
  EXPECT_GT(applied_log_seq(again), applied_log_seq(flushed)) << again.body;
  EXPECT_EQ(charges_in_file(srv.db(), "a"), charged);
}

TEST(http_store_flush, only_an_admin_may_flush_and_it_takes_no_body) {
  live_server srv;
  http_client admin(srv.port(), admin_key);
  put_account(admin, "a");
  for (const std::string body : {R"({"role":"service"})", R"({"role":"reader","account":"a"})"}) {
    http_client low(srv.port(), field(expect(admin.post("/v1/api-keys", body), 201, "key"), "key"));
    const auto refused = low.post("/v1/store/flush", "");
    EXPECT_EQ(refused.status, 403u) << body << ": " << refused.body;
    EXPECT_EQ(refused.error_code(), "forbidden") << body;
  }
  http_client none(srv.port());
  const auto anonymous = none.post("/v1/store/flush", "");
  EXPECT_EQ(anonymous.status, 401u) << anonymous.body;
  EXPECT_EQ(anonymous.error_code(), "unauthenticated");
  const auto with_body = admin.post("/v1/store/flush", "{}");
  EXPECT_EQ(with_body.status, 400u) << with_body.body;
  EXPECT_EQ(with_body.error_code(), "invalid_request");
}

TEST(http_store_flush, without_the_log_it_answers_zero) {
  live_server srv({"--no-log"});
  http_client admin(srv.port(), admin_key);
  put_account(admin, "a");
  grant(admin, "a", "10");
  const std::string id = str(charge(admin, "a", "1"), "id");
  const auto flushed = expect(admin.post("/v1/store/flush", ""), 200, "flush");
  EXPECT_EQ(applied_log_seq(flushed), 0u) << flushed.body;
  EXPECT_EQ(charges_in_file(srv.db(), "a"), std::set<std::string>{id});
}

}  // namespace store_flush_test_cpp
