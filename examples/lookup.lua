-- Look a product up by its page URL.
local octogen = require "octogen"

local client = octogen.client { base_url = os.getenv("OCTOGEN_BASE_URL") }
local url = arg[1]
if not url then
    -- No URL given: take one from a search so the example runs anywhere.
    local page = assert(client:search_products { catalog = "tidepool", limit = 1 })
    url = page.items[1].product_url
end

local res, err = client:lookup_product(url, { resolution_mode = "auto" })
if not res then
    io.stderr:write(tostring(err), "\n")
    os.exit(err:is("NotFoundError") and 2 or 1)
end
local p = res.product
print(("%s (%s)"):format(p.title, res.catalog_display_name or res.source))
print(("  price:    %s %s"):format(p.current_price, p.currency or ""))
print(("  in stock: %s"):format(tostring(p.in_stock)))
print(("  sizes:    %s"):format(table.concat(p.sizes or {}, ", ")))
if p.colors then
    for _, c in ipairs(p.colors) do print(("  colour:   %s %s"):format(c.label, c.hex_code or "")) end
end
