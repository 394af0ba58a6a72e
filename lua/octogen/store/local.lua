--- octogen.store.local: the in-process store (the default). Plain Lua
-- tables in this Lua VM: nothing is shared with other workers or machines.
-- One VM runs one Lua thread at a time and no method here yields, so every
-- method is atomic without locks.
--
-- Expiry uses the epoch clock of octogen.store.now (ngx.now() in nginx,
-- else octogen.core.now()): an entry read after its time is gone, and every
-- SWEEP_EVERY writes drop all expired entries, so keys never pile up.
local store = require "octogen.store"

local check_key, check_value, check_ttl = store.check_key, store.check_value, store.check_ttl
local check_time, check_bucket = store.check_time, store.check_bucket
local gcra, number_text = store.gcra, store.number_text
local now = store.now
local next = next
local setmetatable = setmetatable
local tonumber = tonumber

local M = {}

local SWEEP_EVERY = 1000

local Store = {}
Store.__index = Store

--- A new, empty store. opts.clock: a function returning epoch seconds
-- (tests); default octogen.store.now.
function M.new(opts)
    return setmetatable({
        kind = "local",
        values = {},      -- key -> value
        expires = {},     -- key -> epoch seconds
        writes = 0,
        clock = opts and opts.clock or now,
    }, Store)
end

function Store:_sweep()
    local t = self.clock()
    local values, expires = self.values, self.expires
    local key, at = next(expires)
    while key do
        local following, following_at = next(expires, key)
        -- clearing the current field while traversing is allowed
        if at <= t then
            values[key] = nil
            expires[key] = nil
        end
        key, at = following, following_at
    end
end

-- The live value of key, or nil (an expired one is removed).
function Store:_live(key)
    local at = self.expires[key]
    if at == nil then return nil end
    if at <= self.clock() then
        self.values[key] = nil
        self.expires[key] = nil
        return nil
    end
    return self.values[key]
end

function Store:_put(key, value, ttl)
    self.writes = self.writes + 1
    if self.writes >= SWEEP_EVERY then
        self.writes = 0
        self:_sweep()
    end
    self.values[key] = value
    self.expires[key] = self.clock() + ttl
end

function Store:get(key)
    check_key(key)
    return self:_live(key)
end

function Store:set(key, value, ttl)
    check_key(key)
    check_value(value)
    check_ttl(ttl)
    self:_put(key, value, ttl)
    return true
end

function Store:add(key, value, ttl)
    check_key(key)
    check_value(value)
    check_ttl(ttl)
    if self:_live(key) ~= nil then return false end
    self:_put(key, value, ttl)
    return true
end

function Store:delete(key)
    check_key(key)
    self.values[key] = nil
    self.expires[key] = nil
    return true
end

function Store:pause(key, until_epoch, ttl)
    check_key(key)
    check_time(until_epoch, "pause time")
    check_ttl(ttl)
    local cur = tonumber(self:_live(key))
    if cur and cur >= until_epoch then
        -- keep the later time; its ttl only ever grows
        local at = self.clock() + ttl
        if at > self.expires[key] then self.expires[key] = at end
        return true
    end
    self:_put(key, number_text(until_epoch), ttl)
    return true
end

function Store:take(key, rate, burst, t)
    check_key(key)
    burst = check_bucket(rate, burst)
    if t == nil then t = self.clock() else check_time(t, "take time") end
    local wait, tat, ttl = gcra(tonumber(self:_live(key)), t, rate, burst)
    if tat then self:_put(key, number_text(tat), ttl) end
    return wait
end

return M
