-- Debian's socket.smtp (with mime, ltn12 and socket.tp underneath),
-- unmodified, over greenlua's socket.core, against a fake SMTP server
-- written for these specs (spec/servers/fake_smtpd.py) on 127.0.0.1: plain
-- and multipart messages, dot-stuffing, refusals (550, 451, 554), AUTH
-- LOGIN, the low-level open/greet/mail/rcpt/data/quit. The same script
-- (spec/luasocket/smtp_script.lua) must print the same under plain lua5.4
-- with the real LuaSocket; in-process sends must be green.
local green = require "green"
local helpers = require "spec.helpers"
local S = require "spec.luasocket.servers"
local q = helpers.quote

local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- one run of the script against fresh servers (their counters start at 1)
local function run_script(interp)
  local d1, c1 = helpers.tmpdir()
  local d2, c2 = helpers.tmpdir()
  local h1, p1 = S.smtp(d1)
  local h2, p2 = S.smtp(d2, "--auth alice:s3cret")
  local out, err, rc = S.run(interp, "spec/luasocket/smtp_script.lua",
    ("%d %d %s %s"):format(p1, p2, q(d1), q(d2)))
  h1:stop()
  h2:stop()
  c1()
  c2()
  return out, err, rc
end

describe("socket.smtp (Debian's) over the green socket.core", function()
  it("prints the same under greenlua as under lua5.4 with the real LuaSocket", function()
    local ro, re, rrc = run_script("lua5.4")
    local go, ge, grc = run_script(q(helpers.greenlua()))
    assert.equal(0, rrc, re)
    assert.equal(0, grc, ge)
    assert.truthy(ro:find("\ndone\n$"), ro)
    -- the reference itself did what the script tries
    assert.truthy(ro:find("plain\t1\n", 1, true), ro)
    assert.truthy(ro:find("attachment decodes\ttrue\n", 1, true), ro)
    assert.truthy(ro:find("rejected rcpt\tnil | 550 5.1.1 no such user <reject-me@example.test>\n", 1, true), ro)
    assert.truthy(ro:find("auth\t1\n", 1, true), ro)
    assert.equal(ro, go)
  end)

  describe("in-process", function()
    local dir, cleanup, srv, port
    before_each(function()
      dir, cleanup = helpers.tmpdir()
    end)
    after_each(function()
      if srv then srv:stop() end
      srv = nil
      cleanup()
    end)

    it("a send is green: another thread runs while the server is slow to greet", function()
      srv, port = S.smtp(dir, "--delay 0.3")
      local smtp, ltn12 = require "socket.smtp", require "ltn12"
      local ticks = 0
      local ticker = green.spawn(function()
        for _ = 1, 1000 do
          green.sleep(0.01)
          ticks = ticks + 1
        end
      end)
      local r, e = smtp.send { from = "<a@example.test>", rcpt = "<b@example.test>",
        server = "127.0.0.1", port = port, source = ltn12.source.string("Subject: x\r\n\r\nbody\r\n") }
      ticker:kill()
      assert.same({ 1, nil }, { r, e })
      -- socket.smtp ends the data with CRLF . CRLF after the source: one CRLF more
      assert.is_true(ticks >= 5, "ticks: " .. ticks)
      assert.equal("FROM <a@example.test>\nRCPT <b@example.test>\n\nSubject: x\r\n\r\nbody\r\n\r\n", slurp(dir .. "/1.eml"))
    end)

    it("20 sends from 20 green threads are all open at once, and all arrive", function()
      -- the server greets no session until all 20 are connected (10 s at
      -- most, then "421"): only sends that overlap can all succeed
      srv, port = S.smtp(dir, "--hold 20")
      local smtp = require "socket.smtp"
      local results, threads = {}, {}
      local failed = false
      for i = 1, 20 do
        threads[i] = green.spawn(function()
          -- with a blocking core the threads run one after the other: after
          -- the first one's 421 (10 s) the rest give up at once
          if failed then results[i] = { nil, "not tried" } return end
          results[i] = table.pack(smtp.send { from = "<t" .. i .. "@example.test>", rcpt = "<b@example.test>",
            server = "127.0.0.1", port = port,
            source = smtp.message { headers = { subject = "n" .. i }, body = "message " .. i } })
          if results[i][1] ~= 1 then failed = true end
        end)
      end
      for i = 1, 20 do threads[i]:wait() end
      local senders = {}
      for i = 1, 20 do
        assert.equal(1, results[i][1], tostring(results[i][2]))
        local eml = assert(slurp(("%s/%d.eml"):format(dir, i)))
        senders[#senders + 1] = eml:match("^FROM <(t%d+)@")
      end
      table.sort(senders)
      local want = {}
      for i = 1, 20 do want[i] = "t" .. i end
      table.sort(want)
      assert.same(want, senders)
    end)
  end)
end)
