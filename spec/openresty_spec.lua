-- octogen.resty and octogen.worker: the client for OpenResty handlers.
--
-- Two parts. The first runs octogen.resty in this interpreter with an
-- ngx.run_worker_thread that copies values across the way lua-nginx-module
-- 0.10.23 does (plain data only, metatables dropped, functions refused),
-- so the plumbing (error objects, cycles, functions refused, pages, a busy
-- VM pool) is tested against the mock without nginx. The second starts
-- examples/openresty/ in Debian's nginx (one worker) and checks what the
-- issue asks: 8 concurrent requests, each waiting 200 ms on the API, are
-- answered together, and the event loop stays free meanwhile.
local octogen = require "octogen"
local cjson = require "cjson"
local socket = require "socket"
local helpers = require "spec.support.helpers"
local openresty = require "spec.support.openresty"
local mock = helpers.mock

---------------------------------------------------------------------------
-- ngx.run_worker_thread, emulated in-process

-- lua-nginx-module's xcopy: booleans, numbers, strings, light userdata and
-- tables of them; nil only at the top level; anything else fails the whole
-- copy. (It recurses into a cycle until the C stack overflows: here that
-- is an error, so a test would see it.)
local function xcopy(v, top, depth)
    depth = depth or 0
    if depth > 200 then error("xcopy: table nested too deeply (a cycle?)") end
    local t = type(v)
    if t == "nil" then
        if top then return true, nil end
        return false
    elseif t == "boolean" or t == "number" or t == "string" then
        return true, v
    elseif t == "userdata" then
        -- light userdata (octogen.null, cjson.null) crosses as the same
        -- pointer; full userdata (with a metatable, such as a client) does not
        if getmetatable(v) == nil then return true, v end
        return false
    elseif t == "table" then
        local out = {}
        for k, x in pairs(v) do
            local okk, ck = xcopy(k, false, depth + 1)
            if not okk then return false end
            local okv, cx = xcopy(x, false, depth + 1)
            if not okv then return false end
            out[ck] = cx
        end
        return true, out
    end
    return false
end

local unpack = table.unpack or unpack
local function pack(...) return { n = select("#", ...), ... } end

-- A loopback port nothing listens on (connections are refused).
local function closed_port()
    local s = assert(socket.bind("127.0.0.1", 0))
    local _, port = s:getsockname()
    s:close()
    return tonumber(port)
end

local function fake_ngx()
    local fake = { pools = { octogen = true }, busy = 0, sleeps = {}, calls = 0 }
    function fake.sleep(s) fake.sleeps[#fake.sleeps + 1] = s end
    function fake.run_worker_thread(pool, module, fname, ...)
        fake.calls = fake.calls + 1
        if not fake.pools[pool] then return false, "thread_pool not found" end
        if fake.busy > 0 then
            fake.busy = fake.busy - 1
            return false, "no available Lua vm"
        end
        local okm, mod = pcall(require, module)
        if not okm then return false, mod end
        if type(mod) ~= "table" then return false, "invalid lua module" end
        if type(mod[fname]) ~= "function" then return false, "invalid function" end
        local n = select("#", ...)
        local argv = { ... }
        for i = 1, n do
            local ok, c = xcopy(argv[i], true)
            if not ok then return false, "unsupported argument type" end
            argv[i] = c
        end
        local res = pack(pcall(mod[fname], unpack(argv, 1, n)))
        if not res[1] then
            return false, type(res[2]) == "string" and res[2] or ""
        end
        local out = { true }
        for i = 2, res.n do
            local ok, c = xcopy(res[i], true)
            if not ok then return false, "unsupported return value" end
            out[i] = c
        end
        return unpack(out, 1, res.n)
    end
    return fake
end


describe("octogen.resty (ngx.run_worker_thread emulated in-process)", function()
    local resty, worker, server, fake, saved_ngx
    setup(function()
        resty = require "octogen.resty"
        worker = require "octogen.worker"
        server = mock.start()
        saved_ngx = rawget(_G, "ngx")
    end)
    teardown(function()
        rawset(_G, "ngx", saved_ngx)
        server:stop()
    end)
    before_each(function()
        server:reset()
        fake = fake_ngx()
        rawset(_G, "ngx", fake)
    end)

    local function client(opts)
        local o = { api_key = mock.KEY, base_url = server.base_url, max_retries = 0 }
        for k, v in pairs(opts or {}) do o[k] = v end
        return resty.client(o)
    end

    it("returns what the blocking client returns, through the worker thread", function()
        local c = client()
        local page, meta = c:search_products { catalog = "tidepool", limit = 3 }
        assert.is_table(page, tostring(meta))
        assert.equal(1, fake.calls)
        local want = assert(helpers.client(server):search_products { catalog = "tidepool", limit = 3 })
        assert.same(want.items, page.items)
        assert.equal(want.next_cursor, page.next_cursor)
        assert.equal(200, meta.status)
        assert.is_string(meta.request_id)
        assert.equal(1, meta.attempts)
        assert.is_nil(getmetatable(page))
        assert.truthy(tostring(c):match("^octogen%.resty%.client<http://127%.0%.0%.1:%d+/v1>$"))
        assert.is_table(c:list_catalogs())
    end)

    it("returns API errors as real error objects", function()
        server:fault { path = "/v1/products/search", status = 404, times = 1 }
        local page, err = client():search_products { catalog = "nope" }
        assert.is_nil(page)
        assert.is_true(octogen.is_error(err))
        assert.equal("NotFoundError", err.name)
        assert.equal(404, err.status_code)
        assert.is_true(err:is("APIError"))
        assert.is_true(err:is("OctogenError"))
        assert.is_string(err.request_id)
        assert.equal(1, err.attempts)
        assert.truthy(tostring(err):match("^NotFoundError: Not Found %(HTTP 404, POST http://"), tostring(err))
    end)

    it("returns network failures as ConnectionError objects", function()
        local port = closed_port()
        local c = client { base_url = "http://127.0.0.1:" .. port .. "/v1" }
        local _, err = c:list_catalogs()
        assert.is_true(octogen.is_error(err))
        assert.is_true(err:is("ConnectionError"), tostring(err))
        assert.is_nil(err.status_code)
    end)

    it("raises InvalidArgumentError at the caller's line, before anything is sent", function()
        local c = client()
        local ok, err = pcall(function()
            local page = c:search_products { limit = 1000 }
            return page
        end)
        assert.is_false(ok)
        assert.is_true(octogen.is_error(err))
        assert.equal("InvalidArgumentError", err.name)
        assert.truthy(err.message:match("^spec/openresty_spec%.lua:%d+: limit must be an integer between 1 and 100"),
            err.message)
        ok, err = pcall(c.search_products, c, { colour = "red" })
        assert.is_false(ok)
        assert.equal('unknown search parameter "colour"', err.message)
        assert.same({}, server:requests())
    end)

    it("checks options at resty.client() as octogen.client does, and refuses functions", function()
        local ok, err = pcall(resty.client, { api_key = "k", timout = 5 })
        assert.is_false(ok)
        assert.equal("InvalidArgumentError", err.name)
        assert.truthy(err.message:find('unknown option "timout"', 1, true))
        for _, name in ipairs { "on_request", "on_response", "sleep", "api_key" } do
            ok, err = pcall(resty.client, { api_key = "k", [name] = function() end })
            assert.is_false(ok)
            assert.equal("InvalidArgumentError", err.name)
            assert.truthy(err.message:find("option " .. name .. " is a function", 1, true), err.message)
            assert.truthy(err.message:find("cannot cross into an nginx worker thread", 1, true))
        end
        ok, err = pcall(function() client():search_products({}, { sleep = function() end }) end)
        assert.is_false(ok)
        assert.equal("InvalidArgumentError", err.name)
        assert.truthy(err.message:find("argument 2 field sleep is a function", 1, true), err.message)
        local loop = {}
        loop.self = loop
        ok, err = pcall(function() client():search_products(loop) end)
        assert.is_false(ok)
        assert.truthy(err.message:find("refers to itself", 1, true), err.message)
        assert.equal(0, fake.calls)
    end)

    it("raises MissingAPIKeyError at resty.client() when no key is found", function()
        local out, ok = helpers.run_lua({ LUA_PATH = os.getenv("LUA_PATH") or "", LUA_CPATH = os.getenv("LUA_CPATH") or "" }, [[
            local resty = require "octogen.resty"
            local ok, err = pcall(resty.client, { base_url = "http://127.0.0.1:9/v1" })
            print(ok, err.name)
        ]])
        assert.is_true(ok, out)
        assert.equal("false\tMissingAPIKeyError\n", out)
    end)

    it("brings back error objects inside results, and the cycle err.result.errors[1] == err", function()
        local known = assert(helpers.client(server):search_products { catalog = "tidepool", limit = 2 }).items
        server:reset()
        -- one batch of two fails (503), the other is accepted
        server:fault { path = "/v1/products/refresh", status = 503, times = 1 }
        local res = assert(client():refresh_products({ known[1].product_url, known[2].product_url },
            { batch_size = 1 }))
        assert.equal(1, #res.accepted)
        assert.equal(1, #res.errors)
        assert.is_true(octogen.is_error(res.errors[1]))
        assert.is_true(res.errors[1]:is("ServerError"))
        assert.equal("batch_failed", res.rejected[1].code)
        -- nothing accepted: nil, err with err.result, whose errors hold err itself
        server:fault { path = "/v1/products/refresh", status = 503 }
        local none, err = client():refresh_products { known[1].product_url }
        assert.is_nil(none)
        assert.is_true(octogen.is_error(err))
        assert.equal(503, err.status_code)
        assert.equal(1, err.result.submitted)
        assert.equal(err, err.result.errors[1])
    end)

    it("sends request() bodies with octogen.array and octogen.null intact", function()
        client():request("POST", "products/search", { limit = 1, facets = octogen.array {}, cursor = octogen.null })
        assert.equal('{"cursor":null,"facets":[],"limit":1}', server:last_request().body)
    end)

    it("walks pages and items, and raises with err.cursor when a page fails", function()
        local c = client()
        local n, cursors = 0, {}
        for page, meta in c:pages { catalog = "tidepool", limit = 2, max_pages = 3 } do
            n = n + 1
            assert.equal(200, meta.status)
            cursors[n] = page.next_cursor
        end
        assert.equal(3, n)
        local items = 0
        for item in c:items { catalog = "tidepool", limit = 2, max_pages = 2 } do
            assert.is_string(item.title)
            items = items + 1
        end
        assert.equal(4, items)
        local ok, err = pcall(c.pages, c, { max_pages = 0 })
        assert.is_false(ok)
        assert.equal("InvalidArgumentError", err.name)
        local it = c:pages { catalog = "tidepool", limit = 2 }
        assert.truthy(it())
        server:fault { path = "/v1/products/search", status = 503, times = 1 }
        local ok2, err2 = pcall(it)
        assert.is_false(ok2)
        assert.is_true(octogen.is_error(err2))
        assert.equal(cursors[1], err2.cursor)
    end)

    it("waits for a free worker-thread VM with ngx.sleep, for at most resty.vm_wait", function()
        fake.busy = 3
        assert.is_table(client():list_catalogs())
        assert.equal(3, #fake.sleeps)
        local saved = resty.vm_wait
        resty.vm_wait = 0.01
        fake.busy = math.huge
        local ok, res, err = pcall(function() return client():list_catalogs() end)
        resty.vm_wait = saved
        assert.is_true(ok)
        assert.is_nil(res)
        assert.equal("OctogenError", err.name)
        assert.equal("ngx.run_worker_thread failed: no available Lua vm", err.message)
    end)

    it("raises with the nginx.conf fix when the thread pool or the module is missing", function()
        local saved = resty.pool_name
        resty.pool_name = "elsewhere"
        local ok, err = pcall(function() return client():list_catalogs() end)
        resty.pool_name = saved
        assert.is_false(ok)
        assert.equal("OctogenError", err.name)
        assert.truthy(err.message:find("thread_pool elsewhere threads=16;", 1, true), err.message)
        saved = resty.worker_module
        resty.worker_module = "octogen.no_such_worker"
        ok, err = pcall(function() return client():list_catalogs() end)
        resty.worker_module = saved
        assert.is_false(ok)
        assert.truthy(err.message:find("lua_package_path", 1, true), err.message)
    end)

    it("raises outside OpenResty, and after close()", function()
        local c = client()
        rawset(_G, "ngx", nil)
        local ok, err = pcall(c.list_catalogs, c)
        assert.is_false(ok)
        assert.truthy(err.message:find("needs OpenResty's ngx.run_worker_thread", 1, true))
        rawset(_G, "ngx", fake)
        c:close()
        ok, err = pcall(c.list_catalogs, c)
        assert.is_false(ok)
        assert.truthy(tostring(err):find("client is closed", 1, true))
        assert.equal("(closed)", tostring(c):match("%(closed%)$"))
        ok, err = pcall(c.list_catalogs)
        assert.is_false(ok)
        assert.truthy(err.message:find("call methods with ':'", 1, true))
    end)

    it("octogen.worker keeps one client per option set and never raises", function()
        local opts = { api_key = mock.KEY, base_url = server.base_url, max_retries = 0, headers = { ["X-A"] = "1" } }
        local same = { max_retries = 0, base_url = server.base_url, headers = { ["X-A"] = "1" }, api_key = mock.KEY }
        assert.equal(worker.client(opts), worker.client(same))
        assert.are_not.equal(worker.client(opts), worker.client { api_key = mock.KEY, base_url = server.base_url })
        -- sequential calls with one option set share one connection
        for _ = 1, 3 do assert.is_true((worker.call(opts, "list_catalogs"))) end
        assert.equal(1, server:stats().connections)
        -- a programming error comes back as false, plain_err
        local ok, e = worker.call(opts, "search_products", { limit = 1000 })
        assert.is_false(ok)
        assert.is_nil(getmetatable(e))
        assert.equal("InvalidArgumentError", e.name)
        ok, e = worker.call(opts, "close")
        assert.is_false(ok)
        assert.equal("InvalidArgumentError", e.name)
        -- an API error as true, nil, plain_err
        server:fault { path = "/v1/catalogs", status = 401, times = 1 }
        local done, res, perr = worker.call(opts, "list_catalogs")
        assert.is_true(done)
        assert.is_nil(res)
        assert.is_nil(getmetatable(perr))
        assert.equal("AuthenticationError", perr.name)
        assert.equal(401, perr.status_code)
        -- the cache is bounded
        for i = 1, worker.MAX_CLIENTS + 3 do
            worker.client { api_key = mock.KEY, base_url = server.base_url, timeout = i }
        end
        assert.equal(worker.MAX_CLIENTS, worker.client_count())
    end)
end)

---------------------------------------------------------------------------
-- examples/openresty/ under Debian's nginx

describe("examples/openresty under nginx (one worker)", function()
    local server, app
    setup(function()
        assert(io.open(openresty.MODULE), "spec/openresty_spec.lua needs " .. openresty.MODULE ..
            ", the C module built for LuaJIT (nginx's Lua): run `make LUA=luajit` first")
        server = mock.start()
        app = openresty.start { mock = server, env = { OCTOGEN_MAX_RETRIES = "0" } }
    end)
    teardown(function()
        if app then app:stop() end
        if server then server:stop() end
    end)
    before_each(function() server:reset() end)

    local function json(body)
        local ok, v = pcall(cjson.decode, body or "")
        assert(ok, "not JSON: " .. tostring(body))
        return v
    end

    local function search_count()
        local n = 0
        for _, r in ipairs(server:requests()) do
            if r.path == "/v1/products/search" then n = n + 1 end
        end
        return n
    end

    it("answers 8 concurrent searches that each wait 200 ms on the API in about 200 ms", function()
        -- what each request should answer, from the blocking client
        local want = {}
        local c = helpers.client(server)
        for i = 1, 8 do
            local page = assert(c:search_products { catalog = "warrenlotas", q = "hoodie", limit = i })
            want[i] = {}
            for j, item in ipairs(page.items) do want[i][j] = item.title end
        end
        c:close()
        local paths = {}
        for i = 1, 8 do paths[i] = "/products?catalog=warrenlotas&q=hoodie&limit=" .. i end
        -- twice: the first round opens the API connections, the second
        -- reuses them
        for round = 1, 2 do
            server:reset()
            server:fault { path = "/v1/products/search", latency_ms = 200 }
            local wall, results, missing = openresty.send_all(app.port, paths):collect(5)
            assert.equal(0, missing, "some requests got no answer:\n" .. app:error_log())
            local ids = {}
            for i, r in ipairs(results) do
                assert.equal(200, r.status, r.body)
                local body = json(r.body)
                assert.same(want[i], body.titles)
                assert.equal(#want[i], body.count)
                assert.is_string(body.request_id)
                ids[body.request_id] = true
            end
            local n = 0
            for _ in pairs(ids) do n = n + 1 end
            assert.equal(8, n)
            assert.equal(8, search_count())
            local limits = {}
            for _, r in ipairs(server:requests()) do limits[#limits + 1] = cjson.decode(r.body).limit end
            table.sort(limits)
            assert.same({ 1, 2, 3, 4, 5, 6, 7, 8 }, limits)
            io.write(("\n    round %d: 8 concurrent requests, 200 ms of API latency each: %.0f ms wall " ..
                "(issue: < 400 ms; one after another: 1600 ms)"):format(round, wall * 1000))
            -- a wide margin: one after another would take 1600 ms
            assert.is_true(wall < 0.8, ("8 concurrent requests took %.0f ms"):format(wall * 1000))
        end
        io.write("\n")
    end)

    it("keeps the event loop free while the 8 are in flight", function()
        server:fault { path = "/v1/products/search", latency_ms = 200 }
        local paths = {}
        for i = 1, 8 do paths[i] = "/products?q=jacket&limit=" .. i end
        local batch = openresty.send_all(app.port, paths)
        -- all 8 are at the mock at once (a blocked loop would send one at a time)
        local deadline = socket.gettime() + 1
        while server:stats().requests < 8 and socket.gettime() < deadline do socket.sleep(0.002) end
        assert.equal(8, server:stats().requests, "the 8 calls did not reach the API together")
        local t = socket.gettime()
        local status, body = app:get("/ping", 2)
        local ping = socket.gettime() - t
        local sent_ago = socket.gettime() - batch.t0
        -- none of the 8 has answered yet: the ping went past them
        local answered = socket.select(batch.socks, nil, 0)
        assert.equal(200, status)
        assert.is_true(json(body).pong)
        local _, results, missing = batch:collect(5)
        assert.equal(0, missing)
        for _, r in ipairs(results) do assert.equal(200, r.status, r.body) end
        io.write(("\n    /ping while the 8 wait on the API: %.1f ms (answered %.0f ms after they were sent)\n")
            :format(ping * 1000, sent_ago * 1000))
        assert.equal(0, #answered, "the ping was not answered while the 8 were in flight")
        assert.is_true(ping < 0.1, ("ping took %.0f ms"):format(ping * 1000))
    end)

    it("gives the handler API errors as error objects (404, 503 with max_retries = 0)", function()
        for _, case in ipairs { { 404, "NotFoundError" }, { 503, "ServerError" } } do
            server:reset()
            server:fault { path = "/v1/products/search", status = case[1], times = 1 }
            local status, body = app:get("/products?catalog=tidepool&q=x")
            assert.equal(case[1], status, body)
            local e = json(body).error
            assert.equal(case[2], e.name)
            assert.equal(case[1], e.status_code)
            assert.is_true(e.api_error)
            assert.truthy(e.text:match("^" .. case[2] .. ": .* %(HTTP " .. case[1] .. ", POST http://"), e.text)
            assert.is_string(e.request_id)
            assert.equal(1, search_count())
        end
    end)

    it("raises InvalidArgumentError in the handler for limit = 1000, sending nothing", function()
        local status, body = app:get("/products?q=x&limit=1000")
        assert.equal(400, status, body)
        local e = json(body).error
        assert.equal("InvalidArgumentError", e.name)
        assert.truthy(e.message:find("limit must be an integer between 1 and 100, got 1000", 1, true), e.message)
        assert.same({}, server:requests())
    end)

    it("answers 502 when the API cannot be reached", function()
        local port = closed_port()
        local down = openresty.start { base_url = "http://127.0.0.1:" .. port .. "/v1", api_key = mock.KEY,
                                       env = { OCTOGEN_MAX_RETRIES = "0" } }
        finally(function() down:stop() end)
        local status, body = down:get("/products?q=x")
        assert.equal(502, status, body)
        local e = json(body).error
        assert.equal("ConnectionError", e.name)
        assert.is_nil(e.status_code)
        assert.is_false(e.api_error)
    end)
end)
