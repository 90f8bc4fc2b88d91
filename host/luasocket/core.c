/*
** core.c: the green socket.core table (luaopen_greenlua_socket_core):
** LuaSocket 3.1.0's entries (luasocket.c, timeout.c, except.c, and the
** classes' open functions), green.
**
** Contract: the same keys and values as Debian's socket.core under lua5.4
** (_VERSION, _SETSIZE, _SOCKETINVALID, _DATAGRAMSIZE, __unload, skip,
** gettime, sleep, newtry, protect, select, tcp*, udp*, connect, dns).
** sleep is green (a timed block of the calling thread). protect catches
** only errors raised by a try (a table with the private metatable) and
** re-raises anything else untouched: a green Timeout, a kill
** (GreenThreadExit), any other error. The protected function may block
** (lua_pcallk with a continuation).
*/
#include <math.h>
#include "core/hub.h"
#include "luasocket/lsock.h"

/* skip(n, ...): the arguments after the first n. */
static int global_skip(lua_State *L) {
  lua_Integer amount = luaL_checkinteger(L, 1);
  lua_Integer top = lua_gettop(L);
  if (amount < 0) amount = 0;  /* 3.1.0 would return past its stack */
  lua_Integer ret = top - 1 - amount;
  return ret > 0 ? (int)ret : 0;
}

static int global_unload(lua_State *L) {
  (void)L;
  return 0;
}

static int global_gettime(lua_State *L) {
  lua_pushnumber(L, gl_ls_gettime());
  return 1;
}

static int sleep_k(lua_State *L, int status, lua_KContext ctx) {
  (void)L, (void)status, (void)ctx;
  return 0;
}

/* sleep(n): green; n as 3.1.0 clamps it (negative: 0; at most INT_MAX). */
static int global_sleep(lua_State *L) {
  double n = luaL_checknumber(L, 1);
  if (!(n > 0.0)) n = 0.0;
  if (n > 2147483647.0) n = 2147483647.0;
  lua_settop(L, 0);
  static gl_waitq never;  /* nobody wakes it: only its deadline */
  return gl_block(L, "sleep", n > 0 ? &never : NULL, n > 0 ? n : -1, sleep_k);
}

/* ------------------------------------------------------------ try, protect
** upvalue 1 of newtry's and protect's closures: the metatable that marks
** an error raised by a try. */

static void wrap(lua_State *L) {
  lua_createtable(L, 1, 0);
  lua_pushvalue(L, -2);
  lua_rawseti(L, -2, 1);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_setmetatable(L, -2);
}

/* try(ok, ...): ok -> all its arguments; else run the finalizer, raise {err}. */
static int finalize(lua_State *L) {
  if (lua_toboolean(L, 1)) return lua_gettop(L);
  lua_pushvalue(L, lua_upvalueindex(2));
  lua_call(L, 0, 0);
  lua_settop(L, 2);
  wrap(L);
  return lua_error(L);
}

static int do_nothing(lua_State *L) {
  (void)L;
  return 0;
}

static int global_newtry(lua_State *L) {
  lua_settop(L, 1);
  if (lua_isnil(L, 1)) lua_pushcfunction(L, do_nothing);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, -2);
  lua_pushcclosure(L, finalize, 2);
  return 1;
}

static int unwrap(lua_State *L) {
  if (lua_istable(L, -1) && lua_getmetatable(L, -1)) {
    int mine = lua_rawequal(L, -1, lua_upvalueindex(1));
    lua_pop(L, 1);
    if (mine) {
      lua_pushnil(L);
      lua_rawgeti(L, -2, 1);
      return 1;
    }
  }
  return 0;
}

static int protected_k(lua_State *L, int status, lua_KContext ctx) {
  (void)ctx;
  if (status != LUA_OK && status != LUA_YIELD) {
    if (unwrap(L)) return 2;
    return lua_error(L);
  }
  return lua_gettop(L);
}

static int protected_(lua_State *L) {
  lua_pushvalue(L, lua_upvalueindex(2));
  lua_insert(L, 1);
  int status = lua_pcallk(L, lua_gettop(L) - 1, LUA_MULTRET, 0, 0, protected_k);
  return protected_k(L, status, 0);
}

static int global_protect(lua_State *L) {
  lua_settop(L, 1);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_pushcclosure(L, protected_, 2);
  return 1;
}

int luaopen_greenlua_socket_core(lua_State *L) {
  static const luaL_Reg base[] = {
    {"skip", global_skip}, {"__unload", global_unload},
    {"gettime", global_gettime}, {"sleep", global_sleep}, {NULL, NULL}
  };
  static const luaL_Reg except[] = {
    {"newtry", global_newtry}, {"protect", global_protect}, {NULL, NULL}
  };
  lua_newtable(L);
  luaL_setfuncs(L, base, 0);
  lua_pushliteral(L, GL_LS_VERSION);
  lua_setfield(L, -2, "_VERSION");
  lua_newtable(L);  /* the metatable of wrapped try errors */
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  luaL_setfuncs(L, except, 1);
  gl_ls_open_tcp(L);
  gl_ls_open_udp(L);
  gl_ls_open_select(L);
  gl_ls_open_dns(L);
  return 1;
}
