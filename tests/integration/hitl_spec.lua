-- hitl_spec.lua — human in the loop against the real daemon: ai.task.interrupt pauses a task as
-- "waiting" with its payload, POST /v1/tasks/{id}/resume answers it, and the workflow continues
-- from its journal (model calls are not made again), across kill -9 and restarts.
local T = require("agentai_test")
local Y = require("yaml_subset")
local C = require("openapi_check")
local json = require("dkjson")

local WORKFLOWS = {
  ["approve.lua"] = [[
local ai = require("agentai")
return function(input)
  local r = ai.llm.chat{messages = {{role = "user", content = "draft " .. input.tag}}}
  local draft = r.choices[1].message.content
  local answer = ai.task.interrupt({question = "approve?", draft = draft})
  ai.kv.put("approved/" .. input.tag, answer)
  return {draft = draft, answer = answer}
end]],
  ["twice.lua"] = [[
local ai = require("agentai")
return function(input)
  local a = ai.task.interrupt({step = 1})
  ai.task.emit("between", {a = a})
  local b = ai.task.interrupt({step = 2, a = a})
  return {a = a, b = b}
end]],
  ["swallow.lua"] = [[
local ai = require("agentai")
return function()
  -- a pause cannot be caught: the attempt stops here all the same
  local ok, v = pcall(ai.task.interrupt, {q = "pcall"})
  return {ok = ok, v = v}
end]],
  ["spawned.lua"] = [[
local ai = require("agentai")
return function()
  local h = ai.spawn(function() return ai.task.interrupt({from = "fiber"}) end)
  local v = ai.wait(h)
  return {v = v}
end]],
  ["flaky_after.lua"] = [[
local ai = require("agentai")
return function()
  local v = ai.task.interrupt({attempt = ai.task.attempt})
  if ai.task.attempt < 2 then
    ai.error{kind = "flaky", message = "not yet", retryable = true}
  end
  return {v = v, attempt = ai.task.attempt}
end]],
  ["slow.lua"] = [[
local ai = require("agentai")
return function(input)
  ai.sleep(input.seconds or 30)
  return {slept = true}
end]],
  ["plain.lua"] = [[
local ai = require("agentai")
return function()
  return {task = ai.task == nil and "none" or "present"}
end]],
}

-- Checks a JSON body against a schema of docs/openapi.yaml; the problems, or none.
local DOC = assert(Y.parse(T.read_file(T.source_dir .. "/docs/openapi.yaml"), "openapi.yaml"))
local function conforms(schema, body, what)
  local errs, notes = {}, {}
  C.validate(DOC, { ["$ref"] = "#/components/schemas/" .. schema }, json.decode(body, 1, Y.null), what,
    errs, notes)
  for k in pairs(notes) do errs[#errs + 1] = "undocumented: " .. k end
  assert(#errs == 0, table.concat(errs, "\n"))
end

-- A clean stop: SIGTERM, and nothing reported by the sanitizers (ASan builds).
local function stop_clean(server)
  assert.is_true(server:stop("TERM"))
  local log = server:log()
  assert.falsy(log:find("ERROR: AddressSanitizer", 1, true), log)
  assert.falsy(log:find("ERROR: LeakSanitizer", 1, true), log)
  assert.falsy(log:find("runtime error:", 1, true), log) -- UBSan
end

local function count_lines(path)
  local n = 0
  for _ in (T.read_file(path) or ""):gmatch("[^\n]+") do n = n + 1 end
  return n
end

describe("human in the loop", function()
  local wfdir, cfgdir
  setup(function()
    wfdir = T.tmpdir()
    for name, src in pairs(WORKFLOWS) do T.workflow(wfdir, name, src) end
    cfgdir = T.tmpdir()
  end)
  teardown(function() T.cleanup() end)

  local function start(data, calls, extra)
    local cfg = cfgdir .. "/agentai-" .. tostring(math.random(1e9)) .. ".toml"
    T.write_file(cfg, (extra or "") .. '[plugins.provider-mock]\ncalls_file = "' .. calls .. '"\n')
    local server, err = T.serve({ "--config", cfg }, { AGENTAI_WORKFLOW_PATH = wfdir }, data)
    assert.truthy(server, err)
    return server
  end
  local function api(server)
    local base = "http://127.0.0.1:" .. server.port
    local a = {}
    function a.post(path, body)
      return T.http("POST", base .. path, body, { ["Content-Type"] = "application/json" })
    end
    function a.get(path) return T.http("GET", base .. path) end
    function a.agent(workflow)
      local r = a.post("/v1/agents", '{"workflow":"' .. workflow .. '"}')
      assert.are.equal(201, r.status, r.body)
      return r.json.id
    end
    function a.submit(agent, input)
      local r = a.post("/v1/agents/" .. agent .. "/tasks", '{"input":' .. (input or "{}") .. '}')
      assert.are.equal(202, r.status, r.body)
      return r.json.id
    end
    function a.wait(id, status, seconds)
      local r
      for _ = 1, (seconds or 15) * 20 do
        r = a.get("/v1/tasks/" .. id)
        if r.json and r.json.status == status then return r.json end
        os.execute("sleep 0.05")
      end
      error("task " .. id .. " never became " .. status .. ": " .. (r and r.body or ""))
    end
    function a.resume(id, body) return a.post("/v1/tasks/" .. id .. "/resume", body) end
    function a.events(id, type_)
      local r = a.get("/v1/tasks/" .. id .. "/events?limit=100" .. (type_ and ("&type=eq." .. type_) or ""))
      assert.are.equal(200, r.status, r.body)
      return r.json.data
    end
    return a
  end

  it("waits with its payload, resumes with the value, and does not call the model again", function()
    local dir = T.tmpdir()
    local calls = dir .. "/calls.jsonl"
    local s = start(dir .. "/data", calls)
    local c = api(s)
    local agent = c.agent("approve")
    local id = c.submit(agent, '{"tag":"a1"}')
    local t = c.wait(id, "waiting")
    conforms("Task", c.get("/v1/tasks/" .. id).body, "waiting task")
    assert.are.equal("int_1", t.interrupt.id)
    assert.are.equal("approve?", t.interrupt.payload.question)
    assert.are.equal("draft a1", t.interrupt.payload.draft)
    assert.truthy(t.interrupt.at:match("^%d%d%d%d%-%d%d%-%d%dT"), t.interrupt.at)
    assert.are.equal(1, t.attempt)
    assert.are.equal("waiting", t.attempts[1].status)
    assert.is_nil(t.ended_at ~= T.null and t.ended_at or nil)
    assert.are.equal(1, count_lines(calls))
    -- the event, with the payload
    local ev = c.events(id, "task.waiting")
    assert.are.equal(1, #ev)
    assert.are.equal("int_1", ev[1].data.interrupt.id)
    assert.are.equal("draft a1", ev[1].data.interrupt.payload.draft)
    -- the status index: listed as waiting, and not as running
    local l = c.get("/v1/tasks?status=eq.waiting&limit=100")
    assert.are.equal(200, l.status, l.body)
    local found = false
    for _, x in ipairs(l.json.data) do if x.id == id then found = true end end
    assert.is_true(found, l.body)
    l = c.get("/v1/tasks?status=eq.running&limit=100")
    for _, x in ipairs(l.json.data) do assert.are_not.equal(id, x.id) end

    -- refused answers leave it waiting
    local r = c.resume(id, '{"interrupt":"int_1"}')
    assert.are.equal(400, r.status, r.body)
    assert.are.equal("value", r.json.error.param)
    r = c.resume(id, '{"value":1,"extra":2}')
    assert.are.equal(400, r.status, r.body)
    r = c.resume(id, '{"value":1,"interrupt":7}')
    assert.are.equal(400, r.status, r.body)
    r = c.resume(id, '[1]')
    assert.are.equal(400, r.status, r.body)
    r = c.resume(id, '{"value":1,"interrupt":"int_9"}')
    assert.are.equal(409, r.status, r.body)
    assert.truthy(r.json.error.message:find("int_9", 1, true), r.body)
    r = c.resume("tsk_00000000000000000000000000", '{"value":1}')
    assert.are.equal(404, r.status, r.body)
    r = T.http("GET", "http://127.0.0.1:" .. s.port .. "/v1/tasks/" .. id .. "/resume")
    assert.are.equal(405, r.status, r.body)
    assert.are.equal("waiting", c.get("/v1/tasks/" .. id).json.status)

    -- the answer
    r = c.resume(id, '{"value":{"ok":true,"by":"ann"},"interrupt":"int_1"}')
    assert.are.equal(200, r.status, r.body)
    assert.are.equal("queued", r.json.status)
    assert.are.equal(T.null, r.json.interrupt)
    -- a second answer is refused, naming the status it found
    local again = c.resume(id, '{"value":false}')
    assert.are.equal(409, again.status, again.body)
    assert.truthy(again.json.error.message:find("only waiting tasks", 1, true), again.body)
    local done = c.wait(id, "succeeded")
    assert.are.same({ ok = true, by = "ann" }, done.result.answer)
    assert.are.equal("draft a1", done.result.draft)
    assert.are.equal(1, done.attempt)
    assert.are.equal(1, #done.attempts)
    assert.are.equal("succeeded", done.attempts[1].status)
    assert.are.equal(1, done.usage.llm_calls)
    assert.are.equal(1, count_lines(calls)) -- the model call before the pause was not repeated
    r = c.resume(id, '{"value":1}')
    assert.are.equal(409, r.status, r.body)
    assert.truthy(r.json.error.message:find("succeeded", 1, true), r.body)
    -- the history, in order
    local types = {}
    for _, e in ipairs(c.events(id)) do types[#types + 1] = e.type end
    assert.are.same({ "task.created", "task.started", "task.waiting", "task.resumed", "task.started",
      "task.succeeded" }, types)
    conforms("Task", c.get("/v1/tasks/" .. id).body, "resumed task")
    conforms("EventList", c.get("/v1/tasks/" .. id .. "/events").body, "events")
    local resumed = c.events(id, "task.resumed")[1]
    assert.are.equal("int_1", resumed.data.interrupt)
    assert.are.equal("ann", resumed.data.value.by)
    stop_clean(s)
  end)

  it("refuses to resume a running task and takes null as an answer", function()
    local dir = T.tmpdir()
    local s = start(dir .. "/data", dir .. "/calls.jsonl")
    local c = api(s)
    local slow = c.submit(c.agent("slow"), '{"seconds":30}')
    c.wait(slow, "running")
    local r = c.resume(slow, '{"value":1}')
    assert.are.equal(409, r.status, r.body)
    assert.truthy(r.json.error.message:find("running", 1, true), r.body)
    local id = c.submit(c.agent("swallow"))
    c.wait(id, "waiting")
    r = c.resume(id, '{"value":null}')
    assert.are.equal(200, r.status, r.body)
    local done = c.wait(id, "succeeded")
    -- pcall did not catch the pause; the answer (null) came back through it
    assert.are.equal(true, done.result.ok)
    assert.are.equal(T.null, done.result.v)
    stop_clean(s)
  end)

  it("interrupts twice in one workflow, each with its own id and answer", function()
    local dir = T.tmpdir()
    local s = start(dir .. "/data", dir .. "/calls.jsonl")
    local c = api(s)
    local id = c.submit(c.agent("twice"))
    local t = c.wait(id, "waiting")
    assert.are.equal("int_1", t.interrupt.id)
    assert.are.equal(1, t.interrupt.payload.step)
    assert.are.equal(200, c.resume(id, '{"value":"first","interrupt":"int_1"}').status)
    -- the first id is stale once answered
    local t2
    for _ = 1, 200 do
      t2 = c.get("/v1/tasks/" .. id).json
      if t2.status == "waiting" and t2.interrupt ~= T.null and t2.interrupt.id == "int_2" then break end
      os.execute("sleep 0.05")
    end
    assert.are.equal("int_2", t2.interrupt.id, c.get("/v1/tasks/" .. id).body)
    assert.are.equal("first", t2.interrupt.payload.a)
    local r = c.resume(id, '{"value":"late","interrupt":"int_1"}')
    assert.are.equal(409, r.status, r.body)
    assert.are.equal(200, c.resume(id, '{"value":"second","interrupt":"int_2"}').status)
    local done = c.wait(id, "succeeded")
    assert.are.same({ a = "first", b = "second" }, done.result)
    assert.are.equal(1, #c.events(id, "task.progress")) -- the emit between was not repeated
    assert.are.equal(2, #c.events(id, "task.waiting"))
    assert.are.equal(2, #c.events(id, "task.resumed"))
    stop_clean(s)
  end)

  it("pauses from an ai.spawn fiber too", function()
    local dir = T.tmpdir()
    local s = start(dir .. "/data", dir .. "/calls.jsonl")
    local c = api(s)
    local id = c.submit(c.agent("spawned"))
    local t = c.wait(id, "waiting")
    assert.are.equal("fiber", t.interrupt.payload.from)
    assert.are.equal(200, c.resume(id, '{"value":42}').status)
    assert.are.same({ v = 42 }, c.wait(id, "succeeded").result)
    stop_clean(s)
  end)

  it("retries a resumed attempt that fails as a new attempt from the start", function()
    local dir = T.tmpdir()
    local s = start(dir .. "/data", dir .. "/calls.jsonl")
    local c = api(s)
    local r = c.post("/v1/agents", '{"workflow":"flaky_after","retry":{"max_attempts":3,' ..
      '"initial_backoff_ms":10,"max_backoff_ms":20}}')
    assert.are.equal(201, r.status, r.body)
    local id = c.submit(r.json.id)
    c.wait(id, "waiting")
    assert.are.equal(200, c.resume(id, '{"value":"one"}').status)
    local t
    for _ = 1, 200 do
      t = c.get("/v1/tasks/" .. id).json
      if t.status == "waiting" and t.attempt == 2 then break end
      os.execute("sleep 0.05")
    end
    assert.are.equal(2, t.attempt, c.get("/v1/tasks/" .. id).body)
    assert.are.equal("int_2", t.interrupt.id)
    assert.are.equal(2, t.interrupt.payload.attempt)
    assert.are.equal("failed", t.attempts[1].status)
    assert.are.equal("waiting", t.attempts[2].status)
    assert.are.equal(200, c.resume(id, '{"value":"two"}').status)
    local done = c.wait(id, "succeeded")
    assert.are.same({ v = "two", attempt = 2 }, done.result)
    stop_clean(s)
  end)

  it("stays waiting across kill -9 and resumes after the restart", function()
    local dir = T.tmpdir()
    local data, calls = dir .. "/data", dir .. "/calls.jsonl"
    local s1 = start(data, calls)
    local c1 = api(s1)
    local id = c1.submit(c1.agent("approve"), '{"tag":"k9"}')
    c1.wait(id, "waiting")
    assert.is_true(s1:stop("KILL"))
    local s2 = start(data, calls)
    local c2 = api(s2)
    os.execute("sleep 0.3") -- a recovered task would have started by now
    local t = c2.get("/v1/tasks/" .. id).json
    assert.are.equal("waiting", t.status)
    assert.are.equal("int_1", t.interrupt.id)
    assert.are.equal(1, count_lines(calls))
    local r = c2.resume(id, '{"value":"yes"}')
    assert.are.equal(200, r.status, r.body)
    local done = c2.wait(id, "succeeded")
    assert.are.equal("yes", done.result.answer)
    assert.are.equal(1, count_lines(calls))
    stop_clean(s2)
  end)

  it("runs a resumed task whose process died before it started", function()
    local dir = T.tmpdir()
    local data, calls = dir .. "/data", dir .. "/calls.jsonl"
    -- max_running = 1 and a long task in front: the resumed task stays queued
    local s1 = start(data, calls, "[engine]\nmax_running = 1\n")
    local c1 = api(s1)
    local id = c1.submit(c1.agent("approve"), '{"tag":"q"}')
    c1.wait(id, "waiting")
    -- a waiting task does not hold a running slot: the slow task runs
    local slow = c1.submit(c1.agent("slow"), '{"seconds":30}')
    c1.wait(slow, "running")
    local r = c1.resume(id, '{"value":"queued answer"}')
    assert.are.equal(200, r.status, r.body)
    os.execute("sleep 0.2")
    assert.are.equal("queued", c1.get("/v1/tasks/" .. id).json.status)
    assert.is_true(s1:stop("KILL"))
    local s2 = start(data, calls)
    local c2 = api(s2)
    local done = c2.wait(id, "succeeded")
    assert.are.equal("queued answer", done.result.answer)
    assert.are.equal(1, done.attempt)
    assert.are.equal(1, count_lines(calls))
    stop_clean(s2)
  end)

  it("cancels a waiting task", function()
    local dir = T.tmpdir()
    local s = start(dir .. "/data", dir .. "/calls.jsonl")
    local c = api(s)
    local id = c.submit(c.agent("approve"), '{"tag":"c"}')
    c.wait(id, "waiting")
    local r = c.post("/v1/tasks/" .. id .. "/cancel", "")
    assert.are.equal(200, r.status, r.body)
    conforms("Task", r.body, "cancelled task")
    assert.are.equal("cancelled", r.json.status)
    assert.are.equal("cancelled", r.json.attempts[1].status)
    assert.are.equal(T.null, r.json.interrupt)
    local t = c.get("/v1/tasks/" .. id).json
    assert.are.equal("cancelled", t.status)
    r = c.resume(id, '{"value":1}')
    assert.are.equal(409, r.status, r.body)
    assert.truthy(r.json.error.message:find("cancelled", 1, true), r.body)
    r = c.post("/v1/tasks/" .. id .. "/cancel", "")
    assert.are.equal(409, r.status, r.body)
    assert.are.equal(1, #c.events(id, "task.cancelled"))
    local l = c.get("/v1/tasks?status=eq.waiting&limit=100")
    for _, x in ipairs(l.json.data) do assert.are_not.equal(id, x.id) end
    -- a retry starts a new attempt from the beginning, which pauses again
    r = c.post("/v1/tasks/" .. id .. "/retry", "")
    assert.are.equal(200, r.status, r.body)
    t = c.wait(id, "waiting")
    assert.are.equal(2, t.attempt)
    assert.are.equal("int_2", t.interrupt.id)
    stop_clean(s)
  end)

  it("has no ai.task outside a task", function()
    local r = T.run_workflow(wfdir .. "/plain.lua", "{}")
    assert.truthy(r.json, r.stdout .. (r.stderr or ""))
    assert.are.equal("none", r.json.task)
  end)
end)
