-- library_spec.lua — the agentai Lua module (json, kv, llm, log, sleep, spawn/wait) through `agentai run`.
local T = require("agentai_test")

describe("require('agentai')", function()
  local dir
  before_each(function() dir = T.tmpdir() end)
  after_each(function() T.cleanup() end)

  local function run(source, input, opts)
    local path = T.workflow(dir, "wf.lua", 'local ai = require("agentai")\n' .. source)
    return T.run_workflow(path, input, opts)
  end

  describe("ai.json", function()
    it("round-trips null, empty arrays and empty objects", function()
      local r = run([[return function()
        local v = ai.json.decode('{"a":null,"b":[],"c":{},"d":[1,null,3]}')
        return { null_is_sentinel = v.a == ai.json.null, text = ai.json.encode(v),
                 forced = ai.json.encode(ai.json.array({})), plain = ai.json.encode({}) }
      end]])
      assert.are.equal(0, r.code, r.stderr)
      assert.is_true(r.json.null_is_sentinel)
      assert.are.equal('{"a":null,"b":[],"c":{},"d":[1,null,3]}', r.json.text)
      assert.are.equal("[]", r.json.forced)
      assert.are.equal("{}", r.json.plain)
    end)

    it("raises on malformed JSON with the position", function()
      local r = run([[return function() return ai.json.decode('{"a": tru}') end]])
      assert.are.equal(1, r.code)
      assert.truthy(r.stderr:find("json.decode:", 1, true), r.stderr)
    end)
  end)

  describe("ai.kv", function()
    it("stores JSON values durably across runs", function()
      local data = T.tmpdir()
      local put = run([[return function() ai.kv.put("user/1", {name = "Ada", tags = {"x"}}) return true end]],
        nil, { data = data })
      assert.are.equal(0, put.code, put.stderr)
      local get = run([[return function() return ai.kv.get("user/1") end]], nil, { data = data })
      assert.are.equal(0, get.code, get.stderr)
      assert.are.same({ name = "Ada", tags = { "x" } }, get.json)
    end)

    it("returns nil for a missing key and deletes", function()
      local r = run([[return function()
        ai.kv.put("k", 1)
        local before = ai.kv.get("k")
        ai.kv.delete("k")
        return { before = before, after = ai.kv.get("k") == nil, missing = ai.kv.get("nope") == nil }
      end]])
      assert.are.equal(0, r.code, r.stderr)
      assert.are.same({ before = 1, after = true, missing = true }, r.json)
    end)

    it("scans a prefix in key order, with limit, after and reverse", function()
      local r = run([[return function()
        for _, k in ipairs({"b/3", "a/1", "b/1", "b/2", "c/1"}) do ai.kv.put(k, k) end
        local keys = function(items) local t = {} for i, it in ipairs(items) do t[i] = it.key end return t end
        return {
          all = keys(ai.kv.scan("b/")),
          limited = keys(ai.kv.scan("b/", {limit = 2})),
          after = keys(ai.kv.scan("b/", {after = "b/1"})),
          reverse = keys(ai.kv.scan("b/", {reverse = true})),
          before = keys(ai.kv.scan("b/", {reverse = true, after = "b/3"})),
          value = ai.kv.scan("c/")[1].value,
        }
      end]])
      assert.are.equal(0, r.code, r.stderr)
      assert.are.same({ "b/1", "b/2", "b/3" }, r.json.all)
      assert.are.same({ "b/1", "b/2" }, r.json.limited)
      assert.are.same({ "b/2", "b/3" }, r.json.after)
      assert.are.same({ "b/3", "b/2", "b/1" }, r.json.reverse)
      assert.are.same({ "b/2", "b/1" }, r.json.before)
      assert.are.equal("c/1", r.json.value)
    end)

    it("rejects bad keys and values with a message", function()
      local r = run([[return function() ai.kv.put("", 1) end]])
      assert.are.equal(1, r.code)
      assert.truthy(r.stderr:find("key must be 1 to 400 bytes", 1, true), r.stderr)
      r = run([[return function() ai.kv.put("k", {f = print}) end]])
      assert.are.equal(1, r.code)
      assert.truthy(r.stderr:find("ai.kv.put: value is not JSON-encodable", 1, true), r.stderr)
    end)

    it("groups concurrent writers from spawned fibers", function()
      local r = run([[return function()
        local hs = {}
        for i = 1, 50 do hs[i] = ai.spawn(function() ai.kv.put("n/" .. string.format("%03d", i), i) return i end) end
        ai.wait(table.unpack(hs))
        return #ai.kv.scan("n/", {limit = 1000})
      end]])
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal(50, r.json)
    end)
  end)

  describe("ai.llm.chat", function()
    it("returns the canonical chat.completion table", function()
      local r = run([[return function()
        return ai.llm.chat{model = "mock-1", messages = {{role = "user", content = "ping"}}}
      end]])
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("chat.completion", r.json.object)
      assert.are.equal("ping", r.json.choices[1].message.content)
      assert.are.equal("stop", r.json.choices[1].finish_reason)
      assert.is_true(r.json.usage.total_tokens > 0)
    end)

    it("raises structured, catchable errors for provider failures", function()
      local r = run([[return function()
        local ok, e = pcall(ai.llm.chat, {messages = {{role = "user", content = "x"}},
          mock = {mode = "error", error = {kind = "rate_limited", retry_after_ms = 2500}}})
        return {ok = ok, kind = e.kind, retryable = e.retryable, retry_after = e.retry_after, text = tostring(e)}
      end]])
      assert.are.equal(0, r.code, r.stderr)
      assert.is_false(r.json.ok)
      assert.are.equal("rate_limited", r.json.kind)
      assert.is_true(r.json.retryable)
      assert.are.equal(2.5, r.json.retry_after)
      assert.truthy(r.json.text:find("wf.lua:3: rate_limited:", 1, true), r.json.text)
    end)

    it("fails the workflow with the error kind when uncaught", function()
      local r = run([[return function()
        return ai.llm.chat{messages = {{role = "user", content = "x"}}, mock = {mode = "error", error = {kind = "timeout"}}}
      end]])
      assert.are.equal(1, r.code)
      assert.truthy(r.stderr:find("workflow failed (timeout)", 1, true), r.stderr)
    end)

    it("names an unknown provider", function()
      local r = run([[return function() return ai.llm.chat{provider = "nope", messages = {}} end]])
      assert.are.equal(1, r.code)
      assert.truthy(r.stderr:find("no provider named 'nope' is loaded", 1, true), r.stderr)
    end)

    it("runs calls concurrently from spawned fibers", function()
      local r = run([[return function()
        local t0 = ai.now()
        local hs = {}
        for i = 1, 5 do
          hs[i] = ai.spawn(function()
            return ai.llm.chat{messages = {{role = "user", content = "m" .. i}}, mock = {latency_ms = 200}}.choices[1].message.content
          end)
        end
        local out = {ai.wait(table.unpack(hs))}
        return {out = out, elapsed = ai.now() - t0}
      end]])
      assert.are.equal(0, r.code, r.stderr)
      assert.are.same({ "m1", "m2", "m3", "m4", "m5" }, r.json.out)
      assert.is_true(r.json.elapsed < 0.6, "5 calls of 200 ms took " .. r.json.elapsed)
    end)

    it("streams chunks to on_delta and still returns the whole response", function()
      local r = run([[return function()
        local parts, roles = {}, 0
        local resp = ai.llm.chat{model = "mock-1", messages = {{role = "user", content = "one two three"}},
          on_delta = function(chunk)
            local d = chunk.choices[1] and chunk.choices[1].delta or {}
            if d.role then roles = roles + 1 end
            if d.content then parts[#parts + 1] = d.content end
          end}
        return {joined = table.concat(parts), n = #parts, roles = roles,
                content = resp.choices[1].message.content}
      end]])
      assert.are.equal(0, r.code, r.stderr)
      assert.are.equal("one two three", r.json.joined)
      assert.are.equal("one two three", r.json.content)
      assert.is_true(r.json.n >= 3, "chunks: " .. r.json.n)
      assert.are.equal(1, r.json.roles)
    end)

    it("raises on_delta's own error at the call, and refuses a non-function", function()
      local r = run([[return function()
        local ok, e = pcall(ai.llm.chat, {model = "mock-1", cache = false,
          messages = {{role = "user", content = "a b"}},
          on_delta = function() error("stop here") end})
        local ok2, e2 = pcall(ai.llm.chat, {model = "mock-1", messages = {}, on_delta = 5})
        return {ok = ok, e = tostring(e), ok2 = ok2, e2 = tostring(e2)}
      end]])
      assert.are.equal(0, r.code, r.stderr)
      assert.is_false(r.json.ok)
      assert.truthy(r.json.e:find("stop here", 1, true), r.json.e)
      assert.is_false(r.json.ok2)
      assert.truthy(r.json.e2:find("on_delta must be a function", 1, true), r.json.e2)
    end)
  end)

  describe("ai.spawn / ai.wait", function()
    it("re-raises a spawned function's error in the waiter", function()
      local r = run([[return function()
        local h = ai.spawn(function() error("step failed") end)
        local ok, e = pcall(ai.wait, h)
        return {ok = ok, err = tostring(e)}
      end]])
      assert.are.equal(0, r.code, r.stderr)
      assert.is_false(r.json.ok)
      assert.truthy(r.json.err:find("wf.lua:3: step failed", 1, true), r.json.err)
    end)

    it("refuses yielding bindings inside coroutine.wrap", function()
      local r = run([[return function() return coroutine.wrap(function() ai.sleep(0.01) end)() end]])
      assert.are.equal(1, r.code)
      assert.truthy(r.stderr:find("ai.sleep must be called from a workflow or an ai.spawn function", 1, true), r.stderr)
    end)

    it("validates ai.sleep's argument", function()
      local r = run([[return function() ai.sleep(-1) end]])
      assert.are.equal(1, r.code)
      assert.truthy(r.stderr:find("seconds must be between 0 and one year", 1, true), r.stderr)
    end)
  end)

  describe("ai.log", function()
    it("writes structured JSON lines on stderr with the source position", function()
      local r = run([[return function() ai.log.warn("disk low", {free_mb = 12}) return true end]])
      assert.are.equal(0, r.code, r.stderr)
      local line = r.stderr:match('[^\n]*"msg":"disk low"[^\n]*')
      assert.truthy(line, r.stderr)
      local entry = T.decode(line)
      assert.are.equal("warn", entry.level)
      assert.are.equal(12, entry.free_mb)
      assert.truthy(entry.src:find("wf.lua:2", 1, true))
    end)
  end)
end)
