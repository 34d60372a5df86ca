// Routing, access checks, request decoding and the engine tasks behind every
// endpoint of shared/spec/api.md.
#include "http/api.hpp"

#include <charconv>
#include <memory>
#include <optional>
#include <unordered_map>

#include "http/json.hpp"
#include "http/render.hpp"
#include "http/request_fields.hpp"
#include "http/route.hpp"
#include "ledger/limits.hpp"
#include "ledger/replay.hpp"
#include "ledger/validate.hpp"
#include "store/codec.hpp"
#include "util/assert.hpp"

namespace creditd::http {

namespace verb = boost::beast::http;
using ledger::id_kind;
using ledger::micros;
using ledger::time_us;

// ------------------------------------------------------------------ responses

response error_response(unsigned status, std::string_view code, std::string_view message) {
  response r;
  r.status = status;
  json_out j(r.body);
  j.begin_object().key("error").begin_object();
  // Messages may echo request bytes (an id from the path): always valid UTF-8.
  j.key("code").str(code).key("message").str(valid_utf8(message));
  j.end_object().end_object();
  return r;
}

namespace {

response ok_json(unsigned status, std::string body) {
  response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

response bad_request(std::string_view message) {
  return error_response(400, "invalid_request", message);
}

response not_found(std::string_view what, std::string_view id) {
  return error_response(404, "not_found", std::string(what) + " " + std::string(id) + " not found");
}

// The one place where ledger refusals become HTTP statuses.
response ledger_error(const ledger::error& e) {
  using ledger::errc;
  switch (e.code) {
    case errc::invalid_argument:
    case errc::refund_too_large:
      return bad_request(e.message);
    case errc::account_not_found:
      return error_response(404, "not_found", "account not found");
    case errc::lot_not_found:
      return error_response(404, "not_found", "lot not found");
    case errc::hold_not_found:
      return error_response(404, "not_found", "hold not found");
    case errc::charge_not_found:
      return error_response(404, "not_found", "charge not found");
    case errc::hold_not_open:
    case errc::lot_not_active:
    case errc::nothing_to_refund:
    case errc::limit_exceeded:
      return error_response(409, "conflict", e.message);
    case errc::idempotency_conflict:
      return error_response(409, "idempotency_conflict", e.message);
    case errc::insufficient_credits: {
      response r;
      r.status = 402;
      json_out j(r.body);
      std::string message = "insufficient credits: available " +
                            ledger::format_amount(e.available) + ", required " +
                            ledger::format_amount(e.required);
      if (e.reason == ledger::refusal_reason::reserve)
        message += " (the rest is the account's reserve)";
      if (e.reason == ledger::refusal_reason::scope)
        message += " (other credits are scoped to other operations)";
      if (e.reason == ledger::refusal_reason::postpaid_limit)
        message += " (postpaid limit reached)";
      j.begin_object().key("error").begin_object();
      j.key("code").str("insufficient_credits").key("message").str(message);
      j.key("reason").str(ledger::to_string(e.reason));
      j.key("available").amount(e.available).key("required").amount(e.required);
      j.end_object().end_object();
      return r;
    }
    case errc::rate_limited:
    case errc::too_many_open_holds: {
      const bool rate = e.code == errc::rate_limited;
      response r;
      r.status = 429;
      r.retry_after_s = rate ? e.retry_after_s : 1;
      json_out j(r.body);
      j.begin_object().key("error").begin_object();
      j.key("code").str("rate_limited");
      j.key("message").str(rate ? "rate limit exceeded: at most " + std::to_string(e.limit) +
                                      " charges and holds per minute"
                                : "too many open holds: at most " + std::to_string(e.limit));
      j.key("reason").str(rate ? "rate_limit" : "max_open_holds");
      j.key("limit").integer(e.limit);
      if (rate) j.key("retry_after").integer(e.retry_after_s);
      j.end_object().end_object();
      return r;
    }
  }
  return error_response(500, "internal", "internal error");
}

}  // namespace

bool has_bearer(std::string_view auth) {
  static constexpr std::string_view scheme = "bearer ";
  if (auth.size() <= scheme.size()) return false;
  for (std::size_t i = 0; i < scheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(auth[i])) != scheme[i]) return false;
  }
  return true;
}

// ------------------------------------------------------------------ calls and tasks

struct call {
  request req;
  done_fn done;
  std::vector<std::string> params;  // the {..} segments of the pattern, in order
  auth::principal who;
  const endpoint* ep = nullptr;
  std::optional<jvalue> body;  // parsed JSON body of a POST/PUT
  std::string fingerprint;
};

namespace {

using task_fn = std::function<response(ledger::ledger&, time_us)>;

// An engine task that runs `fn`, handles the idempotency key, and answers
// after the commit.
class api_task final : public engine::task {
 public:
  api_task(task_fn fn, done_fn done, std::string key, std::string fingerprint, bool read_only)
      : fn_(std::move(fn)),
        done_(std::move(done)),
        key_(std::move(key)),
        fingerprint_(std::move(fingerprint)),
        read_only_(read_only) {}

  bool read_only() const override { return read_only_; }

  void apply(ledger::ledger& l, time_us now) override {
    if (key_.empty()) {
      response_ = fn_(l, now);
      return;
    }
    auto found = l.idempotency_lookup(key_, fingerprint_);
    if (!found) {
      response_ = ledger_error(found.error());
      return;
    }
    if (*found != nullptr) {
      response_.status = static_cast<unsigned>((*found)->status);
      response_.body = (*found)->body;
      response_.replayed = true;
      return;
    }
    response_ = fn_(l, now);
    const unsigned s = response_.status;
    const bool recorded = !(s == 400 || s == 401 || s == 403 || s == 429 || s >= 500);
    if (recorded)
      l.idempotency_remember({key_, fingerprint_, static_cast<int>(s),
                              response_.recorded_body.value_or(response_.body), now});
  }

  void complete(bool durable) override {
    if (!durable) {
      response r = error_response(503, "unavailable",
                                  read_only_ ? "the ledger is reloading from its store"
                                             : "the ledger cannot write to its store; this "
                                               "request was not acknowledged (retry it with "
                                               "the same Idempotency-Key)");
      r.retry_after_s = 1;
      done_(std::move(r));
    } else {
      done_(std::move(response_));
    }
    delete this;
  }

 private:
  task_fn fn_;
  done_fn done_;
  std::string key_;
  std::string fingerprint_;
  bool read_only_;
  response response_;
};

void submit(api& a, call& c, task_fn fn) {
  CREDITD_ASSERT(c.ep != nullptr);
  auto* t = new api_task(std::move(fn), std::move(c.done), c.req.idempotency_key,
                         std::move(c.fingerprint), !c.ep->mutating);
  a.ctx().eng.submit(t);
}

bool reader_may_read(const call& c, std::string_view account) {
  return c.who.who != auth::role::reader || c.who.account == account;
}

response forbidden_account() {
  return error_response(403, "forbidden", "this key may only read its own account");
}

const jvalue& body_of(call& c) {
  static const jvalue empty{jvalue::kind::object};
  return c.body ? *c.body : empty;
}

// Parses "lot_12" etc. from a path segment; nullopt answers 404 itself.
std::optional<ledger::object_id> path_id(call& c, id_kind k, std::size_t index,
                                         std::string_view what) {
  auto id = ledger::parse_id(k, c.params[index]);
  if (!id) c.done(not_found(what, c.params[index]));
  return id;
}

// A query parameter's value, percent-decoded; nullopt when absent (or when
// the query's encoding is invalid).
std::optional<std::string> query_param(const call& c, std::string_view name) {
  return query_value(c.req.query, name);
}

// ?limit= (default 50, max 1000) and ?after=; nullopt means a 400 was sent.
std::optional<std::pair<std::size_t, std::string>> paging(call& c) {
  std::size_t limit = 50;
  if (auto l = query_param(c, "limit")) {
    std::size_t v = 0;
    auto [p, ec] = std::from_chars(l->data(), l->data() + l->size(), v);
    if (ec != std::errc{} || p != l->data() + l->size() || v < 1 || v > 1000) {
      c.done(bad_request("limit must be an integer from 1 to 1000"));
      return std::nullopt;
    }
    limit = v;
  }
  return std::make_pair(limit, query_param(c, "after").value_or(""));
}

// ------------------------------------------------------------------ accounts

struct settings_patch {
  std::optional<std::vector<micros>> thresholds;
  std::optional<micros> reserve, postpaid_limit;
  std::optional<std::int64_t> rate, max_holds, soon_days;
  bool auto_topup_given = false;
  std::optional<ledger::auto_topup_settings> auto_topup;
  void apply(ledger::account_settings& s) const {
    if (thresholds) s.low_balance_thresholds = *thresholds;
    if (reserve) s.reserve = *reserve;
    if (postpaid_limit) s.postpaid_limit = *postpaid_limit;
    if (rate) s.rate_limit_per_minute = *rate;
    if (max_holds) s.max_open_holds = *max_holds;
    if (soon_days) s.expiring_soon_days = *soon_days;
    if (auto_topup_given) s.auto_topup = auto_topup;
  }
};

void put_account(api& a, call& c) {
  const std::string id = c.params[0];
  if (!ledger::valid_account_id(id))
    return c.done(bad_request("account id must match [A-Za-z0-9._:-]{1,128}"));
  fields f(body_of(c));
  f.only({"name", "settings", "metadata"});
  auto name = f.string("name", ledger::limits::account_name_length_max);
  std::optional<settings_patch> patch;
  if (const jvalue* s = f.get("settings")) {
    if (!s->is_object()) return c.done(bad_request("settings must be an object"));
    fields sf(*s);
    sf.only({"low_balance_thresholds", "reserve", "postpaid_limit", "rate_limit_per_minute",
             "max_open_holds", "expiring_soon_days", "auto_topup"});
    settings_patch p;
    if (const jvalue* t = sf.get("low_balance_thresholds")) {
      if (t->type != jvalue::kind::array) {
        sf.fail("settings.low_balance_thresholds must be an array of amounts");
      } else {
        std::vector<micros> v;
        for (const jvalue& item : t->items) {
          auto x = (item.type == jvalue::kind::number || item.type == jvalue::kind::string)
                       ? ledger::parse_amount(item.text)
                       : std::expected<micros, ledger::amount_error>(
                             std::unexpected(ledger::amount_error::syntax));
          if (!x) {
            sf.fail("settings.low_balance_thresholds must hold amounts");
            break;
          }
          v.push_back(*x);
        }
        std::sort(v.begin(), v.end());
        v.erase(std::unique(v.begin(), v.end()), v.end());
        p.thresholds = std::move(v);
      }
    }
    p.reserve = sf.amount("reserve");
    p.postpaid_limit = sf.amount("postpaid_limit");
    p.rate = sf.integer("rate_limit_per_minute", 0, ledger::limits::rate_limit_per_minute_max);
    p.max_holds = sf.integer("max_open_holds", 0,
                             static_cast<std::int64_t>(ledger::limits::open_holds_per_account_max));
    p.soon_days = sf.integer("expiring_soon_days", 0, ledger::limits::expiring_soon_days_max);
    if (const jvalue* at = s->find("auto_topup")) {
      p.auto_topup_given = true;
      if (!at->is_null()) {
        if (!at->is_object()) {
          sf.fail("settings.auto_topup must be an object or null");
        } else {
          fields af(*at);
          af.only({"below", "package", "max_per_period"});
          ledger::auto_topup_settings t;
          t.below = af.amount("below").value_or(0);
          t.package = af.string("package", ledger::limits::account_id_length_max).value_or("");
          t.max_per_period = af.integer("max_per_period", 1, 1000).value_or(1);
          if (!af.ok()) sf.fail("settings.auto_topup: " + af.error());
          p.auto_topup = t;
        }
      }
    }
    if (!sf.ok())
      return c.done(
          bad_request(sf.error().starts_with("settings") ? sf.error() : "settings." + sf.error()));
    patch = p;
  }
  if (!f.ok()) return c.done(bad_request(f.error()));
  submit(a, c, [id, name, patch](ledger::ledger& l, time_us now) {
    ledger::account_cmd cmd{id, name, std::nullopt};
    if (patch) {
      const ledger::account* existing = l.find_account(id);
      ledger::account_settings s = existing ? existing->settings : ledger::account_settings{};
      patch->apply(s);
      cmd.settings = std::move(s);
    }
    auto r = l.put_account(cmd, now);
    if (!r) return ledger_error(r.error());
    response out;
    out.status = r->created ? 201 : 200;
    json_out j(out.body);
    render_account(j, l, *r->acct, now);
    return out;
  });
}

void get_account(api& a, call& c) {
  if (!reader_may_read(c, c.params[0])) return c.done(forbidden_account());
  std::string id = c.params[0];
  submit(a, c, [id](ledger::ledger& l, time_us now) {
    const ledger::account* acct = l.find_account(id);
    if (acct == nullptr) return not_found("account", id);
    response out;
    json_out j(out.body);
    render_account(j, l, *acct, now);
    return out;
  });
}

// The balance as of a past instant `at`, from the journal: each lot's
// remaining and held replayed from the entries created at or before `at`, the
// lots' validity windows at `at`, postpaid use in `at`'s month. Settings
// (reserve, postpaid limit) are taken as they are now.
response balance_at(const ledger::ledger& l, const ledger::account& acct, time_us at,
                    const std::vector<store::stored_entry>& rows) {
  std::unordered_map<ledger::object_id, ledger::lot_replay> lots;
  ledger::postpaid_replay postpaid;
  const std::int64_t period = ledger::month_index(at);
  for (const store::stored_entry& row : rows) {
    const ledger::entry& e = row.e;
    if (e.created_at > at) continue;
    // Postpaid use counts only within `at`'s billing period.
    ledger::replay_entry(e.type, e.amount, e.hold_id != 0, e.parts, lots,
                         ledger::month_index(e.created_at) == period ? &postpaid : nullptr);
  }
  micros spendable = 0, held = postpaid.held;
  response out;
  json_out j(out.body);
  j.begin_object();
  j.key("account").str(acct.id);
  std::string lots_json;
  json_out lj(lots_json);
  lj.begin_array();
  for (const ledger::lot* x : acct.lots) {
    auto it = lots.find(x->id);
    if (it == lots.end()) continue;
    held += it->second.held;
    if (x->effective_at > at || at >= x->expires_at || it->second.remaining <= 0) continue;
    spendable += it->second.remaining;
    lj.begin_object();
    lj.key("id").id(id_kind::lot, x->id);
    lj.key("kind").str(ledger::to_string(x->kind));
    lj.key("remaining").amount(it->second.remaining);
    lj.key("held").amount(it->second.held);
    lj.key("expires_at").time_or_null(x->expires_at);
    lj.key("priority").integer(x->priority);
    lj.end_object();
  }
  lj.end_array();
  const micros used = std::max<micros>(0, postpaid.used + postpaid.held);
  const micros available = std::max<micros>(0, spendable - acct.settings.reserve) +
                           std::max<micros>(0, acct.settings.postpaid_limit - used);
  j.key("available").amount(available);
  j.key("held").amount(held);
  j.key("reserve").amount(acct.settings.reserve);
  j.key("postpaid_used").amount(used);
  j.key("postpaid_limit").amount(acct.settings.postpaid_limit);
  j.key("lots").raw(lots_json);
  j.key("as_of").time(at);
  j.end_object();
  (void)l;
  return out;
}

constexpr std::size_t balance_history_entries_max = 1'000'000;

void get_balance(api& a, call& c) {
  if (!reader_may_read(c, c.params[0])) return c.done(forbidden_account());
  std::string id = c.params[0];
  std::optional<time_us> at;
  if (auto text = query_param(c, "at")) {
    at = ledger::parse_time(*text);
    if (!at) return c.done(bad_request("at must be an RFC 3339 time, e.g. 2026-11-25T10:00:00Z"));
    if (*at >= a.ctx().clock.now()) at.reset();  // now or later: the live balance
  }
  if (!at) {
    submit(a, c, [id](ledger::ledger& l, time_us now) {
      const ledger::account* acct = l.find_account(id);
      if (acct == nullptr) return not_found("account", id);
      response out;
      json_out j(out.body);
      render_balance(j, l, *acct, now);
      return out;
    });
    return;
  }
  // Every entry at or before `at` is committed (it was answered), so the
  // store's journal is complete up to `at`. The read runs on the reader pool.
  auto job = std::make_shared<call>(std::move(c));
  const time_us when = *at;
  a.ctx().run_blocking([&a, job, id, when] {
    auto rows = a.ctx().journal.entries(id, 0, balance_history_entries_max + 1);
    if (!rows) return job->done(error_response(500, "internal", "cannot read the journal"));
    if (rows->size() > balance_history_entries_max) {
      return job->done(error_response(422, "history_too_long",
                                      "the account has more than 1000000 journal entries; "
                                      "a balance as of a past time is not computed for it"));
    }
    auto shared = std::make_shared<std::vector<store::stored_entry>>(std::move(*rows));
    submit(a, *job, [id, when, shared](ledger::ledger& l, time_us) {
      const ledger::account* acct = l.find_account(id);
      if (acct == nullptr) return not_found("account", id);
      return balance_at(l, *acct, when, *shared);
    });
  });
}

// ------------------------------------------------------------------ lots

void post_lot(api& a, call& c) {
  fields f(body_of(c));
  f.only({"amount", "kind", "expires_at", "effective_at", "priority", "scope", "reason", "source",
          "cost_basis", "currency"});
  ledger::grant_cmd g;
  g.account = c.params[0];
  auto amount = f.amount("amount");
  if (f.ok() && !amount) f.fail("amount is required");
  g.amount = amount.value_or(0);
  if (auto k = f.string("kind", 16)) {
    auto kind = ledger::parse_lot_kind(*k);
    if (!kind) f.fail("kind must be prepaid, plan or promo");
    g.kind = kind.value_or(ledger::lot_kind::prepaid);
  } else if (f.ok()) {
    f.fail("kind is required (prepaid, plan or promo)");
  }
  g.expires_at = f.time("expires_at");
  g.effective_at = f.time("effective_at");
  if (auto p = f.integer("priority", 0, ledger::limits::priority_max))
    g.priority = static_cast<std::int32_t>(*p);
  if (const jvalue* s = f.get("scope")) {
    if (s->type != jvalue::kind::array) f.fail("scope must be an array of operations");
    for (const jvalue& op : s->items) {
      if (op.type != jvalue::kind::string) f.fail("scope must be an array of operations");
      g.scope.push_back(op.text);
    }
  }
  g.reason = f.string("reason", ledger::limits::reason_length_max).value_or("");
  g.source = f.string("source", ledger::limits::source_length_max).value_or("manual");
  g.cost_basis = f.amount("cost_basis").value_or(0);
  g.currency = f.string("currency", ledger::limits::currency_length_max).value_or("");
  if (!f.ok()) return c.done(bad_request(f.error()));
  submit(a, c, [g = std::move(g)](ledger::ledger& l, time_us now) {
    auto r = l.grant(g, now);
    if (!r) return ledger_error(r.error());
    response out;
    out.status = 201;
    json_out j(out.body);
    render_lot(j, **r, now);
    return out;
  });
}

void get_lots(api& a, call& c) {
  if (!reader_may_read(c, c.params[0])) return c.done(forbidden_account());
  auto page = paging(c);
  if (!page) return;
  ledger::object_id after = 0;
  if (!page->second.empty()) {
    auto id = ledger::parse_id(id_kind::lot, page->second);
    if (!id) return c.done(bad_request("after must be a cursor from a previous page"));
    after = *id;
  }
  std::string id = c.params[0];
  const std::size_t limit = page->first;
  submit(a, c, [id, after, limit](ledger::ledger& l, time_us now) {
    const ledger::account* acct = l.find_account(id);
    if (acct == nullptr) return not_found("account", id);
    response out;
    json_out j(out.body);
    j.begin_object().key("data").begin_array();
    std::size_t n = 0;
    ledger::object_id last = 0;
    bool more = false;
    for (const ledger::lot* x : acct->lots) {
      if (x->id <= after) continue;
      if (n == limit) {
        more = true;
        break;
      }
      render_lot(j, *x, now);
      last = x->id;
      ++n;
    }
    j.end_array().key("next");
    if (more) {
      j.id(id_kind::lot, last);
    } else {
      j.null();
    }
    j.end_object();
    return out;
  });
}

void void_lot(api& a, call& c) {
  auto id = path_id(c, id_kind::lot, 0, "lot");
  if (!id) return;
  fields f(body_of(c));
  f.only({"reason"});
  std::string reason = f.string("reason", ledger::limits::reason_length_max).value_or("");
  if (!f.ok()) return c.done(bad_request(f.error()));
  const ledger::object_id lot_id = *id;
  submit(a, c, [lot_id, reason](ledger::ledger& l, time_us now) {
    auto r = l.void_lot(lot_id, reason, now);
    if (!r) return ledger_error(r.error());
    response out;
    json_out j(out.body);
    render_lot(j, **r, now);
    return out;
  });
}

// ------------------------------------------------------------------ charges

response charge_response(ledger::ledger& l, std::size_t mark, unsigned status) {
  response out;
  out.status = status;
  json_out j(out.body);
  for (const ledger::entry& e : l.pending_entries_since(mark)) {
    if (e.type == ledger::entry_type::charge) render_charge(j, e, 0);
  }
  return out;
}

void post_charge(api& a, call& c) {
  std::string error;
  bool unknown_price = false;
  auto cmd = decode_charge(body_of(c), c.params[0], error, unknown_price);
  if (!cmd) {
    return c.done(unknown_price ? error_response(422, "unknown_price", error) : bad_request(error));
  }
  submit(a, c, [cmd = std::move(*cmd)](ledger::ledger& l, time_us now) {
    const std::size_t mark = l.pending_entry_count();
    auto r = l.charge(cmd, now);
    if (!r) return ledger_error(r.error());
    return charge_response(l, mark, 201);
  });
}

void post_charge_batch(api& a, call& c) {
  fields f(body_of(c));
  f.only({"charges"});
  if (!f.ok()) return c.done(bad_request(f.error()));
  const jvalue* list = f.get("charges");
  if (list == nullptr || list->type != jvalue::kind::array)
    return c.done(bad_request("charges must be an array"));
  if (list->items.empty()) return c.done(bad_request("charges must not be empty"));
  if (list->items.size() > ledger::limits::batch_charges_max) {
    return c.done(bad_request("a batch holds at most 100 charges"));
  }
  std::vector<ledger::charge_cmd> cmds;
  for (std::size_t i = 0; i < list->items.size(); ++i) {
    std::string error;
    bool unknown_price = false;
    auto cmd = decode_charge(list->items[i], c.params[0], error, unknown_price);
    if (!cmd) {
      const std::string message = "charges[" + std::to_string(i) + "]: " + error;
      return c.done(unknown_price ? error_response(422, "unknown_price", message)
                                  : bad_request(message));
    }
    cmds.push_back(std::move(*cmd));
  }
  submit(a, c, [cmds = std::move(cmds)](ledger::ledger& l, time_us now) {
    const std::size_t mark = l.pending_entry_count();
    auto r = l.charge_batch(cmds, now);
    if (!r) return ledger_error(r.error());
    response out;
    out.status = 201;
    json_out j(out.body);
    j.begin_object().key("data").begin_array();
    for (const ledger::entry& e : l.pending_entries_since(mark)) {
      if (e.type == ledger::entry_type::charge) render_charge(j, e, 0);
    }
    j.end_array().end_object();
    return out;
  });
}

void post_refund(api& a, call& c) {
  auto id = path_id(c, id_kind::charge, 0, "charge");
  if (!id) return;
  fields f(body_of(c));
  f.only({"amount", "reason"});
  ledger::refund_cmd cmd;
  cmd.charge_id = *id;
  cmd.amount = f.amount("amount");
  cmd.reason = f.string("reason", ledger::limits::reason_length_max).value_or("");
  if (!f.ok()) return c.done(bad_request(f.error()));
  submit(a, c, [cmd](ledger::ledger& l, time_us now) {
    const std::size_t mark = l.pending_entry_count();
    auto r = l.refund(cmd, now);
    if (!r) return ledger_error(r.error());
    response out;
    out.status = 201;
    json_out j(out.body);
    const ledger::entry* e = nullptr;
    for (const ledger::entry& x : l.pending_entries_since(mark)) {
      if (x.type == ledger::entry_type::refund) e = &x;
    }
    j.begin_object();
    j.key("id").id(id_kind::refund, r->refund_id);
    j.key("object").str("refund");
    j.key("charge").id(id_kind::charge, cmd.charge_id);
    j.key("account").str(r->original->owner->id);
    j.key("amount").amount(r->amount);
    j.key("charge_refunded").amount(r->original->refunded);
    j.key("lots");
    render_parts(j, r->parts);
    j.key("postpaid").amount(postpaid_part(r->parts));
    j.key("balance_after").amount(e ? e->balance_after : 0);
    j.key("reason").str(cmd.reason);
    j.key("entry").id(id_kind::entry, e ? e->seq : 0);
    j.key("created_at").time(now);
    j.end_object();
    return out;
  });
}

void post_adjustment(api& a, call& c) {
  fields f(body_of(c));
  f.only({"amount", "reason"});
  ledger::adjust_cmd cmd;
  cmd.account = c.params[0];
  auto amount = f.amount("amount", ledger::sign_policy::signed_allowed);
  if (f.ok() && !amount) f.fail("amount is required");
  cmd.amount = amount.value_or(0);
  cmd.reason = f.string("reason", ledger::limits::reason_length_max).value_or("");
  if (f.ok() && cmd.reason.empty()) f.fail("reason is required");
  if (!f.ok()) return c.done(bad_request(f.error()));
  submit(a, c, [cmd](ledger::ledger& l, time_us now) {
    const std::size_t mark = l.pending_entry_count();
    auto r = l.adjust(cmd, now);
    if (!r) return ledger_error(r.error());
    response out;
    out.status = 201;
    json_out j(out.body);
    for (const ledger::entry& e : l.pending_entries_since(mark)) {
      if (e.seq == *r) render_entry(j, e, cmd.account);
    }
    return out;
  });
}

// ------------------------------------------------------------------ holds

void post_hold(api& a, call& c) {
  fields f(body_of(c));
  f.only({"operation", "dimensions", "quantity", "amount", "reference", "urgent", "ttl_seconds",
          "metadata"});
  spend_fields s = read_spend(f);
  const std::int64_t ttl = f.integer("ttl_seconds", ledger::limits::hold_ttl_seconds_min,
                                     ledger::limits::hold_ttl_seconds_max)
                               .value_or(ledger::limits::hold_ttl_seconds_default);
  if (!f.ok()) return c.done(bad_request(f.error()));
  if (!s.amount) return c.done(error_response(422, "unknown_price", no_price(s.operation)));
  ledger::hold_cmd cmd{c.params[0],
                       *s.amount,
                       std::move(s.operation),
                       std::move(s.dimensions),
                       std::move(s.reference),
                       s.urgent,
                       ttl};
  submit(a, c, [cmd = std::move(cmd)](ledger::ledger& l, time_us now) {
    auto r = l.place_hold(cmd, now);
    if (!r) return ledger_error(r.error());
    response out;
    out.status = 201;
    json_out j(out.body);
    render_hold(j, l, **r, now, nullptr);
    return out;
  });
}

void capture_hold(api& a, call& c) {
  auto id = path_id(c, id_kind::hold, 0, "hold");
  if (!id) return;
  fields f(body_of(c));
  f.only({"amount"});
  auto amount = f.amount("amount");
  if (!f.ok()) return c.done(bad_request(f.error()));
  const ledger::object_id hold_id = *id;
  submit(a, c, [hold_id, amount](ledger::ledger& l, time_us now) {
    const std::size_t mark = l.pending_entry_count();
    auto r = l.capture(hold_id, amount, now);
    if (!r) return ledger_error(r.error());
    // The charge shows the balance after the whole capture, the uncaptured
    // remainder returned included (the entries after the capture entry).
    std::optional<ledger::entry> capture;
    micros balance_after = 0;
    for (const ledger::entry& e : l.pending_entries_since(mark)) {
      if (e.type == ledger::entry_type::capture) capture = e;
      balance_after = e.balance_after;
    }
    if (capture) capture->balance_after = balance_after;
    response out;
    json_out j(out.body);
    render_hold(j, l, **r, now, capture ? &*capture : nullptr);
    return out;
  });
}

void release_hold(api& a, call& c) {
  auto id = path_id(c, id_kind::hold, 0, "hold");
  if (!id) return;
  fields f(body_of(c));
  f.only({});
  if (!f.ok()) return c.done(bad_request(f.error()));
  const ledger::object_id hold_id = *id;
  submit(a, c, [hold_id](ledger::ledger& l, time_us now) {
    auto r = l.release(hold_id, now);
    if (!r) return ledger_error(r.error());
    response out;
    json_out j(out.body);
    render_hold(j, l, **r, now, nullptr);
    return out;
  });
}

void get_hold(api& a, call& c) {
  auto id = path_id(c, id_kind::hold, 0, "hold");
  if (!id) return;
  const ledger::object_id hold_id = *id;
  const auth::principal who = c.who;
  std::string text = c.params[0];
  submit(a, c, [hold_id, who, text](ledger::ledger& l, time_us now) {
    const ledger::hold* h = l.find_hold(hold_id);
    if (h == nullptr) return not_found("hold", text);
    if (who.who == auth::role::reader && who.account != h->owner->id) return forbidden_account();
    response out;
    json_out j(out.body);
    render_hold(j, l, *h, now, nullptr);
    return out;
  });
}

// ------------------------------------------------------------------ journal

void get_entries(api& a, call& c) {
  if (!reader_may_read(c, c.params[0])) return c.done(forbidden_account());
  auto page = paging(c);
  if (!page) return;
  std::uint64_t after = 0;
  if (!page->second.empty()) {
    auto id = ledger::parse_id(id_kind::entry, page->second);
    if (!id) return c.done(bad_request("after must be a cursor from a previous page"));
    after = *id;
  }
  const std::string account = c.params[0];
  const std::size_t limit = page->first;
  // Existence is checked through the engine (so a fresh account is seen);
  // the rows come from the store, which holds every answered write.
  auto& journal = a.ctx().journal;
  auto& run_blocking = a.ctx().run_blocking;
  done_fn done = std::move(c.done);
  c.done = [account, after, limit, &journal, &run_blocking, done](response r) {
    if (r.status != 200) return done(std::move(r));
    run_blocking([account, after, limit, &journal, done] {
      auto rows = journal.entries(account, after, limit + 1);
      if (!rows) return done(error_response(500, "internal", "cannot read the journal"));
      const bool more = rows->size() > limit;
      if (more) rows->pop_back();
      response out;
      json_out j(out.body);
      j.begin_object().key("data").begin_array();
      for (const store::stored_entry& s : *rows)
        render_entry(j, s.e, s.account);
      j.end_array().key("next");
      if (more) {
        j.id(id_kind::entry, rows->back().e.seq);
      } else {
        j.null();
      }
      j.end_object();
      done(std::move(out));
    });
  };
  c.req.idempotency_key.clear();
  submit(a, c, [account](ledger::ledger& l, time_us) {
    if (l.find_account(account) == nullptr) return not_found("account", account);
    return ok_json(200, "");
  });
}

// ------------------------------------------------------------------ keys, clock, health

void post_api_key(api& a, call& c) {
  fields f(body_of(c));
  f.only({"role", "account"});
  auto role_text = f.string("role", 16);
  auto account = f.string("account", ledger::limits::account_id_length_max);
  if (!f.ok()) return c.done(bad_request(f.error()));
  auto who = role_text ? auth::parse_role(*role_text) : std::nullopt;
  if (!who) return c.done(bad_request("role must be admin, service or reader"));
  if (*who == auth::role::reader && (!account || !ledger::valid_account_id(*account))) {
    return c.done(bad_request("a reader key needs the account it may read"));
  }
  if (*who != auth::role::reader && account)
    return c.done(bad_request("only reader keys are bound to an account"));
  // Through the engine, so that an Idempotency-Key is honoured; the record
  // keeps the response without the secret (keys are stored only as hashes).
  auth::key_store& keys = a.ctx().keys;
  const auth::role r = *who;
  std::string bound = account.value_or("");
  submit(a, c, [&keys, r, bound](ledger::ledger&, time_us now) {
    auto created = keys.create(r, bound, now);
    if (!created) return error_response(503, "unavailable", "cannot store the key");
    auto render = [&](bool with_key) {
      std::string body;
      json_out j(body);
      j.begin_object();
      j.key("id").str(created->first.id);
      j.key("object").str("api_key");
      j.key("key");
      if (with_key) {
        j.str(created->second);
      } else {
        j.null();
        j.key("key_withheld")
            .str(
                "a replay does not show the key again; revoke this key and create another if it "
                "was lost");
      }
      j.key("role").str(auth::to_string(created->first.who));
      j.key("account");
      if (created->first.account.empty()) {
        j.null();
      } else {
        j.str(created->first.account);
      }
      j.key("created_at").time(created->first.created_at);
      j.end_object();
      return body;
    };
    response out;
    out.status = 201;
    out.body = render(true);
    out.recorded_body = render(false);
    return out;
  });
}

void delete_api_key(api& a, call& c) {
  auto r = a.ctx().keys.revoke(c.params[0], a.ctx().clock.now());
  if (!r) return c.done(error_response(503, "unavailable", "cannot store the revocation"));
  if (!*r) return c.done(not_found("api key", c.params[0]));
  response out;
  json_out j(out.body);
  j.begin_object()
      .key("id")
      .str(c.params[0])
      .key("object")
      .str("api_key")
      .key("deleted")
      .boolean(true)
      .end_object();
  c.done(std::move(out));
}

void get_test_clock(api& a, call& c) {
  if (!a.ctx().clock.is_test()) return c.done(not_found("route", c.req.path));
  response out;
  json_out j(out.body);
  j.begin_object().key("now").time(a.ctx().clock.now()).end_object();
  c.done(std::move(out));
}

void advance_test_clock(api& a, call& c) {
  if (!a.ctx().clock.is_test()) return c.done(not_found("route", c.req.path));
  fields f(body_of(c));
  f.only({"seconds"});
  auto seconds = f.integer("seconds", 0, 100LL * 365 * 86400);
  if (f.ok() && !seconds) f.fail("seconds is required");
  if (!f.ok()) return c.done(bad_request(f.error()));
  server_clock& clock = a.ctx().clock;
  const time_us delta = *seconds * ledger::us_per_second;
  // The move and the jobs it makes due run on the writer, in order with the
  // requests around it.
  submit(a, c, [&clock, delta](ledger::ledger& l, time_us) {
    const time_us now = clock.advance(delta);
    l.run_due(now);
    response out;
    json_out j(out.body);
    j.begin_object().key("now").time(now).end_object();
    return out;
  });
}

void get_health(api& a, call& c) {
  response out;
  // Degraded: writes are refused, reads are served from the last commit, and
  // the engine probes the store every second until it takes writes again.
  const bool failed = a.ctx().eng.failed();
  out.status = failed ? 503 : 200;
  json_out j(out.body);
  j.begin_object().key("status").str(failed ? "degraded" : "ok");
  if (failed) {
    j.key("error").str("the store refuses writes: " + a.ctx().eng.failure());
    j.key("writes").str("refused").key("reads").str("served from the last commit");
  }
  j.end_object();
  c.done(std::move(out));
}

void get_metrics(api& a, call& c) {
  response out;
  out.content_type = "text/plain; version=0.0.4";
  a.ctx().stats.render(out.body);
  const engine::engine_stats s = a.ctx().eng.stats();
  out.body += "# TYPE creditd_commits_total counter\ncreditd_commits_total " +
              std::to_string(s.commits) + "\n";
  out.body += "# TYPE creditd_committed_tasks_total counter\ncreditd_committed_tasks_total " +
              std::to_string(s.tasks) + "\n";
  out.body += "# TYPE creditd_commit_seconds_total counter\ncreditd_commit_seconds_total " +
              std::to_string(static_cast<double>(s.commit_us_total) / 1e6) + "\n";
  out.body += "# TYPE creditd_commit_seconds_max gauge\ncreditd_commit_seconds_max " +
              std::to_string(static_cast<double>(s.commit_us_max) / 1e6) + "\n";
  out.body += "# TYPE creditd_commit_batch_tasks_max gauge\ncreditd_commit_batch_tasks_max " +
              std::to_string(s.batch_tasks_max) + "\n";
  out.body += "# TYPE creditd_store_failed gauge\ncreditd_store_failed " +
              std::string(a.ctx().eng.failed() ? "1" : "0") + "\n";
  // Ledger gauges are read on the writer thread.
  done_fn done = std::move(c.done);
  c.done = [done, head = std::move(out.body)](response r) {
    response final;
    final.content_type = "text/plain; version=0.0.4";
    final.body = head + r.body;
    done(std::move(final));
  };
  c.req.idempotency_key.clear();
  submit(a, c, [](ledger::ledger& l, time_us) {
    response r;
    r.body = "# TYPE creditd_accounts gauge\ncreditd_accounts " +
             std::to_string(l.account_count()) + "\n";
    r.body += "# TYPE creditd_open_holds gauge\ncreditd_open_holds " +
              std::to_string(l.open_hold_count()) + "\n";
    r.body += "# TYPE creditd_journal_entries gauge\ncreditd_journal_entries " +
              std::to_string(l.next_seq() - 1) + "\n";
    return r;
  });
}

void get_openapi(api& a, call& c) {
  response out;
  out.body = a.ctx().openapi();
  c.done(std::move(out));
}

constexpr endpoint endpoint_table[] = {
    {verb::verb::get, "/healthz", access::open, get_health, "Liveness and store health", false},
    {verb::verb::get, "/metrics", access::open, get_metrics, "Prometheus metrics", false},
    {verb::verb::get, "/openapi.json", access::open, get_openapi, "This API as OpenAPI 3", false},
    {verb::verb::put, "/v1/accounts/{id}", access::admin, put_account,
     "Create or update an account", true},
    {verb::verb::get, "/v1/accounts/{id}", access::reader_own, get_account,
     "An account with its balance", false},
    {verb::verb::get, "/v1/accounts/{id}/balance", access::reader_own, get_balance,
     "The account's balance", false},
    {verb::verb::post, "/v1/accounts/{id}/lots", access::admin, post_lot, "Grant a lot of credits",
     true},
    {verb::verb::get, "/v1/accounts/{id}/lots", access::reader_own, get_lots, "The account's lots",
     false},
    {verb::verb::post, "/v1/lots/{lot_id}/void", access::admin, void_lot,
     "Void a lot's remaining credits", true},
    {verb::verb::post, "/v1/accounts/{id}/charges", access::service, post_charge,
     "Charge credits now", true},
    {verb::verb::post, "/v1/accounts/{id}/charges:batch", access::service, post_charge_batch,
     "Several charges, all or none", true},
    {verb::verb::post, "/v1/charges/{charge_id}/refund", access::service, post_refund,
     "Refund a charge", true},
    {verb::verb::post, "/v1/accounts/{id}/adjustments", access::admin, post_adjustment,
     "An operator's signed adjustment", true},
    {verb::verb::post, "/v1/accounts/{id}/holds", access::service, post_hold, "Reserve credits",
     true},
    {verb::verb::post, "/v1/holds/{hold_id}/capture", access::service, capture_hold,
     "Capture a hold", true},
    {verb::verb::post, "/v1/holds/{hold_id}/release", access::service, release_hold,
     "Release a hold", true},
    {verb::verb::get, "/v1/holds/{hold_id}", access::any_key, get_hold, "A hold", false},
    {verb::verb::get, "/v1/accounts/{id}/entries", access::reader_own, get_entries,
     "The account's journal", false},
    {verb::verb::post, "/v1/api-keys", access::admin, post_api_key,
     "Create an API key (shown once)", true},
    {verb::verb::delete_, "/v1/api-keys/{key_id}", access::admin, delete_api_key,
     "Revoke an API key", true},
    {verb::verb::get, "/v1/test-clock", access::any_key, get_test_clock,
     "The test clock (with --test-clock)", false},
    {verb::verb::post, "/v1/test-clock/advance", access::admin, advance_test_clock,
     "Move the test clock forward and run what became due", true},
};

}  // namespace

std::span<const endpoint> endpoints() {
  return endpoint_table;
}

std::string_view api::handle(request req, done_fn done) {
  call c;
  c.req = std::move(req);
  c.done = std::move(done);
  // Answers early with `r` and names the route for the metrics.
  auto finish = [](call& c, response r) -> std::string_view {
    c.done(std::move(r));
    return c.ep != nullptr ? c.ep->pattern : std::string_view("(unmatched)");
  };
  bool path_known = false;
  for (const endpoint& ep : endpoint_table) {
    if (!match_route(ep.pattern, c.req.path, c.params)) continue;
    path_known = true;
    if (ep.method != c.req.method) continue;
    c.ep = &ep;
    break;
  }
  if (c.ep != nullptr && !decode_path_params(c.params))
    return finish(c, bad_request("the path has invalid percent-encoding"));
  if (c.ep == nullptr) {
    if (path_known)
      return finish(
          c, error_response(405, "method_not_allowed", "method not allowed on " + c.req.path));
    return finish(c, not_found("route", c.req.path));
  }
  const endpoint& ep = *c.ep;
  if (ep.need != access::open) {
    std::string_view auth = c.req.authorization;
    // The scheme name is case-insensitive (RFC 9110).
    if (!has_bearer(auth)) {
      return finish(c, error_response(401, "unauthenticated", "send Authorization: Bearer KEY"));
    }
    auto who = ctx_.keys.authenticate(auth.substr(7));
    if (!who) return finish(c, error_response(401, "unauthenticated", "the API key is not valid"));
    c.who = std::move(*who);
    const auth::role r = c.who.who;
    const bool allowed = r == auth::role::admin ||
                         (ep.need == access::service && r == auth::role::service) ||
                         ((ep.need == access::reader_own || ep.need == access::any_key) && true);
    if (!allowed) {
      return finish(c, error_response(403, "forbidden",
                                      "this key's role (" + std::string(auth::to_string(r)) +
                                          ") may not call " + std::string(ep.pattern)));
    }
  }
  if (ep.mutating && ep.method != verb::verb::delete_) {
    std::string_view body = c.req.body;
    while (!body.empty() && (body.front() == ' ' || body.front() == '\n' || body.front() == '\r' ||
                             body.front() == '\t')) {
      body.remove_prefix(1);
    }
    if (!body.empty()) {
      json_error error;
      c.body = parse_json(c.req.body, error);
      if (!c.body) return finish(c, bad_request(error.message));
      if (!c.body->is_object()) return finish(c, bad_request("the body must be a JSON object"));
    }
    if (!c.req.idempotency_key.empty()) {
      if (c.req.idempotency_key.size() > ledger::limits::idempotency_key_length_max) {
        return finish(c, bad_request("Idempotency-Key is longer than 255 bytes"));
      }
      std::string canonical(ep.pattern);
      canonical += '\n';
      for (const std::string& p : c.params)
        canonical += p + '\n';
      if (c.body) write_canonical(canonical, *c.body);
      c.fingerprint = auth::sha256_hex(canonical);
    }
  } else {
    c.req.idempotency_key.clear();
  }
  ep.fn(*this, c);
  return ep.pattern;
}

}  // namespace creditd::http
