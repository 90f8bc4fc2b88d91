/*
** signal.c: signals as green events over uv_signal_t, the C half of
** green.signal.
**
** The contract:
**  - core.signal_handle(sig, fn) -> handle: from then on each delivery of
**    'sig' runs fn(name) in a new green thread (queued with spawn_n from
**    libuv's callback, under gl_hub_protect), until handle:cancel()
**    (idempotent). An active handle is anchored in the registry, so
**    dropping it does not stop it; it does not keep the loop alive.
**  - core.signal_wait(sig [, timeout]) -> name | nil (the timeout came
**    first). While it waits, the loop is alive.
**  - core.signal_fallback(sig, fn) -> handle: a handler as signal_handle's
**    that runs only while no other handle or wait watches 'sig': greenlua's
**    own defaults (SIGTERM's graceful stop), which a script's
**    green.signal replaces until cancelled. Its cancel puts back what was
**    there before it, like the others'.
**  - While at least one handle or wait watches a signal, libuv's handler is
**    the process's; when the last one stops, the disposition that was there
**    before the first one began is put back exactly, with sigaction (libuv
**    alone would leave SIG_DFL): interrupt.c's SIGINT handler (Ctrl-C
**    raises "interrupted!" in main), console.c's TERM/HUP handlers
**    (they restore the terminal), debug.c's QUIT dump, an inherited SIG_IGN.
**  - Refused (misuse, raises): CHLD (libuv's own, it reaps green.process's
**    children), KILL and STOP (cannot be caught), and the synchronous crash
**    signals SEGV, BUS, FPE, ILL (a handler that returns would loop).
**  - Children never inherit any of this: libuv resets every disposition
**    and the signal mask in the child (process.c).
*/
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "core/hub.h"
#include "io/process.h"

#define SIGNAL_MT "green.SignalHandle"
#define MAXSIG 65

typedef struct gl_sig gl_sig;

typedef struct sig_box {
  uv_signal_t h;           /* first: the close callback frees the box from it */
  gl_sig *owner;           /* NULL once stopped */
} sig_box;

struct gl_sig {
  sig_box *box;            /* NULL once stopped */
  int sig;
  int ref;                 /* registry anchor of a handler (LUA_NOREF: a wait) */
  int got;                 /* a wait: the signal came */
  int fallback;            /* runs only while it is the signal's one watcher */
  gl_waitq waiters;
};

/* Per signal: how many of ours watch it, and what was there before. */
static struct { int count; struct sigaction saved; } watched[MAXSIG];
static const void *signal_mt;
static gl_sig *dispatching;  /* the handler on_signal runs, for dispatch */

static void free_box(uv_handle_t *h) {
  free((sig_box *)h);
}

/* Run the handler in a new green thread (under gl_hub_protect). */
static int dispatch(lua_State *L) {
  gl_sig *s = dispatching;
  lua_rawgeti(L, LUA_REGISTRYINDEX, s->ref);
  lua_getiuservalue(L, -1, 1);
  gl_push_signal_name(L, s->sig);
  gl_spawn_n(L, 1);
  lua_pop(L, 1);
  return 0;
}

static void on_signal(uv_signal_t *h, int signum) {
  (void)signum;
  gl_sig *s = ((sig_box *)h)->owner;
  if (s == NULL) return;
  if (s->fallback && watched[s->sig].count > 1) return;  /* a script's handler has it */
  if (s->ref != LUA_NOREF) {
    dispatching = s;
    gl_hub_protect(dispatch, "signal handler");
    return;
  }
  s->got = 1;
  while (s->waiters.head) {
    lua_pushnil(gl_H.L);
    gl_wake_one(gl_H.L, &s->waiters);
  }
}

static int check_catchable(lua_State *L, int idx, const char *fname) {
  int sig = gl_check_signal(L, idx, fname);
  if (sig == SIGCHLD || sig == SIGKILL || sig == SIGSTOP || sig == SIGSEGV ||
      sig == SIGBUS || sig == SIGFPE || sig == SIGILL || sig >= MAXSIG)
    gl_argerror(L, idx, fname, lua_pushfstring(L, "signal %s cannot be handled",
                                               lua_tostring(L, idx)));
  return sig;
}

/* Make the userdata (pushed) and start watching; raises on failure. */
static gl_sig *start(lua_State *L, int sig, const char *fname) {
  gl_sig *s = lua_newuserdatauv(L, sizeof *s, 1);
  memset(s, 0, sizeof *s);
  s->sig = sig;
  s->ref = LUA_NOREF;
  lua_rawgetp(L, LUA_REGISTRYINDEX, signal_mt);
  lua_setmetatable(L, -2);
  sig_box *box = calloc(1, sizeof *box);
  if (box == NULL) luaL_error(L, "%s: not enough memory", fname);
  if (watched[sig].count == 0) sigaction(sig, NULL, &watched[sig].saved);
  uv_signal_init(gl_H.loop, &box->h);
  int err = uv_signal_start(&box->h, on_signal, sig);
  if (err) {
    uv_close((uv_handle_t *)&box->h, free_box);
    if (watched[sig].count == 0) sigaction(sig, &watched[sig].saved, NULL);
    luaL_error(L, "%s: %s", fname, uv_strerror(err));
  }
  watched[sig].count++;
  box->owner = s;
  s->box = box;
  return s;
}

/* Stop watching; the last watcher of a signal puts back what was before. */
static void stop(lua_State *L, gl_sig *s) {
  if (s->box == NULL) return;
  uv_signal_stop(&s->box->h);
  s->box->owner = NULL;
  uv_close((uv_handle_t *)&s->box->h, free_box);
  s->box = NULL;
  if (--watched[s->sig].count == 0) sigaction(s->sig, &watched[s->sig].saved, NULL);
  if (s->ref != LUA_NOREF) {
    luaL_unref(L, LUA_REGISTRYINDEX, s->ref);
    s->ref = LUA_NOREF;
  }
}

static gl_sig *check_sig(lua_State *L, const char *fname) {
  if (gl_udata_meta(L, 1) != signal_mt) gl_typeerror(L, 1, fname, "SignalHandle");
  return lua_touserdata(L, 1);
}

static int handle(lua_State *L, const char *fname, int fallback) {
  int sig = check_catchable(L, 1, fname);
  if (lua_type(L, 2) != LUA_TFUNCTION) gl_typeerror(L, 2, fname, "function");
  luaL_checkstack(L, 4, fname);
  gl_sig *s = start(L, sig, fname);
  s->fallback = fallback;
  lua_pushvalue(L, 2);
  lua_setiuservalue(L, -2, 1);
  lua_pushvalue(L, -1);
  s->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  uv_unref((uv_handle_t *)&s->box->h);
  return 1;
}

/* core.signal_handle(sig, fn) -> handle */
static int l_handle(lua_State *L) {
  return handle(L, "signal", 0);
}

/* core.signal_fallback(sig, fn) -> handle */
static int l_fallback(lua_State *L) {
  return handle(L, "signal_fallback", 1);
}

/* handle:cancel() */
static int l_cancel(lua_State *L) {
  stop(L, check_sig(L, "cancel"));
  return 0;
}

static int l_active(lua_State *L) {
  lua_pushboolean(L, check_sig(L, "active")->box != NULL);
  return 1;
}

static int l_gc(lua_State *L) {
  stop(L, check_sig(L, "__gc"));
  return 0;
}

static int l_tostring(lua_State *L) {
  gl_sig *s = check_sig(L, "__tostring");
  const char *name = gl_signal_name(s->sig);
  lua_pushfstring(L, "signal handle (%s, %s)", name ? name : "?",
                  s->box ? "active" : "cancelled");
  return 1;
}

/* signal_wait's frame: 1 its userdata. */
static int wait_result(lua_State *L) {
  gl_sig *s = lua_touserdata(L, 1);
  stop(L, s);
  if (!s->got) {
    lua_pushnil(L);
    return 1;
  }
  gl_push_signal_name(L, s->sig);
  return 1;
}

static void wait_cancel(lua_State *L) {
  stop(L, lua_touserdata(L, 1));
}

static int wait_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status, (void)ctx;
  lua_settop(L, 1);
  return wait_result(L);
}

/* core.signal_wait(sig [, timeout]) -> name | nil */
static int l_wait(lua_State *L) {
  int sig = check_catchable(L, 1, "wait_signal");
  double timeout = lua_isnoneornil(L, 2) ? -1 : gl_check_seconds(L, 2, "wait_signal");
  gl_check_block(L, "wait_signal");
  lua_settop(L, 0);
  start(L, sig, "wait_signal");
  return gl_block_cancel(L, "wait_signal", &((gl_sig *)lua_touserdata(L, 1))->waiters,
                         timeout, wait_k, wait_cancel);
}

void gl_open_signal(lua_State *L) {
  static const luaL_Reg methods[] = {
    {"cancel", l_cancel}, {"active", l_active}, {NULL, NULL}
  };
  luaL_newmetatable(L, SIGNAL_MT);
  luaL_newlib(L, methods);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, l_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, l_tostring);
  lua_setfield(L, -2, "__tostring");
  signal_mt = lua_topointer(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, signal_mt);
  lua_pushcfunction(L, l_handle);
  lua_setfield(L, -2, "signal_handle");
  lua_pushcfunction(L, l_fallback);
  lua_setfield(L, -2, "signal_fallback");
  lua_pushcfunction(L, l_wait);
  lua_setfield(L, -2, "signal_wait");
}
