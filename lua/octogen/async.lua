--- Requests that do not block: client:start(), client:poll(), client:all().
--
-- Each started call runs the ordinary method (argument checks, retries,
-- refresh batching: the same code as the blocking call). How it runs
-- depends on the call's transport:
--
-- * libcurl (the scheduler below): the method runs inside a coroutine.
--   Where the blocking call would wait for the network or sleep before a
--   retry, the coroutine yields instead; poll() advances libcurl's multi
--   handle and resumes each coroutine whose transfer finished or whose
--   backoff is over. No thread is started, and nothing waits unless poll()
--   is asked to.
-- * nginx cosockets (the last part of this file): the method runs on an
--   nginx light thread (ngx.thread.spawn), which nginx's event loop
--   drives by itself; result() waits for it with ngx.thread.wait, poll()
--   with ngx.sleep or a semaphore. The started calls are counted per nginx
--   request, so that one client shared by a worker's requests reports
--   each request's own.
--
-- Rules that keep every request accounted for: poll(), all() and the
-- result() of an unfinished call raise an OctogenError when called from
-- inside this client's own scheduling (a hook, sleep or token function of
-- a started call, or a started call itself); a callback that yields
-- inside a started call fails that call with an OctogenError; a token
-- fetch is shared by every started call that needs it meanwhile.
local core = require "octogen.core"
local errors = require "octogen.errors"
local args = require "octogen.args"
local client = require "octogen.client"
local api_methods = require "octogen.methods"
local curl = require "octogen.transport.curl"

local rawget = rawget
local co_create, co_resume, co_status, co_yield, co_running =
    coroutine.create, coroutine.resume, coroutine.status, coroutine.yield, coroutine.running
local error = error
local format = string.format
local max, min = math.max, math.min
local next, pairs, pcall = next, pairs, pcall
local select = select
local sort = table.sort
local type = type
local unpack = table.unpack or unpack

local methods = client.methods

-- What can be started by name: every method that makes requests and
-- returns (octogen.methods says which). refresh_products starts its
-- batches as functions, through client.run_all, which is not reachable
-- from a client.
local STARTABLE = {}
for _, m in ipairs(api_methods) do
    if m.startable then STARTABLE[m.name] = true end
end
local STARTABLE_LIST = table.concat(api_methods.startable, ", ")

-- What the scheduler's own yields carry. A started call that yields
-- anything else was stopped by a callback's coroutine.yield(), which the
-- scheduler cannot resume meaningfully.
local WAIT = {}

-- The longest one core.poll may wait (the C core takes milliseconds as an
-- int), and the longest wait poll(seconds) accepts, so that deadlines stay
-- finite: poll(math.huge) means "until something completes".
local MAX_SLICE = 10
local MAX_POLL = 1e9

-- While a token endpoint's transfer is in flight beside the client's own,
-- poll() waits on each in turn for at most this long.
local FOREIGN_SLICE = 0.005

-- Which started call a coroutine works for: the call's own coroutine, and
-- the coroutines its callbacks run in (so that an exchange made from a
-- callback, such as a token fetch, yields instead of blocking). Weak
-- values too: a pending request is held by its client's state, and Lua
-- 5.1/LuaJIT's weak keys would keep a value that refers to its key.
local owner = setmetatable({}, { __mode = "kv" })
-- The scheduler state of each request (held by the client's config).
local state_of = setmetatable({}, { __mode = "kv" })
-- Transfers started on another core client (a token endpoint's):
-- transfer -> {request, core client}.
local foreign_of = setmetatable({}, { __mode = "k" })
-- The token fetch a request is running: request -> {config, fetch}.
local fetching = setmetatable({}, { __mode = "k" })

-- Scheduler state lives in the client's config table, so two clients (or
-- two nginx worker-thread VMs) never share it.
local function state(config)
    local s = config._async
    if not s then
        s = {
            pending = {},       -- request -> true, until it completes
            n = 0,              -- how many are pending
            completed = 0,      -- how many have completed, ever
            seq = 0,            -- requests started, ever (their order)
            by_transfer = {},   -- transfer userdata -> request
            sleepers = {},      -- request -> true while in a backoff
            ready = {},         -- finished transfers not yet handed back
            running = 0,        -- transfers in flight on the client's multi handle
            foreign = {},       -- core client -> transfers in flight there
            busy = 0,           -- > 0 while poll() or start() runs started calls
        }
        config._async = s
    end
    return s
end

-- Do this client's started calls run on nginx light threads? (Inside
-- nginx unless transport = "curl": the rule of client.transport_for, which
-- also refuses the phases without cosockets.)
local function on_ngx(config)
    return config.transport ~= "curl" and client.nginx() ~= nil
end

local Request = {}
Request.__index = Request
Request.__name = "octogen.request"

local start_fn, end_fetch, ngx_start, ngx_poll, ngx_pending, ngx_result, ngx_run_all

local function pack(...)
    return { n = select("#", ...), ... }
end

local function yielded_error(what)
    return errors.new("OctogenError", format("%s yielded inside a started call: a started call " ..
        "waits only for its own transfers and backoffs (call coroutine.yield outside it)", what))
end

local function resume(s, req, ...)
    local outcome = pack(co_resume(req.co, ...))
    local dead = co_status(req.co) == "dead"
    if dead or outcome[2] ~= WAIT then
        req.finished = true
        s.pending[req] = nil
        s.n = s.n - 1
        s.completed = s.completed + 1
        owner[req.co] = nil
        if not dead then
            -- A yield that is not the scheduler's: the call cannot go on.
            req.raised = yielded_error("a callback")
        elseif outcome[1] then
            req.results = pack(unpack(outcome, 2, outcome.n))
        else
            req.raised = outcome[2]
        end
        local f = fetching[req]
        if f then
            -- It ended in the middle of a token fetch: release the waiters.
            end_fetch(f[1], f[2], nil, errors.new("AuthenticationError", "the token fetch did not finish"))
        end
    end
end

-- Re-entering the scheduler from inside it (a hook, a sleep or token
-- function, a started call) would hand transfers back twice or not at
-- all: refused.
local function refuse_reentry(s, what, level)
    if s.busy > 0 then
        errors.raise("OctogenError", format("%s called while this client is running its started calls " ..
            "(from a hook, a sleep or token function, or a started call): poll(), result() and all() " ..
            "cannot be re-entered; call them after poll() returns", what), level + 1)
    end
end

--- client:start(name, ...) -> request. Arguments are checked at once (a
-- programming error raises here); the network work happens in poll().
function methods:start(name, ...)
    client.check_self(self, 2)
    if type(name) ~= "string" or not STARTABLE[name] then
        errors.invalid(format("start: %s is not a method that can be started (%s)",
            type(name) == "string" and format("%q", name) or type(name), STARTABLE_LIST), 2)
    end
    local req
    if client.transport_for(client.config(self), 2) == curl then
        req = start_fn(self, name, methods[name], ...)
    else
        req = ngx_start(self, name, methods[name], ...)
    end
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
    s.seq = s.seq + 1
    req.seq = s.seq
    owner[req.co] = req
    state_of[req] = s
    s.pending[req] = true
    s.n = s.n + 1
    s.busy = s.busy + 1
    resume(s, req, self, ...)
    s.busy = s.busy - 1
    return req
end

--- Inside a started call (or a callback it runs): the request it belongs
-- to, or nil when the method was called the ordinary, blocking way.
function client.current_request(config)
    local s = config._async
    local co = co_running()
    local req = s and co and owner[co]
    if req and state_of[req] == s and not req.finished then return req end
    return nil
end

-- The scheduler as octogen.transport.curl sees it: which started call
-- the running coroutine works for, and how a started call waits for a
-- transfer (curl.exchange starts it, then finishes it once resumed).
curl.scheduler = {
    owner = function()
        local co = co_running()
        local req = co and owner[co]
        if req and not req.finished then return req end
        return nil
    end,
    -- A transfer on the started call's own client is collected by its
    -- poll(); one on another core client (a token endpoint's) is polled
    -- beside it and routed back (route below).
    wait = function(req, cc, t)
        local s = state_of[req]
        if cc == req.client then
            s.by_transfer[t] = req
            s.running = s.running + 1
        else
            foreign_of[t] = { req, cc }
            s.foreign[cc] = (s.foreign[cc] or 0) + 1
        end
        co_yield(WAIT)
    end,
}

--- Inside a started call: wait `seconds` without blocking.
function client.start_sleep(config, req, seconds)
    req.wake_at = core.now() + seconds
    config._async.sleepers[req] = true
    co_yield(WAIT)
end

-- A finished transfer of another core client goes to the ready list of
-- the client whose started call is waiting for it (which need not be the
-- client whose poll() collected it: two clients may share a token
-- function).
local function route(t)
    local rec = foreign_of[t]
    if not rec then return end
    foreign_of[t] = nil
    local req, cc = rec[1], rec[2]
    local s = state_of[req]
    local left = (s.foreign[cc] or 1) - 1
    s.foreign[cc] = left > 0 and left or nil
    s.by_transfer[t] = req
    s.ready[#s.ready + 1] = t
end

---------------------------------------------------------------------------
-- Callbacks (hooks, sleep and token functions) inside a started call run
-- in a coroutine of their own, so that a coroutine.yield() in one is seen
-- for what it is (a call that can never be resumed) and raised, while the
-- scheduler's own yields (a token fetch's transfer) pass through. Under
-- OpenResty a yield from a callback is ngx.sleep and the like, which the
-- nginx Lua module resumes itself: no guard there.

local function under_ngx()
    local ngx = rawget(_G, "ngx")
    return type(ngx) == "table" and ngx.get_phase ~= nil
end

--- client.protected(req, what, fn, ...) -> true, results... | false, err,
-- like pcall; yields that are not the scheduler's are an error.
function client.protected(req, what, fn, ...)
    if under_ngx() then return pcall(fn, ...) end
    local co = co_create(fn)
    owner[co] = req
    local out = pack(co_resume(co, ...))
    while co_status(co) ~= "dead" do
        if out[2] ~= WAIT then
            owner[co] = nil
            return false, yielded_error(what)
        end
        co_yield(WAIT)
        out = pack(co_resume(co))
    end
    owner[co] = nil
    return unpack(out, 1, out.n)
end

--- client.call_back(req, what, fn, ...) -> fn's results; what it raised
-- is raised again.
function client.call_back(req, what, fn, ...)
    local out = pack(client.protected(req, what, fn, ...))
    if not out[1] then error(out[2], 0) end
    return unpack(out, 2, out.n)
end

---------------------------------------------------------------------------
-- One token fetch serves every started call of the client that needs a
-- token meanwhile (client.lua's ensure_token): the others wait, like
-- sleepers, until it ends.

--- client.begin_fetch(config, req) -> fetch, now config.token_fetch.
function client.begin_fetch(config, req)
    local fetch = { req = req, waiters = {} }
    config.token_fetch = fetch
    fetching[req] = { config, fetch }
    return fetch
end

--- End a fetch: ok true, or err (an error object returned) or raised
-- (what the token function raised); wake every call waiting for it.
function end_fetch(config, fetch, ok, err, raised)
    if fetch.done then return end
    fetch.done, fetch.ok, fetch.err, fetch.raised = true, ok, err, raised
    if config.token_fetch == fetch then config.token_fetch = nil end
    fetching[fetch.req] = nil
    local s = config._async
    for _, req in ipairs(fetch.waiters) do
        if not req.finished then
            req.wake_at = 0
            s.sleepers[req] = true
        end
    end
end
client.end_fetch = end_fetch

--- Inside a started call: wait for another call's fetch to end.
function client.wait_fetch(fetch, req)
    fetch.waiters[#fetch.waiters + 1] = req
    co_yield(WAIT)
end

---------------------------------------------------------------------------
-- poll

-- poll(0) hands finished answers back (and so converts their JSON) for
-- about this long, then leaves the rest for the next poll: sixteen 50-item
-- pages landing in the same frame would otherwise cost ~5 ms in one poll.
local POLL_BUDGET = 0.0005

-- Resume requests whose transfers finished, oldest first; with a budget,
-- stop before one more would overrun it (judged by the dearest so far; at
-- least one is always handed back). The list is taken whole first, so
-- transfers added meanwhile (routed by another client's poll) are kept.
local function hand_back(s, budget)
    local ready = s.ready
    if #ready == 0 then return end
    s.ready = {}
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
    if i <= #ready then
        local rest = {}
        for j = i, #ready do rest[#rest + 1] = ready[j] end
        for _, t in ipairs(s.ready) do rest[#rest + 1] = t end
        s.ready = rest
    end
end

local function by_wake(a, b)
    if a.wake_at ~= b.wake_at then return a.wake_at < b.wake_at end
    return a.seq < b.seq
end

-- Rounds of: wake sleepers that are due, wait for the network (at most
-- until the deadline or the next sleeper), hand finished transfers back;
-- until done(), nothing is pending, or the deadline passes. At least one
-- round always runs.
local function drive(self, s, deadline, budget, done)
    repeat
        if self:is_closed() then return end
        local now = core.now()
        local due
        for req in pairs(s.sleepers) do
            if req.wake_at <= now then
                due = due or {}
                due[#due + 1] = req
            end
        end
        if due then
            -- Taken out first: a resumed call may go back to sleep.
            sort(due, by_wake)
            for i = 1, #due do s.sleepers[due[i]] = nil end
            for i = 1, #due do resume(s, due[i]) end
            if done() or s.n == 0 or self:is_closed() then return end
        end
        now = core.now()
        local wait = deadline - now
        for req in pairs(s.sleepers) do wait = min(wait, req.wake_at - now) end
        if due or #s.ready > 0 then wait = 0 end
        wait = min(max(wait, 0), MAX_SLICE)
        -- A token endpoint's transfer in flight: when nothing else is, wait
        -- on it; otherwise on each in turn, briefly.
        local foreign, only
        local own_wait = wait
        if next(s.foreign) then
            -- (a copy: route() changes s.foreign)
            foreign = {}
            for cc in pairs(s.foreign) do foreign[#foreign + 1] = cc end
            if #foreign == 1 and s.running == 0 then
                own_wait, only = 0, foreign[1]
            else
                own_wait = min(wait, FOREIGN_SLICE)
            end
        end
        local finished, running = core.poll(self, own_wait)
        s.running = running or s.running
        for i = 1, #finished do s.ready[#s.ready + 1] = finished[i] end
        if foreign then
            for _, cc in ipairs(foreign) do
                local done_there = core.poll(cc, cc == only and wait or 0)
                for i = 1, #done_there do route(done_there[i]) end
            end
        end
        hand_back(s, budget)
    until done() or s.n == 0 or core.now() >= deadline
end

-- drive(), marking the scheduler busy meanwhile.
local function run(self, s, deadline, budget, done)
    s.busy = s.busy + 1
    local ok, err = pcall(drive, self, s, deadline, budget, done)
    s.busy = s.busy - 1
    if not ok then error(err, 0) end
end

--- client:poll([seconds]) -> pending. Advances every started call; waits
-- at most `seconds` (default 0: never) for the network or a backoff, and
-- returns as soon as one started call completes. poll(0) also keeps its
-- own work short: answers that arrive together are handed back over
-- several polls rather than all in one. poll() called from a hook or
-- callback of one of this client's started calls raises an OctogenError.
function methods:poll(seconds)
    client.check_self(self, 2)
    if seconds == nil then seconds = 0 end
    if type(seconds) ~= "number" or seconds ~= seconds or seconds < 0 then
        errors.invalid("poll: seconds must be a number >= 0", 2)
    end
    seconds = min(seconds, MAX_POLL)
    local config = client.config(self)
    if on_ngx(config) then return ngx_poll(config, seconds) end
    local s = state(config)
    refuse_reentry(s, "poll()", 2)
    if s.n == 0 then return 0 end
    local c0 = s.completed
    run(self, s, core.now() + seconds, seconds == 0 and POLL_BUDGET or nil,
        function() return s.completed > c0 end)
    return s.n
end

--- How many started calls have not finished.
function methods:pending()
    client.check_self(self, 2)
    local config = client.config(self)
    if on_ngx(config) then return ngx_pending(config) end
    local s = config._async
    return s and s.n or 0
end

function Request:done()
    return self.finished == true
end

--- The call's outcome, exactly as the blocking call returns it, waiting
-- (polling the client) only if it has not finished yet, and only until it
-- has.
function Request:result()
    if self.thread then
        ngx_result(self)
    elseif not self.finished then
        local s = state_of[self]
        local function finished() return self.finished == true end
        repeat
            client.check_self(self.client, 2)
            refuse_reentry(s, "result() of a call not finished", 2)
            run(self.client, s, core.now() + MAX_SLICE, nil, finished)
        until self.finished
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
    -- (An nginx phase without cosockets is refused here, at the caller.)
    client.transport_for(client.config(self), 2)
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
-- before its first request, once the started ones have finished. A slot
-- is given to the next call as soon as a call in one finishes.
function client.run_all(self, calls, concurrency)
    local config = client.config(self)
    if on_ngx(config) then return ngx_run_all(self, calls, concurrency) end
    local s = state(config)
    refuse_reentry(s, "all() (or refresh_products with concurrency)", 3)
    -- Wait until one of ours finishes (not every pending call).
    return client.run_bounded(self, calls, concurrency, start_fn, function(active, any_finished)
        while next(active) and not any_finished() do
            client.check_self(self, 5)
            run(self, s, core.now() + MAX_SLICE, nil, any_finished)
        end
    end)
end

--- The loop both schedulers share: at most `concurrency` of `calls` at
-- once, a slot given to the next call as soon as one finishes; results
-- in order. start_fn(self, name, fn, ...) starts a call given as a
-- function; wait(active, any_finished) waits until one of `active` has
-- finished; reap(req), when given, releases what a finished call holds.
-- A call that raises before its first request: the started ones finish,
-- then nil and what it raised.
function client.run_bounded(self, calls, concurrency, start_call, wait, reap_one)
    local n = #calls
    local results, next_i, active = {}, 1, {}
    local function collect()
        for i, req in pairs(active) do
            if req.finished then
                active[i] = nil
                if reap_one then reap_one(req) end
                if req.raised ~= nil then
                    results[i] = { nil, req.raised }
                else
                    results[i] = { req.results[1], req.results[2] }
                end
            end
        end
    end
    local function any_finished()
        for _, req in pairs(active) do
            if req.finished then return true end
        end
        return false
    end
    local function start_one(c)
        if type(c[1]) == "function" then
            return start_call(self, "internal", c[1], unpack(c, 2, c.n or #c))
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
                while next(active) do
                    wait(active, any_finished)
                    collect()
                end
                return nil, req
            end
            active[next_i] = req
            next_i, running = next_i + 1, running + 1
        end
        wait(active, any_finished)
    end
    return results
end

---------------------------------------------------------------------------
-- Started calls under nginx: light threads.
--
-- client:start() runs the method on ngx.thread.spawn; nginx's event loop
-- drives its cosockets, so nothing here advances anything: poll() only
-- waits (ngx.sleep, or a semaphore posted when a call completes), and
-- result() waits for its thread with ngx.thread.wait. A thread catches
-- what its method raises (pcall, which LuaJIT lets yield), so a failure
-- is handed back by result() exactly as over libcurl.

-- Per nginx request (its ngx.ctx table), per client: the started calls of
-- that request. A client built at module level serves every request of
-- the worker; pending() and poll() count the calling request's own.
-- Weak keys: an entry goes with its request.
local by_request = setmetatable({}, { __mode = "k" })

-- The longest one semaphore wait (it takes milliseconds as a C int).
local NGX_SLICE = 10
-- Where lua-resty-core's ngx.semaphore is missing: how often waiters look.
local NGX_TICK = 0.002
-- The shortest sleep that lets nginx's event loop turn (its timers count
-- milliseconds).
local NGX_TURN = 0.001

-- lua-resty-core's ngx.semaphore, or nil where it is missing.
local new_semaphore = client.new_semaphore

local function ngx_api()
    return rawget(_G, "ngx")
end

local function ngx_state(config, create)
    local ctx = ngx_api().ctx
    local per = by_request[ctx]
    if not per then
        if not create then return nil end
        per = setmetatable({}, { __mode = "k" })
        by_request[ctx] = per
    end
    local s = per[config]
    if not s and create then
        s = { n = 0, completed = 0, reqs = {}, sema = new_semaphore() }
        per[config] = s
    end
    return s
end

-- Wake everything waiting on the state (poll, all, result from another
-- thread): each looks again at what it waits for.
local function wake(s)
    local sema = s.sema
    if sema then
        local waiting = -sema:count()
        if waiting > 0 then sema:post(waiting) end
    end
end

-- Wait for a completion or `seconds`, whichever comes first.
local function ngx_wait(s, seconds)
    if seconds <= 0 then return end
    if s.sema then
        s.sema:wait(min(seconds, NGX_SLICE))
    else
        ngx_api().sleep(min(seconds, NGX_TICK))
    end
end

-- The body of a started call's light thread.
local function run_thread(req, s, fn, ...)
    local out = pack(pcall(fn, ...))
    req.finished = true
    if out[1] then
        req.results = pack(unpack(out, 2, out.n))
    else
        req.raised = out[2]
    end
    s.n = s.n - 1
    s.completed = s.completed + 1
    wake(s)
end

-- A finished thread is collected (ngx.thread.wait on a dead thread
-- returns at once) by the coroutine that spawned it, the only one nginx
-- lets wait for it; otherwise it stays a zombie until its request ends.
local function reap(req)
    if req.finished and not req.reaped and co_running() == req.parent then
        req.reaped = true
        ngx_api().thread.wait(req.thread)
    end
    if req.finished and req.state then req.state.reqs[req] = nil end
end

local function reap_all(s)
    for req in pairs(s.reqs) do
        if req.finished then reap(req) end
    end
end

-- Start fn(self, ...) as a request named `name` on a light thread.
local function ngx_start_fn(self, name, fn, ...)
    local s = ngx_state(client.config(self), true)
    local req = setmetatable({ client = self, name = name, parent = co_running(), state = s }, Request)
    s.seq = (s.seq or 0) + 1
    req.seq = s.seq
    s.n = s.n + 1
    s.reqs[req] = true
    -- The thread runs at once, up to its first yield (its first request).
    req.thread = ngx_api().thread.spawn(run_thread, req, s, fn, self, ...)
    if req.finished then reap(req) end
    return req
end

function ngx_start(self, name, fn, ...)
    return ngx_start_fn(self, name, fn, ...)
end

function ngx_pending(config)
    local s = ngx_state(config, false)
    return s and s.n or 0
end

function ngx_poll(config, seconds)
    local s = ngx_state(config, false)
    if not s then return 0 end
    reap_all(s)
    if s.n == 0 then return 0 end
    local c0 = s.completed
    if seconds == 0 then
        -- Nothing to drive, but a loop of poll(0) must let the threads and
        -- the network run: one turn of the event loop. (ngx.sleep(0) would
        -- not do: without OpenResty's delayed-events patch to nginx it
        -- resumes this coroutine before nginx looks at the network again,
        -- so a poll(0) loop would starve every thread, and it logs a
        -- warning each time.)
        ngx_api().sleep(NGX_TURN)
    else
        local deadline = core.now() + seconds
        while s.completed == c0 and s.n > 0 do
            local left = deadline - core.now()
            if left <= 0 then break end
            ngx_wait(s, left)
        end
    end
    reap_all(s)
    return s.n
end

function ngx_result(req)
    if not req.finished then
        -- As over libcurl: a closed client hands back no unfinished call.
        client.check_self(req.client, 3)
        if co_running() == req.thread then
            errors.raise("OctogenError", "result() called from inside the same started call: it would " ..
                "wait for itself", 3)
        end
        if co_running() == req.parent and not req.reaped then
            req.reaped = true
            ngx_api().thread.wait(req.thread)
        else
            while not req.finished do ngx_wait(req.state, NGX_SLICE) end
        end
    end
    reap(req)
end

-- client.run_all over light threads: at most `concurrency` at once, a
-- slot given to the next call as soon as one finishes.
function ngx_run_all(self, calls, concurrency)
    local s = ngx_state(client.config(self), true)
    return client.run_bounded(self, calls, concurrency, ngx_start_fn, function(active, any_finished)
        while next(active) and not any_finished() do
            ngx_wait(s, NGX_SLICE)
        end
    end, reap)
end

return {}
