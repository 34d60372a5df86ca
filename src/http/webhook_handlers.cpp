#include "http/webhook_handlers.hpp"

#include <charconv>
#include <optional>

#include "http/request_fields.hpp"
#include "http/route.hpp"
#include "http/validate.hpp"
#include "ledger/time.hpp"
#include "util/json_text.hpp"
#include "util/log.hpp"

namespace creditd::http {

namespace {

using webhooks::delivery;
using webhooks::endpoint;

void key(std::string& out, std::string_view k, bool& first) {
  if (!first) out += ',';
  first = false;
  util::append_json_string(out, k);
  out += ':';
}

void time_or_null(std::string& out, ledger::time_us t) {
  if (t == 0) {
    out += "null";
    return;
  }
  out += '"';
  ledger::append_time(out, t);
  out += '"';
}

void render_endpoint(std::string& out, const endpoint& e, std::string_view shown_secret) {
  bool first = true;
  out += '{';
  key(out, "id", first);
  util::append_json_string(out, e.id);
  key(out, "object", first);
  out += "\"webhook_endpoint\"";
  key(out, "url", first);
  util::append_json_string(out, e.url);
  key(out, "events", first);
  out += '[';
  for (std::size_t i = 0; i < e.events.size(); ++i) {
    if (i) out += ',';
    util::append_json_string(out, e.events[i]);
  }
  out += ']';
  key(out, "enabled", first);
  out += e.enabled ? "true" : "false";
  if (!shown_secret.empty()) {
    key(out, "secret", first);
    util::append_json_string(out, shown_secret);
  }
  key(out, "secret_hint", first);
  util::append_json_string(out, webhooks::secret_hint(e.secret));
  key(out, "delivered_seq", first);
  out += std::to_string(e.cursor);
  key(out, "attempt", first);
  out += std::to_string(e.attempt);
  key(out, "next_attempt_at", first);
  time_or_null(out, e.attempt > 0 ? e.next_attempt_at : 0);
  key(out, "failing_since", first);
  time_or_null(out, e.failing_since);
  key(out, "disabled_at", first);
  time_or_null(out, e.enabled ? 0 : e.disabled_at);
  key(out, "disabled_reason", first);
  if (e.enabled || e.disabled_reason.empty()) {
    out += "null";
  } else {
    util::append_json_string(out, e.disabled_reason);
  }
  key(out, "created_at", first);
  time_or_null(out, e.created_at);
  key(out, "updated_at", first);
  time_or_null(out, e.updated_at);
  out += '}';
}

void render_delivery(std::string& out, const delivery& d) {
  bool first = true;
  out += '{';
  key(out, "id", first);
  out += std::to_string(d.id);
  key(out, "object", first);
  out += "\"webhook_delivery\"";
  key(out, "event_seq", first);
  out += std::to_string(d.seq);
  key(out, "event", first);
  out += "\"evt_" + std::to_string(d.seq) + '"';
  key(out, "attempt", first);
  out += std::to_string(d.attempt);
  key(out, "status", first);
  out += d.status > 0 ? std::to_string(d.status) : "null";
  key(out, "error", first);
  if (d.error.empty()) {
    out += "null";
  } else {
    util::append_json_string(out, d.error);
  }
  key(out, "latency_ms", first);
  out += std::to_string(d.latency_ms);
  key(out, "at", first);
  time_or_null(out, d.at);
  key(out, "next_retry_at", first);
  time_or_null(out, d.next_retry_at);
  out += '}';
}

response json_response(unsigned status, std::string body) {
  response out;
  out.status = status;
  out.body = std::move(body);
  return out;
}

// A registry error as its answer.
response error_of(const std::string& e, std::string_view id) {
  if (e.starts_with("invalid: ")) return error_response(400, "invalid_request", e.substr(9));
  if (e.starts_with("limit: ")) return error_response(409, "conflict", e.substr(7));
  if (e == "not found")
    return error_response(404, "not_found", "webhook endpoint " + std::string(id) + " not found");
  log::write(log::level::error, "webhook endpoint store failed", {{"error", e}});
  response r = error_response(503, "unavailable", "the webhook endpoints cannot be written");
  r.retry_after_s = 1;
  return r;
}

service::reply as_reply(response r) {
  service::reply out;
  out.status = r.status;
  out.body = std::move(r.body);
  out.retry_after_s = r.retry_after_s;
  return out;
}

// Runs a change of the endpoints once per Idempotency-Key, as the ledger's
// commands are (service::once): a replay answers the first reply.
void once(api& a, call& c, std::function<void(std::function<void(response)>)> change) {
  a.ctx().svc.once(
      c.who,
      [change = std::move(change)](service::reply_fn fin) {
        change([fin = std::move(fin)](response r) { fin(as_reply(std::move(r))); });
      },
      [done = std::move(c.done)](service::reply r) { done(to_response(std::move(r))); });
}

webhooks::registry* registry_or_503(api& a, call& c) {
  if (a.ctx().webhooks == nullptr || a.ctx().clock == nullptr) {
    c.done(error_response(503, "unavailable", "webhooks are not configured in this server"));
    return nullptr;
  }
  return a.ctx().webhooks;
}

void put_webhook_endpoint(api& a, call& c) {
  webhooks::registry* reg = registry_or_503(a, c);
  if (!reg) return;
  const body_values v(c.body ? &*c.body : nullptr);
  webhooks::endpoint_put req;
  req.url = *v.string("url");
  if (const jvalue* events = v.get("events")) {
    for (const jvalue& item : events->items)
      req.events.push_back(item.text);
  }
  req.secret = v.string("secret");
  req.enabled = v.boolean("enabled");
  once(a, c,
       [reg, id = c.params[0], req = std::move(req),
        now = a.ctx().clock->now()](std::function<void(response)> done) mutable {
         reg->put_async(
             id, std::move(req), now,
             [id, done = std::move(done)](std::expected<webhooks::put_result, std::string> r) {
               if (!r) return done(error_of(r.error(), id));
               std::string body;
               render_endpoint(body, r->e, r->generated_secret);
               done(json_response(r->created ? 201 : 200, std::move(body)));
             });
       });
}

void get_webhook_endpoint(api& a, call& c) {
  webhooks::registry* reg = registry_or_503(a, c);
  if (!reg) return;
  auto e = reg->get(c.params[0]);
  if (!e) return c.done(error_of("not found", c.params[0]));
  std::string body;
  render_endpoint(body, *e, "");
  c.done(json_response(200, std::move(body)));
}

void delete_webhook_endpoint(api& a, call& c) {
  webhooks::registry* reg = registry_or_503(a, c);
  if (!reg) return;
  once(a, c, [reg, id = c.params[0]](std::function<void(response)> done) {
    reg->remove_async(id, [id, done = std::move(done)](std::expected<bool, std::string> r) {
      if (!r) return done(error_of(r.error(), id));
      if (!*r) return done(error_of("not found", id));
      std::string body = "{\"id\":";
      util::append_json_string(body, id);
      body += ",\"object\":\"webhook_endpoint\",\"deleted\":true}";
      done(json_response(200, std::move(body)));
    });
  });
}

// Closes a list's data; `next` is the last one shown when more remain.
void end_page(std::string& body, bool more, std::string_view last) {
  body += "],\"next\":";
  if (more) {
    util::append_json_string(body, last);
  } else {
    body += "null";
  }
  body += '}';
}

void list_webhook_endpoints(api& a, call& c) {
  webhooks::registry* reg = registry_or_503(a, c);
  if (!reg) return;
  const auto [limit, after] = name_paging(c.req.query);
  std::string body = "{\"data\":[";
  std::size_t shown = 0;
  bool more = false;
  std::string last;
  for (const endpoint& e : reg->list()) {  // by id
    if (!after.empty() && e.id <= after) continue;
    if (shown == limit) {
      more = true;
      break;
    }
    if (shown++) body += ',';
    render_endpoint(body, e, "");
    last = e.id;
  }
  end_page(body, more, last);
  c.done(json_response(200, std::move(body)));
}

void redeliver_webhook_endpoint(api& a, call& c) {
  webhooks::registry* reg = registry_or_503(a, c);
  if (!reg) return;
  const body_values v(c.body ? &*c.body : nullptr);
  const auto from = static_cast<std::uint64_t>(*v.integer("from_seq"));
  once(a, c,
       [reg, id = c.params[0], from,
        now = a.ctx().clock->now()](std::function<void(response)> done) {
         reg->redeliver_async(id, from, now,
                              [id, done = std::move(done)](std::expected<endpoint, std::string> r) {
                                if (!r) return done(error_of(r.error(), id));
                                std::string body;
                                render_endpoint(body, *r, "");
                                done(json_response(200, std::move(body)));
                              });
       });
}

void list_webhook_deliveries(api& a, call& c) {
  webhooks::registry* reg = registry_or_503(a, c);
  if (!reg) return;
  const auto [limit, after] = name_paging(c.req.query);
  // The cursor is an attempt's id: the page holds the older ones.
  std::optional<std::int64_t> before;
  if (!after.empty()) {
    std::int64_t v = 0;
    const auto [end, ec] = std::from_chars(after.data(), after.data() + after.size(), v);
    if (ec != std::errc() || end != after.data() + after.size())
      return c.done(error_response(400, "invalid_request", "after must be an attempt's id"));
    before = v;
  }
  reg->deliveries_async(c.params[0], webhooks::deliveries_kept_max,
                        [id = c.params[0], limit, before, done = std::move(c.done)](
                            std::expected<std::vector<delivery>, std::string> r) {
                          if (!r) return done(error_of(r.error(), id));
                          std::string body = "{\"data\":[";
                          std::size_t shown = 0;
                          bool more = false;
                          std::string last;
                          for (const delivery& d : *r) {  // newest first
                            if (before && d.id >= *before) continue;
                            if (shown == limit) {
                              more = true;
                              break;
                            }
                            if (shown++) body += ',';
                            render_delivery(body, d);
                            last = std::to_string(d.id);
                          }
                          end_page(body, more, last);
                          done(json_response(200, std::move(body)));
                        });
}

struct named_handler {
  std::string_view name;
  handler_fn fn;
};

constexpr named_handler webhook_handlers[] = {
    {"put_webhook_endpoint", put_webhook_endpoint},
    {"get_webhook_endpoint", get_webhook_endpoint},
    {"delete_webhook_endpoint", delete_webhook_endpoint},
    {"list_webhook_endpoints", list_webhook_endpoints},
    {"redeliver_webhook_endpoint", redeliver_webhook_endpoint},
    {"list_webhook_deliveries", list_webhook_deliveries},
};

}  // namespace

handler_fn find_webhook_handler(std::string_view name) {
  for (const named_handler& h : webhook_handlers) {
    if (h.name == name) return h.fn;
  }
  return nullptr;
}

}  // namespace creditd::http
