-- Walk every page of a search with the cursor iterators.
local octogen = require "octogen"

local client = octogen.client { base_url = os.getenv("OCTOGEN_BASE_URL") }
local query = { catalog = "warrenlotas", q = "hoodie", limit = 10,
                facets = { color_family = { "Black", "Gray" } } }

-- One page at a time: each page is {items = {...}, next_cursor = ...}.
local pages, products = 0, 0
for page in client:pages(query) do
    pages = pages + 1
    products = products + #page.items
end
print(("%d black or gray hoodies over %d pages"):format(products, pages))

-- One product at a time, stopping early whenever we like.
local cheapest
for item in client:items(query) do
    if not cheapest or item.current_price < cheapest.current_price then cheapest = item end
end
if cheapest then
    print(("cheapest: %s at %.2f (%s)"):format(cheapest.title, cheapest.current_price, cheapest.product_url))
end

-- A failure mid-walk raises; err.cursor says where to resume.
local ok, err = pcall(function()
    for _ in client:pages(query) do end
end)
if not ok then print("stopped at cursor", err.cursor, err) end
