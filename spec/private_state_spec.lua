-- Security review, defect 14: nothing private is reachable through a
-- client, and the API key cannot be read back at all once the client is
-- built (nor a token from a provider).
local octogen = require "octogen"
local helpers = require "spec.support.helpers"
local mock = helpers.mock

local KEY = "sk-secret-0123456789"

-- Every value reachable from `root` by following tables, metatables and
-- functions' upvalues (through the debug library only where it is safe:
-- upvalues are what a closure holds, which a caller could read with
-- debug.getupvalue; we do not follow them, since the debug library reaches
-- anything). What an ordinary caller can reach: fields, metatables and
-- their __index tables.
local function reachable_strings(root)
    local seen, out = {}, {}
    local function walk(v)
        if seen[v] then return end
        local t = type(v)
        if t == "string" then out[#out + 1] = v return end
        if t ~= "table" and t ~= "userdata" then return end
        seen[v] = true
        local mt = getmetatable(v)
        if mt ~= nil then walk(mt) end
        if t == "table" then
            for k, x in next, v do walk(k) walk(x) end
        end
    end
    walk(root)
    return out
end

describe("private state", function()
    local server
    setup(function() server = mock.start() end)
    teardown(function() server:stop() end)

    it("offers no private function or config through the client", function()
        local c = helpers.client(server, { api_key = KEY })
        for _, name in ipairs { "_config", "_request", "_start", "_poll", "_set_auth", "_escape",
            "_refresh_batch" } do
            assert.is_nil(c[name], name)
        end
        local index = getmetatable(c).__index
        for name in pairs(index) do
            assert.is_nil(name:match("^_"), "private name in the method table: " .. name)
        end
        c:close()
    end)

    it("leaves the key readable from no value reachable through the client, open or closed", function()
        local c = helpers.client(server, { api_key = KEY })
        local function check()
            for _, s in ipairs(reachable_strings(c)) do
                assert.is_nil(s:find(KEY, 1, true), "the key is reachable: " .. s)
            end
        end
        check()
        c:close()
        check()
    end)

    it("keeps no readable copy of a provider's token", function()
        local token = "tok-from-provider-42"
        local c = helpers.client(server, { api_key = function() return token end })
        -- the mock refuses the token; what matters is what the client keeps
        c:list_catalogs()
        for _, s in ipairs(reachable_strings(c)) do
            assert.is_nil(s:find(token, 1, true), "the token is reachable: " .. s)
        end
        c:close()
    end)

    it("still sends the key after construction", function()
        local c = helpers.client(server, { api_key = mock.KEY })
        server:reset()
        assert.truthy(c:list_catalogs())
        assert.equal("Bearer " .. mock.KEY, server:last_request().headers.authorization)
        c:close()
    end)

    it("refuses to start private names", function()
        local c = helpers.client(server)
        assert.has_error(function() c:start("_refresh_batch", "{}") end)
        c:close()
    end)
end)

describe("the mock's hostile modes", function()
    local server
    setup(function() server = mock.start() end)
    teardown(function() server:stop() end)

    it("serves raw bytes as they are", function()
        server:fault { path = "/v1/catalogs", mode = "raw",
            raw = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n[]" }
        local c = helpers.client(server)
        local res = assert(c:list_catalogs())
        assert.same({}, res)
        c:close()
        assert.truthy(octogen.null)
    end)
end)
