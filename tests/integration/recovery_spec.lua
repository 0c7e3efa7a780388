-- recovery_spec.lua — the journal across kill -9: each model call is made exactly once, the
-- task resumes where it was and ends with the result of an uninterrupted run; SIGTERM pauses
-- running tasks that resume on the next start; accepted tasks survive a crash.
local T = require("agentai_test")

local WORKFLOW = [[
local ai = require("agentai")
return function(input)
  local one = ai.llm.chat{messages = {{role = "user", content = "first " .. input.tag}}}
  ai.kv.put("progress/" .. input.tag, 1)
  ai.task.emit("step", {done = 1})
  ai.sleep(input.pause or 0)
  local two = ai.llm.chat{messages = {{role = "user", content = "second " .. input.tag}}}
  return {one = one.choices[1].message.content, two = two.choices[1].message.content,
          started = ai.now() > 0}
end]]

local function count_lines(path)
  local n = 0
  for _ in (T.read_file(path) or ""):gmatch("[^\n]+") do n = n + 1 end
  return n
end

describe("crash recovery", function()
  local wfdir, cfgdir
  setup(function()
    wfdir = T.tmpdir()
    T.workflow(wfdir, "twostep.lua", WORKFLOW)
    cfgdir = T.tmpdir()
  end)
  teardown(function() T.cleanup() end)

  local function start(data, calls)
    local cfg = cfgdir .. "/agentai-" .. tostring(math.random(1e9)) .. ".toml"
    T.write_file(cfg, '[plugins.provider-mock]\ncalls_file = "' .. calls .. '"\n')
    local server, err = T.serve({ "--config", cfg }, { AGENTAI_WORKFLOW_PATH = wfdir }, data)
    assert.truthy(server, err)
    return server
  end
  local function api(server)
    local base = "http://127.0.0.1:" .. server.port
    local a = {}
    function a.post(path, body, headers)
      local h = { ["Content-Type"] = "application/json" }
      for k, v in pairs(headers or {}) do h[k] = v end
      return T.http("POST", base .. path, body, h)
    end
    function a.get(path) return T.http("GET", base .. path) end
    function a.wait(id, pred, seconds)
      local r
      for _ = 1, (seconds or 15) * 20 do
        r = a.get("/v1/tasks/" .. id)
        if r.json and pred(r.json) then return r.json end
        os.execute("sleep 0.05")
      end
      error("task " .. id .. " never reached the state: " .. (r and r.body or ""))
    end
    return a
  end

  it("replays the journal after kill -9: each call once, same result", function()
    local dir = T.tmpdir()
    -- the reference: an uninterrupted run
    local ref_server = start(dir .. "/ref", dir .. "/ref-calls.jsonl")
    local ref = api(ref_server)
    local agent = ref.post("/v1/agents", '{"workflow":"twostep"}').json
    local t = ref.post("/v1/agents/" .. agent.id .. "/tasks", '{"input":{"tag":"x","pause":0}}').json
    local done = ref.wait(t.id, function(j) return j.status == "succeeded" end)
    ref_server:stop("TERM")
    assert.are.equal(2, count_lines(dir .. "/ref-calls.jsonl"))

    -- the crash: kill -9 between the two calls
    local data, calls = dir .. "/crash", dir .. "/calls.jsonl"
    local s1 = start(data, calls)
    local c1 = api(s1)
    agent = c1.post("/v1/agents", '{"workflow":"twostep"}').json
    t = c1.post("/v1/agents/" .. agent.id .. "/tasks", '{"input":{"tag":"x","pause":1.5}}').json
    -- wait until the first call is journaled (its progress event is written after it)
    local seen
    for _ = 1, 200 do
      local ev = c1.get("/v1/tasks/" .. t.id .. "/events?type=eq.task.progress")
      if ev.json and #ev.json.data == 1 then seen = true break end
      os.execute("sleep 0.02")
    end
    assert.is_true(seen)
    assert.is_true(s1:stop("KILL"))
    assert.are.equal(1, count_lines(calls))

    local s2 = start(data, calls)
    local c2 = api(s2)
    local after = c2.wait(t.id, function(j) return j.status == "succeeded" end)
    s2:stop("TERM")
    assert.are.equal(2, count_lines(calls)) -- the first call was not made again
    assert.are.same(done.result, after.result)
    assert.are.equal(1, after.attempt)
    -- the progress event was not emitted twice
    local s3 = start(data, calls)
    local ev = api(s3).get("/v1/tasks/" .. t.id .. "/events?type=eq.task.progress")
    s3:stop("TERM")
    assert.are.equal(1, #ev.json.data)
  end)

  it("keeps every accepted task across kill -9", function()
    local dir = T.tmpdir()
    local data = dir .. "/data"
    local s1 = start(data, dir .. "/calls.jsonl")
    local c1 = api(s1)
    local agent = c1.post("/v1/agents", '{"workflow":"twostep"}').json
    local ids = {}
    for i = 1, 30 do
      local r = c1.post("/v1/agents/" .. agent.id .. "/tasks", '{"input":{"tag":"t' .. i .. '","pause":30}}')
      assert.are.equal(202, r.status, r.body)
      ids[#ids + 1] = r.json.id
    end
    assert.is_true(s1:stop("KILL"))
    local s2 = start(data, dir .. "/calls.jsonl")
    local c2 = api(s2)
    for i, id in ipairs(ids) do
      local r = c2.get("/v1/tasks/" .. id)
      assert.are.equal(200, r.status, r.body)
      assert.are.equal("t" .. i, r.json.input.tag)
      assert.truthy(({ queued = 1, running = 1, succeeded = 1 })[r.json.status], r.body)
    end
    s2:stop("KILL")
  end)

  it("pauses running tasks on SIGTERM and resumes them on the next start", function()
    local dir = T.tmpdir()
    local data, calls = dir .. "/data", dir .. "/calls.jsonl"
    local s1 = start(data, calls)
    local c1 = api(s1)
    local agent = c1.post("/v1/agents", '{"workflow":"twostep"}').json
    local t = c1.post("/v1/agents/" .. agent.id .. "/tasks", '{"input":{"tag":"g","pause":1}}').json
    c1.wait(t.id, function(j) return j.status == "running" end)
    os.execute("sleep 0.3")
    assert.is_true(s1:stop("TERM"))
    assert.truthy(s1:log():find('"msg":"stopped"', 1, true), s1:log())
    local s2 = start(data, calls)
    local done = api(s2).wait(t.id, function(j) return j.status == "succeeded" end)
    s2:stop("TERM")
    assert.are.equal("first g", done.result.one)
    assert.are.equal(2, count_lines(calls))
  end)
end)
