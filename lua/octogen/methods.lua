--- octogen.methods: the API methods of a client, in one place.
--
-- Each entry names a method of octogen.client that talks to the API:
--   name       the method's name on the client
--   startable  true when client:start(name, ...) and client:all{...} take it
--              (it makes its requests and returns, rather than iterating)
--   paged      true when it walks a search with cursors (an iterator whose
--              failures raise with err.cursor)
--   returns    the annotated type of its first result (the first ---@return
--              of the method in types/octogen.d.lua, without "|nil":
--              spec/annotations_spec.lua checks the two agree)
-- client:start and client:all (async.lua), the annotations spec and the
-- README's method list derive from this list; the methods themselves live in
-- client.lua, search.lua, pager.lua and refresh.lua.
local M = {
    { name = "list_catalogs", startable = true, paged = false, returns = "octogen.Catalog[]" },
    { name = "search_products", startable = true, paged = false, returns = "octogen.SearchPage" },
    { name = "pages", startable = false, paged = true, returns = "octogen.PageIterator" },
    { name = "items", startable = false, paged = true, returns = "octogen.ItemIterator" },
    { name = "lookup_product", startable = true, paged = false, returns = "octogen.LookupResponse" },
    { name = "refresh_products", startable = true, paged = false, returns = "octogen.RefreshResult" },
    { name = "request", startable = true, paged = false, returns = "any" },
}

--- name -> entry.
local by_name = {}
for _, m in ipairs(M) do by_name[m.name] = m end
M.by_name = by_name

--- The names of the methods client:start() takes, sorted (for messages).
local startable = {}
for _, m in ipairs(M) do
    if m.startable then startable[#startable + 1] = m.name end
end
table.sort(startable)
M.startable = startable

return M
