/*
** waitq.c: green.core.WaitQueue, a gl_waitq in a userdata.
*/
#include <stddef.h>
#include <lauxlib.h>
#include "core/hub.h"
#include "sync/args.h"
#include "sync/waitq.h"

#define WAITQ_MT "green.WaitQueue"

static const char WAITQ_TAG[] = "green.WaitQueue";

typedef struct waitq_ud {
  const char *tag;     /* WAITQ_TAG, see gl_sync_test */
  gl_waitq wq;
} waitq_ud;

/* What wq:wake() (no value) hands over. The hub takes a thread woken with
** nil for one that was handed nothing, and an interrupt then discards the
** wake-up; a value keeps it, so the cancel hook can pass it on. */
static const char NIL_WAKE[] = "nil wake-up";

static gl_waitq *check_waitq(lua_State *L, const char *fname) {
  waitq_ud *ud = gl_sync_test(L, 1, WAITQ_TAG, sizeof *ud);
  if (ud == NULL) gl_sync_typeerror(L, 1, fname, "WaitQueue");
  return &ud->wq;
}

static int l_new(lua_State *L) {
  waitq_ud *ud = lua_newuserdatauv(L, sizeof *ud, 0);
  *ud = (waitq_ud){ .tag = WAITQ_TAG };
  luaL_setmetatable(L, WAITQ_MT);
  return 1;
}

static int wait_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  if (lua_touserdata(L, -2) == GL_TIMEDOUT) {
    lua_pushboolean(L, 0);
    return 1;
  }
  if (lua_touserdata(L, -1) == NIL_WAKE) {
    lua_pop(L, 1);
    lua_pushnil(L);
  }
  lua_pushboolean(L, 1);
  lua_insert(L, -2);
  return 2;
}

/* Interrupted after a wake-up it had not seen yet: pass the wake-up on to
** the next waiter, so no wake-up is lost. */
static void wait_cancel(lua_State *L) {
  if (lua_touserdata(L, -2) != GL_WOKEN) return;
  waitq_ud *ud = lua_touserdata(L, 1);
  lua_pushvalue(L, -1);
  gl_wake_one(L, &ud->wq);
}

static int l_wait(lua_State *L) {
  gl_waitq *wq = check_waitq(L, "wait");
  double timeout = gl_sync_opttimeout(L, 2, "wait");
  return gl_block_cancel(L, "WaitQueue:wait", wq, timeout, wait_k, wait_cancel);
}

static int l_wake(lua_State *L) {
  gl_waitq *wq = check_waitq(L, "wake");
  lua_settop(L, 2);
  if (lua_isnil(L, 2)) lua_pushlightuserdata(L, (void *)NIL_WAKE);
  lua_pushboolean(L, gl_wake_one(L, wq) != NULL);
  return 1;
}

static int l_wake_all(lua_State *L) {
  gl_waitq *wq = check_waitq(L, "wake_all");
  lua_Integer n = 0;
  while (wq->head) {
    lua_pushnil(L);
    gl_wake_one(L, wq);
    n++;
  }
  lua_pushinteger(L, n);
  return 1;
}

static int l_len(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)check_waitq(L, "__len")->n);
  return 1;
}

void gl_open_waitq(lua_State *L) {
  static const luaL_Reg methods[] = {
    {"wait", l_wait}, {"wake", l_wake}, {"wake_all", l_wake_all}, {NULL, NULL}
  };
  lua_pushcfunction(L, l_new);
  lua_setfield(L, -2, "WaitQueue");
  luaL_newmetatable(L, WAITQ_MT);
  luaL_newlib(L, methods);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, l_len);
  lua_setfield(L, -2, "__len");
  lua_pop(L, 1);  /* the registry keeps it */
}
