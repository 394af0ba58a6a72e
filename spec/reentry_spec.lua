-- The scheduler of started calls against careless callers: hooks and
-- callbacks that re-enter poll() or yield, one slow call among fast ones,
-- token refreshes shared by many calls, absurd poll() waits, and tokens a
-- server should never have issued (issue 8: defects 5, 6, 7, 8, 13, and
-- the callback that yields).
local octogen = require "octogen"
local helpers = require "spec.support.helpers"
local mock = helpers.mock
local socket = require "socket"
local now = socket.gettime

-- Poll until every request is done or `limit` seconds pass (a lost request
-- must fail the spec, not hang the run). Returns whether all are done and
-- what the outer poll raised, if anything.
local function drain(client, reqs, limit)
    local t_end = now() + (limit or 5)
    while now() < t_end do
        local all_done = true
        for _, r in ipairs(reqs) do all_done = all_done and r:done() end
        if all_done then return true end
        local ok, err = pcall(client.poll, client, 0.05)
        if not ok then return false, err end
    end
    return false, "timed out"
end

local function requests_to(server, path)
    local out = {}
    for _, r in ipairs(server:requests()) do if r.path == path then out[#out + 1] = r end end
    return out
end

describe("re-entering the scheduler (defect 5)", function()
    local server
    setup(function() server = mock.start() end)
    teardown(function() server:stop() end)
    before_each(function() server:reset() end)

    it("poll(), result() and all() called from an on_response hook are refused with an OctogenError", function()
        local client
        local seen = {}
        client = helpers.client(server, { on_response = function()
            local ok1, e1 = pcall(client.poll, client, 0)
            local ok2, e2 = pcall(function() return client:all { { "list_catalogs" } } end)
            seen[#seen + 1] = { ok1, e1, ok2, e2 }
        end })
        server:fault { path = "/v1/catalogs", latency_ms = 50, times = 8 }
        local reqs = {}
        for i = 1, 8 do reqs[i] = client:start("list_catalogs") end
        -- a request not yet finished, for the hook's result()
        local other = client:start("search_products", { catalog = "tidepool", limit = 1 })
        local ok_all, why = drain(client, reqs)
        assert.is_true(ok_all, tostring(why))
        assert.is_table((other:result()))
        assert.equal(9, #seen)   -- one response each, nothing more sent from the hook
        for _, s in ipairs(seen) do
            assert.is_false(s[1])
            assert.equal("OctogenError", s[2].name)
            assert.truthy(s[2].message:find("poll", 1, true), s[2].message)
            assert.is_false(s[3])
            assert.equal("OctogenError", s[4].name)
        end
        for i = 1, 8 do assert.is_table((reqs[i]:result())) end
        assert.equal(1, #other:result().items)
        -- the hook's all() started nothing
        assert.equal(8, #requests_to(server, "/v1/catalogs"))
        client:close()
    end)

    it("a hook whose poll() raises fails its own call with that error; every other request is handed back", function()
        local client
        local n = 0
        client = helpers.client(server, { on_response = function()
            n = n + 1
            if n % 2 == 0 then client:poll(0) end   -- raises: not caught here
        end })
        server:fault { path = "/v1/catalogs", latency_ms = 50, times = 16 }
        local reqs = {}
        for i = 1, 16 do reqs[i] = client:start("list_catalogs") end
        local ok_all, why = drain(client, reqs)
        assert.is_true(ok_all, tostring(why))
        local good, failed = 0, 0
        for i = 1, 16 do
            local ok, res = pcall(reqs[i].result, reqs[i])
            if ok then
                assert.is_table(res)
                good = good + 1
            else
                assert.equal("OctogenError", res.name)
                assert.truthy(res.message:find("poll", 1, true), res.message)
                failed = failed + 1
            end
        end
        assert.equal(8, good)
        assert.equal(8, failed)
        assert.equal(0, client:pending())
        client:close()
    end)

    it("on_request and a sleep function calling poll() are refused the same way", function()
        local client
        local errs = {}
        client = helpers.client(server, {
            on_request = function()
                local ok, e = pcall(client.poll, client, 0)
                errs[#errs + 1] = not ok and e or "not refused"
            end,
            retry = { base_delay = 0.01, jitter = 0 },
        })
        server:fault { path = "/v1/catalogs", status = 503, times = 1 }
        local req = client:start("list_catalogs", { sleep = function()
            local ok, e = pcall(client.poll, client, 0)
            errs[#errs + 1] = not ok and e or "not refused"
        end })
        local ok_all, why = drain(client, { req })
        assert.is_true(ok_all, tostring(why))
        local cats, meta = req:result()
        assert.is_table(cats)
        assert.equal(2, meta.attempts)
        assert.equal(3, #errs)   -- on_request twice, sleep once
        for _, e in ipairs(errs) do assert.equal("OctogenError", e.name) end
        client:close()
    end)

    it("a finished request's result() may be read from a hook", function()
        local client
        local first = nil
        local got
        client = helpers.client(server, { on_response = function()
            if first and first:done() then got = first:result() end
        end })
        first = client:start("list_catalogs")
        assert.is_table((first:result()))
        local second = client:start("list_catalogs")
        assert.is_table((second:result()))
        assert.is_table(got)
        client:close()
    end)
end)

describe("scheduling (defect 6)", function()
    local server, client
    setup(function() server = mock.start() end)
    teardown(function() server:stop() end)
    before_each(function()
        server:reset()
        client = helpers.client(server, { max_retries = 0 })
    end)
    after_each(function() client:close() end)

    local SLOW = 1.5

    it("all() hands fast calls back while a slow one is still running", function()
        server:fault { path = "/v1/catalogs", latency_ms = SLOW * 1000, times = 2 }
        -- Two slots: the first slow call holds one while the six fast ones go
        -- through the other, and the second slow call starts right after
        -- them, so both slow ones overlap.
        local calls = { { "list_catalogs" } }
        for i = 2, 7 do calls[i] = { "search_products", { catalog = "tidepool", limit = 1 } } end
        calls[8] = { "list_catalogs" }
        local t0 = now()
        local res = client:all(calls, { concurrency = 2 })
        local wall = now() - t0
        assert.is_table(res[1][1])
        assert.is_table(res[8][1])
        for i = 2, 7 do assert.equal(1, #res[i][1].items) end
        assert.is_true(wall < 1.4 * SLOW, ("all() took %.2f s; a slow call alone %.1f s"):format(wall, SLOW))
    end)

    it("result() of fast calls returns long before a slow call started beside them ends", function()
        server:fault { path = "/v1/catalogs", latency_ms = SLOW * 1000, times = 1 }
        local slow = client:start("list_catalogs")
        local fast = {}
        for i = 1, 6 do fast[i] = client:start("search_products", { catalog = "tidepool", limit = 1 }) end
        local t0 = now()
        for i = 1, 6 do assert.equal(1, #fast[i]:result().items) end
        local wall = now() - t0
        assert.is_false(slow:done())
        assert.is_true(wall < SLOW / 2, ("six fast results took %.2f s"):format(wall))
        assert.is_table((slow:result()))
    end)

    it("poll(seconds) returns as soon as one started call completes", function()
        server:fault { path = "/v1/catalogs", latency_ms = SLOW * 1000, times = 1 }
        local slow = client:start("list_catalogs")
        local fast = client:start("search_products", { catalog = "tidepool", limit = 1 })
        local t0 = now()
        local pending = client:poll(30)
        local wall = now() - t0
        assert.equal(1, pending)
        assert.is_true(fast:done())
        assert.is_false(slow:done())
        assert.is_true(wall < SLOW / 2, ("poll(30) took %.2f s"):format(wall))
        assert.equal(0, client:poll(30))
        assert.is_true(slow:done())
    end)
end)

describe("token refresh shared by started calls (defect 7)", function()
    local server, token_url
    setup(function()
        server = mock.start()
        token_url = server.base_url:gsub("/v1$", "") .. "/oauth/token"
    end)
    teardown(function() server:stop() end)
    before_each(function() server:reset() end)

    local function cc_client()
        return helpers.client(server, { max_retries = 0, api_key = octogen.auth.client_credentials {
            token_url = token_url, client_id = "octo_client", client_secret = "octo_secret",
        } })
    end

    it("20 started calls refused after a revoke cause exactly one token request, and all succeed", function()
        local client = cc_client()
        assert.truthy(client:list_catalogs())
        assert.equal(1, #requests_to(server, "/oauth/token"))
        server:_control("POST", "/revoke_tokens", "{}")
        local reqs = {}
        for i = 1, 20 do reqs[i] = client:start("list_catalogs") end
        local ok_all, why = drain(client, reqs, 10)
        assert.is_true(ok_all, tostring(why))
        for i = 1, 20 do
            local cats, meta = reqs[i]:result()
            assert.is_table(cats, tostring(meta))
            assert.equal(2, meta.attempts)
        end
        assert.equal(2, #requests_to(server, "/oauth/token"))
        local api = requests_to(server, "/v1/catalogs")
        assert.equal(41, #api)
        -- the 20 retries all carry the one new token (the mock records
        -- requests as they arrive over several connections: count, do not
        -- rely on their order)
        local first = api[1].headers.authorization
        local by_token = {}
        for i = 1, #api do
            local a = api[i].headers.authorization
            by_token[a] = (by_token[a] or 0) + 1
        end
        assert.equal(21, by_token[first])
        local others = 0
        for token, n in pairs(by_token) do
            if token ~= first then
                others = others + 1
                assert.equal(20, n, token)
            end
        end
        assert.equal(1, others)
        client:close()
    end)

    it("a slow token endpoint blocks neither start() nor poll(0)", function()
        local client = cc_client()
        -- The token endpoint answers after 600 ms with a token the API knows.
        server:fault { path = "/oauth/token", latency_ms = 600, times = 1, status = 200,
            body = '{"access_token":"' .. mock.KEY .. '","token_type":"Bearer","expires_in":3600}' }
        local t0 = now()
        local reqs = {}
        for i = 1, 5 do reqs[i] = client:start("list_catalogs") end
        local started = now() - t0
        local worst, polls = 0, 0
        while client:pending() > 0 and now() - t0 < 10 do
            local p0 = now()
            client:poll(0)
            worst = math.max(worst, now() - p0)
            polls = polls + 1
            socket.sleep(0.005)
        end
        assert.equal(0, client:pending())
        for i = 1, 5 do assert.is_table((reqs[i]:result())) end
        assert.equal(1, #requests_to(server, "/oauth/token"))
        assert.is_true(started < 0.2, ("five start() took %.2f s"):format(started))
        assert.is_true(worst < 0.2, ("worst poll(0) %.2f s"):format(worst))
        assert.is_true(polls > 10)
        client:close()
    end)

    it("a token fetch for started calls that fails gives each waiting call the error", function()
        local client = helpers.client(server, { max_retries = 0, api_key = octogen.auth.client_credentials {
            token_url = token_url, client_id = "octo_client", client_secret = "not-the-secret",
        } })
        local reqs = {}
        for i = 1, 5 do reqs[i] = client:start("list_catalogs") end
        local ok_all, why = drain(client, reqs)
        assert.is_true(ok_all, tostring(why))
        for i = 1, 5 do
            local res, err = reqs[i]:result()
            assert.is_nil(res)
            assert.equal("AuthenticationError", err.name)
            assert.equal(401, err.status_code)
        end
        assert.equal(1, #requests_to(server, "/oauth/token"))
        assert.equal(0, #requests_to(server, "/v1/catalogs"))
        client:close()
    end)

    it("a token function that fails after its fetch fails every call waiting for it; the next call asks again", function()
        local cc = octogen.auth.client_credentials {
            token_url = token_url, client_id = "octo_client", client_secret = "octo_secret",
        }
        local yield_after_fetch = false
        local client = helpers.client(server, { max_retries = 0, api_key = function(refused)
            local token, ttl = cc(refused)   -- a real fetch: the other calls wait for it
            if yield_after_fetch and refused then coroutine.yield() end
            return token, ttl
        end })
        assert.truthy(client:list_catalogs())
        server:_control("POST", "/revoke_tokens", "{}")
        -- a slow fetch, so that all five 401s arrive while it is in flight
        server:fault { path = "/oauth/token", latency_ms = 300, times = 1, status = 200,
            body = '{"access_token":"' .. mock.KEY .. '","token_type":"Bearer","expires_in":3600}' }
        yield_after_fetch = true
        local reqs = {}
        for i = 1, 5 do reqs[i] = client:start("list_catalogs") end
        local ok_all, why = drain(client, reqs)
        assert.is_true(ok_all, tostring(why))
        for i = 1, 5 do
            local ok, err = pcall(reqs[i].result, reqs[i])
            assert.is_false(ok)
            assert.equal("OctogenError", err.name)
            assert.truthy(err.message:find("yield", 1, true), err.message)
        end
        assert.equal(2, #requests_to(server, "/oauth/token"))
        yield_after_fetch = false
        assert.is_table((client:start("list_catalogs"):result()))
        client:close()
    end)
end)

describe("tokens that cannot be sent (defect 13)", function()
    local server, token_url
    setup(function()
        server = mock.start()
        token_url = server.base_url:gsub("/v1$", "") .. "/oauth/token"
    end)
    teardown(function() server:stop() end)
    before_each(function() server:reset() end)

    it("an access_token with CR/LF from the token endpoint is an AuthenticationError, nothing sent", function()
        server:fault { path = "/oauth/token", status = 200,
            body = '{"access_token":"oat-1\\r\\nX-Evil: 1","token_type":"Bearer","expires_in":3600}' }
        local client = helpers.client(server, { api_key = octogen.auth.client_credentials {
            token_url = token_url, client_id = "octo_client", client_secret = "octo_secret",
        } })
        local res, err = client:list_catalogs()
        assert.is_nil(res)
        assert.equal("AuthenticationError", err.name)
        assert.falsy(tostring(err):find("X-Evil", 1, true))
        local started_res, started_err = client:start("list_catalogs"):result()
        assert.is_nil(started_res)
        assert.equal("AuthenticationError", started_err.name)
        assert.equal(0, #requests_to(server, "/v1/catalogs"))
        client:close()
    end)

    it("a token with CR/LF, whitespace or nothing from an api_key function is an AuthenticationError", function()
        for _, bad in ipairs { "a\r\nX-Evil: 1", "a\nb", "a b", "" } do
            local client = helpers.client(server, { api_key = function() return bad, 3600 end })
            local res, err = client:list_catalogs()
            assert.is_nil(res)
            assert.equal("AuthenticationError", err.name)
            local res2, err2 = client:start("list_catalogs"):result()
            assert.is_nil(res2)
            assert.equal("AuthenticationError", err2.name)
            client:close()
        end
        assert.same({}, server:requests())
    end)

    it("a token that is not a string is still a programming error", function()
        local client = helpers.client(server, { api_key = function() return 42 end })
        local ok, err = pcall(client.list_catalogs, client)
        assert.is_false(ok)
        assert.equal("InvalidArgumentError", err.name)
        client:close()
    end)
end)

describe("poll() with absurd waits (defect 8, Lua side)", function()
    local server
    setup(function() server = mock.start() end)
    teardown(function() server:stop() end)

    for _, huge in ipairs { math.huge, 1e300 } do
        it("poll(" .. tostring(huge) .. ") waits for the call without spinning", function()
            local client = helpers.client(server)
            assert.equal(0, client:poll(huge))   -- nothing pending: at once
            server:fault { path = "/v1/catalogs", latency_ms = 400, times = 1 }
            local req = client:start("list_catalogs")
            local c0, t0 = os.clock(), now()
            assert.equal(0, client:poll(huge))
            local cpu, wall = os.clock() - c0, now() - t0
            assert.is_true(req:done())
            assert.is_true(wall >= 0.3)
            -- waiting, not spinning: far less CPU than wall time
            assert.is_true(cpu < wall / 4, ("%.2f s of CPU in %.2f s"):format(cpu, wall))
            client:close()
        end)
    end

    it("poll() with NaN or a negative wait still raises InvalidArgumentError", function()
        local client = helpers.client(server)
        for _, bad in ipairs { 0 / 0, -1, -math.huge, "1" } do
            local ok, err = pcall(client.poll, client, bad)
            assert.is_false(ok)
            assert.equal("InvalidArgumentError", err.name)
        end
        client:close()
    end)
end)

describe("callbacks that yield inside a started call", function()
    local server
    setup(function() server = mock.start() end)
    teardown(function() server:stop() end)
    before_each(function()
        server:reset()
        -- every first attempt is answered 503, so on_request and sleep run twice / once
        server:fault { path = "/v1/catalogs", status = 503, times = 1 }
    end)

    local function check(opts, start_args)
        local client = helpers.client(server, opts)
        local req = client:start((table.unpack or unpack)(start_args or { "list_catalogs" }))
        local ok_all, why = drain(client, { req }, 5)
        assert.is_true(ok_all, tostring(why))
        local ok, err = pcall(req.result, req)
        assert.is_false(ok)
        assert.equal("OctogenError", err.name)
        assert.truthy(err.message:find("yield", 1, true), err.message)
        assert.equal(0, client:pending())
        client:close()
    end

    it("on_response", function() check { on_response = function() coroutine.yield() end } end)
    it("on_request, after its first request", function()
        local n = 0
        check { on_request = function() n = n + 1; if n == 2 then coroutine.yield("x") end end,
            retry = { base_delay = 0.01, jitter = 0 } }
    end)
    it("a sleep function", function()
        check({ retry = { base_delay = 0.01, jitter = 0 } },
            { "list_catalogs", { sleep = function() coroutine.yield() end } })
    end)
    it("an api_key function asked for a fresh token after a 401", function()
        server:reset()
        check { api_key = function(refused)
            if refused then coroutine.yield() end
            return "octo_stale", 3600
        end }
    end)

    it("an api_key function on the first request: start() raises", function()
        local client = helpers.client(server, { api_key = function() coroutine.yield(); return mock.KEY end })
        local ok, err = pcall(client.start, client, "list_catalogs")
        assert.is_false(ok)
        assert.equal("OctogenError", err.name)
        assert.truthy(err.message:find("yield", 1, true), err.message)
        assert.equal(0, client:pending())
        client:close()
    end)

    it("a blocking call's callbacks may still yield to the caller's own coroutine", function()
        local client = helpers.client(server, { max_retries = 0, on_request = function() coroutine.yield("hi") end })
        local co = coroutine.create(function() return client:request("GET", "catalogs") end)
        local ok, v = coroutine.resume(co)
        assert.is_true(ok)
        assert.equal("hi", v)
        local ok2, res, err = coroutine.resume(co)
        assert.is_true(ok2)
        assert.is_nil(res)
        assert.equal(503, err.status_code)
        client:close()
    end)
end)
