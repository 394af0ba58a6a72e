-- Faceted search: facets AND across names and OR within one name's values,
-- with a price range. Both forms of facets say the same thing.
local octogen = require "octogen"

local client = octogen.client { base_url = os.getenv("OCTOGEN_BASE_URL") }

-- The map shorthand: name = value or {values...}; sent in name order.
local page = assert(client:search_products {
    catalog = "warrenlotas",
    q = "hoodie",
    facets = { color_family = { "Black", "Gray" }, gender = { "male", "unisex" } },
    price_min = 50, price_max = 300,
    limit = 5,
})
print(("black or gray hoodies for men or everyone, 50 to 300: first %d"):format(#page.items))
for _, item in ipairs(page.items) do
    print(("  %-44s %8.2f"):format(item.title, item.current_price))
end

-- The API's own list form, as the other SDKs write it.
local same = assert(client:search_products {
    catalog = "warrenlotas",
    q = "hoodie",
    facets = {
        { name = "color_family", values = { "Black", "Gray" } },
        { name = "gender", values = { "male", "unisex" } },
    },
    price_min = 50, price_max = 300,
    limit = 5,
})
print("the list form finds the same page:", same.items[1] and same.items[1].uuid == page.items[1].uuid)

-- Attribute facets: any other name filters on a product attribute.
local slim = assert(client:search_products { catalog = "warrenlotas", facets = { fit = "slim" }, limit = 3 })
print(("slim fit: %d shown, more pages: %s"):format(#slim.items, tostring(slim.next_cursor ~= nil)))
