// The commands of the service: each runs as an engine task, renders its
// result, and answers after the commit.
#include "service/service.hpp"

#include <algorithm>
#include <memory>
#include <unordered_map>

#include "ledger/balance_at.hpp"
#include "ledger/limits.hpp"
#include "service/render.hpp"
#include "util/assert.hpp"
#include "util/log.hpp"

namespace creditd::service {

using ledger::id_kind;
using ledger::micros;
using ledger::time_us;

void settings_patch::apply(ledger::account_settings& s) const {
  if (thresholds) s.low_balance_thresholds = *thresholds;
  if (reserve) s.reserve = *reserve;
  if (postpaid_limit) s.postpaid_limit = *postpaid_limit;
  if (rate) s.rate_limit_per_minute = *rate;
  if (max_holds) s.max_open_holds = *max_holds;
  if (soon_days) s.expiring_soon_days = *soon_days;
  if (auto_topup_given) s.auto_topup = auto_topup;
}

namespace {

// What an Idempotency-Key answers already, if anything: the reply recorded
// under it (a replay), or its conflict with another request.
std::optional<reply> answered_by_key(ledger::ledger& l, const std::string& key,
                                     const std::string& fingerprint) {
  auto found = l.idempotency_lookup(key, fingerprint);
  if (!found) return ledger_error(found.error());
  if (*found == nullptr) return std::nullopt;
  reply out;
  out.status = static_cast<unsigned>((*found)->status);
  out.body = (*found)->body;
  out.replayed = true;
  return out;
}

// An engine task that runs `fn` under the caller's Idempotency-Key and
// answers after the commit.
class command_task final : public engine::task {
 public:
  using task_fn = std::function<reply(ledger::ledger&, time_us)>;
  command_task(task_fn fn, reply_fn done, std::string key, std::string fingerprint, bool read_only,
               counters* stats, std::string account)
      : stats_(stats),
        fn_(std::move(fn)),
        done_(std::move(done)),
        key_(std::move(key)),
        fingerprint_(std::move(fingerprint)),
        account_(std::move(account)),
        read_only_(read_only) {}

  bool read_only() const override { return read_only_; }
  std::string_view account_hint() const override { return account_; }

  void apply(ledger::ledger& l, time_us now) override {
    if (key_.empty()) {
      reply_ = fn_(l, now);
      return;
    }
    if (auto answered = answered_by_key(l, key_, fingerprint_)) {
      reply_ = std::move(*answered);
      return;
    }
    reply_ = fn_(l, now);
    // 400, 401, 403, 429 and 5xx are not recorded: a corrected retry can succeed.
    const unsigned s = reply_.status;
    const bool recorded = !(s == 400 || s == 401 || s == 403 || s == 429 || s >= 500);
    if (recorded)
      l.idempotency_remember({key_, fingerprint_, static_cast<int>(s),
                              reply_.recorded_body.value_or(reply_.body), now});
  }

  void complete(bool durable) override {
    if (!durable) {
      reply r = error_reply(503, "unavailable",
                            read_only_ ? "the ledger is reloading from its store"
                                       : "the ledger cannot write to its store; this request "
                                         "was not acknowledged (retry it with the same "
                                         "Idempotency-Key)");
      r.retry_after_s = 1;
      done_(std::move(r));
    } else {
      if (stats_ != nullptr && !reply_.replayed) {
        if (!reply_.refusal_code.empty())
          stats_->refused(reply_.refusal_code, reply_.refusal_reason);
        if (reply_.charges > 0) stats_->charged(reply_.charged_micros, reply_.charges);
        if (reply_.refunded_micros > 0) stats_->refunded(reply_.refunded_micros);
        if (reply_.granted_micros > 0) stats_->granted(reply_.granted_kind, reply_.granted_micros);
      }
      done_(std::move(reply_));
    }
    delete this;
  }

 private:
  counters* stats_;
  task_fn fn_;
  reply_fn done_;
  std::string key_;
  std::string fingerprint_;
  std::string account_;  // the account the command is on, if one
  bool read_only_;
  reply reply_;
};

reply forbidden_account() {
  return error_reply(403, "forbidden", "this key may only read its own account");
}

// The entry of `type` among a command's entries (the last one).
const ledger::entry* made_entry(std::span<const ledger::entry> made, ledger::entry_type type) {
  const ledger::entry* found = nullptr;
  for (const ledger::entry& e : made) {
    if (e.type == type) found = &e;
  }
  return found;
}

// A balance as of a past instant reads at most this many journal entries
// (and as many lots) of its account; more is refused (422 history_too_long).
constexpr std::size_t balance_history_entries_max = 1'000'000;
// Rows read from the store by one statement of that read.
constexpr std::size_t balance_history_page_rows = 4'096;

reply history_too_long() {
  return error_reply(422, "history_too_long",
                     "the account has more than 1000000 journal entries; a balance as of a past "
                     "time is not computed for it");
}

// The balance of account `id` as of a past instant `at`, from the store (the
// core's balance_replay: lots replayed to `at`, postpaid use filed under the
// month it was taken in; the settings of the instant's settings entry, or
// `acct`'s as they are now for an account without one). Reader pool: it
// reads and replays at most balance_history_entries_max entries and as many
// lots, a page at a time, holding one page and the replay's per-lot, per-hold
// and per-charge state.
reply balance_at(store::journal_reader& journal, const std::string& id, time_us at,
                 const ledger::account_terms& acct) {
  ledger::balance_replay replay(at);
  std::size_t read = 0;
  for (std::uint64_t after = 0;;) {
    auto rows = journal.entries(id, after, balance_history_page_rows);
    if (!rows) {
      log::write(log::level::error, "cannot read the journal", {{"error", rows.error().message}});
      return error_reply(500, "internal", "cannot read the journal");
    }
    read += rows->size();
    if (read > balance_history_entries_max) return history_too_long();
    for (const store::stored_entry& row : *rows)
      replay.add(row.e);
    if (rows->size() < balance_history_page_rows) break;
    after = rows->back().e.seq;
  }
  // The lots the replay saw, in the order they were granted (by id).
  std::vector<ledger::lot_terms> lots;
  read = 0;
  for (std::uint64_t after = 0;;) {
    auto page = journal.lots(id, after, balance_history_page_rows);
    if (!page) {
      log::write(log::level::error, "cannot read the lots", {{"error", page.error().message}});
      return error_reply(500, "internal", "cannot read the lots");
    }
    read += page->size();
    if (read > balance_history_entries_max) return history_too_long();
    for (const ledger::lot_terms& t : *page) {
      if (replay.lots().contains(t.id)) lots.push_back(t);
    }
    if (page->size() < balance_history_page_rows) break;
    after = page->back().id;
  }
  const ledger::balance_view b = replay.view(acct, lots);
  reply out;
  json_out j(out.body);
  j.begin_object();
  j.key("account").str(id);
  std::string lots_json;
  json_out lj(lots_json);
  lj.begin_array();
  for (const ledger::lot_terms& x : lots) {
    const ledger::lot_replay& r = replay.lots().at(x.id);
    if (x.effective_at > at || at >= x.expires_at || r.remaining <= 0) continue;
    lj.begin_object();
    lj.key("id").id(id_kind::lot, x.id);
    lj.key("kind").str(ledger::to_string(x.kind));
    lj.key("remaining").amount(r.remaining);
    lj.key("held").amount(r.held);
    lj.key("expires_at").time_or_null(x.expires_at);
    lj.key("priority").integer(x.priority);
    lj.end_object();
  }
  lj.end_array();
  j.key("available").amount(b.available);
  j.key("held").amount(b.held);
  j.key("reserve").amount(b.reserve);
  j.key("postpaid_used").amount(b.postpaid_used);
  j.key("postpaid_limit").amount(acct.postpaid_limit);
  j.key("lots").raw(lots_json);
  j.key("as_of").time(at);
  j.end_object();
  return out;
}

}  // namespace

service::~service() {
  ctx_.keys.stop();
}

void service::submit(const caller& c, bool read_only, task_fn fn, reply_fn done) {
  submit_on(c, {}, read_only, std::move(fn), std::move(done));
}

void service::submit_on(const caller& c, std::string account, bool read_only, task_fn fn,
                        reply_fn done) {
  auto* t =
      new command_task(std::move(fn), std::move(done), read_only ? "" : c.idempotency_key,
                       read_only ? "" : c.fingerprint, read_only, ctx_.stats, std::move(account));
  ctx_.eng.submit(t);
}

void service::count(reply& r, std::span<const ledger::entry> made) {
  for (const ledger::entry& e : made) {
    if (e.type == ledger::entry_type::charge || e.type == ledger::entry_type::capture) {
      r.charged_micros += e.amount;
      ++r.charges;
    }
  }
}

// ------------------------------------------------------------------ accounts

void service::put_account(const caller& c, account_put cmd, reply_fn done) {
  // A platform's backend (a service key) onboards users: it creates accounts
  // and names them; settings are an operator's (admin key).
  if (c.who.who == auth::role::service && cmd.settings) {
    return done(error_reply(403, "forbidden",
                            "a service key creates accounts and sets their name; only an admin "
                            "key changes settings"));
  }
  submit(
      c, false,
      [cmd = std::move(cmd)](ledger::ledger& l, time_us now) {
        ledger::account_cmd ac{cmd.id, cmd.name, std::nullopt};
        const ledger::account* existing = l.find_account(cmd.id);
        // A new account starts with the API's defaults, whoever creates it.
        if (cmd.settings || existing == nullptr) {
          ledger::account_settings s = existing ? existing->settings : ledger::account_settings{};
          if (existing == nullptr)
            s.expiring_soon_days = ledger::limits::expiring_soon_days_default;
          if (cmd.settings) cmd.settings->apply(s);
          if (s.auto_topup && !l.find_package(s.auto_topup->package)) {
            return error_reply(404, "not_found",
                               "package " + s.auto_topup->package +
                                   " not found (settings.auto_topup.package must name a package)");
          }
          ac.settings = std::move(s);
        }
        auto r = l.put_account(ac, now);
        if (!r) return ledger_error(r.error());
        reply out;
        out.status = r->created ? 201 : 200;
        json_out j(out.body);
        render_account(j, l, *r->acct, now);
        return out;
      },
      std::move(done));
}

void service::get_account(const caller& c, std::string id, reply_fn done) {
  std::string on = id;
  submit_on(
      c, std::move(on), true,
      [id = std::move(id)](ledger::ledger& l, time_us now) {
        const ledger::account* acct = l.find_account(id);
        if (acct == nullptr) return not_found("account", id);
        reply out;
        json_out j(out.body);
        render_account(j, l, *acct, now);
        return out;
      },
      std::move(done));
}

void service::get_balance(const caller& c, std::string id, std::optional<time_us> at,
                          reply_fn done) {
  if (at && *at >= ctx_.clock.now()) at.reset();  // now or later: the live balance
  if (!at) {
    std::string on = id;
    submit_on(
        c, std::move(on), true,
        [id = std::move(id)](ledger::ledger& l, time_us now) {
          const ledger::account* acct = l.find_account(id);
          if (acct == nullptr) return not_found("account", id);
          reply out;
          json_out j(out.body);
          render_balance(j, l, *acct, now);
          return out;
        },
        std::move(done));
    return;
  }
  // The writer only finds the account and copies its settings (O(1)). That
  // task completes after the commit of its change set, so every entry made
  // before it, each one created at or before `at` among them, is in the store
  // when the reader pool reads the history and replays it.
  const time_us when = *at;
  auto terms = std::make_shared<ledger::account_terms>();
  store::journal_reader& journal = ctx_.journal;
  auto& run_blocking = ctx_.run_blocking;
  reply_fn then = [&journal, &run_blocking, id, when, terms,
                   done = std::move(done)](reply r) mutable {
    if (r.status != 200) return done(std::move(r));
    run_blocking([&journal, id = std::move(id), when, terms, done = std::move(done)] {
      done(balance_at(journal, id, when, *terms));
    });
  };
  submit(
      c, true,
      [id, terms](ledger::ledger& l, time_us) {
        const ledger::account* acct = l.find_account(id);
        if (acct == nullptr) return not_found("account", id);
        *terms = ledger::terms_of(*acct);
        return json_reply(200, "");
      },
      std::move(then));
}

// ------------------------------------------------------------------ lots

void service::grant(const caller& c, ledger::grant_cmd cmd, reply_fn done) {
  std::string on = cmd.account;
  submit_on(
      c, std::move(on), false,
      [cmd = std::move(cmd)](ledger::ledger& l, time_us now) {
        if (l.find_account(cmd.account) == nullptr) return not_found("account", cmd.account);
        auto r = l.grant(cmd, now);
        if (!r) return ledger_error(r.error());
        reply out;
        out.status = 201;
        out.granted_kind = (*r)->kind;
        out.granted_micros = (*r)->amount;
        json_out j(out.body);
        render_lot(j, **r, now);
        return out;
      },
      std::move(done));
}

// The lots come from the store (the ledger forgets dead ones), read on the
// reader pool after the account is found: every answered write is there.
void service::list_lots(const caller& c, std::string id, page p, reply_fn done) {
  auto& journal = ctx_.journal;
  auto& clock = ctx_.clock;
  store_page(
      c, std::move(id), p, id_kind::lot,
      [&journal, &clock](const std::string& acct, std::uint64_t after,
                         std::size_t limit) -> std::optional<std::vector<page_row>> {
        auto rows = journal.lot_rows(acct, after, limit);
        if (!rows) {
          log::write(log::level::error, "cannot read lots", {{"error", rows.error().message}});
          return std::nullopt;
        }
        const time_us now = clock.now();
        std::vector<page_row> out;
        out.reserve(rows->size());
        for (const store::stored_lot& x : *rows) {
          page_row row{x.l.id, {}};
          json_out j(row.json);
          render_lot(j, x.account, x.l, now);
          out.push_back(std::move(row));
        }
        return out;
      },
      std::move(done));
}

// ---- What the ledger forgot (engine_options: old charges, dead lots).
// A request that needs one pins its id on the writer while it is missing
// (ledger::pin), reads it from the store on the reader pool, and runs again
// on the writer, which admits what was read. A pinned object is not forgotten
// again, so what is read after the pin is never older than what the ledger
// had: either still current when admitted, or in memory by then (memory is
// used). The pins go when the request ends.

void service::forgotten_reads::pin(ledger::ledger& l, ledger::object_id id) {
  l.pin(id);
  pinned.push_back(id);
}

void service::forgotten_reads::pin_external(ledger::ledger& l, std::string_view id) {
  if (!external_id.empty() && external_pinned_at == l.resets()) l.unpin_external_id(external_id);
  external_id = id;
  l.pin_external_id(id);
  external_pinned_at = l.resets();
  external_read = false;
}

void service::forgotten_reads::unpin_all(ledger::ledger& l) {
  for (ledger::object_id id : pinned)
    l.unpin(id);
  pinned.clear();
  // A reset since the pin dropped it (and another request may hold its own).
  if (!external_id.empty() && external_pinned_at == l.resets()) l.unpin_external_id(external_id);
  external_id.clear();
}

bool service::forgotten_reads::admit(ledger::ledger& l) {
  bool ok = true;
  if (charge) ok = l.admit_charge(charge->c, charge->account);
  for (const store::stored_lot& x : lots)
    ok = ok && l.admit_lot(x.l, x.account);
  charge.reset();
  lots.clear();
  return ok;
}

void service::forgotten_reads::read(store::journal_reader& journal) {
  // A failed read asks for nothing more: the task runs once more, sees the
  // error and answers it (reading again and again would loop while the
  // store fails).
  auto fail = [&](std::string why) {
    error = std::move(why);
    want_external = want_charge = false;
    want_lots.clear();
    lot_probe = 0;
  };
  if (want_external) {
    auto found = journal.external_id_recorded(external_id);
    if (!found) return fail(found.error().message);
    external_recorded = *found;
    external_read = true;
    want_external = false;
  }
  if (want_charge) {
    auto row = journal.charge(charge_id);
    if (!row) return fail(row.error().message);
    charge = std::move(*row);
    charge_read = true;
    want_charge = false;
  }
  if (lot_probe != 0) {
    auto row = journal.lot(lot_probe);
    if (!row) return fail(row.error().message);
    if (*row) lots.push_back(std::move(**row));
    lot_probe = 0;
  }
  for (ledger::object_id id : want_lots) {
    auto row = journal.lot(id);
    if (!row) return fail(row.error().message);
    if (!*row) return fail("lot " + std::to_string(id) + " is not in the store");
    lots.push_back(std::move(**row));
  }
  want_lots.clear();
}

void service::with_forgotten(const caller& c, std::shared_ptr<forgotten_reads> f, task_fn fn,
                             reply_fn done) {
  reply_fn then = [this, c, f, fn, done = std::move(done)](reply r) mutable {
    if (!f->needed()) {
      if (f->holds_pins()) {
        // The task did not run to its end (an idempotent replay, or the
        // engine refused it): the pins go now.
        submit(
            c, true,
            [f](ledger::ledger& l, time_us) {
              f->unpin_all(l);
              return json_reply(200, "");
            },
            [](reply) {});
      }
      return done(std::move(r));
    }
    ctx_.run_blocking(
        [this, c = std::move(c), f, fn = std::move(fn), done = std::move(done)]() mutable {
          f->read(ctx_.journal);
          with_forgotten(c, std::move(f), std::move(fn), std::move(done));
        });
  };
  submit(c, false, std::move(fn), std::move(then));
}

reply service::forgotten_reads::failure(std::string_view what, std::string_view which,
                                        const std::string& error) {
  log::write(log::level::error, "cannot read what the ledger forgot",
             {{"object", std::string(what) + " " + std::string(which)}, {"error", error}});
  return error_reply(500, "internal", "cannot read the " + std::string(what));
}

reply service::forgotten_reads::busy() {
  reply busy =
      error_reply(503, "unavailable", "the ledger was reloaded while this was read; retry");
  busy.retry_after_s = 1;
  return busy;
}

reply service::forgotten_reads::reading() {
  return error_reply(503, "unavailable", "reading from the store");
}

// A void of a lot the ledger forgot (a dead one) reads it back: a spent lot
// is voided; an expired or voided one is refused as it would be in memory.
void service::void_lot(const caller& c, ledger::object_id lot, std::string reason, reply_fn done) {
  auto f = std::make_shared<forgotten_reads>();
  with_forgotten(
      c, f,
      [lot, reason = std::move(reason), f](ledger::ledger& l, time_us now) {
        if (!f->error.empty()) {
          f->unpin_all(l);
          return forgotten_reads::failure("lot", std::to_string(lot), f->error);
        }
        if (!f->admit(l)) {
          f->unpin_all(l);
          return forgotten_reads::failure("lot", std::to_string(lot),
                                          "the lot disagrees with the ledger");
        }
        if (l.find_lot(lot) == nullptr) {
          if (f->rounds > 0) {
            // Read after the pin: the store has no such lot.
            f->unpin_all(l);
            return not_found("lot", ledger::format_id(id_kind::lot, lot));
          }
          ++f->rounds;
          f->pin(l, lot);
          f->lot_probe = lot;
          return forgotten_reads::reading();
        }
        f->unpin_all(l);
        auto r = l.void_lot(lot, reason, now);
        if (!r) return ledger_error(r.error());
        reply out;
        json_out j(out.body);
        render_lot(j, **r, now);
        return out;
      },
      std::move(done));
}

// ------------------------------------------------------------------ spending

void service::charge(const caller& c, ledger::charge_cmd cmd, reply_fn done) {
  std::string on = cmd.account;
  submit_on(
      c, std::move(on), false,
      [cmd = std::move(cmd)](ledger::ledger& l, time_us now) {
        if (l.find_account(cmd.account) == nullptr) return not_found("account", cmd.account);
        auto r = l.charge(cmd, now);
        reply out = r ? json_reply(201, "") : spend_error(r.error(), cmd.operation, cmd.dimensions);
        if (r) {
          const ledger::entry* e = made_entry(l.command_entries(), ledger::entry_type::charge);
          CREDITD_ASSERT(e != nullptr);
          json_out j(out.body);
          render_charge(j, *e, 0);
        }
        count(out, l.command_entries());
        return out;
      },
      std::move(done));
}

void service::charge_batch(const caller& c, std::vector<ledger::charge_cmd> cmds, reply_fn done) {
  std::string on = cmds.empty() ? std::string() : cmds[0].account;
  submit_on(
      c, std::move(on), false,
      [cmds = std::move(cmds)](ledger::ledger& l, time_us now) {
        CREDITD_ASSERT(!cmds.empty());
        if (l.find_account(cmds[0].account) == nullptr)
          return not_found("account", cmds[0].account);
        auto r = l.charge_batch(cmds, now);
        reply out = r ? json_reply(201, "") : ledger_error(r.error());
        if (!r && r.error().code == ledger::errc::unknown_price) {
          // The first item no price matches.
          for (const ledger::charge_cmd& c : cmds) {
            if (c.from_catalog && !l.price_for(c.operation, c.dimension_values, c.quantity)) {
              out = spend_error(r.error(), c.operation, c.dimensions);
              break;
            }
          }
        }
        if (r) {
          json_out j(out.body);
          j.begin_object().key("data").begin_array();
          for (const ledger::entry& e : l.command_entries()) {
            if (e.type == ledger::entry_type::charge) render_charge(j, e, 0);
          }
          j.end_array().end_object();
        }
        count(out, l.command_entries());
        return out;
      },
      std::move(done));
}

// A refund needs its charge and the lots it took from in memory.
void service::refund(const caller& c, ledger::refund_cmd cmd, reply_fn done) {
  auto f = std::make_shared<forgotten_reads>();
  f->charge_id = cmd.charge_id;
  with_forgotten(
      c, f,
      [cmd = std::move(cmd), f](ledger::ledger& l, time_us now) {
        if (!f->error.empty()) {
          f->unpin_all(l);
          return forgotten_reads::failure("charge", std::to_string(cmd.charge_id), f->error);
        }
        if (!f->admit(l)) {
          f->unpin_all(l);
          return forgotten_reads::failure("charge", std::to_string(cmd.charge_id),
                                          "the charge or its lots disagree with the ledger");
        }
        const ledger::charge_record* c = l.find_charge(cmd.charge_id);
        if (c == nullptr && f->charge_read) {
          // Read after the pin: the store has no such charge.
          f->unpin_all(l);
          return not_found("charge", ledger::format_id(id_kind::charge, cmd.charge_id));
        }
        std::vector<ledger::object_id> missing;
        if (c != nullptr) {
          for (const ledger::charge_part& p : c->parts) {
            if (p.lot != ledger::postpaid_lot_id && l.find_lot(p.lot) == nullptr)
              missing.push_back(p.lot);
          }
        }
        if (c == nullptr || !missing.empty()) {
          if (++f->rounds > forgotten_reads::rounds_max) {
            f->unpin_all(l);
            return forgotten_reads::busy();
          }
          if (c == nullptr) {
            f->pin(l, cmd.charge_id);
            f->want_charge = true;
          }
          for (ledger::object_id id : missing)
            f->pin(l, id);
          f->want_lots = std::move(missing);
          return forgotten_reads::reading();
        }
        f->unpin_all(l);
        auto r = l.refund(cmd, now);
        if (!r) return ledger_error(r.error());
        const ledger::entry* e = made_entry(l.command_entries(), ledger::entry_type::refund);
        CREDITD_ASSERT(e != nullptr);
        reply out;
        out.status = 201;
        out.refunded_micros = r->amount;
        json_out j(out.body);
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
        j.key("balance_after").amount(e->balance_after);
        j.key("reason").str(cmd.reason);
        j.key("entry").id(id_kind::entry, e->seq);
        j.key("created_at").time(now);
        j.end_object();
        return out;
      },
      std::move(done));
}

void service::adjust(const caller& c, ledger::adjust_cmd cmd, reply_fn done) {
  std::string on = cmd.account;
  submit_on(
      c, std::move(on), false,
      [cmd = std::move(cmd)](ledger::ledger& l, time_us now) {
        if (l.find_account(cmd.account) == nullptr) return not_found("account", cmd.account);
        auto r = l.adjust(cmd, now);
        if (!r) return ledger_error(r.error());
        reply out;
        out.status = 201;
        json_out j(out.body);
        for (const ledger::entry& e : l.command_entries()) {
          if (e.seq == *r) render_entry(j, e, cmd.account);
        }
        return out;
      },
      std::move(done));
}

void service::place_hold(const caller& c, ledger::hold_cmd cmd, reply_fn done) {
  std::string on = cmd.account;
  submit_on(
      c, std::move(on), false,
      [cmd = std::move(cmd)](ledger::ledger& l, time_us now) {
        if (l.find_account(cmd.account) == nullptr) return not_found("account", cmd.account);
        auto r = l.place_hold(cmd, now);
        reply out = r ? json_reply(201, "") : spend_error(r.error(), cmd.operation, cmd.dimensions);
        if (r) {
          json_out j(out.body);
          render_hold(j, l, **r, now, nullptr);
        }
        count(out, {});
        return out;
      },
      std::move(done));
}

// A hold the ledger does not hold is closed and forgotten (the ledger keeps
// every open hold; engine_options::closed_holds_kept_max), or never was: the
// task answers nothing, and the hold is read from the store on the reader
// pool. A closed hold never changes, so what the store holds is final.
void service::hold_command(const caller& c, bool read_only, ledger::object_id id, held_fn present,
                           stored_hold_fn stored, reply_fn done) {
  auto absent = std::make_shared<bool>(false);
  auto& journal = ctx_.journal;
  auto& run_blocking = ctx_.run_blocking;
  reply_fn then = [&journal, &run_blocking, id, absent, stored = std::move(stored),
                   done = std::move(done)](reply r) mutable {
    if (!*absent) return done(std::move(r));
    run_blocking([&journal, id, stored = std::move(stored), done = std::move(done)] {
      auto row = journal.hold(id);
      if (!row) {
        log::write(
            log::level::error, "cannot read a hold",
            {{"hold", ledger::format_id(id_kind::hold, id)}, {"error", row.error().message}});
        return done(error_reply(500, "internal", "cannot read the hold"));
      }
      if (!*row) return done(not_found("hold", ledger::format_id(id_kind::hold, id)));
      done(stored(**row));
    });
  };
  submit(
      c, read_only,
      [id, absent, present = std::move(present)](ledger::ledger& l, time_us now) {
        if (l.find_hold(id) == nullptr) {
          *absent = true;
          // Not sent (the store answers) and, as a 5xx, not recorded.
          return error_reply(503, "unavailable", "reading the hold");
        }
        return present(l, id, now);
      },
      std::move(then));
}

namespace {
reply hold_not_open() {
  return error_reply(409, "conflict", "the hold is not open");
}
}  // namespace

void service::capture(const caller& c, ledger::object_id hold, std::optional<micros> amount,
                      reply_fn done) {
  hold_command(
      c, false, hold,
      [amount](ledger::ledger& l, ledger::object_id hold, time_us now) {
        auto r = l.capture(hold, amount, now);
        if (!r) return ledger_error(r.error());
        // The charge shows the balance after the whole capture, the uncaptured
        // remainder returned included (the entries after the capture entry).
        std::optional<ledger::entry> capture;
        micros balance_after = 0;
        for (const ledger::entry& e : l.command_entries()) {
          if (e.type == ledger::entry_type::capture) capture = e;
          balance_after = e.balance_after;
        }
        if (capture) capture->balance_after = balance_after;
        reply out;
        json_out j(out.body);
        render_hold(j, l, **r, now, capture ? &*capture : nullptr);
        count(out, l.command_entries());
        return out;
      },
      [](const store::stored_hold&) { return hold_not_open(); }, std::move(done));
}

void service::release(const caller& c, ledger::object_id hold, reply_fn done) {
  hold_command(
      c, false, hold,
      [](ledger::ledger& l, ledger::object_id hold, time_us now) {
        auto r = l.release(hold, now);
        if (!r) return ledger_error(r.error());
        reply out;
        json_out j(out.body);
        render_hold(j, l, **r, now, nullptr);
        return out;
      },
      [](const store::stored_hold&) { return hold_not_open(); }, std::move(done));
}

void service::get_hold(const caller& c, ledger::object_id hold, reply_fn done) {
  auto allowed = [who = c.who](std::string_view owner) {
    return who.who != auth::role::reader || who.account == owner;
  };
  hold_command(
      c, true, hold,
      [allowed](ledger::ledger& l, ledger::object_id hold, time_us now) {
        const ledger::hold& h = *l.find_hold(hold);
        if (!allowed(h.owner->id)) return forbidden_account();
        reply out;
        json_out j(out.body);
        render_hold(j, l, h, now, nullptr);
        return out;
      },
      [allowed](const store::stored_hold& s) {
        if (!allowed(s.account)) return forbidden_account();
        reply out;
        json_out j(out.body);
        render_hold(j, s.account, s.h.status, s.h, nullptr);
        return out;
      },
      std::move(done));
}

// ------------------------------------------------------------------ journal

void service::list_entries(const caller& c, std::string account, page p, reply_fn done) {
  auto& journal = ctx_.journal;
  store_page(
      c, std::move(account), p, id_kind::entry,
      [&journal](const std::string& acct, std::uint64_t after,
                 std::size_t limit) -> std::optional<std::vector<page_row>> {
        auto rows = journal.entries(acct, after, limit);
        if (!rows) return std::nullopt;
        std::vector<page_row> out;
        out.reserve(rows->size());
        for (const store::stored_entry& s : *rows) {
          page_row row{s.e.seq, {}};
          json_out j(row.json);
          render_entry(j, s.e, s.account);
          out.push_back(std::move(row));
        }
        return out;
      },
      std::move(done));
}

void service::list_events(const caller& c, store::event_filter filter, reply_fn done) {
  if (c.who.who == auth::role::reader) {
    if (filter.account.empty()) filter.account = c.who.account;
    if (filter.account != c.who.account) return done(forbidden_account());
  }
  // No engine task: the store holds every event of every answered write
  // (the log's barrier, behind ctx_.journal, waits for what is durable).
  auto& journal = ctx_.journal;
  ctx_.run_blocking([&journal, filter = std::move(filter), done = std::move(done)]() mutable {
    const std::size_t limit = filter.limit;
    filter.limit = limit + 1;
    auto rows = journal.events(filter);
    if (!rows) {
      log::write(log::level::error, "cannot read events", {{"error", rows.error().message}});
      return done(error_reply(500, "internal", "cannot read the store"));
    }
    const bool more = rows->size() > limit;
    if (more) rows->pop_back();
    reply out;
    json_out j(out.body);
    j.begin_object().key("data").begin_array();
    for (const store::stored_event& s : *rows)
      render_event(j, s.ev, s.account);
    j.end_array().key("next");
    if (more) {
      j.id(id_kind::event, rows->back().ev.seq);
    } else {
      j.null();
    }
    j.end_object();
    done(std::move(out));
  });
}

void service::read_events(store::event_filter filter, events_fn done) {
  auto& journal = ctx_.journal;
  ctx_.run_blocking([&journal, filter = std::move(filter), done = std::move(done)]() mutable {
    auto rows = journal.events(filter);
    if (!rows) {
      log::write(log::level::error, "cannot read events", {{"error", rows.error().message}});
      return done(std::nullopt);
    }
    std::vector<feed_event> out;
    out.reserve(rows->size());
    for (const store::stored_event& s : *rows)
      out.push_back(make_feed_event(s.ev, s.account));
    done(std::move(out));
  });
}

void service::store_page(const caller& c, std::string account, page p, ledger::id_kind cursor,
                         page_reader read, reply_fn done) {
  // Existence is checked through the engine (so a fresh account is seen);
  // the rows come from the store, which holds every answered write, read
  // on the reader pool.
  auto& run_blocking = ctx_.run_blocking;
  reply_fn then = [account, p, cursor, &run_blocking, read = std::move(read),
                   done = std::move(done)](reply r) mutable {
    if (r.status != 200) return done(std::move(r));
    run_blocking([account, p, cursor, read = std::move(read), done = std::move(done)] {
      auto rows = read(account, p.after, p.limit + 1);
      if (!rows) return done(error_reply(500, "internal", "cannot read the store"));
      const bool more = rows->size() > p.limit;
      if (more) rows->pop_back();
      reply out;
      json_out j(out.body);
      j.begin_object().key("data").begin_array();
      for (const page_row& row : *rows)
        j.raw(row.json);
      j.end_array().key("next");
      if (more) {
        j.id(cursor, rows->back().id);
      } else {
        j.null();
      }
      j.end_object();
      done(std::move(out));
    });
  };
  submit(
      c, true,
      [account](ledger::ledger& l, time_us) {
        if (l.find_account(account) == nullptr) return not_found("account", account);
        return json_reply(200, "");
      },
      std::move(then));
}

// ------------------------------------------------------------------ effects outside the ledger

void service::once(const caller& c, effect_fn effect, reply_fn done) {
  if (c.idempotency_key.empty()) return effect(std::move(done));
  const std::string key = c.idempotency_key;
  {
    std::lock_guard lock(once_mu_);
    if (!once_running_.insert(key).second) {
      reply r = error_reply(409, "conflict",
                            "a request with this Idempotency-Key is still being answered; retry "
                            "it once that one is");
      r.retry_after_s = 1;
      return done(std::move(r));
    }
  }
  reply_fn release = [this, key, done = std::move(done)](reply r) mutable {
    {
      std::lock_guard lock(once_mu_);
      once_running_.erase(key);
    }
    done(std::move(r));
  };
  auto fresh = std::make_shared<bool>(false);
  reply_fn then = [this, c, fresh, effect = std::move(effect),
                   release = std::move(release)](reply first) mutable {
    if (!*fresh) return release(std::move(first));  // a replay, or the key's conflict
    effect([this, c, release = std::move(release)](reply r) mutable {
      const unsigned s = r.status;
      if (s == 400 || s == 401 || s == 403 || s == 429 || s >= 500) return release(std::move(r));
      reply effect_reply = r;
      submit(
          c, false, [r = std::move(r)](ledger::ledger&, time_us) { return r; },
          [effect_reply = std::move(effect_reply),
           release = std::move(release)](reply recorded) mutable {
            // 503: the record is not durable, but the effect took place.
            if (recorded.status == 503 && !recorded.replayed)
              return release(std::move(effect_reply));
            release(std::move(recorded));
          });
    });
  };
  submit(
      caller{}, true,
      [key, fingerprint = c.fingerprint, fresh](ledger::ledger& l, time_us) {
        if (auto answered = answered_by_key(l, key, fingerprint)) return std::move(*answered);
        *fresh = true;
        return json_reply(200, "");
      },
      std::move(then));
}

// ------------------------------------------------------------------ keys, clock, health

void service::create_api_key(const caller& c, auth::role r, std::string account, reply_fn done) {
  // Three steps, and no store write on the writer or the caller's thread:
  // 1. the writer looks up the Idempotency-Key (a replay or a conflict answers
  //    here, creating nothing) and a reader key's account (O(1));
  // 2. the key store's writer thread writes the new key: durable before it is
  //    shown, and it authenticates from then on;
  // 3. the writer records the reply under the Idempotency-Key (without the
  //    secret: keys are stored only as hashes) and it is answered after that
  //    commit. If a twin request with the same key was recorded first, or the
  //    commit fails, the key made in step 2 is revoked: its secret is never
  //    shown.
  auto fresh = std::make_shared<bool>(false);
  auth::key_store& keys = ctx_.keys;
  server_clock& clock = ctx_.clock;
  reply_fn then = [this, c, r, account, fresh, &keys, &clock,
                   done = std::move(done)](reply first) mutable {
    if (!*fresh || first.status != 200) return done(std::move(first));
    keys.create_async(
        r, account, clock.now(),
        [this, c, &keys, &clock, done = std::move(done)](
            std::expected<std::pair<auth::key_row, std::string>, std::string> created) mutable {
          if (!created) return done(error_reply(503, "unavailable", "cannot store the key"));
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
                      "a replay does not show the key again; revoke this key and create another "
                      "if it was lost");
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
          reply out;
          out.status = 201;
          out.body = render(true);
          out.recorded_body = render(false);
          const std::string key_id = created->first.id;
          submit(
              c, false, [out = std::move(out)](ledger::ledger&, time_us) { return out; },
              [&keys, &clock, key_id, done = std::move(done)](reply recorded) mutable {
                if (recorded.status == 201 && !recorded.replayed) return done(std::move(recorded));
                // Not shown: revoke it, then answer what was recorded or refused.
                keys.revoke_async(
                    key_id, clock.now(),
                    [recorded = std::move(recorded), done = std::move(done)](
                        std::expected<bool, std::string>) mutable { done(std::move(recorded)); });
              });
        });
  };
  submit(
      caller{}, true,
      [key = c.idempotency_key, fingerprint = c.fingerprint, r, account, fresh](ledger::ledger& l,
                                                                                time_us) {
        if (!key.empty()) {
          if (auto answered = answered_by_key(l, key, fingerprint)) return std::move(*answered);
        }
        // A reader key for an account that does not exist could never read anything.
        if (r == auth::role::reader && l.find_account(account) == nullptr)
          return not_found("account", account);
        *fresh = true;
        return json_reply(200, "");
      },
      std::move(then));
}

void service::revoke_api_key(const caller&, std::string id, reply_fn done) {
  // On the key store's writer thread; answered once the revocation is durable
  // and the key no longer authenticates.
  ctx_.keys.revoke_async(
      id, ctx_.clock.now(),
      [id, done = std::move(done)](std::expected<bool, std::string> r) mutable {
        if (!r) return done(error_reply(503, "unavailable", "cannot store the revocation"));
        if (!*r) return done(not_found("api key", id));
        reply out;
        json_out j(out.body);
        j.begin_object().key("id").str(id).key("object").str("api_key");
        j.key("deleted").boolean(true).end_object();
        done(std::move(out));
      });
}

void service::test_clock(reply_fn done) {
  reply out;
  json_out j(out.body);
  j.begin_object().key("now").time(ctx_.clock.now()).end_object();
  done(std::move(out));
}

void service::advance_test_clock(const caller& c, std::int64_t seconds, reply_fn done) {
  server_clock& clock = ctx_.clock;
  const time_us delta = seconds * ledger::us_per_second;
  // The move and the jobs it makes due run on the writer, in order with the
  // requests around it.
  submit(
      c, false,
      [&clock, delta](ledger::ledger& l, time_us) {
        const time_us now = clock.advance(delta);
        l.note_time(now);  // stored: a restarted test clock resumes here
        reply out;
        json_out j(out.body);
        j.begin_object().key("now").time(now).end_object();
        return out;
      },
      [this, &clock, done = std::move(done)](reply r) mutable {
        if (r.status != 200 || r.replayed) return done(std::move(r));
        drain_due(clock.now(), std::move(r), std::move(done));
      });
}

void service::endpoint_disabled(std::string endpoint, std::string reason,
                                std::function<void(bool)> done) {
  submit(
      caller{}, false,
      [endpoint = std::move(endpoint), reason = std::move(reason)](ledger::ledger& l, time_us now) {
        l.endpoint_disabled(endpoint, reason, now);
        return json_reply(200, "");
      },
      [done = std::move(done)](reply r) { done(r.status == 200); });
}

void service::drain_due(time_us now, reply out, reply_fn done) {
  auto more = std::make_shared<bool>(false);
  submit(
      caller{}, false,
      [now, more](ledger::ledger& l, time_us) {
        l.run_due(now, ledger::limits::due_items_per_step);
        *more = l.next_due() <= now;
        return json_reply(200, "");
      },
      [this, now, more, out = std::move(out), done = std::move(done)](reply r) mutable {
        if (r.status != 200) return done(std::move(r));
        if (!*more) return done(std::move(out));
        drain_due(now, std::move(out), std::move(done));
      });
}

void service::health(reply_fn done) {
  reply out;
  // Degraded: writes are refused, reads are served from the last commit, and
  // the engine probes the store every second until it takes writes again.
  const bool failed = ctx_.eng.failed();
  out.status = failed ? 503 : 200;
  json_out j(out.body);
  j.begin_object().key("status").str(failed ? "degraded" : "ok");
  if (failed) {
    j.key("error").str("the store refuses writes: " + ctx_.eng.failure());
    j.key("writes").str("refused").key("reads").str("served from the last commit");
  }
  j.end_object();
  done(std::move(out));
}

void service::gauges(
    std::function<void(engine::engine_stats, bool store_failed, ledger_gauges)> done) {
  auto g = std::make_shared<ledger_gauges>();
  engine::engine& eng = ctx_.eng;
  submit(
      caller{}, true,
      [g](ledger::ledger& l, time_us) {
        g->accounts = l.account_count();
        g->open_holds = l.open_hold_count();
        g->journal_entries = l.next_seq() - 1;
        return json_reply(200, "");
      },
      [g, &eng, done = std::move(done)](reply) { done(eng.stats(), eng.failed(), *g); });
}

// ------------------------------------------------------------------ store

void service::flush_store(reply_fn done) {
  // The wait is the applier writing what the file lacks (a second or more
  // under load): on the reader pool, never on an I/O or engine thread.
  auto& journal = ctx_.journal;
  ctx_.run_blocking([&journal, done = std::move(done)] {
    auto seq = journal.flush_file();
    if (!seq) {
      log::write(log::level::error, "cannot make the store file current",
                 {{"error", seq.error().message}});
      return done(error_reply(500, "internal", "cannot make the store file current"));
    }
    reply out;
    json_out j(out.body);
    j.begin_object().key("applied_log_seq").integer(static_cast<std::int64_t>(*seq)).end_object();
    done(std::move(out));
  });
}

}  // namespace creditd::service
