/*
** hub.h: the scheduler. One libuv loop, one ready queue, green threads as
** Lua coroutines. The interface for the rest of the host (sync/, io/,
** console/); the parts of host/core/:
**   hub.c      the scheduler: lists, waking, blocking, the switch, the loop
**   spawn.c    making threads: spawn, spawn_n, pending starts
**   thread.c   a thread's life: state, handle, coroutine, results, links
**   timer.c    every deadline, in one heap behind one libuv timer
**   coro.c     the coroutine library, so script coroutines can block
**   greenthread.c  the Lua face: spawn, sleep, kill, GreenThread methods
**   report.c, interrupt.c  uncaught errors; Ctrl-C and os.exit
**   memory.c   huge pages for the Lua heap (first-touch faults on VMs)
**   testhooks.c  hooks for the specs, in the internal table
**
** The rules everything else builds on:
**  - Waking a thread only appends it to the tail of the ready queue; the hub
**    switches only when the running thread blocks. Ready threads run FIFO.
**  - Only gl_hub_run drives the loop; libuv callbacks only wake threads. A
**    thread made ready inside uv_run makes it return (uv_stop), so a timer
**    that fires as the hub goes to wait is never left for the next event.
**  - A blocked thread is in at most one wait list (a gl_waitq or the ready
**    queue) and has at most one deadline (its own timer). Whoever resumes it
**    early (kill, Timeout) takes it out of both, so a dead or timed-out waiter
**    never lingers in a wait list.
**  - A green thread resumes from a block with a tag and values on its stack
**    (see the tags below); gl_block's continuation raises GL_THROW and
**    GL_LATE itself, after the block's cancel hook ran.
**  - Nothing handed over is lost: a thread woken with a value (a queue item,
**    a permit) and interrupted before it runs resumes with the value, gives
**    it back through its block's cancel hook, then raises.
**  - A thread's coroutine is the hub's: only the hub resumes it (coro.c
**    refuses anyone else), and a block inside a script's coroutine is
**    relayed out to the hub and back in.
**  - Nothing the hub does from a libuv callback allocates (waking,
**    interrupting, timers); what it does between switches that may
**    allocate (starting and ending threads, thread.h) runs under lua_pcall,
**    and running out of memory there ends that thread only.
**  - The hub polls I/O between batches of runnable threads and checks its
**    timers (a coarse clock read) after every switch, so threads that keep
**    yielding starve neither.
**  - A GreenThread userdata stays anchored (in the hub's thread table) from
**    spawn until it is dead and its links have run; the scheduler's raw
**    pointers are only ever to anchored threads.
** These are asserted in builds without NDEBUG (make sanitize).
** Where to start reading hub.c: gl_hub_run (the loop), run (one switch),
** gl_block_cancel and block_k (how a thread waits and comes back);
** spawn.c: gl_spawn; thread.c: gl_prepare, gl_finish.
*/
#ifndef GL_HUB_H
#define GL_HUB_H

#include <lua.h>
#include <uv.h>
#include "core/timer.h"

typedef struct gl_thread gl_thread;
typedef struct gl_handle gl_handle;

/* An intrusive FIFO of blocked threads: the ready queue and every wait list. */
typedef struct gl_waitq {
  gl_thread *head, *tail;
  size_t n;
} gl_waitq;

/* Flags of a thread's run-time state (t->flags, "t") and of its handle
** (h->flags, "h"). */
enum {
  GL_STARTED = 1 << 0,   /* t, h: has a coroutine and has run */
  GL_DEAD = 1 << 1,      /* h: its function returned or raised (t: see below) */
  GL_ERRORED = 1 << 2,   /* h: ...by raising; the error is its result */
  GL_HANDLE = 1 << 3,    /* h: spawn handed it out: keep the results */
  GL_PENDING = 1 << 4,   /* t: an error waits above a handed value (GL_LATE) */
  GL_LINKING = 1 << 5,   /* t: dead, running its links */
  GL_MAIN = 1 << 6,      /* t, h: the main green thread */
  GL_KILLED = 1 << 7,    /* h: killed before it started: it starts by raising */
  GL_POOLED = 1 << 8,    /* t: its coroutine belongs to the pool */
  GL_EXTRA = 1 << 9,     /* h: it has an extra table */
  GL_BATCH = 1 << 10,    /* t: not a thread: a run of 'count' pending starts */
  GL_PACKED = 1 << 11,   /* h (t for a spawn_n): the body is {fn, args..., n} */
  GL_ESCAPED = 1 << 12,  /* t: coroutine.running() gave its coroutine out: never reuse it */
  GL_NAMED = 1 << 13     /* h: gt.name was set: the name is in H.names_ref */
};

/* Spawn arguments up to this many go into uservalues of the handle; more
** are packed into one table (GL_PACKED), so any count Lua can pass works. */
#define GL_MAX_UV_ARGS 8

/* The GreenThread userdata: all that is left of a thread once it is dead,
** so a program keeping a million handles keeps 120 bytes each. */
struct gl_handle {
  gl_thread *t;             /* its run-time state; NULL before it is needed, and once dead */
  lua_Integer id;
  const char *name;         /* gt.name (anchored by H.names_ref), or NULL: for C readers */
  int nresults;             /* results kept, see gl_thread_results */
  unsigned short flags;
  unsigned short nargs;     /* spawn arguments in uservalues GL_UV_ARGS.. */
};

/* A thread's run-time state, from the moment it is needed (it starts, or
** someone waits for it, kills it, or it has a timer: spawn_after) until it
** is dead and its links ran; then it goes back to a free list. A spawn_n
** thread has no handle until someone asks for one (getcurrent, a Timeout,
** threads()). The main thread's state outlives it (GL_DEAD and GL_ERRORED
** are set here too), so the host can read how it ended. */
struct gl_thread {
  lua_State *co;            /* its coroutine, or NULL */
  gl_thread *prev, *next;   /* position in 'queue' (next: the free list) */
  gl_waitq *queue;          /* the ready queue, a wait list, or NULL */
  gl_handle *h;             /* its handle, or NULL: none made yet */
  gl_timer timer;           /* its deadline: sleep, timed wait, spawn_after */
  lua_Integer id;
  unsigned anchor;          /* slot in the thread table: the handle, else the coroutine */
  int count;                /* GL_BATCH: pending starts it stands for */
  unsigned short flags;
  unsigned short pool_slot; /* with GL_POOLED: where the pool table anchors 'co' */
  int resume_n;             /* 1 if a wake value waits on top of 'co' */
  const char *tag;          /* how it resumes: GL_WOKEN, GL_TIMEDOUT, GL_THROW */
  lua_KFunction k;          /* where gl_block's caller continues */
  void (*cancel)(lua_State *L);  /* undoes its wait if it is interrupted */
  const void *pending_src;  /* who raised the GL_PENDING error (a Timeout) */
  const char *what;         /* the blocking call it is in, for messages and status() */
  uint64_t since;           /* when it last blocked: the hub's coarse clock, ns (H.tick) */
  uint64_t cpu;             /* ns it ran while a top() sampled (H.sampling) */
  gl_waitq joiners;         /* threads in gt:wait() */
  gl_thread *all_prev, *all_next;  /* every state in use, freed at gl_hub_close */
};

/* gt.name, or NULL: valid while the handle lives (the hub's names table
** anchors the string). 'name' is only written when GL_NAMED is set, so
** handles are made without touching it. */
static inline const char *gl_handle_name(const gl_handle *h) {
  return (h->flags & GL_NAMED) ? h->name : NULL;
}

/* Uservalues of a GreenThread userdata. */
enum {
  GL_UV_BODY = 1,      /* its function before it starts (or the error it was
                       ** killed with); its coroutine while it runs (unless the
                       ** pool anchors it); its result(s) or error once dead */
  GL_UV_EXTRA = 2,     /* a table made on demand: links, locals, on_exit */
  GL_UV_ARGS = 3       /* first spawn argument */
};

/* Coroutines kept for reuse: enough to absorb bursts of short threads
** without pinning the memory of a million sleepers that all woke. A reused
** coroutine carries nothing observable: its stack is empty, its hook
** reset, and one whose identity escaped (coroutine.running()) is not
** reused at all. */
#define GL_POOL_MAX 256

/* Resume tags (addresses of static chars, compared as light userdata).
** A thread resumes from a block with (GL_WOKEN, value), (GL_TIMEDOUT, nil),
** (GL_THROW, err): interrupted while it waited, or (GL_LATE, value, err):
** handed a value, then interrupted before it ran. GL_PASS is what a block
** yields to the hub. */
extern const char GL_WOKEN[], GL_TIMEDOUT[], GL_THROW[], GL_LATE[], GL_PASS[];

/* The green thread a coroutine belongs to, kept in its LUA_EXTRASPACE: a
** thread's own coroutine from its start to its end, and a script's own
** coroutine while a block inside it waits in the hub. NULL otherwise
** (new coroutines copy the main state's, which is NULL). */
static inline gl_thread *gl_owner(lua_State *co) {
  return *(gl_thread **)lua_getextraspace(co);
}
static inline void gl_set_owner(lua_State *co, gl_thread *t) {
  *(gl_thread **)lua_getextraspace(co) = t;
}

typedef struct gl_hub {
  lua_State *L;              /* the main state; the hub runs on it */
  uv_loop_t *loop;
  gl_thread *current;        /* the running green thread, or NULL in the hub */
  gl_thread *main;
  gl_waitq ready;
  int threads_ref;           /* registry: the thread table (handles, or coroutines) */
  int pool_ref;              /* registry: array anchoring pooled coroutines */
  struct { lua_State *co; unsigned short slot; } free[GL_POOL_MAX];  /* pooled, not in use */
  int nfree;
  unsigned short pool_holes[GL_POOL_MAX];  /* free slots of the pool table */
  int npool_holes, pool_top;               /* ...and the highest slot ever used */
  int link_runner_ref;       /* registry: Lua function that runs a thread's links */
  int pending_ref;           /* registry: handles and spawn_n functions not started yet */
  lua_Integer pending_head, pending_tail;  /* its first and last index */
  int packed_mt_ref;         /* registry: marks a pending function with arguments */
  lua_Integer batches;       /* GL_BATCH nodes in the ready queue */
  int thread_mt_ref;         /* registry: the GreenThread metatable */
  const void *thread_mt;     /* ...and its address, for type checks */
  int exit_ref;              /* registry: green.GreenThreadExit */
  unsigned nslots;           /* slots of the thread table in use or free */
  unsigned *holes;           /* free slots, most recently freed last */
  size_t nholes, holes_cap;
  lua_Integer next_id;
  lua_Integer live;          /* started or pending, not yet dead */
  gl_thread *handling;       /* the thread the hub is starting or ending */
  gl_thread *handling_batch; /* ...or the batch node of a pending start */
  gl_thread *spare;          /* free list of run-time states */
  int nspare;
  gl_thread *states;         /* every run-time state in use (batch nodes too) */
  gl_thread *exiting;        /* the thread that called os.exit(code, true) */
  int failed;                /* a libuv callback of the hub failed: stop */
  int polling, poked;        /* in uv_run; uv_stop was called for a ready thread */
  unsigned long long switches;
  uint64_t started_at;       /* uv_hrtime at start */
  int names_ref;             /* registry: handle -> name, weak keys (gt.name) */
  int sampling;              /* top() calls sampling now: run() times each switch */
  uint64_t tick;             /* the coarse clock as the hub last read it (gl_coarse_ns) */
} gl_hub;

/* The hub's clock (H.tick, t->since): CLOCK_MONOTONIC_COARSE, served from
** the vDSO without the hardware counter (10-20 ns on this VM, uv_hrtime
** over 100), on the same base as uv_hrtime and green.now(), a few ms
** behind it at most: plenty for "blocked for 3.2 s". Read once per poll,
** and once per switch only while timers are armed (they need it anyway). */
uint64_t gl_coarse_ns(void);

extern gl_hub gl_H;

/* Create the loop and the registry tables. Call once, on the main state. */
void gl_hub_open(lua_State *L);

/* Run green threads until the main one is dead (GL_RUN_DONE), os.exit asks
** to close the state (GL_RUN_EXIT, see core/interrupt.h), nothing can wake
** the main thread (GL_RUN_DEADLOCK, reported on stderr), or the hub itself
** failed in a way no thread can be blamed for (GL_RUN_FAILED, reported).
** Running out of memory while starting or ending a thread ends that thread
** with the error; the others go on. */
enum { GL_RUN_DONE, GL_RUN_DEADLOCK, GL_RUN_EXIT, GL_RUN_FAILED };
int gl_hub_run(void);

/* For libuv callbacks that run Lua on the main state: run f under lua_pcall
** (an error must not unwind through libuv). If it raises, the error is
** reported ("greenlua: hub: <what>: ...") and the hub stops with
** GL_RUN_FAILED. Returns 0, or -1 if f raised. */
int gl_hub_protect(lua_CFunction f, const char *what);

/* Release the loop and everything the hub allocated outside Lua. */
void gl_hub_close(void);

/* Make a new GreenThread from the function and 'nargs' arguments on top of
** L's stack (left there), push its userdata and queue it to start (or,
** with delay >= 0, arm its timer to queue it later). Returns its run-time
** state for spawn_after and the main thread (GL_MAIN), which have one from
** the start; NULL for the others, which get one as they start. */
gl_thread *gl_spawn(lua_State *L, int nargs, unsigned flags, double delay);

/* The metatable of the full userdata at 'idx', as a pointer (NULL if none).
** Metatables live in the registry and Lua's collector never moves objects,
** so a type check is one pointer comparison: faster than luaL_testudata's
** lookup by name, which matters on hot paths. */
const void *gl_udata_meta(lua_State *L, int idx);

/* Is the value at 'idx' a GreenThread? Returns its handle or NULL. */
gl_handle *gl_test_handle(lua_State *L, int idx);

/* The run-time state of the GreenThread at 'idx': NULL if it is not one,
** is dead, or has not needed one yet (a thread not started, that nobody
** waits for). gl_throw and gl_withdraw take NULL. */
gl_thread *gl_thread_of(lua_State *L, int idx);

/* The same, made now if need be (to wait for or kill a thread that has not
** started; allocates: call it where raising is fine). NULL if dead. */
gl_thread *gl_materialize(lua_State *L, int idx);

/* An optional timeout argument: nil -> -1 (none), else seconds >= 0
** (negative counts as 0; NaN raises). */
double gl_opt_timeout(lua_State *L, int idx);

/* A number of seconds at 'idx' for the function the user called, 'fname':
** >= 0 (negative counts as 0); a non-number or NaN raises "bad argument
** #idx to 'fname' (...)". Huge values are fine: timers clamp them. */
double gl_check_seconds(lua_State *L, int idx, const char *fname);

/* Misuse errors that name the function the user called, whatever name Lua
** would find for it: "bad argument #arg to 'fname' (msg)", and the same
** with "tname expected, got <type or __name>". */
int gl_argerror(lua_State *L, int arg, const char *fname, const char *msg);
int gl_typeerror(lua_State *L, int arg, const char *fname, const char *tname);

/* spawn_n: queue the function and 'nargs' arguments on top of L (popped)
** to start in FIFO order, without making a thread until it starts. */
void gl_spawn_n(lua_State *L, int nargs);

/* How many threads are runnable (pending spawn_n included). */
lua_Integer gl_runnable(void);

/* Push the GreenThread userdata of a live thread, made now if it had none
** (a spawn_n thread: allocates; call it where raising is fine). */
void gl_push_thread(lua_State *L, gl_thread *t);

/* Push the extra table of the GreenThread userdata at 'idx', made on demand. */
void gl_push_extra(lua_State *L, int idx);

/* Block the running green thread: into 'wq' (may be NULL) with a deadline of
** 'seconds' (< 0: none), or, with neither, just to the back of the ready
** queue. 'what' names the caller in errors. Does not return: resumes in 'k'
** with the tag and value on top of the stack, unless it was interrupted.
** Interrupted (killed, a Timeout), it raises instead; first 'cancel', if
** given, runs on its stack with the tag and value on top (keep them there):
** with GL_THROW it was still waiting; with GL_WOKEN it had been handed the
** value but had not run yet, and must give it back so nothing is lost. */
typedef void (*gl_cancel_fn)(lua_State *L);
int gl_block(lua_State *L, const char *what, gl_waitq *wq, double seconds,
             lua_KFunction k);
int gl_block_cancel(lua_State *L, const char *what, gl_waitq *wq, double seconds,
                    lua_KFunction k, gl_cancel_fn cancel);

/* Raise unless the caller is a green thread that can block here; raise the
** error of an expired Timeout that waits for this moment. */
gl_thread *gl_check_block(lua_State *L, const char *what);

#define GL_CANNOT_BLOCK "%s: cannot block here: Lua cannot yield across this C call " \
  "(a metamethod or iterator called from C, a table.sort comparator, " \
  "a string.gsub callback, __gc, ...)"

/* Undo what gl_block did to place the running thread, for a block that
** turned out not to reach the hub (a coroutine's caller cannot yield). */
void gl_unblock(gl_thread *t);

/* A block inside a coroutine of the running thread cannot reach the hub
** (its resumer cannot yield): undo it (gl_unblock) and push the message
** to raise inside the coroutine instead. */
void gl_cannot_block(lua_State *L);

/* The switch itself, for callers that placed 't' already (gl_check_block
** first). gl_yield_behind places it right behind 'pos' in the ready queue
** ('pos' NULL: at its head). */
int gl_yield(lua_State *L, gl_thread *t, lua_KFunction k);
int gl_yield_behind(lua_State *L, gl_thread *t, gl_thread *pos, lua_KFunction k);

/* Make 't' ready with GL_WOKEN and the value on top of L's stack (popped).
** 't' must be blocked. */
void gl_wake(lua_State *L, gl_thread *t);

/* Wake the first thread in 'wq' with the value on top of L's stack (always
** popped). Returns it, or NULL if 'wq' was empty. */
gl_thread *gl_wake_one(lua_State *L, gl_waitq *wq);

/* Interrupt 't' with the error on top of L's stack (popped): at once if it is
** blocked or woken without a value, else (handed a value) as it resumes,
** after its cancel hook gave the value back. 'front' puts it at the head of the ready
** queue (kill), not the tail (timeouts). 'src' identifies the sender for
** gl_withdraw (may be NULL). Returns 0 if 't' is dead. */
int gl_throw(lua_State *L, gl_thread *t, int front, const void *src);

/* Drop an error 'src' sent to 't' that still waits for t's next block: a
** Timeout cancelled after it expired must not fire later. */
void gl_withdraw(gl_thread *t, const void *src);

/* Take 't' out of whatever wait list it is in. */
void gl_unqueue(gl_thread *t);

/* Append / prepend to a wait list. */
void gl_enqueue(gl_waitq *q, gl_thread *t);
void gl_enqueue_front(gl_waitq *q, gl_thread *t);

/* Push the kept results (or the error) of the dead thread whose userdata
** is at 'idx'; returns how many. */
int gl_thread_results(lua_State *L, int idx);

#endif
