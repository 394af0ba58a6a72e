-- examples/openresty/ under Debian's nginx (one worker): its handler calls
-- the API through one octogen.client built at module level, over nginx
-- cosockets (no thread pool). spec/support/openresty.lua starts the
-- example's own nginx.conf on a free loopback port, pointed at the mock.
-- What the issue asks: /products answers what the blocking client gets, 8
-- concurrent requests each waiting 200 ms on the API are answered
-- together, and the event loop stays free meanwhile (/ping).
local cjson = require "cjson"
local socket = require "socket"
local helpers = require "spec.support.helpers"
local openresty = require "spec.support.openresty"
local mock = helpers.mock

-- A loopback port nothing listens on (connections are refused).
local function closed_port()
    local s = assert(socket.bind("127.0.0.1", 0))
    local _, port = s:getsockname()
    s:close()
    return tonumber(port)
end

local function json(body)
    local ok, v = pcall(cjson.decode, body or "")
    assert(ok, "not JSON: " .. tostring(body))
    return v
end

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

    local function search_count()
        local n = 0
        for _, r in ipairs(server:requests()) do
            if r.path == "/v1/products/search" then n = n + 1 end
        end
        return n
    end

    -- What /products?...&limit=i should answer, from the blocking client.
    local function expected(params, n)
        local want = {}
        local c = helpers.client(server)
        for i = 1, n do
            local p = { limit = i }
            for k, v in pairs(params) do p[k] = v end
            local page = assert(c:search_products(p))
            want[i] = {}
            for j, item in ipairs(page.items) do want[i][j] = item.title end
        end
        c:close()
        server:reset()
        return want
    end

    it("answers /products with what the blocking client gets, sending the same request", function()
        local want = expected({ catalog = "warrenlotas", q = "hoodie" }, 5)[5]
        local status, body = app:get("/products?catalog=warrenlotas&q=hoodie&limit=5")
        assert.equal(200, status, body)
        local res = json(body)
        assert.same(want, res.titles)
        assert.equal(#want, res.count)
        assert.equal(1, res.attempts)
        local req = server:last_request()
        assert.is_string(res.request_id)
        assert.equal("POST", req.method)
        assert.equal("/v1/products/search", req.path)
        assert.equal('{"catalog":"warrenlotas","limit":5,"q":"hoodie"}', req.body)
        assert.equal("Bearer " .. mock.KEY, req.headers.authorization)
        assert.truthy(req.headers["user-agent"]:match("^octogen%-lua/"))
        assert.equal(1, search_count())
    end)

    it("answers 8 concurrent searches that each wait 200 ms on the API together", function()
        local want = expected({ catalog = "warrenlotas", q = "hoodie" }, 8)
        local paths = {}
        for i = 1, 8 do paths[i] = "/products?catalog=warrenlotas&q=hoodie&limit=" .. i end
        -- twice: the first round opens the API connections, the second
        -- takes them from nginx's keep-alive pool
        for round = 1, 2 do
            server:reset()
            server:fault { path = "/v1/products/search", latency_ms = 200 }
            local wall, results, missing = openresty.send_all(app.port, paths):collect(10)
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
            for _, r in ipairs(server:requests()) do
                limits[#limits + 1] = cjson.decode(r.body).limit
                if round == 2 then
                    assert.is_true(r.connection_requests > 1, "round 2 opened a new connection to the API")
                end
            end
            table.sort(limits)
            assert.same({ 1, 2, 3, 4, 5, 6, 7, 8 }, limits)
            io.write(("\n    round %d: 8 concurrent requests, 200 ms of API latency each: %.0f ms wall " ..
                "(one after another: 1600 ms)"):format(round, wall * 1000))
            -- a wide margin: one after another would take 1600 ms
            assert.is_true(wall < 0.8, ("8 concurrent requests took %.0f ms"):format(wall * 1000))
        end
        io.write("\n")
    end)

    it("keeps the event loop free while the 8 are in flight: /ping answers at once", function()
        server:fault { path = "/v1/products/search", latency_ms = 300 }
        local paths = {}
        for i = 1, 8 do paths[i] = "/products?q=jacket&limit=" .. i end
        local batch = openresty.send_all(app.port, paths)
        -- all 8 are at the mock at once (a blocked loop would send one at a time)
        local deadline = socket.gettime() + 2
        while server:stats().requests < 8 and socket.gettime() < deadline do socket.sleep(0.002) end
        assert.equal(8, server:stats().requests, "the 8 calls did not reach the API together")
        local t = socket.gettime()
        local status, body = app:get("/ping", 2)
        local ping = socket.gettime() - t
        -- none of the 8 has answered yet: the ping went past them
        local answered = socket.select(batch.socks, nil, 0)
        assert.equal(200, status)
        assert.is_true(json(body).pong)
        local _, results, missing = batch:collect(10)
        assert.equal(0, missing)
        for _, r in ipairs(results) do assert.equal(200, r.status, r.body) end
        assert.equal(0, #answered, "the ping was not answered while the 8 were in flight")
        assert.is_true(ping < 0.15, ("ping took %.0f ms"):format(ping * 1000))
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

    it("needs no thread pool: the example's nginx.conf has none", function()
        local conf = assert(io.open(openresty.EXAMPLE_DIR .. "/nginx.conf")):read("*a")
        for line in conf:gmatch("[^\n]+") do
            local code = line:gsub("#.*$", "")
            assert.falsy(code:find("thread_pool", 1, true), line)
            assert.falsy(code:find("lua_worker_thread", 1, true), line)
        end
        local handler = assert(io.open(openresty.EXAMPLE_DIR .. "/handler.lua")):read("*a")
        assert.falsy(handler:find("octogen.resty", 1, true))
        assert.falsy(handler:find("run_worker_thread", 1, true))
    end)
end)
