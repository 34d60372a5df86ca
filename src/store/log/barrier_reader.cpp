#include "store/log/barrier_reader.hpp"

#include <algorithm>
#include <unordered_map>

#include "store/log/change_codec.hpp"

namespace creditd::store::log {
namespace {

ledger::object_id id_of(const stored_lot& s) {
  return s.l.id;
}
ledger::object_id id_of(const ledger::lot_terms& t) {
  return t.id;
}
ledger::lot_terms terms_of(const stored_lot& s) {
  return {s.l.id, s.l.kind, s.l.priority, s.l.effective_at, s.l.expires_at};
}
stored_lot row_of(const stored_lot& s) {
  return s;
}

// One page of the file's rows (ids above the page's start, in id order, at
// most `limit`) with the held lots of the same account laid over it: a held
// copy replaces the file's row, and a held lot the file lacks joins the page
// when it falls inside it (below the page's last id, or anywhere when the
// file's page is not full). Then at most `limit`, in id order.
template <class Row, class Convert>
std::vector<Row> overlay(std::vector<Row> page, const std::vector<stored_lot>& held,
                         std::size_t limit, Convert convert) {
  const bool page_full = page.size() >= limit;
  const ledger::object_id last = page.empty() ? 0 : id_of(page.back());
  for (const stored_lot& h : held) {
    auto at = std::lower_bound(page.begin(), page.end(), h.l.id,
                               [](const Row& r, ledger::object_id id) { return id_of(r) < id; });
    if (at != page.end() && id_of(*at) == h.l.id) {
      *at = convert(h);
    } else if (!page_full || h.l.id < last) {
      page.insert(at, convert(h));
    }
  }
  if (page.size() > limit) page.resize(limit);
  return page;
}

using pending_records = log_store::pending_records;

// Calls visit(record seq, set) for each change set of the pending records
// that `wanted` keeps, in seq order, until it returns false. The sets'
// owners live until the next record: a row kept clears its owner. Errors:
// a record that does not decode.
template <class Wanted, class Visit>
std::expected<void, store_error> each_pending_set(const pending_records& records, Wanted wanted,
                                                  Visit visit) {
  owner_arena arena;
  for (const auto& record : records) {
    if (!wanted(*record)) continue;
    auto sets = decode_change_sets(record->payload, arena);
    if (!sets) {
      return std::unexpected(store_error{"log record seq " + std::to_string(record->seq) +
                                         " does not decode: " + sets.error()});
    }
    for (ledger::change_set& set : *sets) {
      if (!visit(record->seq, set)) return {};
    }
    arena.reset();
  }
  return {};
}
constexpr auto every_record = [](const log_store::pending_record&) { return true; };

// Each lot of `account` with an id above `after_id` in the pending records:
// its newest copy (records come in seq order: the last copy wins), owner
// null, and the record that holds it.
struct pending_lot {
  std::uint64_t record = 0;
  stored_lot row;
};
using pending_lots = std::unordered_map<ledger::object_id, pending_lot>;

std::expected<pending_lots, store_error> newest_pending_lots(const pending_records& records,
                                                             const std::string& account,
                                                             ledger::object_id after_id) {
  pending_lots out;
  auto r =
      each_pending_set(records, every_record, [&](std::uint64_t record, ledger::change_set& set) {
        for (ledger::lot& l : set.lots) {
          if (l.id <= after_id || l.owner->id != account) continue;
          l.owner = nullptr;
          out[l.id] = {record, {account, std::move(l)}};
        }
        return true;
      });
  if (!r) return std::unexpected(r.error());
  return out;
}

// The rows of `lots` whose record is above `mark`, moved out, in id order.
std::vector<stored_lot> rows_above(pending_lots& lots, std::uint64_t mark) {
  std::vector<stored_lot> out;
  for (auto& [id, p] : lots) {
    if (p.record > mark) out.push_back(std::move(p.row));
  }
  std::sort(out.begin(), out.end(),
            [](const stored_lot& a, const stored_lot& b) { return a.l.id < b.l.id; });
  return out;
}

// The newest copy of the row `id` among the `rows` of the pending records
// (records come in seq order: the last copy wins), owner null, with its
// account and the record that holds it; nullopt when none holds one.
template <class Row>
struct pending_copy {
  std::uint64_t record = 0;
  std::string account;
  Row row;
};
template <class Row>
std::expected<std::optional<pending_copy<Row>>, store_error> newest_pending_copy(
    const pending_records& records, ledger::object_id id,
    std::vector<Row> ledger::change_set::*rows) {
  std::optional<pending_copy<Row>> out;
  auto r =
      each_pending_set(records, every_record, [&](std::uint64_t record, ledger::change_set& set) {
        for (Row& x : set.*rows) {
          if (x.id != id) continue;
          std::string account = x.owner->id;
          x.owner = nullptr;
          out = pending_copy<Row>{record, std::move(account), std::move(x)};
        }
        return true;
      });
  if (!r) return std::unexpected(r.error());
  return out;
}

// With the log store failed, what a read does first: wait_applied says why
// (the applier failed), or makes the file hold every acknowledged record
// (an append failed), after which nothing is pending.
std::expected<void, store_error> settle_if_failed(log_store& log) {
  if (!log.failed()) return {};
  return log.wait_applied(log.durable_seq());
}

}  // namespace

std::expected<std::vector<ledger::lot_terms>, store_error> barrier_reader::lots(
    const std::string& account, std::uint64_t after_id, std::size_t limit) {
  if (auto r = settle_if_failed(log_); !r) return std::unexpected(r.error());
  // A lot's terms never change after its grant, so a lot in the pending
  // records and in the file (the applier wrote it meanwhile) reads the same
  // from either: every pending copy is laid over the file's page, like the
  // held ones, with no mark to compare. Taken before the file is read.
  auto pending = newest_pending_lots(log_.pending_with(account), account, after_id);
  if (!pending) return std::unexpected(pending.error());
  const std::vector<stored_lot> newer = rows_above(*pending, 0);
  if (between_pending_and_file) between_pending_and_file();
  return log_.read_with_held_lots(
      [&](const lot_backlog& held) -> std::expected<std::vector<ledger::lot_terms>, store_error> {
        auto page = inner_.lots(account, after_id, limit);
        if (!page) return page;
        auto with_held =
            overlay(std::move(*page), held.of_account(account, after_id), limit, terms_of);
        return overlay(std::move(with_held), newer, limit, terms_of);
      });
}

// A row read back by id: its newest pending copy, taken before the file is
// read, when its record is above the file's mark (read in the same
// snapshot as the row); else the file's row. A copy from a record the
// applier wrote meanwhile is no newer than the file's row.
template <class Stored, class Row, class ReadFile>
std::expected<std::optional<Stored>, store_error> read_back(
    log_store& log, const std::function<void()>& between, ledger::object_id id,
    std::vector<Row> ledger::change_set::*rows, ReadFile read_file) {
  auto pending = newest_pending_copy(log.pending_with_id(id), id, rows);
  if (!pending) return std::unexpected(pending.error());
  if (between) between();
  std::uint64_t mark = 0;
  auto file = read_file(&mark);
  if (!file) return file;
  if (*pending && (*pending)->record > mark)
    return Stored{std::move((*pending)->account), std::move((*pending)->row)};
  return file;
}

std::expected<std::optional<stored_charge>, store_error> barrier_reader::charge(
    ledger::object_id id) {
  if (auto r = settle_if_failed(log_); !r) return std::unexpected(r.error());
  return read_back<stored_charge>(log_, between_pending_and_file, id, &ledger::change_set::charges,
                                  [&](std::uint64_t* mark) { return inner_.charge(id, mark); });
}

std::expected<std::optional<stored_hold>, store_error> barrier_reader::hold(ledger::object_id id) {
  if (auto r = settle_if_failed(log_); !r) return std::unexpected(r.error());
  return read_back<stored_hold>(log_, between_pending_and_file, id, &ledger::change_set::holds,
                                [&](std::uint64_t* mark) { return inner_.hold(id, mark); });
}

std::expected<std::optional<stored_lot>, store_error> barrier_reader::lot(ledger::object_id id) {
  // Between the pending copies and the file's row, a copy the applier
  // holds back (lot_backlog.hpp): from a record the file's mark covers, so
  // newer than the file's row and older than a pending copy above the mark.
  // Settled before the applier is kept out of the file: a failed store
  // waits for it.
  if (auto r = settle_if_failed(log_); !r) return std::unexpected(r.error());
  return log_.read_with_held_lots([&](const lot_backlog& held) {
    return read_back<stored_lot>(
        log_, between_pending_and_file, id, &ledger::change_set::lots,
        [&](std::uint64_t* mark) -> std::expected<std::optional<stored_lot>, store_error> {
          auto file = inner_.lot(id, mark);
          if (!file) return file;
          if (auto h = held.find(id)) return h;
          return file;
        });
  });
}

std::expected<std::vector<stored_lot>, store_error> barrier_reader::lot_rows(
    const std::string& account, std::uint64_t after_id, std::size_t limit) {
  if (auto r = settle_if_failed(log_); !r) return std::unexpected(r.error());
  // Each lot's newest pending copy, taken before the file is read. A copy
  // from a record the file holds (the applier wrote it meanwhile) is no
  // newer than the file's row and is left out: only those above the file's
  // mark, read with its rows, are laid over them.
  auto pending = newest_pending_lots(log_.pending_with(account), account, after_id);
  if (!pending) return std::unexpected(pending.error());
  if (between_pending_and_file) between_pending_and_file();
  return log_.read_with_held_lots(
      [&](const lot_backlog& held) -> std::expected<std::vector<stored_lot>, store_error> {
        std::uint64_t mark = 0;
        auto page = inner_.lot_rows(account, after_id, limit, &mark);
        if (!page) return page;
        auto with_held =
            overlay(std::move(*page), held.of_account(account, after_id), limit, row_of);
        return overlay(std::move(with_held), rows_above(*pending, mark), limit, row_of);
      });
}

std::expected<std::vector<stored_entry>, store_error> barrier_reader::entries(
    const std::string& account, std::uint64_t after_seq, std::size_t limit) {
  if (auto r = settle_if_failed(log_); !r) return std::unexpected(r.error());
  // First what the file lacks, then the file: a record the applier writes
  // meanwhile is in both, never in neither.
  const pending_records pending = log_.pending_with(account);
  if (between_pending_and_file) between_pending_and_file();
  std::uint64_t file_last_seq = 0;
  auto rows = inner_.entries(account, after_seq, limit, &file_last_seq);
  if (!rows || rows->size() >= limit || pending.empty()) return rows;
  // The pending entries above what the file holds (and the page's start),
  // in seq order: records in seq order, and entries in order within each.
  const std::uint64_t above = std::max(after_seq, file_last_seq);
  auto r = each_pending_set(
      pending,
      // The others' entries are all in the file, or before the page.
      [&](const log_store::pending_record& record) { return record.last_entry_seq > above; },
      [&](std::uint64_t, ledger::change_set& set) {
        for (ledger::entry& e : set.entries) {
          if (e.seq <= above || e.owner->id != account) continue;
          e.owner = nullptr;
          rows->push_back({account, std::move(e)});
          if (rows->size() == limit) return false;
        }
        return true;
      });
  if (!r) return std::unexpected(r.error());
  return rows;
}

std::expected<std::vector<ledger::purchase>, store_error> barrier_reader::purchases(
    std::string_view account, std::uint64_t after_id, std::size_t limit) {
  if (auto r = settle_if_failed(log_); !r) return std::unexpected(r.error());
  // Purchases are new rows only, never changed: the pending ones of the
  // page (ids below after_id, unless 0) join the file's page unless it has
  // them already (the applier wrote them meanwhile); newest first.
  const std::string owner(account);
  const pending_records records = log_.pending_with(owner);
  std::vector<ledger::purchase> pending;
  auto r = each_pending_set(
      records, [](const log_store::pending_record& record) { return record.has_purchases; },
      [&](std::uint64_t, ledger::change_set& set) {
        for (ledger::purchase& p : set.purchases) {
          if (p.account == account && (after_id == 0 || p.id < after_id))
            pending.push_back(std::move(p));
        }
        return true;
      });
  if (!r) return std::unexpected(r.error());
  if (between_pending_and_file) between_pending_and_file();
  auto page = inner_.purchases(account, after_id, limit);
  if (!page || pending.empty()) return page;
  for (ledger::purchase& p : pending) {
    const bool in_file = std::any_of(page->begin(), page->end(),
                                     [&](const ledger::purchase& f) { return f.id == p.id; });
    if (!in_file) page->push_back(std::move(p));
  }
  std::sort(page->begin(), page->end(),
            [](const ledger::purchase& a, const ledger::purchase& b) { return a.id > b.id; });
  if (page->size() > limit) page->resize(limit);
  return page;
}

std::expected<bool, store_error> barrier_reader::external_id_recorded(
    std::string_view external_id) {
  if (auto r = settle_if_failed(log_); !r) return std::unexpected(r.error());
  // A purchase is a new row, never changed: in a pending record, or in the
  // file (the applier may write it meanwhile: then it is in both). Every
  // pending record with a purchase is looked at, whatever its account: the
  // id is unique over all of them.
  const pending_records records = log_.pending_with_purchases();
  bool found = false;
  auto r = each_pending_set(records, every_record, [&](std::uint64_t, ledger::change_set& set) {
    found = std::any_of(set.purchases.begin(), set.purchases.end(),
                        [&](const ledger::purchase& p) { return p.external_id == external_id; });
    return !found;
  });
  if (!r) return std::unexpected(r.error());
  if (found) return true;
  if (between_pending_and_file) between_pending_and_file();
  return inner_.external_id_recorded(external_id);
}

std::expected<std::vector<stored_event>, store_error> barrier_reader::events(
    const event_filter& filter) {
  if (auto r = settle_if_failed(log_); !r) return std::unexpected(r.error());
  // As entries(): the pending records first, then the file. The file holds
  // a prefix of the events in seq order (records are applied in order), so
  // when its page is not full, the pending events that match lie above the
  // page's last, or above the cursor when it is empty; those at or below
  // are in the file already.
  const pending_records pending = filter.account.empty()
                                      ? log_.pending_with_events_after(filter.after)
                                      : log_.pending_with(filter.account);
  if (between_pending_and_file) between_pending_and_file();
  auto page = inner_.events(filter);
  if (!page || page->size() >= filter.limit || pending.empty()) return page;
  const std::uint64_t above =
      page->empty() ? filter.after : std::max(filter.after, page->back().ev.seq);
  auto r = each_pending_set(
      pending,
      [&](const log_store::pending_record& record) { return record.last_event_seq > above; },
      [&](std::uint64_t, ledger::change_set& set) {
        for (ledger::event& ev : set.events) {
          if (ev.seq <= above) continue;
          const std::string_view account =
              ev.owner != nullptr ? std::string_view(ev.owner->id) : std::string_view();
          if (!filter.account.empty() && account != filter.account) continue;
          if (!filter.type.empty() && ledger::to_string(ev.type) != filter.type) continue;
          ev.owner = nullptr;  // the arena keeps `account` until the next record
          page->push_back({std::string(account), std::move(ev)});
          if (page->size() == filter.limit) return false;
        }
        return true;
      });
  if (!r) return std::unexpected(r.error());
  return page;
}

}  // namespace creditd::store::log
