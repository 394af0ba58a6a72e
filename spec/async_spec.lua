-- start(), poll(), all(): many requests in flight from one client, and a
-- poll that never waits for the network.
local helpers = require "spec.support.helpers"
local mock = helpers.mock
local socket = require "socket"
local now = socket.gettime

describe("non-blocking requests", function()
    local server, client
    setup(function() server = mock.start() end)
    teardown(function() server:stop() end)
    before_each(function()
        server:reset()
        client = helpers.client(server)
    end)
    after_each(function() client:close() end)

    it("blocking and started calls on one client share one connection", function()
        assert.truthy(client:list_catalogs())
        assert.truthy(client:start("list_catalogs"):result())
        assert.truthy(client:list_catalogs())
        local a = client:start("search_products", { catalog = "tidepool", limit = 1 })
        assert.truthy(a:result())
        assert.truthy(client:search_products { catalog = "tidepool", limit = 1 })
        assert.same({ requests = 5, connections = 1 }, server:stats())
    end)

    it("a transfer that outlives its closed client still finishes cleanly", function()
        server:fault { path = "/v1/catalogs", latency_ms = 300, times = 1 }
        local reqs = { client:start("list_catalogs") }
        client:poll(0)
        client:close()
        local ok, err = pcall(reqs[1].result, reqs[1])
        assert.is_false(ok)
        assert.truthy(tostring(err):find("closed", 1, true), tostring(err))
        -- The transfer (and with it the last reference to the connection
        -- share) is collected after its client closed: ASan and valgrind
        -- would see a use after free or a leak here.
        reqs[1] = nil
        collectgarbage()
        collectgarbage()
    end)

    it("start() returns at once and result() gives exactly what the blocking call gives", function()
        local blocking = assert(client:search_products { catalog = "tidepool", q = "jacket", limit = 3 })
        local req = client:start("search_products", { catalog = "tidepool", q = "jacket", limit = 3 })
        assert.is_false(req:done())
        local page, meta = req:result()
        assert.is_true(req:done())
        assert.same(blocking, page)
        assert.equal(200, meta.status)
        assert.equal(1, meta.attempts)
        local reqs = server:requests()
        assert.equal(reqs[1].body, reqs[2].body)
        assert.equal(reqs[1].headers.authorization, reqs[2].headers.authorization)
    end)

    it("every method can be started, and errors come back as nil, err", function()
        local known = assert(client:search_products { catalog = "tidepool", limit = 1 }).items[1]
        local reqs = {
            client:start("list_catalogs"),
            client:start("lookup_product", known.product_url),
            client:start("refresh_products", { known.product_url }),
            client:start("request", "GET", "catalogs"),
            client:start("search_products", { catalog = "no-such-catalog" }),
        }
        local cats = reqs[1]:result()
        assert.is_string(cats[1].catalog)
        assert.equal(known.uuid, reqs[2]:result().product.uuid)
        assert.equal(1, #reqs[3]:result().accepted)
        assert.same(cats, reqs[4]:result())
        local page, err = reqs[5]:result()
        assert.is_nil(page)
        assert.equal("NotFoundError", err.name)
    end)

    it("16 requests against 100 ms of latency: poll(0) never waits, all 16 arrive, together", function()
        server:fault { path = "/v1/products/search", latency_ms = 100, times = 16 }
        local t0 = now()
        local reqs = {}
        for i = 1, 16 do reqs[i] = client:start("search_products", { catalog = "warrenlotas", limit = 2 }) end
        local worst, polls = 0, 0
        while client:pending() > 0 do
            local p0 = now()
            client:poll(0)
            worst = math.max(worst, now() - p0)
            polls = polls + 1
            socket.sleep(0.001)   -- the rest of a frame
        end
        local wall = now() - t0
        for i = 1, 16 do
            local page = reqs[i]:result()
            assert.equal(2, #page.items)
        end
        assert.equal(16, #server:requests())
        -- far below the latency: poll(0) only does what is ready
        assert.is_true(worst < 0.05, ("worst poll(0) %.1f ms"):format(worst * 1000))
        assert.is_true(polls > 16)
        -- concurrent, not sequential (16 x 100 ms)
        assert.is_true(wall < 0.8, ("16 requests took %.0f ms"):format(wall * 1000))
    end)

    it("a retry's backoff does not block poll()", function()
        local c = helpers.client(server, { retry = { base_delay = 0.3, jitter = 0 } })
        server:fault { path = "/v1/catalogs", status = 503, times = 1 }
        local req = c:start("list_catalogs")
        local t0 = now()
        local worst = 0
        while not req:done() do
            local p0 = now()
            c:poll(0)
            worst = math.max(worst, now() - p0)
            socket.sleep(0.005)
        end
        local cats, meta = req:result()
        assert.is_table(cats)
        assert.equal(2, meta.attempts)
        assert.is_true(now() - t0 >= 0.3)
        assert.is_true(worst < 0.05, ("worst poll(0) %.1f ms"):format(worst * 1000))
        c:close()
    end)

    it("poll(seconds) waits at most that long", function()
        server:fault { path = "/v1/catalogs", latency_ms = 400, times = 1 }
        local req = client:start("list_catalogs")
        local t0 = now()
        local pending = client:poll(0.1)
        assert.equal(1, pending)
        assert.is_false(req:done())
        assert.is_true(now() - t0 < 0.35)
        assert.is_table((req:result()))
        assert.equal(0, client:poll(0))
    end)

    it("start() raises mistakes in the call at once, sending nothing", function()
        local ok, err = pcall(client.start, client, "search_products", { limit = 0 })
        assert.is_false(ok)
        assert.equal("InvalidArgumentError", err.name)
        ok, err = pcall(client.start, client, "pages", {})
        assert.is_false(ok)
        assert.truthy(err.message:find("cannot be started", 1, true) or err.message:find("not a method", 1, true))
        assert.equal(0, client:pending())
        assert.same({}, server:requests())
    end)

    it("closing the client with requests in flight makes their result() raise", function()
        server:fault { path = "/v1/catalogs", latency_ms = 300, times = 1 }
        local c = helpers.client(server)
        local req = c:start("list_catalogs")
        c:close()
        assert.has_error(function() req:result() end)
    end)
end)

describe("client:all()", function()
    local server, client
    setup(function() server = mock.start() end)
    teardown(function() server:stop() end)
    before_each(function()
        server:reset()
        client = helpers.client(server, { max_retries = 0 })
    end)
    after_each(function() client:close() end)

    it("returns every result in the order of the calls, errors in place", function()
        local res = client:all {
            { "list_catalogs" },
            { "search_products", { catalog = "tidepool", limit = 2 } },
            { "lookup_product", "https://tidepool.example/products/no-such-thing" },
            { "request", "GET", "catalogs" },
        }
        assert.equal(4, #res)
        assert.is_string(res[1][1][1].catalog)
        assert.equal(200, res[1][2].status)
        assert.equal(2, #res[2][1].items)
        assert.is_nil(res[3][1])
        assert.equal("NotFoundError", res[3][2].name)
        assert.same(res[1][1], res[4][1])
    end)

    it("runs at most `concurrency` at a time", function()
        server:fault { path = "/v1/catalogs", latency_ms = 100, times = 8 }
        local calls = {}
        for i = 1, 8 do calls[i] = { "list_catalogs" } end
        local t0 = now()
        local res = client:all(calls, { concurrency = 2 })
        local wall = now() - t0
        assert.equal(8, #res)
        for i = 1, 8 do assert.is_table(res[i][1]) end
        -- four rounds of two: it cannot be faster than 4 x 100 ms
        assert.is_true(wall >= 0.39, ("took %.0f ms"):format(wall * 1000))
        t0 = now()
        server:fault { path = "/v1/catalogs", latency_ms = 100, times = 8 }
        client:all(calls)   -- default 8 at a time: one round
        assert.is_true(now() - t0 < wall)
    end)

    it("refresh_products sends its batches concurrently with opts.concurrency", function()
        local targets = {}
        for i = 1, 1234 do
            targets[i] = { catalog = "tidepool", url = ("https://tidepool.example/products/drop-%04d"):format(i) }
        end
        local res = assert(client:refresh_products(targets, { concurrency = 3 }))
        assert.equal(1234, res.submitted)
        assert.equal(1234, #res.accepted)
        assert.equal(3, #server:requests())
        assert.equal(targets[1].url, res.accepted[1].url)
        assert.equal(targets[1234].url, res.accepted[1234].url)
        local conns = {}
        for _, r in ipairs(server:requests()) do conns[r.connection] = true end
        assert.is_true(next(conns) ~= nil)
    end)

    it("raises for calls that are not {method, args...}", function()
        assert.has_error(function() client:all { "list_catalogs" } end)
        assert.has_error(function() client:all({ { "list_catalogs" } }, { concurrency = 0 }) end)
        assert.has_error(function() client:all({ { "list_catalogs" } }, { parallel = 2 }) end)
    end)
end)

describe("HTTP/2", function()
    it("multiplexes concurrent requests over one TLS connection when the server offers it #curl", function()
        local server = mock.start { tls = true, http2 = true }
        local ok, err = pcall(function()
            local client = helpers.client(server, { ca_file = server.ca_file })
            server:fault { path = "/v1/products/search", latency_ms = 100, times = 16 }
            local calls = {}
            for i = 1, 16 do calls[i] = { "search_products", { catalog = "tidepool", limit = 2 } } end
            local t0 = now()
            local res = client:all(calls, { concurrency = 16 })
            local wall = now() - t0
            for i = 1, 16 do assert.equal(2, #res[i][1].items) end
            assert.equal(16, #server:requests())
            assert.equal(1, server:stats().connections)
            assert.is_true(wall < 0.8, ("took %.0f ms"):format(wall * 1000))
            client:close()
        end)
        server:stop()
        assert(ok, err)
    end)
end)
