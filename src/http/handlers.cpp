// One handler per endpoint of the API description: decode the checked
// request into a service command, and encode the service's reply.
#include <algorithm>
#include <unordered_map>

#include "http/call.hpp"
#include "http/request_fields.hpp"
#include "http/route.hpp"
#include "http/validate.hpp"
#include "http/webhook_handlers.hpp"
#include "ledger/ids.hpp"
#include "ledger/limits.hpp"

namespace creditd::http {

namespace {

using ledger::id_kind;
using ledger::micros;

service::reply_fn reply_to(call& c) {
  // A replay's Idempotent-Replayed is the server's to write (out.replayed).
  return [done = std::move(c.done)](service::reply r) { done(to_response(std::move(r))); };
}

service::service& svc(api& a) {
  return a.ctx().svc;
}

body_values values(const call& c) {
  return body_values(c.body ? &*c.body : nullptr);
}

// An object id from the path ("lot_12"); answers 404 itself when malformed.
std::optional<ledger::object_id> path_id(call& c, id_kind k, std::string_view what) {
  auto id = ledger::parse_id(k, c.params[0]);
  if (!id)
    c.done(error_response(404, "not_found", std::string(what) + " " + c.params[0] + " not found"));
  return id;
}

// ?limit= and ?after= (already checked); the cursor's id, or nullopt after a 400.
std::optional<service::page> paging(call& c, id_kind cursor) {
  service::page p;
  if (auto l = query_value(c.req.query, "limit")) p.limit = std::stoul(*l);
  if (auto after = query_value(c.req.query, "after"); after && !after->empty()) {
    auto id = ledger::parse_id(cursor, *after);
    if (!id) {
      c.done(error_response(400, "invalid_request", "after must be a cursor from a previous page"));
      return std::nullopt;
    }
    p.after = *id;
  }
  return p;
}

// ------------------------------------------------------------------ accounts and lots

void put_account(api& a, call& c) {
  const body_values v = values(c);
  service::account_put cmd;
  cmd.id = c.params[0];
  cmd.name = v.string("name");
  if (const jvalue* s = v.get("settings")) {
    const body_values sv(s);
    service::settings_patch p;
    if (const jvalue* t = sv.get("low_balance_thresholds")) {
      std::vector<micros> thresholds;
      for (const jvalue& item : t->items)
        thresholds.push_back(*ledger::parse_amount(item.text));
      std::sort(thresholds.begin(), thresholds.end());
      thresholds.erase(std::unique(thresholds.begin(), thresholds.end()), thresholds.end());
      p.thresholds = std::move(thresholds);
    }
    p.reserve = sv.amount("reserve");
    p.postpaid_limit = sv.amount("postpaid_limit");
    p.rate = sv.integer("rate_limit_per_minute");
    p.max_holds = sv.integer("max_open_holds");
    p.soon_days = sv.integer("expiring_soon_days");
    if (const jvalue* at = s->find("auto_topup")) {
      p.auto_topup_given = true;
      if (!at->is_null()) {
        const body_values tv(at);
        ledger::auto_topup_settings t;
        t.below = *tv.amount("below");
        t.package = *tv.string("package");
        t.max_per_period = tv.integer("max_per_period").value_or(1);
        p.auto_topup = std::move(t);
      }
    }
    cmd.settings = std::move(p);
  }
  svc(a).put_account(c.who, std::move(cmd), reply_to(c));
}

void get_account(api& a, call& c) {
  svc(a).get_account(c.who, c.params[0], reply_to(c));
}

void get_balance(api& a, call& c) {
  std::optional<ledger::time_us> at;
  if (auto text = query_value(c.req.query, "at")) at = ledger::parse_time(*text);
  svc(a).get_balance(c.who, c.params[0], at, reply_to(c));
}

void grant_lot(api& a, call& c) {
  const body_values v = values(c);
  ledger::grant_cmd g;
  g.account = c.params[0];
  g.amount = *v.amount("amount");
  g.kind = *ledger::parse_lot_kind(*v.string("kind"));
  g.expires_at = v.time("expires_at");
  g.effective_at = v.time("effective_at");
  if (auto p = v.integer("priority")) g.priority = static_cast<std::int32_t>(*p);
  if (const jvalue* s = v.get("scope")) {
    for (const jvalue& op : s->items)
      g.scope.push_back(op.text);
  }
  g.reason = v.string("reason").value_or("");
  g.source = v.string("source").value_or("manual");
  g.cost_basis = v.amount("cost_basis").value_or(0);
  g.currency = v.string("currency").value_or("");
  // A currency is three lower-case ISO 4217 letters, and money needs one.
  const bool currency_ok =
      g.currency.empty() ||
      (g.currency.size() == 3 && std::all_of(g.currency.begin(), g.currency.end(),
                                             [](char ch) { return ch >= 'a' && ch <= 'z'; }));
  if (!currency_ok)
    return c.done(error_response(400, "invalid_request",
                                 "currency must be three lower-case ISO 4217 letters, e.g. usd"));
  if (g.cost_basis != 0 && g.currency.empty())
    return c.done(error_response(400, "invalid_request", "a cost_basis needs its currency"));
  svc(a).grant(c.who, std::move(g), reply_to(c));
}

void list_lots(api& a, call& c) {
  auto p = paging(c, id_kind::lot);
  if (!p) return;
  svc(a).list_lots(c.who, c.params[0], *p, reply_to(c));
}

void void_lot(api& a, call& c) {
  auto id = path_id(c, id_kind::lot, "lot");
  if (!id) return;
  svc(a).void_lot(c.who, *id, values(c).string("reason").value_or(""), reply_to(c));
}

// ------------------------------------------------------------------ spending

// The router checked the body, batch items included, against the
// description. Without an amount the ledger prices the charge.
void create_charge(api& a, call& c) {
  if (c.fast)
    return svc(a).charge(c.who, charge_from(std::move(*c.fast), c.params[0]), reply_to(c));
  svc(a).charge(c.who, decode_checked_charge(*c.body, c.params[0]), reply_to(c));
}

void create_charge_batch(api& a, call& c) {
  const jvalue* list = values(c).get("charges");
  std::vector<ledger::charge_cmd> cmds;
  cmds.reserve(list->items.size());
  for (const jvalue& item : list->items)
    cmds.push_back(decode_checked_charge(item, c.params[0]));
  svc(a).charge_batch(c.who, std::move(cmds), reply_to(c));
}

void refund_charge(api& a, call& c) {
  auto id = path_id(c, id_kind::charge, "charge");
  if (!id) return;
  const body_values v = values(c);
  ledger::refund_cmd cmd;
  cmd.charge_id = *id;
  cmd.amount = v.amount("amount");
  cmd.reason = v.string("reason").value_or("");
  svc(a).refund(c.who, std::move(cmd), reply_to(c));
}

void create_adjustment(api& a, call& c) {
  const body_values v = values(c);
  ledger::adjust_cmd cmd;
  cmd.account = c.params[0];
  cmd.amount = *v.amount("amount");
  cmd.reason = *v.string("reason");
  if (cmd.reason.empty())
    return c.done(error_response(400, "invalid_request", "reason must not be empty"));
  svc(a).adjust(c.who, std::move(cmd), reply_to(c));
}

void create_hold(api& a, call& c) {
  spend_fields s;
  std::optional<std::int64_t> ttl;
  if (c.fast) {
    s = std::move(c.fast->s);
    ttl = c.fast->ttl_seconds;
  } else {
    const body_values v = values(c);
    s = read_spend(v);
    ttl = v.integer("ttl_seconds");
  }
  ledger::hold_cmd cmd{c.params[0],
                       s.amount.value_or(0),
                       std::move(s.operation),
                       std::move(s.dimensions),
                       std::move(s.reference),
                       s.urgent,
                       ttl.value_or(ledger::limits::hold_ttl_seconds_default)};
  cmd.quantity = s.quantity;
  cmd.metadata = std::move(s.metadata);
  cmd.from_catalog = !s.amount.has_value();
  cmd.dimension_values = std::move(s.dimension_values);
  svc(a).place_hold(c.who, std::move(cmd), reply_to(c));
}

void capture_hold(api& a, call& c) {
  auto id = path_id(c, id_kind::hold, "hold");
  if (!id) return;
  svc(a).capture(c.who, *id, values(c).amount("amount"), reply_to(c));
}

void release_hold(api& a, call& c) {
  auto id = path_id(c, id_kind::hold, "hold");
  if (!id) return;
  svc(a).release(c.who, *id, reply_to(c));
}

void get_hold(api& a, call& c) {
  auto id = path_id(c, id_kind::hold, "hold");
  if (!id) return;
  svc(a).get_hold(c.who, *id, reply_to(c));
}

void list_entries(api& a, call& c) {
  auto p = paging(c, id_kind::entry);
  if (!p) return;
  svc(a).list_entries(c.who, c.params[0], *p, reply_to(c));
}

// ?after= is an event's seq ("12") or its id ("evt_12", what `next` gives);
// ?type= and ?account= are checked against the description already.
void list_events(api& a, call& c) {
  store::event_filter f;
  if (auto l = query_value(c.req.query, "limit")) f.limit = std::stoul(*l);
  if (auto after = query_value(c.req.query, "after"); after && !after->empty() && *after != "0") {
    auto seq = ledger::parse_id(id_kind::event, *after);
    if (!seq) seq = ledger::parse_id(id_kind::event, "evt_" + *after);
    if (!seq) {
      return c.done(error_response(400, "invalid_request",
                                   "after must be an event's seq or id (a page's next)"));
    }
    f.after = *seq;
  }
  f.type = query_value(c.req.query, "type").value_or("");
  f.account = query_value(c.req.query, "account").value_or("");
  svc(a).list_events(c.who, std::move(f), reply_to(c));
}

// An event's seq from "12" or "evt_12"; nullopt when it is neither.
std::optional<std::uint64_t> event_cursor(const std::string& text) {
  if (text == "0") return 0;
  auto seq = ledger::parse_id(id_kind::event, text);
  if (!seq) seq = ledger::parse_id(id_kind::event, "evt_" + text);
  return seq;
}

// The cursor is Last-Event-ID (a reconnecting EventSource sends it), else
// ?after=, else the last event published (only new ones follow).
void stream_events(api& a, call& c) {
  event_streams* streams = a.ctx().streams;
  if (streams == nullptr)
    return c.done(error_response(503, "too_many_streams", "this server has no event streams"));
  event_stream_request r;
  r.after = streams->feed().last_seq();
  if (auto after = query_value(c.req.query, "after"); after && !after->empty()) {
    auto seq = event_cursor(*after);
    if (!seq)
      return c.done(error_response(400, "invalid_request", "after must be an event's seq or id"));
    r.after = *seq;
  }
  if (!c.req.last_event_id.empty()) {
    auto seq = event_cursor(c.req.last_event_id);
    if (!seq) {
      return c.done(
          error_response(400, "invalid_request",
                         "Last-Event-ID must be an event's seq (an id: line it was sent)"));
    }
    r.after = *seq;
  }
  if (auto l = query_value(c.req.query, "limit")) r.limit = std::stoull(*l);
  if (auto t = query_value(c.req.query, "type"); t && !t->empty())
    r.filter.type = ledger::parse_event_type(*t);  // checked against the description
  r.filter.account = query_value(c.req.query, "account").value_or("");
  const auth::principal& who = c.who.who;
  if (who.who == auth::role::reader) {
    if (r.filter.account.empty()) r.filter.account = who.account;
    if (r.filter.account != who.account)
      return c.done(error_response(403, "forbidden", "this key may only read its own account"));
  }
  r.key = c.req.authorization.substr(7);  // "Bearer ", checked by the router
  r.who = who;
  auto stream = streams->open(std::move(r));
  if (!stream) {
    response busy = error_response(503, "too_many_streams",
                                   "as many event streams are open as --event-streams-max allows");
    busy.retry_after_s = 1;
    return c.done(std::move(busy));
  }
  response out;
  out.content_type = "text/event-stream";
  out.headers.emplace_back("Cache-Control", "no-cache");
  // Proxies that buffer (nginx) pass each event on at once.
  out.headers.emplace_back("X-Accel-Buffering", "no");
  out.stream = std::move(stream);
  c.done(std::move(out));
}

// ------------------------------------------------------------------ catalog and commerce

void put_price(api& a, call& c) {
  const body_values v = values(c);
  ledger::price_cmd cmd;
  cmd.id = c.params[0];
  cmd.operation = *v.string("operation");
  if (const jvalue* d = v.get("dimensions")) {
    // As in a charge: a number is its text as sent, a boolean true or
    // false; prices and charges match on that text.
    for (const auto& [key, value] : d->fields) {
      switch (value.type) {
        case jvalue::kind::string:
        case jvalue::kind::number:
          cmd.dimensions.push_back({key, value.text});
          break;
        case jvalue::kind::boolean:
          cmd.dimensions.push_back({key, value.b ? "true" : "false"});
          break;
        default:
          return c.done(error_response(
              400, "invalid_request",
              "dimensions." + key + " must be a string, a number or a boolean in a price"));
      }
    }
  }
  cmd.unit_amount = *v.amount("unit_amount");
  svc(a).put_price(c.who, std::move(cmd), reply_to(c));
}

void get_price(api& a, call& c) {
  svc(a).get_price(c.who, c.params[0], reply_to(c));
}

void delete_price(api& a, call& c) {
  svc(a).delete_price(c.who, c.params[0], reply_to(c));
}

void list_prices(api& a, call& c) {
  svc(a).list_prices(c.who, name_paging(c.req.query),
                     query_value(c.req.query, "operation").value_or(""), reply_to(c));
}

void create_quote(api& a, call& c) {
  if (c.fast) return svc(a).quote(c.who, charge_from(std::move(*c.fast), c.params[0]), reply_to(c));
  svc(a).quote(c.who, decode_checked_charge(*c.body, c.params[0]), reply_to(c));
}

void put_package(api& a, call& c) {
  const body_values v = values(c);
  ledger::package_cmd cmd;
  cmd.id = c.params[0];
  cmd.credits = *v.amount("credits");
  cmd.price = *v.amount("price");
  cmd.currency = *v.string("currency");
  std::transform(cmd.currency.begin(), cmd.currency.end(), cmd.currency.begin(),
                 [](char ch) { return ch >= 'A' && ch <= 'Z' ? static_cast<char>(ch + 32) : ch; });
  cmd.validity_days = v.integer("validity_days").value_or(0);
  svc(a).put_package(c.who, std::move(cmd), reply_to(c));
}

void get_package(api& a, call& c) {
  svc(a).get_package(c.who, c.params[0], reply_to(c));
}

void list_packages(api& a, call& c) {
  svc(a).list_packages(c.who, name_paging(c.req.query), reply_to(c));
}

void create_purchase(api& a, call& c) {
  const body_values v = values(c);
  ledger::purchase_cmd cmd;
  cmd.account = c.params[0];
  cmd.package = *v.string("package");
  cmd.reason = v.string("reason").value_or("");
  svc(a).purchase(c.who, std::move(cmd), reply_to(c));
}

void list_purchases(api& a, call& c) {
  auto p = paging(c, id_kind::purchase);
  if (!p) return;
  svc(a).list_purchases(c.who, c.params[0], *p, reply_to(c));
}

void stripe_webhook(api& a, call& c) {
  svc(a).stripe_webhook(std::move(c.req.stripe_signature), std::move(c.req.body), reply_to(c));
}

void put_plan(api& a, call& c) {
  const body_values v = values(c);
  ledger::plan_cmd cmd;
  cmd.id = c.params[0];
  cmd.credits_per_period = *v.amount("credits_per_period");
  cmd.period = *ledger::parse_period_unit(*v.string("period"));
  cmd.rollover_cap = v.amount("rollover_cap");
  svc(a).put_plan(c.who, std::move(cmd), reply_to(c));
}

void get_plan(api& a, call& c) {
  svc(a).get_plan(c.who, c.params[0], reply_to(c));
}

void list_plans(api& a, call& c) {
  svc(a).list_plans(c.who, name_paging(c.req.query), reply_to(c));
}

void put_subscription(api& a, call& c) {
  const body_values v = values(c);
  ledger::subscription_cmd cmd;
  cmd.account = c.params[0];
  cmd.plan = *v.string("plan");
  cmd.start_at = v.time("start_at");
  cmd.timezone = v.string("timezone").value_or("");  // UTC, or the active one's
  svc(a).put_subscription(c.who, std::move(cmd), reply_to(c));
}

void get_subscription(api& a, call& c) {
  svc(a).get_subscription(c.who, c.params[0], reply_to(c));
}

void cancel_subscription(api& a, call& c) {
  svc(a).cancel_subscription(c.who, c.params[0], reply_to(c));
}

// ------------------------------------------------------------------ keys, clock, health

void create_api_key(api& a, call& c) {
  const body_values v = values(c);
  const auth::role r = *auth::parse_role(*v.string("role"));
  auto account = v.string("account");
  if (r == auth::role::reader && !account)
    return c.done(
        error_response(400, "invalid_request", "a reader key needs the account it may read"));
  if (r != auth::role::reader && account)
    return c.done(
        error_response(400, "invalid_request", "only reader keys are bound to an account"));
  svc(a).create_api_key(c.who, r, account.value_or(""), reply_to(c));
}

void revoke_api_key(api& a, call& c) {
  svc(a).revoke_api_key(c.who, c.params[0], reply_to(c));
}

void get_test_clock(api& a, call& c) {
  svc(a).test_clock(reply_to(c));
}

void advance_test_clock(api& a, call& c) {
  svc(a).advance_test_clock(c.who, *values(c).integer("seconds"), reply_to(c));
}

void health(api& a, call& c) {
  svc(a).health(reply_to(c));
}

void flush_store(api& a, call& c) {
  svc(a).flush_store(reply_to(c));
}

// The Prometheus text: request and billing figures, then the engine's, the
// ledger's and the log's (with one).
void render_metrics(std::string& out, const metrics& stats, const engine::engine_stats& s,
                    bool failed, const service::ledger_gauges& g,
                    const std::function<log_marks()>& log) {
  stats.render(out);
  render_engine_metrics(out, s, failed);
  render_ledger_gauges(out, g.accounts, g.open_holds, g.journal_entries);
  if (log) render_log_gauges(out, log());
}

void metrics_text(api& a, call& c) {
  metrics& stats = a.ctx().stats;
  svc(a).gauges([&stats, &log = a.ctx().log_seqs, done = std::move(c.done)](
                    engine::engine_stats s, bool failed, service::ledger_gauges g) {
    response out;
    out.content_type = "text/plain; version=0.0.4";
    render_metrics(out.body, stats, s, failed, g, log);
    done(std::move(out));
  });
}

void openapi(api& a, call& c) {
  response out;
  out.body = a.ctx().openapi();
  c.done(std::move(out));
}

struct named_handler {
  std::string_view name;
  handler_fn fn;
};

constexpr named_handler handler_table[] = {
    {"health", health},
    {"flush_store", flush_store},
    {"metrics", metrics_text},
    {"openapi", openapi},
    {"put_account", put_account},
    {"get_account", get_account},
    {"get_balance", get_balance},
    {"grant_lot", grant_lot},
    {"list_lots", list_lots},
    {"void_lot", void_lot},
    {"create_charge", create_charge},
    {"create_charge_batch", create_charge_batch},
    {"refund_charge", refund_charge},
    {"create_adjustment", create_adjustment},
    {"create_hold", create_hold},
    {"capture_hold", capture_hold},
    {"release_hold", release_hold},
    {"get_hold", get_hold},
    {"list_entries", list_entries},
    {"list_events", list_events},
    {"stream_events", stream_events},
    {"create_api_key", create_api_key},
    {"revoke_api_key", revoke_api_key},
    {"put_price", put_price},
    {"get_price", get_price},
    {"delete_price", delete_price},
    {"list_prices", list_prices},
    {"create_quote", create_quote},
    {"put_package", put_package},
    {"get_package", get_package},
    {"list_packages", list_packages},
    {"create_purchase", create_purchase},
    {"list_purchases", list_purchases},
    {"stripe_webhook", stripe_webhook},
    {"put_plan", put_plan},
    {"get_plan", get_plan},
    {"list_plans", list_plans},
    {"put_subscription", put_subscription},
    {"get_subscription", get_subscription},
    {"cancel_subscription", cancel_subscription},
    {"get_test_clock", get_test_clock},
    {"advance_test_clock", advance_test_clock},
};

}  // namespace

handler_fn find_handler(std::string_view name) {
  for (const named_handler& h : handler_table) {
    if (h.name == name) return h.fn;
  }
  return find_webhook_handler(name);
}

}  // namespace creditd::http
