-- TLS: verification on by default, ca_file / ca_path, insecure, and the
-- refusal of plain http to a host that is not loopback. The https servers
-- are the mock in TLS mode (mock.start{tls = true}): a throwaway CA and a
-- certificate for IP:127.0.0.1 and DNS:localhost made at start.
local octogen = require "octogen"
local helpers = require "spec.support.helpers"
local mock = helpers.mock

-- CURLE_PEER_FAILED_VERIFICATION: the peer's certificate or name failed
-- verification (libcurl 7.62+ uses it for both).
local CURLE_PEER_FAILED_VERIFICATION = 60

-- What a call refused at the TLS handshake returns: no status, no request
-- reached the server (so the key never went over that connection).
local function assert_refused(server, ok, err, what)
    assert.is_nil(ok, what)
    assert.is_table(err, what)
    assert.equal("ConnectionError", err.name, what)
    assert.is_true(err:is("ConnectionError"))
    assert.is_false(err:is("TimeoutError"))
    assert.is_nil(err.status_code, what)
    -- libcurl 7.88 (OpenSSL): "SSL certificate problem: unable to get local
    -- issuer certificate", "SSL: no alternative certificate subject name
    -- matches target host name '127.0.0.1'". Both name SSL and certificate.
    local msg = tostring(err.message):lower()
    assert.truthy(msg:find("ssl", 1, true) or msg:find("tls", 1, true), err.message)
    assert.truthy(msg:find("certificate", 1, true), err.message)
    assert.equal(CURLE_PEER_FAILED_VERIFICATION, err.curl_code, err.message)
    assert.same({}, server:requests(), what)
    assert.equal(0, server:stats().requests, what)
end

describe("https to the mock in TLS mode", function()
    local server
    setup(function() server = mock.start { tls = true } end)
    teardown(function() if server then server:stop() end end)
    before_each(function() server:reset() end)

    it("is an https server with its own CA", function()
        assert.is_true(server.tls)
        assert.equal("https://127.0.0.1:" .. server.port .. "/v1", server.base_url)
        assert.is_string(server.ca_file)
        local f = assert(io.open(server.ca_file, "rb"))
        local pem = f:read("*a")
        f:close()
        assert.truthy(pem:find("-----BEGIN CERTIFICATE-----", 1, true))
    end)

    it("verifies the server against ca_file and sends the key over it", function()
        local client = helpers.client(server, { ca_file = server.ca_file })
        local catalogs, meta = client:list_catalogs()
        assert.is_table(catalogs, tostring(meta and meta.message or meta))
        assert.is_true(#catalogs > 0)
        assert.equal(200, meta.status)
        local reqs = server:requests()
        assert.equal(1, #reqs)
        assert.equal("GET", reqs[1].method)
        assert.equal("/v1/catalogs", reqs[1].path)
        assert.equal("Bearer " .. mock.KEY, reqs[1].headers.authorization)
        -- verification on does not show in the client's name
        assert.equal("octogen.client<" .. server.base_url .. ">", tostring(client))
        client:close()
    end)

    it("keeps one TLS connection for sequential calls", function()
        local client = helpers.client(server, { ca_file = server.ca_file })
        for _ = 1, 5 do assert.truthy(client:list_catalogs()) end
        assert.truthy(client:search_products { catalog = "tidepool", limit = 2 })
        assert.same({ requests = 6, connections = 1 }, server:stats())
        client:close()
    end)

    it("verifies against a ca_path directory", function()
        local client = helpers.client(server, { ca_path = server.ca_path })
        local catalogs, err = client:list_catalogs()
        assert.is_table(catalogs, tostring(err))
        assert.equal("Bearer " .. mock.KEY, server:last_request().headers.authorization)
        client:close()
    end)

    it("accepts the name localhost, which the certificate carries", function()
        local client = helpers.client(server, {
            ca_file = server.ca_file, base_url = "https://localhost:" .. server.port .. "/v1",
        })
        local catalogs, err = client:list_catalogs()
        assert.is_table(catalogs, tostring(err))
        assert.equal(1, #server:requests())
        client:close()
    end)

    it("refuses an unknown issuer with the system CAs only, before any request", function()
        local client = helpers.client(server)
        local ok, err = client:list_catalogs()
        assert_refused(server, ok, err, "no ca_file")
        assert.equal("GET", err.method)
        assert.equal(server.base_url .. "/catalogs", err.url)
        -- a POST fails the same way and its body is not sent either
        ok, err = client:search_products { catalog = "tidepool", q = "jacket" }
        assert_refused(server, ok, err, "no ca_file, POST")
        client:close()
    end)

    it("does not retry a verification failure: it cannot change", function()
        local client = helpers.client(server)
        local ok, err = client:list_catalogs()
        assert_refused(server, ok, err, "no ca_file")
        assert.equal(1, err.attempts)
        client:close()
    end)

    it("refuses a ca_file that is not the server's CA", function()
        -- another throwaway CA: the certificate of a second TLS mock
        local other = mock.start { tls = true }
        finally(function() other:stop() end)
        local client = helpers.client(server, { ca_file = other.ca_file })
        local ok, err = client:list_catalogs()
        assert_refused(server, ok, err, "the other server's CA")
        assert.same({}, other:requests())
        client:close()
    end)

    it("connects with insecure = true and says so in its name", function()
        local client = helpers.client(server, { insecure = true })
        local name = tostring(client)
        assert.truthy(name:find("INSECURE", 1, true), name)
        assert.truthy(name:find(server.base_url, 1, true), name)
        assert.falsy(name:find(mock.KEY, 1, true))
        local catalogs, err = client:list_catalogs()
        assert.is_table(catalogs, tostring(err))
        assert.equal("Bearer " .. mock.KEY, server:last_request().headers.authorization)
        client:close()
    end)

    it("insecure = false is the default: verification stays on", function()
        local client = helpers.client(server, { insecure = false })
        assert.falsy(tostring(client):find("INSECURE", 1, true))
        local ok, err = client:list_catalogs()
        assert_refused(server, ok, err, "insecure = false")
        client:close()
    end)

    it("checks the types of the TLS options", function()
        local cases = {
            { { ca_file = 1 }, "option ca_file must be a string, got number" },
            { { ca_path = true }, "option ca_path must be a string, got boolean" },
            { { insecure = "yes" }, "option insecure must be a boolean, got string" },
            { { allow_insecure_http = 1 }, "option allow_insecure_http must be a boolean, got number" },
        }
        for _, c in ipairs(cases) do
            local opts = { api_key = "k", base_url = server.base_url }
            for k, v in pairs(c[1]) do opts[k] = v end
            local ok, err = pcall(octogen.client, opts)
            assert.is_false(ok)
            assert.equal("InvalidArgumentError", err.name)
            assert.truthy(err.message:find(c[2], 1, true), err.message)
        end
    end)
end)

describe("https to a certificate for another host name", function()
    local server
    setup(function() server = mock.start { tls = true, tls_names = { "DNS:wrong.example" } } end)
    teardown(function() if server then server:stop() end end)
    before_each(function() server:reset() end)

    it("is refused with the right CA: host verification is on by default", function()
        for _, base in ipairs { server.base_url, "https://localhost:" .. server.port .. "/v1" } do
            server:reset()
            local client = helpers.client(server, { ca_file = server.ca_file, base_url = base })
            local ok, err = client:list_catalogs()
            assert_refused(server, ok, err, base)
            assert.truthy(err.message:lower():find("name", 1, true), err.message)
            client:close()
        end
    end)

    it("insecure = true turns host verification off too", function()
        local client = helpers.client(server, { insecure = true })
        assert.truthy(tostring(client):find("INSECURE", 1, true))
        local catalogs, err = client:list_catalogs()
        assert.is_table(catalogs, tostring(err))
        assert.equal(1, #server:requests())
        client:close()
    end)
end)

describe("plain http", function()
    -- None of these clients makes a request.
    local function new(base_url, extra)
        local opts = { api_key = "k", base_url = base_url }
        for k, v in pairs(extra or {}) do opts[k] = v end
        return pcall(octogen.client, opts)
    end

    it("to a host that is not loopback raises InvalidArgumentError naming https", function()
        for _, url in ipairs {
            "http://api.example.com/v1",
            "HTTP://API.EXAMPLE.COM/v1",
            "http://api.octogen.ai/v1",
            "http://10.0.0.1:8080/v1",
            "http://localhost.example.com/v1",
            "http://127.0.0.1.example.com/v1",
            "http://127.0.0.1@api.example.com/v1",
            "http://127.0.0.1:80@api.example.com/v1",
            -- libcurl takes the host to be api.example.com in these two:
            -- the "@127.0.0.1" is in the fragment or the query
            "http://api.example.com#@127.0.0.1/v1",
            "http://api.example.com?@127.0.0.1/v1",
        } do
            local ok, err = new(url)
            assert.is_false(ok, url)
            assert.equal("InvalidArgumentError", err.name, url)
            assert.truthy(err.message:lower():find("https", 1, true), err.message)
            assert.is_true(err:is("OctogenError"))
        end
    end)

    it("to such a host is allowed with allow_insecure_http = true", function()
        local ok, client = new("http://api.example.com/v1", { allow_insecure_http = true })
        assert.is_true(ok, tostring(client))
        assert.equal("octogen.client<http://api.example.com/v1>", tostring(client):match("^%S+"))
        client:close()
        ok = new("http://api.example.com/v1", { allow_insecure_http = false })
        assert.is_false(ok)
    end)

    it("to loopback is allowed without the flag", function()
        for _, url in ipairs {
            "http://127.0.0.1/v1",
            "http://127.0.0.1:8080/v1",
            "http://localhost/v1",
            "http://localhost:8080/v1",
            "http://[::1]/v1",
            "http://[::1]:8080/v1",
        } do
            local ok, client = new(url)
            assert.is_true(ok, url .. ": " .. tostring(client))
            client:close()
        end
    end)

    it("https to any host needs no flag", function()
        local ok, client = new("https://api.example.com/v1")
        assert.is_true(ok, tostring(client))
        client:close()
    end)
end)
