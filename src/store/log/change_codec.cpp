#include "store/log/change_codec.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <functional>
#include <limits>

#include "util/assert.hpp"

namespace creditd::store::log {

static_assert(std::endian::native == std::endian::little, "the log's codec assumes little-endian");

const ledger::account* owner_arena::intern(std::string_view id) {
  // A charge's entry, lot and charge rows name one owner in a row: the
  // last one answers most lookups without hashing.
  if (last_ != nullptr && last_->id == id) return last_;
  const std::size_t h = ledger::account_index::hash(id);
  if (ledger::account* a = index_.find(id, h)) return last_ = a;
  ledger::account& a = next_account();
  a.id.assign(id);
  index_.insert(h, &a);
  return last_ = &a;
}

ledger::account& owner_arena::next_account() {
  const std::size_t block = size_ / block_accounts;
  if (block == blocks_.size())
    blocks_.push_back(std::make_unique<ledger::account[]>(block_accounts));
  return blocks_[block][size_++ % block_accounts];
}

void owner_arena::reset() {
  // Only an id was ever set: clearing it makes the account as new.
  const std::size_t kept = std::min(blocks_.size(), retained_max / block_accounts);
  blocks_.resize(kept);
  for (auto& block : blocks_)
    for (std::size_t i = 0; i < block_accounts; ++i)
      block[i].id.clear();
  size_ = 0;
  last_ = nullptr;
  index_.clear(2 * retained_max);
}

namespace {

// ---- Encoding.

// A signed integer as an unsigned one whose magnitude it keeps (0, -1, 1,
// -2 ... -> 0, 1, 2, 3 ...): a small negative amount stays a short varint.
std::uint64_t zigzag(std::int64_t v) {
  return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
}
std::int64_t unzigzag(std::uint64_t v) {
  return static_cast<std::int64_t>(v >> 1) ^ -static_cast<std::int64_t>(v & 1);
}

// Writes at a cursor into `out`, which it grows ahead of the cursor without
// filling (resize_and_overwrite) and cuts back to what was written when it
// goes: one bounds check per field and no call into std::string for each,
// which were most of a record's encoding time (a spread charge has about
// fifty fields, encoded on the writer's thread inside every commit).
class writer {
 public:
  explicit writer(std::string& out, bool varint = true)
      : out_(out), pos_(out.size()), varint_(varint) {}
  ~writer() { out_.resize(pos_); }
  writer(const writer&) = delete;
  writer& operator=(const writer&) = delete;

  void u8(std::uint8_t v) {
    ensure(1);
    out_[pos_++] = static_cast<char>(v);
  }
  // LEB128: 7 bits a byte, low first, the high bit set on all but the last.
  void uvar(std::uint64_t v) {
    ensure(10);
    char* d = out_.data() + pos_;
    std::size_t n = 0;
    while (v >= 0x80) {
      d[n++] = static_cast<char>(v | 0x80);
      v >>= 7;
    }
    d[n++] = static_cast<char>(v);
    pos_ += n;
  }
  void u32(std::uint32_t v) {
    if (varint_)
      uvar(v);
    else
      bytes(&v, 4);
  }
  void u64(std::uint64_t v) {
    if (varint_)
      uvar(v);
    else
      bytes(&v, 8);
  }
  void i64(std::int64_t v) {
    if (varint_)
      uvar(zigzag(v));
    else
      u64(static_cast<std::uint64_t>(v));
  }
  void bytes(const void* p, std::size_t n) {
    ensure(n);
    std::memcpy(out_.data() + pos_, p, n);
    pos_ += n;
  }
  void count(std::size_t n) {
    CREDITD_ASSERT(n <= std::numeric_limits<std::uint32_t>::max());
    u32(static_cast<std::uint32_t>(n));
  }
  void str(std::string_view s) {
    count(s.size());
    bytes(s.data(), s.size());
  }
  // An enum by its name (as the API and the database spell it), so that a
  // value added later needs no new codec version and none is misread.
  template <typename E>
  void name(E v) {
    const std::string_view n = ledger::to_string(v);
    CREDITD_ASSERT(n.size() <= 255);
    u8(static_cast<std::uint8_t>(n.size()));
    bytes(n.data(), n.size());
  }
  void owner(const ledger::account* a) {
    CREDITD_ASSERT(a != nullptr);
    str(a->id);
  }
  void parts(std::span<const ledger::lot_part> ps) {
    count(ps.size());
    for (const auto& p : ps) {
      u64(p.lot);
      i64(p.amount);
    }
  }
  void strs(const std::vector<std::string>& v) {
    count(v.size());
    for (const auto& s : v)
      str(s);
  }

 private:
  void ensure(std::size_t n) {
    if (out_.size() - pos_ < n) grow(n);
  }
  void grow(std::size_t n) {
    // At once to what the caller reserved, then doubling.
    const std::size_t want = std::max({pos_ + n, out_.size() * 2 + 256, out_.capacity()});
    // The bytes past pos_ are written before they are read, and cut off at
    // the end: nothing to fill them with.
    out_.resize_and_overwrite(want, [](char*, std::size_t size) { return size; });
  }

  std::string& out_;
  std::size_t pos_;  // the end of what was written
  bool varint_;
};

void put(writer& w, const ledger::entry& e) {
  w.u64(e.seq);
  w.name(e.type);
  w.owner(e.owner);
  w.i64(e.amount);
  w.i64(e.balance_after);
  w.i64(e.quantity);
  w.u64(e.lot_id);
  w.u64(e.charge_id);
  w.u64(e.hold_id);
  w.u64(e.refund_id);
  w.parts(e.parts);
  w.str(e.operation);
  w.str(e.dimensions);
  w.str(e.reference);
  w.str(e.reason);
  w.str(e.metadata);
  w.str(e.price_id);
  w.i64(e.unit_amount);
  w.i64(e.created_at);
}

void put(writer& w, const ledger::account_row& a) {
  w.str(a.id);
  w.str(a.name);
  const ledger::account_settings& s = a.settings;
  w.count(s.low_balance_thresholds.size());
  for (ledger::micros m : s.low_balance_thresholds)
    w.i64(m);
  w.i64(s.reserve);
  w.i64(s.postpaid_limit);
  w.i64(s.rate_limit_per_minute);
  w.i64(s.max_open_holds);
  w.i64(s.expiring_soon_days);
  w.u8(s.auto_topup ? 1 : 0);
  if (s.auto_topup) {
    w.i64(s.auto_topup->below);
    w.str(s.auto_topup->package);
    w.i64(s.auto_topup->max_per_period);
  }
  w.i64(a.created_at);
  w.i64(a.updated_at);
  w.i64(a.postpaid_used);
  w.i64(a.postpaid_period);
  w.u8(a.topup.armed ? 1 : 0);
  w.i64(a.topup.period_start);
  w.i64(a.topup.count);
}

void put(writer& w, const ledger::lot& l) {
  w.u64(l.id);
  w.owner(l.owner);
  w.name(l.kind);
  w.name(l.status);
  w.u32(static_cast<std::uint32_t>(l.priority));
  w.i64(l.amount);
  w.i64(l.remaining);
  w.i64(l.held);
  w.i64(l.spent);
  w.i64(l.expired);
  w.i64(l.voided);
  w.i64(l.effective_at);
  w.i64(l.expires_at);
  w.i64(l.created_at);
  w.strs(l.scope);
  w.str(l.source);
  w.str(l.reason);
  w.i64(l.cost_basis);
  w.str(l.currency);
}

void put(writer& w, const ledger::hold& h) {
  w.u64(h.id);
  w.owner(h.owner);
  w.name(h.status);
  w.i64(h.amount);
  w.i64(h.captured);
  w.parts(h.parts);
  w.i64(h.quantity);
  w.str(h.operation);
  w.str(h.dimensions);
  w.str(h.reference);
  w.str(h.metadata);
  w.str(h.price_id);
  w.i64(h.unit_amount);
  w.i64(h.created_at);
  w.i64(h.expires_at);
  w.i64(h.closed_at);
  w.u64(h.charge_id);
  w.i64(h.postpaid_period);
}

void put(writer& w, const ledger::charge_record& c) {
  w.u64(c.id);
  w.owner(c.owner);
  w.i64(c.amount);
  w.i64(c.refunded);
  w.count(c.parts.size());
  for (const auto& p : c.parts) {
    w.u64(p.lot);
    w.i64(p.amount);
    w.i64(p.refunded);
  }
  w.i64(c.created_at);
  w.u64(c.hold_id);
  w.i64(c.postpaid_period);
}

void put(writer& w, const ledger::idempotency_record& r) {
  w.str(r.key);
  w.str(r.fingerprint);
  w.u32(static_cast<std::uint32_t>(r.status));
  w.str(r.body);
  w.i64(r.created_at);
}

void put(writer& w, const ledger::price& p) {
  w.str(p.id);
  w.str(p.operation);
  w.count(p.dimensions.size());
  for (const auto& d : p.dimensions) {
    w.str(d.key);
    w.str(d.value);
  }
  w.i64(p.unit_amount);
  w.i64(p.created_at);
  w.i64(p.updated_at);
}

void put(writer& w, const ledger::package& p) {
  w.str(p.id);
  w.i64(p.credits);
  w.i64(p.price);
  w.str(p.currency);
  w.i64(p.validity_days);
  w.i64(p.created_at);
  w.i64(p.updated_at);
}

void put(writer& w, const ledger::plan& p) {
  w.str(p.id);
  w.i64(p.credits_per_period);
  w.name(p.period);
  w.u8(p.rollover_cap ? 1 : 0);
  if (p.rollover_cap) w.i64(*p.rollover_cap);
  w.i64(p.created_at);
  w.i64(p.updated_at);
}

void put(writer& w, const ledger::subscription& s) {
  w.owner(s.owner);
  w.str(s.plan);
  w.str(s.next_plan);
  w.str(s.timezone);
  w.u32(static_cast<std::uint32_t>(s.anchor.year));
  w.u8(s.anchor.month);
  w.u8(s.anchor.day);
  w.i64(s.start_at);
  w.i64(s.period_index);
  w.i64(s.period_start);
  w.i64(s.period_end);
  w.u64(s.lot_id);
  w.u8(s.cancel_at_period_end ? 1 : 0);
  w.name(s.status);
  w.i64(s.created_at);
  w.i64(s.updated_at);
}

void put(writer& w, const ledger::purchase& p) {
  w.u64(p.id);
  w.str(p.account);
  w.str(p.package);
  w.u64(p.lot_id);
  w.i64(p.credits);
  w.i64(p.price);
  w.str(p.currency);
  w.name(p.source);
  w.str(p.external_id);
  w.str(p.reason);
  w.i64(p.created_at);
}

void put(writer& w, const ledger::subscription_period& p) {
  w.str(p.account);
  w.i64(p.index);
  w.str(p.plan);
  w.u64(p.lot_id);
  w.i64(p.granted);
  w.i64(p.rolled_over);
  w.u64(p.rollover_lot_id);
  w.i64(p.starts_at);
  w.i64(p.ends_at);
}

void put(writer& w, const ledger::event& ev) {
  w.u64(ev.seq);
  w.name(ev.type);
  // An event of no account (webhook_endpoint.disabled) has an empty owner.
  w.str(ev.owner != nullptr ? std::string_view(ev.owner->id) : std::string_view());
  w.i64(ev.created_at);
  w.str(ev.data);
}

template <typename T>
void put_all(writer& w, const std::vector<T>& rows) {
  w.count(rows.size());
  for (const T& r : rows)
    put(w, r);
}

void put_set(writer& w, const ledger::change_set& c) {
  put_all(w, c.entries);
  put_all(w, c.accounts);
  put_all(w, c.lots);
  put_all(w, c.holds);
  put_all(w, c.charges);
  put_all(w, c.idempotency_added);
  put_all(w, c.prices);
  w.strs(c.prices_deleted);
  put_all(w, c.packages);
  put_all(w, c.plans);
  put_all(w, c.subscriptions);
  put_all(w, c.purchases);
  put_all(w, c.periods);
  w.i64(c.idempotency_expired_before);
  w.i64(c.time_seen);
  w.u64(c.next_object_id);
  w.u64(c.next_seq);
  // Version 2.
  put_all(w, c.events);
  w.i64(c.notices_until);
}

// ---- Decoding: every read checks what remains; the first failure sticks
// and names what was being read.

class reader {
 public:
  reader(std::string_view in, owner_arena& arena) : in_(in), arena_(arena) {}
  // From version 3 on: integers are varints (set once the version is read).
  void use_varints() { varint_ = true; }

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  std::size_t remaining() const { return in_.size() - pos_; }
  void fail(std::string what) {
    if (error_.empty()) error_ = std::move(what) + " at byte " + std::to_string(pos_);
  }

  std::uint8_t u8() {
    std::uint8_t v = 0;
    take(&v, 1);
    return v;
  }
  std::uint32_t u32() {
    if (varint_) {
      const std::uint64_t v = uvar();
      if (v > std::numeric_limits<std::uint32_t>::max()) {
        fail("a 32-bit field of " + std::to_string(v));
        return 0;
      }
      return static_cast<std::uint32_t>(v);
    }
    std::uint32_t v = 0;
    take(&v, 4);
    return v;
  }
  std::uint64_t u64() {
    if (varint_) return uvar();
    std::uint64_t v = 0;
    take(&v, 8);
    return v;
  }
  std::int64_t i64() { return varint_ ? unzigzag(uvar()) : static_cast<std::int64_t>(u64()); }
  std::int32_t i32() { return static_cast<std::int32_t>(u32()); }
  bool flag() {
    const std::uint8_t v = u8();
    if (v > 1) fail("a flag that is neither 0 nor 1");
    return v == 1;
  }
  // A count of items each at least `item_bytes_min` long in the fixed-width
  // layout (an eighth of that with varints, where every field takes at
  // least one byte, and at least one): never more than the bytes left can
  // hold, so a forged count cannot make a huge allocation.
  std::size_t count(std::size_t item_bytes_min) {
    const std::uint32_t n = u32();
    if (!ok()) return 0;
    if (varint_ && item_bytes_min > 0)
      item_bytes_min = std::max<std::size_t>(1, item_bytes_min / 8);
    if (static_cast<std::uint64_t>(n) * item_bytes_min > remaining()) {
      fail("a count of " + std::to_string(n) + " past the end");
      return 0;
    }
    return n;
  }
  std::string str() {
    const std::size_t n = count(1);
    if (!ok()) return {};
    std::string s(in_.substr(pos_, n));
    pos_ += n;
    return s;
  }
  // The empty owner of an event of no account.
  const ledger::account* no_owner() {
    if (count(0) != 0 && ok()) fail("an owner where none may be");
    return nullptr;
  }
  const ledger::account* owner() {
    const std::size_t n = count(1);
    if (!ok()) return nullptr;
    if (n == 0) {
      fail("an empty owner id");
      return nullptr;
    }
    const ledger::account* a = arena_.intern(in_.substr(pos_, n));
    pos_ += n;
    return a;
  }
  // An enum written by its name: valid when the name parses.
  template <typename E, typename Parse>
  E enumerated(Parse parse, const char* what) {
    const std::size_t n = u8();
    if (!ok()) return E{};
    if (remaining() < n) {
      fail("a field past the end");
      return E{};
    }
    const std::optional<E> v = parse(in_.substr(pos_, n));
    if (!v) {
      fail(std::string("an unknown ") + what);
      return E{};
    }
    pos_ += n;
    return *v;
  }

 private:
  std::uint64_t uvar() {
    if (!ok()) return 0;
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= in_.size()) {
        fail("a field past the end");
        return 0;
      }
      const auto b = static_cast<std::uint8_t>(in_[pos_++]);
      // The tenth byte holds bit 63 only.
      if (shift == 63 && b > 1) break;
      v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return v;
    }
    fail("a varint past 64 bits");
    return 0;
  }

  void take(void* into, std::size_t n) {
    if (!ok()) return;
    if (remaining() < n) {
      fail("a field past the end");
      return;
    }
    std::memcpy(into, in_.data() + pos_, n);
    pos_ += n;
  }

  std::string_view in_;
  std::size_t pos_ = 0;
  owner_arena& arena_;
  std::string error_;
  bool varint_ = false;
};

template <typename Parts>
void get_parts(reader& r, Parts& out) {
  const std::size_t n = r.count(16);
  for (std::size_t i = 0; i < n && r.ok(); ++i) {
    ledger::lot_part p;
    p.lot = r.u64();
    p.amount = r.i64();
    out.push_back(p);
  }
}

std::vector<std::string> get_strs(reader& r) {
  std::vector<std::string> v;
  const std::size_t n = r.count(4);
  v.reserve(n);
  for (std::size_t i = 0; i < n && r.ok(); ++i)
    v.push_back(r.str());
  return v;
}

void get(reader& r, ledger::entry& e) {
  e.seq = r.u64();
  e.type = r.enumerated<ledger::entry_type>(ledger::parse_entry_type, "entry type");
  e.owner = r.owner();
  e.amount = r.i64();
  e.balance_after = r.i64();
  e.quantity = r.i64();
  e.lot_id = r.u64();
  e.charge_id = r.u64();
  e.hold_id = r.u64();
  e.refund_id = r.u64();
  get_parts(r, e.parts);
  e.operation = r.str();
  e.dimensions = r.str();
  e.reference = r.str();
  e.reason = r.str();
  e.metadata = r.str();
  e.price_id = r.str();
  e.unit_amount = r.i64();
  e.created_at = r.i64();
}

void get(reader& r, ledger::account_row& a) {
  a.id = r.str();
  a.name = r.str();
  ledger::account_settings& s = a.settings;
  const std::size_t n = r.count(8);
  s.low_balance_thresholds.reserve(n);
  for (std::size_t i = 0; i < n && r.ok(); ++i)
    s.low_balance_thresholds.push_back(r.i64());
  s.reserve = r.i64();
  s.postpaid_limit = r.i64();
  s.rate_limit_per_minute = r.i64();
  s.max_open_holds = r.i64();
  s.expiring_soon_days = r.i64();
  if (r.flag()) {
    ledger::auto_topup_settings t;
    t.below = r.i64();
    t.package = r.str();
    t.max_per_period = r.i64();
    s.auto_topup = std::move(t);
  }
  a.created_at = r.i64();
  a.updated_at = r.i64();
  a.postpaid_used = r.i64();
  a.postpaid_period = r.i64();
  a.topup.armed = r.flag();
  a.topup.period_start = r.i64();
  a.topup.count = r.i64();
}

void get(reader& r, ledger::lot& l) {
  l.id = r.u64();
  l.owner = r.owner();
  l.kind = r.enumerated<ledger::lot_kind>(ledger::parse_lot_kind, "lot kind");
  l.status = r.enumerated<ledger::lot_status>(ledger::parse_lot_status, "lot status");
  l.priority = r.i32();
  l.amount = r.i64();
  l.remaining = r.i64();
  l.held = r.i64();
  l.spent = r.i64();
  l.expired = r.i64();
  l.voided = r.i64();
  l.effective_at = r.i64();
  l.expires_at = r.i64();
  l.created_at = r.i64();
  l.scope = get_strs(r);
  l.source = r.str();
  l.reason = r.str();
  l.cost_basis = r.i64();
  l.currency = r.str();
}

void get(reader& r, ledger::hold& h) {
  h.id = r.u64();
  h.owner = r.owner();
  h.status = r.enumerated<ledger::hold_status>(ledger::parse_hold_status, "hold status");
  h.amount = r.i64();
  h.captured = r.i64();
  get_parts(r, h.parts);
  h.quantity = r.i64();
  h.operation = r.str();
  h.dimensions = r.str();
  h.reference = r.str();
  h.metadata = r.str();
  h.price_id = r.str();
  h.unit_amount = r.i64();
  h.created_at = r.i64();
  h.expires_at = r.i64();
  h.closed_at = r.i64();
  h.charge_id = r.u64();
  h.postpaid_period = r.i64();
}

void get(reader& r, ledger::charge_record& c) {
  c.id = r.u64();
  c.owner = r.owner();
  c.amount = r.i64();
  c.refunded = r.i64();
  const std::size_t n = r.count(24);
  for (std::size_t i = 0; i < n && r.ok(); ++i) {
    ledger::charge_part p;
    p.lot = r.u64();
    p.amount = r.i64();
    p.refunded = r.i64();
    c.parts.push_back(p);
  }
  c.created_at = r.i64();
  c.hold_id = r.u64();
  c.postpaid_period = r.i64();
}

void get(reader& r, ledger::idempotency_record& rec) {
  rec.key = r.str();
  rec.fingerprint = r.str();
  rec.status = r.i32();
  rec.body = r.str();
  rec.created_at = r.i64();
}

void get(reader& r, ledger::price& p) {
  p.id = r.str();
  p.operation = r.str();
  const std::size_t n = r.count(8);
  p.dimensions.reserve(n);
  for (std::size_t i = 0; i < n && r.ok(); ++i) {
    ledger::dimension d;
    d.key = r.str();
    d.value = r.str();
    p.dimensions.push_back(std::move(d));
  }
  p.unit_amount = r.i64();
  p.created_at = r.i64();
  p.updated_at = r.i64();
}

void get(reader& r, ledger::package& p) {
  p.id = r.str();
  p.credits = r.i64();
  p.price = r.i64();
  p.currency = r.str();
  p.validity_days = r.i64();
  p.created_at = r.i64();
  p.updated_at = r.i64();
}

void get(reader& r, ledger::plan& p) {
  p.id = r.str();
  p.credits_per_period = r.i64();
  p.period = r.enumerated<ledger::period_unit>(ledger::parse_period_unit, "period unit");
  if (r.flag()) p.rollover_cap = r.i64();
  p.created_at = r.i64();
  p.updated_at = r.i64();
}

void get(reader& r, ledger::subscription& s) {
  s.owner = r.owner();
  s.plan = r.str();
  s.next_plan = r.str();
  s.timezone = r.str();
  s.anchor.year = r.i32();
  s.anchor.month = r.u8();
  s.anchor.day = r.u8();
  s.start_at = r.i64();
  s.period_index = r.i64();
  s.period_start = r.i64();
  s.period_end = r.i64();
  s.lot_id = r.u64();
  s.cancel_at_period_end = r.flag();
  s.status = r.enumerated<ledger::subscription_status>(ledger::parse_subscription_status,
                                                       "subscription status");
  s.created_at = r.i64();
  s.updated_at = r.i64();
}

void get(reader& r, ledger::purchase& p) {
  p.id = r.u64();
  p.account = r.str();
  p.package = r.str();
  p.lot_id = r.u64();
  p.credits = r.i64();
  p.price = r.i64();
  p.currency = r.str();
  p.source =
      r.enumerated<ledger::purchase_source>(ledger::parse_purchase_source, "purchase source");
  p.external_id = r.str();
  p.reason = r.str();
  p.created_at = r.i64();
}

void get(reader& r, ledger::subscription_period& p) {
  p.account = r.str();
  p.index = r.i64();
  p.plan = r.str();
  p.lot_id = r.u64();
  p.granted = r.i64();
  p.rolled_over = r.i64();
  p.rollover_lot_id = r.u64();
  p.starts_at = r.i64();
  p.ends_at = r.i64();
}

void get(reader& r, ledger::event& ev) {
  ev.seq = r.u64();
  ev.type = r.enumerated<ledger::event_type>(ledger::parse_event_type, "event type");
  ev.owner = ev.type == ledger::event_type::webhook_endpoint_disabled ? r.no_owner() : r.owner();
  ev.created_at = r.i64();
  ev.data = r.str();
}

// Each row is more than 8 bytes encoded: a count above remaining / 8 is a lie.
// `rows` may hold an earlier decode's rows: they go, their memory stays.
template <typename T>
void get_all(reader& r, std::vector<T>& rows) {
  rows.clear();
  const std::size_t n = r.count(8);
  rows.reserve(n);
  for (std::size_t i = 0; i < n && r.ok(); ++i)
    get(r, rows.emplace_back());
}

void get_set(reader& r, ledger::change_set& c, std::uint8_t version) {
  get_all(r, c.entries);
  get_all(r, c.accounts);
  get_all(r, c.lots);
  get_all(r, c.holds);
  get_all(r, c.charges);
  get_all(r, c.idempotency_added);
  get_all(r, c.prices);
  c.prices_deleted = get_strs(r);
  get_all(r, c.packages);
  get_all(r, c.plans);
  get_all(r, c.subscriptions);
  get_all(r, c.purchases);
  get_all(r, c.periods);
  c.idempotency_expired_before = r.i64();
  c.time_seen = r.i64();
  c.next_object_id = r.u64();
  c.next_seq = r.u64();
  if (version >= 2) {
    get_all(r, c.events);
    c.notices_until = r.i64();
  } else {
    c.events.clear();
    c.notices_until = 0;
  }
}

}  // namespace

void encode_change_sets(std::string& out, std::span<const ledger::change_set* const> sets) {
  writer w(out);
  w.u8(change_codec_version);
  w.count(sets.size());
  for (const ledger::change_set* s : sets)
    put_set(w, *s);
}

void encode_change_set(std::string& out, const ledger::change_set& set) {
  const ledger::change_set* one[] = {&set};
  encode_change_sets(out, one);
}

void encode_change_set_v2(std::string& out, const ledger::change_set& set) {
  writer w(out, /*varint=*/false);
  w.u8(2);
  w.count(1);
  put_set(w, set);
}

std::expected<std::size_t, std::string> decode_change_sets_into(
    std::string_view bytes, owner_arena& arena, std::vector<ledger::change_set>& sets,
    std::size_t first) {
  CREDITD_ASSERT(first <= sets.size());
  reader r(bytes, arena);
  const std::uint8_t version = r.u8();
  if (r.ok() && (version < 1 || version > change_codec_version)) {
    return std::unexpected("change sets encoded in version " + std::to_string(version) +
                           ", which this build does not read (it reads " +
                           std::to_string(change_codec_version) + ")");
  }
  if (version >= 3) r.use_varints();
  // A set is at least 13 counts and 4 words: 84 bytes.
  const std::size_t n = r.count(84);
  if (sets.size() < first + n) sets.resize(first + n);
  for (std::size_t i = 0; i < n && r.ok(); ++i)
    get_set(r, sets[first + i], version);
  if (r.ok() && r.remaining() != 0) r.fail(std::to_string(r.remaining()) + " bytes left over");
  if (!r.ok()) return std::unexpected("undecodable change sets: " + r.error());
  return n;
}

std::expected<std::vector<ledger::change_set>, std::string> decode_change_sets(
    std::string_view bytes, owner_arena& arena) {
  std::vector<ledger::change_set> sets;
  auto n = decode_change_sets_into(bytes, arena, sets, 0);
  if (!n) return std::unexpected(n.error());
  return sets;
}

}  // namespace creditd::store::log
