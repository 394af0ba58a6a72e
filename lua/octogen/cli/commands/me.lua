--- octogen me
local common = require "octogen.cli.common"
local output = require "octogen.cli.output"
local parser = require "octogen.cli.parser"
local cli_errors = require "octogen.cli.errors"

local format = string.format
local cell = output.cell

local M = { name = "me" }

function M.configure(p)
    local c = parser.command(p, "me", "Show the organization, key, quotas and rate limit.", [[
Show who the API key belongs to: the organization (name, slug, type), the
key's id and loggable prefix (never the key itself), the voyage quotas and
the rate limit. Needs an API key; the call counts against the rate limit.]], [[
   octogen me
   octogen me --format json | jq .rate_limit]])
    parser.format_option(c, { "table", "json" }, "table")
    return c
end

local function present(v)
    return v ~= nil and v ~= common.null
end

-- "3 of 5" from {used, limit}
local function used_of(t)
    if type(t) ~= "table" then return "-" end
    return format("%s of %s", cell(t.used), cell(t.limit))
end

function M.run(client, a, ctx)
    local me, err = client:me()
    if not me then return cli_errors.fail(err, ctx) end
    if a.format == "json" then
        output.out(output.to_json(me) .. "\n")
        return common.EXIT.OK
    end
    local rows = { { "principal", cell(me.principal) } }
    local org = me.organization
    if type(org) == "table" then
        rows[#rows + 1] = { "organization", cell(org.name) }
        rows[#rows + 1] = { "slug", cell(org.slug) }
        rows[#rows + 1] = { "type", cell(org.type) }
        rows[#rows + 1] = { "organization id", cell(org.id) }
    end
    local key = me.key
    if type(key) == "table" then
        rows[#rows + 1] = { "key prefix", cell(key.prefix) }
        rows[#rows + 1] = { "key id", cell(key.id) }
        if present(key.source) then rows[#rows + 1] = { "key source", cell(key.source) } end
    end
    local rl = me.rate_limit
    if type(rl) == "table" then
        rows[#rows + 1] = { "rate limit", format("%s requests a minute, %s left, full again at %s",
            cell(rl.limit), cell(rl.remaining), cell(rl.reset_at)) }
    elseif present(me.principal) then
        rows[#rows + 1] = { "rate limit", "off" }
    end
    local voyage = type(me.quotas) == "table" and me.quotas.voyage
    if type(voyage) == "table" then
        rows[#rows + 1] = { "voyages running", used_of(voyage.concurrent) }
        local m = voyage.monthly
        local monthly = used_of(m)
        if type(m) == "table" and present(m.resets_at) then monthly = monthly .. ", resets " .. cell(m.resets_at) end
        rows[#rows + 1] = { "voyages this month", monthly }
    end
    output.print_fields(rows)
    return common.EXIT.OK
end

return M
