-- The C core against hostile servers and careless callers (issue 8):
-- finalizers that re-enter a client during a call, header floods, cut-off
-- header blocks, absurd waits and limits, bodiless 2xx answers to typed
-- methods, snake_case key collisions, and the key near a proxy. What may
-- crash runs in a child interpreter, so a crash fails one spec.
local octogen = require "octogen"
local core = require "octogen.core"
local retry = require "octogen.retry"
local helpers = require "spec.support.helpers"
local sh = require "spec.support.sh"
local mock = helpers.mock

local function child_env(extra)
    local env = { LUA_PATH = os.getenv("LUA_PATH") or "", LUA_CPATH = os.getenv("LUA_CPATH") or "" }
    for k, v in pairs(extra or {}) do env[k] = v end
    return env
end

-- Prelude of the child scripts: a client on the mock, and an object whose
-- finalizer calls fn whenever a GC cycle finds it, re-arming itself, so
-- that finalizers keep running while the GC runs continuously.
local function prelude(server)
    return string.format([[
local octogen = require "octogen"
local core = require "octogen.core"
local BASE, KEY = %q, %q
local function gc_object(fn)
    if newproxy then
        local p = newproxy(true)
        getmetatable(p).__gc = fn
        return p
    end
    return setmetatable({}, { __gc = fn })
end
-- True when the finalizer runs inside the C function f (a GC step taken
-- by one of its allocations).
local function inside(f)
    local level = 2
    while true do
        local info = debug.getinfo(level, "f")
        if not info then return false end
        if info.func == f then return true end
        level = level + 1
    end
end
local function churn(on_fire)
    local active = true
    local function arm()
        gc_object(function()
            if active then
                if on_fire() then active = false else arm() end
            end
        end)
    end
    arm()
    collectgarbage("setpause", 0)   -- a new cycle as soon as one ends
    return function() active = false; collectgarbage("setpause", 200) end
end
]], server.base_url, mock.KEY)
end

describe("hostile core", function()
    local server, client
    setup(function()
        server = mock.start()
        client = helpers.client(server, { max_retries = 0 })
    end)
    teardown(function()
        client:close()
        server:stop()
    end)
    before_each(function() server:reset() end)

    describe("re-entry from a finalizer during a call (defect 1)", function()
        it("close() during conversion is deferred: the call completes, the client is closed after #curl", function()
            local out, ok = helpers.run_lua(child_env(), prelude(server) .. [[
local fired = 0
for round = 1, 30 do
    if fired >= 2 then break end
    local c = octogen.client { api_key = KEY, base_url = BASE, max_retries = 0 }
    local closed_inside = false
    local stop = churn(function()
        if inside(core.request) then
            closed_inside = true
            c:close()
            return true
        end
    end)
    local page, meta = c:search_products { catalog = "tidepool", limit = 50 }
    stop()
    assert(type(page) == "table", tostring(meta))
    assert(type(page.items) == "table" and #page.items == 50, "a whole page")
    for _, item in ipairs(page.items) do assert(type(item.uuid) == "string") end
    assert(meta.status == 200)
    if closed_inside then
        fired = fired + 1
        assert(c:is_closed(), "closed once the call returned")
    end
end
assert(fired > 0, "no finalizer ran inside core.request")
print("ok", fired)
]])
            assert.is_true(ok, out)
            assert.truthy(out:find("ok", 1, true), out)
        end)

        it("a blocking call re-entering a busy client is refused with an error object; the outer call is intact #curl", function()
            local out, ok = helpers.run_lua(child_env(), prelude(server) .. [[
local c = octogen.client { api_key = KEY, base_url = BASE, max_retries = 0 }
local inner = {}
local stop = churn(function()
    if inside(core.request) then
        inner = { c:list_catalogs() }
        return true
    end
end)
local page, meta
for _ = 1, 30 do
    page, meta = c:search_products { catalog = "tidepool", limit = 50 }
    if inner[2] then break end
end
stop()
assert(inner[2], "no finalizer ran inside core.request")
assert(inner[1] == nil, "the inner call must not run on the busy handle")
assert(octogen.is_error(inner[2]) and inner[2].name == "OctogenError", tostring(inner[2]))
assert(inner[2].message:find("busy", 1, true), inner[2].message)
assert(type(page) == "table", tostring(meta))
assert(type(page.items) == "table" and #page.items == 50, "the outer call got its own answer")
assert(not c:is_closed())
-- and the client still works
local cats = assert(c:list_catalogs())
assert(type(cats) == "table")
print("ok")
]])
            assert.is_true(ok, out)
            assert.truthy(out:find("ok", 1, true), out)
        end)

        it("close() during a started call's poll or finish leaves the answer intact #curl", function()
            local out, ok = helpers.run_lua(child_env(), prelude(server) .. [[
local c = octogen.client { api_key = KEY, base_url = BASE, max_retries = 0 }
local t = core.start(c, "POST", "products/search", '{"catalog":"tidepool","limit":50}', "object items:array")
local closed_inside = false
local stop = churn(function()
    if inside(core.finish) or inside(core.poll) then
        closed_inside = true
        c:close()
        return true
    end
end)
local done = {}
while #done == 0 and not c:is_closed() do
    done = core.poll(c, 1)
end
local page, meta
if #done > 0 then page, meta = core.finish(done[1]) end
stop()
if page == nil and meta ~= nil then
    -- closed before the transfer finished: an error object, not a string
    assert(octogen.is_error(meta), tostring(meta))
elseif page ~= nil then
    assert(#page.items == 50)
end
print("ok", closed_inside)
]])
            assert.is_true(ok, out)
            assert.truthy(out:find("ok", 1, true), out)
        end)
    end)

    describe("response headers (defect 2)", function()
        -- 24,000 lines stay under libcurl's 300 KB header cap; building
        -- meta.headers from them took ~7 s of CPU here before (O(n^2)).
        it("24,000 header lines cost linear time, and at most OCTOGEN_MAX_HEADERS (100) are kept", function()
            server:fault { path = "/v1/catalogs", mode = "many_headers", count = 24000, body = "[]", times = 1 }
            local c = helpers.client(server, { max_retries = 0, timeout = 10 })
            local t0 = core.now()
            local cats, meta = c:list_catalogs()
            local took = core.now() - t0
            c:close()
            assert.is_true(took < 2.5, "took " .. took .. " s")
            assert.is_table(cats, tostring(meta))
            local n = 0
            for _ in pairs(meta.headers) do n = n + 1 end
            assert.equal(100, n)
            assert.equal("1", meta.headers["x-1"])
        end)

        it("60,000 header lines (past libcurl's cap) are a prompt, clean error", function()
            server:fault { path = "/v1/catalogs", mode = "many_headers", count = 60000, body = "[]", times = 1 }
            local t0 = core.now()
            local cats, err = client:list_catalogs()
            assert.is_true(core.now() - t0 < 2.5)
            if cats == nil then
                assert.is_true(octogen.is_error(err))
            end
        end)

        it("a few hundred headers: the first 100 are kept, in a table built once", function()
            server:fault { path = "/v1/catalogs", mode = "many_headers", count = 300, body = "[]", times = 1 }
            local cats, meta = client:list_catalogs()
            assert.is_table(cats, tostring(meta))
            local n = 0
            for _ in pairs(meta.headers) do n = n + 1 end
            assert.equal(100, n)
            assert.equal("1", meta.headers["x-1"])
            assert.equal("0", meta.headers["x-100"])
            assert.is_nil(meta.headers["x-101"])
        end)

        it("a started call's poll(0) is not blocked by a header flood", function()
            server:fault { path = "/v1/catalogs", mode = "many_headers", count = 24000, body = "[]", times = 1 }
            local c = helpers.client(server, { max_retries = 0, timeout = 10 })
            local t0 = core.now()
            local req = c:start("list_catalogs")
            local cats, meta = req:result()
            local took = core.now() - t0
            c:close()
            assert.is_true(took < 2.5, "took " .. took .. " s")
            assert.is_table(cats, tostring(meta))
        end)
    end)

    describe("a header block cut off mid-stream", function()
        it("inside a header line is a retryable ConnectionError, not APIError 200", function()
            server:fault { path = "/v1/catalogs", mode = "raw", raw = "HTTP/1.1 200 OK\r\nContent-Type: appl", times = 1 }
            local cats, err = client:list_catalogs()
            assert.is_nil(cats)
            assert.is_true(octogen.is_error(err))
            assert.equal("ConnectionError", err.name)
            assert.is_nil(err.status_code)
            assert.is_true(retry.retryable(err))
        end)

        it("after a status line with no end of headers is a ConnectionError", function()
            server:fault { path = "/v1/catalogs", mode = "raw", raw = "HTTP/1.1 200 OK\r\n", times = 1 }
            local cats, err = client:list_catalogs()
            assert.is_nil(cats)
            assert.equal("ConnectionError", err.name)
            assert.is_nil(err.status_code)
        end)

        it("a complete block with a cut body is still reported (not as success)", function()
            server:fault { path = "/v1/catalogs", mode = "raw",
                raw = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n[1,", times = 1 }
            local cats, err = client:list_catalogs()
            assert.is_nil(cats)
            assert.is_true(octogen.is_error(err))
        end)
    end)

    describe("huge waits and limits (defect 8)", function()
        it("core.poll(math.huge) and (1e300) wait for the transfer instead of failing at once #curl", function()
            for _, wait in ipairs { math.huge, 1e300 } do
                server:fault { path = "/v1/catalogs", latency_ms = 300, times = 1 }
                local c = helpers.client(server, { max_retries = 0 })
                local t = core.start(c, "GET", "catalogs", nil, "array")
                -- Each poll waits for activity on the connection; before,
                -- the cast made every poll return at once (thousands of
                -- polls in 300 ms).
                local finished, polls = {}, 0
                while #finished == 0 and polls < 100 do
                    finished = core.poll(c, wait)
                    polls = polls + 1
                end
                assert.is_true(polls < 100, polls .. " polls")
                assert.equal(t, finished[1])
                local cats = core.finish(finished[1])
                assert.is_table(cats)
                c:close()
            end
        end)

        it("client:poll(1e300) waits without spinning and returns when the call is done", function()
            server:fault { path = "/v1/catalogs", latency_ms = 1000, times = 1 }
            local c = helpers.client(server, { max_retries = 0 })
            local req = c:start("list_catalogs")
            local wall0, cpu0 = core.now(), os.clock()
            assert.equal(0, c:poll(1e300))
            local wall, cpu = core.now() - wall0, os.clock() - cpu0
            assert.is_true(req:done())
            assert.is_true(wall >= 0.5, "waited " .. wall)
            -- Before: a busy loop, about one second of CPU for one second.
            assert.is_true(cpu < wall / 3, string.format("cpu %.2f s for %.2f s", cpu, wall))
            c:close()
        end)

        it("client:poll(math.huge) and poll(1e300) with nothing pending return at once", function()
            local c = helpers.client(server)
            local t0 = core.now()
            assert.equal(0, c:poll(1e300))
            assert.equal(0, c:poll(math.huge))
            assert.is_true(core.now() - t0 < 2)
            c:close()
        end)

        it("core.sleep(1e300) sleeps (clamped) rather than returning at once", function()
            local lua = os.getenv("OCTOGEN_TEST_LUA") or "lua5.4"
            local cmd = string.format("LUA_PATH=%s LUA_CPATH=%s timeout 1 %s -e %s; echo rc=$?",
                sh.quote(os.getenv("LUA_PATH") or ""), sh.quote(os.getenv("LUA_CPATH") or ""), lua,
                sh.quote('require("octogen.core").sleep(1e300) print("returned")'))
            local p = assert(io.popen(cmd .. " 2>&1"))
            local out = p:read("*a")
            p:close()
            -- 124: still sleeping when timeout(1) stopped it.
            assert.truthy(out:find("rc=124", 1, true), out)
            assert.falsy(out:find("returned", 1, true), out)
        end)

        it("finite huge timeouts and byte limits are clamped, and the client works", function()
            local c = helpers.client(server, { timeout = 1e300, connect_timeout = 1e300,
                max_response_bytes = 1e300, max_retries = 0 })
            assert.is_table(c:list_catalogs())
            assert.is_table(c:list_catalogs { timeout = 1e300 })
            c:close()
        end)

        it("an array key too large for an integer is an encoding error, not a cast", function()
            local json, why = core.encode { [1e300] = 1 }
            assert.is_nil(json)
            assert.truthy(why:find("holes", 1, true), why)
        end)
    end)

    describe("a 2xx without a body for a typed method (defect 9)", function()
        local function no_content(path)
            server:fault { path = path, status = 204, body = "", times = 1 }
        end

        it("list_catalogs: APIError with status 204, not true", function()
            no_content("/v1/catalogs")
            local cats, err = client:list_catalogs()
            assert.is_nil(cats)
            assert.equal("APIError", err.name)
            assert.equal(204, err.status_code)
            assert.truthy(err.message:find("no body", 1, true), err.message)
        end)

        it("search_products, lookup_product and refresh_products: APIError 204, never a plain error", function()
            no_content("/v1/products/search")
            local page, err = client:search_products { catalog = "tidepool" }
            assert.is_nil(page)
            assert.equal("APIError", err.name)
            assert.equal(204, err.status_code)

            no_content("/v1/products/lookup")
            local product, lerr = client:lookup_product("https://tidepool.example/p/1")
            assert.is_nil(product)
            assert.equal("APIError", lerr.name)
            assert.equal(204, lerr.status_code)

            no_content("/v1/products/refresh")
            local ok, res, rerr = pcall(client.refresh_products, client, { { url = "https://tidepool.example/p/1" } })
            assert.is_true(ok, tostring(res))
            assert.is_nil(res)
            assert.is_true(octogen.is_error(rerr), tostring(rerr))
            assert.is_true(rerr:is("APIError"), tostring(rerr))
        end)

        it("items(): raises the APIError object", function()
            no_content("/v1/products/search")
            local ok, err = pcall(function()
                for _ in client:items { catalog = "tidepool" } do end
            end)
            assert.is_false(ok)
            assert.is_true(octogen.is_error(err), tostring(err))
            assert.equal("APIError", err.name)
            assert.equal(204, err.status_code)
        end)

        it("request() with no shape keeps returning true, meta for a 204", function()
            no_content("/v1/catalogs")
            local result, meta = client:request("GET", "catalogs")
            assert.is_true(result)
            assert.equal(204, meta.status)
        end)
    end)

    describe("snake_case collisions (defect 11): the first member wins", function()
        it("decodes colliding and repeated keys deterministically", function()
            assert.equal(1, core.decode('{"Size":1,"size":2}').size)
            assert.equal(2, core.decode('{"size":2,"Size":1}').size)
            assert.equal(1, core.decode('{"a":1,"a":2}').a)
            assert.equal(3, core.decode('{"a":null,"A":3}').a)
            assert.equal("x", core.decode('{"productURL":"x","product_url":"y","productUrl":"z"}').product_url)
            local t = core.decode('{"b":{"C":1},"b":[1,2],"n":[{"K":1,"k":2}]}')
            assert.equal(1, t.b.c)
            assert.equal(1, t.n[1].k)
        end)

        it("marks decoded arrays so [] and {} stay apart and re-encode as they came", function()
            local arr_mt = getmetatable(octogen.array {})
            assert.equal(arr_mt, getmetatable(core.decode("[]")))
            assert.is_nil(getmetatable(core.decode("{}")))
            assert.equal('{"a":[],"b":{},"c":[1,[]]}', core.encode(core.decode('{"a":[],"b":{},"c":[1,[]]}')))
        end)

        it("page.items is checked on the value kept: a later Items cannot replace it", function()
            server:fault { path = "/v1/products/search", status = 200, body = '{"items":[],"Items":"abc"}', times = 1 }
            local page, meta = client:search_products { catalog = "tidepool" }
            assert.is_table(page, tostring(meta))
            assert.is_table(page.items)
            assert.equal(0, #page.items)
        end)

        it("page.items is checked on the value kept: an earlier Items is refused", function()
            server:fault { path = "/v1/products/search", status = 200, body = '{"Items":"abc","items":[]}', times = 1 }
            local page, err = client:search_products { catalog = "tidepool" }
            assert.is_nil(page)
            assert.equal("APIError", err.name)
            assert.equal(200, err.status_code)
            assert.truthy(err.message:find("items is not a JSON array", 1, true), err.message)
        end)

        it("an empty array where an object is promised is refused", function()
            server:fault { path = "/v1/products/lookup", status = 200, body = '{"product":[]}', times = 1 }
            local result, err = client:lookup_product("https://tidepool.example/p/1")
            assert.is_nil(result)
            assert.equal("APIError", err.name)
        end)
    end)

    describe("tiny limits never become no limits (defect 15)", function()
        it("refuses timeouts below 1 ms and byte limits below 1 or fractional", function()
            for _, opts in ipairs {
                { timeout = 0.0004 }, { connect_timeout = 1e-9 }, { max_response_bytes = 0.5 },
                { max_response_bytes = 10.5 },
            } do
                opts.api_key = "k"
                local ok, err = pcall(octogen.client, opts)
                assert.is_false(ok)
                assert.equal("InvalidArgumentError", err.name)
                assert.truthy(err.message:find("option", 1, true), err.message)
            end
        end)

        it("a per-call timeout below 1 ms is rounded up to 1 ms, not to 'no limit'", function()
            server:fault { path = "/v1/catalogs", latency_ms = 500, times = 1 }
            local cats, err = client:list_catalogs { timeout = 0.0001 }
            assert.is_nil(cats)
            assert.equal("TimeoutError", err.name)
        end)
    end)

    describe("the key and proxies over plain http (defect 4)", function()
        it("environment proxies are bypassed for an http:// base URL #curl", function()
            local proxy = mock.start()
            local proxy_url = "http://127.0.0.1:" .. proxy.port
            local ok_run, out, ok = pcall(helpers.run_lua, child_env {
                http_proxy = proxy_url, HTTP_PROXY = proxy_url, ALL_PROXY = proxy_url,
                all_proxy = proxy_url, no_proxy = false, NO_PROXY = false,
            }, prelude(server) .. [[
local c = octogen.client { api_key = KEY, base_url = BASE, max_retries = 0 }
local cats, err = c:list_catalogs()
assert(cats, tostring(err))
print("ok")
]])
            local seen = proxy:requests()
            proxy:stop()
            assert.is_true(ok_run, tostring(out))
            assert.is_true(ok, out)
            assert.equal(0, #seen, "the proxy received a request")
            local last = server:last_request()
            assert.equal("/v1/catalogs", last.path)
        end)

        it("refuses an explicit non-loopback proxy with an http:// base URL unless allow_insecure_http", function()
            local ok, err = pcall(octogen.client, { api_key = "k", base_url = server.base_url,
                proxy = "http://proxy.example:3128" })
            assert.is_false(ok)
            assert.equal("InvalidArgumentError", err.name)
            assert.truthy(err.message:find("proxy", 1, true) and err.message:find("base_url", 1, true), err.message)
            local c = octogen.client { api_key = "k", base_url = server.base_url,
                proxy = "http://proxy.example:3128", allow_insecure_http = true }
            c:close()
            c = octogen.client { api_key = "k", base_url = server.base_url, proxy = "http://127.0.0.1:9" }
            c:close()
            c = octogen.client { api_key = "k", proxy = "http://proxy.example:3128" }  -- https base
            c:close()
        end)
    end)

    describe("closed clients give error objects", function()
        it("a started transfer detached by close() finishes with an OctogenError object #curl", function()
            server:fault { path = "/v1/catalogs", latency_ms = 300, times = 1 }
            local c = helpers.client(server, { max_retries = 0 })
            local t = core.start(c, "GET", "catalogs", nil, "array")
            c:close()
            local result, err = core.finish(t)
            assert.is_nil(result)
            assert.is_true(octogen.is_error(err), tostring(err))
            assert.equal("OctogenError", err.name)
            assert.truthy(err.message:find("client is closed", 1, true))
        end)

        it("a core call on a closed client raises an OctogenError object #curl", function()
            local c = helpers.client(server)
            c:close()
            for _, f in ipairs {
                function() return core.request(c, "GET", "catalogs") end,
                function() return core.poll(c, 0) end,
                function() return core.start(c, "GET", "catalogs") end,
            } do
                local ok, err = pcall(f)
                assert.is_false(ok)
                assert.is_true(octogen.is_error(err), tostring(err))
                assert.equal("OctogenError", err.name)
                assert.truthy(err.message:find("client is closed", 1, true))
            end
        end)
    end)
end)
