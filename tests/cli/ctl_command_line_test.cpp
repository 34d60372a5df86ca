// creditctl's command line, unit-tested without a server: every endpoint of
// the description is a command that parses; global options after the
// command; the key from CREDITD_KEY, else CREDITD_ADMIN_KEY; no key, bad
// values, missing required fields and CLI11's own errors are usage errors
// (exit 2) and send nothing; --body; help from the description.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <sstream>

#include "api/description.hpp"
#include "cli/ctl_commands.hpp"
#include "cli/ctl_encode.hpp"
#include "cli/ctl_exit.hpp"

namespace ctl_command_line_test_cpp {  // unity builds: tests/CMakeLists.txt

namespace {

namespace json = boost::json;
namespace api = creditd::api;
using namespace creditd::ctl;

struct parsed {
  std::expected<invocation, int> inv = std::unexpected(-1);
  std::string out, err;
};

const environment keyed{.url = "", .key = "k1", .admin_key = "", .cacert = ""};

parsed parse(std::vector<std::string> args, const environment& env = keyed) {
  args.insert(args.begin(), "creditctl");
  std::vector<const char*> argv;
  for (const auto& a : args)
    argv.push_back(a.c_str());
  std::ostringstream out, err;
  parsed p;
  p.inv = parse_command_line(static_cast<int>(argv.size()), argv.data(), env, out, err);
  p.out = out.str();
  p.err = err.str();
  return p;
}

std::vector<std::string> words(std::string_view command) {
  std::vector<std::string> out;
  std::string w;
  for (char c : command) {
    if (c == ' ') {
      if (!w.empty()) out.push_back(w);
      w.clear();
    } else {
      w += c;
    }
  }
  if (!w.empty()) out.push_back(w);
  return out;
}

// A value of field `f` that its type accepts.
std::string sample(const api::field& f) {
  switch (f.t) {
    case api::type::amount:
    case api::type::positive_amount:
    case api::type::signed_amount:
      return "1";
    case api::type::integer:
      return std::to_string(f.min != 0 || f.max != 0 ? std::clamp<std::int64_t>(1, f.min, f.max)
                                                     : 1);
    case api::type::enumeration:
      return std::string(f.values.front());
    case api::type::object:
    case api::type::dimensions:
      return "{}";
    case api::type::array:
      return f.items != nullptr && f.items->t == api::type::object ? "[{}]" : "[]";
    case api::type::time:
      return "2030-01-01T00:00:00Z";
    default:
      return "x1";
  }
}

// The command line of `ep` with every path parameter and required field.
std::vector<std::string> minimal_args(const api::endpoint& ep) {
  std::vector<std::string> args = words(ep.command);
  for (const api::field& p : ep.path_params)
    args.push_back(std::string(p.name) + "_1");
  for (const api::field& f : ep.body) {
    if (!f.required) continue;
    args.push_back(option_name(f.name));
    if (f.t != api::type::boolean) args.push_back(sample(f));
  }
  return args;
}

TEST(ctl_command_line, every_endpoint_is_a_command_with_its_method_and_path) {
  for (const api::endpoint& ep : api::endpoints()) {
    SCOPED_TRACE(std::string(ep.name));
    // A payment provider's signed webhook is no command.
    if (ep.raw_body && ep.need == api::access::open) {
      EXPECT_TRUE(ep.command.empty());
      continue;
    }
    ASSERT_FALSE(ep.command.empty()) << "no creditctl command";
    auto p = parse(minimal_args(ep));
    ASSERT_TRUE(p.inv) << p.err;
    EXPECT_EQ(p.inv->ep, &ep);
    // The target is the path with the parameters in order.
    std::string path(ep.path);
    for (const api::field& param : ep.path_params) {
      const std::string pattern = "{" + std::string(param.name) + "}";
      path.replace(path.find(pattern), pattern.size(), std::string(param.name) + "_1");
    }
    EXPECT_EQ(p.inv->target, path);
    EXPECT_EQ(p.inv->body.has_value(), ep.has_body);
    if (p.inv->body) {
      EXPECT_TRUE(json::parse(*p.inv->body).is_object());
    }
  }
}

TEST(ctl_command_line, every_command_has_help_from_the_description) {
  for (const api::endpoint& ep : api::endpoints()) {
    SCOPED_TRACE(std::string(ep.name));
    if (ep.command.empty()) continue;  // a provider's webhook (checked above)
    auto args = words(ep.command);
    args.push_back("--help");
    auto p = parse(args, {});
    ASSERT_FALSE(p.inv);
    EXPECT_EQ(p.inv.error(), exit_ok);
    EXPECT_NE(p.out.find(ep.summary), std::string::npos) << p.out;
    EXPECT_NE(p.out.find(ep.doc), std::string::npos) << p.out;
    EXPECT_NE(p.out.find("Role: "), std::string::npos) << p.out;
    for (const api::field& f : ep.body) {
      EXPECT_NE(p.out.find(option_name(f.name)), std::string::npos) << p.out;
      EXPECT_NE(p.out.find(f.doc), std::string::npos) << p.out;
    }
    for (const api::field& f : ep.query)
      EXPECT_NE(p.out.find(option_name(f.name)), std::string::npos) << p.out;
  }
  auto root = parse({"--help"}, {});
  ASSERT_FALSE(root.inv);
  EXPECT_EQ(root.inv.error(), exit_ok);
  EXPECT_NE(root.out.find("Exit codes: 0 success; 1"), std::string::npos) << root.out;
}

TEST(ctl_command_line, the_help_shows_types_limits_and_roles) {
  auto p = parse({"grant", "--help"});
  EXPECT_NE(p.out.find("Role: admin."), std::string::npos) << p.out;
  EXPECT_NE(p.out.find("{prepaid,plan,promo}"), std::string::npos) << p.out;
  EXPECT_NE(p.out.find("an integer, 0 to"), std::string::npos) << p.out;
  EXPECT_NE(p.out.find("Required."), std::string::npos) << p.out;
  p = parse({"lots", "--help"});
  EXPECT_NE(p.out.find("an integer, 1 to 1000"), std::string::npos) << p.out;
}

TEST(ctl_command_line, global_options_come_before_or_after_the_command) {
  auto before = parse({"--url", "http://h:1", "--key", "k2", "--json", "--timeout", "5",
                       "--idempotency-key", "i1", "charge", "alice", "--operation", "x"});
  ASSERT_TRUE(before.inv) << before.err;
  auto after = parse({"charge", "alice", "--url", "http://h:1", "--operation", "x", "--key", "k2",
                      "--json", "--timeout", "5", "--idempotency-key", "i1"});
  ASSERT_TRUE(after.inv) << after.err;
  for (const auto* p : {&before, &after}) {
    const invocation& inv = *p->inv;
    EXPECT_EQ(inv.global.url, "http://h:1");
    EXPECT_EQ(inv.server.port, "1");
    EXPECT_EQ(inv.global.key, "k2");
    EXPECT_TRUE(inv.global.json);
    EXPECT_EQ(inv.global.timeout_seconds, 5);
    EXPECT_EQ(inv.global.idempotency_key, "i1");
  }
  // Given twice, the last one wins, before or after the command.
  auto twice = parse({"--url", "http://h:1", "--json", "--url", "http://h:2", "balance", "a",
                      "--url", "http://h:3", "--timeout", "1", "--timeout", "2"});
  ASSERT_TRUE(twice.inv) << twice.err;
  EXPECT_EQ(twice.inv->server.port, "3");
  EXPECT_EQ(twice.inv->global.timeout_seconds, 2);
  EXPECT_TRUE(twice.inv->global.json);
  twice =
      parse({"--url", "http://h:1", "balance", "a", "--url", "http://h:2", "--url", "http://h:3"});
  ASSERT_TRUE(twice.inv) << twice.err;
  EXPECT_EQ(twice.inv->server.port, "3");
  // Nested commands too, and a positional that names another command.
  auto nested = parse({"account", "put", "balance", "--json", "--url", "http://h:2/base/"});
  ASSERT_TRUE(nested.inv) << nested.err;
  EXPECT_EQ(nested.inv->target, "/base/v1/accounts/balance");
  EXPECT_TRUE(nested.inv->global.json);
}

TEST(ctl_command_line, the_key_comes_from_creditd_key_else_creditd_admin_key) {
  auto p = parse({"balance", "a"}, {.key = "from-key", .admin_key = "from-admin"});
  ASSERT_TRUE(p.inv) << p.err;
  EXPECT_EQ(p.inv->global.key, "from-key");
  p = parse({"balance", "a"}, {.key = "", .admin_key = "from-admin"});
  ASSERT_TRUE(p.inv) << p.err;
  EXPECT_EQ(p.inv->global.key, "from-admin");
  p = parse({"balance", "a", "--key", "flag"}, {.key = "from-key"});
  ASSERT_TRUE(p.inv) << p.err;
  EXPECT_EQ(p.inv->global.key, "flag");
  p = parse({"balance", "a"}, {.url = "http://env:9"});
  ASSERT_FALSE(p.inv);
  p = parse({"health"}, {.url = "http://env:9"});
  ASSERT_TRUE(p.inv) << p.err;
  EXPECT_EQ(p.inv->server.host, "env");
}

TEST(ctl_command_line, a_keyed_command_without_a_key_is_a_usage_error_naming_key) {
  auto p = parse({"balance", "alice"}, {});
  ASSERT_FALSE(p.inv);
  EXPECT_EQ(p.inv.error(), exit_usage);
  EXPECT_NE(p.err.find("--key"), std::string::npos) << p.err;
  EXPECT_NE(p.err.find("CREDITD_KEY"), std::string::npos) << p.err;
  EXPECT_NE(p.err.find("CREDITD_ADMIN_KEY"), std::string::npos) << p.err;
  // Open endpoints need none.
  EXPECT_TRUE(parse({"health"}, {}).inv);
  EXPECT_TRUE(parse({"openapi"}, {}).inv);
}

TEST(ctl_command_line, usage_errors_exit_2) {
  const std::vector<std::vector<std::string>> bad = {
      {},                                                            // no command
      {"nope"},                                                      // unknown command
      {"account"},                                                   // a group without its command
      {"balance"},                                                   // missing path parameter
      {"balance", "a", "b"},                                         // extra positional
      {"balance", "a", "--nope"},                                    // unknown option
      {"grant", "a", "--kind", "prepaid"},                           // missing required --amount
      {"grant", "a", "--amount", "1.1234567", "--kind", "prepaid"},  // 7 decimals
      {"grant", "a", "--amount", "1", "--kind", "gift"},             // not an enumeration value
      {"grant", "a", "--amount", "1", "--kind", "promo", "--priority", "-1"},  // below min
      {"lots", "a", "--limit", "1001"},                                        // above max
      {"charge", "a", "--operation", "x", "--dimensions", R"({}, "urgent": true)"},
      {"charge", "a", "--operation", "x", "--urgent=maybe"},  // CLI11's conversion error
      {"charge", "a", "--operation", "x", "--amount", "1", "--amount", "2"},
      {"charge", "a", "--body", R"({"operation":"x"})", "--amount", "1"},  // both
      {"charge", "a", "--body", R"({"operation":)"},                       // not JSON
      {"balance", "a", "--idempotency-key", "k"},                          // on a read
      {"balance", "a", "--timeout", "0"},
      {"balance", "a", "--url", "localhost:8080"},
      {"balance", "a", "--url", "http://h:1/?q=1"},
  };
  for (const auto& args : bad) {
    std::string line;
    for (const auto& a : args)
      line += a + " ";
    auto p = parse(args);
    ASSERT_FALSE(p.inv) << line;
    EXPECT_EQ(p.inv.error(), exit_usage) << line;
    EXPECT_FALSE(p.err.empty()) << line;
  }
}

TEST(ctl_command_line, fields_become_a_json_body) {
  auto p = parse({"charge", "org:1/x y", "--operation", "image.generate", "--amount", "2.5",
                  "--dimensions", R"({"model":"sdxl"})", "--reference", "a\"b", "--urgent",
                  "--metadata", R"({"k":1})", "--quantity", "3"});
  ASSERT_TRUE(p.inv) << p.err;
  EXPECT_EQ(p.inv->target, "/v1/accounts/org%3A1%2Fx%20y/charges");
  ASSERT_TRUE(p.inv->body);
  const json::value body = json::parse(*p.inv->body);
  EXPECT_EQ(body, json::parse(R"({"operation":"image.generate","amount":"2.5",
      "dimensions":{"model":"sdxl"},"reference":"a\"b","urgent":true,"metadata":{"k":1},
      "quantity":"3"})"));
  p = parse({"charge", "a", "--operation", "x", "--urgent=false"});
  ASSERT_TRUE(p.inv) << p.err;
  ASSERT_TRUE(p.inv->body);
  EXPECT_EQ(json::parse(*p.inv->body).at("urgent"), json::value(false));

  p = parse({"grant", "a", "--amount", "5", "--kind", "promo", "--scope", "image.*", "--scope",
             "llm.tokens", "--priority", "3", "--expires-at", "2030-01-01T00:00:00Z"});
  ASSERT_TRUE(p.inv) << p.err;
  ASSERT_TRUE(p.inv->body);
  EXPECT_EQ(json::parse(*p.inv->body),
            json::parse(R"({"amount":"5","kind":"promo","scope":["image.*","llm.tokens"],
                "priority":3,"expires_at":"2030-01-01T00:00:00Z"})"));

  p = parse({"account", "put", "a", "--settings", R"({"reserve":"5"})"});
  ASSERT_TRUE(p.inv) << p.err;
  ASSERT_TRUE(p.inv->body);
  EXPECT_EQ(json::parse(*p.inv->body), json::parse(R"({"settings":{"reserve":"5"}})"));

  p = parse({"adjust", "a", "--amount", "-2", "--reason", "oops"});
  ASSERT_TRUE(p.inv) << p.err;
  ASSERT_TRUE(p.inv->body);
  EXPECT_EQ(json::parse(*p.inv->body), json::parse(R"({"amount":"-2","reason":"oops"})"));

  p = parse({"charge-batch", "a", "--charges", R"({"operation":"x","amount":"1"})", "--charges",
             R"({"operation":"y","amount":"2"})"});
  ASSERT_TRUE(p.inv) << p.err;
  ASSERT_TRUE(p.inv->body);
  EXPECT_EQ(json::parse(*p.inv->body).at("charges").as_array().size(), 2u);

  p = parse({"clock", "advance", "--seconds", "60"});
  ASSERT_TRUE(p.inv) << p.err;
  ASSERT_TRUE(p.inv->body);
  EXPECT_EQ(*p.inv->body, R"({"seconds":60})");

  // An endpoint with a body but no fields sends an empty object.
  p = parse({"release", "hold_1"});
  ASSERT_TRUE(p.inv) << p.err;
  ASSERT_TRUE(p.inv->body);
  EXPECT_EQ(*p.inv->body, "{}");
}

TEST(ctl_command_line, query_parameters_are_options) {
  auto p = parse({"entries", "a", "--limit", "5", "--after", "c 1"});
  ASSERT_TRUE(p.inv) << p.err;
  EXPECT_EQ(p.inv->target, "/v1/accounts/a/entries?limit=5&after=c%201");
  EXPECT_FALSE(p.inv->body);
  p = parse({"balance", "a", "--at", "2026-11-25T10:00:00Z"});
  ASSERT_TRUE(p.inv) << p.err;
  EXPECT_EQ(p.inv->target, "/v1/accounts/a/balance?at=2026-11-25T10%3A00%3A00Z");
}

TEST(ctl_command_line, a_raw_body_replaces_the_fields_and_required_checks) {
  const std::string raw = R"({"operation": "x",  "amount": 1})";
  auto p = parse({"charge", "a", "--body", raw});
  ASSERT_TRUE(p.inv) << p.err;
  ASSERT_TRUE(p.inv->body);
  EXPECT_EQ(*p.inv->body, raw);  // byte for byte
  // Not on commands without a body.
  EXPECT_FALSE(parse({"balance", "a", "--body", "{}"}).inv);
}

}  // namespace
}  // namespace ctl_command_line_test_cpp
