-- What the HTTP specs share: the Python fixture server
-- (spec/servers/http_fixture.py) and a source over a list of pieces.
local T = require "spec.tls_helpers"

local H = {}

H.FIXTURE = "spec/servers/http_fixture.py"

-- Start the fixture (args: its command-line options); returns its
-- background handle and port.
function H.start_fixture(args)
  local h = T.bg(("exec timeout -k 2 170 python3 -u %s %s"):format(H.FIXTURE, args or ""))
  assert(h:wait_output("PORT ", 15), h:describe())
  return h, tonumber(h:out():match("PORT (%d+)"))
end

-- An iterator (a body iterator, an ltn12 source) over the given pieces.
function H.pieces(list)
  local i = 0
  return function()
    i = i + 1
    return list[i]
  end
end

return H
