-- A busted-compatible mini runner that runs inside an nginx content
-- handler (spec/support/ngx_runner/nginx.conf), so that the spec files
-- that define the client run over the cosocket transport too:
--
--     GET /run?file=spec/search_spec.lua
--     -> [{"name": "...", "status": "success", "message": ""}, ...]
--
-- status is "success", "failure" (an assertion failed), "error" (anything
-- else raised, or a setup/teardown/before_each/after_each that failed),
-- "pending" (pending(), or an it without a body) or "skipped" (the case's
-- full name contains "#curl": it only makes sense over libcurl).
--
-- What busted does that the spec files use is done the same way here:
-- describe/context/insulate/expose, it/spec/test, pending, setup/teardown
-- (busted's strict ones: when the block runs), lazy_setup/lazy_teardown
-- (before the first case of the block that runs / after the block if they
-- ran), before_each/after_each (outer ones first / inner ones first),
-- finally inside a case, and assert/spy/stub/mock/match from luassert. A
-- describe's body runs when its parent reaches it (after the parent's
-- setup), as in busted 2. A case's full name is the describe names and its
-- own, joined by spaces.
--
-- Everything runs in the request's own coroutine, so cosockets, ngx.sleep
-- and ngx.thread work inside a case; errors are caught with xpcall and a
-- traceback. Unlike busted, modules loaded by a spec file stay loaded for
-- the next one (one Lua VM per worker, and the transport probe wraps
-- functions of octogen.core that must stay wrapped).
-- Debian's lua-cjson: an empty list would encode as {}, which the busted
-- side reads as an empty list all the same.
local cjson = require("cjson").new()
cjson.encode_invalid_numbers(true)

local luassert = require "luassert"
local spy = require "luassert.spy"
local stub = require "luassert.stub"
local luamock = require "luassert.mock"
local match = require "luassert.match"

local M = {}

-- The checkout: three directories above this file.
local ROOT = debug.getinfo(1, "S").source:sub(2):match("^(.*)/spec/support/ngx_runner/[^/]*$")
M.ROOT = ROOT

local PENDING = {}   -- the marker pending() raises inside a case

local function to_text(e)
    if type(e) == "string" then return e end
    local ok, s = pcall(tostring, e)
    return ok and s or ("(" .. type(e) .. ")")
end

-- xpcall's handler: what was raised, whether luassert raised it (a
-- failure rather than an error), and where.
local function handler(e)
    if type(e) == "table" and e[PENDING] then return e end
    local failure = false
    for level = 2, 6 do
        local info = debug.getinfo(level, "S")
        if not info then break end
        if info.source:find("/luassert/", 1, true) then
            failure = true
            break
        end
    end
    local message = to_text(e)
    if not failure then message = message .. "\n" .. debug.traceback("", 2):gsub("^\n", "") end
    return { failure = failure, message = message }
end

local function protect(fn)
    local ok, e = xpcall(fn, handler)
    if ok then return true end
    return false, e
end

local function new_block(name, parent, body)
    return {
        name = name, parent = parent, body = body, children = {},
        strict_setup = {}, strict_teardown = {}, lazy_setup = {}, lazy_teardown = {},
        before_each = {}, after_each = {},
    }
end

local function full_name(block, leaf)
    local parts = {}
    local b = block
    while b do
        if b.name then table.insert(parts, 1, b.name) end
        b = b.parent
    end
    if leaf then parts[#parts + 1] = leaf end
    return table.concat(parts, " ")
end

-- Progress, a line per event, in PREFIX/logs/runner-progress.log: if a
-- case hangs or kills the worker, the busted side names it from there.
local function progress(line)
    local prefix = ngx and ngx.config and ngx.config.prefix and ngx.config.prefix()
    if not prefix then return end
    local f = io.open(prefix .. "logs/runner-progress.log", "a")
    if f then
        f:write(line, "\n")
        f:close()
    end
end

--- Run the spec file at `path`; returns the list of case outcomes.
function M.run_file(path)
    local results = {}
    local function record(name, status, message)
        results[#results + 1] = { name = name, status = status, message = message or "" }
        progress("END " .. status .. " " .. name)
    end

    local current        -- the block whose body is running (definitions go there)
    local running        -- the case being run, or nil

    local env = setmetatable({}, { __index = _G })

    local function define(kind)
        return function(fn)
            if running or not current then
                error("'" .. kind .. "' not supported inside a case", 2)
            end
            local list = current[kind]
            list[#list + 1] = fn
        end
    end

    local function describe(name, body)
        if running or not current then error("'describe' not supported inside a case", 2) end
        local b = new_block(tostring(name), current, body)
        current.children[#current.children + 1] = { kind = "describe", block = b }
    end

    local function it(name, fn)
        if running or not current then error("'it' not supported inside a case", 2) end
        current.children[#current.children + 1] = { kind = "it", name = tostring(name), fn = fn }
    end

    env.describe, env.context, env.insulate, env.expose = describe, describe, describe, describe
    env.it, env.spec, env.test = it, it, it
    env.pending = function(name)
        if running then error({ [PENDING] = true, message = name and to_text(name) or "pending" }, 0) end
        if not current then error("'pending' not supported here", 2) end
        current.children[#current.children + 1] = { kind = "it", name = tostring(name) }
    end
    env.setup, env.strict_setup = define("strict_setup"), define("strict_setup")
    env.teardown, env.strict_teardown = define("strict_teardown"), define("strict_teardown")
    env.lazy_setup, env.lazy_teardown = define("lazy_setup"), define("lazy_teardown")
    env.before_each, env.after_each = define("before_each"), define("after_each")
    env.finally = function(fn)
        if not running then error("'finally' not supported outside a case", 2) end
        running.finally = fn
    end
    env.assert, env.spy, env.stub, env.mock, env.match = luassert, spy, stub, luamock, match

    -- Every case under `block` (whose bodies have not run) is reported
    -- skipped: the block's own name carries #curl.
    local function skip_all(block)
        current = block
        local ok = protect(block.body)
        current = nil
        if not ok then return end
        for _, child in ipairs(block.children) do
            if child.kind == "describe" then
                skip_all(child.block)
            else
                record(full_name(block, child.name), "skipped", "libcurl only (#curl)")
            end
        end
    end

    -- busted's lazy_setup: once per block, the outer blocks first, before
    -- the first case under it that runs.
    local function lazy(block)
        if block.parent and not lazy(block.parent) then return false end
        if block.lazy_ok ~= nil then return block.lazy_ok end
        block.lazy_ok = true
        for _, fn in ipairs(block.lazy_setup) do
            local ok, e = protect(fn)
            if not ok then
                record(full_name(block, "lazy_setup"), "error", e.message)
                block.lazy_ok = false
                break
            end
        end
        return block.lazy_ok
    end

    local function run_case(block, case)
        local name = full_name(block, case.name)
        if name:find("#curl", 1, true) then
            return record(name, "skipped", "libcurl only (#curl)")
        end
        if not case.fn then return record(name, "pending", "") end
        progress("START " .. name)
        if not lazy(block) then return end
        local chain = {}
        local b = block
        while b do
            table.insert(chain, 1, b)
            b = b.parent
        end
        local status, message = "success", ""
        local reached = 0
        for i, blk in ipairs(chain) do
            local failed = false
            for _, fn in ipairs(blk.before_each) do
                local ok, e = protect(fn)
                if not ok then
                    status, message = "error", "before_each: " .. e.message
                    failed = true
                    break
                end
            end
            reached = i
            if failed then break end
        end
        if status == "success" then
            running = case
            case.finally = nil
            local ok, e = protect(case.fn)
            if not ok then
                if e[PENDING] then
                    status, message = "pending", e.message
                else
                    status, message = e.failure and "failure" or "error", e.message
                end
            end
            local fin = case.finally
            running = nil
            if fin then
                local okf, ef = protect(fin)
                if not okf and status == "success" then status, message = "error", "finally: " .. ef.message end
            end
        end
        for i = reached, 1, -1 do
            for _, fn in ipairs(chain[i].after_each) do
                local ok, e = protect(fn)
                if not ok and status == "success" then status, message = "error", "after_each: " .. e.message end
            end
        end
        record(name, status, message)
    end

    local function run_block(block)
        if block.name and block.name:find("#curl", 1, true) then return skip_all(block) end
        current = block
        local ok, e = protect(block.body)
        current = nil
        if not ok then return record(full_name(block), "error", e.message) end
        local setup_ok = true
        for _, fn in ipairs(block.strict_setup) do
            local okf, ef = protect(fn)
            if not okf then
                record(full_name(block, "setup"), "error", ef.message)
                setup_ok = false
                break
            end
        end
        if setup_ok then
            for _, child in ipairs(block.children) do
                if child.kind == "describe" then run_block(child.block) else run_case(block, child) end
            end
        end
        if block.lazy_ok ~= nil then
            for i = #block.lazy_teardown, 1, -1 do
                local okf, ef = protect(block.lazy_teardown[i])
                if not okf then record(full_name(block, "lazy_teardown"), "error", ef.message) end
            end
        end
        for i = #block.strict_teardown, 1, -1 do
            local okf, ef = protect(block.strict_teardown[i])
            if not okf then record(full_name(block, "teardown"), "error", ef.message) end
        end
    end

    progress("FILE " .. path)
    local chunk, err = loadfile(path)
    if not chunk then
        record(path, "error", to_text(err))
        return results
    end
    setfenv(chunk, env)
    run_block(new_block(nil, nil, chunk))
    return results
end

-- Only spec files of this checkout: spec/NAME_spec.lua or a case file of
-- the runner's own directory.
local function allowed(file)
    return type(file) == "string" and (file:match("^spec/[%w_]+_spec%.lua$")
        or file:match("^spec/support/ngx_runner/[%w_]+_cases%.lua$")) ~= nil
end

--- The content handler of /run.
function M.handle()
    local file = ngx.var.arg_file and ngx.unescape_uri(ngx.var.arg_file)
    if not allowed(file) then
        ngx.status = 400
        ngx.say(cjson.encode { error = "file must be spec/NAME_spec.lua, got " .. tostring(file) })
        return ngx.exit(400)
    end
    local probe = require "spec.support.ngx_runner.probe"
    probe.reset()
    local results = M.run_file(ROOT .. "/" .. file)
    ngx.header["Content-Type"] = "application/json"
    ngx.say(cjson.encode(results))
end

--- The content handler of /probe: the transports used since the last /run
--- began.
function M.handle_probe()
    ngx.header["Content-Type"] = "application/json"
    ngx.say(cjson.encode(require("spec.support.ngx_runner.probe").report()))
end

return M
