--- pages() and items(): walk a search with its cursors.
-- Iterators raise on failure (a generic for cannot carry nil, err); the
-- error carries .cursor, the cursor of the page that failed, so the walk
-- can resume with params.cursor = err.cursor. The walk itself is generic
-- (M.walk, M.items): a walk is a function of its fetch.
local errors = require "octogen.errors"
local args = require "octogen.args"
local client = require "octogen.client"
local search = require "octogen.search"

local error = error
local format = string.format

local M = {}

local EXTRA = { max_pages = true }

--- The shaped body, max_pages and call options of a walk, or nil and
-- why they are wrong.
function M.check(params, call_opts)
    local body, why = search.shape(params, EXTRA)
    if not body then return nil, why end
    local call, cwhy = client.call_options(call_opts, "pages")
    if not call then return nil, cwhy end
    local max_pages = params and params.max_pages
    if max_pages ~= nil then
        local bad = args.check_type("max_pages", max_pages, "integer")
        if bad or max_pages < 1 then
            return nil, bad or format("max_pages must be at least 1, got %s", tostring(max_pages))
        end
    end
    return body, max_pages, call
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

local function start(self, params, call_opts)
    client.check_self(self, 3)
    local body, max_pages, call = M.check(params, call_opts)
    if not body then errors.invalid(max_pages, 3) end
    return M.walk(function(cursor)
        body.cursor = cursor
        return search.fetch(self, body, call)
    end, body.cursor, max_pages)
end

--- for page, meta in client:pages(params [, call_opts]) do ... end
function client.methods:pages(params, call_opts)
    return start(self, params, call_opts)
end

--- for item, meta in client:items(params [, call_opts]) do ... end
function client.methods:items(params, call_opts)
    return M.items(start(self, params, call_opts))
end

return M
