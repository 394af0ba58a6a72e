/* Functions PUC Lua 5.1 lacks; empty on every other version. */
#include "compat.h"

#if LUA_VERSION_NUM < 502 && !defined(LUAJIT_VERSION_NUM)
void octogen_setfuncs(lua_State *L, const luaL_Reg *l, int nup)
{
    luaL_checkstack(L, nup + 1, "too many upvalues");
    for (; l->name != NULL; l++) {
        int i;
        for (i = 0; i < nup; i++)
            lua_pushvalue(L, -nup);
        lua_pushcclosure(L, l->func, nup);
        lua_setfield(L, -(nup + 2), l->name);
    }
    lua_pop(L, nup);
}
#else
/* ISO C forbids an empty translation unit. */
typedef int octogen_compat_unused;
#endif
