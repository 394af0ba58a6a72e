-- lookup_product and the generic request().
local helpers = require "spec.support.helpers"
local mock = helpers.mock

describe("lookup_product", function()
    local server, client, known
    setup(function()
        server = mock.start()
        client = helpers.client(server)
        known = assert(client:search_products { catalog = "tidepool", limit = 1 }).items[1]
    end)
    teardown(function()
        client:close()
        server:stop()
    end)
    before_each(function() server:reset() end)

    it("sends only the url by default", function()
        local res = assert(client:lookup_product(known.product_url))
        local req = server:last_request()
        assert.equal("POST", req.method)
        assert.equal("/v1/products/lookup", req.path)
        assert.equal('{"url":"' .. known.product_url .. '"}', req.body)
        assert.equal("tidepool", res.catalog_key)
        assert.is_string(res.catalog_display_name)
        assert.equal(known.uuid, res.product.uuid)
        assert.equal(known.product_url, res.product.product_url)
        assert.equal("indexed", res.source)
        for k in pairs(res) do assert.falsy(k:find("%u"), k) end
    end)

    it("sends resolution_mode and on_demand_cache_policy in their camelCase wire names", function()
        assert.truthy(client:lookup_product(known.product_url,
            { resolution_mode = "auto", on_demand_cache_policy = "refresh" }))
        assert.equal('{"onDemandCachePolicy":"refresh","resolutionMode":"auto","url":"' .. known.product_url .. '"}',
            server:last_request().body)
    end)

    it("returns every field the server sent, converted", function()
        local res = assert(client:lookup_product(known.product_url))
        local p = res.product
        assert.is_string(p.title)
        assert.is_table(p.images)
        if p.colors and p.colors[1] then assert.is_string(p.colors[1].label) end
        if p.identifiers then assert.is_nil(p.identifiers.productId) end
        assert.is_string(res.requested_url)
        assert.is_nil(res.resolved_url)  -- null on the wire for indexed results
    end)

    it("returns NotFoundError for an unknown product", function()
        local res, err = client:lookup_product("https://tidepool.example/products/no-such-thing-0000")
        assert.is_nil(res)
        assert.equal("NotFoundError", err.name)
        assert.equal("product_not_found", err.detail)
    end)

    it("returns ValidationError with a string detail for a URL the API refuses", function()
        local res, err = client:lookup_product("not a url")
        assert.is_nil(res)
        assert.equal("ValidationError", err.name)
        assert.equal(422, err.status_code)
        assert.equal("invalid_product_url", err.detail)
    end)

    it("raises for bad arguments before sending", function()
        local cases = {
            { { nil }, "url must be a non-empty string, got nil" },
            { { "" }, "url must be a non-empty string, got an empty string" },
            { { known and "https://x.example/p", { mode = "x" } }, 'unknown lookup_product option "mode"' },
            { { "https://x.example/p", { resolution_mode = "fast" } },
                'resolution_mode must be one of auto, index_only, on_demand_only, got "fast"' },
            { { "https://x.example/p", { resolution_mode = "index_only", on_demand_cache_policy = "refresh" } },
                "does not apply to resolution_mode index_only" },
        }
        for _, c in ipairs(cases) do
            local ok, err = pcall(client.lookup_product, client, c[1][1], c[1][2])
            assert.is_false(ok)
            assert.equal("InvalidArgumentError", err.name)
            assert.truthy(err.message:find(c[2], 1, true), err.message)
        end
        assert.same({}, server:requests())
    end)
end)

describe("request()", function()
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

    it("calls any endpoint with the same auth, headers and conversion", function()
        local catalogs = assert(client:request("GET", "/catalogs"))
        assert.is_string(catalogs[1].display_name)
        local page = assert(client:request("POST", "products/search", { catalog = "tidepool", limit = 2 }))
        assert.equal(2, #page.items)
        local reqs = server:requests()
        assert.equal("/v1/catalogs", reqs[1].path)
        assert.equal('{"catalog":"tidepool","limit":2}', reqs[2].body)
        assert.equal("application/json", reqs[2].headers["content-type"])
        assert.equal("Bearer " .. mock.KEY, reqs[2].headers.authorization)
    end)

    it("sends a string body as it is", function()
        assert.truthy(client:request("POST", "products/search", '{"limit":1}'))
        assert.equal('{"limit":1}', server:last_request().body)
    end)

    it("returns true for a success with no body (204)", function()
        server:fault { path = "/v1/things/7", times = 1, status = 204, body = "" }
        assert.is_true(client:request("DELETE", "things/7"))
        assert.equal("DELETE", server:last_request().method)
    end)

    it("maps errors the same way", function()
        local res, err = client:request("GET", "no/such/route")
        assert.is_nil(res)
        assert.equal("NotFoundError", err.name)
    end)

    it("refuses absolute URLs and malformed methods or paths", function()
        for _, c in ipairs {
            { "GET", "https://evil.example/v1/catalogs", "path must be relative to base_url" },
            { "GET", "//evil.example/x", "path must be relative to base_url" },
            { "get", "catalogs", "upper-case HTTP method" },
            { "GET", "cat alogs", "without spaces" },
            { "GET", "catalogs\r\nX: y", "without spaces or control characters" },
        } do
            local ok, err = pcall(client.request, client, c[1], c[2])
            assert.is_false(ok)
            assert.equal("InvalidArgumentError", err.name)
            assert.truthy(err.message:find(c[3], 1, true), err.message)
        end
        local ok, err = pcall(client.request, client, "POST", "x", { f = print })
        assert.is_false(ok)
        assert.truthy(err.message:find("request body cannot be sent as JSON", 1, true))
        assert.same({}, server:requests())
    end)
end)
