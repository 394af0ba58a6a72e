/* Transfers started without waiting: the client's multi handle runs them
 * all on the caller's thread, a little at each poll, reusing connections
 * (and multiplexing them over HTTP/2 when the server offers it).
 *
 * A transfer is an "octogen.transfer" userdata owning its easy handle and
 * its exchange buffers. While it runs, the client's uservalue (a table
 * only the C core sees) holds it in _inflight, keyed by the transfer's address, so it
 * cannot be collected mid-flight; the transfer's own uservalue holds the
 * client and the body, so neither goes away before it does. */
#include <stdlib.h>
#include <string.h>
#include "octogen.h"

#define TRANSFER_MT "octogen.transfer"

enum { T_RUNNING = 1, T_DONE = 2, T_FINISHED = 3 };

typedef struct {
    exchange ex;              /* must stay first: CURLOPT_PRIVATE points here */
    octogen_client *client;   /* NULL once detached */
    octogen_share *share;     /* a reference while the transfer has a handle */
    char *auth_line;          /* owned copy: the client's may change meanwhile */
    char method[16];
    shape sh;
    int state;
    CURLcode code;
} transfer;

static void wipe_free(char **p)
{
    if (*p != NULL) {
        memset(*p, 0, strlen(*p));
        free(*p);
        *p = NULL;
    }
}

/* Give the easy handle back to the client's pool, or free it; then the
 * transfer's reference to the connection share (close() may have freed
 * the handle already). */
static void drop_easy(transfer *t)
{
    CURL *e = t->ex.easy;
    octogen_client *c = t->client;
    t->ex.easy = NULL;
    if (e != NULL) {
        if (c != NULL && c->easy != NULL && c->pooled < OCTOGEN_EASY_POOL)
            c->pool[c->pooled++] = e;
        else
            curl_easy_cleanup(e);
    }
    if (t->share != NULL) {
        share_unref(t->share);
        t->share = NULL;
    }
}

static int transfer_gc(lua_State *L)
{
    transfer *t = (transfer *)luaL_checkudata(L, 1, TRANSFER_MT);
    if (t->state == T_RUNNING && t->client != NULL && t->client->multi != NULL) {
        curl_multi_remove_handle(t->client->multi, t->ex.easy);
        t->client->in_flight--;
    }
    t->client = NULL;   /* the client may already be gone: never pool */
    drop_easy(t);
    wipe_free(&t->auth_line);
    http_free(&t->ex);
    return 0;
}

/* The client's _inflight table on top of the stack. */
static void push_inflight(lua_State *L, int client_idx)
{
    octogen_getuservalue(L, client_idx);
    lua_getfield(L, -1, "_inflight");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, -3, "_inflight");
    }
    lua_remove(L, -2);
}

static int start_guarded(lua_State *L);

/* core.start(client, method, path [, body [, expect [, call]]]) -> transfer
 * The work runs under octogen_guarded: a finalizer that a GC step runs
 * meanwhile may close the client, and that waits until the transfer is
 * registered (and is then detached with the others). */
static int l_start(lua_State *L)
{
    octogen_client *c = octogen_check_open(L, 1);
    lua_settop(L, 6);
    return octogen_guarded(L, c, start_guarded, NULL, NULL);
}

static int start_guarded(lua_State *L)
{
    octogen_client *c;
    const char *method;
    const char *path;
    size_t body_len = 0;
    const char *body;
    octogen_call call;
    transfer *t;
    CURL *e;
    CURLcode code;
    int running;

    (void)octogen_guard_ctx(L);
    c = octogen_check_open(L, 1);
    method = luaL_checkstring(L, 2);
    path = luaL_checkstring(L, 3);
    body = luaL_optlstring(L, 4, NULL, &body_len);
    if (strlen(method) >= sizeof t->method)
        return luaL_argerror(L, 2, "method name too long");
    lua_settop(L, 6);
    t = (transfer *)octogen_newuserdata(L, sizeof *t);
    memset(t, 0, sizeof *t);
    buffer_init(&t->ex.url, 0);
    buffer_init(&t->ex.response, c->max_response_bytes);
    buffer_init(&t->ex.heads, OCTOGEN_MAX_HEADER_BYTES);
    luaL_getmetatable(L, TRANSFER_MT);
    lua_setmetatable(L, -2);
    /* anchors: the client, the body and the call table */
    lua_createtable(L, 3, 0);
    lua_pushvalue(L, 1);
    lua_rawseti(L, -2, 1);
    lua_pushvalue(L, 4);
    lua_rawseti(L, -2, 2);
    lua_pushvalue(L, 6);
    lua_rawseti(L, -2, 3);
    octogen_setuservalue(L, 7);

    response_parse_shape(L, 5, luaL_optstring(L, 5, NULL), &t->sh);
    response_read_call(L, 6, &call);
    memcpy(t->method, method, strlen(method) + 1);
    if (c->auth_line != NULL) {
        size_t n = strlen(c->auth_line) + 1;
        t->auth_line = (char *)malloc(n);
        if (t->auth_line == NULL)
            return luaL_error(L, "out of memory");
        memcpy(t->auth_line, c->auth_line, n);
    }

    if (c->multi == NULL) {
        c->multi = curl_multi_init();
        if (c->multi == NULL)
            return luaL_error(L, "curl_multi_init failed");
        http_watch(c->multi, &c->socks);
    }
    /* A pooled handle keeps every option; a new one copies the client's
     * (TLS, proxy, timeouts) from its blocking handle. */
    e = c->pooled > 0 ? c->pool[--c->pooled] : curl_easy_duphandle(c->easy);
    if (e == NULL)
        return luaL_error(L, "curl_easy_duphandle failed");
    /* The blocking handle's connections are this transfer's too. */
    curl_easy_setopt(e, CURLOPT_SHARE, c->share->sh);
    t->share = c->share;
    share_ref(t->share);
    t->client = c;
    http_bind(e, &t->ex);
    /* Over https, wait for a connection that may multiplex (HTTP/2)
     * rather than open one per transfer. Plain http is HTTP/1.1, where
     * waiting would only serialise the transfers behind the first. */
    curl_easy_setopt(e, CURLOPT_PIPEWAIT,
                     strncmp(c->base_url, "https:", 6) == 0 ? 1L : 0L);
    code = http_setup(c, &t->ex, t->method, path, body, body_len, &call, t->auth_line);
    if (code != CURLE_OK || curl_multi_add_handle(c->multi, e) != CURLM_OK) {
        drop_easy(t);
        return luaL_error(L, "could not start the transfer");
    }
    t->state = T_RUNNING;
    c->in_flight++;

    push_inflight(L, 1);
    lua_pushlightuserdata(L, (void *)t);
    lua_pushvalue(L, 7);
    lua_rawset(L, -3);
    lua_pop(L, 1);

    /* Let it begin now (connect, send) rather than at the next poll:
     * adding it made its timer due. */
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    lua_settop(L, 7);
    return 1;
}

/* Move every finished transfer from _inflight into the array on top. */
static int collect(lua_State *L, octogen_client *c, int inflight_idx, int out_idx, int n)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(c->multi, &left)) != NULL) {
        transfer *t = NULL;
        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        if (t == NULL)
            continue;
        t->code = msg->data.result;
        curl_multi_remove_handle(c->multi, msg->easy_handle);
        t->state = T_DONE;
        c->in_flight--;
        lua_pushlightuserdata(L, (void *)t);
        lua_rawget(L, inflight_idx);
        lua_rawseti(L, out_idx, ++n);
        lua_pushlightuserdata(L, (void *)t);
        lua_pushnil(L);
        lua_rawset(L, inflight_idx);
    }
    return n;
}

static int poll_guarded(lua_State *L);

/* core.poll(client, seconds) -> {finished transfers}, transfers still running
 * Advances every transfer; waits at most `seconds` (clamped to
 * OCTOGEN_MAX_WAIT_MS; NaN and negatives are 0) for something to happen
 * when nothing finished at once. 0 never waits. Runs under
 * octogen_guarded, so a close() from a finalizer waits for it. */
static int l_poll(lua_State *L)
{
    octogen_client *c = octogen_check_open(L, 1);
    luaL_optnumber(L, 2, 0);
    lua_settop(L, 2);
    return octogen_guarded(L, c, poll_guarded, NULL, NULL);
}

static int poll_guarded(lua_State *L)
{
    octogen_client *c;
    long wait_ms;
    int running = 0, n = 0, inflight_idx, out_idx;

    (void)octogen_guard_ctx(L);
    c = octogen_check_open(L, 1);
    wait_ms = http_seconds_to_ms((double)luaL_optnumber(L, 2, 0));
    push_inflight(L, 1);
    inflight_idx = lua_gettop(L);
    lua_newtable(L);
    out_idx = lua_gettop(L);
    if (c->multi == NULL) {
        c->multi = curl_multi_init();
        if (c->multi == NULL)
            return luaL_error(L, "curl_multi_init failed");
        http_watch(c->multi, &c->socks);
    }
    /* Transfers that ended in start() or in an earlier round; then one
     * round of the event loop: it returns as soon as a socket is ready
     * (0 only looks), and also waits when nothing is in flight, which is
     * what a retry's backoff wants. */
    n = collect(L, c, inflight_idx, out_idx, n);
    if (n == 0) {
        http_wait(c->multi, &c->socks, wait_ms, &running);
        collect(L, c, inflight_idx, out_idx, n);
    }
    lua_pushinteger(L, c->in_flight);
    return 2;
}

/* core.finish(transfer) -> result, meta | nil, err (once) */
static int l_finish(lua_State *L)
{
    transfer *t = (transfer *)luaL_checkudata(L, 1, TRANSFER_MT);
    octogen_response r;
    if (t->state != T_DONE)
        return luaL_error(L, t->state == T_FINISHED ? "transfer already finished"
                                                    : "transfer has not finished");
    if (t->ex.easy == NULL) {
        /* detached by close(): a returned failure, as an error object */
        t->state = T_FINISHED;
        lua_pushnil(L);
        errors_push_simple(L, "OctogenError", "octogen.client is closed", t->method,
                           t->ex.url.data);
        return 2;
    }
    /* Finished before converting: a finalizer run meanwhile that finishes
     * it again gets an error instead of a second conversion. */
    t->state = T_FINISHED;
    http_done(&t->ex, t->code, t->method, &r);
    response_push(L, &t->ex, &r, &t->sh);
    drop_easy(t);
    wipe_free(&t->auth_line);
    return 2;
}

static int l_state(lua_State *L)
{
    transfer *t = (transfer *)luaL_checkudata(L, 1, TRANSFER_MT);
    lua_pushstring(L, t->state == T_RUNNING ? "running"
                      : t->state == T_DONE ? "done" : "finished");
    return 1;
}

/* Called by close() and __gc of the client with the client at index 1:
 * every transfer still running is taken out of the multi handle and
 * marked done with an error, and the multi handle and pool are freed. */
void transfer_detach_all(lua_State *L, octogen_client *c)
{
    int i;
    if (c->multi != NULL) {
        octogen_getuservalue(L, 1);
        if (lua_istable(L, -1)) {
            lua_getfield(L, -1, "_inflight");
            if (lua_istable(L, -1)) {
                lua_pushnil(L);
                while (lua_next(L, -2) != 0) {
                    transfer *t = (transfer *)lua_touserdata(L, -1);
                    if (t != NULL && t->state == T_RUNNING) {
                        curl_multi_remove_handle(c->multi, t->ex.easy);
                        t->state = T_DONE;
                        t->code = CURLE_ABORTED_BY_CALLBACK;
                        t->client = NULL;
                        curl_easy_cleanup(t->ex.easy);
                        t->ex.easy = NULL;
                    }
                    lua_pop(L, 1);
                }
            }
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
        curl_multi_cleanup(c->multi);
        c->multi = NULL;
        http_socks_free(&c->socks);
        c->in_flight = 0;
    }
    for (i = 0; i < c->pooled; i++)
        curl_easy_cleanup(c->pool[i]);
    c->pooled = 0;
}

void transfer_register(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"state", l_state},
        {NULL, NULL}
    };
    /* the core module table is on top */
    lua_pushcfunction(L, l_start);
    lua_setfield(L, -2, "start");
    lua_pushcfunction(L, l_poll);
    lua_setfield(L, -2, "poll");
    lua_pushcfunction(L, l_finish);
    lua_setfield(L, -2, "finish");

    luaL_newmetatable(L, TRANSFER_MT);
    lua_pushcfunction(L, transfer_gc);
    lua_setfield(L, -2, "__gc");
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
}
