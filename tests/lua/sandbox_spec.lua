-- sandbox_spec.lua — the Lua sandbox and its budgets, through `agentai run` on the real binary.
local T = require("agentai_test")

describe("the Lua sandbox", function()
  local dir
  before_each(function() dir = T.tmpdir() end)
  after_each(function() T.cleanup() end)

  local function run(source, input, env)
    local path = T.workflow(dir, "wf.lua", source)
    return T.run_workflow(path, input, { env = env }), path
  end

  local function expect_failure(r, pattern)
    assert.are.equal(1, r.code)
    assert.are.equal("", r.stdout)
    assert.truthy(r.stderr:find(pattern), "stderr was: " .. r.stderr)
  end

  it("fails a Lua error with file:line and a traceback", function()
    local r, path = run("return function()\n  local t = nil\n  return t.x\nend\n")
    expect_failure(r, T.escape(path) .. ":3: attempt to index a nil value %(local 't'%)")
    assert.truthy(r.stderr:find("stack traceback:", 1, true))
  end)

  it("refuses io, debug and package with a clear message", function()
    for _, name in ipairs({ "io", "debug", "package" }) do
      local r = run("return function() return " .. name .. ".x end\n")
      expect_failure(r, "wf.lua:1: " .. name .. " is not available in the agentai sandbox")
    end
  end)

  it("keeps only os.time, os.clock, os.date, os.difftime", function()
    local r = run("return function() return { t = type(os.time()), c = type(os.clock()) } end")
    assert.are.equal(0, r.code, r.stderr)
    assert.are.same({ t = "number", c = "number" }, r.json)
    for _, fn in ipairs({ "execute", "exit", "remove", "rename", "getenv" }) do
      local bad = run("return function() return os." .. fn .. "('x') end")
      expect_failure(bad, "os%." .. fn .. " is not available in the agentai sandbox")
    end
  end)

  it("has no dofile, loadfile or string.dump", function()
    for _, name in ipairs({ "dofile", "loadfile" }) do
      local r = run("return function() return " .. name .. "('x') end")
      expect_failure(r, name .. " is not available in the agentai sandbox")
    end
    local r = run("return function() return string.dump == nil end")
    assert.are.equal(0, r.code, r.stderr)
    assert.is_true(r.json)
  end)

  it("refuses require of native modules like ffi", function()
    local r = run('return function() return require("ffi") end')
    expect_failure(r, "wf.lua:1: module 'ffi' not found")
  end)

  it("requires Lua modules from the workflow's folder", function()
    T.write_file(dir .. "/helper.lua", "return { twice = function(x) return 2 * x end }")
    local r = run('local h = require("helper")\nreturn function(n) return h.twice(n) end', "21")
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal(42, r.json)
  end)

  it("refuses load of a binary chunk", function()
    local r = run('return function() return load("\\27Lua\\84\\0") end')
    expect_failure(r, "wf.lua:1: load: binary chunks are not allowed in the agentai sandbox")
  end)

  it("still loads text chunks, in text mode only", function()
    local r = run('return function() local f = load("return 1 + 2") return f() end')
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal(3, r.json)
  end)

  it("stops an endless loop at the CPU budget", function()
    local r = run("return function()\n  local n = 0\n  while true do n = n + 1 end\nend\n", nil,
      { AGENTAI_LUA_CPU_LIMIT = "20000000" })
    expect_failure(r, "workflow failed %(cpu_limit%)")
    assert.truthy(r.stderr:find("wf.lua:3: cpu budget exceeded (20000000 instructions)", 1, true), r.stderr)
  end)

  it("stops unbounded allocation at the memory budget, and the process lives", function()
    local r = run("return function()\n  local t = {}\n  for i = 1, 1e9 do t[i] = string.rep('x', 4096) .. i end\nend\n",
      nil, { AGENTAI_LUA_MEMORY_MB = "16" })
    expect_failure(r, "workflow failed %(memory_limit%)")
    assert.truthy(r.stderr:find("memory budget exceeded (16 MiB)", 1, true), r.stderr)
  end)

  it("does not let pcall swallow a budget kill", function()
    local r = run([[
return function()
  local survived = 0
  for i = 1, 100 do
    local ok = pcall(function() local t = {} for j = 1, 1e9 do t[j] = string.rep("y", 8192) .. j end end)
    survived = survived + 1
  end
  return survived
end
]], nil, { AGENTAI_LUA_MEMORY_MB = "16" })
    expect_failure(r, "memory budget exceeded")
  end)

  it("refuses a workflow that does not return a function", function()
    local r = run("return 42\n")
    expect_failure(r, "wf.lua: a workflow file must return a function, it returned number")
  end)

  it("reports a syntax error with file and line", function()
    local r = run("return function()\n  local x = = 1\nend\n")
    expect_failure(r, "wf.lua:2: unexpected symbol near '='")
  end)

  it("reports a missing workflow file", function()
    local r = T.run_workflow(dir .. "/missing.lua")
    assert.are.equal(1, r.code)
    assert.truthy(r.stderr:find("cannot open " .. dir .. "/missing.lua", 1, true), r.stderr)
  end)

  it("reports malformed --input JSON", function()
    local r = run("return function(x) return x end", "{not json")
    expect_failure(r, "input is not valid JSON")
  end)

  it("reports a result that cannot be JSON", function()
    local r = run("return function() return { f = print } end")
    expect_failure(r, "the workflow's result cannot be encoded as JSON: cannot encode a function at")
  end)

  it("keeps the agentai module read-only", function()
    local r = run('local ai = require("agentai")\nreturn function() ai.sleep = nil end')
    expect_failure(r, "the agentai module is read%-only")
  end)

  it("time-slices a busy fiber so a sleeping one wakes on time", function()
    local r = run([[
local ai = require("agentai")
return function()
  local t0 = ai.now()
  local sleeper = ai.spawn(function() ai.sleep(0.05) return ai.now() - t0 end)
  local busy = ai.spawn(function()
    local n, deadline = 0, ai.now() + 0.5
    while ai.now() < deadline do n = n + 1 end
    return n
  end)
  local woke, n = ai.wait(sleeper, busy)
  return { woke = woke, spins = n }
end
]])
    assert.are.equal(0, r.code, r.stderr)
    -- Without slicing the sleeper could only run after the 0.5 s busy loop.
    assert.is_true(r.json.woke < 0.3, "sleeper woke after " .. tostring(r.json.woke))
    assert.is_true(r.json.spins > 0)
  end)
end)
