/* An answer turned into what the API methods return: result, meta on
 * success, nil, err otherwise. response_convert is the one conversion,
 * whatever moved the bytes: the libcurl paths (response_push) call it on
 * their own buffer, the cosocket transport through core.response. */
#include <stdlib.h>
#include <string.h>
#include "octogen.h"

/* {limit, remaining, reset} from the X-RateLimit-* headers; fields the
 * server did not send (or sent as non-numbers) are absent. */
void response_push_rate_limit(lua_State *L, int header_idx)
{
    static const char *const names[][2] = {
        {"x-ratelimit-limit", "limit"},
        {"x-ratelimit-remaining", "remaining"},
        {"x-ratelimit-reset", "reset"},
    };
    size_t i;
    lua_createtable(L, 0, 3);
    for (i = 0; i < sizeof names / sizeof names[0]; i++) {
        lua_getfield(L, header_idx, names[i][0]);
        if (lua_type(L, -1) == LUA_TSTRING) {
            char *end;
            const char *v = lua_tostring(L, -1);
            long long n = strtoll(v, &end, 10);
            if (end != v && *end == '\0') {
                lua_pushinteger(L, (lua_Integer)n);
                lua_setfield(L, -3, names[i][1]);
            }
        }
        lua_pop(L, 1);
    }
}

static void push_meta(lua_State *L, const octogen_answer *r, int header_idx)
{
    lua_createtable(L, 0, 6);
    lua_pushinteger(L, (lua_Integer)r->status);
    lua_setfield(L, -2, "status");
    lua_pushvalue(L, header_idx);
    lua_setfield(L, -2, "headers");
    lua_getfield(L, header_idx, "x-request-id");
    lua_setfield(L, -2, "request_id");
    lua_pushnumber(L, (lua_Number)r->elapsed);
    lua_setfield(L, -2, "elapsed");
    lua_pushinteger(L, 1);
    lua_setfield(L, -2, "attempts");
    response_push_rate_limit(L, header_idx);
    lua_setfield(L, -2, "rate_limit");
}


static int kind_named(const char *s, size_t n, int array, int object)
{
    if (n == 5 && memcmp(s, "array", 5) == 0)
        return array;
    if (n == 6 && memcmp(s, "object", 6) == 0)
        return object;
    return -1;
}

/* expect is "array", "object", or "object NAME:KIND" where the top-level
 * member NAME, when present and not null, must be of KIND ("array" or
 * "object"); NULL accepts any JSON. A leading "304 " (and NULL) lets a
 * 304 Not Modified through as `true, meta` with meta.not_modified. A
 * leading "keep_body " (then "keep_body any" for any JSON) also puts the
 * answer's bytes in meta.body, for the cache. arg is the argument it came
 * from. */
void response_parse_shape(lua_State *L, int arg, const char *expect, shape *sh)
{
    const char *sp, *colon;
    sh->top = -1;
    sh->allow_304 = 0;
    sh->keep_body = 0;
    sh->member[0] = '\0';
    sh->member_kind = JSON_KIND_ABSENT;
    if (expect == NULL) {
        /* Any JSON: the caller (request()) sent what it liked, and a
         * conditional request may get a 304. */
        sh->allow_304 = 1;
        return;
    }
    if (strncmp(expect, "keep_body ", 10) == 0) {
        sh->keep_body = 1;
        expect += 10;
        if (strcmp(expect, "any") == 0) {
            sh->allow_304 = 1;
            return;
        }
    }
    if (strncmp(expect, "304 ", 4) == 0) {
        sh->allow_304 = 1;
        expect += 4;
    }
    sp = strchr(expect, ' ');
    sh->top = kind_named(expect, sp ? (size_t)(sp - expect) : strlen(expect),
                         JSON_TOP_ARRAY, JSON_TOP_OBJECT);
    if (sh->top < 0)
        luaL_argerror(L, arg, "unknown shape");
    if (sp == NULL)
        return;
    colon = strchr(sp + 1, ':');
    if (colon == NULL || (size_t)(colon - sp - 1) >= sizeof sh->member)
        luaL_argerror(L, arg, "unknown shape");
    memcpy(sh->member, sp + 1, (size_t)(colon - sp - 1));
    sh->member[colon - sp - 1] = '\0';
    sh->member_kind = kind_named(colon + 1, strlen(colon + 1), JSON_KIND_ARRAY,
                                 JSON_KIND_OBJECT);
    if (sh->member_kind < 0)
        luaL_argerror(L, arg, "unknown shape");
}

/* NULL when the decoded answer has the promised shape, else a message
 * format with one %s for the member name. */
static const char *shape_mismatch(const shape *sh, int top_is, int member_kind)
{
    if (sh->top == JSON_TOP_ARRAY && top_is != JSON_TOP_ARRAY)
        return "Octogen API returned a response that is not a JSON array";
    if (sh->top == JSON_TOP_OBJECT && top_is != JSON_TOP_OBJECT)
        return "Octogen API returned a response that is not a JSON object";
    if (sh->member[0] != '\0' && member_kind != JSON_KIND_ABSENT &&
        member_kind != JSON_KIND_NULL && member_kind != sh->member_kind)
        return sh->member_kind == JSON_KIND_ARRAY
                   ? "Octogen API returned a response whose %s is not a JSON array"
                   : "Octogen API returned a response whose %s is not a JSON object";
    return NULL;
}

/* call table at idx (or none) -> octogen_call; its strings stay anchored
 * in the table, which the caller keeps on the stack. */
void response_read_call(lua_State *L, int idx, octogen_call *call)
{
    call->timeout_ms = 0;
    call->content_type = NULL;
    call->no_auth = 0;
    call->basic = NULL;
    call->n_headers = 0;
    if (!lua_istable(L, idx))
        return;
    lua_getfield(L, idx, "timeout");
    /* Rounded, never to 0 ("no limit" to libcurl), clamped (http.c). */
    if (!lua_isnil(L, -1))
        call->timeout_ms = http_seconds_to_ms((double)luaL_checknumber(L, -1));
    lua_getfield(L, idx, "content_type");
    call->content_type = lua_isnil(L, -1) ? NULL : luaL_checkstring(L, -1);
    lua_getfield(L, idx, "no_auth");
    call->no_auth = lua_toboolean(L, -1);
    lua_getfield(L, idx, "basic");
    call->basic = lua_isnil(L, -1) ? NULL : luaL_checkstring(L, -1);
    lua_pop(L, 4);
    lua_getfield(L, idx, "headers");
    if (!lua_isnil(L, -1)) {
        int i, n;
        luaL_argcheck(L, lua_istable(L, -1), idx, "headers must be a list of \"Name: value\" lines");
        n = (int)lua_rawlen(L, -1);
        luaL_argcheck(L, n <= OCTOGEN_MAX_CALL_HEADERS, idx, "too many headers for one call");
        for (i = 1; i <= n; i++) {
            size_t len;
            const char *line, *colon;
            lua_rawgeti(L, -1, i);
            luaL_argcheck(L, lua_type(L, -1) == LUA_TSTRING, idx, "a header line is not a string");
            line = lua_tolstring(L, -1, &len);
            colon = strchr(line, ':');
            luaL_argcheck(L, colon != NULL && colon != line && strlen(line) == len &&
                              strpbrk(line, "\r\n") == NULL, idx,
                          "a header line must be \"Name: value\" without CR, LF or NUL");
            /* The string stays anchored in the headers table, which is
             * anchored in the call table the caller keeps. */
            call->headers[call->n_headers++] = line;
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    if (call->content_type != NULL &&
        (strchr(call->content_type, '\r') != NULL || strchr(call->content_type, '\n') != NULL))
        luaL_argerror(L, idx, "content_type contains CR or LF");
}

static const char *const shape_names[] = {"JSON value", "JSON object", "JSON array"};

/* status, headers (the table at header_idx, lower-case names), body ->
 * result, meta | nil, err on the stack; returns 2. The body is only read
 * (decoded in place, copied into err.body for an error), so the caller's
 * buffer is never copied on success; it must stay valid, and header_idx
 * on the stack, until this returns. */
int response_convert(lua_State *L, const octogen_answer *a, const char *body,
                     size_t len, int header_idx, const shape *sh)
{
    const char *why = NULL, *mismatch;
    int top_is = JSON_TOP_SCALAR, member_kind = JSON_KIND_ABSENT;

    header_idx = octogen_absindex(L, header_idx);
    if (body == NULL) {
        body = "";
        len = 0;
    }
    if (a->status == 304 && sh->allow_304) {
        lua_pushboolean(L, 1);
        push_meta(L, a, header_idx);
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "not_modified");
        return 2;
    }
    if (a->status < 200 || a->status >= 300) {
        lua_pushnil(L);
        errors_push_status(L, body, len, a, header_idx);
        return 2;
    }
    if (a->status == 204 || strcmp(a->method, "HEAD") == 0) {
        if (sh->top >= 0 && strcmp(a->method, "HEAD") != 0) {
            /* A method that promised its caller a shape has nothing to
             * give: an APIError (status kept), not `true`. */
            lua_pushnil(L);
            lua_pushfstring(L, "Octogen API returned no body (HTTP %d) where a %s was expected",
                            (int)a->status, shape_names[sh->top]);
            errors_push_bad_body(L, a, lua_tostring(L, -1), NULL, 0, header_idx);
            lua_remove(L, -2);
            return 2;
        }
        lua_pushboolean(L, 1);
        push_meta(L, a, header_idx);
        return 2;
    }
    /* The watched member's kind is read from the decoded table itself,
     * so the check is on the value the caller gets. */
    if (!convert_decode_watch(L, body, len, &top_is,
                              sh->member[0] ? sh->member : NULL, &member_kind, &why)) {
        lua_pushnil(L);
        lua_pushfstring(L, "Octogen API returned a non-JSON response (%s)", why);
        errors_push_bad_body(L, a, lua_tostring(L, -1), body, len, header_idx);
        lua_remove(L, -2);
        return 2;
    }
    mismatch = shape_mismatch(sh, top_is, member_kind);
    if (mismatch != NULL) {
        lua_pushnil(L);
        lua_pushfstring(L, mismatch, sh->member);
        errors_push_bad_body(L, a, lua_tostring(L, -1), body, len, header_idx);
        lua_remove(L, -2);
        return 2;
    }
    push_meta(L, a, header_idx);
    if (sh->keep_body) {
        lua_pushlstring(L, body, len);
        lua_setfield(L, -2, "body");
    }
    return 2;
}

/* The libcurl paths: a finished exchange (request_guarded, core.finish).
 * Failures of the transfer itself are libcurl's business and handled
 * here; an answer goes to response_convert with the exchange's own
 * response buffer. */
int response_push(lua_State *L, exchange *x, const octogen_response *r,
                  const shape *sh)
{
    if (r->code == CURLE_OK && x->head_state != HEAD_ENDED) {
        /* libcurl accepts a connection closed inside the header block (a
         * status line and part of a header, then EOF) as a complete
         * answer. It is not one: report the broken exchange as such
         * (a ConnectionError, which is retryable), not as an APIError. */
        octogen_response cut = *r;
        cut.code = CURLE_RECV_ERROR;
        lua_pushnil(L);
        errors_push_transport(L, &cut, "the server closed the connection before "
                                       "the end of the response headers");
        return 2;
    }
    if (r->code != CURLE_OK) {
        lua_pushnil(L);
        if (r->code == CURLE_WRITE_ERROR && x->response.overflowed) {
            http_push_headers(L, x);
            errors_push_kind(L, TRANSPORT_TOO_LARGE, NULL, &r->answer, -1);
            lua_remove(L, -2);
        } else {
            errors_push_transport(L, r, x->errbuf);
        }
        return 2;
    }
    http_push_headers(L, x);
    return response_convert(L, &r->answer, x->response.data, x->response.len, -1, sh);
}

/* core.response(status, headers, body, method, url, expect [, elapsed])
 *   -> result, meta | nil, err
 * The conversion for transports that hand over Lua values (the cosocket
 * transport): headers is a table of lower-case names (repeats joined
 * with ", "), kept as meta.headers / err.headers. status must be a
 * three-digit HTTP status (a transport turns any other status line into
 * a ConnectionError before calling this). */
static int l_response(lua_State *L)
{
    octogen_answer a;
    shape sh;
    size_t len;
    const char *body;
    lua_Integer status = luaL_checkinteger(L, 1);
    luaL_argcheck(L, status >= 100 && status <= 999, 1, "HTTP status out of range");
    luaL_checktype(L, 2, LUA_TTABLE);
    body = luaL_checklstring(L, 3, &len);
    a.status = (long)status;
    a.method = luaL_checkstring(L, 4);
    a.url = luaL_checkstring(L, 5);
    response_parse_shape(L, 6, luaL_optstring(L, 6, NULL), &sh);
    a.elapsed = (double)luaL_optnumber(L, 7, 0);
    lua_settop(L, 7);
    return response_convert(L, &a, body, len, 2, &sh);
}

void response_register(lua_State *L)
{
    lua_pushcfunction(L, l_response);
    lua_setfield(L, -2, "response");
}
