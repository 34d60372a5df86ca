-- wrk script: POST a 1-credit charge to a random account of ACCOUNTS
-- ("acct-0".."acct-N-1"), or always to acct-0 when ACCOUNTS=1.
local accounts = tonumber(os.getenv("ACCOUNTS") or "1")
local key = os.getenv("CREDITD_KEY") or "bench"
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. key
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"operation":"image.generate","amount":"1"}'

function init(args)
  math.randomseed(os.time() + (tonumber(tostring({}):sub(8), 16) or 0))
end

request = function()
  local n = 0
  if accounts > 1 then n = math.random(0, accounts - 1) end
  return wrk.format(nil, "/v1/accounts/acct-" .. n .. "/charges")
end

local statuses = {}
response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d errors=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout))
end
