-- wrk script for creditd, one file for the four workloads (WORKLOAD env):
--   w1: POST /v1/accounts/acct-N/charges, N random in [0, ACCOUNTS)
--   w2: the same on acct-0 only (run it with ACCOUNTS=1)
--   w3: POST /v1/accounts/acct-N/holds, then POST /v1/holds/{id}/capture of a
--       hold this thread placed (wrk keeps one Lua state per thread, shared by
--       its connections, so placed holds wait in a per-thread queue)
--   w4: 80% GET /v1/accounts/acct-N/balance, 20% charges
-- Every charge and hold is 1 credit. done() prints one RESULT line with the
-- counts of acknowledged requests by kind, for the correctness check.
local workload = os.getenv("WORKLOAD") or "w1"
local accounts = tonumber(os.getenv("ACCOUNTS") or "1")
local key = os.getenv("CREDITD_KEY") or "bench"
local headers = { ["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json" }
local body = '{"operation":"image.generate","amount":"1"}'

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

charges, holds, captures, reads, refused, other = 0, 0, 0, 0, 0, 0
local pending = {} -- hold ids placed by this thread, not yet captured
local head, tail = 1, 0

function init(args)
  math.randomseed(os.time() + (tonumber(tostring({}):sub(8), 16) or 0))
end

local function account()
  if accounts > 1 then return "acct-" .. math.random(0, accounts - 1) end
  return "acct-0"
end

request = function()
  if workload == "w3" then
    if head <= tail then
      local id = pending[head]
      pending[head] = nil
      head = head + 1
      return wrk.format("POST", "/v1/holds/" .. id .. "/capture", headers, "{}")
    end
    return wrk.format("POST", "/v1/accounts/" .. account() .. "/holds", headers, body)
  end
  if workload == "w4" and math.random(1, 10) <= 8 then
    return wrk.format("GET", "/v1/accounts/" .. account() .. "/balance", headers)
  end
  return wrk.format("POST", "/v1/accounts/" .. account() .. "/charges", headers, body)
end

response = function(status, hdrs, resp)
  if status == 201 then
    if workload == "w3" then
      local id = resp:match('"id":"(hold_%d+)"')
      if id then
        tail = tail + 1
        pending[tail] = id
        holds = holds + 1
      else
        other = other + 1
      end
    else
      charges = charges + 1
    end
  elseif status == 200 then
    if workload == "w3" then captures = captures + 1 else reads = reads + 1 end
  elseif status == 402 then
    refused = refused + 1
  else
    other = other + 1
  end
end

done = function(summary, latency, requests)
  local t = { charges = 0, holds = 0, captures = 0, reads = 0, refused = 0, other = 0 }
  for _, thread in ipairs(threads) do
    for k, _ in pairs(t) do t[k] = t[k] + (thread:get(k) or 0) end
  end
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d p999_us=%d charges=%d holds=%d " ..
    "captures=%d reads=%d refused=%d other=%d socket_errors=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency:percentile(99.9), t.charges, t.holds, t.captures, t.reads, t.refused, t.other,
    e.connect + e.read + e.write + e.timeout))
end
