-- Start or stop a mock Octogen API server from the shell (make demo, bench).
--
--   lua5.4 spec/support/mockctl.lua start STATEFILE   -- prints the base URL
--   lua5.4 spec/support/mockctl.lua stop STATEFILE
--
-- STATEFILE holds "PID PORT PREFIX". nginx daemonizes itself, so start
-- returns at once and the server keeps running until stop.

local function script_dir()
    local src = debug.getinfo(1, "S").source
    return src:sub(1, 1) == "@" and src:sub(2):match("^(.*)/[^/]*$") or "."
end

-- Find spec/support/mock.lua next to this script, whatever the cwd.
local dir = script_dir()
local mock = dofile(dir .. "/mock.lua")

local cmd, statefile = arg[1], arg[2]
if (cmd ~= "start" and cmd ~= "stop") or not statefile then
    io.stderr:write("usage: mockctl.lua start|stop STATEFILE\n")
    os.exit(2)
end

if cmd == "start" then
    local ok, server = pcall(mock.start)
    if not ok then
        io.stderr:write(tostring(server), "\n")
        os.exit(1)
    end
    server:detach()
    local f, err = io.open(statefile, "w")
    if not f then
        server.detached = false
        server:stop()
        io.stderr:write("mockctl: cannot write ", statefile, ": ", tostring(err), "\n")
        os.exit(1)
    end
    f:write(server.pid, " ", server.port, " ", server.prefix, "\n")
    f:close()
    io.write(server.base_url, "\n")
    os.exit(0)
else
    local f = io.open(statefile, "r")
    if not f then
        io.stderr:write("mockctl: no state file ", statefile, " (not started?)\n")
        os.exit(0)
    end
    local line = f:read("*l") or ""
    f:close()
    local pid, port, prefix = line:match("^(%d+) (%d+) (%S+)")
    if not pid then
        io.stderr:write("mockctl: malformed state file ", statefile, "\n")
        os.exit(1)
    end
    mock.attach(pid, port, prefix):stop()
    os.remove(statefile)
    os.exit(0)
end
