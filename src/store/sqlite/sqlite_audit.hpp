// The audit of a SQLite store file behind `creditd check` (and
// sqlite_store::audit_journal): PRAGMA integrity_check first (every page,
// every index against its table), then every row against its checksum
// (sqlite_checksum.hpp), then every row of the file streamed into the
// ledger's journal auditor (ledger/audit.hpp): the counters, accounts, lots,
// holds, charges, purchases, subscription periods and subscriptions, then
// the journal in seq order. Rows are read from the file, not from a loaded
// ledger; the checksums and the rows in one read transaction (one snapshot).
//
// Memory: the auditor's (a record per account, lot, hold, charge, purchase,
// period and refund; never per entry). Entries are streamed.
//
// Thread-safety: uses the connection it is given; one caller at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <string>
#include <vector>

#include "ledger/audit.hpp"
#include "ledger/ledger.hpp"
#include "store/sqlite/sqlite_db.hpp"
#include "store/store.hpp"

namespace creditd::store::sqlite {

struct audit_report {
  // Each names its row (or the file, for damage), in the order found; at
  // most problems_max.
  std::vector<std::string> problems;
  bool stopped = false;  // problems_max were found: there may be more
  ledger::audit_counts counts;
  std::uint64_t journal_next_seq = 1;  // the journal's last seq + 1
  bool ok() const { return problems.empty(); }
};

// Audits the store open on `db`, named `path` in messages. `loaded`, when
// given, is a ledger loaded from the same store: its next seq must agree
// with the journal. Errors: the file cannot be read at all (a problem in
// a row is a problem of the report, not an error).
std::expected<audit_report, store_error> audit_database(
    database& db, const std::string& path, const ledger::ledger* loaded = nullptr,
    std::size_t problems_max = ledger::journal_auditor::default_problems_max);

// Opens the existing store at `path` on a connection of its own (nothing is
// created or written) and audits it.
std::expected<audit_report, store_error> audit_file(
    const std::string& path, const ledger::ledger* loaded = nullptr,
    std::size_t problems_max = ledger::journal_auditor::default_problems_max);

// "" for a clean report, else the problems, one per line after a line
// naming the file: "sqlite store PATH is inconsistent (2 problems):\n  ...".
std::string describe(const audit_report& report, const std::string& path);

}  // namespace creditd::store::sqlite
