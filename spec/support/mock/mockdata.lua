-- Deterministic data set of the mock Octogen API.
--
-- Loaded by the nginx mock (LuaJIT, init_by_lua) and by the busted harness
-- (Lua 5.1/5.3/5.4, LuaJIT), so it must give identical results everywhere:
-- no math.random, no bit operations, no integer division. The generator is a
-- Park-Miller LCG (modulus 2^31-1, multiplier 16807); every intermediate
-- product stays below 2^46, exact both as Lua 5.3+ integers and as doubles.
--
-- Products are plain Lua tables (absent optional values are nil); the server
-- turns them into wire objects with JSON nulls. The search filter lives here
-- too, so the harness can compute the same facts as the server.

local M = {}

local floor, format, concat = math.floor, string.format, table.concat

M.KEYS = {
    octo_test_key = { "warrenlotas", "tidepool", "lumen-home" },
    octo_demo_key = { "warrenlotas", "tidepool", "lumen-home" },
    octo_limited_key = { "tidepool" },
    -- a merchant organization's key: refused (403) on every /v1 route
    octo_merchant_key = { "warrenlotas", "tidepool", "lumen-home" },
    -- a super-admin: every catalog, no organization
    octo_admin_key = { "warrenlotas", "tidepool", "lumen-home", "northwind" },
}

-- Who is behind each key (GET /me). org: nil for a super-admin. Each key is
-- its own organization, so voyages and URL lists of one key are invisible
-- to the others. key.source nil: left out of /me (unknown).
M.PRINCIPALS = {
    octo_test_key = {
        principal = "api_key",
        org = { id = "5b0f8a52-3c1e-4d7a-9f10-6e2b7c4d8a01", name = "Acme Developer", slug = "acme-developer",
                type = "catalog_partner" },
        key = { id = "test", prefix = "octo_live_3f9c1a2b4d", source = "ui" },
    },
    octo_demo_key = {
        principal = "api_key",
        org = { id = "9d2e4f60-7a1b-4c3d-8e5f-0a1b2c3d4e02", name = "Demo Labs", slug = "demo-labs",
                type = "catalog_partner" },
        key = { id = "demo", prefix = "octo_live_7e2d9c0a51", source = "ui" },
    },
    octo_limited_key = {
        principal = "api_key",
        org = { id = "1c3e5a70-2b4d-4f6a-8c0e-1a2b3c4d5e03", name = "Limited Co", slug = "limited-co",
                type = "catalog_partner" },
        key = { id = "limited", prefix = "octo_live_0b8a6f4e22" },
    },
    octo_merchant_key = {
        principal = "api_key",
        org = { id = "7f6e5d4c-3b2a-4190-8877-665544332204", name = "Merchant Shop", slug = "merchant-shop",
                type = "merchant" },
        key = { id = "merchant", prefix = "octo_live_c4d3e2f1a0", source = "ui" },
    },
    octo_admin_key = { principal = "super_admin" },
}

-- kind: which product types the catalog sells; n: generated products.
M.CATALOGS = {
    { key = "warrenlotas", name = "Warren Lotas", base = "https://warrenlotas.com",
      host = "warrenlotas.com", indexed = "2026-06-02T09:15:00Z", n = 900, kind = "street",
      prefix = "WL" },
    { key = "tidepool", name = "Tidepool Supply Co.", base = "https://tidepool.example",
      host = "tidepool.example", indexed = "2026-06-01T22:40:11Z", n = 700, kind = "outdoor",
      prefix = "TP" },
    { key = "lumen-home", name = "Lumen Home", base = nil,
      host = "lumenhome.example", indexed = nil, n = 450, kind = "home", prefix = "LH",
      currency = "EUR" },
    { key = "northwind", name = "Northwind Outfitters", base = "https://northwind.example",
      host = "northwind.example", indexed = "2026-05-30T04:00:00Z", n = 250, kind = "outdoor",
      prefix = "NW" },
}

-- Product URLs present in both warrenlotas and tidepool (refresh by bare URL
-- gives ambiguous_url).
M.SHARED_HOST = "collab.example"
M.SHARED_COUNT = 3

local BRANDS = {
    street = {
        { name = "Warren Lotas", slug = "warren-lotas", url = "https://warrenlotas.com" },
    },
    outdoor = {
        { name = "Tidepool", slug = "tidepool", url = nil },
        { name = "Harbor & Pine", slug = "harbor-and-pine", url = "https://harborandpine.example" },
        { name = "Saltline", slug = "saltline", url = nil },
        { name = "Northwind", slug = "northwind", url = "https://northwind.example" },
    },
    home = {
        { name = "Lumen", slug = "lumen", url = nil },
        { name = "Oakfield Studio", slug = "oakfield-studio", url = "https://oakfield.example" },
    },
}

local COLORS = {
    { "Black", "#111111", "Black" }, { "Washed Black", "#2a2a2a", "Black" },
    { "Vintage White", "#f4f1e8", "White" }, { "Bone", "#e8e2d0", "White" },
    { "Harbor Blue", "#2b4c7e", "Blue" }, { "Navy", "#1f2a44", "Blue" },
    { "Forest Green", "#2f5d3a", "Green" }, { "Olive", "#6b6b3a", "Green" },
    { "Sand", "#c2a878", "Brown" }, { "Chocolate", "#4e342e", "Brown" },
    { "Heather Gray", "#9e9e9e", "Gray" }, { "Burnt Orange", "#cc5500", "Orange" },
    { "Rose", "#e8a0b0", "Pink" }, { "Plum", "#6a3d6a", "Purple" },
    { "Cherry Red", "#b0172a", "Red" }, { "Mustard", "#d4a017", "Yellow" },
}

local ADJECTIVES = {
    "Washed", "Heavyweight", "Classic", "Oversized", "Vintage", "Essential", "Packable",
    "Relaxed", "Cropped", "Cozy", "Everyday", "Limited", "Signature", "Brushed", "Lightweight",
}

local APPAREL_SIZES = { "xs", "s", "m", "l", "xl", "xxl" }
local SHOE_SIZES = { "7", "8", "9", "10", "11", "12" }

-- name, weight, title nouns, category path, genders, materials, fits, price range
-- (whole dollars), sizes, activewear
local TYPES = {
    street = {
        { "hoodie", 30, { "Hoodie", "Zip Hoodie", "Pullover Hoodie" }, { "Apparel", "Tops", "Hoodies & Sweatshirts" },
          { "male", "unisex", "female" }, { "cotton", "fleece" }, { "oversized", "relaxed", "regular" }, 90, 260, APPAREL_SIZES },
        { "t-shirt", 18, { "Tee", "T-Shirt", "Graphic Tee" }, { "Apparel", "Tops", "T-Shirts" },
          { "male", "unisex", "female" }, { "cotton" }, { "regular", "oversized", "slim" }, 40, 95, APPAREL_SIZES },
        { "jacket", 10, { "Bomber Jacket", "Work Jacket", "Varsity Jacket" }, { "Apparel", "Outerwear", "Jackets" },
          { "male", "unisex" }, { "nylon", "leather", "wool" }, { "regular", "relaxed" }, 180, 650, APPAREL_SIZES },
        { "sweatpants", 8, { "Sweatpants", "Joggers" }, { "Apparel", "Bottoms", "Sweatpants" },
          { "male", "unisex", "female" }, { "cotton", "fleece" }, { "relaxed", "slim" }, 80, 180, APPAREL_SIZES },
        { "jeans", 8, { "Jeans", "Denim Jeans" }, { "Apparel", "Bottoms", "Jeans" },
          { "male", "female" }, { "denim" }, { "slim", "regular", "relaxed" }, 150, 420, APPAREL_SIZES },
        { "sneaker", 8, { "Sneaker", "Low Top Sneaker", "High Top Sneaker" }, { "Footwear", "Sneakers" },
          { "male", "unisex", "female" }, { "leather", "suede" }, {}, 160, 480, SHOE_SIZES },
        { "cap", 6, { "Cap", "Snapback Cap" }, { "Accessories", "Hats" },
          { "unisex" }, { "cotton", "nylon" }, {}, 35, 70, {} },
        { "dress", 4, { "Slip Dress", "Mini Dress" }, { "Apparel", "Dresses" },
          { "female" }, { "satin", "cotton" }, { "slim", "relaxed" }, 120, 320, APPAREL_SIZES },
        { "shorts", 6, { "Shorts", "Mesh Shorts" }, { "Apparel", "Bottoms", "Shorts" },
          { "male", "unisex" }, { "cotton", "polyester" }, { "relaxed", "regular" }, 60, 140, APPAREL_SIZES, true },
    },
    outdoor = {
        { "jacket", 22, { "Rain Shell Jacket", "Puffer Jacket", "Fleece Jacket", "Windbreaker Jacket" },
          { "Apparel", "Outerwear", "Jackets" }, { "male", "female", "unisex" }, { "nylon", "recycled nylon", "fleece" },
          { "relaxed", "regular", "slim" }, 60, 380, APPAREL_SIZES, true },
        { "hoodie", 10, { "Hoodie", "Trail Hoodie" }, { "Apparel", "Tops", "Hoodies & Sweatshirts" },
          { "male", "female", "unisex" }, { "cotton", "merino" }, { "regular", "relaxed" }, 55, 140, APPAREL_SIZES, true },
        { "pants", 12, { "Hiking Pants", "Trail Pants", "Cargo Pants" }, { "Apparel", "Bottoms", "Pants" },
          { "male", "female" }, { "nylon", "cotton" }, { "regular", "slim" }, 50, 160, APPAREL_SIZES, true },
        { "boots", 10, { "Hiking Boots", "Rain Boots" }, { "Footwear", "Boots" },
          { "male", "female", "unisex" }, { "leather", "rubber" }, {}, 90, 320, SHOE_SIZES },
        { "sneaker", 8, { "Trail Sneaker", "Running Sneaker" }, { "Footwear", "Sneakers" },
          { "male", "female", "unisex" }, { "mesh", "nylon" }, {}, 80, 190, SHOE_SIZES, true },
        { "backpack", 10, { "Daypack Backpack", "Roll Top Backpack" }, { "Accessories", "Bags", "Backpacks" },
          { "unisex" }, { "nylon", "canvas" }, {}, 45, 240, {} },
        { "t-shirt", 12, { "Tee", "Base Layer T-Shirt" }, { "Apparel", "Tops", "T-Shirts" },
          { "male", "female", "unisex" }, { "merino", "cotton" }, { "slim", "regular" }, 25, 85, APPAREL_SIZES, true },
        { "dress", 6, { "Sun Dress", "Wrap Dress" }, { "Apparel", "Dresses" },
          { "female" }, { "linen", "cotton" }, { "relaxed", "regular" }, 70, 190, APPAREL_SIZES },
        { "beanie", 10, { "Beanie", "Watch Cap Beanie" }, { "Accessories", "Hats" },
          { "unisex" }, { "wool", "merino" }, {}, 20, 55, {} },
    },
    home = {
        { "lamp", 18, { "Table Lamp", "Floor Lamp", "Desk Lamp" }, { "Home", "Lighting", "Lamps" },
          { "unisex" }, { "brass", "ceramic", "oak" }, {}, 60, 480, {} },
        { "throw", 14, { "Throw Blanket", "Knit Throw" }, { "Home", "Textiles", "Throws" },
          { "unisex" }, { "wool", "cotton" }, {}, 45, 190, {} },
        { "pillow", 14, { "Throw Pillow", "Linen Cushion Pillow" }, { "Home", "Textiles", "Pillows" },
          { "unisex" }, { "linen", "velvet" }, {}, 25, 90, {} },
        { "candle", 14, { "Candle", "Soy Candle" }, { "Home", "Decor", "Candles" },
          { "unisex" }, { "soy wax" }, {}, 18, 64, {} },
        { "vase", 12, { "Vase", "Bud Vase" }, { "Home", "Decor", "Vases" },
          { "unisex" }, { "ceramic", "glass" }, {}, 30, 160, {} },
        { "rug", 10, { "Area Rug", "Runner Rug" }, { "Home", "Textiles", "Rugs" },
          { "unisex" }, { "wool", "jute" }, {}, 120, 900, {} },
        { "mug", 10, { "Mug", "Stoneware Mug" }, { "Home", "Kitchen", "Mugs" },
          { "unisex" }, { "stoneware" }, {}, 16, 38, {} },
        { "robe", 8, { "Lounge Robe", "Waffle Robe" }, { "Home", "Loungewear", "Robes" },
          { "female", "unisex" }, { "cotton", "linen" }, { "relaxed" }, 70, 160, APPAREL_SIZES },
    },
}

local FRACTIONS = { 0, 0, 0, 50, 95, 0, 50 } -- cents: mostly whole dollars

local function new_rng(seed)
    local state = seed
    local r = {}
    function r.next()
        state = (state * 16807) % 2147483647
        return state
    end
    -- integer in 1..n
    function r.int(n) return r.next() % n + 1 end
    function r.pick(list) return list[r.next() % #list + 1] end
    function r.chance(pct) return r.next() % 100 < pct end
    return r
end

local function slugify(s)
    s = s:lower():gsub("&", "and"):gsub("[^%w]+", "-"):gsub("^%-+", ""):gsub("%-+$", "")
    return s
end
M.slugify = slugify

local function hex8(n) return format("%08x", n) end

local function make_uuid(rng)
    local a, b, c, d = hex8(rng.next()), hex8(rng.next()), hex8(rng.next()), hex8(rng.next())
    local variant = ({ "8", "9", "a", "b" })[rng.next() % 4 + 1]
    return a .. "-" .. b:sub(1, 4) .. "-4" .. b:sub(6, 8) .. "-" .. variant .. c:sub(2, 4)
        .. "-" .. c:sub(5, 8) .. d
end

local function weighted(rng, types)
    local total = 0
    for i = 1, #types do total = total + types[i][2] end
    local x = rng.next() % total
    for i = 1, #types do
        x = x - types[i][2]
        if x < 0 then return types[i] end
    end
    return types[#types]
end

local function pad2(n) return format("%02d", n) end

-- Words a keyword query can match: title, brand name, product type, tags.
local function word_index(p)
    local seen, out = {}, {}
    local function add(text)
        for w in text:lower():gmatch("[%w]+") do
            if not seen[w] then seen[w] = true; out[#out + 1] = w end
        end
    end
    add(p.title)
    add(p.brand.name)
    add(p.type)
    for i = 1, #p.tags do add(p.tags[i]) end
    return "|" .. concat(out, "|") .. "|"
end

-- Facet values by facet name, lowercased: facet[name] = { value = true }.
local function facet_index(p)
    local f = {}
    local function set(name, values)
        local s = f[name] or {}
        for i = 1, #values do s[tostring(values[i]):lower()] = true end
        f[name] = s
    end
    set("brand_name", { p.brand.name })
    set("raw_brand_name", { p.brand.name })
    set("brand_slug", { p.brand.slug })
    set("product_type", { p.type })
    set("gender", { p.gender })
    set("age_groups", p.age_groups)
    set("color", { p.color.label })
    set("color_family", { p.color.family })
    set("is_activewear", { p.is_activewear and "true" or "false" })
    for d = 1, #p.category_path do
        set("category_path.depth_" .. (d - 1), { p.category_path[d] })
    end
    for name, values in pairs(p.attributes) do
        set("attribute_facets." .. name, values)
    end
    return f
end

local function make_product(rng, cat, i, ptype, shared_slug)
    local p = { catalog = cat.key, index = i }
    p.uuid = make_uuid(rng)
    local brand = rng.pick(BRANDS[cat.kind])
    if cat.key == "northwind" then brand = BRANDS.outdoor[4] end
    if cat.key == "tidepool" and brand.slug == "northwind" then brand = BRANDS.outdoor[1] end
    p.brand = brand
    local color = rng.pick(COLORS)
    p.color = { label = color[1], hex = color[2], family = color[3] }
    local noun = rng.pick(ptype[3])
    local adj = rng.pick(ADJECTIVES)
    p.type = ptype[1]
    p.title = adj .. " " .. color[1] .. " " .. noun
    local slug = shared_slug or (slugify(p.title) .. "-" .. i)
    p.slug = slug
    local host = shared_slug and M.SHARED_HOST or cat.host
    p.url = "https://" .. host .. "/products/" .. slug
    -- price in cents, kept as an integer until the final division
    local dollars = ptype[8] + rng.next() % (ptype[9] - ptype[8] + 1)
    local cents = dollars * 100 + FRACTIONS[rng.next() % #FRACTIONS + 1]
    p.price = cents / 100
    if rng.chance(20) then
        p.original_price = (cents + (10 + rng.next() % 60) * 100) / 100
    end
    if rng.chance(70) then
        p.rating = { average = (30 + rng.next() % 21) / 10, count = 1 + rng.next() % 400 }
    end
    local img_host = "https://img." .. host .. "/"
    p.images = {}
    if not rng.chance(3) then
        local n = 1 + rng.next() % 3
        for k = 1, n do p.images[k] = img_host .. slug .. "-" .. k .. ".jpg" end
        p.image_url = p.images[1]
    end
    p.updated_at = "2026-05-" .. pad2(1 + rng.next() % 28) .. "T" .. pad2(rng.next() % 24) .. ":"
        .. pad2(rng.next() % 60) .. ":" .. pad2(rng.next() % 60) .. "Z"
    p.score = 35 + rng.next() % 65
    p.currency = cat.currency or "USD"
    if not rng.chance(10) then
        p.description = p.title .. " by " .. brand.name .. "."
    end
    p.in_stock = not rng.chance(10)
    local sizes = {}
    local all_sizes = ptype[10]
    if #all_sizes > 0 then
        local first = 1 + rng.next() % 2
        for k = first, #all_sizes - rng.next() % 2 do sizes[#sizes + 1] = all_sizes[k] end
    end
    p.sizes = sizes
    p.gender = rng.pick(ptype[5])
    p.age_groups = rng.chance(8) and { "kids" } or { "adult" }
    p.material = rng.pick(ptype[6])
    p.fit = #ptype[7] > 0 and rng.pick(ptype[7]) or nil
    p.is_activewear = ptype[11] and true or false
    p.category_path = ptype[4]
    p.attributes = { material = { p.material } }
    if p.fit then p.attributes.fit = { p.fit } end
    p.tags = { ptype[1], p.material, color[3]:lower() }
    if p.fit then p.tags[#p.tags + 1] = p.fit end
    if p.original_price then p.tags[#p.tags + 1] = "sale" end
    p.patterns = rng.chance(30) and { "solid" } or {}
    if cat.kind == "home" and rng.chance(50) then
        p.dimensions = (20 + rng.next() % 80) .. " x " .. (20 + rng.next() % 80) .. " cm"
    end
    p.product_id = format("%s-%06d", cat.prefix, i)
    p.group_id = format("%s-G%04d", cat.prefix, floor(i / 3))
    if rng.chance(25) then p.gtin = format("0%06d%06d", rng.next() % 1000000, i) end
    p.words = word_index(p)
    p.facets = facet_index(p)
    return p
end

--- Build the whole data set. Deterministic: same tables on every run.
function M.build()
    local rng = new_rng(20260523)
    local db = { catalogs = {}, catalog = {}, products = {}, by_uuid = {}, by_url = {} }
    for ci = 1, #M.CATALOGS do
        local c = M.CATALOGS[ci]
        local cat = { key = c.key, name = c.name, base = c.base, host = c.host, indexed = c.indexed,
                      kind = c.kind, prefix = c.prefix, currency = c.currency, products = {} }
        db.catalogs[ci] = cat
        db.catalog[c.key] = cat
        local types = TYPES[c.kind]
        for i = 1, c.n do
            local p = make_product(rng, cat, i, weighted(rng, types))
            cat.products[#cat.products + 1] = p
        end
        if c.key == "warrenlotas" or c.key == "tidepool" then
            for s = 1, M.SHARED_COUNT do
                local i = c.n + s
                local p = make_product(rng, cat, i, types[c.key == "warrenlotas" and 1 or 2],
                    "tidepool-x-warren-lotas-hoodie-" .. s)
                p.title = "Tidepool x Warren Lotas Collab Hoodie " .. s
                p.words = word_index(p)
                cat.products[#cat.products + 1] = p
            end
        end
        for _, p in ipairs(cat.products) do
            db.products[#db.products + 1] = p
            db.by_uuid[p.uuid] = p
            local key = p.url:lower()
            local list = db.by_url[key] or {}
            list[#list + 1] = p
            db.by_url[key] = list
        end
    end
    db.keys = M.KEYS
    return db
end

--- Catalog keys granted to `key` (array, catalog order) or nil for an unknown key.
function M.grants(key)
    return M.KEYS[key]
end

local function facet_matches(p, facet)
    local name = facet.name:lower()
    local set = p.facets[name] or p.facets["attribute_facets." .. name]
    if not set then return false end
    for i = 1, #facet.values do
        if set[tostring(facet.values[i]):lower()] then return true end
    end
    return false
end

M.facet_matches = facet_matches

--- Lowercased keywords of a query string (array; empty for nil or blank).
function M.keywords(q)
    local words = {}
    if type(q) == "string" then
        for w in q:lower():gmatch("[%w]+") do words[#words + 1] = w end
    end
    return words
end

local function words_match(p, words)
    local idx = p.words
    for i = 1, #words do
        local w = words[i]
        if not idx:find("|" .. w .. "|", 1, true) then
            local stem = w:match("^(.-)s$")
            if not (stem and #stem > 1 and idx:find("|" .. stem .. "|", 1, true)) then
                return false
            end
        end
    end
    return true
end

--- Products matching a search, in deterministic order (catalog order, then
--- generation order). opts: catalogs (array of keys), q (string), facets
--- (array of {name, values}), price_min, price_max (numbers).
function M.search(db, opts)
    local words = M.keywords(opts.q)
    local facets = opts.facets or {}
    local pmin, pmax = opts.price_min, opts.price_max
    local out = {}
    for ci = 1, #opts.catalogs do
        local cat = db.catalog[opts.catalogs[ci]]
        local products = cat and cat.products or {}
        for i = 1, #products do
            local p = products[i]
            local ok = (not pmin or p.price >= pmin) and (not pmax or p.price <= pmax)
            if ok and #words > 0 then ok = words_match(p, words) end
            if ok then
                for f = 1, #facets do
                    if not facet_matches(p, facets[f]) then ok = false; break end
                end
            end
            if ok then out[#out + 1] = p end
        end
    end
    return out
end

--- Canonical forms of a product URL: returns normalized (https, lowercase
--- host without www., no fragment, tracking parameters dropped, query sorted,
--- no trailing slash) and loose (normalized without query, lowercased, Shopify
--- /collections/x/products/h mapped to /products/h); nil if not http(s).
function M.normalize_url(url)
    if type(url) ~= "string" then return nil end
    local scheme, rest = url:match("^(%a[%w+.-]*)://(.*)$")
    if not scheme then return nil end
    scheme = scheme:lower()
    if scheme ~= "http" and scheme ~= "https" then return nil end
    rest = rest:gsub("#.*$", "")
    local hostport, path = rest:match("^([^/?]*)(.*)$")
    hostport = hostport:gsub("^.*@", "")
    if hostport == "" or not hostport:match("^[%w%.%-%[%]:]+$") then return nil end
    local host = hostport:lower():gsub("^www%.", ""):gsub(":443$", ""):gsub(":80$", "")
    local query = ""
    local qpos = path:find("?", 1, true)
    if qpos then
        query = path:sub(qpos + 1)
        path = path:sub(1, qpos - 1)
    end
    if path == "" then path = "/" end
    if #path > 1 then path = path:gsub("/+$", "") end
    if path == "" then path = "/" end
    local params = {}
    for part in query:gmatch("[^&]+") do
        local k = part:match("^([^=]*)"):lower()
        if not (k:match("^utm_") or k == "gclid" or k == "fbclid" or k == "mc_cid"
                or k == "mc_eid" or k == "ref" or k == "_ga") then
            params[#params + 1] = part
        end
    end
    table.sort(params)
    local normalized = "https://" .. host .. path
        .. (#params > 0 and ("?" .. concat(params, "&")) or "")
    local lpath = path:lower():gsub("^/collections/[^/]+/products/", "/products/")
    local loose = "https://" .. host .. lpath
    return normalized, loose, host
end

--- Indexed products for a URL among the `catalogs` (array of keys); strict
--- compares the normalized URL, otherwise the loose form.
function M.find_url(db, url, catalogs, strict)
    local normalized, loose = M.normalize_url(url)
    if not normalized then return {} end
    local allowed = {}
    for i = 1, #catalogs do allowed[catalogs[i]] = true end
    local out = {}
    for _, p in ipairs(db.by_url[loose] or {}) do
        if allowed[p.catalog] and (not strict or p.url == normalized) then
            out[#out + 1] = p
        end
    end
    return out
end

--- The default GET /domains set: one entry per (host, catalog), sorted by
--- host then catalog. Every catalog's host, plus a www. alias of
--- warrenlotas.com and the host collab.example that two catalogs share
--- (its collab products are in both).
function M.domains()
    local out = {}
    for _, c in ipairs(M.CATALOGS) do
        out[#out + 1] = { host = c.host, catalog = c.key, catalogDisplayName = c.name }
    end
    local by_key = {}
    for _, c in ipairs(M.CATALOGS) do by_key[c.key] = c end
    out[#out + 1] = { host = "www.warrenlotas.com", catalog = "warrenlotas",
                      catalogDisplayName = by_key.warrenlotas.name }
    out[#out + 1] = { host = M.SHARED_HOST, catalog = "warrenlotas", catalogDisplayName = by_key.warrenlotas.name }
    out[#out + 1] = { host = M.SHARED_HOST, catalog = "tidepool", catalogDisplayName = by_key.tidepool.name }
    table.sort(out, function(a, b)
        if a.host ~= b.host then return a.host < b.host end
        return a.catalog < b.catalog
    end)
    return out
end

--- Facts the specs need, computed from the same data as the server.
function M.facts(db)
    db = db or M.build()
    local granted = M.KEYS.octo_test_key
    local wl = db.catalog.warrenlotas.products
    local tp = db.catalog.tidepool.products
    local counts = {}
    for _, c in ipairs(db.catalogs) do counts[c.key] = #c.products end
    local hoodies = M.search(db, { catalogs = { "warrenlotas" }, q = "hoodie" })
    local discounted, fractional, no_rating
    for _, p in ipairs(wl) do
        if not discounted and p.original_price then discounted = p end
        if not fractional and p.price ~= floor(p.price) then fractional = p end
        if not no_rating and not p.rating then no_rating = p end
    end
    return {
        catalogs = { granted[1], granted[2], granted[3] },
        ungranted_catalog = "northwind",
        limited_catalogs = { "tidepool" },
        null_base_catalog = "lumen-home",
        product_counts = counts,
        total_products = #db.products,
        product_url = wl[1].url,
        product_uuid = wl[1].uuid,
        product_title = wl[1].title,
        product_catalog = "warrenlotas",
        tidepool_url = tp[1].url,
        tidepool_uuid = tp[1].uuid,
        discounted_url = discounted.url,
        fractional_price_url = fractional.url,
        no_rating_url = no_rating.url,
        ambiguous_url = "https://" .. M.SHARED_HOST .. "/products/tidepool-x-warren-lotas-hoodie-1",
        ungranted_url = db.catalog.northwind.products[1].url,
        ungranted_uuid = db.catalog.northwind.products[1].uuid,
        limited_ungranted_url = wl[1].url,
        ondemand_url = "https://ondemand.example/p/copper-pour-over",
        unknown_url = "https://warrenlotas.com/products/does-not-exist",
        hoodie_count = #hoodies,
        hoodie_query = { catalog = "warrenlotas", q = "hoodie" },
        -- GET /domains (default set) and coverage
        domains = M.domains(),
        shared_domain_host = M.SHARED_HOST,                 -- catalogs warrenlotas and tidepool
        shared_domain_catalogs = { "tidepool", "warrenlotas" }, -- in /domains (sorted) order
        www_domain_host = "www.warrenlotas.com",           -- an alias of warrenlotas.com
        covered_hosts = { "collab.example", "lumenhome.example", "northwind.example", "tidepool.example",
                          "warrenlotas.com" },
        -- more-like-this: a source and how many similar products it has
        mlt_url = wl[1].url,
        mlt_uuid = wl[1].uuid,
        mlt_catalog = "warrenlotas",
        mlt_count = (function()
            local n = 0
            for _, p in ipairs(wl) do if p.type == wl[1].type and p ~= wl[1] then n = n + 1 end end
            return n
        end)(),
        principals = M.PRINCIPALS,
    }
end

return M
