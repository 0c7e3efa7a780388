-- bench/orchestration.lua — the agent layer's own cost per model call: a plan_execute run with an
-- N-step chained plan against the mock provider answering at once, beside the same number of
-- bare ai.llm.chat calls (the peer: what the calls cost without planning, tools or tracing).
local ai = require("agentai")
local planner = require("agentai.planner")

return function(input)
  input = input or {}
  local n, rounds = input.steps or 20, input.rounds or 5
  local steps = {}
  for i = 1, n do
    steps[i] = { id = "s" .. i, goal = "step " .. i, depends_on = i > 1 and { "s" .. (i - 1) } or nil }
  end
  local plan = ai.json.encode({ steps = steps })
  local calls = n + 2 -- the plan, one call per step, the synthesis
  local best_plan, best_bare = math.huge, math.huge
  for _ = 1, rounds do
    local t0 = ai.now()
    local out = planner.run{ goal = "benchmark", model = "mock-1",
      planner_params = { mock = { mode = "script", script = { { content = plan } } } },
      executor_params = { mock = { mode = "echo" } }, synth_params = { mock = { mode = "echo" } } }
    local t = ai.now() - t0
    assert(#out.plan.steps == n, "plan did not run every step")
    if t < best_plan then best_plan = t end
    t0 = ai.now()
    for i = 1, calls do
      ai.llm.chat{ model = "mock-1", messages = { { role = "user", content = "step " .. i } } }
    end
    t = ai.now() - t0
    if t < best_bare then best_bare = t end
  end
  return { steps = n, calls = calls, rounds = rounds,
    plan_execute_us_per_call = best_plan / calls * 1e6, bare_us_per_call = best_bare / calls * 1e6 }
end
