-- tasks_spec.lua — agents and tasks over the real daemon: validation, durable submission,
-- idempotency, the engine's states, retries, cancel, listings, events and SSE.
local T = require("agentai_test")

local WORKFLOWS = {
  ["echo.lua"] = [[
local ai = require("agentai")
return function(input, agent)
  ai.task.emit("seen", {input = input})
  return {echo = input, agent = agent.id, attempt = ai.task.attempt, task = ai.task.id}
end]],
  ["chat.lua"] = [[
local ai = require("agentai")
return function(input)
  local r = ai.llm.chat{messages = {{role = "user", content = input.say}}}
  return {reply = r.choices[1].message.content}
end]],
  ["flaky.lua"] = [[
local ai = require("agentai")
return function(input)
  if ai.task.attempt < (input.succeed_on or 99) then
    ai.error{kind = "flaky", message = "not yet", retryable = true}
  end
  return {attempt = ai.task.attempt}
end]],
  ["streamer.lua"] = [[
local ai = require("agentai")
return function(input)
  ai.sleep(0.5) -- time for a subscriber to connect
  local r = ai.llm.chat{model = "mock-1", stream = true, cache = false,
    messages = {{role = "user", content = input.say}}, mock = {stream_delay_ms = 50}}
  return {reply = r.choices[1].message.content}
end]],
  ["broken.lua"] = [[
return function() error("boom") end]],
  ["slow.lua"] = [[
local ai = require("agentai")
return function(input)
  ai.sleep(input.seconds or 30)
  return {slept = true}
end]],
}

describe("agents and tasks", function()
  local server, wfdir
  local function url(path) return "http://127.0.0.1:" .. server.port .. path end
  local function post(path, body, headers)
    local h = { ["Content-Type"] = "application/json" }
    for k, v in pairs(headers or {}) do h[k] = v end
    return T.http("POST", url(path), body, h)
  end
  local function agent(fields)
    local r = post("/v1/agents", fields)
    assert.are.equal(201, r.status, r.body)
    return r.json
  end
  local function wait_task(id, want, seconds)
    local r
    for _ = 1, (seconds or 10) * 20 do
      r = T.http("GET", url("/v1/tasks/" .. id))
      if r.json and r.json.status == want then return r.json end
      os.execute("sleep 0.05")
    end
    error("task " .. id .. " did not become " .. want .. ": " .. (r and r.body or ""))
  end

  setup(function()
    wfdir = T.tmpdir()
    for name, src in pairs(WORKFLOWS) do T.workflow(wfdir, name, src) end
    local err
    server, err = T.serve(nil, { AGENTAI_WORKFLOW_PATH = wfdir })
    assert.truthy(server, err)
  end)
  teardown(function()
    if server then server:stop("KILL") end
    T.cleanup()
  end)

  describe("agents", function()
    it("creates, reads, changes, lists and deletes an agent", function()
      local a = agent('{"name":"support","workflow":"echo","system_prompt":"be brief",' ..
        '"retry":{"max_attempts":2},"tools":["kv_get"]}')
      assert.truthy(a.id:match("^agt_[0-9a-z]+$"), a.id)
      assert.are.equal("agent", a.object)
      assert.are.equal("mock", a.provider)
      assert.are.equal(2, a.retry.max_attempts)
      assert.are.equal(1000, a.retry.initial_backoff_ms)
      local g = T.http("GET", url("/v1/agents/" .. a.id))
      assert.are.equal(200, g.status)
      assert.are.equal("support", g.json.name)
      local p = T.http("PATCH", url("/v1/agents/" .. a.id), '{"name":"helpdesk","retry":{"multiplier":3}}',
        { ["Content-Type"] = "application/json" })
      assert.are.equal(200, p.status, p.body)
      assert.are.equal("helpdesk", p.json.name)
      assert.are.equal(2, p.json.retry.max_attempts)
      assert.are.equal(3, p.json.retry.multiplier)
      local l = T.http("GET", url("/v1/agents?name=eq.helpdesk"))
      assert.are.equal(200, l.status, l.body)
      assert.are.equal(1, #l.json.data)
      assert.are.equal(a.id, l.json.data[1].id)
      local d = T.http("DELETE", url("/v1/agents/" .. a.id))
      assert.are.equal(200, d.status, d.body)
      assert.are.equal(404, T.http("GET", url("/v1/agents/" .. a.id)).status)
    end)

    it("refuses bad agent definitions naming the field", function()
      local cases = {
        { '{"workflow":"echo","colour":"red"}', "colour" },
        { '{"workflow":"nope"}', "workflow" },
        { '{"workflow":"../etc/passwd"}', "workflow" },
        { '{"name":"x"}', "workflow" },
        { '{"workflow":"echo","provider":"openai-nope"}', "provider" },
        { '{"workflow":"echo","name":42}', "name" },
        { '{"workflow":"echo","retry":{"max_attempts":0}}', "retry.max_attempts" },
        { '{"workflow":"echo","retry":{"tries":2}}', "retry" },
        { '{"workflow":"echo","timeout_ms":-5}', "timeout_ms" },
        { '{"workflow":"echo","tools":["a b"]}', "tools" },
      }
      for _, c in ipairs(cases) do
        local r = post("/v1/agents", c[1])
        assert.are.equal(400, r.status, c[1] .. " -> " .. r.body)
        assert.are.equal(c[2], r.json.error.param, c[1] .. " -> " .. r.body)
        assert.truthy(r.json.error.request_id)
      end
    end)

    it("refuses malformed JSON with its offset, and other media types", function()
      local r = post("/v1/agents", '{"workflow": "echo",}')
      assert.are.equal(400, r.status)
      assert.are.equal("invalid_json", r.json.error.type)
      assert.truthy(r.json.error.message:find("offset 20", 1, true), r.body)
      r = T.http("POST", url("/v1/agents"), '{"workflow":"echo"}', { ["Content-Type"] = "text/plain" })
      assert.are.equal(415, r.status)
      r = post("/v1/agents", '{"workflow":"\xff\xfe"}')
      assert.are.equal(400, r.status)
      assert.truthy(r.json.error.message:find("UTF%-8"), r.body)
      r = post("/v1/agents", string.rep("[", 200) .. string.rep("]", 200))
      assert.are.equal(400, r.status)
    end)

    it("answers 405 with Allow and 404 for unknown ids", function()
      local r = T.http("PUT", url("/v1/agents"))
      assert.are.equal(405, r.status)
      assert.are.equal("GET, HEAD, POST", r.headers["allow"])
      assert.are.equal(404, T.http("GET", url("/v1/agents/agt_nope")).status)
      assert.are.equal(404, T.http("GET", url("/v1/tasks/tsk_nope")).status)
      assert.are.equal(404, T.http("GET", url("/v1/nothing")).status)
    end)
  end)

  describe("tasks", function()
    it("accepts a task with 202, runs it, and records its events", function()
      local a = agent('{"workflow":"echo"}')
      local r = post("/v1/agents/" .. a.id .. "/tasks", '{"input":{"n":1}}')
      assert.are.equal(202, r.status, r.body)
      assert.truthy(r.json.id:match("^tsk_"))
      assert.are.equal("queued", r.json.status)
      local t = wait_task(r.json.id, "succeeded")
      assert.are.same({ n = 1 }, t.result.echo)
      assert.are.equal(a.id, t.result.agent)
      assert.are.equal(r.json.id, t.result.task)
      assert.are.equal(1, t.attempt)
      assert.are.equal("succeeded", t.attempts[1].status)
      local ev = T.http("GET", url("/v1/tasks/" .. t.id .. "/events"))
      assert.are.equal(200, ev.status, ev.body)
      local types = {}
      for i, e in ipairs(ev.json.data) do
        assert.are.equal(i, e.seq)
        types[#types + 1] = e.type
      end
      assert.are.same({ "task.created", "task.started", "task.progress", "task.succeeded" }, types)
      assert.are.equal("seen", ev.json.data[3].data.kind)
    end)

    it("returns the same task for a repeated Idempotency-Key", function()
      local a = agent('{"workflow":"echo"}')
      local h = { ["Idempotency-Key"] = "order-77" }
      local r1 = post("/v1/agents/" .. a.id .. "/tasks", '{"input":1}', h)
      local r2 = post("/v1/agents/" .. a.id .. "/tasks", '{"input":1}', h)
      assert.are.equal(202, r1.status)
      assert.are.equal(202, r2.status, r2.body)
      assert.are.equal(r1.json.id, r2.json.id)
      local r3 = post("/v1/agents/" .. a.id .. "/tasks", '{"input":2}', h)
      assert.are.equal(409, r3.status, r3.body)
      local l = T.http("GET", url("/v1/agents/" .. a.id .. "/tasks"))
      assert.are.equal(1, #l.json.data)
    end)

    it("retries retryable failures and fails the rest at once", function()
      local a = agent('{"workflow":"flaky","retry":{"max_attempts":3,"initial_backoff_ms":10}}')
      local ok = post("/v1/agents/" .. a.id .. "/tasks", '{"input":{"succeed_on":3}}')
      local t = wait_task(ok.json.id, "succeeded")
      assert.are.equal(3, t.result.attempt)
      assert.are.equal(3, #t.attempts)
      assert.are.equal("flaky", t.attempts[1].error.kind)
      local bad = post("/v1/agents/" .. a.id .. "/tasks", '{"input":{}}')
      t = wait_task(bad.json.id, "failed")
      assert.are.equal(3, t.attempt)
      local b = agent('{"workflow":"broken","retry":{"max_attempts":5,"initial_backoff_ms":10}}')
      local once = post("/v1/agents/" .. b.id .. "/tasks", '{}')
      t = wait_task(once.json.id, "failed")
      assert.are.equal(1, t.attempt)
      assert.truthy(t.error.message:find("boom", 1, true), t.error.message)
      -- a manual retry is a new attempt of the same task
      local rr = post("/v1/tasks/" .. t.id .. "/retry", "")
      assert.are.equal(200, rr.status, rr.body)
      t = wait_task(t.id, "failed")
      assert.are.equal(2, t.attempt)
      assert.are.equal(409, post("/v1/tasks/" .. ok.json.id .. "/retry", "").status)
    end)

    it("cancels queued and running tasks, and refuses finished ones", function()
      local a = agent('{"workflow":"slow"}')
      local r = post("/v1/agents/" .. a.id .. "/tasks", '{"input":{"seconds":30}}')
      wait_task(r.json.id, "running")
      local c = post("/v1/tasks/" .. r.json.id .. "/cancel", "")
      assert.are.equal(202, c.status, c.body)
      local t = wait_task(r.json.id, "cancelled")
      assert.are.equal("cancelled", t.error.kind)
      local again = post("/v1/tasks/" .. r.json.id .. "/cancel", "")
      assert.are.equal(409, again.status)
      assert.truthy(again.json.error.message:find("cancelled", 1, true))
    end)

    it("lists tasks with filters, order, limit and a cursor", function()
      local a = agent('{"workflow":"echo"}')
      local ids = {}
      for i = 1, 5 do
        ids[i] = post("/v1/agents/" .. a.id .. "/tasks", '{"input":' .. i .. '}').json.id
      end
      for i = 1, 5 do wait_task(ids[i], "succeeded") end
      local p1 = T.http("GET", url("/v1/tasks?agent_id=eq." .. a.id .. "&status=eq.succeeded&limit=2"))
      assert.are.equal(200, p1.status, p1.body)
      assert.are.equal(2, #p1.json.data)
      assert.is_true(p1.json.has_more)
      assert.are.equal(ids[5], p1.json.data[1].id) -- newest first
      local p2 = T.http("GET", url("/v1/tasks?agent_id=eq." .. a.id .. "&status=eq.succeeded&limit=2&starting_after="
        .. p1.json.next_cursor))
      assert.are.equal(ids[3], p2.json.data[1].id)
      local asc = T.http("GET", url("/v1/agents/" .. a.id .. "/tasks?order=created_at.asc&limit=100"))
      assert.are.equal(5, #asc.json.data)
      assert.are.equal(ids[1], asc.json.data[1].id)
      assert.is_false(asc.json.has_more)
      local bad = T.http("GET", url("/v1/tasks?status=eq.sleeping"))
      assert.are.equal(400, bad.status)
      assert.are.equal("status", bad.json.error.param)
      bad = T.http("GET", url("/v1/tasks?colour=eq.red"))
      assert.are.equal(400, bad.status)
      bad = T.http("GET", url("/v1/tasks?limit=1000"))
      assert.are.equal(400, bad.status)
    end)

    it("streams a task's events as Server-Sent Events, resumable with Last-Event-ID", function()
      local a = agent('{"workflow":"echo"}')
      local r = post("/v1/agents/" .. a.id .. "/tasks", '{"input":"sse"}')
      wait_task(r.json.id, "succeeded")
      local out = T.sh("curl -sN --max-time 2 -H 'Accept: text/event-stream' -H 'Last-Event-ID: 2' "
        .. T.q(url("/v1/tasks/" .. r.json.id .. "/events")))
      local seqs = {}
      for id in out.stdout:gmatch("id: (%d+)\n") do seqs[#seqs + 1] = tonumber(id) end
      assert.are.same({ 3, 4 }, seqs)
      assert.truthy(out.stdout:find("event: task.succeeded", 1, true), out.stdout)
    end)

    it("sends a streamed model call's chunks live as task.delta, outside the durable sequence", function()
      local a = agent('{"workflow":"streamer"}')
      local r = post("/v1/agents/" .. a.id .. "/tasks", '{"input":{"say":"alpha beta gamma"}}')
      assert.are.equal(202, r.status, r.body)
      local out = T.tmpdir() .. "/sse.txt"
      os.execute("curl -sN --max-time 4 -H 'Accept: text/event-stream' "
        .. T.q(url("/v1/tasks/" .. r.json.id .. "/events")) .. " > " .. out .. " 2>/dev/null &")
      local done = wait_task(r.json.id, "succeeded")
      assert.are.equal("alpha beta gamma", done.result.reply)
      os.execute("sleep 0.5")
      local text = T.read_file(out) or ""
      local joined, deltas = "", 0
      for block in text:gmatch("(.-)\n\n") do
        if block:find("event: task.delta", 1, true) then
          deltas = deltas + 1
          assert.is_nil(block:find("id: ", 1, true), "a delta has no id: " .. block)
          local ev = T.decode(block:match("data: (.*)$"))
          assert.are.equal(0, ev.seq)
          local c = ev.data.choices[1]
          joined = joined .. (c and c.delta.content or "")
        end
      end
      assert.is_true(deltas >= 3, text)
      assert.are.equal("alpha beta gamma", joined)
      -- The stored history has no deltas and no gap.
      local ev = T.http("GET", url("/v1/tasks/" .. r.json.id .. "/events"))
      for i, e in ipairs(ev.json.data) do
        assert.are.equal(i, e.seq)
        assert.are_not.equal("task.delta", e.type)
      end
    end)

    it("refuses bad submissions and loses nothing", function()
      local a = agent('{"workflow":"echo"}')
      local r = post("/v1/agents/" .. a.id .. "/tasks", '{"inputs":1}')
      assert.are.equal(400, r.status)
      assert.are.equal("inputs", r.json.error.param)
      r = post("/v1/agents/agt_00000000000000000000000000/tasks", '{"input":1}')
      assert.are.equal(404, r.status)
      r = post("/v1/agents/" .. a.id .. "/tasks", '{"input":')
      assert.are.equal(400, r.status)
      local l = T.http("GET", url("/v1/agents/" .. a.id .. "/tasks"))
      assert.are.equal(0, #l.json.data)
    end)
  end)
end)
