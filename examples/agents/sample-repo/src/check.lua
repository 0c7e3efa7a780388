-- check — the sample repository's test: returns true, or false and what failed.
return function(mathx)
  if mathx.add(2, 3) ~= 5 then return false, "add(2, 3) should be 5, got " .. mathx.add(2, 3) end
  if mathx.double(4) ~= 8 then return false, "double(4) should be 8, got " .. mathx.double(4) end
  return true
end
