--- octogen voyage start | list | show
local common = require "octogen.cli.common"
local output = require "octogen.cli.output"
local parser = require "octogen.cli.parser"
local paging = require "octogen.cli.paging"
local cli_errors = require "octogen.cli.errors"

local format = string.format
local cell, out, to_json = output.cell, output.out, output.to_json
local EXIT = common.EXIT

local M = { name = "voyage" }

function M.configure(p)
    local g = parser.command(p, "voyage", "Crawl a shop into a catalog (start, list, show).", [[
A voyage crawls a shop into a new catalog; it runs for hours to days. start
begins one (or joins the one already running for that shop, which uses no
quota), list shows yours newest first, show one by its task id. Check on a
voyage every few minutes at most. Needs an API key of a Developer
organization.]], [[
   octogen voyage start shop.example
   octogen voyage list --status running
   octogen voyage show TASK_ID]])
    g:command_target("voyage_command")

    local c = parser.command(g, "start", "Start (or join) a voyage.", [[
Start a voyage of DOMAIN (a domain, or any URL of the shop): prints the
task and whether it was started (uses the monthly quota) or joined.]], [[
   octogen voyage start shop.example
   octogen voyage start https://www.shop.example/collections/new --format json]])
    c:argument("domain", "The shop's domain or a URL on it."):argname("<domain>")
    parser.format_option(c, { "table", "json" }, "table")

    c = parser.command(g, "list", "List your voyages.", [[
List your voyages, newest first: task id, domain, status, phase, progress
and when each was created.]], [[
   octogen voyage list
   octogen voyage list --status completed --all --format jsonl]])
    c:option("--status", "Only voyages with this status.")
        :choices({ "queued", "running", "in_review", "completed", "failed", "cancelled" }):argname("<status>")
    paging.options(c, parser, "Voyages")

    c = parser.command(g, "show", "Show one voyage.", [[
Show one voyage: status, phase, progress and, once it is live, its catalog.]], [[
   octogen voyage show TASK_ID]])
    c:argument("task_id", "The voyage's task id."):argname("<task_id>")
    parser.format_option(c, { "table", "json" }, "table")
    return g
end

local function print_task(t, fmt, extra)
    if fmt == "json" then
        out(to_json(t) .. "\n")
        return
    end
    local rows = {
        { "task id", cell(t.task_id) }, { "domain", cell(t.domain) }, { "status", cell(t.status) },
        { "phase", cell(t.phase_label or t.phase) },
        { "progress", type(t.progress_percent) == "number" and format("%d%%", t.progress_percent) or "-" },
        { "created", cell(t.created_at) }, { "updated", cell(t.updated_at) },
    }
    if extra then table.insert(rows, 1, extra) end
    if t.completed_at ~= nil and t.completed_at ~= common.null then
        rows[#rows + 1] = { "completed", cell(t.completed_at) }
    end
    if type(t.result) == "table" then
        rows[#rows + 1] = { "catalog", cell(t.result.catalog) }
        if t.result.product_count ~= nil then rows[#rows + 1] = { "products", cell(t.result.product_count) } end
    end
    if type(t.error) == "table" then
        rows[#rows + 1] = { "error", cell(t.error.code) .. ": " .. cell(t.error.message) }
    end
    output.print_fields(rows)
end

local VIEW = {
    label = "voyages", empty = "no voyages.",
    columns = { { "TASK ID" }, { "DOMAIN", keep = true }, { "STATUS" }, { "PHASE" },
                { "PROGRESS", align = "right" }, { "CREATED" } },
    row = function(t)
        return { cell(t.task_id), cell(t.domain), cell(t.status), cell(t.phase),
                 type(t.progress_percent) == "number" and format("%d%%", t.progress_percent) or "-",
                 cell(t.created_at) }
    end,
}

local RUN = {}

function RUN.start(client, a, ctx)
    local res, err = client:start_voyage(a.domain)
    if not res then return cli_errors.fail(err, ctx) end
    if a.format == "json" then
        out(to_json({ task = res.task, created = res.created }) .. "\n")
        return EXIT.OK
    end
    print_task(res.task, "table", { "voyage", res.created and "started" or "joined (already running)" })
    return EXIT.OK
end

function RUN.list(client, a, ctx)
    local params = { status = a.status, limit = a.limit, cursor = a.cursor }
    if a.all and not a.limit then params.limit = 100 end
    if a.all then return paging.print_all(client:pages("list_voyages", params), a, ctx, VIEW) end
    local page, err = client:list_voyages(params)
    if not page then return cli_errors.fail(err, ctx) end
    return paging.print_page(page, a, VIEW)
end

function RUN.show(client, a, ctx)
    local t, err = client:get_voyage(a.task_id)
    if not t then return cli_errors.fail(err, ctx) end
    print_task(t, a.format)
    return EXIT.OK
end

function M.run(client, a, ctx)
    ctx.command = "voyage " .. a.voyage_command
    return RUN[a.voyage_command](client, a, ctx)
end

return M
