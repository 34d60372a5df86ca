// The journal audit behind `creditd check`: the file's own integrity, the
// row checksums, then every row streamed into the ledger's journal auditor.
// See sqlite_audit.hpp.
#include "store/sqlite/sqlite_audit.hpp"

#include <array>
#include <charconv>
#include <optional>
#include <string_view>
#include <type_traits>
#include <vector>

#include "store/codec.hpp"
#include "store/sqlite/sqlite_checksum.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "store/sqlite/sqlite_webhooks.hpp"

namespace creditd::store::sqlite {

namespace {

std::optional<std::int64_t> parse_int(std::string_view s) {
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// Reads every row of one query, handing each to `row` (which returns false
// to stop). Errors name the table.
template <typename F>
std::expected<void, store_error> each_row(database& db, const std::string& path,
                                          std::string_view table, const std::string& sql, F&& row) {
  auto q = db.prepare(sql);
  if (!q) {
    return std::unexpected(store_error{"sqlite store " + path + ": cannot read " +
                                       std::string(table) + ": " + q.error().message});
  }
  while (true) {
    auto r = q->step();
    if (!r) {
      return std::unexpected(store_error{"sqlite store " + path + ": cannot read " +
                                         std::string(table) + ": " + r.error().message});
    }
    if (!*r || !row(*q)) break;
  }
  return {};
}

// A row of a table whose ledger type does not hold its account.
template <class T>
struct with_account : T {
  std::string account;
};

// One column of a table and how its value goes into a field of `Row`.
template <class Row>
struct column {
  std::string_view name;
  // Sets the field from column `index` of the current row of `q`. False
  // when the value cannot be decoded (the field is then left empty).
  bool (*read)(const statement& q, int index, Row& row);
  bool decoded = false;  // text decoded into a value: it can be unreadable
};

// The field of `row` that member pointers `Path` lead to (from `row`
// inwards: a field of a field takes two).
template <auto... Path, class Row>
auto& field_at(Row& row) {
  return (row.*....*Path);
}

// The ways a column is read into the field at `Path`.
template <class Row>
struct columns_of {
  // An integer (any integral field, a bool being "!= 0") or text.
  template <auto... Path>
  static constexpr column<Row> plain(std::string_view name) {
    return {name, [](const statement& q, int index, Row& row) {
              auto& field = field_at<Path...>(row);
              using F = std::remove_cvref_t<decltype(field)>;
              if constexpr (std::is_same_v<F, std::string>) {
                field = q.column_text(index);
              } else if constexpr (std::is_same_v<F, bool>) {
                field = q.column_int(index) != 0;
              } else {
                field = static_cast<F>(q.column_int(index));
              }
              return true;
            }};
  }
  // An instant where NULL is "never".
  template <auto... Path>
  static constexpr column<Row> instant(std::string_view name) {
    return {name, [](const statement& q, int index, Row& row) {
              field_at<Path...>(row) =
                  q.column_null(index) ? ledger::no_expiry : q.column_int(index);
              return true;
            }};
  }
  // Text that `decode` turns into the field's value (an optional of it).
  template <auto Decode, auto... Path>
  static constexpr column<Row> decoded(std::string_view name) {
    return {name,
            [](const statement& q, int index, Row& row) {
              auto& field = field_at<Path...>(row);
              auto value = Decode(q.column_text(index));
              if (!value) {
                field = std::remove_cvref_t<decltype(field)>{};
                return false;
              }
              field = std::move(*value);
              return true;
            },
            true};
  }
};

// "unreadable kind, status or scope": the decoded columns of a table.
template <class Row, std::size_t N>
std::string unreadable(const std::array<column<Row>, N>& columns) {
  std::vector<std::string_view> names;
  for (const column<Row>& c : columns)
    if (c.decoded) names.push_back(c.name);
  std::string out = "unreadable";
  for (std::size_t i = 0; i < names.size(); ++i) {
    out += i == 0 ? " " : i + 1 == names.size() ? " or " : ", ";
    out += names[i];
  }
  return out;
}

// Reads every row of `table` (`tail`: what follows "FROM table" in the
// query) into `row`, one column after the other as `columns` says, and
// hands it to on_row(row); a row with a column that could not be decoded
// goes to on_unreadable(row, q, bad) instead, `bad` being the first such
// column's index. Each returns false to stop.
template <class Row, std::size_t N, class OnRow, class OnUnreadable>
std::expected<void, store_error> read_table(database& db, const std::string& path,
                                            std::string_view table,
                                            const std::array<column<Row>, N>& columns, Row& row,
                                            OnRow&& on_row, OnUnreadable&& on_unreadable,
                                            std::string_view tail = "") {
  std::string sql = "SELECT ";
  for (const column<Row>& c : columns) {
    if (&c != &columns.front()) sql += ", ";
    sql += c.name;
  }
  sql += " FROM ";
  sql += table;
  sql += tail;
  return each_row(db, path, table, sql, [&](const statement& q) {
    std::optional<int> bad;
    for (int i = 0; i < static_cast<int>(N); ++i) {
      if (!columns[static_cast<std::size_t>(i)].read(q, i, row) && !bad) bad = i;
    }
    return bad ? on_unreadable(row, q, *bad) : on_row(row);
  });
}

using account_columns = columns_of<ledger::account_row>;
constexpr auto accounts_columns = std::to_array<column<ledger::account_row>>({
    account_columns::plain<&ledger::account_row::id>("id"),
    account_columns::plain<&ledger::account_row::name>("name"),
    account_columns::decoded<decode_settings, &ledger::account_row::settings>("settings"),
    account_columns::plain<&ledger::account_row::postpaid_used>("postpaid_used"),
    account_columns::plain<&ledger::account_row::postpaid_period>("postpaid_period"),
    account_columns::plain<&ledger::account_row::created_at>("created_at"),
    account_columns::plain<&ledger::account_row::updated_at>("updated_at"),
    account_columns::plain<&ledger::account_row::topup, &ledger::topup_state::armed>("topup_armed"),
    account_columns::plain<&ledger::account_row::topup, &ledger::topup_state::period_start>(
        "topup_period_start"),
    account_columns::plain<&ledger::account_row::topup, &ledger::topup_state::count>("topup_count"),
});

using lot_row = with_account<ledger::lot>;
using lot_columns = columns_of<lot_row>;
constexpr auto lots_columns = std::to_array<column<lot_row>>({
    lot_columns::plain<&ledger::lot::id>("id"),
    lot_columns::plain<&lot_row::account>("account"),
    lot_columns::decoded<ledger::parse_lot_kind, &ledger::lot::kind>("kind"),
    lot_columns::decoded<ledger::parse_lot_status, &ledger::lot::status>("status"),
    lot_columns::plain<&ledger::lot::priority>("priority"),
    lot_columns::plain<&ledger::lot::amount>("amount"),
    lot_columns::plain<&ledger::lot::remaining>("remaining"),
    lot_columns::plain<&ledger::lot::held>("held"),
    lot_columns::plain<&ledger::lot::spent>("spent"),
    lot_columns::plain<&ledger::lot::expired>("expired"),
    lot_columns::plain<&ledger::lot::voided>("voided"),
    lot_columns::plain<&ledger::lot::effective_at>("effective_at"),
    lot_columns::instant<&ledger::lot::expires_at>("expires_at"),
    lot_columns::plain<&ledger::lot::created_at>("created_at"),
    lot_columns::decoded<decode_scope, &ledger::lot::scope>("scope"),
    lot_columns::plain<&ledger::lot::source>("source"),
    lot_columns::plain<&ledger::lot::reason>("reason"),
    lot_columns::plain<&ledger::lot::cost_basis>("cost_basis"),
    lot_columns::plain<&ledger::lot::currency>("currency"),
});

using hold_row = with_account<ledger::hold>;
using hold_columns = columns_of<hold_row>;
constexpr auto holds_columns = std::to_array<column<hold_row>>({
    hold_columns::plain<&ledger::hold::id>("id"),
    hold_columns::plain<&hold_row::account>("account"),
    hold_columns::decoded<ledger::parse_hold_status, &ledger::hold::status>("status"),
    hold_columns::plain<&ledger::hold::amount>("amount"),
    hold_columns::plain<&ledger::hold::captured>("captured"),
    hold_columns::decoded<decode_parts, &ledger::hold::parts>("parts"),
    hold_columns::plain<&ledger::hold::operation>("operation"),
    hold_columns::plain<&ledger::hold::dimensions>("dimensions"),
    hold_columns::plain<&ledger::hold::reference>("reference"),
    hold_columns::plain<&ledger::hold::created_at>("created_at"),
    hold_columns::plain<&ledger::hold::expires_at>("expires_at"),
    hold_columns::plain<&ledger::hold::closed_at>("closed_at"),
    hold_columns::plain<&ledger::hold::charge_id>("charge_id"),
    hold_columns::plain<&ledger::hold::postpaid_period>("postpaid_period"),
    hold_columns::plain<&ledger::hold::quantity>("quantity"),
    hold_columns::plain<&ledger::hold::metadata>("metadata"),
    hold_columns::plain<&ledger::hold::price_id>("price_id"),
    hold_columns::plain<&ledger::hold::unit_amount>("unit_amount"),
});

using charge_row = with_account<ledger::charge_record>;
using charge_columns = columns_of<charge_row>;
constexpr auto charges_columns = std::to_array<column<charge_row>>({
    charge_columns::plain<&ledger::charge_record::id>("id"),
    charge_columns::plain<&charge_row::account>("account"),
    charge_columns::plain<&ledger::charge_record::amount>("amount"),
    charge_columns::plain<&ledger::charge_record::refunded>("refunded"),
    charge_columns::decoded<decode_charge_parts, &ledger::charge_record::parts>("parts"),
    charge_columns::plain<&ledger::charge_record::created_at>("created_at"),
    charge_columns::plain<&ledger::charge_record::hold_id>("hold_id"),
    charge_columns::plain<&ledger::charge_record::postpaid_period>("postpaid_period"),
});

using purchase_columns = columns_of<ledger::purchase>;
constexpr auto purchases_columns = std::to_array<column<ledger::purchase>>({
    purchase_columns::plain<&ledger::purchase::id>("id"),
    purchase_columns::plain<&ledger::purchase::account>("account"),
    purchase_columns::plain<&ledger::purchase::package>("package"),
    purchase_columns::plain<&ledger::purchase::lot_id>("lot_id"),
    purchase_columns::plain<&ledger::purchase::credits>("credits"),
    purchase_columns::plain<&ledger::purchase::price>("price"),
    purchase_columns::plain<&ledger::purchase::currency>("currency"),
    purchase_columns::decoded<ledger::parse_purchase_source, &ledger::purchase::source>("source"),
    purchase_columns::plain<&ledger::purchase::created_at>("created_at"),
});

using period_columns = columns_of<ledger::subscription_period>;
constexpr auto periods_columns = std::to_array<column<ledger::subscription_period>>({
    period_columns::plain<&ledger::subscription_period::account>("account"),
    period_columns::plain<&ledger::subscription_period::index>("period_index"),
    period_columns::plain<&ledger::subscription_period::plan>("plan"),
    period_columns::plain<&ledger::subscription_period::lot_id>("lot_id"),
    period_columns::plain<&ledger::subscription_period::granted>("granted"),
    period_columns::plain<&ledger::subscription_period::rolled_over>("rolled_over"),
    period_columns::plain<&ledger::subscription_period::rollover_lot_id>("rollover_lot_id"),
    period_columns::plain<&ledger::subscription_period::starts_at>("starts_at"),
    period_columns::instant<&ledger::subscription_period::ends_at>("ends_at"),
});

using subscription_row = with_account<ledger::subscription>;
using subscription_columns = columns_of<subscription_row>;
constexpr auto subscriptions_columns = std::to_array<column<subscription_row>>({
    subscription_columns::plain<&subscription_row::account>("account"),
    subscription_columns::plain<&ledger::subscription::period_index>("period_index"),
    subscription_columns::plain<&ledger::subscription::lot_id>("lot_id"),
    subscription_columns::decoded<ledger::parse_subscription_status, &ledger::subscription::status>(
        "status"),
});

using entry_row = with_account<ledger::entry>;
using entry_columns = columns_of<entry_row>;
constexpr auto entries_columns = std::to_array<column<entry_row>>({
    entry_columns::plain<&ledger::entry::seq>("seq"),
    entry_columns::plain<&entry_row::account>("account"),
    entry_columns::decoded<ledger::parse_entry_type, &ledger::entry::type>("type"),
    entry_columns::plain<&ledger::entry::amount>("amount"),
    entry_columns::plain<&ledger::entry::balance_after>("balance_after"),
    entry_columns::plain<&ledger::entry::lot_id>("lot_id"),
    entry_columns::plain<&ledger::entry::charge_id>("charge_id"),
    entry_columns::plain<&ledger::entry::hold_id>("hold_id"),
    entry_columns::plain<&ledger::entry::refund_id>("refund_id"),
    entry_columns::decoded<decode_parts, &ledger::entry::parts>("parts"),
    entry_columns::plain<&ledger::entry::operation>("operation"),
    entry_columns::plain<&ledger::entry::dimensions>("dimensions"),
    entry_columns::plain<&ledger::entry::reference>("reference"),
    entry_columns::plain<&ledger::entry::reason>("reason"),
    entry_columns::plain<&ledger::entry::created_at>("created_at"),
    entry_columns::plain<&ledger::entry::quantity>("quantity"),
    entry_columns::plain<&ledger::entry::metadata>("metadata"),
    entry_columns::plain<&ledger::entry::price_id>("price_id"),
    entry_columns::plain<&ledger::entry::unit_amount>("unit_amount"),
});

// Ends the read transaction whatever happens.
// One snapshot for every read of the audit; begun by begin(), which says
// why not (a connection already in a transaction, a busy file).
struct read_transaction {
  database& db;
  bool open = false;
  explicit read_transaction(database& d) : db(d) {}
  std::expected<void, db_error> begin() {
    auto r = db.exec("BEGIN");
    open = r.has_value();
    return r;
  }
  ~read_transaction() {
    if (open) (void)db.exec("COMMIT");
  }
};

std::expected<void, store_error> stream_rows(database& db, const std::string& path,
                                             ledger::journal_auditor& a) {
  std::uint64_t next_seq = 1;
  ledger::object_id next_object_id = 1;
  std::optional<std::int64_t> log_applied, log_lots;
  auto r = each_row(db, path, "meta", "SELECT key, value FROM meta", [&](statement& q) {
    const std::string_view key = q.column_text(0);
    if (key == "log_applied_seq" || key == "log_lots_seq") {
      (key == "log_applied_seq" ? log_applied : log_lots) = parse_int(q.column_text(1));
      return true;
    }
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
  // The lots' mark below the journal's: the lot rows lag (a server killed
  // with lots held back, store/log/lot_backlog.hpp) and the log holds the rest.
  if (log_lots && log_applied && *log_lots < *log_applied) {
    a.add_problem("meta log_lots_seq " + std::to_string(*log_lots) + " is below log_applied_seq " +
                  std::to_string(*log_applied) +
                  ": the lot rows lag the journal, whose records' lot changes are in the "
                  "append-only log (creditd check and a start write them first)");
  }
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

  ledger::account_row account;
  r = read_table(
      db, path, "accounts", accounts_columns, account,
      [&](const ledger::account_row& row) {
        a.add_account(row);
        return true;
      },
      [&](ledger::account_row& row, const statement&, int) {
        // Balances cannot be recomputed without its settings: none is compared.
        a.add_problem("account " + row.id + ": " + unreadable(accounts_columns));
        row.updated_at = ledger::no_expiry;
        a.add_account(row);
        return true;
      });
  if (!r) return r;

  // Any other row that cannot be decoded is named and left out.
  const auto left_out = [&](std::string problem) {
    a.add_problem(std::move(problem));
    return !a.full();
  };
  lot_row lot;
  r = read_table(
      db, path, "lots", lots_columns, lot,
      [&](const lot_row& row) {
        a.add_lot(row, row.account);
        return true;
      },
      [&](const lot_row& row, const statement&, int) {
        return left_out("lot " + std::to_string(row.id) + " of " + row.account + ": " +
                        unreadable(lots_columns));
      });
  if (!r) return r;

  hold_row hold;
  r = read_table(
      db, path, "holds", holds_columns, hold,
      [&](const hold_row& row) {
        a.add_hold(row, row.account);
        return true;
      },
      [&](const hold_row& row, const statement&, int) {
        return left_out("hold " + std::to_string(row.id) + " of " + row.account + ": " +
                        unreadable(holds_columns));
      });
  if (!r) return r;

  charge_row charge;
  r = read_table(
      db, path, "charges", charges_columns, charge,
      [&](const charge_row& row) {
        a.add_charge(row, row.account);
        return true;
      },
      [&](const charge_row& row, const statement&, int) {
        return left_out("charge " + std::to_string(row.id) + " of " + row.account + ": " +
                        unreadable(charges_columns));
      });
  if (!r) return r;

  ledger::purchase purchase;
  r = read_table(
      db, path, "purchases", purchases_columns, purchase,
      [&](const ledger::purchase& row) {
        a.add_purchase(row);
        return true;
      },
      [&](const ledger::purchase& row, const statement&, int) {
        return left_out("purchase " + std::to_string(row.id) + " of " + row.account + ": " +
                        unreadable(purchases_columns));
      });
  if (!r) return r;

  ledger::subscription_period period;
  r = read_table(
      db, path, "subscription_periods", periods_columns, period,
      [&](const ledger::subscription_period& row) {
        a.add_period(row);
        return true;
      },
      [](auto&&...) { return true; });  // nothing in it is decoded
  if (!r) return r;

  subscription_row subscription;
  return read_table(
      db, path, "subscriptions", subscriptions_columns, subscription,
      [&](const subscription_row& row) {
        a.add_subscription(row, row.account);
        return true;
      },
      [&](const subscription_row& row, const statement&, int) {
        return left_out("subscription of " + row.account + ": " +
                        unreadable(subscriptions_columns));
      });
}

std::expected<std::uint64_t, store_error> stream_journal(database& db, const std::string& path,
                                                         ledger::journal_auditor& a) {
  std::uint64_t last = 0;
  entry_row e;  // reused: its strings keep their capacity
  auto r = read_table(
      db, path, "entries", entries_columns, e,
      [&](const entry_row& row) {
        last = std::max(last, row.seq);
        a.add_entry(row, row.account);
        return !a.full();
      },
      [&](const entry_row& row, const statement& q, int bad) {
        last = std::max(last, row.seq);
        a.add_unreadable_entry(
            row.seq, row.account,
            "unreadable " + std::string(entries_columns[static_cast<std::size_t>(bad)].name) +
                " \"" + std::string(q.column_text(bad)) + "\"");
        return !a.full();
      },
      " ORDER BY seq");
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
  // Then, in one snapshot, each row against its checksum (a row changed
  // outside creditd), and the journal against every row.
  {
    read_transaction snapshot(db);
    // Without one snapshot, rows and journal could be read at two commits.
    if (auto r = snapshot.begin(); !r) {
      return std::unexpected(store_error{"sqlite store " + path +
                                         ": cannot begin the audit's read: " + r.error().message});
    }
    const auto add = [&](std::string problem) { a.add_problem(std::move(problem)); };
    verify_row_checksums(db, add);
    // The webhook endpoints' rows too (written by their own connection;
    // the server checks them at its start, but only a check looks at
    // every attempt).
    for (std::string_view table : webhook_tables)
      verify_table_checksums(db, table, add);
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
