-- The mock server's JSON writer: cjson writes every scalar, this module
-- only decides the structure. Debian's lua-cjson (2.1.0)
-- encodes an empty table as {} and has no array marker, and the wire needs
-- [] for empty arrays; it also orders keys by hash. This encoder writes
-- tables marked with json.array() as arrays, other sequences as arrays,
-- everything else as objects with sorted keys, and json.null (cjson.null, so
-- decoded request values round-trip) as null. Decoding is left to cjson.

local cjson = require "cjson"

local M = {}

M.null = cjson.null
local null = M.null

local ARRAY = { __jsontype = "array" }
local RAW = { __jsontype = "raw" }

--- Mark `t` (default: a new table) as a JSON array, even when empty.
function M.array(t)
    return setmetatable(t or {}, ARRAY)
end

--- Wrap an already encoded JSON text so encode() emits it verbatim.
function M.raw(text)
    return setmetatable({ text }, RAW)
end

local concat, sort, type, pairs, tostring = table.concat, table.sort, type, pairs, tostring
local huge = math.huge

-- Scalars are cjson's to write; only the structure is decided here.
local cjson_encode = cjson.encode
local function quote(s)
    return cjson_encode(s)
end
M.quote = quote

local function number(n)
    if n ~= n or n == huge or n == -huge then return "null" end
    return cjson_encode(n)
end

local encode

local function is_array(t)
    if getmetatable(t) == ARRAY then return true end
    local n = #t
    if n == 0 then return false end
    local count = 0
    for _ in pairs(t) do count = count + 1 end
    return count == n
end

encode = function(v, buf)
    local tv = type(v)
    if tv == "string" then
        buf[#buf + 1] = quote(v)
    elseif tv == "number" then
        buf[#buf + 1] = number(v)
    elseif tv == "boolean" then
        buf[#buf + 1] = v and "true" or "false"
    elseif v == nil or v == null then
        buf[#buf + 1] = "null"
    elseif tv == "table" then
        if getmetatable(v) == RAW then
            buf[#buf + 1] = v[1]
        elseif is_array(v) then
            buf[#buf + 1] = "["
            for i = 1, #v do
                if i > 1 then buf[#buf + 1] = "," end
                encode(v[i], buf)
            end
            buf[#buf + 1] = "]"
        else
            local keys = {}
            for k in pairs(v) do keys[#keys + 1] = tostring(k) end
            sort(keys)
            buf[#buf + 1] = "{"
            for i = 1, #keys do
                local k = keys[i]
                local val = v[k]
                if val == nil then val = v[tonumber(k)] end
                if i > 1 then buf[#buf + 1] = "," end
                buf[#buf + 1] = quote(k)
                buf[#buf + 1] = ":"
                encode(val, buf)
            end
            buf[#buf + 1] = "}"
        end
    else
        buf[#buf + 1] = "null"
    end
end

--- Encode `v` as compact JSON (object keys sorted).
function M.encode(v)
    local buf = {}
    encode(v, buf)
    return concat(buf)
end

--- Decode with cjson; returns value or nil, message.
function M.decode(s)
    local ok, v = pcall(cjson.decode, s)
    if ok then return v end
    return nil, v
end

return M
