-- The accounts of the redis-benchmark cells: redis-benchmark names a random
-- key bal:__rand_int__ with 12 digits, so these are bal:000000000000.. .
-- ARGV[1] 'seed' sets ARGV[2] of them to ARGV[3] credits each and returns
-- the count; 'sum' returns the sum of the ARGV[2] balances.
local mode, n = ARGV[1], tonumber(ARGV[2])
local sum = 0
local chunk = 1000
for first = 0, n - 1, chunk do
  local keys = {}
  for i = first, math.min(first + chunk, n) - 1 do keys[#keys + 1] = string.format('bal:%012d', i) end
  if mode == 'seed' then
    for _, k in ipairs(keys) do redis.call('SET', k, ARGV[3]) end
  else
    for _, v in ipairs(redis.call('MGET', unpack(keys))) do sum = sum + tonumber(v) end
  end
end
if mode == 'seed' then return n end
return sum
