// The lots' changes that the applier holds back from the SQLite file.
//
// A spread charge changes one lot, and in the file that is one random page
// of `lots` rewritten per charge: the largest cost a spread charge has over
// a hot one, whose lot is written once per transaction (docs/performance.md).
// The applier therefore keeps each changed lot's last copy here, and writes
// it only once it has been held for `lag_records` records (or `lag_bytes`
// of them, or when more than `lots_max` are held): a lot charged again
// meanwhile is written once for all of its changes, like a hot one. With
// no lag (the default) it holds lots for one transaction only: a lot that
// several of its parts change is written once, at its end (past
// `lots_max`, the oldest earlier, into the same transaction).
//
// Nothing is lost by it: the log holds every change, and the file records
// the lots' own mark (meta 'log_lots_seq', sqlite_store::commit_batch):
// the seq before the oldest change still held. Segments are recycled only
// below it, a restart writes the lot changes of the records above it first
// (catch_up_lots, log_store.hpp), and reads of lots (log_store::load, the
// barrier_reader) take the held copies over the file's rows.
//
// Thread-safety: none. log_store guards it with its file lock (db_mu_):
// the applier changes it, readers look into it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ledger/types.hpp"
#include "store/journal_reader.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace creditd::store::log {

struct lot_backlog_limits {
  // A lot is written once its oldest held change is this many records old.
  // 0 (the default): every lot held is written at the end of the applier's
  // transaction that changed it, once however many of its parts changed
  // it, so that the file is whole after every transaction
  // (docs/architecture.md says what holding lots back longer buys and
  // costs).
  std::uint64_t lag_records = 0;
  // Or once that many payload bytes of records came after it (the log
  // keeps them until then).
  std::uint64_t lag_bytes = 64ull << 20;
  // Or, oldest first, while more lots than this are held.
  std::size_t lots_max = 65536;
};

class lot_backlog {
 public:
  explicit lot_backlog(lot_backlog_limits limits) : limits_(limits) {}
  lot_backlog(const lot_backlog&) = delete;
  lot_backlog& operator=(const lot_backlog&) = delete;

  // Holds the lots of record `seq` (its sets, in order; the last copy of a
  // lot wins), whose payload is `bytes` long. Records come in seq order.
  void take(std::span<const ledger::change_set> sets, std::uint64_t seq, std::size_t bytes);
  // The same one set at a time: each set of record `seq`, then end_record.
  void take(const ledger::change_set& set, std::uint64_t seq);
  void end_record(std::size_t bytes) { bytes_ += bytes; }
  // The lots to write in the transaction that applies the records up to
  // `last_seq`: those held past the limits, or every one when `all`, in id
  // order, and the lots' mark once they are written (last_seq when nothing
  // stays held). The rows point into the backlog: valid until the next call.
  sqlite::sqlite_store::lot_writes due(std::uint64_t last_seq, bool all);
  // The oldest held lots beyond lots_max, for a transaction to write before
  // its end (the log's applier, part by part), in id order. The rows point
  // into the backlog: valid until the next call.
  std::span<const sqlite::sqlite_store::lot_write> excess();
  // That transaction committed (or, after excess(), the rows are written
  // into it): forgets the lots due() or excess() returned.
  void written();

  std::size_t size() const { return end_ - head_; }
  bool over_limit() const { return size() > limits_.lots_max; }
  bool empty() const { return end_ == head_; }

  // For reads while lots are held (the file has an older copy, or none):
  // the held copy of lot `id`, or nullopt.
  std::optional<stored_lot> find(ledger::object_id id) const;
  // Every held lot, in id order (their owner pointers null).
  std::vector<sqlite::sqlite_store::lot_write> all() const;
  // The held lots of `account` with ids above `after_id`, in id order (a
  // scan of the backlog: at most lots_max).
  std::vector<stored_lot> of_account(std::string_view account, ledger::object_id after_id) const;

 private:
  struct held {
    ledger::lot lot;                // its owner pointer is not kept (null)
    std::string account;            // the owner's id
    std::uint64_t since_seq = 0;    // its oldest change not yet written
    std::uint64_t since_bytes = 0;  // bytes_ before that record
  };
  // Where a held lot is: an open-addressing table (linear probing, at
  // most half full) of its id and its position, held_[pos - front_]. A
  // spread round takes a lot that is not held yet for most of its charges:
  // one probe of a flat table, where std::unordered_map missed the cache
  // on its bucket and again on each node it compared (docs/performance.md).
  struct slot {
    ledger::object_id id = 0;  // 0: free (lot ids count up from 1)
    std::uint64_t pos = 0;
  };
  std::size_t home(ledger::object_id id) const;
  const slot* find_slot(ledger::object_id id) const;
  void insert_slot(ledger::object_id id, std::uint64_t pos);
  void erase_slot(ledger::object_id id);
  // rows_ in lot id order, the order the file's pages are in.
  void sort_rows();

  lot_backlog_limits limits_;
  held& at(std::uint64_t pos) { return held_[head_ + (pos - front_)]; }
  const held& at(std::uint64_t pos) const { return held_[head_ + (pos - front_)]; }

  // The held lots, oldest change first, are held_[head_, end_): lots leave
  // only from the front (due() and excess() take a prefix), and the one at
  // held_[head_] is at position front_. Those past end_ were written and
  // are used again (their strings keep their memory): a transaction holds
  // up to lots_max lots and a part's more, and the next one fills the same.
  std::vector<held> held_;
  std::size_t head_ = 0, end_ = 0;
  std::uint64_t front_ = 0;
  std::vector<slot> slots_;                            // a power of two of them, or none
  std::vector<sqlite::sqlite_store::lot_write> rows_;  // due()'s
  struct keyed_row {
    ledger::object_id id = 0;
    sqlite::sqlite_store::lot_write row;
  };
  std::vector<keyed_row> by_id_;  // sort_rows()'s
  std::uint64_t bytes_ = 0;       // payload bytes taken so far
};

}  // namespace creditd::store::log
