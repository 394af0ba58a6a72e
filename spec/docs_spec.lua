-- The reference generated from lua/octogen/methods.lua and
-- lua/octogen/options.lua (tools/docgen.lua, `make doc`): the committed
-- README.md block and types/octogen.d.lua region must be exactly what the
-- tables generate, and the check must really fail when they drift (proved
-- on a copy in a temporary directory, never on the working tree).
local sh = require "spec.support.sh"

local ROOT = (function()
    local src = debug.getinfo(1, "S").source
    local dir = src:match("^@(.*)[/\\]spec[/\\][^/\\]+$")
    if dir == nil or dir == "" then return "." end
    return dir
end)()

local LUA = os.getenv("OCTOGEN_TEST_LUA") or "lua5.4"
local DOCGEN = ROOT .. "/tools/docgen.lua"
local docgen = dofile(DOCGEN)

-- Runs tools/docgen.lua in a child interpreter; returns its exit status and
-- everything it printed.
local function run(...)
    local argv = {}
    for i, a in ipairs { ... } do argv[i] = sh.quote(a) end
    local out = sh.read_cmd(string.format("%s %s %s 2>&1; echo \"rc=$?\"", sh.quote(LUA), sh.quote(DOCGEN),
        table.concat(argv, " ")))
    local rc = tonumber(out:match("rc=(%d+)%s*$"))
    return rc, (out:gsub("rc=%d+%s*$", ""))
end

-- A private copy of the two generated files (and nothing else).
local function temp_root()
    local dir = os.tmpname()
    os.remove(dir)
    assert(sh.sh_ok("mkdir -p " .. sh.quote(dir .. "/types")))
    for _, f in ipairs { "README.md", "types/octogen.d.lua" } do
        sh.write_file(dir .. "/" .. f, assert(sh.read_file(ROOT .. "/" .. f)))
    end
    return dir
end

local function remove_tree(dir)
    if dir and dir:match("^/tmp/") then sh.sh_ok("rm -rf " .. sh.quote(dir)) end
end

-- A methods file that is the real list plus one new method.
local function methods_plus_one(dir)
    local path = dir .. "/methods.lua"
    sh.write_file(path, string.format([[
local list = dofile(%q)
list[#list + 1] = { name = "frobnicate_widgets", operation = "frobnicateWidgets", http = "POST",
    path = "/widgets/{widget_id}/frobnicate",
    args = { { "widget_id", "string", "the widget" }, { "params", "octogen.PageParams?", "cursor, limit" } },
    returns = "octogen.UrlListPage", startable = true, cursor = 2, items = "items",
    summary = "Frobnicate a widget." }
return list
]], ROOT .. "/lua/octogen/methods.lua"))
    return path
end

-- The text outside a file's generated region (the marker lines, not a
-- mention of them in a comment).
local function outside(text, b, e)
    local i = assert(text:find("\n" .. b .. "\n", 1, true), "no line " .. b)
    local j = assert(text:find("\n" .. e .. "\n", 1, true), "no line " .. e)
    return text:sub(1, i) .. text:sub(j)
end

describe("tools/docgen.lua", function()
    it("finds README.md and types/octogen.d.lua as lua/octogen/methods.lua and options.lua generate them", function()
        local status, msg = docgen.main { "--check", "--root", ROOT }
        -- The message names the drifted file and shows its first differing lines.
        assert(status == 0, msg .. "\n(run `make doc` and commit the result)")
    end)

    it("passes --check as a command too (exit status 0)", function()
        local rc, out = run("--check", "--root", ROOT)
        assert.equal(0, rc, out)
        assert.truthy(out:find("are current", 1, true), out)
    end)

    it("generates every method of lua/octogen/methods.lua into both files", function()
        local readme = assert(sh.read_file(ROOT .. "/README.md"))
        local types = assert(sh.read_file(ROOT .. "/types/octogen.d.lua"))
        for _, m in ipairs(dofile(ROOT .. "/lua/octogen/methods.lua")) do
            assert.truthy(readme:find("`client:" .. m.name .. "(", 1, true), m.name .. " not in README.md")
            assert.truthy(types:find("function Methods:" .. m.name .. "(", 1, true), m.name .. " not in types")
        end
        for _, o in ipairs(dofile(ROOT .. "/lua/octogen/options.lua").CLIENT) do
            assert.truthy(readme:find("| `" .. o[1] .. "` |", 1, true), o[1] .. " not in README.md")
        end
    end)

    it("--check fails naming both files when a method is added to the list, and write mode fixes them", function()
        local dir = temp_root()
        local ok, err = pcall(function()
            local methods = methods_plus_one(dir)
            local rc, out = run("--check", "--root", dir, "--methods", methods)
            assert.equal(1, rc, out)
            assert.truthy(out:find("README.md differs", 1, true), out)
            assert.truthy(out:find("types/octogen.d.lua differs", 1, true), out)
            assert.truthy(out:find("+ | `client:frobnicate_widgets(widget_id [, params])`", 1, true), out)
            assert.truthy(out:find("+ function Methods:frobnicate_widgets(widget_id, params, call_opts) end", 1, true), out)
            -- Nothing was written by --check.
            assert.equal(sh.read_file(ROOT .. "/README.md"), sh.read_file(dir .. "/README.md"))

            local before_readme = sh.read_file(dir .. "/README.md")
            local before_types = sh.read_file(dir .. "/types/octogen.d.lua")
            rc, out = run("--root", dir, "--methods", methods)
            assert.equal(0, rc, out)
            assert.truthy(out:find("wrote README.md", 1, true), out)
            rc, out = run("--check", "--root", dir, "--methods", methods)
            assert.equal(0, rc, out)
            local readme = sh.read_file(dir .. "/README.md")
            local types = sh.read_file(dir .. "/types/octogen.d.lua")
            assert.truthy(readme:find("| `POST /widgets/{widget_id}/frobnicate` | `frobnicateWidgets` | no |", 1, true))
            assert.truthy(types:find('"list_url_list_urls"|"frobnicate_widgets"', 1, true), "PagedMethod alias")
            -- Only the regions changed.
            assert.equal(outside(before_readme, docgen.README_BEGIN, docgen.README_END),
                outside(readme, docgen.README_BEGIN, docgen.README_END))
            assert.equal(outside(before_types, docgen.TYPES_BEGIN, docgen.TYPES_END),
                outside(types, docgen.TYPES_BEGIN, docgen.TYPES_END))
            -- And the real list now differs from the rewritten copy.
            rc, out = run("--check", "--root", dir)
            assert.equal(1, rc, out)
        end)
        remove_tree(dir)
        assert(ok, err)
    end)

    it("--check fails naming only README.md when its generated block was edited by hand", function()
        local dir = temp_root()
        local ok, err = pcall(function()
            local path = dir .. "/README.md"
            local text = sh.read_file(path)
            local edited, n = text:gsub("(%| `client:me%(%)` %|)", "%1 hand-edited", 1)
            assert.equal(1, n)
            sh.write_file(path, edited)
            local rc, out = run("--check", "--root", dir)
            assert.equal(1, rc, out)
            assert.truthy(out:find("README.md differs", 1, true), out)
            assert.falsy(out:find("types/octogen.d.lua differs", 1, true), out)
            assert.truthy(out:find("- | `client:me()` | hand-edited", 1, true), out)
        end)
        remove_tree(dir)
        assert(ok, err)
    end)

    it("--check fails when an option is added to lua/octogen/options.lua", function()
        local dir = temp_root()
        local ok, err = pcall(function()
            local path = dir .. "/options.lua"
            sh.write_file(path, string.format([[
local o = dofile(%q)
o.CLIENT[#o.CLIENT + 1] = { "frobnication", "boolean", "false", "frobnicate every request" }
return o
]], ROOT .. "/lua/octogen/options.lua"))
            local rc, out = run("--check", "--root", dir, "--options", path)
            assert.equal(1, rc, out)
            assert.truthy(out:find("+ ---@field frobnication? boolean frobnicate every request (default: false).", 1, true), out)
            assert.truthy(out:find("+ | `frobnication` | `boolean` | false | frobnicate every request |", 1, true), out)
        end)
        remove_tree(dir)
        assert(ok, err)
    end)

    it("exits 2 naming the file when its markers are missing", function()
        local dir = temp_root()
        local ok, err = pcall(function()
            local path = dir .. "/types/octogen.d.lua"
            sh.write_file(path, (sh.read_file(path):gsub("%-%- END GENERATED\n", "")))
            local rc, out = run("--check", "--root", dir)
            assert.equal(2, rc, out)
            assert.truthy(out:find("types/octogen.d.lua", 1, true), out)
        end)
        remove_tree(dir)
        assert(ok, err)
    end)

    it("writes the same text every time (no dependence on table order)", function()
        local a = docgen.generate(ROOT)
        local b = docgen.generate(ROOT)
        for i = 1, #a do assert.equal(a[i].new, b[i].new) end
    end)
end)
