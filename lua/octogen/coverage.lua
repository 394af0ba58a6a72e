--- octogen.coverage: which shops Octogen covers, from GET /domains.
-- Pure Lua (5.1 to 5.4, LuaJIT): it needs no C core, so it can be used
-- (and tested) on its own.
--
-- normalize_host follows the API contract (section 11.7), the same rules
-- as the official SDKs' normalizeHost / normalize_host:
--   1. a non-string, or a string empty after trimming, gives nil;
--   2. "scheme://..." gives the URL's host name, port dropped;
--   3. anything else is a bare authority: one holding "/", whitespace,
--      "?", "#" or "@" is refused; "[addr]:port" gives addr; otherwise the
--      part before the first ":";
--   4. lower-cased, trailing dots stripped, then ONE leading "www."
--      stripped; an empty result gives nil.
-- There is no IDN conversion: a non-ASCII host is compared as the UTF-8
-- bytes given (the TS SDK converts to punycode, the Python SDK does not;
-- the server's hosts are ASCII, so a Unicode host simply does not match
-- its punycode form). Lower-casing is ASCII only for the same reason.
--
-- A coverage object (M.new) indexes its entries by normalized host when
-- it is built, so covers() and catalogs_for() cost one normalize_host and
-- one table lookup whatever the number of hosts.
local error = error
local ipairs = ipairs
local pairs = pairs
local os_time = os.time
local pcall = pcall
local require = require
local setmetatable = setmetatable
local sort = table.sort
local tostring = tostring
local type = type

local M = {}

-- Programming mistakes raise an InvalidArgumentError at the caller's line
-- when the rest of the library is there; this module alone (no C core)
-- raises a plain message at the same line.
local function invalid(message, level)
    level = (level or 1) + 1
    local ok, errors = pcall(require, "octogen.errors")
    if ok and type(errors) == "table" and errors.invalid then
        errors.invalid(message, level)
    end
    error(message, level)
end

-- Linear in #s (a "^%s*(.-)%s*$" pattern is quadratic on inner spaces).
local function trim(s)
    return s:match("^%s*(.*%S)") or ""
end

-- Rule 4 on a host that passed rules 2 or 3.
local function finish(host)
    if host == nil then return nil end
    host = host:lower():gsub("%.+$", "")
    if host:sub(1, 4) == "www." then host = host:sub(5) end
    if host == "" then return nil end
    return host
end

-- "[addr]" or "[addr]:port" -> addr; anything else after "]" or an
-- unclosed "[" -> nil.
local function bracketed(hostport)
    local addr, rest = hostport:match("^%[([^%]]*)%](.*)$")
    if not addr or addr == "" then return nil end
    if rest ~= "" and rest:sub(1, 1) ~= ":" then return nil end
    return addr
end

local function host_of(hostport)
    if hostport:sub(1, 1) == "[" then return bracketed(hostport) end
    return (hostport:match("^[^:]*"))
end

--- The host of a URL or bare host as the API's /domains lists it, or nil.
-- `normalize_host("https://WWW.Macys.com:443/x?y=1") == "macys.com"`.
-- An IPv6 literal comes back without its brackets, in a URL too
-- ("http://[::1]:8080/" -> "::1"), as the Python SDK does.
function M.normalize_host(url_or_host)
    if type(url_or_host) ~= "string" then return nil end
    local s = trim(url_or_host)
    if s == "" then return nil end
    local rest = s:match("^%a[%w+.%-]*://(.*)$")
    if rest then
        -- Rule 2: the authority ends at the path, query or fragment (a
        -- backslash counts as "/" for web URLs, as browsers parse them);
        -- user info before the last "@" is not part of the host.
        local authority = rest:match("^[^/?#\\]*")
        authority = authority:match("^.*@(.*)$") or authority
        local host = host_of(authority)
        -- A URL parser refuses a host holding whitespace (and an empty one).
        if host == nil or host == "" or host:find("%s") then return nil end
        return finish(host)
    end
    -- Rule 3: a bare authority.
    if s:find("[/%s?#@]") then return nil end
    return finish(host_of(s))
end

---------------------------------------------------------------------------
-- Coverage objects

local Coverage = {}
Coverage.__index = Coverage
Coverage.__name = "octogen.DomainCoverage"

-- Private state, out of the user's reach: object -> { by_host, clock }.
-- Weak keys, so it never keeps an object alive.
local private = setmetatable({}, { __mode = "k" })

-- The count comes from the index: .hosts is the user's copy to change.
function Coverage.__tostring(self)
    local p = private[self]
    return "octogen.DomainCoverage<" .. tostring(p and p.count or 0) .. " hosts>"
end

local function check_opts(opts, level)
    if opts == nil then return {} end
    if type(opts) ~= "table" then
        invalid("coverage options must be a table, got " .. type(opts), level + 1)
    end
    local allowed = { etag = true, max_age_seconds = true, retrieved_at = true, clock = true }
    for k in pairs(opts) do
        if not allowed[k] then invalid("unknown coverage option " .. tostring(k), level + 1) end
    end
    if opts.etag ~= nil and type(opts.etag) ~= "string" then
        invalid("etag must be a string, got " .. type(opts.etag), level + 1)
    end
    local ma = opts.max_age_seconds
    if ma ~= nil and (type(ma) ~= "number" or ma ~= ma or ma < 0) then
        invalid("max_age_seconds must be a number >= 0, got " .. tostring(ma), level + 1)
    end
    if opts.retrieved_at ~= nil and type(opts.retrieved_at) ~= "number" then
        invalid("retrieved_at must be a number (seconds), got " .. type(opts.retrieved_at), level + 1)
    end
    if opts.clock ~= nil and type(opts.clock) ~= "function" then
        invalid("clock must be a function, got " .. type(opts.clock), level + 1)
    end
    return opts
end

--- A coverage object from /domains entries.
-- entries: a list of {host =, catalog =, catalog_display_name =} (the
-- snake_case form the client gives /domains' items); nil means none.
-- opts: etag, max_age_seconds, retrieved_at (seconds; default clock()),
-- clock (a function returning seconds; default os.time), used for the
-- default retrieved_at and by is_stale() without an argument.
--
-- Fields: etag, max_age_seconds, retrieved_at, entries and hosts.
-- `entries` is a COPY of the entries given (each entry copied too) and
-- `hosts` the sorted, unique, normalized hosts: changing either changes
-- nothing that covers() or catalogs_for() answer, since those use an index
-- built here. Entries whose host does not normalize stay in `entries` but
-- cover nothing.
function M.new(entries, opts)
    if entries ~= nil and type(entries) ~= "table" then
        invalid("coverage entries must be a list, got " .. type(entries), 2)
    end
    opts = check_opts(opts, 2)
    local clock = opts.clock or os_time
    local copy, hosts, by_host = {}, {}, {}
    for i, e in ipairs(entries or {}) do
        if type(e) == "table" then
            copy[i] = { host = e.host, catalog = e.catalog, catalog_display_name = e.catalog_display_name }
            local h = M.normalize_host(e.host)
            if h then
                local slot = by_host[h]
                if not slot then
                    slot = { list = {}, seen = {} }
                    by_host[h] = slot
                    hosts[#hosts + 1] = h
                end
                local c = e.catalog
                if type(c) == "string" and not slot.seen[c] then
                    slot.seen[c] = true
                    slot.list[#slot.list + 1] = c
                end
            end
        else
            copy[i] = e
        end
    end
    sort(hosts)
    local self = setmetatable({
        etag = opts.etag,
        max_age_seconds = opts.max_age_seconds,
        retrieved_at = opts.retrieved_at or clock(),
        entries = copy,
        hosts = hosts,
    }, Coverage)
    private[self] = { by_host = by_host, clock = clock, count = #hosts }
    return self
end

--- True when v is a coverage object.
function M.is_coverage(v)
    return type(v) == "table" and private[v] ~= nil
end

local function state(self, what)
    local p = type(self) == "table" and private[self]
    if not p then invalid(what .. " must be called on a coverage object (use a colon)", 3) end
    return p
end

--- True when the normalized host of `url_or_host` is covered; a value
--- that has no host (nil, "nonsense url", ...) is not.
function Coverage:covers(url_or_host)
    local p = state(self, "covers")
    local h = M.normalize_host(url_or_host)
    return h ~= nil and p.by_host[h] ~= nil
end

--- The catalogs that cover `url_or_host`'s host, in the order /domains
--- listed them, each once; {} when none. A new list on every call.
function Coverage:catalogs_for(url_or_host)
    local p = state(self, "catalogs_for")
    local h = M.normalize_host(url_or_host)
    local slot = h and p.by_host[h]
    local out = {}
    if slot then
        for i, c in ipairs(slot.list) do out[i] = c end
    end
    return out
end

--- True when the answer should be fetched again: there was no max-age, or
--- `now - retrieved_at >= max_age_seconds`. now: seconds (default clock()).
function Coverage:is_stale(now)
    local p = state(self, "is_stale")
    if now == nil then
        now = p.clock()
    elseif type(now) ~= "number" then
        invalid("is_stale's now must be a number (seconds), got " .. type(now), 2)
    end
    local ma = self.max_age_seconds
    if type(ma) ~= "number" then return true end
    return now - self.retrieved_at >= ma
end

--- Updates `cov` in place after a 304 Not Modified: the very same object
--- comes back, with retrieved_at set to opts.retrieved_at or clock(), and
--- etag / max_age_seconds replaced by opts' when given (a 304 that sends no
--- ETag or Cache-Control keeps the old ones). The hosts and entries stay.
function M.refreshed(cov, opts)
    local p = type(cov) == "table" and private[cov]
    if not p then invalid("refreshed needs a coverage object, got " .. type(cov), 2) end
    opts = check_opts(opts, 2)
    if opts.etag ~= nil then cov.etag = opts.etag end
    if opts.max_age_seconds ~= nil then cov.max_age_seconds = opts.max_age_seconds end
    if opts.clock ~= nil then p.clock = opts.clock end
    cov.retrieved_at = opts.retrieved_at or p.clock()
    return cov
end

--- True when the normalized host of `url_or_host` is one of `hosts` (a list
--- of hosts or URLs, normalized here too, or a coverage object): the SDKs'
--- isHostCovered(url, hosts). O(#hosts) for a list.
function M.is_host_covered(url_or_host, hosts)
    if M.is_coverage(hosts) then return hosts:covers(url_or_host) end
    if type(hosts) ~= "table" then
        invalid("hosts must be a list of hosts or a coverage object, got " .. type(hosts), 2)
    end
    local h = M.normalize_host(url_or_host)
    if h == nil then return false end
    for _, x in ipairs(hosts) do
        if M.normalize_host(x) == h then return true end
    end
    return false
end

M.Coverage = Coverage

return M
