-- The API's rate limits (contract section 11.12): which 429 codes are
-- retried and how often, and the client-wide pause a 429 with Retry-After
-- starts, over blocking and started calls alike.
local helpers = require "spec.support.helpers"
local mock = helpers.mock
local socket = require "socket"

describe("429 codes", function()
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

    local function refuse(code, as_object)
        local detail = as_object and ('{"code":%q}'):format(code) or ('%q'):format(code)
        server:fault { path = "/v1/catalogs", status = 429, body = '{"detail":' .. detail .. '}' }
    end

    for _, case in ipairs {
        { "rate_limit_exceeded", 3 }, { "product_resolution_rate_limited", 3 },
        { "product_lookup_rate_limited", 3 }, { "keyless_trial_busy", 3 },
        { "concurrency_limit_exceeded", 4 },
        { "voyage_quota_exceeded", 1 }, { "keyless_trial_exhausted", 1 },
    } do
        local code, requests = case[1], case[2]
        it(("sends %d requests for a 429 %s (max_retries = 2)"):format(requests, code), function()
            refuse(code, code == "voyage_quota_exceeded" or code == "keyless_trial_exhausted")
            local res, err = client:list_catalogs()
            assert.is_nil(res)
            assert.equal("RateLimitError", err.name)
            assert.equal(code, err.code)
            assert.equal(requests, err.attempts)
            assert.equal(requests, #server:requests())
            assert.equal(requests - 1, #waits)
        end)
    end

    it("gives concurrency_limit_exceeded no retry when retries are off", function()
        refuse("concurrency_limit_exceeded")
        local _, err = client:list_catalogs { max_retries = 0 }
        assert.equal(1, err.attempts)
        assert.equal(1, #server:requests())
    end)

    it("never retries a 429 that will not clear, even as a bare string code", function()
        refuse("voyage_quota_exceeded")
        local _, err = client:list_catalogs()
        assert.equal(1, err.attempts)
    end)
end)

describe("the client-wide pause after a 429 with Retry-After", function()
    local server
    setup(function() server = mock.start() end)
    teardown(function() server:stop() end)
    before_each(function() server:reset() end)

    it("holds the next blocking call until the Retry-After has passed", function()
        local waits = {}
        local client = helpers.client(server, { max_retries = 0, sleep = function(s) waits[#waits + 1] = s end })
        server:fault { path = "/v1/catalogs", status = 429, retry_after = 1, times = 1 }
        local _, err = client:list_catalogs()
        assert.equal(429, err.status_code)
        assert.same({}, waits)
        assert.truthy(client:list_catalogs())
        -- The second call waited out (most of) the second before it went.
        assert.equal(1, #waits)
        assert.is_true(waits[1] > 0.5 and waits[1] <= 1, tostring(waits[1]))
        assert.equal(2, #server:requests())
        client:close()
    end)

    it("holds calls started after the 429 too: none reaches the server before the pause ends", function()
        local sent = {}
        local client = helpers.client(server, { max_retries = 0,
            on_request = function() sent[#sent + 1] = socket.gettime() end })
        server:fault { path = "/v1/catalogs", status = 429, retry_after = 1, times = 1 }
        local _, err = client:start("list_catalogs"):result()
        assert.equal(429, err.status_code)
        local refused_at = socket.gettime()
        local calls = {}
        for i = 1, 4 do calls[i] = client:start("list_catalogs") end
        for i = 1, 4 do assert.truthy(calls[i]:result()) end
        assert.equal(5, #sent)
        for i = 2, 5 do
            -- A wide margin: the pause is 1 s; no request may go in its first half.
            assert.is_true(sent[i] - refused_at > 0.5, ("request %d went %.3f s after the 429"):format(
                i, sent[i] - refused_at))
        end
        assert.equal(5, #server:requests())
        client:close()
    end)

    it("holds the other calls of client:all while one of them waits for its retry", function()
        local sent = {}
        local client = helpers.client(server, { max_retries = 1, retry = { jitter = 0 },
            on_request = function() sent[#sent + 1] = socket.gettime() end })
        server:fault { path = "/v1/catalogs", status = 429, retry_after = 1, times = 1 }
        local t0 = socket.gettime()
        local results = client:all({ { "list_catalogs" }, { "list_catalogs" }, { "list_catalogs" } },
            { concurrency = 1 })
        for i = 1, 3 do assert.truthy(results[i][1]) end
        -- 1 refused + its retry + 2 more, and the last three all after the pause.
        assert.equal(4, #sent)
        for i = 2, 4 do assert.is_true(sent[i] - t0 > 0.5) end
        client:close()
    end)

    it("fails a call at once, sending nothing, while a pause longer than max_retry_after lasts", function()
        local client = helpers.client(server, { max_retries = 0 })
        server:fault { path = "/v1/catalogs", status = 429, retry_after = 2880, times = 1,
            body = '{"detail":{"code":"keyless_trial_exhausted"}}' }
        local _, first = client:list_catalogs()
        assert.equal("keyless_trial_exhausted", first.code)
        local t0 = socket.gettime()
        local res, err = client:search_products { limit = 1 }
        assert.is_nil(res)
        assert.is_true(socket.gettime() - t0 < 1)
        assert.equal("RateLimitError", err.name)
        assert.is_true(err.paused)
        assert.equal("keyless_trial_exhausted", err.code)
        assert.is_true(err.retry_after > 2800 and err.retry_after <= 2880)
        assert.equal(0, err.attempts)
        assert.equal(1, #server:requests())
        -- Another client is not paused.
        local other = helpers.client(server)
        assert.truthy(other:search_products { limit = 1 })
        other:close()
        client:close()
    end)

    it("does not pause for a 429 without Retry-After, nor for a 503 with one", function()
        local waits = {}
        local client = helpers.client(server, { max_retries = 0, sleep = function(s) waits[#waits + 1] = s end })
        server:fault { path = "/v1/catalogs", status = 429, times = 1 }
        server:fault { path = "/v1/catalogs", status = 503, retry_after = 5, times = 1 }
        client:list_catalogs()
        client:list_catalogs()
        assert.truthy(client:list_catalogs())
        assert.same({}, waits)
        client:close()
    end)
end)
