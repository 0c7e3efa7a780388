-- agentai.tools — tools a model may call: a Lua function with a name, a description and a JSON
-- Schema for its arguments. Arguments are validated before the call; every failure (unknown
-- tool, bad JSON, schema mismatch, the tool's own error) becomes a result the model can read,
-- never a crash. Built-in tools: http_fetch, kv_get, kv_put, and the repository tools.
local ai = require("agentai")

local M = {}

local registry = {}

local function fail(message) ai.error{ kind = "invalid", message = message } end

--- Defines a tool: {name =, description =, parameters = <JSON Schema>, handler = fn(args, ctx)}.
-- The handler returns a string or a JSON-encodable value; it may wait (ai.http, ai.kv, ...).
function M.define(def)
  if type(def) ~= "table" then fail("a tool is a table {name, description, parameters, handler}") end
  if type(def.name) ~= "string" or not def.name:match("^[%w_%-]+$") or #def.name > 64 then
    fail("tool name must be 1 to 64 letters, digits, '_' or '-' (got " .. tostring(def.name) .. ")")
  end
  if type(def.description) ~= "string" or def.description == "" then
    fail("tool '" .. def.name .. "' needs a description")
  end
  if type(def.handler) ~= "function" then fail("tool '" .. def.name .. "' needs a handler function") end
  local params = def.parameters or { type = "object", properties = {} }
  if type(params) ~= "table" then fail("tool '" .. def.name .. "': parameters must be a JSON Schema table") end
  local validator
  if ai.schema then
    local ok, err = pcall(ai.schema.compile, params)
    if not ok then fail("tool '" .. def.name .. "': invalid parameters schema: " .. tostring(err)) end
    validator = err
  end
  registry[def.name] = { name = def.name, description = def.description, parameters = params,
    handler = def.handler, validator = validator }
  return registry[def.name]
end

--- The tool named name, or nil.
function M.get(name) return registry[name] end

--- Names of every defined tool, sorted.
function M.names()
  local out = {}
  for name in pairs(registry) do out[#out + 1] = name end
  table.sort(out)
  return out
end

--- The OpenAI `tools` array for the given names (every tool when names is nil).
function M.specs(names)
  names = names or M.names()
  local out = {}
  for _, name in ipairs(names) do
    local t = registry[name]
    if not t then
      fail("unknown tool '" .. tostring(name) .. "' (defined: " .. table.concat(M.names(), ", ") .. ")")
    end
    out[#out + 1] = { type = "function", ["function"] = {
      name = t.name, description = t.description, parameters = t.parameters } }
  end
  return out
end

local function schema_errors(errors)
  local parts = {}
  for i, e in ipairs(errors or {}) do
    if i > 5 then parts[#parts + 1] = "..." break end
    parts[#parts + 1] = (e.path ~= "" and e.path or "/") .. ": " .. e.message
  end
  return table.concat(parts, "; ")
end

--- Calls a tool the way a model asked for it: arguments is the JSON text from the model.
-- Returns ok, text: on success the tool's result as text (JSON for tables); on failure a
-- message meant for the model ("unknown tool ...", "arguments do not match ...", the error).
-- `allowed` (a set of names, optional) limits which tools may be called.
function M.call(name, arguments, ctx, allowed)
  local t = registry[name]
  if not t or (allowed and not allowed[name]) then
    local avail = {}
    for _, n in ipairs(M.names()) do
      if not allowed or allowed[n] then avail[#avail + 1] = n end
    end
    return false, "unknown tool '" .. tostring(name) .. "'; available tools: " .. table.concat(avail, ", ")
  end
  local args = {}
  if type(arguments) == "string" and arguments ~= "" then
    local ok, decoded = pcall(ai.json.decode, arguments)
    if not ok then return false, "arguments are not valid JSON: " .. tostring(decoded) end
    args = decoded
  elseif type(arguments) == "table" then
    args = arguments
  end
  if t.validator then
    local ok, errors = t.validator:validate(args)
    if not ok then return false, "arguments do not match the schema of '" .. name .. "': " .. schema_errors(errors) end
  elseif type(args) ~= "table" then
    return false, "arguments must be a JSON object"
  end
  local ok, result = pcall(t.handler, args, ctx or {})
  if not ok then
    local msg = type(result) == "table" and (result.message or tostring(result)) or tostring(result)
    return false, "tool '" .. name .. "' failed: " .. msg
  end
  if type(result) == "string" then return true, result end
  if result == nil then return true, "null" end
  return true, ai.json.encode(result)
end

-- ---- built-in tools ----

local HTTP_MAX_BYTES = 256 * 1024

M.define{
  name = "http_fetch",
  description = "Fetch a URL over HTTP(S) and return its status, content type and body (truncated).",
  parameters = { type = "object", additionalProperties = false, required = { "url" },
    properties = {
      url = { type = "string", description = "absolute http:// or https:// URL" },
      method = { type = "string", enum = { "GET", "POST", "HEAD" } },
      body = { type = "string" },
      max_bytes = { type = "integer", minimum = 1, maximum = HTTP_MAX_BYTES },
    } },
  handler = function(args, ctx)
    local limit = math.min(args.max_bytes or (ctx.http_max_bytes or 64 * 1024), HTTP_MAX_BYTES)
    local r = ai.http.request{ method = args.method or "GET", url = args.url, body = args.body,
      timeout = ctx.http_timeout or 15, max_bytes = limit * 4 }
    local body = r.body or ""
    local truncated = #body > limit
    if truncated then body = body:sub(1, limit) end
    return { status = r.status, content_type = r.headers and r.headers["content-type"],
      body = body, truncated = truncated }
  end,
}

-- kv tools live in the agent's namespace, not in the workflow-wide one.
local function agent_key(ctx, key)
  local agent = ctx.agent_id or (ai.task and ai.task.agent and ai.task.agent.id) or "local"
  return "agent/" .. agent .. "/" .. key
end

M.define{
  name = "kv_get",
  description = "Read a value this agent stored earlier under a key (null when absent).",
  parameters = { type = "object", additionalProperties = false, required = { "key" },
    properties = { key = { type = "string", minLength = 1, maxLength = 200 } } },
  handler = function(args, ctx)
    local v = ai.kv.get(agent_key(ctx, args.key))
    return { key = args.key, value = v }
  end,
}

M.define{
  name = "kv_put",
  description = "Store a JSON value under a key for this agent (durable).",
  parameters = { type = "object", additionalProperties = false, required = { "key", "value" },
    properties = { key = { type = "string", minLength = 1, maxLength = 200 }, value = {} } },
  handler = function(args, ctx)
    ai.kv.put(agent_key(ctx, args.key), args.value)
    return { stored = args.key }
  end,
}

-- Repository tools work on ctx.repo_root (from the agent's params): without it they refuse.
local function repo_root(ctx)
  if not ai.repo then ai.error{ kind = "not_supported", message = "repository tools are not available" } end
  if type(ctx.repo_root) ~= "string" then
    ai.error{ kind = "invalid", message = "no repository configured (agent params.repo_root)" }
  end
  return ctx.repo_root
end

M.define{
  name = "repo_scan",
  description = "List the files of the repository with size, language and line count.",
  parameters = { type = "object", additionalProperties = false, properties = {
    limit = { type = "integer", minimum = 1, maximum = 5000 } } },
  handler = function(args, ctx)
    local r = ai.repo.scan(repo_root(ctx), {})
    local files = {}
    for i, f in ipairs(r.files) do
      if i > (args.limit or 500) then break end
      files[#files + 1] = { path = f.path, language = f.language, lines = f.lines }
    end
    return { files = files, total = #r.files }
  end,
}

M.define{
  name = "repo_read",
  description = "Read lines of a file of the repository (1-based, inclusive).",
  parameters = { type = "object", additionalProperties = false, required = { "path" }, properties = {
    path = { type = "string" }, from = { type = "integer", minimum = 1 }, to = { type = "integer", minimum = 1 } } },
  handler = function(args, ctx)
    return ai.repo.read(repo_root(ctx), args.path, { from = args.from, to = args.to })
  end,
}

M.define{
  name = "repo_search",
  description = "Search the repository's files for a literal string; returns path, line and text.",
  parameters = { type = "object", additionalProperties = false, required = { "pattern" }, properties = {
    pattern = { type = "string", minLength = 1 }, glob = { type = "string" },
    limit = { type = "integer", minimum = 1, maximum = 1000 } } },
  handler = function(args, ctx)
    return ai.repo.search(repo_root(ctx), args.pattern, { plain = true, glob = args.glob, limit = args.limit or 50 })
  end,
}

M.define{
  name = "repo_patch",
  description = "Apply a unified diff to the repository atomically (all hunks or nothing).",
  parameters = { type = "object", additionalProperties = false, required = { "diff" }, properties = {
    diff = { type = "string", minLength = 1 }, dry_run = { type = "boolean" } } },
  handler = function(args, ctx)
    return ai.repo.patch(repo_root(ctx), args.diff, { dry_run = args.dry_run })
  end,
}

return M
