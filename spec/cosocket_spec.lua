-- The specs that define the client, run a second time inside a real nginx
-- (Debian's nginx with libnginx-mod-http-lua: LuaJIT) over the cosocket
-- transport: one set of cases, two runners.
--
-- This file starts that nginx (spec/support/ngx_runner/nginx.conf: one
-- worker, loopback, a private prefix) and asks it to run each spec file of
-- FILES (GET /run?file=...: spec/support/ngx_runner/runner.lua, a
-- busted-compatible runner in a content handler). Every case it reports
-- becomes its own `it` here, named "[cosocket] FILE: full name", failing
-- with the case's message; cases marked "#curl" (libcurl only) are
-- pending. After each file, /probe says which transports the worker's
-- clients used: none of its calls may have gone through libcurl.
--
-- Then the cases that need the busted side: keep-alive across handler
-- requests, one module-level client serving 64 concurrent requests, and a
-- call from init_worker_by_lua. The TLS cases run inside nginx
-- (spec/support/ngx_runner/cosocket_cases.lua) against two TLS mocks
-- started here, whose throwaway CAs are nginx's lua_ssl_trusted_certificate.
--
-- The spec files start their own mocks from inside the worker, with
-- TMPDIR set to the runner's prefix: whatever a crashed case left running
-- is found there and stopped by pid, and nginx itself is stopped by pid in
-- teardown, whatever happened.
local cjson = require "cjson"
local mock = require "spec.support.mock"
local openresty = require "spec.support.openresty"
local sh = require "spec.support.sh"

local ROOT = openresty.ROOT

-- The spec files run over cosockets too.
local FILES = {
    "spec/search_spec.lua",
    "spec/lookup_spec.lua",
    "spec/errors_spec.lua",
    "spec/retry_spec.lua",
    "spec/refresh_spec.lua",
    "spec/client_spec.lua",
    "spec/auth_spec.lua",
    "spec/hostile_calls_spec.lua",
    "spec/hostile_core_spec.lua",
    "spec/async_spec.lua",
    "spec/private_state_spec.lua",
    "spec/request_spec.lua",
    "spec/rate_limit_spec.lua",
    "spec/platform_spec.lua",
    "spec/conformance_spec.lua",
}
-- The cosocket-only cases (TLS, the pool, resolver, proxy, transport = "curl").
local CASES = "spec/support/ngx_runner/cosocket_cases.lua"

-- The runner's own check.
local SELFTEST = "spec/support/ngx_runner/selftest_cases.lua"

-- How long one spec file may take in nginx (each takes a few seconds).
local RUN_TIMEOUT = 180

-- A LUA_PATH/LUA_CPATH with its relative entries made absolute: the child
-- interpreters some specs start from inside nginx run from nginx's
-- working directory (the checkout, but better not to depend on it).
local function absolute(list)
    if not list or list == "" then return nil end
    local out = {}
    for entry in (list .. ";"):gmatch("([^;]*);") do
        if entry ~= "" and entry:sub(1, 1) ~= "/" then entry = ROOT .. "/" .. entry:gsub("^%./", "") end
        out[#out + 1] = entry
    end
    return table.concat(out, ";")
end

local function describe_tls(server)
    return ("%d %d %d %s"):format(server.pid, server.port, server.control_port, server.prefix)
end

-- Mocks started from inside the runner that are still running (their
-- prefixes are under the runner's TMPDIR): stop them by pid; returns how
-- many there were.
local function sweep(app)
    if not app or not app.prefix then return 0 end
    local out = sh.read_cmd("ls -d " .. sh.quote(app.prefix .. "/tmp") .. "/octomock.* 2>/dev/null") or ""
    local n = 0
    for dir in out:gmatch("[^\n]+") do
        local pid = tonumber((sh.read_file(dir .. "/logs/nginx.pid") or ""):match("%d+"))
        if pid then
            n = n + 1
            mock.attach(pid, 0, dir):stop()
        else
            os.execute("rm -rf " .. sh.quote(dir))
        end
    end
    return n
end

-- Should busted die without its teardown (killed by a timeout), a
-- watchdog process stops the nginx servers this file started
-- (spec/support/ngx_runner/watchdog.sh: by pid, after checking each is
-- still that nginx).
local function watch(app, servers)
    local stat = sh.read_file("/proc/self/stat")
    local owner = stat and stat:match("^(%d+)")
    if not owner then return end
    local targets = { app.pid .. ":" .. app.prefix }
    for _, s in ipairs(servers) do targets[#targets + 1] = s.pid .. ":" .. s.prefix end
    -- setsid: out of busted's process group, which timeout(1) signals whole
    os.execute(table.concat({ "setsid", "sh", sh.quote(ROOT .. "/spec/support/ngx_runner/watchdog.sh"), owner,
        sh.quote(app.prefix), table.concat(targets, " ") }, " ") .. " >/dev/null 2>&1 </dev/null &")
end

describe("nginx cosocket runner", function()
    local app, plain, tls_ok, tls_wrong

    local function stop_all()
        if app then
            sweep(app)
            app:stop()
        end
        for _, s in ipairs { plain, tls_ok, tls_wrong } do s:stop() end
    end

    local bundle
    local function start_runner()
        app = openresty.start_conf {
            template = ROOT .. "/spec/support/ngx_runner/nginx.conf",
            vars = {
                CA_BUNDLE = bundle,
                -- OCTOGEN_NGX_CORE_CPATH: another LuaJIT build of the C
                -- core to load (while working on it), default the Makefile's
                CORE_CPATH = os.getenv("OCTOGEN_NGX_CORE_CPATH") or (ROOT .. "/build/luajit/?.so"),
            },
            env = {
                PATH = os.getenv("PATH") or "/usr/local/bin:/usr/bin:/bin",
                HOME = os.getenv("HOME"),
                TMPDIR = "${PREFIX}/tmp",
                MOCK_NGINX = os.getenv("MOCK_NGINX"),
                OCTOGEN_TEST_LUA = os.getenv("OCTOGEN_TEST_LUA") or "lua5.4",
                LUA_PATH = absolute(os.getenv("LUA_PATH")),
                LUA_CPATH = absolute(os.getenv("LUA_CPATH")),
                OCTOGEN_TEST_BASE_URL = plain.base_url,
                OCTOGEN_TEST_TLS_OK = describe_tls(tls_ok),
                OCTOGEN_TEST_TLS_WRONG = describe_tls(tls_wrong),
            },
        }
        watch(app, { plain, tls_ok, tls_wrong })
    end

    local started, start_err = pcall(function()
        plain = mock.start()
        tls_ok = mock.start { tls = true }
        tls_wrong = mock.start { tls = true, tls_names = { "DNS:wrong.example" } }
        bundle = tls_ok.prefix .. "/tls/runner-cas.pem"
        sh.write_file(bundle, assert(sh.read_file(tls_ok.ca_file)) .. assert(sh.read_file(tls_wrong.ca_file)))
        start_runner()
    end)
    if not started then
        pcall(stop_all)
        it("[cosocket] starts nginx with the runner", function() error(start_err, 0) end)
        return
    end
    teardown(stop_all)

    -- The case a run did not finish (from the runner's progress log).
    local function unfinished()
        local log = sh.read_file(app.prefix .. "/logs/runner-progress.log") or ""
        local open
        for line in log:gmatch("[^\n]+") do
            local name = line:match("^START (.*)$")
            if name then open = name elseif line:match("^END ") or line:match("^FILE ") then open = nil end
        end
        return open
    end

    local leftover = 0
    local function get_json(path, timeout)
        local status, body = openresty.get(app.port, path, timeout)
        local ok, value = pcall(cjson.decode, body or "")
        if status ~= 200 or not ok then return nil, ("answered %s: %s"):format(tostring(status), tostring(body)) end
        return value
    end

    -- Run one file in nginx now (definitions happen before any case runs),
    -- and define its cases. A run that hangs or kills the worker fails as
    -- a whole, naming the case it was in, and nginx is started afresh.
    local function run(file, check_transport)
        local short = file:match("([^/]+)$")
        if not app then
            it("[cosocket] " .. short .. " runs in nginx", function() error("nginx could not be restarted", 0) end)
            return
        end
        os.remove(app.prefix .. "/logs/runner-progress.log")
        local cases, err = get_json("/run?file=" .. file, RUN_TIMEOUT)
        if not cases then
            local log, case = app:error_log(), unfinished()
            it("[cosocket] " .. short .. " runs in nginx", function()
                error("the runner " .. err .. (case and ("\nwhile running: " .. case) or "") .. "\n"
                    .. log:sub(-4000), 0)
            end)
            leftover = leftover + sweep(app)
            app:stop()
            app = nil
            local ok, why = pcall(start_runner)
            if not ok then
                it("[cosocket] nginx restarts after " .. short, function() error(why, 0) end)
            end
            return
        end
        for _, c in ipairs(cases) do
            local name = "[cosocket] " .. short .. ": " .. c.name
            if c.status == "skipped" or c.status == "pending" then
                pending(name)
            else
                it(name, function()
                    if c.status ~= "success" then error(c.status .. ": " .. tostring(c.message), 0) end
                end)
            end
        end
        if check_transport then
            local used = get_json("/probe", 10)
            it("[cosocket] " .. short .. ": every call in nginx went over cosockets", function()
                assert.is_table(used)
                assert.is_true(used.ngx_probe, "lua/octogen/transport/ngx.lua is not counted")
                assert.equal(0, used.curl, "calls that went through libcurl (core.request/core.start)")
                assert.is_true(used.ngx > 0, "no call went through the cosocket transport")
            end)
        end
    end

    -- The runner itself first: each outcome must be what busted gives.
    local selftest, selftest_err = get_json("/run?file=" .. SELFTEST, 60)
    it("[cosocket] the runner reports what busted would", function()
        assert.is_table(selftest, selftest_err)
        local got = {}
        for _, c in ipairs(selftest) do got[c.name] = c.status end
        assert.same({
            ["selftest passes"] = "success",
            ["selftest fails an assertion"] = "failure",
            ["selftest raises"] = "error",
            ["selftest is pending"] = "pending",
            ["selftest has no body"] = "pending",
            ["selftest only over libcurl #curl"] = "skipped",
            ["selftest finally runs after the body"] = "success",
            ["selftest a failing finally fails the case"] = "error",
            ["selftest inner runs the hooks in order"] = "success",
            ["selftest inner yields to nginx's event loop"] = "success",
            ["selftest ran the hooks in busted's order"] = "success",
        }, got)
    end)

    for _, file in ipairs(FILES) do run(file, true) end
    run(CASES, false)

    if not app then return end
    leftover = leftover + sweep(app)
    it("[cosocket] the spec files left no mock running", function()
        assert.equal(0, leftover)
    end)

    it("[cosocket] a module-level client keeps one connection across handler requests", function()
        plain:reset()
        for _ = 1, 3 do
            local res = assert(get_json("/shared?n=10", 30))
            assert.equal(10, res.calls)
            assert.equal(2, res.count)
        end
        assert.same({ requests = 30, connections = 1 }, plain:stats())
    end)

    it("[cosocket] one module-level client serves 64 concurrent handler requests", function()
        plain:reset()
        -- each answer held 200 ms: the 64 overlap only if none blocks the worker
        plain:fault { path = "/v1/products/search", latency_ms = 200, times = 64 }
        local paths = {}
        for i = 1, 64 do paths[i] = "/shared?i=" .. i end
        local wall, results, missing = openresty.send_all(app.port, paths):collect(30)
        assert.equal(0, missing, "some requests got no answer:\n" .. app:error_log():sub(-3000))
        local ids = {}
        for _, r in ipairs(results) do
            assert.equal(200, r.status, r.body)
            local body = cjson.decode(r.body)
            assert.equal(2, body.count)
            ids[body.request_ids[1]] = true
        end
        local n = 0
        for _ in pairs(ids) do n = n + 1 end
        assert.equal(64, n)
        local stats = plain:stats()
        assert.equal(64, stats.requests)
        assert.is_true(stats.connections > 1, "the calls did not overlap")
        -- one after another would take 64 x 200 ms = 12.8 s
        assert.is_true(wall < 6.4, ("64 requests took %.1f s"):format(wall))
    end)

    it("[cosocket] a call from init_worker_by_lua raises the documented error", function()
        local report = assert(get_json("/init_worker", 10))
        assert.equal("init_worker", report.phase)
        assert.is_true(report.raised, "the call did not raise: " .. cjson.encode(report))
        assert.equal("InvalidArgumentError", report.name)
        assert.truthy(report.message:find("init_worker", 1, true), report.message)
        assert.truthy(report.message:find("ngx.timer.at", 1, true), report.message)
    end)
end)
