-- The baseline handler of bench/openresty (make bench): what a user would
-- write without octogen -- a cosocket, HTTP/1.1 by hand, keep-alive through
-- nginx's pool (set_keepalive), cjson.decode. Same request and same answer
-- as octogen_handler.lua.
local cjson = require "cjson"

-- luacheck: std max+ngx_lua
local ngx = ngx

local HOST, PORT, PATH = os.getenv("OCTOGEN_BASE_URL"):match("^http://([^:/]+):(%d+)(.*)$")
PORT = tonumber(PORT)
local HEAD = "POST " .. PATH .. "/products/search HTTP/1.1\r\nHost: " .. HOST .. ":" .. PORT
    .. "\r\nAuthorization: Bearer " .. os.getenv("OCTO_API_KEY")
    .. "\r\nAccept: application/json\r\nContent-Type: application/json\r\nContent-Length: "

local function search(params)
    local body = cjson.encode(params)
    local sock = ngx.socket.tcp()
    sock:settimeouts(10000, 10000, 10000)
    local ok, err = sock:connect(HOST, PORT)
    if not ok then return nil, "connect: " .. err end
    ok, err = sock:send(HEAD .. #body .. "\r\n\r\n" .. body)
    if not ok then sock:close() return nil, "send: " .. err end
    local line
    line, err = sock:receive("*l")
    if not line then sock:close() return nil, "status line: " .. err end
    local status = tonumber(line:match("^HTTP/1%.%d (%d%d%d)"))
    local len, close
    repeat
        line, err = sock:receive("*l")
        if not line then sock:close() return nil, "headers: " .. err end
        local name, value = line:match("^([^:]+):%s*(.-)%s*$")
        name = name and name:lower()
        if name == "content-length" then len = tonumber(value)
        elseif name == "connection" and value:lower() == "close" then close = true end
    until line == ""
    if not len then sock:close() return nil, "no Content-Length" end
    local data
    data, err = sock:receive(len)
    if not data then sock:close() return nil, "body: " .. err end
    if close then sock:close() else sock:setkeepalive() end
    if status ~= 200 then return nil, "status " .. tostring(status) end
    return cjson.decode(data)
end

local M = {}

function M.search()
    local var = ngx.var
    local page, err = search { catalog = var.arg_catalog, q = var.arg_q, limit = 5 }
    if not page then
        ngx.log(ngx.ERR, "baseline: ", err)
        ngx.status = 502
        ngx.say(cjson.encode { error = err })
        return ngx.exit(502)
    end
    local titles = {}
    for i, item in ipairs(page.items) do titles[i] = item.title end
    ngx.say(cjson.encode { count = #titles, titles = titles })
end

function M.info()
    ngx.say(cjson.encode { handler = "baseline" })
end

return M
