// The creditctl binary, black-box, against the real creditd and a fake server
// that records requests: one test per defect fixed (global options after the
// command, the key's environment variables, no key, --json on errors,
// distinct exit codes, --url with a trailing slash or a base path, the
// timeout, replies that are not what the API describes), and what goes on
// the wire (percent-encoded paths, JSON bodies built, not pasted, headers).
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>

#include "cli/ctl_support.hpp"
#include "support/server_process.hpp"
#include "support/temp_dir.hpp"

namespace ctl_binary_test_cpp {  // unity builds: tests/CMakeLists.txt

namespace {

namespace json = boost::json;
using creditd::testing::closed_port;
using creditd::testing::ctl_result;
using creditd::testing::fake_server;
using creditd::testing::run_ctl;

const std::string admin_key = "ctl-admin-key";

std::string describe(const ctl_result& r) {
  return "exit " + std::to_string(r.exit_code) + "\nstdout: " + r.out + "\nstderr: " + r.err;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

const std::string charge_body =
    R"({"id":"ch_1","object":"charge","account":"a","operation":"x","amount":"1",)"
    R"("balance_after":"9"})";

// One real server for the tests that need one.
class ctl_binary : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::make_unique<creditd::testing::temp_dir>();
    server_ =
        std::make_unique<creditd::testing::server_process>(dir_->file("creditd.db"), admin_key);
    url_ = "http://127.0.0.1:" + std::to_string(server_->port());
  }
  static void TearDownTestSuite() {
    server_.reset();
    dir_.reset();
  }
  static ctl_result admin(std::vector<std::string> args) {
    args.insert(args.begin(), {"--url", url_, "--key", admin_key});
    return run_ctl(args);
  }
  static inline std::unique_ptr<creditd::testing::temp_dir> dir_;
  static inline std::unique_ptr<creditd::testing::server_process> server_;
  static inline std::string url_;
};

TEST_F(ctl_binary, global_options_are_accepted_after_the_command) {
  auto r = run_ctl({"account", "put", "after-1", "--url", url_, "--key", admin_key, "--json",
                    "--timeout", "5", "--idempotency-key", "after-1-put"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(json::parse(r.out).at("id"), json::value("after-1"));
  // Mixed: some before, some after, nested command.
  r = run_ctl({"--url", url_, "account", "get", "after-1", "--key", admin_key, "--json"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(json::parse(r.out).at("id"), json::value("after-1"));
}

TEST_F(ctl_binary, the_key_is_creditd_key_else_creditd_admin_key) {
  ASSERT_EQ(admin({"account", "put", "env-1"}).exit_code, 0);
  // What the server and the demo export is enough.
  auto r = run_ctl({"balance", "env-1"}, {{"CREDITD_URL", url_}, {"CREDITD_ADMIN_KEY", admin_key}});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  // CREDITD_KEY comes first.
  r = run_ctl(
      {"balance", "env-1"},
      {{"CREDITD_URL", url_}, {"CREDITD_KEY", "not-a-key"}, {"CREDITD_ADMIN_KEY", admin_key}});
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_TRUE(contains(r.err, "unauthenticated")) << describe(r);
  r = run_ctl({"balance", "env-1"}, {{"CREDITD_URL", url_}, {"CREDITD_KEY", admin_key}});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
}

TEST(ctl_binary_fake, a_keyed_command_without_a_key_says_so_and_sends_nothing) {
  fake_server fake(fake_server::response("200 OK", "application/json", "{}"));
  auto r = run_ctl({"balance", "alice", "--url", fake.url()});
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  EXPECT_TRUE(contains(r.err, "--key")) << r.err;
  EXPECT_TRUE(contains(r.err, "CREDITD_KEY")) << r.err;
  EXPECT_TRUE(contains(r.err, "CREDITD_ADMIN_KEY")) << r.err;
  EXPECT_EQ(fake.connections(), 0);
  // An open endpoint needs no key.
  fake_server health(fake_server::response("200 OK", "application/json", R"({"status":"ok"})"));
  r = run_ctl({"health", "--url", health.url()});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  ASSERT_EQ(health.requests().size(), 1u);
  EXPECT_EQ(health.requests()[0].header("Authorization"), "");
}

TEST_F(ctl_binary, json_prints_the_servers_error_json_on_stdout) {
  auto r = admin({"account", "get", "nobody-here", "--json"});
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  const json::value v = json::parse(r.out);
  EXPECT_EQ(v.at("error").at("code"), json::value("not_found")) << r.out;
  EXPECT_FALSE(r.err.empty());
  // Without --json: nothing on stdout, the message on stderr.
  r = admin({"account", "get", "nobody-here"});
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(contains(r.err, "not_found")) << r.err;
}

TEST_F(ctl_binary, exit_codes_tell_refusals_usage_connection_and_server_failures_apart) {
  ASSERT_EQ(admin({"account", "put", "codes-1"}).exit_code, 0);
  // 1: the server refused (402 insufficient_credits).
  auto r = admin({"charge", "codes-1", "--operation", "x", "--amount", "5"});
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_TRUE(contains(r.err, "insufficient_credits")) << r.err;
  // 2: usage, CLI11's errors included.
  EXPECT_EQ(admin({"balance", "codes-1", "--no-such-option"}).exit_code, 2);
  EXPECT_EQ(admin({"no-such-command"}).exit_code, 2);
  EXPECT_EQ(admin({"balance"}).exit_code, 2);
  EXPECT_EQ(admin({"grant", "codes-1", "--amount", "1.1234567", "--kind", "promo"}).exit_code, 2);
  EXPECT_EQ(run_ctl({}).exit_code, 2);
  // 0: help.
  EXPECT_EQ(run_ctl({"--help"}).exit_code, 0);
  // 3: nothing listens.
  r = run_ctl({"health", "--url", "http://127.0.0.1:" + std::to_string(closed_port())});
  EXPECT_EQ(r.exit_code, 3) << describe(r);
  EXPECT_TRUE(contains(r.err, "cannot connect")) << r.err;
  // 4: the server failed.
  fake_server failing(
      fake_server::response("500 Internal Server Error", "application/json",
                            R"({"error":{"code":"internal","message":"internal error"}})"));
  r = run_ctl({"balance", "a", "--url", failing.url(), "--key", "k", "--json"});
  EXPECT_EQ(r.exit_code, 4) << describe(r);
  EXPECT_TRUE(contains(r.out, "\"internal\"")) << r.out;
}

TEST(ctl_binary_fake, unexpected_success_bodies_are_printed_raw_and_exit_4) {
  for (const auto& [type, body] : std::vector<std::pair<std::string, std::string>>{
           {"text/html", "<html>a proxy page</html>"},
           {"application/json", R"({"available":"5","lots":"none"})"},
           {"application/json", "[]"},
           {"application/json", "{\"truncated\":"}}) {
    for (const char* json_flag : {"--timeout", "--json"}) {
      fake_server fake(fake_server::response("200 OK", type, body));
      std::vector<std::string> args = {"balance", "a", "--url", fake.url(), "--key", "k"};
      if (std::string(json_flag) == "--json") {
        args.push_back("--json");
      } else {
        args.insert(args.end(), {"--timeout", "10"});
      }
      auto r = run_ctl(args);
      EXPECT_EQ(r.exit_code, 4) << body << "\n" << describe(r);
      EXPECT_TRUE(contains(r.out, body)) << describe(r);
      EXPECT_TRUE(contains(r.err, "unexpected reply")) << describe(r);
    }
  }
}

TEST(ctl_binary_fake, a_server_that_does_not_answer_times_out) {
  fake_server silent("", true);
  auto r =
      run_ctl({"balance", "a", "--url", silent.url(), "--key", "k", "--timeout", "0.5"}, {}, 30);
  EXPECT_EQ(r.exit_code, 3) << describe(r);
  EXPECT_TRUE(contains(r.err, "--timeout")) << r.err;
  EXPECT_LT(r.seconds, 10.0);
  EXPECT_EQ(silent.connections(), 1);
}

TEST_F(ctl_binary, a_url_may_end_with_a_slash) {
  auto r = admin({"account", "put", "slash-1", "--url", url_ + "/"});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  r = admin({"--url", url_ + "/", "balance", "slash-1"});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_TRUE(contains(r.out, "available 0")) << r.out;
}

TEST(ctl_binary_fake, a_base_path_in_the_url_prefixes_every_target) {
  fake_server fake(fake_server::response("200 OK", "application/json", R"({"status":"ok"})"));
  auto r = run_ctl({"health", "--url", fake.url() + "/creditd/"});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  ASSERT_EQ(fake.requests().size(), 1u);
  EXPECT_EQ(fake.requests()[0].request_line(), "GET /creditd/healthz HTTP/1.1");
}

TEST(ctl_binary_fake, path_parameters_are_percent_encoded) {
  fake_server fake(fake_server::response("404 Not Found", "application/json",
                                         R"({"error":{"code":"not_found","message":"no"}})"));
  auto r = run_ctl({"balance", "org:1/x y?z", "--url", fake.url(), "--key", "k"});
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  ASSERT_EQ(fake.requests().size(), 1u);
  EXPECT_EQ(fake.requests()[0].request_line(),
            "GET /v1/accounts/org%3A1%2Fx%20y%3Fz/balance HTTP/1.1");
}

TEST_F(ctl_binary, an_id_with_a_colon_round_trips) {
  auto r = admin({"account", "put", "org:1", "--name", "Org \"One\"", "--json"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(json::parse(r.out).at("name"), json::value("Org \"One\""));
  r = admin({"account", "get", "org:1"});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_TRUE(contains(r.out, "account org:1 (Org \"One\")")) << r.out;
}

TEST(ctl_binary_fake, bodies_are_json_built_from_the_options_with_the_headers) {
  fake_server fake(fake_server::response("201 Created", "application/json", charge_body));
  auto r = run_ctl({"charge", "a", "--operation", "x", "--reference", "r\"1\", \"urgent\": true",
                    "--dimensions", R"({"model":"sdxl"})", "--urgent=false", "--amount", "1",
                    "--url", fake.url(), "--key", "k", "--idempotency-key", "idem-1"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(r.out, "ch_1: charged 1 for x; available now 9\n");
  const auto requests = fake.requests();
  ASSERT_EQ(requests.size(), 1u);
  const auto& req = requests[0];
  EXPECT_EQ(req.request_line(), "POST /v1/accounts/a/charges HTTP/1.1");
  EXPECT_EQ(req.header("Authorization"), "Bearer k");
  EXPECT_EQ(req.header("Idempotency-Key"), "idem-1");
  EXPECT_EQ(req.header("Content-Type"), "application/json");
  EXPECT_EQ(json::parse(req.body),
            json::parse(R"({"operation":"x","reference":"r\"1\", \"urgent\": true",
                            "dimensions":{"model":"sdxl"},"urgent":false,"amount":"1"})"));
  // JSON that would add a field if pasted is refused, and nothing is sent.
  r = run_ctl({"charge", "a", "--operation", "x", "--dimensions", R"({}, "urgent": true)", "--url",
               fake.url(), "--key", "k"});
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  EXPECT_EQ(fake.connections(), 1);
}

TEST(ctl_binary_fake, a_raw_body_is_sent_as_given) {
  fake_server fake(fake_server::response("201 Created", "application/json", charge_body));
  creditd::testing::temp_dir dir;
  const std::string file = dir.file("charge.json");
  const std::string raw = R"({ "operation": "x", "amount": 1 })";
  std::ofstream(file) << raw;
  auto r = run_ctl({"charge", "a", "--body", "@" + file, "--url", fake.url(), "--key", "k"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  r = run_ctl({"charge", "a", "--body", raw, "--url", fake.url(), "--key", "k"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  ASSERT_EQ(fake.requests().size(), 2u);
  EXPECT_EQ(fake.requests()[0].body, raw);
  EXPECT_EQ(fake.requests()[1].body, raw);
}

TEST_F(ctl_binary, the_common_commands_print_readable_text) {
  ASSERT_EQ(admin({"account", "put", "text-1", "--settings", R"({"reserve":"1"})"}).exit_code, 0);
  auto r = admin({"grant", "text-1", "--amount", "10", "--kind", "prepaid"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_TRUE(contains(r.out, "prepaid active: remaining 10 of 10")) << r.out;
  r = admin({"charge", "text-1", "--operation", "image.generate", "--amount", "2.5"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_TRUE(contains(r.out, "charged 2.5 for image.generate; available now 6.5")) << r.out;
  r = admin({"balance", "text-1"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_TRUE(contains(r.out, "available 6.5  held 0  reserve 1")) << r.out;
  // The reserve's settings entry, then the grant; the charge is on the next page.
  r = admin({"entries", "text-1", "--limit", "2"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_TRUE(contains(r.out, "settings")) << r.out;
  EXPECT_TRUE(contains(r.out, "grant")) << r.out;
  EXPECT_TRUE(contains(r.out, "more: --after")) << r.out;
}

}  // namespace
}  // namespace ctl_binary_test_cpp
