--- octogen.client: options, the client constructor, and the methods that
-- are a single request (list_catalogs, lookup_product, request).
-- search_products, pages/items and refresh_products live in their own
-- modules and are added to the same method table.
local core = require "octogen.core"
local errors = require "octogen.errors"
local args = require "octogen.args"

local format = string.format
local getenv = os.getenv
local getmetatable = getmetatable
local type = type

local M = {}

M.DEFAULT_BASE_URL = "https://api.octogen.ai/v1"

local methods = core.client_methods
M.methods = methods

-- The metatable every client userdata has; used to recognise `self`.
local client_mt = core.client_metatable

local OPTIONS = {
    api_key = "string",
    base_url = "string",
    timeout = "number",
    connect_timeout = "number",
    headers = "table",
    user_agent = "string",
    max_response_bytes = "number",
}

-- Headers the client owns: letting a caller set them would either break a
-- call or leak the key; each has an option of its own.
local RESERVED_HEADERS = {
    authorization = "use the api_key option",
    accept = "the API only speaks JSON",
    ["content-type"] = "bodies are always JSON",
    ["user-agent"] = "use the user_agent option",
    host = "it follows from base_url",
    ["content-length"] = "libcurl computes it",
}

local DEFAULT_USER_AGENT = format("octogen-lua/%s (%s; libcurl/%s)",
    core.VERSION, core.lua_version, core.curl_version)
M.DEFAULT_USER_AGENT = DEFAULT_USER_AGENT

local function non_empty(s)
    if s ~= nil and s ~= "" then return s end
    return nil
end

local function check_headers(headers)
    local list = {}
    for _, name in ipairs(args.sorted_keys(headers)) do
        local value = headers[name]
        if type(name) ~= "string" or not name:match("^[!#$%%&'*+.^_`|~%w-]+$") then
            return nil, format("header name %s is not a valid HTTP token", format("%q", tostring(name)))
        end
        if type(value) == "number" then value = tostring(value) end
        if type(value) ~= "string" then
            return nil, format("header %s must have a string value, got %s", name, type(value))
        end
        if args.has_control(value) then
            return nil, format("header %s contains CR, LF or NUL", name)
        end
        local why = RESERVED_HEADERS[name:lower()]
        if why then
            return nil, format("header %s is set by the client (%s)", name, why)
        end
        list[#list + 1] = { name, value }
    end
    return list
end

local function build_config(opts)
    if opts == nil then
        opts = {}
    elseif type(opts) ~= "table" then
        return nil, format("octogen.client expects a table of options, got %s", type(opts))
    end
    for k, v in pairs(opts) do
        local want = OPTIONS[k]
        if not want then
            return nil, format("unknown option %s to octogen.client", format("%q", tostring(k)))
        end
        local why = args.check_type("option " .. k, v, want)
        if why then return nil, why end
    end

    local config = {}
    local key = non_empty(opts.api_key) or non_empty(getenv("OCTO_API_KEY"))
        or non_empty(getenv("OCTOGEN_PLATFORM_API_KEY"))
    if not key then
        return nil, "Octogen API key required. Set OCTO_API_KEY (or OCTOGEN_PLATFORM_API_KEY) or pass api_key.",
            "MissingAPIKeyError"
    end
    if args.has_control(key) or key:find("[ \t]") then
        -- Never echo the key itself.
        return nil, "api_key contains whitespace, CR, LF or NUL"
    end
    config.api_key = key

    local base = opts.base_url or M.DEFAULT_BASE_URL
    base = base:gsub("/+$", "")
    if not base:match("^[Hh][Tt][Tt][Pp][Ss]?://[^/%s]+") or base:find("[%s%c]") then
        return nil, format("option base_url must be an http:// or https:// URL, got %q", base)
    end
    config.base_url = base

    for _, name in ipairs { "timeout", "connect_timeout", "max_response_bytes" } do
        local v = opts[name]
        if v ~= nil and v <= 0 then
            return nil, format("option %s must be greater than 0", name)
        end
        config[name] = v
    end

    if opts.user_agent then
        if args.has_control(opts.user_agent) then
            return nil, "option user_agent contains CR, LF or NUL"
        end
        config.user_agent = DEFAULT_USER_AGENT .. " " .. opts.user_agent
    else
        config.user_agent = DEFAULT_USER_AGENT
    end

    if opts.headers then
        local list, why = check_headers(opts.headers)
        if not list then return nil, "option headers: " .. why end
        config.headers = list
    end
    return config
end

--- octogen.client([opts]) -> client
function M.new(opts)
    local config, why, class = build_config(opts)
    if not config then
        errors.raise(class or "InvalidArgumentError", why, 2)
    end
    return core.new(config)
end

--- For methods: raise unless `self` is an open client. `level` is the
-- public method's own level (normally 2 from inside it is the caller).
function M.check_self(self, level)
    level = (level or 1) + 1
    if getmetatable(self) ~= client_mt then
        errors.invalid("expected an octogen.client as self (call methods with ':')", level)
    end
    if self:is_closed() then
        errors.raise("OctogenError", "octogen.client is closed", level)
    end
end
local check_self = M.check_self

--- Encode a request body, raising InvalidArgumentError at `level`.
function M.encode(body, what, level)
    local json, why = core.encode(body)
    if not json then
        errors.invalid(format("%s cannot be sent as JSON: %s", what, why), (level or 1) + 1)
    end
    return json
end
local encode = M.encode

--- An APIError for a 2xx whose JSON is not the shape the method promises.
function M.bad_shape(meta, message)
    return errors.new("APIError", message, {
        status_code = meta.status, headers = meta.headers, request_id = meta.request_id,
    })
end

function methods:list_catalogs(call_opts)
    check_self(self, 2)
    if call_opts ~= nil then
        errors.invalid("list_catalogs takes no arguments", 2)
    end
    return self:_request("GET", "catalogs", nil, "array")
end

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
        if not spec then
            return nil, format("unknown lookup_product option %s", format("%q", tostring(k)))
        end
        if type(v) ~= "string" or not spec.values[v] then
            local allowed = args.sorted_keys(spec.values)
            return nil, format("%s must be one of %s, got %s", k, table.concat(allowed, ", "),
                type(v) == "string" and format("%q", v) or type(v))
        end
        body[spec.wire] = v
    end
    -- Both official SDKs refuse this pair before sending.
    if opts.resolution_mode == "index_only" and opts.on_demand_cache_policy == "refresh" then
        return nil, "on_demand_cache_policy does not apply to resolution_mode index_only"
    end
    return body
end

function methods:lookup_product(url, opts)
    check_self(self, 2)
    local body, why = lookup_body(url, opts)
    if not body then errors.invalid(why, 2) end
    local result, meta = self:_request("POST", "products/lookup", encode(body, "lookup_product", 2),
        "object product:object")
    if result and type(result.product) ~= "table" then
        return nil, M.bad_shape(meta, "Octogen API returned a lookup response without a product object")
    end
    return result, meta
end

local METHOD_PATTERN = "^[A-Z]+$"

function methods:request(method, path, body)
    check_self(self, 2)
    if type(method) ~= "string" or not method:match(METHOD_PATTERN) then
        errors.invalid(format("method must be an upper-case HTTP method such as \"GET\", got %s",
            type(method) == "string" and format("%q", method) or type(method)), 2)
    end
    if type(path) ~= "string" or path == "" or path:find("[%s%c]") then
        errors.invalid("path must be a non-empty string without spaces or control characters", 2)
    end
    if path:match("^%a[%w+.-]*:") or path:match("^//") then
        -- The key is only ever sent to base_url.
        errors.invalid(format("path must be relative to base_url, got %q", path), 2)
    end
    local payload
    if type(body) == "string" then
        payload = body
    elseif body ~= nil then
        payload = encode(body, "request body", 2)
    end
    return self:_request(method, path, payload)
end

return M
