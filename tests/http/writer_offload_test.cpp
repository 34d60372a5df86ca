// Nothing slow on the engine's writer thread (issue 12), in process: the
// service over a real engine, SQLite store, journal reader and key store,
// with gates that hold a store read or a key write until the test opens
// them. Event-driven: every wait is for an event (a gate reached, a reply),
// never for a time.
//   - balance?at= reads and replays the history on the reader pool: while
//     that read is held, a charge on another account is answered;
//   - API key create and revoke write on the key store's thread, never on
//     the writer or the caller's (an I/O) thread; a created key is durable
//     before it is shown, a revoked one refused as soon as that is answered;
//   - a due backlog of 20,000 hold expiries reached by the test clock is
//     applied in bounded steps: no commit holds all of it;
//   - an effect outside the ledger under an Idempotency-Key (service::once)
//     runs once: a twin meanwhile is refused, a replay answers the first.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "ledger/limits.hpp"
#include "support/service_rig.hpp"

using namespace creditd::testing::service_rig;

TEST(writer_offload, balance_at_reads_and_replays_on_the_reader_pool_while_charges_go_on) {
  rig r;
  ASSERT_TRUE(r.loaded);
  ASSERT_EQ(r.account_with("a", 100).status, 201u);
  ASSERT_EQ(r.account_with("b", 100).status, 201u);
  r.clock.advance(ledger::us_per_second);
  ASSERT_EQ(r.charge("a", 10).status, 201u);
  const reply then = r.balance("a", std::nullopt);
  ASSERT_EQ(then.status, 200u) << then.body;
  const time_us at = r.clock.now();
  r.clock.advance(10 * ledger::us_per_second);
  ASSERT_EQ(r.charge("a", 5).status, 201u);  // after `at`: not in the replay

  const std::thread::id writer = r.writer_thread();
  r.reader.g.forbid(writer);
  r.reader.g.forbid(std::this_thread::get_id());
  r.reader.g.close();
  awaited past;
  r.svc.get_balance(admin, "a", at, past.fn());
  r.reader.g.wait_reached();
  ASSERT_FALSE(r.reader.g.on_forbidden())
      << "the history was read on the engine's writer or the caller's thread";
  // The history read is held: the writer still applies and answers a charge.
  const reply other = r.charge("b", 1);
  EXPECT_EQ(other.status, 201u) << other.body;
  EXPECT_FALSE(past.ready());
  r.reader.g.open();
  const reply replayed = past.f.get();
  ASSERT_EQ(replayed.status, 200u) << replayed.body;
  EXPECT_FALSE(r.reader.g.on_forbidden())
      << "the lots were read on the engine's writer or the caller's thread";
  // Exact: what the live balance showed at that instant.
  for (const char* f : {"available", "held", "reserve", "postpaid_used"})
    EXPECT_EQ(field(replayed, f), field(then, f)) << f << ": " << replayed.body;
  EXPECT_EQ(field(replayed, "available"), "90");
  const boost::json::value doc = json(replayed);
  const auto& lots = doc.at("lots").as_array();
  ASSERT_EQ(lots.size(), 1u) << replayed.body;
  EXPECT_EQ(lots[0].at("remaining").as_string(), "90");
  EXPECT_EQ(lots[0].at("id").as_string(), json(then).at("lots").as_array()[0].at("id").as_string());

  // An unknown account is answered by the writer, before any read.
  const std::size_t reads = r.reader.g.passes();
  const reply missing = r.balance("nobody", at);
  EXPECT_EQ(missing.status, 404u) << missing.body;
  EXPECT_EQ(r.reader.g.passes(), reads);
}

TEST(writer_offload, api_keys_are_written_on_the_key_thread_durable_before_shown) {
  rig r;
  ASSERT_TRUE(r.loaded);
  ASSERT_EQ(r.account_with("b", 100).status, 201u);
  const std::thread::id writer = r.writer_thread();
  r.keys_repo.g.forbid(writer);
  r.keys_repo.g.forbid(std::this_thread::get_id());

  // Create, with an Idempotency-Key; the write is held at the gate.
  service::caller c = admin;
  c.idempotency_key = "create-1";
  c.fingerprint = "fp-1";
  r.keys_repo.g.close();
  awaited created;
  r.svc.create_api_key(c, auth::role::service, "", created.fn());
  r.keys_repo.g.wait_reached();
  ASSERT_FALSE(r.keys_repo.g.on_forbidden())
      << "the key was written on the engine's writer or the caller's thread";
  // Not shown before it is durable; the writer goes on meanwhile.
  EXPECT_FALSE(created.ready());
  EXPECT_EQ(r.charge("b", 1).status, 201u);
  EXPECT_FALSE(created.ready());
  r.keys_repo.g.open();
  const reply made = created.f.get();
  ASSERT_EQ(made.status, 201u) << made.body;
  const std::string id = field(made, "id"), secret = field(made, "key");
  ASSERT_TRUE(r.keys.authenticate(secret).has_value());
  {
    // Durable: another connection to the file reads it, live.
    auto other = st::sqlite::sqlite_keys::open(r.path);
    ASSERT_TRUE(other.has_value());
    auto rows = (*other)->load_all();
    ASSERT_TRUE(rows.has_value());
    bool found = false;
    for (const auto& row : *rows)
      found = found || (row.id == id && !row.revoked_at);
    EXPECT_TRUE(found) << id;
  }

  // The same Idempotency-Key again: the recorded reply, without the secret,
  // and no second key written.
  awaited again;
  r.svc.create_api_key(c, auth::role::service, "", again.fn());
  const reply replay = again.f.get();
  EXPECT_EQ(replay.status, 201u);
  EXPECT_TRUE(replay.replayed);
  EXPECT_EQ(field(replay, "id"), id);
  EXPECT_TRUE(json(replay).at("key").is_null()) << replay.body;
  EXPECT_EQ(r.keys_repo.upserts.load(), 1);
  // The same key with another request: 409, nothing written.
  service::caller other = c;
  other.fingerprint = "fp-2";
  awaited conflict;
  r.svc.create_api_key(other, auth::role::admin, "", conflict.fn());
  EXPECT_EQ(conflict.f.get().status, 409u);
  EXPECT_EQ(r.keys_repo.upserts.load(), 1);

  // Revoke: held at the gate, off this thread and off the writer; refused
  // as soon as it is answered, and durable.
  r.keys_repo.g.close();
  awaited revoked;
  r.svc.revoke_api_key(admin, id, revoked.fn());
  r.keys_repo.g.wait_reached();
  ASSERT_FALSE(r.keys_repo.g.on_forbidden())
      << "the key was revoked on the engine's writer or the caller's thread";
  EXPECT_FALSE(revoked.ready());
  EXPECT_EQ(r.charge("b", 1).status, 201u);
  r.keys_repo.g.open();
  const reply gone = revoked.f.get();
  EXPECT_EQ(gone.status, 200u) << gone.body;
  EXPECT_FALSE(r.keys.authenticate(secret).has_value());
  {
    auto other_conn = st::sqlite::sqlite_keys::open(r.path);
    ASSERT_TRUE(other_conn.has_value());
    auto rows = (*other_conn)->load_all();
    ASSERT_TRUE(rows.has_value());
    bool revoked_row = false;
    for (const auto& row : *rows)
      revoked_row = revoked_row || (row.id == id && row.revoked_at.has_value());
    EXPECT_TRUE(revoked_row) << id;
  }
  awaited twice;
  r.svc.revoke_api_key(admin, id, twice.fn());
  EXPECT_EQ(twice.f.get().status, 404u);

  // A reader key for an unknown account: 404 from the writer, nothing written.
  awaited unknown;
  r.svc.create_api_key(admin, auth::role::reader, "nobody", unknown.fn());
  EXPECT_EQ(unknown.f.get().status, 404u);
  EXPECT_EQ(r.keys_repo.upserts.load(), 1);
}

// service::once, the Idempotency-Key of an effect outside the ledger (a
// webhook endpoint's change): a twin that comes while the first is still
// running is a 409 and runs nothing; the first's reply is recorded and
// replayed; another request under the key is idempotency_conflict; a reply
// not worth recording (503) lets a retry run the effect again.

TEST(writer_offload, an_effect_under_an_idempotency_key_runs_once) {
  rig r;
  ASSERT_TRUE(r.loaded);
  service::caller c = admin;
  c.idempotency_key = "hook-1";
  c.fingerprint = "fp-1";
  std::atomic<int> runs{0};
  service::reply_fn held;  // the first effect's answer, given later
  awaited first;
  r.svc.once(
      c,
      [&](service::reply_fn done) {
        ++runs;
        held = std::move(done);
      },
      first.fn());
  // The lookup runs on the writer, then the effect: a task after it sees both.
  ASSERT_EQ(r.account_with("b", 1).status, 201u);
  ASSERT_EQ(runs.load(), 1);
  awaited twin;
  r.svc.once(
      c, [&](service::reply_fn done) { ++runs, done(service::json_reply(201, "{}")); }, twin.fn());
  const reply busy = twin.f.get();
  EXPECT_EQ(busy.status, 409u) << busy.body;
  EXPECT_EQ(busy.retry_after_s, 1);
  EXPECT_EQ(runs.load(), 1);
  EXPECT_FALSE(first.ready());
  held(service::json_reply(201, R"({"id":"hook-1"})"));
  const reply made = first.f.get();
  EXPECT_EQ(made.status, 201u);
  EXPECT_EQ(made.body, R"({"id":"hook-1"})");
  EXPECT_FALSE(made.replayed);

  awaited again;
  r.svc.once(
      c, [&](service::reply_fn done) { ++runs, done(service::json_reply(200, "{}")); }, again.fn());
  const reply replay = again.f.get();
  EXPECT_EQ(replay.status, 201u);
  EXPECT_EQ(replay.body, made.body);
  EXPECT_TRUE(replay.replayed);
  EXPECT_EQ(runs.load(), 1);

  service::caller other = c;
  other.fingerprint = "fp-2";
  awaited conflict;
  r.svc.once(
      other, [&](service::reply_fn done) { ++runs, done(service::json_reply(200, "{}")); },
      conflict.fn());
  const reply refused = conflict.f.get();
  EXPECT_EQ(refused.status, 409u);
  EXPECT_NE(refused.body.find("idempotency_conflict"), std::string::npos) << refused.body;
  EXPECT_EQ(runs.load(), 1);

  // A 503 is not recorded: the retry runs the effect.
  service::caller failing = admin;
  failing.idempotency_key = "hook-2";
  failing.fingerprint = "fp-1";
  for (const unsigned status : {503u, 200u}) {
    awaited answer;
    r.svc.once(
        failing,
        [&](service::reply_fn done) {
          ++runs;
          done(service::error_reply(status, status == 503 ? "unavailable" : "ok", "x"));
        },
        answer.fn());
    EXPECT_EQ(answer.f.get().status, status);
  }
  EXPECT_EQ(runs.load(), 3);
}

TEST(writer_offload, a_due_backlog_of_twenty_thousand_hold_expiries_commits_in_bounded_steps) {
  rig r;
  ASSERT_TRUE(r.loaded);
  // 20,000 accounts with one hold each, all expiring at the same instant.
  constexpr int holds = 20'000;
  ASSERT_TRUE(creditd::testing::run_durably(r.eng, [](ledger::ledger& l, time_us now) {
    for (int i = 0; i < holds; ++i) {
      const std::string id = "h" + std::to_string(i);
      ASSERT_TRUE(l.put_account({id, std::nullopt, std::nullopt}, now).has_value());
      ASSERT_TRUE(l.grant({.account = id, .amount = 10 * credit}, now).has_value());
      ASSERT_TRUE(
          l.place_hold({.account = id, .amount = credit, .operation = "x", .ttl_seconds = 60}, now)
              .has_value());
    }
  }));
  std::size_t open = 0;
  ASSERT_TRUE(creditd::testing::run_durably(
      r.eng, [&](ledger::ledger& l, time_us) { open = l.open_hold_count(); }));
  ASSERT_EQ(open, static_cast<std::size_t>(holds));
  (void)r.counted.take();

  awaited advanced;
  r.svc.advance_test_clock(admin, 120, advanced.fn());
  const reply moved = advanced.f.get();
  ASSERT_EQ(moved.status, 200u) << moved.body;
  // Answered after every expiry it made due was applied and committed.
  open = 1;
  ASSERT_TRUE(creditd::testing::run_durably(
      r.eng, [&](ledger::ledger& l, time_us) { open = l.open_hold_count(); }));
  EXPECT_EQ(open, 0u);
  // In bounded commits. Each step here is 1,024 expiries of one entry each
  // (the last one excepted), so a set holds at most the four steps the writer
  // takes while it has room (engine::due_room) and one step of the test
  // clock's drain task. The writer's own steps get ahead of the drain task
  // (queued when the advance is answered) by a few sets (6,144 to 7,168
  // entries in the runs seen): an unbounded drain commits all that is left
  // then, over 12,000, in one set.
  const std::vector<std::size_t> commits = r.counted.take();
  std::size_t total = 0, largest = 0;
  for (std::size_t n : commits) {
    total += n;
    largest = std::max(largest, n);
  }
  EXPECT_EQ(total, static_cast<std::size_t>(holds));  // one expire entry each
  EXPECT_LE(largest, 5 * ledger::limits::due_items_per_step);
  EXPECT_GE(commits.size(), 2u);
  std::string sizes;
  for (std::size_t n : commits)
    sizes += std::to_string(n) + " ";
  std::printf("entries per commit after the advance: %s\n", sizes.c_str());
}
