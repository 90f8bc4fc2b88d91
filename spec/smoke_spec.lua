local green = require "green"
describe("smoke", function()
  it("sleeps inside a spec", function()
    local t0 = green.now()
    green.sleep(0.01)
    assert.is_true(green.now() - t0 >= 0.009)
  end)
end)
