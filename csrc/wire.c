/* What a transport other than libcurl (the nginx cosocket one) needs from
 * the client to put a request on the wire itself: where to connect
 * (core.target) and the request head libcurl would have sent
 * (core.request_head). Both read the client's prepared state, so the two
 * transports cannot send different headers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "octogen.h"

static char *dup_range(const char *s, size_t n)
{
    char *p = (char *)malloc(n + 1);
    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

void wire_free_target(octogen_client *c)
{
    octogen_target *t = &c->target;
    free(t->scheme);
    free(t->host);
    free(t->authority);
    free(t->path);
    memset(t, 0, sizeof *t);
}

/* base_url through libcurl's URL API, once, at construction: the host,
 * port and path libcurl itself would use. A failure is kept (as
 * libcurl's static message) and raised by core.target and
 * core.request_head, not here: over libcurl the same URL fails at call
 * time as a ConnectionError, and construction must not change. */
void wire_parse_target(octogen_client *c)
{
    octogen_target *t = &c->target;
    CURLU *u;
    CURLUcode rc;
    char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;
    unsigned int host_flags = 0;

    wire_free_target(c);
#ifdef CURLU_PUNYCODE
    /* An IDN host as libcurl sends and resolves it. */
    host_flags = CURLU_PUNYCODE;
#endif
    u = curl_url();
    if (u == NULL) {
        t->error = "out of memory";
        return;
    }
    rc = curl_url_set(u, CURLUPART_URL, c->base_url, 0);
    if (rc == CURLUE_OK)
        rc = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
    if (rc == CURLUE_OK)
        rc = curl_url_get(u, CURLUPART_HOST, &host, host_flags);
    if (rc == CURLUE_OK)
        rc = curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
    /* libcurl sends the path with bytes >= 0x80 percent-encoded, as
     * CURLU_URLENCODE gives it. */
    if (rc == CURLUE_OK)
        rc = curl_url_get(u, CURLUPART_PATH, &path, CURLU_URLENCODE);
    if (rc != CURLUE_OK) {
        t->error = curl_url_strerror(rc);
    } else {
        size_t hlen = strlen(host);
        int is_default;
        t->port = strtol(port, NULL, 10);
        is_default = (strcmp(scheme, "https") == 0 && t->port == 443) ||
                     (strcmp(scheme, "http") == 0 && t->port == 80);
        t->scheme = dup_range(scheme, strlen(scheme));
        /* ngx.socket.tcp():connect() takes an IPv6 address without the
         * brackets the URL (and the Host header) needs. */
        if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']')
            t->host = dup_range(host + 1, hlen - 2);
        else
            t->host = dup_range(host, hlen);
        /* As libcurl writes Host: the port only when not the scheme's. */
        t->authority = (char *)malloc(hlen + 24);
        if (t->authority != NULL) {
            memcpy(t->authority, host, hlen + 1);
            if (!is_default)
                snprintf(t->authority + hlen, 24, ":%ld", t->port);
        }
        /* libcurl sends "/" for an empty path; base_url's own path is ""
         * then, so base path + "/" + path joins as http_setup does. */
        t->path = strcmp(path, "/") == 0 ? dup_range("", 0) : dup_range(path, strlen(path));
        if (t->scheme == NULL || t->host == NULL || t->authority == NULL || t->path == NULL) {
            wire_free_target(c);
            t->error = "out of memory";
        }
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_url_cleanup(u);
}

static const octogen_target *check_target(lua_State *L, octogen_client *c)
{
    if (c->target.error != NULL)
        luaL_error(L, "base_url %s could not be parsed: %s",
                   c->base_url != NULL ? c->base_url : "", c->target.error);
    return &c->target;
}

/* core.target(client) -> {scheme =, host =, port =, path =}
 * base_url as parsed at construction: host without IPv6 brackets, port
 * filled in (80/443), path the base path ("" for none). Works on a
 * closed client too (it is freed with the client, as base_url is). */
static int l_target(lua_State *L)
{
    octogen_client *c = (octogen_client *)luaL_checkudata(L, 1, OCTOGEN_CLIENT_MT);
    const octogen_target *t = check_target(L, c);
    lua_createtable(L, 0, 4);
    lua_pushstring(L, t->scheme);
    lua_setfield(L, -2, "scheme");
    lua_pushstring(L, t->host);
    lua_setfield(L, -2, "host");
    lua_pushinteger(L, (lua_Integer)t->port);
    lua_setfield(L, -2, "port");
    lua_pushstring(L, t->path);
    lua_setfield(L, -2, "path");
    return 1;
}

static int add(buffer *b, const char *s)
{
    return buffer_append(b, s, strlen(s));
}

static int add_base64(buffer *b, const char *s, size_t n)
{
    static const char digits[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = (const unsigned char *)s;
    char out[4];
    size_t i;
    for (i = 0; i + 2 < n; i += 3) {
        out[0] = digits[p[i] >> 2];
        out[1] = digits[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
        out[2] = digits[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)];
        out[3] = digits[p[i + 2] & 63];
        if (!buffer_append(b, out, 4))
            return 0;
    }
    if (i < n) {
        out[0] = digits[p[i] >> 2];
        if (i + 1 < n) {
            out[1] = digits[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
            out[2] = digits[(p[i + 1] & 15) << 2];
        } else {
            out[1] = digits[(p[i] & 3) << 4];
            out[2] = '=';
        }
        out[3] = '=';
        if (!buffer_append(b, out, 4))
            return 0;
    }
    return 1;
}

/* The request target: base path, then "/" and path with its leading
 * slashes stripped (http_setup's joining), "/" when both are empty.
 * Bytes >= 0x80 before the query are percent-encoded in lower case, as
 * libcurl (CURLU_URLENCODE on the path, the query left alone) sends
 * them. Dot segments are not resolved as libcurl would: client.lua
 * refuses them before any transport sees the path. */
static int add_target(buffer *b, const char *base, const char *path, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t i, run = 0;
    int in_query = 0;
    while (len > 0 && *path == '/') {
        path++;
        len--;
    }
    if (!add(b, base))
        return 0;
    if (len == 0)
        return base[0] != '\0' || add(b, "/");
    if (!add(b, "/"))
        return 0;
    for (i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)path[i];
        if (ch == '?')
            in_query = 1;
        if (ch >= 0x80 && !in_query) {
            char esc[3];
            esc[0] = '%';
            esc[1] = hex[ch >> 4];
            esc[2] = hex[ch & 15];
            if (!buffer_append(b, path + run, i - run) || !buffer_append(b, esc, 3))
                return 0;
            run = i + 1;
        }
    }
    return buffer_append(b, path + run, len - run);
}

/* Bytes that cannot be in a request line's method or target: they would
 * end it or start another line (libcurl's URL parser refuses them too). */
static int has_unsafe_byte(const char *s, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch <= 0x20 || ch == 0x7f)
            return 1;
    }
    return 0;
}

static int build_head(buffer *b, const octogen_client *c, const char *method,
                      const char *path, size_t path_len, long long body_len,
                      const octogen_call *call)
{
    const struct curl_slist *h;
    if (!add(b, method) || !add(b, " ") ||
        !add_target(b, c->target.path, path, path_len) ||
        !add(b, " HTTP/1.1\r\nHost: ") || !add(b, c->target.authority) || !add(b, "\r\n"))
        return 0;
    /* Where libcurl puts them: Authorization first (after Host), then its
     * Accept-Encoding (not sent here: this transport reads identity
     * bodies only), then the client's header list, then Content-Length. */
    if (call->basic != NULL) {
        /* libcurl splits "user:password" at the first colon and joins
         * the two again, so only a missing colon changes anything. */
        if (!add(b, "Authorization: Basic "))
            return 0;
        if (strchr(call->basic, ':') != NULL) {
            if (!add_base64(b, call->basic, strlen(call->basic)))
                return 0;
        } else {
            size_t n = strlen(call->basic);
            char *joined = (char *)malloc(n + 2);
            int ok;
            if (joined == NULL)
                return 0;
            memcpy(joined, call->basic, n);
            joined[n] = ':';
            joined[n + 1] = '\0';
            ok = add_base64(b, joined, n + 1);
            free(joined);
            if (!ok)
                return 0;
        }
        if (!add(b, "\r\n"))
            return 0;
    } else if (c->auth_line != NULL && !call->no_auth) {
        if (!add(b, c->auth_line) || !add(b, "\r\n"))
            return 0;
    }
    if (body_len >= 0 &&
        (!add(b, "Content-Type: ") ||
         !add(b, call->content_type != NULL ? call->content_type : "application/json") ||
         !add(b, "\r\n")))
        return 0;
    /* Accept, User-Agent and the extra headers, in libcurl's order, less
     * those the call replaces; then the call's own (http.c call_list). */
    for (h = c->headers; h != NULL; h = h->next) {
        int i, skip = 0;
        for (i = 0; i < call->n_headers && !skip; i++)
            skip = http_same_header_name(h->data, call->headers[i]);
        if (!skip && (!add(b, h->data) || !add(b, "\r\n")))
            return 0;
    }
    {
        int i;
        for (i = 0; i < call->n_headers; i++)
            if (!add(b, call->headers[i]) || !add(b, "\r\n"))
                return 0;
    }
    if (body_len >= 0) {
        char line[48];
        snprintf(line, sizeof line, "Content-Length: %lld\r\n", body_len);
        if (!add(b, line))
            return 0;
    }
    return add(b, "\r\n");
}

/* core.request_head(client, method, path, body_len_or_nil [, call]) -> head
 * The request line and headers, through the blank line, that libcurl
 * sends for the same call (core.request with the same arguments), minus
 * Accept-Encoding and Expect. call: content_type, no_auth, basic as for
 * core.request. A closed client raises an OctogenError; CR, LF, NUL,
 * space or another control byte in method or path raises. */
static int l_request_head(lua_State *L)
{
    octogen_client *c;
    const char *method, *path;
    size_t method_len, path_len;
    long long body_len = -1;
    octogen_call call;
    buffer b;

    luaL_checkudata(L, 1, OCTOGEN_CLIENT_MT);
    method = luaL_checklstring(L, 2, &method_len);
    path = luaL_checklstring(L, 3, &path_len);
    if (!lua_isnoneornil(L, 4)) {
        lua_Number n = luaL_checknumber(L, 4);
        luaL_argcheck(L, n >= 0 && n <= 9007199254740992.0 && n == (lua_Number)(long long)n, 4,
                      "body length must be a non-negative integer");
        body_len = (long long)n;
    }
    lua_settop(L, 5);
    response_read_call(L, 5, &call);
    luaL_argcheck(L, method_len > 0 && !has_unsafe_byte(method, method_len), 2,
                  "method must be a token without spaces or control bytes");
    luaL_argcheck(L, !has_unsafe_byte(path, path_len), 3,
                  "path contains a space, CR, LF, NUL or another control byte");
    /* Checked last: nothing below allocates on the Lua side until the
     * head is built, so no finalizer can close the client meanwhile. */
    c = octogen_check_open(L, 1);
    check_target(L, c);
    buffer_init(&b, 0);
    if (!build_head(&b, c, method, path, path_len, body_len, &call)) {
        buffer_free(&b);
        return luaL_error(L, "out of memory");
    }
    lua_pushlstring(L, b.data, b.len);
    /* The head may hold the key: wipe it before it goes back. */
    memset(b.data, 0, b.len);
    buffer_free(&b);
    return 1;
}

void wire_register(lua_State *L)
{
    lua_pushcfunction(L, l_target);
    lua_setfield(L, -2, "target");
    lua_pushcfunction(L, l_request_head);
    lua_setfield(L, -2, "request_head");
}
