/* luaopen_octogen_core: the C half of the octogen module. */
#include "octogen.h"

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

    octogen_client_register(L);
    errors_register(L);
    convert_register(L);
    return 1;
}
