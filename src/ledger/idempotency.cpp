#include "ledger/idempotency.hpp"

#include "util/assert.hpp"

namespace creditd::ledger {

std::expected<const idempotency_record*, error> idempotency_table::lookup(
    std::string_view key, std::string_view fingerprint) const {
  auto it = records_.find(key);
  if (it == records_.end()) return nullptr;
  if (it->second.fingerprint != fingerprint) {
    return std::unexpected(
        make_error(errc::idempotency_conflict,
                   "this Idempotency-Key was already used for a different request"));
  }
  return &it->second;
}

const idempotency_record& idempotency_table::remember(idempotency_record record) {
  std::string key = record.key;
  const time_us created = record.created_at;
  auto [it, inserted] = records_.emplace(key, std::move(record));
  CREDITD_ASSERT(inserted);
  // Records arrive in time order, except on restore; keep the deque sorted enough
  // for forget_before by inserting at the back and tolerating a late old record.
  by_age_.emplace_back(created, std::move(key));
  return it->second;
}

std::size_t idempotency_table::forget_before(time_us cutoff) {
  std::size_t n = 0;
  while (!by_age_.empty() && by_age_.front().first < cutoff) {
    auto it = records_.find(by_age_.front().second);
    if (it != records_.end() && it->second.created_at < cutoff) {
      records_.erase(it);
      ++n;
    }
    by_age_.pop_front();
  }
  return n;
}

}  // namespace creditd::ledger
