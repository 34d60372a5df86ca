// Test support: a store's load leaves charges, closed holds and dead lots in
// the store (the service reads one back when a request needs it). A test
// comparing everything a store holds with the ledger that made it:
//   - dump_ledger(l, path): the loaded ledger's dump with the charges, closed
//     holds and dead lots of the SQLite file at `path` it does not hold, each
//     read as the service reads it (its checksum checked);
//   - admit_stored_history(l, path): every stored charge and dead lot
//     admitted into `l`, for a test that refunds or looks one up afterwards.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "ledger/ledger.hpp"
#include "store/sqlite/sqlite_db.hpp"
#include "store/sqlite/sqlite_reader.hpp"
#include "support/ledger_dump.hpp"

namespace creditd::testing {

// The ids of a table's rows, ascending (throws when the file cannot be read).
inline std::vector<ledger::object_id> stored_ids(const std::string& sqlite_path,
                                                 const std::string& table) {
  auto db = store::sqlite::database::open(sqlite_path, false);
  if (!db) throw std::runtime_error("cannot open " + sqlite_path);
  auto q = db->prepare("SELECT id FROM " + table + " ORDER BY id");
  if (!q) throw std::runtime_error("cannot read the " + table + " of " + sqlite_path);
  std::vector<ledger::object_id> out;
  while (true) {
    auto row = q->step();
    if (!row) throw std::runtime_error("cannot read the " + table + " of " + sqlite_path);
    if (!*row) break;
    out.push_back(static_cast<ledger::object_id>(q->column_int(0)));
  }
  return out;
}

inline std::string dump_ledger(const ledger::ledger& l, const std::string& sqlite_path) {
  return dump_ledger(l, [&](dumped_objects& lots, dumped_objects& holds, dumped_objects& charges) {
    store::sqlite::sqlite_reader reader(sqlite_path);
    for (ledger::object_id id : stored_ids(sqlite_path, "lots")) {
      if (lots.contains(id)) continue;
      auto x = reader.lot(id);
      if (!x || !*x) throw std::runtime_error("lot " + std::to_string(id) + " cannot be read");
      lots[id] = dump_lot((*x)->l, (*x)->account);
    }
    for (ledger::object_id id : stored_ids(sqlite_path, "holds")) {
      if (holds.contains(id)) continue;
      auto h = reader.hold(id);
      if (!h || !*h) throw std::runtime_error("hold " + std::to_string(id) + " cannot be read");
      holds[id] = dump_hold((*h)->h, (*h)->account);
    }
    for (ledger::object_id id : stored_ids(sqlite_path, "charges")) {
      if (charges.contains(id)) continue;
      auto c = reader.charge(id);
      if (!c || !*c) throw std::runtime_error("charge " + std::to_string(id) + " cannot be read");
      charges[id] = dump_charge((*c)->c, (*c)->account);
    }
  });
}

// For ASSERT_TRUE: a failure says which charge or lot could not be read or
// admitted.
inline ::testing::AssertionResult admit_stored_history(ledger::ledger& l,
                                                       const std::string& sqlite_path) {
  store::sqlite::sqlite_reader reader(sqlite_path);
  for (ledger::object_id id : stored_ids(sqlite_path, "lots")) {
    auto x = reader.lot(id);
    if (!x) return ::testing::AssertionFailure() << "lot " << id << ": " << x.error().message;
    if (!*x) return ::testing::AssertionFailure() << "lot " << id << " vanished";
    if (!l.admit_lot((*x)->l, (*x)->account))
      return ::testing::AssertionFailure() << "lot " << id << " disagrees with the ledger";
  }
  for (ledger::object_id id : stored_ids(sqlite_path, "charges")) {
    auto c = reader.charge(id);
    if (!c) return ::testing::AssertionFailure() << "charge " << id << ": " << c.error().message;
    if (!*c) return ::testing::AssertionFailure() << "charge " << id << " vanished";
    if (!l.admit_charge((*c)->c, (*c)->account))
      return ::testing::AssertionFailure() << "charge " << id << " names an unknown account";
  }
  return ::testing::AssertionSuccess();
}

}  // namespace creditd::testing
