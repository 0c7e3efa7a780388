-- examples/agents/code_fix_agent.lua — a code-fix agent: it scans a repository, reads the failing
-- code, asks the model for a patch, applies it atomically with repo_patch, and runs the check.
--
--   cp -r examples/agents/sample-repo /tmp/repo
--   agentai run examples/agents/code_fix_agent.lua --input '{"root":"/tmp/repo"}'
--
-- With the mock provider (the default model) the model's replies, the patch included, are
-- scripted below; pass "model" to let a real model find the fix.
local ai = require("agentai")
local chat = require("agentai.chat")

local PATCH = [[
--- a/src/mathx.lua
+++ b/src/mathx.lua
@@ -3,5 +3,5 @@
 local M = {}
 
 function M.add(a, b)
-  return a - b
+  return a + b
 end
]]

local SCRIPT = {
  { tool_calls = { { name = "repo_scan", arguments = {} } } },
  { tool_calls = { { name = "repo_read", arguments = { path = "src/mathx.lua" } } } },
  { tool_calls = { { name = "repo_patch", arguments = { diff = PATCH } } } },
  { content = "Fixed M.add: it subtracted instead of adding." },
}

-- Runs the repository's own check on the files as they are now (text chunks only).
local function run_check(root)
  local mathx = load(ai.repo.read(root, "src/mathx.lua"), "=src/mathx.lua", "t")()
  local check = load(ai.repo.read(root, "src/check.lua"), "=src/check.lua", "t")()
  return check(mathx)
end

return function(input)
  local root = input.root or ai.error{ kind = "invalid", message = "input.root: the repository to fix" }
  local model = input.model or "mock-1"
  local before_ok, before_err = run_check(root)
  local r = chat.run{ model = model, tools = { "repo_scan", "repo_read", "repo_patch" },
    ctx = { repo_root = root }, max_steps = 8,
    params = model:match("^mock") and { mock = { mode = "script", script = SCRIPT } } or nil,
    messages = {
      { role = "system", content = "You fix bugs. Read the code, then send one unified diff with repo_patch." },
      { role = "user", content = "The check fails: " .. tostring(before_err) } } }
  local after_ok, after_err = run_check(root)
  return { summary = r.content, steps = r.steps, check_before = before_ok, check_after = after_ok,
    check_error = after_err }
end
