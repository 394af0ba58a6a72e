-- Shell and file helpers shared by the test harnesses (the mock's, the
-- OpenResty example's) and the specs. os.execute differs between 5.1 and
-- 5.2+, which sh_ok hides.
local M = {}

--- True when the shell command exits 0.
function M.sh_ok(cmd)
    local a, _, c = os.execute(cmd)
    if type(a) == "number" then return a == 0 end
    return a == true and (c == nil or c == 0)
end

--- s quoted for a POSIX shell.
function M.quote(s)
    return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

--- A command's standard output, or nil when it cannot be started.
function M.read_cmd(cmd)
    local p = io.popen(cmd)
    if not p then return nil end
    local out = p:read("*a")
    p:close()
    return out
end

--- A file's contents, or nil.
function M.read_file(path)
    local f = io.open(path, "rb")
    if not f then return nil end
    local s = f:read("*a")
    f:close()
    return s
end

function M.write_file(path, s)
    local f = assert(io.open(path, "wb"))
    f:write(s)
    f:close()
end

--- The last n (default 20) lines of a file, for error messages.
function M.tail(path, n)
    local s = M.read_file(path)
    if not s or s == "" then return "(empty)" end
    local lines = {}
    for line in s:gmatch("[^\n]+") do lines[#lines + 1] = line end
    return table.concat(lines, "\n", math.max(1, #lines - (n or 20) + 1))
end

--- A free TCP port on 127.0.0.1 (bound, then released).
function M.free_port()
    local socket = require "socket"
    local s = assert(socket.bind("127.0.0.1", 0))
    local _, port = s:getsockname()
    s:close()
    return tonumber(port)
end

--- Is `pid` a live (not zombie) process whose command line mentions
-- `name`? Where there is no /proc, only whether it exists.
function M.alive(pid, name)
    local stat = M.read_file("/proc/" .. pid .. "/stat")
    if stat then
        local st = stat:match("^%d+ %b() (%a)")
        if st == "Z" or st == "X" then return false end
        local cmd = M.read_file("/proc/" .. pid .. "/cmdline") or ""
        return cmd:find(name, 1, true) ~= nil
    end
    if M.read_file("/proc/self/stat") then return false end -- /proc exists: pid gone
    return M.sh_ok("kill -0 " .. pid .. " 2>/dev/null")
end

return M
