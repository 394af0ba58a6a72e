-- Peer for make bench: what a Lua user writes today with the usual
-- libraries: LuaSocket's socket.http plus lua-cjson. socket.http sends
-- "Connection: close" and opens a new TCP connection for every request;
-- that is how it works, not something this peer chose.
--
--     local peer = dofile "bench/peers/luasocket_http.lua"
--     local p = peer.new(base_url, api_key)
--     local value, status = p:get("catalogs")
--     local value, status = p:post("products/search", '{"catalog":"x"}')

local http = require "socket.http"
local ltn12 = require "ltn12"
local cjson = require "cjson"

local M = {}
local Peer = {}
Peer.__index = Peer

function M.new(base_url, key)
    return setmetatable({ base = base_url:gsub("/+$", ""), auth = "Bearer " .. key }, Peer)
end

function Peer:get(path)
    local chunks = {}
    local ok, status = http.request {
        url = self.base .. "/" .. path,
        headers = { authorization = self.auth, accept = "application/json" },
        sink = ltn12.sink.table(chunks),
    }
    if not ok then error("socket.http peer: " .. tostring(status)) end
    return cjson.decode(table.concat(chunks)), status
end

function Peer:post(path, body)
    local chunks = {}
    local ok, status = http.request {
        url = self.base .. "/" .. path, method = "POST",
        headers = { authorization = self.auth, accept = "application/json",
                    ["content-type"] = "application/json", ["content-length"] = tostring(#body) },
        source = ltn12.source.string(body),
        sink = ltn12.sink.table(chunks),
    }
    if not ok then error("socket.http peer: " .. tostring(status)) end
    return cjson.decode(table.concat(chunks)), status
end

return M
