// The fast spend decoder (request_fields.hpp: a charge or hold body straight
// from its text, no JSON tree) against the general path (parse_json,
// check_fields, decode_checked_charge / read_spend, write_canonical) on the
// same inputs: hand-written bodies for every kind of refusal, the fuzz
// corpus, and seeded mutations of them. The fast path may decline anything;
// what it accepts the general path must accept, with the same command, hold
// TTL and canonical (Idempotency-Key) form. A refusal always comes from the
// general path, so its status and body are the general path's.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "api/description.hpp"
#include "http/json.hpp"
#include "http/request_fields.hpp"
#include "http/validate.hpp"

namespace fast_spend_test_cpp {  // unity builds: tests/CMakeLists.txt

namespace {

using namespace creditd;
namespace desc = creditd::api;

std::span<const desc::field> body_of(std::string_view endpoint) {
  const desc::endpoint* ep = desc::find_endpoint(endpoint);
  if (ep == nullptr) throw std::runtime_error("no endpoint " + std::string(endpoint));
  return ep->body;
}

bool blank(std::string_view body) {
  return body.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

struct outcome {
  std::size_t fast_accepted = 0;
  std::size_t general_accepted = 0;
};

// Both paths on `body` for the endpoint's fields; every disagreement fails.
void compare(const std::string& body, std::string_view endpoint, outcome& o) {
  const auto fields = body_of(endpoint);
  // The general path, as api::handle runs it.
  std::optional<http::jvalue> tree;
  bool general_ok = false;
  if (!blank(body)) {
    http::json_error error;
    tree = http::parse_json(body, error);
    general_ok = tree && tree->is_object() && http::check_fields(*tree, fields).empty();
  }
  auto fast = http::decode_spend_fast(body, fields, true);
  if (general_ok) ++o.general_accepted;
  if (!fast) return;
  ++o.fast_accepted;
  ASSERT_TRUE(general_ok) << endpoint
                          << ": the fast path accepted what the general path refuses: " << body;
  std::string canonical;
  http::write_canonical(canonical, *tree, fields);
  EXPECT_EQ(fast->canonical, canonical) << body;
  const http::body_values values(&*tree);
  EXPECT_EQ(fast->ttl_seconds, values.integer("ttl_seconds")) << body;
  const http::spend_fields general = http::read_spend(values);
  EXPECT_EQ(fast->s.operation, general.operation) << body;
  EXPECT_EQ(fast->s.dimensions, general.dimensions) << body;
  EXPECT_EQ(fast->s.reference, general.reference) << body;
  EXPECT_EQ(fast->s.urgent, general.urgent) << body;
  EXPECT_EQ(fast->s.amount, general.amount) << body;
  EXPECT_EQ(fast->s.quantity, general.quantity) << body;
  EXPECT_EQ(fast->s.metadata, general.metadata) << body;
  EXPECT_EQ(fast->s.dimension_values.size(), general.dimension_values.size()) << body;
  const ledger::charge_cmd a = http::charge_from(std::move(*fast), "acct");
  const ledger::charge_cmd b = http::decode_checked_charge(*tree, "acct");
  EXPECT_EQ(a.account, b.account);
  EXPECT_EQ(a.amount, b.amount) << body;
  EXPECT_EQ(a.operation, b.operation) << body;
  EXPECT_EQ(a.reference, b.reference) << body;
  EXPECT_EQ(a.urgent, b.urgent) << body;
  EXPECT_EQ(a.quantity, b.quantity) << body;
  EXPECT_EQ(a.from_catalog, b.from_catalog) << body;
  EXPECT_EQ(a.dimensions, b.dimensions) << body;
  EXPECT_EQ(a.metadata, b.metadata) << body;
}

const std::vector<std::string>& handwritten() {
  static const std::vector<std::string> bodies = {
      // Accepted shapes.
      R"({"operation":"image.generate","amount":"1","reference":"1-5"})",
      R"({"operation":"image.generate","amount":2.5})",
      R"( { "operation" : "llm.tokens" , "quantity" : "1500" , "urgent" : true } )",
      "{\n\t\"operation\":\"a/b:c-d.e_f\",\r\n\"amount\":0,\"urgent\":false}\n",
      R"({"amount":"2.50","operation":"x","reference":""})",
      R"({"operation":"x","amount":1e2})",
      R"({"operation":"x","amount":1E+2,"quantity":0.000001})",
      R"({"operation":"x","amount":"1e-6"})",
      R"({"operation":"x","amount":1000000000})",
      R"({"operation":"x","amount":"0.0000001"})",
      R"({"operation":"x","ttl_seconds":60})",
      R"({"operation":"x","ttl_seconds":2592000})",
      R"({"operation":"x","ttl_seconds":0})",
      R"({"operation":"x","ttl_seconds":-1})",
      R"({"operation":"x","ttl_seconds":1.0})",
      R"({"operation":"x","ttl_seconds":"60"})",
      // Unknown fields, missing and null ones, types.
      R"({"operation":"x","amount":1,"colour":"red"})",
      R"({"amount":1})",
      R"({})",
      "",
      "   ",
      R"({"operation":null,"amount":1})",
      R"({"operation":"x","amount":null})",
      R"({"operation":"x","reference":null})",
      R"({"operation":1,"amount":1})",
      R"({"operation":"x","amount":true})",
      R"({"operation":"x","amount":[1]})",
      R"({"operation":"x","amount":{"v":1}})",
      R"({"operation":"x","urgent":"true"})",
      R"({"operation":"x","urgent":1})",
      R"({"operation":"x","reference":5})",
      R"({"operation":"bad op","amount":1})",
      R"({"operation":"","amount":1})",
      // Ranges and lengths.
      R"({"operation":"x","amount":-1})",
      R"({"operation":"x","amount":"-0"})",
      R"({"operation":"x","amount":-0})",
      R"({"operation":"x","quantity":0})",
      R"({"operation":"x","quantity":"-1"})",
      R"({"operation":"x","amount":1000000000.000001})",
      R"({"operation":"x","amount":1e999})",
      R"({"operation":"x","amount":"1.2.3"})",
      R"({"operation":"x","amount":"abc"})",
      R"({"operation":"x","amount":""})",
      R"({"operation":"x","amount":" 1"})",
      R"({"operation":"x","amount":"+1"})",
      R"({"operation":"x","amount":"0x10"})",
      R"({"operation":"x","reference":")" + std::string(255, 'r') + "\"}",
      R"({"operation":"x","reference":")" + std::string(256, 'r') + "\"}",
      R"({"operation":")" + std::string(128, 'o') + "\"}",
      R"({"operation":")" + std::string(129, 'o') + "\"}",
      // Duplicates.
      R"({"operation":"x","amount":1,"amount":2})",
      R"({"operation":"x","operation":"x"})",
      // Not JSON, or not this shape.
      R"({"operation":"x","amount":01})",
      R"({"operation":"x","amount":1.})",
      R"({"operation":"x","amount":.5})",
      R"({"operation":"x","amount":-})",
      R"({"operation":"x","amount":1e})",
      R"({"operation":"x","amount":1,})",
      R"({"operation":"x",,"amount":1})",
      R"({"operation":"x" "amount":1})",
      R"({"operation":"x","amount":1}})",
      R"({"operation":"x","amount":1} x)",
      R"({"operation":"x","amount":1}{})",
      R"({"operation":"x","amount":1)",
      R"(["operation","x"])",
      R"("operation")",
      R"({'operation':'x'})",
      R"({operation:"x"})",
      R"({"operation":"x","amount":tru})",
      R"({"operation":"x","urgent":truee})",
      R"({"operation":"x","urgent":nul})",
      // Escapes, control characters, non-ASCII, dimensions and metadata.
      R"({"operation":"x","reference":"a\"b"})",
      R"({"operation":"x","reference":"a\u0041"})",
      R"({"operation":"x","reference":"a\/b"})",
      R"({"oper\u0061tion":"x"})",
      "{\"operation\":\"x\",\"reference\":\"a\tb\"}",
      "{\"operation\":\"x\",\"reference\":\"caf\xc3\xa9\"}",
      "{\"operation\":\"x\",\"reference\":\"bad \xff utf8\"}",
      "\xef\xbb\xbf{\"operation\":\"x\"}",
      R"({"operation":"x","dimensions":{"model":"sdxl"}})",
      R"({"operation":"x","dimensions":{}})",
      R"({"operation":"x","metadata":{"k":1}})",
      R"({"operation":"x","dimensions":null})",
      "{\"operation\":\"x\"}\x00",
      "{\"operation\":\"x\"\x0b}",
  };
  return bodies;
}

std::filesystem::path corpus_root() {
  return std::filesystem::path(__FILE__).parent_path().parent_path().parent_path() / "fuzz" /
         "corpus";
}

// The fuzz corpus's JSON bodies: the json inputs as they are, the body
// after the header of the http ones.
std::vector<std::string> corpus_bodies() {
  std::vector<std::string> out;
  for (const char* dir : {"json", "http"}) {
    for (const auto& entry : std::filesystem::directory_iterator(corpus_root() / dir)) {
      std::ifstream in(entry.path(), std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      std::string text = ss.str();
      if (std::string_view(dir) == "http") {
        const std::size_t end = text.find("\r\n\r\n");
        text = end == std::string::npos ? std::string() : text.substr(end + 4);
      }
      out.push_back(std::move(text));
    }
  }
  return out;
}

}  // namespace

TEST(fast_spend, the_common_charge_is_decoded_by_the_fast_path) {
  auto f =
      http::decode_spend_fast(R"({"operation":"image.generate","amount":"1","reference":"1-5"})",
                              body_of("create_charge"), true);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->s.operation, "image.generate");
  EXPECT_EQ(f->s.amount, std::optional<ledger::micros>(1'000'000));
  EXPECT_EQ(f->s.reference, "1-5");
  EXPECT_EQ(f->canonical, R"({"amount":1,"operation":"image.generate","reference":"1-5"})");
  auto hold = http::decode_spend_fast(R"({"operation":"x","amount":2.5,"ttl_seconds":60})",
                                      body_of("create_hold"), false);
  ASSERT_TRUE(hold.has_value());
  EXPECT_EQ(hold->ttl_seconds, std::optional<std::int64_t>(60));
  // ttl_seconds is not a charge's field: declined (the general path refuses it).
  EXPECT_FALSE(http::decode_spend_fast(R"({"operation":"x","ttl_seconds":60})",
                                       body_of("create_charge"), false));
}

TEST(fast_spend, agrees_with_the_general_path_on_handwritten_bodies) {
  outcome o;
  for (std::string_view ep : {"create_charge", "create_hold", "create_quote"}) {
    for (const std::string& body : handwritten())
      compare(body, ep, o);
  }
  // Not vacuous: both paths accept some, and the fast path most of those.
  EXPECT_GE(o.fast_accepted, 30u);
  EXPECT_GE(o.general_accepted, o.fast_accepted);
}

TEST(fast_spend, agrees_with_the_general_path_on_the_fuzz_corpus_and_mutations) {
  std::vector<std::string> seeds = corpus_bodies();
  ASSERT_GE(seeds.size(), 5u) << "the fuzz corpus was not found under " << corpus_root();
  for (const std::string& body : handwritten())
    seeds.push_back(body);
  outcome o;
  for (const std::string& body : seeds) {
    compare(body, "create_charge", o);
    compare(body, "create_hold", o);
  }
  // Seeded mutations: a byte removed, replaced or inserted from the bytes
  // that matter to JSON and to amounts, or a piece repeated.
  std::mt19937_64 rng(12);
  const std::string alphabet = "{}[]\":,\\ \t\n0123456789.-+eEtrufalsn\x01\x7f\xc3\xa9x/";
  for (int round = 0; round < 40000; ++round) {
    std::string body = seeds[rng() % seeds.size()];
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits; ++e) {
      const std::size_t at = body.empty() ? 0 : rng() % (body.size() + 1);
      const char ch = alphabet[rng() % alphabet.size()];
      switch (rng() % 4) {
        case 0:
          if (at < body.size()) body.erase(at, 1);
          break;
        case 1:
          if (at < body.size()) body[at] = ch;
          break;
        case 2:
          body.insert(body.begin() + static_cast<std::ptrdiff_t>(at), ch);
          break;
        default:
          if (at < body.size()) body.insert(at, body.substr(at, 1 + rng() % 12));
          break;
      }
    }
    compare(body, round % 2 ? "create_charge" : "create_hold", o);
    if (::testing::Test::HasFatalFailure()) return;
  }
  EXPECT_GE(o.fast_accepted, 1000u);
}
}  // namespace fast_spend_test_cpp
