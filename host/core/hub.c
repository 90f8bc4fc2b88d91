/*
** hub.c: the scheduler. The ready queue, the switch into and out of green
** threads, blocking with a deadline, and the end of a thread's life.
** Read hub.h first: it states the rules this file keeps.
*/
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "core/hub.h"
#include "core/report.h"
#include "core/interrupt.h"

const char GL_WOKEN[] = "woken", GL_TIMEDOUT[] = "timedout",
           GL_THROW[] = "throw", GL_LATE[] = "late", GL_PASS[] = "green.pass";

gl_hub gl_H;
#define H gl_H

/* Threads run between two polls of the loop while the ready queue stays
** busy: I/O and timers get a turn even if threads keep yielding. */
#define RUN_BUDGET 64

/* ---------------------------------------------------------------- lists */

/* The list invariants (asserted): a thread is in at most one list, and a
** list's ends and count agree with its links. */
void gl_enqueue(gl_waitq *q, gl_thread *t) {
  assert(t->queue == NULL);
  t->queue = q;
  t->next = NULL;
  t->prev = q->tail;
  if (q->tail) q->tail->next = t; else q->head = t;
  q->tail = t;
  q->n++;
}

void gl_enqueue_front(gl_waitq *q, gl_thread *t) {
  assert(t->queue == NULL);
  t->queue = q;
  t->prev = NULL;
  t->next = q->head;
  if (q->head) q->head->prev = t; else q->tail = t;
  q->head = t;
  q->n++;
}

/* Put 't' right behind 'pos', which is in 'q'. */
static void enqueue_after(gl_waitq *q, gl_thread *pos, gl_thread *t) {
  assert(t->queue == NULL && pos->queue == q);
  t->queue = q;
  t->prev = pos;
  t->next = pos->next;
  if (pos->next) pos->next->prev = t; else q->tail = t;
  pos->next = t;
  q->n++;
}

void gl_unqueue(gl_thread *t) {
  gl_waitq *q = t->queue;
  if (q == NULL) return;
  assert(q->n > 0 && (t->prev == NULL) == (q->head == t) && (t->next == NULL) == (q->tail == t));
  if (t->prev) t->prev->next = t->next; else q->head = t->next;
  if (t->next) t->next->prev = t->prev; else q->tail = t->prev;
  t->prev = t->next = NULL;
  t->queue = NULL;
  q->n--;
}

/* ------------------------------------------------------------- anchoring */

const void *gl_udata_meta(lua_State *L, int idx) {
  const void *mt = NULL;
  if (lua_type(L, idx) == LUA_TUSERDATA && lua_getmetatable(L, idx)) {
    mt = lua_topointer(L, -1);
    lua_pop(L, 1);
  }
  return mt;
}

gl_thread *gl_test_thread(lua_State *L, int idx) {
  return gl_udata_meta(L, idx) == H.thread_mt ? lua_touserdata(L, idx) : NULL;
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

/* --------------------------------------------------------------- waking */

/* A thread became ready inside uv_run (a timer or I/O callback). uv_run
** must return instead of polling on: UV_RUN_ONCE runs due timers before
** it polls, and would then block for the next event, however far off, with
** this thread ready (the "lost timer" of a Timeout due as the hub went to
** wait, behind a sleep(1e6)). */
static inline void poke(void) {
  if (H.polling && !H.poked) {
    H.poked = 1;
    uv_stop(H.loop);
  }
}

static void make_ready(gl_thread *t, const char *tag) {
  gl_unqueue(t);
  gl_timer_stop(&t->timer);
  t->tag = tag;
  gl_enqueue(&H.ready, t);
  poke();
}

void gl_wake(lua_State *L, gl_thread *t) {
  /* only a thread that blocked can be woken, and only once */
  assert((t->flags & GL_STARTED) && !(t->flags & GL_DEAD) && t != H.current);
  assert(t->queue != &H.ready && t->resume_n == 0);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    t->resume_n = 0;
  } else {
    lua_checkstack(t->co, 3);
    lua_xmove(L, t->co, 1);
    t->resume_n = 1;
  }
  make_ready(t, GL_WOKEN);
}

gl_thread *gl_wake_one(lua_State *L, gl_waitq *wq) {
  gl_thread *t = wq->head;
  if (t == NULL) lua_pop(L, 1);
  else gl_wake(L, t);
  return t;
}

/* A thread's own timer: the deadline of a sleep or timed wait, or the start
** of a spawn_after. */
static void on_deadline(gl_timer *timer) {
  gl_thread *t = (gl_thread *)((char *)timer - offsetof(gl_thread, timer));
  if (t->flags & GL_STARTED) t->resume_n = 0;
  make_ready(t, GL_TIMEDOUT);
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

/* Nothing here allocates: a kill, an expired Timeout or Ctrl-C is
** delivered from timer and signal callbacks, where running out of memory
** must not be possible. The error waits in the thread's body slot (not
** started: the function is not needed any more) or on its own coroutine's
** stack, where suspend made room. */
int gl_throw(lua_State *L, gl_thread *t, int front, const void *src) {
  if (t->flags & GL_DEAD) {
    lua_pop(L, 1);
    return 0;
  }
  assert(t != H.current && !(t->flags & GL_BATCH));
  int blocked = (t->flags & GL_STARTED) && t->queue != &H.ready;
  int woken_empty = t->queue == &H.ready && t->resume_n == 0;
  if (!(t->flags & GL_STARTED)) {
    /* never ran: it starts by raising, so links and joiners see the error */
    gl_push_thread(L, t);
    lua_insert(L, -2);
    lua_setiuservalue(L, -2, GL_UV_BODY);
    lua_pop(L, 1);
    t->flags |= GL_KILLED;
    gl_timer_stop(&t->timer);
  } else if (blocked || woken_empty) {
    /* resumes by raising; nothing it was handed is lost */
    lua_xmove(L, t->co, 1);
    t->resume_n = 1;
    gl_unqueue(t);
    gl_timer_stop(&t->timer);
    t->tag = GL_THROW;
  } else {
    /* it was handed a value it must not lose: the error goes above it and
    ** both are handed over as it resumes (GL_LATE) */
    lua_xmove(L, t->co, 1);
    if (t->flags & GL_PENDING) lua_replace(t->co, -2);  /* the latest error wins */
    t->flags |= GL_PENDING;
    t->pending_src = src;
    return 1;
  }
  gl_unqueue(t);
  if (front) gl_enqueue_front(&H.ready, t);
  else gl_enqueue(&H.ready, t);
  poke();
  return 1;
}

void gl_unblock(gl_thread *t) {
  gl_unqueue(t);
  gl_timer_stop(&t->timer);
}

void gl_cannot_block(lua_State *L) {
  gl_thread *t = H.current;
  if (t) gl_unblock(t);
  lua_pushfstring(L, GL_CANNOT_BLOCK, t && t->what ? t->what : "green");
}

void gl_withdraw(gl_thread *t, const void *src) {
  if ((t->flags & GL_PENDING) && t->pending_src == src) {
    t->flags &= ~GL_PENDING;
    lua_pop(t->co, 1);  /* the error gl_throw put above the value */
  }
}

/* ------------------------------------------------------------- blocking */

gl_thread *gl_check_block(lua_State *L, const char *what) {
  gl_thread *t = H.current;
  if (t == NULL)
    luaL_error(L, "%s: not inside a green thread", what);
  if (!lua_isyieldable(L)) luaL_error(L, GL_CANNOT_BLOCK, what);
  t->what = what;
  return t;
}

/* Every block resumes here first, with the tag and value(s) on top. A
** thread interrupted while it waited (GL_THROW), or handed a value and then
** interrupted before it ran (GL_LATE), lets its primitive's cancel hook
** undo the wait (give the value back, forget its place) and raises;
** anything else goes on in the caller's continuation. */
static int block_k(lua_State *L, int status, lua_KContext ctx) {
  (void)ctx;
  gl_thread *t = H.current;
  /* the coroutine resuming here is the one that blocked, in its own thread */
  assert(t != NULL && (L == t->co || gl_owner(L) == t));
  assert(t->queue == NULL && !gl_timer_armed(&t->timer));
  if (L != t->co) gl_set_owner(L, NULL);   /* a script's coroutine: its own again */
  if (t->flags & GL_PENDING) {             /* (GL_LATE, value, err) */
    t->flags &= ~GL_PENDING;
    lua_insert(L, -3);                     /* err GL_LATE value */
    lua_pushlightuserdata(L, (void *)GL_WOKEN);
    lua_replace(L, -3);                    /* err GL_WOKEN value: as the hook expects */
    if (t->cancel) t->cancel(L);
    lua_pushvalue(L, -3);
    return lua_error(L);
  }
  if (lua_touserdata(L, -2) == GL_THROW) {
    if (t->cancel) t->cancel(L);
    return lua_error(L);
  }
  return t->k(L, status, 0);
}

/* The switch: yield to the hub, which resumes the thread in block_k. Room
** for what the hub pushes as it resumes (the tag and up to two values) is
** made now, so waking and interrupting a thread never allocate. */
static int suspend(lua_State *L, gl_thread *t, lua_KFunction k, gl_cancel_fn cancel) {
  assert(t == H.current && gl_owner(t->co) == t);
  t->k = k;
  t->cancel = cancel;
  if (!lua_checkstack(L, 4)) {
    gl_unblock(t);  /* it stays running: out of every list, no deadline */
    return luaL_error(L, "%s: stack overflow", t->what ? t->what : "block");
  }
  if (L != t->co) gl_set_owner(L, t);      /* nobody else may resume it now */
  lua_pushlightuserdata(L, (void *)GL_PASS);
  return lua_yieldk(L, 1, 0, block_k);
}

int gl_yield(lua_State *L, gl_thread *t, lua_KFunction k) {
  return suspend(L, t, k, NULL);
}

int gl_block(lua_State *L, const char *what, gl_waitq *wq, double seconds,
             lua_KFunction k) {
  return gl_block_cancel(L, what, wq, seconds, k, NULL);
}

int gl_block_cancel(lua_State *L, const char *what, gl_waitq *wq, double seconds,
                    lua_KFunction k, gl_cancel_fn cancel) {
  gl_thread *t = gl_check_block(L, what);
  if (wq == NULL && seconds < 0) {
    t->resume_n = 0;
    t->tag = GL_WOKEN;
    gl_enqueue(&H.ready, t);
  } else {
    if (wq) gl_enqueue(wq, t);
    if (seconds >= 0 && gl_timer_start(&t->timer, seconds) != 0) {
      gl_unqueue(t);
      return luaL_error(L, "%s: not enough memory", what);
    }
  }
  return suspend(L, t, k, cancel);
}

int gl_yield_behind(lua_State *L, gl_thread *t, gl_thread *pos, lua_KFunction k) {
  t->resume_n = 0;
  t->tag = GL_WOKEN;
  if (pos->queue == &H.ready) enqueue_after(&H.ready, pos, t);
  else gl_enqueue(&H.ready, t);
  return gl_yield(L, t, k);
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
  gl_timer_init(&t->timer, on_deadline);
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
  if (delay < 0) {
    gl_enqueue(&H.ready, t);
    poke();
  } else if (gl_timer_start(&t->timer, delay) != 0) luaL_error(L, "spawn_after: not enough memory");
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
    gl_enqueue(&H.ready, batch);
    H.batches++;
    poke();
  }
  H.live++;
}

lua_Integer gl_runnable(void) {
  return (lua_Integer)H.ready.n - H.batches + (H.pending_tail - H.pending_head + 1);
}

/* The next pending spawn_n becomes a thread (the batch keeps its place at
** the head of the ready queue while it has more). */
static gl_thread *start_pending(lua_State *L, gl_thread *batch) {
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
static int prepare(lua_State *L, gl_thread *t) {
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
    gl_enqueue_front(&H.ready, t);
  } else {
    drop_extra(L, t, ud);
    unanchor(L, t);
  }
}

/* Its function ended with 'status'; the userdata is on top of L. Record how,
** close what it left open, and bury it. */
static void finish(lua_State *L, gl_thread *t, int status, int nres) {
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
static void fail_thread(lua_State *L, gl_thread *t) {
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

/* A coroutine.yield that reached the hub: the thread yielded outside any
** coroutine of its own. End it with an error, as plain Lua would. */
static int stray_yield(lua_State *co, int nres) {
  lua_pop(co, nres);
  lua_pushliteral(co, "attempt to yield from outside a coroutine");
  return LUA_ERRRUN;
}

/* Switch into 't' until it blocks or ends. */
static void run(lua_State *L, gl_thread *t) {
  int nargs, nres, fresh = !(t->flags & GL_STARTED);
  /* out of every list, no deadline: a ready thread was taken off the queue */
  assert(t->queue == NULL && !gl_timer_armed(&t->timer) && H.current == NULL);
  assert(fresh ? t->co == NULL : (lua_status(t->co) == LUA_YIELD && gl_owner(t->co) == t));
  assert(!(t->flags & GL_DEAD) || (t->flags & GL_LINKING));
  if (fresh) {
    gl_push_thread(L, t);
    nargs = prepare(L, t);
  } else {
    /* suspend made room for these three */
    lua_State *co = t->co;
    if (t->flags & GL_PENDING) {          /* value err -> GL_LATE value err */
      lua_pushlightuserdata(co, (void *)GL_LATE);
      lua_rotate(co, -3, 1);
      nargs = 3;
    } else {
      lua_pushlightuserdata(co, (void *)t->tag);
      if (t->resume_n == 1) lua_insert(co, -2);
      else lua_pushnil(co);
      nargs = 2;
    }
  }
  t->resume_n = 0;
  H.current = t;
  H.switches++;
  int status = lua_resume(t->co, L, nargs, &nres);
  H.current = NULL;
  if (status == LUA_YIELD) {
    if (nres > 0 && lua_touserdata(t->co, -nres) == GL_PASS) {
      lua_pop(t->co, nres);
      if (fresh) lua_pop(L, 1);
      return;  /* it put itself where it waits */
    }
    status = stray_yield(t->co, nres);
  }
  if (!fresh) gl_push_thread(L, t);
  finish(L, t, status, nres);
  lua_pop(L, 1);
}

/* ------------------------------------------------------------- the loop */

/* Main is blocked and nothing can wake it: say where everyone waits.
** Runs protected (the tracebacks allocate). */
static int report_deadlock(lua_State *L) {
  fprintf(stderr, "greenlua: deadlock: all green threads are blocked\n");
  lua_rawgeti(L, LUA_REGISTRYINDEX, H.threads_ref);
  for (lua_Integer i = 1; i <= H.nslots; i++) {
    lua_rawgeti(L, -1, i);
    gl_thread *t = lua_touserdata(L, -1);
    if (t && t->co && !(t->flags & GL_DEAD)) {
      luaL_traceback(L, t->co, NULL, 0);
      fprintf(stderr, "green thread %lld%s:\n%s\n", (long long)t->id,
              t == H.main ? " (main)" : "", lua_tostring(L, -1));
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  fflush(stderr);
  return 0;
}

/* os.exit(code, true): close the variables of the thread that asked and of
** the main thread, as lua closes its main chunk's. */
static void close_for_exit(gl_thread *caller) {
  lua_resetthread(caller->co);
  if (H.main != caller && H.main->co && !(H.main->flags & GL_DEAD))
    lua_resetthread(H.main->co);
}

/* What run_ready stopped for. */
enum { READY_EMPTY, READY_BUDGET, READY_EXIT, READY_DONE };

/* Run ready threads: until none is left, RUN_BUDGET have run (time to poll
** I/O), os.exit asked to stop, or main ended. Runs under lua_pcall: the
** only thing that can raise here is the hub running out of memory while
** it starts or ends a thread (H.handling says which), and that must not
** unwind through gl_hub_run, let alone through libuv. */
static int run_ready(lua_State *L) {
  int budget = RUN_BUDGET, exit_status;
  gl_thread *t;
  while ((t = H.ready.head) != NULL) {
    gl_unqueue(t);
    if (t->flags & GL_BATCH) {
      H.handling_batch = 1;
      t = start_pending(L, t);
      H.handling_batch = 0;
    }
    H.handling = t;
    run(L, t);
    H.handling = NULL;
    if (gl_exit_requested(&exit_status)) {
      H.exiting = t;
      lua_pushinteger(L, READY_EXIT);
      return 1;
    }
    if (H.main->flags & GL_DEAD) break;
    if (--budget == 0) {
      lua_pushinteger(L, READY_BUDGET);
      return 1;
    }
    if (gl_timers_due()) gl_timers_run();
  }
  lua_pushinteger(L, (H.main->flags & GL_DEAD) ? READY_DONE : READY_EMPTY);
  return 1;
}

/* run_ready raised (the error on top of L, popped). Returns 0 if the hub
** can go on: the thread it was handling ends with the error, a spawn_n
** that could not start is reported and dropped. */
static int recover(lua_State *L) {
  if (H.handling_batch) {
    H.handling_batch = 0;
    H.handling = NULL;
    gl_report_message(L, -1, "spawn_n: a green thread could not start: ");
    lua_pop(L, 1);
    return 0;
  }
  gl_thread *t = H.handling;
  H.handling = NULL;
  if (t == NULL || (t->flags & GL_DEAD && !(t->flags & GL_LINKING))) {
    gl_report_message(L, -1, "hub: ");
    lua_pop(L, 1);
    return -1;
  }
  fail_thread(L, t);
  return 0;
}

static int call(lua_State *L, lua_CFunction f) {
  lua_pushcfunction(L, f);
  return lua_pcall(L, 0, 1, 0);
}

int gl_hub_protect(lua_CFunction f, const char *what) {
  lua_State *L = H.L;
  if (call(L, f) == LUA_OK) {
    lua_pop(L, 1);
    return 0;
  }
  char prefix[64];
  snprintf(prefix, sizeof prefix, "hub: %s: ", what);
  gl_report_message(L, -1, prefix);
  lua_pop(L, 1);
  H.failed = 1;
  uv_stop(H.loop);
  return -1;
}

/* The libuv timer's callback: fire what is due, protected (gl_hub_protect).
** The hub's own fire functions allocate nothing, a Timeout's neither. */
static int timers_run(lua_State *L) {
  (void)L;
  gl_timers_run();
  return 0;
}

static void on_timers_due(void) {
  gl_hub_protect(timers_run, "timers");
}

int gl_hub_run(void) {
  lua_State *L = H.L;
  for (;;) {
    int why = READY_EMPTY;
    if (call(L, run_ready) != LUA_OK) {
      if (recover(L) != 0) return GL_RUN_FAILED;
      continue;
    }
    why = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
    if (why == READY_EXIT) {
      close_for_exit(H.exiting);
      return GL_RUN_EXIT;
    }
    if (why == READY_DONE) return GL_RUN_DONE;
    if (why == READY_EMPTY && gl_timers_count() == 0 && !uv_loop_alive(H.loop)) {
      if (call(L, report_deadlock) != LUA_OK) lua_pop(L, 1);
      return GL_RUN_DEADLOCK;
    }
    H.polling = 1;
    H.poked = 0;
    uv_run(H.loop, why == READY_BUDGET ? UV_RUN_NOWAIT : UV_RUN_ONCE);
    H.polling = 0;
    if (H.failed) return GL_RUN_FAILED;
  }
}

/* ---------------------------------------------------------------- setup */

static int new_ref_table(lua_State *L) {
  lua_newtable(L);
  return luaL_ref(L, LUA_REGISTRYINDEX);
}

void gl_hub_open(lua_State *L) {
  memset(&H, 0, sizeof H);
  H.L = L;
  gl_set_owner(L, NULL);  /* every coroutine starts with a copy of this */
  H.loop = uv_default_loop();
  H.started_at = uv_hrtime();
  gl_timers_init(H.loop, on_timers_due);
  H.threads_ref = new_ref_table(L);
  lua_createtable(L, GL_POOL_MAX, 0);  /* sized now: recycling never allocates */
  H.pool_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  H.pending_ref = new_ref_table(L);
  H.packed_mt_ref = new_ref_table(L);
  H.pending_head = 1;
  H.pending_tail = 0;
  H.nfree = H.npool_holes = H.pool_top = 0;
  H.link_runner_ref = LUA_NOREF;
}

void gl_hub_close(void) {
  if (H.loop == NULL) return;  /* never opened: the command line was wrong */
  free(H.holes);
  H.holes = NULL;
  gl_timers_close();
  uv_run(H.loop, UV_RUN_NOWAIT);  /* let close callbacks run */
  uv_loop_close(H.loop);
}
