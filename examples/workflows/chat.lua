-- chat.lua — one model call through the mock provider, then a tool call round trip.
-- agentai run examples/workflows/chat.lua --input '{"question": "What is the weather in Paris?"}'
local ai = require("agentai")

-- A tool the model may call: a plain Lua function.
local function get_weather(args)
  return { city = args.city, forecast = "sunny", celsius = 21 }
end

return function(input)
  local question = (input and input.question) or "What is the weather in Paris?"
  local messages = {
    { role = "system", content = "You answer questions about the weather." },
    { role = "user", content = question },
  }
  local tools = {
    {
      type = "function",
      ["function"] = {
        name = "get_weather",
        description = "Current weather for a city",
        parameters = {
          type = "object",
          properties = { city = { type = "string" } },
          required = { "city" },
        },
      },
    },
  }
  -- The mock follows a script: first a tool call, then an answer (the reply is
  -- chosen by how many assistant turns the conversation already has).
  local script = {
    { tool_calls = { { id = "call_1", name = "get_weather", arguments = { city = "Paris" } } } },
    { content = "It is sunny in Paris, 21 °C." },
  }

  local calls = 0
  for _ = 1, 4 do
    local response = ai.llm.chat {
      provider = "mock",
      model = "mock-1",
      messages = messages,
      tools = tools,
      mock = { mode = "script", script = script },
    }
    calls = calls + 1
    local choice = response.choices[1]
    messages[#messages + 1] = choice.message
    if choice.finish_reason ~= "tool_calls" then
      return { answer = choice.message.content, model_calls = calls, usage = response.usage }
    end
    for _, call in ipairs(choice.message.tool_calls) do
      local args = ai.json.decode(call["function"].arguments)
      local result = get_weather(args)
      messages[#messages + 1] = { role = "tool", tool_call_id = call.id, content = ai.json.encode(result) }
    end
  end
  error("the model did not answer within 4 calls")
end
