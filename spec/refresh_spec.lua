-- refresh_products: batching, merging, invalid targets, partial failure.
local helpers = require "spec.support.helpers"
local mock = helpers.mock

describe("refresh_products", function()
    local server, client, known
    setup(function()
        server = mock.start()
        client = helpers.client(server)
        known = assert(client:search_products { catalog = "tidepool", limit = 3 }).items
    end)
    teardown(function()
        client:close()
        server:stop()
    end)
    before_each(function() server:reset() end)

    local function pinned(i)
        return { catalog = "tidepool", url = ("https://tidepool.example/products/new-drop-%04d"):format(i) }
    end

    it("sends targets as given, a plain string meaning {url = ...}", function()
        local res = assert(client:refresh_products {
            known[1].product_url,
            { uuid = known[2].uuid },
            pinned(1),
        })
        local req = server:last_request()
        assert.equal("POST", req.method)
        assert.equal("/v1/products/refresh", req.path)
        assert.equal('{"targets":[{"url":"' .. known[1].product_url .. '"},{"uuid":"' .. known[2].uuid .. '"},' ..
            '{"catalog":"tidepool","url":"https://tidepool.example/products/new-drop-0001"}]}', req.body)
        assert.equal(3, res.submitted)
        assert.equal(3, #res.accepted)
        assert.same({}, res.rejected)
        assert.equal(1, #res.request_ids)
        assert.equal(1, #res.workflow_ids)
        assert.same({}, res.errors)
    end)

    it("sends 1,234 targets as 3 requests and merges the results", function()
        local targets = {}
        for i = 1, 1234 do targets[i] = pinned(i) end
        local res = assert(client:refresh_products(targets))
        local reqs = server:requests()
        assert.equal(3, #reqs)
        assert.equal(500, #helpers.body(reqs[1]).targets)
        assert.equal(500, #helpers.body(reqs[2]).targets)
        assert.equal(234, #helpers.body(reqs[3]).targets)
        assert.same(pinned(501), helpers.body(reqs[2]).targets[1])
        assert.equal(1234, res.submitted)
        assert.equal(1234, #res.accepted)
        assert.equal(3, #res.request_ids)
        assert.equal(3, #res.workflow_ids)
        assert.equal(targets[1].url, res.accepted[1].url)
        assert.equal(targets[1234].url, res.accepted[1234].url)
    end)

    it("honours batch_size", function()
        local targets = {}
        for i = 1, 10 do targets[i] = pinned(i) end
        assert.truthy(client:refresh_products(targets, { batch_size = 4 }))
        assert.equal(3, #server:requests())
    end)

    it("rejects invalid targets locally as invalid_target, in input order, sending the rest", function()
        local bad_both = { url = "https://tidepool.example/products/x", uuid = "u-1" }
        local targets = { pinned(1), bad_both, {}, 42, pinned(2), { url = "" }, { url = "u", colour = "red" } }
        local res = assert(client:refresh_products(targets))
        assert.equal(7, res.submitted)
        assert.equal(2, #res.accepted)
        assert.equal(5, #res.rejected)
        assert.equal(res.submitted, #res.accepted + #res.rejected)
        assert.equal(bad_both, res.rejected[1].target)
        assert.equal(42, res.rejected[3].target)
        for _, r in ipairs(res.rejected) do
            assert.equal("invalid_target", r.code)
            assert.is_string(r.message)
        end
        assert.equal("target must have exactly one of url or uuid", res.rejected[1].message)
        local body = helpers.body(server:last_request())
        assert.same({ pinned(1), pinned(2) }, body.targets)
    end)

    it("merges the server's rejections with the target as the caller gave it", function()
        local unknown = "https://tidepool.example/products/never-indexed-9999"
        local res = assert(client:refresh_products { known[1].product_url, unknown, { uuid = "no-such-uuid" } })
        assert.equal(1, #res.accepted)
        assert.equal(2, #res.rejected)
        assert.equal(unknown, res.rejected[1].target)
        assert.equal("product_not_found", res.rejected[1].code)
        assert.same({ uuid = "no-such-uuid" }, res.rejected[2].target)
    end)

    it("reports ambiguous URLs as rejected", function()
        local res = assert(client:refresh_products { mock.data.ambiguous_url, known[1].product_url })
        assert.equal(1, #res.accepted)
        assert.equal("ambiguous_url", res.rejected[1].code)
        assert.equal(mock.data.ambiguous_url, res.rejected[1].target)
    end)

    it("returns the server's 400 when every target is rejected, with the merged result", function()
        local res, err = client:refresh_products { "https://tidepool.example/products/never-1", { uuid = "nope" } }
        assert.is_nil(res)
        assert.equal("APIError", err.name)
        assert.equal(400, err.status_code)
        assert.equal(2, err.result.submitted)
        assert.equal(0, #err.result.accepted)
        assert.equal(2, #err.result.rejected)
        assert.equal("product_not_found", err.result.rejected[1].code)
        assert.equal(1, #err.result.request_ids)
    end)

    it("returns a ValidationError with no status when no target can be sent", function()
        local res, err = client:refresh_products { {}, { url = "a", uuid = "b" } }
        assert.is_nil(res)
        assert.equal("ValidationError", err.name)
        assert.is_nil(err.status_code)
        assert.equal(2, #err.result.rejected)
        assert.same({}, server:requests())
    end)

    it("keeps the other batches' work when one batch fails as a whole, after its retries", function()
        local targets = {}
        for i = 1, 12 do targets[i] = pinned(i) end
        local waits = {}
        local patient = helpers.client(server, { sleep = function(s) waits[#waits + 1] = s end })
        -- the first try of batch 1 and both of its retries
        server:fault { path = "/v1/products/refresh", times = 3, status = 503,
            body = '{"detail":"product_refresh_unavailable"}' }
        local res = assert(patient:refresh_products(targets, { batch_size = 5 }))
        assert.equal(5, #server:requests())
        assert.equal(2, #waits)
        assert.equal(3, res.errors[1].attempts)
        assert.equal(12, res.submitted)
        assert.equal(7, #res.accepted)
        assert.equal(5, #res.rejected)
        for i = 1, 5 do
            assert.equal(targets[i], res.rejected[i].target)
            assert.equal("batch_failed", res.rejected[i].code)
            assert.equal("product_refresh_unavailable", res.rejected[i].message)
        end
        assert.equal(1, #res.errors)
        assert.equal("ServerError", res.errors[1].name)
        assert.equal(2, #res.request_ids)
    end)

    it("returns the first batch error when every batch failed", function()
        server:fault { path = "/v1/products/refresh", status = 503, body = '{"detail":"product_refresh_unavailable"}' }
        local res, err = client:refresh_products({ pinned(1), pinned(2) }, { max_retries = 0 })
        assert.is_nil(res)
        assert.equal("ServerError", err.name)
        assert.equal(2, #err.result.rejected)
        assert.equal("batch_failed", err.result.rejected[2].code)
    end)

    it("returns at once on an error about the whole request (401, 403)", function()
        local bad = helpers.client(server, { api_key = "octo_wrong" })
        local targets = {}
        for i = 1, 20 do targets[i] = pinned(i) end
        local res, err = bad:refresh_products(targets, { batch_size = 5 })
        assert.is_nil(res)
        assert.equal("AuthenticationError", err.name)
        assert.equal(1, #server:requests())
        server:reset()
        res, err = client:refresh_products { { catalog = "northwind", url = "https://northwind.example/products/x" } }
        assert.is_nil(res)
        assert.equal("ForbiddenError", err.name)
    end)

    it("raises for arguments that are not a list of targets, or bad options", function()
        for _, c in ipairs {
            { nil, nil, "targets must be a list" },
            { {}, nil, "targets must be a non-empty list" },
            { { a = 1 }, nil, "targets must be a non-empty list" },
            { { "u" }, { batch_size = 501 }, "batch_size must be between 1 and 500, got 501" },
            { { "u" }, { batchsize = 5 }, 'unknown refresh_products option "batchsize"' },
        } do
            local ok, err = pcall(client.refresh_products, client, c[1], c[2])
            assert.is_false(ok)
            assert.equal("InvalidArgumentError", err.name)
            assert.truthy(err.message:find(c[3], 1, true), err.message)
        end
        assert.same({}, server:requests())
    end)
end)
