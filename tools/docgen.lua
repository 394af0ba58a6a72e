--- tools/docgen.lua: the method and option reference, generated from the
-- one place that defines them (lua/octogen/methods.lua and
-- lua/octogen/options.lua) into
--   README.md             between <!-- BEGIN GENERATED REFERENCE --> and
--                         <!-- END GENERATED REFERENCE -->: the method
--                         table and the two option tables;
--   types/octogen.d.lua   between "-- BEGIN GENERATED (tools/docgen.lua)"
--                         and "-- END GENERATED": the LuaCATS classes
--                         octogen.ClientOptions, octogen.CallOptions and
--                         octogen.ClientMethods (one stub per method), and
--                         the aliases octogen.StartableMethod and
--                         octogen.PagedMethod.
-- Everything outside the markers is left byte for byte as it is.
--
-- Usage, from the repository root (any Lua 5.1 to 5.4; it loads the two
-- tables by path, so it needs no LUA_PATH and no C core):
--   lua5.4 tools/docgen.lua            rewrite the regions (`make doc`)
--   lua5.4 tools/docgen.lua --check    exit 1, naming each file and its
--                                      first differing lines, when a
--                                      committed region is not what the
--                                      tables generate (CI, spec/docs_spec.lua)
-- --root DIR reads and writes DIR/README.md and DIR/types/octogen.d.lua
-- (default: the repository this script is in, wherever it is run from);
-- --methods FILE / --options FILE load the tables from elsewhere (default:
-- this repository's lua/octogen/); the spec uses these on a temporary copy
-- to prove that --check fails on a change.
--
-- Nothing here knows a method by name: a new entry in methods.lua gets its
-- row and its stub from its fields. The rules:
--   * a method's signature is its `args`; a type ending in "?" is an
--     optional argument;
--   * every method takes the per-call options in its last table: an
--     argument named `opts` holds them (its class derives from
--     octogen.CallOptions), otherwise the stub gets one more argument,
--     `call_opts? octogen.CallOptions`; a method whose last argument is
--     `...` gets none;
--   * a `paged` entry (pages, items) returns its `returns` alone; every
--     other method returns `<returns>|nil` and `octogen.Meta|octogen.Error`.
local M = {}

local concat = table.concat
local format = string.format

-- The repository this script is in (tools/..): the default root, and
-- where the two tables are read from unless --methods / --options say.
local SCRIPT_ROOT = (function()
    local src = debug.getinfo(1, "S").source
    local dir = src:match("^@(.*)[/\\]tools[/\\][^/\\]+$")
    if dir == nil or dir == "" then return "." end
    return dir
end)()
M.SCRIPT_ROOT = SCRIPT_ROOT

M.README = "README.md"
M.TYPES = "types/octogen.d.lua"
M.README_BEGIN = "<!-- BEGIN GENERATED REFERENCE -->"
M.README_END = "<!-- END GENERATED REFERENCE -->"
M.TYPES_BEGIN = "-- BEGIN GENERATED (tools/docgen.lua)"
M.TYPES_END = "-- END GENERATED"

-- The LuaCATS type of an option whose check type (options.lua's second
-- field) says less than an editor can use. An entry's fifth field, when
-- options.lua gives one, wins over this table.
local ANNOTATION_TYPE = {
    api_key = "string|octogen.TokenProvider",
    headers = "table<string, string|number>",
    retry = "octogen.RetryPolicy",
    sleep = "fun(seconds: number)",
    on_request = "fun(info: octogen.RequestInfo)",
    on_response = "fun(info: octogen.ResponseInfo)",
    transport = "octogen.Transport",
}

local CALL_OPTS = { "call_opts", "octogen.CallOptions?", "per-call options (max_retries, retry, timeout, sleep)" }

---------------------------------------------------------------------------
-- Reading the tables

local function read(path)
    local f = io.open(path, "rb")
    if not f then return nil end
    local s = f:read("*a")
    f:close()
    return s
end

local function write(path, s)
    local f = assert(io.open(path, "wb"))
    f:write(s)
    f:close()
end

local function load_table(path)
    local chunk, err = loadfile(path)
    if not chunk then error("docgen: cannot load " .. path .. ": " .. tostring(err), 0) end
    local t = chunk()
    if type(t) ~= "table" then error("docgen: " .. path .. " does not return a table", 0) end
    return t
end

-- The method entries (the list part of methods.lua), checked enough that a
-- malformed entry is named rather than generating nonsense.
local function method_entries(list, path)
    local out = {}
    for i, m in ipairs(list) do
        local where = format("%s entry %d (%s)", path, i, tostring(m.name))
        if type(m.name) ~= "string" or type(m.returns) ~= "string" or type(m.summary) ~= "string" then
            error("docgen: " .. where .. " needs name, returns and summary strings", 0)
        end
        if type(m.args) ~= "table" then error("docgen: " .. where .. " needs args", 0) end
        for _, a in ipairs(m.args) do
            if type(a[1]) ~= "string" or type(a[2]) ~= "string" then
                error("docgen: " .. where .. ": each arg is { name, type, doc }", 0)
            end
        end
        out[#out + 1] = m
    end
    return out
end

---------------------------------------------------------------------------
-- Shared pieces

local function optional(arg)
    return arg[2]:sub(-1) == "?"
end

local function bare_type(arg)
    return (arg[2]:gsub("%?$", ""))
end

-- "source [, params]", "method, path [, body [, opts]]", "name, ...".
local function signature(args)
    local parts, open = {}, 0
    for i, a in ipairs(args) do
        local sep = i > 1 and ", " or ""
        if optional(a) then
            parts[#parts + 1] = (i > 1 and " [, " or "[") .. a[1]
            open = open + 1
        else
            parts[#parts + 1] = sep .. a[1]
        end
    end
    return concat(parts) .. string.rep("]", open)
end

-- The arguments the stub declares: the entry's, plus call_opts unless the
-- last one already takes the call options (`opts`) or is `...`.
local function stub_args(m)
    local args = {}
    for i, a in ipairs(m.args) do args[i] = a end
    local last = args[#args]
    if not (last and (last[1] == "opts" or last[1] == "...")) then args[#args + 1] = CALL_OPTS end
    return args
end

local function startable_names(methods)
    local out = {}
    for _, m in ipairs(methods) do
        if m.startable then out[#out + 1] = m.name end
    end
    return out
end

local function cursor_names(methods)
    local out = {}
    for _, m in ipairs(methods) do
        if m.cursor then out[#out + 1] = m.name end
    end
    return out
end

-- Sentences on a method beyond its summary.
local function notes(m)
    local out = {}
    if m.cursor then
        out[#out + 1] = format('Cursor-paged: `client:pages("%s", ...)`, `client:items("%s", ...)`.', m.name, m.name)
    end
    if m.retired then out[#out + 1] = "**Retired**: " .. m.retired .. "." end
    return out
end

local function option_type(o)
    return o[5] or ANNOTATION_TYPE[o[1]] or o[2]
end

---------------------------------------------------------------------------
-- README.md

local function cell(s)
    return (tostring(s):gsub("|", "\\|"):gsub("\n", " "))
end

local function code(s)
    return "`" .. s .. "`"
end

function M.readme_block(methods, options)
    local out = {}
    local function add(s) out[#out + 1] = s end
    add("<!-- Generated by tools/docgen.lua from lua/octogen/methods.lua and lua/octogen/options.lua:")
    add("     edit those, then run `make doc`. A spec fails when this block and they differ. -->")
    add("")
    add("### Method reference")
    add("")
    add("Every method also takes the per-call options below in its last table: the")
    add("`opts` argument where it has one, else one more table after its arguments.")
    add("Keyless: served by the keyless trial (`octogen.client{allow_keyless = true}`")
    add("with no key).")
    add("")
    add("| Method | Returns | Request | operationId | Keyless | Notes |")
    add("|---|---|---|---|---|---|")
    for _, m in ipairs(methods) do
        local note = { m.summary }
        for _, n in ipairs(notes(m)) do note[#note + 1] = n end
        local returns = m.paged and m.returns or (m.returns .. ", meta")
        add(format("| %s | %s | %s | %s | %s | %s |",
            cell(code("client:" .. m.name .. "(" .. signature(m.args) .. ")")),
            cell(code(returns)),
            m.http and cell(code(m.http .. " " .. m.path)) or "—",
            m.operation and code(m.operation) or "—",
            m.operation and (m.keyless and "yes" or "no") or "—",
            cell(concat(note, " "))))
    end
    add("")
    add("### Client options")
    add("")
    add("`octogen.client{...}` takes these; an unknown name raises an InvalidArgumentError.")
    add("")
    add("| Option | Type | Default | Meaning |")
    add("|---|---|---|---|")
    for _, o in ipairs(options.CLIENT) do
        add(format("| %s | %s | %s | %s |", code(o[1]), cell(code(option_type(o))), cell(o[3]), cell(o[4])))
    end
    add("")
    add("### Per-call options")
    add("")
    add("| Option | Type | Default | Meaning |")
    add("|---|---|---|---|")
    for _, o in ipairs(options.CALL) do
        add(format("| %s | %s | %s | %s |", code(o[1]), cell(code(option_type(o))), cell(o[3]), cell(o[4])))
    end
    return concat(out, "\n")
end

---------------------------------------------------------------------------
-- types/octogen.d.lua

-- A description on one line (LuaCATS field descriptions end at the line).
local function oneline(s)
    return (tostring(s):gsub("%s*\n%s*", " "))
end

local function option_fields(add, list)
    for _, o in ipairs(list) do
        local doc = oneline(o[4])
        if o[3] and o[3] ~= "none" then doc = doc .. " (default: " .. oneline(o[3]) .. ")" end
        add(format("---@field %s? %s %s.", o[1], option_type(o), doc))
    end
end

local function alias_line(name, names)
    local quoted = {}
    for i, n in ipairs(names) do quoted[i] = '"' .. n .. '"' end
    if #quoted == 0 then quoted[1] = "never" end
    return format("---@alias %s %s", name, concat(quoted, "|"))
end

function M.types_block(methods, options)
    local out = {}
    local function add(s) out[#out + 1] = s end
    add("-- Do not edit: tools/docgen.lua writes this region from lua/octogen/methods.lua")
    add("-- and lua/octogen/options.lua (`make doc`); spec/docs_spec.lua fails when it drifts.")
    add("")
    add("--- Options of `octogen.client{...}`. An unknown name raises an")
    add("--- InvalidArgumentError naming it.")
    add("---@class octogen.ClientOptions")
    option_fields(add, options.CLIENT)
    add("")
    add("--- Per-call options: the last table of every method (an `opts` argument")
    add("--- takes them beside its own fields, its class deriving from this one).")
    add("---@class octogen.CallOptions")
    option_fields(add, options.CALL)
    add("")
    add("--- The methods `client:start` and `client:all` can run.")
    add(alias_line("octogen.StartableMethod", startable_names(methods)))
    add("")
    add("--- The cursor-paged methods `client:pages` and `client:items` take by name.")
    add(alias_line("octogen.PagedMethod", cursor_names(methods)))
    add("")
    add("--- The API methods of a client (lua/octogen/methods.lua lists them).")
    add("--- Each returns its result and an `octogen.Meta` on success, and")
    add("--- `nil, err` on any API or network failure. Mistakes in the call itself")
    add("--- raise an InvalidArgumentError before anything is sent.")
    add("---@class octogen.ClientMethods")
    add("local Methods = {}")
    for _, m in ipairs(methods) do
        add("")
        add("--- " .. oneline(m.summary))
        if m.http then
            local req = format("--- %s %s", m.http, m.path)
            if m.operation then req = req .. format(" (operationId %s%s)", m.operation, m.keyless and ", keyless" or "") end
            add(req .. ".")
        end
        for _, n in ipairs(notes(m)) do add("--- " .. oneline((n:gsub("%*%*", "")))) end
        local args = stub_args(m)
        local names = {}
        for i, a in ipairs(args) do
            names[i] = a[1]
            local name = a[1] == "..." and "..." or (a[1] .. (optional(a) and "?" or ""))
            local doc = a[3] and (" " .. oneline(a[3])) or ""
            add(format("---@param %s %s%s", name, bare_type(a), doc))
        end
        if m.paged then
            add(format("---@return %s", m.returns))
        else
            add(format("---@return %s|nil result", m.returns))
            add("---@return octogen.Meta|octogen.Error meta_or_err")
        end
        add(format("function Methods:%s(%s) end", m.name, concat(names, ", ")))
    end
    return concat(out, "\n")
end

---------------------------------------------------------------------------
-- Regions

-- text with the lines strictly between the marker lines replaced by
-- `body`, or nil and a message.
function M.replace_region(text, begin_marker, end_marker, body)
    local lines = {}
    for line in (text .. (text:sub(-1) == "\n" and "" or "\n")):gmatch("([^\n]*)\n") do lines[#lines + 1] = line end
    local b, e
    for i, line in ipairs(lines) do
        local l = line:gsub("%s+$", "")
        if l == begin_marker then
            if b then return nil, "two lines " .. begin_marker end
            b = i
        elseif l == end_marker then
            if e then return nil, "two lines " .. end_marker end
            e = i
        end
    end
    if not b or not e then return nil, "no lines " .. begin_marker .. " ... " .. end_marker end
    if e < b then return nil, end_marker .. " comes before " .. begin_marker end
    local out = {}
    for i = 1, b do out[#out + 1] = lines[i] end
    out[#out + 1] = body
    for i = e, #lines do out[#out + 1] = lines[i] end
    local s = concat(out, "\n")
    if text:sub(-1) == "\n" then s = s .. "\n" end
    return s
end

-- The lines that differ between old and new, diff-style ("- " removed,
-- "+ " added, "@@ line N @@" before each run), at most max_lines of them:
-- a longest-common-subsequence diff of what lies between the common head
-- and tail (the regions are a few hundred lines, so the table is small).
function M.describe_diff(old, new, max_lines)
    max_lines = max_lines or 40
    local a, b = {}, {}
    for l in (old .. "\n"):gmatch("([^\n]*)\n") do a[#a + 1] = l end
    for l in (new .. "\n"):gmatch("([^\n]*)\n") do b[#b + 1] = l end
    local first = 1
    while first <= #a and first <= #b and a[first] == b[first] do first = first + 1 end
    local la, lb = #a, #b
    while la >= first and lb >= first and a[la] == b[lb] do la, lb = la - 1, lb - 1 end
    -- lcs[i][j]: the LCS length of a[i..la] and b[j..lb].
    local n, m = la - first + 1, lb - first + 1
    local lcs = {}
    for i = n + 1, 1, -1 do
        local row, below = {}, lcs[i + 1]
        for j = m + 1, 1, -1 do
            if i > n or j > m then
                row[j] = 0
            elseif a[first + i - 1] == b[first + j - 1] then
                row[j] = below[j + 1] + 1
            else
                local x, y = below[j], row[j + 1]
                row[j] = x > y and x or y
            end
        end
        lcs[i] = row
    end
    local out, shown, more = {}, 0, 0
    local function emit(s)
        if shown < max_lines then
            out[#out + 1] = "  " .. s
            shown = shown + 1
        else
            more = more + 1
        end
    end
    local i, j, in_run = 1, 1, false
    while i <= n or j <= m do
        if i <= n and j <= m and a[first + i - 1] == b[first + j - 1] then
            i, j, in_run = i + 1, j + 1, false
        else
            if not in_run then emit(format("@@ line %d @@", first + i - 1)) end
            in_run = true
            if j > m or (i <= n and lcs[i + 1][j] >= lcs[i][j + 1]) then
                emit("- " .. a[first + i - 1])
                i = i + 1
            else
                emit("+ " .. b[first + j - 1])
                j = j + 1
            end
        end
    end
    if more > 0 then out[#out + 1] = format("  ... (%d more diff lines)", more) end
    return concat(out, "\n")
end

-- { {path = relative path, old = text, new = text}, ... } or error.
function M.generate(root, methods_path, options_path)
    root = root or SCRIPT_ROOT
    methods_path = methods_path or (SCRIPT_ROOT .. "/lua/octogen/methods.lua")
    options_path = options_path or (SCRIPT_ROOT .. "/lua/octogen/options.lua")
    local methods = method_entries(load_table(methods_path), methods_path)
    local options = load_table(options_path)
    if type(options.CLIENT) ~= "table" or type(options.CALL) ~= "table" then
        error("docgen: " .. options_path .. " needs CLIENT and CALL lists", 0)
    end
    local targets = {
        { path = M.README, b = M.README_BEGIN, e = M.README_END, body = M.readme_block(methods, options) },
        { path = M.TYPES, b = M.TYPES_BEGIN, e = M.TYPES_END, body = M.types_block(methods, options) },
    }
    local out = {}
    for _, t in ipairs(targets) do
        local full = root .. "/" .. t.path
        local old = read(full)
        if not old then error("docgen: cannot read " .. full, 0) end
        local new, why = M.replace_region(old, t.b, t.e, t.body)
        if not new then error("docgen: " .. full .. ": " .. why, 0) end
        out[#out + 1] = { path = t.path, full = full, old = old, new = new }
    end
    return out
end

--- Runs the generator as the command line does; returns the exit status
--- and what it would print.
function M.main(argv)
    local check, root, methods_path, options_path = false, nil, nil, nil
    local i = 1
    while argv[i] do
        local a = argv[i]
        if a == "--check" then
            check = true
        elseif a == "--root" or a == "--methods" or a == "--options" then
            local v = argv[i + 1]
            if not v then return 2, "docgen: " .. a .. " needs a value" end
            if a == "--root" then root = v elseif a == "--methods" then methods_path = v else options_path = v end
            i = i + 1
        else
            return 2, "usage: lua tools/docgen.lua [--check] [--root DIR] [--methods FILE] [--options FILE]"
        end
        i = i + 1
    end
    local ok, files = pcall(M.generate, root, methods_path, options_path)
    if not ok then return 2, tostring(files) end
    local msgs, status = {}, 0
    for _, f in ipairs(files) do
        if f.old == f.new then
            if not check then msgs[#msgs + 1] = f.path .. " is up to date" end
        elseif check then
            status = 1
            msgs[#msgs + 1] = format("docgen --check: %s differs from what lua/octogen/methods.lua and "
                .. "lua/octogen/options.lua generate; run `make doc` (lua5.4 tools/docgen.lua) and commit it:\n%s",
                f.path, M.describe_diff(f.old, f.new))
        else
            write(f.full, f.new)
            msgs[#msgs + 1] = "wrote " .. f.path
        end
    end
    if check and status == 0 then msgs[#msgs + 1] = "docgen --check: README.md and types/octogen.d.lua are current" end
    return status, concat(msgs, "\n")
end

-- Run as a script (not loaded by a spec with dofile/loadfile).
if arg and type(arg[0]) == "string" and arg[0]:match("docgen%.lua$") then
    local status, msg = M.main(arg)
    if msg ~= "" then
        local stream = status == 0 and io.stdout or io.stderr
        stream:write(msg, "\n")
    end
    os.exit(status)
end

return M
