// Names of enums as they appear in the API and the database.
#include <array>

#include "ledger/error.hpp"
#include "ledger/types.hpp"

namespace creditd::ledger {

namespace {
template <typename E, std::size_t N>
std::optional<E> parse_name(std::string_view text, const std::array<std::string_view, N>& names) {
  for (std::size_t i = 0; i < N; ++i) {
    if (names[i] == text) return static_cast<E>(i);
  }
  return std::nullopt;
}
constexpr std::array<std::string_view, 3> lot_kind_names = {"prepaid", "plan", "promo"};
constexpr std::array<std::string_view, 4> lot_status_names = {"active", "depleted", "expired",
                                                              "voided"};
constexpr std::array<std::string_view, 4> hold_status_names = {"open", "captured", "released",
                                                               "expired"};
constexpr std::array<std::string_view, 10> entry_type_names = {
    "grant",  "charge", "hold",   "capture", "release",
    "expire", "refund", "adjust", "void",    "settings"};
}  // namespace

std::string_view to_string(lot_kind k) {
  return lot_kind_names[static_cast<std::size_t>(k)];
}
std::string_view to_string(lot_status s) {
  return lot_status_names[static_cast<std::size_t>(s)];
}
std::string_view to_string(hold_status s) {
  return hold_status_names[static_cast<std::size_t>(s)];
}
std::string_view to_string(entry_type t) {
  return entry_type_names[static_cast<std::size_t>(t)];
}

std::optional<lot_kind> parse_lot_kind(std::string_view t) {
  return parse_name<lot_kind>(t, lot_kind_names);
}
std::optional<lot_status> parse_lot_status(std::string_view t) {
  return parse_name<lot_status>(t, lot_status_names);
}
std::optional<hold_status> parse_hold_status(std::string_view t) {
  return parse_name<hold_status>(t, hold_status_names);
}
std::optional<entry_type> parse_entry_type(std::string_view t) {
  return parse_name<entry_type>(t, entry_type_names);
}

std::int32_t default_priority(lot_kind k) {
  switch (k) {
    case lot_kind::promo:
      return 10;
    case lot_kind::plan:
      return 20;
    case lot_kind::prepaid:
      return 30;
  }
  return 30;
}

bool lot::matches(std::string_view operation) const {
  if (scope.empty()) return true;
  for (const std::string& s : scope) {
    if (s == operation || s == "*") return true;
    if (s.size() >= 2 && s.ends_with(".*") &&
        operation.starts_with(std::string_view(s).substr(0, s.size() - 1))) {
      return true;
    }
  }
  return false;
}

std::string_view to_string(errc c) {
  switch (c) {
    case errc::invalid_argument:
      return "invalid_argument";
    case errc::account_not_found:
      return "account_not_found";
    case errc::lot_not_found:
      return "lot_not_found";
    case errc::hold_not_found:
      return "hold_not_found";
    case errc::charge_not_found:
      return "charge_not_found";
    case errc::insufficient_credits:
      return "insufficient_credits";
    case errc::hold_not_open:
      return "hold_not_open";
    case errc::lot_not_active:
      return "lot_not_active";
    case errc::nothing_to_refund:
      return "nothing_to_refund";
    case errc::refund_too_large:
      return "refund_too_large";
    case errc::too_many_open_holds:
      return "too_many_open_holds";
    case errc::rate_limited:
      return "rate_limited";
    case errc::limit_exceeded:
      return "limit_exceeded";
    case errc::idempotency_conflict:
      return "idempotency_conflict";
    case errc::unknown_price:
      return "unknown_price";
    case errc::package_not_found:
      return "package_not_found";
    case errc::plan_not_found:
      return "plan_not_found";
    case errc::subscription_not_found:
      return "subscription_not_found";
    case errc::conflict:
      return "conflict";
  }
  return "unknown";
}

std::string_view to_string(refusal_reason r) {
  switch (r) {
    case refusal_reason::none:
      return "none";
    case refusal_reason::balance:
      return "balance";
    case refusal_reason::reserve:
      return "reserve";
    case refusal_reason::postpaid_limit:
      return "postpaid_limit";
    case refusal_reason::scope:
      return "scope";
  }
  return "none";
}

}  // namespace creditd::ledger
