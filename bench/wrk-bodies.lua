-- wrk-bodies.lua - lets wrk post the signed webhooks that
-- `loadgen --write-bodies FILE` wrote ("<ts>\t<sig>\t<body>" lines), each
-- once: thread t of n sends lines t, t+n, t+2n... so no event id is sent
-- twice. A thread that has sent all of its lines asks for /healthz, which
-- stores nothing; so count stored webhooks from the ingestor's /metrics,
-- not from wrk's request total (scripts/bench.sh does). The closing line
-- counts those /healthz requests: when there are any, the loop ran out of
-- webhooks before its time was up, and its rate is a floor, not the
-- server's capacity.
-- WRK_THINK_MS=N makes each connection wait N ms (whole ms: wrk's timer)
-- after an answer before its next request, which holds the rate near
-- C / (N ms + the answer's time) instead of the server's saturation.
--   BODIES=FILE wrk -s bench/wrk-bodies.lua -t T -c C -d D http://host:port
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local n = tonumber(os.getenv("WRK_THREADS") or "1")
  local f = assert(io.open(os.getenv("BODIES"), "r"))
  reqs, next_req, line_no = {}, 1, 0
  for line in f:lines() do
    if line_no % n == id then
      local ts, sig, body = line:match("^([^\t]+)\t([^\t]+)\t(.*)$")
      if body then
        reqs[#reqs + 1] = wrk.format("POST", "/webhooks/telnyx", {
          ["Content-Type"] = "application/json",
          ["telnyx-timestamp"] = ts,
          ["telnyx-signature-ed25519"] = sig,
        }, body)
      end
    end
    line_no = line_no + 1
  end
  f:close()
  total = #reqs
  spare = wrk.format("GET", "/healthz")
  dry = 0
end

-- defined only when asked for: wrk takes a script's delay() as a timer
-- round per request even when it returns 0
local think = tonumber(os.getenv("WRK_THINK_MS") or "0")
if think > 0 then
  function delay()
    return think
  end
end

function request()
  local r = reqs[next_req]
  if r == nil then
    dry = dry + 1
    return spare
  end
  next_req = next_req + 1
  return r
end

-- No response(): with one, wrk builds a table of each answer's headers
-- for it, and that garbage, against a heap holding every request of the
-- run, made LuaJIT run a collection cycle that froze the sender for
-- 160-280 ms once per 30 s loop. Answers in flight then were timed that
-- long, and wrk's coordinated-omission correction (stats_correct) adds
-- about a hundred samples for each such answer: enough to move the p99.
-- wrk counts the refusals itself (summary.errors.status: answers over 399).

function done(summary, latency, requests)
  local bad, left, dry = summary.errors.status, 0, 0
  for _, t in ipairs(threads) do
    left = left + t:get("total") - t:get("next_req") + 1
    dry = dry + t:get("dry")
  end
  io.write(string.format("wrk-bodies: %d answers refused (400 or over), %d webhooks left unsent, %d /healthz after the last one%s\n",
    bad, left, dry, dry > 0 and " (ran out: the rate is a floor)" or ""))
end
