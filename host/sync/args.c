/*
** args.c: argument errors that name the function the user called (see
** args.h). Only the error paths do any work beyond a type test.
*/
#include <math.h>
#include <string.h>
#include <lauxlib.h>
#include "sync/args.h"

int gl_sync_argerror(lua_State *L, int arg, const char *fname, const char *msg) {
  lua_Debug ar;
  /* q:put(...) passes self as argument 1, which the user did not write */
  if (lua_getstack(L, 0, &ar) && lua_getinfo(L, "n", &ar) &&
      ar.namewhat != NULL && strcmp(ar.namewhat, "method") == 0) {
    if (--arg == 0)
      return luaL_error(L, "calling '%s' on bad self (%s)", fname, msg);
  }
  return luaL_error(L, "bad argument #%d to '%s' (%s)", arg, fname, msg);
}

int gl_sync_typeerror(lua_State *L, int arg, const char *fname, const char *tname) {
  const char *got;
  /* luaL_getmetafield reads with rawget: no user code runs here */
  if (luaL_getmetafield(L, arg, "__name") == LUA_TSTRING) got = lua_tostring(L, -1);
  else if (lua_type(L, arg) == LUA_TLIGHTUSERDATA) got = "light userdata";
  else got = luaL_typename(L, arg);
  return gl_sync_argerror(L, arg, fname, lua_pushfstring(L, "%s expected, got %s", tname, got));
}

lua_Integer gl_sync_checkinteger(lua_State *L, int arg, const char *fname) {
  int ok;
  lua_Integer n = lua_tointegerx(L, arg, &ok);
  if (!ok) {
    if (lua_isnumber(L, arg))
      gl_sync_argerror(L, arg, fname, "number has no integer representation");
    gl_sync_typeerror(L, arg, fname, "number");
  }
  return n;
}

lua_Integer gl_sync_optinteger(lua_State *L, int arg, const char *fname, lua_Integer def) {
  return lua_isnoneornil(L, arg) ? def : gl_sync_checkinteger(L, arg, fname);
}

double gl_sync_opttimeout(lua_State *L, int arg, const char *fname) {
  if (lua_isnoneornil(L, arg)) return -1;
  int ok;
  double s = (double)lua_tonumberx(L, arg, &ok);
  if (!ok) gl_sync_typeerror(L, arg, fname, "number");
  if (s != s) gl_sync_argerror(L, arg, fname, "number expected, got NaN");
  if (s == HUGE_VAL) return -1;
  return s > 0 ? s : 0;
}
