/* libFuzzer harness for octogen.core's JSON <-> Lua conversion
 * (csrc/convert.c) and its status-error mapping (csrc/errors.c).
 *
 * README
 * ------
 *   make fuzz                        60 s from fuzz/corpus/, then merge
 *   make fuzz FUZZ_SECONDS=600       longer
 *   make fuzz-build                  only build build/fuzz/fuzz_decode
 *   build/fuzz/fuzz_decode fuzz/crashes/crash-HASH    replay one input
 *   build/fuzz/fuzz_decode -runs=0 fuzz/corpus        replay the corpus
 *
 * check.mk builds it with clang-14 -fsanitize=fuzzer,address,undefined
 * (packages clang-14 and libclang-rt-14-dev, which holds libFuzzer) and
 * links liblua5.4, yajl, and libcurl (errors.c names curl_easy_strerror).
 * `make fuzz` runs it with -max_len=65536 on a scratch directory plus
 * fuzz/corpus/, then merges (-merge=1) the inputs that add coverage into
 * fuzz/corpus/; a crashing input is written to fuzz/crashes/ and fails the
 * target. fuzz/corpus/ starts from real responses of the mock API (the
 * files with descriptive names: catalogs, a 50-item search page, a lookup,
 * refresh 202 and 400 bodies, error bodies) and a few odd documents; the
 * ones named by a hash are libFuzzer's.
 *
 * What one input goes through, in one lua_State made in
 * LLVMFuzzerInitialize (the metatables convert_register and errors_register
 * make, registered on a scratch module table as luaopen_octogen_core does):
 *   1. convert_decode(bytes) -- what a 2xx response body gets;
 *   2. convert_decode_watch(bytes, "items") -- a search page; it must agree
 *      with 1 on success and on the top-level kind, and the value's Lua
 *      type must match that kind;
 *   3. if the bytes decoded: convert_encode(value) must succeed, except for
 *      the two documented reasons, each checked against the value: "table
 *      is nested too deeply" only when the value really nests deeper than
 *      ENCODE_MAX_DEPTH, "cannot encode NaN or infinity" only when it holds
 *      an infinity (a number literal that overflowed a double). The JSON it
 *      gives must decode again and encode to the same bytes (a fixpoint);
 *   4. errors_push_status with the bytes as the body of an error response,
 *      the way a non-2xx is handled, with a by-hand buffer (NUL-terminated
 *      like buffer_append leaves it; NULL for an empty body) and response
 *      (status chosen from the input's length, a request id header on odd
 *      lengths): it must leave one error table with the "octogen.error"
 *      metatable, a string name and message, and a detail. That path never
 *      touches a curl handle;
 *   5. response_convert (csrc/response.c, what core.response and both
 *      libcurl paths call) with the bytes as a 2xx body, the status and
 *      the promised shape chosen from the input's length: its two results
 *      on top must be either a result and a meta table whose status
 *      is the one given, or nil and an "octogen.error" table with a
 *      string name and message.
 * All of it runs under lua_pcall: these functions report failure by return
 * value, so a Lua error out of any of them is a finding and aborts, as a
 * broken property does. The stack is reset after every input; a full
 * collection runs every 256 inputs, and every 61st input also collects
 * between decode and encode, so a dangling pointer into a collected string
 * or table surfaces under ASan.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lualib.h>

/* The conversion itself, compiled into the harness so that its private
 * limits (ENCODE_MAX_DEPTH) are the ones checked here. */
#include "../csrc/convert.c"
/* The answer -> result/error conversion, whatever the transport. */
#include "../csrc/response.c"

/* response.c's libcurl-only helpers live in http.c, which the harness
 * does not link (it would need a curl handle); response_convert never
 * calls them. */
void http_push_headers(lua_State *S, const exchange *x)
{
    (void)x;
    lua_newtable(S);
}

long http_seconds_to_ms(double seconds)
{
    return seconds > 0 ? 1 : 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static lua_State *L;
static unsigned long runs;

#define FAIL(...)                                                            \
    do {                                                                     \
        fprintf(stderr, "fuzz_decode: property broken: " __VA_ARGS__);      \
        fputc('\n', stderr);                                                 \
        abort();                                                             \
    } while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    L = luaL_newstate();
    if (L == NULL)
        abort();
    lua_newtable(L);          /* stands for the octogen.core module table */
    convert_register(L);
    errors_register(L);       /* luaL_newmetatable(L, "octogen.error") */
    lua_pop(L, 1);
    return 0;
}

/* Nesting of tables in the value at idx (a table alone is 1) and whether
 * it holds an infinite number. Decoded values are trees, never cycles. */
static void measure(lua_State *S, int idx, int level, int *max_level, int *has_inf)
{
    idx = lua_absindex(S, idx);
    switch (lua_type(S, idx)) {
    case LUA_TNUMBER:
        if (!lua_isinteger(S, idx) && isinf(lua_tonumber(S, idx)))
            *has_inf = 1;
        return;
    case LUA_TTABLE:
        if (level + 1 > *max_level)
            *max_level = level + 1;
        luaL_checkstack(S, 3, "measure");
        lua_pushnil(S);
        while (lua_next(S, idx) != 0) {
            measure(S, -1, level + 1, max_level, has_inf);
            lua_pop(S, 1);
        }
        return;
    default:
        return;
    }
}

typedef struct {
    const uint8_t *data;
    size_t size;
} input;

static const long statuses[] = {400, 401, 403, 404, 409, 422, 429, 500, 503, 302};

static int run_one(lua_State *S)
{
    const input *in = (const input *)lua_touserdata(S, 1);
    const char *json = (const char *)in->data;
    int base = lua_gettop(S);
    int top1 = -1, top2 = -1, kind = -1, ok1, ok2;
    const char *why1 = NULL, *why2 = NULL;

    /* 1 and 2: decode, plain and watching "items" */
    ok1 = convert_decode(S, json, in->size, &top1, &why1);
    if (lua_gettop(S) != base + ok1)
        FAIL("convert_decode left %d values for ok=%d", lua_gettop(S) - base, ok1);
    if (!ok1 && why1 == NULL)
        FAIL("convert_decode failed without a reason");
    ok2 = convert_decode_watch(S, json, in->size, &top2, "items", &kind, &why2);
    if (lua_gettop(S) != base + ok1 + ok2)
        FAIL("convert_decode_watch left %d values", lua_gettop(S) - base - ok1);
    if (ok1 != ok2)
        FAIL("decode with and without a watched member disagree (%d, %d)", ok1, ok2);
    if (!ok1) {
        if (strcmp(why1, why2) != 0)
            FAIL("different reasons: %s / %s", why1, why2);
    } else {
        int is_table = lua_type(S, base + 1) == LUA_TTABLE;
        if (top1 != top2)
            FAIL("top-level kind %d vs %d", top1, top2);
        if (is_table != (top1 == JSON_TOP_OBJECT || top1 == JSON_TOP_ARRAY))
            FAIL("top-level kind %d but Lua type %s", top1, luaL_typename(S, base + 1));
        if (kind < JSON_KIND_ABSENT || kind > JSON_KIND_ARRAY)
            FAIL("watched kind %d out of range", kind);
        if (top1 != JSON_TOP_OBJECT && kind != JSON_KIND_ABSENT)
            FAIL("watched kind %d outside an object", kind);
        lua_settop(S, base + 1);
    }

    /* 3: encode what was decoded */
    if (ok1) {
        int levels = 0, has_inf = 0, value = base + 1;
        const char *why = NULL;
        if (runs % 61 == 0)
            lua_gc(S, LUA_GCCOLLECT, 0);
        measure(S, value, 0, &levels, &has_inf);
        if (convert_encode(S, value, &why)) {
            size_t n1, n2;
            const char *j1, *j2;
            int t = JSON_TOP_SCALAR;
            if (levels > ENCODE_MAX_DEPTH)
                FAIL("encoded a value nested %d deep (limit %d)", levels, ENCODE_MAX_DEPTH);
            if (has_inf)
                FAIL("encoded a value holding an infinity");
            j1 = lua_tolstring(S, -1, &n1);
            if (!convert_decode(S, j1, n1, &t, &why))
                FAIL("encoder output does not decode (%s): %.*s", why, (int)(n1 > 200 ? 200 : n1), j1);
            if (!convert_encode(S, -1, &why))
                FAIL("re-encode failed: %s", why);
            j2 = lua_tolstring(S, -1, &n2);
            if (n1 != n2 || memcmp(j1, j2, n1) != 0)
                FAIL("encode(decode(j)) != j:\n  j:  %.*s\n  j': %.*s",
                     (int)(n1 > 300 ? 300 : n1), j1, (int)(n2 > 300 ? 300 : n2), j2);
        } else if (why == NULL) {
            FAIL("convert_encode failed without a reason");
        } else if (strstr(why, "nested too deeply") != NULL) {
            if (levels <= ENCODE_MAX_DEPTH)
                FAIL("'%s' for a value nested only %d deep", why, levels);
        } else if (strstr(why, "NaN or infinity") != NULL) {
            if (!has_inf)
                FAIL("'%s' for a value without an infinity", why);
        } else {
            FAIL("encode of a decoded value failed: %s", why);
        }
        if (lua_gettop(S) < value)
            FAIL("convert_encode popped the value");
    }
    lua_settop(S, base);

    /* 4: the same bytes as an error response's body */
    {
        buffer body;
        octogen_answer r;
        int err_idx;
        memset(&body, 0, sizeof body);
        memset(&r, 0, sizeof r);
        if (in->size > 0) {
            body.data = (char *)malloc(in->size + 1);
            if (body.data == NULL)
                abort();
            memcpy(body.data, in->data, in->size);
            body.data[in->size] = '\0';
            body.len = in->size;
            body.cap = in->size + 1;
        }
        r.status = statuses[in->size % (sizeof statuses / sizeof statuses[0])];
        r.method = "POST";
        r.url = "http://127.0.0.1:1/v1/products/search";
        lua_newtable(S);
        if (in->size & 1) {
            lua_pushliteral(S, "req-fuzz");
            lua_setfield(S, -2, "x-request-id");
        }
        errors_push_status(S, body.data, body.len, &r, -1);
        free(body.data);
        err_idx = lua_gettop(S);
        if (err_idx != base + 2)
            FAIL("errors_push_status left %d values", err_idx - base - 1);
        if (lua_type(S, err_idx) != LUA_TTABLE || !lua_getmetatable(S, err_idx))
            FAIL("error is not a table with a metatable");
        luaL_getmetatable(S, OCTOGEN_ERROR_MT);
        if (!lua_rawequal(S, -1, -2))
            FAIL("error has the wrong metatable");
        lua_pop(S, 2);
        lua_getfield(S, err_idx, "name");
        lua_getfield(S, err_idx, "message");
        if (lua_type(S, -1) != LUA_TSTRING || lua_type(S, -2) != LUA_TSTRING)
            FAIL("error without a string name and message");
        lua_getfield(S, err_idx, "status_code");
        if (!lua_isinteger(S, -1) || lua_tointeger(S, -1) != r.status)
            FAIL("status_code is not %ld", r.status);
        lua_getfield(S, err_idx, "detail");
        if (lua_isnil(S, -1))
            FAIL("error without a detail");
    }
    lua_settop(S, base);

    /* 5: the same bytes as a 2xx answer, through the one conversion */
    {
        static const long ok_statuses[] = {200, 201, 202, 204};
        static const char *const shapes[] = {NULL, "object", "array", "object items:array",
                                             "object product:object"};
        octogen_answer a;
        shape sh;
        int headers, top;
        memset(&a, 0, sizeof a);
        a.status = ok_statuses[(in->size / 3) % 4];
        a.method = (in->size % 7) == 0 ? "HEAD" : "GET";
        a.url = "http://127.0.0.1:1/v1/catalogs";
        response_parse_shape(S, 1, shapes[in->size % 5], &sh);
        lua_newtable(S);
        headers = lua_gettop(S);
        if (in->size & 1) {
            lua_pushliteral(S, "req-fuzz");
            lua_setfield(S, -2, "x-request-id");
        }
        /* The input's own bytes, not a NUL-terminated copy: the cosocket
         * path hands over a Lua string, libcurl a buffer; neither may be
         * read past len. */
        if (response_convert(S, &a, (const char *)in->data, in->size, headers, &sh) != 2)
            FAIL("response_convert did not return 2");
        /* Its results are the top two values (a C function returning 2
         * hands back those); a shape mismatch leaves the decoded value
         * under them, nothing more. */
        top = lua_gettop(S);
        if (top != headers + 2 && top != headers + 3)
            FAIL("response_convert left %d values", top - headers);
        if (lua_isnil(S, top - 1)) {
            if (lua_type(S, top) != LUA_TTABLE || !lua_getmetatable(S, top))
                FAIL("response_convert: nil without an error table");
            luaL_getmetatable(S, OCTOGEN_ERROR_MT);
            if (!lua_rawequal(S, -1, -2))
                FAIL("response_convert: error has the wrong metatable");
            lua_pop(S, 2);
            lua_getfield(S, top, "name");
            lua_getfield(S, top, "message");
            if (lua_type(S, -1) != LUA_TSTRING || lua_type(S, -2) != LUA_TSTRING)
                FAIL("response_convert: error without a string name and message");
        } else {
            if (lua_type(S, top) != LUA_TTABLE)
                FAIL("response_convert: result without a meta table");
            lua_getfield(S, top, "status");
            if (!lua_isinteger(S, -1) || lua_tointeger(S, -1) != a.status)
                FAIL("response_convert: meta.status is not %ld", a.status);
        }
    }
    lua_settop(S, base);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    input in;
    in.data = data;
    in.size = size;
    runs++;
    lua_settop(L, 0);
    lua_pushcfunction(L, run_one);
    lua_pushlightuserdata(L, &in);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
        fprintf(stderr, "fuzz_decode: Lua error out of the C core: %s\n",
                lua_tostring(L, -1) ? lua_tostring(L, -1) : "(not a string)");
        abort();
    }
    lua_settop(L, 0);
    if (runs % 256 == 0)
        lua_gc(L, LUA_GCCOLLECT, 0);
    return 0;
}
