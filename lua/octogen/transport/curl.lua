--- octogen.transport.curl: one prepared request through libcurl.
--
-- Blocking, with the core client's own easy handle (core.request); or,
-- inside a call started with client:start() (octogen.async), on the core
-- client's multi handle (core.start, then core.finish once poll() has seen
-- the transfer end), the started call's coroutine yielding meanwhile.
-- Either way the C core turns the answer into a result or an error object.
local core = require "octogen.core"
local errors = require "octogen.errors"

local type, tostring = type, tostring

local M = { name = "curl" }

--- The scheduler of started calls, set by octogen.async:
--   scheduler.owner() -> the started call the running coroutine works for
--     (its own coroutine or a callback's), or nil;
--   scheduler.wait(req, cc, transfer) -> yields the started call `req`
--     until `transfer` (started on core client `cc`: req's own client, or
--     another such as a token endpoint's) has finished.
M.scheduler = nil

-- What a finished transfer hands back, with the C core's "closed" string
-- made an error object (the client was closed while it was in flight).
local function finish(t)
    local result, meta = core.finish(t)
    if result == nil and type(meta) ~= "table" then
        meta = errors.new("OctogenError", tostring(meta))
    end
    return result, meta
end

--- exchange(cc, settings, req, method, path, body, expect, call) ->
-- result, meta | nil, err. req: the started call this runs in (nil: the
-- blocking exchange). The settings are the core client's own (given to
-- core.new); call holds the per-call ones (timeout, content_type, basic,
-- no_auth).
function M.exchange(cc, _, req, method, path, body, expect, call)
    if not req then
        return core.request(cc, method, path, body, expect, call)
    end
    local t = core.start(cc, method, path, body, expect, call)
    M.scheduler.wait(req, cc, t)
    return finish(t)
end

--- The started call running the current coroutine, if any.
function M.owner()
    local s = M.scheduler
    return s and s.owner() or nil
end

return M
