#include "http/request_fields.hpp"

#include <algorithm>
#include <array>
#include <charconv>

#include "api/description.hpp"
#include "http/route.hpp"
#include "ledger/amount.hpp"
#include "util/assert.hpp"
#include "util/json_text.hpp"

namespace creditd::http {

namespace {
// A dimensions object as sorted pairs: strings as their text, numbers as
// their exact text, booleans as true/false (prices match on that text).
ledger::dimension_list dimension_pairs(const jvalue* obj) {
  ledger::dimension_list out;
  if (obj == nullptr || !obj->is_object()) return out;
  out.reserve(obj->fields.size());
  for (const auto& [key, value] : obj->fields) {
    std::string text =
        value.type == jvalue::kind::boolean ? (value.b ? "true" : "false") : value.text;
    out.push_back({key, std::move(text)});
  }
  ledger::sort_dimensions(out);
  return out;
}
}  // namespace

service::name_page name_paging(const std::string& query) {
  service::name_page p;
  if (auto l = query_value(query, "limit")) p.limit = std::stoul(*l);
  p.after = query_value(query, "after").value_or("");
  return p;
}

spend_fields read_spend(const body_values& v) {
  spend_fields s;
  s.operation = v.string("operation").value_or("");
  s.dimensions = v.dimensions("dimensions");
  s.dimension_values = dimension_pairs(v.get("dimensions"));
  s.quantity = v.amount("quantity").value_or(ledger::micros_per_credit);
  s.amount = v.amount("amount");
  s.reference = v.string("reference").value_or("");
  s.urgent = v.boolean("urgent").value_or(false);
  s.metadata = v.dimensions("metadata");
  return s;
}

namespace {

bool json_space(char ch) {
  return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

// A scanner over the body's text; every method leaves `at` past what it read.
struct scanner {
  std::string_view text;
  std::size_t at = 0;

  void skip_space() {
    while (at < text.size() && json_space(text[at]))
      ++at;
  }
  bool eat(char ch) {
    if (at < text.size() && text[at] == ch) {
      ++at;
      return true;
    }
    return false;
  }
  // A string of printable ASCII without escapes, after its opening quote.
  bool plain_string(std::string_view& out) {
    const std::size_t start = at;
    for (; at < text.size(); ++at) {
      const auto ch = static_cast<unsigned char>(text[at]);
      if (ch == '"') {
        out = text.substr(start, at - start);
        ++at;
        return true;
      }
      if (ch < 0x20 || ch > 0x7e || ch == '\\') return false;
    }
    return false;
  }
  // A JSON number (RFC 8259 grammar), its exact text.
  bool number(std::string_view& out) {
    const std::size_t start = at;
    auto digits = [this] {
      const std::size_t from = at;
      while (at < text.size() && text[at] >= '0' && text[at] <= '9')
        ++at;
      return at - from;
    };
    eat('-');
    if (at < text.size() && text[at] == '0') {
      ++at;
    } else if (digits() == 0) {
      return false;
    }
    if (eat('.') && digits() == 0) return false;
    if (at < text.size() && (text[at] == 'e' || text[at] == 'E')) {
      ++at;
      if (!eat('+')) eat('-');
      if (digits() == 0) return false;
    }
    out = text.substr(start, at - start);
    return true;
  }
  bool literal(std::string_view word) {
    if (text.substr(at, word.size()) != word) return false;
    at += word.size();
    return true;
  }
};

bool scalar_type(desc::type t) {
  return t != desc::type::object && t != desc::type::dimensions && t != desc::type::array &&
         t != desc::type::charge_or_id;
}

}  // namespace

std::optional<fast_spend> decode_spend_fast(std::string_view body,
                                            std::span<const desc::field> fields,
                                            bool with_canonical) {
  constexpr std::size_t members_max = 16;
  struct member {
    const desc::field* f;
    jvalue::kind kind;
    std::string_view text;  // a string's or a number's text
    bool b;
  };
  std::array<member, members_max> members;
  std::size_t count = 0;
  scanner in{body};
  in.skip_space();
  if (!in.eat('{')) return std::nullopt;
  in.skip_space();
  if (in.eat('}')) return std::nullopt;  // no operation: the general path refuses
  for (;;) {
    std::string_view key;
    if (!in.eat('"') || !in.plain_string(key)) return std::nullopt;
    const desc::field* f = nullptr;
    for (const desc::field& d : fields) {
      if (d.name == key) f = &d;
    }
    if (f == nullptr || !scalar_type(f->t) || count == members_max) return std::nullopt;
    for (std::size_t i = 0; i < count; ++i) {
      if (members[i].f == f) return std::nullopt;  // a duplicate key
    }
    in.skip_space();
    if (!in.eat(':')) return std::nullopt;
    in.skip_space();
    member m{f, jvalue::kind::null, {}, false};
    if (in.eat('"')) {
      if (!in.plain_string(m.text)) return std::nullopt;
      m.kind = jvalue::kind::string;
    } else if (in.literal("true")) {
      m.kind = jvalue::kind::boolean;
      m.b = true;
    } else if (in.literal("false")) {
      m.kind = jvalue::kind::boolean;
    } else if (in.number(m.text)) {
      m.kind = jvalue::kind::number;
    } else {
      return std::nullopt;  // null, an object, an array, or not JSON
    }
    members[count++] = m;
    in.skip_space();
    if (in.eat(',')) {
      in.skip_space();
      continue;
    }
    if (!in.eat('}')) return std::nullopt;
    break;
  }
  in.skip_space();
  if (in.at != body.size()) return std::nullopt;

  // The checks of the general path, field by field; any problem: nullopt.
  jvalue v;
  for (const desc::field& f : fields) {
    const member* m = nullptr;
    for (std::size_t i = 0; i < count; ++i) {
      if (members[i].f == &f) m = &members[i];
    }
    if (m == nullptr) {
      if (f.required) return std::nullopt;
      continue;
    }
    v.type = m->kind;
    v.b = m->b;
    v.text.assign(m->text);
    if (!check_value(v, f, std::string()).empty()) return std::nullopt;
  }

  // The values, as read_spend() reads them from a checked tree.
  fast_spend out;
  for (std::size_t i = 0; i < count; ++i) {
    const member& m = members[i];
    const std::string_view name = m.f->name;
    if (name == "operation") {
      out.s.operation.assign(m.text);
    } else if (name == "reference") {
      out.s.reference.assign(m.text);
    } else if (name == "urgent") {
      out.s.urgent = m.b;
    } else if (name == "amount" || name == "quantity") {
      auto a = ledger::parse_amount(m.text, ledger::sign_policy::signed_allowed);
      CREDITD_ASSERT(a.has_value());  // check_value accepted it
      if (name == "amount") {
        out.s.amount = *a;
      } else {
        out.s.quantity = *a;
      }
    } else if (name == "ttl_seconds") {
      std::int64_t ttl = 0;
      const auto [p, ec] = std::from_chars(m.text.data(), m.text.data() + m.text.size(), ttl);
      CREDITD_ASSERT(ec == std::errc{} && p == m.text.data() + m.text.size());
      out.ttl_seconds = ttl;
    } else {
      return std::nullopt;  // a field this decoder does not know: the general path
    }
  }
  if (with_canonical) {
    // write_canonical(): keys sorted, amounts by value, the rest as sent.
    std::array<const member*, members_max> sorted;
    for (std::size_t i = 0; i < count; ++i)
      sorted[i] = &members[i];
    std::sort(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(count),
              [](const member* a, const member* b) { return a->f->name < b->f->name; });
    std::string& c = out.canonical;
    c.push_back('{');
    for (std::size_t i = 0; i < count; ++i) {
      const member& m = *sorted[i];
      if (i) c.push_back(',');
      util::append_json_string(c, m.f->name);
      c.push_back(':');
      const bool amount_type = m.f->t == desc::type::amount ||
                               m.f->t == desc::type::signed_amount ||
                               m.f->t == desc::type::positive_amount;
      if (amount_type) {
        ledger::append_amount(c,
                              *ledger::parse_amount(m.text, ledger::sign_policy::signed_allowed));
      } else if (m.kind == jvalue::kind::boolean) {
        c += m.b ? "true" : "false";
      } else if (m.kind == jvalue::kind::number) {
        c += m.text;
      } else {
        util::append_json_string(c, m.text);
      }
    }
    c.push_back('}');
  }
  return out;
}

namespace {
ledger::charge_cmd charge_of(spend_fields& s, const std::string& account) {
  ledger::charge_cmd cmd{account,
                         s.amount.value_or(0),
                         std::move(s.operation),
                         std::move(s.dimensions),
                         std::move(s.reference),
                         s.urgent};
  cmd.quantity = s.quantity;
  cmd.metadata = std::move(s.metadata);
  cmd.from_catalog = !s.amount.has_value();
  cmd.dimension_values = std::move(s.dimension_values);
  return cmd;
}
}  // namespace

ledger::charge_cmd charge_from(fast_spend&& f, const std::string& account) {
  return charge_of(f.s, account);
}

ledger::charge_cmd decode_checked_charge(const jvalue& body, const std::string& account) {
  spend_fields s = read_spend(body_values(&body));
  return charge_of(s, account);
}

std::optional<ledger::charge_cmd> decode_charge(const jvalue& body, const std::string& account,
                                                std::string& error) {
  static const desc::endpoint* charge = desc::find_endpoint("create_charge");
  CREDITD_ASSERT(charge != nullptr);
  if (!body.is_object()) {
    error = "a charge must be an object";
    return std::nullopt;
  }
  error = check_fields(body, charge->body);
  if (!error.empty()) return std::nullopt;
  return decode_checked_charge(body, account);
}

}  // namespace creditd::http
