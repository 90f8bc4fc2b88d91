/*
** semaphore.c: counting semaphores with FIFO hand-off. While threads wait
** the counter is 0: release gives the permit straight to the first waiter.
*/
#include <lauxlib.h>
#include "core/hub.h"
#include "sync/args.h"
#include "sync/semaphore.h"

#define SEM_MT "green.Semaphore"

static const char SEM_TAG[] = "green.Semaphore";

typedef struct gl_sem {
  const char *tag;     /* SEM_TAG, see gl_sync_test */
  lua_Integer counter;
  lua_Integer bound;   /* BoundedSemaphore: the most it may count; else -1 */
  gl_waitq waiters;
} gl_sem;

static int sem_mt_ref = LUA_NOREF;

static gl_sem *check_sem(lua_State *L, const char *fname) {
  gl_sem *s = gl_sync_test(L, 1, SEM_TAG, sizeof *s);
  if (s == NULL) gl_sync_typeerror(L, 1, fname, "Semaphore");
  return s;
}

/* Hand a permit to the first waiter, else count it. Returns 0, changing
** nothing, if the counter is at its largest value. */
static int give(lua_State *L, gl_sem *s) {
  if (s->waiters.head) {
    lua_pushboolean(L, 1);   /* a value: an interrupted receiver hands it back */
    gl_wake(L, s->waiters.head);
  } else if (s->counter < LUA_MAXINTEGER) {
    s->counter++;
  } else {
    return 0;
  }
  return 1;
}

static int acquire_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  lua_pushboolean(L, lua_touserdata(L, -2) != GL_TIMEDOUT);
  return 1;
}

/* Interrupted after it was handed the permit: pass it on (a counter at
** its largest value cannot tell one more permit anyway). */
static void acquire_cancel(lua_State *L) {
  if (lua_touserdata(L, -2) == GL_WOKEN) (void)give(L, lua_touserdata(L, 1));
}

/* sem:acquire([blocking [, timeout]]) */
static int l_acquire(lua_State *L) {
  gl_sem *s = check_sem(L, "acquire");
  int blocking = lua_isnoneornil(L, 2) || lua_toboolean(L, 2);
  double timeout = gl_sync_opttimeout(L, 3, "acquire");
  if (s->counter > 0) {
    s->counter--;
    lua_pushboolean(L, 1);
    return 1;
  }
  if (!blocking) {
    lua_pushboolean(L, 0);
    return 1;
  }
  lua_settop(L, 1);
  return gl_block_cancel(L, "Semaphore:acquire", &s->waiters, timeout, acquire_k, acquire_cancel);
}

static int l_release(lua_State *L) {
  gl_sem *s = check_sem(L, "release");
  if (s->bound >= 0 && s->counter >= s->bound)
    return luaL_error(L, "release: BoundedSemaphore released too many times");
  if (!give(L, s)) return luaL_error(L, "release: the counter would overflow");
  return 0;
}

/* core.semaphore_adjust(sem, delta), GreenPool:resize's: delta > 0
** releases that many permits at once (to waiters first); delta < 0 takes
** up to -delta free permits without waiting. Returns how many of them it
** could not take (0 for a release). Bounded only by the waiters, never by
** delta: resize(math.maxinteger) is one addition. */
static int l_adjust(lua_State *L) {
  gl_sem *s = check_sem(L, "semaphore_adjust");
  lua_Integer delta = gl_sync_checkinteger(L, 2, "semaphore_adjust");
  if (s->bound >= 0) return gl_sync_argerror(L, 1, "semaphore_adjust", "bounded");
  if (delta >= 0) {
    lua_Integer woken = (lua_Integer)s->waiters.n < delta ? (lua_Integer)s->waiters.n : delta;
    if (delta - woken > LUA_MAXINTEGER - s->counter)
      return luaL_error(L, "resize: the counter would overflow");
    for (lua_Integer i = 0; i < woken; i++) give(L, s);
    s->counter += delta - woken;
    lua_pushinteger(L, 0);
  } else if (delta == LUA_MININTEGER) {
    return gl_sync_argerror(L, 2, "semaphore_adjust", "out of range");
  } else {
    lua_Integer taken = s->counter < -delta ? s->counter : -delta;
    s->counter -= taken;
    lua_pushinteger(L, -delta - taken);
  }
  return 1;
}

static int l_locked(lua_State *L) {
  lua_pushboolean(L, check_sem(L, "locked")->counter <= 0);
  return 1;
}

static int l_counter(lua_State *L) {
  lua_pushinteger(L, check_sem(L, "counter")->counter);
  return 1;
}

static int l_balance(lua_State *L) {
  gl_sem *s = check_sem(L, "balance");
  lua_pushinteger(L, s->counter - (lua_Integer)s->waiters.n);
  return 1;
}

static int l_tostring(lua_State *L) {
  gl_sem *s = check_sem(L, "__tostring");
  lua_pushfstring(L, "%s (counter %I, %I waiting)",
                  s->bound >= 0 ? "BoundedSemaphore" : "Semaphore",
                  s->counter, (lua_Integer)s->waiters.n);
  return 1;
}

static int new_sem(lua_State *L, int bounded, const char *fname) {
  lua_Integer n = gl_sync_optinteger(L, 1, fname, 1);
  if (n < 0) gl_sync_argerror(L, 1, fname, "must not be negative");
  gl_sem *s = lua_newuserdatauv(L, sizeof *s, 0);
  *s = (gl_sem){ .tag = SEM_TAG, .counter = n, .bound = bounded ? n : -1 };
  lua_rawgeti(L, LUA_REGISTRYINDEX, sem_mt_ref);
  lua_setmetatable(L, -2);
  return 1;
}

static int l_Semaphore(lua_State *L) { return new_sem(L, 0, "Semaphore"); }
static int l_BoundedSemaphore(lua_State *L) { return new_sem(L, 1, "BoundedSemaphore"); }

void gl_open_semaphore(lua_State *L) {
  static const luaL_Reg methods[] = {
    {"acquire", l_acquire}, {"release", l_release}, {"locked", l_locked},
    {"counter", l_counter}, {"balance", l_balance}, {NULL, NULL}
  };
  lua_pushcfunction(L, l_Semaphore);
  lua_setfield(L, -2, "Semaphore");
  lua_pushcfunction(L, l_BoundedSemaphore);
  lua_setfield(L, -2, "BoundedSemaphore");
  lua_pushcfunction(L, l_adjust);
  lua_setfield(L, -2, "semaphore_adjust");
  luaL_newmetatable(L, SEM_MT);
  luaL_newlib(L, methods);
  lua_pushvalue(L, -1);
  lua_setfield(L, -4, "SemaphoreMethods");  /* the Lua half adds guard() */
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, l_tostring);
  lua_setfield(L, -2, "__tostring");
  sem_mt_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}
