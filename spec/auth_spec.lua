-- Token providers: api_key as a function, and OAuth2 client credentials
-- against the mock's /oauth/token.
local octogen = require "octogen"
local helpers = require "spec.support.helpers"
local mock = helpers.mock

describe("api_key as a function", function()
    local server
    setup(function() server = mock.start() end)
    teardown(function() server:stop() end)
    before_each(function() server:reset() end)

    it("sends the token it returns, and reuses it while it is valid", function()
        local calls = 0
        local client = helpers.client(server, { api_key = function()
            calls = calls + 1
            return mock.KEY, 3600
        end })
        for _ = 1, 3 do assert.truthy(client:list_catalogs()) end
        assert.equal(1, calls)
        for _, req in ipairs(server:requests()) do
            assert.equal("Bearer " .. mock.KEY, req.headers.authorization)
        end
    end)

    it("asks again on every request when no lifetime is given", function()
        local calls = 0
        local client = helpers.client(server, { api_key = function()
            calls = calls + 1
            return mock.KEY
        end })
        for _ = 1, 3 do assert.truthy(client:list_catalogs()) end
        assert.equal(3, calls)
    end)

    it("retries a 401 once with a fresh token", function()
        local asked = {}
        local client = helpers.client(server, { api_key = function(refused)
            asked[#asked + 1] = refused or false
            return refused and mock.KEY or "octo_stale", 3600
        end })
        local catalogs, meta = client:list_catalogs()
        assert.is_table(catalogs)
        assert.same({ false, true }, asked)
        assert.equal(2, meta.attempts)
        local reqs = server:requests()
        assert.equal("Bearer octo_stale", reqs[1].headers.authorization)
        assert.equal("Bearer " .. mock.KEY, reqs[2].headers.authorization)
    end)

    it("gives up after that one retry when the fresh token is refused too", function()
        local client = helpers.client(server, { api_key = function() return "octo_wrong", 3600 end })
        local res, err = client:list_catalogs()
        assert.is_nil(res)
        assert.equal("AuthenticationError", err.name)
        assert.equal(2, err.attempts)
        assert.equal(2, #server:requests())
    end)

    it("returns the provider's failure as the call's error, sending nothing", function()
        local client = helpers.client(server, { api_key = function() return nil, "vault is sealed" end })
        local res, err = client:list_catalogs()
        assert.is_nil(res)
        assert.equal("AuthenticationError", err.name)
        assert.truthy(err.message:find("vault is sealed", 1, true))
        assert.same({}, server:requests())
    end)

    it("raises when the provider returns something that is not a string", function()
        local client = helpers.client(server, { api_key = function() return { "token" } end })
        local ok, err = pcall(client.list_catalogs, client)
        assert.is_false(ok)
        assert.equal("InvalidArgumentError", err.name)
        assert.same({}, server:requests())
    end)

    it("returns an AuthenticationError for a token that cannot go into a header, sending nothing", function()
        local client = helpers.client(server, { api_key = function() return "a\r\nX-Evil: 1" end })
        local res, err = client:list_catalogs()
        assert.is_nil(res)
        assert.equal("AuthenticationError", err.name)
        assert.falsy(tostring(err):find("X-Evil", 1, true))
        assert.same({}, server:requests())
    end)

    it("composes with extra per-client headers", function()
        local client = helpers.client(server, { api_key = function() return mock.KEY end,
            headers = { ["X-Seller-Id"] = "seller-9" } })
        assert.truthy(client:list_catalogs())
        local req = server:last_request()
        assert.equal("Bearer " .. mock.KEY, req.headers.authorization)
        assert.equal("seller-9", req.headers["x-seller-id"])
    end)
end)

describe("octogen.auth.client_credentials", function()
    local server, token_url
    setup(function()
        server = mock.start()
        token_url = server.base_url:gsub("/v1$", "") .. "/oauth/token"
    end)
    teardown(function() server:stop() end)
    before_each(function() server:reset() end)

    local function requests_to(path)
        local out = {}
        for _, r in ipairs(server:requests()) do if r.path == path then out[#out + 1] = r end end
        return out
    end

    it("fetches a token with the client credentials grant and uses it", function()
        local client = helpers.client(server, { api_key = octogen.auth.client_credentials {
            token_url = token_url, client_id = "octo_client", client_secret = "octo_secret", scope = "catalog:read",
        } })
        assert.truthy(client:list_catalogs())
        assert.truthy(client:search_products { limit = 1 })
        local tokens = requests_to("/oauth/token")
        assert.equal(1, #tokens)
        assert.equal("POST", tokens[1].method)
        assert.equal("application/x-www-form-urlencoded", tokens[1].headers["content-type"])
        assert.equal("grant_type=client_credentials&scope=catalog%3Aread&client_id=octo_client&client_secret=octo_secret",
            tokens[1].body)
        assert.is_nil(tokens[1].headers.authorization)
        local api = requests_to("/v1/catalogs")
        assert.truthy(api[1].headers.authorization:match("^Bearer oat%-%d+$"))
    end)

    it("fetches once when many started calls need a token at the same moment", function()
        local client = helpers.client(server, { api_key = octogen.auth.client_credentials {
            token_url = token_url, client_id = "octo_client", client_secret = "octo_secret",
        } })
        local calls = {}
        for i = 1, 8 do calls[i] = { "list_catalogs" } end
        local res = client:all(calls, { concurrency = 8 })
        for i = 1, 8 do assert.is_table(res[i][1]) end
        assert.equal(1, #requests_to("/oauth/token"))
        assert.equal(8, #requests_to("/v1/catalogs"))
    end)

    it("can send the credentials with HTTP Basic instead", function()
        local client = helpers.client(server, { api_key = octogen.auth.client_credentials {
            token_url = token_url, client_id = "octo_client", client_secret = "octo_secret", auth_method = "basic",
        } })
        assert.truthy(client:list_catalogs())
        local tok = requests_to("/oauth/token")[1]
        assert.equal("grant_type=client_credentials", tok.body)
        assert.truthy(tok.headers.authorization:match("^Basic "))
    end)

    it("renews the token refresh_margin seconds before it expires", function()
        local provider = octogen.auth.client_credentials {
            token_url = token_url, client_id = "octo_client_ttl_100", client_secret = "octo_secret",
            refresh_margin = 99.5,
        }
        local client = helpers.client(server, { api_key = provider })
        assert.truthy(client:list_catalogs())
        assert.truthy(client:list_catalogs())
        assert.equal(1, #requests_to("/oauth/token"))
        require("socket").sleep(0.7)
        assert.truthy(client:list_catalogs())
        assert.equal(2, #requests_to("/oauth/token"))
        local api = requests_to("/v1/catalogs")
        assert.are_not.equal(api[1].headers.authorization, api[3].headers.authorization)
    end)

    it("fetches a new token when the API refuses the cached one", function()
        local client = helpers.client(server, { api_key = octogen.auth.client_credentials {
            token_url = token_url, client_id = "octo_client", client_secret = "octo_secret",
        } })
        assert.truthy(client:list_catalogs())
        server:_control("POST", "/revoke_tokens", "{}")
        local catalogs, meta = client:list_catalogs()
        assert.is_table(catalogs)
        assert.equal(2, meta.attempts)
        assert.equal(2, #requests_to("/oauth/token"))
    end)

    it("returns the token endpoint's refusal without calling the API or showing the secret", function()
        local client = helpers.client(server, { api_key = octogen.auth.client_credentials {
            token_url = token_url, client_id = "octo_client", client_secret = "wrong-secret-123",
        } })
        local res, err = client:list_catalogs()
        assert.is_nil(res)
        assert.equal("AuthenticationError", err.name)
        assert.equal(401, err.status_code)
        assert.truthy(err.message:find("token request failed", 1, true))
        assert.falsy(tostring(err):find("wrong-secret-123", 1, true))
        assert.equal(0, #requests_to("/v1/catalogs"))
    end)

    it("checks its options", function()
        for _, c in ipairs {
            { { client_id = "a", client_secret = "b" }, "token_url is required" },
            { { token_url = "http://auth.example.com/t", client_id = "a", client_secret = "b" }, "https" },
            { { token_url = token_url, client_id = "a" }, "client_secret is required" },
            { { token_url = token_url, client_id = "a", client_secret = "b", margin = 5 },
                'unknown client_credentials option "margin"' },
        } do
            local ok, err = pcall(octogen.auth.client_credentials, c[1])
            assert.is_false(ok)
            assert.truthy(err.message:find(c[2], 1, true), err.message)
        end
    end)
end)
