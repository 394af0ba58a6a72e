--- octogen url-lists list | create | show | delete | urls | add | remove | check
local common = require "octogen.cli.common"
local output = require "octogen.cli.output"
local parser = require "octogen.cli.parser"
local paging = require "octogen.cli.paging"
local input = require "octogen.cli.input"
local cli_errors = require "octogen.cli.errors"

local format = string.format
local cell, out, to_json, say = output.cell, output.out, output.to_json, output.say
local EXIT, PROGRAM = common.EXIT, common.PROGRAM

local M = { name = "url-lists" }

local subs = {}

function M.configure(p)
    local g = parser.command(p, "url-lists", "Keep coverage URL lists (list, create, add, ...).", [[
Coverage URL lists: named sets of product URLs (up to 100,000 a list, 5 live
lists an organization) that Octogen exports for you. `octogen url-lists
COMMAND --help` shows each command. add, remove and check read URLs one a
line from FILE, or from stdin when FILE is - or left out (blank lines and
lines starting with # are skipped), and send them 1,000 a request with a
progress line on stderr when it is a terminal. Needs an API key.]], [[
   octogen url-lists create "spring drops"
   octogen url-lists list
   octogen url-lists add ul_123 urls.txt
   grep -h shop.example *.txt | octogen url-lists check ul_123
   octogen url-lists urls ul_123 --all --format jsonl > urls.jsonl
   octogen url-lists delete ul_123]])
    g:command_target("url_lists_command")

    local function sub(name, summary, description, examples)
        local c = parser.command(g, name, summary, description, examples)
        subs[name] = c
        return c
    end
    local function id_arg(c)
        c:argument("id", "The list's id (url_list_id)."):argname("<id>")
    end
    local function file_arg(c)
        c:argument("file", "URLs one a line; - or none: stdin."):args("?"):argname("<file>")
    end

    local c = sub("list", "List your URL lists.", [[
List your coverage URL lists, newest first: id, name, status, number of
URLs and when each was created.]], [[
   octogen url-lists list
   octogen url-lists list --format json | jq -r '.[].url_list_id']])
    parser.format_option(c, { "table", "json", "jsonl" }, "table")

    c = sub("create", "Create a URL list.", [[
Create a coverage URL list named NAME (1 to 80 characters, unique among
your live lists). It starts as provisioning and usually becomes active
within a minute; URLs can be added at once.]], [[
   octogen url-lists create "spring drops"
   id=$(octogen url-lists create "spring drops" --format json | jq -r .url_list_id)]])
    c:argument("name", "The list's name."):argname("<name>")
    parser.format_option(c, { "table", "json" }, "table")

    c = sub("show", "Show one URL list.", [[
Show one coverage URL list: id, name, status, number of URLs, dates and
its BigQuery share once provisioned.]], [[
   octogen url-lists show ul_123]])
    id_arg(c)
    parser.format_option(c, { "table", "json" }, "table")

    c = sub("delete", "Delete a URL list.", [[
Delete a coverage URL list. This is permanent; its name is free at once and
the list reads as delete_pending until it is gone. Deleting it again is
not an error.]], [[
   octogen url-lists delete ul_123]])
    id_arg(c)
    parser.format_option(c, { "table", "json" }, "table")

    c = sub("urls", "List the URLs of a URL list.", [[
List the URLs of a coverage URL list in the order they were added: the URL,
its normalized form and when it was added. One page is printed (--limit
URLs, the API's default 50); --all follows the cursors to the last page.]], [[
   octogen url-lists urls ul_123
   octogen url-lists urls ul_123 --all --format jsonl | wc -l]])
    id_arg(c)
    paging.options(c, parser, "URLs")

    c = sub("add", "Add URLs to a URL list.", [[
Add URLs to a coverage URL list: one a line in FILE or on stdin. A URL
already there is no change; an invalid one is rejected without failing the
rest. Prints how many were submitted, accepted and rejected and the size of
the list, then each rejected URL with its code (--format json: the whole
result; jsonl: one rejected URL a line, the counts on stderr). Exit status
9 when some URLs were rejected or a batch failed, 5 when none was accepted.]], [[
   octogen url-lists add ul_123 urls.txt
   echo https://shop.example/p/1 | octogen url-lists add ul_123 -]])
    id_arg(c)
    file_arg(c)
    parser.format_option(c, { "table", "json", "jsonl" }, "table")

    c = sub("remove", "Remove URLs from a URL list.", [[
Remove URLs from a coverage URL list: one a line in FILE or on stdin. A URL
that is not in the list is accepted and changes nothing. Output and exit
status as for add.]], [[
   octogen url-lists remove ul_123 gone.txt]])
    id_arg(c)
    file_arg(c)
    parser.format_option(c, { "table", "json", "jsonl" }, "table")

    c = sub("check", "Check which URLs a URL list holds.", [[
Check which of the URLs (one a line in FILE or on stdin) a coverage URL list
holds: a table of each URL, whether it is present and when it was added,
in input order, and the counts on stderr. Exit status 0 whatever is
present; 9 when a batch failed (those URLs are listed as unanswered).]], [[
   octogen url-lists check ul_123 urls.txt
   octogen url-lists check ul_123 - < urls.txt --format jsonl]])
    id_arg(c)
    file_arg(c)
    parser.format_option(c, { "table", "json", "jsonl" }, "table")

    return g
end

---------------------------------------------------------------------------

local LIST_COLUMNS = { { "ID" }, { "NAME", keep = true }, { "STATUS" }, { "URLS", align = "right" },
                       { "CREATED" } }
local function list_row(l)
    return { cell(l.url_list_id), cell(l.name), cell(l.status), cell(l.url_count), cell(l.created_at) }
end

local function print_list(l, fmt)
    if fmt == "json" then
        out(to_json(l) .. "\n")
        return
    end
    local rows = {
        { "id", cell(l.url_list_id) }, { "name", cell(l.name) }, { "status", cell(l.status) },
        { "urls", cell(l.url_count) }, { "created", cell(l.created_at) }, { "updated", cell(l.updated_at) },
    }
    local bq = l.big_query
    if type(bq) == "table" then
        rows[#rows + 1] = { "bigquery listing", cell(bq.listing_id) }
        rows[#rows + 1] = { "bigquery view", cell(bq.view_id) }
        rows[#rows + 1] = { "last exported", cell(bq.last_exported_at) }
    end
    output.print_fields(rows)
end

local RUN = {}

function RUN.list(client, a, ctx)
    local lists = common.array {}
    local next_page = client:pages("list_url_lists", { limit = 100 })
    while true do
        local ok, page = pcall(next_page)      -- a walk raises its failure
        if not ok then return cli_errors.fail(page, ctx) end
        if not page then break end
        for _, l in ipairs(page.items) do lists[#lists + 1] = l end
    end
    if a.format == "table" and #lists == 0 then
        say("you have no URL lists; `octogen url-lists create NAME` makes one.")
        return EXIT.OK
    end
    output.print_items(lists, a.format, LIST_COLUMNS, list_row)
    return EXIT.OK
end

function RUN.create(client, a, ctx)
    local l, err = client:create_url_list(a.name)
    if not l then return cli_errors.fail(err, ctx) end
    print_list(l, a.format)
    return EXIT.OK
end

function RUN.show(client, a, ctx)
    local l, err = client:get_url_list(a.id)
    if not l then return cli_errors.fail(err, ctx) end
    print_list(l, a.format)
    return EXIT.OK
end

RUN.delete = function(client, a, ctx)
    local l, err = client:delete_url_list(a.id)
    if not l then return cli_errors.fail(err, ctx) end
    print_list(l, a.format)
    return EXIT.OK
end

local URL_VIEW = {
    label = "urls", empty = "the list has no URLs.",
    columns = { { "URL", min = 16, keep = true }, { "NORMALIZED URL", min = 16 }, { "ADDED" } },
    row = function(u) return { cell(u.url), cell(u.normalized_url), cell(u.added_at) } end,
}

function RUN.urls(client, a, ctx)
    local params = { limit = a.limit, cursor = a.cursor }
    if a.all and not a.limit then params.limit = 100 end
    if a.all then return paging.print_all(client:pages("list_url_list_urls", a.id, params), a, ctx, URL_VIEW) end
    local page, err = client:list_url_list_urls(a.id, params)
    if not page then return cli_errors.fail(err, ctx) end
    return paging.print_page(page, a, URL_VIEW)
end

-- add, remove, check: the URLs, the progress line fed by on_batch.
local function batched(client, a, method, label)
    local urls = input.read_lines(a.file or "-", subs[a.url_lists_command], "URLs: put one URL on each line.")
    local progress = output.new_progress(label, "URLs", #urls)
    local res, err = client[method](client, a.id, urls, {
        -- one redraw a batch (1,000 URLs a request): no need to throttle
        on_batch = function(done) progress.update(done, nil, true) end,
    })
    progress.finish()
    return res, err, #urls
end

-- Why each failed batch failed (but `except`, said once by the caller).
local function batch_errors(res, except)
    for _, e in ipairs(res.errors or {}) do
        if e ~= except then io.stderr:write(PROGRAM, ": a batch failed: ", cli_errors.explain(e), "\n") end
    end
end

local function print_mutation(res, fmt, except)
    local summary = format("submitted %d, accepted %d, rejected %d", res.submitted, #res.accepted, #res.rejected)
    if res.url_count then summary = summary .. format("; %d in the list", res.url_count) end
    if fmt == "json" then
        local errs = common.array {}
        for i, e in ipairs(res.errors or {}) do errs[i] = tostring(e) end
        out(to_json({ submitted = res.submitted, accepted = res.accepted, rejected = res.rejected,
            url_count = res.url_count, request_ids = res.request_ids, errors = errs }) .. "\n")
    elseif fmt == "jsonl" then
        for _, r in ipairs(res.rejected) do out(to_json(r) .. "\n") end
        say(summary)
    else
        out(summary .. "\n")
        if #res.rejected > 0 then
            local rows = {}
            for i, r in ipairs(res.rejected) do rows[i] = { cell(r.url), cell(r.code), cell(r.message) } end
            out("\n")
            output.print_table({ { "REJECTED URL", min = 16, keep = true }, { "CODE", keep = true },
                                 { "MESSAGE", min = 12 } }, rows)
        end
    end
    batch_errors(res, except)
end

local function mutate(client, a, ctx, method, label)
    local res, err = batched(client, a, method, label)
    if not res then
        -- the call ended early or every batch failed: what was done, then why
        if common.is_error(err) and err.result then print_mutation(err.result, a.format, err) end
        return cli_errors.fail(err, ctx)
    end
    print_mutation(res, a.format)
    if #res.rejected == 0 and #(res.errors or {}) == 0 then return EXIT.OK end
    if #res.accepted == 0 and #(res.errors or {}) == 0 then
        say(format("none of the %d URLs was accepted%s.", res.submitted,
            a.format == "table" and " (see above)" or ""))
        return EXIT.VALIDATION
    end
    say(format("%d of %d URLs were rejected%s.", #res.rejected, res.submitted,
        a.format == "table" and " (listed above)" or ""))
    return EXIT.PARTIAL
end

function RUN.add(client, a, ctx) return mutate(client, a, ctx, "add_url_list_urls", "add") end
function RUN.remove(client, a, ctx) return mutate(client, a, ctx, "remove_url_list_urls", "remove") end

local CHECK_COLUMNS = { { "URL", min = 16, keep = true }, { "PRESENT" }, { "ADDED" } }
local function check_row(r)
    local present = r.present == true and "yes" or r.present == false and "no" or "-"
    return { cell(r.url), present, cell(r.added_at) }
end

function RUN.check(client, a, ctx)
    local res, err = batched(client, a, "check_url_list_urls", "check")
    if not res then return cli_errors.fail(err, ctx) end
    local present = 0
    for _, r in ipairs(res.results) do if r.present == true then present = present + 1 end end
    local summary = format("%d of %d URLs present", present, res.submitted)
    if #res.unanswered > 0 then summary = summary .. format(", %d unanswered", #res.unanswered) end
    if a.format == "json" then
        local errs = common.array {}
        for i, e in ipairs(res.errors or {}) do errs[i] = tostring(e) end
        out(to_json({ submitted = res.submitted, results = res.results, unanswered = res.unanswered,
            request_ids = res.request_ids, errors = errs }) .. "\n")
    else
        output.print_items(res.results, a.format, CHECK_COLUMNS, check_row)
        say(summary)
    end
    batch_errors(res)
    if #res.unanswered > 0 or #(res.errors or {}) > 0 then return EXIT.PARTIAL end
    return EXIT.OK
end

function M.run(client, a, ctx)
    ctx.command = "url-lists " .. a.url_lists_command
    return RUN[a.url_lists_command](client, a, ctx)
end

return M
