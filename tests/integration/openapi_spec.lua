-- openapi_spec.lua — docs/openapi.yaml against the live daemon: every path and method is called
-- with its documented examples and the answer checked against the documented statuses, media
-- types, headers and schemas; documented errors are provoked on every path.
--
-- AGENTAI_OPENAPI=FILE checks another copy of the document (to see that a wrong one fails).
-- A path item or operation marked `x-agentai-pending: true` is skipped, with the reason printed,
-- while the server answers it 404; once it answers, it is checked like the others.
-- Other markers: `x-agentai-media` on a request body example (the one success media it is
-- answered with, e.g. a chat completion with "stream": true); `x-agentai-data-schema` and
-- `x-agentai-data-end` on a text/event-stream media (the schema of each `data:` line, default
-- Event, and a last non-JSON line such as [DONE]); `x-agentai-success-untested: REASON` on an
-- operation the test daemon's providers cannot answer successfully (its examples must get a
-- documented answer, which may be an error).
local T = require("agentai_test")
local Y = require("yaml_subset")
local json = require("dkjson")
local C = require("openapi_check")
local W = require("ws_devtcp")

local DOC_FILE = os.getenv("AGENTAI_OPENAPI") or (T.source_dir .. "/docs/openapi.yaml")
local NULL = Y.null -- JSON null and YAML null are one value, so examples and answers compare

-- The schema a `data:` line of a text/event-stream answer must match, and a WebSocket message.
local SSE_EVENT_SCHEMA = "#/components/schemas/Event"
-- Client errors use the API's envelope, or OpenAI's on the OpenAI-compatible gateway, whose
-- `code` (with type invalid_request_error) carries what our `type` says.
local ERROR_SCHEMA, OPENAI_ERROR_SCHEMA = "#/components/schemas/Error", "#/components/schemas/OpenAIError"
local OPENAI_CODE = { invalid_json = "invalid_json", not_found = "model_not_found" }
local WS_MESSAGE_SCHEMA = "#/components/schemas/WsServerMessage"

local WORKFLOWS = {
  ["echo.lua"] = [[
local ai = require("agentai")
return function(input)
  ai.task.emit("seen", {input = input})
  return {echo = input}
end]],
  ["slow.lua"] = [[
local ai = require("agentai")
return function(input)
  ai.sleep(30)
  return {slept = true}
end]],
  ["broken.lua"] = [[
return function() error("boom") end]],
  ["flaky.lua"] = [[
local ai = require("agentai")
return function()
  ai.error{kind = "flaky", message = "not yet", retryable = true}
end]],
}

local resolve, deref, jtype, show, validate = C.resolve, C.deref, C.jtype, C.show, C.validate
local media_base, urlencode, sse_events = C.media_base, C.urlencode, C.sse_events
local documents, is_pending = C.documents, C.is_pending

describe("docs/openapi.yaml", function()
  local text = T.read_file(DOC_FILE)
  local doc, doc_err
  if not text then
    doc_err = "cannot read " .. DOC_FILE
  else
    doc, doc_err = Y.parse(text, DOC_FILE:match("[^/]*/[^/]*$"))
  end

  it("is read whole by the YAML subset reader", function()
    assert(doc, doc_err)
    assert(jtype(doc) == "object" and jtype(doc.paths) == "object",
      "the document has no paths mapping")
  end)

  it("is read by the subset reader as libyaml reads it", function()
    local ok, lyaml = pcall(require, "lyaml")
    if not ok then
      print("openapi_spec: lua-yaml (lyaml) is not installed: the subset reader is not " ..
        "cross-checked against libyaml")
      pending("lyaml missing")
    end
    assert(doc, doc_err)
    local ref = lyaml.load(text)
    local diffs = {}
    local function cmp(a, b, at)
      if #diffs > 10 then return end
      if a == NULL then
        if b ~= lyaml.null then diffs[#diffs + 1] = at .. ": null here, " .. tostring(b) .. " for libyaml" end
      elseif type(a) ~= type(b) then
        diffs[#diffs + 1] = string.format("%s: %s here, %s for libyaml", at, type(a), type(b))
      elseif type(a) ~= "table" then
        if a ~= b or math.type(a) ~= math.type(b) then
          diffs[#diffs + 1] = string.format("%s: %q here, %q for libyaml", at, tostring(a), tostring(b))
        end
      else
        for k, v in pairs(a) do cmp(v, b[k], at .. "/" .. tostring(k)) end
        for k in pairs(b) do if a[k] == nil then diffs[#diffs + 1] = at .. ": libyaml has key " .. tostring(k) end end
      end
    end
    cmp(doc, ref, "")
    assert(#diffs == 0, "the subset reader and libyaml disagree:\n" .. table.concat(diffs, "\n"))
  end)

  it("refuses YAML it cannot read, naming the line", function()
    local cases = {
      { "a: 1\nb: &x 2\n", ":2: .*anchor" },
      { "a: 1\nb: *x\n", ":2: .*alias" },
      { "a: !!str 1\n", ":1: .*tag" },
      { "a:\n  b: >\n    folded\n", ":2: folded" },
      { "a: {b: 1}\n", ":1: flow mappings" },
      { "a: [[1], 2]\n", ":1: nested flow" },
      { "a: one\n  two\n", ":2: unexpected indentation" },
      { "a: 1\na: 2\n", ":2: duplicate key 'a'" },
      { "a:\n\tb: 1\n", ":2: a tab" },
      { "---\na: 1\n", ":1: document markers" },
      { "200: ok\n", ":1: the key '200'" },
      { "a: 'open\n", ":1: a quoted scalar must end" },
      { "a: x: y\n", ":1: a plain scalar cannot hold" },
      { "? a\n: b\n", ":1: complex keys" },
    }
    for _, c in ipairs(cases) do
      local v, err = Y.parse(c[1], "t.yaml")
      assert(v == nil, "the reader accepted " .. string.format("%q", c[1]))
      assert(err:match("^t%.yaml" .. c[2]), string.format("%q -> %s (wanted %s)", c[1], err, c[2]))
    end
    local v = assert(Y.parse("a:\n- 1\n- x: 'y'' z'\n  w: |-\n    l1\n\n    l2\n  e: []\nb: {}\n", "t.yaml"))
    assert(v.a[1] == 1 and v.a[2].x == "y' z" and v.a[2].w == "l1\n\nl2", show(v))
    assert(jtype(v.a[2].e) == "array" and jtype(v.b) == "object" and next(v.b) == nil)
  end)

  if not doc or jtype(doc.paths) ~= "object" then return end

  -- Operations in document order, and the paths with their operations.
  local ops, paths = C.operations(doc)

  local server, work, wfdir
  local F = {}            -- fixtures
  local notes = {}        -- undocumented properties seen
  local function url(p) return "http://127.0.0.1:" .. server.port .. p end

  -- One request; headers is a list of {name, value}. Returns {status, headers, body, curl}.
  local function request(method, target, o)
    o = o or {}
    local args = { "curl", "-s", "-g", "-X", T.q(method), "-o", T.q(work .. "/body"),
      "-D", T.q(work .. "/headers"), "-w", "'%{http_code}'", "--max-time", tostring(o.max_time or 10) }
    if o.stream then args[#args + 1] = "-N" end
    for _, h in ipairs(o.headers or {}) do args[#args + 1] = "-H " .. T.q(h[1] .. ": " .. h[2]) end
    if o.body then
      T.write_file(work .. "/request", o.body)
      args[#args + 1] = "--data-binary @" .. T.q(work .. "/request")
    end
    args[#args + 1] = T.q(url(target))
    os.remove(work .. "/body")
    os.remove(work .. "/headers")
    local r = T.sh(table.concat(args, " "))
    local res = { status = tonumber(r.stdout), body = T.read_file(work .. "/body") or "", headers = {},
      curl = r.code, method = method, target = target }
    -- the last header block is the final answer (after any 100 Continue)
    local raw = (T.read_file(work .. "/headers") or ""):gsub("\r", "")
    local last = raw
    for block in (raw .. "\n\n"):gmatch("(.-)\n\n") do
      if block:match("^HTTP/") then last = block end
    end
    for line in last:gmatch("[^\n]+") do
      local k, v = line:match("^([^:]+):%s*(.-)%s*$")
      if k then
        k = k:lower()
        res.headers[k] = res.headers[k] and (res.headers[k] .. ", " .. v) or v
      end
    end
    return res
  end

  local function wait_task(id, pred, what)
    local last
    for _ = 1, 400 do
      last = request("GET", "/v1/tasks/" .. id)
      local t = json.decode(last.body, 1, NULL)
      if type(t) == "table" and pred(t) then return t end
      os.execute("sleep 0.05")
    end
    error("task " .. id .. " did not become " .. what .. ": " .. last.body)
  end

  local function create(target, body, want)
    local r = request("POST", target, { body = body, headers = { { "Content-Type", "application/json" } } })
    local v = json.decode(r.body, 1, NULL)
    assert(r.status == want and type(v) == "table" and v.id,
      string.format("fixture: POST %s %s -> %s %s", target, body, tostring(r.status), r.body))
    return v.id
  end
  local function new_agent(fields) return create("/v1/agents", fields, 201) end
  local function submit(agent, input)
    return create("/v1/agents/" .. agent .. "/tasks", '{"input":' .. input .. '}', 202)
  end
  local function status_is(s) return function(t) return t.status == s end end

  -- Path parameters come from fixtures, chosen by the parameter's component name; operations
  -- that use their resource up (delete, cancel, retry) get a fresh one each time.
  -- An agent of the built-in chat workflow, and conversations it keeps (made on first use).
  local conversations = 0
  local function chat_agent()
    F.chat_agent = F.chat_agent or new_agent('{"workflow":"chat","model":"mock-1"}')
    return F.chat_agent
  end
  local function conversation(cid)
    local id = submit(chat_agent(), '{"message":"hello","conversation":"' .. cid .. '"}')
    wait_task(id, status_is("succeeded"), "succeeded")
    return cid
  end
  local FIXTURES = {
    ModelId = function() return "mock-1" end,
    AgentId = function(op)
      if op.doc.operationId == "deleteAgent" then return new_agent('{"workflow":"echo"}') end
      if op.path:find("/conversations/", 1, true) then return chat_agent() end
      return F.agent
    end,
    ConversationId = function(op)
      if op.doc.operationId == "deleteConversation" then
        conversations = conversations + 1
        return conversation("fx-del-" .. conversations)
      end
      F.conversation = F.conversation or conversation("fx-conv")
      return F.conversation
    end,
    TaskId = function(op)
      if op.doc.operationId == "cancelTask" then
        local id = submit(F.slow_agent, "{}")
        wait_task(id, status_is("running"), "running")
        return id
      elseif op.doc.operationId == "retryTask" then
        local id = submit(F.broken_agent, "{}")
        wait_task(id, status_is("failed"), "failed")
        return id
      end
      return F.done_task
    end,
  }

  setup(function()
    wfdir = T.tmpdir()
    work = T.tmpdir()
    for name, src in pairs(WORKFLOWS) do T.workflow(wfdir, name, src) end
    local err
    server, err = T.serve(nil, { AGENTAI_WORKFLOW_PATH = wfdir })
    assert(server, err)
    F.agent = new_agent('{"name":"openapi","workflow":"echo"}')
    F.slow_agent = new_agent('{"workflow":"slow"}')
    F.broken_agent = new_agent('{"workflow":"broken","retry":{"max_attempts":1}}')
    F.flaky_agent = new_agent('{"workflow":"flaky","retry":{"max_attempts":3,' ..
      '"initial_backoff_ms":3600000,"max_backoff_ms":3600000}}')
    F.done_task = submit(F.agent, '{"n":1}')
    wait_task(F.done_task, status_is("succeeded"), "succeeded")
  end)

  teardown(function()
    if server then server:stop("KILL") end
    local list = {}
    for k in pairs(notes) do list[#list + 1] = k end
    table.sort(list)
    if #list > 0 then
      print("openapi_spec: NOTE: the server sent properties docs/openapi.yaml does not document:\n  "
        .. table.concat(list, "\n  "))
    end
    T.cleanup()
  end)

  -- openapi_check.lua's readers, bound to this document
  local function params_of(op) return C.params_of(doc, op) end
  local function body_examples(op) return C.body_examples(doc, op) end
  local function success_media(op) return C.success_media(doc, op) end

  --- Builds and sends a request for op: path parameters from FIXTURES, required headers and
  --- query parameters from their examples. o: accept, body ({text, media}), query (more
  --- {name, value}), headers (more {name, value}), params (values by "in:name" that replace a
  --- fixture or an example).
  local function call(op, o)
    o = o or {}
    local target = op.path
    local query, headers = {}, {}
    for _, e in ipairs(params_of(op)) do
      local p = e.p
      local key = p["in"] .. ":" .. p.name
      local given = o.params and o.params[key]
      if p["in"] == "path" then
        local v = given
        if v == nil then
          local fx = e.ref and FIXTURES[e.ref]
          assert(fx, string.format("%s: no fixture for the path parameter '%s' (component %s); add one " ..
            "to FIXTURES in openapi_spec.lua", op.label, p.name, tostring(e.ref)))
          v = fx(op)
        end
        target = target:gsub("{" .. p.name .. "}", (urlencode(v):gsub("%%", "%%%%")))
      elseif p.required and p["in"] == "header" then
        local v = given
        if v == nil then v = p.example end
        assert(v ~= nil, op.label .. ": the required header " .. p.name .. " has no example")
        headers[#headers + 1] = { p.name, tostring(v) }
      elseif p.required and p["in"] == "query" then
        local v = given
        if v == nil then v = p.example end
        assert(v ~= nil, op.label .. ": the required query parameter " .. p.name .. " has no example")
        query[#query + 1] = { p.name, v }
      end
    end
    for _, q in ipairs(o.query or {}) do query[#query + 1] = q end
    local parts = {}
    for _, q in ipairs(query) do
      local values = jtype(q[2]) == "array" and q[2] or { q[2] }
      for _, v in ipairs(values) do parts[#parts + 1] = urlencode(q[1]) .. "=" .. urlencode(v) end
    end
    if #parts > 0 then target = target .. "?" .. table.concat(parts, "&") end
    for _, h in ipairs(o.headers or {}) do headers[#headers + 1] = h end
    if o.accept and o.accept ~= "" then headers[#headers + 1] = { "Accept", o.accept } end
    local body
    if o.body then
      body = o.body.text
      headers[#headers + 1] = { "Content-Type", o.body.media }
    end
    local stream = o.accept == "text/event-stream" or op.doc.responses["101"] ~= nil
    return request(op.method, target, { headers = headers, body = body, stream = stream,
      max_time = stream and 1.5 or 10 })
  end

  --- Checks res against what op documents; returns a list of problems ({} when it conforms).
  local function conformance(op, res)
    local errs = {}
    local where = string.format("%s -> %s", op.label, tostring(res.status))
    if not res.status or res.status == 0 then
      return { string.format("%s %s: no answer (curl exit %s)", res.method, res.target, tostring(res.curl)) }
    end
    local raw = op.doc.responses[tostring(res.status)]
    if raw == nil then
      return { string.format("%s %s answered %d, which %s does not document (documented: %s); body: %s",
        res.method, res.target, res.status, op.label, table.concat(Y.keys(op.doc.responses), ", "),
        res.body:sub(1, 300)) }
    end
    local r, why = deref(doc, raw)
    if not r then return { where .. ": " .. why } end
    if not res.headers["x-request-id"] then errs[#errs + 1] = where .. ": no X-Request-Id header" end
    for _, name in ipairs(Y.keys(r.headers or {})) do
      local h = assert(deref(doc, r.headers[name]))
      local v = res.headers[name:lower()]
      if v == nil then
        if h.required then errs[#errs + 1] = where .. ": the documented header " .. name .. " is missing" end
      elseif h.schema then
        validate(doc, h.schema, v, where .. " header " .. name, errs)
      end
    end
    if not r.content then
      if res.status ~= 101 and res.body ~= "" then
        errs[#errs + 1] = where .. ": a body where none is documented: " .. res.body:sub(1, 100)
      end
      return errs
    end
    local base = media_base(res.headers["content-type"])
    local media
    for _, mt in ipairs(Y.keys(r.content)) do
      if media_base(mt) == base then media = r.content[mt] end
    end
    if not media then
      errs[#errs + 1] = string.format("%s: Content-Type %s is not documented (documented: %s)", where,
        tostring(res.headers["content-type"]), table.concat(Y.keys(r.content), ", "))
      return errs
    end
    if not media.schema then return errs end
    if base == "application/json" or base:match("%+json$") then
      local v, _, perr = json.decode(res.body, 1, NULL)
      if v == nil then
        errs[#errs + 1] = where .. ": the body is not JSON (" .. tostring(perr) .. "): " .. res.body:sub(1, 200)
      else
        validate(doc, media.schema, v, where .. " body", errs, notes)
      end
    elseif base == "text/event-stream" then
      validate(doc, media.schema, res.body, where .. " body", errs)
      local events = sse_events(res.body)
      -- every fixture the stream is read for has events, so none is a failure, not a pass
      if #events == 0 then
        errs[#errs + 1] = where .. ": the event stream carried no event: " .. res.body:sub(1, 200)
      end
      local data_schema = media["x-agentai-data-schema"] or { ["$ref"] = SSE_EVENT_SCHEMA }
      local data_end = media["x-agentai-data-end"]
      for i, ev in ipairs(events) do
        local text = table.concat(ev.data, "\n")
        local v = json.decode(text, 1, NULL)
        local at = string.format("%s event %d", where, i)
        if data_end and text == data_end then
          if i ~= #events then errs[#errs + 1] = at .. ": " .. data_end .. " before the last event" end
        elseif v == nil then errs[#errs + 1] = at .. ": data is not JSON"
        else
          validate(doc, data_schema, v, at, errs, notes)
          if data_schema["$ref"] == SSE_EVENT_SCHEMA then
            if ev.id ~= tostring(v.seq) then errs[#errs + 1] = at .. ": id " .. tostring(ev.id) .. " is not the seq" end
            if ev.event ~= v.type then errs[#errs + 1] = at .. ": event " .. tostring(ev.event) .. " is not the type" end
          end
        end
      end
    else
      validate(doc, media.schema, res.body, where .. " body", errs)
    end
    return errs
  end

  local function assert_conforms(op, res, extra)
    local errs = conformance(op, res)
    for _, e in ipairs(extra or {}) do errs[#errs + 1] = e end
    assert(#errs == 0, table.concat(errs, "\n"))
  end

  local said = {}
  local function say(line)
    if not said[line] then print("openapi_spec: " .. line) end
    said[line] = true
  end

  -- Asks a path marked pending whether it answers yet; calls pending() while it answers 404.
  local function skip_if_pending(op)
    if not is_pending(op) then return end
    local media = success_media(op)[1]
    local examples = body_examples(op)
    local res = call(op, { accept = media, body = examples[1] })
    if res.status == 404 then
      local why = op.label .. " is marked x-agentai-pending in docs/openapi.yaml and the server " ..
        "answers it 404: not checked until it is wired"
      say("SKIP " .. why)
      pending(why)
    end
    say(string.format("NOTE: %s is marked x-agentai-pending but answers %s: checked; remove the marker",
      op.label, tostring(res.status)))
  end

  it("is OpenAPI 3.1 with what the checks need in every operation", function()
    local errs = {}
    if not tostring(doc.openapi):match("^3%.1%.%d+$") then
      errs[#errs + 1] = "openapi is not 3.1.x: " .. tostring(doc.openapi)
    end
    for _, k in ipairs({ "Agent", "Task", "Event", "AgentList", "TaskList", "EventList", "Error", "OpenAIError" }) do
      if not resolve(doc, "#/components/schemas/" .. k) then errs[#errs + 1] = "components/schemas has no " .. k end
    end
    -- every $ref anywhere resolves
    C.unresolved_refs(doc, doc, "#", errs)
    local ids = {}
    for _, op in ipairs(ops) do
      local at = string.format("%s (line %s)", op.label, tostring(op.line))
      local id = op.doc.operationId
      if type(id) ~= "string" then errs[#errs + 1] = at .. ": no operationId"
      elseif ids[id] then errs[#errs + 1] = at .. ": operationId " .. id .. " is also " .. ids[id]
      else ids[id] = op.label end
      for _, code in ipairs(Y.keys(op.doc.responses or {})) do
        if not code:match("^[1-5]%d%d$") then
          errs[#errs + 1] = at .. ": response '" .. code .. "': only explicit status codes can be checked " ..
            "(default and 2XX would let any status pass)"
        else
          local r, why = deref(doc, op.doc.responses[code])
          if not r then errs[#errs + 1] = at .. " " .. code .. ": " .. why
          else
            if not (r.headers and r.headers["X-Request-Id"]) then
              errs[#errs + 1] = at .. " " .. code .. ": does not document the X-Request-Id header"
            end
            -- client errors share one envelope; a 5xx may say more (readiness says which check failed)
            local json_media = r.content and r.content["application/json"]
            if tonumber(code) >= 500 and not (json_media and json_media.schema) then
              errs[#errs + 1] = at .. " " .. code .. ": a server error answer must be application/json"
            elseif tonumber(code) >= 400 and tonumber(code) < 500 and not (json_media and json_media.schema
                  and (json_media.schema["$ref"] == ERROR_SCHEMA or json_media.schema["$ref"] == OPENAI_ERROR_SCHEMA)) then
              errs[#errs + 1] = at .. " " .. code ..
                  ": a client error answer must be application/json with the Error (or OpenAIError) schema"
            end
          end
        end
      end
      if not op.doc.responses then errs[#errs + 1] = at .. ": no responses" end
      for _, e in ipairs(params_of(op)) do
        local p = e.p
        if p["in"] == "path" and not p.required then
          errs[#errs + 1] = at .. ": path parameter " .. p.name .. " must be required"
        end
        if p["in"] == "path" and not op.path:find("{" .. p.name .. "}", 1, true) then
          errs[#errs + 1] = at .. ": parameter " .. p.name .. " is not in the path"
        end
      end
      for name in op.path:gmatch("{([^}]+)}") do
        local found = false
        for _, e in ipairs(params_of(op)) do if e.p["in"] == "path" and e.p.name == name then found = true end end
        if not found then errs[#errs + 1] = at .. ": {" .. name .. "} has no parameter" end
      end
    end
    assert(#errs == 0, table.concat(errs, "\n"))
  end)

  it("has examples that match their own schemas", function()
    local errs, count = {}, 0
    local function check(schema, value, at)
      count = count + 1
      validate(doc, schema, value, at, errs)
    end
    local function schema_examples(node, at)
      if type(node) ~= "table" then return end
      if node.example ~= nil and (node.type or node["$ref"] or node.enum or node.const) then
        local copy = {}
        for k, v in pairs(node) do if k ~= "example" then copy[k] = v end end
        check(copy, node.example, at .. " example")
      end
      for k, v in pairs(node) do schema_examples(v, at .. "/" .. tostring(k)) end
    end
    schema_examples(doc.components and doc.components.schemas, "#/components/schemas")
    for _, op in ipairs(ops) do
      for _, e in ipairs(params_of(op)) do
        if e.p.example ~= nil and e.p.schema then
          check(e.p.schema, e.p.example, op.label .. " parameter " .. e.p.name .. " example")
        end
      end
      for _, ex in ipairs(body_examples(op)) do
        local rb = deref(doc, op.doc.requestBody)
        check(rb.content[ex.media].schema, json.decode(ex.text, 1, NULL), op.label .. " body example " .. ex.name)
      end
      for _, code in ipairs(Y.keys(op.doc.responses)) do
        local r = deref(doc, op.doc.responses[code])
        for _, mt in ipairs(Y.keys(r and r.content or {})) do
          local media = r.content[mt]
          if media.example ~= nil and media.schema then
            check(media.schema, media.example, op.label .. " " .. code .. " " .. mt .. " example")
          end
        end
      end
    end
    assert(#errs == 0, table.concat(errs, "\n"))
    assert(count > 20, "only " .. count .. " examples were found to check")
  end)

  for _, op in ipairs(ops) do
    it(op.label .. " answers its documented examples as documented", function()
      skip_if_pending(op)
      local examples = body_examples(op)
      if #examples == 0 then examples = { false } end
      local untested = op.doc["x-agentai-success-untested"]
      for _, ex in ipairs(examples) do
        local only = ex and deref(doc, deref(doc, op.doc.requestBody).content[ex.media].examples[ex.name])["x-agentai-media"]
        for _, media in ipairs(only and { only } or success_media(op)) do
          local res = call(op, { accept = media, body = ex or nil })
          local extra = {}
          if untested and res.status and res.status >= 300 then
            say(string.format("SKIP the success answer of %s: %s (answered %d)", op.label, untested, res.status))
          elseif not (res.status and res.status < 300) then
            extra[1] = string.format("%s with %s%s was refused: %s %s", op.label,
              media ~= "" and ("Accept: " .. media) or "no Accept",
              ex and (" and the body example '" .. ex.name .. "'") or "", tostring(res.status), res.body:sub(1, 300))
          elseif media ~= "" and media_base(res.headers["content-type"]) ~= media_base(media) then
            extra[1] = string.format("%s with Accept: %s answered %s", op.label, media,
              tostring(res.headers["content-type"]))
          end
          assert_conforms(op, res, extra)
        end
      end
    end)

    it(op.label .. " accepts every documented optional parameter example", function()
      skip_if_pending(op)
      local examples = body_examples(op)
      local tried = 0
      for _, e in ipairs(params_of(op)) do
        local p = e.p
        if not p.required and p.example ~= nil and (p["in"] == "query" or p["in"] == "header") then
          tried = tried + 1
          local o = { body = examples[1] }
          if p["in"] == "query" then o.query = { { p.name, p.example } }
          else o.headers = { { p.name, tostring(p.example) } } end
          -- an example must be accepted by at least one of the documented answers (a stream-only
          -- parameter is refused by the JSON listing, as documented)
          local res, refused
          for _, media in ipairs(success_media(op)) do
            o.accept = media
            res = call(op, o)
            assert_conforms(op, res) -- a status, and a documented one
            if res.status < 300 then break end
            refused = string.format("%s refused the example %s=%s: %s %s", op.label, p.name,
              show(p.example), tostring(res.status), res.body:sub(1, 300))
          end
          assert(res.status < 300 or op.doc["x-agentai-success-untested"], refused)
          if p["in"] == "header" and p.name:lower() == "x-request-id" then
            assert(res.headers["x-request-id"] == tostring(p.example), string.format(
              "%s: sent X-Request-Id %s, got back %s", op.label, tostring(p.example),
              tostring(res.headers["x-request-id"])))
          end
        end
      end
      if tried == 0 then say(op.label .. " has no optional parameter examples") end
    end)
  end

  -- Ways to provoke a documented error, each for the operations it applies to.
  local BIG = string.rep(" ", (1 << 20) + 1)
  local STRATEGIES = {
    { status = 404, what = "an id that does not exist (the parameter's example)",
      applies = function(op)
        for _, e in ipairs(params_of(op)) do if e.p["in"] == "path" then return true end end
      end,
      run = function(op)
        local o = { params = {}, body = body_examples(op)[1] }
        for _, e in ipairs(params_of(op)) do
          if e.p["in"] == "path" then
            assert(e.p.example ~= nil, op.label .. ": path parameter " .. e.p.name .. " has no example")
            o.params["path:" .. e.p.name] = e.p.example
          end
        end
        return call(op, o), { type = "not_found" }
      end },
    { status = 400, what = "a query parameter above its documented maximum",
      applies = function(op)
        for _, e in ipairs(params_of(op)) do
          if e.p["in"] == "query" and e.p.schema and deref(doc, e.p.schema).maximum then return true end
        end
      end,
      run = function(op)
        for _, e in ipairs(params_of(op)) do
          local s = e.p["in"] == "query" and e.p.schema and deref(doc, e.p.schema)
          if s and s.maximum then
            return call(op, { query = { { e.p.name, s.maximum + 1 } } }),
                { type = "invalid_request", param = e.p.name }
          end
        end
      end },
    { status = 400, what = "a malformed JSON body",
      applies = function(op) return #body_examples(op) > 0 end,
      run = function(op)
        return call(op, { body = { text = '{"workflow": ', media = "application/json" } }), { type = "invalid_json" }
      end },
    { status = 415, what = "a body sent as text/plain",
      applies = function(op) return #body_examples(op) > 0 end,
      run = function(op)
        return call(op, { body = { text = body_examples(op)[1].text, media = "text/plain" } }),
            { type = "unsupported_media_type" }
      end },
    { status = 413, what = "a body over 1 MiB",
      applies = function(op) return #body_examples(op) > 0 end,
      run = function(op)
        return call(op, { body = { text = BIG, media = "application/json" } }), { type = "request_too_large" }
      end },
    { status = 411, what = "a chunked body",
      applies = function(op) return #body_examples(op) > 0 end,
      run = function(op)
        return call(op, { body = body_examples(op)[1], headers = { { "Transfer-Encoding", "chunked" } } }),
            { type = "length_required" }
      end },
    { status = 426, what = "a header outside its documented enum",
      applies = function(op)
        for _, e in ipairs(params_of(op)) do
          if e.p["in"] == "header" and e.p.required and e.p.schema and deref(doc, e.p.schema).enum then return true end
        end
      end,
      run = function(op)
        for _, e in ipairs(params_of(op)) do
          local s = e.p["in"] == "header" and e.p.required and e.p.schema and deref(doc, e.p.schema)
          if s and s.enum then
            return call(op, { params = { ["header:" .. e.p.name] = "0" } }), { type = "upgrade_required" }
          end
        end
      end },
  }

  for _, entry in ipairs(paths) do
    it(entry.path .. " answers its documented errors", function()
      if #entry.ops == 0 then error(entry.path .. " has no operations") end
      for _, op in ipairs(entry.ops) do skip_if_pending(op) end
      local checked = {}
      for _, op in ipairs(entry.ops) do
        for _, s in ipairs(STRATEGIES) do
          if documents(op, s.status) and s.applies(op) then
            local res, want = s.run(op)
            local extra = {}
            if res.status ~= s.status then
              extra[1] = string.format("%s with %s: wanted %d, got %s %s", op.label, s.what, s.status,
                tostring(res.status), res.body:sub(1, 300))
            else
              local v = json.decode(res.body, 1, NULL)
              local e = type(v) == "table" and v.error
              local r = deref(doc, op.doc.responses[tostring(s.status)])
              local media = r and r.content and r.content["application/json"]
              if media and media.schema and media.schema["$ref"] == OPENAI_ERROR_SCHEMA then
                assert(OPENAI_CODE[want.type], "no OpenAI error code for " .. want.type)
                want = { type = "invalid_request_error", code = OPENAI_CODE[want.type], param = want.param }
              end
              if type(e) ~= "table" or e.type ~= want.type or (want.param and e.param ~= want.param)
                  or (want.code and e.code ~= want.code) then
                extra[1] = string.format("%s with %s: wanted error type %s%s, got %s", op.label, s.what,
                  want.type .. (want.code and (" (code " .. want.code .. ")") or ""),
                  want.param and (" naming " .. want.param) or "", res.body:sub(1, 300))
              elseif not want.code and e.request_id ~= res.headers["x-request-id"] then
                extra[1] = op.label .. ": the error's request_id is not the X-Request-Id header"
              end
            end
            assert_conforms(op, res, extra)
            checked[#checked + 1] = string.format("%s %d", op.method, s.status)
          end
        end
      end
      -- 405: a method the path does not document, if its operations document the answer
      local all405 = true
      for _, op in ipairs(entry.ops) do all405 = all405 and documents(op, 405) end
      if all405 then
        local documented = {}
        for _, op in ipairs(entry.ops) do documented[op.method] = true end
        if documented.GET then documented.HEAD = true end
        local other
        for _, m in ipairs({ "PUT", "PATCH", "DELETE", "POST" }) do
          if not documented[m] then other = other or m end
        end
        assert(other, entry.path .. " documents every method the test would try for 405")
        local op = entry.ops[1]
        local res = call(setmetatable({ method = other, label = other .. " " .. entry.path }, { __index = op }), {})
        local extra = {}
        if res.status ~= 405 then
          extra[1] = string.format("%s %s: wanted 405, got %s %s", other, entry.path, tostring(res.status), res.body)
        else
          local allow = {}
          for m in (res.headers["allow"] or ""):gmatch("[A-Z]+") do allow[m] = true end
          for m in pairs(documented) do
            if not allow[m] then extra[#extra + 1] = string.format("%s: Allow (%s) lacks documented %s",
              entry.path, tostring(res.headers["allow"]), m) end
          end
          for m in pairs(allow) do
            if not documented[m] then extra[#extra + 1] = string.format("%s: Allow lists %s, which is not documented",
              entry.path, m) end
          end
        end
        assert_conforms(op, res, extra)
        checked[#checked + 1] = other .. " 405"
      end
      assert(#checked > 0, entry.path .. ": none of its documented errors could be provoked; document one " ..
        "the test knows how to cause (404 unknown id, 400 query above its maximum or malformed body, " ..
        "405, 411, 413, 415, 426)")
    end)
  end

  local function op_by_id(id)
    for _, op in ipairs(ops) do if op.doc.operationId == id then return op end end
    error("docs/openapi.yaml has no operation " .. id)
  end

  it("answers a repeated Idempotency-Key with the first task, and another body with 409", function()
    local op = op_by_id("submitTask")
    local key = { { "Idempotency-Key", "openapi-spec-1" } }
    local b1 = { text = '{"input":{"n":1}}', media = "application/json" }
    local r1 = call(op, { body = b1, headers = key })
    assert_conforms(op, r1)
    local r2 = call(op, { body = b1, headers = key })
    assert_conforms(op, r2)
    assert(r1.status == 202 and r2.status == 202, r1.body .. "\n" .. r2.body)
    assert(json.decode(r1.body).id == json.decode(r2.body).id, "a repeated key made another task")
    local r3 = call(op, { body = { text = '{"input":{"n":2}}', media = "application/json" }, headers = key })
    assert_conforms(op, r3)
    local e = json.decode(r3.body).error
    assert(r3.status == 409 and e.type == "idempotency_conflict" and e.param == "Idempotency-Key", r3.body)
  end)

  it("cancels a queued task with 200 and refuses finished ones with 409", function()
    local cancel, retry = op_by_id("cancelTask"), op_by_id("retryTask")
    local waiting = submit(F.flaky_agent, "{}")
    wait_task(waiting, function(t) return t.status == "queued" and t.next_attempt_at ~= NULL end, "waiting to retry")
    local r = call(cancel, { params = { ["path:id"] = waiting } })
    assert_conforms(cancel, r)
    assert(r.status == 200 and json.decode(r.body).status == "cancelled", r.body)
    r = call(cancel, { params = { ["path:id"] = F.done_task } })
    assert_conforms(cancel, r)
    assert(r.status == 409 and json.decode(r.body).error.type == "conflict", r.body)
    r = call(retry, { params = { ["path:id"] = F.done_task } })
    assert_conforms(retry, r)
    assert(r.status == 409 and json.decode(r.body).error.type == "conflict", r.body)
  end)

  it("speaks the documented WebSocket messages on /v1/ws", function()
    local op = doc.paths["/v1/ws"] and op_by_id("openWebSocket")
    assert(op, "docs/openapi.yaml does not document /v1/ws")
    skip_if_pending(op)
    assert(os.execute("command -v bash >/dev/null 2>&1"), "bash is needed for the WebSocket client")
    -- SLEEP lets the stored events arrive before the unsubscribe that ends them
    local commands = { '{"op":"ping","ref":7}',
      '{"op":"subscribe","task":"' .. F.done_task .. '","ref":"sub"}',
      "SLEEP", '{"op":"unsubscribe","subscription":"s1"}', "not json" }
    for _, c in ipairs(commands) do
      assert(#c < 126, "keep WebSocket commands under 126 bytes")
    end
    local r, raw = W.exchange(work, server.port, "/v1/ws", commands)
    assert(r.code == 0, "the WebSocket client failed: " .. r.stderr)
    local head, frames = raw:match("^(.-\r\n\r\n)(.*)$")
    assert(head and head:match("^HTTP/1%.1 101"), "no 101 answer: " .. raw:sub(1, 300))
    local res = { status = 101, headers = W.headers(head), body = "", method = "GET", target = "/v1/ws" }
    assert_conforms(op, res)
    -- fails on a truncated, masked or over-long frame
    local msgs = assert(W.text_messages(frames))
    local errs, types, seqs = {}, {}, {}
    for n, text in ipairs(msgs) do
      local v = json.decode(text, 1, NULL)
      if v == nil then errs[#errs + 1] = "message " .. n .. " is not JSON: " .. text
      else
        validate(doc, { ["$ref"] = WS_MESSAGE_SCHEMA }, v, "ws message " .. n, errs, notes)
        types[#types + 1] = v.type
        if v.type == "event" then seqs[#seqs + 1] = v.event.seq end
        if v.type == "pong" and v.ref ~= 7 then errs[#errs + 1] = "pong did not echo ref 7: " .. text end
      end
    end
    assert(#errs == 0, table.concat(errs, "\n"))
    local got = table.concat(types, ",")
    assert(got == "pong,subscribed,event,event,event,event,unsubscribed,error", "messages: " .. got)
    assert(table.concat(seqs, ",") == "1,2,3,4", "event seqs: " .. table.concat(seqs, ","))
  end)
end)