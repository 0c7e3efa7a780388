-- agentai_test.lua — helpers for busted specs that drive the real agentai binary and daemon.
local M = {}

M.bin = os.getenv("AGENTAI_BIN") or "build/agentai"
M.source_dir = os.getenv("AGENTAI_SOURCE_DIR") or "."
M.build_dir = os.getenv("AGENTAI_BUILD_DIR") or "build"

--- Quotes a string for the shell.
function M.q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

--- Escapes Lua pattern magic characters so s matches literally.
function M.escape(s)
  return (s:gsub("[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0"))
end

function M.read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

function M.write_file(path, content)
  local f = assert(io.open(path, "wb"))
  f:write(content)
  f:close()
end

--- A fresh temporary folder, removed by M.cleanup().
local temps = {}
function M.tmpdir()
  local p = io.popen("mktemp -d /tmp/agentai-spec.XXXXXX")
  local dir = p:read("l")
  p:close()
  temps[#temps + 1] = dir
  return dir
end

function M.cleanup()
  for _, dir in ipairs(temps) do
    os.execute("rm -rf " .. M.q(dir))
  end
  temps = {}
end

--- Runs a shell command line; returns {code, stdout, stderr}.
function M.sh(cmdline, env)
  local out, err = os.tmpname(), os.tmpname()
  local prefix = ""
  for k, v in pairs(env or {}) do
    prefix = prefix .. k .. "=" .. M.q(v) .. " "
  end
  local _, _, code = os.execute(prefix .. cmdline .. " >" .. out .. " 2>" .. err)
  local r = { code = code, stdout = M.read_file(out) or "", stderr = M.read_file(err) or "" }
  os.remove(out)
  os.remove(err)
  return r
end

--- Runs `agentai ARGS...` (each argument quoted).
function M.agentai(args, env)
  local parts = { M.q(M.bin) }
  for _, a in ipairs(args) do
    parts[#parts + 1] = M.q(a)
  end
  return M.sh(table.concat(parts, " "), env)
end

--- Runs a workflow file with `agentai run` in its own data folder and
--- decodes the JSON result (nil when the run failed).
function M.run_workflow(path, input, opts)
  opts = opts or {}
  local args = { "run", path, "--data", opts.data or M.tmpdir() }
  if input ~= nil then
    args[#args + 1] = "--input"
    args[#args + 1] = input
  end
  local r = M.agentai(args, opts.env)
  r.json = r.code == 0 and M.decode(r.stdout) or nil
  return r
end

-- A small JSON decoder, enough to read results in specs without sharing
-- code with the runtime under test.
local function decoder(s)
  local pos = 1
  local function ws() pos = s:find("[^ \t\r\n]", pos) or #s + 1 end
  local value
  local function str()
    local out, i = {}, pos + 1
    while true do
      local c = s:sub(i, i)
      if c == '"' then pos = i + 1; return table.concat(out) end
      if c == "\\" then
        local e = s:sub(i + 1, i + 1)
        local map = { n = "\n", t = "\t", r = "\r", b = "\b", f = "\f", ["/"] = "/", ["\\"] = "\\", ['"'] = '"' }
        if e == "u" then
          out[#out + 1] = utf8.char(tonumber(s:sub(i + 2, i + 5), 16)); i = i + 6
        else
          out[#out + 1] = map[e]; i = i + 2
        end
      elseif c == "" then error("unterminated string")
      else out[#out + 1] = c; i = i + 1 end
    end
  end
  function value()
    ws()
    local c = s:sub(pos, pos)
    if c == "{" then
      local t = {}; pos = pos + 1; ws()
      if s:sub(pos, pos) == "}" then pos = pos + 1; return t end
      while true do
        ws(); local k = str(); ws(); pos = pos + 1
        t[k] = value(); ws()
        local d = s:sub(pos, pos); pos = pos + 1
        if d == "}" then return t end
      end
    elseif c == "[" then
      local t = {}; pos = pos + 1; ws()
      if s:sub(pos, pos) == "]" then pos = pos + 1; return t end
      while true do
        t[#t + 1] = value(); ws()
        local d = s:sub(pos, pos); pos = pos + 1
        if d == "]" then return t end
      end
    elseif c == '"' then return str()
    elseif s:sub(pos, pos + 3) == "true" then pos = pos + 4; return true
    elseif s:sub(pos, pos + 4) == "false" then pos = pos + 5; return false
    elseif s:sub(pos, pos + 3) == "null" then pos = pos + 4; return M.null
    else
      local num = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
      pos = pos + #num
      return math.tointeger(tonumber(num)) or tonumber(num)
    end
  end
  return value()
end
M.null = setmetatable({}, { __tostring = function() return "null" end })

function M.decode(s)
  local ok, v = pcall(decoder, s)
  return ok and v or nil
end

--- Writes a workflow file with the given Lua source into dir; returns its path.
function M.workflow(dir, name, source)
  local path = dir .. "/" .. name
  M.write_file(path, source)
  return path
end

--- Starts `agentai serve` on an ephemeral port; returns a handle with
--- .port, .pid, .data, :stop(signal), :log(). Waits until it listens.
--- data: the data folder to use (default: a fresh one), so a restart can
--- reopen the same one.
function M.serve(extra_args, env, data)
  local dir = M.tmpdir()
  local log = dir .. "/serve.log"
  data = data or (dir .. "/data")
  local args = { "serve", "--listen", "127.0.0.1:0", "--data", data }
  for _, a in ipairs(extra_args or {}) do args[#args + 1] = a end
  local parts = {}
  for k, v in pairs(env or {}) do parts[#parts + 1] = k .. "=" .. M.q(v) end
  parts[#parts + 1] = M.q(M.bin)
  for _, a in ipairs(args) do parts[#parts + 1] = M.q(a) end
  local p = io.popen(table.concat(parts, " ") .. " >" .. dir .. "/serve.out 2>" .. log .. " & echo $!")
  local pid = tonumber(p:read("l"))
  p:close()
  local server = { pid = pid, dir = dir, logfile = log, data = data }
  function server:log() return M.read_file(self.logfile) or "" end
  function server:alive() return os.execute("kill -0 " .. self.pid .. " 2>/dev/null") == true end
  function server:stop(signal)
    os.execute("kill -" .. (signal or "TERM") .. " " .. self.pid .. " 2>/dev/null")
    -- wait for exit and collect the status from the shell's wait
    for _ = 1, 200 do
      if not self:alive() then return true end
      os.execute("sleep 0.05")
    end
    return false
  end
  for _ = 1, 200 do
    local port = server:log():match('"msg":"listening"[^\n]*"port":(%d+)')
    if port then server.port = tonumber(port); return server end
    if not server:alive() then return nil, server:log() end
    os.execute("sleep 0.05")
  end
  server:stop("KILL")
  return nil, "server did not start: " .. server:log()
end

--- HTTP request with curl; returns {status, body, headers, json}.
function M.http(method, url, body, headers)
  local dir = M.tmpdir()
  local args = { "curl", "-s", "-X", M.q(method), "-o", dir .. "/body", "-D", dir .. "/headers",
    "-w", "'%{http_code}'", "--max-time", "10" }
  for k, v in pairs(headers or {}) do
    args[#args + 1] = "-H " .. M.q(k .. ": " .. v)
  end
  if body then
    M.write_file(dir .. "/req", body)
    args[#args + 1] = "--data-binary @" .. dir .. "/req"
  end
  args[#args + 1] = M.q(url)
  local r = M.sh(table.concat(args, " "))
  local res = { status = tonumber(r.stdout), body = M.read_file(dir .. "/body") or "", headers = {} }
  for line in (M.read_file(dir .. "/headers") or ""):gmatch("[^\r\n]+") do
    local k, v = line:match("^([^:]+):%s*(.*)$")
    if k then res.headers[k:lower()] = v end
  end
  res.json = M.decode(res.body)
  return res
end

return M
