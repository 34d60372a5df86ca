#include "store/sqlite/sqlite_reader.hpp"

#include <algorithm>
#include <limits>

#include "store/codec.hpp"
#include "store/schema.hpp"
#include "store/sqlite/sqlite_checksum.hpp"
#include "store/sqlite/sqlite_rows.hpp"

namespace creditd::store::sqlite {

namespace {

// A cursor or a limit as the file's BIGINT. One beyond INT64_MAX is beyond
// every seq and id the file can hold: it is bound as INT64_MAX, never wrapped
// negative (a cursor would read the first page again; a negative LIMIT is
// no limit at all).
std::int64_t as_bigint(std::uint64_t v) {
  constexpr auto max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  return static_cast<std::int64_t>(std::min(v, max));
}

constexpr std::size_t idle_connections_max = 8;

// The current row of a lot_select / hold_select statement, its checksum
// checked: a problem names the row and the file.
template <typename Row>
std::expected<Row, store_error> checked_row(const statement& q, const std::string& path,
                                            std::string_view table, int columns,
                                            std::optional<Row> (*decode)(const statement&)) {
  const row_verdict v = check_row(q, table, columns);
  if (v != row_verdict::intact) {
    return std::unexpected(
        store_error{"sqlite store " + path + ": " +
                    checksum_problem(table, key_text("id", column_cell(q, 0)), v)});
  }
  auto row = decode(q);
  if (!row) {
    return std::unexpected(store_error{std::string(table) + " row " +
                                       std::to_string(q.column_int(0)) + " is unreadable"});
  }
  return std::move(*row);
}

// With `log_mark`, the reads that follow and the file's mark (the last log
// record it holds, meta log_applied_seq; 0 without a log) come from one
// snapshot: a read transaction begun here, the mark read first, ended by
// end_marked_read. Without it, nothing.
std::expected<void, store_error> begin_marked_read(database& db, const std::string& path,
                                                   std::string_view table,
                                                   std::uint64_t* log_mark) {
  if (log_mark == nullptr) return {};
  if (auto r = db.exec("BEGIN"); !r)
    return std::unexpected(
        store_error{"cannot read " + std::string(table) + ": " + r.error().message});
  auto mark = read_meta_uint(db, path, log_applied_key);
  if (!mark) return std::unexpected(mark.error());
  *log_mark = mark->value_or(0);
  return {};
}
std::expected<void, store_error> end_marked_read(database& db, std::string_view table,
                                                 const std::uint64_t* log_mark) {
  if (log_mark == nullptr) return {};
  if (auto r = db.exec("COMMIT"); !r)
    return std::unexpected(
        store_error{"cannot read " + std::string(table) + ": " + r.error().message});
  return {};
}
}  // namespace

std::expected<database, store_error> sqlite_reader::acquire() {
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      database db = std::move(idle_.back());
      idle_.pop_back();
      return db;
    }
  }
  auto db = database::open(path_, false);
  if (!db)
    return std::unexpected(
        store_error{"cannot open " + path_ + " for reading: " + db.error().message});
  (void)db->exec("PRAGMA query_only=1; PRAGMA busy_timeout=5000;");
  return std::move(*db);
}

void sqlite_reader::release(database db) {
  std::lock_guard lock(mu_);
  if (idle_.size() < idle_connections_max) idle_.push_back(std::move(db));
}

// entries_account_block orders the journal by (block, account, seq), block
// = seq >> entries_block_bits (schema.hpp, migration 10): the account's
// entries are read block by block from the cursor's, one index seek each,
// up to the newest block, in one read transaction (one snapshot). An
// account with no entry after the cursor costs one seek per 65,536 entries
// of the journal after it.
std::expected<std::vector<stored_entry>, store_error> sqlite_reader::entries(
    const std::string& account, std::uint64_t after_seq, std::size_t limit,
    std::uint64_t* file_last_seq) {
  static_assert(entries_block_bits == 16, "entries_of_block_sql names the index's expression");
  auto db = acquire();
  if (!db) return std::unexpected(db.error());
  auto failed = [](const db_error& e) {
    return std::unexpected(store_error{"cannot read entries: " + e.message});
  };
  std::vector<stored_entry> out;
  if (limit == 0 && file_last_seq == nullptr) {
    release(std::move(*db));
    return out;
  }
  if (auto r = db->exec("BEGIN"); !r) return failed(r.error());
  std::uint64_t last_seq = 0;
  {
    auto q = db->prepare("SELECT COALESCE(MAX(seq), 0) FROM entries");
    if (!q) return failed(q.error());
    auto row = q->step();
    if (!row) return failed(row.error());
    last_seq = static_cast<std::uint64_t>(q->column_int(0));
  }
  if (file_last_seq != nullptr) *file_last_seq = last_seq;
  if (after_seq < last_seq && limit > 0) {
    auto q = db->prepare(entries_of_block_sql);
    if (!q) return failed(q.error());
    const std::uint64_t last_block = last_seq >> entries_block_bits;
    for (std::uint64_t block = (after_seq + 1) >> entries_block_bits;
         block <= last_block && out.size() < limit; ++block) {
      q->reset();
      q->bind(1, as_bigint(block));
      q->bind_static(2, account);
      q->bind(3, as_bigint(after_seq));
      q->bind(4, as_bigint(limit - out.size()));
      while (true) {
        auto row = q->step();
        if (!row) return failed(row.error());
        if (!*row) break;
        stored_entry s;
        s.account = account;
        ledger::entry& e = s.e;
        e.seq = static_cast<std::uint64_t>(q->column_int(0));
        auto type = ledger::parse_entry_type(q->column_text(1));
        auto parts = decode_parts(q->column_text(8));
        if (!type || !parts)
          return std::unexpected(store_error{"entry " + std::to_string(e.seq) + " is unreadable"});
        e.type = *type;
        e.amount = q->column_int(2);
        e.balance_after = q->column_int(3);
        e.lot_id = static_cast<ledger::object_id>(q->column_int(4));
        e.charge_id = static_cast<ledger::object_id>(q->column_int(5));
        e.hold_id = static_cast<ledger::object_id>(q->column_int(6));
        e.refund_id = static_cast<ledger::object_id>(q->column_int(7));
        e.parts = std::move(*parts);
        e.operation = q->column_text(9);
        e.dimensions = q->column_text(10);
        e.reference = q->column_text(11);
        e.reason = q->column_text(12);
        e.created_at = q->column_int(13);
        e.quantity = q->column_int(14);
        e.metadata = q->column_text(15);
        e.price_id = q->column_text(16);
        e.unit_amount = q->column_int(17);
        out.push_back(std::move(s));
      }
    }
  }
  if (auto r = db->exec("COMMIT"); !r) return failed(r.error());
  release(std::move(*db));
  return out;
}

std::expected<std::vector<ledger::lot_terms>, store_error> sqlite_reader::lots(
    const std::string& account, std::uint64_t after_id, std::size_t limit) {
  auto db = acquire();
  if (!db) return std::unexpected(db.error());
  std::vector<ledger::lot_terms> out;
  {
    // The index (account, id) serves it.
    auto q = db->prepare(
        "SELECT id, kind, priority, effective_at, expires_at FROM lots "
        "WHERE account = ?1 AND id > ?2 ORDER BY id LIMIT ?3");
    if (!q) return std::unexpected(store_error{"cannot read lots: " + q.error().message});
    q->bind(1, account);
    q->bind(2, as_bigint(after_id));
    q->bind(3, as_bigint(limit));
    while (true) {
      auto row = q->step();
      if (!row) return std::unexpected(store_error{"cannot read lots: " + row.error().message});
      if (!*row) break;
      ledger::lot_terms t;
      t.id = static_cast<ledger::object_id>(q->column_int(0));
      auto kind = ledger::parse_lot_kind(q->column_text(1));
      if (!kind)
        return std::unexpected(store_error{"lot " + std::to_string(t.id) + " is unreadable"});
      t.kind = *kind;
      t.priority = static_cast<std::int32_t>(q->column_int(2));
      t.effective_at = q->column_int(3);
      t.expires_at = q->column_null(4) ? ledger::no_expiry : q->column_int(4);
      out.push_back(t);
    }
  }
  release(std::move(*db));
  return out;
}

std::expected<std::vector<ledger::purchase>, store_error> sqlite_reader::purchases(
    std::string_view account, std::uint64_t after_id, std::size_t limit) {
  auto db = acquire();
  if (!db) return std::unexpected(db.error());
  std::vector<ledger::purchase> out;
  {
    // after_id 0: from the newest. The index (account, id) serves both.
    auto q = db->prepare(
        "SELECT id, package, lot_id, credits, price, currency, source, external_id, reason, "
        "created_at FROM purchases WHERE account = ?1 AND (?2 = 0 OR id < ?2) "
        "ORDER BY id DESC LIMIT ?3");
    if (!q) return std::unexpected(store_error{"cannot read purchases: " + q.error().message});
    q->bind(1, account);
    q->bind(2, as_bigint(after_id));
    q->bind(3, as_bigint(limit));
    while (true) {
      auto row = q->step();
      if (!row)
        return std::unexpected(store_error{"cannot read purchases: " + row.error().message});
      if (!*row) break;
      ledger::purchase p;
      p.id = static_cast<ledger::object_id>(q->column_int(0));
      auto source = ledger::parse_purchase_source(q->column_text(6));
      if (!source)
        return std::unexpected(store_error{"purchase " + std::to_string(p.id) + " is unreadable"});
      p.account = account;
      p.package = q->column_text(1);
      p.lot_id = static_cast<ledger::object_id>(q->column_int(2));
      p.credits = q->column_int(3);
      p.price = q->column_int(4);
      p.currency = q->column_text(5);
      p.source = *source;
      p.external_id = q->column_text(7);
      p.reason = q->column_text(8);
      p.created_at = q->column_int(9);
      out.push_back(std::move(p));
    }
  }
  release(std::move(*db));
  return out;
}

std::expected<bool, store_error> sqlite_reader::external_id_recorded(std::string_view external_id) {
  CREDITD_ASSERT(!external_id.empty());
  auto db = acquire();
  if (!db) return std::unexpected(db.error());
  bool found = false;
  {
    // The unique index purchases_external_id holds the non-empty ones only:
    // the query says so, for the planner to take it.
    auto q = db->prepare(
        "SELECT id, account, package, lot_id, credits, price, currency, source, external_id, "
        "reason, created_at, checksum FROM purchases WHERE external_id = ?1 AND external_id <> ''");
    if (!q) return std::unexpected(store_error{"cannot read purchases: " + q.error().message});
    q->bind(1, external_id);
    auto row = q->step();
    if (!row) return std::unexpected(store_error{"cannot read purchases: " + row.error().message});
    if (*row) {
      const row_verdict v = check_row(*q, "purchases", 11);
      if (v != row_verdict::intact) {
        return std::unexpected(
            store_error{"sqlite store " + path_ + ": " +
                        checksum_problem("purchases", key_text("id", column_cell(*q, 0)), v)});
      }
      found = true;
    }
  }
  release(std::move(*db));
  return found;
}

std::expected<std::optional<stored_charge>, store_error> sqlite_reader::charge(
    ledger::object_id id, std::uint64_t* log_mark) {
  auto db = acquire();
  if (!db) return std::unexpected(db.error());
  if (auto r = begin_marked_read(*db, path_, "charges", log_mark); !r)
    return std::unexpected(r.error());
  std::optional<stored_charge> out;
  {
    auto q = db->prepare(
        "SELECT id, account, amount, refunded, parts, created_at, hold_id, postpaid_period, "
        "checksum FROM charges WHERE id = ?1");
    if (!q) return std::unexpected(store_error{"cannot read charges: " + q.error().message});
    q->bind(1, as_bigint(id));
    auto row = q->step();
    if (!row) return std::unexpected(store_error{"cannot read charges: " + row.error().message});
    if (*row) {
      const std::string name = "charge " + std::to_string(id);
      const row_verdict v = check_row(*q, "charges", 8);
      if (v != row_verdict::intact) {
        return std::unexpected(
            store_error{"sqlite store " + path_ + ": " +
                        checksum_problem("charges", key_text("id", column_cell(*q, 0)), v)});
      }
      auto parts = decode_charge_parts(q->column_text(4));
      if (!parts) return std::unexpected(store_error{name + " is unreadable"});
      stored_charge& s = out.emplace();
      s.account = q->column_text(1);
      s.c.id = id;
      s.c.amount = q->column_int(2);
      s.c.refunded = q->column_int(3);
      s.c.parts = std::move(*parts);
      s.c.created_at = q->column_int(5);
      s.c.hold_id = static_cast<ledger::object_id>(q->column_int(6));
      s.c.postpaid_period = q->column_int(7);
    }
  }
  if (auto r = end_marked_read(*db, "charges", log_mark); !r) return std::unexpected(r.error());
  release(std::move(*db));
  return out;
}

template <typename Row>
std::expected<std::optional<Row>, store_error> sqlite_reader::row_by_id(
    std::string_view select, std::string_view table, int columns,
    std::optional<Row> (*decode)(const statement&), ledger::object_id id, std::uint64_t* log_mark) {
  auto db = acquire();
  if (!db) return std::unexpected(db.error());
  if (auto r = begin_marked_read(*db, path_, table, log_mark); !r)
    return std::unexpected(r.error());
  std::optional<Row> out;
  {
    const std::string what = "cannot read " + std::string(table) + ": ";
    auto q = db->prepare(std::string(select) + "WHERE id = ?1");
    if (!q) return std::unexpected(store_error{what + q.error().message});
    q->bind(1, as_bigint(id));
    auto row = q->step();
    if (!row) return std::unexpected(store_error{what + row.error().message});
    if (*row) {
      auto s = checked_row<Row>(*q, path_, table, columns, decode);
      if (!s) return std::unexpected(s.error());
      out = std::move(*s);
    }
  }
  if (auto r = end_marked_read(*db, table, log_mark); !r) return std::unexpected(r.error());
  release(std::move(*db));
  return out;
}

std::expected<std::optional<stored_lot>, store_error> sqlite_reader::lot(ledger::object_id id,
                                                                         std::uint64_t* log_mark) {
  return row_by_id<stored_lot>(lot_select, "lots", lot_columns, decode_lot, id, log_mark);
}

std::expected<std::vector<stored_lot>, store_error> sqlite_reader::lot_rows(
    const std::string& account, std::uint64_t after_id, std::size_t limit,
    std::uint64_t* log_mark) {
  auto db = acquire();
  if (!db) return std::unexpected(db.error());
  if (auto r = begin_marked_read(*db, path_, "lots", log_mark); !r)
    return std::unexpected(r.error());
  std::vector<stored_lot> out;
  {
    // The index (account, id) serves it.
    auto q = db->prepare(std::string(lot_select) +
                         "WHERE account = ?1 AND id > ?2 ORDER BY id LIMIT ?3");
    if (!q) return std::unexpected(store_error{"cannot read lots: " + q.error().message});
    q->bind(1, account);
    q->bind(2, as_bigint(after_id));
    q->bind(3, as_bigint(limit));
    while (true) {
      auto row = q->step();
      if (!row) return std::unexpected(store_error{"cannot read lots: " + row.error().message});
      if (!*row) break;
      auto s = checked_row<stored_lot>(*q, path_, "lots", lot_columns, decode_lot);
      if (!s) return std::unexpected(s.error());
      out.push_back(std::move(*s));
    }
  }
  if (auto r = end_marked_read(*db, "lots", log_mark); !r) return std::unexpected(r.error());
  release(std::move(*db));
  return out;
}

std::expected<std::vector<stored_event>, store_error> sqlite_reader::events(
    const event_filter& filter) {
  auto db = acquire();
  if (!db) return std::unexpected(db.error());
  std::vector<stored_event> out;
  {
    // One statement per filter, so that each reads its index from the
    // cursor on (events_account, events_type; the rowid without a filter).
    std::string sql =
        "SELECT seq, type, account, data, created_at, checksum FROM events WHERE seq > ?1";
    if (!filter.account.empty()) sql += " AND account = ?2";
    if (!filter.type.empty()) sql += " AND type = ?3";
    sql += " ORDER BY seq LIMIT ?4";
    auto q = db->prepare(sql);
    if (!q) return std::unexpected(store_error{"cannot read events: " + q.error().message});
    q->bind(1, as_bigint(filter.after));
    if (!filter.account.empty()) q->bind(2, filter.account);
    if (!filter.type.empty()) q->bind(3, filter.type);
    q->bind(4, as_bigint(filter.limit));
    while (true) {
      auto row = q->step();
      if (!row) return std::unexpected(store_error{"cannot read events: " + row.error().message});
      if (!*row) break;
      if (const row_verdict v = check_row(*q, "events", 5); v != row_verdict::intact) {
        return std::unexpected(
            store_error{"sqlite store " + path_ + ": " +
                        checksum_problem("events", key_text("seq", column_cell(*q, 0)), v)});
      }
      stored_event s;
      s.ev.seq = static_cast<std::uint64_t>(q->column_int(0));
      auto type = ledger::parse_event_type(q->column_text(1));
      if (!type)
        return std::unexpected(store_error{"event " + std::to_string(s.ev.seq) + " is unreadable"});
      s.ev.type = *type;
      s.account = q->column_text(2);
      s.ev.data = q->column_text(3);
      s.ev.created_at = q->column_int(4);
      out.push_back(std::move(s));
    }
  }
  release(std::move(*db));
  return out;
}

std::expected<std::optional<stored_hold>, store_error> sqlite_reader::hold(
    ledger::object_id id, std::uint64_t* log_mark) {
  return row_by_id<stored_hold>(hold_select, "holds", hold_columns, decode_hold, id, log_mark);
}

}  // namespace creditd::store::sqlite
