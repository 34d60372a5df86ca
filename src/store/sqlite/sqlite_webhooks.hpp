// Webhook endpoints and their delivery attempts in the SQLite file, through
// a connection of their own (WAL lets it write between the engine's
// commits), as the API keys are. Every row carries its checksum; a row
// altered outside creditd is refused at load, named. Thread-safe: one mutex.
//
// Durability: the API's writes (upsert, remove) are synced before they
// return. The delivery worker's records of attempts are not synced, unless
// they disable the endpoint: a process crash (SIGKILL) loses none of them
// (they are in the WAL), an OS crash or power loss may lose the last ones,
// and their events are then sent again, as at-least-once delivery allows.
#pragma once

#include <array>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string_view>

#include "store/sqlite/sqlite_db.hpp"
#include "webhooks/registry.hpp"

namespace creditd::store::sqlite {

// The tables written here (not the ledger's: the store's checksum sweep
// leaves them to this class's load; `creditd check` verifies every row's
// checksum, as for the ledger's tables).
inline constexpr std::array<std::string_view, 2> webhook_tables = {"webhook_endpoints",
                                                                   "webhook_deliveries"};

class sqlite_webhooks final : public webhooks::repository {
 public:
  // The file must exist and be migrated (open the sqlite_store first).
  static std::expected<std::unique_ptr<sqlite_webhooks>, std::string> open(const std::string& path);
  // Called while this connection waits for the file's write lock (before
  // its first use): creditd raises the log's applier, which may hold it
  // at idle priority (database::set_busy_wait).
  void on_busy(std::function<void()> f);

  std::expected<std::vector<webhooks::endpoint>, std::string> load_all() override;
  std::expected<void, std::string> upsert(const webhooks::endpoint& e) override;
  std::expected<void, std::string> remove(const std::string& id) override;
  std::expected<void, std::string> record_attempts(const webhooks::endpoint& e,
                                                   std::span<const webhooks::delivery> ds) override;
  std::expected<std::vector<webhooks::delivery>, std::string> deliveries(
      const std::string& id, std::size_t limit) override;
  // The seq of the last event in the file (0: none). Behind the append-only
  // log, wait for the log's barrier first.
  std::expected<std::uint64_t, std::string> last_event_seq();

 private:
  std::expected<void, db_error> write_endpoint(const webhooks::endpoint& e);
  // The statement for `sql` (a string literal), prepared once and reset.
  std::expected<statement*, db_error> cached(const char* sql);
  std::expected<void, db_error> set_synced(bool full);
  std::mutex mu_;
  std::map<const char*, statement> statements_;
  bool synced_full_ = true;
  std::int64_t next_delivery_id_ = 0;  // 0: not read yet
  // Attempts recorded per endpoint since its last prune: an endpoint keeps
  // at most deliveries_kept_max + prune_every rows.
  static constexpr std::size_t prune_every = 32;
  std::map<std::string, std::size_t, std::less<>> unpruned_;
  std::string path_;
  database db_;
};

}  // namespace creditd::store::sqlite
