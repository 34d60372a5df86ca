// The journal audit behind `creditd check`: the file's own integrity, the
// row checksums, then every row streamed into the ledger's journal auditor.
// See sqlite_audit.hpp.
#include "store/sqlite/sqlite_audit.hpp"

#include <charconv>

#include "store/codec.hpp"
#include "store/sqlite/sqlite_checksum.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace creditd::store::sqlite {

namespace {

std::optional<std::int64_t> parse_int(std::string_view s) {
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
  return v;
}

ledger::time_us column_instant(const statement& s, int index) {
  return s.column_null(index) ? ledger::no_expiry : s.column_int(index);
}

// Reads every row of one query, handing each to `row` (which returns false
// to stop). Errors name the table.
template <typename F>
std::expected<void, store_error> each_row(database& db, const std::string& path, const char* table,
                                          const char* sql, F&& row) {
  auto q = db.prepare(sql);
  if (!q) {
    return std::unexpected(
        store_error{"sqlite store " + path + ": cannot read " + table + ": " + q.error().message});
  }
  while (true) {
    auto r = q->step();
    if (!r) {
      return std::unexpected(store_error{"sqlite store " + path + ": cannot read " + table + ": " +
                                         r.error().message});
    }
    if (!*r || !row(*q)) break;
  }
  return {};
}

// Ends the read transaction whatever happens.
struct read_transaction {
  database& db;
  bool open = false;
  explicit read_transaction(database& d) : db(d) { open = db.exec("BEGIN").has_value(); }
  ~read_transaction() {
    if (open) (void)db.exec("COMMIT");
  }
};

std::expected<void, store_error> stream_rows(database& db, const std::string& path,
                                             ledger::journal_auditor& a) {
  std::uint64_t next_seq = 1;
  ledger::object_id next_object_id = 1;
  auto r = each_row(db, path, "meta", "SELECT key, value FROM meta", [&](statement& q) {
    const std::string_view key = q.column_text(0);
    if (key != "next_seq" && key != "next_object_id") return true;
    auto v = parse_int(q.column_text(1));
    if (!v || *v < 1) {
      a.add_problem("meta " + std::string(key) + ": unreadable value \"" +
                    std::string(q.column_text(1)) + "\"");
      return true;
    }
    (key == "next_seq" ? next_seq : next_object_id) = static_cast<std::uint64_t>(*v);
    return true;
  });
  if (!r) return r;
  a.set_counters(next_seq, next_object_id);
  {
    std::int64_t n[3] = {0, 0, 0};
    const char* tables[3] = {"lots", "holds", "charges"};
    for (int i = 0; i < 3; ++i) {
      auto q = db.prepare(std::string("SELECT count(*) FROM ") + tables[i]);
      if (q && q->step().value_or(false)) n[i] = q->column_int(0);
    }
    a.reserve(static_cast<std::size_t>(n[0]), static_cast<std::size_t>(n[1]),
              static_cast<std::size_t>(n[2]));
  }

  r = each_row(db, path, "accounts",
               "SELECT id, name, settings, postpaid_used, postpaid_period, created_at, "
               "updated_at, topup_armed, topup_period_start, topup_count FROM accounts",
               [&](statement& q) {
                 ledger::account_row row;
                 row.id = q.column_text(0);
                 row.name = q.column_text(1);
                 auto settings = decode_settings(q.column_text(2));
                 if (settings) {
                   row.settings = std::move(*settings);
                 } else {
                   // Balances cannot be recomputed without them: none is compared.
                   a.add_problem("account " + row.id + ": unreadable settings");
                   row.updated_at = ledger::no_expiry;
                 }
                 row.postpaid_used = q.column_int(3);
                 row.postpaid_period = q.column_int(4);
                 row.created_at = q.column_int(5);
                 if (settings) row.updated_at = q.column_int(6);
                 row.topup.armed = q.column_int(7) != 0;
                 row.topup.period_start = q.column_int(8);
                 row.topup.count = q.column_int(9);
                 a.add_account(row);
                 return true;
               });
  if (!r) return r;

  r = each_row(db, path, "lots",
               "SELECT id, account, kind, status, priority, amount, remaining, held, spent, "
               "expired, voided, effective_at, expires_at, created_at, scope, source, reason, "
               "cost_basis, currency FROM lots",
               [&](statement& q) {
                 ledger::lot l;
                 l.id = static_cast<ledger::object_id>(q.column_int(0));
                 const std::string account(q.column_text(1));
                 auto kind = ledger::parse_lot_kind(q.column_text(2));
                 auto status = ledger::parse_lot_status(q.column_text(3));
                 auto scope = decode_scope(q.column_text(14));
                 if (!kind || !status || !scope) {
                   a.add_problem("lot " + std::to_string(l.id) + " of " + account +
                                 ": unreadable kind, status or scope");
                   return !a.full();
                 }
                 l.kind = *kind;
                 l.status = *status;
                 l.priority = static_cast<std::int32_t>(q.column_int(4));
                 l.amount = q.column_int(5);
                 l.remaining = q.column_int(6);
                 l.held = q.column_int(7);
                 l.spent = q.column_int(8);
                 l.expired = q.column_int(9);
                 l.voided = q.column_int(10);
                 l.effective_at = q.column_int(11);
                 l.expires_at = column_instant(q, 12);
                 l.created_at = q.column_int(13);
                 l.scope = std::move(*scope);
                 l.source = q.column_text(15);
                 l.reason = q.column_text(16);
                 l.cost_basis = q.column_int(17);
                 l.currency = q.column_text(18);
                 a.add_lot(l, account);
                 return true;
               });
  if (!r) return r;

  r = each_row(db, path, "holds",
               "SELECT id, account, status, amount, captured, parts, operation, dimensions, "
               "reference, created_at, expires_at, closed_at, charge_id, postpaid_period, "
               "quantity, metadata, price_id, unit_amount FROM holds",
               [&](statement& q) {
                 ledger::hold h;
                 h.id = static_cast<ledger::object_id>(q.column_int(0));
                 const std::string account(q.column_text(1));
                 auto status = ledger::parse_hold_status(q.column_text(2));
                 auto parts = decode_parts(q.column_text(5));
                 if (!status || !parts) {
                   a.add_problem("hold " + std::to_string(h.id) + " of " + account +
                                 ": unreadable status or parts");
                   return !a.full();
                 }
                 h.status = *status;
                 h.amount = q.column_int(3);
                 h.captured = q.column_int(4);
                 h.parts = std::move(*parts);
                 h.operation = q.column_text(6);
                 h.dimensions = q.column_text(7);
                 h.reference = q.column_text(8);
                 h.created_at = q.column_int(9);
                 h.expires_at = q.column_int(10);
                 h.closed_at = q.column_int(11);
                 h.charge_id = static_cast<ledger::object_id>(q.column_int(12));
                 h.postpaid_period = q.column_int(13);
                 h.quantity = q.column_int(14);
                 h.metadata = q.column_text(15);
                 h.price_id = q.column_text(16);
                 h.unit_amount = q.column_int(17);
                 a.add_hold(h, account);
                 return true;
               });
  if (!r) return r;

  r = each_row(
      db, path, "charges",
      "SELECT id, account, amount, refunded, parts, created_at, hold_id, "
      "postpaid_period FROM charges",
      [&](statement& q) {
        ledger::charge_record c;
        c.id = static_cast<ledger::object_id>(q.column_int(0));
        const std::string account(q.column_text(1));
        auto parts = decode_charge_parts(q.column_text(4));
        if (!parts) {
          a.add_problem("charge " + std::to_string(c.id) + " of " + account + ": unreadable parts");
          return !a.full();
        }
        c.amount = q.column_int(2);
        c.refunded = q.column_int(3);
        c.parts = std::move(*parts);
        c.created_at = q.column_int(5);
        c.hold_id = static_cast<ledger::object_id>(q.column_int(6));
        c.postpaid_period = q.column_int(7);
        a.add_charge(c, account);
        return true;
      });
  if (!r) return r;

  r = each_row(db, path, "purchases",
               "SELECT id, account, package, lot_id, credits, price, currency, source, "
               "created_at FROM purchases",
               [&](statement& q) {
                 ledger::purchase p;
                 p.id = static_cast<ledger::object_id>(q.column_int(0));
                 p.account = q.column_text(1);
                 auto source = ledger::parse_purchase_source(q.column_text(7));
                 if (!source) {
                   a.add_problem("purchase " + std::to_string(p.id) + " of " + p.account +
                                 ": unreadable source");
                   return !a.full();
                 }
                 p.package = q.column_text(2);
                 p.lot_id = static_cast<ledger::object_id>(q.column_int(3));
                 p.credits = q.column_int(4);
                 p.price = q.column_int(5);
                 p.currency = q.column_text(6);
                 p.source = *source;
                 p.created_at = q.column_int(8);
                 a.add_purchase(p);
                 return true;
               });
  if (!r) return r;

  r = each_row(db, path, "subscription_periods",
               "SELECT account, period_index, plan, lot_id, granted, rolled_over, "
               "rollover_lot_id, starts_at, ends_at FROM subscription_periods",
               [&](statement& q) {
                 ledger::subscription_period p;
                 p.account = q.column_text(0);
                 p.index = q.column_int(1);
                 p.plan = q.column_text(2);
                 p.lot_id = static_cast<ledger::object_id>(q.column_int(3));
                 p.granted = q.column_int(4);
                 p.rolled_over = q.column_int(5);
                 p.rollover_lot_id = static_cast<ledger::object_id>(q.column_int(6));
                 p.starts_at = q.column_int(7);
                 p.ends_at = column_instant(q, 8);
                 a.add_period(p);
                 return true;
               });
  if (!r) return r;

  return each_row(db, path, "subscriptions",
                  "SELECT account, period_index, lot_id, status FROM subscriptions",
                  [&](statement& q) {
                    const std::string account(q.column_text(0));
                    auto status = ledger::parse_subscription_status(q.column_text(3));
                    if (!status) {
                      a.add_problem("subscription of " + account + ": unreadable status");
                      return !a.full();
                    }
                    ledger::subscription s;
                    s.period_index = q.column_int(1);
                    s.lot_id = static_cast<ledger::object_id>(q.column_int(2));
                    s.status = *status;
                    a.add_subscription(s, account);
                    return true;
                  });
}

std::expected<std::uint64_t, store_error> stream_journal(database& db, const std::string& path,
                                                         ledger::journal_auditor& a) {
  std::uint64_t last = 0;
  ledger::entry e;  // reused: its strings keep their capacity
  std::string account;
  auto r = each_row(
      db, path, "entries",
      "SELECT seq, account, type, amount, balance_after, lot_id, charge_id, hold_id, refund_id, "
      "parts, operation, dimensions, reference, reason, created_at, quantity, metadata, "
      "price_id, unit_amount FROM entries ORDER BY seq",
      [&](statement& q) {
        e.seq = static_cast<std::uint64_t>(q.column_int(0));
        last = std::max(last, e.seq);
        account = q.column_text(1);
        auto type = ledger::parse_entry_type(q.column_text(2));
        auto parts = decode_parts(q.column_text(9));
        if (!type || !parts) {
          a.add_unreadable_entry(
              e.seq, account,
              !type ? "unreadable type \"" + std::string(q.column_text(2)) + "\""
                    : "unreadable parts \"" + std::string(q.column_text(9)) + "\"");
          return !a.full();
        }
        e.type = *type;
        e.amount = q.column_int(3);
        e.balance_after = q.column_int(4);
        e.lot_id = static_cast<ledger::object_id>(q.column_int(5));
        e.charge_id = static_cast<ledger::object_id>(q.column_int(6));
        e.hold_id = static_cast<ledger::object_id>(q.column_int(7));
        e.refund_id = static_cast<ledger::object_id>(q.column_int(8));
        e.parts = std::move(*parts);
        e.operation = q.column_text(10);
        e.dimensions = q.column_text(11);
        e.reference = q.column_text(12);
        e.reason = q.column_text(13);
        e.created_at = q.column_int(14);
        e.quantity = q.column_int(15);
        e.metadata = q.column_text(16);
        e.price_id = q.column_text(17);
        e.unit_amount = q.column_int(18);
        a.add_entry(e, account);
        return !a.full();
      });
  if (!r) return std::unexpected(r.error());
  return last + 1;
}

}  // namespace

std::expected<audit_report, store_error> audit_database(database& db, const std::string& path,
                                                        const ledger::ledger* loaded,
                                                        std::size_t problems_max) {
  audit_report out;
  // First the file itself: every b-tree page, and every index against its table.
  {
    auto q = db.prepare("PRAGMA integrity_check(20)");
    if (!q) {
      return std::unexpected(
          store_error{"sqlite store " + path + ": cannot check integrity: " + q.error().message});
    }
    std::string problems;
    while (true) {
      auto row = q->step();
      if (!row) {
        return std::unexpected(store_error{"sqlite store " + path +
                                           ": cannot check integrity: " + row.error().message});
      }
      if (!*row) break;
      if (q->column_text(0) != "ok") problems += std::string(q->column_text(0)) + "; ";
    }
    if (!problems.empty()) {
      problems.resize(problems.size() - 2);
      // Rows read from a damaged file mean nothing: the audit stops here.
      out.problems.push_back("the file " + path + " is damaged: " + problems);
      return out;
    }
  }
  ledger::journal_auditor a(problems_max);
  // Then each row against its checksum: a row changed outside creditd.
  {
    const std::string checksums = verify_row_checksums(db);
    for (std::size_t from = 0; from < checksums.size();) {
      const std::size_t end = std::min(checksums.find("; ", from), checksums.size());
      a.add_problem(checksums.substr(from, end - from));
      from = end + 2;
    }
  }
  // Then the journal against every row, in one snapshot.
  {
    read_transaction snapshot(db);
    if (!a.full()) {
      if (auto r = stream_rows(db, path, a); !r) return std::unexpected(r.error());
    }
    if (loaded != nullptr) a.expect_next_seq(loaded->next_seq(), "the loaded ledger");
    if (!a.full()) {
      auto next = stream_journal(db, path, a);
      if (!next) return std::unexpected(next.error());
      out.journal_next_seq = *next;
    }
  }
  a.finish();
  out.problems = a.problems();
  out.stopped = a.full();
  out.counts = a.counts();
  return out;
}

std::expected<audit_report, store_error> audit_file(const std::string& path,
                                                    const ledger::ledger* loaded,
                                                    std::size_t problems_max) {
  auto db = database::open(path, /*create=*/false);
  if (!db) {
    return std::unexpected(
        store_error{"sqlite store " + path + ": cannot open: " + db.error().message});
  }
  (void)db->exec("PRAGMA query_only=1; PRAGMA busy_timeout=5000;");
  return audit_database(*db, path, loaded, problems_max);
}

std::string describe(const audit_report& report, const std::string& path) {
  if (report.ok()) return "";
  std::string out = "sqlite store " + path + " is inconsistent (" +
                    std::to_string(report.problems.size()) +
                    (report.stopped ? " problems, the audit stopped there):" : " problems):");
  for (const std::string& p : report.problems)
    out += "\n  " + p;
  return out;
}

std::expected<std::string, store_error> sqlite_store::audit_journal(const ledger::ledger& l) {
  auto report = audit_database(db_, path_, &l);
  if (!report) return std::unexpected(report.error());
  return describe(*report, path_);
}

}  // namespace creditd::store::sqlite
