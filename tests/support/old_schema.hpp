// The SQL that makes a store file at an older schema version: every
// migration up to `version` and its schema_migrations rows, for tests that
// open files written before a migration.
#pragma once

#include <string>

#include "store/schema.hpp"

namespace creditd::testing {

inline std::string schema_sql_up_to(int version) {
  std::string sql =
      "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL);";
  for (const store::migration& m : store::migrations) {
    if (m.version > version) break;
    sql += m.sql;
    sql += "INSERT INTO schema_migrations VALUES (" + std::to_string(m.version) + ", 0);";
  }
  return sql;
}

// PRAGMA table_info's rows (cid, name, type, notnull, dflt_value, pk) for
// the view `lots` of migration 11, as the table it replaced had them: its
// NOT NULLs are those of lot_terms and lot_amounts, and `id` (the rowid of
// both) is its key.
inline std::string lots_view_table_info_sql() {
  return "SELECT v.cid, v.name, v.type, COALESCE(t.\"notnull\", a.\"notnull\", 0), v.dflt_value, "
         "CASE v.name WHEN 'id' THEN 1 ELSE 0 END FROM pragma_table_info('lots') AS v "
         "LEFT JOIN pragma_table_info('lot_terms') AS t ON t.name = v.name AND v.name <> 'id' "
         "LEFT JOIN pragma_table_info('lot_amounts') AS a ON a.name = v.name AND v.name <> 'id' "
         "ORDER BY v.cid";
}

// The SQL that puts the lots of a file made by this creditd back in one
// table, as migration 7 left them (undoing migration 11's view).
inline std::string lots_as_a_table_sql() {
  return "CREATE TABLE lots_v10 (id INTEGER PRIMARY KEY, account TEXT NOT NULL, kind TEXT NOT "
         "NULL, status TEXT NOT NULL, priority BIGINT NOT NULL, amount BIGINT NOT NULL, "
         "remaining BIGINT NOT NULL, held BIGINT NOT NULL, spent BIGINT NOT NULL, expired BIGINT "
         "NOT NULL, voided BIGINT NOT NULL, effective_at BIGINT NOT NULL, expires_at BIGINT, "
         "created_at BIGINT NOT NULL, scope TEXT NOT NULL, source TEXT NOT NULL, reason TEXT NOT "
         "NULL, cost_basis BIGINT NOT NULL, currency TEXT NOT NULL, checksum BIGINT);"
         "INSERT INTO lots_v10 SELECT * FROM lots ORDER BY id;"
         "DROP VIEW lots; DROP TABLE lot_terms; DROP TABLE lot_amounts;"
         "ALTER TABLE lots_v10 RENAME TO lots; CREATE INDEX lots_account ON lots (account);";
}

// The SQL that takes a store file made by this creditd back to `version`
// (5 or later): the checksum columns of migration 6 dropped, and the
// schema_migrations rows after `version` deleted. For tests of an upgrade
// from a store with every kind of row in it.
inline std::string downgrade_sql_to(int version) {
  std::string sql = "BEGIN;";
  if (version < 11) sql += lots_as_a_table_sql();
  if (version < 6) {
    for (const char* table : {"meta", "accounts", "lots", "holds", "charges", "entries",
                              "idempotency", "events", "api_keys", "prices", "packages", "plans",
                              "subscriptions", "subscription_periods", "purchases"}) {
      sql += std::string("ALTER TABLE ") + table + " DROP COLUMN checksum;";
    }
  }
  sql += "DELETE FROM schema_migrations WHERE version > " + std::to_string(version) + "; COMMIT;";
  return sql;
}

}  // namespace creditd::testing
