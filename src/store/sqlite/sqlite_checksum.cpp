// Row checksums: see sqlite_checksum.hpp.
#include "store/sqlite/sqlite_checksum.hpp"

#include <boost/crc.hpp>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include "util/assert.hpp"

namespace creditd::store::sqlite {

namespace {

using crc32c_engine = boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true>;

// A table's columns as PRAGMA table_info lists them, the checksum apart.
struct table_shape {
  std::vector<std::string> columns;  // in the table's order, without `checksum`
  std::vector<int> key;              // indexes into `columns`, in primary-key order
  bool has_checksum = false;
  // A view (`lots`, schema migration 11): no rowid; keyed by its `id`.
  bool view = false;
};

std::string quoted(std::string_view name) {
  std::string q = "\"";
  for (char c : name) {
    if (c == '"') q += '"';
    q += c;
  }
  return q + "\"";
}

std::expected<table_shape, db_error> shape_of(database& db, std::string_view table) {
  auto q = db.prepare("PRAGMA table_info(" + quoted(table) + ")");
  if (!q) return std::unexpected(q.error());
  table_shape shape;
  std::vector<std::pair<std::int64_t, int>> pk;  // (position in the key, column)
  while (true) {
    auto row = q->step();
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    const std::string name(q->column_text(1));
    if (name == "checksum") {
      shape.has_checksum = true;
      continue;
    }
    if (q->column_int(5) > 0)
      pk.emplace_back(q->column_int(5), static_cast<int>(shape.columns.size()));
    shape.columns.push_back(name);
  }
  if (shape.columns.empty()) return std::unexpected(db_error{SQLITE_ERROR, "no such table"});
  std::sort(pk.begin(), pk.end());
  for (const auto& [position, column] : pk)
    shape.key.push_back(column);
  auto kind = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'view' AND name = ?1");
  if (!kind) return std::unexpected(kind.error());
  kind->bind(1, table);
  auto is_view = kind->step();
  if (!is_view) return std::unexpected(is_view.error());
  if (*is_view) {
    shape.view = true;
    const auto id = std::find(shape.columns.begin(), shape.columns.end(), "id");
    if (id == shape.columns.end())
      return std::unexpected(db_error{SQLITE_ERROR, "a view without an id column"});
    shape.key = {static_cast<int>(id - shape.columns.begin())};
  }
  return shape;
}

std::string value_text(const cell& c) {
  switch (c.type) {
    case cell::kind::null:
      return "NULL";
    case cell::kind::integer:
      return std::to_string(c.integer);
    case cell::kind::real: {
      char buf[40];
      std::snprintf(buf, sizeof buf, "%.17g", c.real);
      return buf;
    }
    case cell::kind::text:
      return std::string(c.bytes);
    case cell::kind::blob:
      return "<blob of " + std::to_string(c.bytes.size()) + " bytes>";
  }
  return "?";
}

// The key of the current row of `q`: its first columns are `shape.columns`,
// then the checksum, then the rowid (which names rows of a table without a
// primary key).
std::string key_of(const statement& q, const table_shape& shape) {
  const int rowid = static_cast<int>(shape.columns.size()) + 1;
  if (shape.key.empty()) return key_text("rowid", column_cell(q, rowid));
  std::string key;
  for (int column : shape.key) {
    if (!key.empty()) key += ' ';
    key += key_text(shape.columns[static_cast<std::size_t>(column)], column_cell(q, column));
  }
  return key;
}

// SELECT [rowid,] the columns, checksum [, rowid] FROM table.
std::string select_sql(const table_shape& shape, std::string_view table, bool rowid_first,
                       bool rowid_last) {
  std::string sql = "SELECT ";
  if (rowid_first) sql += "rowid, ";
  for (const std::string& c : shape.columns)
    sql += quoted(c) + ", ";
  sql += "checksum";
  if (rowid_last) sql += ", rowid";
  return sql + " FROM " + quoted(table);
}

}  // namespace

namespace {

// A row's encoding (see the header), fed to a CRC as it is produced: no
// buffer, no copy. `Crc` takes bytes, one byte, or 8 bytes little-endian.
template <class Crc>
void encode_row(Crc& crc, std::string_view table, std::span<const cell> columns) {
  crc.u64(table.size());
  crc.bytes(table);
  crc.u64(columns.size());
  for (const cell& c : columns) {
    crc.byte(static_cast<std::uint8_t>(c.type));
    switch (c.type) {
      case cell::kind::null:
        break;
      case cell::kind::integer:
        crc.u64(static_cast<std::uint64_t>(c.integer));
        break;
      case cell::kind::real:
        crc.u64(std::bit_cast<std::uint64_t>(c.real));
        break;
      case cell::kind::text:
      case cell::kind::blob:
        crc.u64(c.bytes.size());
        crc.bytes(c.bytes);
        break;
    }
  }
}

class portable_crc {
 public:
  void bytes(std::string_view b) { crc_.process_bytes(b.data(), b.size()); }
  void byte(std::uint8_t b) { crc_.process_byte(b); }
  void u64(std::uint64_t v) {
    unsigned char le[8];
    for (int i = 0; i < 8; ++i)
      le[i] = static_cast<unsigned char>(v >> (8 * i));
    crc_.process_bytes(le, sizeof le);
  }
  std::uint32_t value() const { return crc_.checksum(); }

 private:
  crc32c_engine crc_;
};

#if defined(__x86_64__)

// The SSE4.2 crc32 instruction (the same polynomial, reflected: it reads
// bytes in order, and an 8-byte word as its bytes little-endian, as x86
// stores it). Compiled for SSE4.2 whatever the build's target: used only
// where the CPU has it.
class sse42_crc {
 public:
  __attribute__((target("sse4.2"))) void bytes(std::string_view b) {
    const char* p = b.data();
    std::size_t n = b.size();
    for (; n >= 8; p += 8, n -= 8) {
      std::uint64_t word;
      std::memcpy(&word, p, sizeof word);  // any alignment
      crc_ = _mm_crc32_u64(crc_, word);
    }
    for (; n > 0; ++p, --n)
      crc_ = _mm_crc32_u8(static_cast<std::uint32_t>(crc_), static_cast<unsigned char>(*p));
  }
  __attribute__((target("sse4.2"))) void byte(std::uint8_t b) {
    crc_ = _mm_crc32_u8(static_cast<std::uint32_t>(crc_), b);
  }
  __attribute__((target("sse4.2"))) void u64(std::uint64_t v) { crc_ = _mm_crc32_u64(crc_, v); }
  std::uint32_t value() const { return ~static_cast<std::uint32_t>(crc_); }

 private:
  std::uint64_t crc_ = 0xFFFFFFFF;
};

// flatten: encode_row and the CRC's calls are inlined here, where SSE4.2
// may be used.
__attribute__((target("sse4.2"), flatten)) std::uint32_t sse42_row(std::string_view table,
                                                                   std::span<const cell> columns) {
  sse42_crc crc;
  encode_row(crc, table, columns);
  return crc.value();
}

#endif

}  // namespace

std::int64_t row_checksum_portable(std::string_view table, std::span<const cell> columns) {
  portable_crc crc;
  encode_row(crc, table, columns);
  return crc.value();
}

std::int64_t row_checksum(std::string_view table, std::span<const cell> columns) {
#if defined(__x86_64__)
  if (crc32c_hardware_available()) return sse42_row(table, columns);
#endif
  return row_checksum_portable(table, columns);
}

cell column_cell(const statement& s, int index) {
  switch (s.column_type(index)) {
    case SQLITE_INTEGER:
      return cell::of(s.column_int(index));
    case SQLITE_FLOAT:
      return cell{cell::kind::real, 0, s.column_double(index), {}};
    case SQLITE_TEXT:
      return cell::of(s.column_text(index));
    case SQLITE_BLOB:
      return cell{cell::kind::blob, 0, 0, s.column_blob(index)};
    default:
      return cell::null();
  }
}

row_verdict check_row(const statement& s, std::string_view table, int columns) {
  if (s.column_type(columns) == SQLITE_NULL) return row_verdict::missing;
  thread_local std::vector<cell> cells;  // reused: a load checks every row it reads
  cells.clear();
  for (int i = 0; i < columns; ++i)
    cells.push_back(column_cell(s, i));
  const bool same = s.column_type(columns) == SQLITE_INTEGER &&
                    s.column_int(columns) == row_checksum(table, cells);
  return same ? row_verdict::intact : row_verdict::mismatch;
}

std::string key_text(std::string_view column, const cell& value) {
  return std::string(column) + "=" + value_text(value);
}

std::string checksum_problem(std::string_view table, std::string_view key, row_verdict v) {
  std::string p = std::string(table) + " row " + std::string(key) + ": ";
  switch (v) {
    case row_verdict::intact:
      return "";
    case row_verdict::missing:
      return p + "no checksum (the row was written outside creditd)";
    case row_verdict::mismatch:
      return p + "checksum mismatch (the row was altered outside creditd)";
  }
  return p;
}

void bind_cell(statement& s, int index, const cell& c) {
  switch (c.type) {
    case cell::kind::null:
      s.bind_null(index);
      break;
    case cell::kind::integer:
      s.bind(index, c.integer);
      break;
    case cell::kind::real:
      s.bind_double(index, c.real);
      break;
    case cell::kind::text:
      // A view without data would bind NULL: empty text is "".
      s.bind_static(index, c.bytes.data() != nullptr ? c.bytes : std::string_view("", 0));
      break;
    case cell::kind::blob:
      s.bind_blob_static(index, c.bytes.data() != nullptr ? c.bytes : std::string_view("", 0));
      break;
  }
}

std::expected<void, db_error> run_with_checksum(statement& s, std::string_view table,
                                                std::span<const cell> columns) {
  int index = 1;
  for (const cell& c : columns)
    bind_cell(s, index++, c);
  s.bind(index, row_checksum(table, columns));
  return s.run();
}

std::expected<void, db_error> fill_row_checksums(database& db) {
  constexpr int batch_rows = 4096;
  for (std::string_view table : checksummed_tables) {
    auto shape = shape_of(db, table);
    if (!shape) return std::unexpected(shape.error());
    if (!shape->has_checksum)
      return std::unexpected(
          db_error{SQLITE_ERROR, std::string(table) + " has no checksum column"});
    auto select =
        db.prepare(select_sql(*shape, table, true, false) +
                   " WHERE rowid > ?1 ORDER BY rowid LIMIT " + std::to_string(batch_rows));
    if (!select) return std::unexpected(select.error());
    auto update = db.prepare("UPDATE " + quoted(table) + " SET checksum = ?1 WHERE rowid = ?2");
    if (!update) return std::unexpected(update.error());
    std::int64_t after = std::numeric_limits<std::int64_t>::min();
    std::vector<std::pair<std::int64_t, std::int64_t>> sums;  // (rowid, checksum)
    std::vector<cell> cells;
    while (true) {
      sums.clear();
      select->bind(1, after);
      while (true) {
        auto row = select->step();
        if (!row) return std::unexpected(row.error());
        if (!*row) break;
        cells.clear();
        for (std::size_t i = 0; i < shape->columns.size(); ++i)
          cells.push_back(column_cell(*select, static_cast<int>(i) + 1));
        sums.emplace_back(select->column_int(0), row_checksum(table, cells));
      }
      select->reset();
      if (sums.empty()) break;
      for (const auto& [rowid, sum] : sums) {
        update->bind(1, sum);
        update->bind(2, rowid);
        if (auto r = update->run(); !r) return r;
      }
      after = sums.back().first;
    }
  }
  return {};
}

namespace {

// Checks every row of `table`, passing each problem to `add`.
template <typename Add>
void verify_table(database& db, std::string_view table, Add&& add) {
  auto shape = shape_of(db, table);
  if (!shape) {
    add("cannot read the columns of " + std::string(table) + ": " + shape.error().message);
    return;
  }
  if (!shape->has_checksum) {
    add(std::string(table) + " has no checksum column");
    return;
  }
  auto q = db.prepare(select_sql(*shape, table, false, !shape->view) +
                      (shape->view ? " ORDER BY id" : " ORDER BY rowid"));
  if (!q) {
    add("cannot read " + std::string(table) + ": " + q.error().message);
    return;
  }
  const int n = static_cast<int>(shape->columns.size());
  while (true) {
    auto row = q->step();
    if (!row) {
      add("cannot read " + std::string(table) + ": " + row.error().message);
      return;
    }
    if (!*row) return;
    const row_verdict v = check_row(*q, table, n);
    if (v != row_verdict::intact) add(checksum_problem(table, key_of(*q, *shape), v));
  }
}

// Up to problems_max problems separated by "; ", then how many more.
class problem_list {
 public:
  void operator()(const std::string& p) {
    if (count_++ < problems_max) text_ += (text_.empty() ? "" : "; ") + p;
  }
  std::string text() const {
    if (count_ <= problems_max) return text_;
    return text_ + "; and " + std::to_string(count_ - problems_max) + " more";
  }

 private:
  static constexpr std::size_t problems_max = 20;
  std::string text_;
  std::size_t count_ = 0;
};

}  // namespace

std::string verify_table_checksums(database& db, std::string_view table) {
  problem_list problems;
  verify_table(db, table, problems);
  return problems.text();
}

std::string verify_row_checksums(database& db) {
  problem_list problems;
  for (std::string_view table : checksummed_tables)
    verify_table(db, table, problems);
  return problems.text();
}

void verify_row_checksums(database& db, const std::function<void(std::string)>& add) {
  for (std::string_view table : checksummed_tables)
    verify_table(db, table, add);
}

void verify_table_checksums(database& db, std::string_view table,
                            const std::function<void(std::string)>& add) {
  verify_table(db, table, add);
}

}  // namespace creditd::store::sqlite
