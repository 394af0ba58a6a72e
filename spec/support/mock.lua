--- Harness for the mock Octogen API (nginx + lua-nginx-module, see
--- spec/support/mock/). Works under Lua 5.1, 5.3, 5.4 and LuaJIT with
--- luasocket and lua-cjson.
---
---     local mock = require "spec.support.mock"
---     local server = mock.start()          -- opts: {port = n, tls = true, tls_names = {...}, http2 = true}
---     server.base_url                       -- "http://127.0.0.1:PORT/v1"
---     server:fault{status = 429, retry_after = 2, times = 1}
---     ... server:requests(), server:last_request(), server:stats()
---     server:reset(); server:stop()
---
--- stop() is idempotent; a __gc finalizer stops a forgotten server as a last
--- resort. Nothing here ever kills a process it did not start.
---
--- TLS mode, mock.start{tls = true}: at start the openssl CLI makes a
--- throwaway CA (EC P-256, valid one day) and a server certificate signed by
--- it for IP:127.0.0.1 and DNS:localhost (tls_names = {"DNS:wrong.example"}
--- replaces that list), all in the server's private prefix, which stop()
--- removes with the keys. The API, /_mock/ included, is served over https:
---     server.tls = true
---     server.base_url                       -- "https://127.0.0.1:PORT/v1"
---     server.ca_file                        -- the CA certificate (PEM)
---     server.ca_path                        -- a directory with it, hashed (for CAPATH)
--- The harness's own control calls go to a second listener, plain http on
--- another loopback port (server.control_port), that serves /_mock/ only:
--- luasocket cannot speak https without luasec, and this keeps the control
--- path the same code in both modes.

local socket = require "socket"
local http = require "socket.http"
local ltn12 = require "ltn12"
local cjson = require "cjson"

local M = {}

M.KEY = "octo_test_key"
M.DEMO_KEY = "octo_demo_key"
M.LIMITED_KEY = "octo_limited_key"
M.MERCHANT_KEY = "octo_merchant_key"   -- a merchant org: 403 api_key_org_type_forbidden everywhere
M.ADMIN_KEY = "octo_admin_key"         -- principal super_admin, no organization

local START_TIMEOUT = 5     -- seconds until the server must answer
local STOP_TIMEOUT = 4      -- seconds of graceful shutdown before TERM/KILL
local PORT_ATTEMPTS = 8

---------------------------------------------------------------------------
-- small portable helpers (os.execute differs between 5.1 and 5.2+)

-- Loaded by path, not require: mockctl.lua runs this file from any cwd.
local sh = package.loaded["spec.support.sh"] or dofile(
    (debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or ".") .. "/sh.lua")
local sh_ok, quote, read_cmd = sh.sh_ok, sh.quote, sh.read_cmd
local read_file, write_file, tail = sh.read_file, sh.write_file, sh.tail

-- 3.0 -> 3 on Lua 5.3+ (cjson decodes every number as a float there)
local toint = math.tointeger or function(x) return x end
local function intify(v)
    if type(v) == "number" then return toint(v) or v end
    return v
end

-- Absolute directory of this file.
local function here()
    local src = debug.getinfo(1, "S").source
    local dir = src:sub(1, 1) == "@" and src:sub(2):match("^(.*)/[^/]*$") or "."
    if dir:sub(1, 1) ~= "/" then
        local cwd = (read_cmd("pwd") or ""):gsub("%s+$", "")
        dir = cwd .. "/" .. dir
    end
    dir = dir:gsub("/%./", "/"):gsub("/%.$", "")
    return dir
end

local SUPPORT_DIR = here()
M.MOCK_DIR = SUPPORT_DIR .. "/mock"

local function nginx_bin()
    local env = os.getenv("MOCK_NGINX")
    if env and env ~= "" then return env end
    if read_file("/usr/sbin/nginx") then return "/usr/sbin/nginx" end
    return "nginx"
end

local function cjson_cpath()
    local out = read_cmd("ls /usr/lib/*/lua/5.1/cjson.so /usr/local/lib/lua/5.1/cjson.so "
        .. "/usr/lib/lua/5.1/cjson.so 2>/dev/null") or ""
    local dirs = {}
    for path in out:gmatch("[^\n]+") do dirs[#dirs + 1] = path:gsub("cjson%.so$", "?.so") end
    if #dirs == 0 then dirs[1] = "/usr/lib/x86_64-linux-gnu/lua/5.1/?.so" end
    return table.concat(dirs, ";")
end

local free_port = sh.free_port

-- Is `pid` a live (not zombie) process whose command line mentions nginx?
local function alive(pid)
    return sh.alive(pid, "nginx")
end

local function children(pid)
    local out = read_cmd("pgrep -P " .. pid .. " 2>/dev/null") or ""
    local kids = {}
    for p in out:gmatch("%d+") do kids[#kids + 1] = tonumber(p) end
    return kids
end

local function wait_gone(pids, seconds)
    local deadline = socket.gettime() + seconds
    repeat
        local any = false
        for _, p in ipairs(pids) do if alive(p) then any = true end end
        if not any then return true end
        socket.sleep(0.05)
    until socket.gettime() > deadline
    return false
end

local function signal(sig, pids)
    for _, p in ipairs(pids) do
        if alive(p) then os.execute("kill -" .. sig .. " " .. p .. " 2>/dev/null") end
    end
end

---------------------------------------------------------------------------
-- HTTP to the control API

local function request(url, method, body, timeout)
    local chunks = {}
    local headers
    if body then
        headers = { ["content-type"] = "application/json", ["content-length"] = tostring(#body) }
    end
    local ok, code = http.request {
        url = url, method = method, headers = headers,
        source = body and ltn12.source.string(body) or nil,
        sink = ltn12.sink.table(chunks),
        create = function()
            local s = socket.tcp()
            s:settimeout(timeout or 10)
            return s
        end,
    }
    if not ok then return nil, code end
    return tonumber(code), table.concat(chunks)
end

---------------------------------------------------------------------------
-- server object

local Server = {}
Server.__index = Server

function Server:_control(method, path, body)
    local code, res = request(self.control_url .. path, method, body)
    if not code then error("mock: " .. method .. " /_mock" .. path .. " failed: " .. tostring(res), 3) end
    if code ~= 200 then
        error("mock: " .. method .. " /_mock" .. path .. " answered " .. code .. ": " .. res, 3)
    end
    return cjson.decode(res)
end

--- Clear recorded requests, fault rules and counters.
function Server:reset()
    self:_control("POST", "/reset", "{}")
    return self
end

--- Recorded /v1 requests, oldest first: {method, path (as sent, still
--- percent-encoded), decoded_path (nginx's decoded form, which fault rules
--- match), query, headers (lower-case names), body, connection,
--- connection_requests}.
function Server:requests()
    local list = self:_control("GET", "/requests")
    for _, r in ipairs(list) do
        r.connection = intify(r.connection)
        r.connection_requests = intify(r.connection_requests)
    end
    return list
end

--- The newest recorded request, or nil.
function Server:last_request()
    local list = self:requests()
    return list[#list]
end

--- Add one fault rule, or an array of rules. A rule: {path, path_prefix,
--- method, times, latency_ms, status, body, headers, retry_after, mode,
--- seconds, depth, interval, code, detail}; see
--- spec/support/mock/mockserver.lua. Without a body, code = "x" answers
--- {"detail":"x"} and detail = <any value> answers {"detail":<value>}:
---     server:fault{status = 429, code = "concurrency_limit_exceeded", retry_after = 1}
function Server:fault(rules)
    return self:_control("POST", "/faults", cjson.encode(rules))
end

--- Fault rules not yet used up.
function Server:faults()
    return self:_control("GET", "/faults")
end

--- POST a control call: server:control("/domains", {domains = {...}}) goes
--- to /_mock/domains. body: a table (JSON-encoded) or a string. Returns the
--- decoded answer; raises unless the mock answered 200.
function Server:control(path, body)
    if type(body) ~= "string" then body = cjson.encode(body or {}) end
    return self:_control("POST", path, body)
end

--- Settings (POST /_mock/config); every one is restored by reset():
---   newest = true       GET /catalogs and POST /products/refresh answer 404
---                       {"detail":"Not Found"} (section 11.14); default false
---   keyless_limit = n   keyless-trial requests per client IP (default 30)
---   voyage_monthly = n, voyage_concurrent = n   voyage quotas (20, 5)
---   url_list_capacity = n   URLs per list (100000)
---   url_list_limit = n      live lists per organization (5)
---   rate_limit = {per_second = n, burst = m}   a token bucket per organization
---                       (per key without one; keyless: per client IP), m
---                       tokens at first (default max(1, n)), n a second
---                       more; a /v1 request finding none: 429
---                       {"detail":"rate_limit_exceeded"} + Retry-After;
---                       X-RateLimit-Limit n*60, -Remaining whole tokens
---                       left, -Reset the epoch second it is full again.
---                       false (the default): a counter against 600/minute
---                       that never refuses. Setting it refills every bucket.
---   hold_ms = n         every API answer is held n ms before it is sent (0)
--- Returns every setting.
function Server:configure(settings)
    return self:control("/config", settings)
end

--- Replace the GET /domains set (a new ETag); nil restores the default.
--- Entries: {host =, catalog =, catalogDisplayName = (default: the
--- catalog's name)}. Returns {ok = true, etag = the new ETag}.
function Server:set_domains(list)
    if list == nil then return self:control("/domains", "{}") end
    return self:control("/domains", { domains = list })
end

--- Keyless-trial allowance per client IP; used = n (optional) sets how many
--- 127.0.0.1 has already spent.
function Server:set_keyless_limit(n, used)
    return self:control("/keyless", { limit = n, used = used })
end

--- Voyage quotas: {monthly = n, concurrent = n} (either may be left out).
function Server:set_voyage_quota(t)
    return self:control("/voyage_quota", t)
end

--- Move a voyage along: fields {status, phase, progressPercent, result,
--- error} (wire names). status "completed" fills in phase, progress and a
--- result when left out. Returns the task as GET /voyage/{id} shows it.
function Server:update_voyage(task_id, fields)
    local body = {}
    for k, v in pairs(fields or {}) do body[k] = v end
    body.taskId = task_id
    return self:control("/voyage_update", body)
end

--- {requests = recorded /v1 requests, connections = distinct connections,
--- rate_limited = 429s sent by the rate_limit bucket} since the last reset;
--- rate_limited is there only while the bucket is on or after it refused
--- some (so {requests, connections} compares whole without it).
function Server:stats()
    local s = self:_control("GET", "/stats")
    return { requests = intify(s.requests), connections = intify(s.connections),
             rate_limited = intify(s.rate_limited) }
end

--- Stop nginx (graceful QUIT, then TERM, then KILL, all bounded) and remove
--- the prefix. Idempotent.
function Server:stop()
    if self.stopped then return true end
    self.stopped = true
    local pid = self.pid
    if pid and alive(pid) then
        local pids = { pid }
        for _, c in ipairs(children(pid)) do pids[#pids + 1] = c end
        signal("QUIT", { pid })
        if not wait_gone(pids, STOP_TIMEOUT) then
            signal("TERM", pids)
            if not wait_gone(pids, 2) then
                signal("KILL", pids)
                wait_gone(pids, 2)
            end
        end
    end
    local prefix = self.prefix
    if prefix and prefix:match("^/[%w/._-]*octomock%.[%w]+$") then
        os.execute("rm -rf " .. quote(prefix))
    end
    return true
end

--- Keep nginx running after this Lua state ends (disarms the finalizer);
--- used by mockctl.
function Server:detach()
    self.detached = true
    return self
end

function Server:__tostring()
    return "mock.server<" .. tostring(self.base_url) .. (self.stopped and " stopped" or "") .. ">"
end

local function finalize(server)
    if not server.detached and not server.stopped then pcall(Server.stop, server) end
end

Server.__gc = finalize

local function new_server(fields)
    local server = setmetatable(fields, Server)
    local scheme = server.tls and "https" or "http"
    local control_port = server.control_port or server.port
    if _VERSION == "Lua 5.1" then
        -- tables get no __gc in 5.1/LuaJIT: hang it on a userdata proxy
        local proxy = newproxy and newproxy(true)
        if proxy then
            getmetatable(proxy).__gc = function() finalize(server) end
            server._gc_proxy = proxy
        end
    end
    server.base_url = scheme .. "://127.0.0.1:" .. server.port .. "/v1"
    server.control_url = "http://127.0.0.1:" .. control_port .. "/_mock"
    return server
end

---------------------------------------------------------------------------
-- start

local function render(template, vars)
    return (template:gsub("%${([%w_]+)}", function(k)
        local v = vars[k]
        if v == nil then error("mock: template variable " .. k .. " not set") end
        return tostring(v)
    end))
end

-- Shared with spec/support/openresty.lua, which starts nginx the same way.
M.nginx_bin, M.cjson_cpath, M.free_port, M.render = nginx_bin, cjson_cpath, free_port, render

local function make_prefix()
    local dir = (read_cmd("mktemp -d " .. quote((os.getenv("TMPDIR") or "/tmp") .. "/octomock.XXXXXXXX")
        .. " 2>/dev/null") or ""):gsub("%s+$", "")
    if dir == "" then error("mock: mktemp -d failed") end
    for _, sub in ipairs { "conf", "logs", "tmp", "tmp/client_body", "tmp/proxy", "tmp/fastcgi",
                           "tmp/uwsgi", "tmp/scgi" } do
        assert(sh_ok("mkdir -p " .. quote(dir .. "/" .. sub)), "mock: mkdir failed")
    end
    return dir
end

---------------------------------------------------------------------------
-- TLS material (openssl CLI), generated per server into PREFIX/tls

-- The certificate's subjectAltName entries: only "DNS:name" and "IP:addr"
-- with plain characters, since they go into an openssl config file.
local function check_tls_names(names)
    if names == nil then return { "IP:127.0.0.1", "DNS:localhost" } end
    if type(names) ~= "table" or #names == 0 then
        error("mock: tls_names must be a non-empty list like {\"DNS:localhost\", \"IP:127.0.0.1\"}", 0)
    end
    for _, n in ipairs(names) do
        if type(n) ~= "string" or not (n:match("^DNS:[%w.*-]+$") or n:match("^IP:[%x.:]+$")) then
            error("mock: bad tls_names entry " .. tostring(n) .. " (want DNS:name or IP:address)", 0)
        end
    end
    return names
end

local OPENSSL_CNF = [[
[req]
distinguished_name = dn
prompt = no
[dn]
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = ${SAN}
]]

-- Make PREFIX/tls/{ca.crt, ca.key, server.crt, server.key, ca.d/HASH.0};
-- returns the tls directory or raises with openssl's output.
local function make_tls(prefix, names)
    local dir = prefix .. "/tls"
    assert(sh_ok("mkdir -p " .. quote(dir .. "/ca.d")), "mock: mkdir failed")
    local cnf = dir .. "/openssl.cnf"
    write_file(cnf, (OPENSSL_CNF:gsub("%${SAN}", table.concat(names, ", "))))
    local cn = names[1]:match("^%a+:(.*)$")
    local log = dir .. "/openssl.log"
    local ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
    local steps = {
        -- the CA: self-signed, one day
        "openssl req -x509 " .. ec .. " -days 1 -config " .. quote(cnf) .. " -extensions ca_ext"
            .. " -subj '/O=octogen-lua mock/CN=octogen-lua throwaway test CA'"
            .. " -keyout " .. quote(dir .. "/ca.key") .. " -out " .. quote(dir .. "/ca.crt"),
        -- the server key and request
        "openssl req -new " .. ec .. " -config " .. quote(cnf)
            .. " -subj " .. quote("/O=octogen-lua mock/CN=" .. cn)
            .. " -keyout " .. quote(dir .. "/server.key") .. " -out " .. quote(dir .. "/server.csr"),
        -- signed by the CA, one day
        "openssl x509 -req -in " .. quote(dir .. "/server.csr") .. " -CA " .. quote(dir .. "/ca.crt")
            .. " -CAkey " .. quote(dir .. "/ca.key") .. " -set_serial 0x" .. ("%x"):format(os.time())
            .. " -days 1 -extfile " .. quote(cnf) .. " -extensions server_ext"
            .. " -out " .. quote(dir .. "/server.crt"),
    }
    for _, cmd in ipairs(steps) do
        if not sh_ok("umask 077; " .. cmd .. " >>" .. quote(log) .. " 2>&1 </dev/null") then
            error("mock: openssl failed (is the openssl CLI installed?): " .. cmd .. "\n" .. tail(log, 10), 0)
        end
    end
    -- A CApath-style directory: the CA under its subject hash.
    local hash = (read_cmd("openssl x509 -hash -noout -in " .. quote(dir .. "/ca.crt") .. " 2>/dev/null") or "")
        :match("^(%x+)")
    if not hash then error("mock: openssl x509 -hash failed", 0) end
    write_file(dir .. "/ca.d/" .. hash .. ".0", assert(read_file(dir .. "/ca.crt")))
    return dir
end

-- The template with the "#tls " lines kept (TLS mode) or dropped.
local function tls_lines(template, tls)
    local out = {}
    for line in (template .. "\n"):gmatch("(.-)\n") do
        local rest = line:match("^#tls ?(.*)$")
        if rest == nil then
            out[#out + 1] = line
        elseif tls then
            out[#out + 1] = rest
        end
    end
    return table.concat(out, "\n")
end

local function is_root()
    return (read_cmd("id -u 2>/dev/null") or ""):match("^0%s*$") ~= nil
end

local function ready(port, tls_port)
    local code = request("http://127.0.0.1:" .. port .. "/_mock/stats", "GET", nil, 1)
    if code ~= 200 then return false end
    if tls_port then
        -- nginx binds every listener before it daemonizes; check anyway
        local s = socket.tcp()
        s:settimeout(1)
        local ok = s:connect("127.0.0.1", tls_port)
        s:close()
        return ok ~= nil
    end
    return true
end

--- Start a mock server on 127.0.0.1. opts: {port = n} (default: a free
--- port); tls = true for https (see the top of this file), with tls_names
--- the certificate's subjectAltName entries (default {"IP:127.0.0.1",
--- "DNS:localhost"}); workers = n nginx workers (default 1; more share the
--- recording, counters, rate_limit and hold_ms but not the rest of the
--- mock's state: for load only, see mock/mockserver.lua's top).
function M.start(opts)
    opts = opts or {}
    local tls = opts.tls and true or false
    local names
    if tls then
        local ok, err = pcall(check_tls_names, opts.tls_names)
        if not ok then error(err, 2) end
        names = err
    end
    if not read_file("/usr/lib/nginx/modules/ngx_http_lua_module.so") then
        error("mock: /usr/lib/nginx/modules/ngx_http_lua_module.so is missing "
            .. "(install libnginx-mod-http-lua: make deps)", 2)
    end
    local template = assert(read_file(M.MOCK_DIR .. "/nginx.conf"), "mock: nginx.conf template missing")
    template = tls_lines(template, tls)
    local prefix = make_prefix()
    if tls then
        local ok, err = pcall(make_tls, prefix, names)
        if not ok then
            os.execute("rm -rf " .. quote(prefix))
            error(err, 2)
        end
    end
    local workers = opts.workers or 1
    if type(workers) ~= "number" or workers < 1 or workers ~= math.floor(workers) then
        error("mock: workers must be a positive integer", 2)
    end
    local user_line = is_root() and "user root root;" or ""
    local cpath = cjson_cpath()
    local last_err
    for _ = 1, (opts.port and 1 or PORT_ATTEMPTS) do
        local port = opts.port or free_port()
        local control_port = tls and free_port() or nil
        if control_port == port then control_port = free_port() end
        write_file(prefix .. "/conf/nginx.conf", render(template, {
            PORT = port, PREFIX = prefix, MOCKDIR = M.MOCK_DIR, LUA_CPATH = cpath, USER_LINE = user_line,
            WORKERS = workers,
            SSL = tls and (opts.http2 and " ssl http2" or " ssl") or "", CONTROL_PORT = control_port or "-",
        }))
        os.remove(prefix .. "/logs/nginx.pid")
        local log = prefix .. "/logs/error.log"
        local cmd = table.concat({ quote(nginx_bin()), "-p", quote(prefix .. "/"), "-c",
            quote(prefix .. "/conf/nginx.conf"), "-e", quote(log) }, " ")
            .. " >>" .. quote(prefix .. "/logs/startup.log") .. " 2>&1 </dev/null"
        local started = sh_ok(cmd)
        local pid
        if started then
            local deadline = socket.gettime() + START_TIMEOUT
            while socket.gettime() < deadline do
                pid = tonumber((read_file(prefix .. "/logs/nginx.pid") or ""):match("%d+"))
                if pid and ready(control_port or port, control_port and port) then
                    if not tls then
                        return new_server { port = port, pid = pid, prefix = prefix }
                    end
                    return new_server {
                        port = port, pid = pid, prefix = prefix, tls = true, control_port = control_port,
                        ca_file = prefix .. "/tls/ca.crt", ca_path = prefix .. "/tls/ca.d",
                        tls_names = names,
                    }
                end
                socket.sleep(0.02)
            end
            -- started but never answered: stop what we started
            new_server({ port = port, pid = pid, prefix = "", tls = tls, control_port = control_port }):stop()
            last_err = "mock: nginx did not answer on port " .. port .. " within " .. START_TIMEOUT .. " s"
        else
            last_err = "mock: nginx failed to start on port " .. port
        end
        local logs = tail(log, 20) .. "\n" .. tail(prefix .. "/logs/startup.log", 10)
        last_err = last_err .. "\n" .. logs
        if not logs:find("Address already in use", 1, true) then break end
    end
    os.execute("rm -rf " .. quote(prefix))
    error(last_err, 2)
end

--- A server object for an nginx started elsewhere (mockctl, or a mock the
--- cosocket runner's nginx reaches): stop() works. opts.tls and
--- opts.control_port describe one in TLS mode.
function M.attach(pid, port, prefix, opts)
    opts = opts or {}
    return new_server { pid = tonumber(pid), port = tonumber(port), prefix = prefix,
                        tls = opts.tls and true or nil, control_port = tonumber(opts.control_port) }
end

---------------------------------------------------------------------------
-- facts about the data set, computed like the server does

local data_mod
function M.datamodule()
    if not data_mod then data_mod = dofile(M.MOCK_DIR .. "/mockdata.lua") end
    return data_mod
end

setmetatable(M, {
    __index = function(t, k)
        if k == "data" then
            local facts = M.datamodule().facts()
            rawset(t, "data", facts)
            return facts
        end
    end,
})

return M
