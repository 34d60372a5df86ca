#include "auth/keys.hpp"
#include "util/thread_name.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <mutex>

namespace creditd::auth {

std::string_view to_string(role r) {
  switch (r) {
    case role::admin:
      return "admin";
    case role::service:
      return "service";
    case role::reader:
      return "reader";
  }
  return "reader";
}

std::optional<role> parse_role(std::string_view text) {
  if (text == "admin") return role::admin;
  if (text == "service") return role::service;
  if (text == "reader") return role::reader;
  return std::nullopt;
}

namespace {
std::string hex(const unsigned char* data, std::size_t n) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(n * 2, '0');
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = digits[data[i] >> 4];
    out[2 * i + 1] = digits[data[i] & 0xf];
  }
  return out;
}

std::string random_hex(std::size_t bytes) {
  std::vector<unsigned char> buf(bytes);
  if (RAND_bytes(buf.data(), static_cast<int>(bytes)) != 1)
    std::abort();  // no entropy: cannot go on safely
  return hex(buf.data(), bytes);
}
}  // namespace

std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  return hex(md, len);
}

key_store::key_store(key_repository& repo) : repo_(repo) {
  writer_ = std::thread([this] {
    util::name_this_thread("keys");
    writer_loop();
  });
}

key_store::~key_store() {
  stop();
}

void key_store::stop() {
  {
    std::lock_guard lock(jobs_mu_);
    stopping_ = true;
  }
  jobs_cv_.notify_one();
  if (writer_.joinable()) writer_.join();
}

void key_store::writer_loop() {
  while (true) {
    std::function<void()> job;
    {
      std::unique_lock lock(jobs_mu_);
      jobs_cv_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // stopping, and every queued write ran
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job();
  }
}

bool key_store::enqueue(std::function<void()> job) {
  {
    std::lock_guard lock(jobs_mu_);
    if (stopping_ || jobs_.size() >= writes_queued_max) return false;
    jobs_.push_back(std::move(job));
  }
  jobs_cv_.notify_one();
  return true;
}

void key_store::create_async(role who, std::string account, ledger::time_us now, created_fn done) {
  auto shared = std::make_shared<created_fn>(std::move(done));
  if (!enqueue([this, who, account = std::move(account), now, shared]() mutable {
        (*shared)(create(who, std::move(account), now));
      }))
    (*shared)(std::unexpected(std::string("too many key writes queued")));
}

void key_store::revoke_async(std::string id, ledger::time_us now, revoked_fn done) {
  auto shared = std::make_shared<revoked_fn>(std::move(done));
  if (!enqueue([this, id = std::move(id), now, shared] { (*shared)(revoke(id, now)); }))
    (*shared)(std::unexpected(std::string("too many key writes queued")));
}

std::expected<void, std::string> key_store::load() {
  auto rows = repo_.load_all();
  if (!rows) return std::unexpected(rows.error());
  std::unique_lock lock(mu_);
  for (key_row& r : *rows) {
    if (r.revoked_at) continue;
    hash_by_id_[r.id] = r.hash;
    std::string h = r.hash;
    by_hash_[std::move(h)] = std::move(r);
  }
  return {};
}

std::expected<void, std::string> key_store::set_bootstrap(std::string_view key,
                                                          ledger::time_us now) {
  key_row row{"key_bootstrap", sha256_hex(key), role::admin, "", now, std::nullopt};
  {
    std::shared_lock lock(mu_);
    auto it = hash_by_id_.find(row.id);
    if (it != hash_by_id_.end() && it->second == row.hash) return {};  // already registered
  }
  if (auto r = repo_.upsert(row); !r) return r;
  std::unique_lock lock(mu_);
  if (auto it = hash_by_id_.find(row.id); it != hash_by_id_.end()) {
    by_hash_.erase(it->second);
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  hash_by_id_[row.id] = row.hash;
  std::string h = row.hash;
  by_hash_[std::move(h)] = std::move(row);
  return {};
}

std::expected<std::pair<key_row, std::string>, std::string> key_store::create(role who,
                                                                              std::string account,
                                                                              ledger::time_us now) {
  std::string key = "cdk_" + random_hex(32);
  key_row row{"key_" + random_hex(8), sha256_hex(key), who, std::move(account), now, std::nullopt};
  if (auto r = repo_.upsert(row); !r) return std::unexpected(r.error());
  std::unique_lock lock(mu_);
  hash_by_id_[row.id] = row.hash;
  by_hash_[row.hash] = row;
  return std::make_pair(std::move(row), std::move(key));
}

std::expected<bool, std::string> key_store::revoke(std::string_view id, ledger::time_us now) {
  {
    std::shared_lock lock(mu_);
    if (hash_by_id_.find(std::string(id)) == hash_by_id_.end()) return false;
  }
  if (auto r = repo_.revoke(id, now); !r) return std::unexpected(r.error());
  std::unique_lock lock(mu_);
  auto it = hash_by_id_.find(std::string(id));
  if (it == hash_by_id_.end()) return false;
  by_hash_.erase(it->second);
  hash_by_id_.erase(it);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  return true;
}

std::optional<principal> key_store::authenticate(std::string_view key) const {
  if (key.empty() || key.size() > 256) return std::nullopt;
  const std::string h = sha256_hex(key);
  std::shared_lock lock(mu_);
  auto it = by_hash_.find(h);
  if (it == by_hash_.end()) return std::nullopt;
  // The map found it by hash; compare the full hash in constant time anyway.
  if (CRYPTO_memcmp(it->second.hash.data(), h.data(), h.size()) != 0) return std::nullopt;
  return principal{it->second.id, it->second.who, it->second.account};
}

}  // namespace creditd::auth
