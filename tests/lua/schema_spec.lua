-- schema_spec.lua — ai.schema (validate, check, compile) through `agentai run`.
local T = require("agentai_test")

describe("ai.schema", function()
  local dir
  before_each(function() dir = T.tmpdir() end)
  after_each(function() T.cleanup() end)

  local function run(source)
    local path = T.workflow(dir, "wf.lua", 'local ai = require("agentai")\n' .. source)
    return T.run_workflow(path)
  end

  local TOOL = [[local TOOL = {type = "object", additionalProperties = false, required = {"city", "days"},
    properties = {city = {type = "string", minLength = 1, pattern = "^[A-Z]"},
                  days = {type = "integer", minimum = 1, maximum = 7},
                  units = {enum = {"metric", "imperial"}},
                  tags = {type = "array", items = {type = "string"}, maxItems = 2}}}
  ]]

  it("accepts valid tool arguments and reports every error with its path", function()
    local r = run(TOOL .. [[return function()
      local ok1 = ai.schema.validate(TOOL, {city = "Paris", days = 3, units = "metric", tags = {}})
      local ok2, errs = ai.schema.validate(TOOL, {city = "paris", days = 9.5, units = "kelvin",
                                                  tags = {"a", 2, "c"}, extra = true})
      return {ok1 = ok1, ok2 = ok2, errs = errs}
    end]])
    assert.are.equal(0, r.code, r.stderr)
    assert.is_true(r.json.ok1)
    assert.is_false(r.json.ok2)
    local got = {}
    for _, e in ipairs(r.json.errs) do got[#got + 1] = e.path .. " " .. e.message end
    assert.are.same({
      '/city does not match pattern "^[A-Z]"',
      "/days expected integer, got number",
      "/days must be <= 7, got 9.5",
      '/extra property "extra" is not allowed',
      "/tags/1 expected string, got number",
      "/tags expected at most 2 items, got 3",
      '/units must be one of ["metric","imperial"]',
    }, got)
  end)

  it("treats an empty table as an object and as an array", function()
    local r = run([[return function()
      return {arr = ai.schema.validate({type = "array"}, {}), obj = ai.schema.validate({type = "object"}, {}),
              str = ai.schema.validate({type = "string"}, {}), null = ai.schema.validate({type = "null"}, nil)}
    end]])
    assert.are.equal(0, r.code, r.stderr)
    assert.are.same({arr = true, obj = true, str = false, null = true}, r.json)
  end)

  it("compiles once and validates many times, with a max_errors option", function()
    local r = run([[return function()
      local s = ai.schema.compile({type = "array", items = {type = "integer"}})
      local bad = {}
      for i = 1, 30 do bad[i] = "x" end
      local _, e20 = s:validate(bad)
      local _, e3 = s:validate(bad, {max_errors = 3})
      return {good = s:validate({1, 2, 3}), n20 = #e20, n3 = #e3, name = tostring(s):match("^agentai.schema") ~= nil}
    end]])
    assert.are.equal(0, r.code, r.stderr)
    assert.are.same({good = true, n20 = 20, n3 = 3, name = true}, r.json)
  end)

  it("follows $defs references and stops $ref cycles", function()
    local r = run([[return function()
      local tree = {["$defs"] = {node = {type = "object", properties = {kids = {type = "array",
        items = {["$ref"] = "#/$defs/node"}}, v = {type = "integer"}}}}, ["$ref"] = "#/$defs/node"}
      local _, e = ai.schema.validate(tree, {v = 1, kids = {{v = 2}, {kids = {{v = "x"}}}}})
      local cyc = {["$defs"] = {a = {["$ref"] = "#/$defs/a"}}, ["$ref"] = "#/$defs/a"}
      local ok, ce = ai.schema.validate(cyc, 1)
      return {path = e[1].path, cyc_ok = ok, cyc = ce[1].message}
    end]])
    assert.are.equal(0, r.code, r.stderr)
    assert.are.equal("/kids/1/kids/0/v", r.json.path)
    assert.is_false(r.json.cyc_ok)
    assert.truthy(r.json.cyc:find("nesting deeper than", 1, true), r.json.cyc)
  end)

  it("check raises naming the bad keyword; validate and compile refuse bad schemas", function()
    local r = run([[return function()
      local res = {ok = ai.schema.check({type = "object", properties = {a = {type = "string"}}})}
      for name, fn in pairs({
        check = function() return ai.schema.check({properties = {a = {type = "strin"}}}) end,
        pattern = function() return ai.schema.check({pattern = "a("}) end,
        ref = function() return ai.schema.compile({["$ref"] = "#/$defs/nope"}) end,
        validate = function() return ai.schema.validate({minItems = -1}, {}) end,
        notschema = function() return ai.schema.check("string") end,
        value = function() return ai.schema.validate({}, {f = print}) end,
        opts = function() return ai.schema.validate({}, 1, {max_errors = 0}) end,
      }) do
        local ok, err = pcall(fn)
        res[name] = ok and "no error" or tostring(err)
      end
      return res
    end]])
    assert.are.equal(0, r.code, r.stderr)
    assert.is_true(r.json.ok)
    assert.truthy(r.json.check:find('invalid schema: /properties/a/type: unknown type "strin"', 1, true), r.json.check)
    assert.truthy(r.json.pattern:find("/pattern: invalid regular expression", 1, true), r.json.pattern)
    assert.truthy(r.json.ref:find('$ref "#/$defs/nope" points to nothing', 1, true), r.json.ref)
    assert.truthy(r.json.validate:find("/minItems:", 1, true), r.json.validate)
    assert.truthy(r.json.notschema:find("a schema must be a table or a boolean", 1, true), r.json.notschema)
    assert.truthy(r.json.value:find("value is not JSON-encodable", 1, true), r.json.value)
    assert.truthy(r.json.opts:find("max_errors", 1, true), r.json.opts)
  end)

  it("is read-only", function()
    local r = run([[return function() ai.schema.validate = nil end]])
    assert.are.equal(1, r.code)
    assert.truthy(r.stderr:find("read-only", 1, true), r.stderr)
  end)
end)
