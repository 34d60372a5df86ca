-- Seeds ARGV[1] accounts bal:0.. with ARGV[2] credits each (after FLUSHALL).
local n, credits = tonumber(ARGV[1]), ARGV[2]
for i = 0, n - 1 do redis.call('SET', 'bal:' .. i, credits) end
return n
