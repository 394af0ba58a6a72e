-- octogen.client(): options, key resolution, tostring, lifecycle.
local octogen = require "octogen"
local helpers = require "spec.support.helpers"
local mock = helpers.mock

describe("octogen module", function()
    it("names its version and the default base URL", function()
        assert.is_string(octogen.VERSION)
        assert.truthy(octogen.VERSION:match("^%d+%.%d+%.%d+$"))
        assert.equal("https://api.octogen.ai/v1", octogen.DEFAULT_BASE_URL)
    end)
end)

describe("octogen.client", function()
    local server
    setup(function() server = mock.start() end)
    teardown(function() server:stop() end)
    before_each(function() server:reset() end)

    it("raises MissingAPIKeyError before any request when no key is found", function()
        local out, ok = helpers.run_lua({ LUA_PATH = os.getenv("LUA_PATH") or "", LUA_CPATH = os.getenv("LUA_CPATH") or "" }, [[
            local octogen = require "octogen"
            local ok, err = pcall(octogen.client, { base_url = "]] .. server.base_url .. [[" })
            print(ok, err.name, err.message)
            ok, err = pcall(octogen.client, { api_key = "", base_url = "]] .. server.base_url .. [[" })
            print(ok, err.name)
        ]])
        assert.is_true(ok, out)
        assert.equal("false\tMissingAPIKeyError\tOctogen API key required. Set OCTO_API_KEY " ..
            "(or OCTOGEN_PLATFORM_API_KEY) or pass api_key.\nfalse\tMissingAPIKeyError\n", out)
        assert.same({}, server:requests())
    end)

    it("reads OCTO_API_KEY, then OCTOGEN_PLATFORM_API_KEY; an empty one counts as unset", function()
        local code = [[
            local octogen = require "octogen"
            local c = octogen.client { base_url = "]] .. server.base_url .. [[" }
            assert(c:list_catalogs())
        ]]
        local base = { LUA_PATH = os.getenv("LUA_PATH") or "", LUA_CPATH = os.getenv("LUA_CPATH") or "" }
        local function with(extra)
            local env = {}
            for k, v in pairs(base) do env[k] = v end
            for k, v in pairs(extra) do env[k] = v end
            return env
        end
        local cases = {
            { { OCTO_API_KEY = mock.KEY }, mock.KEY },
            { { OCTOGEN_PLATFORM_API_KEY = mock.KEY }, mock.KEY },
            { { OCTO_API_KEY = "", OCTOGEN_PLATFORM_API_KEY = mock.KEY }, mock.KEY },
            { { OCTO_API_KEY = mock.KEY, OCTOGEN_PLATFORM_API_KEY = "octo_other" }, mock.KEY },
        }
        for _, c in ipairs(cases) do
            server:reset()
            local out, ok = helpers.run_lua(with(c[1]), code)
            assert.is_true(ok, out)
            assert.equal("Bearer " .. c[2], server:last_request().headers.authorization)
        end
    end)

    it("prefers the api_key option to the environment", function()
        local client = helpers.client(server)
        assert.truthy(client:list_catalogs())
        assert.equal("Bearer " .. mock.KEY, server:last_request().headers.authorization)
    end)

    it("raises InvalidArgumentError naming an unknown option", function()
        local ok, err = pcall(octogen.client, { api_key = "k", timout = 5 })
        assert.is_false(ok)
        assert.equal("InvalidArgumentError", err.name)
        assert.truthy(err.message:find('unknown option "timout"', 1, true))
        assert.is_true(err:is("OctogenError"))
    end)

    it("raises InvalidArgumentError for options of the wrong type or value", function()
        local cases = {
            { { timeout = "5" }, "option timeout must be a number, got string" },
            { { timeout = 0 }, "option timeout must be greater than 0" },
            { { connect_timeout = -1 }, "option connect_timeout must be greater than 0" },
            { { base_url = "ftp://x" }, "option base_url must be an http:// or https:// URL" },
            { { headers = { ["X-Seller"] = "a\r\nX-Evil: 1" } }, "header X-Seller contains CR, LF or NUL" },
            { { headers = { ["Bad Name"] = "v" } }, "is not a valid HTTP token" },
            { { headers = { Authorization = "Bearer x" } }, "is set by the client (use the api_key option)" },
            { { user_agent = "x\ny" }, "user_agent contains CR, LF or NUL" },
            { { api_key = "abc\r\ndef" }, "api_key contains whitespace, CR, LF or NUL" },
        }
        for _, c in ipairs(cases) do
            local opts = { api_key = "k" }
            for k, v in pairs(c[1]) do opts[k] = v end
            local ok, err = pcall(octogen.client, opts)
            assert.is_false(ok)
            assert.equal("InvalidArgumentError", err.name)
            assert.truthy(err.message:find(c[2], 1, true), err.message)
        end
        local ok, err = pcall(octogen.client, "key")
        assert.is_false(ok)
        assert.truthy(err.message:find("expects a table of options, got string", 1, true))
    end)

    it("never shows the key, even in the error about a bad key", function()
        local ok, err = pcall(octogen.client, { api_key = "secret-123\n" })
        assert.is_false(ok)
        assert.falsy(tostring(err):find("secret", 1, true))
        local client = octogen.client { api_key = "secret-123", base_url = "http://127.0.0.1:9/v1/" }
        assert.equal("octogen.client<http://127.0.0.1:9/v1>", tostring(client))
    end)

    it("uses the default base URL, tolerating a trailing slash on one given", function()
        assert.equal("octogen.client<https://api.octogen.ai/v1>", tostring(octogen.client { api_key = "k" }))
        local client = helpers.client(server, { base_url = server.base_url .. "/" })
        assert.truthy(client:list_catalogs())
        assert.equal("/v1/catalogs", server:last_request().path)
    end)

    it("sends extra headers and an appended user agent on every request", function()
        local client = helpers.client(server, {
            headers = { ["X-Seller-Id"] = "seller-7", ["X-Trace"] = "abc" },
            user_agent = "my-app/2.0",
        })
        assert.truthy(client:list_catalogs())
        assert.truthy(client:search_products { catalog = "tidepool", limit = 1 })
        for _, req in ipairs(server:requests()) do
            assert.equal("seller-7", req.headers["x-seller-id"])
            assert.equal("abc", req.headers["x-trace"])
            assert.equal(octogen.USER_AGENT .. " my-app/2.0", req.headers["user-agent"])
            assert.truthy(req.headers["user-agent"]:match("^octogen%-lua/"))
        end
    end)

    it("close() is idempotent and a closed client says so when used", function()
        local client = helpers.client(server)
        client:close()
        client:close()
        assert.equal("octogen.client<" .. server.base_url .. "> (closed)", tostring(client))
        for _, call in ipairs {
            function() return client:list_catalogs() end,
            function() return client:search_products {} end,
            function() return client:lookup_product "https://x.example/p" end,
            function() return client:refresh_products { "https://x.example/p" } end,
            function() return client:request("GET", "catalogs") end,
            function() return client:pages {} end,
        } do
            local ok, err = pcall(call)
            assert.is_false(ok)
            assert.truthy(tostring(err):find("client is closed", 1, true))
        end
        assert.same({}, server:requests())
    end)

    it("is freed by the garbage collector", function()
        local weak = setmetatable({}, { __mode = "v" })
        do
            local client = helpers.client(server)
            assert.truthy(client:list_catalogs())
            weak[1] = client
        end
        collectgarbage()
        collectgarbage()
        assert.is_nil(weak[1])
    end)

    it("rejects calls made with '.' instead of ':'", function()
        local client = helpers.client(server)
        local ok, err = pcall(client.list_catalogs)
        assert.is_false(ok)
        assert.equal("InvalidArgumentError", err.name)
        assert.truthy(err.message:find("call methods with ':'", 1, true))
    end)

    if _VERSION == "Lua 5.4" then
        it("closes on leaving a to-be-closed scope", function()
            local client = helpers.client(server)
            local f = assert(load([[
                local client = ...
                do local c <close> = client end
            ]]))
            f(client)
            assert.truthy(tostring(client):find("(closed)", 1, true))
        end)
    end
end)
