--- refresh_products: target checks, batching, and one merged result.
--
-- The promise to the caller: every target given is accounted for exactly
-- once, in `accepted` or `rejected` (#accepted + #rejected == submitted),
-- whatever happens to the individual batches.
local core = require "octogen.core"
local errors = require "octogen.errors"
local args = require "octogen.args"
local client = require "octogen.client"

local format = string.format
local type = type

local MAX_BATCH = 500

local M = {}
M.MAX_BATCH = MAX_BATCH

local TARGET_KEYS = { url = true, uuid = true, catalog = true }

--- The wire form of one target, or nil and why it cannot be sent.
local function normalize(t)
    if type(t) == "string" then
        if t == "" then return nil, "target is an empty string" end
        return { url = t }
    end
    if type(t) ~= "table" then
        return nil, format("target must be a URL string or a table, got %s", type(t))
    end
    for k, v in pairs(t) do
        if not TARGET_KEYS[k] then
            return nil, format("target has unknown key %s", format("%q", tostring(k)))
        end
        if type(v) ~= "string" or v == "" then
            return nil, format("target %s must be a non-empty string", k)
        end
    end
    if (t.url == nil) == (t.uuid == nil) then
        return nil, "target must have exactly one of url or uuid"
    end
    return { url = t.url, uuid = t.uuid, catalog = t.catalog }
end

-- Identity of a wire target, to map the server's echo back to our input.
local function target_key(t)
    if type(t) ~= "table" then return nil end
    return (t.url or "") .. "\0" .. (t.uuid or "") .. "\0" .. (t.catalog or "")
end

-- Errors that concern the request as a whole end the call; the rest
-- (network failures, 429, 5xx, a broken 2xx) only sink their batch.
local function ends_call(err)
    local s = err.status_code
    if s == nil or s == 429 or s >= 500 or (s >= 200 and s < 300) then return false end
    return true
end

local function check_opts(opts)
    if opts == nil then return MAX_BATCH end
    local size = opts.batch_size
    if size == nil then return MAX_BATCH end
    local why = args.check_type("batch_size", size, "integer")
    if why or size < 1 or size > MAX_BATCH then
        return nil, why or format("batch_size must be between 1 and %d, got %s", MAX_BATCH, tostring(size))
    end
    return size
end

-- One batch: a function of its own so that client.run_all can start it.
local function refresh_batch(self, body, call)
    return client.send(self, "POST", "products/refresh", body, "object rejected:array", call)
end

function client.methods:refresh_products(targets, opts)
    client.check_self(self, 2)
    if type(targets) ~= "table" then
        errors.invalid(format("targets must be a list of URL strings or {url=...}/{uuid=...} tables, got %s",
            type(targets)), 2)
    end
    if not args.is_sequence(targets) then
        errors.invalid("targets must be a non-empty list", 2)
    end
    local call, cwhy = client.call_options(opts, "refresh_products", { batch_size = true, concurrency = true })
    if not call then errors.invalid(cwhy, 2) end
    local concurrency = opts and opts.concurrency or 1
    local bad_concurrency = args.check_type("concurrency", concurrency, "integer")
    if bad_concurrency or concurrency < 1 then
        errors.invalid(bad_concurrency or "concurrency must be at least 1", 2)
    end
    local batch_size, why = check_opts(opts)
    if not batch_size then errors.invalid(why, 2) end

    local n = #targets
    local result = {
        submitted = n, accepted = {}, rejected = {}, request_ids = {}, workflow_ids = {}, errors = {},
    }
    -- rejections are gathered with their input index, sorted at the end
    local rejected = {}
    local function reject(index, code, message)
        rejected[#rejected + 1] = { index = index, target = targets[index], code = code, message = message }
    end

    local sendable = {}   -- {index, wire target}
    for i = 1, n do
        local wire, bad = normalize(targets[i])
        if wire then
            sendable[#sendable + 1] = { i, wire }
        else
            reject(i, "invalid_target", bad)
        end
    end

    local server_error, last_meta
    local function finish()
        table.sort(rejected, function(a, b) return a.index < b.index end)
        for i, r in ipairs(rejected) do
            result.rejected[i] = { target = r.target, code = r.code, message = r.message }
        end
    end

    -- Every batch's body first; then the requests, one at a time or
    -- (opts.concurrency > 1) several at once; then the merge, in order.
    local batches = {}
    for first = 1, #sendable, batch_size do
        local last = math.min(first + batch_size - 1, #sendable)
        local wire, pending = core.array {}, {}
        for j = first, last do
            local index, t = sendable[j][1], sendable[j][2]
            wire[#wire + 1] = t
            local key = target_key(t)
            pending[key] = pending[key] or {}
            table.insert(pending[key], index)
        end
        batches[#batches + 1] = { first = first, last = last, pending = pending,
            body = client.encode({ targets = wire }, "targets", 2) }
    end
    -- Sent one at a time, a batch goes out only once the one before it
    -- has not ended the call (a 401 stops everything).
    local answers
    if concurrency > 1 and #batches > 1 and not client.current_request(client.config(self)) then
        local calls = {}
        for i, b in ipairs(batches) do calls[i] = { refresh_batch, b.body, call } end
        answers = client.run_all(self, calls, concurrency)
    end

    for i, b in ipairs(batches) do
        local first, last, pending = b.first, b.last, b.pending
        local res, meta
        if answers then
            res, meta = answers[i][1], answers[i][2]
        else
            res, meta = refresh_batch(self, b.body, call)
        end
        local err
        if not res then
            err = meta
            -- A 400 in the refresh shape is data: every target of this
            -- batch was rejected, each with its reason.
            if err.status_code == 400 and type(err.detail) == "table" and type(err.detail.rejected) == "table" then
                res = err.detail
                server_error = err
            elseif ends_call(err) then
                finish()
                err.result = result
                return nil, err
            end
        else
            last_meta = meta
        end
        if res then
            for _, a in ipairs(type(res.accepted) == "table" and res.accepted or {}) do
                result.accepted[#result.accepted + 1] = a
            end
            for _, r in ipairs(type(res.rejected) == "table" and res.rejected or {}) do
                local queue = pending[target_key(r.target)]
                local index = queue and table.remove(queue, 1)
                if index then
                    reject(index, r.code, r.message)
                else
                    -- The echo did not match what was sent: keep the
                    -- server's target, after this batch's own entries.
                    rejected[#rejected + 1] = { index = sendable[last][1] + 0.5, target = r.target,
                        code = r.code, message = r.message }
                end
            end
            if res.request_id then result.request_ids[#result.request_ids + 1] = res.request_id end
            if res.workflow_id then result.workflow_ids[#result.workflow_ids + 1] = res.workflow_id end
        else
            result.errors[#result.errors + 1] = err
            for j = first, last do
                reject(sendable[j][1], "batch_failed", err.message)
            end
        end
    end

    finish()
    if #result.accepted == 0 then
        local err = server_error or result.errors[1]
        if err and err == server_error and result.rejected[1] then
            -- The body re-encoded says little; the first reason says more.
            local first = result.rejected[1]
            err.message = format("all %d targets were rejected (first: %s: %s)", n,
                tostring(first.code), tostring(first.message))
        end
        if not err then
            err = errors.new("ValidationError", format("none of the %d targets could be sent: %s", n,
                result.rejected[1] and result.rejected[1].message or "no targets"))
        end
        err.result = result
        return nil, err
    end
    return result, last_meta
end

return M
