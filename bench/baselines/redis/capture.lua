-- Captures the whole open hold ARGV[1] (its credits were taken from the
-- balance when it was placed) and journals it in KEYS[1]. Returns the
-- captured amount, or -1 when the hold is not open. The entry carries the
-- hold's reference.
local key = 'hold:' .. ARGV[1]
local h = redis.call('HMGET', key, 'account', 'amount', 'ref')
if not h[1] then return -1 end
redis.call('DEL', key)
redis.call('XADD', KEYS[1], '*', 'type', 'capture', 'account', h[1], 'hold', ARGV[1],
  'amount', h[2], 'ref', h[3])
return tonumber(h[2])
