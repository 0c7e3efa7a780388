-- openapi_check.lua — the JSON Schema checker and OpenAPI 3.1 document readers behind openapi_spec.lua.
--
-- validate() understands $ref, type, properties, required, items, additionalProperties, enum,
-- const, oneOf, anyOf, minimum, maximum, minLength, maxLength, minItems, maxItems, pattern (an
-- ECMA-262 subset) and format date-time; any other keyword is reported, never ignored. Values
-- are those yaml_subset and dkjson produce (JSON null is yaml_subset's null).
local Y = require("yaml_subset")
local json = require("dkjson")

local M = {}

local NULL = Y.null -- JSON null and YAML null are one value, so examples and answers compare
local METHODS = { "get", "put", "post", "delete", "options", "head", "patch", "trace" }

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
        "openapi_check.lua (teach the checker, or do not use it)", where, k)
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
            "' is not checked by openapi_check.lua"
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

--- s percent-encoded for a path segment or a query component (unreserved characters kept).
local function urlencode(s)
  return (tostring(s):gsub("[^A-Za-z0-9%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

--- The events of a text/event-stream body, each {data = {lines}, id = ..., event = ...}; blocks
--- without data are left out.
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

---------------------------------------------------------------------------------------------------
-- Reading the operations of a document. An operation is {path, method (upper case), item (the
-- path item), doc (the operation object), label ("GET /path"), line (of the method key)}.

--- The operations of doc in document order, and its paths as {path, item, ops} in document order.
local function operations(doc)
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
  return ops, paths
end

--- Appends "at: unresolved $ref ..." to errs for every $ref below node that does not resolve in doc.
local function unresolved_refs(doc, node, at, errs)
  if type(node) ~= "table" then return end
  if type(node["$ref"]) == "string" and resolve(doc, node["$ref"]) == nil then
    errs[#errs + 1] = at .. ": unresolved $ref " .. node["$ref"]
  end
  for k, v in pairs(node) do unresolved_refs(doc, v, at .. "/" .. tostring(k), errs) end
end

--- The parameters of op (path level, then the operation's own, which win), each as
--- {p = parameter object, ref = component name or nil}.
local function params_of(doc, op)
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

--- Whether op or its path item is marked `x-agentai-pending: true`.
local function is_pending(op)
  return op.item["x-agentai-pending"] == true or op.doc["x-agentai-pending"] == true
end

--- The request body examples of op as {name, json text, media type}, or {} without a body;
--- raises an error when a body is documented without an example.
local function body_examples(doc, op)
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

--- The media types of op's 1xx/2xx answers ("" for an answer without content, e.g. a 101).
local function success_media(doc, op)
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

--- Whether op documents an answer with status.
local function documents(op, status) return op.doc.responses[tostring(status)] ~= nil end

M.re_search = re_search
M.resolve = resolve
M.deref = deref
M.jtype = jtype
M.show = show
M.equal = equal
M.validate = validate
M.media_base = media_base
M.urlencode = urlencode
M.sse_events = sse_events
M.operations = operations
M.unresolved_refs = unresolved_refs
M.params_of = params_of
M.is_pending = is_pending
M.body_examples = body_examples
M.success_media = success_media
M.documents = documents

return M
