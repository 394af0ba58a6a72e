--- octogen catalogs
local common = require "octogen.cli.common"
local output = require "octogen.cli.output"
local parser = require "octogen.cli.parser"
local cli_errors = require "octogen.cli.errors"

local M = { name = "catalogs" }

function M.configure(p)
    local c = parser.command(p, "catalogs", "List the catalogs the API key can read.", [[
List the catalogs the API key is granted: key, display name, product count,
source site and when it was last indexed. The key column is what --catalog
takes. (Developer organizations get 404 here since 2026-07-09: `octogen
domains` lists the shops covered.)]], [[
   octogen catalogs
   octogen catalogs --format json | jq -r '.[].catalog']])
    parser.format_option(c, { "table", "json", "jsonl" }, "table")
    return c
end

local COLUMNS = {
    { "CATALOG" }, { "NAME" }, { "PRODUCTS", align = "right" }, { "SOURCE" }, { "LAST INDEXED" },
}
local cell = output.cell
local function row(c)
    return { cell(c.catalog), cell(c.display_name), cell(c.product_count), cell(c.source_base_url),
             cell(c.last_indexed_at) }
end

function M.run(client, a, ctx)
    local list, err = client:list_catalogs()
    if not list then return cli_errors.fail(err, ctx) end
    if a.format == "table" and #list == 0 then
        output.say("the key can read no catalog.")
        return common.EXIT.OK
    end
    output.print_items(list, a.format, COLUMNS, row)
    return common.EXIT.OK
end

return M
