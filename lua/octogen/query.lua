--- octogen.query: query strings from tables, for request()'s opts.query
-- and the operations' parameters.
local core = require "octogen.core"
local args = require "octogen.args"

local format = string.format
local concat = table.concat
local tostring, type, pairs, ipairs = tostring, type, pairs, ipairs

local M = {}

local function query_value(v)
    if v == true then return "true" end
    if v == false then return "false" end
    if type(v) == "number" and args.is_integer(v) then return format("%d", v) end
    return tostring(v)
end

--- "?k=v&..." from a table, keys sorted, absent values left out; "" when
-- none remain. Values: strings, numbers, booleans, or lists of them
-- (repeated keys).
function M.string(self, q)
    if q == nil then return "" end
    local parts = {}
    for _, k in ipairs(args.sorted_keys(q)) do
        local v = q[k]
        local key = core.escape(self, tostring(k))
        if type(v) == "table" then
            for _, item in ipairs(v) do
                parts[#parts + 1] = key .. "=" .. core.escape(self, query_value(item))
            end
        elseif v ~= nil then
            parts[#parts + 1] = key .. "=" .. core.escape(self, query_value(v))
        end
    end
    if #parts == 0 then return "" end
    return "?" .. concat(parts, "&")
end

--- Check a query table for request() and the methods: nil when fine,
-- else a message.
function M.check(q, what)
    if type(q) ~= "table" then return format("%s must be a table, got %s", what, type(q)) end
    for k, v in pairs(q) do
        if type(k) ~= "string" or k == "" then
            return format("%s keys must be non-empty strings", what)
        end
        local t = type(v)
        if t == "table" then
            for i, item in pairs(v) do
                local it = type(item)
                if type(i) ~= "number" or (it ~= "string" and it ~= "number" and it ~= "boolean") then
                    return format("%s.%s must be a string, number, boolean or a list of them", what, k)
                end
            end
        elseif t ~= "string" and t ~= "number" and t ~= "boolean" then
            return format("%s.%s must be a string, number, boolean or a list of them, got %s", what, k, t)
        end
        if t == "number" and (v ~= v or v == math.huge or v == -math.huge) then
            return format("%s.%s must be a finite number", what, k)
        end
    end
    return nil
end

return M
