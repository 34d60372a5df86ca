-- The "hand-written PostgreSQL ledger" baseline: balances and lots in tables,
-- one transaction per charge, a journal row per change. Seeded with
-- :accounts accounts, account a with one lot of :credits - 100 a credits (no
-- two balances alike).
DROP TABLE IF EXISTS balances, lots, holds, journal, refusals;
DROP SEQUENCE IF EXISTS refused;
CREATE TABLE balances (
  account BIGINT PRIMARY KEY,
  balance BIGINT NOT NULL CHECK (balance >= 0)
);
CREATE TABLE lots (
  id        BIGSERIAL PRIMARY KEY,
  account   BIGINT NOT NULL,
  remaining BIGINT NOT NULL CHECK (remaining >= 0),
  held      BIGINT NOT NULL DEFAULT 0,
  spent     BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE holds (
  id      BIGSERIAL PRIMARY KEY,
  account BIGINT NOT NULL,
  lot     BIGINT NOT NULL,
  amount  BIGINT NOT NULL,
  status  TEXT NOT NULL
);
CREATE TABLE journal (
  seq           BIGSERIAL PRIMARY KEY,
  account       BIGINT NOT NULL,
  type          TEXT NOT NULL,
  amount        BIGINT NOT NULL,
  balance_after BIGINT NOT NULL,
  lot           BIGINT NOT NULL,
  hold          BIGINT,
  ref           TEXT NOT NULL,  -- the request's reference (bench/cell_check.hpp)
  created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- The references of the refused requests of the current cell (emptied before each).
CREATE TABLE refusals (
  ref     TEXT NOT NULL,
  account BIGINT NOT NULL
);
-- Refused charges (none are expected: every account holds plenty).
CREATE SEQUENCE refused;
INSERT INTO balances SELECT a, :credits - 100 * a FROM generate_series(0, :accounts - 1) a;
INSERT INTO lots (account, remaining)
  SELECT a, :credits - 100 * a FROM generate_series(0, :accounts - 1) a;
CREATE INDEX lots_account ON lots (account, id);
VACUUM ANALYZE;
