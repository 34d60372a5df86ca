// Reads of the journal from storage, for paging through history. Only
// committed entries are visible, which is every entry whose request was
// answered. Thread-safe.
#pragma once

#include <expected>
#include <string>
#include <vector>

#include "ledger/types.hpp"
#include "store/store.hpp"

namespace creditd::store {

struct stored_entry {
  std::string account;
  ledger::entry e;  // e.owner is null: the account is above
};

class journal_reader {
 public:
  virtual ~journal_reader() = default;
  // Entries of `account` with seq > after_seq, oldest first, at most `limit`.
  virtual std::expected<std::vector<stored_entry>, store_error> entries(const std::string& account,
                                                                        std::uint64_t after_seq,
                                                                        std::size_t limit) = 0;
};

}  // namespace creditd::store
