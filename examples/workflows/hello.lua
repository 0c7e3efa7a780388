-- hello.lua — the smallest workflow: greets whoever the input names.
-- agentai run examples/workflows/hello.lua --input '{"name": "Ada"}'
local ai = require("agentai")

return function(input)
  local name = (type(input) == "table" and input.name) or "world"
  ai.log.info("greeting", { name = name })
  return { greeting = "Hello, " .. name .. "!" }
end
