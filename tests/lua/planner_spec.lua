-- planner_spec.lua — agentai.planner (plan_execute) through `agentai run` with the mock provider:
-- plans re-asked when invalid, concurrent ready steps, retries and re-planning, plan checks.
local T = require("agentai_test")

describe("agentai.planner", function()
  local dir
  before_each(function() dir = T.tmpdir() end)
  after_each(function() T.cleanup() end)

  local function run(source)
    local path = T.workflow(dir, "wf.lua", 'local ai = require("agentai")\nlocal planner = require("agentai.planner")\n' .. source)
    return T.run_workflow(path)
  end

  local PLAN = '{"steps":[{"id":"a","goal":"find A"},{"id":"b","goal":"find B"},'
    .. '{"id":"c","goal":"combine","depends_on":["a","b"]}]}'

  it("re-asks an invalid plan, runs independent steps concurrently, and synthesises", function()
    local r = run(string.format([[
return function()
  local t0 = ai.now()
  local out = planner.run{ goal = "learn A and B", model = "mock-1",
    planner_params = { mock = { mode = "script", script = {
      { content = "Sure! Here is my plan: first A, then B." },
      { content = %q } } } },
    executor_params = { mock = { latency_ms = 300 } },
    synth_params = { mock = { mode = "echo" } } }
  local status = {}
  for _, s in ipairs(out.plan.steps) do status[#status + 1] = s.id .. "=" .. s.status end
  return { answer = out.answer, status = status, elapsed = ai.now() - t0, result_c = out.plan.steps[3].result }
end]], PLAN))
    assert.are.equal(0, r.code, r.stderr)
    assert.are.same({ "a=succeeded", "b=succeeded", "c=succeeded" }, r.json.status)
    -- a and b in parallel (0.3 s), then c (0.3 s): well under the 0.9 s of a sequence
    assert.is_true(r.json.elapsed < 0.85, "took " .. r.json.elapsed)
    -- c saw the results of a and b (the mock echoes the step's message)
    assert.truthy(r.json.result_c:find("Result of step a: find A", 1, true), r.json.result_c)
    assert.truthy(r.json.answer:find("Step c (combine)", 1, true), r.json.answer)
  end)

  it("gives up with kind invalid_plan after the allowed attempts", function()
    local r = run([[
return function()
  local ok, e = pcall(planner.run, { goal = "x", model = "mock-1", plan_attempts = 2,
    planner_params = { mock = { mode = "script", script = {
      { content = "no plan" }, { content = '{"steps":[]}' } } } } })
  return { ok = ok, kind = e.kind, message = e.message }
end]])
    assert.are.equal(0, r.code, r.stderr)
    assert.is_false(r.json.ok)
    assert.are.equal("invalid_plan", r.json.kind)
    assert.truthy(r.json.message:find("2 attempts", 1, true), r.json.message)
  end)

  it("retries a failing step, re-plans with the failure in context, then fails with step_failed", function()
    local r = run(string.format([[
return function()
  local ok, e = pcall(planner.run, { goal = "x", model = "mock-1", step_retries = 1, replans = 1,
    planner_params = { mock = { mode = "script", script = {
      { content = %q },
      { content = '{"steps":[{"id":"d","goal":"other route"}]}' } } } },
    executor_params = { mock = { mode = "error", error = { kind = "auth", message = "no access" } } } })
  return { ok = ok, kind = e.kind, message = e.message }
end]], '{"steps":[{"id":"a","goal":"find A"}]}'))
    assert.are.equal(0, r.code, r.stderr)
    assert.is_false(r.json.ok)
    assert.are.equal("step_failed", r.json.kind)
    -- the re-planned step d failed too, after its retry, with the provider's reason
    assert.truthy(r.json.message:find("step 'd' failed after 2 attempts", 1, true), r.json.message)
    assert.truthy(r.json.message:find("no access", 1, true), r.json.message)
  end)

  it("checks plans: duplicate ids, unknown dependencies, cycles", function()
    local r = run([[
return function()
  local out = {}
  for _, plan in ipairs({
    { steps = { { id = "a", goal = "x" }, { id = "a", goal = "y" } } },
    { steps = { { id = "a", goal = "x", depends_on = { "zz" } } } },
    { steps = { { id = "a", goal = "x", depends_on = { "b" } }, { id = "b", goal = "y", depends_on = { "a" } } } },
    { steps = { { id = "a", goal = "x" }, { id = "b", goal = "y", depends_on = { "a" } } } },
  }) do
    local ok, err = planner.check_plan(plan)
    out[#out + 1] = ok and "ok" or err
  end
  return out
end]])
    assert.are.equal(0, r.code, r.stderr)
    assert.truthy(r.json[1]:find("used twice", 1, true), r.json[1])
    assert.truthy(r.json[2]:find("unknown step 'zz'", 1, true), r.json[2])
    assert.truthy(r.json[3]:find("cycle", 1, true), r.json[3])
    assert.are.equal("ok", r.json[4])
  end)
end)
