-- make bench, second part: octogen inside nginx against a plain cosocket
-- handler, under wrk (issue 9, "Benchmark"). Printed, never asserted.
--
--   nginx (Debian's, lua-nginx-module, LuaJIT), ONE worker, started twice
--   from bench/openresty/nginx.conf:
--     octogen   bench/openresty/octogen_handler.lua: client:search_products
--               {catalog=, q=, limit=5} through one client built at module
--               level (inside nginx octogen picks its cosocket transport)
--     baseline  bench/openresty/baseline_handler.lua: ~40 lines of cosocket
--               + cjson doing the same POST /v1/products/search, keep-alive
--               through set_keepalive
--   both answer {"count":5,"titles":[...]}, against the mock API
--   (spec/support/mock.lua) holding every search answer 50 ms, then 200 ms
--   (one fault rule with latency_ms and no `times`: it never runs out).
--   wrk -t1 at 16, 64 and 256 connections, BENCH_OPENRESTY_SECONDS (default
--   10) each, for each latency and each handler, the handlers taking turns.
--
-- Figures: wrk's req/s, p50 and p99 (--latency), non-2xx answers and socket
-- errors (wrk's own counts); the nginx worker's CPU (/proc/PID/schedstat, or
-- utime + stime from /proc/PID/stat) over the run / wrk's requests; the
-- worker's VmRSS after the run. Two instances rather than two locations in one nginx, so that a
-- worker's CPU and RSS belong to one handler only.
--
-- Pinning, on a machine with two cores or more: this script, the mock and
-- wrk on CPU 0 (the script pins itself with taskset -p, the others inherit
-- it), both nginx under test on CPU 1 (started under taskset -c 1). So the
-- handler being measured has a core of its own and the load generator
-- cannot steal it. On one core nothing is pinned; the header says which.
--
-- Environment: BENCH_OPENRESTY_SECONDS (per wrk run, default 10),
-- BENCH_LUAJIT_BUILD (where octogen/core.so for LuaJIT is; build/luajit),
-- BENCH_OPENRESTY_ROUNDS (default 1; more: the median of the rounds per
-- cell), BENCH_VERBOSE=1 (every run on stderr as it ends).
local socket = require "socket"
local mock = require "spec.support.mock"
local sh = require "spec.support.sh"
local openresty = require "spec.support.openresty"

local quote, read_file, write_file, sh_ok = sh.quote, sh.read_file, sh.write_file, sh.sh_ok
local now = socket.gettime

local SECONDS = tonumber(os.getenv("BENCH_OPENRESTY_SECONDS")) or 10
local ROUNDS = tonumber(os.getenv("BENCH_OPENRESTY_ROUNDS")) or 1
local VERBOSE = os.getenv("BENCH_VERBOSE")
local LATENCIES = { 50, 200 }
local CONNS = { 16, 64, 256 }
local HANDLERS = { "baseline", "octogen" }
local QUERY = "/search?catalog=warrenlotas&q=hoodie"
local WRK_TIMEOUT = 5           -- seconds; a slower answer is a socket error
local SETTLE_MAX = 120          -- seconds to wait for nginx to be idle between runs

---------------------------------------------------------------------------
-- small helpers

local function run(cmd) return sh.read_cmd(cmd) or "" end

local function abs_dir(dir)
    return (run("cd " .. quote(dir) .. " && pwd"):gsub("%s+$", ""))
end

local HERE = abs_dir(((arg and arg[0]) or "bench/openresty/run.lua"):match("^(.*)/[^/]*$") or ".")
local ROOT = abs_dir(HERE .. "/../..")
-- The LuaJIT build of the C core nginx loads (make LUA=luajit); another
-- build directory with BENCH_LUAJIT_BUILD.
local MODULE_DIR = os.getenv("BENCH_LUAJIT_BUILD") or (ROOT .. "/build/luajit")
if MODULE_DIR:sub(1, 1) ~= "/" then MODULE_DIR = abs_dir(MODULE_DIR) end
local MODULE = MODULE_DIR .. "/octogen/core.so"

local function median(xs)
    local s = {}
    for i, x in ipairs(xs) do s[i] = x end
    table.sort(s)
    return s[math.floor((#s + 1) / 2)]
end

local function sum(xs)
    local t = 0
    for _, x in ipairs(xs) do t = t + x end
    return t
end

local CLK_TCK = tonumber((run("getconf CLK_TCK 2>/dev/null"):match("%d+"))) or 100

-- CPU time a process has used so far, in seconds: schedstat's run time
-- (ns), the same quantity as utime + stime but not sampled in 10 ms ticks;
-- utime + stime (fields 14 and 15 of stat) where the kernel has no schedstat.
local CPU_SOURCE = read_file("/proc/self/schedstat") and "schedstat run time" or "utime+stime"
local function cpu_seconds(pid)
    local ss = read_file("/proc/" .. pid .. "/schedstat")
    local ns = ss and tonumber(ss:match("^(%d+)"))
    if ns then return ns / 1e9 end
    local stat = read_file("/proc/" .. pid .. "/stat") or ""
    local after = stat:match("^%d+ %b() (.*)$")
    if not after then return nil end
    local f = {}
    for w in after:gmatch("%S+") do f[#f + 1] = w end
    -- fields 14 and 15 of stat are the 12th and 13th after the name
    return ((tonumber(f[12]) or 0) + (tonumber(f[13]) or 0)) / CLK_TCK
end

local function rss_kb(pid)
    return tonumber(((read_file("/proc/" .. pid .. "/status") or ""):match("VmRSS:%s*(%d+)")))
end

local function affinity(pid)
    return ((read_file("/proc/" .. pid .. "/status") or ""):match("Cpus_allowed_list:%s*(%S+)")) or "?"
end

local function children(pid)
    local kids = {}
    for p in run("pgrep -P " .. pid .. " 2>/dev/null"):gmatch("%d+") do kids[#kids + 1] = tonumber(p) end
    return kids
end

local function self_pid()
    return tonumber(((read_file("/proc/self/stat") or ""):match("^(%d+)")))
end

-- One GET on a fresh connection (the OpenResty harness's): status, body,
-- seconds; or nil, err.
local function get(port, path, timeout)
    local t0 = now()
    local status, body = openresty.get(port, path, timeout)
    if not status then return nil, body end
    return status, body, now() - t0
end

---------------------------------------------------------------------------
-- pinning

-- --all: make bench has already pinned this script to CPU 0.
local NCPUS = tonumber((run("nproc --all 2>/dev/null"):match("%d+"))) or 1
local HAVE_TASKSET = run("command -v taskset 2>/dev/null") ~= ""
local NGINX_PIN = ""
local pin_note
if NCPUS >= 2 and HAVE_TASKSET and sh_ok("taskset -c 1 true 2>/dev/null")
    and sh_ok("taskset -pc 0 " .. self_pid() .. " >/dev/null 2>&1") then
    NGINX_PIN = "taskset -c 1 "
    pin_note = "driver, mock and wrk on CPU 0; nginx under test on CPU 1"
else
    pin_note = NCPUS < 2 and "one CPU: nothing pinned" or "taskset unavailable: nothing pinned"
end

---------------------------------------------------------------------------
-- the nginx under test

local App = {}
App.__index = App

function App:worker()
    local kids = children(self.pid)
    if #kids ~= 1 then error(("bench nginx (%s): %d workers, expected 1"):format(self.handler, #kids), 0) end
    return kids[1]
end

function App:stop()
    if self.stopped then return end
    self.stopped = true
    if self.proc then self.proc:stop() end      -- QUIT, then TERM, then KILL, by pid
    if self.prefix and self.prefix:match("^/[%w/._-]*octobench%.[%w]+$") then
        os.execute("rm -rf " .. quote(self.prefix))
    end
end

function App:error_log()
    return read_file(self.prefix .. "/logs/error.log") or ""
end

local function start_app(handler, base_url)
    local template = assert(read_file(HERE .. "/nginx.conf"), "bench/openresty/nginx.conf missing")
    local prefix = run("mktemp -d " .. quote((os.getenv("TMPDIR") or "/tmp") .. "/octobench.XXXXXXXX")
        .. " 2>/dev/null"):gsub("%s+$", "")
    if prefix == "" then error("mktemp -d failed", 0) end
    for _, sub in ipairs { "conf", "logs", "tmp/client_body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi",
                           "tmp/scgi" } do
        assert(sh_ok("mkdir -p " .. quote(prefix .. "/" .. sub)), "mkdir failed")
    end
    local is_root = run("id -u"):match("^0%s*$") ~= nil
    local log = prefix .. "/logs/error.log"
    local last_err
    for _ = 1, 8 do
        local port = mock.free_port()
        write_file(prefix .. "/conf/nginx.conf", mock.render(template, {
            PORT = port, PREFIX = prefix, ROOT = ROOT, BENCH_DIR = HERE, MODULE_DIR = MODULE_DIR,
            CJSON_CPATH = mock.cjson_cpath(),
            USER_LINE = is_root and "user root root;" or "", HANDLER = handler,
        }))
        os.remove(prefix .. "/logs/nginx.pid")
        local cmd = "env -u OCTO_API_KEY -u OCTOGEN_PLATFORM_API_KEY "
            .. quote("OCTOGEN_BASE_URL=" .. base_url) .. " " .. quote("OCTO_API_KEY=" .. mock.KEY) .. " "
            .. NGINX_PIN .. table.concat({ quote(mock.nginx_bin()), "-p", quote(prefix .. "/"), "-c",
                quote(prefix .. "/conf/nginx.conf"), "-e", quote(log) }, " ")
            .. " >>" .. quote(prefix .. "/logs/startup.log") .. " 2>&1 </dev/null"
        if sh_ok(cmd) then
            local deadline, pid = now() + 5, nil
            while now() < deadline do
                pid = pid or tonumber(((read_file(prefix .. "/logs/nginx.pid") or ""):match("%d+")))
                if pid and get(port, "/ping", 1) == 200 then
                    return setmetatable({ handler = handler, port = port, pid = pid, prefix = prefix,
                                          proc = mock.attach(pid, port, nil) }, App)
                end
                socket.sleep(0.02)
            end
            if pid then mock.attach(pid, port, nil):stop() end
            last_err = "bench nginx did not answer on port " .. port
        else
            last_err = "bench nginx failed to start on port " .. port
        end
        local logs = sh.tail(log, 20) .. "\n" .. sh.tail(prefix .. "/logs/startup.log", 10)
        last_err = last_err .. "\n" .. logs
        if not logs:find("Address already in use", 1, true) then break end
    end
    os.execute("rm -rf " .. quote(prefix))
    error(last_err, 0)
end

-- Wait until nginx has nothing left of the last run: the answers still in
-- flight to the mock (a latency and a bit), and, when a handler blocks the
-- worker, every request queued behind it (until /ping answers promptly).
local function settle(app, latency_ms)
    socket.sleep(latency_ms / 1000 * 2 + 0.2)
    local deadline = now() + SETTLE_MAX
    repeat
        local status, _, took = get(app.port, "/ping", SETTLE_MAX)
        if status == 200 and took < 0.05 then return end
    until now() > deadline
    io.stderr:write("bench: nginx (" .. app.handler .. ") still busy after " .. SETTLE_MAX .. " s\n")
end

---------------------------------------------------------------------------
-- wrk

-- "52.31ms" -> seconds
local function duration(v, unit)
    v = tonumber(v)
    if not v then return nil end
    local scale = ({ us = 1e-6, ms = 1e-3, s = 1, m = 60, h = 3600 })[unit]
    return scale and v * scale
end

-- "0m0.070000s 0m0.370000s" (the shell's `times`, children line) -> seconds
local function times_seconds(line)
    local t = 0
    for m, s in (line or ""):gmatch("(%d+)m([%d.]+)s") do t = t + tonumber(m) * 60 + tonumber(s) end
    return t
end

local function wrk(app, conns, seconds)
    local url = "http://127.0.0.1:" .. app.port .. QUERY
    local out = run("wrk -t1 -c" .. conns .. " -d" .. seconds .. "s --timeout " .. WRK_TIMEOUT .. "s --latency "
        .. quote(url) .. " 2>&1; echo BENCH_TIMES; times")
    local n = tonumber(out:match("(%d+) requests in"))
    local rps = tonumber(out:match("Requests/sec:%s*([%d.]+)"))
    if not n or not rps then error("wrk failed:\n" .. out, 0) end
    local r = { requests = n, rps = rps, out = out }
    r.p50 = duration(out:match("\n%s*50%%%s+([%d.]+)(%a+)"))
    r.p99 = duration(out:match("\n%s*99%%%s+([%d.]+)(%a+)"))
    r.non2xx = tonumber(out:match("Non%-2xx or 3xx responses:%s*(%d+)")) or 0
    local c, rd, w, t = out:match("Socket errors: connect (%d+), read (%d+), write (%d+), timeout (%d+)")
    r.sockerr = c and (tonumber(c) + tonumber(rd) + tonumber(w) + tonumber(t)) or 0
    r.sockerr_text = c and ("connect %s, read %s, write %s, timeout %s"):format(c, rd, w, t) or nil
    r.wrk_cpu = times_seconds(out:match("BENCH_TIMES\n[^\n]*\n([^\n]*)"))
    r.wall = n / rps
    return r
end

---------------------------------------------------------------------------
-- the run

if not read_file(MODULE) then
    error(MODULE .. " is missing: run `make LUA=luajit` first (make bench does)", 0)
end
if run("command -v wrk 2>/dev/null") == "" then
    error("wrk is not installed (Debian package wrk; make bench installs it)", 0)
end

local total = #LATENCIES * #CONNS * #HANDLERS * ROUNDS * (SECONDS + 1) + 10
io.stderr:write(("bench openresty: %d wrk runs of %d s (about %d s)\n")
    :format(#LATENCIES * #CONNS * #HANDLERS * ROUNDS, SECONDS, total))

local server = mock.start()
local apps = {}
local ok, err = pcall(function()
    local mock_workers = children(server.pid)
    for _, h in ipairs(HANDLERS) do apps[h] = start_app(h, server.base_url) end

    -- Each handler answers, with 5 items; octogen says its version.
    local info = {}
    for _, h in ipairs(HANDLERS) do
        local status, body = get(apps[h].port, QUERY, 15)
        if status ~= 200 or not tostring(body):find('"count":5', 1, true) then
            error(("%s handler answered %s: %s\n%s"):format(h, tostring(status), tostring(body),
                sh.tail(apps[h].prefix .. "/logs/error.log", 20)), 0)
        end
        local _, ibody = get(apps[h].port, "/info", 5)
        info[h] = ibody and ibody:match('"version":"([^"]*)"') or "?"
    end

    -- Warm-up: JIT, the upstream pool, the mock. It also shows what the
    -- octogen handler runs on: 64 concurrent requests over cosockets use
    -- about 64 connections to the mock; libcurl's blocking handle one.
    local warm = {}
    for _, h in ipairs(HANDLERS) do
        server:reset()
        server:fault { path = "/v1/products/search", method = "POST", latency_ms = 50 }
        local r = wrk(apps[h], 64, math.min(2, SECONDS))
        warm[h] = { rps = r.rps, conns = server:stats().connections }
        settle(apps[h], 50)
    end

    local cells = {}     -- cells[h][lat][conns] = list of per-round results
    for _, h in ipairs(HANDLERS) do
        cells[h] = {}
        for _, lat in ipairs(LATENCIES) do cells[h][lat] = {} end
    end
    local t_start = now()
    for _, lat in ipairs(LATENCIES) do
        for _, conns in ipairs(CONNS) do
            for round = 1, ROUNDS do
                for _, h in ipairs(HANDLERS) do
                    local app = apps[h]
                    server:reset()
                    server:fault { path = "/v1/products/search", method = "POST", latency_ms = lat }
                    settle(app, lat)
                    local w = app:worker()
                    local c0 = cpu_seconds(w)
                    local m0 = 0
                    for _, p in ipairs(mock_workers) do m0 = m0 + (cpu_seconds(p) or 0) end
                    local r = wrk(app, conns, SECONDS)
                    local c1 = cpu_seconds(w)
                    local m1 = 0
                    for _, p in ipairs(mock_workers) do m1 = m1 + (cpu_seconds(p) or 0) end
                    local st = server:stats()
                    r.cpu = (c1 - c0) / math.max(r.requests, 1)
                    r.rss = rss_kb(w)
                    r.mock_conns = st.connections
                    -- how busy CPU 0 was: the mock's worker and wrk, over the run
                    r.core0 = ((m1 - m0) + r.wrk_cpu) / r.wall
                    local list = cells[h][lat][conns] or {}
                    cells[h][lat][conns] = list
                    list[#list + 1] = r
                    if VERBOSE or r.non2xx > 0 or r.sockerr > 0 then
                        io.stderr:write(("bench openresty: round %d %-8s %3d ms %3d conns %8.0f req/s p99 %7.1f ms "
                            .. "%5.0f us/req non-2xx %d socket errors %d%s\n")
                            :format(round, h, lat, conns, r.rps, (r.p99 or 0) * 1e3, r.cpu * 1e6, r.non2xx,
                                r.sockerr, r.sockerr_text and (" (" .. r.sockerr_text .. ")") or ""))
                    end
                end
            end
        end
    end
    local t_runs = now() - t_start

    -------------------------------------------------------------------------
    -- report

    local function med(list, k)
        local xs = {}
        for _, r in ipairs(list) do if r[k] then xs[#xs + 1] = r[k] end end
        return #xs > 0 and median(xs) or nil
    end
    local function total_of(list, k)
        local xs = {}
        for _, r in ipairs(list) do xs[#xs + 1] = r[k] end
        return sum(xs)
    end

    local model = (read_file("/proc/cpuinfo") or ""):match("model name%s*:%s*([^\n]+)") or "unknown CPU"
    local debian = (read_file("/etc/debian_version") or ""):match("%S+") or "?"
    local function pkg(name)
        return run("dpkg-query -W -f='${Version}' " .. name .. " 2>/dev/null"):match("%S+") or "?"
    end
    local nginx_v = run(quote(mock.nginx_bin()) .. " -v 2>&1"):match("nginx/(%S+)") or "?"
    local wrk_v = run("wrk --version 2>&1"):match("^wrk (%S+)") or "?"

    print()
    print("octogen-lua inside nginx: octogen handler vs a plain cosocket + cjson handler")
    print(("machine: %s, %d CPUs; Debian %s; load average %s"):format(model, NCPUS, debian,
        (read_file("/proc/loadavg") or ""):match("^(%S+ %S+ %S+)") or "?"))
    print(("nginx %s, libnginx-mod-http-lua %s, luajit2 %s, wrk %s"):format(nginx_v, pkg("libnginx-mod-http-lua"),
        pkg("luajit2"), wrk_v))
    local aff = {}
    for _, h in ipairs(HANDLERS) do aff[#aff + 1] = h .. " worker " .. affinity(apps[h]:worker()) end
    print(("pinning: %s (CPUs allowed: this script %s, mock worker %s, %s)"):format(pin_note, affinity("self"),
        mock_workers[1] and affinity(mock_workers[1]) or "?", table.concat(aff, ", ")))
    local wc = warm.octogen.conns
    print(("octogen %s: in the warm-up (64 connections, 50 ms) the mock saw %d connection%s from it, so it ran on %s")
        :format(info.octogen, wc, wc == 1 and "" or "s",
            wc >= 8 and "cosockets" or "libcurl, blocking the worker (no cosocket transport in this build)"))
    print(("method: one nginx (one worker) per handler; GET %s -> POST /v1/products/search, limit 5;")
        :format(QUERY))
    print(("        wrk -t1 --latency --timeout %ds, %d s per run, %d round%s (median per cell), handlers in turn;")
        :format(WRK_TIMEOUT, SECONDS, ROUNDS, ROUNDS == 1 and "" or "s"))
    print(("        CPU/req: the worker's CPU (/proc: %s) over the run / wrk's requests; RSS: VmRSS after the run;")
        :format(CPU_SOURCE))
    print("        mock conns: connections the mock saw in the run; CPU 0: (mock worker + wrk CPU) / wall")
    print()
    local HEAD = "%-9s %7s %6s %9s %9s %9s %8s %8s %9s %8s %6s %6s"
    local ROW = "%-9s %7s %6d %9.0f %9s %9s %8d %8d %9s %8s %6d %6s"
    print(HEAD:format("handler", "latency", "conns", "req/s", "p50", "p99", "non-2xx", "sockerr", "CPU/req",
        "RSS", "mock", "CPU 0"))
    print(HEAD:format("", "", "", "", "", "", "", "", "", "", "conns", "busy"))
    local function ms(s) return s and ("%.1f ms"):format(s * 1e3) or "-" end
    local errors = 0
    for _, lat in ipairs(LATENCIES) do
        for _, conns in ipairs(CONNS) do
            for _, h in ipairs(HANDLERS) do
                local list = cells[h][lat][conns]
                local e = total_of(list, "non2xx") + total_of(list, "sockerr")
                errors = errors + e
                print(ROW:format(h, lat .. " ms", conns, med(list, "rps"), ms(med(list, "p50")), ms(med(list, "p99")),
                    total_of(list, "non2xx"), total_of(list, "sockerr"), ("%.0f us"):format(med(list, "cpu") * 1e6),
                    ("%.1f MB"):format((med(list, "rss") or 0) / 1024), med(list, "mock_conns"),
                    ("%.0f%%"):format(med(list, "core0") * 100)))
            end
        end
    end
    print()

    -- the targets of the issue
    local function yes(b) return b and "met" or "NOT met" end
    local rows = {}
    rows[#rows + 1] = { "no errors at any concurrency (non-2xx + socket errors)", "0", tostring(errors),
                        yes(errors == 0) }
    for _, lat in ipairs(LATENCIES) do
        local o, b = cells.octogen[lat][256], cells.baseline[lat][256]
        local ratio = med(o, "rps") / med(b, "rps")
        rows[#rows + 1] = { ("req/s at 256 conns, %d ms: octogen / baseline"):format(lat), ">= 0.90",
                            ("%.2f"):format(ratio), yes(ratio >= 0.9) }
    end
    for _, lat in ipairs(LATENCIES) do
        local o, b = cells.octogen[lat][256], cells.baseline[lat][256]
        local ratio = med(o, "cpu") / med(b, "cpu")
        rows[#rows + 1] = { ("CPU/request at 256 conns, %d ms: octogen / baseline"):format(lat), "<= 1.00",
                            ("%.2f"):format(ratio), yes(ratio <= 1.0) }
    end
    -- all runs together: total worker CPU / total requests
    local agg = {}
    for _, h in ipairs(HANDLERS) do
        local cpu, n = 0, 0
        for _, lat in ipairs(LATENCIES) do
            for _, conns in ipairs(CONNS) do
                for _, r in ipairs(cells[h][lat][conns]) do
                    cpu, n = cpu + r.cpu * r.requests, n + r.requests
                end
            end
        end
        agg[h] = cpu / math.max(n, 1)
    end
    local cpu_all = agg.octogen / agg.baseline
    rows[#rows + 1] = { ("CPU/request, all runs: octogen %.0f us / baseline %.0f us"):format(agg.octogen * 1e6,
        agg.baseline * 1e6), "<= 1.00", ("%.2f"):format(cpu_all), yes(cpu_all <= 1.0) }
    local rss_o, rss_b = rss_kb(apps.octogen:worker()), rss_kb(apps.baseline:worker())
    local rss_ratio = rss_o / rss_b
    rows[#rows + 1] = { ("worker RSS at the end: octogen %.1f MB / baseline %.1f MB"):format(rss_o / 1024,
        rss_b / 1024), "< 2.00", ("%.2f"):format(rss_ratio), yes(rss_ratio < 2) }
    print("targets from the issue (printed, not asserted):")
    print(("  %-62s %8s %9s  %s"):format("", "target", "measured", "met?"))
    for _, r in ipairs(rows) do print(("  %-62s %8s %9s  %s"):format(r[1], r[2], r[3], r[4])) end
    print(("(measured runs %.0f s)"):format(t_runs))

    for _, h in ipairs(HANDLERS) do
        local log = apps[h]:error_log()
        local n = select(2, log:gsub("%[error%]", ""))
        if n > 0 then
            print(("note: %s nginx logged %d errors; the last lines:\n%s"):format(h, n,
                sh.tail(apps[h].prefix .. "/logs/error.log", 5)))
        end
    end
end)
for _, h in ipairs(HANDLERS) do
    if apps[h] then pcall(App.stop, apps[h]) end
end
server:stop()
if not ok then error(err, 0) end
