-- Which transport the clients in this nginx worker used. Installed from
-- init_worker_by_lua before anything else loads octogen's Lua layer, it
-- counts the libcurl entry points of the C core (core.request, core.start)
-- and, once lua/octogen/transport/ngx.lua exists, that transport's
-- exchange. The Lua layer looks these up in their module tables at each
-- call, so a wrapper put there sees every call. The wrappers tail-call the
-- real functions: no extra frame, errors keep their levels.
local M = {}

local counts = { curl = 0, ngx = 0 }
M.counts = counts

local installed = false
local ngx_wrapped = false

local function wrap_ngx()
    if ngx_wrapped then return true end
    local ok, transport = pcall(require, "octogen.transport.ngx")
    if not ok or type(transport) ~= "table" then return false end
    local real = transport.exchange
    if type(real) ~= "function" then return false end
    transport.exchange = function(...)
        counts.ngx = counts.ngx + 1
        return real(...)
    end
    ngx_wrapped = true
    return true
end

function M.install()
    if installed then return end
    installed = true
    local core = require "octogen.core"
    for _, name in ipairs { "request", "start" } do
        local real = core[name]
        if type(real) == "function" then
            core[name] = function(...)
                counts.curl = counts.curl + 1
                return real(...)
            end
        end
    end
    wrap_ngx()
end

--- Zero the counts (at the start of each spec file).
function M.reset()
    counts.curl, counts.ngx = 0, 0
end

--- {curl = n, ngx = n, ngx_probe = whether the ngx transport is counted}
function M.report()
    return { curl = counts.curl, ngx = counts.ngx, ngx_probe = wrap_ngx() }
end

return M
