// creditctl's output, unit-tested on made-up replies: readable lines and
// tables, --json as sent, errors on stderr (and their JSON on stdout with
// --json), exit codes by status, and replies that are not JSON or not the
// described shape printed raw with exit 4 instead of crashing.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <sstream>

#include "api/description.hpp"
#include "cli/ctl_exit.hpp"
#include "cli/ctl_output.hpp"

namespace ctl_output_test_cpp {  // unity builds: tests/CMakeLists.txt

namespace {

namespace api = creditd::api;
using namespace creditd::ctl;

struct printed {
  int exit = -1;
  std::string out, err;
};

printed show(std::string_view endpoint, unsigned status, std::string body, bool as_json = false,
             std::string retry_after = "") {
  const api::endpoint* ep = api::find_endpoint(endpoint);
  EXPECT_NE(ep, nullptr) << endpoint;
  std::ostringstream out, err;
  reply r{status, "application/json", std::move(retry_after), std::move(body)};
  printed p;
  p.exit = report(*ep, r, as_json, out, err);
  p.out = out.str();
  p.err = err.str();
  return p;
}

TEST(ctl_output, readable_lines_and_tables) {
  auto p =
      show("create_charge", 201,
           R"({"id":"ch_1","amount":"2.5","operation":"image.generate","balance_after":"7.5"})");
  EXPECT_EQ(p.exit, exit_ok);
  EXPECT_EQ(p.out, "ch_1: charged 2.5 for image.generate; available now 7.5\n");
  EXPECT_EQ(p.err, "");

  p = show("get_balance", 200,
           R"({"available":"5","held":"0","reserve":"0","postpaid_used":"0","lots":[
               {"id":"lot_1","kind":"promo","remaining":"5","amount":"5","expires_at":null,
                "priority":10}]})");
  EXPECT_EQ(p.exit, exit_ok);
  EXPECT_NE(p.out.find("available 5  held 0"), std::string::npos) << p.out;
  EXPECT_NE(p.out.find("lot_1  promo"), std::string::npos) << p.out;

  p = show("list_entries", 200,
           R"({"data":[{"id":"ent_1","type":"grant","amount":"5"}],"next":"ent_1"})");
  EXPECT_EQ(p.exit, exit_ok);
  EXPECT_NE(p.out.find("ENTRY"), std::string::npos) << p.out;
  EXPECT_NE(p.out.find("more: --after ent_1"), std::string::npos) << p.out;

  // Endpoints without a readable form print their JSON indented.
  p = show("get_test_clock", 200, R"({"now":"2026-11-25T10:00:00Z"})");
  EXPECT_EQ(p.exit, exit_ok);
  EXPECT_EQ(p.out, "{\n  \"now\": \"2026-11-25T10:00:00Z\"\n}\n");
}

TEST(ctl_output, json_prints_the_servers_body) {
  const std::string body = R"({"id":"ch_1","amount":"2.5"})";
  auto p = show("create_charge", 201, body, true);
  EXPECT_EQ(p.exit, exit_ok);
  EXPECT_EQ(p.out, body + "\n");
}

TEST(ctl_output, errors_go_to_stderr_and_with_json_their_json_to_stdout) {
  const std::string body =
      R"({"error":{"code":"insufficient_credits","message":"not enough credits",)"
      R"("reason":"balance","available":"1","required":"2"}})";
  auto p = show("create_charge", 402, body);
  EXPECT_EQ(p.exit, exit_refused);
  EXPECT_EQ(p.out, "");
  EXPECT_NE(p.err.find("not enough credits (insufficient_credits, HTTP 402)"), std::string::npos)
      << p.err;
  EXPECT_NE(p.err.find("available: 1"), std::string::npos) << p.err;

  p = show("create_charge", 402, body, true);
  EXPECT_EQ(p.exit, exit_refused);
  EXPECT_EQ(p.out, body + "\n");
  EXPECT_NE(p.err.find("not enough credits"), std::string::npos) << p.err;

  p = show("create_charge", 429, R"({"error":{"code":"rate_limited","message":"slow down"}})",
           false, "7");
  EXPECT_EQ(p.exit, exit_refused);
  EXPECT_NE(p.err.find("retry after 7 s"), std::string::npos) << p.err;
}

TEST(ctl_output, server_errors_and_odd_statuses_exit_4) {
  auto p = show("create_charge", 503, R"({"error":{"code":"unavailable","message":"disk"}})");
  EXPECT_EQ(p.exit, exit_server);
  p = show("create_charge", 500, "<html>oops</html>");
  EXPECT_EQ(p.exit, exit_server);
  EXPECT_NE(p.err.find("<html>oops</html>"), std::string::npos) << p.err;
  p = show("create_charge", 302, "");
  EXPECT_EQ(p.exit, exit_server);
  // A degraded health answer is 503 with the Health object.
  p = show("health", 503, R"({"status":"degraded","error":"disk full"})", true);
  EXPECT_EQ(p.exit, exit_server);
  EXPECT_NE(p.out.find("degraded"), std::string::npos) << p.out;
}

TEST(ctl_output, unexpected_bodies_are_printed_raw_and_exit_4) {
  const std::vector<std::pair<std::string_view, std::string>> odd = {
      {"create_charge", "not json at all"},
      {"create_charge", "[1,2,3]"},
      {"create_charge", R"({"amount":"1"})"},  // no id
      {"get_account", R"({"id":"a","balance":"5"})"},
      {"get_balance", R"({"available":"5","lots":"none"})"},
      {"get_balance", R"({"available":"5","lots":[1]})"},
      {"list_entries", R"({"data":{}})"},
      {"list_lots", R"({"next":null})"},
      {"create_charge_batch", R"({"data":[{"amount":"1"}]})"},
      {"get_test_clock", "\"now\""},
      {"get_hold", ""},
  };
  for (const auto& [endpoint, body] : odd) {
    for (bool as_json : {false, true}) {
      auto p = show(endpoint, 200, body, as_json);
      EXPECT_EQ(p.exit, exit_server) << endpoint << " " << body;
      EXPECT_NE(p.out.find(body), std::string::npos) << endpoint << " " << body;
      EXPECT_NE(p.err.find("unexpected reply"), std::string::npos) << p.err;
    }
  }
}

TEST(ctl_output, non_json_endpoints_print_their_text) {
  const api::endpoint* metrics = api::find_endpoint("metrics");
  ASSERT_NE(metrics, nullptr);
  std::ostringstream out, err;
  reply r{200, "text/plain", "", "# HELP x\nx 1\n"};
  EXPECT_EQ(report(*metrics, r, false, out, err), exit_ok);
  EXPECT_EQ(out.str(), "# HELP x\nx 1\n");
}

TEST(ctl_output, pretty_json_escapes_strings) {
  EXPECT_EQ(pretty_json(boost::json::parse(R"({"a":["x\"y",{}],"b":[]})")),
            "{\n  \"a\": [\n    \"x\\\"y\",\n    {}\n  ],\n  \"b\": []\n}\n");
}

}  // namespace
}  // namespace ctl_output_test_cpp
