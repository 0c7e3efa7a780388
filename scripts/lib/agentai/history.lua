-- agentai.history — conversation history kept in the key-value store: appended atomically,
-- read back in order, windowed to a budget for the next model call, deleted on request.
--
-- Layout (also read by GET /v1/agents/{id}/conversations/{cid}): one key per append,
--   conv/<agent id>/<conversation id>/<turn id>  ->  {at = seconds, messages = {...}}
-- so one append is one durable write (atomic), and a prefix scan reads the conversation.
local ai = require("agentai")

local M = {}

local PREFIX = "conv/"
local PAGE = 1000

--- Rough token count of a message: what a budget needs, not a tokenizer.
-- About four characters per token plus a few for the role and framing.
function M.estimate_tokens(msg)
  local n = 4
  if type(msg.content) == "string" then
    n = n + math.ceil(#msg.content / 4)
  elseif type(msg.content) == "table" then
    n = n + math.ceil(#ai.json.encode(msg.content) / 4)
  end
  for _, call in ipairs(msg.tool_calls or {}) do
    local f = call["function"] or {}
    n = n + math.ceil((#(f.name or "") + #(f.arguments or "")) / 4) + 4
  end
  return n
end

local function check_id(what, id)
  if type(id) ~= "string" or #id < 1 or #id > 128 or id:find("[^%w%._:%-]") then
    ai.error{kind = "invalid", message = what .. " must be 1 to 128 characters of "
      .. "letters, digits, '.', '_', ':' or '-' (got " .. tostring(id) .. ")"}
  end
end

local History = {}
History.__index = History

--- Opens conversation `id` of an agent (default: the running task's agent, or "local").
function M.open(id, agent_id)
  check_id("a conversation id", id)
  agent_id = agent_id or (ai.task and ai.task.agent and ai.task.agent.id) or "local"
  check_id("an agent id", agent_id)
  return setmetatable({ id = id, agent_id = agent_id,
    prefix = PREFIX .. agent_id .. "/" .. id .. "/", seq = 0 }, History)
end

--- Appends one message or a list of messages as one durable write; returns the turn id.
function History:append(messages)
  if type(messages) ~= "table" then
    ai.error{kind = "invalid", message = "append takes a message or a list of messages"}
  end
  if messages.role then messages = { messages } end
  for i, m in ipairs(messages) do
    if type(m) ~= "table" or type(m.role) ~= "string" then
      ai.error{kind = "invalid", message = "message " .. i .. " has no string role"}
    end
  end
  if #messages == 0 then return nil end
  -- Time-ordered turn ids: microseconds since the epoch, then a counter for appends
  -- within the same microsecond from this handle.
  self.seq = self.seq + 1
  local now = ai.now()
  local turn = string.format("%016.0f-%04d", now * 1e6, self.seq % 10000)
  ai.kv.put(self.prefix .. turn, { at = now, messages = messages })
  return turn
end

--- Every message in order (a list; empty for a new conversation).
function History:messages()
  local out, after = {}, nil
  repeat
    local page = ai.kv.scan(self.prefix, { limit = PAGE, after = after })
    for _, item in ipairs(page) do
      for _, m in ipairs(item.value.messages or {}) do out[#out + 1] = m end
      after = item.key
    end
  until #page < PAGE
  return out
end

--- The turns as stored: {{id =, at =, messages =}, ...}.
function History:turns()
  local out, after = {}, nil
  repeat
    local page = ai.kv.scan(self.prefix, { limit = PAGE, after = after })
    for _, item in ipairs(page) do
      out[#out + 1] = { id = item.key:sub(#self.prefix + 1), at = item.value.at,
        messages = item.value.messages }
      after = item.key
    end
  until #page < PAGE
  return out
end

--- Messages for the next model call within a budget:
--   max_messages, max_tokens (estimated), and summarize = {model =, provider =} (optional).
-- System messages at the start are always kept. Older turns are dropped whole, oldest
-- first, so a tool call never loses its result. With `summarize`, the dropped part is
-- replaced by one system message holding a model-written summary of it (one model call).
function History:window(opts)
  opts = opts or {}
  local turns = self:turns()
  local system, rest = {}, {}
  for ti, t in ipairs(turns) do
    for _, m in ipairs(t.messages) do
      if m.role == "system" and #rest == 0 then
        system[#system + 1] = m
      else
        rest[#rest + 1] = { turn = ti, msg = m }
      end
    end
  end
  local budget_tokens = opts.max_tokens or math.huge
  local budget_messages = opts.max_messages or math.huge
  for _, m in ipairs(system) do
    budget_tokens = budget_tokens - M.estimate_tokens(m)
    budget_messages = budget_messages - 1
  end
  -- Walk back from the newest turn, keeping whole turns while they fit.
  local keep_from = #rest + 1
  local tokens, count = 0, 0
  local i = #rest
  while i >= 1 do
    local turn = rest[i].turn
    local j, t_tokens, t_count = i, 0, 0
    while j >= 1 and rest[j].turn == turn do
      t_tokens = t_tokens + M.estimate_tokens(rest[j].msg)
      t_count = t_count + 1
      j = j - 1
    end
    if tokens + t_tokens > budget_tokens or count + t_count > budget_messages then break end
    tokens, count, keep_from = tokens + t_tokens, count + t_count, j + 1
    i = j
  end
  local out = {}
  for _, m in ipairs(system) do out[#out + 1] = m end
  if keep_from > 1 and opts.summarize then
    local dropped = {}
    for k = 1, keep_from - 1 do
      local m = rest[k].msg
      if type(m.content) == "string" and m.content ~= "" then
        dropped[#dropped + 1] = m.role .. ": " .. m.content
      end
    end
    local reply = ai.llm.chat{ model = opts.summarize.model, provider = opts.summarize.provider,
      messages = {
        { role = "system", content = "Summarise this conversation in a few sentences. Keep names, "
          .. "numbers and decisions." },
        { role = "user", content = table.concat(dropped, "\n") } } }
    out[#out + 1] = { role = "system", content = "Summary of the earlier conversation: "
      .. (reply.choices[1].message.content or "") }
  end
  for k = keep_from, #rest do out[#out + 1] = rest[k].msg end
  return out, { dropped = keep_from - 1, kept = #rest - keep_from + 1, tokens = tokens }
end

--- Deletes every turn of the conversation.
function History:delete()
  local n = 0
  repeat
    local page = ai.kv.scan(self.prefix, { limit = PAGE })
    for _, item in ipairs(page) do
      ai.kv.delete(item.key)
      n = n + 1
    end
  until #page < PAGE
  return n
end

return M
