-- The handler of spec/support/shared_app/nginx.conf. Each worker builds its
-- octogen clients once (module level, as an OpenResty app would), one per
-- profile named in the request:
--   local        no store: the worker on its own
--   dict         store = ngx.shared.octogen
--   redis        store = Redis at SHARED_REDIS_PORT
-- with, per profile, the cache of lookup_product (ttl 60 s, or 1 s for the
-- *_short profiles; stale_ttl 60) and, for the *_bucket profiles,
-- rate_limit = {per_second = 15, burst = 15}.
--   GET /call?profile=P&ns=N&method=list_catalogs|lookup_product&url=...
--       -> {ok, status, cache, code, paused, elapsed, worker}
--   GET /keys?profile=dict|redis -> the store's keys
--   GET /store_errors -> how many times on_store_error was called
local cjson = require "cjson"
local octogen = require "octogen"

-- luacheck: std max+ngx_lua
local ngx = ngx

local KEY = "octo_test_key"
local M = {}
local clients = {}

local function store_of(profile)
    if profile:match("^dict") then return ngx.shared.octogen end
    if profile:match("^redis") then
        return { redis = { host = "127.0.0.1", port = tonumber(os.getenv("SHARED_REDIS_PORT")), backoff = 5 } }
    end
    return nil
end

-- ns: a namespace of the test's own (each case starts from a clean slate:
-- a pause another case left in a worker or the store is not its).
local function client_for(profile, ns)
    local id = profile .. "/" .. (ns or "")
    local c = clients[id]
    if c then return c end
    c = octogen.client {
        api_key = KEY, base_url = os.getenv("SHARED_MOCK_URL"), max_retries = 0, namespace = ns,
        store = store_of(profile),
        -- (A second's TTL only where a case waits for it to pass: under a
        -- loaded machine 50 concurrent calls may take longer than that.)
        cache = { lookup_product = profile:match("_short$") and 1 or 60, stale_ttl = 60 },
        rate_limit = profile:match("_bucket$") and { per_second = 15, burst = 15 } or nil,
        on_store_error = function() ngx.shared.shared_spec:incr("store_errors", 1, 0) end,
    }
    clients[id] = c
    return c
end

local function answer(value)
    ngx.header["Content-Type"] = "application/json"
    ngx.print(cjson.encode(value))
end

function M.handle()
    local uri, args = ngx.var.uri, ngx.req.get_uri_args()
    if uri == "/store_errors" then
        return answer { n = ngx.shared.shared_spec:get("store_errors") or 0 }
    end
    if uri == "/keys" then
        if args.profile == "dict" then
            return answer { keys = ngx.shared.octogen:get_keys(0) }
        end
        local redis = require "nginx.redis"
        local r = redis:new()
        assert(r:connect("127.0.0.1", tonumber(os.getenv("SHARED_REDIS_PORT"))))
        local keys = r:keys("*")
        r:set_keepalive()
        return answer { keys = keys }
    end
    local c = client_for(args.profile or "local", args.ns)
    local t0 = ngx.now()
    local res, meta
    if args.method == "lookup_product" then
        res, meta = c:lookup_product(args.url)
    else
        res, meta = c:list_catalogs()
    end
    ngx.update_time()
    local out = { ok = res ~= nil, elapsed = ngx.now() - t0, worker = ngx.worker.pid(),
                  cache = meta and meta.cache }
    if res == nil then
        out.status, out.code, out.paused, out.message = meta.status_code, meta.code, meta.paused, meta.message
    else
        out.status = meta.status
    end
    return answer(out)
end

return M
