--- octogen.worker: what runs inside an nginx worker thread for octogen.resty.
--
-- octogen.resty calls, from a request handler,
--
--     ngx.run_worker_thread(pool, "octogen.worker", "call", opts, method, ...)
--
-- and lua-nginx-module runs call(opts, method, ...) in a Lua VM of its own
-- (one of a pool of `lua_worker_thread_vm_pool_size` VMs, each used by one
-- task at a time) on a thread of the thread pool, where the blocking
-- libcurl call does not hold up the nginx event loop.
--
-- Only plain data crosses between the two VMs (lua-nginx-module copies
-- booleans, numbers, strings, light userdata and tables of them; it drops
-- metatables, refuses functions and userdata, and recurses into a cyclic
-- table until the C stack gives out). So call() never raises and returns
-- plain tables only:
--
--     true, result, meta, marked    success; marked is true when result
--                                   holds error objects or shared tables
--                                   (see plain() below), nil otherwise
--     true, nil, plain_err          an API or network failure (nil, err)
--     false, plain_err              a programming error the client raised
--                                   (InvalidArgumentError, MissingAPIKeyError)
--     false, "message"              anything else that was raised
--
-- octogen.resty turns these back into what the blocking client returns.
local octogen = require "octogen"
local errors = require "octogen.errors"

local concat = table.concat
local format = string.format
local ipairs = ipairs
local is_error = octogen.is_error
local next = next
local pairs = pairs
local pcall = pcall
local sort = table.sort
local tostring = tostring
local type = type
local unpack = table.unpack or unpack

local M = {}

--- The methods call() may run: those of octogen.client that are one
-- exchange of plain data (pages/items are iterators: octogen.resty builds
-- them from search_products).
M.METHODS = {
    list_catalogs = true,
    search_products = true,
    lookup_product = true,
    refresh_products = true,
    request = true,
}

--- How many clients (distinct option sets) one VM keeps; the least
-- recently used one is closed when another is needed.
M.MAX_CLIENTS = 8

---------------------------------------------------------------------------
-- plain copies

-- The key of the marker on a copied table. JSON objects only give string
-- keys and arrays integer ones, so a boolean key cannot clash with data.
local MARK = true
M.MARK = MARK

--- A copy of v made of plain data only, safe to return across the thread
-- boundary, and whether it holds markers. An error object becomes a plain
-- table with its fields (name, message, status_code, ...) and the marker
-- {error = true}; a table met a second time (a cycle, such as
-- err.result.errors[1] == err from refresh_products, or a shared one)
-- becomes {[MARK] = {ref = id}}, and the first copy gets {id = id}.
-- Functions, full userdata and coroutines are left out, and so are table
-- keys (nothing the client returns has them).
function M.plain(v)
    local seen, state = {}, { n = 0, marked = false }
    local function copy(x)
        if type(x) ~= "table" then
            local t = type(x)
            if t == "function" or t == "userdata" or t == "thread" then return nil end
            return x
        end
        local prior = seen[x]
        if prior then
            local mark = prior[MARK]
            if not mark then
                mark = {}
                prior[MARK] = mark
            end
            if not mark.id then
                state.n = state.n + 1
                mark.id = state.n
            end
            state.marked = true
            return { [MARK] = { ref = mark.id, error = mark.error } }
        end
        local out = {}
        seen[x] = out
        if is_error(x) then
            out[MARK] = { error = true }
            state.marked = true
        end
        for k, val in pairs(x) do
            local kt = type(k)
            if kt == "string" or kt == "number" then
                out[k] = copy(val)
            end
        end
        return out
    end
    local out = copy(v)
    return out, state.marked
end
local plain = M.plain

-- A raised value made plain: an error object keeps its fields, anything
-- else becomes its string.
local function plain_raised(e)
    if type(e) == "table" and is_error(e) then
        local out = plain(e)
        return out
    end
    return tostring(e)
end

---------------------------------------------------------------------------
-- one client per option set, per VM

-- A deterministic text for plain data (the cache key of an option set).
local function canonical(v, out)
    local t = type(v)
    if t == "table" then
        local keys = {}
        for k in pairs(v) do keys[#keys + 1] = k end
        sort(keys, function(a, b)
            local ta, tb = type(a), type(b)
            if ta ~= tb then return ta < tb end
            if ta == "number" or ta == "string" then return a < b end
            return tostring(a) < tostring(b)
        end)
        out[#out + 1] = "{"
        for _, k in ipairs(keys) do
            canonical(k, out)
            out[#out + 1] = "="
            canonical(v[k], out)
            out[#out + 1] = ","
        end
        out[#out + 1] = "}"
    elseif t == "string" then
        out[#out + 1] = format("%q", v)
    else
        out[#out + 1] = t:sub(1, 1) .. tostring(v)
    end
    return out
end

local cache = {}     -- canonical options -> client
local recent = {}    -- canonical options, least recently used first

local function touch(key)
    for i = #recent, 1, -1 do
        if recent[i] == key then table.remove(recent, i) end
    end
    recent[#recent + 1] = key
end

--- The client of this VM for `opts`, created on first use.
function M.client(opts)
    local key = concat(canonical(opts or {}, {}))
    local c = cache[key]
    if not c then
        c = octogen.client(opts)
        while #recent >= M.MAX_CLIENTS do
            local old = table.remove(recent, 1)
            cache[old]:close()
            cache[old] = nil
        end
        cache[key] = c
    end
    touch(key)
    return c
end

--- How many clients this VM holds (for tests).
function M.client_count()
    local n = 0
    for _ in next, cache do n = n + 1 end
    return n
end

---------------------------------------------------------------------------
-- the entry point

local function finish(ok, result, meta)
    if not ok then return false, plain_raised(result) end
    if result == nil then return true, nil, (plain(meta)) end
    local presult, marked = plain(result)
    return true, presult, (plain(meta)), marked or nil
end

--- warm(): nothing; loading this module (and octogen with it) into a
-- fresh VM is the work, done ahead of the first call by octogen.resty.warm.
function M.warm()
    return true
end

--- call(opts, method, ...): run client:method(...) on this VM's client
-- for opts. Never raises; see the top of this file for what it returns.
function M.call(opts, method, ...)
    if type(method) ~= "string" or not M.METHODS[method] then
        return false, plain_raised(errors.new("InvalidArgumentError",
            format("octogen.worker cannot call method %s", tostring(method))))
    end
    local ok, c = pcall(M.client, opts)
    if not ok then return false, plain_raised(c) end
    -- The client raises with level 2, which here is pcall itself: the
    -- message carries no position, and octogen.resty adds the caller's.
    local n = select("#", ...)
    local args = { ... }
    return finish(pcall(c[method], c, unpack(args, 1, n)))
end

return M
