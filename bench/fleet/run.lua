-- make bench-fleet: many workers, many machines, one organization (issue 12,
-- "Benchmark/simulation"). Printed, never asserted.
--
--   the mock API (spec/support/mock.lua, 2 workers) limits the organization
--   to 200 requests/s (a token bucket, burst 200: 429 rate_limit_exceeded +
--   Retry-After beyond) and holds every answer 50 ms;
--   two "machines": two nginx from bench/fleet/nginx.conf, 4 workers each,
--   whose handler (bench/fleet/fleet_handler.lua) does
--   client:lookup_product(url) through one octogen client per worker and
--   answers 200, or the error as 429/502 (what the end user sees);
--   wrk: one process per instance, 128 connections each (256 in all),
--   BENCH_FLEET_SECONDS (default 10) s, --latency, the popular-URL mix of
--   bench/fleet/mix.lua over 20 product URLs found by a search at start.
--
-- Two configurations, each on freshly started instances:
--   no shared store   octogen.client{api_key, base_url}: every worker alone
--   shared store      + store = {redis = ...} (one redis-server shared by
--                     both instances), cache = {lookup_product = 600},
--                     rate_limit = {per_second = 190}
-- Printed per configuration: requests that reached the mock, 429s the mock
-- sent, what end users saw (non-2xx and socket errors, by status), p99 (the
-- worse of the two wrk processes), and the ratio of mock requests.
--
-- Every server is on loopback in a private temp directory and is stopped by
-- the pid it wrote, also when the run fails. Nothing is pinned (the
-- instances are meant to compete like machines would not: the figures that
-- matter here are counts, not speed).
--
-- Environment: BENCH_FLEET_SECONDS (per configuration, default 10),
-- BENCH_FLEET_LUA_DIR (octogen's Lua modules; default ROOT/lua),
-- BENCH_LUAJIT_BUILD (where octogen/core.so for LuaJIT is; build/luajit),
-- BENCH_FLEET_ONLY ("none" or "redis": one configuration only),
-- BENCH_FLEET_REDIS_TIMEOUT (seconds, the redis store's timeout option;
-- default: the store's own).
local socket = require "socket"
local http = require "socket.http"
local ltn12 = require "ltn12"
local cjson = require "cjson"
local mock = require "spec.support.mock"
local sh = require "spec.support.sh"
local openresty = require "spec.support.openresty"
-- redis-server on loopback in a private dir, stopped by its pid
local redis_harness = require "spec.support.redis"

local quote, read_file, write_file, sh_ok = sh.quote, sh.read_file, sh.write_file, sh.sh_ok
local now = socket.gettime

local SECONDS = tonumber(os.getenv("BENCH_FLEET_SECONDS")) or 10
local ONLY = os.getenv("BENCH_FLEET_ONLY")
local MOCK_PER_SECOND, MOCK_BURST, HOLD_MS = 200, 200, 50
local INSTANCES, CONNS_EACH = 2, 128
local N_URLS = 20
local WRK_TIMEOUT = 5

local function run(cmd) return sh.read_cmd(cmd) or "" end

local function abs_dir(dir)
    return (run("cd " .. quote(dir) .. " && pwd"):gsub("%s+$", ""))
end

local HERE = abs_dir(((arg and arg[0]) or "bench/fleet/run.lua"):match("^(.*)/[^/]*$") or ".")
local ROOT = abs_dir(HERE .. "/../..")
local MODULE_DIR = os.getenv("BENCH_LUAJIT_BUILD") or (ROOT .. "/build/luajit")
if MODULE_DIR:sub(1, 1) ~= "/" then MODULE_DIR = abs_dir(MODULE_DIR) end
local LUA_DIR = os.getenv("BENCH_FLEET_LUA_DIR") or (ROOT .. "/lua")
if LUA_DIR:sub(1, 1) ~= "/" then LUA_DIR = abs_dir(LUA_DIR) end

if not read_file(MODULE_DIR .. "/octogen/core.so") then
    error(MODULE_DIR .. "/octogen/core.so is missing: run `make LUA=luajit` first", 0)
end
for _, tool in ipairs { "wrk", "redis-server" } do
    if run("command -v " .. tool .. " 2>/dev/null") == "" then
        error(tool .. " is not installed (Debian packages wrk, redis-server)", 0)
    end
end

---------------------------------------------------------------------------
-- the mock and the product URLs

local function search_urls(server)
    local body = cjson.encode { q = "jacket", limit = N_URLS }
    local chunks = {}
    local ok, code = http.request {
        url = server.base_url .. "/products/search", method = "POST",
        headers = { authorization = "Bearer " .. mock.KEY, ["content-type"] = "application/json",
                    ["content-length"] = tostring(#body) },
        source = ltn12.source.string(body), sink = ltn12.sink.table(chunks),
    }
    if not ok or code ~= 200 then error("search on the mock failed: " .. tostring(code), 0) end
    local urls = {}
    for _, item in ipairs(cjson.decode(table.concat(chunks)).items) do urls[#urls + 1] = item.productUrl end
    if #urls < N_URLS then error("the mock's search gave " .. #urls .. " URLs, want " .. N_URLS, 0) end
    return urls
end

local function escape(s)
    return (s:gsub("[^%w%-._~]", function(c) return ("%%%02X"):format(c:byte()) end))
end

---------------------------------------------------------------------------
-- wrk

local function duration(v, unit)
    v = tonumber(v)
    local scale = ({ us = 1e-6, ms = 1e-3, s = 1, m = 60, h = 3600 })[unit]
    return v and scale and v * scale
end

local function parse_wrk(out)
    local n = tonumber(out:match("(%d+) requests in"))
    if not n then error("wrk failed:\n" .. out, 0) end
    local r = { requests = n, rps = tonumber(out:match("Requests/sec:%s*([%d.]+)")) or 0 }
    r.p99 = duration(out:match("\n%s*99%%%s+([%d.]+)(%a+)"))
    r.non2xx = tonumber(out:match("Non%-2xx or 3xx responses:%s*(%d+)")) or 0
    local c, rd, w, t = out:match("Socket errors: connect (%d+), read (%d+), write (%d+), timeout (%d+)")
    r.sockerr = c and (tonumber(c) + tonumber(rd) + tonumber(w) + tonumber(t)) or 0
    r.status = {}
    for st, k in (out:match("FLEET_STATUS ([^\n]*)") or ""):gmatch("(%d+)=(%d+)") do
        r.status[tonumber(st)] = tonumber(k)
    end
    return r
end

-- Both wrk processes at once, one per instance; returns their results.
local function wrk_all(apps, paths_file, dir)
    local cmds = {}
    for i, app in ipairs(apps) do
        cmds[#cmds + 1] = ("wrk -t1 -c%d -d%ds --timeout %ds --latency -s %s %s -- %s >%s 2>&1 &"):format(
            CONNS_EACH, SECONDS, WRK_TIMEOUT, quote(HERE .. "/mix.lua"), quote(app.url .. "/"),
            quote(paths_file), quote(dir .. "/wrk" .. i .. ".out"))
    end
    sh_ok(table.concat(cmds, " ") .. " wait")
    local results = {}
    for i in ipairs(apps) do results[i] = parse_wrk(read_file(dir .. "/wrk" .. i .. ".out") or "") end
    return results
end

---------------------------------------------------------------------------
-- one configuration

local CONFIGS = {
    { store = "none", label = "no shared store" },
    { store = "redis", label = "shared store (redis)" },
}

local function start_apps(server, store, redis)
    local apps = {}
    for i = 1, INSTANCES do
        local ok, app = pcall(openresty.start_conf, {
            template = HERE .. "/nginx.conf",
            vars = { LUA_DIR = LUA_DIR, BENCH_DIR = HERE, MODULE_DIR = MODULE_DIR },
            env = { OCTOGEN_BASE_URL = server.base_url, OCTO_API_KEY = mock.KEY, FLEET_STORE = store,
                    FLEET_REDIS_PORT = redis and redis.port or "",
                    FLEET_REDIS_TIMEOUT = os.getenv("BENCH_FLEET_REDIS_TIMEOUT") or "" },
        })
        if not ok then
            for _, a in ipairs(apps) do a:stop() end
            error(app, 0)
        end
        apps[i] = app
    end
    return apps
end

local function run_config(cfg, server, redis, paths, paths_file, dir)
    local apps = start_apps(server, cfg.store, redis)
    local ok, res = pcall(function()
        -- Each instance answers (one lookup per worker or so), then
        -- everything is wiped: the counts start at the run.
        local _, info = openresty.get(apps[1].port, "/info", 5)
        local inf = info and cjson.decode(info) or {}
        if inf.client ~= true then
            return { label = cfg.label,
                     skipped = "the client cannot be built with these options: " .. tostring(inf.client) }
        end
        for _, app in ipairs(apps) do
            local status, body = openresty.get(app.port, paths[1], 15)
            if status ~= 200 then
                error(("%s: /product answered %s: %s\n%s"):format(cfg.label, tostring(status), tostring(body),
                    sh.tail(app.prefix .. "/logs/error.log", 20)), 0)
            end
        end
        server:reset()
        server:configure { rate_limit = { per_second = MOCK_PER_SECOND, burst = MOCK_BURST }, hold_ms = HOLD_MS }
        if redis then assert(redis:command("FLUSHALL") == "+OK", "redis FLUSHALL failed") end
        socket.sleep(1)   -- the probes' tokens and pauses, if any, have passed
        local t0 = now()
        local w = wrk_all(apps, paths_file, dir)
        local wall = now() - t0
        local st = server:stats()
        local r = { label = cfg.label, version = inf.version, wall = wall, mock = st.requests,
                    mock429 = st.rate_limited, requests = 0, non2xx = 0, sockerr = 0, p99 = 0, status = {} }
        for _, x in ipairs(w) do
            r.requests = r.requests + x.requests
            r.non2xx = r.non2xx + x.non2xx
            r.sockerr = r.sockerr + x.sockerr
            r.p99 = math.max(r.p99, x.p99 or 0)
            for s, n in pairs(x.status) do r.status[s] = (r.status[s] or 0) + n end
        end
        -- [error] lines of the instances, and the most frequent message
        local errs, seen = 0, {}
        for _, app in ipairs(apps) do
            for line in app:error_log():gmatch("[^\n]+") do
                if line:find("[error]", 1, true) then
                    errs = errs + 1
                    local msg = line:match("%*%d+ (.-), client:") or line:match("%*%d+ (.*)$") or line
                    seen[msg] = (seen[msg] or 0) + 1
                end
            end
        end
        r.logged_errors = errs
        r.top_errors = {}
        for msg, n in pairs(seen) do r.top_errors[#r.top_errors + 1] = { msg = msg, n = n } end
        table.sort(r.top_errors, function(x, y) return x.n > y.n end)
        return r
    end)
    for _, app in ipairs(apps) do pcall(app.stop, app) end
    if not ok then error(res, 0) end
    return res
end

---------------------------------------------------------------------------
-- the run

local dir = run("mktemp -d " .. quote((os.getenv("TMPDIR") or "/tmp") .. "/octofleet.XXXXXXXX") .. " 2>/dev/null")
    :gsub("%s+$", "")
if dir == "" then error("mktemp -d failed", 0) end
io.stderr:write(("bench fleet: %d configurations of %d s (about %d s)\n"):format(ONLY and 1 or #CONFIGS, SECONDS,
    (ONLY and 1 or #CONFIGS) * (SECONDS + 8) + 5))

local server, redis
local results = {}
local ok, err = pcall(function()
    server = mock.start { workers = 2 }
    local urls = search_urls(server)
    local paths = {}
    for i, u in ipairs(urls) do paths[i] = "/product?url=" .. escape(u) end
    local paths_file = dir .. "/paths.txt"
    write_file(paths_file, table.concat(paths, "\n") .. "\n")
    for _, cfg in ipairs(CONFIGS) do
        if not ONLY or ONLY == cfg.store then
            if cfg.store == "redis" and not redis then redis = redis_harness.start() end
            results[#results + 1] = run_config(cfg, server, cfg.store == "redis" and redis or nil, paths,
                paths_file, dir)
        end
    end
end)
if redis then pcall(redis.stop, redis) end
if server then pcall(server.stop, server) end
if dir:match("^/[%w/._-]*octofleet%.[%w]+$") then os.execute("rm -rf " .. quote(dir)) end
if not ok then error(err, 0) end

---------------------------------------------------------------------------
-- report

local function pkg(name)
    return run("dpkg-query -W -f='${Version}' " .. name .. " 2>/dev/null"):match("%S+") or "?"
end
local model = (read_file("/proc/cpuinfo") or ""):match("model name%s*:%s*([^\n]+)") or "unknown CPU"
local ncpu = tonumber((run("nproc 2>/dev/null"):match("%d+"))) or 1
print()
print("octogen-lua fleet simulation: 2 nginx x 4 workers, one organization's key, one mock API")
print(("machine: %s, %d CPUs (nothing pinned); nginx %s, libnginx-mod-http-lua %s, redis-server %s, wrk %s")
    :format(model, ncpu, run(quote(mock.nginx_bin()) .. " -v 2>&1"):match("nginx/(%S+)") or "?",
        pkg("libnginx-mod-http-lua"), pkg("redis-server"), run("wrk --version 2>&1"):match("^wrk (%S+)") or "?"))
print(("mock: %d requests/s per organization (token bucket, burst %d; 429 rate_limit_exceeded + Retry-After),")
    :format(MOCK_PER_SECOND, MOCK_BURST))
print(("      every answer held %d ms; wrk: %d x %d connections, %d s, %d product URLs (Zipf mix), timeout %d s")
    :format(HOLD_MS, INSTANCES, CONNS_EACH, SECONDS, N_URLS, WRK_TIMEOUT))
print(("redis store timeout: %s"):format(os.getenv("BENCH_FLEET_REDIS_TIMEOUT") or "the store's default"))
print()
local HEAD = "%-22s %9s %9s %9s %9s %9s %10s  %s"
print(HEAD:format("configuration", "end-user", "mock", "mock 429", "user", "sock", "p99", "user answers"))
print(HEAD:format("", "requests", "requests", "sent", "non-2xx", "errors", "(worse)", "by status"))
local by = {}
for _, r in ipairs(results) do
    if r.skipped then
        print(("%-22s %s"):format(r.label or "?", "skipped: " .. r.skipped))
    else
        by[r.label] = r
        local parts = {}
        for s, n in pairs(r.status) do parts[#parts + 1] = s .. "=" .. n end
        table.sort(parts)
        print(HEAD:format(r.label, r.requests, r.mock, r.mock429, r.non2xx, r.sockerr,
            ("%.1f ms"):format(r.p99 * 1e3), table.concat(parts, " ")))
    end
end
print()
local a, b = by["no shared store"], by["shared store (redis)"]
if a and b then
    print(("mock requests without / with the shared store: %d / %d = %.1fx (target >= 5x)")
        :format(a.mock, b.mock, a.mock / math.max(b.mock, 1)))
    print(("429s reaching end users with the shared store: %d (target 0)"):format(b.status[429] or 0))
end
for _, r in ipairs(results) do
    if r.logged_errors and r.logged_errors > 0 then
        print(("note: %s: the instances logged %d [error] lines; the most frequent:"):format(r.label,
            r.logged_errors))
        for i = 1, math.min(3, #r.top_errors) do
            print(("  %5d x %s"):format(r.top_errors[i].n, r.top_errors[i].msg:sub(1, 240)))
        end
    end
end
