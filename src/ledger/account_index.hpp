// The ledger's accounts by id, for lookups: an open-addressing table of
// (hash, pointer) beside the map that owns the accounts.
//
// A lookup in the owning std::unordered_map follows three dependent pointers
// before it reaches the account (bucket, the node before, the node), each a
// cache miss once the accounts outgrow the cache (100,000 accounts spread:
// the largest part of the writer's own CPU per charge). Here the slot is
// found from the hash alone, so the engine's writer can ask the cache for a
// whole round's slots, then their accounts, then their first lots, each
// stage's misses overlapping (ledger::prefetch_accounts). A slot keeps the
// full hash, so a probe dereferences an account only when the hash matches.
//
// Accounts are never removed, and their addresses do not change (the map's
// nodes stay where they are when it grows or is moved), so the table only
// grows (or is emptied whole: the log's decoder, store/log/change_codec.hpp,
// keeps its stand-in owners in one). Load factor at most 1/2; 16 bytes a
// slot.
//
// Thread-safety: none (the ledger's).
#pragma once

#include <algorithm>
#include <cstddef>
#include <functional>
#include <string_view>
#include <vector>

#include "ledger/types.hpp"
#include "util/assert.hpp"

namespace creditd::ledger {

class account_index {
 public:
  static std::size_t hash(std::string_view id) { return std::hash<std::string_view>{}(id); }

  // `a` (whose id hashes to `h`) must not be in the table yet.
  void insert(std::size_t h, account* a) {
    if ((size_ + 1) * 2 > slots_.size()) grow();
    place(slots_, h, a);
    ++size_;
  }
  account* find(std::string_view id, std::size_t h) const {
    if (slots_.empty()) return nullptr;
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = h & mask;; i = (i + 1) & mask) {
      const slot& s = slots_[i];
      if (s.acct == nullptr) return nullptr;
      if (s.hash == h && s.acct->id == id) return s.acct;
    }
  }
  account* find(std::string_view id) const { return find(id, hash(id)); }

  // For the staged prefetch: where the probe for `h` starts (ask the cache
  // for it), and, once it is cached, the first account whose hash is `h`,
  // without reading any account (nullptr: none; a caller that must be sure
  // compares the id).
  const void* slot_address(std::size_t h) const {
    return slots_.empty() ? nullptr : &slots_[h & (slots_.size() - 1)];
  }
  account* candidate(std::size_t h) const {
    if (slots_.empty()) return nullptr;
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = h & mask;; i = (i + 1) & mask) {
      const slot& s = slots_[i];
      if (s.acct == nullptr || s.hash == h) return s.acct;
    }
  }

  std::size_t size() const { return size_; }
  // Empties the table; keeps its memory unless it has more than
  // `slots_kept_max` slots.
  void clear(std::size_t slots_kept_max) {
    if (slots_.size() > slots_kept_max)
      slots_ = {};
    else
      std::fill(slots_.begin(), slots_.end(), slot{});
    size_ = 0;
  }

 private:
  struct slot {
    std::size_t hash = 0;
    account* acct = nullptr;
  };

  static void place(std::vector<slot>& slots, std::size_t h, account* a) {
    const std::size_t mask = slots.size() - 1;
    std::size_t i = h & mask;
    while (slots[i].acct != nullptr)
      i = (i + 1) & mask;
    slots[i] = {h, a};
  }
  void grow() {
    std::vector<slot> bigger(slots_.empty() ? 64 : slots_.size() * 2);
    for (const slot& s : slots_)
      if (s.acct != nullptr) place(bigger, s.hash, s.acct);
    slots_ = std::move(bigger);
  }

  std::vector<slot> slots_;  // a power of two in size, or empty
  std::size_t size_ = 0;
};

}  // namespace creditd::ledger
