/* Status codes and libcurl failures mapped to error tables.
 *
 * Every error is a plain table with the shared "octogen.error" metatable;
 * lua/octogen/errors.lua fills that metatable's methods (is, __tostring).
 * The mappings are written once, as tables, so names and codes cannot
 * drift apart. */
#include <string.h>
#include <time.h>
#include "octogen.h"

#define STATUS_MAP(X)                   \
    X(401, "AuthenticationError")       \
    X(403, "ForbiddenError")            \
    X(404, "NotFoundError")             \
    X(422, "ValidationError")           \
    X(429, "RateLimitError")

/* libcurl results that mean the exchange never completed. Anything not
 * listed is still a ConnectionError; this table only picks out timeouts. */
#define TIMEOUT_CODES(X)                \
    X(CURLE_OPERATION_TIMEDOUT)

/* Failures of TLS itself. Those of verification are final: the same
 * certificate will fail the same way, so they are not worth a retry. */
#define TLS_CODES(X)                                                  \
    X(CURLE_SSL_CONNECT_ERROR, TRANSPORT_TLS)                         \
    X(CURLE_PEER_FAILED_VERIFICATION, TRANSPORT_TLS_VERIFY)           \
    X(CURLE_SSL_CERTPROBLEM, TRANSPORT_TLS_VERIFY)                    \
    X(CURLE_SSL_CIPHER, TRANSPORT_TLS_VERIFY)                         \
    X(CURLE_SSL_CACERT_BADFILE, TRANSPORT_TLS_VERIFY)                 \
    X(CURLE_SSL_CRL_BADFILE, TRANSPORT_TLS_VERIFY)                    \
    X(CURLE_SSL_ISSUER_ERROR, TRANSPORT_TLS_VERIFY)                   \
    X(CURLE_SSL_PINNEDPUBKEYNOTMATCH, TRANSPORT_TLS_VERIFY)           \
    X(CURLE_SSL_INVALIDCERTSTATUS, TRANSPORT_TLS_VERIFY)              \
    X(CURLE_SSL_SHUTDOWN_FAILED, TRANSPORT_TLS)                       \
    X(CURLE_USE_SSL_FAILED, TRANSPORT_TLS_VERIFY)

/* What each transport failure becomes, whichever transport saw it: the
 * one place the classes and flags of those errors are written. `kind`
 * is the name core.transport_error takes. */
static const struct {
    const char *kind;
    const char *name;
    int tls;                 /* sets err.tls = true */
    int final;               /* sets err.retryable = false */
    const char *message;     /* when the transport gives none */
} kinds[TRANSPORT_KINDS] = {
    {"timeout", "TimeoutError", 0, 0, "the request timed out"},
    {"connection", "ConnectionError", 0, 0, "the connection to the server failed"},
    {"tls", "ConnectionError", 1, 0, "the TLS handshake failed"},
    {"tls_verify", "ConnectionError", 1, 1,
     "the server's TLS certificate could not be verified"},
    /* The libcurl path's message since the limit exists. */
    {"too_large", "APIError", 0, 0, "response body is larger than max_response_bytes"},
};

/* How much of a non-string detail goes into the one-line message. */
#define MESSAGE_DETAIL_MAX 300

static const char *status_name(long status)
{
#define X(code, name) if (status == (code)) return name;
    STATUS_MAP(X)
#undef X
    if (status >= 500 && status <= 599)
        return "ServerError";
    return "APIError";
}

/* The kind of a libcurl failure: the libcurl path's half of the
 * naming, the other half being core.transport_error's kind strings. */
static transport_kind curl_kind(CURLcode code)
{
#define X(c) if (code == (c)) return TRANSPORT_TIMEOUT;
    TIMEOUT_CODES(X)
#undef X
#define X(c, kind) if (code == (c)) return kind;
    TLS_CODES(X)
#undef X
    return TRANSPORT_CONNECTION;
}

/* New error table on top of the stack, with name, message, method, url. */
static void push_error(lua_State *L, const char *name, const octogen_answer *a)
{
    lua_createtable(L, 0, 10);
    luaL_getmetatable(L, OCTOGEN_ERROR_MT);
    lua_setmetatable(L, -2);
    lua_pushstring(L, name);
    lua_setfield(L, -2, "name");
    if (a->method != NULL) {
        lua_pushstring(L, a->method);
        lua_setfield(L, -2, "method");
    }
    if (a->url != NULL) {
        lua_pushstring(L, a->url);
        lua_setfield(L, -2, "url");
    }
}

/* An error of class `name` that no response produced (a closed or busy
 * client); method and url may be NULL. */
void errors_push_simple(lua_State *L, const char *name, const char *message,
                        const char *method, const char *url)
{
    octogen_answer a;
    memset(&a, 0, sizeof a);
    a.method = method;
    a.url = url;
    push_error(L, name, &a);
    lua_pushstring(L, message);
    lua_setfield(L, -2, "message");
}

/* status_code, headers, body and request_id (from the header) on the error
 * at the top of the stack. header_idx is absolute. */
static void add_response(lua_State *L, const octogen_answer *a,
                         const char *body, size_t len, int header_idx)
{
    lua_pushinteger(L, (lua_Integer)a->status);
    lua_setfield(L, -2, "status_code");
    lua_pushlstring(L, body != NULL ? body : "", body != NULL ? len : 0);
    lua_setfield(L, -2, "body");
    lua_pushvalue(L, header_idx);
    lua_setfield(L, -2, "headers");
    lua_getfield(L, header_idx, "x-request-id");
    lua_setfield(L, -2, "request_id");
}

/* The error of a transport failure of `kind`; message NULL or "" gives
 * the kind's own. header_idx, when not 0, is a headers table: the error
 * then also gets status_code (a->status, when not 0), body "", headers and
 * request_id, as an answer cut off by max_response_bytes has them. */
void errors_push_kind(lua_State *L, transport_kind kind, const char *message,
                      const octogen_answer *a, int header_idx)
{
    if (header_idx != 0)
        header_idx = octogen_absindex(L, header_idx);
    push_error(L, kinds[kind].name, a);
    lua_pushstring(L, message != NULL && message[0] != '\0' ? message : kinds[kind].message);
    lua_setfield(L, -2, "message");
    if (kinds[kind].tls) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "tls");
    }
    if (kinds[kind].final) {
        lua_pushboolean(L, 0);
        lua_setfield(L, -2, "retryable");
    }
    if (header_idx != 0) {
        add_response(L, a, NULL, 0, header_idx);
        if (a->status <= 0) {
            /* core.transport_error given headers but no status */
            lua_pushnil(L);
            lua_setfield(L, -2, "status_code");
        }
    }
}

void errors_push_transport(lua_State *L, const octogen_response *r,
                           const char *curl_message)
{
    const char *what = (curl_message != NULL && curl_message[0] != '\0')
                           ? curl_message : curl_easy_strerror(r->code);
    errors_push_kind(L, curl_kind(r->code), what, &r->answer, 0);
    lua_pushinteger(L, (lua_Integer)r->code);
    lua_setfield(L, -2, "curl_code");
}

void errors_push_bad_body(lua_State *L, const octogen_answer *a,
                          const char *message, const char *body, size_t len,
                          int header_idx)
{
    header_idx = octogen_absindex(L, header_idx);
    push_error(L, "APIError", a);
    lua_pushstring(L, message);
    lua_setfield(L, -2, "message");
    add_response(L, a, body, len, header_idx);
}

/* True for values the SDKs treat as "no detail": nil, "", [] and {}. */
static int detail_is_empty(lua_State *L, int idx)
{
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        return 1;
    case LUA_TSTRING:
        return lua_rawlen(L, idx) == 0;
    case LUA_TTABLE:
        lua_pushnil(L);
        if (lua_next(L, idx) == 0)
            return 1;
        lua_pop(L, 2);
        return 0;
    default:
        return 0;
    }
}

/* The message rules of the official SDKs: a non-empty string detail is the
 * message; another non-empty detail is appended as JSON; otherwise only the
 * status is named. */
static void push_message(lua_State *L, long status, int detail_idx)
{
    const char *why = NULL;
    if (lua_type(L, detail_idx) == LUA_TSTRING && lua_rawlen(L, detail_idx) > 0) {
        lua_pushvalue(L, detail_idx);
        return;
    }
    if (!detail_is_empty(L, detail_idx) && convert_encode(L, detail_idx, &why)) {
        size_t len;
        const char *json = lua_tolstring(L, -1, &len);
        int cut = len > MESSAGE_DETAIL_MAX;
        lua_pushfstring(L, "Octogen API request failed with status %d: ", (int)status);
        lua_pushlstring(L, json, cut ? MESSAGE_DETAIL_MAX : len);
        if (cut)
            lua_pushliteral(L, "...");
        lua_concat(L, cut ? 3 : 2);
        lua_remove(L, -2);  /* the JSON text */
        return;
    }
    lua_pushfstring(L, "Octogen API request failed with status %d", (int)status);
}

/* A bare string detail is a code when it looks like one (the CLI's rule:
 * ^[a-z][a-z0-9_]{2,63}$); "Invalid API key" is a message, not a code. */
static int is_code(const char *s, size_t n)
{
    size_t i;
    if (n < 3 || n > 64 || s[0] < 'a' || s[0] > 'z')
        return 0;
    for (i = 1; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return 0;
    return 1;
}

/* err.code from the detail at detail_idx: a bare code string, or the
 * string `code` member of an object detail (voyage quota, keyless). */
static void set_code(lua_State *L, int err_idx, int detail_idx)
{
    if (lua_type(L, detail_idx) == LUA_TSTRING) {
        size_t n;
        const char *s = lua_tolstring(L, detail_idx, &n);
        if (is_code(s, n)) {
            lua_pushvalue(L, detail_idx);
            lua_setfield(L, err_idx, "code");
        }
    } else if (lua_type(L, detail_idx) == LUA_TTABLE) {
        lua_getfield(L, detail_idx, "code");
        if (lua_type(L, -1) == LUA_TSTRING)
            lua_setfield(L, err_idx, "code");
        else
            lua_pop(L, 1);
    }
}

/* err.retry_after: Retry-After in seconds, from delta-seconds (digits
 * only, RFC 9110) or an HTTP date (seconds from now, at least 0);
 * anything else is left out. */
static void set_retry_after(lua_State *L, int err_idx, int header_idx)
{
    const char *v, *p;
    lua_getfield(L, header_idx, "retry-after");
    if (lua_type(L, -1) != LUA_TSTRING) {
        lua_pop(L, 1);
        return;
    }
    v = lua_tostring(L, -1);
    while (*v == ' ' || *v == '\t')
        v++;
    for (p = v; *p >= '0' && *p <= '9'; p++)
        ;
    if (p != v) {
        const char *q = p;
        while (*q == ' ' || *q == '\t')
            q++;
        if (*q == '\0') {
            /* Clamped: a year is more than any caller waits. */
            double n = 0;
            const char *d;
            for (d = v; d < p && n < 1e9; d++)
                n = n * 10 + (*d - '0');
            lua_pushinteger(L, (lua_Integer)(n < 31536000.0 ? n : 31536000.0));
            lua_setfield(L, err_idx, "retry_after");
        }
    } else {
        time_t when = curl_getdate(v, NULL);
        if (when != (time_t)-1) {
            double d = difftime(when, time(NULL));
            lua_pushinteger(L, (lua_Integer)(d > 0 ? (d < 31536000.0 ? d : 31536000.0) : 0));
            lua_setfield(L, err_idx, "retry_after");
        }
    }
    lua_pop(L, 1);
}

void errors_push_status(lua_State *L, const char *body, size_t len,
                        const octogen_answer *a, int header_idx)
{
    const char *why = NULL;
    int top_is = JSON_TOP_SCALAR;
    int err_idx, detail_idx;

    if (body == NULL) {
        body = "";
        len = 0;
    }
    header_idx = octogen_absindex(L, header_idx);
    push_error(L, status_name(a->status), a);
    err_idx = lua_gettop(L);
    add_response(L, a, body, len, header_idx);

    /* detail: the body's "detail" member, else the whole decoded body, else
     * the raw text. */
    if (convert_decode(L, body, len, &top_is, &why)) {
        if (top_is == JSON_TOP_OBJECT) {
            lua_getfield(L, err_idx, "request_id");
            if (lua_isnil(L, -1)) {
                lua_getfield(L, -2, "request_id");
                lua_setfield(L, err_idx, "request_id");
            }
            lua_pop(L, 1);
            lua_getfield(L, -1, "detail");
            if (lua_isnil(L, -1))
                lua_pop(L, 1);
            else
                lua_remove(L, -2);
        }
    } else {
        lua_pushlstring(L, body, len);
    }
    detail_idx = lua_gettop(L);
    set_code(L, err_idx, detail_idx);
    set_retry_after(L, err_idx, header_idx);
    response_push_rate_limit(L, header_idx);
    lua_setfield(L, err_idx, "rate_limit");
    push_message(L, a->status, detail_idx);
    lua_setfield(L, err_idx, "message");
    lua_setfield(L, err_idx, "detail");
}

/* core.transport_error(kind, message, method, url [, extra]) -> err
 * The cosocket transport's failures, named by the same table as the
 * libcurl path's: kind is "timeout", "connection", "tls", "tls_verify"
 * or "too_large"; message nil or "" gives the kind's own (for too_large,
 * the libcurl path's). extra, a table {status_code =, headers =}, adds
 * what an answer cut off by max_response_bytes carries over libcurl:
 * status_code, body "", headers ({} when absent) and request_id. An
 * unknown kind is a programming error and raises. */
int errors_transport_error(lua_State *L)
{
    const char *kind = luaL_checkstring(L, 1);
    const char *message = luaL_optstring(L, 2, NULL);
    octogen_answer a;
    int k, header_idx = 0;

    memset(&a, 0, sizeof a);
    a.method = luaL_optstring(L, 3, NULL);
    a.url = luaL_optstring(L, 4, NULL);
    for (k = 0; k < TRANSPORT_KINDS; k++)
        if (strcmp(kind, kinds[k].kind) == 0)
            break;
    if (k == TRANSPORT_KINDS)
        return luaL_argerror(L, 1, lua_pushfstring(L, "unknown transport error kind '%s'", kind));
    if (!lua_isnoneornil(L, 5)) {
        luaL_checktype(L, 5, LUA_TTABLE);
        lua_settop(L, 5);
        lua_getfield(L, 5, "status_code");
        if (!lua_isnil(L, -1)) {
            lua_Integer status = luaL_checkinteger(L, -1);
            luaL_argcheck(L, status >= 0 && status <= 999, 5, "status_code out of range");
            a.status = (long)status;
        }
        lua_getfield(L, 5, "headers");
        if (lua_isnil(L, -1)) {
            lua_pop(L, 1);
            lua_newtable(L);
        }
        luaL_argcheck(L, lua_istable(L, -1), 5, "headers must be a table");
        header_idx = lua_gettop(L);
    }
    errors_push_kind(L, (transport_kind)k, message, &a, header_idx);
    return 1;
}

void errors_register(lua_State *L)
{
    luaL_newmetatable(L, OCTOGEN_ERROR_MT);
    lua_setfield(L, -2, "error_metatable");
}
