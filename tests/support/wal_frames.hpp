// The frames an SQLite file's -wal holds, counted by the table or index that
// owns each frame's page (SQLite's dbstat table): what a workload wrote to
// the WAL since it was last truncated, table by table.
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

namespace creditd::testing {

struct wal_frames {
  long total = 0;
  std::map<std::string, long> of;  // by table or index; "(free)" for a freed page
};

// The frames of `path`-wal from byte `from` (at least past its 32-byte
// header), of 4,096-byte pages.
inline wal_frames count_wal_frames(const std::string& path, long long from = 32) {
  constexpr int page = 4096;
  std::ifstream f(path + "-wal", std::ios::binary);
  const std::vector<char> wal((std::istreambuf_iterator<char>(f)), {});
  std::map<unsigned, long> frames_of_page;
  wal_frames out;
  // Each frame: a 24-byte header (the page number first, big-endian) and a page.
  for (long long off = from > 32 ? from : 32; off + 24 + page <= static_cast<long long>(wal.size());
       off += 24 + page, ++out.total) {
    const auto* h = reinterpret_cast<const unsigned char*>(&wal[static_cast<std::size_t>(off)]);
    ++frames_of_page[(unsigned{h[0]} << 24) | (unsigned{h[1]} << 16) | (unsigned{h[2]} << 8) |
                     h[3]];
  }
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* q = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, "SELECT pageno, name FROM dbstat", -1, &q, nullptr), SQLITE_OK)
      << sqlite3_errmsg(db);
  std::map<unsigned, std::string> name_of_page;
  while (q != nullptr && sqlite3_step(q) == SQLITE_ROW) {
    name_of_page[static_cast<unsigned>(sqlite3_column_int64(q, 0))] =
        reinterpret_cast<const char*>(sqlite3_column_text(q, 1));
  }
  sqlite3_finalize(q);
  sqlite3_close(db);
  for (const auto& [pageno, n] : frames_of_page) {
    auto it = name_of_page.find(pageno);
    out.of[it == name_of_page.end() ? "(free)" : it->second] += n;
  }
  return out;
}

}  // namespace creditd::testing
