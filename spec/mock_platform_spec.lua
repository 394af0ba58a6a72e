-- The mock's own contract for the newest /v1 surface (octogen-api.md
-- section 11), spoken to over plain HTTP with luasocket: no octogen code is
-- involved, so the library's specs can trust what the mock answers.
local mock = require "spec.support.mock"
local cjson = require "cjson"
local http = require "socket.http"
local ltn12 = require "ltn12"

local null = cjson.null

describe("mock platform surface", function()
    local server
    setup(function() server = mock.start() end)
    teardown(function() server:stop() end)
    before_each(function() server:reset() end)

    -- One request. opts: key (default mock.KEY; false: no Authorization
    -- header), auth (the whole header value), headers. A table body is
    -- JSON-encoded. Returns {status, headers (lower-case), body, json}.
    local function call(method, path, body, opts)
        opts = opts or {}
        local headers = {}
        local key = opts.key
        if key == nil then key = mock.KEY end
        if key then headers.authorization = "Bearer " .. key end
        if opts.auth then headers.authorization = opts.auth end
        for k, v in pairs(opts.headers or {}) do headers[k:lower()] = v end
        local source
        if body ~= nil then
            if type(body) == "table" then body = cjson.encode(body) end
            headers["content-type"] = "application/json"
            headers["content-length"] = tostring(#body)
            source = ltn12.source.string(body)
        end
        local chunks = {}
        local ok, status, h = http.request {
            url = server.base_url .. path, method = method, headers = headers, source = source,
            sink = ltn12.sink.table(chunks),
        }
        assert(ok, status)
        local raw = table.concat(chunks)
        local okj, j = pcall(cjson.decode, raw)
        return { status = status, headers = h or {}, body = raw, json = okj and j or nil }
    end

    local function detail(res) return res.json and res.json.detail end

    local function code_of(res)
        local d = detail(res)
        if type(d) == "table" then return d.code end
        return d
    end

    local function urls(n, fmt)
        local out = {}
        for i = 1, n do out[i] = (fmt or "https://shop.example/p/%d"):format(i) end
        return out
    end

    ---------------------------------------------------------------------------
    describe("keyless trial", function()
        it("serves search, lookup and domains without Authorization, with every catalog", function()
            local r = call("POST", "/products/search", { catalog = "northwind", limit = 1 }, { key = false })
            assert.equal(200, r.status)
            assert.equal("northwind", r.json.items[1].catalogKey)
            r = call("POST", "/products/lookup", { url = mock.data.ungranted_url }, { key = false })
            assert.equal(200, r.status)
            assert.equal("indexed", r.json.source)
            r = call("GET", "/domains", nil, { key = false })
            assert.equal(200, r.status)
            assert.is_nil(server:last_request().headers.authorization)
        end)

        it("refuses on_demand_only lookups: 401 keyless_trial_capability_not_included", function()
            local r = call("POST", "/products/lookup", { url = mock.data.ondemand_url, resolutionMode = "on_demand_only" },
                { key = false })
            assert.equal(401, r.status)
            local d = detail(r)
            assert.equal("keyless_trial_capability_not_included", d.code)
            assert.is_false(d.isCoverageAnswer)
            assert.is_string(d.getApiKey)
            assert.equal(30, d.keylessTrial.limit)
        end)

        it("refuses every other /v1 route: 401 keyless_trial_endpoint_not_included", function()
            for _, c in ipairs { { "GET", "/me" }, { "GET", "/voyage" }, { "GET", "/catalogs" },
                                 { "POST", "/products/more-like-this" }, { "GET", "/coverage/url-lists" },
                                 { "GET", "/products/search" }, { "GET", "/no/such/route" } } do
                local r = call(c[1], c[2], c[1] == "POST" and "{}" or nil, { key = false })
                assert.equal(401, r.status, c[2])
                local d = detail(r)
                assert.equal("keyless_trial_endpoint_not_included", d.code, c[2])
                assert.is_false(d.isCoverageAnswer)
                assert.is_string(d.message)
                assert.matches("^https://octogen%.ai/", d.getApiKey)
                assert.same({ "limit", "scope", "window" },
                    { d.keylessTrial.limit and "limit", d.keylessTrial.scope and "scope", d.keylessTrial.window and "window" })
                assert.equal("per client IP address", d.keylessTrial.scope)
                assert.equal("24h", d.keylessTrial.window)
            end
        end)

        it("allows 30 requests per client IP, then 429 keyless_trial_exhausted with Retry-After 2880", function()
            server:set_keyless_limit(30, 29)
            assert.equal(200, call("GET", "/domains", nil, { key = false }).status)
            local r = call("POST", "/products/search", { q = "hoodie" }, { key = false })
            assert.equal(429, r.status)
            assert.equal("2880", r.headers["retry-after"])
            local d = detail(r)
            assert.equal("keyless_trial_exhausted", d.code)
            assert.is_false(d.isCoverageAnswer)
            assert.same({ limit = 30, scope = "per client IP address", window = "24h" }, d.keylessTrial)
            -- a key is not affected
            assert.equal(200, call("POST", "/products/search", { q = "hoodie" }).status)
            server:reset()
            assert.equal(200, call("GET", "/domains", nil, { key = false }).status)
        end)

        it("takes a smaller allowance from the control call", function()
            server:set_keyless_limit(2)
            assert.equal(200, call("GET", "/domains", nil, { key = false }).status)
            assert.equal(200, call("GET", "/domains", nil, { key = false }).status)
            local r = call("GET", "/domains", nil, { key = false })
            assert.equal(429, r.status)
            assert.equal(2, detail(r).keylessTrial.limit)
        end)

        it("answers an empty Bearer with 401 Invalid API key", function()
            for _, auth in ipairs { "Bearer ", "Bearer" } do
                local r = call("POST", "/products/search", {}, { auth = auth })
                assert.equal(401, r.status)
                assert.equal("Invalid API key", detail(r))
            end
            local r = call("GET", "/domains", nil, { auth = "Basic eDp5" })
            assert.equal(401, r.status)
            assert.equal("Authorization Bearer token required", detail(r))
        end)
    end)

    ---------------------------------------------------------------------------
    describe("GET /domains", function()
        it("lists one entry per (host, catalog), sorted, with a strong ETag and max-age=300", function()
            local r = call("GET", "/domains")
            assert.equal(200, r.status)
            assert.same(mock.data.domains, r.json.domains)
            local prev
            for _, d in ipairs(r.json.domains) do
                local k = d.host .. " " .. d.catalog
                if prev then assert.is_true(prev < k) end
                prev = k
            end
            assert.matches('^"%x+"$', r.headers.etag)
            assert.equal("max-age=300", r.headers["cache-control"])
            local shared = {}
            for _, d in ipairs(r.json.domains) do
                if d.host == mock.data.shared_domain_host then shared[#shared + 1] = d.catalog end
            end
            assert.same(mock.data.shared_domain_catalogs, shared)
        end)

        it("answers If-None-Match with 304 and no body while the set is unchanged", function()
            local etag = call("GET", "/domains").headers.etag
            for _, inm in ipairs { etag, '"nope", ' .. etag, "*", "W/" .. etag } do
                local r = call("GET", "/domains", nil, { headers = { ["If-None-Match"] = inm } })
                assert.equal(304, r.status, inm)
                assert.equal("", r.body)
                assert.equal(etag, r.headers.etag)
            end
            local r = call("GET", "/domains", nil, { headers = { ["If-None-Match"] = '"other"' } })
            assert.equal(200, r.status)
            assert.equal(etag, server:last_request().headers["if-none-match"] and r.headers.etag)
        end)

        it("changes the ETag when the set is replaced, and reset restores it", function()
            local etag = call("GET", "/domains").headers.etag
            local res = server:set_domains { { host = "shop.example", catalog = "a" },
                                             { host = "www.shop.example", catalog = "b" } }
            local r = call("GET", "/domains", nil, { headers = { ["If-None-Match"] = etag } })
            assert.equal(200, r.status)
            assert.equal(res.etag, r.headers.etag)
            assert.are_not.equal(etag, r.headers.etag)
            assert.same({ host = "shop.example", catalog = "a", catalogDisplayName = "a" }, r.json.domains[1])
            server:reset()
            assert.equal(etag, call("GET", "/domains").headers.etag)
        end)

        it("fails closed with 503 catalog_registry_unavailable through a fault rule", function()
            server:fault { path = "/v1/domains", status = 503, code = "catalog_registry_unavailable", times = 1 }
            local r = call("GET", "/domains")
            assert.equal(503, r.status)
            assert.equal("catalog_registry_unavailable", detail(r))
        end)
    end)

    ---------------------------------------------------------------------------
    describe("GET /me", function()
        it("describes a catalog_partner key, with a rate limit matching the headers", function()
            local r = call("GET", "/me")
            assert.equal(200, r.status)
            local me = r.json
            assert.equal("api_key", me.principal)
            assert.equal("catalog_partner", me.organization.type)
            assert.matches("^%x+%-%x+%-%x+%-%x+%-%x+$", me.organization.id)
            assert.is_string(me.organization.name)
            assert.is_string(me.organization.slug)
            assert.equal("ui", me.key.source)
            assert.matches("^octo_live_", me.key.prefix)
            assert.equal("test", me.key.id)
            local q = me.quotas.voyage
            assert.same({ limit = 5, used = 0 }, q.concurrent)
            assert.equal(20, q.monthly.limit)
            assert.matches("^%d%d%d%d%-%d%d%-01$", q.monthly.periodStart)
            assert.matches("^%d%d%d%d%-%d%d%-01T00:00:00Z$", q.monthly.resetsAt)
            assert.equal(tonumber(r.headers["x-ratelimit-limit"]), me.rateLimit.limit)
            assert.equal(tonumber(r.headers["x-ratelimit-remaining"]), me.rateLimit.remaining)
            assert.equal(os.date("!%Y-%m-%dT%H:%M:%SZ", tonumber(r.headers["x-ratelimit-reset"])), me.rateLimit.resetAt)
        end)

        it("leaves organization, key and quotas out for a super-admin, and key.source when unknown", function()
            local r = call("GET", "/me", nil, { key = mock.ADMIN_KEY })
            assert.equal(200, r.status)
            assert.equal("super_admin", r.json.principal)
            assert.is_nil(r.json.organization)
            assert.is_nil(r.json.key)
            assert.is_nil(r.json.quotas)
            assert.is_table(r.json.rateLimit)
            r = call("GET", "/me", nil, { key = mock.LIMITED_KEY })
            assert.equal("limited", r.json.key.id)
            assert.is_nil(r.json.key.source)
        end)

        it("refuses a merchant key on every /v1 route: 403 api_key_org_type_forbidden", function()
            for _, c in ipairs { { "GET", "/me" }, { "GET", "/domains" }, { "POST", "/products/search", "{}" },
                                 { "GET", "/voyage" }, { "GET", "/coverage/url-lists" }, { "GET", "/catalogs" } } do
                local r = call(c[1], c[2], c[3], { key = mock.MERCHANT_KEY })
                assert.equal(403, r.status, c[2])
                assert.equal("api_key_org_type_forbidden", detail(r), c[2])
            end
        end)
    end)

    ---------------------------------------------------------------------------
    describe("voyage", function()
        it("starts a voyage (202) on the normalized domain and joins it (200) without quota", function()
            local r = call("POST", "/voyage", { domain = "https://WWW.Shop.Example:8443/collections/x?y=1" })
            assert.equal(202, r.status)
            local t = r.json
            assert.equal("shop.example", t.domain)
            assert.equal("queued", t.status)
            assert.equal("discovering_site", t.phase)
            assert.equal(0, t.progressPercent)
            assert.is_string(t.phaseLabel)
            assert.equal(null, t.result)
            r = call("POST", "/voyage", { domain = "shop.example" })
            assert.equal(200, r.status)
            assert.equal(t.taskId, r.json.taskId)
            assert.equal(1, call("GET", "/me").json.quotas.voyage.monthly.used)
            assert.equal(1, call("GET", "/me").json.quotas.voyage.concurrent.used)
        end)

        it("answers a live catalog's domain with a completed task (200)", function()
            local r = call("POST", "/voyage", { domain = "www.tidepool.example" })
            assert.equal(200, r.status)
            assert.equal("completed", r.json.status)
            assert.equal("tidepool", r.json.result.catalog)
            assert.equal(mock.data.product_counts.tidepool, r.json.result.productCount)
            assert.same({ lookup = "/v1/products/lookup", search = "/v1/products/search" }, r.json.result.endpoints)
            assert.equal(0, call("GET", "/me").json.quotas.voyage.monthly.used)
        end)

        it("refuses invalid, blocked and malformed domains", function()
            local r = call("POST", "/voyage", { domain = "localhost" })
            assert.equal(422, r.status)
            assert.equal("voyage_invalid_domain", detail(r))
            r = call("POST", "/voyage", { domain = "shop.blocked" })
            assert.equal(409, r.status)
            assert.equal("voyage_domain_blocked", detail(r))
            assert.equal(409, call("POST", "/voyage", { domain = "https://blocked.example/x" }).status)
            for _, body in ipairs { {}, { domain = "" }, { domain = ("a"):rep(2045) .. ".com" },
                                    { domain = "shop.example", priority = 1 }, { domain = 5 } } do
                r = call("POST", "/voyage", body)
                assert.equal(422, r.status)
                assert.is_table(detail(r)[1].loc)
            end
            assert.equal("extra_forbidden", detail(call("POST", "/voyage", { domain = "a.example", x = 1 }))[1].type)
        end)

        it("enforces the monthly quota: 429 voyage_quota_exceeded with violations", function()
            server:set_voyage_quota { monthly = 2 }
            assert.equal(202, call("POST", "/voyage", { domain = "a.example" }).status)
            assert.equal(202, call("POST", "/voyage", { domain = "b.example" }).status)
            local r = call("POST", "/voyage", { domain = "c.example" })
            assert.equal(429, r.status)
            local d = detail(r)
            assert.equal("voyage_quota_exceeded", d.code)
            assert.equal("calendar_month", d.violations[1].dimension)
            assert.equal(2, d.violations[1].limit)
            assert.equal(2, d.violations[1].used)
            assert.matches("T00:00:00Z$", d.violations[1].resetsAt)
            -- joining is still free
            assert.equal(200, call("POST", "/voyage", { domain = "a.example" }).status)
            server:reset()
            assert.equal(20, call("GET", "/me").json.quotas.voyage.monthly.limit)
        end)

        it("enforces the concurrent quota; a finished voyage frees its slot", function()
            server:set_voyage_quota { concurrent = 1 }
            local t = call("POST", "/voyage", { domain = "a.example" }).json
            local r = call("POST", "/voyage", { domain = "b.example" })
            assert.equal(429, r.status)
            assert.equal("concurrent", detail(r).violations[1].dimension)
            assert.equal(1, detail(r).violations[1].used)
            server:update_voyage(t.taskId, { status = "failed", phase = "failed",
                                             error = { code = "site_unreachable", message = "x" } })
            assert.equal(202, call("POST", "/voyage", { domain = "b.example" }).status)
            local failed = call("GET", "/voyage/" .. t.taskId).json
            assert.equal("site_unreachable", failed.error.code)
            assert.matches("Z$", failed.completedAt)
        end)

        it("lists newest first with cursors, filters by status, checks limit and cursor", function()
            for _, d in ipairs { "a.example", "b.example", "c.example" } do call("POST", "/voyage", { domain = d }) end
            local r = call("GET", "/voyage?limit=2")
            assert.equal(200, r.status)
            assert.same({ "c.example", "b.example" }, { r.json.items[1].domain, r.json.items[2].domain })
            assert.is_string(r.json.nextCursor)
            assert.equal(3, r.json.quotas.monthly.used)
            local r2 = call("GET", "/voyage?limit=2&cursor=" .. r.json.nextCursor:gsub("=", "%%3D"))
            assert.equal("a.example", r2.json.items[1].domain)
            assert.equal(null, r2.json.nextCursor)
            server:update_voyage(r.json.items[1].taskId, { status = "running", phase = "sampling_products",
                                                           progressPercent = 30 })
            local running = call("GET", "/voyage?status=running")
            assert.equal(1, #running.json.items)
            assert.equal(30, running.json.items[1].progressPercent)
            for _, q in ipairs { "limit=0", "limit=101", "limit=abc", "status=bogus" } do
                assert.equal(422, call("GET", "/voyage?" .. q).status, q)
            end
            assert.equal("invalid_cursor", detail(call("GET", "/voyage?cursor=nope")))
        end)

        it("gets one task; another organization's task and unknown ids are 404 voyage_not_found", function()
            local t = call("POST", "/voyage", { domain = "a.example" }).json
            local r = call("GET", "/voyage/" .. t.taskId)
            assert.equal(200, r.status)
            assert.same(t, r.json)
            r = call("GET", "/voyage/" .. t.taskId, nil, { key = mock.DEMO_KEY })
            assert.equal(404, r.status)
            assert.equal("voyage_not_found", detail(r))
            assert.equal("voyage_not_found", detail(call("GET", "/voyage/vt_missing")))
            local done = server:update_voyage(t.taskId, { status = "completed" })
            assert.equal("complete", done.phase)
            assert.equal(100, call("GET", "/voyage/" .. t.taskId).json.progressPercent)
        end)
    end)

    ---------------------------------------------------------------------------
    describe("coverage URL lists", function()
        local function create(name, key)
            return call("POST", "/coverage/url-lists", { name = name }, { key = key })
        end

        it("creates a list (201, provisioning) that is active from the next read", function()
            local r = create("  Launch list  ")
            assert.equal(201, r.status)
            local l = r.json
            assert.equal("Launch list", l.name)
            assert.equal("provisioning", l.status)
            assert.equal(null, l.bigQuery)
            assert.equal(0, l.urlCount)
            assert.matches("^cul_", l.urlListId)
            for _, k in ipairs { "createdAt", "updatedAt" } do assert.matches("Z$", l[k]) end
            r = call("GET", "/coverage/url-lists/" .. l.urlListId)
            assert.equal(200, r.status)
            assert.equal("active", r.json.status)
            assert.is_string(r.json.bigQuery.viewId)
            assert.equal(null, r.json.bigQuery.lastExportedAt)
        end)

        it("validates the name and enforces uniqueness and 5 live lists", function()
            for _, body in ipairs { {}, { name = "   " }, { name = ("x"):rep(81) }, { name = "a", extra = 1 } } do
                assert.equal(422, call("POST", "/coverage/url-lists", body).status)
            end
            assert.equal(201, create(("x"):rep(80)).status)
            assert.equal("url_list_name_conflict", detail(create(" " .. ("x"):rep(80))))
            local ids = {}
            for i = 1, 4 do ids[i] = create("list " .. i).json.urlListId end
            local r = create("list 5")
            assert.equal(409, r.status)
            assert.equal("url_list_limit_exceeded", detail(r))
            -- another organization has its own five
            assert.equal(201, create("list 5", mock.DEMO_KEY).status)
            -- a deleted list frees its name and its slot
            r = call("DELETE", "/coverage/url-lists/" .. ids[1])
            assert.equal(202, r.status)
            assert.equal("delete_pending", r.json.status)
            assert.equal(201, create("list 1").status)
        end)

        it("deletes idempotently; a deleting list stays readable and refuses changes", function()
            local id = create("doomed").json.urlListId
            assert.equal(202, call("DELETE", "/coverage/url-lists/" .. id).status)
            local r = call("DELETE", "/coverage/url-lists/" .. id)
            assert.equal(202, r.status)
            assert.equal("delete_pending", r.json.status)
            r = call("GET", "/coverage/url-lists/" .. id)
            assert.equal(200, r.status)
            assert.equal("delete_pending", r.json.status)
            for _, op in ipairs { "/urls", "/urls/remove", "/urls/contains" } do
                r = call("POST", "/coverage/url-lists/" .. id .. op, { urls = { "https://a.example/p" } })
                assert.equal(409, r.status, op)
                assert.equal("url_list_deleting", detail(r))
            end
        end)

        it("answers 404 url_list_not_found for unknown ids, other organizations and encoded ids", function()
            local id = create("mine").json.urlListId
            for _, c in ipairs { { "/coverage/url-lists/" .. id, mock.DEMO_KEY },
                                 { "/coverage/url-lists/cul_missing" },
                                 { "/coverage/url-lists/cul%2F..%2Fweird%20id" },
                                 { "/coverage/url-lists/cul_missing/urls" } } do
                local r = call("GET", c[1], nil, { key = c[2] })
                assert.equal(404, r.status, c[1])
                assert.equal("url_list_not_found", detail(r))
            end
            assert.equal("/v1/coverage/url-lists/cul_missing/urls", server:last_request().path)
            local reqs = server:requests()
            assert.equal("/v1/coverage/url-lists/cul%2F..%2Fweird%20id", reqs[#reqs - 1].path)
            assert.equal("/v1/coverage/url-lists/weird id", reqs[#reqs - 1].decoded_path)
            assert.equal("url_list_requires_org_api_key",
                detail(call("GET", "/coverage/url-lists", nil, { key = mock.ADMIN_KEY })))
        end)

        it("decodes the path parameter and answers 405 with Allow for another method", function()
            local id = create("enc").json.urlListId
            local r = call("GET", "/coverage/url-lists/%63" .. id:sub(2))
            assert.equal(200, r.status)
            assert.equal(id, r.json.urlListId)
            r = call("PUT", "/coverage/url-lists/" .. id, "{}")
            assert.equal(405, r.status)
            assert.equal("GET, DELETE", r.headers.allow)
            assert.equal("GET, POST", call("PUT", "/voyage", "{}").headers.allow)
        end)

        it("adds URLs: normalizes, rejects invalid ones, counts the set", function()
            local id = create("norm").json.urlListId
            local input = {
                "HTTPS://Shop.Example/P/1?utm_source=x&color=red&gclid=1#frag",
                "https://shop.example/P/1/?color=red",
                "http://www.Shop.example/a/?fbclid=z",
                "ftp://shop.example/x", "not a url", "https:///nohost",
            }
            local r = call("POST", "/coverage/url-lists/" .. id .. "/urls", { urls = input })
            assert.equal(200, r.status)
            assert.same({
                { url = input[1], normalizedUrl = "https://shop.example/P/1?color=red" },
                { url = input[2], normalizedUrl = "https://shop.example/P/1?color=red" },
                { url = input[3], normalizedUrl = "http://www.shop.example/a" },
            }, r.json.accepted)
            assert.equal(3, #r.json.rejected)
            for i, rej in ipairs(r.json.rejected) do
                assert.equal(input[i + 3], rej.url)
                assert.equal("invalid_url", rej.code)
                assert.is_string(rej.message)
            end
            assert.equal(2, r.json.urlCount)
            assert.equal(r.headers["x-request-id"], r.json.requestId)
            r = call("POST", "/coverage/url-lists/" .. id .. "/urls", { urls = { input[2] } })
            assert.equal(2, r.json.urlCount)
            assert.equal(2, call("GET", "/coverage/url-lists/" .. id).json.urlCount)
        end)

        it("takes 1..1000 URLs of at most 2048 characters a request", function()
            local id = create("big").json.urlListId
            local path = "/coverage/url-lists/" .. id .. "/urls"
            local r = call("POST", path, { urls = urls(1000) })
            assert.equal(200, r.status)
            assert.equal(1000, r.json.urlCount)
            r = call("POST", path, { urls = urls(1001) })
            assert.equal(422, r.status)
            assert.equal("too_long", detail(r)[1].type)
            r = call("POST", path, '{"urls":[]}')
            assert.equal("too_short", detail(r)[1].type)
            r = call("POST", path, { urls = { "https://a.example/" .. ("x"):rep(2040) } })
            assert.equal("string_too_long", detail(r)[1].type)
            assert.same({ "body", "urls", 0 }, detail(r)[1].loc)
            r = call("POST", path, { urls = { "https://a.example/", 5 } })
            assert.equal("string_type", detail(r)[1].type)
            assert.equal(422, call("POST", path, { urls = "https://a.example/" }).status)
            assert.equal(422, call("POST", path .. "/contains", { urls = urls(1001) }).status)
            assert.equal(200, call("POST", path .. "/remove", { urls = urls(1000) }).status)
        end)

        it("refuses a whole batch that would cross the capacity: 409 list_url_capacity_exceeded", function()
            server:configure { url_list_capacity = 3 }
            local id = create("small").json.urlListId
            local path = "/coverage/url-lists/" .. id .. "/urls"
            assert.equal(2, call("POST", path, { urls = urls(2) }).json.urlCount)
            local r = call("POST", path, { urls = urls(4) })
            assert.equal(409, r.status)
            assert.equal("list_url_capacity_exceeded", detail(r))
            assert.equal(2, call("GET", "/coverage/url-lists/" .. id).json.urlCount)
            assert.equal(3, call("POST", path, { urls = urls(3) }).json.urlCount)
        end)

        it("removes URLs (absent ones accepted) and checks them in request order", function()
            local id = create("rm").json.urlListId
            local base = "/coverage/url-lists/" .. id .. "/urls"
            call("POST", base, { urls = urls(3) })
            local r = call("POST", base .. "/remove", { urls = { "https://shop.example/p/2/", "https://gone.example/x" } })
            assert.equal(200, r.status)
            assert.equal(2, #r.json.accepted)
            assert.equal(2, r.json.urlCount)
            r = call("POST", base .. "/remove", { urls = { "https://gone.example/x" } })
            assert.equal(2, r.json.urlCount)
            r = call("POST", base .. "/contains", { urls = { "https://shop.example/p/3#x", "https://shop.example/p/2", "nope" } })
            assert.equal(200, r.status)
            local res = r.json.results
            assert.equal(3, #res)
            assert.same({ "https://shop.example/p/3#x", true }, { res[1].url, res[1].present })
            assert.equal("https://shop.example/p/3", res[1].normalizedUrl)
            assert.matches("Z$", res[1].addedAt)
            assert.same({ false, null }, { res[2].present, res[2].addedAt })
            assert.same({ "nope", false }, { res[3].url, res[3].present })
        end)

        it("pages URLs in the order added; refuses cursors it did not issue and limit 500", function()
            local id = create("pages").json.urlListId
            local base = "/coverage/url-lists/" .. id .. "/urls"
            call("POST", base, { urls = urls(5) })
            call("POST", base .. "/remove", { urls = { "https://shop.example/p/3" } })
            local seen, cursor, pages = {}, nil, 0
            repeat
                local r = call("GET", base .. "?limit=2" .. (cursor and ("&cursor=" .. cursor:gsub("=", "%%3D")) or ""))
                assert.equal(200, r.status)
                pages = pages + 1
                for _, it in ipairs(r.json.items) do
                    seen[#seen + 1] = it.normalizedUrl
                    assert.is_string(it.url)
                    assert.matches("Z$", it.addedAt)
                end
                cursor = r.json.nextCursor ~= null and r.json.nextCursor or nil
            until not cursor
            assert.equal(2, pages)
            assert.same({ "https://shop.example/p/1", "https://shop.example/p/2", "https://shop.example/p/4",
                          "https://shop.example/p/5" }, seen)
            local r = call("GET", base .. "?cursor=bm90LW1pbmU%3D")
            assert.equal(422, r.status)
            assert.equal("invalid_cursor", detail(r))
            assert.equal(422, call("GET", base .. "?limit=500").status)
        end)

        it("lists the lists newest first with cursors", function()
            for i = 1, 3 do create("l" .. i) end
            local r = call("GET", "/coverage/url-lists?limit=2")
            assert.same({ "l3", "l2" }, { r.json.items[1].name, r.json.items[2].name })
            assert.equal("active", r.json.items[1].status)
            local r2 = call("GET", "/coverage/url-lists?limit=2&cursor=" .. r.json.nextCursor:gsub("=", "%%3D"))
            assert.equal("l1", r2.json.items[1].name)
            assert.equal(null, r2.json.nextCursor)
            assert.equal(0, #call("GET", "/coverage/url-lists", nil, { key = mock.LIMITED_KEY }).json.items)
            assert.equal("invalid_cursor", detail(call("GET", "/coverage/url-lists?cursor=abc")))
        end)
    end)

    ---------------------------------------------------------------------------
    describe("POST /products/more-like-this", function()
        local function mlt(body, opts) return call("POST", "/products/more-like-this", body, opts) end

        it("finds similar products by url or uuid, with the source", function()
            local r = mlt { source = { url = mock.data.mlt_url } }
            assert.equal(200, r.status)
            assert.equal(12, #r.json.items)
            assert.same({ catalogKey = mock.data.mlt_catalog, productUrl = mock.data.mlt_url,
                          uuid = mock.data.mlt_uuid, title = mock.data.product_title }, r.json.source)
            for _, it in ipairs(r.json.items) do
                assert.are_not.equal(mock.data.mlt_uuid, it.uuid)
                assert.equal(mock.data.mlt_catalog, it.catalogKey)
            end
            local r2 = mlt { source = { uuid = mock.data.mlt_uuid } }
            assert.same(r.json.items, r2.json.items)
        end)

        it("pages through every similar product without repeats", function()
            local seen, n, cursor = {}, 0, nil
            repeat
                local r = mlt { source = { uuid = mock.data.mlt_uuid }, limit = 100, cursor = cursor }
                assert.equal(200, r.status)
                for _, it in ipairs(r.json.items) do
                    assert.is_nil(seen[it.uuid])
                    seen[it.uuid] = true
                    n = n + 1
                end
                cursor = r.json.nextCursor ~= null and r.json.nextCursor or nil
            until not cursor
            assert.equal(mock.data.mlt_count, n)
        end)

        it("validates source, catalogs, limit, price_preference; catalog is an unknown key", function()
            local bad = {
                {}, { source = {} }, { source = { url = "" } },
                { source = { url = mock.data.mlt_url, uuid = mock.data.mlt_uuid } },
                { source = { url = mock.data.mlt_url, sku = "x" } },
                { source = { uuid = mock.data.mlt_uuid }, limit = 0 },
                { source = { uuid = mock.data.mlt_uuid }, limit = 101 },
                { source = { uuid = mock.data.mlt_uuid }, price_preference = "cheaper" },
                { source = { uuid = mock.data.mlt_uuid }, catalogs = "warrenlotas" },
            }
            for i, body in ipairs(bad) do assert.equal(422, mlt(body).status, "case " .. i) end
            assert.equal(422, mlt('{"source":{"uuid":"x"},"catalogs":[]}').status)
            local r = mlt { source = { uuid = mock.data.mlt_uuid }, catalog = "warrenlotas" }
            assert.equal(422, r.status)
            assert.equal("extra_forbidden", detail(r)[1].type)
            assert.same({ "body", "catalog" }, detail(r)[1].loc)
        end)

        it("answers 404 product_not_found and catalog_not_found", function()
            assert.equal("product_not_found", detail(mlt { source = { url = mock.data.unknown_url } }))
            assert.equal("product_not_found", detail(mlt { source = { uuid = "00000000-0000-4000-8000-000000000000" } }))
            local r = mlt { source = { uuid = mock.data.mlt_uuid }, catalogs = { "nope" } }
            assert.equal(404, r.status)
            assert.equal("catalog_not_found", detail(r))
        end)

        it("restricts results to catalogs, honours price_preference and facets, debug adds effectiveQuery", function()
            local r = mlt { source = { uuid = mock.data.mlt_uuid }, catalogs = { "tidepool" }, limit = 100 }
            assert.equal(200, r.status)
            assert.is_true(#r.json.items > 0)
            for _, it in ipairs(r.json.items) do assert.equal("tidepool", it.catalogKey) end
            local src_price = call("POST", "/products/lookup", { url = mock.data.mlt_url }).json.product.currentPrice
            r = mlt { source = { uuid = mock.data.mlt_uuid }, price_preference = "lower", limit = 100 }
            for _, it in ipairs(r.json.items) do assert.is_true(it.currentPrice < src_price) end
            r = mlt { source = { uuid = mock.data.mlt_uuid }, include_facets = { { name = "color_family", values = { "Black" } } } }
            assert.equal(200, r.status)
            r = mlt { source = { uuid = mock.data.mlt_uuid }, debug = true, limit = 5 }
            assert.equal(mock.data.product_title, r.json.effectiveQuery.text)
            assert.equal(5, r.json.effectiveQuery.limit)
            assert.is_nil(mlt({ source = { uuid = mock.data.mlt_uuid } }).json.effectiveQuery)
        end)
    end)

    ---------------------------------------------------------------------------
    describe("POST /products/resolve-from-html", function()
        local function resolve(body) return call("POST", "/products/resolve-from-html", body) end

        local JSON_LD = [[<html><head><link rel="canonical" href="/products/copper-kettle">
<script type="application/ld+json">{"@context":"https://schema.org","@graph":[{"@type":"WebPage"},
{"@type":"Product","name":"Copper Kettle","brand":{"@type":"Brand","name":"Hearth &amp; Co"},
"offers":{"@type":"Offer","price":"49.50","priceCurrency":"EUR","availability":"https://schema.org/InStock"}}]}
</script></head><body></body></html>]]

        it("extracts JSON-LD: client_html, null uuid and isActive, canonical from the page", function()
            local url = "https://shop.example/products/copper-kettle?variant=2"
            local r = resolve { html = JSON_LD, url = url }
            assert.equal(200, r.status)
            local b = r.json
            assert.equal("client_html", b.source)
            assert.equal(url, b.requestedUrl)
            assert.equal("https://shop.example/products/copper-kettle", b.canonicalUrl)
            assert.equal(null, b.product.uuid)
            assert.equal(null, b.product.isActive)
            assert.equal("Copper Kettle", b.product.title)
            assert.equal(49.5, b.product.currentPrice)
            assert.equal("EUR", b.product.currency)
            assert.equal(true, b.product.inStock)
            assert.equal("json_ld", b.resolution.method)
        end)

        it("falls back to Open Graph, then <title> with meta, and uses url as the canonical", function()
            local og = [[<meta property="og:title" content="Trail Mug"><meta property="og:price:amount" content="12">]]
            local r = resolve { html = og, url = "https://mugs.example/m" }
            assert.equal(200, r.status)
            assert.same({ "Trail Mug", 12, "open_graph", "https://mugs.example/m" },
                { r.json.product.title, r.json.product.currentPrice, r.json.resolution.method, r.json.canonicalUrl })
            r = resolve { html = '<title> Plain Lamp </title><meta itemprop="price" content="30.00">',
                          url = "https://lamps.example/l" }
            assert.equal(200, r.status)
            assert.same({ "Plain Lamp", 30, "html_meta" },
                { r.json.product.title, r.json.product.currentPrice, r.json.resolution.method })
            r = resolve { html = '<link rel="canonical" href="https://c.example/p">' .. og }
            assert.equal(200, r.status)
            assert.equal(null, r.json.requestedUrl)
            assert.equal("https://c.example/p", r.json.canonicalUrl)
        end)

        it("answers 404 {\"detail\":\"Not Found\"} without product metadata or any URL", function()
            local r = resolve { html = "<html></html>", url = "https://shop.example/x" }
            assert.equal(404, r.status)
            assert.equal('{"detail":"Not Found"}', r.body)
            r = resolve { html = JSON_LD:gsub('<link[^>]*>', "") }
            assert.equal(404, r.status)
        end)

        it("validates html and url; 5 MiB + 1 characters is 422, a body over the cap 413", function()
            for _, body in ipairs { {}, { html = "" }, { html = 5 }, { html = "<p>", url = "" },
                                    { html = "<p>", page = "x" } } do
                assert.equal(422, resolve(body).status)
            end
            local r = resolve { html = ("a"):rep(5242881) }
            assert.equal(422, r.status)
            assert.equal("string_too_long", detail(r)[1].type)
            r = resolve('{"html":"' .. ("a"):rep(13 * 1024 * 1024) .. '"}')
            assert.equal(413, r.status)
        end)
    end)

    ---------------------------------------------------------------------------
    describe("faults, newest mode and recording", function()
        it("a fault rule's code becomes a bare detail, its detail any detail", function()
            server:fault { path = "/v1/products/search", status = 429, code = "concurrency_limit_exceeded",
                           retry_after = 1, times = 1 }
            local r = call("POST", "/products/search", {})
            assert.equal(429, r.status)
            assert.equal('{"detail":"concurrency_limit_exceeded"}', r.body)
            assert.equal("1", r.headers["retry-after"])
            server:fault { path_prefix = "/v1/coverage/", status = 409, detail = { code = "url_list_migrating" },
                           times = 1 }
            r = call("GET", "/coverage/url-lists/anything")
            assert.equal(409, r.status)
            assert.equal("url_list_migrating", code_of(r))
            assert.equal(200, call("POST", "/products/search", {}).status)
        end)

        it("newest mode answers GET /catalogs and POST /products/refresh as unmatched routes", function()
            assert.equal(200, call("GET", "/catalogs").status)
            local settings = server:configure { newest = true }
            assert.is_true(settings.newest)
            local r = call("GET", "/catalogs")
            assert.equal(404, r.status)
            assert.equal('{"detail":"Not Found"}', r.body)
            r = call("POST", "/products/refresh", { targets = { { uuid = mock.data.product_uuid } } })
            assert.equal(404, r.status)
            assert.equal("Not Found", detail(r))
            assert.equal("keyless_trial_endpoint_not_included", code_of(call("GET", "/catalogs", nil, { key = false })))
            server:reset()
            assert.equal(200, call("GET", "/catalogs").status)
            assert.equal(202, call("POST", "/products/refresh", { targets = { { uuid = mock.data.product_uuid } } }).status)
        end)

        it("records the new operations like the old ones", function()
            call("GET", "/voyage?status=queued&limit=10")
            local req = server:last_request()
            assert.same({ "GET", "/v1/voyage", "status=queued&limit=10", "Bearer " .. mock.KEY },
                { req.method, req.path, req.query, req.headers.authorization })
            call("POST", "/coverage/url-lists", '{"name":"rec"}')
            req = server:last_request()
            assert.same({ "POST", '{"name":"rec"}', "application/json" },
                { req.method, req.body, req.headers["content-type"] })
        end)
    end)
    ---------------------------------------------------------------------------
    describe("rate_limit bucket and hold_ms", function()
        local function int(h) return tonumber(h) end

        it("is off by default: the plain counter, no 429, no rate_limited in stats", function()
            local settings = server:configure {}
            assert.is_false(settings.rate_limit)
            assert.equal(0, settings.hold_ms)
            for _ = 1, 5 do
                local r = call("GET", "/catalogs")
                assert.equal(200, r.status)
                assert.equal("600", r.headers["x-ratelimit-limit"])
            end
            assert.same({ requests = 5, connections = 5 }, server:stats())
        end)

        it("answers 429 rate_limit_exceeded with Retry-After once the burst is spent", function()
            local settings = server:configure { rate_limit = { per_second = 0.5, burst = 3 } }
            assert.same({ per_second = 0.5, burst = 3 }, settings.rate_limit)
            assert.equal(0, server:stats().rate_limited)
            local t0 = os.time()
            for i = 1, 3 do
                local r = call("GET", "/catalogs")
                assert.equal(200, r.status)
                assert.equal("30", r.headers["x-ratelimit-limit"])          -- per minute
                assert.equal(tostring(3 - i), r.headers["x-ratelimit-remaining"])
            end
            local r = call("POST", "/products/search", { catalog = "northwind" })
            assert.equal(429, r.status)
            assert.equal('{"detail":"rate_limit_exceeded"}', r.body)
            -- under one token left at 0.5 a second: 2 s to the next
            assert.equal("2", r.headers["retry-after"])
            assert.equal("0", r.headers["x-ratelimit-remaining"])
            assert.equal("30", r.headers["x-ratelimit-limit"])
            -- full again in about 6 s (3 tokens at 0.5 a second)
            local reset = int(r.headers["x-ratelimit-reset"])
            assert.is_true(reset >= t0 + 5 and reset <= os.time() + 7, tostring(reset))
            local st = server:stats()
            assert.equal(1, st.rate_limited)
            assert.equal(4, st.requests)   -- the refused one reached the mock too
            -- GET /me agrees with the headers
            server:configure { rate_limit = { per_second = 100, burst = 5 } }
            r = call("GET", "/me")
            assert.equal(6000, r.json.rateLimit.limit)
            assert.equal(4, r.json.rateLimit.remaining)
            assert.equal("4", r.headers["x-ratelimit-remaining"])
        end)

        it("keeps one bucket per organization, per key without one, and per IP keyless", function()
            server:configure { rate_limit = { per_second = 0.1, burst = 1 } }
            assert.equal(200, call("GET", "/catalogs").status)
            assert.equal(429, call("GET", "/catalogs").status)
            -- an OAuth2 token of the same organization shares the bucket
            local chunks = {}
            local form = "grant_type=client_credentials&client_id=octo_client&client_secret=octo_secret"
            assert(http.request {
                url = server.base_url:gsub("/v1$", "") .. "/oauth/token", method = "POST",
                headers = { ["content-type"] = "application/x-www-form-urlencoded",
                            ["content-length"] = tostring(#form) },
                source = ltn12.source.string(form), sink = ltn12.sink.table(chunks),
            })
            local token = cjson.decode(table.concat(chunks)).access_token
            local r = call("GET", "/catalogs", nil, { auth = "Bearer " .. token })
            assert.equal(429, r.status)
            assert.equal("rate_limit_exceeded", detail(r))
            -- other organizations, a super-admin and the keyless trial: their own
            assert.equal(200, call("GET", "/catalogs", nil, { key = mock.DEMO_KEY }).status)
            assert.equal(200, call("GET", "/me", nil, { key = mock.ADMIN_KEY }).status)
            assert.equal(429, call("GET", "/me", nil, { key = mock.ADMIN_KEY }).status)
            assert.equal(200, call("GET", "/domains", nil, { key = false }).status)
            assert.equal(429, call("GET", "/domains", nil, { key = false }).status)
            -- a bad key is not counted: 401, as without the bucket
            assert.equal(401, call("GET", "/catalogs", nil, { key = "octo_nobody" }).status)
            assert.equal(4, server:stats().rate_limited)
        end)

        it("reset() and rate_limit = false turn it off; a new setting refills the buckets", function()
            server:configure { rate_limit = { per_second = 0.1, burst = 1 } }
            assert.equal(200, call("GET", "/catalogs").status)
            assert.equal(429, call("GET", "/catalogs").status)
            server:configure { rate_limit = { per_second = 0.1, burst = 2 } }
            local r = call("GET", "/catalogs")
            assert.equal(200, r.status)
            assert.equal("1", r.headers["x-ratelimit-remaining"])
            assert.is_false(server:configure({ rate_limit = false }).rate_limit)
            assert.equal("600", call("GET", "/catalogs").headers["x-ratelimit-limit"])
            server:configure { rate_limit = { per_second = 0.1, burst = 1 }, hold_ms = 5 }
            server:reset()
            local settings = server:configure {}
            assert.is_false(settings.rate_limit)
            assert.equal(0, settings.hold_ms)
            assert.is_nil(server:stats().rate_limited)
            for _ = 1, 3 do assert.equal(200, call("GET", "/catalogs").status) end
        end)

        it("refuses bad settings with 400 and leaves the others unchanged", function()
            for _, bad in ipairs {
                { rate_limit = { per_second = 0 } }, { rate_limit = { per_second = 1, burst = 0.5 } },
                { rate_limit = "fast" }, { hold_ms = -1 }, { hold_ms = "50" },
            } do
                assert.has_error(function() server:configure(bad) end)
            end
            assert.has_error(function() server:configure { rate_limit = { per_second = 1 }, nonsense = 1 } end)
            assert.is_false(server:configure({}).rate_limit)
        end)

        it("holds every API answer hold_ms before sending it, 429s included", function()
            local socket = require "socket"
            server:configure { hold_ms = 300, rate_limit = { per_second = 0.1, burst = 1 } }
            for _, want in ipairs { 200, 429 } do
                local t0 = socket.gettime()
                assert.equal(want, call("GET", "/catalogs").status)
                assert.is_true(socket.gettime() - t0 >= 0.25)
            end
            assert.equal(300, server:configure({}).hold_ms)
            server:configure { hold_ms = 0 }
            assert.equal(0, server:configure({}).hold_ms)
        end)

        it("shares one bucket across several nginx workers: a concurrent burst gets exactly `burst` tokens", function()
            local socket = require "socket"
            local multi = mock.start { workers = 2 }
            local ok, err = pcall(function()
                multi:configure { rate_limit = { per_second = 0.05, burst = 25 } }
                -- 100 requests on 100 connections, all sent before any answer
                -- is read; both workers accept connections
                local socks = {}
                for i = 1, 100 do
                    local s = assert(socket.connect("127.0.0.1", multi.port))
                    s:settimeout(10)
                    socks[i] = s
                end
                for _, s in ipairs(socks) do
                    assert(s:send("GET /v1/catalogs HTTP/1.0\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
                        .. mock.KEY .. "\r\n\r\n"))
                end
                local counts = {}
                for _, s in ipairs(socks) do
                    local raw = s:receive("*a") or ""
                    s:close()
                    local status = tonumber(raw:match("^HTTP/%d%.%d (%d+)")) or 0
                    counts[status] = (counts[status] or 0) + 1
                end
                assert.same({ [200] = 25, [429] = 75 }, counts)
                local st = multi:stats()
                assert.equal(100, st.requests)
                assert.equal(75, st.rate_limited)
            end)
            multi:stop()
            assert(ok, err)
        end)
    end)
end)
