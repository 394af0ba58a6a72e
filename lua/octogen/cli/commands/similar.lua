--- octogen similar
local common = require "octogen.cli.common"
local parser = require "octogen.cli.parser"
local paging = require "octogen.cli.paging"
local search = require "octogen.cli.commands.search"
local cli_errors = require "octogen.cli.errors"

local M = { name = "similar" }

function M.configure(p)
    local c = parser.command(p, "similar", "Find products similar to one product.", [[
Find products like one product, given by its page URL or its UUID. The
product itself may be in any catalog; --catalog (repeatable) keeps the
results to those catalogs. One page is printed (--limit items, the API's
default 12); the table format then says on stderr how to get the next one,
and --all follows the cursors to the last page. --facet and --exclude-facet
steer the results (NAME=V1,V2, as in search). Needs an API key.]], [[
   octogen similar https://warrenlotas.com/products/everyday-harbor-blue-hoodie
   octogen similar 0b5c2f9e-2a1d-4c3b-9e8f-7a6b5c4d3e2f --catalog tidepool
   octogen similar URL --price-preference lower --all --format jsonl]])
    c:argument("source", "The product: its page URL or its UUID."):argname("<url_or_uuid>")
    c:option("--catalog", "Keep results to this catalog (repeatable).")
        :argname("<catalog>"):count("*")
    c:option("--facet", "Keep results with these facet values\n(repeatable, as in search).")
        :argname("<name=v1,v2>"):count("*"):convert(search.convert_facet)
    c:option("--exclude-facet", "Leave out results with these facet values\n(repeatable).")
        :argname("<name=v1,v2>"):count("*"):convert(search.convert_facet)
    c:option("--price-preference", "lower, any (the default) or higher.")
        :choices({ "lower", "any", "higher" }):argname("<pref>")
    paging.options(c, parser, "Items")
    return c
end

local VIEW = { label = "similar", columns = paging.ITEM_COLUMNS, row = paging.item_row,
               empty = "no similar products found." }

--- The source a command-line argument names: {uuid = } for a UUID, else
--- the URL.
function M.source(s)
    if s:match(common.UUID) then return { uuid = s } end
    return s
end

function M.run(client, a, ctx)
    local params = { limit = a.limit, cursor = a.cursor, price_preference = a.price_preference }
    if a.all and not a.limit then params.limit = 100 end
    if #a.catalog == 1 then
        params.catalog = a.catalog[1]
    elseif #a.catalog > 1 then
        params.catalogs = a.catalog
    end
    if #a.facet > 0 then params.include_facets = search.facets(a.facet) end
    if #a.exclude_facet > 0 then params.exclude_facets = search.facets(a.exclude_facet) end
    local source = M.source(a.source)
    if a.all then return paging.print_all(client:pages("more_like_this", source, params), a, ctx, VIEW) end
    local page, err = client:more_like_this(source, params)
    if not page then return cli_errors.fail(err, ctx) end
    return paging.print_page(page, a, VIEW)
end

return M
