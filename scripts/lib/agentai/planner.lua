-- agentai.planner — plan and execute: the model decomposes a goal into steps with dependencies
-- (JSON validated against a schema, re-asked when invalid), ready steps run concurrently through
-- the tool calling loop, a failed step is retried and then the remaining work is re-planned with
-- the failure in context, and the answer is synthesised from the step results.
local ai = require("agentai")
local chat = require("agentai.chat")

local M = {}

M.PLAN_SCHEMA = {
  type = "object", required = { "steps" },
  properties = {
    steps = { type = "array", minItems = 1, maxItems = 50, items = {
      type = "object", required = { "id", "goal" },
      properties = {
        id = { type = "string", minLength = 1, maxLength = 64 },
        goal = { type = "string", minLength = 1 },
        depends_on = { type = "array", items = { type = "string" } },
        tools = { type = "array", items = { type = "string" } },
      } } },
  },
}

local function emit(kind, data)
  if ai.task then ai.task.emit(kind, data) end
end

local function merge(into, from)
  for k, v in pairs(from or {}) do into[k] = v end
  return into
end

-- The JSON object in a model's text: the whole text, or the first {...} block (models like
-- to wrap JSON in prose or code fences).
local function extract_json(text)
  if type(text) ~= "string" then return nil, "the reply has no text" end
  local ok, v = pcall(ai.json.decode, text)
  if ok then return v end
  local first, last = text:find("{", 1, true), nil
  for i = #text, 1, -1 do
    if text:sub(i, i) == "}" then last = i break end
  end
  if first and last and last > first then
    ok, v = pcall(ai.json.decode, text:sub(first, last))
    if ok then return v end
  end
  return nil, "the reply is not JSON: " .. tostring(v)
end

--- Checks a decoded plan: the schema, unique ids, known dependencies, no cycles.
-- `done` (optional) is a set of ids of steps already completed, which a re-plan may depend on.
-- Returns true, or false and one message naming what is wrong.
function M.check_plan(plan, done)
  if ai.schema then
    local ok, errors = ai.schema.validate(M.PLAN_SCHEMA, plan)
    if not ok then
      local parts = {}
      for i, e in ipairs(errors) do
        if i > 5 then break end
        parts[#parts + 1] = (e.path ~= "" and e.path or "/") .. ": " .. e.message
      end
      return false, "the plan does not match the schema: " .. table.concat(parts, "; ")
    end
  elseif type(plan) ~= "table" or type(plan.steps) ~= "table" or #plan.steps == 0 then
    return false, "the plan needs a non-empty steps array"
  end
  local ids = {}
  for i, s in ipairs(plan.steps) do
    if type(s) ~= "table" or type(s.id) ~= "string" or type(s.goal) ~= "string" then
      return false, "step " .. i .. " needs a string id and goal"
    end
    if ids[s.id] then return false, "step id '" .. s.id .. "' is used twice" end
    ids[s.id] = s
  end
  for _, s in ipairs(plan.steps) do
    for _, d in ipairs(s.depends_on or {}) do
      if not ids[d] and not (done and done[d]) then
        return false, "step '" .. s.id .. "' depends on unknown step '" .. d .. "'"
      end
    end
  end
  -- Cycle check: depth-first, marking steps in progress.
  local state = {}
  local function visit(id)
    if state[id] == 1 then return false end
    if state[id] == 2 then return true end
    state[id] = 1
    for _, d in ipairs(ids[id].depends_on or {}) do
      if ids[d] and not visit(d) then return false end
    end
    state[id] = 2
    return true
  end
  for id in pairs(ids) do
    if not visit(id) then return false, "the steps' dependencies form a cycle (through '" .. id .. "')" end
  end
  return true
end

local PLANNER_PROMPT = [[You plan work for other agents. Decompose the user's goal into steps.
Answer with JSON only: {"steps": [{"id": "s1", "goal": "...", "depends_on": [], "tools": []}]}.
Steps without dependencies run at the same time; "depends_on" lists the ids a step needs first.
Available tools: %s.]]

-- Asks the planner (a conversation kept in `conv` so re-asks and re-plans carry the context)
-- until the plan is valid or the attempts run out.
local function ask_plan(opts, conv, attempts, done)
  local last_err
  for attempt = 1, attempts do
    local resp = ai.llm.chat(merge({ model = opts.model, provider = opts.provider,
      messages = conv }, opts.planner_params))
    local text = resp.choices[1].message.content
    conv[#conv + 1] = { role = "assistant", content = text }
    local plan, err = extract_json(text)
    local ok
    if plan then ok, err = M.check_plan(plan, done) end
    if plan and ok then return plan end
    last_err = err
    emit("plan.invalid", { attempt = attempt, error = err })
    conv[#conv + 1] = { role = "user", content = "That plan is not valid: " .. err
      .. ". Answer again with the corrected JSON only." }
  end
  ai.error{ kind = "invalid_plan", message = "no valid plan after " .. attempts .. " attempts: " .. tostring(last_err) }
end

local function run_step(opts, goal, step, results)
  local context = {}
  for _, d in ipairs(step.depends_on or {}) do
    context[#context + 1] = "Result of step " .. d .. ": " .. tostring(results[d])
  end
  local messages = {
    { role = "system", content = "You carry out one step of a larger plan. Overall goal: " .. goal },
    { role = "user", content = step.goal .. (#context > 0 and ("\n\n" .. table.concat(context, "\n")) or "") },
  }
  local step_tools = opts.tools
  if step.tools and #step.tools > 0 and opts.tools then
    local allowed = {}
    for _, n in ipairs(opts.tools) do allowed[n] = true end
    step_tools = {}
    for _, n in ipairs(step.tools) do
      if allowed[n] then step_tools[#step_tools + 1] = n end
    end
  end
  return chat.run{ model = opts.model, provider = opts.provider, messages = messages, tools = step_tools,
    max_steps = opts.step_max_steps, params = opts.executor_params, ctx = opts.ctx, approve = opts.approve }
end

--- Runs a goal. opts: goal, model, provider, tools (names), ctx, approve (tool names),
-- approve_plan (ask a reviewer through ai.task.interrupt), plan_attempts (3), step_retries (1),
-- replans (1), step_max_steps (8), planner_params / executor_params / synth_params (request
-- members per phase). Returns {answer, plan = {steps with status, result, error}, replans}.
function M.run(opts)
  local goal = opts.goal
  if type(goal) ~= "string" or goal == "" then ai.error{ kind = "invalid", message = "plan_execute needs a goal" } end
  local tool_names = table.concat(opts.tools or {}, ", ")
  local conv = {
    { role = "system", content = string.format(PLANNER_PROMPT, tool_names ~= "" and tool_names or "none") },
    { role = "user", content = goal },
  }
  local plan = ask_plan(opts, conv, opts.plan_attempts or 3)
  emit("plan", { steps = plan.steps })
  if opts.approve_plan and ai.task and ai.task.interrupt then
    local verdict = ai.task.interrupt{ type = "plan_approval", plan = plan }
    if type(verdict) ~= "table" or verdict.approved ~= true then
      ai.error{ kind = "plan_rejected", message = "the reviewer rejected the plan"
        .. (type(verdict) == "table" and verdict.reason and (": " .. tostring(verdict.reason)) or "") }
    end
  end
  local steps, order = {}, {}
  local function adopt(list)
    for _, s in ipairs(list) do
      if not (steps[s.id] and steps[s.id].status == "succeeded") then
        steps[s.id] = { id = s.id, goal = s.goal, depends_on = s.depends_on or {}, tools = s.tools,
          status = "pending", attempts = 0 }
        local seen = false
        for _, id in ipairs(order) do seen = seen or id == s.id end
        if not seen then order[#order + 1] = s.id end
      end
    end
  end
  adopt(plan.steps)
  local results, replans = {}, 0
  local retries, max_replans = opts.step_retries or 1, opts.replans or 1
  while true do
    local ready, pending = {}, 0
    for _, id in ipairs(order) do
      local s = steps[id]
      if s.status == "pending" then
        pending = pending + 1
        local ok = true
        for _, d in ipairs(s.depends_on) do ok = ok and steps[d] and steps[d].status == "succeeded" end
        if ok then ready[#ready + 1] = s end
      end
    end
    if pending == 0 then break end
    if #ready == 0 then
      ai.error{ kind = "invalid_plan", message = "steps are pending but none can start (a dependency failed)" }
    end
    local handles = {}
    for i, s in ipairs(ready) do
      s.status = "running"
      emit("step.started", { id = s.id, goal = s.goal })
      handles[i] = ai.spawn(function()
        local last
        for attempt = 1, retries + 1 do
          s.attempts = attempt
          local ok, r = pcall(run_step, opts, goal, s, results)
          if ok then return { ok = true, answer = r.content } end
          last = type(r) == "table" and (r.message or tostring(r)) or tostring(r)
        end
        return { ok = false, error = last }
      end)
    end
    local outcomes = { ai.wait(table.unpack(handles)) }
    local failed
    for i, s in ipairs(ready) do
      local o = outcomes[i]
      if o.ok then
        s.status, s.result = "succeeded", o.answer
        results[s.id] = o.answer
        emit("step.succeeded", { id = s.id, attempts = s.attempts, result = o.answer })
      else
        s.status, s.error = "failed", o.error
        emit("step.failed", { id = s.id, attempts = s.attempts, error = o.error })
        failed = failed or s
      end
    end
    if failed then
      if replans >= max_replans then
        ai.error{ kind = "step_failed", message = "step '" .. failed.id .. "' failed after "
          .. failed.attempts .. " attempts: " .. tostring(failed.error) }
      end
      replans = replans + 1
      local done = {}
      for _, id in ipairs(order) do
        local s = steps[id]
        if s.status == "succeeded" then done[#done + 1] = "- " .. id .. " (done): " .. tostring(s.result) end
      end
      conv[#conv + 1] = { role = "user", content = "Step '" .. failed.id .. "' failed: " .. tostring(failed.error)
        .. "\nCompleted so far:\n" .. table.concat(done, "\n")
        .. "\nPlan the remaining work again (you may reuse ids of completed steps as dependencies). JSON only." }
      local done_ids = {}
      for _, id in ipairs(order) do
        if steps[id].status == "succeeded" then done_ids[id] = true end
      end
      local again = ask_plan(opts, conv, opts.plan_attempts or 3, done_ids)
      for _, id in ipairs(order) do
        if steps[id].status ~= "succeeded" then steps[id].status = "replaced" end
      end
      adopt(again.steps)
      emit("plan.revised", { replan = replans, steps = again.steps })
    end
  end
  local parts = {}
  for _, id in ipairs(order) do
    local s = steps[id]
    if s.status == "succeeded" then parts[#parts + 1] = "Step " .. id .. " (" .. s.goal .. "): " .. tostring(s.result) end
  end
  local synth = ai.llm.chat(merge({ model = opts.model, provider = opts.provider, messages = {
    { role = "system", content = "Write the final answer to the goal from the results of its steps." },
    { role = "user", content = "Goal: " .. goal .. "\n\n" .. table.concat(parts, "\n") } } }, opts.synth_params))
  local out = {}
  for _, id in ipairs(order) do out[#out + 1] = steps[id] end
  return { answer = synth.choices[1].message.content, plan = { steps = out }, replans = replans }
end

return M
