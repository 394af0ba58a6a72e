-- The conversion benchmark: octogen's C conversion of an answer into Lua
-- tables (core.decode: snake_case keys, integers, nulls dropped, array
-- metatables) against plain cjson.decode of the same bytes, for the mock's
-- 50-item search page and its list_catalogs answer.
--
--     LUA_PATH="lua/?.lua;lua/?/init.lua;./?.lua;;" LUA_CPATH="build/5.4/?.so;;" lua5.4 bench/convert.lua
--     LUA_PATH=... LUA_CPATH="build/luajit/?.so;;" luajit bench/convert.lua
--
-- The bytes come from the mock at run time (mock.start, one search and one
-- list_catalogs fetched with LuaSocket, then the mock is stopped), so the
-- benchmark sees exactly what the API answers. Method: warm-up, then
-- interleaved rounds (cjson, octogen, cjson, ...) of a fixed count each, so
-- that a noisy neighbour slows both alike; printed are the medians of the
-- rounds and the median of the per-round ratios. CPU time (os.clock).
-- Printed, never asserted.
--
-- Environment: BENCH_ROUNDS=n (default 15), BENCH_VERBOSE=1 every round on
-- stderr, BENCH_CONVERT_SAVE=DIR also writes the bytes to DIR/page.json and
-- DIR/catalogs.json, BENCH_CONVERT_FROM=DIR reads them from there instead of
-- starting the mock (for perf, which should not count nginx).
local core = require "octogen.core"
local cjson = require "cjson"

local ROUNDS = tonumber(os.getenv("BENCH_ROUNDS")) or 15
local VERBOSE = os.getenv("BENCH_VERBOSE")
local SAVE = os.getenv("BENCH_CONVERT_SAVE")
local FROM = os.getenv("BENCH_CONVERT_FROM")
local SEARCH_BODY = '{"catalog":"warrenlotas","limit":50}'

local function read_file(path)
    local f = assert(io.open(path, "rb"))
    local s = f:read("*a")
    f:close()
    return s
end

local function write_file(path, s)
    local f = assert(io.open(path, "wb"))
    f:write(s)
    f:close()
end

local function fetch_bodies()
    local mock = require "spec.support.mock"
    local http = require "socket.http"
    local ltn12 = require "ltn12"
    local server = mock.start()
    local ok, page, catalogs = pcall(function()
        local function raw(method, path, body)
            local chunks = {}
            local _, code = http.request {
                url = server.base_url .. path, method = method,
                headers = { authorization = "Bearer " .. mock.KEY,
                            ["content-type"] = body and "application/json" or nil,
                            ["content-length"] = body and tostring(#body) or nil },
                source = body and ltn12.source.string(body) or nil, sink = ltn12.sink.table(chunks),
            }
            assert(code == 200, "fetch of " .. path .. " answered " .. tostring(code))
            return table.concat(chunks)
        end
        return raw("POST", "/products/search", SEARCH_BODY), raw("GET", "/catalogs")
    end)
    server:stop()
    if not ok then error(page, 0) end
    return page, catalogs
end

local function median(t)
    local s = {}
    for i = 1, #t do s[i] = t[i] end
    table.sort(s)
    local n = #s
    if n % 2 == 1 then return s[(n + 1) / 2] end
    return (s[n / 2] + s[n / 2 + 1]) / 2
end

-- Seconds of CPU per call of f, over count calls.
local function round(f, body, count)
    local t0 = os.clock()
    for _ = 1, count do f(body) end
    return (os.clock() - t0) / count
end

-- Same result shape: a quick guard that the benchmark decodes what it says.
local function check(body)
    local a = assert(core.decode(body))
    local b = cjson.decode(body)
    if b.items then
        assert(#a.items == #b.items, "item counts differ")
    end
end

local function compare(name, body, count)
    check(body)
    local cj_decode, oc_decode = cjson.decode, core.decode
    -- warm-up: the allocator, the string table, LuaJIT's traces
    round(cj_decode, body, count)
    round(oc_decode, body, count)
    local cj, oc, ratios = {}, {}, {}
    for r = 1, ROUNDS do
        cj[r] = round(cj_decode, body, count)
        oc[r] = round(oc_decode, body, count)
        ratios[r] = oc[r] / cj[r]
        if VERBOSE then
            io.stderr:write(("round %2d %-10s cjson %8.2f us  octogen %8.2f us  ratio %.3f\n")
                :format(r, name, cj[r] * 1e6, oc[r] * 1e6, ratios[r]))
        end
    end
    return median(cj), median(oc), median(ratios)
end

local page, catalogs
if FROM then
    page, catalogs = read_file(FROM .. "/page.json"), read_file(FROM .. "/catalogs.json")
else
    page, catalogs = fetch_bodies()
end
if SAVE then
    write_file(SAVE .. "/page.json", page)
    write_file(SAVE .. "/catalogs.json", catalogs)
end

local interp = (jit and jit.version) or _VERSION
print(("conversion benchmark, %s, lua-cjson %s; %d interleaved rounds, medians (CPU time)")
    :format(interp, tostring(cjson._VERSION), ROUNDS))
local rows = {
    { "50-item search page", page, 400, 0.75 },
    { "list_catalogs", catalogs, 20000 },
}
-- Under LuaJIT the issue's target is "no slower than cjson".
if jit then rows[1][4] = 1.0 end
print(("%-22s %9s %12s %12s %9s"):format("answer", "bytes", "cjson us", "octogen us", "ratio"))
for _, row in ipairs(rows) do
    local t_cj, t_oc, ratio = compare(row[1], row[2], row[3])
    local target = ""
    if row[4] then
        target = ("  target <= %.2f: %s"):format(row[4], ratio <= row[4] and "met" or "MISSED")
    end
    print(("%-22s %9d %12.2f %12.2f %9.3f%s"):format(row[1], #row[2], t_cj * 1e6, t_oc * 1e6, ratio, target))
end
