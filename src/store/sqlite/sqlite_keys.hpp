// API keys in the SQLite file, through a connection of their own (WAL lets it
// write between the engine's commits). Thread-safe: one mutex.
#pragma once

#include <functional>
#include <memory>
#include <mutex>

#include "auth/keys.hpp"
#include "store/sqlite/sqlite_db.hpp"

namespace creditd::store::sqlite {

class sqlite_keys final : public auth::key_repository {
 public:
  // The file must exist and be migrated (open the sqlite_store first).
  static std::expected<std::unique_ptr<sqlite_keys>, std::string> open(const std::string& path);
  // Called while this connection waits for the file's write lock (before
  // its first use): creditd raises the log's applier, which may hold it
  // at idle priority (database::set_busy_wait).
  void on_busy(std::function<void()> f);
  // Every key. Errors: the file cannot be read, or a row's checksum does not
  // match (altered outside creditd: named, with the file).
  std::expected<std::vector<auth::key_row>, std::string> load_all() override;
  // Writes the whole row (not revoked) with its checksum.
  std::expected<void, std::string> upsert(const auth::key_row& row) override;
  // Sets revoked_at and the row's new checksum in one transaction; an
  // unknown id changes nothing.
  std::expected<void, std::string> revoke(std::string_view id, ledger::time_us at) override;

 private:
  std::mutex mu_;
  std::string path_;
  database db_;
};

}  // namespace creditd::store::sqlite
