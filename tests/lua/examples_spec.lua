-- examples_spec.lua — every example workflow runs and gives the documented result.
local T = require("agentai_test")
local ex = T.source_dir .. "/examples/workflows/"

describe("examples", function()
  after_each(function() T.cleanup() end)

  it("hello.lua greets", function()
    local r = T.run_workflow(ex .. "hello.lua", '{"name":"Ada"}')
    assert.are.equal(0, r.code, r.stderr)
    assert.are.same({ greeting = "Hello, Ada!" }, r.json)
  end)

  it("chat.lua answers after one tool call", function()
    local r = T.run_workflow(ex .. "chat.lua")
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("It is sunny in Paris, 21 °C.", r.json.answer)
    assert.are.equal(2, r.json.model_calls)
  end)

  it("parallel.lua runs its steps concurrently", function()
    local r = T.run_workflow(ex .. "parallel.lua", '{"delays":[0.3,0.3,0.3]}')
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal(3, #r.json.results)
    assert.are.equal(2, r.json.results[2].step)
    assert.is_true(r.json.elapsed < 0.6, "took " .. r.json.elapsed)
  end)

  it("kv_counter.lua counts across runs", function()
    local data = T.tmpdir()
    for i = 1, 3 do
      local r = T.run_workflow(ex .. "kv_counter.lua", '{"name":"visits"}', { data = data })
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal(i, r.json.value)
    end
  end)

  describe("agents", function()
    local agents = T.source_dir .. "/examples/agents/"

    it("support_agent.lua remembers the order across two runs", function()
      local data = T.tmpdir()
      local r = T.run_workflow(agents .. "support_agent.lua",
        '{"conversation":"cust-1","message":"My order A-17 is late"}', { data = data })
      assert.are.equal(0, r.code, r.stderr)
      assert.truthy(r.json.answer:find("A-17", 1, true), r.json.answer)
      assert.are.equal(4, r.json.remembered) -- user, tool call, tool result, answer
      r = T.run_workflow(agents .. "support_agent.lua",
        '{"conversation":"cust-1","message":"Which order was it?"}', { data = data })
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("It was order A-17.", r.json.answer)
      assert.are.equal(8, r.json.remembered)
    end)

    it("research_agent.lua fetches its source over HTTP", function()
      local server, err = T.serve()
      assert.truthy(server, err)
      local url = "http://127.0.0.1:" .. server.port .. "/healthz"
      local r = T.run_workflow(agents .. "research_agent.lua",
        '{"question":"Is it up?","url":"' .. url .. '"}')
      server:stop()
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal(200, r.json.source_status)
      assert.is_true(r.json.source_bytes > 0)
      assert.are.equal(2, r.json.steps)
    end)

    it("code_fix_agent.lua patches the sample repository and its check passes", function()
      local root = T.tmpdir() .. "/repo"
      assert.is_true(os.execute("cp -r " .. T.q(agents .. "sample-repo") .. " " .. T.q(root)))
      local r = T.run_workflow(agents .. "code_fix_agent.lua", '{"root":"' .. root .. '"}')
      assert.are.equal(0, r.code, r.stderr)
      assert.is_false(r.json.check_before)
      assert.is_true(r.json.check_after, r.json.check_error)
      assert.are.equal(4, r.json.steps)
      assert.truthy(T.read_file(root .. "/src/mathx.lua"):find("return a + b", 1, true))
      -- the example's own copy is untouched
      assert.truthy(T.read_file(agents .. "sample-repo/src/mathx.lua"):find("return a - b", 1, true))
    end)

    it("planning_agent.lua plans, runs the steps and answers", function()
      local r = T.run_workflow(agents .. "planning_agent.lua", '{"goal":"Compare two cities"}')
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("Paris and Rome compared.", r.json.answer)
      assert.are.same({ { id = "paris", status = "succeeded" }, { id = "rome", status = "succeeded" },
        { id = "compare", status = "succeeded" } }, r.json.steps)
    end)
  end)
end)
