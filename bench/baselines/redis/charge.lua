-- The "Redis + Lua" debit, the common AI-quota design: one atomic script.
-- KEYS[1] the account's balance (an integer of credits), KEYS[2] the journal
-- stream; ARGV[1] the amount, ARGV[2] the request's reference. Returns the balance after the charge, or -1
-- (refused, nothing changed) when the balance is missing or too small.
local amount = tonumber(ARGV[1])
local balance = tonumber(redis.call('GET', KEYS[1]) or '-1')
if balance < amount then return -1 end
local after = redis.call('DECRBY', KEYS[1], amount)
redis.call('XADD', KEYS[2], '*', 'type', 'charge', 'account', KEYS[1], 'amount', amount,
  'balance_after', after, 'ref', ARGV[2])
return after
