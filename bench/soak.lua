-- make soak: a soak run, not a test. One client sends COUNT requests
-- (default 100000) to the bundled mock over its keep-alive connection:
-- list_catalogs, and every 10th call a 5-item search. The process RSS
-- (VmRSS in /proc/self/status, after a full collectgarbage) is read after
-- the first 1,000 requests, every 10,000 and at the end; the growth from
-- the first reading to the last should stay within 2 MB if nothing leaks.
-- Prints figures; asserts nothing about them (exits non-zero only when a
-- request fails or the mock cannot start).
--
--   $(RUN_ENV) $(PIN) lua5.4 bench/soak.lua [COUNT]
local octogen = require "octogen"
local core = require "octogen.core"
local socket = require "socket"
local mock = require "spec.support.mock"

local now = socket.gettime

local COUNT = 100000
if arg and arg[1] ~= nil then COUNT = tonumber(arg[1]) end
if not COUNT or COUNT ~= math.floor(COUNT) or COUNT < 1 then
    io.stderr:write("usage: soak.lua [COUNT]   (COUNT a whole number of requests, default 100000)\n")
    os.exit(2)
end
local BASELINE_AT = math.min(1000, COUNT) -- the reading growth is measured from
local EVERY = 10000                       -- a progress line every so many requests
local LIMIT_KB = 2048                     -- "within 2 MB"

local function status_field(name)
    local f = io.open("/proc/self/status")
    if not f then return nil end
    local s = f:read("*a")
    f:close()
    return s:match(name .. ":%s*([^\n]-)%s*\n")
end

local function rss_kb()
    collectgarbage("collect")
    collectgarbage("collect") -- a second cycle for what finalizers released
    return tonumber((status_field("VmRSS") or ""):match("^(%d+)")), collectgarbage("count")
end

local function machine()
    local model = "unknown CPU"
    local f = io.open("/proc/cpuinfo")
    if f then
        for line in f:lines() do
            local m = line:match("^model name%s*:%s*(.+)$")
            if m then model = m break end
        end
        f:close()
    end
    local p = io.popen("nproc --all")
    local cores = p and p:read("*l") or "?"
    if p then p:close() end
    return ("%s, %s cores; %s; libcurl %s"):format(model, cores, core.lua_version, core.curl_version)
end

if not status_field("VmRSS") then
    io.stderr:write("soak.lua: needs /proc/self/status (Linux)\n")
    os.exit(2)
end

local server = mock.start()
local ok, err = pcall(function()
    local client = octogen.client { api_key = mock.KEY, base_url = server.base_url }
    local search = { catalog = "warrenlotas", limit = 5 }

    print("octogen-lua " .. octogen.VERSION .. " soak")
    print("machine: " .. machine())
    print(("mock: nginx + Lua on 127.0.0.1, one worker; client and mock on CPUs %s " ..
        "(make soak pins them with taskset -c 0)"):format(status_field("Cpus_allowed_list") or "?"))
    print(("requests: %d, one client (list_catalogs; every 10th a search with limit 5)\n"):format(COUNT))
    print(("%10s %12s %12s %14s %12s %14s %12s"):format("requests", "RSS kB", "vs first", "Lua heap kB",
        "req/s", "client CPU us", "connections"))

    local first_rss, last_rss
    local t_start = now()
    local t_window, n_window, c_window = t_start, 0, os.clock()
    local paused = 0 -- seconds spent reading RSS and talking to the control API

    local function reading(n)
        local t0, c0 = now(), os.clock()
        local elapsed, cpu = t0 - t_window, c0 - c_window
        local rss, heap = rss_kb()
        if not first_rss then first_rss = rss end
        last_rss = rss
        -- Connections the mock saw since the last reading (keep-alive holds
        -- if this stays 1), then clear its record so its memory stays flat.
        local conns = server:stats().connections
        server:reset()
        print(("%10d %12d %+12d %14.0f %12.0f %14.1f %12d"):format(n, rss, rss - first_rss, heap,
            (n - n_window) / elapsed, cpu / (n - n_window) * 1e6, conns))
        io.stdout:flush()
        paused = paused + (now() - t0)
        t_window, n_window, c_window = now(), n, os.clock()
    end

    for i = 1, COUNT do
        local res, e
        if i % 10 == 0 then
            res, e = client:search_products(search)
            if res and #res.items ~= 5 then
                error(("request %d: a search with limit 5 returned %d items"):format(i, #res.items), 0)
            end
        else
            res, e = client:list_catalogs()
        end
        if not res then error(("request %d failed: %s"):format(i, tostring(e)), 0) end
        if i == BASELINE_AT or i % EVERY == 0 or i == COUNT then reading(i) end
    end
    local total = now() - t_start
    client:close()

    local growth = last_rss - first_rss
    print()
    print(("%d requests in %.1f s (%.1f s of it sending), %.0f requests/s"):format(
        COUNT, total, total - paused, COUNT / (total - paused)))
    print(("RSS after %d requests: %d kB; at the end: %d kB; difference %+d kB"):format(
        BASELINE_AT, first_rss, last_rss, growth))
    print(("RSS growth within 2 MB: %s"):format(growth <= LIMIT_KB and "yes" or "no"))
end)
server:stop()
if not ok then
    io.stderr:write("soak.lua: ", tostring(err), "\n")
    os.exit(1)
end
