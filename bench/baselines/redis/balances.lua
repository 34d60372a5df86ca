-- For ledger_bench --check-cell: "bal:I<TAB>balance" of the ARGV[1] accounts bal:0..
local n = tonumber(ARGV[1])
local out = {}
local chunk = 1000
for first = 0, n - 1, chunk do
  local keys = {}
  for i = first, math.min(first + chunk, n) - 1 do keys[#keys + 1] = 'bal:' .. i end
  local values = redis.call('MGET', unpack(keys))
  for i, v in ipairs(values) do out[#out + 1] = keys[i] .. '\t' .. tostring(v) end
end
return out
