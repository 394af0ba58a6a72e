-- The app of the fleet simulation (bench/fleet/run.lua): GET /product?url=
-- looks the product up through one octogen client per worker, built when
-- nginx first loads this module, and answers what an end user would see:
-- 200 {"title": ...}, or the client's error as 429 (the API's rate limit
-- reached the user) or 502 (anything else).
--
-- FLEET_STORE (nginx's environment) picks the configuration:
--   none    octogen.client{api_key, base_url}: every worker on its own
--   redis   the same plus store = {redis = 127.0.0.1:FLEET_REDIS_PORT},
--           cache = {lookup_product = 600}, rate_limit = {per_second = 190}:
--           pauses, the token bucket and the cache shared by every worker
--           of both instances
local cjson = require "cjson"
local octogen = require "octogen"

-- luacheck: std max+ngx_lua
local ngx = ngx

local MODE = os.getenv("FLEET_STORE") or "none"

local function options()
    local o = { api_key = os.getenv("OCTO_API_KEY"), base_url = os.getenv("OCTOGEN_BASE_URL") }
    if MODE == "redis" then
        o.store = { redis = { host = "127.0.0.1", port = tonumber(os.getenv("FLEET_REDIS_PORT")),
                              timeout = tonumber(os.getenv("FLEET_REDIS_TIMEOUT") or "") } }
        o.cache = { lookup_product = 600 }
        o.rate_limit = { per_second = 190 }
        o.on_store_error = function(info)
            ngx.log(ngx.ERR, "octogen store: ", tostring(info and (info.error or info.message) or info))
        end
    end
    return o
end

-- A client that cannot be built (an option this octogen does not know) is
-- reported by every request, not by a worker that fails to start.
local ok, client = pcall(octogen.client, options())

local M = {}

local function answer(status, value)
    ngx.status = status
    ngx.header["Content-Type"] = "application/json"
    ngx.print(cjson.encode(value))
    return ngx.exit(status)
end

function M.product()
    if not ok then return answer(500, { error = "client: " .. tostring(client) }) end
    local url = ngx.var.arg_url
    if not url then return answer(400, { error = "url= missing" }) end
    local res, meta = client:lookup_product(ngx.unescape_uri(url))
    if not res then
        ngx.log(ngx.WARN, "octogen: ", tostring(meta))
        return answer(meta and meta.status_code == 429 and 429 or 502, { error = tostring(meta) })
    end
    local product = res.product or {}
    return answer(200, { title = product.title, cache = type(meta) == "table" and meta.cache or nil })
end

function M.info()
    return answer(200, { store = MODE, version = octogen.VERSION, client = ok or tostring(client) })
end

return M
