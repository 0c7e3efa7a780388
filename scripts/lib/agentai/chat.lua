-- agentai.chat — the tool calling loop: model -> tool calls -> tool results -> model, until the
-- model answers or the step limit is hit. Tool calls of one turn run concurrently; a tool's
-- failure goes back to the model as its result; every model call and tool call is a task event.
local ai = require("agentai")
local tools = require("agentai.tools")

local M = {}

local function emit(opts, kind, data)
  if opts.events ~= false and ai.task then ai.task.emit(kind, data) end
end

local function add_usage(total, u)
  if type(u) ~= "table" then return end
  for _, k in ipairs({ "prompt_tokens", "completion_tokens", "total_tokens" }) do
    total[k] = (total[k] or 0) + (tonumber(u[k]) or 0)
  end
end

-- Runs one tool call; returns the tool message and the trace entry.
local function run_tool(call, opts, allowed, step)
  local f = call["function"] or {}
  local t0 = ai.now()
  local ok, text
  if opts.approve and opts.approve[f.name] and ai.task and ai.task.interrupt then
    -- A reviewer decides before the tool runs; the answer is what resume() was given.
    local verdict = ai.task.interrupt{ type = "tool_approval", tool = f.name, arguments = f.arguments,
      call_id = call.id }
    if type(verdict) ~= "table" or verdict.approved ~= true then
      ok, text = false, "the reviewer did not approve this call" ..
        (type(verdict) == "table" and verdict.reason and (": " .. tostring(verdict.reason)) or "")
    end
  end
  if text == nil then ok, text = tools.call(f.name, f.arguments, opts.ctx, allowed) end
  local trace = { step = step, id = call.id, name = f.name, arguments = f.arguments, ok = ok,
    ms = math.floor((ai.now() - t0) * 1000 + 0.5) }
  if ok then trace.result = text else trace.error = text end
  emit(opts, "tool.call", trace)
  return { role = "tool", tool_call_id = call.id, content = ok and text or ("error: " .. text) }, trace
end

--- Runs the loop. opts:
--   messages   the conversation so far (system and user messages), required
--   model, provider, params (other request members: temperature, ...)
--   tools      names of the tools the model may call (none: a plain chat)
--   max_steps  model calls allowed (default 8); past it: error kind "step_limit"
--   ctx        passed to every tool handler (agent_id, repo_root, limits)
--   approve    set of tool names a reviewer must approve (needs a task: ai.task.interrupt)
--   events     false to skip the llm.call / tool.call task events
-- Returns {content =, message =, messages = <the whole exchange>, steps =, usage =, trace =}.
function M.run(opts)
  if type(opts) ~= "table" or type(opts.messages) ~= "table" then
    ai.error{ kind = "invalid", message = "chat.run needs {messages = {...}}" }
  end
  local messages = {}
  for i, m in ipairs(opts.messages) do messages[i] = m end
  local specs, allowed
  if opts.tools and #opts.tools > 0 then
    specs = tools.specs(opts.tools)
    allowed = {}
    for _, n in ipairs(opts.tools) do allowed[n] = true end
  end
  local max_steps = opts.max_steps or 8
  local usage, trace = {}, {}
  for step = 1, max_steps do
    local req = { model = opts.model, provider = opts.provider, messages = messages, tools = specs }
    for k, v in pairs(opts.params or {}) do
      if req[k] == nil then req[k] = v end
    end
    local t0 = ai.now()
    local resp = ai.llm.chat(req)
    local choice = resp.choices and resp.choices[1]
    if type(choice) ~= "table" or type(choice.message) ~= "table" then
      ai.error{ kind = "malformed_output", message = "the model's response has no choices[1].message" }
    end
    local msg = choice.message
    add_usage(usage, resp.usage)
    local entry = { step = step, model = resp.model, finish_reason = choice.finish_reason,
      usage = resp.usage, ms = math.floor((ai.now() - t0) * 1000 + 0.5),
      tool_calls = msg.tool_calls and #msg.tool_calls or 0 }
    emit(opts, "llm.call", entry)
    trace[#trace + 1] = entry
    local calls = msg.tool_calls
    messages[#messages + 1] = { role = "assistant", content = msg.content, tool_calls = calls }
    if type(calls) ~= "table" or #calls == 0 then
      return { content = msg.content, message = msg, messages = messages, steps = step,
        usage = usage, trace = trace }
    end
    -- Concurrent tool calls; results go back in the order the model asked for them.
    local handles = {}
    for i, call in ipairs(calls) do
      handles[i] = ai.spawn(run_tool, call, opts, allowed, step)
    end
    local results = { ai.wait(table.unpack(handles)) }
    for i = 1, #calls do
      messages[#messages + 1] = results[i]
    end
  end
  ai.error{ kind = "step_limit", message = "the model did not answer within " .. max_steps
    .. " steps (it kept calling tools)" }
end

return M
