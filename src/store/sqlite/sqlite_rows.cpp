#include "store/sqlite/sqlite_rows.hpp"

#include <charconv>

#include "store/codec.hpp"
#include "store/sqlite/sqlite_checksum.hpp"

namespace creditd::store::sqlite {

std::optional<stored_lot> decode_lot(const statement& q) {
  auto kind = ledger::parse_lot_kind(q.column_text(2));
  auto status = ledger::parse_lot_status(q.column_text(3));
  auto scope = decode_scope(q.column_text(14));
  if (!kind || !status || !scope) return std::nullopt;
  stored_lot s;
  s.account = q.column_text(1);
  ledger::lot& l = s.l;
  l.id = static_cast<ledger::object_id>(q.column_int(0));
  l.kind = *kind;
  l.status = *status;
  l.priority = static_cast<std::int32_t>(q.column_int(4));
  l.amount = q.column_int(5);
  l.remaining = q.column_int(6);
  l.held = q.column_int(7);
  l.spent = q.column_int(8);
  l.expired = q.column_int(9);
  l.voided = q.column_int(10);
  l.effective_at = q.column_int(11);
  l.expires_at = q.column_null(12) ? ledger::no_expiry : q.column_int(12);
  l.created_at = q.column_int(13);
  l.scope = std::move(*scope);
  l.source = q.column_text(15);
  l.reason = q.column_text(16);
  l.cost_basis = q.column_int(17);
  l.currency = q.column_text(18);
  return s;
}

std::optional<stored_hold> decode_hold(const statement& q) {
  auto status = ledger::parse_hold_status(q.column_text(2));
  auto parts = decode_parts(q.column_text(5));
  if (!status || !parts) return std::nullopt;
  stored_hold s;
  s.account = q.column_text(1);
  ledger::hold& h = s.h;
  h.id = static_cast<ledger::object_id>(q.column_int(0));
  h.status = *status;
  h.amount = q.column_int(3);
  h.captured = q.column_int(4);
  h.parts = std::move(*parts);
  h.operation = q.column_text(6);
  h.dimensions = q.column_text(7);
  h.reference = q.column_text(8);
  h.created_at = q.column_int(9);
  h.expires_at = q.column_int(10);
  h.closed_at = q.column_int(11);
  h.charge_id = static_cast<ledger::object_id>(q.column_int(12));
  h.postpaid_period = q.column_int(13);
  h.quantity = q.column_int(14);
  h.metadata = q.column_text(15);
  h.price_id = q.column_text(16);
  h.unit_amount = q.column_int(17);
  return s;
}

std::expected<std::optional<std::uint64_t>, store_error> read_meta_uint(database& db,
                                                                        const std::string& path,
                                                                        std::string_view key) {
  auto failed = [&](const db_error& e) {
    return std::unexpected(store_error{"sqlite store " + path + ": cannot read meta: " + e.message +
                                       " (code " + std::to_string(e.code) + ")"});
  };
  auto q = db.prepare("SELECT key, value, checksum FROM meta WHERE key = ?1");
  if (!q) return failed(q.error());
  q->bind(1, key);
  auto row = q->step();
  if (!row) return failed(row.error());
  if (!*row) return std::nullopt;
  const row_verdict verdict = check_row(*q, "meta", 2);
  const std::string named = key_text("key", column_cell(*q, 0));
  if (verdict != row_verdict::intact) {
    return std::unexpected(store_error{
        "sqlite store " + path + " is inconsistent: " + checksum_problem("meta", named, verdict)});
  }
  const std::string_view text = q->column_text(1);
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size()) {
    return std::unexpected(
        store_error{"sqlite store " + path + " holds an unreadable meta value (" + named + ")"});
  }
  return v;
}

}  // namespace creditd::store::sqlite
