--- octogen.store.redis: every machine, through Redis.
--
--     store = {redis = {host = "127.0.0.1", port = 6379, password = nil, db = 0,
--                       timeout = 1, prefix = "", pool_size = 32, keepalive = 60, backoff = 1}}
--
-- Two clients, both Debian's:
--   * inside nginx (ngx.get_phase exists): lua-resty-redis (package
--     lua-nginx-redis, module "nginx.redis"; "resty.redis" where OpenResty
--     installs it) over cosockets. One connection per call, taken from and
--     given back to nginx's per-worker pool (set_keepalive), whose name
--     carries host, port, db and the password's crc32, so AUTH and SELECT
--     are sent only on a fresh connection. Only where cosockets exist
--     (rewrite, access, content, timer, ...): in other phases every method
--     fails (nil, err) rather than block the worker.
--   * elsewhere: redis-lua (package lua-redis, module "redis"; blocking,
--     LuaSocket), one connection per store object, reopened after a failure.
--     Debian packages it for Lua 5.1-5.3 only; under 5.4 the 5.3 copy is
--     loaded by path (it is plain Lua and runs unchanged).
-- timeout (seconds, default 1) bounds the connect and each read and write.
-- Not less: a loaded machine (bench/fleet: 8 workers, Redis and the load
-- generator on 2 cores) answered past 0.1 s often enough that the fallback
-- to local behaviour sent most requests upstream; a Redis that is really
-- down fails fast anyway (refused), and `backoff` bounds a hung one.
--
-- pause and take are Lua scripts run by EVAL, so each is atomic in Redis
-- across every machine. take with no `now` uses Redis's TIME: one clock
-- for the whole fleet. Times are kept as "%.6f" text (EVAL would truncate a
-- returned number to an integer, so the scripts return text too).
--
-- A failure (refused, timed out, an error reply) returns nil and an error
-- object (octogen.store.error). After one, the store answers every call with
-- an error at once for `backoff` seconds (default 1; 0 turns this off)
-- instead of waiting out a timeout per call while Redis is down.
local store = require "octogen.store"

local check_key, check_value, check_ttl = store.check_key, store.check_value, store.check_ttl
local check_time, check_bucket = store.check_time, store.check_bucket
local number_text, new_error, positive = store.number_text, store.error, store.positive
local ceil = math.ceil
local format = string.format
local pcall = pcall
local rawget = rawget
local setmetatable = setmetatable
local tonumber = tonumber
local tostring = tostring
local type = type
local unpack = table.unpack or unpack  -- luacheck: ignore 143

local M = {}

local KIND = "redis"

local COSOCKET_PHASES = {
    rewrite = true, server_rewrite = true, access = true, content = true, timer = true,
    ssl_cert = true, ssl_session_fetch = true, ssl_client_hello = true,
}

-- KEYS[1]: the key; ARGV: until (epoch s), ttl (ms). Keeps the later time;
-- a kept key's ttl only grows.
M.PAUSE_SCRIPT = [[
local cur = tonumber(redis.call('GET', KEYS[1]))
local want = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
if cur and cur >= want then
  local left = redis.call('PTTL', KEYS[1])
  if left >= 0 and left < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
  return 0
end
redis.call('SET', KEYS[1], string.format('%.6f', want), 'PX', ttl)
return 1
]]

-- KEYS[1]: the key; ARGV: rate (tokens/s), burst, now (epoch s, or "" for
-- Redis's TIME). GCRA as octogen.store.gcra: returns the wait as text,
-- "0" when a token was taken.
M.TAKE_SCRIPT = [[
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local interval = 1 / rate
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat or tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - burst * interval
if allow_at > now then return string.format('%.6f', allow_at - now) end
local ttl = math.ceil((new_tat - now + 1) * 1000)
redis.call('SET', KEYS[1], string.format('%.6f', new_tat), 'PX', ttl)
return '0'
]]

local function ttl_ms(ttl)
    local n = ceil(ttl * 1000)
    if n < 1 then n = 1 end
    return format("%d", n)
end

local function nginx()
    local ngx = rawget(_G, "ngx")
    if type(ngx) == "table" and type(ngx.get_phase) == "function" then return ngx end
    return nil
end

---------------------------------------------------------------------------
-- the client libraries, loaded when first needed

local resty_redis
local function load_resty()
    if resty_redis == nil then
        local ok, mod = pcall(require, "nginx.redis")      -- Debian's lua-nginx-redis
        if not ok then ok, mod = pcall(require, "resty.redis") end  -- OpenResty, luarocks
        resty_redis = ok and mod or false
    end
    return resty_redis
end

local redis_lua
local function load_redis_lua()
    if redis_lua == nil then
        local ok, mod = pcall(require, "redis")
        if not ok then
            -- Debian's lua-redis installs /usr/share/lua/5.{1,2,3}/redis.lua
            -- only; the 5.3 copy is plain Lua that 5.4 runs unchanged.
            for _, path in ipairs { "/usr/share/lua/5.3/redis.lua", "/usr/local/share/lua/5.3/redis.lua" } do
                local chunk = loadfile(path)
                if chunk then
                    ok, mod = pcall(chunk, "redis")
                    if ok and type(mod) == "table" then break end
                    ok = false
                end
            end
        end
        redis_lua = ok and type(mod) == "table" and mod or false
    end
    return redis_lua
end

---------------------------------------------------------------------------
-- the store

local Store = {}
Store.__index = Store

local function check_opts(opts)
    local function bad(message) error(message, 0) end
    local host = opts.host == nil and "127.0.0.1" or opts.host
    if type(host) ~= "string" or host == "" then bad("host must be a string, got " .. type(host)) end
    local port = opts.port == nil and 6379 or opts.port
    if type(port) ~= "number" or port % 1 ~= 0 or port < 1 or port > 65535 then
        bad("port must be an integer 1-65535, got " .. tostring(port))
    end
    if opts.password ~= nil and type(opts.password) ~= "string" then
        bad("password must be a string, got " .. type(opts.password))
    end
    local db = opts.db == nil and 0 or opts.db
    if type(db) ~= "number" or db % 1 ~= 0 or db < 0 then bad("db must be an integer >= 0, got " .. tostring(db)) end
    local timeout = opts.timeout == nil and 1 or opts.timeout
    if not positive(timeout) then
        bad("timeout must be a positive number of seconds, got " .. tostring(timeout))
    end
    local prefix = opts.prefix == nil and "" or opts.prefix
    if type(prefix) ~= "string" then bad("prefix must be a string, got " .. type(prefix)) end
    local pool_size = opts.pool_size == nil and 32 or opts.pool_size
    if type(pool_size) ~= "number" or pool_size % 1 ~= 0 or pool_size < 1 then
        bad("pool_size must be an integer >= 1, got " .. tostring(pool_size))
    end
    local keepalive = opts.keepalive == nil and 60 or opts.keepalive
    if not positive(keepalive) then
        bad("keepalive must be a positive number of seconds, got " .. tostring(keepalive))
    end
    local backoff = opts.backoff == nil and 1 or opts.backoff
    if backoff ~= 0 and not positive(backoff) then
        bad("backoff must be a number of seconds >= 0, got " .. tostring(backoff))
    end
    return {
        host = host, port = port, password = opts.password, db = db, timeout = timeout, prefix = prefix,
        pool_size = pool_size, keepalive = keepalive, backoff = backoff,
    }
end

--- A store over the Redis at opts (see the top of this file). Raises a
-- message (a string) for a bad field; octogen.store.new names the option.
function M.new(opts)
    local o = check_opts(opts or {})
    o.kind = KIND
    o.down_until = 0
    return setmetatable(o, Store)
end

local function is_timeout(err)
    return tostring(err):find("timeout", 1, true) ~= nil
end

-- Record a failure (the backoff starts) and return nil, err.
function Store:_fail(err)
    if self.backoff > 0 then self.down_until = store.now() + self.backoff end
    -- redis-lua's errors start with its file and line: not the user's business
    err = tostring(err):gsub("^[^:]*redis%.lua:%d+: ", "")
    return nil, new_error(KIND, err, is_timeout(err))
end

-- nginx: run fn(red) on a pooled connection. fn returns res, err as
-- lua-resty-redis does (err set on failure).
function Store:_resty(ngx, fn)
    if not COSOCKET_PHASES[ngx.get_phase()] then
        -- not a Redis failure: no backoff
        return nil, new_error(KIND, "cosockets are not available in nginx's " .. tostring(ngx.get_phase())
            .. " phase (use a timer, or a rewrite, access or content handler)")
    end
    local lib = load_resty()
    if not lib then
        return nil, new_error(KIND, "lua-resty-redis is not installed (Debian: apt-get install lua-nginx-redis)")
    end
    local red, err = lib:new()
    if not red then return self:_fail(err) end
    red:set_timeout(self.timeout * 1000)
    local pool = format("octogen:%s:%d:%d:%s", self.host, self.port, self.db,
        self.password and tostring(ngx.crc32_long(self.password)) or "")
    local ok
    ok, err = red:connect(self.host, self.port, { pool = pool, pool_size = self.pool_size })
    if not ok then return self:_fail("connect " .. self.host .. ":" .. self.port .. ": " .. tostring(err)) end
    if (red:get_reused_times() or 0) == 0 then
        if self.password then
            ok, err = red:auth(self.password)
            if not ok then red:close() return self:_fail("AUTH: " .. tostring(err)) end
        end
        if self.db ~= 0 then
            ok, err = red:select(self.db)
            if not ok then red:close() return self:_fail("SELECT: " .. tostring(err)) end
        end
    end
    local pok, res, rerr = pcall(fn, red)
    if not pok then
        red:close()
        return self:_fail(res)
    end
    if res == nil or (res == false and rerr) then
        -- a connection error, or an error reply: the connection's state is
        -- unknown after the first, and closing costs little after the second
        red:close()
        return self:_fail(rerr)
    end
    red:set_keepalive(self.keepalive * 1000, self.pool_size)
    if res == ngx.null then res = nil end
    return res, nil, true
end

-- Elsewhere: run fn(client) on this store's redis-lua connection.
function Store:_blocking(fn)
    local lib = load_redis_lua()
    if not lib then
        return nil, new_error(KIND, "redis-lua is not installed (Debian: apt-get install lua-redis)")
    end
    local client = self.client
    if not client then
        local ok, c = pcall(lib.connect, { host = self.host, port = self.port, timeout = self.timeout })
        if not ok then return self:_fail(c) end
        client = c
        if self.password then
            local aok, aerr = pcall(client.auth, client, self.password)
            if not aok then pcall(client.quit, client) return self:_fail("AUTH: " .. tostring(aerr)) end
        end
        if self.db ~= 0 then
            local sok, serr = pcall(client.select, client, self.db)
            if not sok then pcall(client.quit, client) return self:_fail("SELECT: " .. tostring(serr)) end
        end
        self.client = client
    end
    local ok, res = pcall(fn, client)
    if not ok then
        -- redis-lua raises on every failure; the connection is dropped
        -- (a late answer on it would be read as the next command's)
        self.client = nil
        pcall(function() client.network.socket:close() end)
        return self:_fail(res)
    end
    return res, nil, true
end

-- Run one command: resty(red) inside nginx, blocking(client) elsewhere.
-- Returns the reply (nil for Redis's nil) and, third, true when it ran;
-- nil, err on failure.
function Store:_run(resty, blocking)
    if self.backoff > 0 and self.down_until > 0 then
        if store.now() < self.down_until then
            return nil, new_error(KIND, "unavailable after a failure (retrying in at most " .. self.backoff .. " s)")
        end
        self.down_until = 0
    end
    local ngx = nginx()
    if ngx then return self:_resty(ngx, resty) end
    return self:_blocking(blocking)
end

-- redis-lua's generic command (one multibulk request, one reply).
local commands = {}
local function command(name)
    local c = commands[name]
    if not c then
        local lib = load_redis_lua()
        c = lib and lib.command(name)
        commands[name] = c
    end
    return c
end

local function call(client, name, ...)
    local c = command(name)
    if not c then error("redis-lua is not installed") end
    return c(client, ...)
end

function Store:get(key)
    check_key(key)
    key = self.prefix .. key
    local res, err, ran = self:_run(function(red) return red:get(key) end,
        function(client) return call(client, "GET", key) end)
    if not ran then return nil, err end
    return res
end

function Store:set(key, value, ttl)
    check_key(key)
    check_value(value)
    check_ttl(ttl)
    key = self.prefix .. key
    local ms = ttl_ms(ttl)
    local _, err, ran = self:_run(function(red) return red:set(key, value, "PX", ms) end,
        function(client) return call(client, "SET", key, value, "PX", ms) end)
    if not ran then return nil, err end
    return true
end

function Store:add(key, value, ttl)
    check_key(key)
    check_value(value)
    check_ttl(ttl)
    key = self.prefix .. key
    local ms = ttl_ms(ttl)
    local res, err, ran = self:_run(function(red) return red:set(key, value, "NX", "PX", ms) end,
        function(client) return call(client, "SET", key, value, "NX", "PX", ms) end)
    if not ran then return nil, err end
    -- "OK" (lua-resty-redis) or true (redis-lua) when set; nil when present
    return res ~= nil
end

function Store:delete(key)
    check_key(key)
    key = self.prefix .. key
    local _, err, ran = self:_run(function(red) return red:del(key) end,
        function(client) return call(client, "DEL", key) end)
    if not ran then return nil, err end
    return true
end

-- EVAL script with one key and the strings of argv.
function Store:_eval(script, key, argv)
    return self:_run(function(red) return red:eval(script, 1, key, unpack(argv)) end,
        function(client) return call(client, "EVAL", script, 1, key, unpack(argv)) end)
end

function Store:pause(key, until_epoch, ttl)
    check_key(key)
    check_time(until_epoch, "pause time")
    check_ttl(ttl)
    local _, err, ran = self:_eval(M.PAUSE_SCRIPT, self.prefix .. key, { number_text(until_epoch), ttl_ms(ttl) })
    if not ran then return nil, err end
    return true
end

function Store:take(key, rate, burst, t)
    check_key(key)
    burst = check_bucket(rate, burst)
    if t ~= nil then check_time(t, "take time") end
    local res, err, ran = self:_eval(M.TAKE_SCRIPT, self.prefix .. key,
        { format("%.17g", rate), format("%.17g", burst), t and number_text(t) or "" })
    if not ran then return nil, err end
    local wait = tonumber(res)
    if not wait then return self:_fail("take: unexpected reply " .. tostring(res)) end
    return wait
end

--- Close this store's own connection (outside nginx; nginx's pool keeps
-- its connections until their keepalive ends).
function Store:close()
    local client = self.client
    self.client = nil
    if client then pcall(function() client.network.socket:close() end) end
    return true
end

return M
