--- octogen.cli: the command-line client (bin/octogen is its entry).
--
--     os.exit(require("octogen.cli").main(arg))
--
-- Layout: common (exit statuses, the octogen module), output (tables,
-- JSON, progress), errors (explanations and exit statuses from error
-- classes and codes), parser (argparse, manual texts), client (the client
-- from the global options), input (lines of a file or stdin), paging
-- (pages and --all), and one module a command under octogen.cli.commands.
local common = require "octogen.cli.common"
local parser_mod = require "octogen.cli.parser"
local cli_client = require "octogen.cli.client"
local cli_errors = require "octogen.cli.errors"

local format = string.format
local unpack = table.unpack or unpack

local M = {}

--- The commands in the order --help lists them.
M.COMMANDS = {
    "catalogs", "search", "lookup", "similar", "domains", "me", "refresh", "url_lists", "voyage", "request",
}

local function load_modules()
    local list, by_name = {}, {}
    for i, name in ipairs(M.COMMANDS) do
        local mod = require("octogen.cli.commands." .. name)
        list[i] = mod
        by_name[mod.name] = mod
    end
    return list, by_name
end

-- `octogen help TOPIC...`: a command's manual, or a subcommand's.
local function help(parser, commands, topic)
    if #topic == 0 then
        print(parser:get_help())
        return common.EXIT.OK
    end
    local c = commands[topic[1]]
    if not c then
        parser_mod.usage_error(commands.help, format("unknown command '%s'", topic[1]))
    end
    for i = 2, #topic do
        local sub
        for _, s in ipairs(c._commands or {}) do
            if s._name == topic[i] then sub = s end
        end
        if not sub then
            parser_mod.usage_error(commands.help, format("unknown command '%s'", table.concat(topic, " ", 1, i)))
        end
        c = sub
    end
    print(c:get_help())
    return common.EXIT.OK
end

--- Run the command line `argv` (a list of strings); returns the exit status.
function M.main(argv)
    argv = { unpack(argv or {}) }
    local modules, by_name = load_modules()
    local parser, commands = parser_mod.build(modules)
    local a = parser:parse(argv)
    local name = a.command
    if name == "help" then return help(parser, commands, a.topic) end
    local mod = by_name[name]
    local client, base_url, keyless = cli_client.make(a, mod.keyless)
    local ctx = { command = name, args = a, base_url = base_url, keyless = keyless }
    local ok, code = xpcall(function()
        return mod.run(client, a, ctx, commands[name])
    end, function(e)
        if common.is_error(e) then return e end
        ctx.traceback = debug.traceback(tostring(e), 2)
        return e
    end)
    if not ok then code = cli_errors.fail(code, ctx) end
    client:close()
    return code
end

return M
