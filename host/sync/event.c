/*
** event.c: green.Event. What was sent is kept as one "outcome" value
** (uservalue 1), shared by every waiter the send wakes: nil for no values,
** the value itself for one value that is neither nil nor a table, else a
** box: {[0] = k, v1, ..., vk} for values, {[0] = EXCEPTION, err} for
** send_exception. The cheap forms matter: send() and wait() are the
** Event ping-pong's whole cost.
*/
#include <lauxlib.h>
#include "core/hub.h"
#include "sync/args.h"
#include "sync/event.h"

#define EVENT_MT "green.Event"
enum { UNSENT, SENT, FAILED };

static const char EVENT_TAG[] = "green.Event";

typedef struct gl_event {
  const char *tag;     /* EVENT_TAG, see gl_sync_test */
  int state;
  gl_waitq waiters;
} gl_event;

static int event_mt_ref = LUA_NOREF;
static const char EXCEPTION[] = "exception";  /* box[0] of send_exception's box */

static gl_event *check_event(lua_State *L, const char *fname) {
  gl_event *e = gl_sync_test(L, 1, EVENT_TAG, sizeof *e);
  if (e == NULL) gl_sync_typeerror(L, 1, fname, "Event");
  return e;
}

/* Deliver the outcome on top of L: the values it holds, or raise. */
static int deliver(lua_State *L) {
  int t = lua_type(L, -1);
  if (t == LUA_TNIL) return 0;
  if (t != LUA_TTABLE) return 1;       /* the one value sent */
  int box = lua_gettop(L);
  if (lua_rawgeti(L, box, 0) == LUA_TLIGHTUSERDATA) {
    lua_rawgeti(L, box, 1);
    return lua_error(L);
  }
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
    lua_pushnil(L);
  } else if (n == 1 && lua_type(L, 2) != LUA_TNIL && lua_type(L, 2) != LUA_TTABLE) {
    /* the value is its own outcome, on top */
  } else {
    lua_createtable(L, n, 1);
    lua_insert(L, 2);
    for (int i = n; i >= 1; i--) lua_rawseti(L, 2, i);
    lua_pushinteger(L, n);
    lua_rawseti(L, 2, 0);
  }
  trigger(L, e, SENT, "send");
  return 0;
}

/* evt:send_exception(err) */
static int l_send_exception(lua_State *L) {
  gl_event *e = check_event(L, "send_exception");
  lua_settop(L, 2);
  lua_createtable(L, 1, 1);
  lua_pushvalue(L, 2);
  lua_rawseti(L, -2, 1);
  lua_pushlightuserdata(L, (void *)EXCEPTION);
  lua_rawseti(L, -2, 0);
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
  double timeout = lua_gettop(L) > 1 ? gl_sync_opttimeout(L, 2, "wait") : -1;
  if (e->state != UNSENT) {
    lua_getiuservalue(L, 1, 1);
    return deliver(L);
  }
  return gl_block(L, "Event:wait", &e->waiters, timeout, wait_k);
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
  *e = (gl_event){ .tag = EVENT_TAG, .state = UNSENT };
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
  event_mt_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}
