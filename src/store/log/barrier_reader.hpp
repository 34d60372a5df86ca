// A journal_reader that reads its writes: a write answered before a read
// was issued is in what the read sees, even while the applier lags.
//
// No read waits for the applier. Each takes the records acknowledged but
// not yet in the file that may hold what it wants (log_store::pending_with
// and the others: by account, by id, by event seq), then reads the file,
// and adds what the file lacks, decoded from the log store's memory.
// Taking the records first means nothing falls between the two; a record
// the applier writes meanwhile is in both, and read once:
// - rows that are only ever added (the journal: entries(); events();
//   purchases()): entries and events above the file's last (the file holds
//   a prefix of each in seq order), purchases merged by id;
// - a lot's terms (lots(), for balance-at), which never change after its
//   grant: every pending copy laid over the file's row;
// - rows that change (lot_rows(): a listing of lots; charge(), hold(),
//   lot(): a row read back by id): the newest pending copy, only if its
//   record is above the file's mark, read in the same snapshot as the rows.
// Under a steady stream of writes such a read costs the decoding of the few
// pending records that hold its account or id, instead of a wait for the
// applier's next transaction (hundreds of milliseconds: docs/performance.md),
// and it does not cut that transaction short. Reads of lots take the copies
// of the lots the applier holds back (lot_backlog.hpp) over the file's
// rows, under the applier's file lock (log_store::read_with_held_lots).
// flush_file() is the one call that waits: for a program that reads the
// file directly.
//
// Thread-safety: as the wrapped reader (log_store's barrier is thread-safe).
#pragma once

#include <functional>

#include "store/journal_reader.hpp"
#include "store/log/log_store.hpp"
#include "store/sqlite/sqlite_reader.hpp"

namespace creditd::store::log {

class barrier_reader final : public journal_reader {
 public:
  // Neither is owned; both must outlive this reader.
  barrier_reader(sqlite::sqlite_reader& inner, log_store& log) : inner_(inner), log_(log) {}

  // As journal_reader's; besides, the log store's failure (then nothing is
  // read), and a pending record that does not decode.
  std::expected<std::vector<stored_entry>, store_error> entries(const std::string& account,
                                                                std::uint64_t after_seq,
                                                                std::size_t limit) override;
  // Tests only: called by every read between taking the pending records
  // and reading the file (a test lets the applier write some of them there).
  std::function<void()> between_pending_and_file;

  std::expected<std::vector<ledger::lot_terms>, store_error> lots(const std::string& account,
                                                                  std::uint64_t after_id,
                                                                  std::size_t limit) override;

  std::expected<std::vector<ledger::purchase>, store_error> purchases(std::string_view account,
                                                                      std::uint64_t after_id,
                                                                      std::size_t limit) override;
  std::expected<bool, store_error> external_id_recorded(std::string_view external_id) override;
  std::expected<std::optional<stored_charge>, store_error> charge(ledger::object_id id) override;
  std::expected<std::optional<stored_hold>, store_error> hold(ledger::object_id id) override;
  std::expected<std::optional<stored_lot>, store_error> lot(ledger::object_id id) override;

  std::expected<std::vector<stored_lot>, store_error> lot_rows(const std::string& account,
                                                               std::uint64_t after_id,
                                                               std::size_t limit) override;

  std::expected<std::vector<stored_event>, store_error> events(const event_filter& filter) override;

  // Waits for the applier to write every acknowledged record, lots
  // included (log_store::wait_applied with lots).
  std::expected<std::uint64_t, store_error> flush_file() override {
    const std::uint64_t seq = log_.durable_seq();
    if (auto r = log_.wait_applied(seq, /*with_lots=*/true); !r) return std::unexpected(r.error());
    return seq;
  }

 private:
  sqlite::sqlite_reader& inner_;
  log_store& log_;
};

}  // namespace creditd::store::log
