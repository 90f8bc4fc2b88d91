-- The spec helpers themselves (spec/helpers.lua): run_chunk hands a chunk
-- to a child greenlua byte for byte, whatever it holds.
local helpers = require "spec.helpers"

describe("helpers.run_chunk", function()
  it("keeps a multi-line chunk's lines apart (a comment ends at its line)", function()
    local out, err, rc = helpers.run_chunk("print('one') -- a comment\nprint('two')\n")
    assert.equal(0, rc, err)
    assert.equal("one\ntwo\n", out)
  end)

  it("passes $, backquotes, backslashes and quotes through untouched", function()
    local out, err, rc = helpers.run_chunk([[io.write('$HOME `x` \\ " ', "'", '\n')]])
    assert.equal(0, rc, err)
    assert.equal([[$HOME `x` \ " ']] .. "\n", out)
  end)

  it("leaves no temporary file behind", function()
    -- the names it takes, recorded (other processes share /tmp)
    local real, made = os.tmpname, {}
    os.tmpname = function()
      local name = real()
      made[#made + 1] = name
      return name
    end
    local ok, out = pcall(helpers.run_chunk, "print(1)")
    os.tmpname = real
    assert.is_true(ok, out)
    assert.equal("1\n", out)
    assert.is_true(#made >= 1)
    for _, name in ipairs(made) do
      assert.is_nil(io.open(name, "r"), name .. " is still there")
    end
  end)
end)

describe("helpers.quote", function()
  it("makes one shell word of anything", function()
    for _, s in ipairs({ "plain", "", "it's", "a b\nc", "$HOME", "'", "''\\'" }) do
      local p = assert(io.popen("printf '%s' " .. helpers.quote(s)))
      local got = p:read("a")
      p:close()
      assert.equal(s, got)
    end
  end)
end)
