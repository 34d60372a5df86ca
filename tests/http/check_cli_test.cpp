// `creditd check` end to end, the scenario of issue 11: a server takes a few
// charges and stops; one charge's amount is doubled in `entries` with
// sqlite3; `creditd check` must exit 1 naming that entry (it used to say
// "ok"). Before the change it passes and says what it verified.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>

#include <cstdio>
#include <string>

#include "http_fixture.hpp"
#include "support/shell_quote.hpp"

namespace creditd::testing {
namespace check_cli_test_cpp {  // unity builds: tests/CMakeLists.txt
namespace {

struct check_run {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

check_run run_check(const std::string& db) {
  check_run r;
  const std::string cmd =
      shell_quote(CREDITD_BINARY) + " check --store " + shell_quote("sqlite:" + db) + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p) != nullptr)
    r.output += buf;
  const int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// Runs one statement on the file with the sqlite3 C API; returns the rows
// it changed.
int sql(const std::string& db, const std::string& statement) {
  sqlite3* h = nullptr;
  if (sqlite3_open(db.c_str(), &h) != SQLITE_OK) {
    sqlite3_close(h);
    throw std::runtime_error("cannot open " + db);
  }
  char* error = nullptr;
  const int rc = sqlite3_exec(h, statement.c_str(), nullptr, nullptr, &error);
  const std::string message = error != nullptr ? error : "";
  sqlite3_free(error);
  const int changed = sqlite3_changes(h);
  sqlite3_close(h);
  if (rc != SQLITE_OK) throw std::runtime_error(statement + ": " + message);
  return changed;
}

std::int64_t sql_int(const std::string& db, const std::string& query) {
  sqlite3* h = nullptr;
  sqlite3_open(db.c_str(), &h);
  sqlite3_stmt* q = nullptr;
  std::int64_t v = -1;
  if (sqlite3_prepare_v2(h, query.c_str(), -1, &q, nullptr) == SQLITE_OK &&
      sqlite3_step(q) == SQLITE_ROW) {
    v = sqlite3_column_int64(q, 0);
  }
  sqlite3_finalize(q);
  sqlite3_close(h);
  return v;
}

TEST(check_cli, a_doubled_charge_amount_fails_the_check_naming_its_entry) {
  live_server srv;
  std::string second;
  {
    http_client c(srv.port(), admin_key);
    put_account(c, "acme");
    grant(c, "acme", "100");
    charge(c, "acme", "2.5");
    second = str(charge(c, "acme", "1"), "id");
    charge(c, "acme", "3");
  }
  ASSERT_EQ(srv.terminate(), 0);

  // Before: the store passes, and the check says what it verified.
  check_run before = run_check(srv.db());
  ASSERT_EQ(before.exit_code, 0) << before.output;
  EXPECT_EQ(before.output.rfind("ok: 1 accounts, 4 journal entries, 1 lots, 0 holds, 3 charges", 0),
            0u)
      << before.output;
  EXPECT_NE(before.output.find("balance_after recomputed (4 exactly"), std::string::npos)
      << before.output;

  // The second charge's entry, its amount doubled.
  const std::int64_t charge_id = std::stoll(second.substr(3));  // "ch_N"
  const std::int64_t seq =
      sql_int(srv.db(), "SELECT seq FROM entries WHERE type = 'charge' AND charge_id = " +
                            std::to_string(charge_id));
  ASSERT_GT(seq, 0);
  ASSERT_EQ(
      sql(srv.db(), "UPDATE entries SET amount = amount * 2 WHERE seq = " + std::to_string(seq)),
      1);

  check_run after = run_check(srv.db());
  EXPECT_EQ(after.exit_code, 1) << after.output;
  EXPECT_EQ(after.output.find("ok:"), std::string::npos) << after.output;
  const std::string entry = "entry " + std::to_string(seq) + " (charge, account acme)";
  EXPECT_NE(after.output.find(entry + ": amount 2000000 but its parts add up to 1000000"),
            std::string::npos)
      << after.output;
  // The row's checksum names it too, and the message names the file.
  EXPECT_NE(after.output.find("entries row seq=" + std::to_string(seq)), std::string::npos)
      << after.output;
  EXPECT_NE(after.output.find(srv.db()), std::string::npos) << after.output;
}

}  // namespace
}  // namespace check_cli_test_cpp
}  // namespace creditd::testing
