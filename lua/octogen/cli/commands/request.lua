--- octogen request
local common = require "octogen.cli.common"
local output = require "octogen.cli.output"
local parser = require "octogen.cli.parser"
local cli_errors = require "octogen.cli.errors"

local format = string.format
local out, to_json = output.out, output.to_json

local M = { name = "request" }

function M.configure(p)
    local request = parser.command(p, "request", "Send any request to the API.", [[
Send a request to any endpoint with the same key, retries and error
handling, and print the JSON answer (keys in snake_case, as the octogen
module returns them; members that are null are left out). PATH is relative
to the base URL. JSON is the request body ("-" reads it from stdin).]], [[
   octogen request GET catalogs
   octogen request POST products/search '{"catalog": "warrenlotas", "limit": 5}'
   octogen request POST products/lookup - < body.json]])
    request:argument("method", "An HTTP method: GET, POST, ..."):argname("<method>")
    request:argument("path", "The endpoint, relative to the base URL."):argname("<path>")
    request:argument("json", "The request body, a JSON document."):args("?"):argname("<json>")
    parser.format_option(request, { "json", "jsonl" }, "json")
    return request
end

function M.run(client, a, ctx, cmd)
    local method = a.method:upper()
    if not method:match("^[A-Z]+$") then
        parser.usage_error(cmd, format("METHOD must be an HTTP method such as GET or POST, got '%s'", a.method))
    end
    local body = a.json
    if body == "-" then body = io.stdin:read("*a") end
    if body then
        local ok, why = common.core.decode(body)
        if ok == nil then
            parser.usage_error(cmd, "the request body is not valid JSON: " .. tostring(why))
        end
    end
    local res, err = client:request(method, a.path, body)
    if res == nil then return cli_errors.fail(err, ctx) end
    if res == true then return common.EXIT.OK end     -- 204 No Content, 304 Not Modified
    if a.format == "jsonl" and type(res) == "table" and #res > 0 then
        for _, v in ipairs(res) do out(to_json(v) .. "\n") end
    else
        out(to_json(res) .. "\n")
    end
    return common.EXIT.OK
end

return M
