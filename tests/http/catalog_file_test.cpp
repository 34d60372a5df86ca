// The catalog file: the demo catalog of the docs (examples/catalog.toml)
// parses into the commands it describes and has no two prices the ledger
// would refuse together; then every refusal, each naming file:line and key.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "service/catalog_file.hpp"
#include "support/temp_dir.hpp"

namespace catalog_file_test_cpp {  // unity builds: tests/CMakeLists.txt

using namespace creditd;
using service::catalog_file;
using service::load_catalog;
using service::parse_catalog;

namespace {

const std::string demo_path =
    (std::filesystem::path(__FILE__).parent_path() / "../../examples/catalog.toml").string();

std::string error_of(std::string_view toml) {
  auto c = parse_catalog(toml, "catalog.toml");
  if (c.has_value()) {
    ADD_FAILURE() << "parsed:\n" << toml;
    return {};
  }
  return c.error();
}

catalog_file parsed(std::string_view toml) {
  auto c = parse_catalog(toml, "catalog.toml");
  if (!c.has_value()) {
    ADD_FAILURE() << c.error();
    return {};
  }
  return std::move(*c);
}

// A price entry with `line` added (line 1 is the header).
std::string price_with(std::string_view line) {
  return "[prices.p]\noperation = \"image.generate\"\n" + std::string(line) + "\n";
}
std::string package_with(std::string_view credits, std::string_view price,
                         std::string_view currency, std::string_view extra = "") {
  return "[packages.pack]\ncredits = " + std::string(credits) + "\nprice = " + std::string(price) +
         "\ncurrency = " + std::string(currency) + "\n" + std::string(extra);
}

constexpr ledger::micros credits = ledger::micros_per_credit;

const ledger::price_cmd* find_price(const catalog_file& c, std::string_view id) {
  for (const auto& p : c.prices) {
    if (p.id == id) return &p;
  }
  return nullptr;
}

}  // namespace

TEST(catalog_file, the_demo_catalog_parses) {
  auto c = load_catalog(demo_path);
  ASSERT_TRUE(c.has_value()) << c.error();

  // Prices, in the order of the file.
  ASSERT_EQ(c->prices.size(), 11u);
  EXPECT_EQ(c->prices[0].id, "generate-default");
  EXPECT_EQ(c->prices[0].operation, "image.generate");
  EXPECT_TRUE(c->prices[0].dimensions.empty());
  EXPECT_EQ(c->prices[0].unit_amount, 1 * credits);

  const auto* pro = find_price(*c, "generate-flux-pro");
  ASSERT_NE(pro, nullptr);
  EXPECT_EQ(pro->dimensions, (ledger::dimension_list{{"model", "flux-pro"}}));
  EXPECT_EQ(pro->unit_amount, 3 * credits);
  const auto* pro_4k = find_price(*c, "generate-flux-pro-4k");
  ASSERT_NE(pro_4k, nullptr);
  EXPECT_EQ(pro_4k->dimensions,
            (ledger::dimension_list{{"model", "flux-pro"}, {"resolution", "4k"}}));
  EXPECT_EQ(pro_4k->unit_amount, 5 * credits);
  const auto* topaz = find_price(*c, "upscale-topaz");
  ASSERT_NE(topaz, nullptr);
  EXPECT_EQ(topaz->operation, "image.upscale");
  EXPECT_EQ(topaz->unit_amount, 4 * credits);
  const auto* rmbg = find_price(*c, "effect-background-removal");
  ASSERT_NE(rmbg, nullptr);
  EXPECT_EQ(rmbg->unit_amount, credits / 2);
  const auto* tokens = find_price(*c, "llm-tokens");
  ASSERT_NE(tokens, nullptr);
  EXPECT_EQ(tokens->operation, "llm.tokens");
  EXPECT_EQ(tokens->unit_amount, 2000);  // 0.002 credits, exactly

  ASSERT_EQ(c->packages.size(), 3u);
  const std::pair<const char*, ledger::micros> packs[] = {
      {"pack-100", 9 * credits}, {"pack-300", 25 * credits}, {"pack-600", 45 * credits}};
  const ledger::micros pack_credits[] = {100 * credits, 300 * credits, 600 * credits};
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(c->packages[i].id, packs[i].first);
    EXPECT_EQ(c->packages[i].credits, pack_credits[i]);
    EXPECT_EQ(c->packages[i].price, packs[i].second);
    EXPECT_EQ(c->packages[i].currency, "usd");
    EXPECT_EQ(c->packages[i].validity_days, 365);
  }

  ASSERT_EQ(c->plans.size(), 3u);
  EXPECT_EQ(c->plans[0].id, "pro-monthly");
  EXPECT_EQ(c->plans[0].credits_per_period, 1000 * credits);
  EXPECT_EQ(c->plans[0].period, ledger::period_unit::month);
  EXPECT_EQ(c->plans[0].rollover_cap, 200 * credits);
  EXPECT_EQ(c->plans[1].id, "pro-yearly");
  EXPECT_EQ(c->plans[1].period, ledger::period_unit::year);
  EXPECT_EQ(c->plans[2].id, "starter-monthly");
  EXPECT_FALSE(c->plans[2].rollover_cap.has_value());
}

TEST(catalog_file, the_demo_catalog_has_no_two_prices_that_could_match_the_same_charge) {
  // The ledger refuses two prices of one operation with as many dimensions
  // unless some key they share has different values. Checked here apart
  // from the parser's own check.
  auto c = load_catalog(demo_path);
  ASSERT_TRUE(c.has_value()) << c.error();
  for (std::size_t i = 0; i < c->prices.size(); ++i) {
    for (std::size_t j = i + 1; j < c->prices.size(); ++j) {
      const auto& a = c->prices[i];
      const auto& b = c->prices[j];
      if (a.operation != b.operation || a.dimensions.size() != b.dimensions.size()) continue;
      bool differ = false;
      for (const auto& x : a.dimensions) {
        for (const auto& y : b.dimensions)
          differ = differ || (x.key == y.key && x.value != y.value);
      }
      EXPECT_TRUE(differ) << a.id << " and " << b.id << " could match the same charge";
    }
  }
}

TEST(catalog_file, amounts_are_integers_or_decimal_strings_never_floats) {
  EXPECT_EQ(parsed(price_with("unit_amount = 1")).prices.at(0).unit_amount, credits);
  EXPECT_EQ(parsed(price_with("unit_amount = \"0.002\"")).prices.at(0).unit_amount, 2000);
  EXPECT_EQ(parsed(price_with("unit_amount = \"2.50\"")).prices.at(0).unit_amount, 2'500'000);
  EXPECT_EQ(parsed(price_with("unit_amount = 0")).prices.at(0).unit_amount, 0);  // free
  EXPECT_EQ(error_of(price_with("unit_amount = 0.002")),
            "catalog.toml:3: prices.p.unit_amount: 0.002 is a TOML float, which cannot hold most "
            "decimals exactly: quote it, \"0.002\"");
  EXPECT_EQ(error_of(price_with("unit_amount = 3.0")),
            "catalog.toml:3: prices.p.unit_amount: 3 is a TOML float, which cannot hold most "
            "decimals exactly: quote it, \"3\"");
  EXPECT_EQ(error_of(price_with("unit_amount = inf")),
            "catalog.toml:3: prices.p.unit_amount: must be an integer or a decimal string such as "
            "\"0.002\" (it is a float)");
  EXPECT_EQ(error_of(price_with("unit_amount = true")),
            "catalog.toml:3: prices.p.unit_amount: must be an integer or a decimal string such as "
            "\"0.002\" (it is a boolean)");
  EXPECT_EQ(error_of(price_with("unit_amount = \"abc\"")),
            "catalog.toml:3: prices.p.unit_amount: \"abc\": amount is not a decimal number");
  EXPECT_EQ(error_of(price_with("unit_amount = \"0.0000001\"")),
            "catalog.toml:3: prices.p.unit_amount: \"0.0000001\": amount has more than 6 "
            "fractional digits");
  EXPECT_EQ(error_of(price_with("unit_amount = 1000000001")),
            "catalog.toml:3: prices.p.unit_amount: 1000000001: amount is too large");
}

TEST(catalog_file, refuses_negative_amounts_and_empty_grants) {
  EXPECT_EQ(error_of(price_with("unit_amount = -1")),
            "catalog.toml:3: prices.p.unit_amount: -1: amount must not be negative");
  EXPECT_EQ(error_of(package_with("100", "\"-9.00\"", "\"usd\"")),
            "catalog.toml:3: packages.pack.price: \"-9.00\": amount must not be negative");
  EXPECT_EQ(error_of(package_with("-100", "\"9.00\"", "\"usd\"")),
            "catalog.toml:2: packages.pack.credits: -100: amount must not be negative");
  EXPECT_EQ(error_of(package_with("0", "\"9.00\"", "\"usd\"")),
            "catalog.toml:2: packages.pack.credits: must be more than 0");
  EXPECT_EQ(error_of(package_with("\"0.000\"", "\"9.00\"", "\"usd\"")),
            "catalog.toml:2: packages.pack.credits: must be more than 0");
  EXPECT_EQ(parsed(package_with("1", "0", "\"usd\"")).packages.at(0).price, 0);  // a free pack

  const std::string plan = "[plans.pl]\nperiod = \"month\"\n";
  EXPECT_EQ(error_of(plan + "credits_per_period = 0\n"),
            "catalog.toml:3: plans.pl.credits_per_period: must be more than 0");
  EXPECT_EQ(error_of(plan + "credits_per_period = 10\nrollover_cap = -5\n"),
            "catalog.toml:4: plans.pl.rollover_cap: -5: amount must not be negative");
  EXPECT_EQ(parsed(plan + "credits_per_period = 10\nrollover_cap = 0\n").plans.at(0).rollover_cap,
            0);
}

TEST(catalog_file, packages_currency_and_validity) {
  auto c = parsed(package_with("100", "\"9.00\"", "\"USD\""));
  ASSERT_EQ(c.packages.size(), 1u);
  EXPECT_EQ(c.packages[0].currency, "usd");
  EXPECT_EQ(c.packages[0].validity_days, 0);  // absent: never expires

  for (const char* bad : {"\"us\"", "\"usdt\"", "\"u$d\"", "\"\"", "\"\xc3\xa9ur\""}) {
    const std::string e = error_of(package_with("100", "\"9.00\"", bad));
    EXPECT_TRUE(e.starts_with("catalog.toml:4: packages.pack.currency: ")) << e;
    EXPECT_TRUE(e.ends_with("is not a three-letter ISO 4217 code such as \"usd\"")) << e;
  }
  EXPECT_EQ(error_of(package_with("100", "\"9.00\"", "840")),
            "catalog.toml:4: packages.pack.currency: must be a string (it is an integer)");

  EXPECT_EQ(parsed(package_with("1", "1", "\"usd\"", "validity_days = 36500"))
                .packages.at(0)
                .validity_days,
            36500);
  EXPECT_EQ(error_of(package_with("1", "1", "\"usd\"", "validity_days = -1")),
            "catalog.toml:5: packages.pack.validity_days: -1 is not between 0 (never expires) "
            "and 36500");
  EXPECT_EQ(error_of(package_with("1", "1", "\"usd\"", "validity_days = 36501")),
            "catalog.toml:5: packages.pack.validity_days: 36501 is not between 0 (never expires) "
            "and 36500");
  EXPECT_EQ(error_of(package_with("1", "1", "\"usd\"", "validity_days = \"365\"")),
            "catalog.toml:5: packages.pack.validity_days: must be an integer (it is a string)");
  EXPECT_EQ(error_of(package_with("1", "1", "\"usd\"", "validity_days = 365.0")),
            "catalog.toml:5: packages.pack.validity_days: must be an integer (it is a float)");
}

TEST(catalog_file, plans_periods) {
  const std::string plan = "[plans.pl]\ncredits_per_period = 10\n";
  EXPECT_EQ(parsed(plan + "period = \"year\"").plans.at(0).period, ledger::period_unit::year);
  for (const char* bad : {"\"week\"", "\"Month\"", "\"monthly\"", "\"\""}) {
    EXPECT_EQ(error_of(plan + "period = " + bad), std::string("catalog.toml:3: plans.pl.period: ") +
                                                      bad + " is not \"month\" or \"year\"");
  }
  EXPECT_EQ(error_of(plan + "period = 1"),
            "catalog.toml:3: plans.pl.period: must be a string (it is an integer)");
  EXPECT_EQ(error_of(plan), "catalog.toml:1: plans.pl.period: missing");
}

TEST(catalog_file, refuses_unknown_tables_and_keys) {
  EXPECT_EQ(error_of("[price.p]\noperation = \"x\"\nunit_amount = 1\n"),
            "catalog.toml:1: price: unknown table (expected prices, packages or plans)");
  EXPECT_EQ(error_of("version = 2\n"),
            "catalog.toml:1: version: unknown table (expected prices, packages or plans)");
  EXPECT_EQ(error_of(price_with("unit_amount = 1\nunit_amont = 2")),
            "catalog.toml:4: prices.p.unit_amont: unknown key (expected operation, dimensions, "
            "unit_amount)");
  EXPECT_EQ(error_of(package_with("1", "1", "\"usd\"", "validity = 30")),
            "catalog.toml:5: packages.pack.validity: unknown key (expected credits, price, "
            "currency, validity_days)");
  EXPECT_EQ(error_of("[plans.pl]\ncredits_per_period = 1\nperiod = \"month\"\nrollover = 1\n"),
            "catalog.toml:4: plans.pl.rollover: unknown key (expected credits_per_period, period, "
            "rollover_cap)");
}

TEST(catalog_file, refuses_missing_keys_and_wrong_shapes) {
  EXPECT_EQ(error_of("\n[prices.p]\nunit_amount = 1\n"),
            "catalog.toml:2: prices.p.operation: missing");
  EXPECT_EQ(error_of("[prices.p]\noperation = \"image.generate\"\n"),
            "catalog.toml:1: prices.p.unit_amount: missing");
  EXPECT_EQ(error_of("[packages.pack]\ncredits = 1\nprice = 1\n"),
            "catalog.toml:1: packages.pack.currency: missing");
  EXPECT_EQ(error_of("prices = 3\n"),
            "catalog.toml:1: prices: must be a table of entries, one [prices.<id>] each (it is an "
            "integer)");
  EXPECT_EQ(error_of("[[prices]]\noperation = \"x\"\n"),
            "catalog.toml:1: prices: must be a table of entries, one [prices.<id>] each (it is an "
            "array)");
  EXPECT_EQ(error_of("[prices]\np = 1\n"),
            "catalog.toml:2: prices.p: must be a table, [prices.p] (it is an integer)");
  EXPECT_EQ(error_of("[prices.p]\noperation = \"image generate\"\nunit_amount = 1\n"),
            "catalog.toml:2: prices.p.operation: must match [A-Za-z0-9._:/-]{1,128}");
  EXPECT_EQ(error_of("[prices.p]\noperation = 3\nunit_amount = 1\n"),
            "catalog.toml:2: prices.p.operation: must be a string (it is an integer)");
  // An empty file is an empty catalog.
  const catalog_file empty = parsed("# nothing yet\n");
  EXPECT_TRUE(empty.prices.empty() && empty.packages.empty() && empty.plans.empty());
}

TEST(catalog_file, refuses_bad_ids) {
  EXPECT_EQ(error_of("[prices.\"bad id\"]\noperation = \"x\"\nunit_amount = 1\n"),
            "catalog.toml:1: prices.\"bad id\": the id must match [A-Za-z0-9._:-]{1,128}");
  EXPECT_EQ(error_of("[packages.\"a/b\"]\ncredits = 1\nprice = 1\ncurrency = \"usd\"\n"),
            "catalog.toml:1: packages.\"a/b\": the id must match [A-Za-z0-9._:-]{1,128}");
  EXPECT_EQ(error_of("[plans.\"\"]\ncredits_per_period = 1\nperiod = \"month\"\n"),
            "catalog.toml:1: plans.\"\": the id must match [A-Za-z0-9._:-]{1,128}");
  const std::string longest(128, 'a');
  EXPECT_EQ(
      parsed("[prices." + longest + "]\noperation = \"x\"\nunit_amount = 1\n").prices.at(0).id,
      longest);
  EXPECT_EQ(error_of("[prices." + longest + "a]\noperation = \"x\"\nunit_amount = 1\n"),
            "catalog.toml:1: prices." + longest + "a: the id must match [A-Za-z0-9._:-]{1,128}");
  // Ids with "." and ":" are quoted keys in TOML.
  EXPECT_EQ(parsed("[prices.\"gen.v2:eu\"]\noperation = \"x\"\nunit_amount = 1\n").prices.at(0).id,
            "gen.v2:eu");
}

TEST(catalog_file, dimensions_are_tables_of_strings) {
  auto c =
      parsed(price_with("unit_amount = 1\ndimensions = { resolution = \"4k\", model = \"m\" }"));
  ASSERT_EQ(c.prices.size(), 1u);
  EXPECT_EQ(c.prices[0].dimensions,  // sorted by key
            (ledger::dimension_list{{"model", "m"}, {"resolution", "4k"}}));
  // A sub-table and dotted keys say the same.
  EXPECT_EQ(parsed("[prices.p]\noperation = \"o\"\nunit_amount = 1\n[prices.p.dimensions]\n"
                   "model = \"m\"\n")
                .prices.at(0)
                .dimensions,
            (ledger::dimension_list{{"model", "m"}}));
  EXPECT_EQ(parsed(price_with("unit_amount = 1\ndimensions.model = \"m\"")).prices.at(0).dimensions,
            (ledger::dimension_list{{"model", "m"}}));

  EXPECT_EQ(error_of(price_with("unit_amount = 1\ndimensions = { model = \"m\", steps = 50 }")),
            "catalog.toml:4: prices.p.dimensions.steps: must be a string (it is an integer)");
  EXPECT_EQ(error_of(price_with("unit_amount = 1\ndimensions = { hd = true }")),
            "catalog.toml:4: prices.p.dimensions.hd: must be a string (it is a boolean)");
  EXPECT_EQ(error_of(price_with("unit_amount = 1\ndimensions = { model = { name = \"m\" } }")),
            "catalog.toml:4: prices.p.dimensions.model: must be a string (it is a table)");
  EXPECT_EQ(error_of(price_with("unit_amount = 1\ndimensions = \"flux-pro\"")),
            "catalog.toml:4: prices.p.dimensions: must be a table of strings, { model = "
            "\"flux-pro\" } (it is a string)");
  EXPECT_EQ(error_of(price_with("unit_amount = 1\ndimensions = { \"\" = \"m\" }")),
            "catalog.toml:4: prices.p.dimensions.\"\": a key must be 1 to 64 bytes");
  EXPECT_EQ(error_of(price_with("unit_amount = 1\ndimensions = { " + std::string(65, 'k') +
                                " = \"m\" }")),
            "catalog.toml:4: prices.p.dimensions." + std::string(65, 'k') +
                ": a key must be 1 to 64 bytes");
  EXPECT_EQ(error_of(price_with("unit_amount = 1\ndimensions = { model = \"" +
                                std::string(257, 'v') + "\" }")),
            "catalog.toml:4: prices.p.dimensions.model: longer than 256 bytes");
  std::string many = "unit_amount = 1\ndimensions = { ";
  for (int i = 0; i < 33; ++i)
    many += (i ? ", k" : "k") + std::to_string(i) + " = \"v\"";
  EXPECT_EQ(error_of(price_with(many + " }")),
            "catalog.toml:4: prices.p.dimensions: more than 32 keys");
}

TEST(catalog_file, refuses_two_prices_that_could_match_the_same_charge) {
  // {model} and {resolution}: one dimension each, and a charge with both
  // matches both.
  EXPECT_EQ(error_of("[prices.pro]\noperation = \"image.generate\"\n"
                     "dimensions = { model = \"flux-pro\" }\nunit_amount = 3\n"
                     "\n"
                     "[prices.hires]\noperation = \"image.generate\"\n"
                     "dimensions = { resolution = \"4k\" }\nunit_amount = 2\n"),
            "catalog.toml:6: prices.hires: could match the same charges as prices.pro (line 1): "
            "prices of one operation with as many dimensions must differ in the value of a key "
            "they share");
  // Two default prices of one operation.
  EXPECT_EQ(error_of("[prices.a]\noperation = \"o\"\nunit_amount = 1\n"
                     "[prices.b]\noperation = \"o\"\nunit_amount = 2\n"),
            "catalog.toml:4: prices.b: could match the same charges as prices.a (line 1): "
            "prices of one operation with as many dimensions must differ in the value of a key "
            "they share");
  // Fine: other operations, other dimension counts, or a shared key that differs.
  auto c = parsed(
      "[prices.a]\noperation = \"o\"\nunit_amount = 1\n"
      "[prices.b]\noperation = \"other\"\nunit_amount = 1\n"
      "[prices.c]\noperation = \"o\"\ndimensions = { model = \"x\" }\nunit_amount = 1\n"
      "[prices.d]\noperation = \"o\"\ndimensions = { model = \"y\" }\nunit_amount = 1\n"
      "[prices.e]\noperation = \"o\"\ndimensions = { model = \"x\", size = \"4k\" }\n"
      "unit_amount = 1\n");
  EXPECT_EQ(c.prices.size(), 5u);
}

TEST(catalog_file, reports_the_first_problem_in_file_order) {
  // Sections and ids out of alphabetical order: the first in the file is reported.
  EXPECT_EQ(error_of("[plans.z]\ncredits_per_period = 0\nperiod = \"month\"\n"
                     "[prices.a]\noperation = \"o\"\nunit_amount = -1\n"),
            "catalog.toml:2: plans.z.credits_per_period: must be more than 0");
  auto c = parsed(
      "[prices.z]\noperation = \"o\"\nunit_amount = 1\n"
      "[prices.a]\noperation = \"p\"\nunit_amount = 1\n");
  ASSERT_EQ(c.prices.size(), 2u);
  EXPECT_EQ(c.prices[0].id, "z");
  EXPECT_EQ(c.prices[1].id, "a");
}

TEST(catalog_file, toml_syntax_errors_name_the_line) {
  const std::string e = error_of("[prices.p]\noperation = \"o\"\nunit_amount = = 1\n");
  EXPECT_TRUE(e.starts_with("catalog.toml:3: ")) << e;
  const std::string dup = error_of("[prices.p]\noperation = \"o\"\nunit_amount = 1\n[prices.p]\n");
  EXPECT_TRUE(dup.starts_with("catalog.toml:4: ")) << dup;
  const std::string key = error_of("[prices.p]\noperation = \"o\"\noperation = \"p\"\n");
  EXPECT_TRUE(key.starts_with("catalog.toml:3: ")) << key;
}

TEST(catalog_file, load_catalog_names_the_file) {
  creditd::testing::temp_dir dir;
  const std::string path = dir.file("shop.toml");
  {
    std::ofstream f(path);
    f << "[prices.p]\noperation = \"o\"\nunit_amount = 0.5\n";
  }
  auto c = load_catalog(path);
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error(), path +
                           ":3: prices.p.unit_amount: 0.5 is a TOML float, which cannot hold most "
                           "decimals exactly: quote it, \"0.5\"");

  EXPECT_EQ(load_catalog(dir.file("missing.toml")).error(),
            "cannot open " + dir.file("missing.toml") + ": No such file or directory");
  std::filesystem::create_directory(dir.file("sub"));
  EXPECT_EQ(load_catalog(dir.file("sub")).error(),
            "cannot read " + dir.file("sub") + ": Is a directory");

  const std::string big = dir.file("big.toml");
  {
    std::ofstream f(big);
    f << std::string(service::catalog_file_bytes_max + 1, '#');
  }
  EXPECT_EQ(load_catalog(big).error(),
            big + ": over the " + std::to_string(service::catalog_file_bytes_max) + "-byte limit");
  EXPECT_EQ(
      parse_catalog(std::string(service::catalog_file_bytes_max + 1, '#'), "big.toml").error(),
      "big.toml: " + std::to_string(service::catalog_file_bytes_max + 1) + " bytes, over the " +
          std::to_string(service::catalog_file_bytes_max) + "-byte limit");
}
}  // namespace catalog_file_test_cpp
