--- octogen.store.shared_dict: every worker of one nginx, through an
-- ngx.shared.DICT (`lua_shared_dict octogen 10m;` in nginx.conf's http block).
--
-- get, set, add and delete are the dict's own operations, each atomic
-- across workers. pause and take read, compute and write: two workers
-- doing that at once would both see the same old value (two grants for one
-- token). They run under a per-key lock, itself a dict:add of a lock key
-- with a short expiry (LOCK_TTL), so a worker that dies holding it blocks
-- the others for at most that long. Nothing in the locked section yields
-- (dict calls and arithmetic only), so it lasts microseconds and only
-- another worker can hold the lock: a waiter first spins briefly, then
-- (where the phase can yield) sleeps 1 ms between tries, for at most
-- LOCK_WAIT seconds in all, then gives up with a TimeoutError.
--
-- Why a lock and not a lock-free scheme: GCRA keeps one number (the
-- theoretical arrival time) that must move to max(tat, now) + interval,
-- which no single dict operation (incr adds a constant) can do; a counter
-- per time window could, but lets twice the burst through at a window edge.
--
-- Values are stored as strings (pause and take keep "%.6f" times), so get
-- answers strings whatever wrote them. Expiry is the dict's (milliseconds).
local store = require "octogen.store"

local check_key, check_value, check_ttl = store.check_key, store.check_value, store.check_ttl
local check_time, check_bucket = store.check_time, store.check_bucket
local gcra, number_text, new_error = store.gcra, store.number_text, store.error
local rawget = rawget
local setmetatable = setmetatable
local tonumber = tonumber
local tostring = tostring
local type = type

local M = {}

local KIND = "shared_dict"
local LOCK_TTL = 0.1       -- seconds a lock outlives a worker that died holding it
local LOCK_WAIT = 0.1      -- seconds a waiter tries before giving up
local SPINS = 200          -- tries before the first sleep
local LOCK_PREFIX = "\1lock\1"
local MIN_TTL = 0.001      -- the dict keeps milliseconds; 0 would mean "never expires"

-- The phases where ngx.sleep may yield (lua-nginx-module's cosocket
-- context); elsewhere a waiter only spins.
local YIELDABLE = {
    rewrite = true, server_rewrite = true, access = true, content = true, timer = true,
    ssl_cert = true, ssl_session_fetch = true, ssl_client_hello = true,
}

local Store = {}
Store.__index = Store

--- A store over `dict` (an ngx.shared.DICT); name (optional) for messages.
function M.new(dict, name)
    return setmetatable({ kind = KIND, dict = dict, name = name }, Store)
end

local function ms(ttl)
    if ttl < MIN_TTL then return MIN_TTL end
    return ttl
end

local function fail(message)
    return nil, new_error(KIND, message, message == "timeout")
end

local function ngx_api()
    local ngx = rawget(_G, "ngx")
    if type(ngx) == "table" then return ngx end
    return nil
end

-- Take the lock of key: true, or nil and an error text.
local function lock(dict, lock_key)
    local ngx = ngx_api()
    local can_sleep = ngx and ngx.get_phase and YIELDABLE[ngx.get_phase()]
    local waited = 0
    local tries = 0
    while true do
        local ok, err = dict:add(lock_key, true, LOCK_TTL)
        if ok then return true end
        if err ~= "exists" then return nil, err end
        tries = tries + 1
        if tries > SPINS then
            if not can_sleep or waited >= LOCK_WAIT then return nil, "timeout" end
            ngx.sleep(0.001)
            waited = waited + 0.001
        end
    end
end

-- Run fn(dict) under key's lock; its results, or nil and an error.
local function locked(self, key, fn, a, b, c, d)
    local dict = self.dict
    local lock_key = LOCK_PREFIX .. key
    local ok, err = lock(dict, lock_key)
    if not ok then
        return fail(err == "timeout" and "timeout" or "lock: " .. tostring(err))
    end
    -- pcall: the lock must go even if something below raises
    local pok, r1, r2 = pcall(fn, dict, key, a, b, c, d)
    dict:delete(lock_key)
    if not pok then return fail(r1) end
    return r1, r2
end

function Store:get(key)
    check_key(key)
    local v, err = self.dict:get(key)
    if v == nil and err then return fail(err) end
    if v ~= nil and type(v) ~= "string" then v = tostring(v) end
    return v
end

function Store:set(key, value, ttl)
    check_key(key)
    check_value(value)
    check_ttl(ttl)
    local ok, err = self.dict:set(key, value, ms(ttl))
    if not ok then return fail(err) end
    return true
end

function Store:add(key, value, ttl)
    check_key(key)
    check_value(value)
    check_ttl(ttl)
    local ok, err = self.dict:add(key, value, ms(ttl))
    if ok then return true end
    if err == "exists" then return false end
    return fail(err)
end

function Store:delete(key)
    check_key(key)
    self.dict:delete(key)
    return true
end

local function do_pause(dict, key, until_epoch, ttl)
    local cur = tonumber((dict:get(key)))
    if cur and cur >= until_epoch then
        -- keep the later time; its ttl only ever grows
        local left = dict.ttl and dict:ttl(key)
        if left and left > 0 and left < ttl then dict:expire(key, ms(ttl)) end
        return true
    end
    local ok, err = dict:set(key, number_text(until_epoch), ms(ttl))
    if not ok then return nil, err end
    return true
end

function Store:pause(key, until_epoch, ttl)
    check_key(key)
    check_time(until_epoch, "pause time")
    check_ttl(ttl)
    local ok, err = locked(self, key, do_pause, until_epoch, ttl)
    if not ok and err then
        if type(err) == "string" then return fail(err) end
        return nil, err
    end
    return ok
end

local function do_take(dict, key, rate, burst, t)
    local wait, tat, ttl = gcra(tonumber((dict:get(key))), t, rate, burst)
    if tat then
        local ok, err = dict:set(key, number_text(tat), ms(ttl))
        if not ok then return nil, err end
    end
    return wait
end

function Store:take(key, rate, burst, t)
    check_key(key)
    burst = check_bucket(rate, burst)
    if t == nil then t = store.now() else check_time(t, "take time") end
    local wait, err = locked(self, key, do_take, rate, burst, t)
    if wait == nil then
        if type(err) == "string" then return fail(err) end
        return nil, err
    end
    return wait
end

return M
