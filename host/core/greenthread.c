/*
** greenthread.c: spawn, sleep, kill and the GreenThread object.
** Scheduling itself lives in hub.c; this file checks arguments and speaks Lua.
*/
#include <assert.h>
#include <string.h>
#include <lauxlib.h>
#include "core/hub.h"
#include "core/greenthread.h"
#include "core/thread.h"
#include "core/debug.h"

#define H gl_H
#define THREAD_MT "green.GreenThread"

/* ------------------------------------------------------------- arguments */

const void *gl_udata_meta(lua_State *L, int idx) {
  const void *mt = NULL;
  if (lua_type(L, idx) == LUA_TUSERDATA && lua_getmetatable(L, idx)) {
    mt = lua_topointer(L, -1);
    lua_pop(L, 1);
  }
  return mt;
}


int gl_argerror(lua_State *L, int arg, const char *fname, const char *msg) {
  return luaL_error(L, "bad argument #%d to '%s' (%s)", arg, fname, msg);
}

int gl_typeerror(lua_State *L, int arg, const char *fname, const char *tname) {
  const char *got = luaL_typename(L, arg);
  if (luaL_getmetafield(L, arg, "__name") == LUA_TSTRING) got = lua_tostring(L, -1);
  return gl_argerror(L, arg, fname, lua_pushfstring(L, "%s expected, got %s", tname, got));
}

double gl_check_seconds(lua_State *L, int idx, const char *fname) {
  int isnum;
  double seconds = lua_tonumberx(L, idx, &isnum);
  if (!isnum) gl_typeerror(L, idx, fname, "number");
  if (seconds != seconds) gl_argerror(L, idx, fname, "number expected, got NaN");
  return seconds > 0 ? seconds : 0;
}

double gl_opt_timeout(lua_State *L, int idx) {
  if (lua_isnoneornil(L, idx)) return -1;
  double seconds = luaL_checknumber(L, idx);
  if (seconds != seconds) luaL_argerror(L, idx, "number expected, got NaN");
  return seconds > 0 ? seconds : 0;
}


/* Argument checks name the function the user called ('fname'): Lua's own
** would find "green.core.kill" for a method called through pcall. */
static gl_handle *check_thread(lua_State *L, int idx, const char *fname) {
  gl_handle *h = gl_test_handle(L, idx);
  if (h == NULL) gl_typeerror(L, idx, fname, "GreenThread");
  return h;
}

static void check_callable(lua_State *L, int idx, const char *fname) {
  if (lua_type(L, idx) == LUA_TFUNCTION) return;
  if (luaL_getmetafield(L, idx, "__call") != LUA_TNIL) {
    lua_pop(L, 1);
    return;
  }
  gl_typeerror(L, idx, fname, "function");
}

static const char *state_name(gl_handle *h) {
  gl_thread *t = h->t;
  if (h->flags & GL_DEAD) return "dead";
  if (t != NULL && t == H.current) return "running";
  if (!(h->flags & GL_STARTED)) return "new";
  if (t->queue == &H.ready) return "ready";
  return "suspended";
}

/* status()'s words (API.md, "Operability"): a thread not started yet, a
** pending spawn_after and a woken one are all "ready". */
static const char *status_name(gl_handle *h) {
  gl_thread *t = h->t;
  if (h->flags & GL_DEAD) return "dead";
  if (t != NULL && t == H.current) return "running";
  if (t == NULL || !(h->flags & GL_STARTED) || t->queue == &H.ready) return "ready";
  return "blocked";
}

/* ------------------------------------------------------------- spawning */

static int l_spawn(lua_State *L) {
  check_callable(L, 1, "spawn");
  gl_spawn(L, lua_gettop(L) - 1, GL_HANDLE, -1);
  return 1;
}

static int l_spawn_n(lua_State *L) {
  check_callable(L, 1, "spawn_n");
  gl_spawn_n(L, lua_gettop(L) - 1);
  return 0;
}

static int l_spawn_after(lua_State *L) {
  double seconds = gl_check_seconds(L, 1, "spawn_after");
  check_callable(L, 2, "spawn_after");
  gl_spawn(L, lua_gettop(L) - 2, GL_HANDLE, seconds);
  return 1;
}

static int return_nothing(lua_State *L, int status, lua_KContext ctx) {
  (void)L, (void)status, (void)ctx;
  return 0;
}

static int l_sleep(lua_State *L) {
  double seconds = lua_isnoneornil(L, 1) ? 0 : gl_check_seconds(L, 1, "sleep");
  return gl_block(L, "sleep", NULL, seconds > 0 ? seconds : -1, return_nothing);
}

static int l_getcurrent(lua_State *L) {
  if (H.current == NULL) lua_pushnil(L);
  else gl_push_thread(L, H.current);
  return 1;
}

/* -------------------------------------------------------------- killing */

/* kill(gt [, err]): raise err in gt. The killer then waits behind it, so
** when kill returns the target has handled the error. */
static int kill_thread(lua_State *L, gl_handle *h) {
  lua_settop(L, 2);
  if (lua_isnil(L, 2)) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, H.exit_ref);
    lua_replace(L, 2);
  }
  if (h->flags & GL_DEAD) return 0;
  if (h->t != NULL && h->t == H.current) return lua_error(L);
  gl_thread *t = h->t;
  if (t == NULL && gl_kill_unstarted(L, 1) == 0) {
    /* dead already, having run nothing; still a switch, as for the others */
    if (H.current == NULL || !lua_isyieldable(L)) return 0;
    gl_thread *me = gl_check_block(L, "kill");
    return gl_yield_behind(L, me, NULL, return_nothing);
  }
  if (t == NULL) t = gl_materialize(L, 1);  /* its links run in it */
  gl_throw(L, t, 1, NULL);
  if (H.current == NULL || !lua_isyieldable(L)) return 0;
  gl_thread *me = gl_check_block(L, "kill");
  return gl_yield_behind(L, me, t, return_nothing);
}

static int l_kill(lua_State *L) {
  return kill_thread(L, check_thread(L, 1, "kill"));
}

/* gt:cancel([err]): kill only if it has not started yet. */
static int l_cancel(lua_State *L) {
  gl_handle *h = check_thread(L, 1, "cancel");
  if (h->flags & (GL_STARTED | GL_DEAD)) return 0;
  return kill_thread(L, h);
}

/* ------------------------------------------------------------- the object */

static int wait_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  gl_handle *h = lua_touserdata(L, 1);
  if (!(h->flags & GL_DEAD)) /* woken early: cannot happen, but stay honest */
    return gl_block(L, "wait", &gl_materialize(L, 1)->joiners, -1, wait_k);
  lua_settop(L, 1);
  int n = gl_thread_results(L, 1);
  if (h->flags & GL_ERRORED) return lua_error(L);
  return n;
}

static int l_wait(lua_State *L) {
  gl_handle *h = check_thread(L, 1, "wait");
  if (!(h->flags & GL_DEAD)) {
    if (h->t != NULL && h->t == H.current)
      return luaL_error(L, "wait: a green thread cannot wait for itself");
    return gl_block(L, "wait", &gl_materialize(L, 1)->joiners, -1, wait_k);
  }
  return wait_k(L, LUA_OK, 0);
}

static int l_dead(lua_State *L) {
  lua_pushboolean(L, check_thread(L, 1, "dead")->flags & GL_DEAD);
  return 1;
}

static int l_traceback(lua_State *L) {
  gl_handle *h = check_thread(L, 1, "traceback");
  gl_thread *t = h->t;
  const char *msg = lua_pushfstring(L, "green thread %I (%s)", h->id, state_name(h));
  if (t && t == H.current) luaL_traceback(L, L, msg, 1);
  else if (t && t->co && !(h->flags & GL_DEAD)) luaL_traceback(L, t->co, msg, 0);
  return 1;
}

/* The thread's extra table (links, green-local storage), made on demand.
** Raises for a thread that is gone for good. */
static int l_extra(lua_State *L) {
  gl_handle *h = check_thread(L, 1, luaL_optstring(L, 2, "extra"));
  if ((h->flags & GL_DEAD) && !(h->t && (h->t->flags & GL_LINKING))) return 0;
  gl_push_extra(L, 1);
  return 1;
}

/* on_exit(gt, fn): fn(gt) runs in the hub when gt ends, however it ends
** (also killed before it started), before its links; fn must not block.
** Cheaper than a link: no second run of the thread. For the Lua half's
** bookkeeping (pools), not for scripts. */
static int l_on_exit(lua_State *L) {
  gl_handle *h = check_thread(L, 1, "on_exit");
  if (lua_type(L, 2) != LUA_TFUNCTION) gl_typeerror(L, 2, "on_exit", "function");
  if (h->flags & GL_DEAD) return luaL_error(L, "on_exit: the thread has ended");
  gl_push_extra(L, 1);
  lua_pushvalue(L, 2);
  lua_setfield(L, -2, "on_exit");
  return 0;
}

/* gt:status() -> state, call, since: call and since only while blocked */
static int l_status(lua_State *L) {
  gl_handle *h = check_thread(L, 1, "status");
  const char *state = status_name(h);
  lua_pushstring(L, state);
  if (state[0] != 'b') return 1;
  gl_thread *t = h->t;
  /* blocked: started, alive, not running, out of the ready queue */
  assert(t != NULL && t->co != NULL && t != H.current && t->queue != &H.ready);
  lua_pushstring(L, t->what ? t->what : "?");
  lua_pushnumber(L, (double)t->since / 1e9);
  return 3;
}

static int l_tostring(lua_State *L) {
  gl_handle *h = check_thread(L, 1, "__tostring");
  const char *name = gl_handle_name(h);
  if (name) lua_pushfstring(L, "GreenThread %I \"%s\" (%s)", h->id, name, state_name(h));
  else lua_pushfstring(L, "GreenThread %I (%s)", h->id, state_name(h));
  return 1;
}

static int is_key(lua_State *L, int idx, const char *key) {
  return lua_type(L, idx) == LUA_TSTRING && strcmp(lua_tostring(L, idx), key) == 0;
}

/* gt.id, gt.name, then the methods (upvalue 1). */
static int l_index(lua_State *L) {
  gl_handle *h = check_thread(L, 1, "__index");
  const char *key = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : NULL;
  if (key && key[0] == 'i' && key[1] == 'd' && key[2] == '\0') {
    lua_pushinteger(L, h->id);
    return 1;
  }
  if (key && key[0] == 'n' && strcmp(key, "name") == 0) {
    const char *name = gl_handle_name(h);
    if (name) lua_pushstring(L, name);
    else lua_pushnil(L);
    return 1;
  }
  lua_pushvalue(L, 2);
  lua_rawget(L, lua_upvalueindex(1));
  return 1;
}

/* gt.name = string or nil: the only field a script may set. The string is
** kept in the hub's weak-keyed names table, so h->name stays valid exactly
** as long as the handle, and dead threads keep their names. */
static int l_newindex(lua_State *L) {
  gl_handle *h = check_thread(L, 1, "__newindex");
  if (!is_key(L, 2, "name"))
    return gl_argerror(L, 2, "__newindex", "only 'name' can be set on a GreenThread");
  int type = lua_type(L, 3);
  if (type != LUA_TSTRING && type != LUA_TNIL)
    return gl_argerror(L, 3, "__newindex",
                       lua_pushfstring(L, "name: string or nil expected, got %s", luaL_typename(L, 3)));
  lua_rawgeti(L, LUA_REGISTRYINDEX, H.names_ref);
  lua_pushvalue(L, 1);
  lua_pushvalue(L, 3);
  lua_rawset(L, -3);                      /* may allocate: raises with h unchanged */
  if (type == LUA_TNIL) {
    h->flags &= ~GL_NAMED;
  } else {
    h->name = lua_tostring(L, 3);
    h->flags |= GL_NAMED;
  }
  return 0;
}

/* -------------------------------------------------------- introspection */

/* threads(): every live thread: those with a run-time state (each has a
** slot in the thread table: its handle, or its coroutine if it has none
** yet, which it gets now), and those waiting to start without one. */
int gl_threads(lua_State *L) {
  lua_newtable(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, H.threads_ref);
  lua_Integer n = 0;
  for (lua_Integer i = 1; i <= H.nslots; i++) {
    lua_rawgeti(L, -1, i);
    lua_State *co = lua_tothread(L, -1);
    if (co != NULL) {                      /* a thread with no handle yet */
      gl_thread *t = gl_owner(co);
      lua_pop(L, 1);
      if (t == NULL) continue;
      gl_push_thread(L, t);
    }
    gl_handle *h = gl_test_handle(L, -1);
    if (h == NULL || (h->flags & GL_DEAD)) lua_pop(L, 1);
    else lua_rawseti(L, -3, ++n);
  }
  lua_pop(L, 1);
  lua_rawgeti(L, LUA_REGISTRYINDEX, H.pending_ref);
  for (lua_Integer i = H.pending_head; i <= H.pending_tail; i++) {
    lua_rawgeti(L, -1, i);
    gl_handle *h = gl_test_handle(L, -1);
    if (h == NULL || h->t != NULL || (h->flags & (GL_STARTED | GL_DEAD))) lua_pop(L, 1);
    else lua_rawseti(L, -3, ++n);
  }
  lua_pop(L, 1);
  return 1;
}

/* core.switches(): the hub's switch count, without stats' table (wsgi.lua
** asks it around every body piece: did making the piece block?) */
static int l_switches(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)H.switches);
  return 1;
}

static int l_stats(lua_State *L) {
  lua_createtable(L, 0, 6);
  lua_pushinteger(L, H.live);
  lua_setfield(L, -2, "threads");
  lua_pushinteger(L, gl_runnable());
  lua_setfield(L, -2, "runnable");
  lua_pushinteger(L, (lua_Integer)gl_timers_count());
  lua_setfield(L, -2, "timers");
  lua_pushinteger(L, (lua_Integer)H.switches);
  lua_setfield(L, -2, "switches");
  lua_pushnumber(L, (double)(uv_hrtime() - H.started_at) / 1e9);
  lua_setfield(L, -2, "uptime");
  lua_pushinteger(L, lua_gc(L, LUA_GCCOUNT, 0));
  lua_setfield(L, -2, "memory_kb");
  return 1;
}

static int l_now(lua_State *L) {
  lua_pushnumber(L, (double)uv_hrtime() / 1e9);
  return 1;
}

static int l_set_link_runner(lua_State *L) {
  if (lua_type(L, 1) != LUA_TFUNCTION) gl_typeerror(L, 1, "set_link_runner", "function");
  lua_settop(L, 1);
  luaL_unref(L, LUA_REGISTRYINDEX, H.link_runner_ref);
  H.link_runner_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  return 0;
}

static int exit_tostring(lua_State *L) {
  lua_pushliteral(L, "GreenThreadExit");
  return 1;
}

void gl_open_greenthread(lua_State *L, int internal) {
  static const luaL_Reg functions[] = {
    {"spawn", l_spawn}, {"spawn_n", l_spawn_n}, {"spawn_after", l_spawn_after},
    {"sleep", l_sleep}, {"getcurrent", l_getcurrent}, {"kill", l_kill},
    {"threads", gl_threads}, {"stats", l_stats}, {"now", l_now},
    {"switches", l_switches},
    {NULL, NULL}
  };
  static const luaL_Reg private[] = {
    {"extra", l_extra}, {"set_link_runner", l_set_link_runner},
    {"finished", gl_finished}, {"on_exit", l_on_exit},
    {NULL, NULL}
  };
  internal = lua_absindex(L, internal);
  lua_pushvalue(L, internal);
  luaL_setfuncs(L, private, 0);
  lua_pop(L, 1);
  static const luaL_Reg methods[] = {
    {"wait", l_wait}, {"kill", l_kill}, {"cancel", l_cancel}, {"dead", l_dead},
    {"traceback", l_traceback}, {"status", l_status}, {NULL, NULL}
  };
  luaL_setfuncs(L, functions, 0);
  gl_open_debug(L);

  luaL_newmetatable(L, THREAD_MT);
  luaL_newlib(L, methods);
  lua_pushvalue(L, -1);
  lua_setfield(L, internal, "GreenThread");  /* the method table, for init.lua */
  lua_pushcclosure(L, l_index, 1);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, l_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pushcfunction(L, l_newindex);
  lua_setfield(L, -2, "__newindex");
  H.thread_mt = lua_topointer(L, -1);
  H.thread_mt_ref = luaL_ref(L, LUA_REGISTRYINDEX);

  lua_newtable(L);                      /* GreenThreadExit */
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, exit_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1);
  H.exit_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_setfield(L, -2, "GreenThreadExit");
}
