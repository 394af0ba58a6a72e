--- octogen.cli.client: the octogen client a command runs with, made from
-- the global options (--api-key-file, --base-url, --max-retries, --timeout)
-- and the environment.
local common = require "octogen.cli.common"
local output = require "octogen.cli.output"
local cli_errors = require "octogen.cli.errors"

local format = string.format

local EXIT = common.EXIT
local die = output.die

local M = {}

--- What the client calls after every HTTP attempt (a command sets it).
M.response_hook = nil

local function read_key_file(path)
    local f, err = io.open(path, "r")
    if not f then
        die(EXIT.AUTH, format("cannot read the API key file: %s. Check the path given to --api-key-file.",
            tostring(err)))
    end
    local line = f:read("*l") or ""
    f:close()
    line = common.trim(line)
    if line == "" then
        die(EXIT.AUTH, format("the API key file %s is empty: put the key on its first line.", path))
    end
    return line
end

local function try(opts)
    local ok, client = pcall(common.octogen.client, opts)
    if ok then return client end
    return nil, client
end

local function copy(t, changes)
    local c = {}
    for k, v in pairs(t) do c[k] = v end
    for k, v in pairs(changes) do c[k] = v end
    return c
end

-- octogen.client refused an option: which of the user's settings was it?
-- Asked by trying again with each one set aside in turn (a client is
-- made without I/O), so that no message text is read.
local function refused_option(opts)
    local probes = {
        { "api_key", { api_key = "octo_probe_key" } },
        { "base_url", { base_url = false } },
        { "timeout", { timeout = false } },
    }
    for _, p in ipairs(probes) do
        local changes = {}
        for k, v in pairs(p[2]) do if v ~= false then changes[k] = v end end
        local o = copy(opts, changes)
        for k, v in pairs(p[2]) do if v == false then o[k] = nil end end
        local client = try(o)
        if client then
            client:close()
            return p[1]
        end
    end
    return nil
end

--- The client for argparse's result `a`, its base URL and whether it runs
--- keyless. `keyless_ok`: the command is one the keyless trial serves
--- (search, lookup, domains): with no key found it goes keyless and says
--- so on stderr.
function M.make(a, keyless_ok)
    local octogen = common.octogen
    if not octogen then
        die(EXIT.INTERNAL, "cannot load the octogen module (" .. tostring(common.load_error):match("^[^\n]*")
            .. "): install the octogen rock, or run `make` in the checkout.")
    end
    local env_url = os.getenv("OCTOGEN_BASE_URL")
    local opts = {
        base_url = a.base_url or (env_url ~= "" and env_url) or nil,
        max_retries = a.max_retries,
        timeout = a.timeout,
        user_agent = "octogen-cli/" .. tostring(octogen.VERSION),
        on_response = function(info) if M.response_hook then M.response_hook(info) end end,
    }
    if a.api_key_file then opts.api_key = read_key_file(a.api_key_file) end
    local client, err = try(opts)
    local keyless = false
    if not client and keyless_ok and common.is_error(err) and err:is("MissingAPIKeyError") then
        opts.allow_keyless = true
        client, err = try(opts)
        keyless = client ~= nil
    end
    if client then
        if keyless then
            output.say("no API key: using the keyless trial (30 requests a day per IP address); "
                .. "set OCTO_API_KEY for more.")
        end
        return client, opts.base_url or common.DEFAULT_BASE_URL, keyless
    end
    if common.is_error(err) and err:is("MissingAPIKeyError") then
        die(EXIT.AUTH, cli_errors.explain(err))
    end
    local msg = cli_errors.strip_position(common.is_error(err) and err.message or err)
    if not (common.is_error(err) and err:is("InvalidArgumentError")) then
        die(EXIT.INTERNAL, cli_errors.explain(err))
    end
    local which = refused_option(opts)
    if which == "api_key" then
        die(EXIT.AUTH, "the API key is malformed (" .. msg .. "): check OCTO_API_KEY or the key file.")
    elseif which == "base_url" then
        die(EXIT.USAGE, "bad base URL (" .. msg .. "): check --base-url or OCTOGEN_BASE_URL.")
    elseif which == "timeout" then
        die(EXIT.USAGE, "bad --timeout (" .. msg .. ").")
    end
    die(EXIT.USAGE, msg)
end

return M
