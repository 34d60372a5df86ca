// Prometheus metrics of creditd, in the text exposition format: HTTP requests
// by route and status with a latency histogram per route; the billing figures
// (charges, credits charged, refunds, grants, refusals by code and reason);
// and renderers for the engine's commit statistics, the ledger gauges and
// the append-only log's marks, which are read at scrape time.
//
// Every label set is bounded: at most routes_max routes (more are counted as
// route="(other)"), a fixed list of statuses (others are status="other"),
// fixed codes and reasons for refusals (others are "other").
//
// Thread-safety: every method may be called from any thread at once. The
// request path (observe) and the billing counters take no lock: relaxed
// atomics in fixed slots, the request counters sharded by thread; a route's
// slot is claimed once, by compare-and-swap.
// render() reads the atomics while they move, so one scrape may count a
// request in one family and not yet in another.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "engine/engine.hpp"
#include "ledger/error.hpp"
#include "ledger/types.hpp"
#include "service/service.hpp"

namespace creditd::http {

class metrics final : public service::counters {
 public:
  // Request latency buckets: upper bounds in microseconds, ascending.
  static constexpr std::array<std::uint64_t, 15> latency_us_bounds = {
      100,    250,     500,     1'000,   2'500,     5'000,     10'000,    25'000,
      50'000, 100'000, 250'000, 500'000, 1'000'000, 2'500'000, 10'000'000};
  // Distinct routes at most; requests of any further route are counted
  // under route="(other)".
  static constexpr std::size_t routes_max = 64;
  // Statuses with a label of their own; any other is status="other".
  static constexpr std::array<unsigned, 29> statuses = {
      200, 201, 202, 204, 206, 301, 302, 304, 400, 401, 402, 403, 404, 405, 406,
      408, 409, 410, 411, 413, 414, 415, 422, 429, 431, 500, 501, 503, 505};

  // The refusal label pairs. The first of each code are the documented ones,
  // exported at zero from the start; the "other" ones appear once counted.
  struct refusal_label {
    std::string_view code;
    std::string_view reason;
  };
  static constexpr std::array<refusal_label, 15> refusal_labels = {{
      {"insufficient_credits", "balance"},
      {"insufficient_credits", "reserve"},
      {"insufficient_credits", "postpaid_limit"},
      {"insufficient_credits", "scope"},
      {"rate_limited", "rate_limit"},
      {"rate_limited", "max_open_holds"},
      {"unknown_price", "none"},
      {"limit_exceeded", "none"},
      {"unavailable", "none"},
      {"insufficient_credits", "other"},
      {"rate_limited", "other"},
      {"unknown_price", "other"},
      {"limit_exceeded", "other"},
      {"unavailable", "other"},
      {"other", "other"},
  }};
  static constexpr std::size_t refusal_labels_documented = 9;

  metrics() = default;
  // Registers `routes` (static strings, as for observe()) so that their
  // latency series exist, at zero, from the first scrape. Further routes are
  // still taken as they come.
  explicit metrics(std::span<const std::string_view> routes);
  metrics(const metrics&) = delete;
  metrics& operator=(const metrics&) = delete;

  // One answered request, called once per response. `route` must be a static
  // string (an endpoint pattern such as "/v1/accounts/{id}"): it is kept as a
  // view. No lock, no allocation.
  void observe(std::string_view route, unsigned status, double seconds);

  // ---- Billing figures. Call each once per effect that is durable (after
  // the commit holding it, with durable=true) and fresh (never for an
  // idempotent replay). Amounts are micro-credits, >= 0. charged() and
  // refused(code, reason) have the signatures of the service layer's
  // counters interface, so that this class can implement it.
  // `n` charges applied, taking `micros` credits in all (a capture and each
  // item of a batch is one charge).
  void charged(std::int64_t micros, std::size_t n = 1) override;
  // One refund of `micros` credits.
  void refunded(std::int64_t micros) override;
  // One lot of `kind` granted with `micros` credits.
  void granted(ledger::lot_kind kind, std::int64_t micros) override;
  // A spend (a charge, a batch, a hold, a capture) refused for a business
  // reason. `code` is the error code answered; `reason` says which limit
  // refused: insufficient_credits: balance | reserve | postpaid_limit | scope;
  // rate_limited: rate_limit | max_open_holds; unknown_price, limit_exceeded,
  // unavailable: "none" (or empty). An unknown code or reason counts as "other".
  void refused(std::string_view code, std::string_view reason = "none") override;
  // The same from a ledger error: insufficient_credits with its reason,
  // rate_limited (rate_limit), too_many_open_holds (rate_limited,
  // max_open_holds), limit_exceeded; any other code counts as "other".
  void refused(const ledger::error& e);

  // Appends the request and billing families (HELP, TYPE, samples).
  void render(std::string& out) const;

 private:
  static constexpr std::size_t status_other = statuses.size();
  // Counters are kept per shard, a thread taking one shard for its life
  // (round-robin), so I/O threads do not share cache lines; render() sums
  // the shards.
  static constexpr std::size_t shards = 4;
  // A route's name: its slot index is its counters' index in every shard.
  struct alignas(64) route_name {
    std::atomic<std::uint8_t> state{0};  // slot_empty, slot_claiming or slot_ready
    std::string_view route;              // written once, before state is slot_ready
  };
  struct alignas(64) route_counts {
    std::array<std::atomic<std::uint64_t>, statuses.size() + 1> by_status{};
    // Not cumulative; the last bucket counts what is above every bound.
    std::array<std::atomic<std::uint64_t>, latency_us_bounds.size() + 1> latency{};
    std::atomic<std::uint64_t> latency_us_sum{0};
  };
  struct shard {
    std::array<route_counts, routes_max + 1> routes;  // the last: "(other)"
  };
  static constexpr std::size_t overflow_index = routes_max;
  // The index of `route`'s slot, claimed on first use; overflow_index when
  // the table is full.
  std::size_t slot_for(std::string_view route);

  std::array<route_name, routes_max> names_;
  std::unique_ptr<shard[]> shards_ = std::make_unique<shard[]>(shards);
  std::atomic<std::uint64_t> charges_{0};
  std::atomic<std::int64_t> charged_micros_{0};
  std::atomic<std::uint64_t> refunds_{0};
  std::atomic<std::int64_t> refunded_micros_{0};
  std::array<std::atomic<std::uint64_t>, 3> lots_granted_{};  // by ledger::lot_kind
  std::array<std::atomic<std::int64_t>, 3> granted_micros_{};
  std::array<std::atomic<std::uint64_t>, refusal_labels.size()> refusals_{};
};

// Appends the engine's families: the commit duration and the tasks per
// commit as histograms (their _count is the number of commits), commit
// failures, recoveries, tasks completed without a commit, and whether the
// store is failed (engine::failed()).
void render_engine_metrics(std::string& out, const engine::engine_stats& s, bool store_failed);

// Appends the ledger gauges; read them on the engine's writer thread
// (ledger::account_count(), open_hold_count(), next_seq() - 1).
void render_ledger_gauges(std::string& out, std::uint64_t accounts, std::uint64_t open_holds,
                          std::uint64_t journal_entries);

// The append-only log's marks: the seq of its last acknowledged record
// (durable) and of the last one the SQLite file holds (applied).
// Also its backpressure: commits that waited for the applier to make room
// in its queue, and how long they waited in all.
struct log_marks {
  std::uint64_t durable_seq = 0;
  std::uint64_t applied_seq = 0;
  std::uint64_t room_waits = 0;
  std::uint64_t room_wait_us = 0;
  // Segments it moved on to: a free file (recycled, or a spare the applier
  // made ahead), or a new one made and zero-filled inside a group commit.
  std::uint64_t rolls_to_free = 0;
  std::uint64_t rolls_to_new = 0;
  // The applier's writes to the SQLite file and its WAL, handed to the
  // kernel's writeback a chunk at a time: bytes, and the time spent
  // waiting for their pace.
  std::uint64_t file_writeback_bytes = 0, wal_writeback_bytes = 0;
  std::uint64_t file_writeback_wait_us = 0, wal_writeback_wait_us = 0;
  // Writes that did not continue the one before (about the device's I/Os).
  std::uint64_t file_writeback_runs = 0, wal_writeback_runs = 0;
};

// Appends the log's gauges (log_store::durable_seq() and applied_seq());
// a server without a log has none.
void render_log_gauges(std::string& out, const log_marks& m);

}  // namespace creditd::http
