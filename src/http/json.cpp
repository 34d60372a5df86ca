#include "http/json.hpp"

#include <algorithm>
#include <boost/json/basic_parser_impl.hpp>

#include "util/json_text.hpp"

namespace creditd::http {

namespace json = boost::json;

const jvalue* jvalue::find(std::string_view key) const {
  for (const auto& [k, v] : fields) {
    if (k == key) return &v;
  }
  return nullptr;
}

namespace {

struct builder {
  constexpr static std::size_t max_object_size = 10000;
  constexpr static std::size_t max_array_size = 10000;
  constexpr static std::size_t max_key_size = 4096;
  constexpr static std::size_t max_string_size = 1 << 20;

  struct frame {
    jvalue value;
    std::string key;  // pending key inside an object
  };
  std::vector<frame> stack;
  std::optional<jvalue> root;
  std::string key_buf, str_buf, num_buf;
  bool duplicate = false;

  void put(jvalue v) {
    if (stack.empty()) {
      root = std::move(v);
      return;
    }
    frame& f = stack.back();
    if (f.value.type == jvalue::kind::array) {
      f.value.items.push_back(std::move(v));
    } else {
      f.value.fields.emplace_back(std::move(f.key), std::move(v));
      f.key.clear();
    }
  }
  // Checked once per object, when it ends: a linear scan for small objects,
  // a sort of the keys' views for larger ones (O(n log n), not O(n^2)).
  static bool has_duplicate(const std::vector<std::pair<std::string, jvalue>>& fields) {
    constexpr std::size_t scan_max = 8;
    if (fields.size() <= scan_max) {
      for (std::size_t i = 1; i < fields.size(); ++i) {
        for (std::size_t j = 0; j < i; ++j) {
          if (fields[i].first == fields[j].first) return true;
        }
      }
      return false;
    }
    std::vector<std::string_view> keys;
    keys.reserve(fields.size());
    for (const auto& f : fields)
      keys.emplace_back(f.first);
    return has_duplicate_key(keys);
  }
  bool fail(json::error_code& ec) {
    ec = json::error::syntax;
    return false;
  }

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_object_begin(json::error_code&) {
    stack.push_back({jvalue{jvalue::kind::object}, {}});
    return true;
  }
  bool on_object_end(std::size_t, json::error_code& ec) {
    jvalue v = std::move(stack.back().value);
    stack.pop_back();
    if (has_duplicate(v.fields)) {
      duplicate = true;
      return fail(ec);
    }
    put(std::move(v));
    return true;
  }
  bool on_array_begin(json::error_code&) {
    stack.push_back({jvalue{jvalue::kind::array}, {}});
    return true;
  }
  bool on_array_end(std::size_t, json::error_code&) {
    jvalue v = std::move(stack.back().value);
    stack.pop_back();
    put(std::move(v));
    return true;
  }
  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    key_buf.append(s.data(), s.size());
    return true;
  }
  bool on_key(json::string_view s, std::size_t, json::error_code&) {
    key_buf.append(s.data(), s.size());
    stack.back().key = std::move(key_buf);
    key_buf.clear();
    return true;
  }
  bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
    str_buf.append(s.data(), s.size());
    return true;
  }
  bool on_string(json::string_view s, std::size_t, json::error_code&) {
    str_buf.append(s.data(), s.size());
    jvalue v{jvalue::kind::string};
    v.text = std::move(str_buf);
    str_buf.clear();
    put(std::move(v));
    return true;
  }
  bool on_number_part(json::string_view s, json::error_code&) {
    num_buf.append(s.data(), s.size());
    return true;
  }
  bool number(json::string_view s) {
    num_buf.append(s.data(), s.size());
    jvalue v{jvalue::kind::number};
    v.text = std::move(num_buf);
    num_buf.clear();
    put(std::move(v));
    return true;
  }
  bool on_int64(std::int64_t, json::string_view s, json::error_code&) { return number(s); }
  bool on_uint64(std::uint64_t, json::string_view s, json::error_code&) { return number(s); }
  bool on_double(double, json::string_view s, json::error_code&) { return number(s); }
  bool on_bool(bool b, json::error_code&) {
    jvalue v{jvalue::kind::boolean};
    v.b = b;
    put(std::move(v));
    return true;
  }
  bool on_null(json::error_code&) {
    put(jvalue{jvalue::kind::null});
    return true;
  }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }
};

}  // namespace

std::optional<jvalue> parse_json(std::string_view text, json_error& error) {
  json::parse_options opts;
  opts.max_depth = json_depth_max;
  json::basic_parser<builder> p(opts);
  json::error_code ec;
  const std::size_t n = p.write_some(false, text.data(), text.size(), ec);
  if (!ec && n < text.size()) ec = json::error::extra_data;
  if (ec) {
    if (p.handler().duplicate) {
      error.message = "the JSON body has a duplicate key";
    } else if (ec == json::error::too_deep) {
      error.message = "the JSON body is nested more than 32 levels deep";
    } else {
      error.message = "the body is not valid JSON: " + ec.message();
    }
    return std::nullopt;
  }
  return std::move(p.handler().root);
}

std::vector<const std::pair<std::string, jvalue>*> sorted_members(const jvalue& v) {
  std::vector<const std::pair<std::string, jvalue>*> sorted;
  sorted.reserve(v.fields.size());
  for (const auto& f : v.fields)
    sorted.push_back(&f);
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->first < b->first; });
  return sorted;
}

void write_canonical(std::string& out, const jvalue& v) {
  switch (v.type) {
    case jvalue::kind::null:
      out += "null";
      break;
    case jvalue::kind::boolean:
      out += v.b ? "true" : "false";
      break;
    case jvalue::kind::number:
      out += v.text;
      break;
    case jvalue::kind::string:
      util::append_json_string(out, v.text);
      break;
    case jvalue::kind::array:
      out.push_back('[');
      for (std::size_t i = 0; i < v.items.size(); ++i) {
        if (i) out.push_back(',');
        write_canonical(out, v.items[i]);
      }
      out.push_back(']');
      break;
    case jvalue::kind::object: {
      const auto sorted = sorted_members(v);
      out.push_back('{');
      for (std::size_t i = 0; i < sorted.size(); ++i) {
        if (i) out.push_back(',');
        util::append_json_string(out, sorted[i]->first);
        out.push_back(':');
        write_canonical(out, sorted[i]->second);
      }
      out.push_back('}');
      break;
    }
  }
}

}  // namespace creditd::http
