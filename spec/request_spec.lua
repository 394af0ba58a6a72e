-- request()'s per-call query and headers, 304 Not Modified, keyless
-- clients, and the fields every API error carries (code, retry_after,
-- rate_limit): what goes over the wire and what comes back.
local octogen = require "octogen"
local helpers = require "spec.support.helpers"
local mock = helpers.mock

describe("request() options", function()
    local server, client
    setup(function() server = mock.start() end)
    teardown(function() server:stop() end)
    before_each(function()
        server:reset()
        client = helpers.client(server, { headers = { ["X-Seller-Id"] = "7" } })
    end)
    after_each(function() client:close() end)

    it("builds opts.query from a table: keys sorted, absent values left out, booleans and integers spelled out", function()
        assert.truthy(client:request("GET", "catalogs", nil, {
            query = { status = "running", limit = 10, cursor = nil, debug = true, q = "a b&c/d" },
        }))
        local req = server:last_request()
        assert.equal("/v1/catalogs", req.path)
        assert.equal("debug=true&limit=10&q=a%20b%26c%2Fd&status=running", req.query)
    end)

    it("sends no ? when every query value is absent", function()
        assert.truthy(client:request("GET", "catalogs", nil, { query = {} }))
        assert.equal("", server:last_request().query)
    end)

    it("repeats a key for a list value", function()
        assert.truthy(client:request("GET", "catalogs", nil, { query = { id = { "a", "b" } } }))
        assert.equal("id=a&id=b", server:last_request().query)
    end)

    it("refuses a bad query before sending anything", function()
        local cases = {
            { query = "limit=1" }, { query = { [1] = "x" } }, { query = { f = function() end } },
            { query = { n = 0 / 0 } }, { query = { t = { {} } } },
        }
        for _, opts in ipairs(cases) do
            local ok, err = pcall(client.request, client, "GET", "catalogs", nil, opts)
            assert.is_false(ok)
            assert.equal("InvalidArgumentError", err.name)
        end
        local ok, err = pcall(client.request, client, "GET", "catalogs?a=1", nil, { query = { b = 2 } })
        assert.is_false(ok)
        assert.matches("not both", err.message)
        assert.equal(0, #server:requests())
    end)

    it("sends opts.headers on that call only, replacing a client header of the same name", function()
        assert.truthy(client:request("GET", "catalogs", nil, {
            headers = { ["If-None-Match"] = '"abc"', ["x-seller-id"] = "9" },
        }))
        assert.truthy(client:request("GET", "catalogs"))
        local reqs = server:requests()
        assert.equal('"abc"', reqs[1].headers["if-none-match"])
        assert.equal("9", reqs[1].headers["x-seller-id"])
        assert.is_nil(reqs[2].headers["if-none-match"])
        assert.equal("7", reqs[2].headers["x-seller-id"])
        assert.equal("Bearer " .. mock.KEY, reqs[1].headers.authorization)
    end)

    it("refuses per-call headers the client owns or that would break the request, sending nothing", function()
        local bad = {
            { Authorization = "Bearer other" }, { ["Content-Type"] = "text/plain" }, { Host = "evil" },
            { ["X-A"] = "1\r\nX-B: 2" }, { ["bad name"] = "v" }, { ["X-A"] = {} }, "If-None-Match: x",
        }
        for _, headers in ipairs(bad) do
            local ok, err = pcall(function() client:request("GET", "catalogs", nil, { headers = headers }) end)
            assert.is_false(ok)
            assert.equal("InvalidArgumentError", err.name)
            assert.matches("request_spec.lua", err.message, 1, true)
        end
        local many = {}
        for i = 1, 17 do many["X-H" .. i] = "v" end
        assert.has_error(function() client:request("GET", "catalogs", nil, { headers = many }) end)
        assert.equal(0, #server:requests())
    end)

    it("returns true and meta.not_modified for a 304", function()
        server:fault { path = "/v1/catalogs", status = 304, headers = { ETag = '"v1"' } }
        local res, meta = client:request("GET", "catalogs", nil, { headers = { ["If-None-Match"] = '"v1"' } })
        assert.is_true(res)
        assert.is_true(meta.not_modified)
        assert.equal(304, meta.status)
        assert.equal('"v1"', meta.headers.etag)
    end)

    it("sends the same per-call headers over a started call", function()
        local call = client:start("request", "GET", "catalogs", nil, { headers = { ["If-None-Match"] = '"s"' },
            query = { limit = 2 } })
        assert.truthy(call:result())
        local req = server:last_request()
        assert.equal('"s"', req.headers["if-none-match"])
        assert.equal("limit=2", req.query)
    end)
end)

describe("keyless clients", function()
    local server
    setup(function() server = mock.start() end)
    teardown(function() server:stop() end)
    before_each(function() server:reset() end)

    local function env_free(code)
        return helpers.run_lua({ LUA_PATH = os.getenv("LUA_PATH") or "", LUA_CPATH = os.getenv("LUA_CPATH") or "" }, code)
    end

    it("sends no Authorization header at all with allow_keyless and no key", function()
        local out, ok = env_free(([[
            local octogen = require "octogen"
            local c = octogen.client { allow_keyless = true, base_url = %q }
            local seen
            c = octogen.client { allow_keyless = true, base_url = %q,
                on_request = function(info) seen = info.headers.Authorization end }
            local page, err = c:search_products { q = "hoodie", limit = 1 }
            print(page and "ok" or tostring(err), tostring(seen))
        ]]):format(server.base_url, server.base_url))
        assert.is_true(ok, out)
        local req = server:last_request()
        assert.equal("/v1/products/search", req.path)
        assert.is_nil(req.headers.authorization)
        assert.matches("nil\n$", out)
    end)

    it("still uses a key when there is one", function()
        local c = octogen.client { allow_keyless = true, api_key = mock.KEY, base_url = server.base_url }
        assert.truthy(c:request("GET", "catalogs"))
        assert.equal("Bearer " .. mock.KEY, server:last_request().headers.authorization)
        c:close()
    end)

    it("raises MissingAPIKeyError before any I/O without allow_keyless", function()
        local out, ok = env_free(([[
            local octogen = require "octogen"
            local ok, err = pcall(octogen.client, { base_url = %q })
            print(ok, err.name)
        ]]):format(server.base_url))
        assert.is_true(ok, out)
        assert.equal("false\tMissingAPIKeyError\n", out)
        assert.equal(0, #server:requests())
    end)
end)

describe("API error fields", function()
    local server, client
    setup(function() server = mock.start() end)
    teardown(function() server:stop() end)
    before_each(function()
        server:reset()
        client = helpers.client(server, { max_retries = 0 })
    end)
    after_each(function() client:close() end)

    it("err.code is a bare string detail that looks like a code", function()
        server:fault { path = "/v1/catalogs", status = 404, body = '{"detail":"url_list_not_found"}' }
        local _, err = client:list_catalogs()
        assert.equal("NotFoundError", err.name)
        assert.equal("url_list_not_found", err.code)
    end)

    it("err.code is detail.code of an object detail", function()
        server:fault { path = "/v1/catalogs", status = 429, body =
            '{"detail":{"code":"voyage_quota_exceeded","violations":[{"dimension":"calendar_month","limit":20}]}}' }
        local _, err = client:list_catalogs()
        assert.equal("RateLimitError", err.name)
        assert.equal("voyage_quota_exceeded", err.code)
        assert.equal(20, err.detail.violations[1].limit)
    end)

    it("err.code is the body's code when the keyless refusal is the whole body", function()
        server:fault { path = "/v1/catalogs", status = 401, body =
            '{"code":"keyless_trial_endpoint_not_included","message":"needs a key","getApiKey":"https://x"}' }
        local _, err = client:list_catalogs()
        assert.equal("keyless_trial_endpoint_not_included", err.code)
    end)

    it("a message detail is not a code", function()
        for _, detail in ipairs { "Invalid API key", "Not Found", "x", "Bad_code", "a-b-c" } do
            server:reset()
            server:fault { path = "/v1/catalogs", status = 401, body = ('{"detail":%q}'):format(detail) }
            local _, err = client:list_catalogs()
            assert.is_nil(err.code, detail)
        end
    end)

    it("err.retry_after is the Retry-After in seconds, digits or an HTTP date", function()
        server:fault { path = "/v1/catalogs", status = 429, retry_after = 2880,
            body = '{"detail":{"code":"keyless_trial_exhausted"}}' }
        local _, err = client:list_catalogs()
        assert.equal(2880, err.retry_after)
        assert.equal("keyless_trial_exhausted", err.code)
        -- (That 429 paused this client for 48 minutes: the next call would
        -- fail at once without being sent. See rate_limit_spec.)
        client:close()
        client = helpers.client(server, { max_retries = 0 })
        server:reset()
        server:fault { path = "/v1/catalogs", status = 503,
            headers = { ["Retry-After"] = os.date("!%a, %d %b %Y %H:%M:%S GMT", os.time() + 100) } }
        _, err = client:list_catalogs()
        assert.is_true(err.retry_after >= 95 and err.retry_after <= 100, tostring(err.retry_after))
        server:reset()
        server:fault { path = "/v1/catalogs", status = 503, headers = { ["Retry-After"] = "soon" } }
        _, err = client:list_catalogs()
        assert.is_nil(err.retry_after)
    end)

    it("err.rate_limit and meta.rate_limit carry limit, remaining and the reset time", function()
        local _, meta = assert(client:list_catalogs())
        assert.is_number(meta.rate_limit.limit)
        assert.is_number(meta.rate_limit.remaining)
        assert.is_true(meta.rate_limit.reset >= os.time() - 5)
        server:fault { path = "/v1/catalogs", status = 429, headers = { ["X-RateLimit-Reset"] = "1790000000" } }
        local _, err = client:list_catalogs()
        assert.equal(0, err.rate_limit.remaining)
        assert.equal(1790000000, err.rate_limit.reset)
    end)
end)
