/* luaopen_octogen_core: the C half of the octogen module. */
#define _POSIX_C_SOURCE 200809L  /* nanosleep */
#include <errno.h>
#include <math.h>
#include <time.h>
#include "octogen.h"

/* core.sleep(seconds): the default wait between retries for hosts that
 * have no scheduler of their own (OpenResty passes ngx.sleep instead).
 * NaN and negatives do not wait; a huge wait (math.huge, 1e300) is
 * clamped to OCTOGEN_MAX_WAIT_MS, as every wait is: casting it to time_t
 * would be undefined (and made nanosleep fail at once). */
static int l_sleep(lua_State *L)
{
    double s = (double)luaL_checknumber(L, 1);
    struct timespec ts, rest;
    if (!(s > 0))
        return 0;
    if (s > (double)OCTOGEN_MAX_WAIT_MS / 1000.0)
        s = (double)OCTOGEN_MAX_WAIT_MS / 1000.0;
    ts.tv_sec = (time_t)floor(s);
    ts.tv_nsec = (long)((s - floor(s)) * 1e9);
    while (nanosleep(&ts, &rest) != 0 && errno == EINTR)
        ts = rest;
    return 0;
}

/* core.http_date(s) -> epoch seconds | nil: libcurl's date parser, for
 * Retry-After given as an HTTP date. */
static int l_http_date(lua_State *L)
{
    time_t t = curl_getdate(luaL_checkstring(L, 1), NULL);
    if (t == (time_t)-1)
        return 0;
    lua_pushinteger(L, (lua_Integer)t);
    return 1;
}

/* core.parse_url(url) -> scheme, host | nil, message: libcurl's own URL
 * parser, so that the host we judge is the host libcurl will connect to. */
static int l_parse_url(lua_State *L)
{
    const char *url = luaL_checkstring(L, 1);
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    CURLUcode rc;
    if (u == NULL)
        return luaL_error(L, "out of memory");
    rc = curl_url_set(u, CURLUPART_URL, url, 0);
    if (rc == CURLUE_OK)
        rc = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
    if (rc == CURLUE_OK)
        rc = curl_url_get(u, CURLUPART_HOST, &host, 0);
    if (rc != CURLUE_OK) {
        curl_url_cleanup(u);
        lua_pushnil(L);
        lua_pushstring(L, curl_url_strerror(rc));
        return 2;
    }
    lua_pushstring(L, scheme);
    lua_pushstring(L, host);
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return 2;
}

/* core.now() -> seconds since the epoch, with sub-second precision. */
static int l_now(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
    return 1;
}

static int l_new(lua_State *L)
{
    return octogen_client_new(L);
}

int luaopen_octogen_core(lua_State *L);

int luaopen_octogen_core(lua_State *L)
{
    const curl_version_info_data *v;

    /* libcurl counts init calls and makes this safe to repeat since 7.84,
     * so every Lua state that loads the module may call it; nothing else
     * in the module is process-wide. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return luaL_error(L, "curl_global_init failed");
    v = curl_version_info(CURLVERSION_NOW);

    lua_newtable(L);
    lua_pushliteral(L, OCTOGEN_VERSION);
    lua_setfield(L, -2, "VERSION");
    lua_pushstring(L, v->version);
    lua_setfield(L, -2, "curl_version");
    lua_pushboolean(L, (v->features & CURL_VERSION_HTTP2) != 0);
    lua_setfield(L, -2, "curl_http2");
#ifdef LUAJIT_VERSION
    lua_pushliteral(L, LUAJIT_VERSION);
#else
    lua_pushliteral(L, LUA_VERSION);
#endif
    lua_setfield(L, -2, "lua_version");
    lua_pushcfunction(L, l_new);
    lua_setfield(L, -2, "new");
    lua_pushcfunction(L, l_sleep);
    lua_setfield(L, -2, "sleep");
    lua_pushcfunction(L, l_http_date);
    lua_setfield(L, -2, "http_date");
    lua_pushcfunction(L, l_parse_url);
    lua_setfield(L, -2, "parse_url");
    lua_pushcfunction(L, l_now);
    lua_setfield(L, -2, "now");

    octogen_client_register(L);
    errors_register(L);
    convert_register(L);
    response_register(L);
    wire_register(L);
    digest_register(L);
    /* Here, not in errors.c: the annotations spec reads every field that
     * file sets as a field of error objects. */
    lua_pushcfunction(L, errors_transport_error);
    lua_setfield(L, -2, "transport_error");
    return 1;
}
