-- Hardening of the command, the console and --connect (issue 8): what a
-- child inherits from greenlua, the terminal left as it was found on every
-- way out, --connect's framing, the command line's edges, and the console
-- functions' argument checks. Every process runs under `timeout`; terminals
-- are tmux panes on a private server, killed after each test.
local green = require "green"
local C = require "spec.console_helpers"

local H = C.H
local run, show = H.run, H.show

local function has(s, needle) return s:find(needle, 1, true) ~= nil end

local function have(tool)
  return os.execute("command -v " .. tool .. " >/dev/null 2>&1") == true
end

describe("children of greenlua", function()
  teardown(H.cleanup)

  it("get SIGPIPE at its default: `yes | head -n1` says nothing on stderr", function()
    local r = run({ "-e", "io.stdout:write(tostring(os.execute('yes | head -n1')), '\\n')" })
    assert.are.equal(0, r.status, show(r))
    assert.are.equal("y\ntrue\n", r.stdout, show(r))
    assert.are.equal("", r.stderr, show(r))
  end)

  it("get SIGPIPE at its default: not in the ignored mask, and a SIGPIPE ends them", function()
    local r = run({ "-e", [[
local p = io.popen("sh -c 'grep SigIgn /proc/$$/status; kill -PIPE $$; echo survived'")
io.stdout:write(p:read("a"))
p:close()
]] })
    assert.are.equal(0, r.status, show(r))
    local mask = r.stdout:match("SigIgn:%s*(%x+)")
    assert.is_truthy(mask, show(r))
    assert.are.equal(0, tonumber(mask:sub(-8), 16) & (1 << 12), "SIGPIPE ignored in the child\n" .. show(r))
    assert.is_falsy(has(r.stdout, "survived"), show(r))
  end)

  it("while greenlua itself still sees a closed pipe as an I/O error, not death", function()
    local r = run({ "-e", [[
local f = io.popen("true", "w")
green = require "green"
green.sleep(0.2)                 -- the reader is gone
local ok, err
for _ = 1, 100 do                -- more than the pipe buffer holds
  ok, err = f:write(("x"):rep(65536))
  if not ok then break end
  ok, err = f:flush()
  if not ok then break end
end
print(ok, err)
]] })
    assert.are.equal(0, r.status, show(r))
    assert.is_truthy(has(r.stdout, "Broken pipe"), show(r))
  end)
end)
