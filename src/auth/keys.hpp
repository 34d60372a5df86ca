// API keys and roles. Keys are random (OpenSSL's CSPRNG), shown once, kept
// only as SHA-256 hashes, compared in constant time, and revocable.
// Thread-safe: lookups take a shared lock, changes an exclusive one. The
// key store owns one thread, its writer: the asynchronous create and revoke
// write to the repository there, never on the caller's thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <expected>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "ledger/time.hpp"

namespace creditd::auth {

enum class role { admin, service, reader };
std::string_view to_string(role r);
std::optional<role> parse_role(std::string_view text);

struct principal {
  std::string key_id;
  role who = role::reader;
  std::string account;  // reader keys: the one account they may read
};

struct key_row {
  std::string id;
  std::string hash;  // hex SHA-256 of the key
  role who = role::reader;
  std::string account;
  ledger::time_us created_at = 0;
  std::optional<ledger::time_us> revoked_at;
};

// Where keys persist (the store's file or database).
class key_repository {
 public:
  virtual ~key_repository() = default;
  virtual std::expected<std::vector<key_row>, std::string> load_all() = 0;
  // Inserts, or replaces the row with the same id (bootstrap rotation).
  virtual std::expected<void, std::string> upsert(const key_row& row) = 0;
  virtual std::expected<void, std::string> revoke(std::string_view id, ledger::time_us at) = 0;
};

std::string sha256_hex(std::string_view data);

class key_store {
 public:
  // Key writes queued for the writer thread at most; more are refused.
  static constexpr std::size_t writes_queued_max = 1024;

  using created_fn =
      std::function<void(std::expected<std::pair<key_row, std::string>, std::string>)>;
  using revoked_fn = std::function<void(std::expected<bool, std::string>)>;

  // Starts the writer thread.
  explicit key_store(key_repository& repo);
  // stop().
  ~key_store();
  key_store(const key_store&) = delete;
  key_store& operator=(const key_store&) = delete;

  std::expected<void, std::string> load();
  // Registers `key` as the bootstrap admin key (id "key_bootstrap"),
  // replacing an earlier bootstrap key.
  std::expected<void, std::string> set_bootstrap(std::string_view key, ledger::time_us now);
  // Creates a key; returns {row, plaintext key}. Durable when it returns.
  std::expected<std::pair<key_row, std::string>, std::string> create(role who, std::string account,
                                                                     ledger::time_us now);
  // false when there is no such live key. Refused by authenticate() when it
  // returns true, and durable.
  std::expected<bool, std::string> revoke(std::string_view id, ledger::time_us now);
  // create() and revoke() on the writer thread; `done` is called there with
  // their result, once (at once, with an error, when writes_queued_max
  // writes are queued already). It must not block.
  void create_async(role who, std::string account, ledger::time_us now, created_fn done);
  void revoke_async(std::string id, ledger::time_us now, revoked_fn done);
  // Runs the writes queued (their callbacks included) and joins the writer;
  // later asynchronous calls are refused at once. Idempotent; not from the
  // writer thread (a callback).
  void stop();
  // The principal for a bearer key, or nullopt.
  std::optional<principal> authenticate(std::string_view key) const;
  // Changes whenever a key may have stopped authenticating (a revoke, a
  // replaced bootstrap key), after authenticate() already refuses it. A
  // result of authenticate() called after generation() returned G may be
  // reused (a per-connection cache) while generation() still returns G.
  std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

 private:
  key_repository& repo_;
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, key_row> by_hash_;
  std::unordered_map<std::string, std::string> hash_by_id_;
  std::atomic<std::uint64_t> generation_{0};

  // Runs queued jobs (each writes and calls back) until stopped and drained.
  void writer_loop();
  // Queues `job`; false when the queue is full.
  bool enqueue(std::function<void()> job);
  std::mutex jobs_mu_;
  std::condition_variable jobs_cv_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::thread writer_;
};

}  // namespace creditd::auth
