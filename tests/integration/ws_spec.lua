-- ws_spec.lua — GET /v1/ws on the real daemon, driven by agentai-ws-client: task, agent and
-- global subscriptions, resume without gaps or duplicates, command errors, a slow consumer.
local T = require("agentai_test")

local CLIENT = os.getenv("AGENTAI_WS_CLIENT") or (T.build_dir .. "/agentai-ws-client")

local WORKFLOWS = {
  -- a few progress events spread over time, so a subscriber sees history and live ones
  ["steps.lua"] = [[
local ai = require("agentai")
return function(input)
  for i = 1, (input.n or 3) do
    ai.task.emit("step", {i = i})
    if input.pause then ai.sleep(input.pause) end
  end
  return {steps = input.n or 3}
end]],
  ["echo.lua"] = [[
local ai = require("agentai")
return function(input)
  ai.task.emit("seen", {input = input})
  return {echo = input}
end]],
  -- waits for its kv key, so a spec controls when it goes on
  ["gate.lua"] = [[
local ai = require("agentai")
return function(input)
  ai.task.emit("before", {})
  while not ai.kv.get(input.key) do ai.sleep(0.05) end
  ai.task.emit("after", {})
  return {}
end]],
  ["open.lua"] = [[
local ai = require("agentai")
return function(input)
  ai.kv.put(input.key, true)
  return {}
end]],
  ["flood.lua"] = [[
local ai = require("agentai")
return function(input)
  local blob = string.rep("x", input.size or 4096)
  for i = 1, (input.n or 2000) do ai.task.emit("chunk", {i = i, blob = blob}) end
  return {n = input.n}
end]],
}

describe("GET /v1/ws", function()
  local server, wsurl
  local sessions = {}
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

  local function decode_lines(text)
    local frames = {}
    for line in text:gmatch("[^\n]+") do
      frames[#frames + 1] = T.decode(line) or error("not JSON: " .. line)
    end
    return frames
  end

  --- One client run: sends `sends` ({json} or {binary = text}) and returns
  --- {code, frames, stdout, stderr}.
  local function ws(sends, opts)
    opts = opts or {}
    local parts = { T.q(CLIENT), T.q(wsurl) }
    for _, s in ipairs(sends) do
      if type(s) == "table" then
        parts[#parts + 1] = "--send-binary " .. T.q(s.binary)
      else
        parts[#parts + 1] = "--send " .. T.q(s)
      end
    end
    if opts.expect then parts[#parts + 1] = "--expect " .. opts.expect end
    parts[#parts + 1] = "--timeout " .. (opts.timeout or 20)
    local r = T.sh(table.concat(parts, " "))
    r.frames = decode_lines(r.stdout)
    return r
  end

  --- A client kept open: commands go through its stdin, frames are read back
  --- from its output file as they arrive.
  local function session()
    local dir = T.tmpdir()
    local out, err = dir .. "/out", dir .. "/err"
    local p = assert(io.popen(T.q(CLIENT) .. " " .. T.q(wsurl) .. " --send - --timeout 120 >"
      .. out .. " 2>" .. err, "w"))
    local s = { out = out, err = err }
    sessions[#sessions + 1] = s
    function s:send(json)
      p:write(json, "\n")
      p:flush()
    end
    function s:frames() return decode_lines(T.read_file(out) or "") end
    function s:stderr() return T.read_file(err) or "" end
    --- Waits until pred(frames) is truthy; returns the frames.
    function s:wait(pred, what)
      local frames
      for _ = 1, 400 do
        frames = self:frames()
        if pred(frames) then return frames end
        os.execute("sleep 0.05")
      end
      error("timed out waiting for " .. what .. "; frames:\n" .. (T.read_file(out) or "")
        .. "\nstderr: " .. self:stderr())
    end
    --- Closes stdin: the client sends close 1000 and exits; returns its exit code.
    function s:close()
      if not p then return self.code end
      local _, _, code = p:close()
      p = nil
      self.code = code
      return code
    end
    return s
  end

  -- Helpers over decoded frames.
  local function events(frames, sub, task_id)
    local list = {}
    for _, f in ipairs(frames) do
      if f.type == "event" and (not sub or f.subscription == sub)
        and (not task_id or f.event.task_id == task_id) then
        list[#list + 1] = f.event
      end
    end
    return list
  end
  local function has_event(frames, sub, task_id, etype)
    for _, e in ipairs(events(frames, sub, task_id)) do
      if e.type == etype then return true end
    end
    return false
  end
  local function find(frames, ftype, ref)
    for _, f in ipairs(frames) do
      if f.type == ftype and (ref == nil or f.ref == ref) then return f end
    end
  end
  local function seqs(list)
    local t = {}
    for i, e in ipairs(list) do t[i] = e.seq end
    return t
  end
  local function types(list)
    local t = {}
    for i, e in ipairs(list) do t[i] = e.type end
    return t
  end

  setup(function()
    local wfdir = T.tmpdir()
    for name, src in pairs(WORKFLOWS) do T.workflow(wfdir, name, src) end
    local f = io.open(CLIENT, "rb")
    assert.truthy(f, "agentai-ws-client not found at " .. CLIENT .. " (build the tests)")
    f:close()
    local err
    server, err = T.serve(nil, { AGENTAI_WORKFLOW_PATH = wfdir })
    assert.truthy(server, err)
    wsurl = "ws://127.0.0.1:" .. server.port .. "/v1/ws"
  end)
  after_each(function()
    for _, s in ipairs(sessions) do s:close() end
    sessions = {}
  end)
  teardown(function()
    if server then server:stop("KILL") end
    T.cleanup()
  end)

  it("delivers a task's events in seq order with no gap up to task.succeeded", function()
    local a = agent("steps")
    local id = task(a, '{"n":4,"pause":0.1}')
    local s = session()
    s:send('{"op":"subscribe","task":"' .. id .. '","ref":"t1"}')
    local frames = s:wait(function(f) return has_event(f, nil, id, "task.succeeded") end,
      "task.succeeded")
    local sub = frames[1]
    assert.are.equal("subscribed", sub.type)
    assert.are.equal("task", sub.scope)
    assert.are.equal(id, sub.id)
    assert.are.equal(0, sub.since)
    assert.are.equal("t1", sub.ref)
    local evs = events(frames, sub.subscription)
    assert.are.same({ "task.created", "task.started", "task.progress", "task.progress",
      "task.progress", "task.progress", "task.succeeded" }, types(evs))
    for i, e in ipairs(evs) do
      assert.are.equal(i, e.seq)
      assert.are.equal(id, e.task_id)
      assert.are.equal(a, e.agent_id)
      assert.truthy(e.created_at:match("^%d%d%d%d%-%d%d%-%d%dT"), e.created_at)
      assert.are.equal("number", type(e.gseq))
      if i > 1 then assert.is_true(e.gseq > evs[i - 1].gseq) end
    end
    for i = 1, 4 do
      assert.are.equal("step", evs[2 + i].data.kind)
      assert.are.equal(i, evs[2 + i].data.data.i)
    end
    -- nothing follows the last event
    os.execute("sleep 0.3")
    assert.are.equal(#frames, #s:frames())
    assert.are.equal(0, s:close())
  end)

  it("resumes a finished task after since with exactly the later events", function()
    local a = agent("steps")
    local id = task(a, '{"n":3}')
    wait_task(id, "succeeded") -- 6 events: created, started, 3 progress, succeeded
    local r = ws({ '{"op":"subscribe","task":"' .. id .. '","since":2}' }, { expect = 5 })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("subscribed", r.frames[1].type)
    assert.are.equal(2, r.frames[1].since)
    local evs = events(r.frames)
    assert.are.same({ 3, 4, 5, 6 }, seqs(evs))
    assert.are.equal("task.succeeded", evs[4].type)
    -- and nothing more: wait a while after the last one
    local s = session()
    s:send('{"op":"subscribe","task":"' .. id .. '","since":2}')
    s:wait(function(f) return has_event(f, nil, id, "task.succeeded") end, "task.succeeded")
    os.execute("sleep 0.3")
    local frames = s:frames()
    assert.are.same({ 3, 4, 5, 6 }, seqs(events(frames)))
    -- since = the last seq: nothing at all; since past the end: nothing either
    s:send('{"op":"subscribe","task":"' .. id .. '","since":6,"ref":"at-end"}')
    s:send('{"op":"subscribe","task":"' .. id .. '","since":100,"ref":"past-end"}')
    s:send('{"op":"ping","ref":"p"}')
    frames = s:wait(function(f) return find(f, "pong", "p") end, "pong")
    local at_end = find(frames, "subscribed", "at-end")
    local past_end = find(frames, "subscribed", "past-end")
    assert.truthy(at_end and past_end, "subscriptions not acknowledged")
    os.execute("sleep 0.3")
    frames = s:frames()
    assert.are.equal(0, #events(frames, at_end.subscription))
    assert.are.equal(0, #events(frames, past_end.subscription))
  end)

  it("resumes a live task from since with no duplicate and no gap", function()
    local a = agent("gate")
    local key = "gate-" .. a
    local id = task(a, '{"key":"' .. key .. '"}')
    local s = session()
    s:send('{"op":"subscribe","task":"' .. id .. '"}')
    -- created, started, progress "before": then the workflow waits for its key
    s:wait(function(f) return #events(f) >= 3 end, "the first three events")
    assert.are.same({ 1, 2, 3 }, seqs(events(s:frames())))
    s:close()
    -- a second client resumes from the last seq it saw, then the task goes on
    local s2 = session()
    s2:send('{"op":"subscribe","task":"' .. id .. '","since":3}')
    s2:wait(function(f) return find(f, "subscribed") end, "subscribed")
    local opener = task(agent("open"), '{"key":"' .. key .. '"}')
    wait_task(opener, "succeeded")
    local frames = s2:wait(function(f) return has_event(f, nil, id, "task.succeeded") end,
      "task.succeeded")
    local evs = events(frames)
    assert.are.same({ 4, 5 }, seqs(evs))
    assert.are.equal("after", evs[1].data.kind)
    os.execute("sleep 0.3")
    assert.are.equal(2, #events(s2:frames()))
  end)

  it("agent and all scopes receive new tasks' events; agent scope only its own", function()
    local a, b = agent("echo"), agent("echo")
    local s = session()
    s:send('{"op":"subscribe","agent":"' .. a .. '","ref":"A"}')
    s:send('{"op":"subscribe","all":true,"ref":"ALL"}')
    local frames = s:wait(function(f)
      return find(f, "subscribed", "A") and find(f, "subscribed", "ALL")
    end, "both subscriptions")
    local subA, subAll = find(frames, "subscribed", "A"), find(frames, "subscribed", "ALL")
    assert.are.equal("agent", subA.scope)
    assert.are.equal(a, subA.id)
    assert.are.equal("all", subAll.scope)
    assert.is_nil(subAll.id)
    local ta, tb = task(a, '"a"'), task(b, '"b"')
    local ta2 = task(a, '"a2"')
    frames = s:wait(function(f)
      return has_event(f, subAll.subscription, tb, "task.succeeded")
        and has_event(f, subAll.subscription, ta2, "task.succeeded")
        and has_event(f, subA.subscription, ta2, "task.succeeded")
        and has_event(f, subA.subscription, ta, "task.succeeded")
    end, "all tasks' task.succeeded")
    os.execute("sleep 0.3")
    frames = s:frames()
    local evA = events(frames, subA.subscription)
    for i, e in ipairs(evA) do
      assert.are.equal(a, e.agent_id, "agent scope showed another agent's event")
      if i > 1 then assert.is_true(e.gseq > evA[i - 1].gseq, "gseq not increasing") end
    end
    assert.are.same({ "task.created", "task.started", "task.progress", "task.succeeded" },
      types(events(frames, subA.subscription, ta)))
    assert.are.same({ "task.created", "task.started", "task.progress", "task.succeeded" },
      types(events(frames, subA.subscription, ta2)))
    assert.are.equal(0, #events(frames, subA.subscription, tb))
    assert.are.equal(8, #evA)
    local evAll = events(frames, subAll.subscription)
    for i = 2, #evAll do assert.is_true(evAll[i].gseq > evAll[i - 1].gseq, "gseq not increasing") end
    for _, t in ipairs({ ta, tb, ta2 }) do
      assert.are.same({ "task.created", "task.started", "task.progress", "task.succeeded" },
        types(events(frames, subAll.subscription, t)))
    end

    -- resume the agent scope after the gseq of ta's last event: only ta2's
    local cut = events(frames, subA.subscription, ta)[4].gseq
    local r = ws({ '{"op":"subscribe","agent":"' .. a .. '","since":' .. cut .. "}" }, { expect = 5 })
    assert.are.equal(0, r.code, r.stderr)
    local later = events(r.frames)
    assert.are.equal(4, #later)
    for _, e in ipairs(later) do
      assert.are.equal(ta2, e.task_id)
      assert.is_true(e.gseq > cut)
    end
    -- the all scope from the same cut: tb's and ta2's events after it, none before
    local s2 = session()
    s2:send('{"op":"subscribe","all":true,"since":' .. cut .. "}")
    frames = s2:wait(function(f) return has_event(f, nil, ta2, "task.succeeded")
      and has_event(f, nil, tb, "task.succeeded") end, "resumed all scope")
    for _, e in ipairs(events(frames)) do
      assert.is_true(e.gseq > cut, "event at or before since")
      assert.are_not.equal(ta, e.task_id)
    end
  end)

  it("answers ping, and errors for bad commands while the connection stays open", function()
    local r = ws({
      '{"op":"ping","ref":1}',
      '{"op":"fly","ref":"u"}',
      '{"op": "ping",',
      { binary = '{"op":"ping"}' },
      '[1,2]',
      '{"op":"subscribe","task":"tsk_nope","ref":"t"}',
      '{"op":"subscribe","agent":"agt_01m887awsdd3fs7f4kfvt4agz0","ref":"a"}',
      '{"op":"subscribe","ref":"none"}',
      '{"op":"subscribe","all":true,"agent":"agt_x","ref":"two"}',
      '{"op":"subscribe","all":true,"since":-1,"ref":"neg"}',
      '{"op":"subscribe","all":true,"since":1.5,"ref":"frac"}',
      '{"op":"subscribe","all":true,"since":"7","ref":"str"}',
      '{"op":"unsubscribe","subscription":"s99","ref":"unsub"}',
      '{"ref":"noop"}',
      '{"op":"ping","deep":' .. string.rep("[", 5000) .. string.rep("]", 5000) .. "}",
      '{"op":"ping","ref":"last"}',
    }, { expect = 16 })
    assert.are.equal(0, r.code, r.stderr)
    local f = r.frames
    assert.are.equal(16, #f, r.stdout)
    assert.are.same({ type = "pong", ref = 1 }, f[1])
    local function err(i, etype, ref, msg)
      assert.are.equal("error", f[i].type, r.stdout)
      assert.are.equal(etype, f[i].error.type, r.stdout)
      assert.are.equal(ref, f[i].ref)
      assert.are.equal("string", type(f[i].error.message))
      if msg then assert.truthy(f[i].error.message:find(msg, 1, true), f[i].error.message) end
    end
    err(2, "invalid_command", "u", "unknown \"op\"")
    err(3, "invalid_json", nil, "offset")
    err(4, "invalid_command", nil, "binary")
    -- a JSON value that is not an object
    err(5, "invalid_request", nil, "the command must be a JSON object")
    err(6, "not_found", "t", "task")
    err(7, "not_found", "a", "agent")
    err(8, "invalid_command", "none", "exactly one")
    err(9, "invalid_command", "two", "exactly one")
    err(10, "invalid_command", "neg", "since")
    err(11, "invalid_command", "frac", "since")
    err(12, "invalid_command", "str", "since")
    err(13, "not_found", "unsub", "subscription")
    err(14, "invalid_command", "noop", "unknown \"op\"")
    err(15, "invalid_json", nil, nil) -- nested too deep to parse: refused, not a crash
    assert.are.same({ type = "pong", ref = "last" }, f[16])
    assert.truthy(r.stderr:find("close 1000", 1, true), r.stderr)
  end)

  it("refuses a well-formed task id that names no task, like the events endpoint", function()
    local r = ws({
      '{"op":"subscribe","task":"tsk_01m887awsdd3fs7f4kfvt4agz0","ref":"ghost"}',
      '{"op":"ping","ref":"after"}',
    }, { expect = 2 })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("error", r.frames[1].type, r.stdout)
    assert.are.equal("not_found", r.frames[1].error.type)
    assert.are.equal("ghost", r.frames[1].ref)
    assert.are.same({ type = "pong", ref = "after" }, r.frames[2])
  end)

  it("delivers task.progress events from ai.task.emit, and unsubscribe stops delivery", function()
    local a = agent("echo")
    local s = session()
    s:send('{"op":"subscribe","agent":"' .. a .. '","ref":"x"}')
    local sub = s:wait(function(f) return find(f, "subscribed", "x") end, "subscribed")[1]
    local t1 = task(a, '{"hello":"world"}')
    local frames = s:wait(function(f) return has_event(f, nil, t1, "task.succeeded") end,
      "task.succeeded")
    local progress
    for _, e in ipairs(events(frames, sub.subscription, t1)) do
      if e.type == "task.progress" then progress = e end
    end
    assert.truthy(progress, "no task.progress event")
    assert.are.equal("seen", progress.data.kind)
    assert.are.same({ input = { hello = "world" } }, progress.data.data)

    s:send('{"op":"unsubscribe","subscription":"' .. sub.subscription .. '","ref":"u"}')
    frames = s:wait(function(f) return find(f, "unsubscribed", "u") end, "unsubscribed")
    assert.are.equal(sub.subscription, find(frames, "unsubscribed", "u").subscription)
    local before = #events(frames)
    local t2 = task(a, '{"n":2}')
    wait_task(t2, "succeeded")
    s:send('{"op":"ping","ref":"after"}')
    s:wait(function(f) return find(f, "pong", "after") end, "pong")
    os.execute("sleep 0.3")
    frames = s:frames()
    assert.are.equal(before, #events(frames), "events arrived after unsubscribe")
    assert.are.equal(0, #events(frames, nil, t2))
    -- unsubscribing twice is an error; a new subscription gets a new name
    s:send('{"op":"unsubscribe","subscription":"' .. sub.subscription .. '","ref":"u2"}')
    s:send('{"op":"subscribe","task":"' .. t2 .. '","ref":"again"}')
    frames = s:wait(function(f) return has_event(f, nil, t2, "task.succeeded") end, "t2 replay")
    assert.are.equal("not_found", find(frames, "error", "u2").error.type)
    assert.are_not.equal(sub.subscription, find(frames, "subscribed", "again").subscription)
    assert.are.equal(4, #events(frames, nil, t2))
    assert.are.equal(0, s:close())
  end)

  it("closes a too-big command with 1009; the client reports refusals and timeouts", function()
    local r = ws({ '{"op":"ping","pad":"' .. string.rep("p", 70000) .. '"}', '{"op":"ping"}' },
      { expect = 1 })
    assert.are.equal(3, r.code, r.stderr) -- closed before the frame it waited for
    assert.are.equal(0, #r.frames)
    assert.truthy(r.stderr:find("close 1009 message too big", 1, true), r.stderr)
    -- a plain HTTP path does not upgrade
    local bad = T.sh(T.q(CLIENT) .. " " .. T.q("ws://127.0.0.1:" .. server.port .. "/healthz")
      .. " --expect 1 --timeout 5")
    assert.are.equal(1, bad.code, bad.stderr)
    assert.truthy(bad.stderr:find("upgrade refused", 1, true), bad.stderr)
    -- fewer frames than expected: timeout, exit 2, what did arrive is printed
    local slow = ws({ '{"op":"ping"}' }, { expect = 2, timeout = 1 })
    assert.are.equal(2, slow.code, slow.stderr)
    assert.are.equal("pong", slow.frames[1].type)
    assert.truthy(slow.stderr:find("timeout", 1, true), slow.stderr)
  end)

  it("closes a slow consumer with 1008 and stays healthy", function()
    local a = agent("flood")
    -- subscribe, then do not read while the task emits 2000 x 4 KB events
    local dir = T.tmpdir()
    local cmd = table.concat({ T.q(CLIENT), T.q(wsurl),
      "--send", T.q('{"op":"subscribe","agent":"' .. a .. '"}'),
      "--no-read-ms 3000 --rcvbuf 4096 --timeout 60",
      ">" .. dir .. "/out", "2>" .. dir .. "/err", "& echo $!" }, " ")
    local p = io.popen(cmd)
    local pid = tonumber(p:read("l"))
    p:close()
    os.execute("sleep 0.3")
    local id = task(a, '{"n":2000,"size":4096}')
    -- the client prints the server's close on stderr, then exits
    local err
    for _ = 1, 600 do
      err = T.read_file(dir .. "/err") or ""
      if err:find("close ", 1, true) or err:find("timeout", 1, true) then break end
      os.execute("sleep 0.1")
    end
    if not err:find("close ", 1, true) then os.execute("kill " .. pid .. " 2>/dev/null") end
    assert.truthy(err:find("close 1008 send buffer full", 1, true), err)
    -- fewer events arrived than were sent: the server did not buffer without bound
    local got = 0
    for _ in (T.read_file(dir .. "/out") or ""):gmatch("\n") do got = got + 1 end
    assert.is_true(got < 2000, "got " .. got .. " frames")
    -- the server and the task are fine, the connection is released, others are served
    assert.are.equal(200, T.http("GET", url("/healthz")).status)
    local released = false
    for _ = 1, 100 do
      if T.http("GET", url("/metrics")).body:find("\nagentai_websocket_connections 0\n", 1, true) then
        released = true
        break
      end
      os.execute("sleep 0.05")
    end
    assert.is_true(released, "agentai_websocket_connections did not return to 0")
    assert.are.equal(2000, wait_task(id, "succeeded").result.n)
    local r = ws({ '{"op":"ping"}' }, { expect = 1 })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("pong", r.frames[1].type)
    assert.is_true(server:alive())
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
