#include "service/catalog_file.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ledger/amount.hpp"
#include "ledger/limits.hpp"
#include "ledger/validate.hpp"

namespace creditd::service {

namespace {

namespace limits = ledger::limits;

// A key as written in a path: bare when TOML allows it bare, else quoted.
std::string display_key(std::string_view key) {
  const bool bare = !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
  if (bare) return std::string(key);
  std::string out = "\"";
  for (char c : key) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string_view type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

// A table's members in the order of the file (toml++ keeps them by key).
std::vector<std::pair<std::string_view, const toml::node*>> in_file_order(const toml::table& t) {
  std::vector<std::pair<std::string_view, const toml::node*>> out;
  for (const auto& [key, node] : t)
    out.emplace_back(key.str(), &node);
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    const auto& x = a.second->source().begin;
    const auto& y = b.second->source().begin;
    return x.line != y.line ? x.line < y.line : x.column < y.column;
  });
  return out;
}

// Parses one catalog; the first problem is kept in `error_`.
class reader {
 public:
  explicit reader(std::string_view source_name) : source_name_(source_name) {}

  std::string take_error() { return std::move(error_); }

  // Records a problem at `at`; returns false, for `return fail(...)`.
  bool fail(const toml::node& at, std::string_view path, std::string_view message) {
    error_ = std::string(source_name_) + ":" + std::to_string(at.source().begin.line) + ": " +
             std::string(path) + ": " + std::string(message);
    return false;
  }

  bool read(const toml::table& root, catalog_file& out) {
    struct entry {
      std::string_view section;
      std::string_view id;
      const toml::node* node;
    };
    std::vector<entry> entries;
    for (const auto& [section, node] : in_file_order(root)) {
      const std::string path = display_key(section);
      if (section != "prices" && section != "packages" && section != "plans")
        return fail(*node, path, "unknown table (expected prices, packages or plans)");
      const toml::table* t = node->as_table();
      if (t == nullptr) {
        return fail(*node, path,
                    "must be a table of entries, one [" + path + ".<id>] each (it is " +
                        std::string(type_name(*node)) + ")");
      }
      const std::size_t max = section == "prices"     ? limits::prices_max
                              : section == "packages" ? limits::packages_max
                                                      : limits::plans_max;
      if (t->size() > max)
        return fail(*node, path, "more than " + std::to_string(max) + " entries");
      for (const auto& [id, e] : in_file_order(*t))
        entries.push_back({section, id, e});
    }
    std::stable_sort(entries.begin(), entries.end(), [](const entry& a, const entry& b) {
      return a.node->source().begin.line < b.node->source().begin.line;
    });
    for (const entry& e : entries) {
      const std::string path = display_key(e.section) + "." + display_key(e.id);
      const toml::table* t = e.node->as_table();
      if (t == nullptr) {
        return fail(
            *e.node, path,
            "must be a table, [" + path + "] (it is " + std::string(type_name(*e.node)) + ")");
      }
      // Catalog ids follow the rule of account ids, as the ledger checks them.
      if (!ledger::valid_account_id(e.id))
        return fail(*e.node, path, "the id must match [A-Za-z0-9._:-]{1,128}");
      bool ok = false;
      if (e.section == "prices") {
        ok = read_price(*t, e.id, path, out.prices);
      } else if (e.section == "packages") {
        ok = read_package(*t, e.id, path, out.packages);
      } else {
        ok = read_plan(*t, e.id, path, out.plans);
      }
      if (!ok) return false;
    }
    return true;
  }

 private:
  // Checks that `t` has only `known` keys and every key of `required`.
  bool check_keys(const toml::table& t, const std::string& path,
                  std::initializer_list<std::string_view> known,
                  std::initializer_list<std::string_view> required) {
    for (const auto& [key, node] : in_file_order(t)) {
      if (std::find(known.begin(), known.end(), key) == known.end()) {
        std::string expected;
        for (std::string_view k : known) {
          if (!expected.empty()) expected += ", ";
          expected += k;
        }
        return fail(*node, path + "." + display_key(key),
                    "unknown key (expected " + expected + ")");
      }
    }
    for (std::string_view key : required) {
      if (!t.contains(key)) return fail(t, path + "." + std::string(key), "missing");
    }
    return true;
  }

  // An exact decimal amount: a TOML integer or a decimal string, never a float.
  bool read_amount(const toml::node& v, const std::string& path, bool positive,
                   ledger::micros& out) {
    std::string text;
    if (const auto* s = v.as_string()) {
      text = s->get();
    } else if (const auto* i = v.as_integer()) {
      text = std::to_string(i->get());
    } else if (const auto* f = v.as_floating_point(); f != nullptr && std::isfinite(f->get())) {
      char buf[64];
      const auto r = std::to_chars(buf, buf + sizeof buf, f->get());
      const std::string shortest(buf, r.ptr);
      return fail(v, path,
                  shortest +
                      " is a TOML float, which cannot hold most decimals exactly: quote it, \"" +
                      shortest + "\"");
    } else {
      return fail(v, path,
                  "must be an integer or a decimal string such as \"0.002\" (it is " +
                      std::string(type_name(v)) + ")");
    }
    const auto amount = ledger::parse_amount(text);
    const std::string shown = v.is_string() ? "\"" + text + "\"" : text;
    if (!amount)
      return fail(v, path, shown + ": " + std::string(ledger::to_string(amount.error())));
    if (positive && *amount == 0) return fail(v, path, "must be more than 0");
    out = *amount;
    return true;
  }

  bool read_string(const toml::node& v, const std::string& path, std::string& out) {
    const auto* s = v.as_string();
    if (s == nullptr)
      return fail(v, path, "must be a string (it is " + std::string(type_name(v)) + ")");
    out = s->get();
    return true;
  }

  bool read_price(const toml::table& t, std::string_view id, const std::string& path,
                  std::vector<ledger::price_cmd>& out) {
    if (!check_keys(t, path, {"operation", "dimensions", "unit_amount"},
                    {"operation", "unit_amount"})) {
      return false;
    }
    ledger::price_cmd cmd;
    cmd.id = id;
    const toml::node& op = *t.get("operation");
    if (!read_string(op, path + ".operation", cmd.operation)) return false;
    if (!ledger::valid_operation(cmd.operation))
      return fail(op, path + ".operation", "must match [A-Za-z0-9._:/-]{1,128}");
    if (const toml::node* dims = t.get("dimensions")) {
      if (!read_dimensions(*dims, path + ".dimensions", cmd.dimensions)) return false;
    }
    if (!read_amount(*t.get("unit_amount"), path + ".unit_amount", false, cmd.unit_amount))
      return false;
    // The ledger refuses two prices that could match the same charge with
    // the same specificity: say so here, with both lines.
    for (std::size_t i = 0; i < out.size(); ++i) {
      const ledger::price_cmd& other = out[i];
      if (other.operation != cmd.operation || other.dimensions.size() != cmd.dimensions.size() ||
          !ledger::dimensions_compatible(other.dimensions, cmd.dimensions)) {
        continue;
      }
      return fail(t, path,
                  "could match the same charges as prices." + display_key(other.id) + " (line " +
                      std::to_string(price_lines_[i]) +
                      "): prices of one operation with as "
                      "many dimensions must differ in the value of a key they share");
    }
    price_lines_.push_back(t.source().begin.line);
    out.push_back(std::move(cmd));
    return true;
  }

  bool read_dimensions(const toml::node& v, const std::string& path, ledger::dimension_list& out) {
    const toml::table* t = v.as_table();
    if (t == nullptr) {
      return fail(v, path,
                  "must be a table of strings, { model = \"flux-pro\" } (it is " +
                      std::string(type_name(v)) + ")");
    }
    if (t->size() > limits::price_dimensions_max)
      return fail(v, path, "more than " + std::to_string(limits::price_dimensions_max) + " keys");
    for (const auto& [key, node] : in_file_order(*t)) {
      const std::string key_path = path + "." + display_key(key);
      if (key.empty() || key.size() > limits::dimension_key_length_max) {
        return fail(
            *node, key_path,
            "a key must be 1 to " + std::to_string(limits::dimension_key_length_max) + " bytes");
      }
      ledger::dimension d{std::string(key), {}};
      if (!read_string(*node, key_path, d.value)) return false;
      if (d.value.size() > limits::dimension_value_length_max) {
        return fail(*node, key_path,
                    "longer than " + std::to_string(limits::dimension_value_length_max) + " bytes");
      }
      out.push_back(std::move(d));
    }
    ledger::sort_dimensions(out);
    return true;
  }

  bool read_package(const toml::table& t, std::string_view id, const std::string& path,
                    std::vector<ledger::package_cmd>& out) {
    if (!check_keys(t, path, {"credits", "price", "currency", "validity_days"},
                    {"credits", "price", "currency"})) {
      return false;
    }
    ledger::package_cmd cmd;
    cmd.id = id;
    if (!read_amount(*t.get("credits"), path + ".credits", true, cmd.credits)) return false;
    if (!read_amount(*t.get("price"), path + ".price", false, cmd.price)) return false;
    const toml::node& currency = *t.get("currency");
    if (!read_string(currency, path + ".currency", cmd.currency)) return false;
    const bool letters = cmd.currency.size() == 3 &&
                         std::all_of(cmd.currency.begin(), cmd.currency.end(), [](char c) {
                           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
                         });
    if (!letters) {
      return fail(currency, path + ".currency",
                  "\"" + cmd.currency + "\" is not a three-letter ISO 4217 code such as \"usd\"");
    }
    for (char& c : cmd.currency) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    if (const toml::node* days = t.get("validity_days")) {
      const auto* i = days->as_integer();
      if (i == nullptr) {
        return fail(*days, path + ".validity_days",
                    "must be an integer (it is " + std::string(type_name(*days)) + ")");
      }
      if (i->get() < 0 || i->get() > limits::validity_days_max) {
        return fail(*days, path + ".validity_days",
                    std::to_string(i->get()) + " is not between 0 (never expires) and " +
                        std::to_string(limits::validity_days_max));
      }
      cmd.validity_days = i->get();
    }
    out.push_back(std::move(cmd));
    return true;
  }

  bool read_plan(const toml::table& t, std::string_view id, const std::string& path,
                 std::vector<ledger::plan_cmd>& out) {
    if (!check_keys(t, path, {"credits_per_period", "period", "rollover_cap"},
                    {"credits_per_period", "period"})) {
      return false;
    }
    ledger::plan_cmd cmd;
    cmd.id = id;
    if (!read_amount(*t.get("credits_per_period"), path + ".credits_per_period", true,
                     cmd.credits_per_period)) {
      return false;
    }
    const toml::node& period = *t.get("period");
    std::string text;
    if (!read_string(period, path + ".period", text)) return false;
    const std::optional<ledger::period_unit> unit = ledger::parse_period_unit(text);
    if (!unit)
      return fail(period, path + ".period", "\"" + text + "\" is not \"month\" or \"year\"");
    cmd.period = *unit;
    if (const toml::node* cap = t.get("rollover_cap")) {
      ledger::micros value = 0;
      if (!read_amount(*cap, path + ".rollover_cap", false, value)) return false;
      cmd.rollover_cap = value;
    }
    out.push_back(std::move(cmd));
    return true;
  }

  std::string_view source_name_;
  std::string error_;
  std::vector<std::uint32_t> price_lines_;  // the line of each price read, for conflicts
};

}  // namespace

std::expected<catalog_file, std::string> parse_catalog(std::string_view toml_text,
                                                       std::string_view source_name) {
  if (toml_text.size() > catalog_file_bytes_max) {
    return std::unexpected(std::string(source_name) + ": " + std::to_string(toml_text.size()) +
                           " bytes, over the " + std::to_string(catalog_file_bytes_max) +
                           "-byte limit");
  }
  toml::table root;
#if TOML_EXCEPTIONS
  try {
    root = toml::parse(toml_text, source_name);
  } catch (const toml::parse_error& e) {
    return std::unexpected(std::string(source_name) + ":" + std::to_string(e.source().begin.line) +
                           ": " + std::string(e.description()));
  }
#else
  toml::parse_result parsed = toml::parse(toml_text, source_name);
  if (!parsed) {
    return std::unexpected(std::string(source_name) + ":" +
                           std::to_string(parsed.error().source().begin.line) + ": " +
                           std::string(parsed.error().description()));
  }
  root = std::move(parsed).table();
#endif
  catalog_file out;
  reader r(source_name);
  if (!r.read(root, out)) return std::unexpected(r.take_error());
  return out;
}

std::expected<catalog_file, std::string> load_catalog(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return std::unexpected("cannot open " + path + ": " + std::strerror(errno));
  std::string text;
  char buf[64 << 10];
  bool failed = false;
  while (text.size() <= catalog_file_bytes_max) {
    const std::size_t n = std::fread(buf, 1, sizeof buf, f);
    text.append(buf, n);
    if (n < sizeof buf) {
      failed = std::ferror(f) != 0;
      break;
    }
  }
  const int read_errno = errno;
  std::fclose(f);
  if (failed) return std::unexpected("cannot read " + path + ": " + std::strerror(read_errno));
  if (text.size() > catalog_file_bytes_max) {
    return std::unexpected(path + ": over the " + std::to_string(catalog_file_bytes_max) +
                           "-byte limit");
  }
  return parse_catalog(text, path);
}

}  // namespace creditd::service
