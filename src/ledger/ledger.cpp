// The ledger's commands. See ledger.hpp for the contract of each.
#include "ledger/ledger.hpp"
#include "ledger/settings_entry.hpp"

#include <algorithm>

#include "ledger/limits.hpp"
#include "ledger/validate.hpp"
#include "util/assert.hpp"

namespace creditd::ledger {

namespace {

bool consumes_before(const lot* a, const lot* b) {
  if (a->priority != b->priority) return a->priority < b->priority;
  if (a->expires_at != b->expires_at) return a->expires_at < b->expires_at;
  return a->id < b->id;
}

std::unexpected<error> fail(errc code, const char* message = "") {
  return std::unexpected(make_error(code, message));
}

const char* check_text(const std::string& text, std::size_t length_max, const char* message) {
  return text.size() > length_max ? message : nullptr;
}

// Common checks for what describes a spend (charge or hold). An amount of
// zero is a spend like any other (a free operation, recorded as usage).
template <typename cmd_type>
const char* check_spend(const cmd_type& cmd) {
  if (cmd.amount < 0 || cmd.amount > amount_micros_max) return "amount must not be negative";
  if (!valid_operation(cmd.operation)) return "operation must match [A-Za-z0-9._:/-]{1,128}";
  if (const char* m = check_text(cmd.dimensions, limits::dimensions_bytes_max,
                                 "dimensions are larger than 4096 bytes")) {
    return m;
  }
  if (const char* m = check_text(cmd.reference, limits::reference_length_max,
                                 "reference is longer than 512 bytes")) {
    return m;
  }
  if (cmd.quantity <= 0 || cmd.quantity > amount_micros_max) return "quantity must be positive";
  return check_text(cmd.metadata, limits::metadata_bytes_max, "metadata is larger than 4096 bytes");
}

}  // namespace

// ---------------------------------------------------------------- accounts

account* ledger::find_mut(std::string_view id) {
  return account_index_.find(id);
}

result<account_result> ledger::put_account(const account_cmd& cmd, time_us now) {
  command_mark_ = pending_.entries.size();
  if (!valid_account_id(cmd.id))
    return fail(errc::invalid_argument, "account id must match [A-Za-z0-9._:-]{1,128}");
  if (cmd.name && cmd.name->size() > limits::account_name_length_max) {
    return fail(errc::invalid_argument, "name is longer than 256 bytes");
  }
  if (cmd.settings) {
    if (const char* m = check_settings(*cmd.settings)) return fail(errc::invalid_argument, m);
    if (cmd.settings->auto_topup && !packages_.contains(cmd.settings->auto_topup->package)) {
      return fail(errc::package_not_found,
                  "settings.auto_topup.package names a package that does not exist");
    }
  }
  account_result out;
  account* acct = find_mut(cmd.id);
  balance_watch watch(*this, acct, now);
  // Expiries due under the old settings are written with the old settings.
  if (acct != nullptr) settle(*acct, now);
  const balance_settings before =
      acct != nullptr ? balance_settings_of(acct->settings) : balance_settings{};
  if (acct == nullptr) {
    auto [it, inserted] = accounts_.try_emplace(cmd.id);
    CREDITD_ASSERT(inserted);
    acct = &it->second;
    account_index_.insert(account_index::hash(cmd.id), acct);
    acct->id = cmd.id;
    acct->created_at = now;
    acct->postpaid_period = month_index(now);
    out.created = true;
    watch.acct = acct;
  }
  if (cmd.name) acct->name = *cmd.name;
  if (cmd.settings) {
    const bool topup_changed = acct->settings.auto_topup != cmd.settings->auto_topup;
    const bool notices_changed =
        acct->settings.expiring_soon_days != cmd.settings->expiring_soon_days;
    acct->settings = *cmd.settings;
    // Notices still ahead under the new window (those of the old one are
    // stale now, and skipped).
    if (notices_changed) {
      for (const lot* l : acct->active_lots)
        schedule_notice(*l, now);
    }
    // A new setting arms when available is at or above `below`: setting it
    // while below is not a crossing (nothing is bought at once).
    if (topup_changed && acct->settings.auto_topup) {
      acct->topup.armed = available_now(*acct, now) >= acct->settings.auto_topup->below;
    }
  }
  acct->updated_at = now;
  mark(*acct);
  // The balance moves with the reserve and the postpaid limit: the journal
  // says so, so that every balance_after can be recomputed from it alone.
  if (const balance_settings after = balance_settings_of(acct->settings); after != before) {
    entry& e = append_entry(entry_type::settings, *acct, 0, now);
    e.metadata = settings_entry_metadata(after);
    e.balance_after = available_now(*acct, now);
  }
  out.acct = acct;
  paranoid_check(*acct);
  return out;
}

// ---------------------------------------------------------------- lots

void ledger::insert_active(account& acct, lot* l) {
  auto pos = std::upper_bound(acct.active_lots.begin(), acct.active_lots.end(), l, consumes_before);
  acct.active_lots.insert(pos, l);
}

void ledger::revive(account& acct, lot& l, time_us now) {
  CREDITD_ASSERT(l.status == lot_status::depleted);
  l.status = lot_status::active;
  insert_active(acct, &l);
  if (l.expires_at != no_expiry) {
    // Its due items may have been dropped as stale while it was depleted.
    add_due(l.expires_at, l.id);
    acct.next_due = std::min(acct.next_due, l.expires_at);
    schedule_notice(l, now);
  }
}

void ledger::remove_active(account& acct, lot* l) {
  auto it = std::find(acct.active_lots.begin(), acct.active_lots.end(), l);
  CREDITD_ASSERT(it != acct.active_lots.end());
  acct.active_lots.erase(it);
}

lot& ledger::new_lot(account& acct, const grant_cmd& cmd, time_us now) {
  const object_id id = next_object_id_++;
  lot& l = lots_[id];
  l.id = id;
  l.owner = &acct;
  l.kind = cmd.kind;
  l.priority = cmd.priority.value_or(default_priority(cmd.kind));
  l.amount = cmd.amount;
  l.remaining = cmd.amount;
  l.effective_at = cmd.effective_at.value_or(now);
  l.expires_at = cmd.expires_at.value_or(no_expiry);
  l.created_at = now;
  l.scope = cmd.scope;
  l.source = cmd.source;
  l.reason = cmd.reason;
  l.cost_basis = cmd.cost_basis;
  l.currency = cmd.currency;
  acct.lots.push_back(&l);
  if (l.expires_at <= now) {
    // Born expired (a refund into a lot that is gone, with the old expiry).
    l.status = lot_status::expired;
    l.expired = l.remaining;
    l.remaining = 0;
  } else {
    insert_active(acct, &l);
    if (l.expires_at != no_expiry) add_due(l.expires_at, l.id);
    acct.next_due = std::min(acct.next_due, l.expires_at);
    schedule_notice(l, now);
  }
  mark(l);
  return l;
}

result<const lot*> ledger::grant(const grant_cmd& cmd, time_us now) {
  command_mark_ = pending_.entries.size();
  account* acct = find_mut(cmd.account);
  if (acct == nullptr) return fail(errc::account_not_found);
  balance_watch watch(*this, acct, now);
  if (cmd.amount <= 0 || cmd.amount > amount_micros_max) {
    return fail(errc::invalid_argument, "amount must be positive");
  }
  const time_us effective = cmd.effective_at.value_or(now);
  if (cmd.expires_at) {
    if (*cmd.expires_at <= effective)
      return fail(errc::invalid_argument, "expires_at must be after effective_at");
    if (*cmd.expires_at <= now) return fail(errc::invalid_argument, "expires_at is in the past");
  }
  if (cmd.priority && (*cmd.priority < 0 || *cmd.priority > limits::priority_max)) {
    return fail(errc::invalid_argument, "priority must be between 0 and 1000000");
  }
  if (cmd.scope.size() > limits::scope_operations_max) {
    return fail(errc::invalid_argument, "scope names more than 64 operations");
  }
  for (const std::string& op : cmd.scope) {
    if (!valid_operation(op, true))
      return fail(errc::invalid_argument, "scope holds an invalid operation");
  }
  if (cmd.source.empty() || cmd.source.size() > limits::source_length_max) {
    return fail(errc::invalid_argument, "source must be 1 to 64 bytes");
  }
  if (cmd.reason.size() > limits::reason_length_max)
    return fail(errc::invalid_argument, "reason is longer than 1024 bytes");
  if (cmd.cost_basis < 0 || cmd.cost_basis > amount_micros_max) {
    return fail(errc::invalid_argument, "cost_basis is out of range");
  }
  if (cmd.currency.size() > limits::currency_length_max)
    return fail(errc::invalid_argument, "currency is too long");
  settle(*acct, now);
  if (acct->active_lots.size() >= limits::active_lots_per_account_max) {
    return fail(errc::limit_exceeded, "the account has 1000 active lots already");
  }
  lot& l = new_lot(*acct, cmd, now);
  entry& e = append_entry(entry_type::grant, *acct, l.amount, now);
  e.lot_id = l.id;
  e.parts.push_back({l.id, l.amount});
  e.reason = cmd.reason;
  e.balance_after = available_now(*acct, now);
  check_topup(*acct, now);
  paranoid_check(*acct);
  return &l;
}

result<const lot*> ledger::void_lot(object_id lot_id, std::string_view reason, time_us now) {
  command_mark_ = pending_.entries.size();
  auto it = lots_.find(lot_id);
  if (it == lots_.end()) return fail(errc::lot_not_found);
  if (reason.size() > limits::reason_length_max)
    return fail(errc::invalid_argument, "reason is longer than 1024 bytes");
  lot& l = it->second;
  account& acct = *const_cast<account*>(l.owner);
  balance_watch watch(*this, &acct, now);
  settle(acct, now);
  if (l.status == lot_status::expired || l.status == lot_status::voided) {
    return fail(errc::lot_not_active, "the lot is already expired or voided");
  }
  const micros lost = l.remaining;
  if (l.status == lot_status::active) remove_active(acct, &l);
  l.voided += lost;
  l.remaining = 0;
  l.status = lot_status::voided;
  mark(l);
  entry& e = append_entry(entry_type::void_lot, acct, lost, now);
  e.lot_id = l.id;
  e.parts.push_back({l.id, lost});
  e.reason = std::string(reason);
  e.balance_after = available_now(acct, now);
  check_topup(acct, now);
  paranoid_check(acct);
  return &l;
}

// ---------------------------------------------------------------- spending

micros ledger::postpaid_available(const account& acct, time_us now) const {
  if (acct.settings.postpaid_limit == 0) return 0;
  const micros used = acct.postpaid_period == month_index(now) ? acct.postpaid_used : 0;
  return std::max<micros>(0, acct.settings.postpaid_limit - used);
}

micros ledger::lots_spendable(const account& acct, time_us now, std::string_view operation,
                              bool scoped) const {
  micros total = 0;
  for (const lot* l : acct.active_lots) {
    if (l->spendable_at(now) && (!scoped || l->matches(operation))) total += l->remaining;
  }
  return total;
}

micros ledger::spend_capacity(const account& acct, std::string_view operation, bool urgent,
                              time_us now) const {
  micros all = 0, in_scope = 0;
  for (const lot* l : acct.active_lots) {
    if (!l->spendable_at(now)) continue;
    all += l->remaining;
    if (l->matches(operation)) in_scope += l->remaining;
  }
  return spend_cap(all, in_scope, acct.settings.reserve, urgent) + postpaid_available(acct, now);
}

result<ledger::spend_plan> ledger::plan_spend(const account& acct, micros amount,
                                              std::string_view operation, bool urgent,
                                              time_us now) const {
  micros all = 0, in_scope = 0;
  for (const lot* l : acct.active_lots) {
    if (!l->spendable_at(now)) continue;
    all += l->remaining;
    if (l->matches(operation)) in_scope += l->remaining;
  }
  const micros reserve = acct.settings.reserve;
  const micros lots_cap = spend_cap(all, in_scope, reserve, urgent);
  const micros postpaid = postpaid_available(acct, now);
  if (amount <= lots_cap + postpaid) {
    spend_plan p;
    p.from_lots = std::min(amount, lots_cap);
    p.from_postpaid = amount - p.from_lots;
    return p;
  }
  error e = make_error(errc::insufficient_credits, "insufficient credits");
  e.available = lots_cap + postpaid;
  e.required = amount;
  if (!urgent && reserve > 0 && amount <= in_scope + postpaid) {
    e.reason = refusal_reason::reserve;
  } else if (amount <= all + postpaid) {
    e.reason = refusal_reason::scope;
  } else if (acct.settings.postpaid_limit > 0) {
    e.reason = refusal_reason::postpaid_limit;
  } else {
    e.reason = refusal_reason::balance;
  }
  return std::unexpected(e);
}

void ledger::take(account& acct, const spend_plan& p, std::string_view operation, time_us now,
                  bool to_hold, lot_parts& parts) {
  micros left = p.from_lots;
  bool depleted_any = false;
  for (lot* l : acct.active_lots) {
    if (left == 0) break;
    if (!l->spendable_at(now) || !l->matches(operation) || l->remaining == 0) continue;
    const micros x = std::min(left, l->remaining);
    l->remaining -= x;
    (to_hold ? l->held : l->spent) += x;
    left -= x;
    parts.push_back({l->id, x});
    if (l->remaining == 0) {
      l->status = lot_status::depleted;
      depleted_any = true;
    }
    mark(*l);
  }
  CREDITD_ASSERT(left == 0);
  if (depleted_any) {
    std::erase_if(acct.active_lots, [](const lot* l) { return l->status != lot_status::active; });
  }
  if (p.from_postpaid > 0) {
    const std::int64_t period = month_index(now);
    if (acct.postpaid_period != period) {
      acct.postpaid_period = period;
      acct.postpaid_used = 0;
    }
    acct.postpaid_used += p.from_postpaid;
    parts.push_back({postpaid_lot_id, p.from_postpaid});
    mark(acct);
  }
}

result<void> ledger::check_rate(account& acct, time_us now) {
  const std::int64_t limit = acct.settings.rate_limit_per_minute;
  if (limit == 0) return {};
  // Tokens in units of 1/(60 * 10^6) request, so that a refill of
  // elapsed_us * limit units is exact: no fraction is ever dropped.
  constexpr std::int64_t one = 60 * us_per_second;
  const std::int64_t capacity = limit * one;
  rate_bucket& b = acct.rate;
  if (b.tokens < 0) {
    b.tokens = capacity;
  } else if (now > b.refilled_at) {
    const std::int64_t elapsed = std::min<std::int64_t>(now - b.refilled_at, us_per_minute);
    b.tokens = std::min(capacity, b.tokens + elapsed * limit);
  }
  b.tokens = std::min(b.tokens, capacity);
  b.refilled_at = std::max(b.refilled_at, now);
  if (b.tokens < one) {
    error e = make_error(errc::rate_limited, "rate limit exceeded");
    const std::int64_t wait_us = (one - b.tokens + limit - 1) / limit;
    e.retry_after_s = std::max<std::int64_t>(1, (wait_us + us_per_second - 1) / us_per_second);
    e.limit = limit;
    return std::unexpected(e);
  }
  b.tokens -= one;
  return {};
}

result<const charge_record*> ledger::charge_one(account& acct, const charge_cmd& cmd, time_us now) {
  if (const char* m = check_spend(cmd)) return fail(errc::invalid_argument, m);
  priced cost{cmd.amount, {}, 0};
  if (cmd.from_catalog) {
    auto r = price_for(cmd.operation, cmd.dimension_values, cmd.quantity);
    if (!r) return std::unexpected(r.error());
    cost = std::move(*r);
  }
  auto p = plan_spend(acct, cost.amount, cmd.operation, cmd.urgent, now);
  if (!p) return std::unexpected(p.error());
  if (auto r = check_rate(acct, now); !r) return std::unexpected(r.error());

  const object_id id = next_object_id_++;
  entry& e = append_entry(entry_type::charge, acct, cost.amount, now);
  take(acct, *p, cmd.operation, now, /*to_hold=*/false, e.parts);
  e.charge_id = id;
  e.operation = cmd.operation;
  e.dimensions = cmd.dimensions;
  e.reference = cmd.reference;
  e.quantity = cmd.quantity;
  e.metadata = cmd.metadata;
  e.price_id = std::move(cost.price_id);
  e.unit_amount = cost.unit_amount;
  e.balance_after = available_now(acct, now);

  charge_record& c = charges_[id];
  charge_order_.push_back(id);
  c.id = id;
  c.owner = &acct;
  c.amount = e.amount;
  c.created_at = now;
  c.postpaid_period = acct.postpaid_period;
  c.parts.reserve(e.parts.size());
  for (const lot_part& part : e.parts)
    c.parts.push_back({part.lot, part.amount, 0});
  mark(c);
  return &c;
}

result<const charge_record*> ledger::charge(const charge_cmd& cmd, time_us now) {
  command_mark_ = pending_.entries.size();
  account* acct = find_mut(cmd.account);
  if (acct == nullptr) return fail(errc::account_not_found);
  balance_watch watch(*this, acct, now);
  settle(*acct, now);
  auto r = charge_one(*acct, cmd, now);
  if (r) {
    check_topup(*acct, now);
  } else {
    refused_event(*acct, r.error(), cmd.operation, r.error().required, now);
  }
  paranoid_check(*acct);
  return r;
}

result<std::vector<const charge_record*>> ledger::charge_batch(std::span<const charge_cmd> cmds,
                                                               time_us now) {
  command_mark_ = pending_.entries.size();
  if (cmds.empty()) return fail(errc::invalid_argument, "charges must not be empty");
  if (cmds.size() > limits::batch_charges_max) {
    return fail(errc::limit_exceeded, "a batch holds at most 100 charges");
  }
  for (const charge_cmd& c : cmds) {
    if (c.account != cmds[0].account)
      return fail(errc::invalid_argument, "every charge of a batch must name the same account");
  }
  account* acct = find_mut(cmds[0].account);
  if (acct == nullptr) return fail(errc::account_not_found);
  balance_watch watch(*this, acct, now);
  settle(*acct, now);
  savepoint sp = make_savepoint(*acct);
  std::vector<const charge_record*> out;
  out.reserve(cmds.size());
  for (const charge_cmd& c : cmds) {
    auto r = charge_one(*acct, c, now);
    if (!r) {
      rollback(sp);
      refused_event(*acct, r.error(), c.operation, r.error().required, now);
      paranoid_check(*acct);
      return std::unexpected(r.error());
    }
    out.push_back(*r);
  }
  check_topup(*acct, now);
  paranoid_check(*acct);
  return out;
}

// ---------------------------------------------------------------- holds

result<const hold*> ledger::place_hold(const hold_cmd& cmd, time_us now) {
  command_mark_ = pending_.entries.size();
  account* acct = find_mut(cmd.account);
  if (acct == nullptr) return fail(errc::account_not_found);
  balance_watch watch(*this, acct, now);
  if (const char* m = check_spend(cmd)) return fail(errc::invalid_argument, m);
  if (cmd.ttl_seconds < limits::hold_ttl_seconds_min ||
      cmd.ttl_seconds > limits::hold_ttl_seconds_max) {
    return fail(errc::invalid_argument, "ttl_seconds must be between 1 and 2592000");
  }
  settle(*acct, now);
  const auto open = static_cast<std::int64_t>(acct->open_holds.size());
  const std::int64_t configured = acct->settings.max_open_holds;
  if ((configured > 0 && open >= configured) ||
      open >= static_cast<std::int64_t>(limits::open_holds_per_account_max)) {
    error e = make_error(errc::too_many_open_holds, "too many open holds");
    e.limit =
        configured > 0 ? configured : static_cast<std::int64_t>(limits::open_holds_per_account_max);
    return std::unexpected(e);
  }
  priced cost{cmd.amount, {}, 0};
  if (cmd.from_catalog) {
    auto r = price_for(cmd.operation, cmd.dimension_values, cmd.quantity);
    if (!r) return std::unexpected(r.error());
    cost = std::move(*r);
  }
  auto p = plan_spend(*acct, cost.amount, cmd.operation, cmd.urgent, now);
  if (!p) {
    refused_event(*acct, p.error(), cmd.operation, cost.amount, now);
    return std::unexpected(p.error());
  }
  if (auto r = check_rate(*acct, now); !r) return std::unexpected(r.error());

  const object_id id = next_object_id_++;
  hold& h = holds_[id];
  h.id = id;
  h.owner = acct;
  h.amount = cost.amount;
  h.price_id = std::move(cost.price_id);
  h.unit_amount = cost.unit_amount;
  h.operation = cmd.operation;
  h.dimensions = cmd.dimensions;
  h.reference = cmd.reference;
  h.quantity = cmd.quantity;
  h.metadata = cmd.metadata;
  h.created_at = now;
  h.expires_at = now + cmd.ttl_seconds * us_per_second;
  take(*acct, *p, cmd.operation, now, /*to_hold=*/true, h.parts);
  h.postpaid_period = acct->postpaid_period;
  acct->held += h.amount;
  acct->open_holds.push_back(&h);
  ++open_holds_total_;
  add_due(h.expires_at, h.id);
  acct->next_due = std::min(acct->next_due, h.expires_at);
  mark(h);

  entry& e = append_entry(entry_type::hold, *acct, h.amount, now);
  e.hold_id = h.id;
  e.parts = h.parts;
  e.operation = h.operation;
  e.dimensions = h.dimensions;
  e.reference = h.reference;
  e.quantity = h.quantity;
  e.metadata = h.metadata;
  e.price_id = h.price_id;
  e.unit_amount = h.unit_amount;
  e.balance_after = available_now(*acct, now);
  check_topup(*acct, now);
  paranoid_check(*acct);
  return &h;
}

void ledger::return_held(hold& h, const lot_parts& parts, time_us now, bool expiry) {
  account& acct = *const_cast<account*>(h.owner);
  lot_parts returned, lost_expired, lost_voided;
  micros returned_total = 0, expired_total = 0, voided_total = 0;
  for (const lot_part& part : parts) {
    if (part.amount == 0) continue;
    if (part.lot == postpaid_lot_id) {
      if (acct.postpaid_period == h.postpaid_period) {
        acct.postpaid_used -= std::min(part.amount, acct.postpaid_used);
        mark(acct);
      }
      returned.push_back(part);
      returned_total += part.amount;
      continue;
    }
    lot& l = lots_.at(part.lot);
    CREDITD_ASSERT(l.held >= part.amount);
    if (l.status == lot_status::active && now >= l.expires_at) expire_lot(l, l.expires_at);
    l.held -= part.amount;
    if (l.status == lot_status::voided) {
      l.voided += part.amount;
      lost_voided.push_back(part);
      voided_total += part.amount;
    } else if (l.status == lot_status::expired || now >= l.expires_at) {
      l.status = lot_status::expired;
      l.expired += part.amount;
      lost_expired.push_back(part);
      expired_total += part.amount;
    } else {
      l.remaining += part.amount;
      if (l.status == lot_status::depleted) revive(acct, l, now);
      returned.push_back(part);
      returned_total += part.amount;
    }
    mark(l);
  }
  auto write = [&](entry_type type, micros amount, lot_parts& ps, const char* reason) {
    entry& e = append_entry(type, acct, amount, now);
    e.hold_id = h.id;
    e.parts = std::move(ps);
    e.operation = h.operation;
    e.reference = h.reference;
    e.reason = reason;
    e.balance_after = available_now(acct, now);
  };
  // A release command always records the release, even of nothing.
  if (returned_total > 0 || (lost_expired.empty() && lost_voided.empty())) {
    write(entry_type::release, returned_total, returned, expiry ? "hold expired" : "");
  }
  if (expired_total > 0)
    write(entry_type::expire, expired_total, lost_expired, "lot expired while held");
  if (voided_total > 0)
    write(entry_type::void_lot, voided_total, lost_voided, "lot voided while held");
}

namespace {
void close_hold(account& acct, hold& h, hold_status status, time_us at) {
  h.status = status;
  h.closed_at = at;
  acct.held -= h.amount;
  auto it = std::find(acct.open_holds.begin(), acct.open_holds.end(), &h);
  CREDITD_ASSERT(it != acct.open_holds.end());
  acct.open_holds.erase(it);
}
}  // namespace

result<const hold*> ledger::capture(object_id hold_id, std::optional<micros> amount, time_us now) {
  command_mark_ = pending_.entries.size();
  auto it = holds_.find(hold_id);
  if (it == holds_.end()) return fail(errc::hold_not_found);
  hold& h = it->second;
  account& acct = *const_cast<account*>(h.owner);
  balance_watch watch(*this, &acct, now);
  settle(acct, now);
  if (h.status != hold_status::open) return fail(errc::hold_not_open, "the hold is not open");
  const micros take_amount = amount.value_or(h.amount);
  if (take_amount < 0) return fail(errc::invalid_argument, "amount must not be negative");
  if (take_amount > h.amount)
    return fail(errc::invalid_argument, "amount is more than the hold holds");

  lot_parts captured, rest;
  micros left = take_amount;
  for (const lot_part& part : h.parts) {
    const micros x = std::min(left, part.amount);
    left -= x;
    if (x > 0) {
      captured.push_back({part.lot, x});
      if (part.lot != postpaid_lot_id) {
        lot& l = lots_.at(part.lot);
        l.held -= x;
        l.spent += x;
        mark(l);
      }
    }
    if (part.amount > x) rest.push_back({part.lot, part.amount - x});
  }
  const object_id charge_id = next_object_id_++;
  close_hold(acct, h, hold_status::captured, now);
  closed_holds_.push_back(h.id);
  --open_holds_total_;
  h.captured = take_amount;
  h.charge_id = charge_id;
  mark(h);

  charge_record& c = charges_[charge_id];
  charge_order_.push_back(charge_id);
  c.id = charge_id;
  c.owner = &acct;
  c.amount = take_amount;
  c.created_at = now;
  c.hold_id = h.id;
  c.postpaid_period = h.postpaid_period;
  for (const lot_part& part : captured)
    c.parts.push_back({part.lot, part.amount, 0});
  mark(c);

  entry& e = append_entry(entry_type::capture, acct, take_amount, now);
  e.hold_id = h.id;
  e.charge_id = charge_id;
  e.parts = std::move(captured);
  e.operation = h.operation;
  e.dimensions = h.dimensions;
  e.reference = h.reference;
  e.quantity = h.quantity;
  e.metadata = h.metadata;
  e.price_id = h.price_id;
  e.unit_amount = h.unit_amount;
  e.balance_after = available_now(acct, now);
  if (!rest.empty()) return_held(h, rest, now, /*expiry=*/false);
  check_topup(acct, now);
  paranoid_check(acct);
  return &h;
}

result<const hold*> ledger::release(object_id hold_id, time_us now) {
  command_mark_ = pending_.entries.size();
  auto it = holds_.find(hold_id);
  if (it == holds_.end()) return fail(errc::hold_not_found);
  hold& h = it->second;
  account& acct = *const_cast<account*>(h.owner);
  balance_watch watch(*this, &acct, now);
  settle(acct, now);
  if (h.status != hold_status::open) return fail(errc::hold_not_open, "the hold is not open");
  close_hold(acct, h, hold_status::released, now);
  closed_holds_.push_back(h.id);
  --open_holds_total_;
  mark(h);
  return_held(h, h.parts, now, /*expiry=*/false);
  check_topup(acct, now);
  paranoid_check(acct);
  return &h;
}

// ---------------------------------------------------------------- refunds and adjustments

result<refund_result> ledger::refund(const refund_cmd& cmd, time_us now) {
  command_mark_ = pending_.entries.size();
  auto it = charges_.find(cmd.charge_id);
  if (it == charges_.end()) return fail(errc::charge_not_found);
  charge_record& c = it->second;
  account& acct = *const_cast<account*>(c.owner);
  balance_watch watch(*this, &acct, now);
  if (cmd.reason.size() > limits::reason_length_max)
    return fail(errc::invalid_argument, "reason is longer than 1024 bytes");
  const micros left = c.amount - c.refunded;
  if (left == 0) return fail(errc::nothing_to_refund, "the charge is fully refunded");
  const micros amount = cmd.amount.value_or(left);
  if (amount <= 0) return fail(errc::invalid_argument, "amount must be positive");
  if (amount > left) return fail(errc::refund_too_large, "amount is more than is left to refund");
  for (const charge_part& p : c.parts) {
    // A lot forgotten (ledger::forget_dead_lots) must be admitted first.
    if (p.lot != postpaid_lot_id && !lots_.contains(p.lot))
      return fail(errc::lot_not_found, "a lot of the charge is not in memory");
  }
  settle(acct, now);
  // A refund may open new lots (when the charged lots are gone); keep the
  // account's active lots bounded so its sums cannot overflow.
  if (acct.active_lots.size() + c.parts.size() > 2 * limits::active_lots_per_account_max) {
    return fail(errc::limit_exceeded, "the account has too many active lots to refund into");
  }

  refund_result out;
  out.refund_id = next_object_id_++;
  out.original = &c;
  out.amount = amount;
  lot_parts born_expired;
  micros born_expired_total = 0;
  micros r = amount;
  for (auto part = c.parts.rbegin(); part != c.parts.rend() && r > 0; ++part) {
    const micros x = std::min(r, part->amount - part->refunded);
    if (x == 0) continue;
    r -= x;
    part->refunded += x;
    if (part->lot == postpaid_lot_id) {
      if (acct.postpaid_period == c.postpaid_period) {
        acct.postpaid_used -= std::min(x, acct.postpaid_used);
        mark(acct);
      }
      out.parts.push_back({postpaid_lot_id, x});
      continue;
    }
    lot& l = lots_.at(part->lot);
    const bool alive =
        (l.status == lot_status::active || l.status == lot_status::depleted) && now < l.expires_at;
    if (alive) {
      l.spent -= x;
      l.remaining += x;
      if (l.status == lot_status::depleted) revive(acct, l, now);
      mark(l);
      out.parts.push_back({l.id, x});
    } else {
      // The lot is gone: a new lot with the old lot's expiry receives the credits.
      grant_cmd g;
      g.amount = x;
      g.kind = l.kind;
      g.expires_at =
          l.expires_at == no_expiry ? std::nullopt : std::optional<time_us>(l.expires_at);
      g.priority = l.priority;
      g.scope = l.scope;
      g.source = "refund";
      g.reason = format_id(id_kind::charge, c.id);
      g.currency = l.currency;
      lot& fresh = new_lot(acct, g, now);
      out.parts.push_back({fresh.id, x});
      if (fresh.status == lot_status::expired) {
        born_expired.push_back({fresh.id, x});
        born_expired_total += x;
      }
    }
  }
  CREDITD_ASSERT(r == 0);
  c.refunded += amount;
  mark(c);
  entry& e = append_entry(entry_type::refund, acct, amount, now);
  e.charge_id = c.id;
  e.refund_id = out.refund_id;
  e.hold_id = c.hold_id;
  e.parts = out.parts;
  e.reason = cmd.reason;
  e.balance_after = available_now(acct, now);
  if (born_expired_total > 0) {
    entry& x = append_entry(entry_type::expire, acct, born_expired_total, now);
    x.charge_id = c.id;
    x.refund_id = out.refund_id;
    x.parts = std::move(born_expired);
    x.reason = "refunded into a lot past its expiry";
    x.balance_after = available_now(acct, now);
  }
  check_topup(acct, now);
  paranoid_check(acct);
  return out;
}

result<std::uint64_t> ledger::adjust(const adjust_cmd& cmd, time_us now) {
  command_mark_ = pending_.entries.size();
  account* acct = find_mut(cmd.account);
  if (acct == nullptr) return fail(errc::account_not_found);
  balance_watch watch(*this, acct, now);
  if (cmd.amount == 0 || cmd.amount > amount_micros_max || cmd.amount < -amount_micros_max) {
    return fail(errc::invalid_argument, "amount must be a non-zero amount");
  }
  if (cmd.reason.empty()) return fail(errc::invalid_argument, "reason is required");
  if (cmd.reason.size() > limits::reason_length_max)
    return fail(errc::invalid_argument, "reason is longer than 1024 bytes");
  settle(*acct, now);
  if (cmd.amount > 0) {
    if (acct->active_lots.size() >= limits::active_lots_per_account_max) {
      return fail(errc::limit_exceeded, "the account has 1000 active lots already");
    }
    grant_cmd g;
    g.amount = cmd.amount;
    g.kind = lot_kind::prepaid;
    g.source = "adjustment";
    g.reason = cmd.reason;
    lot& l = new_lot(*acct, g, now);
    entry& e = append_entry(entry_type::adjust, *acct, cmd.amount, now);
    e.lot_id = l.id;
    e.parts.push_back({l.id, cmd.amount});
    e.reason = cmd.reason;
    e.balance_after = available_now(*acct, now);
    check_topup(*acct, now);
    paranoid_check(*acct);
    return e.seq;
  }
  const micros debit = -cmd.amount;
  const micros total = lots_spendable(*acct, now, {}, /*scoped=*/false);
  if (debit > total) {
    error e = make_error(errc::insufficient_credits,
                         "a debit cannot take more than the remaining credits");
    e.reason = refusal_reason::balance;
    e.available = total;
    e.required = debit;
    return std::unexpected(e);
  }
  entry& e = append_entry(entry_type::adjust, *acct, cmd.amount, now);
  micros left = debit;
  for (lot* l : acct->active_lots) {
    if (left == 0) break;
    if (!l->spendable_at(now) || l->remaining == 0) continue;
    const micros x = std::min(left, l->remaining);
    l->remaining -= x;
    l->voided += x;
    left -= x;
    if (l->remaining == 0) l->status = lot_status::depleted;
    e.parts.push_back({l->id, x});
    mark(*l);
  }
  std::erase_if(acct->active_lots, [](const lot* l) { return l->status != lot_status::active; });
  e.reason = cmd.reason;
  e.balance_after = available_now(*acct, now);
  check_topup(*acct, now);
  paranoid_check(*acct);
  return e.seq;
}

// ---------------------------------------------------------------- events

void ledger::refused_event(account& acct, const error& e, std::string_view operation, micros amount,
                           time_us now) {
  if (e.code != errc::insufficient_credits || e.reason == refusal_reason::none) return;
  const auto reason = static_cast<std::size_t>(e.reason) - 1;
  CREDITD_ASSERT(reason < acct.refused_event_s.size());
  // Seconds since the epoch, as 32 bits (until 2106; instants outside
  // 1970..2106 share its ends, which only makes sampling coarser there).
  const std::int64_t s = std::clamp<std::int64_t>(now / us_per_second, 1, UINT32_MAX);
  std::uint32_t& last = acct.refused_event_s[reason];
  if (last != 0 && s - last < limits::charge_refused_event_interval_seconds) return;
  last = static_cast<std::uint32_t>(s);
  event& ev = append_event(event_type::charge_refused, acct, now);
  event_data(ev.data)
      .text("reason", to_string(e.reason))
      .text("operation", operation)
      .amount("amount", amount)
      .amount("available", e.available)
      .close();
}

void ledger::endpoint_disabled(std::string_view endpoint, std::string_view reason, time_us now) {
  note_time(now);
  event& ev = pending_.events.emplace_back();
  ev.seq = next_event_seq_++;
  ev.type = event_type::webhook_endpoint_disabled;
  ev.owner = nullptr;
  ev.created_at = now;
  event_data(ev.data).text("endpoint", endpoint).text("disabled_reason", reason).close();
}

// ---------------------------------------------------------------- idempotency

void ledger::idempotency_remember(idempotency_record record) {
  pending_.idempotency_added.push_back(idempotency_.remember(std::move(record)));
}

void ledger::idempotency_forget_before(time_us cutoff) {
  const std::size_t forgotten = idempotency_.forget_before(cutoff);
  // The store deletes by age, whatever it holds. The first expiry after a
  // load also removes rows left past the window before a restart (never
  // loaded); after it, a commit is needed only when a record expired.
  if (forgotten == 0 && idempotency_expired_once_) return;
  idempotency_expired_once_ = true;
  pending_.idempotency_expired_before = std::max(pending_.idempotency_expired_before, cutoff);
}

}  // namespace creditd::ledger
