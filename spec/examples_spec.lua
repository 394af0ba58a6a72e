-- Every example runs against the mock, as `make demo` runs it, so that
-- none of them rots.
local helpers = require "spec.support.helpers"
local mock = helpers.mock
local unpack = table.unpack or unpack

describe("examples", function()
    local server, env
    setup(function()
        server = mock.start()
        env = {
            LUA_PATH = os.getenv("LUA_PATH") or "", LUA_CPATH = os.getenv("LUA_CPATH") or "",
            OCTO_API_KEY = mock.DEMO_KEY, OCTOGEN_BASE_URL = server.base_url,
        }
    end)
    teardown(function() server:stop() end)

    local cases = {
        { "quickstart", { "warrenlotas%s+Warren Lotas%s+903 products", 'First 5 results for "jacket"' } },
        { "pagination", { "black or gray hoodies over %d+ pages", "cheapest: " } },
        { "lookup", { "in stock:", "price:" } },
        { "domain_coverage", { "%d+ covered hosts, ETag \"", "www.tidepool.example/products/trail%-shell%?color=red%s+covered by tidepool",
            "not%-a%-shop.example/%s+not covered", "normalize_host: macys.com", "revalidated: HTTP 304, same object: true" } },
        { "url_list", { "sent 1000 of 2500", "submitted 2500: 2498 accepted, 2 rejected, in 3 requests; the list holds 2498",
            "rejected: not a url #1000 %(invalid_url%)", "contains https://tidepool.example/other: false",
            "walked 2498 URLs", "deleted: delete_pending" } },
        { "faceted_search", { "black or gray hoodies for men or everyone, 50 to 300: first 5",
            "the list form finds the same page:%s+true", "slim fit: %d+ shown" } },
        { "refresh_from_file", { "submitted 4, accepted 2, rejected 2", "ambiguous_url", "product_not_found" },
            { "examples/urls.txt" } },
        { "error_handling", { "1%. NotFoundError", "2%. AuthenticationError %(401%)", "3%. ValidationError",
            "4%. ConnectionError", "5%. raised:%s+true%s+InvalidArgumentError" } },
        { "concurrency", { "warrenlotas%s+3 results", "refresh: submitted 2000, accepted 2000, in 4 requests" } },
        { "game_loop", { "hoodie%s+5 items", "sneaker%s+5 items", "worst poll%(0%)" } },
        { "openresty_demo", { "limit=3 %-> 200", '"count":3', "8 concurrent requests: 8 answered 200",
            "limit=1000 %-> 400" } },
    }
    for _, c in ipairs(cases) do
        it(c[1] .. ".lua runs and prints what it promises", function()
            local out, ok = helpers.run_file(env, "examples/" .. c[1] .. ".lua", unpack(c[3] or {}))
            assert.is_true(ok, out)
            for _, pattern in ipairs(c[2]) do
                assert.truthy(out:find(pattern), ("%q not in:\n%s"):format(pattern, out))
            end
        end)
    end
end)
