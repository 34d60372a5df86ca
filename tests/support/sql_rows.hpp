// Every row of an SQL query on a store file, its columns as text joined with
// '|' (NULL as "NULL"), and a query's plan: for tests that look at the
// file's schema, plans and rows directly.
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <string>
#include <string_view>
#include <vector>

#include "store/sqlite/sqlite_db.hpp"

namespace creditd::testing {

inline std::vector<std::string> rows_of(store::sqlite::database& db, const std::string& sql) {
  sqlite3_stmt* raw = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db.raw(), sql.c_str(), -1, &raw, nullptr), SQLITE_OK)
      << sql << ": " << sqlite3_errmsg(db.raw());
  store::sqlite::statement q(raw);
  std::vector<std::string> out;
  while (true) {
    auto row = q.step();
    if (!row) {
      ADD_FAILURE() << sql << ": " << row.error().message;
      break;
    }
    if (!*row) break;
    std::string text;
    for (int i = 0; i < sqlite3_column_count(raw); ++i) {
      const unsigned char* t = sqlite3_column_text(raw, i);
      text += (i ? "|" : "") + std::string(t ? reinterpret_cast<const char*>(t) : "NULL");
    }
    out.push_back(std::move(text));
  }
  return out;
}

// SQLite's plan for `sql` (EXPLAIN QUERY PLAN; parameters may stay
// unbound), a line per step.
inline std::string query_plan(store::sqlite::database& db, std::string_view sql) {
  std::string plan;
  for (const std::string& row : rows_of(db, "EXPLAIN QUERY PLAN " + std::string(sql)))
    plan += row + "\n";
  return plan;
}

}  // namespace creditd::testing
