-- hello.lua — HTTP endpoints written in Lua: a greeting, a JSON echo and a visit counter.
-- Put route files in a route folder of the server; they load once, when it starts.
--   curl 'http://127.0.0.1:8080/hello/Ada?greeting=Bonjour'
--   curl -X POST -H 'Content-Type: application/json' -d '{"a":1}' http://127.0.0.1:8080/hello/echo
--   curl -X POST http://127.0.0.1:8080/hello/Ada/visits
local ai = require("agentai")

-- {name} matches one path segment; req.query holds the decoded query parameters.
ai.route.get("/hello/{name}", function(req)
  local greeting = req.query.greeting or "Hello"
  return { json = { message = greeting .. ", " .. req.params.name .. "!" } }
end)

-- A JSON body arrives decoded in req.json (a malformed one is answered 400
-- before the handler runs).
ai.route.post("/hello/echo", function(req)
  if req.json == nil then
    return { status = 415, json = { error = "send a JSON body (Content-Type: application/json)" } }
  end
  return { json = req.json }
end)

-- Handlers may wait (ai.kv, ai.llm.chat, ai.sleep) without blocking the server.
-- Not atomic: two requests at the same moment may both read the same count.
ai.route.post("/hello/{name}/visits", function(req)
  local key = "visits/" .. req.params.name
  local visits = (ai.kv.get(key) or 0) + 1
  ai.kv.put(key, visits)
  return { status = 201, json = { name = req.params.name, visits = visits } }
end)
