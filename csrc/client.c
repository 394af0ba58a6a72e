/* The octogen.client userdata: lifetime of the easy handle and header
 * lists, and the one C entry point every API method goes through. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include "octogen.h"

static octogen_client *check_client(lua_State *L)
{
    return (octogen_client *)luaL_checkudata(L, 1, OCTOGEN_CLIENT_MT);
}

octogen_client *octogen_check_open(lua_State *L, int idx)
{
    octogen_client *c = (octogen_client *)luaL_checkudata(L, idx, OCTOGEN_CLIENT_MT);
    if (c->easy == NULL) {
        /* A programming error, raised as an error object (OctogenError,
         * as the Lua layer's check_self raises) at the caller's line. */
        luaL_where(L, 1);
        lua_pushliteral(L, "octogen.client is closed");
        lua_concat(L, 2);
        errors_push_simple(L, "OctogenError", lua_tostring(L, -1), NULL, NULL);
        lua_error(L);
    }
    return c;
}

static octogen_client *check_open(lua_State *L)
{
    return octogen_check_open(L, 1);
}

/* The header lists hold the API key: wipe it before the memory goes back
 * to the allocator. */
static void free_headers(struct curl_slist **list)
{
    struct curl_slist *h;
    for (h = *list; h != NULL; h = h->next)
        memset(h->data, 0, strlen(h->data));
    curl_slist_free_all(*list);
    *list = NULL;
}

/* Replaces the Authorization line; a NULL token removes it. The old line
 * is wiped first. Returns 0 when out of memory. */
static int set_auth(octogen_client *c, const char *token, size_t len)
{
    static const char prefix[] = "Authorization: Bearer ";
    if (c->auth_line != NULL) {
        memset(c->auth_line, 0, strlen(c->auth_line));
        free(c->auth_line);
        c->auth_line = NULL;
    }
    if (token == NULL)
        return 1;
    c->auth_line = (char *)malloc(sizeof prefix + len);
    if (c->auth_line == NULL)
        return 0;
    memcpy(c->auth_line, prefix, sizeof prefix - 1);
    memcpy(c->auth_line + sizeof prefix - 1, token, len);
    c->auth_line[sizeof prefix - 1 + len] = '\0';
    return 1;
}

/* Idempotent: close(), __close and __gc all come here (and
 * octogen_guarded, for a close() it deferred). The client is at index 1.
 * The base URL stays until collection so tostring() still works on a
 * closed client. */
static void release(lua_State *L, octogen_client *c)
{
    transfer_detach_all(L, c);
    if (c->easy != NULL) {
        curl_easy_cleanup(c->easy);
        c->easy = NULL;
    }
    if (c->bmulti != NULL) {
        curl_multi_cleanup(c->bmulti);
        c->bmulti = NULL;
    }
    http_socks_free(&c->bsocks);
    if (c->share != NULL) {
        share_unref(c->share);
        c->share = NULL;
    }
    free_headers(&c->headers);
    free_headers(&c->body_headers);
    set_auth(c, NULL, 0);
    http_free(&c->ex);
}

/* close() while a call on this client is in the C core (a finalizer run
 * by a GC step during its conversion, say) would free the handle and the
 * bytes that call is reading: it is deferred until the call returns. */
static int l_close(lua_State *L)
{
    octogen_client *c = check_client(L);
    if (c->busy > 0) {
        c->close_pending = 1;
        return 0;
    }
    release(L, c);
    return 0;
}

/* Runs f under lua_pcall with the client (at index 1) marked busy and
 * *in_use (when not NULL) set; returns how many results f left on the
 * stack. f gets the caller's arguments (the same stack indices) and ctx
 * as one more, last argument, which octogen_guard_ctx takes off. A
 * close() made meanwhile is carried out here, once f is done with the
 * handles; an error f raised is raised again after that, so no flag
 * stays set. f must check that the client is still open: pushing f may
 * itself run a GC step. */
int octogen_guarded(lua_State *L, octogen_client *c, lua_CFunction f, void *ctx,
                    int *in_use)
{
    int base = lua_gettop(L), status, i;
    luaL_checkstack(L, base + 2, "octogen_guarded");
    lua_pushcfunction(L, f);
    for (i = 1; i <= base; i++)
        lua_pushvalue(L, i);
    lua_pushlightuserdata(L, ctx);
    c->busy++;
    if (in_use != NULL)
        *in_use = 1;
    status = lua_pcall(L, base + 1, LUA_MULTRET, 0);
    if (in_use != NULL)
        *in_use = 0;
    c->busy--;
    if (c->busy == 0 && c->close_pending) {
        c->close_pending = 0;
        release(L, c);
    }
    if (status != 0)
        lua_error(L);
    return lua_gettop(L) - base;
}

void *octogen_guard_ctx(lua_State *L)
{
    void *ctx = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return ctx;
}

static int l_gc(lua_State *L)
{
    octogen_client *c = check_client(L);
    release(L, c);
    free(c->base_url);
    c->base_url = NULL;
    wire_free_target(c);
    return 0;
}

static int l_tostring(lua_State *L)
{
    octogen_client *c = check_client(L);
    lua_pushfstring(L, "octogen.client<%s>%s%s",
                    c->base_url != NULL ? c->base_url : "",
                    c->insecure ? " INSECURE: TLS verification off" : "",
                    c->easy == NULL ? " (closed)" : "");
    return 1;
}

static int l_is_closed(lua_State *L)
{
    lua_pushboolean(L, check_client(L)->easy == NULL);
    return 1;
}

static int l_base_url(lua_State *L)
{
    lua_pushstring(L, check_client(L)->base_url);
    return 1;
}

static int has_line_break(const char *s, size_t len)
{
    return memchr(s, '\r', len) != NULL || memchr(s, '\n', len) != NULL ||
           strlen(s) != len;
}

/* Appends "name: value" to *list, refusing CR, LF and NUL so that nothing
 * the caller passes can start a header of its own. */
static void add_header(lua_State *L, struct curl_slist **list,
                       const char *name, size_t nlen,
                       const char *value, size_t vlen)
{
    struct curl_slist *grown;
    if (has_line_break(name, nlen) || has_line_break(value, vlen))
        luaL_error(L, "header %s contains CR, LF or NUL", name);
    lua_pushfstring(L, "%s: %s", name, value);
    grown = curl_slist_append(*list, lua_tostring(L, -1));
    lua_pop(L, 1);
    if (grown == NULL)
        luaL_error(L, "out of memory");
    *list = grown;
}

static void build_headers(lua_State *L, struct curl_slist **list, int with_body)
{
    size_t ulen;
    const char *ua;

    /* Content-Type comes first: http_perform swaps this first node for a
     * call that sends another type. */
    if (with_body)
        add_header(L, list, "Content-Type", 12, "application/json", 16);
    add_header(L, list, "Accept", 6, "application/json", 16);
    lua_getfield(L, 1, "user_agent");
    ua = luaL_checklstring(L, -1, &ulen);
    add_header(L, list, "User-Agent", 10, ua, ulen);
    lua_pop(L, 1);

    /* Extra headers arrive as an array of {name, value} pairs, already
     * sorted by the Lua layer so the wire order is deterministic. */
    lua_getfield(L, 1, "headers");
    if (lua_istable(L, -1)) {
        size_t i, n = lua_rawlen(L, -1);
        for (i = 1; i <= n; i++) {
            size_t nl, vl;
            const char *name, *value;
            lua_rawgeti(L, -1, (int)i);
            lua_rawgeti(L, -1, 1);
            lua_rawgeti(L, -2, 2);
            name = luaL_checklstring(L, -2, &nl);
            value = luaL_checklstring(L, -1, &vl);
            add_header(L, list, name, nl, value, vl);
            lua_pop(L, 3);
        }
    }
    lua_pop(L, 1);

    if (with_body) {
        /* No "Expect: 100-continue" round trip before large bodies. */
        struct curl_slist *grown = curl_slist_append(*list, "Expect:");
        if (grown == NULL)
            luaL_error(L, "out of memory");
        *list = grown;
    }
}

static const char *opt_string(lua_State *L, const char *name)
{
    const char *v;
    lua_getfield(L, 1, name);
    v = lua_isnil(L, -1) ? NULL : luaL_checkstring(L, -1);
    lua_pop(L, 1);  /* the string stays anchored in the config table */
    return v;
}

static int opt_flag(lua_State *L, const char *name)
{
    int v;
    lua_getfield(L, 1, name);
    v = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

static long field_ms(lua_State *L, const char *name, double dflt)
{
    double s;
    lua_getfield(L, 1, name);
    s = lua_isnil(L, -1) ? dflt : (double)luaL_checknumber(L, -1);
    lua_pop(L, 1);
    return http_seconds_to_ms(s);
}

static int is_https(const char *url)
{
    static const char https[] = "https:";
    size_t i;
    for (i = 0; i < sizeof https - 1; i++) {
        char ch = url[i];
        if (ch >= 'A' && ch <= 'Z')
            ch = (char)(ch - 'A' + 'a');
        if (ch != https[i])
            return 0;
    }
    return 1;
}

/* core.new(config) -> client. config is produced by lua/octogen/client.lua,
 * which has already checked names and types; this only builds. */
int octogen_client_new(lua_State *L)
{
    octogen_client *c;
    const char *base;
    size_t blen;
    double max_bytes;

    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    c = (octogen_client *)octogen_newuserdata(L, sizeof *c);
    memset(c, 0, sizeof *c);
    buffer_init(&c->ex.url, 0);
    buffer_init(&c->ex.response, OCTOGEN_DEFAULT_MAX_RESPONSE_BYTES);
    buffer_init(&c->ex.heads, OCTOGEN_MAX_HEADER_BYTES);
    /* The metatable goes on first so __gc owns whatever is built below,
     * even if building raises half-way. */
    luaL_getmetatable(L, OCTOGEN_CLIENT_MT);
    lua_setmetatable(L, -2);

    lua_getfield(L, 1, "base_url");
    base = luaL_checklstring(L, -1, &blen);
    c->base_url = (char *)malloc(blen + 1);
    if (c->base_url == NULL)
        return luaL_error(L, "out of memory");
    memcpy(c->base_url, base, blen + 1);
    lua_pop(L, 1);
    wire_parse_target(c);

    c->timeout_ms = field_ms(L, "timeout", 30.0);
    c->connect_timeout_ms = field_ms(L, "connect_timeout", 10.0);
    lua_getfield(L, 1, "max_response_bytes");
    max_bytes = lua_isnil(L, -1) ? (double)OCTOGEN_DEFAULT_MAX_RESPONSE_BYTES
                                 : (double)luaL_checknumber(L, -1);
    lua_pop(L, 1);
    c->max_response_bytes = http_byte_limit(max_bytes);

    build_headers(L, &c->headers, 0);
    build_headers(L, &c->body_headers, 1);
    lua_getfield(L, 1, "api_key");
    if (lua_type(L, -1) == LUA_TSTRING) {
        size_t klen;
        const char *key = lua_tolstring(L, -1, &klen);
        if (has_line_break(key, klen))
            return luaL_error(L, "api_key contains CR, LF or NUL");
        if (!set_auth(c, key, klen))
            return luaL_error(L, "out of memory");
    }
    lua_pop(L, 1);

    c->easy = curl_easy_init();
    if (c->easy == NULL)
        return luaL_error(L, "curl_easy_init failed");
    c->share = share_new();
    if (c->share == NULL)
        return luaL_error(L, "curl_share_init failed");
    curl_easy_setopt(c->easy, CURLOPT_SHARE, c->share->sh);
    http_configure(c->easy, c->connect_timeout_ms);
    http_bind(c->easy, &c->ex);
    {
        const char *ca_file = opt_string(L, "ca_file");
        const char *ca_path = opt_string(L, "ca_path");
        const char *proxy = opt_string(L, "proxy");
        /* libcurl copies string options, so the config may go away. */
        if (ca_file != NULL)
            curl_easy_setopt(c->easy, CURLOPT_CAINFO, ca_file);
        if (ca_path != NULL)
            curl_easy_setopt(c->easy, CURLOPT_CAPATH, ca_path);
        if (proxy != NULL)
            curl_easy_setopt(c->easy, CURLOPT_PROXY, proxy);
        else if (!is_https(c->base_url)) {
            /* Over plain http (loopback, or allow_insecure_http) a proxy
             * from http_proxy/ALL_PROXY would receive the key in clear
             * text: "" turns environment proxies off. (client.lua refuses
             * an explicit non-loopback proxy for an http:// base_url.) */
            curl_easy_setopt(c->easy, CURLOPT_PROXY, "");
            /* With no proxy at all, no_proxy has nothing to exempt: ""
             * spares libcurl reading it (twice) from the environment on
             * every transfer. */
            curl_easy_setopt(c->easy, CURLOPT_NOPROXY, "");
        }
        c->insecure = opt_flag(L, "insecure");
        if (c->insecure) {
            curl_easy_setopt(c->easy, CURLOPT_SSL_VERIFYPEER, 0L);
            curl_easy_setopt(c->easy, CURLOPT_SSL_VERIFYHOST, 0L);
        }
    }
    /* The uservalue is the C core's own table (transfer.c anchors running
     * transfers in it); the Lua layer keeps its settings elsewhere, out of
     * reach of anything holding the client. */
    lua_newtable(L);
    octogen_setuservalue(L, 2);
    lua_settop(L, 2);
    return 1;
}

typedef struct {
    octogen_client *c;
    const char *method, *path, *body;
    size_t body_len;
    octogen_call call;
    shape sh;
} request_ctx;

/* The exchange itself, under octogen_guarded. */
static int request_guarded(lua_State *L)
{
    request_ctx *q = (request_ctx *)octogen_guard_ctx(L);
    octogen_client *c = check_open(L);
    octogen_response r;
    CURLcode code;

    code = http_setup(c, &c->ex, q->method, q->path, q->body, q->body_len, &q->call,
                      c->auth_line);
    if (code == CURLE_OK)
        code = http_perform(c);
    http_done(&c->ex, code, q->method, &r);
    return response_push(L, &c->ex, &r, &q->sh);
}

/* core.request(client, method, path [, body_json [, expect [, call]]])
 *   -> result, meta | nil, err
 * The blocking path: one exchange on the client's own easy handle. expect
 * (see response_parse_shape) is given when the caller knows the shape of a
 * good answer; call holds per-call settings (timeout, content_type,
 * no_auth, basic).
 *
 * A blocking call made while another one on the same client is still in
 * the C core (only a finalizer run during its conversion can do that) is
 * refused: nil and an OctogenError. Running it would overwrite the
 * handle and buffers the outer call is reading. */
static int l_request(lua_State *L)
{
    request_ctx q;
    q.c = check_open(L);
    q.method = luaL_checkstring(L, 2);
    q.path = luaL_checkstring(L, 3);
    q.body_len = 0;
    q.body = luaL_optlstring(L, 4, NULL, &q.body_len);
    response_parse_shape(L, 5, luaL_optstring(L, 5, NULL), &q.sh);
    response_read_call(L, 6, &q.call);
    if (q.c->ex_busy) {
        lua_pushnil(L);
        errors_push_simple(L, "OctogenError",
                           "octogen.client is busy: a call re-entered it (from a finalizer) "
                           "while another call on it was in progress; use another client",
                           q.method, NULL);
        return 2;
    }
    return octogen_guarded(L, q.c, request_guarded, &q, &q.c->ex_busy);
}

/* core.set_auth(client, token | nil): the Lua layer's token providers. */
static int l_set_auth(lua_State *L)
{
    octogen_client *c = check_open(L);
    size_t len = 0;
    const char *token = luaL_optlstring(L, 2, NULL, &len);
    if (token != NULL && has_line_break(token, len))
        return luaL_argerror(L, 2, "token contains CR, LF or NUL");
    if (!set_auth(c, token, len))
        return luaL_error(L, "out of memory");
    return 0;
}

/* core.escape(client, s): percent-encoding by libcurl, for form bodies. */
static int l_escape(lua_State *L)
{
    octogen_client *c = check_open(L);
    size_t len;
    const char *s = luaL_checklstring(L, 2, &len);
    char *out;
    if (len > (size_t)INT_MAX)
        return luaL_argerror(L, 2, "string too long");
    out = curl_easy_escape(c->easy, s, (int)len);
    if (out == NULL)
        return luaL_error(L, "out of memory");
    lua_pushstring(L, out);
    curl_free(out);
    return 1;
}

/* The public methods. What only the Lua layer may call (request,
 * set_auth, escape, and transfer.c's start/poll/finish) is a function of
 * the core module instead, so nothing private is reachable through a
 * client, and the key, once copied into the Authorization line, has no
 * reader at all. */
static const luaL_Reg client_methods[] = {
    {"close", l_close},
    {"is_closed", l_is_closed},
    {"base_url", l_base_url},
    {NULL, NULL}
};

static const luaL_Reg private_functions[] = {
    {"request", l_request},
    {"set_auth", l_set_auth},
    {"escape", l_escape},
    {NULL, NULL}
};

void octogen_client_register(lua_State *L)
{
    /* module table is on top */
    luaL_setfuncs(L, private_functions, 0);
    transfer_register(L);
    luaL_newmetatable(L, OCTOGEN_CLIENT_MT);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, "client_metatable");
    lua_pushcfunction(L, l_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, l_close);
    lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, l_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_newtable(L);
    luaL_setfuncs(L, client_methods, 0);
    /* The Lua layer adds the API methods to this same table. */
    lua_pushvalue(L, -1);
    lua_setfield(L, -4, "client_methods");
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
}
