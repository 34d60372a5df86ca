// Drift between the API description, the server and creditctl, black-box:
// for every endpoint in creditd::api::endpoints(),
//   (a) `creditctl COMMAND --help` succeeds and shows the summary;
//   (b) the real server's GET /openapi.json has the path and method with
//       x-creditctl-command equal to the command, and every path and method
//       in that document is in the description;
//   (c) the command, run against the real server with an admin key and
//       minimal valid arguments derived from the description's types (plus a
//       few made objects and extra arguments), reaches the route and succeeds.
// An endpoint added to the description without a handler or a creditctl
// mapping, or to the router without the description, fails here.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <map>
#include <memory>
#include <set>

#include "api/description.hpp"
#include "cli/ctl_support.hpp"
#include "support/server_process.hpp"
#include "support/temp_dir.hpp"

namespace ctl_drift_test_cpp {  // unity builds: tests/CMakeLists.txt

namespace {

namespace json = boost::json;
namespace api = creditd::api;
using creditd::testing::ctl_result;
using creditd::testing::run_ctl;

const std::string admin_key = "drift-admin-key";
const std::string account = "drift-account";

std::vector<std::string> words(std::string_view command) {
  std::vector<std::string> out;
  std::string w;
  for (char c : std::string(command) + " ") {
    if (c != ' ') {
      w += c;
    } else if (!w.empty()) {
      out.push_back(w);
      w.clear();
    }
  }
  return out;
}

std::string option_name(std::string_view name) {
  std::string out = "--";
  for (char c : name)
    out += c == '_' ? '-' : c;
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return out;
}

// The error.code of an error reply, or "".
std::string error_code(const std::string& body) {
  boost::system::error_code ec;
  const json::value v = json::parse(body, ec);
  if (ec || !v.is_object()) return "";
  const json::value* e = v.as_object().if_contains("error");
  if (e == nullptr || !e->is_object()) return "";
  const json::value* code = e->as_object().if_contains("code");
  return code != nullptr && code->is_string() ? std::string(code->as_string()) : "";
}

std::string describe(const ctl_result& r) {
  return "exit " + std::to_string(r.exit_code) + "\nstdout: " + r.out + "\nstderr: " + r.err;
}

// Extra arguments for the commands whose minimal arguments are not enough
// to succeed: the charge-like endpoints need an amount when no price matches.
const std::map<std::string, std::vector<std::string>>& extra_args() {
  static const std::map<std::string, std::vector<std::string>> table = {
      {"charge", {"--amount", "1"}},
      {"hold", {"--amount", "1"}},
      {"charge-batch", {"--charges", R"([{"operation":"drift.op","amount":"1"}])"}},
      {"purchase", {"--package", "drift-pack"}},
      {"subscribe", {"--plan", "drift-plan"}},
      {"package set", {"--currency", "usd"}},
      {"price set", {"--operation", "drift.put"}},
      {"webhook-endpoint set", {"--url", "http://127.0.0.1:9/drift"}},
      // A stream ends after `limit` events: the grant's balance.restored.
      {"event-stream", {"--after", "0", "--limit", "1"}},
  };
  return table;
}

// A value of `f` its type accepts (JSON text for objects and arrays).
std::string sample(const api::field& f);

std::string sample_object(std::span<const api::field> fields) {
  json::object o;
  for (const api::field& m : fields) {
    if (m.required)
      o[m.name] = json::parse(m.t == api::type::object || m.t == api::type::array ||
                                      m.t == api::type::dimensions || m.t == api::type::integer ||
                                      m.t == api::type::boolean
                                  ? sample(m)
                                  : json::serialize(json::value(sample(m))));
  }
  return json::serialize(o);
}

std::string sample(const api::field& f) {
  switch (f.t) {
    case api::type::amount:
    case api::type::positive_amount:
    case api::type::signed_amount:
      return "1";
    case api::type::integer:
      return std::to_string(f.min != 0 || f.max != 0 ? std::clamp<std::int64_t>(1, f.min, f.max)
                                                     : 1);
    case api::type::boolean:
      return "true";
    case api::type::enumeration:
      return std::string(f.values.front());
    case api::type::object:
      return sample_object(f.fields);
    case api::type::dimensions:
      return "{}";
    case api::type::array:
      if (f.items == nullptr) return "[]";
      if (f.items->t == api::type::object) return "[" + sample_object(f.items->fields) + "]";
      return "[" + json::serialize(json::value(sample(*f.items))) + "]";
    case api::type::time:
      return "2030-01-01T00:00:00Z";
    case api::type::account_id:
      return account;
    case api::type::operation:
    case api::type::operation_pattern:
      return "drift.op";
    case api::type::string:
    case api::type::id:
    case api::type::charge_or_id:
      return "drift";
  }
  return "drift";
}

class drift : public ::testing::TestWithParam<std::size_t> {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::make_unique<creditd::testing::temp_dir>();
    server_ = std::make_unique<creditd::testing::server_process>(
        dir_->file("creditd.db"), admin_key, std::vector<std::string>{"--test-clock"});
    url_ = "http://127.0.0.1:" + std::to_string(server_->port());
    auto put = ctl({"account", "put", account});
    ASSERT_EQ(put.exit_code, 0) << describe(put);
    auto grant = ctl({"grant", account, "--amount", "1000000", "--kind", "prepaid"});
    ASSERT_EQ(grant.exit_code, 0) << describe(grant);
    // The catalog objects the path parameters name, and a subscription.
    for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
             {"price", "set", "drift-price", "--operation", "drift.op", "--unit-amount", "1"},
             {"package", "set", "drift-pack", "--credits", "1", "--price", "1", "--currency",
              "usd"},
             {"plan", "set", "drift-plan", "--credits-per-period", "1", "--period", "month"},
             {"subscribe", account, "--plan", "drift-plan"}}) {
      auto r = ctl(args);
      ASSERT_EQ(r.exit_code, 0) << describe(r);
    }
  }
  static void TearDownTestSuite() {
    server_.reset();
    dir_.reset();
  }

  static ctl_result ctl(std::vector<std::string> args) {
    // The global options first: a webhook endpoint's body has a field named
    // url, which after the command is the field's (creditctl's rule).
    args.insert(args.begin(), {"--url", url_, "--key", admin_key});
    return run_ctl(args);
  }

  // Runs a command with --json and returns the "id" of the object it made.
  static std::string make(std::vector<std::string> args) {
    args.push_back("--json");
    auto r = ctl(args);
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    if (r.exit_code != 0) return "";
    return std::string(json::parse(r.out).at("id").as_string());
  }

  // An existing object for path parameter `p`, made for this test.
  static std::string object_for(const api::field& p) {
    if (p.name == "endpoint_id") {
      // An endpoint of its own (a test may delete it); nothing listens at
      // its url (deliveries fail and are retried, unseen here).
      static int n = 0;
      const std::string id = "drift-hook-" + std::to_string(++n);
      auto r = ctl(
          {"webhook-endpoint", "set", id, "--url", "http://127.0.0.1:9/drift", "--events", "*"});
      EXPECT_EQ(r.exit_code, 0) << describe(r);
      return id;
    }
    if (p.name == "price_id") {
      // A price of its own (a test may delete it), for an operation of its
      // own (two prices without dimensions for one operation conflict).
      static int n = 0;
      const std::string id = "drift-price-" + std::to_string(++n);
      auto r = ctl({"price", "set", id, "--operation", "drift.op" + std::to_string(n),
                    "--unit-amount", "1"});
      EXPECT_EQ(r.exit_code, 0) << describe(r);
      return id;
    }
    if (p.name == "package_id") return "drift-pack";
    if (p.name == "plan_id") return "drift-plan";
    if (p.t == api::type::account_id) return account;
    if (p.prefix == "lot") return make({"grant", account, "--amount", "1", "--kind", "promo"});
    if (p.prefix == "ch") {
      return make({"charge", account, "--operation", "drift.op", "--amount", "1"});
    }
    if (p.prefix == "hold") {
      return make({"hold", account, "--operation", "drift.op", "--amount", "1"});
    }
    if (p.name == "key_id")
      return make({"key", "create", "--role", "reader", "--account", account});
    ADD_FAILURE() << "the drift test cannot make an object for path parameter " << p.name
                  << ": teach object_for()";
    return "drift";
  }

  static json::value openapi() {
    auto [status, body] = creditd::testing::raw_get(server_->port(), "/openapi.json");
    EXPECT_EQ(status, 200u);
    return json::parse(body);
  }

  static inline std::unique_ptr<creditd::testing::temp_dir> dir_;
  static inline std::unique_ptr<creditd::testing::server_process> server_;
  static inline std::string url_;
};

const api::endpoint& endpoint_at(std::size_t i) {
  return api::endpoints()[i];
}

// A payment provider's webhook is called by the provider, signed: it has no
// creditctl command.
bool provider_webhook(const api::endpoint& ep) {
  return ep.raw_body && ep.need == api::access::open;
}

TEST_P(drift, help_shows_the_summary) {
  const api::endpoint& ep = endpoint_at(GetParam());
  if (provider_webhook(ep)) {
    EXPECT_TRUE(ep.command.empty()) << ep.name;
    GTEST_SKIP() << ep.name << " is a provider's webhook (no command)";
  }
  ASSERT_FALSE(ep.command.empty()) << ep.name << " has no creditctl command";
  auto args = words(ep.command);
  args.push_back("--help");
  auto r = run_ctl(args);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_NE(r.out.find(ep.summary), std::string::npos) << r.out;
}

TEST_P(drift, the_servers_openapi_document_names_the_command) {
  const api::endpoint& ep = endpoint_at(GetParam());
  const json::value doc = openapi();
  const json::value* op = doc.at("paths").as_object().if_contains(ep.path);
  ASSERT_NE(op, nullptr) << ep.path << " is not in /openapi.json";
  const json::value* method = op->as_object().if_contains(lower(api::to_string(ep.verb)));
  ASSERT_NE(method, nullptr) << api::to_string(ep.verb) << " " << ep.path
                             << " is not in /openapi.json";
  if (provider_webhook(ep)) {
    EXPECT_EQ(method->as_object().if_contains("x-creditctl-command"), nullptr);
    return;
  }
  EXPECT_EQ(method->at("x-creditctl-command"), json::value(ep.command));
}

TEST_P(drift, the_command_reaches_its_route) {
  const api::endpoint& ep = endpoint_at(GetParam());
  if (provider_webhook(ep)) GTEST_SKIP() << ep.name << " is a provider's webhook (no command)";
  std::vector<std::string> args = words(ep.command);
  for (const api::field& p : ep.path_params)
    args.push_back(object_for(p));
  const std::string command(ep.command);
  std::vector<std::string> extra;
  if (auto it = extra_args().find(command); it != extra_args().end()) extra = it->second;
  for (const api::field& f : ep.body) {
    if (!f.required) continue;
    const std::string name = option_name(f.name);
    if (std::find(extra.begin(), extra.end(), name) != extra.end()) continue;
    if (f.t == api::type::boolean) {
      args.push_back(name);
    } else {
      args.insert(args.end(), {name, sample(f)});
    }
  }
  args.insert(args.end(), extra.begin(), extra.end());
  args.push_back("--json");
  auto r = ctl(args);
  std::string line = "creditctl";
  for (const auto& a : args)
    line += " " + a;
  // Not the router's answers to an unknown route or a method it does not serve.
  if (r.exit_code == 1) {
    const std::string code = error_code(r.out);
    EXPECT_NE(code, "method_not_allowed") << line << "\n" << describe(r);
    EXPECT_NE(code, "not_found") << line << "\n" << describe(r);
  }
  EXPECT_EQ(r.exit_code, 0) << line << "\n" << describe(r);
}

std::vector<std::size_t> all_endpoints() {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < api::endpoints().size(); ++i)
    out.push_back(i);
  return out;
}

INSTANTIATE_TEST_SUITE_P(endpoints, drift, ::testing::ValuesIn(all_endpoints()),
                         [](const ::testing::TestParamInfo<std::size_t>& info) {
                           return std::string(endpoint_at(info.param).name);
                         });

// (b), the other way: everything the server documents is described.
TEST(drift_document, every_path_and_method_served_is_in_the_description) {
  creditd::testing::temp_dir dir;
  creditd::testing::server_process server(dir.file("creditd.db"), admin_key, {"--test-clock"});
  auto [status, body] = creditd::testing::raw_get(server.port(), "/openapi.json");
  ASSERT_EQ(status, 200u);
  const json::value doc = json::parse(body);
  std::set<std::string> described;
  for (const api::endpoint& ep : api::endpoints())
    described.insert(lower(api::to_string(ep.verb)) + " " + std::string(ep.path));
  std::size_t operations = 0;
  for (const auto& [path, item] : doc.at("paths").as_object()) {
    for (const auto& [method, op] : item.as_object()) {
      ++operations;
      EXPECT_TRUE(described.count(std::string(method) + " " + std::string(path)))
          << method << " " << path << " is served but not in the description";
    }
  }
  EXPECT_EQ(operations, api::endpoints().size());
}

}  // namespace
}  // namespace ctl_drift_test_cpp
