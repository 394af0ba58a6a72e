-- The C core's transport-independent half (issue 9): core.response turns
-- status, headers and body into exactly what the libcurl path returns for
-- the same bytes; core.transport_error names transport failures as the
-- libcurl path does; core.request_head writes the head libcurl sends;
-- core.target is base_url as libcurl parses it.
require "octogen"   -- fills the shared error metatable (is, __tostring)
local core = require "octogen.core"
local socket = require "socket"
local helpers = require "spec.support.helpers"
local mock = helpers.mock

local UA = "transport-core-spec/1"

-- What the two paths must agree on: every field of an error, or result
-- and meta without elapsed (a time) and headers' identity.
local function view(result, meta_or_err)
    if result == nil then
        local e = meta_or_err
        return {
            failed = true, name = e.name, message = e.message, status_code = e.status_code,
            detail = e.detail, request_id = e.request_id, body = e.body, headers = e.headers,
            method = e.method, url = e.url, tls = e.tls, retryable = e.retryable,
            same_mt = getmetatable(e) == core.error_metatable,
        }
    end
    local m = meta_or_err
    return {
        result = result, status = m.status, headers = m.headers, request_id = m.request_id,
        attempts = m.attempts, rate_limit = m.rate_limit,
    }
end

local function copy(t)
    local c = {}
    for k, v in pairs(t) do c[k] = v end
    return c
end

describe("transport core", function()
    local server, client
    setup(function()
        server = mock.start()
        client = core.new { base_url = server.base_url, user_agent = UA, api_key = mock.KEY }
    end)
    teardown(function()
        client:close()
        server:stop()
    end)
    before_each(function() server:reset() end)

    describe("core.response matches the libcurl path for the same bytes", function()
        local deep = string.rep("[", 600) .. string.rep("]", 600)
        local cases = {
            { "2xx object, snake_case, member shape", 200, want = "ok",
              '{"items":[{"productId":"p1","fooBar":{"bazQux":1}}],"nextCursor":null}',
              expect = "object items:array" },
            { "2xx array", 200, want = "ok", '[{"catalogKey":"a"},{"catalogKey":"b","productCount":3}]', expect = "array" },
            { "2xx empty array", 200, want = "ok", "[]", expect = "array" },
            { "2xx, any JSON", 200, want = "ok", '"just a string"' },
            { "201 object on POST", 201, want = "ok", '{"jobId":"j1"}', method = "POST", send = "{}", expect = "object" },
            { "204 without a shape", 204, want = "ok", "" },
            { "204 where an object was promised", 204, want = "APIError", "", expect = "object" },
            { "HEAD", 200, want = "ok", "", method = "HEAD" },
            { "302 without a body", 302, want = "APIError", "", headers = { Location = "http://127.0.0.1:1/elsewhere" } },
            { "400 string detail", 400, want = "APIError", '{"detail":"bad_request"}' },
            { "401 string detail", 401, want = "AuthenticationError", '{"detail":"Invalid API key"}' },
            { "403 object detail", 403, want = "ForbiddenError", '{"detail":{"code":"forbidden","reason":"plan"}}' },
            { "404 X-Request-Id header wins over the body's", 404, want = "NotFoundError",
              '{"detail":"Not Found","request_id":"from-body"}', rid_header = true },
            { "404 body request_id without the header", 404, want = "NotFoundError",
              '{"detail":"Not Found","request_id":"from-body"}', headers = { ["X-Request-Id"] = false },
              rid = "from-body" },
            { "422 array detail on POST", 422, want = "ValidationError",
              '{"detail":[{"loc":["body","url"],"msg":"bad url","type":"value_error"}]}',
              method = "POST", send = '{"url":"x"}', expect = "object" },
            { "429 with rate-limit headers", 429, want = "RateLimitError", '{"detail":"rate_limit_exceeded"}',
              headers = { ["Retry-After"] = "2", ["X-RateLimit-Remaining"] = "0" } },
            { "500 non-JSON", 500, want = "ServerError", "<html>oops</html>", headers = { ["Content-Type"] = "text/html" } },
            { "503 empty detail", 503, want = "ServerError", '{"detail":""}' },
            { "503 long object detail", 503, want = "ServerError", '{"detail":{"why":"' .. string.rep("x", 400) .. '"}}' },
            { "503 no detail member", 503, want = "ServerError", '{"error":"down"}' },
            { "2xx non-JSON", 200, want = "APIError", "<html>oops</html>", expect = "object" },
            { "2xx invalid UTF-8", 200, want = "APIError", '{"title":"\255\254"}', expect = "object" },
            { "2xx nested too deep", 200, want = "APIError", deep, expect = "array" },
            { "2xx nested within the limit", 200, want = "ok", string.rep("[", 50) .. string.rep("]", 50), expect = "array" },
            { "2xx array where an object was promised", 200, want = "APIError", "[1]", expect = "object" },
            { "2xx member of the wrong kind", 200, want = "APIError", '{"items":{"a":1}}', expect = "object items:array" },
            { "2xx odd rate-limit headers", 200, want = "ok", "{}", expect = "object",
              headers = { ["X-RateLimit-Limit"] = "100", ["X-RateLimit-Remaining"] = "many",
                          ["X-RateLimit-Reset"] = false } },
            { "2xx without X-Request-Id", 200, want = "ok", '{"request_id":"body-only"}', expect = "object",
              headers = { ["X-Request-Id"] = false } },
        }
        for _, case in ipairs(cases) do
            it(case[1], function()
                local status, body, method = case[2], case[3], case.method or "GET"
                local path = "transport-core"
                server:fault { path = "/v1/" .. path, method = method, status = status, body = body,
                               headers = case.headers, times = 1 }
                local r1, m1 = core.request(client, method, path, case.send, case.expect)
                local got_status = r1 == nil and m1.status_code or m1.status
                assert.equal(status, got_status)
                if r1 == nil then assert.equal(body, m1.body) end
                -- The headers the cosocket transport would hand over: the
                -- same lower-case table, but a table of its own.
                local r2, m2 = core.response(status, copy(m1.headers), body, method,
                                             server.base_url .. "/" .. path, case.expect)
                assert.same(view(r1, m1), view(r2, m2))
                assert.equal(case.want, r2 == nil and m2.name or "ok")
                if case.rid then assert.equal(case.rid, m2.request_id) end
                if case.rid_header then assert.equal(m1.headers["x-request-id"], m2.request_id) end
                if r1 ~= nil then
                    assert.equal(0, m2.elapsed)
                    assert.is_number(m1.elapsed)
                end
            end)
        end

        it("decoded arrays carry octogen.array on both paths", function()
            server:fault { path = "/v1/transport-core", status = 200, body = '{"items":[]}', times = 1 }
            local r1 = assert(core.request(client, "GET", "transport-core", nil, "object"))
            local r2 = assert(core.response(200, {}, '{"items":[]}', "GET", "u", "object"))
            local array_mt = getmetatable(core.array {})
            assert.is_not_nil(array_mt)
            assert.equal(array_mt, getmetatable(r1.items))
            assert.equal(array_mt, getmetatable(r2.items))
            assert.equal('{"items":[]}', core.encode(r2))
        end)

        it("keeps elapsed, and the headers table it was given", function()
            local headers = { ["x-request-id"] = "r-9", ["x-ratelimit-reset"] = "1700000000" }
            local r, meta = core.response(200, headers, "{}", "GET", "u", "object", 0.25)
            assert.same({}, r)
            assert.equal(0.25, meta.elapsed)
            assert.equal(headers, meta.headers)
            assert.equal("r-9", meta.request_id)
            assert.same({ reset = 1700000000 }, meta.rate_limit)
            assert.equal(1, meta.attempts)
        end)

        it("refuses what no transport may pass", function()
            assert.has_error(function() core.response(99, {}, "", "GET", "u") end)
            assert.has_error(function() core.response(1000, {}, "", "GET", "u") end)
            assert.has_error(function() core.response(200, nil, "", "GET", "u") end)
            assert.has_error(function() core.response(200, {}, nil, "GET", "u") end)
            assert.has_error(function() core.response(200, {}, "", "GET", "u", "list") end)
        end)
    end)

    describe("core.transport_error", function()
        local function transport_view(err)
            local v = view(nil, err)
            v.curl_code = nil
            return v
        end

        it("names each kind", function()
            local expected = {
                timeout = { "TimeoutError" },
                connection = { "ConnectionError" },
                tls = { "ConnectionError", tls = true },
                tls_verify = { "ConnectionError", tls = true, retryable = false },
                too_large = { "APIError" },
            }
            for kind, want in pairs(expected) do
                local err = core.transport_error(kind, "why " .. kind, "GET", "http://h/x")
                assert.equal(want[1], err.name, kind)
                assert.equal("why " .. kind, err.message, kind)
                assert.equal(want.tls, err.tls, kind)
                assert.equal(want.retryable, err.retryable, kind)
                assert.equal("GET", err.method)
                assert.equal("http://h/x", err.url)
                assert.equal(core.error_metatable, getmetatable(err))
                assert.is_true(err:is("OctogenError"))
                assert.is_nil(err.status_code)
                -- without a message: the kind's own, never empty
                local plain = core.transport_error(kind, nil, nil, nil)
                assert.is_true(#plain.message > 0)
                assert.is_nil(plain.method)
            end
            assert.equal("response body is larger than max_response_bytes",
                core.transport_error("too_large").message)
        end)

        it("raises for an unknown kind", function()
            assert.has_error(function() core.transport_error("dns", "x", "GET", "u") end)
            assert.has_error(function() core.transport_error(nil) end)
            assert.has_error(function() core.transport_error("too_large", nil, "GET", "u", "x") end)
        end)

        it("too_large is the libcurl path's error, status and headers copied in", function()
            local small = core.new { base_url = server.base_url, user_agent = UA, api_key = mock.KEY,
                                     max_response_bytes = 64 }
            finally(function() small:close() end)
            server:fault { path = "/v1/transport-core", status = 200, body = "[" .. string.rep("1,", 100) .. "1]",
                           times = 1 }
            local r, err = core.request(small, "GET", "transport-core", nil, "array")
            assert.is_nil(r)
            assert.equal("APIError", err.name)
            local mine = core.transport_error("too_large", nil, err.method, err.url,
                { status_code = err.status_code, headers = copy(err.headers) })
            assert.same(transport_view(err), transport_view(mine))
            assert.equal(200, mine.status_code)
            assert.equal("", mine.body)
            assert.is_string(mine.request_id)
            -- without headers: an empty table, never a missing field
            local bare = core.transport_error("too_large", nil, "GET", "u", { status_code = 200 })
            assert.same({}, bare.headers)
        end)

        it("connection and timeout match the libcurl path's errors", function()
            local port = mock.free_port()
            local refused = core.new { base_url = "http://127.0.0.1:" .. port .. "/v1", user_agent = UA }
            finally(function() refused:close() end)
            local r, err = core.request(refused, "GET", "x")
            assert.is_nil(r)
            assert.equal("ConnectionError", err.name)
            assert.same(transport_view(err),
                transport_view(core.transport_error("connection", err.message, err.method, err.url)))

            server:fault { path = "/v1/transport-core", mode = "hang", seconds = 5, times = 1 }
            r, err = core.request(client, "GET", "transport-core", nil, nil, { timeout = 0.3 })
            assert.is_nil(r)
            assert.equal("TimeoutError", err.name)
            assert.same(transport_view(err),
                transport_view(core.transport_error("timeout", err.message, err.method, err.url)))
        end)

        it("a failed TLS verification matches tls_verify", function()
            local tls = mock.start { tls = true }
            finally(function() tls:stop() end)
            local c = core.new { base_url = tls.base_url, user_agent = UA, api_key = mock.KEY }
            finally(function() c:close() end)
            local r, err = core.request(c, "GET", "catalogs")
            assert.is_nil(r)
            assert.same(transport_view(err),
                transport_view(core.transport_error("tls_verify", err.message, err.method, err.url)))
        end)
    end)

    describe("core.request_head", function()
        local function new(opts)
            local cfg = { base_url = "http://127.0.0.1:8080/v1", user_agent = UA, api_key = "KEY" }
            for k, v in pairs(opts or {}) do cfg[k] = v end
            return core.new(cfg)
        end

        it("GET: request line, Host, Authorization, Accept, User-Agent, extra headers", function()
            local c = new { headers = { { "X-App", "shop" }, { "x-trace", "1" } } }
            assert.equal("GET /v1/products/p1?x=1 HTTP/1.1\r\n" ..
                "Host: 127.0.0.1:8080\r\n" ..
                "Authorization: Bearer KEY\r\n" ..
                "Accept: application/json\r\n" ..
                "User-Agent: " .. UA .. "\r\n" ..
                "X-App: shop\r\n" ..
                "x-trace: 1\r\n" ..
                "\r\n", core.request_head(c, "GET", "//products/p1?x=1"))
            c:close()
        end)

        it("POST: Content-Type and Content-Length, per-call type", function()
            local c = new { headers = { { "X-App", "shop" } } }
            local tail = "Accept: application/json\r\nUser-Agent: " .. UA .. "\r\nX-App: shop\r\n"
            assert.equal("POST /v1/products/search HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n" ..
                "Authorization: Bearer KEY\r\nContent-Type: application/json\r\n" .. tail ..
                "Content-Length: 42\r\n\r\n", core.request_head(c, "POST", "products/search", 42))
            assert.equal("PUT /v1/x HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n" ..
                "Authorization: Bearer KEY\r\nContent-Type: application/x-www-form-urlencoded\r\n" .. tail ..
                "Content-Length: 0\r\n\r\n",
                core.request_head(c, "PUT", "x", 0, { content_type = "application/x-www-form-urlencoded" }))
            c:close()
        end)

        it("no_auth drops Authorization; basic replaces it", function()
            local c = new()
            local tail = "Accept: application/json\r\nUser-Agent: " .. UA .. "\r\n"
            assert.equal("GET /v1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n" .. tail .. "\r\n",
                core.request_head(c, "GET", "", nil, { no_auth = true }))
            assert.equal("POST /v1/token HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n" ..
                "Authorization: Basic dXMlM0FlcjpwOnc=\r\n" ..    -- base64("us%3Aer:p:w")
                "Content-Type: application/x-www-form-urlencoded\r\n" .. tail .. "Content-Length: 9\r\n\r\n",
                core.request_head(c, "POST", "token", 9,
                    { basic = "us%3Aer:p:w", content_type = "application/x-www-form-urlencoded" }))
            c:close()
        end)

        it("Host and target: default ports, IPv6, no base path", function()
            local cases = {
                { "https://api.example.com/v1", "GET /v1/a HTTP/1.1\r\nHost: api.example.com\r\n" },
                { "https://api.example.com:8443", "GET /a HTTP/1.1\r\nHost: api.example.com:8443\r\n" },
                { "http://localhost:80/base/v2", "GET /base/v2/a HTTP/1.1\r\nHost: localhost\r\n" },
                { "http://[::1]:9000/v1", "GET /v1/a HTTP/1.1\r\nHost: [::1]:9000\r\n" },
            }
            for _, case in ipairs(cases) do
                local c = new { base_url = case[1] }
                local head = core.request_head(c, "GET", "a", nil, { no_auth = true })
                assert.equal(case[2], head:sub(1, #case[2]), case[1])
                c:close()
            end
            local c = new { base_url = "http://127.0.0.1:8080" }
            assert.equal("GET / HTTP/1.1\r\n", core.request_head(c, "GET", ""):match("^[^\n]*\n"))
            c:close()
        end)

        it("refuses CR, LF, NUL and spaces in the path and a closed client", function()
            local c = new()
            for _, bad in ipairs { "a b", "a\r\nX-Evil: 1", "a\nb", "a\0b", "a\tb" } do
                assert.has_error(function() core.request_head(c, "GET", bad) end)
            end
            assert.has_error(function() core.request_head(c, "GE T", "a") end)
            assert.has_error(function() core.request_head(c, "GET", "a", -1) end)
            assert.has_error(function()
                core.request_head(c, "POST", "a", 1, { content_type = "text/plain\r\nX: 1" })
            end)
            c:close()
            local ok, err = pcall(core.request_head, c, "GET", "a")
            assert.is_false(ok)
            assert.equal("OctogenError", err.name)
            assert.truthy(err.message:find("octogen.client is closed", 1, true))
        end)

        -- libcurl's own bytes, read off a loopback socket, against the head
        -- (its Accept-Encoding line aside: the cosocket path asks for
        -- identity bodies).
        describe("equals what libcurl sends", function()
            local listener, port
            setup(function()
                listener = assert(socket.bind("127.0.0.1", 0))
                listener:settimeout(0)
                port = select(2, listener:getsockname())
            end)
            teardown(function() listener:close() end)

            local function libcurl_head(c, method, path, body, call)
                local t = core.start(c, method, path, body, nil, call)
                local conn, data = nil, ""
                local deadline = socket.gettime() + 5
                while socket.gettime() < deadline do
                    core.poll(c, 0.01)
                    conn = conn or listener:accept()
                    if conn then
                        conn:settimeout(0)
                        local s, _, part = conn:receive(4096)
                        data = data .. (s or part or "")
                        local ends = data:find("\r\n\r\n", 1, true)
                        if ends then
                            conn:send("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
                            conn:close()
                            data = data:sub(1, ends + 3)
                            break
                        end
                    end
                end
                while t:state() == "running" and socket.gettime() < deadline do core.poll(c, 0.01) end
                core.finish(t)
                return (data:gsub("Accept%-Encoding: [^\r]*\r\n", ""))
            end

            local calls = {
                { "GET", "products/p1?x=1" },
                { "GET", "//a//b?q=/y" },
                { "GET", "" },
                { "GET", "prod/\195\169?q=\195\169" },
                { "DELETE", "x", nil, { no_auth = true } },
                { "POST", "products/search", '{"q":"shoes"}' },
                { "POST", "x", "" },
                { "PUT", "x", "a=b", { content_type = "application/x-www-form-urlencoded" } },
                { "POST", "token", "a=b", { basic = "id:se:cret" } },
                { "POST", "token", "a=b", { basic = "nocolon", no_auth = true } },
            }
            for _, call in ipairs(calls) do
                it(call[1] .. " " .. call[2] .. (call[4] and " with call options" or ""), function()
                    local c = core.new { base_url = "http://127.0.0.1:" .. port .. "/v\195\169", user_agent = UA,
                                         api_key = "KEY", headers = { { "X-App", "shop" } } }
                    finally(function() c:close() end)
                    local wire = libcurl_head(c, call[1], call[2], call[3], call[4])
                    assert.truthy(wire:find("\r\n\r\n$"))
                    assert.equal(wire, core.request_head(c, call[1], call[2], call[3] and #call[3], call[4]))
                end)
            end
        end)
    end)

    describe("core.target", function()
        local function target(url)
            local c = core.new { base_url = url, user_agent = UA }
            local t = core.target(c)
            c:close()
            assert.same(t, core.target(c))   -- still there once closed
            return t
        end

        it("https with the default port", function()
            assert.same({ scheme = "https", host = "api.octogen.ai", port = 443, path = "" },
                target("https://api.octogen.ai"))
        end)

        it("http with an explicit port and a base path", function()
            assert.same({ scheme = "http", host = "127.0.0.1", port = 8080, path = "/base/v1" },
                target("http://127.0.0.1:8080/base/v1"))
            assert.same({ scheme = "http", host = "localhost", port = 80, path = "/v1" },
                target("http://localhost/v1"))
        end)

        it("IPv6 loopback without brackets", function()
            assert.same({ scheme = "http", host = "::1", port = 9000, path = "/v1" }, target("http://[::1]:9000/v1"))
            assert.same({ scheme = "https", host = "::1", port = 443, path = "" }, target("https://[::1]"))
        end)

        it("port is an integer", function()
            local t = target("https://api.octogen.ai/v1")
            if math.type then assert.equal("integer", math.type(t.port)) end
            assert.equal(443, t.port)
        end)

        it("a base_url libcurl cannot parse raises when asked, not at construction", function()
            local c = core.new { base_url = "no scheme here", user_agent = UA }
            assert.has_error(function() core.target(c) end)
            assert.has_error(function() core.request_head(c, "GET", "a") end)
            c:close()
        end)
    end)
end)
