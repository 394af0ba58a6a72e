--- search_products: parameter checks, facet shaping, result shape.
local errors = require "octogen.errors"
local args = require "octogen.args"
local core = require "octogen.core"
local operation = require "octogen.operation"

local format = string.format
local type = type

local M = {}

local PARAMS = {
    catalog = "string",
    q = "string",
    facets = "table",
    price_min = "number",
    price_max = "number",
    cursor = "string",
    limit = "integer",
    text_search_query = "table",
}
M.PARAMS = PARAMS

local function facet_values(where, values)
    if type(values) == "string" then
        return core.array { values }
    end
    if type(values) ~= "table" then
        return nil, format("%s must be a string or a list of strings, got %s", where, type(values))
    end
    local out = core.array {}
    for k in pairs(values) do
        if type(k) ~= "number" or k < 1 or k > #values or k % 1 ~= 0 then
            return nil, format("%s must be a list of strings", where)
        end
    end
    for i = 1, #values do
        if type(values[i]) ~= "string" then
            return nil, format("%s[%d] must be a string, got %s", where, i, type(values[i]))
        end
        out[i] = values[i]
    end
    return out
end

--- The list form {{name=, values=}, ...} or the map form {name = values};
-- the map is sent in name order so the body is deterministic.
local function shape_facets(facets)
    local out = {}
    if next(facets) == nil then return out end
    if args.is_sequence(facets) then
        for i, f in ipairs(facets) do
            local where = format("facets[%d]", i)
            if type(f) ~= "table" then
                return nil, format("%s must be a table {name = ..., values = {...}}, got %s", where, type(f))
            end
            local why = args.check_keys(where .. " key", f, { name = true, values = true })
            if why then return nil, why end
            if type(f.name) ~= "string" or f.name == "" then
                return nil, format("%s.name must be a non-empty string", where)
            end
            local values, vwhy = facet_values(where .. ".values", f.values)
            if not values then return nil, vwhy end
            out[i] = { name = f.name, values = values }
        end
        return out
    end
    for _, name in ipairs(args.sorted_keys(facets)) do
        if type(name) ~= "string" or name == "" then
            return nil, "facets must be a list of {name = ..., values = ...} or a map of name to values"
        end
        local values, why = facet_values(format("facets.%s", name), facets[name])
        if not values then return nil, why end
        out[#out + 1] = { name = name, values = values }
    end
    return out
end

M.facets = shape_facets

--- The wire body for params, or nil and a message. `extra` names keys
-- the caller handles itself (pages() takes max_pages).
function M.shape(params, extra)
    if params == nil then params = {} end
    if type(params) ~= "table" then
        return nil, format("search parameters must be a table, got %s", type(params))
    end
    local body = {}
    for k, v in pairs(params) do
        local want = PARAMS[k]
        if not want then
            if not (extra and extra[k]) then
                return nil, format("unknown search parameter %s", format("%q", tostring(k)))
            end
        else
            local why = args.check_type(k, v, want)
            if why then return nil, why end
            body[k] = v
        end
    end
    if body.limit ~= nil then
        if body.limit < 1 or body.limit > 100 then
            return nil, format("limit must be an integer between 1 and 100, got %s", tostring(body.limit))
        end
        body.limit = math.floor(body.limit)
    end
    if body.facets ~= nil then
        local facets, why = shape_facets(body.facets)
        if not facets then return nil, why end
        body.facets = #facets > 0 and facets or nil
    end
    return body
end

operation.define("search_products", function(_, level, params, call_opts)
    local body, why = M.shape(params)
    if not body then errors.invalid(why, level) end
    local call = operation.call_options(call_opts, "search_products", nil, level)
    return { body = body, body_what = "search parameters", expect = "object items:array", call = call,
             finish = operation.page("search") }
end)

return M
