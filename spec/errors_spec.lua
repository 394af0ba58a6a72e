-- Status codes and network failures become error objects; every API and
-- network failure is returned as nil, err, never raised. Retries are off
-- here (retry_spec.lua covers them): one fault, one answer.
local octogen = require "octogen"
local helpers = require "spec.support.helpers"
local mock = helpers.mock

describe("errors", function()
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

    local function fail_with(rule)
        rule.path = rule.path or "/v1/catalogs"
        rule.times = 1
        server:fault(rule)
        local result, err = client:list_catalogs()
        assert.is_nil(result)
        assert.is_true(octogen.is_error(err))
        return err
    end

    it("401 is an AuthenticationError with the server's detail as message", function()
        local bad = helpers.client(server, { api_key = "octo_wrong", max_retries = 0 })
        local result, err = bad:list_catalogs()
        assert.is_nil(result)
        assert.equal("AuthenticationError", err.name)
        assert.equal(401, err.status_code)
        assert.equal("Invalid API key", err.detail)
        assert.equal("Invalid API key", err.message)
        assert.equal("GET", err.method)
        assert.equal(server.base_url .. "/catalogs", err.url)
        assert.is_string(err.request_id)
        assert.equal(err.request_id, err.headers["x-request-id"])
        assert.equal('{"detail":"Invalid API key"}', err.body)
        assert.is_true(err:is("APIError"))
        assert.is_true(err:is("OctogenError"))
        assert.is_false(err:is("ConnectionError"))
        assert.equal("AuthenticationError: Invalid API key (HTTP 401, GET " .. server.base_url ..
            "/catalogs, request " .. err.request_id .. ")", tostring(err))
    end)

    it("maps each status to its class", function()
        local cases = {
            { 400, "APIError" }, { 401, "AuthenticationError" }, { 403, "ForbiddenError" },
            { 404, "NotFoundError" }, { 409, "APIError" }, { 422, "ValidationError" },
            { 429, "RateLimitError" }, { 500, "ServerError" }, { 502, "ServerError" },
            { 503, "ServerError" }, { 504, "ServerError" },
        }
        for _, c in ipairs(cases) do
            local err = fail_with { status = c[1], body = '{"detail":"x"}' }
            assert.equal(c[2], err.name, "status " .. c[1])
            assert.equal(c[1], err.status_code)
            assert.is_true(err:is("APIError"))
        end
    end)

    it("422 keeps the validation list as detail", function()
        local page, err = client:search_products { catalog = "warrenlotas", text_search_query = { text = 5, bogus = true } }
        if page then
            -- the mock may accept any query object; force a documented 422 instead
            server:fault { path = "/v1/products/search", times = 1, status = 422,
                body = '{"detail":[{"loc":["body","limit"],"msg":"Input should be less than or equal to 100",' ..
                    '"type":"less_than_equal","input":250,"ctx":{"le":100}}]}' }
            page, err = client:search_products { catalog = "warrenlotas" }
        end
        assert.is_nil(page)
        assert.equal("ValidationError", err.name)
        assert.equal(422, err.status_code)
        assert.is_table(err.detail)
        assert.is_table(err.detail[1].loc)
        assert.is_string(err.detail[1].msg)
        assert.is_string(err.detail[1].type)
        assert.truthy(err.message:find("^Octogen API request failed with status 422: %["), err.message)
    end)

    it("follows the SDK message rules for empty, object and non-JSON details", function()
        local err = fail_with { status = 500, body = "" }
        assert.equal("Octogen API request failed with status 500", err.message)
        assert.equal("", err.detail)
        err = fail_with { status = 502, body = "<html>Bad Gateway</html>" }
        assert.equal("<html>Bad Gateway</html>", err.detail)
        assert.equal("<html>Bad Gateway</html>", err.message)
        err = fail_with { status = 500, body = '{"detail":{}}' }
        assert.equal("Octogen API request failed with status 500", err.message)
        err = fail_with { status = 400, body = '{"error":"bad","requestId":"rq-body-1"}' }
        assert.same({ error = "bad", request_id = "rq-body-1" }, err.detail)
        assert.equal('Octogen API request failed with status 400: {"error":"bad","request_id":"rq-body-1"}', err.message)
    end)

    it("takes request_id from the header, else from the body", function()
        local err = fail_with { status = 400, body = '{"detail":"x","requestId":"rq-body-2"}' }
        assert.equal(err.headers["x-request-id"], err.request_id)
        assert.are_not.equal("rq-body-2", err.request_id)
    end)

    it("429 is a RateLimitError carrying the response headers", function()
        local err = fail_with { status = 429, body = '{"detail":"rate_limit_exceeded"}', retry_after = 5 }
        assert.equal("RateLimitError", err.name)
        assert.equal("rate_limit_exceeded", err.message)
        assert.equal("5", err.headers["retry-after"])
    end)

    it("does not follow redirects: a 3xx is an APIError and nothing is sent elsewhere", function()
        local err = fail_with { status = 302, headers = { Location = "http://127.0.0.1:9/v1/catalogs" }, body = "" }
        assert.equal("APIError", err.name)
        assert.equal(302, err.status_code)
        assert.equal(1, #server:requests())
    end)

    it("a 2xx that is not JSON is an APIError keeping the status and the body", function()
        local err = fail_with { mode = "non_json" }
        assert.equal("APIError", err.name)
        assert.equal(200, err.status_code)
        assert.truthy(err.message:find("non-JSON response", 1, true))
        assert.equal("<html>oops</html>", err.body)
    end)

    it("a 2xx of the wrong shape is an APIError", function()
        local err = fail_with { status = 200, body = '{"catalogs":[]}' }
        assert.equal("APIError", err.name)
        assert.equal(200, err.status_code)
        assert.truthy(err.message:find("not a JSON array", 1, true))
        server:fault { path = "/v1/products/search", times = 1, status = 200, body = '{"items":{"a":1},"nextCursor":null}' }
        local page
        page, err = client:search_products {}
        -- {"a":1} is an object, not the promised array of items
        assert.is_nil(page)
        assert.equal("APIError", err.name)
        assert.equal("Octogen API returned a response whose items is not a JSON array", err.message)
        -- while an empty array is a valid (empty) page
        server:fault { path = "/v1/products/search", times = 1, status = 200, body = '{"items":[],"nextCursor":null}' }
        page = assert(client:search_products {})
        assert.same({ items = {} }, page)
    end)

    it("truncated JSON and a connection dropped mid-body are errors, not crashes", function()
        local err = fail_with { mode = "truncated" }
        assert.is_true(err:is("OctogenError"))
        assert.is_true(err.name == "ConnectionError" or err.name == "APIError", err.name)
        err = fail_with { mode = "drop" }
        assert.equal("ConnectionError", err.name)
        assert.is_nil(err.status_code)
        -- and the client still works afterwards
        assert.truthy(client:list_catalogs())
    end)

    it("a refused connection is a ConnectionError with no status #curl", function()
        local dead = octogen.client { api_key = mock.KEY, base_url = "http://127.0.0.1:9/v1", max_retries = 0 }
        local result, err = dead:list_catalogs()
        assert.is_nil(result)
        assert.equal("ConnectionError", err.name)
        assert.is_nil(err.status_code)
        assert.is_number(err.curl_code)
        assert.truthy(tostring(err):find("^ConnectionError: "))
    end)

    it("a server that does not answer in time gives a TimeoutError, a ConnectionError", function()
        local slow = helpers.client(server, { timeout = 0.5, max_retries = 0 })
        server:fault { path = "/v1/catalogs", times = 1, mode = "hang", seconds = 3 }
        local t0 = os.time()
        local result, err = slow:list_catalogs()
        assert.is_nil(result)
        assert.equal("TimeoutError", err.name)
        assert.is_true(err:is("ConnectionError"))
        assert.is_true(os.time() - t0 <= 2)
    end)

    it("never puts the key in an error", function()
        local err = fail_with { status = 500, body = '{"detail":"boom"}' }
        for _, v in pairs(err) do
            if type(v) == "string" then assert.falsy(v:find(mock.KEY, 1, true)) end
        end
        assert.falsy(tostring(err):find(mock.KEY, 1, true))
    end)
end)
