// The metrics renderer on its own: exact credit and second figures without
// floating point, bounded labels (routes, statuses, refusal reasons), a
// histogram per route, lock-free counting from many threads, and the whole
// exposition accepted by `promtool check metrics` without a lint warning.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

#include "http/metrics.hpp"
#include "support/promtool.hpp"
#include "support/temp_dir.hpp"

namespace metrics_unit_test_cpp {  // unity builds: tests/CMakeLists.txt

using creditd::http::metrics;
using creditd::testing::promtool_check;
using creditd::testing::temp_dir;

namespace {

bool has_line(const std::string& text, const std::string& line) {
  return text.starts_with(line + "\n") || text.find("\n" + line + "\n") != std::string::npos;
}

// Every sample line of the text that starts with `prefix`.
std::vector<std::string> lines_starting(const std::string& text, const std::string& prefix) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t end = text.find('\n', pos);
    std::string line = text.substr(pos, end - pos);
    if (line.starts_with(prefix)) out.push_back(line);
    pos = end == std::string::npos ? text.size() : end + 1;
  }
  return out;
}

creditd::engine::engine_stats sample_stats() {
  creditd::engine::engine_stats s;
  s.commits = 4;
  s.tasks = 1 + 3 + 40 + 70'000;
  s.tasks_uncommitted = 12;
  s.commit_us_total = 80 + 1'000 + 30'000 + 3'000'000;
  s.failures = 1;
  s.recoveries = 1;
  s.commit_us_buckets[0] = 1;                                         // 80 us
  s.commit_us_buckets[3] = 1;                                         // 1 ms
  s.commit_us_buckets[8] = 1;                                         // 30 ms
  s.commit_us_buckets[creditd::engine::commit_us_bounds.size()] = 1;  // 3 s
  s.commit_tasks_buckets[0] = 1;
  s.commit_tasks_buckets[2] = 1;
  s.commit_tasks_buckets[6] = 1;
  s.commit_tasks_buckets[creditd::engine::commit_tasks_bounds.size()] = 1;
  return s;
}

}  // namespace

TEST(metrics_render, credits_and_seconds_are_exact_decimals) {
  metrics m;
  m.charged(12'500'000);
  std::string out;
  m.render(out);
  EXPECT_TRUE(has_line(out, "creditd_charges_total 1")) << out;
  EXPECT_TRUE(has_line(out, "creditd_charged_credits_total 12.5")) << out;

  m.charged(1, 3);  // one micro-credit over three charges
  m.charged(900'000'000'000'000);
  m.refunded(250'000);
  m.granted(creditd::ledger::lot_kind::promo, 5'000'000);
  m.granted(creditd::ledger::lot_kind::prepaid, 100'000'000);
  out.clear();
  m.render(out);
  EXPECT_TRUE(has_line(out, "creditd_charges_total 5")) << out;
  EXPECT_TRUE(has_line(out, "creditd_charged_credits_total 900000012.500001")) << out;
  EXPECT_TRUE(has_line(out, "creditd_refunds_total 1")) << out;
  EXPECT_TRUE(has_line(out, "creditd_refunded_credits_total 0.25")) << out;
  EXPECT_TRUE(has_line(out, "creditd_lots_granted_total{kind=\"promo\"} 1")) << out;
  EXPECT_TRUE(has_line(out, "creditd_lots_granted_total{kind=\"plan\"} 0")) << out;
  EXPECT_TRUE(has_line(out, "creditd_granted_credits_total{kind=\"promo\"} 5")) << out;
  EXPECT_TRUE(has_line(out, "creditd_granted_credits_total{kind=\"prepaid\"} 100")) << out;

  out.clear();
  creditd::http::render_engine_metrics(out, sample_stats(), false);
  EXPECT_TRUE(has_line(out, "creditd_store_commit_duration_seconds_bucket{le=\"0.0001\"} 1"))
      << out;
  EXPECT_TRUE(has_line(out, "creditd_store_commit_duration_seconds_bucket{le=\"0.001\"} 2")) << out;
  EXPECT_TRUE(has_line(out, "creditd_store_commit_duration_seconds_bucket{le=\"2.5\"} 3")) << out;
  EXPECT_TRUE(has_line(out, "creditd_store_commit_duration_seconds_bucket{le=\"+Inf\"} 4")) << out;
  EXPECT_TRUE(has_line(out, "creditd_store_commit_duration_seconds_sum 3.03108")) << out;
  EXPECT_TRUE(has_line(out, "creditd_store_commit_duration_seconds_count 4")) << out;
  EXPECT_TRUE(has_line(out, "creditd_store_commit_tasks_bucket{le=\"1\"} 1")) << out;
  EXPECT_TRUE(has_line(out, "creditd_store_commit_tasks_bucket{le=\"65536\"} 3")) << out;
  EXPECT_TRUE(has_line(out, "creditd_store_commit_tasks_sum 70044")) << out;
  EXPECT_TRUE(has_line(out, "creditd_store_commit_tasks_count 4")) << out;
  EXPECT_TRUE(has_line(out, "creditd_store_commit_failures_total 1")) << out;
  EXPECT_TRUE(has_line(out, "creditd_engine_uncommitted_tasks_total 12")) << out;
  EXPECT_TRUE(has_line(out, "creditd_store_failed 0")) << out;
}

TEST(metrics_render, refusals_have_a_bounded_label_set) {
  metrics m;
  m.refused("insufficient_credits", "balance");
  m.refused("insufficient_credits", "balance");
  m.refused("insufficient_credits", "postpaid_limit");
  m.refused("insufficient_credits", "made_up");  // -> other
  m.refused("rate_limited", "max_open_holds");
  m.refused("unknown_price");
  m.refused("unknown_price", "");
  m.refused("no_such_code", "whatever");  // -> other, other
  creditd::ledger::error e;
  e.code = creditd::ledger::errc::insufficient_credits;
  e.reason = creditd::ledger::refusal_reason::scope;
  m.refused(e);
  e.code = creditd::ledger::errc::too_many_open_holds;
  m.refused(e);
  e.code = creditd::ledger::errc::rate_limited;
  m.refused(e);
  e.code = creditd::ledger::errc::hold_not_open;
  m.refused(e);  // -> other, other
  std::string out;
  m.render(out);
  auto refusal = [](const char* code, const char* reason, int n) {
    return std::string("creditd_refusals_total{code=\"") + code + "\",reason=\"" + reason + "\"} " +
           std::to_string(n);
  };
  EXPECT_TRUE(has_line(out, refusal("insufficient_credits", "balance", 2))) << out;
  EXPECT_TRUE(has_line(out, refusal("insufficient_credits", "reserve", 0))) << out;
  EXPECT_TRUE(has_line(out, refusal("insufficient_credits", "postpaid_limit", 1))) << out;
  EXPECT_TRUE(has_line(out, refusal("insufficient_credits", "scope", 1))) << out;
  EXPECT_TRUE(has_line(out, refusal("insufficient_credits", "other", 1))) << out;
  EXPECT_TRUE(has_line(out, refusal("rate_limited", "max_open_holds", 2))) << out;
  EXPECT_TRUE(has_line(out, refusal("rate_limited", "rate_limit", 1))) << out;
  EXPECT_TRUE(has_line(out, refusal("unknown_price", "none", 2))) << out;
  EXPECT_TRUE(has_line(out, refusal("other", "other", 2))) << out;
  // Documented pairs show at zero; "other" pairs only once counted.
  EXPECT_TRUE(has_line(out, refusal("unavailable", "none", 0))) << out;
  EXPECT_FALSE(out.find("code=\"unavailable\",reason=\"other\"") != std::string::npos) << out;
  EXPECT_EQ(lines_starting(out, "creditd_refusals_total{").size(),
            metrics::refusal_labels_documented + 2);
}

TEST(metrics_render, requests_by_route_and_status_with_a_histogram_per_route) {
  const std::vector<std::string_view> routes = {"/healthz", "/v1/accounts/{id}"};
  metrics m(routes);
  std::string out;
  m.render(out);
  // Registered routes have their histogram from the start.
  EXPECT_TRUE(has_line(out, "creditd_http_request_duration_seconds_count{route=\"/healthz\"} 0"))
      << out;

  m.observe("/v1/accounts/{id}", 201, 0.0003);
  m.observe("/v1/accounts/{id}", 404, 0.002);
  m.observe("/v1/accounts/{id}", 404, 0.002);
  m.observe("/v1/accounts/{id}", 599, 20.0);  // status other, above every bucket
  // The same text at another address is the same route.
  const std::string copy = "/v1/accounts/{id}";
  m.observe(copy, 200, -1.0);  // a clock step back counts as 0
  out.clear();
  m.render(out);
  const std::string r = "route=\"/v1/accounts/{id}\"";
  EXPECT_TRUE(has_line(out, "creditd_http_requests_total{" + r + ",status=\"201\"} 1")) << out;
  EXPECT_TRUE(has_line(out, "creditd_http_requests_total{" + r + ",status=\"404\"} 2")) << out;
  EXPECT_TRUE(has_line(out, "creditd_http_requests_total{" + r + ",status=\"other\"} 1")) << out;
  EXPECT_TRUE(has_line(out, "creditd_http_requests_total{" + r + ",status=\"200\"} 1")) << out;
  EXPECT_TRUE(
      has_line(out, "creditd_http_request_duration_seconds_bucket{" + r + ",le=\"0.0001\"} 1"))
      << out;
  EXPECT_TRUE(
      has_line(out, "creditd_http_request_duration_seconds_bucket{" + r + ",le=\"0.0005\"} 2"))
      << out;
  EXPECT_TRUE(
      has_line(out, "creditd_http_request_duration_seconds_bucket{" + r + ",le=\"0.0025\"} 4"))
      << out;
  EXPECT_TRUE(has_line(out, "creditd_http_request_duration_seconds_bucket{" + r + ",le=\"10\"} 4"))
      << out;
  EXPECT_TRUE(
      has_line(out, "creditd_http_request_duration_seconds_bucket{" + r + ",le=\"+Inf\"} 5"))
      << out;
  EXPECT_TRUE(has_line(out, "creditd_http_request_duration_seconds_sum{" + r + "} 20.0043")) << out;
  EXPECT_TRUE(has_line(out, "creditd_http_request_duration_seconds_count{" + r + "} 5")) << out;
  EXPECT_EQ(lines_starting(out, "creditd_http_request_duration_seconds_count{").size(), 2u);
}

TEST(metrics_render, routes_beyond_the_limit_count_as_other) {
  std::vector<std::string> names;
  for (std::size_t i = 0; i < metrics::routes_max + 10; ++i)
    names.push_back("/r/" + std::to_string(i));
  metrics m;
  for (const std::string& n : names)
    m.observe(n, 200, 0.001);
  m.observe("/r/0", 200, 0.001);  // known before the table filled: its own slot
  std::string out;
  m.render(out);
  EXPECT_EQ(lines_starting(out, "creditd_http_request_duration_seconds_count{").size(),
            metrics::routes_max + 1);
  EXPECT_TRUE(has_line(out, "creditd_http_request_duration_seconds_count{route=\"(other)\"} 10"))
      << out;
  EXPECT_TRUE(has_line(out, "creditd_http_requests_total{route=\"/r/0\",status=\"200\"} 2")) << out;
}

TEST(metrics_render, counts_from_many_threads_exactly) {
  static constexpr std::string_view routes[] = {"/a", "/b", "/c", "/d", "/e", "/f"};
  metrics m;
  constexpr int threads = 8, per_thread = 20'000;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&m, t] {
      for (int i = 0; i < per_thread; ++i) {
        m.observe(routes[static_cast<std::size_t>(i + t) % std::size(routes)], 200, 0.0002);
        m.charged(1);
      }
    });
  }
  std::string during;
  m.render(during);  // while they count: must not disturb them
  for (auto& th : pool)
    th.join();
  std::string out;
  m.render(out);
  std::uint64_t total = 0;
  for (const std::string& line : lines_starting(out, "creditd_http_requests_total{"))
    total += std::stoull(line.substr(line.rfind(' ') + 1));
  EXPECT_EQ(total, static_cast<std::uint64_t>(threads) * per_thread);
  EXPECT_EQ(lines_starting(out, "creditd_http_requests_total{").size(), std::size(routes));
  EXPECT_TRUE(has_line(out, "creditd_charged_credits_total 0.16")) << out;
}

TEST(metrics_render, promtool_accepts_the_whole_exposition) {
  const std::vector<std::string_view> routes = {"/healthz", "/metrics", "/v1/accounts/{id}",
                                                "/v1/accounts/{id}/charges:batch"};
  metrics m(routes);
  m.observe("/v1/accounts/{id}", 201, 0.0004);
  m.observe("/v1/accounts/{id}/charges:batch", 402, 0.003);
  m.observe("(unmatched)", 404, 0.00001);
  m.observe("/odd \"route\"\\\n", 200, 0.1);  // escaped as the format wants
  m.charged(12'500'000, 2);
  m.refunded(1);
  m.granted(creditd::ledger::lot_kind::plan, 7);
  m.refused("insufficient_credits", "reserve");
  m.refused("nope", "nope");
  std::string out;
  m.render(out);
  creditd::http::render_engine_metrics(out, sample_stats(), true);
  creditd::http::render_ledger_gauges(out, 3, 1, 42);
  creditd::http::render_log_gauges(out, {.durable_seq = 9,
                                         .applied_seq = 7,
                                         .room_waits = 3,
                                         .room_wait_us = 1'250'000,
                                         .rolls_to_free = 5,
                                         .rolls_to_new = 2,
                                         .file_writeback_bytes = 4096,
                                         .wal_writeback_bytes = 8192,
                                         .file_writeback_wait_us = 2'500'000,
                                         .wal_writeback_wait_us = 10,
                                         .file_writeback_runs = 3,
                                         .wal_writeback_runs = 1});
  EXPECT_TRUE(has_line(out, "creditd_log_durable_seq 9")) << out;
  EXPECT_TRUE(has_line(out, "creditd_log_applied_seq 7")) << out;
  EXPECT_TRUE(has_line(out, "creditd_log_backpressure_waits_total 3")) << out;
  EXPECT_TRUE(has_line(out, "creditd_log_backpressure_wait_seconds_total 1.25")) << out;
  EXPECT_TRUE(has_line(out, "creditd_log_segment_rolls_total{file=\"free\"} 5")) << out;
  EXPECT_TRUE(has_line(out, "creditd_log_segment_rolls_total{file=\"new\"} 2")) << out;
  EXPECT_TRUE(has_line(out, "creditd_store_writeback_bytes_total{file=\"main\"} 4096")) << out;
  EXPECT_TRUE(has_line(out, "creditd_store_writeback_bytes_total{file=\"wal\"} 8192")) << out;
  EXPECT_TRUE(has_line(out, "creditd_store_writeback_runs_total{file=\"main\"} 3")) << out;
  EXPECT_TRUE(has_line(out, "creditd_store_writeback_runs_total{file=\"wal\"} 1")) << out;
  EXPECT_TRUE(has_line(out, "creditd_store_writeback_paced_seconds_total{file=\"main\"} 2.5"))
      << out;
  EXPECT_TRUE(has_line(out, "creditd_store_writeback_paced_seconds_total{file=\"wal\"} 0.00001"))
      << out;
  EXPECT_TRUE(has_line(out, "creditd_accounts 3")) << out;
  EXPECT_TRUE(has_line(out, "creditd_open_holds 1")) << out;
  EXPECT_TRUE(has_line(out, "creditd_journal_entries_total 42")) << out;
  EXPECT_TRUE(has_line(out, "creditd_store_failed 1")) << out;

  // Every family once, each with HELP and TYPE.
  std::set<std::string> types, helps;
  for (const std::string& line : lines_starting(out, "# TYPE "))
    EXPECT_TRUE(types.insert(line.substr(7, line.find(' ', 7) - 7)).second) << line;
  for (const std::string& line : lines_starting(out, "# HELP "))
    helps.insert(line.substr(7, line.find(' ', 7) - 7));
  EXPECT_EQ(types, helps);

  temp_dir dir;
  const auto r = promtool_check(out, dir.file("whole"));
  ASSERT_TRUE(r.found) << creditd::testing::promtool_missing;
  EXPECT_EQ(r.exit_code, 0) << r.output << "\n--- the text:\n" << out;
  EXPECT_EQ(r.output, "") << "promtool lint warnings:\n" << r.output;

  // And on an empty registry (no route seen yet).
  metrics fresh;
  std::string empty;
  fresh.render(empty);
  creditd::http::render_engine_metrics(empty, {}, false);
  creditd::http::render_ledger_gauges(empty, 0, 0, 0);
  const auto e = promtool_check(empty, dir.file("empty"));
  EXPECT_EQ(e.exit_code, 0) << e.output << "\n--- the text:\n" << empty;
  EXPECT_EQ(e.output, "") << e.output;
}
}  // namespace metrics_unit_test_cpp
