// The journal auditor behind `creditd check`: every field of a store that
// the journal determines is recomputed from first principles and compared
// with what the store holds. Pure: no I/O, no clock, no threads; not
// thread-safe (one caller feeds it).
//
// Protocol, in three steps:
//   1. the store's counters and rows, in any order: accounts, lots, holds,
//      charges, purchases, subscription periods, subscriptions;
//   2. the journal entries, in seq order (the fields of a stored entry);
//   3. finish().
// Then problems() lists what disagrees, each naming its row ("entry 7
// (charge, account acme): amount 2000000 but its parts add up to
// 1000000", "lot 3 of acme: remaining 5000000 but the journal gives
// 4000000"), at most `problems_max` of them: once that many are found,
// full() is true and everything fed after is ignored.
//
// Why the rows come first: an entry's balance_after is the account's
// available balance as of the entry's instant, which depends on the lots'
// validity windows (effective_at, expires_at), the holds' expiries and the
// account's reserve and postpaid limit: fields of the rows, not of the
// journal. While the journal is replayed only those fields are read (they
// never change once written, settings apart: see below); the fields the
// journal determines (a lot's remaining, held, spent, expired, voided,
// status; a hold's status, captured, charge; a charge's refunds; postpaid
// use) are replayed from the entries alone and compared at finish().
//
// What is checked, per entry: seq continuity (1..N, no gap, no duplicate,
// N + 1 the store's counter); the amount against the parts, by type; the
// ids it names (lot, charge, hold, refund) against the rows and against
// what the journal did to them before (a lot granted once, spent only while
// spendable and in scope, in consumption order; a hold captured or closed
// once, a capture taking the hold's parts in order, its uncaptured rest
// released, expired or voided by the entries right after; a refund
// following the charge's parts newest first, into the same lot while it
// lives or else into a new lot); the lot and hold expiries at their
// instants; the priced amount (unit_amount x quantity, half up); the
// descriptive fields a capture or release copies from its hold; and
// balance_after, recomputed as ledger::balance computes it.
//
// balance_after and settings: the balance depends on the reserve and the
// postpaid limit, and every change of either is a `settings` entry
// (settings_entry.hpp), so each entry's balance_after is recomputed exactly
// under the settings the journal gives at that point, and the account row's
// settings must be those of its last settings entry. Accounts whose settings
// changed before settings entries existed have a row with settings and no
// entry saying so: their entries up to the first settings entry are checked
// exactly only when created after the account's last change
// (accounts.updated_at), else only for what does not depend on the settings
// (counts().balances_unverifiable says how many). A balance off by the same
// amount as the account's previous one is not reported again: one effect
// missing from the journal shifts every later balance of the account.
//
// Not derived here: a lot's kind, priority, scope and window as granted
// (only their use is checked), an account's settings and top-up state, the
// catalog, and the created_at order of an account's entries (which the
// ledger does not keep monotonic: a subscription started in the past grants
// its periods at their own past instants, and a top-up set off by a late
// expiry is dated after expiries written later).
//
// Memory: a fixed-size record per account, lot, hold, charge, purchase,
// subscription period and refund id (a hold's parts inline up to two, a
// charge's up to one), plus each lot's scope and texts: O(rows), never
// O(entries). About 170 bytes per charge, 230 per hold, 300 per lot (x86-64):
// a store of 1M charges is audited in about 190 MB.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ledger/changes.hpp"
#include "ledger/commerce.hpp"
#include "ledger/types.hpp"

namespace creditd::ledger {

struct audit_counts {
  std::uint64_t entries = 0;
  std::uint64_t accounts = 0;
  std::uint64_t lots = 0;
  std::uint64_t holds = 0;
  std::uint64_t charges = 0;
  std::uint64_t purchases = 0;
  std::uint64_t periods = 0;
  std::uint64_t subscriptions = 0;
  // Entries whose balance_after was recomputed and compared exactly, and
  // those that cannot be: their account's reserve or postpaid limit changed
  // before settings entries existed, and these entries were written at or
  // before that change.
  std::uint64_t balances_exact = 0;
  std::uint64_t balances_unverifiable = 0;
};

class journal_auditor {
 public:
  static constexpr std::size_t default_problems_max = 20;

  explicit journal_auditor(std::size_t problems_max = default_problems_max);
  ~journal_auditor();
  journal_auditor(const journal_auditor&) = delete;
  journal_auditor& operator=(const journal_auditor&) = delete;

  // ---- 1. Counters and rows, in any order, before the first entry.
  // The store's counters: the next entry's seq and the next object id.
  void set_counters(std::uint64_t next_seq, object_id next_object_id);
  // Another holder of the next seq that must agree with the journal (a
  // ledger loaded from the same store): `whose` names it in the problem.
  void expect_next_seq(std::uint64_t next_seq, std::string_view whose);
  // How many lots, holds and charges will come (optional: saves the
  // reallocations of growing to that size).
  void reserve(std::size_t lots, std::size_t holds, std::size_t charges);
  void add_account(const account_row& row);
  void add_lot(const lot& row, std::string_view account);
  void add_hold(const hold& row, std::string_view account);
  void add_charge(const charge_record& row, std::string_view account);
  void add_purchase(const purchase& row);
  void add_period(const subscription_period& row);
  void add_subscription(const subscription& row, std::string_view account);

  // ---- 2. The journal, in seq order. `e.owner` is not read: `account` is
  // the entry's account.
  void add_entry(const entry& e, std::string_view account);
  // An entry that could not be decoded: reported (`what` says why) and
  // counted in the sequence, its effects unknown.
  void add_unreadable_entry(std::uint64_t seq, std::string_view account, std::string_view what);

  // ---- 3. The checks that need the whole journal. Call once.
  void finish();

  // A problem found outside (an unreadable row, a damaged file): counted
  // against the bound like the others.
  void add_problem(std::string problem);

  // At most problems_max problems, each naming its row, in the order found.
  const std::vector<std::string>& problems() const;
  // problems_max problems were found: the audit stopped there.
  bool full() const;
  const audit_counts& counts() const;

 private:
  struct state;
  std::unique_ptr<state> s_;
};

}  // namespace creditd::ledger
