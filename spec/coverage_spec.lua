-- octogen.coverage: normalize_host (the API contract's section 11.7 rules
-- and every row of its test table) and coverage objects. No network.
local coverage = require "octogen.coverage"
local normalize_host = coverage.normalize_host

local function entries(...)
    local out = {}
    for _, pair in ipairs { ... } do
        out[#out + 1] = { host = pair[1], catalog = pair[2], catalog_display_name = pair[2] and pair[2]:upper() }
    end
    return out
end

local function raises_invalid(f, pattern)
    local ok, err = pcall(f)
    assert.is_false(ok)
    if type(err) == "table" then
        assert.equal("InvalidArgumentError", err.name)
        err = err.message
    end
    assert.truthy(tostring(err):find(pattern), tostring(err))
end

describe("octogen.coverage.normalize_host", function()
    it("gives macys.com for every spelling in the contract's table", function()
        for _, s in ipairs {
            "https://www.macys.com/shop/product/x?y=1",
            "HTTPS://WWW.Macys.COM/Shop",
            "www.macys.com",
            "macys.com:443",
            "macys.com.",
            "  https://www.macys.com  ",
        } do
            assert.equal("macys.com", normalize_host(s), s)
        end
    end)

    it("leaves hosts whose www is not one leading label alone", function()
        assert.equal("wwwx.macys.com", normalize_host("https://wwwx.macys.com"))
        assert.equal("shop.www.macys.com", normalize_host("https://shop.www.macys.com"))
    end)

    it("gives nil for nil, empty, blank, not a host and a URL without a host", function()
        for _, v in ipairs { "", "   ", "not a host", "https://" } do
            assert.is_nil(normalize_host(v), v)
        end
        assert.is_nil(normalize_host(nil))
        assert.is_nil(normalize_host())
    end)

    it("gives nil for a non-string", function()
        for _, v in ipairs { 1, true, false, {}, print } do
            assert.is_nil(normalize_host(v), tostring(v))
        end
    end)

    it("trims whitespace of any kind", function()
        assert.equal("shop.example", normalize_host("\t\n shop.example \r\n"))
        assert.equal("shop.example", normalize_host("\thttps://shop.example/x\n"))
    end)

    it("takes the address of a bracketed IPv6 literal, port dropped", function()
        assert.equal("::1", normalize_host("[::1]:8080"))
        assert.equal("::1", normalize_host("[::1]"))
        assert.equal("::1", normalize_host("http://[::1]:8080/path"))
        assert.equal("2001:db8::1", normalize_host("[2001:DB8::1]"))
        assert.is_nil(normalize_host("[::1"))          -- unclosed
        assert.is_nil(normalize_host("[::1]x"))        -- junk after the bracket
        assert.is_nil(normalize_host("[]:80"))
    end)

    it("refuses a bare authority with user info, a path, a query, a fragment or whitespace", function()
        for _, v in ipairs { "user@host", "user:pw@shop.example", "shop.example/x", "shop.example?x",
            "shop.example#x", "shop example" } do
            assert.is_nil(normalize_host(v), v)
        end
    end)

    it("takes the host of a URL with user info, a port, a query or a fragment", function()
        assert.equal("shop.example", normalize_host("https://user:pw@WWW.Shop.Example:8443/a?b#c"))
        assert.equal("shop.example", normalize_host("http://shop.example?q=1"))
        assert.equal("shop.example", normalize_host("http://shop.example#top"))
        assert.equal("shop.example", normalize_host("HTTP://shop.example\\path"))
        assert.is_nil(normalize_host("https://user@/x"))
        assert.is_nil(normalize_host("https://bad host/x"))
    end)

    it("strips every trailing dot, then exactly one leading www.", function()
        assert.equal("macys.com", normalize_host("macys.com..."))
        assert.equal("macys.com", normalize_host("WWW.macys.com."))
        assert.equal("www.macys.com", normalize_host("www.www.macys.com"))
        assert.equal("www.macys.com", normalize_host("https://www.www.macys.com/"))
        assert.is_nil(normalize_host("..."))
        assert.is_nil(normalize_host("https://./"))
        -- Rule order: trailing dots go first, so "www." is the host "www".
        assert.equal("www", normalize_host("www."))
    end)

    it("drops the port of a bare host:port, keeping the part before the first colon", function()
        assert.equal("shop.example", normalize_host("shop.example:8080"))
        assert.equal("shop.example", normalize_host("shop.example:"))
        assert.is_nil(normalize_host(":8080"))
    end)

    it("does no IDN conversion: a Unicode host stays as given, ASCII-lower-cased", function()
        assert.equal("b\195\188cher.example", normalize_host("https://www.B\195\188cher.example/"))
    end)
end)

describe("octogen.coverage.is_host_covered", function()
    it("normalizes both sides (the contract's table)", function()
        assert.is_true(coverage.is_host_covered("https://www.macys.com/shop/x", { "WWW.MACYS.COM" }))
        assert.is_false(coverage.is_host_covered("nonsense url", { "WWW.MACYS.COM" }))
        assert.is_false(coverage.is_host_covered("https://other.example", { "WWW.MACYS.COM" }))
    end)

    it("takes a coverage object as the host set", function()
        local cov = coverage.new(entries { "macys.com", "macys" })
        assert.is_true(coverage.is_host_covered("https://www.macys.com/x", cov))
    end)

    it("raises for hosts that are neither", function()
        raises_invalid(function() coverage.is_host_covered("x", "macys.com") end, "hosts must be")
    end)
end)

describe("octogen.coverage objects", function()
    local T0 = 1700000000

    it("normalizes, de-duplicates and sorts the server's hosts", function()
        local cov = coverage.new(entries({ "www.allbirds.com", "allbirds" }, { "allbirds.com", "allbirds" },
            { "Zeta.example", "z" }, { "alpha.example.", "a" }), { retrieved_at = T0 })
        assert.same({ "allbirds.com", "alpha.example", "zeta.example" }, cov.hosts)
        assert.is_true(cov:covers("https://allbirds.com/products/x"))
        assert.is_true(cov:covers("www.allbirds.com"))
        assert.is_true(cov:covers("ALPHA.example:443"))
    end)

    it("answers false for nonsense and for hosts it does not list", function()
        local cov = coverage.new(entries { "macys.com", "macys" })
        assert.is_false(cov:covers("nonsense url"))
        assert.is_false(cov:covers(nil))
        assert.is_false(cov:covers(42))
        assert.is_false(cov:covers("https://"))
        assert.is_false(cov:covers("https://shop.macys.com"))
    end)

    it("lists catalogs in first-seen order without duplicates (shop.example a, www.shop.example b)", function()
        local cov = coverage.new(entries({ "shop.example", "a" }, { "www.shop.example", "b" },
            { "shop.example", "a" }, { "other.example", "c" }))
        assert.same({ "a", "b" }, cov:catalogs_for("https://shop.example/p/1"))
        assert.same({ "c" }, cov:catalogs_for("other.example"))
        assert.same({}, cov:catalogs_for("https://unknown.example"))
        assert.same({}, cov:catalogs_for("nonsense url"))
        -- A new list each time: changing it changes nothing.
        local l = cov:catalogs_for("shop.example")
        l[1] = "zzz"
        assert.same({ "a", "b" }, cov:catalogs_for("shop.example"))
    end)

    it("keeps a copy of the entries: changing the input or .entries/.hosts changes no answer", function()
        local input = entries({ "shop.example", "a" })
        local cov = coverage.new(input)
        assert.same(input, cov.entries)
        assert.are_not.equal(input, cov.entries)
        assert.are_not.equal(input[1], cov.entries[1])
        input[1].host = "elsewhere.example"
        cov.entries[1] = nil
        cov.hosts[1] = "elsewhere.example"
        assert.is_true(cov:covers("shop.example"))
        assert.is_false(cov:covers("elsewhere.example"))
        assert.same({ "a" }, cov:catalogs_for("shop.example"))
    end)

    it("keeps entries whose host does not normalize, without covering anything for them", function()
        local cov = coverage.new({ { host = "not a host", catalog = "x" }, { catalog = "y" },
            { host = "shop.example", catalog = "a" } })
        assert.equal(3, #cov.entries)
        assert.same({ "shop.example" }, cov.hosts)
    end)

    it("takes nil entries as none", function()
        local cov = coverage.new(nil, { etag = '"e"', retrieved_at = T0 })
        assert.same({}, cov.entries)
        assert.same({}, cov.hosts)
        assert.is_false(cov:covers("shop.example"))
        assert.equal('"e"', cov.etag)
    end)

    it("is fresh at +4 minutes and stale at +5 with max-age 300; always stale without a max-age", function()
        local cov = coverage.new(entries { "shop.example", "a" }, { max_age_seconds = 300, retrieved_at = T0 })
        assert.is_false(cov:is_stale(T0))
        assert.is_false(cov:is_stale(T0 + 4 * 60))
        assert.is_true(cov:is_stale(T0 + 5 * 60))
        assert.is_true(cov:is_stale(T0 + 3600))
        local no_max = coverage.new(entries { "shop.example", "a" }, { retrieved_at = T0 })
        assert.is_true(no_max:is_stale(T0))
    end)

    it("uses its clock for retrieved_at and for is_stale() without an argument", function()
        local now = T0
        local clock = function() return now end
        local cov = coverage.new({}, { max_age_seconds = 300, clock = clock })
        assert.equal(T0, cov.retrieved_at)
        now = T0 + 299
        assert.is_false(cov:is_stale())
        now = T0 + 300
        assert.is_true(cov:is_stale())
    end)

    it("defaults retrieved_at to os.time()", function()
        local before = os.time()
        local cov = coverage.new({})
        assert.is_true(cov.retrieved_at >= before and cov.retrieved_at <= os.time())
    end)

    it("carries etag and max_age_seconds, and prints its size", function()
        local cov = coverage.new(entries({ "a.example", "a" }, { "b.example", "b" }, { "www.a.example", "c" }),
            { etag = '"9f2c0b1d"', max_age_seconds = 300 })
        assert.equal('"9f2c0b1d"', cov.etag)
        assert.equal(300, cov.max_age_seconds)
        assert.equal("octogen.DomainCoverage<2 hosts>", tostring(cov))
    end)

    it("refreshed() updates the same object on a 304 and keeps what the 304 did not send", function()
        local cov = coverage.new(entries { "shop.example", "a" },
            { etag = '"old"', max_age_seconds = 300, retrieved_at = T0 })
        local hosts, list = cov.hosts, cov.entries
        assert.is_true(cov:is_stale(T0 + 600))
        local same = coverage.refreshed(cov, { retrieved_at = T0 + 600 })
        assert.equal(cov, same)                         -- identity, not a copy
        assert.equal(T0 + 600, cov.retrieved_at)
        assert.equal('"old"', cov.etag)
        assert.equal(300, cov.max_age_seconds)
        assert.is_false(cov:is_stale(T0 + 600))
        assert.equal(hosts, cov.hosts)
        assert.equal(list, cov.entries)
        assert.is_true(cov:covers("shop.example"))
        coverage.refreshed(cov, { etag = '"new"', max_age_seconds = 60, retrieved_at = T0 + 700 })
        assert.equal('"new"', cov.etag)
        assert.equal(60, cov.max_age_seconds)
        assert.is_true(cov:is_stale(T0 + 760))
    end)

    it("refreshed() without retrieved_at takes the object's clock", function()
        local now = T0
        local cov = coverage.new({}, { max_age_seconds = 10, clock = function() return now end })
        now = T0 + 50
        coverage.refreshed(cov)
        assert.equal(T0 + 50, cov.retrieved_at)
    end)

    it("is_coverage tells coverage objects from look-alikes", function()
        local cov = coverage.new({})
        assert.is_true(coverage.is_coverage(cov))
        assert.is_false(coverage.is_coverage({ hosts = {}, entries = {} }))
        assert.is_false(coverage.is_coverage(setmetatable({}, getmetatable(cov))))
        assert.is_false(coverage.is_coverage(nil))
        assert.is_false(coverage.is_coverage("x"))
    end)

    it("raises InvalidArgumentError for mistakes", function()
        raises_invalid(function() coverage.new("x") end, "entries must be a list")
        raises_invalid(function() coverage.new({}, { etag = 5 }) end, "etag must be a string")
        raises_invalid(function() coverage.new({}, { max_age_seconds = -1 }) end, "max_age_seconds must be")
        raises_invalid(function() coverage.new({}, { maxage = 1 }) end, "unknown coverage option")
        raises_invalid(function() coverage.new({}, { retrieved_at = "now" }) end, "retrieved_at must be")
        raises_invalid(function() coverage.new({}, { clock = 5 }) end, "clock must be a function")
        local cov = coverage.new({})
        raises_invalid(function() cov.covers("x") end, "use a colon")
        raises_invalid(function() cov:is_stale("soon") end, "now must be a number")
        raises_invalid(function() coverage.refreshed({}) end, "needs a coverage object")
    end)

    it("points a mistake at the caller's line", function()
        local ok, err = pcall(function() coverage.new("x") end)
        assert.is_false(ok)
        local msg = type(err) == "table" and err.message or err
        assert.truthy(tostring(msg):find("coverage_spec.lua:%d+:"), tostring(msg))
    end)

    it("answers 20,000 lookups over 20,000 hosts (built once, indexed by host)", function()
        local list = {}
        for i = 1, 20000 do list[i] = { host = "shop" .. i .. ".example", catalog = "c" .. i } end
        local cov = coverage.new(list)
        assert.equal(20000, #cov.hosts)
        for i = 1, 20000 do
            assert(cov:covers("https://shop" .. i .. ".example/p"))
        end
        assert.same({ "c777" }, cov:catalogs_for("www.shop777.example"))
    end)
end)
