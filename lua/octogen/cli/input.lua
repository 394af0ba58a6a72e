--- octogen.cli.input: lines of a file or of stdin, one item a line.
local common = require "octogen.cli.common"
local parser_mod = require "octogen.cli.parser"

local M = {}

--- The lines of `path` ("-": stdin) trimmed, blank lines and lines
--- starting with # left out. A file that cannot be read, or holds nothing,
--- is a usage error of `parser`; `empty` says what to put in it.
function M.read_lines(path, parser, empty)
    local f, err
    if path == "-" then f = io.stdin else f, err = io.open(path, "r") end
    if not f then parser_mod.usage_error(parser, "cannot read " .. tostring(err)) end
    local list = {}
    for line in f:lines() do
        line = common.trim(line)
        if line ~= "" and line:sub(1, 1) ~= "#" then list[#list + 1] = line end
    end
    if f ~= io.stdin then f:close() end
    if #list == 0 then
        parser_mod.usage_error(parser, path .. " has no " .. empty)
    end
    return list
end

return M
