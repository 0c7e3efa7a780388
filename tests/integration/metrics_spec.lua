-- metrics_spec.lua — GET /metrics on the real daemon: the exposition format (checked by promtool)
-- and that the HTTP, task, queue, WebSocket, storage, Lua and process figures move as they should.
local T = require("agentai_test")

local CLIENT = os.getenv("AGENTAI_WS_CLIENT") or (T.build_dir .. "/agentai-ws-client")

local WORKFLOWS = {
  ["echo.lua"] = [[
local ai = require("agentai")
return function(input)
  ai.task.emit("seen", {input = input})
  return {echo = input}
end]],
  -- runs until cancelled, so a spec can look at a running task
  ["slow.lua"] = [[
local ai = require("agentai")
return function()
  ai.sleep(60)
  return {}
end]],
}

--- Parses the text format into a list of {name, labels, value}.
local function parse(text)
  local samples = {}
  for line in text:gmatch("[^\n]+") do
    if line:sub(1, 1) ~= "#" then
      local name, rest = line:match("^([%w_:]+)(.*)$")
      assert(name, "bad sample line: " .. line)
      local labels = {}
      local body, value = rest:match("^{(.*)}%s+(%S+)$")
      if body then
        for k, v in body:gmatch('([%w_]+)="(.-)"') do labels[k] = v end
      else
        value = rest:match("^%s+(%S+)$")
      end
      assert(value, "bad sample line: " .. line)
      local num = value == "+Inf" and math.huge or value == "-Inf" and -math.huge or tonumber(value)
      assert(num or value == "NaN", "bad value: " .. line)
      samples[#samples + 1] = { name = name, labels = labels, value = num }
    end
  end
  return samples
end

--- The value of the one sample named name whose labels include want (nil if none).
local function value(samples, name, want)
  local found
  for _, s in ipairs(samples) do
    local ok = s.name == name
    for k, v in pairs(want or {}) do ok = ok and s.labels[k] == v end
    if ok then
      assert(found == nil, "more than one sample matches " .. name)
      found = s.value
    end
  end
  return found
end

describe("GET /metrics", function()
  local server
  local function url(path) return "http://127.0.0.1:" .. server.port .. path end
  local function post(path, body)
    return T.http("POST", url(path), body, { ["Content-Type"] = "application/json" })
  end
  local function agent(workflow)
    local r = post("/v1/agents", '{"workflow":"' .. workflow .. '"}')
    assert.are.equal(201, r.status, r.body)
    return r.json.id
  end
  local function task(agent_id, input)
    local r = post("/v1/agents/" .. agent_id .. "/tasks", '{"input":' .. (input or "{}") .. "}")
    assert.are.equal(202, r.status, r.body)
    return r.json.id
  end
  local function wait_task(id, want)
    local r
    for _ = 1, 400 do
      r = T.http("GET", url("/v1/tasks/" .. id))
      if r.json and r.json.status == want then return r.json end
      os.execute("sleep 0.05")
    end
    error("task " .. id .. " did not become " .. want .. ": " .. (r and r.body or ""))
  end
  local function scrape()
    local r = T.http("GET", url("/metrics"))
    assert.are.equal(200, r.status, r.body)
    return parse(r.body), r
  end
  --- Scrapes until pred(samples) holds; returns the samples.
  local function wait_metrics(pred, what)
    local samples
    for _ = 1, 200 do
      samples = scrape()
      if pred(samples) then return samples end
      os.execute("sleep 0.05")
    end
    error("metrics never showed " .. what)
  end

  setup(function()
    local dir = T.tmpdir()
    for name, src in pairs(WORKFLOWS) do T.workflow(dir, name, src) end
    -- one task at a time, so a second one waits in the queue
    local cfg = dir .. "/agentai.toml"
    T.write_file(cfg, "[engine]\nmax_running = 1\n")
    local err
    server, err = T.serve({ "--config", cfg }, { AGENTAI_WORKFLOW_PATH = dir })
    assert.truthy(server, err)
  end)
  teardown(function()
    if server then server:stop("KILL") end
    T.cleanup()
  end)

  it("serves the text format 0.0.4, and promtool accepts it", function()
    -- something in every family first: requests, a finished task, a commit
    T.http("GET", url("/healthz"))
    wait_task(task(agent("echo"), '"x"'), "succeeded")
    local r = T.http("GET", url("/metrics"))
    assert.are.equal(200, r.status)
    assert.are.equal("text/plain; version=0.0.4", (r.headers["content-type"] or ""):match("^[^;]*;[^;]*"),
      r.headers["content-type"])
    assert.truthy(r.body:find("# TYPE agentai_http_requests_total counter\n", 1, true), r.body)
    assert.truthy(r.body:find("# TYPE agentai_http_request_duration_seconds histogram\n", 1, true))
    assert.are.equal("\n", r.body:sub(-1))
    local have = T.sh("command -v promtool")
    assert.are.equal(0, have.code,
      "promtool is missing: run packaging/install-deps.sh (Debian package prometheus)")
    local file = T.tmpdir() .. "/metrics.txt"
    T.write_file(file, r.body)
    local check = T.sh("promtool check metrics < " .. T.q(file))
    assert.are.equal(0, check.code, "promtool check metrics:\n" .. check.stdout .. check.stderr)
    -- and it does fail on a broken exposition, so the check above means something
    T.write_file(file, r.body .. "agentai_http_requests_total{route=\"x\" 1\n")
    assert.are_not.equal(0, T.sh("promtool check metrics < " .. T.q(file)).code)
  end)

  it("counts requests by route, method and status, with durations", function()
    local before = scrape()
    local healthz = { route = "/healthz", method = "GET", status = "200" }
    local n0 = value(before, "agentai_http_requests_total", healthz) or 0
    local c0 = value(before, "agentai_http_request_duration_seconds_count", { route = "/healthz" }) or 0
    for _ = 1, 3 do assert.are.equal(200, T.http("GET", url("/healthz")).status) end
    assert.are.equal(404, T.http("GET", url("/no/such/path")).status)
    local after = scrape()
    assert.are.equal(n0 + 3, value(after, "agentai_http_requests_total", healthz))
    assert.are.equal(c0 + 3, value(after, "agentai_http_request_duration_seconds_count",
      { route = "/healthz" }))
    assert.are.equal(c0 + 3, value(after, "agentai_http_request_duration_seconds_bucket",
      { route = "/healthz", le = "+Inf" }))
    assert.are.equal(c0 + 3, value(after, "agentai_http_request_duration_seconds_bucket",
      { route = "/healthz", le = "10" }))
    assert.is_true(value(after, "agentai_http_request_duration_seconds_sum", { route = "/healthz" }) > 0)
    -- unmatched paths do not make a series per path
    for _, s in ipairs(after) do
      assert.are_not.equal("/no/such/path", s.labels.route)
    end
    assert.is_true(value(after, "agentai_http_requests_total", { method = "GET", status = "404" }) >= 1)
    -- the scrape before this one is counted too
    assert.is_true(value(after, "agentai_http_requests_total",
      { route = "/metrics", method = "GET", status = "200" }) >= 1)
  end)

  it("shows tasks by state, the queue, running workflows, outcomes and Lua memory", function()
    local s0 = scrape()
    local succeeded0 = value(s0, "agentai_task_outcomes_total", { outcome = "succeeded" })
    local started0 = value(s0, "agentai_task_outcomes_total", { outcome = "started" })
    assert.are.equal(0, value(s0, "agentai_tasks", { state = "running" }))
    assert.are.equal(0, value(s0, "agentai_queue_depth"))
    for _, state in ipairs({ "queued", "running", "waiting_retry" }) do
      assert.truthy(value(s0, "agentai_tasks", { state = state }), state)
    end
    for _, outcome in ipairs({ "failed", "cancelled", "retried" }) do
      assert.truthy(value(s0, "agentai_task_outcomes_total", { outcome = outcome }), outcome)
    end

    local cancelled0 = value(s0, "agentai_task_outcomes_total", { outcome = "cancelled" })
    -- a running task and one behind it (max_running = 1)
    local slow = task(agent("slow"))
    wait_task(slow, "running")
    local echo = agent("echo")
    local waiting = { task(echo, '"first behind"'), task(echo, '"second behind"') }
    local s1 = wait_metrics(function(s) return value(s, "agentai_queue_depth") == 2 end, "queue depth 2")
    assert.are.equal(1, value(s1, "agentai_tasks", { state = "running" }))
    assert.are.equal(2, value(s1, "agentai_tasks", { state = "queued" }))
    assert.are.equal(0, value(s1, "agentai_tasks", { state = "waiting_retry" }))
    assert.are.equal(1, value(s1, "agentai_workflows_running"))
    assert.is_true(value(s1, "agentai_lua_memory_bytes") > 0)
    assert.are.equal("queued", T.http("GET", url("/v1/tasks/" .. waiting[2])).json.status)

    -- cancelling the running one frees the slot for the queued ones
    assert.are.equal(202, post("/v1/tasks/" .. slow .. "/cancel", "").status)
    wait_task(slow, "cancelled")
    wait_task(waiting[1], "succeeded")
    wait_task(waiting[2], "succeeded")
    local s2 = wait_metrics(function(s) return value(s, "agentai_workflows_running") == 0 end,
      "no workflow running")
    assert.are.equal(0, value(s2, "agentai_queue_depth"))
    assert.are.equal(0, value(s2, "agentai_tasks", { state = "running" }))
    assert.are.equal(0, value(s2, "agentai_tasks", { state = "queued" }))
    assert.are.equal(succeeded0 + 2, value(s2, "agentai_task_outcomes_total", { outcome = "succeeded" }))
    assert.are.equal(started0 + 3, value(s2, "agentai_task_outcomes_total", { outcome = "started" }))
    assert.are.equal(cancelled0 + 1, value(s2, "agentai_task_outcomes_total", { outcome = "cancelled" }))
    assert.is_true(value(s2, "agentai_task_outcomes_total", { outcome = "succeeded" }) >= 1)
    assert.truthy(value(s2, "agentai_lua_memory_bytes"))
  end)

  it("counts open WebSocket connections and their subscriptions", function()
    local s0 = scrape()
    assert.are.equal(0, value(s0, "agentai_websocket_connections"))
    local subs0 = value(s0, "agentai_event_subscriptions")
    local dir = T.tmpdir()
    local p = assert(io.popen(T.q(CLIENT) .. " " .. T.q("ws://127.0.0.1:" .. server.port .. "/v1/ws")
      .. " --send - --timeout 60 >" .. dir .. "/out 2>" .. dir .. "/err", "w"))
    local closed = false
    finally(function() if not closed then p:close() end end)
    p:write('{"op":"subscribe","all":true,"ref":"s"}\n{"op":"ping","ref":"p"}\n')
    p:flush()
    for _ = 1, 200 do
      if (T.read_file(dir .. "/out") or ""):find('"type":"pong"', 1, true) then break end
      os.execute("sleep 0.05")
    end
    assert.truthy((T.read_file(dir .. "/out") or ""):find('"type":"pong"', 1, true),
      "no pong: " .. (T.read_file(dir .. "/err") or ""))
    local s1 = scrape()
    assert.are.equal(1, value(s1, "agentai_websocket_connections"))
    assert.are.equal(subs0 + 1, value(s1, "agentai_event_subscriptions"))
    -- end of stdin: the client closes with 1000
    local _, _, code = p:close()
    closed = true
    assert.are.equal(0, code, T.read_file(dir .. "/err"))
    local s2 = wait_metrics(function(s) return value(s, "agentai_websocket_connections") == 0 end,
      "the connection gone")
    assert.are.equal(subs0, value(s2, "agentai_event_subscriptions"))
  end)

  it("shows storage commit times, Lua memory and process figures", function()
    wait_task(task(agent("echo"), '"commit"'), "succeeded")
    local s = scrape()
    assert.is_true(value(s, "agentai_storage_commit_seconds_count") > 0)
    assert.are.equal(value(s, "agentai_storage_commit_seconds_count"),
      value(s, "agentai_storage_commit_seconds_bucket", { le = "+Inf" }))
    assert.is_true(value(s, "agentai_storage_commit_seconds_sum") > 0)
    assert.is_true(value(s, "agentai_lua_memory_bytes") >= 0)
    local rss = value(s, "process_resident_memory_bytes")
    assert.is_true(rss > 1e6 and rss < 4e9, tostring(rss))
    assert.is_true(value(s, "process_open_fds") > 3)
    assert.is_true(value(s, "process_cpu_seconds_total") >= 0)
    local start = value(s, "process_start_time_seconds")
    assert.is_true(math.abs(start - os.time()) < 3600, tostring(start))
  end)

  it("refuses other methods with 405 and Allow", function()
    local r = T.http("POST", url("/metrics"), "x")
    assert.are.equal(405, r.status)
    assert.are.equal("GET, HEAD", r.headers["allow"])
    assert.are.equal("method_not_allowed", r.json.error.type)
    assert.are.equal(405, T.http("DELETE", url("/metrics")).status)
    local s = scrape()
    assert.are.equal(1, value(s, "agentai_http_requests_total",
      { route = "/metrics", method = "POST", status = "405" }))
    local head = T.sh("curl -s -I --max-time 10 " .. T.q(url("/metrics")))
    assert.truthy(head.stdout:match("^HTTP/1.1 200"), head.stdout)
  end)

  -- last: a clean stop, and (in the sanitizer build) no report of errors or leaks
  it("stops cleanly on SIGTERM afterwards", function()
    assert.is_true(server:stop("TERM"))
    local log = server:log()
    assert.truthy(log:find('"msg":"stopped"', 1, true), log)
    assert.falsy(log:find("ERROR: AddressSanitizer", 1, true), log)
    assert.falsy(log:find("ERROR: LeakSanitizer", 1, true), log)
    assert.falsy(log:find("runtime error:", 1, true), log)
  end)
end)
