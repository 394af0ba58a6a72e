/* JSON <-> Lua conversion.
 *
 * Decoding is a single pass of yajl's callback parser that builds the final
 * result tables directly: keys are turned into snake_case as they arrive,
 * null members are left out, integral numbers become Lua integers on 5.3+,
 * and arrays get the octogen.array metatable (so [] and {} stay apart, and
 * a decoded array encodes back as an array).
 * Nothing is decoded into an intermediate tree first, which is what makes
 * this cheaper than cjson.decode followed by a rewrite of every key.
 * What makes it cheaper than cjson.decode alone: each distinct key is
 * converted and interned once per decode (a page repeats the same keys
 * once per item), tables are presized from the last sibling's size,
 * common numbers are parsed without strtod, and yajl's own memory comes
 * from an arena on the C stack. The rest, measured on the 50-item page,
 * is about a third yajl's lexer and parser, a third Lua building tables
 * and strings, a fifth malloc/free.
 *
 * Key collisions: two members of one object can map to the same Lua key
 * (a repeated name, or "Size" and "size"). The FIRST such member in the
 * document is kept; later ones are parsed and dropped. A null member is
 * absent, so it does not count. Deterministic, at a bit test per member
 * (a table lookup for keys the cache does not hold, see frame.seen), and
 * nothing a later member says can replace what was checked.
 *
 * Encoding uses yajl_gen: object keys are emitted in sorted order so a body
 * is byte-for-byte deterministic, and strings are checked for UTF-8. */
#include <float.h>
#include <math.h>
#include <stdint.h>
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

/* Distinct object keys remembered per decode. A page repeats the same 15 to
 * 40 keys once per item; each distinct key is converted to snake_case and
 * interned by Lua once, and every later occurrence is a hash of the raw
 * bytes here and a lua_pushvalue of the string anchored on the Lua stack.
 * The table is only ever half full, so a probe always ends on a free
 * entry. Keys past these bounds are converted each time, as before. */
#define KEY_SLOTS 64
#define KEY_TABLE 128          /* power of two, 2 x KEY_SLOTS */
#define KEY_MAX_LEN 64
#define KEY_BYTES 2048

typedef struct {
    unsigned int hash;
    unsigned short len;
    unsigned short off;        /* into decoder.key_bytes */
    int slot;                  /* 1-based anchor slot; 0: free entry */
    int id;                    /* the Lua key's number (see frame.seen) */
} key_entry;

/* yajl's own memory (handle, lexer, state stack, string buffer: about
 * 2.5 KB for a body without long escaped strings) comes from an arena on
 * the C stack. A decode then makes no malloc/free pair for the parser and
 * needs no finalizer: if a Lua error unwinds through yajl_parse, nothing
 * is left to free. What does not fit spills into userdata the GC owns,
 * anchored in a table on the Lua stack until yajl frees it or the decode
 * ends. */
#define ARENA_BYTES 6144
#define ARENA_ALIGN 16

/* The members other than bytes are there for their alignment only. */
typedef union {
    /* cppcheck-suppress unusedStructMember */
    double d;
    /* cppcheck-suppress unusedStructMember */
    long double ld;
    /* cppcheck-suppress unusedStructMember */
    long long ll;
    /* cppcheck-suppress unusedStructMember */
    void *p;
    char bytes[ARENA_BYTES];
} arena_space;

typedef struct {
    unsigned char is_array;
    unsigned char skip;     /* the pending member's key is taken: drop it */
    /* First member wins without a table lookup: each distinct Lua key a
     * decode caches has a number below 64, and seen has a bit set for
     * each key this object holds. An object that got a key from outside
     * the cache (a long one, or past KEY_SLOTS) checks its table instead
     * from then on (by_lookup). */
    unsigned char by_lookup;
    signed char pending;    /* the pending member's key number, or -1 */
    uint64_t seen;
    lua_Integer n;
} frame;

typedef struct {
    lua_State *L;
    int depth;
    int top_is;
    int too_deep;
    int array_mt;   /* stack index of the octogen.array metatable */
    int spill;      /* stack index of the spilled blocks' table (nil until one) */
    int key_base;   /* stack index of anchor slot 1 */
    int key_count;
    size_t key_used;
    size_t arena_used;
    frame frames[OCTOGEN_MAX_DEPTH];
    /* Size of the last container closed at each depth. Pages are lists of
     * same-shaped items, so presizing the next table with it saves the
     * rehash-on-grow of every item (a measured ~15% of decoding time). */
    int last_size[2][OCTOGEN_MAX_DEPTH];  /* [is_array][depth] */
    int deepest;    /* last_size is set below this depth (zeroed on the way
                       down, not up front: a small body stays cheap) */
    key_entry key_table[KEY_TABLE];
    /* The Lua keys (snake_case) by their bytes, to give two raw keys that
     * convert to the same Lua key ("productURL", "product_url") the same
     * number. */
    key_entry lua_keys[KEY_TABLE];
    int lua_key_count;
    char key_bytes[KEY_BYTES];
    arena_space arena;
} decoder;

/* Each arena block starts with its size, for realloc. */
typedef union {
    size_t size;
    /* cppcheck-suppress unusedStructMember */
    char pad[ARENA_ALIGN];
} block_head;

static int in_arena(decoder *d, const void *p)
{
    uintptr_t a = (uintptr_t)d->arena.bytes, q = (uintptr_t)p;
    return q >= a && q < a + ARENA_BYTES;
}

/* A spilled block: a userdata anchored in the spill table under its own
 * address, so that the GC keeps it exactly as long as yajl may use it. */
static void *spill_alloc(decoder *d, size_t sz)
{
    lua_State *L = d->L;
    void *p;
    luaL_checkstack(L, 3, "JSON decoding");
    if (lua_isnil(L, d->spill)) {
        lua_newtable(L);
        lua_replace(L, d->spill);
    }
    p = lua_newuserdata(L, sz ? sz : 1);
    lua_pushlightuserdata(L, p);
    lua_pushvalue(L, -2);
    lua_rawset(L, d->spill);
    lua_pop(L, 1);
    return p;
}

static void spill_free(decoder *d, void *p)
{
    lua_State *L = d->L;
    luaL_checkstack(L, 2, "JSON decoding");
    lua_pushlightuserdata(L, p);
    lua_pushnil(L);
    lua_rawset(L, d->spill);
}

static void *arena_malloc(void *ctx, size_t sz)
{
    decoder *d = (decoder *)ctx;
    size_t need = sizeof(block_head) + ((sz + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1));
    block_head *b;
    if (sz > ARENA_BYTES || need > ARENA_BYTES - d->arena_used)
        return spill_alloc(d, sz);
    b = (block_head *)(void *)(d->arena.bytes + d->arena_used);
    b->size = need - sizeof(block_head);
    d->arena_used += need;
    return b + 1;
}

static void arena_free(void *ctx, void *p)
{
    decoder *d = (decoder *)ctx;
    block_head *b;
    if (p == NULL)
        return;
    if (!in_arena(d, p)) {
        spill_free(d, p);
        return;
    }
    /* Only the last block gives its space back; the arena lives for one
     * decode, so the others are simply dropped with it. */
    b = (block_head *)p - 1;
    if ((char *)p + b->size == d->arena.bytes + d->arena_used)
        d->arena_used = (size_t)((char *)b - d->arena.bytes);
}

static void *arena_realloc(void *ctx, void *p, size_t sz)
{
    decoder *d = (decoder *)ctx;
    void *q;
    size_t old;
    if (p == NULL)
        return arena_malloc(ctx, sz);
    if (in_arena(d, p)) {
        block_head *b = (block_head *)p - 1;
        old = b->size;
        if (sz <= old)
            return p;
        /* The last block grows in place (yajl's state stack does this). */
        if ((char *)p + old == d->arena.bytes + d->arena_used) {
            size_t need = (sz + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
            if (sz <= ARENA_BYTES && need - old <= ARENA_BYTES - d->arena_used) {
                d->arena_used += need - old;
                b->size = need;
                return p;
            }
        }
    } else {
        lua_pushlightuserdata(d->L, p);
        lua_rawget(d->L, d->spill);
        old = lua_rawlen(d->L, -1);
        lua_pop(d->L, 1);
    }
    q = arena_malloc(ctx, sz);
    memcpy(q, p, old < sz ? old : sz);
    arena_free(ctx, p);
    return q;
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
        if (f->pending >= 0)
            f->seen |= (uint64_t)1 << f->pending;
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

/* A hash of the length and the first and last four bytes: constant time,
 * and enough to spread an API's keys over 128 entries (equal hashes only
 * cost a memcmp). */
static unsigned int key_hash(const char *s, size_t len)
{
    uint32_t a, b;
    if (len >= 4) {
        memcpy(&a, s, 4);
        memcpy(&b, s + len - 4, 4);
    } else {
        a = len > 0 ? (unsigned char)s[0] : 0;
        b = len > 1 ? (uint32_t)(unsigned char)s[len - 1] << 8 : 0;
        b |= len > 2 ? (uint32_t)(unsigned char)s[1] << 16 : 0;
    }
    a = (a ^ (uint32_t)len) * 0x9E3779B1u;
    b = (b ^ (a >> 15)) * 0x85EBCA77u;
    return (unsigned int)(b ^ (b >> 13));
}

/* The entry for these bytes in table t, or the free entry to fill. */
static key_entry *key_find(key_entry *t, const char *bytes, unsigned int h,
                           const char *s, size_t len)
{
    size_t i;
    for (i = h & (KEY_TABLE - 1);; i = (i + 1) & (KEY_TABLE - 1)) {
        key_entry *e = &t[i];
        if (e->slot == 0 ||
            (e->hash == h && e->len == len && memcmp(bytes + e->off, s, len) == 0))
            return e;
    }
}

/* Pushes the Lua key for raw key s through the per-decode cache (see
 * KEY_SLOTS) and returns its number (see frame.seen), or -1 for a key
 * the cache does not hold. */
static int push_key_cached(decoder *d, const char *s, size_t len)
{
    lua_State *L = d->L;
    unsigned int h;
    key_entry *e, *k;
    const char *lk;
    size_t lk_len;
    if (len > KEY_MAX_LEN) {
        push_key(L, s, len);
        return -1;
    }
    h = key_hash(s, len);
    e = key_find(d->key_table, d->key_bytes, h, s, len);
    if (e->slot != 0) {
        lua_pushvalue(L, d->key_base + e->slot - 1);
        return e->id;
    }
    push_key(L, s, len);
    if (d->key_count >= KEY_SLOTS || len > KEY_BYTES - d->key_used)
        return -1;
    memcpy(d->key_bytes + d->key_used, s, len);
    e->hash = h;
    e->len = (unsigned short)len;
    e->off = (unsigned short)d->key_used;
    d->key_used += len;
    /* Its Lua key's number: that of an equal Lua key seen before, or the
     * next one. The converted bytes are stored too when they differ. */
    lk = lua_tolstring(L, -1, &lk_len);
    h = lk_len == len && memcmp(lk, s, len) == 0 ? e->hash : key_hash(lk, lk_len);
    k = key_find(d->lua_keys, d->key_bytes, h, lk, lk_len);
    if (k->slot == 0) {
        if (lk_len == len && memcmp(lk, s, len) == 0) {
            k->off = e->off;
        } else if (lk_len <= KEY_BYTES - d->key_used) {
            memcpy(d->key_bytes + d->key_used, lk, lk_len);
            k->off = (unsigned short)d->key_used;
            d->key_used += lk_len;
        } else {
            e->slot = 0;   /* no room: leave this key uncached */
            return -1;
        }
        k->hash = h;
        k->len = (unsigned short)lk_len;
        k->id = d->lua_key_count++;
        k->slot = 1;
    }
    e->id = k->id;
    e->slot = ++d->key_count;
    lua_pushvalue(L, -1);
    lua_replace(L, d->key_base + e->slot - 1);
    return e->id;
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

/* Exact powers of ten: every one up to 1e22 is representable in a double. */
static const double pow10_exact[23] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22
};

/* The common numbers, parsed here without a copy, a Lua string or strtod
 * (yajl has checked the grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?).
 * Returns 0 for the others, which take the general path.
 * - Integer syntax of up to 18 digits: what lua_stringtonumber gives, an
 *   integer on 5.3+ (a double before: converting an integer that fits
 *   rounds to nearest, as strtod does).
 * - A fraction or exponent with at most 15 significant digits and a power
 *   of ten within 1e22: digits and power are both exact doubles, so one
 *   IEEE multiplication or division is the correctly rounded value, the
 *   same double strtod returns (Clinger's fast path). Needs operations in
 *   double precision, hence the FLT_EVAL_METHOD guard (x87 would not).
 * *is_int tells the caller which of the two it got. */
static int parse_simple_number(const char *s, size_t len, unsigned long long *mant,
                               double *v, int *is_int)
{
    size_t i = 0;
    int neg = 0, digits = 0, frac = 0, exp = 0, exp_neg = 0, exp_digits = 0;
    unsigned long long u = 0;
    if (i < len && s[i] == '-') {
        neg = 1;
        i++;
    }
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits++)
        u = u * 10 + (unsigned)(s[i] - '0');
    if (i == len) {
        if (digits == 0 || digits > 18)
            return 0;
        *mant = u;
        *is_int = 1;
        return neg ? -1 : 1;
    }
#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD == 0
    if (s[i] == '.') {
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits++, frac++)
            u = u * 10 + (unsigned)(s[i] - '0');
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            exp_neg = s[i++] == '-';
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, exp_digits++)
            if (exp_digits < 4)   /* more is refused below; no overflow */
                exp = exp * 10 + (s[i] - '0');
        if (exp_digits == 0 || exp_digits > 3)
            return 0;
    }
    if (i != len || digits == 0 || digits > 15)
        return 0;
    exp = (exp_neg ? -exp : exp) - frac;
    if (exp < -22 || exp > 22)
        return 0;
    *v = exp >= 0 ? (double)u * pow10_exact[exp] : (double)u / pow10_exact[-exp];
    if (neg)
        *v = -*v;
    *is_int = 0;
    return 1;
#else
    (void)v; (void)frac; (void)exp; (void)exp_neg; (void)exp_digits;
    return 0;
#endif
}

/* A double with an integral value in range becomes an integer on 5.3+, so
 * that 1248.0 prints as 1248. */
static void push_float(lua_State *L, lua_Number n)
{
#if OCTOGEN_HAVE_INTEGERS
    lua_Integer i;
    if (n == floor(n) && n >= -9.2233720368547758e18 &&
        n < 9.2233720368547758e18 && lua_numbertointeger(n, &i)) {
        lua_pushinteger(L, i);
        return;
    }
#endif
    lua_pushnumber(L, n);
}

static int push_simple_number(lua_State *L, const char *s, size_t len)
{
    unsigned long long u = 0;
    double v = 0;
    int is_int = 0, sign = parse_simple_number(s, len, &u, &v, &is_int);
    if (sign == 0)
        return 0;
    if (!is_int) {
        push_float(L, (lua_Number)v);
        return 1;
    }
#if OCTOGEN_HAVE_INTEGERS
    if (u > (unsigned long long)LUA_MAXINTEGER)
        return 0;
    lua_pushinteger(L, sign < 0 ? -(lua_Integer)u : (lua_Integer)u);
#else
    lua_pushnumber(L, sign < 0 ? -(lua_Number)u : (lua_Number)u);
#endif
    return 1;
}

static void push_number(lua_State *L, const char *s, size_t len)
{
    char tmp[64];
    const char *z = tmp;
    if (push_simple_number(L, s, len))
        return;
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
    frame *f = &d->frames[d->depth - 1];
    int id = push_key_cached(d, (const char *)s, len);
    /* First member wins (see the top of this file). */
    f->pending = (signed char)id;
    if (id < 0)
        f->by_lookup = 1;
    if (!f->by_lookup) {
        f->skip = (unsigned char)((f->seen >> id) & 1);
        return 1;
    }
    lua_pushvalue(L, -1);
    lua_rawget(L, -3);
    f->skip = (unsigned char)!lua_isnil(L, -1);
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
    if (d->depth >= d->deepest) {
        d->last_size[0][d->depth] = d->last_size[1][d->depth] = 0;
        d->deepest = d->depth + 1;
    }
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
    d->frames[d->depth].by_lookup = 0;
    d->frames[d->depth].pending = -1;
    d->frames[d->depth].seen = 0;
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
    static const yajl_alloc_funcs arena_funcs = {
        arena_malloc, arena_realloc, arena_free, NULL
    };
    yajl_alloc_funcs funcs = arena_funcs;
    int base = lua_gettop(L);
    decoder dec;
    decoder *d = &dec;
    yajl_handle h;
    yajl_status st;

    /* Stack: base, array metatable, spill table (nil), KEY_SLOTS anchors
     * (nil), then the value being built. */
    luaL_checkstack(L, KEY_SLOTS + 8, "JSON decoding");
    luaL_getmetatable(L, OCTOGEN_ARRAY_MT);
    lua_settop(L, base + 2 + KEY_SLOTS);
    d->L = L;
    d->depth = 0;
    d->top_is = JSON_TOP_SCALAR;
    d->too_deep = 0;
    d->array_mt = base + 1;
    d->spill = base + 2;
    d->key_base = base + 3;
    d->key_count = 0;
    d->key_used = 0;
    d->arena_used = 0;
    d->deepest = 0;
    memset(d->key_table, 0, sizeof d->key_table);
    memset(d->lua_keys, 0, sizeof d->lua_keys);
    d->lua_key_count = 0;
    funcs.ctx = d;
    h = yajl_alloc(&decode_callbacks, &funcs, d);
    if (h == NULL) {
        lua_settop(L, base);
        *why = "out of memory";
        return 0;
    }
    st = yajl_parse(h, (const unsigned char *)json, len);
    if (st == yajl_status_ok)
        st = yajl_complete_parse(h);
    yajl_free(h);
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
    /* Keep only the value. */
    lua_replace(L, base + 1);
    lua_settop(L, base + 1);
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
