#include "service/render.hpp"

#include <charconv>

#include "util/json_text.hpp"

namespace creditd::service {

using ledger::id_kind;

void json_out::comma() {
  if (!first_) out_.push_back(',');
  first_ = false;
}
json_out& json_out::begin_object() {
  comma();
  out_.push_back('{');
  first_ = true;
  return *this;
}
json_out& json_out::end_object() {
  out_.push_back('}');
  first_ = false;
  return *this;
}
json_out& json_out::begin_array() {
  comma();
  out_.push_back('[');
  first_ = true;
  return *this;
}
json_out& json_out::end_array() {
  out_.push_back(']');
  first_ = false;
  return *this;
}
json_out& json_out::key(std::string_view k) {
  comma();
  util::append_json_string(out_, k);
  out_.push_back(':');
  first_ = true;  // the value that follows takes no comma
  return *this;
}
json_out& json_out::str(std::string_view v) {
  comma();
  util::append_json_string(out_, v);
  return *this;
}
json_out& json_out::raw(std::string_view v) {
  comma();
  out_.append(v);
  return *this;
}
json_out& json_out::amount(ledger::micros v) {
  comma();
  out_.push_back('"');
  ledger::append_amount(out_, v);
  out_.push_back('"');
  return *this;
}
json_out& json_out::time(ledger::time_us t) {
  comma();
  out_.push_back('"');
  ledger::append_time(out_, t);
  out_.push_back('"');
  return *this;
}
json_out& json_out::time_or_null(ledger::time_us t) {
  return t == ledger::no_expiry ? null() : time(t);
}
json_out& json_out::integer(std::int64_t v) {
  comma();
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out_.append(buf, end);
  return *this;
}
json_out& json_out::boolean(bool v) {
  comma();
  out_ += v ? "true" : "false";
  return *this;
}
json_out& json_out::null() {
  comma();
  out_ += "null";
  return *this;
}
json_out& json_out::id(id_kind k, ledger::object_id id) {
  comma();
  out_.push_back('"');
  ledger::append_id(out_, k, id);
  out_.push_back('"');
  return *this;
}
json_out& json_out::id_or_null(id_kind k, ledger::object_id v) {
  return v == 0 ? null() : id(k, v);
}

void render_settings(json_out& j, const ledger::account_settings& s) {
  j.begin_object();
  j.key("low_balance_thresholds").begin_array();
  for (ledger::micros t : s.low_balance_thresholds)
    j.amount(t);
  j.end_array();
  j.key("reserve").amount(s.reserve);
  j.key("postpaid_limit").amount(s.postpaid_limit);
  j.key("rate_limit_per_minute").integer(s.rate_limit_per_minute);
  j.key("max_open_holds").integer(s.max_open_holds);
  j.key("expiring_soon_days").integer(s.expiring_soon_days);
  j.key("auto_topup");
  if (s.auto_topup) {
    j.begin_object();
    j.key("below").amount(s.auto_topup->below);
    j.key("package").str(s.auto_topup->package);
    j.key("max_per_period").integer(s.auto_topup->max_per_period);
    j.end_object();
  } else {
    j.null();
  }
  j.end_object();
}

void render_lot(json_out& j, const ledger::lot& x, ledger::time_us now) {
  render_lot(j, x.owner->id, x, now);
}

void render_lot(json_out& j, std::string_view account, const ledger::lot& x, ledger::time_us now) {
  j.begin_object();
  j.key("id").id(id_kind::lot, x.id);
  j.key("object").str("lot");
  j.key("account").str(account);
  j.key("kind").str(ledger::to_string(x.kind));
  // A lot past its expiry reads expired even before its expiry entry is written.
  const bool lapsed = x.status == ledger::lot_status::active && now >= x.expires_at;
  j.key("status").str(lapsed ? "expired" : ledger::to_string(x.status));
  j.key("amount").amount(x.amount);
  j.key("remaining").amount(lapsed ? 0 : x.remaining);
  j.key("held").amount(x.held);
  j.key("spent").amount(x.spent);
  j.key("expired").amount(lapsed ? x.expired + x.remaining : x.expired);
  j.key("voided").amount(x.voided);
  j.key("effective_at").time(x.effective_at);
  j.key("expires_at").time_or_null(x.expires_at);
  j.key("priority").integer(x.priority);
  j.key("scope").begin_array();
  for (const std::string& s : x.scope)
    j.str(s);
  j.end_array();
  j.key("source").str(x.source);
  j.key("reason").str(x.reason);
  j.key("cost_basis").amount(x.cost_basis);
  j.key("currency").str(x.currency);
  j.key("created_at").time(x.created_at);
  j.end_object();
}

void render_balance(json_out& j, const ledger::ledger& l, const ledger::account& a,
                    ledger::time_us now) {
  const ledger::balance_view b = l.balance(a, now);
  j.begin_object();
  j.key("account").str(a.id);
  j.key("available").amount(b.available);
  j.key("held").amount(b.held);
  j.key("reserve").amount(b.reserve);
  j.key("postpaid_used").amount(b.postpaid_used);
  j.key("postpaid_limit").amount(a.settings.postpaid_limit);
  j.key("lots").begin_array();
  for (const ledger::lot* x : a.active_lots) {
    if (now < x->expires_at) render_lot(j, *x, now);
  }
  j.end_array();
  j.key("as_of").time(now);
  j.end_object();
}

void render_account(json_out& j, const ledger::ledger& l, const ledger::account& a,
                    ledger::time_us now) {
  j.begin_object();
  j.key("id").str(a.id);
  j.key("object").str("account");
  j.key("name").str(a.name);
  j.key("settings");
  render_settings(j, a.settings);
  j.key("balance");
  render_balance(j, l, a, now);
  j.key("created_at").time(a.created_at);
  j.key("updated_at").time(a.updated_at);
  j.end_object();
}

void render_parts(json_out& j, std::span<const ledger::lot_part> parts) {
  j.begin_array();
  for (const ledger::lot_part& p : parts) {
    if (p.lot == ledger::postpaid_lot_id) continue;
    j.begin_object();
    j.key("lot").id(id_kind::lot, p.lot);
    j.key("amount").amount(p.amount);
    j.end_object();
  }
  j.end_array();
}

ledger::micros postpaid_part(std::span<const ledger::lot_part> parts) {
  ledger::micros sum = 0;
  for (const ledger::lot_part& p : parts) {
    if (p.lot == ledger::postpaid_lot_id) sum += p.amount;
  }
  return sum;
}

namespace {
// "price" and "unit_amount": the catalog price a spend was priced at, or
// null for an explicit amount.
void render_price_used(json_out& j, const std::string& price_id, ledger::micros unit_amount) {
  j.key("price");
  if (price_id.empty()) {
    j.null().key("unit_amount").null();
  } else {
    j.str(price_id).key("unit_amount").amount(unit_amount);
  }
}

// Dimensions or metadata: the JSON object text as stored, {} when empty.
void render_dimensions(json_out& j, const std::string& dims) {
  if (dims.empty()) {
    j.raw("{}");
  } else {
    j.raw(dims);
  }
}
}  // namespace

void render_charge(json_out& j, const ledger::entry& e, ledger::micros refunded) {
  j.begin_object();
  j.key("id").id(id_kind::charge, e.charge_id);
  j.key("object").str("charge");
  j.key("account").str(e.owner->id);
  j.key("operation").str(e.operation);
  j.key("dimensions");
  render_dimensions(j, e.dimensions);
  j.key("quantity").amount(e.quantity);
  j.key("amount").amount(e.amount);
  j.key("refunded").amount(refunded);
  j.key("balance_after").amount(e.balance_after);
  j.key("lots");
  render_parts(j, e.parts);
  j.key("postpaid").amount(postpaid_part(e.parts));
  j.key("hold").id_or_null(id_kind::hold, e.hold_id);
  j.key("reference").str(e.reference);
  j.key("metadata");
  render_dimensions(j, e.metadata);
  render_price_used(j, e.price_id, e.unit_amount);
  j.key("entry").id(id_kind::entry, e.seq);
  j.key("created_at").time(e.created_at);
  j.end_object();
}

void render_hold(json_out& j, const ledger::ledger& l, const ledger::hold& h, ledger::time_us now,
                 const ledger::entry* capture_entry) {
  render_hold(j, h.owner->id, l.hold_status_at(h, now), h, capture_entry);
}

void render_hold(json_out& j, std::string_view account, ledger::hold_status status,
                 const ledger::hold& h, const ledger::entry* capture_entry) {
  j.begin_object();
  j.key("id").id(id_kind::hold, h.id);
  j.key("object").str("hold");
  j.key("account").str(account);
  j.key("status").str(ledger::to_string(status));
  j.key("amount").amount(h.amount);
  j.key("captured").amount(h.captured);
  j.key("operation").str(h.operation);
  j.key("dimensions");
  render_dimensions(j, h.dimensions);
  j.key("quantity").amount(h.quantity);
  j.key("reference").str(h.reference);
  j.key("metadata");
  render_dimensions(j, h.metadata);
  render_price_used(j, h.price_id, h.unit_amount);
  j.key("lots");
  render_parts(j, h.parts);
  j.key("postpaid").amount(postpaid_part(h.parts));
  j.key("expires_at").time(h.expires_at);
  j.key("created_at").time(h.created_at);
  j.key("closed_at");
  if (h.closed_at != 0) {
    j.time(h.closed_at);
  } else {
    j.null();
  }
  j.key("charge");
  if (capture_entry != nullptr) {
    render_charge(j, *capture_entry, 0);
  } else {
    j.id_or_null(id_kind::charge, h.charge_id);
  }
  j.end_object();
}

void render_entry(json_out& j, const ledger::entry& e, std::string_view account_id) {
  j.begin_object();
  j.key("id").id(id_kind::entry, e.seq);
  j.key("object").str("entry");
  j.key("seq").integer(static_cast<std::int64_t>(e.seq));
  j.key("account").str(account_id);
  j.key("type").str(ledger::to_string(e.type));
  j.key("amount").amount(e.amount);
  j.key("balance_after").amount(e.balance_after);
  j.key("lots");
  render_parts(j, e.parts);
  j.key("postpaid").amount(postpaid_part(e.parts));
  j.key("lot").id_or_null(id_kind::lot, e.lot_id);
  j.key("charge").id_or_null(id_kind::charge, e.charge_id);
  j.key("hold").id_or_null(id_kind::hold, e.hold_id);
  j.key("refund").id_or_null(id_kind::refund, e.refund_id);
  j.key("operation").str(e.operation);
  j.key("dimensions");
  render_dimensions(j, e.dimensions);
  j.key("quantity").amount(e.quantity);
  j.key("reference").str(e.reference);
  j.key("metadata");
  render_dimensions(j, e.metadata);
  render_price_used(j, e.price_id, e.unit_amount);
  j.key("reason").str(e.reason);
  j.key("created_at").time(e.created_at);
  j.end_object();
}

void render_event(json_out& j, const ledger::event& ev, std::string_view account_id) {
  j.begin_object();
  j.key("id").id(id_kind::event, ev.seq);
  j.key("object").str("event");
  j.key("seq").integer(static_cast<std::int64_t>(ev.seq));
  j.key("type").str(ledger::to_string(ev.type));
  j.key("account");
  if (account_id.empty()) {
    j.null();  // an event of no account (webhook_endpoint.disabled)
  } else {
    j.str(account_id);
  }
  j.key("created_at").time(ev.created_at);
  // The ledger wrote it as a JSON object (ledger::event_data).
  j.key("data").raw(ev.data.empty() ? std::string_view("{}") : std::string_view(ev.data));
  j.end_object();
}

}  // namespace creditd::service

namespace creditd::service {

void render_price(json_out& j, const ledger::price& p) {
  j.begin_object();
  j.key("id").str(p.id);
  j.key("object").str("price");
  j.key("operation").str(p.operation);
  j.key("dimensions").begin_object();
  for (const ledger::dimension& d : p.dimensions)
    j.key(d.key).str(d.value);
  j.end_object();
  j.key("unit_amount").amount(p.unit_amount);
  j.key("created_at").time(p.created_at);
  j.key("updated_at").time(p.updated_at);
  j.end_object();
}

void render_package(json_out& j, const ledger::package& p) {
  j.begin_object();
  j.key("id").str(p.id);
  j.key("object").str("package");
  j.key("credits").amount(p.credits);
  j.key("price").amount(p.price);
  j.key("currency").str(p.currency);
  j.key("validity_days");
  if (p.validity_days > 0) {
    j.integer(p.validity_days);
  } else {
    j.null();
  }
  j.key("created_at").time(p.created_at);
  j.key("updated_at").time(p.updated_at);
  j.end_object();
}

void render_plan(json_out& j, const ledger::plan& p) {
  j.begin_object();
  j.key("id").str(p.id);
  j.key("object").str("plan");
  j.key("credits_per_period").amount(p.credits_per_period);
  j.key("period").str(ledger::to_string(p.period));
  j.key("rollover_cap");
  if (p.rollover_cap) {
    j.amount(*p.rollover_cap);
  } else {
    j.null();
  }
  j.key("created_at").time(p.created_at);
  j.key("updated_at").time(p.updated_at);
  j.end_object();
}

void render_subscription(json_out& j, const ledger::subscription& s) {
  using ledger::subscription_status;
  j.begin_object();
  j.key("object").str("subscription");
  j.key("account").str(s.owner->id);
  j.key("plan").str(s.plan);
  j.key("next_plan");
  if (s.next_plan.empty()) {
    j.null();
  } else {
    j.str(s.next_plan);
  }
  j.key("status").str(ledger::to_string(s.status));
  j.key("timezone").str(s.timezone);
  j.key("start_at").time(s.start_at);
  j.key("period_index").integer(std::max<std::int64_t>(s.period_index, 0));
  const bool started = s.status != subscription_status::pending;
  j.key("current_period_start");
  if (started) {
    j.time(s.period_start);
  } else {
    j.null();
  }
  j.key("current_period_end");
  if (started) {
    j.time_or_null(s.period_end);
  } else {
    j.null();
  }
  j.key("cancel_at_period_end").boolean(s.cancel_at_period_end);
  j.key("lot").id_or_null(id_kind::lot, s.lot_id);
  j.key("created_at").time(s.created_at);
  j.key("updated_at").time(s.updated_at);
  j.end_object();
}

void render_purchase(json_out& j, const ledger::purchase& p, const ledger::lot* granted,
                     ledger::time_us now, ledger::micros balance_after) {
  j.begin_object();
  j.key("id").id(id_kind::purchase, p.id);
  j.key("object").str("purchase");
  j.key("account").str(p.account);
  j.key("package").str(p.package);
  j.key("credits").amount(p.credits);
  j.key("price").amount(p.price);
  j.key("currency").str(p.currency);
  j.key("source").str(ledger::to_string(p.source));
  j.key("external_id");
  if (p.external_id.empty()) {
    j.null();
  } else {
    j.str(p.external_id);
  }
  j.key("lot").id(id_kind::lot, p.lot_id);
  if (granted != nullptr) {
    // The new lot, spendable now, and the balance with it.
    j.key("granted_lot");
    render_lot(j, *granted, now);
    j.key("balance_after").amount(balance_after);
  }
  j.key("created_at").time(p.created_at);
  j.end_object();
}

}  // namespace creditd::service
