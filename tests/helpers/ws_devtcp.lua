-- ws_devtcp.lua — a WebSocket client for specs that shares no code with the server: bash's /dev/tcp sends, Lua reads the frames.
local T = require("agentai_test")

local M = {}

-- $1 port, $2 output file, $3 request target, then the messages; SLEEP waits half a second.
-- Frames are masked with mask 0, so the payload goes as is; a message must stay under 126 bytes.
local SCRIPT = [[
exec 3<>/dev/tcp/127.0.0.1/$1 || exit 1
out=$2; target=$3; shift 3
printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' "$target" >&3
printf 'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n' >&3
for m in "$@"; do
  if [ "$m" = SLEEP ]; then sleep 0.5; continue; fi
  printf "\\x81\\x$(printf %02x $((128 + ${#m})))\\x00\\x00\\x00\\x00" >&3
  printf '%s' "$m" >&3
done
timeout 1 cat <&3 >"$out"
exit 0
]]

--- Opens a WebSocket to 127.0.0.1:port at target, sends messages (each under 126 bytes, or
--- "SLEEP" to wait half a second), and reads for one second after the last. Uses dir for the
--- script and the answer. Returns the T.sh result of the client and the raw bytes received.
function M.exchange(dir, port, target, messages)
  T.write_file(dir .. "/ws.sh", SCRIPT)
  local args = { "bash", T.q(dir .. "/ws.sh"), tostring(port), T.q(dir .. "/ws.out"), T.q(target) }
  for _, m in ipairs(messages) do args[#args + 1] = T.q(m) end
  local r = T.sh(table.concat(args, " "))
  return r, T.read_file(dir .. "/ws.out") or ""
end

--- The headers of an HTTP answer head, names in lower case.
function M.headers(head)
  local headers = {}
  for k, v in head:gmatch("([^\r\n:]+):%s*([^\r\n]*)") do headers[k:lower()] = v end
  return headers
end

--- The payloads of the text frames in the server's frames, or nil and why when a frame is
--- truncated, masked or longer than this client reads (64 KiB).
function M.text_messages(frames)
  local msgs, i = {}, 1
  while i <= #frames do
    local b1, b2 = frames:byte(i, i + 1)
    if not (b1 and b2) then return nil, "a truncated frame" end
    local len, at = b2 & 0x7f, i + 2
    if len == 126 then len = (frames:byte(at) << 8) | frames:byte(at + 1); at = at + 2
    elseif len == 127 then return nil, "a frame over 64 KiB in this exchange" end
    if b2 & 0x80 ~= 0 then return nil, "the server masked a frame" end
    if b1 & 0x0f == 1 then msgs[#msgs + 1] = frames:sub(at, at + len - 1) end
    i = at + len
  end
  return msgs
end

return M
