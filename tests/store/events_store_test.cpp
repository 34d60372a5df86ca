// Events in the store: written in the change set's commit (SQLite alone and
// through the append-only log, replayed after a restart), read back in seq
// order with the list's filters, counted on after a load, their notices not
// sent twice across a restart, and a row altered outside creditd named by the
// reader and by the audit.
#include <gtest/gtest.h>

#include "ledger/ledger.hpp"
#include "store/log/barrier_reader.hpp"
#include "store/log/log_store.hpp"
#include "store/sqlite/sqlite_db.hpp"
#include "store/sqlite/sqlite_reader.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "support/temp_dir.hpp"

namespace events_store_test_cpp {  // unity builds: tests/CMakeLists.txt

using namespace creditd;
using creditd::testing::temp_dir;
using ledger::micros;
using ledger::time_us;
using store::log::log_store;
using store::log::log_store_options;
using store::sqlite::sqlite_store;

namespace {

constexpr time_us t0 = 1'795'000'000LL * ledger::us_per_second;  // 2026-11-18
constexpr micros credit = ledger::micros_per_credit;
constexpr time_us day = ledger::us_per_day;

template <typename T, typename E>
T must(std::expected<T, E> r) {
  if (!r) {
    ADD_FAILURE() << "unexpected error: " << r.error().message;
    throw std::runtime_error("a call failed");
  }
  return std::move(*r);
}
template <typename E>
void must(std::expected<void, E> r) {
  if (!r) {
    ADD_FAILURE() << "unexpected error: " << r.error().message;
    throw std::runtime_error("a call failed");
  }
}

// Two accounts with a threshold, a with a 3-day notice; each step a change
// set. Makes (seq): 1 a restored, 2 b restored, 3 a low, 4 b refused,
// 5 a lot.expiring_soon (day 7), 6 a lot.expired (day 10), 7 a depleted.
// b's lot expires on day 30, after the load.
std::vector<ledger::change_set> workload(ledger::ledger& l) {
  std::vector<ledger::change_set> sets;
  for (const char* id : {"a", "b"}) {
    ledger::account_cmd c;
    c.id = id;
    c.settings = ledger::account_settings{};
    c.settings->low_balance_thresholds = {5 * credit};
    c.settings->expiring_soon_days = id == std::string("a") ? 3 : 0;
    if (!l.put_account(c, t0)) ADD_FAILURE() << "put_account";
  }
  ledger::grant_cmd g;
  g.account = "a";
  g.amount = 10 * credit;
  g.expires_at = t0 + 10 * day;
  if (!l.grant(g, t0)) ADD_FAILURE() << "grant a";
  g.account = "b";
  g.amount = 1 * credit;
  g.expires_at = t0 + 30 * day;
  if (!l.grant(g, t0)) ADD_FAILURE() << "grant b";
  sets.push_back(l.take_changes());
  ledger::charge_cmd ch;
  ch.account = "a";
  ch.amount = 6 * credit;
  ch.operation = "image.generate";
  if (!l.charge(ch, t0 + 1)) ADD_FAILURE() << "charge a";
  ch.account = "b";
  ch.amount = 2 * credit;
  if (l.charge(ch, t0 + 2)) ADD_FAILURE() << "charge b was not refused";
  sets.push_back(l.take_changes());
  l.run_due(t0 + 8 * day);
  sets.push_back(l.take_changes());
  l.run_due(t0 + 11 * day);
  sets.push_back(l.take_changes());
  return sets;
}

std::vector<std::string> listed(store::journal_reader& r, store::event_filter f) {
  std::vector<std::string> out;
  for (const store::stored_event& s : must(r.events(f)))
    out.push_back(std::to_string(s.ev.seq) + " " + s.account + " " +
                  std::string(ledger::to_string(s.ev.type)));
  return out;
}

using strings = std::vector<std::string>;
const strings all_events = {"1 a balance.restored", "2 b balance.restored",  "3 a balance.low",
                            "4 b charge.refused",   "5 a lot.expiring_soon", "6 a lot.expired",
                            "7 a balance.depleted"};

// What a reader of `path` lists, and that a ledger loaded from `s` counts on
// and does not send a notice again.
void expect_stored(store::journal_reader& r, store::store& s) {
  EXPECT_EQ(listed(r, {}), all_events);
  EXPECT_EQ(listed(r, {.after = 4, .limit = 2}),
            (strings{"5 a lot.expiring_soon", "6 a lot.expired"}));
  EXPECT_EQ(listed(r, {.account = "b"}), (strings{"2 b balance.restored", "4 b charge.refused"}));
  EXPECT_EQ(listed(r, {.type = "balance.low"}), strings{"3 a balance.low"});
  EXPECT_EQ(listed(r, {.after = 3, .account = "a", .type = "lot.expired"}),
            strings{"6 a lot.expired"});
  EXPECT_EQ(listed(r, {.account = "nobody"}), strings{});
  auto rows = must(r.events({.after = 2, .limit = 1}));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].ev.created_at, t0 + 1);
  EXPECT_EQ(rows[0].ev.data, R"({"available_before":"10","available_after":"4","threshold":"5"})");

  ledger::ledger loaded;
  must(s.load(loaded, t0 + 11 * day));
  EXPECT_EQ(loaded.next_event_seq(), 8u);
  // a gets a lot expiring in 5 days: its notice (day 13) is after the last
  // one stored (day 7), so it is scheduled (and a's first, day 7, is not
  // sent again). b, untouched since the load, loses its lot on day 30: the
  // depletion is seen (available before the expiry, not after it).
  ledger::grant_cmd g;
  g.account = "a";
  g.amount = credit;
  g.expires_at = t0 + 16 * day;
  ASSERT_TRUE(loaded.grant(g, t0 + 11 * day).has_value());
  loaded.run_due(t0 + 40 * day);
  std::vector<std::string> types;
  for (const ledger::event& ev : loaded.take_changes().events) {
    types.push_back(std::to_string(ev.seq) + " " + ev.owner->id + " " +
                    std::string(ledger::to_string(ev.type)));
  }
  EXPECT_EQ(types, (strings{"8 a balance.restored", "9 a lot.expiring_soon", "10 a lot.expired",
                            "11 a balance.depleted", "12 b lot.expired", "13 b balance.depleted"}));
}

}  // namespace

TEST(events_store, events_are_committed_and_read_back_in_order_sqlite_only) {
  temp_dir tmp;
  {
    auto db = must(sqlite_store::open({tmp.file("ledger.db")}));
    ledger::ledger l;
    for (const ledger::change_set& set : workload(l))
      must(db->commit(set));
  }
  auto db = must(sqlite_store::open({tmp.file("ledger.db")}));
  store::sqlite::sqlite_reader reader(tmp.file("ledger.db"));
  expect_stored(reader, *db);
}

TEST(events_store, events_go_through_the_log_and_are_replayed_after_a_restart) {
  temp_dir tmp;
  log_store_options opts;
  opts.log.dir = tmp.file("log");
  opts.log.segment_bytes = 4096;
  opts.apply_records_min = 1'000'000;  // the applier waits unless asked
  {
    auto s = must(log_store::open(opts, must(sqlite_store::open({tmp.file("ledger.db")}))));
    ledger::ledger l;
    for (const ledger::change_set& set : workload(l))
      must(s->commit(set));
    // Acknowledged, not applied: the barrier reader still lists them all.
    EXPECT_EQ(s->applied_seq(), 0u);
    store::sqlite::sqlite_reader inner(tmp.file("ledger.db"));
    store::log::barrier_reader reader(inner, *s);
    EXPECT_EQ(listed(reader, {}), all_events);
  }
  // Reopened: the records are replayed into the file (the close may have
  // applied them already; either way the file holds each event once).
  auto s = must(log_store::open(opts, must(sqlite_store::open({tmp.file("ledger.db")}))));
  store::sqlite::sqlite_reader inner(tmp.file("ledger.db"));
  store::log::barrier_reader reader(inner, *s);
  expect_stored(reader, *s);
}

TEST(events_store, a_record_written_without_the_events_would_lose_them) {
  // The check above can fail: a set whose events are dropped before the
  // commit lists fewer.
  temp_dir tmp;
  auto db = must(sqlite_store::open({tmp.file("ledger.db")}));
  ledger::ledger l;
  for (ledger::change_set& set : workload(l)) {
    set.events.clear();
    must(db->commit(set));
  }
  store::sqlite::sqlite_reader reader(tmp.file("ledger.db"));
  EXPECT_EQ(listed(reader, {}), strings{});
}

TEST(events_store, an_altered_event_row_is_named_by_the_reader_and_the_audit) {
  temp_dir tmp;
  ledger::ledger l;
  {
    auto db = must(sqlite_store::open({tmp.file("ledger.db")}));
    for (const ledger::change_set& set : workload(l))
      must(db->commit(set));
  }
  {
    auto raw = must(store::sqlite::database::open(tmp.file("ledger.db"), false));
    must(raw.exec(R"(UPDATE events SET data = '{"threshold":"500"}' WHERE seq = 3)"));
  }
  store::sqlite::sqlite_reader reader(tmp.file("ledger.db"));
  auto r = reader.events({});
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("events row seq=3: checksum mismatch"), std::string::npos)
      << r.error().message;
  // Events before it still read.
  EXPECT_EQ(listed(reader, {.limit = 2}),
            (strings{"1 a balance.restored", "2 b balance.restored"}));
  // The start-up does not read the events (they grow with history); the
  // audit (creditd check) names the row.
  auto db = must(sqlite_store::open({tmp.file("ledger.db")}));
  ledger::ledger loaded;
  must(db->load(loaded, t0 + 11 * day));
  const std::string problems = must(db->audit_journal(loaded));
  EXPECT_NE(problems.find("events row seq=3: checksum mismatch"), std::string::npos) << problems;
}
}  // namespace events_store_test_cpp
