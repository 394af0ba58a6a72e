--- octogen.cli.errors: what went wrong, how to fix it, and the exit status.
-- Decided by the library's error classes (err.name, octogen.error_classes),
-- err.code (the API detail's code), err.status_code and err.retry_after,
-- never by the text of a message.
local common = require "octogen.cli.common"

local format, concat = string.format, table.concat

local PROGRAM, EXIT = common.PROGRAM, common.EXIT
local is_error = common.is_error

local M = {}

function M.strip_position(msg)
    return (tostring(msg):gsub("^[^%s:]+:%d+: ", ""))
end
local strip_position = M.strip_position

-- "limit: Input should be ...; q: ..." from a 422 detail list.
local function validation_summary(detail)
    if type(detail) ~= "table" or #detail == 0 then return nil end
    local parts = {}
    for _, d in ipairs(detail) do
        if type(d) == "table" then
            local loc = {}
            for _, l in ipairs(type(d.loc) == "table" and d.loc or {}) do
                if l ~= "body" then loc[#loc + 1] = tostring(l) end
            end
            parts[#parts + 1] = (#loc > 0 and (concat(loc, ".") .. ": ") or "") .. tostring(d.msg or d.type)
        end
    end
    return #parts > 0 and concat(parts, "; ") or nil
end

-- No control characters from a server in what we print.
local function clean(s)
    return (tostring(s):gsub("%c", " "))
end

--- "(404 catalog_not_found, request req-4)"
function M.cause(err)
    local parts = {}
    local what = err.status_code and tostring(err.status_code) or err.name
    local msg
    if type(err.code) == "string" then
        msg = err.code
    elseif type(err.detail) == "string" and err.detail ~= "" then
        msg = err.detail
    else
        msg = validation_summary(err.detail) or strip_position(err.message or "")
    end
    msg = clean(msg)
    parts[1] = what .. (msg ~= "" and ((err.status_code and " " or ": ") .. msg) or "")
    if err.request_id then parts[#parts + 1] = "request " .. clean(err.request_id) end
    return "(" .. concat(parts, ", ") .. ")"
end
local cause = M.cause

--- The exit status for an error (the table in --help).
function M.exit_status(err)
    if not is_error(err) then return EXIT.INTERNAL end
    if err:is("MissingAPIKeyError") then return EXIT.AUTH end
    if err:is("InvalidArgumentError") then return EXIT.VALIDATION end
    if err:is("ConnectionError") then return EXIT.NETWORK end      -- TimeoutError too
    if err:is("AuthenticationError") or err:is("ForbiddenError") then return EXIT.AUTH end
    if err:is("NotFoundError") then return EXIT.NOT_FOUND end
    -- a 400 is an APIError by class; the API uses it for a refused parameter
    if err:is("ValidationError") or err.status_code == 400 then return EXIT.VALIDATION end
    if err:is("RateLimitError") then return EXIT.RATE_LIMITED end
    return EXIT.API
end

--- A field of the error detail (an object detail: keyless, voyage quota),
--- or of the whole body when the server sent the object bare.
local function detail_field(err, ...)
    for _, t in ipairs { err.detail, err.body } do
        if type(t) == "table" then
            for _, k in ipairs { ... } do
                if t[k] ~= nil then return t[k] end
            end
        end
    end
    return nil
end

--- The "get an API key" URL a keyless refusal carries, if it is one.
function M.get_key_url(err)
    local u = detail_field(err, "get_api_key", "getApiKey")
    if type(u) == "string" and u:match("^https?://[^%s%c]+$") then return u end
    return nil
end

local function get_key(err)
    local u = M.get_key_url(err)
    return u and ("get one at " .. u) or "get one from your Octogen dashboard"
end

--- "1 s", "48 min", "3 h"
local function duration(s)
    if s < 120 then return format("%d s", s) end
    if s < 7200 then return format("%d min", math.floor(s / 60 + 0.5)) end
    return format("%d h", math.floor(s / 3600 + 0.5))
end

local function wait_text(err)
    if type(err.retry_after) == "number" then return " " .. duration(err.retry_after) end
    return ""
end

-- What to do about a refusal, by the API's code: {summary, fix}. A
-- function gets (err, ctx) and returns them.
local BY_CODE = {
    -- the keyless trial (section 11.11)
    keyless_trial_endpoint_not_included = function(err)
        return "this needs an API key: the keyless trial covers search, lookup and domains only",
            get_key(err) .. ", then set OCTO_API_KEY or pass --api-key-file FILE."
    end,
    keyless_trial_capability_not_included = function(err)
        return "this option needs an API key: the keyless trial does not include it "
            .. "(lookup --resolution-mode on_demand_only is one)",
            get_key(err) .. ", then set OCTO_API_KEY or pass --api-key-file FILE."
    end,
    keyless_trial_exhausted = function(err)
        local when = type(err.retry_after) == "number" and (" in " .. duration(err.retry_after)) or ""
        return "the keyless trial is used up for this IP address (30 requests a day)",
            "it refills" .. when .. "; or use an API key: " .. get_key(err)
            .. ", then set OCTO_API_KEY. (A shared address, CI or NAT, may have used it up.)"
    end,
    keyless_trial_busy = function(err)
        return "the keyless trial is busy",
            "try again in" .. (wait_text(err) ~= "" and wait_text(err) or " a few seconds")
            .. ", or use an API key: " .. get_key(err) .. "."
    end,
    keyless_trial_unavailable = function(err)
        return "the keyless trial is closed for now (its metering is down)",
            "try again later, or use an API key: " .. get_key(err) .. "."
    end,
    -- rate limits that retrying soon cannot help
    voyage_quota_exceeded = function(err)
        local v = detail_field(err, "violations")
        local parts = {}
        if type(v) == "table" then
            for _, x in ipairs(v) do
                if type(x) == "table" then
                    parts[#parts + 1] = format("%s %s of %s used%s", clean(x.dimension or "quota"),
                        clean(x.used or "?"), clean(x.limit or "?"),
                        x.resets_at and (", resets " .. clean(x.resets_at)) or "")
                end
            end
        end
        return "the voyage quota is used up",
            (#parts > 0 and (concat(parts, "; ") .. "; ") or "") .. "`octogen me` shows the quotas."
    end,
    concurrency_limit_exceeded = function(err)
        return "too many requests in flight for this key",
            "wait" .. wait_text(err) .. " and run fewer at once (--concurrency), or raise --max-retries."
    end,
    -- URL lists (section 11.10)
    url_list_not_found = { "not found",
        "no URL list has this id (another organization's list looks the same); `octogen url-lists list` "
        .. "shows yours." },
    url_list_name_conflict = { "the name is taken",
        "a live list already has this name: choose another (`octogen url-lists list` shows them)." },
    url_list_limit_exceeded = { "too many lists",
        "an organization may have 5 live lists: delete one with `octogen url-lists delete ID`." },
    list_url_capacity_exceeded = { "the list is full",
        "a list holds at most 100,000 URLs and this batch would cross it (none of its URLs were added)." },
    url_list_deleting = { "the list is being deleted", "it takes no more changes; create a new one." },
    url_list_migrating = { "the list is being re-normalized", "try again within a few minutes." },
    url_list_requires_org_api_key = { "access denied",
        "URL lists need a key that belongs to an organization." },
    -- voyages (section 11.9)
    voyage_not_found = { "not found",
        "no voyage has this task id (another organization's looks the same); `octogen voyage list` shows yours." },
    voyage_domain_blocked = { "the API refused the domain", "this shop cannot be crawled." },
    voyage_invalid_domain = { "the API refused the domain",
        "give a shop's domain or a URL on it, such as shop.example." },
    voyage_org_type_forbidden = { "access denied",
        "only Developer (catalog_partner) organizations may start voyages." },
    api_key_org_type_forbidden = { "access denied",
        "only Developer (catalog_partner) organizations may use the API; `octogen me` shows yours." },
}

--- The stderr message for an error: cause and fix. ctx: {command, args,
--- base_url, keyless}.
function M.explain(err, ctx)
    ctx = ctx or {}
    local a = ctx.args or {}
    if not is_error(err) then
        return "internal error: " .. tostring(err) .. " (this is a bug in octogen: please report it)"
    end
    local s = err.status_code
    local by_code = type(err.code) == "string" and BY_CODE[err.code]
    if by_code then
        local summary, fix
        if type(by_code) == "function" then
            summary, fix = by_code(err, ctx)
        else
            summary, fix = by_code[1], by_code[2]
        end
        return summary .. " " .. cause(err) .. ": " .. fix
    end
    if err:is("MissingAPIKeyError") then
        return "no API key. Set OCTO_API_KEY or pass --api-key-file FILE."
    elseif err:is("InvalidArgumentError") then
        return "invalid request: " .. strip_position(err.message) .. "; see `octogen help "
            .. (ctx.command or "") .. "`."
    elseif err:is("TimeoutError") then
        return "the API did not answer in time " .. cause(err)
            .. ": try again, or allow more with --timeout SECONDS."
    elseif err:is("ConnectionError") and err.tls and not common.retryable(err) then
        -- (not transient: trying again cannot help)
        return "the TLS connection to " .. tostring(ctx.base_url or err.url) .. " was refused " .. cause(err)
            .. ": check --base-url; a certificate from a private CA must be trusted by the system."
    elseif err:is("ConnectionError") then
        return "cannot reach the API at " .. tostring(ctx.base_url or err.url) .. " " .. cause(err)
            .. ": check --base-url (or OCTOGEN_BASE_URL) and the network."
    elseif err:is("AuthenticationError") then
        if ctx.keyless then
            return "the API wants a key " .. cause(err) .. ": none was sent (the keyless trial); "
                .. get_key(err) .. ", then set OCTO_API_KEY or pass --api-key-file FILE."
        end
        return "authentication failed " .. cause(err)
            .. ": check the key (OCTO_API_KEY or --api-key-file)."
    elseif err:is("ForbiddenError") then
        return "access denied " .. cause(err)
            .. ": the key is not allowed this; `octogen catalogs` lists the catalogs it can read."
    elseif err:is("NotFoundError") then
        local fix
        if ctx.command == "lookup" then
            fix = "no indexed product has this URL; check it, or ask for it with `octogen refresh URL --catalog C`."
        elseif ctx.command == "similar" and err.code == "product_not_found" then
            fix = "no indexed product has this URL or UUID; `octogen lookup URL` checks a URL."
        elseif ctx.command == "request" then
            fix = "check PATH: it is relative to the base URL (catalogs, products/search, ...)."
        elseif type(a.catalog) == "string" then
            fix = "check the catalog name \"" .. a.catalog .. "\"; `octogen catalogs` lists the ones the key can read."
        else
            fix = "check the names and URLs given."
        end
        return "not found " .. cause(err) .. ": " .. fix
    elseif err:is("ValidationError") or s == 400 then
        return "the API refused the request " .. cause(err) .. ": fix the parameters named and try again."
    elseif err:is("RateLimitError") then
        return "rate limited " .. cause(err) .. ": wait" .. wait_text(err)
            .. " and try again, or let octogen wait for you with --max-retries N."
    elseif err:is("ServerError") then
        return "the Octogen API failed " .. cause(err)
            .. ": a server-side problem; try again later (quote the request id if it persists)."
    end
    return "unexpected answer from the API " .. cause(err)
        .. ": if it persists, report it with the request id."
end
local explain = M.explain

--- Print why `err` happened and return its exit status.
function M.fail(err, ctx)
    local code = M.exit_status(err)
    io.stdout:flush()
    io.stderr:write(PROGRAM, ": ", explain(err, ctx), "\n")
    if code == EXIT.INTERNAL and os.getenv("OCTOGEN_DEBUG") and ctx and ctx.traceback then
        io.stderr:write(ctx.traceback, "\n")
    end
    return code
end

return M
