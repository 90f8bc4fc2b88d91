/*
** timeout.c: green.Timeout. Expiry goes through gl_throw, so the waits it
** interrupts are left cleanly (see hub.h).
** Seconds: nil or +inf never fire (no timer is armed); NaN raises; negative
** fire at the next block; anything else is handed to the hub's timers,
** which bound huge deadlines themselves.
*/
#include <math.h>
#include <stddef.h>
#include <string.h>
#include <lauxlib.h>
#include "core/hub.h"
#include "sync/args.h"
#include "sync/timeout.h"

#define TIMEOUT_MT "green.Timeout"
enum { UV_OWNER = 1, UV_ERROR = 2 };

static const char TIMEOUT_TAG[] = "green.Timeout";

typedef struct gl_timeout {
  const char *tag;  /* TIMEOUT_TAG, see gl_sync_test */
  gl_timer timer;
  double seconds;   /* < 0 (nil) or +inf: never fires */
  int anchor;       /* registry reference while armed */
} gl_timeout;


static gl_timeout *check_timeout(lua_State *L, const char *fname) {
  gl_timeout *to = gl_sync_test(L, 1, TIMEOUT_TAG, sizeof *to);
  if (to == NULL) gl_sync_typeerror(L, 1, fname, "Timeout");
  return to;
}

static int never(const gl_timeout *to) {
  return to->seconds < 0 || to->seconds == HUGE_VAL;
}

static void disarm(lua_State *L, gl_timeout *to) {
  gl_timer_stop(&to->timer);
  luaL_unref(L, LUA_REGISTRYINDEX, to->anchor);
  to->anchor = LUA_NOREF;
}

/* Expired: raise the error (or the Timeout itself) in its thread. */
static void on_expiry(gl_timer *timer) {
  lua_State *L = gl_H.L;
  gl_timeout *to = (gl_timeout *)((char *)timer - offsetof(gl_timeout, timer));
  lua_rawgeti(L, LUA_REGISTRYINDEX, to->anchor);
  disarm(L, to);
  lua_getiuservalue(L, -1, UV_OWNER);
  gl_thread *t = gl_thread_of(L, -1);  /* NULL once the owner is dead */
  if (lua_getiuservalue(L, -2, UV_ERROR) == LUA_TNIL) {
    lua_pop(L, 1);
    lua_pushvalue(L, -2);
  }
  gl_throw(L, t, 0, to);
  lua_pop(L, 2);
}

/* t:start(): (re)arm for its number of seconds from now. */
static int start(lua_State *L, gl_timeout *to) {
  lua_settop(L, 1);
  if (never(to)) return 1;
  if (to->anchor == LUA_NOREF) {
    lua_pushvalue(L, 1);
    to->anchor = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  if (gl_timer_start(&to->timer, to->seconds) != 0) {
    disarm(L, to);
    return luaL_error(L, "Timeout: not enough memory");
  }
  lua_settop(L, 1);
  return 1;
}

static int l_start(lua_State *L) {
  return start(L, check_timeout(L, "start"));
}

/* Disarm; also withdraw an expiry still waiting for its thread to block,
** so a Timeout closed with its scope never fires after it. */
static int cancel(lua_State *L, gl_timeout *to) {
  disarm(L, to);
  lua_getiuservalue(L, 1, UV_OWNER);
  gl_withdraw(gl_thread_of(L, -1), to);
  return 0;
}

static int l_cancel(lua_State *L) { return cancel(L, check_timeout(L, "cancel")); }
static int l_close(lua_State *L) { return cancel(L, check_timeout(L, "__close")); }

static int l_pending(lua_State *L) {
  lua_pushboolean(L, gl_timer_armed(&check_timeout(L, "pending")->timer));
  return 1;
}

/* "Timeout: 2 seconds", "Timeout: 0.5 seconds", "Timeout: 1e+300 seconds".
** Whole numbers print without a fraction; only those that fit an integer
** exactly are converted to one. */
static int l_tostring(lua_State *L) {
  gl_timeout *to = check_timeout(L, "__tostring");
  double s = to->seconds;
  if (never(to)) {
    lua_pushliteral(L, "Timeout: never");
    return 1;
  }
  lua_pushliteral(L, "Timeout: ");
  if (s == floor(s) && s <= 9007199254740992.0) lua_pushinteger(L, (lua_Integer)s);
  else lua_pushnumber(L, s);
  lua_pushstring(L, s == 1 ? " second" : " seconds");
  lua_concat(L, 3);
  return 1;
}

/* t.seconds, then the methods (upvalue 1). */
static int l_index(lua_State *L) {
  gl_timeout *to = check_timeout(L, "__index");
  const char *key = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : NULL;
  if (key && strcmp(key, "seconds") == 0) {
    if (to->seconds < 0) lua_pushnil(L);
    else lua_pushnumber(L, to->seconds);
    return 1;
  }
  lua_pushvalue(L, 2);
  lua_rawget(L, lua_upvalueindex(1));
  return 1;
}

/* Timeout(seconds [, err]) */
static int l_new(lua_State *L) {
  double seconds = -1;
  if (!lua_isnoneornil(L, 1)) {
    int ok;
    seconds = (double)lua_tonumberx(L, 1, &ok);
    if (!ok) return gl_sync_typeerror(L, 1, "Timeout", "number");
    if (seconds != seconds) return gl_sync_argerror(L, 1, "Timeout", "number expected, got NaN");
    if (seconds < 0) seconds = 0;   /* negative: at once */
  }
  if (gl_H.current == NULL) return luaL_error(L, "Timeout: not inside a green thread");
  lua_settop(L, 2);
  gl_timeout *to = lua_newuserdatauv(L, sizeof *to, 2);
  to->tag = TIMEOUT_TAG;
  gl_timer_init(&to->timer, on_expiry);
  to->seconds = seconds;
  to->anchor = LUA_NOREF;
  luaL_setmetatable(L, TIMEOUT_MT);
  gl_push_thread(L, gl_H.current);
  lua_setiuservalue(L, 3, UV_OWNER);
  lua_pushvalue(L, 2);
  lua_setiuservalue(L, 3, UV_ERROR);
  lua_replace(L, 1);
  lua_settop(L, 1);
  return start(L, to);
}

/* is_timeout(err [, t]) */
static int l_is_timeout(lua_State *L) {
  int yes = gl_sync_test(L, 1, TIMEOUT_TAG, sizeof(gl_timeout)) != NULL;
  if (yes && !lua_isnoneornil(L, 2)) yes = lua_rawequal(L, 1, 2);
  lua_pushboolean(L, yes);
  return 1;
}

void gl_open_timeout(lua_State *L) {
  static const luaL_Reg methods[] = {
    {"start", l_start}, {"cancel", l_cancel}, {"pending", l_pending}, {NULL, NULL}
  };
  lua_pushcfunction(L, l_new);
  lua_setfield(L, -2, "Timeout");
  lua_pushcfunction(L, l_is_timeout);
  lua_setfield(L, -2, "is_timeout");
  luaL_newmetatable(L, TIMEOUT_MT);
  luaL_newlib(L, methods);
  lua_pushcclosure(L, l_index, 1);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, l_close);
  lua_setfield(L, -2, "__close");
  lua_pushcfunction(L, l_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);  /* the registry keeps it */
}
