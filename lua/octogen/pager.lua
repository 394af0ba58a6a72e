--- pages() and items(): walk a search with its cursors.
-- Iterators raise on failure (a generic for cannot carry nil, err); the
-- error carries .cursor, the cursor of the page that failed, so the walk
-- can resume with params.cursor = err.cursor. The walk itself is generic
-- (M.walk, M.items) so that octogen.resty walks the same way.
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

--- An iterator over pages: fetch(cursor) -> page, meta | nil, err is
-- called with nil first, then with each next_cursor, until there is none
-- or max_pages were fetched.
function M.walk(fetch, cursor, max_pages)
    local fetched, done = 0, false
    return function()
        if done or (max_pages and fetched >= max_pages) then return nil end
        local page, meta = fetch(cursor)
        if not page then
            done = true
            meta.cursor = cursor
            error(meta, 2)
        end
        fetched = fetched + 1
        if page.next_cursor then
            cursor = page.next_cursor
        else
            done = true
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
