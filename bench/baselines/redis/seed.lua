-- Seeds ARGV[1] accounts bal:0.. with ARGV[2] - 100 i credits each (after
-- FLUSHALL): no two alike, so a read of the wrong key shows.
local n, credits = tonumber(ARGV[1]), tonumber(ARGV[2])
for i = 0, n - 1 do redis.call('SET', 'bal:' .. i, credits - 100 * i) end
return n
