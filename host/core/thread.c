/*
** thread.c: a green thread's life, from spawn to burial. Making threads
** (spawn, spawn_after, and spawn_n's pending functions), anchoring their
** userdata, giving them a coroutine (pooled ones first) with their body and
** arguments, and, once the function returned or raised, keeping the
** results, waking joiners, running the exit hook and links, and recycling
** the coroutine. The scheduler (hub.c) calls in here; see thread.h.
** Everything that runs in the hub allocates only where thread.h says, so
** that the hub's recovery (hub.c, recover) knows what running out of
** memory can have interrupted.
*/
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "core/hub.h"
#include "core/thread.h"
#include "core/report.h"

#define H gl_H

/* ------------------------------------------------------------- anchoring */

void gl_push_thread(lua_State *L, gl_thread *t) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, H.threads_ref);
  lua_rawgeti(L, -1, t->anchor);
  lua_remove(L, -2);
}

/* Anchor the userdata on top of L (left there) in a free slot of the
** thread table: the most recently freed one, whose part of the table is
** still in cache, or a new one at the end. */
static void anchor(lua_State *L, gl_thread *t) {
  if (H.nholes > 0) {
    t->anchor = H.holes[--H.nholes];
  } else {
    if (H.nslots == H.holes_cap) {  /* every slot may become a hole */
      size_t cap = H.holes_cap ? H.holes_cap * 2 : 1024;
      unsigned *holes = realloc(H.holes, cap * sizeof *holes);
      if (holes == NULL) luaL_error(L, "spawn: not enough memory");
      H.holes = holes;
      H.holes_cap = cap;
    }
    t->anchor = ++H.nslots;
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, H.threads_ref);
  lua_pushvalue(L, -2);
  lua_rawseti(L, -2, t->anchor);
  lua_pop(L, 1);
}

static void unanchor(lua_State *L, gl_thread *t) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, H.threads_ref);
  lua_pushnil(L);
  lua_rawseti(L, -2, t->anchor);
  lua_pop(L, 1);
  H.holes[H.nholes++] = t->anchor;
  t->anchor = 0;
}

/* The extra table of the userdata at 'idx', made on demand. */
void gl_push_extra(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  if (lua_getiuservalue(L, idx, GL_UV_EXTRA) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, idx, GL_UV_EXTRA);
    ((gl_thread *)lua_touserdata(L, idx))->flags |= GL_EXTRA;
  }
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

gl_thread *gl_spawn(lua_State *L, int nargs, unsigned flags, double delay) {
  if (nargs > GL_MAX_UV_ARGS) {
    check_nargs(L, nargs, delay < 0 ? "spawn" : "spawn_after");
    pack_call(L, nargs);
    nargs = 0;
    flags |= GL_PACKED;
  }
  int base = lua_gettop(L) - nargs;  /* the function (or the packed call) */
  gl_thread *t = lua_newuserdatauv(L, sizeof *t, GL_UV_ARGS - 1 + nargs);
  memset(t, 0, sizeof *t);
  gl_timer_init(&t->timer, gl_on_deadline);
  t->id = ++H.next_id;
  t->nargs = (unsigned short)nargs;
  t->flags = flags;
  lua_rawgeti(L, LUA_REGISTRYINDEX, H.thread_mt_ref);
  lua_setmetatable(L, -2);
  for (int i = 0; i <= nargs; i++) {
    lua_pushvalue(L, base + i);
    lua_setiuservalue(L, -2, i == 0 ? GL_UV_BODY : GL_UV_ARGS - 1 + i);
  }
  anchor(L, t);
  H.live++;
  if (delay < 0) gl_ready(t, 0);
  else if (gl_timer_start(&t->timer, delay) != 0) luaL_error(L, "spawn_after: not enough memory");
  return t;
}

/* -------------------------------------------------------- cheap spawn_n */
/* spawn_n makes no thread until it starts: its function (or a packed table
** of function and arguments) waits in a Lua array, and one GL_BATCH node in
** the ready queue stands for a run of consecutive ones, so FIFO order with
** everything else holds. A pending spawn_n costs a slot (16 bytes) instead
** of a thread (some 300): a million of them used to spend most of their time
** in first-touch page faults. */

void gl_spawn_n(lua_State *L, int nargs) {
  if (nargs > 0 || lua_type(L, -1) != LUA_TFUNCTION) {  /* pack it */
    check_nargs(L, nargs, "spawn_n");
    pack_call(L, nargs);
    lua_rawgeti(L, LUA_REGISTRYINDEX, H.packed_mt_ref);
    lua_setmetatable(L, -2);
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, H.pending_ref);
  lua_insert(L, -2);
  lua_rawseti(L, -2, ++H.pending_tail);
  lua_pop(L, 1);
  gl_thread *tail = H.ready.tail;
  if (tail && (tail->flags & GL_BATCH)) {
    tail->nresults++;
  } else {
    gl_thread *batch = calloc(1, sizeof *batch);
    if (batch == NULL) luaL_error(L, "spawn_n: not enough memory");
    batch->flags = GL_BATCH;
    batch->nresults = 1;
    gl_ready(batch, 0);
    H.batches++;
  }
  H.live++;
}

lua_Integer gl_runnable(void) {
  return (lua_Integer)H.ready.n - H.batches + (H.pending_tail - H.pending_head + 1);
}

/* The next pending spawn_n becomes a thread (the batch keeps its place at
** the head of the ready queue while it has more). */
gl_thread *gl_start_pending(lua_State *L, gl_thread *batch) {
  if (--batch->nresults > 0) {
    gl_enqueue_front(&H.ready, batch);
  } else {
    free(batch);
    H.batches--;
  }
  int top = lua_gettop(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, H.pending_ref);
  lua_rawgeti(L, -1, H.pending_head);
  lua_pushnil(L);
  lua_rawseti(L, -3, H.pending_head++);
  if (H.pending_head > H.pending_tail) H.pending_head = 1, H.pending_tail = 0;
  unsigned flags = 0;
  if (lua_type(L, -1) == LUA_TTABLE && lua_getmetatable(L, -1)) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, H.packed_mt_ref);
    if (lua_rawequal(L, -1, -2)) flags = GL_PACKED;  /* the thread unpacks it as it starts */
    lua_pop(L, 2);
  }
  H.live--;  /* gl_spawn counts it again */
  gl_thread *t = gl_spawn(L, 0, flags, -1);
  gl_unqueue(t);  /* it runs now, in the batch's place */
  lua_settop(L, top);
  return t;
}

/* ------------------------------------------------------ running threads */

/* A coroutine that is not the pool's is anchored by the thread: in its body
** slot (the function has been pushed by then), or, for the link runner of
** a dead thread, whose body slot holds its results, in its extra table.
** Pops the coroutine. */
static void anchor_co(lua_State *L, gl_thread *t, int ud) {
  if (t->flags & GL_LINKING) {
    lua_getiuservalue(L, ud, GL_UV_EXTRA);
    lua_insert(L, -2);
    lua_setfield(L, -2, "co");
    lua_pop(L, 1);
  } else {
    lua_setiuservalue(L, ud, GL_UV_BODY);
  }
}

/* Push the coroutine anchor_co anchored. */
static void push_co(lua_State *L, gl_thread *t, int ud) {
  if (t->flags & GL_LINKING) {
    lua_getiuservalue(L, ud, GL_UV_EXTRA);
    lua_getfield(L, -1, "co");
    lua_remove(L, -2);
  } else {
    lua_getiuservalue(L, ud, GL_UV_BODY);
  }
}

/* Give 't' a coroutine with its body and arguments pushed; the body is its
** function, the error it was killed with, or the link runner. The userdata
** is on top of L (left there). Returns the number of arguments pushed.
** A pooled coroutine is anchored by the pool table for good, so taking and
** returning one costs no Lua calls; another is anchored by the userdata's
** body slot, which the function no longer needs once it runs. */
int gl_prepare(lua_State *L, gl_thread *t) {
  int ud = lua_gettop(L), n;
  if (t->flags & GL_LINKING) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, H.link_runner_ref);
    lua_pushvalue(L, ud);
    n = 1;
  } else if (t->flags & GL_KILLED) {
    lua_pushcfunction(L, lua_error);
    lua_getiuservalue(L, ud, GL_UV_BODY);  /* the error, in place of the function */
    n = 1;
  } else {
    lua_getiuservalue(L, ud, GL_UV_BODY);
    for (int i = 1; i <= t->nargs; i++) lua_getiuservalue(L, ud, GL_UV_ARGS - 1 + i);
    n = (t->flags & GL_PACKED) ? -1 : t->nargs;
  }
  lua_State *co;
  if (H.nfree > 0) {
    H.nfree--;
    co = H.free[H.nfree].co;
    t->pool_slot = H.free[H.nfree].slot;
    t->flags |= GL_POOLED;
  } else {
    co = lua_newthread(L);
    anchor_co(L, t, ud);
  }
  t->co = co;                             /* from here on, fail_thread recycles it */
  gl_set_owner(co, t);
  if (n >= 0) {
    lua_xmove(L, co, n + 1);
  } else {
    /* {fn, args..., n}: unpacked straight onto the coroutine, so the hub's
    ** stack need not hold them (MAX_ARGS leaves a coroutine room for all) */
    lua_getfield(L, -1, "n");
    n = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
    if (!lua_checkstack(co, n + 2)) luaL_error(L, "spawn: too many arguments (%d)", n);
    lua_xmove(L, co, 1);
    for (int i = 1; i <= n + 1; i++) lua_rawgeti(co, 1, i);
    lua_remove(co, 1);
  }
  t->flags |= GL_STARTED;
  return n;
}

/* Give the coroutine of a finished thread (userdata at 'ud') back: to the
** free list if pooled, else into the pool if there is room, else drop it
** (the slot anchoring it is overwritten next). Its hook goes, and one whose
** identity escaped is dropped, pooled or not. Allocates nothing: the pool
** table was sized for GL_POOL_MAX at the start. */
static void recycle(lua_State *L, gl_thread *t, int ud) {
  lua_State *co = t->co;
  assert(co != NULL && gl_owner(co) == t && lua_status(co) != LUA_YIELD);
  lua_settop(co, 0);
  lua_sethook(co, NULL, 0, 0);
  gl_set_owner(co, NULL);
  t->co = NULL;
  int pooled = (t->flags & GL_POOLED) != 0, escaped = (t->flags & GL_ESCAPED) != 0;
  t->flags &= ~(GL_POOLED | GL_ESCAPED);  /* a link runner gets a coroutine of its own */
  if (escaped) {
    if (pooled) {                           /* out of the pool for good */
      lua_rawgeti(L, LUA_REGISTRYINDEX, H.pool_ref);
      lua_pushnil(L);
      lua_rawseti(L, -2, t->pool_slot);
      lua_pop(L, 1);
      H.pool_holes[H.npool_holes++] = t->pool_slot;
    }
    return;
  }
  if (!pooled) {
    if (H.npool_holes == 0 && H.pool_top == GL_POOL_MAX) return;  /* the pool is full */
    t->pool_slot = H.npool_holes > 0 ? H.pool_holes[--H.npool_holes] : ++H.pool_top;
    lua_rawgeti(L, LUA_REGISTRYINDEX, H.pool_ref);
    push_co(L, t, ud);
    lua_rawseti(L, -2, t->pool_slot);
    lua_pop(L, 1);
  }
  H.free[H.nfree].co = co;
  H.free[H.nfree++].slot = t->pool_slot;
}

/* Push what the thread's 'n' results are kept as: the value itself, or a
** table of them. */
static void pack_results(lua_State *L, gl_thread *t, int n) {
  if (n == 1) {
    lua_xmove(t->co, L, 1);
  } else {
    lua_createtable(L, n, 0);
    for (int i = n; i >= 1; i--) {
      lua_xmove(t->co, L, 1);
      lua_rawseti(L, -2, i);
    }
  }
  t->nresults = n;
}

int gl_thread_results(lua_State *L, int idx) {
  gl_thread *t = lua_touserdata(L, idx);
  if (t->nresults == 0) return 0;
  lua_getiuservalue(L, idx, GL_UV_BODY);
  if (t->nresults == 1 || (t->flags & GL_ERRORED)) return 1;
  luaL_checkstack(L, t->nresults, "too many results");
  int table = lua_gettop(L);
  for (int i = 1; i <= t->nresults; i++) lua_rawgeti(L, table, i);
  lua_remove(L, table);
  return t->nresults;
}

/* Does the thread (userdata at 'ud') have links to run? */
static int has_links(lua_State *L, gl_thread *t, int ud) {
  int found = 0;
  if (!(t->flags & GL_EXTRA)) return 0;
  if (lua_getiuservalue(L, ud, GL_UV_EXTRA) == LUA_TTABLE) {
    lua_getfield(L, -1, "links");
    found = lua_istable(L, -1) && lua_rawlen(L, -1) > 0;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return found;
}

/* The Lua half's own bookkeeping hook (extra.on_exit, see gl_on_exit):
** called here, in the hub, with the thread; it must not block. */
static void call_on_exit(lua_State *L, gl_thread *t, int ud) {
  if (!(t->flags & GL_EXTRA)) return;
  lua_getiuservalue(L, ud, GL_UV_EXTRA);
  if (lua_getfield(L, -1, "on_exit") == LUA_TNIL) {
    lua_pop(L, 2);
    return;
  }
  lua_pushvalue(L, ud);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    char prefix[64];
    snprintf(prefix, sizeof prefix, "exit hook of green thread %lld: ", (long long)t->id);
    gl_report_message(L, -1, prefix);
    lua_pop(L, 2);
  }
  lua_pop(L, 1);
}

/* Green-local values and links die with the thread. */
static void drop_extra(lua_State *L, gl_thread *t, int ud) {
  if (!(t->flags & GL_EXTRA)) return;
  lua_pushnil(L);
  lua_setiuservalue(L, ud, GL_UV_EXTRA);
  t->flags &= ~GL_EXTRA;
}

/* The thread (userdata at 'ud') is dead with its results (or error) on
** top of L (popped): keep them, let joiners go, then run its links, if
** any, in its own coroutine before it lets go of its anchor. Allocates
** nothing (the exit hook runs protected), so a thread can always end. */
static void bury(lua_State *L, gl_thread *t, int ud) {
  assert(t->co == NULL && t->queue == NULL && !gl_timer_armed(&t->timer));
  lua_setiuservalue(L, ud, GL_UV_BODY);  /* the results, in place of the coroutine */
  t->flags |= GL_DEAD;
  H.live--;
  while (t->joiners.head) {
    lua_pushnil(L);
    gl_wake_one(L, &t->joiners);
  }
  assert(t->joiners.n == 0);
  call_on_exit(L, t, ud);
  if (has_links(L, t, ud)) {
    t->flags |= GL_LINKING;       /* runs again, first, with the link runner */
    t->flags &= ~GL_STARTED;
    gl_ready(t, 1);
  } else {
    drop_extra(L, t, ud);
    unanchor(L, t);
  }
}

/* Its function ended with 'status'; the userdata is on top of L. Record how,
** close what it left open, and bury it. */
void gl_finish(lua_State *L, gl_thread *t, int status, int nres) {
  lua_State *co = t->co;
  int ud = lua_gettop(L);
  if (t->flags & GL_LINKING) {
    if (status != LUA_OK) {
      lua_xmove(co, L, 1);
      gl_report(L, co, t);
      lua_pop(L, 1);
      lua_resetthread(co);
    }
    recycle(L, t, ud);
    drop_extra(L, t, ud);
    unanchor(L, t);
    return;
  }
  if (status == LUA_OK) {
    if ((t->flags & GL_HANDLE) && nres > 0) pack_results(L, t, nres);
    else lua_pushnil(L);
  } else {
    /* keep a copy on co: lua_resetthread puts back what is on top */
    int copied = lua_checkstack(co, 1);
    if (copied) lua_pushvalue(co, -1);
    lua_xmove(co, L, 1);
    if (!gl_is_exit(L, -1)) gl_report(L, co, t);
    /* An error does not unwind a coroutine: close its pending to-be-closed
    ** variables now. If one raised, that error is the thread's result. */
    if (lua_resetthread(co) != LUA_OK && copied) {
      lua_pop(L, 1);
      lua_xmove(co, L, 1);
    }
    t->nresults = 1;
    t->flags |= GL_ERRORED;
  }
  recycle(L, t, ud);
  bury(L, t, ud);
}

/* The hub ran out of memory (the error on top of L, popped) starting or
** ending 't' (prepare, pack_results): 't' ends with that error, as if its
** function had raised it. A thread whose links could not start just goes. */
void gl_fail_thread(lua_State *L, gl_thread *t) {
  gl_report(L, NULL, t);
  gl_push_thread(L, t);
  lua_insert(L, -2);                      /* ud err */
  int ud = lua_gettop(L) - 1;
  if (t->co) recycle(L, t, ud);
  if (t->flags & GL_LINKING) {
    lua_pop(L, 1);
    drop_extra(L, t, ud);
    unanchor(L, t);
  } else {
    gl_unqueue(t);
    gl_timer_stop(&t->timer);
    t->flags |= GL_STARTED | GL_ERRORED;
    t->nresults = 1;
    bury(L, t, ud);
  }
  lua_pop(L, 1);
}
