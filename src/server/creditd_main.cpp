// creditd: the credit ledger server.
//
//   creditd serve [--store URL] [--log-dir DIR | --no-log] [--listen HOST:PORT] [--test-clock]
//                 [--threads N] [--catalog FILE.toml] [--stripe-webhook-secret SECRET]
//                 [--tls-cert FILE --tls-key FILE] [--kept-in-memory N]
//   creditd check [--store URL] [--log-dir DIR | --no-log]
//
// The append-only log is the durability point by default, in PATH-log/
// beside the file of --store sqlite:PATH (log_choice below).
#include <fcntl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>

#include "api/openapi.hpp"
#include "auth/keys.hpp"
#include "calendar/tz_calendar.hpp"
#include "engine/engine.hpp"
#include "http/api.hpp"
#include "http/metrics.hpp"
#include "http/server.hpp"
#include "http/tls.hpp"
#include "http/webhook_delivery.hpp"
#include "service/catalog_file.hpp"
#include "store/log/barrier_reader.hpp"
#include "store/log/log_store.hpp"
#include "store/sqlite/sqlite_audit.hpp"
#include "store/sqlite/sqlite_db.hpp"
#include "store/sqlite/sqlite_keys.hpp"
#include "store/sqlite/sqlite_reader.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "store/sqlite/sqlite_webhooks.hpp"
#include "util/clock.hpp"
#include "util/log.hpp"
#include "util/thread_name.hpp"
#include "util/usable_cpus.hpp"

namespace {

using namespace creditd;

struct store_url {
  std::string sqlite_path;
};

std::optional<store_url> parse_store(const std::string& url) {
  if (url.starts_with("sqlite:")) {
    store_url s{url.substr(7)};
    if (s.sqlite_path.empty()) return std::nullopt;
    if (s.sqlite_path == ":memory:") {
      // Its journal readers and key store would each open another, empty one.
      std::fprintf(stderr, "creditd: an in-memory store is not supported; use sqlite:PATH\n");
      std::exit(2);
    }
    return s;
  }
  if (url.starts_with("postgresql://") || url.starts_with("postgres://")) {
    std::fprintf(
        stderr, "creditd: the PostgreSQL store is not part of this version yet; use sqlite:PATH\n");
    std::exit(2);
  }
  return std::nullopt;
}

// Where the append-only log is: `--log-dir DIR`, else PATH-log/ beside the
// file (named as SQLite names its PATH-wal and PATH-shm, and not *.log, which
// a log rotation rule could sweep away), or nowhere with --no-log.
struct log_choice {
  std::string dir;       // "" with --no-log
  std::string fallback;  // PATH-log: the default, named in refusals
  bool given = false;    // --log-dir DIR
};

log_choice choose_log(const std::string& sqlite_path, const std::string& log_dir, bool no_log) {
  log_choice c;
  c.fallback = sqlite_path + "-log";
  if (no_log) return c;
  c.given = !log_dir.empty();
  c.dir = c.given ? log_dir : c.fallback;
  return c;
}

// What a log directory holds, read before the log is opened (and without
// changing it).
struct log_dir_state {
  bool exists = false;       // something is at the path
  bool directory = false;    // ... and it is a directory
  std::size_t segments = 0;  // DIR/<20 digits>.log files
  // A record was ever appended: the first segment starts after seq 1, or
  // bytes follow its header (a torn record counts: this errs towards
  // refusing).
  bool records = false;
};

std::expected<log_dir_state, std::string> inspect_log_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  log_dir_state st;
  std::error_code ec;
  const auto status = fs::status(dir, ec);
  if (!fs::exists(status)) return st;
  st.exists = true;
  st.directory = fs::is_directory(status);
  if (!st.directory) return st;
  std::string first;  // the lowest segment's name
  for (const auto& de : fs::directory_iterator(dir, ec)) {
    const std::string name = de.path().filename().string();
    if (name.size() != 24 || !name.ends_with(".log") ||
        name.find_first_not_of("0123456789") != 20) {
      continue;
    }
    ++st.segments;
    if (first.empty() || name < first) first = name;
  }
  if (ec) return std::unexpected("cannot list " + dir + ": " + ec.message());
  if (first.empty()) return st;
  if (first != std::string(19, '0') + "1.log") {
    st.records = true;
    return st;
  }
  const std::string path = dir + "/" + first;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::unexpected("cannot open " + path + ": " + std::strerror(errno));
  char head[store::log::record_header_bytes] = {};
  const ssize_t n = ::pread(fd, head, sizeof head, store::log::segment_header_bytes);
  ::close(fd);
  if (n < 0) return std::unexpected("cannot read " + path + ": " + std::strerror(errno));
  for (ssize_t i = 0; i < n; ++i) {
    if (head[i] != 0) st.records = true;
  }
  return st;
}

bool split_listen(const std::string& listen, std::string& host, std::uint16_t& port) {
  const std::size_t colon = listen.rfind(':');
  if (colon == std::string::npos) return false;
  host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  const std::string p = listen.substr(colon + 1);
  char* end = nullptr;
  const long v = std::strtol(p.c_str(), &end, 10);
  if (p.empty() || *end != '\0' || v < 0 || v > 65535) return false;
  port = static_cast<std::uint16_t>(v);
  return !host.empty();
}

struct tls_files {
  std::string cert, key;
};

// How long a connection may take; the defaults are http::server_options'.
struct connection_timeouts {
  std::int64_t read_s = http::server_options{}.read_timeout.count();  // --read-timeout-s
  std::int64_t tls_handshake_s =
      http::server_options{}.tls_handshake_timeout.count();  // --tls-handshake-timeout-s
};

// Whether a live admin key exists (after CREDITD_ADMIN_KEY was applied).
std::expected<bool, std::string> admin_key_exists(auth::key_repository& repo) {
  auto rows = repo.load_all();
  if (!rows) return std::unexpected(rows.error());
  for (const auth::key_row& row : *rows) {
    if (row.who == auth::role::admin && !row.revoked_at) return true;
  }
  return false;
}

// Descriptors kept for what opens files after start (journal readers'
// connections, SQLite's temporary files), besides those open then.
constexpr std::size_t fds_reserved = 32;

// Commerce settings of `creditd serve`.
struct commerce_options {
  std::string catalog;        // --catalog FILE.toml ("" none)
  std::string stripe_secret;  // --stripe-webhook-secret or CREDITD_STRIPE_WEBHOOK_SECRET
  // Outgoing webhook deliveries (src/http/webhook_delivery.hpp).
  std::string webhook_ca_file;  // --webhook-ca-file ("" the system's CAs)
  std::int64_t webhook_connect_timeout_ms = 5000;
  std::int64_t webhook_response_timeout_ms = 10000;
};

// Live event streams (src/http/event_stream.hpp).
struct stream_settings {
  std::size_t streams_max = http::event_stream_options{}.streams_max;  // --event-streams-max
  std::int64_t keepalive_s = 15;                                       // --event-keepalive-s
  std::size_t kept = 4096;  // --event-feed-kept: recent events in memory
};

// How the SQLite file is filled in behind the append-only log.
struct applier_settings {
  std::int64_t apply_delay_ms = 4000;
  std::size_t apply_records_max = store::log::log_store_options{}.apply_records_max;
  std::string priority = "idle";
  std::uint64_t lot_lag_records = store::log::lot_backlog_limits{}.lag_records;
  std::string writeback = "paced";
};

int serve(const std::string& store_arg, const std::string& log_dir, bool no_log,
          const std::string& listen, bool test_clock, int threads, const std::string& log_level,
          const tls_files& tls_in, const commerce_options& shop, std::size_t kept_in_memory,
          const applier_settings& applier, const stream_settings& streaming,
          const connection_timeouts& timeouts, const std::string& commit_thread) {
  const bool commit_on_writer = commit_thread != "own";
  const bool writer_inline = commit_thread == "io";
  if (log_level == "debug") log::threshold() = log::level::debug;
  if (log_level == "error") log::threshold() = log::level::error;
  auto url = parse_store(store_arg);
  if (!url) {
    std::fprintf(stderr, "creditd: --store must be sqlite:PATH or a postgresql:// URL\n");
    return 2;
  }
  std::string host;
  std::uint16_t port = 0;
  if (!split_listen(listen, host, port)) {
    std::fprintf(stderr, "creditd: --listen must be HOST:PORT\n");
    return 2;
  }
  // HTTPS only, with both files; checked before the store is opened.
  if (tls_in.cert.empty() != tls_in.key.empty()) {
    std::fprintf(stderr, "creditd: --tls-cert and --tls-key go together (only %s was given)\n",
                 tls_in.cert.empty() ? "--tls-key" : "--tls-cert");
    return 2;
  }
  std::unique_ptr<boost::asio::ssl::context> tls;
  if (!tls_in.cert.empty()) {
    auto ctx = http::make_tls_context(tls_in.cert, tls_in.key);
    if (!ctx) {
      std::fprintf(stderr, "creditd: %s\n", ctx.error().c_str());
      return 2;
    }
    tls = std::move(*ctx);
  }
  // The catalog file is read before anything opens: a typo stops the start.
  std::optional<service::catalog_file> catalog;
  if (!shop.catalog.empty()) {
    auto parsed = service::load_catalog(shop.catalog);
    if (!parsed) {
      std::fprintf(stderr, "creditd: --catalog: %s\n", parsed.error().c_str());
      return 2;
    }
    catalog = std::move(*parsed);
  }
  server_clock clock(test_clock);
  const log_choice logs = choose_log(url->sqlite_path, log_dir, no_log);
  // Read before the store is opened, which would create a missing file.
  std::error_code exists_ec;
  const bool file_existed = std::filesystem::exists(url->sqlite_path, exists_ec);
  auto log_state = inspect_log_dir(logs.dir.empty() ? logs.fallback : logs.dir);
  if (!log_state) {
    std::fprintf(stderr, "creditd: the append-only log: %s\n", log_state.error().c_str());
    return 1;
  }
  if (!logs.dir.empty()) {
    if (log_state->exists && !log_state->directory) {
      std::fprintf(stderr, "creditd: %s is not a directory: it cannot hold the append-only log%s\n",
                   logs.dir.c_str(),
                   logs.given ? ""
                              : " (--log-dir DIR puts the log elsewhere; --no-log serves "
                                "the SQLite file alone)");
      return 2;
    }
    // A log is replayed only into the file it was written with: into a new
    // empty file its records would rebuild some ledger, perhaps without the
    // history it was started on.
    if (!file_existed && log_state->records) {
      std::fprintf(stderr,
                   "creditd: there is no store at %s, but %s holds an append-only log with "
                   "records: a log is applied only to the file it was written with. Restore "
                   "that file, or move %s away to start a new store\n",
                   url->sqlite_path.c_str(), logs.dir.c_str(), logs.dir.c_str());
      return 1;
    }
  }
  store::sqlite::sqlite_options sqlite_opts{url->sqlite_path};
  if (applier.writeback == "eager") {
    sqlite_opts.writeback.wal_bytes_per_second = 0;
    sqlite_opts.writeback.file_bytes_per_second = 0;
  }
  auto store = store::sqlite::sqlite_store::open(sqlite_opts);
  if (!store) {
    std::fprintf(stderr, "creditd: %s\n", store.error().message.c_str());
    return 1;
  }
  // The append-only log is the durability point and the file is filled in
  // behind it (store/log/log_store.hpp); its records after the file's mark
  // are applied here. A file written through a log is never served without
  // that log: the log's pending records would be skipped, or (with a new
  // log) the old log's records would be left behind for good.
  const std::uint64_t mark = (*store)->applied_log_seq();
  auto mark_text = [mark] { return std::to_string(mark); };
  std::unique_ptr<store::log::log_store> logged;
  store::store* durable = store->get();
  if (logs.dir.empty()) {
    if (mark != 0) {
      std::fprintf(stderr,
                   "creditd: %s was written through an append-only log (records up to %s "
                   "applied): serve it without --no-log (the log is %s by default) or with "
                   "--log-dir and that log's directory\n",
                   url->sqlite_path.c_str(), mark_text().c_str(), logs.fallback.c_str());
      return 1;
    }
    if (log_state->records) {
      std::fprintf(stderr,
                   "creditd: %s holds an append-only log with records that %s may lack: serve "
                   "it without --no-log, so that they are applied\n",
                   logs.fallback.c_str(), url->sqlite_path.c_str());
      return 1;
    }
  } else {
    if (mark != 0 && log_state->segments == 0) {
      std::string hint;
      if (logs.given) {
        auto at_default = inspect_log_dir(logs.fallback);
        if (at_default && at_default->segments > 0)
          hint = " (" + logs.fallback + ", the default, holds one)";
      }
      std::fprintf(stderr,
                   "creditd: %s was written through an append-only log (records up to %s "
                   "applied), but %s holds no log: serve it with --log-dir and the directory "
                   "of the log it was written with%s\n",
                   url->sqlite_path.c_str(), mark_text().c_str(), logs.dir.c_str(), hint.c_str());
      return 1;
    }
    store::log::log_store_options lo;
    lo.log.dir = logs.dir;
    lo.apply_delay = std::chrono::milliseconds(applier.apply_delay_ms);
    // Room for four transactions: one written while the next ones fill.
    lo.apply_records_max = applier.apply_records_max;
    lo.queued_records_max = 4 * applier.apply_records_max;
    lo.idle_priority = applier.priority == "idle";
    lo.lots.lag_records = applier.lot_lag_records;
    if (std::string why; lo.idle_priority && !store::log::background_priority::probe(&why)) {
      log::write(log::level::info, "the applier runs at normal priority", {{"reason", why}});
    }
    auto opened = store::log::log_store::open(std::move(lo), std::move(*store));
    if (!opened) {
      const std::string& why = opened.error().message;
      const bool cannot_create = why.starts_with("cannot create log");
      std::fprintf(stderr, "creditd: the append-only log %s: %s%s\n", logs.dir.c_str(), why.c_str(),
                   cannot_create ? " (--log-dir DIR puts the log elsewhere; --no-log serves "
                                   "the SQLite file alone)"
                                 : "");
      return 1;
    }
    logged = std::move(*opened);
    durable = logged.get();
  }
  ledger::ledger ledger;
  const calendar::tz_calendar zones;
  ledger.set_calendar(&zones);
  if (auto r = durable->load(ledger, clock.now()); !r) {
    std::fprintf(stderr, "creditd: %s\n", r.error().message.c_str());
    return 1;
  }
  // A test clock never goes back across a restart: it resumes where it was
  // when that is later than the wall clock.
  if (test_clock) clock.resume_at(ledger.time_seen());
  auto key_repo = store::sqlite::sqlite_keys::open(url->sqlite_path);
  if (!key_repo) {
    std::fprintf(stderr, "creditd: %s\n", key_repo.error().c_str());
    return 1;
  }
  // The applier may hold the file's write lock at idle priority.
  if (logged) (*key_repo)->on_busy([l = logged.get()] { l->raise_applier(); });
  auth::key_store keys(**key_repo);
  if (auto r = keys.load(); !r) {
    std::fprintf(stderr, "creditd: cannot load API keys: %s\n", r.error().c_str());
    return 1;
  }
  if (const char* admin = std::getenv("CREDITD_ADMIN_KEY"); admin != nullptr && *admin != '\0') {
    if (auto r = keys.set_bootstrap(admin, clock.now()); !r) {
      std::fprintf(stderr, "creditd: cannot register CREDITD_ADMIN_KEY: %s\n", r.error().c_str());
      return 1;
    }
  } else {
    // Without an admin key nobody can create accounts or keys: every /v1
    // call is 401. Said once, in the log and in plain words.
    auto exists = admin_key_exists(**key_repo);
    if (!exists) {
      std::fprintf(stderr, "creditd: cannot read API keys: %s\n", exists.error().c_str());
      return 1;
    }
    if (!*exists) {
      log::write(log::level::error, "no admin key",
                 {{"store", store_arg},
                  {"effect", "every /v1 request is refused with 401"},
                  {"fix",
                   "set CREDITD_ADMIN_KEY to a secret and restart; it is registered as an "
                   "admin key at start"}});
      std::fprintf(stderr,
                   "creditd: WARNING: no admin key exists in %s and CREDITD_ADMIN_KEY is not "
                   "set, so every /v1 request will be refused with 401.\n"
                   "creditd: to create one, restart with CREDITD_ADMIN_KEY=<a long random "
                   "secret>, e.g. CREDITD_ADMIN_KEY=$(openssl rand -hex 32) creditd serve ...\n",
                   store_arg.c_str());
    }
  }
  store::sqlite::sqlite_reader file_reader(url->sqlite_path);
  // Behind a log, each read first waits until the file holds every write
  // acknowledged before it.
  std::optional<store::log::barrier_reader> barrier;
  if (logged) barrier.emplace(file_reader, *logged);
  store::journal_reader& reader =
      barrier ? static_cast<store::journal_reader&>(*barrier) : file_reader;
  http::metrics stats;
  // The recent events for live streams, published by the committer as
  // their sets become durable.
  service::event_feed feed(ledger.next_event_seq() - 1, streaming.kept);
  // One event loop per I/O thread, each run by that thread alone (hint 1):
  // a connection stays on one, so its handlers need no strand and the
  // loops share no lock. `io` (the main thread's) also holds the listening
  // socket, the signals and the streams' timers, and with --commit-thread io
  // it drives the engine (a task submitted from any other thread wakes it
  // with an empty handler): made before the engine, destroyed after it. The
  // other loops are made first so that they outlive `io`: an accept still
  // pending when `io` is destroyed holds a socket of one of them.
  std::vector<std::unique_ptr<boost::asio::io_context>> more_io;
  for (int i = 1; i < threads; ++i)
    more_io.push_back(std::make_unique<boost::asio::io_context>(1));
  boost::asio::io_context io(1);
  engine::engine eng(
      ledger, *durable,
      {.clock = [&clock] { return clock.now(); },
       .charges_kept_max = kept_in_memory,
       .closed_holds_kept_max = kept_in_memory,
       .dead_lots_kept_max = kept_in_memory,
       .external_ids_kept_max = kept_in_memory,
       .commit_on_writer = commit_on_writer,
       .writer_inline = writer_inline,
       .wake = [&io] { boost::asio::post(io, [] {}); },
       .events_durable = [&feed](std::span<const ledger::event> evs) { feed.publish(evs); }});
  const std::string openapi = api::openapi_document(test_clock);
  boost::asio::thread_pool readers(2);  // journal pages and history, off the I/O threads
  service::service svc(
      {eng, keys, reader, clock,
       [&readers](std::function<void()> job) { boost::asio::post(readers, std::move(job)); },
       &stats, shop.stripe_secret});
  if (catalog) {
    if (std::string refused = svc.apply_catalog(catalog->prices, catalog->packages, catalog->plans);
        !refused.empty()) {
      std::fprintf(stderr, "creditd: --catalog %s: %s\n", shop.catalog.c_str(), refused.c_str());
      return 1;
    }
    log::write(log::level::info, "catalog loaded",
               {{"file", shop.catalog},
                {"prices", std::to_string(catalog->prices.size())},
                {"packages", std::to_string(catalog->packages.size())},
                {"plans", std::to_string(catalog->plans.size())}});
  }
  if (auto missing = http::endpoints_without_handler(); !missing.empty()) {
    std::fprintf(stderr, "creditd: the endpoint %.*s has no handler (a build error)\n",
                 static_cast<int>(missing[0].size()), missing[0].data());
    return 1;
  }
  // Webhook endpoints: rows of their own in the file, written on the
  // registry's thread; a new endpoint starts after the last event stored
  // (behind the log, once the file holds every acknowledged record).
  auto webhook_repo = store::sqlite::sqlite_webhooks::open(url->sqlite_path);
  if (!webhook_repo) {
    std::fprintf(stderr, "creditd: %s\n", webhook_repo.error().c_str());
    return 1;
  }
  if (logged) (*webhook_repo)->on_busy([l = logged.get()] { l->raise_applier(); });
  std::atomic<http::delivery_worker*> webhook_worker{nullptr};
  webhooks::registry hooks(**webhook_repo,
                           {.last_event_seq = [&]() -> std::expected<std::uint64_t, std::string> {
                              if (logged) {
                                if (auto r = logged->wait_applied(logged->durable_seq()); !r)
                                  return std::unexpected(r.error().message);
                              }
                              return (*webhook_repo)->last_event_seq();
                            },
                            .changed =
                                [&webhook_worker] {
                                  if (auto* w = webhook_worker.load(std::memory_order_acquire))
                                    w->wake();
                                }});
  if (auto r = hooks.load(); !r) {
    std::fprintf(stderr, "creditd: cannot load webhook endpoints: %s\n", r.error().c_str());
    return 1;
  }
  // Deliveries: threads of their own, taking events from the feed as they
  // become durable, or, for a cursor older than the feed keeps, from the
  // file as the log's applier fills it in (up to --apply-delay-ms behind),
  // not through the barrier: reads through it would make the applier write
  // at once and undo its batching whenever an endpoint exists. The file
  // holds a prefix of the events in seq order, so the cursor and
  // at-least-once delivery hold.
  auto worker = http::delivery_worker::start(
      hooks, file_reader, &feed, clock,
      {.connect_timeout = std::chrono::milliseconds(shop.webhook_connect_timeout_ms),
       .response_timeout = std::chrono::milliseconds(shop.webhook_response_timeout_ms),
       .ca_file = shop.webhook_ca_file,
       .disabled = [&svc](const std::string& endpoint, const std::string& reason) {
         svc.endpoint_disabled(endpoint, reason, [endpoint](bool durable) {
           if (!durable)
             log::write(log::level::error, "the event of a disabled endpoint was not stored",
                        {{"endpoint", endpoint}});
         });
       }});
  if (!worker) {
    std::fprintf(stderr, "creditd: %s\n", worker.error().c_str());
    return 2;
  }
  webhook_worker.store(worker->get(), std::memory_order_release);
  std::vector<boost::asio::io_context*> connection_io{&io};
  for (auto& more : more_io)
    connection_io.push_back(more.get());
  http::event_streams streams(io.get_executor(), feed, svc, keys,
                              {.keepalive = std::chrono::seconds(streaming.keepalive_s),
                               .streams_max = streaming.streams_max});
  // The log's marks for /metrics (none without a log). The file's mark is
  // read first: both only grow, so a scrape never shows it above the log's.
  std::function<http::log_marks()> log_seqs;
  if (logged) {
    log_seqs = [l = logged.get()] {
      const std::uint64_t applied = l->applied_seq();
      const auto file = l->writeback(/*wal=*/false), wal = l->writeback(/*wal=*/true);
      return http::log_marks{.durable_seq = l->durable_seq(),
                             .applied_seq = applied,
                             .room_waits = l->room_waits(),
                             .room_wait_us = l->room_wait_us(),
                             .rolls_to_free = l->segment_rolls_to_free(),
                             .rolls_to_new = l->segment_rolls_to_new(),
                             .file_writeback_bytes = file.bytes_handed,
                             .wal_writeback_bytes = wal.bytes_handed,
                             .file_writeback_wait_us = file.wait_us,
                             .wal_writeback_wait_us = wal.wait_us,
                             .file_writeback_runs = file.runs,
                             .wal_writeback_runs = wal.runs};
    };
  }
  http::api api(
      {svc, keys, stats, [&openapi] { return openapi; }, &hooks, &clock, &streams, log_seqs});

  // More connections than descriptors would make accept fail (EMFILE):
  // raise the soft limit, and cap connections below what remains.
  http::server_options opts{
      .host = host,
      .port = port,
      .read_timeout = std::chrono::seconds(timeouts.read_s),
      .tls_handshake_timeout = std::chrono::seconds(timeouts.tls_handshake_s)};
  const http::fd_fit fit = http::fit_fd_limit(opts.connections_max, fds_reserved);
  if (fit.connections_max < opts.connections_max) {
    log::write(log::level::info, "connections capped by the open-file limit",
               {{"connections_max", std::to_string(fit.connections_max)},
                {"wanted", std::to_string(opts.connections_max)},
                {"fd_limit", std::to_string(fit.soft)},
                {"fd_hard_limit", std::to_string(fit.hard)},
                {"fds_open", std::to_string(fit.fds_open)},
                {"fds_reserved", std::to_string(fds_reserved)},
                {"fix", "raise the open-file limit (ulimit -n, systemd LimitNOFILE=)"}});
    opts.connections_max = fit.connections_max;
  }
  http::server srv(io, api, opts, tls.get(), &stats, connection_io);
  auto bound = srv.listen();
  if (!bound) {
    std::fprintf(stderr, "creditd: %s\n", bound.error().c_str());
    return 1;
  }
  // SIGTERM/SIGINT: stop accepting, let requests in flight finish (at most
  // shutdown_grace), then flush the engine and exit 0.
  constexpr auto shutdown_grace = std::chrono::seconds(10);
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  boost::asio::steady_timer drain_timer(io);
  auto deadline = std::chrono::steady_clock::now();
  std::function<void()> wait_drained = [&] {
    const std::size_t left = srv.connections();
    if (left == 0 || std::chrono::steady_clock::now() >= deadline) {
      // Said once, with how it ended: every connection closed, or the grace
      // ran out with `left` still open (their requests are cut off).
      log::write(left == 0 ? log::level::info : log::level::error, "drained",
                 {{"connections_left", std::to_string(left)},
                  {"grace_expired", left == 0 ? "false" : "true"}});
      io.stop();
      return;
    }
    drain_timer.expires_after(std::chrono::milliseconds(20));
    drain_timer.async_wait([&](boost::system::error_code) { wait_drained(); });
  };
  signals.async_wait([&](boost::system::error_code ec, int) {
    if (ec) return;
    log::write(log::level::info, "shutting down",
               {{"connections", std::to_string(srv.connections())}});
    deadline = std::chrono::steady_clock::now() + shutdown_grace;
    srv.drain();
    wait_drained();
  });
  // Announced once SIGTERM is handled: a client that stops the server as
  // soon as it reads this line gets the graceful drain.
  std::string shown = bound->address().to_string();
  if (bound->address().is_v6()) shown = "[" + shown + "]";
  std::printf("creditd listening on %s://%s:%u\n", tls ? "https" : "http", shown.c_str(),
              static_cast<unsigned>(bound->port()));
  std::fflush(stdout);
  log::write(log::level::info, "listening",
             {{"address", shown + ":" + std::to_string(bound->port())},
              {"store", store_arg},
              {"accounts", std::to_string(ledger.account_count())},
              {"journal_entries", std::to_string(ledger.next_seq() - 1)},
              {"test_clock", test_clock ? "true" : "false"},
              {"tls", tls ? "true" : "false"},
              {"connections_max", std::to_string(opts.connections_max)},
              {"commit_thread", commit_thread},
              {"fd_limit", std::to_string(fit.soft)}});

  // The other loops run until the main one ends (drained, or the grace
  // ran out): a loop with no connection left waits on its guard.
  std::vector<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guards;
  std::vector<std::thread> pool;
  for (auto& more : more_io) {
    guards.push_back(boost::asio::make_work_guard(*more));
    pool.emplace_back([&ctx = *more] {
      util::name_this_thread("io");
      ctx.run();
    });
  }
  if (writer_inline) {
    // Redis's loop: every handler ready (the requests read, parsed and
    // submitted), then one round of the engine (applied, committed, their
    // replies posted here), then the replies written by the next poll; it
    // sleeps only when neither has anything to do.
    auto guard = boost::asio::make_work_guard(io);
    while (!io.stopped()) {
      io.poll();
      if (io.stopped()) break;
      if (eng.run_round()) continue;
      io.run_one_for(eng.idle_wait());
    }
  } else {
    io.run();
  }
  guards.clear();
  for (auto& more : more_io)
    more->stop();
  for (auto& t : pool)
    t.join();
  // Deliveries stop (those in flight end within their timeouts) before the
  // store they read does; the registry's queued writes run, waking nobody.
  webhook_worker.store(nullptr, std::memory_order_release);
  (*worker)->stop();
  hooks.stop();
  readers.join();
  eng.stop();
  if (eng.failed()) {
    std::fprintf(stderr, "creditd: stopped after a store failure: %s\n", eng.failure().c_str());
    return 1;
  }
  return 0;
}

// "" when `path` is an existing creditd store, else why not, naming it.
// Opens the file without creating it and only reads.
std::string existing_creditd_store(const std::string& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (!std::filesystem::exists(status)) {
    return "no store at " + path + " (creditd check reads an existing store; creditd serve " +
           "creates one)";
  }
  if (!std::filesystem::is_regular_file(status)) return path + " is not a file";
  auto db = store::sqlite::database::open(path, /*create=*/false);
  if (!db) return "cannot open " + path + ": " + db.error().message;
  auto q = db->prepare(
      "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'");
  if (!q) return "cannot read " + path + ": " + q.error().message;
  auto row = q->step();
  if (!row) return "cannot read " + path + ": " + row.error().message;
  if (!*row || q->column_int(0) != 1) return path + " is not a creditd store";
  return "";
}

// `creditd check`: the file's integrity, its row checksums and every row
// against the journal (store/sqlite/sqlite_audit.hpp), then a load as
// `serve` does it (its own checks included). Exit 1 and every problem found
// (at most 20), each naming its row; or what was verified, with counts.
int check(const std::string& store_arg, const std::string& log_dir, bool no_log) {
  auto url = parse_store(store_arg);
  if (!url) {
    std::fprintf(stderr, "creditd: --store must be sqlite:PATH\n");
    return 2;
  }
  // A check never creates a store: a mistyped path is an error, not an
  // empty store that passes.
  if (auto missing = existing_creditd_store(url->sqlite_path); !missing.empty()) {
    std::fprintf(stderr, "creditd: %s\n", missing.c_str());
    return 1;
  }
  // Opened as serve opens it: the lock (no server may write meanwhile) and
  // the schema migrated to this version's.
  auto store = store::sqlite::sqlite_store::open({url->sqlite_path});
  if (!store) {
    std::fprintf(stderr, "creditd: %s\n", store.error().message.c_str());
    return 1;
  }
  const auto started = std::chrono::steady_clock::now();
  // A server stopped with lots held back (killed: store/log/lot_backlog.hpp)
  // left the lot changes of its last records in the log only. They are
  // written from the log first, as a start writes them, so that the file is
  // whole as of its mark; nothing else is applied.
  std::string lots_line;
  if (const std::uint64_t from = (*store)->applied_lots_seq(), to = (*store)->applied_log_seq();
      from < to) {
    const log_choice lots_log = choose_log(url->sqlite_path, log_dir, no_log);
    if (lots_log.dir.empty()) {
      std::fprintf(stderr,
                   "creditd: %s: its lot rows lag its journal (lots up to log record %llu, the "
                   "journal up to %llu) and the log holds their changes: check it without "
                   "--no-log (the log is %s by default) or with --log-dir\n",
                   url->sqlite_path.c_str(), static_cast<unsigned long long>(from),
                   static_cast<unsigned long long>(to), lots_log.fallback.c_str());
      return 1;
    }
    auto caught = store::log::catch_up_lots(**store, lots_log.dir);
    if (!caught) {
      std::fprintf(stderr, "creditd: the append-only log %s: %s\n", lots_log.dir.c_str(),
                   caught.error().message.c_str());
      return 1;
    }
    lots_line = "  the lot rows: the changes of log records " + std::to_string(from + 1) + " to " +
                std::to_string(to) +
                ", held back when the server stopped, written from the log first (as a start "
                "writes them)\n";
  }
  auto report = store::sqlite::audit_file(url->sqlite_path);
  if (!report) {
    std::fprintf(stderr, "creditd: %s\n", report.error().message.c_str());
    return 1;
  }
  // The start-up path too: a store that audits clean must load.
  if (report->ok()) {
    ledger::ledger ledger;
    const calendar::tz_calendar zones;
    ledger.set_calendar(&zones);
    if (auto r = (*store)->load(ledger, wall_clock_now()); !r) {
      report->problems.push_back("loading it as creditd serve does: " + r.error().message);
    } else if (ledger.next_seq() != report->journal_next_seq) {
      report->problems.push_back("the loaded ledger's next seq is " +
                                 std::to_string(ledger.next_seq()) + " but the journal ends at " +
                                 std::to_string(report->journal_next_seq - 1));
    }
  }
  // The log beside the file (PATH-log/ unless --log-dir or --no-log says
  // otherwise): every record above the file's mark must check and decode (a
  // start applies them).
  std::string log_line;
  const log_choice logs = choose_log(url->sqlite_path, log_dir, no_log);
  const std::uint64_t mark = (*store)->applied_log_seq();
  auto log_state = inspect_log_dir(logs.dir.empty() ? logs.fallback : logs.dir);
  if (!log_state) {
    report->problems.push_back("the append-only log: " + log_state.error());
  } else if (logs.dir.empty()) {
    if (mark != 0) {
      report->problems.push_back(
          "the file was written through an append-only log (records up to " + std::to_string(mark) +
          " applied): check it without --no-log (the log is " + logs.fallback +
          " by default) or with --log-dir and that log's directory");
    } else if (log_state->records) {
      report->problems.push_back(logs.fallback +
                                 " holds an append-only log with records the file may lack: "
                                 "check it without --no-log");
    }
  } else if (!log_state->exists && !logs.given && mark == 0) {
    // The default, absent: a file served without a log, as --no-log does.
    log_line = "  no append-only log at " + logs.dir +
               ": the file was served without one (its mark is 0), so it holds every write\n";
  } else if (mark != 0 && log_state->segments == 0) {
    report->problems.push_back(
        "the file was written through an append-only log (records up to " + std::to_string(mark) +
        " applied), but " + logs.dir +
        " holds no log: check it with --log-dir and the directory of the log it was written "
        "with");
  } else {
    auto found = store::log::check_log(logs.dir, mark);
    if (!found) {
      report->problems.push_back("the append-only log " + logs.dir + ": " + found.error().message);
    } else {
      log_line = "  the log " + logs.dir + ": " + std::to_string(found->segments) +
                 " segment(s), every header and every record after the file's mark (" +
                 std::to_string(found->applied) + ") checked and decoded; " +
                 std::to_string(found->last_seq - found->applied) +
                 " record(s) not yet in the file (the next start applies them)\n";
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (!report->ok()) {
    std::printf("%s\n", store::sqlite::describe(*report, url->sqlite_path).c_str());
    return 1;
  }
  const ledger::audit_counts& n = report->counts;
  auto u = [](std::uint64_t v) { return static_cast<unsigned long long>(v); };
  std::printf(
      "ok: %llu accounts, %llu journal entries, %llu lots, %llu holds, %llu charges, %llu "
      "purchases, %llu subscription periods (%s, %.2f s)\n"
      "  the file: PRAGMA integrity_check and every row's checksum\n"
      "  the journal: seq 1 to %llu without gap or duplicate, ending at the store's counter; "
      "each entry's amount against its parts and the rows it names; balance_after recomputed "
      "(%llu exactly; %llu written before their account's last settings change, which the "
      "journal does not record, checked for what does not depend on them)\n"
      "  the rows: every lot's amount, remaining, held, spent, expired, voided and status; every "
      "hold's and charge's amounts, parts, status and refunds; postpaid use; purchases and "
      "periods against their lots; conservation per lot and per account\n",
      u(n.accounts), u(n.entries), u(n.lots), u(n.holds), u(n.charges), u(n.purchases),
      u(n.periods), url->sqlite_path.c_str(), seconds, u(report->journal_next_seq - 1),
      u(n.balances_exact), u(n.balances_unverifiable));
  std::printf("%s%s", lots_line.c_str(), log_line.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"creditd: the credit ledger and metering service"};
  app.require_subcommand(1);
  std::string store_arg = "sqlite:./creditd.db";
  std::string listen = "127.0.0.1:8080";
  bool test_clock = false;
  int threads = static_cast<int>(std::max(1u, std::min(4u, std::thread::hardware_concurrency())));

  CLI::App* serve_cmd = app.add_subcommand("serve", "Serve the HTTP API");
  serve_cmd->add_option("--store", store_arg,
                        "sqlite:PATH (its append-only log in PATH-log/ unless --log-dir or "
                        "--no-log says otherwise) or postgresql://user:pass@host:port/db");
  serve_cmd->add_option("--listen", listen, "HOST:PORT to listen on (port 0 picks a free port)");
  serve_cmd->add_flag("--test-clock", test_clock,
                      "A clock that moves only through POST /v1/test-clock/advance");
  CLI::Option* threads_opt =
      serve_cmd
          ->add_option("--threads", threads,
                       "I/O threads (default: the usable cores, at most 4; 1 with "
                       "--commit-thread io, which serves every connection on one thread)")
          ->check(CLI::Range(1, 64));
  std::size_t kept_in_memory = engine::engine_options{}.charges_kept_max;
  serve_cmd
      ->add_option("--kept-in-memory", kept_in_memory,
                   "Charges, closed holds, spent or expired lots and purchases' external ids "
                   "kept in memory: the newest N of each; older ones are read from the store "
                   "when a request needs them")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{0}, std::size_t{100'000'000}));
  std::string commit_thread = "auto";
  serve_cmd
      ->add_option("--commit-thread", commit_thread,
                   "Which thread commits each group of writes: own (a committer thread, "
                   "the next group applied while one commits), writer (the thread that "
                   "applies them, one thread fewer per request), io (no writer thread: the "
                   "one I/O thread reads the requests, applies, commits and answers them, "
                   "with no hand-off between threads) or auto (io on at most 2 usable "
                   "cores, or writer there when --threads asks for more than 1; else own)")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "own", "writer", "io"}));
  applier_settings applier;
  CLI::Option* apply_delay_opt = serve_cmd->add_option(
      "--apply-delay-ms", applier.apply_delay_ms,
      "How long an acknowledged write may wait in the append-only log before the "
      "SQLite file is filled in with it: larger transactions write each changed page "
      "once. No read waits for it (reads take what the file lacks from the log); POST "
      "/v1/store/flush has it written at once, for a program reading the file directly. "
      "0: at once");
  apply_delay_opt->capture_default_str()->check(CLI::Range(std::int64_t{0}, std::int64_t{60'000}));
  CLI::Option* apply_records_opt =
      serve_cmd
          ->add_option("--apply-records-max", applier.apply_records_max,
                       "Log records (group commits) in one SQLite transaction at most; the "
                       "applier also goes once that many wait. At most four times that many "
                       "(and 256 MiB) wait in memory: beyond, writes wait for the applier")
          ->capture_default_str()
          ->check(CLI::Range(std::size_t{1}, std::size_t{65'536}));
  CLI::Option* applier_priority_opt =
      serve_cmd
          ->add_option("--applier-priority", applier.priority,
                       "The CPU priority of the thread that fills the SQLite file in behind the "
                       "log: idle (SCHED_IDLE while nothing waits for it, normal while something "
                       "does; needs CAP_SYS_NICE or RLIMIT_NICE 20, else normal) or normal")
          ->capture_default_str()
          ->check(CLI::IsMember({"idle", "normal"}));
  CLI::Option* lot_lag_opt =
      serve_cmd
          ->add_option("--lot-lag-records", applier.lot_lag_records,
                       "How many log records a lot's changes may wait before the SQLite file "
                       "gets them, so that a lot charged again meanwhile is written once (at "
                       "most 65536 lots wait; creditd's reads take the waiting copies, a "
                       "program reading the file directly sees them behind). 0: with their "
                       "records, the file whole after every transaction")
          ->capture_default_str()
          ->check(CLI::Range(std::uint64_t{0}, std::uint64_t{1'000'000}));
  CLI::Option* writeback_opt =
      serve_cmd
          ->add_option("--writeback", applier.writeback,
                       "How the applier's writes to the SQLite file reach the disk: paced (while "
                       "nothing waits for the file, at a bounded rate: the WAL at 128 MiB/s, a "
                       "checkpoint spread over half of --apply-delay-ms, so that the log's syncs "
                       "do not wait behind them in bursts) or eager (at once). Either way a "
                       "chunk at a time, and a flush or a writer short of room is never held "
                       "back")
          ->capture_default_str()
          ->check(CLI::IsMember({"paced", "eager"}));
  std::string log_level = "info";
  serve_cmd->add_option("--log-level", log_level, "debug (one line per request), info or error")
      ->check(CLI::IsMember({"debug", "info", "error"}));

  CLI::App* check_cmd =
      app.add_subcommand("check", "Load a store and audit its journal against its state");
  check_cmd->add_option("--store", store_arg, "sqlite:PATH (and its log, PATH-log/ by default)");
  std::string log_dir;
  bool no_log = false;
  CLI::Option* serve_log =
      serve_cmd->add_option("--log-dir", log_dir,
                            "The append-only log's directory (default: PATH-log beside "
                            "sqlite:PATH): each commit is durable there first, the store is "
                            "filled in behind it");
  serve_cmd
      ->add_flag("--no-log", no_log,
                 "Serve the SQLite file alone, each commit durable in it (refused for a file "
                 "written through a log)")
      ->excludes(serve_log)
      ->excludes(apply_delay_opt)
      ->excludes(apply_records_opt)
      ->excludes(applier_priority_opt)
      ->excludes(lot_lag_opt)
      ->excludes(writeback_opt);
  CLI::Option* check_log = check_cmd->add_option(
      "--log-dir", log_dir, "The store's append-only log, checked with it (default: PATH-log)");
  check_cmd
      ->add_flag("--no-log", no_log, "Check the SQLite file alone (a file served with --no-log)")
      ->excludes(check_log);

  tls_files tls;
  serve_cmd->add_option("--tls-cert", tls.cert,
                        "PEM certificate chain: serve HTTPS only (needs --tls-key)");
  serve_cmd->add_option("--tls-key", tls.key, "PEM private key of --tls-cert");
  connection_timeouts timeouts;
  serve_cmd
      ->add_option("--read-timeout-s", timeouts.read_s,
                   "A connection is closed when a whole request has not arrived this many "
                   "seconds after the server began to wait for it (an idle keep-alive "
                   "connection too), or when a write to it (a reply, an event stream) has "
                   "waited this long")
      ->capture_default_str()
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{3600}));
  serve_cmd
      ->add_option("--tls-handshake-timeout-s", timeouts.tls_handshake_s,
                   "With --tls-cert: a connection must finish its TLS handshake within this "
                   "many seconds of its accept")
      ->capture_default_str()
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{600}));

  commerce_options shop;
  serve_cmd->add_option("--catalog", shop.catalog,
                        "A TOML file of prices, packages and plans, upserted at start "
                        "(examples/catalog.toml)");
  serve_cmd->add_option("--stripe-webhook-secret", shop.stripe_secret,
                        "Stripe's endpoint secret (whsec_...) for POST /v1/webhooks/stripe "
                        "(default: $CREDITD_STRIPE_WEBHOOK_SECRET)");

  serve_cmd->add_option("--webhook-ca-file", shop.webhook_ca_file,
                        "PEM CA certificates that webhook endpoints' https certificates are "
                        "verified against (default: the system's)");
  serve_cmd
      ->add_option("--webhook-connect-timeout-ms", shop.webhook_connect_timeout_ms,
                   "Connect (and TLS handshake) timeout of a webhook delivery")
      ->check(CLI::Range(1, 600000));
  serve_cmd
      ->add_option("--webhook-response-timeout-ms", shop.webhook_response_timeout_ms,
                   "How long a webhook endpoint may take to answer a delivery")
      ->check(CLI::Range(1, 600000));
  stream_settings streaming;
  serve_cmd
      ->add_option("--event-streams-max", streaming.streams_max,
                   "Live event streams (GET /v1/events/stream) open at once; one more is "
                   "answered 503 too_many_streams")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{0}, std::size_t{100'000}));
  serve_cmd
      ->add_option("--event-keepalive-s", streaming.keepalive_s,
                   "A comment line on an event stream after this many seconds with nothing sent")
      ->capture_default_str()
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{3600}));
  serve_cmd
      ->add_option("--event-feed-kept", streaming.kept,
                   "The newest events kept in memory for event streams; a stream further "
                   "behind reads the store")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{1'000'000}));
  CLI11_PARSE(app, argc, argv);
  if (shop.stripe_secret.empty()) {
    if (const char* s = std::getenv("CREDITD_STRIPE_WEBHOOK_SECRET")) shop.stripe_secret = s;
  }
  if (*serve_cmd) {
    const bool few_cores = engine::commit_on_writer_suits(util::usable_cpus());
    const bool threads_given = threads_opt->count() > 0;
    if (commit_thread == "auto")
      commit_thread = !few_cores ? "own" : threads_given && threads > 1 ? "writer" : "io";
    if (commit_thread == "io") {
      if (threads_given && threads > 1) {
        std::fprintf(stderr,
                     "creditd: --commit-thread io serves every connection on one thread; "
                     "--threads %d asks for more (use --commit-thread writer or own)\n",
                     threads);
        return 2;
      }
      threads = 1;
    }
    return serve(store_arg, log_dir, no_log, listen, test_clock, threads, log_level, tls, shop,
                 kept_in_memory, applier, streaming, timeouts, commit_thread);
  }
  if (*check_cmd) return check(store_arg, log_dir, no_log);
  return 2;
}
