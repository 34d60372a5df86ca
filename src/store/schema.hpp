// The database schema, as numbered migrations. Written in the SQL that
// SQLite and PostgreSQL share (BIGINT, TEXT, ON CONFLICT), so one schema
// serves both engines and a deployment can move from one to the other.
// What is SQLite's alone (its physical layout: rowid aliases, from version
// 7) is in a migration's `sqlite_sql`, never in the shared `sql`.
//
// Amounts are BIGINT micro-credits, instants BIGINT microseconds since the
// Unix epoch (UTC), object ids the BIGINT after their prefix ("lot_12" -> 12).
#pragma once

#include <array>
#include <string_view>

namespace creditd::store {

struct migration {
  int version;
  // One or more statements separated by ';', in the SQL both engines share
  // (may be empty).
  std::string_view sql;
  // After `sql`, in the same transaction, the store computes the checksum of
  // every row already there (store/sqlite/sqlite_checksum.hpp). A later
  // migration that adds a column to a table with checksums changes what its
  // rows' checksums cover, so it must set this too.
  bool fills_checksums = false;
  // Run by the SQLite engine only, after `sql` in the same transaction: a
  // change of SQLite's physical layout that PostgreSQL has no use for (and
  // whose words would mean something else there: a PostgreSQL INTEGER is 32
  // bits). It must keep every column, its order and every value, so that
  // every row keeps its checksum.
  std::string_view sqlite_sql = {};
};

inline constexpr std::array<migration, 11> migrations = {{
    {1, R"sql(
CREATE TABLE IF NOT EXISTS meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS accounts (
  id              TEXT PRIMARY KEY,
  name            TEXT NOT NULL,
  settings        TEXT NOT NULL,
  postpaid_used   BIGINT NOT NULL,
  postpaid_period BIGINT NOT NULL,
  created_at      BIGINT NOT NULL,
  updated_at      BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS lots (
  id           BIGINT PRIMARY KEY,
  account      TEXT NOT NULL,
  kind         TEXT NOT NULL,
  status       TEXT NOT NULL,
  priority     BIGINT NOT NULL,
  amount       BIGINT NOT NULL,
  remaining    BIGINT NOT NULL,
  held         BIGINT NOT NULL,
  spent        BIGINT NOT NULL,
  expired      BIGINT NOT NULL,
  voided       BIGINT NOT NULL,
  effective_at BIGINT NOT NULL,
  expires_at   BIGINT,
  created_at   BIGINT NOT NULL,
  scope        TEXT NOT NULL,
  source       TEXT NOT NULL,
  reason       TEXT NOT NULL,
  cost_basis   BIGINT NOT NULL,
  currency     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS lots_account ON lots (account, id);
CREATE TABLE IF NOT EXISTS holds (
  id              BIGINT PRIMARY KEY,
  account         TEXT NOT NULL,
  status          TEXT NOT NULL,
  amount          BIGINT NOT NULL,
  captured        BIGINT NOT NULL,
  parts           TEXT NOT NULL,
  operation       TEXT NOT NULL,
  dimensions      TEXT NOT NULL,
  reference       TEXT NOT NULL,
  created_at      BIGINT NOT NULL,
  expires_at      BIGINT NOT NULL,
  closed_at       BIGINT NOT NULL,
  charge_id       BIGINT NOT NULL,
  postpaid_period BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS charges (
  id              BIGINT PRIMARY KEY,
  account         TEXT NOT NULL,
  amount          BIGINT NOT NULL,
  refunded        BIGINT NOT NULL,
  parts           TEXT NOT NULL,
  created_at      BIGINT NOT NULL,
  hold_id         BIGINT NOT NULL,
  postpaid_period BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS entries (
  seq           BIGINT PRIMARY KEY,
  account       TEXT NOT NULL,
  type          TEXT NOT NULL,
  amount        BIGINT NOT NULL,
  balance_after BIGINT NOT NULL,
  lot_id        BIGINT NOT NULL,
  charge_id     BIGINT NOT NULL,
  hold_id       BIGINT NOT NULL,
  refund_id     BIGINT NOT NULL,
  parts         TEXT NOT NULL,
  operation     TEXT NOT NULL,
  dimensions    TEXT NOT NULL,
  reference     TEXT NOT NULL,
  reason        TEXT NOT NULL,
  created_at    BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_account ON entries (account, seq);
CREATE TABLE IF NOT EXISTS idempotency (
  key         TEXT PRIMARY KEY,
  fingerprint TEXT NOT NULL,
  status      BIGINT NOT NULL,
  body        TEXT NOT NULL,
  created_at  BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
  seq        BIGINT PRIMARY KEY,
  type       TEXT NOT NULL,
  account    TEXT NOT NULL,
  data       TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
)sql"},
    {2, R"sql(
CREATE TABLE IF NOT EXISTS api_keys (
  id         TEXT PRIMARY KEY,
  hash       TEXT NOT NULL UNIQUE,
  role       TEXT NOT NULL,
  account    TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  revoked_at BIGINT
);
)sql"},
    // Idempotency records expire by age, in the store as in memory.
    {3, R"sql(
CREATE INDEX IF NOT EXISTS idempotency_created ON idempotency (created_at);
)sql"},
    // The quantity (micros, default 1) and metadata (JSON object text, or
    // empty) of charges and holds: on their journal entries (a capture's
    // inherits its hold's) and on holds. Rows from before read the defaults.
    {4, R"sql(
ALTER TABLE entries ADD COLUMN quantity BIGINT NOT NULL DEFAULT 1000000;
ALTER TABLE entries ADD COLUMN metadata TEXT NOT NULL DEFAULT '';
ALTER TABLE holds ADD COLUMN quantity BIGINT NOT NULL DEFAULT 1000000;
ALTER TABLE holds ADD COLUMN metadata TEXT NOT NULL DEFAULT '';
)sql"},
    // Commerce: the catalog (prices, packages, plans), subscriptions, the
    // periods they granted and the purchases made. A price's dimensions are
    // the codec's dimension object ({"key":"value",...}, keys sorted); an
    // instant "never" (a period without end) is NULL, as lots' expires_at.
    //
    // The keys are the store's guarantees, whatever restarts or nodes: a
    // period is granted once per (account, period_index), and a non-empty
    // external_id (a Stripe event id) is bought once for as long as the
    // store lives. A second row fails the commit rather than being skipped.
    //
    // Accounts gain automatic top-up's state (armed by default), and charge,
    // hold and capture entries (and holds) the price they were priced at and
    // its unit amount; rows from before read "" and 0 (an explicit amount).
    {5, R"sql(
CREATE TABLE IF NOT EXISTS prices (
  id          TEXT PRIMARY KEY,
  operation   TEXT NOT NULL,
  dimensions  TEXT NOT NULL,
  unit_amount BIGINT NOT NULL,
  created_at  BIGINT NOT NULL,
  updated_at  BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS packages (
  id            TEXT PRIMARY KEY,
  credits       BIGINT NOT NULL,
  price         BIGINT NOT NULL,
  currency      TEXT NOT NULL,
  validity_days BIGINT NOT NULL,
  created_at    BIGINT NOT NULL,
  updated_at    BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS plans (
  id                 TEXT PRIMARY KEY,
  credits_per_period BIGINT NOT NULL,
  period             TEXT NOT NULL,
  rollover_cap       BIGINT,
  created_at         BIGINT NOT NULL,
  updated_at         BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS subscriptions (
  account              TEXT PRIMARY KEY,
  plan                 TEXT NOT NULL,
  next_plan            TEXT NOT NULL,
  timezone             TEXT NOT NULL,
  anchor_year          BIGINT NOT NULL,
  anchor_month         BIGINT NOT NULL,
  anchor_day           BIGINT NOT NULL,
  start_at             BIGINT NOT NULL,
  period_index         BIGINT NOT NULL,
  period_start         BIGINT NOT NULL,
  period_end           BIGINT,
  lot_id               BIGINT NOT NULL,
  cancel_at_period_end BIGINT NOT NULL,
  status               TEXT NOT NULL,
  created_at           BIGINT NOT NULL,
  updated_at           BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS subscription_periods (
  account         TEXT NOT NULL,
  period_index    BIGINT NOT NULL,
  plan            TEXT NOT NULL,
  lot_id          BIGINT NOT NULL,
  granted         BIGINT NOT NULL,
  rolled_over     BIGINT NOT NULL,
  rollover_lot_id BIGINT NOT NULL,
  starts_at       BIGINT NOT NULL,
  ends_at         BIGINT,
  PRIMARY KEY (account, period_index)
);
CREATE TABLE IF NOT EXISTS purchases (
  id          BIGINT PRIMARY KEY,
  account     TEXT NOT NULL,
  package     TEXT NOT NULL,
  lot_id      BIGINT NOT NULL,
  credits     BIGINT NOT NULL,
  price       BIGINT NOT NULL,
  currency    TEXT NOT NULL,
  source      TEXT NOT NULL,
  external_id TEXT NOT NULL,
  reason      TEXT NOT NULL,
  created_at  BIGINT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS purchases_external_id ON purchases (external_id)
  WHERE external_id <> '';
CREATE INDEX IF NOT EXISTS purchases_account ON purchases (account, id);
ALTER TABLE accounts ADD COLUMN topup_armed BIGINT NOT NULL DEFAULT 1;
ALTER TABLE accounts ADD COLUMN topup_period_start BIGINT NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN topup_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE entries ADD COLUMN price_id TEXT NOT NULL DEFAULT '';
ALTER TABLE entries ADD COLUMN unit_amount BIGINT NOT NULL DEFAULT 0;
ALTER TABLE holds ADD COLUMN price_id TEXT NOT NULL DEFAULT '';
ALTER TABLE holds ADD COLUMN unit_amount BIGINT NOT NULL DEFAULT 0;
)sql"},
    // Row checksums: every table the store writes gains a `checksum`, the
    // CRC32C of its table's name and of every other column of the row in the
    // table's order (store/sqlite/sqlite_checksum.hpp). Every write sets it;
    // `creditd check` and the start-up load recompute it, so a field altered
    // outside creditd is named even where nothing else can derive it. The
    // rows already there are given theirs when this migration runs.
    {6, R"sql(
ALTER TABLE meta ADD COLUMN checksum BIGINT;
ALTER TABLE accounts ADD COLUMN checksum BIGINT;
ALTER TABLE lots ADD COLUMN checksum BIGINT;
ALTER TABLE holds ADD COLUMN checksum BIGINT;
ALTER TABLE charges ADD COLUMN checksum BIGINT;
ALTER TABLE entries ADD COLUMN checksum BIGINT;
ALTER TABLE idempotency ADD COLUMN checksum BIGINT;
ALTER TABLE events ADD COLUMN checksum BIGINT;
ALTER TABLE api_keys ADD COLUMN checksum BIGINT;
ALTER TABLE prices ADD COLUMN checksum BIGINT;
ALTER TABLE packages ADD COLUMN checksum BIGINT;
ALTER TABLE plans ADD COLUMN checksum BIGINT;
ALTER TABLE subscriptions ADD COLUMN checksum BIGINT;
ALTER TABLE subscription_periods ADD COLUMN checksum BIGINT;
ALTER TABLE purchases ADD COLUMN checksum BIGINT;
)sql",
     true},
    // SQLite only: the integer keys become rowid aliases. In SQLite a BIGINT
    // PRIMARY KEY is a second, unique index beside the table's hidden rowid,
    // written by every insert; an INTEGER PRIMARY KEY is the rowid itself.
    // Each table is rebuilt with the same columns in the same order (the
    // DEFAULTs of the columns that migrations 4 and 5 added included), its
    // rows copied whole with their checksums, and its indexes made again;
    // those on (account, key) become (account), which SQLite orders by
    // (account, rowid): the same order, in narrower entries. PostgreSQL keeps
    // BIGINT PRIMARY KEY (64-bit; its tables have no rowid): nothing to do.
    {7, "", false, R"sql(
CREATE TABLE lots_v7 (
  id           INTEGER PRIMARY KEY,
  account      TEXT NOT NULL,
  kind         TEXT NOT NULL,
  status       TEXT NOT NULL,
  priority     BIGINT NOT NULL,
  amount       BIGINT NOT NULL,
  remaining    BIGINT NOT NULL,
  held         BIGINT NOT NULL,
  spent        BIGINT NOT NULL,
  expired      BIGINT NOT NULL,
  voided       BIGINT NOT NULL,
  effective_at BIGINT NOT NULL,
  expires_at   BIGINT,
  created_at   BIGINT NOT NULL,
  scope        TEXT NOT NULL,
  source       TEXT NOT NULL,
  reason       TEXT NOT NULL,
  cost_basis   BIGINT NOT NULL,
  currency     TEXT NOT NULL,
  checksum     BIGINT
);
INSERT INTO lots_v7 SELECT * FROM lots ORDER BY id;
DROP TABLE lots;
ALTER TABLE lots_v7 RENAME TO lots;
CREATE INDEX lots_account ON lots (account);
CREATE TABLE holds_v7 (
  id              INTEGER PRIMARY KEY,
  account         TEXT NOT NULL,
  status          TEXT NOT NULL,
  amount          BIGINT NOT NULL,
  captured        BIGINT NOT NULL,
  parts           TEXT NOT NULL,
  operation       TEXT NOT NULL,
  dimensions      TEXT NOT NULL,
  reference       TEXT NOT NULL,
  created_at      BIGINT NOT NULL,
  expires_at      BIGINT NOT NULL,
  closed_at       BIGINT NOT NULL,
  charge_id       BIGINT NOT NULL,
  postpaid_period BIGINT NOT NULL,
  quantity        BIGINT NOT NULL DEFAULT 1000000,
  metadata        TEXT NOT NULL DEFAULT '',
  price_id        TEXT NOT NULL DEFAULT '',
  unit_amount     BIGINT NOT NULL DEFAULT 0,
  checksum        BIGINT
);
INSERT INTO holds_v7 SELECT * FROM holds ORDER BY id;
DROP TABLE holds;
ALTER TABLE holds_v7 RENAME TO holds;
CREATE TABLE charges_v7 (
  id              INTEGER PRIMARY KEY,
  account         TEXT NOT NULL,
  amount          BIGINT NOT NULL,
  refunded        BIGINT NOT NULL,
  parts           TEXT NOT NULL,
  created_at      BIGINT NOT NULL,
  hold_id         BIGINT NOT NULL,
  postpaid_period BIGINT NOT NULL,
  checksum        BIGINT
);
INSERT INTO charges_v7 SELECT * FROM charges ORDER BY id;
DROP TABLE charges;
ALTER TABLE charges_v7 RENAME TO charges;
CREATE TABLE entries_v7 (
  seq           INTEGER PRIMARY KEY,
  account       TEXT NOT NULL,
  type          TEXT NOT NULL,
  amount        BIGINT NOT NULL,
  balance_after BIGINT NOT NULL,
  lot_id        BIGINT NOT NULL,
  charge_id     BIGINT NOT NULL,
  hold_id       BIGINT NOT NULL,
  refund_id     BIGINT NOT NULL,
  parts         TEXT NOT NULL,
  operation     TEXT NOT NULL,
  dimensions    TEXT NOT NULL,
  reference     TEXT NOT NULL,
  reason        TEXT NOT NULL,
  created_at    BIGINT NOT NULL,
  quantity      BIGINT NOT NULL DEFAULT 1000000,
  metadata      TEXT NOT NULL DEFAULT '',
  price_id      TEXT NOT NULL DEFAULT '',
  unit_amount   BIGINT NOT NULL DEFAULT 0,
  checksum      BIGINT
);
INSERT INTO entries_v7 SELECT * FROM entries ORDER BY seq;
DROP TABLE entries;
ALTER TABLE entries_v7 RENAME TO entries;
CREATE INDEX entries_account ON entries (account);
CREATE TABLE events_v7 (
  seq        INTEGER PRIMARY KEY,
  type       TEXT NOT NULL,
  account    TEXT NOT NULL,
  data       TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  checksum   BIGINT
);
INSERT INTO events_v7 SELECT * FROM events ORDER BY seq;
DROP TABLE events;
ALTER TABLE events_v7 RENAME TO events;
CREATE TABLE purchases_v7 (
  id          INTEGER PRIMARY KEY,
  account     TEXT NOT NULL,
  package     TEXT NOT NULL,
  lot_id      BIGINT NOT NULL,
  credits     BIGINT NOT NULL,
  price       BIGINT NOT NULL,
  currency    TEXT NOT NULL,
  source      TEXT NOT NULL,
  external_id TEXT NOT NULL,
  reason      TEXT NOT NULL,
  created_at  BIGINT NOT NULL,
  checksum    BIGINT
);
INSERT INTO purchases_v7 SELECT * FROM purchases ORDER BY id;
DROP TABLE purchases;
ALTER TABLE purchases_v7 RENAME TO purchases;
CREATE UNIQUE INDEX purchases_external_id ON purchases (external_id)
  WHERE external_id <> '';
CREATE INDEX purchases_account ON purchases (account);
)sql"},
    // The event list's filters (GET /v1/events?account=&type=): each reads
    // its index in seq order from the cursor, instead of scanning every
    // event after it. Events are few beside entries, so two index entries per
    // event cost little.
    {8, R"sql(
CREATE INDEX IF NOT EXISTS events_account ON events (account, seq);
CREATE INDEX IF NOT EXISTS events_type ON events (type, seq);
)sql"},
    // Webhook endpoints and their delivery attempts (src/webhooks): the
    // operational state of deliveries, written on their own connection
    // (store/sqlite/sqlite_webhooks), not by the ledger's commits. `events`
    // is a comma-separated list of types or "*"; instants are 0 when unset;
    // the attempt log keeps the last 100 rows per endpoint.
    {9, R"sql(
CREATE TABLE IF NOT EXISTS webhook_endpoints (
  id              TEXT PRIMARY KEY,
  url             TEXT NOT NULL,
  events          TEXT NOT NULL,
  secret          TEXT NOT NULL,
  enabled         BIGINT NOT NULL,
  created_at      BIGINT NOT NULL,
  updated_at      BIGINT NOT NULL,
  cursor_seq      BIGINT NOT NULL,
  attempt         BIGINT NOT NULL,
  next_attempt_at BIGINT NOT NULL,
  failing_since   BIGINT NOT NULL,
  disabled_at     BIGINT NOT NULL,
  disabled_reason TEXT NOT NULL,
  checksum        BIGINT
);
CREATE TABLE IF NOT EXISTS webhook_deliveries (
  id            BIGINT PRIMARY KEY,
  endpoint      TEXT NOT NULL,
  seq           BIGINT NOT NULL,
  attempt       BIGINT NOT NULL,
  status        BIGINT NOT NULL,
  error         TEXT NOT NULL,
  latency_ms    BIGINT NOT NULL,
  at            BIGINT NOT NULL,
  next_retry_at BIGINT NOT NULL,
  checksum      BIGINT
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_endpoint ON webhook_deliveries (endpoint, id);
)sql"},
    // SQLite only: the per-account journal index is ordered by block of
    // 65,536 entries first, (seq >> 16, account, rowid), instead of
    // (account, rowid). An entry's index entry then lands among the pages of
    // the newest block (about 600), not on a random leaf of an index as big
    // as the history: past a few million entries, nearly every charge wrote
    // one more index page to the WAL and again at the checkpoint. A read of
    // one account seeks once per block after its cursor
    // (store/sqlite/sqlite_reader.cpp, entries_block_bits). PostgreSQL keeps
    // (account, seq).
    {10, "", false, R"sql(
DROP INDEX IF EXISTS entries_account;
CREATE INDEX entries_account_block ON entries ((seq >> 16), account);
)sql"},
    // SQLite only: a lot's terms and its changing columns in two tables.
    // A charge changes a lot's status and amounts only, and rewriting its
    // whole row (19 columns, about 89 bytes) cost a spread charge's store
    // more than a hot one's; a row of `lot_amounts` (27 bytes) costs half
    // the instructions and a third of the pages (docs/performance.md, "The
    // store's cost per charge, counted"). `lots` is a view joining the two
    // in the table's former column order, so that every reader reads it as
    // before; `lot_amounts.checksum` is the whole row's, as `lots` had it.
    // Its INSTEAD OF triggers let a tool write lot rows as before.
    {11, "", false, R"sql(
CREATE TABLE lot_terms (
  id           INTEGER PRIMARY KEY,
  account      TEXT NOT NULL,
  kind         TEXT NOT NULL,
  priority     BIGINT NOT NULL,
  amount       BIGINT NOT NULL,
  effective_at BIGINT NOT NULL,
  expires_at   BIGINT,
  created_at   BIGINT NOT NULL,
  scope        TEXT NOT NULL,
  source       TEXT NOT NULL,
  reason       TEXT NOT NULL,
  cost_basis   BIGINT NOT NULL,
  currency     TEXT NOT NULL
);
CREATE TABLE lot_amounts (
  id        INTEGER PRIMARY KEY,
  status    TEXT NOT NULL,
  remaining BIGINT NOT NULL,
  held      BIGINT NOT NULL,
  spent     BIGINT NOT NULL,
  expired   BIGINT NOT NULL,
  voided    BIGINT NOT NULL,
  checksum  BIGINT
);
INSERT INTO lot_terms SELECT id, account, kind, priority, amount, effective_at, expires_at,
  created_at, scope, source, reason, cost_basis, currency FROM lots ORDER BY id;
INSERT INTO lot_amounts SELECT id, status, remaining, held, spent, expired, voided, checksum
  FROM lots ORDER BY id;
DROP TABLE lots;
CREATE INDEX lots_account ON lot_terms (account);
CREATE VIEW lots AS SELECT t.id AS id, t.account AS account, t.kind AS kind, a.status AS status,
  t.priority AS priority, t.amount AS amount, a.remaining AS remaining, a.held AS held,
  a.spent AS spent, a.expired AS expired, a.voided AS voided, t.effective_at AS effective_at,
  t.expires_at AS expires_at, t.created_at AS created_at, t.scope AS scope, t.source AS source,
  t.reason AS reason, t.cost_basis AS cost_basis, t.currency AS currency,
  a.checksum AS checksum
  FROM lot_terms AS t JOIN lot_amounts AS a ON a.id = t.id;
CREATE TRIGGER lots_insert INSTEAD OF INSERT ON lots BEGIN
  INSERT INTO lot_terms VALUES (NEW.id, NEW.account, NEW.kind, NEW.priority, NEW.amount,
    NEW.effective_at, NEW.expires_at, NEW.created_at, NEW.scope, NEW.source, NEW.reason,
    NEW.cost_basis, NEW.currency);
  INSERT INTO lot_amounts VALUES (NEW.id, NEW.status, NEW.remaining, NEW.held, NEW.spent,
    NEW.expired, NEW.voided, NEW.checksum);
END;
CREATE TRIGGER lots_update INSTEAD OF UPDATE ON lots BEGIN
  UPDATE lot_terms SET id = NEW.id, account = NEW.account, kind = NEW.kind,
    priority = NEW.priority, amount = NEW.amount, effective_at = NEW.effective_at,
    expires_at = NEW.expires_at, created_at = NEW.created_at, scope = NEW.scope,
    source = NEW.source, reason = NEW.reason, cost_basis = NEW.cost_basis,
    currency = NEW.currency WHERE id = OLD.id;
  UPDATE lot_amounts SET id = NEW.id, status = NEW.status, remaining = NEW.remaining,
    held = NEW.held, spent = NEW.spent, expired = NEW.expired, voided = NEW.voided,
    checksum = NEW.checksum WHERE id = OLD.id;
END;
CREATE TRIGGER lots_delete INSTEAD OF DELETE ON lots BEGIN
  DELETE FROM lot_terms WHERE id = OLD.id;
  DELETE FROM lot_amounts WHERE id = OLD.id;
END;
)sql"},
}};

// The bits of an entry's seq below its block in entries_account_block
// (migration 10): a journal read names the block as (seq >> 16), the
// index's own expression, so that SQLite seeks in it.
inline constexpr int entries_block_bits = 16;

inline constexpr int schema_version_latest = migrations.back().version;

}  // namespace creditd::store
