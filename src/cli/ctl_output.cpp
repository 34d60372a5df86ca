// creditctl's output (see ctl_output.hpp).
#include "cli/ctl_output.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <functional>
#include <map>
#include <ostream>
#include <sstream>
#include <vector>

#include "cli/ctl_exit.hpp"

namespace creditd::ctl {

namespace json = boost::json;

namespace {

// A field of an object as text: strings as they are, null or absent as "-",
// anything else as JSON.
std::string str(const json::value& v, std::string_view key) {
  if (!v.is_object()) return "-";
  const json::value* f = v.as_object().if_contains(key);
  if (f == nullptr || f->is_null()) return "-";
  if (f->is_string()) return std::string(f->as_string());
  return json::serialize(*f);
}

// The array `key` of `v` when every item is an object, else nullptr.
const json::array* objects(const json::value& v, std::string_view key) {
  const json::value* f = v.as_object().if_contains(key);
  if (f == nullptr || !f->is_array()) return nullptr;
  for (const json::value& item : f->as_array()) {
    if (!item.is_object()) return nullptr;
  }
  return &f->as_array();
}

void print_table(std::ostream& out, const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width(header.size());
  for (std::size_t i = 0; i < header.size(); ++i)
    width[i] = header[i].size();
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size(); ++i)
      width[i] = std::max(width[i], row[i].size());
  }
  auto line = [&](const std::vector<std::string>& cells) {
    for (std::size_t i = 0; i < cells.size(); ++i) {
      if (i + 1 < cells.size()) {
        out << cells[i] << std::string(width[i] - cells[i].size() + 2, ' ');
      } else {
        out << cells[i] << '\n';
      }
    }
  };
  line(header);
  for (const auto& row : rows)
    line(row);
}

// Whether `v` has a string `key` (the objects with an id all do).
bool has_string(const json::value& v, std::string_view key) {
  const json::value* f = v.as_object().if_contains(key);
  return f != nullptr && f->is_string();
}

void print_next(std::ostream& out, const json::value& v) {
  const json::value* next = v.as_object().if_contains("next");
  if (next != nullptr && next->is_string())
    out << "more: --after " << std::string(next->as_string()) << '\n';
}

// Each printer returns false when `v` (an object) does not have the shape
// it prints; it then prints nothing.
using printer = std::function<bool(std::ostream&, const json::value&)>;

bool print_account(std::ostream& out, const json::value& v) {
  const json::value* b = v.as_object().if_contains("balance");
  if (b == nullptr || !b->is_object()) return false;
  out << "account " << str(v, "id") << " (" << str(v, "name") << ")\navailable "
      << str(*b, "available") << "  held " << str(*b, "held") << "  reserve " << str(*b, "reserve")
      << '\n';
  return true;
}

bool print_balance(std::ostream& out, const json::value& v) {
  const json::array* lots = objects(v, "lots");
  if (lots == nullptr) return false;
  out << "available " << str(v, "available") << "  held " << str(v, "held") << "  reserve "
      << str(v, "reserve") << "  postpaid used " << str(v, "postpaid_used") << '\n';
  std::vector<std::vector<std::string>> rows;
  for (const auto& l : *lots) {
    rows.push_back({str(l, "id"), str(l, "kind"), str(l, "remaining"), str(l, "amount"),
                    str(l, "expires_at"), str(l, "priority")});
  }
  if (!rows.empty())
    print_table(out, {"LOT", "KIND", "REMAINING", "AMOUNT", "EXPIRES", "PRIORITY"}, rows);
  return true;
}

bool print_lots(std::ostream& out, const json::value& v) {
  const json::array* data = objects(v, "data");
  if (data == nullptr) return false;
  std::vector<std::vector<std::string>> rows;
  for (const auto& l : *data) {
    rows.push_back({str(l, "id"), str(l, "kind"), str(l, "status"), str(l, "remaining"),
                    str(l, "amount"), str(l, "expires_at")});
  }
  print_table(out, {"LOT", "KIND", "STATUS", "REMAINING", "AMOUNT", "EXPIRES"}, rows);
  print_next(out, v);
  return true;
}

bool print_lot(std::ostream& out, const json::value& v) {
  if (!has_string(v, "id")) return false;
  out << str(v, "id") << ' ' << str(v, "kind") << ' ' << str(v, "status") << ": remaining "
      << str(v, "remaining") << " of " << str(v, "amount") << ", expires " << str(v, "expires_at")
      << '\n';
  return true;
}

bool print_charge(std::ostream& out, const json::value& v) {
  if (!has_string(v, "id")) return false;
  out << str(v, "id") << ": charged " << str(v, "amount") << " for " << str(v, "operation")
      << "; available now " << str(v, "balance_after") << '\n';
  return true;
}

bool print_charge_list(std::ostream& out, const json::value& v) {
  const json::array* data = objects(v, "data");
  if (data == nullptr) return false;
  std::ostringstream lines;
  for (const json::value& c : *data) {
    if (!print_charge(lines, c)) return false;
  }
  out << lines.str();
  return true;
}

bool print_entry(std::ostream& out, const json::value& v) {
  if (!has_string(v, "id")) return false;
  out << str(v, "id") << ' ' << str(v, "type") << ' ' << str(v, "amount") << "; available now "
      << str(v, "balance_after") << '\n';
  return true;
}

bool print_refund(std::ostream& out, const json::value& v) {
  if (!has_string(v, "id")) return false;
  out << str(v, "id") << ": refunded " << str(v, "amount") << " of " << str(v, "charge")
      << "; available now " << str(v, "balance_after") << '\n';
  return true;
}

bool print_hold(std::ostream& out, const json::value& v) {
  if (!has_string(v, "id")) return false;
  out << str(v, "id") << ' ' << str(v, "status") << ": " << str(v, "amount") << " held, "
      << str(v, "captured") << " captured, expires " << str(v, "expires_at");
  // The charge: an object after a capture, an id elsewhere.
  const json::value* charge = v.as_object().if_contains("charge");
  if (charge != nullptr && charge->is_object()) {
    out << "; charge " << str(*charge, "id");
  } else if (charge != nullptr && charge->is_string()) {
    out << "; charge " << std::string(charge->as_string());
  }
  out << '\n';
  return true;
}

bool print_entries(std::ostream& out, const json::value& v) {
  const json::array* data = objects(v, "data");
  if (data == nullptr) return false;
  std::vector<std::vector<std::string>> rows;
  for (const auto& e : *data) {
    rows.push_back({str(e, "id"), str(e, "created_at"), str(e, "type"), str(e, "amount"),
                    str(e, "balance_after"), str(e, "operation")});
  }
  print_table(out, {"ENTRY", "TIME", "TYPE", "AMOUNT", "BALANCE AFTER", "OPERATION"}, rows);
  print_next(out, v);
  return true;
}

bool print_key(std::ostream& out, const json::value& v) {
  if (!has_string(v, "id")) return false;
  out << str(v, "id") << " (" << str(v, "role") << "): " << str(v, "key") << '\n';
  const json::value* key = v.as_object().if_contains("key");
  if (key != nullptr && key->is_string()) {
    out << "the key is shown only once; store it now\n";
  } else {
    out << "the key is not shown: " << str(v, "key_withheld") << '\n';
  }
  return true;
}

bool print_pretty(std::ostream& out, const json::value& v) {
  out << pretty_json(v);
  return true;
}

// Readable printers by response schema; any other schema prints pretty JSON.
const std::map<std::string_view, printer>& printers() {
  static const std::map<std::string_view, printer> table = {
      {"Account", print_account}, {"Balance", print_balance},
      {"LotPage", print_lots},    {"Lot", print_lot},
      {"Charge", print_charge},   {"Refund", print_refund},
      {"Hold", print_hold},       {"EntryPage", print_entries},
      {"ApiKey", print_key},      {"ChargeList", print_charge_list},
      {"Entry", print_entry},
  };
  return table;
}

void pretty(std::string& out, const json::value& v, int indent) {
  const std::string pad(static_cast<std::size_t>(indent + 2), ' ');
  if (v.is_object() && !v.as_object().empty()) {
    out += "{\n";
    bool first = true;
    for (const auto& member : v.as_object()) {
      if (!first) out += ",\n";
      first = false;
      out += pad + json::serialize(json::value(member.key())) + ": ";
      pretty(out, member.value(), indent + 2);
    }
    out += "\n" + std::string(static_cast<std::size_t>(indent), ' ') + "}";
  } else if (v.is_array() && !v.as_array().empty()) {
    out += "[\n";
    bool first = true;
    for (const auto& item : v.as_array()) {
      if (!first) out += ",\n";
      first = false;
      out += pad;
      pretty(out, item, indent + 2);
    }
    out += "\n" + std::string(static_cast<std::size_t>(indent), ' ') + "]";
  } else {
    out += json::serialize(v);
  }
}

void print_raw(std::ostream& out, const std::string& body) {
  out << body;
  if (!body.empty() && body.back() != '\n') out << '\n';
}

int error_reply(const reply& r, bool as_json, std::ostream& out, std::ostream& err) {
  const int code = r.status >= 400 && r.status < 500 ? exit_refused : exit_server;
  boost::system::error_code ec;
  json::value v = json::parse(r.body, ec);
  const json::value* e = nullptr;
  if (!ec && v.is_object()) e = v.as_object().if_contains("error");
  if (e != nullptr && e->is_object()) {
    if (as_json) print_raw(out, r.body);
    err << "creditctl: " << str(*e, "message") << " (" << str(*e, "code") << ", HTTP " << r.status
        << ")\n";
    for (std::string_view detail : {"reason", "available", "required", "limit"}) {
      if (e->as_object().contains(detail)) err << "  " << detail << ": " << str(*e, detail) << '\n';
    }
  } else {
    // Not the API's error object: show what came (on stdout if it is JSON).
    if (as_json && !ec) {
      print_raw(out, r.body);
      err << "creditctl: HTTP " << r.status << '\n';
    } else {
      err << "creditctl: HTTP " << r.status << (r.status < 400 ? " (unexpected)" : "") << '\n';
      print_raw(err, r.body);
    }
  }
  if (!r.retry_after.empty()) err << "  retry after " << r.retry_after << " s\n";
  return code;
}

}  // namespace

std::string pretty_json(const json::value& v) {
  std::string out;
  pretty(out, v, 0);
  out += '\n';
  return out;
}

int report(const api::endpoint& ep, const reply& r, bool as_json, std::ostream& out,
           std::ostream& err) {
  if (r.status < 200 || r.status >= 300) return error_reply(r, as_json, out, err);
  if (ep.content_type != "application/json") {
    print_raw(out, r.body);
    return exit_ok;
  }
  boost::system::error_code ec;
  json::value v = json::parse(r.body, ec);
  if (ec || !v.is_object()) {
    print_raw(out, r.body);
    err << "creditctl: unexpected reply (HTTP " << r.status
        << "): " << (ec ? "not JSON" : "not a JSON object") << '\n';
    return exit_server;
  }
  const auto& table = printers();
  const auto it = table.find(ep.response);
  const printer& print = it != table.end() ? it->second : printer(print_pretty);
  if (as_json) {
    // The shape is checked all the same, on a discarded copy of the output.
    std::ostringstream discard;
    if (print(discard, v)) {
      print_raw(out, r.body);
      return exit_ok;
    }
  } else {
    std::ostringstream text;
    if (print(text, v)) {
      out << text.str();
      return exit_ok;
    }
  }
  print_raw(out, r.body);
  err << "creditctl: unexpected reply (HTTP " << r.status << "): not a " << ep.response
      << " object\n";
  return exit_server;
}

}  // namespace creditd::ctl
