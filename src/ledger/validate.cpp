#include "ledger/validate.hpp"

#include "ledger/limits.hpp"

namespace creditd::ledger {

namespace {
bool id_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == ':' || c == '-';
}
}  // namespace

bool valid_account_id(std::string_view id) {
  if (id.empty() || id.size() > limits::account_id_length_max) return false;
  for (char c : id) {
    if (!id_char(c)) return false;
  }
  return true;
}

bool valid_operation(std::string_view op, bool pattern) {
  if (op.empty() || op.size() > limits::operation_length_max) return false;
  if (pattern) {
    if (op == "*") return true;
    if (op.size() >= 3 && op.ends_with(".*")) op.remove_suffix(2);
  }
  for (char c : op) {
    if (!id_char(c) && c != '/') return false;
  }
  return true;
}

const char* check_settings(const account_settings& s) {
  if (s.low_balance_thresholds.size() > limits::low_balance_thresholds_max) {
    return "settings.low_balance_thresholds has more than 16 amounts";
  }
  for (std::size_t i = 0; i < s.low_balance_thresholds.size(); ++i) {
    const micros t = s.low_balance_thresholds[i];
    if (t <= 0 || t > amount_micros_max) {
      return "settings.low_balance_thresholds must hold positive amounts";
    }
    if (i > 0 && t <= s.low_balance_thresholds[i - 1]) {
      return "settings.low_balance_thresholds must be ascending and distinct";
    }
  }
  if (s.reserve < 0 || s.reserve > amount_micros_max) return "settings.reserve is out of range";
  if (s.postpaid_limit < 0 || s.postpaid_limit > amount_micros_max) {
    return "settings.postpaid_limit is out of range";
  }
  if (s.rate_limit_per_minute < 0 || s.rate_limit_per_minute > limits::rate_limit_per_minute_max) {
    return "settings.rate_limit_per_minute must be between 0 and 1000000";
  }
  if (s.max_open_holds < 0 ||
      s.max_open_holds > static_cast<std::int64_t>(limits::open_holds_per_account_max)) {
    return "settings.max_open_holds must be between 0 and 10000";
  }
  if (s.expiring_soon_days < 0 || s.expiring_soon_days > limits::expiring_soon_days_max) {
    return "settings.expiring_soon_days must be between 0 and 3650";
  }
  if (s.auto_topup) {
    const auto& a = *s.auto_topup;
    if (a.below <= 0 || a.below > amount_micros_max)
      return "settings.auto_topup.below must be positive";
    if (a.package.empty() || a.package.size() > limits::account_id_length_max) {
      return "settings.auto_topup.package is required";
    }
    if (a.max_per_period < 1 || a.max_per_period > 1000) {
      return "settings.auto_topup.max_per_period must be between 1 and 1000";
    }
  }
  return nullptr;
}

}  // namespace creditd::ledger
