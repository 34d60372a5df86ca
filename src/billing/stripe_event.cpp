#include "billing/stripe_event.hpp"

#include <boost/json.hpp>

#include <optional>
#include <string>
#include <utility>

namespace creditd::billing {

namespace {

namespace json = boost::json;

// An empty problem means success.
using problem = std::string;

std::string quoted(std::string_view path) {
  std::string out = "\"";
  out += path;
  out += '"';
  return out;
}

problem wrong_type(std::string_view path, std::string_view expected, const json::value& v) {
  return quoted(path) + " is not " + std::string(expected) + " (it is " +
         std::string(json::to_string(v.kind())) + ")";
}

// The member `key` of `o`, or nullptr when it is absent or null (Stripe
// sends null for an unset optional member).
const json::value* member(const json::object& o, std::string_view key) {
  const auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return nullptr;
  return &it->value();
}

// Reads a string member into `out` (left unchanged when absent or null).
problem read_string(const json::object& o, std::string_view key, std::string_view path,
                    bool required, std::string& out) {
  const json::value* v = member(o, key);
  if (v == nullptr) return required ? quoted(path) + " is missing" : problem{};
  if (!v->is_string()) return wrong_type(path, "a string", *v);
  const json::string& s = v->get_string();
  if (s.size() > stripe_event_string_bytes_max) {
    return quoted(path) + " is " + std::to_string(s.size()) + " bytes, over the " +
           std::to_string(stripe_event_string_bytes_max) + "-byte limit";
  }
  if (required && s.empty()) return quoted(path) + " is empty";
  out.assign(s.data(), s.size());
  return {};
}

// Reads a non-negative integer member (a JSON number without fraction or
// exponent that fits int64; 25.0 and 2.5e3 are refused).
problem read_count(const json::object& o, std::string_view key, std::string_view path,
                   bool required, std::optional<std::int64_t>& out) {
  const json::value* v = member(o, key);
  if (v == nullptr) return required ? quoted(path) + " is missing" : problem{};
  if (v->is_int64()) {
    if (v->get_int64() < 0) return quoted(path) + " is negative";
    out = v->get_int64();
    return {};
  }
  if (v->is_uint64()) return quoted(path) + " is too large";
  return wrong_type(path, "an integer", *v);
}

// Reads `object` and, when present, checks it is `expected` (Stripe names
// every object's kind: "event", "checkout.session").
problem check_object_kind(const json::object& o, std::string_view path, std::string_view expected) {
  std::string kind;
  if (problem p = read_string(o, "object", path, false, kind); !p.empty()) return p;
  if (!kind.empty() && kind != expected)
    return quoted(path) + " is \"" + kind + "\", not \"" + std::string(expected) + "\"";
  return {};
}

// The fields of a checkout.session.* event, from data.object.
problem read_checkout_session(const json::object& event, stripe_event& out) {
  const json::value* data = member(event, "data");
  if (data == nullptr) return "\"data\" is missing";
  if (!data->is_object()) return wrong_type("data", "an object", *data);
  const json::value* object = member(data->get_object(), "object");
  if (object == nullptr) return "\"data.object\" is missing";
  if (!object->is_object()) return wrong_type("data.object", "an object", *object);
  const json::object& session = object->get_object();

  problem p = check_object_kind(session, "data.object.object", "checkout.session");
  if (p.empty()) p = read_string(session, "id", "data.object.id", false, out.session_id);
  if (p.empty()) {
    p = read_string(session, "payment_status", "data.object.payment_status", false,
                    out.payment_status);
  }
  if (p.empty()) p = read_string(session, "currency", "data.object.currency", false, out.currency);
  if (p.empty()) {
    p = read_count(session, "amount_total", "data.object.amount_total", false, out.amount_total);
  }
  if (!p.empty()) return p;
  for (char& c : out.currency) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }

  std::string client_reference_id;
  p = read_string(session, "client_reference_id", "data.object.client_reference_id", false,
                  client_reference_id);
  if (!p.empty()) return p;
  if (const json::value* metadata = member(session, "metadata")) {
    if (!metadata->is_object()) return wrong_type("data.object.metadata", "an object", *metadata);
    const json::object& m = metadata->get_object();
    p = read_string(m, "account", "data.object.metadata.account", false, out.account);
    if (p.empty())
      p = read_string(m, "package", "data.object.metadata.package", false, out.package);
    if (!p.empty()) return p;
  }
  // Stripe drops a metadata key set to "", so an empty account is an absent one.
  if (out.account.empty()) out.account = std::move(client_reference_id);
  return {};
}

}  // namespace

std::expected<stripe_event, std::string> parse_stripe_event(std::string_view body) {
  if (body.size() > stripe_event_bytes_max) {
    return std::unexpected("the body is " + std::to_string(body.size()) + " bytes, over the " +
                           std::to_string(stripe_event_bytes_max) + "-byte limit");
  }
  if (body.empty()) return std::unexpected(std::string("the body is empty"));

  json::parse_options options;
  options.max_depth = stripe_event_depth_max;
  json::stream_parser parser({}, options);
  boost::system::error_code ec;
  const std::size_t consumed = parser.write(body.data(), body.size(), ec);
  if (!ec) parser.finish(ec);
  if (ec) {
    return std::unexpected("the body is not JSON: " + ec.message() + " (at byte " +
                           std::to_string(consumed) + ")");
  }
  const json::value root = parser.release();
  if (!root.is_object()) return std::unexpected(wrong_type("the body", "a JSON object", root));
  const json::object& event = root.get_object();

  stripe_event out;
  std::optional<std::int64_t> created;
  problem p = check_object_kind(event, "object", "event");
  if (p.empty()) p = read_string(event, "id", "id", true, out.id);
  if (p.empty()) p = read_string(event, "type", "type", true, out.type);
  if (p.empty()) p = read_count(event, "created", "created", true, created);
  if (p.empty()) {
    if (const json::value* live = member(event, "livemode")) {
      if (live->is_bool()) {
        out.livemode = live->get_bool();
      } else {
        p = wrong_type("livemode", "a boolean", *live);
      }
    }
  }
  if (p.empty() && out.type.starts_with("checkout.session.")) p = read_checkout_session(event, out);
  if (!p.empty()) return std::unexpected(std::move(p));
  out.created = *created;
  return out;
}

bool records_purchase(const stripe_event& e) {
  if (e.type == "checkout.session.completed")
    return e.payment_status == "paid" || e.payment_status == "no_payment_required";
  return e.type == "checkout.session.async_payment_succeeded";
}

}  // namespace creditd::billing
