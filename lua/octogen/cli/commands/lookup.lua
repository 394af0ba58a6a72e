--- octogen lookup
local common = require "octogen.cli.common"
local output = require "octogen.cli.output"
local parser = require "octogen.cli.parser"
local cli_errors = require "octogen.cli.errors"

local concat = table.concat
local cell, money = output.cell, output.money

local M = { name = "lookup", keyless = true }

function M.configure(p)
    local lookup = parser.command(p, "lookup", "Look a product up by its URL.", [[
Look a product up by the URL of its page. The URL is matched against the
indexed catalogs (letter case, tracking parameters, www. and trailing
slashes do not matter); for some sites the API can read the page on demand.
Without an API key the keyless trial is used (not for on_demand_only).]], [[
   octogen lookup https://warrenlotas.com/products/everyday-harbor-blue-hoodie-1
   octogen lookup --resolution-mode on_demand_only --format json URL]])
    lookup:argument("url", "The product page's URL."):argname("<url>")
    lookup:option("--resolution-mode", "auto (the default), index_only or on_demand_only.")
        :choices({ "auto", "index_only", "on_demand_only" }):argname("<mode>")
    lookup:option("--cache-policy", "For on-demand reads: prefer_cache (default)\nor refresh.")
        :choices({ "prefer_cache", "refresh" }):argname("<policy>")
    lookup:option("--match-mode", "loose (default) or strict URL matching.")
        :choices({ "strict", "loose" }):argname("<mode>")
    parser.format_option(lookup, { "table", "json", "jsonl" }, "table")
    return lookup
end

function M.run(client, a, ctx)
    local opts = { resolution_mode = a.resolution_mode, on_demand_cache_policy = a.cache_policy,
                   match_mode = a.match_mode }
    local res, err = client:lookup_product(a.url, opts)
    if not res then return cli_errors.fail(err, ctx) end
    if a.format ~= "table" then
        output.out(output.to_json(res) .. "\n")
        return common.EXIT.OK
    end
    local p = res.product
    local price = money(p.current_price)
    if p.currency then price = price .. " " .. p.currency end
    if type(p.original_price) == "number" and type(p.current_price) == "number"
        and p.original_price > p.current_price then
        price = price .. " (was " .. money(p.original_price) .. ")"
    end
    local stock = p.in_stock == true and "yes" or p.in_stock == false and "no" or "unknown"
    local catalog = res.catalog_key
    if catalog and res.catalog_display_name then catalog = catalog .. " (" .. res.catalog_display_name .. ")" end
    local rows = {
        { "title", cell(p.title) },
        { "brand", cell(type(p.brand) == "table" and p.brand.name or nil) },
        { "price", price },
        { "in stock", stock },
        { "catalog", cell(catalog) },
        { "url", cell(p.product_url or res.normalized_url or res.resolved_url) },
        { "uuid", cell(p.uuid) },
        { "source", cell(res.source) },
    }
    if res.cache_status then rows[#rows + 1] = { "cache", cell(res.cache_status) } end
    if type(res.warnings) == "table" and #res.warnings > 0 then
        rows[#rows + 1] = { "warnings", cell(concat(res.warnings, ", ")) }
    end
    output.print_fields(rows)
    return common.EXIT.OK
end

return M
