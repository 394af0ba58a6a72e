--- octogen.cache: a response cache for idempotent reads, in the client's
-- store (octogen.store), shared by every worker or machine using it.
--
-- What is kept is the answer as it came (status, ETag and Cache-Control,
-- the body's bytes), so a hit is converted by the C core exactly as a
-- fresh answer is: octogen.null, empty arrays and integers round-trip.
--
--   cache = { lookup_product = 600, list_domains = "max-age", search_products = 60,
--             stale_ttl = 300, negative_ttl = 30, lock_ttl = 5 }
--
-- * A method is cached only when named, for that many seconds ("max-age":
--   as long as the answer's Cache-Control says).
-- * One fetch per key at a time: the first caller takes a lock in the
--   store (lock_ttl), the others wait for its answer and read it.
-- * A stale value (up to stale_ttl past its TTL) is served when the
--   refresh fails with a transient error; one with an ETag is revalidated
--   (If-None-Match), and a 304 renews it.
-- * lookup_product's 404 product_not_found is kept for negative_ttl.
-- * meta.cache is "hit", "miss", "stale" or "revalidated".
local core = require "octogen.core"
local retry = require "octogen.retry"
local pacing = require "octogen.pacing"

local format, concat = string.format, table.concat
local min = math.min
local tonumber, tostring, type = tonumber, tostring, type

local M = {}

-- Settings of the cache option that are not method names.
M.SETTINGS = { stale_ttl = true, negative_ttl = true, lock_ttl = true }

M.DEFAULTS = { stale_ttl = 0, negative_ttl = 30, lock_ttl = 5 }

-- Waiting for another worker's fetch: how often the store is read.
local WAIT_STEP = 0.02

--- The cache option checked against the method list: a table of method
-- name -> seconds (or "max-age") and the settings; nil and why otherwise.
function M.check(opt, methods)
    if type(opt) ~= "table" then return nil, "option cache must be a table" end
    local out = { ttl = {} }
    for k, v in pairs(M.DEFAULTS) do out[k] = v end
    for k, v in pairs(opt) do
        if M.SETTINGS[k] then
            if type(v) ~= "number" or v < 0 or v ~= v or v == math.huge then
                return nil, format("option cache.%s must be a number of seconds >= 0", k)
            end
            out[k] = v
        else
            local m = type(k) == "string" and methods.by_name[k]
            if not (m and m.cache) then
                return nil, format("option cache: %s is not a method whose answers can be cached (%s)",
                    format("%q", tostring(k)), concat(methods.cacheable, ", "))
            end
            if not ((type(v) == "number" and v > 0 and v < math.huge) or v == "max-age") then
                return nil, format("option cache.%s must be a number of seconds > 0 or \"max-age\"", k)
            end
            out.ttl[k] = v
        end
    end
    return out
end

-- An entry: "1\n<status>\n<stored>\n<expires>\n<etag>\n<cache-control>\n<body>"
local function pack(status, stored, expires, etag, cc, body)
    return format("1\n%d\n%.3f\n%.3f\n%s\n%s\n", status, stored, expires, etag or "", cc or "") .. body
end

local function unpack_entry(s)
    if type(s) ~= "string" then return nil end
    local status, stored, expires, etag, cc, pos = s:match("^1\n(%d+)\n([%d.]+)\n([%d.]+)\n([^\n]*)\n([^\n]*)\n()")
    if not status then return nil end
    return { status = tonumber(status), stored = tonumber(stored), expires = tonumber(expires),
             etag = etag ~= "" and etag or nil, cache_control = cc ~= "" and cc or nil, body = s:sub(pos) }
end

-- The answer kept in an entry, converted as a fresh one would be.
local function replay(e, method, url, expect, how)
    local headers = { etag = e.etag, ["cache-control"] = e.cache_control }
    local result, meta = core.response(e.status, headers, e.body, method, url, expect, 0)
    -- (meta is the error object when the kept answer is a 404)
    meta.cache = how
    return result, meta
end

--- The key of a request: the namespace (a hash of the API key), the
-- method and a digest of what is sent (path with its query, body).
function M.key(namespace, name, http, path, body)
    return namespace .. ":c:" .. name .. ":" .. core.sha256(http .. " " .. path .. "\n" .. (body or ""))
end

--- Seconds of the first max-age=N of a Cache-Control value (matched
-- without regard to case, at the start or after a space or a comma), or nil.
local function max_age(cc)
    if type(cc) ~= "string" then return nil end
    local lower = cc:lower()
    for pos, n in lower:gmatch("()max%-age=(%d+)") do
        local before = pos > 1 and lower:sub(pos - 1, pos - 1) or nil
        if before == nil or before == " " or before == "," then return tonumber(n) end
    end
    return nil
end
M.max_age = max_age

local function is_negative(name, err)
    return name == "lookup_product" and err and err.status_code == 404 and err.code == "product_not_found"
end

--- Run one cacheable request through the cache.
--   c      the checked cache option (M.check)
--   ctx    {store, namespace, on_error, sleep}: where entries live, and
--          how to wait for another worker's fetch
--   req    {name, http, path, body, url, expect, inm}: the request; inm is
--          an ETag the caller holds (If-None-Match): an answer with that
--          ETag comes back as a 304 (`true`, meta.not_modified)
--   fetch(extra_headers, expect) -> result, meta | nil, err performs it,
--          with meta.body (err.body) the raw bytes of the answer
function M.run(c, ctx, req, fetch)
    local name, expect = req.name, req.expect
    local ttl_opt = c.ttl[name]
    local store, on_error = ctx.store, ctx.on_error
    local key = M.key(ctx.namespace, name, req.http, req.path, req.body)
    local function report(op, err)
        if on_error then pcall(on_error, { store = store.kind, op = op, error = tostring(err) }) end
    end
    local function read()
        local v, err = store:get(key)
        if err then report("get", err) end
        return unpack_entry(v)
    end
    -- The kept answer as the caller gets it: a 304 when it holds that ETag.
    local function answer(e, how)
        if req.inm and e.etag and e.etag == req.inm and e.status == 200 then
            return replay({ status = 304, etag = e.etag, cache_control = e.cache_control, body = "" },
                req.http, req.url, expect, how)
        end
        return replay(e, req.http, req.url, expect, how)
    end
    local now = pacing.wall()
    local e = read()
    if e and e.expires > now then return answer(e, "hit") end

    -- One fetch per key: the others wait for it, then read what it kept.
    local locked, lerr = store:add(key .. ":lock", "1", c.lock_ttl)
    if locked == nil then report("add", lerr) end
    if locked then
        -- Another worker may have kept its answer and let go of the lock
        -- between our read and our add: read again before fetching.
        local fresh = read()
        if fresh and fresh.expires > pacing.wall() then
            store:delete(key .. ":lock")
            return answer(fresh, "hit")
        end
    end
    if locked == false then
        local waited = 0
        while waited < c.lock_ttl do
            ctx.sleep(WAIT_STEP)
            waited = waited + WAIT_STEP
            local fresh = read()
            if fresh and fresh.expires > pacing.wall() then return answer(fresh, "hit") end
        end
        -- The holder did not finish in time: fetch ourselves.
    end

    local function keep(status, etag, cc, raw, ttl)
        local t = pacing.wall()
        local ok, err = store:set(key, pack(status, t, t + ttl, etag, cc, raw), ttl + c.stale_ttl)
        if not ok then report("set", err) end
    end
    local function ttl_of(cc)
        if ttl_opt == "max-age" then return max_age(cc) or 0 end
        return ttl_opt
    end

    -- A stale entry with an ETag is revalidated rather than fetched whole.
    local revalidate = e and e.etag and e.status == 200
    local result, meta = fetch(revalidate and { ["If-None-Match"] = e.etag } or nil,
        revalidate and expect and expect:sub(1, 4) ~= "304 " and ("304 " .. expect) or expect)
    -- The lock goes only once the answer is kept: a worker that came in
    -- between would find neither and fetch again.
    local function release(...)
        if locked then store:delete(key .. ":lock") end
        return ...
    end
    if result ~= nil then
        local h = meta.headers or {}
        if meta.not_modified and revalidate then
            -- Still current: the kept body is good for another TTL.
            local cc = h["cache-control"] or e.cache_control
            local ttl = ttl_of(cc)
            if ttl > 0 then keep(e.status, h.etag or e.etag, cc, e.body, ttl) end
            return release(answer(e, "revalidated"))
        end
        local ttl = ttl_of(h["cache-control"])
        if ttl > 0 and type(meta.body) == "string" and meta.status == 200 then
            keep(meta.status, h.etag, h["cache-control"], meta.body, ttl)
        end
        meta.body = nil
        if req.inm and h.etag == req.inm and meta.status == 200 then
            return release(answer({ status = 200, etag = h.etag, cache_control = h["cache-control"], body = "" },
                "miss"))
        end
        meta.cache = "miss"
        return release(result, meta)
    end
    local err = meta
    if is_negative(name, err) and c.negative_ttl > 0 then
        keep(err.status_code, nil, nil, err.body or "",
            ttl_opt == "max-age" and c.negative_ttl or min(c.negative_ttl, ttl_opt))
    elseif e and retry.retryable(err) and now <= e.expires + c.stale_ttl then
        return release(answer(e, "stale"))
    end
    err.cache = "miss"
    return release(nil, err)
end

return M
