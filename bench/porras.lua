-- wrk script for bench/mixed.sh and bench/scale.sh: writes to the porras API.
-- Pool i (0-based) is PUT /porra/L<i>/V<i>/Liga/2017, ID "L<i>-V<i>-Liga-2017";
-- bettor j is "jugador<j>". Env:
--   PORRAS_MODE  pools:   create pools 0..N-1                      (needs PORRAS_N)
--                bets:    bet k = jugador<k // POOLS> in pool k % POOLS, k = 0..N-1 (needs PORRAS_N)
--                replace: random bettor among BETTORS of a random pool (the state keeps its size)
--                new:     a new bettor each time ("w<thread>n<count>") in pools W<0..7>-Bench-Liga-2017
--   PORRAS_POOLS (10000), PORRAS_BETTORS (3), PORRAS_DELAY_MS (none: as fast as answers come)
--   PORRAS_N     a count-bounded run: N requests in all, thread t of PORRAS_T takes k = t-1, t-1+T, ...;
--                once a thread has sent its share it sends fillers (DELETE /status, 405) until every
--                real answer is in, then appends a line to PORRAS_DONE and stops; the caller SIGINTs wrk
--                when PORRAS_T lines are there. replace runs may be count-bounded too.
-- Prints: rps=<> p50_ms=<> p99_ms=<> errors=<non-2xx (fillers aside) + socket errors> [requests=<real>]
local mode = os.getenv("PORRAS_MODE") or "replace"
local pools = tonumber(os.getenv("PORRAS_POOLS") or "10000")
local bettors = tonumber(os.getenv("PORRAS_BETTORS") or "3")
local total = tonumber(os.getenv("PORRAS_N") or "")
local nthreads = tonumber(os.getenv("PORRAS_T") or "1")
local donefile = os.getenv("PORRAS_DONE")
local hdr = {["Content-Type"] = "application/json"}
-- PORRAS_DELAY_MS: each connection waits that long before each request (a paced write load)
local delay_ms = tonumber(os.getenv("PORRAS_DELAY_MS") or "")
if delay_ms then
  function delay() return delay_ms end
end

local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  non2xx, sent, answered, fillers = 0, 0, 0, 0
  share, verify = 0, tid == 1
  if total then
    share = math.floor(total / nthreads) + ((tid - 1) < total % nthreads and 1 or 0)
    if share == 0 then finish() end
  end
  math.randomseed(tid * 7919 + os.time())
end

function finish()
  if donefile then
    local f = io.open(donefile, "a"); f:write(tid, "\n"); f:close()
  end
  wrk.thread:stop()
end

local function bet(i, quien)
  return wrk.format("PUT", "/porras/L" .. i .. "-V" .. i .. "-Liga-2017/apuestas/" .. quien, hdr,
    string.format('{"local":%d,"visitante":%d}', math.random(0, 9), math.random(0, 9)))
end

request = function()
  if verify then -- wrk 4.1 calls thread 1's request() once after init() to check the script; not sent
    verify = false
    return wrk.format("GET", "/status")
  end
  if total and sent >= share then
    fillers = fillers + 1
    return wrk.format("DELETE", "/status")
  end
  local k = (tid - 1) + nthreads * sent -- this request's index in the whole run
  sent = sent + 1
  if mode == "pools" then
    return wrk.format("PUT", "/porra/L" .. k .. "/V" .. k .. "/Liga/2017")
  elseif mode == "bets" then
    return bet(k % pools, "jugador" .. math.floor(k / pools))
  elseif mode == "new" then
    return wrk.format("PUT", "/porras/W" .. (sent % 8) .. "-Bench-Liga-2017/apuestas/w" .. tid .. "n" .. sent,
      hdr, string.format('{"local":%d,"visitante":%d}', math.random(0, 9), math.random(0, 9)))
  end
  return bet(math.random(0, pools - 1), "jugador" .. math.random(0, bettors - 1))
end

function response(status, headers, body)
  if total and status == 405 then return end -- a filler
  answered = answered + 1
  if status < 200 or status > 299 then non2xx = non2xx + 1 end
  if total and answered == share then finish() end
end

function done(summary, latency, requests)
  local e = summary.errors
  local bad, real = 0, 0
  for _, t in ipairs(threads) do bad = bad + t:get("non2xx"); real = real + t:get("answered") end
  io.write(string.format("rps=%.0f p50_ms=%.3f p99_ms=%.3f errors=%d requests=%d\n",
    real / summary.duration * 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    bad + e.connect + e.read + e.write + e.timeout, real))
end
