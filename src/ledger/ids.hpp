// Object ids: one monotonically increasing uint64 sequence per ledger, shown
// to clients with a prefix naming the kind ("lot_12", "ch_40"). Pure; thread-safe.
#pragma once

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace creditd::ledger {

using object_id = std::uint64_t;

// A lot id of zero in a part means "postpaid credit", not a lot.
inline constexpr object_id postpaid_lot_id = 0;

enum class id_kind { lot, charge, hold, refund, entry, purchase, event };

constexpr std::string_view id_prefix(id_kind k) {
  switch (k) {
    case id_kind::lot:
      return "lot_";
    case id_kind::charge:
      return "ch_";
    case id_kind::hold:
      return "hold_";
    case id_kind::refund:
      return "re_";
    case id_kind::entry:
      return "ent_";
    case id_kind::purchase:
      return "pur_";
    case id_kind::event:
      return "evt_";
  }
  return "";
}

inline void append_id(std::string& out, id_kind k, object_id id) {
  out.append(id_prefix(k));
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, id);
  out.append(buf, end);
}

inline std::string format_id(id_kind k, object_id id) {
  std::string out;
  append_id(out, k, id);
  return out;
}

// "lot_12" -> 12. Anything else (wrong prefix, leading zeros, zero, overflow) -> nullopt.
inline std::optional<object_id> parse_id(id_kind k, std::string_view text) {
  const std::string_view prefix = id_prefix(k);
  if (!text.starts_with(prefix)) return std::nullopt;
  text.remove_prefix(prefix.size());
  if (text.empty() || text.size() > 19 || text[0] == '0') return std::nullopt;
  object_id value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace creditd::ledger
