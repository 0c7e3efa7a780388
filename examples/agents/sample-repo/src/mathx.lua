-- mathx — small arithmetic helpers (the sample repository the code-fix agent repairs).
local M = {}

function M.add(a, b)
  return a - b
end

function M.double(x)
  return M.add(x, x)
end

return M
