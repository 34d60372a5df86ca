// Reads of the journal (and of the purchases, which the ledger does not keep
// in memory) from storage, for paging through history. Only committed rows
// are visible, which is every row whose request was answered. Thread-safe.
#pragma once

#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ledger/balance_at.hpp"
#include "ledger/types.hpp"
#include "store/store.hpp"

namespace creditd::store {

struct stored_entry {
  std::string account;
  ledger::entry e;  // e.owner is null: the account is above
};

// A charge as the store holds it (the ledger forgets old ones; see
// ledger::forget_charges).
struct stored_charge {
  std::string account;
  ledger::charge_record c;  // c.owner is null: the account is above
};

// A hold as the store holds it (the ledger forgets closed ones; see
// ledger::forget_closed_holds).
struct stored_hold {
  std::string account;
  ledger::hold h;  // h.owner is null: the account is above
};

// A lot as the store holds it (the ledger forgets dead ones; see
// ledger::forget_dead_lots).
struct stored_lot {
  std::string account;
  ledger::lot l;  // l.owner is null: the account is above
};

// An event as the store holds it (ledger/events.hpp; events are not kept in
// memory once durable).
struct stored_event {
  std::string account;
  ledger::event ev;  // ev.owner is null: the account is above
};

// Which events a read wants: those with seq > after, of one account and of
// one type when given (empty: any), at most `limit`, oldest first.
struct event_filter {
  std::uint64_t after = 0;
  std::string account;
  std::string type;
  std::size_t limit = 50;
};

class journal_reader {
 public:
  virtual ~journal_reader() = default;
  // Entries of `account` with seq > after_seq, oldest first, at most `limit`.
  virtual std::expected<std::vector<stored_entry>, store_error> entries(const std::string& account,
                                                                        std::uint64_t after_seq,
                                                                        std::size_t limit) = 0;
  // The terms of `account`'s lots with id > after_id (validity window, kind,
  // priority: what a balance as of a past instant needs), by id, at most
  // `limit`. Errors: the store cannot be read, or holds an unreadable row.
  virtual std::expected<std::vector<ledger::lot_terms>, store_error> lots(
      const std::string& account, std::uint64_t after_id, std::size_t limit) = 0;
  // Purchases of `account`, newest first (by id, descending), at most
  // `limit`: the first page with after_id 0, the next with the id of the
  // last one read (those with id < after_id). An unknown account has none.
  // Errors: the store cannot be read, or holds an unreadable row.
  virtual std::expected<std::vector<ledger::purchase>, store_error> purchases(
      std::string_view account, std::uint64_t after_id, std::size_t limit) = 0;
  // Whether a purchase with this external id (a Stripe event id; not empty)
  // is recorded, on any account: for a purchase whose id the ledger does
  // not hold (it keeps the recent ones only). Errors as charge(): the row's
  // checksum is checked.
  virtual std::expected<bool, store_error> external_id_recorded(std::string_view external_id) = 0;
  // The charge `id`, or nullopt when the store has none. Errors: the store
  // cannot be read; the row is unreadable or was altered outside creditd
  // (its checksum disagrees).
  virtual std::expected<std::optional<stored_charge>, store_error> charge(ledger::object_id id) = 0;
  // The hold `id`, or nullopt when the store has none. Errors as charge().
  virtual std::expected<std::optional<stored_hold>, store_error> hold(ledger::object_id id) = 0;
  // The lot `id`, or nullopt when the store has none. Errors as charge().
  virtual std::expected<std::optional<stored_lot>, store_error> lot(ledger::object_id id) = 0;
  // Every column of `account`'s lots with id > after_id, by id, at most
  // `limit` (the lot list). Errors as charge().
  virtual std::expected<std::vector<stored_lot>, store_error> lot_rows(const std::string& account,
                                                                       std::uint64_t after_id,
                                                                       std::size_t limit) = 0;
  // The events `filter` asks for, by seq (a delivery worker reads "the
  // events after seq N" so, in order). Errors as charge().
  virtual std::expected<std::vector<stored_event>, store_error> events(
      const event_filter& filter) = 0;

  // Makes the SQLite file hold every write acknowledged before the call,
  // lots included, for a program that reads the file directly (a report, a
  // backup, a test): behind an append-only log, waits until its applier has
  // written them. Returns the seq of the log's last record the file now
  // holds (at least every one acknowledged before the call), 0 for a store
  // without a log, whose file holds every write when it is answered.
  // Errors: the store failed (the applier cannot write).
  virtual std::expected<std::uint64_t, store_error> flush_file() { return 0; }
};

}  // namespace creditd::store
