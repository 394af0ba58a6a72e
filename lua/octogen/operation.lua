--- octogen.operation: an API method made from its entry in octogen.methods
-- and a `prepare` function.
--
-- prepare(self, level, ...) checks the caller's arguments (raising an
-- InvalidArgumentError at `level`, the caller's line, before anything is
-- sent) and returns what one request needs:
--   { params = {name = value} (path parameters), query = {...},
--     headers = {name = value}, body = table|nil, expect = shape,
--     call = per-call options, finish = function(result, meta) -> result, meta }
-- The path comes from the entry's template, so the request a method sends
-- is the one octogen.methods (and the conformance spec) says it sends.
-- Cursor-paged methods (entry.cursor) are walked by client:pages/items,
-- which call prepare once up front and again for each cursor.
local core = require "octogen.core"
local errors = require "octogen.errors"
local args = require "octogen.args"
local client = require "octogen.client"
local methods = require "octogen.methods"
local query = require "octogen.query"
local cache = require "octogen.cache"

local format = string.format
local tostring, type, pairs = tostring, type, pairs

local M = {}

M.query_string, M.check_query = query.string, query.check

--- The prepare function of each operation method, by name.
M.prepare = {}

-- A path parameter percent-encoded (libcurl's escape: all but
-- ALPHA DIGIT - . _ ~), with a segment of dots encoded too, so that
-- "." or ".." is sent as a value and never resolved as a dot segment.
local function segment(self, v)
    local s = core.escape(self, v)
    if s:match("^%.+$") then s = s:gsub("%.", "%%2E") end
    return s
end

--- The value of a path parameter, trimmed; nil and why when it is not a
-- non-empty string (the SDKs refuse a blank one before sending).
function M.path_param(name, v)
    if type(v) == "number" and args.is_integer(v) then v = format("%d", v) end
    if type(v) ~= "string" then
        return nil, format("%s must be a non-empty string, got %s", name, type(v))
    end
    local trimmed = v:match("^%s*(.-)%s*$")
    if trimmed == "" then return nil, format("%s is required (got a blank string)", name) end
    return trimmed
end

--- The path of `entry` with its parameters filled in.
function M.path(self, entry, params)
    if params == nil and not entry.path:find("{", 1, true) then return entry.path end
    return (entry.path:gsub("{([%w_]+)}", function(name)
        local v = params and params[name]
        if v == nil then error("octogen.operation: no value for path parameter " .. name, 2) end
        return segment(self, v)
    end))
end

-- A call's options with headers (a map, checked by prepare) and more.
local function with(call, headers, extra)
    local t = extra or {}
    if headers then t.headers = assert(client.check_headers(headers)) end
    return setmetatable(t, { __index = call })
end

--- One request as prepare described it, through the client's send loop
-- (and the cache, for a method the cache option names).
function M.run(self, entry, op)
    local path = M.path(self, entry, op.params) .. query.string(self, op.query)
    local call = op.call or {}
    local config = client.config(self)
    local c = config.cache
    local result, meta
    if c and c.ttl[entry.name] then
        local inm = op.headers and op.headers["If-None-Match"]
        local transport = client.transport_for(config, 3)
        result, meta = cache.run(c, {
            store = config.store, namespace = config.namespace, on_error = config.on_store_error,
            sleep = client.waiter(config, call, transport, client.started(config, transport)),
        }, {
            name = entry.name, http = entry.http, path = path, body = op.body,
            url = config.base_url .. path, expect = op.expect, inm = inm,
        }, function(headers, expect)
            return client.send(self, entry.http, path, op.body, expect, with(call, headers, { keep_body = true }))
        end)
    else
        result, meta = client.send(self, entry.http, path, op.body, op.expect,
            op.headers and with(call, op.headers) or call)
    end
    if op.finish and result ~= nil then return op.finish(result, meta) end
    return result, meta
end

--- The finish of a cursor-paged method: the page checked (a table with
-- items, next_cursor a string when present). `what` names it in errors.
function M.page(what)
    return function(page, meta)
        -- A 2xx with no body (204) has no page in it. (The C core returns
        -- that as an APIError itself; this keeps a `true` from ever being
        -- indexed.)
        if type(page) ~= "table" then
            return nil, client.bad_shape(meta, format("Octogen API answered a %s with HTTP %s and no page",
                what, tostring(meta.status)))
        end
        -- The C core has checked that items, when present, is a JSON array.
        if page.items == nil then page.items = core.array {} end
        if page.next_cursor ~= nil and type(page.next_cursor) ~= "string" then
            return nil, client.bad_shape(meta, format(
                "Octogen API returned a %s page whose nextCursor is not a string", what))
        end
        return page, meta
    end
end

--- The request of method `name` for these arguments, checked and its
-- body encoded; raises at `level` (1: the caller of prepared).
function M.prepared(self, name, level, ...)
    local op = M.prepare[name](self, level + 2, ...)
    if op.body ~= nil and type(op.body) ~= "string" then
        op.body = client.encode(op.body, op.body_what or name, level + 1)
    end
    return op
end
local prepared = M.prepared

--- Install client:<name>(...) for an entry of octogen.methods.
function M.define(name, prepare)
    local entry = methods.by_name[name]
    assert(entry and entry.path, "octogen.operation: no operation " .. tostring(name))
    M.prepare[name] = prepare
    client.methods[name] = function(self, ...)
        client.check_self(self, 2)
        return M.run(self, entry, prepared(self, name, 2, ...))
    end
end

---------------------------------------------------------------------------
-- Argument checks the operations share. Each returns the value (or a
-- table) or raises at `level`.

--- The per-call options in `opts` with the method's own keys (`own`, a
-- set) left for the caller: raises on an unknown key.
function M.call_options(opts, what, own, level)
    local call, why = client.call_options(opts, what, own)
    if not call then errors.invalid(why, level + 1) end
    return call
end

--- A table of parameters or nil; raises when it is another type.
function M.params_table(v, what, level)
    if v ~= nil and type(v) ~= "table" then
        errors.invalid(format("%s must be a table, got %s", what, type(v)), level + 1)
    end
    return v or {}
end

--- limit 1..100 (nil passes).
function M.check_limit(v, level, max)
    max = max or 100
    if v == nil then return nil end
    local why = args.check_type("limit", v, "integer")
    if why or v < 1 or v > max then
        errors.invalid(why or format("limit must be an integer between 1 and %d, got %s", max, tostring(v)),
            level + 1)
    end
    return v
end

--- A string or nil; raises for another type (and for "" when non_empty).
function M.check_string(name, v, level, non_empty)
    if v == nil then return nil end
    if type(v) ~= "string" then
        errors.invalid(format("%s must be a string, got %s", name, type(v)), level + 1)
    end
    if non_empty and v == "" then
        errors.invalid(format("%s must not be empty", name), level + 1)
    end
    return v
end

--- Keys for a cursor page: cursor and limit, and the call options.
M.PAGE_KEYS = { cursor = true, limit = true }

--- The query of a plain cursor-paged list (cursor, limit) and the call
-- options, from params.
function M.page_query(params, what, level, extra)
    params = M.params_table(params, what .. " params", level + 1)
    local own = { cursor = true, limit = true }
    for k in pairs(extra or {}) do own[k] = true end
    local call = M.call_options(params, what, own, level + 1)
    local q = {
        cursor = M.check_string("cursor", params.cursor, level + 1),
        limit = M.check_limit(params.limit, level + 1),
    }
    return q, call, params
end

return M
