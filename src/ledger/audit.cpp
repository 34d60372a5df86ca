// The journal auditor (pure): see audit.hpp. The replay below follows the
// ledger's commands (ledger.cpp, ledger_due.cpp, ledger_commerce.cpp) entry
// by entry; each comment names the code whose effect it recomputes.
#include "ledger/audit.hpp"
#include "ledger/settings_entry.hpp"

#include <algorithm>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "ledger/idempotency.hpp"
#include "util/assert.hpp"

namespace creditd::ledger {

namespace {

constexpr std::uint32_t none = UINT32_MAX;

std::string num(std::int64_t v) {
  return std::to_string(v);
}
std::string num(std::uint64_t v) {
  return std::to_string(v);
}

std::string instant(time_us t) {
  return t == no_expiry ? std::string("never") : std::to_string(t);
}

std::string parts_text(std::span<const lot_part> parts) {
  std::string out = "[";
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i) out += ",";
    out += "[" + num(parts[i].lot) + "," + num(parts[i].amount) + "]";
  }
  return out + "]";
}

micros parts_sum(std::span<const lot_part> parts) {
  micros sum = 0;
  for (const lot_part& p : parts)
    sum += p.amount;
  return sum;
}

// FNV-1a over length-prefixed fields: a fingerprint of the descriptive
// fields a capture or a release copies from its hold, so that a hold's
// strings need not be kept.
struct fingerprint {
  std::uint64_t h = 1469598103934665603ULL;
  fingerprint& add(std::uint64_t v) {
    for (int i = 0; i < 8; ++i) {
      h ^= (v >> (8 * i)) & 0xff;
      h *= 1099511628211ULL;
    }
    return *this;
  }
  fingerprint& add(std::string_view s) {
    add(static_cast<std::uint64_t>(s.size()));
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ULL;
    }
    return *this;
  }
};

std::uint64_t spend_fields(std::string_view operation, std::string_view dimensions,
                           std::string_view reference, micros quantity, std::string_view metadata,
                           std::string_view price_id, micros unit_amount) {
  return fingerprint{}
      .add(operation)
      .add(dimensions)
      .add(reference)
      .add(static_cast<std::uint64_t>(quantity))
      .add(metadata)
      .add(price_id)
      .add(static_cast<std::uint64_t>(unit_amount))
      .h;
}

std::uint64_t return_fields(std::string_view operation, std::string_view reference) {
  return fingerprint{}.add(operation).add(reference).h;
}

// ledger::price_for: unit (micros) x quantity (micros), back to micros, half up.
micros priced_amount(micros unit_amount, micros quantity) {
  __extension__ using i128 = __int128;
  const i128 product = static_cast<i128>(unit_amount) * quantity;
  const i128 cost = (product + micros_per_credit / 2) / micros_per_credit;
  return cost > amount_micros_max ? -1 : static_cast<micros>(cost);
}

// lot::matches, on a lot's scope.
bool scope_matches(const std::vector<std::string>& scope, std::string_view operation) {
  if (scope.empty()) return true;
  for (const std::string& s : scope) {
    if (s == operation || s == "*") return true;
    if (s.size() >= 2 && s.ends_with(".*") &&
        operation.starts_with(std::string_view(s).substr(0, s.size() - 1))) {
      return true;
    }
  }
  return false;
}

enum class made_by : std::uint8_t { nothing, grant, adjust, refund };
// What the journal did last to a lot: it lives (active or depleted by its
// remaining), or it expired, or it was voided.
enum class lot_end : std::uint8_t { live, expired, voided };

// The balances of an account's entries compared so far, under one
// hypothesis about its settings: the first problem, held back until the
// hypothesis is settled.
struct balance_verdict {
  micros shift = 0;
  std::string problem;
  std::uint64_t exact = 0;
  std::uint64_t unverifiable = 0;
};

struct account_st {
  std::string id;
  bool has_row = false;
  // The row.
  micros reserve = 0;
  micros postpaid_limit = 0;
  time_us created_at = 0;
  time_us updated_at = no_expiry;  // unknown: no balance is verifiable
  micros postpaid_used = 0;
  std::int64_t postpaid_period = 0;
  // The replay (ledger::take, return_held, refund).
  micros pp_used = 0;
  std::int64_t pp_period = 0;
  micros credited = 0;                // credits the journal put into new lots
  std::vector<std::uint32_t> live;    // lots live with remaining > 0 (the active lots)
  std::vector<std::uint32_t> open;    // holds open
  time_us holds_due_min = no_expiry;  // at most the earliest expiry of an open hold
  micros balance_shift = 0;           // balance_after less the recomputed one, at its last entry
  // The replay of its settings entries (settings_entry.hpp): the reserve and
  // postpaid limit as of the entry being read.
  balance_settings j_settings;
  bool settings_entries = false;
  // An account whose row has settings its journal has not said yet: either
  // a settings entry comes later (its balances so far are under no settings)
  // or none does and it changed them before these entries existed (only its
  // balances after the row's last change can be compared, under the row's
  // settings). Both verdicts are kept until the journal tells which holds.
  balance_verdict if_journaled, if_legacy;
  micros row_open_held = 0;  // what the rows of its open holds hold of lots
};

struct lot_st {
  object_id id = 0;
  std::uint32_t acct = none;
  // The row.
  lot_kind kind = lot_kind::prepaid;
  lot_status status = lot_status::active;
  std::int32_t priority = 0;
  micros amount = 0, remaining = 0, held = 0, spent = 0, expired = 0, voided = 0;
  time_us effective_at = 0, expires_at = no_expiry, created_at = 0;
  micros cost_basis = 0;
  std::vector<std::string> scope;
  std::string source, reason, currency;
  // The replay.
  std::uint64_t created_seq = 0;
  made_by creator = made_by::nothing;
  lot_end end = lot_end::live;
  micros r_amount = 0, r_remaining = 0, r_held = 0, r_spent = 0, r_expired = 0, r_voided = 0;
  micros expiry_amount = -1;  // what its own expiry entry took (a period's rollover)
  std::uint32_t live_pos = none;

  bool spendable_at(time_us t) const {
    return end == lot_end::live && r_remaining > 0 && effective_at <= t && t < expires_at;
  }
  lot_status replayed_status() const {
    if (end == lot_end::expired) return lot_status::expired;
    if (end == lot_end::voided) return lot_status::voided;
    return r_remaining > 0 ? lot_status::active : lot_status::depleted;
  }
};

// ledger.cpp consumes_before: priority, then soonest expiry, then oldest.
bool consumes_before(const lot_st& a, const lot_st& b) {
  if (a.priority != b.priority) return a.priority < b.priority;
  if (a.expires_at != b.expires_at) return a.expires_at < b.expires_at;
  return a.id < b.id;
}

struct hold_st {
  object_id id = 0;
  std::uint32_t acct = none;
  // The row.
  hold_status status = hold_status::open;
  micros amount = 0, captured = 0;
  micros row_parts_sum = 0;
  time_us created_at = 0, expires_at = 0, closed_at = 0;
  object_id charge_id = 0;
  std::int64_t postpaid_period = 0;
  std::uint64_t spend_fp = 0, return_fp = 0;
  // The replay.
  std::uint64_t seq = 0;  // its hold entry
  hold_status r_status = hold_status::open;
  micros r_amount = 0, r_captured = 0;
  object_id r_charge = 0;
  time_us r_closed_at = 0;
  std::uint64_t closed_seq = 0;
  std::int64_t r_pp_period = 0;
  // Before its hold entry, the row's parts; after, what it still holds
  // (open) or has still to return (closing), by the journal.
  lot_parts outstanding;
  std::uint32_t open_pos = none;
};

// A charge's part: before its entry, the row's; after, the journal's, with
// the row's refunds beside the journal's while the two lists agree.
struct charge_part_st {
  object_id lot = 0;
  micros amount = 0;
  micros row_refunded = 0;
  micros refunded = 0;
};

struct charge_st {
  object_id id = 0;
  std::uint32_t acct = none;
  bool parts_aligned = true;  // the row's part list is its entry's
  // The row.
  micros amount = 0, refunded = 0;
  micros row_parts_amount = 0, row_parts_refunded = 0;  // the row's parts, summed
  time_us created_at = 0;
  object_id hold_id = 0;
  std::int64_t postpaid_period = 0;
  // The replay.
  std::uint64_t seq = 0;  // its charge or capture entry
  micros r_refunded = 0;
  object_id r_hold = 0;
  std::int64_t r_pp_period = 0;
  small_vector<charge_part_st, 1> parts;
};

struct purchase_st {
  object_id id = 0;
  std::string account;
  std::string package;
  object_id lot_id = 0;
  micros credits = 0, price = 0;
  std::string currency;
  purchase_source source = purchase_source::api;
  time_us created_at = 0;
};

struct subscription_st {
  std::string account;
  std::int64_t period_index = -1;
  object_id lot_id = 0;
  subscription_status status = subscription_status::pending;
};

template <typename T>
T* find_by_id(std::vector<T>& rows, object_id id) {
  auto it = std::lower_bound(rows.begin(), rows.end(), id,
                             [](const T& r, object_id x) { return r.id < x; });
  return it != rows.end() && it->id == id ? &*it : nullptr;
}

}  // namespace

struct journal_auditor::state {
  std::size_t problems_max;
  std::vector<std::string> problems;
  bool full = false;
  audit_counts counts;

  std::uint64_t next_seq = 1;
  object_id next_object_id = 1;
  bool counters_set = false;
  std::vector<std::pair<std::uint64_t, std::string>> other_next_seqs;

  std::vector<account_st> accounts;
  std::unordered_map<std::string, std::uint32_t, string_hash, std::equal_to<>> account_index;
  std::vector<lot_st> lots;
  std::vector<hold_st> holds;
  std::vector<charge_st> charges;
  std::vector<purchase_st> purchases;
  std::vector<subscription_period> periods;
  std::vector<subscription_st> subscriptions;
  bool sealed = false;
  bool finished = false;

  std::uint64_t last_seq = 0;
  std::unordered_set<object_id> refund_ids;
  std::unordered_set<object_id> reported_missing;  // ids named by entries but not in their table

  // The hold whose uncaptured rest the next entries must return
  // (ledger::return_held writes release, expire and void right after).
  std::uint32_t closing = none;
  // A refund into lots past their expiry: the next entry must expire them.
  struct born_expired {
    std::uint64_t seq = 0;
    std::string name;  // of the refund entry
    object_id refund_id = 0;
    lot_parts parts;
  };
  std::optional<born_expired> pending_born;

  // The entry being replayed, for messages.
  const entry* cur = nullptr;
  std::string cur_account;

  explicit state(std::size_t max) : problems_max(max == 0 ? 1 : max) {}

  void say(std::string p) {
    if (full) return;
    problems.push_back(std::move(p));
    if (problems.size() >= problems_max) full = true;
  }

  // ---------------------------------------------------------------- names

  std::string entry_name(std::uint64_t seq, std::string_view type, std::string_view account) const {
    return "entry " + num(seq) + " (" + std::string(type) + ", account " + std::string(account) +
           ")";
  }
  std::string here() const { return entry_name(cur->seq, to_string(cur->type), cur_account); }
  void bad(const std::string& what) { say(here() + ": " + what); }
  std::string lot_name(const lot_st& l) const {
    return "lot " + num(l.id) + " of " + accounts[l.acct].id;
  }
  std::string hold_name(const hold_st& h) const {
    return "hold " + num(h.id) + " of " + accounts[h.acct].id;
  }
  std::string charge_name(const charge_st& c) const {
    return "charge " + num(c.id) + " of " + accounts[c.acct].id;
  }

  // ---------------------------------------------------------------- rows

  std::uint32_t account_slot(std::string_view id) {
    auto it = account_index.find(id);
    if (it != account_index.end()) return it->second;
    const auto slot = static_cast<std::uint32_t>(accounts.size());
    accounts.emplace_back();
    accounts.back().id = std::string(id);
    account_index.emplace(std::string(id), slot);
    return slot;
  }

  // After the rows, before the first entry: sorts the rows by id and names
  // the rows whose account has no row.
  void seal() {
    if (sealed) return;
    sealed = true;
    auto by_id = [](const auto& a, const auto& b) { return a.id < b.id; };
    std::sort(lots.begin(), lots.end(), by_id);
    std::sort(holds.begin(), holds.end(), by_id);
    std::sort(charges.begin(), charges.end(), by_id);
    std::sort(purchases.begin(), purchases.end(), by_id);
    for (account_st& a : accounts)
      a.pp_period = month_index(a.created_at);
    auto orphan = [&](std::string_view what, object_id id, std::uint32_t acct) {
      if (!accounts[acct].has_row) {
        say(std::string(what) + " " + num(id) + " of " + accounts[acct].id + ": account " +
            accounts[acct].id + " is not in the accounts table");
      }
    };
    for (const lot_st& l : lots)
      orphan("lot", l.id, l.acct);
    for (const hold_st& h : holds)
      orphan("hold", h.id, h.acct);
    for (const charge_st& c : charges)
      orphan("charge", c.id, c.acct);
  }

  lot_st* find_lot(object_id id) { return find_by_id(lots, id); }
  hold_st* find_hold(object_id id) { return find_by_id(holds, id); }
  charge_st* find_charge(object_id id) { return find_by_id(charges, id); }

  // The lot an entry names, or null (reported once per id).
  lot_st* lot_named(object_id id, std::uint32_t acct) {
    lot_st* l = find_lot(id);
    if (l == nullptr) {
      if (reported_missing.insert(id).second)
        bad("names lot " + num(id) + ", which is not in the lots table");
      return nullptr;
    }
    if (l->acct != acct) {
      bad("names lot " + num(id) + ", which belongs to account " + accounts[l->acct].id);
    }
    return l;
  }

  // ---------------------------------------------------------------- replay state

  void sync_live(lot_st& l) {
    const bool want = l.end == lot_end::live && l.r_remaining > 0;
    std::vector<std::uint32_t>& live = accounts[l.acct].live;
    if (want && l.live_pos == none) {
      l.live_pos = static_cast<std::uint32_t>(live.size());
      live.push_back(static_cast<std::uint32_t>(&l - lots.data()));
    } else if (!want && l.live_pos != none) {
      const std::uint32_t last = live.back();
      live[l.live_pos] = last;
      lots[last].live_pos = l.live_pos;
      live.pop_back();
      l.live_pos = none;
    }
  }

  void open_hold(hold_st& h) {
    account_st& a = accounts[h.acct];
    h.open_pos = static_cast<std::uint32_t>(a.open.size());
    a.open.push_back(static_cast<std::uint32_t>(&h - holds.data()));
    a.holds_due_min = std::min(a.holds_due_min, h.expires_at);
  }

  void close_hold(hold_st& h) {
    if (h.open_pos == none) return;
    std::vector<std::uint32_t>& open = accounts[h.acct].open;
    const std::uint32_t last = open.back();
    open[h.open_pos] = last;
    holds[last].open_pos = h.open_pos;
    open.pop_back();
    h.open_pos = none;
  }

  void create_lot(lot_st& l, micros amount, made_by creator) {
    l.created_seq = cur->seq;
    l.creator = creator;
    l.r_amount = amount;
    l.r_remaining = amount;
    accounts[l.acct].credited += amount;
    sync_live(l);
  }

  // ledger::take's postpaid: a new month starts the count again.
  void take_postpaid(account_st& a, micros x, time_us t) {
    const std::int64_t period = month_index(t);
    if (a.pp_period != period) {
      a.pp_period = period;
      a.pp_used = 0;
    }
    a.pp_used += x;
  }
  // ledger::return_held and ledger::refund: postpaid credit comes back only
  // within the period it was taken in.
  void return_postpaid(account_st& a, micros x, std::int64_t period) {
    if (a.pp_period == period) a.pp_used -= std::min(x, a.pp_used);
  }

  // ledger::balance: the account's available as of `t` under `set`.
  micros available(account_st& a, time_us t, const balance_settings& set) {
    micros lots_remaining = 0;
    for (std::uint32_t i : a.live) {
      const lot_st& l = lots[i];
      if (l.effective_at <= t && t < l.expires_at) lots_remaining += l.r_remaining;
    }
    micros used = a.pp_used != 0 && a.pp_period == month_index(t) ? a.pp_used : 0;
    if (a.holds_due_min <= t) {
      // Holds past their expiry whose release is not written yet (inside a
      // settle): their credits count as returned to the lots still alive.
      time_us earliest = no_expiry;
      for (std::uint32_t hi : a.open) {
        const hold_st& h = holds[hi];
        earliest = std::min(earliest, h.expires_at);
        if (h.expires_at > t) continue;
        for (const lot_part& p : h.outstanding) {
          if (p.lot == postpaid_lot_id) {
            if (h.r_pp_period == a.pp_period && used > 0) used -= std::min(p.amount, used);
            continue;
          }
          const lot_st* l = find_lot(p.lot);
          if (l != nullptr && l->end == lot_end::live && l->effective_at <= t &&
              t < l->expires_at) {
            lots_remaining += p.amount;
          }
        }
      }
      a.holds_due_min = earliest;
    }
    micros out = std::max<micros>(0, lots_remaining - set.reserve);
    if (set.postpaid_limit > 0) out += std::max<micros>(0, set.postpaid_limit - used);
    return out;
  }

  // ---------------------------------------------------------------- entries

  bool sequence(const entry& e, std::string_view account) {
    if (e.seq <= last_seq) {
      say(entry_name(e.seq, to_string(e.type), account) +
          (e.seq == last_seq ? ": seq " + num(e.seq) + " appears twice in the journal"
                             : ": out of order after entry " + num(last_seq)));
      return false;
    }
    if (e.seq != last_seq + 1) {
      const std::uint64_t from = last_seq + 1, to = e.seq - 1;
      say(from == to ? "entry " + num(from) + " is missing: the journal goes from entry " +
                           num(last_seq) + " to entry " + num(e.seq)
                     : "entries " + num(from) + " to " + num(to) +
                           " are missing: the journal goes from entry " + num(last_seq) +
                           " to entry " + num(e.seq));
    }
    last_seq = e.seq;
    return true;
  }

  // The groups that must end before an entry that is not theirs.
  void end_groups(const entry* next) {
    if (closing != none) {
      hold_st& h = holds[closing];
      const bool continues =
          next != nullptr && next->hold_id == h.id &&
          (next->type == entry_type::release || next->type == entry_type::expire ||
           next->type == entry_type::void_lot);
      if (!continues) {
        if (parts_sum(h.outstanding) != 0) {
          say(hold_name(h) + ": closed by entry " + num(h.closed_seq) + " but " +
              parts_text(h.outstanding) +
              " of it is neither released, expired nor voided by the entries right after");
        }
        closing = none;
      }
    }
    if (pending_born) {
      const bool continues = next != nullptr && next->type == entry_type::expire &&
                             next->refund_id == pending_born->refund_id && next->hold_id == 0;
      if (!continues) {
        say(pending_born->name + ": refunds " + parts_text(pending_born->parts) +
            " into lots past their expiry, but no expire entry follows");
        pending_born.reset();
      }
    }
  }

  std::uint32_t entry_account(std::string_view account, time_us t) {
    auto it = account_index.find(account);
    if (it != account_index.end()) return it->second;
    const std::uint32_t slot = account_slot(account);
    accounts[slot].pp_period = month_index(t);
    bad("account " + std::string(account) + " is not in the accounts table");
    return slot;
  }

  // The ids and descriptive fields that an entry of its type must leave empty.
  void check_shape(const entry& e) {
    const bool spend =
        e.type == entry_type::charge || e.type == entry_type::hold || e.type == entry_type::capture;
    if (!spend) {
      // A settings entry's metadata is its new settings (on_settings reads it).
      const bool metadata_ok = e.metadata.empty() || e.type == entry_type::settings;
      if (e.quantity != micros_per_credit || !metadata_ok || !e.price_id.empty() ||
          e.unit_amount != 0 || !e.dimensions.empty()) {
        bad("has a quantity, metadata, price or dimensions, which only charges, holds and "
            "captures record");
      }
      const bool from_hold =
          e.hold_id != 0 && (e.type == entry_type::release || e.type == entry_type::expire ||
                             e.type == entry_type::void_lot);
      if (!from_hold && (!e.operation.empty() || !e.reference.empty()))
        bad("has an operation or reference, which a " + std::string(to_string(e.type)) +
            " entry does not record");
    } else {
      if (e.quantity <= 0 || e.quantity > amount_micros_max)
        bad("quantity " + num(e.quantity) + " is out of range");
      if (e.price_id.empty() && e.unit_amount != 0)
        bad("unit_amount " + num(e.unit_amount) + " without a price_id");
    }
    if (e.amount < 0 && e.type != entry_type::adjust)
      bad("amount " + num(e.amount) + " is negative");
    // Which ids each type names (ledger.cpp, ledger_due.cpp).
    struct rule {
      bool lot, charge, hold, refund;
    };
    rule must{false, false, false, false}, may{false, false, false, false};
    switch (e.type) {
      case entry_type::grant:
        must = {true, false, false, false};
        break;
      case entry_type::charge:
        must = {false, true, false, false};
        break;
      case entry_type::hold:
        must = {false, false, true, false};
        break;
      case entry_type::capture:
        must = {false, true, true, false};
        break;
      case entry_type::release:
        must = {false, false, true, false};
        break;
      case entry_type::expire:
        // A lot's expiry, credits a hold returned to an expired lot, or a
        // refund into a lot past its expiry.
        if (e.hold_id != 0) {
          must = {false, false, true, false};
        } else if (e.refund_id != 0) {
          must = {false, true, false, true};
        } else {
          must = {true, false, false, false};
        }
        break;
      case entry_type::void_lot:
        must = e.hold_id != 0 ? rule{false, false, true, false} : rule{true, false, false, false};
        break;
      case entry_type::refund:
        must = {false, true, false, true};
        may.hold = true;  // the hold its charge was captured from
        break;
      case entry_type::adjust:
        must = {e.amount > 0, false, false, false};
        break;
      case entry_type::settings:  // names nothing: amount 0, no parts
        break;
    }
    auto id_rule = [&](const char* name, object_id id, bool required, bool allowed) {
      if (required && id == 0) bad("has no " + std::string(name));
      if (!required && !allowed && id != 0)
        bad(std::string(name) + " " + num(id) + " on a " + std::string(to_string(e.type)) +
            " entry (must be 0)");
    };
    id_rule("lot_id", e.lot_id, must.lot, may.lot);
    id_rule("charge_id", e.charge_id, must.charge, may.charge);
    id_rule("hold_id", e.hold_id, must.hold, may.hold);
    id_rule("refund_id", e.refund_id, must.refund, may.refund);
    // Amount against parts.
    const micros sum = parts_sum(e.parts);
    const micros expected = e.type == entry_type::adjust && e.amount < 0 ? -e.amount : e.amount;
    if (sum != expected) {
      bad("amount " + num(e.amount) + " but its parts add up to " + num(sum) + " " +
          parts_text(e.parts));
    }
    // Postpaid credit: only where the ledger spends or returns it, once.
    int postpaid = 0;
    for (const lot_part& p : e.parts) {
      if (p.lot == postpaid_lot_id) ++postpaid;
      if (p.amount < 0) bad("a part of lot " + num(p.lot) + " is negative");
    }
    const bool postpaid_ok = e.type == entry_type::charge || e.type == entry_type::hold ||
                             e.type == entry_type::capture || e.type == entry_type::release ||
                             e.type == entry_type::refund;
    if (postpaid > (postpaid_ok ? 1 : 0))
      bad("names postpaid credit (lot 0) " + num(static_cast<std::int64_t>(postpaid)) + " times");
  }

  // The lot parts of a charge, a hold or a debit (ledger::take, adjust):
  // spendable lots of the account, in consumption order, each but the last
  // taken whole, none skipped.
  void check_take(const entry& e, std::uint32_t acct, bool scoped) {
    const lot_st* last = nullptr;
    std::size_t lot_parts_n = 0;
    bool postpaid_seen = false;
    for (const lot_part& p : e.parts) {
      if (p.lot == postpaid_lot_id) {
        postpaid_seen = true;
        continue;
      }
      if (postpaid_seen) bad("takes from lot " + num(p.lot) + " after postpaid credit");
      ++lot_parts_n;
      lot_st* l = lot_named(p.lot, acct);
      if (l == nullptr) continue;
      if (l->created_seq == 0) {
        bad("takes from lot " + num(l->id) + " before any entry grants it");
        continue;
      }
      if (p.amount <= 0) bad("takes " + num(p.amount) + " from lot " + num(l->id));
      if (!l->spendable_at(e.created_at)) {
        bad("takes from lot " + num(l->id) + ", which is not spendable then (" +
            std::string(to_string(l->replayed_status())) + ", effective " +
            instant(l->effective_at) + ", expires " + instant(l->expires_at) + ")");
      } else if (p.amount > l->r_remaining) {
        bad("takes " + num(p.amount) + " from lot " + num(l->id) + ", which has " +
            num(l->r_remaining) + " remaining");
      }
      if (scoped && !scope_matches(l->scope, e.operation))
        bad("takes from lot " + num(l->id) + ", whose scope excludes " + e.operation);
      if (last != nullptr && !consumes_before(*last, *l))
        bad("takes from lot " + num(l->id) + " after lot " + num(last->id) +
            ", against consumption order");
      last = l;
    }
    if (last == nullptr) return;
    // Each lot part before the last takes all that lot had.
    std::size_t i = 0;
    for (const lot_part& p : e.parts) {
      if (p.lot == postpaid_lot_id) continue;
      if (++i == lot_parts_n) break;
      const lot_st* l = find_lot(p.lot);
      if (l != nullptr && l->created_seq != 0 && p.amount != l->r_remaining) {
        bad("takes " + num(p.amount) + " of lot " + num(l->id) + "'s " + num(l->r_remaining) +
            " and then from lot " + num(last->id) + ": a lot is spent whole before the next");
      }
    }
    // No spendable lot that is consumed before the last one taken is left out.
    for (std::uint32_t li : accounts[acct].live) {
      const lot_st& l = lots[li];
      if (!l.spendable_at(e.created_at) || (scoped && !scope_matches(l.scope, e.operation)))
        continue;
      if (!consumes_before(l, *last)) continue;
      const bool taken = std::any_of(e.parts.begin(), e.parts.end(),
                                     [&](const lot_part& p) { return p.lot == l.id; });
      if (!taken) {
        bad("takes from lot " + num(last->id) + " but not from lot " + num(l.id) +
            ", which is spent before it");
      }
    }
  }

  // Moves an entry's lot parts out of remaining, into spent, held or voided.
  void apply_take(const entry& e, micros lot_st::*into) {
    for (const lot_part& p : e.parts) {
      if (p.lot == postpaid_lot_id) continue;
      lot_st* l = find_lot(p.lot);
      if (l == nullptr) continue;
      l->r_remaining -= p.amount;
      l->*into += p.amount;
      sync_live(*l);
    }
  }

  void check_priced(const entry& e) {
    if (e.price_id.empty()) return;
    const micros cost = priced_amount(e.unit_amount, e.quantity);
    if (cost != e.amount) {
      bad("amount " + num(e.amount) + " but price " + e.price_id + " (unit_amount " +
          num(e.unit_amount) + " x quantity " + num(e.quantity) + ") gives " + num(cost));
    }
  }

  // A new lot's row against the entry that made it.
  void check_new_lot(const lot_st& l, const entry& e, micros amount, const char* by) {
    std::string diff;
    auto field = [&](const char* name, std::int64_t row, std::int64_t journal) {
      if (row != journal) {
        diff += (diff.empty() ? "" : "; ") + std::string(name) + " " + num(row) + " but its " + by +
                " entry " + num(e.seq) + " gives " + num(journal);
      }
    };
    field("amount", l.amount, amount);
    field("created_at", l.created_at, e.created_at);
    if (!diff.empty()) say(lot_name(l) + ": " + diff);
  }

  void on_grant(const entry& e, std::uint32_t acct) {
    lot_st* l = e.lot_id == 0 ? nullptr : lot_named(e.lot_id, acct);
    if (e.parts.size() != 1 || e.parts[0].lot != e.lot_id) {
      bad("parts " + parts_text(e.parts) + " but it grants lot " + num(e.lot_id) + " alone");
    }
    if (l == nullptr) return;
    if (l->created_seq != 0) {
      bad("grants lot " + num(l->id) + ", which entry " + num(l->created_seq) + " made already");
      return;
    }
    if (e.amount <= 0) bad("grants " + num(e.amount));
    const bool adjust = e.type == entry_type::adjust;
    create_lot(*l, e.amount, adjust ? made_by::adjust : made_by::grant);
    check_new_lot(*l, e, e.amount, adjust ? "adjust" : "grant");
    if (l->reason != e.reason) {
      say(lot_name(*l) + ": reason \"" + l->reason + "\" but its " +
          std::string(to_string(e.type)) + " entry " + num(e.seq) + " gives \"" + e.reason + "\"");
    }
    if (adjust && (l->source != "adjustment" || l->kind != lot_kind::prepaid ||
                   l->effective_at != e.created_at || l->expires_at != no_expiry)) {
      say(lot_name(*l) + ": made by adjust entry " + num(e.seq) +
          ", so a prepaid lot of source adjustment, effective then, never expiring; the row "
          "says " +
          std::string(to_string(l->kind)) + ", source " + l->source + ", effective " +
          instant(l->effective_at) + ", expires " + instant(l->expires_at));
    }
  }

  void on_debit(const entry& e, std::uint32_t acct) {
    // ledger::adjust with a negative amount: remaining -> voided, consumption
    // order, any scope.
    check_take(e, acct, /*scoped=*/false);
    apply_take(e, &lot_st::r_voided);
  }

  void on_spend(const entry& e, std::uint32_t acct) {
    account_st& a = accounts[acct];
    check_priced(e);
    check_take(e, acct, /*scoped=*/true);
    const bool to_hold = e.type == entry_type::hold;
    apply_take(e, to_hold ? &lot_st::r_held : &lot_st::r_spent);
    for (const lot_part& p : e.parts) {
      if (p.lot == postpaid_lot_id && p.amount > 0) take_postpaid(a, p.amount, e.created_at);
    }
    const bool consistent = parts_sum(e.parts) == e.amount;
    if (to_hold) {
      hold_st* h = find_hold(e.hold_id);
      if (h == nullptr) {
        if (e.hold_id != 0 && reported_missing.insert(e.hold_id).second)
          bad("places hold " + num(e.hold_id) + ", which is not in the holds table");
        return;
      }
      if (h->acct != acct) bad("places hold " + num(h->id) + " of account " + accounts[h->acct].id);
      if (h->seq != 0) {
        bad("places hold " + num(h->id) + ", which entry " + num(h->seq) + " placed already");
        return;
      }
      h->seq = e.seq;
      h->r_amount = e.amount;
      const lot_parts row_parts = std::move(h->outstanding);
      h->outstanding = e.parts;
      h->r_pp_period = a.pp_period;
      open_hold(*h);
      std::string diff;
      auto field = [&](const char* name, std::int64_t row, std::int64_t journal) {
        if (row != journal)
          diff += (diff.empty() ? "" : "; ") + std::string(name) + " " + num(row) +
                  " but its hold entry " + num(e.seq) + " gives " + num(journal);
      };
      if (consistent) field("amount", h->amount, e.amount);
      if (!std::equal(row_parts.begin(), row_parts.end(), e.parts.begin(), e.parts.end())) {
        diff += (diff.empty() ? "" : "; ") + std::string("parts ") + parts_text(row_parts) +
                " but its hold entry " + num(e.seq) + " gives " + parts_text(e.parts);
      }
      field("created_at", h->created_at, e.created_at);
      field("postpaid_period", h->postpaid_period, a.pp_period);
      if (h->spend_fp != spend_fields(e.operation, e.dimensions, e.reference, e.quantity,
                                      e.metadata, e.price_id, e.unit_amount)) {
        diff += (diff.empty() ? "" : "; ") +
                std::string(
                    "operation, dimensions, reference, quantity, metadata or price differ "
                    "from its hold entry ") +
                num(e.seq);
      }
      if (h->expires_at <= h->created_at)
        diff += (diff.empty() ? "" : "; ") + std::string("expires_at ") + num(h->expires_at) +
                " is not after created_at";
      if (!diff.empty()) say(hold_name(*h) + ": " + diff);
      return;
    }
    record_charge(e, acct, 0, a.pp_period, consistent);
  }

  // A charge or capture entry and the charge row it made.
  void record_charge(const entry& e, std::uint32_t acct, object_id hold_id, std::int64_t pp_period,
                     bool consistent) {
    charge_st* c = find_charge(e.charge_id);
    if (c == nullptr) {
      if (e.charge_id != 0 && reported_missing.insert(e.charge_id).second)
        bad("records charge " + num(e.charge_id) + ", which is not in the charges table");
      return;
    }
    if (c->acct != acct)
      bad("records charge " + num(c->id) + " of account " + accounts[c->acct].id);
    if (c->seq != 0) {
      bad("records charge " + num(c->id) + ", which entry " + num(c->seq) + " recorded already");
      return;
    }
    c->seq = e.seq;
    c->r_hold = hold_id;
    c->r_pp_period = pp_period;
    std::string diff;
    auto field = [&](const char* name, std::int64_t row, std::int64_t journal) {
      if (row != journal)
        diff += (diff.empty() ? "" : "; ") + std::string(name) + " " + num(row) + " but its " +
                std::string(to_string(e.type)) + " entry " + num(e.seq) + " gives " + num(journal);
    };
    if (consistent) field("amount", c->amount, e.amount);
    const bool same_parts =
        std::equal(c->parts.begin(), c->parts.end(), e.parts.begin(), e.parts.end(),
                   [](const charge_part_st& x, const lot_part& y) {
                     return x.lot == y.lot && x.amount == y.amount;
                   });
    if (!same_parts) {
      std::vector<lot_part> row_parts;
      for (const charge_part_st& p : c->parts)
        row_parts.push_back({p.lot, p.amount});
      diff += (diff.empty() ? "" : "; ") + std::string("parts ") + parts_text(row_parts) +
              " but its " + std::string(to_string(e.type)) + " entry " + num(e.seq) + " gives " +
              parts_text(e.parts);
      // From here on the journal's parts; the row's refunds cannot be
      // compared part by part.
      c->parts_aligned = false;
      c->parts.clear();
      for (const lot_part& p : e.parts)
        c->parts.push_back({p.lot, p.amount, 0, 0});
    }
    field("created_at", c->created_at, e.created_at);
    field("hold_id", static_cast<std::int64_t>(c->hold_id), static_cast<std::int64_t>(hold_id));
    field("postpaid_period", c->postpaid_period, pp_period);
    if (!diff.empty()) say(charge_name(*c) + ": " + diff);
  }

  void on_capture(const entry& e, std::uint32_t acct) {
    hold_st* h = find_hold(e.hold_id);
    if (h == nullptr) {
      if (reported_missing.insert(e.hold_id).second)
        bad("captures hold " + num(e.hold_id) + ", which is not in the holds table");
      apply_take(e, &lot_st::r_spent);  // as far as it can be followed
      return;
    }
    if (h->acct != acct) bad("captures hold " + num(h->id) + " of account " + accounts[h->acct].id);
    if (h->seq == 0 || h->r_status != hold_status::open) {
      bad("captures hold " + num(h->id) + ", which is not open (" +
          (h->seq == 0 ? std::string("never placed")
                       : std::string(to_string(h->r_status)) + " by entry " + num(h->closed_seq)) +
          ")");
      return;
    }
    if (e.created_at >= h->expires_at)
      bad("captures hold " + num(h->id) + " at or after its expiry " + instant(h->expires_at));
    if (h->spend_fp != spend_fields(e.operation, e.dimensions, e.reference, e.quantity, e.metadata,
                                    e.price_id, e.unit_amount)) {
      bad("operation, dimensions, reference, quantity, metadata or price differ from hold " +
          num(h->id) + "'s");
    }
    // ledger::capture: the hold's parts in order, up to the amount; the rest
    // is returned by the entries that follow.
    lot_parts captured, rest;
    micros left = std::max<micros>(0, e.amount);
    if (e.amount > h->r_amount)
      bad("captures " + num(e.amount) + " of hold " + num(h->id) + ", which holds " +
          num(h->r_amount));
    for (const lot_part& p : h->outstanding) {
      const micros x = std::min(left, p.amount);
      left -= x;
      if (x > 0) captured.push_back({p.lot, x});
      if (p.amount > x) rest.push_back({p.lot, p.amount - x});
    }
    if (!std::equal(captured.begin(), captured.end(), e.parts.begin(), e.parts.end())) {
      bad("parts " + parts_text(e.parts) + " but capturing " + num(e.amount) + " of hold " +
          num(h->id) + " " + parts_text(h->outstanding) + " takes " + parts_text(captured));
    }
    for (const lot_part& p : e.parts) {
      if (p.lot == postpaid_lot_id) continue;
      lot_st* l = find_lot(p.lot);
      if (l == nullptr) continue;
      l->r_held -= p.amount;
      l->r_spent += p.amount;
    }
    h->r_status = hold_status::captured;
    h->r_captured = e.amount;
    h->r_charge = e.charge_id;
    h->r_closed_at = e.created_at;
    h->closed_seq = e.seq;
    h->outstanding = rest;
    close_hold(*h);
    if (!rest.empty()) closing = static_cast<std::uint32_t>(h - holds.data());
    record_charge(e, acct, h->id, h->r_pp_period, parts_sum(e.parts) == e.amount);
  }

  // Release, expire and void entries that name a hold (ledger::return_held):
  // the first closes an open hold (a release command, or its expiry); each
  // returns part of what it held, by the state of each lot.
  void on_return(const entry& e, std::uint32_t acct) {
    account_st& a = accounts[acct];
    hold_st* h = find_hold(e.hold_id);
    if (h == nullptr) {
      if (reported_missing.insert(e.hold_id).second)
        bad("returns credits of hold " + num(e.hold_id) + ", which is not in the holds table");
      return;
    }
    if (h->acct != acct)
      bad("returns credits of hold " + num(h->id) + " of account " + accounts[h->acct].id);
    if (h->seq == 0) {
      bad("returns credits of hold " + num(h->id) + " before any entry places it");
      return;
    }
    const auto hi = static_cast<std::uint32_t>(h - holds.data());
    if (h->r_status == hold_status::open) {
      const bool expiry = e.created_at >= h->expires_at;
      if (e.created_at > h->expires_at) {
        bad("closes hold " + num(h->id) + " after its expiry " + instant(h->expires_at) +
            " (an expiring hold is closed at that instant)");
      }
      h->r_status = expiry ? hold_status::expired : hold_status::released;
      h->r_closed_at = e.created_at;
      h->closed_seq = e.seq;
      close_hold(*h);
      closing = hi;
    } else if (closing != hi) {
      bad("returns credits of hold " + num(h->id) + ", which entry " + num(h->closed_seq) +
          " closed before");
      return;
    }
    if (h->return_fp != return_fields(e.operation, e.reference))
      bad("operation or reference differ from hold " + num(h->id) + "'s");
    if (e.type == entry_type::release) {
      const bool expiry = h->r_status == hold_status::expired;
      if ((e.reason == "hold expired") != expiry) {
        bad("reason \"" + e.reason + "\" but hold " + num(h->id) +
            (expiry ? " expired (\"hold expired\")" : " was not expiring"));
      }
    }
    for (const lot_part& p : e.parts) {
      auto it = std::find_if(h->outstanding.begin(), h->outstanding.end(),
                             [&](const lot_part& o) { return o.lot == p.lot; });
      if (it == h->outstanding.end() || it->amount < p.amount) {
        bad("returns " + num(p.amount) + " of lot " + num(p.lot) + " but hold " + num(h->id) +
            " has " + parts_text(h->outstanding) + " to return");
      } else {
        it->amount -= p.amount;
      }
      if (p.lot == postpaid_lot_id) {
        if (e.type != entry_type::release)
          bad("returns postpaid credit in a " + std::string(to_string(e.type)) + " entry");
        return_postpaid(a, p.amount, h->r_pp_period);
        continue;
      }
      lot_st* l = lot_named(p.lot, acct);
      if (l == nullptr) continue;
      // return_held: voided lots take it as voided, expired ones (or past
      // their expiry) as expired, the others get it back.
      const bool gone_by_time = l->end == lot_end::expired || e.created_at >= l->expires_at;
      const entry_type due = l->end == lot_end::voided ? entry_type::void_lot
                             : gone_by_time            ? entry_type::expire
                                                       : entry_type::release;
      if (due != e.type) {
        bad("returns " + num(p.amount) + " of lot " + num(l->id) + " as " +
            std::string(to_string(e.type)) + " but the lot is " +
            std::string(to_string(l->replayed_status())) + " (expires " + instant(l->expires_at) +
            "): that is a " + std::string(to_string(due)));
      }
      l->r_held -= p.amount;
      if (e.type == entry_type::release) {
        l->r_remaining += p.amount;
      } else if (e.type == entry_type::expire) {
        l->r_expired += p.amount;
        if (l->end == lot_end::live) l->end = lot_end::expired;
      } else {
        l->r_voided += p.amount;
      }
      sync_live(*l);
    }
    if (parts_sum(h->outstanding) == 0 && closing == hi) {
      h->outstanding.clear();
      closing = none;
    }
  }

  // A lot's own expiry (ledger::expire_lot) or void (ledger::void_lot): all
  // it has remaining, at its expiry instant for an expiry.
  void on_lot_end(const entry& e, std::uint32_t acct) {
    lot_st* l = e.lot_id == 0 ? nullptr : lot_named(e.lot_id, acct);
    if (e.parts.size() != 1 || e.parts[0].lot != e.lot_id) {
      bad("parts " + parts_text(e.parts) + " but it ends lot " + num(e.lot_id) + " alone");
    }
    if (l == nullptr) return;
    if (l->created_seq == 0) {
      bad("ends lot " + num(l->id) + " before any entry grants it");
      return;
    }
    if (l->end != lot_end::live) {
      bad("ends lot " + num(l->id) + ", which is " + std::string(to_string(l->replayed_status())) +
          " already");
      return;
    }
    const bool expiry = e.type == entry_type::expire;
    if (e.amount != l->r_remaining) {
      bad(std::string(expiry ? "expires " : "voids ") + num(e.amount) + " of lot " + num(l->id) +
          ", which has " + num(l->r_remaining) + " remaining");
    }
    if (expiry && e.created_at != l->expires_at) {
      bad("expires lot " + num(l->id) + " at " + num(e.created_at) + " but the lot expires at " +
          instant(l->expires_at));
    }
    l->r_remaining -= e.amount;
    if (expiry) {
      l->r_expired += e.amount;
      l->end = lot_end::expired;
      l->expiry_amount = e.amount;
    } else {
      l->r_voided += e.amount;
      l->end = lot_end::voided;
    }
    sync_live(*l);
  }

  // The expire entry right after a refund into lots past their expiry.
  void on_born_expired(const entry& e) {
    if (!pending_born || pending_born->refund_id != e.refund_id) {
      bad("expires lots of refund " + num(e.refund_id) +
          ", which is not the refund entry right before");
    } else if (!std::equal(e.parts.begin(), e.parts.end(), pending_born->parts.begin(),
                           pending_born->parts.end())) {
      bad("parts " + parts_text(e.parts) + " but refund " + num(e.refund_id) +
          " made lots past their expiry " + parts_text(pending_born->parts));
    }
    pending_born.reset();
    for (const lot_part& p : e.parts) {
      lot_st* l = find_lot(p.lot);
      if (l == nullptr) continue;
      l->r_remaining -= p.amount;
      l->r_expired += p.amount;
      l->end = lot_end::expired;
      sync_live(*l);
    }
  }

  void on_refund(const entry& e, std::uint32_t acct) {
    account_st& a = accounts[acct];
    if (e.refund_id != 0) {
      if (!refund_ids.insert(e.refund_id).second)
        bad("refund_id " + num(e.refund_id) + " is used by an earlier refund");
    }
    charge_st* c = find_charge(e.charge_id);
    if (c == nullptr || c->seq == 0) {
      if (c == nullptr && e.charge_id != 0 && reported_missing.insert(e.charge_id).second)
        bad("refunds charge " + num(e.charge_id) + ", which is not in the charges table");
      else if (c != nullptr)
        bad("refunds charge " + num(c->id) + " before any entry records it");
      // Follow the parts as far as possible.
      for (const lot_part& p : e.parts) {
        if (p.lot == postpaid_lot_id) continue;
        lot_st* l = find_lot(p.lot);
        if (l == nullptr) continue;
        if (l->created_seq == 0) {
          create_lot(*l, p.amount, made_by::refund);
        } else {
          l->r_spent -= p.amount;
          l->r_remaining += p.amount;
          sync_live(*l);
        }
      }
      return;
    }
    if (c->acct != acct)
      bad("refunds charge " + num(c->id) + " of account " + accounts[c->acct].id);
    if (e.hold_id != c->r_hold) {
      bad("hold_id " + num(e.hold_id) + " but charge " + num(c->id) +
          (c->r_hold == 0 ? std::string(" was not captured from a hold")
                          : " was captured from hold " + num(c->r_hold)));
    }
    const micros left = c->amount - c->r_refunded;
    if (e.amount <= 0 || e.amount > left) {
      bad("refunds " + num(e.amount) + " of charge " + num(c->id) + ", which has " + num(left) +
          " left to refund");
    }
    // ledger::refund: the charge's parts newest first, each into its lot
    // while the lot lives, else into a new lot with the old lot's expiry.
    struct expect {
      object_id origin;  // the charge part's lot (0: postpaid)
      micros amount;
      bool into_same;
    };
    std::vector<expect> expected;
    micros r = std::clamp<micros>(e.amount, 0, left);
    for (auto part = c->parts.rbegin(); part != c->parts.rend() && r > 0; ++part) {
      const micros x = std::min(r, part->amount - part->refunded);
      if (x <= 0) continue;
      r -= x;
      part->refunded += x;
      if (part->lot == postpaid_lot_id) {
        expected.push_back({postpaid_lot_id, x, true});
        continue;
      }
      const lot_st* l = find_lot(part->lot);
      const bool alive = l != nullptr && l->end == lot_end::live && e.created_at < l->expires_at;
      expected.push_back({part->lot, x, alive});
    }
    c->r_refunded += std::clamp<micros>(e.amount, 0, left);
    bool match = expected.size() == e.parts.size();
    for (std::size_t i = 0; match && i < expected.size(); ++i) {
      const lot_part& p = e.parts[i];
      if (p.amount != expected[i].amount) match = false;
      if (expected[i].into_same) {
        if (p.lot != expected[i].origin) match = false;
      } else {
        const lot_st* n = find_lot(p.lot);
        if (p.lot == postpaid_lot_id || (n != nullptr && n->created_seq != 0)) match = false;
      }
    }
    if (!match) {
      std::string text = "[";
      for (std::size_t i = 0; i < expected.size(); ++i) {
        text += (i ? ",[" : "[") +
                (expected[i].into_same ? num(expected[i].origin)
                                       : "a new lot from " + num(expected[i].origin)) +
                "," + num(expected[i].amount) + "]";
      }
      bad("parts " + parts_text(e.parts) + " but refunding " + num(e.amount) + " of charge " +
          num(c->id) + " goes " + text + "]");
    }
    lot_parts born;
    for (std::size_t i = 0; i < e.parts.size(); ++i) {
      const lot_part& p = e.parts[i];
      if (p.lot == postpaid_lot_id) {
        return_postpaid(a, p.amount, c->r_pp_period);
        continue;
      }
      lot_st* l = lot_named(p.lot, acct);
      if (l == nullptr) continue;
      if (l->created_seq != 0) {
        l->r_spent -= p.amount;
        l->r_remaining += p.amount;
        sync_live(*l);
        continue;
      }
      create_lot(*l, p.amount, made_by::refund);
      check_new_lot(*l, e, p.amount, "refund");
      // The new lot carries the old lot's kind, priority, expiry and currency.
      const lot_st* origin = match && i < expected.size() ? find_lot(expected[i].origin) : nullptr;
      std::string diff;
      if (l->source != "refund") diff += "source " + l->source + " (not refund); ";
      if (l->reason != format_id(id_kind::charge, c->id))
        diff += "reason \"" + l->reason + "\" (not " + format_id(id_kind::charge, c->id) + "); ";
      if (l->effective_at != e.created_at)
        diff += "effective_at " + num(l->effective_at) + " (not " + num(e.created_at) + "); ";
      if (origin != nullptr && (l->kind != origin->kind || l->priority != origin->priority ||
                                l->expires_at != origin->expires_at ||
                                l->currency != origin->currency || l->scope != origin->scope)) {
        diff += "kind, priority, expiry, scope or currency differ from lot " + num(origin->id) +
                "'s, which it replaces; ";
      }
      if (!diff.empty()) {
        diff.resize(diff.size() - 2);
        say(lot_name(*l) + ": made by refund entry " + num(e.seq) + ": " + diff);
      }
      if (l->expires_at <= e.created_at) born.push_back({l->id, p.amount});
    }
    if (!born.empty()) pending_born = born_expired{e.seq, here(), e.refund_id, born};
  }

  // ledger::put_account: the reserve or the postpaid limit changed.
  void on_settings(const entry& e, std::uint32_t acct) {
    account_st& a = accounts[acct];
    const auto set = parse_settings_entry_metadata(e.metadata);
    if (!set) {
      bad("metadata " + e.metadata + " is not a reserve and a postpaid limit");
      return;
    }
    if (a.settings_entries && *set == a.j_settings)
      bad("changes no setting (the ledger writes one only on a change)");
    if (settings_unknown(a)) {
      // Its first: its balances so far were under no settings.
      a.balance_shift = a.if_journaled.shift;
      settle_verdict(a.if_journaled);
      a.if_legacy = {};
    }
    a.j_settings = *set;
    a.settings_entries = true;
  }

  // One balance_after against `b`, the balance the journal gives. One effect
  // missing or doubled shifts every later balance of the account by the same
  // amount: reported once, where the shift changes.
  void compare_balance(const entry& e, micros b, balance_verdict& v) {
    ++v.exact;
    const micros shift = e.balance_after - b;
    if (shift != 0 && shift != v.shift && v.problem.empty())
      v.problem =
          here() + ": balance_after " + num(e.balance_after) + " but the journal gives " + num(b);
    v.shift = shift;
  }
  void unverifiable_balance(const entry& e, balance_verdict& v) {
    ++v.unverifiable;
    if (e.balance_after < 0 && v.problem.empty())
      v.problem = here() + ": balance_after " + num(e.balance_after) + " is negative";
  }
  // Counts `v` and says its problem; `v` is spent.
  void settle_verdict(balance_verdict& v) {
    counts.balances_exact += v.exact;
    counts.balances_unverifiable += v.unverifiable;
    if (!v.problem.empty()) say(std::move(v.problem));
    v = {};
  }

  bool settings_unknown(const account_st& a) const {
    return a.has_row && !a.settings_entries &&
           balance_settings{a.reserve, a.postpaid_limit} != balance_settings{};
  }

  void check_balance(const entry& e, std::uint32_t acct) {
    account_st& a = accounts[acct];
    if (!a.has_row) {
      balance_verdict v;
      unverifiable_balance(e, v);
      settle_verdict(v);
      return;
    }
    if (settings_unknown(a)) {
      compare_balance(e, available(a, e.created_at, a.j_settings), a.if_journaled);
      if (e.created_at > a.updated_at) {
        compare_balance(e, available(a, e.created_at, {a.reserve, a.postpaid_limit}), a.if_legacy);
      } else {
        unverifiable_balance(e, a.if_legacy);
      }
      return;
    }
    // Known: from the journal's settings entries, or zero all along.
    balance_verdict v{.shift = a.balance_shift};
    compare_balance(e, available(a, e.created_at, a.j_settings), v);
    a.balance_shift = v.shift;
    settle_verdict(v);
  }

  // At the journal's end: the accounts whose settings were never said
  // changed them before settings entries existed.
  void settle_legacy_balances() {
    for (account_st& a : accounts) {
      if (!settings_unknown(a)) continue;
      settle_verdict(a.if_legacy);
      a.if_journaled = {};
    }
  }

  void entry_in(const entry& e, std::string_view account) {
    seal();
    if (!sequence(e, account)) return;
    ++counts.entries;
    cur = &e;
    cur_account = std::string(account);
    end_groups(&e);
    const std::uint32_t acct = entry_account(account, e.created_at);
    check_shape(e);
    switch (e.type) {
      case entry_type::grant:
        on_grant(e, acct);
        break;
      case entry_type::adjust:
        if (e.amount > 0) {
          on_grant(e, acct);
        } else {
          on_debit(e, acct);
        }
        break;
      case entry_type::charge:
      case entry_type::hold:
        on_spend(e, acct);
        break;
      case entry_type::capture:
        on_capture(e, acct);
        break;
      case entry_type::release:
        on_return(e, acct);
        break;
      case entry_type::expire:
        if (e.hold_id != 0) {
          on_return(e, acct);
        } else if (e.refund_id != 0) {
          on_born_expired(e);
        } else {
          on_lot_end(e, acct);
        }
        break;
      case entry_type::void_lot:
        if (e.hold_id != 0) {
          on_return(e, acct);
        } else {
          on_lot_end(e, acct);
        }
        break;
      case entry_type::refund:
        on_refund(e, acct);
        break;
      case entry_type::settings:
        on_settings(e, acct);
        break;
    }
    check_balance(e, acct);
    cur = nullptr;
  }

  // ---------------------------------------------------------------- finish

  void finish_lots() {
    for (lot_st& l : lots) {
      if (full) return;
      if (l.created_seq == 0) {
        say(lot_name(l) + ": no journal entry grants it");
        continue;
      }
      std::string diff;
      auto field = [&](const char* name, micros row, micros journal) {
        if (row != journal)
          diff += (diff.empty() ? "" : "; ") + std::string(name) + " " + num(row) +
                  " but the journal gives " + num(journal);
      };
      field("remaining", l.remaining, l.r_remaining);
      field("held", l.held, l.r_held);
      field("spent", l.spent, l.r_spent);
      field("expired", l.expired, l.r_expired);
      field("voided", l.voided, l.r_voided);
      if (l.status != l.replayed_status()) {
        diff += (diff.empty() ? "" : "; ") + std::string("status ") +
                std::string(to_string(l.status)) + " but the journal gives " +
                std::string(to_string(l.replayed_status()));
      }
      const micros parts = l.spent + l.held + l.expired + l.voided + l.remaining;
      if (parts != l.amount) {
        diff += (diff.empty() ? "" : "; ") + std::string("amount ") + num(l.amount) +
                " but spent + held + expired + voided + remaining = " + num(parts);
      }
      if (l.remaining < 0 || l.held < 0 || l.spent < 0 || l.expired < 0 || l.voided < 0)
        diff += (diff.empty() ? "" : "; ") + std::string("a part is negative");
      if (!diff.empty()) say(lot_name(l) + ": " + diff);
    }
  }

  void finish_holds() {
    for (hold_st& h : holds) {
      if (full) return;
      if (h.seq == 0) {
        say(hold_name(h) + ": no journal entry places it");
        continue;
      }
      std::string diff;
      auto field = [&](const char* name, const std::string& row, const std::string& journal) {
        if (row != journal)
          diff += (diff.empty() ? "" : "; ") + std::string(name) + " " + row +
                  " but the journal gives " + journal;
      };
      field("status", std::string(to_string(h.status)), std::string(to_string(h.r_status)));
      field("captured", num(h.captured), num(h.r_captured));
      field("charge_id", num(h.charge_id), num(h.r_charge));
      field("closed_at", num(h.closed_at), num(h.r_closed_at));
      if (h.captured > h.amount) {
        diff += (diff.empty() ? "" : "; ") + std::string("captured ") + num(h.captured) +
                " is more than its amount " + num(h.amount);
      }
      if (h.row_parts_sum != h.amount) {
        diff += (diff.empty() ? "" : "; ") + std::string("amount ") + num(h.amount) +
                " but its parts add up to " + num(h.row_parts_sum);
      }
      if (!diff.empty()) say(hold_name(h) + ": " + diff);
    }
  }

  void finish_charges() {
    for (charge_st& c : charges) {
      if (full) return;
      if (c.seq == 0) {
        say(charge_name(c) + ": no journal entry records it");
        continue;
      }
      std::string diff;
      if (c.refunded != c.r_refunded) {
        diff += "refunded " + num(c.refunded) + " but the journal gives " + num(c.r_refunded);
      }
      bool per_part = true;
      std::string row = "[", journal = "[";
      for (std::size_t i = 0; i < c.parts.size(); ++i) {
        if (c.parts[i].row_refunded != c.parts[i].refunded) per_part = false;
        row += (i ? "," : "") + num(c.parts[i].row_refunded);
        journal += (i ? "," : "") + num(c.parts[i].refunded);
      }
      if (c.parts_aligned && !per_part) {
        diff += (diff.empty() ? "" : "; ") + std::string("refunded by part ") + row +
                "] but the journal gives " + journal + "]";
      }
      if (c.row_parts_amount != c.amount) {
        diff += (diff.empty() ? "" : "; ") + std::string("amount ") + num(c.amount) +
                " but its parts add up to " + num(c.row_parts_amount);
      }
      if (c.row_parts_refunded != c.refunded) {
        diff += (diff.empty() ? "" : "; ") + std::string("refunded ") + num(c.refunded) +
                " but its parts' refunds add up to " + num(c.row_parts_refunded);
      }
      if (c.refunded < 0 || c.refunded > c.amount)
        diff += (diff.empty() ? "" : "; ") + std::string("refunded is out of range");
      if (!diff.empty()) say(charge_name(c) + ": " + diff);
    }
  }

  void finish_accounts() {
    // Per account, from the rows: the lots' credits and what the journal
    // granted; the lots' held and the open holds.
    struct sums {
      micros amount = 0, held = 0, open_held = 0;
    };
    std::vector<sums> by(accounts.size());
    for (const lot_st& l : lots) {
      by[l.acct].amount += l.amount;
      by[l.acct].held += l.held;
    }
    for (std::size_t i = 0; i < accounts.size(); ++i)
      by[i].open_held = accounts[i].row_open_held;
    for (std::size_t i = 0; i < accounts.size(); ++i) {
      if (full) return;
      const account_st& a = accounts[i];
      if (!a.has_row) continue;
      std::string diff;
      if (a.postpaid_used != a.pp_used || a.postpaid_period != a.pp_period) {
        diff += "postpaid_used " + num(a.postpaid_used) + " in period " + num(a.postpaid_period) +
                " but the journal gives " + num(a.pp_used) + " in period " + num(a.pp_period);
      }
      if (by[i].amount != a.credited) {
        diff += (diff.empty() ? "" : "; ") + std::string("its lots hold ") + num(by[i].amount) +
                " granted but the journal granted " + num(a.credited);
      }
      if (a.settings_entries && a.j_settings != balance_settings{a.reserve, a.postpaid_limit}) {
        diff += (diff.empty() ? "" : "; ") + std::string("reserve ") + num(a.reserve) +
                " and postpaid_limit " + num(a.postpaid_limit) +
                " but its last settings entry gives " + num(a.j_settings.reserve) + " and " +
                num(a.j_settings.postpaid_limit);
      }
      if (by[i].held != by[i].open_held) {
        diff += (diff.empty() ? "" : "; ") + std::string("its lots hold ") + num(by[i].held) +
                " for holds but its open holds hold " + num(by[i].open_held) + " of lots";
      }
      if (!diff.empty()) say("account " + a.id + ": " + diff);
    }
  }

  void finish_commerce() {
    std::unordered_set<object_id> purchase_lots;
    for (const purchase_st& p : purchases) {
      if (full) return;
      const std::string name = "purchase " + num(p.id) + " of " + p.account;
      lot_st* l = find_lot(p.lot_id);
      if (l == nullptr) {
        say(name + ": lot " + num(p.lot_id) + " is not in the lots table");
        continue;
      }
      if (!purchase_lots.insert(p.lot_id).second)
        say(name + ": lot " + num(p.lot_id) + " is another purchase's");
      std::string diff;
      if (accounts[l->acct].id != p.account)
        diff += "its lot " + num(l->id) + " belongs to account " + accounts[l->acct].id + "; ";
      if (l->creator != made_by::grant) diff += "no grant entry makes its lot " + num(l->id) + "; ";
      if (p.credits != l->amount || (l->creator == made_by::grant && p.credits != l->r_amount))
        diff += "credits " + num(p.credits) + " but lot " + num(l->id) + " holds " +
                num(l->amount) + " (the journal granted " + num(l->r_amount) + "); ";
      const std::string source =
          p.source == purchase_source::auto_topup ? "auto_topup" : "purchase";
      if (l->source != source)
        diff += "lot " + num(l->id) + " has source " + l->source + ", not " + source + "; ";
      if (l->created_at != p.created_at)
        diff += "created_at " + num(p.created_at) + " but lot " + num(l->id) + " was granted at " +
                num(l->created_at) + "; ";
      if (l->cost_basis != p.price || l->currency != p.currency)
        diff += "price " + num(p.price) + " " + p.currency + " but lot " + num(l->id) +
                " has cost basis " + num(l->cost_basis) + " " + l->currency + "; ";
      const std::string reason = format_id(id_kind::purchase, p.id) + " of package " + p.package;
      if (!l->reason.starts_with(reason))
        diff += "lot " + num(l->id) + "'s reason does not begin \"" + reason + "\"; ";
      if (!diff.empty()) {
        diff.resize(diff.size() - 2);
        say(name + ": " + diff);
      }
    }
    // Periods, by account and index.
    std::sort(periods.begin(), periods.end(), [](const auto& a, const auto& b) {
      return a.account != b.account ? a.account < b.account : a.index < b.index;
    });
    for (std::size_t i = 0; i < periods.size(); ++i) {
      if (full) return;
      const subscription_period& p = periods[i];
      const std::string name = "subscription period " + num(p.index) + " of " + p.account;
      std::string diff;
      auto check_lot = [&](object_id id, micros amount, const char* source, const char* what) {
        lot_st* l = find_lot(id);
        if (l == nullptr) {
          diff += std::string(what) + " lot " + num(id) + " is not in the lots table; ";
          return;
        }
        if (accounts[l->acct].id != p.account)
          diff += std::string(what) + " lot " + num(id) + " belongs to account " +
                  accounts[l->acct].id + "; ";
        if (l->creator != made_by::grant)
          diff += "no grant entry makes its " + std::string(what) + " lot " + num(id) + "; ";
        if (l->amount != amount || (l->creator == made_by::grant && l->r_amount != amount))
          diff += std::string(what) + " " + num(amount) + " but lot " + num(id) + " holds " +
                  num(l->amount) + " (the journal granted " + num(l->r_amount) + "); ";
        if (l->source != source || l->kind != lot_kind::plan)
          diff += std::string(what) + " lot " + num(id) + " is " + std::string(to_string(l->kind)) +
                  " of source " + l->source + ", not plan of " + source + "; ";
        if (l->created_at != p.starts_at || l->expires_at != p.ends_at)
          diff += std::string(what) + " lot " + num(id) + " runs " + num(l->created_at) + " to " +
                  instant(l->expires_at) + ", the period " + num(p.starts_at) + " to " +
                  instant(p.ends_at) + "; ";
      };
      check_lot(p.lot_id, p.granted, "subscription", "granted");
      if (p.rolled_over > 0 || p.rollover_lot_id != 0) {
        if (p.rolled_over <= 0 || p.rollover_lot_id == 0) {
          diff += "rolled_over " + num(p.rolled_over) + " with rollover lot " +
                  num(p.rollover_lot_id) + "; ";
        } else {
          check_lot(p.rollover_lot_id, p.rolled_over, "rollover", "rolled_over");
          // Carried from the previous period's allowance: at most what its
          // expiry took.
          const subscription_period* prev =
              i > 0 && periods[i - 1].account == p.account && periods[i - 1].index == p.index - 1
                  ? &periods[i - 1]
                  : nullptr;
          const lot_st* old = prev != nullptr ? find_lot(prev->lot_id) : nullptr;
          if (old == nullptr) {
            diff += "rolls over " + num(p.rolled_over) + " but has no previous period; ";
          } else if (old->expiry_amount < p.rolled_over) {
            diff += "rolls over " + num(p.rolled_over) + " but period " + num(prev->index) +
                    "'s lot " + num(old->id) + " expired with " +
                    (old->expiry_amount < 0 ? std::string("no expiry entry")
                                            : num(old->expiry_amount)) +
                    "; ";
          }
        }
      }
      if (!diff.empty()) {
        diff.resize(diff.size() - 2);
        say(name + ": " + diff);
      }
    }
    for (const subscription_st& s : subscriptions) {
      if (full) return;
      if (s.lot_id == 0) {
        if (s.status == subscription_status::active)
          say("subscription of " + s.account + ": active with no allowance lot");
        continue;
      }
      auto it = std::lower_bound(
          periods.begin(), periods.end(), std::make_pair(s.account, s.period_index),
          [](const subscription_period& p, const std::pair<std::string, std::int64_t>& k) {
            return p.account != k.first ? p.account < k.first : p.index < k.second;
          });
      if (it == periods.end() || it->account != s.account || it->index != s.period_index) {
        say("subscription of " + s.account + ": period " + num(s.period_index) +
            " is not in the subscription_periods table");
      } else if (it->lot_id != s.lot_id) {
        say("subscription of " + s.account + ": lot_id " + num(s.lot_id) + " but period " +
            num(s.period_index) + " granted lot " + num(it->lot_id));
      }
    }
  }

  void finish_ids() {
    // One object id sequence: every id is below the counter and used once.
    std::vector<std::pair<object_id, const char*>> ids;
    ids.reserve(lots.size() + holds.size() + charges.size() + purchases.size() + refund_ids.size());
    for (const lot_st& l : lots)
      ids.emplace_back(l.id, "lot");
    for (const hold_st& h : holds)
      ids.emplace_back(h.id, "hold");
    for (const charge_st& c : charges)
      ids.emplace_back(c.id, "charge");
    for (const purchase_st& p : purchases)
      ids.emplace_back(p.id, "purchase");
    for (object_id r : refund_ids)
      ids.emplace_back(r, "refund");
    std::sort(ids.begin(), ids.end());
    for (std::size_t i = 0; i < ids.size() && !full; ++i) {
      if (i > 0 && ids[i].first == ids[i - 1].first) {
        say(std::string(ids[i - 1].second) + " " + num(ids[i].first) + " and " + ids[i].second +
            " " + num(ids[i].first) + " share an id");
      }
    }
    if (counters_set && !ids.empty() && ids.back().first >= next_object_id) {
      say(std::string(ids.back().second) + " " + num(ids.back().first) +
          ": id is not below the store's next object id (meta next_object_id " +
          num(next_object_id) + ")");
    }
  }

  void finish_all() {
    seal();
    end_groups(nullptr);
    if (counters_set && last_seq + 1 != next_seq) {
      say("meta next_seq: " + num(next_seq) + " but the journal ends at entry " + num(last_seq) +
          " (next " + num(last_seq + 1) + ")");
    }
    for (const auto& [seq, whose] : other_next_seqs) {
      if (seq != last_seq + 1)
        say(whose + ": next seq " + num(seq) + " but the journal ends at entry " + num(last_seq));
    }
    settle_legacy_balances();
    finish_lots();
    finish_holds();
    finish_charges();
    finish_accounts();
    finish_commerce();
    finish_ids();
  }
};

journal_auditor::journal_auditor(std::size_t problems_max)
    : s_(std::make_unique<state>(problems_max)) {}
journal_auditor::~journal_auditor() = default;

void journal_auditor::set_counters(std::uint64_t next_seq, object_id next_object_id) {
  s_->next_seq = next_seq;
  s_->next_object_id = next_object_id;
  s_->counters_set = true;
}

void journal_auditor::expect_next_seq(std::uint64_t next_seq, std::string_view whose) {
  s_->other_next_seqs.emplace_back(next_seq, std::string(whose));
}

void journal_auditor::reserve(std::size_t lots, std::size_t holds, std::size_t charges) {
  CREDITD_ASSERT(!s_->sealed);
  s_->lots.reserve(lots);
  s_->holds.reserve(holds);
  s_->charges.reserve(charges);
}

void journal_auditor::add_account(const account_row& row) {
  CREDITD_ASSERT(!s_->sealed);
  const std::uint32_t slot = s_->account_slot(row.id);
  account_st& a = s_->accounts[slot];
  if (a.has_row) return;  // the id is the table's key: cannot happen
  a.has_row = true;
  a.reserve = row.settings.reserve;
  a.postpaid_limit = row.settings.postpaid_limit;
  a.created_at = row.created_at;
  a.updated_at = row.updated_at;
  a.postpaid_used = row.postpaid_used;
  a.postpaid_period = row.postpaid_period;
  ++s_->counts.accounts;
}

void journal_auditor::add_lot(const lot& row, std::string_view account) {
  CREDITD_ASSERT(!s_->sealed);
  lot_st& l = s_->lots.emplace_back();
  l.id = row.id;
  l.acct = s_->account_slot(account);
  l.kind = row.kind;
  l.status = row.status;
  l.priority = row.priority;
  l.amount = row.amount;
  l.remaining = row.remaining;
  l.held = row.held;
  l.spent = row.spent;
  l.expired = row.expired;
  l.voided = row.voided;
  l.effective_at = row.effective_at;
  l.expires_at = row.expires_at;
  l.created_at = row.created_at;
  l.cost_basis = row.cost_basis;
  l.scope = row.scope;
  l.source = row.source;
  l.reason = row.reason;
  l.currency = row.currency;
  ++s_->counts.lots;
}

void journal_auditor::add_hold(const hold& row, std::string_view account) {
  CREDITD_ASSERT(!s_->sealed);
  hold_st& h = s_->holds.emplace_back();
  h.id = row.id;
  h.acct = s_->account_slot(account);
  h.status = row.status;
  h.amount = row.amount;
  h.captured = row.captured;
  h.outstanding = row.parts;
  h.row_parts_sum = parts_sum(row.parts);
  if (row.status == hold_status::open) {
    for (const lot_part& p : row.parts) {
      if (p.lot != postpaid_lot_id) s_->accounts[h.acct].row_open_held += p.amount;
    }
  }
  h.created_at = row.created_at;
  h.expires_at = row.expires_at;
  h.closed_at = row.closed_at;
  h.charge_id = row.charge_id;
  h.postpaid_period = row.postpaid_period;
  h.spend_fp = spend_fields(row.operation, row.dimensions, row.reference, row.quantity,
                            row.metadata, row.price_id, row.unit_amount);
  h.return_fp = return_fields(row.operation, row.reference);
  ++s_->counts.holds;
}

void journal_auditor::add_charge(const charge_record& row, std::string_view account) {
  CREDITD_ASSERT(!s_->sealed);
  charge_st& c = s_->charges.emplace_back();
  c.id = row.id;
  c.acct = s_->account_slot(account);
  c.amount = row.amount;
  c.refunded = row.refunded;
  for (const charge_part& p : row.parts) {
    c.parts.push_back({p.lot, p.amount, p.refunded, 0});
    c.row_parts_amount += p.amount;
    c.row_parts_refunded += p.refunded;
  }
  c.created_at = row.created_at;
  c.hold_id = row.hold_id;
  c.postpaid_period = row.postpaid_period;
  ++s_->counts.charges;
}

void journal_auditor::add_purchase(const purchase& row) {
  CREDITD_ASSERT(!s_->sealed);
  purchase_st& p = s_->purchases.emplace_back();
  p.id = row.id;
  p.account = row.account;
  p.package = row.package;
  p.lot_id = row.lot_id;
  p.credits = row.credits;
  p.price = row.price;
  p.currency = row.currency;
  p.source = row.source;
  p.created_at = row.created_at;
  ++s_->counts.purchases;
}

void journal_auditor::add_period(const subscription_period& row) {
  CREDITD_ASSERT(!s_->sealed);
  s_->periods.push_back(row);
  ++s_->counts.periods;
}

void journal_auditor::add_subscription(const subscription& row, std::string_view account) {
  CREDITD_ASSERT(!s_->sealed);
  s_->subscriptions.push_back(
      subscription_st{std::string(account), row.period_index, row.lot_id, row.status});
  ++s_->counts.subscriptions;
}

void journal_auditor::add_entry(const entry& e, std::string_view account) {
  CREDITD_ASSERT(!s_->finished);
  if (s_->full) return;
  s_->entry_in(e, account);
}

void journal_auditor::add_unreadable_entry(std::uint64_t seq, std::string_view account,
                                           std::string_view what) {
  CREDITD_ASSERT(!s_->finished);
  if (s_->full) return;
  s_->seal();
  entry e;
  e.seq = seq;
  if (!s_->sequence(e, account)) return;
  ++s_->counts.entries;
  s_->say("entry " + num(seq) + " (account " + std::string(account) + "): " + std::string(what));
}

void journal_auditor::finish() {
  CREDITD_ASSERT(!s_->finished);
  s_->finished = true;
  if (s_->full) return;
  s_->finish_all();
}

void journal_auditor::add_problem(std::string problem) {
  s_->say(std::move(problem));
}

const std::vector<std::string>& journal_auditor::problems() const {
  return s_->problems;
}
bool journal_auditor::full() const {
  return s_->full;
}
const audit_counts& journal_auditor::counts() const {
  return s_->counts;
}

}  // namespace creditd::ledger
