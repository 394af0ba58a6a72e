--- octogen.pacing: keeping a client (and every other client using the same
-- key and store) within the API's rate limits, before a 429 and after one.
--
-- Two things are shared through the client's store (octogen.store): the
-- time until which the key is paused (set by a 429 with Retry-After, or by
-- an answer that says no request is left until the bucket's reset), and,
-- with the rate_limit option, a token bucket every user of the store draws
-- from. With the default in-process store both are this Lua VM's own; with
-- a shared dict or Redis every worker or machine honours them. The send
-- loop (client.send) asks wait() before each attempt and tells observe()
-- what came back; it never names a store.
--
-- A store that fails degrades to this process's own view (the local
-- pause, no bucket) for a few seconds and reports it through the
-- on_store_error option; an API call never fails because of the store.
local core = require "octogen.core"

local max, min = math.max, math.min
local type, tostring, pcall = type, tostring, pcall

local M = {}

-- How long a failed store is left alone before it is tried again.
local RETRY_STORE_AFTER = 5

-- The wall clock in seconds (a pause set on one machine is read on
-- another): core.now() is CLOCK_REALTIME to the nanosecond.
local wall = core.now
M.wall = wall

--- The pacing state of a client: pacing.new(config) keeps it in
-- config.pacing. config: store, namespace, rate_limit, on_store_error.
function M.new(config)
    local p = {
        store = config.store,
        pause_key = config.namespace .. ":pause",
        bucket_key = config.namespace .. ":bucket",
        on_error = config.on_store_error,
        -- per_second, burst: from the rate_limit option, or learned
        -- (rate_limit = "auto") from X-RateLimit-Limit (a minute's worth)
        rate = config.rate_limit,
        learn = config.rate_limit == "auto",
        -- The pause as this process knows it (epoch seconds): what a 429
        -- here set, and the store's value when last read.
        local_until = 0,
        failed_at = nil,
        -- Whether answers with no request left pause the key (only once
        -- pacing was asked for: store or rate_limit).
        follow_remaining = config.store.kind ~= "local" or config.rate_limit ~= nil,
        -- The in-process store is this client's alone: its pause is
        -- local_until, so the hot path skips it.
        shared = config.store.kind ~= "local",
    }
    if p.learn then p.rate = nil end
    return p
end

local function store_ok(p)
    if not p.failed_at then return true end
    if wall() - p.failed_at >= RETRY_STORE_AFTER then
        p.failed_at = nil
        return true
    end
    return false
end

-- A store failure: noted (the store is left alone for a while) and
-- reported; never raised.
local function failed(p, op, err)
    local first = p.failed_at == nil
    p.failed_at = wall()
    if first and p.on_error then
        pcall(p.on_error, { store = p.store.kind, op = op, error = tostring(err) })
    end
end

--- Seconds this attempt must wait before it goes out, or 0; whether the
-- wait is a pause (set by the API) rather than the bucket; and the pause's
-- end. `covered` is a pause's end the caller has waited out already (its
-- sleep may be a test's, which lets no time pass): not waited for again.
function M.wait(p, covered)
    -- The common case: nothing shared, no bucket, never paused.
    if p.local_until == 0 and not p.shared and not p.rate then return 0, false end
    local now = wall()
    local until_t = p.local_until
    if p.shared and store_ok(p) then
        local v, err = p.store:get(p.pause_key)
        if err then
            failed(p, "get", err)
        elseif v then
            until_t = max(until_t, tonumber(v) or 0)
            p.local_until = until_t
        end
    end
    -- (A stored time has microseconds; the local one more: compare loosely.)
    if until_t > now and not (covered and until_t <= covered + 0.001) then
        return until_t - now, true, until_t
    end
    local rate = p.rate
    if rate and store_ok(p) then
        -- (The backend's clock: Redis has one every machine shares.)
        local wait, err = p.store:take(p.bucket_key, rate.per_second, rate.burst or rate.per_second)
        if wait == nil then
            failed(p, "take", err)
        elseif wait > 0 then
            return wait, false
        end
    end
    return 0, false
end

--- Pause the key until `until_t` (epoch seconds), here and in the store.
function M.pause(p, until_t)
    if until_t <= p.local_until then return end
    p.local_until = until_t
    if p.shared and store_ok(p) then
        local ok, err = p.store:pause(p.pause_key, until_t, max(1, until_t - wall()) + 1)
        if not ok then failed(p, "pause", err) end
    end
end

--- What an attempt's answer says about the limits: a 429 with
-- Retry-After pauses the key; so does an answer with no request left
-- (when pacing was asked for: a store or rate_limit), until the next token
-- (X-RateLimit-Limit is per minute) or the bucket's reset, whichever is
-- first. rate_limit = "auto" learns the bucket's rate from
-- X-RateLimit-Limit.
function M.observe(p, rl, err)
    local now = wall()
    if err and err.status_code == 429 and type(err.retry_after) == "number" and err.retry_after > 0 then
        if now + err.retry_after > p.local_until then p.code = err.code end
        M.pause(p, now + err.retry_after)
    end
    if type(rl) ~= "table" then return end
    if p.learn and type(rl.limit) == "number" and rl.limit > 0 then
        local per_second = rl.limit / 60
        -- The API's own burst is not sent: evenly paced, one at a time.
        if not p.rate or p.rate.per_second ~= per_second then
            p.rate = { per_second = per_second, burst = 1 }
        end
    end
    local asked = err and type(err.retry_after) == "number"
    if p.follow_remaining and not asked and rl.remaining == 0 and type(rl.reset) == "number" and rl.reset > now then
        -- No request left. The reset is when the bucket is full again; the
        -- next token comes sooner, a minute's share of the limit on (a
        -- Retry-After, when sent, says it better and was used above).
        local next_token = type(rl.limit) == "number" and rl.limit > 0 and now + 60 / rl.limit or rl.reset
        M.pause(p, min(rl.reset, next_token, now + 60))
    end
end

return M
