// Time-driven work: lot and hold expiry, renewals and lot.expiring_soon
// notices, applied in time order.
#include <algorithm>

#include "ledger/ledger.hpp"
#include "util/assert.hpp"

namespace creditd::ledger {

void ledger::add_due(time_us at, object_id id, account* sub_owner, bool notice) {
  due_.push(due_item{at, id, sub_owner, notice});
  if (due_.size() >= due_compact_at_) {
    due_.keep_if([this](const due_item& x) { return due_live(x); });
    due_compact_at_ = std::max(due_compact_min, 2 * due_.size());
  }
}

bool ledger::due_live(const due_item& item) const {
  if (item.id == 0) return subscription_due(item.sub_owner->sub) == item.at;
  if (auto l = lots_.find(item.id); l != lots_.end()) {
    const lot& x = l->second;
    if (item.notice)
      return x.status == lot_status::active && x.remaining > 0 && notice_at(x) == item.at;
    return x.status == lot_status::active && x.expires_at == item.at;
  }
  if (auto h = holds_.find(item.id); h != holds_.end())
    return h->second.status == hold_status::open && h->second.expires_at == item.at;
  return false;
}

time_us ledger::next_due() const {
  // Stale items (captured holds, voided lots) may sit on top; they only make
  // the answer early, never late, and run_due skips them.
  return due_.empty() ? no_expiry : due_.top().at;
}

time_us ledger::subscription_due(const subscription* sub) {
  if (sub == nullptr) return no_expiry;
  switch (sub->status) {
    case subscription_status::pending:
      return sub->start_at;
    case subscription_status::active:
      return sub->period_end;
    case subscription_status::canceled:
      return no_expiry;
  }
  return no_expiry;
}

void ledger::recompute_next_due(account& acct) {
  time_us next = subscription_due(acct.sub);
  for (const lot* l : acct.active_lots)
    next = std::min(next, l->expires_at);
  for (const hold* h : acct.open_holds)
    next = std::min(next, h->expires_at);
  acct.next_due = next;
}

void ledger::expire_lot(lot& l, time_us at) {
  account& acct = *const_cast<account*>(l.owner);
  const micros lost = l.remaining;
  remove_active(acct, &l);
  l.expired += lost;
  l.remaining = 0;
  l.status = lot_status::expired;
  mark(l);
  entry& e = append_entry(entry_type::expire, acct, lost, at);
  e.lot_id = l.id;
  e.parts.push_back({l.id, lost});
  e.balance_after = available_now(acct, at);
  if (lost > 0) {
    event& ev = append_event(event_type::lot_expired, acct, at);
    event_data(ev.data).id("lot", id_kind::lot, l.id).amount("amount", lost).close();
  }
}

void ledger::expire_hold(hold& h, time_us at) {
  account& acct = *const_cast<account*>(h.owner);
  h.status = hold_status::expired;
  closed_holds_.push_back(h.id);
  h.closed_at = at;
  acct.held -= h.amount;
  std::erase(acct.open_holds, &h);
  --open_holds_total_;
  mark(h);
  return_held(h, h.parts, at, /*expiry=*/true);
  event& ev = append_event(event_type::hold_expired, acct, at);
  event_data d(ev.data);
  d.id("hold", id_kind::hold, h.id).amount("amount", h.amount).text("operation", h.operation);
  d.close();
}

void ledger::settle(account& acct, time_us now, bool topup) {
  watch_available(acct, now);
  bool applied_any = false;
  while (acct.next_due <= now) {
    const time_us at = acct.next_due;
    // The subscription first: its renewal expires the period's allowance
    // itself, carrying over what the plan allows before the lot is gone.
    if (subscription_due(acct.sub) == at) renew(acct, at);
    // Lots next: a lot that expires at the same instant as a hold on it
    // loses its remaining now, and the hold's credits on it when they return.
    std::vector<lot*> lots;
    for (lot* l : acct.active_lots) {
      if (l->expires_at == at) lots.push_back(l);
    }
    for (lot* l : lots)
      expire_lot(*l, at);
    std::vector<hold*> holds;
    for (hold* h : acct.open_holds) {
      if (h->expires_at == at) holds.push_back(h);
    }
    for (hold* h : holds)
      expire_hold(*h, at);
    recompute_next_due(acct);
    CREDITD_ASSERT(acct.next_due > at);
    applied_any = true;
  }
  // Automatic top-up looks at the balance now, once: never at the past
  // instants a catch-up goes through (a lot granted later would not count).
  if (applied_any && topup) check_topup(acct, now);
}

std::size_t ledger::run_due(time_us now, std::size_t items_max) {
  std::size_t applied = 0;
  // Stale items count against the step too (a step pops at most this many),
  // so that a step stays bounded whatever was closed before its time.
  const std::size_t pops_max = items_max > SIZE_MAX / 4 ? SIZE_MAX : items_max * 4;
  std::size_t pops = 0;
  while (!due_.empty() && due_.top().at <= now && applied < items_max && pops < pops_max) {
    const due_item item = due_.top();
    due_.pop();
    ++pops;
    // The same item twice (a notice queued again after a settings change
    // and back): applied once.
    while (!due_.empty() && due_.top().same(item))
      due_.pop();
    if (!due_live(item)) continue;  // stale: already closed or expired on touch
    account* owner = item.sub_owner;
    if (item.id != 0) {
      auto l = lots_.find(item.id);
      owner = const_cast<account*>(l != lots_.end() ? l->second.owner : holds_.at(item.id).owner);
    }
    {
      // Everything of this account due before `item.at` was popped already,
      // so this applies exactly what is due at `item.at`; its events carry
      // that instant.
      balance_watch watch(*this, owner, item.at);
      settle(*owner, item.at, /*topup=*/false);
      if (item.notice) {
        const lot& l = lots_.at(item.id);
        CREDITD_ASSERT(l.status == lot_status::active && l.expires_at > item.at);
        event& ev = append_event(event_type::lot_expiring_soon, *owner, item.at);
        event_data(ev.data)
            .id("lot", id_kind::lot, l.id)
            .amount("amount", l.remaining)
            .time("expires_at", l.expires_at)
            .close();
        notices_until_ = std::max(notices_until_, item.at);
        pending_.notices_until = notices_until_;
      }
    }
    {
      // Top-up looks at the balance at `now`, not at the item's past instant.
      balance_watch watch(*this, owner, now);
      check_topup(*owner, now);
    }
    paranoid_check(*owner);
    ++applied;
  }
  return applied;
}

}  // namespace creditd::ledger
