-- parallel.lua — steps that run concurrently with ai.spawn, joined with ai.wait.
-- agentai run examples/workflows/parallel.lua --input '{"delays": [0.2, 0.1, 0.3]}'
local ai = require("agentai")

local function step(i, delay)
  ai.sleep(delay) -- yields: the other steps run meanwhile
  return { step = i, slept = delay }
end

return function(input)
  local delays = (input and input.delays) or { 0.2, 0.1, 0.3 }
  local started = ai.now()
  local handles = {}
  for i, delay in ipairs(delays) do
    handles[i] = ai.spawn(step, i, delay)
  end
  local results = { ai.wait(table.unpack(handles)) }
  local elapsed = ai.now() - started
  -- Concurrent: the whole takes about the longest delay, not the sum.
  return { results = results, elapsed = elapsed }
end
