-- gateway_spec.lua — the OpenAI-compatible gateway and the model router on the real daemon with
-- the mock provider: responses and SSE streams, the cache, retries, fallbacks, cooldowns, and
-- the OpenAI error envelope for every refusal.
local T = require("agentai_test")

local CONFIG = [[
[llm]
retries = 1
retry_base_ms = 1
retry_max_ms = 50
cooldown_failures = 4
cooldown_window_ms = 60000
cooldown_ms = 60000
default_provider = "mock"

[llm.models.primary]
deployments = [ { provider = "mock", model = "mock-1", params = { mock = { mode = "error", error = { kind = "server_error", message = "primary is down" } } } } ]
fallbacks = ["backup"]

[llm.models.backup]
deployments = [ { provider = "mock", model = "mock-echo" } ]

[llm.models.limited]
deployments = [ { provider = "mock", model = "mock-1", params = { mock = { mode = "error", error = { kind = "rate_limited", retry_after_ms = 7000 } } } } ]

[llm.models.doomed]
deployments = [ { provider = "mock", model = "mock-1", params = { mock = { mode = "error", error = { kind = "timeout" } } } } ]
]]

describe("the OpenAI-compatible gateway", function()
  local server
  local function url(path) return "http://127.0.0.1:" .. server.port .. path end
  local function chat(body, headers)
    local h = { ["Content-Type"] = "application/json" }
    for k, v in pairs(headers or {}) do h[k] = v end
    return T.http("POST", url("/v1/chat/completions"), body, h)
  end
  local function metric(name, labels)
    local text = T.http("GET", url("/metrics")).body
    for line in text:gmatch("[^\n]+") do
      if line:sub(1, #name) == name and line:find(labels, 1, true) then
        return tonumber(line:match("(%S+)$"))
      end
    end
    return 0
  end

  setup(function()
    local dir = T.tmpdir()
    T.write_file(dir .. "/agentai.toml", CONFIG)
    local err
    server, err = T.serve({ "--config", dir .. "/agentai.toml" })
    assert.truthy(server, err)
  end)
  teardown(function()
    if server then server:stop() end
    T.cleanup()
  end)

  it("answers a chat completion and then the same request from the cache", function()
    local body = '{"model":"mock-1","messages":[{"role":"user","content":"cache me please"}]}'
    local r = chat(body)
    assert.are.equal(200, r.status, r.body)
    assert.are.equal("chat.completion", r.json.object)
    assert.are.equal("cache me please", r.json.choices[1].message.content)
    assert.are.equal("miss", r.headers["x-agentai-cache"])
    assert.are.equal("mock", r.headers["x-agentai-provider"])
    assert.truthy(tonumber(r.headers["x-agentai-overhead-ms"]), "overhead header")
    assert.truthy(r.headers["x-request-id"])
    -- Same request with members in another order and stream options: same cache entry.
    local again = chat('{"messages":[{"content":"cache me please","role":"user"}],"model":"mock-1","user":"u1"}')
    assert.are.equal(200, again.status, again.body)
    assert.are.equal("hit", again.headers["x-agentai-cache"])
    assert.are.equal("cache", again.headers["x-agentai-provider"])
    assert.are.equal(r.json.id, again.json.id)
    -- Bypass goes to the provider again.
    local fresh = chat(body, { ["x-agentai-cache"] = "bypass" })
    assert.are.equal("bypass", fresh.headers["x-agentai-cache"])
    assert.are.equal("mock", fresh.headers["x-agentai-provider"])
  end)

  it("does not cache a request with a non-zero temperature", function()
    local body = '{"model":"mock-1","temperature":0.7,"messages":[{"role":"user","content":"vary"}]}'
    assert.are.equal("miss", chat(body).headers["x-agentai-cache"])
    assert.are.equal("miss", chat(body).headers["x-agentai-cache"])
  end)

  it("streams Server-Sent Events ending with [DONE], and replays a cached answer as a stream", function()
    local body = '{"model":"mock-1","stream":true,"messages":[{"role":"user","content":"stream these words"}]}'
    for round = 1, 2 do
      local r = chat(body)
      assert.are.equal(200, r.status, r.body)
      assert.truthy(r.headers["content-type"]:find("text/event-stream", 1, true))
      local text, done = "", false
      for data in r.body:gmatch("data: ([^\n]+)\n\n") do
        if data == "[DONE]" then
          done = true
        else
          local chunk = T.decode(data)
          assert.are.equal("chat.completion.chunk", chunk.object)
          for _, c in ipairs(chunk.choices) do
            text = text .. (c.delta.content or "")
          end
        end
      end
      assert.is_true(done, "stream " .. round .. " ends with [DONE]")
      assert.are.equal("stream these words", text)
    end
  end)

  it("retries, then falls back to the next group when a deployment fails", function()
    local before = metric("agentai_llm_fallbacks_total", 'model="primary"')
    local r = chat('{"model":"primary","messages":[{"role":"user","content":"fall back"}]}')
    assert.are.equal(200, r.status, r.body)
    assert.are.equal("fall back", r.json.choices[1].message.content)
    assert.are.equal("mock-echo", r.json.model)
    assert.are.equal(before + 1, metric("agentai_llm_fallbacks_total", 'model="primary"'))
    assert.truthy(metric("agentai_llm_retries_total", 'provider="mock",model="mock-1"') >= 1)
  end)

  it("cools a failing deployment down and then skips it without trying", function()
    -- Each call fails twice (one retry): after two calls the deployment has 4 failures.
    for _ = 1, 2 do
      chat('{"model":"primary","messages":[{"role":"user","content":"again"}]}')
    end
    assert.truthy(metric("agentai_llm_cooldowns_total", 'provider="mock",model="mock-1"') >= 1)
    local retries = metric("agentai_llm_retries_total", 'provider="mock",model="mock-1"')
    local r = chat('{"model":"primary","messages":[{"role":"user","content":"skip it"}]}')
    assert.are.equal(200, r.status, r.body)
    assert.are.equal("skip it", r.json.choices[1].message.content)
    assert.are.equal(retries, metric("agentai_llm_retries_total", 'provider="mock",model="mock-1"'))
  end)

  it("maps a rate limit to 429 with Retry-After and the OpenAI error envelope", function()
    local r = chat('{"model":"limited","messages":[{"role":"user","content":"x"}]}')
    assert.are.equal(429, r.status, r.body)
    assert.are.equal("7", r.headers["retry-after"])
    assert.are.equal("rate_limit_error", r.json.error.type)
    assert.are.equal("rate_limit_exceeded", r.json.error.code)
    assert.truthy(r.json.error.message)
  end)

  it("maps an upstream timeout to 504", function()
    local r = chat('{"model":"doomed","messages":[{"role":"user","content":"x"}]}')
    assert.are.equal(504, r.status, r.body)
    assert.are.equal("timeout_error", r.json.error.type)
  end)

  it("refuses bad requests with the OpenAI error envelope naming what is wrong", function()
    local cases = {
      { '{"model":"mock-1","messages":[', 400, nil, "invalid_json" },
      { '{"messages":[{"role":"user","content":"x"}]}', 400, "model" },
      { '{"model":"mock-1"}', 400, "messages" },
      { '{"model":"mock-1","messages":[]}', 400, "messages" },
      { '{"model":"mock-1","messages":["hi"]}', 400, "messages" },
      { '{"model":"mock-1","stream":"yes","messages":[{"role":"user","content":"x"}]}', 400, "stream" },
      { '[1,2]', 400 },
      { '{"model":"no-such-model","messages":[{"role":"user","content":"x"}]}', 404 },
    }
    for _, c in ipairs(cases) do
      local r = chat(c[1])
      assert.are.equal(c[2], r.status, c[1] .. " -> " .. r.body)
      assert.truthy(r.json and r.json.error and r.json.error.message, r.body)
      assert.truthy(r.json.error.type, r.body)
      if c[3] then assert.are.equal(c[3], r.json.error.param, r.body) end
      if c[4] then assert.are.equal(c[4], r.json.error.code, r.body) end
    end
    local get = T.http("GET", url("/v1/chat/completions"))
    assert.are.equal(405, get.status)
    assert.are.equal("POST", get.headers["allow"])
    local emb = T.http("POST", url("/v1/embeddings"), '{"model":"mock-1","input":"x"}',
      { ["Content-Type"] = "application/json" })
    assert.are.equal(400, emb.status, emb.body)
    assert.truthy(emb.json.error.message:find("does not serve embeddings", 1, true), emb.body)
    local noinput = T.http("POST", url("/v1/embeddings"), '{"model":"mock-1"}',
      { ["Content-Type"] = "application/json" })
    assert.are.equal("input", noinput.json.error.param)
  end)

  it("lists the model groups and the providers' models", function()
    local r = T.http("GET", url("/v1/models"))
    assert.are.equal(200, r.status, r.body)
    assert.are.equal("list", r.json.object)
    local ids = {}
    for _, m in ipairs(r.json.data) do ids[m.id] = m.owned_by end
    assert.are.equal("agentai", ids.primary)
    assert.are.equal("agentai", ids.backup)
    assert.are.equal("mock", ids["mock-1"])
    local one = T.http("GET", url("/v1/models/backup"))
    assert.are.equal(200, one.status)
    assert.are.equal("backup", one.json.id)
    local none = T.http("GET", url("/v1/models/nope"))
    assert.are.equal(404, none.status)
    assert.are.equal("model_not_found", none.json.error.code)
  end)

  it("keeps cached answers across a restart", function()
    local body = '{"model":"mock-1","messages":[{"role":"user","content":"persist me"}]}'
    assert.are.equal("miss", chat(body).headers["x-agentai-cache"])
    server:stop()
    local dir = T.tmpdir()
    T.write_file(dir .. "/agentai.toml", CONFIG)
    local err
    server, err = T.serve({ "--config", dir .. "/agentai.toml" }, nil, server.data)
    assert.truthy(server, err)
    assert.are.equal("hit", chat(body).headers["x-agentai-cache"])
  end)
end)
