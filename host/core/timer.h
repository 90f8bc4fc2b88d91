/*
** timer.h: the hub's deadlines.
**
** Every sleep, timed wait, spawn_after and Timeout is a gl_timer embedded in
** its owner. They live in one binary min-heap ordered by (deadline, arming
** order), driven by a single libuv timer armed for the earliest deadline, so
** a million sleepers cost a heap slot each, not a libuv handle each.
** Timers with equal deadlines fire in the order they were armed: programs may
** rely on it (API.md, "Ordering").
*/
#ifndef GL_TIMER_H
#define GL_TIMER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct gl_timer gl_timer;
typedef void (*gl_timer_fn)(gl_timer *t);

struct gl_timer {
  uint64_t deadline;  /* uv_hrtime(), in nanoseconds */
  uint64_t seq;       /* arming order, breaks ties between equal deadlines */
  size_t slot;        /* index in the heap; GL_TIMER_IDLE when not armed */
  gl_timer_fn fire;   /* called from the hub, never from inside a green thread */
};

#define GL_TIMER_IDLE ((size_t)-1)

/* Set up the heap on 'loop'; gl_timers_close frees it. When the libuv
** timer fires, 'on_due' is called (it must call gl_timers_run: the hub
** wraps it in lua_pcall); NULL calls gl_timers_run directly. */
void gl_timers_init(uv_loop_t *loop, void (*on_due)(void));
void gl_timers_close(void);

/* A timer must be initialised once before use. */
void gl_timer_init(gl_timer *t, gl_timer_fn fire);

/* Arm 't' to fire 'seconds' from now (re-arming an armed one moves it).
** Negative or NaN seconds count as 0, more than 1e9 (inf included) as 1e9
** (about 31 years). Returns 0, or UV_ENOMEM. */
int gl_timer_start(gl_timer *t, double seconds);

/* Disarm; harmless on an idle timer. */
void gl_timer_stop(gl_timer *t);

static inline int gl_timer_armed(const gl_timer *t) { return t->slot != GL_TIMER_IDLE; }

/* Is the earliest deadline past? Cheap (a coarse clock): the hub asks
** between two switches, so a thread that keeps yielding still sees its
** timers fire. */
int gl_timers_due(void);

/* The same against a clock the caller read (CLOCK_MONOTONIC_COARSE, ns):
** the hub reads it once per switch and also stamps the thread that just
** blocked with it (status()'s 'since'). */
int gl_timers_due_at(uint64_t now);

/* Fire every timer that is due. */
void gl_timers_run(void);

/* How many timers are armed (for stats and deadlock detection). */
size_t gl_timers_count(void);

/* Check every invariant of the heap and the libuv timer (O(n), for the
** specs): NULL if they hold, else what is wrong. */
const char *gl_timers_check(void);

#endif
