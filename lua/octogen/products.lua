--- lookup_product, more_like_this and resolve_product_from_html: the
-- product operations beside search (contract sections 5, 11.5 and 11.6).
local errors = require "octogen.errors"
local args = require "octogen.args"
local core = require "octogen.core"
local client = require "octogen.client"
local operation = require "octogen.operation"
local search = require "octogen.search"

local format = string.format
local type, pairs = type, pairs

local M = {}

local SOURCE_KEYS = { url = true, uuid = true }

--- The wire source of more_like_this: a URL string, {url = ...} or
-- {uuid = ...}, exactly one of them, non-empty. Raises at level.
local function source_of(source, level)
    if type(source) == "string" then
        if source == "" then errors.invalid("source must not be an empty string", level + 1) end
        return { url = source }
    end
    if type(source) ~= "table" then
        errors.invalid(format("source must be a product URL string, {url = ...} or {uuid = ...}, got %s",
            type(source)), level + 1)
    end
    local why = args.check_keys("source key", source, SOURCE_KEYS)
    if why then errors.invalid(why .. " (source takes url or uuid)", level + 1) end
    local n, out = 0, {}
    for k, v in pairs(source) do
        if type(v) ~= "string" or v == "" then
            errors.invalid(format("source.%s must be a non-empty string", k), level + 1)
        end
        n, out[k] = n + 1, v
    end
    if n ~= 1 then errors.invalid("source must have exactly one of url or uuid", level + 1) end
    return out
end

local PRICE_PREFERENCE = { lower = true, any = true, higher = true }

local MLT_OWN = {
    catalog = true, catalogs = true, cursor = true, limit = true, include_facets = true,
    exclude_facets = true, price_preference = true, debug = true,
}

--- A list of 1..max non-empty strings, as a JSON array. Raises at level.
local function string_list(name, v, max, level)
    if type(v) ~= "table" or not args.is_sequence(v) then
        errors.invalid(format("%s must be a non-empty list of strings", name), level + 1)
    end
    if #v > max then errors.invalid(format("%s takes at most %d entries, got %d", name, max, #v), level + 1) end
    local out = core.array {}
    for i, s in ipairs(v) do
        if type(s) ~= "string" or s == "" then
            errors.invalid(format("%s[%d] must be a non-empty string", name, i), level + 1)
        end
        out[i] = s
    end
    return out
end
M.string_list = string_list

-- The catalogs of a more-like-this body. The API's schema has the array
-- `catalogs` (and refuses unknown keys); the official SDKs send a single
-- `catalog`, which a schema-true server answers with 422 (contract
-- 11.15 #1). Both are accepted here and sent as `catalogs`.
local function catalogs_of(params, level)
    if params.catalog ~= nil and params.catalogs ~= nil then
        errors.invalid("give catalog or catalogs, not both", level + 1)
    end
    if params.catalog ~= nil then
        operation.check_string("catalog", params.catalog, level + 1, true)
        return core.array { params.catalog }
    end
    if params.catalogs ~= nil then return string_list("catalogs", params.catalogs, 100, level + 1) end
    return nil
end

operation.define("more_like_this", function(_, level, source, params)
    local body = { source = source_of(source, level) }
    params = operation.params_table(params, "more_like_this params", level)
    local call = operation.call_options(params, "more_like_this", MLT_OWN, level)
    body.catalogs = catalogs_of(params, level)
    body.cursor = operation.check_string("cursor", params.cursor, level)
    body.limit = operation.check_limit(params.limit, level)
    for _, name in ipairs { "include_facets", "exclude_facets" } do
        local v = params[name]
        if v ~= nil then
            if type(v) ~= "table" then
                errors.invalid(format("%s must be a list of {name =, values =} or a map of name to values, got %s",
                    name, type(v)), level)
            end
            local facets, why = search.facets(v)
            if not facets then errors.invalid(name .. ": " .. why:gsub("^facets", ""), level) end
            if #facets > 0 then body[name] = facets end
        end
    end
    local pp = params.price_preference
    if pp ~= nil and not PRICE_PREFERENCE[pp] then
        errors.invalid(format("price_preference must be one of any, higher, lower, got %s",
            type(pp) == "string" and format("%q", pp) or type(pp)), level)
    end
    body.price_preference = pp
    if params.debug ~= nil and type(params.debug) ~= "boolean" then
        errors.invalid(format("debug must be a boolean, got %s", type(params.debug)), level)
    end
    body.debug = params.debug
    return { body = body, expect = "object items:array", call = call, finish = operation.page("more-like-this") }
end)

---------------------------------------------------------------------------
-- lookup_product

local LOOKUP_OPTIONS = {
    resolution_mode = { wire = "resolutionMode", values = { auto = true, index_only = true, on_demand_only = true } },
    on_demand_cache_policy = { wire = "onDemandCachePolicy", values = { prefer_cache = true, refresh = true } },
    match_mode = { wire = "matchMode", values = { strict = true, loose = true } },
}

local function lookup_body(url, opts)
    if type(url) ~= "string" or url == "" then
        return nil, format("url must be a non-empty string, got %s", url == "" and "an empty string" or type(url))
    end
    local body = { url = url }
    if opts == nil then return body end
    if type(opts) ~= "table" then
        return nil, format("lookup_product options must be a table, got %s", type(opts))
    end
    for k, v in pairs(opts) do
        local spec = LOOKUP_OPTIONS[k]
        if spec and (type(v) ~= "string" or not spec.values[v]) then
            local allowed = args.sorted_keys(spec.values)
            return nil, format("%s must be one of %s, got %s", k, table.concat(allowed, ", "),
                type(v) == "string" and format("%q", v) or type(v))
        end
        if spec then body[spec.wire] = v end
    end
    -- Both official SDKs refuse this pair before sending.
    if opts.resolution_mode == "index_only" and opts.on_demand_cache_policy == "refresh" then
        return nil, "on_demand_cache_policy does not apply to resolution_mode index_only"
    end
    return body
end

-- A product answer (lookup, resolve-from-html) must hold a product object.
local function product_answer(what)
    return function(result, meta)
        if type(result) ~= "table" or type(result.product) ~= "table" then
            return nil, client.bad_shape(meta, format("Octogen API returned a %s response without a product object",
                what))
        end
        return result, meta
    end
end

operation.define("lookup_product", function(_, level, url, opts)
    local call = operation.call_options(opts, "lookup_product", LOOKUP_OPTIONS, level)
    local body, why = lookup_body(url, opts)
    if not body then errors.invalid(why, level) end
    return { body = body, expect = "object product:object", call = call, finish = product_answer("lookup") }
end)

-- The API's limit on html: 5 MiB of characters.
local MAX_HTML_CHARS = 5 * 1024 * 1024

operation.define("resolve_product_from_html", function(_, level, html, url, call_opts)
    if type(url) == "table" and call_opts == nil then url, call_opts = nil, url end
    if type(html) ~= "string" or html == "" then
        errors.invalid(format("html must be a non-empty string, got %s",
            html == "" and "an empty string" or type(html)), level)
    end
    -- Characters, as the API counts them; bytes are counted first, as only
    -- a long string can be over.
    if #html > MAX_HTML_CHARS and args.chars(html) > MAX_HTML_CHARS then
        errors.invalid(format("html is longer than the API's limit of %d characters", MAX_HTML_CHARS), level)
    end
    operation.check_string("url", url, level, true)
    local call = operation.call_options(call_opts, "resolve_product_from_html", nil, level)
    -- url is left out, never sent as null, when not given.
    return { body = { html = html, url = url }, expect = "object product:object", call = call,
             finish = product_answer("resolve-from-html") }
end)

return M
