--- refresh_products: target checks, batching, and one merged result.
--
-- The promise to the caller: every target given is accounted for exactly
-- once, in `accepted` or `rejected` (#accepted + #rejected == submitted),
-- whatever happens to the individual batches.
local core = require "octogen.core"
local errors = require "octogen.errors"
local args = require "octogen.args"
local client = require "octogen.client"
local retry = require "octogen.retry"

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

-- Identity of a wire target, to map the server's echo back to our input;
-- nil for anything that cannot be what we sent (a hostile echo may hold a
-- table or a number where a string belongs: that must not raise).
local function target_key(t)
    if type(t) ~= "table" then return nil end
    local url, uuid, catalog = t.url, t.uuid, t.catalog
    if (url ~= nil and type(url) ~= "string") or (uuid ~= nil and type(uuid) ~= "string")
        or (catalog ~= nil and type(catalog) ~= "string") then
        return nil
    end
    return (url or "") .. "\0" .. (uuid or "") .. "\0" .. (catalog or "")
end

-- A 400 in the refresh shape is data: every target of its batch was
-- rejected, each with its reason.
local function is_data(err)
    return err.status_code == 400 and type(err.detail) == "table" and type(err.detail.rejected) == "table"
end

-- Errors that concern the request as a whole end the call; the rest
-- (transient failures as retry.retryable defines them: network failures,
-- 429, 5xx; a broken 2xx; a 400 that is data) only sink their batch. What
-- is not transient and not about one answer (401, 403, 404, 422, a TLS
-- certificate refused, no token to send, a closed client) would fail every
-- batch the same way.
local function ends_call(err)
    return retry.ends_call(err) and not is_data(err)
end

local text = args.text

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

-- The second value of a batch that was never sent.
local NOT_SENT = {}

-- One batch: a function of its own so that client.run_all can start it.
-- Once one batch has ended the call (run.ended), no batch starts after it:
-- with concurrency the ones already in flight finish and keep their answer.
local function refresh_batch(self, body, call, run)
    if run.ended then return nil, NOT_SENT end
    local res, meta = client.send(self, "POST", "products/refresh", body, "object rejected:array", call)
    if res == nil and errors.is_error(meta) and ends_call(meta) then
        run.ended = run.ended or meta
    end
    return res, meta
end

-- An APIError about one answer (a 2xx meta or the 400 error it came in).
local function answer_error(source, message, fields)
    local e = errors.new("APIError", message, fields)
    e.status_code = source.status_code or source.status
    e.request_id, e.headers = source.request_id, source.headers
    return e
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
    -- Lists marked as arrays: an empty one encodes as [] (octogen.array).
    local result = {
        submitted = n, accepted = core.array {}, rejected = core.array {}, request_ids = core.array {},
        workflow_ids = core.array {}, errors = core.array {},
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
        local wire, pending, by_url = core.array {}, {}, {}
        for j = first, last do
            local index, t = sendable[j][1], sendable[j][2]
            wire[#wire + 1] = t
            local key = target_key(t)
            pending[key] = pending[key] or {}
            table.insert(pending[key], index)
            if t.url then
                by_url[t.url] = by_url[t.url] or {}
                table.insert(by_url[t.url], j)
            end
        end
        batches[#batches + 1] = { first = first, last = last, pending = pending, by_url = by_url,
            body = client.encode({ targets = wire }, "targets", 2) }
    end

    -- One answered batch into the result. The accounting rule, whatever
    -- the server sends: each target of the batch is counted exactly once.
    -- A rejection counts when its echo matches a target of the batch not
    -- yet counted; an accepted entry ({catalog, url}: a uuid comes back as
    -- its product's URL, so it cannot be matched by identity) counts first
    -- for a target sent with that URL, then for the next target not yet
    -- counted, in batch order. Entries that fit nothing (not a table, a
    -- duplicate, an echo of something not sent, more accepted than there
    -- were targets) are left out of the count and kept in one APIError in
    -- result.errors (its .unmatched); targets the answer did not mention
    -- are rejected with code "no_answer".
    local function settle(i, b, res, source)
        local open, unmatched = {}, {}
        for j = b.first, b.last do open[sendable[j][1]] = true end
        if type(res.rejected) == "table" then
            for _, r in ipairs(res.rejected) do
                local queue = type(r) == "table" and b.pending[target_key(r.target)] or nil
                local index = queue and table.remove(queue, 1)
                if index then
                    open[index] = nil
                    reject(index, text(r.code, "rejected"), text(r.message, ""))
                else
                    unmatched[#unmatched + 1] = r
                end
            end
        end
        local valid, counted = {}, {}
        if type(res.accepted) == "table" then
            for _, a in ipairs(res.accepted) do
                if type(a) == "table" and type(a.url) == "string"
                    and (a.catalog == nil or type(a.catalog) == "string") then
                    valid[#valid + 1] = a
                else
                    unmatched[#unmatched + 1] = a
                end
            end
        end
        for k, a in ipairs(valid) do
            for _, j in ipairs(b.by_url[a.url] or {}) do
                local index, t = sendable[j][1], sendable[j][2]
                if open[index] and (t.catalog == nil or t.catalog == a.catalog) then
                    open[index], counted[k] = nil, true
                    break
                end
            end
        end
        local j = b.first
        for k, a in ipairs(valid) do
            if not counted[k] then
                while j <= b.last and not open[sendable[j][1]] do j = j + 1 end
                if j <= b.last then
                    open[sendable[j][1]], counted[k] = nil, true
                else
                    unmatched[#unmatched + 1] = a
                end
            end
        end
        for k, a in ipairs(valid) do
            if counted[k] then result.accepted[#result.accepted + 1] = a end
        end
        for jj = b.first, b.last do
            local index = sendable[jj][1]
            if open[index] then
                reject(index, "no_answer", "the server's answer to this target's batch did not mention it")
            end
        end
        if #unmatched > 0 then
            result.errors[#result.errors + 1] = answer_error(source, format(
                "Octogen API answered refresh batch %d with %d entries that match no target sent (not counted)",
                i, #unmatched), { unmatched = unmatched })
        end
        if type(res.request_id) == "string" then result.request_ids[#result.request_ids + 1] = res.request_id end
        if type(res.workflow_id) == "string" then result.workflow_ids[#result.workflow_ids + 1] = res.workflow_id end
    end

    -- Sent one at a time, a batch goes out only once the ones before it
    -- have not ended the call (a 401 stops everything).
    local run = {}
    local answers
    if concurrency > 1 and #batches > 1 and not client.current_request(client.config(self)) then
        local calls = {}
        for i, b in ipairs(batches) do calls[i] = { refresh_batch, b.body, call, run } end
        local raised
        answers, raised = client.run_all(self, calls, concurrency)
        if not answers then error(raised, 0) end
    end

    for i, b in ipairs(batches) do
        local res, meta
        if answers then
            res, meta = answers[i][1], answers[i][2]
        else
            res, meta = refresh_batch(self, b.body, call, run)
        end
        if meta == NOT_SENT then
            local not_sent_why = format("not sent: the call had ended (%s)", text(run.ended.message, run.ended.name))
            for j = b.first, b.last do reject(sendable[j][1], "not_sent", not_sent_why) end
        else
            local err, source
            if res == nil then
                err = meta
                -- What a started batch raised (a hook's own error) is
                -- raised again, as the blocking call would have.
                if not errors.is_error(err) then error(err, 0) end
                if is_data(err) then
                    res, source, err = err.detail, err, nil
                    server_error = server_error or source
                end
            elseif type(res) ~= "table" then
                err = client.bad_shape(meta, format(
                    "Octogen API answered a refresh batch with HTTP %s and no refresh object", tostring(meta.status)))
                res = nil
            else
                source, last_meta = meta, meta
            end
            if res then
                settle(i, b, res, source)
            else
                result.errors[#result.errors + 1] = err
                for j = b.first, b.last do
                    reject(sendable[j][1], "batch_failed", text(err.message, err.name))
                end
            end
        end
    end

    finish()
    if run.ended then
        -- An error about the request as a whole: returned whatever was
        -- accepted, with every target accounted for in err.result.
        local err = run.ended
        err.result = result
        return nil, err
    end
    if #result.accepted == 0 then
        local err = server_error or result.errors[1]
        if err and err == server_error and result.rejected[1] then
            -- The body re-encoded says little; the first reason says more.
            local first = result.rejected[1]
            err.message = format("all %d targets were rejected (first: %s: %s)", n,
                tostring(first.code), tostring(first.message))
        end
        if not err and last_meta then
            err = answer_error(last_meta, format("Octogen API accepted none of the %d targets", n))
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
