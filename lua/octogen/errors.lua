--- Error objects: plain tables sharing one metatable with the C core.
-- The C core creates API and network errors; this module gives them their
-- methods and creates the errors raised for programming mistakes.
local core = require "octogen.core"

local debug_getinfo = debug.getinfo
local error = error
local format = string.format
local getmetatable = getmetatable
local setmetatable = setmetatable
local tostring = tostring
local type = type

local M = {}

--- Each class and its parent; OctogenError is the root.
local PARENT = {
    MissingAPIKeyError = "OctogenError",
    InvalidArgumentError = "OctogenError",
    ConnectionError = "OctogenError",
    TimeoutError = "ConnectionError",
    APIError = "OctogenError",
    AuthenticationError = "APIError",
    ForbiddenError = "APIError",
    NotFoundError = "APIError",
    ValidationError = "APIError",
    RateLimitError = "APIError",
    ServerError = "APIError",
}
M.PARENT = PARENT

local mt = core.error_metatable
local methods = {}

--- True when the error is of class `name` or of a class below it.
function methods:is(name)
    local n = self.name
    while n do
        if n == name then return true end
        n = PARENT[n]
    end
    return false
end

--- Raise this error (for code that prefers exceptions to `nil, err`).
function methods:raise(level)
    error(self, (level or 1) + 1)
end

mt.__index = methods
mt.__tostring = function(e)
    local parts = {}
    if e.status_code then parts[#parts + 1] = "HTTP " .. tostring(e.status_code) end
    if e.method and e.url then parts[#parts + 1] = e.method .. " " .. e.url end
    if e.request_id then parts[#parts + 1] = "request " .. tostring(e.request_id) end
    local s = tostring(e.name) .. ": " .. tostring(e.message)
    if #parts > 0 then s = s .. " (" .. table.concat(parts, ", ") .. ")" end
    return s
end

--- A new error of class `name`; `fields` (optional) is copied in.
function M.new(name, message, fields)
    local e = { name = name, message = message }
    if fields then
        for k, v in pairs(fields) do e[k] = v end
    end
    return setmetatable(e, mt)
end

function M.is_error(v)
    return type(v) == "table" and getmetatable(v) == mt
end

--- Raise a programming error of class `name`. `level` counts like
-- error()'s: 1 is the function calling raise. The message starts with the
-- caller's position, as Lua does for string errors.
function M.raise(name, message, level)
    level = (level or 1) + 1
    local info = debug_getinfo(level, "Sl")
    if info and info.currentline and info.currentline > 0 then
        message = format("%s:%d: %s", info.short_src, info.currentline, message)
    end
    error(M.new(name, message), level)
end

--- Shorthand for the common case.
function M.invalid(message, level)
    M.raise("InvalidArgumentError", message, (level or 1) + 1)
end

return M
