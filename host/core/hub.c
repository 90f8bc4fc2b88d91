/*
** hub.c: the scheduler. The ready queue and wait lists, waking and
** interrupting threads, blocking with a deadline, the switch into a thread
** and back, and the loop that drives it all with libuv. A thread's start
** and end (spawn, coroutines, results, links) are thread.c's.
** Read hub.h first: it states the rules this file keeps.
*/
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <lauxlib.h>
#include "core/hub.h"
#include "core/thread.h"
#include "core/memory.h"
#include "core/report.h"
#include "core/interrupt.h"
#include "core/debug.h"

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

uint64_t gl_coarse_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* --------------------------------------------------------------- waking */

/* A thread became ready inside uv_run (a timer or I/O callback). uv_run
** must return instead of polling on: UV_RUN_ONCE runs due timers before
** it polls, and would then block for the next event, however far off, with
** this thread ready (the "lost timer" of a Timeout due as the hub went to
** wait, behind a sleep(1e6)). */
static void poke(void) {
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
    lua_xmove(L, t->co, 1);               /* suspend made room */
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
void gl_on_deadline(gl_timer *timer) {
  gl_thread *t = (gl_thread *)((char *)timer - offsetof(gl_thread, timer));
  if (t->flags & GL_STARTED) t->resume_n = 0;
  make_ready(t, GL_TIMEDOUT);
}

/* Nothing here allocates: a kill, an expired Timeout or Ctrl-C is
** delivered from timer and signal callbacks, where running out of memory
** must not be possible. The error waits in the thread's body slot (not
** started: the function is not needed any more) or on its own coroutine's
** stack, where suspend made room. */
int gl_throw(lua_State *L, gl_thread *t, int front, const void *src) {
  if (t == NULL || (t->flags & GL_DEAD)) {
    lua_pop(L, 1);
    return 0;
  }
  assert(t != H.current && !(t->flags & GL_BATCH));
  int blocked = (t->flags & GL_STARTED) && t->queue != &H.ready;
  int woken_empty = t->queue == &H.ready && t->resume_n == 0;
  if (!(t->flags & GL_STARTED)) {
    /* never ran (it has a handle: only those wait unstarted): it starts by
    ** raising, so links and joiners see the error */
    gl_push_thread(L, t);
    lua_insert(L, -2);
    lua_setiuservalue(L, -2, GL_UV_BODY);
    lua_pop(L, 1);
    t->h->flags |= GL_KILLED;
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
  if (t && (t->flags & GL_PENDING) && t->pending_src == src) {
    t->flags &= ~GL_PENDING;
    lua_pop(t->co, 1);  /* the error gl_throw put above the value */
  }
}

void gl_ready(gl_thread *t, int front) {
  if (front) gl_enqueue_front(&H.ready, t);
  else gl_enqueue(&H.ready, t);
  poke();
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
  /* A C function gets LUA_MINSTACK slots above its arguments (through
  ** yields too): with 16 values or fewer in its frame, 4 are free. */
  if (lua_gettop(L) > LUA_MINSTACK - 4 && !lua_checkstack(L, 4)) {
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
  if (pos == NULL) gl_enqueue_front(&H.ready, t);
  else if (pos->queue == &H.ready) enqueue_after(&H.ready, pos, t);
  else gl_enqueue(&H.ready, t);
  return gl_yield(L, t, k);
}

/* A coroutine.yield that reached the hub: the thread yielded outside any
** coroutine of its own. End it with an error, as plain Lua would. */
static int stray_yield(lua_State *co, int nres) {
  lua_pop(co, nres);
  lua_pushliteral(co, "attempt to yield from outside a coroutine");
  return LUA_ERRRUN;
}

/* Switch into 't' until it blocks (returns 1) or ends (0). */
static int run(lua_State *L, gl_thread *t) {
  int nargs, nres, ud = 0, fresh = !(t->flags & GL_STARTED);
  /* out of every list, no deadline: a ready thread was taken off the queue */
  assert(t->queue == NULL && !gl_timer_armed(&t->timer) && H.current == NULL);
  assert(fresh ? t->co == NULL : (lua_status(t->co) == LUA_YIELD && gl_owner(t->co) == t));
  assert(!(t->flags & GL_DEAD) || (t->flags & GL_LINKING));
  if (fresh) {
    nargs = gl_prepare(L, t, &ud);
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
  /* relaxed atomic stores (plain movs): the watchdog thread reads them */
  __atomic_store_n(&H.current, t, __ATOMIC_RELAXED);
  __atomic_store_n(&H.switches, H.switches + 1, __ATOMIC_RELAXED);
  /* top(): one branch per switch when nobody samples; a top() that starts
  ** inside this resume counts from the next one */
  assert(H.sampling >= 0);
  uint64_t began = H.sampling ? uv_hrtime() : 0;
  int status = lua_resume(t->co, L, nargs, &nres);
  if (began) t->cpu += uv_hrtime() - began;
  __atomic_store_n(&H.current, NULL, __ATOMIC_RELAXED);
  if (status == LUA_YIELD) {
    if (nres > 0 && lua_touserdata(t->co, -nres) == GL_PASS) {
      lua_pop(t->co, nres);
      if (ud) lua_settop(L, ud - 1);
      t->since = H.tick;  /* run_ready makes it exact when it reads the clock */
      return 1;  /* it put itself where it waits */
    }
    status = stray_yield(t->co, nres);
  }
  gl_finish(L, t, status, nres, ud);
  return 0;
}

/* ------------------------------------------------------------- the loop */

/* Main is blocked and nothing can wake it: say where everyone waits, what
** in and for how long (the dump's format). Runs protected (it allocates). */
static int report_deadlock(lua_State *L) {
  fprintf(stderr, "greenlua: deadlock: all green threads are blocked\n");
  gl_debug_push_dump(L);
  fputs(lua_tostring(L, -1), stderr);
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
      H.handling_batch = t;
      t = gl_start_pending(L, t);
      H.handling_batch = NULL;
      if (t == NULL) continue;           /* the rest had run already */
    }
    H.handling = t;
    int blocked = run(L, t);
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
    /* One coarse clock read per switch, only while timers are armed (as
    ** before: the timers need it), and the thread that just blocked gets
    ** it as its 'since'. With no timer at all the switch reads no clock,
    ** and 'since' is the hub's last poll (H.tick), at most RUN_BUDGET
    ** switches (or one long slice) early. */
    if (gl_timers_count() > 0) {
      H.tick = gl_coarse_ns();
      if (blocked) t->since = H.tick;
      if (gl_timers_due_at(H.tick)) gl_timers_run();
    }
  }
  lua_pushinteger(L, (H.main->flags & GL_DEAD) ? READY_DONE : READY_EMPTY);
  return 1;
}

/* run_ready raised (the error on top of L, popped). Returns 0 if the hub
** can go on: the thread it was handling ends with the error, a spawn_n
** that could not start is reported and dropped. */
static int recover(lua_State *L) {
  if (H.handling_batch) {
    gl_thread *batch = H.handling_batch;
    H.handling_batch = NULL;
    H.handling = NULL;
    gl_fail_pending(L, batch);
    return 0;
  }
  gl_thread *t = H.handling;
  H.handling = NULL;
  if (t == NULL || (t->flags & GL_DEAD && !(t->flags & GL_LINKING))) {
    gl_report_message(L, -1, "hub: ");
    lua_pop(L, 1);
    return -1;
  }
  gl_fail_thread(L, t);
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
    H.tick = gl_coarse_ns();  /* once per poll: 'since' for switches that read no clock */
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
  gl_memory_open(L);
  gl_set_owner(L, NULL);  /* every coroutine starts with a copy of this */
  H.loop = uv_default_loop();
  H.started_at = uv_hrtime();
  H.tick = gl_coarse_ns();
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
  lua_newtable(L);                      /* names: weak keys, so a name dies with its handle */
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  H.names_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  gl_debug_open();
}

void gl_hub_close(void) {
  if (H.loop == NULL) return;  /* never opened: the command line was wrong */
  free(H.holes);
  H.holes = NULL;
  gl_free_states();
  gl_debug_close();
  gl_timers_close();
  uv_run(H.loop, UV_RUN_NOWAIT);  /* let close callbacks run */
  uv_loop_close(H.loop);
}
