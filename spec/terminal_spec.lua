-- The REPL on a real terminal (API.md "Console: REPL and backdoor", and the
-- REPL paragraph of "Process model"): `greenlua` with no script on a
-- terminal, and `greenlua -i`, run inside a detached tmux session on a
-- private tmux server, with HOME in a temp dir (the history file goes there).
-- Keys are sent with `tmux send-keys`, the screen read with `capture-pane`,
-- polled with green.sleep for at most ~3 s per expectation. Every tmux
-- server is killed after its test. (The piped `-i` REPL is in cli_spec.)
local green = require "green"
local C = require "spec.console_helpers"

local H = C.H

local function has(s, needle) return s:find(needle, 1, true) ~= nil end

local function have(tool)
  return os.execute("command -v " .. tool .. " >/dev/null 2>&1") == true
end

local it_tmux = (have("tmux") and have("bash")) and it
  or function(name) pending(name .. " (needs tmux and bash)") end

-- Start greenlua (extra shell words `args`) in a terminal with HOME `home`
-- (a fresh dir by default); killed after the test.
local function terminal(args, home)
  home = home or C.dir("home")
  local words = C.q(C.bin) .. (args and (" " .. args) or "")
  local t = C.tmux(words, home)
  t.home = home
  C.defer(function() t:kill() end)
  return t
end

-- Start it and wait for the first prompt.
local function repl(args, home)
  local t = terminal(args, home)
  local ok = t:wait_prompt()
  assert(ok, "no prompt\n" .. t:show())
  return t
end

-- The highest n of the screen's lines "word n" (0 if none): one capture.
local function last_count(t, word)
  local n = 0
  for _, l in ipairs(t:lines()) do
    local k = tonumber(l:match("^" .. word .. " (%d+)$"))
    if k and k > n then n = k end
  end
  return n
end

describe("the REPL on a terminal", function()
  after_each(C.run_deferred)
  teardown(H.cleanup)

  it_tmux("prints a banner naming greenlua and Lua 5.4, then the prompt '> '", function()
    local t = terminal()
    local ok = t:wait_prompt()
    assert.is_true(ok, t:show())
    local ls = t:lines()
    assert.is_truthy(has(ls[1], "greenlua"), t:show())
    assert.is_truthy(has(ls[1], "Lua 5.4"), t:show())
    assert.are.equal(">", ls[2], t:show())   -- "> " (trailing blank trimmed)
    assert.is_nil(t:dead(), "the REPL ended\n" .. t:show())
  end)

  it_tmux("prints an expression's value: 1 + 1 gives 2", function()
    local t = repl()
    t:line("1 + 1")
    assert.is_true(t:wait_lines("2"), t:show())
    assert.is_true(t:wait_prompt(), t:show())
    assert.is_truthy(has(t:screen(), "> 1 + 1\n2\n>"), t:show())
  end)

  it_tmux("continues an incomplete 'for' with '>> ' and runs it when complete", function()
    local t = repl()
    t:line("for i = 1, 3 do")
    assert.is_true(t:wait_prompt(">> "), t:show())
    t:line("print(i * 10) end")
    assert.is_true(t:wait_lines("30"), t:show())
    assert.is_truthy(has(t:screen(), ">> print(i * 10) end\n10\n20\n30\n>"), t:show())
    assert.is_true(t:wait_prompt(), t:show())
  end)

  it_tmux("takes its prompts from _PROMPT and _PROMPT2", function()
    local t = repl()
    t:line("_PROMPT = 'P: '; _PROMPT2 = 'Q: '")
    assert.is_true(t:wait_prompt("P: "), t:show())
    t:line("if true then")
    assert.is_true(t:wait_prompt("Q: "), t:show())
    t:line("print('done') end")
    assert.is_true(t:wait_lines("done"), t:show())
    assert.is_true(t:wait_prompt("P: "), t:show())
  end)

  it_tmux("prints an error with a traceback, then the prompt comes back and the session goes on", function()
    local t = repl()
    t:line("error('boom')")
    assert.is_true(t:wait_for("stack traceback"), t:show())
    assert.is_truthy(has(t:screen(), "stdin:1: boom"), t:show())
    assert.is_true(t:wait_prompt(), t:show())
    t:line("print('after' .. 'wards')")
    assert.is_true(t:wait_lines("afterwards"), t:show())
    assert.is_nil(t:dead(), t:show())
  end)

  it_tmux("keeps a ticker spawned at the prompt printing, without garbling the line being typed", function()
    local t = repl()
    t:line("green.spawn(function() for i = 1, 400 do print('tick ' .. i) green.sleep(0.15) end end)")
    -- nothing is typed: the ticks appear on their own
    assert.is_true(t:wait_lines("tick 2"), "no ticks while idle at the prompt\n" .. t:show())
    assert.is_true(t:wait_prompt(), t:show())
    -- a line being typed survives the ticks
    t:type("x = 4")
    assert.is_true(t:wait_for(function() return t:last_line() == "> x = 4" end), t:show())
    local seen = last_count(t, "tick") + 1     -- the first one not shown yet
    assert.is_true(t:wait_lines("tick " .. (seen + 1)), "ticks stopped while typing\n" .. t:show())
    assert.are.equal("> x = 4", t:last_line(), "the typed line was not redrawn below the ticks\n" .. t:show())
    for _, l in ipairs(t:lines()) do
      assert.is_falsy(l:find("x = 4.*tick") or l:find("tick.*x = 4"), "garbled line: " .. l .. "\n" .. t:show())
    end
    t:type(" + 1")
    t:keys("Enter")
    t:line("x")
    assert.is_true(t:wait_lines("5"), "x = 4 + 1 did not run as typed\n" .. t:show())
    -- the ticker is still going
    local now = last_count(t, "tick")
    assert.is_true(t:wait_lines("tick " .. (now + 2)), t:show())
  end)

  -- The implementation says (lib/green/repl.lua, console()) that print and
  -- io.write from any green thread redraw the line being edited.
  it_tmux("keeps a line being typed intact when a ticker writes with io.write", function()
    local t = repl()
    t:line("green.spawn(function() for i = 1, 400 do io.write('tock ', i, '\\n') green.sleep(0.15) end end)")
    assert.is_true(t:wait_lines("tock 2"), t:show())
    t:type("y = 6")
    assert.is_true(t:wait_for("y = 6"), t:show())
    local seen = last_count(t, "tock") + 1     -- the first one not shown yet
    assert.is_true(t:wait_lines("tock " .. (seen + 1)), t:show())
    for _, l in ipairs(t:lines()) do
      assert.is_falsy(l:find("y = 6.*tock") or l:find("tock.*y = 6"), "garbled line: " .. l .. "\n" .. t:show())
    end
    assert.are.equal("> y = 6", t:last_line(), t:show())
    t:type(" + 1")
    t:keys("Enter")
    t:line("y")
    assert.is_true(t:wait_lines("7"), t:show())
  end)

  it_tmux("keeps a line written in pieces (io.write, then io.write ... '\\n') on one line", function()
    local t = repl()
    t:line("green.spawn(function() for i = 1, 400 do io.write('part ') io.write(i, '\\n') green.sleep(0.15) end end)")
    assert.is_true(t:wait_lines("part 2"), "the pieces of a line were split\n" .. t:show())
    t:type("w = 8")
    assert.is_true(t:wait_for("w = 8"), t:show())
    local seen = last_count(t, "part") + 1     -- the first one not shown yet
    assert.is_true(t:wait_lines("part " .. (seen + 1)), t:show())
    assert.are.equal("> w = 8", t:last_line(), t:show())
  end)

  it_tmux("Ctrl-C at the prompt discards a partly typed line; the next line runs alone", function()
    local t = repl()
    t:type("xx = ")
    assert.is_true(t:wait_for(function() return t:last_line() == "> xx =" end), t:show())
    t:keys("C-c")
    assert.is_true(t:wait_prompt(), "no fresh prompt after Ctrl-C\n" .. t:show())
    t:line("1 + 2")
    assert.is_true(t:wait_lines("3"), "the discarded text was kept\n" .. t:show())
    t:line("xx")
    assert.is_true(t:wait_lines("nil"), t:show())
    assert.is_nil(t:dead(), t:show())
  end)

  it_tmux("Ctrl-C while green.sleep(30) runs interrupts that statement, not the process", function()
    local t = repl()
    -- the statement says when it runs: the Ctrl-C comes after that
    t:line("print('sle' .. 'eping') green.sleep(30) print('not reached')")
    assert.is_true(t:wait_lines("sleeping"), t:show())
    local t0 = green.now()
    t:keys("C-c")
    assert.is_true(t:wait_for("interrupted!"), t:show())
    assert.is_true(t:wait_prompt(), t:show())
    assert.is_true(green.now() - t0 < 5, "took too long")
    assert.is_nil(t:dead(), "the process ended\n" .. t:show())
    t:line("print('alive')")
    assert.is_true(t:wait_lines("alive"), t:show())
    assert.is_falsy(has(t:screen(), "\nnot reached"), t:show())
  end)

  it_tmux("Ctrl-C interrupts a busy loop at the prompt too, and the session goes on", function()
    local t = repl()
    t:line("print('spin' .. 'ning') while true do end")
    assert.is_true(t:wait_lines("spinning"), t:show())
    t:keys("C-c")
    assert.is_true(t:wait_for("interrupted!"), t:show())
    assert.is_true(t:wait_prompt(), t:show())
    t:line("print('alive')")
    assert.is_true(t:wait_lines("alive"), t:show())
    assert.is_nil(t:dead(), t:show())
  end)

  it_tmux("Ctrl-D at an empty prompt leaves: the process exits with status 0", function()
    local t = repl()
    t:keys("C-d")
    local ok = C.poll(function() return t:dead() ~= nil end, 3)
    assert.is_truthy(ok, "still running after Ctrl-D\n" .. t:show())
    assert.are.equal(0, t:dead(), t:show())
    -- whatever the process said on its way out (a sanitizer build reports here)
    assert.is_falsy(t:screen():find("Sanitizer") or t:screen():find("runtime error"), t:show())
  end)

  it_tmux("-i runs the script first, then a terminal REPL that sees its globals", function()
    local dir = C.dir("iscript")
    H.write(dir .. "/pre.lua", "y = 10\nprint('script ran')\n")
    local t = terminal("-i " .. C.q(dir .. "/pre.lua"))
    assert.is_true(t:wait_prompt(), t:show())
    assert.is_truthy(has(t:screen(), "script ran"), t:show())
    t:line("y * 2")
    assert.is_true(t:wait_lines("20"), t:show())
    t:keys("C-d")
    assert.is_truthy(C.poll(function() return t:dead() ~= nil end, 3), t:show())
    assert.are.equal(0, t:dead(), t:show())
  end)

  it_tmux("keeps history in $HOME/.greenlua_history; Up recalls the previous session's line", function()
    local home = C.dir("hist")
    local t = repl(nil, home)
    t:line("print('from-history-' .. 6 * 7)")
    assert.is_true(t:wait_lines("from-history-42"), t:show())
    t:keys("C-d")
    assert.is_truthy(C.poll(function() return t:dead() ~= nil end, 3), t:show())
    t:kill()
    local file = H.slurp(home .. "/.greenlua_history")
    -- libedit writes spaces as \040
    local text = file:gsub("\\040", " ")
    assert.is_truthy(has(text, "print('from-history-' .. 6 * 7)"), "history file:\n" .. file)

    local t2 = repl(nil, home)
    t2:keys("Up")
    assert.is_true(t2:wait_for(function() return t2:last_line() == "> print('from-history-' .. 6 * 7)" end),
      "Up did not recall the line\n" .. t2:show())
    t2:keys("Enter")
    assert.is_true(t2:wait_lines("from-history-42"), t2:show())
  end)
end)
