--- octogen.store: where pauses, the rate-limit bucket and cached answers are
-- kept, so that every worker of an nginx, or every machine, shares them.
--
--     local store = require "octogen.store"
--     local s = store.new(option)    -- nil/"local", ngx.shared.DICT, {shared_dict = name}, {redis = {...}}
--
-- Every backend has the same interface. Keys arrive namespaced by the
-- caller; values are Lua strings. A failure of the store itself (Redis
-- down or slow, a shared dict out of memory) never raises: the method
-- returns nil and an error object (a ConnectionError, or a TimeoutError,
-- with `store` = the backend's kind), and the caller goes on without it.
-- Bad arguments are programming errors and raise InvalidArgumentError.
--
--   s.kind                          "local" | "shared_dict" | "redis"
--   s:get(key)                      -> value | nil            (nil, err on failure)
--   s:set(key, value, ttl)          -> true                   (nil, err)
--   s:add(key, value, ttl)          -> true | false (present) (nil, err)   set if absent: a lock
--   s:delete(key)                   -> true                   (nil, err)
--   s:pause(key, until_epoch, ttl)  -> true                   (nil, err)
--         keeps the later of the stored and the given time (atomic); get(key)
--         then answers it as a string ("%.6f", tonumber it)
--   s:take(key, rate, burst, now)   -> wait_seconds           (nil, err)
--         GCRA token bucket, atomic across every user of the store: 0 = a
--         token was taken; > 0 = no token until that many seconds from now,
--         and nothing was taken. rate: tokens per second (> 0); burst: tokens
--         that may be taken at once (>= 1, default 1); now: epoch seconds
--         (default: the backend's clock; Redis uses its own TIME, the one
--         clock every machine sees).
--
-- ttl: seconds (> 0, fractions allowed; shared dicts and Redis keep
-- milliseconds). Every key has one, so nothing piles up.
--
-- Clocks: every time here is epoch seconds (pauses come from Retry-After
-- and X-RateLimit-Reset and cross machines through Redis): ngx.now() inside
-- nginx, else octogen.core.now() (CLOCK_REALTIME with a fraction).
local errors = require "octogen.errors"

local format = string.format
local rawget = rawget
local tostring = tostring
local type = type

local M = {}

--- The error object a backend returns: TimeoutError when the store did not
-- answer in time, else ConnectionError; `store` names the backend.
function M.error(kind, message, timeout)
    return errors.new(timeout and "TimeoutError" or "ConnectionError",
        format("%s store: %s", kind, tostring(message)), { store = kind })
end

--- The current epoch time in seconds, with a fraction.
function M.now()
    local ngx = rawget(_G, "ngx")
    if type(ngx) == "table" and type(ngx.now) == "function" then return ngx.now() end
    return require("octogen.core").now()
end

--- A number as the stored text of a time: microseconds, never the 14
-- digits tostring gives (which would lose them on epoch values).
function M.number_text(n)
    return format("%.6f", n)
end

--- True for a finite number > 0 (false for NaN).
local function positive(n)
    return type(n) == "number" and n > 0 and n ~= math.huge
end
M.positive = positive

-- Argument checks shared by the backends (programming errors: raise at the
-- caller of the store method, level 3 from here).
function M.check_key(key)
    if type(key) ~= "string" or key == "" then
        errors.invalid("store key must be a non-empty string, got " .. type(key), 3)
    end
end

function M.check_value(value)
    if type(value) ~= "string" then
        errors.invalid("store value must be a string, got " .. type(value), 3)
    end
end

function M.check_ttl(ttl)
    if not positive(ttl) then
        errors.invalid("store ttl must be a positive number of seconds, got " .. tostring(ttl), 3)
    end
end

function M.check_time(t, what)
    if type(t) ~= "number" or t ~= t or t == math.huge or t == -math.huge then
        errors.invalid(format("store %s must be a number of epoch seconds, got %s", what, tostring(t)), 3)
    end
end

--- rate, burst checked; burst defaults to 1.
function M.check_bucket(rate, burst)
    if not positive(rate) then
        errors.invalid("store take: rate must be a positive number of tokens per second, got " .. tostring(rate), 3)
    end
    if burst == nil then return 1 end
    if not positive(burst) or burst < 1 then
        errors.invalid("store take: burst must be a number >= 1, got " .. tostring(burst), 3)
    end
    return burst
end

--- GCRA, the same arithmetic in every backend (and, in Lua 5.1 too, in the
-- Redis script). tat: the stored theoretical arrival time (nil: none).
-- Returns wait (0: granted), the new tat to store (nil when denied) and the
-- ttl to keep it for (past it the bucket is full again, same as no key).
function M.gcra(tat, now, rate, burst)
    local interval = 1 / rate
    if not tat or tat < now then tat = now end
    local new_tat = tat + interval
    local allow_at = new_tat - burst * interval
    if allow_at > now then return allow_at - now, nil, nil end
    return 0, new_tat, new_tat - now + 1
end

-- Is v an ngx.shared.DICT (a table whose methods come from its metatable)?
local function is_dict(v)
    return type(v) == "table" and type(v.get) == "function" and type(v.add) == "function"
        and type(v.incr) == "function" and type(v.flush_all) == "function"
end

-- Is v already a store (store.new(s) returns s)?
local function is_store(v)
    return type(v) == "table" and (v.kind == "local" or v.kind == "shared_dict" or v.kind == "redis")
        and type(v.take) == "function"
end

--- The store for the client option `store`. Raises InvalidArgumentError
-- naming the option (at `level`, default the caller's caller).
function M.new(option, level)
    level = (level or 1) + 1
    if option == nil or option == "local" then
        return require("octogen.store.local").new()
    end
    if is_store(option) then return option end
    if is_dict(option) then
        return require("octogen.store.shared_dict").new(option)
    end
    if type(option) == "table" and option.shared_dict ~= nil then
        local name = option.shared_dict
        if type(name) ~= "string" then
            errors.invalid("option store.shared_dict must be the name of a lua_shared_dict, got " .. type(name),
                level)
        end
        local ngx = rawget(_G, "ngx")
        local dict = type(ngx) == "table" and type(ngx.shared) == "table" and ngx.shared[name]
        if not dict then
            errors.invalid(format("option store.shared_dict: there is no lua_shared_dict %q (declare it in "
                .. "nginx.conf's http block: lua_shared_dict %s 10m;)", name, name), level)
        end
        return require("octogen.store.shared_dict").new(dict, name)
    end
    if type(option) == "table" and option.redis ~= nil then
        if type(option.redis) ~= "table" then
            errors.invalid("option store.redis must be a table {host =, port =, ...}, got " .. type(option.redis),
                level)
        end
        local redis = require "octogen.store.redis"
        local ok, s = pcall(redis.new, option.redis)
        if not ok then
            -- redis.new raises plain strings for its own fields: name them here
            errors.invalid("option store.redis: " .. tostring(type(s) == "table" and s.message or s), level)
        end
        return s
    end
    errors.invalid("option store must be \"local\", an ngx.shared.DICT, {shared_dict = name} or "
        .. "{redis = {host =, port =, ...}}, got " .. (type(option) == "string" and format("%q", option)
        or type(option)), level)
end

return M
