// Event names and data: see events.hpp.
#include "ledger/events.hpp"

#include <array>

#include "util/json_text.hpp"

namespace creditd::ledger {

namespace {
constexpr std::array<std::string_view, event_type_count> event_type_names = {
    "balance.low",        "balance.depleted",
    "balance.restored",   "lot.expiring_soon",
    "lot.expired",        "hold.expired",
    "purchase.completed", "subscription.renewed",
    "charge.refused",     "webhook_endpoint.disabled",
};
}  // namespace

std::string_view to_string(event_type t) {
  return event_type_names[static_cast<std::size_t>(t)];
}

std::optional<event_type> parse_event_type(std::string_view text) {
  for (std::size_t i = 0; i < event_type_names.size(); ++i) {
    if (event_type_names[i] == text) return static_cast<event_type>(i);
  }
  return std::nullopt;
}

void event_data::key(std::string_view k) {
  if (!first_) out_ += ',';
  first_ = false;
  util::append_json_string(out_, k);
  out_ += ':';
}

event_data& event_data::amount(std::string_view k, micros v) {
  key(k);
  util::append_json_string(out_, format_amount(v));
  return *this;
}

event_data& event_data::id(std::string_view k, id_kind kind, object_id v) {
  key(k);
  out_ += '"';
  append_id(out_, kind, v);
  out_ += '"';
  return *this;
}

event_data& event_data::time(std::string_view k, time_us v) {
  key(k);
  out_ += '"';
  append_time(out_, v);
  out_ += '"';
  return *this;
}

event_data& event_data::text(std::string_view k, std::string_view v) {
  key(k);
  util::append_json_string(out_, v);
  return *this;
}

event_data& event_data::integer(std::string_view k, std::int64_t v) {
  key(k);
  out_ += std::to_string(v);
  return *this;
}

}  // namespace creditd::ledger
