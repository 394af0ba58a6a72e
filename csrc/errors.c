/* Status codes and libcurl failures mapped to error tables.
 *
 * Every error is a plain table with the shared "octogen.error" metatable;
 * lua/octogen/errors.lua fills that metatable's methods (is, __tostring).
 * The mappings are written once, as tables, so names and codes cannot
 * drift apart. */
#include <string.h>
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
#define TLS_CODES(X)                                  \
    X(CURLE_SSL_CONNECT_ERROR, 1)                     \
    X(CURLE_PEER_FAILED_VERIFICATION, 0)              \
    X(CURLE_SSL_CERTPROBLEM, 0)                       \
    X(CURLE_SSL_CIPHER, 0)                            \
    X(CURLE_SSL_CACERT_BADFILE, 0)                    \
    X(CURLE_SSL_CRL_BADFILE, 0)                       \
    X(CURLE_SSL_ISSUER_ERROR, 0)                      \
    X(CURLE_SSL_PINNEDPUBKEYNOTMATCH, 0)              \
    X(CURLE_SSL_INVALIDCERTSTATUS, 0)                 \
    X(CURLE_SSL_SHUTDOWN_FAILED, 1)                   \
    X(CURLE_USE_SSL_FAILED, 0)

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

static int is_timeout(CURLcode code)
{
#define X(c) if (code == (c)) return 1;
    TIMEOUT_CODES(X)
#undef X
    return 0;
}

/* New error table on top of the stack, with name, message, method, url. */
static void push_error(lua_State *L, const char *name, const octogen_response *r)
{
    lua_createtable(L, 0, 10);
    luaL_getmetatable(L, OCTOGEN_ERROR_MT);
    lua_setmetatable(L, -2);
    lua_pushstring(L, name);
    lua_setfield(L, -2, "name");
    if (r->method != NULL) {
        lua_pushstring(L, r->method);
        lua_setfield(L, -2, "method");
    }
    if (r->url != NULL) {
        lua_pushstring(L, r->url);
        lua_setfield(L, -2, "url");
    }
}

/* An error of class `name` that no response produced (a closed or busy
 * client); method and url may be NULL. */
void errors_push_simple(lua_State *L, const char *name, const char *message,
                        const char *method, const char *url)
{
    octogen_response r;
    memset(&r, 0, sizeof r);
    r.method = method;
    r.url = url;
    push_error(L, name, &r);
    lua_pushstring(L, message);
    lua_setfield(L, -2, "message");
}

void errors_push_transport(lua_State *L, const octogen_response *r,
                           const char *curl_message)
{
    const char *what = (curl_message != NULL && curl_message[0] != '\0')
                           ? curl_message : curl_easy_strerror(r->code);
    push_error(L, is_timeout(r->code) ? "TimeoutError" : "ConnectionError", r);
    lua_pushstring(L, what);
    lua_setfield(L, -2, "message");
    lua_pushinteger(L, (lua_Integer)r->code);
    lua_setfield(L, -2, "curl_code");
#define X(c, retry)                                 \
    if (r->code == (c)) {                           \
        lua_pushboolean(L, 1);                      \
        lua_setfield(L, -2, "tls");                 \
        if (!(retry)) {                             \
            lua_pushboolean(L, 0);                  \
            lua_setfield(L, -2, "retryable");       \
        }                                           \
    }
    TLS_CODES(X)
#undef X
}

/* status_code, headers, body and request_id (from the header) on the error
 * at the top of the stack. */
static void add_response(lua_State *L, const octogen_response *r,
                         const char *body, size_t len, int header_idx)
{
    lua_pushinteger(L, (lua_Integer)r->status);
    lua_setfield(L, -2, "status_code");
    lua_pushlstring(L, body != NULL ? body : "", body != NULL ? len : 0);
    lua_setfield(L, -2, "body");
    lua_pushvalue(L, header_idx);
    lua_setfield(L, -2, "headers");
    lua_getfield(L, header_idx, "x-request-id");
    lua_setfield(L, -2, "request_id");
}

void errors_push_bad_body(lua_State *L, const octogen_response *r,
                          const char *message, const char *body, size_t len,
                          int header_idx)
{
    header_idx = octogen_absindex(L, header_idx);
    push_error(L, "APIError", r);
    lua_pushstring(L, message);
    lua_setfield(L, -2, "message");
    add_response(L, r, body, len, header_idx);
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

void errors_push_status(lua_State *L, const buffer *response,
                        const octogen_response *r, int header_idx)
{
    const char *body = response->data != NULL ? response->data : "";
    size_t len = response->len;
    const char *why = NULL;
    int top_is = JSON_TOP_SCALAR;
    int err_idx, detail_idx;

    header_idx = octogen_absindex(L, header_idx);
    push_error(L, status_name(r->status), r);
    err_idx = lua_gettop(L);
    add_response(L, r, body, len, header_idx);

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
    push_message(L, r->status, detail_idx);
    lua_setfield(L, err_idx, "message");
    lua_setfield(L, err_idx, "detail");
}

void errors_register(lua_State *L)
{
    luaL_newmetatable(L, OCTOGEN_ERROR_MT);
    lua_setfield(L, -2, "error_metatable");
}
