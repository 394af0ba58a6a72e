--- Coverage URL lists (contract section 11.10): the list operations, and
-- add/remove/check for any number of URLs, sent 1,000 a request.
--
-- The promise of add and remove, as of refresh_products: every URL given is
-- accounted for exactly once, in `accepted` or `rejected`
-- (#accepted + #rejected == submitted), whatever happens to each batch;
-- check gives each URL exactly one entry, in `results` or `unanswered`.
-- Both lists are in input order.
local errors = require "octogen.errors"
local args = require "octogen.args"
local core = require "octogen.core"
local client = require "octogen.client"
local retry = require "octogen.retry"
local methods = require "octogen.methods"
local operation = require "octogen.operation"

local format = string.format
local chars, text = args.chars, args.text
local type, ipairs, tostring = type, ipairs, tostring

local M = {}

M.MAX_BATCH = 1000      -- URLs a request takes (the API's limit)
local MAX_URL = 2048    -- characters a URL may have
local MAX_NAME = 80

local function list_id(id, level)
    local v, why = operation.path_param("id", id)
    if not v then errors.invalid(why, level + 1) end
    return v
end

operation.define("create_url_list", function(_, level, name, call_opts)
    if type(name) ~= "string" then
        errors.invalid(format("name must be a string, got %s", type(name)), level)
    end
    local trimmed = name:match("^%s*(.-)%s*$")
    if trimmed == "" or chars(trimmed) > MAX_NAME then
        errors.invalid(format("name must be 1 to %d characters (after trimming), got %d", MAX_NAME, chars(trimmed)),
            level)
    end
    local call = operation.call_options(call_opts, "create_url_list", nil, level)
    return { body = { name = name }, expect = "object", call = call }
end)

operation.define("list_url_lists", function(_, level, params)
    local q, call = operation.page_query(params, "list_url_lists", level)
    return { query = q, expect = "object items:array", call = call, finish = operation.page("URL list list") }
end)

operation.define("get_url_list", function(_, level, id, call_opts)
    local call = operation.call_options(call_opts, "get_url_list", nil, level)
    return { params = { urlListId = list_id(id, level) }, expect = "object", call = call }
end)

operation.define("delete_url_list", function(_, level, id, call_opts)
    local call = operation.call_options(call_opts, "delete_url_list", nil, level)
    return { params = { urlListId = list_id(id, level) }, expect = "object", call = call }
end)

operation.define("list_url_list_urls", function(_, level, id, params)
    local q, call = operation.page_query(params, "list_url_list_urls", level)
    return { params = { urlListId = list_id(id, level) }, query = q, expect = "object items:array", call = call,
             finish = operation.page("URL list page") }
end)

---------------------------------------------------------------------------
-- add, remove and check in batches

local BATCH_OWN = { on_batch = true }

--- The URLs as a list of strings, each 1..2048 characters; raises at
-- level. A bare string is refused (it is not a list of URLs).
local function check_urls(urls, level)
    if type(urls) == "string" then
        errors.invalid("urls must be a list of URL strings, not one string (wrap it: {url})", level + 1)
    end
    if type(urls) ~= "table" or not args.is_sequence(urls) then
        errors.invalid("urls must be a non-empty list of URL strings", level + 1)
    end
    for i, u in ipairs(urls) do
        if type(u) ~= "string" or u == "" then
            errors.invalid(format("urls[%d] must be a non-empty string, got %s", i,
                u == "" and "an empty string" or type(u)), level + 1)
        end
        -- One such URL would make the API refuse its whole batch (422).
        if #u > MAX_URL and chars(u) > MAX_URL then
            errors.invalid(format("urls[%d] is longer than %d characters", i, MAX_URL), level + 1)
        end
    end
    return urls
end

-- Errors that concern the request as a whole end the call (the list is
-- gone or being deleted, the key is refused, ...); transient ones and
-- broken answers sink only their batch.
local ends_call = retry.ends_call

-- Each batch's answer matched back to its input positions by URL: an
-- entry counts for the first position of the batch with that URL not yet
-- counted. Entries that fit none are kept (result.errors, .unmatched);
-- positions no entry names get `missing(index)`.
local function match(batch, entries, counted, take, unmatched)
    local by_url = {}
    for j = batch.first, batch.last do
        local u = batch.urls[j]
        by_url[u] = by_url[u] or {}
        table.insert(by_url[u], j)
    end
    for _, e in ipairs(type(entries) == "table" and entries or {}) do
        local queue = type(e) == "table" and type(e.url) == "string" and by_url[e.url] or nil
        local j = queue and table.remove(queue, 1)
        if j then
            counted[j] = true
            take(j, e)
        else
            unmatched[#unmatched + 1] = e
        end
    end
end

-- kind: "add", "remove" or "check". Returns the merged result or nil, err.
local function batched(self, kind, name, id, urls, opts)
    local entry = methods.by_name[name]
    local call = operation.call_options(opts, name, BATCH_OWN, 3)
    local on_batch = opts and opts.on_batch
    if on_batch ~= nil and type(on_batch) ~= "function" then
        errors.invalid("on_batch must be a function(done, total)", 3)
    end
    local path = operation.path(self, entry, { urlListId = id })
    local n = #urls
    local result
    if kind == "check" then
        result = { submitted = n, results = core.array {}, unanswered = core.array {}, request_ids = core.array {},
                   batches = 0, errors = core.array {} }
    else
        result = { submitted = n, accepted = core.array {}, rejected = core.array {}, request_ids = core.array {},
                   batches = 0, errors = core.array {} }
    end
    -- Entries by input position, merged in order at the end.
    local good, bad = {}, {}
    local ended, last_meta, failed_batches, total_batches = nil, nil, 0, 0

    for first = 1, n, M.MAX_BATCH do
        local batch = { first = first, last = math.min(first + M.MAX_BATCH - 1, n), urls = urls }
        total_batches = total_batches + 1
        if ended then
            local why = format("not sent: the call had ended (%s)", text(ended.message, ended.name))
            for j = batch.first, batch.last do bad[j] = { url = urls[j], code = "not_sent", message = why } end
        else
            local wire = core.array {}
            for j = batch.first, batch.last do wire[#wire + 1] = urls[j] end
            local body = client.encode({ urls = wire }, "urls", 3)
            local res, meta = client.send(self, entry.http, path, body, "object", call)
            local err
            if res == nil then
                err = meta
                if not errors.is_error(err) then error(err, 0) end
            elseif type(res) ~= "table" then
                err = client.bad_shape(meta, format("Octogen API answered a URL list batch with HTTP %s and no body",
                    tostring(meta.status)))
            end
            if err then
                failed_batches = failed_batches + 1
                result.errors[#result.errors + 1] = err
                if ends_call(err) then ended = err end
                for j = batch.first, batch.last do
                    bad[j] = { url = urls[j], code = "batch_failed", message = text(err.message, err.name) }
                end
            else
                last_meta = meta
                result.batches = result.batches + 1
                local counted, unmatched = {}, {}
                if kind == "check" then
                    match(batch, res.results, counted, function(j, e) good[j] = e end, unmatched)
                else
                    match(batch, res.accepted, counted, function(j, e) good[j] = e end, unmatched)
                    match(batch, res.rejected, counted, function(j, e)
                        bad[j] = { url = e.url, code = text(e.code, "rejected"), message = text(e.message, "") }
                    end, unmatched)
                    if type(res.url_count) == "number" then result.url_count = res.url_count end
                end
                for j = batch.first, batch.last do
                    if not counted[j] then
                        bad[j] = { url = urls[j], code = "no_answer",
                                   message = "the server's answer to this URL's batch did not mention it" }
                    end
                end
                if #unmatched > 0 then
                    local e = client.bad_shape(meta, format("Octogen API answered URL list batch %d with %d " ..
                        "entries that match no URL sent (not counted)", total_batches, #unmatched))
                    e.unmatched = unmatched
                    result.errors[#result.errors + 1] = e
                end
                if type(res.request_id) == "string" then
                    result.request_ids[#result.request_ids + 1] = res.request_id
                end
            end
        end
        if on_batch then on_batch(batch.last, n) end
    end

    local good_list = kind == "check" and result.results or result.accepted
    local bad_list = kind == "check" and result.unanswered or result.rejected
    for j = 1, n do
        if good[j] then good_list[#good_list + 1] = good[j] else bad_list[#bad_list + 1] = bad[j] end
    end
    if ended or failed_batches == total_batches then
        -- Every URL is still accounted for, in err.result.
        local err = ended or result.errors[1]
        err.result = result
        return nil, err
    end
    return result, last_meta
end

local function define_batched(kind, name)
    client.methods[name] = function(self, id, urls, opts)
        client.check_self(self, 2)
        id = list_id(id, 2)
        check_urls(urls, 2)
        -- Not a tail call: batched raises at this method's caller.
        local res, meta = batched(self, kind, name, id, urls, opts)
        return res, meta
    end
end

define_batched("add", "add_url_list_urls")
define_batched("remove", "remove_url_list_urls")
define_batched("check", "check_url_list_urls")

return M
