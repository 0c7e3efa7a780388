-- agent_workflows_spec.lua — the built-in chat workflow on the real daemon: tool calls traced as
-- task events, the conversation kept across tasks, and the conversation REST endpoints.
local T = require("agentai_test")

describe("the built-in chat workflow", function()
  local server
  local function url(path) return "http://127.0.0.1:" .. server.port .. path end
  local function post(path, body)
    return T.http("POST", url(path), body, { ["Content-Type"] = "application/json" })
  end
  local function wait_task(id, want)
    local r
    for _ = 1, 200 do
      r = T.http("GET", url("/v1/tasks/" .. id))
      if r.json and (r.json.status == want or r.json.status == "failed") then break end
      os.execute("sleep 0.05")
    end
    assert.are.equal(want, r.json.status, r.body)
    return r.json
  end

  setup(function()
    local err
    server, err = T.serve()
    assert.truthy(server, err)
  end)
  teardown(function()
    if server then server:stop() end
    T.cleanup()
  end)

  it("calls tools, records the trace as events, and keeps the conversation", function()
    local agent = post("/v1/agents", [[{"name":"memo","workflow":"chat","model":"mock-1",
      "system_prompt":"You remember things.","tools":["kv_put","kv_get"],
      "params":{"mock":{"mode":"script","script":[
        {"tool_calls":[{"name":"kv_put","arguments":{"key":"colour","value":"blue"}}]},
        {"content":"stored"},
        {"content":"second answer"}]}}}]])
    assert.are.equal(201, agent.status, agent.body)
    local id = agent.json.id
    local t1 = post("/v1/agents/" .. id .. "/tasks", '{"input":{"message":"remember blue","conversation":"c1"}}')
    assert.are.equal(202, t1.status, t1.body)
    local done = wait_task(t1.json.id, "succeeded")
    assert.are.equal("stored", done.result.answer)
    assert.are.equal(2, done.result.steps)

    local ev = T.http("GET", url("/v1/tasks/" .. t1.json.id .. "/events"))
    local kinds, tool = {}, nil
    for _, e in ipairs(ev.json.data) do
      if e.type == "task.progress" then
        kinds[#kinds + 1] = e.data.kind
        if e.data.kind == "tool.call" then tool = e.data.data end
      end
    end
    assert.are.same({ "llm.call", "tool.call", "llm.call" }, kinds)
    assert.are.equal("kv_put", tool.name)
    assert.is_true(tool.ok, tool.error)

    local conv = T.http("GET", url("/v1/agents/" .. id .. "/conversations/c1"))
    assert.are.equal(200, conv.status, conv.body)
    assert.are.equal("conversation", conv.json.object)
    local roles = {}
    for _, m in ipairs(conv.json.messages) do roles[#roles + 1] = m.role end
    assert.are.same({ "user", "assistant", "tool", "assistant" }, roles)
    assert.are.equal(1, #conv.json.turns)

    -- The second task sees the history: the mock's script index is the number of
    -- assistant messages in the request, so "second answer" proves they were sent.
    local t2 = post("/v1/agents/" .. id .. "/tasks", '{"input":{"message":"what colour?","conversation":"c1"}}')
    assert.are.equal("second answer", wait_task(t2.json.id, "succeeded").result.answer)
    conv = T.http("GET", url("/v1/agents/" .. id .. "/conversations/c1"))
    assert.are.equal(6, #conv.json.messages)
    assert.are.equal(2, #conv.json.turns)

    local del = T.http("DELETE", url("/v1/agents/" .. id .. "/conversations/c1"))
    assert.are.equal(204, del.status, del.body)
    assert.are.equal(404, T.http("GET", url("/v1/agents/" .. id .. "/conversations/c1")).status)
    assert.are.equal(404, T.http("DELETE", url("/v1/agents/" .. id .. "/conversations/c1")).status)
  end)

  it("waits for a reviewer before a tool that needs approval, and goes on after resume", function()
    local agent = post("/v1/agents", [[{"workflow":"chat","model":"mock-1","tools":["kv_put"],
      "params":{"approve_tools":["kv_put"],"mock":{"mode":"script","script":[
        {"tool_calls":[{"name":"kv_put","arguments":{"key":"k","value":1}}]},
        {"content":"saved"}]}}}]])
    assert.are.equal(201, agent.status, agent.body)
    local t = post("/v1/agents/" .. agent.json.id .. "/tasks", '{"input":{"message":"save it"}}')
    local waiting = wait_task(t.json.id, "waiting")
    assert.are.equal("tool_approval", waiting.interrupt.payload.type)
    assert.are.equal("kv_put", waiting.interrupt.payload.tool)
    local r = post("/v1/tasks/" .. t.json.id .. "/resume", '{"value":{"approved":true}}')
    assert.is_true(r.status == 200 or r.status == 202, r.body)
    local done = wait_task(t.json.id, "succeeded")
    assert.are.equal("saved", done.result.answer)
    -- a denial goes back to the model as the tool's result
    local t2 = post("/v1/agents/" .. agent.json.id .. "/tasks", '{"input":{"message":"save again"}}')
    wait_task(t2.json.id, "waiting")
    post("/v1/tasks/" .. t2.json.id .. "/resume", '{"value":{"approved":false,"reason":"not today"}}')
    wait_task(t2.json.id, "succeeded")
    local ev = T.http("GET", url("/v1/tasks/" .. t2.json.id .. "/events"))
    local denied
    for _, e in ipairs(ev.json.data) do
      if e.type == "task.progress" and e.data.kind == "tool.call" then denied = e.data.data end
    end
    assert.is_false(denied.ok)
    assert.truthy(denied.error:find("not today", 1, true), denied.error)
  end)

  it("runs plan_execute with a reviewer approving the plan first", function()
    local agent = post("/v1/agents", [[{"workflow":"plan_execute","model":"mock-1",
      "params":{"approve_plan":true,
        "planner_params":{"mock":{"mode":"script","script":[
          {"content":"{\"steps\":[{\"id\":\"a\",\"goal\":\"do a\"},{\"id\":\"b\",\"goal\":\"do b\",\"depends_on\":[\"a\"]}]}"}]}},
        "executor_params":{"mock":{"mode":"echo"}},
        "synth_params":{"mock":{"mode":"fixed","text":"all done"}}}}]])
    assert.are.equal(201, agent.status, agent.body)
    local t = post("/v1/agents/" .. agent.json.id .. "/tasks", '{"input":{"goal":"two steps"}}')
    local waiting = wait_task(t.json.id, "waiting")
    assert.are.equal("plan_approval", waiting.interrupt.payload.type)
    assert.are.equal(2, #waiting.interrupt.payload.plan.steps)
    post("/v1/tasks/" .. t.json.id .. "/resume", '{"value":{"approved":true}}')
    local done = wait_task(t.json.id, "succeeded")
    assert.are.equal("all done", done.result.answer)
    assert.are.equal("succeeded", done.result.plan.steps[2].status)
    local ev = T.http("GET", url("/v1/tasks/" .. t.json.id .. "/events"))
    local kinds = {}
    for _, e in ipairs(ev.json.data) do
      if e.type == "task.progress" then kinds[e.data.kind] = (kinds[e.data.kind] or 0) + 1 end
    end
    assert.are.equal(2, kinds["step.succeeded"])
    assert.is_true((kinds["plan"] or 0) >= 1)
    -- a rejected plan fails the task with kind plan_rejected
    local t2 = post("/v1/agents/" .. agent.json.id .. "/tasks", '{"input":{"goal":"again"}}')
    wait_task(t2.json.id, "waiting")
    post("/v1/tasks/" .. t2.json.id .. "/resume", '{"value":{"approved":false,"reason":"too risky"}}')
    local failed = wait_task(t2.json.id, "failed")
    assert.are.equal("plan_rejected", failed.error.kind)
  end)

  it("answers bad conversation requests clearly", function()
    local agent = post("/v1/agents", '{"workflow":"chat"}')
    local id = agent.json.id
    local r = T.http("GET", url("/v1/agents/" .. id .. "/conversations/bad%20id"))
    assert.are.equal(400, r.status, r.body)
    assert.are.equal("conversation", r.json.error.param)
    r = T.http("GET", url("/v1/agents/agt_00000000000000000000000000/conversations/c1"))
    assert.are.equal(404, r.status)
    r = T.http("POST", url("/v1/agents/" .. id .. "/conversations/c1"), "{}", { ["Content-Type"] = "application/json" })
    assert.are.equal(405, r.status)
    assert.are.equal("GET, HEAD, DELETE", r.headers["allow"])
  end)

  it("fails a task whose model loops on tools with kind step_limit", function()
    local agent = post("/v1/agents", [[{"workflow":"chat","model":"mock-1","tools":["kv_get"],
      "params":{"max_steps":2,"mock":{"mode":"script","script":[
        {"tool_calls":[{"name":"kv_get","arguments":{"key":"a"}}]},
        {"tool_calls":[{"name":"kv_get","arguments":{"key":"b"}}]},
        {"tool_calls":[{"name":"kv_get","arguments":{"key":"c"}}]}]}}}]])
    assert.are.equal(201, agent.status, agent.body)
    local t = post("/v1/agents/" .. agent.json.id .. "/tasks", '{"input":{"message":"loop"}}')
    local r = wait_task(t.json.id, "failed")
    assert.are.equal("step_limit", r.error.kind, T.http("GET", url("/v1/tasks/" .. t.json.id)).body)
  end)
end)
