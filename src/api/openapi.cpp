#include "api/openapi.hpp"

#include <boost/json.hpp>
#include <map>
#include <string_view>

#include "api/description.hpp"

namespace creditd::api {

namespace json = boost::json;

namespace {

enum class direction { in, out };

constexpr std::string_view amount_pattern = "^[0-9]{1,13}(\\.[0-9]{1,6})?$";
constexpr std::string_view signed_amount_pattern = "^-?[0-9]{1,13}(\\.[0-9]{1,6})?$";

json::value nullable(json::value v) {
  return json::object{{"anyOf", json::array{std::move(v), json::object{{"type", "null"}}}}};
}

json::value ref(std::string_view name) {
  return json::object{{"$ref", "#/components/schemas/" + std::string(name)}};
}

json::value schema_of(const field& f, direction dir);

json::value object_schema(std::span<const field> fields, direction dir) {
  json::object props;
  json::array required;
  for (const field& m : fields) {
    props[m.name] = schema_of(m, dir);
    if (m.required) required.emplace_back(m.name);
  }
  json::object o{{"type", "object"}, {"properties", std::move(props)}};
  if (!required.empty()) o["required"] = std::move(required);
  // Requests refuse unknown fields; responses may grow new ones.
  if (dir == direction::in) o["additionalProperties"] = false;
  return o;
}

json::value amount_schema(std::string_view pattern, direction dir) {
  json::object s{{"type", "string"}, {"pattern", pattern}};
  if (dir == direction::out) return s;
  // Requests take a JSON number or a decimal string.
  return json::object{{"oneOf", json::array{s, json::object{{"type", "number"}}}}};
}

json::value bare_schema(const field& f, direction dir) {
  switch (f.t) {
    case type::string: {
      json::object s{{"type", "string"}};
      if (f.max > 0) s["maxLength"] = f.max;
      return s;
    }
    case type::account_id:
      return json::object{{"type", "string"}, {"pattern", "^[A-Za-z0-9._:-]{1,128}$"}};
    case type::operation:
      return json::object{{"type", "string"}, {"pattern", "^[A-Za-z0-9._:/-]{1,128}$"}};
    case type::operation_pattern:
      return json::object{{"type", "string"}, {"pattern", "^[A-Za-z0-9._:/*-]{1,128}$"}};
    case type::amount:
    case type::positive_amount:
      return amount_schema(amount_pattern, dir);
    case type::signed_amount:
      return amount_schema(signed_amount_pattern, dir);
    case type::integer: {
      json::object s{{"type", "integer"}};
      if (f.min != 0 || f.max != 0) {
        s["minimum"] = f.min;
        s["maximum"] = f.max;
      }
      return s;
    }
    case type::boolean:
      return json::object{{"type", "boolean"}};
    case type::time:
      return json::object{{"type", "string"}, {"format", "date-time"}};
    case type::object:
      if (!f.ref.empty()) return ref(f.ref);
      return object_schema(f.fields, dir);
    case type::dimensions:
      return json::object{{"type", "object"},
                          {"maxProperties", 32},
                          {"additionalProperties",
                           json::object{{"type", json::array{"string", "number", "boolean"}}}}};
    case type::array: {
      json::object s{{"type", "array"}};
      if (f.items != nullptr) s["items"] = schema_of(*f.items, dir);
      if (f.min > 0) s["minItems"] = f.min;
      if (f.max > 0) s["maxItems"] = f.max;
      return s;
    }
    case type::id:
      return json::object{{"type", "string"},
                          {"pattern", "^" + std::string(f.prefix) + "_[0-9]+$"}};
    case type::enumeration: {
      json::array values;
      for (std::string_view v : f.values)
        values.emplace_back(v);
      return json::object{{"type", "string"}, {"enum", std::move(values)}};
    }
    case type::charge_or_id:
      return json::object{{"oneOf", json::array{ref("Charge"), json::object{{"type", "string"}}}}};
  }
  return json::object{};
}

json::value schema_of(const field& f, direction dir) {
  json::value s = bare_schema(f, dir);
  if (f.nullable) s = nullable(std::move(s));
  // A $ref takes no siblings in every generator; describe the others.
  if (!f.doc.empty() && !s.as_object().contains("$ref")) s.as_object()["description"] = f.doc;
  return s;
}

json::value parameter(const field& f, std::string_view in) {
  json::object p{{"name", f.name},
                 {"in", in},
                 {"required", in == "path" || f.required},
                 {"description", f.doc},
                 {"schema", bare_schema(f, direction::in)}};
  return p;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

json::value operation(const endpoint& ep) {
  json::object op;
  op["operationId"] = ep.name;
  op["summary"] = ep.summary;
  std::string doc(ep.doc);
  if (!doc.empty()) doc += "\n\n";
  doc += "Role: " + std::string(to_string(ep.need)) + ".";
  op["description"] = doc;
  if (!ep.command.empty()) op["x-creditctl-command"] = ep.command;
  json::array security;
  if (ep.need != access::open) security.push_back(json::object{{"bearer", json::array{}}});
  op["security"] = std::move(security);

  json::array params;
  for (const field& p : ep.path_params)
    params.push_back(parameter(p, "path"));
  for (const field& q : ep.query)
    params.push_back(parameter(q, "query"));
  if (ep.mutating && ep.verb != method::delete_) {
    params.push_back(json::object{
        {"name", "Idempotency-Key"},
        {"in", "header"},
        {"required", false},
        {"description",
         "A replay of the same request returns the first response and changes nothing; the same "
         "key with another request is idempotency_conflict (409). Kept at least 24 hours."},
        {"schema", json::object{{"type", "string"}, {"maxLength", 255}}}});
  }
  op["parameters"] = std::move(params);

  if (ep.raw_body) {
    op["requestBody"] = json::object{
        {"required", true},
        {"content",
         json::object{{"application/json",
                       json::object{{"schema", json::object{{"type", "object"},
                                                            {"additionalProperties", true}}}}}}}};
  }
  if (ep.has_body) {
    // A body with a required field is itself required: generators then make the
    // client pass one (openapi-typescript: `requestBody`, not `requestBody?`).
    bool body_required = false;
    for (const field& f : ep.body)
      body_required = body_required || f.required;
    op["requestBody"] = json::object{
        {"required", body_required},
        {"content",
         json::object{{"application/json",
                       json::object{{"schema", object_schema(ep.body, direction::in)}}}}}};
  }

  // Results sharing a status are one response; the descriptions are joined.
  std::map<unsigned, std::string> meaning;
  std::map<unsigned, std::string> codes;
  for (const result& r : ep.results) {
    std::string& m = meaning[r.status];
    if (!m.empty()) m += "; ";
    if (!r.code.empty()) m += std::string(r.code) + ": ";
    m += r.meaning;
  }
  json::object responses;
  for (const auto& [status, text] : meaning) {
    json::object resp{{"description", text}};
    const bool success = status < 300 || (ep.name == "health" && status == 503);
    if (success && ep.content_type == "application/json" && !ep.response.empty()) {
      resp["content"] =
          json::object{{"application/json", json::object{{"schema", ref(ep.response)}}}};
    } else if (success && ep.content_type != "application/json") {
      resp["content"] = json::object{{std::string(ep.content_type),
                                      json::object{{"schema", json::object{{"type", "string"}}}}}};
    } else if (success) {
      // Any JSON object. additionalProperties is explicit: with only
      // {"type": "object"}, openapi-typescript types it Record<string, never>.
      resp["content"] =
          json::object{{"application/json",
                        json::object{{"schema", json::object{{"type", "object"},
                                                             {"additionalProperties", true}}}}}};
    } else {
      resp["content"] = json::object{{"application/json", json::object{{"schema", ref("Error")}}}};
    }
    if (status == 429 || status == 503) {
      resp["headers"] = json::object{
          {"Retry-After", json::object{{"description", "Seconds to wait before retrying"},
                                       {"schema", json::object{{"type", "integer"}}}}}};
    }
    if (status == 401) {
      resp["headers"] = json::object{
          {"WWW-Authenticate",
           json::object{{"description", "Bearer"}, {"schema", json::object{{"type", "string"}}}}}};
    }
    responses[std::to_string(status)] = std::move(resp);
  }
  op["responses"] = std::move(responses);
  return op;
}

}  // namespace

std::string openapi_document(bool test_clock) {
  json::object doc;
  doc["openapi"] = "3.1.0";
  doc["info"] = json::object{
      {"title", "creditd API"},
      {"version", "1"},
      {"description",
       "The credit ledger and metering service for AI products. Amounts are exact decimals "
       "with up to 6 fractional digits: requests take a number or a string, responses give "
       "strings. Times are RFC 3339 UTC. Errors are {\"error\": {\"code\", \"message\"}}."}};
  // Paths are relative to the server that serves this document.
  doc["servers"] = json::array{
      json::object{{"url", "/"}, {"description", "The server that serves this document"}}};
  json::object schemas_out;
  for (const schema& s : schemas()) {
    json::value v = object_schema(s.fields, direction::out);
    v.as_object()["description"] = s.doc;
    schemas_out[s.name] = std::move(v);
  }
  doc["components"] = json::object{
      {"schemas", std::move(schemas_out)},
      {"securitySchemes",
       json::object{{"bearer", json::object{{"type", "http"}, {"scheme", "bearer"}}}}}};
  json::object paths;
  for (const endpoint& ep : endpoints()) {
    if (ep.test_clock_only && !test_clock) continue;
    json::value& item = paths[ep.path];
    if (!item.is_object()) item = json::object{};
    item.as_object()[lower(to_string(ep.verb))] = operation(ep);
  }
  doc["paths"] = std::move(paths);
  return json::serialize(doc);
}

}  // namespace creditd::api
