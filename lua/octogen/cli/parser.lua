--- octogen.cli.parser: the command line's grammar (argparse), its manual
-- texts, and the converters and helpers the commands declare options with.
-- Each command module (octogen.cli.commands.*) adds its own command.
local argparse = require "argparse"
local common = require "octogen.cli.common"

local format, concat = string.format, table.concat
local floor = math.floor

local PROGRAM, EXIT = common.PROGRAM, common.EXIT

local M = {}

M.EXIT_STATUS_TEXT = [[
Exit status:
   0   success
   1   internal error in octogen, or its output could not be written
   2   usage error: unknown option, missing or malformed argument
   3   authentication: no API key, or the API refused it (401, 403); also
       what the keyless trial does not include
   4   not found (404): unknown catalog, product, list, voyage or path;
       domains --host: the shop is not covered
   5   validation: a parameter was refused, by octogen or the API (400, 422)
   6   rate limited (429), after the retries --max-retries allows; also the
       keyless trial used up, and the voyage quota
   7   network failure: cannot connect, TLS failure, or timeout
   8   any other API error: a conflict (409), a server error (5xx), or a
       response that is not what the API documents
   9   refresh partly done: some targets accepted, some rejected; also
       url-lists add/remove with some URLs rejected or a batch failed]]

M.ENVIRONMENT_TEXT = [[
Environment:
   OCTO_API_KEY      the API key (OCTOGEN_PLATFORM_API_KEY is read when it is
                     unset or empty); --api-key-file FILE overrides both. There
                     is no --api-key option: a key in the arguments would show
                     in ps and in the shell history. The key is never printed.
                     Without a key, search, lookup and domains use the keyless
                     trial (30 requests a day per IP address).
   OCTOGEN_BASE_URL  the API's base URL when --base-url is not given
                     (default ]] .. common.DEFAULT_BASE_URL .. [[)
   COLUMNS           the width of tables (default: the terminal's, else 100)
   OCTOGEN_DEBUG     when set, an internal error prints its Lua traceback]]

M.GLOBAL_OPTIONS_TEXT = [[
Global options (before or after the command; see `octogen --help`):
   --api-key-file <file>, --base-url <url>, --max-retries <n>,
   --timeout <seconds>]]

function M.epilog(examples, global)
    return "Examples:\n" .. examples .. "\n\n" .. (global and (M.GLOBAL_OPTIONS_TEXT .. "\n\n") or "")
        .. M.ENVIRONMENT_TEXT .. "\n\n" .. M.EXIT_STATUS_TEXT
end
local epilog = M.epilog

function M.convert_number(what)
    return function(s)
        local n = tonumber(s)
        if not n or n ~= n or n == math.huge or n == -math.huge then
            return nil, format("%s must be a number, got '%s'", what, s)
        end
        return n
    end
end

function M.convert_integer(what, min)
    return function(s)
        local n = tonumber(s)
        if not n or n ~= floor(n) or (min and n < min) then
            return nil, format("%s must be an integer%s, got '%s'", what,
                min and format(" of at least %d", min) or "", s)
        end
        return n
    end
end

--- Print the usage and `msg` on stderr and exit 2.
function M.usage_error(parser, msg)
    io.stderr:write(parser:get_usage(), "\n\n", PROGRAM, ": ", msg, "\n",
        "Run `octogen help` (or `octogen help COMMAND`) for the manual.\n")
    os.exit(EXIT.USAGE)
end
local usage_error = M.usage_error

--- --format with these choices.
function M.format_option(c, choices, default)
    c:option("--format", "Output: " .. concat(choices, ", ") .. ".")
        :choices(choices):default(default):argname("<format>")
end

local function version_text()
    local octogen = common.octogen
    if octogen then
        return format("octogen %s (%s)", octogen.VERSION, octogen.USER_AGENT)
    end
    return "octogen (the octogen module could not be loaded)"
end

--- Add a command (or a subcommand of a group) to `parent`.
function M.command(parent, name, summary, description, examples)
    local c = parent:command(name)
        :summary(summary)
        :description(description)
        :epilog(epilog(examples, true))
    c.error = usage_error
    return c
end

--- The parser, and name -> command parser. `modules`: the command modules
--- in the order --help lists them; each has configure(parser).
function M.build(modules)
    local parser = argparse(PROGRAM)
        :description([[
Command-line client for the Octogen commerce API: list the catalogs an API
key can read or the shops Octogen covers, search their products by keyword,
facets and price, look a product up by its URL, find similar products, keep
coverage URL lists, start voyages, ask for products to be refreshed, or send
any other request. Output is an aligned table for people (the default), or
JSON or JSON Lines (--format json, --format jsonl) for programs; messages
and progress go to stderr. Network failures, 429 and 5xx answers are
retried with backoff (--max-retries).]])
        :epilog(epilog([[
   octogen catalogs
   octogen search --catalog warrenlotas -q hoodie --facet color_family=Black
   octogen search -q jacket --price-max 150 --all --format jsonl > jackets.jsonl
   octogen lookup https://warrenlotas.com/products/everyday-harbor-blue-hoodie-1
   octogen similar https://warrenlotas.com/products/everyday-harbor-blue-hoodie
   octogen domains --host www.warrenlotas.com
   octogen url-lists add cul_123 urls.txt
   octogen refresh --file urls.txt --catalog warrenlotas
   octogen request POST products/search '{"q": "hoodie", "limit": 5}'
   OCTO_API_KEY= octogen --api-key-file ~/.config/octogen/key catalogs

   `octogen help COMMAND` (or `octogen COMMAND --help`) shows each command's
   options.]]))
        :command_target("command")
        :help_description_margin(28)
    parser.error = usage_error

    parser:flag("--version", "Print the versions of octogen, the module\nand libcurl, and exit.")
        :action(function()
            print(version_text())
            os.exit(EXIT.OK)
        end)
    parser:option("--api-key-file", "Read the API key from the first line of\n"
        .. "FILE (whitespace around it trimmed) instead\nof OCTO_API_KEY.")
        :argname("<file>")
    parser:option("--base-url", "The API's base URL (default: $OCTOGEN_BASE_URL,\nelse "
        .. common.DEFAULT_BASE_URL .. "). http:// is\nrefused except for loopback addresses.")
        :argname("<url>")
    parser:option("--max-retries", "Retries after a network failure, a 429 or a\n"
        .. "5xx, with backoff (default 2; 0: none).")
        :argname("<n>"):convert(M.convert_integer("--max-retries", 0))
    parser:option("--timeout", "Seconds one request may take, connect to\nlast byte (default 30).")
        :argname("<seconds>"):convert(M.convert_number("--timeout"))

    local commands = {}
    for _, mod in ipairs(modules) do
        commands[mod.name] = mod.configure(parser)
    end

    local help = M.command(parser, "help", "Show the manual, or one command's.", [[
Show the manual of octogen, or of one command (or one command of a group:
`octogen help url-lists add`).]], [[
   octogen help
   octogen help search
   octogen help url-lists add]])
    help:argument("topic", "A command."):args("*"):argname("<command>")
    commands.help = help

    return parser, commands
end

return M
