-- The operations of contract section 11 beyond search and lookup, through
-- the public methods: exact wire bytes, local validation that sends
-- nothing, result conversion, and errors with their codes.
local octogen = require "octogen"
local helpers = require "spec.support.helpers"
local unpack = table.unpack or unpack
local mock = helpers.mock

local function raises(fn, pattern)
    local ok, err = pcall(fn)
    assert.is_false(ok, "expected an error")
    assert.equal("InvalidArgumentError", err.name, tostring(err))
    -- Raised at the caller's line (this file), not inside the library.
    assert.matches("platform_spec.lua:%d+:", err.message)
    if pattern then assert.matches(pattern, err.message, 1, true) end
end

describe("section 11 operations", function()
    local server, client
    setup(function() server = mock.start() end)
    teardown(function() server:stop() end)
    before_each(function()
        server:reset()
        client = helpers.client(server, { max_retries = 0 })
    end)
    after_each(function() client:close() end)

    local function a_product()
        local page = assert(client:search_products { catalog = "tidepool", limit = 2 })
        server:reset()
        return page.items[1], page.items[2]
    end

    describe("more_like_this", function()
        it("sends the source and the parameters set, nothing else, and returns a page", function()
            local p = a_product()
            local page, meta = client:more_like_this(p.product_url, { catalog = "tidepool", limit = 3,
                price_preference = "lower", include_facets = { color_family = "Black" } })
            assert.truthy(page, tostring(meta))
            local req = server:last_request()
            assert.equal("POST", req.method)
            assert.equal("/v1/products/more-like-this", req.path)
            assert.equal(('{"catalogs":["tidepool"],"include_facets":[{"name":"color_family","values":["Black"]}],' ..
                '"limit":3,"price_preference":"lower","source":{"url":"%s"}}'):format(p.product_url),
                req.body)
            assert.is_true(#page.items <= 3 and #page.items > 0)
            assert.equal(getmetatable(octogen.array {}), getmetatable(page.items))
            assert.is_string(page.items[1].product_url)
            assert.equal(p.uuid, page.source.uuid)
        end)

        it("takes {url =} and {uuid =} sources", function()
            local p = a_product()
            assert.truthy(client:more_like_this { uuid = p.uuid })
            assert.equal(('{"source":{"uuid":"%s"}}'):format(p.uuid), server:last_request().body)
            assert.truthy(client:more_like_this { url = p.product_url })
            assert.same({ source = { url = p.product_url } }, helpers.body(server:last_request()))
        end)

        it("walks its cursors with pages and items", function()
            local p = a_product()
            local seen, pages = {}, 0
            for page in client:pages("more_like_this", p.product_url, { limit = 2, max_pages = 3 }) do
                pages = pages + 1
                for _, item in ipairs(page.items) do seen[#seen + 1] = item.uuid end
            end
            assert.equal(3, pages)
            assert.equal(6, #seen)
            local reqs = server:requests()
            assert.is_nil(helpers.body(reqs[1]).cursor)
            assert.is_string(helpers.body(reqs[2]).cursor)
            local n = 0
            for item in client:items("more_like_this", { uuid = p.uuid }, { limit = 2, max_pages = 2 }) do
                n = n + 1
                assert.is_string(item.uuid)
            end
            assert.equal(4, n)
        end)

        it("refuses bad arguments without sending anything", function()
            raises(function() client:more_like_this() end, "source")
            raises(function() client:more_like_this("") end, "empty")
            raises(function() client:more_like_this { url = "u", uuid = "v" } end, "exactly one")
            raises(function() client:more_like_this {} end, "exactly one")
            raises(function() client:more_like_this { sku = "x" } end, "sku")
            raises(function() client:more_like_this("u", { limit = 0 }) end, "limit")
            raises(function() client:more_like_this("u", { limit = 101 }) end, "limit")
            raises(function() client:more_like_this("u", { price_preference = "cheap" }) end, "price_preference")
            raises(function() client:more_like_this("u", { catalog = "a", catalogs = { "b" } }) end, "not both")
            raises(function() client:more_like_this("u", { debug = "yes" }) end, "debug")
            raises(function() client:more_like_this("u", { colour = "red" }) end, "colour")
            raises(function() client:pages("more_like_this", "u", { max_pages = 0 }) end, "max_pages")
            assert.equal(0, #server:requests())
        end)

        it("returns the API's 404 with its code for an unknown product", function()
            local res, err = client:more_like_this "https://tidepool.example/products/none"
            assert.is_nil(res)
            assert.equal("NotFoundError", err.name)
            assert.equal("product_not_found", err.code)
        end)
    end)

    describe("resolve_product_from_html", function()
        local HTML = '<html><head><title>x</title><script type="application/ld+json">' ..
            '{"@type":"Product","name":"Trail Shell","offers":{"price":"120.00","priceCurrency":"USD"}}' ..
            '</script></head></html>'

        it("sends html alone when no url is given (never null)", function()
            client:resolve_product_from_html "<html></html>"
            assert.equal('{"html":"<html></html>"}', server:last_request().body)
            assert.equal("/v1/products/resolve-from-html", server:last_request().path)
        end)

        it("sends the url when given and returns the product", function()
            local res, err = client:resolve_product_from_html(HTML, "https://shop.example/p/1?v=2")
            assert.truthy(res, tostring(err))
            assert.same({ html = HTML, url = "https://shop.example/p/1?v=2" }, helpers.body(server:last_request()))
            assert.equal("client_html", res.source)
            assert.equal("Trail Shell", res.product.title)
            assert.equal("https://shop.example/p/1?v=2", res.requested_url)
        end)

        it("gives a 404 as a NotFoundError when the page has no product", function()
            local res, err = client:resolve_product_from_html("<html><title>x</title></html>", "https://a.example/")
            assert.is_nil(res)
            assert.equal("NotFoundError", err.name)
        end)

        it("refuses empty or non-string html and an empty url, sending nothing", function()
            raises(function() client:resolve_product_from_html "" end, "html")
            raises(function() client:resolve_product_from_html(nil) end, "html")
            raises(function() client:resolve_product_from_html("<p>", "") end, "url")
            raises(function() client:resolve_product_from_html(string.rep("a", 5 * 1024 * 1024 + 1)) end, "limit")
            assert.equal(0, #server:requests())
        end)
    end)

    describe("list_domains and domain_coverage", function()
        local DOMAINS = {
            { host = "shop.example", catalog = "a", catalogDisplayName = "A" },
            { host = "www.shop.example", catalog = "b", catalogDisplayName = "B" },
            { host = "tidepool.example", catalog = "tidepool", catalogDisplayName = "Tidepool" },
        }

        it("returns the domains, the ETag and max-age", function()
            server:set_domains(DOMAINS)
            local list, meta = client:list_domains()
            assert.truthy(list, tostring(meta))
            assert.equal(3, #list.domains)
            assert.same({ host = "shop.example", catalog = "a", catalog_display_name = "A" }, list.domains[1])
            assert.matches('^"[^"]+"$', list.etag)
            assert.equal(300, list.max_age_seconds)
            assert.is_false(list.not_modified)
            assert.is_nil(server:last_request().headers["if-none-match"])
        end)

        it("sends If-None-Match and reports a 304 as not_modified with no domains", function()
            local first = assert(client:list_domains())
            local again, meta = client:list_domains { if_none_match = first.etag }
            assert.truthy(again, tostring(meta))
            assert.equal(first.etag, server:last_request().headers["if-none-match"])
            assert.is_true(again.not_modified)
            assert.is_nil(again.domains)
            assert.equal(304, meta.status)
        end)

        it("revalidates a coverage object and returns the same object on a 304", function()
            server:set_domains(DOMAINS)
            local cov = assert(client:domain_coverage())
            assert.is_true(cov:covers "https://www.shop.example/products/x?y=1")
            assert.same({ "a", "b" }, cov:catalogs_for "https://shop.example/")
            assert.is_false(cov:covers "https://elsewhere.example/")
            assert.is_false(cov:is_stale(cov.retrieved_at + 240))
            assert.is_true(cov:is_stale(cov.retrieved_at + 300))
            local again, meta = client:domain_coverage(cov)
            assert.equal(cov, again)
            assert.equal(304, meta.status)
            assert.equal(cov.etag, server:last_request().headers["if-none-match"])
            -- A changed set: a new object with the new ETag.
            server:set_domains { DOMAINS[3] }
            local changed = assert(client:domain_coverage(cov))
            assert.are_not.equal(cov, changed)
            assert.are_not.equal(cov.etag, changed.etag)
            assert.is_false(changed:covers "shop.example")
            assert.is_true(changed:covers "TIDEPOOL.example.")
        end)

        it("is keyless: a client without a key gets the domains with no Authorization sent", function()
            local out, ok = helpers.run_lua({ LUA_PATH = os.getenv("LUA_PATH") or "", LUA_CPATH = os.getenv("LUA_CPATH") or "" }, ([[
                local c = require("octogen").client { allow_keyless = true, base_url = %q }
                local cov, err = c:domain_coverage()
                print(cov and #cov.hosts > 0 or tostring(err))
            ]]):format(server.base_url))
            assert.is_true(ok, out)
            assert.equal("true\n", out)
            assert.is_nil(server:last_request().headers.authorization)
        end)

        it("refuses a previous that is not a coverage object, and a bad ETag", function()
            raises(function() client:domain_coverage { etag = '"x"' } end, "coverage")
            raises(function() client:list_domains { if_none_match = 5 } end, "if_none_match")
            raises(function() client:list_domains { if_none_match = '"a"\r\nX: y' } end, "if_none_match")
            assert.equal(0, #server:requests())
        end)

        it("normalizes hosts as the API lists them", function()
            assert.equal("macys.com", octogen.normalize_host "  https://WWW.Macys.COM:443/x?y=1  ")
            assert.equal("shop.www.macys.com", octogen.normalize_host "https://shop.www.macys.com")
            assert.is_nil(octogen.normalize_host "not a host")
        end)
    end)

    describe("me", function()
        it("returns the organization, key, quotas and rate limit", function()
            local me, meta = client:me()
            assert.truthy(me, tostring(meta))
            assert.equal("GET", server:last_request().method)
            assert.equal("/v1/me", server:last_request().path)
            assert.equal("api_key", me.principal)
            assert.equal("catalog_partner", me.organization.type)
            assert.is_string(me.key.prefix)
            assert.is_number(me.rate_limit.limit)
            assert.is_string(me.rate_limit.reset_at)
            assert.is_table(me.quotas.voyage.monthly)
        end)

        it("is not keyless: without a key the API refuses it with its code", function()
            local out, ok = helpers.run_lua({ LUA_PATH = os.getenv("LUA_PATH") or "", LUA_CPATH = os.getenv("LUA_CPATH") or "" }, ([[
                local c = require("octogen").client { allow_keyless = true, base_url = %q }
                local me, err = c:me()
                print(err.name, err.code)
            ]]):format(server.base_url))
            assert.is_true(ok, out)
            assert.equal("AuthenticationError\tkeyless_trial_endpoint_not_included\n", out)
        end)
    end)

    describe("voyages", function()
        it("start_voyage sends the domain as given; created is true on 202, false on 200", function()
            local v, meta = client:start_voyage "https://www.new-shop.example/collections/x"
            assert.truthy(v, tostring(meta))
            assert.equal('{"domain":"https://www.new-shop.example/collections/x"}', server:last_request().body)
            assert.equal(202, meta.status)
            assert.is_true(v.created)
            assert.equal("new-shop.example", v.task.domain)
            local again, meta2 = client:start_voyage "new-shop.example"
            assert.equal(200, meta2.status)
            assert.is_false(again.created)
            assert.equal(v.task.task_id, again.task.task_id)
        end)

        it("get_voyage encodes the task id in the path; list_voyages builds its query", function()
            local v = assert(client:start_voyage "third-shop.example")
            local got = assert(client:get_voyage(v.task.task_id))
            assert.equal(v.task.task_id, got.task_id)
            local _, err = client:get_voyage "cul/../weird id"
            assert.equal("/v1/voyage/cul%2F..%2Fweird%20id", server:last_request().path)
            assert.equal("voyage_not_found", err.code)
            local page = assert(client:list_voyages { status = "queued", limit = 10 })
            assert.equal("limit=10&status=queued", server:last_request().query)
            assert.equal(v.task.task_id, page.items[1].task_id)
        end)

        it("refuses a blank domain or task id, sending nothing", function()
            raises(function() client:start_voyage "" end, "domain")
            raises(function() client:start_voyage "   " end, "domain")
            raises(function() client:start_voyage(string.rep("a", 2049)) end, "2048")
            raises(function() client:get_voyage "  " end, "task_id")
            raises(function() client:get_voyage(nil) end, "task_id")
            raises(function() client:list_voyages { limit = 500 } end, "limit")
            assert.equal(0, #server:requests())
        end)

        it("returns voyage_quota_exceeded as a RateLimitError, sent once", function()
            server:set_voyage_quota { monthly = 0 }
            local res, err = client:start_voyage "quota-shop.example"
            assert.is_nil(res)
            assert.equal("RateLimitError", err.name)
            assert.equal("voyage_quota_exceeded", err.code)
            assert.equal(1, #server:requests())
        end)
    end)

    describe("coverage URL lists", function()
        it("create, get, list and delete: exact paths and statuses", function()
            local l, meta = client:create_url_list "Spring drops"
            assert.truthy(l, tostring(meta))
            assert.equal(201, meta.status)
            assert.equal('{"name":"Spring drops"}', server:last_request().body)
            assert.is_string(l.url_list_id)
            local got = assert(client:get_url_list(l.url_list_id))
            assert.equal(l.url_list_id, got.url_list_id)
            assert.equal("/v1/coverage/url-lists/" .. l.url_list_id, server:last_request().path)
            local page = assert(client:list_url_lists { limit = 5 })
            assert.equal("limit=5", server:last_request().query)
            assert.equal(l.url_list_id, page.items[1].url_list_id)
            local gone, dmeta = client:delete_url_list(l.url_list_id)
            assert.equal(202, dmeta.status)
            assert.equal("delete_pending", gone.status)
            assert.equal("DELETE", server:last_request().method)
        end)

        it("refuses bad names, ids and URL lists before sending", function()
            raises(function() client:create_url_list "" end, "name")
            raises(function() client:create_url_list "   " end, "name")
            raises(function() client:create_url_list(string.rep("n", 81)) end, "80")
            raises(function() client:get_url_list "" end, "id")
            raises(function() client:add_url_list_urls("l", "https://a.example/") end, "not one string")
            raises(function() client:add_url_list_urls("l", {}) end, "non-empty")
            raises(function() client:add_url_list_urls("l", { "https://a.example/", 5 }) end, "urls[2]")
            raises(function() client:add_url_list_urls("l", { "https://a.example/" .. string.rep("x", 2048) }) end,
                "2048")
            raises(function() client:add_url_list_urls("l", { "u" }, { on_batch = 1 }) end, "on_batch")
            raises(function() client:list_url_list_urls("l", { limit = 0 }) end, "limit")
            assert.equal(0, #server:requests())
        end)

        it("adds 2,345 URLs in 3 requests of at most 1,000, every URL accounted for once, in input order", function()
            local l = assert(client:create_url_list "big")
            local before = #server:requests()
            local urls, progress = {}, {}
            for i = 1, 2345 do
                if i % 500 == 0 then
                    urls[i] = "not a url " .. i
                else
                    urls[i] = ("https://shop.example/p/%d?utm_source=x"):format(i)
                end
            end
            local res, meta = client:add_url_list_urls(l.url_list_id, urls,
                { on_batch = function(done, total) progress[#progress + 1] = done .. "/" .. total end })
            assert.truthy(res, tostring(meta))
            local reqs = { select(before + 1, unpack(server:requests())) }
            assert.equal(3, #reqs)
            local sizes = {}
            for i, r in ipairs(reqs) do
                assert.equal("/v1/coverage/url-lists/" .. l.url_list_id .. "/urls", r.path)
                sizes[i] = #helpers.body(r).urls
            end
            assert.same({ 1000, 1000, 345 }, sizes)
            assert.same(urls[1001], helpers.body(reqs[2]).urls[1])
            assert.same({ "1000/2345", "2000/2345", "2345/2345" }, progress)
            assert.equal(2345, res.submitted)
            assert.equal(2345 - 4, #res.accepted)
            assert.equal(4, #res.rejected)
            assert.equal(urls[1], res.accepted[1].url)
            assert.equal("https://shop.example/p/1", res.accepted[1].normalized_url)
            assert.equal(urls[2345], res.accepted[#res.accepted].url)
            assert.same({ url = "not a url 500", code = "invalid_url" },
                { url = res.rejected[1].url, code = res.rejected[1].code })
            assert.equal("not a url 2000", res.rejected[4].url)
            assert.equal(2341, res.url_count)
            assert.equal(3, res.batches)
            assert.equal(3, #res.request_ids)
            assert.equal(0, #res.errors)

            -- check: one answer per URL, in input order, across the batches
            local check = assert(client:check_url_list_urls(l.url_list_id, { urls[1501], "https://no.example/x",
                urls[2] }))
            assert.same({ true, false, true }, { check.results[1].present, check.results[2].present,
                check.results[3].present })
            assert.equal(urls[1501], check.results[1].url)
            local sent = server:last_request()
            assert.equal("/v1/coverage/url-lists/" .. l.url_list_id .. "/urls/contains", sent.path)
            assert.equal(('{"urls":["%s","https://no.example/x","%s"]}'):format(urls[1501], urls[2]), sent.body)
            -- remove, then list the URLs in the order they were added
            local removed = assert(client:remove_url_list_urls(l.url_list_id, { urls[1], urls[3] }))
            assert.equal(2339, removed.url_count)
            assert.equal("/v1/coverage/url-lists/" .. l.url_list_id .. "/urls/remove", server:last_request().path)
            assert.equal(('{"urls":["%s","%s"]}'):format(urls[1], urls[3]), server:last_request().body)
            local first = assert(client:list_url_list_urls(l.url_list_id, { limit = 2 }))
            assert.equal(urls[2], first.items[1].url)
            assert.equal(urls[4], first.items[2].url)
            assert.is_string(first.next_cursor)
            local n = 0
            for _ in client:items("list_url_list_urls", l.url_list_id, { limit = 100 }) do n = n + 1 end
            assert.equal(2339, n)
        end)

        it("keeps every URL of a failed batch, and sends no batch after one that ends the call", function()
            local l = assert(client:create_url_list "faulty")
            local before = #server:requests()
            local urls = {}
            for i = 1, 2500 do urls[i] = "https://shop.example/q/" .. i end
            local path = "/v1/coverage/url-lists/" .. l.url_list_id .. "/urls"
            -- A transient failure sinks the first batch only.
            server:fault { path = path, status = 503, times = 1 }
            local res, meta = client:add_url_list_urls(l.url_list_id, urls)
            assert.truthy(res, tostring(meta))
            assert.equal(before + 3, #server:requests())
            assert.equal(1500, #res.accepted)
            assert.equal(1000, #res.rejected)
            assert.equal("batch_failed", res.rejected[1].code)
            assert.equal(urls[1], res.rejected[1].url)
            assert.equal(urls[1001], res.accepted[1].url)
            assert.equal(1, #res.errors)
            -- A 404 ends the call: the batches after it are not sent.
            before = #server:requests()
            server:fault { path = path, status = 404, body = '{"detail":"url_list_not_found"}', times = 1 }
            local none, err = client:add_url_list_urls(l.url_list_id, urls)
            assert.is_nil(none)
            assert.equal("url_list_not_found", err.code)
            assert.equal(before + 1, #server:requests())
            assert.equal(2500, #err.result.rejected)
            assert.equal("batch_failed", err.result.rejected[1].code)
            assert.equal("not_sent", err.result.rejected[1001].code)
        end)

        it("reports the API's list limits with their codes", function()
            for i = 1, 5 do assert(client:create_url_list("list " .. i)) end
            local res, err = client:create_url_list "list 6"
            assert.is_nil(res)
            assert.equal(409, err.status_code)
            assert.equal("url_list_limit_exceeded", err.code)
            local _, dup = client:create_url_list "list 1"
            assert.equal("url_list_name_conflict", dup.code)
            local _, missing = client:get_url_list "no-such-list"
            assert.equal("url_list_not_found", missing.code)
        end)
    end)

    describe("retired seed routes", function()
        it("answer 404 on a server without them, and the error says so by its status", function()
            server:configure { newest = true }
            local res, err = client:list_catalogs()
            assert.is_nil(res)
            assert.equal("NotFoundError", err.name)
            local r2, err2 = client:refresh_products { "https://tidepool.example/products/x" }
            assert.is_nil(r2)
            assert.equal(404, err2.status_code)
        end)
    end)
end)
