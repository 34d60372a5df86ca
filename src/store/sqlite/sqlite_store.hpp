// The embedded store: one SQLite file in WAL mode with synchronous=FULL, so a
// successful commit() is on disk. One process at a time: the file is locked
// (flock on a side file) for the life of the store.
//
// Thread-safety: not thread-safe; the engine's committer thread owns it after load().
#pragma once

#include <memory>
#include <string>

#include "store/sqlite/sqlite_db.hpp"
#include "store/store.hpp"

namespace creditd::store::sqlite {

struct sqlite_options {
  std::string path;
  // Pages of WAL after which a commit also checkpoints into the main file.
  int wal_autocheckpoint_pages = 4000;
};

class sqlite_store final : public store {
 public:
  // Opens or creates the file, takes its lock and migrates the schema (to
  // version 6: the checksum of every row already there, in the migration's
  // transaction).
  // Errors: cannot create/open the file, another process holds it, the file
  // was written by a newer schema, or is not a creditd database.
  static std::expected<std::unique_ptr<sqlite_store>, store_error> open(const sqlite_options& opts);
  ~sqlite_store() override;

  // As store::load; besides, every row it reads (and every row of
  // subscription_periods and events) must match its checksum
  // (sqlite_checksum.hpp): a row altered outside creditd is refused, naming
  // the file, the table and the row's key. The journal's entries are not
  // read here; `creditd check` verifies them.
  std::expected<void, store_error> load(ledger::ledger& into, ledger::time_us now) override;
  // Every row written carries its checksum: each upsert sets every column.
  std::expected<void, store_error> commit(const ledger::change_set& changes) override;
  std::expected<void, store_error> probe() override;

  // Checks the file's integrity (PRAGMA integrity_check: every page, every
  // index against its table), every row's checksum, then audits the journal
  // against every row (ledger/audit.hpp). Returns "" when all agree, else
  // every problem found (bounded), one per line, naming the file.
  std::expected<std::string, store_error> audit_journal(const ledger::ledger& l);

  const std::string& path() const { return path_; }

 private:
  sqlite_store() = default;
  std::expected<void, store_error> migrate();
  std::expected<void, store_error> prepare_statements();
  std::expected<void, store_error> write(const ledger::change_set& changes);
  // The catalog, subscriptions, purchases and periods of a change set.
  std::expected<void, store_error> write_commerce(const ledger::change_set& changes);
  // The catalog, subscriptions (after the accounts) and purchases' external ids.
  std::expected<void, store_error> load_commerce(ledger::ledger& into);
  store_error fail(const std::string& what, const db_error& e) const;

  std::string path_;
  int lock_fd_ = -1;
  database db_;
  statement begin_, commit_, rollback_;
  statement insert_entry_, upsert_account_, upsert_lot_, upsert_hold_, upsert_charge_;
  statement insert_idempotency_, expire_idempotency_, upsert_meta_;
  statement upsert_price_, delete_price_, upsert_package_, upsert_plan_, upsert_subscription_;
  statement insert_purchase_, insert_period_;
  std::string scratch_;
  std::uint64_t probes_ = 0;
};

}  // namespace creditd::store::sqlite
