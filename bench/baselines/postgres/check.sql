-- Totals for bench/lib/common.sh verify(): credits taken from the balances,
-- journal entries by type, open holds, whether the books agree (balances and
-- lots lost the same credits, lots' spent and held match the journal and the
-- open holds), and the refusals so far.
WITH b AS (SELECT count(*) * :credits - sum(balance) AS taken FROM balances),
     l AS (SELECT count(*) * :credits - sum(remaining) AS taken, sum(spent) AS spent,
                  sum(held) AS held FROM lots),
     j AS (SELECT count(*) FILTER (WHERE type = 'charge') AS charges,
                  count(*) FILTER (WHERE type = 'hold') AS holds,
                  count(*) FILTER (WHERE type = 'capture') AS captures,
                  coalesce(sum(amount) FILTER (WHERE type IN ('charge', 'capture')), 0) AS spent
           FROM journal),
     h AS (SELECT count(*) AS open, coalesce(sum(amount), 0) AS held FROM holds
           WHERE status = 'open')
SELECT b.taken, j.charges, j.holds, j.captures, h.open,
       (b.taken = l.taken AND l.taken = l.spent + l.held AND l.spent = j.spent
        AND l.held = h.held)::int,
       (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM refused)
FROM b, l, j, h;
