--- Checks on caller input shared by the client methods. Each check
-- returns the value or nil plus a message naming the parameter; the public
-- method raises, so the error points at the caller's line.
local floor = math.floor
local format = string.format
local math_type = math.type
local type = type

local M = {}

local function is_integer(v)
    if math_type then return math_type(v) == "integer" or (math_type(v) == "float" and v == floor(v)) end
    return type(v) == "number" and v == floor(v)
end
M.is_integer = is_integer

--- nil when ok, else a message.
function M.check_type(name, v, want)
    if want == "integer" then
        if type(v) ~= "number" or not is_integer(v) then
            return format("%s must be an integer, got %s", name, type(v) == "number" and tostring(v) or type(v))
        end
        return nil
    end
    if type(v) ~= want then
        return format("%s must be a %s, got %s", name, want, type(v))
    end
    if want == "number" and (v ~= v or v == math.huge or v == -math.huge) then
        return format("%s must be a finite number", name)
    end
    return nil
end

--- nil when every key of `t` is in `allowed` (a set), else a message.
function M.check_keys(what, t, allowed)
    for k in pairs(t) do
        if not allowed[k] then
            return format("unknown %s %s", what, type(k) == "string" and format("%q", k) or tostring(k))
        end
    end
    return nil
end

--- True when s holds CR, LF or NUL (a header or request line breaker).
function M.has_control(s)
    return s:find("[\r\n%z]") ~= nil
end

--- Length of UTF-8 text in characters (the API's limits count those):
-- the bytes that do not continue a character.
function M.chars(s)
    local _, n = s:gsub("[^\128-\191]", "")
    return n
end

--- What a server wrote where a string belongs, as a string (`default`
-- when it wrote nothing).
function M.text(v, default)
    if type(v) == "string" then return v end
    if v == nil then return default end
    return tostring(v)
end

--- Keys of a table, sorted (for deterministic wire output).
function M.sorted_keys(t)
    local keys = {}
    for k in pairs(t) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    return keys
end

--- True when t is a non-empty sequence with no other keys.
function M.is_sequence(t)
    local n = 0
    for _ in pairs(t) do n = n + 1 end
    return n > 0 and #t == n
end

return M
