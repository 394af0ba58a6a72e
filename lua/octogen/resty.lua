--- octogen.resty: the Octogen client for OpenResty handlers, without
-- blocking the nginx event loop.
--
--     local resty = require "octogen.resty"
--     local client = resty.client { base_url = os.getenv("OCTOGEN_BASE_URL") }
--     -- in content_by_lua*, access_by_lua*, rewrite_by_lua*, ngx.timer.at:
--     local page, err = client:search_products { catalog = "tidepool", q = "jacket" }
--
-- The C core does its own I/O through libcurl, which would stop the whole
-- nginx worker for the length of a call. So each call goes to a thread of
-- an nginx thread pool with ngx.run_worker_thread (lua-nginx-module
-- 0.10.22+), where octogen.worker runs the blocking client in a Lua VM of
-- its own; the request's coroutine yields meanwhile and the event loop
-- serves everything else. nginx.conf needs (see examples/openresty/):
--
--     thread_pool octogen threads=16;              # main context
--     env OCTO_API_KEY;                            # nginx empties the environment
--     http {
--         lua_package_path  "/path/to/octogen-lua/lua/?.lua;/path/to/octogen-lua/lua/?/init.lua;;";
--         lua_package_cpath "/path/to/octogen-lua/build/luajit/?.so;;";   # make LUA=luajit
--         lua_worker_thread_vm_pool_size 16;       # default 10: calls at once
--     }
--
-- Methods, results and errors are those of octogen.client: list_catalogs,
-- search_products, lookup_product, refresh_products, request, pages and
-- items return `result, meta` or `nil, err` (err a real error object:
-- err:is("APIError"), tostring(err)), and mistakes in a call raise an
-- InvalidArgumentError pointing at the caller's line.
--
-- What differs, because only plain data crosses into a worker thread:
-- options and arguments cannot hold functions (api_key token providers,
-- sleep, on_request, on_response): resty.client and the methods raise an
-- InvalidArgumentError for them. Retries wait with the worker thread's
-- blocking sleep, which holds that thread and never the event loop. Each
-- VM of the pool keeps its own client (and keep-alive connection) per
-- option set.
local octogen = require "octogen"
local errors = require "octogen.errors"
local core = require "octogen.core"
local pager = require "octogen.pager"

local debug_getinfo = debug.getinfo
local error = error
local format = string.format
local getmetatable = getmetatable
local min = math.min
local pairs = pairs
local pcall = pcall
local select = select
local setmetatable = setmetatable
local tostring = tostring
local type = type

local M = {}

--- The thread pool calls run on: `thread_pool NAME threads=N;` in nginx.conf.
M.pool_name = "octogen"

--- The module the worker threads run (octogen.worker).
M.worker_module = "octogen.worker"

--- Seconds a call waits for a free worker-thread VM when every one of the
-- `lua_worker_thread_vm_pool_size` VMs is busy, before it returns an error.
M.vm_wait = 5

-- The marker octogen.worker puts on copied error objects and shared tables.
local MARK = true

---------------------------------------------------------------------------
-- errors

-- "file:line: " of the function `level` levels up, as error() would add.
local function where(level)
    local info = debug_getinfo(level + 1, "Sl")
    if info and info.currentline and info.currentline > 0 then
        return format("%s:%d: ", info.short_src, info.currentline)
    end
    return ""
end

local function invalid(message, level)
    local e = errors.new("InvalidArgumentError", where(level + 1) .. message)
    error(e, level + 1)
end

--- A value from octogen.worker with its markers turned back into what the
-- blocking client returns: error objects with the shared metatable (so
-- err:is() and tostring work), shared tables and cycles restored.
local function hydrate(v)
    if type(v) ~= "table" then return v end
    local shells = {}
    local function shell(mark)
        local s = shells[mark.id or mark.ref]
        if not s then
            s = mark.error and errors.new(nil, nil) or {}
            shells[mark.id or mark.ref] = s
        end
        return s
    end
    local function build(x)
        if type(x) ~= "table" then return x end
        local mark = x[MARK]
        if type(mark) == "table" and mark.ref then return shell(mark) end
        local out
        if type(mark) == "table" then
            out = (mark.id and shell(mark)) or (mark.error and errors.new(nil, nil)) or {}
        else
            out = {}
        end
        for k, val in pairs(x) do
            if k ~= MARK then out[k] = build(val) end
        end
        return out
    end
    return build(v)
end

-- Raise what the worker thread raised, as if raised here: an error object
-- (position moved to the caller's line) or a message.
local function reraise(e, level)
    level = level + 1
    if type(e) ~= "table" then error(tostring(e), level) end
    local err = hydrate(e)
    if errors.is_error(err) then
        -- A position added inside the worker VM names octogen's own files.
        local message = tostring(err.message or ""):gsub("^[^%s]-%.lua:%d+: ", "")
        err.message = where(level) .. message
    end
    error(err, level)
end

---------------------------------------------------------------------------
-- what may cross into a worker thread

-- Raise unless v is plain data (nil, booleans, numbers, strings, light
-- userdata, tables of them without cycles): ngx.run_worker_thread refuses
-- the rest, and recurses into a cycle until the C stack runs out.
local function check_plain(v, what, level, path, active)
    local t = type(v)
    local label = path and (what .. (what == "option" and " " or " field ") .. path) or what
    if t == "table" then
        active = active or {}
        if active[v] then
            invalid(format("%s refers to itself: only plain data without cycles can cross " ..
                "into an nginx worker thread", label), level + 1)
        end
        active[v] = true
        for k, x in pairs(v) do
            local name = type(k) == "string" and k or ("[" .. tostring(k) .. "]")
            local sub = path and (path .. "." .. name) or name
            check_plain(k, what, level + 1, sub .. " (a key)", active)
            check_plain(x, what, level + 1, sub, active)
        end
        active[v] = nil
    elseif t == "function" or t == "userdata" or t == "thread" then
        invalid(format("%s is a %s: functions and userdata cannot cross into an nginx worker " ..
            "thread (ngx.run_worker_thread copies plain data only), so octogen.resty takes no " ..
            "token providers, sleep functions or hooks", label, t), level + 1)
    end
end

local function deep_copy(v)
    if type(v) ~= "table" then return v end
    local out = {}
    for k, x in pairs(v) do out[k] = deep_copy(x) end
    return out
end

---------------------------------------------------------------------------
-- the call

-- Failures of ngx.run_worker_thread that are a configuration mistake:
-- raised, since every call would fail the same way.
local function config_error(message)
    if message == "thread_pool not found" then
        return format("octogen.resty: nginx has no thread pool %q: add `thread_pool %s threads=16;` " ..
            "to the main context of nginx.conf (or set resty.pool_name)", M.pool_name, M.pool_name)
    end
    if message:find("module '", 1, true) or message == "invalid lua module"
        or message == "invalid function" then
        return "octogen.resty: the worker thread cannot load " .. M.worker_module .. ": " .. message ..
            " (lua_package_path must reach octogen-lua's lua/ directory and lua_package_cpath its " ..
            "LuaJIT build, build/luajit/ from `make LUA=luajit`)"
    end
    return nil
end

-- One method call through a worker thread. `level` is the level of the
-- public method's caller, counted from here.
local function dispatch(self, method, level, ...)
    local ngx = ngx
    if type(ngx) ~= "table" or type(ngx.run_worker_thread) ~= "function" then
        errors.raise("OctogenError", "octogen.resty needs OpenResty's ngx.run_worker_thread " ..
            "(lua-nginx-module 0.10.22 or newer); outside nginx use octogen.client", level + 1)
    end
    local waited, delay = 0, 0.001
    while true do
        local done, ok, a, b, c = ngx.run_worker_thread(M.pool_name, M.worker_module, "call",
            self._opts, method, ...)
        if done then
            if not ok then reraise(a, level + 1) end
            if a == nil then return nil, hydrate(b) end
            if c then a = hydrate(a) end
            return a, b
        end
        local message = tostring(ok)
        if message == "no available Lua vm" and waited < M.vm_wait then
            -- Every VM of lua_worker_thread_vm_pool_size is busy: wait
            -- without blocking the event loop.
            ngx.sleep(delay)
            waited = waited + delay
            delay = min(delay * 2, 0.05)
        else
            local why = config_error(message)
            if why then errors.raise("OctogenError", why, level + 1) end
            if message == "" then message = "the worker thread raised an error (see the nginx error log)" end
            return nil, errors.new("OctogenError", "ngx.run_worker_thread failed: " .. message)
        end
    end
end

---------------------------------------------------------------------------
-- the client object

local C = {}
C.__index = C

local function check_self(self, level)
    if getmetatable(self) ~= C then
        invalid("expected an octogen.resty client as self (call methods with ':')", level + 1)
    end
    if self._closed then
        errors.raise("OctogenError", "octogen.client is closed", level + 1)
    end
end

local function check_args(level, ...)
    for i = 1, select("#", ...) do
        check_plain((select(i, ...)), "argument " .. i, level + 1)
    end
end

-- The methods that only check their arguments and send them across. The
-- result is returned through locals, not a tail call: dispatch counts the
-- caller's stack level from this frame.
local function passthrough(name)
    return function(self, ...)
        check_self(self, 2)
        check_args(2, ...)
        local result, meta = dispatch(self, name, 2, ...)
        return result, meta
    end
end

C.list_catalogs = passthrough("list_catalogs")
C.search_products = passthrough("search_products")
C.lookup_product = passthrough("lookup_product")
C.refresh_products = passthrough("refresh_products")

function C:request(method, path, body, call_opts)
    check_self(self, 2)
    if type(body) == "table" then
        -- Encoded here: octogen.array marks and octogen.null survive, which
        -- the copy into the worker thread would lose (metatables).
        local json, why = core.encode(body)
        if not json then invalid(format("request body cannot be sent as JSON: %s", why), 2) end
        body = json
    end
    check_args(2, method, path, body, call_opts)
    local result, meta = dispatch(self, "request", 2, method, path, body, call_opts)
    return result, meta
end


--- for page, meta in client:pages(params [, call_opts]) do ... end
-- Like octogen.client's: a failure raises the error with err.cursor set.
function C:pages(params, call_opts)
    check_self(self, 2)
    check_args(2, params, call_opts)
    local body, max_pages = pager.check(params, call_opts)
    if not body then invalid(max_pages, 2) end
    local p = {}
    for k, v in pairs(params or {}) do
        if k ~= "max_pages" then p[k] = deep_copy(v) end
    end
    local opts = deep_copy(call_opts)
    return pager.walk(function(cursor)
        p.cursor = cursor
        return dispatch(self, "search_products", 3, p, opts)
    end, p.cursor, max_pages)
end

--- for item, meta in client:items(params [, call_opts]) do ... end
function C:items(params, call_opts)
    check_self(self, 2)
    local ok, next_page = pcall(self.pages, self, params, call_opts)
    if not ok then reraise(next_page, 2) end
    return pager.items(next_page)
end

--- The clients live in the worker-thread VMs and are reused by every
-- octogen.resty client with the same options; close() only makes this
-- object refuse further calls.
function C:close()
    self._closed = true
end

function C:is_closed()
    return self._closed == true
end

function C:__tostring()
    return self._name .. (self._closed and " (closed)" or "")
end

--- resty.client([opts]) -> client. Takes octogen.client's options, checked
-- here the same way (an InvalidArgumentError or MissingAPIKeyError at the
-- caller's line), except that none may be a function.
function M.client(opts)
    local ok, c = pcall(octogen.client, opts)
    if not ok then reraise(c, 2) end
    local name = tostring(c):gsub("^octogen%.client", "octogen.resty.client")
    c:close()
    check_plain(opts, "option", 2)
    return setmetatable({ _opts = deep_copy(opts) or {}, _name = name }, C)
end

M.methods = C

--- resty.warm([n]) -> number of VMs ready. Creates up to n (default 16)
-- worker-thread VMs and loads octogen into each, so that the first calls
-- after nginx starts do not pay for it (a new VM took about 10 ms of CPU
-- here: 16 in 80 ms on two cores).
-- Needs a context that can yield; at start-up, from a timer:
--
--     init_worker_by_lua_block {
--         ngx.timer.at(0, function() require("octogen.resty").warm(16) end)
--     }
function M.warm(n)
    local ngx = ngx
    n = n or 16
    local function one()
        local done, ok = ngx.run_worker_thread(M.pool_name, M.worker_module, "warm")
        return done and ok
    end
    -- All n are posted in this tick, before any VM returns to the pool,
    -- so each gets a VM of its own.
    local threads = {}
    for i = 1, n do threads[i] = ngx.thread.spawn(one) end
    local ready = 0
    for i = 1, n do
        local ok, warm = ngx.thread.wait(threads[i])
        if ok and warm then ready = ready + 1 end
    end
    return ready
end

return M
