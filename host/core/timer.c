/*
** timer.c: a binary min-heap of deadlines behind one libuv timer.
** See timer.h for the contract.
*/
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <time.h>
#include "core/timer.h"

static struct {
  uv_loop_t *loop;
  uv_timer_t handle;     /* armed for the root's deadline, or stopped */
  uint64_t handle_due;   /* deadline the handle is armed for; UINT64_MAX if none */
  gl_timer **heap;
  size_t n, cap;
  uint64_t seq;
  void (*on_due)(void);  /* what the libuv timer's callback calls */
} H;

static int earlier(const gl_timer *a, const gl_timer *b) {
  return a->deadline < b->deadline || (a->deadline == b->deadline && a->seq < b->seq);
}

static void place(gl_timer *t, size_t i) {
  H.heap[i] = t;
  t->slot = i;
}

static void sift_up(size_t i) {
  gl_timer *t = H.heap[i];
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (!earlier(t, H.heap[parent])) break;
    place(H.heap[parent], i);
    i = parent;
  }
  place(t, i);
}

static void sift_down(size_t i) {
  gl_timer *t = H.heap[i];
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= H.n) break;
    if (child + 1 < H.n && earlier(H.heap[child + 1], H.heap[child])) child++;
    if (!earlier(H.heap[child], t)) break;
    place(H.heap[child], i);
    i = child;
  }
  place(t, i);
}

static void on_due(uv_timer_t *handle);

/* Arm the libuv timer for the root. libuv counts whole milliseconds from
** its cached clock, so round up and refresh the clock first; if it still
** fires a little early, on_due finds nothing due and comes back here. */
static void rearm(void) {
  if (H.n == 0) {
    uv_timer_stop(&H.handle);
    H.handle_due = UINT64_MAX;
    return;
  }
  uint64_t due = H.heap[0]->deadline, now = uv_hrtime();
  uv_update_time(H.loop);
  H.handle_due = due;
  uv_timer_start(&H.handle, on_due, due > now ? (due - now + 999999) / 1000000 : 0, 0);
}

/* Fire everything that is due, in deadline-then-arming order. A fire
** callback may arm new timers; those wait for the next turn, so a timer
** that re-arms itself with 0 cannot starve the loop. */
void gl_timers_run(void) {
  uint64_t now = uv_hrtime(), limit = H.seq;
  H.handle_due = UINT64_MAX;
  while (H.n > 0 && H.heap[0]->deadline <= now && H.heap[0]->seq < limit) {
    gl_timer *t = H.heap[0];
    gl_timer_stop(t);
    t->fire(t);
  }
  /* What is left is not due yet, or was armed by a fire callback (deadline
  ** >= now): either way rearm() covers it. */
  rearm();
}

static void on_due(uv_timer_t *handle) {
  (void)handle;
  if (H.on_due) H.on_due();
  else gl_timers_run();
}

int gl_timers_due(void) {
  if (H.n == 0) return 0;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return H.heap[0]->deadline <= (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int gl_timers_due_at(uint64_t now) {
  return H.n > 0 && H.heap[0]->deadline <= now;
}

void gl_timers_init(uv_loop_t *loop, void (*on_due)(void)) {
  H.loop = loop;
  H.on_due = on_due;
  H.handle_due = UINT64_MAX;
  uv_timer_init(loop, &H.handle);
}

void gl_timers_close(void) {
  uv_close((uv_handle_t *)&H.handle, NULL);
  free(H.heap);
  H.heap = NULL;
  H.n = H.cap = 0;
}

void gl_timer_init(gl_timer *t, gl_timer_fn fire) {
  t->slot = GL_TIMER_IDLE;
  t->fire = fire;
  t->deadline = t->seq = 0;
}

/* Seconds to nanoseconds, for any double: NaN and negatives are 0, and
** anything past MAX_SECONDS (inf, 1e300) is MAX_SECONDS, so the conversion
** to an integer is always defined and now + delay cannot overflow. */
#define MAX_SECONDS 1e9  /* ~31 years: never, in practice */

static uint64_t delay_ns(double seconds) {
  if (!(seconds > 0)) return 0;                 /* also NaN */
  if (seconds > MAX_SECONDS) seconds = MAX_SECONDS;
  return (uint64_t)ceil(seconds * 1e9);
}

int gl_timer_start(gl_timer *t, double seconds) {
  gl_timer_stop(t);
  t->deadline = uv_hrtime() + delay_ns(seconds);
  t->seq = H.seq++;
  if (H.n == H.cap) {
    size_t cap = H.cap ? H.cap * 2 : 64;
    gl_timer **heap = realloc(H.heap, cap * sizeof *heap);
    if (heap == NULL) return UV_ENOMEM;
    H.heap = heap;
    H.cap = cap;
  }
  place(t, H.n++);
  sift_up(t->slot);
  if (t->deadline < H.handle_due) rearm();
  assert(H.handle_due <= H.heap[0]->deadline);
  return 0;
}

void gl_timer_stop(gl_timer *t) {
  size_t i = t->slot;
  if (i == GL_TIMER_IDLE) return;
  assert(i < H.n && H.heap[i] == t);
  t->slot = GL_TIMER_IDLE;
  gl_timer *last = H.heap[--H.n];
  if (i == H.n) return;
  place(last, i);
  if (i > 0 && earlier(last, H.heap[(i - 1) / 2])) sift_up(i);
  else sift_down(i);
}

size_t gl_timers_count(void) { return H.n; }

/* The invariants everything above keeps: each armed timer knows its slot,
** the heap is ordered, and the libuv timer is armed for no later than the
** earliest deadline whenever a timer is armed (so none can be lost). */
const char *gl_timers_check(void) {
  if (H.n > H.cap) return "more timers than heap slots";
  for (size_t i = 0; i < H.n; i++) {
    if (H.heap[i]->slot != i) return "a timer's slot is not its place in the heap";
    if (i > 0 && earlier(H.heap[i], H.heap[(i - 1) / 2])) return "the heap is out of order";
  }
  if (H.n > 0) {
    if (!uv_is_active((uv_handle_t *)&H.handle)) return "timers are armed but the libuv timer is not";
    if (H.handle_due > H.heap[0]->deadline) return "the libuv timer is armed too late";
  }
  return NULL;
}
