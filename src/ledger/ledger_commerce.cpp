// The ledger's commerce: the catalog and pricing, purchases, subscriptions
// and their renewals, automatic top-up. See ledger.hpp for each contract.
#include <algorithm>

#include "ledger/ledger.hpp"
#include "ledger/limits.hpp"
#include "ledger/validate.hpp"
#include "util/assert.hpp"

namespace creditd::ledger {

const calendar& default_calendar() {
  static const utc_calendar utc;
  return utc;
}

namespace {

std::unexpected<error> fail(errc code, const char* message = "") {
  return std::unexpected(make_error(code, message));
}

const char* check_dimensions(dimension_list& dims) {
  if (dims.size() > limits::price_dimensions_max) return "a price has at most 32 dimensions";
  sort_dimensions(dims);
  for (std::size_t i = 0; i < dims.size(); ++i) {
    const dimension& d = dims[i];
    if (d.key.empty() || d.key.size() > limits::dimension_key_length_max)
      return "a dimension key must be 1 to 64 bytes";
    if (d.value.size() > limits::dimension_value_length_max)
      return "a dimension value is longer than 256 bytes";
    if (i > 0 && dims[i - 1].key == d.key) return "a dimension key appears twice";
  }
  return nullptr;
}

const char* check_catalog_id(std::string_view id) {
  return valid_account_id(id) ? nullptr : "id must match [A-Za-z0-9._:-]{1,128}";
}

// The UTC instant of the first day of t's month.
time_us month_start(time_us t) {
  const std::int64_t m = month_index(t);
  return days_from_civil(m / 12, static_cast<unsigned>(m % 12) + 1, 1) * us_per_day;
}

}  // namespace

// ---------------------------------------------------------------- catalog

const price* ledger::find_price(std::string_view id) const {
  auto it = prices_.find(id);
  return it == prices_.end() ? nullptr : &it->second;
}
const package* ledger::find_package(std::string_view id) const {
  auto it = packages_.find(id);
  return it == packages_.end() ? nullptr : &it->second;
}
const plan* ledger::find_plan(std::string_view id) const {
  auto it = plans_.find(id);
  return it == plans_.end() ? nullptr : &it->second;
}

const price* ledger::conflicting_price(const price_cmd& cmd) const {
  dimension_list dims = cmd.dimensions;
  sort_dimensions(dims);
  auto it = prices_by_operation_.find(cmd.operation);
  if (it == prices_by_operation_.end()) return nullptr;
  for (const price* p : it->second) {
    if (p->id == cmd.id || p->dimensions.size() != dims.size()) continue;
    if (dimensions_compatible(p->dimensions, dims)) return p;
  }
  return nullptr;
}

result<put_result<price>> ledger::put_price(const price_cmd& cmd, time_us now) {
  command_mark_ = pending_.entries.size();
  if (const char* m = check_catalog_id(cmd.id)) return fail(errc::invalid_argument, m);
  if (!valid_operation(cmd.operation))
    return fail(errc::invalid_argument, "operation must match [A-Za-z0-9._:/-]{1,128}");
  if (cmd.unit_amount < 0 || cmd.unit_amount > amount_micros_max)
    return fail(errc::invalid_argument, "unit_amount must not be negative");
  dimension_list dims = cmd.dimensions;
  if (const char* m = check_dimensions(dims)) return fail(errc::invalid_argument, m);
  if (conflicting_price(cmd) != nullptr) {
    return fail(errc::conflict,
                "another price of the operation has as many dimensions and could match the same "
                "charges");
  }
  auto found = prices_.find(cmd.id);
  const bool created = found == prices_.end();
  if (created && prices_.size() >= limits::prices_max)
    return fail(errc::limit_exceeded, "the catalog holds 10000 prices already");
  price& p = prices_[cmd.id];
  if (!created) std::erase(prices_by_operation_[p.operation], &p);
  // Deleted earlier in this change set: the store deletes after it upserts,
  // so the delete must not be written.
  std::erase(pending_.prices_deleted, cmd.id);
  if (created) p.created_at = now;
  p.id = cmd.id;
  p.operation = cmd.operation;
  p.dimensions = std::move(dims);
  p.unit_amount = cmd.unit_amount;
  p.updated_at = now;
  prices_by_operation_[p.operation].push_back(&p);
  pending_.prices.push_back(p);
  return put_result<price>{&p, created};
}

result<void> ledger::delete_price(std::string_view id) {
  command_mark_ = pending_.entries.size();
  auto it = prices_.find(id);
  if (it == prices_.end()) return fail(errc::invalid_argument, "no such price");
  auto op = prices_by_operation_.find(it->second.operation);
  std::erase(op->second, &it->second);
  if (op->second.empty()) prices_by_operation_.erase(op);
  pending_.prices_deleted.push_back(it->second.id);
  prices_.erase(it);
  return {};
}

result<put_result<package>> ledger::put_package(const package_cmd& cmd, time_us now) {
  command_mark_ = pending_.entries.size();
  if (const char* m = check_catalog_id(cmd.id)) return fail(errc::invalid_argument, m);
  if (cmd.credits <= 0 || cmd.credits > amount_micros_max)
    return fail(errc::invalid_argument, "credits must be positive");
  if (cmd.price < 0 || cmd.price > amount_micros_max)
    return fail(errc::invalid_argument, "price must not be negative");
  if (cmd.currency.size() != 3 || !std::all_of(cmd.currency.begin(), cmd.currency.end(),
                                               [](char c) { return c >= 'a' && c <= 'z'; })) {
    return fail(errc::invalid_argument, "currency must be a three-letter ISO 4217 code");
  }
  if (cmd.validity_days < 0 || cmd.validity_days > limits::validity_days_max)
    return fail(errc::invalid_argument, "validity_days must be between 0 and 36500");
  auto found = packages_.find(cmd.id);
  const bool created = found == packages_.end();
  if (created && packages_.size() >= limits::packages_max)
    return fail(errc::limit_exceeded, "the catalog holds 1000 packages already");
  package& p = packages_[cmd.id];
  if (created) p.created_at = now;
  p.id = cmd.id;
  p.credits = cmd.credits;
  p.price = cmd.price;
  p.currency = cmd.currency;
  p.validity_days = cmd.validity_days;
  p.updated_at = now;
  pending_.packages.push_back(p);
  return put_result<package>{&p, created};
}

result<put_result<plan>> ledger::put_plan(const plan_cmd& cmd, time_us now) {
  command_mark_ = pending_.entries.size();
  if (const char* m = check_catalog_id(cmd.id)) return fail(errc::invalid_argument, m);
  if (cmd.credits_per_period <= 0 || cmd.credits_per_period > amount_micros_max)
    return fail(errc::invalid_argument, "credits_per_period must be positive");
  if (cmd.rollover_cap && (*cmd.rollover_cap < 0 || *cmd.rollover_cap > amount_micros_max))
    return fail(errc::invalid_argument, "rollover_cap must not be negative");
  auto found = plans_.find(cmd.id);
  const bool created = found == plans_.end();
  if (created && plans_.size() >= limits::plans_max)
    return fail(errc::limit_exceeded, "the catalog holds 1000 plans already");
  plan& p = plans_[cmd.id];
  if (created) p.created_at = now;
  p.id = cmd.id;
  p.credits_per_period = cmd.credits_per_period;
  p.period = cmd.period;
  p.rollover_cap = cmd.rollover_cap;
  p.updated_at = now;
  pending_.plans.push_back(p);
  return put_result<plan>{&p, created};
}

result<priced> ledger::price_for(std::string_view operation, const dimension_list& dims,
                                 micros quantity) const {
  const price* best = nullptr;
  auto it = prices_by_operation_.find(operation);
  if (it != prices_by_operation_.end()) {
    // Sorted already when it came through HTTP: a copy only otherwise.
    dimension_list copy;
    const bool sorted =
        std::is_sorted(dims.begin(), dims.end(),
                       [](const dimension& a, const dimension& b) { return a.key < b.key; });
    if (!sorted) {
      copy = dims;
      sort_dimensions(copy);
    }
    const dimension_list& d = sorted ? dims : copy;
    for (const price* p : it->second) {
      if (best != nullptr && p->dimensions.size() <= best->dimensions.size()) continue;
      if (dimensions_within(p->dimensions, d)) best = p;
    }
  }
  if (best == nullptr)
    return fail(errc::unknown_price,
                "no price in the catalog matches the operation and dimensions");
  if (quantity <= 0) return fail(errc::invalid_argument, "quantity must be positive");
  // unit (micros) x quantity (micros) is in units of 10^-12: back to micros,
  // half up. Both factors are below 2^63, so the product fits 128 bits.
  __extension__ using i128 = __int128;
  const i128 product = static_cast<i128>(best->unit_amount) * quantity;
  const i128 cost = (product + micros_per_credit / 2) / micros_per_credit;
  if (cost > amount_micros_max) return fail(errc::invalid_argument, "the cost is too large");
  return priced{static_cast<micros>(cost), best->id, best->unit_amount};
}

result<quote_result> ledger::quote(const charge_cmd& cmd, time_us now) {
  command_mark_ = pending_.entries.size();
  account* acct = find_mut(cmd.account);
  if (acct == nullptr) return fail(errc::account_not_found);
  // What the cost depends on only: a quote records nothing, so the
  // descriptive fields (reference, metadata) are not checked.
  if (cmd.amount < 0 || cmd.amount > amount_micros_max)
    return fail(errc::invalid_argument, "amount must not be negative");
  if (!valid_operation(cmd.operation))
    return fail(errc::invalid_argument, "operation must match [A-Za-z0-9._:/-]{1,128}");
  if (cmd.quantity <= 0 || cmd.quantity > amount_micros_max)
    return fail(errc::invalid_argument, "quantity must be positive");
  balance_watch watch(*this, acct, now);  // settling may expire lots
  quote_result out;
  out.cost = priced{cmd.amount, {}, 0};
  if (cmd.from_catalog) {
    auto r = price_for(cmd.operation, cmd.dimension_values, cmd.quantity);
    if (!r) return std::unexpected(r.error());
    out.cost = std::move(*r);
  }
  settle(*acct, now);
  out.available = spend_capacity(*acct, cmd.operation, cmd.urgent, now);
  out.balance_after = available_now(*acct, now);
  auto p = plan_spend(*acct, out.cost.amount, cmd.operation, cmd.urgent, now);
  if (!p) {
    out.reason = p.error().reason;
    CREDITD_ASSERT(p.error().available == out.available);
    return out;
  }
  out.affordable = true;
  // The balance after: take the credits, read, and put everything back.
  savepoint sp = make_savepoint(*acct);
  lot_parts parts;
  take(*acct, *p, cmd.operation, now, /*to_hold=*/false, parts);
  out.balance_after = available_now(*acct, now);
  rollback(sp);
  paranoid_check(*acct);
  return out;
}

// ---------------------------------------------------------------- purchases

result<purchase_result> ledger::purchase_into(account& acct, const package& pkg,
                                              const purchase_cmd& cmd, time_us now) {
  if (acct.active_lots.size() >= limits::active_lots_per_account_max)
    return fail(errc::limit_exceeded, "the account has 1000 active lots already");
  const object_id purchase_id = next_object_id_++;
  grant_cmd g;
  g.account = acct.id;
  g.amount = pkg.credits;
  g.kind = lot_kind::prepaid;
  if (pkg.validity_days > 0) g.expires_at = now + pkg.validity_days * us_per_day;
  g.source = cmd.source == purchase_source::auto_topup ? "auto_topup" : "purchase";
  g.reason = format_id(id_kind::purchase, purchase_id) + " of package " + pkg.id;
  if (!cmd.reason.empty()) g.reason += ": " + cmd.reason;
  if (g.reason.size() > limits::reason_length_max) g.reason.resize(limits::reason_length_max);
  g.cost_basis = pkg.price;
  g.currency = pkg.currency;
  lot& l = new_lot(acct, g, now);
  entry& e = append_entry(entry_type::grant, acct, l.amount, now);
  e.lot_id = l.id;
  e.parts.push_back({l.id, l.amount});
  e.reason = g.reason;
  e.balance_after = available_now(acct, now);

  purchase_result out;
  auto& p = out.made;
  p.id = purchase_id;
  p.account = acct.id;
  p.package = pkg.id;
  p.lot_id = l.id;
  p.credits = pkg.credits;
  p.price = pkg.price;
  p.currency = pkg.currency;
  p.source = cmd.source;
  p.external_id = cmd.external_id;
  p.reason = cmd.reason;
  p.created_at = now;
  out.granted = &l;
  pending_.purchases.push_back(p);
  if (!p.external_id.empty()) {
    auto [it, inserted] = external_ids_.try_emplace(p.external_id, epoch_);
    CREDITD_ASSERT(inserted);  // purchase() refused a duplicate
    external_order_.push_back(&it->first);
  }
  event& ev = append_event(event_type::purchase_completed, acct, now);
  event_data(ev.data)
      .id("purchase", id_kind::purchase, purchase_id)
      .text("package", pkg.id)
      .id("lot", id_kind::lot, l.id)
      .amount("amount", pkg.credits)
      .text("source", to_string(cmd.source))
      .close();
  return out;
}

result<purchase_result> ledger::purchase(const purchase_cmd& cmd, time_us now) {
  command_mark_ = pending_.entries.size();
  account* acct = find_mut(cmd.account);
  if (acct == nullptr) return fail(errc::account_not_found);
  auto pkg = packages_.find(cmd.package);
  if (pkg == packages_.end()) return fail(errc::package_not_found);
  if (cmd.external_id.size() > limits::external_id_length_max)
    return fail(errc::invalid_argument, "the external id is longer than 255 bytes");
  if (cmd.reason.size() > limits::reason_length_max)
    return fail(errc::invalid_argument, "reason is longer than 1024 bytes");
  if (!cmd.external_id.empty() && external_ids_.contains(cmd.external_id)) {
    purchase_result dup;
    dup.duplicate = true;
    return dup;
  }
  balance_watch watch(*this, acct, now);
  settle(*acct, now);
  auto r = purchase_into(*acct, pkg->second, cmd, now);
  if (r) check_topup(*acct, now);
  paranoid_check(*acct);
  return r;
}

// ---------------------------------------------------------------- subscriptions

result<put_result<subscription>> ledger::put_subscription(const subscription_cmd& cmd,
                                                          time_us now) {
  command_mark_ = pending_.entries.size();
  account* acct = find_mut(cmd.account);
  if (acct == nullptr) return fail(errc::account_not_found);
  if (!plans_.contains(cmd.plan)) return fail(errc::plan_not_found);
  if (!cmd.timezone.empty() && !calendar_->knows_zone(cmd.timezone))
    return fail(errc::invalid_argument, "timezone is not a known IANA time zone");
  balance_watch watch(*this, acct, now);
  settle(*acct, now);
  subscription* existing = acct->sub;
  if (existing != nullptr && existing->status == subscription_status::active) {
    if (cmd.start_at) {
      return fail(errc::conflict,
                  "the account is subscribed already: start_at applies to a new subscription "
                  "only (DELETE it and wait for its period's end, or leave start_at out to "
                  "change the plan from the next period)");
    }
    if (!cmd.timezone.empty() && cmd.timezone != existing->timezone)
      return fail(errc::conflict, "the time zone of an active subscription cannot change");
    existing->next_plan = cmd.plan == existing->plan ? std::string() : cmd.plan;
    existing->cancel_at_period_end = false;
    existing->updated_at = now;
    save(*existing);
    paranoid_check(*acct);
    return put_result<subscription>{existing, false};
  }
  // A pending subscription changed before its start keeps its start and its
  // zone unless new ones are given.
  const bool pending = existing != nullptr && existing->status == subscription_status::pending;
  const time_us start = cmd.start_at.value_or(pending ? existing->start_at : now);
  // After a canceled one, a new subscription starts no earlier than the old
  // one's last period ended: no calendar period is granted twice.
  if (existing != nullptr && existing->status == subscription_status::canceled &&
      start < existing->period_end) {
    return fail(errc::conflict,
                "start_at is before the end of the account's last subscription period");
  }
  const time_us window = limits::subscription_start_window_days * us_per_day;
  if (start < now - window)
    return fail(errc::invalid_argument, "start_at is more than 10 years ago");
  if (start > now + window)
    return fail(errc::invalid_argument, "start_at is more than 10 years ahead");
  const std::string zone = !cmd.timezone.empty() ? cmd.timezone
                           : pending             ? existing->timezone
                                                 : std::string("UTC");
  const auto anchor = calendar_->date_at(zone, start);
  if (!anchor) return fail(errc::invalid_argument, "timezone is not a known IANA time zone");

  subscription& sub = subscriptions_[acct->id];
  const bool created = existing == nullptr;
  const time_us created_at = created ? now : sub.created_at;
  // Period numbers go on across subscriptions of the account: each (account,
  // index) is granted once, whatever resubscriptions come.
  const std::int64_t last_index = created ? -1 : sub.period_index;
  sub = subscription{};
  sub.period_index = last_index;
  sub.owner = acct;
  sub.plan = cmd.plan;
  sub.timezone = zone;
  sub.anchor = *anchor;
  sub.start_at = start;
  sub.period_start = start;
  sub.period_end = start;
  sub.status = subscription_status::pending;
  sub.created_at = created_at;
  sub.updated_at = now;
  acct->sub = &sub;
  save(sub);
  add_due(start, 0, acct);
  acct->next_due = std::min(acct->next_due, start);
  // A start now or in the past: period 0 (and every period since) at once.
  settle(*acct, now);
  paranoid_check(*acct);
  return put_result<subscription>{&sub, created};
}

result<const subscription*> ledger::cancel_subscription(std::string_view account_id, time_us now) {
  command_mark_ = pending_.entries.size();
  account* acct = find_mut(account_id);
  if (acct == nullptr) return fail(errc::account_not_found);
  balance_watch watch(*this, acct, now);
  settle(*acct, now);
  subscription* sub = acct->sub;
  if (sub == nullptr) return fail(errc::subscription_not_found);
  if (sub->status == subscription_status::pending) {
    sub->status = subscription_status::canceled;
    sub->period_end = now;
    recompute_next_due(*acct);
  } else if (sub->status == subscription_status::active) {
    sub->cancel_at_period_end = true;
    sub->next_plan.clear();
  }
  sub->updated_at = now;
  save(*sub);
  return sub;
}

void ledger::start_period(account& acct, subscription& sub, time_us at, micros carry,
                          object_id carried_from, bool renewal) {
  const plan& pl = plans_.at(sub.plan);
  // Boundaries count months from the anchor (a year is 12 of them, clamped
  // from the anchor day alike), so that a plan of another period continues
  // from where the last period ended. The first period starts at start_at,
  // month 0; a later one at a boundary, whose local date is the anchor day
  // some months on.
  std::int64_t months = 0;
  if (sub.status == subscription_status::active) {
    const auto d = calendar_->date_at(sub.timezone, at);
    CREDITD_ASSERT(d.has_value());
    months = (std::int64_t{d->year} - sub.anchor.year) * 12 + (d->month - sub.anchor.month);
  }
  const std::int64_t step = pl.period == period_unit::year ? 12 : 1;
  sub.status = subscription_status::active;
  ++sub.period_index;
  sub.period_start = at;
  const auto end = calendar_->boundary(sub.timezone, sub.anchor, period_unit::month, months + step);
  // Only a boundary past year 9999 is missing: such a period never ends.
  sub.period_end = end && *end > at ? *end : no_expiry;

  grant_cmd g;
  g.account = acct.id;
  g.amount = pl.credits_per_period;
  g.kind = lot_kind::plan;
  if (sub.period_end != no_expiry) g.expires_at = sub.period_end;
  g.source = "subscription";
  g.reason = "plan " + pl.id + ", period " + std::to_string(sub.period_index);
  subscription_period row{acct.id, sub.period_index, pl.id, 0, pl.credits_per_period, 0, 0,
                          at,      sub.period_end};
  auto grant_lot = [&](const grant_cmd& cmd) -> lot& {
    lot& l = new_lot(acct, cmd, at);
    entry& e = append_entry(entry_type::grant, acct, l.amount, at);
    e.lot_id = l.id;
    e.parts.push_back({l.id, l.amount});
    e.reason = cmd.reason;
    e.balance_after = available_now(acct, at);
    return l;
  };
  // The carried credits first: as old as the allowance and expiring with it,
  // they are spent before it (the lower id), so what is left of the
  // allowance, which alone may carry over again, is as large as can be.
  if (carry > 0) {
    grant_cmd r = g;
    r.amount = carry;
    r.source = "rollover";
    r.reason = "rollover from " + format_id(id_kind::lot, carried_from) + " into period " +
               std::to_string(sub.period_index);
    row.rolled_over = carry;
    row.rollover_lot_id = grant_lot(r).id;
  }
  lot& l = grant_lot(g);
  sub.lot_id = l.id;
  row.lot_id = l.id;
  if (renewal) {
    event& ev = append_event(event_type::subscription_renewed, acct, at);
    event_data d(ev.data);
    d.text("plan", pl.id).integer("period", sub.period_index).id("lot", id_kind::lot, l.id);
    d.amount("amount", pl.credits_per_period);
    if (carry > 0) d.amount("rolled_over", carry);
    if (sub.period_end != no_expiry) d.time("period_end", sub.period_end);
    d.close();
  }
  pending_.periods.push_back(std::move(row));
  if (sub.period_end != no_expiry) add_due(sub.period_end, 0, &acct);
  sub.updated_at = at;
  save(sub);
}

void ledger::renew(account& acct, time_us at) {
  subscription& sub = *acct.sub;
  if (sub.status == subscription_status::pending) {
    CREDITD_ASSERT(sub.start_at == at);
    start_period(acct, sub, at, 0, 0, /*renewal=*/false);
    return;
  }
  CREDITD_ASSERT(sub.status == subscription_status::active && sub.period_end == at);
  micros carry = 0;
  const object_id old_id = sub.lot_id;
  if (auto it = lots_.find(old_id); it != lots_.end() && it->second.status == lot_status::active) {
    lot& old = it->second;
    const plan& ending = plans_.at(sub.plan);
    if (!sub.cancel_at_period_end && ending.rollover_cap)
      carry = std::min(old.remaining, *ending.rollover_cap);
    const micros left = old.remaining;
    expire_lot(old, at);
    entry& e = pending_.entries.back();
    e.reason = "period end";
    if (carry > 0) {
      e.reason += ": " + format_amount(carry) + " of " + format_amount(left) + " carried over, " +
                  format_amount(left - carry) + " lost";
    }
  }
  if (sub.cancel_at_period_end) {
    sub.status = subscription_status::canceled;
    sub.updated_at = at;
    save(sub);
    return;
  }
  if (!sub.next_plan.empty()) {
    sub.plan = std::move(sub.next_plan);
    sub.next_plan.clear();
  }
  start_period(acct, sub, at, carry, old_id, /*renewal=*/true);
}

void ledger::restore_subscription(const subscription& row, std::string_view account_id) {
  CREDITD_ASSERT(!loaded_);
  account* a = find_mut(account_id);
  CREDITD_ASSERT(a != nullptr);
  subscription& s = subscriptions_[a->id] = row;
  s.owner = a;
  s.dirty_epoch = 0;
  a->sub = &s;
}

// ---------------------------------------------------------------- automatic top-up

time_us ledger::billing_period_start(const account& acct, time_us now) const {
  if (acct.sub != nullptr && acct.sub->status == subscription_status::active &&
      acct.sub->period_start <= now) {
    return acct.sub->period_start;
  }
  return month_start(now);
}

void ledger::check_topup(account& acct, time_us now) {
  if (!acct.settings.auto_topup) return;
  const auto_topup_settings& t = *acct.settings.auto_topup;
  const micros before = available_now(acct, now);
  if (before >= t.below) {
    if (!acct.topup.armed) {
      acct.topup.armed = true;
      mark(acct);
    }
    return;
  }
  if (!acct.topup.armed) return;
  // A downward crossing: at most one purchase for it, whether or not the
  // period's limit allows one.
  acct.topup.armed = false;
  const time_us period = billing_period_start(acct, now);
  if (acct.topup.period_start != period) {
    acct.topup.period_start = period;
    acct.topup.count = 0;
  }
  mark(acct);
  if (acct.topup.count >= t.max_per_period) return;
  auto pkg = packages_.find(t.package);
  if (pkg == packages_.end()) return;
  purchase_cmd cmd;
  cmd.account = acct.id;
  cmd.package = t.package;
  cmd.source = purchase_source::auto_topup;
  cmd.reason = "auto top-up: available " + format_amount(before) + " fell below " +
               format_amount(t.below) + " (" + std::to_string(acct.topup.count + 1) + " of " +
               std::to_string(t.max_per_period) + " this period)";
  if (!purchase_into(acct, pkg->second, cmd, now)) return;  // the account's lot limit
  ++acct.topup.count;
  if (available_now(acct, now) >= t.below) acct.topup.armed = true;
}

}  // namespace creditd::ledger
