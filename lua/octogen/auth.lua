--- Token providers for octogen.client's api_key option.
--
--     local auth = require "octogen.auth"
--     local client = octogen.client {
--         api_key = auth.client_credentials {
--             token_url = "https://auth.example.com/oauth/token",
--             client_id = "...", client_secret = "...", scope = "catalog:read",
--         },
--     }
--
-- A provider is a function(refused) -> token [, expires_in] | nil, err.
-- The client calls it before a request when it holds no valid token (a
-- token returned without expires_in is asked for again on every request),
-- and once more with refused = true when the API answers 401.
local core = require "octogen.core"
local errors = require "octogen.errors"
local args = require "octogen.args"
-- client.exchange: the token request goes through the transport of the
-- client call that needs the token (nginx cosockets inside an nginx
-- handler; inside a call started over libcurl, that client's poll()).
local client = require "octogen.client"

local format = string.format
local type = type

local M = {}

local OPTIONS = {
    token_url = "string", client_id = "string", client_secret = "string", scope = "string",
    refresh_margin = "number", timeout = "number", ca_file = "string", ca_path = "string",
    allow_insecure_http = "boolean", auth_method = "string",
}

--- OAuth2 client credentials (RFC 6749 section 4.4): fetch an access
-- token, keep it, and fetch the next one refresh_margin seconds (default
-- 60) before it expires. auth_method "body" (default) sends the id and
-- secret as form fields, "basic" in an HTTP Basic header.
function M.client_credentials(opts)
    if type(opts) ~= "table" then
        errors.invalid("client_credentials expects a table of options", 2)
    end
    local why = args.check_keys("client_credentials option", opts, OPTIONS)
    for k, v in pairs(opts) do
        why = why or args.check_type(k, v, OPTIONS[k])
    end
    for _, k in ipairs { "token_url", "client_id", "client_secret" } do
        if not why and (opts[k] == nil or opts[k] == "") then why = k .. " is required" end
    end
    local method = opts.auth_method or "body"
    if not why and method ~= "body" and method ~= "basic" then
        why = format("auth_method must be \"body\" or \"basic\", got %q", method)
    end
    if why then errors.invalid(why, 2) end
    local url, uwhy = client.check_url(opts.token_url, "token_url", opts.allow_insecure_http)
    if not url then errors.invalid(uwhy, 2) end
    local margin = opts.refresh_margin or 60

    local http        -- the core client for the token endpoint, made on first use
    local token, expires_at
    -- What the cosocket transport reads (libcurl has it in `http`).
    local settings = { base_url = url, timeout = opts.timeout }

    local function form(fields)
        local parts = {}
        for _, kv in ipairs(fields) do
            if kv[2] ~= nil then parts[#parts + 1] = core.escape(http, kv[1]) .. "=" .. core.escape(http, kv[2]) end
        end
        return table.concat(parts, "&")
    end

    local function fetch()
        if not http then
            http = core.new {
                base_url = url, user_agent = client.DEFAULT_USER_AGENT, timeout = opts.timeout,
                ca_file = opts.ca_file, ca_path = opts.ca_path,
            }
        end
        local fields = { { "grant_type", "client_credentials" }, { "scope", opts.scope } }
        local call = { content_type = "application/x-www-form-urlencoded" }
        if method == "body" then
            fields[#fields + 1] = { "client_id", opts.client_id }
            fields[#fields + 1] = { "client_secret", opts.client_secret }
        else
            -- RFC 6749 2.3.1: form-encode each part, then base64 the pair.
            core.set_auth(http, nil)
            call.basic = core.escape(http, opts.client_id) .. ":" .. core.escape(http, opts.client_secret)
        end
        -- Inside a started call this yields to the client's poll() (which
        -- drives this connection too) instead of blocking it; inside nginx
        -- it goes over cosockets.
        local res, err = client.exchange(http, settings, "POST", "", form(fields), "object", call)
        if not res then
            err.message = "token request failed: " .. tostring(err.message)
            return nil, err
        end
        if type(res.access_token) ~= "string" or res.access_token == "" then
            return nil, errors.new("AuthenticationError", "token response has no access_token",
                { url = url })
        end
        if res.access_token:find("[%s%c]") then
            -- It could not go into an Authorization line: the endpoint's
            -- fault, not the caller's (and never echoed).
            return nil, errors.new("AuthenticationError",
                "token response has an access_token with whitespace or control characters", { url = url })
        end
        token = res.access_token
        expires_at = core.now() + (type(res.expires_in) == "number" and res.expires_in or 3600)
        return true
    end

    -- No lifetime is returned: the client then asks on every request, and
    -- this function alone decides (with refresh_margin) when to renew.
    return function(refused)
        if refused or not token or core.now() >= expires_at - margin then
            local ok, err = fetch()
            if not ok then return nil, err end
        end
        return token
    end
end

return M
