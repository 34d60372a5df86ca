#include "store/log/lot_backlog.hpp"

#include <algorithm>

#include "util/assert.hpp"

namespace creditd::store::log {

void lot_backlog::take(std::span<const ledger::change_set> sets, std::uint64_t seq,
                       std::size_t bytes) {
  for (const ledger::change_set& set : sets)
    take(set, seq);
  end_record(bytes);
}

void lot_backlog::take(const ledger::change_set& set, std::uint64_t seq) {
  for (const ledger::lot& l : set.lots) {
    auto [it, fresh] = lots_.try_emplace(l.id);
    held& h = it->second;
    if (fresh) {
      h.since_seq = seq;
      h.since_bytes = bytes_;
      order_.push_back(l.id);
    }
    h.lot = l;
    h.lot.owner = nullptr;
    h.account = l.owner->id;
  }
}

sqlite::sqlite_store::lot_writes lot_backlog::due(std::uint64_t last_seq, bool all) {
  rows_.clear();
  const bool hold_none = limits_.lag_records == 0;
  for (const ledger::object_id id : order_) {
    held& h = lots_.at(id);
    CREDITD_ASSERT(h.since_seq <= last_seq);
    const bool old = all || hold_none || last_seq - h.since_seq >= limits_.lag_records ||
                     bytes_ - h.since_bytes >= limits_.lag_bytes ||
                     lots_.size() - rows_.size() > limits_.lots_max;
    if (!old) break;
    rows_.push_back({&h.lot, h.account});
  }
  sqlite::sqlite_store::lot_writes w;
  w.rows = rows_;
  w.lots_seq =
      rows_.size() == order_.size() ? last_seq : lots_.at(order_[rows_.size()]).since_seq - 1;
  return w;
}

std::span<const sqlite::sqlite_store::lot_write> lot_backlog::excess() {
  rows_.clear();
  for (std::size_t i = 0; lots_.size() - rows_.size() > limits_.lots_max; ++i) {
    held& h = lots_.at(order_[i]);
    rows_.push_back({&h.lot, h.account});
  }
  return rows_;
}

void lot_backlog::written() {
  for (std::size_t i = 0; i < rows_.size(); ++i) {
    lots_.erase(order_.front());
    order_.pop_front();
  }
  rows_.clear();
}

std::optional<stored_lot> lot_backlog::find(ledger::object_id id) const {
  auto it = lots_.find(id);
  if (it == lots_.end()) return std::nullopt;
  return stored_lot{it->second.account, it->second.lot};
}

std::vector<sqlite::sqlite_store::lot_write> lot_backlog::all() const {
  std::vector<sqlite::sqlite_store::lot_write> out;
  out.reserve(lots_.size());
  for (const auto& [id, h] : lots_)
    out.push_back({&h.lot, h.account});
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.lot->id < b.lot->id; });
  return out;
}

std::vector<stored_lot> lot_backlog::of_account(std::string_view account,
                                                ledger::object_id after_id) const {
  std::vector<stored_lot> out;
  for (const auto& [id, h] : lots_) {
    if (id > after_id && h.account == account) out.push_back({h.account, h.lot});
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.l.id < b.l.id; });
  return out;
}

}  // namespace creditd::store::log
