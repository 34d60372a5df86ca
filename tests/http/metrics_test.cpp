// GET /metrics of the real binary: scrapes and reads commit nothing, requests
// are timed per route, and the whole exposition passes `promtool check
// metrics` with the billing figures a charge and a refusal leave.
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>

#include "http_fixture.hpp"
#include "support/promtool.hpp"

namespace metrics_test_cpp {  // unity builds: tests/CMakeLists.txt

using namespace creditd::testing;

namespace {

std::string scrape(http_client& c) {
  return expect(c.get("/metrics"), 200, "GET /metrics").body;
}

// Store commits so far: the count of the engine's commit histogram.
double commits(const std::string& text) {
  auto n = metric_sample(text, "creditd_store_commit_duration_seconds_count");
  if (!n) throw std::runtime_error("no commit count in:\n" + text);
  return *n;
}

}  // namespace

TEST(http_metrics, scrapes_and_reads_commit_nothing) {
  live_server srv;
  http_client c(srv.port(), admin_key);
  http_client open(srv.port());
  put_account(c, "m");
  grant(c, "m", "10");
  charge(c, "m", "2.5");
  const double before = commits(scrape(open));
  for (int i = 0; i < 20; ++i) {
    (void)scrape(open);
    (void)available(c, "m");
  }
  const std::string after_reads = scrape(open);
  EXPECT_EQ(commits(after_reads), before) << after_reads;
  charge(c, "m", "1");
  EXPECT_EQ(commits(scrape(open)), before + 1);

  // Each route has its own latency histogram; unmatched targets share one.
  ASSERT_EQ(c.get("/no/such/route").status, 404u);
  const std::string m = scrape(open);
  EXPECT_EQ(metric_sample(m,
                          "creditd_http_request_duration_seconds_count{route=\"/v1/accounts/{id}/"
                          "charges\"}"),
            2.0)
      << m;
  EXPECT_EQ(metric_sample(m, "creditd_http_requests_total{route=\"/metrics\",status=\"200\"}"),
            23.0)
      << m;
  EXPECT_EQ(metric_sample(m, "creditd_http_request_duration_seconds_count{route=\"(unmatched)\"}"),
            1.0)
      << m;
}

// Passes once GET /metrics renders the engine and ledger families with
// render_engine_metrics() and render_ledger_gauges() (src/http/metrics.hpp)
// instead of its own lines, which have no HELP and break the naming rules.
TEST(http_metrics, promtool_accepts_the_live_exposition) {
  live_server srv;
  http_client c(srv.port(), admin_key);
  http_client open(srv.port());
  put_account(c, "p");
  grant(c, "p", "3");
  charge(c, "p", "1");
  ASSERT_EQ(c.post("/v1/accounts/p/charges", R"({"operation":"x","amount":100})").status, 402u);
  ASSERT_EQ(c.get("/no/such/route").status, 404u);
  const std::string m = scrape(open);
  temp_dir dir;
  const auto r = promtool_check(m, dir.file("live"));
  ASSERT_TRUE(r.found) << promtool_missing;
  EXPECT_EQ(r.exit_code, 0) << r.output << "\n--- GET /metrics:\n" << m;
  EXPECT_EQ(r.output, "") << "promtool lint warnings:\n" << r.output;
  for (const char* family :
       {"creditd_http_request_duration_seconds histogram",
        "creditd_store_commit_duration_seconds histogram", "creditd_store_commit_tasks histogram",
        "creditd_charges_total counter", "creditd_charged_credits_total counter",
        "creditd_refusals_total counter", "creditd_accounts gauge", "creditd_open_holds gauge",
        "creditd_journal_entries_total counter", "creditd_store_failed gauge",
        "creditd_log_durable_seq gauge", "creditd_log_applied_seq gauge"}) {
    EXPECT_NE(m.find(std::string("\n# TYPE ") + family + "\n"), std::string::npos)
        << family << " in:\n"
        << m;
  }
  EXPECT_EQ(metric_sample(m, "creditd_accounts"), 1.0) << m;
}

// The log's gauges: the last acknowledged record runs ahead of the file's
// while the applier holds writes back, and POST /v1/store/flush brings the
// file's up to it; a server without a log has neither.
TEST(http_metrics, log_gauges_follow_the_log_and_the_file) {
  live_server srv({"--apply-delay-ms", "60000"});
  http_client c(srv.port(), admin_key);
  http_client open(srv.port());
  put_account(c, "g");
  grant(c, "g", "10");
  charge(c, "g", "1");
  std::string m = scrape(open);
  const auto durable = metric_sample(m, "creditd_log_durable_seq");
  const auto applied = metric_sample(m, "creditd_log_applied_seq");
  ASSERT_TRUE(durable && applied) << m;
  EXPECT_LT(*applied, *durable) << m;

  const auto flushed = expect(c.post("/v1/store/flush", ""), 200, "flush").json();
  const auto seq = static_cast<double>(flushed.at("applied_log_seq").to_number<std::uint64_t>());
  EXPECT_GE(seq, *durable);
  m = scrape(open);
  EXPECT_EQ(metric_sample(m, "creditd_log_durable_seq"), seq) << m;
  EXPECT_EQ(metric_sample(m, "creditd_log_applied_seq"), seq) << m;

  live_server no_log({"--no-log"});
  http_client open_no_log(no_log.port());
  const std::string without = scrape(open_no_log);
  EXPECT_EQ(without.find("creditd_log_"), std::string::npos) << without;
}

// --apply-records-max: the applier goes once that many records wait, the
// delay notwithstanding. With 1 and a minute's delay, each write reaches
// the file without a flush (the test above shows that with the default it
// would wait the minute).
TEST(http_metrics, the_applier_goes_once_apply_records_max_records_wait) {
  live_server srv({"--apply-delay-ms", "60000", "--apply-records-max", "1"});
  http_client c(srv.port(), admin_key);
  http_client open(srv.port());
  put_account(c, "r");
  grant(c, "r", "10");
  charge(c, "r", "1");
  // At most 50 s (the applier runs at idle priority, and the machine may be
  // busy with other tests): below the minute of delay it skips.
  EXPECT_TRUE(log_applied_caught_up(open, std::chrono::seconds(50)));
}

// Passes once the service calls metrics::charged(), granted() and refused()
// where their durable results are answered.
TEST(http_metrics, billing_figures_follow_charges_grants_and_refusals) {
  live_server srv;
  http_client c(srv.port(), admin_key);
  http_client open(srv.port());
  put_account(c, "b");
  grant(c, "b", "10");
  grant(c, "b", "0.5", "promo");
  charge(c, "b", "2.5");
  auto batch =
      c.post("/v1/accounts/b/charges:batch",
             R"({"charges":[{"operation":"x","amount":1},{"operation":"y","amount":"0.25"}]})");
  ASSERT_EQ(batch.status, 201u) << batch.body;
  ASSERT_EQ(c.post("/v1/accounts/b/charges", R"({"operation":"x","amount":100})").status, 402u);
  // An idempotent replay is not a second charge.
  const std::string once = R"({"operation":"x","amount":"0.125"})";
  ASSERT_EQ(c.post("/v1/accounts/b/charges", once, {{"Idempotency-Key", "k1"}}).status, 201u);
  ASSERT_EQ(c.post("/v1/accounts/b/charges", once, {{"Idempotency-Key", "k1"}}).status, 201u);
  const std::string m = scrape(open);
  EXPECT_EQ(metric_sample(m, "creditd_charges_total"), 4.0) << m;
  EXPECT_NE(m.find("\ncreditd_charged_credits_total 3.875\n"), std::string::npos) << m;
  EXPECT_EQ(metric_sample(m, "creditd_lots_granted_total{kind=\"prepaid\"}"), 1.0) << m;
  EXPECT_NE(m.find("\ncreditd_granted_credits_total{kind=\"promo\"} 0.5\n"), std::string::npos)
      << m;
  EXPECT_EQ(
      metric_sample(m, "creditd_refusals_total{code=\"insufficient_credits\",reason=\"balance\"}"),
      1.0)
      << m;
}
}  // namespace metrics_test_cpp
