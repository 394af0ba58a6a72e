-- Many requests at once from one client: client:all() for a list of
-- calls, start()/result() for anything else, refresh batches in parallel.
local octogen = require "octogen"

local client = octogen.client { base_url = os.getenv("OCTOGEN_BASE_URL") }

-- Search every granted catalog at the same time.
local catalogs = assert(client:list_catalogs())
local calls = {}
for i, c in ipairs(catalogs) do
    calls[i] = { "search_products", { catalog = c.catalog, q = "black", limit = 3 } }
end
local results = client:all(calls, { concurrency = 8 })
for i, r in ipairs(results) do
    local page, err = r[1], r[2]
    if page then
        print(("%-12s %d results, e.g. %s"):format(catalogs[i].catalog, #page.items,
            page.items[1] and page.items[1].title or "-"))
    else
        print(("%-12s failed: %s"):format(catalogs[i].catalog, tostring(err)))
    end
end

-- Start two different calls, do other work, then collect them.
local a = client:start("list_catalogs")
local b = client:start("search_products", { q = "hoodie", limit = 1 })
local page = b:result()          -- waits only if it has not arrived yet
print("catalogs:", #a:result(), "first hoodie:", page.items[1] and page.items[1].title)

-- 2,000 refresh targets: four batches of 500, sent four at a time.
local targets = {}
for i = 1, 2000 do
    targets[i] = { catalog = "tidepool", url = ("https://tidepool.example/products/drop-%04d"):format(i) }
end
local res = assert(client:refresh_products(targets, { concurrency = 4 }))
print(("refresh: submitted %d, accepted %d, in %d requests"):format(res.submitted, #res.accepted, #res.request_ids))
