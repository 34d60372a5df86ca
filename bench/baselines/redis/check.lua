-- After a run: the credits taken from the ARGV[1] balances bal:0.. (bal:i
-- seeded with ARGV[2] - 100 i), the journal's entries by type, and the holds still
-- open. Returns {taken, charges, holds, captures, open}.
local n, credits = tonumber(ARGV[1]), tonumber(ARGV[2])
local taken = 0
local chunk = 1000
for first = 0, n - 1, chunk do
  local keys = {}
  for i = first, math.min(first + chunk, n) - 1 do keys[#keys + 1] = 'bal:' .. i end
  for j, v in ipairs(redis.call('MGET', unpack(keys))) do
    taken = taken + (credits - 100 * (first + j - 1) - tonumber(v))
  end
end
local count = { charge = 0, hold = 0, capture = 0 }
local from = '-'
while true do
  local batch = redis.call('XRANGE', KEYS[1], from, '+', 'COUNT', 10000)
  if #batch == 0 then break end
  for _, e in ipairs(batch) do
    local f = e[2] -- field, value, field, value...; 'type' comes first
    count[f[2]] = count[f[2]] + 1
  end
  from = '(' .. batch[#batch][1]
end
local open = 0
local cursor = '0'
repeat
  local r = redis.call('SCAN', cursor, 'MATCH', 'hold:*', 'COUNT', 10000)
  cursor = r[1]
  open = open + #r[2]
until cursor == '0'
return { taken, count.charge, count.hold, count.capture, open }
