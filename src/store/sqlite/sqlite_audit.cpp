// The journal audit behind `creditd check`: the file's own integrity, then
// the journal replayed and compared with the state.
#include <unordered_map>

#include "ledger/replay.hpp"
#include "store/codec.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace creditd::store::sqlite {

std::expected<std::string, store_error> sqlite_store::audit_journal(const ledger::ledger& l) {
  // First the file itself: every b-tree page, and every index against its table.
  {
    auto q = db_.prepare("PRAGMA integrity_check(20)");
    if (!q) return std::unexpected(fail("cannot check integrity", q.error()));
    std::string problems;
    while (true) {
      auto row = q->step();
      if (!row) return std::unexpected(fail("cannot check integrity", row.error()));
      if (!*row) break;
      if (q->column_text(0) != "ok") problems += std::string(q->column_text(0)) + "; ";
    }
    if (!problems.empty()) return "the file " + path_ + " is damaged: " + problems;
  }
  std::unordered_map<ledger::object_id, ledger::lot_replay> lots;
  auto q = db_.prepare("SELECT seq, type, amount, hold_id, parts FROM entries ORDER BY seq");
  if (!q) return std::unexpected(fail("cannot read entries", q.error()));
  std::uint64_t expected_seq = 1;
  while (true) {
    auto row = q->step();
    if (!row) return std::unexpected(fail("cannot read entries", row.error()));
    if (!*row) break;
    const auto seq = static_cast<std::uint64_t>(q->column_int(0));
    if (seq != expected_seq) return "journal has a gap before seq " + std::to_string(seq);
    ++expected_seq;
    auto type = ledger::parse_entry_type(q->column_text(1));
    const ledger::micros amount = q->column_int(2);
    const bool from_hold = q->column_int(3) != 0;
    auto parts = decode_parts(q->column_text(4));
    if (!type || !parts) return "entry " + std::to_string(seq) + " is unreadable";
    ledger::replay_entry(*type, amount, from_hold, *parts, lots, nullptr);
  }
  if (expected_seq != l.next_seq()) {
    return "journal ends at seq " + std::to_string(expected_seq - 1) +
           " but the ledger's next seq is " + std::to_string(l.next_seq());
  }
  std::string problem;
  l.for_each_account([&](const ledger::account& a) {
    for (const ledger::lot* x : a.lots) {
      if (!problem.empty()) return;
      const ledger::lot_replay r = lots.count(x->id) ? lots[x->id] : ledger::lot_replay{};
      if (r.remaining != x->remaining || r.held != x->held) {
        problem = "lot " + std::to_string(x->id) + " of " + a.id + ": journal says remaining " +
                  std::to_string(r.remaining) + " held " + std::to_string(r.held) +
                  ", state says remaining " + std::to_string(x->remaining) + " held " +
                  std::to_string(x->held);
      }
    }
  });
  return problem;
}

}  // namespace creditd::store::sqlite
