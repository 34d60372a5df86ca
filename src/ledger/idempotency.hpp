// Idempotency keys: a key with the fingerprint of its request maps to the
// first response. The HTTP layer computes fingerprints and responses; this
// table only stores and compares them. Not thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <expected>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ledger/error.hpp"
#include "ledger/time.hpp"

namespace creditd::ledger {

struct idempotency_record {
  std::string key;
  std::string fingerprint;  // opaque: a hash of route + canonical body
  int status = 0;           // the response's status code
  std::string body;         // the response's body
  time_us created_at = 0;
};

struct string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};

class idempotency_table {
 public:
  // nullptr: the key is new. The record: a replay of the same request.
  // idempotency_conflict: the key was used for a different request.
  std::expected<const idempotency_record*, error> lookup(std::string_view key,
                                                         std::string_view fingerprint) const;

  // Stores a record (the key must be new). Returns it.
  const idempotency_record& remember(idempotency_record record);

  // Forgets records created before `cutoff`; returns how many.
  std::size_t forget_before(time_us cutoff);

  // Restores a record loaded from storage.
  void restore(idempotency_record record) { remember(std::move(record)); }

  std::size_t size() const { return records_.size(); }

 private:
  std::unordered_map<std::string, idempotency_record, string_hash, std::equal_to<>> records_;
  std::deque<std::pair<time_us, std::string>> by_age_;
};

}  // namespace creditd::ledger
