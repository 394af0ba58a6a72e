-- The handler of examples/openresty/nginx.conf: GET /products?q=...&catalog=...
-- searches the Octogen API and answers JSON.
--
--   200 {"titles": [...], "count": n, "request_id": "...", "next_cursor": "..."}
--   4xx/5xx {"error": {"name": ..., "status_code": ..., "message": ..., ...}}
--       the API's own status for an API error, 502 for a network failure
--       (no status_code), 400 when the parameters are wrong (limit=1000).
--
-- Settings come from the environment (nginx.conf passes them with `env`):
-- OCTO_API_KEY, OCTOGEN_BASE_URL (default the real API), OCTOGEN_MAX_RETRIES.
local cjson = require "cjson"
local octogen = require "octogen"

local ngx = ngx
local tonumber = tonumber
local os_getenv = os.getenv

local M = {}

-- One client for every request this nginx worker serves, built when the
-- module is first required. Inside nginx it talks over cosockets: it holds
-- no socket between calls (each call takes a connection from nginx's
-- keep-alive pool and gives it back), so sharing it is safe, and a call
-- yields the request's coroutine while the API answers. Retries wait with
-- ngx.sleep.
local base_url = os_getenv("OCTOGEN_BASE_URL")
-- The store is nginx.conf's lua_shared_dict: a 429 one worker meets
-- pauses every worker until its Retry-After. To answer repeated reads from
-- the dict too, add e.g. cache = {lookup_product = 600, search_products = 30}
-- (a cached answer's meta.cache is "hit" and it has no request id).
local client = octogen.client {
    base_url = base_url ~= "" and base_url or nil,
    max_retries = tonumber(os_getenv("OCTOGEN_MAX_RETRIES") or ""),
    timeout = 10,
    store = ngx.shared.octogen,
}

local function reply(status, body)
    ngx.status = status
    ngx.header["Content-Type"] = "application/json"
    ngx.say(cjson.encode(body))
    return ngx.exit(status)
end

local function error_body(err)
    return {
        name = err.name,
        message = err.message,
        status_code = err.status_code,
        request_id = err.request_id,
        api_error = err:is("APIError"),      -- err is an octogen error object
        text = tostring(err),
    }
end

function M.products()
    local q = ngx.req.get_uri_args()
    local params = {
        q = q.q ~= "" and q.q or nil,
        catalog = q.catalog ~= "" and q.catalog or nil,
        limit = tonumber(q.limit),
    }
    -- A mistake in the call (limit=1000) raises an InvalidArgumentError,
    -- as anywhere else; API and network failures are nil, err.
    local ok, page, meta = pcall(client.search_products, client, params)
    if not ok then
        local e = page
        if octogen.is_error(e) then
            return reply(400, { error = { name = e.name, message = e.message } })
        end
        ngx.log(ngx.ERR, "octogen: ", tostring(e))
        return reply(500, { error = { name = "error", message = "internal error" } })
    end
    if not page then
        local err = meta
        ngx.log(ngx.WARN, "octogen: ", tostring(err))
        local status = err.status_code
        if not status or status < 400 then status = 502 end   -- network failure, or a bad 2xx
        return reply(status, { error = error_body(err) })
    end
    local titles = {}
    for i, item in ipairs(page.items) do titles[i] = item.title end
    return reply(200, {
        titles = titles,
        count = #titles,
        request_id = meta.request_id,
        next_cursor = page.next_cursor,
        attempts = meta.attempts,
    })
end

return M
