-- Contract conformance: the operation table kept from the API contract
-- (spec/fixtures/operations.lua) against the client's one method list
-- (lua/octogen/methods.lua), and each method called once against the mock,
-- which must see exactly one request with that operation's HTTP method and
-- path. This is how the official SDKs found a method that posted to a
-- route that never existed.
local helpers = require "spec.support.helpers"
local methods = require "octogen.methods"
local mock = helpers.mock
local read = require("spec.support.sh").read_file
local unpack = table.unpack or unpack

local OPERATIONS = dofile("spec/fixtures/operations.lua")

-- Operations the client reaches only through client:request(), each
-- with why. Empty today: every operation has a method.
local REACHED_THROUGH_REQUEST = {}

local function by_operation()
    local t = {}
    for _, m in ipairs(methods) do
        if m.operation then
            t[m.operation] = t[m.operation] or {}
            table.insert(t[m.operation], m)
        end
    end
    return t
end

-- An argument for a parameter of `type`: enough for the request to be
-- sent (the answer does not matter here, only what was sent).
local SAMPLE_ID = "conf-1"
local function sample(ty)
    if ty:sub(-1) == "?" then return nil end
    if ty:sub(-2) == "[]" then return { "https://conf.example/p/1" } end
    if ty:match("^string") then return SAMPLE_ID end
    return {}
end

describe("contract conformance", function()
    it("keeps the operation table in step with the contract's section 11.1", function()
        local contract = read("spec/fixtures/octogen-api.md")
        local section = contract:match("### 11%.1 Operation index(.-)### 11%.2")
        assert.is_string(section, "section 11.1 not found in spec/fixtures/octogen-api.md")
        -- The operationIds in the first column of the table's rows.
        local named = {}
        for row in section:gmatch("\n(|[^\n]*)") do
            local first = row:match("^|([^|]*)|")
            for id in first:gmatch("`(%l%w+)`") do
                if id:match("%u") then named[id] = true end
            end
        end
        local missing, listed = {}, {}
        for _, op in ipairs(OPERATIONS) do
            listed[op[1]] = true
            if not op.retired and not named[op[1]] then missing[#missing + 1] = op[1] .. " (not in 11.1)" end
        end
        for id in pairs(named) do
            if not listed[id] then missing[#missing + 1] = id .. " (in 11.1, not in the table)" end
        end
        table.sort(missing)
        assert.same({}, missing)
        assert.equal(17, #OPERATIONS - 2)
    end)

    it("gives every operation a method with its HTTP method and path, or lists it as reached through request()", function()
        local have, wrong = by_operation(), {}
        for _, op in ipairs(OPERATIONS) do
            local ms = have[op[1]]
            if not ms then
                if not REACHED_THROUGH_REQUEST[op[1]] then wrong[#wrong + 1] = op[1] .. ": no method" end
            else
                for _, m in ipairs(ms) do
                    if m.http ~= op[2] or m.path ~= op[3] then
                        wrong[#wrong + 1] = ("%s: %s sends %s %s, the contract says %s %s"):format(
                            op[1], m.name, tostring(m.http), tostring(m.path), op[2], op[3])
                    end
                end
            end
            have[op[1]] = nil
        end
        for id, ms in pairs(have) do
            wrong[#wrong + 1] = ("%s (method %s) is no operation of the contract"):format(id, ms[1].name)
        end
        table.sort(wrong)
        assert.same({}, wrong)
    end)

    describe("each method against the mock", function()
        local server, client
        setup(function()
            server = mock.start()
            client = helpers.client(server, { max_retries = 0 })
        end)
        teardown(function()
            client:close()
            server:stop()
        end)

        local contract = {}
        for _, op in ipairs(OPERATIONS) do contract[op[1]] = op end

        for _, m in ipairs(methods) do
            if m.operation then
                -- What the contract says, not what the method's entry says.
                local op = contract[m.operation] or { m.operation, "?", "?" }
                it(("%s sends exactly one %s %s (%s)"):format(m.name, op[2], op[3], op[1]), function()
                    server:reset()
                    local argv = {}
                    for i, a in ipairs(m.args) do argv[i] = sample(a[2]) end
                    client[m.name](client, unpack(argv, 1, #m.args))
                    local reqs = server:requests()
                    assert.equal(1, #reqs)
                    local want = op[3]:gsub("{[%w_]+}", SAMPLE_ID)
                    assert.equal(op[2], reqs[1].method)
                    assert.equal("/v1" .. want, reqs[1].path)
                end)
            end
        end

        it("sends each cursor-paged method's cursor on its next page", function()
            for _, name in ipairs(methods.cursor_paged) do
                server:reset()
                local m = methods.by_name[name]
                local argv = {}
                for i, a in ipairs(m.args) do argv[i] = sample(a[2]) end
                local params = { cursor = "c-123", limit = 1 }
                argv[m.cursor] = params
                -- The walk stops at the first failure or page; one request either way.
                pcall(function()
                    local next_page = client:pages(name, unpack(argv, 1, #m.args))
                    next_page()
                end)
                local req = server:requests()[1]
                assert.is_table(req, name)
                local sent = req.query:match("cursor=([^&]*)") or (req.body and req.body:match('"cursor":"([^"]*)"'))
                assert.equal("c-123", sent, name)
            end
        end)
    end)
end)
