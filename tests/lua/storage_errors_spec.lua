-- storage_errors_spec.lua — a full map and a damaged data folder give clear errors and lose nothing.
local T = require("agentai_test")

describe("storage errors seen from workflows", function()
  after_each(function() T.cleanup() end)

  it("reports a full map as storage_full and keeps what was stored", function()
    local dir = T.tmpdir()
    T.write_file(dir .. "/small.toml", "[plugins.storage-lmdb]\nmap_size_mb = 1\n")
    local wf = T.workflow(dir, "fill.lua", [[
local ai = require("agentai")
return function()
  local blob = string.rep("x", 64 * 1024)
  local stored, err = 0, nil
  for i = 1, 1000 do
    local ok, e = pcall(ai.kv.put, string.format("blob/%04d", i), blob)
    if not ok then err = e break end
    stored = i
  end
  -- the store still answers, and everything acknowledged is there
  local ok_small = pcall(ai.kv.put, "small", 1)
  return { stored = stored, kind = err and err.kind, message = err and err.message,
           listed = #ai.kv.scan("blob/", { limit = 10000 }), small_ok = ok_small }
end]])
    local r = T.agentai({ "run", wf, "--config", dir .. "/small.toml", "--data", dir .. "/data" })
    assert.are.equal(0, r.code, r.stderr)
    local res = T.decode(r.stdout)
    assert.are.equal("storage_full", res.kind)
    assert.truthy(res.message:find("raise map_size_mb", 1, true), res.message)
    assert.is_true(res.stored > 0)
    assert.are.equal(res.stored, res.listed)
    assert.is_true(res.small_ok)

    -- a new run on the same folder sees every acknowledged value
    local check = T.workflow(dir, "check.lua", [[
local ai = require("agentai")
return function() return #ai.kv.scan("blob/", { limit = 10000 }) end]])
    local again = T.agentai({ "run", check, "--config", dir .. "/small.toml", "--data", dir .. "/data" })
    assert.are.equal(0, again.code, again.stderr)
    assert.are.equal(tostring(res.stored) .. "\n", again.stdout)
  end)

  it("refuses a corrupted database file by name and leaves it untouched", function()
    local dir = T.tmpdir()
    os.execute("mkdir -p " .. T.q(dir .. "/data/lmdb"))
    local garbage = string.rep("this is not an LMDB file. ", 1000)
    T.write_file(dir .. "/data/lmdb/data.mdb", garbage)
    local wf = T.workflow(dir, "wf.lua", "return function() return 1 end")
    local r = T.agentai({ "run", wf, "--data", dir .. "/data" })
    assert.are.equal(1, r.code)
    assert.truthy(r.stderr:find(dir .. "/data/lmdb", 1, true), r.stderr)
    assert.truthy(r.stderr:find("not a valid", 1, true), r.stderr)
    assert.are.equal(garbage, T.read_file(dir .. "/data/lmdb/data.mdb"))
  end)

  it("reports an unwritable data folder", function()
    local dir = T.tmpdir()
    T.write_file(dir .. "/not-a-dir", "x")
    local wf = T.workflow(dir, "wf.lua", "return function() return 1 end")
    local r = T.agentai({ "run", wf, "--data", dir .. "/not-a-dir/data" })
    assert.are.equal(1, r.code)
    assert.truthy(r.stderr:find(dir .. "/not-a-dir", 1, true), r.stderr)
  end)
end)
