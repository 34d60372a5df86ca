// Test support for the store's tests: a seeded workload cut into change
// sets that write the same rows again and again, and a dump of every row of
// every table a store file holds.
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <expected>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "ledger/commerce.hpp"
#include "ledger/ledger.hpp"
#include "store/sqlite/sqlite_checksum.hpp"
#include "store/sqlite/sqlite_db.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace creditd::testing::store_workload {

using ledger::micros;
using ledger::time_us;

constexpr time_us t0 = 1'795'000'000LL * ledger::us_per_second;  // 2026-11-18
constexpr micros credit = ledger::micros_per_credit;

template <typename T, typename E>
T must(std::expected<T, E> r) {
  if (!r) {
    ADD_FAILURE() << "unexpected error: " << r.error().message;
    throw std::runtime_error("a call failed");
  }
  if constexpr (!std::is_void_v<T>) return std::move(*r);
}

inline std::unique_ptr<store::sqlite::sqlite_store> open_store(const std::string& path) {
  return must(store::sqlite::sqlite_store::open({path}));
}

// A seeded mix of commands on a few accounts, cut into `sets` change sets of
// about 40 commands: the same accounts, lots, holds, charges, prices,
// subscriptions and idempotency keys are written by many sets.
inline std::vector<ledger::change_set> workload(ledger::ledger& l, std::uint64_t seed, int sets) {
  std::mt19937_64 rng(seed);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<std::uint64_t>(n)); };
  std::vector<ledger::change_set> out;
  time_us now = t0;
  must(l.put_package({"pack-10", 10 * credit, 9'990'000, "usd", 30}, now));
  must(l.put_plan({"pro", 100 * credit, ledger::period_unit::month, 50 * credit}, now));
  must(l.put_plan({"basic", 20 * credit, ledger::period_unit::year, std::nullopt}, now));
  std::vector<ledger::object_id> holds, charges, lots;
  int step = 0;
  for (int s = 0; s < sets; ++s) {
    for (int i = 0; i < 40; ++i, ++step) {
      now += pick(3) * ledger::us_per_second;
      const std::string acct = "acct-" + std::to_string(pick(4));
      switch (pick(12)) {
        case 0:
          (void)l.put_account({acct, "Name " + std::to_string(step), ledger::account_settings{}},
                              now);
          break;
        case 1:
        case 2: {
          ledger::grant_cmd g;
          g.account = acct;
          g.amount = (1 + pick(100)) * credit / 4;
          if (pick(2)) g.expires_at = now + (1 + pick(60)) * ledger::us_per_second;
          if (auto r = l.grant(g, now)) lots.push_back((*r)->id);
          break;
        }
        case 3:
        case 4: {
          ledger::charge_cmd c;
          c.account = acct;
          c.amount = (1 + pick(40)) * credit / 8;
          c.operation = "image.generate";
          c.reference = "ref-" + std::to_string(step);
          if (auto r = l.charge(c, now)) charges.push_back((*r)->id);
          break;
        }
        case 5: {
          ledger::hold_cmd h;
          h.account = acct;
          h.amount = (1 + pick(20)) * credit / 2;
          h.operation = "image.upscale";
          h.ttl_seconds = 1 + pick(30);
          if (auto r = l.place_hold(h, now)) holds.push_back((*r)->id);
          break;
        }
        case 6:
          if (!holds.empty()) {
            const auto id = holds[static_cast<std::size_t>(pick(static_cast<int>(holds.size())))];
            if (pick(2)) {
              if (auto r = l.capture(id, std::nullopt, now)) charges.push_back((*r)->charge_id);
            } else {
              (void)l.release(id, now);
            }
          }
          break;
        case 7:
          if (!charges.empty()) {
            const auto id =
                charges[static_cast<std::size_t>(pick(static_cast<int>(charges.size())))];
            (void)l.refund({id, credit / 8, "oops"}, now);
          }
          break;
        case 8: {
          // A price upserted, deleted and upserted again across sets.
          const std::string id = "price-" + std::to_string(pick(3));
          if (pick(3) == 0) {
            (void)l.delete_price(id);
          } else {
            (void)l.put_price({id, "llm.tokens", {{"model", id}}, (1 + pick(9)) * 1000}, now);
          }
          break;
        }
        case 9: {
          ledger::purchase_cmd p;
          p.account = acct;
          p.package = "pack-10";
          p.reason = "test";
          if (pick(2)) {
            p.source = ledger::purchase_source::stripe;
            p.external_id = "evt_" + std::to_string(step);
          }
          (void)l.purchase(p, now);
          break;
        }
        case 10:
          (void)l.put_subscription({acct, pick(2) ? "pro" : "basic", std::nullopt, "UTC"}, now);
          break;
        case 11: {
          const std::string key = "key-" + std::to_string(step);
          if (auto found = l.idempotency_lookup(key, "fp"); found && *found == nullptr)
            l.idempotency_remember({key, "fp", 201, R"({"ok":true})", now});
          l.run_due(now);
          break;
        }
      }
    }
    out.push_back(l.take_changes());
  }
  EXPECT_EQ(l.check_all(), "");
  return out;
}

// Every row of every table the store writes, as sorted text, the meta rows
// of the log's mark and of probes apart (they differ by design).
inline std::string dump_tables(const std::string& path) {
  auto db = must(store::sqlite::database::open(path, false));
  std::string out;
  for (std::string_view table : store::sqlite::checksummed_tables) {
    const std::string sql = "SELECT * FROM " + std::string(table);
    sqlite3_stmt* raw = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db.raw(), sql.c_str(), -1, &raw, nullptr), SQLITE_OK) << sql;
    store::sqlite::statement q(raw);
    const int columns = sqlite3_column_count(raw);
    std::vector<std::string> rows;
    while (must(q.step())) {
      std::string row(table);
      for (int i = 0; i < columns; ++i)
        row += " " + store::sqlite::key_text(sqlite3_column_name(raw, i),
                                             store::sqlite::column_cell(q, i));
      if (table == "meta" &&
          (q.column_text(0) == "log_applied_seq" || q.column_text(0) == "probes"))
        continue;
      rows.push_back(std::move(row));
    }
    std::sort(rows.begin(), rows.end());
    out += std::string(table) + ": " + std::to_string(rows.size()) + " rows\n";
    for (const std::string& r : rows)
      out += r + "\n";
  }
  return out;
}

}  // namespace creditd::testing::store_workload
