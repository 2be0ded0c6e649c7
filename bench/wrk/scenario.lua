-- One wrk scenario: a weighted plan of requests, each signed with a random token.
--   BENCH_TOKENS  a file with one access token a line
--   BENCH_PLAN    a file with "weight<TAB>METHOD<TAB>path" lines; a POST to /v1/checkins sends
--                 a fresh check-in (new client id, the current time) each time, and a POST to
--                 /checkins (the peers, bench/peers.py) the peers' smaller one, also with a new
--                 client id (the token goes to them too, ignored: the same headers as the API's)
-- done() prints one line, "BENCH {json}", that bench/load.py reads.

local threads = {}

function setup(thread)
  thread:set("thread_number", #threads + 1)
  table.insert(threads, thread)
end

local tokens, plan, total = {}, {}, 0
statuses = {}

local function random_seed()
  -- Each thread, and each run, its own sequence: client ids must never repeat.
  local urandom = io.open("/dev/urandom", "rb")
  local bytes = urandom:read(4)
  urandom:close()
  local seed = 0
  for i = 1, 4 do seed = seed * 256 + bytes:byte(i) end
  return seed + thread_number
end

function init(args)
  for line in io.lines(os.getenv("BENCH_TOKENS")) do
    if #line > 0 then table.insert(tokens, line) end
  end
  for line in io.lines(os.getenv("BENCH_PLAN")) do
    local weight, method, path = line:match("^(%d+)\t(%u+)\t(.+)$")
    if weight then
      total = total + tonumber(weight)
      table.insert(plan, { upto = total, method = method, path = path })
    end
  end
  math.randomseed(random_seed())
end

local function hex(n)
  local digits = {}
  for i = 1, n do digits[i] = string.format("%x", math.random(0, 15)) end
  return table.concat(digits)
end

local function uuid4()
  local pick = math.random(1, 4)
  local variant = ("89ab"):sub(pick, pick)
  return hex(8) .. "-" .. hex(4) .. "-4" .. hex(3) .. "-" .. variant .. hex(3) .. "-" .. hex(12)
end

local function checkin_body()
  return string.format(
    '{"client_id": "%s", "client_time": "%s", "mood": %d, "craving": %d, "used": false, "sleep": %d, "need_support": "no"}',
    uuid4(), os.date("!%Y-%m-%dT%H:%M:%SZ", os.time() - 60), math.random(2, 5), math.random(0, 5), math.random(2, 5))
end

local function peer_checkin_body()
  return string.format('{"client_id": "%s", "mood": %d, "craving": %d, "used": false, "note": null}',
    uuid4(), math.random(2, 5), math.random(0, 5))
end

local bodies = { ["/v1/checkins"] = checkin_body, ["/checkins"] = peer_checkin_body }

function request()
  local pick, step = math.random(total), nil
  for i = 1, #plan do
    if pick <= plan[i].upto then step = plan[i]; break end
  end
  local headers = { ["Authorization"] = "Bearer " .. tokens[math.random(#tokens)] }
  if step.method == "POST" then
    headers["Content-Type"] = "application/json"
    return wrk.format("POST", step.path, headers, bodies[step.path]())
  end
  return wrk.format(step.method, step.path, headers)
end

function response(status, headers, body)
  if status >= 300 then statuses[status] = (statuses[status] or 0) + 1 end
end

function done(summary, latency, requests)
  local by_status = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses") or {}) do
      by_status[status] = (by_status[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(by_status) do table.insert(parts, string.format('"%d": %d', status, count)) end
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, "max_us": %d, ' ..
    '"socket_errors": %d, "timeouts": %d, "non_2xx": %d, "statuses": {%s}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95), latency:percentile(99),
    latency.max, e.connect + e.read + e.write, e.timeout, e.status, table.concat(parts, ", ")))
end
