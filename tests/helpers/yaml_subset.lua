-- yaml_subset.lua — reads the block-style YAML subset docs/openapi.yaml is written in, and refuses
-- everything else with the line that uses it, so a spec never checks a document it misread.
--
-- Read: block mappings and sequences (also "- key: value" items), plain, 'single' and
-- "double" quoted scalars, literal blocks (| |- |+), flow sequences of scalars ([a, 'b']),
-- the empty flow collections {} and [], and # comments. Plain scalars resolve as in YAML 1.2's
-- core schema (null ~, true/false, integers, floats); keys stay strings, and a plain key that
-- would resolve to something else must be quoted ('200':).
-- Refused: tabs in indentation, documents markers and directives, anchors, aliases, tags,
-- complex keys, folded blocks, flow mappings with content, nested flow collections, multi-line
-- plain or quoted scalars, duplicate keys.
--
-- M.parse(text, name) returns the value, or nil and "name:LINE: why". Mappings and sequences
-- are tables with a metatable saying which (M.kind), the keys in document order (M.keys) and the
-- line of each key or item (M.line); dkjson encodes them (and M.null) as the JSON they mean.
local M = {}

--- The value of null (a plain `null`, `~` or nothing).
M.null = setmetatable({}, { __tostring = function() return "null" end, __name = "yaml.null",
  __tojson = function() return "null" end })

-- __jsontype and __jsonorder let dkjson encode a value read here as the same JSON.
local function new(kind)
  local keys = {}
  return setmetatable({}, { yaml = kind, keys = keys, lines = {},
    __jsontype = kind == "map" and "object" or "array", __jsonorder = keys })
end

--- "map" or "seq" for a table the reader made, else nil.
function M.kind(t)
  local mt = type(t) == "table" and getmetatable(t)
  return type(mt) == "table" and mt.yaml or nil
end

--- The keys of a mapping in document order (a copy).
function M.keys(t)
  local mt = getmetatable(t)
  local out = {}
  for i, k in ipairs(mt and mt.keys or {}) do out[i] = k end
  return out
end

--- The line a key of a mapping (or an index of a sequence) was read from, or nil.
function M.line(t, key)
  local mt = type(t) == "table" and getmetatable(t)
  return type(mt) == "table" and mt.lines and mt.lines[key] or nil
end

local function resolve_plain(s)
  if s == "" or s == "~" or s == "null" or s == "Null" or s == "NULL" then return M.null end
  if s == "true" or s == "True" or s == "TRUE" then return true end
  if s == "false" or s == "False" or s == "FALSE" then return false end
  if s:match("^[-+]?%d+$") then return math.tointeger(tonumber(s)) or tonumber(s) end
  if s:match("^[-+]?%.%d+$") or s:match("^[-+]?%d+%.%d*$") or s:match("^[-+]?%.?%d+[eE][-+]?%d+$")
      or s:match("^[-+]?%d+%.%d*[eE][-+]?%d+$") or s:match("^[-+]?%.%d+[eE][-+]?%d+$") then
    return tonumber(s)
  end
  if s:match("^0[xo]") or s:match("^[-+]?%.[iI][nN][fF]$") or s:match("^%.[nN][aA][nN]$") then
    return nil -- would resolve to a number this reader does not produce
  end
  return s
end

function M.parse(text, name)
  name = name or "yaml"
  local lines = {}
  local n = 0
  for raw in (text .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    raw = raw:gsub("\r$", "")
    local lead = raw:match("^[ \t]*")
    local body = raw:sub(#lead + 1)
    local blank = body == "" or body:sub(1, 1) == "#"
    lines[n] = { raw = raw, no = n, indent = #lead, content = body, blank = blank,
      tab = lead:find("\t", 1, true) ~= nil }
  end
  if n > 0 and lines[n].raw == "" then lines[n] = nil; n = n - 1 end

  local function fail(no, msg)
    error({ yaml_error = string.format("%s:%d: %s", name, no, msg) }, 0)
  end

  local pos = 1 -- index of the next unread line
  local function next_line()
    while pos <= n and lines[pos].blank do pos = pos + 1 end
    return lines[pos]
  end

  -- Cuts a comment (" #..." outside quotes) from plain text and trims it.
  local function strip_comment(s)
    local cut = s:find("%s#")
    if cut then s = s:sub(1, cut - 1) end
    return (s:gsub("%s+$", ""))
  end

  -- Reads a quoted scalar at s[i]; returns the string and the index after the closing quote.
  local function quoted(s, i, no)
    local q = s:sub(i, i)
    local out, j = {}, i + 1
    while true do
      local c = s:sub(j, j)
      if c == "" then fail(no, "a quoted scalar must end on its line (multi-line quotes are not supported)") end
      if q == "'" then
        if c == "'" then
          if s:sub(j + 1, j + 1) == "'" then out[#out + 1] = "'"; j = j + 2
          else return table.concat(out), j + 1 end
        else out[#out + 1] = c; j = j + 1 end
      else
        if c == '"' then return table.concat(out), j + 1 end
        if c == "\\" then
          local e = s:sub(j + 1, j + 1)
          local map = { n = "\n", t = "\t", r = "\r", ["\\"] = "\\", ['"'] = '"', ["/"] = "/", ["0"] = "\0", [" "] = " " }
          if map[e] then out[#out + 1] = map[e]; j = j + 2
          elseif e == "u" and s:sub(j + 2, j + 5):match("^%x%x%x%x$") then
            out[#out + 1] = utf8.char(tonumber(s:sub(j + 2, j + 5), 16)); j = j + 6
          else fail(no, "unsupported escape \\" .. e .. " in a double-quoted scalar") end
        else out[#out + 1] = c; j = j + 1 end
      end
    end
  end

  -- After a value that ended at s[i]: only blanks or a comment may follow.
  local function only_comment_after(s, i, no)
    local rest = s:sub(i)
    if not (rest:match("^%s*$") or rest:match("^%s+#")) then
      fail(no, "unexpected text after a value: " .. rest)
    end
  end

  local function scalar_token(tok, no)
    local c = tok:sub(1, 1)
    if c == "'" or c == '"' then
      local v, after = quoted(tok, 1, no)
      only_comment_after(tok, after, no)
      return v
    end
    if c:match("[&*!|>%%@`{%[%]}]") then
      fail(no, "'" .. c .. "' starts something this reader does not support (anchor, alias, tag, block or flow): " .. tok)
    end
    if tok:find(": ", 1, true) or tok:sub(-1) == ":" then
      fail(no, "a plain scalar cannot hold ': ' (quote it): " .. tok)
    end
    local v = resolve_plain(tok)
    if v == nil then fail(no, "this number form is not supported (write it in decimal or quote it): " .. tok) end
    return v
  end

  local function flow_sequence(s, no)
    if not s:match("^%[.*%]$") then fail(no, "a flow sequence must close on its line: " .. s) end
    local seq = new("seq")
    local inner = s:sub(2, -2)
    if inner:match("^%s*$") then return seq end
    local i = 1
    while i <= #inner + 1 do
      local j = inner:find("[^ ]", i) or #inner + 1
      local c = inner:sub(j, j)
      local item, after
      if c == "'" or c == '"' then
        item, after = quoted(inner, j, no)
        after = inner:find("[^ ]", after) or #inner + 1
      else
        local stop = inner:find(",", j, true) or #inner + 1
        local tok = inner:sub(j, stop - 1):gsub("%s+$", "")
        if tok == "" then fail(no, "an empty item in a flow sequence") end
        if tok:match("^[%[{]") then fail(no, "nested flow collections are not supported: " .. s) end
        item, after = scalar_token(tok, no), stop
      end
      seq[#seq + 1] = item
      getmetatable(seq).lines[#seq] = no
      local sep = inner:sub(after, after)
      if sep == "" then break end
      if sep ~= "," then fail(no, "expected ',' or ']' in a flow sequence: " .. s) end
      i = after + 1
    end
    return seq
  end

  -- A literal block: the lines after the header line, more indented than parent_indent.
  local function literal_block(header, no, parent_indent)
    local chomp = header:match("^|([-+]?)$")
    if not chomp then
      if header:sub(1, 1) == ">" then fail(no, "folded blocks (>) are not supported; use |") end
      fail(no, "unsupported block header '" .. header .. "' (use |, |- or |+)")
    end
    local body, block_indent = {}, nil
    while pos <= n do
      local l = lines[pos]
      local empty = l.raw:match("^%s*$") ~= nil
      if not empty then
        if l.tab then fail(l.no, "a tab in the indentation (use spaces)") end
        if not block_indent then
          if l.indent <= parent_indent then break end
          block_indent = l.indent
        elseif l.indent < block_indent then
          break
        end
      end
      body[#body + 1] = empty and "" or l.raw:sub(block_indent + 1)
      pos = pos + 1
    end
    local trailing = 0
    while #body > 0 and body[#body] == "" do body[#body] = nil; trailing = trailing + 1 end
    -- the lines read past the block's end were blank: give them back to the structure
    local s = table.concat(body, "\n")
    if chomp == "-" or #body == 0 then return s end
    if chomp == "+" then return s .. string.rep("\n", trailing + 1) end
    return s .. "\n"
  end

  local parse_block -- (indent) -> value; the next non-blank line starts the block at indent

  -- The value after "key:" or "- " on line no; owner_indent is the indentation of the key/dash.
  local function inline_value(rest, no, owner_indent, in_seq_item)
    local c = rest:sub(1, 1)
    if rest == "" or c == "#" then
      local l = next_line()
      if l and l.indent > owner_indent then return parse_block(l.indent) end
      -- YAML lets a mapping's sequence value sit at the key's own indentation
      if l and not in_seq_item and l.indent == owner_indent and (l.content == "-" or l.content:match("^%- ")) then
        return parse_block(l.indent)
      end
      return M.null
    end
    if c == "|" or c == ">" then return literal_block(strip_comment(rest), no, owner_indent) end
    if c == "[" then return flow_sequence(strip_comment(rest), no) end
    if c == "{" then
      if strip_comment(rest):match("^{%s*}$") then return new("map") end
      fail(no, "flow mappings are not supported (only {}): " .. rest)
    end
    if c == "'" or c == '"' then return scalar_token(rest, no) end
    return scalar_token(strip_comment(rest), no)
  end

  -- Splits "key: rest" (or "key:"); nil when content is not a mapping entry.
  local function split_key(content, no)
    local c = content:sub(1, 1)
    if c == "'" or c == '"' then
      local key, after = quoted(content, 1, no)
      local rest = content:sub(after)
      if rest:match("^:%s") or rest == ":" then return key, (rest:sub(2):gsub("^%s+", "")) end
      return nil
    end
    if c == "?" and (content:sub(2, 2) == " " or content == "?") then
      fail(no, "complex keys (? ...) are not supported")
    end
    local colon = content:find(":%s") or (content:sub(-1) == ":" and #content or nil)
    local hash = content:find("%s#")
    if not colon or (hash and hash < colon) then return nil end
    local key = content:sub(1, colon - 1)
    if key:match("^[&*!|>%%@`{%[]") then
      fail(no, "'" .. key:sub(1, 1) .. "' starts a key this reader does not support: " .. key)
    end
    if type(resolve_plain(key)) ~= "string" then
      fail(no, "the key '" .. key .. "' is not a plain string; quote it")
    end
    return key, (content:sub(colon + 1):gsub("^%s+", ""))
  end

  local function parse_mapping(indent)
    local map = new("map")
    local mt = getmetatable(map)
    while true do
      local l = next_line()
      if not l or l.indent < indent then break end
      if l.indent > indent then fail(l.no, "unexpected indentation") end
      if l.content == "-" or l.content:match("^%- ") then break end -- a sequence at our level ends us
      local key, rest = split_key(l.content, l.no)
      if not key then fail(l.no, "expected 'key: value' here: " .. l.content) end
      if mt.lines[key] then fail(l.no, "duplicate key '" .. key .. "' (first on line " .. mt.lines[key] .. ")") end
      pos = pos + 1
      mt.keys[#mt.keys + 1] = key
      mt.lines[key] = l.no
      map[key] = inline_value(rest, l.no, indent, false)
      local after = next_line()
      if after and after.indent > indent then
        fail(after.no, "unexpected indentation (a multi-line plain scalar, or a missing key?)")
      end
    end
    return map
  end

  local function parse_sequence(indent)
    local seq = new("seq")
    local mt = getmetatable(seq)
    while true do
      local l = next_line()
      if not l or l.indent < indent then break end
      if l.indent > indent then fail(l.no, "unexpected indentation") end
      if not (l.content == "-" or l.content:match("^%- ")) then break end
      local rest = l.content:sub(2)
      local gap = #rest:match("^ *")
      rest = rest:sub(gap + 1)
      local item
      local key = rest ~= "" and rest:sub(1, 1) ~= "#" and split_key(rest, l.no)
      if key or rest == "-" or rest:match("^%- ") then
        -- "- key: value" or "- - x": the rest is a block that starts at its own column
        l.indent = indent + 1 + gap
        l.content = rest
        item = parse_block(l.indent)
      else
        pos = pos + 1
        item = inline_value(rest, l.no, indent, true)
        local after = next_line()
        if after and after.indent > indent then fail(after.no, "unexpected indentation") end
      end
      seq[#seq + 1] = item
      mt.lines[#seq] = l.no
    end
    return seq
  end

  function parse_block(indent)
    local l = next_line()
    if l.content == "-" or l.content:match("^%- ") then return parse_sequence(indent) end
    return parse_mapping(indent)
  end

  local ok, result = pcall(function()
    for _, l in ipairs(lines) do
      if l.tab and not l.blank then fail(l.no, "a tab in the indentation (use spaces)") end
      if l.indent == 0 and (l.content:match("^%-%-%-") or l.content:match("^%.%.%.") or l.content:match("^%%")) then
        fail(l.no, "document markers and directives (---, ..., %) are not supported")
      end
    end
    local first = next_line()
    if not first then fail(1, "the document is empty") end
    if first.indent ~= 0 then fail(first.no, "the document must start at column 1") end
    local v = parse_block(0)
    local extra = next_line()
    if extra then fail(extra.no, "unexpected text after the document's top level: " .. extra.content) end
    return v
  end)
  if ok then return result end
  if type(result) == "table" and result.yaml_error then return nil, result.yaml_error end
  error(result, 0)
end

return M
