#include "http/metrics.hpp"

#include <algorithm>
#include <charconv>
#include <thread>
#include <vector>

#include "ledger/amount.hpp"
#include "util/assert.hpp"

namespace creditd::http {

namespace {

constexpr std::uint8_t slot_empty = 0, slot_claiming = 1, slot_ready = 2;
constexpr std::string_view overflow_route = "(other)";
constexpr std::size_t lot_kinds = 3;
static_assert(static_cast<std::size_t>(ledger::lot_kind::promo) + 1 == lot_kinds);

// Status code -> index into metrics::statuses, or statuses.size() (other).
constexpr std::size_t status_codes_max = 600;
constexpr auto status_index = [] {
  std::array<std::uint8_t, status_codes_max> index{};
  index.fill(static_cast<std::uint8_t>(metrics::statuses.size()));
  for (std::size_t i = 0; i < metrics::statuses.size(); ++i)
    index[metrics::statuses[i]] = static_cast<std::uint8_t>(i);
  return index;
}();
static_assert(metrics::statuses.size() < 255);

// FNV-1a over the route's text: equal text, equal slot, whatever its address.
std::size_t route_hash(std::string_view s) {
  std::uint64_t h = 14695981039346656037ull;
  for (const char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return static_cast<std::size_t>(h);
}

void append_u64(std::string& out, std::uint64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// A label value, escaped as the text format wants (\\, \", \n).
void append_label_value(std::string& out, std::string_view v) {
  out += '"';
  for (const char c : v) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  out += '"';
}

void family(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n");
  out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

// "name value\n", the value an integer.
void sample(std::string& out, std::string_view name, std::uint64_t v) {
  out.append(name).append(" ");
  append_u64(out, v);
  out += '\n';
}

// "name value\n", the value a count of millionths printed exactly as a
// decimal (micro-credits as credits, microseconds as seconds): 12500000 ->
// 12.5, no floating point.
void sample_micros(std::string& out, std::string_view name, std::int64_t micros) {
  out.append(name).append(" ");
  ledger::append_amount(out, micros);
  out += '\n';
}

// A histogram's samples from non-cumulative buckets (the last one above
// every bound). `labels` is "" or `key="value",` pairs each ending in a comma;
// the bounds and the sum are printed exactly as millionths when `micros` is set.
template <std::size_t N>
void histogram(std::string& out, std::string_view name, std::string_view labels,
               const std::array<std::uint64_t, N>& bounds,
               const std::array<std::uint64_t, N + 1>& buckets, std::uint64_t sum, bool micros) {
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i <= N; ++i) {
    cumulative += buckets[i];
    out.append(name).append("_bucket{").append(labels).append("le=\"");
    if (i == N)
      out += "+Inf";
    else if (micros)
      ledger::append_amount(out, static_cast<std::int64_t>(bounds[i]));
    else
      append_u64(out, bounds[i]);
    out += "\"} ";
    append_u64(out, cumulative);
    out += '\n';
  }
  std::string_view open = "", close = "";
  if (!labels.empty()) {
    open = "{";
    labels.remove_suffix(1);  // the trailing comma
    close = "}";
  }
  out.append(name).append("_sum").append(open).append(labels).append(close).append(" ");
  if (micros)
    ledger::append_amount(out, static_cast<std::int64_t>(sum));
  else
    append_u64(out, sum);
  out += '\n';
  out.append(name).append("_count").append(open).append(labels).append(close).append(" ");
  append_u64(out, cumulative);
  out += '\n';
}

std::size_t refusal_index(std::string_view code, std::string_view reason) {
  if (reason.empty()) reason = "none";
  const auto& labels = metrics::refusal_labels;
  std::size_t fallback = labels.size() - 1;  // other, other
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (labels[i].code != code) continue;
    if (labels[i].reason == reason) return i;
    if (labels[i].reason == "other") fallback = i;
  }
  return fallback;
}

}  // namespace

metrics::metrics(std::span<const std::string_view> routes) {
  for (std::string_view r : routes)
    (void)slot_for(r);
}

std::size_t metrics::slot_for(std::string_view route) {
  // Open addressing with linear probing; slots are never freed, so a probe
  // that meets an empty slot knows the route is not further on.
  const std::size_t start = route_hash(route);
  for (std::size_t i = 0; i < routes_max; ++i) {
    const std::size_t index = (start + i) % routes_max;
    route_name& s = names_[index];
    std::uint8_t state = s.state.load(std::memory_order_acquire);
    if (state == slot_empty) {
      if (s.state.compare_exchange_strong(state, slot_claiming, std::memory_order_acquire)) {
        s.route = route;
        s.state.store(slot_ready, std::memory_order_release);
        return index;
      }
      // Lost the race: `state` is now what the winner set.
    }
    // Another thread is writing the route's view: a few instructions, once
    // per route in the process's life.
    while (state == slot_claiming) {
      std::this_thread::yield();
      state = s.state.load(std::memory_order_acquire);
    }
    if (s.route == route) return index;
  }
  return overflow_index;
}

namespace {
// This thread's shard: taken round-robin on its first request.
std::size_t this_shard(std::size_t shards) {
  static std::atomic<std::size_t> next{0};
  thread_local const std::size_t mine = next.fetch_add(1, std::memory_order_relaxed);
  return mine % shards;
}
}  // namespace

void metrics::observe(std::string_view route, unsigned status, double seconds) {
  route_counts& s = shards_[this_shard(shards)].routes[slot_for(route)];
  const std::size_t si = status < status_codes_max ? status_index[status] : status_other;
  s.by_status[si].fetch_add(1, std::memory_order_relaxed);
  // NaN and negative durations count as 0; a day or more as a day.
  std::uint64_t us = 0;
  if (seconds > 0) {
    us = seconds >= 86'400 ? 86'400'000'000ull : static_cast<std::uint64_t>(seconds * 1e6 + 0.5);
  }
  const auto bucket = static_cast<std::size_t>(
      std::lower_bound(latency_us_bounds.begin(), latency_us_bounds.end(), us) -
      latency_us_bounds.begin());
  s.latency[bucket].fetch_add(1, std::memory_order_relaxed);
  s.latency_us_sum.fetch_add(us, std::memory_order_relaxed);
}

void metrics::charged(std::int64_t micros, std::size_t n) {
  CREDITD_ASSERT(micros >= 0);
  charges_.fetch_add(n, std::memory_order_relaxed);
  charged_micros_.fetch_add(micros, std::memory_order_relaxed);
}

void metrics::refunded(std::int64_t micros) {
  CREDITD_ASSERT(micros >= 0);
  refunds_.fetch_add(1, std::memory_order_relaxed);
  refunded_micros_.fetch_add(micros, std::memory_order_relaxed);
}

void metrics::granted(ledger::lot_kind kind, std::int64_t micros) {
  CREDITD_ASSERT(micros >= 0);
  const auto k = static_cast<std::size_t>(kind);
  CREDITD_ASSERT(k < lot_kinds);
  lots_granted_[k].fetch_add(1, std::memory_order_relaxed);
  granted_micros_[k].fetch_add(micros, std::memory_order_relaxed);
}

void metrics::refused(std::string_view code, std::string_view reason) {
  refusals_[refusal_index(code, reason)].fetch_add(1, std::memory_order_relaxed);
}

void metrics::refused(const ledger::error& e) {
  using ledger::errc;
  switch (e.code) {
    case errc::insufficient_credits:
      return refused("insufficient_credits", ledger::to_string(e.reason));
    case errc::rate_limited:
      return refused("rate_limited", "rate_limit");
    case errc::too_many_open_holds:
      return refused("rate_limited", "max_open_holds");
    case errc::limit_exceeded:
      return refused("limit_exceeded", "none");
    default:
      return refused("other", "other");
  }
}

void metrics::render(std::string& out) const {
  // Routes in name order, each summed over the shards; the overflow slot
  // only once it has counted.
  struct totals {
    std::string_view route;
    std::array<std::uint64_t, statuses.size() + 1> by_status{};
    std::array<std::uint64_t, latency_us_bounds.size() + 1> latency{};
    std::uint64_t latency_us_sum = 0;
  };
  auto sum = [this](std::size_t index, std::string_view route) {
    totals t;
    t.route = route;
    for (std::size_t k = 0; k < shards; ++k) {
      const route_counts& c = shards_[k].routes[index];
      for (std::size_t i = 0; i < t.by_status.size(); ++i)
        t.by_status[i] += c.by_status[i].load(std::memory_order_relaxed);
      for (std::size_t i = 0; i < t.latency.size(); ++i)
        t.latency[i] += c.latency[i].load(std::memory_order_relaxed);
      t.latency_us_sum += c.latency_us_sum.load(std::memory_order_relaxed);
    }
    return t;
  };
  std::vector<totals> slots;
  slots.reserve(routes_max + 1);
  for (std::size_t i = 0; i < routes_max; ++i) {
    if (names_[i].state.load(std::memory_order_acquire) == slot_ready)
      slots.push_back(sum(i, names_[i].route));
  }
  std::sort(slots.begin(), slots.end(),
            [](const totals& a, const totals& b) { return a.route < b.route; });
  totals overflow = sum(overflow_index, overflow_route);
  std::uint64_t overflow_seen = 0;
  for (const std::uint64_t n : overflow.latency)
    overflow_seen += n;
  if (overflow_seen > 0) slots.push_back(overflow);

  family(out, "creditd_http_requests_total", "counter",
         "HTTP responses by route (the endpoint pattern) and status.");
  for (const totals& s : slots) {
    for (std::size_t i = 0; i <= statuses.size(); ++i) {
      const std::uint64_t n = s.by_status[i];
      if (n == 0) continue;
      out += "creditd_http_requests_total{route=";
      append_label_value(out, s.route);
      out += ",status=\"";
      if (i == status_other)
        out += "other";
      else
        append_u64(out, statuses[i]);
      out += "\"} ";
      append_u64(out, n);
      out += '\n';
    }
  }

  family(out, "creditd_http_request_duration_seconds", "histogram",
         "Time from a request's arrival to its response, by route.");
  std::string labels;
  for (const totals& s : slots) {
    labels = "route=";
    append_label_value(labels, s.route);
    labels += ',';
    histogram(out, "creditd_http_request_duration_seconds", labels, latency_us_bounds, s.latency,
              s.latency_us_sum, true);
  }

  family(out, "creditd_charges_total", "counter",
         "Charges applied and durable; a capture and each item of a batch count as one.");
  sample(out, "creditd_charges_total", charges_.load(std::memory_order_relaxed));
  family(out, "creditd_charged_credits_total", "counter", "Credits taken by those charges.");
  sample_micros(out, "creditd_charged_credits_total",
                charged_micros_.load(std::memory_order_relaxed));
  family(out, "creditd_refunds_total", "counter", "Refunds applied and durable.");
  sample(out, "creditd_refunds_total", refunds_.load(std::memory_order_relaxed));
  family(out, "creditd_refunded_credits_total", "counter", "Credits given back by those refunds.");
  sample_micros(out, "creditd_refunded_credits_total",
                refunded_micros_.load(std::memory_order_relaxed));

  family(out, "creditd_lots_granted_total", "counter", "Lots of credits granted, by lot kind.");
  for (std::size_t k = 0; k < lot_kinds; ++k) {
    out += "creditd_lots_granted_total{kind=\"";
    out += ledger::to_string(static_cast<ledger::lot_kind>(k));
    out += "\"} ";
    append_u64(out, lots_granted_[k].load(std::memory_order_relaxed));
    out += '\n';
  }
  family(out, "creditd_granted_credits_total", "counter",
         "Credits granted in those lots, by lot kind.");
  for (std::size_t k = 0; k < lot_kinds; ++k) {
    out += "creditd_granted_credits_total{kind=\"";
    out += ledger::to_string(static_cast<ledger::lot_kind>(k));
    out += "\"} ";
    ledger::append_amount(out, granted_micros_[k].load(std::memory_order_relaxed));
    out += '\n';
  }

  family(out, "creditd_refusals_total", "counter",
         "Spends (charges, batches, holds, captures) refused, by error code and by the limit "
         "that refused (reason).");
  for (std::size_t i = 0; i < refusal_labels.size(); ++i) {
    const std::uint64_t n = refusals_[i].load(std::memory_order_relaxed);
    if (n == 0 && i >= refusal_labels_documented) continue;
    out += "creditd_refusals_total{code=\"";
    out += refusal_labels[i].code;
    out += "\",reason=\"";
    out += refusal_labels[i].reason;
    out += "\"} ";
    append_u64(out, n);
    out += '\n';
  }
}

void render_engine_metrics(std::string& out, const engine::engine_stats& s, bool store_failed) {
  family(out, "creditd_store_commit_duration_seconds", "histogram",
         "Time to write one change set to the store (one transaction and its sync), failed "
         "commits included; a set without changes is not a commit.");
  histogram(out, "creditd_store_commit_duration_seconds", "", engine::commit_us_bounds,
            s.commit_us_buckets, s.commit_us_total, true);
  family(out, "creditd_store_commit_tasks", "histogram",
         "Tasks completed by one commit (the group-commit size).");
  histogram(out, "creditd_store_commit_tasks", "", engine::commit_tasks_bounds,
            s.commit_tasks_buckets, s.tasks, false);
  family(out, "creditd_store_commit_failures_total", "counter",
         "Commits that failed; each one refuses writes until the store takes them again.");
  sample(out, "creditd_store_commit_failures_total", s.failures);
  family(out, "creditd_store_recoveries_total", "counter",
         "Returns to taking writes after a failed commit.");
  sample(out, "creditd_store_recoveries_total", s.recoveries);
  family(out, "creditd_engine_uncommitted_tasks_total", "counter",
         "Tasks completed with nothing to write (reads, refused writes), without a commit.");
  sample(out, "creditd_engine_uncommitted_tasks_total", s.tasks_uncommitted);
  family(out, "creditd_store_failed", "gauge",
         "1 while writes are refused after a failed commit (reads are served), else 0.");
  sample(out, "creditd_store_failed", store_failed ? 1 : 0);
}

void render_ledger_gauges(std::string& out, std::uint64_t accounts, std::uint64_t open_holds,
                          std::uint64_t journal_entries) {
  family(out, "creditd_accounts", "gauge", "Accounts in the ledger.");
  sample(out, "creditd_accounts", accounts);
  family(out, "creditd_open_holds", "gauge",
         "Holds open: placed, and not yet captured, released or expired.");
  sample(out, "creditd_open_holds", open_holds);
  family(out, "creditd_journal_entries_total", "counter",
         "Entries written to the journal, which only grows (counted since the ledger began, "
         "not since this process started).");
  sample(out, "creditd_journal_entries_total", journal_entries);
}

void render_log_gauges(std::string& out, const log_marks& m) {
  family(out, "creditd_log_durable_seq", "gauge",
         "Seq of the append-only log's last acknowledged record.");
  sample(out, "creditd_log_durable_seq", m.durable_seq);
  family(out, "creditd_log_applied_seq", "gauge",
         "Seq of the append-only log's last record the SQLite file holds (it is filled in "
         "behind the log, up to --apply-delay-ms later).");
  sample(out, "creditd_log_applied_seq", m.applied_seq);
  family(out, "creditd_log_backpressure_waits_total", "counter",
         "Group commits that waited for the applier to make room in its queue (4 x "
         "--apply-records-max records or 256 MiB): the SQLite file fell that far behind.");
  sample(out, "creditd_log_backpressure_waits_total", m.room_waits);
  family(out, "creditd_log_backpressure_wait_seconds_total", "counter",
         "Time group commits spent waiting for the applier to make room, in all.");
  sample_micros(out, "creditd_log_backpressure_wait_seconds_total",
                static_cast<std::int64_t>(m.room_wait_us));
  family(out, "creditd_log_segment_rolls_total", "counter",
         "Log segments the log moved on to since start-up: a free file (recycled, or a spare "
         "the applier made ahead), or a new file made and zero-filled inside the group commit "
         "that needed it, which waits for the whole segment's writes (64 MiB by default).");
  out += "creditd_log_segment_rolls_total{file=\"free\"} ";
  append_u64(out, m.rolls_to_free);
  out += "\ncreditd_log_segment_rolls_total{file=\"new\"} ";
  append_u64(out, m.rolls_to_new);
  out += '\n';
  family(out, "creditd_store_writeback_bytes_total", "counter",
         "Bytes the applier wrote to the SQLite file (file=\"main\", a checkpoint's copy) and "
         "its WAL (file=\"wal\"), handed to the kernel's writeback a chunk at a time.");
  sample(out, "creditd_store_writeback_bytes_total{file=\"main\"}", m.file_writeback_bytes);
  sample(out, "creditd_store_writeback_bytes_total{file=\"wal\"}", m.wal_writeback_bytes);
  family(out, "creditd_store_writeback_runs_total", "counter",
         "Of those writes, the ones that did not continue the write before: about the I/Os the "
         "disk sees (a checkpoint's scattered pages cost it one each).");
  sample(out, "creditd_store_writeback_runs_total{file=\"main\"}", m.file_writeback_runs);
  sample(out, "creditd_store_writeback_runs_total{file=\"wal\"}", m.wal_writeback_runs);
  family(out, "creditd_store_writeback_paced_seconds_total", "counter",
         "Time the applier waited before handing its writes to the kernel's writeback, so that "
         "they reach the disk at a bounded rate while nothing waits for the file (--writeback "
         "paced, the default).");
  sample_micros(out, "creditd_store_writeback_paced_seconds_total{file=\"main\"}",
                static_cast<std::int64_t>(m.file_writeback_wait_us));
  sample_micros(out, "creditd_store_writeback_paced_seconds_total{file=\"wal\"}",
                static_cast<std::int64_t>(m.wal_writeback_wait_us));
}

}  // namespace creditd::http
