-- valgrind_spec.lua — workflows under valgrind: memory errors inside liblua (which ASan does not instrument) fail here.
local T = require("agentai_test")

local function valgrind_run(args)
  local parts = { "valgrind", "-q", "--error-exitcode=99", "--leak-check=no", T.q(T.bin) }
  for _, a in ipairs(args) do parts[#parts + 1] = T.q(a) end
  return T.sh(table.concat(parts, " "))
end

if os.getenv("AGENTAI_SANITIZED") == "ON" then
  describe("workflows under valgrind", function()
    pending("skipped in the ASan+UBSan build: valgrind cannot run an ASan binary (the normal build runs it)")
  end)
  return
end

describe("workflows under valgrind", function()
  after_each(function() T.cleanup() end)

  it("runs every example without a memory error", function()
    for _, name in ipairs({ "hello", "chat", "parallel", "kv_counter" }) do
      local r = valgrind_run({ "run", T.source_dir .. "/examples/workflows/" .. name .. ".lua", "--data", T.tmpdir() })
      assert.are.equal(0, r.code, name .. ": " .. r.stderr)
    end
  end)

  it("spawns and waits on many fibers with many results", function()
    local dir = T.tmpdir()
    local wf = T.workflow(dir, "many.lua", [[
local ai = require("agentai")
return function()
  local hs = {}
  for i = 1, 200 do hs[i] = ai.spawn(function(n) ai.kv.put("n/" .. n, n) return n end, i) end
  local results = { ai.wait(table.unpack(hs)) }
  return { count = #results, last = results[200], stored = #ai.kv.scan("n/", { limit = 1000 }) }
end]])
    local r = valgrind_run({ "run", wf, "--data", dir .. "/data" })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal('{"count":200,"last":200,"stored":200}\n', r.stdout)
  end)

  it("fails over-budget workflows cleanly", function()
    local dir = T.tmpdir()
    local wf = T.workflow(dir, "mem.lua", "return function() local t = {} for i = 1, 1e9 do t[i] = string.rep('x', 4096) .. i end end")
    local parts = { "AGENTAI_LUA_MEMORY_MB=8", "valgrind", "-q", "--error-exitcode=99", T.q(T.bin), "run", T.q(wf), "--data", T.q(dir .. "/data") }
    local r = T.sh(table.concat(parts, " "))
    assert.are.equal(1, r.code, r.stderr)
    assert.truthy(r.stderr:find("memory budget exceeded (8 MiB)", 1, true), r.stderr)
  end)
end)
