/*
** event.c: green.Event. What was sent is kept as one "outcome" value
** (uservalue 1), shared by every waiter the send wakes: a table
** {n = k, v1, ..., vk} of values, or an exception box (a table with the
** private metatable 'exc_mt' holding the error at [1]).
*/
#include <lauxlib.h>
#include "core/hub.h"
#include "sync/args.h"
#include "sync/event.h"

#define EVENT_MT "green.Event"
enum { UNSENT, SENT, FAILED };

typedef struct gl_event {
  int state;
  gl_waitq waiters;
} gl_event;

static int event_mt_ref = LUA_NOREF, exc_mt_ref = LUA_NOREF, no_values_ref = LUA_NOREF;
static const void *event_mt;

static gl_event *check_event(lua_State *L, const char *fname) {
  if (gl_udata_meta(L, 1) != event_mt) gl_sync_typeerror(L, 1, fname, "Event");
  return lua_touserdata(L, 1);
}

/* Deliver the outcome on top of L: the values it holds, or raise. */
static int deliver(lua_State *L) {
  int box = lua_gettop(L);
  if (lua_getmetatable(L, box)) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, exc_mt_ref);
    int failed = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    if (failed) {
      lua_rawgeti(L, box, 1);
      return lua_error(L);
    }
  }
  lua_getfield(L, box, "n");
  int n = (int)lua_tointeger(L, -1);
  lua_pop(L, 1);
  luaL_checkstack(L, n, "too many values");
  for (int i = 1; i <= n; i++) lua_rawgeti(L, box, i);
  return n;
}

/* Keep the outcome on top of L (popped) and wake every waiter with it. */
static void trigger(lua_State *L, gl_event *e, int state, const char *what) {
  if (e->state != UNSENT)
    luaL_error(L, "%s: already-triggered event (reset it first)", what);
  e->state = state;
  lua_pushvalue(L, -1);
  lua_setiuservalue(L, 1, 1);
  while (e->waiters.head) {
    lua_pushvalue(L, -1);
    gl_wake_one(L, &e->waiters);
  }
  lua_pop(L, 1);
}

/* evt:send(...) */
static int l_send(lua_State *L) {
  gl_event *e = check_event(L, "send");
  int n = lua_gettop(L) - 1;
  if (n == 0) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, no_values_ref);
  } else {
    lua_createtable(L, n, 1);
    lua_insert(L, 2);
    for (int i = n; i >= 1; i--) lua_rawseti(L, 2, i);
    lua_pushinteger(L, n);
    lua_setfield(L, 2, "n");
  }
  trigger(L, e, SENT, "send");
  return 0;
}

/* evt:send_exception(err) */
static int l_send_exception(lua_State *L) {
  gl_event *e = check_event(L, "send_exception");
  lua_settop(L, 2);
  lua_createtable(L, 1, 0);
  lua_pushvalue(L, 2);
  lua_rawseti(L, -2, 1);
  lua_rawgeti(L, LUA_REGISTRYINDEX, exc_mt_ref);
  lua_setmetatable(L, -2);
  trigger(L, e, FAILED, "send_exception");
  return 0;
}

static int wait_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  if (lua_touserdata(L, -2) == GL_TIMEDOUT) return 0;
  return deliver(L);
}

/* evt:wait([timeout]) */
static int l_wait(lua_State *L) {
  gl_event *e = check_event(L, "wait");
  double timeout = gl_sync_opttimeout(L, 2, "wait");
  lua_settop(L, 1);
  if (e->state != UNSENT) {
    lua_getiuservalue(L, 1, 1);
    return deliver(L);
  }
  return gl_block(L, "wait", &e->waiters, timeout, wait_k);
}

/* evt:poll(): the values if sent, else nothing */
static int l_poll(lua_State *L) {
  gl_event *e = check_event(L, "poll");
  lua_settop(L, 1);
  if (e->state == UNSENT) return 0;
  lua_getiuservalue(L, 1, 1);
  return deliver(L);
}

static int l_ready(lua_State *L) {
  lua_pushboolean(L, check_event(L, "ready")->state != UNSENT);
  return 1;
}

static int l_has_result(lua_State *L) {
  lua_pushboolean(L, check_event(L, "has_result")->state == SENT);
  return 1;
}

static int l_has_exception(lua_State *L) {
  lua_pushboolean(L, check_event(L, "has_exception")->state == FAILED);
  return 1;
}

static int l_reset(lua_State *L) {
  gl_event *e = check_event(L, "reset");
  if (e->state == UNSENT) return luaL_error(L, "reset: the event was never sent");
  e->state = UNSENT;
  lua_pushnil(L);
  lua_setiuservalue(L, 1, 1);
  return 0;
}

static int l_tostring(lua_State *L) {
  static const char *states[] = {"not sent", "sent", "sent an exception"};
  gl_event *e = check_event(L, "__tostring");
  lua_pushfstring(L, "Event (%s, %I waiting)", states[e->state], (lua_Integer)e->waiters.n);
  return 1;
}

static int l_new(lua_State *L) {
  gl_event *e = lua_newuserdatauv(L, sizeof *e, 1);
  *e = (gl_event){ .state = UNSENT };
  lua_rawgeti(L, LUA_REGISTRYINDEX, event_mt_ref);
  lua_setmetatable(L, -2);
  return 1;
}

void gl_open_event(lua_State *L) {
  static const luaL_Reg methods[] = {
    {"send", l_send}, {"send_exception", l_send_exception}, {"wait", l_wait},
    {"poll", l_poll}, {"ready", l_ready}, {"has_result", l_has_result},
    {"has_exception", l_has_exception}, {"reset", l_reset}, {NULL, NULL}
  };
  lua_pushcfunction(L, l_new);
  lua_setfield(L, -2, "Event");
  luaL_newmetatable(L, EVENT_MT);
  luaL_newlib(L, methods);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, l_tostring);
  lua_setfield(L, -2, "__tostring");
  event_mt = lua_topointer(L, -1);
  event_mt_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_newtable(L);
  exc_mt_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_createtable(L, 0, 1);
  lua_pushinteger(L, 0);
  lua_setfield(L, -2, "n");
  no_values_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}
