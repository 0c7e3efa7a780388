-- hostile_spec.lua — malformed and hostile input on every endpoint gets a clear 4xx and changes
-- nothing stored; the queue is fair across agents.
local T = require("agentai_test")

local ECHO = [[
local ai = require("agentai")
return function(input)
  ai.sleep(type(input) == "table" and input.pause or 0)
  return {echo = input}
end]]

describe("hostile input", function()
  local server, base
  local function post(path, body, headers)
    local h = { ["Content-Type"] = "application/json" }
    for k, v in pairs(headers or {}) do h[k] = v end
    return T.http("POST", base .. path, body, h)
  end
  local function wait_status(id, want, seconds)
    for _ = 1, (seconds or 10) * 20 do
      local r = T.http("GET", base .. "/v1/tasks/" .. id)
      if r.json and r.json.status == want then return r.json end
      os.execute("sleep 0.05")
    end
    error(id .. " never became " .. want)
  end

  setup(function()
    local wf = T.tmpdir()
    T.workflow(wf, "echo.lua", ECHO)
    local err
    server, err = T.serve(nil, { AGENTAI_WORKFLOW_PATH = wf, AGENTAI_MAX_RUNNING = "1" })
    assert.truthy(server, err)
    base = "http://127.0.0.1:" .. server.port
  end)
  teardown(function()
    if server then server:stop("KILL") end
    T.cleanup()
  end)

  it("leaves an agent unchanged after every refused change", function()
    local a = post("/v1/agents", '{"name":"keep","workflow":"echo"}').json
    local before = T.http("GET", base .. "/v1/agents/" .. a.id).body
    local bad = {
      '{"name":' .. string.rep("9", 400) .. '}',
      '{"name":"' .. string.rep("x", 200) .. '"}',
      '{"workflow":"../../etc/passwd"}',
      '{"workflow":"echo\\u0000"}',
      '{"id":"agt_other"}',
      '{"created_at":"2020-01-01T00:00:00Z"}',
      '{"retry":{"max_attempts":"3"}}',
      '{"metadata":{"k":1}}',
      '{"params":[1,2]}',
      '{"name":"\xc0\xaf"}',
      '[]',
      'null',
      '{"name":"ok"} trailing',
    }
    for _, body in ipairs(bad) do
      local r = T.http("PATCH", base .. "/v1/agents/" .. a.id, body, { ["Content-Type"] = "application/json" })
      assert.are.equal(400, r.status, body .. " -> " .. r.body)
      assert.truthy(r.json and r.json.error.message ~= "", r.body)
    end
    assert.are.equal(before, T.http("GET", base .. "/v1/agents/" .. a.id).body)
  end)

  it("refuses oversized bodies with 413 and stores nothing", function()
    local a = post("/v1/agents", '{"workflow":"echo"}').json
    local big = '{"input":"' .. string.rep("a", 2 * 1024 * 1024) .. '"}'
    local r = post("/v1/agents/" .. a.id .. "/tasks", big)
    assert.are.equal(413, r.status)
    assert.are.equal("request_too_large", r.json.error.type)
    assert.are.equal(0, #T.http("GET", base .. "/v1/agents/" .. a.id .. "/tasks").json.data)
  end)

  it("answers unknown and malformed ids with 404, never 500", function()
    for _, path in ipairs({ "/v1/tasks/tsk_01m000000000000000000000000", "/v1/tasks/..%2F..%2Fetc",
      "/v1/tasks/" .. string.rep("z", 300), "/v1/agents/" .. string.rep("a", 300),
      "/v1/tasks/tsk_01m000000000000000000000000/events" }) do
      local r = T.http("GET", base .. path)
      assert.are.equal(404, r.status, path .. " -> " .. r.body)
    end
    for _, op in ipairs({ "cancel", "retry" }) do
      local r = post("/v1/tasks/tsk_01m000000000000000000000000/" .. op, "")
      assert.are.equal(404, r.status, op .. " -> " .. r.body)
    end
  end)

  it("refuses a bad Idempotency-Key and a bad Last-Event-ID", function()
    local a = post("/v1/agents", '{"workflow":"echo"}').json
    local r = post("/v1/agents/" .. a.id .. "/tasks", '{"input":1}', { ["Idempotency-Key"] = string.rep("k", 300) })
    assert.are.equal(400, r.status)
    assert.are.equal("Idempotency-Key", r.json.error.param)
    local t = post("/v1/agents/" .. a.id .. "/tasks", '{"input":1}').json
    wait_status(t.id, "succeeded")
    r = T.http("GET", base .. "/v1/tasks/" .. t.id .. "/events", nil,
      { Accept = "text/event-stream", ["Last-Event-ID"] = "abc" })
    assert.are.equal(400, r.status)
    -- cancelling a finished task changes nothing
    local before = T.http("GET", base .. "/v1/tasks/" .. t.id).body
    assert.are.equal(409, post("/v1/tasks/" .. t.id .. "/cancel", "").status)
    assert.are.equal(before, T.http("GET", base .. "/v1/tasks/" .. t.id).body)
  end)

  it("shares the run slot fairly across agents", function()
    -- one slot: agent A queues five tasks, then agent B one; B runs within the
    -- next two turns, not after all of A's (each task holds the slot 1 s, so
    -- every submission is in before the first one ends)
    local a = post("/v1/agents", '{"workflow":"echo"}').json
    local b = post("/v1/agents", '{"workflow":"echo"}').json
    local ids = {}
    for i = 1, 5 do
      ids[i] = post("/v1/agents/" .. a.id .. "/tasks", '{"input":{"pause":1}}').json.id
    end
    local bt = post("/v1/agents/" .. b.id .. "/tasks", '{"input":{"pause":1}}').json.id
    local done_b = wait_status(bt, "succeeded", 20)
    local finished_a = 0
    for i = 1, 5 do
      local r = T.http("GET", base .. "/v1/tasks/" .. ids[i]).json
      if r.status == "succeeded" and r.ended_at <= done_b.ended_at then finished_a = finished_a + 1 end
    end
    assert.truthy(finished_a <= 2, "agent B waited for " .. finished_a .. " of agent A's tasks")
    for i = 1, 5 do wait_status(ids[i], "succeeded", 20) end
  end)
end)
