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

}  // namespace creditd::testing
