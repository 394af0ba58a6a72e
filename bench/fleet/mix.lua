-- luacheck: globals wrk setup init request response done counts
-- wrk script of the fleet simulation (bench/fleet/run.lua): a popular-URL
-- mix. `wrk ... -s mix.lua URL -- PATHS_FILE` where PATHS_FILE has one
-- request path per line (/product?url=...), most popular first; path i is
-- picked with weight 1/i (Zipf, s = 1: with 20 paths the first takes about
-- 28% of the requests, the last about 1.4%). At the end it prints one line
-- "FLEET_STATUS <status>=<count> ..." with the answers by status.
local paths, cumulative, total = {}, {}, 0
local threads = {}
-- answers by status; a global, since thread:get() reads the thread's globals
counts = {}

function setup(thread)
    threads[#threads + 1] = thread
end

function init(args)
    local f = assert(io.open(args[1], "r"), "mix.lua: cannot open " .. tostring(args[1]))
    for line in f:lines() do
        if line ~= "" then paths[#paths + 1] = line end
    end
    f:close()
    for i = 1, #paths do
        total = total + 1 / i
        cumulative[i] = total
    end
    math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0))
end

function request()
    local r = math.random() * total
    local lo, hi = 1, #paths
    while lo < hi do
        local mid = math.floor((lo + hi) / 2)
        if cumulative[mid] < r then lo = mid + 1 else hi = mid end
    end
    return wrk.format("GET", paths[lo])
end

function response(status)
    counts[status] = (counts[status] or 0) + 1
end

function done()
    local all = {}
    for _, t in ipairs(threads) do
        -- the thread's `counts` table comes back through wrk's copy
        local c = t:get("counts") or {}
        for status, n in pairs(c) do all[status] = (all[status] or 0) + n end
    end
    local parts = {}
    for status, n in pairs(all) do parts[#parts + 1] = status .. "=" .. n end
    table.sort(parts)
    io.write("FLEET_STATUS ", table.concat(parts, " "), "\n")
end
