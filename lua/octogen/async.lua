--- Requests that do not block: client:start(), client:poll(), client:all().
--
-- Each started call runs the ordinary method (argument checks, retries,
-- refresh batching: the same code as the blocking call) inside a
-- coroutine. Where the blocking call would wait for the network or sleep
-- before a retry, the coroutine yields instead; poll() advances libcurl's
-- multi handle and resumes each coroutine whose transfer finished or whose
-- backoff is over. No thread is started, and nothing waits unless poll()
-- is asked to.
local core = require "octogen.core"
local errors = require "octogen.errors"
local args = require "octogen.args"
local client = require "octogen.client"

local co_create, co_resume, co_status, co_yield, co_running =
    coroutine.create, coroutine.resume, coroutine.status, coroutine.yield, coroutine.running
local format = string.format
local max, min = math.max, math.min
local select = select
local type = type
local unpack = table.unpack or unpack

local methods = client.methods

-- What can be started by name: every method that makes requests and
-- returns. (refresh_products starts its batches as functions, through
-- client.run_all, which is not reachable from a client.)
local STARTABLE = {
    list_catalogs = true, search_products = true, lookup_product = true,
    refresh_products = true, request = true,
}

-- Scheduler state lives in the client's config table, so two clients (or
-- two nginx worker-thread VMs) never share it.
local function state(config)
    local s = config._async
    if not s then
        s = {
            pending = {},       -- request -> true, until it completes
            n = 0,              -- how many are pending
            by_co = setmetatable({}, { __mode = "k" }),
            by_transfer = {},   -- transfer userdata -> request
            sleepers = {},      -- request -> true while in a backoff
            ready = {},         -- finished transfers not yet handed back
        }
        config._async = s
    end
    return s
end

local Request = {}
Request.__index = Request
Request.__name = "octogen.request"

local start_fn

local function pack(...)
    return { n = select("#", ...), ... }
end

local function resume(s, req, ...)
    local outcome = pack(co_resume(req.co, ...))
    if co_status(req.co) == "dead" then
        req.finished = true
        s.pending[req] = nil
        s.n = s.n - 1
        s.by_co[req.co] = nil
        if outcome[1] then
            req.results = pack(unpack(outcome, 2, outcome.n))
        else
            req.raised = outcome[2]
        end
    end
end

--- client:start(name, ...) -> request. Arguments are checked at once (a
-- programming error raises here); the network work happens in poll().
function methods:start(name, ...)
    client.check_self(self, 2)
    if type(name) ~= "string" or not STARTABLE[name] then
        errors.invalid(format("start: %s is not a method that can be started (%s)",
            type(name) == "string" and format("%q", name) or type(name),
            "list_catalogs, lookup_product, refresh_products, request, search_products"), 2)
    end
    local req = start_fn(self, name, methods[name], ...)
    if req.raised ~= nil then
        -- Raised before its first request: a mistake in the call itself.
        local err = req.raised
        if errors.is_error(err) then error(err, 2) end
        error(err, 0)
    end
    return req
end

-- Start fn(self, ...) as a request named `name`.
function start_fn(self, name, fn, ...)
    local s = state(client.config(self))
    local req = setmetatable({ client = self, name = name }, Request)
    req.co = co_create(fn)
    s.by_co[req.co] = req
    s.pending[req] = true
    s.n = s.n + 1
    resume(s, req, self, ...)
    return req
end

--- Inside a started call: the request it belongs to, or nil when the
-- method was called the ordinary, blocking way.
function client.current_request(config)
    local s = config._async
    local co = co_running()
    return s and co and s.by_co[co] or nil
end

--- Inside a started call: run one exchange without blocking.
function client.start_exchange(self, config, req, method, path, body, expect, c_call)
    local s = config._async
    local t = core.start(self, method, path, body, expect, c_call)
    s.by_transfer[t] = req
    co_yield()
    return core.finish(t)
end

--- Inside a started call: wait `seconds` without blocking.
function client.start_sleep(config, req, seconds)
    req.wake_at = core.now() + seconds
    config._async.sleepers[req] = true
    co_yield()
end

-- poll(0) hands finished answers back (and so converts their JSON) for
-- about this long, then leaves the rest for the next poll: sixteen 50-item
-- pages landing in the same frame would otherwise cost ~5 ms in one poll.
local POLL_BUDGET = 0.0005

-- Resume requests whose transfers finished, oldest first; with a budget,
-- stop before one more would overrun it (judged by the dearest so far; at
-- least one is always handed back).
local function hand_back(s, budget)
    local ready = s.ready
    local t0 = budget and core.now()
    local dearest, i = 0, 1
    while i <= #ready do
        local t = ready[i]
        local req = s.by_transfer[t]
        s.by_transfer[t] = nil
        i = i + 1
        if req then
            local r0 = budget and core.now()
            resume(s, req)
            if budget then dearest = max(dearest, core.now() - r0) end
        end
        if budget and core.now() - t0 + dearest > budget then break end
    end
    if i > #ready then
        s.ready = {}
    else
        s.ready = { unpack(ready, i) }
    end
end

--- client:poll([seconds]) -> pending. Advances every started call; waits
-- at most `seconds` (default 0: never) for the network or a backoff.
-- poll(0) also keeps its own work short: answers that arrive together are
-- handed back over several polls rather than all in one.
function methods:poll(seconds)
    client.check_self(self, 2)
    if seconds == nil then seconds = 0 end
    if type(seconds) ~= "number" or seconds ~= seconds or seconds < 0 then
        errors.invalid("poll: seconds must be a number >= 0", 2)
    end
    local s = state(client.config(self))
    local deadline = core.now() + seconds
    local budget = seconds == 0 and POLL_BUDGET or nil
    repeat
        local now = core.now()
        local soonest
        for req in pairs(s.sleepers) do
            if req.wake_at <= now then
                s.sleepers[req] = nil
                resume(s, req)
            else
                soonest = min(soonest or req.wake_at, req.wake_at)
            end
        end
        if s.n == 0 then break end
        local wait = max(0, deadline - now)
        if soonest then wait = min(wait, max(0, soonest - now)) end
        if #s.ready > 0 then wait = 0 end
        local finished = core.poll(self, wait)
        for i = 1, #finished do s.ready[#s.ready + 1] = finished[i] end
        hand_back(s, budget)
    until s.n == 0 or core.now() >= deadline
    return s.n
end

--- How many started calls have not finished.
function methods:pending()
    client.check_self(self, 2)
    local s = client.config(self)._async
    return s and s.n or 0
end

function Request:done()
    return self.finished == true
end

--- The call's outcome, exactly as the blocking call returns it, waiting
-- (polling the client) only if it has not finished yet.
function Request:result()
    while not self.finished do
        self.client:poll(1)
    end
    if self.raised ~= nil then error(self.raised, 2) end
    return unpack(self.results, 1, self.results.n)
end

--- client:all(calls [, opts]) -> {{result, meta} or {nil, err}, ...}
-- calls: { {"search_products", params}, {"lookup_product", url}, ... }.
-- At most opts.concurrency (default 8) run at once; results come back in
-- the order of the calls.
function methods:all(calls, opts)
    client.check_self(self, 2)
    if type(calls) ~= "table" then
        errors.invalid(format("all: calls must be a list of {method, args...}, got %s", type(calls)), 2)
    end
    local concurrency = 8
    if opts ~= nil then
        if type(opts) ~= "table" then errors.invalid("all: opts must be a table", 2) end
        local why = args.check_keys("all option", opts, { concurrency = true })
            or (opts.concurrency ~= nil and args.check_type("concurrency", opts.concurrency, "integer"))
        if why then errors.invalid(why, 2) end
        concurrency = opts.concurrency or concurrency
        if concurrency < 1 then errors.invalid("concurrency must be at least 1", 2) end
    end
    for i, c in ipairs(calls) do
        if type(c) ~= "table" or type(c[1]) ~= "string" then
            errors.invalid(format("all: calls[%d] must be {\"method\", args...}", i), 2)
        end
    end
    local results, raised = client.run_all(self, calls, concurrency)
    if raised ~= nil then
        if errors.is_error(raised) then error(raised, 2) end
        error(raised, 0)
    end
    return results
end

--- Run calls at most `concurrency` at a time; each is {name, args...}
-- (a method) or {fn, args...} (the Lua layer's own, such as refresh's
-- batches). Returns the results in order, or nil and what a call raised
-- before its first request, once the started ones have finished.
function client.run_all(self, calls, concurrency)
    local n = #calls
    local results, next_i, active = {}, 1, {}
    local function collect()
        for i, req in pairs(active) do
            if req.finished then
                active[i] = nil
                if req.raised ~= nil then
                    results[i] = { nil, req.raised }
                else
                    results[i] = { req.results[1], req.results[2] }
                end
            end
        end
    end
    local function start_one(c)
        if type(c[1]) == "function" then
            return start_fn(self, "internal", c[1], unpack(c, 2, c.n or #c))
        end
        return self:start(unpack(c, 1, c.n or #c))
    end
    while next_i <= n or next(active) do
        collect()
        local running = 0
        for _ in pairs(active) do running = running + 1 end
        while running < concurrency and next_i <= n do
            local ok, req = pcall(start_one, calls[next_i])
            if not ok then
                -- A mistake in one call: let the started ones finish, then raise.
                while self:poll(1) > 0 do end
                return nil, req
            end
            active[next_i] = req
            next_i, running = next_i + 1, running + 1
        end
        if next(active) then
            collect()
            if next(active) then self:poll(1) end
            collect()
        end
    end
    return results
end

return {}
