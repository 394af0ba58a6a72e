--- octogen.cli.common: what every part of the command line shares: the
-- program name, the exit statuses and the octogen module, loaded so that
-- `octogen --help` still works when it cannot be (core.so not built).
local M = {}

M.PROGRAM = "octogen"

--- Exit statuses: the table in --help (octogen.cli.parser) says what each
--- means.
M.EXIT = {
    OK = 0, INTERNAL = 1, USAGE = 2, AUTH = 3, NOT_FOUND = 4, VALIDATION = 5,
    RATE_LIMITED = 6, NETWORK = 7, API = 8, PARTIAL = 9,
}

do
    local ok, mod = pcall(require, "octogen")
    if ok then M.octogen = mod else M.load_error = mod end
end
local octogen = M.octogen

M.DEFAULT_BASE_URL = octogen and octogen.DEFAULT_BASE_URL or "https://api.octogen.ai/v1"

if octogen then
    M.core = require "octogen.core"
    --- Mark a table as a JSON array (an empty one prints as []).
    M.array = octogen.array
    M.null = octogen.null
    -- Which failures are transient: the client's own definition (the one
    -- its retry loop and batching use).
    M.retryable = require("octogen.retry").retryable
else
    M.array = function(t) return t end
end

--- Wall-clock seconds, with a fraction when the module's clock is there.
M.now = (M.core and M.core.now) or os.time

--- True when v is an octogen error object.
function M.is_error(v)
    return octogen ~= nil and octogen.is_error(v)
end

function M.trim(s) return (s:gsub("^%s+", ""):gsub("%s+$", "")) end

--- A product UUID (a similar/refresh target given as one).
M.UUID = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"

return M
