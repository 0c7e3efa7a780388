-- examples/agents/research_agent.lua — a research agent: the model fetches its source with the
-- http_fetch tool (the runtime's non-blocking HTTP client) and answers from it.
--
--   agentai run examples/agents/research_agent.lua \
--     --input '{"question":"Is the service up?","url":"http://127.0.0.1:8080/healthz"}'
--
-- With the mock provider (the default model) the model's replies are scripted; pass "model" to
-- run it against a real one.
local ai = require("agentai")
local chat = require("agentai.chat")

return function(input)
  local model = input.model or "mock-1"
  local params
  if model:match("^mock") then
    params = { mock = { mode = "script", script = {
      { tool_calls = { { name = "http_fetch", arguments = { url = input.url } } } },
      { content = "I read " .. input.url .. " and answered from it." } } } }
  end
  local r = chat.run{ model = model, tools = { "http_fetch" }, params = params, messages = {
    { role = "system", content = "Answer from the sources you fetch, and name them." },
    { role = "user", content = input.question .. "\nSource: " .. input.url } } }
  local fetched
  for _, m in ipairs(r.messages) do
    if m.role == "tool" then fetched = ai.json.decode(m.content) end
  end
  return { answer = r.content, steps = r.steps, source_status = fetched and fetched.status,
    source_bytes = fetched and #fetched.body }
end
