-- Totals for bench/lib/common.sh verify(): credits taken from the balances,
-- journal entries by type, open holds, whether the books agree (balances and
-- lots lost the same credits, lots' spent and held match the journal and the
-- open holds; and so does every lot: remaining + held + spent = what it was
-- seeded with (:credits - 100 account), and
-- every account: its balance is its lots' remaining, its lots' spent its
-- journal's charges and captures, its lots' held its open holds), the
-- refusals so far, and how many lots and accounts disagree.
WITH b AS (SELECT sum(:credits - 100 * account) - sum(balance) AS taken FROM balances),
     l AS (SELECT sum(:credits - 100 * account) - sum(remaining) AS taken, sum(spent) AS spent,
                  sum(held) AS held FROM lots),
     j AS (SELECT count(*) FILTER (WHERE type = 'charge') AS charges,
                  count(*) FILTER (WHERE type = 'hold') AS holds,
                  count(*) FILTER (WHERE type = 'capture') AS captures,
                  coalesce(sum(amount) FILTER (WHERE type IN ('charge', 'capture')), 0) AS spent
           FROM journal),
     h AS (SELECT count(*) AS open, coalesce(sum(amount), 0) AS held FROM holds
           WHERE status = 'open'),
     bad_lots AS (SELECT count(*) AS n FROM lots
                  WHERE remaining + held + spent != :credits - 100 * account),
     la AS (SELECT account, sum(remaining) AS remaining, sum(spent) AS spent, sum(held) AS held
            FROM lots GROUP BY account),
     ja AS (SELECT account, sum(amount) AS spent FROM journal
            WHERE type IN ('charge', 'capture') GROUP BY account),
     ha AS (SELECT account, sum(amount) AS held FROM holds WHERE status = 'open' GROUP BY account),
     bad_accounts AS (SELECT count(*) AS n FROM balances bl
                      JOIN la ON la.account = bl.account
                      LEFT JOIN ja ON ja.account = bl.account
                      LEFT JOIN ha ON ha.account = bl.account
                      WHERE bl.balance != la.remaining OR la.spent != coalesce(ja.spent, 0)
                         OR la.held != coalesce(ha.held, 0))
SELECT b.taken, j.charges, j.holds, j.captures, h.open,
       (b.taken = l.taken AND l.taken = l.spent + l.held AND l.spent = j.spent
        AND l.held = h.held AND bad_lots.n = 0 AND bad_accounts.n = 0)::int,
       (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM refused),
       bad_lots.n, bad_accounts.n
FROM b, l, j, h, bad_lots, bad_accounts;
