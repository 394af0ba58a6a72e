--- octogen.cli.paging: printing one page of a cursor-paged answer, or
-- every page (--all), for search, similar, url-lists urls and voyage list.
local common = require "octogen.cli.common"
local output = require "octogen.cli.output"
local cli_errors = require "octogen.cli.errors"

local format = string.format

local EXIT, PROGRAM = common.EXIT, common.PROGRAM
local out, to_json = output.out, output.to_json

local M = {}

--- Products as a table: the columns and one row.
M.ITEM_COLUMNS = {
    { "TITLE", min = 12, keep = true }, { "BRAND" }, { "PRICE", align = "right" }, { "CATALOG" }, { "URL", min = 12 },
}
function M.item_row(item)
    local brand = type(item.brand) == "table" and item.brand.name or nil
    return { output.cell(item.title), output.cell(brand), output.money(item.current_price),
             output.cell(item.catalog_key), output.cell(item.product_url) }
end

--- Print one page: `page` as JSON, its items as JSON Lines, or a table
--- (with `view.empty` on stderr when there are none, and how to get the
--- next page). view: {columns, row, empty}.
function M.print_page(page, a, view)
    if a.format == "json" then
        out(to_json(page) .. "\n")
    elseif a.format == "jsonl" then
        output.print_items(page.items, "jsonl")
    else
        if #page.items == 0 then
            io.stderr:write(PROGRAM, ": ", view.empty, "\n")
        else
            output.print_items(page.items, "table", view.columns, view.row)
        end
        if page.next_cursor then
            io.stderr:write(PROGRAM, ": more results: add --cursor ", page.next_cursor,
                " for the next page, or --all for every page.\n")
        end
    end
    return EXIT.OK
end

--- Walk every page from next_page (a client:pages iterator, which raises
--- on a failure) and print the items: JSON Lines as each page arrives, else
--- all at the end. view: {label, columns, row, empty}.
function M.print_all(next_page, a, ctx, view)
    local progress = output.new_progress(view.label, "items")
    local items, pages, count = common.array {}, 0, 0
    while true do
        local ok, page = pcall(next_page)
        if not ok then
            progress.finish()
            local err = page
            if a.format == "jsonl" then io.stdout:flush() end
            local code = cli_errors.fail(err, ctx)
            if common.is_error(err) and err.cursor then
                io.stderr:write(PROGRAM, ": ", pages, " pages were read; resume with --cursor ", err.cursor, "\n")
            elseif common.is_error(err) and pages > 0 then
                io.stderr:write(PROGRAM, ": ", pages, " pages were read; resume by running the same ",
                    view.label, " again.\n")
            end
            return code
        end
        if not page then break end
        pages = pages + 1
        count = count + #page.items
        for _, item in ipairs(page.items) do
            if a.format == "jsonl" then
                out(to_json(item) .. "\n")
            else
                items[#items + 1] = item
            end
        end
        progress.update(count, format("page %d", pages))
    end
    progress.finish()
    if a.format == "json" then
        out(to_json(items) .. "\n")
    elseif a.format == "table" then
        if #items == 0 then
            io.stderr:write(PROGRAM, ": ", view.empty, "\n")
        else
            output.print_items(items, "table", view.columns, view.row)
        end
    end
    return EXIT.OK
end

--- The options every paged listing has: --limit, --cursor, --all, --format.
function M.options(c, parser_mod, what)
    c:option("--limit", what .. " per page, 1 to 100."):argname("<n>")
        :convert(parser_mod.convert_integer("--limit"))
    c:option("--cursor", "Start at this page (a next_cursor from an\nearlier answer).")
        :argname("<cursor>")
    c:flag("--all", "Follow the cursors and print every page.")
    parser_mod.format_option(c, { "table", "json", "jsonl" }, "table")
end

return M
