--- The retry policy, as pure functions: which failures are worth another
-- try, and how long to wait before it. The loop that applies it is
-- client.send; the clock, the random source and the sleep are passed in so
-- that tests (and OpenResty) can replace them.
local core = require "octogen.core"

local floor = math.floor
local max, min = math.max, math.min
local tonumber = tonumber

local M = {}

--- Defaults: the API docs' suggestion (start at 1 s, double, cap at
-- 30 s, add jitter). A Retry-After longer than max_retry_after is not
-- waited for: the error is returned instead (never wait less than the
-- server says, and never block a caller for minutes).
M.DEFAULTS = { base_delay = 1, max_delay = 30, jitter = 0.5, max_retry_after = 60 }
M.DEFAULT_MAX_RETRIES = 2

-- The statuses the API documents as transient. 400, 401, 403, 404 and 422
-- need a different request and are never retried.
local RETRY_STATUS = { [429] = true, [500] = true, [502] = true, [503] = true, [504] = true }

-- The API's 429 codes (contract section 11.12, as production sends them).
-- These two will not clear by waiting seconds: a monthly voyage quota, and
-- the keyless trial's 30 requests a day per IP.
local NEVER = { voyage_quota_exceeded = true, keyless_trial_exhausted = true }
-- Too many requests in flight clears as the others finish: one more try.
local EXTRA_RETRIES = { concurrency_limit_exceeded = 1 }
M.NEVER_RETRIED, M.EXTRA_RETRIES = NEVER, EXTRA_RETRIES

--- Is this failure transient (worth the same request again)? The one
-- definition: the retry loop (client.send), refresh batching (a transient
-- failure sinks its batch, never the whole call) and the command line
-- (bin/octogen) all ask this.
function M.retryable(err)
    -- The C core marks failures that cannot change (TLS verification).
    if err.retryable == false then return false end
    if err.status_code == nil then
        return err.name == "ConnectionError" or err.name == "TimeoutError"
    end
    if err.status_code == 429 and NEVER[err.code] then return false end
    return RETRY_STATUS[err.status_code] == true
end

--- Does `err` concern a request as a whole, so that the same request (or
-- the next batch of a batched call) would fail the same way? Not for a
-- transient failure, nor for a 2xx whose body was not what was promised
-- (a broken answer). Batched calls (refresh, URL lists) stop on these.
function M.ends_call(err)
    if M.retryable(err) then return false end
    local s = err.status_code
    return not (type(s) == "number" and s >= 200 and s < 300)
end

--- How many retries `err` may have when the call allows max_retries:
-- 0 for what is not transient, one more than max_retries for
-- concurrency_limit_exceeded (when retries are on at all).
function M.allowed(err, max_retries)
    if not M.retryable(err) then return 0 end
    if max_retries > 0 and err.status_code == 429 then
        return max_retries + (EXTRA_RETRIES[err.code] or 0)
    end
    return max_retries
end

--- Seconds the server asked us to wait (Retry-After as seconds or as an
-- HTTP date), or nil. Seconds are delta-seconds (RFC 9110: digits only);
-- tonumber alone would also read "0x10" as 16, "1e3" as 1000 or "-5",
-- none of which a server may send: anything else is ignored (nil), so the
-- ordinary backoff applies.
function M.retry_after(err, now)
    local h = err.headers and err.headers["retry-after"]
    if type(h) ~= "string" then return nil end
    local digits = h:match("^[ \t]*(%d+)[ \t]*$")
    if digits then return tonumber(digits) end
    local t = core.http_date(h)
    if t then return max(0, t - floor(now)) end
    return nil
end

--- Exponential backoff for the n-th retry (1-based), less up to `jitter`
-- of itself at random.
function M.backoff(n, policy, random)
    local d = min(policy.max_delay, policy.base_delay * 2 ^ (n - 1))
    return d * (1 - policy.jitter * random())
end

--- Seconds to wait before the n-th retry of `err`, or nil when the
-- server asks for longer than the policy allows.
function M.delay(n, err, policy, now, random)
    local asked = M.retry_after(err, now)
    if asked then
        if asked > policy.max_retry_after then return nil end
        return asked
    end
    return M.backoff(n, policy, random)
end

--- policy fields over the defaults; nil and a message for a bad one.
function M.policy(t, base)
    base = base or M.DEFAULTS
    local p = {}
    for k, v in pairs(base) do p[k] = v end
    for k, v in pairs(t) do
        if M.DEFAULTS[k] == nil then
            return nil, ("unknown retry option %q"):format(tostring(k))
        end
        if type(v) ~= "number" or v ~= v or v < 0 or v == math.huge then
            return nil, ("retry.%s must be a non-negative number"):format(k)
        end
        p[k] = v
    end
    if p.jitter > 1 then return nil, "retry.jitter must be between 0 and 1" end
    return p
end

return M
