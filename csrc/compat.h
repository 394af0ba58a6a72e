/* Shims so one source builds for Lua 5.1, LuaJIT 2.1, 5.2, 5.3 and 5.4.
 * LuaJIT reports LUA_VERSION_NUM 501 but already has luaL_setfuncs,
 * luaL_testudata and luaL_newlib, so those are guarded by name as well. */
#ifndef OCTOGEN_COMPAT_H
#define OCTOGEN_COMPAT_H

#include <lua.h>
#include <lauxlib.h>
/* LuaJIT's own header names the VM; PUC Lua has no such file. */
#if defined(__has_include)
#  if __has_include(<luajit.h>)
#    include <luajit.h>
#  endif
#endif

#if LUA_VERSION_NUM < 502
#  ifndef LUAJIT_VERSION_NUM
/* PUC 5.1 only: LuaJIT has it. Defined in compat.c. */
void octogen_setfuncs(lua_State *L, const luaL_Reg *l, int nup);
#    define luaL_setfuncs octogen_setfuncs
#  endif
#  define lua_rawlen(L, i) lua_objlen((L), (i))
#  define octogen_absindex(L, i) \
       ((i) > 0 || (i) <= LUA_REGISTRYINDEX ? (i) : lua_gettop(L) + (i) + 1)
#  define octogen_setuservalue(L, i) lua_setfenv((L), (i))
#  define octogen_getuservalue(L, i) lua_getfenv((L), (i))
#else
#  define octogen_absindex(L, i) lua_absindex((L), (i))
#endif

#if LUA_VERSION_NUM < 502
#elif LUA_VERSION_NUM < 504
#  define octogen_setuservalue(L, i) lua_setuservalue((L), (i))
#  define octogen_getuservalue(L, i) ((void)lua_getuservalue((L), (i)))
#else
#  define octogen_setuservalue(L, i) lua_setiuservalue((L), (i), 1)
#  define octogen_getuservalue(L, i) ((void)lua_getiuservalue((L), (i), 1))
#endif

#if LUA_VERSION_NUM >= 504
#  define octogen_newuserdata(L, sz) lua_newuserdatauv((L), (sz), 1)
#else
#  define octogen_newuserdata(L, sz) lua_newuserdata((L), (sz))
#endif

/* Lua 5.3 introduced a separate integer subtype; before it every number is
 * a lua_Number and "integral" is only a property of the value. */
#if LUA_VERSION_NUM >= 503
#  define OCTOGEN_HAVE_INTEGERS 1
#else
#  define OCTOGEN_HAVE_INTEGERS 0
#endif

#endif
