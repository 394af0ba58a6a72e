--- octogen search
local common = require "octogen.cli.common"
local parser = require "octogen.cli.parser"
local paging = require "octogen.cli.paging"
local cli_errors = require "octogen.cli.errors"

local format = string.format
local unpack = table.unpack or unpack

local M = { name = "search", keyless = true }

-- --facet NAME=V1,V2
local function convert_facet(s)
    local name, values = s:match("^%s*([^=]-)%s*=(.*)$")
    if not name or name == "" then
        return nil, format("facet must look like NAME=VALUE[,VALUE...], got '%s'", s)
    end
    local list = {}
    for v in (values .. ","):gmatch("([^,]*),") do
        v = common.trim(v)
        if v ~= "" then list[#list + 1] = v end
    end
    if #list == 0 then return nil, format("facet %s has no values (NAME=VALUE[,VALUE...])", name) end
    return { name = name, values = list }
end
M.convert_facet = convert_facet

function M.configure(p)
    local search = parser.command(p, "search", "Search products by keyword, facets and price.", [[
Search products. Without --catalog every catalog the key can read is
searched. Facets AND across names and OR within one name's values:
--facet color_family=Black,Gray --facet gender=male finds black or gray
products for men. One page is printed (--limit items, the API's default 50);
the table format then says on stderr how to get the next one. --all follows
the cursors to the last page (pages of 100 unless --limit says otherwise):
with --format jsonl each item is printed as soon as its page arrives, with
--format json the output is one array of every item. A progress line shows
on stderr when it is a terminal. Without an API key the keyless trial is
used (30 requests a day per IP address).]], [[
   octogen search --catalog warrenlotas -q hoodie
   octogen search --catalog tidepool -q jacket --facet color_family=Black,Gray \
       --facet gender=male --price-min 50 --price-max 300 --limit 20
   octogen search --catalog warrenlotas -q hoodie --all --format jsonl | wc -l
   octogen search --catalog warrenlotas --cursor CURSOR   # the next page]])
    search:option("--catalog", "Search this catalog only (see `octogen catalogs`).")
        :argname("<catalog>")
    search:option("-q --query", "Keywords to search for."):argname("<text>")
    search:option("--facet", "Keep products whose facet NAME has one of\n"
        .. "the values (repeatable: facets AND together).")
        :argname("<name=v1,v2>"):count("*"):convert(convert_facet)
    search:option("--price-min", "Lowest price."):argname("<n>"):convert(parser.convert_number("--price-min"))
    search:option("--price-max", "Highest price."):argname("<n>"):convert(parser.convert_number("--price-max"))
    search:option("--limit", "Items per page, 1 to 100."):argname("<n>"):convert(parser.convert_integer("--limit"))
    search:option("--cursor", "Start at this page (a next_cursor from an\nearlier search).")
        :argname("<cursor>")
    search:flag("--all", "Follow the cursors and print every page.")
    parser.format_option(search, { "table", "json", "jsonl" }, "table")
    return search
end

--- The list form of repeated --facet options, in the order given; a
--- repeated name adds values.
function M.facets(list)
    local facets, by_name = {}, {}
    for _, f in ipairs(list) do
        local existing = by_name[f.name]
        if existing then
            for _, v in ipairs(f.values) do existing.values[#existing.values + 1] = v end
        else
            existing = { name = f.name, values = { unpack(f.values) } }
            by_name[f.name] = existing
            facets[#facets + 1] = existing
        end
    end
    return facets
end

local function search_params(a)
    local params = { catalog = a.catalog, q = a.query, price_min = a.price_min, price_max = a.price_max,
                     limit = a.limit, cursor = a.cursor }
    if a.all and not a.limit then params.limit = 100 end
    if #a.facet > 0 then params.facets = M.facets(a.facet) end
    return params
end

local VIEW = { label = "search", columns = paging.ITEM_COLUMNS, row = paging.item_row,
               empty = "no products matched." }

function M.run(client, a, ctx)
    local params = search_params(a)
    if a.all then return paging.print_all(client:pages(params), a, ctx, VIEW) end
    local page, err = client:search_products(params)
    if not page then return cli_errors.fail(err, ctx) end
    return paging.print_page(page, a, VIEW)
end

return M
