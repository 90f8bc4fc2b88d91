/*
** debug.c: seeing inside a live process, the C half of green.debug.
**
** The contract (API.md, "Operability"):
**  - gl_debug_push_header(L, h): one thread's header line, Go-like,
**      green thread 12 "worker" [blocked in Queue:get, 3.2 s]
**    (no quotes part when unnamed; " (main)" after the id for the main
**    thread; [running], [ready], [dead] otherwise). The dump, the deadlock
**    report and graceful shutdown's list all use it.
**  - gl_debug_push_dump(L): for every live thread, in id order, its header
**    with a colon, then its traceback, then a blank line. Allocates: call
**    it where raising is fine (under lua_pcall from the hub).
**  - SIGQUIT: installed at start-up whatever was inherited (an ignored or
**    blocked SIGQUIT too): the handler only sets a flag and pokes an
**    unreferenced uv_async (it keeps nothing alive, hides no deadlock);
**    the hub then prints the dump to stderr and goes on. green.signal("QUIT")
**    takes the signal over through libuv and, when cancelled, signal.c puts
**    this handler back (it restores the disposition it found).
**  - top(): core.debug_sample(+1 | -1) counts the samplers; while any is
**    active, run() (hub.c) adds each switch's wall time to the thread's
**    'cpu'; core.debug_cpu(gt) reads it in seconds. Nothing is timed when
**    nobody samples: one branch per switch.
**  - Where a thread was spawned is not kept: it would cost a traceback per
**    spawn, and the spawn bench must not move.
*/
#include <assert.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "core/hub.h"
#include "core/debug.h"
#include "core/greenthread.h"

#define H gl_H

static uv_async_t quit_async;
static volatile sig_atomic_t quit_pending;
static int opened;

/* -------------------------------------------------------------- headers */

/* status()'s words, as greenthread.c's status_name. */
static const char *state_of(gl_handle *h) {
  gl_thread *t = h->t;
  if (h->flags & GL_DEAD) return "dead";
  if (t != NULL && t == H.current) return "running";
  if (t == NULL || !(h->flags & GL_STARTED) || t->queue == &H.ready) return "ready";
  return "blocked";
}

void gl_debug_push_header(lua_State *L, gl_handle *h) {
  luaL_Buffer b;
  char num[64];
  const char *name = gl_handle_name(h), *state = state_of(h);
  luaL_buffinit(L, &b);
  snprintf(num, sizeof num, "green thread %lld", (long long)h->id);
  luaL_addstring(&b, num);
  if (h->flags & GL_MAIN) luaL_addstring(&b, " (main)");
  if (name) {
    luaL_addstring(&b, " \"");
    luaL_addstring(&b, name);
    luaL_addchar(&b, '"');
  }
  luaL_addstring(&b, " [");
  luaL_addstring(&b, state);
  if (state[0] == 'b') {
    gl_thread *t = h->t;
    assert(t != NULL && t->co != NULL && t->queue != &H.ready);
    uint64_t now = gl_coarse_ns();
    double age = now > t->since ? (double)(now - t->since) / 1e9 : 0;
    snprintf(num, sizeof num, ", %.1f s", age);
    luaL_addstring(&b, " in ");
    luaL_addstring(&b, t->what ? t->what : "?");
    luaL_addstring(&b, num);
  }
  luaL_addchar(&b, ']');
  luaL_pushresult(&b);
}

/* ----------------------------------------------------------------- dump */

static int by_id(const void *a, const void *b) {
  lua_Integer x = (*(gl_handle *const *)a)->id, y = (*(gl_handle *const *)b)->id;
  return (x > y) - (x < y);
}

/* The traceback of a live thread, or nothing for one that has not started.
** The running one is L's own (the caller of dump, maybe in a coroutine). */
static void push_traceback(lua_State *L, gl_handle *h) {
  gl_thread *t = h->t;
  if (t != NULL && t == H.current) luaL_traceback(L, L, NULL, 1);
  else if (t != NULL && t->co != NULL && (h->flags & GL_STARTED)) luaL_traceback(L, t->co, NULL, 0);
  else lua_pushliteral(L, "(not started)");
}

/* threads() sorted by id (in a userdata array: the collector frees it, so
** raising midway leaks nothing), then one block per thread. */
void gl_debug_push_dump(lua_State *L) {
  gl_threads(L);
  int list = lua_gettop(L);
  size_t n = lua_rawlen(L, list);
  gl_handle **all = lua_newuserdatauv(L, (n ? n : 1) * sizeof *all, 0);
  for (size_t i = 0; i < n; i++) {
    lua_rawgeti(L, list, (lua_Integer)i + 1);
    all[i] = gl_test_handle(L, -1);
    lua_pop(L, 1);
  }
  qsort(all, n, sizeof *all, by_id);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (size_t i = 0; i < n; i++) {
    gl_debug_push_header(L, all[i]);
    luaL_addvalue(&b);
    luaL_addstring(&b, ":\n");
    push_traceback(L, all[i]);
    luaL_addvalue(&b);
    luaL_addstring(&b, "\n\n");
  }
  luaL_pushresult(&b);
  lua_replace(L, list);
  lua_settop(L, list);
}

/* --------------------------------------------------------------- SIGQUIT */

static void on_sigquit(int sig) {
  (void)sig;
  quit_pending = 1;
  uv_async_send(&quit_async);  /* async-signal-safe */
}

static int print_dump(lua_State *L) {
  gl_debug_push_dump(L);
  size_t len;
  const char *text = lua_tolstring(L, -1, &len);
  fprintf(stderr, "greenlua: SIGQUIT: dump of %lld green threads\n", (long long)H.live);
  fwrite(text, 1, len, stderr);
  fflush(stderr);
  return 0;
}

/* In the hub, never inside a thread: every thread's stack is still. A
** dump that fails (out of memory) is reported; the process goes on. */
static void on_quit(uv_async_t *handle) {
  (void)handle;
  if (!quit_pending) return;
  quit_pending = 0;
  lua_State *L = H.L;
  lua_pushcfunction(L, print_dump);
  if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
    fprintf(stderr, "greenlua: SIGQUIT: dump failed: %s\n",
            lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "error");
    fflush(stderr);
    lua_pop(L, 1);
  }
}

void gl_debug_open(void) {
  uv_async_init(H.loop, &quit_async, on_quit);
  uv_unref((uv_handle_t *)&quit_async);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigquit;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGQUIT, &sa, NULL);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGQUIT);
  sigprocmask(SIG_UNBLOCK, &set, NULL);
  opened = 1;
}

void gl_debug_close(void) {
  if (!opened) return;
  opened = 0;
  signal(SIGQUIT, SIG_DFL);  /* the async is going: nothing may poke it */
  uv_close((uv_handle_t *)&quit_async, NULL);
}

/* -------------------------------------------------------------- for Lua */

static gl_handle *check_thread(lua_State *L, int idx, const char *fname) {
  gl_handle *h = gl_test_handle(L, idx);
  if (h == NULL) gl_typeerror(L, idx, fname, "GreenThread");
  return h;
}

/* debug_dump() -> text */
static int l_dump(lua_State *L) {
  lua_settop(L, 0);
  gl_debug_push_dump(L);
  return 1;
}

/* debug_header(gt) -> the header line */
static int l_header(lua_State *L) {
  gl_debug_push_header(L, check_thread(L, 1, "header"));
  return 1;
}

/* debug_cpu(gt) -> seconds it ran while sampled (0 if it has no state) */
static int l_cpu(lua_State *L) {
  gl_handle *h = check_thread(L, 1, "top");
  gl_thread *t = (h->flags & GL_DEAD) ? NULL : h->t;
  lua_pushnumber(L, t ? (double)t->cpu / 1e9 : 0);
  return 1;
}

/* debug_sample(1 | -1) -> samplers now */
static int l_sample(lua_State *L) {
  lua_Integer d = luaL_checkinteger(L, 1);
  if (d != 1 && d != -1) return gl_argerror(L, 1, "top", "1 or -1 expected");
  if (d < 0 && H.sampling == 0) return luaL_error(L, "top: not sampling");
  H.sampling += (int)d;
  lua_pushinteger(L, H.sampling);
  return 1;
}

void gl_open_debug(lua_State *L) {
  static const luaL_Reg functions[] = {
    {"debug_dump", l_dump}, {"debug_header", l_header},
    {"debug_cpu", l_cpu}, {"debug_sample", l_sample}, {NULL, NULL}
  };
  luaL_setfuncs(L, functions, 0);
}
