/*
** interrupt.c: Ctrl-C and os.exit. See interrupt.h.
*/
#include <signal.h>
#include <stdlib.h>
#include <lauxlib.h>
#include "core/hub.h"
#include "core/interrupt.h"

#define H gl_H

static uv_async_t interrupt_async;
static volatile sig_atomic_t interrupt_pending;
static int exit_requested, exit_status;

/* Set on the coroutine that was running when SIGINT came; fires as it runs
** Lua code. Whoever delivers the interrupt first clears interrupt_pending,
** so it is delivered once: here, if the thread was still running Lua, or
** to main by on_interrupt, if the thread reached the hub first (a hook
** left on it then goes without a word the next time it runs). */
static void interrupt_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  if (!interrupt_pending) return;
  interrupt_pending = 0;
  lua_pushliteral(L, "interrupted!");
  lua_error(L);
}

static void on_sigint(int sig) {
  if (interrupt_pending) {  /* not handled yet: stuck in C? end it */
    signal(sig, SIG_DFL);
    raise(sig);
    return;
  }
  interrupt_pending = 1;
  gl_thread *t = H.current;
  if (t && t->co)
    lua_sethook(t->co, interrupt_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
  uv_async_send(&interrupt_async);
}

static int message_ref = LUA_NOREF;  /* registry: "interrupted!", made once */

/* Raise the message in main. Allocates nothing (gl_throw does not). */
static int deliver(lua_State *L) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, message_ref);
  gl_throw(L, H.main, 1, NULL);
  return 0;
}

/* In the hub: the main thread gets the error unless the hook gave it. */
static void on_interrupt(uv_async_t *handle) {
  (void)handle;
  if (!interrupt_pending) return;
  interrupt_pending = 0;
  if (H.main == NULL || (H.main->flags & GL_DEAD)) return;
  gl_hub_protect(deliver, "interrupt");
}

static int exit_status_arg(lua_State *L) {
  if (lua_isboolean(L, 1)) return lua_toboolean(L, 1) ? EXIT_SUCCESS : EXIT_FAILURE;
  return (int)luaL_optinteger(L, 1, EXIT_SUCCESS);
}

static int exit_k(lua_State *L, int status, lua_KContext ctx) {
  (void)L, (void)status, (void)ctx;
  return 0;  /* not reached: the hub does not resume an exiting thread */
}

/* os.exit([code [, close]]) */
static int l_exit(lua_State *L) {
  int status = exit_status_arg(L);
  if (lua_toboolean(L, 2) && H.current && lua_isyieldable(L)) {
    exit_requested = 1;
    exit_status = status;
    return gl_yield(L, H.current, exit_k);
  }
  if (lua_toboolean(L, 2)) lua_close(H.L);
  exit(status);
}

int gl_exit_requested(int *status) {
  if (exit_requested) *status = exit_status;
  return exit_requested;
}

/* Before the hub exists, SIGINT is only noted; gl_open_process delivers it. */
static volatile sig_atomic_t early_interrupt;

static void on_early_sigint(int sig) {
  (void)sig;
  early_interrupt = 1;
}

void gl_catch_early_sigint(void) {
  signal(SIGINT, on_early_sigint);
}

void gl_open_process(lua_State *L) {
  lua_pushliteral(L, "interrupted!");
  message_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  uv_async_init(H.loop, &interrupt_async, on_interrupt);
  uv_unref((uv_handle_t *)&interrupt_async);
  signal(SIGINT, on_sigint);
  if (early_interrupt) {
    interrupt_pending = 1;
    uv_async_send(&interrupt_async);
  }
  lua_getglobal(L, "os");
  lua_pushcfunction(L, l_exit);
  lua_setfield(L, -2, "exit");
  lua_pop(L, 1);
}
