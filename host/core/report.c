/*
** report.c: turning uncaught errors into messages for stderr. See report.h.
*/
#include <stdio.h>
#include <lauxlib.h>
#include "core/hub.h"
#include "core/report.h"

/* format(err, co|nil) -> the message, with co's traceback if given. Runs
** protected: a __tostring may do anything. */
static int format(lua_State *L) {
  if (lua_type(L, 1) == LUA_TSTRING || lua_type(L, 1) == LUA_TNUMBER) {
    lua_pushstring(L, lua_tostring(L, 1));
  } else if (!luaL_callmeta(L, 1, "__tostring") || lua_type(L, -1) != LUA_TSTRING) {
    lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  lua_State *co = lua_touserdata(L, 2);
  if (co != NULL) luaL_traceback(L, co, lua_tostring(L, -1), 0);
  return 1;
}

/* Print the error at 'idx' with 'co's traceback, prefixed. */
static void print(lua_State *L, int idx, lua_State *co, const char *prefix) {
  idx = lua_absindex(L, idx);
  int top = lua_gettop(L);
  lua_pushcfunction(L, format);
  lua_pushvalue(L, idx);
  lua_pushlightuserdata(L, co);
  if (lua_pcall(L, 2, 1, 0) == LUA_OK && lua_type(L, -1) == LUA_TSTRING) {
    fprintf(stderr, "greenlua: %s%s\n", prefix, lua_tostring(L, -1));
  } else {
    /* formatting failed (it raised, yielded, or memory ran out): say what
    ** can be said without calling or allocating anything */
    fprintf(stderr, "greenlua: %s(error object is a %s value)\n", prefix, luaL_typename(L, idx));
  }
  fflush(stderr);
  lua_settop(L, top);
}

void gl_report(lua_State *L, lua_State *co, gl_thread *t) {
  char prefix[48] = "";
  if (t && !(t->flags & GL_MAIN)) snprintf(prefix, sizeof prefix, "green thread %lld: ", (long long)t->id);
  print(L, -1, co, prefix);
}

void gl_report_message(lua_State *L, int idx, const char *prefix) {
  print(L, idx, NULL, prefix);
}

int gl_is_exit(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  lua_rawgeti(L, LUA_REGISTRYINDEX, gl_H.exit_ref);
  int same = lua_rawequal(L, idx, -1);
  lua_pop(L, 1);
  return same;
}
