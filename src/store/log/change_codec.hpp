// A compact, versioned, little-endian binary encoding of ledger::change_set:
// the payload of the append-only log's records. Every persisted field of
// every row is written (the in-memory `dirty_epoch` bookkeeping is not: it is
// not state). Decoding never trusts its input: every length and count is
// checked against what remains, every enum name must parse, and owner
// pointers are resolved against an arena of stand-in accounts that holds
// only their ids (what a store reads through `owner`).
//
// Layout: u8 version (2), u32 count of sets, then each set. Integers are
// fixed-width little-endian; a string is u32 length + bytes; a list is u32
// count + items; an enum is its name (u8 length + bytes), as the database
// spells it. Pure functions; thread-safe. An owner_arena is not.
#pragma once

#include <cstdint>
#include <deque>
#include <expected>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ledger/account_index.hpp"
#include "ledger/changes.hpp"
#include "ledger/types.hpp"

namespace creditd::store::log {

// 2: each set ends with its events and notices_until. Version 1 records
// (no events) are still read.
// 3: every integer (and every count and string length) is a varint
// (LEB128; signed ones zigzagged first) instead of 4 or 8 fixed bytes: a
// spread charge's record is about half as long (tests/store/log_codec_test
// pins it), so the log writes, copies, queues and decodes half as much.
// Version 1 and 2 records, fixed-width, are still read.
inline constexpr std::uint8_t change_codec_version = 3;

// Stand-in accounts for the owners of decoded rows: one per id, holding only
// the id; pointers stay valid until reset() or the arena's end. Accounts
// live in blocks and are found through a ledger::account_index, so a batch of many owners costs a
// few allocations, not two per owner. reset() keeps up to retained_max of them for the next batch.
class owner_arena {
 public:
  static constexpr std::size_t block_accounts = 256;
  static constexpr std::size_t retained_max = 16 * block_accounts;

  owner_arena() = default;
  owner_arena(owner_arena&&) = default;
  owner_arena& operator=(owner_arena&&) = default;

  const ledger::account* intern(std::string_view id);
  std::size_t size() const { return size_; }
  // Forgets every owner (their pointers dangle), keeping some memory.
  void reset();

 private:
  ledger::account& next_account();

  std::vector<std::unique_ptr<ledger::account[]>> blocks_;
  std::size_t size_ = 0;                   // accounts in use, in blocks_ order
  ledger::account_index index_;            // the accounts in use, by id
  const ledger::account* last_ = nullptr;  // the last interned
};

// Appends the encoding of `sets` to `out`. Every owner pointer must be set.
void encode_change_sets(std::string& out, std::span<const ledger::change_set* const> sets);
void encode_change_set(std::string& out, const ledger::change_set& set);
// The same in version 2's layout (fixed-width integers), which logs written
// before version 3 hold: for the tests that such records are still read.
void encode_change_set_v2(std::string& out, const ledger::change_set& set);

// The sets `bytes` holds, owners interned in `arena` (which must outlive
// them). Errors: a version this build does not know, a length or count past
// the end, an unknown enum value, an empty owner id, bytes left over.
std::expected<std::vector<ledger::change_set>, std::string> decode_change_sets(
    std::string_view bytes, owner_arena& arena);
// The same into sets[first ...], which grows as needed: sets already there
// are decoded into, every field of theirs replaced, their lists' memory
// reused (the applier decodes part after part into the same sets). Returns
// how many sets `bytes` held; after an error, sets[first ...] hold no
// meaning.
std::expected<std::size_t, std::string> decode_change_sets_into(
    std::string_view bytes, owner_arena& arena, std::vector<ledger::change_set>& sets,
    std::size_t first);

}  // namespace creditd::store::log
