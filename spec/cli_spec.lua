-- bin/octogen, the command-line tool, run in a child interpreter (the
-- suite's: OCTOGEN_TEST_LUA) against the mock API.
local helpers = require "spec.support.helpers"
local mock = helpers.mock
local cjson = require "cjson"
local socket = require "socket"

local LUA = os.getenv("OCTOGEN_TEST_LUA") or "lua5.4"
local SCRIPT = "bin/octogen"
local WRONG_KEY = "octo_wrong_secret_4711"

local sh = require "spec.support.sh"
local shell_quote = sh.quote

local function read_file(path)
    return assert(sh.read_file(path), "cannot read " .. path)
end

local function write_file(path, s)
    local f = assert(io.open(path, "wb"))
    f:write(s)
    f:close()
end

local function sh_ok(cmd)
    local a, _, c = os.execute(cmd)
    if type(a) == "number" then return a == 0 end
    return a == true and (c == nil or c == 0)
end

local function lines(s)
    local out = {}
    for line in s:gmatch("([^\n]*)\n") do out[#out + 1] = line end
    return out
end

local function ulen(s)
    local _, n = s:gsub("[^\128-\191]", "")
    return n
end

-- Every key a run may know; none may ever be printed.
local SECRETS = { mock.DEMO_KEY, mock.KEY, WRONG_KEY }

local function assert_no_key(...)
    for _, text in ipairs { ... } do
        for _, key in ipairs(SECRETS) do
            assert.is_nil(text:find(key, 1, true), "the key " .. key .. " was printed:\n" .. text)
        end
    end
end

describe("bin/octogen", function()
    local server, base_env

    -- The command line for bin/octogen with `env` (false unsets a name):
    -- a string to run with sh -c.
    local function command_line(env, args)
        local parts = { "env", "-u", "OCTO_API_KEY", "-u", "OCTOGEN_PLATFORM_API_KEY", "-u", "OCTOGEN_BASE_URL",
            "-u", "COLUMNS" }
        local merged = {}
        for k, v in pairs(base_env) do merged[k] = v end
        for k, v in pairs(env or {}) do merged[k] = v end
        for k, v in pairs(merged) do
            if v ~= false then parts[#parts + 1] = shell_quote(k .. "=" .. v) end
        end
        parts[#parts + 1] = LUA
        parts[#parts + 1] = SCRIPT
        for _, a in ipairs(args) do parts[#parts + 1] = shell_quote(a) end
        return table.concat(parts, " ")
    end

    --- Run bin/octogen; returns stdout, stderr, exit status. Stdout and
    --- stderr are files, not terminals. opts: {env = {...}, stdin = text}.
    local function octogen(args, opts)
        opts = opts or {}
        local out_path, err_path = os.tmpname(), os.tmpname()
        local stdin = "/dev/null"
        local in_path
        if opts.stdin then
            in_path = os.tmpname()
            write_file(in_path, opts.stdin)
            stdin = in_path
        end
        local cmd = command_line(opts.env, args) .. " <" .. shell_quote(stdin) .. " >" .. shell_quote(out_path)
            .. " 2>" .. shell_quote(err_path) .. "; echo $?"
        local p = assert(io.popen(cmd))
        local status = tonumber(p:read("*a"):match("%d+"))
        p:close()
        local out, err = read_file(out_path), read_file(err_path)
        os.remove(out_path)
        os.remove(err_path)
        if in_path then os.remove(in_path) end
        assert_no_key(out, err)
        return out, err, status
    end

    local function client()
        return helpers.client(server)
    end

    local function recorded(path)
        local list = {}
        for _, r in ipairs(server:requests()) do
            if r.path == path then list[#list + 1] = r end
        end
        return list
    end

    setup(function()
        server = mock.start()
        base_env = {
            LUA_PATH = os.getenv("LUA_PATH") or "", LUA_CPATH = os.getenv("LUA_CPATH") or "",
            OCTO_API_KEY = mock.DEMO_KEY, OCTOGEN_BASE_URL = server.base_url,
        }
    end)
    teardown(function() server:stop() end)
    before_each(function() server:reset() end)

    describe("catalogs", function()
        it("prints an aligned table", function()
            local out, err, status = octogen { "catalogs" }
            assert.are.equal(0, status, err)
            assert.are.equal("", err)
            local l = lines(out)
            assert.are.equal(1 + #mock.data.catalogs, #l)
            assert.truthy(l[1]:find("^CATALOG%s+NAME%s+PRODUCTS%s+SOURCE%s+LAST INDEXED$"), l[1])
            assert.truthy(l[2]:find("^warrenlotas%s+Warren Lotas%s+903%s+https://warrenlotas.com%s"), l[2])
            -- columns line up: PRODUCTS is right-aligned under its header
            local header_end = select(2, l[1]:find("PRODUCTS", 1, true))
            for i = 2, #l do
                assert.truthy(l[i]:sub(1, header_end):find(" %d+$"), l[i])
                assert.are.equal("  ", l[i]:sub(header_end + 1, header_end + 2))
            end
            assert.truthy(out:find("lumen%-home%s+Lumen Home%s+450%s+%-%s+%-\n"), out)
        end)

        it("prints JSON with sorted keys, and JSON Lines", function()
            local lib = assert(client():list_catalogs())
            local out, err, status = octogen { "catalogs", "--format", "json" }
            assert.are.equal(0, status, err)
            assert.truthy(out:find('^%[{"catalog":"warrenlotas","display_name":"Warren Lotas",'
                .. '"last_indexed_at":"2026%-06%-02T09:15:00Z","product_count":903,'
                .. '"source_base_url":"https://warrenlotas.com"},'), out)
            local decoded = cjson.decode(out)
            assert.are.equal(#lib, #decoded)
            for i, c in ipairs(lib) do
                assert.are.equal(c.catalog, decoded[i].catalog)
                assert.are.equal(c.product_count, decoded[i].product_count)
            end

            out, err, status = octogen { "catalogs", "--format", "jsonl" }
            assert.are.equal(0, status, err)
            local l = lines(out)
            assert.are.equal(#lib, #l)
            for i, line in ipairs(l) do assert.are.equal(lib[i].catalog, cjson.decode(line).catalog) end
        end)
    end)

    describe("search", function()
        it("sends facets and price exactly as given", function()
            local out, err, status = octogen { "search", "--catalog", "warrenlotas", "-q", "hoodie",
                "--facet", "color_family=Black,Gray", "--facet", "gender=male",
                "--price-min", "50", "--price-max", "300", "--limit", "5", "--format", "json" }
            assert.are.equal(0, status, err)
            local reqs = recorded("/v1/products/search")
            assert.are.equal(1, #reqs)
            assert.are.equal('{"catalog":"warrenlotas","facets":[{"name":"color_family","values":["Black","Gray"]},'
                .. '{"name":"gender","values":["male"]}],"limit":5,"price_max":300,"price_min":50,"q":"hoodie"}',
                reqs[1].body)
            -- the page is what the library gets for the same query
            local page = assert(client():search_products { catalog = "warrenlotas", q = "hoodie",
                facets = { { name = "color_family", values = { "Black", "Gray" } }, { name = "gender", values = "male" } },
                price_min = 50, price_max = 300, limit = 5 })
            local decoded = cjson.decode(out)
            assert.are.equal(#page.items, #decoded.items)
            assert.is_true(#decoded.items > 0)
            for i, item in ipairs(page.items) do assert.are.equal(item.uuid, decoded.items[i].uuid) end
            assert.are.equal(page.next_cursor, decoded.next_cursor)
        end)

        it("merges a repeated facet name into one facet", function()
            local _, err, status = octogen { "search", "--facet", "color_family=Black",
                "--facet", "gender=female", "--facet", "color_family=Gray", "--limit", "1" }
            assert.are.equal(0, status, err)
            assert.are.equal('{"facets":[{"name":"color_family","values":["Black","Gray"]},'
                .. '{"name":"gender","values":["female"]}],"limit":1}', server:last_request().body)
        end)

        it("prints a table cut to COLUMNS, with an ellipsis, and says how to get the next page", function()
            local out, err, status = octogen({ "search", "--catalog", "warrenlotas", "-q", "hoodie", "--limit", "5" },
                { env = { COLUMNS = "60" } })
            assert.are.equal(0, status, err)
            local l = lines(out)
            assert.are.equal(6, #l)
            assert.truthy(l[1]:find("^TITLE%s+BRAND%s+PRICE%s+CATALOG%s+URL$"), l[1])
            for _, line in ipairs(l) do assert.is_true(ulen(line) <= 60, line) end
            assert.truthy(out:find("\226\128\166", 1, true), out)
            assert.truthy(err:find("more results: add %-%-cursor %S+ for the next page, or %-%-all"), err)
        end)

        it("--all --format jsonl prints every product the library finds, one a line", function()
            local expected = 0
            for _ in client():items { catalog = "warrenlotas", q = "hoodie" } do expected = expected + 1 end
            assert.is_true(expected > 100)
            server:reset()
            local out, err, status = octogen { "search", "--catalog", "warrenlotas", "-q", "hoodie",
                "--all", "--format", "jsonl" }
            assert.are.equal(0, status, err)
            local l = lines(out)
            assert.are.equal(expected, #l)
            local seen = {}
            for _, line in ipairs(l) do
                local item = cjson.decode(line)
                assert.is_nil(seen[item.uuid])
                seen[item.uuid] = true
            end
            -- pages of 100
            local reqs = recorded("/v1/products/search")
            assert.are.equal(math.ceil(expected / 100), #reqs)
            assert.are.equal(100, helpers.body(reqs[1]).limit)
            -- no progress line: stderr is not a terminal
            assert.are.equal("", err)
        end)

        it("--all --format json prints one array of every item", function()
            local out, err, status = octogen { "search", "--catalog", "warrenlotas", "-q", "hoodie",
                "--all", "--limit", "50", "--format", "json" }
            assert.are.equal(0, status, err)
            assert.are.equal(mock.data.hoodie_count, #cjson.decode(out))
            assert.are.equal(math.ceil(mock.data.hoodie_count / 50), #recorded("/v1/products/search"))
            assert.are.equal("", err)
        end)

        it("shows a progress line on stderr when it is a terminal", function()
            if not sh_ok("command -v script >/dev/null 2>&1") then
                pending("script(1) is not installed")
                return
            end
            -- each page takes 150 ms, so the line is drawn after each one
            server:fault { path = "/v1/products/search", latency_ms = 150, times = 3 }
            local out_path = os.tmpname()
            local cmd = command_line({}, { "search", "--catalog", "warrenlotas", "-q", "hoodie", "--all",
                "--limit", "100", "--format", "jsonl" }) .. " >" .. shell_quote(out_path)
            local p = assert(io.popen("script -qec " .. shell_quote(cmd) .. " /dev/null </dev/null"))
            local tty = p:read("*a")
            p:close()
            local out = read_file(out_path)
            os.remove(out_path)
            assert.are.equal(mock.data.hoodie_count, #lines(out))
            -- (the elapsed time is not asserted: under valgrind page 2 may come after 0:01)
            assert.truthy(tty:find("\r\27%[Ksearch  100 items  page 1  %d+/s  %d+:%d%d"), tty)
            assert.truthy(tty:find("\r\27%[Ksearch  200 items  page 2  %d+/s  %d+:%d%d"), tty)
            assert.is_nil(out:find("\r", 1, true))
        end)
    end)

    describe("lookup", function()
        it("prints the product as fields and values, or as JSON", function()
            local url = mock.data.product_url
            local out, err, status = octogen { "lookup", url }
            assert.are.equal(0, status, err)
            assert.truthy(out:find("title%s+" .. mock.data.product_title:gsub("%p", "%%%0") .. "\n"), out)
            assert.truthy(out:find("catalog%s+warrenlotas %(Warren Lotas%)\n"), out)
            assert.truthy(out:find("in stock%s+%a+\n"), out)

            out, err, status = octogen { "lookup", "--format", "json", url }
            assert.are.equal(0, status, err)
            local res = cjson.decode(out)
            assert.are.equal(mock.data.product_title, res.product.title)
            assert.are.equal(mock.data.product_uuid, res.product.uuid)
            -- empty arrays stay arrays, and slashes are not escaped
            assert.truthy(out:find('"warnings":[]', 1, true), out)
            assert.truthy(out:find('"product_url":"https://warrenlotas.com/products/', 1, true), out)
        end)

        it("passes the lookup options", function()
            local _, err, status = octogen { "lookup", "--resolution-mode", "on_demand_only",
                "--cache-policy", "refresh", mock.data.ondemand_url }
            assert.are.equal(0, status, err)
            assert.are.same({ url = mock.data.ondemand_url, resolutionMode = "on_demand_only",
                onDemandCachePolicy = "refresh" }, helpers.body(server:last_request()))
        end)

        it("exits 4 for a URL that is not indexed", function()
            local out, err, status = octogen { "lookup", mock.data.unknown_url }
            assert.are.equal(4, status, err)
            assert.are.equal("", out)
            assert.truthy(err:find("^octogen: not found %(404 product_not_found, request req%-%d+%): "), err)
        end)
    end)

    describe("refresh", function()
        it("sends 1,200 lines of a file in 3 batches and exits 0 when all are accepted", function()
            local db = mock.datamodule().build()
            local products = db.catalog.warrenlotas.products
            local parts, n = { "# product URLs, pinned to warrenlotas with --catalog", "" }, 0
            for i = 1, 1200 do
                local line
                if i % 100 == 0 then
                    line = products[i % #products + 1].uuid          -- a UUID line
                elseif i % 3 == 0 then
                    line = "https://warrenlotas.com/products/new-drop-" .. i   -- not indexed yet
                else
                    line = "  " .. products[i % #products + 1].url .. "  "
                end
                parts[#parts + 1] = line
                n = n + 1
                if i % 400 == 0 then parts[#parts + 1] = "" end
            end
            assert.are.equal(1200, n)
            local path = os.tmpname()
            write_file(path, table.concat(parts, "\n") .. "\n")
            local out, err, status = octogen { "refresh", "--file", path, "--catalog", "warrenlotas" }
            os.remove(path)
            assert.are.equal(0, status, err)
            assert.are.equal("submitted 1200, accepted 1200, rejected 0\n", out)
            assert.are.equal("", err)
            local reqs = recorded("/v1/products/refresh")
            assert.are.equal(3, #reqs)
            local total, uuids = 0, 0
            for _, r in ipairs(reqs) do
                for _, t in ipairs(helpers.body(r).targets) do
                    total = total + 1
                    assert.are.equal("warrenlotas", t.catalog)
                    if t.uuid then uuids = uuids + 1 end
                end
            end
            assert.are.equal(1200, total)
            assert.are.equal(12, uuids)
        end)

        it("exits 9 and lists the rejected targets when some are refused", function()
            local d = mock.data
            local out, err, status = octogen { "refresh", d.product_url, d.unknown_url, d.tidepool_url, d.ambiguous_url }
            assert.are.equal(9, status, err)
            local l = lines(out)
            assert.are.equal("submitted 4, accepted 2, rejected 2", l[1])
            -- no catalog was given: no CATALOG column
            assert.truthy(l[3]:find("^REJECTED TARGET%s+CODE%s+MESSAGE$"), l[3])
            assert.truthy(l[4]:find("^" .. d.unknown_url:gsub("%p", "%%%0") .. "%s+product_not_found%s+No "), l[4])
            assert.truthy(l[5]:find("^" .. d.ambiguous_url:gsub("%p", "%%%0") .. "%s+ambiguous_url%s+URL "), l[5])
            assert.truthy(err:find("2 of 4 targets were rejected", 1, true), err)

            out, err, status = octogen { "refresh", "--format", "json", d.product_url, d.unknown_url,
                d.tidepool_url, d.ambiguous_url }
            assert.are.equal(9, status, err)
            local res = cjson.decode(out)
            assert.are.equal(4, res.submitted)
            assert.are.equal(2, #res.accepted)
            assert.are.same({ d.unknown_url, d.ambiguous_url }, { res.rejected[1].target, res.rejected[2].target })
            assert.are.same({ "product_not_found", "ambiguous_url" }, { res.rejected[1].code, res.rejected[2].code })
            assert.truthy(out:find('"errors":[]', 1, true), out)
        end)

        it("reads targets from stdin and prints rejected ones as JSON Lines", function()
            local d = mock.data
            local out, err, status = octogen({ "refresh", "--file", "-", "--format", "jsonl" },
                { stdin = d.product_url .. "\n" .. d.unknown_url .. "\n" })
            assert.are.equal(9, status, err)
            local l = lines(out)
            assert.are.equal(1, #l)
            assert.are.same({ target = d.unknown_url, code = "product_not_found",
                message = "No indexed product matched this target in the granted catalogs." }, cjson.decode(l[1]))
            assert.truthy(err:find("submitted 2, accepted 1, rejected 1", 1, true), err)
        end)

        it("exits 5 when no target is accepted, still listing why", function()
            local out, err, status = octogen { "refresh", mock.data.unknown_url }
            assert.are.equal(5, status, err)
            assert.truthy(out:find("submitted 1, accepted 0, rejected 1", 1, true), out)
            assert.truthy(out:find("product_not_found", 1, true), out)
            assert.truthy(err:find("none of the 1 targets was accepted", 1, true), err)
        end)

        it("is a usage error without targets", function()
            local _, err, status = octogen { "refresh" }
            assert.are.equal(2, status)
            assert.truthy(err:find("give the product URLs to refresh, or --file FILE", 1, true), err)
            _, err, status = octogen { "refresh", "--file", "/nonexistent/urls.txt" }
            assert.are.equal(2, status)
            assert.truthy(err:find("cannot read /nonexistent/urls.txt", 1, true), err)
        end)
    end)

    describe("request", function()
        it("GET catalogs prints the answer as JSON", function()
            local out, err, status = octogen { "request", "GET", "catalogs" }
            assert.are.equal(0, status, err)
            local list = cjson.decode(out)
            assert.are.equal(#mock.data.catalogs, #list)
            assert.are.equal("warrenlotas", list[1].catalog)
            assert.are.equal("GET", server:last_request().method)
        end)

        it("sends a JSON body as given", function()
            local body = '{"catalog": "warrenlotas", "limit": 2}'
            local out, err, status = octogen { "request", "post", "products/search", body }
            assert.are.equal(0, status, err)
            assert.are.equal(body, server:last_request().body)
            assert.are.equal(2, #cjson.decode(out).items)
        end)

        it("refuses a body that is not JSON before sending", function()
            local _, err, status = octogen { "request", "POST", "products/search", "{nope" }
            assert.are.equal(2, status)
            assert.truthy(err:find("not valid JSON", 1, true), err)
            assert.are.equal(0, #server:requests())
        end)
    end)

    describe("exit status", function()
        it("3 without a key, naming the fix", function()
            local out, err, status = octogen({ "catalogs" }, { env = { OCTO_API_KEY = false } })
            assert.are.equal(3, status)
            assert.are.equal("", out)
            assert.are.equal("octogen: no API key. Set OCTO_API_KEY or pass --api-key-file FILE.\n", err)
            assert.are.equal(0, #server:requests())
        end)

        it("3 for a key the API refuses", function()
            local _, err, status = octogen({ "catalogs" }, { env = { OCTO_API_KEY = WRONG_KEY } })
            assert.are.equal(3, status)
            assert.truthy(err:find("^octogen: authentication failed %(401 Invalid API key, request req%-%d+%): "
                .. "check the key"), err)
        end)

        it("0 with the key from --api-key-file (first line, trimmed)", function()
            local path = os.tmpname()
            write_file(path, "  " .. mock.DEMO_KEY .. "  \nsecond line\n")
            local out, err, status = octogen({ "--api-key-file", path, "catalogs", "--format", "json" },
                { env = { OCTO_API_KEY = false } })
            assert.are.equal(0, status, err)
            assert.are.equal(#mock.data.catalogs, #cjson.decode(out))
            assert.are.equal("Bearer " .. mock.DEMO_KEY, server:last_request().headers.authorization)
            -- the file wins over the environment
            out, err, status = octogen({ "catalogs", "--api-key-file", path }, { env = { OCTO_API_KEY = WRONG_KEY } })
            assert.are.equal(0, status, err)
            assert.truthy(out:find("^CATALOG"), out)
            write_file(path, "\n")
            out, err, status = octogen({ "--api-key-file", path, "catalogs" })
            os.remove(path)
            assert.are.equal("", out)
            assert.are.equal(3, status)
            assert.truthy(err:find("is empty: put the key on its first line", 1, true), err)
        end)

        it("3 for a catalog the key is not granted", function()
            local _, err, status = octogen { "search", "--catalog", mock.data.ungranted_catalog }
            assert.are.equal(3, status)
            assert.truthy(err:find("access denied (403 catalog_not_granted", 1, true), err)
        end)

        it("4 for an unknown catalog", function()
            local _, err, status = octogen { "search", "--catalog", "no-such-catalog", "-q", "x" }
            assert.are.equal(4, status)
            assert.truthy(err:find('not found (404 catalog_not_found', 1, true), err)
            assert.truthy(err:find('check the catalog name "no-such-catalog"', 1, true), err)
        end)

        it("5 for --limit 1000, refused before sending", function()
            local _, err, status = octogen { "search", "--limit", "1000" }
            assert.are.equal(5, status)
            assert.truthy(err:find("limit must be an integer between 1 and 100, got 1000", 1, true), err)
            assert.are.equal(0, #server:requests())
        end)

        it("5 for a 422 from the API", function()
            local _, err, status = octogen { "request", "POST", "products/search", '{"limit": 1000}' }
            assert.are.equal(5, status)
            assert.truthy(err:find("(422 limit: Input should be less than or equal to 100", 1, true), err)
        end)

        it("6 when rate limited, after --max-retries", function()
            server:fault { status = 429, retry_after = 1, times = 1 }
            local _, err, status = octogen { "--max-retries", "0", "catalogs" }
            assert.are.equal(6, status)
            assert.truthy(err:find("^octogen: rate limited %(429 rate_limit_exceeded, request req%-%d+%): wait 1 s"), err)
            assert.are.equal(1, #server:requests())
        end)

        it("7 when nothing listens", function()
            local s = assert(socket.bind("127.0.0.1", 0))
            local _, port = s:getsockname()
            s:close()
            local base = "http://127.0.0.1:" .. port .. "/v1"
            local _, err, status = octogen({ "catalogs" }, { env = { OCTOGEN_BASE_URL = base } })
            assert.are.equal(7, status)
            assert.truthy(err:find("cannot reach the API at " .. base, 1, true), err)
            assert.truthy(err:find("check --base-url (or OCTOGEN_BASE_URL)", 1, true), err)
            -- --base-url wins over the environment
            _, err, status = octogen({ "--base-url", server.base_url, "catalogs" }, { env = { OCTOGEN_BASE_URL = base } })
            assert.are.equal(0, status, err)
        end)

        it("7 when the API does not answer within --timeout", function()
            server:fault { mode = "hang", seconds = 3, times = 1 }
            local t0 = socket.gettime()
            local _, err, status = octogen { "--timeout", "0.5", "--max-retries", "0", "catalogs" }
            assert.are.equal(7, status)
            assert.is_true(socket.gettime() - t0 < 2.5)
            assert.truthy(err:find("the API did not answer in time (TimeoutError: ", 1, true), err)
        end)

        it("8 for a 503", function()
            server:fault { status = 503, times = 1 }
            local _, err, status = octogen { "catalogs", "--max-retries", "0" }
            assert.are.equal(8, status)
            assert.truthy(err:find("the Octogen API failed (503 service_unavailable", 1, true), err)
        end)

        it("8 for a body that is not JSON", function()
            server:fault { mode = "non_json", times = 1 }
            local _, err, status = octogen { "catalogs" }
            assert.are.equal(8, status)
            assert.truthy(err:find("unexpected answer from the API", 1, true), err)
        end)

        it("2 for usage errors, with the usage", function()
            for _, args in ipairs {
                {}, { "frob" }, { "search", "--limit", "abc" }, { "search", "--facet", "color" },
                { "search", "--format", "xml" }, { "lookup" }, { "help", "frob" },
                { "refresh", "https://x.example/p", "--file", "f" },
            } do
                local out, err, status = octogen(args)
                assert.are.equal(2, status, table.concat(args, " ") .. "\n" .. err)
                assert.are.equal("", out)
                assert.truthy(err:find("^Usage: octogen"), err)
            end
            assert.are.equal(0, #server:requests())
        end)
    end)

    -- Run bin/octogen with stderr on a terminal (script(1)); returns what
    -- the terminal showed, and stdout (a file). nil when script is missing.
    local function on_tty(args, stdin_path)
        if not sh_ok("command -v script >/dev/null 2>&1") then return nil end
        local out_path = os.tmpname()
        local cmd = command_line({}, args) .. " <" .. shell_quote(stdin_path or "/dev/null")
            .. " >" .. shell_quote(out_path)
        local p = assert(io.popen("script -qec " .. shell_quote(cmd) .. " /dev/null </dev/null"))
        local tty = p:read("*a")
        p:close()
        local out = read_file(out_path)
        os.remove(out_path)
        return tty, out
    end

    local KEYLESS_NOTE = "octogen: no API key: using the keyless trial (30 requests a day per IP address); "
        .. "set OCTO_API_KEY for more.\n"

    describe("domains", function()
        before_each(function()
            server:set_domains {
                { host = "shop.example", catalog = "shop", catalogDisplayName = "Shop Co." },
                { host = "www.shop.example", catalog = "shop2", catalogDisplayName = "Shop Two" },
                { host = "other.example", catalog = "other", catalogDisplayName = "Other" },
            }
        end)

        it("lists the covered shops as a table, JSON or JSON Lines", function()
            local out, err, status = octogen { "domains" }
            assert.are.equal(0, status, err)
            assert.are.equal("", err)
            assert.are.equal("HOST              CATALOG  NAME\n"
                .. "other.example     other    Other\n"
                .. "shop.example      shop     Shop Co.\n"
                .. "www.shop.example  shop2    Shop Two\n", out)
            local reqs = recorded("/v1/domains")
            assert.are.equal(1, #reqs)
            assert.are.equal("GET", reqs[1].method)

            out, err, status = octogen { "domains", "--format", "json" }
            assert.are.equal(0, status, err)
            assert.are.equal('[{"catalog":"other","catalog_display_name":"Other","host":"other.example"},'
                .. '{"catalog":"shop","catalog_display_name":"Shop Co.","host":"shop.example"},'
                .. '{"catalog":"shop2","catalog_display_name":"Shop Two","host":"www.shop.example"}]\n', out)
            out, err, status = octogen { "domains", "--format", "jsonl" }
            assert.are.equal(0, status, err)
            assert.are.equal(3, #lines(out))
            assert.are.equal("www.shop.example", cjson.decode(lines(out)[3]).host)
        end)

        it("--host says which catalogs cover a shop (www., case and path do not matter)", function()
            local out, err, status = octogen { "domains", "--host", "https://WWW.Shop.Example/products/x?y=1" }
            assert.are.equal(0, status, err)
            assert.are.equal("", err)
            assert.are.equal("HOST              CATALOG  NAME\n"
                .. "shop.example      shop     Shop Co.\n"
                .. "www.shop.example  shop2    Shop Two\n", out)
            out, err, status = octogen { "domains", "--host", "shop.example:443", "--format", "json" }
            assert.are.equal(0, status, err)
            assert.are.equal('{"catalogs":["shop","shop2"],"covered":true,"host":"shop.example"}\n', out)
        end)

        it("--host exits 4 for a shop not covered, and 2 for what is not a host", function()
            local out, err, status = octogen { "domains", "--host", "www.nowhere.example" }
            assert.are.equal(4, status, err)
            assert.are.equal("", out)
            assert.are.equal("octogen: nowhere.example is not covered: no catalog lists it "
                .. "(`octogen domains` lists those that are).\n", err)
            out, err, status = octogen { "domains", "--host", "nowhere.example", "--format", "json" }
            assert.are.equal(4, status, err)
            assert.are.equal('{"catalogs":[],"covered":false,"host":"nowhere.example"}\n', out)

            server:reset()
            out, err, status = octogen { "domains", "--host", "not a host" }
            assert.are.equal(2, status)
            assert.are.equal("", out)
            assert.truthy(err:find("^Usage: octogen domains"), err)
            assert.truthy(err:find("octogen: --host must be a URL or a host name, got 'not a host'", 1, true), err)
            assert.are.equal(0, #server:requests())
        end)

        it("uses the keyless trial without a key, saying so once on stderr", function()
            local out, err, status = octogen({ "domains", "--format", "jsonl" }, { env = { OCTO_API_KEY = false } })
            assert.are.equal(0, status, err)
            assert.are.equal(3, #lines(out))
            assert.are.equal(KEYLESS_NOTE, err)
            local req = server:last_request()
            assert.are.equal("/v1/domains", req.path)
            assert.is_nil(req.headers.authorization)
            -- search and lookup too; not the others
            out, err, status = octogen({ "search", "-q", "hoodie", "--limit", "1", "--format", "json" },
                { env = { OCTO_API_KEY = false } })
            assert.are.equal(0, status, err)
            assert.are.equal(1, #cjson.decode(out).items)
            assert.are.equal(KEYLESS_NOTE, err)
            assert.is_nil(server:last_request().headers.authorization)
            server:reset()
            out, err, status = octogen({ "me" }, { env = { OCTO_API_KEY = false } })
            assert.are.equal(3, status)
            assert.are.equal("", out)
            assert.are.equal("octogen: no API key. Set OCTO_API_KEY or pass --api-key-file FILE.\n", err)
            assert.are.equal(0, #server:requests())
        end)

        it("exits 6 when the keyless trial is used up, naming where to get a key, without retrying", function()
            server:set_keyless_limit(30, 30)
            local out, err, status = octogen({ "domains" }, { env = { OCTO_API_KEY = false } })
            assert.are.equal(6, status, err)
            assert.are.equal("", out)
            local l = lines(err)
            assert.are.equal(2, #l)
            assert.are.equal(KEYLESS_NOTE, l[1] .. "\n")
            assert.truthy(l[2]:find("^octogen: the keyless trial is used up for this IP address %(30 requests a day%) "
                .. "%(429 keyless_trial_exhausted, request req%-%d+%): it refills"), l[2])
            assert.truthy(l[2]:find("get one at https://octogen.ai/dashboard/api-keys, then set OCTO_API_KEY", 1, true),
                l[2])
            assert.are.equal(1, #server:requests())
        end)
    end)

    describe("explanations come from error classes and codes, not messages", function()
        it("a 401 keyless_trial_endpoint_not_included exits 3 whatever its message says", function()
            server:fault { path = "/v1/me", status = 401, times = 1,
                body = cjson.encode { detail = { code = "keyless_trial_endpoint_not_included",
                    message = "Rate limited: not found", getApiKey = "https://keys.example/get" } } }
            local out, err, status = octogen { "me" }
            assert.are.equal(3, status, err)
            assert.are.equal("", out)
            assert.truthy(err:find("^octogen: this needs an API key: the keyless trial covers search, lookup and "
                .. "domains only %(401 keyless_trial_endpoint_not_included, request req%-%d+%): get one at "
                .. "https://keys%.example/get, then set OCTO_API_KEY or pass %-%-api%-key%-file FILE%.\n$"), err)
        end)

        it("a 429 voyage_quota_exceeded exits 6 after one request, with the quota", function()
            server:set_voyage_quota { monthly = 0 }
            local out, err, status = octogen { "voyage", "start", "shop.example" }
            assert.are.equal(6, status, err)
            assert.are.equal("", out)
            assert.truthy(err:find("^octogen: the voyage quota is used up %(429 voyage_quota_exceeded, "
                .. "request req%-%d+%): calendar_month 0 of 0 used"), err)
            assert.truthy(err:find("`octogen me` shows the quotas.\n", 1, true), err)
            assert.are.equal(1, #recorded("/v1/voyage"))
        end)
    end)

    describe("me", function()
        it("prints the organization, key prefix, quotas and rate limit, or JSON", function()
            local out, err, status = octogen { "me" }
            assert.are.equal(0, status, err)
            assert.are.equal("", err)
            local me = assert(helpers.client(server, { api_key = mock.DEMO_KEY }):me())
            local l = lines(out)
            assert.are.equal("principal           api_key", l[1])
            assert.are.equal("organization        " .. me.organization.name, l[2])
            assert.are.equal("type                catalog_partner", l[4])
            assert.truthy(out:find("\nkey prefix          " .. me.key.prefix:gsub("%p", "%%%0") .. "\n"), out)
            assert.truthy(out:find("\nrate limit          %d+ requests a minute, %d+ left, full again at "
                .. "%d%d%d%d%-%d%d%-%d%dT"), out)
            assert.truthy(out:find("\nvoyages running     0 of 5\nvoyages this month  0 of 20, resets ", 1, false), out)

            out, err, status = octogen { "me", "--format", "json" }
            assert.are.equal(0, status, err)
            local decoded = cjson.decode(out)
            assert.are.equal(me.organization.id, decoded.organization.id)
            assert.are.equal(me.key.prefix, decoded.key.prefix)
            assert.are.equal("GET", server:last_request().method)
            assert.are.equal("/v1/me", server:last_request().path)
        end)
    end)

    describe("similar", function()
        it("sends the URL as the source with the catalog and limit, and prints a page", function()
            local url = mock.data.product_url
            local out, err, status = octogen { "similar", url, "--catalog", "warrenlotas", "--limit", "3",
                "--price-preference", "lower" }
            assert.are.equal(0, status, err)
            local reqs = recorded("/v1/products/more-like-this")
            assert.are.equal(1, #reqs)
            local body = helpers.body(reqs[1])
            assert.are.same({ url = url }, body.source)
            assert.are.same({ "warrenlotas" }, body.catalogs)
            assert.are.equal(3, body.limit)
            assert.are.equal("lower", body.price_preference)
            local page = assert(client():more_like_this(url, { catalog = "warrenlotas", limit = 3,
                price_preference = "lower" }))
            local l = lines(out)
            assert.are.equal(1 + #page.items, #l)
            assert.truthy(l[1]:find("^TITLE%s+BRAND%s+PRICE%s+CATALOG%s+URL$"), l[1])
            for i, item in ipairs(page.items) do
                assert.are.equal(1, select(2, l[i + 1]:find(item.title, 1, true)) and 1 or 0, l[i + 1])
            end
            if page.next_cursor then
                assert.are.equal("octogen: more results: add --cursor " .. page.next_cursor
                    .. " for the next page, or --all for every page.\n", err)
            end
        end)

        it("takes a UUID, and --all --format jsonl prints every item the library finds", function()
            local expected = 0
            for _ in client():items("more_like_this", { uuid = mock.data.product_uuid }, { limit = 100 }) do
                expected = expected + 1
            end
            server:reset()
            local out, err, status = octogen { "similar", mock.data.product_uuid, "--all", "--format", "jsonl" }
            assert.are.equal(0, status, err)
            assert.are.equal("", err)
            assert.are.equal(expected, #lines(out))
            local reqs = recorded("/v1/products/more-like-this")
            assert.are.equal(math.max(1, math.ceil(expected / 100)), #reqs)
            assert.are.same({ uuid = mock.data.product_uuid }, helpers.body(reqs[1]).source)
            assert.are.equal(100, helpers.body(reqs[1]).limit)
        end)

        it("exits 4 for a product that is not indexed, and needs a key", function()
            local out, err, status = octogen { "similar", mock.data.unknown_url }
            assert.are.equal(4, status, err)
            assert.are.equal("", out)
            assert.truthy(err:find("^octogen: not found %(404 product_not_found, request req%-%d+%): no indexed "
                .. "product has this URL or UUID; `octogen lookup URL` checks a URL%.\n$"), err)
            server:reset()
            out, err, status = octogen({ "similar", mock.data.product_url }, { env = { OCTO_API_KEY = false } })
            assert.are.equal(3, status, err)
            assert.are.equal("", out)
            assert.are.equal(0, #server:requests())
        end)
    end)

    describe("url-lists", function()
        local function create(name)
            local out, err, status = octogen { "url-lists", "create", name, "--format", "json" }
            assert.are.equal(0, status, err)
            return cjson.decode(out)
        end

        it("create, list, show and delete", function()
            local out, err, status = octogen { "url-lists", "create", "spring drops" }
            assert.are.equal(0, status, err)
            assert.are.equal("", err)
            local l = lines(out)
            local id = l[1]:match("^id%s+(cul_[%w_]+)$")
            assert.truthy(id, out)
            assert.are.equal("name     spring drops", l[2])
            assert.are.equal("status   provisioning", l[3])
            assert.are.equal("urls     0", l[4])
            assert.are.same({ name = "spring drops" }, helpers.body(server:last_request()))

            out, err, status = octogen { "url-lists", "list" }
            assert.are.equal(0, status, err)
            l = lines(out)
            assert.are.equal(2, #l)
            assert.truthy(l[1]:find("^ID%s+NAME%s+STATUS%s+URLS%s+CREATED$"), l[1])
            assert.truthy(l[2]:find("^" .. id .. "  spring drops  active%s+0  %d%d%d%d%-"), l[2])

            out, err, status = octogen { "url-lists", "show", id, "--format", "json" }
            assert.are.equal(0, status, err)
            assert.are.equal(id, cjson.decode(out).url_list_id)
            assert.are.equal("/v1/coverage/url-lists/" .. id, server:last_request().path)

            out, err, status = octogen { "url-lists", "delete", id }
            assert.are.equal(0, status, err)
            assert.truthy(out:find("\nstatus            delete_pending\n", 1, true), out)
            assert.are.equal("DELETE", server:last_request().method)
        end)

        it("exits 4 for an unknown list, and 8 for a sixth list, explaining each by its code", function()
            local out, err, status = octogen { "url-lists", "show", "cul_nope" }
            assert.are.equal(4, status, err)
            assert.are.equal("", out)
            assert.truthy(err:find("^octogen: not found %(404 url_list_not_found, request req%-%d+%): no URL list "
                .. "has this id"), err)
            for i = 1, 5 do create("list " .. i) end
            out, err, status = octogen { "url-lists", "create", "list 6" }
            assert.are.equal(8, status, err)
            assert.are.equal("", out)
            assert.truthy(err:find("^octogen: too many lists %(409 url_list_limit_exceeded, request req%-%d+%): "
                .. "an organization may have 5 live lists"), err)
            out, err, status = octogen { "url-lists", "create", "list 1" }
            assert.are.equal(8, status, err)
            assert.are.equal("", out)
            assert.truthy(err:find("(409 url_list_name_conflict", 1, true), err)
        end)

        it("add reads a file (comments and blank lines skipped) and exits 9 listing the rejected URLs", function()
            local id = create("adds").url_list_id
            local path = os.tmpname()
            write_file(path, "# shop URLs\nhttps://shop.example/p/1\n\n  not a url  \nhttps://shop.example/p/2\n")
            local out, err, status = octogen { "url-lists", "add", id, path }
            assert.are.equal(9, status, err)
            assert.are.equal("submitted 3, accepted 2, rejected 1; 2 in the list\n\n"
                .. "REJECTED URL  CODE         MESSAGE\n"
                .. "not a url     invalid_url  URL must be an absolute http(s) URL with a host.\n", out)
            assert.are.equal("octogen: 1 of 3 URLs were rejected (listed above).\n", err)
            local reqs = recorded("/v1/coverage/url-lists/" .. id .. "/urls")
            assert.are.equal(1, #reqs)
            assert.are.equal('{"urls":["https://shop.example/p/1","not a url","https://shop.example/p/2"]}',
                reqs[1].body)

            -- the same from stdin, as JSON Lines: the rejected URL, counts on stderr
            out, err, status = octogen({ "url-lists", "add", id, "--format", "jsonl" },
                { stdin = "not a url\nhttps://shop.example/p/3\n" })
            os.remove(path)
            assert.are.equal(9, status, err)
            assert.are.same({ url = "not a url", code = "invalid_url",
                message = "URL must be an absolute http(s) URL with a host." }, cjson.decode(out))
            assert.are.equal("octogen: submitted 2, accepted 1, rejected 1; 3 in the list\n"
                .. "octogen: 1 of 2 URLs were rejected.\n", err)

            -- nothing accepted: 5
            out, err, status = octogen({ "url-lists", "remove", id, "-" }, { stdin = "not a url\n" })
            assert.are.equal(5, status, err)
            assert.truthy(out:find("^submitted 1, accepted 0, rejected 1; 3 in the list\n"), out)
            assert.are.equal("octogen: none of the 1 URLs was accepted (see above).\n", err)
            -- an empty file: usage
            out, err, status = octogen({ "url-lists", "add", id }, { stdin = "# nothing\n\n" })
            assert.are.equal(2, status)
            assert.are.equal("", out)
            assert.truthy(err:find("- has no URLs: put one URL on each line.", 1, true), err)
        end)

        it("sends 2,345 URLs in 3 batches, exits 0, and shows progress on a terminal", function()
            local id = create("big").url_list_id
            local parts = {}
            for i = 1, 2345 do parts[i] = "https://shop.example/p/" .. i end
            local path = os.tmpname()
            write_file(path, table.concat(parts, "\n") .. "\n")
            local out, err, status = octogen { "url-lists", "add", id, path }
            assert.are.equal(0, status, err)
            assert.are.equal("submitted 2345, accepted 2345, rejected 0; 2345 in the list\n", out)
            assert.are.equal("", err)     -- stderr is no terminal: no progress
            local reqs = recorded("/v1/coverage/url-lists/" .. id .. "/urls")
            assert.are.equal(3, #reqs)
            assert.are.same({ 1000, 1000, 345 }, { #helpers.body(reqs[1]).urls, #helpers.body(reqs[2]).urls,
                #helpers.body(reqs[3]).urls })

            local tty
            tty, out = on_tty({ "url-lists", "remove", id, path }, nil)
            os.remove(path)
            if not tty then
                pending("script(1) is not installed")
                return
            end
            assert.are.equal("submitted 2345, accepted 2345, rejected 0; 0 in the list\n", out)
            for _, s in ipairs { "1000/2345", "2000/2345", "2345/2345" } do
                assert.truthy(tty:find("\r\27[Kremove  [", 1, true) and tty:find("]  " .. s .. " URLs", 1, true),
                    s .. " in " .. tty)
            end
            assert.is_nil(out:find("\r", 1, true))
        end)

        it("exits 9 when a batch failed, naming why, the other batches done", function()
            local id = create("flaky").url_list_id
            server:fault { path = "/v1/coverage/url-lists/" .. id .. "/urls", status = 503, times = 1 }
            local parts = {}
            for i = 1, 1500 do parts[i] = "https://shop.example/p/" .. i end
            local out, err, status = octogen({ "--max-retries", "0", "url-lists", "add", id, "-" },
                { stdin = table.concat(parts, "\n") })
            assert.are.equal(9, status, err)
            assert.truthy(out:find("^submitted 1500, accepted 500, rejected 1000; 500 in the list\n"), out)
            assert.truthy(out:find("\nhttps://shop%.example/p/1%s+batch_failed%s+service_unavailable\n"), out)
            assert.truthy(err:find("octogen: a batch failed: the Octogen API failed (503 ", 1, true), err)
            assert.truthy(err:find("octogen: 1000 of 1500 URLs were rejected (listed above).\n", 1, true), err)
        end)

        it("check prints each URL present or not, in input order; urls lists them", function()
            local id = create("checks").url_list_id
            local _, err, status = octogen({ "url-lists", "add", id }, { stdin = "https://shop.example/p/1\n" })
            assert.are.equal(0, status, err)
            local out
            out, err, status = octogen({ "url-lists", "check", id },
                { stdin = "https://shop.example/p/9\nhttps://shop.example/p/1\n" })
            assert.are.equal(0, status, err)
            local l = lines(out)
            assert.are.equal(3, #l)
            assert.truthy(l[1]:find("^URL%s+PRESENT%s+ADDED$"), l[1])
            assert.truthy(l[2]:find("^https://shop%.example/p/9  no       %-$"), l[2])
            assert.truthy(l[3]:find("^https://shop%.example/p/1  yes      %d%d%d%d%-"), l[3])
            assert.are.equal("octogen: 1 of 2 URLs present\n", err)
            assert.are.equal("/v1/coverage/url-lists/" .. id .. "/urls/contains", server:last_request().path)

            out, err, status = octogen { "url-lists", "urls", id, "--format", "jsonl" }
            assert.are.equal(0, status, err)
            assert.are.equal("https://shop.example/p/1", cjson.decode(out).url)
            out, err, status = octogen { "url-lists", "urls", id, "--all", "--format", "json" }
            assert.are.equal(0, status, err)
            assert.are.equal(1, #cjson.decode(out))
            assert.are.equal("limit=100", server:last_request().query)
        end)
    end)

    describe("voyage", function()
        it("start (started, then joined), list and show", function()
            local out, err, status = octogen { "voyage", "start", "https://www.shop.example/collections/x" }
            assert.are.equal(0, status, err)
            local l = lines(out)
            assert.are.equal("voyage    started", l[1])
            local task_id = l[2]:match("^task id   (%S+)$")
            assert.truthy(task_id, out)
            assert.are.equal("domain    shop.example", l[3])
            assert.are.same({ domain = "https://www.shop.example/collections/x" }, helpers.body(server:last_request()))

            out, err, status = octogen { "voyage", "start", "shop.example", "--format", "json" }
            assert.are.equal(0, status, err)
            local res = cjson.decode(out)
            assert.is_false(res.created)
            assert.are.equal(task_id, res.task.task_id)

            out, err, status = octogen { "voyage", "list" }
            assert.are.equal(0, status, err)
            l = lines(out)
            assert.are.equal(2, #l)
            assert.truthy(l[2]:find("^" .. task_id .. "  shop%.example  queued"), l[2])

            out, err, status = octogen { "voyage", "show", task_id }
            assert.are.equal(0, status, err)
            assert.are.equal("task id   " .. task_id, lines(out)[1])
            out, err, status = octogen { "voyage", "show", "vt_nope" }
            assert.are.equal(4, status, err)
            assert.are.equal("", out)
            assert.truthy(err:find("(404 voyage_not_found", 1, true), err)
        end)
    end)

    it("tells which setting octogen.client refused: 2 for --base-url or --timeout, 3 for the key", function()
        local out, err, status = octogen { "--base-url", "ftp://x.example/v1", "catalogs" }
        assert.are.equal(2, status, err)
        assert.are.equal("", out)
        assert.truthy(err:find("^octogen: bad base URL %(.*%): check %-%-base%-url or OCTOGEN_BASE_URL%.\n$"), err)
        out, err, status = octogen { "--timeout", "0", "catalogs" }
        assert.are.equal("", out)
        assert.are.equal(2, status, err)
        assert.truthy(err:find("^octogen: bad %-%-timeout %(.*%)%.\n$"), err)
        out, err, status = octogen({ "catalogs" }, { env = { OCTO_API_KEY = "octo two words" } })
        assert.are.equal("", out)
        assert.are.equal(3, status, err)
        assert.truthy(err:find("^octogen: the API key is malformed %(.*%): check OCTO_API_KEY or the key file%.\n$"),
            err)
        assert.is_nil(err:find("two words", 1, true), err)
        assert.are.equal(0, #server:requests())
    end)

    it("examples/cli_session.sh runs, each step exiting as it shows", function()
        local cmd = "env -u OCTOGEN_PLATFORM_API_KEY OCTO_API_KEY=" .. mock.DEMO_KEY
            .. " OCTOGEN_BASE_URL=" .. shell_quote(server.base_url)
            .. " sh examples/cli_session.sh " .. shell_quote(LUA) .. " 2>&1; echo \"exit $?\""
        local p = assert(io.popen(cmd))
        local out = p:read("*a")
        p:close()
        assert.truthy(out:find("exit 0\n$"), out)
        for _, s in ipairs { "$ octogen catalogs\n", "\n" .. mock.data.hoodie_count .. "\n", "submitted 4, accepted 2, rejected 2",
            "[exit status 9]", "[exit status 7]",
            "$ octogen domains --host shop.nowhere.example\n", "[exit status 4]",
            "submitted 2, accepted 1, rejected 1; 1 in the list\n", "octogen: 1 of 2 URLs present\n" } do
            assert.truthy(out:find(s, 1, true), s .. " not in:\n" .. out)
        end
        assert.is_nil(out:find("!! expected", 1, true), out)
        assert_no_key(out)
    end)

    describe("help", function()
        it("--help is the manual: usage, commands, examples, environment, exit status", function()
            local out, err, status = octogen { "--help" }
            assert.are.equal(0, status, err)
            assert.truthy(out:find("^Usage: octogen "), out)
            for _, s in ipairs { "Commands:", "catalogs", "search", "lookup", "refresh", "request",
                "Examples:", "Environment:", "OCTO_API_KEY", "OCTOGEN_BASE_URL", "Exit status:",
                "   3   authentication", "   6   rate limited", "   9   refresh partly done" } do
                assert.truthy(out:find(s, 1, true), s)
            end
            for _, line in ipairs(lines(out)) do assert.is_true(ulen(line) <= 80, line) end
        end)

        it("help search shows the command's usage, options and the exit status", function()
            local out, err, status = octogen { "help", "search" }
            assert.are.equal(0, status, err)
            assert.truthy(out:find("^Usage: octogen search "), out)
            for _, s in ipairs { "--facet <name=v1,v2>", "--price-min", "--all", "Examples:", "Exit status:",
                "   5   validation" } do
                assert.truthy(out:find(s, 1, true), s)
            end
            local same = octogen { "search", "--help" }
            assert.are.equal(out, same)
            for _, command in ipairs { "catalogs", "search", "lookup", "similar", "domains", "me", "refresh",
                "url-lists", "voyage", "request", "help" } do
                local text = octogen { "help", command }
                assert.truthy(text:find("Exit status:", 1, true), command)
                for _, line in ipairs(lines(text)) do assert.is_true(ulen(line) <= 80, line) end
            end
        end)

        it("--version names the module and libcurl", function()
            local out, _, status = octogen { "--version" }
            assert.are.equal(0, status)
            assert.truthy(out:find("^octogen %d+%.%d+%.%d+ %(octogen%-lua/"), out)
        end)
    end)
end)
