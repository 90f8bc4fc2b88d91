-- The snippets of spec/fileobj_spec.lua: each case runs on a real io file
-- under plain lua5.4 and on a green.fs file under greenlua; what they
-- record must be identical. Run as a script (lua5.4 spec/fileobj_cases.lua
-- DIR) it prints every case's record; required, it gives run_all(open,
-- dir, type_of) -> the same text.
local M = {}

local function big_number_text()
  -- a number that straddles green.fs's 1 MiB buffer, then more
  local pad = string.rep("a", (1 << 20) - 3) .. "\n"
  return pad .. " 12345.678e1 9 0x10 end\n"
end

-- name -> { content (or nil: no file made), mode, function(f, p, env) }
M.cases = {
  { "formats", "one\ntwo\r\nthree\n\n\0nul\0\nlast", "r", function(f, p)
    p(f:read()); p(f:read("l")); p(f:read("L")); p(f:read("*l")); p(f:read("L"))
    p(f:read(2)); p(f:read(0)); p(f:read("a")); p(f:read("a")); p(f:read(0)); p(f:read(1))
    p(f:read("l")); p(f:read("L")); p(f:read("n"))
  end },
  { "several at once", "a\nb\nc\n", "r", function(f, p)
    p(f:read("l", "L", 1, "a")); p(f:seek("set")); p(f:read("l", "l", "l", "l", "l"))
    p(f:seek("set")); p(f:read(1, 0, "*L", "n", "l"))
  end },
  { "numbers", " 0x1F  -3.5e2 +12 .5 1e 7 0x 5 0x1p4 - 1 1.5e+3x 99", "r", function(f, p)
    for _ = 1, 12 do p(f:read("n")); p(f:read(1)) end
    p(f:read("a"))
  end },
  { "number edge", "nan inf 0x1.8p1 00012 1e+ 3", "r", function(f, p)
    for _ = 1, 6 do p(f:read("n")); p(f:read(1)) end
  end },
  { "long number", string.rep("1", 250) .. " 42", "r", function(f, p)
    p(f:read("n")); p(f:read(3)); p(f:read("n")); p(f:read("n"))
  end },
  { "number across the buffer", big_number_text(), "r", function(f, p)
    p(#f:read("l")); p(f:read("n", "n", "n", "n")); p(f:read("a"))
  end },
  { "big reads", string.rep("0123456789", 300000) .. "\n" .. string.rep("y", 70000), "r", function(f, p)
    p(#f:read(100000)); p(#f:read("l")); p(#f:read("L")); p(f:read(5)); p(#f:read("a")); p(f:read(1))
    p(f:seek("set", 2999995)); p(f:read(10)); p(f:seek("cur")); p(f:seek("end", -3)); p(f:read("a"))
  end },
  { "lines", "x\ny\n\nz", "r", function(f, p)
    for l in f:lines() do p(l) end
    p(f:seek("set"))
    for a, b in f:lines(1, "L") do p(a, b) end
    p(f:seek("set"))
    for n in f:lines("n") do p(n) end
    p(f:read("a"))
    p(pcall(function() for _ in f:lines("x") do end end))
    local it = f:lines()
    f:close()
    p(pcall(it))
  end },
  { "lines numbers", "1 2 3\n4 x", "r", function(f, p)
    for a, b in f:lines("n", "n") do p(a, b) end
    p(f:read("a"))
  end },
  { "write", nil, "w+", function(f, p)
    p(f:write("a", 1, 2.5, -0.0, 1e100, 2^53, math.mininteger, 1/0, -1/0, "\n") == f)
    p(f:write() == f)
    p(f:seek("set")); p(f:read("a"))
    p(pcall(function() return f:write("x", {}) end))
    p(f:seek("set")); p(f:read("a"))
  end },
  { "seek", "0123456789", "r", function(f, p)
    p(f:seek()); p(f:seek("cur", 3)); p(f:read(2)); p(f:seek("cur")); p(f:seek("cur", -1)); p(f:read(1))
    p(f:seek("end")); p(f:read(1)); p(f:read(0)); p(f:seek("end", -2)); p(f:read("a"))
    p(f:seek("set", 100)); p(f:read(1)); p(f:seek("set", -1)); p(f:seek("cur", -1000))
    p(f:seek("set", 4)); p(f:read(1)); p(f:seek("set", "2")); p(f:read(1))
    p(pcall(function() return f:seek("middle") end))
    p(pcall(function() return f:seek("set", 1.5) end))
    p(pcall(function() return f:seek("set", {}) end))
  end },
  { "read then write", "0123456789", "r+", function(f, p)
    p(f:read(3)); p(f:seek("cur")); p(f:write("abc") == f); p(f:seek("cur")); p(f:read(2))
    p(f:seek("set")); p(f:read("a"))
  end },
  { "write then read", nil, "w+", function(f, p)
    p(f:write("hello\nworld\n") == f); p(f:seek("set", 6)); p(f:read("l")); p(f:read("l"))
    p(f:seek("set", 0)); p(f:write("J") == f); p(f:seek("set")); p(f:read("a"))
  end },
  { "append", "start\n", "a+", function(f, p)
    p(f:write("more\n") == f); p(f:seek("cur")); p(f:seek("set")); p(f:read("a"))
    p(f:write("last") == f); p(f:seek("end")); p(f:seek("set")); p(f:read("a"))
  end },
  { "read-only", "data", "r", function(f, p)
    p(f:write("x")); p(f:read("a")); p(f:flush())
  end },
  { "write-only", nil, "w", function(f, p)
    p(f:read("l")); p(f:read("a")); p(f:read(0)); p(f:write("abc") == f); p(f:seek("cur"))
    p(f:seek("set")); p(f:read(1))
  end },
  { "misuse", "abc", "r", function(f, p)
    p(pcall(function() return f:read("x") end))
    p(pcall(function() return f:read("") end))
    p(pcall(function() return f:read(1.5) end))
    p(pcall(function() return f:read({}) end))
    p(pcall(function() return f:read("l", true) end))
    p(pcall(function() return f:setvbuf("sometimes") end))
    p(f:read("line")); p(f:seek("set")); p(f:read("all"))
  end },
  { "setvbuf flush close", nil, "w+", function(f, p, env)
    p(f:setvbuf("no")); p(f:write("a") == f); p(f:setvbuf("line")); p(f:write("b\n") == f)
    p(f:setvbuf("full", 1024)); p(f:flush()); p(f:seek("set")); p(f:read("a"))
    p(env.type_of(f)); p(f:close()); p(env.type_of(f)); p(tostring(f))
    p(pcall(function() return f:read() end))
    p(pcall(function() return f:close() end))
    p(pcall(function() return f:seek() end))
    p(pcall(function() return f:write("x") end))
    p(pcall(function() return f:lines() end))
    p(pcall(function() return f:flush() end))
  end },
  { "tostring and close", "x", "r", function(f, p, env)
    p((tostring(f):gsub("0x%x+", "ADDR"))); p(env.type_of(f)); p(env.type_of(42))
    do local g <close> = f end
    p(tostring(f)); p(env.type_of(f))
  end },
}

-- Run every case with `open` (io.open or green.fs.open); files in `dir`.
-- Returns the record as one string.
function M.run_all(open, dir, type_of, only)
  local out = {}
  for i, case in ipairs(M.cases) do
    local name, content, mode, fn = case[1], case[2], case[3], case[4]
    if only == nil or only == name then
      local path = ("%s/case%d"):format(dir, i)
      os.remove(path)
      if content then
        local w = assert(io.open(path, "wb"))
        w:write(content)
        w:close()
      end
      out[#out + 1] = "== " .. name
      local f = assert(open(path, mode))
      local function p(...)
        local t = { ("n=%d"):format(select("#", ...)) }
        for j = 1, select("#", ...) do
          local v = select(j, ...)
          local s = type(v) == "string" and ("%q"):format(v) or tostring(v)
          if type(v) == "number" then s = math.type(v) .. ":" .. s end
          if #s > 200 then s = s:sub(1, 200) .. "...(" .. #s .. ")" end
          t[#t + 1] = s
        end
        out[#out + 1] = table.concat(t, " ")
      end
      local ok, err = pcall(fn, f, p, { type_of = type_of })
      if not ok then out[#out + 1] = "raised: " .. tostring(err) end
      if type_of(f) == "file" then f:close() end
      local r = io.open(path, "rb")
      if r then
        local s = r:read("a")
        r:close()
        out[#out + 1] = ("file now: %d bytes, %q"):format(#s, #s > 200 and s:sub(1, 200) or s)
      end
      os.remove(path)
    end
  end
  return table.concat(out, "\n") .. "\n"
end

if arg and arg[0] and arg[0]:find("fileobj_cases%.lua$") then
  io.write(M.run_all(io.open, arg[1], io.type, arg[2]))
end

return M
