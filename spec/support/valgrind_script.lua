-- What `make valgrind` runs under memcheck (see check.mk): one pass over
-- everything the C core does -- every client method against the mock, the
-- error paths (401, 404, 422, a dropped connection, a non-JSON body, a
-- timeout, a closed client), the retry loop, and core.decode/core.encode of
-- odd inputs -- then close, a full collection, and the mock stopped, so that
-- whatever the module allocated and still holds shows up as a leak.
--
-- Not a spec (busted only loads *_spec.lua): a plain script that checks
-- each result and exits non-zero on the first surprise. By hand:
--
--   LUA_PATH="lua/?.lua;lua/?/init.lua;./?.lua;;" LUA_CPATH="build/5.4/?.so;;" \
--     lua5.4 spec/support/valgrind_script.lua
--
-- Only lua5.4 runs under valgrind; the mock's nginx is a child process,
-- which memcheck does not follow.
local mock = require "spec.support.mock"
local octogen = require "octogen"
local core = require "octogen.core"

local function check(cond, what, ...)
    if not cond then error(what .. ": " .. table.concat({ tostring(select(1, ...)) }, " "), 2) end
    return cond
end

local function expect_error(name, res, err)
    check(res == nil, "expected " .. name .. ", got a result", res)
    check(octogen.is_error(err), "expected an error object for " .. name, err)
    check(err.name == name, "expected " .. name, tostring(err))
    -- every field the C side fills, read once (tostring goes through Lua)
    local fields = { tostring(err), err.message, err.detail, err.body, err.headers, err.request_id }
    check(type(fields[1]) == "string" and type(fields[2]) == "string", "error without a message", err)
    return err
end

local steps = 0
local function step(name, f)
    steps = steps + 1
    io.stderr:write(("valgrind_script: %2d %s\n"):format(steps, name))
    f()
end

local function run(server)
    local no_wait = function() end
    -- max_retries = 0 except where the retry loop itself is the point: the
    -- fault rules below fire once and must be seen by the call that follows.
    local client = octogen.client {
        api_key = mock.KEY, base_url = server.base_url, max_retries = 0,
        headers = { ["X-Seller-Id"] = "7" }, user_agent = "valgrind-script/1",
    }
    check(tostring(client):find("octogen.client<", 1, true), "tostring", tostring(client))

    step("list_catalogs", function()
        local catalogs, meta = client:list_catalogs()
        check(catalogs and #catalogs > 0, "list_catalogs", meta)
        check(meta.status == 200 and meta.request_id, "meta", meta.status)
    end)

    step("search_products with facets, price range, text query", function()
        local page = client:search_products {
            catalog = "warrenlotas", q = "hoodie", limit = 50,
            facets = { color_family = { "Black", "Gray" } }, price_min = 1, price_max = 10000,
        }
        check(page and type(page.items) == "table", "search_products")
        page = client:search_products {
            catalog = "warrenlotas", facets = { { name = "color_family", values = { "Black" } } },
            text_search_query = { text = "black hoodie" }, limit = 50,
        }
        check(page and type(page.items) == "table", "search_products (list facets)")
    end)

    step("pages over 3 pages", function()
        local n, seen = 0, 0
        for page in client:pages { catalog = "warrenlotas", limit = 5, max_pages = 3 } do
            n = n + 1
            seen = seen + #page.items
        end
        check(n == 3 and seen == 15, "pages", n, seen)
    end)

    step("items", function()
        local n = 0
        for item in client:items { catalog = "warrenlotas", q = "hoodie", limit = 7 } do
            check(item.uuid, "item without uuid")
            n = n + 1
        end
        check(n == mock.data.hoodie_count, "items", n, mock.data.hoodie_count)
    end)

    step("lookup_product", function()
        local res = client:lookup_product(mock.data.product_url,
            { resolution_mode = "auto", on_demand_cache_policy = "prefer_cache" })
        check(res and res.product and res.product.uuid == mock.data.product_uuid, "lookup_product")
        local none, err = client:lookup_product(mock.data.unknown_url)
        check(none == nil and octogen.is_error(err), "lookup of an unknown URL", err)
    end)

    step("refresh_products: 1,234 targets in 3 batches, and invalid ones", function()
        local targets = {}
        for i = 1, 1234 do
            targets[i] = { catalog = "tidepool",
                url = ("https://tidepool.example/products/new-drop-%04d"):format(i) }
        end
        targets[#targets + 1] = mock.data.tidepool_url                 -- string shorthand
        targets[#targets + 1] = { uuid = mock.data.tidepool_uuid }
        targets[#targets + 1] = {}                                      -- invalid: neither
        targets[#targets + 1] = { url = "https://x.example/a", uuid = "u-1" } -- invalid: both
        targets[#targets + 1] = { uuid = "no-such-uuid" }               -- rejected by the server
        local res, err = client:refresh_products(targets, { batch_size = 500 })
        res = res or (err and err.result)
        check(res, "refresh_products", err)
        check(res.submitted == #targets, "submitted", res.submitted, #targets)
        check(#res.accepted + #res.rejected == res.submitted, "accepted + rejected")
        local invalid = 0
        for _, r in ipairs(res.rejected) do
            if r.code == "invalid_target" then invalid = invalid + 1 end
        end
        check(invalid == 2, "invalid_target count", invalid)
        -- nothing valid at all: a ValidationError with the merged result
        local none, verr = client:refresh_products { {}, { url = "a", uuid = "b" } }
        check(none == nil and verr and verr.result, "refresh with only invalid targets", verr)
    end)

    step("request: GET, POST with table and string bodies, 204", function()
        check(client:request("GET", "catalogs"), "request GET")
        local page = client:request("POST", "products/search",
            { catalog = "tidepool", limit = 2, facets = octogen.array {} })
        check(page and #page.items == 2, "request POST table")
        check(client:request("POST", "products/search", '{"limit":1}'), "request POST string")
        server:fault { path = "/v1/things/7", times = 1, status = 204, body = "" }
        check(client:request("DELETE", "things/7") == true, "204 is true")
    end)

    step("401", function()
        local bad = octogen.client { api_key = "octo_wrong", base_url = server.base_url, max_retries = 0 }
        expect_error("AuthenticationError", bad:list_catalogs())
        bad:close()
    end)

    step("404", function()
        expect_error("NotFoundError", client:request("GET", "no/such/route"))
    end)

    step("422 with a validation list", function()
        server:fault { path = "/v1/products/search", times = 1, status = 422,
            body = '{"detail":[{"loc":["body","limit"],"msg":"Input should be less than or equal to 100",'
                .. '"type":"less_than_equal","input":250,"ctx":{"le":100}}]}' }
        local err = expect_error("ValidationError", client:search_products { catalog = "warrenlotas" })
        check(type(err.detail) == "table" and err.detail[1].msg, "422 detail")
    end)

    step("other statuses and bodies (500 empty, 502 html, 400 object, 429)", function()
        for _, rule in ipairs {
            { status = 500, body = "", name = "ServerError" },
            { status = 502, body = "<html>Bad Gateway</html>", name = "ServerError" },
            { status = 400, body = '{"error":"bad","requestId":"rq-1","nested":{"aB":[1,2.5,null]}}', name = "APIError" },
            { status = 429, body = '{"detail":"rate_limit_exceeded"}', retry_after = 1, name = "RateLimitError" },
        } do
            local name = rule.name
            rule.name, rule.path, rule.times = nil, "/v1/catalogs", 1
            server:fault(rule)
            expect_error(name, client:list_catalogs())
        end
    end)

    step("a 2xx of the wrong shape", function()
        server:fault { path = "/v1/products/search", times = 1, status = 200, body = '{"items":{"a":1}}' }
        expect_error("APIError", client:search_products { catalog = "warrenlotas" })
    end)

    step("drop fault (connection closed mid-body)", function()
        server:fault { path = "/v1/catalogs", times = 1, mode = "drop" }
        expect_error("ConnectionError", client:list_catalogs())
    end)

    step("truncated fault", function()
        server:fault { path = "/v1/catalogs", times = 1, mode = "truncated" }
        local res, err = client:list_catalogs()
        check(res == nil and octogen.is_error(err), "truncated", err)
    end)

    step("non_json fault", function()
        server:fault { path = "/v1/catalogs", times = 1, mode = "non_json" }
        expect_error("APIError", client:list_catalogs())
    end)

    step("hang fault with timeout = 0.5", function()
        local slow = octogen.client { api_key = mock.KEY, base_url = server.base_url,
            timeout = 0.5, max_retries = 0 }
        server:fault { path = "/v1/catalogs", times = 1, mode = "hang", seconds = 2 }
        expect_error("TimeoutError", slow:list_catalogs())
        slow:close()
    end)

    step("retry loop: 503 then success", function()
        local retrying = octogen.client { api_key = mock.KEY, base_url = server.base_url,
            max_retries = 2, sleep = no_wait }
        server:fault { path = "/v1/catalogs", times = 1, status = 503, body = '{"detail":"busy"}' }
        local catalogs, meta = retrying:list_catalogs()
        check(catalogs and meta.attempts == 2, "retry", meta and meta.attempts)
        retrying:close()
    end)

    step("refused connection", function()
        local dead = octogen.client { api_key = mock.KEY, base_url = "http://127.0.0.1:9/v1", max_retries = 0 }
        expect_error("ConnectionError", dead:list_catalogs())
        dead:close()
    end)

    step("closed client", function()
        client:close()
        client:close()
        check(client:is_closed(), "is_closed")
        local ok, msg = pcall(client.list_catalogs, client)
        check(not ok and tostring(msg):find("closed", 1, true), "closed client raises", msg)
        check(tostring(client):find("(closed)", 1, true), "tostring of a closed client")
    end)

    step("a client left to the garbage collector", function()
        local forgotten = octogen.client { api_key = mock.KEY, base_url = server.base_url }
        check(forgotten:list_catalogs(), "forgotten client works")
        forgotten = nil  -- luacheck: ignore 311
        collectgarbage("collect")
    end)

    step("core.decode and core.encode of odd inputs", function()
        local odd = {
            "", " ", "null", "true", "0", "-0", "-0.0", "1e400", "-1e400", "1e-400",
            "9223372036854775807", "9223372036854775808", "-9223372036854775808",
            "123456789012345678901234567890", "0." .. ("0"):rep(300) .. "1",
            '"\\u0000\\ud83d\\ude00\\u00e9"', '"\255\254"', "[1,", "{\"a\":}", "{}", "[]",
            '{"aB":null,"cD":[null,null],"URLPath":{"productURL":1}}',
            '{"' .. ("longKeyWithCapitals"):rep(40) .. '":1}',
            ("["):rep(511) .. ("]"):rep(511), ("["):rep(513) .. ("]"):rep(513),
            ("{\"a\":"):rep(200) .. "1" .. ("}"):rep(200),
            '[1, 2.5, "x", true, false, null, {"k": [[]]}]',
            "\239\187\191{}", "[1]garbage", "{\"a\":1}{\"b\":2}",
        }
        for _, s in ipairs(odd) do
            local v, why = core.decode(s)
            if v == nil then
                check(type(why) == "string", "decode reason", s)
            else
                local j, ewhy = core.encode(v)
                check(j or type(ewhy) == "string", "encode reason", s)
                if j then check(core.decode(j) ~= nil or j == "null", "re-decode", j) end
            end
        end
        local cyc = {}
        cyc.self = cyc
        for _, v in ipairs {
            cyc, { 1, nil, 3 }, { 1, a = 2 }, { [1.5] = 1 }, { [true] = 1 }, 0 / 0, math.huge,
            "\255", { ["\255"] = 1 }, print, coroutine.create(print), io.stdout,
            octogen.null, octogen.array {}, octogen.array { 1, octogen.null }, {},
            { z = 1, a = { b = { c = { 1.5, -2, "s" } } } }, 2 ^ 53, -2 ^ 63, 1e300, 0.1,
        } do
            local j, why = core.encode(v)
            check(j or type(why) == "string", "encode of a " .. type(v))
        end
    end)
end

local server = mock.start()
local ok, err = xpcall(run, debug.traceback, server)
server:stop()
collectgarbage("collect")
collectgarbage("collect")
if not ok then
    io.stderr:write("valgrind_script: FAILED: ", tostring(err), "\n")
    os.exit(1)
end
io.stderr:write(("valgrind_script: %d steps passed\n"):format(steps))
