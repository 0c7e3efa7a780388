-- openapi_spec.lua — docs/openapi.yaml against the live daemon: every path and method is called
-- with its documented examples and the answer checked against the documented statuses, media
-- types, headers and schemas; documented errors are provoked on every path.
--
-- AGENTAI_OPENAPI=FILE checks another copy of the document (to see that a wrong one fails).
-- A path item or operation marked `x-agentai-pending: true` is skipped, with the reason printed,
-- while the server answers it 404; once it answers, it is checked like the others.
local T = require("agentai_test")
local Y = require("yaml_subset")
local json = require("dkjson")

local DOC_FILE = os.getenv("AGENTAI_OPENAPI") or (T.source_dir .. "/docs/openapi.yaml")
local METHODS = { "get", "put", "post", "delete", "options", "head", "patch", "trace" }
local NULL = Y.null -- JSON null and YAML null are one value, so examples and answers compare

-- The schema a `data:` line of a text/event-stream answer must match, and a WebSocket message.
local SSE_EVENT_SCHEMA = "#/components/schemas/Event"
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

---------------------------------------------------------------------------------------------------
-- A small ECMA-262 regular expression matcher for the `pattern` keyword: literals, escapes, ., [...]
-- classes with ranges, groups with |, the quantifiers ? * + {n} {n,} {n,m}, ^ and $. Anything
-- else is refused, so a pattern is never silently not checked.

local function re_compile(src)
  local pos = 1
  local function peek(k) return src:sub(pos + (k or 0), pos + (k or 0)) end
  local function bad(why) error(string.format("pattern /%s/: %s at offset %d", src, why, pos), 0) end
  local CLASS = {
    d = function(c) return c:match("%d") ~= nil end,
    w = function(c) return c:match("[%w_]") ~= nil end,
    s = function(c) return c:match("%s") ~= nil end,
  }
  local function class_atom()
    pos = pos + 1 -- '['
    local neg = peek() == "^"
    if neg then pos = pos + 1 end
    local tests, first = {}, true
    while true do
      local c = peek()
      if c == "" then bad("unterminated [") end
      if c == "]" and not first then pos = pos + 1; break end
      first = false
      local lo
      if c == "\\" then
        local e = peek(1)
        pos = pos + 2
        if CLASS[e] then tests[#tests + 1] = CLASS[e]; goto continue end
        if e:match("[%w]") then bad("unsupported escape \\" .. e) end
        lo = e
      else
        lo = c
        pos = pos + 1
      end
      if peek() == "-" and peek(1) ~= "]" and peek(1) ~= "" then
        local hi = peek(1)
        pos = pos + 2
        if hi == "\\" then hi = peek(); pos = pos + 1 end
        local a, b = lo, hi
        tests[#tests + 1] = function(ch) return ch >= a and ch <= b end
      else
        local a = lo
        tests[#tests + 1] = function(ch) return ch == a end
      end
      ::continue::
    end
    return { kind = "char", test = function(ch)
      local hit = false
      for _, t in ipairs(tests) do if t(ch) then hit = true; break end end
      return hit ~= neg
    end }
  end
  local parse_alts
  local function atom()
    local c = peek()
    if c == "(" then
      pos = pos + 1
      if peek() == "?" then
        if peek(1) ~= ":" then bad("only (?:...) groups are supported") end
        pos = pos + 2
      end
      local alts = parse_alts()
      if peek() ~= ")" then bad("unterminated (") end
      pos = pos + 1
      return { kind = "group", alts = alts }
    elseif c == "[" then
      return class_atom()
    elseif c == "." then
      pos = pos + 1
      return { kind = "char", test = function(ch) return ch ~= "\n" end }
    elseif c == "^" or c == "$" then
      pos = pos + 1
      return { kind = c }
    elseif c == "\\" then
      local e = peek(1)
      pos = pos + 2
      if CLASS[e] then return { kind = "char", test = CLASS[e] } end
      if e == "" or e:match("[%w]") then bad("unsupported escape \\" .. e) end
      return { kind = "char", test = function(ch) return ch == e end }
    elseif c:match("[*+?{}|)]") then
      bad("unexpected '" .. c .. "'")
    end
    pos = pos + 1
    return { kind = "char", test = function(ch) return ch == c end }
  end
  local function sequence()
    local seq = {}
    while peek() ~= "" and peek() ~= "|" and peek() ~= ")" do
      local a = atom()
      local min, max = 1, 1
      local q = peek()
      if q == "?" then min, max = 0, 1; pos = pos + 1
      elseif q == "*" then min, max = 0, math.huge; pos = pos + 1
      elseif q == "+" then min, max = 1, math.huge; pos = pos + 1
      elseif q == "{" then
        local n1, comma, n2, stop = src:match("^{(%d+)(,?)(%d*)}()", pos)
        if not n1 then bad("malformed {n,m}") end
        min = tonumber(n1)
        max = comma == "" and min or (n2 == "" and math.huge or tonumber(n2))
        pos = stop
      end
      if peek():match("^[?*+{]$") then bad("lazy or stacked quantifiers are not supported") end
      seq[#seq + 1] = { atom = a, min = min, max = max }
    end
    return seq
  end
  function parse_alts()
    local alts = { sequence() }
    while peek() == "|" do
      pos = pos + 1
      alts[#alts + 1] = sequence()
    end
    return alts
  end
  local alts = parse_alts()
  if pos <= #src then bad("unexpected ')'") end
  return alts
end

local m_alts
local function m_atom(a, s, i, k)
  if a.kind == "char" then
    if i <= #s and a.test(s:sub(i, i)) then return k(i + 1) end
    return false
  elseif a.kind == "^" then
    return i == 1 and k(i)
  elseif a.kind == "$" then
    return i == #s + 1 and k(i)
  end
  return m_alts(a.alts, s, i, k)
end

local function m_seq(seq, n, s, i, k)
  local node = seq[n]
  if not node then return k(i) end
  local function rep(count, at)
    if count < node.max then
      local r = m_atom(node.atom, s, at, function(j)
        -- an empty match (an anchor, an empty group) counts once and moves on, never loops
        if j == at then return count + 1 >= node.min and m_seq(seq, n + 1, s, j, k) end
        return rep(count + 1, j)
      end)
      if r then return r end
    end
    return count >= node.min and m_seq(seq, n + 1, s, at, k)
  end
  return rep(0, i)
end

function m_alts(alts, s, i, k)
  for _, seq in ipairs(alts) do
    local r = m_seq(seq, 1, s, i, k)
    if r then return r end
  end
  return false
end

local regex_cache = {}
--- Whether pattern (ECMA syntax, unanchored as JSON Schema says) finds a match in s.
local function re_search(pattern, s)
  local alts = regex_cache[pattern]
  if not alts then
    alts = re_compile(pattern)
    regex_cache[pattern] = alts
  end
  for start = 1, #s + 1 do
    if m_alts(alts, s, start, function() return true end) then return true end
  end
  return false
end

---------------------------------------------------------------------------------------------------
-- The document: $refs, and the subset of JSON Schema (2020-12, as OpenAPI 3.1 uses it) the checker
-- understands. A keyword outside it fails the check instead of being ignored.

local function resolve(doc, ref)
  if type(ref) ~= "string" or ref:sub(1, 2) ~= "#/" then return nil end
  local node = doc
  for part in ref:sub(3):gmatch("[^/]+") do
    part = part:gsub("~1", "/"):gsub("~0", "~")
    if type(node) ~= "table" then return nil end
    node = node[part]
  end
  return node
end

--- Follows $ref (parameters, responses, headers) to the object; nil and why when it dangles.
local function deref(doc, obj)
  local seen = 0
  while type(obj) == "table" and obj["$ref"] do
    local target = resolve(doc, obj["$ref"])
    if target == nil then return nil, "unresolved $ref " .. tostring(obj["$ref"]) end
    obj = target
    seen = seen + 1
    if seen > 20 then return nil, "a $ref loop" end
  end
  return obj
end

local function jtype(v)
  if v == nil then return "missing" end
  if v == NULL then return "null" end
  local t = type(v)
  if t == "number" then
    if math.type(v) == "integer" or (v == math.floor(v) and math.abs(v) < 2 ^ 53) then return "integer" end
    return "number"
  end
  if t ~= "table" then return t end
  local mt = getmetatable(v)
  local k = type(mt) == "table" and (mt.__jsontype or mt.yaml)
  if k == "object" or k == "map" then return "object" end
  if k == "array" or k == "seq" then return "array" end
  return #v > 0 and "array" or "object"
end

local function show(v)
  if v == nil then return "nothing" end
  local ok, s = pcall(json.encode, v, { exception = function() return "null" end })
  s = ok and s or tostring(v)
  if v == NULL then s = "null" end
  return #s > 100 and s:sub(1, 97) .. "..." or s
end

local function equal(a, b)
  if a == b then return true end
  local ta, tb = jtype(a), jtype(b)
  if (ta == "integer" or ta == "number") and (tb == "integer" or tb == "number") then return a == b end
  if ta ~= tb or type(a) ~= "table" then return false end
  for k, v in pairs(a) do if not equal(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

local SCHEMA_KEYWORDS = {
  ["$ref"] = true, type = true, properties = true, required = true, items = true,
  additionalProperties = true, enum = true, const = true, oneOf = true, anyOf = true,
  minimum = true, maximum = true, minLength = true, maxLength = true, minItems = true,
  maxItems = true, pattern = true, format = true,
  -- annotations: nothing to check
  description = true, example = true, examples = true, default = true, title = true,
  deprecated = true, readOnly = true, writeOnly = true,
}

local function valid_datetime(s)
  local date, rest = s:match("^(%d%d%d%d%-%d%d%-%d%d)[Tt](.*)$")
  if not date then return false end
  local hms, tail = rest:match("^(%d%d:%d%d:%d%d)(.*)$")
  if not hms then return false end
  tail = tail:gsub("^%.%d+", "")
  return tail == "Z" or tail == "z" or tail:match("^[-+]%d%d:%d%d$") ~= nil
end

--- Checks v against schema; appends "where: why" to errs. notes (optional) collects properties
--- the server sent that the schema does not name (where it does not forbid them).
local function validate(doc, schema, v, where, errs, notes)
  if schema == true then return end
  if schema == false then errs[#errs + 1] = where .. ": the schema allows nothing"; return end
  if jtype(schema) ~= "object" then errs[#errs + 1] = where .. ": a schema must be an object"; return end
  for k in pairs(schema) do
    if not SCHEMA_KEYWORDS[k] and not tostring(k):match("^x%-") then
      errs[#errs + 1] = string.format("%s: the schema keyword '%s' is not understood by " ..
        "openapi_spec.lua (teach the checker, or do not use it)", where, k)
    end
  end
  if schema["$ref"] then
    local target = resolve(doc, schema["$ref"])
    if target == nil then
      errs[#errs + 1] = where .. ": unresolved $ref " .. tostring(schema["$ref"])
    else
      validate(doc, target, v, where, errs, notes)
    end
  end
  local t = jtype(v)
  if schema.type ~= nil then
    local types = jtype(schema.type) == "array" and schema.type or { schema.type }
    local ok = false
    for _, want in ipairs(types) do
      if t == want or (want == "number" and t == "integer") then ok = true end
    end
    if not ok then
      errs[#errs + 1] = string.format("%s: expected %s, got %s %s", where,
        table.concat(types, " or "), t, show(v))
      return
    end
  end
  if schema.const ~= nil and not equal(v, schema.const) then
    errs[#errs + 1] = string.format("%s: expected %s, got %s", where, show(schema.const), show(v))
  end
  if schema.enum ~= nil then
    local hit = false
    for _, e in ipairs(schema.enum) do if equal(v, e) then hit = true end end
    if not hit then
      errs[#errs + 1] = string.format("%s: %s is not one of %s", where, show(v), show(schema.enum))
    end
  end
  if t == "string" then
    local len = utf8.len(v) or #v
    if schema.minLength and len < schema.minLength then
      errs[#errs + 1] = string.format("%s: shorter than %d characters: %s", where, schema.minLength, show(v))
    end
    if schema.maxLength and len > schema.maxLength then
      errs[#errs + 1] = string.format("%s: longer than %d characters", where, schema.maxLength)
    end
    if schema.pattern then
      local ok, hit = pcall(re_search, schema.pattern, v)
      if not ok then errs[#errs + 1] = where .. ": " .. tostring(hit)
      elseif not hit then
        errs[#errs + 1] = string.format("%s: %s does not match /%s/", where, show(v), schema.pattern)
      end
    end
    if schema.format then
      if schema.format ~= "date-time" then
        errs[#errs + 1] = where .. ": format '" .. tostring(schema.format) ..
            "' is not checked by openapi_spec.lua"
      elseif not valid_datetime(v) then
        errs[#errs + 1] = string.format("%s: %s is not an RFC 3339 date-time", where, show(v))
      end
    end
  end
  if t == "integer" or t == "number" then
    if schema.minimum and v < schema.minimum then
      errs[#errs + 1] = string.format("%s: %s is below the minimum %s", where, show(v), show(schema.minimum))
    end
    if schema.maximum and v > schema.maximum then
      errs[#errs + 1] = string.format("%s: %s is above the maximum %s", where, show(v), show(schema.maximum))
    end
  end
  if t == "object" then
    for _, name in ipairs(schema.required or {}) do
      if v[name] == nil then
        errs[#errs + 1] = string.format("%s: the required property '%s' is missing", where, name)
      end
    end
    local props = schema.properties or {}
    for name, value in pairs(v) do
      local sub = props[name]
      local at = where .. "." .. tostring(name)
      if sub ~= nil then
        validate(doc, sub, value, at, errs, notes)
      elseif schema.additionalProperties == false then
        errs[#errs + 1] = at .. ": a property the schema does not allow"
      elseif schema.additionalProperties ~= nil and schema.additionalProperties ~= true then
        validate(doc, schema.additionalProperties, value, at, errs, notes)
      elseif notes and schema.properties then
        notes[(at:gsub("%[%d+%]", "[]"))] = true
      end
    end
  end
  if t == "array" then
    if schema.minItems and #v < schema.minItems then
      errs[#errs + 1] = string.format("%s: fewer than %d items", where, schema.minItems)
    end
    if schema.maxItems and #v > schema.maxItems then
      errs[#errs + 1] = string.format("%s: more than %d items", where, schema.maxItems)
    end
    if schema.items ~= nil then
      for i, item in ipairs(v) do
        validate(doc, schema.items, item, string.format("%s[%d]", where, i), errs, notes)
      end
    end
  end
  for _, kw in ipairs({ "oneOf", "anyOf" }) do
    if schema[kw] ~= nil then
      local passed, why = 0, {}
      for i, branch in ipairs(schema[kw]) do
        local e = {}
        validate(doc, branch, v, where, e, nil)
        if #e == 0 then passed = passed + 1 else why[#why + 1] = string.format("branch %d: %s", i, e[1]) end
      end
      if passed == 0 then
        errs[#errs + 1] = string.format("%s: matches none of the %s branches (%s)", where, kw,
          table.concat(why, "; "))
      elseif kw == "oneOf" and passed > 1 then
        errs[#errs + 1] = string.format("%s: matches %d oneOf branches, not exactly one", where, passed)
      end
    end
  end
end

--- The media type of a Content-Type value, lower case, without parameters.
local function media_base(ct)
  return ct and (ct:match("^[^;]*"):gsub("%s", ""):lower()) or nil
end

---------------------------------------------------------------------------------------------------
-- HTTP through curl (the server under test shares no code with the client).

local function urlencode(s)
  return (tostring(s):gsub("[^A-Za-z0-9%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

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
  local ops, paths = {}, {}
  for _, path in ipairs(Y.keys(doc.paths)) do
    local item = doc.paths[path]
    local entry = { path = path, item = item, ops = {} }
    paths[#paths + 1] = entry
    for _, m in ipairs(METHODS) do
      if jtype(item) == "object" and item[m] ~= nil then
        local op = { path = path, method = m:upper(), item = item, doc = item[m],
          label = m:upper() .. " " .. path, line = Y.line(item, m) }
        ops[#ops + 1] = op
        entry.ops[#entry.ops + 1] = op
      end
    end
  end

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
  local FIXTURES = {
    AgentId = function(op)
      if op.doc.operationId == "deleteAgent" then return new_agent('{"workflow":"echo"}') end
      return F.agent
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

  -- The parameters of op (path level, then the operation's own, which win), each as
  -- {p = parameter object, ref = component name or nil}.
  local function params_of(op)
    local out, index = {}, {}
    for _, list in ipairs({ op.item.parameters or {}, op.doc.parameters or {} }) do
      for _, raw in ipairs(list) do
        local p = assert(deref(doc, raw))
        local ref = raw["$ref"] and raw["$ref"]:match("^#/components/parameters/(.+)$")
        local key = p["in"] .. ":" .. p.name:lower()
        if index[key] then out[index[key]] = { p = p, ref = ref }
        else
          out[#out + 1] = { p = p, ref = ref }
          index[key] = #out
        end
      end
    end
    return out
  end

  local function is_pending(op)
    return op.item["x-agentai-pending"] == true or op.doc["x-agentai-pending"] == true
  end

  -- The request body examples of op as {name, json text, media type}, or {} without a body.
  local function body_examples(op)
    local rb = op.doc.requestBody and assert(deref(doc, op.doc.requestBody))
    if not rb then return {} end
    local out = {}
    for _, mt in ipairs(Y.keys(rb.content)) do
      local media = rb.content[mt]
      if media.examples then
        for _, name in ipairs(Y.keys(media.examples)) do
          local ex = assert(deref(doc, media.examples[name]))
          out[#out + 1] = { name = name, text = json.encode(ex.value, { indent = false }), media = mt }
        end
      elseif media.example ~= nil then
        out[#out + 1] = { name = "example", text = json.encode(media.example), media = mt }
      end
    end
    assert(#out > 0, op.label .. " documents a request body without an example to send")
    return out
  end

  -- The media types of op's 1xx/2xx answers ("" for an answer without content, e.g. a 101).
  local function success_media(op)
    local seen, out = {}, {}
    for _, code in ipairs(Y.keys(op.doc.responses)) do
      if tonumber(code) and tonumber(code) < 300 then
        local r = assert(deref(doc, op.doc.responses[code]))
        if r.content then
          for _, mt in ipairs(Y.keys(r.content)) do
            if not seen[mt] then seen[mt] = true; out[#out + 1] = mt end
          end
        elseif not seen[""] then
          seen[""] = true
          out[#out + 1] = ""
        end
      end
    end
    return out
  end

  local function documents(op, status) return op.doc.responses[tostring(status)] ~= nil end

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

  local function sse_events(body)
    local events = {}
    for block in (body:gsub("\r", "") .. "\n\n"):gmatch("(.-)\n\n") do
      local ev = { data = {} }
      for line in block:gmatch("[^\n]+") do
        local field, value = line:match("^([^:]+): ?(.*)$")
        if field == "data" then ev.data[#ev.data + 1] = value
        elseif field == "id" or field == "event" then ev[field] = value end
      end
      if #ev.data > 0 then events[#events + 1] = ev end
    end
    return events
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
      for i, ev in ipairs(events) do
        local v = json.decode(table.concat(ev.data, "\n"), 1, NULL)
        local at = string.format("%s event %d", where, i)
        if v == nil then errs[#errs + 1] = at .. ": data is not JSON"
        else
          validate(doc, { ["$ref"] = SSE_EVENT_SCHEMA }, v, at, errs, notes)
          if ev.id ~= tostring(v.seq) then errs[#errs + 1] = at .. ": id " .. tostring(ev.id) .. " is not the seq" end
          if ev.event ~= v.type then errs[#errs + 1] = at .. ": event " .. tostring(ev.event) .. " is not the type" end
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
    for _, k in ipairs({ "Agent", "Task", "Event", "AgentList", "TaskList", "EventList", "Error" }) do
      if not resolve(doc, "#/components/schemas/" .. k) then errs[#errs + 1] = "components/schemas has no " .. k end
    end
    -- every $ref anywhere resolves
    local function walk(node, at)
      if type(node) ~= "table" then return end
      if type(node["$ref"]) == "string" and resolve(doc, node["$ref"]) == nil then
        errs[#errs + 1] = at .. ": unresolved $ref " .. node["$ref"]
      end
      for k, v in pairs(node) do walk(v, at .. "/" .. tostring(k)) end
    end
    walk(doc, "#")
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
                  and json_media.schema["$ref"] == "#/components/schemas/Error") then
              errs[#errs + 1] = at .. " " .. code ..
                  ": a client error answer must be application/json with the Error schema"
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
      for _, ex in ipairs(examples) do
        for _, media in ipairs(success_media(op)) do
          local res = call(op, { accept = media, body = ex or nil })
          local extra = {}
          if not (res.status and res.status < 300) then
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
          assert(res.status < 300, refused)
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
              if type(e) ~= "table" or e.type ~= want.type or (want.param and e.param ~= want.param) then
                extra[1] = string.format("%s with %s: wanted error type %s%s, got %s", op.label, s.what,
                  want.type, want.param and (" naming " .. want.param) or "", res.body:sub(1, 300))
              elseif e.request_id ~= res.headers["x-request-id"] then
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
    -- bash's /dev/tcp carries the upgrade and masked text frames (mask 0: payload as is)
    local script = [[
exec 3<>/dev/tcp/127.0.0.1/$1 || exit 1
out=$2; shift 2
printf 'GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' >&3
printf 'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n' >&3
for m in "$@"; do
  if [ "$m" = SLEEP ]; then sleep 0.5; continue; fi
  printf "\\x81\\x$(printf %02x $((128 + ${#m})))\\x00\\x00\\x00\\x00" >&3
  printf '%s' "$m" >&3
done
timeout 1 cat <&3 >"$out"
exit 0
]]
    T.write_file(work .. "/ws.sh", script)
    -- SLEEP lets the stored events arrive before the unsubscribe that ends them
    local commands = { '{"op":"ping","ref":7}',
      '{"op":"subscribe","task":"' .. F.done_task .. '","ref":"sub"}',
      "SLEEP", '{"op":"unsubscribe","subscription":"s1"}', "not json" }
    local args = { "bash", T.q(work .. "/ws.sh"), tostring(server.port), T.q(work .. "/ws.out") }
    for _, c in ipairs(commands) do
      assert(#c < 126, "keep WebSocket commands under 126 bytes")
      args[#args + 1] = T.q(c)
    end
    local r = T.sh(table.concat(args, " "))
    assert(r.code == 0, "the WebSocket client failed: " .. r.stderr)
    local raw = T.read_file(work .. "/ws.out") or ""
    local head, frames = raw:match("^(.-\r\n\r\n)(.*)$")
    assert(head and head:match("^HTTP/1%.1 101"), "no 101 answer: " .. raw:sub(1, 300))
    local res = { status = 101, headers = {}, body = "", method = "GET", target = "/v1/ws" }
    for k, v in head:gmatch("([^\r\n:]+):%s*([^\r\n]*)") do res.headers[k:lower()] = v end
    assert_conforms(op, res)
    local msgs, i = {}, 1
    while i <= #frames do
      local b1, b2 = frames:byte(i, i + 1)
      assert(b1 and b2, "a truncated frame")
      local len, at = b2 & 0x7f, i + 2
      if len == 126 then len = (frames:byte(at) << 8) | frames:byte(at + 1); at = at + 2
      elseif len == 127 then error("a frame over 64 KiB in this exchange") end
      assert(b2 & 0x80 == 0, "the server masked a frame")
      if b1 & 0x0f == 1 then msgs[#msgs + 1] = frames:sub(at, at + len - 1) end
      i = at + len
    end
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
