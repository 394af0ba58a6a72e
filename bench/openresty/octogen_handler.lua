-- The octogen handler of bench/openresty (make bench): GET /search?catalog=&q=
-- -> search_products through octogen, 5 items, answered as
-- {"count": 5, "titles": [...]}; 502 with the error when the call fails.
-- One client for the whole worker, built when nginx first loads this module:
-- that is the usage the issue asks to be cheap.
local cjson = require "cjson"
local octogen = require "octogen"

-- luacheck: std max+ngx_lua
local ngx = ngx

local client = octogen.client {
    api_key = os.getenv("OCTO_API_KEY"),
    base_url = os.getenv("OCTOGEN_BASE_URL"),
    timeout = 10,
}

local M = {}

function M.search()
    local var = ngx.var
    local page, meta = client:search_products { catalog = var.arg_catalog, q = var.arg_q, limit = 5 }
    if not page then
        ngx.log(ngx.ERR, "octogen: ", tostring(meta))
        ngx.status = 502
        ngx.say(cjson.encode { error = tostring(meta) })
        return ngx.exit(502)
    end
    local titles = {}
    for i, item in ipairs(page.items) do titles[i] = item.title end
    ngx.say(cjson.encode { count = #titles, titles = titles })
end

-- The octogen version, for the report.
function M.info()
    ngx.say(cjson.encode { handler = "octogen", version = octogen.VERSION })
end

return M
