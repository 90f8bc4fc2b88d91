/*
** report.c: turning uncaught errors into messages for stderr.
*/
#include <stdio.h>
#include <lauxlib.h>
#include "core/hub.h"
#include "core/report.h"

const char *gl_error_message(lua_State *L, int idx) {
  int top = lua_gettop(L);
  idx = lua_absindex(L, idx);
  if (lua_type(L, idx) == LUA_TSTRING || lua_type(L, idx) == LUA_TNUMBER) {
    lua_pushstring(L, lua_tostring(L, idx));
  } else if (!luaL_callmeta(L, idx, "__tostring") || lua_type(L, -1) != LUA_TSTRING) {
    lua_settop(L, top);
    lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, idx));
  }
  return lua_tostring(L, -1);
}

void gl_report(lua_State *L, lua_State *co, gl_thread *t) {
  int top = lua_gettop(L);
  lua_pushvalue(co, -1);
  lua_xmove(co, L, 1);
  const char *msg = gl_error_message(L, -1);
  luaL_traceback(L, co, msg, 0);
  if (t && !(t->flags & GL_MAIN))
    fprintf(stderr, "greenlua: green thread %lld: %s\n", (long long)t->id, lua_tostring(L, -1));
  else
    fprintf(stderr, "greenlua: %s\n", lua_tostring(L, -1));
  fflush(stderr);
  lua_settop(L, top);
}

int gl_is_exit(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  lua_rawgeti(L, LUA_REGISTRYINDEX, gl_H.exit_ref);
  int same = lua_rawequal(L, idx, -1);
  lua_pop(L, 1);
  return same;
}
