--- list_domains and domain_coverage: which shops the API covers (GET
-- /domains, contract section 11.7), revalidated with its ETag.
local errors = require "octogen.errors"
local args = require "octogen.args"
local core = require "octogen.core"
local client = require "octogen.client"
local operation = require "octogen.operation"
local coverage = require "octogen.coverage"
local cache = require "octogen.cache"
local methods = require "octogen.methods"

local format = string.format
local type = type

local M = {}

M.max_age = cache.max_age

local function domain_list(result, meta)
    local h = meta.headers or {}
    local etag = type(h.etag) == "string" and h.etag or nil
    local list = { etag = etag, max_age_seconds = M.max_age(h["cache-control"]), not_modified = false }
    if meta.not_modified then
        list.not_modified = true
        return list, meta
    end
    if type(result) ~= "table" then
        return nil, client.bad_shape(meta, format("Octogen API answered GET /domains with HTTP %s and no domain list",
            tostring(meta.status)))
    end
    list.domains = result.domains or core.array {}
    return list, meta
end

local LIST_OWN = { if_none_match = true }

-- The If-None-Match of a call: nil for none ("" counts as none, as an
-- unknown ETag would), else a string fit for a header line.
local function check_etag(v, level)
    if v == nil or v == "" then return nil end
    if type(v) ~= "string" then
        errors.invalid(format("if_none_match must be an ETag string, got %s", type(v)), level + 1)
    end
    if args.has_control(v) then errors.invalid("if_none_match contains CR, LF or NUL", level + 1) end
    return v
end

operation.define("list_domains", function(_, level, opts)
    opts = operation.params_table(opts, "list_domains options", level)
    local call = operation.call_options(opts, "list_domains", LIST_OWN, level)
    local etag = check_etag(opts.if_none_match, level)
    return { headers = etag and { ["If-None-Match"] = etag } or nil, expect = "304 object domains:array",
             call = call, finish = domain_list }
end)

--- client:domain_coverage([previous [, call_opts]]) -> coverage, meta
-- Given an earlier coverage object it asks with that object's ETag, and
-- on a 304 returns that same object (its age reset) rather than a copy.
function client.methods:domain_coverage(previous, call_opts)
    client.check_self(self, 2)
    if previous ~= nil and not coverage.is_coverage(previous) then
        errors.invalid(format("previous must be a coverage object from domain_coverage, got %s", type(previous)), 2)
    end
    local opts = {}
    local call = operation.call_options(call_opts, "domain_coverage", nil, 2)
    for k, v in pairs(call) do opts[k] = v end
    opts.if_none_match = previous and previous.etag or nil
    local op = operation.prepared(self, "list_domains", 2, opts)
    local list, meta = operation.run(self, methods.by_name.list_domains, op)
    if not list then return nil, meta end
    if list.not_modified then
        if not previous then
            return nil, client.bad_shape(meta, "Octogen API answered GET /domains with 304 Not Modified " ..
                "to a request that had no ETag")
        end
        coverage.refreshed(previous, { etag = list.etag or previous.etag, max_age_seconds = list.max_age_seconds })
        return previous, meta
    end
    return coverage.new(list.domains, { etag = list.etag, max_age_seconds = list.max_age_seconds }), meta
end

return M
