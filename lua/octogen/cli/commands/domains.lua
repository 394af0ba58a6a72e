--- octogen domains
local common = require "octogen.cli.common"
local output = require "octogen.cli.output"
local parser = require "octogen.cli.parser"
local cli_errors = require "octogen.cli.errors"

local cell, out, to_json = output.cell, output.out, output.to_json
local EXIT = common.EXIT

local M = { name = "domains", keyless = true }

function M.configure(p)
    local c = parser.command(p, "domains", "List the shops Octogen covers.", [[
List the shops Octogen covers: one row a host and catalog (HOST, CATALOG,
NAME), sorted by host. With --host, say whether one shop is covered and by
which catalogs: HOST may be a URL or a host name (www., the port, letter
case and a trailing dot do not matter); the exit status is 0 when it is
covered and 4 when it is not (nothing on stdout then, except with --format
json). Needs no API key: without one the keyless trial is used.]], [[
   octogen domains
   octogen domains --host https://www.warrenlotas.com/products/x
   octogen domains --host shop.example || echo "not covered"
   octogen domains --format json | jq -r '.[].host' | sort -u]])
    c:option("--host", "A shop's URL or host: is it covered, and by\nwhich catalogs?")
        :argname("<url_or_host>")
    parser.format_option(c, { "table", "json", "jsonl" }, "table")
    return c
end

local COLUMNS = { { "HOST" }, { "CATALOG" }, { "NAME" } }
local function row(d)
    return { cell(d.host), cell(d.catalog), cell(d.catalog_display_name) }
end

local function one_host(client, a, ctx, cmd)
    local host = common.octogen.normalize_host(a.host)
    if not host then
        parser.usage_error(cmd, "--host must be a URL or a host name, got '" .. a.host .. "'")
    end
    local coverage, err = client:domain_coverage()
    if not coverage then return cli_errors.fail(err, ctx) end
    local catalogs = coverage:catalogs_for(a.host)
    local covered = coverage:covers(a.host)
    -- the entries of this host's catalogs, for their display names
    local entries, seen = common.array {}, {}
    for _, key in ipairs(catalogs) do
        for _, e in ipairs(coverage.entries) do
            if e.catalog == key and not seen[key] and common.octogen.normalize_host(e.host) == host then
                seen[key] = true
                entries[#entries + 1] = e
            end
        end
    end
    if a.format == "json" then
        out(to_json({ host = host, covered = covered, catalogs = common.array(catalogs) }) .. "\n")
    elseif covered then
        output.print_items(entries, a.format, COLUMNS, row)
    end
    if not covered then
        output.say(host, " is not covered: no catalog lists it (`octogen domains` lists those that are).")
        return EXIT.NOT_FOUND
    end
    return EXIT.OK
end

function M.run(client, a, ctx, cmd)
    if a.host then return one_host(client, a, ctx, cmd) end
    local list, err = client:list_domains()
    if not list then return cli_errors.fail(err, ctx) end
    local domains = list.domains or common.array {}
    if a.format == "table" and #domains == 0 then
        output.say("no shop is covered.")
        return EXIT.OK
    end
    output.print_items(domains, a.format, COLUMNS, row)
    return EXIT.OK
end

return M
