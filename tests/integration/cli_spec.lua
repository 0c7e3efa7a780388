-- cli_spec.lua — the command line: help, version, plugins list/check, config check.
local T = require("agentai_test")
local broken = T.build_dir .. "/tests/plugins/"

describe("agentai CLI", function()
  after_each(function() T.cleanup() end)

  it("prints help for every command", function()
    for _, args in ipairs({ { "--help" }, { "run", "--help" }, { "serve", "--help" },
      { "plugins", "--help" }, { "config", "--help" } }) do
      local r = T.agentai(args)
      assert.are.equal(0, r.code, table.concat(args, " "))
      assert.truthy(r.stdout:find("usage: agentai", 1, true), r.stdout)
    end
  end)

  it("refuses an unknown command or option with usage status 2", function()
    assert.are.equal(2, T.agentai({ "frobnicate" }).code)
    local r = T.agentai({ "run", "x.lua", "--bogus" })
    assert.are.equal(2, r.code)
    assert.truthy(r.stderr:find("unknown option '--bogus'", 1, true))
  end)

  it("prints versions", function()
    local r = T.agentai({ "version" })
    assert.are.equal(0, r.code)
    assert.truthy(r.stdout:match("^agentai %d+%.%d+%.%d+ %(plugin ABI 1%.1, Lua 5%.4"), r.stdout)
  end)

  it("lists the default plugins with version, ABI and registrations", function()
    local r = T.agentai({ "plugins", "list" })
    assert.are.equal(0, r.code, r.stderr)
    assert.truthy(r.stdout:match("provider%-mock%s+%S+%s+1%.1%s+provider:mock"), r.stdout)
    assert.truthy(r.stdout:match("storage%-lmdb%s+%S+%s+1%.1%s+storage:lmdb"), r.stdout)
  end)

  it("checks a good plugin file", function()
    local r = T.agentai({ "plugins", "check", broken .. "minimal.so" })
    assert.are.equal(0, r.code, r.stderr)
    assert.truthy(r.stdout:find("minimal", 1, true))
    assert.truthy(r.stdout:find("ok: ", 1, true))
  end)

  local cases = {
    { "no_entry.so", "no 'agentai_plugin_entry' symbol: not an agentai plugin" },
    { "bad_magic.so", "bad descriptor magic 0xdeadbeef (expected 0x49414741)" },
    { "abi_major.so", "plugin ABI 2.0 is incompatible with host ABI 1.1 (the major must be equal)" },
    { "abi_minor_newer.so", "plugin ABI 1.4 is newer than host ABI 1.1: upgrade agentai" },
    { "init_fails.so", "plugin 'init-fails' failed to initialize: cannot reach the license server" },
    { "not_a_plugin.so", "not a loadable shared object" },
    { "null_descriptor.so", "returned NULL instead of a descriptor" },
    { "missing.so", "cannot load plugin: No such file or directory" },
  }
  for _, case in ipairs(cases) do
    it("refuses " .. case[1] .. " with the exact reason", function()
      local r = T.agentai({ "plugins", "check", broken .. case[1] })
      assert.are.equal(1, r.code)
      assert.truthy(r.stderr:find(case[2], 1, true), r.stderr)
      assert.truthy(r.stderr:find(broken .. case[1], 1, true), "names the file: " .. r.stderr)
    end)
  end

  it("passes plugin sections to the plugin, which refuses unknown keys", function()
    local dir = T.tmpdir()
    T.write_file(dir .. "/c.toml", '[plugins.provider-mock]\nmood = "grumpy"\n')
    local r = T.agentai({ "config", "check", dir .. "/c.toml" })
    assert.are.equal(1, r.code)
    assert.truthy(r.stderr:find("mood", 1, true), r.stderr)
  end)

  it("accepts the shipped configuration files", function()
    for _, name in ipairs({ "development", "testing" }) do
      local r = T.agentai({ "config", "check", T.source_dir .. "/config/" .. name .. ".toml" })
      assert.are.equal(0, r.code, r.stderr)
      assert.truthy(r.stdout:find(": ok", 1, true))
    end
  end)

  it("refuses a section for a plugin that is not loaded", function()
    local dir = T.tmpdir()
    T.write_file(dir .. "/c.toml", '[plugins.provider-typo]\nx = 1\n')
    local r = T.agentai({ "config", "check", dir .. "/c.toml" })
    assert.are.equal(1, r.code)
    assert.truthy(r.stderr:find("section [plugins.provider-typo] names no loaded plugin", 1, true), r.stderr)
  end)
end)
