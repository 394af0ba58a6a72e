/* JSON <-> Lua conversion.
 *
 * Decoding is a single pass of yajl's callback parser that builds the final
 * result tables directly: keys are turned into snake_case as they arrive,
 * null members are left out, integral numbers become Lua integers on 5.3+,
 * and arrays get the octogen.array metatable (so [] and {} stay apart, and
 * a decoded array encodes back as an array).
 * Nothing is decoded into an intermediate tree first, which is what makes
 * this cheaper than cjson.decode followed by a rewrite of every key.
 *
 * Key collisions: two members of one object can map to the same Lua key
 * (a repeated name, or "Size" and "size"). The FIRST such member in the
 * document is kept; later ones are parsed and dropped. A null member is
 * absent, so it does not count. Deterministic, at one table lookup per
 * member, and nothing a later member says can replace what was checked.
 *
 * Encoding uses yajl_gen: object keys are emitted in sorted order so a body
 * is byte-for-byte deterministic, and strings are checked for UTF-8. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>
#include <yajl/yajl_gen.h>
#include "octogen.h"

/* The address is the identity of octogen.null; the value is never read. */
static const char null_sentinel = 0;

int convert_push_null(lua_State *L)
{
    lua_pushlightuserdata(L, (void *)&null_sentinel);
    return 1;
}

/* ---------------------------------------------------------------- decode */

typedef struct {
    unsigned char is_array;
    unsigned char skip;     /* the pending member's key is taken: drop it */
    lua_Integer n;
} frame;

typedef struct {
    lua_State *L;
    int depth;
    int top_is;
    int too_deep;
    frame frames[OCTOGEN_MAX_DEPTH];
    /* Size of the last container closed at each depth. Pages are lists of
     * same-shaped items, so presizing the next table with it saves the
     * rehash-on-grow of every item (a measured ~15% of decoding time). */
    int last_size[2][OCTOGEN_MAX_DEPTH];  /* [is_array][depth] */
    int array_mt;   /* stack index of the octogen.array metatable */
} decoder;

/* The yajl handle lives in a small userdata so that its finalizer frees
 * it even when a Lua error unwinds through the parser; the decoder state
 * itself is on the C stack, so a decode allocates nothing big. */
typedef struct {
    yajl_handle h;
} parser_box;

#define DECODER_MT "octogen.decoder"

static int decoder_gc(lua_State *L)
{
    parser_box *b = (parser_box *)lua_touserdata(L, 1);
    if (b->h != NULL) {
        yajl_free(b->h);
        b->h = NULL;
    }
    return 0;
}

/* Attach the value on top of the stack to its container, if it has one. */
static void place(decoder *d)
{
    frame *f;
    if (d->depth == 0)
        return;
    f = &d->frames[d->depth - 1];
    if (f->is_array) {
        lua_rawseti(d->L, -2, (int)++f->n);
    } else if (f->skip) {
        f->skip = 0;
        lua_pop(d->L, 2);   /* a later member for a key already set */
    } else {
        f->n++;
        lua_rawset(d->L, -3);
    }
}

static int is_upper(char c) { return c >= 'A' && c <= 'Z'; }
static int is_lower(char c) { return c >= 'a' && c <= 'z'; }
static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* camelCase -> snake_case; a run of capitals is one word (productURL ->
 * product_url, URLPath -> url_path). Keys without capitals are pushed as
 * they are, which keeps enrichment and attribute keys untouched. */
static void push_key(lua_State *L, const char *s, size_t len)
{
    char local[256];
    char *out = local;
    size_t i, o = 0;

    for (i = 0; i < len && !is_upper(s[i]); i++)
        ;
    if (i == len) {
        lua_pushlstring(L, s, len);
        return;
    }
    if (len * 2 > sizeof local) {
        /* Rare long key: a userdata is a scratch area the GC owns. */
        out = (char *)lua_newuserdata(L, len * 2);
    }
    for (i = 0; i < len; i++) {
        char c = s[i];
        if (is_upper(c)) {
            if (i > 0) {
                char prev = s[i - 1];
                char next = i + 1 < len ? s[i + 1] : '\0';
                if (is_lower(prev) || is_digit(prev) ||
                    (is_upper(prev) && is_lower(next)))
                    out[o++] = '_';
            }
            out[o++] = (char)(c - 'A' + 'a');
        } else {
            out[o++] = c;
        }
    }
    lua_pushlstring(L, out, o);
    if (out != local)
        lua_remove(L, -2);
}

static int on_null(void *ctx)
{
    decoder *d = (decoder *)ctx;
    if (d->depth > 0 && !d->frames[d->depth - 1].is_array) {
        d->frames[d->depth - 1].skip = 0;
        lua_pop(d->L, 1);  /* drop the pending key: a null member is absent */
        return 1;
    }
    convert_push_null(d->L);
    place(d);
    return 1;
}

static int on_boolean(void *ctx, int v)
{
    decoder *d = (decoder *)ctx;
    lua_pushboolean(d->L, v);
    place(d);
    return 1;
}

static void push_number(lua_State *L, const char *s, size_t len)
{
    char tmp[64];
    const char *z = tmp;
    if (len < sizeof tmp) {
        memcpy(tmp, s, len);
        tmp[len] = '\0';
    } else {
        lua_pushlstring(L, s, len);
        z = lua_tostring(L, -1);
    }
#if OCTOGEN_HAVE_INTEGERS
    /* lua_stringtonumber gives an integer for integer syntax that fits and
     * handles the locale's decimal point; a float with an integral value is
     * made an integer so that 1248.0 prints as 1248. */
    if (lua_stringtonumber(L, z) == 0)
        lua_pushnumber(L, 0);
    if (!lua_isinteger(L, -1)) {
        lua_Number n = lua_tonumber(L, -1);
        lua_Integer i;
        if (n == floor(n) && n >= -9.2233720368547758e18 &&
            n < 9.2233720368547758e18 && lua_numbertointeger(n, &i)) {
            lua_pop(L, 1);
            lua_pushinteger(L, i);
        }
    }
#else
    lua_pushstring(L, z);
    lua_pushnumber(L, lua_tonumber(L, -1));
    lua_remove(L, -2);
#endif
    if (z != tmp)
        lua_remove(L, -2);
}

static int on_number(void *ctx, const char *s, size_t len)
{
    decoder *d = (decoder *)ctx;
    push_number(d->L, s, len);
    place(d);
    return 1;
}

static int on_string(void *ctx, const unsigned char *s, size_t len)
{
    decoder *d = (decoder *)ctx;
    lua_pushlstring(d->L, (const char *)s, len);
    place(d);
    return 1;
}

static int on_key(void *ctx, const unsigned char *s, size_t len)
{
    decoder *d = (decoder *)ctx;
    lua_State *L = d->L;
    push_key(L, (const char *)s, len);
    /* First member wins (see the top of this file). */
    lua_pushvalue(L, -1);
    lua_rawget(L, -3);
    d->frames[d->depth - 1].skip = (unsigned char)!lua_isnil(L, -1);
    lua_pop(L, 1);
    return 1;
}

static int open_container(decoder *d, int is_array)
{
    if (d->depth >= OCTOGEN_MAX_DEPTH) {
        d->too_deep = 1;
        return 0;
    }
    luaL_checkstack(d->L, 4, "JSON nesting");
    if (is_array) {
        lua_createtable(d->L, d->last_size[1][d->depth], 0);
        lua_pushvalue(d->L, d->array_mt);
        lua_setmetatable(d->L, -2);
    } else {
        lua_createtable(d->L, 0, d->last_size[0][d->depth]);
    }
    if (d->depth == 0)
        d->top_is = is_array ? JSON_TOP_ARRAY : JSON_TOP_OBJECT;
    d->frames[d->depth].is_array = (unsigned char)is_array;
    d->frames[d->depth].skip = 0;
    d->frames[d->depth].n = 0;
    d->depth++;
    return 1;
}

static int close_container(void *ctx)
{
    decoder *d = (decoder *)ctx;
    d->depth--;
    d->last_size[d->frames[d->depth].is_array][d->depth] = (int)d->frames[d->depth].n;
    place(d);
    return 1;
}

static int on_start_map(void *ctx) { return open_container((decoder *)ctx, 0); }
static int on_start_array(void *ctx) { return open_container((decoder *)ctx, 1); }

static const yajl_callbacks decode_callbacks = {
    on_null, on_boolean, NULL, NULL, on_number, on_string,
    on_start_map, on_key, close_container,
    on_start_array, close_container
};

/* Pushes the decoded value and returns 1, or returns 0 with *why set and
 * the stack as it was. */
int convert_decode(lua_State *L, const char *json, size_t len, int *top_is,
                   const char **why)
{
    return convert_decode_watch(L, json, len, top_is, NULL, NULL, why);
}

/* The JSON kind of the Lua value at idx, as decoding made it. */
static int kind_of(lua_State *L, int idx, int array_mt)
{
    int kind;
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        return JSON_KIND_ABSENT;
    case LUA_TLIGHTUSERDATA:
        return lua_touserdata(L, idx) == (void *)&null_sentinel ? JSON_KIND_NULL
                                                                : JSON_KIND_SCALAR;
    case LUA_TTABLE:
        if (!lua_getmetatable(L, idx))
            return JSON_KIND_OBJECT;
        kind = lua_rawequal(L, -1, array_mt) ? JSON_KIND_ARRAY : JSON_KIND_OBJECT;
        lua_pop(L, 1);
        return kind;
    default:
        return JSON_KIND_SCALAR;
    }
}

/* As convert_decode; when watch is not NULL, *watched_kind gets the JSON
 * kind of the value the decoded top-level object holds under that member
 * (its Lua key: watch in snake_case), JSON_KIND_ABSENT if none. It is
 * read from the result itself, after collisions were resolved, so it
 * always describes the value the caller gets. */
int convert_decode_watch(lua_State *L, const char *json, size_t len, int *top_is,
                         const char *watch, int *watched_kind, const char **why)
{
    int base = lua_gettop(L);
    decoder dec;
    decoder *d = &dec;
    parser_box *box;
    yajl_status st;

    box = (parser_box *)lua_newuserdata(L, sizeof *box);
    box->h = NULL;
    luaL_getmetatable(L, DECODER_MT);
    lua_setmetatable(L, -2);
    luaL_getmetatable(L, OCTOGEN_ARRAY_MT);
    d->L = L;
    d->depth = 0;
    d->top_is = JSON_TOP_SCALAR;
    d->too_deep = 0;
    memset(d->last_size, 0, sizeof d->last_size);
    d->array_mt = lua_gettop(L);
    box->h = yajl_alloc(&decode_callbacks, NULL, d);
    if (box->h == NULL) {
        lua_settop(L, base);
        *why = "out of memory";
        return 0;
    }
    st = yajl_parse(box->h, (const unsigned char *)json, len);
    if (st == yajl_status_ok)
        st = yajl_complete_parse(box->h);
    yajl_free(box->h);
    box->h = NULL;
    if (st != yajl_status_ok) {
        if (d->too_deep)
            *why = "JSON is nested too deeply";
        else if (len == 0)
            *why = "empty body";
        else
            *why = "invalid JSON";
        lua_settop(L, base);
        return 0;
    }
    if (top_is != NULL)
        *top_is = d->top_is;
    if (watched_kind != NULL) {
        *watched_kind = JSON_KIND_ABSENT;
        if (watch != NULL && d->top_is == JSON_TOP_OBJECT) {
            push_key(L, watch, strlen(watch));
            lua_rawget(L, -2);
            *watched_kind = kind_of(L, -1, d->array_mt);
            lua_pop(L, 1);
        }
    }
    /* Stack: base, parser box, array metatable, value. Keep the value. */
    lua_remove(L, base + 1);
    lua_remove(L, base + 1);
    return 1;
}

/* ---------------------------------------------------------------- encode */

typedef struct {
    yajl_gen g;   /* owned; freed by encoder_gc even if Lua raises */
} encoder;

#define ENCODER_MT "octogen.encoder"

/* yajl_gen refuses to nest deeper than 128; a request body needs six. */
#define ENCODE_MAX_DEPTH 100

static int encoder_gc(lua_State *L)
{
    encoder *e = (encoder *)lua_touserdata(L, 1);
    if (e->g != NULL) {
        yajl_gen_free(e->g);
        e->g = NULL;
    }
    return 0;
}

typedef struct {
    const char *s;
    size_t len;
} key_ref;

static int key_cmp(const void *a, const void *b)
{
    const key_ref *x = (const key_ref *)a, *y = (const key_ref *)b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->s, y->s, n);
    if (c != 0)
        return c;
    return (x->len > y->len) - (x->len < y->len);
}

static int encode_value(lua_State *L, yajl_gen g, int idx, int depth,
                        const char **why);

/* Shortest decimal that reads back as the same double, written with a '.'
 * whatever the C locale says. */
static int encode_float(yajl_gen g, double v, const char **why)
{
    char buf[40];
    char *p;
    int n;
    if (!isfinite(v)) {
        *why = "cannot encode NaN or infinity as JSON";
        return 0;
    }
    n = snprintf(buf, sizeof buf, "%.15g", v);
    if (strtod(buf, NULL) != v)
        n = snprintf(buf, sizeof buf, "%.17g", v);
    for (p = buf; *p; p++)
        if (*p == ',')
            *p = '.';
    return yajl_gen_number(g, buf, (size_t)n) == yajl_gen_status_ok;
}

static int is_array_marked(lua_State *L, int idx)
{
    int marked;
    if (!lua_getmetatable(L, idx))
        return 0;
    luaL_getmetatable(L, OCTOGEN_ARRAY_MT);
    marked = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return marked;
}

static int encode_array(lua_State *L, yajl_gen g, int idx, size_t n, int depth,
                        const char **why)
{
    size_t i;
    if (yajl_gen_array_open(g) != yajl_gen_status_ok) {
        *why = "table is nested too deeply (or contains a cycle)";
        return 0;
    }
    for (i = 1; i <= n; i++) {
        lua_rawgeti(L, idx, (int)i);
        if (!encode_value(L, g, lua_gettop(L), depth + 1, why))
            return 0;
        lua_pop(L, 1);
    }
    yajl_gen_array_close(g);
    return 1;
}

static int encode_table(lua_State *L, yajl_gen g, int idx, int depth,
                        const char **why)
{
    size_t count = 0, strings = 0, i;
    lua_Number max_index = 0;
    key_ref *keys;

    if (depth >= ENCODE_MAX_DEPTH) {
        *why = "table is nested too deeply (or contains a cycle)";
        return 0;
    }
    luaL_checkstack(L, 6, "JSON nesting");
    if (is_array_marked(L, idx))
        return encode_array(L, g, idx, lua_rawlen(L, idx), depth, why);

    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        lua_pop(L, 1);
        count++;
        if (lua_type(L, -1) == LUA_TSTRING) {
            strings++;
        } else if (lua_type(L, -1) == LUA_TNUMBER) {
            lua_Number k = lua_tonumber(L, -1);
            if (k >= 1 && k == floor(k) && k > max_index)
                max_index = k;
            else if (!(k >= 1 && k == floor(k))) {
                *why = "table has a key that is neither a string nor a positive integer";
                lua_pop(L, 1);
                return 0;
            }
        } else {
            *why = "table has a key that is neither a string nor a positive integer";
            lua_pop(L, 1);
            return 0;
        }
    }
    if (count > 0 && strings == 0) {
        /* Compared as numbers: a key such as 1e300 must not be cast. */
        if (max_index != (lua_Number)count) {
            *why = "array has holes (use octogen.null for a null element)";
            return 0;
        }
        return encode_array(L, g, idx, count, depth, why);
    }
    if (strings != count) {
        *why = "table mixes array and object keys";
        return 0;
    }

    /* Sorted keys make the body deterministic; the strings stay anchored by
     * the table itself, which is not modified while we hold pointers. */
    keys = (key_ref *)lua_newuserdata(L, (count ? count : 1) * sizeof *keys);
    i = 0;
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        lua_pop(L, 1);
        keys[i].s = lua_tolstring(L, -1, &keys[i].len);
        i++;
    }
    qsort(keys, count, sizeof *keys, key_cmp);
    if (yajl_gen_map_open(g) != yajl_gen_status_ok) {
        *why = "table is nested too deeply (or contains a cycle)";
        return 0;
    }
    for (i = 0; i < count; i++) {
        if (yajl_gen_string(g, (const unsigned char *)keys[i].s, keys[i].len)
            != yajl_gen_status_ok) {
            *why = "object key is not valid UTF-8";
            return 0;
        }
        lua_pushlstring(L, keys[i].s, keys[i].len);
        lua_rawget(L, idx);
        if (!encode_value(L, g, lua_gettop(L), depth + 1, why))
            return 0;
        lua_pop(L, 1);
    }
    yajl_gen_map_close(g);
    lua_pop(L, 1);  /* keys */
    return 1;
}

static int encode_value(lua_State *L, yajl_gen g, int idx, int depth,
                        const char **why)
{
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        return yajl_gen_null(g) == yajl_gen_status_ok;
    case LUA_TBOOLEAN:
        return yajl_gen_bool(g, lua_toboolean(L, idx)) == yajl_gen_status_ok;
    case LUA_TNUMBER:
#if OCTOGEN_HAVE_INTEGERS
        if (lua_isinteger(L, idx))
            return yajl_gen_integer(g, (long long)lua_tointeger(L, idx))
                   == yajl_gen_status_ok;
#endif
        {
            lua_Number v = lua_tonumber(L, idx);
            if (v == floor(v) && v > -1e15 && v < 1e15)
                return yajl_gen_integer(g, (long long)v) == yajl_gen_status_ok;
            return encode_float(g, (double)v, why);
        }
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        if (yajl_gen_string(g, (const unsigned char *)s, len)
            != yajl_gen_status_ok) {
            *why = "string is not valid UTF-8";
            return 0;
        }
        return 1;
    }
    case LUA_TLIGHTUSERDATA: {
        /* octogen.null, and cjson.null (a NULL lightuserdata) for users who
         * already hold cjson values. */
        void *p = lua_touserdata(L, idx);
        if (p == (void *)&null_sentinel || p == NULL)
            return yajl_gen_null(g) == yajl_gen_status_ok;
        break;
    }
    case LUA_TTABLE:
        return encode_table(L, g, idx, depth, why);
    default:
        break;
    }
    *why = "value of this type cannot be encoded as JSON";
    return 0;
}

/* Pushes the JSON text of the value at idx and returns 1, or returns 0 with
 * *why set and the stack as it was. */
int convert_encode(lua_State *L, int idx, const char **why)
{
    int base = lua_gettop(L);
    encoder *e;
    const unsigned char *out;
    size_t len;

    idx = idx < 0 ? base + idx + 1 : idx;
    e = (encoder *)lua_newuserdata(L, sizeof *e);
    e->g = NULL;
    luaL_getmetatable(L, ENCODER_MT);
    lua_setmetatable(L, -2);
    e->g = yajl_gen_alloc(NULL);
    if (e->g == NULL) {
        lua_settop(L, base);
        *why = "out of memory";
        return 0;
    }
    yajl_gen_config(e->g, yajl_gen_validate_utf8, 1);
    if (!encode_value(L, e->g, idx, 0, why)) {
        lua_settop(L, base + 1);
        yajl_gen_free(e->g);
        e->g = NULL;
        lua_settop(L, base);
        return 0;
    }
    yajl_gen_get_buf(e->g, &out, &len);
    lua_pushlstring(L, (const char *)out, len);
    yajl_gen_free(e->g);
    e->g = NULL;
    lua_remove(L, base + 1);
    return 1;
}

/* ----------------------------------------------------------- Lua surface */

/* core.decode(json) -> value | nil, message: the same conversion responses
 * get, exposed for tests and the benchmark. */
static int l_decode(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    const char *why = NULL;
    if (convert_decode(L, s, len, NULL, &why))
        return 1;
    lua_pushnil(L);
    lua_pushstring(L, why);
    return 2;
}

/* core.encode(value) -> json | nil, message */
static int l_encode(lua_State *L)
{
    const char *why = NULL;
    luaL_checkany(L, 1);
    if (convert_encode(L, 1, &why))
        return 1;
    lua_pushnil(L);
    lua_pushstring(L, why);
    return 2;
}

/* core.array(t) marks t as a JSON array, so an empty table encodes as []. */
static int l_array(lua_State *L)
{
    if (lua_isnoneornil(L, 1))
        lua_newtable(L);
    else
        luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    luaL_getmetatable(L, OCTOGEN_ARRAY_MT);
    lua_setmetatable(L, 1);
    return 1;
}

void convert_register(lua_State *L)
{
    luaL_newmetatable(L, DECODER_MT);
    lua_pushcfunction(L, decoder_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    luaL_newmetatable(L, ENCODER_MT);
    lua_pushcfunction(L, encoder_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    luaL_newmetatable(L, OCTOGEN_ARRAY_MT);
    lua_pushliteral(L, "octogen.array");
    lua_setfield(L, -2, "__name");
    lua_pop(L, 1);

    /* module table is on top */
    lua_pushcfunction(L, l_decode);
    lua_setfield(L, -2, "decode");
    lua_pushcfunction(L, l_encode);
    lua_setfield(L, -2, "encode");
    lua_pushcfunction(L, l_array);
    lua_setfield(L, -2, "array");
    convert_push_null(L);
    lua_setfield(L, -2, "null");
}
