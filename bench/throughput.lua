-- make bench: requests per second over one keep-alive connection against
-- the bundled mock, and the cost of turning a 50-item page into Lua
-- tables against plain cjson.decode of the same bytes. Prints figures and
-- ratios measured in this one run; asserts nothing about speed.
local octogen = require "octogen"
local core = require "octogen.core"
local cjson = require "cjson"
local socket = require "socket"
local http = require "socket.http"
local ltn12 = require "ltn12"
local mock = require "spec.support.mock"

local now = socket.gettime

local function machine()
    local model = "unknown CPU"
    local f = io.open("/proc/cpuinfo")
    if f then
        for line in f:lines() do
            local m = line:match("^model name%s*:%s*(.+)$")
            if m then model = m break end
        end
        f:close()
    end
    local p = io.popen("nproc --all")
    local cores = p and p:read("*l") or "?"
    if p then p:close() end
    return ("%s, %s cores; %s; libcurl %s"):format(model, cores, core.lua_version, core.curl_version)
end

local function median(xs)
    table.sort(xs)
    return xs[math.floor((#xs + 1) / 2)]
end

-- Best-of-rounds rate for `n` calls of f; the median round is printed too.
-- Also the client's own CPU time per call (os.clock counts this process).
local unpack = table.unpack or unpack
local function rate(n, rounds, f)
    local rates, cpu = {}, {}
    for r = 1, rounds do
        local t0, c0 = now(), os.clock()
        for _ = 1, n do f() end
        rates[r] = n / (now() - t0)
        cpu[r] = (os.clock() - c0) / n
    end
    local best = math.max(unpack(rates))
    return best, median(rates), median(cpu)
end

local server = mock.start()
local ok, err = pcall(function()
    local client = octogen.client { api_key = mock.KEY, base_url = server.base_url }
    local search = { catalog = "warrenlotas", limit = 50 }
    assert(client:list_catalogs())
    local page = assert(client:search_products(search))
    assert(#page.items == 50, "need a 50-item page")

    print("octogen-lua " .. octogen.VERSION .. " benchmark")
    print("machine: " .. machine())
    local cpus = "all CPUs"
    local f = io.open("/proc/self/status")
    if f then
        cpus = "CPUs " .. (f:read("*a"):match("Cpus_allowed_list:%s*(%S+)") or "?")
        f:close()
    end
    print("mock: nginx + Lua on 127.0.0.1, one worker; client and mock pinned to " .. cpus ..
        " (make bench uses taskset -c 0)\n")

    local N, ROUNDS = 2000, 5
    local cat_best, cat_med, cat_cpu = rate(N, ROUNDS, function() assert(client:list_catalogs()) end)
    local s_best, s_med, s_cpu = rate(N / 2, ROUNDS, function() assert(client:search_products(search)) end)
    server:reset()
    for _ = 1, 10 do client:list_catalogs() end
    local conns = server:stats().connections

    -- The raw bytes of the same page, fetched by another client.
    local chunks = {}
    http.request {
        url = server.base_url .. "/products/search", method = "POST",
        headers = { authorization = "Bearer " .. mock.KEY, ["content-type"] = "application/json",
                    ["content-length"] = #cjson.encode(search) },
        source = ltn12.source.string(cjson.encode(search)), sink = ltn12.sink.table(chunks),
    }
    local body = table.concat(chunks)
    -- Interleaved rounds, so that a noisy neighbour slows both alike; the
    -- figures are the medians of the rounds.
    local M, CONV_ROUNDS = 400, 15
    local function round(f)
        local t0 = os.clock()
        for _ = 1, M do f() end
        return (os.clock() - t0) / M
    end
    local cj, oc, ratios = {}, {}, {}
    for r = 1, CONV_ROUNDS do
        cj[r] = round(function() return cjson.decode(body) end)
        oc[r] = round(function() return core.decode(body) end)
        ratios[r] = oc[r] / cj[r]
    end
    local t_cjson, t_core, ratio = median(cj), median(oc), median(ratios)

    print(("%-44s %12s %12s %14s"):format("", "best round", "median", "client CPU"))
    print(("%-44s %9.0f /s %9.0f /s %11.1f us"):format("list_catalogs (keep-alive, sequential)",
        cat_best, cat_med, cat_cpu * 1e6))
    print(("%-44s %9.0f /s %9.0f /s %11.1f us"):format("search_products, 50 items (" .. #body .. " B)",
        s_best, s_med, s_cpu * 1e6))
    print(("connections the mock saw for 10 calls: %d"):format(conns))
    print()
    print(("%-44s %9.1f us"):format("cjson.decode of the 50-item page", t_cjson * 1e6))
    print(("%-44s %9.1f us"):format("octogen conversion (snake_case, ints, nulls)", t_core * 1e6))
    print(("%-44s %9.2f"):format("ratio octogen / cjson.decode (median of rounds)", ratio))
    client:close()
end)
server:stop()
if not ok then error(err, 0) end
