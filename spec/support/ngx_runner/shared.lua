-- GET /shared?n=N: a handler whose client is built once, at module level,
-- as examples/openresty's is, and serves every request of the worker. It
-- makes N (default 1) searches and answers
--   200 {"calls": N, "count": items in the last page, "request_ids": [...]}
--   502 {"error": {"name": ..., "message": ...}} on an API or network error
-- The mock's base URL comes from OCTOGEN_TEST_BASE_URL (nginx.conf's env).
local cjson = require "cjson"
local octogen = require "octogen"
local mock = require "spec.support.mock"

local client = octogen.client {
    api_key = mock.KEY,
    base_url = os.getenv("OCTOGEN_TEST_BASE_URL"),
    max_retries = 0,
    timeout = 10,
}

local M = {}

local function reply(status, body)
    ngx.status = status
    ngx.header["Content-Type"] = "application/json"
    ngx.say(cjson.encode(body))
    return ngx.exit(status)
end

function M.handle()
    local n = tonumber(ngx.var.arg_n) or 1
    local ids, count = {}, 0
    for i = 1, n do
        local page, meta = client:search_products { catalog = "tidepool", limit = 2 }
        if not page then
            return reply(502, { error = { name = meta.name, message = meta.message } })
        end
        ids[i] = meta.request_id
        count = #page.items
    end
    return reply(200, { calls = n, count = count, request_ids = ids })
end

return M
