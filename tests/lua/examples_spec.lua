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
end)
