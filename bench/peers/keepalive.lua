-- Peer for make bench: the fastest loop a Lua user can write today without
-- octogen-lua. One LuaSocket TCP connection kept open, the HTTP/1.1
-- request bytes written by hand, the status line and headers read with
-- receive("*l"), the body by its Content-Length, and cjson.decode on it.
-- No chunked encoding, no redirects, no retries, no TLS: only what the
-- mock's answers need (it always sends Content-Length).
--
--     local keepalive = dofile "bench/peers/keepalive.lua"
--     local conn = keepalive.new(base_url, api_key)      -- http://host:port/v1
--     local value, status = conn:get("catalogs")
--     local value, status = conn:post("products/search", '{"catalog":"x"}')
--     conn.connects                                       -- connections opened
--     conn:close()

local socket = require "socket"
local cjson = require "cjson"

local M = {}
local Conn = {}
Conn.__index = Conn

function M.new(base_url, key)
    local host, port, prefix = base_url:match("^http://([^:/]+):(%d+)(/?.*)$")
    assert(host, "keepalive peer: need http://host:port/... , got " .. tostring(base_url))
    prefix = prefix:gsub("/+$", "")
    local self = setmetatable({ host = host, port = tonumber(port), prefix = prefix, connects = 0 }, Conn)
    -- Headers that do not change between requests, built once (as the
    -- client does: Host, User-Agent, Accept, Authorization).
    self.fixed = "Host: " .. host .. ":" .. port .. "\r\n"
        .. "User-Agent: bench-keepalive/1 (LuaSocket)\r\n"
        .. "Accept: application/json\r\n"
        .. "Authorization: Bearer " .. key .. "\r\n"
    return self
end

function Conn:connect()
    local s = assert(socket.tcp())
    s:settimeout(10)
    assert(s:connect(self.host, self.port))
    s:setoption("tcp-nodelay", true)   -- after connect: LuaSocket makes the fd there
    self.sock = s
    self.connects = self.connects + 1
    return s
end

function Conn:close()
    if self.sock then self.sock:close() self.sock = nil end
end

-- Send one request, read one response; returns decoded value, status.
function Conn:exchange(head, body)
    local s = self.sock or self:connect()
    local ok, err = s:send(body and head .. body or head)
    if not ok then
        -- the server closed an idle connection: one fresh try
        self:close()
        s = self:connect()
        assert(s:send(body and head .. body or head))
    end
    local line, rerr = s:receive("*l")
    if not line then error("keepalive peer: " .. tostring(rerr or err)) end
    local status = tonumber(line:match("^HTTP/1%.%d (%d%d%d)"))
    assert(status, "keepalive peer: bad status line " .. line)
    local length, close
    while true do
        local h = assert(s:receive("*l"))
        if h == "" then break end
        local name, value = h:match("^([^:]+):%s*(.-)%s*$")
        if name then
            name = name:lower()
            if name == "content-length" then
                length = tonumber(value)
            elseif name == "connection" and value:lower() == "close" then
                close = true
            end
        end
    end
    assert(length, "keepalive peer: the response has no Content-Length")
    local raw = length > 0 and assert(s:receive(length)) or ""
    if close then self:close() end
    return cjson.decode(raw), status
end

function Conn:get(path)
    return self:exchange("GET " .. self.prefix .. "/" .. path .. " HTTP/1.1\r\n" .. self.fixed .. "\r\n")
end

function Conn:post(path, body)
    return self:exchange("POST " .. self.prefix .. "/" .. path .. " HTTP/1.1\r\n" .. self.fixed
        .. "Content-Type: application/json\r\nContent-Length: " .. #body .. "\r\n\r\n", body)
end

return M
