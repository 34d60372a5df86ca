-- wrk script for creditd, one file for the four workloads (WORKLOAD env):
--   w1: POST /v1/accounts/acct-N/charges, N random in [0, ACCOUNTS)
--   w2: the same on acct-0 only (run it with ACCOUNTS=1)
--   w3: POST /v1/accounts/acct-N/holds, then POST /v1/holds/{id}/capture of a
--       hold this thread placed (wrk keeps one Lua state per thread, shared by
--       its connections, so placed holds wait in a per-thread queue)
--   w4: 80% GET /v1/accounts/acct-N/balance, 20% charges
-- Every charge and hold is 1 credit and carries the reference "T-N" (thread T,
-- its N-th request, reads counted). done() prints one RESULT line with the
-- counts of acknowledged requests by kind, and writes every request and what
-- became of it to CLIENT_LOG for `ledger_bench --check-cell` (bench/cell_check.hpp).
-- wrk does not say which request a response answers: a 201 or 200 names its
-- request (reference, account); a 402 or an error does not, so the requests
-- left without a named answer are logged "unknown" and the 402s and errors
-- counted beside them.
local workload = os.getenv("WORKLOAD") or "w1"
local accounts = tonumber(os.getenv("ACCOUNTS") or "1")
local key = os.getenv("CREDITD_KEY") or "bench"
local client_log = os.getenv("CLIENT_LOG")
local headers = { ["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json" }

local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end

charges, holds, captures, reads, refused, other = 0, 0, 0, 0, 0, 0
log = {}         -- one line per answered request, in the order answered
unanswered = {}  -- N -> "kind\taccount" of a charge or hold not yet answered
capturing = {}   -- N of a hold -> its account, while its capture is unanswered
local n, acks = 0, 0
local pending = {} -- {id, n, account} of holds placed by this thread, not yet captured
local head, tail = 1, 0
local reading = {} -- account -> list of LO_ACKS of its reads in flight

function init(args)
  math.randomseed(os.time() + (tonumber(tostring({}):sub(8), 16) or 0))
end

local function account()
  if accounts > 1 then return "acct-" .. math.random(0, accounts - 1) end
  return "acct-0"
end

local function body(ref)
  return '{"operation":"image.generate","amount":"1","reference":"' .. ref .. '"}'
end

request = function()
  if workload == "w3" and head <= tail then
    local h = pending[head]
    pending[head] = nil
    head = head + 1
    capturing[h.n] = h.account
    return wrk.format("POST", "/v1/holds/" .. h.id .. "/capture", headers, "{}")
  end
  n = n + 1
  local a = account()
  if workload == "w3" then
    unanswered[n] = "hold\t" .. a
    return wrk.format("POST", "/v1/accounts/" .. a .. "/holds", headers, body(id .. "-" .. n))
  end
  if workload == "w4" and math.random(1, 10) <= 8 then
    local r = reading[a]
    if not r then r = {}; reading[a] = r end
    r[#r + 1] = acks
    return wrk.format("GET", "/v1/accounts/" .. a .. "/balance", headers)
  end
  unanswered[n] = "charge\t" .. a
  return wrk.format("POST", "/v1/accounts/" .. a .. "/charges", headers, body(id .. "-" .. n))
end

-- The N of this thread's reference "T-N" in a response, or nil.
local function ref_n(resp)
  local t, m = resp:match('"reference":"(%d+)%-(%d+)"')
  if t == nil or tonumber(t) ~= id then return nil end
  return tonumber(m)
end

local function logged(kind, m, a)
  log[#log + 1] = id .. "\t" .. m .. "\t" .. kind .. "\t" .. a .. "\tok"
end

response = function(status, hdrs, resp)
  if status == 201 then
    local m = ref_n(resp)
    -- The account logged is the one the request named; the reply must name it too.
    local a = m and unanswered[m] and unanswered[m]:match("\t(.*)$")
    if a == nil or resp:match('"account":"([^"]+)"') ~= a then
      other = other + 1
      return
    end
    unanswered[m] = nil
    acks = acks + 1
    if workload == "w3" then
      local hid = resp:match('"id":"(hold_%d+)"')
      if hid == nil then other = other + 1; return end
      logged("hold", m, a)
      tail = tail + 1
      pending[tail] = { id = hid, n = m, account = a }
      holds = holds + 1
    else
      logged("charge", m, a)
      charges = charges + 1
    end
  elseif status == 200 then
    if workload == "w3" then
      local m = ref_n(resp)
      if m == nil or capturing[m] == nil or not resp:find('"status":"captured"', 1, true) then
        other = other + 1
        return
      end
      logged("capture", m, capturing[m])
      capturing[m] = nil
      captures = captures + 1
    else
      local a = resp:match('"account":"([^"]+)"')
      local v = resp:match('"available":"([^"]+)"')
      local r = a and reading[a]
      if v == nil or r == nil or #r == 0 then other = other + 1; return end
      -- Which of the account's reads in flight this answers is unknown: check
      -- against the earliest sent (the widest window) and forget the latest.
      local lo = r[1]
      for i = 2, #r do if r[i] < lo then lo = r[i] end end
      local hi_i = 1
      for i = 2, #r do if r[i] > r[hi_i] then hi_i = i end end
      table.remove(r, hi_i)
      if #r == 0 then reading[a] = nil end
      log[#log + 1] = id .. "\t0\tread\t" .. a .. "\tok\t" .. v .. "\t" .. lo .. "\t" .. n
      reads = reads + 1
    end
  elseif status == 402 then
    refused = refused + 1
  else
    other = other + 1
  end
end

done = function(summary, latency, requests)
  local t = { charges = 0, holds = 0, captures = 0, reads = 0, refused = 0, other = 0 }
  local out = client_log and assert(io.open(client_log, "w"))
  for _, thread in ipairs(threads) do
    for k, _ in pairs(t) do t[k] = t[k] + (thread:get(k) or 0) end
    if out then
      local tid = thread:get("id")
      for _, line in ipairs(thread:get("log")) do out:write(line, "\n") end
      for m, what in pairs(thread:get("unanswered")) do
        out:write(tid, "\t", m, "\t", what, "\tunknown\n")
      end
      for m, a in pairs(thread:get("capturing")) do
        out:write(tid, "\t", m, "\tcapture\t", a, "\tunknown\n")
      end
    end
  end
  local e = summary.errors
  local socket_errors = e.connect + e.read + e.write + e.timeout
  if out then
    out:write("refused\t", t.refused, "\n", "errors\t", t.other + socket_errors, "\n")
    out:close()
  end
  io.write(string.format(
    "RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d p999_us=%d charges=%d holds=%d " ..
    "captures=%d reads=%d refused=%d other=%d socket_errors=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency:percentile(99.9), t.charges, t.holds, t.captures, t.reads, t.refused, t.other,
    socket_errors))
end
