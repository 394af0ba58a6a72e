--- pages() and items(): walk a cursor-paged method (search by default).
-- Iterators raise on failure (a generic for cannot carry nil, err); the
-- error carries .cursor, the cursor of the page that failed, so the walk
-- can resume with params.cursor = err.cursor. The walk itself is generic
-- (M.walk, M.items): a walk is a function of its fetch.
local errors = require "octogen.errors"
local args = require "octogen.args"
local client = require "octogen.client"
local methods = require "octogen.methods"
local operation = require "octogen.operation"
require "octogen.search"

local error = error
local format = string.format
local unpack = table.unpack or unpack

local M = {}

--- max_pages from a walk's params, or nil and why it is wrong.
local function check_max_pages(max_pages)
    if max_pages == nil then return nil end
    local bad = args.check_type("max_pages", max_pages, "integer")
    if bad or max_pages < 1 then
        return nil, bad or format("max_pages must be at least 1, got %s", tostring(max_pages))
    end
    return max_pages
end

-- How much of a repeated cursor an error message quotes.
local CURSOR_SHOWN = 200

--- An iterator over pages: fetch(cursor) -> page, meta | nil, err is
-- called with the starting cursor first, then with each next_cursor, until
-- there is none or max_pages were fetched. A next_cursor already used in
-- this walk (the starting one included) would make the walk loop for ever:
-- the page that named it is still handed out, and the next step raises an
-- APIError naming the cursor (err.cursor) instead of requesting it again.
function M.walk(fetch, cursor, max_pages)
    local fetched, done, repeated = 0, false, nil
    local seen = {}
    if cursor ~= nil then seen[cursor] = true end
    return function()
        if done or (max_pages and fetched >= max_pages) then return nil end
        if repeated then
            local err = repeated
            repeated, done = nil, true
            error(err, 2)
        end
        local page, meta = fetch(cursor)
        if not page then
            done = true
            meta.cursor = cursor
            error(meta, 2)
        end
        fetched = fetched + 1
        local next_cursor = page.next_cursor
        if next_cursor == nil then
            done = true
        elseif seen[next_cursor] then
            local shown = tostring(next_cursor)
            if #shown > CURSOR_SHOWN then shown = shown:sub(1, CURSOR_SHOWN) .. "..." end
            repeated = client.bad_shape(meta, format(
                "Octogen API returned the cursor %q a second time in one walk (it would loop for ever)", shown))
            repeated.cursor = next_cursor
        else
            seen[next_cursor] = true
            cursor = next_cursor
        end
        return page, meta
    end
end

--- An iterator over the items of a page iterator.
function M.items(next_page)
    local page, meta, i = nil, nil, 0
    return function()
        while true do
            if page and i < #page.items then
                i = i + 1
                return page.items[i], meta
            end
            page, meta = next_page()
            if not page then return nil end
            i = 0
        end
    end
end

local CURSOR_LIST = table.concat(methods.cursor_paged, ", ")

-- The walk of a cursor-paged method: `first` is the method's name, then
-- its arguments; or, for search, the params and call options. Arguments
-- are checked now (raising at the caller's line); each page is that
-- method's request with params.cursor set.
local function start(self, first, ...)
    client.check_self(self, 3)
    local name, argv
    if type(first) == "string" then
        name = first
        argv = { n = select("#", ...), ... }
        local entry = methods.by_name[name]
        if not (entry and entry.cursor) then
            errors.invalid(format("%q is not a cursor-paged method (those are: %s)", name, CURSOR_LIST), 3)
        end
    else
        name = "search_products"
        argv = { n = select("#", ...) + 1, first, ... }
    end
    local at = methods.by_name[name].cursor
    local params = argv[at]
    if params ~= nil and type(params) ~= "table" then
        errors.invalid(format("%s params must be a table, got %s", name, type(params)), 3)
    end
    -- The caller's table is left as it was: the walk sets cursor on a copy.
    local own = {}
    for k, v in pairs(params or {}) do own[k] = v end
    local max_pages, why = check_max_pages(own.max_pages)
    if why then errors.invalid(why, 3) end
    own.max_pages = nil
    argv[at] = own
    if argv.n < at then argv.n = at end
    local entry = methods.by_name[name]
    local first_op = operation.prepared(self, name, 3, unpack(argv, 1, argv.n))
    return M.walk(function(cursor)
        local op = first_op
        if op then
            first_op = nil
        else
            own.cursor = cursor
            op = operation.prepared(self, name, 3, unpack(argv, 1, argv.n))
        end
        return operation.run(self, entry, op)
    end, own.cursor, max_pages)
end

--- for page, meta in client:pages(params [, call_opts]) do ... end
--- for page, meta in client:pages(method_name, ...) do ... end
function client.methods:pages(first, ...)
    -- Not a tail call: start raises at this method's caller.
    local it = start(self, first, ...)
    return it
end

--- for item, meta in client:items(params [, call_opts]) do ... end
--- for item, meta in client:items(method_name, ...) do ... end
function client.methods:items(first, ...)
    return M.items(start(self, first, ...))
end

return M
