--- Harness for a throwaway Redis: Debian's redis-server on 127.0.0.1, on a
--- free port, in a private temp directory, stopped by its pid.
---
---     local redis = require "spec.support.redis"
---     local server = redis.start()        -- opts: {password = "..."}
---     server.port, server.host, server.pid, server.dir
---     server:ping()        -- true when it answers PING
---     server:command("GET", "k")  -- one command over a fresh connection: the reply's text (or nil, err)
---     server:kill()        -- SIGKILL: Redis dies mid-run (no cleanup of the dir yet)
---     server:freeze()      -- SIGSTOP: Redis hangs (connects succeed, nothing answers)
---     server:thaw()        -- SIGCONT
---     server:stop()        -- TERM (then KILL), remove the dir; idempotent, also a finalizer
---
--- Nothing persists (--save "", --appendonly no) and nothing is written
--- outside the private directory (redis.conf, redis.pid, redis.log there).
--- Signals go only to the pid this harness started, checked first to still
--- be a live redis-server (a pid reused by another process is left alone).
--- Works under Lua 5.1, 5.4 and LuaJIT with luasocket.
local socket = require "socket"
local sh = require "spec.support.sh"

local sh_ok, quote, read_cmd = sh.sh_ok, sh.quote, sh.read_cmd
local read_file, write_file, tail = sh.read_file, sh.write_file, sh.tail

local M = {}

local START_TIMEOUT = 5
local STOP_TIMEOUT = 3
local PORT_ATTEMPTS = 8

function M.bin()
    local env = os.getenv("REDIS_SERVER")
    if env and env ~= "" then return env end
    if read_file("/usr/bin/redis-server") then return "/usr/bin/redis-server" end
    return "redis-server"
end

local free_port = sh.free_port

-- Is pid a live (not zombie) redis-server?
local function alive(pid)
    return sh.alive(pid, "redis-server")
end

local function signal(sig, pid)
    if pid and alive(pid) then os.execute("kill -" .. sig .. " " .. pid .. " 2>/dev/null") end
end

local function wait_gone(pid, seconds)
    local deadline = socket.gettime() + seconds
    repeat
        if not alive(pid) then return true end
        socket.sleep(0.02)
    until socket.gettime() > deadline
    return not alive(pid)
end

-- One command in RESP over a fresh connection; the first reply line.
local function raw(port, args, timeout)
    local s = socket.tcp()
    s:settimeout(timeout or 1)
    local ok, err = s:connect("127.0.0.1", port)
    if not ok then s:close() return nil, err end
    local parts = { "*" .. #args .. "\r\n" }
    for _, a in ipairs(args) do
        a = tostring(a)
        parts[#parts + 1] = "$" .. #a .. "\r\n" .. a .. "\r\n"
    end
    s:send(table.concat(parts))
    local line, rerr = s:receive("*l")
    local out = line
    if line and line:match("^%$%d+$") then
        out = s:receive(tonumber(line:sub(2)))
    elseif line == "$-1" then
        out = false
    end
    s:close()
    if not line then return nil, rerr end
    return out
end

local Server = {}
Server.__index = Server

--- The reply to one command (password sent first when there is one):
--- status or error lines as text ("+OK", "-ERR ..."), ":n" integers, a
--- bulk string's contents, false for a nil bulk; nil, err when unreachable.
function Server:command(...)
    local args = { ... }
    if self.password then
        local s = socket.tcp()
        s:settimeout(1)
        local ok, err = s:connect("127.0.0.1", self.port)
        if not ok then s:close() return nil, err end
        local function send(a)
            local parts = { "*" .. #a .. "\r\n" }
            for _, x in ipairs(a) do parts[#parts + 1] = "$" .. #x .. "\r\n" .. x .. "\r\n" end
            s:send(table.concat(parts))
            local line, rerr = s:receive("*l")
            if line and line:match("^%$%d+$") then return s:receive(tonumber(line:sub(2))) end
            if line == "$-1" then return false end
            return line, rerr
        end
        send { "AUTH", self.password }
        local out, rerr = send(args)
        s:close()
        return out, rerr
    end
    return raw(self.port, args)
end

function Server:ping()
    local line = self:command("PING")
    return line == "+PONG"
end

function Server:kill()
    signal("KILL", self.pid)
    wait_gone(self.pid, STOP_TIMEOUT)
    return true
end

function Server:freeze()
    signal("STOP", self.pid)
    return true
end

function Server:thaw()
    signal("CONT", self.pid)
    return true
end

function Server:stop()
    if self.stopped then return true end
    self.stopped = true
    local pid = self.pid
    if pid and alive(pid) then
        signal("TERM", pid)
        signal("CONT", pid)   -- a frozen one handles TERM only once it runs
        if not wait_gone(pid, STOP_TIMEOUT) then
            signal("KILL", pid)
            wait_gone(pid, 2)
        end
    end
    local dir = self.dir
    if dir and dir:match("^/[%w/._-]*octoredis%.[%w]+$") then os.execute("rm -rf " .. quote(dir)) end
    return true
end

function Server:log()
    return read_file(self.dir .. "/redis.log") or ""
end

function Server:__tostring()
    return "redis.server<127.0.0.1:" .. tostring(self.port) .. (self.stopped and " stopped" or "") .. ">"
end

Server.__gc = function(server) pcall(Server.stop, server) end

local function new_server(fields)
    local server = setmetatable(fields, Server)
    -- tables get no __gc in 5.1/LuaJIT: hang it on a userdata proxy
    if newproxy then
        local proxy = newproxy(true)
        getmetatable(proxy).__gc = function() pcall(Server.stop, server) end
        server._gc_proxy = proxy
    end
    return server
end

local CONF = [[
bind 127.0.0.1
protected-mode yes
port ${PORT}
daemonize no
save ""
appendonly no
dir ${DIR}
pidfile ${DIR}/redis.pid
logfile ${DIR}/redis.log
loglevel notice
databases 4
${AUTH}
]]

--- Start a Redis; opts.password sets requirepass.
function M.start(opts)
    opts = opts or {}
    if opts.password ~= nil and not tostring(opts.password):match("^[%w._-]+$") then
        error("redis: password must be letters, digits, '.', '_' or '-' (it goes into redis.conf)", 2)
    end
    local bin = M.bin()
    if not sh_ok("command -v " .. quote(bin) .. " >/dev/null 2>&1") then
        error("redis: " .. bin .. " not found (install redis-server: make deps)", 2)
    end
    local dir = (read_cmd("mktemp -d " .. quote((os.getenv("TMPDIR") or "/tmp") .. "/octoredis.XXXXXXXX")
        .. " 2>/dev/null") or ""):gsub("%s+$", "")
    if dir == "" then error("redis: mktemp -d failed", 2) end
    local last_err
    for _ = 1, PORT_ATTEMPTS do
        local port = free_port()
        local conf = CONF:gsub("%${(%w+)}", {
            PORT = tostring(port), DIR = dir,
            AUTH = opts.password and ("requirepass " .. opts.password) or "",
        })
        write_file(dir .. "/redis.conf", conf)
        os.remove(dir .. "/redis.pid")
        os.remove(dir .. "/redis.log")
        -- In the background; `$!` is redis-server's own pid (the shell
        -- execs a simple background command in its child).
        local out = read_cmd("cd " .. quote(dir) .. " && " .. quote(bin) .. " " .. quote(dir .. "/redis.conf")
            .. " >" .. quote(dir .. "/stdout.log") .. " 2>&1 </dev/null & echo $!") or ""
        local pid = tonumber(out:match("%d+"))
        if pid then
            local server = new_server { host = "127.0.0.1", port = port, pid = pid, dir = dir,
                                        password = opts.password }
            local deadline = socket.gettime() + START_TIMEOUT
            while socket.gettime() < deadline and alive(pid) do
                if server:ping() then return server end
                socket.sleep(0.02)
            end
            last_err = "redis: redis-server did not answer on port " .. port .. " within " .. START_TIMEOUT .. " s\n"
                .. tail(dir .. "/redis.log", 10) .. "\n" .. tail(dir .. "/stdout.log", 5)
            -- stop this attempt's process without removing the dir yet
            signal("KILL", pid)
            wait_gone(pid, 2)
            server.stopped = true
            if not (server:log() .. (read_file(dir .. "/stdout.log") or "")):find("in use", 1, true) then break end
        else
            last_err = "redis: could not start " .. bin
            break
        end
    end
    os.execute("rm -rf " .. quote(dir))
    error(last_err, 2)
end

return M
