// Shared helpers for the ledger core's unit tests: a fixture owning one ledger
// that checks the whole ledger after every test, builders for commands, and
// `must` which turns an unexpected error into a test failure.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "ledger/ledger.hpp"
#include "ledger/limits.hpp"

namespace creditd::ledger {
// gtest prints these by name ("hold_not_open"), not as "1-byte object <06>".
inline void PrintTo(errc v, std::ostream* os) {
  *os << to_string(v);
}
inline void PrintTo(refusal_reason v, std::ostream* os) {
  *os << to_string(v);
}
inline void PrintTo(lot_kind v, std::ostream* os) {
  *os << to_string(v);
}
inline void PrintTo(lot_status v, std::ostream* os) {
  *os << to_string(v);
}
inline void PrintTo(hold_status v, std::ostream* os) {
  *os << to_string(v);
}
inline void PrintTo(entry_type v, std::ostream* os) {
  *os << to_string(v);
}
}  // namespace creditd::ledger

namespace creditd::ledger::testing {

constexpr micros cr(std::int64_t n) {
  return n * micros_per_credit;
}
constexpr time_us secs(std::int64_t n) {
  return n * us_per_second;
}
constexpr time_us mins(std::int64_t n) {
  return n * us_per_minute;
}
constexpr time_us hours(std::int64_t n) {
  return n * 3600 * us_per_second;
}
constexpr time_us days(std::int64_t n) {
  return n * us_per_day;
}

// 2026-11-25T10:00:00Z: every test starts here.
inline constexpr time_us t0 = 1'795'600'800 * us_per_second;
// 2026-12-01T00:00:00Z: the next calendar month.
inline constexpr time_us dec1 = 1'796'083'200 * us_per_second;

// The value of a result, or a test failure (thrown, so gtest reports it and
// ends the test) naming the error.
template <typename T>
T must(result<T> r) {
  if (!r) {
    throw std::runtime_error("unexpected error: " + std::string(to_string(r.error().code)) + ": " +
                             r.error().message);
  }
  return std::move(*r);
}

// The refusal of a result, or a test failure (thrown, as `must`) when the
// command succeeded: reading .error() of a success is undefined behaviour.
template <typename T>
error refusal(const result<T>& r) {
  if (r) throw std::runtime_error("the command succeeded where a refusal was expected");
  return r.error();
}

inline charge_cmd charge_of(micros amount, std::string op = "image.generate",
                            std::string account = "acct") {
  charge_cmd c;
  c.account = std::move(account);
  c.amount = amount;
  c.operation = std::move(op);
  return c;
}

inline hold_cmd hold_of(micros amount, std::int64_t ttl_seconds = 600,
                        std::string op = "image.generate", std::string account = "acct") {
  hold_cmd h;
  h.account = std::move(account);
  h.amount = amount;
  h.operation = std::move(op);
  h.ttl_seconds = ttl_seconds;
  return h;
}

inline grant_cmd grant_of(micros amount, lot_kind kind = lot_kind::prepaid,
                          std::optional<time_us> expires_at = std::nullopt,
                          std::string account = "acct") {
  grant_cmd g;
  g.account = std::move(account);
  g.amount = amount;
  g.kind = kind;
  g.expires_at = expires_at;
  return g;
}

class ledger_fixture : public ::testing::Test {
 public:
  ledger led;

  void TearDown() override { EXPECT_EQ(led.check_all(), ""); }

  const account& open(const std::string& id = "acct", account_settings settings = {},
                      time_us now = t0) {
    account_cmd c;
    c.id = id;
    c.settings = std::move(settings);
    return *must(led.put_account(c, now)).acct;
  }

  const lot& grant(micros amount, lot_kind kind = lot_kind::prepaid,
                   std::optional<time_us> expires_at = std::nullopt, time_us now = t0) {
    return *must(led.grant(grant_of(amount, kind, expires_at), now));
  }
  const lot& grant(const grant_cmd& g, time_us now = t0) { return *must(led.grant(g, now)); }

  const charge_record& charge(micros amount, time_us now = t0,
                              const std::string& op = "image.generate") {
    return *must(led.charge(charge_of(amount, op), now));
  }

  const hold& place(micros amount, std::int64_t ttl_seconds = 600, time_us now = t0) {
    return *must(led.place_hold(hold_of(amount, ttl_seconds), now));
  }

  const account& acct(const std::string& id = "acct") const { return *led.find_account(id); }
  balance_view bal(time_us now = t0, const std::string& id = "acct") const {
    return led.balance(acct(id), now);
  }
  micros available(time_us now = t0, const std::string& id = "acct") const {
    return bal(now, id).available;
  }
  const lot& lot_at(object_id id) const { return *led.find_lot(id); }

  std::vector<entry> entries_since(std::size_t mark) const {
    auto s = led.pending_entries_since(mark);
    return {s.begin(), s.end()};
  }

  std::vector<object_id> active_ids(const std::string& id = "acct") const {
    std::vector<object_id> out;
    for (const lot* l : acct(id).active_lots)
      out.push_back(l->id);
    return out;
  }
};

}  // namespace creditd::ledger::testing
