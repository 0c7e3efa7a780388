-- examples/agents/support_agent.lua — a support agent that remembers: the conversation is kept
-- with agentai.history, and facts the customer gives are stored with the kv_put tool.
--
--   agentai run examples/agents/support_agent.lua --data ./data \
--     --input '{"conversation":"cust-1","message":"My order A-17 is late"}'
--   agentai run examples/agents/support_agent.lua --data ./data \
--     --input '{"conversation":"cust-1","message":"Which order was it?"}'
--
-- With the mock provider (the default model) the model's replies are scripted below; pass
-- "model" (e.g. "gpt-4o-mini" with provider-openai configured) to run it unscripted.
local chat = require("agentai.chat")
local history = require("agentai.history")

-- The mock's script is indexed by the number of assistant messages in the request, so one
-- script covers the whole conversation: two replies for the first message, two for the second.
local SCRIPT = {
  { tool_calls = { { name = "kv_put", arguments = { key = "order", value = "A-17" } } } },
  { content = "Sorry about that! I noted order A-17 and asked the warehouse." },
  { tool_calls = { { name = "kv_get", arguments = { key = "order" } } } },
  { content = "It was order A-17." },
}

return function(input)
  local model = input.model or "mock-1"
  local h = history.open(input.conversation or "default", "support")
  local messages = { { role = "system", content = "You are a support agent. Store facts the customer gives with kv_put; look them up with kv_get." } }
  for _, m in ipairs(h:window{ max_messages = 40 }) do messages[#messages + 1] = m end
  local first_new = #messages + 1
  messages[#messages + 1] = { role = "user", content = input.message }
  local r = chat.run{ model = model, messages = messages, tools = { "kv_put", "kv_get" },
    ctx = { agent_id = "support" },
    params = model:match("^mock") and { mock = { mode = "script", script = SCRIPT } } or nil }
  local turn = {}
  for i = first_new, #r.messages do turn[#turn + 1] = r.messages[i] end
  h:append(turn)
  return { answer = r.content, remembered = #h:messages() }
end
