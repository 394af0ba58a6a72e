-- Issue 8, the Lua layer's part: refresh accounting when a batch ends the
-- call (#3) or the server's answer is hostile (#10), repeated cursors
-- (#12), dot segments in request() paths (#16), Retry-After that is not
-- delta-seconds, and 2xx answers without a body (the Lua side of #9).
local helpers = require "spec.support.helpers"
local mock = helpers.mock
local errors = require "octogen.errors"
local retry = require "octogen.retry"
local cjson = require "cjson"

local REFRESH = "/v1/products/refresh"
local SEARCH = "/v1/products/search"

local function pinned(i)
    return { catalog = "tidepool", url = ("https://tidepool.example/products/new-drop-%04d"):format(i) }
end

local function pinned_list(n)
    local t = {}
    for i = 1, n do t[i] = pinned(i) end
    return t
end

-- The promise of refresh_products: every target given is counted once,
-- in accepted or rejected. Rejected entries carry the input itself, so
-- they are matched by identity; the rest must be as many as accepted.
local function assert_accounted(targets, result)
    assert.equal(#targets, result.submitted)
    assert.equal(#targets, #result.accepted + #result.rejected)
    local is_input = {}
    for _, t in ipairs(targets) do is_input[t] = true end
    local seen = {}
    for _, r in ipairs(result.rejected) do
        assert.is_true(is_input[r.target] == true, "a rejected target that was not given")
        assert.is_nil(seen[r.target], "a target rejected twice")
        seen[r.target] = true
        assert.is_string(r.code)
        assert.is_string(r.message)
    end
    for _, a in ipairs(result.accepted) do
        assert.is_table(a)
        assert.is_string(a.url)
    end
    for _, e in ipairs(result.errors) do assert.is_true(errors.is_error(e)) end
end

-- The targets of every recorded refresh request, by URL, with the status
-- the mock gave it (the first request whose rule failed it is `failed`).
local function sent_urls(server)
    local urls, n = {}, 0
    for _, req in ipairs(server:requests()) do
        if req.path == REFRESH then
            n = n + 1
            for _, t in ipairs(cjson.decode(req.body).targets) do urls[t.url] = n end
        end
    end
    return urls, n
end

describe("refresh_products accounting when a batch ends the call (#3)", function()
    local server, client
    setup(function()
        server = mock.start()
        client = helpers.client(server)
    end)
    teardown(function()
        client:close()
        server:stop()
    end)
    before_each(function() server:reset() end)

    for _, case in ipairs { { 401, "AuthenticationError" }, { 422, "ValidationError" } } do
        local status, class = case[1], case[2]

        it(status .. " on the 2nd batch, one at a time: earlier work kept, later batches rejected not_sent",
            function()
                -- the first refresh request passes, the second gets the error
                server:fault { { path = REFRESH, times = 1 }, { path = REFRESH, times = 1, status = status } }
                local targets = pinned_list(12)
                local res, err = client:refresh_products(targets, { batch_size = 2 })
                assert.is_nil(res)
                assert.equal(class, err.name)
                assert.equal(status, err.status_code)
                assert_accounted(targets, err.result)
                assert.equal(2, #server:requests())
                assert.equal(2, #err.result.accepted)
                assert.equal(targets[1].url, err.result.accepted[1].url)
                assert.equal(targets[2].url, err.result.accepted[2].url)
                for i = 3, 12 do
                    local r = err.result.rejected[i - 2]
                    assert.equal(targets[i], r.target)
                    assert.equal(i <= 4 and "batch_failed" or "not_sent", r.code)
                end
                assert.truthy(err.result.rejected[3].message:find("not sent", 1, true))
                assert.equal(err, err.result.errors[1])
            end)

        it(status .. " on one batch with concurrency 3: every answered batch counts, none is lost", function()
            server:fault { { path = REFRESH, times = 1 }, { path = REFRESH, times = 1, status = status } }
            local targets = pinned_list(12)
            local res, err = client:refresh_products(targets, { batch_size = 2, concurrency = 3 })
            assert.is_nil(res)
            assert.equal(class, err.name)
            assert.equal(status, err.status_code)
            assert_accounted(targets, err.result)
            -- What went over the wire decides each target's fate: sent and
            -- answered 202 -> accepted, the failed batch -> batch_failed,
            -- never sent -> not_sent.
            local sent, n = sent_urls(server)
            assert.is_true(n >= 3, "the first three batches go out together")
            local code = {}
            for _, r in ipairs(err.result.rejected) do code[r.target.url] = r.code end
            local accepted = {}
            for _, a in ipairs(err.result.accepted) do accepted[a.url] = true end
            local failed = 0
            for _, t in ipairs(targets) do
                if not sent[t.url] then
                    assert.equal("not_sent", code[t.url])
                elseif code[t.url] then
                    assert.equal("batch_failed", code[t.url])
                    failed = failed + 1
                else
                    assert.is_true(accepted[t.url], t.url .. " was sent and answered but is not accepted")
                end
            end
            assert.equal(2, failed)
            assert.equal(2 * (n - 1), #err.result.accepted)
        end)
    end

    it("a 401 on the very first batch rejects everything, nothing lost", function()
        server:fault { path = REFRESH, times = 1, status = 401 }
        local targets = pinned_list(6)
        targets[7] = { bogus = 1 }
        local res, err = client:refresh_products(targets, { batch_size = 2, concurrency = 2 })
        assert.is_nil(res)
        assert.equal("AuthenticationError", err.name)
        assert_accounted(targets, err.result)
        local last = err.result.rejected[#err.result.rejected]
        assert.equal(targets[7], last.target)
        assert.equal("invalid_target", last.code)
    end)
end)

describe("refresh_products with hostile answers (#10)", function()
    local server, client
    setup(function()
        server = mock.start()
        client = helpers.client(server)
    end)
    teardown(function()
        client:close()
        server:stop()
    end)
    before_each(function() server:reset() end)

    local function answer(status, accepted, rejected)
        server:fault { path = REFRESH, times = 1, status = status,
            body = '{"requestId":"r-1","submitted":3,"workflowId":"wf-1","accepted":' .. accepted ..
                ',"rejected":' .. rejected .. "}" }
    end

    local function url(i) return pinned(i).url end
    local function acc(i) return '{"catalog":"tidepool","url":"' .. url(i) .. '"}' end
    local function echo(i, code) return '{"target":' .. cjson.encode(pinned(i)) .. ',"code":"' .. code ..
        '","message":"m"}' end

    -- The call returns nil, err or a result, never raises; either way every
    -- target is counted exactly once.
    local function refresh(targets)
        local ok, res, err = pcall(client.refresh_products, client, targets)
        assert.is_true(ok, "refresh_products raised: " .. tostring(res))
        local result = res or err.result
        if not res then assert.is_true(errors.is_error(err)) end
        assert_accounted(targets, result)
        return res, err, result
    end

    local function codes(result)
        local t = {}
        for i, r in ipairs(result.rejected) do t[i] = r.code end
        return t
    end

    it("rejected entries that are a number or null are ignored; the targets not mentioned are no_answer", function()
        answer(202, "[]", "[1,null]")
        local res, err, result = refresh(pinned_list(3))
        assert.is_nil(res)
        assert.equal("APIError", err.name)
        assert.equal(202, err.status_code)
        assert.same({ "no_answer", "no_answer", "no_answer" }, codes(result))
        assert.equal(1, #result.errors)
        assert.equal(2, #result.errors[1].unmatched)
    end)

    it("a rejected echo with a table as url, or a number as target, matches nothing", function()
        answer(202, "[" .. acc(1) .. "]",
            '[{"target":{"url":{"x":1}},"code":"c","message":"m"},{"target":5,"code":"c"},"str",{"code":"c"}]')
        local res, _, result = refresh(pinned_list(3))
        assert.is_table(res)
        assert.equal(1, #result.accepted)
        assert.same({ "no_answer", "no_answer" }, codes(result))
        assert.equal(4, #result.errors[1].unmatched)
        assert.equal("APIError", result.errors[1].name)
    end)

    it("a duplicate echo counts once", function()
        answer(202, "[" .. acc(2) .. "," .. acc(3) .. "]", "[" .. echo(1, "product_not_found") .. "," ..
            echo(1, "ambiguous_url") .. "]")
        local targets = pinned_list(3)
        local res, _, result = refresh(targets)
        assert.is_table(res)
        assert.equal(2, #result.accepted)
        assert.equal(1, #result.rejected)
        assert.equal(targets[1], result.rejected[1].target)
        assert.equal("product_not_found", result.rejected[1].code)
        assert.equal(1, #result.errors[1].unmatched)
    end)

    it("an echo of a target that was not sent counts for nothing", function()
        answer(202, "[" .. acc(1) .. "," .. acc(2) .. "," .. acc(3) .. "]", "[" .. echo(9, "product_not_found") .. "]")
        local res, _, result = refresh(pinned_list(3))
        assert.is_table(res)
        assert.equal(3, #result.accepted)
        assert.same({}, result.rejected)
        assert.equal(1, #result.errors[1].unmatched)
    end)

    it("missing answers: the targets the server did not mention are rejected no_answer", function()
        answer(202, "[" .. acc(2) .. "]", "[]")
        local targets = pinned_list(3)
        local res, _, result = refresh(targets)
        assert.is_table(res)
        assert.equal(url(2), result.accepted[1].url)
        assert.same({ "no_answer", "no_answer" }, codes(result))
        assert.equal(targets[1], result.rejected[1].target)
        assert.equal(targets[3], result.rejected[2].target)
        assert.same({}, result.errors)
    end)

    it("accepted entries beyond the targets sent, or not {catalog, url}, are not counted", function()
        answer(202, "[" .. acc(1) .. ',{"catalog":"tidepool","url":"https://evil.example/x"},' .. acc(2) .. "," ..
            acc(3) .. "," .. acc(3) .. ',5,"x",null,{"url":7},{"catalog":{},"url":"u"}]', "[]")
        local res, _, result = refresh(pinned_list(3))
        assert.is_table(res)
        assert.equal(3, #result.accepted)
        assert.equal(url(1), result.accepted[1].url)
        assert.same({}, result.rejected)
        assert.equal(7, #result.errors[1].unmatched)
    end)

    it("a rejection whose code or message is not a string still counts, as text", function()
        answer(202, "[" .. acc(2) .. "]", '[{"target":' .. cjson.encode(pinned(1)) .. ',"code":7,"message":{}}]')
        local _, _, result = refresh(pinned_list(2))
        assert.equal("7", result.rejected[1].code)
        assert.is_string(result.rejected[1].message)
    end)

    it("accepted as an object, not a list: nothing counted as accepted", function()
        answer(202, '{"a":1}', "[]")
        local res, err, result = refresh(pinned_list(2))
        assert.is_nil(res)
        assert.equal("APIError", err.name)
        assert.same({ "no_answer", "no_answer" }, codes(result))
    end)

    it("a hostile 400 in the refresh shape is data, counted the same way", function()
        server:fault { path = REFRESH, times = 1, status = 400,
            body = '{"accepted":[],"rejected":[null,{"target":{"url":[1]}},3,' .. echo(2, "product_not_found") .. "]}" }
        local res, err, result = refresh(pinned_list(2))
        assert.is_nil(res)
        assert.equal(400, err.status_code)
        assert.same({ "no_answer", "product_not_found" }, codes(result))
        assert.equal(3, #result.errors[1].unmatched)
    end)

    it("several batches, one hostile: the others keep their real outcome", function()
        server:fault { { path = REFRESH, times = 1 },
            { path = REFRESH, times = 1, status = 202, body = '{"accepted":[1,2,3],"rejected":[null]}' } }
        local targets = pinned_list(6)
        local ok, res = pcall(client.refresh_products, client, targets, { batch_size = 2 })
        assert.is_true(ok, tostring(res))
        assert_accounted(targets, res)
        assert.equal(4, #res.accepted)
        assert.same({ "no_answer", "no_answer" }, codes(res))
        assert.equal(targets[3], res.rejected[1].target)
    end)
end)

describe("pages() and items() with a repeated cursor (#12)", function()
    local server, client
    setup(function()
        server = mock.start()
        client = helpers.client(server)
    end)
    teardown(function()
        client:close()
        server:stop()
    end)
    before_each(function() server:reset() end)

    local function page(cursor, uuid)
        return { path = SEARCH, times = 1, status = 200,
            body = '{"items":[{"uuid":"' .. uuid .. '","productUrl":"https://x.example/p"}],"nextCursor":"' ..
                cursor .. '"}' }
    end

    -- Walk at most `cap` steps (so that the old behaviour fails the spec
    -- instead of hanging it); returns what was seen and what was raised.
    local function walk(iterator, cap)
        local seen = {}
        local ok, err = pcall(function()
            for v in iterator do
                seen[#seen + 1] = v
                if #seen >= cap then error("walked " .. cap .. " steps: the walk loops", 0) end
            end
        end)
        return seen, ok, err
    end

    local function assert_repeated(err, cursor)
        assert.is_true(errors.is_error(err), tostring(err))
        assert.equal("APIError", err.name)
        assert.equal(cursor, err.cursor)
        assert.truthy(err.message:find('"' .. cursor .. '"', 1, true), err.message)
    end

    it("the same nextCursor on every page ends the walk with an error naming it", function()
        local rule = page("AAA", "u-1")
        rule.times = 1000
        server:fault(rule)
        local seen, ok, err = walk(client:pages { limit = 1 }, 50)
        assert.is_false(ok)
        assert_repeated(err, "AAA")
        assert.equal(2, #seen)  -- the page that repeated the cursor is still handed out
        assert.equal(2, #server:requests())
    end)

    it("a cycle A -> B -> A ends the walk too, in items()", function()
        server:fault { page("A", "u-1"), page("B", "u-2"), page("A", "u-3") }
        local loop = page("B", "u-4")
        loop.times = 1000
        server:fault(loop)
        local seen, ok, err = walk(client:items { limit = 1 }, 50)
        assert.is_false(ok)
        assert_repeated(err, "A")
        assert.equal(3, #seen)
        assert.equal("u-3", seen[3].uuid)
        local reqs = server:requests()
        assert.equal(3, #reqs)
        assert.same({ nil, "A", "B" }, { helpers.body(reqs[1]).cursor, helpers.body(reqs[2]).cursor,
            helpers.body(reqs[3]).cursor })
    end)

    it("the starting cursor counts as seen", function()
        local rule = page("START", "u-1")
        rule.times = 1000
        server:fault(rule)
        local seen, ok, err = walk(client:pages { limit = 1, cursor = "START" }, 50)
        assert.is_false(ok)
        assert_repeated(err, "START")
        assert.equal(1, #seen)
    end)

    it("max_pages reached first ends the walk quietly", function()
        local rule = page("AAA", "u-1")
        rule.times = 1000
        server:fault(rule)
        local seen, ok = walk(client:pages { limit = 1, max_pages = 2 }, 50)
        assert.is_true(ok)
        assert.equal(2, #seen)
    end)
end)

describe("request() paths with dot segments (#16)", function()
    local server, client
    setup(function()
        server = mock.start()
        client = helpers.client(server)
    end)
    teardown(function()
        client:close()
        server:stop()
    end)
    before_each(function() server:reset() end)

    it("refuses . and .. segments, their %2e forms, backslashes and fragments, sending nothing", function()
        for _, path in ipairs { "../../x", "..", "./catalogs", "a/../catalogs", "a/./b", "a/..", "/../x",
            "%2e%2e/x", "%2E%2E/x", ".%2e/x", "%2e./x", "a/%2e/b", "a/%2E", "a\\..\\b", "a\\b",
            "catalogs#frag", "../x?q=1" } do
            local ok, err = pcall(client.request, client, "GET", path)
            assert.is_false(ok, path)
            assert.equal("InvalidArgumentError", err.name, path)
            assert.truthy(err.message:find(string.format("%q", path), 1, true), err.message)
        end
        assert.same({}, server:requests())
    end)

    it("still sends dots that are not whole segments, and dot segments in the query", function()
        for _, path in ipairs { "a..b/x", ".well-known/x", "x/...", "x.json", "no/route?next=../x" } do
            local res, err = client:request("GET", path)
            assert.is_nil(res)
            assert.equal("NotFoundError", err.name, path)
        end
        assert.equal(5, #server:requests())
    end)

    it("err.url is the URL the server was asked for", function()
        local origin = server.base_url:match("^(https?://[^/]+)")
        local _, err = client:request("GET", "no/such/route?x=1")
        local req = server:last_request()
        assert.equal("/v1/no/such/route", req.path)
        assert.equal(origin .. req.path .. "?" .. req.query, err.url)
        _, err = client:request("GET", "/no/such/route")
        assert.equal(origin .. server:last_request().path, err.url)
    end)
end)

describe("Retry-After that is not delta-seconds or an HTTP date", function()
    local server, client, waits
    setup(function() server = mock.start() end)
    teardown(function() server:stop() end)
    before_each(function()
        server:reset()
        waits = {}
        client = helpers.client(server, { sleep = function(s) waits[#waits + 1] = s end, max_retries = 1,
            retry = { base_delay = 0.25, jitter = 0 } })
    end)
    after_each(function() client:close() end)

    it("is ignored: hex, exponent, sign and fractions fall back to the backoff", function()
        for _, value in ipairs { "0x10", "1e1", "+5", "-5", "2.5", "5 5", "inf" } do
            server:reset()
            waits = {}
            server:fault { path = "/v1/catalogs", status = 429, retry_after = value, times = 1 }
            assert.is_table(client:list_catalogs())
            assert.same({ 0.25 }, waits, value)
        end
    end)

    it("digits are still seconds, and an HTTP date still a date", function()
        server:fault { path = "/v1/catalogs", status = 429, retry_after = "7", times = 1 }
        assert.is_table(client:list_catalogs())
        assert.same({ 7 }, waits)
        local now = 1700000000
        local date = os.date("!%a, %d %b %Y %H:%M:%S GMT", now + 30)
        assert.equal(30, retry.retry_after({ headers = { ["retry-after"] = date } }, now))
        assert.equal(16, retry.retry_after({ headers = { ["retry-after"] = " 16 " } }, now))
        assert.is_nil(retry.retry_after({ headers = { ["retry-after"] = "0x10" } }, now))
        assert.is_nil(retry.retry_after({ headers = { ["retry-after"] = "soon" } }, now))
    end)
end)

describe("a 2xx with no body to a method that expects one (#9, Lua side)", function()
    local server, client
    setup(function()
        server = mock.start()
        client = helpers.client(server)
    end)
    teardown(function()
        client:close()
        server:stop()
    end)
    before_each(function() server:reset() end)

    local function assert_204(ok, res, err)
        assert.is_true(ok, "raised: " .. tostring(res))
        assert.is_nil(res)
        assert.is_true(errors.is_error(err), tostring(err))
        assert.equal("APIError", err.name)
        assert.equal(204, err.status_code)
    end

    it("search_products", function()
        server:fault { path = SEARCH, status = 204, times = 5 }
        assert_204(pcall(client.search_products, client, { limit = 1 }))
    end)

    it("lookup_product", function()
        server:fault { path = "/v1/products/lookup", status = 204, times = 5 }
        assert_204(pcall(client.lookup_product, client, "https://tidepool.example/products/x"))
    end)

    it("list_catalogs", function()
        server:fault { path = "/v1/catalogs", status = 204, times = 5 }
        assert_204(pcall(client.list_catalogs, client))
    end)

    it("refresh_products, every target accounted for", function()
        server:fault { path = REFRESH, status = 204, times = 5 }
        local targets = pinned_list(3)
        local ok, res, err = pcall(client.refresh_products, client, targets)
        assert_204(ok, res, err)
        assert_accounted(targets, err.result)
        assert.equal("batch_failed", err.result.rejected[1].code)
    end)

    it("items() raises it, with the cursor", function()
        server:fault { path = SEARCH, status = 204, times = 5 }
        local ok, err = pcall(function() for _ in client:items { limit = 1 } do end end)
        assert.is_false(ok)
        assert.is_true(errors.is_error(err), tostring(err))
        assert.equal("APIError", err.name)
        assert.equal(204, err.status_code)
    end)
end)
