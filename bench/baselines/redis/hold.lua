-- Places a hold: moves ARGV[1] credits out of the balance KEYS[1] into a new
-- hash hold:<id> (id from the counter KEYS[3]) and journals it in KEYS[2],
-- with the request's reference ARGV[2] (its capture journals it too).
-- Returns the hold id, or -1 (refused, nothing changed).
local amount = tonumber(ARGV[1])
local balance = tonumber(redis.call('GET', KEYS[1]) or '-1')
if balance < amount then return -1 end
local after = redis.call('DECRBY', KEYS[1], amount)
local id = redis.call('INCR', KEYS[3])
redis.call('HSET', 'hold:' .. id, 'account', KEYS[1], 'amount', amount, 'ref', ARGV[2])
redis.call('XADD', KEYS[2], '*', 'type', 'hold', 'account', KEYS[1], 'hold', id,
  'amount', amount, 'balance_after', after, 'ref', ARGV[2])
return id
