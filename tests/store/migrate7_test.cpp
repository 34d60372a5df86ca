// Migration 7: the integer keys become rowid aliases. A schema-6 file with
// every kind of row migrates keeping every column, value and checksum; the
// migrated tables have no second key index; the journal reader's queries
// still walk an index in order.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <string>
#include <vector>

#include "store/schema.hpp"
#include "store/sqlite/sqlite_checksum.hpp"
#include "store/sqlite/sqlite_db.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "store/store_workload.hpp"
#include "support/ledger_dump.hpp"
#include "support/old_schema.hpp"
#include "support/sql_rows.hpp"
#include "support/stored_history.hpp"
#include "support/temp_dir.hpp"

namespace migrate7_test_cpp {  // unity builds: tests/CMakeLists.txt

using namespace creditd;
using namespace creditd::testing::store_workload;
using creditd::testing::dump_ledger;
using creditd::testing::query_plan;
using creditd::testing::rows_of;
using creditd::testing::temp_dir;

namespace {

const char* const rebuilt[] = {"lots", "holds", "charges", "entries", "events", "purchases"};

// A file at schema 6 holding the rows of `source` (written by this creditd):
// the tables as migrations 1 to 6 make them, filled by INSERT ... SELECT *
// (the same columns in the same order), so every row keeps its checksum.
void make_schema_6_copy(const std::string& source, const std::string& path) {
  auto db = must(store::sqlite::database::open(path, true));
  std::string sql = creditd::testing::schema_sql_up_to(6);
  sql += "ATTACH '" + source + "' AS src; BEGIN;";
  for (std::string_view table : store::sqlite::checksummed_tables)
    sql +=
        "INSERT INTO main." + std::string(table) + " SELECT * FROM src." + std::string(table) + ";";
  sql += "COMMIT; DETACH src;";
  must(db.exec(sql.c_str()));
}

}  // namespace

TEST(migration_7, a_schema_6_file_keeps_every_row_and_checksum) {
  ledger::ledger l;
  std::vector<ledger::change_set> sets = workload(l, 21, 10);
  // A schema 6 file's events are the two below (change sets carry events
  // from codec version 2 on, long after schema 7).
  for (ledger::change_set& cs : sets) {
    cs.events.clear();
    cs.notices_until = 0;
  }
  temp_dir dir;
  const std::string source = dir.file("source.db"), path = dir.file("v6.db");
  {
    auto s = open_store(source);
    for (const ledger::change_set& cs : sets)
      must(s->commit(cs));
  }
  {
    // Rows in the tables no change set writes: an event and an API key.
    auto db = must(store::sqlite::database::open(source, false));
    must(
        db.exec("INSERT INTO events (seq, type, account, data, created_at) VALUES "
                "(1, 'low_balance', 'acct-1', '{}', 5), (7, 'x', 'acct-2', '\"\"', 6);"
                "INSERT INTO api_keys (id, hash, role, account, created_at, revoked_at) VALUES "
                "('key_1', 'h', 'admin', '', 1, NULL);"));
    must(store::sqlite::fill_row_checksums(db));
    EXPECT_EQ(store::sqlite::verify_row_checksums(db), "");
  }
  make_schema_6_copy(source, path);
  const std::string before = dump_tables(path);
  std::vector<std::string> shape_6;
  {
    auto db = must(store::sqlite::database::open(path, false));
    EXPECT_EQ(rows_of(db, "SELECT MAX(version) FROM schema_migrations"),
              std::vector<std::string>{"6"});
    for (const char* t : rebuilt) {
      for (std::string& c : rows_of(db, std::string("PRAGMA table_info(") + t + ")"))
        shape_6.push_back(t + ("|" + c));
      EXPECT_EQ(rows_of(db, std::string("SELECT name FROM sqlite_master WHERE tbl_name = '") + t +
                                "' AND name LIKE 'sqlite_autoindex%'")
                    .size(),
                1u)
          << t;
    }
    EXPECT_NE(before.find("events: 2 rows"), std::string::npos);
    EXPECT_EQ(before.find("purchases: 0 rows"), std::string::npos);
  }
  {
    auto s = open_store(path);  // migrates
    ledger::ledger loaded;
    must(s->load(loaded, t0 + 3600 * ledger::us_per_second));
    EXPECT_EQ(creditd::testing::dump_ledger(loaded, s->path()), dump_ledger(l));
    EXPECT_EQ(*s->audit_journal(loaded), "");
  }
  EXPECT_EQ(dump_tables(path), before);
  auto db = must(store::sqlite::database::open(path, false));
  EXPECT_EQ(rows_of(db, "SELECT MAX(version) FROM schema_migrations"),
            std::vector<std::string>{std::to_string(store::schema_version_latest)});
  EXPECT_EQ(store::sqlite::verify_row_checksums(db), "");
  EXPECT_EQ(rows_of(db, "PRAGMA integrity_check"), std::vector<std::string>{"ok"});
  // The same columns, order, types (the key's apart), NOT NULLs and defaults.
  std::vector<std::string> shape_7;
  for (const char* t : rebuilt) {
    // From migration 11 `lots` is a view of lot_terms and lot_amounts: its
    // columns' NOT NULLs and key are theirs (id the rowid of both).
    const std::string table_info = std::string(t) == "lots"
                                       ? creditd::testing::lots_view_table_info_sql()
                                       : std::string("PRAGMA table_info(") + t + ")";
    for (std::string& c : rows_of(db, table_info)) {
      if (c.starts_with("0|")) {
        // The key: INTEGER now, the rowid itself (no index of its own).
        EXPECT_NE(c.find("|INTEGER|"), std::string::npos) << t << ": " << c;
        c.replace(c.find("|INTEGER|"), 9, "|BIGINT|");
      }
      shape_7.push_back(t + ("|" + c));
    }
    EXPECT_EQ(rows_of(db, std::string("SELECT name FROM sqlite_master WHERE tbl_name = '") + t +
                              "' AND name LIKE 'sqlite_autoindex%'"),
              std::vector<std::string>{})
        << t;
    for (const std::string& table : std::string(t) == "lots"
                                        ? std::vector<std::string>{"lot_terms", "lot_amounts"}
                                        : std::vector<std::string>{t}) {
      EXPECT_EQ(rows_of(db, "SELECT count(*) FROM " + table + " WHERE rowid IS NOT " +
                                (table == "entries" || table == "events" ? "seq" : "id")),
                std::vector<std::string>{"0"})
          << table;
    }
  }
  EXPECT_EQ(shape_7, shape_6);
  EXPECT_EQ(rows_of(db, "SELECT name FROM sqlite_master WHERE name LIKE '%_v7'"),
            std::vector<std::string>{});
}

// A new file is made at the latest version the same way; the journal
// reader's queries (per account, after a key, in key order) walk the
// narrowed (account) indexes without sorting. (The journal's own, since
// migration 10, is ordered by block first: journal_blocks_test.cpp.)
TEST(migration_7, the_per_account_queries_use_the_narrow_indexes_in_order) {
  temp_dir dir;
  const std::string path = dir.file("x.db");
  { auto s = open_store(path); }
  auto db = must(store::sqlite::database::open(path, false));
  const std::pair<const char*, const char*> queries[] = {
      {"SELECT * FROM lots WHERE account = 'a' AND id > 3 ORDER BY id LIMIT 10", "lots_account"},
      {"SELECT * FROM purchases WHERE account = 'a' AND id > 3 ORDER BY id LIMIT 10",
       "purchases_account"},
  };
  for (const auto& [sql, index] : queries) {
    const std::string plan = query_plan(db, sql);
    EXPECT_NE(plan.find(std::string("USING INDEX ") + index + " (account=? AND rowid>?)"),
              std::string::npos)
        << sql << "\n"
        << plan;
    EXPECT_EQ(plan.find("TEMP B-TREE"), std::string::npos) << sql << "\n" << plan;
  }
}

// A key SQLite cannot make a rowid (text in a BIGINT key, which schema 6
// took) fails the migration, naming the file; the file is left at schema 6
// exactly as it was, every table in place.
TEST(migration_7, a_failed_migration_leaves_the_schema_6_file_as_it_was) {
  temp_dir dir;
  const std::string path = dir.file("v6.db");
  {
    auto db = must(store::sqlite::database::open(path, true));
    std::string sql = creditd::testing::schema_sql_up_to(6);
    sql +=
        "INSERT INTO charges (id, account, amount, refunded, parts, created_at, hold_id, "
        "postpaid_period) VALUES (4, 'a', 1, 0, '[]', 1, 0, 1), ('x4', 'a', 1, 0, '[]', 1, 0, 1);";
    must(db.exec(sql.c_str()));
  }
  const std::string before = dump_tables(path);
  auto s = store::sqlite::sqlite_store::open({path});
  ASSERT_FALSE(s.has_value());
  EXPECT_NE(s.error().message.find("migration 7 failed"), std::string::npos) << s.error().message;
  EXPECT_NE(s.error().message.find(path), std::string::npos) << s.error().message;
  EXPECT_EQ(dump_tables(path), before);
  auto db = must(store::sqlite::database::open(path, false));
  EXPECT_EQ(rows_of(db, "SELECT MAX(version) FROM schema_migrations"),
            std::vector<std::string>{"6"});
  EXPECT_EQ(rows_of(db, "SELECT name FROM sqlite_master WHERE name LIKE '%_v7'"),
            std::vector<std::string>{});
  EXPECT_EQ(rows_of(db, "SELECT type FROM pragma_table_info('charges') WHERE pk = 1"),
            std::vector<std::string>{"BIGINT"});
}
}  // namespace migrate7_test_cpp
