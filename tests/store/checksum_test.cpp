// Row checksums (store/sqlite/sqlite_checksum.hpp): every field of every row
// the store writes is covered, so altering any one of them outside creditd
// makes `verify_row_checksums` (behind `creditd check`) name the row, and the
// start-up load refuse it. The cells altered are generated from the schema
// itself (PRAGMA table_info): a column added later is tried without a change
// here.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <bit>
#include <cstdio>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "auth/keys.hpp"
#include "ledger/ledger.hpp"
#include "store/schema.hpp"
#include "store/sqlite/sqlite_checksum.hpp"
#include "store/sqlite/sqlite_keys.hpp"
#include "store/sqlite/sqlite_reader.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "store/sqlite/sqlite_webhooks.hpp"
#include "support/old_schema.hpp"
#include "support/open_store.hpp"
#include "support/temp_dir.hpp"

namespace checksum_test_cpp {  // unity builds: tests/CMakeLists.txt

using namespace creditd;
using creditd::testing::open_and_load;
using creditd::testing::open_store;
using creditd::testing::temp_dir;
using ledger::micros;
using ledger::time_us;
namespace sq = creditd::store::sqlite;

namespace {

constexpr time_us t0 = 1'795'000'000LL * ledger::us_per_second;  // 2026-11-18
constexpr micros credit = ledger::micros_per_credit;
constexpr time_us day = ledger::us_per_day;
// When the rich store was last written (its idempotency records are live).
constexpr time_us t_end = t0 + 40 * day;

template <typename T>
T must(std::expected<T, ledger::error> r) {
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
  if (!r) throw std::runtime_error("a command failed");
  return std::move(*r);
}

void commit(store::store& s, ledger::ledger& l) {
  auto r = s.commit(l.take_changes());
  ASSERT_TRUE(r.has_value()) << r.error().message;
}

// One value of a cell as the test reads it with the sqlite3 C API.
struct value {
  int type = SQLITE_NULL;
  std::int64_t i = 0;
  std::string text;
};

// A minimal owner of a raw connection for the test's own SQL.
class raw_db {
 public:
  explicit raw_db(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << "cannot open " << path;
    }
  }
  ~raw_db() { sqlite3_close_v2(db_); }
  raw_db(const raw_db&) = delete;
  raw_db& operator=(const raw_db&) = delete;
  sqlite3* get() const { return db_; }

  // Every row of a one-statement query, as values.
  std::vector<std::vector<value>> rows(const std::string& sql) const {
    std::vector<std::vector<value>> out;
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << sql << ": " << sqlite3_errmsg(db_);
      return out;
    }
    while (sqlite3_step(s) == SQLITE_ROW) {
      std::vector<value> row;
      for (int c = 0; c < sqlite3_column_count(s); ++c) {
        value v;
        v.type = sqlite3_column_type(s, c);
        v.i = sqlite3_column_int64(s, c);
        if (const auto* t = sqlite3_column_text(s, c)) {
          v.text.assign(reinterpret_cast<const char*>(t),
                        static_cast<std::size_t>(sqlite3_column_bytes(s, c)));
        }
        row.push_back(std::move(v));
      }
      out.push_back(std::move(row));
    }
    sqlite3_finalize(s);
    return out;
  }

  // Runs `sql` with `v` bound as ?1 and `rowid` as ?2; returns the result code.
  int update(const std::string& sql, const value& v, std::int64_t rowid) const {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << sql << ": " << sqlite3_errmsg(db_);
      return SQLITE_ERROR;
    }
    if (v.type == SQLITE_INTEGER) sqlite3_bind_int64(s, 1, v.i);
    if (v.type == SQLITE_TEXT) {
      sqlite3_bind_text(s, 1, v.text.data(), static_cast<int>(v.text.size()), SQLITE_TRANSIENT);
    }
    if (v.type == SQLITE_NULL) sqlite3_bind_null(s, 1);
    sqlite3_bind_int64(s, 2, rowid);
    const int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc;
  }

 private:
  sqlite3* db_ = nullptr;
};

struct column_info {
  std::string name;
  std::string type;
  bool not_null = false;
  int pk = 0;  // position in the primary key, 0: not part of it
};

// The view `lots` (schema migration 11) joins lot_terms and lot_amounts by
// id: rows of it are found by `id`, which is the rowid of both.
bool is_view(const raw_db& db, const std::string& table) {
  return !db.rows("SELECT 1 FROM sqlite_master WHERE type = 'view' AND name = '" + table + "'")
              .empty();
}
std::string rowid_of(const raw_db& db, const std::string& table) {
  return is_view(db, table) ? "id" : "rowid";
}

// A view's columns (the one view is `lots`) as the tables it joins declare
// them: `id` the rowid key, NOT NULL where the column's table says so.
std::vector<column_info> columns_of(const raw_db& db, const std::string& table) {
  const std::string info = is_view(db, table) ? creditd::testing::lots_view_table_info_sql()
                                              : "PRAGMA table_info(\"" + table + "\")";
  std::vector<column_info> out;
  for (const auto& row : db.rows(info))
    out.push_back({row[1].text, row[2].text, row[3].i != 0, static_cast<int>(row[5].i)});
  return out;
}

std::string shown(const value& v) {
  if (v.type == SQLITE_NULL) return "NULL";
  if (v.type == SQLITE_INTEGER) return std::to_string(v.i);
  return v.text;
}

// How a problem names the row `rowid` of `table`: "lots row id=3",
// "subscription_periods row account=alice period_index=1".
std::string row_name(const raw_db& db, const std::string& table, std::int64_t rowid) {
  std::vector<column_info> cols = columns_of(db, table);
  std::vector<column_info> key;
  for (const column_info& c : cols)
    if (c.pk > 0) key.push_back(c);
  std::sort(key.begin(), key.end(), [](const auto& a, const auto& b) { return a.pk < b.pk; });
  std::string name = table + " row";
  for (const column_info& c : key) {
    auto rows = db.rows("SELECT \"" + c.name + "\" FROM \"" + table + "\" WHERE " +
                        rowid_of(db, table) + " = " + std::to_string(rowid));
    EXPECT_EQ(rows.size(), 1u) << table << " rowid " << rowid;
    if (rows.size() != 1) return name;
    name += " " + c.name + "=" + shown(rows[0][0]);
  }
  return name;
}

void remove_store(const std::string& path) {
  for (const char* suffix : {"", "-wal", "-shm", ".lock"}) {
    std::error_code ec;
    std::filesystem::remove(path + suffix, ec);
  }
}

std::string verify_file(const std::string& path) {
  auto db = sq::database::open(path, false);
  EXPECT_TRUE(db.has_value()) << (db ? "" : db.error().message);
  if (!db) return "cannot open";
  return sq::verify_row_checksums(*db);
}

// A store with every kind of row the store writes: accounts with settings,
// lots of each kind (one without expiry, one expired, one voided), holds open,
// captured, released and expired, charges with refunds, entries of every
// type, idempotency records, an API key and a revoked one, prices, packages,
// plans (with and without a rollover cap), a subscription renewed once,
// purchases, and one row of `events` (which nothing writes yet: inserted with
// its checksum, to try the table all the same).
void make_rich_store(const std::string& path) {
  {
    std::unique_ptr<store::sqlite::sqlite_store> s;
    ledger::ledger l;
    ASSERT_TRUE(open_and_load(path, t0, s, l));
    time_us now = t0;
    must(l.put_plan({"pro", 50 * credit, ledger::period_unit::month, 20 * credit}, now));
    must(l.put_plan({"yearly", 500 * credit, ledger::period_unit::year, std::nullopt}, now));
    must(l.put_price({"p-sdxl", "image.generate", {{"model", "sdxl"}}, 2 * credit}, now));
    must(l.put_price({"p-any", "llm.tokens", {}, credit / 1000}, now));
    must(l.put_package({"pack-100", 100 * credit, 900, "usd", 30}, now));
    ledger::account_settings settings;
    settings.low_balance_thresholds = {5 * credit, 10 * credit};
    settings.reserve = credit;
    settings.postpaid_limit = 10 * credit;
    settings.rate_limit_per_minute = 600;
    settings.max_open_holds = 40;
    settings.expiring_soon_days = 3;
    settings.auto_topup = ledger::auto_topup_settings{2 * credit, "pack-100", 2};
    must(l.put_account({"alice", "Alice", settings}, now));
    must(l.put_account({"bob", "Bob", std::nullopt}, now));
    must(l.grant({.account = "alice",
                  .amount = 100 * credit,
                  .kind = ledger::lot_kind::prepaid,
                  .scope = {"image.*", "llm.tokens"},
                  .source = "manual",
                  .reason = "welcome",
                  .cost_basis = 500,
                  .currency = "usd"},
                 now));
    must(l.grant({.account = "alice",
                  .amount = 5 * credit,
                  .kind = ledger::lot_kind::promo,
                  .expires_at = now + day,
                  .reason = "trial"},
                 now));
    must(l.grant({.account = "alice",
                  .amount = 7 * credit,
                  .kind = ledger::lot_kind::plan,
                  .effective_at = now + 1,
                  .expires_at = now + 90 * day,
                  .priority = 15},
                 now));
    const ledger::lot* doomed = must(l.grant({.account = "bob", .amount = 3 * credit}, now));
    must(l.void_lot(doomed->id, "mistake", now));
    must(l.grant({.account = "bob", .amount = 4 * credit, .reason = "kept"}, now));
    const ledger::charge_record* ch = must(l.charge({.account = "alice",
                                                     .amount = 3 * credit,
                                                     .operation = "image.generate",
                                                     .dimensions = R"({"model":"sdxl"})",
                                                     .reference = "job-1",
                                                     .quantity = 2 * credit,
                                                     .metadata = R"({"user":"u1"})"},
                                                    now));
    must(l.refund({ch->id, credit, "partly failed"}, now));
    const ledger::hold* captured = must(l.place_hold({.account = "alice",
                                                      .amount = 4 * credit,
                                                      .operation = "llm.tokens",
                                                      .reference = "job-2",
                                                      .metadata = R"({"k":1})"},
                                                     now));
    const ledger::hold* released =
        must(l.place_hold({.account = "alice", .amount = credit, .operation = "llm.tokens"}, now));
    must(l.place_hold({.account = "alice",
                       .amount = credit,
                       .operation = "llm.tokens",
                       .reference = "expires",
                       .ttl_seconds = 60},
                      now));
    must(l.capture(captured->id, 3 * credit, now));
    must(l.release(released->id, now));
    must(l.adjust({"alice", 2 * credit, "goodwill"}, now));
    must(l.adjust({"bob", -credit, "correction"}, now));
    must(l.purchase({"alice", "pack-100", ledger::purchase_source::stripe, "evt_1", "order 1"},
                    now));
    must(l.purchase({"bob", "pack-100", ledger::purchase_source::api, "", ""}, now));
    must(l.put_subscription({"bob", "pro", std::nullopt, "UTC"}, now));
    commit(*s, l);
    // Past the promo lot's expiry, the hold's, and bob's first period end.
    now = t_end;
    l.run_due(now);
    must(l.place_hold({.account = "alice",
                       .amount = credit,
                       .operation = "llm.tokens",
                       .reference = "still-open"},
                      now));
    l.idempotency_remember({"idem-1", "fp-1", 201, R"({"ok":true})", now});
    l.idempotency_remember({"idem-2", "fp-2", 402, R"({"error":"insufficient"})", now});
    l.note_time(now);
    commit(*s, l);
    ASSERT_TRUE(s->probe().has_value());
  }
  {
    auto keys = sq::sqlite_keys::open(path);
    ASSERT_TRUE(keys.has_value()) << keys.error();
    auth::key_row admin{"key_admin", "hash-admin", auth::role::admin, "", t0, std::nullopt};
    auth::key_row reader{"key_reader", "hash-reader", auth::role::reader, "alice",
                         t0,           std::nullopt};
    ASSERT_TRUE((*keys)->upsert(admin).has_value());
    ASSERT_TRUE((*keys)->upsert(reader).has_value());
    auto revoked = (*keys)->revoke("key_reader", t0 + day);
    ASSERT_TRUE(revoked.has_value()) << revoked.error();
  }
  {
    auto db = sq::database::open(path, false);
    ASSERT_TRUE(db.has_value());
    auto ins = db->prepare(
        "INSERT INTO events (seq, type, account, data, created_at, checksum) VALUES (?1, ?2, ?3, "
        "?4, ?5, ?6)");
    ASSERT_TRUE(ins.has_value()) << ins.error().message;
    // After the ledger's own events (seq 1, 2, ...).
    const sq::cell row[] = {sq::cell::of(std::int64_t{1'000'000}), sq::cell::of("balance.low"),
                            sq::cell::of("alice"), sq::cell::of(R"({"below":5})"),
                            sq::cell::of(t0)};
    auto r = sq::run_with_checksum(*ins, "events", row);
    ASSERT_TRUE(r.has_value()) << r.error().message;
  }
}

// The encoding as the header describes it, built in a string the slow way
// (as row_checksum once did): what every stored checksum was computed over.
std::string reference_encoding(std::string_view table, const std::vector<sq::cell>& columns) {
  std::string out;
  auto u64 = [&](std::uint64_t v) {
    for (int i = 0; i < 8; ++i)
      out += static_cast<char>(v >> (8 * i));
  };
  u64(table.size());
  out += table;
  u64(columns.size());
  for (const sq::cell& c : columns) {
    out += static_cast<char>(c.type);
    if (c.type == sq::cell::kind::integer) u64(static_cast<std::uint64_t>(c.integer));
    if (c.type == sq::cell::kind::real) u64(std::bit_cast<std::uint64_t>(c.real));
    if (c.type == sq::cell::kind::text || c.type == sq::cell::kind::blob) {
      u64(c.bytes.size());
      out += c.bytes;
    }
  }
  return out;
}

}  // namespace

// crc32c() and each of its two implementations (the hardware one where the
// CPU has it: the machines that run the suite do).
TEST(row_checksum, crc32c_matches_the_standard_check_value) {
  using crc_fn = std::uint32_t (*)(std::string_view);
  std::vector<std::pair<const char*, crc_fn>> crcs = {
      {"crc32c", [](std::string_view b) { return sq::crc32c(b); }},
      {"portable", [](std::string_view b) { return sq::crc32c_portable(b); }}};
  if (sq::crc32c_hardware_available())
    crcs.emplace_back("hardware", [](std::string_view b) { return sq::crc32c_hardware(b); });
  for (const auto& [name, crc32c] : crcs) {
    SCOPED_TRACE(name);
    EXPECT_EQ(crc32c("123456789"), 0xE3069283u);
    EXPECT_EQ(crc32c(""), 0u);
    // RFC 3720 B.4: 32 bytes of zeros, 32 bytes of 0xFF.
    EXPECT_EQ(crc32c(std::string(32, '\0')), 0x8A9136AAu);
    EXPECT_EQ(crc32c(std::string(32, '\xFF')), 0x62A8AB43u);
  }
}

// The SSE4.2 instruction and the table agree on every length from 0 to 4096
// bytes and every start (8-byte words, a tail of 0 to 7 bytes, unaligned
// loads), on random bytes.
TEST(row_checksum, crc32c_hardware_and_portable_agree) {
  if (!sq::crc32c_hardware_available()) GTEST_SKIP() << "this CPU has no SSE4.2";
  std::mt19937_64 random(11);
  std::string buffer(4096 + 16, '\0');
  for (char& c : buffer)
    c = static_cast<char>(random());
  for (std::size_t length = 0; length <= 4096; ++length) {
    const std::size_t start = random() % 16;
    const std::string_view bytes(buffer.data() + start, length);
    ASSERT_EQ(sq::crc32c_hardware(bytes), sq::crc32c_portable(bytes))
        << length << " bytes from offset " << start;
    ASSERT_EQ(sq::crc32c(bytes), sq::crc32c_portable(bytes));
  }
}

// row_checksum (the hardware CRC fed as the encoding is produced) gives what
// the CRC of the whole encoding gives, on random rows of every kind of cell:
// stored checksums stay valid.
TEST(row_checksum, is_the_crc32c_of_the_documented_encoding) {
  std::mt19937_64 random(12);
  std::string pool(8192, '\0');
  for (char& c : pool)
    c = static_cast<char>(random());
  for (int round = 0; round < 2000; ++round) {
    const std::string table(pool.data() + random() % 64, random() % 24);
    std::vector<sq::cell> columns(random() % 24);
    for (sq::cell& c : columns) {
      const std::string_view bytes(pool.data() + random() % 4096, random() % 300);
      switch (random() % 5) {
        case 0:
          c = sq::cell::null();
          break;
        case 1:
          c = sq::cell::of(static_cast<std::int64_t>(random()));
          break;
        case 2:
          c = sq::cell{sq::cell::kind::real, 0, std::bit_cast<double>(random() >> 2), {}};
          break;
        case 3:
          c = sq::cell::of(bytes);
          break;
        default:
          c = sq::cell{sq::cell::kind::blob, 0, 0, bytes};
          break;
      }
    }
    const auto expected =
        static_cast<std::int64_t>(sq::crc32c_portable(reference_encoding(table, columns)));
    ASSERT_EQ(sq::row_checksum(table, columns), expected) << "round " << round;
    ASSERT_EQ(sq::row_checksum_portable(table, columns), expected) << "round " << round;
  }
}

// The encoding is unambiguous: moving bytes between columns, a NULL against
// an empty text or a 0, an integer against its text, or another table all
// give other checksums.
TEST(row_checksum, the_encoding_tells_apart_what_differs) {
  using sq::cell;
  const cell ab_c[] = {cell::of("ab"), cell::of("c")};
  const cell a_bc[] = {cell::of("a"), cell::of("bc")};
  EXPECT_NE(sq::row_checksum("t", ab_c), sq::row_checksum("t", a_bc));
  EXPECT_NE(sq::row_checksum("t", ab_c), sq::row_checksum("u", ab_c));
  const cell null[] = {cell::null()};
  const cell empty[] = {cell::of("")};
  const cell zero[] = {cell::of(std::int64_t{0})};
  const cell five[] = {cell::of(std::int64_t{5})};
  const cell five_text[] = {cell::of("5")};
  EXPECT_NE(sq::row_checksum("t", null), sq::row_checksum("t", empty));
  EXPECT_NE(sq::row_checksum("t", null), sq::row_checksum("t", zero));
  EXPECT_NE(sq::row_checksum("t", empty), sq::row_checksum("t", zero));
  EXPECT_NE(sq::row_checksum("t", five), sq::row_checksum("t", five_text));
  const cell two[] = {cell::null(), cell::null()};
  EXPECT_NE(sq::row_checksum("t", null), sq::row_checksum("t", two));
  EXPECT_EQ(sq::row_checksum("t", ab_c), sq::row_checksum("t", ab_c));
  EXPECT_GE(sq::row_checksum("t", ab_c), 0);
}

TEST(row_checksum, a_store_made_through_the_ledger_verifies_clean) {
  temp_dir dir;
  const std::string path = dir.file("rich.db");
  make_rich_store(path);
  if (HasFatalFailure()) return;
  EXPECT_EQ(verify_file(path), "");
  raw_db db(path);
  // Every table has rows (so every column below is tried on a real value),
  // and every table of the file but schema_migrations has a checksum.
  std::set<std::string> tables;
  for (const auto& row :
       db.rows("SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT "
               "LIKE 'sqlite_%' AND name <> 'schema_migrations'")) {
    tables.insert(row[0].text);
  }
  // The two tables of the lots view (schema migration 11) are checked
  // through it: the checksum in lot_amounts is the whole row's.
  for (const char* t : {"lot_terms", "lot_amounts"})
    EXPECT_EQ(tables.erase(t), 1u) << t;
  // The webhook tables have checksums too, checked by their own load
  // (webhooks_store_test.cpp): they are not the ledger's.
  for (std::string_view t : sq::webhook_tables)
    EXPECT_EQ(tables.erase(std::string(t)), 1u) << t;
  const std::set<std::string> checksummed(sq::checksummed_tables.begin(),
                                          sq::checksummed_tables.end());
  EXPECT_EQ(tables, checksummed);
  for (const std::string& t : tables) {
    EXPECT_GT(db.rows("SELECT 1 FROM \"" + t + "\"").size(), 0u) << t;
    EXPECT_EQ(db.rows("SELECT 1 FROM \"" + t + "\" WHERE checksum IS NULL").size(), 0u) << t;
  }
  // Entries of every type, holds of every status, lots of every kind.
  std::set<std::string> types;
  for (const auto& row : db.rows("SELECT DISTINCT type FROM entries"))
    types.insert(row[0].text);
  EXPECT_EQ(types, (std::set<std::string>{"grant", "charge", "hold", "capture", "release", "expire",
                                          "refund", "adjust", "void", "settings"}));
  std::set<std::string> statuses;
  for (const auto& row : db.rows("SELECT DISTINCT status FROM holds"))
    statuses.insert(row[0].text);
  EXPECT_EQ(statuses, (std::set<std::string>{"open", "captured", "released", "expired"}));
  std::set<std::string> kinds;
  for (const auto& row : db.rows("SELECT DISTINCT kind FROM lots"))
    kinds.insert(row[0].text);
  EXPECT_EQ(kinds, (std::set<std::string>{"prepaid", "plan", "promo"}));
  EXPECT_GE(db.rows("SELECT 1 FROM subscription_periods").size(), 2u);  // renewed once
  EXPECT_EQ(db.rows("SELECT 1 FROM api_keys WHERE revoked_at IS NOT NULL").size(), 1u);
  EXPECT_EQ(db.rows("SELECT 1 FROM charges WHERE refunded > 0").size(), 1u);
  // The store loads it, and the journal audit agrees.
  std::unique_ptr<store::sqlite::sqlite_store> s;
  ledger::ledger l;
  ASSERT_TRUE(open_and_load(path, t_end, s, l));
  auto audit = s->audit_journal(l);
  ASSERT_TRUE(audit.has_value()) << audit.error().message;
  EXPECT_EQ(*audit, "");
}

// For every table and every column but the checksum, one row's value is
// altered in a fresh copy of the store: integer + 1, text + "x", NULL -> 0,
// and, where the column allows it, the value -> NULL. verify_row_checksums
// names the table and the row; the start-up load refuses the file naming
// them (the API keys' load for api_keys; the journal's entries are not read
// at start: `creditd check` verifies them).
TEST(row_checksum, altering_any_field_of_any_row_is_named) {
  temp_dir dir;
  const std::string base = dir.file("rich.db");
  make_rich_store(base);
  if (HasFatalFailure()) return;
  ASSERT_EQ(verify_file(base), "");
  std::vector<std::pair<std::string, std::string>> cells;  // (table, column) tried
  int alterations = 0;
  std::size_t columns_total = 0;  // every column of every table but the checksums
  const std::string copy = dir.file("copy.db");
  for (std::string_view table_view : sq::checksummed_tables) {
    const std::string table(table_view);
    std::vector<column_info> cols;
    std::string key;  // rowid, or a view's id
    std::int64_t rowid = 0;
    {
      raw_db db(base);
      cols = columns_of(db, table);
      key = rowid_of(db, table);
      auto first = db.rows("SELECT MIN(" + key + ") FROM \"" + table + "\"");
      ASSERT_EQ(first.size(), 1u);
      ASSERT_EQ(first[0][0].type, SQLITE_INTEGER) << table << " has no rows";
      rowid = first[0][0].i;
    }
    for (const column_info& col : cols) {
      if (col.name == "checksum") continue;
      ++columns_total;
      value original;
      {
        raw_db db(base);
        auto rows = db.rows("SELECT \"" + col.name + "\" FROM \"" + table + "\" WHERE " + key +
                            " = " + std::to_string(rowid));
        ASSERT_EQ(rows.size(), 1u);
        original = rows[0][0];
      }
      // The alterations of this cell: another value of its type (two tries
      // when the first collides with a key), and NULL where allowed.
      std::vector<std::vector<value>> changes;
      if (original.type == SQLITE_INTEGER) {
        changes.push_back({{SQLITE_INTEGER, original.i + 1, ""},
                           {SQLITE_INTEGER, original.i + 1'000'000'007, ""}});
      } else if (original.type == SQLITE_TEXT) {
        changes.push_back(
            {{SQLITE_TEXT, 0, original.text + "x"}, {SQLITE_TEXT, 0, original.text + "-altered"}});
      } else if (original.type == SQLITE_NULL) {
        changes.push_back({{SQLITE_INTEGER, 0, ""}});
      } else {
        ADD_FAILURE() << table << "." << col.name << " holds a real or a blob";
        continue;
      }
      // An INTEGER PRIMARY KEY (the rowid) cannot be NULL, declared or not.
      const bool rowid_key =
          col.pk == 1 && col.type == "INTEGER" &&
          std::count_if(cols.begin(), cols.end(), [](const auto& c) { return c.pk > 0; }) == 1;
      if (original.type != SQLITE_NULL && !col.not_null && !rowid_key)
        changes.push_back({{SQLITE_NULL, 0, ""}});
      bool tried = false;
      for (const std::vector<value>& tries : changes) {
        remove_store(copy);
        std::filesystem::copy_file(base, copy);
        std::string name;
        std::int64_t at = rowid;  // the row's rowid once altered
        bool altered = false;
        {
          raw_db db(copy);
          for (const value& v : tries) {
            const int rc = db.update(
                "UPDATE \"" + table + "\" SET \"" + col.name + "\" = ?1 WHERE " + key + " = ?2", v,
                rowid);
            if (rc == SQLITE_DONE) {
              altered = true;
              // A key that is the rowid (INTEGER PRIMARY KEY) moves the row.
              const bool moved = db.rows("SELECT 1 FROM \"" + table + "\" WHERE " + key + " = " +
                                         std::to_string(rowid))
                                     .empty();
              at = moved ? v.i : rowid;
              name = row_name(db, table, at);
              break;
            }
          }
        }
        ASSERT_TRUE(altered) << "cannot alter " << table << "." << col.name;
        tried = true;
        ++alterations;
        const std::string what = table + "." + col.name + " (" + name + ")";
        const std::string problems = verify_file(copy);
        EXPECT_NE(problems.find(name + ": checksum mismatch"), std::string::npos)
            << what << ": " << problems;
        if (table == "api_keys") {
          auto keys = sq::sqlite_keys::open(copy);
          ASSERT_TRUE(keys.has_value()) << keys.error();
          auto rows = (*keys)->load_all();
          ASSERT_FALSE(rows.has_value()) << what;
          EXPECT_NE(rows.error().find(name + ": checksum mismatch"), std::string::npos)
              << what << ": " << rows.error();
          EXPECT_NE(rows.error().find(copy), std::string::npos) << rows.error();
          continue;
        }
        auto s = sq::sqlite_store::open({copy});
        ASSERT_TRUE(s.has_value()) << what << ": " << s.error().message;
        ledger::ledger l;
        auto loaded = (*s)->load(l, t_end);
        // The journal is not read at start (only its last seq is).
        if (table == "entries") continue;
        if (table == "events") {
          // Nor are the events (they grow with history, as the journal): a
          // read of the list names the row.
          sq::sqlite_reader reader(copy);
          auto r = reader.events({.limit = 1'000'000});
          const std::string problem = r ? std::string() : r.error().message;
          EXPECT_NE(problem.find(name + ": checksum mismatch"), std::string::npos)
              << what << ": " << problem;
          continue;
        }
        if (table == "purchases") {
          // Nor are the purchases: a Stripe event the ledger does not hold
          // is looked up by its id, and that read names the row.
          ASSERT_TRUE(loaded.has_value()) << what << ": " << loaded.error().message;
          std::string external_id;
          {
            raw_db db(copy);
            auto rows =
                db.rows("SELECT external_id FROM purchases WHERE rowid = " + std::to_string(at));
            ASSERT_EQ(rows.size(), 1u);
            external_id = rows[0][0].text;
          }
          ASSERT_FALSE(external_id.empty()) << what;
          sq::sqlite_reader reader(copy);
          auto r = reader.external_id_recorded(external_id);
          const std::string problem = r ? std::string() : r.error().message;
          EXPECT_NE(problem.find(name + ": checksum mismatch"), std::string::npos)
              << what << ": " << problem;
          EXPECT_NE(problem.find(copy), std::string::npos) << problem;
          continue;
        }
        if ((table == "charges" || table == "holds" || table == "lots") && loaded.has_value()) {
          // Nor are the charges, closed holds and dead lots: a request that
          // needs one reads its row, and that read names it.
          sq::sqlite_reader reader(copy);
          const auto id = static_cast<ledger::object_id>(at);
          auto problem_of = [](const auto& r) { return r ? std::string() : r.error().message; };
          const std::string problem = table == "charges" ? problem_of(reader.charge(id))
                                      : table == "holds" ? problem_of(reader.hold(id))
                                                         : problem_of(reader.lot(id));
          EXPECT_NE(problem.find(name + ": checksum mismatch"), std::string::npos)
              << what << ": " << problem;
          EXPECT_NE(problem.find(copy), std::string::npos) << problem;
          continue;
        }
        ASSERT_FALSE(loaded.has_value()) << what;
        EXPECT_NE(loaded.error().message.find(name + ": checksum mismatch"), std::string::npos)
            << what << ": " << loaded.error().message;
        EXPECT_NE(loaded.error().message.find(copy), std::string::npos) << loaded.error().message;
      }
      if (tried) cells.emplace_back(table, col.name);
    }
  }
  std::printf("row checksums: %zu (table, column) cells of %zu tables tried, %d alterations\n",
              cells.size(), sq::checksummed_tables.size(), alterations);
  EXPECT_EQ(cells.size(), columns_total);
}

// A missing checksum (a row inserted by hand after migration 6) is named too.
TEST(row_checksum, a_row_without_checksum_is_named) {
  temp_dir dir;
  const std::string path = dir.file("bare.db");
  { ASSERT_NE(open_store(path), nullptr); }
  {
    raw_db db(path);
    ASSERT_EQ(sqlite3_exec(db.get(), "INSERT INTO meta (key, value) VALUES ('next_seq', '1')",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
  }
  EXPECT_NE(verify_file(path).find("meta row key=next_seq: no checksum"), std::string::npos)
      << verify_file(path);
  auto s = open_store(path);
  ASSERT_NE(s, nullptr);
  ledger::ledger l;
  auto loaded = s->load(l, t0);
  ASSERT_FALSE(loaded.has_value());
  EXPECT_NE(loaded.error().message.find("meta row key=next_seq: no checksum"), std::string::npos)
      << loaded.error().message;
}

// Problems are bounded: the first 20, then how many more.
TEST(row_checksum, problems_are_bounded) {
  temp_dir dir;
  const std::string path = dir.file("many.db");
  {
    std::unique_ptr<store::sqlite::sqlite_store> s;
    ledger::ledger l;
    ASSERT_TRUE(open_and_load(path, t0, s, l));
    for (int i = 0; i < 30; ++i)
      must(l.put_account({"a" + std::to_string(i), "", std::nullopt}, t0));
    commit(*s, l);
  }
  {
    raw_db db(path);
    ASSERT_EQ(sqlite3_exec(db.get(), "UPDATE accounts SET name = 'x'", nullptr, nullptr, nullptr),
              SQLITE_OK);
  }
  const std::string problems = verify_file(path);
  EXPECT_EQ(std::count(problems.begin(), problems.end(), ';'), 20) << problems;
  EXPECT_NE(problems.find("and 10 more"), std::string::npos) << problems;
}

// A version-5 store (every kind of row, before checksums) opens, migrates to
// 6 in one step that fills every row's checksum, verifies clean, loads as it
// was, and keeps working.
TEST(row_checksum, a_version_5_store_migrates_and_fills_every_checksum) {
  temp_dir dir;
  const std::string path = dir.file("v5.db");
  make_rich_store(path);
  if (HasFatalFailure()) return;
  {
    raw_db db(path);
    const std::string sql = creditd::testing::downgrade_sql_to(5);
    char* msg = nullptr;
    ASSERT_EQ(sqlite3_exec(db.get(), sql.c_str(), nullptr, nullptr, &msg), SQLITE_OK) << msg;
    EXPECT_EQ(db.rows("SELECT MAX(version) FROM schema_migrations")[0][0].i, 5);
    EXPECT_TRUE(db.rows("SELECT 1 FROM pragma_table_info('lots') WHERE name = 'checksum'").empty());
  }
  {
    auto s = open_store(path);
    ASSERT_NE(s, nullptr);
  }
  {
    raw_db db(path);
    EXPECT_EQ(db.rows("SELECT MAX(version) FROM schema_migrations")[0][0].i,
              store::schema_version_latest);
    for (std::string_view t : sq::checksummed_tables) {
      EXPECT_EQ(db.rows("SELECT 1 FROM \"" + std::string(t) + "\" WHERE checksum IS NULL").size(),
                0u)
          << t;
    }
  }
  EXPECT_EQ(verify_file(path), "");
  {
    std::unique_ptr<store::sqlite::sqlite_store> s;
    ledger::ledger l;
    ASSERT_TRUE(open_and_load(path, t_end, s, l));
    ASSERT_NE(l.find_account("alice"), nullptr);
    EXPECT_EQ(l.find_account("alice")->name, "Alice");
    // It keeps working: writes carry checksums, the audit agrees.
    must(l.charge({.account = "alice", .amount = credit, .operation = "llm.tokens"}, t_end));
    must(l.put_account({"carol", "Carol", std::nullopt}, t_end));
    commit(*s, l);
    auto audit = s->audit_journal(l);
    ASSERT_TRUE(audit.has_value()) << audit.error().message;
    EXPECT_EQ(*audit, "");
  }
  {
    auto keys = sq::sqlite_keys::open(path);
    ASSERT_TRUE(keys.has_value()) << keys.error();
    auto rows = (*keys)->load_all();
    ASSERT_TRUE(rows.has_value()) << rows.error();
    EXPECT_EQ(rows->size(), 2u);
    ASSERT_TRUE((*keys)->revoke("key_admin", t_end).has_value());
  }
  EXPECT_EQ(verify_file(path), "");
}

// Writes that change a few columns of a row rewrite its whole checksum: a
// key revoked, an account updated, a lot spent, a hold captured, a charge
// refunded.
TEST(row_checksum, updates_keep_every_checksum_right) {
  temp_dir dir;
  const std::string path = dir.file("upd.db");
  {
    std::unique_ptr<store::sqlite::sqlite_store> s;
    ledger::ledger l;
    ASSERT_TRUE(open_and_load(path, t0, s, l));
    must(l.put_account({"a", "A", std::nullopt}, t0));
    must(l.grant({.account = "a", .amount = 10 * credit}, t0));
    commit(*s, l);
    const ledger::hold* h =
        must(l.place_hold({.account = "a", .amount = 2 * credit, .operation = "x"}, t0));
    commit(*s, l);
    must(l.capture(h->id, credit, t0 + 1));
    const ledger::charge_record* c =
        must(l.charge({.account = "a", .amount = credit, .operation = "x"}, t0 + 2));
    commit(*s, l);
    must(l.refund({c->id, std::nullopt, "r"}, t0 + 3));
    must(l.put_account({"a", "A renamed", std::nullopt}, t0 + 4));
    commit(*s, l);
  }
  {
    auto keys = sq::sqlite_keys::open(path);
    ASSERT_TRUE(keys.has_value()) << keys.error();
    ASSERT_TRUE((*keys)->upsert({"k", "h", auth::role::service, "", t0, std::nullopt}).has_value());
    ASSERT_TRUE((*keys)->revoke("k", t0 + 5).has_value());
    ASSERT_TRUE((*keys)->revoke("absent", t0 + 5).has_value());
    auto rows = (*keys)->load_all();
    ASSERT_TRUE(rows.has_value()) << rows.error();
    ASSERT_EQ(rows->size(), 1u);
    EXPECT_EQ((*rows)[0].revoked_at, std::optional<time_us>(t0 + 5));
    // Upserted again: no longer revoked, and still intact.
    ASSERT_TRUE(
        (*keys)->upsert({"k", "h2", auth::role::admin, "", t0 + 6, std::nullopt}).has_value());
  }
  EXPECT_EQ(verify_file(path), "");
  std::unique_ptr<store::sqlite::sqlite_store> s;
  ledger::ledger l;
  ASSERT_TRUE(open_and_load(path, t0 + 10, s, l));
}

// A migration after 6 that adds a column to a table changes what its rows'
// checksums cover: it must refill them in its transaction, or every row
// written before it would be refused.
TEST(row_checksum, a_later_migration_that_adds_a_column_refills_the_checksums) {
  for (const store::migration& m : store::migrations) {
    if (m.version < 6) continue;
    if (m.sql.find("ADD COLUMN") != std::string_view::npos ||
        m.sql.find("add column") != std::string_view::npos) {
      EXPECT_TRUE(m.fills_checksums) << "migration " << m.version;
    }
  }
  EXPECT_TRUE(store::migrations[5].fills_checksums);
  EXPECT_EQ(store::migrations[5].version, 6);
}

// A checksum itself altered is a mismatch, in every table.
TEST(row_checksum, an_altered_checksum_is_named) {
  temp_dir dir;
  const std::string base = dir.file("rich.db");
  make_rich_store(base);
  if (HasFatalFailure()) return;
  const std::string copy = dir.file("copy.db");
  for (std::string_view table_view : sq::checksummed_tables) {
    const std::string table(table_view);
    remove_store(copy);
    std::filesystem::copy_file(base, copy);
    std::string name;
    {
      raw_db db(copy);
      const std::string key = rowid_of(db, table);
      auto first = db.rows("SELECT MIN(" + key + ") FROM \"" + table + "\"");
      ASSERT_EQ(first.size(), 1u);
      const std::int64_t rowid = first[0][0].i;
      auto sum = db.rows("SELECT checksum FROM \"" + table + "\" WHERE " + key + " = " +
                         std::to_string(rowid));
      ASSERT_EQ(sum.size(), 1u);
      ASSERT_EQ(db.update("UPDATE \"" + table + "\" SET checksum = ?1 WHERE " + key + " = ?2",
                          {SQLITE_INTEGER, sum[0][0].i ^ 1, ""}, rowid),
                SQLITE_DONE);
      name = row_name(db, table, rowid);
    }
    const std::string problems = verify_file(copy);
    EXPECT_NE(problems.find(name + ": checksum mismatch"), std::string::npos)
        << table << ": " << problems;
  }
}
}  // namespace checksum_test_cpp
