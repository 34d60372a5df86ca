#include "ledger/settings_entry.hpp"

#include "ledger/amount.hpp"

namespace creditd::ledger {

namespace {
constexpr std::string_view reserve_key = "{\"reserve\":\"";
constexpr std::string_view limit_key = "\",\"postpaid_limit\":\"";
constexpr std::string_view end_text = "\"}";

// The amount between `text`'s start and `stop`, consumed with `stop`.
std::optional<micros> take_amount(std::string_view& text, std::string_view stop) {
  const auto end = text.find(stop);
  if (end == std::string_view::npos) return std::nullopt;
  auto v = parse_amount(text.substr(0, end));
  // Only the canonical form: what settings_entry_metadata writes.
  if (!v || format_amount(*v) != text.substr(0, end)) return std::nullopt;
  text.remove_prefix(end + stop.size());
  return *v;
}
}  // namespace

std::string settings_entry_metadata(const balance_settings& s) {
  std::string out;
  out.reserve(64);
  out += reserve_key;
  append_amount(out, s.reserve);
  out += limit_key;
  append_amount(out, s.postpaid_limit);
  out += end_text;
  return out;
}

std::optional<balance_settings> parse_settings_entry_metadata(std::string_view text) {
  if (!text.starts_with(reserve_key)) return std::nullopt;
  text.remove_prefix(reserve_key.size());
  balance_settings s;
  auto reserve = take_amount(text, limit_key);
  if (!reserve) return std::nullopt;
  auto limit = take_amount(text, end_text);
  if (!limit || !text.empty()) return std::nullopt;
  s.reserve = *reserve;
  s.postpaid_limit = *limit;
  return s;
}

}  // namespace creditd::ledger
