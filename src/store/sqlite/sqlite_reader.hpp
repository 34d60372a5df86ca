// Journal reads on read-only connections of their own, pooled, so they never
// wait for the engine's commits (WAL readers see the last commit). Thread-safe.
#pragma once

#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

#include "store/journal_reader.hpp"
#include "store/sqlite/sqlite_db.hpp"

namespace creditd::store::sqlite {

class sqlite_reader final : public journal_reader {
 public:
  // What entries() runs for each block of the journal (?1 the block, ?2 the
  // account, ?3 the cursor, ?4 the rows still wanted): its block is the
  // expression of entries_account_block, (seq >> 16), so that SQLite seeks
  // in that index. Tests read its query plan.
  static constexpr std::string_view entries_of_block_sql =
      "SELECT seq, type, amount, balance_after, lot_id, charge_id, hold_id, refund_id, parts, "
      "operation, dimensions, reference, reason, created_at, quantity, metadata, price_id, "
      "unit_amount FROM entries "
      "WHERE (seq >> 16) = ?1 AND account = ?2 AND seq > ?3 ORDER BY seq LIMIT ?4";

  explicit sqlite_reader(std::string path) : path_(std::move(path)) {}
  std::expected<std::vector<stored_entry>, store_error> entries(const std::string& account,
                                                                std::uint64_t after_seq,
                                                                std::size_t limit) override {
    return entries(account, after_seq, limit, nullptr);
  }
  // The same, and in `file_last_seq` the last seq of any account's entry in
  // the snapshot it read: every entry up to it is in the file, none above
  // (for a reader that adds entries the file does not hold yet).
  std::expected<std::vector<stored_entry>, store_error> entries(const std::string& account,
                                                                std::uint64_t after_seq,
                                                                std::size_t limit,
                                                                std::uint64_t* file_last_seq);
  std::expected<std::vector<ledger::lot_terms>, store_error> lots(const std::string& account,
                                                                  std::uint64_t after_id,
                                                                  std::size_t limit) override;
  std::expected<std::vector<ledger::purchase>, store_error> purchases(std::string_view account,
                                                                      std::uint64_t after_id,
                                                                      std::size_t limit) override;
  std::expected<bool, store_error> external_id_recorded(std::string_view external_id) override;
  std::expected<std::optional<stored_charge>, store_error> charge(ledger::object_id id) override {
    return charge(id, nullptr);
  }
  std::expected<std::optional<stored_hold>, store_error> hold(ledger::object_id id) override {
    return hold(id, nullptr);
  }
  std::expected<std::optional<stored_lot>, store_error> lot(ledger::object_id id) override {
    return lot(id, nullptr);
  }
  // The same, and in `log_mark` the file's mark in the snapshot it read (as
  // for lot_rows below).
  std::expected<std::optional<stored_charge>, store_error> charge(ledger::object_id id,
                                                                  std::uint64_t* log_mark);
  std::expected<std::optional<stored_hold>, store_error> hold(ledger::object_id id,
                                                              std::uint64_t* log_mark);
  std::expected<std::optional<stored_lot>, store_error> lot(ledger::object_id id,
                                                            std::uint64_t* log_mark);
  std::expected<std::vector<stored_lot>, store_error> lot_rows(const std::string& account,
                                                               std::uint64_t after_id,
                                                               std::size_t limit) override {
    return lot_rows(account, after_id, limit, nullptr);
  }
  // The same, and in `log_mark` the last append-only log record the file
  // holds in the snapshot it read (meta log_applied_seq; 0 without a log),
  // for a reader that lays the newer copies of the log's pending records
  // over the rows.
  std::expected<std::vector<stored_lot>, store_error> lot_rows(const std::string& account,
                                                               std::uint64_t after_id,
                                                               std::size_t limit,
                                                               std::uint64_t* log_mark);
  // Each row's checksum is checked (an altered event is an error naming it).
  std::expected<std::vector<stored_event>, store_error> events(const event_filter& filter) override;

 private:
  // The row `id` of a lot_select / hold_select (sqlite_rows.hpp), its
  // checksum checked.
  template <typename Row>
  std::expected<std::optional<Row>, store_error> row_by_id(
      std::string_view select, std::string_view table, int columns,
      std::optional<Row> (*decode)(const statement&), ledger::object_id id,
      std::uint64_t* log_mark);
  std::expected<database, store_error> acquire();
  void release(database db);
  std::string path_;
  std::mutex mu_;
  std::vector<database> idle_;
};

}  // namespace creditd::store::sqlite
