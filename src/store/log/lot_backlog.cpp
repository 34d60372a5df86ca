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

std::size_t lot_backlog::home(ledger::object_id id) const {
  // Fibonacci hashing: ids that count up spread over the table.
  return static_cast<std::size_t>((id * 0x9E3779B97F4A7C15ULL) >> 20) & (slots_.size() - 1);
}

const lot_backlog::slot* lot_backlog::find_slot(ledger::object_id id) const {
  if (slots_.empty()) return nullptr;
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = home(id);; i = (i + 1) & mask) {
    if (slots_[i].id == id) return &slots_[i];
    if (slots_[i].id == 0) return nullptr;
  }
}

void lot_backlog::insert_slot(ledger::object_id id, std::uint64_t pos) {
  if ((size() + 1) * 2 > slots_.size()) {
    // Grown to at least four times what is held (1,024 slots at least),
    // then every held lot placed again (`id` is not among them yet).
    std::size_t n = 1024;
    while (n < (size() + 1) * 4)
      n *= 2;
    slots_.assign(n, slot{});
    for (std::size_t i = head_; i < end_; ++i)
      insert_slot(held_[i].lot.id, front_ + (i - head_));
  }
  const std::size_t mask = slots_.size() - 1;
  std::size_t i = home(id);
  while (slots_[i].id != 0)
    i = (i + 1) & mask;
  slots_[i] = {id, pos};
}

void lot_backlog::erase_slot(ledger::object_id id) {
  const std::size_t mask = slots_.size() - 1;
  std::size_t i = home(id);
  while (slots_[i].id != id) {
    CREDITD_ASSERT(slots_[i].id != 0);
    i = (i + 1) & mask;
  }
  // Backward shift: each later slot of the run that may move to the hole
  // (its home is not between the hole and it) does, and leaves a new hole.
  for (std::size_t j = (i + 1) & mask; slots_[j].id != 0; j = (j + 1) & mask) {
    const std::size_t k = home(slots_[j].id);
    const bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
    if (stays) continue;
    slots_[i] = slots_[j];
    i = j;
  }
  slots_[i] = slot{};
}

void lot_backlog::take(const ledger::change_set& set, std::uint64_t seq) {
  // The table's slots of a spread round's lots are each a cache miss: asked
  // for all at once, they overlap.
  if (!slots_.empty()) {
    for (const ledger::lot& l : set.lots)
      __builtin_prefetch(&slots_[home(l.id)]);
  }
  for (const ledger::lot& l : set.lots) {
    CREDITD_ASSERT(l.id != 0);
    held* h;
    if (const slot* found = find_slot(l.id)) {
      h = &at(found->pos);
    } else {
      insert_slot(l.id, front_ + size());
      if (end_ == held_.size()) held_.emplace_back();
      h = &held_[end_++];
      h->since_seq = seq;
      h->since_bytes = bytes_;
    }
    h->lot = l;
    h->lot.owner = nullptr;
    h->account = l.owner->id;
  }
}

sqlite::sqlite_store::lot_writes lot_backlog::due(std::uint64_t last_seq, bool all) {
  rows_.clear();
  const bool hold_none = limits_.lag_records == 0;
  for (std::size_t i = head_; i < end_; ++i) {
    held& h = held_[i];
    CREDITD_ASSERT(h.since_seq <= last_seq);
    const bool old = all || hold_none || last_seq - h.since_seq >= limits_.lag_records ||
                     bytes_ - h.since_bytes >= limits_.lag_bytes ||
                     size() - rows_.size() > limits_.lots_max;
    if (!old) break;
    rows_.push_back({&h.lot, h.account});
  }
  sqlite::sqlite_store::lot_writes w;
  w.lots_seq = rows_.size() == size() ? last_seq : held_[head_ + rows_.size()].since_seq - 1;
  sort_rows();
  w.rows = rows_;
  return w;
}

void lot_backlog::sort_rows() {
  // In id order, each row's page of the lots' tables follows the last
  // one's: a spread round's lots, written in the order they were charged,
  // each searched its B-tree down to a page of its own (a fifth of a spread
  // charge's first-level cache misses in the store, docs/performance.md).
  // Which rows are written stays a prefix of held_ (written() counts them).
  // Sorted with each id beside its row: the held lots are read once, in
  // their order, not at random by every comparison.
  by_id_.resize(rows_.size());
  for (std::size_t i = 0; i < rows_.size(); ++i)
    by_id_[i] = {rows_[i].lot->id, rows_[i]};
  std::sort(by_id_.begin(), by_id_.end(),
            [](const keyed_row& a, const keyed_row& b) { return a.id < b.id; });
  for (std::size_t i = 0; i < by_id_.size(); ++i)
    rows_[i] = by_id_[i].row;
}

std::span<const sqlite::sqlite_store::lot_write> lot_backlog::excess() {
  rows_.clear();
  for (std::size_t i = head_; size() - rows_.size() > limits_.lots_max; ++i)
    rows_.push_back({&held_[i].lot, held_[i].account});
  sort_rows();
  return rows_;
}

void lot_backlog::written() {
  const std::size_t n = rows_.size();
  rows_.clear();
  if (n == 0) return;
  front_ += n;
  if (n == size()) {
    std::fill(slots_.begin(), slots_.end(), slot{});
    head_ = end_ = 0;
    return;
  }
  for (std::size_t i = 0; i < n; ++i)
    erase_slot(held_[head_++].lot.id);
  if (head_ * 2 > held_.size()) {
    // Most of the vector is behind the front: what is held moves to its
    // start (positions stay: at() counts from head_).
    std::move(held_.begin() + static_cast<std::ptrdiff_t>(head_),
              held_.begin() + static_cast<std::ptrdiff_t>(end_), held_.begin());
    end_ -= head_;
    head_ = 0;
  }
}

std::optional<stored_lot> lot_backlog::find(ledger::object_id id) const {
  const slot* found = find_slot(id);
  if (found == nullptr) return std::nullopt;
  const held& h = at(found->pos);
  return stored_lot{h.account, h.lot};
}

std::vector<sqlite::sqlite_store::lot_write> lot_backlog::all() const {
  std::vector<sqlite::sqlite_store::lot_write> out;
  out.reserve(size());
  for (std::size_t i = head_; i < end_; ++i)
    out.push_back({&held_[i].lot, held_[i].account});
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.lot->id < b.lot->id; });
  return out;
}

std::vector<stored_lot> lot_backlog::of_account(std::string_view account,
                                                ledger::object_id after_id) const {
  std::vector<stored_lot> out;
  for (std::size_t i = head_; i < end_; ++i) {
    const held& h = held_[i];
    if (h.lot.id > after_id && h.account == account) out.push_back({h.account, h.lot});
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.l.id < b.l.id; });
  return out;
}

}  // namespace creditd::store::log
