/*
** spawn.c: making green threads and starting them in their turn: spawn,
** spawn_after, spawn_n, the pending array and its GL_BATCH nodes, a kill
** before a thread needed a run-time state, finished(). The rest of a
** thread's life is thread.c's; see thread.h.
*/
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <lauxlib.h>
#include "core/hub.h"
#include "core/thread.h"
#include "core/report.h"

#define H gl_H

/* A spawn waits for its turn without a run-time state once this many
** threads are ready. */
#define PEND_AFTER 32

/* finished(...) -> a GreenThread that has already ended with these results:
** what a pool member gets back when its spawn runs inline. */
int gl_finished(lua_State *L) {
  int n = lua_gettop(L);
  gl_handle *h = gl_new_handle(L, GL_UV_ARGS - 1, ++H.next_id, GL_STARTED | GL_DEAD | GL_HANDLE);
  h->nresults = n;
  lua_insert(L, 1);
  if (n > 1) {
    lua_createtable(L, n, 0);
    lua_insert(L, 2);
    for (int i = n; i >= 1; i--) lua_rawseti(L, 2, i);
  }
  if (n > 0) lua_setiuservalue(L, 1, GL_UV_BODY);
  return 1;
}

/* ------------------------------------------------------------- spawning */

/* Replace the function and 'nargs' arguments on top of L with one table
** {fn, args..., n = nargs}: what a thread with many arguments, or a
** spawn_n waiting to start, keeps instead of a stack it does not have yet. */
static void pack_call(lua_State *L, int nargs) {
  int base = lua_gettop(L) - nargs;
  lua_createtable(L, nargs + 1, 1);
  lua_insert(L, base);
  for (int i = nargs + 1; i >= 1; i--) lua_rawseti(L, base, i);
  lua_pushinteger(L, nargs);
  lua_setfield(L, base, "n");
}

/* A fresh coroutine holds about LUAI_MAXSTACK values: leave room for the
** function's own frame, so a thread that was spawned can always start. */
#define MAX_ARGS (LUAI_MAXSTACK - 64)

static void check_nargs(lua_State *L, int nargs, const char *what) {
  if (nargs > MAX_ARGS) luaL_error(L, "%s: too many arguments (%d)", what, nargs);
}

/* Queue the value on top of L (popped), a handle or a spawn_n's function,
** to start in its turn: a slot of the pending array, and one GL_BATCH node
** in the ready queue for a run of consecutive ones, so that FIFO order with
** everything else holds. */
static void pend(lua_State *L, const char *what) {
  gl_thread *tail = H.ready.tail;
  if (!(tail && (tail->flags & GL_BATCH))) {
    gl_thread *batch = gl_new_state();
    if (batch == NULL) luaL_error(L, "%s: not enough memory", what);
    batch->flags = GL_BATCH;
    tail = batch;
    gl_ready(batch, 0);
    H.batches++;
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, H.pending_ref);
  lua_insert(L, -2);
  lua_rawseti(L, -2, ++H.pending_tail);
  lua_pop(L, 1);
  tail->count++;
  H.live++;
}

gl_thread *gl_spawn(lua_State *L, int nargs, unsigned flags, double delay) {
  if (nargs > GL_MAX_UV_ARGS) {
    check_nargs(L, nargs, delay < 0 ? "spawn" : "spawn_after");
    pack_call(L, nargs);
    nargs = 0;
    flags |= GL_PACKED;
  }
  int base = lua_gettop(L) - nargs;  /* the function (or the packed call) */
  gl_handle *h = gl_new_handle(L, GL_UV_ARGS - 1 + nargs, ++H.next_id, flags);
  h->nargs = (unsigned short)nargs;
  for (int i = 0; i <= nargs; i++) {
    lua_pushvalue(L, base + i);
    lua_setiuservalue(L, -2, i == 0 ? GL_UV_BODY : GL_UV_ARGS - 1 + i);
  }
  /* Many runnable already: wait in the pending array (16 bytes) for a
  ** run-time state until its turn; a few: have one now, saving the
  ** pending array's bookkeeping (spawn(f):wait() in a loop). */
  if (delay < 0 && !(flags & GL_MAIN) && H.ready.n >= PEND_AFTER) {
    lua_pushvalue(L, -1);
    pend(L, "spawn");
    return NULL;
  }
  gl_thread *t = gl_materialize_at(L, -1);
  if (delay >= 0 && gl_timer_start(&t->timer, delay) != 0) {
    gl_release(L, t);
    luaL_error(L, "spawn_after: not enough memory");
  }
  H.live++;
  if (delay < 0) gl_ready(t, 0);
  return t;
}

/* spawn_n makes no thread until it starts: a pending spawn_n costs its
** slot (16 bytes), and a running one no handle. */
void gl_spawn_n(lua_State *L, int nargs) {
  if (nargs > 0 || lua_type(L, -1) != LUA_TFUNCTION) {  /* pack it */
    check_nargs(L, nargs, "spawn_n");
    pack_call(L, nargs);
    lua_rawgeti(L, LUA_REGISTRYINDEX, H.packed_mt_ref);
    lua_setmetatable(L, -2);
  }
  pend(L, "spawn_n");
}

lua_Integer gl_runnable(void) {
  return (lua_Integer)H.ready.n - H.batches + (H.pending_tail - H.pending_head + 1);
}

/* The first pending start is done with (started, or dropped): free its slot
** and let the batch go on from the head of the ready queue if it has more. */
static void consume_pending(lua_State *L, gl_thread *batch) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, H.pending_ref);
  lua_pushnil(L);
  lua_rawseti(L, -2, H.pending_head++);
  lua_pop(L, 1);
  if (H.pending_head > H.pending_tail) H.pending_head = 1, H.pending_tail = 0;
  if (--batch->count > 0) {
    gl_enqueue_front(&H.ready, batch);
  } else {
    gl_free_state(batch);
    H.batches--;
  }
}

gl_thread *gl_start_pending(lua_State *L, gl_thread *batch) {
  for (;;) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, H.pending_ref);
    lua_rawgeti(L, -1, H.pending_head);
    lua_remove(L, -2);
    gl_handle *h = gl_test_handle(L, -1);
    gl_thread *t;
    if (h == NULL) {                       /* a spawn_n: no handle */
      unsigned packed = 0;
      if (lua_type(L, -1) == LUA_TTABLE && lua_getmetatable(L, -1)) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, H.packed_mt_ref);
        if (lua_rawequal(L, -1, -2)) packed = GL_PACKED;
        lua_pop(L, 2);
      }
      if ((t = gl_new_state()) == NULL) luaL_error(L, "not enough memory");
      t->id = ++H.next_id;
      t->flags = (unsigned short)packed;
      consume_pending(L, batch);
      return t;                            /* its body on top of L */
    }
    if (!(h->flags & (GL_STARTED | GL_DEAD)) && !(h->t && h->t->queue)) {
      t = h->t ? h->t : gl_materialize_at(L, lua_gettop(L));
      lua_pop(L, 1);
      consume_pending(L, batch);
      return t;
    }
    /* it was killed before its turn and ran at once, or died: not again */
    lua_pop(L, 1);
    int more = batch->count > 1;
    consume_pending(L, batch);
    if (!more) return NULL;
    gl_unqueue(batch);
  }
}

/* The start of what H.handling_batch stands for failed (the error on top
** of L, popped): report it, and a handle that was to start ends with it. */
void gl_fail_pending(lua_State *L, gl_thread *batch) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, H.pending_ref);
  lua_rawgeti(L, -1, H.pending_head);
  lua_remove(L, -2);                      /* err entry */
  gl_handle *h = gl_test_handle(L, -1);
  consume_pending(L, batch);
  H.live--;
  if (h == NULL) {
    lua_pop(L, 1);
    gl_report_message(L, -1, "spawn_n: a green thread could not start: ");
  } else {
    char prefix[48];
    snprintf(prefix, sizeof prefix, "green thread %lld: ", (long long)h->id);
    gl_report_message(L, -2, prefix);
    lua_pushvalue(L, -2);
    lua_setiuservalue(L, -2, GL_UV_BODY);
    h->flags |= GL_STARTED | GL_DEAD | GL_ERRORED;
    h->nresults = 1;
    gl_call_on_exit(L, h, lua_gettop(L));
    gl_drop_extra(L, h, lua_gettop(L));
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

/* Kill the handle at 'ud' (absolute), which has not started and has no
** run-time state, with the error on top of L (popped): it ends there and
** then, having run nothing, and allocates nothing: its exit hook runs, its
** slot in the pending array is skipped when its turn comes. Returns 0, or
** 1 (error left on top) if it has links to run, which takes a run-time
** state: the caller then starts it the ordinary way. */
int gl_kill_unstarted(lua_State *L, int ud) {
  gl_handle *h = lua_touserdata(L, ud);
  assert(h->t == NULL && !(h->flags & (GL_STARTED | GL_DEAD)));
  if (gl_has_links(L, h, ud)) return 1;
  if (!gl_is_exit(L, -1)) {
    char prefix[48];
    snprintf(prefix, sizeof prefix, "green thread %lld: ", (long long)h->id);
    gl_report_message(L, -1, prefix);
  }
  lua_setiuservalue(L, ud, GL_UV_BODY);
  h->flags |= GL_STARTED | GL_DEAD | GL_ERRORED | GL_KILLED;
  h->nresults = 1;
  H.live--;
  gl_call_on_exit(L, h, ud);
  gl_drop_extra(L, h, ud);
  return 0;
}

