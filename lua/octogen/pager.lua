--- pages() and items(): walk a search with its cursors.
-- Iterators raise on failure (a generic for cannot carry nil, err); the
-- error carries .cursor, the cursor of the page that failed, so the walk
-- can resume with params.cursor = err.cursor.
local errors = require "octogen.errors"
local args = require "octogen.args"
local client = require "octogen.client"
local search = require "octogen.search"

local error = error
local format = string.format

local EXTRA = { max_pages = true }

local function start(self, params, call_opts, level)
    client.check_self(self, level + 1)
    local body, why = search.shape(params, EXTRA)
    if not body then errors.invalid(why, level + 1) end
    local call, cwhy = client.call_options(call_opts, "pages")
    if not call then errors.invalid(cwhy, level + 1) end
    local max_pages = params and params.max_pages
    if max_pages ~= nil then
        local bad = args.check_type("max_pages", max_pages, "integer")
        if bad or max_pages < 1 then
            errors.invalid(bad or format("max_pages must be at least 1, got %s", tostring(max_pages)), level + 1)
        end
    end
    return body, max_pages, call
end

--- for page, meta in client:pages(params [, call_opts]) do ... end
function client.methods:pages(params, call_opts)
    local body, max_pages, call = start(self, params, call_opts, 2)
    local fetched, done = 0, false
    return function()
        if done or (max_pages and fetched >= max_pages) then return nil end
        local cursor = body.cursor
        local page, meta = search.fetch(self, body, call)
        if not page then
            done = true
            meta.cursor = cursor
            error(meta, 2)
        end
        fetched = fetched + 1
        if page.next_cursor then
            body.cursor = page.next_cursor
        else
            done = true
        end
        return page, meta
    end
end

--- for item, meta in client:items(params [, call_opts]) do ... end
function client.methods:items(params, call_opts)
    start(self, params, call_opts, 2)
    local next_page = self:pages(params, call_opts)
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

return {}
