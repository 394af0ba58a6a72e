-- Handlers of the mock Octogen API, run inside nginx (lua-nginx-module).
--
--   /v1/...      the API (auth, catalogs, search, lookup, refresh; the newer
--                operations of octogen-api.md section 11 are in
--                mockplatform.lua), every request recorded before any fault
--                rule is applied
--   /_mock/...   control API for the tests (no auth, not recorded)
--
-- Authentication (section 11.2, 11.11):
--   no Authorization header   the keyless trial: POST /products/search,
--                             POST /products/lookup (not on_demand_only: 401
--                             keyless_trial_capability_not_included) and GET
--                             /domains are served with every catalog, 30 a
--                             client IP (POST /_mock/keyless {"limit": n}),
--                             then 429 keyless_trial_exhausted; any other
--                             /v1 path: 401 keyless_trial_endpoint_not_included
--   "Bearer" + nothing        401 "Invalid API key"
--   another scheme            401 "Authorization Bearer token required"
--   octo_merchant_key         403 api_key_org_type_forbidden everywhere
--
-- nginx runs one worker by default, so state kept in the shared dicts is
-- changed by one Lua VM; nothing yields between reading and writing a value.
-- mock.start{workers = n} runs more: then the recording, the counters, the
-- rate_limit bucket and hold_ms (all in shared dicts, updated atomically or
-- under a lock) are shared by every worker, while mockplatform's state
-- (voyages, URL lists, keyless counts, the other settings) and fault rules
-- with `times` are per worker: use several workers only for load.
--
-- Rate limiting (octogen-api.md 7.3), configure{rate_limit = {per_second =
-- N, burst = M}} (default off: X-RateLimit-* come from a plain counter of
-- requests against 600 a minute that never refuses): a token bucket per
-- organization (a key without one: per key; keyless: per client IP), full
-- (M tokens, default max(1, N)) at first and refilled at N a second. A /v1
-- request that finds less than one token is answered 429
-- {"detail":"rate_limit_exceeded"} with Retry-After (whole seconds until a
-- token, at least 1) before any fault rule or handler; it is recorded (it
-- reached the mock) and counted in /_mock/stats "rate_limited". Every
-- answer then says X-RateLimit-Limit: N*60 (per minute, as the docs),
-- X-RateLimit-Remaining: the whole tokens left, X-RateLimit-Reset: the epoch
-- second the bucket is full again. A request without a valid key is not
-- counted (its 401 comes first). configure{hold_ms = n} holds every API
-- answer n ms (ngx.sleep) before it is sent, 429s included.

local data = require "mockdata"
local json = require "mockjson"
local cjson = require "cjson"
local platform = require "mockplatform"

local ngx = ngx
local null, array = json.null, json.array
local concat, format, tostring, tonumber, type, pairs, ipairs =
    table.concat, string.format, tostring, tonumber, type, pairs, ipairs
local floor = math.floor

local M = {}

local DB            -- the data set, built once in init_by_lua
local RATE_LIMIT = 600
local MAX_TARGETS = 500

local state = ngx.shared.mock_state       -- counters, fault rules
local requests = ngx.shared.mock_requests -- recorded requests "1".."n"
local conns = ngx.shared.mock_conns       -- connection serials, on-demand cache

---------------------------------------------------------------------------
-- data set and wire objects

local function opt(v)
    if v == nil then return null end
    return v
end

local function brand_view(b)
    return { name = b.name, slug = b.slug, url = opt(b.url), description = null }
end

local function rating_view(p)
    if not p.rating then return null end
    return { average = p.rating.average, count = p.rating.count }
end

local function list_item(p, score)
    return {
        uuid = p.uuid, catalogKey = p.catalog, productUrl = p.url, title = p.title,
        brand = brand_view(p.brand), currentPrice = p.price, originalPrice = opt(p.original_price),
        imageUrl = opt(p.image_url), images = array { unpack(p.images) }, rating = rating_view(p),
        isActive = true, displayMatchScore = opt(score), updatedAt = p.updated_at,
    }
end

local function product_view(p)
    local cat = DB.catalog[p.catalog]
    local v = list_item(p, nil)
    v.currency = p.currency
    v.description = opt(p.description)
    v.inStock = p.in_stock
    v.sizes = array { unpack(p.sizes) }
    v.tags = array { unpack(p.tags) }
    v.colors = array { { label = p.color.label, hexCode = p.color.hex, swatchUrl = null } }
    local categories = array()
    for i, name in ipairs(p.category_path) do
        local url = null
        if cat.base then url = cat.base .. "/collections/" .. data.slugify(name) end
        categories[i] = { name = name, url = url }
    end
    v.categories = categories
    v.breadcrumbs = array()
    v.variants = array()
    v.promotions = array()
    v.reviews = array()
    v.videos = array()
    v.details = {
        materials = array { p.material }, fit = array { p.fit }, patterns = array { unpack(p.patterns) },
        dimensions = opt(p.dimensions),
    }
    v.audience = { genders = array { p.gender }, ageGroups = array { unpack(p.age_groups) } }
    v.identifiers = { productId = p.product_id, gtin = opt(p.gtin), productGroupId = p.group_id }
    local attributes = {}
    for k, vals in pairs(p.attributes) do attributes[k] = array { unpack(vals) } end
    v.enrichment = {
        type = p.type, gender = p.gender, color = p.color.label:lower(),
        color_family = p.color.family, category_path = array { unpack(p.category_path) },
        attributes = attributes, age_groups = array { unpack(p.age_groups) },
        is_activewear = p.is_activewear,
    }
    return v
end

local function item_json(p, scored)
    if scored then
        local s = p._item_scored
        if not s then s = json.encode(list_item(p, p.score)); p._item_scored = s end
        return s
    end
    local s = p._item
    if not s then s = json.encode(list_item(p, nil)); p._item = s end
    return s
end

local H = {}   -- helpers for mockplatform, filled in below

function M.init()
    DB = data.build()
    M.db = DB
    H.db = DB
    platform.bind(H)
end

---------------------------------------------------------------------------
-- responses

local function common_headers()
    local ctx = ngx.ctx
    return {
        { "X-Request-Id", ctx.request_id },
        { "X-RateLimit-Limit", tostring(ctx.limit or RATE_LIMIT) },
        { "X-RateLimit-Remaining", tostring(ctx.remaining) },
        { "X-RateLimit-Reset", tostring(ctx.reset) },
    }
end

-- Send a complete response. headers: map of extra headers (override).
local function send(status, body, headers, content_type)
    ngx.status = status
    ngx.header["Content-Type"] = content_type or "application/json"
    if ngx.ctx.request_id then
        for _, h in ipairs(common_headers()) do ngx.header[h[1]] = h[2] end
    end
    if headers then
        for k, v in pairs(headers) do
            if v == null or v == false then ngx.header[k] = nil else ngx.header[k] = tostring(v) end
        end
    end
    body = body or ""
    if status ~= 204 and status ~= 304 and (not headers or headers["Content-Length"] == nil) then
        ngx.header["Content-Length"] = #body
    end
    ngx.send_headers()
    if body ~= "" and status ~= 204 and status ~= 304 then ngx.print(body) end
    return ngx.exit(ngx.HTTP_OK)
end

local function detail(status, d, headers)
    return { status = status, body = json.encode({ detail = d }), headers = headers }
end

local function ok(status, value)
    return { status = status, body = type(value) == "string" and value or json.encode(value) }
end

local function verr(loc, msg, typ, input, ctx)
    local e = { loc = array(loc), msg = msg, type = typ }
    if input ~= nil then e.input = input end
    if ctx ~= nil then e.ctx = ctx end
    return e
end

local function validation(errors)
    return detail(422, array(errors))
end

---------------------------------------------------------------------------
-- request body helpers

local function read_body()
    ngx.req.read_body()
    local body = ngx.req.get_body_data()
    if not body then
        local path = ngx.req.get_body_file()
        if path then
            local f = io.open(path, "rb")
            if f then body = f:read("*a"); f:close() end
        end
    end
    return body or ""
end

local function is_list(v)
    if type(v) ~= "table" then return false end
    local n, count = #v, 0
    for _ in pairs(v) do count = count + 1 end
    return count == n
end

-- Decode a JSON object body; returns table or an error response.
local function object_body(raw)
    if raw:match("^%s*$") then
        return nil, validation { verr({ "body" }, "Field required", "missing", null) }
    end
    local v, err = json.decode(raw)
    if v == nil and err then
        return nil, validation { verr({ "body", 0 }, "JSON decode error", "json_invalid", {},
            { error = "Expecting value" }) }
    end
    if not raw:match("^%s*{") then
        return nil, validation { verr({ "body" },
            "Input should be a valid dictionary or object to extract fields from",
            "model_attributes_type", v) }
    end
    return v
end

local function extra_keys(body, allowed, loc_prefix, errors)
    local extra = {}
    for k in pairs(body) do
        if not allowed[k] then extra[#extra + 1] = tostring(k) end
    end
    table.sort(extra)
    for _, k in ipairs(extra) do
        local loc = { unpack(loc_prefix) }
        loc[#loc + 1] = k
        errors[#errors + 1] = verr(loc, "Extra inputs are not permitted", "extra_forbidden", body[k])
    end
end

local function absent(v) return v == nil or v == null end

local function check_string(v, loc, errors, min_len)
    if absent(v) then return end
    if type(v) ~= "string" then
        errors[#errors + 1] = verr(loc, "Input should be a valid string", "string_type", v)
    elseif min_len and #v < min_len then
        errors[#errors + 1] = verr(loc, "String should have at least 1 character",
            "string_too_short", v, { min_length = min_len })
    end
end

local function check_enum(v, loc, choices, errors)
    if absent(v) then return end
    for _, c in ipairs(choices) do if v == c then return end end
    local quoted = {}
    for i, c in ipairs(choices) do quoted[i] = "'" .. c .. "'" end
    local expected
    if #quoted == 2 then
        expected = quoted[1] .. " or " .. quoted[2]
    else
        expected = concat(quoted, ", ", 1, #quoted - 1) .. " or " .. quoted[#quoted]
    end
    errors[#errors + 1] = verr(loc, "Input should be " .. expected, "enum", v, { expected = expected })
end

local function check_bool(v, loc, errors)
    if absent(v) or type(v) == "boolean" then return end
    errors[#errors + 1] = verr(loc, "Input should be a valid boolean", "bool_type", v)
end

local function check_number(v, loc, errors)
    if absent(v) or type(v) == "number" then return end
    errors[#errors + 1] = verr(loc, "Input should be a valid number", "float_type", v)
end

local function url_ok(url)
    return data.normalize_url(url) ~= nil
end

H.detail, H.ok, H.verr, H.validation = detail, ok, verr, validation
H.object_body, H.extra_keys, H.check_string, H.check_enum, H.check_bool, H.is_list =
    object_body, extra_keys, check_string, check_enum, check_bool, is_list
H.item_json = function(p, scored) return item_json(p, scored) end
H.RATE_LIMIT = RATE_LIMIT

---------------------------------------------------------------------------
-- auth and grants

-- The caller behind a present Authorization header: {key, grants,
-- principal (mockdata.PRINCIPALS)}, or nil and the 401.
local function authenticate()
    local h = ngx.var.http_authorization
    if type(h) ~= "string" then return nil, detail(401, "Authorization Bearer token required",
        { ["WWW-Authenticate"] = "Bearer" }) end
    local scheme, token = h:match("^%s*(%S+)%s*(.-)%s*$")
    if not scheme or scheme:lower() ~= "bearer" then
        return nil, detail(401, "Authorization Bearer token required", { ["WWW-Authenticate"] = "Bearer" })
    end
    if token == "" or token:find("%s") then return nil, detail(401, "Invalid API key") end
    local key = token
    local grants = data.grants(token)
    if not grants then
        -- an OAuth2 access token from /oauth/token, until it expires
        local expiry = state:get("token:" .. token)
        if expiry and expiry > ngx.now() then key = "octo_test_key"; grants = data.grants(key) end
    end
    if not grants then return nil, detail(401, "Invalid API key") end
    return { key = key, grants = grants, principal = data.PRINCIPALS[key] or { principal = "api_key" } }
end

local ALL_CATALOGS  -- the keyless trial's grants: every catalog

---------------------------------------------------------------------------
-- POST /oauth/token: OAuth2 client credentials (RFC 6749 section 4.4).
-- Known client: octo_client / octo_secret; a client id ending in
-- "_ttl_<n>" gets tokens that live n seconds (default 7200).

local function oauth_error(status, code)
    return { status = status, body = json.encode({ error = code }) }
end

local function oauth_token(raw)
    if ngx.req.get_method() ~= "POST" then return detail(405, "Method Not Allowed", { Allow = "POST" }) end
    local ctype = ngx.var.http_content_type or ""
    if not ctype:find("application/x-www-form-urlencoded", 1, true) then
        return oauth_error(400, "invalid_request")
    end
    local form = ngx.decode_args(raw or "", 0)
    if form.grant_type ~= "client_credentials" then return oauth_error(400, "unsupported_grant_type") end
    local id, secret = form.client_id, form.client_secret
    local auth = ngx.var.http_authorization
    if auth and auth:match("^Basic ") then
        local pair = ngx.decode_base64(auth:sub(7)) or ""
        id, secret = pair:match("^([^:]*):(.*)$")
        id, secret = id and ngx.unescape_uri(id), secret and ngx.unescape_uri(secret)
    end
    if type(id) ~= "string" or id:sub(1, 11) ~= "octo_client" or secret ~= "octo_secret" then
        return oauth_error(401, "invalid_client")
    end
    local ttl = tonumber(id:match("_ttl_(%d+)$")) or 7200
    local token = "oat-" .. state:incr("oauth_token", 1, 0)
    state:set("token:" .. token, ngx.now() + ttl)
    local res = { access_token = token, token_type = "Bearer", expires_in = ttl }
    if type(form.scope) == "string" then res.scope = form.scope end
    return ok(200, res)
end

local function grant_set(grants)
    local s = {}
    for _, k in ipairs(grants) do s[k] = true end
    return s
end

---------------------------------------------------------------------------
-- GET /v1/catalogs

local catalogs_cache = {}

local function catalogs(grants)
    local cached = catalogs_cache[grants]
    if cached then return ok(200, cached) end
    local out = array()
    for _, key in ipairs(grants) do
        local c = DB.catalog[key]
        out[#out + 1] = {
            catalog = c.key, displayName = c.name, sourceBaseUrl = opt(c.base),
            productCount = #c.products, lastIndexedAt = opt(c.indexed),
        }
    end
    catalogs_cache[grants] = json.encode(out)
    return ok(200, catalogs_cache[grants])
end

---------------------------------------------------------------------------
-- POST /v1/products/search

local SEARCH_KEYS = {
    catalog = true, q = true, facets = true, price_min = true, price_max = true, cursor = true,
    limit = true, text_search_query = true, catalogs = true, debug = true, diversity = true,
}

local function encode_cursor(offset)
    return ngx.encode_base64("v1:" .. offset)
end

local function decode_cursor(cursor)
    if type(cursor) ~= "string" then return 0 end
    local raw = ngx.decode_base64(cursor)
    local n = raw and raw:match("^v1:(%d+)$")
    n = tonumber(n)
    if not n or n > 1e9 then return 0 end
    return n
end

local search_cache, search_cache_n = {}, 0

local function search(grants, raw)
    local body, err = object_body(raw)
    if not body then return err end
    local errors = {}
    extra_keys(body, SEARCH_KEYS, { "body" }, errors)
    check_string(body.catalog, { "body", "catalog" }, errors, 1)
    check_string(body.q, { "body", "q" }, errors)
    check_string(body.cursor, { "body", "cursor" }, errors)
    check_number(body.price_min, { "body", "price_min" }, errors)
    check_number(body.price_max, { "body", "price_max" }, errors)
    check_bool(body.debug, { "body", "debug" }, errors)
    check_bool(body.diversity, { "body", "diversity" }, errors)

    local limit = 50
    local l = body.limit
    if l ~= nil then
        if type(l) ~= "number" then
            errors[#errors + 1] = verr({ "body", "limit" }, "Input should be a valid integer", "int_type", l)
        elseif l ~= floor(l) then
            errors[#errors + 1] = verr({ "body", "limit" },
                "Input should be a valid integer, got a number with a fractional part", "int_from_float", l)
        elseif l < 1 then
            errors[#errors + 1] = verr({ "body", "limit" }, "Input should be greater than or equal to 1",
                "greater_than_equal", l, { ge = 1 })
        elseif l > 100 then
            errors[#errors + 1] = verr({ "body", "limit" }, "Input should be less than or equal to 100",
                "less_than_equal", l, { le = 100 })
        else
            limit = l
        end
    end

    local facets = {}
    if not absent(body.facets) then
        if not is_list(body.facets) then
            errors[#errors + 1] = verr({ "body", "facets" }, "Input should be a valid list", "list_type", body.facets)
        else
            for i, f in ipairs(body.facets) do
                local loc = { "body", "facets", i - 1 }
                if type(f) ~= "table" or (#f > 0) then
                    errors[#errors + 1] = verr(loc, "Input should be a valid dictionary or instance of Facet",
                        "model_type", f)
                else
                    local ok_f = true
                    if absent(f.name) then
                        errors[#errors + 1] = verr({ "body", "facets", i - 1, "name" }, "Field required", "missing", f)
                        ok_f = false
                    elseif type(f.name) ~= "string" then
                        errors[#errors + 1] = verr({ "body", "facets", i - 1, "name" },
                            "Input should be a valid string", "string_type", f.name)
                        ok_f = false
                    end
                    if absent(f.values) then
                        errors[#errors + 1] = verr({ "body", "facets", i - 1, "values" }, "Field required", "missing", f)
                        ok_f = false
                    elseif not is_list(f.values) then
                        errors[#errors + 1] = verr({ "body", "facets", i - 1, "values" },
                            "Input should be a valid list", "list_type", f.values)
                        ok_f = false
                    else
                        for j, v in ipairs(f.values) do
                            if type(v) ~= "string" then
                                errors[#errors + 1] = verr({ "body", "facets", i - 1, "values", j - 1 },
                                    "Input should be a valid string", "string_type", v)
                                ok_f = false
                            end
                        end
                    end
                    if ok_f then facets[#facets + 1] = { name = f.name, values = f.values } end
                end
            end
        end
    end

    local tsq = body.text_search_query
    local tsq_text
    if not absent(tsq) then
        if type(tsq) ~= "table" or #tsq > 0 then
            errors[#errors + 1] = verr({ "body", "text_search_query" },
                "Input should be a valid dictionary or instance of TextSearchQuery", "model_type", tsq)
        elseif absent(tsq.text) then
            errors[#errors + 1] = verr({ "body", "text_search_query", "text" }, "Field required", "missing", tsq)
        elseif type(tsq.text) ~= "string" then
            errors[#errors + 1] = verr({ "body", "text_search_query", "text" },
                "Input should be a valid string", "string_type", tsq.text)
        else
            tsq_text = tsq.text
        end
    end

    local wanted
    if not absent(body.catalogs) then
        if not is_list(body.catalogs) then
            errors[#errors + 1] = verr({ "body", "catalogs" }, "Input should be a valid list", "list_type", body.catalogs)
        elseif #body.catalogs > 500 then
            errors[#errors + 1] = verr({ "body", "catalogs" },
                "List should have at most 500 items after validation, not " .. #body.catalogs, "too_long",
                body.catalogs, { field_type = "List", max_length = 500, actual_length = #body.catalogs })
        else
            for j, c in ipairs(body.catalogs) do
                check_string(c, { "body", "catalogs", j - 1 }, errors, 1)
            end
            if #body.catalogs > 0 then wanted = body.catalogs end
        end
        if not absent(body.catalog) then
            errors[#errors + 1] = verr({ "body" }, "Value error, catalog and catalogs are mutually exclusive",
                "value_error", body, { error = {} })
        end
    end

    if #errors > 0 then return validation(errors) end

    if not absent(body.catalog) then wanted = { body.catalog } end
    local granted = grant_set(grants)
    if wanted then
        for _, key in ipairs(wanted) do
            if not DB.catalog[key] then return detail(404, "catalog_not_found") end
            if not granted[key] then return detail(403, "catalog_not_granted") end
        end
    else
        wanted = grants
    end

    local q = not absent(body.q) and body.q or tsq_text
    local query = {
        catalogs = wanted, q = q, facets = facets,
        price_min = not absent(body.price_min) and body.price_min or nil,
        price_max = not absent(body.price_max) and body.price_max or nil,
    }
    -- results depend only on the filters and the fixed data set: memoize
    local cache_key = json.encode(query)
    local results = search_cache[cache_key]
    if not results then
        results = data.search(DB, query)
        if search_cache_n >= 512 then search_cache, search_cache_n = {}, 0 end
        search_cache[cache_key] = results
        search_cache_n = search_cache_n + 1
    end
    local scored = #data.keywords(q) > 0
    local offset = decode_cursor(body.cursor)
    local parts = {}
    local last = offset + limit
    if last > #results then last = #results end
    for i = offset + 1, last do parts[#parts + 1] = item_json(results[i], scored) end
    local next_cursor = "null"
    if last < #results then next_cursor = json.quote(encode_cursor(last)) end
    local extra = ""
    if body.debug == true then
        extra = ',"effectiveQuery":' .. json.encode({
            q = opt(q), catalogs = array { unpack(wanted) }, facets = array(facets),
            price_min = opt(body.price_min), price_max = opt(body.price_max), limit = limit,
            offset = offset, total = #results,
        })
    end
    return ok(200, '{"items":[' .. concat(parts, ",") .. '],"nextCursor":' .. next_cursor .. extra .. "}")
end

---------------------------------------------------------------------------
-- POST /v1/products/lookup

local LOOKUP_KEYS = { url = true, resolutionMode = true, onDemandCachePolicy = true, matchMode = true }

local function unsafe_host(host)
    return host == "localhost" or host:match("^127%.") or host:match("^10%.")
        or host:match("^192%.168%.") or host:match("^169%.254%.") or host:match("^%[")
        or host == "0.0.0.0" or host:match("%.local$") or host:match("%.internal$")
end

local function titleize(seg)
    local words = {}
    for w in seg:gmatch("[%w]+") do words[#words + 1] = w:sub(1, 1):upper() .. w:sub(2) end
    if #words == 0 then return "Untitled Product" end
    return concat(words, " ")
end

local function on_demand(url, policy)
    local normalized, loose, host = data.normalize_url(url)
    if unsafe_host(host) then return detail(422, "unsafe_url") end
    local resolved = url:gsub("#.*$", "")
    local path = loose:match("^https://[^/]+(.*)$") or "/"
    local seg = path:match("([^/]+)/?$") or host
    local h = 0
    for i = 1, #normalized do h = (h * 31 + normalized:byte(i)) % 100000 end
    local cache
    if policy == "refresh" then
        cache = "refresh"
    else
        local added = conns:add("od:" .. normalized, true)
        cache = added and "miss" or "hit"
    end
    return ok(200, {
        requestId = ngx.ctx.request_id, source = "on_demand",
        catalogKey = null, catalogDisplayName = null, sourceBaseUrl = null,
        requestedUrl = url, normalizedUrl = null, resolvedUrl = resolved, canonicalUrl = resolved,
        product = {
            uuid = null, catalogKey = null, isActive = null, productUrl = resolved,
            title = titleize(seg), currentPrice = (1000 + h % 20000) / 100 - ((h % 2 == 0) and 0.5 or 0),
            originalPrice = null, currency = "EUR", imageUrl = null, images = array(),
            description = null, inStock = null, sizes = array(), colors = array(),
            rating = null, enrichment = null,
        },
        resolution = { completeness = "partial", method = "open_graph", rendered = false,
                       missingFields = array { "brand", "inStock" } },
        cacheStatus = cache, warnings = array { "missing_brand" },
    })
end

local function lookup(grants, raw)
    local body, err = object_body(raw)
    if not body then return err end
    local errors = {}
    extra_keys(body, LOOKUP_KEYS, { "body" }, errors)
    if absent(body.url) then
        errors[#errors + 1] = verr({ "body", "url" }, "Field required", "missing", body)
    else
        check_string(body.url, { "body", "url" }, errors, 1)
    end
    check_enum(body.resolutionMode, { "body", "resolutionMode" }, { "auto", "index_only", "on_demand_only" }, errors)
    check_enum(body.onDemandCachePolicy, { "body", "onDemandCachePolicy" }, { "prefer_cache", "refresh" }, errors)
    check_enum(body.matchMode, { "body", "matchMode" }, { "strict", "loose" }, errors)
    if #errors > 0 then return validation(errors) end

    local url = body.url
    if not url_ok(url) then return detail(422, "invalid_product_url") end
    local mode = absent(body.resolutionMode) and "auto" or body.resolutionMode
    local policy = absent(body.onDemandCachePolicy) and "prefer_cache" or body.onDemandCachePolicy
    local strict = body.matchMode == "strict"

    if mode == "on_demand_only" then return on_demand(url, policy) end
    local found = data.find_url(DB, url, grants, strict)[1]
    if found then
        local cat = DB.catalog[found.catalog]
        local view = found._view
        if not view then view = json.raw(json.encode(product_view(found))); found._view = view end
        return ok(200, {
            requestId = null, source = "indexed", catalogKey = cat.key, catalogDisplayName = cat.name,
            sourceBaseUrl = opt(cat.base), requestedUrl = url, normalizedUrl = found.url,
            resolvedUrl = null, canonicalUrl = null, product = view, resolution = null,
            cacheStatus = null, warnings = array(),
        })
    end
    local _, _, host = data.normalize_url(url)
    if mode == "auto" and (host == "ondemand.example" or host:sub(-17) == ".ondemand.example") then
        return on_demand(url, policy)
    end
    return detail(404, "product_not_found")
end

---------------------------------------------------------------------------
-- POST /v1/products/refresh

local TARGET_KEYS = { url = true, uuid = true, catalog = true }

local function refresh(grants, raw)
    local body, err = object_body(raw)
    if not body then return err end
    local errors = {}
    extra_keys(body, { targets = true }, { "body" }, errors)
    local targets = body.targets
    if absent(targets) then
        errors[#errors + 1] = verr({ "body", "targets" }, "Field required", "missing", body)
    elseif not is_list(targets) then
        errors[#errors + 1] = verr({ "body", "targets" }, "Input should be a valid list", "list_type", targets)
    elseif #targets < 1 then
        errors[#errors + 1] = verr({ "body", "targets" },
            "List should have at least 1 item after validation, not 0", "too_short", array(),
            { field_type = "List", min_length = 1, actual_length = 0 })
    elseif #targets > MAX_TARGETS then
        errors[#errors + 1] = verr({ "body", "targets" },
            "List should have at most 500 items after validation, not " .. #targets, "too_long", targets,
            { field_type = "List", max_length = MAX_TARGETS, actual_length = #targets })
    else
        for i, t in ipairs(targets) do
            local loc = { "body", "targets", i - 1 }
            if type(t) ~= "table" or #t > 0 then
                errors[#errors + 1] = verr(loc, "Input should be a valid dictionary or instance of RefreshTarget",
                    "model_type", t)
            else
                local n = #errors
                extra_keys(t, TARGET_KEYS, loc, errors)
                for _, k in ipairs { "url", "uuid", "catalog" } do
                    check_string(t[k], { "body", "targets", i - 1, k }, errors, 1)
                end
                if #errors == n and absent(t.url) == absent(t.uuid) then
                    errors[#errors + 1] = verr(loc, "Value error, Exactly one of url or uuid is required",
                        "value_error", t, { error = {} })
                end
            end
        end
    end
    if #errors > 0 then return validation(errors) end

    local granted = grant_set(grants)
    for _, t in ipairs(targets) do
        if not absent(t.catalog) and not granted[t.catalog] then
            return detail(403, "catalog_not_granted")
        end
    end

    local accepted, rejected = array(), array()
    local function reject(t, code, message)
        rejected[#rejected + 1] = { target = t, code = code, message = message }
    end
    local NOT_FOUND = "No indexed product matched this target in the granted catalogs."
    for _, t in ipairs(targets) do
        local catalog = not absent(t.catalog) and t.catalog or nil
        if not absent(t.uuid) then
            local p = DB.by_uuid[t.uuid]
            if p and granted[p.catalog] and (not catalog or p.catalog == catalog) then
                accepted[#accepted + 1] = { catalog = p.catalog, url = p.url }
            else
                reject(t, "product_not_found", NOT_FOUND)
            end
        elseif not url_ok(t.url) then
            reject(t, "invalid_product_url", "URL must be an absolute http(s) URL.")
        elseif catalog then
            local p = data.find_url(DB, t.url, { catalog }, false)[1]
            accepted[#accepted + 1] = { catalog = catalog, url = p and p.url or t.url }
        else
            local found = data.find_url(DB, t.url, grants, false)
            local cats, first = {}, nil
            local ncat = 0
            for _, p in ipairs(found) do
                if not cats[p.catalog] then cats[p.catalog] = true; ncat = ncat + 1 end
                first = first or p
            end
            if ncat == 1 then
                accepted[#accepted + 1] = { catalog = first.catalog, url = first.url }
            elseif ncat > 1 then
                reject(t, "ambiguous_url", "URL matched more than one granted catalog; include catalog.")
            else
                reject(t, "product_not_found", NOT_FOUND)
            end
        end
    end
    local any = #accepted > 0
    local res = {
        requestId = ngx.ctx.request_id, submitted = #targets,
        workflowId = any and ("wf-" .. state:incr("workflow", 1, 0)) or null,
        workflowError = null, workflowStatus = any and "launched" or null,
        workflowAttempts = any and 1 or 0, accepted = accepted, rejected = rejected,
    }
    return ok(any and 202 or 400, res)
end

---------------------------------------------------------------------------
-- routing

local function by_grants(f)
    return function(who, raw) return f(who.grants, raw) end
end

-- path -> { METHOD = handler(who, raw, method, param) }
local ROUTES = {
    ["/v1/catalogs"] = { GET = by_grants(catalogs), retired = true },
    ["/v1/products/search"] = { POST = by_grants(search) },
    ["/v1/products/lookup"] = { POST = by_grants(lookup) },
    ["/v1/products/refresh"] = { POST = by_grants(refresh), retired = true },
    ["/v1/products/more-like-this"] = { POST = platform.more_like_this },
    ["/v1/products/resolve-from-html"] = { POST = platform.resolve_from_html },
    ["/v1/domains"] = { GET = function() return platform.domains() end },
    ["/v1/me"] = { GET = platform.me },
    ["/v1/voyage"] = { GET = platform.voyage, POST = platform.voyage },
    ["/v1/coverage/url-lists"] = { GET = platform.url_lists, POST = platform.url_lists },
}

-- Routes with one path parameter, matched on the raw (still
-- percent-encoded) path so an encoded "/" stays inside the parameter.
local PARAM_ROUTES = {
    { "^/v1/voyage/([^/]+)$", { GET = platform.voyage_task } },
    { "^/v1/coverage/url%-lists/([^/]+)$", { GET = platform.url_list, DELETE = platform.url_list } },
    { "^/v1/coverage/url%-lists/([^/]+)/urls$", { GET = platform.urls, POST = platform.urls } },
    { "^/v1/coverage/url%-lists/([^/]+)/urls/remove$", { POST = platform.remove_urls } },
    { "^/v1/coverage/url%-lists/([^/]+)/urls/contains$", { POST = platform.contains_urls } },
}

local KEYLESS = { ["POST /v1/products/search"] = true, ["POST /v1/products/lookup"] = true,
                  ["GET /v1/domains"] = true }

local function raw_path()
    return (ngx.var.request_uri or ""):match("^[^?]*")
end

local function find_route(uri)
    local r = ROUTES[uri]
    if r then
        if r.retired and platform.config.newest then return nil end
        return r, nil
    end
    local path = raw_path()
    for _, pr in ipairs(PARAM_ROUTES) do
        local p = path:match(pr[1])
        if p then return pr[2], ngx.unescape_uri(p) end
    end
    return nil
end

local function allowed(r)
    local list = {}
    for _, m in ipairs { "GET", "POST", "DELETE" } do if r[m] then list[#list + 1] = m end end
    return concat(list, ", ")
end

local function route(method, uri, raw)
    local r, param = find_route(uri)
    if ngx.var.http_authorization == nil and uri:sub(1, 4) == "/v1/" then
        -- the keyless trial (section 11.11): checked before routing, like
        -- a gateway in front of the API
        if not (r and r[method] and KEYLESS[method .. " " .. uri]) then
            return platform.keyless_refusal(401, "keyless_trial_endpoint_not_included")
        end
        local refusal = platform.keyless_admit(method .. " " .. uri, raw)
        if refusal then return refusal end
        if not ALL_CATALOGS then
            ALL_CATALOGS = {}
            for _, c in ipairs(DB.catalogs) do ALL_CATALOGS[#ALL_CATALOGS + 1] = c.key end
        end
        return r[method]({ keyless = true, grants = ALL_CATALOGS, principal = { principal = "keyless" } },
            raw, method, param)
    end
    if not r then return detail(404, "Not Found") end
    local handler = r[method]
    if not handler then return detail(405, "Method Not Allowed", { Allow = allowed(r) }) end
    local who, err = authenticate()
    if not who then return err end
    local org = who.principal.org
    if org and org.type ~= "catalog_partner" then return detail(403, "api_key_org_type_forbidden") end
    return handler(who, raw, method, param)
end

---------------------------------------------------------------------------
-- faults

local DEFAULT_DETAIL = {
    [400] = "bad_request", [401] = "Invalid API key", [403] = "api_key_forbidden",
    [404] = "Not Found", [409] = "conflict", [429] = "rate_limit_exceeded",
    [500] = "Internal Server Error", [502] = "product_lookup_upstream_failed",
    [504] = "product_lookup_timed_out",
}

local function default_body(status, uri)
    if status < 200 or status == 204 or status == 304 or (status >= 300 and status < 400) then return "" end
    if status < 400 then return "{}" end
    local d = DEFAULT_DETAIL[status]
    if status == 503 then
        if uri == "/v1/products/refresh" then d = "product_refresh_unavailable"
        elseif uri == "/v1/products/lookup" then d = "product_lookup_fallback_unavailable"
        else d = "service_unavailable" end
    end
    return json.encode({ detail = d or ("error_" .. status) })
end

-- Take (and consume) the first rule matching this request, or nil.
local function take_fault(uri, method)
    local raw = state:get("faults")
    if not raw then return nil end
    local rules = cjson.decode(raw)
    for i, rule in ipairs(rules) do
        local path_ok = (absent(rule.path) or rule.path == uri)
            and (absent(rule.path_prefix) or uri:sub(1, #tostring(rule.path_prefix)) == rule.path_prefix)
        local method_ok = absent(rule.method) or tostring(rule.method):upper() == method
        if path_ok and method_ok then
            if type(rule.times) == "number" then
                rule.times = rule.times - 1
                if rule.times <= 0 then table.remove(rules, i) end
                if #rules == 0 then state:delete("faults") else state:set("faults", cjson.encode(rules)) end
            end
            return rule
        end
    end
    return nil
end

local REASONS = {
    [200] = "OK", [201] = "Created", [202] = "Accepted", [204] = "No Content", [302] = "Found",
    [400] = "Bad Request", [401] = "Unauthorized", [403] = "Forbidden", [404] = "Not Found",
    [405] = "Method Not Allowed", [422] = "Unprocessable Entity", [429] = "Too Many Requests",
    [500] = "Internal Server Error", [502] = "Bad Gateway", [503] = "Service Unavailable",
    [504] = "Gateway Timeout",
}

local function raw_head(status, content_length, extra)
    local lines = { format("HTTP/1.1 %d %s", status, REASONS[status] or "Unknown") }
    lines[#lines + 1] = "Content-Type: application/json"
    for _, h in ipairs(common_headers()) do lines[#lines + 1] = h[1] .. ": " .. h[2] end
    if content_length then lines[#lines + 1] = "Content-Length: " .. content_length end
    for _, l in ipairs(extra or {}) do lines[#lines + 1] = l end
    lines[#lines + 1] = "Connection: close"
    return concat(lines, "\r\n") .. "\r\n\r\n"
end

local function raw_socket()
    local sock, err = ngx.req.socket(true)
    if not sock then ngx.log(ngx.ERR, "raw socket: ", err) end
    return sock
end

local gzip -- lazily built zlib binding
local function gzip_string(s)
    if gzip == nil then
        gzip = false
        local ok_ffi, ffi = pcall(require, "ffi")
        if ok_ffi then
            pcall(ffi.cdef, [[
typedef struct octomock_z_stream_s {
  const unsigned char *next_in; unsigned int avail_in; unsigned long total_in;
  unsigned char *next_out; unsigned int avail_out; unsigned long total_out;
  const char *msg; void *state; void *zalloc; void *zfree; void *opaque;
  int data_type; unsigned long adler; unsigned long reserved;
} octomock_z_stream;
const char *zlibVersion(void);
int deflateInit2_(octomock_z_stream *strm, int level, int method, int windowBits,
                  int memLevel, int strategy, const char *version, int stream_size);
int deflate(octomock_z_stream *strm, int flush);
int deflateEnd(octomock_z_stream *strm);
]])
            local ok_lib, z = pcall(ffi.load, "libz.so.1")
            if ok_lib then
                gzip = function(input)
                    local strm = ffi.new("octomock_z_stream")
                    local rc = z.deflateInit2_(strm, 6, 8, 31, 8, 0, z.zlibVersion(), ffi.sizeof(strm))
                    if rc ~= 0 then return nil end
                    local cap = #input + floor(#input / 1000) + 128
                    local out = ffi.new("unsigned char[?]", cap)
                    strm.next_in = input
                    strm.avail_in = #input
                    strm.next_out = out
                    strm.avail_out = cap
                    rc = z.deflate(strm, 4) -- Z_FINISH
                    local n = cap - tonumber(strm.avail_out)
                    z.deflateEnd(strm)
                    if rc ~= 1 then return nil end -- Z_STREAM_END
                    return ffi.string(out, n)
                end
            else
                ngx.log(ngx.ERR, "cannot load zlib: ", z)
            end
        end
    end
    return gzip and gzip(s) or nil
end

local function apply_fault(rule, uri, method, raw)
    local headers = {}
    if type(rule.headers) == "table" then
        for k, v in pairs(rule.headers) do headers[k] = v end
    end
    if not absent(rule.retry_after) then headers["Retry-After"] = tostring(rule.retry_after) end
    local mode = rule.mode
    local status = tonumber(rule.status)

    if absent(mode) then
        if status == 429 and headers["X-RateLimit-Remaining"] == nil then
            headers["X-RateLimit-Remaining"] = "0"
        end
        local body = rule.body
        if absent(body) then
            -- rule.detail: any detail value; rule.code: a bare code string
            if rule.detail ~= nil then
                body = json.encode({ detail = rule.detail })
            elseif not absent(rule.code) then
                body = json.encode({ detail = tostring(rule.code) })
            else
                body = default_body(status, uri)
            end
        end
        return send(status, tostring(body), headers, headers["Content-Type"])
    end

    if mode == "non_json" then
        return send(status or 200, absent(rule.body) and "<html>oops</html>" or rule.body, headers,
            "text/html; charset=utf-8")
    elseif mode == "hang" then
        ngx.sleep(tonumber(rule.seconds) or 30)
        return ngx.exit(444)
    elseif mode == "deep" then
        local depth = tonumber(rule.depth) or 100000
        return send(status or 200, string.rep("[", depth) .. string.rep("]", depth), headers)
    elseif mode == "raw" then
        -- A hostile server: rule.raw goes on the wire as it is (status
        -- line, headers and all), then the connection is closed.
        local sock = raw_socket()
        if not sock then return ngx.exit(444) end
        sock:send(tostring(rule.raw or ""))
        return ngx.exit(444)
    elseif mode == "many_headers" then
        -- rule.count short header lines before a small JSON body.
        local sock = raw_socket()
        if not sock then return ngx.exit(444) end
        local n = tonumber(rule.count) or 60000
        local b = absent(rule.body) and "[]" or tostring(rule.body)
        local lines = { format("HTTP/1.1 %d OK", status or 200) }
        for i = 1, n do lines[#lines + 1] = "X-" .. i .. ": " .. (i % 10) end
        lines[#lines + 1] = "Content-Type: application/json"
        lines[#lines + 1] = "Content-Length: " .. #b
        lines[#lines + 1] = "Connection: close"
        sock:send(concat(lines, "\r\n") .. "\r\n\r\n" .. b)
        return ngx.exit(444)
    end

    -- the modes below start from the real answer
    local real = route(method, uri, raw)
    local body = real.body
    for k, v in pairs(real.headers or {}) do if headers[k] == nil then headers[k] = v end end
    status = status or real.status

    if mode == "invalid_utf8" then
        local bad, n = body:gsub('"title":"', '"title":"\255\254', 1)
        if n == 0 then bad, n = body:gsub('"displayName":"', '"displayName":"\255\254', 1) end
        if n == 0 then bad = '{"detail":"bad \255\254 bytes"}' end
        return send(status, bad, headers)
    elseif mode == "gzip" then
        local ae = ngx.var.http_accept_encoding or ""
        if ae:lower():find("gzip", 1, true) then
            local gz = gzip_string(body)
            if gz then
                headers["Content-Encoding"] = "gzip"
                headers["Vary"] = "Accept-Encoding"
                return send(status, gz, headers)
            end
        end
        return send(status, body, headers)
    elseif mode == "bad_gzip" then
        headers["Content-Encoding"] = "gzip"
        return send(status, body, headers)
    elseif mode == "truncated" or mode == "drop" or mode == "trickle" then
        local sock = raw_socket()
        if not sock then return ngx.exit(444) end
        local half = body:sub(1, floor(#body / 2))
        if mode == "truncated" then
            sock:send(raw_head(status, #half) .. half)
        elseif mode == "drop" then
            sock:send(raw_head(status, #body) .. half)
        else
            local ok_send = sock:send(raw_head(status, #body))
            local interval = tonumber(rule.interval) or 1
            for i = 1, #body do
                if not ok_send then break end
                ngx.sleep(interval)
                ok_send = sock:send(body:sub(i, i))
            end
        end
        return ngx.exit(444)
    end
    return send(500, json.encode({ detail = "mock: unknown fault mode " .. tostring(mode) }))
end

---------------------------------------------------------------------------
-- the rate_limit bucket and hold_ms (see the top of this file)
--
-- Settings live in mock_state, not in a module table, so that every worker
-- sees them: "rl_rate", "rl_burst" (absent: off), "hold_ms". A bucket is
-- two numbers, "rl:<id>:t" (tokens, fractional) and "rl:<id>:at" (when that
-- count was true). A shared dict has no compare-and-set and workers run in
-- parallel, so the read-refill-take-write runs under a lock ("rl:<id>:lock",
-- taken with add(); nothing yields while it is held); its 1 s expiry frees a
-- lock whose holder died.

local RL_PREFIX = "rl:"

local function rl_lock(name)
    for i = 1, 100000 do
        local ok_add, err = state:add(name, true, 1)
        if ok_add then return true end
        -- "no memory": go on unlocked rather than refuse the request
        if err ~= "exists" then return false end
        -- the holder runs on another CPU for microseconds; past a few
        -- spins it was preempted: let it run
        if i % 64 == 0 then ngx.sleep(0.001) end
    end
    return false
end

-- Whose bucket a /v1 request takes from, or nil (no valid key: the 401
-- comes from route()).
local function bucket_id()
    if ngx.var.http_authorization == nil then return "ip:" .. tostring(ngx.var.remote_addr) end
    local who = authenticate()
    if not who then return nil end
    local org = who.principal.org
    if org then return "org:" .. org.id end
    return "key:" .. who.key
end

-- Take a token for this request when the bucket is on: sets ngx.ctx.limit,
-- remaining and reset; returns the Retry-After seconds of a refusal, or nil.
local function rate_limit()
    local rate = state:get("rl_rate")
    if not rate then return nil end
    local burst = state:get("rl_burst") or 1
    local id = bucket_id()
    if not id then return nil end
    local key = RL_PREFIX .. id
    local locked = rl_lock(key .. ":lock")
    ngx.update_time()
    local now = ngx.now()
    local tokens, at = state:get(key .. ":t"), state:get(key .. ":at")
    if not tokens or not at then tokens, at = burst, now end
    -- at > now: another worker's clock read a hair later; count from it
    if now > at then
        tokens = math.min(burst, tokens + (now - at) * rate)
        at = now
    end
    local admitted = tokens >= 1
    if admitted then tokens = tokens - 1 end
    state:set(key .. ":t", tokens)
    state:set(key .. ":at", at)
    if locked then state:delete(key .. ":lock") end

    local ctx = ngx.ctx
    ctx.limit = floor(rate * 60 + 0.5)
    ctx.remaining = floor(tokens)
    ctx.reset = math.ceil(at + (burst - tokens) / rate)
    if admitted then return nil end
    state:incr("rate_limited", 1, 0)
    return math.max(1, math.ceil((1 - tokens) / rate))
end

local function clear_buckets()
    for _, k in ipairs(state:get_keys(0)) do
        if k:sub(1, #RL_PREFIX) == RL_PREFIX then state:delete(k) end
    end
end

-- POST/GET /_mock/config: rate_limit and hold_ms here, every other setting
-- in mockplatform; the answer lists them all.
local function config(method, raw)
    local bad = function(why)
        return { status = 400, body = json.encode({ detail = "mock: " .. why }) }
    end
    local rl, hold
    local rest = raw
    if method == "POST" then
        local ok_dec, v = pcall(cjson.decode, raw ~= "" and raw or "{}")
        if not ok_dec or type(v) ~= "table" then return bad("bad control body") end
        rl, hold = v.rate_limit, v.hold_ms
        v.rate_limit, v.hold_ms = nil, nil
        -- a finite number in [min, huge): cjson lets NaN and Infinity through
        local function finite_at_least(x, min)
            return type(x) == "number" and x == x and x >= min and x < math.huge
        end
        if rl ~= nil and rl ~= false and rl ~= cjson.null then
            if type(rl) ~= "table" or not finite_at_least(rl.per_second, 0) or rl.per_second == 0
                or (rl.burst ~= nil and not finite_at_least(rl.burst, 1)) then
                return bad("rate_limit must be false or {per_second = n > 0, burst = m >= 1}")
            end
        end
        if hold ~= nil and not finite_at_least(hold, 0) then
            return bad("hold_ms must be a number >= 0")
        end
        rest = next(v) == nil and "{}" or cjson.encode(v)
    end
    local res = platform.control("/_mock/config", method, rest)
    if res.status ~= 200 then return res end
    if rl ~= nil then
        clear_buckets()
        if type(rl) == "table" then
            state:set("rl_rate", rl.per_second)
            state:set("rl_burst", rl.burst or math.max(1, rl.per_second))
        else
            state:delete("rl_rate")
            state:delete("rl_burst")
        end
    end
    if hold ~= nil then state:set("hold_ms", hold) end
    local out = cjson.decode(res.body)
    local rate = state:get("rl_rate")
    out.rate_limit = rate and { per_second = rate, burst = state:get("rl_burst") } or false
    out.hold_ms = state:get("hold_ms") or 0
    return { status = 200, body = cjson.encode(out) }
end

---------------------------------------------------------------------------
-- recording

local function record(method, uri, raw)
    local h = ngx.req.get_headers(1000)
    local headers = {}
    for k, v in pairs(h) do
        if type(v) == "table" then v = concat(v, ", ") end
        headers[k:lower()] = v
    end
    local connection = tonumber(ngx.var.connection)
    -- The counter that differs between identical requests goes last: the
    -- LuaJIT in nginx hashes long strings from samples that include their
    -- last bytes, and with it in the middle every line of a benchmark fell
    -- into one hash chain (the mock slowed down as the run went on).
    local rec = cjson.encode({
        -- path: as sent (still percent-encoded); decoded_path: nginx's
        -- decoded, dot-segment-resolved form (what fault rules match)
        method = method, path = raw_path(), decoded_path = uri, query = ngx.var.args or "", headers = headers,
        body = raw, connection = connection,
    })
    rec = rec:sub(1, -2) .. ',"connection_requests":' .. tonumber(ngx.var.connection_requests) .. "}"
    local n = state:incr("req_n", 1, 0)
    local ok_set, err = requests:set(tostring(n), rec)
    if not ok_set then ngx.log(ngx.ERR, "cannot record request ", n, ": ", err) end
    if conns:add("c:" .. connection, true) then conns:incr("conn_n", 1, 0) end
end

---------------------------------------------------------------------------
-- control API

local function control(uri, method)
    ngx.ctx.request_id = nil
    if uri == "/_mock/reset" and method == "POST" then
        platform.reset()
        state:delete("faults")
        state:delete("used")
        state:delete("req_n")
        state:delete("rl_rate")
        state:delete("rl_burst")
        state:delete("hold_ms")
        state:delete("rate_limited")
        clear_buckets()
        requests:flush_all()
        requests:flush_expired()
        conns:flush_all()
        conns:flush_expired()
        return send(200, '{"ok":true}')
    elseif uri == "/_mock/requests" and method == "GET" then
        local n = state:get("req_n") or 0
        local parts = {}
        for i = 1, n do
            local r = requests:get(tostring(i))
            if r then parts[#parts + 1] = r end
        end
        return send(200, "[" .. concat(parts, ",") .. "]")
    elseif uri == "/_mock/faults" and method == "POST" then
        local raw = read_body()
        local ok_dec, v = pcall(cjson.decode, raw)
        if not ok_dec or type(v) ~= "table" then
            return send(400, '{"detail":"faults: body must be a JSON rule or array of rules"}')
        end
        if not raw:match("^%s*%[") then v = { v } end
        local rules = {}
        local cur = state:get("faults")
        if cur then rules = cjson.decode(cur) end
        for _, r in ipairs(v) do
            if type(r) ~= "table" then
                return send(400, '{"detail":"faults: each rule must be an object"}')
            end
            rules[#rules + 1] = r
        end
        if #rules > 0 then state:set("faults", cjson.encode(rules)) end
        return send(200, json.encode({ ok = true, faults = #rules }))
    elseif uri == "/_mock/faults" and method == "GET" then
        return send(200, state:get("faults") or "[]")
    elseif uri == "/_mock/revoke_tokens" and method == "POST" then
        -- every OAuth2 token issued so far stops working
        for _, k in ipairs(state:get_keys(0)) do
            if k:sub(1, 6) == "token:" then state:delete(k) end
        end
        return send(200, '{"ok":true}')
    elseif uri == "/_mock/stats" and method == "GET" then
        -- rate_limited only while the bucket is on or has refused some:
        -- specs compare the whole answer to {requests, connections}
        local limited = state:get("rate_limited")
        if not limited and state:get("rl_rate") then limited = 0 end
        return send(200, json.encode({
            requests = state:get("req_n") or 0, connections = conns:get("conn_n") or 0,
            rate_limited = limited,
        }))
    elseif uri == "/_mock/config" and (method == "POST" or method == "GET") then
        local res = config(method, method == "POST" and read_body() or "")
        return send(res.status, res.body)
    end
    local res = platform.control(uri, method, read_body())
    if res then return send(res.status, res.body, res.headers) end
    return send(404, '{"detail":"Not Found"}')
end

---------------------------------------------------------------------------
-- entry point (content_by_lua)

function M.handle()
    local uri = ngx.var.uri
    local method = ngx.req.get_method()
    if uri:sub(1, 7) == "/_mock/" then return control(uri, method) end

    local raw = read_body()
    record(method, uri, raw)

    local ctx = ngx.ctx
    ctx.request_id = "req-" .. state:incr("request_id", 1, 0)
    local used = state:incr("used", 1, 0)
    ctx.remaining = used >= RATE_LIMIT and 0 or RATE_LIMIT - used
    ctx.reset = ngx.time() + 60

    local retry_after
    if uri:sub(1, 4) == "/v1/" then retry_after = rate_limit() end
    local hold = state:get("hold_ms")
    if hold and hold > 0 then ngx.sleep(hold / 1000) end
    if retry_after then
        return send(429, '{"detail":"rate_limit_exceeded"}', { ["Retry-After"] = retry_after })
    end

    local rule = take_fault(uri, method)
    if uri == "/oauth/token" and not rule then
        local res = oauth_token(raw)
        return send(res.status, res.body, res.headers)
    end
    if rule then
        if tonumber(rule.latency_ms) then ngx.sleep(tonumber(rule.latency_ms) / 1000) end
        if not absent(rule.status) or not absent(rule.mode) then
            return apply_fault(rule, uri, method, raw)
        end
    end
    local res = route(method, uri, raw)
    return send(res.status, res.body, res.headers)
end

return M
