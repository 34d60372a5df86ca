// Names of the commerce enumerations.
#include "ledger/commerce.hpp"

#include <algorithm>

namespace creditd::ledger {

namespace {
bool by_key(const dimension& a, const dimension& b) {
  return a.key < b.key;
}
}  // namespace

void sort_dimensions(dimension_list& dims) {
  std::sort(dims.begin(), dims.end(), by_key);
}

bool dimensions_within(const dimension_list& required, const dimension_list& dims) {
  auto it = dims.begin();
  for (const dimension& d : required) {
    it = std::lower_bound(it, dims.end(), d, by_key);
    if (it == dims.end() || it->key != d.key || it->value != d.value) return false;
  }
  return true;
}

bool dimensions_compatible(const dimension_list& a, const dimension_list& b) {
  auto i = a.begin();
  auto j = b.begin();
  while (i != a.end() && j != b.end()) {
    if (i->key < j->key) {
      ++i;
    } else if (j->key < i->key) {
      ++j;
    } else {
      if (i->value != j->value) return false;
      ++i, ++j;
    }
  }
  return true;
}

std::string_view to_string(period_unit u) {
  return u == period_unit::year ? "year" : "month";
}

std::string_view to_string(subscription_status s) {
  switch (s) {
    case subscription_status::pending:
      return "pending";
    case subscription_status::active:
      return "active";
    case subscription_status::canceled:
      return "canceled";
  }
  return "unknown";
}

std::string_view to_string(purchase_source s) {
  switch (s) {
    case purchase_source::api:
      return "api";
    case purchase_source::stripe:
      return "stripe";
    case purchase_source::auto_topup:
      return "auto_topup";
  }
  return "unknown";
}

std::optional<period_unit> parse_period_unit(std::string_view text) {
  if (text == "month") return period_unit::month;
  if (text == "year") return period_unit::year;
  return std::nullopt;
}

std::optional<subscription_status> parse_subscription_status(std::string_view text) {
  for (auto s :
       {subscription_status::pending, subscription_status::active, subscription_status::canceled}) {
    if (to_string(s) == text) return s;
  }
  return std::nullopt;
}

std::optional<purchase_source> parse_purchase_source(std::string_view text) {
  for (auto s : {purchase_source::api, purchase_source::stripe, purchase_source::auto_topup}) {
    if (to_string(s) == text) return s;
  }
  return std::nullopt;
}

}  // namespace creditd::ledger
