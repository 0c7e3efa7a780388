-- sdk_spec.lua — an out-of-tree plugin builds against the installed SDK alone, loads and serves a workflow.
local T = require("agentai_test")

describe("the plugin SDK", function()
  after_each(function() T.cleanup() end)

  it("builds, checks and runs the out-of-tree example plugin", function()
    local prefix = T.tmpdir()
    local install = T.sh("cmake --install " .. T.q(T.build_dir) .. " --prefix " .. T.q(prefix))
    assert.are.equal(0, install.code, install.stderr)
    assert.truthy(io.open(prefix .. "/include/agentai/plugin.h"), "SDK headers installed")

    -- Build in a copy outside the source tree, with only the installed headers.
    local work = T.tmpdir()
    T.sh("cp " .. T.q(T.source_dir .. "/examples/plugin-hello/hello_provider.c") .. " "
      .. T.q(T.source_dir .. "/examples/plugin-hello/Makefile") .. " " .. T.q(work))
    local build = T.sh("make -C " .. T.q(work), { PKG_CONFIG_PATH = prefix .. "/lib/pkgconfig" })
    assert.are.equal(0, build.code, build.stdout .. build.stderr)
    -- the headers came from the installed prefix, not the source tree
    assert.truthy(build.stdout:find("-I" .. prefix, 1, true), build.stdout)
    assert.falsy(build.stdout:find(T.source_dir .. "/include", 1, true), build.stdout)

    local so = work .. "/hello-provider.so"
    local check = T.agentai({ "plugins", "check", so })
    assert.are.equal(0, check.code, check.stderr)
    assert.truthy(check.stdout:find("provider:hello", 1, true), check.stdout)

    T.write_file(work .. "/agentai.toml", table.concat({
      "[plugins]",
      'load = ["storage-lmdb", "provider-mock", "' .. so .. '"]',
      "[plugins.hello-provider]",
      'greeting = "Bonjour,"',
    }, "\n"))
    local wf = T.workflow(work, "wf.lua", [[
local ai = require("agentai")
return function()
  return ai.llm.chat{provider = "hello", messages = {{role = "user", content = "Ada"}}}.choices[1].message.content
end]])
    local r = T.agentai({ "run", wf, "--config", work .. "/agentai.toml", "--data", work .. "/data" })
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal('"Bonjour, Ada"\n', r.stdout)

    -- The plugin refuses a key it does not know, and so does the runtime's check.
    T.write_file(work .. "/bad.toml", table.concat({
      "[plugins]",
      'load = ["' .. so .. '"]',
      "[plugins.hello-provider]",
      "greting = 1",
    }, "\n"))
    local bad = T.agentai({ "config", "check", work .. "/bad.toml" })
    assert.are.equal(1, bad.code)
    assert.truthy(bad.stderr:find("unknown or mistyped key 'greting'", 1, true), bad.stderr)
  end)
end)
