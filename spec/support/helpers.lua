-- Shared by the specs: a client pointed at the mock, wire decoding, and a
-- child interpreter for what needs a different environment.
local mock = require "spec.support.mock"
local octogen = require "octogen"
local cjson = require "cjson"
local sh = require "spec.support.sh"

local quote = sh.quote

local M = {}

M.mock = mock

--- A client for `server` with the test key; `opts` overrides or adds.
function M.client(server, opts)
    local o = { api_key = mock.KEY, base_url = server.base_url }
    for k, v in pairs(opts or {}) do o[k] = v end
    return octogen.client(o)
end

--- The JSON body of a recorded request, decoded by cjson (not by the
--- module under test).
function M.body(req)
    return cjson.decode(req.body)
end

local EXIT_MARK = "OCTOGEN_TEST_EXIT_STATUS_"

--- Run a Lua file with arguments in a fresh interpreter (the one the
--- Makefile names for the suite), with `env` set (false unsets a variable);
--- returns its combined output and whether it exited 0.
function M.run_file(env, path, ...)
    local parts = { "env", "-u", "OCTO_API_KEY", "-u", "OCTOGEN_PLATFORM_API_KEY" }
    for k, v in pairs(env) do
        if v ~= false then parts[#parts + 1] = quote(k .. "=" .. v) end
    end
    parts[#parts + 1] = os.getenv("OCTOGEN_TEST_LUA") or "lua5.4"
    parts[#parts + 1] = quote(path)
    for _, a in ipairs { ... } do parts[#parts + 1] = quote(a) end
    -- The exit status comes back on the last line, not from p:close():
    -- LuaJIT's close() does not report it, and inside nginx (the cosocket
    -- runner) the worker's SIGCHLD handler may reap the child first.
    local p = assert(io.popen(table.concat(parts, " ") .. " 2>&1; echo " .. EXIT_MARK .. "$?"))
    local out = p:read("*a")
    p:close()
    local status = out:match(EXIT_MARK .. "(%d+)\n?$")
    out = out:gsub(EXIT_MARK .. "%d+\n?$", "")
    return out, status == "0"
end

--- Run Lua `code` the same way.
function M.run_lua(env, code)
    local path = os.tmpname()
    sh.write_file(path, code)
    local out, ok = M.run_file(env, path)
    os.remove(path)
    return out, ok
end

return M
