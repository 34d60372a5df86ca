// The audit of a real store file (store/sqlite/sqlite_audit.hpp): a store
// written by the ledger through sqlite_store::commit, with every kind of
// command, passes; then each field of each kind is altered by one UPDATE
// (the sqlite3 C API) in a fresh copy, and the audit refuses the copy with a
// message naming the row. The row checksums (sqlite_checksum.hpp) would name
// an altered row on their own, so each copy's checksums are filled again
// after the UPDATE (as a writer with a bug would leave them): what refuses
// it is the journal audit.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "store/sqlite/sqlite_audit.hpp"
#include "store/sqlite/sqlite_checksum.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "store/sqlite/sqlite_webhooks.hpp"
#include "support/audit_scenario.hpp"
#include "support/temp_dir.hpp"

namespace audit_test_cpp {  // unity builds: tests/CMakeLists.txt

using namespace creditd;
using creditd::testing::temp_dir;
using ledger::object_id;
using ledger::time_us;

namespace {

using ledger::testing::t0;
constexpr time_us day = ledger::us_per_day;

using ids = ledger::testing::audit_scenario_ids;

// The audit's scenario (support/audit_scenario.hpp: every kind of command),
// committed as the engine commits, into a new store at `path`.
ids make_store(const std::string& path) {
  auto opened = store::sqlite::sqlite_store::open({path});
  if (!opened) throw std::runtime_error(opened.error().message);
  store::sqlite::sqlite_store& s = **opened;
  ledger::ledger l;
  if (auto r = s.load(l, t0); !r) throw std::runtime_error(r.error().message);
  return ledger::testing::run_audit_scenario(l, [&] {
    if (auto r = s.commit(l.take_changes()); !r) throw std::runtime_error(r.error().message);
  });
}

// Runs SQL on a file with the sqlite3 C API, then fills the checksums of
// every row again (so that what refuses the file is the journal audit).
void alter(const std::string& path, const std::string& sql, bool reseal = true) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  const std::string message = error != nullptr ? error : "";
  sqlite3_free(error);
  EXPECT_EQ(rc, SQLITE_OK) << sql << ": " << message;
  EXPECT_GT(sqlite3_total_changes(db), 0) << sql << " changed nothing";
  sqlite3_close(db);
  if (!reseal) return;
  auto d = store::sqlite::database::open(path, false);
  ASSERT_TRUE(d.has_value());
  ASSERT_TRUE(d->exec("BEGIN").has_value());
  auto filled = store::sqlite::fill_row_checksums(*d);
  ASSERT_TRUE(filled.has_value()) << filled.error().message;
  ASSERT_TRUE(d->exec("COMMIT").has_value());
}

std::int64_t query_int(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* q = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &q, nullptr), SQLITE_OK) << sql;
  std::int64_t v = -1;
  if (sqlite3_step(q) == SQLITE_ROW) v = sqlite3_column_int64(q, 0);
  sqlite3_finalize(q);
  sqlite3_close(db);
  return v;
}

void copy_store(const std::string& from, const std::string& to) {
  std::filesystem::copy_file(from, to);
  if (std::filesystem::exists(from + "-wal"))
    std::filesystem::copy_file(from + "-wal", to + "-wal");
}

// What the store-level audit says of a file: audit_file's report, and
// audit_journal's text when the file still loads (load refuses what its
// own checks see).
struct verdict {
  std::string report;   // describe() of audit_file
  std::string journal;  // audit_journal, or the load's refusal
};

verdict audit_copy(const std::string& path) {
  verdict v;
  auto report = store::sqlite::audit_file(path);
  if (!report) {
    v.report = "error: " + report.error().message;
  } else {
    v.report = store::sqlite::describe(*report, path);
  }
  auto s = store::sqlite::sqlite_store::open({path});
  if (!s) {
    v.journal = "open: " + s.error().message;
    return v;
  }
  ledger::ledger l;
  if (auto r = (*s)->load(l, t0 + 30 * day); !r) {
    v.journal = "load: " + r.error().message;
    return v;
  }
  auto audit = (*s)->audit_journal(l);
  v.journal = audit ? *audit : "error: " + audit.error().message;
  return v;
}

class store_audit : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new temp_dir();
    path_ = dir_->file("whole.db");
    ids_ = make_store(path_);  // closed: the WAL is checkpointed into the file
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  std::string fresh_copy(const std::string& name) {
    const std::string copy = dir_->file(name + ".db");
    copy_store(path_, copy);
    return copy;
  }
  static temp_dir* dir_;
  static std::string path_;
  static ids ids_;
};
temp_dir* store_audit::dir_ = nullptr;
std::string store_audit::path_;
ids store_audit::ids_;

TEST_F(store_audit, the_untouched_store_passes) {
  const std::string copy = fresh_copy("untouched");
  auto report = store::sqlite::audit_file(copy);
  ASSERT_TRUE(report.has_value()) << report.error().message;
  EXPECT_TRUE(report->ok()) << store::sqlite::describe(*report, copy);
  EXPECT_GT(report->counts.entries, 60u);
  EXPECT_EQ(report->counts.accounts, 4u);
  EXPECT_GT(report->counts.lots, 15u);
  EXPECT_GT(report->counts.holds, 8u);
  EXPECT_GT(report->counts.charges, 10u);
  EXPECT_EQ(report->counts.purchases, 3u);  // one bought, two automatic top-ups
  EXPECT_EQ(report->counts.periods, 3u);
  EXPECT_GT(report->counts.balances_exact, report->counts.entries * 3 / 4);
  EXPECT_EQ(report->journal_next_seq, report->counts.entries + 1);
  const verdict v = audit_copy(copy);
  EXPECT_EQ(v.report, "");
  EXPECT_EQ(v.journal, "");
}

struct corruption {
  std::string what;
  std::function<std::string(const std::string& path, const ids&)> sql;
  std::function<std::string(const std::string& path, const ids&)> names;
};

// The last charge entry of acme with parts: written after acme's settings,
// so its balance_after is compared exactly.
std::int64_t acme_charge_seq(const std::string& path) {
  return query_int(path,
                   "SELECT max(seq) FROM entries WHERE account = 'acme' AND type = 'charge' AND "
                   "parts <> '[]'");
}
std::string acme_charge_entry(const std::string& path) {
  return "entry " + std::to_string(acme_charge_seq(path)) + " (charge, account acme)";
}

std::vector<corruption> corruptions() {
  auto n = [](object_id id) { return std::to_string(id); };
  std::vector<corruption> out;
  auto entry_update = [&](std::string what, std::string set, std::string says) {
    out.push_back(corruption{
        what,
        [set](const std::string& p, const ids&) {
          return "UPDATE entries SET " + set + " WHERE seq = " + std::to_string(acme_charge_seq(p));
        },
        [says](const std::string& p, const ids&) { return acme_charge_entry(p) + says; }});
  };
  // The scenario: one charge's amount doubled.
  entry_update("entry amount doubled", "amount = amount * 2", ": amount");
  entry_update("entry parts", "parts = '[[1,1]]'", ": amount");
  entry_update("entry balance_after", "balance_after = balance_after + 1", ": balance_after");
  entry_update("entry charge_id", "charge_id = 999999", ": records charge 999999");
  out.push_back(corruption{
      "entry type",
      [](const std::string& p, const ids&) {
        return "UPDATE entries SET type = 'void' WHERE seq = " + std::to_string(acme_charge_seq(p));
      },
      [](const std::string& p, const ids&) {
        return "entry " + std::to_string(acme_charge_seq(p)) + " (void, account acme)";
      }});
  out.push_back(corruption{"entry deleted (a gap)",
                           [](const std::string& p, const ids&) {
                             return "DELETE FROM entries WHERE seq = " +
                                    std::to_string(acme_charge_seq(p));
                           },
                           [](const std::string& p, const ids&) {
                             return "entry " + std::to_string(acme_charge_seq(p)) + " is missing";
                           }});
  out.push_back(corruption{
      "the last entry deleted",
      [](const std::string&, const ids&) {
        return std::string("DELETE FROM entries WHERE seq = (SELECT max(seq) FROM entries)");
      },
      [](const std::string&, const ids&) { return std::string("meta next_seq"); }});
  out.push_back(
      corruption{"a seq duplicated",
                 // The table's key forbids a second row of a seq: the table is
                 // rebuilt without it first (integrity_check then has nothing to say).
                 [](const std::string& p, const ids&) {
                   return "CREATE TABLE entries_copy AS SELECT * FROM entries; DROP TABLE entries; "
                          "ALTER TABLE entries_copy RENAME TO entries; "
                          "INSERT INTO entries SELECT * FROM entries WHERE seq = " +
                          std::to_string(acme_charge_seq(p));
                 },
                 [](const std::string& p, const ids&) {
                   return acme_charge_entry(p) + ": seq " + std::to_string(acme_charge_seq(p)) +
                          " appears twice";
                 }});
  out.push_back(corruption{
      "expiry entry moved in time",
      [](const std::string&, const ids& i) {
        return "UPDATE entries SET created_at = created_at + 1 WHERE type = 'expire' AND lot_id "
               "= " +
               std::to_string(i.lot_y);
      },
      [n](const std::string&, const ids& i) { return ": expires lot " + n(i.lot_y) + " at"; }});
  out.push_back(
      corruption{"meta next_seq",
                 [](const std::string&, const ids&) {
                   return std::string("UPDATE meta SET value = value + 1 WHERE key = 'next_seq'");
                 },
                 [](const std::string&, const ids&) { return std::string("meta next_seq"); }});

  for (const char* field : {"amount", "remaining", "held", "spent", "expired", "voided"}) {
    out.push_back(corruption{std::string("lot ") + field,
                             [field](const std::string&, const ids& i) {
                               return std::string("UPDATE lots SET ") + field + " = " + field +
                                      " + 1 WHERE id = " + std::to_string(i.lot_a);
                             },
                             [n, field](const std::string&, const ids& i) {
                               return "lot " + n(i.lot_a) + " of acme: " + field;
                             }});
  }
  out.push_back(corruption{
      "lot status",
      [](const std::string&, const ids& i) {
        return "UPDATE lots SET status = 'active' WHERE id = " + std::to_string(i.lot_b);
      },
      [n](const std::string&, const ids& i) { return "lot " + n(i.lot_b) + " of acme: status"; }});
  out.push_back(corruption{"a lot deleted",
                           [](const std::string&, const ids& i) {
                             return "DELETE FROM lots WHERE id = " + std::to_string(i.lot_y);
                           },
                           [n](const std::string&, const ids& i) {
                             return "names lot " + n(i.lot_y) + ", which is not in the lots table";
                           }});

  out.push_back(corruption{"charge amount",
                           [](const std::string&, const ids& i) {
                             return "UPDATE charges SET amount = amount + 1 WHERE id = " +
                                    std::to_string(i.priced_charge);
                           },
                           [n](const std::string&, const ids& i) {
                             return "charge " + n(i.priced_charge) + " of acme: amount";
                           }});
  out.push_back(corruption{"charge refunded",
                           [](const std::string&, const ids& i) {
                             return "UPDATE charges SET refunded = refunded + 1 WHERE id = " +
                                    std::to_string(i.refunded_charge);
                           },
                           [n](const std::string&, const ids& i) {
                             return "charge " + n(i.refunded_charge) + " of acme: refunded";
                           }});
  out.push_back(corruption{"charge parts",
                           [](const std::string&, const ids& i) {
                             return "UPDATE charges SET parts = '[[1,2250000,0]]' WHERE id = " +
                                    std::to_string(i.priced_charge);
                           },
                           [n](const std::string&, const ids& i) {
                             return "charge " + n(i.priced_charge) + " of acme: parts";
                           }});
  out.push_back(corruption{
      "a charge deleted",
      [](const std::string&, const ids& i) {
        return "DELETE FROM charges WHERE id = " + std::to_string(i.priced_charge);
      },
      [n](const std::string&, const ids& i) {
        return "records charge " + n(i.priced_charge) + ", which is not in the charges table";
      }});

  out.push_back(corruption{"hold amount",
                           [](const std::string&, const ids& i) {
                             return "UPDATE holds SET amount = amount + 1 WHERE id = " +
                                    std::to_string(i.captured_hold);
                           },
                           [n](const std::string&, const ids& i) {
                             return "hold " + n(i.captured_hold) + " of acme: amount";
                           }});
  out.push_back(corruption{"hold captured",
                           [](const std::string&, const ids& i) {
                             return "UPDATE holds SET captured = captured - 1 WHERE id = " +
                                    std::to_string(i.captured_hold);
                           },
                           [n](const std::string&, const ids& i) {
                             return "hold " + n(i.captured_hold) + " of acme: captured";
                           }});
  out.push_back(corruption{"hold status",
                           [](const std::string&, const ids& i) {
                             return "UPDATE holds SET status = 'released' WHERE id = " +
                                    std::to_string(i.expired_hold);
                           },
                           [n](const std::string&, const ids& i) {
                             return "hold " + n(i.expired_hold) + " of acme: status released";
                           }});
  out.push_back(corruption{"hold parts",
                           [](const std::string&, const ids& i) {
                             return "UPDATE holds SET parts = '[[2,5000000]]' WHERE id = " +
                                    std::to_string(i.released_hold);
                           },
                           [n](const std::string&, const ids& i) {
                             return "hold " + n(i.released_hold) + " of acme: parts";
                           }});

  out.push_back(corruption{
      "account postpaid_used",
      [](const std::string&, const ids&) {
        return std::string(
            "UPDATE accounts SET postpaid_used = postpaid_used + 1 WHERE id = 'post'");
      },
      [](const std::string&, const ids&) { return std::string("account post: postpaid_used"); }});
  out.push_back(corruption{
      "account reserve (not its settings entry's)",
      [](const std::string&, const ids&) {
        return std::string(
            "UPDATE accounts SET settings = replace(settings, '\"reserve\":2000000', "
            "'\"reserve\":1000000') WHERE id = 'acme'");
      },
      [](const std::string&, const ids&) {
        return std::string(
            "account acme: reserve 1000000 and postpaid_limit 20000000 but its last settings "
            "entry gives 2000000");
      }});
  out.push_back(
      corruption{"settings entry's reserve (balances no longer agree)",
                 [](const std::string&, const ids&) {
                   return std::string(
                       "UPDATE entries SET metadata = replace(metadata, '\"reserve\":\"2\"', "
                       "'\"reserve\":\"1\"') WHERE account = 'acme' AND type = 'settings'");
                 },
                 [](const std::string&, const ids&) {
                   return std::string("(grant, account acme): balance_after");
                 }});
  out.push_back(corruption{"purchase credits",
                           [](const std::string&, const ids& i) {
                             return "UPDATE purchases SET credits = credits + 1 WHERE id = " +
                                    std::to_string(i.purchase_id);
                           },
                           [n](const std::string&, const ids& i) {
                             return "purchase " + n(i.purchase_id) + " of acme: credits";
                           }});
  out.push_back(corruption{
      "period granted",
      [](const std::string&, const ids&) {
        return std::string(
            "UPDATE subscription_periods SET granted = granted + 1 WHERE account = 'sub' AND "
            "period_index = 0");
      },
      [](const std::string&, const ids&) {
        return std::string("subscription period 0 of sub: granted");
      }});
  out.push_back(corruption{
      "period rolled_over",
      [](const std::string&, const ids&) {
        return std::string(
            "UPDATE subscription_periods SET rolled_over = rolled_over + 1 WHERE account = 'sub' "
            "AND period_index = 1");
      },
      [](const std::string&, const ids&) {
        return std::string("subscription period 1 of sub: rolled_over");
      }});
  return out;
}

TEST_F(store_audit, one_altered_field_of_each_kind_is_refused_naming_its_row) {
  int k = 0;
  for (const corruption& c : corruptions()) {
    SCOPED_TRACE(c.what);
    const std::string copy = fresh_copy("altered-" + std::to_string(k++));
    const std::string names = c.names(copy, ids_);
    alter(copy, c.sql(copy, ids_));
    const verdict v = audit_copy(copy);
    // audit_file, on the file alone, names the row and the file.
    EXPECT_NE(v.report.find(names), std::string::npos)
        << c.what << ": expected \"" << names << "\" in\n"
        << v.report;
    EXPECT_NE(v.report.find(copy), std::string::npos) << v.report;
    // audit_journal, after a load that accepted it, refuses it too.
    EXPECT_NE(v.journal, "") << c.what << ": loaded and audited clean";
    if (v.journal.starts_with("load: ") || v.journal.starts_with("open: ")) {
      EXPECT_NE(v.journal.find(copy), std::string::npos) << v.journal;
    } else {
      EXPECT_NE(v.journal.find(names), std::string::npos)
          << c.what << ": expected \"" << names << "\" in\n"
          << v.journal;
    }
  }
}

// The webhook endpoints' rows and their attempts carry checksums too: the
// file audit (creditd check) names a row changed outside creditd.
TEST_F(store_audit, an_altered_webhook_row_is_named_by_the_file_audit) {
  const std::string copy = fresh_copy("webhooks");
  {
    auto s = store::sqlite::sqlite_store::open({copy});
    ASSERT_TRUE(s) << s.error().message;
    auto repo = store::sqlite::sqlite_webhooks::open(copy);
    ASSERT_TRUE(repo) << repo.error();
    webhooks::endpoint e{.id = "hook-1",
                         .url = "http://127.0.0.1:9/h",
                         .events = {"*"},
                         .secret = "whsec_MTIzNDU2Nzg5MDEyMzQ1Ng=="};
    ASSERT_TRUE((*repo)->upsert(e));
    ASSERT_TRUE((*repo)->record_attempt(e, {.endpoint = "hook-1", .seq = 3, .status = 204}));
  }
  EXPECT_EQ(audit_copy(copy).report.find("webhook"), std::string::npos);
  alter(copy, "UPDATE webhook_endpoints SET url = 'http://evil.example/'", false);
  alter(copy, "UPDATE webhook_deliveries SET status = 500", false);
  const std::string report = audit_copy(copy).report;
  EXPECT_NE(report.find("webhook_endpoints row id=hook-1: checksum mismatch"), std::string::npos)
      << report;
  EXPECT_NE(report.find("webhook_deliveries row id=1: checksum mismatch"), std::string::npos)
      << report;
}

// A value the reader cannot decode (an unknown kind or status, parts or
// settings that are not their JSON) names its row and the column(s) that
// could not be read.
TEST_F(store_audit, a_value_that_cannot_be_decoded_is_named_with_its_row) {
  auto n = [](object_id id) { return std::to_string(id); };
  struct undecodable {
    std::string sql;
    std::string names;
  };
  const std::vector<undecodable> cases = {
      {"UPDATE accounts SET settings = '{' WHERE id = 'post'", "account post: unreadable settings"},
      {"UPDATE lots SET kind = 'bogus' WHERE id = " + n(ids_.lot_a),
       "lot " + n(ids_.lot_a) + " of acme: unreadable kind, status or scope"},
      {"UPDATE lots SET scope = 'x' WHERE id = " + n(ids_.lot_b),
       "lot " + n(ids_.lot_b) + " of acme: unreadable kind, status or scope"},
      {"UPDATE holds SET parts = 'x' WHERE id = " + n(ids_.captured_hold),
       "hold " + n(ids_.captured_hold) + " of acme: unreadable status or parts"},
      {"UPDATE charges SET parts = 'x' WHERE id = " + n(ids_.priced_charge),
       "charge " + n(ids_.priced_charge) + " of acme: unreadable parts"},
      {"UPDATE purchases SET source = 'bogus' WHERE id = " + n(ids_.purchase_id),
       "purchase " + n(ids_.purchase_id) + " of acme: unreadable source"},
      {"UPDATE subscriptions SET status = 'bogus' WHERE account = 'sub'",
       "subscription of sub: unreadable status"},
  };
  int k = 0;
  for (const undecodable& c : cases) {
    SCOPED_TRACE(c.sql);
    const std::string copy = fresh_copy("undecodable-" + std::to_string(k++));
    alter(copy, c.sql);
    const verdict v = audit_copy(copy);
    EXPECT_NE((v.report + "\n").find("\n  " + c.names + "\n"), std::string::npos)
        << "expected \"" << c.names << "\" in\n"
        << v.report;
  }
  // An entry: its seq and account, the column and its text; the type before
  // the parts.
  const std::string copy = fresh_copy("undecodable-entry");
  const std::int64_t seq = acme_charge_seq(copy);
  alter(copy, "UPDATE entries SET type = 'bogus', parts = 'x' WHERE seq = " + std::to_string(seq));
  auto report = store::sqlite::audit_file(copy);
  ASSERT_TRUE(report.has_value()) << report.error().message;
  EXPECT_NE(
      std::find(report->problems.begin(), report->problems.end(),
                "entry " + std::to_string(seq) + " (account acme): unreadable type \"bogus\""),
      report->problems.end())
      << store::sqlite::describe(*report, copy);
  const std::string copy2 = fresh_copy("undecodable-parts");
  alter(copy2, "UPDATE entries SET parts = '[1' WHERE seq = " + std::to_string(seq));
  report = store::sqlite::audit_file(copy2);
  ASSERT_TRUE(report.has_value()) << report.error().message;
  EXPECT_NE(std::find(report->problems.begin(), report->problems.end(),
                      "entry " + std::to_string(seq) + " (account acme): unreadable parts \"[1\""),
            report->problems.end())
      << store::sqlite::describe(*report, copy2);
}

// Without the checksums filled again, the same UPDATE is named twice: by
// the row's checksum and by the journal audit.
TEST_F(store_audit, an_update_outside_creditd_is_named_by_its_checksum_and_by_the_journal) {
  const std::string copy = fresh_copy("raw");
  const std::int64_t seq = acme_charge_seq(copy);
  alter(copy, "UPDATE entries SET amount = amount * 2 WHERE seq = " + std::to_string(seq),
        /*reseal=*/false);
  auto report = store::sqlite::audit_file(copy);
  ASSERT_TRUE(report.has_value());
  const std::string text = store::sqlite::describe(*report, copy);
  EXPECT_NE(text.find("entries row seq=" + std::to_string(seq) + ": checksum mismatch"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(acme_charge_entry(copy) + ": amount"), std::string::npos) << text;
}

// Each altered row is one problem of the report, named whole, however its
// key reads ("; " in it included), and as many as the audit's own bound
// allows (not the checksum list's 20).
TEST_F(store_audit, checksum_problems_are_the_audits_own_one_per_row) {
  const std::string copy = fresh_copy("keys");
  alter(copy, "UPDATE accounts SET id = 'x; y' WHERE id = 'topup'", /*reseal=*/false);
  auto report = store::sqlite::audit_file(copy);
  ASSERT_TRUE(report.has_value()) << report.error().message;
  EXPECT_NE(std::find(report->problems.begin(), report->problems.end(),
                      "accounts row id=x; y: checksum mismatch (the row was altered outside "
                      "creditd)"),
            report->problems.end())
      << store::sqlite::describe(*report, copy);

  const std::string many = fresh_copy("many");
  alter(many, "UPDATE entries SET reason = reason || 'x'", /*reseal=*/false);
  ASSERT_GT(query_int(many, "SELECT count(*) FROM entries"), 50);
  report = store::sqlite::audit_file(many, nullptr, 50);
  ASSERT_TRUE(report.has_value()) << report.error().message;
  EXPECT_EQ(report->problems.size(), 50u);
  EXPECT_TRUE(report->stopped);
  for (const std::string& p : report->problems)
    EXPECT_NE(p.find("entries row seq="), std::string::npos) << p;
}

// The report stops at its bound: every entry's amount altered.
TEST_F(store_audit, stops_after_twenty_problems) {
  const std::string copy = fresh_copy("everywhere");
  alter(copy, "UPDATE entries SET amount = amount + 1");
  auto report = store::sqlite::audit_file(copy);
  ASSERT_TRUE(report.has_value());
  EXPECT_EQ(report->problems.size(), 20u);
  EXPECT_TRUE(report->stopped);
  EXPECT_NE(store::sqlite::describe(*report, copy).find("the audit stopped there"),
            std::string::npos);
}

}  // namespace
}  // namespace audit_test_cpp
