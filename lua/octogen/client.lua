--- octogen.client: options, the client constructor, the retry loop every
-- call goes through (send), and the methods that are a single request
-- (list_catalogs, lookup_product, request). search_products, pages/items
-- and refresh_products live in their own modules and are added to the same
-- method table (octogen.methods lists them all).
--
-- send() moves each attempt through a transport (lua/octogen/transport/):
-- libcurl (blocking, or on the multi handle inside a started call), or
-- nginx cosockets inside an nginx handler. Method bodies, argument checks,
-- retries, hooks, token providers, batching and pagination are the same
-- whatever the transport.
local core = require "octogen.core"
local errors = require "octogen.errors"
local args = require "octogen.args"
local retry = require "octogen.retry"
local options = require "octogen.options"
local query_string = require "octogen.query"
local store_mod = require "octogen.store"
local pacing = require "octogen.pacing"
local cache_mod = require "octogen.cache"
local api_methods = require "octogen.methods"
local curl = require "octogen.transport.curl"
local cosocket = require "octogen.transport.ngx"

local format = string.format
local getenv = os.getenv
local random = math.random
local co_running = coroutine.running
local getmetatable = getmetatable
local pcall = pcall
local rawget = rawget
local type = type

local M = {}

M.DEFAULT_BASE_URL = "https://api.octogen.ai/v1"

local methods = core.client_methods
M.methods = methods

-- Each client's settings (retry policy, hooks, token provider, scheduler
-- state), keyed by the client userdata. Nothing reachable from a client
-- leads here, and the key itself is not kept once the C core has it.
local private = setmetatable({}, { __mode = "k" })

--- The settings of an open client (for the Lua layer's own modules).
function M.config(self)
    return private[self]
end

-- The metatable every client userdata has; used to recognise `self`.
local client_mt = core.client_metatable

-- The options of octogen.client and of each call (octogen.options, where
-- their documentation is kept too).
local OPTIONS = options.client_types

local TRANSPORTS = { auto = true, curl = true, ngx = true }

--- Options every method takes in its last table, for that call only.
local CALL_OPTIONS = options.call_types
M.CALL_OPTIONS = CALL_OPTIONS

-- Headers the client owns: letting a caller set them would either break a
-- call or leak the key; each has an option of its own.
local RESERVED_HEADERS = {
    authorization = "use the api_key option",
    accept = "the API only speaks JSON",
    ["content-type"] = "bodies are always JSON",
    ["user-agent"] = "use the user_agent option",
    host = "it follows from base_url",
    ["content-length"] = "the transport computes it",
}

local DEFAULT_USER_AGENT = format("octogen-lua/%s (%s; libcurl/%s)",
    core.VERSION, core.lua_version, core.curl_version)
M.DEFAULT_USER_AGENT = DEFAULT_USER_AGENT

local LOOPBACK = { localhost = true, ["[::1]"] = true }

--- The URL without trailing slashes, or nil and why it is refused. The
-- key must never cross the network in clear text: http:// is only for
-- loopback unless allow_insecure_http says otherwise.
local function is_loopback(host)
    host = host:lower()
    return LOOPBACK[host] or host:match("^127%.%d+%.%d+%.%d+$") ~= nil
end

function M.check_url(url, name, allow_insecure_http)
    url = url:gsub("/+$", "")
    local scheme, host = core.parse_url(url)
    if (scheme ~= "http" and scheme ~= "https") or url:find("[%s%c]") or not url:match("^%a+://") then
        return nil, format("option %s must be an http:// or https:// URL, got %q", name, url)
    end
    -- The host is libcurl's reading of the URL: the one it will connect to.
    host = host:lower()
    if scheme == "http" and not allow_insecure_http and not is_loopback(host) then
        return nil, format("option %s must use https:// for a host that is not loopback " ..
            "(the key would travel in clear text); allow_insecure_http = true overrides", name)
    end
    return url
end

local function non_empty(s)
    if s ~= nil and s ~= "" then return s end
    return nil
end

--- {{name, value}, ...} sorted by name, or nil and why a header cannot be
-- sent (for the client's headers option and a call's opts.headers).
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
M.check_headers = check_headers

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
        local why
        if (k == "api_key" and type(v) == "function") or (k == "rate_limit" and v == "auto") then
            why = nil
        else
            why = args.check_type("option " .. k, v, want)
        end
        if why then return nil, why end
    end

    local config = {}
    if type(opts.api_key) == "function" then
        config.token_provider = opts.api_key
    else
        local key = non_empty(opts.api_key) or non_empty(getenv("OCTO_API_KEY"))
            or non_empty(getenv("OCTOGEN_PLATFORM_API_KEY"))
        if not key and not opts.allow_keyless then
            -- The official SDKs' message, word for word.
            return nil, "Octogen API key required. Set OCTO_API_KEY (or OCTOGEN_PLATFORM_API_KEY) or pass api_key.",
                "MissingAPIKeyError"
        end
        if key and (args.has_control(key) or key:find("[ \t]")) then
            -- Never echo the key itself.
            return nil, "api_key contains whitespace, CR, LF or NUL"
        end
        -- Keyless (no key found, allow_keyless): no Authorization header at
        -- all; an empty "Bearer " is refused by the API as an invalid key.
        config.api_key = key
        config.keyless = key == nil
    end

    local base, why = M.check_url(opts.base_url or M.DEFAULT_BASE_URL, "base_url", opts.allow_insecure_http)
    if not base then return nil, why end
    config.base_url = base
    -- Over http:// the C core turns environment proxies off; an explicit
    -- proxy must then be on this machine too, or the key would reach it in
    -- clear text (an https:// proxy still reads the plain-http request).
    local proxy = opts.proxy
    if proxy and proxy ~= "" and base:match("^%a+"):lower() == "http" and not opts.allow_insecure_http then
        local _, proxy_host = core.parse_url("http://" .. proxy:gsub("^%a[%w+.-]*://", ""))
        if not (proxy_host and is_loopback(proxy_host)) then
            return nil, "option proxy names a host that is not loopback while option base_url uses http://: " ..
                "the key would reach the proxy in clear text; use https:// (or allow_insecure_http = true)"
        end
    end
    config.ca_file, config.ca_path, config.proxy = opts.ca_file, opts.ca_path, proxy
    config.insecure = opts.insecure

    local transport = opts.transport or "auto"
    if not TRANSPORTS[transport] then
        return nil, format("option transport must be \"auto\", \"curl\" or \"ngx\", got %q", transport)
    end
    if transport == "ngx" and proxy and proxy ~= "" then
        return nil, M.PROXY_MESSAGE
    end
    config.transport = transport

    if opts.max_retries ~= nil and opts.max_retries < 0 then
        return nil, "option max_retries must be 0 or more"
    end
    config.max_retries = opts.max_retries or retry.DEFAULT_MAX_RETRIES
    local policy, pwhy = retry.policy(opts.retry or {})
    if not policy then return nil, "option retry: " .. pwhy end
    config.retry = policy
    -- nil: the transport's default, chosen per call (ngx.sleep under nginx).
    config.sleep = opts.sleep
    config.on_request, config.on_response = opts.on_request, opts.on_response

    -- A limit libcurl would round to 0 means "no limit" to it: refused.
    for _, name in ipairs { "timeout", "connect_timeout", "max_response_bytes" } do
        local v = opts[name]
        if v ~= nil and v <= 0 then
            return nil, format("option %s must be greater than 0", name)
        end
        config[name] = v
    end
    for _, name in ipairs { "timeout", "connect_timeout" } do
        local v = opts[name]
        if v ~= nil and v < 0.001 then
            return nil, format("option %s must be at least 0.001 (seconds), got %s", name, tostring(v))
        end
    end
    local max_bytes = opts.max_response_bytes
    if max_bytes ~= nil and (max_bytes < 1 or max_bytes ~= math.floor(max_bytes)) then
        return nil, format("option max_response_bytes must be a whole number of bytes, at least 1, got %s",
            tostring(max_bytes))
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
        local list, hwhy = check_headers(opts.headers)
        if not list then return nil, "option headers: " .. hwhy end
        config.headers = list
    end

    -- Sharing through a store: what goes in it is named by a hash of the
    -- key, never the key. A token provider's clients (or keyless ones) of
    -- different organizations could not be told apart: with a shared
    -- store they must name their namespace.
    local store, swhy = store_mod.new(opts.store)
    if not store then return nil, "option store: " .. swhy end
    config.store = store
    if opts.namespace ~= nil then
        if opts.namespace == "" or opts.namespace:find("[%s%c]") then
            return nil, "option namespace must be a non-empty string without spaces"
        end
        config.namespace = opts.namespace
    elseif config.api_key then
        config.namespace = "octogen:" .. core.sha256(config.api_key):sub(1, 32)
    elseif store.kind ~= "local" then
        return nil, "option namespace is required with a shared store when the client has no fixed key " ..
            "(a token provider, or keyless): it names whose limits and cache these are"
    else
        config.namespace = "octogen:" .. core.sha256(tostring(config)):sub(1, 32)
    end
    local rl = opts.rate_limit
    if type(rl) == "table" then
        local ps, burst = rl.per_second, rl.burst
        for k in pairs(rl) do
            if k ~= "per_second" and k ~= "burst" then
                return nil, format("unknown option rate_limit.%s (per_second, burst)", tostring(k))
            end
        end
        if type(ps) ~= "number" or ps <= 0 or ps ~= ps or ps == math.huge then
            return nil, "option rate_limit.per_second must be a number > 0"
        end
        if burst ~= nil and (type(burst) ~= "number" or burst < 1 or burst ~= burst or burst == math.huge) then
            return nil, "option rate_limit.burst must be a number >= 1"
        end
        config.rate_limit = { per_second = ps, burst = burst or math.max(1, ps) }
    elseif rl ~= nil and rl ~= "auto" then
        return nil, "option rate_limit must be {per_second = N [, burst = M]} or \"auto\""
    else
        config.rate_limit = rl
    end
    config.on_store_error = opts.on_store_error
    if opts.cache ~= nil then
        local c, cwhy = cache_mod.check(opts.cache, api_methods)
        if not c then return nil, cwhy end
        config.cache = c
    end
    config.pacing = pacing.new(config)
    return config
end

---------------------------------------------------------------------------
-- Transports

M.PROXY_MESSAGE = "option proxy is a libcurl feature (as is HTTP/2): the nginx cosocket transport cannot " ..
    "use it; set transport = \"curl\" to use them (libcurl then blocks the nginx worker for each call)"

M.CA_MESSAGE = "options ca_file and ca_path are libcurl's: under nginx the cosocket transport verifies " ..
    "against lua_ssl_trusted_certificate (set it in nginx.conf), or set transport = \"curl\""

-- The nginx phases whose handlers may use cosockets (lua-nginx-module's
-- ngx.socket.tcp context). A call anywhere else in nginx (init,
-- init_worker, set, header_filter, body_filter, log, balancer, exit_worker)
-- is refused rather than left to block the worker or fail inside nginx.
local COSOCKET_PHASES = {
    rewrite = true, server_rewrite = true, access = true, content = true, timer = true,
    ssl_cert = true, ssl_session_fetch = true, ssl_client_hello = true,
}

--- The nginx API when running inside nginx (ngx.get_phase exists), else nil.
local function nginx()
    local ngx = rawget(_G, "ngx")
    if type(ngx) == "table" and type(ngx.get_phase) == "function" then return ngx end
    return nil
end
M.nginx = nginx

-- The transport "auto" picks: the cosockets inside nginx, else libcurl.
local function auto()
    if nginx() then return cosocket end
    return curl
end

--- The transport one call of a client goes through (config.transport:
-- "auto" decides at each call). Raises an InvalidArgumentError at `level`
-- when the call cannot go out from here: an nginx phase without cosockets,
-- transport "ngx" outside nginx, a proxy over cosockets.
function M.transport_for(config, level)
    level = (level or 1) + 1
    local want = config.transport
    if want == "curl" then return curl end
    local ngx = nginx()
    if not ngx then
        if want == "ngx" then
            errors.invalid("transport \"ngx\" runs only inside nginx with lua-nginx-module (ngx.get_phase " ..
                "is not defined here); use transport = \"auto\" or \"curl\"", level)
        end
        return curl
    end
    local phase = ngx.get_phase()
    if not COSOCKET_PHASES[phase] then
        errors.invalid(format("octogen cannot call the API in nginx's %s phase: cosockets are not available " ..
            "there (and libcurl would block the worker); run it from ngx.timer.at(0, function() ... end) " ..
            "or from a rewrite, access or content handler", tostring(phase)), level)
    end
    if config.proxy and config.proxy ~= "" then
        errors.invalid(M.PROXY_MESSAGE, level)
    end
    if config.ca_file or config.ca_path then
        -- Silently verifying against another set of CAs than the one named
        -- would be worse than refusing.
        errors.invalid(M.CA_MESSAGE, level)
    end
    return cosocket
end
local transport_for = M.transport_for

--- The default sleep of a call that goes through `transport`: ngx.sleep
-- where nginx can yield, else the C core's blocking sleep.
local function default_sleep(transport)
    if transport == cosocket then return rawget(_G, "ngx").sleep end
    local ngx = nginx()
    if ngx and COSOCKET_PHASES[ngx.get_phase()] then return ngx.sleep end
    return core.sleep
end

-- Which transport the client call running in a coroutine uses, while its
-- token provider runs: the token endpoint (client.exchange) goes through
-- the same one. Weak keys: an entry goes with its coroutine.
local calling = setmetatable({}, { __mode = "k" })
local MAIN = {}   -- the key for Lua 5.1's main coroutine (running() is nil)

--- client.exchange(cc, settings, method, path, body, expect, call) ->
-- result, meta | nil, err: one exchange on a core client of the Lua
-- layer's own (a token endpoint's), through the transport of the client
-- call it serves. Inside a started call over libcurl (or a callback it
-- runs) the transfer goes on that core client's multi handle, which the
-- started call's client drives in poll(), and the call yields meanwhile.
-- settings: base_url, timeout, connect_timeout, max_response_bytes,
-- insecure (what the cosocket transport reads; libcurl has them in cc).
function M.exchange(cc, settings, method, path, body, expect, call)
    local req = curl.owner()
    if req then
        return curl.exchange(cc, settings, req, method, path, body, expect, call)
    end
    local transport = calling[co_running() or MAIN]
    if not transport then
        -- Not from a client's call (a provider called directly): the auto rule.
        transport = auto()
        if transport == cosocket then transport = transport_for({ transport = "ngx" }, 2) end
    end
    return transport.exchange(cc, settings, nil, method, path, body, expect, call)
end

-- Call the token provider with the client call's transport recorded:
-- true, token, expires_in | false, what it raised.
local function provide(config, transport, refused)
    local key = co_running() or MAIN
    local prev = calling[key]
    calling[key] = transport
    local ok, token, expires_in = pcall(config.token_provider, refused)
    calling[key] = prev
    return ok, token, expires_in
end

--- octogen.client([opts]) -> client
function M.new(opts)
    local config, why, class = build_config(opts)
    if not config then
        errors.raise(class or "InvalidArgumentError", why, 2)
    end
    local c = core.new(config)
    config.api_key = nil
    private[c] = config
    return c
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

--- Call options checked and merged over the client's; nil and a message
-- for a bad one. `extra` names keys the method handles itself.
function M.call_options(opts, what, extra)
    if opts == nil then return {} end
    if type(opts) ~= "table" then
        return nil, format("%s options must be a table, got %s", what, type(opts))
    end
    local call = {}
    for k, v in pairs(opts) do
        local want = CALL_OPTIONS[k]
        if want then
            local why = args.check_type(k, v, want)
            if why then return nil, why end
            call[k] = v
        elseif not (extra and extra[k]) then
            return nil, format("unknown %s option %s", what, format("%q", tostring(k)))
        end
    end
    if call.max_retries and call.max_retries < 0 then return nil, "max_retries must be 0 or more" end
    if call.timeout and call.timeout <= 0 then return nil, "timeout must be greater than 0" end
    return call
end

-- The headers a request carries, with the key replaced: what hooks see.
local function shown_headers(config, has_body, call_headers)
    local h = {
        Accept = "application/json",
        ["User-Agent"] = config.user_agent,
    }
    if not config.keyless then h.Authorization = "Bearer [REDACTED]" end
    if has_body then h["Content-Type"] = "application/json" end
    for _, pair in ipairs(config.headers or {}) do h[pair[1]] = pair[2] end
    for _, pair in ipairs(call_headers or {}) do
        -- A call's header replaces the client's of the same name.
        local lower = pair[1]:lower()
        for name in pairs(h) do
            if name:lower() == lower then h[name] = nil end
        end
        h[pair[1]] = pair[2]
    end
    return h
end

-- A call's headers as the C core takes them: "Name: value" lines.
local function header_lines(list)
    local lines = {}
    for i, pair in ipairs(list) do lines[i] = pair[1] .. ": " .. pair[2] end
    return lines
end

-- Bring the Authorization header up to date from the token provider.
-- Returns true, or nil and the error to give the caller. refused_gen,
-- after a 401, is what config.token_gen (how many tokens were fetched
-- because the API refused one) was when the refused request went out: if
-- another call has renewed the token since, the provider is not asked
-- with refused = true again.
-- req is the started call this runs in (nil for a blocking call): started
-- calls share one fetch, the others waiting for it rather than asking the
-- provider again.
-- Under nginx, light threads (concurrent requests of the worker sharing
-- one client, started calls) share one fetch too: the others wait for it
-- on a semaphore (lua-resty-core's ngx.semaphore), or by sleeping briefly
-- where there is none.
local semaphore_lib
local function new_semaphore()
    if semaphore_lib == nil then
        local ok, lib = pcall(require, "ngx.semaphore")
        semaphore_lib = ok and lib or false
    end
    return semaphore_lib and semaphore_lib.new(0) or nil
end
M.new_semaphore = new_semaphore

local function begin_ngx_fetch(config)
    local fetch = { ngx = true, co = co_running(), sema = new_semaphore() }
    config.ngx_fetch = fetch
    return fetch
end

local function wait_ngx_fetch(fetch)
    local ngx = nginx()
    while not fetch.done do
        if fetch.sema then
            fetch.sema:wait(1)
        else
            ngx.sleep(0.002)
        end
    end
end

-- End a fetch of either kind (see M.end_fetch for started calls).
local function end_fetch(config, fetch, ok, err, raised)
    if not fetch.ngx then return M.end_fetch(config, fetch, ok, err, raised) end
    if fetch.done then return end
    fetch.done, fetch.ok, fetch.err, fetch.raised = true, ok, err, raised
    if config.ngx_fetch == fetch then config.ngx_fetch = nil end
    local sema = fetch.sema
    if sema then
        local waiting = -sema:count()
        if waiting > 0 then sema:post(waiting) end
    end
end

local function ensure_token(self, config, refused_gen, req, transport)
    local fetch = config.token_fetch
    local nfetch = transport == cosocket and config.ngx_fetch
    if nfetch and nfetch.co == co_running() then nfetch = nil end
    if (fetch and req and fetch.req ~= req) or nfetch then
        if nfetch then
            fetch = nfetch
            wait_ngx_fetch(fetch)
        else
            M.wait_fetch(fetch, req)
        end
        if fetch.raised ~= nil then error(fetch.raised, 0) end
        if not fetch.ok then
            -- A copy each: the caller sets attempts on it.
            return nil, errors.new(fetch.err.name, fetch.err.message, fetch.err)
        end
        return true
    end
    local now = core.now()
    local refused = refused_gen ~= nil and refused_gen == (config.token_gen or 0)
    if not refused and config.has_token and (config.token_until == nil or now < config.token_until) then
        return true
    end
    local token, expires_in, ok
    if req then
        -- (A call whose own fetch led back here asks the provider itself.)
        fetch = not fetch and M.begin_fetch(config, req) or nil
        ok, token, expires_in = M.protected(req, "the api_key function", config.token_provider, refused)
    else
        fetch = transport == cosocket and not config.ngx_fetch and begin_ngx_fetch(config) or nil
        ok, token, expires_in = provide(config, transport, refused)
    end
    if not ok then
        if fetch then end_fetch(config, fetch, nil, nil, token) end
        error(token, 0)
    end
    local err
    if token == nil then
        err = expires_in
        if not errors.is_error(err) then
            err = errors.new("AuthenticationError", "the api_key function returned no token" ..
                (err ~= nil and (": " .. tostring(err)) or ""))
        end
    elseif type(token) ~= "string" then
        -- A programming error in the function, not a failure of the server.
        local raised = errors.new("InvalidArgumentError",
            "the api_key function must return a string token (or nil, err), got " .. type(token))
        if fetch then end_fetch(config, fetch, nil, nil, raised) end
        errors.invalid(raised.message, 4)
    elseif token == "" or token:find("[%s%c]") then
        -- What a token endpoint issued and cannot go into a header line:
        -- the server's fault, reported like a refused token (never echoed).
        err = errors.new("AuthenticationError", "the api_key function returned a token that cannot be " ..
            "sent (empty, or with whitespace or control characters)")
    elseif self:is_closed() then
        err = errors.new("OctogenError", "octogen.client is closed")
    end
    if err then
        if fetch then end_fetch(config, fetch, nil, err) end
        return nil, err
    end
    -- The token goes into the C core's Authorization line and nowhere
    -- else: keeping a copy here would make it readable.
    core.set_auth(self, token)
    config.has_token = true
    if refused then config.token_gen = (config.token_gen or 0) + 1 end
    -- A token with a lifetime is reused until a minute before it ends (or
    -- half its life, when that is shorter); one without is asked for again
    -- on every request (the function may cache it itself).
    if type(expires_in) == "number" then
        config.token_until = now + math.max(0, expires_in - math.min(60, expires_in / 2))
    else
        config.token_until = now
    end
    if fetch then end_fetch(config, fetch, true) end
    return true
end

--- The started call (over libcurl) running now for this client, if any:
-- its waits yield to poll() (a light thread under nginx yields itself).
function M.started(config, transport)
    if transport ~= curl then return nil end
    return M.current_request and M.current_request(config) or nil
end

-- A hook called from a call: inside a started call, guarded (a yield in
-- one raises).
local function callback(req, what, fn, ...)
    if req then return M.call_back(req, what, fn, ...) end
    return fn(...)
end

-- Waits one attempt may make for the pause and the bucket before it goes
-- anyway (a sleep function that lets no time pass must not loop for ever).
local MAX_PACING_WAITS = 1000

--- A function(seconds) that waits the way a call does: a started call
-- over libcurl yields to poll(), anything else sleeps (the call's or the
-- client's sleep, else ngx.sleep where nginx can yield, else blocking).
function M.waiter(config, call, transport, req)
    local sleep = call.sleep or config.sleep or default_sleep(transport)
    return function(seconds)
        -- (ngx.sleep(0) is a yield nginx warns about; a millisecond is not.)
        if seconds < 0.001 then seconds = 0.001 end
        if req and not call.sleep then
            M.start_sleep(config, req, seconds)
        elseif req then
            M.call_back(req, "the sleep function", sleep, seconds)
        else
            sleep(seconds)
        end
    end
end

--- One API call with the client's retry policy, hooks and token provider:
-- the path every method takes to a transport.
function M.send(self, method, path, body, expect, call)
    local config = private[self]
    call = call or {}
    -- Chosen per call: the same client may serve an nginx handler and code
    -- that runs outside one.
    local transport = transport_for(config, 3)
    local max_retries = call.max_retries or config.max_retries
    local policy = config.retry
    if call.retry then
        local p, why = retry.policy(call.retry, config.retry)
        if not p then errors.invalid("retry: " .. why, 3) end
        policy = p
    end
    local c_call
    if call.timeout or call.headers then
        c_call = { timeout = call.timeout, headers = call.headers and header_lines(call.headers) }
    end
    -- The cache keeps the answer's bytes: the C core puts them in meta.body.
    if call.keep_body then expect = "keep_body " .. (expect or "any") end
    -- Started with client:start() over libcurl: wait by yielding to poll(),
    -- not blocking. (Over cosockets a started call is an nginx light
    -- thread, which yields by itself.)
    local req = M.started(config, transport)
    -- (What hooks and a refused call are told; not built when nobody asks.)
    local url = (config.on_request or config.on_response) and config.base_url .. "/" .. path:gsub("^/+", "")
    -- refused_gen: the generation of the token a 401 refused, to renew.
    local attempt, retries, token_refused, refused_gen = 0, 0, false, nil
    local covered   -- the pause this call has waited out already
    local wait_for  -- made on the first wait
    local pacer = config.pacing
    while true do
        attempt = attempt + 1
        -- A 429 with Retry-After paused the key (this client, and every
        -- client sharing its store): no attempt goes out before then. A
        -- pause longer than the policy waits for fails the call at once,
        -- with nothing sent. With rate_limit, each attempt also takes a
        -- token from the shared bucket, waiting for one if need be.
        for _ = 1, MAX_PACING_WAITS do
            local wait, is_pause, until_t = pacing.wait(pacer, covered)
            if wait <= 0 then break end
            wait_for = wait_for or M.waiter(config, call, transport, req)
            if is_pause and wait > policy.max_retry_after then
                local code = pacer.code
                return nil, errors.new("RateLimitError", format("Octogen API asked this client to wait %d " ..
                    "more seconds (HTTP 429%s); nothing was sent", math.ceil(wait), code and (" " .. code) or ""), {
                    status_code = 429, code = code, retry_after = math.ceil(wait), paused = true,
                    method = method, url = url or config.base_url .. "/" .. path:gsub("^/+", ""),
                    attempts = attempt - 1,
                })
            end
            wait_for(wait)
            if is_pause then covered = until_t end
        end
        if config.token_provider then
            local ok, err = ensure_token(self, config, refused_gen, req, transport)
            refused_gen = nil
            if not ok then
                err.attempts = attempt
                return nil, err
            end
        end
        if config.on_request then
            callback(req, "on_request", config.on_request, { method = method, url = url,
                headers = shown_headers(config, body ~= nil, call.headers), attempt = attempt })
        end
        local sent_gen = config.token_gen or 0
        local result, meta = transport.exchange(self, config, req, method, path, body, expect, c_call)
        local err = result == nil and meta or nil
        pacing.observe(pacer, (err or meta).rate_limit, err)
        if config.on_response then
            callback(req, "on_response", config.on_response, { method = method, url = url, attempt = attempt,
                status = err and err.status_code or meta.status,
                elapsed = not err and meta.elapsed or nil,
                request_id = (err or meta).request_id, error = err })
        end
        if not err then
            meta.attempts = attempt
            return result, meta
        end
        local wait
        if err.status_code == 401 and config.token_provider and not token_refused then
            -- One more try with a fresh token; it is not a retry of the policy.
            token_refused, refused_gen, wait = true, sent_gen, 0
        elseif retries < retry.allowed(err, max_retries) then
            wait = retry.delay(retries + 1, err, policy, core.now(), random)
            retries = retries + 1
        end
        if not wait then
            err.attempts = attempt
            return nil, err
        end
        if wait > 0 then
            local t0 = core.now()
            wait_for = wait_for or M.waiter(config, call, transport, req)
            wait_for(wait)
            -- A pause that ends within this wait is waited out.
            local u = pacer.local_until
            if u > 0 and u <= t0 + wait + 0.001 then covered = u end
        end
    end
end
local send = M.send

local METHOD_PATTERN = "^[A-Z]+$"

-- True when a request path has a dot segment ("." or "..", also written
-- %2e), a backslash, or a fragment, in the part before the query.
local function unsafe_path(path)
    if path:find("#", 1, true) then return true end
    local part = path:match("^[^?]*")
    if part:find("\\", 1, true) then return true end
    for segment in (part .. "/"):gmatch("([^/]*)/") do
        local plain = segment:gsub("%%2[eE]", ".")
        if plain == "." or plain == ".." then return true end
    end
    return false
end

local REQUEST_OWN = { query = true, headers = true }

function methods:request(method, path, body, call_opts)
    check_self(self, 2)
    local call, cwhy = M.call_options(call_opts, "request", REQUEST_OWN)
    if not call then errors.invalid(cwhy, 2) end
    local query = call_opts and call_opts.query
    if query ~= nil then
        local why = query_string.check(query, "query")
        if why then errors.invalid(why, 2) end
    end
    if call_opts and call_opts.headers ~= nil then
        if type(call_opts.headers) ~= "table" then
            errors.invalid("headers must be a table of name = value", 2)
        end
        local list, hwhy = check_headers(call_opts.headers)
        if not list then errors.invalid("headers: " .. hwhy, 2) end
        if #list > 16 then errors.invalid("headers: at most 16 per call", 2) end
        call.headers = list
    end
    if type(method) ~= "string" or not method:match(METHOD_PATTERN) then
        errors.invalid(format("method must be an upper-case HTTP method such as \"GET\", got %s",
            type(method) == "string" and format("%q", method) or type(method)), 2)
    end
    if type(path) ~= "string" or path == "" or path:find("[%s%c]") then
        errors.invalid("path must be a non-empty string without spaces or control characters", 2)
    end
    if query ~= nil and path:find("?", 1, true) then
        errors.invalid("give the query either in path or in opts.query, not both", 2)
    end
    if path:match("^%a[%w+.-]*:") or path:match("^//") then
        -- The key is only ever sent to base_url.
        errors.invalid(format("path must be relative to base_url, got %q", path), 2)
    end
    if unsafe_path(path) then
        -- libcurl would resolve the dot segments (leaving base_url's prefix
        -- on the same host) and drop a fragment, and a server may read a
        -- backslash as a slash: none is sent, so err.url is always the URL
        -- actually requested.
        errors.invalid(format("path must not contain \".\" or \"..\" segments (%%2e included), " ..
            "backslashes or a fragment, got %q", path), 2)
    end
    local payload
    if type(body) == "string" then
        payload = body
    elseif body ~= nil then
        payload = encode(body, "request body", 2)
    end
    if query ~= nil then path = path .. query_string.string(self, query) end
    return send(self, method, path, payload, nil, call)
end

return M
