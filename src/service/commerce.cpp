// The service's commerce commands: the catalog (prices, packages, plans),
// quotes, purchases (the API's and Stripe's webhook), subscriptions. Each
// runs as an engine task and answers after the commit that holds it.
#include <future>
#include <memory>
#include <unordered_set>

#include "billing/stripe_event.hpp"
#include "billing/stripe_signature.hpp"
#include "ledger/limits.hpp"
#include "service/render.hpp"
#include "service/service.hpp"
#include "util/assert.hpp"

namespace creditd::service {

using ledger::id_kind;
using ledger::micros;
using ledger::time_us;

namespace {

// A page of a name-keyed map: `render` each value after `p.after` for which
// `keep` holds, at most p.limit, and the cursor.
template <typename Each>
reply name_list(const name_page& p, Each&& each) {
  reply out;
  json_out j(out.body);
  j.begin_object().key("data").begin_array();
  std::size_t n = 0;
  std::string last;
  bool more = false;
  each([&](const std::string& id, auto&& render) {
    if (more || (!p.after.empty() && id <= p.after)) return;
    if (n == p.limit) {
      more = true;
      return;
    }
    render(j);
    last = id;
    ++n;
  });
  j.end_array().key("next");
  if (more) {
    j.str(last);
  } else {
    j.null();
  }
  j.end_object();
  return out;
}

bool same_price(const ledger::price& p, const ledger::price_cmd& cmd) {
  ledger::dimension_list dims = cmd.dimensions;
  ledger::sort_dimensions(dims);
  return p.operation == cmd.operation && p.dimensions == dims && p.unit_amount == cmd.unit_amount;
}

reply price_conflict(const ledger::ledger& l, const ledger::price_cmd& cmd) {
  const ledger::price* other = l.conflicting_price(cmd);
  std::string message = "price " + cmd.id + " conflicts";
  if (other != nullptr) {
    message += " with price " + other->id + ": both are for " + cmd.operation + " with " +
               std::to_string(other->dimensions.size()) +
               " dimension(s) and could match the same charge, so neither would be the most "
               "specific; make one more specific or make them differ on a shared dimension";
  }
  return error_reply(409, "conflict", message);
}

}  // namespace

// ------------------------------------------------------------------ prices

void service::put_price(const caller& c, ledger::price_cmd cmd, reply_fn done) {
  submit(
      c, false,
      [cmd = std::move(cmd)](ledger::ledger& l, time_us now) {
        auto r = l.put_price(cmd, now);
        if (!r) {
          if (r.error().code == ledger::errc::conflict) return price_conflict(l, cmd);
          return ledger_error(r.error());
        }
        reply out = json_reply(r->created ? 201 : 200, "");
        json_out j(out.body);
        render_price(j, *r->value);
        return out;
      },
      std::move(done));
}

void service::get_price(const caller& c, std::string id, reply_fn done) {
  submit(
      c, true,
      [id = std::move(id)](ledger::ledger& l, time_us) {
        const ledger::price* p = l.find_price(id);
        if (p == nullptr) return not_found("price", id);
        reply out;
        json_out j(out.body);
        render_price(j, *p);
        return out;
      },
      std::move(done));
}

void service::delete_price(const caller& c, std::string id, reply_fn done) {
  submit(
      c, false,
      [id = std::move(id)](ledger::ledger& l, time_us) {
        if (l.find_price(id) == nullptr) return not_found("price", id);
        auto r = l.delete_price(id);
        if (!r) return ledger_error(r.error());
        reply out;
        json_out j(out.body);
        j.begin_object().key("id").str(id).key("object").str("price");
        j.key("deleted").boolean(true).end_object();
        return out;
      },
      std::move(done));
}

void service::list_prices(const caller& c, name_page p, std::string operation, reply_fn done) {
  submit(
      c, true,
      [p = std::move(p), operation = std::move(operation)](ledger::ledger& l, time_us) {
        return name_list(p, [&](auto&& visit) {
          l.for_each_price([&](const ledger::price& x) {
            if (!operation.empty() && x.operation != operation) return;
            visit(x.id, [&](json_out& j) { render_price(j, x); });
          });
        });
      },
      std::move(done));
}

// ------------------------------------------------------------------ packages and plans

void service::put_package(const caller& c, ledger::package_cmd cmd, reply_fn done) {
  submit(
      c, false,
      [cmd = std::move(cmd)](ledger::ledger& l, time_us now) {
        auto r = l.put_package(cmd, now);
        if (!r) return ledger_error(r.error());
        reply out = json_reply(r->created ? 201 : 200, "");
        json_out j(out.body);
        render_package(j, *r->value);
        return out;
      },
      std::move(done));
}

void service::get_package(const caller& c, std::string id, reply_fn done) {
  submit(
      c, true,
      [id = std::move(id)](ledger::ledger& l, time_us) {
        const ledger::package* p = l.find_package(id);
        if (p == nullptr) return not_found("package", id);
        reply out;
        json_out j(out.body);
        render_package(j, *p);
        return out;
      },
      std::move(done));
}

void service::list_packages(const caller& c, name_page p, reply_fn done) {
  submit(
      c, true,
      [p = std::move(p)](ledger::ledger& l, time_us) {
        return name_list(p, [&](auto&& visit) {
          l.for_each_package([&](const ledger::package& x) {
            visit(x.id, [&](json_out& j) { render_package(j, x); });
          });
        });
      },
      std::move(done));
}

void service::put_plan(const caller& c, ledger::plan_cmd cmd, reply_fn done) {
  submit(
      c, false,
      [cmd = std::move(cmd)](ledger::ledger& l, time_us now) {
        auto r = l.put_plan(cmd, now);
        if (!r) return ledger_error(r.error());
        reply out = json_reply(r->created ? 201 : 200, "");
        json_out j(out.body);
        render_plan(j, *r->value);
        return out;
      },
      std::move(done));
}

void service::get_plan(const caller& c, std::string id, reply_fn done) {
  submit(
      c, true,
      [id = std::move(id)](ledger::ledger& l, time_us) {
        const ledger::plan* p = l.find_plan(id);
        if (p == nullptr) return not_found("plan", id);
        reply out;
        json_out j(out.body);
        render_plan(j, *p);
        return out;
      },
      std::move(done));
}

void service::list_plans(const caller& c, name_page p, reply_fn done) {
  submit(
      c, true,
      [p = std::move(p)](ledger::ledger& l, time_us) {
        return name_list(p, [&](auto&& visit) {
          l.for_each_plan(
              [&](const ledger::plan& x) { visit(x.id, [&](json_out& j) { render_plan(j, x); }); });
        });
      },
      std::move(done));
}

std::string service::apply_catalog(const std::vector<ledger::price_cmd>& prices,
                                   const std::vector<ledger::package_cmd>& packages,
                                   const std::vector<ledger::plan_cmd>& plans) {
  auto result = std::make_shared<std::promise<std::string>>();
  auto answer = result->get_future();
  auto problem = std::make_shared<std::string>();  // what was refused, in words
  submit(
      caller{}, false,
      [&prices, &packages, &plans, problem](ledger::ledger& l, time_us now) {
        auto refuse = [&](std::string what) {
          *problem = std::move(what);
          return error_reply(400, "catalog", *problem);
        };
        // All or nothing: a price of the file that could match the same
        // charges as a stored price the file leaves alone is refused before
        // anything is written (the file's own prices were checked against
        // each other when it was read).
        std::unordered_set<std::string_view> in_file;
        for (const ledger::price_cmd& p : prices)
          in_file.insert(p.id);
        for (const ledger::price_cmd& p : prices) {
          const ledger::price* other = l.conflicting_price(p);
          if (other != nullptr && !in_file.contains(other->id)) {
            return refuse("price " + p.id + " conflicts with price " + other->id +
                          " in the store: both could match the same charge with as many "
                          "dimensions (change or delete one: DELETE /v1/prices/{id}); nothing "
                          "of the catalog was written");
          }
        }
        // Packages and plans first: nothing in them can conflict.
        for (const ledger::package_cmd& p : packages) {
          const ledger::package* have = l.find_package(p.id);
          if (have && have->credits == p.credits && have->price == p.price &&
              have->currency == p.currency && have->validity_days == p.validity_days) {
            continue;
          }
          if (auto r = l.put_package(p, now); !r)
            return refuse("package " + p.id + ": " + r.error().message);
        }
        for (const ledger::plan_cmd& p : plans) {
          const ledger::plan* have = l.find_plan(p.id);
          if (have && have->credits_per_period == p.credits_per_period &&
              have->period == p.period && have->rollover_cap == p.rollover_cap) {
            continue;
          }
          if (auto r = l.put_plan(p, now); !r)
            return refuse("plan " + p.id + ": " + r.error().message);
        }
        // A price of the file may conflict with the old version of another
        // price of the file until that one is written: those wait, and if
        // they wait on each other (two prices trading dimensions), their old
        // versions are deleted first (the file's prices agree with each other).
        std::vector<const ledger::price_cmd*> waiting;
        for (const ledger::price_cmd& p : prices) {
          const ledger::price* have = l.find_price(p.id);
          if (!(have && same_price(*have, p))) waiting.push_back(&p);
        }
        while (!waiting.empty()) {
          std::vector<const ledger::price_cmd*> still;
          for (const ledger::price_cmd* p : waiting) {
            if (auto r = l.put_price(*p, now); !r) {
              if (r.error().code != ledger::errc::conflict)
                return refuse("price " + p->id + ": " + r.error().message);
              still.push_back(p);
            }
          }
          if (still.size() == waiting.size()) {
            for (const ledger::price_cmd* p : still) {
              if (l.find_price(p->id) != nullptr) (void)l.delete_price(p->id);
            }
            for (const ledger::price_cmd* p : still) {
              // Checked above: no conflict is left.
              if (auto r = l.put_price(*p, now); !r)
                return refuse("price " + p->id + ": " + r.error().message);
            }
            still.clear();
          }
          waiting = std::move(still);
        }
        return json_reply(200, "");
      },
      [result, problem](reply r) {
        if (r.status == 200) return result->set_value("");
        result->set_value(problem->empty() ? "the store refused the catalog (HTTP " +
                                                 std::to_string(r.status) + ")"
                                           : *problem);
      });
  return answer.get();
}

// ------------------------------------------------------------------ quotes and purchases

void service::quote(const caller& c, ledger::charge_cmd cmd, reply_fn done) {
  std::string on = cmd.account;
  submit_on(
      c, std::move(on), false,
      [cmd = std::move(cmd)](ledger::ledger& l, time_us now) {
        if (l.find_account(cmd.account) == nullptr) return not_found("account", cmd.account);
        auto r = l.quote(cmd, now);
        if (!r) return spend_error(r.error(), cmd.operation, cmd.dimensions);
        reply out;
        json_out j(out.body);
        j.begin_object();
        j.key("object").str("quote");
        j.key("account").str(cmd.account);
        j.key("operation").str(cmd.operation);
        j.key("quantity").amount(cmd.quantity);
        j.key("amount").amount(r->cost.amount);
        j.key("price");
        if (r->cost.price_id.empty()) {
          j.null().key("unit_amount").null();
        } else {
          j.str(r->cost.price_id).key("unit_amount").amount(r->cost.unit_amount);
        }
        j.key("affordable").boolean(r->affordable);
        j.key("reason");
        if (r->affordable) {
          j.null();
        } else {
          j.str(ledger::to_string(r->reason));
        }
        j.key("available").amount(r->available);
        j.key("balance_after").amount(r->balance_after);
        j.key("as_of").time(now);
        j.end_object();
        return out;
      },
      std::move(done));
}

void service::purchase(const caller& c, ledger::purchase_cmd cmd, reply_fn done) {
  std::string on = cmd.account;
  submit_on(
      c, std::move(on), false,
      [cmd = std::move(cmd)](ledger::ledger& l, time_us now) {
        if (l.find_account(cmd.account) == nullptr) return not_found("account", cmd.account);
        if (l.find_package(cmd.package) == nullptr) return not_found("package", cmd.package);
        auto r = l.purchase(cmd, now);
        if (!r) return ledger_error(r.error());
        CREDITD_ASSERT(!r->duplicate);  // no external id through the API
        reply out = json_reply(201, "");
        out.granted_kind = ledger::lot_kind::prepaid;
        out.granted_micros = r->made.credits;
        json_out j(out.body);
        const ledger::account* acct = l.find_account(cmd.account);
        render_purchase(j, r->made, r->granted, now, l.balance(*acct, now).available);
        return out;
      },
      std::move(done));
}

void service::list_purchases(const caller& c, std::string account, page p, reply_fn done) {
  auto& journal = ctx_.journal;
  store_page(
      c, std::move(account), p, id_kind::purchase,
      [&journal](const std::string& acct, std::uint64_t after,
                 std::size_t limit) -> std::optional<std::vector<page_row>> {
        auto rows = journal.purchases(acct, after, limit);
        if (!rows) return std::nullopt;
        std::vector<page_row> out;
        out.reserve(rows->size());
        for (const ledger::purchase& x : *rows) {
          page_row row{x.id, {}};
          json_out j(row.json);
          render_purchase(j, x, nullptr, 0, 0);
          out.push_back(std::move(row));
        }
        return out;
      },
      std::move(done));
}

void service::stripe_webhook(std::string signature, std::string body, reply_fn done) {
  if (ctx_.stripe_webhook_secret.empty()) {
    return done(error_reply(503, "not_configured",
                            "Stripe webhooks are not configured: start creditd with "
                            "--stripe-webhook-secret or CREDITD_STRIPE_WEBHOOK_SECRET"));
  }
  if (signature.empty()) {
    return done(error_reply(400, "invalid_signature",
                            "the Stripe-Signature header is missing; nothing was recorded"));
  }
  // Stripe stamps its signatures with the real time. A test clock's server
  // also takes a timestamp near the test clock (a test signing as Stripe
  // would at that instant, a retry "a week later"): either is within the
  // tolerance.
  auto verify = [&](std::int64_t now_us) {
    return billing::verify_stripe_signature(signature, body, ctx_.stripe_webhook_secret,
                                            now_us / ledger::us_per_second);
  };
  auto ok = verify(ctx_.clock.wall_now());
  if (!ok && ok.error() == billing::stripe_signature_error::outside_tolerance &&
      ctx_.clock.is_test()) {
    ok = verify(ctx_.clock.now());
  }
  if (!ok) {
    return done(error_reply(400, "invalid_signature",
                            "Stripe-Signature: " + std::string(billing::to_string(ok.error())) +
                                "; nothing was recorded"));
  }
  auto event = billing::parse_stripe_event(body);
  if (!event) return done(error_reply(400, "invalid_request", "the event: " + event.error()));
  if (!billing::records_purchase(*event)) {
    reply out;
    json_out j(out.body);
    j.begin_object().key("received").boolean(true).key("event").str(event->id);
    j.key("type").str(event->type).key("outcome").str("ignored");
    j.key("purchase").null().end_object();
    return done(std::move(out));
  }
  if (event->account.empty() || event->package.empty()) {
    return done(error_reply(400, "invalid_request",
                            "event " + event->id +
                                ": the checkout session needs metadata.account and "
                                "metadata.package (set them when creating the session)"));
  }
  ledger::purchase_cmd cmd;
  cmd.account = event->account;
  cmd.package = event->package;
  cmd.source = ledger::purchase_source::stripe;
  cmd.external_id = event->id;
  cmd.reason = "stripe " + (event->session_id.empty() ? event->id : event->session_id);
  // The ledger holds the external ids of recent purchases only: one it does
  // not hold is looked up in the store, pinned meanwhile (service.cpp, "What
  // the ledger forgot"), so that a purchase of it made after the pin is in
  // memory when this runs again.
  auto f = std::make_shared<forgotten_reads>();
  with_forgotten(
      caller{}, f,
      [cmd = std::move(cmd), ev = std::move(*event), f](ledger::ledger& l, time_us now) {
        auto answer = [&](std::string_view outcome, const ledger::purchase_result* r) {
          reply out;
          json_out j(out.body);
          j.begin_object().key("received").boolean(true).key("event").str(ev.id);
          j.key("type").str(ev.type).key("outcome").str(outcome);
          j.key("purchase");
          if (r != nullptr) {
            const ledger::account* acct = l.find_account(cmd.account);
            render_purchase(j, r->made, r->granted, now, l.balance(*acct, now).available);
          } else {
            j.null();
          }
          j.end_object();
          return out;
        };
        if (!f->error.empty()) {
          f->unpin_all(l);
          return forgotten_reads::failure("purchase", "of event " + ev.id, f->error);
        }
        // A recorded event's account and package exist (neither is ever
        // removed, so no run that finds them missing holds a pin): the
        // ledger's purchase says when it is a duplicate.
        if (l.find_account(cmd.account) == nullptr) {
          return error_reply(404, "not_found",
                             "event " + ev.id + ": account " + cmd.account +
                                 " (metadata.account) not found; nothing was recorded");
        }
        if (l.find_package(cmd.package) == nullptr) {
          return error_reply(404, "not_found",
                             "event " + ev.id + ": package " + cmd.package +
                                 " (metadata.package) not found; nothing was recorded");
        }
        if (!l.external_id_seen(cmd.external_id)) {
          // Looked up after the pin, and the pin still held (a reset of the
          // ledger drops it: then again).
          if (!f->external_read || f->external_pinned_at != l.resets()) {
            if (++f->rounds > forgotten_reads::rounds_max) {
              f->unpin_all(l);
              return forgotten_reads::busy();
            }
            f->pin_external(l, cmd.external_id);
            f->want_external = true;
            return forgotten_reads::reading();
          }
          if (f->external_recorded) {
            f->unpin_all(l);
            return answer("duplicate", nullptr);
          }
        }
        f->unpin_all(l);
        auto r = l.purchase(cmd, now);
        if (!r) return ledger_error(r.error());
        if (r->duplicate) return answer("duplicate", nullptr);
        reply out = answer("recorded", &*r);
        out.granted_kind = ledger::lot_kind::prepaid;
        out.granted_micros = r->made.credits;
        return out;
      },
      std::move(done));
}

// ------------------------------------------------------------------ subscriptions

void service::put_subscription(const caller& c, ledger::subscription_cmd cmd, reply_fn done) {
  submit(
      c, false,
      [cmd = std::move(cmd)](ledger::ledger& l, time_us now) {
        if (l.find_account(cmd.account) == nullptr) return not_found("account", cmd.account);
        if (l.find_plan(cmd.plan) == nullptr) return not_found("plan", cmd.plan);
        if (!cmd.timezone.empty() && !l.get_calendar().knows_zone(cmd.timezone)) {
          return bad_request("timezone " + cmd.timezone +
                             " is not a known IANA time zone (e.g. UTC, Europe/Paris, "
                             "America/New_York)");
        }
        auto r = l.put_subscription(cmd, now);
        if (!r) return ledger_error(r.error());
        reply out = json_reply(r->created ? 201 : 200, "");
        json_out j(out.body);
        render_subscription(j, *r->value);
        return out;
      },
      std::move(done));
}

void service::get_subscription(const caller& c, std::string account, reply_fn done) {
  submit(
      c, true,
      [account = std::move(account)](ledger::ledger& l, time_us) {
        const ledger::account* acct = l.find_account(account);
        if (acct == nullptr) return not_found("account", account);
        if (acct->sub == nullptr)
          return error_reply(404, "not_found", "account " + account + " has no subscription");
        reply out;
        json_out j(out.body);
        render_subscription(j, *acct->sub);
        return out;
      },
      std::move(done));
}

void service::cancel_subscription(const caller& c, std::string account, reply_fn done) {
  submit(
      c, false,
      [account = std::move(account)](ledger::ledger& l, time_us now) {
        const ledger::account* acct = l.find_account(account);
        if (acct == nullptr) return not_found("account", account);
        if (acct->sub == nullptr)
          return error_reply(404, "not_found", "account " + account + " has no subscription");
        auto r = l.cancel_subscription(account, now);
        if (!r) return ledger_error(r.error());
        reply out;
        json_out j(out.body);
        render_subscription(j, **r);
        return out;
      },
      std::move(done));
}

}  // namespace creditd::service
