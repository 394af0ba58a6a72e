-- Quick start: list the catalogs your key can search, then search one.
--   OCTO_API_KEY=... lua5.4 examples/quickstart.lua
-- OCTOGEN_BASE_URL points it elsewhere (make demo points it at the mock).
local octogen = require "octogen"

local client = octogen.client { base_url = os.getenv("OCTOGEN_BASE_URL") }

local catalogs, err = client:list_catalogs()
if not catalogs then
    io.stderr:write("could not list catalogs: ", tostring(err), "\n")
    os.exit(1)
end
for _, c in ipairs(catalogs) do
    print(("%-14s %-26s %6d products"):format(c.catalog, c.display_name, c.product_count))
end

local catalog = catalogs[1].catalog
local page = assert(client:search_products { catalog = catalog, q = "jacket", limit = 5 })
print(("\nFirst %d results for \"jacket\" in %s:"):format(#page.items, catalog))
for _, item in ipairs(page.items) do
    local brand = item.brand and item.brand.name or "-"
    print(("  %-40s %-18s %8.2f"):format(item.title, brand, item.current_price or 0))
end
