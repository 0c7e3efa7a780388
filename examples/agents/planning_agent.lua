-- examples/agents/planning_agent.lua — plan and execute: the model splits the goal into steps,
-- independent steps run at the same time, and the answer is put together from their results.
--
--   agentai run examples/agents/planning_agent.lua --input '{"goal":"Compare two cities"}'
--
-- With the mock provider (the default model) the plan is scripted and each step's "work" is the
-- mock echoing its instructions; pass "model" to use a real planner.
local planner = require("agentai.planner")

local PLAN = [[{"steps": [
  {"id": "paris", "goal": "Collect facts about Paris"},
  {"id": "rome", "goal": "Collect facts about Rome"},
  {"id": "compare", "goal": "Compare the two cities", "depends_on": ["paris", "rome"]}]}]]

return function(input)
  local model = input.model or "mock-1"
  local mock = model:match("^mock")
  local out = planner.run{ goal = input.goal or "Compare Paris and Rome", model = model,
    planner_params = mock and { mock = { mode = "script", script = { { content = PLAN } } } } or nil,
    executor_params = mock and { mock = { mode = "echo" } } or nil,
    synth_params = mock and { mock = { mode = "fixed", text = "Paris and Rome compared." } } or nil }
  local steps = {}
  for _, s in ipairs(out.plan.steps) do steps[#steps + 1] = { id = s.id, status = s.status } end
  return { answer = out.answer, steps = steps }
end
