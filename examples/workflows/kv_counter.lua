-- kv_counter.lua — a durable counter in the key-value store: every run adds one.
-- agentai run examples/workflows/kv_counter.lua --input '{"name": "visits"}'
local ai = require("agentai")

return function(input)
  local key = "counter/" .. ((input and input.name) or "default")
  local current = ai.kv.get(key) or { value = 0 }
  current.value = current.value + 1
  current.updated_at = ai.now()
  ai.kv.put(key, current) -- returns once the write is durable
  local all = {}
  for _, item in ipairs(ai.kv.scan("counter/")) do
    all[item.key] = item.value.value
  end
  return { key = key, value = current.value, counters = all }
end
