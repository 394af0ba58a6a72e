-- The runner's own check (spec/cosocket_spec.lua compares each outcome
-- with what busted gives): a runner that ran no case bodies, or mixed up
-- failures and errors, would otherwise pass everything. Outcomes, by name:
--   "passes"                              success
--   "fails an assertion"                  failure
--   "raises"                              error
--   "is pending"                          pending
--   "has no body"                         pending
--   "only over libcurl #curl"             skipped (its body never runs)
--   "finally runs after the body"         success
--   "a failing finally fails the case"    error
--   "inner runs the hooks in order"       success
--   "inner yields to nginx's event loop"  success
--   "ran the hooks in busted's order"     success
local log = {}

describe("selftest", function()
    lazy_setup(function() log[#log + 1] = "lazy_setup" end)
    setup(function() log[#log + 1] = "setup" end)
    before_each(function() log[#log + 1] = "before_each" end)
    after_each(function() log[#log + 1] = "after_each" end)

    it("passes", function() assert.equal(2, 1 + 1) end)
    it("fails an assertion", function() assert.equal(3, 1 + 1) end)
    it("raises", function() error("boom") end)
    it("is pending", function() pending("later") end)
    pending("has no body")
    it("only over libcurl #curl", function() log[#log + 1] = "curl body ran" end)

    local cleaned = false
    it("finally runs after the body", function()
        finally(function() cleaned = true end)
        assert.is_false(cleaned)
    end)
    it("a failing finally fails the case", function()
        assert.is_true(cleaned)
        finally(function() error("cleanup failed") end)
    end)

    describe("inner", function()
        before_each(function() log[#log + 1] = "inner before_each" end)
        after_each(function() log[#log + 1] = "inner after_each" end)
        it("runs the hooks in order", function() log[#log + 1] = "body" end)
        it("yields to nginx's event loop", function()
            local t0 = ngx.now()
            ngx.sleep(0.05)
            ngx.update_time()
            assert.is_true(ngx.now() > t0)
            local th = ngx.thread.spawn(function() ngx.sleep(0.01) return "done" end)
            local ok, v = ngx.thread.wait(th)
            assert.is_true(ok)
            assert.equal("done", v)
        end)
    end)

    it("ran the hooks in busted's order", function()
        local want = {
            -- strict setup when the block runs, lazy before its first case
            "setup", "lazy_setup",
        }
        -- before_each/after_each around the 6 outer cases that ran a body
        for _ = 1, 6 do want[#want + 1] = "before_each"; want[#want + 1] = "after_each" end
        for _, w in ipairs { "before_each", "inner before_each", "body", "inner after_each", "after_each",
                             "before_each", "inner before_each", "inner after_each", "after_each",
                             "before_each" } do
            want[#want + 1] = w
        end
        assert.same(want, log)
    end)
end)
