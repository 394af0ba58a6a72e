--- octogen refresh
local common = require "octogen.cli.common"
local output = require "octogen.cli.output"
local parser = require "octogen.cli.parser"
local input = require "octogen.cli.input"
local cli_client = require "octogen.cli.client"
local cli_errors = require "octogen.cli.errors"

local format = string.format
local cell, out, to_json = output.cell, output.out, output.to_json
local EXIT, PROGRAM = common.EXIT, common.PROGRAM

local M = { name = "refresh" }

local REFRESH_BATCH = 500     -- the API's limit; the client batches by it

function M.configure(p)
    local refresh = parser.command(p, "refresh", "Ask for products to be re-crawled.", [[
Ask for products to be re-crawled, given as URLs (or product UUIDs) on the
command line or one a line in FILE ("-" reads stdin; blank lines and lines
starting with # are skipped). Any number of targets: they go out in batches
of 500, four batches at a time (--concurrency). A URL found in two catalogs
is rejected as ambiguous unless --catalog names the one meant. Prints how
many targets were submitted, accepted and rejected, then each rejected
target with its code and message (--format json: the whole result as one
document; jsonl: one rejected target a line, the counts on stderr). Exit
status 9 when some targets were accepted and some rejected. A progress line
shows on stderr when it is a terminal. (The route was removed upstream:
servers without it answer 404.)]], [[
   octogen refresh https://tidepool.example/products/storm-shell-jacket
   octogen refresh --file urls.txt --catalog warrenlotas
   grep -h tidepool.example *.txt | octogen refresh --file - --format jsonl]])
    refresh:mutex(
        refresh:argument("url", "Product URLs (or UUIDs) to refresh."):args("*"):argname("<url>"),
        refresh:option("--file", "Read the targets from FILE, one a line\n(- reads stdin)."):argname("<file>"))
    refresh:option("--catalog", "The catalog every target belongs to."):argname("<catalog>")
    refresh:option("--concurrency", "Batches in flight at once.")
        :argname("<n>"):convert(parser.convert_integer("--concurrency", 1)):default("4")
    parser.format_option(refresh, { "table", "json", "jsonl" }, "table")
    return refresh
end

local function target_of(s, catalog)
    local key = s:match(common.UUID) and "uuid" or "url"
    if not catalog and key == "url" then return s end
    return { [key] = s, catalog = catalog }
end

local function target_text(t)
    if type(t) == "table" then return t.url or t.uuid or "?", t.catalog end
    return tostring(t), nil
end

local function print_refresh(res, fmt)
    local summary = format("submitted %d, accepted %d, rejected %d", res.submitted, #res.accepted, #res.rejected)
    if fmt == "json" then
        local errs = common.array {}
        for i, e in ipairs(res.errors or {}) do errs[i] = tostring(e) end
        out(to_json({ submitted = res.submitted, accepted = res.accepted, rejected = res.rejected,
            request_ids = res.request_ids, workflow_ids = res.workflow_ids, errors = errs }) .. "\n")
    elseif fmt == "jsonl" then
        for _, r in ipairs(res.rejected) do out(to_json(r) .. "\n") end
        io.stderr:write(PROGRAM, ": ", summary, "\n")
    else
        out(summary .. "\n")
        if #res.rejected > 0 then
            local rows, any_catalog = {}, false
            for i, r in ipairs(res.rejected) do
                local target, catalog = target_text(r.target)
                any_catalog = any_catalog or catalog ~= nil
                rows[i] = { cell(target), cell(catalog), cell(r.code), cell(r.message) }
            end
            local columns = { { "REJECTED TARGET", min = 16, keep = true }, { "CATALOG" },
                              { "CODE", keep = true }, { "MESSAGE", min = 12 } }
            if not any_catalog then     -- a column of dashes only takes room
                table.remove(columns, 2)
                for _, row in ipairs(rows) do table.remove(row, 2) end
            end
            out("\n")
            output.print_table(columns, rows)
        end
    end
    for _, e in ipairs(res.errors or {}) do
        io.stderr:write(PROGRAM, ": a batch failed: ", tostring(e), "\n")
    end
end

function M.run(client, a, ctx, cmd)
    local targets
    if a.file then
        targets = input.read_lines(a.file, cmd, "targets: put one URL or UUID on each line.")
        for i, s in ipairs(targets) do targets[i] = target_of(s, a.catalog) end
    elseif #a.url > 0 then
        targets = {}
        for i, s in ipairs(a.url) do targets[i] = target_of(s, a.catalog) end
    else
        parser.usage_error(cmd, "give the product URLs to refresh, or --file FILE.")
    end

    local retryable = common.retryable
    local progress = output.new_progress("refresh", "targets", #targets)
    local batches = math.ceil(#targets / REFRESH_BATCH)
    local done = 0
    cli_client.response_hook = function(info)
        if info.method ~= "POST" or not tostring(info.url):find("/products/refresh$") then return end
        -- a transient failure is retried, not the batch's end; count the others
        if info.error and retryable(info.error) then return end
        done = done + 1
        progress.update(math.min(done * REFRESH_BATCH, #targets), format("%d/%d batches", done, batches))
    end
    local res, err = client:refresh_products(targets, { concurrency = a.concurrency })
    cli_client.response_hook = nil
    progress.finish()

    if res then
        print_refresh(res, a.format)
        if #res.rejected > 0 then
            io.stderr:write(PROGRAM, format(": %d of %d targets were rejected%s.\n", #res.rejected, res.submitted,
                a.format == "table" and " (listed above)" or ""))
            return EXIT.PARTIAL
        end
        return EXIT.OK
    end
    -- Nothing accepted. When the failure was per target or per batch, the
    -- merged result says why each was refused.
    local st = err.status_code
    -- an error about the request as a whole (401, 403, 404, 422), not a
    -- transient one nor a 400 that rejected each target
    local whole = st and st >= 400 and st < 500 and st ~= 400 and not retryable(err)
    if err.result and not whole then
        print_refresh(err.result, a.format)
        if #err.result.errors == 0 then
            -- every target refused, each with its reason (printed above)
            io.stderr:write(PROGRAM, format(": none of the %d targets was accepted%s: check the URLs, "
                .. "or name their catalog with --catalog.\n", err.result.submitted,
                a.format == "table" and " (see above)" or ""))
            return EXIT.VALIDATION
        end
    end
    return cli_errors.fail(err, ctx)
end

return M
