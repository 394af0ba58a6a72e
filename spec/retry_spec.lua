-- Retries, backoff, Retry-After, timeouts, response metadata and hooks,
-- against the mock's fault modes. Waits go through a recording sleep, so
-- nothing here actually waits for a backoff.
local octogen = require "octogen"
local helpers = require "spec.support.helpers"
local mock = helpers.mock
local socket = require "socket"

describe("retries", function()
    local server, waits, client
    setup(function() server = mock.start() end)
    teardown(function() server:stop() end)
    before_each(function()
        server:reset()
        waits = {}
        client = helpers.client(server, { sleep = function(s) waits[#waits + 1] = s end,
            retry = { base_delay = 0.1, max_delay = 1, jitter = 0 } })
    end)
    after_each(function() client:close() end)

    for _, status in ipairs { 429, 500, 502, 503, 504 } do
        it("retries " .. status .. " max_retries times (default 2), then returns the error", function()
            server:fault { path = "/v1/catalogs", status = status }
            local res, err = client:list_catalogs()
            assert.is_nil(res)
            assert.equal(status, err.status_code)
            assert.equal(3, err.attempts)
            assert.equal(3, #server:requests())
            assert.same({ 0.1, 0.2 }, waits)
        end)
    end

    for _, status in ipairs { 400, 401, 403, 404, 422 } do
        it("never retries " .. status, function()
            server:fault { path = "/v1/catalogs", status = status }
            local res, err = client:list_catalogs()
            assert.is_nil(res)
            assert.equal(status, err.status_code)
            assert.equal(1, err.attempts)
            assert.equal(1, #server:requests())
            assert.same({}, waits)
        end)
    end

    it("succeeds after transient failures and says how many attempts it took", function()
        server:fault { path = "/v1/catalogs", status = 503, times = 2 }
        local catalogs, meta = client:list_catalogs()
        assert.is_table(catalogs)
        assert.equal(3, meta.attempts)
        assert.equal(3, #server:requests())
    end)

    it("honours Retry-After in seconds, never waiting less", function()
        server:fault { path = "/v1/catalogs", status = 429, retry_after = 3, times = 1 }
        assert.truthy(client:list_catalogs())
        assert.same({ 3 }, waits)
    end)

    it("honours Retry-After given as an HTTP date", function()
        local when = os.date("!%a, %d %b %Y %H:%M:%S GMT", os.time() + 5)
        server:fault { path = "/v1/catalogs", status = 503, headers = { ["Retry-After"] = when }, times = 1 }
        assert.truthy(client:list_catalogs())
        assert.equal(1, #waits)
        assert.is_true(waits[1] >= 4 and waits[1] <= 6, tostring(waits[1]))
    end)

    it("does not wait for a Retry-After longer than max_retry_after: it returns the error", function()
        server:fault { path = "/v1/catalogs", status = 429, retry_after = 3600 }
        local res, err = client:list_catalogs()
        assert.is_nil(res)
        assert.equal("RateLimitError", err.name)
        assert.equal(1, err.attempts)
        assert.same({}, waits)
    end)

    it("backs off exponentially with jitter, capped at max_delay", function()
        local jittery = helpers.client(server, { max_retries = 5, sleep = function(s) waits[#waits + 1] = s end,
            retry = { base_delay = 0.5, max_delay = 2, jitter = 0.5 } })
        server:fault { path = "/v1/catalogs", status = 500 }
        jittery:list_catalogs()
        assert.equal(5, #waits)
        local caps = { 0.5, 1, 2, 2, 2 }
        for i, w in ipairs(waits) do
            assert.is_true(w <= caps[i] and w >= caps[i] / 2, ("wait %d = %s"):format(i, w))
        end
    end)

    it("retries connection failures", function()
        server:fault { path = "/v1/catalogs", mode = "drop", times = 1 }
        local catalogs, meta = client:list_catalogs()
        assert.is_table(catalogs)
        assert.equal(2, meta.attempts)
        assert.equal(1, #waits)
    end)

    it("takes max_retries, retry, timeout and sleep per call", function()
        server:fault { path = "/v1/products/search", status = 503 }
        local res, err = client:search_products({ limit = 1 }, { max_retries = 0 })
        assert.is_nil(res)
        assert.equal(1, err.attempts)
        server:reset()
        server:fault { path = "/v1/products/search", status = 503 }
        local mine = {}
        res, err = client:search_products({ limit = 1 }, { max_retries = 1, retry = { base_delay = 0.25 },
            sleep = function(s) mine[#mine + 1] = s end })
        assert.is_nil(res)
        assert.equal(2, err.attempts)
        assert.same({ 0.25 }, mine)
        assert.same({}, waits)
        -- lookup and refresh take them in their options table
        server:reset()
        server:fault { status = 503 }
        res, err = client:lookup_product("https://x.example/p", { resolution_mode = "auto", max_retries = 0 })
        assert.is_nil(res)
        assert.equal(1, err.attempts)
        res, err = client:refresh_products({ "https://x.example/p" }, { max_retries = 0 })
        assert.is_nil(res)
        assert.equal(1, err.attempts)
    end)

    it("refuses bad retry settings", function()
        for _, c in ipairs {
            { { max_retries = -1 }, "option max_retries must be 0 or more" },
            { { max_retries = 1.5 }, "option max_retries must be an integer" },
            { { retry = { base = 1 } }, 'option retry: unknown retry option "base"' },
            { { retry = { jitter = 2 } }, "retry.jitter must be between 0 and 1" },
            { { sleep = 5 }, "option sleep must be a function" },
        } do
            local opts = { api_key = "k" }
            for k, v in pairs(c[1]) do opts[k] = v end
            local ok, err = pcall(octogen.client, opts)
            assert.is_false(ok)
            assert.truthy(err.message:find(c[2], 1, true), err.message)
        end
        local ok, err = pcall(client.list_catalogs, client, { max_retry = 1 })
        assert.is_false(ok)
        assert.truthy(err.message:find('unknown list_catalogs option "max_retry"', 1, true))
    end)
end)

describe("timeouts", function()
    local server
    setup(function() server = mock.start() end)
    teardown(function() server:stop() end)
    before_each(function() server:reset() end)

    it("a server that never answers gives a TimeoutError within the timeout", function()
        local client = helpers.client(server, { timeout = 1, max_retries = 0 })
        server:fault { path = "/v1/catalogs", mode = "hang", seconds = 5, times = 1 }
        local t0 = socket.gettime()
        local res, err = client:list_catalogs()
        local took = socket.gettime() - t0
        assert.is_nil(res)
        assert.equal("TimeoutError", err.name)
        assert.is_true(err:is("ConnectionError"))
        assert.is_true(took < 2, ("took %.2f s"):format(took))
    end)

    it("a server that trickles a byte a second cannot hold a call past its timeout", function()
        local client = helpers.client(server, { timeout = 1, max_retries = 0 })
        server:fault { path = "/v1/catalogs", mode = "trickle", times = 1 }
        local t0 = socket.gettime()
        local res, err = client:list_catalogs()
        local took = socket.gettime() - t0
        assert.is_nil(res)
        assert.equal("TimeoutError", err.name)
        assert.is_true(took < 2, ("took %.2f s"):format(took))
    end)

    it("a per-call timeout overrides the client's", function()
        local client = helpers.client(server, { timeout = 30, max_retries = 0 })
        server:fault { path = "/v1/catalogs", mode = "hang", seconds = 5, times = 1 }
        local t0 = socket.gettime()
        local _, err = client:list_catalogs { timeout = 0.5 }
        assert.equal("TimeoutError", err.name)
        assert.is_true(socket.gettime() - t0 < 2)
    end)
end)

describe("proxy", function()
    it("sends every request through the proxy option's server #curl", function()
        -- The mock stands in for a forward proxy: nginx serves an absolute-form
        -- request line (GET http://host/path) from its path. Nothing leaves
        -- loopback: the only connection is to the mock.
        local server = mock.start()
        local ok, err = pcall(function()
            local client = octogen.client { api_key = mock.KEY, base_url = "http://api.octogen.test/v1",
                allow_insecure_http = true, proxy = "http://127.0.0.1:" .. server.port, max_retries = 0 }
            local catalogs = assert(client:list_catalogs())
            assert.is_string(catalogs[1].catalog)
            local req = server:last_request()
            assert.equal("/v1/catalogs", req.path)
            assert.equal("api.octogen.test", req.headers.host)
            assert.equal("Bearer " .. mock.KEY, req.headers.authorization)
        end)
        server:stop()
        assert(ok, err)
    end)
end)

describe("response metadata and hooks", function()
    local server
    setup(function() server = mock.start() end)
    teardown(function() server:stop() end)
    before_each(function() server:reset() end)

    it("meta has status, headers, request_id, attempts, elapsed and rate_limit", function()
        local client = helpers.client(server)
        local _, meta = assert(client:list_catalogs())
        assert.equal(200, meta.status)
        assert.equal(meta.headers["x-request-id"], meta.request_id)
        assert.equal(1, meta.attempts)
        assert.is_number(meta.elapsed)
        assert.equal(600, meta.rate_limit.limit)
        assert.is_number(meta.rate_limit.remaining)
        assert.is_true(meta.rate_limit.reset > os.time() - 5)
        if math.type then assert.equal("integer", math.type(meta.rate_limit.limit)) end
    end)

    it("the iterators yield meta too", function()
        local client = helpers.client(server)
        for page, meta in client:pages { catalog = "tidepool", limit = 50, max_pages = 2 } do
            assert.is_table(page.items)
            assert.equal(200, meta.status)
        end
        for item, meta in client:items { catalog = "tidepool", limit = 2, max_pages = 1 } do
            assert.is_string(item.uuid)
            assert.is_string(meta.request_id)
        end
    end)

    it("on_request and on_response see every attempt, with the key redacted", function()
        local seen = {}
        local client = helpers.client(server, {
            headers = { ["X-Seller-Id"] = "s-1" },
            sleep = function() end,
            on_request = function(info) seen[#seen + 1] = { "request", info } end,
            on_response = function(info) seen[#seen + 1] = { "response", info } end,
        })
        server:fault { path = "/v1/products/search", status = 503, times = 1 }
        assert.truthy(client:search_products { limit = 1 })
        assert.equal(4, #seen)
        local req = seen[1][2]
        assert.equal("POST", req.method)
        assert.equal(server.base_url .. "/products/search", req.url)
        assert.equal(1, req.attempt)
        assert.equal("Bearer [REDACTED]", req.headers.Authorization)
        assert.equal("s-1", req.headers["X-Seller-Id"])
        assert.equal("application/json", req.headers["Content-Type"])
        local first = seen[2][2]
        assert.equal(503, first.status)
        assert.equal("ServerError", first.error.name)
        assert.equal(2, seen[4][2].attempt)
        assert.equal(200, seen[4][2].status)
        assert.is_number(seen[4][2].elapsed)
        -- the key appears nowhere in what the hooks were given
        local function scan(v, depth)
            if depth > 5 then return end
            if type(v) == "string" then assert.falsy(v:find(mock.KEY, 1, true)) end
            if type(v) == "table" then for k, x in pairs(v) do scan(k, depth + 1) scan(x, depth + 1) end end
        end
        scan(seen, 0)
    end)
end)

describe("hostile responses", function()
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

    local function answer(rule)
        rule.path, rule.times = "/v1/catalogs", 1
        server:fault(rule)
        local res, err = client:list_catalogs()
        assert.is_nil(res)
        return err
    end

    it("invalid UTF-8 in a 2xx body is an APIError", function()
        local err = answer { mode = "invalid_utf8" }
        assert.equal("APIError", err.name)
        assert.truthy(err.message:find("non-JSON", 1, true))
    end)

    it("deeply nested JSON is refused, not followed", function()
        local err = answer { mode = "deep" }
        assert.equal("APIError", err.name)
        assert.truthy(err.message:find("nested too deeply", 1, true))
    end)

    it("a body over max_response_bytes is refused", function()
        local small = helpers.client(server, { max_response_bytes = 100, max_retries = 0 })
        local res, err = small:list_catalogs()
        assert.is_nil(res)
        assert.equal("APIError", err.name)
        assert.truthy(err.message:find("max_response_bytes", 1, true))
        assert.truthy(small:search_products { limit = 1 } == nil)
    end)

    it("gzip that does not inflate is an error, and real gzip works #curl", function()
        local err = answer { mode = "bad_gzip" }
        assert.is_true(err:is("OctogenError"))
        assert.truthy(client:list_catalogs())
        server:fault { path = "/v1/catalogs", mode = "gzip", times = 1 }
        local catalogs = assert(client:list_catalogs())
        assert.is_string(catalogs[1].catalog)
        assert.truthy(server:last_request().headers["accept-encoding"]:find("gzip", 1, true))
    end)

    it("the client keeps working after every kind of broken answer", function()
        for _, mode in ipairs { "non_json", "truncated", "drop", "invalid_utf8", "deep", "bad_gzip" } do
            answer { mode = mode }
            assert.truthy(client:list_catalogs(), mode)
        end
    end)
end)
