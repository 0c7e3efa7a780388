-- chat — the built-in conversational agent: the conversation's history (when the input names a
-- conversation), the agent's system prompt and tools, and the tool calling loop.
--
-- Agent fields used: model, provider, system_prompt, tools (names), params (request members,
-- plus max_steps, history_max_messages, history_max_tokens, approve_tools, repo_root).
-- Input: {message = "..."} or {messages = {...}}, optional conversation = "<id>".
-- Result: {answer, steps, usage, conversation}.
local ai = require("agentai")
local chat = require("agentai.chat")
local history = require("agentai.history")

return function(input, agent)
  input = input or {}
  agent = agent or {}
  local params = agent.params or {}
  local new = {}
  if type(input.message) == "string" then
    new[1] = { role = "user", content = input.message }
  elseif type(input.messages) == "table" then
    for i, m in ipairs(input.messages) do new[i] = m end
  else
    ai.error{ kind = "invalid", message = "input needs message (a string) or messages (a list)" }
  end
  local h = input.conversation and history.open(input.conversation, agent.id)
  local messages = {}
  if agent.system_prompt then messages[1] = { role = "system", content = agent.system_prompt } end
  if h then
    local past = h:window{ max_messages = params.history_max_messages or 50,
      max_tokens = params.history_max_tokens or 6000 }
    for _, m in ipairs(past) do messages[#messages + 1] = m end
  end
  local first_new = #messages + 1
  for _, m in ipairs(new) do messages[#messages + 1] = m end

  local request_params = {}
  for k, v in pairs(params) do
    if type(k) == "string" and not k:match("^history_") and k ~= "max_steps" and k ~= "approve_tools"
        and k ~= "repo_root" then
      request_params[k] = v
    end
  end
  local approve
  if type(params.approve_tools) == "table" then
    approve = {}
    for _, n in ipairs(params.approve_tools) do approve[n] = true end
  end
  local r = chat.run{ messages = messages, model = agent.model, provider = agent.provider,
    tools = agent.tools, max_steps = params.max_steps or input.max_steps, params = request_params,
    approve = approve, ctx = { agent_id = agent.id, repo_root = params.repo_root } }
  if h then
    local turn = {}
    for i = first_new, #r.messages do turn[#turn + 1] = r.messages[i] end
    h:append(turn)
  end
  return { answer = r.content, steps = r.steps, usage = r.usage, conversation = input.conversation }
end
