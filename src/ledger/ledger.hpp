// The ledger: the pure domain core of creditd. It holds every account's live
// state in memory and applies commands to it; each command is all-or-nothing,
// takes the current time as an argument, and appends the journal entries it
// produces to a pending change log that `take_changes` hands to a store.
//
// No I/O, no clock reads, no threads. Not thread-safe: one writer owns it.
//
// Conservation, checked by `check_account` (always in tests, after every
// command when CREDITD_PARANOID_CHECKS is on): for every lot and so for every
// account, amount(granted) = spent + held + expired + voided + remaining.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <expected>
#include <map>
#include <optional>
#include <queue>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ledger/account_index.hpp"
#include "ledger/changes.hpp"
#include "ledger/error.hpp"
#include "ledger/events.hpp"
#include "ledger/idempotency.hpp"
#include "ledger/types.hpp"
#include "util/assert.hpp"

namespace creditd::ledger {

template <typename T>
using result = std::expected<T, error>;

struct account_cmd {
  std::string id;
  std::optional<std::string> name;
  std::optional<account_settings> settings;  // replaces the settings when present
};

struct grant_cmd {
  std::string account;
  micros amount = 0;  // > 0
  lot_kind kind = lot_kind::prepaid;
  std::optional<time_us> effective_at;   // default: now
  std::optional<time_us> expires_at;     // default: never
  std::optional<std::int32_t> priority;  // default: by kind
  std::vector<std::string> scope;
  std::string source = "manual";
  std::string reason;
  micros cost_basis = 0;
  std::string currency;
};

struct charge_cmd {
  std::string account;
  micros amount = 0;  // >= 0, the cost already priced
  std::string operation;
  std::string dimensions;  // canonical JSON object text or empty
  std::string reference;
  bool urgent = false;                  // may dip into the reserve
  micros quantity = micros_per_credit;  // > 0, recorded as given (default 1)
  std::string metadata;                 // the platform's JSON object text, or empty
  // Priced inside the command: amount = the matching price's unit_amount x
  // quantity (rounded half up), against the catalog the command sees.
  bool from_catalog = false;
  dimension_list dimension_values;  // the dimensions as pairs, for pricing (any order)
};

struct hold_cmd {
  std::string account;
  micros amount = 0;  // >= 0, the cost already priced
  std::string operation;
  std::string dimensions;
  std::string reference;
  bool urgent = false;
  std::int64_t ttl_seconds = 600;
  micros quantity = micros_per_credit;  // > 0, recorded as given (default 1)
  std::string metadata;                 // the platform's JSON object text, or empty
  bool from_catalog = false;            // as charge_cmd
  dimension_list dimension_values;
};

struct refund_cmd {
  object_id charge_id = 0;
  std::optional<micros> amount;  // default: all that is left
  std::string reason;
};

struct adjust_cmd {
  std::string account;
  micros amount = 0;  // signed, non-zero
  std::string reason;
};

struct account_result {
  const account* acct = nullptr;
  bool created = false;
};

template <typename T>
struct put_result {
  const T* value = nullptr;
  bool created = false;
};

struct purchase_result {
  purchase made;  // the purchase (a copy: purchases are not kept in memory)
  const lot* granted = nullptr;
  bool duplicate = false;  // the external_id was recorded before: nothing changed
};

struct quote_result {
  priced cost;
  bool affordable = false;
  micros available = 0;      // what this charge could spend (scope, reserve, urgency applied)
  micros balance_after = 0;  // the account's available after it (unchanged when not affordable)
  refusal_reason reason = refusal_reason::none;
};

struct refund_result {
  object_id refund_id = 0;
  const charge_record* original = nullptr;
  micros amount = 0;
  std::vector<lot_part> parts;  // where the credits went (new lots included)
};

class ledger {
 public:
  ledger() = default;
  ledger(const ledger&) = delete;
  ledger& operator=(const ledger&) = delete;
  ledger(ledger&&) = default;
  ledger& operator=(ledger&&) = default;

  // Forgets everything, as a new ledger: the engine reloads from its store
  // after a failed commit, dropping what the store does not hold.
  // The calendar stays.
  // The change epoch keeps counting across a reset: the engine's durable
  // mark stays below every new change. Pins are dropped (a request reading
  // what the ledger forgot finds it missing again and reads it again).
  void reset() {
    const calendar* c = calendar_;
    const std::uint64_t epoch = epoch_;
    const std::uint64_t resets = resets_ + 1;
    *this = ledger();
    calendar_ = c;
    epoch_ = epoch;
    resets_ = resets;
  }
  // How many resets this ledger has had: a request that pinned something
  // before a reset lost its pin (see pin_external_id).
  std::uint64_t resets() const { return resets_; }

  // ---- Commands. Each applies fully or not at all. Due lot and hold expiries
  // of the touched account are applied first (their entries stay either way).

  // Creates or updates an account. A change of the reserve or the postpaid
  // limit (from zero for a new account) writes a `settings` entry
  // (settings_entry.hpp); nothing else about an account is journaled.
  result<account_result> put_account(const account_cmd& cmd, time_us now);
  // Grants a lot: errors invalid_argument, account_not_found, limit_exceeded.
  result<const lot*> grant(const grant_cmd& cmd, time_us now);
  // Voids a lot's remaining credits: lot_not_found, lot_not_active.
  result<const lot*> void_lot(object_id lot_id, std::string_view reason, time_us now);
  // Takes `amount` now: account_not_found, invalid_argument,
  // insufficient_credits, rate_limited. Zero is a charge like any other: it
  // succeeds whatever the balance (no lots, a journal entry recording the
  // usage) and counts against the rate limit.
  result<const charge_record*> charge(const charge_cmd& cmd, time_us now);
  // Several charges on one account, all or none (same errors; limit_exceeded
  // beyond batch_charges_max). Every command must name the same account.
  result<std::vector<const charge_record*>> charge_batch(std::span<const charge_cmd> cmds,
                                                         time_us now);
  // Reserves credits: as charge, plus too_many_open_holds. A hold of zero
  // holds nothing and succeeds whatever the balance, but is an open hold like
  // any other (the rate limit, max_open_holds, expiry, capture, release).
  result<const hold*> place_hold(const hold_cmd& cmd, time_us now);
  // Captures at most the held amount (default all), returning the rest:
  // hold_not_found, hold_not_open, invalid_argument. Capturing 0 is a capture
  // (a charge of 0, the hold captured) that returns everything held. The
  // charge's entry carries the hold's operation, dimensions, reference,
  // quantity and metadata.
  result<const hold*> capture(object_id hold_id, std::optional<micros> amount, time_us now);
  result<const hold*> release(object_id hold_id, time_us now);
  // Returns credits to the charge's lots, newest-consumed first:
  // charge_not_found, nothing_to_refund, refund_too_large, invalid_argument.
  result<refund_result> refund(const refund_cmd& cmd, time_us now);
  // An operator's signed credit (a new lot) or debit (from the lots, in
  // consumption order): account_not_found, invalid_argument, insufficient_credits.
  result<std::uint64_t> adjust(const adjust_cmd& cmd, time_us now);
  // ---- Catalog. Writes are upserts by id; a price that is as specific as
  // another of the same operation and could match the same charge is refused
  // (conflict; conflicting_price names the other).
  result<put_result<price>> put_price(const price_cmd& cmd, time_us now);
  result<void> delete_price(std::string_view id);
  const price* conflicting_price(const price_cmd& cmd) const;
  result<put_result<package>> put_package(const package_cmd& cmd, time_us now);
  result<put_result<plan>> put_plan(const plan_cmd& cmd, time_us now);
  // The price a charge of `operation` with `dims` (any order) pays: the
  // matching price with the most dimensions. unknown_price when none.
  result<priced> price_for(std::string_view operation, const dimension_list& dims,
                           micros quantity) const;
  // What the charge would cost and whether the account could pay it now;
  // applies the account's due work first, charges nothing.
  result<quote_result> quote(const charge_cmd& cmd, time_us now);

  // ---- Purchases: a prepaid lot of the package's credits, usable at once.
  // A purchase with an external_id the ledger holds changes nothing
  // (duplicate). Errors: account_not_found, package_not_found, limit_exceeded.
  // The ledger holds the external ids of recent purchases only (below): a
  // caller with an external id it does not hold asks the store first
  // (journal_reader::external_id_recorded), with the id pinned meanwhile.
  result<purchase_result> purchase(const purchase_cmd& cmd, time_us now);
  bool external_id_seen(std::string_view id) const { return external_ids_.contains(id); }

  // ---- External ids kept in memory (Stripe event ids, for duplicates):
  // the recent ones, as charges; the store keeps every one (unique), and
  // none is loaded at start-up. forget_external_ids is forget_charges's
  // counterpart, in the order they were recorded. A pinned id is not
  // forgotten: a request pins the id it is about to look up in the store,
  // so that a purchase of it made after the pin is still in memory when the
  // request runs again (the store's answer, read after the pin, and memory
  // then cover every purchase of it).
  std::size_t external_id_count() const { return external_ids_.size(); }
  std::size_t forget_external_ids(std::uint64_t durable_epoch, std::size_t keep,
                                  std::size_t items_max);
  void pin_external_id(std::string_view id);
  void unpin_external_id(std::string_view id);
  bool external_id_pinned(std::string_view id) const { return external_pins_.contains(id); }

  // ---- Subscriptions. put: a new subscription (pending until start_at; a
  // past start_at catches up period by period, at once) or, on an active
  // one, a plan change from the next period (and an undone cancellation).
  result<put_result<subscription>> put_subscription(const subscription_cmd& cmd, time_us now);
  // Cancels at the period's end (a pending one at once).
  result<const subscription*> cancel_subscription(std::string_view account, time_us now);

  void set_calendar(const calendar* c) { calendar_ = c; }
  const calendar& get_calendar() const { return *calendar_; }

  // Applies every lot expiry, hold expiry and renewal due at or before `now`,
  // in time order, at most `items_max` objects. Returns how many were applied.
  std::size_t run_due(time_us now, std::size_t items_max = SIZE_MAX);
  // Records that the ledger was run at `now` (the engine's time moved there):
  // the latest such instant is stored with the changes, so that a test clock
  // never goes back across a restart.
  void note_time(time_us now) {
    if (now <= time_seen_) return;
    time_seen_ = now;
    pending_.time_seen = now;
  }
  time_us time_seen() const { return time_seen_; }
  // The earliest instant at which run_due has work, or no_expiry.
  time_us next_due() const;
  // Items of time-driven work queued, stale ones included (at most about
  // twice the live ones, and 4,096).
  std::size_t due_size() const { return due_.size(); }

  // ---- Events decided outside the ledger. A webhook endpoint was disabled
  // (the delivery worker's decision): event webhook_endpoint.disabled, of no
  // account, data {endpoint, disabled_reason}.
  void endpoint_disabled(std::string_view endpoint, std::string_view reason, time_us now);

  // ---- Idempotency.
  std::expected<const idempotency_record*, error> idempotency_lookup(
      std::string_view key, std::string_view fingerprint) const {
    return idempotency_.lookup(key, fingerprint);
  }
  void idempotency_remember(idempotency_record record);
  void idempotency_forget_before(time_us cutoff);

  // ---- Reads. Pointers stay valid until the ledger is destroyed.
  const account* find_account(std::string_view id) const;
  // Asks the cache for the accounts `ids` name and their first lots,
  // without waiting: in stages over all of them (their slots, then the
  // accounts, then their lots' lists, then the lots), so that the misses of
  // a round's accounts overlap instead of each stalling its own task.
  // Changes nothing (an id no account has, or an empty one, is skipped).
  // The engine's writer calls it with a round's hints before applying it;
  // at most prefetch_batch_max ids are looked at per call.
  static constexpr std::size_t prefetch_batch_max = 256;
  void prefetch_accounts(std::span<const std::string_view> ids) const;
  const lot* find_lot(object_id id) const;
  const hold* find_hold(object_id id) const;
  const charge_record* find_charge(object_id id) const;
  const price* find_price(std::string_view id) const;
  const package* find_package(std::string_view id) const;
  const plan* find_plan(std::string_view id) const;
  template <typename F>
  void for_each_price(F&& f) const {
    for (const auto& [id, p] : prices_)
      f(p);
  }
  template <typename F>
  void for_each_package(F&& f) const {
    for (const auto& [id, p] : packages_)
      f(p);
  }
  template <typename F>
  void for_each_plan(F&& f) const {
    for (const auto& [id, p] : plans_)
      f(p);
  }
  std::size_t subscription_count() const { return subscriptions_.size(); }
  // The balance as of `now`, counting due-but-unwritten expiries as written.
  balance_view balance(const account& acct, time_us now) const;
  // A hold's status as of `now` (an open hold past its expiry reads expired).
  hold_status hold_status_at(const hold& h, time_us now) const;
  std::size_t account_count() const { return accounts_.size(); }
  std::size_t open_hold_count() const { return open_holds_total_; }
  std::uint64_t next_seq() const { return next_seq_; }
  object_id next_object_id() const { return next_object_id_; }
  template <typename F>
  void for_each_account(F&& f) const {
    for (const auto& [id, acct] : accounts_)
      f(acct);
  }
  template <typename F>
  void for_each_hold(F&& f) const {
    for (const auto& [id, h] : holds_)
      f(h);
  }
  template <typename F>
  void for_each_charge(F&& f) const {
    for (const auto& [id, c] : charges_)
      f(c);
  }

  // The journal entries the last command made, oldest first (the due
  // expiries it applied first included; none when it was refused). Valid
  // until the next command or take_changes().
  std::span<const entry> command_entries() const { return pending_entries_since(command_mark_); }

  // Events made since the last take_changes(), oldest first (events.hpp).
  std::span<const event> pending_events() const { return pending_.events; }
  // The seq the next event gets: one beyond every event made or loaded.
  std::uint64_t next_event_seq() const { return next_event_seq_; }

  // Entries appended since `mark` (from `pending_entry_count()` before a command).
  std::size_t pending_entry_count() const { return pending_.entries.size(); }
  std::span<const entry> pending_entries_since(std::size_t mark) const {
    return std::span<const entry>(pending_.entries).subspan(mark);
  }

  // ---- Charges kept in memory. A charge is only needed again by a refund,
  // so the ledger keeps the recent ones and forgets older ones once they are
  // durable; the store keeps every charge, and a refund of a forgotten one
  // reads it there and admits it back (admit_charge) before refunding.
  std::size_t charge_count() const { return charges_.size(); }
  // The epoch the changes made now belong to: take_changes() returns every
  // change of this epoch and starts the next. An object changed in epoch E
  // is durable once the change set of E is.
  std::uint64_t change_epoch() const { return epoch_; }
  // Forgets the oldest charges, in the order they were made or admitted,
  // until at most `keep` remain or `items_max` were looked at; it stops at
  // the first one changed in an epoch after `durable_epoch` (its last change
  // is not in the store yet) and keeps pinned ones (moved to the back).
  // Returns how many were forgotten.
  std::size_t forget_charges(std::uint64_t durable_epoch, std::size_t keep, std::size_t items_max);
  // Pins: a request about to read a forgotten charge or lot from the store
  // pins its id first (on the writer, while it is missing), and unpins it
  // when done. A pinned object the ledger takes back (any request's
  // admission) is not forgotten again until unpinned, so a read made after
  // the pin is either still current when it is admitted, or the object is
  // in memory by then and memory is used: a read is never older than what
  // the ledger had. Counted: several requests may pin one id.
  void pin(object_id id) { ++pins_[id]; }
  void unpin(object_id id) {
    auto it = pins_.find(id);
    if (it != pins_.end() && --it->second == 0) pins_.erase(it);
  }
  bool pinned(object_id id) const { return pins_.contains(id); }
  std::size_t pin_count() const { return pins_.size(); }
  // Takes back a charge read from the store. False when its account is
  // unknown (the store disagrees with the ledger). A charge already in memory
  // is kept as it is (memory is never older than the store).
  bool admit_charge(const charge_record& row, std::string_view account_id);

  // ---- Lots that are no longer alive (depleted, expired, voided) and hold
  // nothing for an open hold: forgotten once durable, oldest death first,
  // until at most `keep` are listed; a refund into one reads it from the
  // store and admits it back (admit_lot). Pinned ones are kept.
  std::size_t dead_lot_count() const { return dead_lots_.size(); }
  std::size_t forget_dead_lots(std::uint64_t durable_epoch, std::size_t keep,
                               std::size_t items_max);
  // Takes back a lot read from the store: false when its account is unknown
  // or it is alive or held (the store disagrees: only dead lots are
  // forgotten). A lot in memory is kept as it is.
  bool admit_lot(const lot& row, std::string_view account_id);

  // ---- Closed holds kept in memory. A closed hold never changes again; the
  // ledger forgets the oldest ones once durable, and a read, capture or
  // release of a forgotten one is answered from the store.
  std::size_t closed_hold_count() const { return closed_holds_.size(); }
  // As forget_charges, for closed holds (in the order they closed).
  std::size_t forget_closed_holds(std::uint64_t durable_epoch, std::size_t keep,
                                  std::size_t items_max);

  // ---- Changes: copies of everything changed since the last call.
  change_set take_changes();
  // The bytes the changes made since the last take_changes() take encoded
  // (a log record holds them), estimated from above: each row's size in
  // memory plus its text and a margin for its owner's id. The engine closes
  // a set past a bound with it, so that no client's requests make a set
  // larger than a record may be. Each row is measured once: O(1) a change.
  std::size_t pending_bytes();
  bool has_changes() const {
    return !pending_.empty() || !dirty_accounts_.empty() || !dirty_lots_.empty() ||
           !dirty_holds_.empty() || !dirty_charges_.empty();
  }

  // ---- Checks. Returns an empty string when the account is consistent, or
  // what is wrong: a lot whose parts do not add up to its amount, a negative
  // part, held totals that disagree with the open holds, an unsorted lot list.
  std::string check_account(const account& acct) const;
  std::string check_all() const;

  // ---- Loading from storage: restore rows, then finish_load() rebuilds the
  // indexes and checks every account. Restoring after finish_load is a bug.
  void restore_account(const account_row& row);
  void restore_lot(const lot& row, std::string_view account_id);
  void restore_hold(const hold& row, std::string_view account_id);
  void restore_charge(const charge_record& row, std::string_view account_id);
  void restore_idempotency(idempotency_record record) { idempotency_.restore(std::move(record)); }
  void restore_counters(object_id next_object_id, std::uint64_t next_seq);
  void restore_price(price row) {
    CREDITD_ASSERT(!loaded_);
    prices_[row.id] = std::move(row);
  }
  void restore_package(package row) {
    CREDITD_ASSERT(!loaded_);
    packages_[row.id] = std::move(row);
  }
  void restore_plan(plan row) {
    CREDITD_ASSERT(!loaded_);
    plans_[row.id] = std::move(row);
  }
  void restore_subscription(const subscription& row, std::string_view account_id);
  void restore_time_seen(time_us t) { time_seen_ = t; }
  // One beyond the store's last event seq (its MAX(seq) + 1).
  void restore_event_seq(std::uint64_t next) {
    CREDITD_ASSERT(!loaded_ && next >= 1);
    next_event_seq_ = next;
  }
  // The instant of the last lot.expiring_soon notice stored: notices at or
  // before it are not scheduled again by finish_load().
  void restore_notices_until(time_us t) {
    CREDITD_ASSERT(!loaded_);
    notices_until_ = t;
  }
  // Returns the check_all() text: empty when consistent.
  std::string finish_load();

 private:
  struct due_item {
    time_us at;
    object_id id;  // a lot or a hold; 0: `sub_owner`'s subscription
    account* sub_owner = nullptr;
    bool notice = false;  // lot `id`'s lot.expiring_soon, not its expiry
    bool operator>(const due_item& o) const {
      if (at != o.at) return at > o.at;
      if (id != o.id) return id > o.id;
      return notice > o.notice;
    }
    bool same(const due_item& o) const {
      return at == o.at && id == o.id && sub_owner == o.sub_owner && notice == o.notice;
    }
  };
  // Emits the balance events of an account (balance_events) when it goes out
  // of scope: at the end of a command or due step, whichever way it returns.
  // `acct` may be set after construction (once the command found it).
  struct balance_watch {
    ledger& l;
    account* acct;
    time_us at;
    std::size_t mark;
    balance_watch(ledger& owner, account* a, time_us now)
        : l(owner), acct(a), at(now), mark(owner.pending_.entries.size()) {}
    balance_watch(const balance_watch&) = delete;
    balance_watch& operator=(const balance_watch&) = delete;
    ~balance_watch() {
      if (acct != nullptr) l.balance_events(*acct, at, mark);
    }
  };
  struct spend_plan {
    micros from_lots = 0;
    micros from_postpaid = 0;
  };
  struct savepoint {
    std::size_t entries, accounts, lots, holds, charges, events;
    std::uint64_t next_event_seq;
    object_id next_object_id;
    std::uint64_t next_seq;
    account* acct;
    std::vector<lot> lot_copies;
    std::vector<lot*> active_lots;
    micros postpaid_used;
    std::int64_t postpaid_period;
    rate_bucket rate;
    std::uint64_t acct_dirty_epoch;
  };

  account* find_mut(std::string_view id);
  // Applies due expiries of one account up to `now`.
  // Then, unless `topup` is false, automatic top-up at `now`.
  void settle(account& acct, time_us now, bool topup = true);
  void expire_lot(lot& l, time_us at);
  void expire_hold(hold& h, time_us at);
  // Returns a closed hold's uncaptured credits to their lots (or to expired /
  // voided for lots that are gone), writing release and expire entries.
  void return_held(hold& h, const lot_parts& parts, time_us now, bool expiry);
  void recompute_next_due(account& acct);
  // When a subscription's next event (start or renewal) is due; no_expiry
  // for none.
  static time_us subscription_due(const subscription* sub);
  // Commerce internals (ledger_commerce.cpp).
  void renew(account& acct, time_us at);  // the subscription's event due at `at`
  void start_period(account& acct, subscription& sub, time_us at, micros carry,
                    object_id carried_from, bool renewal);
  void save(const subscription& sub) { pending_.subscriptions.push_back(sub); }
  // Automatic top-up after the account's available may have fallen.
  void check_topup(account& acct, time_us now);
  result<purchase_result> purchase_into(account& acct, const package& pkg, const purchase_cmd& cmd,
                                        time_us now);
  time_us billing_period_start(const account& acct, time_us now) const;
  result<void> price_spend(charge_cmd& cmd) const;
  void add_due(time_us at, object_id id, account* sub_owner = nullptr, bool notice = false);
  // ---- Events (events.hpp).
  event& append_event(event_type type, account& acct, time_us at);
  // The balance events of `acct` at the end of a command or due step that
  // began with `mark` journal entries pending: available now against
  // acct.events_available (balance_crossings), which it then updates.
  void balance_events(account& acct, time_us at, std::size_t mark);
  // Takes account of available before a command changes it (settle calls
  // it). Not known yet (after a load): available as it was just before the
  // work due by `now`, so that an expiry applied now is a change.
  void watch_available(account& acct, time_us now) {
    if (acct.events_available >= 0) return;
    acct.events_available = available_now(acct, acct.next_due <= now ? acct.next_due - 1 : now);
  }
  // charge.refused for a refused spend, at most once a minute per account
  // and reason (account::refused_event_at).
  void refused_event(account& acct, const error& e, std::string_view operation, micros amount,
                     time_us now);
  // When lot `l`'s lot.expiring_soon is due under its account's
  // expiring_soon_days; no_expiry for none.
  static time_us notice_at(const lot& l);
  // Queues lot `l`'s notice if it is due after `after` and after the last
  // notice stored (notices_until_).
  void schedule_notice(const lot& l, time_us after);

  micros postpaid_available(const account& acct, time_us now) const;
  micros lots_spendable(const account& acct, time_us now, std::string_view operation,
                        bool scoped) const;
  // What lots may give a spend: the operation's scope, less the reserve
  // unless urgent.
  static micros spend_cap(micros all, micros in_scope, micros reserve, bool urgent) {
    return urgent ? in_scope : std::min(in_scope, std::max<micros>(0, all - reserve));
  }
  // What a spend of `operation` could take now: lots (spend_cap) and postpaid.
  micros spend_capacity(const account& acct, std::string_view operation, bool urgent,
                        time_us now) const;
  // Decides how much of `amount` comes from lots and from postpaid, or refuses.
  result<spend_plan> plan_spend(const account& acct, micros amount, std::string_view operation,
                                bool urgent, time_us now) const;
  // Takes the planned credits, moving them from remaining to spent (or held).
  void take(account& acct, const spend_plan& p, std::string_view operation, time_us now,
            bool to_hold, lot_parts& parts);
  result<void> check_rate(account& acct, time_us now);
  result<const charge_record*> charge_one(account& acct, const charge_cmd& cmd, time_us now);

  void insert_active(account& acct, lot* l);
  void remove_active(account& acct, lot* l);
  // A depleted lot that credits flow back into becomes active again.
  void revive(account& acct, lot& l, time_us now);
  lot& new_lot(account& acct, const grant_cmd& cmd, time_us now);
  entry& append_entry(entry_type type, account& acct, micros amount, time_us now);
  micros available_now(const account& acct, time_us now) const {
    return balance(acct, now).available;
  }

  void mark(account& a);
  void mark(lot& l);
  void mark(hold& h);
  void mark(charge_record& c);
  savepoint make_savepoint(account& acct);
  void rollback(savepoint& sp);
  void paranoid_check(const account& acct) const;

  std::unordered_map<std::string, account, string_hash, std::equal_to<>> accounts_;
  account_index account_index_;  // accounts_ for lookups (account_index.hpp)
  std::unordered_map<object_id, lot> lots_;
  std::unordered_map<object_id, hold> holds_;
  std::unordered_map<object_id, charge_record> charges_;
  std::deque<object_id> charge_order_;                 // ids in charges_, oldest first
  std::unordered_map<object_id, std::uint32_t> pins_;  // id -> requests reading it
  std::deque<object_id> closed_holds_;  // ids of the closed holds in holds_, in closing order
  std::deque<object_id> dead_lots_;     // lots marked while not active, oldest first
  idempotency_table idempotency_;
  std::map<std::string, price, std::less<>> prices_;
  std::unordered_map<std::string, std::vector<const price*>, string_hash, std::equal_to<>>
      prices_by_operation_;
  std::map<std::string, package, std::less<>> packages_;
  std::map<std::string, plan, std::less<>> plans_;
  std::unordered_map<std::string, subscription, string_hash, std::equal_to<>> subscriptions_;
  // External id -> the change epoch it was recorded in; oldest first.
  std::unordered_map<std::string, std::uint64_t, string_hash, std::equal_to<>> external_ids_;
  std::deque<const std::string*> external_order_;  // keys of external_ids_
  std::unordered_map<std::string, std::uint32_t, string_hash, std::equal_to<>> external_pins_;
  const calendar* calendar_ = &default_calendar();
  // The time-driven work: lot and hold expiries, renewals. An item whose
  // object closed before its time (a captured hold, a spent lot) stays until
  // its time comes, skipped then; so that a stream of short-lived holds
  // cannot grow it without bound, stale items are dropped whenever it has
  // doubled since the last time (amortized O(1) a push).
  struct due_queue : std::priority_queue<due_item, std::vector<due_item>, std::greater<>> {
    template <typename Live>
    void keep_if(Live live) {
      std::erase_if(c, [&](const due_item& x) { return !live(x); });
      std::make_heap(c.begin(), c.end(), comp);
    }
  };
  due_queue due_;
  std::size_t due_compact_at_ = due_compact_min;
  static constexpr std::size_t due_compact_min = 4096;
  // Whether a due item still stands for work (what run_due would apply).
  bool due_live(const due_item& item) const;
  std::size_t open_holds_total_ = 0;

  object_id next_object_id_ = 1;
  std::uint64_t next_seq_ = 1;
  std::uint64_t next_event_seq_ = 1;
  time_us notices_until_ = 0;  // the latest lot.expiring_soon made or loaded

  // Pending changes since the last take_changes().
  std::uint64_t epoch_ = 1;
  std::uint64_t resets_ = 0;
  change_set pending_;
  std::size_t command_mark_ = 0;  // pending_.entries.size() when the last command began
  time_us time_seen_ = 0;
  bool idempotency_expired_once_ = false;  // the store was told to expire by age since the load
  // What pending_bytes() measured: its total, and how many of each kind of
  // row it has counted (a rollback may leave fewer: counted again, never
  // less than the total says).
  struct measured_changes {
    std::size_t bytes = 0;
    std::size_t entries = 0, events = 0, idempotency = 0, accounts = 0, lots = 0, holds = 0,
                charges = 0, catalog = 0;
  };
  measured_changes measured_;
  std::vector<account*> dirty_accounts_;
  std::vector<lot*> dirty_lots_;
  std::vector<hold*> dirty_holds_;
  std::vector<charge_record*> dirty_charges_;
  bool loaded_ = false;
};

}  // namespace creditd::ledger
