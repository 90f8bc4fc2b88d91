/*
** testhooks.c: see testhooks.h.
*/
#include <lauxlib.h>
#include "core/testhooks.h"
#include "core/timer.h"

static lua_Alloc real_alloc;
static void *real_ud;
static int failing;

/* Lua's allocator with a switch: growth fails while 'failing'. With
** ptr NULL, osize is the kind of object, not a size: anything is growth. */
static void *switched_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  if (failing && nsize > 0 && (ptr == NULL || nsize > osize)) return NULL;
  return real_alloc(ud, ptr, osize, nsize);
}

/* fail_allocations(on) */
static int l_fail_allocations(lua_State *L) {
  luaL_checktype(L, 1, LUA_TBOOLEAN);
  if (real_alloc == NULL) {
    real_alloc = lua_getallocf(L, &real_ud);
    lua_setallocf(L, switched_alloc, real_ud);
  }
  failing = lua_toboolean(L, 1);
  return 0;
}

/* check_timers() -> true, or raises what is wrong */
static int l_check_timers(lua_State *L) {
  const char *wrong = gl_timers_check();
  if (wrong) return luaL_error(L, "timers: %s", wrong);
  lua_pushboolean(L, 1);
  return 1;
}

void gl_open_testhooks(lua_State *L) {
  lua_pushcfunction(L, l_check_timers);
  lua_setfield(L, -2, "check_timers");
  lua_pushcfunction(L, l_fail_allocations);
  lua_setfield(L, -2, "fail_allocations");
}
