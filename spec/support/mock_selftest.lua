-- Smoke check of the mock Octogen API server and its harness, with curl.
-- Run from the repository root:  lua5.4 spec/support/mock_selftest.lua
-- (any of lua5.1, lua5.3, lua5.4, luajit). Exits non-zero on a failure and
-- leaves no nginx running.

package.path = "./?.lua;" .. package.path
local mock = require "spec.support.mock"
local cjson = require "cjson"

local failures, checks = 0, 0
local function check(cond, what, extra)
    checks = checks + 1
    if cond then
        io.write("ok   ", what, "\n")
    else
        failures = failures + 1
        io.write("FAIL ", what, extra and (" -- " .. tostring(extra)) or "", "\n")
    end
    return cond
end

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local tmp = os.tmpname()
local function slurp(path)
    local f = io.open(path, "rb")
    if not f then return "" end
    local s = f:read("*a")
    f:close()
    return s
end

-- curl one request; returns {status, headers (lower-case), body, json, rc, time}
local server
local function req(method, path, body, o)
    o = o or {}
    local url = path:match("^http") and path or (server.base_url .. path)
    local args = { "curl", "-s", "-X", method, "-o", q(tmp .. ".body"), "-D", q(tmp .. ".head"),
        "-w", q("%{http_code} %{time_total}"), "--max-time", tostring(o.max_time or 10) }
    local key = o.key
    if key == nil then key = mock.KEY end
    if key then args[#args + 1] = "-H " .. q("Authorization: Bearer " .. key) end
    if body then
        local bf = io.open(tmp .. ".req", "wb")
        bf:write(type(body) == "table" and cjson.encode(body) or body)
        bf:close()
        args[#args + 1] = "-H 'Content-Type: application/json' --data-binary @" .. q(tmp .. ".req")
    end
    for _, a in ipairs(o.curl or {}) do args[#args + 1] = a end
    args[#args + 1] = q(url)
    os.remove(tmp .. ".body")
    os.remove(tmp .. ".head")
    local p = io.popen(table.concat(args, " ") .. "; echo \" $?\"")
    local out = p:read("*a")
    p:close()
    local code, t, rc = out:match("(%d+) ([%d.]+) (%d+)")
    local res = { status = tonumber(code), time = tonumber(t), rc = tonumber(rc), headers = {} }
    for line in slurp(tmp .. ".head"):gmatch("[^\r\n]+") do
        local k, v = line:match("^([%w-]+):%s*(.*)$")
        if k then res.headers[k:lower()] = v end
    end
    res.body = slurp(tmp .. ".body")
    local ok, v = pcall(cjson.decode, res.body)
    if ok then res.json = v end
    return res
end

local function detail_of(res) return res.json and res.json.detail end

local function all_pages(body, key)
    local items, pages, cursor = {}, 0, nil
    repeat
        local b = {}
        for k, v in pairs(body) do b[k] = v end
        b.cursor = cursor
        local res = req("POST", "/products/search", b, { key = key })
        if res.status ~= 200 then return nil, res end
        pages = pages + 1
        for _, it in ipairs(res.json.items) do items[#items + 1] = it end
        cursor = res.json.nextCursor
        if cursor == cjson.null then cursor = nil end
    until not cursor or pages > 1000
    return items, pages
end

local ok_run, err = pcall(function()
    server = mock.start()
    check(server.base_url:match("^http://127%.0%.0%.1:%d+/v1$"), "start: base_url " .. server.base_url)
    local facts = mock.data
    local data = mock.datamodule()
    local db = data.build()

    -- catalogs, headers, nulls
    local r = req("GET", "/catalogs")
    check(r.status == 200 and #r.json == 3, "GET /catalogs: 200 with 3 catalogs")
    check(r.headers["content-type"] == "application/json", "content-type application/json")
    check(r.headers["x-request-id"] and r.headers["x-request-id"]:match("^req%-%d+$"), "X-Request-Id")
    check(r.headers["x-ratelimit-limit"] == "600", "X-RateLimit-Limit 600")
    local rem1 = tonumber(r.headers["x-ratelimit-remaining"])
    check(tonumber(r.headers["x-ratelimit-reset"]) > os.time(), "X-RateLimit-Reset in the future")
    check(r.json[3].sourceBaseUrl == cjson.null and r.json[3].lastIndexedAt == cjson.null,
        "lumen-home has JSON null sourceBaseUrl/lastIndexedAt")
    check(r.json[1].productCount == facts.product_counts.warrenlotas, "productCount matches mock.data")
    r = req("GET", "/catalogs")
    check(tonumber(r.headers["x-ratelimit-remaining"]) == rem1 - 1, "X-RateLimit-Remaining decrements")
    r = req("GET", "/catalogs", nil, { key = mock.LIMITED_KEY })
    check(r.status == 200 and #r.json == 1 and r.json[1].catalog == "tidepool", "limited key sees 1 catalog")
    r = req("GET", "/catalogs", nil, { key = false })
    check(r.status == 401 and type(detail_of(r)) == "table"
        and detail_of(r).code == "keyless_trial_endpoint_not_included", "401 missing key: keyless trial refusal")
    r = req("GET", "/catalogs", nil, { key = false, curl = { "-H 'Authorization: Basic eDp5'" } })
    check(r.status == 401 and detail_of(r) == "Authorization Bearer token required", "401 another scheme")
    r = req("GET", "/domains", nil, { key = false })
    check(r.status == 200 and r.headers.etag and r.json and #r.json.domains == #facts.domains,
        "GET /domains keyless: 200 with an ETag")
    check(r.headers["x-request-id"] ~= nil and r.headers["x-ratelimit-remaining"] ~= nil, "401 carries headers")
    r = req("GET", "/catalogs", nil, { key = "nope" })
    check(r.status == 401 and detail_of(r) == "Invalid API key", "401 unknown key")
    r = req("GET", "/nothing/here")
    check(r.status == 404 and detail_of(r) == "Not Found", "404 unknown route")
    r = req("POST", "/catalogs", "{}")
    check(r.status == 405 and detail_of(r) == "Method Not Allowed", "405 wrong method")
    r = req("GET", "/products/search")
    check(r.status == 405, "405 GET search")

    -- the newer surface (spec/mock_platform_spec.lua has the details)
    r = req("GET", "/me")
    check(r.status == 200 and r.json.organization.type == "catalog_partner", "GET /me")
    r = req("POST", "/voyage", { domain = "https://www.new-shop.example/x" })
    check(r.status == 202 and r.json.domain == "new-shop.example", "POST /voyage: 202")
    r = req("POST", "/coverage/url-lists", { name = "selftest" })
    check(r.status == 201 and r.json.status == "provisioning", "POST /coverage/url-lists: 201")
    r = req("POST", "/products/more-like-this", { source = { uuid = facts.mlt_uuid } })
    check(r.status == 200 and #r.json.items == 12, "more-like-this: 12 items")
    r = req("POST", "/products/resolve-from-html", { html = "<html></html>", url = "https://a.example/" })
    check(r.status == 404 and r.body == '{"detail":"Not Found"}', "resolve-from-html without metadata: 404")
    server:reset()

    -- search
    r = req("POST", "/products/search", { catalog = "warrenlotas" })
    check(r.status == 200 and #r.json.items == 50 and type(r.json.nextCursor) == "string",
        "search default limit 50 with nextCursor")
    local it = r.json.items[1]
    check(it.uuid and it.catalogKey == "warrenlotas" and it.productUrl and it.brand and it.isActive == true
        and it.currentPrice and it.updatedAt and it.images and it.description == nil, "list item fields only")
    local items, pages = all_pages({ catalog = "warrenlotas", q = "hoodie", limit = 10 })
    check(items and pages > 3 and #items == facts.hoodie_count,
        "warrenlotas+hoodie paginates to the end: " .. tostring(pages) .. " pages, " .. #(items or {}) .. " items")
    local seen, dup = {}, false
    for _, x in ipairs(items or {}) do
        if seen[x.uuid] then dup = true end
        seen[x.uuid] = true
        if not x.title:lower():find("hoodie") then dup = true end
    end
    check(not dup, "pages: unique uuids, every title has 'hoodie'")
    check(type(items[1].displayMatchScore) == "number", "displayMatchScore with q")
    r = req("POST", "/products/search", { catalog = "warrenlotas", q = "hoodie", limit = 10, cursor = "garbage!!" })
    check(r.status == 200 and r.json.items[1].uuid == items[1].uuid, "malformed cursor = first page")
    r = req("POST", "/products/search", { q = "zzzznotaword" })
    check(r.status == 200 and #r.json.items == 0 and r.json.nextCursor == cjson.null,
        "no results: items [] and nextCursor null")
    check(r.body:find('"items":[]', 1, true) ~= nil, "empty items encoded as []")
    items = all_pages({ limit = 100 })
    check(items and #items == facts.product_counts.warrenlotas + facts.product_counts.tidepool
        + facts.product_counts["lumen-home"], "no catalog = every granted catalog")

    local facets = { { name = "color_family", values = { "Black" } }, { name = "gender", values = { "male", "unisex" } } }
    items = all_pages({ catalog = "warrenlotas", facets = facets, limit = 100 })
    local expect = #data.search(db, { catalogs = { "warrenlotas" }, facets = facets })
    check(items and #items == expect and expect > 0, "facets AND/OR: " .. expect .. " items")
    local lower = { { name = "color_family", values = { "black" } }, { name = "GENDER", values = { "MALE", "Unisex" } } }
    local items2 = all_pages({ catalog = "warrenlotas", facets = lower, limit = 100 })
    check(items2 and #items2 == expect, "facets compare without case")
    local a = all_pages({ catalog = "tidepool", facets = { { name = "fit", values = { "relaxed" } } }, limit = 100 })
    local b = all_pages({ catalog = "tidepool", facets = { { name = "attribute_facets.fit", values = { "relaxed" } } }, limit = 100 })
    check(a and b and #a == #b and #a > 0, "attribute facet bare and qualified: " .. #(a or {}))
    local c = all_pages({ catalog = "tidepool", facets = { { name = "category_path.depth_1", values = { "outerwear" } } }, limit = 100 })
    check(c and #c > 0, "category_path.depth_1 facet")

    items = all_pages({ catalog = "warrenlotas", price_min = 100, price_max = 180, limit = 100 })
    local inside, hit_bound = true, false
    for _, x in ipairs(items or {}) do
        if x.currentPrice < 100 or x.currentPrice > 180 then inside = false end
        if x.currentPrice == 180 or x.currentPrice == 100 then hit_bound = true end
    end
    check(items and #items > 0 and inside, "price_min/price_max filter")
    check(hit_bound, "price bounds inclusive (a product priced at a bound is returned)")
    check(r and req("POST", "/products/search", { catalog = "warrenlotas", limit = 100 }).body:find('"currentPrice":%d+%.%d') ~= nil,
        "fractional prices on the wire")

    r = req("POST", "/products/search", { catalog = "warrenlotas", bogus = 1 })
    check(r.status == 422 and detail_of(r)[1].type == "extra_forbidden" and detail_of(r)[1].loc[2] == "bogus",
        "422 extra key")
    r = req("POST", "/products/search", { catalog = "warrenlotas", limit = 250 })
    local d = detail_of(r)
    check(r.status == 422 and d[1].type == "less_than_equal" and d[1].ctx.le == 100 and d[1].input == 250,
        "422 limit 250")
    r = req("POST", "/products/search", { limit = 0 })
    check(r.status == 422 and detail_of(r)[1].type == "greater_than_equal", "422 limit 0")
    r = req("POST", "/products/search", "{not json")
    check(r.status == 422 and detail_of(r)[1].type == "json_invalid", "422 non-JSON body")
    r = req("POST", "/products/search", { catalog = "nope" })
    check(r.status == 404 and detail_of(r) == "catalog_not_found", "404 unknown catalog")
    r = req("POST", "/products/search", { catalog = "northwind" })
    check(r.status == 403 and detail_of(r) == "catalog_not_granted", "403 catalog not granted")
    r = req("POST", "/products/search", { catalog = "warrenlotas" }, { key = mock.LIMITED_KEY })
    check(r.status == 403, "403 for the limited key")
    r = req("POST", "/products/search", { facets = { { name = "gender" } } })
    check(r.status == 422 and detail_of(r)[1].type == "missing", "422 facet without values")

    -- lookup
    r = req("POST", "/products/lookup", { url = facts.product_url })
    check(r.status == 200 and r.json.source == "indexed" and r.json.product.uuid == facts.product_uuid
        and r.json.catalogDisplayName == "Warren Lotas" and r.json.requestId == cjson.null
        and r.json.resolvedUrl == cjson.null and r.json.cacheStatus == cjson.null
        and r.json.product.enrichment.color_family and r.json.product.identifiers.productId,
        "lookup indexed")
    check(r.body:find('"warnings":[]', 1, true) ~= nil, "lookup warnings []")
    local www = facts.product_url:gsub("https://", "http://www.") .. "?utm_source=mail#top"
    r = req("POST", "/products/lookup", { url = www, resolutionMode = "auto", onDemandCachePolicy = "prefer_cache" })
    check(r.status == 200 and r.json.normalizedUrl == facts.product_url and r.json.requestedUrl == www,
        "lookup normalizes www/query/fragment")
    r = req("POST", "/products/lookup", { url = facts.ondemand_url })
    check(r.status == 200 and r.json.source == "on_demand" and r.json.product.uuid == cjson.null
        and r.json.cacheStatus == "miss" and r.json.resolution.completeness == "partial", "lookup on_demand")
    r = req("POST", "/products/lookup", { url = facts.ondemand_url })
    check(r.json and r.json.cacheStatus == "hit", "lookup on_demand second time: cache hit")
    r = req("POST", "/products/lookup", { url = facts.product_url, resolutionMode = "on_demand_only" })
    check(r.status == 200 and r.json.source == "on_demand", "lookup on_demand_only")
    r = req("POST", "/products/lookup", { url = facts.ondemand_url, resolutionMode = "index_only" })
    check(r.status == 404 and detail_of(r) == "product_not_found", "lookup index_only miss: 404")
    r = req("POST", "/products/lookup", { url = facts.unknown_url })
    check(r.status == 404 and detail_of(r) == "product_not_found", "lookup unknown: 404")
    r = req("POST", "/products/lookup", {})
    d = detail_of(r)
    check(r.status == 422 and d[1].type == "missing" and d[1].loc[2] == "url" and r.body:find('"input":{}', 1, true),
        "lookup missing url: 422")
    r = req("POST", "/products/lookup", { url = "ftp://example.com/x" })
    check(r.status == 422 and detail_of(r) == "invalid_product_url", "lookup invalid url: 422 string detail")
    r = req("POST", "/products/lookup", { url = facts.product_url, resolution_mode = "auto" })
    check(r.status == 422 and detail_of(r)[1].type == "extra_forbidden", "lookup extra key: 422")
    r = req("POST", "/products/lookup", { url = facts.limited_ungranted_url }, { key = mock.LIMITED_KEY })
    check(r.status == 404, "lookup restricted to granted catalogs")

    -- refresh
    r = req("POST", "/products/refresh", { targets = {
        { uuid = facts.product_uuid }, { catalog = "tidepool", url = "https://tidepool.example/products/new-drop" },
        { url = facts.ambiguous_url }, { uuid = "missing-product" }, { url = facts.tidepool_url } } })
    check(r.status == 202 and #r.json.accepted == 3 and #r.json.rejected == 2
        and r.json.workflowStatus == "launched" and type(r.json.workflowId) == "string"
        and r.json.workflowError == cjson.null, "refresh partial: 202")
    check(r.json and r.json.rejected[1].code == "ambiguous_url" and r.json.rejected[1].target.url == facts.ambiguous_url
        and r.json.rejected[2].code == "product_not_found", "refresh rejected entries")
    check(r.json and r.json.accepted[1].url == facts.product_url and r.json.accepted[1].catalog == "warrenlotas",
        "refresh uuid target reported by catalog and productUrl")
    r = req("POST", "/products/refresh", { targets = { { uuid = "missing" } } })
    check(r.status == 400 and r.json.workflowId == cjson.null and #r.json.rejected == 1
        and r.body:find('"accepted":[]', 1, true), "refresh all rejected: 400 same shape")
    r = req("POST", "/products/refresh", { targets = {} })
    check(r.status == 422 and detail_of(r)[1].loc[2] == "targets", "refresh 0 targets: 422")
    local many = {}
    for i = 1, 501 do many[i] = { catalog = "tidepool", url = "https://tidepool.example/products/x-" .. i } end
    r = req("POST", "/products/refresh", { targets = many })
    check(r.status == 422 and detail_of(r)[1].type == "too_long", "refresh 501 targets: 422")
    many[501] = nil
    r = req("POST", "/products/refresh", { targets = many })
    check(r.status == 202 and #r.json.accepted == 500, "refresh 500 targets: 202")
    r = req("POST", "/products/refresh", { targets = { { uuid = "a", url = "https://x.example/p" } } })
    check(r.status == 422 and detail_of(r)[1].type == "value_error", "refresh url+uuid: 422")
    r = req("POST", "/products/refresh", { targets = { { catalog = "x" } } })
    check(r.status == 422, "refresh neither url nor uuid: 422")
    r = req("POST", "/products/refresh", { targets = { { uuid = "a", sku = "b" } } })
    check(r.status == 422 and detail_of(r)[1].type == "extra_forbidden", "refresh unknown target key: 422")
    r = req("POST", "/products/refresh", { targets = { { catalog = "northwind", url = facts.ungranted_url } } })
    check(r.status == 403 and detail_of(r) == "catalog_not_granted", "refresh ungranted catalog: 403")

    -- recording and stats over one keep-alive connection
    server:reset()
    local p = io.popen("curl -s -o /dev/null -o /dev/null -o /dev/null -H 'Authorization: Bearer "
        .. mock.KEY .. "' " .. q(server.base_url .. "/catalogs") .. " " .. q(server.base_url .. "/catalogs?x=1")
        .. " " .. q(server.base_url .. "/catalogs"))
    p:read("*a")
    p:close()
    local st = server:stats()
    check(st.requests == 3 and st.connections == 1, "stats: 3 requests on 1 connection",
        cjson.encode(st))
    local reqs = server:requests()
    check(#reqs == 3 and reqs[1].connection == reqs[3].connection and reqs[3].connection_requests == 3
        and reqs[2].query == "x=1" and reqs[1].headers.authorization == "Bearer " .. mock.KEY
        and reqs[1].method == "GET" and reqs[1].path == "/v1/catalogs" and reqs[1].body == "",
        "recorded requests")
    req("POST", "/products/search", { catalog = "tidepool", limit = 5 })
    local last = server:last_request()
    check(last.body == cjson.encode({ catalog = "tidepool", limit = 5 }) and last.headers["content-type"] == "application/json",
        "last_request body and headers")
    r = req("GET", "/catalogs")
    check(tonumber(r.headers["x-ratelimit-remaining"]) == 595, "rate counter restarts after reset",
        r.headers["x-ratelimit-remaining"])

    -- faults
    server:reset()
    server:fault { path = "/v1/catalogs", status = 429, retry_after = 2, times = 1 }
    r = req("GET", "/catalogs")
    check(r.status == 429 and r.headers["retry-after"] == "2" and detail_of(r) == "rate_limit_exceeded"
        and r.headers["x-ratelimit-remaining"] == "0", "fault 429 + Retry-After")
    r = req("GET", "/catalogs")
    check(r.status == 200, "fault consumed after times=1")
    check(#server:requests() == 2, "faulted requests are recorded too")
    server:fault { { path = "/v1/products/search", status = 503, times = 1 },
                   { status = 500, body = "", times = 1 } }
    r = req("POST", "/products/search", {})
    check(r.status == 503, "fault 503 (rules match in order)")
    r = req("GET", "/catalogs")
    check(r.status == 500 and r.body == "", "fault 500 with empty body on any path")
    server:fault { status = 302, headers = { Location = "http://127.0.0.1:1/elsewhere" }, times = 1 }
    r = req("GET", "/catalogs")
    check(r.status == 302 and r.headers.location == "http://127.0.0.1:1/elsewhere", "fault 302 Location")
    server:fault { status = 204, times = 1 }
    r = req("GET", "/catalogs")
    check(r.status == 204 and r.body == "", "fault 204 empty")
    server:fault { latency_ms = 400, times = 1 }
    r = req("GET", "/catalogs")
    check(r.status == 200 and r.time >= 0.39, "fault latency_ms 400", r.time)
    server:fault { mode = "non_json", times = 1 }
    r = req("GET", "/catalogs")
    check(r.status == 200 and r.body == "<html>oops</html>" and r.headers["content-type"]:match("^text/html"),
        "fault non_json")
    server:fault { mode = "truncated", times = 1 }
    r = req("GET", "/catalogs")
    check(r.status == 200 and r.json == nil and #r.body > 10 and r.rc == 0, "fault truncated (complete message, cut JSON)",
        r.body)
    server:fault { mode = "drop", times = 1 }
    r = req("GET", "/catalogs")
    check(r.rc == 18, "fault drop: curl sees a partial body (exit 18)", r.rc)
    server:fault { mode = "hang", seconds = 3, times = 1 }
    r = req("GET", "/catalogs", nil, { max_time = 1 })
    check(r.rc == 28, "fault hang: client times out (exit 28)", r.rc)
    server:fault { mode = "trickle", times = 1 }
    r = req("GET", "/catalogs", nil, { max_time = 2.5 })
    check(r.rc == 28 and r.status == 200 and #r.body >= 1 and #r.body <= 4, "fault trickle: headers then 1 byte/s",
        tostring(r.rc) .. " " .. #r.body)
    server:fault { mode = "invalid_utf8", times = 1 }
    r = req("GET", "/catalogs")
    check(r.status == 200 and r.body:find("\255\254", 1, true), "fault invalid_utf8")
    server:fault { mode = "deep", times = 1 }
    r = req("GET", "/catalogs")
    check(r.status == 200 and #r.body == 200000 and r.body:sub(1, 3) == "[[[", "fault deep")
    server:fault { mode = "gzip", times = 2 }
    r = req("GET", "/catalogs", nil, { curl = { "-H 'Accept-Encoding: gzip'" } })
    check(r.status == 200 and r.headers["content-encoding"] == "gzip" and r.body:sub(1, 2) == "\31\139", "fault gzip raw bytes")
    r = req("GET", "/catalogs", nil, { curl = { "--compressed" } })
    check(r.status == 200 and r.json and #r.json == 3, "fault gzip decodes to the real answer")
    server:fault { mode = "bad_gzip", times = 1 }
    r = req("GET", "/catalogs", nil, { curl = { "--compressed" } })
    check(r.rc == 61, "fault bad_gzip: curl cannot decode (exit 61)", r.rc)
    server:fault { path = "/v1/products/lookup", status = 503, times = 1 }
    r = req("POST", "/products/lookup", { url = facts.product_url })
    check(r.status == 503 and detail_of(r) == "product_lookup_fallback_unavailable", "fault 503 lookup default detail")
    r = req("GET", "/catalogs")
    check(r.status == 200, "back to normal after the faults")
    check(#server:faults() == 0, "every fault rule consumed")
    server:reset()
    check(server:stats().requests == 0 and #server:requests() == 0, "reset clears records")
end)
if not ok_run then
    failures = failures + 1
    io.write("FAIL error: ", tostring(err), "\n")
end

if server then
    local pid = server.pid
    server:stop()
    server:stop()
    local f = io.open("/proc/" .. pid .. "/stat")
    local gone = true
    if f then
        gone = f:read("*a"):match("^%d+ %b() (%a)") == "Z"
        f:close()
    end
    check(gone, "stop: nginx master gone")
    local kids = io.popen("pgrep -P " .. pid):read("*a")
    check(kids == "", "stop: no worker left")
    local dirf = io.open(server.prefix .. "/conf/nginx.conf")
    check(dirf == nil, "stop: prefix removed")
    if dirf then dirf:close() end
end
for _, suffix in ipairs { "", ".body", ".head", ".req" } do os.remove(tmp .. suffix) end
io.write(string.format("%d checks, %d failed\n", checks, failures))
os.exit(failures == 0 and 0 or 1)
