// The service: every command of the API between the HTTP layer and the
// ledger. HTTP decodes a request into a command and encodes the reply; the
// service orders the command on the engine, records and replays
// Idempotency-Keys, renders the result, and answers after the commit that
// holds it; the ledger core decides.
//
// Every call answers through its `reply_fn` exactly once, on the calling
// thread, an engine or reader thread, or the key store's writer thread.
// Nothing slow runs on the engine's writer: history is read and replayed on
// the reader pool, API keys are written on the key store's thread.
// Thread-safe: call from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "auth/keys.hpp"
#include "engine/engine.hpp"
#include "ledger/ledger.hpp"
#include "service/event_feed.hpp"
#include "service/reply.hpp"
#include "store/journal_reader.hpp"
#include "util/clock.hpp"

namespace creditd::service {

// Who calls, and the request's Idempotency-Key with the fingerprint of the
// request it names (route and canonical body; opaque here).
struct caller {
  auth::principal who;
  std::string idempotency_key;  // empty: none
  std::string fingerprint;
};

// Settings given in a request; those not given are kept.
struct settings_patch {
  std::optional<std::vector<ledger::micros>> thresholds;
  std::optional<ledger::micros> reserve, postpaid_limit;
  std::optional<std::int64_t> rate, max_holds, soon_days;
  bool auto_topup_given = false;
  std::optional<ledger::auto_topup_settings> auto_topup;
  void apply(ledger::account_settings& s) const;
};

struct account_put {
  std::string id;
  std::optional<std::string> name;
  std::optional<settings_patch> settings;
};

// A page of objects named by the platform ("pack-300"): after the name `after`.
struct name_page {
  std::size_t limit = 50;
  std::string after;  // empty: from the start
};

struct page {
  std::size_t limit = 50;
  std::uint64_t after = 0;  // the cursor's id or seq; 0 from the start
};

// Figures the service counts, for /metrics.
struct counters {
  virtual ~counters() = default;
  // `n` charges of `micros` in total were applied (captures included).
  virtual void charged(std::int64_t micros, std::size_t n) = 0;
  // A spend was refused: `code` (insufficient_credits, rate_limited,
  // unknown_price) with its reason.
  virtual void refused(std::string_view code, std::string_view reason) = 0;
  // A refund of `micros` credits.
  virtual void refunded(std::int64_t micros) = 0;
  // A lot of `kind` granted with `micros` credits.
  virtual void granted(ledger::lot_kind kind, std::int64_t micros) = 0;
};

// Gauges read from the ledger on its thread.
struct ledger_gauges {
  std::size_t accounts = 0;
  std::size_t open_holds = 0;
  std::uint64_t journal_entries = 0;
};

struct service_context {
  engine::engine& eng;
  auth::key_store& keys;  // its writes run on its own thread; stopped by ~service
  store::journal_reader& journal;
  server_clock& clock;
  // Runs blocking store reads (journal pages, history) off the I/O threads
  // and off the engine's threads.
  std::function<void(std::function<void()>)> run_blocking;
  counters* stats = nullptr;  // optional
  // The endpoint secret of Stripe webhooks ("whsec_..."); empty: the
  // webhook endpoint answers that it is not configured.
  std::string stripe_webhook_secret;
};

class service {
 public:
  explicit service(service_context ctx) : ctx_(std::move(ctx)) {}
  // Stops the key store's writes (ctx.keys.stop()): their callbacks call into
  // this service and its engine, so none may run after it is gone.
  ~service();
  service(const service&) = delete;
  service& operator=(const service&) = delete;

  // ---- Accounts and lots.
  void put_account(const caller& c, account_put cmd, reply_fn done);
  void get_account(const caller& c, std::string id, reply_fn done);
  // The balance now, or as of a past instant `at` replayed from the journal.
  void get_balance(const caller& c, std::string id, std::optional<ledger::time_us> at,
                   reply_fn done);
  void grant(const caller& c, ledger::grant_cmd cmd, reply_fn done);
  void list_lots(const caller& c, std::string id, page p, reply_fn done);
  void void_lot(const caller& c, ledger::object_id lot, std::string reason, reply_fn done);

  // ---- Spending.
  void charge(const caller& c, ledger::charge_cmd cmd, reply_fn done);
  void charge_batch(const caller& c, std::vector<ledger::charge_cmd> cmds, reply_fn done);
  void refund(const caller& c, ledger::refund_cmd cmd, reply_fn done);
  void adjust(const caller& c, ledger::adjust_cmd cmd, reply_fn done);
  void place_hold(const caller& c, ledger::hold_cmd cmd, reply_fn done);
  void capture(const caller& c, ledger::object_id hold, std::optional<ledger::micros> amount,
               reply_fn done);
  void release(const caller& c, ledger::object_id hold, reply_fn done);
  void get_hold(const caller& c, ledger::object_id hold, reply_fn done);

  // ---- Catalog, quotes, purchases, subscriptions (service/commerce.cpp).
  void put_price(const caller& c, ledger::price_cmd cmd, reply_fn done);
  void get_price(const caller& c, std::string id, reply_fn done);
  void delete_price(const caller& c, std::string id, reply_fn done);
  void list_prices(const caller& c, name_page p, std::string operation, reply_fn done);
  void put_package(const caller& c, ledger::package_cmd cmd, reply_fn done);
  void get_package(const caller& c, std::string id, reply_fn done);
  void list_packages(const caller& c, name_page p, reply_fn done);
  void put_plan(const caller& c, ledger::plan_cmd cmd, reply_fn done);
  void get_plan(const caller& c, std::string id, reply_fn done);
  void list_plans(const caller& c, name_page p, reply_fn done);
  void quote(const caller& c, ledger::charge_cmd cmd, reply_fn done);
  void purchase(const caller& c, ledger::purchase_cmd cmd, reply_fn done);
  void list_purchases(const caller& c, std::string account, page p, reply_fn done);
  // A Stripe webhook delivery: the Stripe-Signature header and the raw body.
  void stripe_webhook(std::string signature, std::string body, reply_fn done);
  void put_subscription(const caller& c, ledger::subscription_cmd cmd, reply_fn done);
  void get_subscription(const caller& c, std::string account, reply_fn done);
  void cancel_subscription(const caller& c, std::string account, reply_fn done);
  // Upserts a catalog file's prices, packages and plans (unchanged ones are
  // left alone), waiting for the commit. Returns "" or what was refused.
  std::string apply_catalog(const std::vector<ledger::price_cmd>& prices,
                            const std::vector<ledger::package_cmd>& packages,
                            const std::vector<ledger::plan_cmd>& plans);

  // ---- Journal.
  void list_entries(const caller& c, std::string account, page p, reply_fn done);
  // ---- Events (ledger/events.hpp): those after the cursor, of one account
  // and one type when given, oldest first, read from the store on the reader
  // pool (every event of an answered write is there). A reader key sees its
  // own account's only: another account is 403, none given means its own.
  void list_events(const caller& c, store::event_filter filter, reply_fn done);
  // The same read for a stream: the events `filter` asks for, rendered as
  // the feed renders them (service/event_feed.hpp), to `done` on the reader
  // pool; nullopt when the store cannot be read. No key check: the caller's.
  using events_fn = std::function<void(std::optional<std::vector<feed_event>>)>;
  void read_events(store::event_filter filter, events_fn done);

  // A webhook endpoint was disabled (the delivery worker's decision): the
  // event webhook_endpoint.disabled, stored as any event; `done` gets
  // whether it is durable.
  void endpoint_disabled(std::string endpoint, std::string reason, std::function<void(bool)> done);

  // ---- An effect outside the ledger (a webhook endpoint's change) under
  // the caller's Idempotency-Key, as a command of the ledger is: a replay
  // answers the recorded reply and runs nothing; the key with another
  // request is idempotency_conflict (409); a twin still being answered is a
  // conflict too (409, Retry-After: 1), so the effect never runs twice at
  // once. `effect` answers its reply once; one worth recording (not 400,
  // 401, 403, 429 or 5xx) is recorded under the key, then answered; if that
  // record cannot be made durable the effect's reply is answered all the
  // same (it took place), unrecorded. Without a key, `effect` alone runs.
  using effect_fn = std::function<void(reply_fn)>;
  void once(const caller& c, effect_fn effect, reply_fn done);

  // ---- Keys, clock, health.
  void create_api_key(const caller& c, auth::role r, std::string account, reply_fn done);
  void revoke_api_key(const caller& c, std::string id, reply_fn done);
  void test_clock(reply_fn done);
  void advance_test_clock(const caller& c, std::int64_t seconds, reply_fn done);
  void health(reply_fn done);
  // Engine figures now, ledger gauges read on the writer thread.
  void gauges(std::function<void(engine::engine_stats, bool store_failed, ledger_gauges)> done);

  // ---- Store. Answers once the SQLite file holds every write answered
  // before the call, lots included, for a program that reads the file
  // directly: {"applied_log_seq": N}, the seq of the log's last record the
  // file holds (store::journal_reader::flush_file; 0 without a log). Waits
  // for the log's applier on the reader pool. A store failure is a 500.
  void flush_store(reply_fn done);

  bool test_clock_enabled() const { return ctx_.clock.is_test(); }

 private:
  using task_fn = std::function<reply(ledger::ledger&, ledger::time_us)>;
  // Runs `fn` on the engine's writer with the caller's Idempotency-Key, and
  // answers after the commit that holds its effects.
  void submit(const caller& c, bool read_only, task_fn fn, reply_fn done);
  // The same for a command on one account, named first: the writer finds a
  // round's accounts in one pass before it applies the round
  // (engine::task::account_hint).
  void submit_on(const caller& c, std::string account, bool read_only, task_fn fn, reply_fn done);
  // What one request reads of the objects the ledger forgot, pinned while
  // it reads (service.cpp, "What the ledger forgot").
  struct forgotten_reads {
    std::vector<ledger::object_id> pinned;  // pinned by this request, unpinned at its end
    ledger::object_id charge_id = 0;
    bool want_charge = false;                    // read charge_id next
    std::vector<ledger::object_id> want_lots;    // read these lots next (they must exist)
    ledger::object_id lot_probe = 0;             // read this lot next (it may not exist)
    bool charge_read = false;                    // the charge was read after its pin
    std::optional<store::stored_charge> charge;  // what was read, not yet admitted
    std::vector<store::stored_lot> lots;
    // A purchase's external id the ledger does not hold: looked up in the
    // store after it is pinned (ledger::pin_external_id).
    std::string external_id;
    bool want_external = false;            // look external_id up next
    bool external_read = false;            // it was looked up after its pin
    bool external_recorded = false;        // what the lookup found
    std::uint64_t external_pinned_at = 0;  // the ledger's resets() at the pin
    std::string error;                     // a read failed
    int rounds = 0;
    bool needed() const {
      return want_charge || !want_lots.empty() || lot_probe != 0 || want_external;
    }
    // Pins this request still holds (unpin_all drops them).
    bool holds_pins() const { return !pinned.empty() || !external_id.empty(); }
    // A request needs at most two reads (a charge, then its lots); a reload
    // of the ledger meanwhile may ask for more.
    static constexpr int rounds_max = 6;
    // A read failed: 500, "cannot read the <what>", logged naming the object
    // (what "charge", which "12").
    static reply failure(std::string_view what, std::string_view which, const std::string& error);
    // Too many rounds: the ledger was reloaded meanwhile (503, retry).
    static reply busy();
    // The placeholder of a task that asked for reads: not sent, and (a 5xx)
    // not recorded under the Idempotency-Key.
    static reply reading();
    // Writer thread.
    void pin_external(ledger::ledger& l, std::string_view id);
    void pin(ledger::ledger& l, ledger::object_id id);
    void unpin_all(ledger::ledger& l);
    bool admit(ledger::ledger& l);  // false: the store disagrees with the ledger
    // Reader pool.
    void read(store::journal_reader& journal);
  };
  // Runs `fn` on the writer; while it asks for reads (f->needed()), reads on
  // the reader pool and runs it again.
  void with_forgotten(const caller& c, std::shared_ptr<forgotten_reads> f, task_fn fn,
                      reply_fn done);
  // A command on hold `id`: `present` on the writer when the ledger holds
  // it, else `stored` with the hold read from the store (see service.cpp).
  using held_fn = std::function<reply(ledger::ledger&, ledger::object_id, ledger::time_us)>;
  using stored_hold_fn = std::function<reply(const store::stored_hold&)>;
  void hold_command(const caller& c, bool read_only, ledger::object_id id, held_fn present,
                    stored_hold_fn stored, reply_fn done);
  // Adds the charges a command made to its reply, for the counters.
  static void count(reply& r, std::span<const ledger::entry> made);
  // One object of a page read from the store: its cursor id and its JSON.
  struct page_row {
    std::uint64_t id = 0;
    std::string json;
  };
  // Reads up to `limit` of an account's rows after the cursor `after`;
  // nullopt when the store cannot be read.
  using page_reader = std::function<std::optional<std::vector<page_row>>(
      const std::string& account, std::uint64_t after, std::size_t limit)>;
  // A page of an account's rows kept in the store (journal entries,
  // purchases): 404 for a missing account, else {data, next}.
  void store_page(const caller& c, std::string account, page p, ledger::id_kind cursor,
                  page_reader read, reply_fn done);
  // Runs what fell due at the test clock's `now`, a bounded step per engine
  // task (so no commit grows without bound), then answers `done`.
  void drain_due(ledger::time_us now, reply out, reply_fn done);

  service_context ctx_;
  // The Idempotency-Keys of once()'s requests being answered: at most one
  // per request in flight.
  std::mutex once_mu_;
  std::unordered_set<std::string> once_running_;
};

}  // namespace creditd::service
