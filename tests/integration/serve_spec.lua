-- serve_spec.lua — the real daemon over HTTP: health, readiness, version, errors, clean shutdown.
local T = require("agentai_test")

describe("agentai serve", function()
  local server
  setup(function()
    local err
    server, err = T.serve()
    assert.truthy(server, err)
  end)
  teardown(function()
    if server then server:stop("KILL") end
    T.cleanup()
  end)

  local function url(path) return "http://127.0.0.1:" .. server.port .. path end

  it("answers GET /healthz", function()
    local r = T.http("GET", url("/healthz"))
    assert.are.equal(200, r.status)
    assert.are.equal("ok", r.json.status)
    assert.truthy(r.headers["content-type"]:find("application/json", 1, true))
    assert.truthy(r.headers["x-request-id"])
  end)

  it("answers GET /readyz with the storage and plugin checks", function()
    local r = T.http("GET", url("/readyz"))
    assert.are.equal(200, r.status, r.body)
    assert.are.equal("ready", r.json.status)
    assert.is_true(r.json.checks.storage.ok)
    assert.are.equal("lmdb", r.json.checks.storage.backend)
    assert.is_true(r.json.checks.plugins.ok)
    local names = table.concat(r.json.checks.plugins.loaded, ",")
    assert.truthy(names:find("storage-lmdb", 1, true), names)
    assert.truthy(names:find("provider-mock", 1, true), names)
    -- The embedded default registers each provider plugin's default provider.
    local providers = r.json.checks.plugins.providers
    table.sort(providers)
    assert.are.same({ "mock", "ollama", "openai" }, providers)
  end)

  it("answers GET /version", function()
    local r = T.http("GET", url("/version"))
    assert.are.equal(200, r.status)
    assert.truthy(r.json.version:match("^%d+%.%d+%.%d+$"))
    assert.are.equal("1.1", r.json.abi)
    assert.truthy(r.json.lua:find("Lua 5.4", 1, true))
  end)

  it("echoes a client X-Request-Id", function()
    local r = T.http("GET", url("/healthz"), nil, { ["X-Request-Id"] = "req-from-client-42" })
    assert.are.equal("req-from-client-42", r.headers["x-request-id"])
  end)

  it("answers unknown paths with the JSON error envelope", function()
    local r = T.http("GET", url("/nope"))
    assert.are.equal(404, r.status)
    assert.are.equal("not_found", r.json.error.type)
    assert.truthy(r.json.error.message:find("/nope", 1, true))
    assert.are.equal(r.headers["x-request-id"], r.json.error.request_id)
  end)

  it("refuses other methods on the health endpoints", function()
    local r = T.http("POST", url("/healthz"), "{}")
    assert.are.equal(405, r.status)
    assert.are.equal("method_not_allowed", r.json.error.type)
  end)
end)

describe("agentai serve lifecycle", function()
  after_each(function() T.cleanup() end)

  it("stops cleanly on SIGTERM and on SIGINT", function()
    for _, sig in ipairs({ "TERM", "INT" }) do
      local server = assert(T.serve())
      assert.is_true(server:stop(sig))
      local log = server:log()
      assert.truthy(log:find('"msg":"stopped"', 1, true), log)
      assert.falsy(log:find("ERROR: AddressSanitizer", 1, true), log)
    end
  end)

  it("refuses to start when the port is taken, naming the address", function()
    local first = assert(T.serve())
    local r = T.agentai({ "serve", "--listen", "127.0.0.1:" .. first.port, "--data", T.tmpdir() })
    first:stop()
    assert.are.equal(1, r.code)
    assert.truthy(r.stderr:find("cannot listen on 127.0.0.1:" .. first.port, 1, true), r.stderr)
  end)

  it("does not start when a configured plugin fails to load", function()
    local dir = T.tmpdir()
    T.write_file(dir .. "/bad.toml", '[plugins]\nload = ["' .. T.build_dir .. '/tests/plugins/abi_major.so"]\n')
    local r = T.agentai({ "serve", "--config", dir .. "/bad.toml", "--listen", "127.0.0.1:0", "--data", dir .. "/data" })
    assert.are.equal(1, r.code)
    assert.truthy(r.stderr:find("is incompatible with host ABI", 1, true), r.stderr)
    assert.falsy(r.stderr:find('"msg":"listening"', 1, true))
  end)

  it("does not start on a malformed configuration, naming file and line", function()
    local dir = T.tmpdir()
    T.write_file(dir .. "/bad.toml", '[server]\nlisten = "127.0.0.1:0"\nlisen = 1\n')
    local r = T.agentai({ "serve", "--config", dir .. "/bad.toml" })
    assert.are.equal(1, r.code)
    assert.truthy(r.stderr:find(dir .. "/bad.toml:3:", 1, true), r.stderr)
    assert.truthy(r.stderr:find("lisen", 1, true), r.stderr)
  end)

  it("honours AGENTAI_LISTEN and AGENTAI_DATA", function()
    local dir = T.tmpdir()
    local server = assert(T.serve({}, { AGENTAI_DATA = dir .. "/envdata" }))
    local r = T.http("GET", "http://127.0.0.1:" .. server.port .. "/readyz")
    server:stop()
    assert.are.equal(200, r.status)
    -- --data on the command line wins over the environment
    assert.falsy(io.open(dir .. "/envdata/lmdb/data.mdb"))
  end)

  it("reports a data folder that is not a folder", function()
    local dir = T.tmpdir()
    T.write_file(dir .. "/file", "x")
    local r = T.agentai({ "serve", "--listen", "127.0.0.1:0", "--data", dir .. "/file" })
    assert.are.equal(1, r.code)
    assert.truthy(r.stderr:find(dir .. "/file", 1, true), r.stderr)
  end)
end)
