// JSON renderings of ledger objects for responses: amounts as exact decimal
// strings, instants as RFC 3339, ids with their prefixes. Pure functions that
// read the ledger; call them on the thread that owns it.
#pragma once

#include <span>
#include <string>

#include "ledger/ledger.hpp"

namespace creditd::service {

// A tiny JSON writer over std::string: it inserts commas for you.
class json_out {
 public:
  // An empty `out` gets room for a typical object at once (a charge's is
  // about 400 bytes), instead of growing by doubling: one allocation for a
  // reply's body, not five.
  explicit json_out(std::string& out) : out_(out) {
    if (out_.empty()) out_.reserve(typical_object_bytes);
  }
  json_out& begin_object();
  json_out& end_object();
  json_out& begin_array();
  json_out& end_array();
  json_out& key(std::string_view k);  // inside an object, before a value
  json_out& str(std::string_view v);
  json_out& raw(std::string_view v);  // already-JSON text (a number, an object)
  json_out& amount(ledger::micros v);
  json_out& time(ledger::time_us t);
  json_out& time_or_null(ledger::time_us t);  // no_expiry -> null
  json_out& integer(std::int64_t v);
  json_out& boolean(bool v);
  json_out& null();
  json_out& id(ledger::id_kind k, ledger::object_id id);
  json_out& id_or_null(ledger::id_kind k, ledger::object_id id);  // 0 -> null

 private:
  static constexpr std::size_t typical_object_bytes = 512;
  void comma();
  std::string& out_;
  bool first_ = true;
};

void render_settings(json_out& j, const ledger::account_settings& s);
void render_balance(json_out& j, const ledger::ledger& l, const ledger::account& a,
                    ledger::time_us now);
void render_account(json_out& j, const ledger::ledger& l, const ledger::account& a,
                    ledger::time_us now);
void render_lot(json_out& j, const ledger::lot& x, ledger::time_us now);
// The same for a lot read from the store (x.owner null: `account` names it).
void render_lot(json_out& j, std::string_view account, const ledger::lot& x, ledger::time_us now);
// Parts as [{"lot": "lot_1", "amount": "2"}]; postpaid parts are left out.
void render_parts(json_out& j, std::span<const ledger::lot_part> parts);
ledger::micros postpaid_part(std::span<const ledger::lot_part> parts);
// A charge from its journal entry (the entry carries the descriptive fields).
void render_charge(json_out& j, const ledger::entry& e, ledger::micros refunded);
void render_hold(json_out& j, const ledger::ledger& l, const ledger::hold& h, ledger::time_us now,
                 const ledger::entry* capture_entry);
// The same for a hold read from the store (h.owner null: `account` names it).
void render_hold(json_out& j, std::string_view account, ledger::hold_status status,
                 const ledger::hold& h, const ledger::entry* capture_entry);
void render_entry(json_out& j, const ledger::entry& e, std::string_view account_id);
// An event: {id: "evt_" + seq, object, seq, type, account, created_at, data}.
void render_event(json_out& j, const ledger::event& ev, std::string_view account_id);

// The catalog, subscriptions and purchases.
void render_price(json_out& j, const ledger::price& p);
void render_package(json_out& j, const ledger::package& p);
void render_plan(json_out& j, const ledger::plan& p);
void render_subscription(json_out& j, const ledger::subscription& s);
void render_purchase(json_out& j, const ledger::purchase& p, const ledger::lot* granted,
                     ledger::time_us now, ledger::micros balance_after);

}  // namespace creditd::service
