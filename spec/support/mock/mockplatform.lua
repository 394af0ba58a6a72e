-- The newest /v1 surface of the mock Octogen API (octogen-api.md section 11):
-- GET /domains, GET /me, voyages, coverage URL lists, more-like-this,
-- resolve-from-html, the keyless trial's allowance, and the "newest" mode.
-- mockserver.lua routes to the handlers here and hands over its helpers
-- (M.bind).
--
-- State (voyages, URL lists, keyless counts, the /domains set, settings)
-- lives in this module's tables: nginx runs one worker, so one Lua VM owns
-- it, and nothing yields between reading and writing. /_mock/reset restores
-- every default (M.reset).
--
-- Mock choices where section 11 leaves one open:
--   * a URL list is "provisioning" when created and "active" from the next
--     read of it (GET one, or GET the lists); bigQuery is set then
--   * a deleted list (delete_pending) stays readable and listed; it no
--     longer counts against the 5 live lists and its name is free
--   * URL-list normalization keeps www. and the port, drops a trailing
--     slash also from the root path ("https://a.example/" ->
--     "https://a.example"), keeps the order of the kept query parameters
--   * contains: an invalid URL gets normalizedUrl null, present false
--   * a voyage never advances by itself: POST /_mock/voyage_update moves it
--   * cursors of every list operation are checked: one the mock did not
--     issue is 422 {"detail":"invalid_cursor"}
--   * a super-admin key has no organization: voyages 403
--     voyage_org_type_forbidden, URL lists 403 url_list_requires_org_api_key

local data = require "mockdata"
local json = require "mockjson"
local cjson = require "cjson"

local ngx = ngx
local null, array = json.null, json.array
local concat, format, tostring, tonumber, type, pairs, ipairs =
    table.concat, string.format, tostring, tonumber, type, pairs, ipairs
local floor = math.floor

local M = {}

local H      -- helpers from mockserver (M.bind)
local DB
local detail, ok, verr, validation

---------------------------------------------------------------------------
-- settings and state

local DEFAULTS = {
    keyless_limit = 30,
    voyage_monthly = 20,
    voyage_concurrent = 5,
    url_list_capacity = 100000,
    url_list_limit = 5,
    newest = false,
}

M.config = {}
local S = {}          -- state, see M.reset
local list_seq = 0    -- never reset: ids stay unique across resets
local task_seq = 0

local domains_body, domains_etag, live_hosts

local function iso(t)
    return os.date("!%Y-%m-%dT%H:%M:%SZ", floor(t))
end

local function set_domains(list)
    local sorted = {}
    for i, d in ipairs(list) do
        sorted[i] = { host = d.host, catalog = d.catalog, catalogDisplayName = d.catalogDisplayName }
    end
    table.sort(sorted, function(a, b)
        if a.host ~= b.host then return a.host < b.host end
        return a.catalog < b.catalog
    end)
    domains_body = json.encode({ domains = array(sorted) })
    domains_etag = '"' .. ngx.md5(domains_body) .. '"'
    live_hosts = {}
    for _, d in ipairs(sorted) do
        local h = tostring(d.host):lower():gsub("%.+$", ""):gsub("^www%.", "")
        if not live_hosts[h] then live_hosts[h] = d.catalog end
    end
end

function M.reset()
    for k, v in pairs(DEFAULTS) do M.config[k] = v end
    S = {
        keyless = {},       -- client IP -> requests used
        tasks = {},         -- org id -> array of tasks, oldest first
        task_by_id = {},
        created_month = {}, -- org id -> {month, n}: voyages started this month
        lists = {},         -- org id -> array of lists, oldest first
        list_by_id = {},
    }
    set_domains(data.domains())
end

function M.bind(helpers)
    H = helpers
    DB = helpers.db
    detail, ok, verr, validation = H.detail, H.ok, H.verr, H.validation
    M.reset()
end

---------------------------------------------------------------------------
-- shared pieces

local function absent(v) return v == nil or v == null end

local function org_of(who)
    return who.principal and who.principal.org
end

local function query_args()
    return ngx.req.get_uri_args(100)
end

local function last_value(v)
    if type(v) == "table" then v = v[#v] end
    if v == true then v = "" end
    return v
end

-- limit query parameter: 1..100 (default `default`); appends errors.
local function query_limit(args, errors, default)
    local v = last_value(args.limit)
    if v == nil then return default end
    if not v:match("^%s*[+-]?%d+%s*$") then
        errors[#errors + 1] = verr({ "query", "limit" },
            "Input should be a valid integer, unable to parse string as an integer", "int_parsing", v)
        return default
    end
    local n = tonumber(v)
    if n < 1 then
        errors[#errors + 1] = verr({ "query", "limit" }, "Input should be greater than or equal to 1",
            "greater_than_equal", v, { ge = 1 })
    elseif n > 100 then
        errors[#errors + 1] = verr({ "query", "limit" }, "Input should be less than or equal to 100",
            "less_than_equal", v, { le = 100 })
    end
    return n
end

local function make_cursor(kind, n)
    return ngx.encode_base64(kind .. ":" .. n)
end

-- The number in a cursor this mock issued for `kind`, nil for none, or
-- false for a cursor it never issued.
local function read_cursor(kind, cursor)
    if cursor == nil then return nil end
    if type(cursor) ~= "string" then return false end
    local raw = ngx.decode_base64(cursor)
    if not raw or raw:sub(1, #kind + 1) ~= kind .. ":" then return false end
    local n = tonumber(raw:sub(#kind + 2):match("^(%d+)$"))
    if not n then return false end
    return n
end

local function invalid_cursor() return detail(422, "invalid_cursor") end

local function check_length(v, loc, errors, min, max)
    if type(v) ~= "string" then
        errors[#errors + 1] = verr(loc, "Input should be a valid string", "string_type", v)
    elseif #v < min then
        errors[#errors + 1] = verr(loc, "String should have at least " .. min .. " character"
            .. (min == 1 and "" or "s"), "string_too_short", v, { min_length = min })
    elseif #v > max then
        errors[#errors + 1] = verr(loc, "String should have at most " .. max .. " characters",
            "string_too_long", v, { max_length = max })
    end
end

---------------------------------------------------------------------------
-- keyless trial (section 11.11)

local GET_API_KEY = "https://octogen.ai/dashboard/api-keys"
local KEYLESS_ENDPOINTS = { "GET /v1/domains", "POST /v1/products/lookup", "POST /v1/products/search" }
local KEYLESS_MESSAGES = {
    keyless_trial_endpoint_not_included =
        "This endpoint needs an API key; the keyless trial covers search, lookup and domains only.",
    keyless_trial_capability_not_included = "This option needs an API key (on_demand_only lookups).",
    keyless_trial_exhausted = "The keyless trial allows 30 requests per client IP address per 24 hours.",
}

local function keyless_refusal(status, code, headers)
    local trial = { limit = M.config.keyless_limit, scope = "per client IP address", window = "24h" }
    if code == "keyless_trial_endpoint_not_included" then trial.endpoints = array { unpack(KEYLESS_ENDPOINTS) } end
    return detail(status, {
        code = code, message = KEYLESS_MESSAGES[code], getApiKey = GET_API_KEY,
        isCoverageAnswer = false, keylessTrial = trial,
    }, headers)
end
M.keyless_refusal = keyless_refusal

--- A request without Authorization to a keyless operation: nil to serve it
--- (one request of the allowance used), or the refusal.
function M.keyless_admit(key, raw)
    if key == "POST /v1/products/lookup" then
        local ok_dec, body = pcall(cjson.decode, raw)
        if ok_dec and type(body) == "table" and body.resolutionMode == "on_demand_only" then
            return keyless_refusal(401, "keyless_trial_capability_not_included")
        end
    end
    local ip = ngx.var.remote_addr or "?"
    local used = S.keyless[ip] or 0
    if used >= M.config.keyless_limit then
        return keyless_refusal(429, "keyless_trial_exhausted", { ["Retry-After"] = "2880" })
    end
    S.keyless[ip] = used + 1
    return nil
end

---------------------------------------------------------------------------
-- GET /v1/domains (11.7)

local function etag_matches(header, etag)
    if type(header) == "table" then header = concat(header, ",") end
    if type(header) ~= "string" then return false end
    for part in header:gmatch("[^,]+") do
        part = part:gsub("^%s+", ""):gsub("%s+$", "")
        if part == "*" then return true end
        part = part:gsub("^W/", "")
        if part == etag then return true end
    end
    return false
end

function M.domains()
    local headers = { ETag = domains_etag, ["Cache-Control"] = "max-age=300" }
    if etag_matches(ngx.req.get_headers()["if-none-match"], domains_etag) then
        return { status = 304, body = "", headers = headers }
    end
    return { status = 200, body = domains_body, headers = headers }
end

---------------------------------------------------------------------------
-- GET /v1/me (11.8)

local function month_bounds(t)
    local d = os.date("!*t", t)
    local y, m = d.year, d.month
    local ny, nm = y, m + 1
    if nm > 12 then ny, nm = y + 1, 1 end
    return format("%04d-%02d", y, m), format("%04d-%02d-01", y, m), format("%04d-%02d-01T00:00:00Z", ny, nm)
end

local ACTIVE = { queued = true, running = true, in_review = true }

local function voyage_counts(org_id)
    local month = month_bounds(ngx.time())
    local c = S.created_month[org_id]
    local monthly = (c and c.month == month) and c.n or 0
    local concurrent = 0
    for _, t in ipairs(S.tasks[org_id] or {}) do
        if ACTIVE[t.status] then concurrent = concurrent + 1 end
    end
    return monthly, concurrent
end

local function voyage_quotas(org_id)
    local monthly, concurrent = voyage_counts(org_id)
    local _, start, resets = month_bounds(ngx.time())
    return {
        concurrent = { limit = M.config.voyage_concurrent, used = concurrent },
        monthly = { limit = M.config.voyage_monthly, used = monthly, periodStart = start, resetsAt = resets },
    }
end

function M.me(who)
    local p = who.principal
    local ctx = ngx.ctx
    local res = {
        principal = p.principal,
        rateLimit = { limit = ctx.limit or H.RATE_LIMIT, remaining = ctx.remaining, resetAt = iso(ctx.reset) },
    }
    if p.org then
        res.organization = { id = p.org.id, name = p.org.name, slug = p.org.slug, type = p.org.type }
        local key = { id = p.key.id, prefix = p.key.prefix or null }
        if p.key.source then key.source = p.key.source end
        res.key = key
        res.quotas = { voyage = voyage_quotas(p.org.id) }
    end
    return ok(200, res)
end

---------------------------------------------------------------------------
-- Voyage (11.9)

local PHASE_LABELS = {
    discovering_site = "Discovering the site", sampling_products = "Sampling products",
    building_extraction = "Building the extraction", in_review = "In review",
    publishing_catalog = "Publishing the catalog", complete = "Complete", failed = "Failed",
}
local ENDPOINTS = { lookup = "/v1/products/lookup", search = "/v1/products/search" }

local function task_view(t)
    return {
        taskId = t.id, domain = t.domain, status = t.status, phase = t.phase,
        phaseLabel = PHASE_LABELS[t.phase] or t.phase, progressPercent = t.progress,
        createdAt = iso(t.created), updatedAt = iso(t.updated),
        completedAt = t.completed and iso(t.completed) or null,
        error = t.error or null, result = t.result or null,
    }
end

local function voyage_org(who)
    local org = org_of(who)
    if not org then return nil, detail(403, "voyage_org_type_forbidden") end
    return org
end

local function normalize_domain(d)
    d = d:lower():gsub("^%s+", ""):gsub("%s+$", "")
    d = d:gsub("^%a[%w+.-]*://", "")
    d = d:match("^[^/?#]*")
    d = d:gsub("^.*@", ""):gsub(":%d*$", ""):gsub("%.+$", ""):gsub("^www%.", "")
    return d
end

local function new_task(org_id, domain, now)
    task_seq = task_seq + 1
    local t = {
        id = format("vt_%s", ngx.md5("task" .. task_seq .. ngx.now()):sub(1, 20)), org = org_id,
        domain = domain, status = "queued", phase = "discovering_site", progress = 0,
        created = now, updated = now, seq = task_seq,
    }
    local list = S.tasks[org_id] or {}
    S.tasks[org_id] = list
    list[#list + 1] = t
    S.task_by_id[t.id] = t
    return t
end

local function start_voyage(who, raw)
    local org, err = voyage_org(who)
    if not org then return err end
    local body, berr = H.object_body(raw)
    if not body then return berr end
    local errors = {}
    H.extra_keys(body, { domain = true }, { "body" }, errors)
    if absent(body.domain) then
        errors[#errors + 1] = verr({ "body", "domain" }, "Field required", "missing", body)
    else
        check_length(body.domain, { "body", "domain" }, errors, 1, 2048)
    end
    if #errors > 0 then return validation(errors) end

    local domain = normalize_domain(body.domain)
    if not domain:find(".", 1, true) or not domain:match("^[%w.-]+$") or domain:match("%.%.") then
        return detail(422, "voyage_invalid_domain")
    end
    if domain == "blocked.example" or domain:match("%.blocked$") then
        return detail(409, "voyage_domain_blocked")
    end
    local tasks = S.tasks[org.id] or {}
    for i = #tasks, 1, -1 do
        if tasks[i].domain == domain and ACTIVE[tasks[i].status] then return ok(200, task_view(tasks[i])) end
    end
    local now = ngx.time()
    local live = live_hosts[domain]
    if live then
        for i = #tasks, 1, -1 do
            if tasks[i].domain == domain and tasks[i].status == "completed" then
                return ok(200, task_view(tasks[i]))
            end
        end
        local t = new_task(org.id, domain, now)
        t.status, t.phase, t.progress, t.completed = "completed", "complete", 100, now
        local cat = DB.catalog[live]
        t.result = { catalog = live, productCount = cat and #cat.products or null, endpoints = ENDPOINTS }
        return ok(200, task_view(t))
    end
    local monthly, concurrent = voyage_counts(org.id)
    local violations = array()
    local _, _, resets = month_bounds(now)
    if monthly >= M.config.voyage_monthly then
        violations[#violations + 1] = { dimension = "calendar_month", limit = M.config.voyage_monthly,
                                        used = monthly, resetsAt = resets }
    end
    if concurrent >= M.config.voyage_concurrent then
        violations[#violations + 1] = { dimension = "concurrent", limit = M.config.voyage_concurrent,
                                        used = concurrent, resetsAt = null }
    end
    if #violations > 0 then
        return detail(429, { code = "voyage_quota_exceeded",
            message = "Voyage quota exceeded.", violations = violations })
    end
    local month = month_bounds(now)
    local c = S.created_month[org.id]
    if not c or c.month ~= month then c = { month = month, n = 0 }; S.created_month[org.id] = c end
    c.n = c.n + 1
    return ok(202, task_view(new_task(org.id, domain, now)))
end

local VOYAGE_STATUSES = { "queued", "running", "in_review", "completed", "failed", "cancelled" }

local function list_voyages(who)
    local org, err = voyage_org(who)
    if not org then return err end
    local args = query_args()
    local errors = {}
    local limit = query_limit(args, errors, 50)
    local status = last_value(args.status)
    if status ~= nil then H.check_enum(status, { "query", "status" }, VOYAGE_STATUSES, errors) end
    if #errors > 0 then return validation(errors) end
    local offset = read_cursor("vy1", last_value(args.cursor))
    if offset == false then return invalid_cursor() end
    offset = offset or 0
    local matching = {}
    local tasks = S.tasks[org.id] or {}
    for i = #tasks, 1, -1 do
        if status == nil or tasks[i].status == status then matching[#matching + 1] = tasks[i] end
    end
    local items = array()
    for i = offset + 1, math.min(offset + limit, #matching) do items[#items + 1] = task_view(matching[i]) end
    local next_cursor = null
    if offset + limit < #matching then next_cursor = make_cursor("vy1", offset + limit) end
    return ok(200, { items = items, nextCursor = next_cursor, quotas = voyage_quotas(org.id) })
end

local function get_voyage(who, id)
    local org, err = voyage_org(who)
    if not org then return err end
    local t = S.task_by_id[id]
    if not t or t.org ~= org.id then return detail(404, "voyage_not_found") end
    return ok(200, task_view(t))
end

function M.voyage(who, raw, method)
    if method == "POST" then return start_voyage(who, raw) end
    return list_voyages(who)
end

function M.voyage_task(who, _, _, id)
    return get_voyage(who, id)
end

---------------------------------------------------------------------------
-- Coverage URL lists (11.10)

local URLS_BODY_CAP = 8 * 1024 * 1024

local function list_org(who)
    local org = org_of(who)
    if not org then return nil, detail(403, "url_list_requires_org_api_key") end
    return org
end

local function activate(l)
    if l.status == "provisioning" then
        l.status = "active"
        l.updated = ngx.now()
        l.bigquery = {
            exchangeId = "octogen_coverage", listingId = "ul_" .. l.id:sub(5),
            sharedDatasetId = "coverage_" .. l.id:sub(5), viewId = "urls_" .. l.id:sub(5),
            readerCount = 0, lastExportedAt = null, lastRowCount = null,
        }
    end
end

local function list_view(l)
    return {
        urlListId = l.id, name = l.name, status = l.status, urlCount = l.count,
        createdAt = iso(l.created), updatedAt = iso(l.updated), bigQuery = l.bigquery or null,
    }
end

local function live_lists(org_id)
    local out = {}
    for _, l in ipairs(S.lists[org_id] or {}) do
        if l.status ~= "delete_pending" then out[#out + 1] = l end
    end
    return out
end

local function create_list(org, raw)
    local body, berr = H.object_body(raw)
    if not body then return berr end
    local errors = {}
    H.extra_keys(body, { name = true }, { "body" }, errors)
    local name = body.name
    if absent(name) then
        errors[#errors + 1] = verr({ "body", "name" }, "Field required", "missing", body)
    elseif type(name) ~= "string" then
        errors[#errors + 1] = verr({ "body", "name" }, "Input should be a valid string", "string_type", name)
    else
        name = name:gsub("^%s+", ""):gsub("%s+$", "")
        check_length(name, { "body", "name" }, errors, 1, 80)
    end
    if #errors > 0 then return validation(errors) end
    local live = live_lists(org.id)
    for _, l in ipairs(live) do
        if l.name == name then return detail(409, "url_list_name_conflict") end
    end
    if #live >= M.config.url_list_limit then return detail(409, "url_list_limit_exceeded") end
    list_seq = list_seq + 1
    local now = ngx.now()
    local l = {
        id = "cul_" .. ngx.md5("list" .. list_seq .. now):sub(1, 20), org = org.id, name = name,
        status = "provisioning", created = now, updated = now, count = 0,
        urls = {}, index = {}, seq = 0, removed = 0,
    }
    local lists = S.lists[org.id] or {}
    S.lists[org.id] = lists
    lists[#lists + 1] = l
    S.list_by_id[l.id] = l
    return ok(201, list_view(l))
end

local function index_lists(org)
    local args = query_args()
    local errors = {}
    local limit = query_limit(args, errors, 50)
    if #errors > 0 then return validation(errors) end
    local offset = read_cursor("ls1", last_value(args.cursor))
    if offset == false then return invalid_cursor() end
    offset = offset or 0
    local lists = S.lists[org.id] or {}
    local items = array()
    local n = #lists
    for i = offset + 1, math.min(offset + limit, n) do
        local l = lists[n - i + 1]
        activate(l)
        items[#items + 1] = list_view(l)
    end
    local next_cursor = null
    if offset + limit < n then next_cursor = make_cursor("ls1", offset + limit) end
    return ok(200, { items = items, nextCursor = next_cursor })
end

function M.url_lists(who, raw, method)
    local org, err = list_org(who)
    if not org then return err end
    if method == "POST" then return create_list(org, raw) end
    return index_lists(org)
end

local function find_list(who, id)
    local org, err = list_org(who)
    if not org then return nil, err end
    local l = S.list_by_id[id]
    if not l or l.org ~= org.id then return nil, detail(404, "url_list_not_found") end
    return l
end

function M.url_list(who, _, method, id)
    local l, err = find_list(who, id)
    if not l then return err end
    if method == "DELETE" then
        if l.status ~= "delete_pending" then
            l.status = "delete_pending"
            l.updated = ngx.now()
        end
        return ok(202, list_view(l))
    end
    activate(l)
    return ok(200, list_view(l))
end

--- UL normalization: lowercase scheme and host, no fragment, no trailing
--- slash, no utm_* / gclid / fbclid parameters. nil for a URL that is not
--- http(s)://host...
local function normalize_list_url(u)
    if type(u) ~= "string" or u:find("[%s%c]") then return nil end
    local scheme, rest = u:match("^(%a[%w+.-]*)://(.*)$")
    if not scheme then return nil end
    scheme = scheme:lower()
    if scheme ~= "http" and scheme ~= "https" then return nil end
    rest = rest:gsub("#.*$", "")
    local authority, path = rest:match("^([^/?]*)(.*)$")
    authority = authority:lower()
    local host = authority:gsub("^.*@", ""):gsub(":%d*$", "")
    if host == "" or not host:match("^[%w.%-%[%]:_~]+$") then return nil end
    local query
    local qpos = path:find("?", 1, true)
    if qpos then query = path:sub(qpos + 1); path = path:sub(1, qpos - 1) end
    path = path:gsub("/+$", "")
    local kept = {}
    if query then
        for part in query:gmatch("[^&]+") do
            local k = part:match("^([^=]*)"):lower()
            if not (k:match("^utm_") or k == "gclid" or k == "fbclid") then kept[#kept + 1] = part end
        end
    end
    return scheme .. "://" .. authority .. path .. (#kept > 0 and ("?" .. concat(kept, "&")) or "")
end
M.normalize_list_url = normalize_list_url

local INVALID_URL = "URL must be an absolute http(s) URL with a host."

-- Validate a {urls} body; returns the list or an error response.
local function urls_body(raw)
    if #raw > URLS_BODY_CAP then return nil, detail(413, "request_body_too_large") end
    local body, berr = H.object_body(raw)
    if not body then return nil, berr end
    local errors = {}
    H.extra_keys(body, { urls = true }, { "body" }, errors)
    local urls = body.urls
    if absent(urls) then
        errors[#errors + 1] = verr({ "body", "urls" }, "Field required", "missing", body)
    elseif not H.is_list(urls) then
        errors[#errors + 1] = verr({ "body", "urls" }, "Input should be a valid list", "list_type", urls)
    elseif #urls < 1 then
        errors[#errors + 1] = verr({ "body", "urls" }, "List should have at least 1 item after validation, not 0",
            "too_short", array(), { field_type = "List", min_length = 1, actual_length = 0 })
    elseif #urls > 1000 then
        errors[#errors + 1] = verr({ "body", "urls" },
            "List should have at most 1000 items after validation, not " .. #urls, "too_long", null,
            { field_type = "List", max_length = 1000, actual_length = #urls })
    else
        for i, u in ipairs(urls) do
            if type(u) ~= "string" then
                errors[#errors + 1] = verr({ "body", "urls", i - 1 }, "Input should be a valid string", "string_type", u)
            elseif #u > 2048 then
                errors[#errors + 1] = verr({ "body", "urls", i - 1 }, "String should have at most 2048 characters",
                    "string_too_long", u, { max_length = 2048 })
            end
        end
    end
    if #errors > 0 then return nil, validation(errors) end
    return urls
end

local function mutable_list(who, id, raw)
    local l, err = find_list(who, id)
    if not l then return nil, nil, err end
    local urls, uerr = urls_body(raw)
    if not urls then return nil, nil, uerr end
    if l.status == "delete_pending" then return nil, nil, detail(409, "url_list_deleting") end
    return l, urls
end

local function compact(l)
    local kept = {}
    for _, e in ipairs(l.urls) do if not e.removed then kept[#kept + 1] = e end end
    l.urls = kept
    l.removed = 0
end

function M.add_urls(who, raw, _, id)
    local l, urls, err = mutable_list(who, id, raw)
    if not l then return err end
    local accepted, rejected = array(), array()
    local fresh, seen = {}, {}
    for _, u in ipairs(urls) do
        local n = normalize_list_url(u)
        if n then
            accepted[#accepted + 1] = { url = u, normalizedUrl = n }
            if not l.index[n] and not seen[n] then seen[n] = true; fresh[#fresh + 1] = n end
        else
            rejected[#rejected + 1] = { url = u, code = "invalid_url", message = INVALID_URL }
        end
    end
    if l.count + #fresh > M.config.url_list_capacity then
        return detail(409, "list_url_capacity_exceeded")
    end
    local now = ngx.now()
    local original = {}
    for _, a in ipairs(accepted) do if not original[a.normalizedUrl] then original[a.normalizedUrl] = a.url end end
    for _, n in ipairs(fresh) do
        l.seq = l.seq + 1
        local e = { url = original[n], normalized = n, added = now, seq = l.seq }
        l.urls[#l.urls + 1] = e
        l.index[n] = e
        l.count = l.count + 1
    end
    if #fresh > 0 then l.updated = now end
    return ok(200, { accepted = accepted, rejected = rejected, urlCount = l.count, requestId = ngx.ctx.request_id })
end

function M.remove_urls(who, raw, _, id)
    local l, urls, err = mutable_list(who, id, raw)
    if not l then return err end
    local accepted, rejected = array(), array()
    local changed = false
    for _, u in ipairs(urls) do
        local n = normalize_list_url(u)
        if n then
            accepted[#accepted + 1] = { url = u, normalizedUrl = n }
            local e = l.index[n]
            if e then
                e.removed = true
                l.index[n] = nil
                l.count = l.count - 1
                l.removed = l.removed + 1
                changed = true
            end
        else
            rejected[#rejected + 1] = { url = u, code = "invalid_url", message = INVALID_URL }
        end
    end
    if changed then l.updated = ngx.now() end
    if l.removed > 1000 and l.removed * 2 > #l.urls then compact(l) end
    return ok(200, { accepted = accepted, rejected = rejected, urlCount = l.count, requestId = ngx.ctx.request_id })
end

function M.contains_urls(who, raw, _, id)
    local l, urls, err = mutable_list(who, id, raw)
    if not l then return err end
    local results = array()
    for _, u in ipairs(urls) do
        local n = normalize_list_url(u)
        local e = n and l.index[n]
        results[#results + 1] = { url = u, normalizedUrl = n or null, present = e and true or false,
                                  addedAt = e and iso(e.added) or null }
    end
    return ok(200, { results = results })
end

function M.list_urls(who, _, _, id)
    local l, err = find_list(who, id)
    if not l then return err end
    local args = query_args()
    local errors = {}
    local limit = query_limit(args, errors, 50)
    if #errors > 0 then return validation(errors) end
    local cursor = last_value(args.cursor)
    local after = 0
    if cursor ~= nil then
        local raw_c = type(cursor) == "string" and ngx.decode_base64(cursor)
        local cid, seq = (raw_c or ""):match("^lu1:([%w_]+):(%d+)$")
        if cid ~= l.id then return invalid_cursor() end
        after = tonumber(seq)
    end
    -- entries stay in seq order: find the first with seq > after
    local entries = l.urls
    local lo, hi = 1, #entries + 1
    while lo < hi do
        local mid = floor((lo + hi) / 2)
        if entries[mid].seq <= after then lo = mid + 1 else hi = mid end
    end
    local items = array()
    local i, last = lo, nil
    while i <= #entries and #items < limit do
        local e = entries[i]
        if not e.removed then
            items[#items + 1] = { url = e.url, normalizedUrl = e.normalized, addedAt = iso(e.added) }
            last = e
        end
        i = i + 1
    end
    local more = false
    while i <= #entries do
        if not entries[i].removed then more = true; break end
        i = i + 1
    end
    local next_cursor = null
    if more and last then next_cursor = ngx.encode_base64("lu1:" .. l.id .. ":" .. last.seq) end
    return ok(200, { items = items, nextCursor = next_cursor })
end

function M.urls(who, raw, method, id)
    if method == "POST" then return M.add_urls(who, raw, method, id) end
    return M.list_urls(who, raw, method, id)
end

---------------------------------------------------------------------------
-- POST /v1/products/more-like-this (11.5)

local MLT_KEYS = {
    source = true, catalogs = true, limit = true, price_preference = true, debug = true, cursor = true,
    include_facets = true, exclude_facets = true, omit_generated_facets = true,
    retrieval_embedding_columns = true, ranking_embedding_columns = true,
}

-- A Facet list at body[key]; appends errors; returns the list.
local function facet_list(v, key, errors)
    local out = {}
    if absent(v) then return out end
    if not H.is_list(v) then
        errors[#errors + 1] = verr({ "body", key }, "Input should be a valid list", "list_type", v)
        return out
    end
    for i, f in ipairs(v) do
        local loc = { "body", key, i - 1 }
        if type(f) ~= "table" or #f > 0 then
            errors[#errors + 1] = verr(loc, "Input should be a valid dictionary or instance of Facet", "model_type", f)
        elseif type(f.name) ~= "string" then
            errors[#errors + 1] = verr({ "body", key, i - 1, "name" }, absent(f.name) and "Field required"
                or "Input should be a valid string", absent(f.name) and "missing" or "string_type", f)
        elseif not H.is_list(f.values) then
            errors[#errors + 1] = verr({ "body", key, i - 1, "values" }, absent(f.values) and "Field required"
                or "Input should be a valid list", absent(f.values) and "missing" or "list_type", f)
        else
            out[#out + 1] = { name = f.name, values = f.values }
        end
    end
    return out
end

local function string_list(v, key, errors, min, max)
    if absent(v) then return nil end
    if not H.is_list(v) then
        errors[#errors + 1] = verr({ "body", key }, "Input should be a valid list", "list_type", v)
        return nil
    end
    if #v < min then
        errors[#errors + 1] = verr({ "body", key }, "List should have at least " .. min
            .. " item after validation, not " .. #v, "too_short", v,
            { field_type = "List", min_length = min, actual_length = #v })
        return nil
    end
    if max and #v > max then
        errors[#errors + 1] = verr({ "body", key }, "List should have at most " .. max
            .. " items after validation, not " .. #v, "too_long", null,
            { field_type = "List", max_length = max, actual_length = #v })
        return nil
    end
    for i, s in ipairs(v) do H.check_string(s, { "body", key, i - 1 }, errors, 1) end
    return v
end

function M.more_like_this(_, raw)
    local body, berr = H.object_body(raw)
    if not body then return berr end
    local errors = {}
    H.extra_keys(body, MLT_KEYS, { "body" }, errors)
    local src = body.source
    if absent(src) then
        errors[#errors + 1] = verr({ "body", "source" }, "Field required", "missing", body)
    elseif type(src) ~= "table" or #src > 0 then
        errors[#errors + 1] = verr({ "body", "source" },
            "Input should be a valid dictionary or instance of MoreLikeThisSource", "model_type", src)
    else
        local n = #errors
        H.extra_keys(src, { url = true, uuid = true, image = true }, { "body", "source" }, errors)
        H.check_string(src.url, { "body", "source", "url" }, errors, 1)
        H.check_string(src.uuid, { "body", "source", "uuid" }, errors, 1)
        if #errors == n then
            local count = (absent(src.url) and 0 or 1) + (absent(src.uuid) and 0 or 1)
                + (absent(src.image) and 0 or 1)
            if count ~= 1 then
                errors[#errors + 1] = verr({ "body", "source" },
                    "Value error, Exactly one of source.url or source.uuid is required", "value_error", src,
                    { error = {} })
            elseif not absent(src.image) then
                errors[#errors + 1] = verr({ "body", "source", "image" },
                    "Value error, the mock does not support image sources", "value_error", src.image, { error = {} })
            end
        end
    end
    local catalogs = string_list(body.catalogs, "catalogs", errors, 1, 100)
    local limit = 12
    local l = body.limit
    if l ~= nil then
        if type(l) ~= "number" or l ~= floor(l) then
            errors[#errors + 1] = verr({ "body", "limit" }, "Input should be a valid integer", "int_type", l)
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
    H.check_enum(body.price_preference, { "body", "price_preference" }, { "lower", "any", "higher" }, errors)
    H.check_bool(body.debug, { "body", "debug" }, errors)
    H.check_string(body.cursor, { "body", "cursor" }, errors)
    local include = facet_list(body.include_facets, "include_facets", errors)
    local exclude = facet_list(body.exclude_facets, "exclude_facets", errors)
    string_list(body.omit_generated_facets, "omit_generated_facets", errors, 0)
    string_list(body.retrieval_embedding_columns, "retrieval_embedding_columns", errors, 1)
    string_list(body.ranking_embedding_columns, "ranking_embedding_columns", errors, 1)
    if #errors > 0 then return validation(errors) end

    local p
    if not absent(src.uuid) then
        p = DB.by_uuid[src.uuid]
    else
        local all = {}
        for _, c in ipairs(DB.catalogs) do all[#all + 1] = c.key end
        p = data.find_url(DB, src.url, all, false)[1]
    end
    if not p then return detail(404, "product_not_found") end
    local wanted = catalogs or { p.catalog }
    for _, key in ipairs(wanted) do
        if not DB.catalog[key] then return detail(404, "catalog_not_found") end
    end
    local pref = absent(body.price_preference) and "any" or body.price_preference
    local found = {}
    for _, key in ipairs(wanted) do
        for _, q in ipairs(DB.catalog[key].products) do
            local keep = q ~= p and q.type == p.type
                and (pref ~= "lower" or q.price < p.price) and (pref ~= "higher" or q.price > p.price)
            if keep then
                for _, f in ipairs(include) do
                    if not data.facet_matches(q, f) then keep = false; break end
                end
            end
            if keep then
                for _, f in ipairs(exclude) do
                    if data.facet_matches(q, f) then keep = false; break end
                end
            end
            if keep then found[#found + 1] = q end
        end
    end
    local offset = 0
    if not absent(body.cursor) then
        local raw_c = ngx.decode_base64(body.cursor)
        offset = tonumber(raw_c and raw_c:match("^mlt1:(%d+)$")) or 0
    end
    local parts = {}
    local last = math.min(offset + limit, #found)
    for i = offset + 1, last do parts[#parts + 1] = H.item_json(found[i], true) end
    local res = {
        items = json.raw("[" .. concat(parts, ",") .. "]"),
        nextCursor = last < #found and make_cursor("mlt1", last) or null,
        source = { catalogKey = p.catalog, productUrl = p.url, uuid = p.uuid, title = p.title },
    }
    if body.debug == true then
        res.effectiveQuery = {
            text = p.title, limit = limit, catalogs = array { unpack(wanted) },
            facets = array(include), exclusionFacets = array(exclude),
            priceMin = pref == "higher" and p.price or null, priceMax = pref == "lower" and p.price or null,
            retrievalEmbeddingColumns = array { "embedding" }, rankingEmbeddingColumns = array { "embedding" },
            reconciledFacets = null, degradedToTextFallback = false, imageHashMatched = null,
            matchedProduct = p.uuid, generationStages = null,
        }
    end
    return ok(200, res)
end

---------------------------------------------------------------------------
-- POST /v1/products/resolve-from-html (11.6)

local HTML_MAX_CHARS = 5242880
local HTML_BODY_CAP = 12 * 1024 * 1024

local ENTITIES = { amp = "&", lt = "<", gt = ">", quot = '"', apos = "'", nbsp = " " }

local function unentity(s)
    return (s:gsub("&(#?)([%w]+);", function(hash, name)
        if hash == "#" then
            local n = name:match("^[xX](%x+)$") and tonumber(name:sub(2), 16) or tonumber(name)
            if n and n < 128 then return string.char(n) end
            return nil
        end
        return ENTITIES[name:lower()]
    end))
end

local function attrs(tag)
    local a = {}
    for k, _, v in tag:gmatch("([%w:_-]+)%s*=%s*([\"'])(.-)%2") do a[k:lower()] = unentity(v) end
    for k, v in tag:gmatch("([%w:_-]+)%s*=%s*([^%s\"'>][^%s>]*)") do
        if a[k:lower()] == nil then a[k:lower()] = unentity(v) end
    end
    return a
end

local function metas(html)
    local by = {}
    for tag in html:gmatch("<[mM][eE][tT][aA]%s[^>]*>") do
        local a = attrs(tag)
        local key = a.property or a.name or a.itemprop
        if key and a.content and by[key:lower()] == nil then by[key:lower()] = a.content end
    end
    return by
end

local function canonical_link(html)
    for tag in html:gmatch("<[lL][iI][nN][kK]%s[^>]*>") do
        local a = attrs(tag)
        if a.rel and a.rel:lower():find("canonical", 1, true) and a.href and a.href ~= "" then return a.href end
    end
end

local function is_type(v, name)
    if v == name then return true end
    if type(v) == "table" then
        for _, t in ipairs(v) do if t == name then return true end end
    end
    return false
end

local function find_product(v, depth)
    if type(v) ~= "table" or depth > 6 then return nil end
    if is_type(v["@type"], "Product") then return v end
    if v["@graph"] then
        local p = find_product(v["@graph"], depth + 1)
        if p then return p end
    end
    for _, x in ipairs(v) do
        local p = find_product(x, depth + 1)
        if p then return p end
    end
end

local function json_ld_product(html)
    for tag, text in html:gmatch("(<[sS][cC][rR][iI][pP][tT][^>]*>)(.-)</[sS][cC][rR][iI][pP][tT]>") do
        local a = attrs(tag)
        if a.type and a.type:lower() == "application/ld+json" then
            local ok_dec, v = pcall(cjson.decode, text)
            if ok_dec then
                local p = find_product(v, 0)
                if p then return p end
            end
        end
    end
end

local function to_price(v)
    if type(v) == "number" then return v end
    if type(v) == "string" then return tonumber((v:gsub("[^%d.]", ""))) end
end

local function resolve_url(base, ref)
    if not ref or ref == "" then return nil end
    if ref:match("^%a[%w+.-]*://") then return ref end
    if not base then return nil end
    local origin = base:match("^(%a[%w+.-]*://[^/?#]*)")
    if not origin then return nil end
    if ref:sub(1, 2) == "//" then return (base:match("^(%a[%w+.-]*:)") or "https:") .. ref end
    if ref:sub(1, 1) == "/" then return origin .. ref end
    local dir = base:match("^(%a[%w+.-]*://[^?#]*/)") or (origin .. "/")
    return dir .. ref
end

local function str(v)
    if type(v) == "string" and v ~= "" then return v end
end

local function extract(html)
    local p = json_ld_product(html)
    if p then
        local offer = p.offers
        if type(offer) == "table" and offer[1] then offer = offer[1] end
        if type(offer) ~= "table" then offer = {} end
        local brand = p.brand
        if type(brand) == "table" then brand = brand.name end
        local image = p.image
        if type(image) == "table" then image = image[1] or image.url end
        local avail = str(offer.availability)
        return {
            method = "json_ld", title = str(p.name), price = to_price(offer.price),
            currency = str(offer.priceCurrency), brand = str(brand), image = str(image),
            description = str(p.description),
            in_stock = avail and (avail:find("InStock", 1, true) ~= nil) or nil,
        }
    end
    local m = metas(html)
    local price = m["og:price:amount"] or m["product:price:amount"]
    if m["og:title"] and (price or (m["og:type"] or ""):lower() == "product") then
        return {
            method = "open_graph", title = m["og:title"], price = to_price(price),
            currency = m["og:price:currency"] or m["product:price:currency"],
            brand = m["product:brand"] or m["og:brand"], image = m["og:image"], description = m["og:description"],
        }
    end
    local title = html:match("<[tT][iI][tT][lL][eE][^>]*>(.-)</[tT][iI][tT][lL][eE]>")
    local mprice = m.price or m["product:price"]
    if title and mprice then
        return {
            method = "html_meta", title = unentity(title):gsub("^%s+", ""):gsub("%s+$", ""),
            price = to_price(mprice), currency = m.pricecurrency or m.currency, brand = m.brand,
            image = nil, description = m.description,
        }
    end
end

local function utf8_len(s)
    local _, n = s:gsub("[^\128-\191]", "")
    return n
end

function M.resolve_from_html(_, raw)
    if #raw > HTML_BODY_CAP then return detail(413, "request_body_too_large") end
    local body, berr = H.object_body(raw)
    if not body then return berr end
    local errors = {}
    H.extra_keys(body, { html = true, url = true }, { "body" }, errors)
    local html = body.html
    if absent(html) then
        errors[#errors + 1] = verr({ "body", "html" }, "Field required", "missing", body)
    elseif type(html) ~= "string" then
        errors[#errors + 1] = verr({ "body", "html" }, "Input should be a valid string", "string_type", html)
    elseif html == "" then
        errors[#errors + 1] = verr({ "body", "html" }, "String should have at least 1 character",
            "string_too_short", html, { min_length = 1 })
    elseif #html > HTML_MAX_CHARS and utf8_len(html) > HTML_MAX_CHARS then
        errors[#errors + 1] = verr({ "body", "html" }, "String should have at most 5242880 characters",
            "string_too_long", null, { max_length = HTML_MAX_CHARS })
    end
    H.check_string(body.url, { "body", "url" }, errors, 1)
    if #errors > 0 then return validation(errors) end

    local url = not absent(body.url) and body.url or nil
    local x = extract(html)
    local canonical = resolve_url(url, canonical_link(html)) or url
    if not x or not x.title or not canonical then return detail(404, "Not Found") end
    local missing = array()
    for _, f in ipairs { "brand", "price", "currency", "image", "description" } do
        if x[f] == nil then missing[#missing + 1] = f end
    end
    local image = resolve_url(canonical, x.image)
    return ok(200, {
        requestId = ngx.ctx.request_id, source = "client_html",
        catalogKey = null, catalogDisplayName = null, sourceBaseUrl = null,
        requestedUrl = url or null, normalizedUrl = null, resolvedUrl = canonical, canonicalUrl = canonical,
        product = {
            uuid = null, catalogKey = null, isActive = null, productUrl = canonical, title = x.title,
            brand = x.brand and { name = x.brand, slug = data.slugify(x.brand), url = null, description = null }
                or null,
            currentPrice = x.price or null, originalPrice = null, currency = x.currency or null,
            imageUrl = image or null, images = image and array { image } or array(),
            description = x.description or null,
            inStock = x.in_stock == nil and null or x.in_stock, sizes = array(), colors = array(),
            rating = null, enrichment = null,
        },
        resolution = { completeness = #missing == 0 and "complete" or "partial", method = x.method,
                       rendered = false, missingFields = missing },
        cacheStatus = null, warnings = array(),
    })
end

---------------------------------------------------------------------------
-- control API (/_mock/...): returns a response table, or nil when the
-- path is not one of these

local function control_body(raw)
    local ok_dec, v = pcall(cjson.decode, raw ~= "" and raw or "{}")
    if not ok_dec or type(v) ~= "table" then return nil end
    return v
end

local function positive_int(v)
    return type(v) == "number" and v >= 0 and v == floor(v)
end

function M.control(uri, method, raw)
    if method ~= "POST" and not (method == "GET" and uri == "/_mock/config") then return nil end
    local bad = { status = 400, body = '{"detail":"mock: bad control body"}' }
    if uri == "/_mock/config" then
        if method == "POST" then
            local v = control_body(raw)
            if not v then return bad end
            for k, val in pairs(v) do
                if DEFAULTS[k] == nil then
                    return { status = 400, body = json.encode({ detail = "mock: unknown setting " .. tostring(k) }) }
                end
                if type(DEFAULTS[k]) == "boolean" then
                    if type(val) ~= "boolean" then return bad end
                elseif not positive_int(val) then
                    return bad
                end
                M.config[k] = val
            end
        end
        return ok(200, M.config)
    elseif uri == "/_mock/keyless" then
        local v = control_body(raw)
        if not v then return bad end
        if v.limit ~= nil then
            if not positive_int(v.limit) then return bad end
            M.config.keyless_limit = v.limit
        end
        if v.used ~= nil then
            if not positive_int(v.used) then return bad end
            S.keyless[v.ip or "127.0.0.1"] = v.used
        end
        if v.clear then S.keyless = {} end
        return ok(200, { ok = true, limit = M.config.keyless_limit, used = S.keyless })
    elseif uri == "/_mock/voyage_quota" then
        local v = control_body(raw)
        if not v then return bad end
        for k, setting in pairs { monthly = "voyage_monthly", concurrent = "voyage_concurrent" } do
            if v[k] ~= nil then
                if not positive_int(v[k]) then return bad end
                M.config[setting] = v[k]
            end
        end
        return ok(200, { ok = true, monthly = M.config.voyage_monthly, concurrent = M.config.voyage_concurrent })
    elseif uri == "/_mock/voyage_update" then
        local v = control_body(raw)
        if not v then return bad end
        local t = S.task_by_id[v.taskId]
        if not t then return { status = 404, body = '{"detail":"mock: no such task"}' } end
        local now = ngx.time()
        if v.status ~= nil then t.status = v.status end
        if v.phase ~= nil then t.phase = v.phase end
        if v.progressPercent ~= nil then t.progress = v.progressPercent end
        if v.error ~= nil then t.error = v.error end
        if v.result ~= nil then t.result = v.result end
        if t.status == "completed" then
            if v.phase == nil then t.phase = "complete" end
            if v.progressPercent == nil then t.progress = 100 end
            if not t.result then
                t.result = { catalog = data.slugify(t.domain), productCount = 0, endpoints = ENDPOINTS }
            end
        end
        if (t.status == "completed" or t.status == "failed" or t.status == "cancelled") and not t.completed then
            t.completed = now
        end
        t.updated = now
        return ok(200, task_view(t))
    elseif uri == "/_mock/domains" then
        local v = control_body(raw)
        if not v then return bad end
        if v.domains == nil or v.domains == null then
            set_domains(data.domains())
        else
            if type(v.domains) ~= "table" then return bad end
            for _, d in ipairs(v.domains) do
                if type(d) ~= "table" or type(d.host) ~= "string" or type(d.catalog) ~= "string" then return bad end
                if type(d.catalogDisplayName) ~= "string" then
                    local c = DB.catalog[d.catalog]
                    d.catalogDisplayName = c and c.name or d.catalog
                end
            end
            set_domains(v.domains)
        end
        return ok(200, { ok = true, etag = domains_etag })
    end
    return nil
end

return M
