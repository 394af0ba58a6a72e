--- octogen.cli.output: what the command line prints: aligned tables fitted
-- to the terminal, JSON and JSON Lines on stdout, the progress line and
-- messages on stderr.
local common = require "octogen.cli.common"

local format, concat = string.format, table.concat
local floor = math.floor

local PROGRAM, EXIT = common.PROGRAM, common.EXIT

local M = {}

-- The errno of a write to a pipe whose reader has gone (32 on Linux, the
-- BSDs and macOS alike).
local EPIPE = 32

local function sh_ok(cmd)
    local a, _, c = os.execute(cmd)
    if type(a) == "number" then return a == 0 end          -- 5.1, LuaJIT without 5.2 compat
    return a == true and (c == nil or c == 0)
end

local tty_cache = {}
--- Is file descriptor fd (1 or 2) a terminal? Asked once.
function M.is_tty(fd)
    if tty_cache[fd] == nil then tty_cache[fd] = sh_ok("test -t " .. fd) end
    return tty_cache[fd]
end
local is_tty = M.is_tty

--- A message on stderr: "octogen: ..." and a newline.
function M.say(...)
    io.stderr:write(PROGRAM, ": ", ...)
    io.stderr:write("\n")
end

--- Print `message` on stderr and exit with `code`.
function M.die(code, message)
    io.stdout:flush()
    io.stderr:write(PROGRAM, ": ", message, "\n")
    os.exit(code)
end

--- Write to stdout; a reader that went away ends the run quietly.
function M.out(s)
    local ok, err, errno = io.stdout:write(s)
    if not ok then
        if errno == EPIPE then os.exit(EXIT.OK) end
        M.die(EXIT.INTERNAL, "cannot write the output: " .. tostring(err))
    end
end
local out = M.out

---------------------------------------------------------------------------
-- JSON output: the C core's encoder (object keys sorted; a decoded array,
-- or a table marked with octogen.array, stays an array even when empty)

function M.to_json(v)
    local s, why = common.core.encode(v)
    if not s then error("cannot print the answer as JSON: " .. tostring(why), 0) end
    return s
end
local to_json = M.to_json

---------------------------------------------------------------------------
-- tables for people

local width_cache
--- Columns for tables and the progress line: $COLUMNS, else `tput cols`
--- when stdout is a terminal, else 100. Asked once.
function M.term_width()
    if width_cache then return width_cache end
    width_cache = 100
    local c = tonumber(os.getenv("COLUMNS") or "")
    if c and c >= 20 then
        width_cache = floor(c)
    elseif is_tty(1) then
        local p = io.popen("tput cols 2>/dev/null")
        if p then
            local n = tonumber((p:read("*a") or ""):match("%d+"))
            p:close()
            if n and n >= 20 then width_cache = n end
        end
    end
    return width_cache
end
local term_width = M.term_width

--- Width in characters of UTF-8 text (wide characters count as one).
M.ulen = require("octogen.args").chars
local ulen = M.ulen

--- The first n characters of UTF-8 text.
function M.uprefix(s, n)
    if n <= 0 then return "" end
    local count, i = 0, 1
    while i <= #s do
        local c = s:byte(i)
        if c < 128 or c >= 192 then
            count = count + 1
            if count > n then return s:sub(1, i - 1) end
        end
        i = i + 1
    end
    return s
end
local uprefix = M.uprefix

local ELLIPSIS = "\226\128\166"    -- U+2026

--- A value as a table cell: "-" for nil and null; control characters (a
--- server's escape sequences included) become spaces.
function M.cell(v)
    if v == nil or v == common.null then return "-" end
    return (tostring(v):gsub("%c", " "))
end

function M.money(v)
    if type(v) ~= "number" then return "-" end
    return format("%.2f", v)
end

--- Print rows under headers, fitted to the terminal: the widest column
--- gives up a character until the line fits (those marked keep last, none
--- below its min); cut cells end in an ellipsis.
--- columns: {{title, align = "right"?, keep = true?, min = n?}, ...};
--- rows: arrays of strings.
function M.print_table(columns, rows, opts)
    opts = opts or {}
    local n = #columns
    local widths = {}
    for i, col in ipairs(columns) do
        widths[i] = opts.no_header and 0 or ulen(col[1])
        for _, row in ipairs(rows) do widths[i] = math.max(widths[i], ulen(row[i])) end
    end
    local sep = 2
    local total = sep * (n - 1)
    for i = 1, n do total = total + widths[i] end
    local over = total - term_width()
    while over > 0 do
        local widest
        for pass = 1, 2 do      -- columns marked keep give way last
            for i = 1, n do
                local min = columns[i].min or math.max(ulen(columns[i][1]), 4)
                if (pass == 2 or not columns[i].keep) and widths[i] > min
                    and (not widest or widths[i] > widths[widest]) then
                    widest = i
                end
            end
            if widest then break end
        end
        if not widest then break end
        widths[widest] = widths[widest] - 1
        over = over - 1
    end
    local function line(values)
        local parts = {}
        for i = 1, n do
            local v, w = values[i], widths[i]
            local len = ulen(v)
            if len > w then
                v, len = uprefix(v, w - 1) .. ELLIPSIS, w
            end
            local pad = (" "):rep(w - len)
            if columns[i].align == "right" then
                parts[i] = pad .. v
            elseif i == n then
                parts[i] = v
            else
                parts[i] = v .. pad
            end
        end
        out(concat(parts, (" "):rep(sep)):gsub("%s+$", "") .. "\n")
    end
    if not opts.no_header then
        local titles = {}
        for i, col in ipairs(columns) do titles[i] = col[1] end
        line(titles)
    end
    for _, row in ipairs(rows) do line(row) end
end
local print_table = M.print_table

--- Print items as JSON (one array), JSON Lines, or a table of columns
--- with one row(item) each.
function M.print_items(items, fmt, columns, row)
    if fmt == "json" then
        out(to_json(items) .. "\n")
    elseif fmt == "jsonl" then
        for _, item in ipairs(items) do out(to_json(item) .. "\n") end
    else
        local rows = {}
        for i, item in ipairs(items) do rows[i] = row(item) end
        print_table(columns, rows)
    end
end

--- One object as two columns, name and value, without a header.
--- rows: {{name, value}, ...} (values already cells).
function M.print_fields(rows)
    print_table({ { "FIELD" }, { "VALUE", min = 20 } }, rows, { no_header = true })
end

---------------------------------------------------------------------------
-- progress on stderr, only when it is a terminal

local function format_elapsed(s)
    s = floor(s)
    return format("%d:%02d", floor(s / 60), s % 60)
end

--- A progress line: counts, rate, elapsed, redrawn with \r at most ten
--- times a second; nothing at all when stderr is not a terminal.
function M.new_progress(label, unit, total)
    local now = common.now
    local p = { active = is_tty(2), started = now(), last = nil, drawn = false }
    function p.update(done, extra, force)
        if not p.active then return end
        local t = now()
        if not force and t - (p.last or p.started) < 0.1 then return end
        p.last = t
        local elapsed = t - p.started
        local rate = elapsed > 0 and done / elapsed or 0
        local parts = { label }
        if total and total > 0 then
            local width = 20
            local filled = floor(width * math.min(done, total) / total + 0.5)
            parts[#parts + 1] = "[" .. ("#"):rep(filled) .. ("-"):rep(width - filled) .. "]"
            parts[#parts + 1] = format("%d/%d %s", done, total, unit)
        else
            parts[#parts + 1] = format("%d %s", done, unit)
        end
        if extra then parts[#parts + 1] = extra end
        parts[#parts + 1] = format("%.0f/s", rate)
        parts[#parts + 1] = format_elapsed(elapsed)
        local s = concat(parts, "  ")
        local width = term_width() - 1
        if ulen(s) > width then s = uprefix(s, width) end
        io.stderr:write("\r\27[K", s)
        io.stderr:flush()
        p.drawn = true
    end
    function p.finish()
        if p.drawn then io.stderr:write("\r\27[K"); io.stderr:flush() end
        p.drawn = false
    end
    return p
end

return M
