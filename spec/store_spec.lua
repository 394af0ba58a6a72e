-- octogen.store: one set of cases, run against every backend.
--
--   local        plain busted (this Lua)
--   redis        plain busted, redis-lua over LuaSocket, against a redis-server
--                started here (spec/support/redis.lua: loopback, private dir)
--   shared_dict  inside a real nginx with 4 workers (lua_shared_dict)
--   redis        inside that nginx too: lua-resty-redis over cosockets
--
-- The nginx (spec/support/openresty.lua's start_conf, a private prefix,
-- stopped by pid) runs this same file: its handler loads it with the
-- argument MODE, which makes it return the cases and the handler instead
-- of describing specs. Each case is one request (GET /case); the busted
-- side turns the answer into an `it`.
--
-- Across workers: 16 concurrent requests (spread over 4 workers by
-- reuseport) hit take() on one key whose bucket refills one token per 1000 s:
-- exactly `burst` tokens are granted in all, never one more (a lost update
-- would grant twice) and never one less. With Redis, this Lua process takes
-- from the same key at the same time over the other client library.
local MODE = "octogen-store-cases"

---------------------------------------------------------------------------
-- the cases: plain Lua, no busted (they run inside nginx too)

-- A failed check raises a string naming what was checked.
local function fail(what, want, got)
    error(("%s: want %s, got %s"):format(what, tostring(want), tostring(got)), 3)
end
local function eq(want, got, what) if want ~= got then fail(what, want, got) end end
local function truthy(cond, what) if not cond then fail(what, "true", cond) end end
local function near(want, got, eps, what)
    if type(got) ~= "number" or math.abs(want - got) > eps then fail(what, want .. " +- " .. eps, got) end
end
-- fn raises an error object of class `name`.
local function raises(name, fn, what)
    local ok, e = pcall(fn)
    if ok then fail(what, "a raised " .. name, "no error") end
    if type(e) ~= "table" or e.name ~= name then fail(what, name, type(e) == "table" and e.name or e) end
end
-- A failure of the store: nil and an error object, never a raise.
local function store_failure(what, ok, a, b)
    if not ok then fail(what .. " (must not raise)", "nil, err", a) end
    if a ~= nil then fail(what, "nil, err", a) end
    if type(b) ~= "table" or (b.name ~= "ConnectionError" and b.name ~= "TimeoutError") then
        fail(what .. ": the error", "ConnectionError or TimeoutError", type(b) == "table" and b.name or b)
    end
    eq("redis", b.store, what .. ": err.store")
end

-- t: store, kind, sleep(s), now() (epoch seconds), key(name) (fresh per run).
local CASES = {
    { name = "get answers what set stored, byte for byte; nil for a missing key", run = function(t)
        local s, k = t.store, t.key("kv")
        local bytes = "a\0b\255\r\n{\"x\":[]}" .. ("z"):rep(3000)
        eq(nil, (s:get(k)), "get before set")
        eq(true, s:set(k, bytes, 30), "set")
        eq(bytes, s:get(k), "get")
        eq(true, s:set(k .. "e", "", 30), "set empty")
        eq("", s:get(k .. "e"), "get empty")
    end },

    { name = "set replaces; delete removes, a missing key too", run = function(t)
        local s, k = t.store, t.key("del")
        s:set(k, "one", 30)
        s:set(k, "two", 30)
        eq("two", s:get(k), "after the second set")
        eq(true, s:delete(k), "delete")
        eq(nil, (s:get(k)), "after delete")
        eq(true, s:delete(k), "delete of a missing key")
    end },

    { name = "keys expire after their ttl (set, add)", run = function(t)
        local s, k = t.store, t.key("ttl")
        s:set(k, "v", 0.6)
        s:add(k .. "a", "v", 0.6)
        s:set(k .. "long", "v", 30)
        eq("v", s:get(k), "set, right away")
        eq("v", s:get(k .. "a"), "add, right away")
        t.sleep(1.5)
        eq(nil, (s:get(k)), "set, after its ttl")
        eq(nil, (s:get(k .. "a")), "add, after its ttl")
        eq("v", s:get(k .. "long"), "a longer ttl")
        eq(true, s:add(k .. "a", "again", 30), "add after expiry")
    end },

    { name = "add is a lock: a held key's second add is false until delete", run = function(t)
        local s, k = t.store, t.key("lock")
        eq(true, s:add(k, "owner-1", 30), "first add")
        eq(false, s:add(k, "owner-2", 30), "second add")
        eq("owner-1", s:get(k), "the holder's value stays")
        s:delete(k)
        eq(true, s:add(k, "owner-2", 30), "add after delete")
    end },

    { name = "pause keeps the later of two times", run = function(t)
        local s, k = t.store, t.key("pause")
        local base = 1700000000.123456
        eq(true, s:pause(k, base + 10, 30), "first pause")
        near(base + 10, tonumber(s:get(k)), 1e-5, "stored")
        eq(true, s:pause(k, base + 5, 30), "an earlier pause")
        near(base + 10, tonumber(s:get(k)), 1e-5, "the later one stays")
        s:pause(k, base + 20.5, 30)
        near(base + 20.5, tonumber(s:get(k)), 1e-5, "a later pause replaces it")
        s:pause(k .. "x", base, 0.6)
        t.sleep(1.5)
        eq(nil, (s:get(k .. "x")), "a pause after its ttl")
    end },

    { name = "take: a burst at once, then one interval's wait; a refused take takes nothing", run = function(t)
        local s, k = t.store, t.key("take")
        local T = 1700000000.5                      -- synthetic clock: exact
        for i = 1, 3 do eq(0, s:take(k, 2, 3, T), "take " .. i .. " of the burst") end
        near(0.5, s:take(k, 2, 3, T), 1e-4, "the 4th waits one interval (1/rate)")
        near(0.25, s:take(k, 2, 3, T + 0.25), 1e-4, "a refused take took nothing")
        eq(0, s:take(k, 2, 3, T + 0.5), "a token again one interval later")
        near(0.5, s:take(k, 2, 3, T + 0.5), 1e-4, "and then none")
        for i = 1, 3 do eq(0, s:take(k, 2, 3, T + 100), "after a long idle, take " .. i) end
        truthy(s:take(k, 2, 3, T + 100) > 0, "the burst is the most a bucket holds")
        eq(0, s:take(k .. "b", 1000, nil, T), "burst defaults to 1")
        truthy(s:take(k .. "b", 1000, nil, T) > 0, "burst 1")
    end },

    { name = "take never grants more than rate * elapsed + burst (real clock)", run = function(t)
        local s, k = t.store, t.key("rate")
        local rate, burst = 20, 5
        local grants, calls = 0, 0
        local t0 = t.now()
        while t.now() - t0 < 1 do
            local wait = s:take(k, rate, burst)          -- the backend's own clock
            truthy(type(wait) == "number", "take answers a number")
            calls = calls + 1
            if wait == 0 then grants = grants + 1 end
            t.sleep(0.005)
        end
        local elapsed = t.now() - t0
        truthy(grants <= rate * (elapsed + 0.25) + burst,
            ("%d grants in %.2f s at %d/s, burst %d"):format(grants, elapsed, rate, burst))
        truthy(grants >= rate * elapsed * 0.5, ("only %d grants of %d calls in %.2f s"):format(grants, calls, elapsed))
    end },

    { name = "bad arguments raise InvalidArgumentError; kind names the backend", run = function(t)
        local s = t.store
        eq(t.kind, s.kind, "kind")
        raises("InvalidArgumentError", function() s:get(nil) end, "get(nil)")
        raises("InvalidArgumentError", function() s:set("k", 1, 10) end, "a number value")
        raises("InvalidArgumentError", function() s:set("k", "v", 0) end, "ttl 0")
        raises("InvalidArgumentError", function() s:add("k", "v") end, "no ttl")
        raises("InvalidArgumentError", function() s:pause("k", 0 / 0, 10) end, "pause NaN")
        raises("InvalidArgumentError", function() s:take("k", 0, 1) end, "rate 0")
        raises("InvalidArgumentError", function() s:take("k", 1, 0.5) end, "burst < 1")
    end },
}

-- Redis only: the busted side freezes or kills the server first.
local DOWN_CASES = {
    { name = "Redis hanging: every call fails with nil, err in bounded time, never raises",
      prepare = "freeze", run = function(t)
        local s, k = t.store, t.key("down")
        local t0 = t.now()
        local ok, a, b = pcall(s.get, s, k)
        store_failure("get", ok, a, b)
        eq("TimeoutError", b.name, "the first failure")
        store_failure("set", pcall(s.set, s, k, "v", 10))
        store_failure("add", pcall(s.add, s, k, "v", 10))
        store_failure("delete", pcall(s.delete, s, k))
        store_failure("pause", pcall(s.pause, s, k, 1e9, 10))
        store_failure("take", pcall(s.take, s, k, 1, 1))
        -- timeout 0.1 s: one wait, then the backoff answers at once
        truthy(t.now() - t0 < 2, ("six calls took %.2f s"):format(t.now() - t0))
    end },
    { name = "Redis killed: every call fails with nil, err at once, never raises",
      prepare = "kill", run = function(t)
        local s, k = t.store, t.key("dead")
        local t0 = t.now()
        store_failure("get", pcall(s.get, s, k))
        store_failure("set", pcall(s.set, s, k, "v", 10))
        store_failure("add", pcall(s.add, s, k, "v", 10))
        store_failure("delete", pcall(s.delete, s, k))
        store_failure("pause", pcall(s.pause, s, k, 1e9, 10))
        store_failure("take", pcall(s.take, s, k, 1, 1))
        truthy(t.now() - t0 < 2, ("six calls took %.2f s"):format(t.now() - t0))
    end },
}

---------------------------------------------------------------------------
-- inside nginx: the handler

local function nginx_side()
    local ngx = rawget(_G, "ngx")
    local cjson = require "cjson"
    local store = require "octogen.store"
    local H = { CASES = CASES, DOWN_CASES = DOWN_CASES }
    local runs = 0

    local function context(args)
        local s
        if args.backend == "shared_dict" then
            s = store.new(ngx.shared.octogen_store)
        else
            s = store.new { redis = { port = tonumber(args.port), timeout = 0.1, prefix = "ngx:" } }
        end
        runs = runs + 1
        local run_id = ("%d.%d.%d"):format(ngx.worker.pid(), runs, math.floor(ngx.now() * 1000))
        return {
            store = s, kind = s.kind, sleep = ngx.sleep,
            now = function() ngx.update_time() return ngx.now() end,
            key = function(name) return "spec:" .. run_id .. ":" .. name end,
        }
    end

    local function reply(body)
        ngx.header["Content-Type"] = "application/json"
        ngx.say(cjson.encode(body))
    end

    --- GET /case?backend=shared_dict|redis&port=P&list=down&i=N: run one case.
    function H.case()
        local args = ngx.req.get_uri_args()
        local list = args.list == "down" and DOWN_CASES or CASES
        local case = list[tonumber(args.i)]
        if not case then return reply { ok = false, message = "no case " .. tostring(args.i) } end
        local ok, err = pcall(case.run, context(args))
        reply { ok = ok, message = not ok and tostring(err) or nil }
    end

    --- GET /burst?backend=&port=&key=&n=&burst=&pause=: n takes on key (a
    -- bucket of `burst` refilling one token per 1000 s), and before them a
    -- pause of key.."p" until `pause`; answers the grants and this worker.
    function H.burst()
        local args = ngx.req.get_uri_args()
        local t = context(args)
        local s = t.store
        local grants, errs = 0, {}
        s:pause(args.key .. "p", tonumber(args.pause), 30)
        -- runs of 50 takes without yielding: workers on other CPUs take
        -- at the same instant, which is what a missing lock gets wrong
        for i = 1, tonumber(args.n) do
            local wait, err = s:take(args.key, 0.001, tonumber(args.burst))
            if wait == 0 then grants = grants + 1 end
            if not wait and #errs < 5 then errs[#errs + 1] = tostring(err) end
            if i % 50 == 0 then ngx.sleep(0.001) end
        end
        reply { grants = grants, pid = ngx.worker.pid(), errors = errs, paused = s:get(args.key .. "p") }
    end

    --- GET /get?backend=&port=&key=: the stored value.
    function H.get()
        local args = ngx.req.get_uri_args()
        local value, err = context(args).store:get(args.key)
        reply { value = value, error = err and tostring(err) }
    end

    return H
end

if ... == MODE then return nginx_side() end

---------------------------------------------------------------------------
-- busted

local socket = require "socket"
local cjson = require "cjson"
local store = require "octogen.store"
local redis_server = require "spec.support.redis"

local run_id = 0
local function context(s)
    run_id = run_id + 1
    local prefix = ("spec:%d.%d.%d:"):format(os.time(), math.random(1e6), run_id)
    return {
        store = s, kind = s.kind, sleep = socket.sleep, now = socket.gettime,
        key = function(name) return prefix .. name end,
    }
end

describe("store.new", function()
    it("answers the local store by default and for \"local\"; a store as itself", function()
        assert.equal("local", store.new().kind)
        local s = store.new("local")
        assert.equal("local", s.kind)
        assert.equal(s, store.new(s))
    end)

    it("names the option when it is wrong", function()
        for _, bad in ipairs { "redis", 42, { shared_dict = "octogen" }, { redis = "localhost" },
                               { redis = { port = "6379" } }, { redis = { timeout = 0 } }, {} } do
            local ok, e = pcall(store.new, bad)
            assert.is_false(ok)
            assert.equal("InvalidArgumentError", e.name)
            assert.truthy(e.message:find("option store", 1, true), e.message)
        end
    end)
end)

describe("store backend local", function()
    for _, case in ipairs(CASES) do
        it(case.name, function() case.run(context(store.new())) end)
    end
end)

describe("store backend redis (redis-lua, LuaSocket)", function()
    local server

    lazy_setup(function() server = redis_server.start() end)
    lazy_teardown(function() if server then server:stop() end end)

    local function new_store()
        return store.new { redis = { port = server.port, timeout = 0.1 } }
    end

    for _, case in ipairs(CASES) do
        it(case.name, function() case.run(context(new_store())) end)
    end

    it("AUTH and SELECT: a password and a db", function()
        local locked = redis_server.start { password = "s3cret-pass" }
        finally(function() locked:stop() end)
        local s = store.new { redis = { port = locked.port, password = "s3cret-pass", db = 2, timeout = 0.5 } }
        assert.is_true(s:set("spec:db", "two", 30))
        assert.equal("two", s:get("spec:db"))
        assert.equal("+OK", locked:command("SELECT", "2"))
        local wrong = store.new { redis = { port = locked.port, password = "nope", timeout = 0.5 } }
        local v, err = wrong:get("spec:db")
        assert.is_nil(v)
        assert.equal("ConnectionError", err.name)
    end)

    it("keys carry the prefix; every key has a ttl", function()
        local s = store.new { redis = { port = server.port, prefix = "octo:" } }
        s:set("spec:p1", "v", 30)
        s:add("spec:p2", "v", 30)
        s:pause("spec:p3", 1e9, 30)
        s:take("spec:p4", 1, 2)
        for i = 1, 4 do
            local ttl = server:command("PTTL", "octo:spec:p" .. i)
            local ms = tonumber(ttl:match("^:(%-?%d+)$"))
            assert.truthy(ms and ms > 0 and ms <= 30000, "octo:spec:p" .. i .. " ttl " .. ttl)
        end
    end)

    -- last: they take the server down
    it(DOWN_CASES[1].name .. "; it answers again once thawed and the backoff is over", function()
        local s = new_store()
        assert.is_true(s:set("spec:warm", "v", 30))    -- an open connection first
        server:freeze()
        local ok, err = pcall(DOWN_CASES[1].run, context(s))
        server:thaw()
        assert(ok, err)
        socket.sleep(1.2)
        assert.equal("v", s:get("spec:warm"))
    end)

    it(DOWN_CASES[2].name, function()
        local s = new_store()
        assert.is_true(s:set("spec:warm", "v", 30))
        server:kill()
        DOWN_CASES[2].run(context(s))
    end)
end)

-- The nginx.conf of the 4-worker nginx (spec/support/openresty.lua fills
-- in PORT, PREFIX, ROOT, CJSON_CPATH, USER_LINE).
local NGINX_CONF = [[
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
${USER_LINE}
daemon on;
master_process on;
worker_processes 4;
worker_shutdown_timeout 2s;
error_log ${PREFIX}/logs/error.log error;
pid ${PREFIX}/logs/nginx.pid;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path ${PREFIX}/tmp/client_body;
    proxy_temp_path ${PREFIX}/tmp/proxy;
    fastcgi_temp_path ${PREFIX}/tmp/fastcgi;
    uwsgi_temp_path ${PREFIX}/tmp/uwsgi;
    scgi_temp_path ${PREFIX}/tmp/scgi;
    lua_package_path "${ROOT}/lua/?.lua;${ROOT}/lua/?/init.lua;${ROOT}/?.lua;/usr/share/lua/5.1/?.lua;/usr/share/lua/5.1/?/init.lua";
    lua_package_cpath "${ROOT}/build/luajit/?.so;${CJSON_CPATH};/usr/lib/x86_64-linux-gnu/lua/5.1/?.so";
    lua_socket_log_errors off;
    lua_shared_dict octogen_store 1m;
    init_worker_by_lua_block {
        package.loaded.store_spec_handler = assert(loadfile("${ROOT}/spec/store_spec.lua"))("]] .. MODE .. [[")
    }
    server {
        listen 127.0.0.1:${PORT} reuseport;
        location = /ping { return 200 'pong'; }
        location = /case { content_by_lua_block { package.loaded.store_spec_handler.case() } }
        location = /burst { content_by_lua_block { package.loaded.store_spec_handler.burst() } }
        location = /get { content_by_lua_block { package.loaded.store_spec_handler.get() } }
    }
}
]]

describe("store in nginx, 4 workers", function()
    local openresty = require "spec.support.openresty"
    local sh = require "spec.support.sh"
    local app, server, conf_path

    lazy_setup(function()
        server = redis_server.start()
        conf_path = os.tmpname()
        sh.write_file(conf_path, NGINX_CONF)
        app = openresty.start_conf { template = conf_path }
    end)
    lazy_teardown(function()
        if app then app:stop() end
        if server then server:stop() end
        if conf_path then os.remove(conf_path) end
    end)

    local function get(path)
        local status, body = app:get(path, 30)
        assert.equal(200, status, tostring(body) .. "\n" .. app:error_log())
        return cjson.decode(body)
    end

    local function run_case(backend, list, i)
        local r = get(("/case?backend=%s&port=%d&list=%s&i=%d"):format(backend, server.port, list, i))
        assert(r.ok, r.message)
    end

    -- Exactly `burst` grants from 16 concurrent requests (and, with Redis,
    -- this process's own takes on the same key meanwhile).
    local function burst(backend)
        local key = ("spec:burst:%s:%d:%d"):format(backend, os.time(), math.random(1e6))
        local n, requests, want = 400, 16, 2000
        local paths = {}
        for i = 1, requests do
            paths[i] = ("/burst?backend=%s&port=%d&key=%s&n=%d&burst=%d&pause=%d")
                :format(backend, server.port, key, n, want, 1700000000 + i)
        end
        local batch = openresty.send_all(app.port, paths)
        local mine = 0
        if backend == "redis" then
            local s = store.new { redis = { port = server.port, prefix = "ngx:", timeout = 1 } }
            for _ = 1, 400 do
                local wait = s:take(key, 0.001, want)
                if wait == 0 then mine = mine + 1 end
            end
        end
        local _, results, left = batch:collect(30)
        assert.equal(0, left, "requests unanswered")
        local grants, pids, npids = mine, {}, 0
        for i, r in ipairs(results) do
            assert.equal(200, r.status, "request " .. i .. ": " .. tostring(r.body))
            local body = cjson.decode(r.body)
            assert.same({}, body.errors)
            grants = grants + body.grants
            if not pids[body.pid] then pids[body.pid], npids = true, npids + 1 end
        end
        assert.equal(want, grants, "grants in all (" .. mine .. " from this process)")
        assert.truthy(npids >= 2, "the requests reached " .. npids .. " worker(s)")
        -- every request paused key.."p" until its own time: the latest stays
        local paused = get(("/get?backend=%s&port=%d&key=%sp"):format(backend, server.port, key))
        assert.equal(1700000000 + requests, tonumber(paused.value))
    end

    for _, backend in ipairs { "shared_dict", "redis" } do
        describe(backend, function()
            for i, case in ipairs(CASES) do
                it(case.name, function() run_case(backend, "cases", i) end)
            end
            it("16 concurrent requests over 4 workers: take() grants exactly the burst", function()
                burst(backend)
            end)
        end)
    end

    describe("redis down", function()
        it(DOWN_CASES[1].name, function()
            server:freeze()
            finally(function() server:thaw() end)
            run_case("redis", "down", 1)
        end)
        it(DOWN_CASES[2].name, function()
            server:kill()
            run_case("redis", "down", 2)
        end)
    end)
end)
