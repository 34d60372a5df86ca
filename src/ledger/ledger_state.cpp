// Reads, change tracking, savepoints, consistency checks and loading.
#include <algorithm>
#include <array>
#include <string>
#include <type_traits>

#include "ledger/ledger.hpp"
#include "ledger/limits.hpp"
#include "util/assert.hpp"

namespace creditd::ledger {

// Each stage asks for what the one before brought in, for every id at once:
// the misses of a stage overlap, where a lookup per id would wait for each
// of its own in turn (slot, account, its list of active lots, the lot).
void ledger::prefetch_accounts(std::span<const std::string_view> ids) const {
  std::array<std::size_t, prefetch_batch_max> hashes;
  std::array<const account*, prefetch_batch_max> found;
  const std::size_t n = std::min(ids.size(), prefetch_batch_max);
  for (std::size_t i = 0; i < n; ++i) {
    hashes[i] = account_index::hash(ids[i]);
    if (const void* slot = account_index_.slot_address(hashes[i])) __builtin_prefetch(slot);
  }
  for (std::size_t i = 0; i < n; ++i) {
    // By hash alone: reading the account to compare ids would wait for it.
    found[i] = ids[i].empty() ? nullptr : account_index_.candidate(hashes[i]);
    if (found[i] == nullptr) continue;
    const char* p = reinterpret_cast<const char*>(found[i]);
    for (std::size_t off = 0; off < sizeof(account); off += 64)
      __builtin_prefetch(p + off);
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (found[i] != nullptr && !found[i]->active_lots.empty())
      __builtin_prefetch(found[i]->active_lots.data());
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (found[i] == nullptr || found[i]->active_lots.empty()) continue;
    const char* q = reinterpret_cast<const char*>(found[i]->active_lots.front());
    for (std::size_t off = 0; off < sizeof(lot); off += 64)
      __builtin_prefetch(q + off);
  }
}

const account* ledger::find_account(std::string_view id) const {
  return account_index_.find(id);
}
const lot* ledger::find_lot(object_id id) const {
  auto it = lots_.find(id);
  return it == lots_.end() ? nullptr : &it->second;
}
const hold* ledger::find_hold(object_id id) const {
  auto it = holds_.find(id);
  return it == holds_.end() ? nullptr : &it->second;
}
const charge_record* ledger::find_charge(object_id id) const {
  auto it = charges_.find(id);
  return it == charges_.end() ? nullptr : &it->second;
}

hold_status ledger::hold_status_at(const hold& h, time_us now) const {
  if (h.status == hold_status::open && now >= h.expires_at) return hold_status::expired;
  return h.status;
}

balance_view ledger::balance(const account& acct, time_us now) const {
  balance_view b;
  for (const lot* l : acct.active_lots) {
    if (l->spendable_at(now)) b.lots_remaining += l->remaining;
  }
  b.held = acct.held;
  micros postpaid_used = 0;
  if (acct.postpaid_used != 0 && acct.postpaid_period == month_index(now)) {
    postpaid_used = acct.postpaid_used;
  }
  if (acct.next_due <= now) {
    // Holds past their expiry whose release is not written yet: count their
    // credits as returned to the lots that are still alive.
    for (const hold* h : acct.open_holds) {
      if (h->expires_at > now) continue;
      b.held -= h->amount;
      for (const lot_part& part : h->parts) {
        if (part.lot == postpaid_lot_id) {
          if (h->postpaid_period == acct.postpaid_period && postpaid_used > 0) {
            postpaid_used -= std::min(part.amount, postpaid_used);
          }
          continue;
        }
        const lot& l = lots_.at(part.lot);
        const bool alive = (l.status == lot_status::active || l.status == lot_status::depleted) &&
                           l.effective_at <= now && now < l.expires_at;
        if (alive) b.lots_remaining += part.amount;
      }
    }
  }
  b.reserve = acct.settings.reserve;
  b.postpaid_used = postpaid_used;
  b.available = std::max<micros>(0, b.lots_remaining - b.reserve);
  if (acct.settings.postpaid_limit > 0) {
    b.available += std::max<micros>(0, acct.settings.postpaid_limit - postpaid_used);
  }
  return b;
}

entry& ledger::append_entry(entry_type type, account& acct, micros amount, time_us now) {
  entry& e = pending_.entries.emplace_back();
  e.seq = next_seq_++;
  e.type = type;
  e.owner = &acct;
  e.amount = amount;
  e.created_at = now;
  return e;
}

// ---------------------------------------------------------------- events

event& ledger::append_event(event_type type, account& acct, time_us at) {
  event& ev = pending_.events.emplace_back();
  ev.seq = next_event_seq_++;
  ev.type = type;
  ev.owner = &acct;
  ev.created_at = at;
  return ev;
}

void ledger::balance_events(account& acct, time_us at, std::size_t mark) {
  if (acct.events_available < 0) {
    // Not known before (a new account, or the first command after a load
    // that refused before settling): from here on.
    acct.events_available = available_now(acct, at);
    return;
  }
  // Nothing journaled: available did not move (a refusal, a read, a
  // setting that is not the reserve or the postpaid limit).
  if (pending_.entries.size() <= mark) return;
  // The last entry's balance_after is available after it, when it is this
  // account's at this instant (nearly always: no second balance scan).
  const entry& last = pending_.entries.back();
  const micros after =
      last.owner == &acct && last.created_at == at ? last.balance_after : available_now(acct, at);
#ifdef CREDITD_PARANOID_CHECKS
  CREDITD_ASSERT(after == available_now(acct, at));
#endif
  const micros before = acct.events_available;
  acct.events_available = after;
  balance_crossings(before, after, acct.settings.low_balance_thresholds,
                    [&](event_type type, micros threshold) {
                      event& ev = append_event(type, acct, at);
                      event_data d(ev.data);
                      d.amount("available_before", before).amount("available_after", after);
                      if (type == event_type::balance_low) d.amount("threshold", threshold);
                      d.close();
                    });
}

time_us ledger::notice_at(const lot& l) {
  const std::int64_t days = l.owner->settings.expiring_soon_days;
  if (days <= 0 || l.expires_at == no_expiry) return no_expiry;
  return l.expires_at - days * us_per_day;
}

void ledger::schedule_notice(const lot& l, time_us after) {
  const time_us at = notice_at(l);
  if (at == no_expiry || at <= after || at <= notices_until_) return;
  add_due(at, l.id, nullptr, /*notice=*/true);
}

// ---------------------------------------------------------------- change tracking

void ledger::mark(account& a) {
  if (a.dirty_epoch != epoch_) {
    a.dirty_epoch = epoch_;
    dirty_accounts_.push_back(&a);
  }
}
void ledger::mark(lot& l) {
  if (l.dirty_epoch != epoch_) {
    l.dirty_epoch = epoch_;
    dirty_lots_.push_back(&l);
  }
  // Spent, expired or voided: forgotten once durable (a lot that comes back
  // to life is skipped then; one marked twice is listed twice).
  if (l.status != lot_status::active) dead_lots_.push_back(l.id);
}
void ledger::mark(hold& h) {
  if (h.dirty_epoch != epoch_) {
    h.dirty_epoch = epoch_;
    dirty_holds_.push_back(&h);
  }
}
void ledger::mark(charge_record& c) {
  if (c.dirty_epoch != epoch_) {
    c.dirty_epoch = epoch_;
    dirty_charges_.push_back(&c);
  }
}

change_set ledger::take_changes() {
  change_set out = std::move(pending_);
  pending_ = change_set{};
  command_mark_ = 0;
  pending_.entries.reserve(out.entries.size());
  out.accounts.reserve(dirty_accounts_.size());
  for (const account* a : dirty_accounts_) {
    out.accounts.push_back(account_row{a->id, a->name, a->settings, a->created_at, a->updated_at,
                                       a->postpaid_used, a->postpaid_period, a->topup});
  }
  out.lots.reserve(dirty_lots_.size());
  for (const lot* l : dirty_lots_)
    out.lots.push_back(*l);
  out.holds.reserve(dirty_holds_.size());
  for (const hold* h : dirty_holds_)
    out.holds.push_back(*h);
  out.charges.reserve(dirty_charges_.size());
  for (const charge_record* c : dirty_charges_)
    out.charges.push_back(*c);
  out.next_object_id = next_object_id_;
  out.next_seq = next_seq_;
  dirty_accounts_.clear();
  dirty_lots_.clear();
  dirty_holds_.clear();
  dirty_charges_.clear();
  measured_ = {};
  ++epoch_;
  return out;
}

namespace {

// What a row's size in memory leaves out of its encoding: its owner's id (at
// most account_id_length_max), its integers as varints (up to 10 bytes where
// memory holds 8) and its enums by name.
constexpr std::size_t row_margin = limits::account_id_length_max + 128;
// A part of an entry, hold or charge (a lot and the credits taken from it):
// past the two a row holds inline they live on the heap, and each is
// encoded (its lot's id and amounts as varints).
constexpr std::size_t part_bytes = 48;
// A catalog, subscription or purchase row: short texts (names, ids), a
// price's dimensions (at most 32 of 64 + 256 bytes) the longest, at most
// this much.
constexpr std::size_t catalog_row_bytes = 16384;

std::size_t row_bytes(const entry& e) {
  return sizeof e + row_margin + e.parts.size() * part_bytes + e.operation.size() +
         e.dimensions.size() + e.reference.size() + e.reason.size() + e.metadata.size() +
         e.price_id.size();
}
std::size_t row_bytes(const event& ev) {
  return sizeof ev + row_margin + ev.data.size();
}
std::size_t row_bytes(const idempotency_record& r) {
  return sizeof r + row_margin + r.key.size() + r.fingerprint.size() + r.body.size();
}
std::size_t row_bytes(const account& a) {
  std::size_t n = sizeof(account_row) + row_margin + a.id.size() + a.name.size() +
                  a.settings.low_balance_thresholds.size() * 10;
  if (a.settings.auto_topup) n += a.settings.auto_topup->package.size();
  return n;
}
std::size_t row_bytes(const lot& l) {
  std::size_t n = sizeof l + row_margin + l.source.size() + l.reason.size() + l.currency.size();
  for (const std::string& op : l.scope)
    n += op.size() + 10;
  return n;
}
std::size_t row_bytes(const hold& h) {
  return sizeof h + row_margin + h.parts.size() * part_bytes + h.operation.size() +
         h.dimensions.size() + h.reference.size() + h.metadata.size() + h.price_id.size();
}
std::size_t row_bytes(const charge_record& c) {
  return sizeof c + row_margin + c.parts.size() * part_bytes;
}

// Adds the rows of `rows` from `counted` on to `bytes` (a shorter `rows`,
// after a rollback, is counted from its new end on).
template <typename Rows>
void measure(const Rows& rows, std::size_t& counted, std::size_t& bytes) {
  counted = std::min(counted, rows.size());
  for (; counted < rows.size(); ++counted) {
    if constexpr (std::is_pointer_v<typename Rows::value_type>) {
      bytes += row_bytes(*rows[counted]);
    } else {
      bytes += row_bytes(rows[counted]);
    }
  }
}

}  // namespace

std::size_t ledger::pending_bytes() {
  measured_changes& m = measured_;
  measure(pending_.entries, m.entries, m.bytes);
  measure(pending_.events, m.events, m.bytes);
  measure(pending_.idempotency_added, m.idempotency, m.bytes);
  measure(dirty_accounts_, m.accounts, m.bytes);
  measure(dirty_lots_, m.lots, m.bytes);
  measure(dirty_holds_, m.holds, m.bytes);
  measure(dirty_charges_, m.charges, m.bytes);
  const std::size_t catalog = pending_.prices.size() + pending_.prices_deleted.size() +
                              pending_.packages.size() + pending_.plans.size() +
                              pending_.subscriptions.size() + pending_.purchases.size() +
                              pending_.periods.size();
  if (catalog > m.catalog) m.bytes += (catalog - m.catalog) * catalog_row_bytes;
  m.catalog = catalog;
  return m.bytes;
}

ledger::savepoint ledger::make_savepoint(account& acct) {
  savepoint sp{pending_.entries.size(),
               dirty_accounts_.size(),
               dirty_lots_.size(),
               dirty_holds_.size(),
               dirty_charges_.size(),
               pending_.events.size(),
               next_event_seq_,
               next_object_id_,
               next_seq_,
               &acct,
               {},
               acct.active_lots,
               acct.postpaid_used,
               acct.postpaid_period,
               acct.rate,
               acct.dirty_epoch};
  sp.lot_copies.reserve(acct.active_lots.size());
  for (const lot* l : acct.active_lots)
    sp.lot_copies.push_back(*l);
  return sp;
}

void ledger::rollback(savepoint& sp) {
  account& acct = *sp.acct;
  for (lot& copy : sp.lot_copies)
    lots_.at(copy.id) = std::move(copy);
  acct.active_lots = std::move(sp.active_lots);
  acct.postpaid_used = sp.postpaid_used;
  acct.postpaid_period = sp.postpaid_period;
  acct.rate = sp.rate;
  acct.dirty_epoch = sp.acct_dirty_epoch;
  for (object_id id = sp.next_object_id; id < next_object_id_; ++id)
    charges_.erase(id);
  while (!charge_order_.empty() && charge_order_.back() >= sp.next_object_id)
    charge_order_.pop_back();
  pending_.entries.resize(sp.entries);
  pending_.events.resize(sp.events);
  next_event_seq_ = sp.next_event_seq;
  dirty_accounts_.resize(sp.accounts);
  dirty_lots_.resize(sp.lots);
  dirty_holds_.resize(sp.holds);
  dirty_charges_.resize(sp.charges);
  next_object_id_ = sp.next_object_id;
  next_seq_ = sp.next_seq;
}

// ---------------------------------------------------------------- charges kept

std::size_t ledger::forget_charges(std::uint64_t durable_epoch, std::size_t keep,
                                   std::size_t items_max) {
  std::size_t visited = 0, forgotten = 0;
  while (charges_.size() > keep && visited < items_max && !charge_order_.empty()) {
    ++visited;
    const object_id id = charge_order_.front();
    auto it = charges_.find(id);
    CREDITD_ASSERT(it != charges_.end());
    if (it->second.dirty_epoch > durable_epoch) break;
    charge_order_.pop_front();
    if (pinned(id)) {
      charge_order_.push_back(id);  // a request is reading it: kept
      continue;
    }
    charges_.erase(it);
    ++forgotten;
  }
  return forgotten;
}

std::size_t ledger::forget_closed_holds(std::uint64_t durable_epoch, std::size_t keep,
                                        std::size_t items_max) {
  std::size_t forgotten = 0;
  while (closed_holds_.size() > keep && forgotten < items_max) {
    auto it = holds_.find(closed_holds_.front());
    CREDITD_ASSERT(it != holds_.end() && it->second.status != hold_status::open);
    if (it->second.dirty_epoch > durable_epoch) break;
    holds_.erase(it);
    closed_holds_.pop_front();
    ++forgotten;
  }
  return forgotten;
}

std::size_t ledger::forget_dead_lots(std::uint64_t durable_epoch, std::size_t keep,
                                     std::size_t items_max) {
  std::size_t visited = 0, forgotten = 0;
  while (dead_lots_.size() > keep && visited < items_max) {
    ++visited;
    const object_id id = dead_lots_.front();
    auto it = lots_.find(id);
    if (it == lots_.end() || it->second.status == lot_status::active) {
      dead_lots_.pop_front();  // forgotten already, or alive again
      continue;
    }
    lot& l = it->second;
    if (l.dirty_epoch > durable_epoch) break;
    dead_lots_.pop_front();
    if (l.held != 0 || pinned(id)) {
      dead_lots_.push_back(id);  // an open hold holds credits of it, or a request reads it
      continue;
    }
    account& a = *const_cast<account*>(l.owner);
    std::erase(a.lots, &l);
    lots_.erase(it);
    ++forgotten;
  }
  return forgotten;
}

std::size_t ledger::forget_external_ids(std::uint64_t durable_epoch, std::size_t keep,
                                        std::size_t items_max) {
  std::size_t visited = 0, forgotten = 0;
  while (external_ids_.size() > keep && visited < items_max && !external_order_.empty()) {
    ++visited;
    const std::string* id = external_order_.front();
    auto it = external_ids_.find(*id);
    CREDITD_ASSERT(it != external_ids_.end() && &it->first == id);
    if (it->second > durable_epoch) break;
    external_order_.pop_front();
    if (external_pins_.contains(*id)) {
      external_order_.push_back(id);  // a request is looking it up: kept
      continue;
    }
    external_ids_.erase(it);
    ++forgotten;
  }
  return forgotten;
}

void ledger::pin_external_id(std::string_view id) {
  auto it = external_pins_.find(id);
  if (it == external_pins_.end()) it = external_pins_.emplace(std::string(id), 0).first;
  ++it->second;
}

void ledger::unpin_external_id(std::string_view id) {
  auto it = external_pins_.find(id);
  if (it != external_pins_.end() && --it->second == 0) external_pins_.erase(it);
}

bool ledger::admit_lot(const lot& row, std::string_view account_id) {
  CREDITD_ASSERT(loaded_);
  if (lots_.contains(row.id)) return true;
  account* a = find_mut(account_id);
  // Only a lot that is not alive is ever forgotten.
  if (a == nullptr || row.status == lot_status::active || row.held != 0) return false;
  auto [it, inserted] = lots_.try_emplace(row.id, row);
  CREDITD_ASSERT(inserted);
  lot& l = it->second;
  l.owner = a;
  l.dirty_epoch = 0;
  a->lots.insert(std::upper_bound(a->lots.begin(), a->lots.end(), &l,
                                  [](const lot* x, const lot* y) { return x->id < y->id; }),
                 &l);
  dead_lots_.push_back(l.id);
  return true;
}

bool ledger::admit_charge(const charge_record& row, std::string_view account_id) {
  CREDITD_ASSERT(loaded_);
  account* a = find_mut(account_id);
  if (a == nullptr) return false;
  auto [it, inserted] = charges_.try_emplace(row.id, row);
  if (!inserted) return true;
  it->second.owner = a;
  it->second.dirty_epoch = 0;
  charge_order_.push_back(row.id);
  return true;
}

// ---------------------------------------------------------------- checks

void ledger::paranoid_check(const account& acct) const {
#ifdef CREDITD_PARANOID_CHECKS
  const std::string problem = check_account(acct);
  if (!problem.empty()) {
    std::fprintf(stderr, "creditd: ledger inconsistent: %s\n", problem.c_str());
    std::abort();
  }
#else
  (void)acct;
#endif
}

std::string ledger::check_account(const account& acct) const {
  auto say = [&](const std::string& what) { return "account " + acct.id + ": " + what; };
  std::unordered_map<object_id, micros> held_by_lot;
  micros held_total = 0;
  for (const hold* h : acct.open_holds) {
    if (h->status != hold_status::open) return say("a closed hold is listed as open");
    micros sum = 0;
    for (const lot_part& p : h->parts) {
      if (p.amount < 0) return say("a hold part is negative");
      sum += p.amount;
      if (p.lot != postpaid_lot_id) held_by_lot[p.lot] += p.amount;
    }
    if (sum != h->amount) return say("hold " + std::to_string(h->id) + " parts do not add up");
    held_total += h->amount;
  }
  if (held_total != acct.held) return say("held total disagrees with the open holds");
  std::size_t active = 0;
  for (const lot* l : acct.lots) {
    const std::string name = "lot " + std::to_string(l->id);
    if (l->owner != &acct) return say(name + " has another owner");
    if (l->remaining < 0 || l->held < 0 || l->spent < 0 || l->expired < 0 || l->voided < 0) {
      return say(name + " has a negative part");
    }
    if (l->remaining > l->amount) return say(name + " has more remaining than its amount");
    if (l->spent + l->held + l->expired + l->voided + l->remaining != l->amount) {
      return say(name + ": granted != spent + held + expired + voided + remaining");
    }
    const auto it = held_by_lot.find(l->id);
    if ((it == held_by_lot.end() ? 0 : it->second) != l->held) {
      return say(name + " held disagrees with the open holds");
    }
    if (l->status == lot_status::active) ++active;
    if (l->status == lot_status::depleted && l->remaining != 0)
      return say(name + " is depleted but has credits");
    if (l->status != lot_status::active && l->remaining != 0)
      return say(name + " is not active but has credits");
  }
  if (active != acct.active_lots.size()) return say("active lot list disagrees with lot states");
  for (std::size_t i = 0; i < acct.active_lots.size(); ++i) {
    const lot* l = acct.active_lots[i];
    if (l->status != lot_status::active) return say("a non-active lot is in the active list");
    if (i > 0) {
      const lot* p = acct.active_lots[i - 1];
      const bool ordered = p->priority != l->priority       ? p->priority < l->priority
                           : p->expires_at != l->expires_at ? p->expires_at < l->expires_at
                                                            : p->id < l->id;
      if (!ordered) return say("active lots are not in consumption order");
    }
  }
  if (acct.postpaid_used < 0) return say("postpaid_used is negative");
  return {};
}

std::string ledger::check_all() const {
  std::size_t open = 0;
  for (const auto& [id, acct] : accounts_) {
    std::string problem = check_account(acct);
    if (!problem.empty()) return problem;
    open += acct.open_holds.size();
  }
  if (open != open_holds_total_) return "open hold count disagrees with the accounts";
  for (const auto& [id, c] : charges_) {
    micros parts = 0, refunded = 0;
    for (const charge_part& p : c.parts) {
      if (p.refunded < 0 || p.refunded > p.amount)
        return "charge " + std::to_string(id) + " part refunded out of range";
      parts += p.amount;
      refunded += p.refunded;
    }
    if (parts != c.amount || refunded != c.refunded)
      return "charge " + std::to_string(id) + " parts do not add up";
  }
  return {};
}

// ---------------------------------------------------------------- loading

void ledger::restore_account(const account_row& row) {
  CREDITD_ASSERT(!loaded_);
  auto [it, inserted] = accounts_.try_emplace(row.id);
  CREDITD_ASSERT(inserted);
  account& a = it->second;
  account_index_.insert(account_index::hash(row.id), &a);
  a.id = row.id;
  a.name = row.name;
  a.settings = row.settings;
  a.created_at = row.created_at;
  a.updated_at = row.updated_at;
  a.postpaid_used = row.postpaid_used;
  a.postpaid_period = row.postpaid_period;
  a.topup = row.topup;
}

void ledger::restore_lot(const lot& row, std::string_view account_id) {
  CREDITD_ASSERT(!loaded_);
  account* a = find_mut(account_id);
  CREDITD_ASSERT(a != nullptr);
  lot& l = lots_[row.id] = row;
  l.owner = a;
  l.dirty_epoch = 0;
  a->lots.push_back(&l);
}

void ledger::restore_hold(const hold& row, std::string_view account_id) {
  CREDITD_ASSERT(!loaded_);
  account* a = find_mut(account_id);
  CREDITD_ASSERT(a != nullptr);
  hold& h = holds_[row.id] = row;
  h.owner = a;
  h.dirty_epoch = 0;
}

void ledger::restore_charge(const charge_record& row, std::string_view account_id) {
  CREDITD_ASSERT(!loaded_);
  account* a = find_mut(account_id);
  CREDITD_ASSERT(a != nullptr);
  auto [it, inserted] = charges_.insert_or_assign(row.id, row);
  if (inserted) charge_order_.push_back(row.id);
  it->second.owner = a;
  it->second.dirty_epoch = 0;
}

void ledger::restore_counters(object_id next_object_id, std::uint64_t next_seq) {
  next_object_id_ = next_object_id;
  next_seq_ = next_seq;
}

std::string ledger::finish_load() {
  CREDITD_ASSERT(!loaded_);
  loaded_ = true;
  for (auto& [id, a] : accounts_) {
    std::sort(a.lots.begin(), a.lots.end(),
              [](const lot* x, const lot* y) { return x->id < y->id; });
    for (lot* l : a.lots) {
      if (l->status == lot_status::active) {
        insert_active(a, l);
        if (l->expires_at != no_expiry) add_due(l->expires_at, l->id);
        // Its notice, unless it was granted inside its notice window (none
        // then) or the notice went out before the restart.
        schedule_notice(*l, l->created_at);
      } else {
        dead_lots_.push_back(l->id);  // loaded because an open hold holds credits of it
      }
    }
  }
  std::vector<hold*> open;
  for (auto& [id, h] : holds_) {
    if (h.status == hold_status::open) {
      open.push_back(&h);
    } else {
      closed_holds_.push_back(id);
    }
  }
  std::sort(closed_holds_.begin(), closed_holds_.end());
  std::sort(open.begin(), open.end(), [](const hold* x, const hold* y) { return x->id < y->id; });
  for (hold* h : open) {
    account& a = *const_cast<account*>(h->owner);
    a.open_holds.push_back(h);
    a.held += h->amount;
    add_due(h->expires_at, h->id);
    ++open_holds_total_;
  }
  for (auto& [id, a] : accounts_) {
    recompute_next_due(a);
    if (subscription_due(a.sub) != no_expiry) add_due(subscription_due(a.sub), 0, &a);
  }
  for (const auto& [id, p] : prices_)
    prices_by_operation_[p.operation].push_back(&p);
  for (const auto& [id, l] : lots_)
    next_object_id_ = std::max(next_object_id_, id + 1);
  for (const auto& [id, h] : holds_)
    next_object_id_ = std::max(next_object_id_, id + 1);
  for (const auto& [id, c] : charges_)
    next_object_id_ = std::max(next_object_id_, id + 1);
  std::sort(charge_order_.begin(), charge_order_.end());
  return check_all();
}

}  // namespace creditd::ledger
