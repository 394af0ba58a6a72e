--- Harness for examples/openresty/: start Debian's nginx with the Lua module
--- and the example's nginx.conf on a free loopback port, pointed at a
--- running mock (spec/support/mock.lua); stop it by pid.
---
---     local openresty = require "spec.support.openresty"
---     local app = openresty.start { mock = server }   -- opts below
---     app.url                -- "http://127.0.0.1:PORT"
---     app:get("/products?q=hoodie")  --> status, body (blocking, luasocket)
---     app:error_log()        -- the text of its error.log
---     app:stop()             -- idempotent; also run by a finalizer
---
--- opts: mock (a started mock server: its base_url and mock.KEY are passed
--- to nginx as OCTOGEN_BASE_URL and OCTO_API_KEY), or base_url/api_key
--- given directly; env (a table of more variables for nginx, such as
--- OCTOGEN_MAX_RETRIES = "0"); ca_file (lua_ssl_trusted_certificate:
--- default a TLS mock's CA, else Debian's bundle); resolver (default
--- 127.0.0.1: the mocks are addressed by IP, nothing is resolved); vars
--- (more template variables).
---
--- nginx's `env` directive passes a variable from nginx's own environment,
--- so nginx is started with these variables set (and the caller's
--- OCTO_API_KEY/OCTOGEN_PLATFORM_API_KEY removed). The prefix is a fresh
--- temp directory (octoresty.XXXXXXXX) that stop() removes. Processes are
--- stopped by the pid nginx wrote, through mock.attach's stop (QUIT, then
--- TERM, then KILL, bounded); nothing else is ever signalled.

local socket = require "socket"
local mock = require "spec.support.mock"

local M = {}

local START_TIMEOUT = 5
local PORT_ATTEMPTS = 8

local sh = require "spec.support.sh"
local sh_ok, quote, read_cmd = sh.sh_ok, sh.quote, sh.read_cmd
local read_file, write_file, tail = sh.read_file, sh.write_file, sh.tail

-- The checkout: two directories above this file.
local function root()
    local src = debug.getinfo(1, "S").source
    local dir = src:sub(1, 1) == "@" and src:sub(2):match("^(.*)/[^/]*$") or "."
    if dir:sub(1, 1) ~= "/" then
        dir = (read_cmd("pwd") or ""):gsub("%s+$", "") .. "/" .. dir
    end
    dir = dir .. "/../.."
    return ((read_cmd("cd " .. quote(dir) .. " && pwd") or ""):gsub("%s+$", ""))
end

M.ROOT = root()
M.EXAMPLE_DIR = M.ROOT .. "/examples/openresty"
M.MODULE = M.ROOT .. "/build/luajit/octogen/core.so"

local nginx_bin, cjson_cpath, free_port, render = mock.nginx_bin, mock.cjson_cpath, mock.free_port, mock.render

--- One HTTP/1.0 GET on a fresh connection (nginx closes it after the
--- answer): status, body; or nil and an error.
function M.get(port, path, timeout)
    local s = socket.tcp()
    s:settimeout(timeout or 5)
    local ok, err = s:connect("127.0.0.1", port)
    if not ok then s:close() return nil, err end
    s:send("GET " .. path .. " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
    local data, rerr, partial = s:receive("*a")
    s:close()
    data = data or partial
    if not data or data == "" then return nil, rerr end
    local status = tonumber(data:match("^HTTP/%d%.%d (%d%d%d)"))
    local body = data:match("\r\n\r\n(.*)$") or ""
    return status, body
end

--- Concurrent GETs from this one process: connect one socket per path,
--- then send every request at once (t0 is taken just before the first
--- send). batch:collect(timeout) reads the answers as they come with
--- socket.select and returns the wall time from t0 to the last answer and,
--- per path, {status, body, time (seconds after t0)}.
local Batch = {}
Batch.__index = Batch

function M.send_all(port, paths)
    local socks = {}
    for i in ipairs(paths) do
        local s = socket.tcp()
        s:settimeout(2)
        local ok, err = s:connect("127.0.0.1", port)
        if not ok then
            for _, o in ipairs(socks) do o:close() end
            s:close()
            error("openresty: connect failed: " .. tostring(err), 2)
        end
        s:settimeout(0)
        socks[i] = s
    end
    local t0 = socket.gettime()
    for i, s in ipairs(socks) do
        local req = "GET " .. paths[i] .. " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"
        local sent, err = s:send(req)
        if sent ~= #req then error("openresty: send failed: " .. tostring(err), 2) end
    end
    return setmetatable({ t0 = t0, socks = socks, n = #paths }, Batch)
end

function Batch:collect(timeout)
    local deadline = socket.gettime() + (timeout or 5)
    local chunks, results, index, left = {}, {}, {}, self.n
    for i, s in ipairs(self.socks) do
        index[s] = i
        chunks[i] = {}
    end
    local last = self.t0
    while left > 0 and socket.gettime() < deadline do
        local pending = {}
        for i, s in ipairs(self.socks) do
            if not results[i] then pending[#pending + 1] = s end
        end
        local readable = socket.select(pending, nil, math.max(0, deadline - socket.gettime()))
        for _, s in ipairs(readable) do
            local i = index[s]
            local data, err, partial = s:receive(65536)
            local chunk = data or partial
            if chunk and chunk ~= "" then table.insert(chunks[i], chunk) end
            if err == "closed" then
                local now = socket.gettime()
                last = now
                local raw = table.concat(chunks[i])
                results[i] = {
                    status = tonumber(raw:match("^HTTP/%d%.%d (%d%d%d)")),
                    body = raw:match("\r\n\r\n(.*)$") or "",
                    time = now - self.t0,
                }
                left = left - 1
                s:close()
            end
        end
    end
    for i, s in ipairs(self.socks) do
        if not results[i] then
            s:close()
            results[i] = { time = math.huge }
        end
    end
    return last - self.t0, results, left
end

local App = {}
App.__index = App

function App:get(path, timeout)
    return M.get(self.port, path, timeout)
end

function App:error_log()
    return read_file(self.prefix .. "/logs/error.log") or ""
end

function App:stop()
    if self.stopped then return true end
    self.stopped = true
    if self.proc then self.proc:stop() end
    local prefix = self.prefix
    if prefix and prefix:match("^/[%w/._-]*octoresty%.[%w]+$") then
        os.execute("rm -rf " .. quote(prefix))
    end
    return true
end

App.__gc = function(app) pcall(App.stop, app) end

function App:__tostring()
    return "openresty.app<" .. tostring(self.url) .. (self.stopped and " stopped" or "") .. ">"
end

local function new_app(fields)
    local app = setmetatable(fields, App)
    -- Tables have no __gc on 5.1/LuaJIT: a userdata proxy stops a
    -- forgotten nginx at exit there; mock.attach's server has its own.
    if newproxy then
        local proxy = newproxy(true)
        getmetatable(proxy).__gc = function() pcall(App.stop, app) end
        app._gc_proxy = proxy
    end
    return app
end

local function is_root()
    return (read_cmd("id -u 2>/dev/null") or ""):match("^0%s*$") ~= nil
end

--- Start nginx from a template (the example's nginx.conf, or the cosocket
--- runner's, spec/support/ngx_runner/nginx.conf). opts:
---   template  path of the nginx.conf template; it may use ${PORT},
---             ${PREFIX}, ${ROOT}, ${CJSON_CPATH}, ${USER_LINE} and the
---             names in opts.vars
---   vars      more template variables
---   env       variables for nginx's environment (a value may contain
---             ${PREFIX}); OCTO_API_KEY, OCTOGEN_PLATFORM_API_KEY,
---             OCTOGEN_BASE_URL and OCTOGEN_MAX_RETRIES are removed first
---   ready     a path that answers 200 once nginx is up (default "/ping")
--- nginx is started from the checkout: its working directory is ROOT.
function M.start_conf(opts)
    if not read_file(M.MODULE) then
        error("openresty: " .. M.MODULE .. " is missing: run `make LUA=luajit` first", 2)
    end
    if not read_file("/usr/lib/nginx/modules/ngx_http_lua_module.so") then
        error("openresty: /usr/lib/nginx/modules/ngx_http_lua_module.so is missing "
            .. "(install libnginx-mod-http-lua: make deps)", 2)
    end
    local template = read_file(opts.template)
    if not template then error("openresty: " .. tostring(opts.template) .. " is missing", 2) end
    local function vars_for(port, prefix)
        local vars = {
            PORT = port, PREFIX = prefix, ROOT = M.ROOT, CJSON_CPATH = cjson_cpath(),
            USER_LINE = is_root() and "user root root;" or "",
        }
        for k, v in pairs(opts.vars or {}) do vars[k] = v end
        return vars
    end
    -- A variable the template needs and nobody set fails here, before
    -- there is a prefix to clean up.
    local rendered, why = pcall(render, template, vars_for(0, "/"))
    if not rendered then error("openresty: " .. tostring(opts.template) .. ": " .. tostring(why), 2) end
    local prefix = (read_cmd("mktemp -d " .. quote((os.getenv("TMPDIR") or "/tmp") .. "/octoresty.XXXXXXXX")
        .. " 2>/dev/null") or ""):gsub("%s+$", "")
    if prefix == "" then error("openresty: mktemp -d failed", 2) end
    for _, sub in ipairs { "conf", "logs", "tmp/client_body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi",
                           "tmp/scgi" } do
        assert(sh_ok("mkdir -p " .. quote(prefix .. "/" .. sub)), "openresty: mkdir failed")
    end
    local envs = { "env", "-u", "OCTO_API_KEY", "-u", "OCTOGEN_PLATFORM_API_KEY", "-u", "OCTOGEN_BASE_URL",
                   "-u", "OCTOGEN_MAX_RETRIES" }
    for k, v in pairs(opts.env or {}) do
        local value = tostring(v):gsub("%${PREFIX}", function() return prefix end)
        envs[#envs + 1] = quote(k .. "=" .. value)
    end
    local ready = opts.ready or "/ping"
    local log = prefix .. "/logs/error.log"
    local last_err
    for _ = 1, PORT_ATTEMPTS do
        local port = free_port()
        write_file(prefix .. "/conf/nginx.conf", render(template, vars_for(port, prefix)))
        os.remove(prefix .. "/logs/nginx.pid")
        local cmd = "cd " .. quote(M.ROOT) .. " && " .. table.concat(envs, " ") .. " "
            .. table.concat({ quote(nginx_bin()), "-p", quote(prefix .. "/"),
            "-c", quote(prefix .. "/conf/nginx.conf"), "-e", quote(log) }, " ")
            .. " >>" .. quote(prefix .. "/logs/startup.log") .. " 2>&1 </dev/null"
        if sh_ok(cmd) then
            local deadline = socket.gettime() + START_TIMEOUT
            local pid
            while socket.gettime() < deadline do
                pid = pid or tonumber((read_file(prefix .. "/logs/nginx.pid") or ""):match("%d+"))
                if pid and M.get(port, ready, 1) == 200 then
                    return new_app {
                        port = port, pid = pid, prefix = prefix, url = "http://127.0.0.1:" .. port,
                        proc = mock.attach(pid, port, nil),
                    }
                end
                socket.sleep(0.02)
            end
            if pid then mock.attach(pid, port, nil):stop() end
            last_err = "openresty: nginx did not answer on port " .. port .. " within " .. START_TIMEOUT .. " s"
        else
            last_err = "openresty: nginx failed to start on port " .. port
        end
        local logs = tail(log, 20) .. "\n" .. tail(prefix .. "/logs/startup.log", 10)
        last_err = last_err .. "\n" .. logs
        if not logs:find("Address already in use", 1, true) then break end
    end
    os.execute("rm -rf " .. quote(prefix))
    error(last_err, 2)
end

-- Debian's CA bundle (ca-certificates), for lua_ssl_trusted_certificate.
local DEFAULT_CA_FILE = "/etc/ssl/certs/ca-certificates.crt"

--- Start the example. See the top of this file for opts.
function M.start(opts)
    opts = opts or {}
    local env = {
        OCTOGEN_BASE_URL = opts.base_url or (opts.mock and opts.mock.base_url),
        OCTO_API_KEY = opts.api_key or (opts.mock and mock.KEY),
    }
    for k, v in pairs(opts.env or {}) do env[k] = v end
    local vars = {
        -- the mocks are addressed by IP: nginx never asks this resolver,
        -- and a loopback one keeps every packet on the machine
        RESOLVER = opts.resolver or "127.0.0.1",
        CA_FILE = opts.ca_file or (opts.mock and opts.mock.ca_file) or DEFAULT_CA_FILE,
    }
    for k, v in pairs(opts.vars or {}) do vars[k] = v end
    local ok, app = pcall(M.start_conf, { template = M.EXAMPLE_DIR .. "/nginx.conf", env = env, vars = vars })
    if not ok then error(app, 2) end
    return app
end

return M
