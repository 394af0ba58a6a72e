-- list_catalogs, search_products, pages() and items() against the mock.
local octogen = require "octogen"
local helpers = require "spec.support.helpers"
local mock = helpers.mock

describe("list_catalogs", function()
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

    it("sends GET /catalogs with the exact headers and no body", function()
        assert.truthy(client:list_catalogs())
        local reqs = server:requests()
        assert.equal(1, #reqs)
        local req = reqs[1]
        assert.equal("GET", req.method)
        assert.equal("/v1/catalogs", req.path)
        assert.equal("", req.body)
        assert.equal("Bearer " .. mock.KEY, req.headers.authorization)
        assert.equal("application/json", req.headers.accept)
        assert.equal(octogen.USER_AGENT, req.headers["user-agent"])
        assert.is_nil(req.headers["content-type"])
    end)

    it("returns an array of catalogs with snake_case fields, integers, and no nulls", function()
        local catalogs, meta = client:list_catalogs()
        assert.is_table(catalogs)
        assert.is_true(#catalogs >= 3)
        local keys, saw_null = {}, false
        for _, c in ipairs(catalogs) do
            keys[c.catalog] = c
            assert.is_string(c.display_name)
            assert.is_number(c.product_count)
            if math.type then assert.equal("integer", math.type(c.product_count)) end
            for k, v in pairs(c) do
                assert.falsy(k:find("%u"), "camelCase key " .. k)
                assert.are_not.equal(octogen.null, v)
            end
            if c.source_base_url == nil or c.last_indexed_at == nil then saw_null = true end
        end
        assert.truthy(keys.warrenlotas and keys.tidepool)
        assert.is_nil(keys.northwind, "a catalog not granted to the key is not listed")
        assert.is_true(saw_null, "the mock sends null for some catalog and it must be absent")
        assert.equal(200, meta.status)
        assert.is_string(meta.request_id)
        assert.equal(meta.request_id, meta.headers["x-request-id"])
    end)

    it("reuses one keep-alive connection for sequential calls", function()
        for _ = 1, 5 do assert.truthy(client:list_catalogs()) end
        assert.truthy(client:search_products { catalog = "tidepool", limit = 1 })
        local reqs = server:requests()
        assert.equal(6, #reqs)
        for i = 2, #reqs do assert.equal(reqs[1].connection, reqs[i].connection) end
        assert.equal(1, server:stats().connections)
    end)
end)

describe("search_products", function()
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

    it("sends exactly the given parameters in a JSON body, omitting absent ones", function()
        local page = assert(client:search_products {
            catalog = "warrenlotas", q = "hoodie", limit = 5, price_min = 10, price_max = 500.5,
        })
        local req = server:last_request()
        assert.equal("POST", req.method)
        assert.equal("/v1/products/search", req.path)
        assert.equal("application/json", req.headers["content-type"])
        assert.equal('{"catalog":"warrenlotas","limit":5,"price_max":500.5,"price_min":10,"q":"hoodie"}', req.body)
        assert.is_table(page.items)
        assert.is_true(#page.items <= 5)
    end)

    it("sends an empty object when no parameter is given", function()
        assert.truthy(client:search_products())
        assert.equal("{}", server:last_request().body)
        assert.truthy(client:search_products {})
        assert.equal("{}", server:last_request().body)
    end)

    it("converts items: snake_case, integers, absent nulls, nested tables", function()
        local page = assert(client:search_products { catalog = "warrenlotas", q = "hoodie", limit = 20 })
        assert.is_true(#page.items > 0)
        for _, item in ipairs(page.items) do
            assert.is_string(item.uuid)
            assert.is_string(item.product_url)
            assert.is_nil(item.productUrl)
            assert.is_number(item.current_price)
            if item.brand then assert.is_string(item.brand.name) end
            if math.type and item.current_price == math.floor(item.current_price) then
                assert.equal("integer", math.type(item.current_price))
            end
            for _, v in pairs(item) do assert.are_not.equal(octogen.null, v) end
        end
        assert.is_string(page.next_cursor)
    end)

    it("takes facets in the list form", function()
        assert.truthy(client:search_products {
            catalog = "warrenlotas",
            facets = { { name = "color_family", values = { "Black", "Gray" } }, { name = "gender", values = { "male" } } },
        })
        assert.equal('{"catalog":"warrenlotas","facets":[{"name":"color_family","values":["Black","Gray"]},' ..
            '{"name":"gender","values":["male"]}]}', server:last_request().body)
    end)

    it("takes facets in the map shorthand, sent in name order, a string being one value", function()
        assert.truthy(client:search_products {
            catalog = "warrenlotas",
            facets = { gender = "female", color_family = { "Black", "Gray" } },
        })
        assert.equal('{"catalog":"warrenlotas","facets":[{"name":"color_family","values":["Black","Gray"]},' ..
            '{"name":"gender","values":["female"]}]}', server:last_request().body)
    end)

    it("filters: every returned item matches the facets and the price bounds", function()
        local page = assert(client:search_products {
            catalog = "warrenlotas", facets = { color_family = "Black" }, price_min = 50, price_max = 200, limit = 100,
        })
        assert.is_true(#page.items > 0)
        for _, item in ipairs(page.items) do
            assert.is_true(item.current_price >= 50 and item.current_price <= 200)
        end
    end)

    it("passes text_search_query and cursor through", function()
        assert.truthy(client:search_products {
            catalog = "tidepool", cursor = "abc", text_search_query = { text = "rain jacket" },
        })
        assert.equal('{"catalog":"tidepool","cursor":"abc","text_search_query":{"text":"rain jacket"}}',
            server:last_request().body)
    end)

    it("raises InvalidArgumentError for unknown parameters and bad values, sending nothing", function()
        local cases = {
            { { catalgo = "x" }, 'unknown search parameter "catalgo"' },
            { { limit = 0 }, "limit must be an integer between 1 and 100, got 0" },
            { { limit = 101 }, "limit must be an integer between 1 and 100, got 101" },
            { { limit = 2.5 }, "limit must be an integer, got 2.5" },
            { { limit = "10" }, "limit must be an integer, got string" },
            { { q = 5 }, "q must be a string, got number" },
            { { price_min = "cheap" }, "price_min must be a number, got string" },
            { { price_max = 0 / 0 }, "price_max must be a finite number" },
            { { facets = { { name = "color" } } }, "facets[1].values must be a string or a list of strings, got nil" },
            { { facets = { { name = "color", values = { 1 } } } }, "facets[1].values[1] must be a string, got number" },
            { { facets = { { values = { "x" } } } }, "facets[1].name must be a non-empty string" },
            { { facets = { color = { "x", 5 } } }, "facets.color[2] must be a string, got number" },
            { { facets = "color=black" }, "facets must be a table, got string" },
            { { q = "caf\255" }, "cannot be sent as JSON: string is not valid UTF-8" },
        }
        for _, c in ipairs(cases) do
            local ok, err = pcall(client.search_products, client, c[1])
            assert.is_false(ok)
            assert.equal("InvalidArgumentError", err.name)
            assert.truthy(err.message:find(c[2], 1, true), err.message)
        end
        local ok, err = pcall(client.search_products, client, "hoodie")
        assert.is_false(ok)
        assert.truthy(err.message:find("search parameters must be a table, got string", 1, true))
        assert.same({}, server:requests())
    end)

    it("points a raised error at the caller's line", function()
        local line
        local ok, err = pcall(function()
            line = debug.getinfo(1, "l").currentline + 1
            local page = client:search_products { limit = 1000 }
            return page
        end)
        assert.is_false(ok)
        assert.truthy(err.message:find("search_spec.lua:" .. line .. ":", 1, true), err.message)
    end)

    it("does not enforce catalog: the server's answer decides", function()
        local page = assert(client:search_products { q = "jacket", limit = 3 })
        assert.equal('{"limit":3,"q":"jacket"}', server:last_request().body)
        assert.is_table(page.items)
    end)

    it("returns NotFoundError for an unknown catalog and ForbiddenError for one not granted", function()
        local page, err = client:search_products { catalog = "no-such-catalog" }
        assert.is_nil(page)
        assert.equal("NotFoundError", err.name)
        assert.equal(404, err.status_code)
        assert.equal("catalog_not_found", err.detail)
        assert.equal("catalog_not_found", err.message)
        page, err = client:search_products { catalog = "northwind" }
        assert.is_nil(page)
        assert.equal("ForbiddenError", err.name)
        assert.equal(403, err.status_code)
    end)
end)

describe("pages() and items()", function()
    local server, client, all_uuids
    setup(function()
        server = mock.start()
        client = helpers.client(server)
        -- the whole result in one request, to compare the walks against
        -- (walked by hand with search_products and limit 100)
        all_uuids = {}
        local cursor
        repeat
            local page = assert(client:search_products { catalog = "warrenlotas", q = "hoodie", limit = 100,
                cursor = cursor })
            for _, item in ipairs(page.items) do all_uuids[#all_uuids + 1] = item.uuid end
            cursor = page.next_cursor
        until not cursor
    end)
    teardown(function()
        client:close()
        server:stop()
    end)
    before_each(function() server:reset() end)

    it("walks every page, repeating the same filters with each cursor", function()
        assert.is_true(#all_uuids > 30, "need more than 3 pages of 10")
        assert.is_true(#all_uuids < 400, "keep the walk short")
        local seen, pages = {}, 0
        for page, meta in client:pages { catalog = "warrenlotas", q = "hoodie", limit = 10 } do
            pages = pages + 1
            assert.equal(200, meta.status)
            for _, item in ipairs(page.items) do seen[#seen + 1] = item.uuid end
        end
        assert.equal(math.ceil(#all_uuids / 10), pages)
        assert.same(all_uuids, seen)
        local reqs = server:requests()
        assert.equal(pages, #reqs)
        local first = helpers.body(reqs[1])
        assert.is_nil(first.cursor)
        for i = 2, #reqs do
            local body = helpers.body(reqs[i])
            assert.is_string(body.cursor)
            body.cursor = nil
            assert.same(first, body)
        end
    end)

    it("stops after max_pages", function()
        local pages = 0
        for _ in client:pages { catalog = "warrenlotas", q = "hoodie", limit = 10, max_pages = 3 } do
            pages = pages + 1
        end
        assert.equal(3, pages)
        assert.equal(3, #server:requests())
        assert.falsy(server:last_request().body:find("max_pages", 1, true))
    end)

    it("items() yields every product once, in order", function()
        local seen = {}
        for item in client:items { catalog = "warrenlotas", q = "hoodie", limit = 7 } do
            seen[#seen + 1] = item.uuid
        end
        assert.same(all_uuids, seen)
    end)

    it("raises a mid-walk failure with the cursor of the failed page, and can resume", function()
        local seen = {}
        local ok, err = pcall(function()
            local n = 0
            for page in client:pages({ catalog = "warrenlotas", q = "hoodie", limit = 10 }, { max_retries = 0 }) do
                n = n + 1
                for _, item in ipairs(page.items) do seen[#seen + 1] = item.uuid end
                if n == 2 then server:fault { path = "/v1/products/search", status = 503, times = 1,
                    body = '{"detail":"product_search_unavailable"}' } end
            end
        end)
        assert.is_false(ok)
        assert.equal("ServerError", err.name)
        assert.equal(503, err.status_code)
        assert.is_string(err.cursor)
        for page in client:pages { catalog = "warrenlotas", q = "hoodie", limit = 10, cursor = err.cursor } do
            for _, item in ipairs(page.items) do seen[#seen + 1] = item.uuid end
        end
        assert.same(all_uuids, seen)
    end)

    it("raises bad parameters at the call, before any request", function()
        assert.has_error(function() client:pages { limit = 0 } end)
        assert.has_error(function() client:items { bogus = 1 } end)
        assert.has_error(function() client:pages { max_pages = 0 } end)
        assert.same({}, server:requests())
    end)
end)
