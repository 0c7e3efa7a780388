-- plan_execute — the built-in planning agent: the model plans the goal as steps with
-- dependencies, the steps run (concurrently where they can) through the tool calling loop,
-- failures are retried and re-planned, and the answer is synthesised from the results.
--
-- Agent fields used: model, provider, tools, params (plan_attempts, step_retries, replans,
-- step_max_steps, approve_plan, approve_tools, repo_root, planner_params, executor_params,
-- synth_params). Input: {goal = "..."}. Result: {answer, plan = {steps}, replans}.
local ai = require("agentai")
local planner = require("agentai.planner")

return function(input, agent)
  input = input or {}
  agent = agent or {}
  local p = agent.params or {}
  local approve
  if type(p.approve_tools) == "table" then
    approve = {}
    for _, n in ipairs(p.approve_tools) do approve[n] = true end
  end
  local goal = type(input) == "string" and input or input.goal
  return planner.run{ goal = goal, model = agent.model, provider = agent.provider, tools = agent.tools,
    ctx = { agent_id = agent.id, repo_root = p.repo_root }, approve = approve,
    approve_plan = p.approve_plan, plan_attempts = p.plan_attempts, step_retries = p.step_retries,
    replans = p.replans, step_max_steps = p.step_max_steps, planner_params = p.planner_params,
    executor_params = p.executor_params, synth_params = p.synth_params }
end
