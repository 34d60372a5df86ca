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
#include "support/temp_dir.hpp"

using namespace creditd;
using creditd::testing::temp_dir;
using ledger::micros;
using ledger::object_id;
using ledger::time_us;

namespace {

constexpr micros cr(std::int64_t n) {
  return n * ledger::micros_per_credit;
}
// 2026-11-25T10:00:00Z, and the next calendar month.
constexpr time_us t0 = 1'795'600'800LL * ledger::us_per_second;
constexpr time_us dec1 = 1'796'083'200LL * ledger::us_per_second;
constexpr time_us day = ledger::us_per_day;
time_us at(std::int64_t seconds) {
  return t0 + seconds * ledger::us_per_second;
}

template <typename T>
T must(std::expected<T, ledger::error> r) {
  if (!r) throw std::runtime_error(std::string("a command failed: ") + r.error().message);
  return std::move(*r);
}

ledger::charge_cmd charge_of(micros amount, std::string op, std::string account) {
  ledger::charge_cmd c;
  c.account = std::move(account);
  c.amount = amount;
  c.operation = std::move(op);
  return c;
}
ledger::hold_cmd hold_of(micros amount, std::int64_t ttl, std::string op, std::string account) {
  ledger::hold_cmd h;
  h.account = std::move(account);
  h.amount = amount;
  h.operation = std::move(op);
  h.ttl_seconds = ttl;
  return h;
}
ledger::grant_cmd grant_of(micros amount, ledger::lot_kind kind, std::optional<time_us> expires,
                           std::string account) {
  ledger::grant_cmd g;
  g.account = std::move(account);
  g.amount = amount;
  g.kind = kind;
  g.expires_at = expires;
  return g;
}

struct ids {
  object_id lot_a = 0, lot_b = 0, lot_y = 0;
  object_id priced_charge = 0, refunded_charge = 0;
  object_id captured_hold = 0, released_hold = 0, expired_hold = 0;
  object_id purchase_id = 0;
};

// Every kind of command, committed as the engine commits: grants of each
// kind (expiring, future-effective, scoped), charges, a batch, a priced
// charge, holds captured, released and expired, lot expiry with holds due
// at the same instant, refunds (into a live lot, a voided one, one past its
// expiry), adjustments both ways, a void while held, zero amounts, a
// purchase, postpaid credit across a month boundary, automatic top-up, and
// a subscription started in the past renewed with rollover.
ids make_store(const std::string& path) {
  auto opened = store::sqlite::sqlite_store::open({path});
  if (!opened) throw std::runtime_error(opened.error().message);
  store::sqlite::sqlite_store& s = **opened;
  ledger::ledger l;
  if (auto r = s.load(l, t0); !r) throw std::runtime_error(r.error().message);
  auto commit = [&] {
    if (auto r = s.commit(l.take_changes()); !r) throw std::runtime_error(r.error().message);
  };
  ids out;
  using ledger::lot_kind;
  must(l.put_price(ledger::price_cmd{"img", "image.generate", {}, cr(1) + cr(1) / 2}, t0));
  must(l.put_package(ledger::package_cmd{"pack", cr(100), 9'990'000, "usd", 30}, t0));
  must(l.put_plan(ledger::plan_cmd{"pro", cr(50), ledger::period_unit::month, cr(20)}, t0));
  ledger::account_cmd acme{"acme", "Acme", ledger::account_settings{}};
  acme.settings->reserve = cr(2);
  acme.settings->postpaid_limit = cr(20);
  must(l.put_account(acme, t0));
  ledger::account_cmd post{"post", "Post", ledger::account_settings{}};
  post.settings->postpaid_limit = cr(50);
  must(l.put_account(post, t0));
  ledger::account_cmd topup{"topup", "Topup", ledger::account_settings{}};
  topup.settings->auto_topup = ledger::auto_topup_settings{cr(10), "pack", 2};
  must(l.put_account(topup, t0));
  must(l.put_account(ledger::account_cmd{"sub", "Sub", std::nullopt}, t0));
  commit();

  out.lot_a = must(l.grant(grant_of(cr(100), lot_kind::prepaid, std::nullopt, "acme"), at(1)))->id;
  out.lot_b = must(l.grant(grant_of(cr(10), lot_kind::promo, at(3600), "acme"), at(2)))->id;
  auto future = grant_of(cr(30), lot_kind::plan, t0 + 40 * day, "acme");
  future.effective_at = t0 + day;
  must(l.grant(future, at(3)));
  must(l.grant(grant_of(cr(8), lot_kind::prepaid, at(7200), "acme"), at(5)));
  auto video = grant_of(cr(5), lot_kind::promo, std::nullopt, "acme");
  video.priority = 1;
  video.scope = {"video.*"};
  const object_id lot_v = must(l.grant(video, at(6)))->id;
  auto music = grant_of(cr(10), lot_kind::promo, at(9000), "acme");
  music.priority = 1;
  music.scope = {"music.*"};
  out.lot_y = must(l.grant(music, at(8)))->id;
  commit();

  out.refunded_charge = must(l.charge(charge_of(cr(3), "image.generate", "acme"), at(10)))->id;
  std::vector<ledger::charge_cmd> batch = {charge_of(cr(4), "text.generate", "acme"),
                                           charge_of(cr(5), "image.generate", "acme")};
  must(l.charge_batch(batch, at(11)));
  auto priced = charge_of(0, "image.generate", "acme");
  priced.from_catalog = true;
  priced.quantity = cr(1) + cr(1) / 2;
  priced.metadata = R"({"job":"j-1"})";
  out.priced_charge = must(l.charge(priced, at(12)))->id;
  must(l.charge(charge_of(0, "image.generate", "acme"), at(13)));
  commit();

  auto h1 = hold_of(cr(20), 600, "image.generate", "acme");
  h1.reference = "job-7";
  out.captured_hold = must(l.place_hold(h1, at(14)))->id;
  must(l.capture(out.captured_hold, cr(12), at(15)));
  out.released_hold = must(l.place_hold(hold_of(cr(5), 600, "text.generate", "acme"), at(16)))->id;
  must(l.release(out.released_hold, at(17)));
  out.expired_hold = must(l.place_hold(hold_of(cr(4), 30, "text.generate", "acme"), at(18)))->id;
  const object_id zero = must(l.place_hold(hold_of(0, 600, "image.generate", "acme"), at(19)))->id;
  must(l.capture(zero, std::nullopt, at(20)));
  l.run_due(at(60));
  commit();

  const object_id video_charge =
      must(l.charge(charge_of(cr(1), "video.render", "acme"), at(61)))->id;
  const object_id video_hold =
      must(l.place_hold(hold_of(cr(3), 600, "video.render", "acme"), at(62)))->id;
  must(l.void_lot(lot_v, "campaign over", at(63)));
  must(l.release(video_hold, at(64)));
  must(l.refund(ledger::refund_cmd{video_charge, std::nullopt, "sorry"}, at(65)));
  must(l.adjust(ledger::adjust_cmd{"acme", cr(5), "goodwill"}, at(67)));
  must(l.adjust(ledger::adjust_cmd{"acme", -cr(3), "correction"}, at(68)));
  out.purchase_id =
      must(l.purchase(
               ledger::purchase_cmd{"acme", "pack", ledger::purchase_source::api, "", "order 1"},
               at(69)))
          .made.id;
  commit();

  must(l.charge(charge_of(cr(1), "text.generate", "acme"), at(4000)));  // lot b expired at 3600
  must(l.refund(ledger::refund_cmd{out.refunded_charge, cr(2), "late"}, at(6001)));  // born expired
  const object_id live = must(l.charge(charge_of(cr(6), "text.generate", "acme"), at(6002)))->id;
  must(l.refund(ledger::refund_cmd{live, cr(1), ""}, at(6003)));
  must(l.place_hold(hold_of(cr(3), 600, "music.play", "acme"), at(8400)));
  must(l.place_hold(hold_of(cr(2), 600, "text.generate", "acme"), at(8400)));
  l.run_due(at(9500));  // lot y and both holds at 9000
  must(l.charge(charge_of(cr(40), "text.generate", "acme"), t0 + day + 5 * ledger::us_per_second));
  commit();

  must(l.grant(grant_of(cr(2), lot_kind::prepaid, std::nullopt, "post"), at(100)));
  must(l.charge(charge_of(cr(5), "llm.tokens", "post"), at(101)));
  const object_id post_hold =
      must(l.place_hold(hold_of(cr(5), 600, "llm.tokens", "post"), at(102)))->id;
  must(l.release(post_hold, at(103)));
  const object_id post_charge = must(l.charge(charge_of(cr(7), "llm.tokens", "post"), at(104)))->id;
  must(l.refund(ledger::refund_cmd{post_charge, cr(3), ""}, at(105)));
  const object_id cross = must(l.place_hold(hold_of(cr(6), 600, "llm.tokens", "post"),
                                            dec1 - 60 * ledger::us_per_second))
                              ->id;
  must(l.capture(cross, cr(2), dec1 + 60 * ledger::us_per_second));
  must(l.charge(charge_of(cr(4), "llm.tokens", "post"), dec1 + 61 * ledger::us_per_second));
  commit();

  must(l.grant(grant_of(cr(20), lot_kind::prepaid, std::nullopt, "topup"), at(200)));
  must(l.charge(charge_of(cr(12), "image.generate", "topup"), at(201)));
  commit();

  must(l.grant(grant_of(cr(1), lot_kind::prepaid, std::nullopt, "sub"), at(300)));
  must(l.charge(charge_of(cr(1), "image.generate", "sub"), at(301)));
  must(l.put_subscription(ledger::subscription_cmd{"sub", "pro", t0 - 45 * day, ""}, at(302)));
  must(l.charge(charge_of(cr(15), "image.generate", "sub"), at(303)));
  l.run_due(t0 + 20 * day);
  commit();
  return out;
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
  EXPECT_EQ(report->counts.purchases, 2u);
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
  // The issue's scenario: one charge's amount doubled.
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
