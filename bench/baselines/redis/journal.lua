-- For ledger_bench --check-cell: the entries of the stream KEYS[1] after the
-- id ARGV[1] ('-' for all), "position<TAB>account<TAB>type<TAB>ref<TAB>amount",
-- position counted from ARGV[2] + 1 in the stream's order (the order Redis
-- ran the scripts); the last element is the last id read (ARGV[1] if none).
local out = {}
local pos = tonumber(ARGV[2])
local from = ARGV[1] == '-' and '-' or '(' .. ARGV[1]
local last = ARGV[1]
while true do
  local batch = redis.call('XRANGE', KEYS[1], from, '+', 'COUNT', 10000)
  if #batch == 0 then break end
  for _, e in ipairs(batch) do
    local f = {}
    for i = 1, #e[2], 2 do f[e[2][i]] = e[2][i + 1] end
    pos = pos + 1
    out[#out + 1] = pos .. '\t' .. (f.account or '') .. '\t' .. (f.type or '') .. '\t' ..
      (f.ref or '') .. '\t' .. (f.amount or '')
  end
  last = batch[#batch][1]
  from = '(' .. last
end
out[#out + 1] = last
return out
