-- repo_journal_spec.lua — ai.repo calls are journaled: a task that patched a repository and then
-- paused at ai.task.interrupt gets the recorded patch result on resume instead of patching again
-- (which would be rejected: the hunk no longer applies).
local T = require("agentai_test")

local DIFF = "--- a/f.txt\n+++ b/f.txt\n@@ -1,2 +1,2 @@\n one\n-two\n+TWO\n"

describe("ai.repo in a task", function()
  local server, root
  local function url(path) return "http://127.0.0.1:" .. server.port .. path end
  local function post(path, body)
    return T.http("POST", url(path), body, { ["Content-Type"] = "application/json" })
  end
  local function wait_task(id, want)
    local r
    for _ = 1, 200 do
      r = T.http("GET", url("/v1/tasks/" .. id))
      if r.json and (r.json.status == want or r.json.status == "failed") then break end
      os.execute("sleep 0.05")
    end
    assert.are.equal(want, r.json.status, r.body)
    return r.json
  end

  setup(function()
    local wf = T.tmpdir()
    root = T.tmpdir()
    T.write_file(root .. "/f.txt", "one\ntwo\n")
    T.workflow(wf, "patcher.lua", string.format([[
local ai = require("agentai")
return function(input)
  local r = ai.repo.patch(input.root, %q)
  local files = ai.repo.scan(input.root).files
  local answer = ai.task.interrupt({ patched = r.files[1].path, files = #files })
  return { patched = r.files[1].path, answer = answer, text = ai.repo.read(input.root, "f.txt") }
end]], DIFF))
    local err
    server, err = T.serve(nil, { AGENTAI_WORKFLOW_PATH = wf })
    assert.truthy(server, err)
  end)
  teardown(function()
    if server then server:stop() end
    T.cleanup()
  end)

  it("replays the recorded patch after a resume instead of applying it twice", function()
    local agent = post("/v1/agents", '{"workflow":"patcher"}')
    assert.are.equal(201, agent.status, agent.body)
    local t = post("/v1/agents/" .. agent.json.id .. "/tasks", '{"input":{"root":"' .. root .. '"}}')
    local waiting = wait_task(t.json.id, "waiting")
    assert.are.equal("f.txt", waiting.interrupt.payload.patched)
    assert.are.equal("one\nTWO\n", T.read_file(root .. "/f.txt"))
    post("/v1/tasks/" .. t.json.id .. "/resume", '{"value":"ok"}')
    local done = wait_task(t.json.id, "succeeded")
    assert.are.equal("f.txt", done.result.patched)
    assert.are.equal("ok", done.result.answer)
    assert.are.equal("one\nTWO\n", done.result.text)
  end)
end)
