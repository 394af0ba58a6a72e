--- octogen.transport.ngx: one prepared request over nginx cosockets.
--
-- Inside an nginx handler (rewrite, access, content, ngx.timer) libcurl
-- would block the worker's event loop for the length of a call. This
-- transport moves the same request with ngx.socket.tcp instead, so the
-- handler's coroutine yields while the API answers. It only moves bytes:
-- the request head is the C core's (core.request_head: the same header
-- lines libcurl sends), and turning status, headers and body into a result
-- or an error object is the C core's too (core.response), so results and
-- errors are those of the libcurl transport.
--
-- Nothing is kept in the client between calls: each exchange takes a
-- connection from nginx's keep-alive pool (named by scheme, host, port, TLS
-- server name and verification) and gives it back after a complete
-- response, so a client built at module level serves every request of the
-- worker.
local core = require "octogen.core"
local errors = require "octogen.errors"

local concat = table.concat
local find, format, lower, match, sub = string.find, string.format, string.lower, string.match, string.sub
local ceil, min = math.ceil, math.min
local tonumber, tostring, type = tonumber, tostring, type
local rawget = rawget
local clock = core.now

local M = { name = "ngx" }

-- The C core's defaults (csrc/client.c), for a settings table without them.
local DEFAULT_TIMEOUT = 30
local DEFAULT_CONNECT_TIMEOUT = 10
local DEFAULT_MAX_BYTES = 64 * 1024 * 1024

-- Response header lines kept, as the C core keeps them over libcurl
-- (OCTOGEN_MAX_HEADERS): later lines are read and dropped. The whole
-- header block is refused past libcurl's own cap (300 KB), as libcurl does.
local MAX_HEADERS = 100
local MAX_HEADER_BYTES = 300 * 1024

-- A body of unknown length (neither Content-Length nor chunked: read to
-- the close) is read this much at a time.
local READ_CHUNK = 64 * 1024

-- A connection taken from the pool may have been closed by the server
-- while it sat there. When one fails before a single byte of the answer
-- came back, the request goes again on another connection, without
-- counting as a retry. After a server restart every pooled connection to
-- it is stale (up to lua_socket_pool_size of them, 30 by default), so the
-- bound is that of a large pool, not libcurl's 5 (a stale connection
-- fails at once).
local MAX_STALE = 512
-- New connections after a fresh TLS connection died before any answer.
local MAX_TLS_REDO = 2

-- The parsed base URL of each core client and the pool name that goes
-- with it, made once (core.target parses base_url with libcurl's parser).
-- Weak keys: an entry goes with its client.
local targets = setmetatable({}, { __mode = "k" })

local function target_of(cc, insecure)
    local t = targets[cc]
    if t then return t end
    local tg = core.target(cc)
    local host = tg.host
    local https = lower(tg.scheme) == "https"
    local connect_host = host
    if lower(host) == "localhost" then
        -- nginx resolves names only through its `resolver` (never
        -- /etc/hosts), and libcurl treats localhost as loopback without
        -- asking DNS: so does this.
        connect_host = "127.0.0.1"
    elseif find(host, ":", 1, true) and not find(host, "[", 1, true) then
        -- An IPv6 literal: nginx's URL parser wants it bracketed.
        connect_host = "[" .. host .. "]"
    end
    local verify = https and not insecure
    -- TLS server name (SNI) and the name the certificate must carry.
    local server_name = https and (match(host, "^%[(.*)%]$") or host) or nil
    t = {
        https = https,
        verify = verify,
        host = host,
        connect_host = connect_host,
        port = tonumber(tg.port) or (https and 443 or 80),
        server_name = server_name,
        -- Connections differ by all of these: a verified TLS connection is
        -- never handed to an unverified call's pool, nor the reverse.
        pool = format("%s:%s:%s:%s:%s", https and "https" or "http", host, tostring(tg.port),
            server_name or "", verify and "v" or "n"),
        where = host .. ":" .. tostring(tg.port),
    }
    targets[cc] = t
    return t
end

-- The nginx API, at call time (this module loads outside nginx too).
local function nginx()
    local ngx = rawget(_G, "ngx")
    if type(ngx) ~= "table" or type(ngx.socket) ~= "table" then
        errors.raise("InvalidArgumentError", "the ngx transport runs only inside nginx (lua-nginx-module)", 4)
    end
    return ngx
end

---------------------------------------------------------------------------
-- Failures: a kind (core.transport_error's) and a message.

-- OpenSSL's verification results that mean "no trusted issuer was found":
-- what happens when nginx has no lua_ssl_trusted_certificate.
local ISSUER_CODES = { ["2"] = true, ["18"] = true, ["19"] = true, ["20"] = true, ["21"] = true }

-- The failure of a TLS handshake, as kind and message.
local function tls_failure(err, t)
    local code = match(err, "^(%d+): ")
    if code then
        local message = format("TLS certificate verification of %s failed: %s", t.host, err)
        if ISSUER_CODES[code] then
            message = message .. "; nginx verifies certificates against lua_ssl_trusted_certificate: " ..
                "set it in nginx.conf (http block) to a CA bundle, e.g. " ..
                "`lua_ssl_trusted_certificate /etc/ssl/certs/ca-certificates.crt;` " ..
                "(the client's ca_file and ca_path are libcurl options)"
        end
        return "tls_verify", message
    end
    if find(err, "host mismatch", 1, true) then
        return "tls_verify", format("TLS certificate of %s does not match the host name (%s)", t.host, err)
    end
    return "tls", format("TLS handshake with %s failed: %s", t.where, err)
end

local function connect_failure(err, t)
    if find(err, "no resolver defined", 1, true) then
        return "connection", format("cannot resolve %s: nginx has no resolver; add `resolver` to nginx.conf's " ..
            "http block (e.g. `resolver 127.0.0.53 ipv6=off;` or your DNS server) (%s)", t.host, err)
    end
    if find(err, "could not be resolved", 1, true) then
        return "connection", format("cannot resolve %s (%s)", t.host, err)
    end
    if err == "timeout" then
        return "timeout", format("timed out connecting to %s", t.where)
    end
    return "connection", format("cannot connect to %s: %s", t.where, err)
end

-- A timeout while `what` ("reading the response body", ...).
local function timed_out(t, what, timeout)
    return "timeout", format("timed out %s from %s (timeout %g s)", what, t.where, timeout)
end

-- A failure while sending or reading the answer.
local function io_failure(err, t, what, timeout)
    if err == "timeout" then return timed_out(t, what, timeout) end
    if err == "closed" then
        return "connection", format("%s closed the connection while %s", t.where, what)
    end
    return "connection", format("the connection to %s failed while %s: %s", t.where, what, tostring(err))
end

---------------------------------------------------------------------------
-- Reading the answer. Each reader returns its values or nil, kind,
-- message; `got` in the state table says whether any byte came back (a
-- stale pooled connection shows none).

-- The longest timeout a cosocket takes (lua-nginx-module refuses more
-- than a 32-bit count of milliseconds, about 24.8 days); longer ones, as
-- the C core does, are clamped.
local MAX_MS = 2147483647

-- Milliseconds left before the deadline (at least 1), or nil when none.
local function left_ms(deadline)
    local left = deadline - clock()
    if left <= 0 then return nil end
    return min(ceil(left * 1000), MAX_MS)
end

-- Bytes come in through receiveany only, never receive(n) or "*l": nginx
-- re-arms a cosocket's read timer whenever some bytes arrive, so a server
-- trickling a byte at a time could hold one receive(n) or line read for
-- ever. Between two receiveany calls the deadline is checked, so the
-- per-call timeout bounds the whole answer. What was read past a line
-- stays in st.buf (from st.pos) for the next reader.

-- More bytes into st.buf: true, or nil, kind, message.
local function fill(sock, st, what)
    local ms = left_ms(st.deadline)
    if not ms then return nil, timed_out(st.t, what, st.timeout) end
    sock:settimeout(ms)
    local data, err = sock:receiveany(READ_CHUNK)
    if not data then return nil, io_failure(err, st.t, what, st.timeout) end
    st.got = true
    if st.pos > #st.buf then
        st.buf = data
    else
        st.buf = sub(st.buf, st.pos) .. data
    end
    st.pos = 1
    return true
end

-- One line (without CRLF), within the deadline.
local function read_line(sock, st, what)
    while true do
        local i = find(st.buf, "\n", st.pos, true)
        if i then
            local line = sub(st.buf, st.pos, i - 1)
            st.pos = i + 1
            if sub(line, -1) == "\r" then line = sub(line, 1, -2) end
            return line
        end
        if #st.buf - st.pos + 1 > MAX_HEADER_BYTES then
            return nil, "connection", format("%s sent a line longer than %d bytes", st.t.where, MAX_HEADER_BYTES)
        end
        local ok, kind, message = fill(sock, st, what)
        if not ok then return nil, kind, message end
    end
end

-- Exactly n bytes, within the deadline (never reading past them).
local function read_bytes(sock, st, n, what)
    local have = #st.buf - st.pos + 1
    if have >= n then
        local data = sub(st.buf, st.pos, st.pos + n - 1)
        st.pos = st.pos + n
        return data
    end
    local parts = { sub(st.buf, st.pos) }
    st.buf, st.pos = "", 1
    while have < n do
        local ms = left_ms(st.deadline)
        if not ms then return nil, timed_out(st.t, what, st.timeout) end
        sock:settimeout(ms)
        local data, err = sock:receiveany(min(READ_CHUNK, n - have))
        if not data then return nil, io_failure(err, st.t, what, st.timeout) end
        st.got = true
        parts[#parts + 1] = data
        have = have + #data
    end
    return concat(parts)
end

-- The status line and header block: status, version (10 or 11), headers
-- (lower-case names, repeats joined with ", ", at most MAX_HEADERS lines
-- kept), and the framing headers whatever was kept.
local function read_head(sock, st)
    local status, version
    while true do
        local line, kind, message = read_line(sock, st, "waiting for the response")
        if not line then return nil, kind, message end
        local major, minor, code = match(line, "^HTTP/(%d)%.(%d) (%d%d%d)")
        if not major then
            return nil, "connection", format("%s answered with a malformed status line", st.t.where)
        end
        status, version = tonumber(code), tonumber(major) * 10 + tonumber(minor)
        local headers, kept, bytes = {}, 0, #line
        local frame = {}
        local last
        while true do
            line, kind, message = read_line(sock, st, "reading the response headers")
            if not line then return nil, kind, message end
            if line == "" then break end
            bytes = bytes + #line + 2
            if bytes > MAX_HEADER_BYTES then
                return nil, "connection", format("%s sent more than %d bytes of response headers",
                    st.t.where, MAX_HEADER_BYTES)
            end
            local c = sub(line, 1, 1)
            if (c == " " or c == "\t") and last then
                -- An obsolete folded continuation of the previous line.
                local value = match(line, "^[ \t]*(.-)[ \t]*$")
                if headers[last] then headers[last] = headers[last] .. " " .. value end
            else
                local name, value = match(line, "^([^:]+):[ \t]*(.-)[ \t]*$")
                if name then
                    name = lower(name)
                    last = name
                    if name == "content-length" or name == "transfer-encoding" or name == "connection"
                        or name == "content-encoding" then
                        frame[name] = frame[name] and (frame[name] .. ", " .. value) or value
                    end
                    if kept < MAX_HEADERS then
                        kept = kept + 1
                        local prev = headers[name]
                        headers[name] = prev and (prev .. ", " .. value) or value
                    end
                end
            end
        end
        -- 1xx answers (100 Continue, 103 Early Hints) precede the real one.
        if status >= 200 or status < 100 or status == 101 then
            return status, version, headers, frame
        end
    end
end

-- A body delimited by chunked transfer coding.
local function read_chunked(sock, st, limit)
    local parts, total = {}, 0
    while true do
        local line, kind, message = read_line(sock, st, "reading the response body")
        if not line then return nil, kind, message end
        local hex = match(line, "^[ \t]*(%x+)")
        local size = hex and tonumber(hex, 16)
        if not size then
            return nil, "connection", format("%s sent a malformed chunk size", st.t.where)
        end
        if size == 0 then
            -- Trailer fields, up to the blank line (and dropped).
            repeat
                line, kind, message = read_line(sock, st, "reading the response trailers")
                if not line then return nil, kind, message end
            until line == ""
            return concat(parts)
        end
        if total + size > limit then return nil, "too_large" end
        local data
        data, kind, message = read_bytes(sock, st, size, "reading the response body")
        if not data then return nil, kind, message end
        parts[#parts + 1] = data
        total = total + size
        line, kind, message = read_line(sock, st, "reading the response body")
        if not line then return nil, kind, message end
        if line ~= "" then
            return nil, "connection", format("%s sent a chunk longer than its size", st.t.where)
        end
    end
end

-- A body that ends when the server closes the connection.
local function read_to_close(sock, st, limit)
    local parts = { sub(st.buf, st.pos) }
    local total = #parts[1]
    st.buf, st.pos = "", 1
    if total > limit then return nil, "too_large" end
    while true do
        local ms = left_ms(st.deadline)
        if not ms then return nil, timed_out(st.t, "reading the response body", st.timeout) end
        sock:settimeout(ms)
        local data, err = sock:receiveany(READ_CHUNK)
        if data then
            total = total + #data
            if total > limit then return nil, "too_large" end
            parts[#parts + 1] = data
        elseif err == "closed" then
            return concat(parts)
        else
            return nil, io_failure(err, st.t, "reading the response body", st.timeout)
        end
    end
end

-- Does the answer leave the connection reusable?
local function reusable(version, frame)
    local conn = frame.connection and lower(frame.connection) or ""
    if find(conn, "close", 1, true) then return false end
    if version < 11 then return find(conn, "keep-alive", 1, true) ~= nil end
    return true
end

-- One attempt on one connection: status, headers, body and whether the
-- connection may go back to the pool; or nil, kind, message.
local function converse(sock, st, request, method, limit)
    local t = st.t
    local ms = left_ms(st.deadline)
    if not ms then return nil, timed_out(t, "sending the request", st.timeout) end
    sock:settimeout(ms)
    local sent, err = sock:send(request)
    if not sent then return nil, io_failure(err, t, "sending the request", st.timeout) end

    local status, version, headers, frame = read_head(sock, st)
    if not status then return nil, version, headers end

    local body, kind, message
    local keep = reusable(version, frame)
    if method == "HEAD" or status == 204 or status == 304 or (status >= 100 and status < 200) then
        body = ""
    elseif frame["transfer-encoding"] then
        if not find(lower(frame["transfer-encoding"]), "chunked", 1, true) then
            -- Another coding without chunked: the body runs to the close.
            keep = false
            body, kind, message = read_to_close(sock, st, limit)
        else
            body, kind, message = read_chunked(sock, st, limit)
        end
    elseif frame["content-length"] then
        local cl = frame["content-length"]
        local n = match(cl, "^(%d+)$")
        if not n then
            -- "5, 5" (repeated and equal) is one length; anything else is not.
            local first = match(cl, "^(%d+)")
            for v in (cl .. ","):gmatch("[ \t]*([^,]*),") do
                if v ~= first then first = nil; break end
            end
            n = first
        end
        if not n then
            return nil, "connection", format("%s sent an invalid Content-Length", t.where)
        end
        n = tonumber(n)
        if n > limit then
            kind = "too_large"
        elseif n == 0 then
            body = ""
        else
            body, kind, message = read_bytes(sock, st, n, "reading the response body")
        end
    else
        keep = false
        body, kind, message = read_to_close(sock, st, limit)
    end
    if not body then
        if kind == "too_large" then
            return nil, "too_large", status, headers
        end
        return nil, kind, message
    end
    local coding = frame["content-encoding"]
    if coding and lower(coding) ~= "identity" and body ~= "" then
        -- The request asked for no coding (no Accept-Encoding): bytes in
        -- one this side cannot undo are not the answer. libcurl refuses an
        -- encoding it cannot decode the same way.
        return nil, "connection", format("%s sent a body in content coding %q, which was not asked for",
            t.where, coding)
    end
    return status, headers, body, keep
end

---------------------------------------------------------------------------

-- The error object of a failure, through the C core (one classification
-- for every transport).
local function failure(kind, message, method, url)
    return core.transport_error(kind, message, method, url)
end

--- exchange(cc, settings, req, method, path, body, expect, call) ->
-- result, meta | nil, err
--   cc        the core client (the request head and its base URL)
--   settings  timeout, connect_timeout, max_response_bytes, insecure and
--             base_url (the client's settings, or a token endpoint's)
--   req       unused (the libcurl scheduler's started call)
--   call      per-call settings: timeout (a deadline for the whole
--             request), content_type, basic, no_auth (core.request_head's)
function M.exchange(cc, settings, _, method, path, body, expect, call)
    local ngx = nginx()
    local t0 = clock()
    path = path:gsub("^/+", "")
    local url = settings.base_url .. (path ~= "" and ("/" .. path) or "")
    if cc:is_closed() then
        return nil, errors.new("OctogenError", "octogen.client is closed", { method = method, url = url })
    end
    local timeout = (call and call.timeout) or settings.timeout or DEFAULT_TIMEOUT
    local connect_timeout = settings.connect_timeout or DEFAULT_CONNECT_TIMEOUT
    local limit = settings.max_response_bytes or DEFAULT_MAX_BYTES
    local t = target_of(cc, settings.insecure)
    local head = core.request_head(cc, method, path, body and #body or nil, call)
    local request = body and { head, body } or head
    local st = { deadline = t0 + timeout, timeout = timeout, t = t, got = false, buf = "", pos = 1 }

    local status, headers, resp_body, keep
    local kind, message
    local tls_redos = 0
    for _ = 0, MAX_STALE do
        local sock = ngx.socket.tcp()
        local ms = left_ms(st.deadline)
        if not ms then
            kind, message = "timeout", format("timed out connecting to %s", t.where)
            break
        end
        local conn_ms = min(ceil(min(connect_timeout, timeout) * 1000), MAX_MS)
        sock:settimeouts(min(conn_ms, ms), ms, ms)
        local ok, err = sock:connect(t.connect_host, t.port, { pool = t.pool })
        if not ok then
            kind, message = connect_failure(err, t)
            break
        end
        local reused = (sock:getreusedtimes() or 0) > 0
        if t.https and not reused then
            -- (A pooled TLS connection has had its handshake.)
            ms = left_ms(st.deadline)
            if ms then
                sock:settimeout(ms)
                ok, err = sock:sslhandshake(false, t.server_name, t.verify)
            else
                ok, err = nil, "timeout"
            end
            if not ok then
                sock:close()
                if err == "timeout" then
                    kind, message = "timeout", format("timed out in the TLS handshake with %s", t.where)
                else
                    kind, message = tls_failure(tostring(err), t)
                end
                break
            end
        end
        st.got, st.buf, st.pos = false, "", 1
        local a, b, c, d = converse(sock, st, request, method, limit)
        if a then
            status, headers, resp_body, keep = a, b, c, d
            -- Bytes past the answer: the connection is not in a known state.
            if keep and st.pos <= #st.buf then keep = false end
            if keep then
                sock:setkeepalive()
            else
                sock:close()
            end
            break
        end
        sock:close()
        kind, message = b, c
        if kind == "too_large" then
            -- As over libcurl: an APIError with the answer's status and
            -- headers (c and d).
            local e = failure("too_large", "response body is larger than max_response_bytes", method, url)
            if e.status_code == nil then
                e.status_code, e.headers = c, d
                e.request_id = d["x-request-id"]
            end
            return nil, e
        end
        -- A pooled connection the server had closed: try another.
        local stale = reused and not st.got and kind == "connection"
        -- A fresh TLS connection that dies before the first byte of the
        -- answer: Debian's lua-nginx-module 0.10.23 now and then reports a
        -- verified handshake with a server whose certificate does not
        -- match as a success, and the connection is then found closed
        -- (seen in spec/support/ngx_runner/cosocket_cases.lua, about one
        -- run in five). Nothing of the answer came back; a new connection
        -- gets the verification error itself. A few times at most.
        local broken_tls = t.https and not reused and not st.got and kind == "connection"
            and tls_redos < MAX_TLS_REDO
        if broken_tls then tls_redos = tls_redos + 1 end
        if not (stale or broken_tls) then break end
    end

    if not status then
        return nil, failure(kind, message, method, url)
    end
    return core.response(status, headers, resp_body, method, url, expect, clock() - t0)
end

return M
