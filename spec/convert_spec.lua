-- The JSON <-> Lua conversion of the C core, through octogen.core's
-- decode/encode (the same code every response goes through).
local core = require "octogen.core"
local octogen = require "octogen"

describe("JSON to Lua conversion", function()
    it("turns camelCase keys into snake_case, a run of capitals being one word", function()
        local t = assert(core.decode('{"productUrl":1,"nextCursor":2,"displayName":3,' ..
            '"URLPath":5,"hexCode":6,"x":7,"already_snake":8,"type_synonyms":9,"ageGroups":10,"a1B":11}'))
        assert.same({ product_url = 1, next_cursor = 2, display_name = 3, url_path = 5, hex_code = 6,
            x = 7, already_snake = 8, type_synonyms = 9, age_groups = 10, a1_b = 11 }, t)
        assert.same({ product_url = 4 }, core.decode('{"productURL":4}'))
    end)

    it("leaves keys without capitals as they are, at every depth", function()
        local t = core.decode('{"enrichment":{"color_family":"Black","attributes":{"fit":["slim"],"sleeve length":["long"]}}}')
        assert.same({ "slim" }, t.enrichment.attributes.fit)
        assert.same({ "long" }, t.enrichment.attributes["sleeve length"])
        assert.equal("Black", t.enrichment.color_family)
    end)

    it("drops null members and keeps null array elements as octogen.null", function()
        local t = core.decode('{"a":null,"b":[1,null,3],"c":{"d":null}}')
        assert.is_nil(t.a)
        assert.equal(3, #t.b)
        assert.equal(octogen.null, t.b[2])
        assert.is_nil(next(t.c))
        local cjson = require "cjson"
        assert.are_not.equal(cjson.null, t.b[2])
    end)

    it("makes integral numbers integers and keeps fractions as floats", function()
        local t = core.decode('{"n":1248,"f":129.5,"z":129.0,"e":1e3,"neg":-7,"big":12345678901234}')
        assert.equal(1248, t.n)
        assert.equal(129.5, t.f)
        assert.equal(1000, t.e)
        assert.equal(-7, t.neg)
        assert.equal(12345678901234, t.big)
        if math.type then
            assert.equal("integer", math.type(t.n))
            assert.equal("integer", math.type(t.z))
            assert.equal("integer", math.type(t.e))
            assert.equal("float", math.type(t.f))
            assert.equal("1248", tostring(t.n))
        end
    end)

    it("keeps arrays as sequences and strings byte for byte", function()
        local t = core.decode('{"a":["x","y\\u00e9\\n",""],"s":"caf\\u00e9 \\"q\\""}')
        assert.same({ "x", "yé\n", "" }, t.a)
        assert.equal('café "q"', t.s)
    end)

    it("refuses invalid JSON, invalid UTF-8 and absurd nesting with a reason", function()
        local v, why = core.decode('{"a":')
        assert.is_nil(v)
        assert.equal("invalid JSON", why)
        v, why = core.decode('"\255\254"')
        assert.is_nil(v)
        assert.equal("invalid JSON", why)
        v, why = core.decode(string.rep("[", 100000) .. string.rep("]", 100000))
        assert.is_nil(v)
        assert.equal("JSON is nested too deeply", why)
        v, why = core.decode("")
        assert.is_nil(v)
        assert.equal("empty body", why)
    end)
end)

describe("Lua to JSON encoding", function()
    it("writes object keys in sorted order so bodies are deterministic", function()
        assert.equal('{"a":1,"b":[1,2,"x"],"c":{"y":true,"z":false}}',
            core.encode { c = { z = false, y = true }, b = { 1, 2, "x" }, a = 1 })
    end)

    it("writes numbers compactly and exactly", function()
        assert.equal('[0.1,50,-3,1e+300,129.5]', core.encode { 0.1, 50, -3, 1e300, 129.5 })
        assert.equal('[50]', core.encode { 50.0 })
    end)

    it("encodes empty tables as objects unless marked with octogen.array", function()
        assert.equal('{"a":{},"b":[]}', core.encode { a = {}, b = octogen.array {} })
    end)

    it("encodes octogen.null and cjson.null as null", function()
        local cjson = require "cjson"
        assert.equal('[null,null]', core.encode { octogen.null, cjson.null })
    end)

    it("refuses what JSON cannot carry", function()
        local cases = {
            { { 1, nil, 3 }, "array has holes" },
            { { [1] = 1, x = 2 }, "mixes" },
            { { f = print }, "cannot be encoded" },
            { { bad = "\255" }, "UTF%-8" },
            { { n = 0 / 0 }, "NaN" },
            { { [true] = 1 }, "neither a string" },
        }
        for _, c in ipairs(cases) do
            local json, why = core.encode(c[1])
            assert.is_nil(json)
            assert.truthy(why:find(c[2]), why)
        end
        local cyclic = {}
        cyclic.self = cyclic
        local json, why = core.encode(cyclic)
        assert.is_nil(json)
        assert.truthy(why:find("cycle"))
    end)
end)
