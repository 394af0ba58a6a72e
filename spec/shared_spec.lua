-- Many workers, many machines: pauses, the token bucket and the cache
-- shared through the client's store (issue 12), against real servers:
-- nginx with 4 workers (spec/support/shared_app/), two of them sharing one
-- Debian redis-server for two machines, and the mock API with its
-- per-organization token bucket. Everything runs on loopback in private
-- directories and is stopped by pid. The cache's exact round trip and
-- meta.cache are checked in-process too (octogen.store's local backend).
local octogen = require "octogen"
local helpers = require "spec.support.helpers"
local openresty = require "spec.support.openresty"
local redis_server = require "spec.support.redis"
local cjson = require "cjson"
local mock = helpers.mock

local ROOT = openresty.ROOT
local TEMPLATE = ROOT .. "/spec/support/shared_app/nginx.conf"

-- Each case's own namespace (set in before_each); nil: the default, a
-- hash of the key.
local NS

local function call_path(profile, method, url)
    local p = ("/call?profile=%s&method=%s"):format(profile, method)
    if NS then p = p .. "&ns=" .. NS end
    if url then p = p .. "&url=" .. url:gsub("[^%w]", function(ch) return ("%%%02X"):format(ch:byte()) end) end
    return p
end

-- n concurrent GETs spread over the apps (reuseport spreads each app's
-- share over its 4 workers); the decoded answers.
local function concurrently(apps, paths)
    local batches = {}
    for i, app in ipairs(apps) do
        local mine = {}
        for j = i, #paths, #apps do mine[#mine + 1] = paths[j] end
        batches[i] = openresty.send_all(app.port, mine)
    end
    local out = {}
    for i, b in ipairs(batches) do
        local _, results = b:collect(30)
        for _, r in ipairs(results) do
            assert.equal(200, r.status, tostring(r.body) .. "\n" .. apps[i]:error_log())
            out[#out + 1] = cjson.decode(r.body)
        end
    end
    return out
end

local function requests_to(server, path)
    local n = 0
    for _, r in ipairs(server:requests()) do
        if r.path == path then n = n + 1 end
    end
    return n
end

describe("shared store across nginx workers and machines", function()
    local server, redis, apps, product_urls

    lazy_setup(function()
        server = mock.start { workers = 2 }
        redis = redis_server.start()
        apps = {}
        for i = 1, 2 do
            apps[i] = openresty.start_conf { template = TEMPLATE,
                env = { SHARED_MOCK_URL = server.base_url, SHARED_REDIS_PORT = tostring(redis.port) } }
        end
        local c = helpers.client(server)
        local page = assert(c:search_products { catalog = "tidepool", limit = 50 })
        c:close()
        product_urls = {}
        for i, item in ipairs(page.items) do product_urls[i] = item.product_url end
    end)
    lazy_teardown(function()
        for _, app in ipairs(apps or {}) do app:stop() end
        if redis then redis:stop() end
        if server then server:stop() end
    end)
    local case_n = 0
    before_each(function()
        server:reset()
        redis:command("FLUSHALL")
        case_n = case_n + 1
        NS = ("spec%d-%d"):format(os.time(), case_n)
    end)

    for _, profile in ipairs { "dict", "redis" } do
        local both = profile == "redis"
        local where = both and "two nginx instances sharing Redis" or "one nginx's workers sharing a shared dict"

        it(where .. ": a 429 seen by one worker pauses the others; nothing more reaches the mock", function()
            local using = both and apps or { apps[1] }
            -- Longer than max_retry_after: the others fail at once, unsent.
            server:fault { path = "/v1/catalogs", status = 429, retry_after = 120, times = 1 }
            local first = concurrently({ using[1] }, { call_path(profile, "list_catalogs") })[1]
            assert.equal(429, first.status)
            local paths = {}
            for i = 1, 24 do paths[i] = call_path(profile, "list_catalogs") end
            local out = concurrently(using, paths)
            local workers = {}
            for _, r in ipairs(out) do
                assert.is_false(r.ok)
                assert.equal(429, r.status)
                assert.is_true(r.paused, r.message)
                workers[r.worker] = true
            end
            local n = 0
            for _ in pairs(workers) do n = n + 1 end
            assert.is_true(n >= 2, "the calls should have been spread over several workers")
            assert.equal(1, requests_to(server, "/v1/catalogs"))
        end)

        it(where .. ": a short pause holds the others until Retry-After, then they go", function()
            local using = both and apps or { apps[1] }
            server:fault { path = "/v1/catalogs", status = 429, retry_after = 1, times = 1 }
            concurrently({ using[1] }, { call_path(profile, "list_catalogs") })
            local paths = {}
            for i = 1, 12 do paths[i] = call_path(profile, "list_catalogs") end
            local out = concurrently(using, paths)
            for _, r in ipairs(out) do
                assert.is_true(r.ok, r.message)
                -- A wide margin: the pause was a second.
                assert.is_true(r.elapsed > 0.3, ("a call went after %.3f s"):format(r.elapsed))
            end
            assert.equal(13, requests_to(server, "/v1/catalogs"))
        end)

        it(where .. ": 50 concurrent lookups of one URL make one upstream request", function()
            local using = both and apps or { apps[1] }
            local paths = {}
            for i = 1, 50 do paths[i] = call_path(profile, "lookup_product", product_urls[1]) end
            local out = concurrently(using, paths)
            local kinds = {}
            for _, r in ipairs(out) do
                assert.is_true(r.ok, r.message)
                kinds[r.cache] = (kinds[r.cache] or 0) + 1
            end
            assert.equal(1, requests_to(server, "/v1/products/lookup"))
            assert.equal(1, kinds.miss)
            assert.equal(49, kinds.hit)
        end)

        it(where .. ": the token bucket keeps a burst under the mock's limit", function()
            -- The organization may make 20 requests at once, then 20 a
            -- second; the fleet's clients draw 15 a second from one bucket.
            server:configure { rate_limit = { per_second = 20, burst = 20 } }
            local using = both and apps or { apps[1] }
            local paths = {}
            for i = 1, 40 do paths[i] = call_path(profile .. "_bucket", "lookup_product", product_urls[i]) end
            local out = concurrently(using, paths)
            for _, r in ipairs(out) do assert.is_true(r.ok, r.message) end
            assert.equal(0, server:stats().rate_limited or 0)
            assert.equal(40, requests_to(server, "/v1/products/lookup"))
        end)
    end

    it("without a store the same burst meets the mock's limit (what the bucket prevents)", function()
        server:configure { rate_limit = { per_second = 20, burst = 20 } }
        local paths = {}
        for i = 1, 40 do paths[i] = call_path("local", "lookup_product", product_urls[i]) end
        concurrently(apps, paths)
        assert.is_true((server:stats().rate_limited or 0) > 0)
    end)

    it("serves a stale value when the refresh fails with a transient error", function()
        local url = product_urls[2]
        local first = concurrently({ apps[1] }, { call_path("dict_short", "lookup_product", url) })[1]
        assert.equal("miss", first.cache)
        -- The TTL is 1 s; stale_ttl 60.
        require("socket").sleep(1.3)
        server:fault { path = "/v1/products/lookup", status = 503, times = 5 }
        local r = concurrently({ apps[1] }, { call_path("dict_short", "lookup_product", url) })[1]
        assert.is_true(r.ok, r.message)
        assert.equal("stale", r.cache)
    end)

    it("goes on without Redis when it dies mid-run: no call fails, and the failure is reported", function()
        local before = cjson.decode(select(2, apps[1]:get("/store_errors"))).n
        assert.truthy(concurrently(apps, { call_path("redis", "lookup_product", product_urls[3]) })[1].ok)
        redis:kill()
        local paths = {}
        for i = 1, 16 do paths[i] = call_path("redis", "lookup_product", product_urls[3 + i % 4]) end
        local out = concurrently(apps, paths)
        for _, r in ipairs(out) do assert.is_true(r.ok, r.message) end
        local after = cjson.decode(select(2, apps[1]:get("/store_errors"))).n
        assert.is_true(after > before)
        -- The rest of the cases need it again.
        redis = redis_server.start()
        for i, app in ipairs(apps) do
            app:stop()
            apps[i] = openresty.start_conf { template = TEMPLATE,
                env = { SHARED_MOCK_URL = server.base_url, SHARED_REDIS_PORT = tostring(redis.port) } }
        end
    end)

    it("never puts the API key in a store key", function()
        NS = nil
        concurrently(apps, { call_path("dict", "lookup_product", product_urls[1]),
                             call_path("redis", "lookup_product", product_urls[1]) })
        for _, profile in ipairs { "dict", "redis" } do
            local keys = cjson.decode(select(2, apps[1]:get("/keys?profile=" .. profile))).keys
            assert.is_true(#keys > 0, profile)
            for _, k in ipairs(keys) do
                assert.is_nil(k:find(mock.KEY, 1, true), k)
                assert.truthy(k:match("^octogen:%x+:"), k)
            end
        end
    end)
end)

describe("the response cache in one process", function()
    local server
    setup(function() server = mock.start() end)
    teardown(function() server:stop() end)
    before_each(function() server:reset() end)

    local BODY = '{"catalogKey":"k","product":{"title":"T","sizes":[],"tags":["a",null,"b"],' ..
        '"currentPrice":120.0,"productCount":3,"images":[{"url":"u","width":null}]},"source":"index"}'

    local function same(a, b, where)
        assert.equal(type(a), type(b), where)
        if type(a) == "number" and math.type then assert.equal(math.type(a), math.type(b), where) end
        if type(a) ~= "table" then
            assert.equal(a, b, where)
            return
        end
        assert.equal(getmetatable(a), getmetatable(b), where .. ": metatable")
        for k, v in pairs(a) do same(v, b[k], where .. "." .. tostring(k)) end
        for k in pairs(b) do assert.is_not_nil(a[k], where .. "." .. tostring(k)) end
    end

    it("gives a hit exactly what the miss gave: octogen.null, empty arrays, integers and floats", function()
        local c = helpers.client(server, { cache = { lookup_product = 60 } })
        server:fault { path = "/v1/products/lookup", status = 200, body = BODY, times = 1 }
        local fresh, m1 = assert(c:lookup_product "https://shop.example/p/1")
        local hit, m2 = assert(c:lookup_product "https://shop.example/p/1")
        assert.equal("miss", m1.cache)
        assert.equal("hit", m2.cache)
        same(fresh, hit, "result")
        assert.equal(octogen.null, hit.product.tags[2])
        assert.equal(0, #hit.product.sizes)
        assert.equal(1, requests_to(server, "/v1/products/lookup"))
        c:close()
    end)

    it("keys on the request: another URL or option is another entry", function()
        local c = helpers.client(server, { cache = { search_products = 60 } })
        assert(c:search_products { catalog = "tidepool", limit = 1 })
        assert(c:search_products { catalog = "tidepool", limit = 2 })
        local _, meta = assert(c:search_products { catalog = "tidepool", limit = 1 })
        assert.equal("hit", meta.cache)
        assert.equal(2, requests_to(server, "/v1/products/search"))
        c:close()
    end)

    it("caches product_not_found briefly, and no other error", function()
        local c = helpers.client(server, { cache = { lookup_product = 60, negative_ttl = 30 }, max_retries = 0 })
        local _, e1 = c:lookup_product "https://tidepool.example/products/none"
        local _, e2 = c:lookup_product "https://tidepool.example/products/none"
        assert.equal("product_not_found", e2.code)
        assert.equal("hit", e2.cache)
        server:fault { path = "/v1/products/lookup", status = 503, times = 2 }
        c:lookup_product "https://tidepool.example/products/other"
        c:lookup_product "https://tidepool.example/products/other"
        assert.equal(3, requests_to(server, "/v1/products/lookup"))
        assert.equal("miss", e1.cache)
        c:close()
    end)

    it("keeps /domains for its max-age and revalidates it with the ETag", function()
        local c = helpers.client(server, { cache = { list_domains = "max-age" } })
        local cov = assert(c:domain_coverage())
        local again, meta = c:domain_coverage(cov)
        assert.equal(cov, again)
        assert.equal("hit", meta.cache)
        assert.equal(1, requests_to(server, "/v1/domains"))
        c:close()
    end)

    it("rate_limit = \"auto\" learns the bucket from X-RateLimit-Limit and stays under it", function()
        -- 20 a second with a burst of 20: X-RateLimit-Limit says 1200 (a minute).
        server:configure { rate_limit = { per_second = 20, burst = 20 } }
        local function burst(opts)
            local c = helpers.client(server, opts)
            local failed, t0 = 0, require("socket").gettime()
            for _ = 1, 45 do
                if not c:list_catalogs() then failed = failed + 1 end
            end
            c:close()
            return failed, require("socket").gettime() - t0
        end
        local failed_plain = burst { max_retries = 0 }
        assert.is_true(failed_plain > 0, "without pacing some of 45 calls in a row meet the limit")
        server:configure { rate_limit = { per_second = 20, burst = 20 } }   -- full again
        local failed, elapsed = burst { max_retries = 0, rate_limit = "auto" }
        assert.equal(0, failed)
        -- 45 calls at 20 a second after the first: a wide margin below 1.2 s.
        assert.is_true(elapsed > 0.6, ("45 calls took %.2f s"):format(elapsed))
    end)

    it("refuses a cache option for a method that is no idempotent read, and unknown rate_limit keys", function()
        for _, opts in ipairs {
            { cache = { start_voyage = 10 } }, { cache = { lookup_product = -1 } }, { cache = { lookup_product = "x" } },
            { rate_limit = { per_second = 0 } }, { rate_limit = { rps = 5 } }, { store = { memcached = {} } },
        } do
            local ok, err = pcall(helpers.client, server, opts)
            assert.is_false(ok)
            assert.equal("InvalidArgumentError", err.name)
        end
    end)
end)
