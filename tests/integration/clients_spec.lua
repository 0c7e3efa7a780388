-- clients_spec.lua — the client examples under examples/clients run against the real daemon.
local T = require("agentai_test")

describe("client examples", function()
  local server
  setup(function()
    local err
    server, err = T.serve(nil, { AGENTAI_WORKFLOW_PATH = T.source_dir .. "/examples/workflows" })
    assert.truthy(server, err)
  end)
  teardown(function()
    if server then server:stop("KILL") end
    T.cleanup()
  end)

  it("examples/clients/tasks.sh defines an agent, runs a task and reads its events", function()
    local r = T.sh(T.q(T.source_dir .. "/examples/clients/tasks.sh") .. " http://127.0.0.1:" .. server.port)
    assert.are.equal(0, r.code, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find('result: {"greeting":"Hello, Ada!"}', 1, true), r.stdout)
    assert.truthy(r.stdout:find("returned it again", 1, true), r.stdout)
    local types = {}
    for t in r.stdout:gmatch('"type":"([a-z.]+)"') do types[#types + 1] = t end
    assert.are.same({ "task.created", "task.started", "task.succeeded" }, types)
  end)
end)
