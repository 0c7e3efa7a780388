-- keys_spec.lua — API keys on the real daemon: `agentai keys` while it runs, Bearer auth on /v1,
-- roles, revocation, expiry, the WebSocket upgrade and the non-loopback guard.
local T = require("agentai_test")

local function create(data, role, extra)
  local args = { "keys", "create", "--role", role, "--tenant", "default", "--data", data }
  for _, a in ipairs(extra or {}) do args[#args + 1] = a end
  local r = T.agentai(args)
  assert.are.equal(0, r.code, r.stderr)
  local secret = r.stdout:match("^(ak_%S+)\n$")
  assert.truthy(secret, "the secret alone on stdout: " .. r.stdout)
  return secret, r.stderr:match("created key (key_%w+)")
end

describe("API keys", function()
  local server
  local function url(path) return "http://127.0.0.1:" .. server.port .. path end
  local function req(method, path, key, body, headers)
    headers = headers or {}
    if key then headers["Authorization"] = "Bearer " .. key end
    if body then headers["Content-Type"] = "application/json" end
    return T.http(method, url(path), body, headers)
  end

  after_each(function()
    if server then server:stop() end
    server = nil
    T.cleanup()
  end)

  it("leaves /v1 open while no key exists, then needs a key made by the CLI meanwhile", function()
    local err
    server, err = T.serve()
    assert.truthy(server, err)
    assert.are.equal(200, req("GET", "/v1/agents").status)

    local admin, admin_id = create(server.data, "admin", { "--name", "ops" })
    assert.truthy(admin_id)
    -- without a key now: 401 with a challenge
    local r = req("GET", "/v1/agents")
    assert.are.equal(401, r.status, r.body)
    assert.are.equal("authentication_required", r.json.error.type)
    assert.truthy(r.headers["www-authenticate"]:find("Bearer", 1, true))
    -- the new secret works at once
    r = req("GET", "/v1/agents", admin)
    assert.are.equal(200, r.status, r.body)
    -- open endpoints stay open
    for _, p in ipairs({ "/healthz", "/readyz", "/version", "/metrics" }) do
      assert.are.equal(200, T.http("GET", url(p)).status, p)
    end
  end)

  it("answers malformed Authorization headers with clear 401s", function()
    local err
    server, err = T.serve()
    assert.truthy(server, err)
    local admin = create(server.data, "admin")
    local cases = {
      { "Basic dXNlcjpwYXNz", "Bearer scheme" },
      { "Bearer", "no key after Bearer" },
      { "Bearer a b", "exactly one key" },
      { "Bearer ak_nonsense", "malformed" },
      { "Bearer " .. admin:sub(1, -2) .. (admin:sub(-1) == "A" and "B" or "A"), "not valid" },
    }
    for _, c in ipairs(cases) do
      local r = T.http("GET", url("/v1/tasks"), nil, { Authorization = c[1] })
      assert.are.equal(401, r.status, c[1])
      assert.are.equal("invalid_api_key", r.json.error.type, c[1])
      assert.truthy(r.json.error.message:find(c[2], 1, true), r.json.error.message)
      assert.are.equal("Authorization", r.json.error.param)
      assert.truthy(r.headers["www-authenticate"]:find('error="invalid_token"', 1, true))
    end
    -- scheme is case-insensitive
    assert.are.equal(200, T.http("GET", url("/v1/tasks"), nil,
      { Authorization = "bearer " .. admin }).status)
  end)

  it("enforces roles: reader reads, operator cannot manage keys, admin can", function()
    local err
    server, err = T.serve()
    assert.truthy(server, err)
    local admin = create(server.data, "admin")
    local reader = create(server.data, "reader")
    local operator = create(server.data, "operator")

    assert.are.equal(200, req("GET", "/v1/agents", reader).status)
    local r = req("POST", "/v1/agents", reader, '{"workflow":"chat"}')
    assert.are.equal(403, r.status, r.body)
    assert.are.equal("forbidden", r.json.error.type)
    assert.truthy(r.json.error.message:find("reader role is read-only", 1, true), r.body)
    assert.truthy(r.json.error.message:find("POST /v1/agents", 1, true), r.body)

    r = req("GET", "/v1/keys", operator)
    assert.are.equal(403, r.status, r.body)
    assert.truthy(r.json.error.message:find("admin role", 1, true))
    assert.truthy(r.json.error.message:find("operator", 1, true))
    assert.are_not.equal(403, req("POST", "/v1/agents", operator, '{"workflow":"chat"}').status)

    -- the gateway takes any role
    r = req("GET", "/v1/models", reader)
    assert.are.equal(200, r.status, r.body)
    r = req("POST", "/v1/chat/completions", reader,
      '{"model":"mock-1","messages":[{"role":"user","content":"hi"}]}')
    assert.are.equal(200, r.status, r.body)

    -- admin lists keys: never a secret or a hash
    r = req("GET", "/v1/keys", admin)
    assert.are.equal(200, r.status, r.body)
    assert.are.equal(3, #r.json.data)
    assert.falsy(r.body:find("ak_", 1, true), r.body)
    assert.falsy(r.body:find("sha256", 1, true), r.body)
    for _, k in ipairs(r.json.data) do
      assert.truthy(k.id:match("^key_"))
      assert.truthy(k.role and k.tenant and k.created_at)
      assert.is_nil(k.secret)
    end
    local listed = T.agentai({ "keys", "list", "--data", server.data })
    assert.are.equal(0, listed.code, listed.stderr)
    assert.falsy(listed.stdout:find("ak_", 1, true))
    assert.falsy(listed.stdout:find("sha256", 1, true))
  end)

  it("creates and revokes keys through /v1/keys; revoked and expired keys get 401", function()
    local err
    server, err = T.serve()
    assert.truthy(server, err)
    local admin = create(server.data, "admin")
    local r = req("POST", "/v1/keys", admin, '{"role":"reader","tenant":"acme","name":"ci"}')
    assert.are.equal(201, r.status, r.body)
    local key, id = r.json.secret, r.json.id
    assert.truthy(key:match("^ak_"))
    assert.are.equal("reader", r.json.role)
    assert.are.equal("acme", r.json.tenant)
    assert.are.equal(200, req("GET", "/v1/tasks", key).status)
    r = req("GET", "/v1/keys/" .. id, admin)
    assert.are.equal(200, r.status, r.body)
    assert.is_nil(r.json.secret)
    assert.are.equal(1, #req("GET", "/v1/keys?tenant=acme", admin).json.data)

    r = req("POST", "/v1/keys", admin, '{"role":"root","tenant":"acme"}')
    assert.are.equal(400, r.status)
    assert.are.equal("role", r.json.error.param)
    r = req("POST", "/v1/keys", admin, '{"role":"reader","tenant":"a b"}')
    assert.are.equal(400, r.status)
    assert.are.equal("tenant", r.json.error.param)
    r = req("POST", "/v1/keys", admin, '{"role":"reader","tenant":"t","expires_in":"30"}')
    assert.are.equal(400, r.status)
    assert.are.equal("expires_in", r.json.error.param)

    r = req("DELETE", "/v1/keys/" .. id, admin)
    assert.are.equal(200, r.status, r.body)
    assert.truthy(r.json.revoked_at)
    r = req("GET", "/v1/tasks", key)
    assert.are.equal(401, r.status)
    assert.truthy(r.json.error.message:find("revoked", 1, true))
    assert.are.equal(404, req("DELETE", "/v1/keys/key_nope", admin).status)

    -- revoked by the CLI while the daemon runs: refused within the cache's lifetime
    local other, other_id = create(server.data, "reader")
    assert.are.equal(200, req("GET", "/v1/tasks", other).status)
    local rv = T.agentai({ "keys", "revoke", other_id, "--data", server.data })
    assert.are.equal(0, rv.code, rv.stderr)
    os.execute("sleep 1.2")
    assert.are.equal(401, req("GET", "/v1/tasks", other).status)

    -- expiry
    local short = create(server.data, "reader", { "--expires", "1s" })
    assert.are.equal(200, req("GET", "/v1/tasks", short).status)
    os.execute("sleep 1.2")
    r = req("GET", "/v1/tasks", short)
    assert.are.equal(401, r.status)
    assert.truthy(r.json.error.message:find("expired", 1, true))
  end)

  it("needs a key for the WebSocket once keys exist", function()
    local err
    server, err = T.serve()
    assert.truthy(server, err)
    local admin = create(server.data, "reader")
    local function upgrade(extra, query)
      local args = { "curl", "-s", "-o", "/dev/null", "-w", "'%{http_code}'", "--max-time", "3",
        "-H", "'Connection: Upgrade'", "-H", "'Upgrade: websocket'",
        "-H", "'Sec-WebSocket-Version: 13'", "-H", "'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=='" }
      if extra then args[#args + 1] = "-H " .. T.q(extra) end
      args[#args + 1] = T.q(url("/v1/ws" .. (query or "")))
      return tonumber(T.sh(table.concat(args, " ")).stdout)
    end
    assert.are.equal(401, upgrade())
    assert.are.equal(401, upgrade("Authorization: Bearer ak_wrong"))
    assert.are.equal(101, upgrade("Authorization: Bearer " .. admin))
    assert.are.equal(101, upgrade(nil, "?access_token=" .. admin))
  end)

  it("refuses to serve a non-loopback address without keys, naming the command", function()
    local dir = T.tmpdir()
    local r = T.agentai({ "serve", "--listen", "0.0.0.0:0", "--data", dir .. "/data" })
    assert.are.equal(1, r.code)
    assert.truthy(r.stderr:find("agentai keys create --role admin --tenant default --data", 1, true),
      r.stderr)
  end)

  it("refuses bad keys commands with usage status 2", function()
    local dir = T.tmpdir()
    assert.are.equal(2, T.agentai({ "keys", "create", "--tenant", "t", "--data", dir }).code)
    assert.are.equal(2, T.agentai({ "keys", "create", "--role", "admin", "--data", dir }).code)
    local r = T.agentai({ "keys", "create", "--role", "admin", "--tenant", "t", "--expires", "5",
      "--data", dir })
    assert.are.equal(2, r.code)
    assert.truthy(r.stderr:find("--expires", 1, true))
    assert.are.equal(2, T.agentai({ "keys", "frob", "--data", dir }).code)
    r = T.agentai({ "keys", "revoke", "key_01m88gn0fkctjd06nyffe57s2s", "--data", dir })
    assert.are.equal(1, r.code)
    assert.truthy(r.stderr:find("no key", 1, true))
  end)
end)
