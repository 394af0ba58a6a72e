-- wrk script for make bench (the ceiling rows): sets the method, the
-- Authorization header and, for POST, the JSON body. Arguments after "--":
--   wrk -t1 -c1 -d3s -s bench/peers/wrk.lua URL -- METHOD API_KEY [BODY]
-- wrk builds the request once per thread after init() and then sends the
-- same bytes on the kept-alive connection.
function init(args)
    wrk.method = args[1] or "GET"
    wrk.headers["Accept"] = "application/json"
    wrk.headers["User-Agent"] = "wrk"
    if args[2] then wrk.headers["Authorization"] = "Bearer " .. args[2] end
    if args[3] and args[3] ~= "" then
        wrk.body = args[3]
        wrk.headers["Content-Type"] = "application/json"
    end
end
