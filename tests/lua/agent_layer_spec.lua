-- agent_layer_spec.lua — the Lua agent layer shipped in scripts/: agentai.history, agentai.tools,
-- agentai.chat (the tool calling loop) and the built-in chat workflow, through `agentai run` with
-- the mock provider's scripted replies.
local T = require("agentai_test")

describe("the agent layer", function()
  local dir
  before_each(function() dir = T.tmpdir() end)
  after_each(function() T.cleanup() end)

  local function run(source, input, opts)
    local path = T.workflow(dir, "wf.lua", 'local ai = require("agentai")\n' .. source)
    return T.run_workflow(path, input, opts)
  end

  describe("agentai.history", function()
    it("appends atomically, reads back in order and survives runs", function()
      local data = T.tmpdir()
      local r = run([[
local history = require("agentai.history")
return function()
  local h = history.open("support-42")
  h:append({ role = "user", content = "my order is late" })
  h:append({ { role = "assistant", content = "which order?" }, { role = "user", content = "A-17" } })
  return { n = #h:messages(), turns = #h:turns() }
end]], nil, { data = data })
      assert.are.equal(0, r.code, r.stderr)
      assert.are.same({ n = 3, turns = 2 }, r.json)
      r = run([[
local history = require("agentai.history")
return function()
  local out = {}
  for _, m in ipairs(history.open("support-42"):messages()) do out[#out + 1] = m.role .. ":" .. m.content end
  return out
end]], nil, { data = data })
      assert.are.equal(0, r.code, r.stderr)
      assert.are.same({ "user:my order is late", "assistant:which order?", "user:A-17" }, r.json)
    end)

    it("windows to a message or token budget, dropping the oldest whole turns, keeping the system prompt", function()
      local r = run([[
local history = require("agentai.history")
return function()
  local h = history.open("w")
  h:append({ role = "system", content = "be brief" })
  for i = 1, 6 do
    h:append({ { role = "user", content = "question " .. i }, { role = "assistant", content = "answer " .. i } })
  end
  local by_count = h:window{ max_messages = 5 }
  local by_tokens, info = h:window{ max_tokens = 30 }
  local all = h:window{}
  local function roles(list)
    local out = {}
    for _, m in ipairs(list) do out[#out + 1] = m.content end
    return out
  end
  return { by_count = roles(by_count), tokens_n = #by_tokens, dropped = info.dropped, all = #all }
end]])
      assert.are.equal(0, r.code, r.stderr)
      assert.are.same({ "be brief", "question 5", "answer 5", "question 6", "answer 6" }, r.json.by_count)
      assert.are.equal(13, r.json.all)
      assert.is_true(r.json.tokens_n < 13 and r.json.tokens_n >= 1, "window by tokens: " .. r.json.tokens_n)
      assert.are.equal(13 - r.json.tokens_n, r.json.dropped)
    end)

    it("summarises the dropped turns with a model call when asked", function()
      local r = run([[
local history = require("agentai.history")
return function()
  local h = history.open("s")
  for i = 1, 4 do h:append({ { role = "user", content = "fact " .. i } }) end
  local w = h:window{ max_messages = 1, summarize = { model = "mock-1" } }
  return { n = #w, first = w[1].content, last = w[2].content }
end]])
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal(2, r.json.n)
      assert.truthy(r.json.first:find("^Summary of the earlier conversation: "), r.json.first)
      assert.truthy(r.json.first:find("fact 1", 1, true), r.json.first) -- the mock echoes what it summarised
      assert.are.equal("fact 4", r.json.last)
    end)

    it("deletes a conversation, and refuses bad ids and messages", function()
      local r = run([[
local history = require("agentai.history")
return function()
  local h = history.open("gone")
  h:append({ role = "user", content = "x" })
  local deleted = h:delete()
  local ok1, e1 = pcall(history.open, "../etc")
  local ok2, e2 = pcall(function() return h:append({ { content = "no role" } }) end)
  return { deleted = deleted, left = #h:messages(), e1 = tostring(e1), e2 = tostring(e2), ok1 = ok1, ok2 = ok2 }
end]])
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal(1, r.json.deleted)
      assert.are.equal(0, r.json.left)
      assert.is_false(r.json.ok1)
      assert.truthy(r.json.e1:find("conversation id", 1, true), r.json.e1)
      assert.is_false(r.json.ok2)
      assert.truthy(r.json.e2:find("has no string role", 1, true), r.json.e2)
    end)
  end)

  describe("agentai.chat", function()
    -- A tool that records when it ran, to show concurrent calls overlap.
    local TOOLS = [[
local tools = require("agentai.tools")
local chat = require("agentai.chat")
tools.define{ name = "slow_upper", description = "upper-cases after a pause",
  parameters = { type = "object", required = { "text" }, properties = { text = { type = "string" } } },
  handler = function(args) ai.sleep(0.2); return args.text:upper() end }
tools.define{ name = "explode", description = "always fails",
  handler = function() error("the tool blew up") end }
]]

    it("calls tools, feeds results back, and returns the model's answer with a trace", function()
      local r = run(TOOLS .. [[
return function()
  local t0 = ai.now()
  local out = chat.run{ model = "mock-1", tools = { "slow_upper" },
    messages = { { role = "user", content = "shout" } },
    params = { mock = { mode = "script", script = {
      { tool_calls = { { name = "slow_upper", arguments = { text = "a" } },
                       { name = "slow_upper", arguments = { text = "b" } },
                       { name = "slow_upper", arguments = { text = "c" } } } },
      { content = "done" } } } } }
  local results = {}
  for _, m in ipairs(out.messages) do
    if m.role == "tool" then results[#results + 1] = m.content end
  end
  return { content = out.content, steps = out.steps, results = results, elapsed = ai.now() - t0,
           trace = #out.trace }
end]])
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("done", r.json.content)
      assert.are.equal(2, r.json.steps)
      assert.are.same({ "A", "B", "C" }, r.json.results)
      assert.is_true(r.json.elapsed < 0.5, "three 0.2 s tools took " .. r.json.elapsed .. " s: not concurrent")
      assert.are.equal(2, r.json.trace)
    end)

    it("turns unknown tools, bad JSON and tool errors into results the model reads", function()
      local r = run(TOOLS .. [[
return function()
  local out = chat.run{ model = "mock-1", tools = { "slow_upper", "explode" },
    messages = { { role = "user", content = "go" } },
    params = { mock = { mode = "script", script = {
      { tool_calls = { { name = "no_such_tool", arguments = {} },
                       { name = "slow_upper", arguments = "{not json" },
                       { name = "explode", arguments = {} },
                       { name = "kv_get", arguments = { key = "k" } },
                       { name = "slow_upper", arguments = { text = 5 } } } },
      { content = "recovered" } } } } }
  local results = {}
  for _, m in ipairs(out.messages) do
    if m.role == "tool" then results[#results + 1] = m.content end
  end
  return { content = out.content, results = results }
end]])
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("recovered", r.json.content)
      local res = r.json.results
      assert.truthy(res[1]:find("unknown tool 'no_such_tool'", 1, true), res[1])
      assert.truthy(res[1]:find("slow_upper", 1, true), res[1]) -- names what is available
      assert.truthy(res[2]:find("not valid JSON", 1, true), res[2])
      assert.truthy(res[3]:find("the tool blew up", 1, true), res[3])
      -- kv_get exists but this loop did not offer it
      assert.truthy(res[4]:find("unknown tool 'kv_get'", 1, true), res[4])
      -- arguments checked against the tool's JSON Schema before the call
      assert.truthy(res[5]:find("do not match the schema of 'slow_upper'", 1, true), res[5])
      assert.truthy(res[5]:find("/text", 1, true), res[5])
    end)

    it("stops an endless tool loop at the step limit with kind step_limit", function()
      local r = run(TOOLS .. [[
return function()
  local ok, e = pcall(chat.run, { model = "mock-1", tools = { "slow_upper" }, max_steps = 3,
    messages = { { role = "user", content = "loop" } },
    params = { mock = { mode = "script", script = {
      { tool_calls = { { name = "slow_upper", arguments = { text = "1" } } } },
      { tool_calls = { { name = "slow_upper", arguments = { text = "2" } } } },
      { tool_calls = { { name = "slow_upper", arguments = { text = "3" } } } },
      { tool_calls = { { name = "slow_upper", arguments = { text = "4" } } } } } } } })
  return { ok = ok, kind = e.kind, message = e.message }
end]])
      assert.are.equal(0, r.code, r.stderr)
      assert.is_false(r.json.ok)
      assert.are.equal("step_limit", r.json.kind)
      assert.truthy(r.json.message:find("3 steps", 1, true), r.json.message)
    end)

    it("refuses bad tool definitions with a message naming the tool", function()
      local r = run([[
local tools = require("agentai.tools")
return function()
  local out = {}
  for _, def in ipairs({
    { name = "bad name!", description = "x", handler = print },
    { name = "nodesc", handler = print },
    { name = "nohandler", description = "x" },
  }) do
    local ok, e = pcall(tools.define, def)
    out[#out + 1] = ok and "accepted" or e.message
  end
  local ok, e = pcall(tools.specs, { "nope" })
  out[#out + 1] = e.message
  return out
end]])
      assert.are.equal(0, r.code, r.stderr)
      assert.truthy(r.json[1]:find("tool name", 1, true), r.json[1])
      assert.truthy(r.json[2]:find("'nodesc' needs a description", 1, true), r.json[2])
      assert.truthy(r.json[3]:find("'nohandler' needs a handler", 1, true), r.json[3])
      assert.truthy(r.json[4]:find("unknown tool 'nope'", 1, true), r.json[4])
    end)
  end)
end)
